//! The embedded store: one SQLite file in the data dir, shared by every
//! subsystem and by every server process that points at the same data dir.
//!
//! Why SQLite in WAL mode: readers never block the writer and vice versa, the
//! log makes each committed transaction survive a crash of the process
//! (`kill -9`) without an fsync per write, and the file lock lets several
//! server processes on one machine share one store safely. Subsystems that must
//! survive power loss too (the audit trail) open their own connection with
//! `synchronous = FULL` and batch their commits.
//!
//! The WAL is bounded: past a size limit, the commit that crossed it
//! checkpoints and truncates it ([`wal`]).
//!
//! Schema changes are ordered migrations per component, each subsystem's
//! list handed in by the wiring ([`Store::open`]), recorded in the
//! `schema_migrations` table; they run inside one `BEGIN IMMEDIATE`
//! transaction, so two processes starting at once apply each migration
//! exactly once.

pub mod migrations;
pub mod postgres;
pub mod wal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use migrations::{Component, Migration};

/// File name of the store inside the data dir.
pub const DB_FILE: &str = "smart-systems.db";

/// How long a connection waits for another process's write lock before
/// giving up with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong opening or migrating the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir could not be created or is not a writable directory.
    #[error("data dir {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// SQLite refused an operation.
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer version of this server.
    #[error(
        "store {path} has {component} schema version {found}, newer than this binary's \
         {supported}; upgrade smart-systems-mcp or use another --data-dir"
    )]
    TooNew {
        path: PathBuf,
        component: String,
        found: i64,
        supported: i64,
    },
}

/// An opened, migrated store. Cheap to share behind an `Arc`; each subsystem
/// opens the connections it needs with [`Store::connect`].
#[derive(Debug)]
pub struct Store {
    data_dir: PathBuf,
    path: PathBuf,
    schema_versions: BTreeMap<String, i64>,
    wal_limit: u64,
}

impl Store {
    /// Creates the data dir when missing, opens (or creates) the store file,
    /// switches it to WAL and applies the pending migrations of the store core
    /// and of `components`.
    pub fn open(data_dir: &Path, components: &[Component]) -> Result<Store, StoreError> {
        Self::open_with_wal_limit(data_dir, components, wal::DEFAULT_WAL_LIMIT)
    }

    /// As [`Store::open`], with the size in bytes past which the WAL is
    /// checkpointed and truncated (at least [`wal::MIN_WAL_LIMIT`]).
    pub fn open_with_wal_limit(
        data_dir: &Path,
        components: &[Component],
        wal_limit: u64,
    ) -> Result<Store, StoreError> {
        let wal_limit = wal_limit.max(wal::MIN_WAL_LIMIT);
        let data_dir = prepare_data_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        // Two processes creating the store at once can each hold a shared
        // lock while wanting the exclusive one (switching a new file to WAL);
        // SQLite then answers one of them SQLITE_BUSY at once instead of
        // waiting, to break the deadlock. That one lets go of its locks
        // (drops the connection) and starts over, within the busy timeout.
        let started = std::time::Instant::now();
        loop {
            match Self::open_once(&data_dir, &path, components, wal_limit) {
                Err(StoreError::Sqlite { source, .. })
                    if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    tracing::debug!(path = %path.display(), "store busy while opening; retrying");
                    std::thread::sleep(Duration::from_millis(
                        5 + u64::from(std::process::id() % 20),
                    ));
                }
                other => return other,
            }
        }
    }

    fn open_once(
        data_dir: &Path,
        path: &Path,
        components: &[Component],
        wal_limit: u64,
    ) -> Result<Store, StoreError> {
        let (data_dir, path) = (data_dir.to_path_buf(), path.to_path_buf());
        let mut conn = open_connection(&path, wal_limit, wal::Checkpoints::OnCommit)?;
        let schema_versions = migrations::migrate(&mut conn, components).map_err(|e| match e {
            migrations::MigrateError::Sqlite(source) => StoreError::Sqlite {
                path: path.clone(),
                source,
            },
            migrations::MigrateError::TooNew {
                component,
                found,
                supported,
            } => StoreError::TooNew {
                path: path.clone(),
                component,
                found,
                supported,
            },
        })?;
        Ok(Store {
            data_dir,
            path,
            schema_versions,
            wal_limit,
        })
    }

    /// A new connection to the store with the standard settings (WAL, busy
    /// timeout, `synchronous = NORMAL`, foreign keys on, the WAL limit).
    pub fn connect(&self) -> Result<Connection, StoreError> {
        open_connection(&self.path, self.wal_limit, wal::Checkpoints::OnCommit)
    }

    /// As [`Store::connect`], for a writer whose process runs a checkpointer
    /// thread beside it: its commits checkpoint only past the WAL limit.
    pub fn connect_writer(&self) -> Result<Connection, StoreError> {
        open_connection(&self.path, self.wal_limit, wal::Checkpoints::Background)
    }

    /// As [`Store::connect`], for an owner that runs its checkpoints when it
    /// chooses ([`wal::checkpoint_if_due`] with the returned log size).
    pub fn connect_self_checkpointing(
        &self,
    ) -> Result<(Connection, std::sync::Arc<std::sync::atomic::AtomicI32>), StoreError> {
        let frames = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let conn = open_connection(
            &self.path,
            self.wal_limit,
            wal::Checkpoints::Owner(frames.clone()),
        )?;
        Ok((conn, frames))
    }

    /// Size in bytes past which the WAL is checkpointed and truncated.
    pub fn wal_limit(&self) -> u64 {
        self.wal_limit
    }

    /// The data dir (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version of each component after migration.
    pub fn schema_versions(&self) -> &BTreeMap<String, i64> {
        &self.schema_versions
    }

    /// Schema version of the store core.
    pub fn schema_version(&self) -> i64 {
        self.schema_versions.get("core").copied().unwrap_or(0)
    }
}

/// Checks a `--namespace`: 1-40 characters `[a-z0-9_]`, starting with a
/// letter, so it is valid as a PostgreSQL schema, a JetStream stream name and
/// a NATS subject token alike.
pub fn validate_namespace(ns: &str) -> Result<(), String> {
    let ok = !ns.is_empty()
        && ns.len() <= 40
        && ns.starts_with(|c: char| c.is_ascii_lowercase())
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{ns:?}: expected 1-40 characters a-z, 0-9 or _, starting with a letter"
        ))
    }
}

fn prepare_data_dir(data_dir: &Path) -> Result<PathBuf, StoreError> {
    let err = |reason: String| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| err(format!("cannot create it: {e}")))?;
    let dir = data_dir
        .canonicalize()
        .map_err(|e| err(format!("cannot resolve it: {e}")))?;
    if !dir.is_dir() {
        return Err(err("exists but is not a directory".into()));
    }
    // Prove we can write here before SQLite gives a vaguer error.
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| err(format!("is not writable: {e}")))
        .and_then(|()| {
            std::fs::remove_file(&probe).map_err(|e| err(format!("is not writable: {e}")))
        })?;
    Ok(dir)
}

/// A connection with the standard settings, its commits keeping the WAL
/// under `wal_limit` bytes (see [`wal`]).
pub(crate) fn open_connection(
    path: &Path,
    wal_limit: u64,
    checkpoints: wal::Checkpoints,
) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(wrap)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
    stable_plans(&conn).map_err(wrap)?;
    // journal_mode returns a row; WAL is persistent in the file once set.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(wrap)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "store is not in WAL mode");
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(wrap)?;
    wal::install(&mut conn, wal_limit, checkpoints).map_err(wrap)?;
    Ok(conn)
}

/// Plans statements without looking at their bound values (SQLite's query
/// planner stability guarantee), on every connection the product opens.
///
/// Why: a statement whose plan looked at a bound value (SQLite does for an
/// `=` test it only filters on, to guess its selectivity) is marked to be
/// compiled again whenever its bindings are cleared, and rusqlite's
/// statement cache clears them each time a cached statement is handed back.
/// Such a statement was re-parsed and re-planned on every execution: the
/// audit writer's key lookup was 6 % of an audit fill's CPU. No query here
/// depends on a bound value for its plan (no `LIKE ?`, no statistics tables,
/// one partial index whose `IS NOT NULL` an `=` test implies by its shape).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

/// A reader's connection to a store file that exists and is in WAL mode
/// already: the busy timeout and [`stable_plans`], none of a writer's WAL
/// settings. Callers add their own pragmas.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    stable_plans(&conn)?;
    Ok(conn)
}

/// Runs `f` inside a `BEGIN IMMEDIATE` transaction (takes the write lock up
/// front, so concurrent writers queue on the busy timeout instead of failing
/// at commit).
pub fn with_immediate_tx<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Runs `f`, which may wait (for a lock, another process, the network), so
/// that it cannot stall the async runtime: inside `block_in_place` on a
/// multi-thread runtime's worker (the runtime hands the worker's other tasks
/// to another thread), directly anywhere else (a plain or blocking-pool
/// thread, a current-thread runtime). For code that runs inline on a worker
/// while it does not wait and asks for this only when it must.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A `BEGIN IMMEDIATE` transaction run through cached statements, for hot
/// write paths: rusqlite's `Transaction` sends `BEGIN`/`COMMIT` (and
/// savepoints) as fresh SQL text every time, and parsing them was a fifth of
/// a single small write's cost (perf on `publish_event` and `check_metric`).
/// Rolls back when dropped uncommitted, as `Transaction` does.
pub struct WriteTx<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> WriteTx<'c> {
    /// Begins; waits for the write lock up to the busy timeout.
    pub fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(WriteTx { conn, open: true })
    }

    /// Begins only if the write lock is free now: `None` when another
    /// connection holds it (then [`WriteTx::begin`] waits for it).
    pub fn begin_now(conn: &'c Connection) -> rusqlite::Result<Option<Self>> {
        conn.busy_timeout(Duration::ZERO)?;
        let begun = conn.prepare_cached("BEGIN IMMEDIATE")?.execute([]);
        conn.busy_timeout(BUSY_TIMEOUT)?;
        match begun {
            Ok(_) => Ok(Some(WriteTx { conn, open: true })),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Commits (rolled back if the commit fails).
    pub fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }

    /// Opens the savepoint `s`, so what follows can be undone alone.
    pub fn savepoint(&self) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("SAVEPOINT s")?
            .execute([])
            .map(drop)
    }

    /// Closes the savepoint `s`, keeping or undoing what was done since.
    pub fn end_savepoint(&self, keep: bool) -> rusqlite::Result<()> {
        if !keep {
            self.conn.prepare_cached("ROLLBACK TO s")?.execute([])?;
        }
        self.conn.prepare_cached("RELEASE s")?.execute([]).map(drop)
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a cached lookup with a filter-only `=` test 50 times (as the
    /// audit writer's key lookup does) and returns how often SQLite had to
    /// compile it again.
    fn recompiles(conn: &Connection) -> i32 {
        conn.execute_batch(
            "CREATE TABLE k (id INTEGER PRIMARY KEY, user_id TEXT, token BLOB);
             CREATE INDEX k_by_user ON k(user_id);
             INSERT INTO k (user_id, token) VALUES ('a', x'01'), ('b', x'02');",
        )
        .unwrap();
        let sql = "SELECT id FROM k WHERE user_id = ?1 AND token IS ?2 ORDER BY id DESC";
        for i in 0..50u8 {
            let mut find = conn.prepare_cached(sql).unwrap();
            let mut rows = find.query(rusqlite::params!["a", [i % 2 + 1]]).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        let find = conn.prepare_cached(sql).unwrap();
        find.get_status(rusqlite::StatementStatus::RePrepare)
    }

    #[test]
    fn a_cached_statement_is_compiled_once_not_at_every_use() {
        let tmp = tempfile::tempdir().unwrap();
        // Without the planner's stability guarantee, handing the statement
        // back to rusqlite's cache (which clears its bindings) marks it for
        // a new compile at its next use: the check below can fail.
        let plain = Connection::open(tmp.path().join("plain.db")).unwrap();
        let n = recompiles(&plain);
        assert!(n >= 49, "{n}");
        let conn = open_connection(
            &tmp.path().join("t.db"),
            wal::DEFAULT_WAL_LIMIT,
            wal::Checkpoints::OnCommit,
        )
        .unwrap();
        assert_eq!(recompiles(&conn), 0);
    }

    #[test]
    fn a_write_tx_commits_rolls_back_on_drop_and_undoes_a_failed_savepoint_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Connection::open(tmp.path().join("t.db")).unwrap();
        conn.execute_batch("CREATE TABLE t(x INTEGER)").unwrap();
        let count = |c: &Connection| -> i64 {
            c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        let tx = WriteTx::begin(&conn).unwrap();
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        tx.savepoint().unwrap();
        tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        tx.end_savepoint(true).unwrap();
        tx.savepoint().unwrap();
        tx.execute("INSERT INTO t VALUES (3)", []).unwrap();
        tx.end_savepoint(false).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&conn), 2);
        {
            let tx = WriteTx::begin(&conn).unwrap();
            tx.execute("INSERT INTO t VALUES (4)", []).unwrap();
        }
        assert_eq!(count(&conn), 2, "dropped uncommitted: rolled back");
        assert!(conn.is_autocommit());
    }

    #[test]
    fn begin_now_does_not_wait_for_a_write_lock_another_connection_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.db");
        let open = || open_connection(&path, wal::DEFAULT_WAL_LIMIT, wal::Checkpoints::OnCommit);
        let (a, b) = (open().unwrap(), open().unwrap());
        a.execute_batch("CREATE TABLE t(x INTEGER)").unwrap();
        let held = WriteTx::begin(&a).unwrap();
        let started = std::time::Instant::now();
        assert!(WriteTx::begin_now(&b).unwrap().is_none());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "it did not wait"
        );
        held.commit().unwrap();
        let tx = WriteTx::begin_now(&b).unwrap().expect("free now");
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        tx.commit().unwrap();
        // The busy timeout is back for everything else.
        let held = WriteTx::begin(&a).unwrap();
        let waiter = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            WriteTx::begin(&b).map(|tx| tx.commit()).unwrap().unwrap();
            started.elapsed()
        });
        std::thread::sleep(Duration::from_millis(200));
        held.commit().unwrap();
        assert!(waiter.join().unwrap() >= Duration::from_millis(150));
    }

    #[test]
    fn open_creates_dir_and_migrates_idempotently() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/c");
        const DEMO: &[Migration] = &[Migration {
            version: 1,
            name: "demo",
            sql: "CREATE TABLE demo (x INTEGER) STRICT;",
        }];
        let components: &[Component] = &[("demo", DEMO)];
        let s1 = Store::open(&dir, components).unwrap();
        assert!(dir.join(DB_FILE).exists());
        assert_eq!(
            s1.schema_versions(),
            &migrations::latest_versions(components)
        );
        let s2 = Store::open(&dir, components).unwrap();
        assert_eq!(s2.schema_versions(), s1.schema_versions());
        let conn = s2.connect().unwrap();
        let applied: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(applied, (migrations::CORE.len() + DEMO.len()) as i64);
    }

    #[test]
    fn data_dir_under_a_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&file.join("data"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot create it"), "{err}");
        assert!(err.contains("plain-file"), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_without_touching_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), &[]).unwrap();
        let conn = store.connect().unwrap();
        conn.execute(
            "INSERT INTO schema_migrations(component, version, name, applied_at) \
             VALUES ('core', 9999, 'future', 'x')",
            [],
        )
        .unwrap();
        let err = Store::open(tmp.path(), &[]).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 9999, .. }),
            "{err}"
        );
    }
}
