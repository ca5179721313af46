//! smart-systems-mcp: the smart systems of an NBA analytics platform (events,
//! audit, cost, docs, alerting) as Model Context Protocol tools.
//!
//! The library holds all logic; `main.rs` only parses flags and serves stdio.
//! [`server`] is the MCP surface (thin adapters), the subsystem modules hold the
//! domain, and [`store`] the embedded SQLite database they share.

pub mod alerting;
pub mod app;
pub mod audit;
pub mod bus;
pub mod config;
pub mod cost;
pub mod docs;
pub mod events;
pub mod fsroot;
pub mod quote;
pub mod server;
pub mod store;
pub mod time;

pub use app::App;
pub use config::{Config, Toolset};
pub use server::SmartServer;

/// The process's allocator (set here so the binary, tests and benches all
/// run on it): see the reason beside the dependency in Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
