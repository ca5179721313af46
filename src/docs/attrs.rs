//! Reading attributes: doc comments (`///`, `//!`, `#[doc = ".."]`),
//! `#[doc(hidden)]`, `#[doc(inline)]`, `#[deprecated]`, `#[path]`,
//! `#[macro_export]`, and `#[cfg]`, plus the code blocks in doc comments.
//!
//! `cfg` is evaluated for a local `cargo doc` on an x86_64 Linux host with
//! every Cargo feature on: `doc`, `unix`, `debug_assertions` and any
//! `feature = ".."` are true; other bare names (`test`, `windows`, `docsrs`,
//! `loom`, `tokio_unstable`, ...) are false, as nobody sets them on such a
//! build; an unknown `key = "value"` counts as true so nothing that might
//! exist is silently dropped.

use syn::{Attribute, Expr, Lit, Meta};

use super::model::Example;

/// The doc comment carried by `attrs`, unindented like rustdoc does, or
/// `None` when there is none (or it is blank).
pub fn docs(attrs: &[Attribute]) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(lit) = &nv.value
            && let Lit::Str(s) = &lit.lit
        {
            lines.extend(
                s.value()
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_string()),
            );
        }
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let text: Vec<&str> = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect();
    let joined = text.join("\n").trim().to_string();
    (!joined.is_empty()).then_some(joined)
}

/// Whether `#[doc(<word>)]` is among `attrs` (`hidden`, `inline`, `no_inline`).
pub fn has_doc_flag(attrs: &[Attribute], word: &str) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("doc") {
            return false;
        }
        let Meta::List(list) = &attr.meta else {
            return false;
        };
        let mut found = false;
        let _ = list.parse_nested_meta(|meta| {
            if meta.path.is_ident(word) {
                found = true;
            }
            // Skip any value (`alias = "x"`) so parsing continues.
            if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.parse_nested_meta(|_| Ok(()));
            }
            Ok(())
        });
        found
    })
}

/// Whether `#[<name>]` (any form) is among `attrs`.
pub fn has(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.path().is_ident(name))
}

/// The deprecation note: `Some("deprecated")` for a bare `#[deprecated]`,
/// the note for `#[deprecated = ".."]` or `#[deprecated(note = "..")]`.
pub fn deprecated(attrs: &[Attribute]) -> Option<String> {
    let attr = attrs.iter().find(|a| a.path().is_ident("deprecated"))?;
    let mut note = None;
    let mut since = None;
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::NameValue(nv) => note = lit_str(&nv.value),
        Meta::List(list) => {
            let _ = list.parse_nested_meta(|meta| {
                let value: Expr = meta.value()?.parse()?;
                if meta.path.is_ident("note") {
                    note = lit_str(&value);
                } else if meta.path.is_ident("since") {
                    since = lit_str(&value);
                }
                Ok(())
            });
        }
    }
    Some(match (since, note) {
        (Some(s), Some(n)) => format!("since {s}: {n}"),
        (Some(s), None) => format!("since {s}"),
        (None, Some(n)) => n,
        (None, None) => "deprecated".to_string(),
    })
}

/// The value of `#[path = ".."]`.
pub fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => lit_str(&nv.value),
        _ => None,
    })
}

fn lit_str(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether every `#[cfg(..)]` on `attrs` holds for a documentation build
/// (see the module docs for the assumptions).
pub fn cfg_enabled(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .all(|a| match &a.meta {
            Meta::List(list) => list
                .parse_args::<Meta>()
                .map(|m| eval_cfg(&m))
                .unwrap_or(true),
            _ => true,
        })
}

fn eval_cfg(meta: &Meta) -> bool {
    match meta {
        Meta::Path(p) => {
            let name = p.get_ident().map(|i| i.to_string()).unwrap_or_default();
            matches!(
                name.as_str(),
                "unix" | "doc" | "debug_assertions" | "overflow_checks" | "target_thread_local"
            )
        }
        Meta::NameValue(nv) => {
            let key = nv
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let value = lit_str(&nv.value).unwrap_or_default();
            match key.as_str() {
                "target_os" => value == "linux",
                "target_family" => value == "unix",
                "target_arch" => value == "x86_64",
                "target_pointer_width" => value == "64",
                "target_endian" => value == "little",
                "target_env" => value == "gnu",
                "panic" => value == "unwind",
                _ => true,
            }
        }
        Meta::List(list) => {
            let key = list
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let parsed = list.parse_args_with(
                syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated,
            );
            let Ok(args) = parsed else { return true };
            match key.as_str() {
                "not" => !args.iter().next().map(eval_cfg).unwrap_or(false),
                "all" => args.iter().all(eval_cfg),
                "any" => args.iter().any(eval_cfg),
                _ => true,
            }
        }
    }
}

/// Fenced code blocks (``` or ~~~) in a doc comment, with their info string
/// split into a language and doctest attributes.
pub fn examples(docs: &str) -> Vec<Example> {
    const DOCTEST_ATTRS: &[&str] = &[
        "rust",
        "ignore",
        "no_run",
        "should_panic",
        "compile_fail",
        "test_harness",
        "standalone_crate",
    ];
    let mut out = Vec::new();
    let mut lines = docs.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let fence_char = match trimmed.chars().next() {
            Some(c @ ('`' | '~')) if indent <= 3 => c,
            _ => continue,
        };
        let fence_len = trimmed.chars().take_while(|&c| c == fence_char).count();
        if fence_len < 3 {
            continue;
        }
        let info = trimmed[fence_len..].trim();
        let words: Vec<String> = info
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|w| w.trim_matches(|c| c == '{' || c == '}' || c == '.'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let is_rust = words.iter().all(|w| {
            DOCTEST_ATTRS.contains(&w.as_str())
                || w.starts_with("edition")
                || w.starts_with("ignore-")
                || w.starts_with("E0")
        });
        let language = if is_rust {
            "rust".to_string()
        } else {
            words.first().cloned().unwrap_or_default()
        };
        let attributes = words
            .iter()
            .filter(|w| w.as_str() != language && w.as_str() != "rust")
            .cloned()
            .collect();
        let mut code = Vec::new();
        for body in lines.by_ref() {
            let t = body.trim_start();
            if t.starts_with(&fence_char.to_string().repeat(fence_len))
                && t.trim_start_matches(fence_char).trim().is_empty()
            {
                break;
            }
            code.push(body);
        }
        out.push(Example {
            language,
            attributes,
            code: code.join("\n"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(src: &str) -> Vec<Attribute> {
        let item: syn::ItemStruct = syn::parse_str(&format!("{src}\nstruct S;")).unwrap();
        item.attrs
    }

    #[test]
    fn doc_comments_are_joined_and_unindented() {
        let a = attrs("/// First line.\n///\n///     indented code\n#[doc = \" Third.\"]");
        assert_eq!(
            docs(&a).unwrap(),
            "First line.\n\n    indented code\nThird."
        );
        assert_eq!(docs(&attrs("#[derive(Debug)]")), None);
    }

    #[test]
    fn deprecation_forms() {
        assert_eq!(deprecated(&attrs("#[deprecated]")).unwrap(), "deprecated");
        assert_eq!(
            deprecated(&attrs("#[deprecated = \"use B\"]")).unwrap(),
            "use B"
        );
        assert_eq!(
            deprecated(&attrs("#[deprecated(since = \"1.2\", note = \"use B\")]")).unwrap(),
            "since 1.2: use B"
        );
        assert_eq!(deprecated(&attrs("#[inline]")), None);
    }

    #[test]
    fn cfg_evaluates_for_a_linux_doc_build() {
        assert!(!cfg_enabled(&attrs("#[cfg(test)]")));
        assert!(cfg_enabled(&attrs("#[cfg(not(test))]")));
        assert!(!cfg_enabled(&attrs("#[cfg(windows)]")));
        assert!(cfg_enabled(&attrs("#[cfg(any(unix, windows))]")));
        assert!(cfg_enabled(&attrs("#[cfg(feature = \"x\")]")));
        assert!(!cfg_enabled(&attrs("#[cfg(all(feature = \"x\", test))]")));
        assert!(!cfg_enabled(&attrs("#[cfg(docsrs)]")));
        assert!(cfg_enabled(&attrs("#[cfg(not(loom))]")));
        assert!(!cfg_enabled(&attrs("#[cfg(target_arch = \"wasm32\")]")));
    }

    #[test]
    fn hidden_and_inline_flags() {
        assert!(has_doc_flag(&attrs("#[doc(hidden)]"), "hidden"));
        assert!(has_doc_flag(
            &attrs("#[doc(alias = \"x\", hidden)]"),
            "hidden"
        ));
        assert!(!has_doc_flag(&attrs("/// text"), "hidden"));
    }

    #[test]
    fn examples_keep_language_and_doctest_attributes() {
        let d =
            "Intro\n```\nlet a = 1;\n```\n```no_run,edition2021\nrun();\n```\n~~~text\nplain\n~~~";
        let ex = examples(d);
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[0].language, "rust");
        assert!(ex[0].attributes.is_empty());
        assert_eq!(ex[0].code, "let a = 1;");
        assert_eq!(ex[1].language, "rust");
        assert_eq!(ex[1].attributes, vec!["no_run", "edition2021"]);
        assert_eq!(ex[2].language, "text");
        assert_eq!(ex[2].code, "plain");
    }
}
