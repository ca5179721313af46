//! One Python file's items, read from Ruff's syntax tree.
//!
//! What counts, chosen to agree with griffe (the static loader behind
//! mkdocstrings) so the two list the same API: `def`, `class` and
//! assignments at module or class level, including those inside `if`,
//! `try`, `for`, `while`, `with` and `match` blocks (a later definition of a
//! name replaces the earlier one in its place, except that an assignment in
//! an `if` or `except` branch does not replace a name already bound: the
//! no-exception case wins); nested functions do not count; an assignment
//! whose target is a tuple or a subscript binds no item; an import binds a
//! name but is not an item; `self.x` assigned in `__init__` is an attribute
//! of the class; a string right after an assignment is that attribute's
//! docstring; `@overload` signatures belong to the implementation;
//! `@x.setter`/`@x.deleter` belong to the property `x`; a `@dataclass`
//! without its own `__init__` gets the generated one.
//!
//! Public: a module-level name is public when it is in the module's
//! `__all__` (a literal list or tuple, `+=`, `.extend`, `.append`), or,
//! without `__all__`, when it does not start with `_`; a class member when
//! it does not start with `_` or is a dunder; and only inside a public
//! module and class.

use ruff_python_ast::{
    self as ast, Expr, Parameters, PySourceType, Stmt, StmtClassDef, StmtFunctionDef,
};
use ruff_text_size::{Ranged, TextRange};
use std::cell::RefCell;
use std::collections::HashMap;

use super::model::{Param, ParamKind, PyItem, PyKind};

/// What one module file holds.
#[derive(Debug, Default)]
pub struct Extracted {
    /// The module docstring.
    pub docstring: Option<String>,
    /// Top-level items.
    pub items: Vec<PyItem>,
    /// Imported modules, dotted and absolute.
    pub imports: Vec<String>,
    /// `__all__`, when literal.
    pub all: Option<Vec<String>>,
    /// Top-level names bound by imports (and not rebound since), with the
    /// dotted path each names (`from .a import b as c`: `c` -> `pkg.a.b`).
    pub imported: HashMap<String, String>,
}

/// A syntax error: 1-based line and column, and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What the parser expected.
    pub message: String,
}

/// Longest attribute value shown in a signature, in characters.
const MAX_VALUE_CHARS: usize = 120;

/// Parses `source` (module `module`; `package` when it is an
/// `__init__.py`) and lists its items. A file with a syntax error gives
/// the first error and no items: a recovered tree would document guesses.
pub fn extract(
    source: &str,
    module: &str,
    package: bool,
    module_public: bool,
) -> Result<Extracted, SyntaxProblem> {
    let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
    let lines = LineIndex::new(source);
    if let Some(e) = parsed.errors().first() {
        let (line, column) = lines.line_col(source, e.location.start().to_usize());
        return Err(SyntaxProblem {
            line,
            column,
            message: e.error.to_string(),
        });
    }
    let body = &parsed.syntax().body;
    let cx = Cx {
        src: source,
        lines: &lines,
        base: base_package(module, package),
        aliases: RefCell::new(HashMap::new()),
    };
    let mut out = Extracted {
        docstring: docstring_of(body),
        ..Extracted::default()
    };
    let mut scope = Scope::default();
    cx.visit(body, module, false, false, &mut scope, &mut out);
    out.imported = std::mem::take(&mut scope.imported);
    out.items = scope.finish();
    out.imports = scope_imports(body, module, package);
    set_publics(&mut out, module_public);
    Ok(out)
}

/// Marks each item public or not (see the module docs).
pub fn set_publics(out: &mut Extracted, module_public: bool) {
    for item in &mut out.items {
        let public = module_public
            && match &out.all {
                Some(all) => all.contains(&item.name),
                None => !item.name.starts_with('_'),
            };
        set_public(item, public);
    }
}

/// Marks `item` (public or not) and its members by the member rule.
pub fn mark_public(item: &mut PyItem, public: bool) {
    set_public(item, public)
}

fn set_public(item: &mut PyItem, public: bool) {
    item.public = public;
    for m in &mut item.members {
        let own = !m.name.starts_with('_') || is_dunder(&m.name);
        set_public(m, public && own);
    }
}

fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// The items of one body (module or class) as they are defined.
#[derive(Default)]
struct Scope {
    items: Vec<PyItem>,
    /// Names bound by imports (not items, but they count as bound).
    imported: HashMap<String, String>,
}

impl Scope {
    /// Adds `item`, replacing an earlier one of the same name in its place.
    fn define(&mut self, item: PyItem) {
        self.imported.remove(&item.name);
        match self.items.iter_mut().find(|i| i.name == item.name) {
            Some(old) => *old = item,
            None => self.items.push(item),
        }
    }

    /// Binds an attribute. In a conditional branch (`if`, `except`) a name
    /// bound already stays as it is; otherwise the attribute replaces it,
    /// keeping the earlier docstring (and an earlier attribute's annotation)
    /// when it has none.
    fn assign(&mut self, item: PyItem, conditional: bool) {
        if conditional && self.bound(&item.name) {
            return;
        }
        self.imported.remove(&item.name);
        match self.items.iter_mut().find(|i| i.name == item.name) {
            Some(old) => {
                // griffe forwards the docstring of whatever was bound, the
                // annotation of an attribute.
                let returns = if old.kind == PyKind::Attribute {
                    old.returns.take()
                } else {
                    None
                };
                let docstring = old.docstring.take();
                let docstring = item.docstring.clone().or(docstring);
                let returns = item.returns.clone().or(returns);
                *old = PyItem {
                    docstring,
                    returns,
                    ..item
                };
            }
            None => self.items.push(item),
        }
    }

    /// An import binds `name`: an item of that name goes.
    fn import(&mut self, name: &str, target: String) {
        self.items.retain(|i| i.name != name);
        self.imported.insert(name.to_string(), target);
    }

    fn bound(&self, name: &str) -> bool {
        self.has(name) || self.imported.contains_key(name)
    }

    fn has(&self, name: &str) -> bool {
        self.items.iter().any(|i| i.name == name)
    }

    fn finish(self) -> Vec<PyItem> {
        self.items
    }
}

struct Cx<'a> {
    src: &'a str,
    lines: &'a LineIndex,
    /// The package relative imports start from.
    base: String,
    /// Module-level import bindings seen so far (name -> dotted target),
    /// to resolve decorators such as `_dataclasses.dataclass`.
    aliases: RefCell<HashMap<String, String>>,
}

impl Cx<'_> {
    /// Source text of a node on one line (runs of whitespace with a line
    /// break become one space).
    fn text(&self, range: TextRange) -> String {
        one_line(&self.src[range.start().to_usize()..range.end().to_usize()])
    }

    fn line(&self, range: TextRange) -> usize {
        self.lines.line_col(self.src, range.start().to_usize()).0
    }

    /// Visits the statements of a body; `conditional` when they are an
    /// `if` branch or an `except` handler.
    fn visit(
        &self,
        body: &[Stmt],
        parent: &str,
        in_class: bool,
        conditional: bool,
        scope: &mut Scope,
        out: &mut Extracted,
    ) {
        for (i, stmt) in body.iter().enumerate() {
            let next_doc = || body.get(i + 1).and_then(string_of);
            match stmt {
                Stmt::FunctionDef(f) => {
                    self.function(f, parent, in_class, scope);
                    // `self.x` assigned in `__init__` (overloads included),
                    // bound where `__init__` stands, as griffe does.
                    if in_class && f.name.id.as_str() == "__init__" {
                        self.instance_attributes(&f.body, parent, false, scope);
                    }
                }
                Stmt::ClassDef(c) => scope.define(self.class(c, parent)),
                Stmt::Assign(a) => {
                    if !in_class {
                        literal_all(a.targets.iter(), &a.value, false, &mut out.all);
                    }
                    // griffe's rule: plain names only; one tuple or
                    // subscript target and the statement binds no item.
                    let Some(names) = assigned_names(&a.targets) else {
                        continue;
                    };
                    for (name, at) in names {
                        scope.assign(
                            self.attribute(name, parent, None, Some(&a.value), at, next_doc()),
                            conditional,
                        );
                    }
                }
                Stmt::AnnAssign(a) => {
                    if let Expr::Name(n) = a.target.as_ref() {
                        if !in_class && let Some(v) = &a.value {
                            literal_all(std::iter::once(a.target.as_ref()), v, false, &mut out.all);
                        }
                        scope.assign(
                            self.attribute(
                                n.id.as_str(),
                                parent,
                                Some(&a.annotation),
                                a.value.as_deref(),
                                a.target.range(),
                                next_doc(),
                            ),
                            conditional,
                        );
                    }
                }
                Stmt::AugAssign(a) if !in_class => {
                    literal_all(
                        std::iter::once(a.target.as_ref()),
                        &a.value,
                        true,
                        &mut out.all,
                    );
                }
                Stmt::Expr(e) if !in_class => all_call(&e.value, &mut out.all),
                Stmt::TypeAlias(t) => {
                    if let Expr::Name(n) = t.name.as_ref() {
                        let mut item = self.attribute(
                            n.id.as_str(),
                            parent,
                            None,
                            None,
                            t.name.range(),
                            next_doc(),
                        );
                        item.signature = self.text(t.range);
                        scope.define(item);
                    }
                }
                Stmt::Import(imp) => {
                    for a in &imp.names {
                        let full = a.name.id.as_str();
                        let (name, target) = match &a.asname {
                            Some(n) => (n.id.as_str(), full.to_string()),
                            None => {
                                let first = full.split('.').next().unwrap_or("");
                                (first, first.to_string())
                            }
                        };
                        self.bind(in_class, name, &target);
                        scope.import(name, target);
                    }
                }
                Stmt::ImportFrom(imp) => {
                    let from = resolve_from(
                        &self.base,
                        imp.level,
                        imp.module.as_ref().map(|m| m.id.as_str()),
                    );
                    for a in &imp.names {
                        let name = a.asname.as_ref().unwrap_or(&a.name).id.as_str();
                        if name != "*" {
                            let target = format!("{from}.{}", a.name.id.as_str());
                            self.bind(in_class, name, &target);
                            scope.import(name, target);
                        }
                    }
                }
                Stmt::If(s) => {
                    self.visit(&s.body, parent, in_class, true, scope, out);
                    for clause in &s.elif_else_clauses {
                        self.visit(&clause.body, parent, in_class, true, scope, out);
                    }
                }
                Stmt::Try(t) => {
                    self.visit(&t.body, parent, in_class, false, scope, out);
                    for ast::ExceptHandler::ExceptHandler(h) in &t.handlers {
                        self.visit(&h.body, parent, in_class, true, scope, out);
                    }
                    self.visit(&t.orelse, parent, in_class, false, scope, out);
                    self.visit(&t.finalbody, parent, in_class, false, scope, out);
                }
                Stmt::For(f) => {
                    self.visit(&f.body, parent, in_class, false, scope, out);
                    self.visit(&f.orelse, parent, in_class, false, scope, out);
                }
                Stmt::While(w) => {
                    self.visit(&w.body, parent, in_class, false, scope, out);
                    self.visit(&w.orelse, parent, in_class, false, scope, out);
                }
                Stmt::With(w) => self.visit(&w.body, parent, in_class, false, scope, out),
                Stmt::Match(m) => {
                    for case in &m.cases {
                        self.visit(&case.body, parent, in_class, false, scope, out);
                    }
                }
                _ => {}
            }
        }
    }

    /// Records a module-level import binding.
    fn bind(&self, in_class: bool, name: &str, target: &str) {
        if !in_class {
            self.aliases
                .borrow_mut()
                .insert(name.to_string(), target.to_string());
        }
    }

    /// `head` (a decorator or annotation's dotted name) with its first part
    /// resolved through the module's imports.
    fn canonical(&self, head: &str) -> String {
        let (first, rest) = match head.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (head, None),
        };
        let first = self
            .aliases
            .borrow()
            .get(first)
            .cloned()
            .unwrap_or_else(|| first.to_string());
        match rest {
            Some(r) => format!("{first}.{r}"),
            None => first,
        }
    }

    fn function(&self, f: &StmtFunctionDef, parent: &str, in_class: bool, scope: &mut Scope) {
        let decorators: Vec<String> = f
            .decorator_list
            .iter()
            .map(|d| self.text(d.expression.range()))
            .collect();
        let name = f.name.id.as_str();
        // `@x.setter` and `@x.deleter` complete the property `x`.
        if decorators.iter().any(|d| {
            d.strip_prefix(name)
                .is_some_and(|rest| rest == ".setter" || rest == ".deleter")
        }) && scope
            .items
            .iter()
            .any(|i| i.name == name && i.kind == PyKind::Property)
        {
            return;
        }
        // Decorators by what they name, through the module's imports (a
        // project's own `cached_property` is a method, as griffe has it).
        let named: Vec<String> = decorators
            .iter()
            .map(|d| self.canonical(d.split('(').next().unwrap_or("").trim()))
            .collect();
        let property = named.iter().any(|d| {
            matches!(
                d.as_str(),
                "property" | "functools.cached_property" | "cached_property.cached_property"
            )
        });
        let kind = if property {
            PyKind::Property
        } else if in_class {
            PyKind::Method
        } else {
            PyKind::Function
        };
        let params = self.params(&f.parameters);
        let returns = f.returns.as_ref().map(|r| self.text(r.range()));
        let signature = format!(
            "{}def {name}{}({}){}",
            if f.is_async { "async " } else { "" },
            f.type_params
                .as_ref()
                .map(|t| self.text(t.range()))
                .unwrap_or_default(),
            render_params(&params),
            returns
                .as_ref()
                .map(|r| format!(" -> {r}"))
                .unwrap_or_default()
        );
        let item = PyItem {
            kind,
            name: name.to_string(),
            path: format!("{parent}.{name}"),
            public: false,
            signature,
            params,
            returns,
            decorators: decorators.clone(),
            bases: Vec::new(),
            docstring: docstring_of(&f.body),
            line: self.line(f.name.range),
            members: Vec::new(),
        };
        // An overload is part of the implementation that follows, not an item.
        if named
            .iter()
            .any(|d| d == "typing.overload" || d == "typing_extensions.overload")
        {
            return;
        }
        scope.define(item);
    }

    fn class(&self, c: &StmtClassDef, parent: &str) -> PyItem {
        let name = c.name.id.as_str();
        let path = format!("{parent}.{name}");
        let mut bases = Vec::new();
        if let Some(args) = &c.arguments {
            for a in args.args.iter() {
                bases.push(self.text(a.range()));
            }
            for k in args.keywords.iter() {
                bases.push(self.text(k.range()));
            }
        }
        let mut scope = Scope::default();
        let mut ignored = Extracted::default();
        self.visit(&c.body, &path, true, false, &mut scope, &mut ignored);
        let decorators: Vec<String> = c
            .decorator_list
            .iter()
            .map(|d| self.text(d.expression.range()))
            .collect();
        if !scope.has("__init__") {
            if let Some(init) = dataclass_init(&decorators, &c.body, self, &path) {
                scope.define(init);
            }
            // `InitVar` fields are `__init__` parameters, not members.
            scope.items.retain(|m| {
                m.kind != PyKind::Attribute
                    || !m.returns.as_deref().is_some_and(|a| {
                        self.canonical(a.split('[').next().unwrap_or("").trim())
                            == "dataclasses.InitVar"
                    })
            });
        }
        PyItem {
            kind: PyKind::Class,
            name: name.to_string(),
            path,
            public: false,
            signature: format!(
                "class {name}{}{}",
                c.type_params
                    .as_ref()
                    .map(|t| self.text(t.range()))
                    .unwrap_or_default(),
                c.arguments
                    .as_ref()
                    .filter(|a| !a.args.is_empty() || !a.keywords.is_empty())
                    .map(|a| self.text(a.range()))
                    .unwrap_or_default()
            ),
            params: Vec::new(),
            returns: None,
            decorators,
            bases,
            docstring: docstring_of(&c.body),
            line: self.line(c.name.range),
            members: scope.finish(),
        }
    }

    /// `self.x = ...` and `self.x: T = ...` anywhere in `__init__`'s body
    /// (nested functions and classes aside; `self` by that name, as griffe
    /// reads it).
    fn instance_attributes(
        &self,
        body: &[Stmt],
        class: &str,
        conditional: bool,
        scope: &mut Scope,
    ) {
        for (i, stmt) in body.iter().enumerate() {
            let next_doc = || body.get(i + 1).and_then(string_of);
            let mut found =
                |name: &str, at: TextRange, annotation: Option<&Expr>, value: Option<&Expr>| {
                    scope.assign(
                        self.attribute(name, class, annotation, value, at, next_doc()),
                        conditional,
                    );
                };
            match stmt {
                Stmt::Assign(a) => {
                    let Some(names) = self_names(&a.targets) else {
                        continue;
                    };
                    for (name, at) in names {
                        found(name, at, None, Some(&a.value));
                    }
                }
                Stmt::AnnAssign(a) => {
                    if let Some(names) = self_names(std::slice::from_ref(a.target.as_ref())) {
                        for (name, at) in names {
                            found(name, at, Some(&a.annotation), a.value.as_deref());
                        }
                    }
                }
                Stmt::If(s) => {
                    self.instance_attributes(&s.body, class, true, scope);
                    for c in &s.elif_else_clauses {
                        self.instance_attributes(&c.body, class, true, scope);
                    }
                }
                Stmt::Try(t) => {
                    self.instance_attributes(&t.body, class, false, scope);
                    for ast::ExceptHandler::ExceptHandler(h) in &t.handlers {
                        self.instance_attributes(&h.body, class, true, scope);
                    }
                    self.instance_attributes(&t.orelse, class, false, scope);
                    self.instance_attributes(&t.finalbody, class, false, scope);
                }
                Stmt::With(w) => self.instance_attributes(&w.body, class, false, scope),
                Stmt::For(f) => {
                    self.instance_attributes(&f.body, class, false, scope);
                    self.instance_attributes(&f.orelse, class, false, scope);
                }
                Stmt::While(w) => {
                    self.instance_attributes(&w.body, class, false, scope);
                    self.instance_attributes(&w.orelse, class, false, scope);
                }
                Stmt::Match(m) => {
                    for case in &m.cases {
                        self.instance_attributes(&case.body, class, false, scope);
                    }
                }
                _ => {}
            }
        }
    }

    fn attribute(
        &self,
        name: &str,
        parent: &str,
        annotation: Option<&Expr>,
        value: Option<&Expr>,
        at: TextRange,
        docstring: Option<String>,
    ) -> PyItem {
        let annotation = annotation.map(|a| self.text(a.range()));
        let value = value.map(|v| cut(&self.text(v.range()), MAX_VALUE_CHARS));
        let mut signature = name.to_string();
        if let Some(a) = &annotation {
            signature.push_str(&format!(": {a}"));
        }
        if let Some(v) = &value {
            signature.push_str(&format!(" = {v}"));
        }
        PyItem {
            kind: PyKind::Attribute,
            name: name.to_string(),
            path: format!("{parent}.{name}"),
            public: false,
            signature,
            params: Vec::new(),
            returns: annotation,
            decorators: Vec::new(),
            bases: Vec::new(),
            docstring,
            line: self.line(at),
            members: Vec::new(),
        }
    }

    fn params(&self, p: &Parameters) -> Vec<Param> {
        let mut out = Vec::new();
        let one = |pw: &ast::ParameterWithDefault, kind| Param {
            name: pw.parameter.name.id.as_str().to_string(),
            kind,
            annotation: pw
                .parameter
                .annotation
                .as_ref()
                .map(|a| self.text(a.range())),
            default: pw.default.as_ref().map(|d| self.text(d.range())),
        };
        for pw in p.posonlyargs.iter() {
            out.push(one(pw, ParamKind::PositionalOnly));
        }
        for pw in p.args.iter() {
            out.push(one(pw, ParamKind::Normal));
        }
        if let Some(v) = &p.vararg {
            out.push(Param {
                name: v.name.id.as_str().to_string(),
                kind: ParamKind::VarPositional,
                annotation: v.annotation.as_ref().map(|a| self.text(a.range())),
                default: None,
            });
        }
        for pw in p.kwonlyargs.iter() {
            out.push(one(pw, ParamKind::KeywordOnly));
        }
        if let Some(k) = &p.kwarg {
            out.push(Param {
                name: k.name.id.as_str().to_string(),
                kind: ParamKind::VarKeyword,
                annotation: k.annotation.as_ref().map(|a| self.text(a.range())),
                default: None,
            });
        }
        out
    }
}

/// The parameter list as Python writes it, with `/` and `*` markers.
pub fn render_params(params: &[Param]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut saw_posonly = false;
    let mut saw_star = false;
    for p in params {
        if saw_posonly && p.kind != ParamKind::PositionalOnly {
            parts.push("/".into());
            saw_posonly = false;
        }
        match p.kind {
            ParamKind::PositionalOnly => saw_posonly = true,
            ParamKind::VarPositional => saw_star = true,
            ParamKind::KeywordOnly if !saw_star => {
                parts.push("*".into());
                saw_star = true;
            }
            _ => {}
        }
        let mut s = p.shown_name();
        match (&p.annotation, &p.default) {
            (Some(a), Some(d)) => s.push_str(&format!(": {a} = {d}")),
            (Some(a), None) => s.push_str(&format!(": {a}")),
            (None, Some(d)) => s.push_str(&format!("={d}")),
            (None, None) => {}
        }
        parts.push(s);
    }
    if saw_posonly {
        parts.push("/".into());
    }
    parts.join(", ")
}

/// The plain names an assignment binds, griffe's way: every target must be
/// a name or an attribute (`x.y` binds no item here); a tuple, list,
/// starred or subscript target makes the statement bind none (`None`).
fn assigned_names(targets: &[Expr]) -> Option<Vec<(&str, TextRange)>> {
    let mut out = Vec::new();
    for t in targets {
        match t {
            Expr::Name(n) => out.push((n.id.as_str(), n.range)),
            Expr::Attribute(a) if dotted(&a.value) => {}
            _ => return None,
        }
    }
    Some(out)
}

/// `self.x` targets (only `self` by that name); `None` as above.
fn self_names(targets: &[Expr]) -> Option<Vec<(&str, TextRange)>> {
    let mut out = Vec::new();
    for t in targets {
        match t {
            Expr::Name(_) => {}
            Expr::Attribute(a) if dotted(&a.value) => {
                if matches!(a.value.as_ref(), Expr::Name(n) if n.id.as_str() == "self") {
                    out.push((a.attr.id.as_str(), a.range));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A name or a chain of attributes on a name (`a.b.c`).
fn dotted(e: &Expr) -> bool {
    match e {
        Expr::Name(_) => true,
        Expr::Attribute(a) => dotted(&a.value),
        _ => false,
    }
}

/// The `__init__` a `@dataclass` generates (griffe's rule): its annotated
/// fields in order (`ClassVar` fields, `field(init=False)` and all of them
/// with `init=False` aside), keyword-only after `KW_ONLY` or `kw_only=True`.
fn dataclass_init(
    decorators: &[String],
    body: &[Stmt],
    cx: &Cx<'_>,
    class: &str,
) -> Option<PyItem> {
    let dataclass = decorators.iter().find(|d| {
        let head = d.split('(').next().unwrap_or("").trim();
        cx.canonical(head) == "dataclasses.dataclass"
    })?;
    let args = dataclass.replace(' ', "");
    let mut params = vec![Param {
        name: "self".into(),
        kind: ParamKind::Normal,
        annotation: None,
        default: None,
    }];
    let mut kw_only = args.contains("kw_only=True");
    for stmt in body.iter().filter(|_| !args.contains("init=False")) {
        let Stmt::AnnAssign(a) = stmt else { continue };
        let Expr::Name(n) = a.target.as_ref() else {
            continue;
        };
        let annotation = cx.text(a.annotation.range());
        let head = cx.canonical(annotation.split('[').next().unwrap_or("").trim());
        if head == "typing.ClassVar" || head == "ClassVar" {
            continue;
        }
        if head == "dataclasses.KW_ONLY" {
            kw_only = true;
            continue;
        }
        let default = a.value.as_ref().map(|v| cx.text(v.range()));
        let field = default.as_deref().map(|d| d.replace(' ', ""));
        if field.as_deref().is_some_and(|d| d.contains("init=False")) {
            continue;
        }
        params.push(Param {
            name: n.id.as_str().to_string(),
            kind: if kw_only || field.as_deref().is_some_and(|d| d.contains("kw_only=True")) {
                ParamKind::KeywordOnly
            } else {
                ParamKind::Normal
            },
            annotation: Some(annotation),
            default,
        });
    }
    // Keyword-only parameters go last.
    params.sort_by_key(|p| p.kind == ParamKind::KeywordOnly);
    Some(PyItem {
        kind: PyKind::Method,
        name: "__init__".into(),
        path: format!("{class}.__init__"),
        public: false,
        signature: format!("def __init__({}) -> None", render_params(&params)),
        params,
        returns: Some("None".into()),
        decorators: Vec::new(),
        bases: Vec::new(),
        docstring: None,
        line: 0,
        members: Vec::new(),
    })
}

/// The package a module's relative imports start from.
fn base_package(module: &str, package: bool) -> String {
    if package {
        module.to_string()
    } else {
        module
            .rsplit_once('.')
            .map(|(p, _)| p)
            .unwrap_or("")
            .to_string()
    }
}

/// The absolute module of `from <dots><module> import ...`.
fn resolve_from(base: &str, level: u32, module: Option<&str>) -> String {
    let mut from = if level == 0 {
        String::new()
    } else {
        let mut b = base.to_string();
        for _ in 1..level {
            b = b.rsplit_once('.').map(|(p, _)| p).unwrap_or("").to_string();
        }
        b
    };
    if let Some(m) = module {
        if !from.is_empty() {
            from.push('.');
        }
        from.push_str(m);
    }
    from
}

/// `__all__ = [...]` / `(...)` (or `+=` when `extend`).
fn literal_all<'a>(
    mut targets: impl Iterator<Item = &'a Expr>,
    value: &Expr,
    extend: bool,
    all: &mut Option<Vec<String>>,
) {
    if !targets.any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__all__")) {
        return;
    }
    let Some(names) = string_list(value) else {
        return;
    };
    match (extend, all.as_mut()) {
        (true, Some(list)) => list.extend(names),
        _ => *all = Some(names),
    }
}

/// `__all__.extend([...])`, `__all__.append("x")`.
fn all_call(e: &Expr, all: &mut Option<Vec<String>>) {
    let Expr::Call(call) = e else { return };
    let Expr::Attribute(attr) = call.func.as_ref() else {
        return;
    };
    if !matches!(attr.value.as_ref(), Expr::Name(n) if n.id.as_str() == "__all__") {
        return;
    }
    let Some(list) = all.as_mut() else { return };
    let Some(arg) = call.arguments.args.first() else {
        return;
    };
    match attr.attr.id.as_str() {
        "extend" => {
            if let Some(names) = string_list(arg) {
                list.extend(names);
            }
        }
        "append" => {
            if let Expr::StringLiteral(s) = arg {
                list.push(s.value.to_str().to_string());
            }
        }
        _ => {}
    }
}

fn string_list(value: &Expr) -> Option<Vec<String>> {
    let elts = match value {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        _ => return None,
    };
    elts.iter()
        .map(|e| match e {
            Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
            _ => None,
        })
        .collect()
}

/// The string of a statement that is only a string literal.
fn string_of(stmt: &Stmt) -> Option<String> {
    match stmt {
        Stmt::Expr(e) => match e.value.as_ref() {
            Expr::StringLiteral(s) => Some(cleandoc(s.value.to_str())),
            _ => None,
        },
        _ => None,
    }
}

/// The docstring of a body: its first statement when that is a string.
fn docstring_of(body: &[Stmt]) -> Option<String> {
    body.first().and_then(string_of).filter(|d| !d.is_empty())
}

/// Imports of a module body (at any depth of `if`/`try`/functions),
/// resolved to absolute dotted names.
fn scope_imports(body: &[Stmt], module: &str, package: bool) -> Vec<String> {
    fn walk(body: &[Stmt], base: &str, out: &mut Vec<String>) {
        for stmt in body {
            match stmt {
                Stmt::Import(i) => {
                    for a in &i.names {
                        out.push(a.name.id.as_str().to_string());
                    }
                }
                Stmt::ImportFrom(i) => {
                    let from =
                        resolve_from(base, i.level, i.module.as_ref().map(|m| m.id.as_str()));
                    if from.is_empty() {
                        continue;
                    }
                    for a in &i.names {
                        if a.name.id.as_str() == "*" {
                            out.push(from.clone());
                        } else {
                            out.push(format!("{from}.{}", a.name.id.as_str()));
                        }
                    }
                }
                Stmt::If(s) => {
                    walk(&s.body, base, out);
                    for c in &s.elif_else_clauses {
                        walk(&c.body, base, out);
                    }
                }
                Stmt::Try(t) => {
                    walk(&t.body, base, out);
                    for ast::ExceptHandler::ExceptHandler(h) in &t.handlers {
                        walk(&h.body, base, out);
                    }
                    walk(&t.orelse, base, out);
                    walk(&t.finalbody, base, out);
                }
                Stmt::FunctionDef(f) => walk(&f.body, base, out),
                Stmt::ClassDef(c) => walk(&c.body, base, out),
                Stmt::With(w) => walk(&w.body, base, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(body, &base_package(module, package), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Python's `inspect.cleandoc`: tabs expanded, the first line's leading
/// blanks and the common indentation of the others removed, blank lines at
/// both ends dropped.
pub fn cleandoc(doc: &str) -> String {
    let expanded = doc.replace('\t', "        ");
    let lines: Vec<&str> = expanded.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            out.push(l.trim_start().to_string());
        } else {
            out.push(l.get(indent..).unwrap_or("").trim_end().to_string());
        }
    }
    while out.first().is_some_and(|l| l.trim().is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

fn one_line(text: &str) -> String {
    if !text.contains('\n') {
        return text.trim().to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if i > 0
            && !out.is_empty()
            && !out.ends_with(['(', '[', '{'])
            && !t.starts_with([')', ']', '}'])
        {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Byte offsets of line starts, for 1-based line and column numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `source`.
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = source
            .get(start..offset.min(source.len()))
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(src: &str) -> Extracted {
        extract(src, "pkg.mod", false, true).unwrap()
    }

    fn paths(e: &Extracted) -> Vec<(String, &'static str, bool)> {
        let mut out = Vec::new();
        fn push(out: &mut Vec<(String, &'static str, bool)>, items: &[PyItem]) {
            for i in items {
                out.push((i.path.clone(), i.kind.name(), i.public));
                push(out, &i.members);
            }
        }
        push(&mut out, &e.items);
        out
    }

    #[test]
    fn definitions_in_if_and_try_count_and_nested_functions_do_not() {
        let e = items(
            "try:\n    import fast\nexcept ImportError:\n    def fallback():\n        \"\"\"Slow path.\"\"\"\n\
             if True:\n    def f(): pass\nelse:\n    def f(a): pass\n\
             def outer():\n    def inner(): pass\n",
        );
        let p = paths(&e);
        assert_eq!(
            p.iter()
                .map(|(p, k, _)| format!("{k} {p}"))
                .collect::<Vec<_>>(),
            [
                "function pkg.mod.fallback",
                "function pkg.mod.f",
                "function pkg.mod.outer"
            ]
        );
        assert_eq!(e.items[1].signature, "def f(a)");
        assert_eq!(e.items[0].docstring.as_deref(), Some("Slow path."));
        assert_eq!(e.imports, ["fast"]);
    }

    #[test]
    fn classes_have_methods_properties_and_attributes_including_self_in_init() {
        let e = items(
            "class C(Base, metaclass=Meta):\n    \"\"\"Doc.\"\"\"\n    a: int\n    b = 3\n    \"\"\"About b.\"\"\"\n\
             \n    def __init__(self, z):\n        self.z = z\n        self._w: int = 1\n\
             \n    @property\n    def p(self) -> int:\n        \"\"\"P.\"\"\"\n\
             \n    @p.setter\n    def p(self, v): pass\n\
             \n    @staticmethod\n    def s(): pass\n\
             \n    class Inner:\n        def m(self): pass\n",
        );
        let c = &e.items[0];
        assert_eq!(c.signature, "class C(Base, metaclass=Meta)");
        assert_eq!(c.bases, ["Base", "metaclass=Meta"]);
        let p = paths(&e);
        let shown: Vec<String> = p
            .iter()
            .map(|(p, k, pub_)| format!("{k} {p} {pub_}"))
            .collect();
        assert_eq!(
            shown,
            [
                "class pkg.mod.C true",
                "attribute pkg.mod.C.a true",
                "attribute pkg.mod.C.b true",
                "method pkg.mod.C.__init__ true",
                // `self.x` binds where `__init__` stands, as griffe orders them.
                "attribute pkg.mod.C.z true",
                "attribute pkg.mod.C._w false",
                "property pkg.mod.C.p true",
                "method pkg.mod.C.s true",
                "class pkg.mod.C.Inner true",
                "method pkg.mod.C.Inner.m true",
            ]
        );
        assert_eq!(c.members[1].docstring.as_deref(), Some("About b."));
        assert_eq!(c.members[5].signature, "def p(self) -> int");
    }

    #[test]
    fn all_decides_what_is_public_with_plus_equals_and_extend() {
        let e = items(
            "__all__ = ['A', 'f']\n__all__ += ('g',)\n__all__.extend(['h'])\n__all__.append('K')\n\
             class A: pass\nclass B: pass\ndef f(): pass\ndef g(): pass\ndef h(): pass\nK = 1\n_x = 2\n",
        );
        let public: Vec<String> = paths(&e)
            .into_iter()
            .filter(|(_, _, p)| *p)
            .map(|(p, _, _)| p)
            .collect();
        assert_eq!(
            public,
            [
                "pkg.mod.A",
                "pkg.mod.f",
                "pkg.mod.g",
                "pkg.mod.h",
                "pkg.mod.K"
            ]
        );
        assert_eq!(e.all.unwrap(), ["A", "f", "g", "h", "K"]);
    }

    #[test]
    fn signatures_keep_markers_annotations_defaults_and_async() {
        let e = items(
            "async def f(a: int, b=1, /, c: str = 'x', *args: int, d, e: float = 2.0, **kw) -> list[\n    int\n]: ...\n\
             def g(a, *, b): ...\ndef h[T](x: T) -> T: ...\nfrom typing import overload\n@overload\ndef o(x: int) -> int: ...\n@overload\ndef o(x: str) -> str: ...\ndef o(x): return x\n",
        );
        assert_eq!(
            e.items[0].signature,
            "async def f(a: int, b=1, /, c: str = 'x', *args: int, d, e: float = 2.0, **kw) -> list[int]"
        );
        assert_eq!(e.items[1].signature, "def g(a, *, b)");
        assert_eq!(e.items[2].signature, "def h[T](x: T) -> T");
        assert_eq!(e.items[3].signature, "def o(x)");
        assert_eq!(e.items.len(), 4);
    }

    #[test]
    fn match_walrus_fstrings_and_type_aliases_parse() {
        let e = items(
            "type Pair[T] = tuple[T, T]\n\
             def f(x):\n    match x:\n        case {'a': 1}: return f'{x!r:>{10}}'\n        case _: return (y := 2)\n",
        );
        assert_eq!(e.items[0].kind, PyKind::Attribute);
        assert_eq!(e.items[0].signature, "type Pair[T] = tuple[T, T]");
        assert_eq!(e.items[1].name, "f");
    }

    #[test]
    fn a_syntax_error_gives_its_line_and_column() {
        let err = extract("x = 1\ndef f(:\n    pass\n", "m", false, true).unwrap_err();
        assert_eq!((err.line, err.column), (2, 7));
    }

    #[test]
    fn relative_imports_resolve_from_the_package() {
        let e = extract(
            "from . import a\nfrom .b import c\nfrom ..d import e\nimport os.path\n",
            "pkg.sub.mod",
            false,
            true,
        )
        .unwrap();
        assert_eq!(
            e.imports,
            ["os.path", "pkg.d.e", "pkg.sub.a", "pkg.sub.b.c"]
        );
        let p = extract("from . import a\n", "pkg.sub", true, true).unwrap();
        assert_eq!(p.imports, ["pkg.sub.a"]);
    }

    #[test]
    fn cleandoc_matches_python() {
        assert_eq!(
            cleandoc("  Sum.\n\n    Args:\n      a: x\n  "),
            "Sum.\n\nArgs:\n  a: x"
        );
    }
}
