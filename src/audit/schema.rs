//! The audit trail's tables.
//!
//! `audit_entries` holds the hashed part of every entry; `sequence` is the
//! rowid, so appends go to the end of the B-tree and a sequence range is a
//! contiguous scan. Personal values live in `audit_personal`, keyed by
//! (sequence, field) only: the value is in no index, so deleting the row
//! (with `secure_delete`) leaves no copy of it in the file. Timestamps never
//! decrease along the sequence (the writer enforces it), which lets time
//! filters become sequence ranges.

use crate::store::migrations::Migration;

/// Migrations of the `audit` component.
pub const MIGRATIONS: &[Migration] = &[Migration {
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
}];

/// The columns of `audit_entries` in the order [`super::rows`] reads them.
pub const ENTRY_COLUMNS: &str = "sequence, audit_id, timestamp, user_id, action, resource_type, \
     resource_id, severity, outcome, session_id, details, changes, tenant_id, correlation_id, \
     tags, purpose, personal, prev_hash, entry_hash";
