//! The docs tools' view of the workspace roots: the paths a client names
//! (a crate to read, a directory to write into) resolved through
//! [`crate::fsroot::Roots`], which opens everything beneath a root's handle,
//! with the errors worded for the docs tools' arguments.

use std::path::{Path, PathBuf};

use super::DocsError;
use crate::fsroot::{DirHandle, FsError, Roots, canonical_name};

fn outside(path: &str, roots: &Roots) -> DocsError {
    DocsError::OutsideRoots {
        path: path.to_string(),
        roots: roots.list(),
    }
}

/// Resolves an existing path under the roots to its canonical name.
pub fn existing(path: &str, roots: &Roots) -> Result<PathBuf, DocsError> {
    roots.resolve(Path::new(path)).map_err(|e| match e {
        FsError::Outside { .. } => outside(path, roots),
        FsError::NotFound(_) => DocsError::NotFound(path.to_string()),
        // A symlink loop, a NUL byte, a name too long: the path is at fault.
        other => DocsError::NotACrate {
            path: path.to_string(),
            reason: format!("cannot be resolved ({})", other.into_io().1),
        },
    })
}

/// `output_dir` at fault (routed to that argument by its reason's start).
fn bad_output_dir(path: &str, e: std::io::Error) -> DocsError {
    DocsError::NotACrate {
        path: path.to_string(),
        reason: format!("output_dir cannot be resolved or created ({e})"),
    }
}

fn in_data_dir(path: &str, data: &Path) -> DocsError {
    DocsError::NotACrate {
        path: path.to_string(),
        reason: format!(
            "output_dir is inside the server's data directory ({}); write the docs elsewhere",
            data.display()
        ),
    }
}

/// Opens a directory to write into beneath its root, creating it; never
/// one inside `data_dir` (canonical, as [`crate::store::Store::data_dir`]
/// has it).
pub fn output_dir(
    path: &str,
    roots: &Roots,
    data_dir: Option<&Path>,
) -> Result<DirHandle, DocsError> {
    // Refuse before creating anything, by the name the directory would get
    // (its nearest existing ancestor's canonical name plus the rest).
    let predicted = canonical_name(&roots.absolute(Path::new(path)));
    if !roots.lexically_under(&predicted) {
        return Err(outside(path, roots));
    }
    if let Some(data) = data_dir.filter(|d| predicted.starts_with(d)) {
        return Err(in_data_dir(path, data));
    }
    let dir = roots.open_dir(Path::new(path), true).map_err(|e| match e {
        FsError::Outside { .. } => outside(path, roots),
        FsError::WrongKind { .. } => DocsError::NotACrate {
            path: path.to_string(),
            reason: "output_dir exists and is not a directory".into(),
        },
        other => bad_output_dir(path, other.into_io().1),
    })?;
    // What was opened is what counts (the name above may have changed).
    if let Some(data) = data_dir.filter(|d| dir.path().starts_with(d)) {
        return Err(in_data_dir(path, data));
    }
    Ok(dir)
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
        let roots = Roots::open(&[root.canonicalize().unwrap()]);

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
        assert!(made.path().is_dir());
        assert!(!outside_dir.join("new").exists());
    }
}
