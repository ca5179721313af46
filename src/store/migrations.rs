//! Ordered schema migrations. Append, never edit: a released migration is
//! part of every existing store file.

use rusqlite::{Connection, OptionalExtension};

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    /// Strictly increasing, starting at 1.
    pub version: i64,
    /// Short name recorded in `schema_migrations`.
    pub name: &'static str,
    /// SQL run in the migration transaction.
    pub sql: &'static str,
}

/// Every migration, in order. Subsystems append theirs.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "store_meta",
    sql: "CREATE TABLE store_meta (
              key   TEXT PRIMARY KEY,
              value TEXT NOT NULL
          ) STRICT;
          INSERT INTO store_meta(key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));",
}];

/// The version a fully migrated store has.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Why migrating failed.
#[derive(Debug)]
pub enum MigrateError {
    /// SQLite refused.
    Sqlite(rusqlite::Error),
    /// The store is newer than this binary.
    TooNew { found: i64, supported: i64 },
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Applies every pending migration in one immediate transaction and returns
/// the resulting schema version.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL
         ) STRICT;",
    )?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    let supported = latest_version();
    if current > supported {
        return Err(MigrateError::TooNew {
            found: current,
            supported,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying store migration"
        );
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations(version, name, applied_at)
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            rusqlite::params![m.version, m.name],
        )?;
    }
    tx.commit()?;
    Ok(supported.max(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {}", m.name);
        }
    }
}
