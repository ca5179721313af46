//! Ordered schema migrations, one list per component (the store core and
//! each subsystem), recorded in `schema_migrations(component, version)`.
//! Append, never edit: a released migration is part of every existing store
//! file. Keeping a list per component lets subsystems evolve their tables
//! independently without renumbering each other's migrations.
//!
//! The store knows no subsystem: each owns its list, and the wiring hands
//! the lists of the components it runs to [`crate::store::Store::open`]. The
//! same [`Migration`] type serves SQLite and PostgreSQL.

use std::collections::BTreeMap;

use rusqlite::Connection;

/// One schema change of one component.
#[derive(Debug)]
pub struct Migration {
    /// Strictly increasing within its component, starting at 1.
    pub version: i64,
    /// Short name recorded in `schema_migrations`.
    pub name: &'static str,
    /// SQL run in the migration transaction.
    pub sql: &'static str,
}

/// The store core's own migrations.
pub const CORE: &[Migration] = &[Migration {
    version: 1,
    name: "store_meta",
    sql: "CREATE TABLE store_meta (
              key   TEXT PRIMARY KEY,
              value TEXT NOT NULL
          ) STRICT;
          INSERT INTO store_meta(key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));",
}];

/// A component's name and its migrations.
pub type Component = (&'static str, &'static [Migration]);

/// Schema version of each component in a store migrated with `components`
/// (the core included).
pub fn latest_versions(components: &[Component]) -> BTreeMap<String, i64> {
    std::iter::once(&("core", CORE))
        .chain(components)
        .map(|(name, list)| (name.to_string(), list.last().map_or(0, |m| m.version)))
        .collect()
}

/// Why migrating failed.
#[derive(Debug)]
pub enum MigrateError {
    /// SQLite refused.
    Sqlite(rusqlite::Error),
    /// The store is newer than this binary.
    TooNew {
        component: String,
        found: i64,
        supported: i64,
    },
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Applies every pending migration of the core and of `components`, in that
/// order, in one immediate transaction (so two processes starting at once
/// apply each exactly once) and returns each component's schema version.
pub fn migrate(
    conn: &mut Connection,
    components: &[Component],
) -> Result<BTreeMap<String, i64>, MigrateError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             component  TEXT NOT NULL,
             version    INTEGER NOT NULL,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL,
             PRIMARY KEY (component, version)
         ) STRICT;",
    )?;
    let mut current: BTreeMap<String, i64> = BTreeMap::new();
    {
        let mut stmt =
            tx.prepare("SELECT component, MAX(version) FROM schema_migrations GROUP BY component")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (component, version) = row?;
            current.insert(component, version);
        }
    }
    let latest = latest_versions(components);
    for (component, &found) in &current {
        // A component this binary does not know at all is left alone: a newer
        // binary may have added it, and ignoring its tables is safe.
        if let Some(&supported) = latest.get(component)
            && found > supported
        {
            return Err(MigrateError::TooNew {
                component: component.clone(),
                found,
                supported,
            });
        }
    }
    for (component, list) in std::iter::once(&("core", CORE)).chain(components) {
        let have = current.get(*component).copied().unwrap_or(0);
        for m in list.iter().filter(|m| m.version > have) {
            tracing::info!(
                component,
                version = m.version,
                name = m.name,
                "applying store migration"
            );
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations(component, version, name, applied_at)
                 VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                rusqlite::params![component, m.version, m.name],
            )?;
        }
    }
    tx.commit()?;
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_versions_strictly_increase_from_one() {
        for (i, m) in CORE.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "core migration {}", m.name);
        }
    }
}
