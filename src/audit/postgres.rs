//! The audit log in PostgreSQL (`--store-url`), shared by every process
//! pointed at the same database and namespace.
//!
//! The namespace is a PostgreSQL schema, so deployments (and tests) sharing
//! a server are isolated; migrations are recorded in its own
//! `schema_migrations` and applied under an advisory lock, so processes that
//! start together apply each once. Appends from all processes form ONE chain:
//! each group-commit transaction first takes a transaction-level advisory
//! lock on the namespace ([`AppendTx::lock_head`]), reads the head, and
//! inserts its whole batch with one `INSERT ... SELECT FROM unnest(...)`
//! round trip, so the lock is held for about one network round trip plus the
//! commit's WAL flush. The checkpoint signing key's seed lives in the schema
//! too: processes on different machines must sign with the same key, or a
//! checkpoint from one would not verify through another; a key file copied
//! to every machine is the alternative we rejected, as one forgotten copy
//! silently forks the key. The cost: whoever can read the schema can sign
//! checkpoints (it cannot change the ones an auditor already holds, which is
//! what detects a rewrite).
//!
//! Personal values are sealed under per-subject keys ([`super::sealing`])
//! kept in `audit_subject_keys`; an erasure deletes the keys in the same
//! transaction as its entry, then rewrites that small table into a new file
//! (`VACUUM FULL`), so no copy of a destroyed key is left in the table's
//! files. The server's WAL still holds the keys until it recycles its
//! segments, which a client cannot force (see the README).
//!
//! The synchronous `postgres` client fits here: the audit store is driven
//! from its own writer thread and from blocking threads, never from async
//! tasks. Connections are checked before reuse, so a restarted server costs
//! the calls made during the outage (each a clear error), not the ones after.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Config, Row};

use super::AuditError;
use super::checkpoint::CheckpointKey;
use super::encoding::{EntryView, GENESIS_PREV};
use super::entry::AuditEntry;
use super::merkle::Hash;
use super::query::{Activity, Page, QueryFilter, entry_from_view};
use super::report::{ComplianceFigures, ERASURE_RESOURCE_TYPE, MAX_SUBJECTS, SubjectAccess};
use super::sealing::{self, DataKey, StoredPersonal};
use super::storage::{AppendTx, AuditStorage, LogReader, LogWriter, SealedValue};
use crate::store::migrations::Migration;
use crate::store::postgres::Conn;
use crate::store::postgres::{self as pg, CONNECT_TIMEOUT, MigrateError};

/// A connection idle this long is checked (one round trip) before reuse.
const REVALIDATE_AFTER: Duration = Duration::from_secs(1);
/// Longest wait of an erasure's key-table rewrite for the table's lock.
const VACUUM_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations of the audit tables in a namespace's schema. Append, never edit.
/// Version 1's plain-text `audit_personal` is sealed and dropped by
/// [`upgrade_plaintext`] after version 2.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit_entries",
        sql: "CREATE TABLE audit_entries (
         sequence       BIGINT PRIMARY KEY,
         audit_id       TEXT NOT NULL UNIQUE,
         timestamp      TEXT COLLATE \"C\" NOT NULL,
         user_id        TEXT NOT NULL,
         action         TEXT NOT NULL,
         resource_type  TEXT COLLATE \"C\" NOT NULL,
         resource_id    TEXT COLLATE \"C\" NOT NULL,
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
         prev_hash      BYTEA NOT NULL,
         entry_hash     BYTEA NOT NULL
     );
     CREATE INDEX audit_by_user ON audit_entries(user_id, sequence);
     CREATE INDEX audit_by_resource ON audit_entries(resource_type, resource_id, sequence);
     CREATE INDEX audit_by_tenant ON audit_entries(tenant_id, sequence);
     CREATE INDEX audit_by_time ON audit_entries(timestamp);
     CREATE TABLE audit_personal (
         sequence BIGINT NOT NULL,
         field    TEXT NOT NULL,
         value    TEXT NOT NULL,
         salt     BYTEA NOT NULL,
         PRIMARY KEY (sequence, field)
     );
     CREATE TABLE audit_key (
         id   INT PRIMARY KEY CHECK (id = 1),
         seed BYTEA NOT NULL
     );",
    },
    Migration {
        version: 2,
        name: "audit_sealed",
        sql: "CREATE TABLE audit_subject_keys (
         id          BIGSERIAL PRIMARY KEY,
         user_id     TEXT NOT NULL,
         email_token BYTEA,
         key         BYTEA NOT NULL
     );
     CREATE INDEX audit_keys_by_user ON audit_subject_keys(user_id);
     CREATE INDEX audit_keys_by_email ON audit_subject_keys(email_token);
     CREATE TABLE audit_sealed (
         sequence  BIGINT NOT NULL,
         field     TEXT NOT NULL,
         key_id    BIGINT,
         sealed    BYTEA,
         erased_by BIGINT,
         PRIMARY KEY (sequence, field)
     );
     CREATE INDEX audit_sealed_by_key ON audit_sealed(key_id) WHERE key_id IS NOT NULL;",
    },
];

/// The columns of `audit_entries` in the order [`view`] reads them.
const COLUMNS: &str = "sequence, audit_id, timestamp, user_id, action, resource_type, \
     resource_id, severity, outcome, session_id, details, changes, tenant_id, correlation_id, \
     tags, purpose, personal, prev_hash, entry_hash";

/// Whether an error means the server is gone (shut down, restarting,
/// connection lost) rather than refused a statement.
fn unreachable(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.as_db_error()
            .is_some_and(|db| matches!(&db.code().code()[..2], "57" | "08"))
}

impl From<postgres::Error> for AuditError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let text = db.message().to_string();
            return AuditError::Postgres(if unreachable(&e) {
                format!("the database is unreachable ({text}); retry when it is back")
            } else {
                text
            });
        }
        let mut text = e.to_string();
        if let Some(source) = std::error::Error::source(&e) {
            let s = source.to_string();
            if !text.contains(&s) {
                text = format!("{text}: {s}");
            }
        }
        if e.is_closed() || text.contains("connect") {
            text = format!("the database is unreachable ({text}); retry when it is back");
        }
        AuditError::Postgres(text)
    }
}

/// The audit log in one namespace (schema) of a PostgreSQL database.
#[derive(Debug)]
pub struct PgStorage {
    config: Config,
    namespace: String,
    lock_key: i64,
}

impl PgStorage {
    /// Connects to `url`, creates the namespace's schema and applies pending
    /// migrations. `namespace` must match `[a-z][a-z0-9_]{0,39}` (the CLI
    /// validates it). Neither the URL nor its password appears in errors.
    pub fn open(url: &str, namespace: &str) -> Result<PgStorage, AuditError> {
        crate::store::validate_namespace(namespace)
            .map_err(|e| AuditError::invalid("namespace", e))?;
        let config = pg::config(url).map_err(|e| AuditError::invalid("store_url", e))?;
        let storage = PgStorage {
            config,
            namespace: namespace.to_string(),
            lock_key: pg::lock_key("audit", namespace),
        };
        storage.migrate()?;
        upgrade_plaintext(&mut storage.connect()?, storage.lock_key)?;
        Ok(storage)
    }

    fn connect(&self) -> Result<Conn, AuditError> {
        Ok(Conn::open(&self.config, &self.namespace)?)
    }

    fn migrate(&self) -> Result<(), AuditError> {
        let mut client = self.connect()?;
        pg::migrate(
            &mut client,
            &self.namespace,
            "audit",
            self.lock_key ^ 1,
            MIGRATIONS,
        )
        .map_err(|e| match e {
            MigrateError::Postgres(e) => e.into(),
            MigrateError::TooNew(m) => AuditError::Store(m),
        })
    }
}

impl AuditStorage for PgStorage {
    fn reader(&self) -> Result<Box<dyn LogReader>, AuditError> {
        Ok(Box::new(PgReader {
            client: self.connect()?,
        }))
    }

    fn writer(&self) -> Result<Box<dyn LogWriter>, AuditError> {
        Ok(Box::new(PgWriter {
            storage: PgStorage {
                config: self.config.clone(),
                namespace: self.namespace.clone(),
                lock_key: self.lock_key,
            },
            client: None,
            last_ok: Instant::now(),
        }))
    }

    fn checkpoint_key(&self) -> Result<CheckpointKey, AuditError> {
        let mut client = self.connect()?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| AuditError::Internal(format!("no randomness for the key: {e}")))?;
        // The first process to get here creates the key; everybody uses it.
        client.execute(
            "INSERT INTO audit_key (id, seed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&&seed[..]],
        )?;
        let stored: Vec<u8> = client
            .query_one("SELECT seed FROM audit_key WHERE id = 1", &[])?
            .get(0);
        let seed: [u8; 32] = stored.as_slice().try_into().map_err(|_| {
            AuditError::Store(format!(
                "{}.audit_key holds {} bytes, expected a 32-byte Ed25519 seed",
                self.namespace,
                stored.len()
            ))
        })?;
        Ok(CheckpointKey::from_seed(
            &seed,
            format!("postgres schema {}, table audit_key", self.namespace).into(),
        ))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// A 32-byte bytea as a hash (or a stand-in that matches nothing).
fn hash_of(bytes: Option<&[u8]>) -> Hash {
    match bytes {
        Some(b) if b.len() == 32 => {
            let mut h = [0u8; 32];
            h.copy_from_slice(b);
            h
        }
        _ => [0xff; 32],
    }
}

/// The entry of a row selected with `COLUMNS`, and its stored entry_hash.
pub fn view(row: &Row) -> Result<(EntryView<'_>, Hash), AuditError> {
    let text = |i: usize| -> Result<&str, AuditError> {
        Ok(row.try_get::<_, Option<&str>>(i)?.unwrap_or(""))
    };
    let opt = |i: usize| -> Result<Option<&str>, AuditError> { Ok(row.try_get(i)?) };
    let v = EntryView {
        sequence: row.try_get::<_, i64>(0)?.max(0) as u64,
        audit_id: text(1)?,
        timestamp: text(2)?,
        user_id: text(3)?,
        action: text(4)?,
        resource_type: text(5)?,
        resource_id: text(6)?,
        severity: text(7)?,
        outcome: text(8)?,
        session_id: opt(9)?,
        details: text(10)?,
        changes: opt(11)?,
        tenant_id: opt(12)?,
        correlation_id: opt(13)?,
        tags: text(14)?,
        purpose: opt(15)?,
        personal: text(16)?,
        prev_hash: hash_of(row.try_get(17)?),
    };
    Ok((v, hash_of(row.try_get(18)?)))
}

fn seq_param(s: u64) -> i64 {
    s.min(i64::MAX as u64) as i64
}

type Params = Vec<Box<dyn ToSql + Sync>>;

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

/// The WHERE clause of `filter` with `$n` placeholders numbered after `skip`.
fn conditions(filter: &QueryFilter, skip: usize) -> (String, Params) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Params = Vec::new();
    let mut push = |cond: &str, p: Box<dyn ToSql + Sync>| {
        params.push(p);
        conds.push(cond.replace("{}", &format!("${}", skip + params.len())));
    };
    let eqs = [
        ("user_id", &filter.user_id),
        ("action", &filter.action),
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
        ("tenant_id", &filter.tenant_id),
        ("severity", &filter.severity),
        ("outcome", &filter.outcome),
    ];
    for (col, v) in eqs {
        if let Some(v) = v {
            push(&format!("{col} = {{}}"), Box::new(v.clone()));
        }
    }
    for tag in &filter.tags {
        push("jsonb_exists(tags::jsonb, {})", Box::new(tag.clone()));
    }
    if let Some(s) = &filter.start_time {
        push("timestamp >= {}", Box::new(s.clone()));
    }
    if let Some(e) = &filter.end_time {
        push("timestamp < {}", Box::new(e.clone()));
    }
    if conds.is_empty() {
        conds.push("TRUE".into());
    }
    (conds.join(" AND "), params)
}

/// A read connection.
pub struct PgReader {
    client: Conn,
}

impl PgReader {
    fn entries(&mut self, sql: &str, params: &Params) -> Result<Vec<AuditEntry>, AuditError> {
        let rows = self.client.query(sql, &refs(params))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (v, stored) = view(row)?;
            let mut values = Vec::new();
            if v.personal != "{}" {
                for r in self.client.query(
                    "SELECT p.field, p.sealed, k.key FROM audit_sealed p \
                     LEFT JOIN audit_subject_keys k ON k.id = p.key_id WHERE p.sequence = $1",
                    &[&(v.sequence as i64)],
                )? {
                    let field: String = r.try_get(0)?;
                    let (sealed, key): (Option<&[u8]>, Option<&[u8]>) =
                        (r.try_get(1)?, r.try_get(2)?);
                    if let (Some(sealed), Some(key)) = (sealed, key)
                        && let Some((_, value)) = sealing::open(key, v.sequence, &field, sealed)
                    {
                        values.push((field, value));
                    }
                }
            }
            out.push(entry_from_view(&v, &stored, values));
        }
        Ok(out)
    }
}

impl LogReader for PgReader {
    fn is_usable(&mut self) -> bool {
        !self.client.is_closed() && self.client.is_valid(CONNECT_TIMEOUT).is_ok()
    }

    fn head_sequence(&mut self) -> Result<u64, AuditError> {
        let max: Option<i64> = self
            .client
            .query_one("SELECT MAX(sequence) FROM audit_entries", &[])?
            .get(0);
        Ok(max.unwrap_or(0).max(0) as u64)
    }

    fn hashes(&mut self, lo: u64, hi: u64, f: &mut dyn FnMut(u64, Hash)) -> Result<(), AuditError> {
        let rows = self.client.query(
            "SELECT sequence, entry_hash FROM audit_entries WHERE sequence BETWEEN $1 AND $2 \
             ORDER BY sequence",
            &[&seq_param(lo), &seq_param(hi)],
        )?;
        for r in &rows {
            f(r.try_get::<_, i64>(0)? as u64, hash_of(r.try_get(1)?));
        }
        Ok(())
    }

    fn personal(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(u64, StoredPersonal<'_>),
    ) -> Result<(), AuditError> {
        const SLICE: u64 = 20_000;
        let mut start = lo;
        while start <= hi {
            let end = hi.min(start.saturating_add(SLICE - 1));
            let rows = self.client.query(
                "SELECT p.sequence, p.field, p.sealed, k.key, p.erased_by FROM audit_sealed p \
                 LEFT JOIN audit_subject_keys k ON k.id = p.key_id \
                 WHERE p.sequence BETWEEN $1 AND $2 ORDER BY p.sequence, p.field",
                &[&seq_param(start), &seq_param(end)],
            )?;
            for r in &rows {
                f(
                    r.try_get::<_, i64>(0)?.max(0) as u64,
                    StoredPersonal {
                        field: r.try_get(1)?,
                        sealed: r.try_get(2)?,
                        key: r.try_get(3)?,
                        erased_by: r.try_get::<_, Option<i64>>(4)?.map(|b| b.max(0) as u64),
                    },
                );
            }
            if end == u64::MAX {
                break;
            }
            start = end + 1;
        }
        Ok(())
    }

    fn scan(
        &mut self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(EntryView<'_>, Hash),
    ) -> Result<(), AuditError> {
        // In slices, so a scan of millions of rows never holds them all.
        const SLICE: u64 = 50_000;
        let mut start = lo;
        while start <= hi {
            let end = hi.min(start.saturating_add(SLICE - 1));
            let rows = self.client.query(
                &format!(
                    "SELECT {COLUMNS} FROM audit_entries WHERE sequence BETWEEN $1 AND $2 \
                     ORDER BY sequence"
                ),
                &[&seq_param(start), &seq_param(end)],
            )?;
            for r in &rows {
                let (v, stored) = view(r)?;
                f(v, stored);
            }
            if end == u64::MAX {
                break;
            }
            start = end + 1;
        }
        Ok(())
    }

    fn audit_id_at(&mut self, sequence: u64) -> Result<Option<String>, AuditError> {
        Ok(self
            .client
            .query_opt(
                "SELECT audit_id FROM audit_entries WHERE sequence = $1",
                &[&seq_param(sequence)],
            )?
            .map(|r| r.get(0)))
    }

    fn sequence_of(&mut self, audit_id: &str) -> Result<Option<u64>, AuditError> {
        Ok(self
            .client
            .query_opt(
                "SELECT sequence FROM audit_entries WHERE audit_id = $1",
                &[&audit_id],
            )?
            .map(|r| r.get::<_, i64>(0) as u64))
    }

    fn query(
        &mut self,
        filter: &QueryFilter,
        limit: u32,
        cursor: Option<u64>,
    ) -> Result<Page, AuditError> {
        filter.validate()?;
        let (mut wh, mut params) = conditions(filter, 0);
        if let Some(c) = cursor {
            params.push(Box::new(seq_param(c)));
            wh = format!("{wh} AND sequence < ${}", params.len());
        }
        params.push(Box::new(limit as i64 + 1));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE {wh} ORDER BY sequence DESC LIMIT ${}",
            params.len()
        );
        let mut entries = self.entries(&sql, &params)?;
        let next_cursor = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries
                .last()
                .map(|e| super::query::cursor_before(e.sequence))
        } else {
            None
        };
        Ok(Page {
            entries,
            next_cursor,
        })
    }

    fn for_each(
        &mut self,
        filter: &QueryFilter,
        f: &mut dyn FnMut(AuditEntry) -> Result<(), AuditError>,
    ) -> Result<u64, AuditError> {
        filter.validate()?;
        let (wh, mut params) = conditions(filter, 0);
        // Keyset pages, so an export of the whole log stays in bounded memory.
        const PAGE: i64 = 5_000;
        let mut after = 0i64;
        let mut n = 0;
        params.push(Box::new(0i64));
        let after_at = params.len() - 1;
        loop {
            params[after_at] = Box::new(after);
            let sql = format!(
                "SELECT {COLUMNS} FROM audit_entries WHERE {wh} AND sequence > ${} \
                 ORDER BY sequence LIMIT {PAGE}",
                after_at + 1
            );
            let page = self.entries(&sql, &params)?;
            let len = page.len() as i64;
            for e in page {
                after = e.sequence as i64;
                f(e)?;
                n += 1;
            }
            if len < PAGE {
                return Ok(n);
            }
        }
    }

    fn user_activity(&mut self, user_id: &str, since: &str) -> Result<Activity, AuditError> {
        let rows = self.client.query(
            "SELECT action, resource_type, COUNT(*), COUNT(*) FILTER (WHERE outcome = 'failure'),
                    MIN(timestamp), MAX(timestamp)
             FROM audit_entries WHERE user_id = $1 AND timestamp >= $2
             GROUP BY action, resource_type",
            &[&user_id, &since],
        )?;
        let mut a = Activity::default();
        for r in &rows {
            let action: String = r.try_get(0)?;
            let rtype: String = r.try_get(1)?;
            let n = r.try_get::<_, i64>(2)? as u64;
            a.total += n;
            a.failures += r.try_get::<_, i64>(3)? as u64;
            *a.by_action.entry(action).or_default() += n;
            *a.by_resource_type.entry(rtype).or_default() += n;
            let first: String = r.try_get(4)?;
            let last: String = r.try_get(5)?;
            if a.first_activity.as_ref().is_none_or(|f| first < *f) {
                a.first_activity = Some(first);
            }
            if a.last_activity.as_ref().is_none_or(|l| last > *l) {
                a.last_activity = Some(last);
            }
        }
        Ok(a)
    }

    fn figures(
        &mut self,
        start: &str,
        end: &str,
        tenant_id: Option<&str>,
    ) -> Result<ComplianceFigures, AuditError> {
        let filter = QueryFilter {
            tenant_id: tenant_id.map(str::to_string),
            start_time: Some(start.to_string()),
            end_time: Some(end.to_string()),
            ..QueryFilter::default()
        };
        let mut f = ComplianceFigures::default();
        let (wh, params) = conditions(&filter, 1);
        let mut first: Params = vec![Box::new(ERASURE_RESOURCE_TYPE.to_string())];
        first.extend(params);
        for r in &self.client.query(
            &format!(
                "SELECT action, severity, outcome, purpose IS NULL, resource_type = $1, COUNT(*)
                 FROM audit_entries WHERE {wh} GROUP BY 1, 2, 3, 4, 5"
            ),
            &refs(&first),
        )? {
            let action: String = r.try_get(0)?;
            let outcome: String = r.try_get(2)?;
            f.add_group(
                &action,
                r.try_get(1)?,
                &outcome,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get::<_, i64>(5)? as u64,
            );
        }
        let (wh, params) = conditions(&filter, 0);
        f.unique_users = self
            .client
            .query_one(
                &format!("SELECT COUNT(DISTINCT user_id) FROM audit_entries WHERE {wh}"),
                &refs(&params),
            )?
            .try_get::<_, i64>(0)? as u64;
        for r in &self.client.query(
            &format!(
                "SELECT resource_type, resource_id, COUNT(*), array_agg(DISTINCT user_id),
                        array_agg(DISTINCT purpose) FILTER (WHERE purpose IS NOT NULL)
                 FROM audit_entries
                 WHERE {wh} AND action IN ('read', 'export', 'access')
                 GROUP BY resource_type, resource_id
                 ORDER BY COUNT(*) DESC, resource_type, resource_id
                 LIMIT {MAX_SUBJECTS}"
            ),
            &refs(&params),
        )? {
            f.subject_access.push(SubjectAccess {
                resource_type: r.try_get(0)?,
                resource_id: r.try_get(1)?,
                accesses: r.try_get::<_, i64>(2)? as u64,
                accessed_by: r.try_get(3)?,
                purposes: r.try_get::<_, Option<Vec<String>>>(4)?.unwrap_or_default(),
            });
        }
        Ok(f)
    }
}

/// The writer thread's connection; reconnects after the database was away.
pub struct PgWriter {
    storage: PgStorage,
    client: Option<Conn>,
    last_ok: Instant,
}

impl LogWriter for PgWriter {
    fn begin(&mut self) -> Result<Box<dyn AppendTx + '_>, AuditError> {
        let stale = match &mut self.client {
            None => true,
            Some(c) => {
                c.is_closed()
                    || (self.last_ok.elapsed() > REVALIDATE_AFTER
                        && c.is_valid(CONNECT_TIMEOUT).is_err())
            }
        };
        if stale {
            self.client = None;
            self.client = Some(self.storage.connect()?);
        }
        self.last_ok = Instant::now();
        let lock_key = self.storage.lock_key;
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| AuditError::Internal("no PostgreSQL connection".into()))?;
        let tx = client.transaction()?;
        Ok(Box::new(PgTx {
            tx: Some(tx),
            lock_key,
            rows: Batch::default(),
        }))
    }

    /// Rewrites the key table into a new file (`VACUUM FULL`; the old file
    /// is unlinked), so no dead tuple of a destroyed key is left in it. The
    /// server's WAL keeps the keys until it recycles its segments, which no
    /// client can force, so this says false (see the README). The rewrite
    /// waits at most `VACUUM_LOCK_TIMEOUT` for readers of the table (the
    /// next erasure's rewrite catches up otherwise).
    fn scrub(&mut self) -> bool {
        if let Some(c) = &mut self.client
            && let Err(e) = c.batch_execute(&format!(
                "SET lock_timeout = '{}ms'; VACUUM FULL audit_subject_keys; RESET lock_timeout;",
                VACUUM_LOCK_TIMEOUT.as_millis()
            ))
        {
            let _ = c.batch_execute("RESET lock_timeout");
            tracing::warn!("VACUUM FULL audit_subject_keys after an erasure: {e}");
        }
        false
    }
}

/// Rows of one transaction, sent in one statement at commit.
#[derive(Default)]
struct Batch {
    sequence: Vec<i64>,
    text: [Vec<String>; 11],
    opt: [Vec<Option<String>>; 5],
    prev_hash: Vec<Vec<u8>>,
    entry_hash: Vec<Vec<u8>>,
    p_sequence: Vec<i64>,
    p_field: Vec<String>,
    p_key_id: Vec<i64>,
    p_sealed: Vec<Vec<u8>>,
}

struct PgTx<'c> {
    tx: Option<postgres::Transaction<'c>>,
    lock_key: i64,
    rows: Batch,
}

impl<'c> PgTx<'c> {
    fn tx(&mut self) -> Result<&mut postgres::Transaction<'c>, AuditError> {
        self.tx
            .as_mut()
            .ok_or_else(|| AuditError::Internal("transaction already finished".into()))
    }

    fn flush(&mut self) -> Result<(), AuditError> {
        if !self.rows.sequence.is_empty() {
            let b = std::mem::take(&mut self.rows);
            let [
                audit_id,
                timestamp,
                user_id,
                action,
                resource_type,
                resource_id,
                severity,
                outcome,
                details,
                tags,
                personal,
            ] = &b.text;
            let [session_id, changes, tenant_id, correlation_id, purpose] = &b.opt;
            self.tx()?.execute(
                "INSERT INTO audit_entries (sequence, audit_id, timestamp, user_id, action, \
                 resource_type, resource_id, severity, outcome, session_id, details, changes, \
                 tenant_id, correlation_id, tags, purpose, personal, prev_hash, entry_hash) \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
                 $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
                 $18::bytea[], $19::bytea[])",
                &[
                    &b.sequence,
                    audit_id,
                    timestamp,
                    user_id,
                    action,
                    resource_type,
                    resource_id,
                    severity,
                    outcome,
                    session_id,
                    details,
                    changes,
                    tenant_id,
                    correlation_id,
                    tags,
                    purpose,
                    personal,
                    &b.prev_hash,
                    &b.entry_hash,
                ],
            )?;
            if !b.p_sequence.is_empty() {
                self.tx()?.execute(
                    "INSERT INTO audit_sealed (sequence, field, key_id, sealed) \
                     SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::bytea[])",
                    &[&b.p_sequence, &b.p_field, &b.p_key_id, &b.p_sealed],
                )?;
            }
        }
        Ok(())
    }
}

impl AppendTx for PgTx<'_> {
    fn lock_head(&mut self) -> Result<(u64, Hash, String), AuditError> {
        let key = self.lock_key;
        let tx = self.tx()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        let row = tx.query_opt(
            "SELECT sequence, entry_hash, timestamp FROM audit_entries \
             ORDER BY sequence DESC LIMIT 1",
            &[],
        )?;
        Ok(match row {
            None => (0, GENESIS_PREV, String::new()),
            Some(r) => (
                r.try_get::<_, i64>(0)?.max(0) as u64,
                hash_of(r.try_get(1)?),
                r.try_get(2)?,
            ),
        })
    }

    fn hashes_after(
        &mut self,
        sequence: u64,
        f: &mut dyn FnMut(u64, Hash),
    ) -> Result<(), AuditError> {
        self.flush()?;
        let rows = self.tx()?.query(
            "SELECT sequence, entry_hash FROM audit_entries WHERE sequence > $1 ORDER BY sequence",
            &[&seq_param(sequence)],
        )?;
        for r in &rows {
            f(r.try_get::<_, i64>(0)? as u64, hash_of(r.try_get(1)?));
        }
        Ok(())
    }

    fn insert(
        &mut self,
        e: &EntryView<'_>,
        hash: &Hash,
        personal: &[SealedValue],
    ) -> Result<(), AuditError> {
        let b = &mut self.rows;
        b.sequence.push(e.sequence as i64);
        for (col, v) in b.text.iter_mut().zip([
            e.audit_id,
            e.timestamp,
            e.user_id,
            e.action,
            e.resource_type,
            e.resource_id,
            e.severity,
            e.outcome,
            e.details,
            e.tags,
            e.personal,
        ]) {
            col.push(v.to_string());
        }
        for (col, v) in b.opt.iter_mut().zip([
            e.session_id,
            e.changes,
            e.tenant_id,
            e.correlation_id,
            e.purpose,
        ]) {
            col.push(v.map(str::to_string));
        }
        b.prev_hash.push(e.prev_hash.to_vec());
        b.entry_hash.push(hash.to_vec());
        for pv in personal {
            b.p_sequence.push(e.sequence as i64);
            b.p_field.push(pv.field.clone());
            b.p_key_id.push(pv.key_id);
            b.p_sealed.push(pv.sealed.clone());
        }
        Ok(())
    }

    /// Two round trips for the whole batch: the live keys, then the new ones.
    fn subject_key(
        &mut self,
        subjects: &[(String, Option<Hash>)],
    ) -> Result<Vec<(i64, DataKey)>, AuditError> {
        let users: Vec<&str> = subjects.iter().map(|(u, _)| u.as_str()).collect();
        let tokens: Vec<Option<Vec<u8>>> = subjects
            .iter()
            .map(|(_, t)| t.map(|t| t.to_vec()))
            .collect();
        let tx = self.tx()?;
        // (user_id, token) as PostgreSQL returns them -> (id, key).
        type Found = std::collections::HashMap<(String, Option<Vec<u8>>), (i64, DataKey)>;
        let mut found = Found::new();
        for r in tx.query(
            "SELECT DISTINCT ON (k.user_id, k.email_token) k.user_id, k.email_token, k.id, k.key \
             FROM audit_subject_keys k \
             JOIN unnest($1::text[], $2::bytea[]) AS s(u, t) \
               ON k.user_id = s.u AND k.email_token IS NOT DISTINCT FROM s.t \
             ORDER BY k.user_id, k.email_token, k.id DESC",
            &[&users, &tokens],
        )? {
            let key: &[u8] = r.try_get(3)?;
            if let Ok(key) = DataKey::try_from(key) {
                found.insert((r.try_get(0)?, r.try_get(1)?), (r.try_get(2)?, key));
            }
        }
        let mut new_users = Vec::new();
        let mut new_tokens = Vec::new();
        let mut new_keys = Vec::new();
        for (u, t) in users.iter().zip(&tokens) {
            if !found.contains_key(&(u.to_string(), t.clone())) {
                new_users.push(*u);
                new_tokens.push(t.clone());
                new_keys.push(sealing::new_key()?.to_vec());
            }
        }
        if !new_users.is_empty() {
            for r in tx.query(
                "INSERT INTO audit_subject_keys (user_id, email_token, key) \
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
                 RETURNING user_id, email_token, id, key",
                &[&new_users, &new_tokens, &new_keys],
            )? {
                let key: &[u8] = r.try_get(3)?;
                let key = DataKey::try_from(key)
                    .map_err(|_| AuditError::Store("a new data key is not 32 bytes".into()))?;
                found.insert((r.try_get(0)?, r.try_get(1)?), (r.try_get(2)?, key));
            }
        }
        users
            .iter()
            .zip(tokens)
            .map(|(u, t)| {
                found.get(&(u.to_string(), t)).copied().ok_or_else(|| {
                    AuditError::Internal("no data key was stored for a subject".into())
                })
            })
            .collect()
    }

    fn subject_keys(
        &mut self,
        user_id: Option<&str>,
        email_token: Option<&Hash>,
    ) -> Result<BTreeSet<i64>, AuditError> {
        let mut out = BTreeSet::new();
        let tx = self.tx()?;
        if let Some(u) = user_id {
            for r in tx.query(
                "SELECT id FROM audit_subject_keys WHERE user_id = $1",
                &[&u],
            )? {
                out.insert(r.try_get::<_, i64>(0)?);
            }
        }
        if let Some(t) = email_token {
            for r in tx.query(
                "SELECT id FROM audit_subject_keys WHERE email_token = $1",
                &[&&t[..]],
            )? {
                out.insert(r.try_get::<_, i64>(0)?);
            }
        }
        Ok(out)
    }

    /// Deletes the keys within the transaction: it is atomic with the
    /// erasure entry, so nothing needs scheduling.
    fn erase_keys(
        &mut self,
        keys: &BTreeSet<i64>,
        erased_by: u64,
    ) -> Result<(u64, u64), AuditError> {
        self.flush()?;
        let ids: Vec<i64> = keys.iter().copied().collect();
        let tx = self.tx()?;
        let counts = tx.query_one(
            "WITH e AS (UPDATE audit_sealed SET sealed = NULL, key_id = NULL, erased_by = $2 \
             WHERE key_id = ANY($1) RETURNING sequence) \
             SELECT COUNT(DISTINCT sequence), COUNT(*) FROM e",
            &[&ids, &seq_param(erased_by)],
        )?;
        tx.execute("DELETE FROM audit_subject_keys WHERE id = ANY($1)", &[&ids])?;
        Ok((
            counts.try_get::<_, i64>(0)?.max(0) as u64,
            counts.try_get::<_, i64>(1)?.max(0) as u64,
        ))
    }

    fn commit(mut self: Box<Self>) -> Result<(), AuditError> {
        self.flush()?;
        let tx = self
            .tx
            .take()
            .ok_or_else(|| AuditError::Internal("transaction already finished".into()))?;
        tx.commit()?;
        Ok(())
    }
}

/// The live key of subject (`user_id`, `email_token`), or a new one
/// (committed with the caller's transaction).
fn find_or_create_key(
    tx: &mut postgres::Transaction<'_>,
    user_id: &str,
    email_token: Option<&Hash>,
) -> Result<(i64, DataKey), AuditError> {
    let token = email_token.map(|t| t.to_vec());
    if let Some(r) = tx.query_opt(
        "SELECT id, key FROM audit_subject_keys \
         WHERE user_id = $1 AND email_token IS NOT DISTINCT FROM $2 ORDER BY id DESC LIMIT 1",
        &[&user_id, &token],
    )? {
        let key: &[u8] = r.try_get(1)?;
        if let Ok(key) = DataKey::try_from(key) {
            return Ok((r.try_get(0)?, key));
        }
    }
    let key = sealing::new_key()?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO audit_subject_keys (user_id, email_token, key) VALUES ($1, $2, $3) \
             RETURNING id",
            &[&user_id, &token, &&key[..]],
        )?
        .try_get(0)?;
    Ok((id, key))
}

/// Seals the plain-text personal values of a version-1 namespace
/// (`audit_personal`), gives the values earlier erasures deleted a tombstone
/// naming the first erasure entry after them, and drops the table (its
/// files are unlinked). Runs once, under the chain-head lock.
fn upgrade_plaintext(client: &mut Conn, lock_key: i64) -> Result<(), AuditError> {
    // A catalog query, not to_regclass: that one reads a cache that taking an
    // advisory lock does not refresh, so it can still see a table another
    // process just dropped.
    const LEGACY: &str = "SELECT EXISTS (SELECT 1 FROM pg_tables \
                          WHERE schemaname = current_schema() AND tablename = 'audit_personal')";
    if !client.query_one(LEGACY, &[])?.try_get::<_, bool>(0)? {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])?;
    if !tx.query_one(LEGACY, &[])?.try_get::<_, bool>(0)? {
        return Ok(());
    }
    let rows = tx.query(
        "SELECT p.sequence, p.field, p.value, p.salt, e.user_id FROM audit_personal p \
         JOIN audit_entries e ON e.sequence = p.sequence ORDER BY p.sequence, p.field",
        &[],
    )?;
    let mut i = 0;
    while i < rows.len() {
        let seq: i64 = rows[i].try_get(0)?;
        let mut j = i;
        while j < rows.len() && rows[j].try_get::<_, i64>(0)? == seq {
            j += 1;
        }
        let group = &rows[i..j];
        let user_id: String = group[0].try_get(4)?;
        let mut token = None;
        for r in group {
            if r.try_get::<_, &str>(1)? == "user_email" {
                token = Some(sealing::email_token(r.try_get(2)?));
            }
        }
        let (key_id, key) = find_or_create_key(&mut tx, &user_id, token.as_ref())?;
        for r in group {
            let field: &str = r.try_get(1)?;
            let value: &str = r.try_get(2)?;
            // A salt of the wrong length cannot match its commitment;
            // verification reports that value as missing.
            let Ok(salt) = <[u8; 32]>::try_from(r.try_get::<_, &[u8]>(3)?) else {
                continue;
            };
            let sealed = sealing::seal(&key, seq.max(0) as u64, field, &salt, value)?;
            tx.execute(
                "INSERT INTO audit_sealed (sequence, field, key_id, sealed) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sequence, field) DO NOTHING",
                &[&seq, &field, &key_id, &sealed],
            )?;
        }
        i = j;
    }
    // Tombstones for values erased under version 1.
    tx.execute(
        "INSERT INTO audit_sealed (sequence, field, erased_by)
         SELECT e.sequence, f.field,
                (SELECT MIN(x.sequence) FROM audit_entries x
                  WHERE x.sequence > e.sequence AND x.resource_type = $1
                    AND x.user_id = 'system:erase_subject')
         FROM audit_entries e, jsonb_object_keys(e.personal::jsonb) AS f(field)
         WHERE e.personal <> '{}'
           AND NOT EXISTS (SELECT 1 FROM audit_sealed s
                            WHERE s.sequence = e.sequence AND s.field = f.field)
           AND EXISTS (SELECT 1 FROM audit_entries x
                        WHERE x.sequence > e.sequence AND x.resource_type = $1
                          AND x.user_id = 'system:erase_subject')",
        &[&ERASURE_RESOURCE_TYPE],
    )?;
    tx.batch_execute("DROP TABLE audit_personal")?;
    tx.commit()?;
    tracing::info!(
        converted = rows.len(),
        "sealed the plain-text personal values of the audit trail"
    );
    Ok(())
}
