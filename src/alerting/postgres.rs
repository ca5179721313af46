//! Alerting state in PostgreSQL (`--store-url`): the same JSON documents as
//! the SQLite tables ([`super::sqlite`]), in the namespace's schema.
//!
//! Alerting is stateful (baselines, open alerts, dedup windows), so exactly
//! one process may evaluate at a time. On one machine a file lock in the data
//! dir decides; across machines it is a session-level advisory lock, held by
//! the connection this store writes through for as long as the process runs.
//! Other processes answer alerting calls with "owned by another process" and
//! the owner's pid and host (recorded in `alerting_owner` when the lock is
//! taken). If the owner's connection drops, PostgreSQL releases the lock: the
//! store then re-takes it before writing again, and refuses to write if
//! another process has taken over meanwhile.

use postgres::{Client, Config, Transaction};

use super::engine::{Changes, Engine};
use super::storage::{
    ALL_SERIES, Batch, LEARNED, Res, StateStore, Write, forget_series_sql, json, load_with, num_of,
    prune_due, prune_log, series_prefix,
};
use crate::store::migrations::Migration;
use crate::store::postgres::{self as pg, Conn, MigrateError};

/// Tables of the alerting state in a namespace's schema. Append, never edit.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alerting_tables",
        sql: "CREATE TABLE alerting_rules (
         seq BIGSERIAL PRIMARY KEY,
         rule_id TEXT NOT NULL UNIQUE,
         spec TEXT NOT NULL
     );
     CREATE TABLE alerting_detectors (metric_name TEXT PRIMARY KEY, spec TEXT NOT NULL);
     CREATE TABLE alerting_series (series_key TEXT PRIMARY KEY, state TEXT NOT NULL);
     CREATE TABLE alerting_alerts (
         alert_num BIGINT PRIMARY KEY,
         alert_id TEXT NOT NULL UNIQUE,
         status TEXT NOT NULL,
         data TEXT NOT NULL
     );
     CREATE TABLE alerting_groups (group_num BIGINT PRIMARY KEY, data TEXT NOT NULL);
     CREATE TABLE alerting_silences (silence_id TEXT PRIMARY KEY, data TEXT NOT NULL);
     CREATE TABLE alerting_policies (severity TEXT PRIMARY KEY, data TEXT NOT NULL);
     CREATE TABLE alerting_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE alerting_owner (
         id INT PRIMARY KEY CHECK (id = 1),
         pid BIGINT NOT NULL,
         host TEXT NOT NULL,
         since TIMESTAMPTZ NOT NULL DEFAULT now()
     );",
    },
    Migration {
        version: 2,
        name: "alerting_series_day",
        // As the SQLite table (persist.rs, migration 2).
        sql: "CREATE TABLE alerting_series_day (
             series_key TEXT NOT NULL,
             slot INT NOT NULL,
             cell TEXT NOT NULL,
             PRIMARY KEY (series_key, slot)
         );",
    },
    Migration {
        version: 3,
        name: "alerting_series_journal",
        // As the SQLite tables (sqlite.rs, migration 3).
        sql: "CREATE TABLE alerting_series_snapshot (
             series_key TEXT PRIMARY KEY,
             state TEXT NOT NULL
         );
         CREATE TABLE alerting_series_points (
             series_key TEXT NOT NULL,
             seq BIGINT NOT NULL,
             points TEXT NOT NULL,
             PRIMARY KEY (series_key, seq)
         );",
    },
    Migration {
        version: 4,
        name: "alerting_series_log",
        // As the SQLite tables (sqlite.rs, migration 4).
        sql: "CREATE TABLE alerting_series_log (
             id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             series_key TEXT NOT NULL,
             points TEXT NOT NULL
         );
         INSERT INTO alerting_series_log(series_key, points)
             SELECT series_key, points FROM alerting_series_points ORDER BY series_key, seq;
         DROP TABLE alerting_series_points;
         ALTER TABLE alerting_series_snapshot ADD COLUMN since BIGINT NOT NULL DEFAULT 0;",
    },
];

/// Why the PostgreSQL alerting store could not be opened.
#[derive(Debug)]
pub enum PgOpenError {
    /// Another process holds the owner lock; `owner` describes it.
    Owned { owner: String },
    /// PostgreSQL failed or the URL is unusable.
    Failed(String),
}

fn failed(e: postgres::Error) -> PgOpenError {
    PgOpenError::Failed(pg_text(&e))
}

fn pg_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                let s = source.to_string();
                if !text.contains(&s) {
                    text = format!("{text}: {s}");
                }
            }
            format!("PostgreSQL: {text}")
        }
    }
}

/// The owner's connection to the alerting state in one namespace.
pub struct PgState {
    config: Config,
    namespace: String,
    lock_key: i64,
    client: Option<Conn>,
    /// A save took the journal past a multiple of `PRUNE_EVERY` rows.
    prune_due: bool,
}

impl std::fmt::Debug for PgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgState")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// How long a new owner waits for the session of a dead owner of this host
/// to be closed by PostgreSQL.
const DEAD_OWNER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl PgState {
    /// Connects, migrates the namespace's alerting tables and takes the
    /// owner lock (without waiting).
    pub fn open(url: &str, namespace: &str) -> Result<PgState, PgOpenError> {
        let config = pg::config(url).map_err(PgOpenError::Failed)?;
        let mut state = PgState {
            config,
            namespace: namespace.to_string(),
            lock_key: pg::lock_key("alerting", namespace),
            client: None,
            prune_due: false,
        };
        let mut client = state.connect().map_err(failed)?;
        pg::migrate(
            &mut client,
            &state.namespace,
            "alerting",
            state.lock_key ^ 1,
            MIGRATIONS,
        )
        .map_err(|e| match e {
            MigrateError::Postgres(e) => failed(e),
            MigrateError::TooNew(m) => PgOpenError::Failed(m),
        })?;
        state.take_lock(&mut client)?;
        state.client = Some(client);
        Ok(state)
    }

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Conn::open(&self.config, &self.namespace)
    }

    /// Takes the session-level owner lock on `client` and records us as the
    /// owner; says who owns it when somebody else does.
    ///
    /// When the recorded owner is a process of this host that no longer
    /// exists (a server killed and restarted at once), its PostgreSQL session
    /// may not have noticed the closed socket yet: wait for that, up to
    /// [`DEAD_OWNER_GRACE`], instead of refusing.
    fn take_lock(&self, client: &mut Client) -> Result<(), PgOpenError> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown host".into());
        let deadline = std::time::Instant::now() + DEAD_OWNER_GRACE;
        loop {
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock_key])
                .map_err(failed)?
                .get(0);
            if got {
                break;
            }
            let owner = client
                .query_opt("SELECT pid, host FROM alerting_owner WHERE id = 1", &[])
                .map_err(failed)?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
            let dead_here = owner.as_ref().is_some_and(|(pid, h)| {
                *h == host && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
            if !dead_here || std::time::Instant::now() >= deadline {
                let owner = owner
                    .map(|(pid, h)| format!(" (pid {pid} on {h})"))
                    .unwrap_or_default();
                return Err(PgOpenError::Owned { owner });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        client
            .execute(
                "INSERT INTO alerting_owner (id, pid, host) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, since = now()",
                &[&i64::from(std::process::id()), &host],
            )
            .map_err(failed)?;
        Ok(())
    }

    /// The owner connection, re-established (and the lock re-taken) after
    /// the database was away.
    fn client(&mut self) -> Res<&mut Conn> {
        let usable = self.client.as_mut().is_some_and(|c| {
            !c.is_closed() && c.is_valid(std::time::Duration::from_secs(5)).is_ok()
        });
        if !usable {
            self.client = None;
            let mut c = self.connect().map_err(|e| pg_text(&e))?;
            match self.take_lock(&mut c) {
                Ok(()) => {}
                Err(PgOpenError::Owned { owner }) => {
                    return Err(format!(
                        "the connection to PostgreSQL was lost and another process{owner} took \
                         over the alerting state of namespace {}; restart this process",
                        self.namespace
                    ));
                }
                Err(PgOpenError::Failed(m)) => return Err(m),
            }
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| "no PostgreSQL connection".to_string())
    }
}

/// One call's writes; whether the journal is due for a prune.
fn save_in(tx: &mut Transaction<'_>, writes: &[Write], changes: &Changes) -> Result<bool, String> {
    let e = |e: postgres::Error| pg_text(&e);
    for w in writes {
        match w {
            Write::Rule(spec) => {
                tx.execute(
                    "DELETE FROM alerting_rules WHERE rule_id = $1",
                    &[&spec.rule_id],
                )
                .map_err(e)?;
                tx.execute(
                    "INSERT INTO alerting_rules(rule_id, spec) VALUES ($1, $2)",
                    &[&spec.rule_id, &json(spec)?],
                )
                .map_err(e)?;
            }
            Write::RemoveRule(id) => {
                tx.execute("DELETE FROM alerting_rules WHERE rule_id = $1", &[id])
                    .map_err(e)?;
            }
            Write::Dynamic(spec) => {
                tx.execute(
                    "INSERT INTO alerting_detectors(metric_name, spec) VALUES ($1, $2)
                     ON CONFLICT(metric_name) DO UPDATE SET spec = excluded.spec",
                    &[&spec.metric_name, &json(spec)?],
                )
                .map_err(e)?;
            }
            Write::RemoveDynamic(metric) => {
                tx.execute(
                    "DELETE FROM alerting_detectors WHERE metric_name = $1",
                    &[metric],
                )
                .map_err(e)?;
                for sql in forget_series_sql(LEARNED, "$1::text") {
                    tx.execute(sql.as_str(), &[&series_prefix(metric)])
                        .map_err(e)?;
                }
            }
            Write::ForgetSeries(metric) => {
                for sql in forget_series_sql(ALL_SERIES, "$1::text") {
                    tx.execute(sql.as_str(), &[&series_prefix(metric)])
                        .map_err(e)?;
                }
            }
            Write::Silence(s) => {
                tx.execute(
                    "INSERT INTO alerting_silences(silence_id, data) VALUES ($1, $2)
                     ON CONFLICT(silence_id) DO UPDATE SET data = excluded.data",
                    &[&s.id, &json(s)?],
                )
                .map_err(e)?;
            }
            Write::Policy(sev, p) => {
                tx.execute(
                    "INSERT INTO alerting_policies(severity, data) VALUES ($1, $2)
                     ON CONFLICT(severity) DO UPDATE SET data = excluded.data",
                    &[&sev.name(), &json(p)?],
                )
                .map_err(e)?;
            }
            Write::Config(c) => {
                tx.execute(
                    "INSERT INTO alerting_meta(key, value) VALUES ('config', $1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    &[&json(c)?],
                )
                .map_err(e)?;
            }
        }
    }
    // Many rows per call (a 10,000-point check_metrics): one statement per table.
    if !changes.alerts.is_empty() {
        let mut nums = Vec::new();
        let mut ids = Vec::new();
        let mut statuses = Vec::new();
        let mut data = Vec::new();
        for a in &changes.alerts {
            nums.push(num_of(&a.id));
            ids.push(a.id.clone());
            statuses.push(a.status.name().to_string());
            data.push(json(a)?);
        }
        tx.execute(
            "INSERT INTO alerting_alerts(alert_num, alert_id, status, data)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[])
             ON CONFLICT(alert_num) DO UPDATE SET status = excluded.status, data = excluded.data",
            &[&nums, &ids, &statuses, &data],
        )
        .map_err(e)?;
    }
    if !changes.evicted.is_empty() {
        let nums: Vec<i64> = changes.evicted.iter().map(|id| num_of(id)).collect();
        tx.execute(
            "DELETE FROM alerting_alerts WHERE alert_num = ANY($1::int8[])",
            &[&nums],
        )
        .map_err(e)?;
    }
    if !changes.groups.is_empty() {
        let mut nums = Vec::new();
        let mut data = Vec::new();
        for g in &changes.groups {
            nums.push(num_of(&g.id));
            data.push(json(g)?);
        }
        tx.execute(
            "INSERT INTO alerting_groups(group_num, data)
             SELECT * FROM unnest($1::int8[], $2::text[])
             ON CONFLICT(group_num) DO UPDATE SET data = excluded.data",
            &[&nums, &data],
        )
        .map_err(e)?;
    }
    if !changes.series.is_empty() {
        let mut keys = Vec::new();
        let mut states = Vec::new();
        for (k, s) in &changes.series {
            keys.push(k.clone());
            states.push(json(s)?);
        }
        tx.execute(
            "INSERT INTO alerting_series(series_key, state)
             SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT(series_key) DO UPDATE SET state = excluded.state",
            &[&keys, &states],
        )
        .map_err(e)?;
    }
    if !changes.day.is_empty() {
        let fresh: Vec<&str> = changes
            .day
            .iter()
            .filter(|(_, d)| d.fresh)
            .map(|(k, _)| k.as_str())
            .collect();
        if !fresh.is_empty() {
            tx.execute(
                "DELETE FROM alerting_series_day WHERE series_key = ANY($1)",
                &[&fresh],
            )
            .map_err(e)?;
        }
        let (mut keys, mut slots, mut cells) = (Vec::new(), Vec::new(), Vec::new());
        for (k, d) in &changes.day {
            for cell in &d.cells {
                keys.push(k.as_str());
                slots.push(i32::from(cell.0));
                cells.push(json(cell)?);
            }
        }
        tx.execute(
            "INSERT INTO alerting_series_day(series_key, slot, cell)
             SELECT * FROM unnest($1::text[], $2::int4[], $3::text[])
             ON CONFLICT(series_key, slot) DO UPDATE SET cell = excluded.cell",
            &[&keys, &slots, &cells],
        )
        .map_err(e)?;
    }
    let mut prune = false;
    if !changes.journal.is_empty() {
        let last_id = |tx: &mut postgres::Transaction<'_>| -> Res<i64> {
            tx.query_one("SELECT COALESCE(MAX(id), 0) FROM alerting_series_log", &[])
                .map(|r| r.get(0))
                .map_err(e)
        };
        let since = last_id(tx)?;
        let (mut snap_keys, mut states) = (Vec::new(), Vec::new());
        let (mut keys, mut rows) = (Vec::new(), Vec::new());
        for (k, j) in &changes.journal {
            if j.reset {
                snap_keys.push(k.as_str());
                states.push(j.snapshot.as_deref().unwrap_or(""));
            }
            if let Some(points) = &j.points {
                keys.push(k.as_str());
                rows.push(points.as_str());
            }
        }
        if !snap_keys.is_empty() {
            tx.execute(
                "INSERT INTO alerting_series_snapshot(series_key, state, since)
                 SELECT k, s, $3 FROM unnest($1::text[], $2::text[]) AS u(k, s)
                 ON CONFLICT(series_key) DO UPDATE SET state = excluded.state, since = excluded.since",
                &[&snap_keys, &states, &since],
            )
            .map_err(e)?;
        }
        if !keys.is_empty() {
            tx.execute(
                "INSERT INTO alerting_series_log(series_key, points)
                 SELECT * FROM unnest($1::text[], $2::text[])",
                &[&keys, &rows],
            )
            .map_err(e)?;
            prune = prune_due(since, last_id(tx)?);
        }
    }
    tx.execute(
        "INSERT INTO alerting_meta(key, value) VALUES ('counters', $1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        &[&json(&changes.counters)?],
    )
    .map_err(e)?;
    Ok(prune)
}

impl StateStore for PgState {
    fn save(&mut self, batches: &[Batch]) -> Res<()> {
        // Network round trips through the synchronous client: always in
        // blocking mode.
        let prune = crate::store::blocking(|| {
            let client = self.client()?;
            let mut tx = client.transaction().map_err(|e| pg_text(&e))?;
            let mut prune = false;
            for (writes, changes) in batches {
                prune |= save_in(&mut tx, writes, changes)?;
            }
            tx.commit().map_err(|e| pg_text(&e))?;
            Ok::<_, String>(prune)
        })?;
        self.prune_due |= prune;
        Ok(())
    }

    fn upkeep_due(&self) -> bool {
        self.prune_due
    }

    fn upkeep(&mut self) -> Res<()> {
        if self.prune_due {
            crate::store::blocking(|| {
                self.client()?
                    .batch_execute(&prune_log(SNAPSHOT_SINCE))
                    .map_err(|e| pg_text(&e))
            })?;
            self.prune_due = false;
        }
        Ok(())
    }

    fn load(&mut self) -> Res<Engine> {
        let client = self.client()?;
        load_with(
            &mut |sql: &str| {
                let rows = client.query(sql, &[]).map_err(|e| pg_text(&e))?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let first: String = r.get(0);
                        let second: Option<String> = if r.len() > 1 { r.get(1) } else { None };
                        (first, second)
                    })
                    .collect())
            },
            SNAPSHOT_SINCE,
        )
    }
}

/// How the journal's queries read a series' `since` from the snapshot table:
/// as written (PostgreSQL keeps the large `state` out of the row, so the row
/// read is small; see `super::sqlite::SNAPSHOT_SINCE` for SQLite's hint).
const SNAPSHOT_SINCE: &str = "";
