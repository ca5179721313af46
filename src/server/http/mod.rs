//! `--http`: MCP over Streamable HTTP at `/mcp` (rmcp's server: 2025-11-25
//! sessions with `Mcp-Session-Id` and SSE, and the stateless 2026-07-28
//! revision), with what a network service needs around it:
//!
//! - bearer-token authentication ([`auth`]) as an OAuth 2.1 resource
//!   server: 401 with `WWW-Authenticate: Bearer resource_metadata=...`, the
//!   RFC 9728 metadata at `/.well-known/oauth-protected-resource`, 403 for a
//!   tool outside the token's scope, and `tools/list` showing only the
//!   tools the token may call;
//! - `Host` and `Origin` validation against DNS rebinding (rmcp checks them
//!   against the list built here), a request body limit;
//! - `/healthz` (alive) and `/readyz` (the stores answer), without a token;
//! - a graceful stop: on SIGTERM no new connection is accepted, tool calls
//!   in flight finish (up to [`DRAIN_TIMEOUT`]), then streams close.
//!
//! Over HTTP the client's declared roots are not used (a remote client's
//! paths name nothing on this machine, and any client could claim `/`):
//! file tools work under `--root` only.

pub mod auth;
pub mod calls;
pub mod jwt;
pub mod limits;
pub mod metrics;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::auth::{Authenticator, Grant, StaticTokens, ToolScope};
use self::limits::{Refusal, SubjectLimits};
use self::metrics::{Metrics, Refused};
use super::SmartServer;
use crate::app::App;
use crate::config::HttpSettings;

/// Largest request body accepted (the stdio line limit): 16 MiB.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// How long a request body may take to arrive (408 after).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stop waits for tool calls in flight before closing streams.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The JSON-RPC error code of a 401 or 403 answer (in the range JSON-RPC
/// leaves to servers, clear of the codes the MCP SDKs give meanings).
pub const AUTH_ERROR_CODE: i64 = -32040;

/// The JSON-RPC error code of a 429 answer.
pub const LIMIT_ERROR_CODE: i64 = -32029;

/// What the request handlers share.
#[derive(Clone)]
struct Gate {
    app: Arc<App>,
    auth: Option<Arc<Authenticator>>,
    scopes: Arc<HashMap<String, ToolScope>>,
    public_url: Option<Arc<str>>,
    limits: Arc<SubjectLimits>,
    metrics: Arc<Metrics>,
    sessions: Arc<SessionOwners>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// POST requests past the gate whose response has not been made yet:
    /// with the calls in flight, what a stop waits for (a call counts only
    /// once its handler runs, a little after its request arrived).
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

/// Most 2025-11-25 sessions whose owner is remembered.
pub const MAX_SESSIONS: usize = 100_000;

/// The header of a 2025-11-25 session.
const SESSION_HEADER: &str = "mcp-session-id";

/// Which subject created each 2025-11-25 session: with authentication, a
/// session answers only the subject that created it (a token that learned
/// another's session id cannot use it). Entries go with `DELETE`; past
/// [`MAX_SESSIONS`] an arbitrary one is dropped (that session then answers
/// 404 and its client starts a new one).
#[derive(Debug, Default)]
struct SessionOwners(std::sync::Mutex<HashMap<String, Arc<str>>>);

impl SessionOwners {
    fn bind(&self, id: &str, subject: &Arc<str>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS
            && let Some(old) = map.keys().next().cloned()
        {
            map.remove(&old);
        }
        map.insert(id.to_string(), subject.clone());
    }

    fn owned_by(&self, id: &str, subject: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).is_some_and(|owner| &**owner == subject)
    }

    fn forget(&self, id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }
}

/// The subject of requests when the server has no authentication.
pub const ANONYMOUS: &str = "anonymous";

/// Serves until `shutdown` resolves, then drains. Errors are startup
/// errors (the address is taken, the token file is bad), in words for the
/// operator.
pub async fn serve(
    app: Arc<App>,
    settings: HttpSettings,
    shutdown: impl Future<Output = &'static str> + Send + 'static,
) -> Result<(), String> {
    let tokens = match &settings.auth_tokens {
        Some(path) => Some(StaticTokens::load(path)?),
        None => None,
    };
    let jwt = match &settings.oauth {
        Some(o) => Some(jwt::JwtVerifier::load(&o.issuer, &o.audience, &o.jwks)?),
        None => None,
    };
    let auth = Authenticator::new(tokens, jwt).map(Arc::new);
    if !settings.addr.ip().is_loopback() && auth.is_none() {
        return Err(format!(
            "--http {}: refusing to serve a non-loopback address without authentication; \
             give --auth-tokens FILE or --oauth-issuer/--oauth-audience/--oauth-jwks, \
             or bind 127.0.0.1",
            settings.addr
        ));
    }
    let base = SmartServer::new(app.clone());
    let metrics = Arc::new(Metrics::new(base.tool_names()));
    let server = base.over_http(metrics.clone(), settings.audit_calls);
    if settings.audit_calls && app.audit.is_none() {
        return Err("--audit-calls needs the audit toolset (see --toolsets)".into());
    }
    let gate = Gate {
        app: app.clone(),
        auth: auth.clone(),
        scopes: server.tool_scopes(),
        public_url: settings
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').into()),
        limits: Arc::new(SubjectLimits::new(
            settings.max_concurrent,
            settings.rate_limit,
        )),
        metrics,
        sessions: Arc::default(),
        in_flight: server.calls_in_flight(),
        requests: Arc::default(),
    };
    let requests = gate.requests.clone();
    let streams = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(&settings))
        .with_allowed_origins(allowed_origins(&settings))
        .enforce_origin_validation()
        // A 2026-07-28 call whose handler sends nothing before its result is
        // answered as plain JSON (SSE otherwise, and always in sessions).
        .with_json_response(true)
        .with_cancellation_token(streams.child_token())
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let factory = server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(factory.connection()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(gate.clone(), mcp_gate))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/readyz", get(readyz))
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .with_state(gate);
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("--http {}: cannot listen: {e}", settings.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("--http {}: {e}", settings.addr))?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        address = %local,
        auth = match &auth {
            None => "none (loopback)",
            Some(a) if a.issuer().is_some() => "bearer tokens (static and/or JWT)",
            Some(_) => "static bearer tokens",
        },
        data_dir = %app.store.data_dir().display(),
        tools = server.tool_names().len(),
        "serving MCP over Streamable HTTP at http://{local}/mcp"
    );
    if let Some(auth) = auth {
        tokio::spawn(reload_on_sighup(auth));
    }
    let in_flight = server.calls_in_flight();
    let drained = async move {
        let signal = shutdown.await;
        tracing::info!(
            signal,
            "stopping: no new connections; draining tool calls in flight"
        );
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        let busy = || in_flight.load(Ordering::Acquire) + requests.load(Ordering::Acquire);
        // A request read just before the signal reaches the gate a moment
        // later: give it that moment before the first look.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while busy() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = busy();
        if left > 0 {
            tracing::warn!(left, "drain timed out; closing with tool calls in flight");
        }
        streams.cancel();
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(drained)
        .await
        .map_err(|e| format!("--http {}: {e}", settings.addr))
}

/// `Host` values accepted: the loopback names, the bind address (when it is
/// not a wildcard) and `--http-allowed-hosts`.
fn allowed_hosts(settings: &HttpSettings) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(String::from)
        .collect();
    let ip = settings.addr.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    hosts.extend(settings.allowed_hosts.iter().cloned());
    hosts
}

/// Browser origins accepted: the allowed hosts, over http or https, on
/// any port unless the entry names one. A request without `Origin` (every
/// client that is not a browser) passes.
fn allowed_origins(settings: &HttpSettings) -> Vec<String> {
    let mut origins = Vec::new();
    for host in allowed_hosts(settings) {
        let authority = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]:*")
        } else if host.ends_with(']') || !host.contains(':') {
            format!("{host}:*")
        } else {
            host
        };
        origins.push(format!("http://{authority}"));
        origins.push(format!("https://{authority}"));
    }
    origins
}

/// The JSON-RPC fields the gate needs, read without building the whole
/// message.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(borrow, default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<PeekParams<'a>>,
}

#[derive(Deserialize)]
struct PeekParams<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
}

/// In front of `/mcp`: the bearer token (401 without a valid one), the
/// subject's limits (429), the scope of a `tools/call` (403 outside it); the
/// grant rides on to the handler in the request's extensions (it filters
/// `tools/list` and names the subject in metrics and the audit trail).
async fn mcp_gate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let grant = match &gate.auth {
        None => Grant::everything(ANONYMOUS),
        Some(auth) => match authenticate(&gate, auth, &request) {
            Ok(grant) => grant,
            Err(refusal) => return *refusal,
        },
    };
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(grant.clone());
    let session = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if gate.auth.is_some()
        && let Some(id) = &session
        && !gate.sessions.owned_by(id, &grant.subject)
    {
        // Another subject's session (or none): answered as rmcp answers an
        // unknown session, so its existence is not revealed.
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    if parts.method == axum::http::Method::DELETE {
        let response = next.run(Request::from_parts(parts, body)).await;
        if let Some(id) = &session
            && response.status().is_success()
        {
            gate.sessions.forget(id);
        }
        return response;
    }
    if parts.method != axum::http::Method::POST {
        // GET opens a session's notification stream.
        return next.run(Request::from_parts(parts, body)).await;
    }
    let _request = crate::server::InFlight::enter(&gate.requests);
    let permit = match gate.limits.admit(&grant.subject) {
        Ok(permit) => permit,
        Err(refusal) => return too_many(&gate, &grant, refusal),
    };
    // Read whole, within a time limit: a client that trickles its body
    // holds no handler (nor, with tokens, gets its scope checked late).
    let reading = axum::body::to_bytes(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, reading).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload Too Large: the limit is {MAX_BODY_BYTES} bytes"),
            )
                .into_response();
        }
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "Request Timeout: the body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
                .into_response();
        }
    };
    if gate.auth.is_some()
        && let Some(refusal) = out_of_scope(&gate, &grant, &bytes, &parts)
    {
        return refusal;
    }
    let body = Body::from(bytes);
    let response = next.run(Request::from_parts(parts, body)).await;
    if gate.auth.is_some()
        && session.is_none()
        && let Some(created) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
    {
        gate.sessions.bind(created, &grant.subject);
    }
    match permit {
        // Held until the response body (an SSE stream for a tool call in a
        // session) is finished or dropped.
        Some(permit) => response.map(|body| {
            Body::new(Holding {
                body,
                _permit: permit,
            })
        }),
        None => response,
    }
}

/// The grant of a request's bearer token, or the 401 to answer.
fn authenticate(
    gate: &Gate,
    auth: &Authenticator,
    request: &Request,
) -> Result<Grant, Box<Response>> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let refused = match presented.map(|t| auth.check(t)) {
        Some(Ok(grant)) => return Ok(grant),
        Some(Err(reason)) => Some(reason),
        None => None,
    };
    let (error, message, why) = match refused {
        Some(reason) => {
            // Quoted in a header: keep it printable and free of quotes.
            let reason: String = reason
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '"' && c != '\\' {
                        c
                    } else {
                        ' '
                    }
                })
                .take(200)
                .collect();
            (
                format!(", error=\"invalid_token\", error_description=\"{reason}\""),
                format!("Unauthorized: the bearer token is not valid here ({reason})"),
                Refused::InvalidToken,
            )
        }
        None => (
            String::new(),
            "Unauthorized: this server needs a bearer token (Authorization: Bearer TOKEN)".into(),
            Refused::MissingToken,
        ),
    };
    gate.metrics.refused(why);
    let challenge = format!(
        "Bearer resource_metadata=\"{}\"{error}",
        metadata_url_of(gate, request.headers())
    );
    Err(Box::new(challenge_response(
        StatusCode::UNAUTHORIZED,
        &challenge,
        None,
        &message,
    )))
}

/// The 429 for a subject over its limits.
fn too_many(gate: &Gate, grant: &Grant, refusal: Refusal) -> Response {
    let (wait, message, why) = match refusal {
        Refusal::Concurrency => (
            1,
            "Too Many Requests: this subject has the most requests running that it may; \
             retry when one finishes"
                .to_string(),
            Refused::Concurrency,
        ),
        Refusal::Rate(wait) => (
            wait,
            format!("Too Many Requests: over this subject's rate limit; retry in {wait} s"),
            Refused::Rate,
        ),
    };
    gate.metrics.refused(why);
    tracing::debug!(subject = %grant.subject, ?refusal, "429");
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": LIMIT_ERROR_CODE, "message": message},
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, wait.to_string()),
            (header::CONTENT_TYPE, "application/json".to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A response body that keeps a concurrency permit until it ends.
struct Holding {
    body: Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for Holding {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The 403 for a `tools/call` the grant does not cover.
fn out_of_scope(
    gate: &Gate,
    grant: &Grant,
    body: &[u8],
    parts: &axum::http::request::Parts,
) -> Option<Response> {
    let peek: Peek = serde_json::from_slice(body).ok()?;
    if peek.method.as_deref() != Some("tools/call") {
        return None;
    }
    let name = peek.params?.name?;
    let scope = *gate.scopes.get(name.as_ref())?;
    if grant.allows(scope) {
        return None;
    }
    let needed = scope.scope_string().unwrap_or_default();
    gate.metrics.refused(Refused::Scope);
    tracing::info!(subject = %grant.subject, tool = %name, needed, "refused a call outside the token's scope");
    let url = metadata_url_of(gate, &parts.headers);
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{url}\""
    );
    Some(challenge_response(
        StatusCode::FORBIDDEN,
        &challenge,
        peek.id,
        &format!(
            "Forbidden: the token of {} may not call {} (it needs scope {needed})",
            crate::quote::quote(&grant.subject),
            crate::quote::quote(&name)
        ),
    ))
}

/// A refusal with its `WWW-Authenticate` challenge and, as the body, a
/// JSON-RPC error under the request's id (clients show its message; an
/// unread request has id null).
fn challenge_response(
    status: StatusCode,
    challenge: &str,
    id: Option<serde_json::Value>,
    message: &str,
) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(serde_json::Value::Null),
        "error": {"code": AUTH_ERROR_CODE, "message": message},
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The base URL clients reach this server at: `--http-public-url`, else
/// `http://` and the request's `Host`.
fn base_url(gate: &Gate, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = &gate.public_url {
        return url.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn metadata_url_of(gate: &Gate, headers: &axum::http::HeaderMap) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        base_url(gate, headers)
    )
}

/// RFC 9728 protected-resource metadata.
async fn resource_metadata(State(gate): State<Gate>, headers: axum::http::HeaderMap) -> Response {
    let mut body = serde_json::json!({
        "resource": format!("{}/mcp", base_url(&gate, &headers)),
        "resource_name": "smart-systems-mcp",
        "bearer_methods_supported": ["header"],
        "scopes_supported": auth::all_scopes(),
    });
    if let Some(issuer) = gate.auth.as_ref().and_then(|a| a.issuer()) {
        body["authorization_servers"] = serde_json::json!([issuer]);
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `/metrics`: behind a token when the server has tokens (any valid one).
async fn metrics_text(State(gate): State<Gate>, request: Request) -> Response {
    if let Some(auth) = &gate.auth
        && let Err(refusal) = authenticate(&gate, auth, &request)
    {
        return *refusal;
    }
    let in_flight = gate.in_flight.load(Ordering::Acquire) as u64;
    let text = gate.metrics.render(&gate.app, in_flight).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Alive: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the store answers a query.
async fn readyz(State(gate): State<Gate>) -> Response {
    match gate.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

/// Reads the token file again on each SIGHUP; a bad file keeps the old
/// tokens and says why on stderr.
async fn reload_on_sighup(auth: Arc<Authenticator>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        for outcome in auth.reload() {
            match outcome {
                Ok(what) => tracing::info!("SIGHUP: reloaded {what}"),
                Err(e) => tracing::error!("SIGHUP: kept the previous contents: {e}"),
            }
        }
    }
}

/// The grant of the HTTP request behind an MCP request, when there is one.
pub(crate) fn grant_of(extensions: &rmcp::model::Extensions) -> Option<&Grant> {
    extensions
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<Grant>()
}
