//! The audit trail: a tamper-evident, durable, append-only log of who did
//! what, when, where and with what outcome.
//!
//! Each entry's hash covers its canonical encoding ([`encoding`]), which
//! includes the previous entry's hash (a chain), and the entries are the
//! leaves of an RFC 9162 Merkle tree ([`merkle`]) whose signed heads
//! ([`checkpoint`]) let an outside party detect truncation, rollback and
//! rewriting. Appends go through one writer thread per process with group
//! commit ([`writer`]): each `audit_log` returns after the fsync of the
//! transaction that holds its entry. Personal values are stored apart from
//! the hashed entry, committed to by salted hashes and sealed under a key per
//! data subject ([`sealing`]), so erasing them ([`AuditTrail::erase`]:
//! destroying the keys) leaves every hash and proof valid and no readable
//! copy in the store's files.
//!
//! [`AuditTrail`] is the facade the MCP adapters call; all its methods but
//! [`AuditTrail::log`] and [`AuditTrail::erase`] block on the store (SQLite,
//! or PostgreSQL with `--store-url`, see [`storage`]) and are run on blocking
//! threads by the caller.

pub mod bus_event;
pub mod checkpoint;
pub mod encoding;
pub mod entry;
pub mod export;
pub mod merkle;
pub mod postgres;
pub mod proofs;
pub mod query;
pub mod report;
pub mod rows;
pub mod schema;
pub mod sealing;
pub mod sqlite;
pub mod storage;
pub mod verify;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

pub use schema::MIGRATIONS;

use crate::store::Store;
use checkpoint::{Checkpoint, CheckpointKey};
use entry::{NewEntry, PreparedEntry};
use merkle::Hash;
use proofs::{StoredTree, SubtreeCache};
use query::{Page, QueryFilter};
use storage::{AuditStorage, LogReader};
use verify::{VerifyReport, VerifyRequest};
use writer::{Appended, Command, EraseRequest, Erased};

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An argument is wrong; `field` names it.
    #[error("invalid argument `{field}`: {message}")]
    Invalid { field: String, message: String },
    /// SQLite refused.
    #[error("audit store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or could not be reached.
    #[error("audit store (PostgreSQL): {0}")]
    Postgres(String),
    /// The store is not in the state an operation needs.
    #[error("audit store: {0}")]
    Store(String),
    /// Anything else (I/O on the key or an export, a stopped writer).
    #[error("{0}")]
    Internal(String),
}

impl AuditError {
    /// An invalid argument.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AuditError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A signed checkpoint and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub note: String,
    pub checkpoint: Checkpoint,
    pub key_name: String,
    pub verifier_key: String,
    pub public_key: [u8; 32],
}

/// An inclusion proof with the entry it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub sequence: u64,
    pub audit_id: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_data: Vec<u8>,
    pub leaf_hash: Hash,
    pub root_hash: Hash,
    pub path: Vec<Hash>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    pub old_size: u64,
    pub new_size: u64,
    pub old_root: Hash,
    pub new_root: Hash,
    pub proof: Vec<Hash>,
}

/// The audit subsystem of one process.
pub struct AuditTrail {
    storage: Arc<dyn AuditStorage>,
    db_path: Option<PathBuf>,
    writer: Mutex<Sender<Command>>,
    readers: Mutex<Vec<Box<dyn LogReader>>>,
    key: CheckpointKey,
    pii_fields: Vec<String>,
    subtrees: SubtreeCache,
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("storage", &self.storage)
            .field("key", &self.key.name())
            .field("pii_fields", &self.pii_fields)
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// Opens the audit trail over a migrated store: loads (or creates) the
    /// checkpoint key and starts the writer thread.
    pub fn open(store: &Store, pii_fields: Vec<String>) -> Result<AuditTrail, AuditError> {
        let storage = sqlite::SqliteStorage::open(store)?;
        let db_path = storage.path().to_path_buf();
        let mut trail = Self::with_storage(Arc::new(storage), pii_fields)?;
        trail.db_path = Some(db_path);
        Ok(trail)
    }

    /// Opens the audit trail in PostgreSQL at `url`, schema `namespace`
    /// (created and migrated when missing). Runs on a thread of its own: the
    /// synchronous client must not block an async runtime's worker.
    pub fn open_postgres(
        url: &str,
        namespace: &str,
        pii_fields: Vec<String>,
    ) -> Result<AuditTrail, AuditError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let storage = postgres::PgStorage::open(url, namespace)?;
                Self::with_storage(Arc::new(storage), pii_fields)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(AuditError::Internal(
                    "opening the audit store panicked".into(),
                ))
            })
        })
    }

    /// Opens the audit trail over any storage: loads (or creates) the
    /// checkpoint key and starts the writer thread.
    pub fn with_storage(
        storage: Arc<dyn AuditStorage>,
        pii_fields: Vec<String>,
    ) -> Result<AuditTrail, AuditError> {
        let key = storage.checkpoint_key()?;
        let commits = Arc::new(AtomicU64::new(0));
        let writer = writer::spawn(storage.writer()?, commits.clone())?;
        Ok(AuditTrail {
            storage,
            db_path: None,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            key,
            pii_fields,
            subtrees: SubtreeCache::default(),
            commits,
        })
    }

    /// Append transactions this process committed (one fsync each): the
    /// entries appended over this is the group-commit batch size.
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The SQLite store file (None on PostgreSQL).
    pub fn db_path(&self) -> Option<&Path> {
        self.db_path.as_deref()
    }

    /// The storage backend: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.storage.backend()
    }

    /// `details` keys treated as personal data.
    pub fn pii_fields(&self) -> &[String] {
        &self.pii_fields
    }

    /// The checkpoint signing key.
    pub fn key(&self) -> &CheckpointKey {
        &self.key
    }

    fn send(&self, cmd: Command) -> Result<(), AuditError> {
        let tx = self
            .writer
            .lock()
            .map_err(|_| AuditError::Internal("audit writer lock poisoned".into()))?;
        tx.send(cmd)
            .map_err(|_| AuditError::Internal("the audit writer has stopped".into()))
    }

    /// Validates and queues an entry; the receiver answers once it is durable.
    pub fn submit(
        &self,
        entry: NewEntry,
    ) -> Result<oneshot::Receiver<Result<Appended, AuditError>>, AuditError> {
        let prepared = entry.prepare(&self.pii_fields)?;
        self.submit_prepared(prepared)
    }

    fn submit_prepared(
        &self,
        prepared: PreparedEntry,
    ) -> Result<oneshot::Receiver<Result<Appended, AuditError>>, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Append(prepared, tx))?;
        Ok(rx)
    }

    /// Appends an entry; returns after its transaction was fsynced.
    pub async fn log(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        let rx = self.submit(entry)?;
        rx.await
            .map_err(|_| AuditError::Internal("the audit writer has stopped".into()))?
    }

    /// [`AuditTrail::log`] for synchronous callers (benchmarks, tools).
    pub fn log_blocking(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        let rx = self.submit(entry)?;
        rx.blocking_recv()
            .map_err(|_| AuditError::Internal("the audit writer has stopped".into()))?
    }

    /// Runs `f` on a pooled read connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn LogReader) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let pooled = self.readers.lock().ok().and_then(|mut p| p.pop());
        let mut conn = match pooled {
            Some(mut c) => {
                if c.is_usable() {
                    c
                } else {
                    self.storage.reader()?
                }
            }
            None => self.storage.reader()?,
        };
        let out = f(conn.as_mut());
        if let Ok(mut p) = self.readers.lock()
            && p.len() < 8
        {
            p.push(conn);
        }
        out
    }

    /// A newest-first page of entries.
    pub fn query(
        &self,
        filter: &QueryFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, AuditError> {
        let cursor = cursor.map(query::parse_cursor).transpose()?;
        self.read(|c| c.query(filter, limit, cursor))
    }

    /// Parses and checks the signature of a checkpoint note.
    pub fn parse_checkpoint(&self, note: &str) -> Result<Checkpoint, AuditError> {
        self.key.verify(note)
    }

    /// Verifies the chain (see [`verify`]).
    pub fn verify(&self, req: &VerifyRequest) -> Result<VerifyReport, AuditError> {
        let report = verify::verify(self.storage.as_ref(), req)?;
        if !report.valid {
            // Cached subtree hashes may describe rows that changed since.
            self.subtrees.clear();
        }
        Ok(report)
    }

    /// Number of entries (the current tree size).
    pub fn size(&self) -> Result<u64, AuditError> {
        self.read(|c| c.head_sequence())
    }

    /// Root hash of the tree of `size` entries, from the stored leaf hashes.
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        self.read(|c| {
            StoredTree {
                reader: c,
                cache: &self.subtrees,
            }
            .hash(0, size)
        })
    }

    /// Signs a checkpoint of the current tree head.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, AuditError> {
        let (size, root) = self.read(|c| {
            let size = c.head_sequence()?;
            let root = if size == 0 {
                merkle::empty_root()
            } else {
                StoredTree {
                    reader: c,
                    cache: &self.subtrees,
                }
                .hash(0, size)?
            };
            Ok((size, root))
        })?;
        Ok(self.sign(size, root))
    }

    /// Signs a checkpoint of the given tree head.
    pub fn sign(&self, tree_size: u64, root_hash: Hash) -> SignedCheckpoint {
        let timestamp = writer::now_timestamp();
        let note = self.key.sign(tree_size, &root_hash, &timestamp);
        SignedCheckpoint {
            note,
            checkpoint: Checkpoint {
                origin: self.key.name().to_string(),
                tree_size,
                root_hash,
                timestamp: Some(timestamp),
            },
            key_name: self.key.name().to_string(),
            verifier_key: self.key.verifier_key(),
            public_key: self.key.public_key(),
        }
    }

    /// The sequence of the entry with `audit_id`.
    pub fn sequence_of(&self, audit_id: &str) -> Result<u64, AuditError> {
        self.read(|c| {
            c.sequence_of(audit_id)?.ok_or_else(|| {
                AuditError::invalid("audit_id", format!("no entry has audit_id `{audit_id}`"))
            })
        })
    }

    /// Inclusion proof of entry `sequence` in the tree of `tree_size`
    /// entries (default: the current size).
    pub fn inclusion(
        &self,
        sequence: u64,
        tree_size: Option<u64>,
    ) -> Result<Inclusion, AuditError> {
        self.read(|c| {
            let size = c.head_sequence()?;
            if sequence == 0 || sequence > size {
                return Err(AuditError::invalid(
                    "sequence",
                    format!("must be between 1 and {size}, the current log size"),
                ));
            }
            let tree_size = tree_size.unwrap_or(size);
            if tree_size < sequence || tree_size > size {
                return Err(AuditError::invalid(
                    "tree_size",
                    format!(
                        "must be between the entry's sequence {sequence} and the log size {size}"
                    ),
                ));
            }
            let mut found = None;
            c.scan(sequence, sequence, &mut |v, stored| {
                found = Some((v.encode(), stored, v.audit_id.to_string()));
            })?;
            let (leaf_data, leaf_hash, audit_id) = found.ok_or_else(|| {
                AuditError::Store(format!(
                    "entry {sequence} is missing from the log; run verify_chain"
                ))
            })?;
            let mut tree = StoredTree {
                reader: c,
                cache: &self.subtrees,
            };
            let path = merkle::inclusion_proof(sequence - 1, tree_size, &mut tree)?;
            let root_hash = tree.hash(0, tree_size)?;
            Ok(Inclusion {
                sequence,
                audit_id,
                leaf_index: sequence - 1,
                tree_size,
                leaf_data,
                leaf_hash,
                root_hash,
                path,
            })
        })
    }

    /// Consistency proof between the trees of `old_size` and `new_size`.
    pub fn consistency(
        &self,
        old_size: u64,
        new_size: Option<u64>,
    ) -> Result<Consistency, AuditError> {
        self.read(|c| {
            let size = c.head_sequence()?;
            let new_size = new_size.unwrap_or(size);
            if new_size > size {
                return Err(AuditError::invalid(
                    "new_size",
                    format!("must be at most the log size {size}"),
                ));
            }
            if old_size == 0 || old_size > new_size {
                return Err(AuditError::invalid(
                    "old_size",
                    format!("must be between 1 and new_size {new_size}"),
                ));
            }
            let mut tree = StoredTree {
                reader: c,
                cache: &self.subtrees,
            };
            let proof = merkle::consistency_proof(old_size, new_size, &mut tree)?;
            Ok(Consistency {
                old_size,
                new_size,
                old_root: tree.hash(0, old_size)?,
                new_root: tree.hash(0, new_size)?,
                proof,
            })
        })
    }

    /// Erases the personal values of a data subject (by user_id and/or
    /// e-mail) and records the erasure as an audit entry.
    pub async fn erase(
        &self,
        user_id: Option<String>,
        user_email: Option<String>,
        reason: String,
    ) -> Result<Erased, AuditError> {
        let (request, event) = self.erase_request(user_id, user_email, reason)?;
        let (tx, rx) = oneshot::channel();
        self.send(Command::Erase(request, tx))?;
        let erased = rx
            .await
            .map_err(|_| AuditError::Internal("the audit writer has stopped".into()))??;
        Ok(Erased {
            event: Some(event.appended(&erased.erasure_entry)),
            ..erased
        })
    }

    fn erase_request(
        &self,
        user_id: Option<String>,
        user_email: Option<String>,
        reason: String,
    ) -> Result<(EraseRequest, bus_event::AuditBusEvent), AuditError> {
        if user_id.as_deref().is_none_or(|s| s.trim().is_empty())
            && user_email.as_deref().is_none_or(|s| s.trim().is_empty())
        {
            return Err(AuditError::invalid(
                "user_id",
                "give user_id or user_email (or both) of the person to erase",
            ));
        }
        if reason.trim().is_empty() {
            return Err(AuditError::invalid(
                "reason",
                "must say why (e.g. `GDPR Art. 17 request #123`)",
            ));
        }
        // Checked here, not as the erasure record's `purpose` it becomes.
        if reason.len() > entry::MAX_TEXT_LEN {
            return Err(AuditError::invalid(
                "reason",
                format!(
                    "is {} bytes; at most {} are accepted",
                    reason.len(),
                    entry::MAX_TEXT_LEN
                ),
            ));
        }
        // The erasure record names the subject only by user_id (already in
        // the chain); an e-mail given to find the subject is not written.
        let mut details = serde_json::Map::new();
        details.insert("reason".into(), reason.clone().into());
        details.insert(
            "matched_by".into(),
            match (&user_id, &user_email) {
                (Some(_), Some(_)) => "user_id and user_email",
                (Some(_), None) => "user_id",
                _ => "user_email",
            }
            .into(),
        );
        let record = NewEntry {
            user_id: "system:erase_subject".into(),
            action: "delete".into(),
            resource_type: report::ERASURE_RESOURCE_TYPE.into(),
            resource_id: user_id
                .clone()
                .unwrap_or_else(|| "(subject given by e-mail)".into()),
            severity: "warning".into(),
            outcome: "success".into(),
            details,
            tags: vec!["gdpr".into(), "erasure".into()],
            purpose: Some(reason),
            ..NewEntry::default()
        };
        let event = bus_event::AuditBusEvent::of(&record);
        let record = record.prepare(&[])?;
        Ok((
            EraseRequest {
                user_id,
                user_email,
                record,
            },
            event,
        ))
    }
}
