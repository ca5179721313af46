//! MCP adapters of the `docs` toolset: `generate_docs`, `generate_api_spec`,
//! `generate_diagram`. They validate arguments, run the domain in
//! `crate::docs` on a blocking thread (parsing and file IO), forward
//! per-file progress when the client sent a `progressToken`, and shape the
//! results.

use std::path::Path;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SmartServer;
use super::error::ToolError;
use crate::docs::{self, DocsError, ItemKind};

/// Arguments of `generate_docs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateDocsArgs {
    /// Crate directory (with Cargo.toml), a `src/` directory, or one `.rs`
    /// file, under the workspace roots. A relative path is taken from the
    /// first root.
    pub path: String,
    /// Directory (under the roots; created if missing) to write one Markdown
    /// file per module plus `index.md` into. Without it the Markdown is
    /// returned in `pages`, about 40,000 characters per call.
    #[serde(default)]
    pub output_dir: Option<String>,
    /// Document private and `#[doc(hidden)]` items too. Default false: the
    /// public API only (coverage always counts public items).
    #[serde(default)]
    pub include_private: bool,
    /// Return `items`: every documented item as `{kind, path, documented}`,
    /// 400 per call.
    #[serde(default)]
    pub list_items: bool,
    /// `next_cursor` from the previous call, to get the next pages/items.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Number of documented items per kind.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ItemCounts {
    /// Modules, the crate root included.
    pub module: usize,
    /// Structs.
    #[serde(rename = "struct")]
    pub struct_: usize,
    /// Enums.
    #[serde(rename = "enum")]
    pub enum_: usize,
    /// Unions.
    pub union: usize,
    /// Traits.
    #[serde(rename = "trait")]
    pub trait_: usize,
    /// Functions (free and foreign).
    pub function: usize,
    /// Constants.
    pub constant: usize,
    /// Statics.
    #[serde(rename = "static")]
    pub static_: usize,
    /// Type aliases.
    pub type_alias: usize,
    /// `#[macro_export]` macros (and, with `include_private`, local ones).
    #[serde(rename = "macro")]
    pub macro_: usize,
}

/// A file or declaration that could not be used; the rest was documented.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemOut {
    /// File concerned.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// One chunk of Markdown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PageOut {
    /// File name the page has when written (`index.md`, `<crate>.<module>.md`).
    pub name: String,
    /// Part number of that file (large pages are split), from 1.
    pub part: usize,
    /// Number of parts of that file.
    pub parts: usize,
    /// The Markdown.
    pub content: String,
}

/// One item in `items`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemOut {
    /// `module`, `struct`, `enum`, `union`, `trait`, `function`, `constant`,
    /// `static`, `type_alias` or `macro`.
    pub kind: String,
    /// Path as users name it: `crate::a::Item`.
    pub path: String,
    /// Has a doc comment.
    pub documented: bool,
    /// Part of the public API (false only with `include_private`).
    pub public: bool,
}

/// Result of `generate_docs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GenerateDocsOutput {
    /// Crate name.
    pub crate_name: String,
    /// The crate root file the analysis started at.
    pub root_file: String,
    /// Source files read.
    pub files_read: usize,
    /// Documented items per kind.
    pub item_counts: ItemCounts,
    /// Public items (modules included).
    pub public_items: usize,
    /// Public items with a doc comment.
    pub documented_public_items: usize,
    /// documented_public_items / public_items, in percent (one decimal).
    pub documented_percent: f64,
    /// Undocumented public items as `kind path` (first 200; index.md has up to 500).
    pub undocumented: Vec<String>,
    /// How many public items are undocumented.
    pub undocumented_total: usize,
    /// Files that did not parse, missing module files, `#[path]` cycles.
    pub problems: Vec<ProblemOut>,
    /// Markdown files written (with `output_dir`).
    pub files_written: Vec<String>,
    /// Markdown of this call (without `output_dir`).
    pub pages: Vec<PageOut>,
    /// Markdown chunks in total (without `output_dir`).
    pub total_pages: usize,
    /// Items of this call (with `list_items`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemOut>>,
    /// Items in total (with `list_items`).
    pub total_items: usize,
    /// Pass as `cursor` to get the next pages and items; absent when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Maps a domain error to the argument at fault.
fn docs_error(e: DocsError, output_dir: Option<&str>) -> ToolError {
    let message = e.to_string();
    match &e {
        DocsError::OutsideRoots { path, .. } | DocsError::NotFound(path) => {
            if Some(path.as_str()) == output_dir {
                ToolError::invalid("output_dir", message)
            } else {
                ToolError::invalid("path", message)
            }
        }
        DocsError::NotACrate { reason, .. } if reason.starts_with("output_dir") => {
            ToolError::invalid("output_dir", message)
        }
        DocsError::NotACrate { .. } | DocsError::RootUnparsable { .. } => {
            ToolError::invalid("path", message)
        }
        DocsError::NoSuchModule(_) => ToolError::invalid("module", message),
        DocsError::BadCursor(_) => ToolError::invalid("cursor", message),
        DocsError::Cancelled => ToolError::failed("cancelled by the client"),
        DocsError::Io { .. } => ToolError::failed(message),
    }
}

/// Runs `work` on a blocking thread, forwarding per-file progress to the
/// client when it asked for it and stopping when the request is cancelled.
async fn with_progress<T: Send + 'static>(
    ctx: &RequestContext<RoleServer>,
    what: &'static str,
    work: impl FnOnce(&mut docs::Progress<'_>) -> Result<T, DocsError> + Send + 'static,
) -> Result<T, DocsError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let ct = ctx.ct.clone();
    let handle = tokio::task::spawn_blocking(move || {
        let mut on_file = |n: usize, file: &Path| {
            if ct.is_cancelled() {
                return false;
            }
            let _ = tx.send((n, file.display().to_string()));
            true
        };
        work(&mut on_file)
    });
    match ctx.meta.get_progress_token() {
        Some(token) => {
            while let Some((n, file)) = rx.recv().await {
                let note = ProgressNotificationParam::new(token.clone(), n as f64)
                    .with_message(format!("{what}: parsed {file}"));
                if let Err(e) = ctx.peer.notify_progress(note).await {
                    tracing::debug!("progress notification not sent: {e}");
                }
            }
        }
        None => drop(rx),
    }
    handle
        .await
        .map_err(|e| DocsError::io("(worker)", std::io::Error::other(e.to_string())))?
}

#[tool_router(router = docs_router, vis = "pub(crate)")]
impl SmartServer {
    /// Documents a Rust crate from source (parsed with syn, nothing is
    /// compiled): follows `mod` declarations from lib.rs/main.rs like the
    /// compiler, records modules, structs, enums, unions, traits, functions,
    /// consts, statics, type aliases, exported macros, impls and re-exports
    /// with signature, docs, deprecation and doc examples. Writes one Markdown
    /// file per module plus index.md to `output_dir`, or returns the Markdown
    /// in pages. Reports item counts, doc coverage of the public API and the
    /// undocumented public items. Files that do not parse are reported with
    /// file:line:column and skipped. Sends progress per parsed file when the
    /// request has a progressToken.
    #[tool(
        name = "generate_docs",
        annotations(
            title = "Generate Rust API docs",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn generate_docs(
        &self,
        Parameters(args): Parameters<GenerateDocsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<GenerateDocsOutput>, ToolError> {
        if args.path.trim().is_empty() {
            return Err(ToolError::invalid(
                "path",
                "give a crate directory, a src/ directory or a .rs file",
            ));
        }
        if let Some(d) = &args.output_dir
            && d.trim().is_empty()
        {
            return Err(ToolError::invalid(
                "output_dir",
                "give a directory under the workspace roots, or omit it to get the Markdown back",
            ));
        }
        let output_dir = args.output_dir.clone();
        let req = docs::DocsRequest {
            path: args.path,
            output_dir: args.output_dir,
            include_private: args.include_private,
            list_items: args.list_items,
            cursor: args.cursor,
        };
        let roots = self.app.config.roots.clone();
        let run = with_progress(&ctx, "generate_docs", move |on_file| {
            docs::generate_docs(&req, &roots, on_file)
        })
        .await
        .map_err(|e| docs_error(e, output_dir.as_deref()))?;
        let mut counts = ItemCounts::default();
        for (kind, n) in &run.stats.counts {
            match kind {
                ItemKind::Module => counts.module = *n,
                ItemKind::Struct => counts.struct_ = *n,
                ItemKind::Enum => counts.enum_ = *n,
                ItemKind::Union => counts.union = *n,
                ItemKind::Trait => counts.trait_ = *n,
                ItemKind::Function => counts.function = *n,
                ItemKind::Constant => counts.constant = *n,
                ItemKind::Static => counts.static_ = *n,
                ItemKind::TypeAlias => counts.type_alias = *n,
                ItemKind::Macro => counts.macro_ = *n,
                ItemKind::Impl | ItemKind::Reexport => {}
            }
        }
        Ok(Json(GenerateDocsOutput {
            crate_name: run.crate_name,
            root_file: run.root_file.display().to_string(),
            files_read: run.files_read,
            item_counts: counts,
            public_items: run.stats.public_items,
            documented_public_items: run.stats.documented_public,
            documented_percent: run.stats.documented_percent(),
            undocumented_total: run.stats.undocumented.len(),
            undocumented: run
                .stats
                .undocumented
                .iter()
                .take(docs::generate::UNDOCUMENTED_LISTED)
                .map(|(k, p)| format!("{} {p}", k.name()))
                .collect(),
            problems: run
                .problems
                .into_iter()
                .map(|p| ProblemOut {
                    file: p.file.display().to_string(),
                    line: p.line,
                    column: p.column,
                    message: p.message,
                })
                .collect(),
            files_written: run
                .files_written
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            pages: run
                .pages
                .into_iter()
                .map(|p| PageOut {
                    name: p.name,
                    part: p.part,
                    parts: p.parts,
                    content: p.content,
                })
                .collect(),
            total_pages: run.total_pages,
            items: run.items.map(|items| {
                items
                    .into_iter()
                    .map(|i| ItemOut {
                        kind: i.kind.to_string(),
                        path: i.path,
                        documented: i.documented,
                        public: i.public,
                    })
                    .collect()
            }),
            total_items: run.total_items,
            next_cursor: run.next_cursor,
        }))
    }
}
