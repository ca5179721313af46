//! The process-wide state every tool call sees: configuration, the store and
//! (as the toolsets arrive) each subsystem behind its own lock.
//!
//! Subsystems talk to each other only through the bus contract
//! ([`crate::bus`]): an alert that fires or an audit entry that is written
//! becomes an [`OutboundEvent`] handed to [`App::publish`], which the events
//! subsystem delivers. A subsystem never reaches into another's state.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::bus::{EventSink, OutboundEvent};
use crate::config::{Config, Toolset};
use crate::events::{EventBackend, SqliteBus};
use crate::store::{Component, Store, StoreError};

/// The store components of the subsystems and their migrations, in the order
/// they are applied (after the store core's own).
pub const COMPONENTS: &[Component] = &[
    ("events", crate::events::MIGRATIONS),
    ("audit", crate::audit::MIGRATIONS),
    ("alerting", crate::alerting::MIGRATIONS), // alerting rules, baselines, alerts
];

/// Shared state of one server process.
#[derive(Debug)]
pub struct App {
    /// What the server was started with.
    pub config: Config,
    /// The embedded store.
    pub store: Store,
    /// The event bus, when the events toolset is enabled: the embedded
    /// SQLite one, or NATS JetStream with `--events-url`.
    pub events: Option<Arc<dyn EventBackend>>,
    /// The audit trail, when the audit toolset is enabled.
    pub audit: Option<Arc<crate::audit::AuditTrail>>,
    /// The alerting subsystem, when its toolset is enabled and this process
    /// owns the data dir's alerting state.
    pub alerting: Option<Arc<crate::alerting::AlertingService>>,
    /// Why alerting is enabled but not available here (another process owns
    /// it); alerting tools answer with this message.
    pub alerting_unavailable: Option<String>,
    /// The cost toolset (AWS access, price cache).
    pub cost: crate::cost::Cost,
    /// The workspace roots, each opened once: every file a tool reads or
    /// writes is opened beneath one of them.
    pub workspace: Arc<crate::fsroot::Roots>,
    event_sink: Option<Arc<dyn EventSink>>,
    started: Instant,
    started_at: DateTime<Utc>,
}

impl App {
    /// Opens the store (creating and migrating it as needed) and builds the
    /// subsystems the config enables.
    pub fn open(config: Config) -> Result<Arc<App>, StoreError> {
        let store = Store::open_with_wal_limit(&config.data_dir, COMPONENTS, config.wal_limit)?;
        let events = if config.enabled(Toolset::Events) {
            Some(open_events(&config, &store)?)
        } else {
            None
        };
        let event_sink = events.clone().map(|bus| bus as Arc<dyn EventSink>);
        let audit = open_audit(&config, &store)?;
        let (alerting, alerting_unavailable) = open_alerting(&config, &store)?;
        let cost = crate::cost::Cost::new(config.aws.clone());
        let workspace = Arc::new(crate::fsroot::Roots::open(&config.roots));
        Ok(Arc::new(App {
            config,
            store,
            events,
            audit,
            alerting,
            alerting_unavailable,
            cost,
            workspace,
            event_sink,
            started: Instant::now(),
            started_at: Utc::now(),
        }))
    }

    /// Publishes an event for other subsystems when the events toolset is
    /// enabled; returns whether it was handed to the bus. A failure is logged,
    /// never returned: the caller's own operation has already succeeded.
    pub fn publish(&self, event: OutboundEvent) -> bool {
        let Some(sink) = &self.event_sink else {
            return false;
        };
        let topic = event.topic.clone();
        match sink.publish(event) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(topic, "could not publish event: {e}");
                false
            }
        }
    }

    /// Publishes events and returns once the bus has stored them (in one
    /// batch): for a subsystem whose answer to the client must imply its
    /// events are stored. Without the events toolset, nothing; a failure is
    /// logged, as for [`App::publish`].
    pub async fn publish_stored(&self, events: Vec<OutboundEvent>) {
        let Some(sink) = &self.event_sink else {
            return;
        };
        if events.is_empty() {
            return;
        }
        if let Err(e) = sink.publish_stored(events).await {
            tracing::warn!("could not publish events: {e}");
        }
    }

    /// Whether every store this process uses answers now (`/readyz`): the
    /// SQLite store, NATS with `--events-url`, PostgreSQL with
    /// `--store-url` (a fresh connection, so a dead server is seen). The
    /// error names the one that does not.
    pub async fn ready(self: &Arc<Self>) -> Result<(), String> {
        if let Some(bus) = &self.events {
            bus.ready().map_err(|e| format!("events: {e}"))?;
        }
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = app.store.connect().map_err(|e| format!("store: {e}"))?;
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(|e| format!("store: {e}"))?;
            if let Some(url) = &app.config.cluster.store_url {
                let mut config = crate::store::postgres::config(url)?;
                config.connect_timeout(std::time::Duration::from_secs(2));
                let mut pg =
                    crate::store::postgres::Conn::open(&config, &app.config.cluster.namespace)
                        .map_err(|e| format!("PostgreSQL: {e}"))?;
                pg.simple_query("SELECT 1")
                    .map_err(|e| format!("PostgreSQL: {e}"))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("readiness check failed: {e}"))?
    }

    /// Seconds since the process opened its state.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// When the process opened its state.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }
}

/// The event bus: NATS JetStream when `--events-url` is set, else the
/// embedded SQLite bus.
fn open_events(config: &Config, store: &Store) -> Result<Arc<dyn EventBackend>, StoreError> {
    let failed = |e: crate::events::EventsError| StoreError::DataDir {
        path: store.data_dir().to_path_buf(),
        reason: format!("cannot start the event bus: {e}"),
    };
    if let Some(url) = &config.cluster.events_url {
        let bus = crate::events::nats::NatsBus::connect(
            url,
            &config.cluster.namespace,
            config.events.clone(),
        )
        .map_err(failed)?;
        return Ok(bus);
    }
    let bus = SqliteBus::open(store, config.events.clone()).map_err(failed)?;
    Ok(Arc::new(crate::events::sqlite::SqliteBackend::new(bus)))
}

/// The audit trail when its toolset is enabled (loads or creates its signing
/// key and starts its writer).
fn open_audit(
    config: &Config,
    store: &Store,
) -> Result<Option<Arc<crate::audit::AuditTrail>>, StoreError> {
    if !config.enabled(crate::config::Toolset::Audit) {
        return Ok(None);
    }
    let trail = match &config.cluster.store_url {
        None => crate::audit::AuditTrail::open(store, config.pii_fields.clone()),
        Some(url) => crate::audit::AuditTrail::open_postgres(
            url,
            &config.cluster.namespace,
            config.pii_fields.clone(),
        ),
    }
    .map_err(|e| StoreError::DataDir {
        path: store.data_dir().to_path_buf(),
        reason: format!("audit trail: {e}"),
    })?;
    Ok(Some(Arc::new(trail)))
}

/// Alerting when its toolset is enabled: the service when this process owns
/// the data dir's alerting state, else the reason another process does.
#[allow(clippy::type_complexity)]
fn open_alerting(
    config: &Config,
    store: &Store,
) -> Result<
    (
        Option<Arc<crate::alerting::AlertingService>>,
        Option<String>,
    ),
    StoreError,
> {
    use crate::alerting::{AlertingService, OpenError};
    if !config.enabled(Toolset::Alerting) {
        return Ok((None, None));
    }
    let opened = match &config.cluster.store_url {
        None => AlertingService::open(store),
        Some(url) => AlertingService::open_postgres(url, &config.cluster.namespace),
    };
    match opened {
        Ok(service) => {
            service.set_limits(config.alert_limits);
            // Alert events go to the events bus, which runs only with its toolset.
            service.set_publishes(config.enabled(Toolset::Events));
            Ok((Some(Arc::new(service)), None))
        }
        Err(e @ (OpenError::Owned { .. } | OpenError::OwnedInNamespace { .. })) => {
            let reason = e.to_string();
            tracing::warn!("{reason}");
            Ok((None, Some(reason)))
        }
        Err(OpenError::Store(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Priority;
    use rusqlite::Connection;

    #[test]
    fn component_versions_strictly_increase_from_one_and_names_are_unique() {
        let mut names = std::collections::BTreeSet::from(["core"]);
        for (component, list) in COMPONENTS {
            assert!(
                names.insert(*component),
                "component {component} listed twice"
            );
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{component} migration {}", m.name);
            }
        }
    }

    #[test]
    fn app_publish_reaches_the_bus_and_is_stored_before_shutdown() {
        let tmp = tempfile::tempdir().unwrap();
        let app = crate::App::open(Config::new(tmp.path(), vec![])).unwrap();
        for i in 0..100 {
            let handed = app.publish(OutboundEvent {
                topic: "audit".into(),
                event_type: "audit.record.appended".into(),
                payload: serde_json::json!({"i": i}),
                priority: Priority::Normal,
                source: "audit".into(),
                correlation_id: None,
            });
            assert!(handed);
        }
        // A bad event from a subsystem is refused, not stored.
        assert!(!app.publish(OutboundEvent {
            topic: "bad topic".into(),
            event_type: "x".into(),
            payload: serde_json::json!({}),
            priority: Priority::Normal,
            source: "alerting".into(),
            correlation_id: None,
        }));
        let path = app.store.path().to_path_buf();
        drop(app); // drains the fire-and-forget queue
        let conn = Connection::open(path).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM events_log WHERE topic = 'audit'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 100);
    }

    #[test]
    fn events_toolset_off_means_no_bus() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config::new(tmp.path(), vec![]).with_toolsets(vec![crate::Toolset::Audit]);
        let app = crate::App::open(config).unwrap();
        assert!(app.events.is_none());
        assert!(!app.publish(OutboundEvent {
            topic: "audit".into(),
            event_type: "x".into(),
            payload: serde_json::json!({}),
            priority: Priority::Normal,
            source: "audit".into(),
            correlation_id: None,
        }));
    }
}
