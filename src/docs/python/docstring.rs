//! Docstrings split by style, so pages can show parameter tables that merge
//! annotations with what the docstring says: Google (`Args:` sections),
//! NumPy (`Parameters` underlined with dashes) and reST/Sphinx field lists
//! (`:param x:`, `:type x:`, `:returns:`, `:rtype:`, `:raises E:`).
//! Examples (`>>>` doctest blocks, fenced code) are lifted out as code.
//!
//! Design choice: the style is detected per docstring (a project often mixes
//! them); anything not recognised stays in the free text, so nothing a
//! docstring says is lost.

/// One documented parameter, return value, exception or attribute.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field {
    /// The name (a parameter), if any.
    pub name: Option<String>,
    /// The type as the docstring gives it.
    pub ty: Option<String>,
    /// What the docstring says about it.
    pub description: String,
}

/// A docstring split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedDoc {
    /// `google`, `numpy`, `rest` or `plain`.
    pub style: &'static str,
    /// The free text (summary, description, unrecognised sections), with
    /// doctest blocks turned into fenced code.
    pub text: String,
    /// Parameters (keyword arguments too).
    pub params: Vec<Field>,
    /// Return (or yield) values.
    pub returns: Vec<Field>,
    /// Exceptions raised (`name` is the exception type).
    pub raises: Vec<Field>,
    /// Attributes documented on a class or module.
    pub attributes: Vec<Field>,
    /// Example code: doctest blocks and fenced blocks.
    pub examples: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Params,
    Returns,
    Raises,
    Attributes,
    Examples,
    /// Any other heading: kept in the text.
    Other,
}

fn section_of(heading: &str) -> Option<Section> {
    Some(match heading.to_ascii_lowercase().as_str() {
        "args" | "arguments" | "parameters" | "params" | "keyword args" | "keyword arguments"
        | "other parameters" | "kwargs" => Section::Params,
        "returns" | "return" | "yields" | "yield" => Section::Returns,
        "raises" | "raise" | "exceptions" | "except" => Section::Raises,
        "attributes" => Section::Attributes,
        "examples" | "example" => Section::Examples,
        "note" | "notes" | "warning" | "warnings" | "see also" | "references" | "todo"
        | "methods" | "warns" | "receives" => Section::Other,
        _ => return None,
    })
}

/// Splits a (cleaned) docstring.
pub fn parse(doc: &str) -> ParsedDoc {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = if is_rest(&lines) {
        rest(&lines)
    } else if is_numpy(&lines) {
        numpy(&lines)
    } else if lines.iter().any(|l| google_heading(l).is_some()) {
        google(&lines)
    } else {
        ParsedDoc {
            style: "plain",
            text: doc.to_string(),
            ..ParsedDoc::default()
        }
    };
    let (text, examples) = lift_examples(&out.text);
    out.text = text;
    out.examples.extend(examples);
    out
}

fn is_rest(lines: &[&str]) -> bool {
    lines.iter().any(|l| rest_field(l).is_some())
}

/// `:param int x: text` -> ("param", ["int", "x"], "text").
fn rest_field(line: &str) -> Option<(String, Vec<String>, String)> {
    let t = line.trim_start().strip_prefix(':')?;
    let end = t.find(':')?;
    let head = &t[..end];
    let words: Vec<String> = head.split_whitespace().map(str::to_string).collect();
    let key = words.first()?.to_ascii_lowercase();
    let known = [
        "param",
        "parameter",
        "arg",
        "argument",
        "key",
        "keyword",
        "type",
        "returns",
        "return",
        "rtype",
        "raises",
        "raise",
        "except",
        "exception",
        "var",
        "ivar",
        "cvar",
        "vartype",
        "yields",
        "yield",
        "ytype",
    ];
    known
        .contains(&key.as_str())
        .then(|| (key, words[1..].to_vec(), t[end + 1..].trim().to_string()))
}

fn rest(lines: &[&str]) -> ParsedDoc {
    let mut out = ParsedDoc {
        style: "rest",
        ..ParsedDoc::default()
    };
    let mut text = Vec::new();
    let mut types: Vec<(String, String)> = Vec::new();
    let mut vartypes: Vec<(String, String)> = Vec::new();
    let mut rtype = None;
    // Where continuation lines go.
    let mut last: Option<(usize, usize)> = None; // (list, index)
    for line in lines {
        if let Some((key, args, body)) = rest_field(line) {
            let name = args.last().cloned();
            let ty = (args.len() > 1).then(|| args[..args.len() - 1].join(" "));
            let field = Field {
                name: name.clone(),
                ty,
                description: body.clone(),
            };
            last = None;
            match key.as_str() {
                "param" | "parameter" | "arg" | "argument" | "key" | "keyword" => {
                    out.params.push(field);
                    last = Some((0, out.params.len() - 1));
                }
                "type" => types.push((name.unwrap_or_default(), body)),
                "returns" | "return" | "yields" | "yield" => {
                    out.returns.push(Field {
                        name: None,
                        ty: None,
                        description: body,
                    });
                    last = Some((1, out.returns.len() - 1));
                }
                "rtype" | "ytype" => rtype = Some(body),
                "raises" | "raise" | "except" | "exception" => {
                    out.raises.push(Field {
                        name: args.first().cloned(),
                        ty: None,
                        description: body,
                    });
                    last = Some((2, out.raises.len() - 1));
                }
                "var" | "ivar" | "cvar" => {
                    out.attributes.push(field);
                    last = Some((3, out.attributes.len() - 1));
                }
                "vartype" => vartypes.push((name.unwrap_or_default(), body)),
                _ => {}
            }
        } else if let Some((list, i)) =
            last.filter(|_| line.starts_with([' ', '\t']) && !line.trim().is_empty())
        {
            let f = match list {
                0 => &mut out.params[i],
                1 => &mut out.returns[i],
                2 => &mut out.raises[i],
                _ => &mut out.attributes[i],
            };
            append(&mut f.description, line.trim());
        } else {
            last = None;
            text.push(*line);
        }
    }
    for (name, ty) in types {
        if let Some(p) = out
            .params
            .iter_mut()
            .find(|p| p.name.as_deref() == Some(&name))
        {
            p.ty = Some(ty);
        }
    }
    for (name, ty) in vartypes {
        if let Some(p) = out
            .attributes
            .iter_mut()
            .find(|p| p.name.as_deref() == Some(&name))
        {
            p.ty = Some(ty);
        }
    }
    if let Some(t) = rtype {
        match out.returns.first_mut() {
            Some(r) => r.ty = Some(t),
            None => out.returns.push(Field {
                name: None,
                ty: Some(t),
                description: String::new(),
            }),
        }
    }
    out.text = trim_blank(&text);
    out
}

fn is_numpy(lines: &[&str]) -> bool {
    lines
        .windows(2)
        .any(|w| numpy_heading(w[0], w[1]).is_some())
}

fn numpy_heading(line: &str, under: &str) -> Option<Section> {
    let u = under.trim();
    if u.len() < 3 || !u.chars().all(|c| c == '-') || line.trim().is_empty() {
        return None;
    }
    section_of(line.trim())
}

fn numpy(lines: &[&str]) -> ParsedDoc {
    let mut out = ParsedDoc {
        style: "numpy",
        ..ParsedDoc::default()
    };
    let mut text: Vec<String> = Vec::new();
    let mut i = 0;
    let mut section: Option<Section> = None;
    let mut body: Vec<&str> = Vec::new();
    let flush = |section: Option<Section>,
                 body: &mut Vec<&str>,
                 heading: &str,
                 out: &mut ParsedDoc,
                 text: &mut Vec<String>| {
        match section {
            None => text.extend(body.iter().map(|s| s.to_string())),
            Some(Section::Other) => {
                text.push(format!("**{heading}**"));
                text.push(String::new());
                text.extend(body.iter().map(|s| s.to_string()));
            }
            Some(Section::Examples) => out.examples.extend(example_blocks(body)),
            Some(s) => {
                let fields = numpy_fields(body, s);
                match s {
                    Section::Params => out.params.extend(fields),
                    Section::Returns => out.returns.extend(fields),
                    Section::Raises => out.raises.extend(fields),
                    _ => out.attributes.extend(fields),
                }
            }
        }
        body.clear();
    };
    let mut heading = String::new();
    while i < lines.len() {
        if i + 1 < lines.len()
            && let Some(s) = numpy_heading(lines[i], lines[i + 1])
        {
            flush(section, &mut body, &heading, &mut out, &mut text);
            section = Some(s);
            heading = lines[i].trim().to_string();
            i += 2;
            continue;
        }
        body.push(lines[i]);
        i += 1;
    }
    flush(section, &mut body, &heading, &mut out, &mut text);
    out.text = trim_blank(&text.iter().map(String::as_str).collect::<Vec<_>>());
    out
}

/// NumPy entries: `name : type` at the left, description indented below;
/// in Returns and Raises a bare `type` line.
fn numpy_fields(body: &[&str], section: Section) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for line in body {
        if line.trim().is_empty() {
            if let Some(f) = out.last_mut()
                && !f.description.is_empty()
            {
                f.description.push_str("\n\n");
            }
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let t = line.trim();
            let (name, ty) = match t
                .split_once(" : ")
                .or_else(|| t.split_once(':').filter(|(n, _)| !n.contains(' ')))
            {
                Some((n, ty)) => (
                    Some(n.trim().to_string()),
                    Some(ty.trim().to_string()).filter(|s| !s.is_empty()),
                ),
                None if matches!(section, Section::Returns | Section::Raises) => {
                    (None, Some(t.to_string()))
                }
                None => (Some(t.to_string()), None),
            };
            let (name, ty) = if section == Section::Raises {
                (ty.or(name), None)
            } else {
                (name, ty)
            };
            out.push(Field {
                name,
                ty,
                description: String::new(),
            });
        } else if let Some(f) = out.last_mut() {
            append(&mut f.description, line.trim());
        }
    }
    for f in &mut out {
        f.description = f.description.trim().to_string();
    }
    out
}

fn google_heading(line: &str) -> Option<Section> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    section_of(line.trim().strip_suffix(':')?.trim())
}

fn google(lines: &[&str]) -> ParsedDoc {
    let mut out = ParsedDoc {
        style: "google",
        ..ParsedDoc::default()
    };
    let mut text: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(section) = google_heading(lines[i]) else {
            text.push(lines[i].to_string());
            i += 1;
            continue;
        };
        let heading = lines[i].trim().trim_end_matches(':').to_string();
        i += 1;
        let start = i;
        // The section runs while lines are indented or blank.
        while i < lines.len() && (lines[i].starts_with([' ', '\t']) || lines[i].trim().is_empty()) {
            i += 1;
        }
        let body: Vec<&str> = lines[start..i].to_vec();
        match section {
            Section::Other => {
                text.push(format!("**{heading}**"));
                text.push(String::new());
                text.extend(dedent(&body));
                text.push(String::new());
            }
            Section::Examples => {
                let dedented = dedent(&body);
                let refs: Vec<&str> = dedented.iter().map(String::as_str).collect();
                out.examples.extend(example_blocks(&refs));
            }
            s => {
                let fields = google_fields(&body, s);
                match s {
                    Section::Params => out.params.extend(fields),
                    Section::Returns => out.returns.extend(fields),
                    Section::Raises => out.raises.extend(fields),
                    _ => out.attributes.extend(fields),
                }
            }
        }
    }
    out.text = trim_blank(&text.iter().map(String::as_str).collect::<Vec<_>>());
    out
}

/// Google entries: `name (type): text` (Returns: `type: text` or `text`),
/// continuation lines indented deeper.
fn google_fields(body: &[&str], section: Section) -> Vec<Field> {
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<Field> = Vec::new();
    for line in body {
        if line.trim().is_empty() {
            continue;
        }
        let own = line.len() - line.trim_start().len();
        let t = line.trim();
        if own > indent
            && let Some(f) = out.last_mut()
        {
            append(&mut f.description, t);
            continue;
        }
        let field = match section {
            Section::Returns => match t.split_once(':') {
                Some((ty, d)) if !ty.trim().is_empty() && !ty.contains(". ") => Field {
                    name: None,
                    ty: Some(ty.trim().to_string()),
                    description: d.trim().to_string(),
                },
                _ => Field {
                    name: None,
                    ty: None,
                    description: t.to_string(),
                },
            },
            Section::Raises => match t.split_once(':') {
                Some((e, d)) => Field {
                    name: Some(e.trim().to_string()),
                    ty: None,
                    description: d.trim().to_string(),
                },
                None => Field {
                    name: Some(t.to_string()),
                    ty: None,
                    description: String::new(),
                },
            },
            _ => match t.split_once(':') {
                Some((head, d)) => {
                    let head = head.trim();
                    let (name, ty) = match head.split_once('(') {
                        Some((n, rest)) => (
                            n.trim(),
                            Some(rest.trim_end_matches(')').trim().to_string()),
                        ),
                        None => (head, None),
                    };
                    Field {
                        name: Some(name.to_string()),
                        ty,
                        description: d.trim().to_string(),
                    }
                }
                None => Field {
                    name: Some(t.to_string()),
                    ty: None,
                    description: String::new(),
                },
            },
        };
        out.push(field);
    }
    out
}

/// Code blocks of an Examples section: doctest runs and fenced blocks;
/// prose between them is dropped from the code.
fn example_blocks(body: &[&str]) -> Vec<String> {
    let text = body.join("\n");
    let (_, blocks) = lift_examples(&text);
    blocks
}

/// Turns `>>>` runs (with their output lines) into fenced `python` blocks
/// and collects them, with the code of existing fenced blocks.
fn lift_examples(text: &str) -> (String, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let mut blocks = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with("```") {
            let fence_indent = lines[i].len() - t.len();
            let mut code = Vec::new();
            out.push(lines[i].to_string());
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(
                    lines[i]
                        .get(fence_indent..)
                        .unwrap_or(lines[i].trim_start()),
                );
                out.push(lines[i].to_string());
                i += 1;
            }
            if i < lines.len() {
                out.push(lines[i].to_string());
                i += 1;
            }
            blocks.push(code.join("\n"));
            continue;
        }
        if t.starts_with(">>>") {
            let indent = lines[i].len() - t.len();
            let mut code = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                code.push(
                    lines[i]
                        .get(indent..)
                        .unwrap_or(lines[i].trim_start())
                        .to_string(),
                );
                i += 1;
            }
            let code = code.join("\n");
            out.push("```python".into());
            out.push(code.clone());
            out.push("```".into());
            blocks.push(code);
            continue;
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    (out.join("\n"), blocks)
}

fn dedent(body: &[&str]) -> Vec<String> {
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| l.get(indent..).unwrap_or("").to_string())
        .collect()
}

fn append(description: &mut String, more: &str) {
    if !description.is_empty() && !description.ends_with('\n') {
        description.push(' ');
    }
    description.push_str(more);
}

fn trim_blank(lines: &[&str]) -> String {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: Option<&str>, ty: Option<&str>, d: &str) -> Field {
        Field {
            name: name.map(str::to_string),
            ty: ty.map(str::to_string),
            description: d.to_string(),
        }
    }

    #[test]
    fn google_sections_give_fields_and_examples() {
        let d = parse(
            "Check one point.\n\nArgs:\n    metric (str): The metric name.\n    value: The value,\n        finite.\n\n\
             Returns:\n    float: The score.\n\nRaises:\n    ValueError: If value is NaN.\n\n\
             Example:\n    >>> check('cpu', 1.0)\n    0.0\n\nNote:\n    Fast.",
        );
        assert_eq!(d.style, "google");
        assert_eq!(
            d.params,
            [
                f(Some("metric"), Some("str"), "The metric name."),
                f(Some("value"), None, "The value, finite.")
            ]
        );
        assert_eq!(d.returns, [f(None, Some("float"), "The score.")]);
        assert_eq!(d.raises, [f(Some("ValueError"), None, "If value is NaN.")]);
        assert_eq!(d.examples, [">>> check('cpu', 1.0)\n0.0"]);
        assert!(d.text.starts_with("Check one point."));
        assert!(d.text.contains("**Note**\n\nFast."));
    }

    #[test]
    fn numpy_sections_give_fields() {
        let d = parse(
            "Sum.\n\nParameters\n----------\na : int\n    First.\nb : float, optional\n    Second\n    line.\n\n\
             Returns\n-------\nint\n    The sum.\n\nRaises\n------\nTypeError\n    Bad types.\n\n\
             Examples\n--------\n>>> add(1, 2)\n3\n",
        );
        assert_eq!(d.style, "numpy");
        assert_eq!(
            d.params,
            [
                f(Some("a"), Some("int"), "First."),
                f(Some("b"), Some("float, optional"), "Second line.")
            ]
        );
        assert_eq!(d.returns, [f(None, Some("int"), "The sum.")]);
        assert_eq!(d.raises, [f(Some("TypeError"), None, "Bad types.")]);
        assert_eq!(d.examples, [">>> add(1, 2)\n3"]);
        assert_eq!(d.text, "Sum.");
    }

    #[test]
    fn rest_field_lists_merge_types() {
        let d = parse(
            "Fetch a player.\n\n:param player_id: The id,\n    as in the API.\n:type player_id: int\n:param str season: Season.\n\
             :returns: The player.\n:rtype: Player\n:raises KeyError: When unknown.\n",
        );
        assert_eq!(d.style, "rest");
        assert_eq!(
            d.params,
            [
                f(Some("player_id"), Some("int"), "The id, as in the API."),
                f(Some("season"), Some("str"), "Season.")
            ]
        );
        assert_eq!(d.returns, [f(None, Some("Player"), "The player.")]);
        assert_eq!(d.raises, [f(Some("KeyError"), None, "When unknown.")]);
        assert_eq!(d.text, "Fetch a player.");
    }

    #[test]
    fn doctest_and_fenced_code_in_free_text_become_examples() {
        let d = parse("Use it:\n\n>>> f(1)\n2\n\nOr:\n\n```python\nf(2)\n```");
        assert_eq!(d.style, "plain");
        assert_eq!(d.examples, [">>> f(1)\n2", "f(2)"]);
        assert!(d.text.contains("```python\n>>> f(1)\n2\n```"));
    }
}
