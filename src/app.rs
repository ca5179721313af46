//! The process-wide state every tool call sees: configuration, the store and
//! (as the toolsets arrive) each subsystem behind its own lock.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// Shared state of one server process.
#[derive(Debug)]
pub struct App {
    /// What the server was started with.
    pub config: Config,
    /// The embedded store.
    pub store: Store,
    started: Instant,
    started_at: DateTime<Utc>,
}

impl App {
    /// Opens the store (creating and migrating it as needed) and builds the
    /// subsystems the config enables.
    pub fn open(config: Config) -> Result<Arc<App>, StoreError> {
        let store = Store::open(&config.data_dir)?;
        Ok(Arc::new(App {
            config,
            store,
            started: Instant::now(),
            started_at: Utc::now(),
        }))
    }

    /// Seconds since the process opened its state.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// When the process opened its state.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }
}
