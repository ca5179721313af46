//! Keeping file access inside the workspace roots. A path is resolved
//! (relative paths against the first root), canonicalized so that `..` and
//! symlinks are followed to where they really lead, and then checked for
//! containment; a path that does not exist yet (an output directory) is
//! checked through its nearest existing ancestor.

use std::path::{Component, Path, PathBuf};

use super::DocsError;

/// Whether a canonical path lies under one of the (canonical) roots.
pub fn is_under_roots(canonical: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| canonical.starts_with(root))
}

fn absolute(path: &str, roots: &[PathBuf]) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        match roots.first() {
            Some(root) => root.join(p),
            None => p.to_path_buf(),
        }
    }
}

fn outside(path: &str, roots: &[PathBuf]) -> DocsError {
    DocsError::OutsideRoots {
        path: path.to_string(),
        roots: roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Resolves an existing path under the roots to its canonical form.
pub fn existing(path: &str, roots: &[PathBuf]) -> Result<PathBuf, DocsError> {
    let abs = absolute(path, roots);
    let canonical = match abs.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Say "outside" before "missing" so probing cannot map the disk.
            let lexical = lexical_normalize(&abs);
            if !is_under_roots(&lexical, roots) {
                return Err(outside(path, roots));
            }
            return Err(DocsError::NotFound(path.to_string()));
        }
        // A symlink loop, a NUL byte, a name too long: the path is at fault.
        Err(e) => {
            return Err(DocsError::NotACrate {
                path: path.to_string(),
                reason: format!("cannot be resolved ({e})"),
            });
        }
    };
    if !is_under_roots(&canonical, roots) {
        return Err(outside(path, roots));
    }
    Ok(canonical)
}

/// `output_dir` at fault (routed to that argument by its reason's start).
fn bad_output_dir(path: &str, e: std::io::Error) -> DocsError {
    DocsError::NotACrate {
        path: path.to_string(),
        reason: format!("output_dir cannot be resolved or created ({e})"),
    }
}

/// Resolves a directory to write into, creating it; it must end up under
/// the roots even when part of it already exists as a symlink, and outside
/// `data_dir` (canonical, as [`crate::store::Store::data_dir`] has it).
pub fn output_dir(
    path: &str,
    roots: &[PathBuf],
    data_dir: Option<&Path>,
) -> Result<PathBuf, DocsError> {
    let abs = lexical_normalize(&absolute(path, roots));
    // Find the deepest existing ancestor and canonicalize it.
    let mut existing_part = abs.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    while !existing_part.exists() {
        match (existing_part.file_name(), existing_part.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing_part = parent.to_path_buf();
            }
            _ => return Err(outside(path, roots)),
        }
    }
    let mut resolved = existing_part
        .canonicalize()
        .map_err(|e| bad_output_dir(path, e))?;
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    if !is_under_roots(&resolved, roots) {
        return Err(outside(path, roots));
    }
    // The server's store and keys live there (checked before creating).
    if let Some(data) = data_dir.filter(|d| resolved.starts_with(d)) {
        return Err(DocsError::NotACrate {
            path: path.to_string(),
            reason: format!(
                "output_dir is inside the server's data directory ({}); write the docs elsewhere",
                data.display()
            ),
        });
    }
    std::fs::create_dir_all(&resolved).map_err(|e| bad_output_dir(path, e))?;
    let canonical = resolved
        .canonicalize()
        .map_err(|e| bad_output_dir(path, e))?;
    if !is_under_roots(&canonical, roots) {
        return Err(outside(path, roots));
    }
    if !canonical.is_dir() {
        return Err(DocsError::NotACrate {
            path: path.to_string(),
            reason: "output_dir exists and is not a directory".into(),
        });
    }
    Ok(canonical)
}

/// Removes `.` and resolves `..` without touching the disk.
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Writes `contents` to `dir/name` by way of a fresh temporary file and a
/// rename, so a symlink planted at `dir/name` is replaced, never followed.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, DocsError> {
    use std::io::Write;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| DocsError::io(&tmp, e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| DocsError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &target).map_err(|e| DocsError::io(&target, e))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotdot_and_symlinks_cannot_leave_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside_dir = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::create_dir_all(&outside_dir).unwrap();
        std::os::unix::fs::symlink(&outside_dir, root.join("link")).unwrap();
        let roots = vec![root.canonicalize().unwrap()];

        assert!(existing("inner", &roots).is_ok());
        assert!(matches!(
            existing("inner/../../outside", &roots),
            Err(DocsError::OutsideRoots { .. })
        ));
        assert!(matches!(
            existing("link", &roots),
            Err(DocsError::OutsideRoots { .. })
        ));
        assert!(matches!(
            existing("missing", &roots),
            Err(DocsError::NotFound(_))
        ));
        assert!(matches!(
            output_dir("link/new", &roots, None),
            Err(DocsError::OutsideRoots { .. })
        ));
        assert!(matches!(
            output_dir("../escape", &roots, None),
            Err(DocsError::OutsideRoots { .. })
        ));
        let made = output_dir("inner/out/deeper", &roots, None).unwrap();
        assert!(made.is_dir());
    }
}
