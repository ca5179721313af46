//! The alerting tables in the data dir's SQLite store: their schema,
//! saving a call's writes in one transaction, and loading an engine back
//! (through [`super::storage`]'s portable loader).

use std::sync::Arc;
use std::sync::atomic::AtomicI32;

use rusqlite::{Connection, params};

use super::engine::{Changes, Engine};
use super::storage::{
    ALL_SERIES, Batch, LEARNED, Res, StateStore, Write, forget_series_sql, json, load_with, num_of,
    prune_due, prune_log, series_prefix,
};
use crate::store::migrations::Migration;
use crate::store::{WriteTx, wal};

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
    Migration {
        version: 3,
        name: "alerting_series_journal",
        // An `auto` series' detector state (~19 KB) is stored whole now and
        // then (`state`, base64 words; LZ4-packed after `lz4:` since, see
        // `threshold::PACKED`) and the points learned since as one
        // journal row per call (`points`: "<seq> <base64>", `seq` the first
        // point's number; packed after `p:` since, see `packed`); loading
        // replays the rows over the snapshot.
        sql: "CREATE TABLE alerting_series_snapshot (
                  series_key TEXT PRIMARY KEY,
                  state TEXT NOT NULL
              ) STRICT;
              CREATE TABLE alerting_series_points (
                  series_key TEXT NOT NULL,
                  seq INTEGER NOT NULL,
                  points TEXT NOT NULL,
                  PRIMARY KEY (series_key, seq)
              ) STRICT;",
    },
    Migration {
        version: 4,
        name: "alerting_series_log",
        // The journal rows in call order instead of by series: a call's rows
        // for 1,000 series were 1,000 inserts into as many B-tree pages (4 MB
        // of WAL per call); appended at the end they fill a few dozen. A
        // snapshot row's `since` is the highest log id its snapshot (or, with
        // `state` empty, its detector's fresh start) makes obsolete for its
        // series; loading ignores those rows and the upkeep after saves
        // prunes them now and then (`storage::PRUNE_EVERY`).
        sql: "CREATE TABLE alerting_series_log (
                  id INTEGER PRIMARY KEY,
                  series_key TEXT NOT NULL,
                  points TEXT NOT NULL
              ) STRICT;
              INSERT INTO alerting_series_log(series_key, points)
                  SELECT series_key, points FROM alerting_series_points ORDER BY series_key, seq;
              DROP TABLE alerting_series_points;
              ALTER TABLE alerting_series_snapshot ADD COLUMN since INTEGER NOT NULL DEFAULT 0;",
    },
    Migration {
        version: 5,
        name: "alerting_series_snapshot_since",
        // Pruning and loading the journal read a series' `since` once per
        // log row. Through the primary key SQLite reads it from the table
        // row, where it follows the ~25 KB `state` in its overflow pages:
        // the prune of a 1,000-series log took about 100 ms and was a tenth
        // of `check_metrics`' cost. This covering index holds it alone
        // ([`SNAPSHOT_SINCE`] names it: the planner prefers the unique key).
        sql: "CREATE INDEX alerting_series_snapshot_since
                  ON alerting_series_snapshot(series_key, since);",
    },
];

/// How the journal's queries read a series' `since` from the snapshot table:
/// through the covering index of migration 5.
pub const SNAPSHOT_SINCE: &str = "INDEXED BY alerting_series_snapshot_since";

/// The alerting tables of the data dir's SQLite store.
#[derive(Debug)]
pub struct SqliteState {
    conn: Connection,
    /// The WAL's size in frames after the connection's last commit, when
    /// this state runs the connection's checkpoints in its upkeep
    /// ([`crate::store::Store::connect_self_checkpointing`]).
    wal_frames: Option<Arc<AtomicI32>>,
    /// A save took the journal past a multiple of `PRUNE_EVERY` rows.
    prune_due: bool,
}

impl SqliteState {
    /// The state over `conn`; `wal_frames`: see the field.
    pub fn new(conn: Connection, wal_frames: Option<Arc<AtomicI32>>) -> Self {
        SqliteState {
            conn,
            wal_frames,
            prune_due: false,
        }
    }
}

impl StateStore for SqliteState {
    fn save(&mut self, batches: &[Batch]) -> Res<()> {
        self.prune_due |= save(&mut self.conn, batches)?;
        Ok(())
    }

    fn load(&mut self) -> Res<Engine> {
        load(&self.conn)
    }

    fn upkeep_due(&self) -> bool {
        self.prune_due || self.wal_frames.as_deref().is_some_and(wal::checkpoint_due)
    }

    fn upkeep(&mut self) -> Res<()> {
        if self.prune_due {
            prune(&mut self.conn)?;
            self.prune_due = false;
        }
        if let Some(frames) = &self.wal_frames {
            wal::checkpoint_if_due(&self.conn, frames).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Writes `batches` in one transaction, in order (a later batch's upsert of
/// a row wins). Waits (in blocking mode, see [`crate::store::blocking`])
/// only when another connection holds the write lock. Whether the journal
/// is due for a [`prune`]: it crossed a multiple of `PRUNE_EVERY` rows.
pub fn save(conn: &mut Connection, batches: &[Batch]) -> Res<bool> {
    let tx = begin(conn)?;
    let mut prune = false;
    for (writes, changes) in batches {
        prune |= save_in(&tx, writes, changes)?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(prune)
}

/// Deletes the journal rows snapshots (or fresh starts) made obsolete, in a
/// transaction of its own.
pub fn prune(conn: &mut Connection) -> Res<()> {
    let tx = begin(conn)?;
    tx.execute_batch(&prune_log(SNAPSHOT_SINCE))
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

fn begin(conn: &mut Connection) -> Res<WriteTx<'_>> {
    match WriteTx::begin_now(conn).map_err(|e| e.to_string())? {
        Some(tx) => Ok(tx),
        None => crate::store::blocking(|| WriteTx::begin(conn)).map_err(|e| e.to_string()),
    }
}

/// One call's writes; whether the journal is due for a prune.
fn save_in(tx: &Connection, writes: &[Write], changes: &Changes) -> Res<bool> {
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
                for sql in forget_series_sql(LEARNED, "?1") {
                    tx.execute(&sql, [series_prefix(metric)]).map_err(e)?;
                }
            }
            Write::ForgetSeries(metric) => {
                for sql in forget_series_sql(ALL_SERIES, "?1") {
                    tx.execute(&sql, [series_prefix(metric)]).map_err(e)?;
                }
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
    let mut prune = false;
    if !changes.journal.is_empty() {
        let last_id = || -> Res<i64> {
            tx.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM alerting_series_log")
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .map_err(e)
        };
        let since = last_id()?;
        let mut snapshot = tx
            .prepare_cached(
                "INSERT INTO alerting_series_snapshot(series_key, state, since) VALUES (?1, ?2, ?3)
                 ON CONFLICT(series_key) DO UPDATE SET state = excluded.state, since = excluded.since",
            )
            .map_err(e)?;
        let mut log = tx
            .prepare_cached("INSERT INTO alerting_series_log(series_key, points) VALUES (?1, ?2)")
            .map_err(e)?;
        for (k, j) in &changes.journal {
            if j.reset {
                let state = j.snapshot.as_deref().unwrap_or("");
                snapshot.execute(params![k, state, since]).map_err(e)?;
            }
            if let Some(points) = &j.points {
                log.execute(params![k, points]).map_err(e)?;
            }
        }
        prune = prune_due(since, last_id()?);
    }
    let counters = json(&changes.counters)?;
    tx.prepare_cached(
        "INSERT INTO alerting_meta(key, value) VALUES ('counters', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut s| s.execute([counters]))
    .map_err(e)?;
    Ok(prune)
}

/// Builds an engine from the SQLite store.
pub fn load(conn: &Connection) -> Res<Engine> {
    load_with(
        &mut |sql: &str| {
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
        },
        SNAPSHOT_SINCE,
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::engine::Changes;
    use super::super::storage::{PRUNE_EVERY, journal_rows, prune_log};
    use super::super::threshold::JournalChanges;
    use super::{MIGRATIONS, SNAPSHOT_SINCE, prune, save};
    use crate::store::migrations::{Migration, migrate};

    fn migrated(list: &'static [Migration]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &[("alerting", list)]).unwrap();
        conn
    }

    fn journal(conn: &Connection) -> Vec<(String, String)> {
        let mut st = conn.prepare(&journal_rows(SNAPSHOT_SINCE)).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn points(key: &str, first: u64) -> (String, JournalChanges) {
        let row = JournalChanges {
            reset: false,
            snapshot: None,
            points: Some(format!("{first} AAAA")),
        };
        (key.to_string(), row)
    }

    #[test]
    fn journal_rows_of_a_version_3_store_are_kept_in_series_order() {
        let mut conn = migrated(&MIGRATIONS[..3]);
        conn.execute_batch(
            "INSERT INTO alerting_series_snapshot VALUES ('b', 'SNAP');
             INSERT INTO alerting_series_points VALUES ('b', 1024, '1024 B2'), ('a', 10, '10 A2'),
                 ('a', 0, '0 A1'), ('b', 1030, '1030 B3');",
        )
        .unwrap();
        migrate(&mut conn, &[("alerting", MIGRATIONS)]).unwrap();
        let rows = journal(&conn);
        let of = |k: &str| -> Vec<String> {
            rows.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, p)| p.clone())
                .collect()
        };
        assert_eq!(of("a"), ["0 A1", "10 A2"]);
        assert_eq!(of("b"), ["1024 B2", "1030 B3"]);
    }

    #[test]
    fn pruning_and_loading_read_since_from_the_covering_index_not_the_snapshot_rows() {
        let conn = migrated(MIGRATIONS);
        for sql in [prune_log(SNAPSHOT_SINCE), journal_rows(SNAPSHOT_SINCE)] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.contains("COVERING INDEX alerting_series_snapshot_since")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn a_snapshot_hides_and_pruning_deletes_only_the_rows_it_covers() {
        let mut conn = migrated(MIGRATIONS);
        let call = |conn: &mut Connection, journal: Vec<(String, JournalChanges)>| {
            let changes = Changes {
                journal,
                ..Default::default()
            };
            if save(conn, &[(Vec::new(), changes)]).unwrap() {
                prune(conn).unwrap();
            }
        };
        call(&mut conn, vec![points("a", 0), points("b", 0)]);
        // `a` stores a snapshot; `b` starts afresh with its first points.
        let snapshot = JournalChanges {
            reset: true,
            snapshot: Some("SNAP".into()),
            points: None,
        };
        let fresh = JournalChanges {
            reset: true,
            snapshot: None,
            points: Some("0 FRESH".into()),
        };
        call(&mut conn, vec![("a".into(), snapshot), ("b".into(), fresh)]);
        call(&mut conn, vec![points("a", 10)]);
        assert_eq!(
            journal(&conn),
            [
                ("b".to_string(), "0 FRESH".to_string()),
                ("a".into(), "10 AAAA".into())
            ]
        );
        let count = |conn: &Connection| -> i64 {
            conn.query_row("SELECT COUNT(*) FROM alerting_series_log", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&conn), 4, "not pruned yet");
        // Rows of series with no snapshot are never pruned: take the log's
        // highest id past PRUNE_EVERY with such rows.
        let keys: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let last = |conn: &Connection| -> i64 {
            conn.query_row("SELECT MAX(id) FROM alerting_series_log", [], |r| r.get(0))
                .unwrap()
        };
        while last(&conn) < PRUNE_EVERY {
            call(&mut conn, keys.iter().map(|k| points(k, 0)).collect());
        }
        let rows = journal(&conn);
        assert_eq!(
            count(&conn) as usize,
            rows.len(),
            "the two covered rows are gone"
        );
        assert_eq!(rows.len() as i64, last(&conn) - 2);
        assert_eq!(
            rows[..2],
            [
                ("b".to_string(), "0 FRESH".to_string()),
                ("a".into(), "10 AAAA".into())
            ]
        );
    }

    #[test]
    fn saves_leave_the_checkpoint_to_upkeep_and_after_it_the_wal_starts_over() {
        use super::super::storage::StateStore;
        use super::SqliteState;
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(tmp.path(), &[("alerting", MIGRATIONS)]).unwrap();
        let (conn, frames) = store.connect_self_checkpointing().unwrap();
        let mut state = SqliteState::new(conn, Some(frames.clone()));
        let wal_len =
            || std::fs::metadata(store.path().with_extension("db-wal")).map_or(0, |m| m.len());
        let frames_now = || frames.load(std::sync::atomic::Ordering::Relaxed);
        // Saves of ~100 pages each: no commit checkpoints by itself.
        let big = |call: usize| {
            let journal = (0..1000)
                .map(|i| {
                    let row = JournalChanges {
                        reset: false,
                        snapshot: None,
                        points: Some(format!("{call} {}", "A".repeat(400))),
                    };
                    (format!("s{i}"), row)
                })
                .collect();
            let changes = Changes {
                journal,
                ..Default::default()
            };
            (Vec::new(), changes)
        };
        let mut call = 0;
        while !state.upkeep_due() {
            state.save(&[big(call)]).unwrap();
            call += 1;
            assert!(call < 100, "the WAL never reached SQLite's threshold");
        }
        let grown = frames_now();
        assert!(grown >= 1000, "{grown} frames");
        let size = wal_len();
        state.upkeep().unwrap();
        assert!(!state.upkeep_due(), "the checkpoint ran");
        // The next commit writes from the log's beginning: it reports a
        // small log, and the file does not grow.
        state.save(&[big(call)]).unwrap();
        assert!(
            frames_now() < grown / 2,
            "{} frames after upkeep",
            frames_now()
        );
        assert!(wal_len() <= size);
    }
}
