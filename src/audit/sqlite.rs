//! The audit log in the embedded SQLite store (the default backend).
//!
//! Reads use `query_only` connections with a large mmap (a verification scan
//! touches every page once); the writer's connection commits with
//! `synchronous = FULL` and no auto-checkpoint below the store's WAL limit,
//! and a checkpointer thread copies the WAL into the main file beside it, so
//! a commit pays only its own fsync. The chain-head lock is SQLite's write
//! lock, taken by `BEGIN IMMEDIATE`, which also orders other processes on the
//! same file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use super::AuditError;
use super::checkpoint::CheckpointKey;
use super::encoding::{EntryView, GENESIS_PREV};
use super::entry::{AuditEntry, PersonalValue};
use super::merkle::Hash;
use super::query::{self, Activity, Page, QueryFilter};
use super::report::{self, ComplianceFigures};
use super::rows::{hash_at, view};
use super::schema::ENTRY_COLUMNS;
use super::storage::{AppendTx, AuditStorage, LogReader, LogWriter};
use crate::store::Store;

/// How often the checkpointer copies the WAL into the main file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The audit tables of a migrated [`Store`].
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    data_dir: PathBuf,
    wal_limit: u64,
}

impl SqliteStorage {
    /// The audit log in `store` (already migrated).
    pub fn new(store: &Store) -> SqliteStorage {
        SqliteStorage {
            path: store.path().to_path_buf(),
            data_dir: store.data_dir().to_path_buf(),
            wal_limit: store.wal_limit(),
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditStorage for SqliteStorage {
    fn reader(&self) -> Result<Box<dyn LogReader>, AuditError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(crate::store::BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -16384;",
        )?;
        Ok(Box::new(SqliteReader { conn }))
    }

    fn writer(&self) -> Result<Box<dyn LogWriter>, AuditError> {
        let connect = |checkpoints| {
            crate::store::open_connection(&self.path, self.wal_limit, checkpoints)
                .map_err(|e| AuditError::Store(e.to_string()))
        };
        // FULL: every commit fsyncs the WAL before the callers are answered.
        // No checkpoint on this connection's commits below the WAL limit: a
        // checkpoint fsyncs the main file too and would sit in some caller's
        // latency; the checkpointer thread does it beside the commits instead.
        let conn = connect(crate::store::wal::Checkpoints::Background)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA cache_size = -65536;",
        )?;
        let checkpoint_conn = connect(crate::store::wal::Checkpoints::OnCommit)?;
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("audit-checkpoint".into())
            .spawn(move || checkpointer(checkpoint_conn, stop_rx))
            .map_err(|e| {
                AuditError::Internal(format!("cannot start the audit checkpointer: {e}"))
            })?;
        Ok(Box::new(SqliteWriter {
            conn,
            _stop: stop_tx,
        }))
    }

    fn checkpoint_key(&self) -> Result<CheckpointKey, AuditError> {
        CheckpointKey::load_or_create(&self.data_dir)
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// Copies committed WAL frames into the main file beside the writer (PASSIVE:
/// never blocks a commit or a reader), so commits pay only their own fsync
/// until the WAL passes the store's limit (see `store::wal`). Ends when the
/// writer drops its end of `stop`.
fn checkpointer(conn: Connection, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("audit WAL checkpoint: {e}");
        }
    }
}

/// A read connection.
pub struct SqliteReader {
    conn: Connection,
}

impl LogReader for SqliteReader {
    fn head_sequence(&mut self) -> Result<u64, AuditError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(sequence) FROM audit_entries", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(0)
            .max(0) as u64)
    }

    fn hashes(&mut self, lo: u64, hi: u64, f: &mut dyn FnMut(u64, Hash)) -> Result<(), AuditError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sequence, entry_hash FROM audit_entries WHERE sequence BETWEEN ?1 AND ?2 \
             ORDER BY sequence",
        )?;
        let mut rows = stmt.query([
            lo.min(i64::MAX as u64) as i64,
            hi.min(i64::MAX as u64) as i64,
        ])?;
        while let Some(row) = rows.next()? {
            f(row.get::<_, i64>(0)? as u64, hash_at(row, 1)?);
        }
        Ok(())
    }

    fn scan(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(EntryView<'_>, Hash),
    ) -> Result<(), AuditError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE sequence BETWEEN ?1 AND ?2 ORDER BY sequence"
        ))?;
        let mut rows = stmt.query([
            lo.min(i64::MAX as u64) as i64,
            hi.min(i64::MAX as u64) as i64,
        ])?;
        while let Some(row) = rows.next()? {
            let (v, stored) = view(row)?;
            f(v, stored);
        }
        Ok(())
    }

    fn audit_id_at(&mut self, sequence: u64) -> Result<Option<String>, AuditError> {
        Ok(self
            .conn
            .query_row(
                "SELECT audit_id FROM audit_entries WHERE sequence = ?1",
                [sequence as i64],
                |r| r.get::<_, String>(0),
            )
            .optional()?)
    }

    fn sequence_of(&mut self, audit_id: &str) -> Result<Option<u64>, AuditError> {
        Ok(self
            .conn
            .query_row(
                "SELECT sequence FROM audit_entries WHERE audit_id = ?1",
                [audit_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
    }

    fn query(
        &mut self,
        filter: &QueryFilter,
        limit: u32,
        cursor: Option<u64>,
    ) -> Result<Page, AuditError> {
        query::query(&self.conn, filter, limit, cursor)
    }

    fn for_each(
        &mut self,
        filter: &QueryFilter,
        f: &mut dyn FnMut(AuditEntry) -> Result<(), AuditError>,
    ) -> Result<u64, AuditError> {
        query::for_each(&self.conn, filter, f)
    }

    fn user_activity(&mut self, user_id: &str, since: &str) -> Result<Activity, AuditError> {
        query::user_activity(&self.conn, user_id, since)
    }

    fn figures(
        &mut self,
        start: &str,
        end: &str,
        tenant_id: Option<&str>,
    ) -> Result<ComplianceFigures, AuditError> {
        report::figures(&self.conn, start, end, tenant_id)
    }
}

/// The writer thread's connection (and the checkpointer's stop signal).
pub struct SqliteWriter {
    conn: Connection,
    _stop: Sender<()>,
}

impl LogWriter for SqliteWriter {
    fn begin(&mut self) -> Result<Box<dyn AppendTx + '_>, AuditError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTx { tx }))
    }

    /// Copies the WAL into the main file and truncates it, so that page
    /// images written before the erasure no longer exist anywhere in the
    /// store's files (false when another process held a read snapshot; the
    /// erased bytes then leave the WAL at its next checkpoint).
    fn scrub(&mut self) -> bool {
        for attempt in 0..50 {
            match self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                }) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => tracing::warn!(attempt, "WAL checkpoint failed: {e}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            "WAL still in use by another connection; it is truncated at its next checkpoint"
        );
        false
    }
}

struct SqliteTx<'c> {
    tx: Transaction<'c>,
}

impl AppendTx for SqliteTx<'_> {
    fn lock_head(&mut self) -> Result<(u64, Hash, String), AuditError> {
        // BEGIN IMMEDIATE already holds the write lock.
        let row = self
            .tx
            .query_row(
                "SELECT sequence, entry_hash, timestamp FROM audit_entries
                 ORDER BY sequence DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        hash_at(r, 1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.unwrap_or((0, GENESIS_PREV, String::new())))
    }

    fn hashes_after(
        &mut self,
        sequence: u64,
        f: &mut dyn FnMut(u64, Hash),
    ) -> Result<(), AuditError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT sequence, entry_hash FROM audit_entries WHERE sequence > ?1 ORDER BY sequence",
        )?;
        let mut rows = stmt.query([sequence as i64])?;
        while let Some(row) = rows.next()? {
            f(row.get::<_, i64>(0)? as u64, hash_at(row, 1)?);
        }
        Ok(())
    }

    fn insert(
        &mut self,
        e: &EntryView<'_>,
        hash: &Hash,
        personal: &[PersonalValue],
    ) -> Result<(), AuditError> {
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO audit_entries (sequence, audit_id, timestamp, user_id, action, \
             resource_type, resource_id, severity, outcome, session_id, details, changes, \
             tenant_id, correlation_id, tags, purpose, personal, prev_hash, entry_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )?;
        insert.execute(params![
            e.sequence as i64,
            e.audit_id,
            e.timestamp,
            e.user_id,
            e.action,
            e.resource_type,
            e.resource_id,
            e.severity,
            e.outcome,
            e.session_id,
            e.details,
            e.changes,
            e.tenant_id,
            e.correlation_id,
            e.tags,
            e.purpose,
            e.personal,
            &e.prev_hash[..],
            &hash[..],
        ])?;
        if !personal.is_empty() {
            let mut insert_personal = self.tx.prepare_cached(
                "INSERT INTO audit_personal (sequence, field, value, salt) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for pv in personal {
                insert_personal.execute(params![
                    e.sequence as i64,
                    pv.field,
                    pv.value_json,
                    &pv.salt[..]
                ])?;
            }
        }
        Ok(())
    }

    fn subject_sequences(
        &mut self,
        user_id: Option<&str>,
        email_json: Option<&str>,
    ) -> Result<BTreeSet<u64>, AuditError> {
        let mut sequences = BTreeSet::new();
        if let Some(user_id) = user_id {
            let mut stmt = self
                .tx
                .prepare("SELECT sequence FROM audit_entries WHERE user_id = ?1")?;
            for s in stmt.query_map([user_id], |r| r.get::<_, i64>(0))? {
                sequences.insert(s? as u64);
            }
        }
        if let Some(email) = email_json {
            let mut stmt = self.tx.prepare(
                "SELECT sequence FROM audit_personal WHERE field = 'user_email' AND value = ?1",
            )?;
            for s in stmt.query_map([email], |r| r.get::<_, i64>(0))? {
                sequences.insert(s? as u64);
            }
        }
        Ok(sequences)
    }

    fn delete_personal(&mut self, sequence: u64) -> Result<u64, AuditError> {
        let mut delete = self
            .tx
            .prepare_cached("DELETE FROM audit_personal WHERE sequence = ?1")?;
        Ok(delete.execute([sequence as i64])? as u64)
    }

    fn commit(self: Box<Self>) -> Result<(), AuditError> {
        self.tx.commit()?;
        Ok(())
    }
}
