//! The copy of each audit entry published on topic `audit` (through the bus
//! contract), so subscribers see who did what as it happens.
//!
//! Personal values are never in it: a subscriber's copy could not be erased.

use serde_json::Value;

use super::entry::NewEntry;
use super::merkle::to_hex;
use super::writer::Appended;
use crate::bus::{OutboundEvent, Priority};

/// What of an entry goes on the bus, taken before the entry is handed to the
/// writer; [`AuditBusEvent::appended`] completes it with the entry's place.
#[derive(Debug, Clone)]
pub struct AuditBusEvent {
    payload: Value,
    action: String,
    severity: String,
    correlation_id: Option<String>,
}

impl AuditBusEvent {
    /// The publishable part of `entry`.
    pub fn of(entry: &NewEntry) -> AuditBusEvent {
        AuditBusEvent {
            payload: serde_json::json!({
                "user_id": entry.user_id,
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_id": entry.resource_id,
                "severity": entry.severity,
                "outcome": entry.outcome,
                "tenant_id": entry.tenant_id,
                "tags": entry.tags,
                "purpose": entry.purpose,
            }),
            action: entry.action.clone(),
            severity: entry.severity.clone(),
            correlation_id: entry.correlation_id.clone(),
        }
    }

    /// The event `audit.<action>` on topic `audit`, with the entry's id,
    /// sequence, timestamp and hash.
    pub fn appended(self, done: &Appended) -> OutboundEvent {
        let mut payload = self.payload;
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("audit_id".into(), done.audit_id.clone().into());
            obj.insert("sequence".into(), done.sequence.into());
            obj.insert("timestamp".into(), done.timestamp.clone().into());
            obj.insert("entry_hash".into(), to_hex(&done.entry_hash).into());
        }
        OutboundEvent {
            topic: "audit".into(),
            event_type: format!("audit.{}", self.action),
            payload,
            priority: priority_of(&self.severity),
            source: "audit".into(),
            correlation_id: self.correlation_id,
        }
    }
}

/// Bus priority of an audit severity.
fn priority_of(severity: &str) -> Priority {
    match severity {
        "critical" => Priority::Critical,
        "error" => Priority::High,
        _ => Priority::Normal,
    }
}
