//! Tools about the server itself: `server_info`, the health check.

use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Serialize;

use super::SmartServer;
use super::error::ToolError;

/// What `server_info` reports.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ServerInfo {
    /// Server name, `smart-systems-mcp`.
    pub name: String,
    /// Server version (semver).
    pub version: String,
    /// Toolsets whose tools this process exposes.
    pub toolsets: Vec<String>,
    /// Whether only read-only tools are served (`--read-only`).
    pub read_only: bool,
    /// How many tools this process serves (after `--read-only`, `--tools`
    /// and `--disable-tools`; `tools/list` names them).
    pub tool_count: usize,
    /// Tools of the enabled toolsets that the selection hides, sorted
    /// (empty by default).
    pub hidden_tools: Vec<String>,
    /// Absolute path of the data dir.
    pub data_dir: String,
    /// Absolute path of the SQLite store file.
    pub store_path: String,
    /// Schema version of the store core after migrations.
    pub store_schema_version: i64,
    /// Schema version of each store component (core and each subsystem).
    pub store_schema_versions: std::collections::BTreeMap<String, i64>,
    /// Directories file tools may read and write.
    pub roots: Vec<String>,
    /// When this process started (RFC 3339, UTC).
    pub started_at: String,
    /// Seconds since this process started.
    pub uptime_seconds: f64,
    /// Operating-system process id, to tell processes sharing a data dir apart.
    pub pid: u32,
}

#[tool_router(router = system_router, vis = "pub(crate)")]
impl SmartServer {
    /// Health check: version, toolsets, data dir, schema versions, roots, uptime.
    #[tool(
        name = "server_info",
        annotations(title = "Server info", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn server_info(&self) -> Result<Json<ServerInfo>, ToolError> {
        let app = &self.app;
        Ok(Json(ServerInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            toolsets: app
                .config
                .toolsets
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
            read_only: app.config.tools.read_only,
            tool_count: self.tool_count(),
            hidden_tools: self.hidden_tools.to_vec(),
            data_dir: app.store.data_dir().display().to_string(),
            store_path: app.store.path().display().to_string(),
            store_schema_version: app.store.schema_version(),
            store_schema_versions: app.store.schema_versions().clone(),
            roots: app
                .config
                .roots
                .iter()
                .map(|r| r.display().to_string())
                .collect(),
            started_at: app.started_at().to_rfc3339(),
            uptime_seconds: app.uptime_seconds(),
            pid: std::process::id(),
        }))
    }
}
