//! The alerting tables in the shared store, and loading an engine back.
//!
//! Design choice: rows hold JSON documents keyed by identity (rule id,
//! alert number, series key), and the engine's dirty sets are written in ONE
//! transaction per tool call (a 10,000-point `check_metrics` call is one
//! commit), so learned baselines survive a restart without a write per point.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::engine::{
    Changes, Counters, DynamicSpec, Engine, EngineConfig, Loaded, RuleSpec, SeriesRecord,
};
use super::escalate::Policy;
use super::model::{Alert, Severity};
use super::silence::Silence;
use crate::store::WriteTx;
use crate::store::migrations::Migration;

/// The alerting component's schema.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "alerting_tables",
        sql: "CREATE TABLE alerting_rules (
              seq INTEGER PRIMARY KEY AUTOINCREMENT,
              rule_id TEXT NOT NULL UNIQUE,
              spec TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_detectors (
              metric_name TEXT PRIMARY KEY,
              spec TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_series (
              series_key TEXT PRIMARY KEY,
              state TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_alerts (
              alert_num INTEGER PRIMARY KEY,
              alert_id TEXT NOT NULL UNIQUE,
              status TEXT NOT NULL,
              data TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_groups (
              group_num INTEGER PRIMARY KEY,
              data TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_silences (
              silence_id TEXT PRIMARY KEY,
              data TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_policies (
              severity TEXT PRIMARY KEY,
              data TEXT NOT NULL
          ) STRICT;
          CREATE TABLE alerting_meta (
              key TEXT PRIMARY KEY,
              value TEXT NOT NULL
          ) STRICT;",
    },
    Migration {
        version: 2,
        name: "alerting_series_day",
        // One row per daily-profile slot of an `auto` series: a point
        // rewrites its slot, not the series' whole 288-slot profile. `cell`
        // is `[slot, unix_second, value]` (text, so loading stays portable).
        sql: "CREATE TABLE alerting_series_day (
                  series_key TEXT NOT NULL,
                  slot INTEGER NOT NULL,
                  cell TEXT NOT NULL,
                  PRIMARY KEY (series_key, slot)
              ) STRICT, WITHOUT ROWID;",
    },
];

/// A definition change to write beside the engine's dirty state.
#[derive(Debug, Clone)]
pub enum Write {
    Rule(RuleSpec),
    RemoveRule(String),
    Dynamic(DynamicSpec),
    RemoveDynamic(String),
    Silence(Silence),
    Policy(Severity, Policy),
    Config(EngineConfig),
}

pub(crate) type Res<T> = Result<T, String>;

/// What one call asks to write: definitions, then the engine's changes.
pub type Batch = (Vec<Write>, Changes);

/// Where the alerting state is kept: the data dir's SQLite store
/// ([`SqliteState`]) or PostgreSQL ([`super::postgres::PgState`]).
pub trait StateStore: Send + std::fmt::Debug {
    /// Writes `batches` (each call's definitions and engine changes, oldest
    /// first) in one transaction.
    fn save(&mut self, batches: &[Batch]) -> Res<()>;
    /// Builds an engine from the stored state.
    fn load(&mut self) -> Res<Engine>;
}

/// The alerting tables of the data dir's SQLite store.
#[derive(Debug)]
pub struct SqliteState(pub Connection);

impl StateStore for SqliteState {
    fn save(&mut self, batches: &[Batch]) -> Res<()> {
        save(&mut self.0, batches)
    }

    fn load(&mut self) -> Res<Engine> {
        load(&self.0)
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Res<String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

pub(crate) fn num_of(id: &str) -> i64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Writes `batches` in one transaction, in order (a later batch's upsert of
/// a row wins). Waits (in blocking mode, see [`crate::store::blocking`])
/// only when another connection holds the write lock.
pub fn save(conn: &mut Connection, batches: &[Batch]) -> Res<()> {
    let tx = match WriteTx::begin_now(conn).map_err(|e| e.to_string())? {
        Some(tx) => tx,
        None => crate::store::blocking(|| WriteTx::begin(conn)).map_err(|e| e.to_string())?,
    };
    for (writes, changes) in batches {
        save_in(&tx, writes, changes)?;
    }
    tx.commit().map_err(|e| e.to_string())
}

fn save_in(tx: &Connection, writes: &[Write], changes: &Changes) -> Res<()> {
    let e = |e: rusqlite::Error| e.to_string();
    for w in writes {
        match w {
            Write::Rule(spec) => {
                tx.execute(
                    "DELETE FROM alerting_rules WHERE rule_id = ?1",
                    [&spec.rule_id],
                )
                .map_err(e)?;
                tx.execute(
                    "INSERT INTO alerting_rules(rule_id, spec) VALUES (?1, ?2)",
                    params![spec.rule_id, json(spec)?],
                )
                .map_err(e)?;
            }
            Write::RemoveRule(id) => {
                tx.execute("DELETE FROM alerting_rules WHERE rule_id = ?1", [id])
                    .map_err(e)?;
            }
            Write::Dynamic(spec) => {
                tx.execute(
                    "INSERT INTO alerting_detectors(metric_name, spec) VALUES (?1, ?2)
                     ON CONFLICT(metric_name) DO UPDATE SET spec = excluded.spec",
                    params![spec.metric_name, json(spec)?],
                )
                .map_err(e)?;
            }
            Write::RemoveDynamic(metric) => {
                tx.execute(
                    "DELETE FROM alerting_detectors WHERE metric_name = ?1",
                    [metric],
                )
                .map_err(e)?;
            }
            Write::Silence(s) => {
                tx.execute(
                    "INSERT INTO alerting_silences(silence_id, data) VALUES (?1, ?2)
                     ON CONFLICT(silence_id) DO UPDATE SET data = excluded.data",
                    params![s.id, json(s)?],
                )
                .map_err(e)?;
            }
            Write::Policy(sev, p) => {
                tx.execute(
                    "INSERT INTO alerting_policies(severity, data) VALUES (?1, ?2)
                     ON CONFLICT(severity) DO UPDATE SET data = excluded.data",
                    params![sev.name(), json(p)?],
                )
                .map_err(e)?;
            }
            Write::Config(c) => {
                tx.execute(
                    "INSERT INTO alerting_meta(key, value) VALUES ('config', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [json(c)?],
                )
                .map_err(e)?;
            }
        }
    }
    let mut alert_stmt = tx
        .prepare_cached(
            "INSERT INTO alerting_alerts(alert_num, alert_id, status, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(alert_num) DO UPDATE SET status = excluded.status, data = excluded.data",
        )
        .map_err(e)?;
    for a in &changes.alerts {
        alert_stmt
            .execute(params![num_of(&a.id), a.id, a.status.name(), json(a)?])
            .map_err(e)?;
    }
    let mut evict_stmt = tx
        .prepare_cached("DELETE FROM alerting_alerts WHERE alert_num = ?1")
        .map_err(e)?;
    for id in &changes.evicted {
        evict_stmt.execute([num_of(id)]).map_err(e)?;
    }
    let mut group_stmt = tx
        .prepare_cached(
            "INSERT INTO alerting_groups(group_num, data) VALUES (?1, ?2)
             ON CONFLICT(group_num) DO UPDATE SET data = excluded.data",
        )
        .map_err(e)?;
    for g in &changes.groups {
        group_stmt
            .execute(params![num_of(&g.id), json(g)?])
            .map_err(e)?;
    }
    let mut series_stmt = tx
        .prepare_cached(
            "INSERT INTO alerting_series(series_key, state) VALUES (?1, ?2)
             ON CONFLICT(series_key) DO UPDATE SET state = excluded.state",
        )
        .map_err(e)?;
    for (k, s) in &changes.series {
        series_stmt.execute(params![k, json(s)?]).map_err(e)?;
    }
    let mut day_stmt = tx
        .prepare_cached(
            "INSERT INTO alerting_series_day(series_key, slot, cell) VALUES (?1, ?2, ?3)
             ON CONFLICT(series_key, slot) DO UPDATE SET cell = excluded.cell",
        )
        .map_err(e)?;
    for (k, d) in &changes.day {
        if d.fresh {
            tx.prepare_cached("DELETE FROM alerting_series_day WHERE series_key = ?1")
                .and_then(|mut st| st.execute([k]))
                .map_err(e)?;
        }
        for cell in &d.cells {
            day_stmt
                .execute(params![k, cell.0, json(cell)?])
                .map_err(e)?;
        }
    }
    let counters = json(&changes.counters)?;
    tx.prepare_cached(
        "INSERT INTO alerting_meta(key, value) VALUES ('counters', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut s| s.execute([counters]))
    .map_err(e)?;
    Ok(())
}

/// Rows of a portable `SELECT a [, b]`: the first column, and the second if any.
type Query<'a> = dyn FnMut(&str) -> Res<Vec<(String, Option<String>)>> + 'a;

fn rows<T: serde::de::DeserializeOwned>(query: &mut Query<'_>, sql: &str) -> Res<Vec<T>> {
    let texts = query(sql)?;
    let mut out = Vec::with_capacity(texts.len());
    for (t, _) in texts {
        match serde_json::from_str(&t) {
            Ok(v) => out.push(v),
            // A row this version cannot read is skipped, not fatal: the rest
            // of the state is still worth having.
            Err(err) => tracing::warn!("skipping unreadable alerting row: {err}"),
        }
    }
    Ok(out)
}

/// Builds an engine from the SQLite store.
pub fn load(conn: &Connection) -> Res<Engine> {
    load_with(&mut |sql: &str| {
        let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
        let two = stmt.column_count() > 1;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                if two {
                    r.get::<_, Option<String>>(1)?
                } else {
                    None
                },
            ))
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
    })
}

/// Builds an engine from any store, through `query` running the portable
/// SELECTs below.
pub(crate) fn load_with(query: &mut Query<'_>) -> Res<Engine> {
    let mut engine = Engine::new();
    let mut meta = |key: &str| -> Res<Option<String>> {
        Ok(query(&format!(
            "SELECT value FROM alerting_meta WHERE key = '{key}'"
        ))?
        .into_iter()
        .next()
        .map(|(v, _)| v))
    };
    if let Some(c) = meta("config")? {
        engine.config = serde_json::from_str(&c).map_err(|e| e.to_string())?;
    }
    let counters: Counters = match meta("counters")? {
        Some(c) => serde_json::from_str(&c).map_err(|e| e.to_string())?,
        None => Counters::default(),
    };
    for spec in rows::<RuleSpec>(query, "SELECT spec FROM alerting_rules ORDER BY seq")? {
        let id = spec.rule_id.clone();
        if let Err(err) = engine.add_rule(spec) {
            tracing::warn!(rule_id = id, "skipping stored rule: {err}");
        }
    }
    for spec in rows::<DynamicSpec>(query, "SELECT spec FROM alerting_detectors")? {
        engine.add_dynamic(spec);
    }
    let alerts: Vec<Alert> = rows(query, "SELECT data FROM alerting_alerts ORDER BY alert_num")?;
    let groups = rows(query, "SELECT data FROM alerting_groups ORDER BY group_num")?;
    let series: Vec<SeriesRecord> = rows(query, "SELECT state FROM alerting_series")?;
    let mut day: HashMap<String, Vec<(u16, i64, f64)>> = HashMap::new();
    for (key, cell) in query("SELECT series_key, cell FROM alerting_series_day")? {
        match cell.map(|c| serde_json::from_str::<(u16, i64, f64)>(&c)) {
            Some(Ok(cell)) => day.entry(key).or_default().push(cell),
            _ => tracing::warn!(series = key, "skipping unreadable daily-profile slot"),
        }
    }
    let silences = rows(query, "SELECT data FROM alerting_silences")?;
    let mut policies = Vec::new();
    for (sev, data) in query("SELECT severity, data FROM alerting_policies")? {
        if let (Some(sev), Some(Ok(p))) = (
            Severity::parse(&sev),
            data.map(|d| serde_json::from_str::<Policy>(&d)),
        ) {
            policies.push((sev, p));
        }
    }
    engine.restore(Loaded {
        counters,
        alerts,
        groups,
        series,
        day,
        silences,
        policies,
    });
    // What was just read is saved already.
    engine.take_definitions();
    Ok(engine)
}
