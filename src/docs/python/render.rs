//! Markdown for a Python project: one page per module (docstring, then
//! classes with their attributes, properties and methods, functions and
//! attributes, each with its signature, a parameter table merging the
//! annotations with what the docstring says, returns, raises and examples)
//! plus `index.md` (package tree, item counts, coverage, undocumented public
//! items, problems). [`Selection`] decides once what appears, so pages,
//! counts and coverage agree.

use std::collections::HashMap;
use std::fmt::Write;

use super::docstring::{self, Field, ParsedDoc};
use super::model::{ParamKind, PyItem, PyKind, PyModule, PyProject};
use crate::docs::generate::ItemEntry;
use crate::docs::markdown::Stats;

/// Which items are documented: the public API, or everything.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Include private items too.
    pub include_private: bool,
}

impl Selection {
    fn module(&self, m: &PyModule) -> bool {
        self.include_private || m.public
    }

    fn item(&self, i: &PyItem) -> bool {
        self.include_private || i.public
    }
}

/// The page of a module: `pkg.sub.md`.
pub fn module_file(path: &str) -> String {
    format!("{path}.md")
}

const KIND_ORDER: [PyKind; 6] = [
    PyKind::Module,
    PyKind::Class,
    PyKind::Function,
    PyKind::Method,
    PyKind::Property,
    PyKind::Attribute,
];

/// Counts and coverage for a selection.
pub fn stats(project: &PyProject, sel: Selection) -> Stats {
    let mut counts: HashMap<PyKind, usize> = HashMap::new();
    let mut s = Stats::default();
    for m in &project.modules {
        if sel.module(m) {
            *counts.entry(PyKind::Module).or_default() += 1;
        }
        if m.public {
            s.public_items += 1;
            if m.docstring.is_some() {
                s.documented_public += 1;
            } else {
                s.undocumented.push(("module", m.path.clone()));
            }
        }
    }
    for i in project.items() {
        if sel.item(i) {
            *counts.entry(i.kind).or_default() += 1;
        }
        if i.public {
            s.public_items += 1;
            if i.docstring.is_some() {
                s.documented_public += 1;
            } else {
                s.undocumented.push((i.kind.name(), i.path.clone()));
            }
        }
    }
    s.counts = KIND_ORDER
        .iter()
        .filter_map(|k| counts.get(k).map(|n| (k.name(), *n)))
        .collect();
    s
}

/// Items in the selection, modules first.
pub fn item_entries(project: &PyProject, sel: Selection) -> Vec<ItemEntry> {
    let mut out: Vec<ItemEntry> = project
        .modules
        .iter()
        .filter(|m| sel.module(m))
        .map(|m| ItemEntry {
            kind: "module",
            path: m.path.clone(),
            documented: m.docstring.is_some(),
            public: m.public,
        })
        .collect();
    out.extend(
        project
            .items()
            .into_iter()
            .filter(|i| sel.item(i))
            .map(|i| ItemEntry {
                kind: i.kind.name(),
                path: i.path.clone(),
                documented: i.docstring.is_some(),
                public: i.public,
            }),
    );
    out
}

/// The index page.
pub fn index_page(project: &PyProject, sel: Selection, stats: &Stats) -> String {
    let mut out = format!("# `{}`: API reference\n\n", project.name);
    out.push_str("## Modules\n\n");
    for m in project.modules.iter().filter(|m| sel.module(m)) {
        let depth = m.path.matches('.').count();
        let summary = m
            .docstring
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}- [`{}`]({}){summary}",
            "  ".repeat(depth),
            m.path,
            module_file(&m.path)
        );
    }
    crate::docs::markdown::counts_coverage_problems(&mut out, stats, &project.problems);
    out
}

/// One module's page.
pub fn module_page(m: &PyModule, sel: Selection) -> String {
    let what = if m.package { "Package" } else { "Module" };
    let mut out = format!("# {what} `{}`\n\n", m.path);
    if m.namespace {
        out.push_str("A namespace package (no `__init__.py`).\n\n");
    }
    if let Some(d) = &m.docstring {
        render_doc(&mut out, &docstring::parse(d), &[], 3);
    }
    let shown: Vec<&PyItem> = m.items.iter().filter(|i| sel.item(i)).collect();
    for kind in [PyKind::Class, PyKind::Function, PyKind::Attribute] {
        let items: Vec<&&PyItem> = shown.iter().filter(|i| i.kind == kind).collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {}\n", kind.heading());
        for item in items {
            render_item(&mut out, item, sel, 3);
        }
    }
    out
}

fn render_item(out: &mut String, item: &PyItem, sel: Selection, level: usize) {
    let hashes = "#".repeat(level.min(6));
    let _ = writeln!(out, "{hashes} `{}`\n", item.path);
    out.push_str("```python\n");
    for d in &item.decorators {
        let _ = writeln!(out, "@{d}");
    }
    let _ = writeln!(out, "{}\n```\n", item.signature);
    let parsed = item
        .docstring
        .as_deref()
        .map(docstring::parse)
        .unwrap_or_default();
    match item.kind {
        PyKind::Function | PyKind::Method | PyKind::Property => {
            render_doc(out, &parsed, &params_of(item, &parsed), level + 1);
        }
        PyKind::Class => {
            // A class documents its constructor's parameters.
            let init = item.members.iter().find(|m| m.name == "__init__");
            let rows = init.map(|i| params_of(i, &parsed)).unwrap_or_default();
            render_doc(out, &parsed, &rows, level + 1);
            let members: Vec<&PyItem> = item.members.iter().filter(|m| sel.item(m)).collect();
            for kind in [
                PyKind::Attribute,
                PyKind::Property,
                PyKind::Method,
                PyKind::Class,
            ] {
                let of_kind: Vec<&&PyItem> = members.iter().filter(|m| m.kind == kind).collect();
                if of_kind.is_empty() {
                    continue;
                }
                if kind == PyKind::Attribute {
                    let documented: HashMap<&str, &Field> = parsed
                        .attributes
                        .iter()
                        .filter_map(|f| f.name.as_deref().map(|n| (n, f)))
                        .collect();
                    let _ = writeln!(
                        out,
                        "**Attributes**\n\n| Name | Type | Description |\n|---|---|---|"
                    );
                    for a in of_kind {
                        let doc = a
                            .docstring
                            .clone()
                            .or_else(|| {
                                documented
                                    .get(a.name.as_str())
                                    .map(|f| f.description.clone())
                            })
                            .unwrap_or_default();
                        let ty = a
                            .returns
                            .clone()
                            .or_else(|| documented.get(a.name.as_str()).and_then(|f| f.ty.clone()));
                        let _ = writeln!(
                            out,
                            "| `{}` | {} | {} |",
                            a.name,
                            code_cell(ty.as_deref()),
                            cell(&doc)
                        );
                    }
                    out.push('\n');
                } else {
                    for m in of_kind {
                        render_item(out, m, sel, level + 1);
                    }
                }
            }
        }
        PyKind::Attribute | PyKind::Module => render_doc(out, &parsed, &[], level + 1),
    }
}

/// One row of a parameter table.
struct Row {
    name: String,
    ty: Option<String>,
    default: Option<String>,
    description: String,
}

/// The signature's parameters (without `self`/`cls` of a method) merged
/// with the docstring's; documented names the signature lacks (keys of
/// `**kwargs`) follow.
fn params_of(item: &PyItem, doc: &ParsedDoc) -> Vec<Row> {
    let skip_first =
        item.kind != PyKind::Function && !item.decorators.iter().any(|d| d == "staticmethod");
    let mut rows = Vec::new();
    for (i, p) in item.params.iter().enumerate() {
        if i == 0 && skip_first && matches!(p.kind, ParamKind::Normal | ParamKind::PositionalOnly) {
            continue;
        }
        let documented = doc.params.iter().find(|f| {
            f.name
                .as_deref()
                .is_some_and(|n| n.trim_start_matches('*') == p.name)
        });
        rows.push(Row {
            name: p.shown_name(),
            ty: p
                .annotation
                .clone()
                .or_else(|| documented.and_then(|f| f.ty.clone())),
            default: p.default.clone(),
            description: documented
                .map(|f| f.description.clone())
                .unwrap_or_default(),
        });
    }
    for f in &doc.params {
        let Some(n) = f.name.as_deref() else { continue };
        if !item
            .params
            .iter()
            .any(|p| p.name == n.trim_start_matches('*'))
        {
            rows.push(Row {
                name: n.to_string(),
                ty: f.ty.clone(),
                default: None,
                description: f.description.clone(),
            });
        }
    }
    rows
}

fn render_doc(out: &mut String, doc: &ParsedDoc, rows: &[Row], _level: usize) {
    if !doc.text.is_empty() {
        out.push_str(&doc.text);
        out.push_str("\n\n");
    }
    if !rows.is_empty() {
        out.push_str(
            "**Parameters**\n\n| Name | Type | Default | Description |\n|---|---|---|---|\n",
        );
        for r in rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                r.name,
                code_cell(r.ty.as_deref()),
                code_cell(r.default.as_deref()),
                cell(&r.description)
            );
        }
        out.push('\n');
    }
    for (title, fields) in [("Returns", &doc.returns), ("Raises", &doc.raises)] {
        if fields.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{title}**\n");
        for f in fields {
            let head = f.name.as_deref().or(f.ty.as_deref());
            match head {
                Some(h) if f.description.is_empty() => {
                    let _ = writeln!(out, "- `{h}`");
                }
                Some(h) => {
                    let _ = writeln!(out, "- `{h}`: {}", f.description);
                }
                None => {
                    let _ = writeln!(out, "- {}", f.description);
                }
            }
        }
        out.push('\n');
    }
    // Free-text examples are fenced in the text already; a section's are not.
    let rest: Vec<&String> = doc
        .examples
        .iter()
        .filter(|e| !doc.text.contains(e.as_str()))
        .collect();
    if !rest.is_empty() {
        out.push_str("**Examples**\n\n");
        for e in rest {
            let _ = writeln!(out, "```python\n{e}\n```\n");
        }
    }
}

/// Text for a table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn code_cell(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => format!("`{}`", cell(t).replace('`', "'")),
        _ => String::new(),
    }
}
