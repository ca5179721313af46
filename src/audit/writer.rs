//! The single writer of one server process: group commit with fsync.
//!
//! `audit_log` must not return before its entry is on disk, and an fsync costs
//! milliseconds, so one fsync per entry would cap the log at a few hundred
//! entries per second. Callers therefore hand their prepared entries to one
//! writer thread, which takes everything that queued up while the previous
//! commit was syncing and writes it in ONE transaction on its own connection
//! with `synchronous = FULL` (the commit fsyncs the WAL). Every caller of the
//! batch is answered after that commit returns.
//!
//! Several processes may share the data dir: the chain head (last sequence,
//! its hash and timestamp) is read inside the same `BEGIN IMMEDIATE`
//! transaction that inserts the batch, so the SQLite write lock orders the
//! processes' batches into one chain with no gaps or forks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::AuditError;
use super::encoding::{EntryView, GENESIS_PREV, canonical_json};
use super::entry::PreparedEntry;
use super::merkle::{Frontier, Hash};
use super::rows::hash_at;

/// Most entries committed in one transaction.
pub const MAX_BATCH: usize = 4096;

/// What `audit_log` learns once its entry is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub audit_id: String,
    pub sequence: u64,
    pub timestamp: String,
    pub entry_hash: Hash,
    /// Size of the tree that ends with this entry.
    pub tree_size: u64,
    /// Root of that tree.
    pub root_hash: Hash,
}

/// Who to erase.
#[derive(Debug, Clone, PartialEq)]
pub struct EraseRequest {
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    /// The audit entry recording the erasure; its `details` get
    /// `entries_affected` and `values_erased` filled in by the writer.
    pub record: PreparedEntry,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    pub entries_affected: u64,
    pub values_erased: u64,
    pub erasure_entry: Appended,
    /// Whether the WAL was checkpointed and truncated afterwards (false when
    /// another process held a read snapshot; the erased bytes then leave the
    /// WAL at its next checkpoint).
    pub wal_truncated: bool,
}

/// A request to the writer thread.
pub enum Command {
    Append(PreparedEntry, oneshot::Sender<Result<Appended, AuditError>>),
    Erase(EraseRequest, oneshot::Sender<Result<Erased, AuditError>>),
}

/// How often the checkpointer copies the WAL into the main file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Starts the writer thread over `conn` and the checkpointer over
/// `checkpoint_conn`; both end when every sender is gone. `commits` counts
/// the durable append transactions (one fsync each).
pub fn spawn(
    conn: Connection,
    checkpoint_conn: Connection,
    commits: Arc<AtomicU64>,
) -> Result<Sender<Command>, AuditError> {
    // FULL: every commit fsyncs the WAL before the callers are answered.
    // No auto-checkpoint on this connection: a checkpoint fsyncs the main
    // file too and would sit in some caller's latency; the checkpointer
    // thread does it beside the commits instead.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -65536;",
    )?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("audit-checkpoint".into())
        .spawn(move || checkpointer(checkpoint_conn, stop_rx))
        .map_err(|e| AuditError::Internal(format!("cannot start the audit checkpointer: {e}")))?;
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            run(conn, rx, &commits);
            drop(stop_tx);
        })
        .map_err(|e| AuditError::Internal(format!("cannot start the audit writer: {e}")))?;
    Ok(tx)
}

/// Copies committed WAL frames into the main file beside the writer (PASSIVE:
/// never blocks a commit or a reader), so commits pay only their own fsync.
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

fn run(mut conn: Connection, rx: Receiver<Command>, commits: &AtomicU64) {
    let mut frontier = Tree::default();
    // Warm the frontier before the first request (reads every leaf hash once).
    if let Err(e) = warm(&conn, &mut frontier) {
        tracing::warn!("audit writer could not load the tree: {e}");
    }
    while let Ok(first) = rx.recv() {
        let mut appends = Vec::new();
        let mut erases = Vec::new();
        let mut next = Some(first);
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Append(e, reply) => appends.push((e, reply)),
                Command::Erase(r, reply) => erases.push((r, reply)),
            }
            if appends.len() >= MAX_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(cmd) => next = Some(cmd),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if !appends.is_empty() {
            let (entries, replies): (Vec<_>, Vec<_>) = appends.into_iter().unzip();
            match commit_appends(&mut conn, &mut frontier, &entries) {
                Ok(done) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    for (reply, a) in replies.into_iter().zip(done) {
                        let _ = reply.send(Ok(a));
                    }
                }
                Err(e) => {
                    tracing::error!("audit batch of {} failed: {e}", entries.len());
                    let msg = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(AuditError::Store(msg.clone())));
                    }
                }
            }
        }
        for (request, reply) in erases {
            let _ = reply.send(erase(&mut conn, &mut frontier, request));
        }
    }
}

/// The writer's view of the Merkle tree: its right edge and the last
/// sequence it covers (tracked apart from the size so that a log with a
/// deleted row cannot make it re-read rows it already has).
#[derive(Debug, Clone, Default)]
struct Tree {
    frontier: Frontier,
    last_seq: u64,
}

impl Tree {
    fn push(&mut self, sequence: u64, leaf: Hash) {
        self.frontier.push(leaf);
        self.last_seq = sequence;
    }
}

fn warm(conn: &Connection, tree: &mut Tree) -> Result<(), AuditError> {
    let mut stmt =
        conn.prepare("SELECT sequence, entry_hash FROM audit_entries ORDER BY sequence")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        tree.push(row.get::<_, i64>(0)? as u64, hash_at(row, 1)?);
    }
    Ok(())
}

/// The chain head: last sequence, its entry hash and timestamp.
fn head(tx: &Transaction<'_>) -> Result<(u64, Hash, String), AuditError> {
    let row = tx
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

/// Brings `tree` up to the rows other processes appended since we last looked.
fn catch_up(tx: &Transaction<'_>, tree: &mut Tree, head_seq: u64) -> Result<(), AuditError> {
    if tree.last_seq > head_seq {
        // The log shrank behind our back (restored or tampered): rebuild.
        *tree = Tree::default();
    }
    if tree.last_seq < head_seq {
        let mut stmt = tx.prepare_cached(
            "SELECT sequence, entry_hash FROM audit_entries WHERE sequence > ?1 ORDER BY sequence",
        )?;
        let mut rows = stmt.query([tree.last_seq as i64])?;
        while let Some(row) = rows.next()? {
            tree.push(row.get::<_, i64>(0)? as u64, hash_at(row, 1)?);
        }
    }
    Ok(())
}

/// The current UTC time in the stored format (fixed width, so text order is
/// time order).
pub fn now_timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn append_in_tx(
    tx: &Transaction<'_>,
    f: &mut Tree,
    entries: &[PreparedEntry],
) -> Result<Vec<Appended>, AuditError> {
    let (mut seq, mut prev, head_ts) = head(tx)?;
    catch_up(tx, f, seq)?;
    // Timestamps never go backwards along the chain, even across processes
    // whose clocks differ slightly.
    let now = now_timestamp();
    let timestamp = if now < head_ts { head_ts } else { now };
    let mut insert = tx.prepare_cached(
        "INSERT INTO audit_entries (sequence, audit_id, timestamp, user_id, action, \
         resource_type, resource_id, severity, outcome, session_id, details, changes, \
         tenant_id, correlation_id, tags, purpose, personal, prev_hash, entry_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?;
    let mut insert_personal = tx.prepare_cached(
        "INSERT INTO audit_personal (sequence, field, value, salt) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut scratch = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let view = EntryView {
            sequence: seq,
            audit_id: &e.audit_id,
            timestamp: &timestamp,
            user_id: &e.user_id,
            action: &e.action,
            resource_type: &e.resource_type,
            resource_id: &e.resource_id,
            severity: &e.severity,
            outcome: &e.outcome,
            session_id: e.session_id.as_deref(),
            details: &e.details,
            changes: e.changes.as_deref(),
            tenant_id: e.tenant_id.as_deref(),
            correlation_id: e.correlation_id.as_deref(),
            tags: &e.tags,
            purpose: e.purpose.as_deref(),
            personal: &e.personal,
            prev_hash: prev,
        };
        let hash = view.hash_with(&mut scratch);
        insert.execute(params![
            seq as i64,
            e.audit_id,
            timestamp,
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
            &prev[..],
            &hash[..],
        ])?;
        for pv in &e.personal_values {
            insert_personal.execute(params![seq as i64, pv.field, pv.value_json, &pv.salt[..]])?;
        }
        f.push(seq, hash);
        out.push(Appended {
            audit_id: e.audit_id.clone(),
            sequence: seq,
            timestamp: timestamp.clone(),
            entry_hash: hash,
            tree_size: f.frontier.size(),
            root_hash: f.frontier.root(),
        });
        prev = hash;
    }
    Ok(out)
}

fn commit_appends(
    conn: &mut Connection,
    frontier: &mut Tree,
    entries: &[PreparedEntry],
) -> Result<Vec<Appended>, AuditError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut f = frontier.clone();
    let out = append_in_tx(&tx, &mut f, entries)?;
    tx.commit()?;
    *frontier = f;
    Ok(out)
}

fn erase(
    conn: &mut Connection,
    frontier: &mut Tree,
    request: EraseRequest,
) -> Result<Erased, AuditError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut sequences = std::collections::BTreeSet::new();
    if let Some(user_id) = &request.user_id {
        let mut stmt = tx.prepare("SELECT sequence FROM audit_entries WHERE user_id = ?1")?;
        for s in stmt.query_map([user_id], |r| r.get::<_, i64>(0))? {
            sequences.insert(s?);
        }
    }
    if let Some(email) = &request.user_email {
        let email_json = canonical_json(&serde_json::Value::String(email.clone()));
        let mut stmt = tx.prepare(
            "SELECT sequence FROM audit_personal WHERE field = 'user_email' AND value = ?1",
        )?;
        for s in stmt.query_map([email_json], |r| r.get::<_, i64>(0))? {
            sequences.insert(s?);
        }
    }
    let mut entries_affected = 0u64;
    let mut values_erased = 0u64;
    {
        let mut delete = tx.prepare("DELETE FROM audit_personal WHERE sequence = ?1")?;
        for s in &sequences {
            let n = delete.execute([s])? as u64;
            if n > 0 {
                entries_affected += 1;
                values_erased += n;
            }
        }
    }
    let mut record = request.record;
    let mut details: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&record.details).unwrap_or_default();
    details.insert("entries_affected".into(), entries_affected.into());
    details.insert("values_erased".into(), values_erased.into());
    record.details = canonical_json(&serde_json::Value::Object(details));
    let mut f = frontier.clone();
    let mut appended = append_in_tx(&tx, &mut f, std::slice::from_ref(&record))?;
    tx.commit()?;
    *frontier = f;
    let wal_truncated = truncate_wal(conn);
    let erasure_entry = appended
        .pop()
        .ok_or_else(|| AuditError::Internal("erasure entry was not written".into()))?;
    tracing::info!(
        entries_affected,
        values_erased,
        sequence = erasure_entry.sequence,
        "erased the personal data of a data subject"
    );
    Ok(Erased {
        entries_affected,
        values_erased,
        erasure_entry,
        wal_truncated,
    })
}

/// Copies the WAL into the main file and truncates it, so that page images
/// written before the erasure no longer exist anywhere in the store's files.
fn truncate_wal(conn: &Connection) -> bool {
    for attempt in 0..50 {
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => tracing::warn!(attempt, "WAL checkpoint failed: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tracing::warn!(
        "WAL still in use by another connection; it is truncated at its next checkpoint"
    );
    false
}
