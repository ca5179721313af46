//! `generate_docs` end to end: find the crate root (or the Python modules,
//! see [`super::python`]), walk and extract, inline
//! re-exports, compute coverage, render Markdown, then either write it (one
//! file per module plus `index.md`) or return it in pages.
//!
//! Paging is stateless: a cursor is `m<chunk>.i<item>`, positions in the
//! Markdown chunks and the item list of a fresh analysis, so a server
//! restart between pages costs nothing but a re-parse.

use std::path::{Path, PathBuf};

use super::DocsError;
use super::extract;
use super::markdown::{self, ImplIndex, Selection, Stats};
use super::model::{CrateDocs, ItemKind, Problem};
use super::par;
use super::paths;
use super::public;
use super::python;
use super::walker::{self, OnFile};
use crate::fsroot::{DirHandle, EntryKind, FsError, Roots};

/// Largest `Cargo.toml` read for a crate's name and root.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Characters of Markdown returned per call when no `output_dir` is given.
pub const PAGE_CHARS: usize = 24_000;
/// Items listed per call with `list_items`.
pub const ITEMS_PER_PAGE: usize = 200;
/// Undocumented items named in the result (the index lists more).
pub const UNDOCUMENTED_LISTED: usize = 200;

/// Which language to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Language {
    /// By what `path` holds: `.rs`, `Cargo.toml`, `lib.rs`/`main.rs` mean
    /// Rust; `.py`, `__init__.py`, `pyproject.toml`, `setup.cfg`,
    /// `setup.py` or `.py` files mean Python.
    #[default]
    Auto,
    /// A Rust crate.
    Rust,
    /// Python packages.
    Python,
}

impl Language {
    /// The name in results.
    pub fn name(self) -> &'static str {
        match self {
            Language::Auto => "auto",
            Language::Rust => "rust",
            Language::Python => "python",
        }
    }
}

/// The language of what `resolved` (an existing file or directory) holds.
pub fn detect(resolved: &Path, roots: &Roots) -> Language {
    if roots.is_file(resolved) {
        return match resolved.extension().and_then(|e| e.to_str()) {
            Some("py" | "pyi") => Language::Python,
            _ => Language::Rust,
        };
    }
    let rust = ["Cargo.toml", "lib.rs", "main.rs"]
        .iter()
        .any(|f| roots.is_file(&resolved.join(f)));
    if !rust && python::layout::is_python_dir(resolved, roots) {
        Language::Python
    } else {
        Language::Rust
    }
}

/// What to document and where.
#[derive(Debug, Clone, Default)]
pub struct DocsRequest {
    /// Crate dir, `src/` dir or `.rs` file; or a Python package, project,
    /// directory or `.py` file (relative: to the first root).
    pub path: String,
    /// Which language (`Auto` decides by what `path` holds).
    pub language: Language,
    /// Where to write the Markdown; `None` returns it in pages.
    pub output_dir: Option<String>,
    /// Document private and hidden items too.
    pub include_private: bool,
    /// Return the item list.
    pub list_items: bool,
    /// A `next_cursor` from a previous call.
    pub cursor: Option<String>,
    /// The server's data directory (canonical), which `output_dir` may not
    /// be inside.
    pub data_dir: Option<PathBuf>,
}

/// Progress callback type re-exported for adapters.
pub type Progress<'a> = OnFile<'a>;

/// One listed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemEntry {
    /// Kind name.
    pub kind: &'static str,
    /// `crate::a::Item`.
    pub path: String,
    /// Has a doc comment.
    pub documented: bool,
    /// Reachable by users of the crate.
    pub public: bool,
}

/// One chunk of returned Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// File name the page would have (`index.md`, `heck.md`).
    pub name: String,
    /// 1-based part of that file (large pages are split).
    pub part: usize,
    /// Number of parts of that file.
    pub parts: usize,
    /// Markdown.
    pub content: String,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct DocsRun {
    /// The language read (`rust` or `python`).
    pub language: &'static str,
    /// Crate (or Python project or package) name.
    pub crate_name: String,
    /// Crate root file (for Python, the path documented).
    pub root_file: PathBuf,
    /// Files read.
    pub files_read: usize,
    /// Counts by kind (documented selection).
    pub stats: Stats,
    /// Problems met.
    pub problems: Vec<Problem>,
    /// Files written (empty without `output_dir`).
    pub files_written: Vec<PathBuf>,
    /// Markdown pages of this call (without `output_dir`).
    pub pages: Vec<Page>,
    /// Total Markdown chunks.
    pub total_pages: usize,
    /// Items of this call (with `list_items`).
    pub items: Option<Vec<ItemEntry>>,
    /// Total items in the list.
    pub total_items: usize,
    /// Cursor for the rest.
    pub next_cursor: Option<String>,
}

/// Finds the crate name and root file for a crate dir, `src/` dir or `.rs`
/// file.
pub fn locate(path: &Path, shown: &str, roots: &Roots) -> Result<(String, PathBuf), DocsError> {
    let not_a_crate = |reason: &str| DocsError::NotACrate {
        path: shown.to_string(),
        reason: reason.to_string(),
    };
    if roots.is_file(path) {
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            return Err(not_a_crate(
                "not a .rs file, a src/ directory or a crate directory (with Cargo.toml)",
            ));
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("crate");
        let name = if matches!(stem, "lib" | "main" | "mod") {
            path.parent()
                .and_then(|p| crate_name_near(p, roots))
                .unwrap_or_else(|| stem.to_string())
        } else {
            stem.to_string()
        };
        return Ok((name.replace('-', "_"), path.to_path_buf()));
    }
    let manifest = path.join("Cargo.toml");
    if roots.is_file(&manifest) {
        let text = match roots.read_to_string(&manifest, MAX_MANIFEST_BYTES) {
            Ok((_, text)) => text,
            Err(FsError::Outside { .. }) => {
                return Err(DocsError::OutsideRoots {
                    path: manifest.display().to_string(),
                    roots: roots.list(),
                });
            }
            Err(e) => return Err(DocsError::io(&manifest, e.into_io().1)),
        };
        let m = Manifest::parse(&text);
        let name = m
            .lib_name
            .or(m.package_name)
            .unwrap_or_else(|| dir_name(path));
        let root = match m.lib_path {
            Some(p) => path.join(p),
            None if roots.is_file(&path.join("src/lib.rs")) => path.join("src/lib.rs"),
            None if roots.is_file(&path.join("src/main.rs")) => path.join("src/main.rs"),
            None => {
                return Err(not_a_crate(
                    "has Cargo.toml but neither src/lib.rs nor src/main.rs",
                ));
            }
        };
        return Ok((name.replace('-', "_"), root));
    }
    for root in ["lib.rs", "main.rs"] {
        let f = path.join(root);
        if roots.is_file(&f) {
            let name = crate_name_near(path, roots).unwrap_or_else(|| dir_name(path));
            return Ok((name.replace('-', "_"), f));
        }
    }
    Err(not_a_crate(
        "a directory needs Cargo.toml (a crate) or lib.rs/main.rs (a src/ directory); Python needs __init__.py, pyproject.toml, setup.cfg, setup.py or .py files",
    ))
}

/// A crate name from a directory name: `src/` is named after its parent.
fn dir_name(p: &Path) -> String {
    let p = match (p.file_name().and_then(|n| n.to_str()), p.parent()) {
        (Some("src"), Some(parent)) => parent,
        _ => p,
    };
    p.file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("crate")
        .to_string()
}

/// The crate name from `Cargo.toml` in `dir` or its parent, when that file
/// lies under the roots (a `src/` root must not lead to reading above it).
fn crate_name_near(dir: &Path, roots: &Roots) -> Option<String> {
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let manifest = d.join("Cargo.toml");
        if let Ok((_, text)) = roots.read_to_string(&manifest, MAX_MANIFEST_BYTES) {
            let m = Manifest::parse(&text);
            if let Some(n) = m.lib_name.or(m.package_name) {
                return Some(n);
            }
        }
    }
    None
}

/// The few `Cargo.toml` keys we need, read line by line (a full TOML
/// parser would buy nothing for `[package] name` and `[lib] name/path`).
#[derive(Debug, Default)]
struct Manifest {
    package_name: Option<String>,
    lib_name: Option<String>,
    lib_path: Option<String>,
}

impl Manifest {
    fn parse(text: &str) -> Manifest {
        let mut m = Manifest::default();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            let Some(value) = value.strip_prefix('"').and_then(|v| v.split('"').next()) else {
                continue;
            };
            match (section.as_str(), key) {
                ("package", "name") => m.package_name = Some(value.to_string()),
                ("lib", "name") => m.lib_name = Some(value.to_string()),
                ("lib", "path") => m.lib_path = Some(value.to_string()),
                _ => {}
            }
        }
        m
    }
}

/// Resolves `path` under the roots and analyses the crate.
pub fn analyze(
    path: &str,
    roots: &Roots,
    on_file: &mut OnFile<'_>,
) -> Result<CrateDocs, DocsError> {
    let resolved = paths::existing(path, roots)?;
    let (name, root_file) = locate(&resolved, path, roots)?;
    let root_file = roots.resolve(&root_file).map_err(|e| match e {
        FsError::Outside { .. } => DocsError::OutsideRoots {
            path: root_file.display().to_string(),
            roots: roots.list(),
        },
        other => DocsError::io(&root_file, other.into_io().1),
    })?;
    let walk = walker::walk(&root_file, roots, on_file)?;
    let mut docs = extract::extract(&name, &root_file, walk);
    public::inline_reexports(&mut docs);
    Ok(docs)
}

/// A code base read for a diagram: a Rust crate or Python modules.
pub enum CodeBase {
    /// A Rust crate.
    Rust(CrateDocs),
    /// Python modules.
    Python(python::model::PyProject),
}

impl CodeBase {
    /// Reads the code at `path` in the language it holds.
    pub fn load(path: &str, roots: &Roots, on_file: &mut OnFile<'_>) -> Result<Self, DocsError> {
        let resolved = paths::existing(path, roots)?;
        Ok(match detect(&resolved, roots) {
            Language::Python => CodeBase::Python(python::analyze(&resolved, path, roots, on_file)?),
            _ => CodeBase::Rust(analyze(path, roots, on_file)?),
        })
    }

    /// Its module graph.
    pub fn module_graph(&self) -> super::diagram::Diagram {
        match self {
            CodeBase::Rust(d) => super::diagram::module_graph(d),
            CodeBase::Python(p) => python::diagrams::module_graph(p),
        }
    }

    /// Its type graph (of `module` and its submodules when given), with at
    /// most `max_classes` classes.
    pub fn type_graph(
        &self,
        module: Option<&str>,
        max_classes: usize,
    ) -> Result<super::diagram::Diagram, DocsError> {
        match self {
            CodeBase::Rust(d) => super::diagram::type_graph(d, module, max_classes),
            CodeBase::Python(p) => python::diagrams::type_graph(p, module, max_classes),
        }
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<(usize, usize), DocsError> {
    let Some(c) = cursor else { return Ok((0, 0)) };
    let bad = || {
        DocsError::BadCursor(format!(
            "`{c}` is not a cursor this tool returned (expected e.g. `m3.i800`)"
        ))
    };
    let (m, i) = c.split_once('.').ok_or_else(bad)?;
    let m = m
        .strip_prefix('m')
        .and_then(|m| m.parse().ok())
        .ok_or_else(bad)?;
    let i = i
        .strip_prefix('i')
        .and_then(|i| i.parse().ok())
        .ok_or_else(bad)?;
    Ok((m, i))
}

/// Runs `generate_docs`.
pub fn generate_docs(
    req: &DocsRequest,
    roots: &Roots,
    on_file: &mut OnFile<'_>,
) -> Result<DocsRun, DocsError> {
    let (page_start, item_start) = parse_cursor(req.cursor.as_deref())?;
    // Resolve the output dir before the (long) analysis, so a bad one fails fast.
    let out_dir = match &req.output_dir {
        Some(d) => Some(paths::output_dir(d, roots, req.data_dir.as_deref())?),
        None => None,
    };
    let language = match req.language {
        Language::Auto => detect(&paths::existing(&req.path, roots)?, roots),
        l => l,
    };
    let page = |body: String| format!("{MARKER}\n{body}");
    let a = match language {
        Language::Python => {
            let resolved = paths::existing(&req.path, roots)?;
            let project = python::analyze(&resolved, &req.path, roots, on_file)?;
            let sel = python::render::Selection {
                include_private: req.include_private,
            };
            let stats = python::render::stats(&project, sel);
            let mut rendered = vec![(
                "index.md".to_string(),
                page(python::render::index_page(&project, sel, &stats)),
            )];
            let modules: Vec<_> = project
                .modules
                .iter()
                .filter(|m| req.include_private || m.public)
                .collect();
            rendered.extend(par::map_all(&modules, |m| {
                (
                    python::render::module_file(&m.path),
                    page(python::render::module_page(m, sel)),
                )
            }));
            Analysed {
                name: project.name.clone(),
                root_file: project.root.clone(),
                files_read: project.files.len(),
                items: if req.list_items {
                    python::render::item_entries(&project, sel)
                } else {
                    Vec::new()
                },
                stats,
                problems: project.problems,
                rendered,
            }
        }
        _ => {
            let docs = analyze(&req.path, roots, on_file)?;
            let sel = Selection {
                include_private: req.include_private,
            };
            let stats = markdown::stats(&docs, sel);
            let impls = ImplIndex::new(&docs);
            let mut rendered: Vec<(String, String)> = vec![(
                "index.md".into(),
                page(markdown::index_page(&docs, sel, &stats)),
            )];
            let modules: Vec<_> = docs.modules.iter().filter(|m| sel.module(m)).collect();
            rendered.extend(par::map_all(&modules, |m| {
                (
                    markdown::module_file(&docs.name, &m.path),
                    page(markdown::module_page(&docs, m, sel, &impls)),
                )
            }));
            Analysed {
                name: docs.name.clone(),
                root_file: docs.root_file.clone(),
                files_read: docs.files.len(),
                items: if req.list_items {
                    item_entries(&docs, sel)
                } else {
                    Vec::new()
                },
                stats,
                problems: docs.problems,
                rendered,
            }
        }
    };
    let rendered = a.rendered;

    let mut files_written = Vec::new();
    let mut pages = Vec::new();
    let mut total_pages = 0;
    let mut next_page = None;
    if let Some(dir) = &out_dir {
        // Check every target first, so a refusal leaves the directory untouched.
        for (name, _) in &rendered {
            ensure_replaceable(dir, name)?;
        }
        let written = par::map_all(&rendered, |(name, content)| {
            dir.write_file(name, content.as_bytes())
                .map_err(|e| DocsError::io(dir.path().join(name), e))
        });
        for w in written {
            files_written.push(w?);
        }
    } else {
        let chunks: Vec<Page> = rendered
            .iter()
            .flat_map(|(n, c)| split_page(n, c))
            .collect();
        total_pages = chunks.len();
        if page_start > total_pages {
            return Err(DocsError::BadCursor(format!(
                "cursor is past the last page ({total_pages} pages)"
            )));
        }
        let mut used = 0;
        for (i, chunk) in chunks.into_iter().enumerate().skip(page_start) {
            if used > 0 && used + chunk.content.len() > PAGE_CHARS {
                next_page = Some(i);
                break;
            }
            used += chunk.content.len();
            pages.push(chunk);
        }
    }

    let all_items = a.items;
    let total_items = all_items.len();
    let mut next_item = None;
    let items = if req.list_items {
        if item_start > total_items {
            return Err(DocsError::BadCursor(format!(
                "cursor is past the last item ({total_items} items)"
            )));
        }
        let end = (item_start + ITEMS_PER_PAGE).min(total_items);
        if end < total_items {
            next_item = Some(end);
        }
        Some(all_items[item_start..end].to_vec())
    } else {
        None
    };
    let next_cursor = if next_page.is_some() || next_item.is_some() {
        Some(format!(
            "m{}.i{}",
            next_page.unwrap_or(if out_dir.is_some() { 0 } else { total_pages }),
            next_item.unwrap_or(total_items)
        ))
    } else {
        None
    };
    Ok(DocsRun {
        language: language.name(),
        crate_name: a.name,
        root_file: a.root_file,
        files_read: a.files_read,
        stats: a.stats,
        problems: a.problems,
        files_written,
        pages,
        total_pages,
        items,
        total_items,
        next_cursor,
    })
}

/// One analysed code base, rendered, before paging or writing.
struct Analysed {
    name: String,
    root_file: PathBuf,
    files_read: usize,
    stats: Stats,
    problems: Vec<Problem>,
    rendered: Vec<(String, String)>,
    items: Vec<ItemEntry>,
}

/// First line of every page this tool writes: it marks files a later run
/// may replace.
pub const MARKER: &str = "<!-- generated by smart-systems-mcp generate_docs -->";

/// A file may be (re)written when it does not exist or is a regular file
/// that starts with [`MARKER`]: generate_docs never replaces a user's file
/// (or a symlink planted in the output directory).
fn ensure_replaceable(dir: &DirHandle, name: &str) -> Result<(), DocsError> {
    use std::io::Read;
    let path = dir.path().join(name);
    match dir.entry(name) {
        Ok(None) => return Ok(()),
        Ok(Some(EntryKind::File)) => {}
        Ok(Some(_)) => return Err(DocsError::WouldOverwrite(path)),
        Err(e) => return Err(DocsError::io(path, e)),
    }
    let mut head = vec![0u8; MARKER.len()];
    let ok = dir
        .open_nofollow(name)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| head == MARKER.as_bytes())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(DocsError::WouldOverwrite(path))
    }
}

/// Items in the selection as `{kind, path, documented}`, modules first.
pub fn item_entries(docs: &CrateDocs, sel: Selection) -> Vec<ItemEntry> {
    let mut out = Vec::new();
    for m in &docs.modules {
        if sel.module(m) {
            out.push(ItemEntry {
                kind: ItemKind::Module.name(),
                path: m.path.clone(),
                documented: m.docs.is_some(),
                public: m.public && !m.hidden,
            });
        }
    }
    for i in docs.items() {
        if i.kind != ItemKind::Module && sel.item(i) {
            out.push(ItemEntry {
                kind: i.kind.name(),
                path: i.path(),
                documented: i.docs.is_some(),
                public: i.public && !i.hidden,
            });
        }
    }
    out
}

/// Splits a page at line boundaries into chunks of at most `PAGE_CHARS`.
fn split_page(name: &str, content: &str) -> Vec<Page> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in content.split_inclusive('\n') {
        if !current.is_empty() && current.len() + line.len() > PAGE_CHARS {
            parts.push(std::mem::take(&mut current));
        }
        current.push_str(line);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, content)| Page {
            name: name.to_string(),
            part: i + 1,
            parts: n,
            content,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys() {
        let m = Manifest::parse(
            "[package]\nname = \"my-crate\"\n[lib]\nname = \"mine\" # c\npath = \"src/x.rs\"\n[dependencies]\nname = \"no\"\n",
        );
        assert_eq!(m.package_name.as_deref(), Some("my-crate"));
        assert_eq!(m.lib_name.as_deref(), Some("mine"));
        assert_eq!(m.lib_path.as_deref(), Some("src/x.rs"));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(parse_cursor(Some("m3.i800")).unwrap(), (3, 800));
        assert_eq!(parse_cursor(None).unwrap(), (0, 0));
        assert!(parse_cursor(Some("banana")).is_err());
        assert!(parse_cursor(Some("m-1.i0")).is_err());
    }

    #[test]
    fn long_pages_split_on_lines() {
        let line = "x".repeat(999) + "\n";
        let content = line.repeat(100);
        let parts = split_page("a.md", &content);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.content.len() <= PAGE_CHARS));
        assert_eq!(
            parts.iter().map(|p| p.content.as_str()).collect::<String>(),
            content
        );
    }
}
