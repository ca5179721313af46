//! MCP adapters of the `docs` toolset: `generate_docs`, `generate_api_spec`,
//! `generate_diagram`. They validate arguments, run the domain in
//! `crate::docs` on a blocking thread (parsing and file IO), forward
//! per-file progress when the client sent a `progressToken`, and shape the
//! results.

use std::path::Path;

use super::args::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SmartServer;
use super::budget::AnswerBudget;
use super::error::{ToolError, max_chars, max_chars_opt};
use crate::docs::api::{self, Endpoint, OpenApiVersion, SpecFormat};
use crate::docs::diagram::{self, Component, Connection, Interaction};
use crate::docs::tools_ref::{self, ToolDoc};
use crate::docs::{self, DocsError};

/// Arguments of `generate_docs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateDocsArgs {
    /// Crate directory, `src/` directory or `.rs` file; or a Python package,
    /// project, directory or `.py` file; under the roots (relative: from the
    /// first root).
    pub path: String,
    /// Which language (default auto: by what `path` holds).
    #[serde(default)]
    #[schemars(extend("enum" = ["auto", "rust", "python"]))]
    pub language: Option<String>,
    /// Directory under the roots for one Markdown file per module and
    /// `index.md`; without it the Markdown comes back in `pages`.
    #[serde(default)]
    pub output_dir: Option<String>,
    /// Private and `#[doc(hidden)]` items too (default: the public API).
    #[serde(default)]
    pub include_private: bool,
    /// Return `items` (`{kind, path, documented}`), 200 per call.
    #[serde(default)]
    pub list_items: bool,
    /// `next_cursor` from the previous call, to get the next pages/items.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Number of documented items per kind (Rust kinds for a crate, Python
/// kinds for Python; the others stay 0).
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
    /// Python classes (Python only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<usize>,
    /// Python methods, functions in a class body (Python only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<usize>,
    /// Python properties (Python only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<usize>,
    /// Python module and class attributes (Python only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<usize>,
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
    /// Rust: `module`, `struct`, `enum`, `union`, `trait`, `function`,
    /// `constant`, `static`, `type_alias`, `macro`; Python: `module`,
    /// `class`, `function`, `method`, `property`, `attribute`.
    pub kind: String,
    /// Path as users name it: `crate::a::Item`, `pkg.mod.Class.method`.
    pub path: String,
    /// Has a doc comment.
    pub documented: bool,
    /// Part of the public API (false only with `include_private`).
    pub public: bool,
}

/// Result of `generate_docs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GenerateDocsOutput {
    /// The language read: `rust` or `python`.
    pub language: String,
    /// Crate name (Python: the project or package name).
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
    /// Files that did not parse, missing module files, `#[path]` cycles
    /// (the first ones, when the answer bound cuts the list).
    pub problems: Vec<ProblemOut>,
    /// How many problems there are in all.
    pub problems_total: usize,
    /// Markdown files written (with `output_dir`; the first ones, when the
    /// answer bound cuts the list).
    pub files_written: Vec<String>,
    /// How many files were written in all.
    pub files_written_total: usize,
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

/// Cuts the lists of a `generate_docs` answer to the answer bound (pages
/// and items are paged already): problems first kept, then undocumented
/// items, then written files; the `_total` fields count them all.
fn fit_docs_answer(out: &mut GenerateDocsOutput, budget: AnswerBudget) {
    if budget.max_tokens().is_none()
        || budget.fits(&serde_json::to_string(&*out).unwrap_or_default())
    {
        return;
    }
    let problems = std::mem::take(&mut out.problems);
    let undocumented = std::mem::take(&mut out.undocumented);
    let files = std::mem::take(&mut out.files_written);
    let mut used = AnswerBudget::tokens_of(&*out) + 200;
    if budget.max_tokens().is_some_and(|m| used >= m) {
        // The page itself is over the bound (one item longer than a page,
        // like a 160 KB type): cutting the lists would not bring it under.
        out.problems = problems;
        out.undocumented = undocumented;
        out.files_written = files;
        return;
    }
    let n = budget.prefix(&problems, used).min(problems.len());
    out.problems = problems.into_iter().take(n).collect();
    used += AnswerBudget::tokens_of(&out.problems);
    let n = budget.prefix(&undocumented, used).min(undocumented.len());
    out.undocumented = undocumented.into_iter().take(n).collect();
    used += AnswerBudget::tokens_of(&out.undocumented);
    let n = budget.prefix(&files, used).min(files.len());
    out.files_written = files.into_iter().take(n).collect();
}

/// Longest path argument (`path`, `output_dir`) or module path, in
/// characters (Linux's PATH_MAX).
const MAX_PATH: usize = 4096;
/// Longest `cursor`, in characters (ours are far shorter).
const MAX_CURSOR: usize = 256;
/// Longest API title or version, in characters.
const MAX_API_TEXT: usize = 200;

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
        DocsError::WouldOverwrite(_) => ToolError::invalid("output_dir", message),
        DocsError::NoSuchModule(_) => ToolError::invalid("module", message),
        DocsError::BadCursor(_) => ToolError::invalid("cursor", message),
        DocsError::Cancelled => ToolError::failed("cancelled by the client"),
        DocsError::Io { .. } => ToolError::failed(message),
    }
}

/// Runs `work` on its own thread, forwarding per-file progress to the
/// client when it asked for it and stopping when the request is cancelled.
async fn with_progress<T: Send + 'static>(
    ctx: &RequestContext<RoleServer>,
    what: &'static str,
    work: impl FnOnce(&mut docs::Progress<'_>) -> Result<T, DocsError> + Send + 'static,
) -> Result<T, DocsError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let ct = ctx.ct.clone();
    // A dedicated thread with a large stack rather than spawn_blocking: syn
    // parses recursively, and source files are client-controlled input.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("docs-worker".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let mut on_file = |n: usize, file: &Path| {
                if ct.is_cancelled() {
                    return false;
                }
                let _ = tx.send((n, file.display().to_string()));
                true
            };
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut on_file)));
            let _ = done_tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(DocsError::io("(docs worker thread)", e));
    }
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
    match done_rx.await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(DocsError::io(
            "(docs worker)",
            std::io::Error::other("the analysis failed unexpectedly; see the server log"),
        )),
        Err(_) => Err(DocsError::io(
            "(docs worker)",
            std::io::Error::other("worker ended without a result"),
        )),
    }
}

/// Stack of the analysis thread: deep enough for syn on nesting up to the
/// walker's bracket-depth limit.
const WORKER_STACK: usize = 64 * 1024 * 1024;

/// What `generate_api_spec` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecSource {
    /// The `endpoints` given in this call. The default.
    #[default]
    Endpoints,
    /// This MCP server's own tools (names, descriptions, input and output
    /// JSON Schemas) as a Markdown reference.
    McpTools,
}

/// Arguments of `generate_api_spec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateApiSpecArgs {
    /// `endpoints` (default): OpenAPI from `endpoints`; `mcp_tools`: this
    /// server's tools as Markdown, paged.
    #[serde(default)]
    pub source: SpecSource,
    /// API title (required with `endpoints`).
    #[serde(default)]
    pub title: Option<String>,
    /// API version, e.g. `1.0.0` (required with `endpoints`).
    #[serde(default)]
    pub version: Option<String>,
    /// The endpoints; path parameters in `{braces}` are declared automatically.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Default `3.1`.
    #[serde(default)]
    pub openapi_version: OpenApiVersion,
    /// Default `json`.
    #[serde(default)]
    pub format: SpecFormat,
    /// `mcp_tools`: `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Result of `generate_api_spec`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GenerateApiSpecOutput {
    /// `endpoints` or `mcp_tools`.
    pub source: String,
    /// The OpenAPI document in the requested format (empty for `mcp_tools`).
    pub spec: String,
    /// `json` or `yaml`.
    pub format: String,
    /// `3.1.0` or `3.0.3` (empty for `mcp_tools`).
    pub openapi_version: String,
    /// Markdown reference: the API's endpoints, or this server's tools.
    pub markdown: String,
    /// Endpoints or tools documented.
    pub count: usize,
    /// Path parameters that were declared automatically, as `METHOD /path: name`.
    pub declared_path_parameters: Vec<String>,
    /// `mcp_tools`: pass as `cursor` for the rest of the Markdown; absent
    /// on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Characters of Markdown per `generate_api_spec {source: "mcp_tools"}`
/// page: about 12k tokens, within the answer bound with JSON escaping.
const TOOLS_PAGE_CHARS: usize = 36_000;

/// The page of `whole` starting at `cursor` (a byte offset, as the
/// previous page's `next_cursor` gave it), cut at a line end, and the
/// cursor of the next page.
fn markdown_page(whole: &str, cursor: Option<&str>) -> Result<(String, Option<String>), ToolError> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .strip_prefix("md:")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < whole.len() && whole.is_char_boundary(n))
            .ok_or_else(|| {
                ToolError::invalid(
                    "cursor",
                    "not a cursor of this listing: pass `next_cursor` as given",
                )
            })?,
    };
    let rest = &whole[start..];
    if rest.len() <= TOOLS_PAGE_CHARS {
        return Ok((rest.to_string(), None));
    }
    let mut cut = TOOLS_PAGE_CHARS;
    while !rest.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = rest[..cut].rfind('\n').map_or(cut, |i| i + 1);
    Ok((rest[..cut].to_string(), Some(format!("md:{}", start + cut))))
}

/// Which diagram `generate_diagram` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiagramKind {
    /// Flowchart of `components` (shape by type) and `connections`.
    Architecture,
    /// sequenceDiagram of `interactions` between `participants`.
    Sequence,
    /// Flowchart of the modules of the crate at `path` and their `use crate::..` dependencies.
    ModuleGraph,
    /// classDiagram of the structs, enums and traits of the crate at `path`
    /// (only `module` and its submodules when given).
    TypeGraph,
}

impl DiagramKind {
    fn name(self) -> &'static str {
        match self {
            DiagramKind::Architecture => "architecture",
            DiagramKind::Sequence => "sequence",
            DiagramKind::ModuleGraph => "module_graph",
            DiagramKind::TypeGraph => "type_graph",
        }
    }
}

/// The type graph with as many classes as the answer bound allows (the
/// answer carries the Mermaid text twice: `mermaid` and `markdown`);
/// `truncated` says when classes were left out, and `module` draws a part.
fn type_graph_within(
    code: &docs::generate::CodeBase,
    module: Option<&str>,
    budget: AnswerBudget,
) -> Result<diagram::Diagram, DocsError> {
    let mut classes = diagram::MAX_CLASSES;
    loop {
        let d = code.type_graph(module, classes)?;
        let Some(max) = budget.max_tokens() else {
            return Ok(d);
        };
        // As the answer spells it: a JSON string, escapes included.
        let needed = 2 * AnswerBudget::tokens_of(&d.mermaid) + 500;
        if needed <= max * 95 / 100 || classes == 1 {
            return Ok(d);
        }
        classes =
            ((classes as f64 * max as f64 / needed as f64 * 0.9) as usize).clamp(1, classes - 1);
    }
}

/// Arguments of `generate_diagram`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateDiagramArgs {
    /// Which diagram; the arguments below say which kind uses them.
    pub kind: DiagramKind,
    /// architecture: the boxes.
    #[serde(default)]
    pub components: Vec<Component>,
    /// architecture: arrows between component ids.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// sequence: participants in display order (default: as they appear).
    #[serde(default)]
    pub participants: Vec<String>,
    /// sequence: the messages.
    #[serde(default)]
    pub interactions: Vec<Interaction>,
    /// module_graph, type_graph: crate, `src/` directory or `.rs` file, or Python code, under the roots.
    #[serde(default)]
    pub path: Option<String>,
    /// type_graph: only this module and its submodules (`docs::model`, `pkg.sub`).
    #[serde(default)]
    pub module: Option<String>,
}

/// Result of `generate_diagram`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GenerateDiagramOutput {
    /// The kind drawn.
    pub kind: String,
    /// Mermaid source.
    pub mermaid: String,
    /// The same in a ```mermaid fence, ready to paste into Markdown.
    pub markdown: String,
    /// Nodes, participants or classes drawn.
    pub nodes: usize,
    /// Edges, messages or relations drawn.
    pub edges: usize,
    /// The code graph was larger than the limit and was cut: a type graph
    /// past 150 classes (fewer when the answer bound needs it; `module` draws
    /// a part whole), a module graph past 450 arrows (Mermaid refuses 500).
    pub truncated: bool,
}

fn only_for(args: &GenerateDiagramArgs) -> Result<(), ToolError> {
    let k = args.kind;
    let checks: [(&str, bool, &[DiagramKind]); 6] = [
        (
            "components",
            !args.components.is_empty(),
            &[DiagramKind::Architecture],
        ),
        (
            "connections",
            !args.connections.is_empty(),
            &[DiagramKind::Architecture],
        ),
        (
            "participants",
            !args.participants.is_empty(),
            &[DiagramKind::Sequence],
        ),
        (
            "interactions",
            !args.interactions.is_empty(),
            &[DiagramKind::Sequence],
        ),
        (
            "path",
            args.path.is_some(),
            &[DiagramKind::ModuleGraph, DiagramKind::TypeGraph],
        ),
        ("module", args.module.is_some(), &[DiagramKind::TypeGraph]),
    ];
    for (field, given, kinds) in checks {
        if given && !kinds.contains(&k) {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            return Err(ToolError::invalid(
                field,
                format!(
                    "is only used by kind {}, not {}",
                    names.join(" and "),
                    k.name()
                ),
            ));
        }
    }
    Ok(())
}

#[tool_router(router = docs_router, vis = "pub(crate)")]
impl SmartServer {
    /// Documents a Rust crate from source (nothing is compiled) as Markdown files in
    /// `output_dir` or pages in the answer, with doc coverage and the undocumented public
    /// items.
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
        max_chars("path", &args.path, MAX_PATH)?;
        max_chars_opt("output_dir", &args.output_dir, MAX_PATH)?;
        max_chars_opt("cursor", &args.cursor, MAX_CURSOR)?;
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
        let language = match args.language.as_deref().map(str::trim) {
            None | Some("auto") => docs::generate::Language::Auto,
            Some("rust") => docs::generate::Language::Rust,
            Some("python") => docs::generate::Language::Python,
            Some(other) => {
                return Err(ToolError::invalid(
                    "language",
                    format!(
                        "{} is not a language read here; use auto, rust or python",
                        crate::quote::quote(other)
                    ),
                ));
            }
        };
        let output_dir = args.output_dir.clone();
        let req = docs::DocsRequest {
            path: args.path,
            language,
            output_dir: args.output_dir,
            include_private: args.include_private,
            list_items: args.list_items,
            cursor: args.cursor,
            data_dir: Some(self.app.store.data_dir().to_path_buf()),
        };
        let roots = self.workspace(&ctx.peer).await?;
        let run = with_progress(&ctx, "generate_docs", move |on_file| {
            docs::generate_docs(&req, &roots, on_file)
        })
        .await
        .map_err(|e| docs_error(e, output_dir.as_deref()))?;
        let mut counts = ItemCounts::default();
        if run.language == "python" {
            counts.class = Some(0);
            counts.method = Some(0);
            counts.property = Some(0);
            counts.attribute = Some(0);
        }
        for (kind, n) in &run.stats.counts {
            let slot = match *kind {
                "module" => &mut counts.module,
                "struct" => &mut counts.struct_,
                "enum" => &mut counts.enum_,
                "union" => &mut counts.union,
                "trait" => &mut counts.trait_,
                "function" => &mut counts.function,
                "constant" => &mut counts.constant,
                "static" => &mut counts.static_,
                "type_alias" => &mut counts.type_alias,
                "macro" => &mut counts.macro_,
                "class" => counts.class.get_or_insert(0),
                "method" => counts.method.get_or_insert(0),
                "property" => counts.property.get_or_insert(0),
                "attribute" => counts.attribute.get_or_insert(0),
                _ => continue,
            };
            *slot = *n;
        }
        let mut out = GenerateDocsOutput {
            language: run.language.to_string(),
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
                .map(|(k, p)| format!("{k} {p}"))
                .collect(),
            problems_total: run.problems.len(),
            files_written_total: run.files_written.len(),
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
        };
        fit_docs_answer(&mut out, self.budget);
        Ok(Json(out))
    }

    /// Builds an OpenAPI document (3.1 or 3.0, JSON or YAML) and a Markdown reference from
    /// endpoints, or (`mcp_tools`) documents this server's tools.
    #[tool(
        name = "generate_api_spec",
        annotations(
            title = "Generate OpenAPI spec",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn generate_api_spec(
        &self,
        Parameters(args): Parameters<GenerateApiSpecArgs>,
    ) -> Result<Json<GenerateApiSpecOutput>, ToolError> {
        if args.source == SpecSource::McpTools {
            let tools: Vec<ToolDoc> = self
                .tools()
                .into_iter()
                .map(|t| ToolDoc {
                    name: t.name.to_string(),
                    title: t
                        .title
                        .clone()
                        .or_else(|| t.annotations.as_ref().and_then(|a| a.title.clone())),
                    description: t.description.as_deref().unwrap_or("").to_string(),
                    input_schema: serde_json::Value::Object((*t.input_schema).clone()),
                    output_schema: self
                        .full_outputs
                        .get(t.name.as_ref())
                        .or(t.output_schema.as_ref())
                        .map(|o| serde_json::Value::Object((**o).clone())),
                    read_only: t.annotations.as_ref().and_then(|a| a.read_only_hint),
                    destructive: t.annotations.as_ref().and_then(|a| a.destructive_hint),
                })
                .collect();
            let whole = tools_ref::markdown(env!("CARGO_PKG_NAME"), &tools);
            let (markdown, next_cursor) = markdown_page(&whole, args.cursor.as_deref())?;
            return Ok(Json(GenerateApiSpecOutput {
                source: "mcp_tools".into(),
                spec: String::new(),
                format: "markdown".into(),
                openapi_version: String::new(),
                markdown,
                count: tools.len(),
                declared_path_parameters: Vec::new(),
                next_cursor,
            }));
        }
        max_chars_opt("title", &args.title, MAX_API_TEXT)?;
        max_chars_opt("version", &args.version, MAX_API_TEXT)?;
        let title = args
            .title
            .ok_or_else(|| ToolError::invalid("title", "required: the API title"))?;
        let version = args.version.ok_or_else(|| {
            ToolError::invalid("version", "required: the API version, e.g. 1.0.0")
        })?;
        let spec = api::build(
            &title,
            &version,
            &args.endpoints,
            args.openapi_version,
            args.format,
        )
        .map_err(|e| ToolError::invalid(e.field, e.message))?;
        Ok(Json(GenerateApiSpecOutput {
            source: "endpoints".into(),
            format: match args.format {
                SpecFormat::Json => "json".into(),
                SpecFormat::Yaml => "yaml".into(),
            },
            openapi_version: spec.document["openapi"].as_str().unwrap_or("").to_string(),
            spec: spec.text,
            markdown: spec.markdown,
            count: args.endpoints.len(),
            declared_path_parameters: spec.declared_path_parameters,
            next_cursor: None,
        }))
    }

    /// Draws a Mermaid diagram that always parses: an architecture
    /// flowchart, a sequence diagram, or a Rust crate's module graph or type
    /// graph (classDiagram) read from `path`.
    #[tool(
        name = "generate_diagram",
        annotations(
            title = "Generate Mermaid diagram",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn generate_diagram(
        &self,
        Parameters(args): Parameters<GenerateDiagramArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<GenerateDiagramOutput>, ToolError> {
        max_chars_opt("path", &args.path, MAX_PATH)?;
        max_chars_opt("module", &args.module, MAX_PATH)?;
        only_for(&args)?;
        let kind = args.kind;
        let d = match kind {
            DiagramKind::Architecture => diagram::architecture(&args.components, &args.connections)
                .map_err(|e| ToolError::invalid(e.field, e.message))?,
            DiagramKind::Sequence => {
                let participants =
                    (!args.participants.is_empty()).then_some(args.participants.as_slice());
                diagram::sequence(participants, &args.interactions)
                    .map_err(|e| ToolError::invalid(e.field, e.message))?
            }
            DiagramKind::ModuleGraph | DiagramKind::TypeGraph => {
                let path = args
                    .path
                    .filter(|p| !p.trim().is_empty())
                    .ok_or_else(|| ToolError::invalid("path", "required for module_graph and type_graph: a crate directory, src/ directory or .rs file"))?;
                let roots = self.workspace(&ctx.peer).await?;
                let module = args.module;
                let budget = self.budget;
                with_progress(&ctx, "generate_diagram", move |on_file| {
                    let code = docs::generate::CodeBase::load(&path, &roots, on_file)?;
                    match kind {
                        DiagramKind::ModuleGraph => Ok(code.module_graph()),
                        _ => type_graph_within(&code, module.as_deref(), budget),
                    }
                })
                .await
                .map_err(|e| docs_error(e, None))?
            }
        };
        Ok(Json(GenerateDiagramOutput {
            kind: kind.name().into(),
            markdown: format!("```mermaid\n{}```\n", d.mermaid),
            mermaid: d.mermaid,
            nodes: d.nodes,
            edges: d.edges,
            truncated: d.truncated,
        }))
    }
}
