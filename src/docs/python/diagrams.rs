//! Mermaid diagrams of a Python project: the module graph (packages and
//! modules, dotted arrows to submodules, solid arrows for imports resolved
//! to modules of the same project; outside imports left out) and the type
//! graph (classes with attributes and methods, inheritance between classes
//! of the project). Labels go through the same escaping as Rust's, so any
//! name parses.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use super::model::{PyItem, PyKind, PyProject};
use crate::docs::DocsError;
use crate::docs::diagram::{Diagram, MAX_CLASSES, MAX_EDGES, MAX_MEMBERS};
use crate::docs::mermaid::{label, member};

/// Flowchart of the project's modules and their imports.
pub fn module_graph(project: &PyProject) -> Diagram {
    let index: HashMap<&str, usize> = project
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.as_str(), i))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for (i, m) in project.modules.iter().enumerate() {
        let _ = writeln!(out, "    n{i}[\"{}\"]", label(&m.path));
    }
    let mut edges = 0;
    let mut left_out = 0;
    for (i, m) in project.modules.iter().enumerate() {
        if let Some((parent, _)) = m.path.rsplit_once('.')
            && let Some(&p) = index.get(parent)
        {
            if edges == MAX_EDGES {
                left_out += 1;
                continue;
            }
            let _ = writeln!(out, "    n{p} -.-> n{i}");
            edges += 1;
        }
    }
    let mut deps: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (from, m) in project.modules.iter().enumerate() {
        for target in &m.imports {
            // The longest module path the import starts with.
            let mut t = target.as_str();
            let to = loop {
                if let Some(&i) = index.get(t) {
                    break Some(i);
                }
                match t.rfind('.') {
                    Some(p) => t = &t[..p],
                    None => break None,
                }
            };
            if let Some(to) = to
                && to != from
            {
                deps.insert((from, to));
            }
        }
    }
    for (from, to) in &deps {
        if edges == MAX_EDGES {
            left_out += 1;
            continue;
        }
        let _ = writeln!(out, "    n{from} --> n{to}");
        edges += 1;
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "    %% {left_out} arrows left out: Mermaid draws at most {MAX_EDGES} edges here"
        );
    }
    Diagram {
        mermaid: out,
        nodes: project.modules.len(),
        edges,
        truncated: left_out > 0,
    }
}

/// classDiagram of the classes of `module` (and its submodules; all when
/// `None`), with attributes, properties and methods, and inheritance.
pub fn type_graph(
    project: &PyProject,
    module: Option<&str>,
    max_classes: usize,
) -> Result<Diagram, DocsError> {
    let max_classes = max_classes.clamp(1, MAX_CLASSES);
    if let Some(m) = module
        && project.module(m.trim()).is_none()
    {
        return Err(DocsError::NoSuchModule(m.trim().to_string()));
    }
    let scope = module.map(str::trim);
    let in_scope = |path: &str| match scope {
        None => true,
        Some(s) => path == s || path.starts_with(&format!("{s}.")),
    };
    let mut classes: Vec<&PyItem> = Vec::new();
    for m in project.modules.iter().filter(|m| in_scope(&m.path)) {
        fn collect<'a>(items: &'a [PyItem], out: &mut Vec<&'a PyItem>) {
            for i in items.iter().filter(|i| i.kind == PyKind::Class) {
                out.push(i);
                collect(&i.members, out);
            }
        }
        collect(&m.items, &mut classes);
    }
    let truncated = classes.len() > max_classes;
    classes.truncate(max_classes);
    let mut name_count: HashMap<&str, usize> = HashMap::new();
    for c in &classes {
        *name_count.entry(c.name.as_str()).or_default() += 1;
    }
    let by_name: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let by_path: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.path.as_str(), i))
        .collect();
    let mut out = String::from("classDiagram\n");
    for (i, c) in classes.iter().enumerate() {
        let shown = if name_count[c.name.as_str()] > 1 {
            c.path.clone()
        } else {
            c.name.clone()
        };
        let _ = writeln!(out, "    class C{i}[\"{}\"] {{", label(&shown));
        let mut lines = Vec::new();
        for m in &c.members {
            let vis = if m.name.starts_with('_') && !m.name.ends_with("__") {
                "-"
            } else {
                "+"
            };
            match m.kind {
                PyKind::Attribute | PyKind::Property => lines.push(format!(
                    "{vis}{}",
                    member(&match &m.returns {
                        Some(t) => format!("{} {}", t, m.name),
                        None => m.name.clone(),
                    })
                )),
                PyKind::Method => {
                    let params: Vec<String> = m.params.iter().map(|p| p.shown_name()).collect();
                    lines.push(format!(
                        "{vis}{}",
                        member(&format!(
                            "{}({}){}",
                            m.name,
                            params.join(", "),
                            m.returns
                                .as_ref()
                                .map(|r| format!(" {r}"))
                                .unwrap_or_default()
                        ))
                    ));
                }
                _ => {}
            }
        }
        let total = lines.len();
        for l in lines.into_iter().take(MAX_MEMBERS) {
            if !l.trim().is_empty() && l.trim() != "+" && l.trim() != "-" {
                let _ = writeln!(out, "        {l}");
            }
        }
        if total > MAX_MEMBERS {
            let _ = writeln!(out, "        ... {} more", total - MAX_MEMBERS);
        }
        out.push_str("    }\n");
    }
    let mut relations = BTreeSet::new();
    for (i, c) in classes.iter().enumerate() {
        for base in &c.bases {
            if base.contains('=') {
                continue;
            }
            // `pkg.mod.Base`, `mod.Base` or `Base` (generic arguments aside).
            let base = base.split('[').next().unwrap_or(base).trim();
            let last = base.rsplit('.').next().unwrap_or(base);
            let target = by_path.get(base).or_else(|| by_name.get(last)).copied();
            if let Some(j) = target
                && j != i
            {
                relations.insert((j, i));
            }
        }
    }
    for (parent, child) in &relations {
        let _ = writeln!(out, "    C{parent} <|-- C{child}");
    }
    Ok(Diagram {
        mermaid: out,
        nodes: classes.len(),
        edges: relations.len(),
        truncated,
    })
}
