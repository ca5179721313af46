//! Python code bases to documentation, without a Python interpreter:
//! [`layout`] finds the modules, [`extract`] reads each file's items with
//! Ruff's parser, [`docstring`] splits docstrings by style (Google, NumPy,
//! reST), [`render`] writes the Markdown pages and [`diagrams`] the module
//! and type graphs.

pub mod diagrams;
pub mod docstring;
pub mod extract;
pub mod layout;
pub mod model;
pub mod render;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::docs::DocsError;
use crate::docs::model::Problem;
use crate::docs::par;
use crate::docs::walker::{MAX_FILE_BYTES, OnFile};
use crate::fsroot::{FsError, Roots};

use model::{PyModule, PyProject};

/// Reads and analyses the Python code at `path` (already resolved under
/// the roots; `shown` is how the client wrote it). Modules are read and
/// parsed on every core ([`par::map`]); `on_file` sees them as they finish.
pub fn analyze(
    path: &Path,
    shown: &str,
    roots: &Roots,
    on_file: &mut OnFile<'_>,
) -> Result<PyProject, DocsError> {
    let found = layout::layout(path, shown, roots)?;
    let mut project = PyProject {
        name: found.name,
        root: path.to_path_buf(),
        problems: found.problems,
        ..PyProject::default()
    };
    let mut files_done = 0;
    let loaded = par::map(
        &found.modules,
        |m| load(m, roots),
        |l| {
            files_done += l.files.len();
            l.files.is_empty() || on_file(files_done, &l.module.file)
        },
    )
    .ok_or(DocsError::Cancelled)?;
    let mut over_imports = Vec::new();
    for l in loaded {
        project.files.extend(l.files);
        project.problems.extend(l.problems);
        over_imports.extend(
            l.over_imports
                .into_iter()
                .map(|(item, target)| (project.modules.len(), item, target)),
        );
        project.modules.push(l.module);
    }
    // A stub item whose name the module imports replaces the import when
    // the imported object is of another kind (griffe: the stub wins).
    for (at, item, target) in over_imports {
        let kind = project
            .items()
            .into_iter()
            .find(|i| i.path == target)
            .map(|i| i.kind);
        if kind.is_some_and(|k| !same_kind(k, item.kind)) {
            let m = &mut project.modules[at];
            let mut item = item;
            let public = m.public
                && match &m.all {
                    Some(all) => all.contains(&item.name),
                    None => !item.name.starts_with('_'),
                };
            extract::mark_public(&mut item, public);
            m.items.push(item);
        }
    }
    Ok(project)
}

/// One module read and parsed, on its own: what [`analyze`] joins.
struct Loaded {
    module: PyModule,
    /// The files read (the module's, then its stub's), canonical.
    files: Vec<PathBuf>,
    problems: Vec<Problem>,
    /// Stub items named like an import of the module, with the import's
    /// target: settled once every module is known.
    over_imports: Vec<(model::PyItem, String)>,
}

fn load(m: &layout::ModuleFile, roots: &Roots) -> Loaded {
    let public = !m.name.split('.').any(|p| p.starts_with('_'));
    let mut l = Loaded {
        module: PyModule {
            path: m.name.clone(),
            file: m.path.clone(),
            package: m.package,
            namespace: m.namespace,
            public,
            docstring: None,
            items: Vec::new(),
            imports: Vec::new(),
            all: None,
        },
        files: Vec::new(),
        problems: Vec::new(),
        over_imports: Vec::new(),
    };
    if m.namespace {
        return l;
    }
    let (canonical, source) = match read_source(&m.path, roots) {
        Ok(s) => s,
        Err(message) => {
            l.problems.push(Problem {
                file: m.path.clone(),
                line: 0,
                column: 0,
                message,
            });
            return l;
        }
    };
    l.files.push(canonical.clone());
    l.module.file = canonical.clone();
    let mut extracted = extract::extract(&source, &m.name, m.package, public);
    if let (Ok(e), Some(stub)) = (&mut extracted, &m.stub) {
        l.over_imports = merge_stub(e, stub, &m.name, m.package, public, roots, &mut l);
    }
    match extracted {
        Ok(e) => {
            l.module.docstring = e.docstring;
            l.module.items = e.items;
            l.module.imports = e.imports;
            l.module.all = e.all;
        }
        Err(e) => l.problems.push(Problem {
            file: canonical,
            line: e.line,
            column: e.column,
            message: format!("does not parse: {}; its items are left out", e.message),
        }),
    }
    l
}

/// Reads the `.pyi` stub of a module and merges it in, as griffe does:
/// its `__all__` wins, its items missing from the module are added, an item
/// of another kind replaces the module's, and for the same kind the stub
/// gives a docstring the module lacks, annotations and class members.
fn merge_stub(
    e: &mut extract::Extracted,
    stub: &Path,
    module: &str,
    package: bool,
    public: bool,
    roots: &Roots,
    into: &mut Loaded,
) -> Vec<(model::PyItem, String)> {
    let (canonical, source) = match read_source(stub, roots) {
        Ok(s) => s,
        Err(message) => {
            into.problems.push(Problem {
                file: stub.to_path_buf(),
                line: 0,
                column: 0,
                message,
            });
            return Vec::new();
        }
    };
    into.files.push(canonical.clone());
    let s = match extract::extract(&source, module, package, public) {
        Ok(s) => s,
        Err(err) => {
            into.problems.push(Problem {
                file: canonical,
                line: err.line,
                column: err.column,
                message: format!("does not parse: {}; the stub is left out", err.message),
            });
            return Vec::new();
        }
    };
    if s.all.is_some() {
        e.all = s.all;
    }
    if e.docstring.is_none() {
        e.docstring = s.docstring;
    }
    // A name the module imports stays the import (griffe merges the stub
    // into the imported object, elsewhere) unless that object is of
    // another kind: see the end of [`analyze`].
    let (over, stub_items): (Vec<_>, Vec<_>) = s
        .items
        .into_iter()
        .partition(|i| e.imported.contains_key(&i.name));
    merge_items(&mut e.items, stub_items);
    extract::set_publics(e, public);
    over.into_iter()
        .map(|i| {
            let target = e.imported[&i.name].clone();
            (i, target)
        })
        .collect()
}

fn same_kind(a: model::PyKind, b: model::PyKind) -> bool {
    use model::PyKind::*;
    let group = |k| match k {
        Function | Method => 0,
        Property | Attribute => 1,
        Class => 2,
        Module => 3,
    };
    group(a) == group(b)
}

fn merge_items(items: &mut Vec<model::PyItem>, stubs: Vec<model::PyItem>) {
    for s in stubs {
        match items.iter_mut().find(|i| i.name == s.name) {
            None => items.push(s),
            Some(i) if !same_kind(i.kind, s.kind) => *i = s,
            Some(i) => {
                if i.docstring.is_none() {
                    i.docstring = s.docstring;
                }
                match i.kind {
                    model::PyKind::Class => merge_items(&mut i.members, s.members),
                    model::PyKind::Attribute | model::PyKind::Property => {
                        if s.returns.is_some() {
                            i.returns = s.returns;
                            i.signature = s.signature;
                        }
                    }
                    _ => {
                        for p in &mut i.params {
                            if let Some(sp) = s.params.iter().find(|sp| sp.name == p.name)
                                && sp.annotation.is_some()
                            {
                                p.annotation = sp.annotation.clone();
                            }
                        }
                        if s.returns.is_some() {
                            i.returns = s.returns;
                        }
                        i.signature = s.signature;
                    }
                }
            }
        }
    }
}

/// A source file's text: UTF-8, or Latin-1 when a PEP 263 coding line
/// says so; at most [`MAX_FILE_BYTES`]; a binary file (NUL bytes) refused.
fn read_source(path: &Path, roots: &Roots) -> Result<(std::path::PathBuf, String), String> {
    let opened = roots.open_file(path).map_err(|e| match e {
        FsError::Outside { path: p, .. } => format!(
            "{} leads to {}, outside the workspace roots; skipped",
            path.display(),
            p.display()
        ),
        other => {
            let (p, e) = other.into_io();
            format!("cannot open {}: {e}", p.display())
        }
    })?;
    let len = opened.file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{} is {len} bytes; at most {MAX_FILE_BYTES} (8 MiB) are analysed",
            opened.path.display()
        ));
    }
    let mut bytes = Vec::new();
    opened
        .file
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", opened.path.display()))?;
    if bytes.contains(&0) {
        return Err(format!(
            "{} is binary (NUL bytes); skipped",
            opened.path.display()
        ));
    }
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    let not_utf8 = match String::from_utf8(bytes) {
        Ok(s) => return Ok((opened.path, s)),
        Err(e) => e,
    };
    let e = not_utf8.utf8_error();
    let bytes = not_utf8.into_bytes();
    match coding(&bytes) {
        Some(c) if is_latin1(&c) => Ok((opened.path, bytes.iter().map(|&b| b as char).collect())),
        Some(c) => Err(format!(
            "{} declares coding {c}, which is not read (UTF-8 and Latin-1 are); skipped",
            opened.path.display()
        )),
        None => Err(format!(
            "{} is not UTF-8 ({e}) and declares no coding; skipped",
            opened.path.display()
        )),
    }
}

/// The PEP 263 coding of the first two lines (`# -*- coding: latin-1 -*-`).
fn coding(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|&b| b == b'\n').take(2) {
        let line: String = line.iter().map(|&b| b as char).collect();
        let t = line.trim_start();
        if !t.starts_with('#') {
            continue;
        }
        if let Some(at) = t.find("coding") {
            let rest = &t[at + 6..];
            if let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) {
                let name: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                if !name.is_empty() {
                    return Some(name.to_ascii_lowercase());
                }
            }
        }
    }
    None
}

fn is_latin1(coding: &str) -> bool {
    matches!(
        coding.replace('_', "-").as_str(),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" | "cp1252" | "windows-1252"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep_263_coding_lines_are_found() {
        assert_eq!(
            coding(b"#!/usr/bin/python\n# -*- coding: latin-1 -*-\n").as_deref(),
            Some("latin-1")
        );
        assert_eq!(
            coding(b"# vim: set fileencoding=iso-8859-1 :\n").as_deref(),
            Some("iso-8859-1")
        );
        assert_eq!(coding(b"x = 1\n\n# coding: latin-1\n"), None);
    }
}
