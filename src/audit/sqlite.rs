//! The audit log in the embedded SQLite store (the default backend).
//!
//! Reads use `query_only` connections with a large mmap (a verification scan
//! touches every page once); the writer's connection commits with
//! `synchronous = FULL` and no auto-checkpoint below the store's WAL limit,
//! and a checkpointer thread copies the WAL into the main file beside it, so
//! a commit pays only its own fsync. The chain-head lock is SQLite's write
//! lock, taken by `BEGIN IMMEDIATE`, which also orders other processes on the
//! same file.
//!
//! The subjects' data keys ([`super::sealing`]) are in a second file,
//! [`KEYS_FILE`], written only under the chain-head lock: a new key commits
//! before the entries sealed under it, and an erasure commits its entry and
//! tombstones first, with the keys listed in `audit_shred_pending`, then
//! deletes the keys and rewrites the key file (VACUUM, WAL truncated). A
//! crash in between leaves the list, worked off when a writer next starts;
//! meanwhile no listed key is used for new entries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::AuditError;
use super::checkpoint::CheckpointKey;
use super::encoding::{EntryView, GENESIS_PREV};
use super::entry::AuditEntry;
use super::merkle::Hash;
use super::query::{self, Activity, Page, QueryFilter};
use super::report::{self, ComplianceFigures};
use super::rows::{hash_at, view};
use super::schema::{ENTRY_COLUMNS, KEYS_FILE, KEYS_SCHEMA};
use super::sealing::{self, DataKey, StoredPersonal};
use super::storage::{AppendTx, AuditStorage, LogReader, LogWriter, SealedValue};
use crate::store::Store;

/// How often the checkpointer copies the WAL into the main file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The audit tables of a migrated [`Store`].
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    data_dir: PathBuf,
    keys_path: PathBuf,
    wal_limit: u64,
}

impl SqliteStorage {
    /// The audit log in `store` (already migrated): creates the key file
    /// when missing and upgrades a store that still holds personal values in
    /// plain text (`upgrade_plaintext`).
    pub fn open(store: &Store) -> Result<SqliteStorage, AuditError> {
        let storage = SqliteStorage {
            path: store.path().to_path_buf(),
            data_dir: store.data_dir().to_path_buf(),
            keys_path: store.data_dir().join(KEYS_FILE),
            wal_limit: store.wal_limit(),
        };
        let keys = storage.keys_connection()?;
        let mut main = storage.main_connection()?;
        upgrade_plaintext(&mut main, &keys)?;
        Ok(storage)
    }

    fn main_connection(&self) -> Result<Connection, AuditError> {
        crate::store::open_connection(
            &self.path,
            self.wal_limit,
            crate::store::wal::Checkpoints::OnCommit,
        )
        .map_err(|e| AuditError::Store(e.to_string()))
    }

    /// A connection to the key file (created with its tables when missing).
    /// Durable commits; deleted keys are zeroed in their pages, and the
    /// whole file is rewritten after an erasure anyway.
    fn keys_connection(&self) -> Result<Connection, AuditError> {
        let conn = crate::store::open_connection(
            &self.keys_path,
            self.wal_limit,
            crate::store::wal::Checkpoints::OnCommit,
        )
        .map_err(|e| AuditError::Store(e.to_string()))?;
        // journal_size_limit 0: a WAL that restarts from its start after a
        // checkpoint is cut to nothing, so no older frame (a destroyed key's
        // page) lingers past the new ones.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA journal_size_limit = 0;",
        )?;
        conn.execute_batch(KEYS_SCHEMA)?;
        // Keys are secrets: owner only (SQLite gives its -wal and -shm files
        // the database file's mode).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) =
                std::fs::set_permissions(&self.keys_path, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(path = %self.keys_path.display(), "cannot make the key file owner-only: {e}");
            }
        }
        Ok(conn)
    }

    /// The key file.
    pub fn keys_path(&self) -> &Path {
        &self.keys_path
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditStorage for SqliteStorage {
    fn reader(&self) -> Result<Box<dyn LogReader>, AuditError> {
        let conn = crate::store::open_reader(&self.path)?;
        conn.execute(
            "ATTACH DATABASE ?1 AS keys",
            [self.keys_path.to_string_lossy()],
        )?;
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
        let keys = self.keys_connection()?;
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
        let mut writer = SqliteWriter {
            conn,
            keys,
            _stop: stop_tx,
        };
        // Keys left listed by an erasure that crashed before destroying them.
        if let Err(e) = writer.destroy_pending() {
            tracing::warn!("destroying the keys of an earlier erasure: {e}");
        }
        Ok(Box::new(writer))
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

    fn personal(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(u64, StoredPersonal<'_>),
    ) -> Result<(), AuditError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.sequence, p.field, p.sealed, k.key, p.erased_by FROM audit_sealed p \
             LEFT JOIN keys.subject_keys k ON k.id = p.key_id \
             WHERE p.sequence BETWEEN ?1 AND ?2 ORDER BY p.sequence, p.field",
        )?;
        let mut rows = stmt.query([
            lo.min(i64::MAX as u64) as i64,
            hi.min(i64::MAX as u64) as i64,
        ])?;
        fn blob(v: ValueRef<'_>) -> Option<&[u8]> {
            match v {
                ValueRef::Blob(b) => Some(b),
                _ => None,
            }
        }
        while let Some(row) = rows.next()? {
            let sequence = row.get::<_, i64>(0)?.max(0) as u64;
            let field = match row.get_ref(1)? {
                ValueRef::Text(t) => std::str::from_utf8(t).unwrap_or("\u{fffd}"),
                _ => "\u{fffd}",
            };
            let erased_by = match row.get_ref(4)? {
                ValueRef::Integer(i) => Some(i.max(0) as u64),
                _ => None,
            };
            f(
                sequence,
                StoredPersonal {
                    field,
                    sealed: blob(row.get_ref(2)?),
                    key: blob(row.get_ref(3)?),
                    erased_by,
                },
            );
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

/// The writer thread's connection, its key-file connection (and the
/// checkpointer's stop signal).
pub struct SqliteWriter {
    conn: Connection,
    keys: Connection,
    _stop: Sender<()>,
}

/// Checkpoints `conn`'s WAL into its file and truncates it, retrying for
/// about a second while another connection holds a read snapshot.
fn truncate_wal(conn: &Connection, what: &str) -> bool {
    for attempt in 0..50 {
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => tracing::warn!(attempt, "{what} WAL checkpoint failed: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::warn!(
        "{what} WAL still in use by another connection; it is truncated at its next checkpoint"
    );
    false
}

impl SqliteWriter {
    /// Destroys the keys listed in `audit_shred_pending`: deletes them,
    /// rewrites the key file (VACUUM), then clears the list.
    fn destroy_pending(&mut self) -> Result<(), AuditError> {
        let pending: Vec<i64> = self
            .conn
            .prepare("SELECT key_id FROM audit_shred_pending")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if pending.is_empty() {
            return Ok(());
        }
        let tx = self
            .keys
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for k in &pending {
            tx.execute("DELETE FROM subject_keys WHERE id = ?1", [k])?;
        }
        tx.commit()?;
        // The key file is small; rewriting it whole is what leaves no copy
        // of a deleted key in a page gap or a free page.
        self.keys.execute_batch("VACUUM")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for k in &pending {
            tx.execute("DELETE FROM audit_shred_pending WHERE key_id = ?1", [k])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// At shutdown, one more try at emptying the key file's WAL (an erasure
/// whose truncation a reader blocked leaves the destroyed keys' old pages
/// there until then).
impl Drop for SqliteWriter {
    fn drop(&mut self) {
        let _ = self
            .keys
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

impl LogWriter for SqliteWriter {
    fn begin(&mut self) -> Result<Box<dyn AppendTx + '_>, AuditError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTx {
            tx: Some(tx),
            keys: &self.keys,
            keys_open: false,
        }))
    }

    /// Destroys the erased subjects' keys, rewrites the key file, and
    /// truncates both WALs, so that no page image from before the erasure
    /// is left in any file of the store (false when another process held a
    /// read snapshot; the rest goes at the next checkpoint).
    fn scrub(&mut self) -> bool {
        let destroyed = match self.destroy_pending() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("destroying erased keys failed (retried at the next start): {e}");
                false
            }
        };
        let keys = truncate_wal(&self.keys, "key file");
        let main = truncate_wal(&self.conn, "store");
        destroyed && keys && main
    }
}

/// The live key of subject (`user_id`, `email_token`) in the key file, or a
/// new one (inserted in the key file's open write transaction, which
/// `begin_keys` starts when needed). Keys listed for destruction in `main`
/// are skipped.
fn find_or_create_key(
    keys: &Connection,
    main: &Connection,
    user_id: &str,
    email_token: Option<&Hash>,
    begin_keys: &mut dyn FnMut() -> Result<(), AuditError>,
) -> Result<(i64, DataKey), AuditError> {
    let token = email_token.map(|t| &t[..]);
    {
        let mut find = keys.prepare_cached(
            "SELECT id, key FROM subject_keys WHERE user_id = ?1 AND email_token IS ?2 \
             ORDER BY id DESC",
        )?;
        let mut rows = find.query(params![user_id, token])?;
        let mut pending =
            main.prepare_cached("SELECT 1 FROM audit_shred_pending WHERE key_id = ?1")?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let key: Vec<u8> = r.get(1)?;
            if let Ok(key) = DataKey::try_from(key.as_slice())
                && !pending.exists([id])?
            {
                return Ok((id, key));
            }
        }
    }
    begin_keys()?;
    let key = sealing::new_key()?;
    keys.prepare_cached(
        "INSERT INTO subject_keys (user_id, email_token, key) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![user_id, token, &key[..]])?;
    Ok((keys.last_insert_rowid(), key))
}

struct SqliteTx<'c> {
    tx: Option<Transaction<'c>>,
    keys: &'c Connection,
    /// Whether a write transaction is open on the key file (committed
    /// before the main one, rolled back with it when dropped).
    keys_open: bool,
}

impl<'c> SqliteTx<'c> {
    fn tx(&self) -> Result<&Transaction<'c>, AuditError> {
        self.tx
            .as_ref()
            .ok_or_else(|| AuditError::Internal("transaction already finished".into()))
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.keys_open {
            let _ = self.keys.execute_batch("ROLLBACK");
        }
    }
}

impl AppendTx for SqliteTx<'_> {
    fn lock_head(&mut self) -> Result<(u64, Hash, String), AuditError> {
        // BEGIN IMMEDIATE already holds the write lock.
        let row = self
            .tx()?
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
        let mut stmt = self.tx()?.prepare_cached(
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
        personal: &[SealedValue],
    ) -> Result<(), AuditError> {
        let tx = self.tx()?;
        let mut insert = tx.prepare_cached(
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
            let mut insert_sealed = tx.prepare_cached(
                "INSERT INTO audit_sealed (sequence, field, key_id, sealed) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for pv in personal {
                insert_sealed.execute(params![
                    e.sequence as i64,
                    pv.field,
                    pv.key_id,
                    pv.sealed
                ])?;
            }
        }
        Ok(())
    }

    fn subject_key(
        &mut self,
        subjects: &[(String, Option<Hash>)],
    ) -> Result<Vec<(i64, DataKey)>, AuditError> {
        let keys = self.keys;
        let mut opened = self.keys_open;
        let mut begin = || {
            if !opened {
                keys.execute_batch("BEGIN IMMEDIATE")?;
                opened = true;
            }
            Ok(())
        };
        let tx = self.tx()?;
        let out = subjects
            .iter()
            .map(|(user_id, token)| {
                find_or_create_key(keys, tx, user_id, token.as_ref(), &mut begin)
            })
            .collect();
        self.keys_open = opened;
        out
    }

    fn subject_keys(
        &mut self,
        user_id: Option<&str>,
        email_token: Option<&Hash>,
    ) -> Result<BTreeSet<i64>, AuditError> {
        let mut ids = BTreeSet::new();
        if let Some(user_id) = user_id {
            let mut stmt = self
                .keys
                .prepare_cached("SELECT id FROM subject_keys WHERE user_id = ?1")?;
            for id in stmt.query_map([user_id], |r| r.get::<_, i64>(0))? {
                ids.insert(id?);
            }
        }
        if let Some(token) = email_token {
            let mut stmt = self
                .keys
                .prepare_cached("SELECT id FROM subject_keys WHERE email_token = ?1")?;
            for id in stmt.query_map([&token[..]], |r| r.get::<_, i64>(0))? {
                ids.insert(id?);
            }
        }
        Ok(ids)
    }

    fn erase_keys(
        &mut self,
        keys: &BTreeSet<i64>,
        erased_by: u64,
    ) -> Result<(u64, u64), AuditError> {
        let tx = self.tx()?;
        let mut entries = BTreeSet::new();
        let mut values = 0u64;
        let mut sealed =
            tx.prepare_cached("SELECT sequence FROM audit_sealed WHERE key_id = ?1")?;
        let mut erase = tx.prepare_cached(
            "UPDATE audit_sealed SET sealed = NULL, key_id = NULL, erased_by = ?2 WHERE key_id = ?1",
        )?;
        let mut schedule =
            tx.prepare_cached("INSERT OR IGNORE INTO audit_shred_pending (key_id) VALUES (?1)")?;
        for &k in keys {
            for s in sealed.query_map([k], |r| r.get::<_, i64>(0))? {
                entries.insert(s?);
                values += 1;
            }
            erase.execute(params![k, erased_by as i64])?;
            schedule.execute([k])?;
        }
        Ok((entries.len() as u64, values))
    }

    fn commit(mut self: Box<Self>) -> Result<(), AuditError> {
        if self.keys_open {
            // New keys are durable before the entries sealed under them.
            self.keys.execute_batch("COMMIT")?;
            self.keys_open = false;
        }
        let tx = self
            .tx
            .take()
            .ok_or_else(|| AuditError::Internal("transaction already finished".into()))?;
        tx.commit()?;
        Ok(())
    }
}

/// The personal values of one entry of a version-1 store: (sequence,
/// user_id, [(field, value, salt)]).
type LegacyEntry = (i64, String, Vec<(String, String, Vec<u8>)>);

/// Seals the plain-text personal values of a version-1 store
/// (`audit_personal`), gives the values that earlier erasures deleted a
/// tombstone naming the first erasure entry after them, drops the table and
/// rewrites the store file (VACUUM), so that no plain-text copy survives,
/// neither a live value nor one an erasure left in a free page. Runs once,
/// under the write lock; a no-op on an upgraded store.
fn upgrade_plaintext(main: &mut Connection, keys: &Connection) -> Result<(), AuditError> {
    const LEGACY: &str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_personal'";
    if main.query_row(LEGACY, [], |r| r.get::<_, i64>(0))? == 0 {
        return Ok(());
    }
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if tx.query_row(LEGACY, [], |r| r.get::<_, i64>(0))? == 0 {
        return Ok(());
    }
    let mut keys_open = false;
    let converted = (|| -> Result<u64, AuditError> {
        let mut rows_of = tx.prepare(
            "SELECT p.sequence, p.field, p.value, p.salt, e.user_id FROM audit_personal p \
             JOIN audit_entries e ON e.sequence = p.sequence ORDER BY p.sequence, p.field",
        )?;
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO audit_sealed (sequence, field, key_id, sealed) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut rows = rows_of.query([])?;
        let mut n = 0u64;
        let mut group: Option<LegacyEntry> = None;
        let mut flush = |g: LegacyEntry| -> Result<(), AuditError> {
            let (seq, user_id, values) = g;
            let token = values
                .iter()
                .find(|(f, _, _)| f == "user_email")
                .map(|(_, v, _)| sealing::email_token(v));
            let (key_id, key) =
                find_or_create_key(keys, &tx, &user_id, token.as_ref(), &mut || {
                    if !keys_open {
                        keys.execute_batch("BEGIN IMMEDIATE")?;
                        keys_open = true;
                    }
                    Ok(())
                })?;
            for (field, value, salt) in values {
                // A salt of the wrong length cannot match its commitment;
                // verification reports that value as missing.
                let Ok(salt) = <[u8; 32]>::try_from(salt.as_slice()) else {
                    continue;
                };
                let sealed = sealing::seal(&key, seq as u64, &field, &salt, &value)?;
                insert.execute(params![seq, field, key_id, sealed])?;
                n += 1;
            }
            Ok(())
        };
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let row = (
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            );
            match &mut group {
                Some((s, _, values)) if *s == seq => values.push(row),
                _ => {
                    if let Some(g) = group.take() {
                        flush(g)?;
                    }
                    group = Some((seq, r.get(4)?, vec![row]));
                }
            }
        }
        if let Some(g) = group.take() {
            flush(g)?;
        }
        Ok(n)
    })();
    let converted = match converted {
        Ok(n) => n,
        Err(e) => {
            if keys_open {
                let _ = keys.execute_batch("ROLLBACK");
            }
            return Err(e);
        }
    };
    legacy_tombstones(&tx)?;
    tx.execute_batch("DROP TABLE audit_personal")?;
    if keys_open {
        keys.execute_batch("COMMIT")?;
    }
    tx.commit()?;
    tracing::info!(
        converted,
        "sealed the plain-text personal values of the audit trail"
    );
    // The dropped table's pages, and whatever earlier erasures left in free
    // pages, are overwritten only by rewriting the file.
    main.execute_batch("VACUUM")?;
    truncate_wal(main, "store");
    Ok(())
}

/// Tombstones for the values a version-1 erasure deleted: each names the
/// first erasure entry after its entry (a value missing with no erasure
/// after it stays missing, and verification reports it).
fn legacy_tombstones(tx: &Transaction<'_>) -> Result<(), AuditError> {
    let erasures: Vec<u64> = tx
        .prepare(&format!(
            "SELECT sequence FROM audit_entries WHERE resource_type = '{}' \
             AND user_id = 'system:erase_subject' ORDER BY sequence",
            report::ERASURE_RESOURCE_TYPE
        ))?
        .query_map([], |r| r.get::<_, i64>(0).map(|s| s.max(0) as u64))?
        .collect::<Result<_, _>>()?;
    if erasures.is_empty() {
        return Ok(());
    }
    let mut entries = tx.prepare(
        "SELECT sequence, personal FROM audit_entries WHERE personal <> '{}' ORDER BY sequence",
    )?;
    let mut present =
        tx.prepare("SELECT 1 FROM audit_sealed WHERE sequence = ?1 AND field = ?2")?;
    let mut tombstone =
        tx.prepare("INSERT INTO audit_sealed (sequence, field, erased_by) VALUES (?1, ?2, ?3)")?;
    let mut rows = entries.query([])?;
    while let Some(r) = rows.next()? {
        let seq = r.get::<_, i64>(0)?.max(0) as u64;
        let personal: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or_default();
        let Some(&by) = erasures.get(erasures.partition_point(|&e| e <= seq)) else {
            continue;
        };
        for field in personal.keys() {
            if !present.exists(params![seq as i64, field])? {
                tombstone.execute(params![seq as i64, field, by as i64])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::audit::AuditTrail;
    use crate::audit::entry::NewEntry;
    use crate::audit::query::QueryFilter;
    use crate::audit::sealing;
    use crate::audit::verify::VerifyRequest;
    use crate::store::Store;

    fn entry(user: &str, email: &str, phone: &str) -> NewEntry {
        NewEntry {
            user_id: user.into(),
            action: "read".into(),
            resource_type: "player".into(),
            resource_id: "2544".into(),
            severity: "info".into(),
            outcome: "success".into(),
            user_email: Some(email.into()),
            details: serde_json::json!({"phone": phone})
                .as_object()
                .unwrap()
                .clone(),
            ..NewEntry::default()
        }
    }

    fn file_has(path: &std::path::Path, needle: &str) -> bool {
        std::fs::read(path)
            .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    }

    /// Turns the store back into version 1: plain-text values in
    /// `audit_personal` (erased ones deleted, as version 1 did), no sealed
    /// rows and no keys, and a plain-text value left in a free page.
    fn downgrade(dir: &std::path::Path) {
        let c = rusqlite::Connection::open(dir.join("smart-systems.db")).unwrap();
        c.execute(
            "ATTACH DATABASE ?1 AS keys",
            [dir.join("audit-keys.db").to_string_lossy()],
        )
        .unwrap();
        c.execute_batch(
            "CREATE TABLE audit_personal (sequence INTEGER NOT NULL, field TEXT NOT NULL,
                 value TEXT NOT NULL, salt BLOB NOT NULL, PRIMARY KEY (sequence, field))
                 STRICT, WITHOUT ROWID;",
        )
        .unwrap();
        let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = c
            .prepare(
                "SELECT p.sequence, p.field, p.sealed, k.key FROM audit_sealed p \
                 JOIN keys.subject_keys k ON k.id = p.key_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (seq, field, sealed, key) in rows {
            let (salt, value) = sealing::open(&key, seq as u64, &field, &sealed).unwrap();
            c.execute(
                "INSERT INTO audit_personal VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![seq, field, value, &salt[..]],
            )
            .unwrap();
        }
        c.execute_batch(
            "INSERT INTO audit_personal VALUES (99, 'user_email', '\"ghost@old.example\"', x'00');
             DELETE FROM audit_personal WHERE sequence = 99;
             DELETE FROM audit_sealed; DELETE FROM keys.subject_keys;",
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_store_is_sealed_on_open_and_keeps_its_values_and_erasures() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        {
            let store = Store::open(tmp.path(), &[("audit", crate::audit::MIGRATIONS)]).unwrap();
            let trail = AuditTrail::open(&store, vec!["phone".into()]).unwrap();
            for e in [
                entry("a", "a@old.example", "+1-555-0001"),
                entry("a", "a@old.example", "+1-555-0002"),
                entry("b", "b@old.example", "+1-555-0003"),
                entry("b", "b@old.example", "+1-555-0004"),
            ] {
                trail.log_blocking(e).unwrap();
            }
            rt.block_on(trail.erase(Some("a".into()), None, "test".into()))
                .unwrap();
        }
        downgrade(tmp.path());
        let db = tmp.path().join("smart-systems.db");
        let wal = tmp.path().join("smart-systems.db-wal");
        assert!(file_has(&db, "b@old.example") || file_has(&wal, "b@old.example"));

        let store = Store::open(tmp.path(), &[("audit", crate::audit::MIGRATIONS)]).unwrap();
        let trail = AuditTrail::open(&store, vec!["phone".into()]).unwrap();
        for v in ["ghost@old.example", "b@old.example", "+1-555-0003"] {
            assert!(!file_has(&db, v) && !file_has(&wal, v), "{v} in plain text");
        }
        let page = trail.query(&QueryFilter::default(), 10, None).unwrap();
        let emails: Vec<_> = page
            .entries
            .iter()
            .map(|e| (e.sequence, e.user_email.clone()))
            .collect();
        assert_eq!(
            emails,
            vec![
                (5, None),
                (4, Some("b@old.example".into())),
                (3, Some("b@old.example".into())),
                (2, Some("[erased]".into())),
                (1, Some("[erased]".into())),
            ]
        );
        assert_eq!(page.entries[1].details["phone"], "+1-555-0004");
        let r = trail.verify(&VerifyRequest::default()).unwrap();
        assert!(r.valid, "{r:?}");
        let erased = rt
            .block_on(trail.erase(None, Some("b@old.example".into()), "test".into()))
            .unwrap();
        assert_eq!((erased.entries_affected, erased.values_erased), (2, 4));
        assert!(trail.verify(&VerifyRequest::default()).unwrap().valid);
    }
}
