//! Exports of the log to JSON Lines or CSV files under the workspace roots.
//!
//! The destination is checked after resolving symlinks (its directory must
//! exist and lie under a root), and the file is written to a temporary name
//! beside it and renamed into place, so a reader never sees half an export
//! and a failed export leaves no file behind.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Resolves `path` (relative paths are taken from the first root) and checks
/// it lies under one of `roots`, outside `data_dir` (canonical, as
/// [`crate::store::Store::data_dir`] has it) and, unless `overwrite`, names
/// no existing file.
pub fn resolve_path(
    path: &str,
    roots: &[PathBuf],
    data_dir: &Path,
    overwrite: bool,
) -> Result<PathBuf, AuditError> {
    let bad = |m: String| AuditError::invalid("path", m);
    if path.trim().is_empty() {
        return Err(bad("must be a file path under a workspace root".into()));
    }
    let p = Path::new(path);
    let absolute = if p.is_absolute() {
        p.to_path_buf()
    } else {
        let root = roots
            .first()
            .ok_or_else(|| bad("no workspace root is configured (start with --root DIR)".into()))?;
        root.join(p)
    };
    let name = absolute
        .file_name()
        .filter(|n| *n != "." && *n != "..")
        .ok_or_else(|| bad(format!("`{path}` does not name a file")))?
        .to_owned();
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let parent = parent.canonicalize().map_err(|e| {
        bad(format!(
            "directory {} does not exist or cannot be read: {e}",
            parent.display()
        ))
    })?;
    let mut target = parent.join(&name);
    if let Ok(real) = target.canonicalize() {
        target = real;
    }
    if target.is_dir() {
        return Err(bad(format!("{} is a directory", target.display())));
    }
    if !roots.iter().any(|r| target.starts_with(r)) {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(bad(format!(
            "{} is outside the workspace roots ({}); exports may only be written under them",
            target.display(),
            list.join(", ")
        )));
    }
    // The store, its WAL and the checkpoint key live there: an export over
    // one of them would destroy every toolset's data.
    if target.starts_with(data_dir) {
        return Err(bad(format!(
            "{} is inside the server's data directory ({}); export somewhere else",
            target.display(),
            data_dir.display()
        )));
    }
    if !overwrite && std::fs::symlink_metadata(&target).is_ok() {
        return Err(bad(format!(
            "{} already exists; pass overwrite: true to replace it",
            target.display()
        )));
    }
    Ok(target)
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
    target: &Path,
    format: &str,
    fill: impl FnOnce(&mut dyn FnMut(AuditEntry) -> Result<(), AuditError>) -> Result<u64, AuditError>,
) -> Result<u64, AuditError> {
    let io =
        |e: std::io::Error| AuditError::Internal(format!("export to {}: {e}", target.display()));
    let tmp = target.with_file_name(format!(
        ".{}.{}.tmp",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("export"),
        std::process::id()
    ));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = BufWriter::new(file);
    let csv = format == "csv";
    let result = (|| {
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
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(n)
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, target).map_err(io)?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
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
        let roots = vec![root.clone()];
        let data = tmp.path().join("data");
        let resolve = |p: &str| resolve_path(p, &roots, &data, false);
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
        let roots = vec![root.clone()];
        for overwrite in [false, true] {
            let err = resolve_path("data/smart-systems.db", &roots, &data, overwrite).unwrap_err();
            assert!(err.to_string().contains("data directory"), "{err}");
            let err = resolve_path("data/new.csv", &roots, &data, overwrite).unwrap_err();
            assert!(err.to_string().contains("data directory"), "{err}");
        }
        let err = resolve_path("mine.txt", &roots, &data, false).unwrap_err();
        assert!(err.to_string().contains("overwrite: true"), "{err}");
        assert_eq!(
            resolve_path("mine.txt", &roots, &data, true).unwrap(),
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
