//! Rendering declarations as Rust with `prettyplease`: attributes and bodies
//! are stripped (a function keeps its signature, a const its type), so the
//! signature reads like the header of a rustdoc page.

use syn::{Expr, Fields, ImplItem, Item, ItemFn, Signature, TraitItem, Type, Visibility};

fn unparse(item: Item) -> String {
    let file = syn::File {
        shebang: None,
        frontmatter: None,
        attrs: Vec::new(),
        items: vec![item],
    };
    prettyplease::unparse(&file).trim().to_string()
}

fn strip_body(s: String) -> String {
    let t = s.trim_end();
    let t = t
        .strip_suffix("{}")
        .or_else(|| t.strip_suffix("{\n}"))
        .unwrap_or(t);
    t.trim_end().to_string()
}

fn infer_expr() -> Expr {
    Expr::Infer(syn::ExprInfer {
        attrs: Vec::new(),
        underscore_token: Default::default(),
    })
}

fn empty_block() -> syn::Block {
    syn::Block {
        brace_token: Default::default(),
        stmts: Vec::new(),
    }
}

/// `pub fn name<T>(a: T) -> U` (no body).
pub fn function(vis: &Visibility, sig: &Signature) -> String {
    let item = ItemFn {
        attrs: Vec::new(),
        vis: vis.clone(),
        modifiers: Default::default(),
        sig: sig.clone(),
        block: Box::new(empty_block()),
    };
    strip_body(unparse(Item::Fn(item)))
}

/// A type as Rust source.
pub fn ty(t: &Type) -> String {
    let item: Item = Item::Type(syn::ItemType {
        attrs: Vec::new(),
        vis: Visibility::Inherited,
        modifiers: Default::default(),
        type_token: Default::default(),
        ident: syn::Ident::new("T", proc_macro2::Span::call_site()),
        generics: Default::default(),
        eq_token: Default::default(),
        ty: Box::new(t.clone()),
        semi_token: Default::default(),
        where_clause_placement: syn::WhereClausePlacement::Early,
    });
    let s = unparse(item);
    s.strip_prefix("type T = ")
        .and_then(|s| s.strip_suffix(';'))
        .unwrap_or(&s)
        .to_string()
}

fn strip_value(s: String) -> String {
    match s.strip_suffix(" = _;") {
        Some(head) => format!("{head};"),
        None => s,
    }
}

/// The declaration of an item without attributes, bodies or values: structs,
/// enums, unions and traits keep their fields, variants and item signatures.
pub fn item(item: &Item) -> String {
    let mut item = item.clone();
    match &mut item {
        Item::Fn(f) => {
            f.attrs.clear();
            *f.block = empty_block();
            return strip_body(unparse(item));
        }
        Item::Const(c) => {
            c.attrs.clear();
            *c.expr = infer_expr();
            return strip_value(unparse(item));
        }
        Item::Static(s) => {
            s.attrs.clear();
            *s.expr = infer_expr();
            return strip_value(unparse(item));
        }
        Item::Struct(s) => {
            s.attrs.clear();
            strip_fields(&mut s.fields);
            // Like rustdoc: private fields are not part of the signature.
            let mut hidden = false;
            match &mut s.fields {
                Fields::Named(named) => {
                    let before = named.named.len();
                    named.named = std::mem::take(&mut named.named)
                        .into_iter()
                        .filter(|f| matches!(f.vis, Visibility::Public(_)))
                        .collect();
                    hidden = named.named.len() != before;
                }
                Fields::Unnamed(unnamed) => {
                    for f in unnamed.unnamed.iter_mut() {
                        if !matches!(f.vis, Visibility::Public(_)) {
                            f.ty = Type::Infer(syn::TypeInfer {
                                attrs: Vec::new(),
                                underscore_token: Default::default(),
                            });
                        }
                    }
                }
                Fields::Unit => {}
            }
            let rendered = unparse(item);
            if hidden && let Some(end) = rendered.rfind('}') {
                let head = rendered[..end].trim_end();
                let head = head
                    .strip_suffix('{')
                    .map(|h| format!("{h}{{"))
                    .unwrap_or_else(|| head.to_string());
                return format!("{head}\n    /* private fields */\n}}");
            }
            return rendered;
        }
        Item::Enum(e) => {
            e.attrs.clear();
            for v in e.variants.iter_mut() {
                v.attrs.clear();
                strip_fields(&mut v.fields);
            }
        }
        Item::Union(u) => {
            u.attrs.clear();
            for f in u.fields.named.iter_mut() {
                f.attrs.clear();
            }
        }
        Item::Trait(t) => {
            t.attrs.clear();
            for ti in t.items.iter_mut() {
                match ti {
                    TraitItem::Fn(f) => {
                        f.attrs.clear();
                        f.default = None;
                        f.semi_token = Some(Default::default());
                    }
                    TraitItem::Const(c) => c.attrs.clear(),
                    TraitItem::Type(ty) => ty.attrs.clear(),
                    _ => {}
                }
            }
        }
        Item::Type(t) => t.attrs.clear(),
        Item::Impl(i) => {
            i.attrs.clear();
            i.items.clear();
            return strip_body(unparse(item));
        }
        Item::Macro(m) => {
            let name = m.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
            return format!("macro_rules! {name} {{ ... }}");
        }
        Item::Use(u) => u.attrs.clear(),
        Item::Mod(m) => {
            m.attrs.clear();
            m.content = None;
            m.semi = Some(Default::default());
        }
        _ => {}
    }
    unparse(item)
}

fn strip_fields(fields: &mut Fields) {
    for f in fields.iter_mut() {
        f.attrs.clear();
    }
}

/// A method or associated item of an impl block.
pub fn impl_item(item: &ImplItem) -> Option<String> {
    Some(match item {
        ImplItem::Fn(f) => function(&f.vis, &f.sig),
        ImplItem::Const(c) => {
            let vis = vis_prefix(&c.vis);
            format!("{vis}const {}: {};", c.ident, ty(&c.ty))
        }
        ImplItem::Type(t) => {
            let vis = vis_prefix(&t.vis);
            format!("{vis}type {} = {};", t.ident, ty(&t.ty))
        }
        _ => return None,
    })
}

/// A trait's method, const or associated type.
pub fn trait_item(item: &TraitItem) -> Option<String> {
    Some(match item {
        TraitItem::Fn(f) => function(&Visibility::Inherited, &f.sig),
        TraitItem::Const(c) => format!("const {}: {};", c.ident, ty(&c.ty)),
        TraitItem::Type(t) => {
            let mut t = t.clone();
            t.attrs.clear();
            t.default = None;
            let trait_item = syn::ItemTrait {
                attrs: Vec::new(),
                vis: Visibility::Inherited,
                modifiers: Default::default(),
                unsafety: None,
                trait_token: Default::default(),
                ident: syn::Ident::new("X", proc_macro2::Span::call_site()),
                generics: Default::default(),
                colon_token: None,
                supertraits: Default::default(),
                brace_token: Default::default(),
                items: vec![TraitItem::Type(t)],
            };
            let s = unparse(Item::Trait(trait_item));
            s.lines()
                .filter(|l| l.starts_with("    "))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => return None,
    })
}

/// `pub ` / `pub(crate) ` / empty.
pub fn vis_prefix(vis: &Visibility) -> String {
    match vis {
        Visibility::Inherited => String::new(),
        Visibility::Public(_) => "pub ".into(),
        Visibility::Restricted(r) => {
            let path = r
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            if r.in_token.is_some() {
                format!("pub(in {path}) ")
            } else {
                format!("pub({path}) ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_lose_bodies_and_attributes() {
        let f: Item = syn::parse_str("/// doc\n#[inline] pub async fn f<T: Clone>(a: T, b: &str) -> Option<T> where T: Send { None }").unwrap();
        let s = item(&f);
        assert!(
            s.starts_with("pub async fn f<T: Clone>(a: T, b: &str) -> Option<T>"),
            "{s}"
        );
        assert!(s.contains("T: Send"), "{s}");
        assert!(
            !s.contains("None") && !s.contains("inline") && !s.contains("doc"),
            "{s}"
        );
    }

    #[test]
    fn consts_keep_type_not_value() {
        let c: Item = syn::parse_str("pub const MAX: u16 = 65535;").unwrap();
        assert_eq!(item(&c), "pub const MAX: u16;");
        let s: Item = syn::parse_str("pub static mut N: [u8; 4] = [0; 4];").unwrap();
        assert_eq!(item(&s), "pub static mut N: [u8; 4];");
    }

    #[test]
    fn traits_keep_method_signatures_only() {
        let t: Item =
            syn::parse_str("pub trait A: Clone { /// d\n fn a(&self) -> u8 { 1 } type B: Copy; }")
                .unwrap();
        let s = item(&t);
        assert!(s.contains("fn a(&self) -> u8;"), "{s}");
        assert!(s.contains("type B: Copy;"), "{s}");
        assert!(!s.contains("1"), "{s}");
    }

    #[test]
    fn private_fields_are_left_out_like_rustdoc() {
        let st: Item = syn::parse_str("pub struct P { pub x: i32, y: i32 }").unwrap();
        assert_eq!(
            item(&st),
            "pub struct P {\n    pub x: i32,\n    /* private fields */\n}"
        );
        let tuple: Item = syn::parse_str("pub struct T(pub u8, u16);").unwrap();
        assert_eq!(item(&tuple), "pub struct T(pub u8, _);");
        let empty: Item = syn::parse_str("pub struct E { a: u8 }").unwrap();
        assert_eq!(item(&empty), "pub struct E {\n    /* private fields */\n}");
    }

    #[test]
    fn impl_headers() {
        let i: Item =
            syn::parse_str("impl<T> From<T> for Wrap<T> { fn from(t: T) -> Self { Wrap(t) } }")
                .unwrap();
        assert_eq!(item(&i), "impl<T> From<T> for Wrap<T>");
    }
}
