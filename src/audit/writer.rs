//! The single writer of one server process: group commit with fsync.
//!
//! `audit_log` must not return before its entry is on disk, and an fsync costs
//! milliseconds, so one fsync per entry would cap the log at a few hundred
//! entries per second. Callers therefore hand their prepared entries to one
//! writer thread, which takes everything that queued up while the previous
//! commit was syncing and writes it in ONE transaction on its own connection
//! (whose commit is durable: SQLite's `synchronous = FULL`, PostgreSQL's
//! `synchronous_commit`). Every caller of the
//! batch is answered after that commit returns.
//!
//! Several processes may share the log (one data dir, or one PostgreSQL
//! namespace): the chain head (last sequence, its hash and timestamp) is read
//! under the storage's head lock ([`super::storage::AppendTx::lock_head`])
//! inside the same transaction that inserts the batch, so the processes'
//! batches form one chain with no gaps or forks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use chrono::{SecondsFormat, Utc};
use tokio::sync::oneshot;

use super::AuditError;
use super::encoding::{EntryView, canonical_json};
use super::entry::PreparedEntry;
use super::merkle::{Frontier, Hash};
use super::sealing::{self, DataKey};
use super::storage::{AppendTx, LogWriter, SealedValue, Subject};

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
#[derive(Debug, Clone, PartialEq)]
pub struct Erased {
    pub entries_affected: u64,
    pub values_erased: u64,
    pub erasure_entry: Appended,
    /// Whether the subject's keys were destroyed and no copy of them is left
    /// in any file of the store (false when another process held a read
    /// snapshot, or on PostgreSQL, whose WAL is out of reach).
    pub wal_truncated: bool,
    /// The erasure's own entry as published on topic `audit` (filled in by
    /// [`super::AuditTrail::erase`]; the writer leaves it empty).
    pub event: Option<crate::bus::OutboundEvent>,
}

/// A request to the writer thread.
pub enum Command {
    Append(PreparedEntry, oneshot::Sender<Result<Appended, AuditError>>),
    Erase(EraseRequest, oneshot::Sender<Result<Erased, AuditError>>),
}

/// Starts the writer thread over `writer`; it ends when every sender is
/// gone. `commits` counts the durable append transactions (one fsync each).
pub fn spawn(
    writer: Box<dyn LogWriter>,
    commits: Arc<AtomicU64>,
) -> Result<Sender<Command>, AuditError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || run(writer, rx, &commits))
        .map_err(|e| AuditError::Internal(format!("cannot start the audit writer: {e}")))?;
    Ok(tx)
}

fn run(mut conn: Box<dyn LogWriter>, rx: Receiver<Command>, commits: &AtomicU64) {
    let mut frontier = Tree::default();
    // Warm the frontier before the first request (reads every leaf hash once).
    if let Err(e) = warm(conn.as_mut(), &mut frontier) {
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
            match commit_appends(conn.as_mut(), &mut frontier, &entries) {
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
                        // The message already names the store that failed.
                        let _ = reply.send(Err(AuditError::Internal(msg.clone())));
                    }
                }
            }
        }
        for (request, reply) in erases {
            let _ = reply.send(erase(conn.as_mut(), &mut frontier, request));
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

fn warm(conn: &mut dyn LogWriter, tree: &mut Tree) -> Result<(), AuditError> {
    let mut tx = conn.begin()?;
    tx.hashes_after(0, &mut |seq, h| tree.push(seq, h))
}

/// Brings `tree` up to the rows other processes appended since we last looked.
fn catch_up(tx: &mut dyn AppendTx, tree: &mut Tree, head_seq: u64) -> Result<(), AuditError> {
    if tree.last_seq > head_seq {
        // The log shrank behind our back (restored or tampered): rebuild.
        *tree = Tree::default();
    }
    if tree.last_seq < head_seq {
        tx.hashes_after(tree.last_seq, &mut |seq, h| tree.push(seq, h))?;
    }
    Ok(())
}

/// The current UTC time in the stored format (fixed width, so text order is
/// time order).
pub fn now_timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn append_in_tx(
    tx: &mut dyn AppendTx,
    f: &mut Tree,
    entries: &[PreparedEntry],
) -> Result<Vec<Appended>, AuditError> {
    let (mut seq, mut prev, head_ts) = tx.lock_head()?;
    catch_up(tx, f, seq)?;
    // Timestamps never go backwards along the chain, even across processes
    // whose clocks differ slightly.
    let now = now_timestamp();
    let timestamp = if now < head_ts { head_ts } else { now };
    let mut scratch = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(entries.len());
    let keys = batch_keys(tx, entries)?;
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
        let sealed = seal_personal(&keys, seq, e)?;
        tx.insert(&view, &hash, &sealed)?;
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

/// The subject of an entry with personal values: its user_id and the token
/// of its e-mail.
fn subject_of(e: &PreparedEntry) -> Option<Subject> {
    if e.personal_values.is_empty() {
        return None;
    }
    let token = e
        .personal_values
        .iter()
        .find(|pv| pv.field == "user_email")
        .map(|pv| sealing::email_token(&pv.value_json));
    Some((e.user_id.clone(), token))
}

/// The data keys of the batch's subjects, fetched (or created) at once.
fn batch_keys(
    tx: &mut dyn AppendTx,
    entries: &[PreparedEntry],
) -> Result<HashMap<Subject, (i64, DataKey)>, AuditError> {
    let mut subjects: Vec<Subject> = entries.iter().filter_map(subject_of).collect();
    subjects.sort();
    subjects.dedup();
    if subjects.is_empty() {
        return Ok(HashMap::new());
    }
    let keys = tx.subject_key(&subjects)?;
    if keys.len() != subjects.len() {
        return Err(AuditError::Internal(
            "the store returned a key count that does not match the subjects".into(),
        ));
    }
    Ok(subjects.into_iter().zip(keys).collect())
}

/// Seals the personal values of entry `seq` under the key of its subject.
fn seal_personal(
    keys: &HashMap<Subject, (i64, DataKey)>,
    seq: u64,
    e: &PreparedEntry,
) -> Result<Vec<SealedValue>, AuditError> {
    let Some(subject) = subject_of(e) else {
        return Ok(Vec::new());
    };
    let &(key_id, key) = keys
        .get(&subject)
        .ok_or_else(|| AuditError::Internal("no data key for an entry's subject".into()))?;
    e.personal_values
        .iter()
        .map(|pv| {
            Ok(SealedValue {
                field: pv.field.clone(),
                key_id,
                sealed: sealing::seal(&key, seq, &pv.field, &pv.salt, &pv.value_json)?,
            })
        })
        .collect()
}

fn commit_appends(
    conn: &mut dyn LogWriter,
    frontier: &mut Tree,
    entries: &[PreparedEntry],
) -> Result<Vec<Appended>, AuditError> {
    let mut tx = conn.begin()?;
    let mut f = frontier.clone();
    let out = append_in_tx(tx.as_mut(), &mut f, entries)?;
    tx.commit()?;
    *frontier = f;
    Ok(out)
}

fn erase(
    conn: &mut dyn LogWriter,
    frontier: &mut Tree,
    request: EraseRequest,
) -> Result<Erased, AuditError> {
    let mut tx = conn.begin()?;
    // Lock the head first: an erasure is ordered with the appends around it,
    // and the erasure entry takes the next sequence.
    let (head, _, _) = tx.lock_head()?;
    let token = request.user_email.as_ref().map(|email| {
        sealing::email_token(&canonical_json(&serde_json::Value::String(email.clone())))
    });
    let keys = tx.subject_keys(request.user_id.as_deref(), token.as_ref())?;
    let (entries_affected, values_erased) = tx.erase_keys(&keys, head + 1)?;
    let mut record = request.record;
    let mut details: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&record.details).unwrap_or_default();
    details.insert("entries_affected".into(), entries_affected.into());
    details.insert("values_erased".into(), values_erased.into());
    record.details = canonical_json(&serde_json::Value::Object(details));
    let mut f = frontier.clone();
    let mut appended = append_in_tx(tx.as_mut(), &mut f, std::slice::from_ref(&record))?;
    if appended.first().map(|a| a.sequence) != Some(head + 1) {
        return Err(AuditError::Internal(
            "the erasure entry did not get the sequence its values were marked with".into(),
        ));
    }
    tx.commit()?;
    *frontier = f;
    let wal_truncated = conn.scrub();
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
        event: None,
    })
}
