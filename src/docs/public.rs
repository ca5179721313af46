//! What a user of the crate can reach, computed like rustdoc: an item is
//! public where it is declared when it is `pub` inside `pub` modules; a
//! `pub use` that names an item (or a module, or a glob) that is NOT public
//! where it is declared inlines a copy at the re-export's path, because that
//! path is the only one users can name. A re-export of an item that is
//! already public stays a re-export (unless `#[doc(inline)]`), so every item
//! is listed once per path rustdoc gives it a page at.

use std::collections::HashMap;

use super::model::{CrateDocs, DocItem, ItemKind, ModuleDoc};

/// How deep re-export chains and inlined module trees are followed.
const MAX_DEPTH: usize = 16;

/// A resolved name: an item (module index, item index) or a module.
#[derive(Debug, Clone)]
enum Target {
    Item(usize, usize),
    Module(usize),
}

/// Adds inlined copies of privately declared items that public `pub use`
/// declarations expose.
pub fn inline_reexports(docs: &mut CrateDocs) {
    let index: HashMap<String, usize> = docs
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.clone(), i))
        .collect();
    let mut out = Inlined::default();
    for (mi, module) in docs.modules.iter().enumerate() {
        if !module.public || module.hidden {
            continue;
        }
        for item in &module.items {
            if item.kind != ItemKind::Reexport || !item.public || item.hidden {
                continue;
            }
            let Some(target) = &item.target else { continue };
            let segments: Vec<String> = target.split("::").map(str::to_string).collect();
            let resolver = Resolver {
                docs,
                index: &index,
            };
            if item.name == "*" {
                let Some(tm) = resolver.module_of(&module.path, &segments[..segments.len() - 1], 0)
                else {
                    continue;
                };
                let target_module = &docs.modules[tm];
                if target_module.public && !item.doc_inline {
                    continue;
                }
                for name in resolver.public_names(tm, 0) {
                    for t in resolver.lookup(tm, &name, 0) {
                        resolver.inline(&t, mi, &name, &mut out, 0, &[]);
                    }
                }
            } else {
                let (last, prefix) = match segments.split_last() {
                    Some(x) => x,
                    None => continue,
                };
                let targets = if prefix.is_empty() {
                    // `pub use name;` where `name` is a child module or item.
                    resolver.lookup(mi, last, 0)
                } else {
                    match resolver.module_of(&module.path, prefix, 0) {
                        Some(tm) => resolver.lookup(tm, last, 0),
                        None => Vec::new(),
                    }
                };
                for t in targets {
                    let already_public = match &t {
                        Target::Item(m, i) => {
                            let it = &docs.modules[*m].items[*i];
                            it.public && !it.hidden
                        }
                        Target::Module(m) => docs.modules[*m].public,
                    };
                    if already_public && !item.doc_inline {
                        continue;
                    }
                    resolver.inline(&t, mi, &item.name, &mut out, 0, &[]);
                }
            }
        }
    }
    for (mi, item) in out.additions {
        docs.modules[mi].items.push(item);
    }
    docs.modules.extend(out.new_modules);
}

/// Copies to add: items into existing modules, and whole new modules.
#[derive(Default)]
struct Inlined {
    additions: Vec<(usize, DocItem)>,
    new_modules: Vec<ModuleDoc>,
}

struct Resolver<'a> {
    docs: &'a CrateDocs,
    index: &'a HashMap<String, usize>,
}

impl Resolver<'_> {
    /// The module a `use` path prefix names, seen from module `from`.
    fn module_of(&self, from: &str, prefix: &[String], depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut current: Vec<String> = from.split("::").map(str::to_string).collect();
        let mut rest = prefix;
        match prefix.first().map(String::as_str) {
            Some("crate") => {
                current = vec!["crate".into()];
                rest = &prefix[1..];
            }
            Some("self") => rest = &prefix[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    if current.len() <= 1 {
                        return None;
                    }
                    current.pop();
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                // 2018 paths: a child module of the current module, else another crate.
                let mut child = current.clone();
                child.push(first.to_string());
                self.index.get(&child.join("::"))?;
            }
            None => {}
        }
        for seg in rest {
            current.push(seg.clone());
            if !self.index.contains_key(&current.join("::")) {
                // A module re-exported under another name.
                current.pop();
                let m = *self.index.get(&current.join("::"))?;
                let found = self
                    .lookup(m, seg, depth + 1)
                    .into_iter()
                    .find_map(|t| match t {
                        Target::Module(mm) => Some(mm),
                        _ => None,
                    })?;
                current = self.docs.modules[found]
                    .path
                    .split("::")
                    .map(str::to_string)
                    .collect();
            }
        }
        self.index.get(&current.join("::")).copied()
    }

    /// What `name` means in module `m`: items, a child module, or what a
    /// re-export of that name points at.
    fn lookup(&self, m: usize, name: &str, depth: usize) -> Vec<Target> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let module = &self.docs.modules[m];
        let mut out = Vec::new();
        for (i, item) in module.items.iter().enumerate() {
            if item.name != name {
                continue;
            }
            match item.kind {
                ItemKind::Module => {
                    if let Some(&c) = self.index.get(&format!("{}::{name}", module.path)) {
                        out.push(Target::Module(c));
                    }
                }
                ItemKind::Reexport | ItemKind::Impl => {}
                _ => out.push(Target::Item(m, i)),
            }
        }
        if out.is_empty() {
            for item in &module.items {
                if item.kind != ItemKind::Reexport || item.name != name {
                    continue;
                }
                let Some(target) = &item.target else { continue };
                let segs: Vec<String> = target.split("::").map(str::to_string).collect();
                let Some((last, prefix)) = segs.split_last() else {
                    continue;
                };
                if prefix.is_empty() {
                    continue;
                }
                if let Some(tm) = self.module_of(&module.path, prefix, depth + 1) {
                    out.extend(self.lookup(tm, last, depth + 1));
                }
            }
        }
        if out.is_empty() {
            // Names a `pub use path::*` brings in.
            for tm in self.glob_sources(m, depth) {
                if self.public_names(tm, depth + 1).iter().any(|n| n == name) {
                    out.extend(self.lookup(tm, name, depth + 1));
                }
            }
        }
        out
    }

    /// Modules that module `m`'s public glob re-exports (`pub use a::*`) name.
    fn glob_sources(&self, m: usize, depth: usize) -> Vec<usize> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let module = &self.docs.modules[m];
        module
            .items
            .iter()
            .filter(|i| {
                i.kind == ItemKind::Reexport && i.name == "*" && i.vis == super::model::Vis::Public
            })
            .filter_map(|i| {
                let segs: Vec<String> = i
                    .target
                    .as_deref()?
                    .split("::")
                    .map(str::to_string)
                    .collect();
                let (_, prefix) = segs.split_last()?;
                self.module_of(&module.path, prefix, depth + 1)
            })
            .filter(|&tm| tm != m)
            .collect()
    }

    /// Names module `m` makes visible to a glob import: its `pub` items and
    /// the names of its `pub use`s.
    fn public_names(&self, m: usize, depth: usize) -> Vec<String> {
        let mut names: Vec<String> = self.docs.modules[m]
            .items
            .iter()
            .filter(|i| {
                i.vis == super::model::Vis::Public && i.kind != ItemKind::Impl && i.name != "*"
            })
            .map(|i| i.name.clone())
            .collect();
        for tm in self.glob_sources(m, depth) {
            names.extend(self.public_names(tm, depth + 1));
        }
        names.sort();
        names.dedup();
        names
    }

    /// Adds a copy of `target` to module `into` under `name`.
    fn inline(
        &self,
        target: &Target,
        into: usize,
        name: &str,
        out: &mut Inlined,
        depth: usize,
        chain: &[usize],
    ) {
        let Inlined {
            additions,
            new_modules,
        } = out;
        let into_path = if into < self.docs.modules.len() {
            self.docs.modules[into].path.clone()
        } else {
            new_modules[into - self.docs.modules.len()].path.clone()
        };
        match target {
            Target::Item(m, i) => {
                let original = &self.docs.modules[*m].items[*i];
                if original.hidden || original.vis != super::model::Vis::Public {
                    return;
                }
                let mut copy = original.clone();
                copy.inlined_from = Some(original.path());
                copy.name = name.to_string();
                copy.module = into_path;
                copy.public = true;
                if into < self.docs.modules.len() {
                    additions.push((into, copy));
                } else {
                    new_modules[into - self.docs.modules.len()].items.push(copy);
                }
            }
            Target::Module(m) => {
                if depth > MAX_DEPTH {
                    return;
                }
                let source = &self.docs.modules[*m];
                // A module re-exported inside itself would inline forever.
                // (directly, or through copies of itself being inlined).
                let inside_itself = chain.contains(m)
                    || into_path == source.path
                    || into_path.starts_with(&format!("{}::", source.path));
                if source.hidden || inside_itself {
                    return;
                }
                let path = format!("{into_path}::{name}");
                let mut marker = DocItem {
                    name: name.to_string(),
                    module: into_path.clone(),
                    public: true,
                    inlined_from: Some(source.path.clone()),
                    kind: ItemKind::Module,
                    vis: super::model::Vis::Public,
                    hidden: false,
                    signature: format!("pub mod {name}"),
                    docs: source.docs.clone(),
                    deprecated: source.deprecated.clone(),
                    examples: Vec::new(),
                    members: Vec::new(),
                    file: source.file.clone(),
                    line: 1,
                    target: None,
                    impl_trait: None,
                    impl_self: None,
                    doc_inline: false,
                };
                marker.examples = marker
                    .docs
                    .as_deref()
                    .map(super::attrs::examples)
                    .unwrap_or_default();
                if into < self.docs.modules.len() {
                    additions.push((into, marker));
                } else {
                    new_modules[into - self.docs.modules.len()]
                        .items
                        .push(marker);
                }
                new_modules.push(ModuleDoc {
                    path,
                    file: source.file.clone(),
                    vis: super::model::Vis::Public,
                    public: true,
                    hidden: false,
                    docs: source.docs.clone(),
                    deprecated: source.deprecated.clone(),
                    items: Vec::new(),
                    uses: source.uses.clone(),
                });
                let new_index = self.docs.modules.len() + new_modules.len() - 1;
                let mut chain = chain.to_vec();
                chain.push(*m);
                for n in self.public_names(*m, depth + 1) {
                    for t in self.lookup(*m, &n, depth + 1) {
                        self.inline(&t, new_index, &n, out, depth + 1, &chain);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::generate::analyze;

    fn public_paths(lib: &str) -> Vec<String> {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("lib.rs"), lib).unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let docs = analyze(
            root.to_str().unwrap(),
            &crate::fsroot::Roots::open(std::slice::from_ref(&root)),
            &mut |_, _| true,
        )
        .unwrap();
        let mut out: Vec<String> = docs
            .items()
            .filter(|i| i.public && !i.hidden && i.kind.is_documentable())
            .map(|i| i.path())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn private_items_surface_where_they_are_reexported() {
        let lib = "mod a { pub struct A; pub(crate) struct Internal; mod b { pub struct B; } pub use self::b::*; }\n\
                   pub use a::*;\npub use a::A as Alias;\npub mod open { pub struct Open; }\npub use open::Open;\n";
        assert_eq!(
            public_paths(lib),
            vec![
                "crate::A",
                "crate::Alias",
                "crate::B",
                "crate::open",
                "crate::open::Open"
            ]
        );
    }

    #[test]
    fn module_reexport_cycles_terminate() {
        let lib = "mod inner { pub struct A; pub use super::inner as again; }\npub use inner as exposed;\n";
        let paths = public_paths(lib);
        assert!(
            paths.contains(&"crate::exposed::A".to_string()),
            "{paths:?}"
        );
        assert!(paths.len() < 10, "{paths:?}");
    }
}
