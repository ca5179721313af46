//! The MCP surface: one file per subsystem with its `#[tool]` adapters. An
//! adapter validates arguments, calls the domain and shapes the result; it
//! holds no domain logic.
//!
//! Each subsystem contributes a `ToolRouter`; [`SmartServer::new`] merges the
//! routers of the toolsets the config enables, so a disabled toolset's tools
//! are neither listed nor callable.
//!
//! Which shape a tool takes (the rule for a new tool):
//! - Arguments: [`args::Parameters<T>`] (rmcp's extractor with errors that
//!   name the field). [`transport::bulk_args::BulkParams<T>`] only for a tool
//!   listed in `BULK_TOOLS`, whose calls run to hundreds of kilobytes
//!   (`check_metric`, `check_metrics`); it names its schema with
//!   `input_schema = input_schema::<T>()`.
//! - Results: [`output::Summarized<T>`] (structured result plus one line a
//!   model reads) for a new tool and for any tool whose answer can be large;
//!   [`output::Charted<T>`] when the tool can also draw a chart (an image
//!   block). rmcp's `Json<T>` (structured result plus its whole JSON copy as
//!   text) stays on the tools that had it, whose text clients and prompts
//!   already read; do not change a tool's shape once published.
//! - Everything under [`transport`] is below rmcp and knows no tool.

pub mod alerting;
pub mod args;
pub mod audit;
pub mod budget;
pub mod cost;
pub mod docs;
pub mod error;
pub mod events;
pub mod http;
pub mod logging;
pub mod output;
pub mod prompts;
pub mod roots;
pub mod schema;
pub mod system;
pub mod transport;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler, tool_handler};

use crate::app::App;
use crate::config::Toolset;

pub use error::{ToolError, ToolResult, max_chars, max_chars_opt};

/// The MCP server: the shared [`App`] plus the merged tool router.
#[derive(Clone)]
pub struct SmartServer {
    pub(crate) app: Arc<App>,
    /// Shared by every connection's handler (an HTTP request clones the
    /// handler; the router's 43 routes are not copied).
    tool_router: Arc<ToolRouter<SmartServer>>,
    /// This connection's `resources/subscribe` URIs (events toolset).
    pub(crate) events_push: Arc<events::ResourcePush>,
    /// Tools of the enabled toolsets that the selection hides, sorted
    /// (decided once, at start).
    pub(crate) hidden_tools: Arc<[String]>,
    /// This connection's client roots, when `--root` gives none.
    pub(crate) client_roots: Arc<roots::ClientRoots>,
    /// Each tool's output schema with its field descriptions, as
    /// `generate_api_spec {source: "mcp_tools"}` documents it (`tools/list`
    /// carries the lean shape: see [`schema::lean_output`]).
    pub(crate) full_outputs: Arc<std::collections::HashMap<String, Arc<rmcp::model::JsonObject>>>,
    /// The bound on one answer (`--max-answer-tokens`).
    pub(crate) budget: budget::AnswerBudget,
    /// Served over HTTP: the client's declared roots are not used.
    pub(crate) remote: bool,
    /// Over HTTP: the counters `/metrics` shows.
    metrics: Option<Arc<http::metrics::Metrics>>,
    /// Over HTTP with `--audit-calls`: each tool call is written to the
    /// audit trail before it is answered.
    audit_calls: bool,
    /// Tool calls running now, over every connection (the HTTP drain waits
    /// for them).
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// What each served tool needs of an HTTP token.
    scopes: Arc<std::collections::HashMap<String, http::auth::ToolScope>>,
}

impl std::fmt::Debug for SmartServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartServer")
            .field("tools", &self.tool_router.list_all().len())
            .finish()
    }
}

impl SmartServer {
    /// Builds the server over opened state, with the tools of every enabled
    /// toolset.
    pub fn new(app: Arc<App>) -> Self {
        let mut tool_router = Self::router_of(&app.config.toolsets);
        let mut hidden = Vec::new();
        for tool in tool_router.list_all() {
            let read_only = tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            if !app.config.tools.serves(&tool.name, read_only) {
                tool_router.remove_route(&tool.name);
                hidden.push(tool.name.to_string());
            }
        }
        hidden.sort();
        let mut full_outputs = std::collections::HashMap::new();
        for route in tool_router.map.values_mut() {
            schema::make_portable(&mut route.attr);
            if let Some(out) = route.attr.output_schema.clone()
                && !app.config.tools.full_output_schemas
            {
                let full = serde_json::Value::Object((*out).clone());
                if let serde_json::Value::Object(lean) = schema::lean_output(&full) {
                    route.attr.output_schema = Some(Arc::new(lean));
                }
                full_outputs.insert(route.attr.name.to_string(), out);
            }
        }
        let scopes = scopes_of(&tool_router, &app.config.toolsets);
        SmartServer {
            budget: budget::AnswerBudget::new(app.config.max_answer_tokens),
            app,
            tool_router: Arc::new(tool_router),
            events_push: Arc::default(),
            hidden_tools: hidden.into(),
            client_roots: Arc::default(),
            full_outputs: Arc::new(full_outputs),
            remote: false,
            metrics: None,
            audit_calls: false,
            in_flight: Arc::default(),
            scopes: Arc::new(scopes),
        }
    }

    /// This server for HTTP: file tools use `--root` only, calls are
    /// counted in `metrics` and, with `audit_calls`, written to the audit
    /// trail (see [`http`]).
    pub fn over_http(mut self, metrics: Arc<http::metrics::Metrics>, audit_calls: bool) -> Self {
        self.remote = true;
        self.metrics = Some(metrics);
        self.audit_calls = audit_calls;
        self
    }

    /// A handler for a new connection: the shared state and tool list, with
    /// this connection's own subscriptions and client roots.
    pub fn connection(&self) -> Self {
        SmartServer {
            events_push: Arc::default(),
            client_roots: Arc::default(),
            ..self.clone()
        }
    }

    /// Tool calls running now, over every connection.
    pub fn calls_in_flight(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.in_flight.clone()
    }

    /// What each served tool needs of a token: its toolset and whether it
    /// only reads.
    pub fn tool_scopes(&self) -> Arc<std::collections::HashMap<String, http::auth::ToolScope>> {
        self.scopes.clone()
    }

    /// Every tool of `toolsets` (before `--read-only`, `--tools` and
    /// `--disable-tools` select among them).
    fn router_of(toolsets: &[Toolset]) -> ToolRouter<SmartServer> {
        let mut tool_router = Self::system_router();
        let on = |t: Toolset| toolsets.contains(&t);
        if on(Toolset::Alerting) {
            tool_router.merge(Self::alerting_router());
        }
        if on(Toolset::Audit) {
            tool_router.merge(Self::audit_router());
        }
        if on(Toolset::Cost) {
            tool_router.merge(Self::cost_router());
        }
        if on(Toolset::Docs) {
            tool_router.merge(Self::docs_router());
        }
        if on(Toolset::Events) {
            tool_router.merge(Self::events_router());
        }
        tool_router
    }

    /// Names of every tool of `toolsets`, sorted: what `--tools` and
    /// `--disable-tools` may name.
    pub fn available_tools(toolsets: &[Toolset]) -> Vec<String> {
        sorted_names(&Self::router_of(toolsets))
    }

    /// The tools this server exposes, as `tools/list` shows them.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }

    /// How many tools this server exposes.
    pub fn tool_count(&self) -> usize {
        self.tool_router.map.len()
    }

    /// Names of the tools this server exposes, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        sorted_names(&self.tool_router)
    }
}

impl SmartServer {
    /// The router's call, after answering `arguments` that are not an
    /// object with invalid params (rmcp cannot parse such a call; see
    /// `transport::bulk_args`) and a tool outside an HTTP token's grant.
    async fn run_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        if let Some(e) = transport::bulk_args::rejected_arguments(request.arguments.as_ref()) {
            return Err(e);
        }
        if !self.tool_router.has_route(&request.name) {
            return Err(ErrorData::invalid_params(
                unknown_tool_message(&request.name, &self.app.config.tools),
                None,
            ));
        }
        let name = request.name.clone();
        let read_only = self.scopes.get(name.as_ref()).is_some_and(|s| s.read_only);
        if let Some(grant) = http::grant_of(&context.extensions)
            && !self.tool_allowed(grant, &name)
        {
            return Err(ErrorData::invalid_params(
                format!(
                    "the token of {} may not call {}",
                    crate::quote::quote(&grant.subject),
                    crate::quote::quote(&name)
                ),
                None,
            ));
        }
        let _running = InFlight::enter(&self.in_flight);
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(call).await?;
        Ok(self.budget.check(&name, read_only, response))
    }

    /// Whether an HTTP token's grant covers a served tool.
    fn tool_allowed(&self, grant: &http::auth::Grant, name: &str) -> bool {
        self.scopes
            .get(name)
            .is_some_and(|scope| grant.allows(*scope))
    }
}

/// What each tool of `router` needs of a token: its toolset (none for the
/// system tools) and whether it only reads.
fn scopes_of(
    router: &ToolRouter<SmartServer>,
    toolsets: &[Toolset],
) -> std::collections::HashMap<String, http::auth::ToolScope> {
    let mut owner = std::collections::HashMap::new();
    for toolset in toolsets.iter().copied() {
        let own = match toolset {
            Toolset::Alerting => SmartServer::alerting_router(),
            Toolset::Audit => SmartServer::audit_router(),
            Toolset::Cost => SmartServer::cost_router(),
            Toolset::Docs => SmartServer::docs_router(),
            Toolset::Events => SmartServer::events_router(),
        };
        for tool in own.list_all() {
            owner.insert(tool.name.to_string(), toolset);
        }
    }
    router
        .list_all()
        .into_iter()
        .map(|tool| {
            let read_only = tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false);
            let toolset = owner.get(tool.name.as_ref()).copied();
            let scope = http::auth::ToolScope { toolset, read_only };
            (tool.name.to_string(), scope)
        })
        .collect()
}

/// Counts a tool call (or, in the HTTP gate, a request) as running until
/// dropped.
pub(crate) struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    pub(crate) fn enter(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The names of a router's tools, sorted.
fn sorted_names(router: &ToolRouter<SmartServer>) -> Vec<String> {
    let mut names: Vec<String> = router
        .list_all()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// The error for a call to a tool this server does not serve: names it
/// (quoted short) and says whether the selection may hide it.
fn unknown_tool_message(name: &str, selection: &crate::config::ToolSelection) -> String {
    let shown = crate::quote::quote(name);
    let hidden = selection.read_only || selection.only.is_some() || !selection.disabled.is_empty();
    if hidden {
        format!(
            "unknown tool {shown}: not served by this server (the tools it serves are in \
             tools/list; --read-only, --tools or --disable-tools may hide it)"
        )
    } else {
        format!("unknown tool {shown}; tools/list shows the tools this server serves")
    }
}

/// How long a 2026-07-28 client may treat a list that only changes with the
/// process (tools, resource templates) as fresh: 10 minutes.
pub const STATIC_LIST_TTL_MS: u64 = 600_000;

/// Sets the cache hints of a static list for peers of the 2026-07-28
/// revision (older peers get none: the fields do not exist for them).
fn cache_hint(
    ttl_ms: &mut Option<u64>,
    scope: &mut Option<rmcp::model::CacheScope>,
    context: &RequestContext<RoleServer>,
) {
    let stateless = context
        .protocol_version()
        .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28);
    *ttl_ms = stateless.then_some(STATIC_LIST_TTL_MS);
    *scope = stateless.then_some(rmcp::model::CacheScope::Public);
}

const INSTRUCTIONS: &str = "Smart systems of an NBA analytics platform. \
Call server_info for the enabled toolsets and data dir. Tools validate their \
arguments and answer errors that name the field at fault.";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SmartServer {
    /// `SmartServer::run_tool`; over HTTP the call is also counted for
    /// `/metrics` and, with `--audit-calls`, audited before it is answered.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        if self.metrics.is_none() {
            return self.run_tool(request, context).await;
        }
        let started = std::time::Instant::now();
        let name = request.name.clone();
        let digest = self
            .audit_calls
            .then(|| http::calls::arguments_digest(request.arguments.as_ref()));
        let subject = http::grant_of(&context.extensions)
            .map(|g| g.subject.clone())
            .unwrap_or_else(|| http::ANONYMOUS.into());
        let response = self.run_tool(request, context).await;
        let outcome = http::calls::outcome_of(&response);
        let took = started.elapsed();
        if let Some(metrics) = &self.metrics {
            metrics.record_call(&name, outcome, took);
        }
        if let (Some(digest), Some(audit)) = (digest, &self.app.audit) {
            http::calls::record(audit, &subject, &name, outcome, took, &digest).await;
        }
        response
    }

    /// The client's roots changed: the next file tool asks again.
    async fn on_roots_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<RoleServer>,
    ) {
        self.client_roots.invalidate();
    }

    fn get_info(&self) -> ServerConfig {
        // rmcp rejects methods of capabilities not advertised: resources and
        // their subscriptions exist only with the events toolset.
        let mut capabilities = if self.app.config.enabled(Toolset::Events) {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        capabilities.logging = Some(rmcp::model::JsonObject::new());
        if self.has_prompts() {
            capabilities.prompts = Some(rmcp::model::PromptsCapability::default());
        }
        if self.has_prompts() || self.app.config.enabled(Toolset::Events) {
            capabilities.completions = Some(rmcp::model::JsonObject::new());
        }
        ServerConfig::new(capabilities)
            .with_server_info({
                let mut info =
                    Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
                info.title = Some("Smart Systems (NBA analytics platform)".into());
                info.description = Some(
                    "Events pub/sub, a tamper-evident audit trail, an AWS cost optimizer, \
                     a documentation generator and smart alerting, as MCP tools."
                        .into(),
                );
                info
            })
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.events_list_resources().await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, ErrorData> {
        let mut result = rmcp::model::ListPromptsResult::with_all_items(self.prompt_list());
        cache_hint(&mut result.ttl_ms, &mut result.cache_scope, &context);
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, ErrorData> {
        self.prompt_get(request).map(Into::into)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        logging::set_level(context.peer.clone(), request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, ErrorData> {
        self.completion(request).await
    }

    /// The tool list: fixed for the life of the process, so 2026-07-28
    /// clients may cache it for [`STATIC_LIST_TTL_MS`].
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, ErrorData> {
        let mut tools = self.tool_router.list_all();
        if let Some(grant) = http::grant_of(&context.extensions) {
            tools.retain(|t| self.tool_allowed(grant, &t.name));
        }
        let mut result = rmcp::model::ListToolsResult::with_all_items(tools);
        cache_hint(&mut result.ttl_ms, &mut result.cache_scope, &context);
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let mut result = self.events_resource_templates();
        cache_hint(&mut result.ttl_ms, &mut result.cache_scope, &context);
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.events_read_resource(&request.uri)
            .await
            .map(Into::into)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.events_listen(context).await
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.events_subscribe(&request.uri, context.peer).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.events_unsubscribe(&request.uri)
    }
}
