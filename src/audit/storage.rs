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
use super::entry::{AuditEntry, PersonalValue};
use super::merkle::Hash;
use super::query::{Activity, Page, QueryFilter};
use super::report::ComplianceFigures;

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
    /// After an erasure committed: removes what the database keeps of the
    /// deleted values outside its tables, if it can. True when done.
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
    /// Inserts an entry (`hash` is its entry_hash) and its personal values.
    fn insert(
        &mut self,
        entry: &EntryView<'_>,
        hash: &Hash,
        personal: &[PersonalValue],
    ) -> Result<(), AuditError>;
    /// Sequences of the entries of a data subject: by user_id, and by the
    /// stored personal `user_email` value (canonical JSON).
    fn subject_sequences(
        &mut self,
        user_id: Option<&str>,
        email_json: Option<&str>,
    ) -> Result<BTreeSet<u64>, AuditError>;
    /// Deletes the personal values of entry `sequence`; returns how many.
    fn delete_personal(&mut self, sequence: u64) -> Result<u64, AuditError>;
    /// Commits durably.
    fn commit(self: Box<Self>) -> Result<(), AuditError>;
}
