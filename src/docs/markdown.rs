//! Markdown rendering: one page per module (its docs, then its items grouped
//! by kind with signature, deprecation, docs, fields/variants and the methods
//! and trait impls found for the type anywhere in the crate) plus `index.md`
//! (module tree, item counts, doc coverage, undocumented items, problems).
//!
//! Which items appear is decided once, by [`Selection`], so the pages, the
//! counts and the coverage always agree.

use std::collections::HashMap;
use std::fmt::Write;

use super::model::{CrateDocs, DocItem, ItemKind, ModuleDoc};

/// Which items are documented: the public API, or everything.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Include private and hidden items too.
    pub include_private: bool,
}

impl Selection {
    /// Whether a module gets a page.
    pub fn module(&self, m: &ModuleDoc) -> bool {
        self.include_private || (m.public && !m.hidden)
    }

    /// Whether an item is documented (impls and re-exports never count).
    pub fn item(&self, i: &DocItem) -> bool {
        i.kind.is_documentable() && (self.include_private || (i.public && !i.hidden))
    }
}

/// The file name of a module's page: `heck.md`, `heck.a.b.md`.
pub fn module_file(crate_name: &str, path: &str) -> String {
    let rest = path.strip_prefix("crate").unwrap_or(path);
    format!("{crate_name}{}.md", rest.replace("::", "."))
}

/// Counts and coverage shown in the index and returned by the tool.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Selected items by kind name (modules included, crate root too), in
    /// the order the index lists them.
    pub counts: Vec<(&'static str, usize)>,
    /// Public items (modules included).
    pub public_items: usize,
    /// Public items with a doc comment.
    pub documented_public: usize,
    /// Paths of public items without docs, as `kind path`.
    pub undocumented: Vec<(&'static str, String)>,
}

impl Stats {
    /// Documented share of public items, in percent (100 when there are none).
    pub fn documented_percent(&self) -> f64 {
        if self.public_items == 0 {
            100.0
        } else {
            let p = self.documented_public as f64 * 100.0 / self.public_items as f64;
            (p * 10.0).round() / 10.0
        }
    }
}

/// Computes counts and coverage for a selection.
pub fn stats(docs: &CrateDocs, sel: Selection) -> Stats {
    let mut counts: HashMap<ItemKind, usize> = HashMap::new();
    let mut s = Stats::default();
    let public = Selection {
        include_private: false,
    };
    for m in &docs.modules {
        if sel.module(m) {
            *counts.entry(ItemKind::Module).or_default() += 1;
        }
        if public.module(m) {
            s.public_items += 1;
            if m.docs.is_some() {
                s.documented_public += 1;
            } else {
                s.undocumented
                    .push((ItemKind::Module.name(), m.path.clone()));
            }
        }
        for i in &m.items {
            if i.kind == ItemKind::Module {
                continue;
            }
            if sel.item(i) {
                *counts.entry(i.kind).or_default() += 1;
            }
            if public.item(i) {
                s.public_items += 1;
                if i.docs.is_some() {
                    s.documented_public += 1;
                } else {
                    s.undocumented.push((i.kind.name(), i.path()));
                }
            }
        }
    }
    let mut counts: Vec<(ItemKind, usize)> = counts.into_iter().collect();
    counts.sort();
    s.counts = counts.into_iter().map(|(k, n)| (k.name(), n)).collect();
    s
}

const KIND_ORDER: [ItemKind; 10] = [
    ItemKind::Module,
    ItemKind::Macro,
    ItemKind::Struct,
    ItemKind::Enum,
    ItemKind::Union,
    ItemKind::Trait,
    ItemKind::TypeAlias,
    ItemKind::Constant,
    ItemKind::Static,
    ItemKind::Function,
];

/// Methods and trait impls per type name, gathered from every impl block.
pub struct ImplIndex<'a> {
    by_type: HashMap<&'a str, Vec<&'a DocItem>>,
}

impl<'a> ImplIndex<'a> {
    /// Indexes every impl block of the crate by its self type's name.
    pub fn new(docs: &'a CrateDocs) -> Self {
        let mut by_type: HashMap<&str, Vec<&DocItem>> = HashMap::new();
        for i in docs.items() {
            if i.kind == ItemKind::Impl
                && let Some(t) = &i.impl_self
            {
                by_type.entry(t.as_str()).or_default().push(i);
            }
        }
        ImplIndex { by_type }
    }

    fn for_type(&self, name: &str) -> &[&'a DocItem] {
        self.by_type.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn first_paragraph(docs: &str) -> String {
    docs.split("\n\n")
        .next()
        .unwrap_or("")
        .replace('\n', " ")
        .trim()
        .to_string()
}

/// One module's page.
pub fn module_page(
    docs: &CrateDocs,
    m: &ModuleDoc,
    sel: Selection,
    impls: &ImplIndex<'_>,
) -> String {
    let mut out = String::new();
    if m.path == "crate" {
        let _ = writeln!(out, "# Crate `{}`\n", docs.name);
    } else {
        let _ = writeln!(out, "# Module `{}`\n", m.path);
    }
    let _ = writeln!(out, "[Index](index.md) · source: `{}`\n", m.file.display());
    if let Some(d) = &m.deprecated {
        let _ = writeln!(out, "> **Deprecated:** {d}\n");
    }
    if let Some(d) = &m.docs {
        let _ = writeln!(out, "{}\n", demote_headings(d, 1));
    }
    for kind in KIND_ORDER {
        let items: Vec<&DocItem> = m
            .items
            .iter()
            .filter(|i| i.kind == kind && sel.item(i))
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {}\n", kind.heading());
        for item in items {
            if kind == ItemKind::Module {
                let link = module_file(&docs.name, &item.path());
                let summary = item
                    .docs
                    .as_deref()
                    .map(first_paragraph)
                    .unwrap_or_default();
                let _ = writeln!(out, "- [`{}`]({link}) {summary}", item.name);
                continue;
            }
            item_section(&mut out, item, sel, impls);
        }
        if kind == ItemKind::Module {
            out.push('\n');
        }
    }
    let reexports: Vec<&DocItem> = m
        .items
        .iter()
        .filter(|i| {
            i.kind == ItemKind::Reexport && (sel.include_private || (i.public && !i.hidden))
        })
        .collect();
    if !reexports.is_empty() {
        let _ = writeln!(out, "## Re-exports\n");
        for r in reexports {
            let _ = writeln!(out, "- `{}`", r.signature);
        }
        out.push('\n');
    }
    out
}

fn item_section(out: &mut String, item: &DocItem, sel: Selection, impls: &ImplIndex<'_>) {
    let _ = writeln!(out, "### `{}`\n", item.name);
    let _ = writeln!(out, "```rust\n{}\n```\n", item.signature);
    let mut meta = vec![format!("`{}`", item.path()), item.vis.label()];
    if let Some(from) = &item.inlined_from {
        meta.push(format!("defined at `{from}`"));
    }
    let _ = writeln!(out, "*{}*\n", meta.join(" · "));
    if let Some(d) = &item.deprecated {
        let _ = writeln!(out, "> **Deprecated:** {d}\n");
    }
    match &item.docs {
        Some(d) => {
            let _ = writeln!(out, "{}\n", demote_headings(d, 3));
        }
        None => out.push_str("*Undocumented.*\n\n"),
    }
    if !item.examples.is_empty() {
        let list: Vec<String> = item
            .examples
            .iter()
            .map(|e| {
                let mut words = vec![e.language.clone()];
                words.extend(e.attributes.iter().cloned());
                format!("`{}`", words.join(","))
            })
            .collect();
        let _ = writeln!(out, "*Examples ({}): {}*\n", list.len(), list.join(" "));
    }
    let members: Vec<_> = item
        .members
        .iter()
        .filter(|m| sel.include_private || m.public)
        .collect();
    if !members.is_empty() {
        let title = match item.kind {
            ItemKind::Enum => "Variants",
            ItemKind::Trait => "Required and provided items",
            _ => "Fields",
        };
        let _ = writeln!(out, "**{title}**\n");
        for m in members {
            member_line(
                out,
                &m.signature,
                m.docs.as_deref(),
                m.deprecated.as_deref(),
            );
        }
        out.push('\n');
    }
    if matches!(
        item.kind,
        ItemKind::Struct | ItemKind::Enum | ItemKind::Union
    ) {
        let blocks = impls.for_type(&item.name);
        let inherent: Vec<_> = blocks
            .iter()
            .filter(|b| b.impl_trait.is_none())
            .flat_map(|b| b.members.iter())
            .filter(|m| sel.include_private || m.public)
            .collect();
        if !inherent.is_empty() {
            out.push_str("**Methods**\n\n");
            for m in inherent {
                member_line(
                    out,
                    &m.signature,
                    m.docs.as_deref(),
                    m.deprecated.as_deref(),
                );
            }
            out.push('\n');
        }
        let traits: Vec<_> = blocks.iter().filter(|b| b.impl_trait.is_some()).collect();
        if !traits.is_empty() {
            out.push_str("**Trait implementations**\n\n");
            for b in traits {
                let _ = writeln!(out, "- `{}`", b.signature);
            }
            out.push('\n');
        }
    }
}

fn member_line(out: &mut String, signature: &str, docs: Option<&str>, deprecated: Option<&str>) {
    let sig = signature.replace('\n', " ");
    let sig = collapse_spaces(&sig);
    let mut line = format!("- `{sig}`");
    if let Some(d) = deprecated {
        let _ = write!(line, " (deprecated: {d})");
    }
    if let Some(d) = docs {
        let _ = write!(line, ": {}", first_paragraph(d));
    }
    let _ = writeln!(out, "{line}");
}

/// Pushes Markdown headings in doc comments below the page's own (`# Examples`
/// in an item's docs becomes `#### Examples` under its `###` heading), like
/// rustdoc does; lines inside code fences (doctests' hidden `# ` lines) are
/// left alone.
pub fn demote_headings(docs: &str, by: usize) -> String {
    let mut fence: Option<String> = None;
    let mut out = Vec::new();
    for line in docs.lines() {
        let t = line.trim_start();
        if let Some(f) = &fence {
            if t.starts_with(f.as_str()) {
                fence = None;
            }
            out.push(line.to_string());
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            let c = t.chars().next().unwrap_or('`');
            fence = Some(t.chars().take_while(|&x| x == c).collect());
            out.push(line.to_string());
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            out.push(format!("{}{line}", "#".repeat(by.min(6 - hashes.min(6)))));
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The index page: module tree, counts, coverage, undocumented items and
/// problems.
pub fn index_page(docs: &CrateDocs, sel: Selection, stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# `{}`: API documentation\n", docs.name);
    let _ = writeln!(
        out,
        "Generated from source by smart-systems-mcp (`syn`, no compilation). Crate root: `{}`. {} files read.\n",
        docs.root_file.display(),
        docs.files.len()
    );
    out.push_str("## Modules\n\n");
    for m in docs.modules.iter().filter(|m| sel.module(m)) {
        let depth = m.path.matches("::").count();
        let n = m
            .items
            .iter()
            .filter(|i| i.kind != ItemKind::Module && sel.item(i))
            .count();
        let name = if m.path == "crate" {
            docs.name.clone()
        } else {
            m.path.rsplit("::").next().unwrap_or("").to_string()
        };
        let summary = m.docs.as_deref().map(first_paragraph).unwrap_or_default();
        let summary: String = summary.chars().take(160).collect();
        let _ = writeln!(
            out,
            "{}- [`{name}`]({}) ({n} items) {summary}",
            "  ".repeat(depth),
            module_file(&docs.name, &m.path)
        );
    }
    counts_coverage_problems(&mut out, stats, &docs.problems);
    out
}

/// The index's item counts, coverage, undocumented public items and
/// problems (shared by the Rust and Python index pages).
pub fn counts_coverage_problems(
    out: &mut String,
    stats: &Stats,
    problems: &[super::model::Problem],
) {
    out.push_str("\n## Item counts\n\n| kind | count |\n|---|---|\n");
    for (kind, n) in &stats.counts {
        let _ = writeln!(out, "| {kind} | {n} |");
    }
    let _ = writeln!(
        out,
        "\n## Documentation coverage\n\n{} of {} public items documented ({}%).\n",
        stats.documented_public,
        stats.public_items,
        stats.documented_percent()
    );
    if !stats.undocumented.is_empty() {
        out.push_str("### Undocumented public items\n\n");
        for (kind, path) in stats.undocumented.iter().take(500) {
            let _ = writeln!(out, "- {kind} `{path}`");
        }
        if stats.undocumented.len() > 500 {
            let _ = writeln!(out, "- ... and {} more", stats.undocumented.len() - 500);
        }
        out.push('\n');
    }
    if !problems.is_empty() {
        out.push_str("## Problems\n\n");
        for p in problems {
            let _ = writeln!(
                out,
                "- `{}:{}:{}`: {}",
                p.file.display(),
                p.line,
                p.column,
                p.message
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_demoted_outside_code_only() {
        let d = "# Examples\n```\n# use x;\nrun();\n```\n## Panics\n#not a heading";
        assert_eq!(
            demote_headings(d, 3),
            "#### Examples\n```\n# use x;\nrun();\n```\n##### Panics\n#not a heading"
        );
    }
}
