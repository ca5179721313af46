//! Alerting: checks metric points against static rules and learned
//! thresholds, and turns what fires into few, well-ranked alerts (dedup,
//! correlation, priority, escalation, silences and inhibition).
//!
//! Layout, one concept per file: [`rules`] (the condition language),
//! [`threshold`] (streaming detectors; [`surprise`] is `auto`'s, [`packed`] its
//! journal's points), [`dedup`], [`correlate`],
//! [`priority`], [`escalate`], [`silence`], [`model`] (alert records),
//! [`engine`] (composes them), [`sqlite`] and [`postgres`] (the store
//! tables, behind the [`storage::StateStore`] trait).
//!
//! [`AlertingService`] is what the MCP layer holds: the engine behind a
//! mutex plus a dedicated store connection. Design choice: each tool call
//! takes the engine lock once, runs in-memory, writes the call's changes in
//! one transaction and only then answers, so an answered call survives
//! `kill -9`. It runs inline on the async worker that received the call (a
//! point is tens of microseconds of memory work and one small transaction),
//! and switches to blocking mode ([`crate::store::blocking`]) only where it
//! would wait: a lock held by another call, SQLite's write lock held by
//! another connection, PostgreSQL's round trips. Handing every call to the
//! blocking pool, or to `block_in_place` up front, put thread wake-ups worth
//! 20-40% of a `check_metric` on its critical path.
//! The transaction runs after the engine lock is released (the store lock,
//! taken first, keeps saves in order), so one call's in-memory work overlaps
//! the previous call's commit; a read-only call in that window sees the
//! engine's state before it is committed.
//!
//! One owner per data dir: the engine's state lives in memory and is written
//! back call by call, so two processes each running an engine over the same
//! tables would overwrite each other's alerts. The first process to open
//! alerting takes an exclusive lock on `alerting.lock` in the data dir; any
//! other process on that data dir answers alerting calls with an error that
//! names the owner, instead of silently diverging. With `--store-url` the
//! state lives in PostgreSQL ([`postgres`]) and the owner is one process per
//! namespace, across machines, by a session-level advisory lock.

pub mod correlate;
pub mod dedup;
pub mod engine;
pub mod escalate;
pub mod limits;
pub mod model;
pub mod packed;
pub mod postgres;
pub mod priority;
pub mod queries;
pub mod rules;
pub mod settings;
pub mod silence;
pub mod sqlite;
pub mod storage;
pub mod surprise;
pub mod threshold;

use std::sync::{Arc, Mutex};

pub use engine::{AlertEvent, Engine, EngineError};
pub use sqlite::MIGRATIONS;
pub use storage::Write;

use crate::bus::{OutboundEvent, Priority};
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
    /// Whether anything publishes the alert events calls raise (see
    /// [`AlertingService::set_publishes`]).
    publishes: std::sync::atomic::AtomicBool,
    /// Shared with the upkeep tasks (see [`AlertingService::upkeep_later`]).
    conn: Arc<Mutex<StoreSide>>,
    /// Held open for the process's lifetime: the exclusive owner lock (on
    /// PostgreSQL the store's connection holds it instead).
    _owner: Option<std::fs::File>,
}

/// The store connection and what it has not managed to write yet.
#[derive(Debug)]
struct StoreSide {
    state: Box<dyn storage::StateStore>,
    /// Calls' batches whose transaction failed, oldest first. The engine
    /// already holds those changes and will not hand them out again, so
    /// they are written first in the next transaction instead of being lost
    /// (while the store keeps failing they accumulate here).
    unsaved: Vec<storage::Batch>,
}

impl StoreSide {
    fn new(state: Box<dyn storage::StateStore>) -> Self {
        StoreSide {
            state,
            unsaved: Vec::new(),
        }
    }
}

/// File in the data dir whose exclusive lock marks the alerting owner.
pub const OWNER_LOCK_FILE: &str = "alerting.lock";

/// Why alerting could not be opened in this process.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another live process owns the alerting state of this data dir.
    #[error(
        "alerting state in {data_dir} is owned by another smart-systems-mcp process{owner}; \
         alerting runs in one process per data dir: call it through that process, stop it, \
         or start this one with another --data-dir"
    )]
    Owned { data_dir: String, owner: String },
    /// Another live process owns the alerting state of this PostgreSQL namespace.
    #[error(
        "alerting state in PostgreSQL namespace {namespace} is owned by another \
         smart-systems-mcp process{owner}; alerting runs in one process per namespace: call it \
         through that process, stop it, or start this one with another --namespace"
    )]
    OwnedInNamespace { namespace: String, owner: String },
    /// The store or the lock file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes the exclusive owner lock (non-blocking) and records our pid in it.
fn take_owner_lock(store: &Store) -> Result<std::fs::File, OpenError> {
    use std::io::{Read, Seek, Write as _};
    let path = store.data_dir().join(OWNER_LOCK_FILE);
    let io_err = |e: std::io::Error| {
        OpenError::Store(StoreError::DataDir {
            path: path.clone(),
            reason: format!("alerting owner lock: {e}"),
        })
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io_err)?;
            file.rewind().map_err(io_err)?;
            write!(file, "{}", std::process::id()).map_err(io_err)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(OpenError::Owned {
                data_dir: store.data_dir().display().to_string(),
                owner: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(e)),
    }
}

/// The alerting connection's page cache, KiB.
const CACHE_KIB: u32 = 64 * 1024;

impl AlertingService {
    /// Loads the engine (rules, baselines, alerts, silences, policies) from
    /// the store.
    pub fn open(store: &Store) -> Result<AlertingService, OpenError> {
        let owner = take_owner_lock(store)?;
        // Its checkpoints run as upkeep after a call has answered, not
        // inside the commit of the call that crossed SQLite's threshold.
        let (conn, wal_frames) = store.connect_self_checkpointing()?;
        // A call rewrites rows of every series it touches: with `auto`
        // thresholds (~19 KB of detector state each, stored now and then)
        // SQLite's default 2 MB page cache re-read pages from the file on
        // every call. Pages are only held as used.
        conn.execute_batch(&format!("PRAGMA cache_size = -{CACHE_KIB};"))
            .map_err(|e| StoreError::DataDir {
                path: store.path().to_path_buf(),
                reason: format!("alerting store: {e}"),
            })?;
        let engine = sqlite::load(&conn).map_err(|e| StoreError::DataDir {
            path: store.path().to_path_buf(),
            reason: format!("alerting state could not be loaded: {e}"),
        })?;
        Ok(AlertingService {
            engine: Mutex::new(engine),
            publishes: true.into(),
            conn: Arc::new(Mutex::new(StoreSide::new(Box::new(
                sqlite::SqliteState::new(conn, Some(wal_frames)),
            )))),
            _owner: Some(owner),
        })
    }

    /// Loads the engine from PostgreSQL at `url`, schema `namespace`, after
    /// taking the namespace's owner lock. Runs on a thread of its own: the
    /// synchronous client must not block an async runtime's worker.
    pub fn open_postgres(url: &str, namespace: &str) -> Result<AlertingService, OpenError> {
        let failed = |reason: String| {
            OpenError::Store(StoreError::DataDir {
                path: std::path::PathBuf::from(format!("postgres:{namespace}")),
                reason,
            })
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut state = postgres::PgState::open(url, namespace).map_err(|e| match e {
                    postgres::PgOpenError::Owned { owner } => OpenError::OwnedInNamespace {
                        namespace: namespace.to_string(),
                        owner,
                    },
                    postgres::PgOpenError::Failed(m) => failed(m),
                })?;
                let engine = storage::StateStore::load(&mut state)
                    .map_err(|e| failed(format!("alerting state could not be loaded: {e}")))?;
                Ok(AlertingService {
                    engine: Mutex::new(engine),
                    publishes: true.into(),
                    conn: Arc::new(Mutex::new(StoreSide::new(Box::new(state)))),
                    _owner: None,
                })
            })
            .join()
            .unwrap_or_else(|_| Err(failed("opening the alerting store panicked".into())))
        })
    }

    /// Whether the alert events calls raise are published (the events
    /// toolset is on). When not, [`AlertingService::with`] does not build
    /// them: a `check_metrics` call that opens and resolves a hundred alerts
    /// spent about 3 % of its time on payloads nobody read.
    pub fn set_publishes(&self, publishes: bool) {
        self.publishes
            .store(publishes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets how many alerts the engine keeps (see [`engine::AlertLimits`]).
    pub fn set_limits(&self, limits: engine::AlertLimits) {
        lock(&self.engine).set_limits(limits);
    }

    /// Reads the engine without changing it: nothing is saved and the
    /// events earlier calls left in it stay there for the next [`with`]
    /// (a reader such as `/metrics` must not take and drop them).
    ///
    /// [`with`]: AlertingService::with
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&lock(&self.engine))
    }

    /// Runs `f` on the engine, saves definitions `f` asks for plus
    /// everything the engine marked dirty in one transaction, and returns
    /// `f`'s result with the bus events it raised (none when nothing
    /// publishes them, see [`AlertingService::set_publishes`]). May be called on an
    /// async worker: it waits only in blocking mode.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, AlertError>,
    ) -> Result<(T, Vec<OutboundEvent>), AlertError> {
        let mut engine = lock(&self.engine);
        // A call that fails leaves what it changed in the engine, to be
        // saved with the next call that saves.
        let out = f(&mut engine)?;
        // The engine recorded which definitions the call changed.
        let writes = engine.take_definitions();
        let mut changes = engine.take_changes();
        let raised = engine.take_events();
        let events: Vec<OutboundEvent> =
            if self.publishes.load(std::sync::atomic::Ordering::Relaxed) {
                raised
                    .into_iter()
                    .filter_map(|e| outbound(&engine, &e))
                    .collect()
            } else {
                Vec::new()
            };
        // After the call's answer and events are built: compaction renumbers
        // the alert indices they were built from.
        changes.evicted = engine.compact();
        if writes.is_empty() && changes.is_empty() {
            // Read-only call: no transaction at all.
            return Ok((out, events));
        }
        let t = std::time::Instant::now();
        // The store lock is taken before the engine lock is let go, so saves
        // run in the order their changes were taken; the next call's
        // in-memory work overlaps this one's transaction, and this call
        // still answers only after its changes are committed.
        let mut side = lock(&self.conn);
        drop(engine);
        let (alerts, series) = (changes.alerts.len(), changes.series.len());
        let StoreSide { state, unsaved } = &mut *side;
        unsaved.push((writes, changes));
        if let Err(e) = state.save(unsaved) {
            tracing::warn!(calls = unsaved.len(), "alerting state not saved: {e}");
            return Err(AlertError::Store(format!(
                "{e}; the change is applied in memory and is written with the next change that \
                 saves ({} calls waiting)",
                unsaved.len()
            )));
        }
        tracing::debug!(
            alerts,
            series,
            retried = unsaved.len() - 1,
            micros = t.elapsed().as_micros() as u64,
            "alerting state saved"
        );
        unsaved.clear();
        let upkeep = state.upkeep_due();
        drop(side);
        if upkeep {
            self.upkeep_later();
        }
        Ok((out, events))
    }

    /// Runs the store's due upkeep ([`storage::StateStore::upkeep`]) on the
    /// blocking pool, so it overlaps this call's answer and the next call's
    /// in-memory work; it holds the store lock, so the next save waits for
    /// it. Without a runtime (benchmarks, tools) it runs here.
    fn upkeep_later(&self) {
        let conn = Arc::clone(&self.conn);
        let run = move || {
            let mut side = conn.lock().unwrap_or_else(|p| p.into_inner());
            if side.state.upkeep_due()
                && let Err(e) = side.state.upkeep()
            {
                tracing::warn!(
                    "alerting store upkeep failed (tried again after the next save): {e}"
                );
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(run)),
            Err(_) => run(),
        }
    }
}

impl Drop for AlertingService {
    /// A server that stops (stdin closed, SIGTERM) while the store has
    /// refused some calls' changes writes them one last time, so they are
    /// not lost with the process when the store has recovered meanwhile.
    fn drop(&mut self) {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let side = &mut *guard;
        if side.unsaved.is_empty() {
            return;
        }
        let n = side.unsaved.len();
        match side.state.save(&side.unsaved) {
            Ok(()) => tracing::info!(
                calls = n,
                "alerting changes the store had refused saved at exit"
            ),
            Err(e) => tracing::error!(
                calls = n,
                "alerting changes lost at exit, the store refused them again: {e}"
            ),
        }
        side.unsaved.clear();
    }
}

/// Locks `m`, waiting in blocking mode only when another call holds it.
fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            crate::store::blocking(|| m.lock().unwrap_or_else(|p| p.into_inner()))
        }
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
            model::Severity::Critical => Priority::Critical,
            model::Severity::Error => Priority::High,
            model::Severity::Warning => Priority::Normal,
            model::Severity::Info => Priority::Low,
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
        assert_eq!(fired.priority, Priority::Critical);
        assert_eq!(fired.source, "alerting");
        assert_eq!(fired.payload["alert_id"], "a-1");
        assert_eq!(fired.payload["title"], "temp 35");
        assert_eq!(fired.payload["source"], "kiln");
        let resolved = outbound(&e, &events[1]).unwrap();
        assert_eq!(resolved.event_type, "system.alert.resolved");
        assert_eq!(resolved.payload["status"], "resolved");
    }

    #[test]
    fn compaction_drops_the_oldest_resolved_and_keeps_open_alerts_reachable() {
        let mut e = Engine::with_limits(engine::AlertLimits {
            max_open: 2,
            max_resolved: 1,
        });
        e.add_rule(RuleSpec {
            rule_id: "hot".into(),
            metric_name: "temp".into(),
            condition: "value > 30".into(),
            severity: Severity::Critical,
            for_seconds: 0.0,
            recovery_condition: None,
            title_template: None,
            description_template: None,
            labels: vec![],
            resolve_after_seconds: None,
        })
        .unwrap();
        let mut touched = Vec::new();
        let series: Vec<_> = (0..5)
            .map(|i| e.series_for("temp", &format!("k{i}"), &[]).unwrap())
            .collect();
        // k0 and k1 open, k2 refused at the cap.
        for &sid in &series[..3] {
            e.check(sid, 35.0, 100.0, &mut touched);
        }
        assert_eq!(e.open_alerts(), 2);
        assert_eq!(e.counters().refused_at_cap, 1);
        // k0 clears (resolved); k2 and k3 open and clear in turn.
        e.check(series[0], 20.0, 110.0, &mut touched);
        for &sid in &series[2..4] {
            e.check(sid, 35.0, 120.0, &mut touched);
            e.check(sid, 20.0, 130.0, &mut touched);
        }
        let evicted = e.compact();
        assert_eq!(evicted, ["a-1", "a-3"]);
        assert_eq!(e.alerts().len(), 2);
        // The open k1 alert still deduplicates and is found by id.
        let o = e.check(series[1], 36.0, 140.0, &mut touched);
        let i = touched[o.alerts][0];
        assert_eq!(e.alert(i).unwrap().id, "a-2");
        assert_eq!(e.alert(i).unwrap().count, 2);
        assert!(e.acknowledge("a-2", "ann", 150.0).is_ok());
        assert!(e.alert_by_id("a-1").is_none());
    }
}
