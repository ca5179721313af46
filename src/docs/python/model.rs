//! What the Python analysis finds: modules with their items (classes,
//! functions, methods, properties, attributes), signatures as written and
//! docstrings. Plain data, no syntax tree.

use std::path::PathBuf;

use crate::docs::model::Problem;

/// The kind of a Python item, as `item_counts` and `items` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PyKind {
    /// A package (`__init__.py`, or a namespace package) or a module file.
    Module,
    /// `class`.
    Class,
    /// A module-level `def`.
    Function,
    /// A `def` in a class body (static and class methods too).
    Method,
    /// A `@property` (or `functools.cached_property`) getter.
    Property,
    /// A module or class attribute (assigned or annotated), a dataclass or
    /// NamedTuple field, `self.x` assigned in `__init__`, a `type` alias.
    Attribute,
}

impl PyKind {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            PyKind::Module => "module",
            PyKind::Class => "class",
            PyKind::Function => "function",
            PyKind::Method => "method",
            PyKind::Property => "property",
            PyKind::Attribute => "attribute",
        }
    }

    /// Plural heading used in the Markdown pages.
    pub fn heading(self) -> &'static str {
        match self {
            PyKind::Module => "Modules",
            PyKind::Class => "Classes",
            PyKind::Function => "Functions",
            PyKind::Method => "Methods",
            PyKind::Property => "Properties",
            PyKind::Attribute => "Attributes",
        }
    }
}

/// Where a parameter stands in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Before `/`.
    PositionalOnly,
    /// Positional or keyword.
    Normal,
    /// `*args`.
    VarPositional,
    /// After `*` or `*args`.
    KeywordOnly,
    /// `**kwargs`.
    VarKeyword,
}

/// One parameter, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name without stars.
    pub name: String,
    /// Its place in the signature.
    pub kind: ParamKind,
    /// Annotation as written.
    pub annotation: Option<String>,
    /// Default as written.
    pub default: Option<String>,
}

impl Param {
    /// `*args`, `**kwargs` or the plain name.
    pub fn shown_name(&self) -> String {
        match self.kind {
            ParamKind::VarPositional => format!("*{}", self.name),
            ParamKind::VarKeyword => format!("**{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// One item found in a module.
#[derive(Debug, Clone)]
pub struct PyItem {
    /// Kind.
    pub kind: PyKind,
    /// Name.
    pub name: String,
    /// Dotted path from the package (`pkg.mod.Class.method`).
    pub path: String,
    /// Part of the public API (see [`super::extract`] for the rule).
    pub public: bool,
    /// The declaration as written, on one line (`async def f(a: int = 1) -> str`,
    /// `class C(Base)`, `x: int = 1`).
    pub signature: String,
    /// Parameters (functions, methods, properties).
    pub params: Vec<Param>,
    /// Return annotation, or an attribute's annotation.
    pub returns: Option<String>,
    /// Decorators as written, without `@`.
    pub decorators: Vec<String>,
    /// Base classes (and class keywords such as `metaclass=M`) as written.
    pub bases: Vec<String>,
    /// The docstring, cleaned like `inspect.cleandoc`.
    pub docstring: Option<String>,
    /// 1-based line of the name.
    pub line: usize,
    /// Members of a class, in source order.
    pub members: Vec<PyItem>,
}

/// A module (a `.py` file, a package's `__init__.py`, or a namespace
/// package directory) and what it holds.
#[derive(Debug, Clone)]
pub struct PyModule {
    /// Dotted path (`pkg.sub.mod`).
    pub path: String,
    /// The file read (the directory for a namespace package).
    pub file: PathBuf,
    /// A package (regular or namespace).
    pub package: bool,
    /// A namespace package: a directory without `__init__.py`.
    pub namespace: bool,
    /// Part of the public API: no part of its path starts with `_`.
    pub public: bool,
    /// The module docstring.
    pub docstring: Option<String>,
    /// Top-level items, in source order.
    pub items: Vec<PyItem>,
    /// Modules it imports, dotted and absolute (relative imports resolved;
    /// `from a import b` gives `a.b`, which may name a module or a member).
    pub imports: Vec<String>,
    /// `__all__`, when the module defines it as a literal list or tuple.
    pub all: Option<Vec<String>>,
}

/// A project's (or one package's) Python modules.
#[derive(Debug, Clone, Default)]
pub struct PyProject {
    /// The project or package name.
    pub name: String,
    /// The directory or file documented.
    pub root: PathBuf,
    /// Modules, packages before their submodules, sorted by path.
    pub modules: Vec<PyModule>,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Problems met (syntax errors, unreadable files, loops).
    pub problems: Vec<Problem>,
}

impl PyProject {
    /// Every item of every module, members after their class, in order.
    pub fn items(&self) -> Vec<&PyItem> {
        fn push<'a>(out: &mut Vec<&'a PyItem>, items: &'a [PyItem]) {
            for i in items {
                out.push(i);
                push(out, &i.members);
            }
        }
        let mut out = Vec::new();
        for m in &self.modules {
            push(&mut out, &m.items);
        }
        out
    }

    /// The module with this dotted path.
    pub fn module(&self, path: &str) -> Option<&PyModule> {
        self.modules.iter().find(|m| m.path == path)
    }
}
