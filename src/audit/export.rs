//! Exports of the log to JSON Lines or CSV files under the workspace roots.
//!
//! The destination's directory is opened beneath a root's handle
//! ([`crate::fsroot`]), and the file is written to a fresh, randomly named
//! temporary file in that directory and renamed into place within it, so a
//! reader never sees half an export, a failed export leaves no file behind,
//! and no symlink (at the target, at a temporary name, or swapped in for
//! the directory mid-call) can send an export outside the roots.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::fsroot::{DirHandle, EntryKind, FsError, Roots};

use super::AuditError;
use super::entry::AuditEntry;

/// Export formats.
pub const FORMATS: &[&str] = &["jsonl", "csv"];

/// CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "sequence",
    "audit_id",
    "timestamp",
    "user_id",
    "user_email",
    "action",
    "resource_type",
    "resource_id",
    "severity",
    "outcome",
    "ip_address",
    "user_agent",
    "session_id",
    "tenant_id",
    "correlation_id",
    "purpose",
    "tags",
    "details",
    "changes",
    "entry_hash",
];

/// Where an export goes: a directory opened beneath a workspace root and a
/// file name in it.
pub struct ExportTarget {
    dir: DirHandle,
    name: String,
    overwrite: bool,
}

impl ExportTarget {
    /// The file's canonical name, for answers and messages.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
}

/// Opens the directory of `path` (relative paths are taken from the first
/// root) beneath its root; refuses a directory inside `data_dir`
/// (canonical, as [`crate::store::Store::data_dir`] has it) and, unless
/// `overwrite`, a name where anything exists.
pub fn resolve_path(
    path: &str,
    roots: &Roots,
    data_dir: &Path,
    overwrite: bool,
) -> Result<ExportTarget, AuditError> {
    let bad = |m: String| AuditError::invalid("path", m);
    if path.trim().is_empty() {
        return Err(bad("must be a file path under a workspace root".into()));
    }
    let p = Path::new(path);
    if p.is_relative() && roots.is_empty() {
        return Err(bad(
            "no workspace root is configured (start with --root DIR)".into(),
        ));
    }
    let absolute = roots.absolute(p);
    let name = absolute
        .file_name()
        .filter(|n| *n != "." && *n != "..")
        .and_then(|n| n.to_str())
        .filter(|_| !path.ends_with('/'))
        .ok_or_else(|| bad(format!("`{path}` does not name a file")))?
        .to_owned();
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let outside = |shown: &Path| {
        bad(format!(
            "{} is outside the workspace roots ({}); exports may only be written under them",
            shown.display(),
            roots.list()
        ))
    };
    let dir = roots.open_dir(parent, false).map_err(|e| match e {
        FsError::Outside { path, .. } => outside(&path.join(&name)),
        other => bad(format!(
            "directory {} does not exist or cannot be read: {}",
            parent.display(),
            other.into_io().1
        )),
    })?;
    let target = ExportTarget {
        dir,
        name,
        overwrite,
    };
    let shown = target.path();
    // The store, its WAL and the checkpoint key live there: an export over
    // one of them would destroy every toolset's data.
    if target.dir.path().starts_with(data_dir) {
        return Err(bad(format!(
            "{} is inside the server's data directory ({}); export somewhere else",
            shown.display(),
            data_dir.display()
        )));
    }
    match target.dir.entry(&target.name) {
        Ok(Some(EntryKind::Dir)) => Err(bad(format!("{} is a directory", shown.display()))),
        Ok(Some(_)) if !overwrite => Err(already_exists(&shown)),
        Ok(_) => Ok(target),
        Err(e) => Err(bad(format!("{} cannot be checked: {e}", shown.display()))),
    }
}

fn already_exists(shown: &Path) -> AuditError {
    AuditError::invalid(
        "path",
        format!(
            "{} already exists; pass overwrite: true to replace it",
            shown.display()
        ),
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes entries to `target` in `format`; `fill` calls the given sink once
/// per entry. Returns the number written.
pub fn write_file(
    target: &ExportTarget,
    format: &str,
    fill: impl FnOnce(&mut dyn FnMut(AuditEntry) -> Result<(), AuditError>) -> Result<u64, AuditError>,
) -> Result<u64, AuditError> {
    let shown = target.path();
    let io =
        |e: std::io::Error| AuditError::Internal(format!("export to {}: {e}", shown.display()));
    // Removed again when dropped uncommitted (a failed export).
    let mut tmp = target.dir.temp_file(&target.name).map_err(io)?;
    let mut out = BufWriter::new(tmp.file());
    let csv = format == "csv";
    let result: Result<u64, AuditError> = (|| {
        if csv {
            writeln!(out, "{}", CSV_COLUMNS.join(",")).map_err(io)?;
        }
        let mut sink = |e: AuditEntry| -> Result<(), AuditError> {
            if csv {
                let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
                let cols = [
                    e.sequence.to_string(),
                    csv_field(&e.audit_id),
                    csv_field(&e.timestamp),
                    csv_field(&e.user_id),
                    opt(&e.user_email),
                    csv_field(&e.action),
                    csv_field(&e.resource_type),
                    csv_field(&e.resource_id),
                    csv_field(&e.severity),
                    csv_field(&e.outcome),
                    opt(&e.ip_address),
                    opt(&e.user_agent),
                    opt(&e.session_id),
                    opt(&e.tenant_id),
                    opt(&e.correlation_id),
                    opt(&e.purpose),
                    csv_field(&serde_json::to_string(&e.tags).unwrap_or_default()),
                    csv_field(&serde_json::Value::Object(e.details.clone()).to_string()),
                    csv_field(
                        &e.changes
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                    ),
                    csv_field(&e.entry_hash),
                ];
                writeln!(out, "{}", cols.join(",")).map_err(io)
            } else {
                let line = serde_json::to_string(&e)
                    .map_err(|e| AuditError::Internal(format!("export: {e}")))?;
                writeln!(out, "{line}").map_err(io)
            }
        };
        let n = fill(&mut sink)?;
        out.flush().map_err(io)?;
        Ok(n)
    })();
    drop(out);
    let n = result?;
    match tmp.commit(&target.name, target.overwrite) {
        Ok(()) => Ok(n),
        // Something appeared at the name during the export.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(already_exists(&shown)),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_roots_are_refused_even_through_dotdot() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        std::fs::create_dir(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let roots = Roots::open(std::slice::from_ref(&root));
        let data = tmp.path().join("data");
        let resolve = |p: &str| resolve_path(p, &roots, &data, false).map(|t| t.path());
        assert_eq!(resolve("a.jsonl").unwrap(), root.join("a.jsonl"));
        let err = resolve("../escape.csv").unwrap_err();
        assert!(
            matches!(&err, AuditError::Invalid { field, .. } if field == "path"),
            "{err}"
        );
        assert!(resolve("/etc/passwd").is_err());
        assert!(resolve("missing-dir/a.csv").is_err());
        assert!(resolve("").is_err());
    }

    #[test]
    fn an_existing_file_needs_overwrite_and_the_data_dir_is_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let data = root.join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("smart-systems.db"), "store").unwrap();
        std::fs::write(root.join("mine.txt"), "keep").unwrap();
        let roots = Roots::open(std::slice::from_ref(&root));
        for overwrite in [false, true] {
            let err = resolve_path("data/smart-systems.db", &roots, &data, overwrite)
                .err()
                .unwrap();
            assert!(err.to_string().contains("data directory"), "{err}");
            let err = resolve_path("data/new.csv", &roots, &data, overwrite)
                .err()
                .unwrap();
            assert!(err.to_string().contains("data directory"), "{err}");
        }
        let err = resolve_path("mine.txt", &roots, &data, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("overwrite: true"), "{err}");
        assert_eq!(
            resolve_path("mine.txt", &roots, &data, true)
                .ok()
                .unwrap()
                .path(),
            root.join("mine.txt")
        );
    }

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
