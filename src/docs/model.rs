//! What the code analysis finds: items with their path, visibility,
//! signature, docs and members, grouped by module. Plain data, no `syn`
//! types, so rendering and reporting never touch the syntax tree.

use std::path::PathBuf;

/// The kind of a documented item. The first ten are the kinds rustdoc lists
/// (and `item_counts` reports); impl blocks and re-exports are recorded too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// `mod`.
    Module,
    /// `struct`.
    Struct,
    /// `enum`.
    Enum,
    /// `union`.
    Union,
    /// `trait`.
    Trait,
    /// `fn` (free or in an `extern` block).
    Function,
    /// `const`.
    Constant,
    /// `static`.
    Static,
    /// `type X = ...;`.
    TypeAlias,
    /// `macro_rules!` with `#[macro_export]`.
    Macro,
    /// `impl` block.
    Impl,
    /// `pub use`.
    Reexport,
}

impl ItemKind {
    /// The name used in results (`type_alias`, `function`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Module => "module",
            ItemKind::Struct => "struct",
            ItemKind::Enum => "enum",
            ItemKind::Union => "union",
            ItemKind::Trait => "trait",
            ItemKind::Function => "function",
            ItemKind::Constant => "constant",
            ItemKind::Static => "static",
            ItemKind::TypeAlias => "type_alias",
            ItemKind::Macro => "macro",
            ItemKind::Impl => "impl",
            ItemKind::Reexport => "reexport",
        }
    }

    /// Plural heading used in the Markdown pages.
    pub fn heading(self) -> &'static str {
        match self {
            ItemKind::Module => "Modules",
            ItemKind::Struct => "Structs",
            ItemKind::Enum => "Enums",
            ItemKind::Union => "Unions",
            ItemKind::Trait => "Traits",
            ItemKind::Function => "Functions",
            ItemKind::Constant => "Constants",
            ItemKind::Static => "Statics",
            ItemKind::TypeAlias => "Type aliases",
            ItemKind::Macro => "Macros",
            ItemKind::Impl => "Implementations",
            ItemKind::Reexport => "Re-exports",
        }
    }

    /// Whether rustdoc gives this kind its own page (and so whether it counts
    /// towards `item_counts` and doc coverage).
    pub fn is_documentable(self) -> bool {
        !matches!(self, ItemKind::Impl | ItemKind::Reexport)
    }
}

/// Declared visibility of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vis {
    /// `pub`.
    Public,
    /// `pub(crate)`.
    Crate,
    /// `pub(super)`, `pub(in path)`, `pub(self)`.
    Restricted(String),
    /// No modifier.
    Private,
}

impl Vis {
    /// As written in source (`private` for none).
    pub fn label(&self) -> String {
        match self {
            Vis::Public => "pub".into(),
            Vis::Crate => "pub(crate)".into(),
            Vis::Restricted(s) => s.clone(),
            Vis::Private => "private".into(),
        }
    }
}

/// A fenced code block found in a doc comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Language (`rust` for untagged blocks and doctest attributes alone).
    pub language: String,
    /// Doctest attributes and other info-string words (`no_run`, `ignore`).
    pub attributes: Vec<String>,
    /// The code, as written (hidden `# ` lines included).
    pub code: String,
}

/// A field, variant, method or associated item of a documented item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `field`, `variant`, `method`, `associated_const`, `associated_type`.
    pub kind: &'static str,
    /// Name (`0`, `1` for tuple fields).
    pub name: String,
    /// Rendered Rust (`pub name: Type`, `fn f(&self) -> u8`).
    pub signature: String,
    /// Doc comment.
    pub docs: Option<String>,
    /// Deprecation note (`deprecated` when none is given).
    pub deprecated: Option<String>,
    /// Whether a user of the type can see it.
    pub public: bool,
}

/// One item found in the source.
#[derive(Debug, Clone)]
pub struct DocItem {
    /// Kind.
    pub kind: ItemKind,
    /// Name (for impls, the rendered header `impl Trait for Type`).
    pub name: String,
    /// Path of the module it appears in (`crate::a::b`).
    pub module: String,
    /// Declared visibility.
    pub vis: Vis,
    /// Reachable by users of the crate (rustdoc would document it here).
    pub public: bool,
    /// Marked `#[doc(hidden)]` (or inside a hidden module).
    pub hidden: bool,
    /// Signature rendered as Rust.
    pub signature: String,
    /// Doc comment (outer and inner), unindented.
    pub docs: Option<String>,
    /// Deprecation note (`deprecated` when none is given).
    pub deprecated: Option<String>,
    /// Code blocks from the docs.
    pub examples: Vec<Example>,
    /// Fields, variants, methods.
    pub members: Vec<Member>,
    /// Source file.
    pub file: PathBuf,
    /// 1-based line of the item in `file`.
    pub line: usize,
    /// For a re-export: the path it names (`self::kebab::ToKebabCase`).
    pub target: Option<String>,
    /// For an impl block: the implemented trait's last path segment.
    pub impl_trait: Option<String>,
    /// For an impl block: the implementing type's name (last segment).
    pub impl_self: Option<String>,
    /// For a re-export inlined from a private module: the original path.
    pub inlined_from: Option<String>,
    /// For a re-export: marked `#[doc(inline)]`.
    pub doc_inline: bool,
}

impl DocItem {
    /// `crate::a::b::Name` (for items at their module path).
    pub fn path(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }
}

/// A problem with one file or declaration; the run continues without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file concerned.
    pub file: PathBuf,
    /// 1-based line (0 when not tied to a line).
    pub line: usize,
    /// 1-based column (0 when not tied to a column).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A module and what it holds.
#[derive(Debug, Clone)]
pub struct ModuleDoc {
    /// `crate::a::b`.
    pub path: String,
    /// File the module's items are in.
    pub file: PathBuf,
    /// Declared visibility.
    pub vis: Vis,
    /// Reachable by users of the crate.
    pub public: bool,
    /// `#[doc(hidden)]`.
    pub hidden: bool,
    /// Module docs (`//!` and `///` on the declaration).
    pub docs: Option<String>,
    /// Deprecation note.
    pub deprecated: Option<String>,
    /// Items declared in it (submodules included, as `Module` items).
    pub items: Vec<DocItem>,
    /// Crate-internal modules this module imports with `use crate::...`.
    pub uses: Vec<String>,
}

/// The analysis of one crate.
#[derive(Debug, Clone)]
pub struct CrateDocs {
    /// Crate name (`-` replaced by `_`).
    pub name: String,
    /// The crate root file.
    pub root_file: PathBuf,
    /// Modules, crate root first, in declaration order.
    pub modules: Vec<ModuleDoc>,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Problems met (unparsable files, missing module files, cycles).
    pub problems: Vec<Problem>,
}

impl CrateDocs {
    /// Every item, module by module.
    pub fn items(&self) -> impl Iterator<Item = &DocItem> {
        self.modules.iter().flat_map(|m| m.items.iter())
    }

    /// The module with this path.
    pub fn module(&self, path: &str) -> Option<&ModuleDoc> {
        self.modules.iter().find(|m| m.path == path)
    }
}
