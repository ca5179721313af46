//! Alerting: checks metric points against static rules and learned
//! thresholds, and turns what fires into few, well-ranked alerts (dedup,
//! correlation, priority, escalation, silences and inhibition).
//!
//! Layout, one concept per file: [`rules`] (the condition language),
//! [`threshold`] (streaming detectors), [`dedup`], [`correlate`],
//! [`priority`], [`escalate`], [`silence`], [`model`] (alert records),
//! [`engine`] (composes them), [`persist`] (the store tables).
//!
//! [`AlertingService`] is what the MCP layer holds: the engine behind a
//! mutex plus a dedicated store connection. Design choice: each tool call
//! takes the engine lock once, runs in-memory, writes the call's changes in
//! one transaction and only then answers, so an answered call survives
//! `kill -9`; callers run it on a blocking thread, never on the async workers.

pub mod correlate;
pub mod dedup;
pub mod engine;
pub mod escalate;
pub mod model;
pub mod persist;
pub mod priority;
pub mod rules;
pub mod silence;
pub mod threshold;

use std::sync::Mutex;

use rusqlite::Connection;

pub use engine::{AlertEvent, Engine, EngineError};
pub use persist::{MIGRATIONS, Write};

use crate::app::OutboundEvent;
use crate::store::{Store, StoreError};

/// Why an alerting operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The request was wrong (bad argument, unknown id).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store could not be written; the message says why.
    #[error("could not save alerting state: {0}")]
    Store(String),
}

/// The alerting subsystem of one server process.
#[derive(Debug)]
pub struct AlertingService {
    engine: Mutex<Engine>,
    conn: Mutex<Connection>,
}

impl AlertingService {
    /// Loads the engine (rules, baselines, alerts, silences, policies) from
    /// the store.
    pub fn open(store: &Store) -> Result<AlertingService, StoreError> {
        let conn = store.connect()?;
        let engine = persist::load(&conn).map_err(|e| StoreError::DataDir {
            path: store.path().to_path_buf(),
            reason: format!("alerting state could not be loaded: {e}"),
        })?;
        Ok(AlertingService {
            engine: Mutex::new(engine),
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` on the engine, saves definitions `f` asks for plus
    /// everything the engine marked dirty in one transaction, and returns
    /// `f`'s result with the bus events it raised. Blocking: call from a
    /// blocking thread.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<(T, Vec<Write>), AlertError>,
    ) -> Result<(T, Vec<OutboundEvent>), AlertError> {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let (out, writes) = f(&mut engine)?;
        let changes = engine.take_changes();
        let events: Vec<OutboundEvent> = engine
            .take_events()
            .into_iter()
            .filter_map(|e| outbound(&engine, &e))
            .collect();
        if writes.is_empty() && changes.is_empty() {
            // Read-only call: no transaction at all.
            return Ok((out, events));
        }
        let t = std::time::Instant::now();
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        persist::save(&mut conn, &writes, &changes).map_err(AlertError::Store)?;
        tracing::debug!(
            alerts = changes.alerts.len(),
            series = changes.series.len(),
            micros = t.elapsed().as_micros() as u64,
            "alerting state saved"
        );
        Ok((out, events))
    }
}

/// The bus event for an alert event: `system.alert.triggered` or
/// `system.alert.resolved` on topic `system.alerts`.
pub fn outbound(engine: &Engine, e: &AlertEvent) -> Option<OutboundEvent> {
    let (i, kind) = match e {
        AlertEvent::Triggered(i) => (*i, "system.alert.triggered"),
        AlertEvent::Resolved(i) => (*i, "system.alert.resolved"),
    };
    let a = engine.alert(i)?;
    Some(OutboundEvent {
        topic: "system.alerts".to_string(),
        event_type: kind.to_string(),
        payload: serde_json::json!({
            "alert_id": a.id,
            "rule_id": a.rule_id,
            "metric": a.metric,
            "source": a.source,
            "labels": a.labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "severity": a.severity.name(),
            "status": a.status.name(),
            "title": a.title,
            "value": a.last_value,
            "priority": a.priority,
            "group_id": a.group_id,
            "started_at": a.started_at,
        }),
        priority: match a.severity {
            model::Severity::Critical => "critical",
            model::Severity::Error => "high",
            model::Severity::Warning => "normal",
            model::Severity::Info => "low",
        },
        source: "alerting".to_string(),
        correlation_id: Some(a.group_id.clone().unwrap_or_else(|| a.id.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::engine::{AlertEvent, RuleSpec};
    use super::model::Severity;
    use super::*;

    #[test]
    fn a_new_alert_and_its_resolution_become_bus_events_on_system_alerts() {
        let mut e = Engine::new();
        e.add_rule(RuleSpec {
            rule_id: "hot".into(),
            metric_name: "temp".into(),
            condition: "value > 30".into(),
            severity: Severity::Critical,
            for_seconds: 0.0,
            recovery_condition: None,
            title_template: Some("{metric} {value}".into()),
            description_template: None,
            labels: vec![],
            resolve_after_seconds: None,
        })
        .unwrap();
        let sid = e.series_for("temp", "kiln", &[]).unwrap();
        let mut touched = Vec::new();
        e.check(sid, 35.0, 100.0, &mut touched);
        e.check(sid, 36.0, 110.0, &mut touched); // a repeat: no second event
        e.check(sid, 20.0, 120.0, &mut touched);
        let events = e.take_events();
        assert_eq!(events, [AlertEvent::Triggered(0), AlertEvent::Resolved(0)]);
        let fired = outbound(&e, &events[0]).unwrap();
        assert_eq!(fired.topic, "system.alerts");
        assert_eq!(fired.event_type, "system.alert.triggered");
        assert_eq!(fired.priority, "critical");
        assert_eq!(fired.source, "alerting");
        assert_eq!(fired.payload["alert_id"], "a-1");
        assert_eq!(fired.payload["title"], "temp 35");
        assert_eq!(fired.payload["source"], "kiln");
        let resolved = outbound(&e, &events[1]).unwrap();
        assert_eq!(resolved.event_type, "system.alert.resolved");
        assert_eq!(resolved.payload["status"], "resolved");
    }
}
