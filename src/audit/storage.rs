//! The audit trail's storage boundary: what the domain (hash chain, Merkle
//! tree, checkpoints, verification, erasure) asks of a database, with the
//! embedded SQLite store ([`super::sqlite`]) and PostgreSQL
//! ([`super::postgres`]) behind it.
//!
//! The boundary sits where the SQL is, not at the tool level: hashing, chain
//! linking, the writer's frontier, verification's classification and proof
//! construction are written once against these traits. A backend only reads
//! and writes rows. The one contract that makes several processes form ONE
//! chain is [`AppendTx::lock_head`]: it must serialise appenders (SQLite: the
//! `BEGIN IMMEDIATE` write lock; PostgreSQL: a transaction-level advisory
//! lock) and hold that until [`AppendTx::commit`], so a batch links to the
//! head nobody else can move meanwhile.

use std::collections::BTreeSet;

use super::AuditError;
use super::checkpoint::CheckpointKey;
use super::encoding::EntryView;
use super::entry::AuditEntry;
use super::merkle::Hash;
use super::query::{Activity, Page, QueryFilter};
use super::report::ComplianceFigures;
use super::sealing::{DataKey, StoredPersonal};

/// A data subject: the user_id and e-mail token ([`super::sealing::email_token`])
/// of an entry.
pub type Subject = (String, Option<Hash>);

/// A personal value as the store keeps it: sealed under a subject's data key
/// (see [`super::sealing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// `user_email`, `ip_address`, `user_agent` or `details.<key>`.
    pub field: String,
    /// Id of the data key in the key store.
    pub key_id: i64,
    /// [`super::sealing::seal`] of the salt and value.
    pub sealed: Vec<u8>,
}

/// A database that holds one audit log.
pub trait AuditStorage: Send + Sync + std::fmt::Debug {
    /// A new read connection (the trail pools them).
    fn reader(&self) -> Result<Box<dyn LogReader>, AuditError>;
    /// The connection of this process's writer thread.
    fn writer(&self) -> Result<Box<dyn LogWriter>, AuditError>;
    /// The checkpoint signing key every process on this log shares.
    fn checkpoint_key(&self) -> Result<CheckpointKey, AuditError>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

/// Reads of the log. Sequences start at 1; ranges are inclusive.
pub trait LogReader: Send {
    /// Whether a pooled connection still works (checked before reuse; an
    /// unusable one is dropped and a new one opened).
    fn is_usable(&mut self) -> bool {
        true
    }
    /// The last sequence (0 when empty).
    fn head_sequence(&mut self) -> Result<u64, AuditError>;
    /// Calls `f(sequence, stored entry_hash)` for the rows in `lo..=hi`, in order.
    fn hashes(&mut self, lo: u64, hi: u64, f: &mut dyn FnMut(u64, Hash)) -> Result<(), AuditError>;
    /// Calls `f(sequence, value)` for the personal values stored for the
    /// entries `lo..=hi`, in (sequence, field) order, with the data key each
    /// is sealed under (None when the key is gone).
    fn personal(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(u64, StoredPersonal<'_>),
    ) -> Result<(), AuditError>;
    /// Calls `f(entry, stored entry_hash)` for the rows in `lo..=hi`, in order.
    fn scan(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(EntryView<'_>, Hash),
    ) -> Result<(), AuditError>;
    /// The audit_id stored at `sequence`.
    fn audit_id_at(&mut self, sequence: u64) -> Result<Option<String>, AuditError>;
    /// The sequence of the entry with `audit_id`.
    fn sequence_of(&mut self, audit_id: &str) -> Result<Option<u64>, AuditError>;
    /// A newest-first page of entries matching `filter`, older than `cursor`.
    fn query(
        &mut self,
        filter: &QueryFilter,
        limit: u32,
        cursor: Option<u64>,
    ) -> Result<Page, AuditError>;
    /// Calls `f` for every entry matching `filter`, oldest first; returns the count.
    fn for_each(
        &mut self,
        filter: &QueryFilter,
        f: &mut dyn FnMut(AuditEntry) -> Result<(), AuditError>,
    ) -> Result<u64, AuditError>;
    /// What `user_id` did since `since` (stored timestamp format).
    fn user_activity(&mut self, user_id: &str, since: &str) -> Result<Activity, AuditError>;
    /// Compliance figures for `[start, end)`, optionally for one tenant.
    fn figures(
        &mut self,
        start: &str,
        end: &str,
        tenant_id: Option<&str>,
    ) -> Result<ComplianceFigures, AuditError>;
}

/// The writer thread's connection.
pub trait LogWriter: Send {
    /// Starts an append transaction.
    fn begin(&mut self) -> Result<Box<dyn AppendTx + '_>, AuditError>;
    /// After an erasure committed: destroys the keys it scheduled for
    /// destruction and rewrites the key store so that no copy of them is
    /// left in its files. True when nothing of them remains in any file the
    /// server can reach (false: a reader held a snapshot, or the backend
    /// keeps its own log; see the README).
    fn scrub(&mut self) -> bool;
}

/// One append (or erasure) transaction; dropped without commit, it rolls back.
pub trait AppendTx {
    /// Takes the chain-head lock for the rest of the transaction and returns
    /// the head: last sequence, its entry_hash and timestamp.
    fn lock_head(&mut self) -> Result<(u64, Hash, String), AuditError>;
    /// Calls `f(sequence, entry_hash)` for every row after `sequence`, in order.
    fn hashes_after(
        &mut self,
        sequence: u64,
        f: &mut dyn FnMut(u64, Hash),
    ) -> Result<(), AuditError>;
    /// Inserts an entry (`hash` is its entry_hash) and its sealed personal values.
    fn insert(
        &mut self,
        entry: &EntryView<'_>,
        hash: &Hash,
        personal: &[SealedValue],
    ) -> Result<(), AuditError>;
    /// The data key of each subject (`user_id`, e-mail token), in order:
    /// the live one, or a new one. A new key must be durable no later than
    /// this transaction's commit, and a key scheduled for destruction is
    /// never handed out. The subjects are distinct.
    fn subject_key(&mut self, subjects: &[Subject]) -> Result<Vec<(i64, DataKey)>, AuditError>;
    /// Ids of the live keys of a data subject: of every pair with this
    /// user_id, and of every pair with this e-mail token.
    fn subject_keys(
        &mut self,
        user_id: Option<&str>,
        email_token: Option<&Hash>,
    ) -> Result<BTreeSet<i64>, AuditError>;
    /// Marks every value sealed under `keys` as erased by entry `erased_by`
    /// (its sealed bytes dropped) and schedules the keys for destruction
    /// (done by [`LogWriter::scrub`] after the commit, or within this
    /// transaction where the backend can); returns (entries, values) erased.
    fn erase_keys(
        &mut self,
        keys: &BTreeSet<i64>,
        erased_by: u64,
    ) -> Result<(u64, u64), AuditError>;
    /// Commits durably.
    fn commit(self: Box<Self>) -> Result<(), AuditError>;
}
