//! `--audit-calls`: each tool call over HTTP becomes an audit entry (who,
//! which tool, how it ended, how long it took, a digest of the arguments),
//! so what was done through the server is itself tamper-evident. The
//! arguments' values never enter the trail: they may hold personal data
//! that the trail could then not erase.

use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, JsonObject};
use sha2::{Digest, Sha256};

use super::metrics::Outcome;
use crate::audit::AuditTrail;
use crate::audit::entry::NewEntry;

/// SHA-256 (hex) of the arguments as sent (compact JSON; `{}` when absent):
/// a caller who kept the arguments can show which call an entry records.
pub fn arguments_digest(arguments: Option<&JsonObject>) -> String {
    let bytes = match arguments {
        Some(a) => serde_json::to_vec(a).unwrap_or_default(),
        None => b"{}".to_vec(),
    };
    crate::audit::merkle::to_hex(&Sha256::digest(&bytes))
}

/// How a call ended, for metrics and the audit entry.
pub fn outcome_of(response: &Result<CallToolResponse, ErrorData>) -> Outcome {
    match response {
        Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            Outcome::ToolError
        }
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Error,
    }
}

/// Appends the call's entry and waits until it is durable; a failure is
/// logged (the call itself already happened and is answered).
pub async fn record(
    audit: &AuditTrail,
    subject: &str,
    tool: &str,
    outcome: Outcome,
    took: Duration,
    arguments_sha256: &str,
) {
    let mut details = serde_json::Map::new();
    details.insert("transport".into(), "http".into());
    details.insert("result".into(), outcome.label().into());
    details.insert(
        "duration_ms".into(),
        serde_json::json!((took.as_secs_f64() * 1e6).round() / 1e3),
    );
    details.insert("arguments_sha256".into(), arguments_sha256.into());
    let entry = NewEntry {
        user_id: subject.to_string(),
        action: "access".into(),
        resource_type: "mcp_tool".into(),
        resource_id: tool.to_string(),
        severity: "info".into(),
        outcome: outcome.audit_outcome().into(),
        details,
        tags: vec!["mcp-call".into()],
        ..NewEntry::default()
    };
    if let Err(e) = audit.log(entry).await {
        tracing::error!(
            subject,
            tool,
            "--audit-calls: could not write the call's audit entry: {e}"
        );
    }
}
