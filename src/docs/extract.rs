//! Turning the syntax of each module into [`DocItem`]s: kind, path,
//! visibility, signature, docs, deprecation, examples and members.
//!
//! Public means "reachable by a user of the crate at this path": a `pub`
//! item in a chain of `pub` modules. Re-exports that make private items
//! public are handled afterwards by [`super::public`], which needs every
//! module first.

use std::collections::HashMap;

use syn::{Fields, ImplItem, Item, TraitItem, UseTree, Visibility};

use super::attrs;
use super::model::{CrateDocs, DocItem, ItemKind, Member, ModuleDoc, Vis};
use super::signature;
use super::walker::{SourceModule, Walk};

/// Builds the crate's item model from a walk.
pub fn extract(name: &str, root_file: &std::path::Path, walk: Walk) -> CrateDocs {
    let mut modules: Vec<ModuleDoc> = Vec::with_capacity(walk.modules.len());
    let mut public_of: HashMap<String, (bool, bool)> = HashMap::new();
    let mut exported_macros = Vec::new();
    for source in &walk.modules {
        let path = source.path.join("::");
        let parent = source.path[..source.path.len() - 1].join("::");
        let (parent_public, parent_hidden) =
            public_of.get(&parent).copied().unwrap_or((true, false));
        let vis = vis_of(&source.vis);
        let public = parent_public && vis == Vis::Public;
        let hidden = parent_hidden || attrs::has_doc_flag(&source.attrs, "hidden");
        public_of.insert(path.clone(), (public, hidden));
        let mut module = ModuleDoc {
            path: path.clone(),
            file: source.file.clone(),
            vis,
            public,
            hidden,
            docs: attrs::docs(&source.attrs),
            deprecated: attrs::deprecated(&source.attrs),
            items: Vec::new(),
            uses: Vec::new(),
        };
        let ctx = Ctx {
            module: &path,
            module_public: public,
            module_hidden: hidden,
            source,
        };
        for item in &source.items {
            ctx.item(item, &mut module, &mut exported_macros);
        }
        modules.push(module);
    }
    // Submodule items carry the module's full docs (outer and inner).
    let docs_of: HashMap<String, (Option<String>, Option<String>)> = modules
        .iter()
        .map(|m| (m.path.clone(), (m.docs.clone(), m.deprecated.clone())))
        .collect();
    for m in &mut modules {
        for item in &mut m.items {
            if item.kind == ItemKind::Module
                && let Some((docs, deprecated)) = docs_of.get(&item.path())
            {
                item.docs = docs.clone();
                item.deprecated = deprecated.clone();
                item.examples = item
                    .docs
                    .as_deref()
                    .map(attrs::examples)
                    .unwrap_or_default();
            }
        }
    }
    if let Some(root) = modules.first_mut() {
        root.items.extend(exported_macros);
    }
    CrateDocs {
        name: name.to_string(),
        root_file: root_file.to_path_buf(),
        modules,
        files: walk.files,
        problems: walk.problems,
    }
}

/// Declared visibility.
pub fn vis_of(vis: &Visibility) -> Vis {
    match vis {
        Visibility::Public(_) => Vis::Public,
        Visibility::Inherited => Vis::Private,
        Visibility::Restricted(r) => {
            if r.in_token.is_none() && r.path.is_ident("crate") {
                Vis::Crate
            } else {
                Vis::Restricted(signature::vis_prefix(vis).trim().to_string())
            }
        }
    }
}

struct Ctx<'a> {
    module: &'a str,
    module_public: bool,
    module_hidden: bool,
    source: &'a SourceModule,
}

impl Ctx<'_> {
    fn base(
        &self,
        kind: ItemKind,
        name: String,
        vis: &Visibility,
        item_attrs: &[syn::Attribute],
        line: usize,
    ) -> DocItem {
        let vis = vis_of(vis);
        let docs = attrs::docs(item_attrs);
        DocItem {
            kind,
            name,
            module: self.module.to_string(),
            public: self.module_public && vis == Vis::Public,
            vis,
            hidden: self.module_hidden || attrs::has_doc_flag(item_attrs, "hidden"),
            signature: String::new(),
            examples: docs.as_deref().map(attrs::examples).unwrap_or_default(),
            docs,
            deprecated: attrs::deprecated(item_attrs),
            members: Vec::new(),
            file: self.source.file.clone(),
            line,
            target: None,
            impl_trait: None,
            impl_self: None,
            inlined_from: None,
            doc_inline: attrs::has_doc_flag(item_attrs, "inline"),
        }
    }

    fn item(&self, item: &Item, module: &mut ModuleDoc, exported_macros: &mut Vec<DocItem>) {
        let sig = || signature::item(item);
        let out = &mut module.items;
        match item {
            Item::Struct(s) => {
                let mut d = self.base(
                    ItemKind::Struct,
                    s.ident.to_string(),
                    &s.vis,
                    &s.attrs,
                    line(&s.ident),
                );
                d.members = fields(&s.fields, d.public);
                d.signature = sig();
                out.push(d);
            }
            Item::Enum(e) => {
                let mut d = self.base(
                    ItemKind::Enum,
                    e.ident.to_string(),
                    &e.vis,
                    &e.attrs,
                    line(&e.ident),
                );
                d.members = e
                    .variants
                    .iter()
                    .filter(|v| attrs::cfg_enabled(&v.attrs))
                    .map(|v| Member {
                        kind: "variant",
                        name: v.ident.to_string(),
                        signature: variant(v),
                        docs: attrs::docs(&v.attrs),
                        deprecated: attrs::deprecated(&v.attrs),
                        public: d.public,
                    })
                    .collect();
                d.signature = sig();
                out.push(d);
            }
            Item::Union(u) => {
                let mut d = self.base(
                    ItemKind::Union,
                    u.ident.to_string(),
                    &u.vis,
                    &u.attrs,
                    line(&u.ident),
                );
                d.members = fields(&Fields::Named(u.fields.clone()), d.public);
                d.signature = sig();
                out.push(d);
            }
            Item::Trait(t) => {
                let mut d = self.base(
                    ItemKind::Trait,
                    t.ident.to_string(),
                    &t.vis,
                    &t.attrs,
                    line(&t.ident),
                );
                d.members = t
                    .items
                    .iter()
                    .filter_map(|ti| {
                        let (kind, name, attrs_) = match ti {
                            TraitItem::Fn(f) => ("method", f.sig.ident.to_string(), &f.attrs),
                            TraitItem::Const(c) => {
                                ("associated_const", c.ident.to_string(), &c.attrs)
                            }
                            TraitItem::Type(t) => {
                                ("associated_type", t.ident.to_string(), &t.attrs)
                            }
                            _ => return None,
                        };
                        if !attrs::cfg_enabled(attrs_) {
                            return None;
                        }
                        Some(Member {
                            kind,
                            name,
                            signature: signature::trait_item(ti)?,
                            docs: attrs::docs(attrs_),
                            deprecated: attrs::deprecated(attrs_),
                            public: d.public,
                        })
                    })
                    .collect();
                d.signature = sig();
                out.push(d);
            }
            // Items that are a name, visibility, attributes and a signature.
            Item::Fn(_) | Item::Const(_) | Item::Static(_) | Item::Type(_) | Item::Mod(_) => {
                let (kind, ident, vis, attrs) = match item {
                    Item::Fn(f) => (ItemKind::Function, &f.sig.ident, &f.vis, &f.attrs),
                    Item::Const(c) => (ItemKind::Constant, &c.ident, &c.vis, &c.attrs),
                    Item::Static(s) => (ItemKind::Static, &s.ident, &s.vis, &s.attrs),
                    Item::Type(t) => (ItemKind::TypeAlias, &t.ident, &t.vis, &t.attrs),
                    Item::Mod(m) => (ItemKind::Module, &m.ident, &m.vis, &m.attrs),
                    _ => return,
                };
                let mut d = self.base(kind, ident.to_string(), vis, attrs, line(ident));
                d.signature = sig();
                out.push(d);
            }
            Item::Macro(m) => {
                let Some(ident) = &m.ident else { return };
                if !m.mac.path.is_ident("macro_rules") {
                    return;
                }
                let exported = attrs::has(&m.attrs, "macro_export");
                let vis = if exported {
                    Visibility::Public(Default::default())
                } else {
                    Visibility::Inherited
                };
                let mut d = self.base(
                    ItemKind::Macro,
                    ident.to_string(),
                    &vis,
                    &m.attrs,
                    line(ident),
                );
                d.signature = sig();
                if exported {
                    d.module = "crate".into();
                    d.public = true;
                    d.hidden = attrs::has_doc_flag(&m.attrs, "hidden");
                    exported_macros.push(d);
                } else {
                    out.push(d);
                }
            }
            Item::Impl(i) => {
                let header = sig();
                let line = i.impl_token.span.start().line;
                let mut d = self.base(
                    ItemKind::Impl,
                    header.clone(),
                    &Visibility::Inherited,
                    &i.attrs,
                    line,
                );
                d.signature = header;
                d.public = self.module_public;
                let is_trait_impl = i.trait_.is_some();
                d.impl_trait = i
                    .trait_
                    .as_ref()
                    .and_then(|(p, _)| p.segments.last().map(|s| s.ident.to_string()));
                d.impl_self = type_name(&i.self_ty);
                d.members = i
                    .items
                    .iter()
                    .filter_map(|ii| {
                        let (kind, name, attrs_, vis) = match ii {
                            ImplItem::Fn(f) => {
                                ("method", f.sig.ident.to_string(), &f.attrs, &f.vis)
                            }
                            ImplItem::Const(c) => {
                                ("associated_const", c.ident.to_string(), &c.attrs, &c.vis)
                            }
                            ImplItem::Type(t) => {
                                ("associated_type", t.ident.to_string(), &t.attrs, &t.vis)
                            }
                            _ => return None,
                        };
                        if !attrs::cfg_enabled(attrs_) {
                            return None;
                        }
                        Some(Member {
                            kind,
                            name,
                            signature: signature::impl_item(ii)?,
                            docs: attrs::docs(attrs_),
                            deprecated: attrs::deprecated(attrs_),
                            public: is_trait_impl || matches!(vis, Visibility::Public(_)),
                        })
                    })
                    .collect();
                out.push(d);
            }
            Item::ForeignMod(f) => {
                for fi in &f.items {
                    let (kind, ident, vis, attrs_) = match fi {
                        syn::ForeignItem::Fn(x) => {
                            (ItemKind::Function, &x.sig.ident, &x.vis, &x.attrs)
                        }
                        syn::ForeignItem::Static(x) => {
                            (ItemKind::Static, &x.ident, &x.vis, &x.attrs)
                        }
                        _ => continue,
                    };
                    if !attrs::cfg_enabled(attrs_) {
                        continue;
                    }
                    let mut d = self.base(kind, ident.to_string(), vis, attrs_, line(ident));
                    d.signature = match fi {
                        syn::ForeignItem::Fn(x) => signature::function(&x.vis, &x.sig),
                        syn::ForeignItem::Static(x) => format!(
                            "{}static {}{}: {};",
                            signature::vis_prefix(&x.vis),
                            if matches!(x.mutability, syn::StaticMutability::Mut(_)) {
                                "mut "
                            } else {
                                ""
                            },
                            x.ident,
                            signature::ty(&x.ty)
                        ),
                        _ => String::new(),
                    };
                    out.push(d);
                }
            }
            Item::Use(u) => {
                let mut leaves = Vec::new();
                flatten_use(&u.tree, &mut Vec::new(), &mut leaves);
                for (path, _) in &leaves {
                    let local_child = path.first().is_some_and(|first| {
                        self.source
                            .items
                            .iter()
                            .any(|i| matches!(i, Item::Mod(m) if m.ident == first.as_str()))
                    });
                    let target = if local_child {
                        let mut p = vec!["self".to_string()];
                        p.extend(path.iter().cloned());
                        crate_target(self.module, &p)
                    } else {
                        crate_target(self.module, path)
                    };
                    if let Some(target) = target {
                        module.uses.push(target);
                    }
                }
                if matches!(u.vis, Visibility::Inherited) {
                    return;
                }
                let l = u.use_token.span.start().line;
                for (path, alias) in leaves {
                    let mut d = self.base(ItemKind::Reexport, alias.clone(), &u.vis, &u.attrs, l);
                    let target = path.join("::");
                    d.signature = if path.last().map(String::as_str) == Some(alias.as_str())
                        || alias == "*"
                    {
                        format!("{}use {target};", signature::vis_prefix(&u.vis))
                    } else {
                        format!("{}use {target} as {alias};", signature::vis_prefix(&u.vis))
                    };
                    d.target = Some(target);
                    module.items.push(d);
                }
            }
            _ => {}
        }
    }
}

fn line(ident: &syn::Ident) -> usize {
    ident.span().start().line
}

fn fields(fields: &Fields, parent_public: bool) -> Vec<Member> {
    fields
        .iter()
        .enumerate()
        .filter(|(_, f)| attrs::cfg_enabled(&f.attrs))
        .map(|(i, f)| {
            let name = f
                .ident
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_else(|| i.to_string());
            let vis = signature::vis_prefix(&f.vis);
            Member {
                kind: "field",
                signature: format!("{vis}{name}: {}", signature::ty(&f.ty)),
                name,
                docs: attrs::docs(&f.attrs),
                deprecated: attrs::deprecated(&f.attrs),
                public: parent_public && matches!(f.vis, Visibility::Public(_)),
            }
        })
        .collect()
}

fn variant(v: &syn::Variant) -> String {
    match &v.fields {
        Fields::Unit => v.ident.to_string(),
        Fields::Unnamed(f) => format!(
            "{}({})",
            v.ident,
            f.unnamed
                .iter()
                .map(|f| signature::ty(&f.ty))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Fields::Named(f) => format!(
            "{} {{ {} }}",
            v.ident,
            f.named
                .iter()
                .map(|f| format!(
                    "{}: {}",
                    f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                    signature::ty(&f.ty)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The last path segment of a type (`Wrap` for `crate::a::Wrap<T>`).
pub fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        syn::Type::Paren(p) => type_name(&p.elem),
        syn::Type::Group(g) => type_name(&g.elem),
        _ => None,
    }
}

/// Flattens a use tree into `(path, alias)` leaves; a glob's alias is `*`.
pub fn flatten_use(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            if name == "self" {
                let alias = path.last().cloned().unwrap_or_default();
                out.push((path, alias));
            } else {
                path.push(name.clone());
                out.push((path, name));
            }
        }
        UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((path, r.rename.to_string()));
        }
        UseTree::Glob(_) => {
            let mut path = prefix.clone();
            path.push("*".into());
            out.push((path, "*".into()));
        }
        UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix, out);
            }
        }
    }
}

/// The absolute path (`crate::a::b`) a `use` path names when it starts with
/// `crate`, `self` or `super`; `None` for other crates.
pub fn crate_target(module: &str, path: &[String]) -> Option<String> {
    let mut base: Vec<&str> = module.split("::").collect();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base = vec!["crate"];
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                if base.len() <= 1 {
                    return None;
                }
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut out: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    out.extend(rest.iter().filter(|s| s.as_str() != "*").cloned());
    Some(out.join("::"))
}
