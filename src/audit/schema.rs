//! The audit trail's tables.
//!
//! `audit_entries` holds the hashed part of every entry; `sequence` is the
//! rowid, so appends go to the end of the B-tree and a sequence range is a
//! contiguous scan. Personal values live in `audit_sealed`, keyed by
//! (sequence, field), sealed under their subject's data key
//! ([`super::sealing`]); the keys are in a file of their own
//! ([`KEYS_FILE`]), which an erasure rewrites whole. An erased value keeps
//! its row as a tombstone naming the erasure entry (`erased_by`), so
//! verification can tell an erasure from a deletion. Timestamps never
//! decrease along the sequence (the writer enforces it), which lets time
//! filters become sequence ranges.
//!
//! Version 1 kept values in plain text in `audit_personal`; opening such a
//! store seals them, drops that table and rewrites the file once
//! ([`super::sqlite::SqliteStorage::open`]).

use crate::store::migrations::Migration;

/// File of the data keys, beside the store file in the data dir.
pub const KEYS_FILE: &str = "audit-keys.db";

/// The key store's tables (created when missing). `id` is never reused, so a
/// sealed row can never open under a later subject's key.
pub const KEYS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS subject_keys (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id     TEXT NOT NULL,
        email_token BLOB,
        key         BLOB NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS keys_by_user ON subject_keys(user_id);
    CREATE INDEX IF NOT EXISTS keys_by_email ON subject_keys(email_token);";

/// Migrations of the `audit` component.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit_entries",
        sql: "CREATE TABLE audit_entries (
              sequence       INTEGER PRIMARY KEY,
              audit_id       TEXT NOT NULL UNIQUE,
              timestamp      TEXT NOT NULL,
              user_id        TEXT NOT NULL,
              action         TEXT NOT NULL,
              resource_type  TEXT NOT NULL,
              resource_id    TEXT NOT NULL,
              severity       TEXT NOT NULL,
              outcome        TEXT NOT NULL,
              session_id     TEXT,
              details        TEXT NOT NULL,
              changes        TEXT,
              tenant_id      TEXT,
              correlation_id TEXT,
              tags           TEXT NOT NULL,
              purpose        TEXT,
              personal       TEXT NOT NULL,
              prev_hash      BLOB NOT NULL,
              entry_hash     BLOB NOT NULL
          ) STRICT;
          CREATE INDEX audit_by_user ON audit_entries(user_id, sequence);
          CREATE INDEX audit_by_resource ON audit_entries(resource_type, resource_id, sequence);
          CREATE INDEX audit_by_tenant ON audit_entries(tenant_id, sequence);
          CREATE INDEX audit_by_time ON audit_entries(timestamp);
          CREATE TABLE audit_personal (
              sequence INTEGER NOT NULL,
              field    TEXT NOT NULL,
              value    TEXT NOT NULL,
              salt     BLOB NOT NULL,
              PRIMARY KEY (sequence, field)
          ) STRICT, WITHOUT ROWID;",
    },
    Migration {
        version: 2,
        name: "audit_sealed",
        sql: "CREATE TABLE audit_sealed (
              sequence  INTEGER NOT NULL,
              field     TEXT NOT NULL,
              key_id    INTEGER,
              sealed    BLOB,
              erased_by INTEGER,
              PRIMARY KEY (sequence, field)
          ) STRICT, WITHOUT ROWID;
          CREATE INDEX audit_sealed_by_key ON audit_sealed(key_id) WHERE key_id IS NOT NULL;
          CREATE TABLE audit_shred_pending (key_id INTEGER PRIMARY KEY) STRICT;",
    },
];

/// The columns of `audit_entries` in the order [`super::rows`] reads them.
pub const ENTRY_COLUMNS: &str = "sequence, audit_id, timestamp, user_id, action, resource_type, \
     resource_id, severity, outcome, session_id, details, changes, tenant_id, correlation_id, \
     tags, purpose, personal, prev_hash, entry_hash";
