//! What the PostgreSQL backends (audit, alerting) share: the connection
//! settings from `--store-url`, a connection that is safe to drop inside the
//! async runtime, per-namespace advisory-lock keys, and the migration runner.
//!
//! Design choice: like the SQLite store, every component records its
//! migrations in one `schema_migrations(component, version)` table of the
//! namespace's schema, applied under a transaction-level advisory lock, so
//! two processes starting at once apply each migration exactly once and a
//! schema written by a newer build is refused rather than misread.

use std::str::FromStr;
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use sha2::{Digest, Sha256};

/// How long a connection attempt may take before it is an error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub use super::migrations::Migration;

/// Connection settings from a `--store-url`; the error never repeats the URL
/// (it may hold a password).
pub fn config(url: &str) -> Result<Config, String> {
    let mut config =
        Config::from_str(url).map_err(|e| format!("--store-url is not a PostgreSQL URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("smart-systems-mcp");
    Ok(config)
}

/// The advisory-lock key of `component` in `namespace` (a stable hash, so
/// every process computes the same key).
pub fn lock_key(component: &str, namespace: &str) -> i64 {
    let digest = Sha256::digest(format!("smart-systems-mcp/{component}/{namespace}"));
    let mut k = [0u8; 8];
    k.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(k)
}

/// A connection of the synchronous client, which runs a small runtime of its
/// own: dropped (closed) inside an async runtime it would panic, so when that
/// happens (the server's state dropped at shutdown) it is closed on a thread
/// of its own.
pub struct Conn(Option<Client>);

impl Conn {
    /// Connects with `config` and sets the search path to `namespace`.
    pub fn open(config: &Config, namespace: &str) -> Result<Conn, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&format!("SET search_path TO \"{namespace}\""))?;
        Ok(Conn(Some(client)))
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Only `drop` takes the client out.
        self.0.as_ref().expect("connection present until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().expect("connection present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.0.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum MigrateError {
    /// PostgreSQL refused or was unreachable.
    Postgres(postgres::Error),
    /// The schema was written by a newer build.
    TooNew(String),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Postgres(e)
    }
}

/// Creates `namespace`'s schema and applies `component`'s pending
/// `migrations` in one transaction, under the advisory lock `lock_key`.
pub fn migrate(
    client: &mut Client,
    namespace: &str,
    component: &str,
    lock_key: i64,
    migrations: &[Migration],
) -> Result<(), MigrateError> {
    let mut tx = client.transaction()?;
    // One lock per namespace and component: two processes starting at once
    // apply each migration once (the second waits, then finds it recorded).
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{namespace}\";
         CREATE TABLE IF NOT EXISTS \"{namespace}\".schema_migrations (
             component  TEXT NOT NULL,
             version    INT NOT NULL,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
             PRIMARY KEY (component, version)
         );"
    ))?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1",
            &[&component],
        )?
        .get(0);
    let latest = migrations.last().map_or(0, |m| m.version as i32);
    if current > latest {
        return Err(MigrateError::TooNew(format!(
            "schema `{namespace}` has {component} schema version {current}, newer than this \
             build supports ({latest}); upgrade smart-systems-mcp"
        )));
    }
    for m in migrations.iter().filter(|m| m.version as i32 > current) {
        let (version, name) = (m.version as i32, m.name);
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
            &[&component, &version, &name],
        )?;
        tracing::info!(
            namespace,
            component,
            version,
            name,
            "applied migration on PostgreSQL"
        );
    }
    tx.commit()?;
    Ok(())
}
