//! The alerting state's storage boundary: what a call asks to write (the
//! definitions it changed and the engine's dirty state) and the
//! [`StateStore`] trait, with the data dir's SQLite store
//! ([`super::sqlite`]) and PostgreSQL ([`super::postgres`]) behind it;
//! loading an engine back is written once, over portable SELECTs.
//!
//! Design choice: rows hold JSON documents keyed by identity (rule id,
//! alert number, series key), and the engine's dirty sets are written in ONE
//! transaction per tool call (a 10,000-point `check_metrics` call is one
//! commit), so learned baselines survive a restart without a write per point.

use std::collections::HashMap;

use super::engine::{
    Changes, Counters, DynamicSpec, Engine, EngineConfig, Loaded, RuleSpec, SeriesRecord,
};
use super::escalate::Policy;
use super::model::{Alert, Severity};
use super::silence::Silence;

/// A definition change to write beside the engine's dirty state.
#[derive(Debug, Clone)]
pub enum Write {
    Rule(RuleSpec),
    RemoveRule(String),
    Dynamic(DynamicSpec),
    RemoveDynamic(String),
    /// A metric left with neither rules nor a learned threshold: its
    /// series rows go too (nothing would load them).
    ForgetSeries(String),
    Silence(Silence),
    Policy(Severity, Policy),
    Config(EngineConfig),
}

pub(crate) type Res<T> = Result<T, String>;

/// What one call asks to write: definitions, then the engine's changes.
pub type Batch = (Vec<Write>, Changes);

/// Where the alerting state is kept: the data dir's SQLite store
/// ([`super::sqlite::SqliteState`]) or PostgreSQL ([`super::postgres::PgState`]).
pub trait StateStore: Send + std::fmt::Debug {
    /// Writes `batches` (each call's definitions and engine changes, oldest
    /// first) in one transaction.
    fn save(&mut self, batches: &[Batch]) -> Res<()>;
    /// Builds an engine from the stored state.
    fn load(&mut self) -> Res<Engine>;
    /// Whether saves left upkeep to do ([`StateStore::upkeep`]).
    fn upkeep_due(&self) -> bool {
        false
    }
    /// Upkeep the saves left due: pruning the journal and, on SQLite,
    /// copying the WAL into the database file. The service runs it after the
    /// call that saved has answered, not inside that call: a prune of a
    /// 1,000-series journal takes about 50 ms and a checkpoint about 10 ms,
    /// a stall of the call's answer and of every call queued behind it.
    /// Nothing is lost if it does not run: it stays due.
    fn upkeep(&mut self) -> Res<()> {
        Ok(())
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Res<String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

/// The journal log is pruned when a save takes its highest id past a
/// multiple of this many rows (about every 64 calls of 1,000 series).
pub(crate) const PRUNE_EVERY: i64 = 65_536;

/// Whether a save that took the log's highest id from `before` to `after`
/// prunes it.
pub(crate) fn prune_due(before: i64, after: i64) -> bool {
    before / PRUNE_EVERY != after / PRUNE_EVERY
}

/// The journal rows loading replays, oldest first: those no snapshot (or
/// fresh start) of their series made obsolete. `hint` follows the snapshot
/// table where the backend must be told how to read a series' `since`
/// fastest ([`super::sqlite::SNAPSHOT_SINCE`]; empty for PostgreSQL).
pub(crate) fn journal_rows(hint: &str) -> String {
    format!(
        "SELECT l.series_key, l.points FROM alerting_series_log l \
         LEFT JOIN alerting_series_snapshot s {hint} ON s.series_key = l.series_key \
         WHERE l.id > COALESCE(s.since, 0) ORDER BY l.id"
    )
}

/// Deletes the journal rows a snapshot (or a fresh start) made obsolete
/// (SQLite and PostgreSQL alike; `hint` as in [`journal_rows`]).
pub(crate) fn prune_log(hint: &str) -> String {
    format!(
        "DELETE FROM alerting_series_log WHERE id <= \
         (SELECT s.since FROM alerting_series_snapshot s {hint} \
          WHERE s.series_key = alerting_series_log.series_key)"
    )
}

/// What the series of one metric learned: snapshots, journal rows, daily
/// profiles (deleted when its learned threshold is removed).
pub(crate) const LEARNED: &[&str] = &[
    "alerting_series_snapshot",
    "alerting_series_log",
    "alerting_series_day",
];

/// Everything stored for the series of one metric (deleted when it has
/// neither rules nor a learned threshold left).
pub(crate) const ALL_SERIES: &[&str] = &[
    "alerting_series",
    "alerting_series_snapshot",
    "alerting_series_log",
    "alerting_series_day",
];

/// Deletes the rows of one metric's series from `tables`; `{p}` is the
/// placeholder of the series-key prefix (`metric` + U+001F). A prefix test
/// rather than a key range: PostgreSQL's locale collation would not order
/// U+001F bytewise. A scan, but of tables of a few rows per series, on a
/// call a user makes rarely.
pub(crate) fn forget_series_sql(tables: &[&str], p: &str) -> Vec<String> {
    tables
        .iter()
        .map(|t| format!("DELETE FROM {t} WHERE substr(series_key, 1, length({p})) = {p}"))
        .collect()
}

/// The series-key prefix of a metric's series (see [`super::engine::series_key`]).
pub(crate) fn series_prefix(metric: &str) -> String {
    format!("{metric}\u{1f}")
}

pub(crate) fn num_of(id: &str) -> i64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Rows of a portable `SELECT a [, b]`: the first column, and the second if any.
pub(crate) type Query<'a> = dyn FnMut(&str) -> Res<Vec<(String, Option<String>)>> + 'a;

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

/// Builds an engine from any store, through `query` running the portable
/// SELECTs below (`hint` as in [`journal_rows`]).
pub(crate) fn load_with(query: &mut Query<'_>, hint: &str) -> Res<Engine> {
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
    // An empty state marks a detector started afresh, with no snapshot yet.
    let snapshots: HashMap<String, String> =
        query("SELECT series_key, state FROM alerting_series_snapshot WHERE state <> ''")?
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
    let mut journal: HashMap<String, Vec<String>> = HashMap::new();
    for (key, row) in query(&journal_rows(hint))? {
        if let Some(row) = row {
            journal.entry(key).or_default().push(row);
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
        snapshots,
        journal,
        silences,
        policies,
    });
    // What was just read is saved already.
    engine.take_definitions();
    Ok(engine)
}
