//! The four diagram kinds of `generate_diagram`, as Mermaid text:
//! architecture (flowchart, node shape by component type), sequence
//! (sequenceDiagram), module graph (flowchart of a crate's modules and their
//! `use crate::..` dependencies) and type graph (classDiagram of structs,
//! enums and traits with fields, methods, trait impls and field-type
//! associations).
//!
//! Inputs are checked before anything is drawn, so an unknown endpoint or a
//! duplicate id is an error naming the offending element rather than a
//! diagram with a dangling node; large code graphs are capped and say so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use schemars::JsonSchema;
use serde::Deserialize;

use super::mermaid::{label, member, relation_label};
use super::model::{CrateDocs, DocItem, ItemKind};

/// Most classes drawn in a type graph.
pub const MAX_CLASSES: usize = 150;
/// Most members listed per class.
pub const MAX_MEMBERS: usize = 25;
/// Most components, participants, connections or interactions accepted.
pub const MAX_ELEMENTS: usize = 2000;
/// Most edges drawn in a module graph. Mermaid refuses a flowchart with
/// 500 edges or more unless the page raises `maxEdges`, which renderers such
/// as GitHub's do not; a larger crate gets its submodule arrows and then its
/// dependencies up to this many, a `%%` comment saying how many were left
/// out, and `truncated`.
pub const MAX_EDGES: usize = 450;

/// Longest text (id, name, label, message, participant) in a drawn
/// diagram, in characters: each appears several times in the answer, escaped
/// (`;` becomes `#59;`), and a 15 MB message made a 250 MB answer.
pub const MAX_TEXT: usize = 500;

/// Refuses a text longer than [`MAX_TEXT`], naming its field.
fn text_arg(field: impl FnOnce() -> String, text: &str) -> Result<(), DiagramError> {
    if text.chars().count() > MAX_TEXT {
        return Err(bad(field(), format!("at most {MAX_TEXT} characters")));
    }
    Ok(())
}

/// A generated diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// Mermaid source.
    pub mermaid: String,
    /// Nodes, participants or classes drawn.
    pub nodes: usize,
    /// Edges, messages or relations drawn.
    pub edges: usize,
    /// Whether the graph was cut to the size limits.
    pub truncated: bool,
}

/// A bad diagram input: the field at fault and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DiagramError {
    /// The argument at fault (`connections[2].to`).
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> DiagramError {
    DiagramError {
        field: field.into(),
        message: message.into(),
    }
}

/// What a component is; decides its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentType {
    /// A service or application: rectangle.
    Service,
    /// A database: cylinder.
    Database,
    /// A queue or stream: parallelogram.
    Queue,
    /// A cache: hexagon.
    Cache,
    /// Something outside the system: stadium.
    External,
}

/// A box in an architecture diagram.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Identifier used by `connections` (any text, unique).
    pub id: String,
    /// Label shown in the box.
    pub name: String,
    /// Sets the shape.
    #[serde(rename = "type")]
    pub kind: ComponentType,
}

/// An arrow in an architecture diagram.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Component id the arrow starts at.
    pub from: String,
    /// Component id the arrow points to.
    pub to: String,
    /// Text on the arrow.
    #[serde(default)]
    pub label: Option<String>,
}

/// How a message is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Solid arrow (a call). The default.
    #[default]
    Sync,
    /// Open arrow (fire and forget).
    Async,
    /// Dashed arrow (a response).
    Reply,
}

/// One message in a sequence diagram.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// Sender (a participant name).
    pub from: String,
    /// Receiver (a participant name).
    pub to: String,
    /// Message text.
    pub message: String,
    /// Default sync.
    #[serde(default)]
    pub kind: MessageKind,
}

/// Flowchart of components, shaped by type, and their connections.
pub fn architecture(
    components: &[Component],
    connections: &[Connection],
) -> Result<Diagram, DiagramError> {
    if components.is_empty() {
        return Err(bad(
            "components",
            "give at least one component {id, name, type}",
        ));
    }
    if components.len() > MAX_ELEMENTS || connections.len() > MAX_ELEMENTS {
        return Err(bad(
            "components",
            format!("at most {MAX_ELEMENTS} components and {MAX_ELEMENTS} connections"),
        ));
    }
    for (i, c) in components.iter().enumerate() {
        text_arg(|| format!("components[{i}].id"), &c.id)?;
        text_arg(|| format!("components[{i}].name"), &c.name)?;
    }
    for (i, c) in connections.iter().enumerate() {
        text_arg(
            || format!("connections[{i}].label"),
            c.label.as_deref().unwrap_or(""),
        )?;
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, c) in components.iter().enumerate() {
        if c.id.trim().is_empty() {
            return Err(bad(format!("components[{i}].id"), "must not be empty"));
        }
        if let Some(first) = ids.insert(c.id.as_str(), i) {
            return Err(bad(
                format!("components[{i}].id"),
                format!(
                    "`{}` is also the id of components[{first}]; ids must be unique",
                    c.id
                ),
            ));
        }
    }
    let mut out = String::from("flowchart LR\n");
    for (i, c) in components.iter().enumerate() {
        let text = label(&c.name);
        let shape = match c.kind {
            ComponentType::Service => format!("[\"{text}\"]"),
            ComponentType::Database => format!("[(\"{text}\")]"),
            ComponentType::Queue => format!("[/\"{text}\"/]"),
            ComponentType::Cache => format!("{{{{\"{text}\"}}}}"),
            ComponentType::External => format!("([\"{text}\"])"),
        };
        let _ = writeln!(out, "    n{i}{shape}");
    }
    for (i, c) in connections.iter().enumerate() {
        let from = ids.get(c.from.as_str()).ok_or_else(|| {
            bad(
                format!("connections[{i}].from"),
                format!("`{}` is not a component id", c.from),
            )
        })?;
        let to = ids.get(c.to.as_str()).ok_or_else(|| {
            bad(
                format!("connections[{i}].to"),
                format!("`{}` is not a component id", c.to),
            )
        })?;
        match &c.label {
            Some(l) if !l.is_empty() => {
                let _ = writeln!(out, "    n{from} -->|\"{}\"| n{to}", label(l));
            }
            _ => {
                let _ = writeln!(out, "    n{from} --> n{to}");
            }
        }
    }
    Ok(Diagram {
        mermaid: out,
        nodes: components.len(),
        edges: connections.len(),
        truncated: false,
    })
}

/// sequenceDiagram of interactions between participants (declared in the
/// given order, then in order of first appearance).
pub fn sequence(
    participants: Option<&[String]>,
    interactions: &[Interaction],
) -> Result<Diagram, DiagramError> {
    if interactions.is_empty() {
        return Err(bad(
            "interactions",
            "give at least one interaction {from, to, message}",
        ));
    }
    if interactions.len() > MAX_ELEMENTS
        || participants.map(|p| p.len()).unwrap_or(0) > MAX_ELEMENTS
    {
        return Err(bad(
            "interactions",
            format!("at most {MAX_ELEMENTS} interactions and participants"),
        ));
    }
    for (i, p) in participants.unwrap_or(&[]).iter().enumerate() {
        text_arg(|| format!("participants[{i}]"), p)?;
    }
    for (i, it) in interactions.iter().enumerate() {
        text_arg(|| format!("interactions[{i}].from"), &it.from)?;
        text_arg(|| format!("interactions[{i}].to"), &it.to)?;
        text_arg(|| format!("interactions[{i}].message"), &it.message)?;
    }
    let mut order: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let declared = participants.is_some();
    for (i, p) in participants.unwrap_or(&[]).iter().enumerate() {
        if index.contains_key(p) {
            return Err(bad(
                format!("participants[{i}]"),
                format!("`{p}` is listed twice"),
            ));
        }
        index.insert(p.clone(), order.len());
        order.push(p.clone());
    }
    for (i, it) in interactions.iter().enumerate() {
        for (field, name) in [("from", &it.from), ("to", &it.to)] {
            if !index.contains_key(name) {
                if declared {
                    return Err(bad(
                        format!("interactions[{i}].{field}"),
                        format!("`{name}` is not in participants"),
                    ));
                }
                index.insert(name.clone(), order.len());
                order.push(name.clone());
            }
        }
    }
    let mut out = String::from("sequenceDiagram\n");
    for (i, p) in order.iter().enumerate() {
        let _ = writeln!(out, "    participant p{i} as {}", label(p));
    }
    for it in interactions {
        let arrow = match it.kind {
            MessageKind::Sync => "->>",
            MessageKind::Async => "-)",
            MessageKind::Reply => "-->>",
        };
        let _ = writeln!(
            out,
            "    p{}{arrow}p{}: {}",
            index[&it.from],
            index[&it.to],
            label(&it.message)
        );
    }
    Ok(Diagram {
        mermaid: out,
        nodes: order.len(),
        edges: interactions.len(),
        truncated: false,
    })
}

/// Flowchart of the crate's modules: solid arrows for `use crate::..`
/// dependencies, dotted arrows from a module to its submodules.
pub fn module_graph(docs: &CrateDocs) -> Diagram {
    let modules: Vec<&str> = docs
        .modules
        .iter()
        .filter(|m| !m.path.contains("::") || docs.module(parent(&m.path)).is_some())
        .map(|m| m.path.as_str())
        .collect();
    let index: HashMap<&str, usize> = modules.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut out = String::from("flowchart LR\n");
    for (i, m) in modules.iter().enumerate() {
        let text = if *m == "crate" {
            docs.name.clone()
        } else {
            m.trim_start_matches("crate::").to_string()
        };
        let _ = writeln!(out, "    n{i}[\"{}\"]", label(&text));
    }
    let mut edges = 0;
    let mut tree_left_out = 0;
    for (i, m) in modules.iter().enumerate() {
        if *m != "crate"
            && let Some(&p) = index.get(parent(m))
        {
            if edges == MAX_EDGES {
                tree_left_out += 1;
                continue;
            }
            let _ = writeln!(out, "    n{p} -.-> n{i}");
            edges += 1;
        }
    }
    if tree_left_out > 0 {
        let _ = writeln!(
            out,
            "    %% {tree_left_out} submodule arrows left out: Mermaid draws at most {MAX_EDGES} edges here"
        );
    }
    let mut deps: BTreeSet<(usize, usize)> = BTreeSet::new();
    for m in &docs.modules {
        let Some(&from) = index.get(m.path.as_str()) else {
            continue;
        };
        for target in &m.uses {
            // The longest module path the used path starts with.
            let mut t = target.as_str();
            let to = loop {
                if let Some(&i) = index.get(t) {
                    break Some(i);
                }
                match t.rfind("::") {
                    Some(p) => t = &t[..p],
                    None => break None,
                };
            };
            if let Some(to) = to
                && to != from
            {
                deps.insert((from, to));
            }
        }
    }
    let room = MAX_EDGES.saturating_sub(edges);
    for (from, to) in deps.iter().take(room) {
        let _ = writeln!(out, "    n{from} --> n{to}");
    }
    let left_out = deps.len().saturating_sub(room);
    if left_out > 0 {
        let _ = writeln!(
            out,
            "    %% {left_out} of {} dependency arrows left out: Mermaid draws at most {MAX_EDGES} edges here",
            deps.len()
        );
    }
    edges += deps.len() - left_out;
    Diagram {
        mermaid: out,
        nodes: modules.len(),
        edges,
        truncated: tree_left_out + left_out > 0,
    }
}

fn parent(path: &str) -> &str {
    path.rfind("::").map(|p| &path[..p]).unwrap_or("")
}

/// classDiagram of the structs, enums, unions and traits in `module` (and
/// its submodules; the whole crate when `None`).
pub fn type_graph(
    docs: &CrateDocs,
    module: Option<&str>,
    max_classes: usize,
) -> Result<Diagram, super::DocsError> {
    let max_classes = max_classes.clamp(1, MAX_CLASSES);
    let scope = match module {
        None => "crate".to_string(),
        Some(m) => {
            let m = m.trim();
            let full = if m == "crate" || m.starts_with("crate::") {
                m.to_string()
            } else {
                format!("crate::{m}")
            };
            if docs.module(&full).is_none() {
                return Err(super::DocsError::NoSuchModule(full));
            }
            full
        }
    };
    let in_scope = |path: &str| path == scope || path.starts_with(&format!("{scope}::"));
    let mut types: Vec<&DocItem> = docs
        .items()
        .filter(|i| {
            matches!(
                i.kind,
                ItemKind::Struct | ItemKind::Enum | ItemKind::Union | ItemKind::Trait
            ) && i.inlined_from.is_none()
                && !i.hidden
                && in_scope(&i.module)
        })
        .collect();
    let truncated = types.len() > max_classes;
    types.truncate(max_classes);
    // Class ids by name; a name used twice is labelled with its path.
    let mut name_count: HashMap<&str, usize> = HashMap::new();
    for t in &types {
        *name_count.entry(t.name.as_str()).or_default() += 1;
    }
    let by_name: HashMap<&str, usize> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let impls: Vec<&DocItem> = docs
        .items()
        .filter(|i| i.kind == ItemKind::Impl && i.inlined_from.is_none())
        .collect();

    let mut out = String::from("classDiagram\n");
    for (i, t) in types.iter().enumerate() {
        let shown = if name_count[t.name.as_str()] > 1 {
            t.path().trim_start_matches("crate::").to_string()
        } else {
            t.name.clone()
        };
        let _ = writeln!(out, "    class C{i}[\"{}\"] {{", label(&shown));
        match t.kind {
            ItemKind::Enum => out.push_str("        <<enumeration>>\n"),
            ItemKind::Trait => out.push_str("        <<trait>>\n"),
            ItemKind::Union => out.push_str("        <<union>>\n"),
            _ => {}
        }
        let mut lines: Vec<String> = Vec::new();
        for m in &t.members {
            let vis = if m.public { "+" } else { "-" };
            lines.push(match m.kind {
                "field" => format!(
                    "{vis}{}",
                    member(
                        m.signature
                            .trim_start_matches("pub ")
                            .trim_start_matches("pub(crate) ")
                    )
                ),
                "variant" => member(&m.name),
                _ => format!("+{}", member(&method_line(&m.signature))),
            });
        }
        for imp in impls
            .iter()
            .filter(|b| b.impl_trait.is_none() && b.impl_self.as_deref() == Some(t.name.as_str()))
        {
            for m in &imp.members {
                let vis = if m.public { "+" } else { "-" };
                lines.push(format!("{vis}{}", member(&method_line(&m.signature))));
            }
        }
        let total = lines.len();
        for l in lines.into_iter().take(MAX_MEMBERS) {
            if !l.trim().is_empty() {
                let _ = writeln!(out, "        {l}");
            }
        }
        if total > MAX_MEMBERS {
            let _ = writeln!(out, "        ... {} more", total - MAX_MEMBERS);
        }
        out.push_str("    }\n");
    }
    let mut relations: BTreeMap<(usize, usize, &'static str), BTreeSet<String>> = BTreeMap::new();
    for imp in &impls {
        if let (Some(tr), Some(ty)) = (&imp.impl_trait, &imp.impl_self)
            && let (Some(&t), Some(&s)) = (by_name.get(tr.as_str()), by_name.get(ty.as_str()))
        {
            relations.entry((t, s, "realization")).or_default();
        }
    }
    for (i, t) in types.iter().enumerate() {
        for m in t
            .members
            .iter()
            .filter(|m| m.kind == "field" || m.kind == "variant")
        {
            let ty = m
                .signature
                .split_once(':')
                .map(|(_, ty)| ty)
                .unwrap_or(&m.signature);
            for word in ty.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if let Some(&j) = by_name.get(word)
                    && j != i
                {
                    relations
                        .entry((i, j, "association"))
                        .or_default()
                        .insert(m.name.clone());
                }
            }
        }
    }
    for ((a, b, kind), fields) in &relations {
        match *kind {
            "realization" => {
                let _ = writeln!(out, "    C{a} <|.. C{b} : implements");
            }
            _ => {
                let names: Vec<&str> = fields.iter().map(String::as_str).collect();
                let _ = writeln!(
                    out,
                    "    C{a} --> C{b} : {}",
                    relation_label(&names.join("_"))
                );
            }
        }
    }
    Ok(Diagram {
        mermaid: out,
        nodes: types.len(),
        edges: relations.len(),
        truncated,
    })
}

/// `fn name(&self, a: A) -> R` shortened to `name(&self, a: A) R`.
fn method_line(signature: &str) -> String {
    let one_line = signature.split_whitespace().collect::<Vec<_>>().join(" ");
    let body = match one_line.find("fn ") {
        Some(p) => &one_line[p + 3..],
        None => one_line.as_str(),
    };
    let body = body
        .split(" where ")
        .next()
        .unwrap_or(body)
        .trim_end_matches(';');
    body.replacen(" -> ", " ", 1)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::docs::model::{ModuleDoc, Vis};

    fn comp(id: &str, kind: ComponentType) -> Component {
        Component {
            id: id.into(),
            name: id.into(),
            kind,
        }
    }

    #[test]
    fn unknown_endpoints_and_duplicate_ids_name_the_element() {
        let comps = vec![
            comp("a", ComponentType::Service),
            comp("b", ComponentType::Database),
        ];
        let conns = vec![Connection {
            from: "a".into(),
            to: "zz".into(),
            label: None,
        }];
        assert_eq!(
            architecture(&comps, &conns).unwrap_err().field,
            "connections[0].to"
        );
        let dup = vec![
            comp("a", ComponentType::Service),
            comp("a", ComponentType::Cache),
        ];
        assert_eq!(
            architecture(&dup, &[]).unwrap_err().field,
            "components[1].id"
        );
        let it = vec![Interaction {
            from: "x".into(),
            to: "y".into(),
            message: "m".into(),
            kind: MessageKind::Sync,
        }];
        assert_eq!(
            sequence(Some(&["x".to_string()]), &it).unwrap_err().field,
            "interactions[0].to"
        );
    }

    #[test]
    fn shapes_follow_component_types() {
        let comps = vec![
            comp("s", ComponentType::Service),
            comp("d", ComponentType::Database),
            comp("q", ComponentType::Queue),
            comp("c", ComponentType::Cache),
            comp("e", ComponentType::External),
        ];
        let d = architecture(&comps, &[]).unwrap();
        for shape in [
            "n0[\"s\"]",
            "n1[(\"d\")]",
            "n2[/\"q\"/]",
            "n3{{\"c\"}}",
            "n4([\"e\"])",
        ] {
            assert!(d.mermaid.contains(shape), "{shape} in {}", d.mermaid);
        }
    }

    #[test]
    fn a_module_graph_past_mermaids_edge_limit_is_cut_and_says_so() {
        let paths: Vec<String> = std::iter::once("crate".to_string())
            .chain((0..40).map(|i| format!("crate::m{i}")))
            .collect();
        let module = |path: &String| ModuleDoc {
            path: path.clone(),
            file: PathBuf::from("src/lib.rs"),
            vis: Vis::Public,
            public: true,
            hidden: false,
            docs: None,
            deprecated: None,
            items: Vec::new(),
            uses: paths.iter().filter(|p| *p != path).cloned().collect(),
        };
        let docs = CrateDocs {
            name: "big".into(),
            root_file: PathBuf::from("src/lib.rs"),
            modules: paths.iter().map(module).collect(),
            files: Vec::new(),
            problems: Vec::new(),
        };
        let d = module_graph(&docs);
        let arrows = d.mermaid.matches("-->").count() + d.mermaid.matches("-.->").count();
        assert_eq!((d.edges, arrows, d.truncated), (MAX_EDGES, MAX_EDGES, true));
        // 40 submodule arrows, then 410 of the 41 x 40 dependencies.
        assert!(
            d.mermaid
                .contains("%% 1230 of 1640 dependency arrows left out")
        );
    }

    #[test]
    fn method_lines_are_short() {
        assert_eq!(
            method_line("pub fn new(x: i32) -> Self"),
            "new(x: i32) Self"
        );
        assert_eq!(
            method_line("fn f<T>(&self)\nwhere\n    T: Copy;"),
            "f<T>(&self)"
        );
    }
}
