//! The documentation generator: Rust code to Markdown (via `syn`, no
//! compilation), OpenAPI documents, and Mermaid diagrams.
//!
//! The one design choice to know: the code analysis reads source the way the
//! compiler's module loader does (it follows `mod` declarations from the crate
//! root, honouring `#[path]`, inline modules and `mod.rs`/non-`mod.rs` files)
//! instead of globbing `*.rs`, so that item paths and visibility are exactly
//! what a user of the crate sees; the public item set is then computed the way
//! rustdoc does it (reachable through `pub` modules, or inlined where a
//! `pub use` re-exports an item from a private module).

pub mod api;
pub mod attrs;
pub mod diagram;
pub mod extract;
pub mod generate;
pub mod markdown;
pub mod mermaid;
pub mod model;
pub mod par;
pub mod paths;
pub mod public;
pub mod python;
pub mod signature;
pub mod tools_ref;
pub mod walker;

pub use generate::{DocsRequest, DocsRun, Progress, generate_docs};
pub use model::{CrateDocs, DocItem, ItemKind};

use std::path::PathBuf;

/// Why a docs operation failed as a whole (per-file problems are reported in
/// the result instead, and the run continues).
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// A path lies outside every workspace root.
    #[error("{path} is outside the workspace roots ({roots})")]
    OutsideRoots {
        /// The path as given.
        path: String,
        /// The roots, comma-separated.
        roots: String,
    },
    /// A path does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The path is not a crate directory, a `src/` directory or a `.rs` file.
    #[error("{path}: {reason}")]
    NotACrate {
        /// The path as given.
        path: String,
        /// What was looked for.
        reason: String,
    },
    /// The crate root itself could not be read or parsed.
    #[error("{file}:{line}:{column}: {message}")]
    RootUnparsable {
        /// The crate root file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A named module does not exist in the crate.
    #[error("no module `{0}` in the crate")]
    NoSuchModule(String),
    /// Writing would replace a file that `generate_docs` did not write.
    #[error(
        "{0} exists and was not written by generate_docs; choose an empty or a previous output directory"
    )]
    WouldOverwrite(PathBuf),
    /// The client cancelled the request.
    #[error("cancelled")]
    Cancelled,
    /// The paging cursor is not one this tool produced.
    #[error("{0}")]
    BadCursor(String),
}

impl DocsError {
    /// Wraps an IO error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DocsError::Io {
            path: path.into(),
            source,
        }
    }
}
