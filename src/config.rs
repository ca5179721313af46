//! Runtime configuration: what the command line and the environment ask for.
//!
//! `main.rs` turns flags and `SMART_SYSTEMS_*` variables into a [`Config`]; the
//! library never reads the process environment itself, so tests and embedders
//! build a `Config` directly and get exactly the behaviour they asked for.

use std::fmt;
use std::path::{Path, PathBuf};

/// One group of tools that can be switched on or off with `--toolsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Toolset {
    /// Real-time pub/sub: topics, filters, consumer groups, replay.
    Events,
    /// Tamper-evident audit trail with proofs and compliance reports.
    Audit,
    /// AWS cost optimizer.
    Cost,
    /// Documentation generator (Rust code, OpenAPI, Mermaid).
    Docs,
    /// Static and learned alert rules with dedup, correlation and escalation.
    Alerting,
}

impl Toolset {
    /// Every toolset, in the order the README lists them.
    pub const ALL: [Toolset; 5] = [
        Toolset::Events,
        Toolset::Audit,
        Toolset::Cost,
        Toolset::Docs,
        Toolset::Alerting,
    ];

    /// The name used on the command line and in `server_info`.
    pub fn name(self) -> &'static str {
        match self {
            Toolset::Events => "events",
            Toolset::Audit => "audit",
            Toolset::Cost => "cost",
            Toolset::Docs => "docs",
            Toolset::Alerting => "alerting",
        }
    }
}

impl fmt::Display for Toolset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything the server needs to know to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory holding the SQLite store and keys; created when missing.
    pub data_dir: PathBuf,
    /// Toolsets whose tools are exposed (sorted, no duplicates).
    pub toolsets: Vec<Toolset>,
    /// Directories that file-reading and file-writing tools may touch
    /// (absolute, canonical where they exist).
    pub roots: Vec<PathBuf>,
    /// Event bus durability and retention.
    pub events: crate::events::EventsConfig,
    /// Keys of an audit entry's `details` that hold personal data (stored
    /// apart from the hashed entry and erasable), besides `user_email`,
    /// `ip_address` and `user_agent`.
    pub pii_fields: Vec<String>,
    /// How the cost toolset reaches AWS.
    pub aws: AwsSettings,
    /// Distributed backends shared by several server processes (on several
    /// machines); unset means the embedded SQLite store in `data_dir`.
    pub cluster: ClusterSettings,
    /// Size in bytes past which the SQLite store's WAL is checkpointed and
    /// truncated.
    pub wal_limit: u64,
    /// Which tools of the enabled toolsets are served.
    pub tools: ToolSelection,
    /// How many open and resolved alerts alerting keeps.
    pub alert_limits: crate::alerting::engine::AlertLimits,
    /// Most o200k tokens one tool answer carries (0: no bound).
    pub max_answer_tokens: usize,
    /// Serve MCP over Streamable HTTP instead of stdio (`--http`).
    pub http: Option<HttpSettings>,
}

/// `--http` and its companions: where the Streamable HTTP endpoint listens
/// and who may call it.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to listen on (`127.0.0.1:8080`).
    pub addr: std::net::SocketAddr,
    /// `Host` values (`name` or `name:port`) accepted besides the loopback
    /// names and the bind address (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Static bearer tokens (`--auth-tokens`): a JSON file of SHA-256
    /// digests with their subject and scope; reloaded on SIGHUP.
    pub auth_tokens: Option<PathBuf>,
    /// The URL clients reach the server at (`https://mcp.example.com`), for
    /// the protected-resource metadata; default: `http://` + the request's
    /// `Host`.
    pub public_url: Option<String>,
    /// Requests one subject may have running at once (0: no limit).
    pub max_concurrent: usize,
    /// Requests one subject may start per second (0: no limit).
    pub rate_limit: u32,
    /// Write every tool call to the audit trail (`--audit-calls`).
    pub audit_calls: bool,
    /// JWT access tokens from an OAuth authorization server.
    pub oauth: Option<OAuthSettings>,
}

/// `--oauth-issuer`, `--oauth-audience`, `--oauth-jwks`.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// The `iss` tokens must carry (the authorization server's URL).
    pub issuer: String,
    /// The `aud` tokens must carry (this server's resource identifier).
    pub audience: String,
    /// The issuer's public keys (a JWK set file); reloaded on SIGHUP.
    pub jwks: PathBuf,
}

impl HttpSettings {
    /// Whether any authentication is configured.
    pub fn authenticates(&self) -> bool {
        self.auth_tokens.is_some() || self.oauth.is_some()
    }
}

/// Default of `--max-answer-tokens`: under Claude Code's 25k refusal, with
/// room for the client's own wrapping.
pub const DEFAULT_MAX_ANSWER_TOKENS: usize = 20_000;

/// Which tools of the enabled toolsets a server lists and answers: all by
/// default; `--read-only` keeps those annotated read-only, `--tools` names
/// the ones to keep, `--disable-tools` the ones to drop. `server_info` is
/// always served: it is the health check and reports the selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolSelection {
    /// Only tools annotated `readOnlyHint: true`.
    pub read_only: bool,
    /// When set, only these tools (names).
    pub only: Option<Vec<String>>,
    /// These tools are not served (names).
    pub disabled: Vec<String>,
    /// `tools/list` carries each tool's full output schema (field
    /// descriptions and nesting) instead of its lean shape.
    pub full_output_schemas: bool,
}

impl ToolSelection {
    /// Whether the tool `name` (read-only or not) is served.
    pub fn serves(&self, name: &str, read_only: bool) -> bool {
        if name == "server_info" {
            return true;
        }
        (!self.read_only || read_only)
            && self
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == name))
            && !self.disabled.iter().any(|n| n == name)
    }

    /// The names this selection mentions that are not among `available`
    /// (the tools of the enabled toolsets).
    pub fn unknown<'a>(&'a self, available: &[String]) -> Vec<&'a str> {
        self.only
            .iter()
            .flatten()
            .chain(&self.disabled)
            .map(String::as_str)
            .filter(|n| !available.iter().any(|a| a == n))
            .collect()
    }
}

/// Where the distributed backends live. Several `smart-systems-mcp`
/// processes pointed at the same URLs and namespace share one event stream,
/// one audit chain and one alerting state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `nats://host:port`: events on NATS JetStream instead of SQLite.
    pub events_url: Option<String>,
    /// `postgres://...`: audit, alerting state and subscriptions in
    /// PostgreSQL instead of SQLite.
    pub store_url: Option<String>,
    /// Name of the shared deployment: the JetStream stream and subject prefix
    /// and the PostgreSQL schema. Processes that share it share state.
    pub namespace: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            events_url: None,
            store_url: None,
            namespace: DEFAULT_NAMESPACE.to_string(),
        }
    }
}

/// The namespace used when `--namespace` is not given.
pub const DEFAULT_NAMESPACE: &str = "smart_systems";

pub use crate::cost::settings::{AwsSettings, PricingSource};
pub use crate::store::validate_namespace;

impl Config {
    /// A config with every toolset enabled and the given data dir and roots.
    pub fn new(data_dir: impl Into<PathBuf>, roots: Vec<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            toolsets: Toolset::ALL.to_vec(),
            roots,
            events: crate::events::EventsConfig::default(),
            pii_fields: Vec::new(),
            aws: AwsSettings::default(),
            cluster: ClusterSettings::default(),
            wal_limit: crate::store::wal::DEFAULT_WAL_LIMIT,
            tools: ToolSelection::default(),
            alert_limits: Default::default(),
            max_answer_tokens: DEFAULT_MAX_ANSWER_TOKENS,
            http: None,
        }
    }

    /// Replaces the personal `details` keys of audit entries.
    pub fn with_pii_fields(mut self, mut fields: Vec<String>) -> Self {
        fields.retain(|f| !f.trim().is_empty());
        fields.sort();
        fields.dedup();
        self.pii_fields = fields;
        self
    }

    /// Replaces the AWS settings of the cost toolset.
    pub fn with_aws(mut self, aws: AwsSettings) -> Self {
        self.aws = aws;
        self
    }

    /// Replaces the enabled toolsets (an empty list means all of them).
    pub fn with_toolsets(mut self, mut toolsets: Vec<Toolset>) -> Self {
        if toolsets.is_empty() {
            toolsets = Toolset::ALL.to_vec();
        }
        toolsets.sort();
        toolsets.dedup();
        self.toolsets = toolsets;
        self
    }

    /// Whether a toolset's tools are exposed.
    pub fn enabled(&self, toolset: Toolset) -> bool {
        self.toolsets.contains(&toolset)
    }
}

/// The default data dir: `$XDG_DATA_HOME/smart-systems-mcp`, else
/// `~/.local/share/smart-systems-mcp`, else `./.smart-systems-mcp` when neither
/// variable is set (a bare container).
pub fn default_data_dir(xdg_data_home: Option<&str>, home: Option<&str>) -> PathBuf {
    match (xdg_data_home, home) {
        (Some(xdg), _) if !xdg.is_empty() => Path::new(xdg).join("smart-systems-mcp"),
        (_, Some(home)) if !home.is_empty() => {
            Path::new(home).join(".local/share/smart-systems-mcp")
        }
        _ => PathBuf::from(".smart-systems-mcp"),
    }
}

/// Makes a root absolute (relative to `cwd`) and canonical when it exists, so
/// that later containment checks compare like with like.
pub fn normalize_root(root: &Path, cwd: &Path) -> PathBuf {
    let absolute = if root.is_absolute() {
        root.to_path_buf()
    } else {
        cwd.join(root)
    };
    absolute.canonicalize().unwrap_or(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_xdg_then_home() {
        assert_eq!(
            default_data_dir(Some("/x"), Some("/h")),
            PathBuf::from("/x/smart-systems-mcp")
        );
        assert_eq!(
            default_data_dir(Some(""), Some("/h")),
            PathBuf::from("/h/.local/share/smart-systems-mcp")
        );
        assert_eq!(
            default_data_dir(None, None),
            PathBuf::from(".smart-systems-mcp")
        );
    }

    #[test]
    fn toolsets_are_sorted_deduplicated_and_empty_means_all() {
        let c = Config::new("/d", vec![]).with_toolsets(vec![
            Toolset::Docs,
            Toolset::Events,
            Toolset::Docs,
        ]);
        assert_eq!(c.toolsets, vec![Toolset::Events, Toolset::Docs]);
        assert!(!c.enabled(Toolset::Audit));
        let all = Config::new("/d", vec![]).with_toolsets(vec![]);
        assert_eq!(all.toolsets, Toolset::ALL.to_vec());
    }
}
