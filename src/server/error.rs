//! The tool error contract: a bad argument or a failed operation becomes a
//! tool result with `isError: true` whose text names the field and what is
//! accepted, so the model can correct its call. Protocol-level failures
//! (unknown tool, malformed request) stay JSON-RPC errors and are rmcp's job.

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

/// A failed tool call, as the model will read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    /// The argument at fault, when one is (`"events[3].topic"`).
    pub field: Option<String>,
    /// What went wrong and what is accepted.
    pub message: String,
}

impl ToolError {
    /// An argument is wrong: names it and says what is accepted.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ToolError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The operation failed for a reason not tied to one argument.
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError {
            field: None,
            message: message.into(),
        }
    }

    /// The text the client sees, at most about 1 KB however much client
    /// text the message embeds (see [`crate::quote`]).
    pub fn text(&self) -> String {
        crate::quote::bound_message(match &self.field {
            Some(field) => format!("invalid argument `{field}`: {}", self.message),
            None => self.message.clone(),
        })
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl std::error::Error for ToolError {}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.text())]).into())
    }
}

/// Result type of every tool adapter.
pub type ToolResult<T> = Result<rmcp::Json<T>, ToolError>;

/// Refuses a free-text argument longer than `max` characters, naming the
/// field and the limit (never echoing the value).
pub fn max_chars(field: &str, value: &str, max: usize) -> Result<(), ToolError> {
    match crate::quote::too_long(value, max) {
        Some(message) => Err(ToolError::invalid(field, message)),
        None => Ok(()),
    }
}

/// [`max_chars`] for an optional argument.
pub fn max_chars_opt(field: &str, value: &Option<String>, max: usize) -> Result<(), ToolError> {
    match value {
        Some(v) => max_chars(field, v, max),
        None => Ok(()),
    }
}
