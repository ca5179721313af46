//! Finds a crate's modules the way the compiler's module loader does: from
//! the crate root, `mod foo;` loads `foo.rs` or `foo/mod.rs` next to a
//! "mod-rs" file (crate root, `mod.rs`, or a file loaded by `#[path]`), and
//! `<dir>/<file stem>/foo.rs` next to any other file; `#[path]` is relative
//! to the declaring file's directory (or, inside an inline module, to that
//! inline module's directory). Modules whose `#[cfg]` is false for a doc
//! build (`#[cfg(test)]` above all) are skipped.
//!
//! Item-position macro calls whose body parses as items (`cfg_rt! { .. }`)
//! are opened and their items documented, since such wrappers emit their
//! input; items that macros generate any other way are invisible here.
//!
//! A file that does not parse, a missing module file or a `#[path]` cycle is
//! recorded as a [`Problem`] and the walk continues with everything else;
//! only an unreadable or unparsable crate root stops it.
//!
//! Every file is probed and opened through [`Roots`], beneath a root's
//! handle: a module file that is (or becomes, mid-walk) a symlink leading
//! out of the roots is skipped as a problem, never read.

use std::path::{Path, PathBuf};

use syn::{Attribute, Item};

use super::DocsError;
use super::attrs;
use super::model::Problem;
use crate::fsroot::{FsError, Roots};

/// A module with its syntax, ready for item extraction.
pub struct SourceModule {
    /// `["crate", "a", "b"]`.
    pub path: Vec<String>,
    /// The file its items are in.
    pub file: PathBuf,
    /// Its declared visibility (`pub` for the crate root).
    pub vis: syn::Visibility,
    /// Attributes of the declaration followed by the inner attributes.
    pub attrs: Vec<Attribute>,
    /// Its items; `mod` items are kept (without their content) so the
    /// extractor sees the declarations.
    pub items: Vec<Item>,
    /// 1-based line of the `mod` declaration (1 for the crate root).
    pub decl_line: usize,
}

/// Everything the walk found.
#[derive(Default)]
pub struct Walk {
    /// Modules, crate root first, parents before children.
    pub modules: Vec<SourceModule>,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// Files or declarations that could not be used.
    pub problems: Vec<Problem>,
}

/// Called after each file is parsed with the number of files done so far
/// and the file; returning `false` cancels the walk.
pub type OnFile<'a> = dyn FnMut(usize, &Path) -> bool + 'a;

/// Walks the crate whose root file is `root_file`; every file is read
/// beneath one of `roots`.
pub fn walk(root_file: &Path, roots: &Roots, on_file: &mut OnFile<'_>) -> Result<Walk, DocsError> {
    let mut walker = Walker {
        roots,
        on_file,
        out: Walk::default(),
        stack: Vec::new(),
    };
    let dir = root_file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let opened = roots.open_file(root_file).map_err(|e| match e {
        FsError::Outside { .. } => DocsError::OutsideRoots {
            path: root_file.display().to_string(),
            roots: roots.list(),
        },
        other => DocsError::io(root_file, other.into_io().1),
    })?;
    let source = read_source(opened.file).map_err(|e| DocsError::io(root_file, e))?;
    let file = parse_source(&source).map_err(|u| DocsError::RootUnparsable {
        file: root_file.display().to_string(),
        line: u.line,
        column: u.column,
        message: u.message,
    })?;
    walker.out.files.push(root_file.to_path_buf());
    if !(walker.on_file)(1, root_file) {
        return Err(DocsError::Cancelled);
    }
    walker.stack.push(root_file.to_path_buf());
    let vis = syn::Visibility::Public(Default::default());
    walker.add_module(
        vec!["crate".into()],
        root_file,
        vis,
        file.attrs,
        file.items,
        &dir,
        &dir,
        1,
    )?;
    Ok(walker.out)
}

struct Walker<'a, 'b> {
    roots: &'a Roots,
    on_file: &'a mut OnFile<'b>,
    out: Walk,
    /// Files being loaded, outermost first: a file met again is a cycle.
    stack: Vec<PathBuf>,
}

impl Walker<'_, '_> {
    /// Records a module and recurses into its `mod` items. `child_dir` is
    /// where `mod x;` looks for `x.rs`; `path_base` is what `#[path]` is
    /// relative to.
    #[allow(clippy::too_many_arguments)]
    fn add_module(
        &mut self,
        path: Vec<String>,
        file: &Path,
        vis: syn::Visibility,
        attrs: Vec<Attribute>,
        items: Vec<Item>,
        child_dir: &Path,
        path_base: &Path,
        decl_line: usize,
    ) -> Result<(), DocsError> {
        let index = self.out.modules.len();
        self.out.modules.push(SourceModule {
            path: path.clone(),
            file: file.to_path_buf(),
            vis,
            attrs,
            items: Vec::new(),
            decl_line,
        });
        let items = expand_item_macros(items, 0);
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            if !attrs::cfg_enabled(item_attrs(&item)) {
                continue;
            }
            let Item::Mod(mut m) = item else {
                kept.push(item);
                continue;
            };
            let name = m.ident.to_string();
            let mut child_path = path.clone();
            child_path.push(name.clone());
            let line = m.ident.span().start().line;
            let path_attr = attrs::path_attr(&m.attrs);
            if let Some((_, content)) = m.content.take() {
                let dir = match &path_attr {
                    Some(p) => child_dir.join(p),
                    None => child_dir.join(&name),
                };
                self.add_module(
                    child_path,
                    file,
                    m.vis.clone(),
                    m.attrs.clone(),
                    content,
                    &dir,
                    &dir,
                    line,
                )?;
            } else {
                self.load_module_file(&m, child_path, path_attr, child_dir, path_base, file, line)?;
            }
            kept.push(Item::Mod(m));
        }
        self.out.modules[index].items = kept;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn load_module_file(
        &mut self,
        decl: &syn::ItemMod,
        child_path: Vec<String>,
        path_attr: Option<String>,
        child_dir: &Path,
        path_base: &Path,
        declaring_file: &Path,
        line: usize,
    ) -> Result<(), DocsError> {
        let name = decl.ident.to_string();
        let column = decl.ident.span().start().column + 1;
        let problem = |message: String| Problem {
            file: declaring_file.to_path_buf(),
            line,
            column,
            message,
        };
        // Where the file is, and where its own `mod x;` children live.
        let (file, its_child_dir) = match path_attr {
            Some(p) => {
                let f = path_base.join(p);
                let dir = f.parent().unwrap_or(path_base).to_path_buf();
                (f, dir)
            }
            None => {
                let flat = child_dir.join(format!("{name}.rs"));
                let nested = child_dir.join(&name).join("mod.rs");
                if self.roots.is_file(&flat) {
                    (flat, child_dir.join(&name))
                } else if self.roots.is_file(&nested) {
                    (nested, child_dir.join(&name))
                } else {
                    self.out.problems.push(problem(format!(
                        "file not found for module `{name}`: looked for {} and {}",
                        flat.display(),
                        nested.display()
                    )));
                    return Ok(());
                }
            }
        };
        let (canonical, opened) = match self.roots.open_file(&file) {
            Ok(o) => (o.path, o.file),
            Err(FsError::Outside { path, .. }) => {
                self.out.problems.push(problem(format!(
                    "module `{name}` points at {}, outside the workspace roots; skipped",
                    path.display()
                )));
                return Ok(());
            }
            Err(e) => {
                let e = e.into_io().1;
                self.out.problems.push(problem(format!(
                    "cannot open module `{name}` at {}: {e}",
                    file.display()
                )));
                return Ok(());
            }
        };
        if let Some(start) = self.stack.iter().position(|f| *f == canonical) {
            let chain: Vec<String> = self.stack[start..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|f| f.display().to_string())
                .collect();
            self.out.problems.push(problem(format!(
                "module cycle via #[path]: {}; module `{name}` skipped",
                chain.join(" -> ")
            )));
            return Ok(());
        }
        if self.stack.len() >= MAX_FILE_DEPTH {
            self.out.problems.push(problem(format!(
                "module files nest deeper than {MAX_FILE_DEPTH}; module `{name}` skipped"
            )));
            return Ok(());
        }
        let source = match read_source(opened) {
            Ok(s) => s,
            Err(e) => {
                self.out
                    .problems
                    .push(problem(format!("cannot read {}: {e}", canonical.display())));
                return Ok(());
            }
        };
        self.out.files.push(canonical.clone());
        if !(self.on_file)(self.out.files.len(), &canonical) {
            return Err(DocsError::Cancelled);
        }
        let parsed = match parse_source(&source) {
            Ok(f) => f,
            Err(u) => {
                let why = if u.too_deep {
                    u.message
                } else {
                    format!("does not parse: {}", u.message)
                };
                self.out.problems.push(Problem {
                    file: canonical.clone(),
                    line: u.line,
                    column: u.column,
                    message: format!("{why}; module `{name}` skipped"),
                });
                return Ok(());
            }
        };
        let mut attrs = decl.attrs.clone();
        attrs.extend(parsed.attrs);
        let base = canonical.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.stack.push(canonical.clone());
        let result = self.add_module(
            child_path,
            &canonical,
            decl.vis.clone(),
            attrs,
            parsed.items,
            &its_child_dir,
            &base,
            line,
        );
        self.stack.pop();
        result
    }
}

/// Deepest bracket nesting parsed: syn parses recursively, so a hostile
/// file must not be able to exhaust the stack. Real code stays far below.
pub const MAX_NESTING: usize = 256;

/// Largest source file analysed. syn's tree takes about 150 times the
/// file's size (a 20 MB file took 3 GB and 8 s per call); the largest file
/// in this machine's cargo registry (windows-sys) is 1.3 MB.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// An opened source file's text, refusing one over [`MAX_FILE_BYTES`]
/// before reading it.
fn read_source(file: std::fs::File) -> std::io::Result<String> {
    use std::io::Read;
    let len = file.metadata()?.len();
    if len > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "the file is {len} bytes; at most {MAX_FILE_BYTES} (8 MiB) are analysed"
        )));
    }
    let mut text = String::new();
    // A file that grows after the check is cut there, not read on.
    file.take(MAX_FILE_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// What one open generic `<` counts for in [`prefix_walk`], so generics
/// nest at most 256 deep: rendering a signature (prettyplease) takes memory
/// growing with the square of their depth, 321 MB for one field 4,090 deep,
/// and 40 such fields took 10.5 GB.
const ANGLE_WEIGHT: usize = 16;

/// Deepest chain of module files (`mod a;` in a file loaded by `mod b;` ..).
/// Each module keeps its whole path, so a 20,000-file chain (1.3 MB of
/// `#[path]` declarations) took memory growing with the square of its
/// depth, past 24 GB. Real crates nest a handful of levels.
pub const MAX_FILE_DEPTH: usize = 64;

/// Most recursion-prone tokens one nesting path may hold (see
/// `prefix_walk`). syn recurses once per such token at worst, using up to
/// about 4.3 KB of stack each in a release build (`Option<` chains; `&`
/// 1.9 KB, `fn() ->` 2.9 KB), so 4,096 of them stay near 18 MB of the docs
/// worker's stack. Real code stays far below.
pub const MAX_PREFIX_DEPTH: usize = 4096;

/// Why a source file was not parsed, and where.
struct Unparsed {
    line: usize,
    column: usize,
    message: String,
    /// Refused before parsing, as nested too deep for syn's recursion.
    too_deep: bool,
}

impl From<syn::Error> for Unparsed {
    fn from(e: syn::Error) -> Self {
        let (line, column) = position(&e);
        Unparsed {
            line,
            column,
            message: e.to_string(),
            too_deep: false,
        }
    }
}

/// Parses a source file as `syn::parse_file` does, after refusing what
/// would recurse past the stack (see [`checked_tokens`]).
fn parse_source(source: &str) -> Result<syn::File, Unparsed> {
    let (tokens, shebang) = checked_tokens(source)?;
    let mut file: syn::File = syn::parse2(tokens)?;
    file.shebang = shebang;
    Ok(file)
}

/// The file's tokens (and `#!` line) once [`bracket_depth`] and
/// [`prefix_walk`] found nothing syn would recurse on past the stack. The
/// file is lexed once: syn parses the token stream the check walked (the
/// check alone cost half of syn's time when it lexed on its own).
fn checked_tokens(source: &str) -> Result<(proc_macro2::TokenStream, Option<String>), Unparsed> {
    let deep = |line, message| Unparsed {
        line,
        column: 1,
        message,
        too_deep: true,
    };
    if let Some(line) = bracket_depth(source) {
        return Err(deep(
            line,
            format!("brackets nest deeper than {MAX_NESTING}"),
        ));
    }
    let (content, shebang) = split_shebang(source);
    let Ok(tokens) = content.parse::<proc_macro2::TokenStream>() else {
        // syn reports the lexing error with its position.
        return Err(syn::parse_file(source)
            .err()
            .map_or_else(|| deep(1, "does not lex".into()), Unparsed::from));
    };
    if let Err(line) = prefix_walk(tokens.clone(), 0) {
        return Err(deep(
            line,
            format!(
                "types or expressions nest too deep for the parser (more than {MAX_PREFIX_DEPTH} levels of `&`, `*`, `->`, closures or unary operators, or generics {} deep)",
                MAX_PREFIX_DEPTH / ANGLE_WEIGHT
            ),
        ));
    }
    Ok((tokens, shebang))
}

/// The source without a byte-order mark and a `#!` interpreter line (but
/// not an inner attribute `#![..]`), and that line: as `syn::parse_file`.
/// The line's newline stays, so line numbers are unchanged.
fn split_shebang(source: &str) -> (&str, Option<String>) {
    let content = source.strip_prefix('\u{feff}').unwrap_or(source);
    if content.starts_with("#!") && !content[2..].trim_start().starts_with('[') {
        let end = content.find('\n').unwrap_or(content.len());
        return (&content[end..], Some(content[..end].to_string()));
    }
    (content, None)
}

/// The line where brackets first nest deeper than [`MAX_NESTING`], if they
/// do. Brackets in strings and comments count too, which can only make the
/// check stricter.
fn bracket_depth(source: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for b in source.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(line);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    None
}

/// The line where syn's recursion without brackets could go deeper than
/// [`MAX_PREFIX_DEPTH`]: nesting such as `Option<Option<..>>`, `&&&&T`,
/// `fn() -> fn() -> ..`, `|a| |b| ..`, `- - x`, `return return x` or
/// `a = b = c` recurses once per token and has no bracket to count.
/// `Err(line)` when it could, for `tokens` inside enclosing levels that
/// hold `outer` counted tokens.
///
/// Over the file's tokens (strings and comments excluded), every token that
/// can open such a level counts; a `,`, a `;` or a `{..}` block ends the
/// run at its bracket level (the next element starts afresh), and a
/// bracket's contents add to the run around it. Generic angles count
/// [`ANGLE_WEIGHT`] each until their `>` (or the statement's end: a `<`
/// comparison never closes). Flat chains syn parses in a loop (`a + b + ..`,
/// `a.b().c()`, paths) do not count; a long `||`/`|` chain does, which only
/// makes the check stricter. Must run after [`bracket_depth`], which bounds
/// the token tree's own depth.
fn prefix_walk(tokens: proc_macro2::TokenStream, outer: usize) -> Result<(), usize> {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let (mut run, mut angles) = (0usize, 0usize);
    // The previous character of a joint operator (`.` of `..=`).
    let mut joined: Option<char> = None;
    let mut it = tokens.into_iter().peekable();
    while let Some(tt) = it.next() {
        let after = std::mem::take(&mut joined);
        match &tt {
            TokenTree::Group(g) => {
                prefix_walk(g.stream(), outer + run + ANGLE_WEIGHT * angles)?;
                // A block ends an item or a statement (`fn f() {..}`,
                // `impl X {..}`, `if c {..}`); what follows starts afresh
                // (syn parses `else if` chains in a loop).
                if g.delimiter() == Delimiter::Brace {
                    run = 0;
                    angles = 0;
                }
                continue;
            }
            TokenTree::Ident(i) => {
                const NESTING: [&str; 7] =
                    ["return", "break", "let", "dyn", "impl", "move", "async"];
                if NESTING.iter().any(|k| i == k) {
                    run += 1;
                }
            }
            TokenTree::Literal(_) => {}
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let next = match it.peek() {
                    Some(TokenTree::Punct(n)) if p.spacing() == Spacing::Joint => Some(n.as_char()),
                    _ => None,
                };
                if p.spacing() == Spacing::Joint {
                    joined = Some(c);
                }
                match (c, next) {
                    // `<=`, `>=`, `==`, `!=`: comparisons; `=>`: a match arm.
                    ('<' | '>' | '=' | '!', Some('=')) | ('=', Some('>')) => {
                        it.next();
                        joined = None;
                    }
                    // `->`: a return type, which may nest.
                    ('-', Some('>')) => {
                        it.next();
                        joined = None;
                        run += 1;
                    }
                    (',', _) => run = 0,
                    (';', _) => {
                        run = 0;
                        angles = 0;
                    }
                    ('<', _) => angles += 1,
                    ('>', _) => angles = angles.saturating_sub(1),
                    // `..=` is a range, and the `=` of `+=` an assignment
                    // counted once.
                    ('=', _) if after == Some('.') => {}
                    ('&' | '*' | '|' | '-' | '!' | '=', _) => run += 1,
                    // Loops in syn (`+`, `.`, `::`, `/`), or no nesting.
                    _ => {}
                }
            }
        }
        if outer + run + ANGLE_WEIGHT * angles > MAX_PREFIX_DEPTH {
            // Looked up only now: a span's line costs a search.
            return Err(tt.span().start().line.max(1));
        }
    }
    Ok(())
}

/// How deep item macros inside item macros are opened.
const MAX_MACRO_DEPTH: usize = 8;

/// Replaces a brace-delimited item-position macro call whose body parses as
/// items (`cfg_rt! { pub mod runtime; }`, tokio's and many crates' way of
/// gating modules on features) by those items, as most such macros emit their
/// input unchanged. Other macro calls are kept as they are.
fn expand_item_macros(items: Vec<Item>, depth: usize) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Macro(m)
                if depth < MAX_MACRO_DEPTH
                    && m.ident.is_none()
                    && !m.mac.path.is_ident("macro_rules")
                    && matches!(m.mac.delimiter, syn::MacroDelimiter::Brace(_))
                    && attrs::cfg_enabled(&m.attrs) =>
            {
                match syn::parse2::<syn::File>(m.mac.tokens.clone()) {
                    Ok(file) if !file.items.is_empty() => {
                        out.extend(expand_item_macros(file.items, depth + 1));
                    }
                    _ => out.push(Item::Macro(m)),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// 1-based line and column of a parse error.
fn position(e: &syn::Error) -> (usize, usize) {
    let start = e.span().start();
    (start.line.max(1), start.column + 1)
}

/// The outer attributes of any item.
pub fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

impl std::fmt::Debug for SourceModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceModule")
            .field("path", &self.path)
            .field("file", &self.file)
            .field("items", &self.items.len())
            .finish()
    }
}

impl std::fmt::Debug for Walk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk")
            .field("modules", &self.modules)
            .field("files", &self.files)
            .field("problems", &self.problems)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where and why `parse_source` refuses `text` before parsing it.
    fn too_deep(text: &str) -> Option<(usize, String)> {
        match checked_tokens(text) {
            Err(u) if u.too_deep => Some((u.line, u.message)),
            _ => None,
        }
    }

    #[test]
    fn a_shebang_line_is_kept_apart_and_an_inner_attribute_is_not_one() {
        let f = parse_source("#!/usr/bin/env run\nfn main() {}\n")
            .unwrap_or_else(|u| panic!("{}", u.message));
        assert_eq!(f.shebang.as_deref(), Some("#!/usr/bin/env run"));
        let f = parse_source("#![allow(dead_code)]\nfn main() {}\n")
            .unwrap_or_else(|u| panic!("{}", u.message));
        assert_eq!((f.shebang, f.attrs.len()), (None, 1));
        let u = parse_source("\u{feff}fn main() {}\n\nfn broken( {}\n")
            .err()
            .unwrap();
        assert_eq!((u.line, u.too_deep), (3, false));
    }

    #[test]
    fn nesting_without_brackets_is_refused_before_syn_sees_it() {
        // Each of these overflowed the docs worker's stack at 15,000-50,000
        // levels, and passed the bracket check.
        let deep = |n: usize| {
            [
                format!(
                    "pub struct S {{ pub x: {}u8{} }}",
                    "Option<".repeat(n),
                    ">".repeat(n)
                ),
                format!("pub fn f(x: {}u8) {{}}", "&".repeat(n)),
                format!("pub type T = {}u8;", "*const ".repeat(n)),
                format!("pub type T = {}u8;", "fn() -> ".repeat(n)),
                format!("pub fn f() -> {}u8 {{}}", "impl Fn() -> ".repeat(n)),
                format!("pub type T = {}u8{};", "<".repeat(n), " as A>::B".repeat(n)),
                format!("fn f() {{ let x = {}1; }}", "|a| ".repeat(n)),
                format!("fn f() {{ let x = {}1; }}", "-".repeat(n)),
                format!("fn f() {{ {}1; }}", "return ".repeat(n)),
                format!("fn f() {{ {}1; }}", "a = ".repeat(n)),
            ]
        };
        for text in deep(5000) {
            let (line, why) = too_deep(&text).unwrap_or_else(|| panic!("{}", &text[..60]));
            assert_eq!(line, 1);
            assert!(why.contains("nest too deep"), "{why}");
        }
        for text in deep(200) {
            assert_eq!(too_deep(&text), None, "{}", &text[..60]);
        }
    }

    #[test]
    fn generics_nest_at_most_256_deep() {
        let nested = |n: usize| {
            format!(
                "pub struct S {{ pub x: {}u8{} }}",
                "Option<".repeat(n),
                ">".repeat(n)
            )
        };
        assert_eq!(too_deep(&nested(250)), None);
        let (line, why) = too_deep(&nested(300)).expect("refused");
        assert_eq!(line, 1);
        assert!(why.contains("generics 256 deep"), "{why}");
    }

    #[test]
    fn long_flat_code_is_not_mistaken_for_nesting() {
        // Angles that close, comparisons, ranges, match arms, long sums,
        // many items and statements: none of it nests.
        let mut src = String::new();
        for i in 0..3000 {
            src.push_str(&format!(
                "pub type U{i} = UInt<UInt<UInt<UTerm, B1>, B0>, B1>;\n\
                 pub fn f{i}(x: &mut Vec<&str>) -> Option<&'static str> {{ if x.len() <= {i} && x.len() >= 1 {{ None }} else {{ Some(\"-&|*\") }} }}\n"
            ));
        }
        src.push_str(&format!(
            "fn g(c: char) -> bool {{ matches!(c, {}) && {} 1 == 1 }}\n",
            vec!["'a'..='z'"; 3000].join(" | "),
            "1 + ".repeat(5000)
        ));
        src.push_str(&format!(
            "static T: &[&[u8]] = &[{}];\n",
            vec!["&[1, 2]"; 5000].join(", ")
        ));
        src.push_str(&format!(
            "fn h() {{ {} }}\n",
            "let a = -b * &c;\n".repeat(5000)
        ));
        assert_eq!(too_deep(&src), None);
    }
}
