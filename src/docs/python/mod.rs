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
use std::path::Path;

use crate::docs::DocsError;
use crate::docs::model::Problem;
use crate::docs::walker::{MAX_FILE_BYTES, OnFile};
use crate::fsroot::{FsError, Roots};

use model::{PyModule, PyProject};

/// Reads and analyses the Python code at `path` (already resolved under
/// the roots; `shown` is how the client wrote it).
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
    for m in found.modules {
        let public = !m.name.split('.').any(|p| p.starts_with('_'));
        let mut module = PyModule {
            path: m.name.clone(),
            file: m.path.clone(),
            package: m.package,
            public,
            docstring: None,
            items: Vec::new(),
            imports: Vec::new(),
            all: None,
        };
        if !m.namespace {
            match read_source(&m.path, roots) {
                Ok((canonical, source)) => {
                    project.files.push(canonical.clone());
                    module.file = canonical.clone();
                    if !on_file(project.files.len(), &canonical) {
                        return Err(DocsError::Cancelled);
                    }
                    match extract::extract(&source, &m.name, m.package, public) {
                        Ok(e) => {
                            module.docstring = e.docstring;
                            module.items = e.items;
                            module.imports = e.imports;
                            module.all = e.all;
                        }
                        Err(e) => project.problems.push(Problem {
                            file: canonical,
                            line: e.line,
                            column: e.column,
                            message: format!(
                                "does not parse: {}; its items are left out",
                                e.message
                            ),
                        }),
                    }
                }
                Err(message) => project.problems.push(Problem {
                    file: m.path.clone(),
                    line: 0,
                    column: 0,
                    message,
                }),
            }
        }
        project.modules.push(module);
    }
    Ok(project)
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
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((opened.path, s.to_string())),
        Err(e) => match coding(bytes) {
            Some(c) if is_latin1(&c) => {
                Ok((opened.path, bytes.iter().map(|&b| b as char).collect()))
            }
            Some(c) => Err(format!(
                "{} declares coding {c}, which is not read (UTF-8 and Latin-1 are); skipped",
                opened.path.display()
            )),
            None => Err(format!(
                "{} is not UTF-8 ({e}) and declares no coding; skipped",
                opened.path.display()
            )),
        },
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
