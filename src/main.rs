//! The `smart-systems-mcp` binary: flags and environment -> [`Config`], logs to
//! stderr, MCP on stdin/stdout until EOF or SIGTERM/SIGINT, or over
//! Streamable HTTP with `--http` until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;
use smart_systems_mcp::config::{
    AwsSettings, ClusterSettings, Config, HttpSettings, OAuthSettings, PricingSource,
    ToolSelection, Toolset, default_data_dir, normalize_root, validate_namespace,
};
use smart_systems_mcp::{App, SmartServer};
use tracing_subscriber::EnvFilter;

/// An MCP server (stdio) with the smart systems of an NBA analytics platform:
/// events, audit, cost, docs and alerting tools.
#[derive(Debug, Parser)]
#[command(name = "smart-systems-mcp", version, about, long_about = None)]
struct Cli {
    /// Directory for the embedded store and keys [default: $XDG_DATA_HOME/smart-systems-mcp,
    /// else ~/.local/share/smart-systems-mcp]; created when missing.
    #[arg(long, env = "SMART_SYSTEMS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Serve only the tools annotated read-only (no tool that writes,
    /// publishes, erases or changes state is listed or callable).
    #[arg(long, env = "SMART_SYSTEMS_READ_ONLY")]
    read_only: bool,

    /// List each tool's full output schema (every field described, nested
    /// objects spelled out) instead of the lean shape that keeps the tool
    /// list small: for code generators and validating clients.
    #[arg(long, env = "SMART_SYSTEMS_FULL_OUTPUT_SCHEMAS")]
    full_output_schemas: bool,

    /// Serve only these tools of the enabled toolsets, comma-separated
    /// (`server_info` always); an unknown name is a startup error.
    #[arg(
        long,
        env = "SMART_SYSTEMS_TOOLS",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    tools: Vec<String>,

    /// Do not serve these tools, comma-separated (e.g. `erase_subject`); an
    /// unknown name is a startup error.
    #[arg(
        long,
        env = "SMART_SYSTEMS_DISABLE_TOOLS",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    disable_tools: Vec<String>,

    /// Toolsets to expose, comma-separated [default: all].
    #[arg(
        long,
        env = "SMART_SYSTEMS_TOOLSETS",
        value_enum,
        value_delimiter = ',',
        value_name = "LIST"
    )]
    toolsets: Vec<Toolset>,

    /// Directory that file-reading and file-writing tools may touch; repeat
    /// for several (the env var takes a ':'-separated list) [default: the
    /// roots the client declares; none: file tools refuse].
    #[arg(
        long = "root",
        env = "SMART_SYSTEMS_ROOTS",
        value_delimiter = ':',
        value_name = "DIR"
    )]
    roots: Vec<PathBuf>,

    /// Keys of audit entries' `details` that hold personal data, comma-separated
    /// (stored apart from the hash chain and removed by `erase_subject`);
    /// `user_email`, `ip_address` and `user_agent` always are.
    #[arg(
        long,
        env = "SMART_SYSTEMS_PII_FIELDS",
        value_delimiter = ',',
        value_name = "KEYS"
    )]
    pii_fields: Vec<String>,

    /// Most open (firing, acknowledged, silenced) alerts; at the cap a point
    /// opens no new alert and its answer says so.
    #[arg(long, env = "SMART_SYSTEMS_MAX_OPEN_ALERTS", value_name = "N",
          default_value_t = smart_systems_mcp::alerting::engine::DEFAULT_MAX_OPEN_ALERTS)]
    max_open_alerts: usize,

    /// Most resolved alerts kept; the oldest beyond it are deleted.
    #[arg(long, env = "SMART_SYSTEMS_MAX_RESOLVED_ALERTS", value_name = "N",
          default_value_t = smart_systems_mcp::alerting::engine::DEFAULT_MAX_RESOLVED_ALERTS)]
    max_resolved_alerts: usize,

    /// Log filter for stderr: a level (error, warn, info, debug, trace) or
    /// tracing directives such as `smart_systems_mcp=debug,rmcp=warn`
    /// [default: $RUST_LOG, else info].
    #[arg(long, env = "SMART_SYSTEMS_LOG_LEVEL", value_name = "FILTER")]
    log_level: Option<String>,

    /// When a publish returns: `commit` (once in the store's WAL; survives a
    /// crash of the server) or `always` (once fsync'd; survives power loss;
    /// concurrent publishes share an fsync).
    #[arg(
        long,
        env = "SMART_SYSTEMS_EVENTS_FSYNC",
        value_enum,
        default_value = "commit",
        value_name = "MODE"
    )]
    events_fsync: smart_systems_mcp::events::FsyncMode,

    /// Events kept per topic (the oldest are deleted beyond it); 0 = unlimited.
    #[arg(
        long,
        env = "SMART_SYSTEMS_EVENTS_MAX_EVENTS",
        default_value_t = smart_systems_mcp::events::retention::DEFAULT_MAX_EVENTS,
        value_name = "N"
    )]
    events_max_events: u64,

    /// Age beyond which events are deleted, per topic (`90s`, `15m`, `12h`,
    /// `7d`); 0 = unlimited.
    #[arg(
        long,
        env = "SMART_SYSTEMS_EVENTS_MAX_AGE",
        default_value = "7d",
        value_name = "DURATION"
    )]
    events_max_age: String,

    /// Retention for the topics a pattern matches, overriding the defaults:
    /// `PATTERN [max_events=N] [max_age=DURATION]`, e.g.
    /// `nba.games.> max_events=1000 max_age=1h`; repeat for several (the env
    /// var takes a ';'-separated list); the first matching rule wins.
    #[arg(
        long,
        env = "SMART_SYSTEMS_EVENTS_RETENTION",
        value_delimiter = ';',
        value_name = "RULE"
    )]
    events_retention: Vec<String>,

    /// AWS named profile for the cost toolset [default: the standard AWS
    /// chain: $AWS_PROFILE, else `default`].
    #[arg(long, env = "SMART_SYSTEMS_AWS_PROFILE", value_name = "NAME")]
    aws_profile: Option<String>,

    /// AWS home region for the cost toolset: global calls and reports that
    /// name no regions [default: $AWS_REGION, else the profile's region].
    #[arg(long, env = "SMART_SYSTEMS_AWS_REGION", value_name = "REGION")]
    aws_region: Option<String>,

    /// Endpoint URL for every AWS service, e.g. an emulator such as moto
    /// (`http://127.0.0.1:5000`) [default: the real AWS endpoints].
    #[arg(long, env = "SMART_SYSTEMS_AWS_ENDPOINT_URL", value_name = "URL")]
    aws_endpoint_url: Option<String>,

    /// Where cost estimates take prices from: `table` (embedded, dated
    /// us-east-1 list prices) or `live` (AWS Price List API, cached, falling
    /// back to the table).
    #[arg(
        long,
        env = "SMART_SYSTEMS_PRICING",
        value_enum,
        default_value = "table"
    )]
    pricing: PricingSource,

    /// Events on NATS JetStream (`nats://host:port`) instead of the embedded
    /// SQLite log, so processes on several machines share one stream.
    #[arg(long, env = "SMART_SYSTEMS_EVENTS_URL", value_name = "URL")]
    events_url: Option<String>,

    /// Audit trail, alerting state and subscriptions in PostgreSQL
    /// (`postgres://user:password@host:port/db`) instead of the embedded
    /// SQLite store, so processes on several machines share one chain.
    #[arg(long, env = "SMART_SYSTEMS_STORE_URL", value_name = "URL")]
    store_url: Option<String>,

    /// Name of the shared deployment on NATS and PostgreSQL (stream, subject
    /// prefix, schema): processes with the same namespace share state;
    /// `a-z`, `0-9`, `_`.
    #[arg(
        long,
        env = "SMART_SYSTEMS_NAMESPACE",
        default_value = smart_systems_mcp::config::DEFAULT_NAMESPACE,
        value_name = "NAME"
    )]
    namespace: String,

    /// Size of the SQLite store's write-ahead log, in MiB, past which the
    /// commit that crossed it checkpoints and truncates it (at least 1).
    #[arg(
        long,
        env = "SMART_SYSTEMS_WAL_LIMIT_MIB",
        default_value_t = smart_systems_mcp::store::wal::DEFAULT_WAL_LIMIT >> 20,
        value_parser = clap::value_parser!(u64).range(1..=1 << 20),
        value_name = "MIB"
    )]
    wal_limit_mib: u64,

    /// Most tokens (o200k) one tool answer carries: list tools end their
    /// page early (the rest comes with `next_cursor` or the next poll),
    /// batch answers cut their per-item lists, and any other answer over it
    /// is refused with how to ask for less. 0 lifts the bound (scripts that
    /// want whole pages).
    #[arg(
        long,
        env = "SMART_SYSTEMS_MAX_ANSWER_TOKENS",
        default_value_t = smart_systems_mcp::config::DEFAULT_MAX_ANSWER_TOKENS,
        value_parser = answer_tokens,
        value_name = "N"
    )]
    max_answer_tokens: usize,

    /// Serve MCP over Streamable HTTP at `http://ADDR/mcp` instead of stdio
    /// (e.g. `127.0.0.1:8080`); a non-loopback address needs --auth-tokens.
    #[arg(long, env = "SMART_SYSTEMS_HTTP", value_name = "ADDR")]
    http: Option<String>,

    /// With --http: bearer tokens that may call the server, a JSON file of
    /// SHA-256 digests with subject, toolsets and read-only flag (see
    /// docs/http.md); reloaded on SIGHUP.
    #[arg(long, env = "SMART_SYSTEMS_AUTH_TOKENS", value_name = "FILE")]
    auth_tokens: Option<PathBuf>,

    /// With --http: `Host` names (`name` or `name:port`) to accept besides
    /// localhost and the bind address, comma-separated (DNS-rebinding
    /// protection refuses the others with 403).
    #[arg(
        long,
        env = "SMART_SYSTEMS_HTTP_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    http_allowed_hosts: Vec<String>,

    /// With --http: the URL clients reach the server at, e.g.
    /// `https://mcp.example.com` behind a proxy, named in the OAuth
    /// protected-resource metadata [default: http:// + the request's Host].
    #[arg(long, env = "SMART_SYSTEMS_HTTP_PUBLIC_URL", value_name = "URL")]
    http_public_url: Option<String>,

    /// With --http: requests one subject (token) may have running at once;
    /// more get 429 with Retry-After. 0 = no limit.
    #[arg(long, env = "SMART_SYSTEMS_HTTP_MAX_CONCURRENT", value_name = "N",
          default_value_t = smart_systems_mcp::server::http::limits::DEFAULT_MAX_CONCURRENT)]
    http_max_concurrent: usize,

    /// With --http: requests one subject (token) may start per second
    /// (bursts of one second's worth); more get 429 with Retry-After.
    /// 0 = no limit.
    #[arg(
        long,
        env = "SMART_SYSTEMS_HTTP_RATE_LIMIT",
        value_name = "N",
        default_value_t = 0
    )]
    http_rate_limit: u32,

    /// With --http: accept JWT access tokens from this OAuth authorization
    /// server (their `iss`); needs --oauth-audience and --oauth-jwks.
    #[arg(long, env = "SMART_SYSTEMS_OAUTH_ISSUER", value_name = "URL")]
    oauth_issuer: Option<String>,

    /// With --oauth-issuer: the `aud` tokens must carry (this server's
    /// resource identifier, e.g. its public URL).
    #[arg(long, env = "SMART_SYSTEMS_OAUTH_AUDIENCE", value_name = "AUD")]
    oauth_audience: Option<String>,

    /// With --oauth-issuer: the issuer's public keys, a JWK set file
    /// (`{"keys": [...]}`, each with a `kid`); reloaded on SIGHUP.
    #[arg(long, env = "SMART_SYSTEMS_OAUTH_JWKS", value_name = "FILE")]
    oauth_jwks: Option<PathBuf>,

    /// With --http: write every tool call to the audit trail (subject, tool,
    /// outcome, duration, SHA-256 of the arguments, never their values)
    /// before answering it.
    #[arg(long, env = "SMART_SYSTEMS_AUDIT_CALLS")]
    audit_calls: bool,
}

/// `--max-answer-tokens`: 0, or at least 1,000 (less would refuse even a
/// short page).
fn answer_tokens(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n == 0 || n >= 1000 => Ok(n),
        _ => Err(format!(
            "{s:?} is not 0 (no bound) or a number of tokens from 1000 up"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.log_level.as_deref()) {
        eprintln!("smart-systems-mcp: --log-level: {e}");
        return ExitCode::from(2);
    }
    let config = match build_config(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smart-systems-mcp: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smart-systems-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config));
    // A blocking stdin read (when stdin is not a pipe) cannot be cancelled;
    // do not let it hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

fn init_logging(filter: Option<&str>) -> Result<(), String> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(quiet_aws_sdk(f)).map_err(|e| e.to_string())?,
        None => std::env::var(EnvFilter::DEFAULT_ENV)
            .ok()
            .and_then(|f| EnvFilter::try_new(quiet_aws_sdk(&f)).ok())
            .unwrap_or_else(|| EnvFilter::new(quiet_aws_sdk("info"))),
    };
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(stderr)
        .with(smart_systems_mcp::server::logging::layer())
        .init();
    Ok(())
}

/// The AWS SDK logs every credential provider it tries (kilobytes of
/// warnings about the instance metadata service when there are no
/// credentials) and its retries: its targets are silenced unless the filter
/// asks for debug or trace, or names an aws target itself. The tools report
/// what failed in their own words.
fn quiet_aws_sdk(filter: &str) -> String {
    let lower = filter.to_ascii_lowercase();
    if lower.contains("aws") || lower.contains("debug") || lower.contains("trace") {
        return filter.to_string();
    }
    let mut text = filter.to_string();
    for target in [
        "aws_config",
        "aws_smithy",
        "aws_sdk",
        "aws_runtime",
        "aws_credential_types",
        "aws_types",
    ] {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(target);
        text.push_str("=off");
    }
    text
}

fn build_config(cli: Cli) -> Result<Config, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let data_dir = cli.data_dir.unwrap_or_else(|| {
        default_data_dir(
            std::env::var("XDG_DATA_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        )
    });
    let data_dir = if data_dir.is_absolute() {
        data_dir
    } else {
        cwd.join(data_dir)
    };
    // No implicit root: without --root the client's declared roots apply
    // (see server::roots), so a server started in `/` cannot write there.
    let mut roots: Vec<PathBuf> = Vec::new();
    for r in cli.roots.iter().filter(|r| !r.as_os_str().is_empty()) {
        let root = normalize_root(r, &cwd);
        if !root.is_dir() {
            return Err(format!("--root {}: not a directory", r.display()));
        }
        roots.push(root);
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    if let Some(url) = non_empty(cli.aws_endpoint_url.clone())
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!(
            "--aws-endpoint-url {url}: expected an http:// or https:// URL"
        ));
    }
    let aws = AwsSettings {
        profile: non_empty(cli.aws_profile),
        region: non_empty(cli.aws_region),
        endpoint_url: non_empty(cli.aws_endpoint_url),
        pricing: cli.pricing,
    };
    let cluster = cluster_settings(
        non_empty(cli.events_url),
        non_empty(cli.store_url),
        cli.namespace,
    )?;
    let mut config = Config::new(data_dir, roots)
        .with_toolsets(cli.toolsets)
        .with_pii_fields(cli.pii_fields)
        .with_aws(aws);
    config.cluster = cluster;
    config.wal_limit = cli.wal_limit_mib << 20;
    config.max_answer_tokens = cli.max_answer_tokens;
    let names = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    };
    let only = names(cli.tools);
    config.tools = ToolSelection {
        read_only: cli.read_only,
        only: (!only.is_empty()).then_some(only),
        disabled: names(cli.disable_tools),
        full_output_schemas: cli.full_output_schemas,
    };
    let available = SmartServer::available_tools(&config.toolsets);
    let unknown = config.tools.unknown(&available);
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown
            .iter()
            .map(|n| smart_systems_mcp::quote::quote(n))
            .collect();
        return Err(format!(
            "--tools/--disable-tools: no tool {} in the enabled toolsets; they have: {}",
            shown.join(", "),
            available.join(", ")
        ));
    }
    config.alert_limits = smart_systems_mcp::alerting::engine::AlertLimits {
        max_open: cli.max_open_alerts,
        max_resolved: cli.max_resolved_alerts,
    };
    let oauth = oauth_settings(
        non_empty(cli.oauth_issuer),
        non_empty(cli.oauth_audience),
        cli.oauth_jwks.filter(|p| !p.as_os_str().is_empty()),
        &cwd,
    )?;
    config.http = http_settings(
        non_empty(cli.http),
        cli.auth_tokens.filter(|p| !p.as_os_str().is_empty()),
        oauth,
        cli.http_allowed_hosts,
        non_empty(cli.http_public_url),
        &cwd,
    )?;
    match &mut config.http {
        Some(http) => {
            http.max_concurrent = cli.http_max_concurrent;
            http.rate_limit = cli.http_rate_limit;
            http.audit_calls = cli.audit_calls;
        }
        None if cli.audit_calls => return Err("--audit-calls applies to --http only".into()),
        None => {}
    }
    config.events = events_config(
        cli.events_fsync,
        cli.events_max_events,
        &cli.events_max_age,
        &cli.events_retention,
    )?;
    Ok(config)
}

fn oauth_settings(
    issuer: Option<String>,
    audience: Option<String>,
    jwks: Option<PathBuf>,
    cwd: &std::path::Path,
) -> Result<Option<OAuthSettings>, String> {
    match (issuer, audience, jwks) {
        (None, None, None) => Ok(None),
        (Some(issuer), Some(audience), Some(jwks)) => Ok(Some(OAuthSettings {
            issuer,
            audience,
            jwks: if jwks.is_absolute() {
                jwks
            } else {
                cwd.join(jwks)
            },
        })),
        _ => Err(
            "--oauth-issuer, --oauth-audience and --oauth-jwks go together: give all three".into(),
        ),
    }
}

fn http_settings(
    addr: Option<String>,
    auth_tokens: Option<PathBuf>,
    oauth: Option<OAuthSettings>,
    allowed_hosts: Vec<String>,
    public_url: Option<String>,
    cwd: &std::path::Path,
) -> Result<Option<HttpSettings>, String> {
    let Some(addr) = addr else {
        if auth_tokens.is_some() || public_url.is_some() || oauth.is_some() {
            return Err(
                "--auth-tokens, --oauth-* and --http-public-url apply to --http only".into(),
            );
        }
        return Ok(None);
    };
    let addr: std::net::SocketAddr = addr.trim().parse().map_err(|_| {
        format!("--http {addr}: expected IP:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    })?;
    if let Some(url) = &public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!(
            "--http-public-url {url}: expected an http:// or https:// URL"
        ));
    }
    let settings = HttpSettings {
        addr,
        allowed_hosts: allowed_hosts
            .into_iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect(),
        auth_tokens: auth_tokens.map(|p| if p.is_absolute() { p } else { cwd.join(p) }),
        public_url,
        max_concurrent: 0,
        rate_limit: 0,
        audit_calls: false,
        oauth,
    };
    if !addr.ip().is_loopback() && !settings.authenticates() {
        return Err(format!(
            "--http {addr}: refusing to serve a non-loopback address without authentication; \
             give --auth-tokens FILE or --oauth-issuer/--oauth-audience/--oauth-jwks, \
             or bind 127.0.0.1"
        ));
    }
    Ok(Some(settings))
}

fn cluster_settings(
    events_url: Option<String>,
    store_url: Option<String>,
    namespace: String,
) -> Result<ClusterSettings, String> {
    if let Some(url) = &events_url
        && !url.starts_with("nats://")
    {
        return Err(format!(
            "--events-url {url}: expected a nats://host:port URL"
        ));
    }
    if let Some(url) = &store_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        return Err("--store-url: expected a postgres:// or postgresql:// URL \
             (the value is not shown: it may hold a password)"
            .into());
    }
    validate_namespace(&namespace).map_err(|e| format!("--namespace {e}"))?;
    Ok(ClusterSettings {
        events_url,
        store_url,
        namespace,
    })
}

fn events_config(
    fsync: smart_systems_mcp::events::FsyncMode,
    max_events: u64,
    max_age: &str,
    rules: &[String],
) -> Result<smart_systems_mcp::events::EventsConfig, String> {
    use smart_systems_mcp::events::retention::{self, Limits, Retention};
    let max_age =
        retention::parse_duration(max_age).map_err(|e| format!("--events-max-age: {e}"))?;
    let rules: Vec<String> = rules
        .iter()
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .collect();
    let rules = retention::parse_rules(&rules).map_err(|e| e.to_string())?;
    Ok(smart_systems_mcp::events::EventsConfig {
        fsync,
        retention: Retention {
            default: Limits {
                max_events: Some(max_events),
                max_age: Some(max_age),
            },
            rules,
        },
    })
}

async fn serve(config: Config) -> ExitCode {
    let app = match App::open(config) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot open the store: {e}");
            eprintln!("smart-systems-mcp: cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(settings) = app.config.http.clone() {
        return match smart_systems_mcp::server::http::serve(app, settings, shutdown_signal()).await
        {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("smart-systems-mcp: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let server = SmartServer::new(app.clone());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %app.store.data_dir().display(),
        toolsets = ?app.config.toolsets,
        tools = server.tool_names().len(),
        "serving MCP on stdio"
    );
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Bulk tool arguments skip rmcp's buffered decode (src/server/transport/bulk_args.rs)
    // and bulk results its `Value` tree (src/server/transport/bulk_out.rs).
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    let stdin = smart_systems_mcp::server::transport::bulk_args::LiftArgs::new(stdin);
    let stdout = smart_systems_mcp::server::transport::bulk_out::SpliceOut::new(stdout);
    // Stateless (2026-07-28) clients never send `initialize`: rmcp answers
    // their requests inside `serve`, so EOF or a signal can end the session
    // before it "starts"; both are a clean exit.
    let running = tokio::select! {
        started = server.serve((stdin, stdout)) => match started {
            Ok(r) => r,
            Err(ServerInitializeError::ConnectionClosed(_)) => {
                tracing::info!("stdin closed before an initialize handshake; exiting");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                tracing::error!("MCP session failed to start: {e}");
                return ExitCode::FAILURE;
            }
        },
        signal = &mut shutdown => {
            tracing::info!(signal, "shutting down before the handshake");
            return ExitCode::SUCCESS;
        }
    };
    let cancel = running.cancellation_token();
    let waiting = running.waiting();
    tokio::pin!(waiting);
    let result = tokio::select! {
        r = &mut waiting => r,
        signal = &mut shutdown => {
            tracing::info!(signal, "shutting down");
            cancel.cancel();
            waiting.await
        }
    };
    match result {
        Ok(reason) => {
            tracing::info!(?reason, "MCP session ended");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("MCP session task failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves with the name of the first of SIGTERM / SIGINT to arrive. The
/// handlers are installed when this is called, not when the future is first
/// polled: a select that finishes its other branch on the first poll (the
/// handshake was already buffered on stdin) would otherwise leave a window in
/// which SIGTERM kills the process with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // No signal handling: never resolve, EOF still ends the session.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}
