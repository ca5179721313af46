//! The MCP surface: one file per subsystem with its `#[tool]` adapters. An
//! adapter validates arguments, calls the domain and shapes the result; it
//! holds no domain logic.
//!
//! Each subsystem contributes a `ToolRouter`; [`SmartServer::new`] merges the
//! routers of the toolsets the config enables, so a disabled toolset's tools
//! are neither listed nor callable.

pub mod cost;
pub mod error;
pub mod system;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};

use crate::app::App;

pub use error::{ToolError, ToolResult};

/// The MCP server: the shared [`App`] plus the merged tool router.
#[derive(Clone)]
pub struct SmartServer {
    pub(crate) app: Arc<App>,
    tool_router: ToolRouter<SmartServer>,
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
        let mut tool_router = Self::system_router();
        if app.config.enabled(crate::config::Toolset::Cost) {
            tool_router += Self::cost_router();
        }
        SmartServer { app, tool_router }
    }

    /// Names of the tools this server exposes, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }
}

const INSTRUCTIONS: &str = "Smart systems of an NBA analytics platform. \
Call server_info for the enabled toolsets and data dir. Tools validate their \
arguments and answer errors that name the field at fault.";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SmartServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }
}
