//! Which Python files make up what `path` names, and their module names:
//! a package directory (with `__init__.py`), a project directory
//! (`pyproject.toml`, `setup.cfg` or `setup.py`; `src/` or flat layout,
//! several top-level packages), a plain directory of `.py` files, or one
//! `.py` file. A directory of modules without `__init__.py` is a namespace
//! package at the top of a `src/` layout or inside another namespace
//! package; inside a regular package it is not a module (griffe and
//! setuptools' `find_packages` agree). `.pyi` stubs beside modules are
//! merged into them.
//!
//! Every directory and file is opened beneath the workspace roots (see
//! [`crate::fsroot`]): a symlink leading out is reported, not followed, and
//! a directory met twice (a symlink loop) is reported once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::docs::DocsError;
use crate::docs::model::Problem;
use crate::fsroot::{EntryKind, FsError, Roots};

/// Deepest package nesting walked.
pub const MAX_DEPTH: usize = 64;

/// Most files one run reads.
pub const MAX_FILES: usize = 20_000;

/// Directories a project walk never enters.
const SKIPPED_DIRS: &[&str] = &[
    "__pycache__",
    "node_modules",
    "site-packages",
    "build",
    "dist",
    "venv",
    "env",
];

/// One module to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// Dotted module name.
    pub name: String,
    /// The `.py` file (`__init__.py` for a package), or the directory of a
    /// namespace package.
    pub path: PathBuf,
    /// A package (regular or namespace).
    pub package: bool,
    /// A namespace package: a directory, no file to read.
    pub namespace: bool,
    /// A `.pyi` stub beside the `.py` file, merged into it as griffe does.
    pub stub: Option<PathBuf>,
}

/// What `path` holds.
#[derive(Debug, Default)]
pub struct Layout {
    /// Project, package or file name.
    pub name: String,
    /// Modules, packages before their submodules.
    pub modules: Vec<ModuleFile>,
    /// Directories or files skipped, and why.
    pub problems: Vec<Problem>,
}

/// Whether `dir` looks like Python: a package, a project, `.py` files or
/// package directories.
pub fn is_python_dir(dir: &Path, roots: &Roots) -> bool {
    ["__init__.py", "pyproject.toml", "setup.cfg", "setup.py"]
        .iter()
        .any(|f| roots.is_file(&dir.join(f)))
        || roots
            .read_dir(dir)
            .map(|(_, entries)| {
                entries.iter().any(|(n, k)| match k {
                    EntryKind::File => n.ends_with(".py"),
                    EntryKind::Dir => roots.is_file(&dir.join(n).join("__init__.py")),
                    _ => false,
                })
            })
            .unwrap_or(false)
}

/// Finds the modules under `path` (an existing file or directory).
pub fn layout(path: &Path, shown: &str, roots: &Roots) -> Result<Layout, DocsError> {
    let mut walk = Walk {
        roots,
        seen: HashSet::new(),
        out: Layout::default(),
    };
    if roots.is_file(path) {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| path.extension().is_some_and(|e| e == "py" || e == "pyi"))
            .ok_or_else(|| DocsError::NotACrate {
                path: shown.to_string(),
                reason: "not a .py file or a directory of Python code".into(),
            })?;
        walk.out.name = stem.to_string();
        walk.out.modules.push(ModuleFile {
            name: stem.to_string(),
            path: path.to_path_buf(),
            package: false,
            namespace: false,
            stub: None,
        });
        return Ok(walk.out);
    }
    let dir_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("project")
        .to_string();
    let has = |f: &str| roots.is_file(&path.join(f));
    if has("__init__.py") {
        walk.out.name = dir_name.clone();
        walk.package(path, &dir_name, 0)?;
    } else if has("pyproject.toml") || has("setup.cfg") || has("setup.py") {
        walk.out.name = project_name(path, roots).unwrap_or(dir_name);
        let src = path.join("src");
        // In a `src/` layout everything under `src/` is importable, so a
        // directory of modules there is a namespace package.
        match roots.read_dir(&src) {
            Ok(_) => walk.top_level(&src, true, true)?,
            Err(_) => walk.top_level(path, true, false)?,
        }
    } else {
        walk.out.name = dir_name;
        walk.top_level(path, false, false)?;
    }
    if walk.out.modules.is_empty() {
        return Err(DocsError::NotACrate {
            path: shown.to_string(),
            reason: "no Python package or .py file found".into(),
        });
    }
    Ok(walk.out)
}

struct Walk<'a> {
    roots: &'a Roots,
    seen: HashSet<PathBuf>,
    out: Layout,
}

impl Walk<'_> {
    fn problem(&mut self, file: &Path, message: String) {
        self.out.problems.push(Problem {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message,
        });
    }

    /// Lists a directory once; `None` (and a problem) when it cannot be
    /// read or was seen before.
    fn entries(&mut self, dir: &Path) -> Option<Vec<(String, EntryKind)>> {
        match self.roots.read_dir(dir) {
            Ok((canonical, entries)) => {
                if !self.seen.insert(canonical.clone()) {
                    self.problem(
                        dir,
                        format!(
                            "{} was reached twice (a symlink loop?); walked once",
                            canonical.display()
                        ),
                    );
                    return None;
                }
                Some(entries)
            }
            Err(FsError::Outside { path, .. }) => {
                self.problem(
                    dir,
                    format!(
                        "leads to {}, outside the workspace roots; skipped",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                let (p, e) = e.into_io();
                self.problem(dir, format!("cannot read {}: {e}", p.display()));
                None
            }
        }
    }

    /// A directory with `__init__.py` (or only its stub).
    fn is_package(&self, dir: &Path) -> bool {
        self.roots.is_file(&dir.join("__init__.py"))
            || self.roots.is_file(&dir.join("__init__.pyi"))
    }

    fn push(&mut self, m: ModuleFile) -> Result<(), DocsError> {
        if self.out.modules.len() >= MAX_FILES {
            return Err(DocsError::NotACrate {
                path: m.path.display().to_string(),
                reason: format!("more than {MAX_FILES} modules; document a part"),
            });
        }
        self.out.modules.push(m);
        Ok(())
    }

    /// A project's (or plain directory's) top level: packages, namespace
    /// packages (in a project) and `.py` modules.
    fn top_level(&mut self, dir: &Path, project: bool, namespaces: bool) -> Result<(), DocsError> {
        let Some(entries) = self.entries(dir) else {
            return Ok(());
        };
        for (name, kind) in entries.clone() {
            let path = dir.join(&name);
            match kind {
                EntryKind::Dir
                    if is_identifier(&name)
                        && !skipped(&name)
                        && (self.is_package(&path)
                            || (namespaces && holds_python(&path, self.roots))) =>
                {
                    self.package(&path, &name, 0)?;
                }
                EntryKind::File => {
                    if let Some((stem, stub)) = module_file(&name, &entries, dir)
                        && !(project && stem == "setup")
                    {
                        self.push(ModuleFile {
                            name: stem.to_string(),
                            path,
                            package: false,
                            namespace: false,
                            stub,
                        })?;
                    }
                }
                EntryKind::Symlink => self.problem(
                    &path,
                    "a symlink leading outside the workspace roots, or dangling; skipped".into(),
                ),
                _ => {}
            }
        }
        Ok(())
    }

    /// A package directory named `module` and everything under it.
    fn package(&mut self, dir: &Path, module: &str, depth: usize) -> Result<(), DocsError> {
        if depth >= MAX_DEPTH {
            self.problem(
                dir,
                format!("packages nest deeper than {MAX_DEPTH}; skipped"),
            );
            return Ok(());
        }
        let Some(entries) = self.entries(dir) else {
            return Ok(());
        };
        let file = |n: &str| entries.iter().any(|(e, k)| e == n && *k == EntryKind::File);
        let regular = file("__init__.py") || file("__init__.pyi");
        let (path, stub) = match (file("__init__.py"), file("__init__.pyi")) {
            (true, true) => (
                Some(dir.join("__init__.py")),
                Some(dir.join("__init__.pyi")),
            ),
            (true, false) => (Some(dir.join("__init__.py")), None),
            (false, true) => (Some(dir.join("__init__.pyi")), None),
            (false, false) => (None, None),
        };
        self.push(ModuleFile {
            name: module.to_string(),
            namespace: path.is_none(),
            path: path.unwrap_or_else(|| dir.to_path_buf()),
            package: true,
            stub,
        })?;
        for (name, kind) in entries.clone() {
            let path = dir.join(&name);
            match kind {
                EntryKind::File => {
                    if let Some((stem, stub)) = module_file(&name, &entries, dir)
                        && stem != "__init__"
                    {
                        self.push(ModuleFile {
                            name: format!("{module}.{stem}"),
                            path,
                            package: false,
                            namespace: false,
                            stub,
                        })?;
                    }
                }
                // Inside a regular package a directory without
                // `__init__.py` is not a module (griffe skips it; so does
                // setuptools' find_packages); inside a namespace package it
                // is another namespace package.
                EntryKind::Dir
                    if is_identifier(&name)
                        && !skipped(&name)
                        && (self.is_package(&path)
                            || (!regular && holds_python(&path, self.roots))) =>
                {
                    self.package(&path, &format!("{module}.{name}"), depth + 1)?;
                }
                EntryKind::Symlink if name.ends_with(".py") || is_identifier(&name) => self
                    .problem(
                        &path,
                        "a symlink leading outside the workspace roots, or dangling; skipped"
                            .into(),
                    ),
                _ => {}
            }
        }
        Ok(())
    }
}

/// A module file among a directory's entries: `x.py` (with `x.pyi` as its
/// stub when both are there) or `x.pyi` alone; `None` for anything else
/// (and for `x.pyi` when `x.py` exists: it is the stub).
fn module_file<'a>(
    name: &'a str,
    entries: &[(String, EntryKind)],
    dir: &Path,
) -> Option<(&'a str, Option<PathBuf>)> {
    let has = |n: &str| entries.iter().any(|(e, k)| e == n && *k == EntryKind::File);
    if let Some(stem) = name.strip_suffix(".py") {
        let stub = format!("{stem}.pyi");
        return is_identifier(stem).then(|| (stem, has(&stub).then(|| dir.join(&stub))));
    }
    let stem = name.strip_suffix(".pyi")?;
    (is_identifier(stem) && !has(&format!("{stem}.py"))).then_some((stem, None))
}

/// A directory holding `.py` files directly (a namespace package).
fn holds_python(dir: &Path, roots: &Roots) -> bool {
    roots
        .read_dir(dir)
        .map(|(_, e)| {
            e.iter()
                .any(|(n, k)| *k == EntryKind::File && n.ends_with(".py"))
        })
        .unwrap_or(false)
}

fn skipped(name: &str) -> bool {
    SKIPPED_DIRS.contains(&name)
}

/// A Python identifier (ASCII letters, digits, `_`, not starting with a
/// digit; other letters allowed as Python allows them).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// `[project] name` from `pyproject.toml`, or `name =` in `setup.cfg`'s
/// `[metadata]`.
fn project_name(dir: &Path, roots: &Roots) -> Option<String> {
    let read = |f: &str| {
        roots
            .read_to_string(&dir.join(f), 1024 * 1024)
            .ok()
            .map(|(_, t)| t)
    };
    for (file, section) in [("pyproject.toml", "[project]"), ("setup.cfg", "[metadata]")] {
        let Some(text) = read(file) else { continue };
        let mut inside = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                inside = t == section;
                continue;
            }
            if inside
                && let Some((k, v)) = t.split_once('=')
                && k.trim() == "name"
            {
                let v = v.trim().trim_matches(['"', '\'']).trim();
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}
