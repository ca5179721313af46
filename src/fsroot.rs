//! File access that cannot leave the workspace roots. Every tool that reads
//! or writes a client-named file goes through [`Roots`].
//!
//! The one design choice: confinement is by construction, not by checking
//! paths. Each root is opened once, at start-up, as a directory handle
//! (cap-std's `Dir`), and every path is opened *beneath* that handle, by
//! `openat2(RESOLVE_BENEATH)` where the kernel has it and by cap-std's
//! symlink-by-symlink resolver otherwise: a `..` or a symlink that would lead
//! out of the root fails instead of being followed, at the moment of the
//! open, so swapping a checked directory or file for a symlink mid-call can
//! only make the call fail. Symlinks that stay inside the root keep working.
//! Writes go to a temporary file created exclusively (`O_CREAT|O_EXCL`, no
//! follow, a random name) inside an opened directory handle and renamed
//! within that handle, so a symlink at the target or at a temporary name is
//! replaced or refused, never written through.
//!
//! Path names are only names here: they say which root and which path
//! beneath it to open, and name what was opened in answers (the canonical
//! name the kernel reports for the opened handle). A path that reaches a
//! root by another spelling (an absolute symlink inside the root, `..` out
//! of it and back) is renamed by canonicalizing it once and opened beneath
//! the root again: a race there too can only make the open fail.
//!
//! This module imports nothing of the crate: domains use it, it knows none.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

/// Why a confined file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path (or what a symlink on it leads to) lies outside every root.
    #[error("{path} is outside the workspace roots ({roots})")]
    Outside {
        /// The path, canonical when it could be resolved.
        path: PathBuf,
        /// The roots, comma-separated.
        roots: String,
    },
    /// Nothing exists at the path.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// The path exists but is not what the operation needs.
    #[error("{path} is not {expected}")]
    WrongKind {
        /// The path.
        path: PathBuf,
        /// What was needed ("a regular file", "a directory").
        expected: &'static str,
    },
    /// Any other failure of the operating system.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The workspace roots, each opened once as a directory handle.
#[derive(Debug)]
pub struct Roots {
    roots: Vec<Root>,
}

#[derive(Debug)]
struct Root {
    /// Its canonical path (as the configuration has it).
    path: PathBuf,
    /// The handle, or why the root could not be opened at start-up.
    dir: Result<Dir, String>,
}

/// A directory opened beneath a root: files are created, replaced and read
/// by name inside it, whatever happens to its path meanwhile.
pub struct DirHandle {
    dir: Dir,
    path: PathBuf,
}

/// A file opened beneath a root for reading.
pub struct OpenedFile {
    /// Its canonical name.
    pub path: PathBuf,
    /// The open file (a regular file).
    pub file: std::fs::File,
}

impl Roots {
    /// Opens each root as a directory handle. A root that cannot be opened
    /// is kept, and every operation beneath it fails with the reason.
    pub fn open(paths: &[PathBuf]) -> Roots {
        let roots = paths
            .iter()
            .map(|p| Root {
                path: p.clone(),
                dir: Dir::open_ambient_dir(p, ambient_authority())
                    .map_err(|e| format!("workspace root {} cannot be opened: {e}", p.display())),
            })
            .collect();
        Roots { roots }
    }

    /// The roots' paths, in configuration order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.path.as_path())
    }

    /// Whether no root is configured.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The roots, comma-separated (for messages).
    pub fn list(&self) -> String {
        self.paths()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `path` made absolute: a relative path is taken from the first root.
    pub fn absolute(&self, path: &Path) -> PathBuf {
        match self.roots.first() {
            Some(root) if path.is_relative() => root.path.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Whether a path lies lexically under a root (`..` resolved by name).
    pub fn lexically_under(&self, path: &Path) -> bool {
        let normal = lexical_normalize(&self.absolute(path));
        self.roots.iter().any(|r| normal.starts_with(&r.path))
    }

    fn outside(&self, path: PathBuf) -> FsError {
        FsError::Outside {
            path,
            roots: self.list(),
        }
    }

    /// The root whose path is the longest prefix of `abs`, and the rest.
    fn split(&self, abs: &Path) -> Option<(&Root, PathBuf)> {
        self.roots
            .iter()
            .filter(|r| abs.starts_with(&r.path))
            .max_by_key(|r| r.path.components().count())
            .map(|r| {
                let rel = abs.strip_prefix(&r.path).unwrap_or(Path::new(""));
                let rel = if rel.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    rel.to_path_buf()
                };
                (r, rel)
            })
    }

    /// Runs `op` on the root handle and the path beneath it that `path`
    /// names. Never opens anything outside a root: the name only selects.
    fn beneath<T>(
        &self,
        path: &Path,
        op: impl Fn(&Root, &Dir, &Path) -> io::Result<T>,
    ) -> Result<T, FsError> {
        let abs = self.absolute(path);
        if let Some((root, rel)) = self.split(&abs) {
            let dir = root.handle(&abs)?;
            match op(root, dir, &rel) {
                Ok(t) => return Ok(t),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self.missing(&abs));
                }
                // An escape, a symlink loop: maybe another spelling of a
                // path inside a root; the canonical name says.
                Err(_) => {}
            }
        }
        let canonical = match std::fs::canonicalize(&abs) {
            Ok(c) => c,
            // Not there (yet): named by its nearest existing ancestor.
            Err(e) if e.kind() == io::ErrorKind::NotFound => canonical_name(&abs),
            Err(e) => {
                return Err(FsError::Io {
                    path: abs,
                    source: e,
                });
            }
        };
        let Some((root, rel)) = self.split(&canonical) else {
            return Err(self.outside(canonical));
        };
        let dir = root.handle(&abs)?;
        op(root, dir, &rel).map_err(|e| {
            if is_escape(&e) {
                // It changed since it was named: refused all the same.
                self.outside(canonical)
            } else if e.kind() == io::ErrorKind::NotFound {
                self.missing(&abs)
            } else {
                FsError::Io {
                    path: abs,
                    source: e,
                }
            }
        })
    }

    /// "Outside" before "missing", so probing cannot map the disk.
    fn missing(&self, abs: &Path) -> FsError {
        if self.lexically_under(abs) {
            FsError::NotFound(abs.to_path_buf())
        } else {
            self.outside(lexical_normalize(abs))
        }
    }

    /// The canonical name of the file or directory at `path`.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, FsError> {
        self.beneath(path, |root, dir, rel| {
            let f = dir.open_with(rel, OpenOptions::new().read(true).nonblock(true))?;
            root.name_of(&f, rel)
        })
    }

    /// Whether `path` is a regular file (symlinks inside the root followed).
    pub fn is_file(&self, path: &Path) -> bool {
        self.beneath(path, |_, dir, rel| dir.metadata(rel))
            .is_ok_and(|m| m.is_file())
    }

    /// Opens the regular file at `path` for reading.
    pub fn open_file(&self, path: &Path) -> Result<OpenedFile, FsError> {
        let (name, file) = self.beneath(path, |root, dir, rel| {
            // Non-blocking, so a FIFO planted as a source file cannot hang
            // the call; it is then refused as not a regular file.
            let f = dir.open_with(rel, OpenOptions::new().read(true).nonblock(true))?;
            Ok((root.name_of(&f, rel)?, f))
        })?;
        let meta = file.metadata().map_err(|e| FsError::Io {
            path: name.clone(),
            source: e,
        })?;
        if !meta.is_file() {
            return Err(FsError::WrongKind {
                path: name,
                expected: "a regular file",
            });
        }
        Ok(OpenedFile {
            path: name,
            file: file.into_std(),
        })
    }

    /// The text of the regular file at `path`, if it has at most
    /// `max_bytes`, with its canonical name.
    pub fn read_to_string(
        &self,
        path: &Path,
        max_bytes: u64,
    ) -> Result<(PathBuf, String), FsError> {
        use std::io::Read;
        let OpenedFile { path, file } = self.open_file(path)?;
        let io_err = |e| FsError::Io {
            path: path.clone(),
            source: e,
        };
        let len = file.metadata().map_err(io_err)?.len();
        if len > max_bytes {
            return Err(io_err(io::Error::other(format!(
                "the file is {len} bytes; at most {max_bytes} are read"
            ))));
        }
        let mut text = String::new();
        file.take(max_bytes)
            .read_to_string(&mut text)
            .map_err(io_err)?;
        Ok((path, text))
    }

    /// The entries of the directory at `path`, with its canonical name:
    /// each name (UTF-8 names only) and what it is, a symlink followed when
    /// its target lies beneath a root (otherwise `Symlink`).
    pub fn read_dir(&self, path: &Path) -> Result<(PathBuf, Vec<(String, EntryKind)>), FsError> {
        self.beneath(path, |root, dir, rel| {
            let d = dir.open_dir(rel)?;
            let name = root.name_of(&d, rel)?;
            let mut out = Vec::new();
            for entry in d.entries()? {
                let entry = entry?;
                let Ok(file) = entry.file_name().into_string() else {
                    continue;
                };
                let kind = match dir.metadata(rel.join(&file)) {
                    Ok(m) if m.is_dir() => EntryKind::Dir,
                    Ok(m) if m.is_file() => EntryKind::File,
                    Ok(_) => EntryKind::Other,
                    Err(_) => EntryKind::Symlink,
                };
                out.push((file, kind));
            }
            out.sort();
            Ok((name, out))
        })
        .map(|(name, entries)| {
            // An absolute symlink is refused by the handle even when it
            // points inside a root: named again, it resolves like any path.
            let entries = entries
                .into_iter()
                .map(|(file, kind)| {
                    if kind != EntryKind::Symlink {
                        return (file, kind);
                    }
                    let p = path.join(&file);
                    let kind = if self.is_dir(&p) {
                        EntryKind::Dir
                    } else if self.is_file(&p) {
                        EntryKind::File
                    } else {
                        EntryKind::Symlink
                    };
                    (file, kind)
                })
                .collect();
            (name, entries)
        })
    }

    /// Whether `path` is a directory (symlinks inside the roots followed).
    pub fn is_dir(&self, path: &Path) -> bool {
        self.beneath(path, |_, dir, rel| dir.metadata(rel))
            .is_ok_and(|m| m.is_dir())
    }

    /// Opens the directory at `path`, first creating it and its missing
    /// parents (beneath the root) when `create` is set.
    pub fn open_dir(&self, path: &Path, create: bool) -> Result<DirHandle, FsError> {
        let (path, dir) = self.beneath(path, |root, dir, rel| {
            if create {
                dir.create_dir_all(rel)?;
            }
            let d = dir.open_dir(rel)?;
            Ok((root.name_of(&d, rel)?, d))
        })?;
        Ok(DirHandle { dir, path })
    }
}

impl Root {
    fn handle(&self, shown: &Path) -> Result<&Dir, FsError> {
        self.dir.as_ref().map_err(|e| FsError::Io {
            path: shown.to_path_buf(),
            source: io::Error::other(e.clone()),
        })
    }

    /// The canonical name of a handle opened beneath this root: what the
    /// kernel reports for it, which must still lie under the root (it does
    /// unless something moved meanwhile, and then the open is refused).
    fn name_of(&self, handle: &impl AsFd, rel: &Path) -> io::Result<PathBuf> {
        let fd = handle.as_fd().as_raw_fd();
        match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            Ok(p) if p.starts_with(&self.path) => Ok(p),
            Ok(_) => Err(escape()),
            // No /proc: the name as resolved, which lies under the root.
            Err(_) => Ok(lexical_normalize(&self.path.join(rel))),
        }
    }
}

impl DirHandle {
    /// The directory's canonical name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is at `name` in this directory, without following a symlink
    /// there; `None` when nothing is.
    pub fn entry(&self, name: &str) -> io::Result<Option<EntryKind>> {
        let name = plain_name(name)?;
        match self.dir.symlink_metadata(name) {
            Ok(m) => Ok(Some(if m.is_symlink() {
                EntryKind::Symlink
            } else if m.is_dir() {
                EntryKind::Dir
            } else if m.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the regular file `name` in this directory for reading; a
    /// symlink there is refused, not followed.
    pub fn open_nofollow(&self, name: &str) -> io::Result<std::fs::File> {
        let name = plain_name(name)?;
        let f = self.dir.open_with(
            name,
            OpenOptions::new()
                .read(true)
                .nonblock(true)
                .follow(FollowSymlinks::No),
        )?;
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(f.into_std())
    }

    /// A new temporary file in this directory, to become `name` with
    /// [`TempFile::commit`]. Its name is random and it is created
    /// exclusively, so nothing planted in advance can be written through.
    pub fn temp_file(&self, name: &str) -> io::Result<TempFile<'_>> {
        let name = plain_name(name)?;
        let stem: String = name.to_string_lossy().chars().take(64).collect();
        let mut last = None;
        for _ in 0..8 {
            let tmp = format!(".{stem}.{}.tmp", random_hex()?);
            match self.dir.open_with(
                &tmp,
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .follow(FollowSymlinks::No),
            ) {
                Ok(f) => {
                    return Ok(TempFile {
                        dir: self,
                        name: tmp,
                        file: f.into_std(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
    }

    /// Writes `contents` to `name` by way of a temporary file and a rename
    /// within this directory; returns the file's name. For regenerable
    /// output: readers never see half a file, but it is not flushed to disk
    /// (as documentation generators do; one `fsync` per page cost a fifth of
    /// a large run), so after a power loss a page may be empty.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
        use std::io::Write;
        let mut tmp = self.temp_file(name)?;
        tmp.file().write_all(contents)?;
        tmp.commit_unsynced(name, true)?;
        Ok(self.path.join(name))
    }
}

/// What a directory entry is, its symlinks not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A socket, FIFO or device.
    Other,
}

/// A temporary file inside a [`DirHandle`]; removed when dropped without
/// [`TempFile::commit`].
pub struct TempFile<'a> {
    dir: &'a DirHandle,
    name: String,
    file: std::fs::File,
}

impl TempFile<'_> {
    /// The open file, for writing.
    pub fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// Flushes the file to disk and gives it its final `name` in the same
    /// directory. With `replace`, whatever is at `name` (a file, or a
    /// symlink, which is replaced itself, not followed) is replaced
    /// atomically; without, the commit fails with `AlreadyExists` if
    /// anything is there, even if it appeared during the write.
    pub fn commit(self, name: &str, replace: bool) -> io::Result<()> {
        self.file.sync_all()?;
        self.commit_unsynced(name, replace)
    }

    /// [`TempFile::commit`] without flushing the file first: readers still
    /// never see half a file, but after a power loss the file may be empty.
    /// For output that is cheap to make again (generated pages).
    pub fn commit_unsynced(mut self, name: &str, replace: bool) -> io::Result<()> {
        let target = plain_name(name)?;
        let dir = &self.dir.dir;
        if replace {
            dir.rename(&self.name, dir, target)?;
        } else {
            // A hard link never replaces: the no-overwrite promise holds
            // even against a file created meanwhile.
            match dir.hard_link(&self.name, dir, target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
                // A file system without hard links: check, then rename.
                Err(_) => match dir.symlink_metadata(target) {
                    Ok(_) => return Err(io::ErrorKind::AlreadyExists.into()),
                    Err(_) => {
                        dir.rename(&self.name, dir, target)?;
                        self.name.clear();
                        return Ok(());
                    }
                },
            }
            let _ = dir.remove_file(&self.name);
        }
        self.name.clear();
        Ok(())
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            let _ = self.dir.dir.remove_file(&self.name);
        }
    }
}

/// `name` as one plain path component (no separator, not `.` or `..`).
fn plain_name(name: &str) -> io::Result<&OsStr> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(n)), None) => Ok(n),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a plain file name"),
        )),
    }
}

fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn escape() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a path led outside of the filesystem",
    )
}

/// cap-std's "a path led outside" (no OS code), or the kernel's EXDEV from
/// `RESOLVE_BENEATH`.
fn is_escape(e: &io::Error) -> bool {
    const EXDEV: i32 = 18;
    match e.raw_os_error() {
        Some(code) => code == EXDEV,
        None => e.kind() == io::ErrorKind::PermissionDenied,
    }
}

/// The canonical name `abs` has, or would have once created: its nearest
/// existing ancestor's canonical name plus the rest. A name only: what it
/// names may change before it is opened.
pub fn canonical_name(abs: &Path) -> PathBuf {
    let mut existing = lexical_normalize(abs);
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut name = existing.canonicalize().unwrap_or(existing);
    for part in rest.iter().rev() {
        name.push(part);
    }
    name
}

/// Removes `.` and resolves `..` by name, without touching the disk.
pub fn lexical_normalize(path: &Path) -> PathBuf {
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

impl FsError {
    /// The path concerned and the error as an OS-style error, for callers
    /// whose own error type wraps `io::Error`.
    pub fn into_io(self) -> (PathBuf, io::Error) {
        let message = self.to_string();
        match self {
            FsError::Io { path, source } => (path, source),
            FsError::NotFound(path) => (path, io::ErrorKind::NotFound.into()),
            FsError::Outside { path, .. } => (
                path,
                io::Error::new(io::ErrorKind::PermissionDenied, message),
            ),
            FsError::WrongKind { path, .. } => {
                (path, io::Error::new(io::ErrorKind::InvalidInput, message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root `ws` with `ws/inner/a.rs`, and `outside/secret.rs` beside it.
    fn layout() -> (tempfile::TempDir, PathBuf, PathBuf, Roots) {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("ws");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("inner/a.rs"), "inside").unwrap();
        std::fs::write(outside.join("secret.rs"), "secret").unwrap();
        let roots = Roots::open(std::slice::from_ref(&root));
        (tmp, root, outside, roots)
    }

    fn read(roots: &Roots, path: &str) -> Result<String, FsError> {
        roots.read_to_string(Path::new(path), 1024).map(|(_, t)| t)
    }

    #[test]
    fn dotdot_cannot_leave_the_root() {
        let (_tmp, root, outside, roots) = layout();
        assert_eq!(read(&roots, "inner/a.rs").unwrap(), "inside");
        assert_eq!(read(&roots, "inner/../inner/./a.rs").unwrap(), "inside");
        for p in ["../outside/secret.rs", "inner/../../outside/secret.rs"] {
            assert!(
                matches!(read(&roots, p), Err(FsError::Outside { .. })),
                "{p}"
            );
        }
        let abs = outside.join("secret.rs");
        assert!(matches!(
            read(&roots, abs.to_str().unwrap()),
            Err(FsError::Outside { .. })
        ));
        // Missing inside is "missing"; missing outside is still "outside".
        assert!(matches!(
            read(&roots, "inner/nope.rs"),
            Err(FsError::NotFound(_))
        ));
        assert!(matches!(
            read(&roots, "../nope.rs"),
            Err(FsError::Outside { .. })
        ));
        assert!(matches!(
            roots.open_dir(Path::new("../made"), true),
            Err(FsError::Outside { .. })
        ));
        assert!(!root.parent().unwrap().join("made").exists());
    }

    #[test]
    fn absolute_symlinks_lead_only_where_the_root_reaches() {
        let (_tmp, root, outside, roots) = layout();
        symlink(outside.join("secret.rs"), root.join("abs_out.rs")).unwrap();
        symlink(&outside, root.join("abs_out_dir")).unwrap();
        symlink("../outside/secret.rs", root.join("rel_out.rs")).unwrap();
        symlink(root.join("inner/a.rs"), root.join("abs_in.rs")).unwrap();
        symlink("inner/a.rs", root.join("rel_in.rs")).unwrap();
        for p in [
            "abs_out.rs",
            "abs_out_dir/secret.rs",
            "rel_out.rs",
            "inner/../abs_out.rs",
        ] {
            match read(&roots, p) {
                Err(FsError::Outside { path, .. }) => assert!(path.starts_with(&outside), "{p}"),
                other => panic!("{p}: {:?}", other.map(|_| ())),
            }
            assert!(!roots.is_file(Path::new(p)), "{p}");
        }
        // Symlinks inside the root keep working, with the real name.
        for p in ["abs_in.rs", "rel_in.rs"] {
            let (name, text) = roots.read_to_string(Path::new(p), 1024).unwrap();
            assert_eq!((name, text.as_str()), (root.join("inner/a.rs"), "inside"));
        }
        assert!(matches!(
            roots.open_dir(Path::new("abs_out_dir/new"), true),
            Err(FsError::Outside { .. })
        ));
        assert!(!outside.join("new").exists());
    }

    #[test]
    fn a_symlink_from_one_root_into_another_leads_beneath_that_root() {
        let (_tmp, root, outside, _) = layout();
        let other = root.parent().unwrap().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("b.rs"), "other").unwrap();
        symlink(&other, root.join("to_other")).unwrap();
        symlink(&outside, other.join("to_outside")).unwrap();
        let roots = Roots::open(&[root.clone(), other.clone()]);
        let (name, text) = roots
            .read_to_string(Path::new("to_other/b.rs"), 1024)
            .unwrap();
        assert_eq!((name, text.as_str()), (other.join("b.rs"), "other"));
        assert!(matches!(
            read(&roots, "to_other/to_outside/secret.rs"),
            Err(FsError::Outside { .. })
        ));
    }

    #[test]
    fn symlink_loops_fail_instead_of_hanging() {
        let (_tmp, root, _outside, roots) = layout();
        symlink(root.join("self"), root.join("self")).unwrap();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        for p in ["self", "a", "b/x.rs"] {
            assert!(matches!(read(&roots, p), Err(FsError::Io { .. })), "{p}");
            assert!(roots.resolve(Path::new(p)).is_err(), "{p}");
        }
    }

    #[test]
    fn a_symlink_at_the_target_or_a_temporary_name_is_never_written_through() {
        let (_tmp, root, outside, roots) = layout();
        let victim = outside.join("secret.rs");
        let dir = roots.open_dir(Path::new("out"), true).unwrap();
        symlink(&victim, root.join("out/report.md")).unwrap();
        // Without replace: refused, the link and its target untouched.
        let mut tmp = dir.temp_file("report.md").unwrap();
        std::io::Write::write_all(tmp.file(), b"new").unwrap();
        let err = tmp.commit("report.md", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // With replace: the link itself is replaced.
        dir.write_file("report.md", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        let meta = std::fs::symlink_metadata(root.join("out/report.md")).unwrap();
        assert!(meta.is_file());
        // No temporary file is left behind, committed or not.
        let left: Vec<_> = std::fs::read_dir(root.join("out")).unwrap().collect();
        assert_eq!(left.len(), 1);
        // Names that are not one plain component are refused.
        for bad in ["../x", "a/b", "..", ""] {
            assert!(dir.temp_file(bad).is_err(), "{bad}");
        }
        assert!(dir.open_nofollow("report.md").is_ok());
        symlink(&victim, root.join("out/link.md")).unwrap();
        assert!(dir.open_nofollow("link.md").is_err());
    }

    #[test]
    fn an_opened_directory_swapped_for_a_symlink_keeps_receiving_the_writes() {
        let (_tmp, root, outside, roots) = layout();
        let dir = roots.open_dir(Path::new("out"), true).unwrap();
        std::fs::rename(root.join("out"), root.join("moved")).unwrap();
        symlink(&outside, root.join("out")).unwrap();
        dir.write_file("index.md", b"x").unwrap();
        assert!(root.join("moved/index.md").is_file());
        assert!(!outside.join("index.md").exists());
        // Opened again now, it is refused.
        assert!(matches!(
            roots.open_dir(Path::new("out"), false),
            Err(FsError::Outside { .. })
        ));
    }
}
