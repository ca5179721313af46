//! Which directories a connection's file tools may touch: the `--root`
//! directories when the server was given any, otherwise the roots the client
//! declares (`roots/list`), otherwise none, and the file tools refuse with
//! an error saying how to grant one.
//!
//! The one design choice: there is no implicit root. A desktop client starts
//! servers with `/` as their working directory, so "the working directory"
//! would mean the whole disk. Client roots are asked for lazily, by the first
//! file tool call that needs them (a tool call runs in its own task, so it
//! may wait on a request to the client), cached for the connection, and
//! dropped when the client sends `notifications/roots/list_changed`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::service::{Peer, RoleServer};

use super::{SmartServer, ToolError};
use crate::fsroot::Roots;

/// How long a file tool waits for the client's `roots/list` answer.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(10);

/// What the file tools answer when no root is known.
pub const NO_ROOT: &str = "no workspace root: file tools read and write only under roots. \
Start the server with --root DIR (or SMART_SYSTEMS_ROOTS=DIR, ':'-separated), \
or use a client that declares roots (roots/list) and add the directory there";

/// What the file tools answer over HTTP when the server has no `--root`.
pub const NO_ROOT_HTTP: &str = "no workspace root: over HTTP, file tools read and write only \
under the server's own --root directories (a remote client's roots name nothing on this \
machine). Start the server with --root DIR (or SMART_SYSTEMS_ROOTS=DIR, ':'-separated)";

/// One connection's client roots, once asked for.
#[derive(Debug, Default)]
pub struct ClientRoots {
    cached: Mutex<Option<Arc<Roots>>>,
}

impl ClientRoots {
    /// Forgets the cached roots: the client said its list changed.
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }

    fn get(&self) -> Option<Arc<Roots>> {
        self.cached.lock().ok().and_then(|c| c.clone())
    }

    fn set(&self, roots: Arc<Roots>) {
        if let Ok(mut c) = self.cached.lock() {
            *c = Some(roots);
        }
    }
}

impl SmartServer {
    /// The roots this call's file access is confined to: `--root` when
    /// configured, else the client's declared roots, else an error naming
    /// the ways to grant one.
    #[allow(deprecated)] // roots: deprecated in 2026-07-28, current in 2025-11-25
    pub(crate) async fn workspace(&self, peer: &Peer<RoleServer>) -> Result<Arc<Roots>, ToolError> {
        if !self.app.workspace.is_empty() {
            return Ok(self.app.workspace.clone());
        }
        if self.remote {
            return Err(ToolError::failed(NO_ROOT_HTTP));
        }
        if let Some(roots) = self.client_roots.get() {
            return Ok(roots);
        }
        let declares = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if !declares {
            return Err(ToolError::failed(NO_ROOT));
        }
        let asked = tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await;
        let listed = match asked {
            Ok(Ok(listed)) => listed,
            Ok(Err(e)) => {
                return Err(ToolError::failed(format!(
                    "{NO_ROOT} (asking the client for its roots failed: {e})"
                )));
            }
            Err(_) => {
                return Err(ToolError::failed(format!(
                    "{NO_ROOT} (the client did not answer roots/list within {} s)",
                    ROOTS_TIMEOUT.as_secs()
                )));
            }
        };
        let paths: Vec<PathBuf> = listed
            .roots
            .iter()
            .filter_map(|r| file_path(&r.uri))
            .collect();
        if paths.is_empty() {
            return Err(ToolError::failed(format!(
                "{NO_ROOT} (the client declares no file:// root)"
            )));
        }
        let roots = Arc::new(Roots::open(&paths));
        self.client_roots.set(roots.clone());
        Ok(roots)
    }
}

/// The local directory a root URI names: `file://` URIs only (the spec's
/// only kind), percent-decoded, made canonical when it exists.
fn file_path(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    let path = url.to_file_path().ok()?;
    Some(std::fs::canonicalize(&path).unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_path("file:///tmp/a%20b"),
            Some(PathBuf::from("/tmp/a b"))
        );
        assert_eq!(file_path("https://example.com/x"), None);
        assert_eq!(file_path("not a uri"), None);
    }
}
