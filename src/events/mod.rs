//! The events subsystem: a durable pub/sub bus for live game events, player
//! stat updates, model predictions, system alerts and audit events.
//!
//! Layout: the neutral model every backend shares ([`model`]: events,
//! replay and statistics; [`subscription`]: subscriptions, deliveries,
//! acks; [`filter`], [`topic`], [`retention`] rules), the contract
//! ([`backend::EventBackend`]), and one folder per driver: [`sqlite`] (the
//! embedded default, [`SqliteBus`]) and [`nats`] (JetStream, [`nats::NatsBus`]).
//!
//! On SQLite everything is stored in the shared store (WAL): the log of
//! events ([`sqlite::log`]), durable subscriptions and consumer groups
//! ([`sqlite::consumer`]) and their pending deliveries. The one design
//! choice to know: a single writer thread per process ([`sqlite::writer`])
//! runs every write, grouping whatever is queued into one transaction, so
//! concurrent publishers share commits (and fsyncs with `--events-fsync
//! always`) and in-process writers never contend for SQLite's lock. A
//! publish returns once its transaction is committed to the WAL: it
//! survives `kill -9` of the server (not power loss, unless `--events-fsync
//! always`).

pub mod backend;
pub mod error;
pub mod filter;
pub mod model;
pub mod nats;
pub mod nba;
pub mod retention;
pub mod sqlite;
pub mod subscription;
pub mod topic;

pub use backend::EventBackend;
pub use error::EventsError;
pub use sqlite::SqliteBus;
pub use sqlite::schema::MIGRATIONS;

/// When a publish is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FsyncMode {
    /// Once committed to the WAL (survives a crash of the process).
    #[default]
    Commit,
    /// Once the WAL is fsync'd (survives power loss); commits are grouped.
    Always,
}

/// The events subsystem's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsConfig {
    /// Durability of a publish.
    pub fsync: FsyncMode,
    /// Per-topic retention.
    pub retention: retention::Retention,
}
