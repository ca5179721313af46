//! MCP logging (`logging/setLevel`, the 2025-11-25 era): a client that asks
//! for a level gets the server's own log records at or above it as
//! `notifications/message`, besides stderr.
//!
//! The one design choice: a `tracing` layer beside the stderr one, fed only
//! by this crate's records (never rmcp's: sending a notification logs, and
//! forwarding that would loop) at `info` and above, so the hot paths' debug
//! records cost nothing extra; a client asking for `debug` gets `info` and
//! above. The records go to the connection that last set a level (stdio
//! serves one), sent from the runtime without waiting on the logging thread.
//!
//! The 2026-07-28 revision deprecates logging (rmcp marks its types so); the
//! 2025-11-25 era clients use today still have it.
#![allow(deprecated)]

use std::sync::Mutex;

use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::{Peer, RoleServer};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where records go once a client has set a level.
struct Sink {
    peer: Peer<RoleServer>,
    level: LoggingLevel,
    runtime: tokio::runtime::Handle,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Forwards this crate's records to the client from now on, at `level` and
/// above (called from `logging/setLevel`, inside the runtime).
pub fn set_level(peer: Peer<RoleServer>, level: LoggingLevel) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if let Ok(mut sink) = SINK.lock() {
        *sink = Some(Sink {
            peer,
            level,
            runtime,
        });
    }
}

/// The layer to add beside the stderr one.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // A static target filter, not a closure: tracing caches its verdict per
    // callsite, so rmcp's and this crate's debug records stay free.
    McpLog.with_filter(
        tracing_subscriber::filter::Targets::new().with_target("smart_systems_mcp", Level::INFO),
    )
}

struct McpLog;

fn mcp_level(level: &Level) -> LoggingLevel {
    match *level {
        Level::ERROR => LoggingLevel::Error,
        Level::WARN => LoggingLevel::Warning,
        Level::INFO => LoggingLevel::Info,
        _ => LoggingLevel::Debug,
    }
}

/// Severity order of the MCP (syslog) levels, lowest first.
fn rank(level: &LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The record's fields as a JSON object (`message` first).
#[derive(Default)]
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

impl<S: Subscriber> Layer<S> for McpLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = mcp_level(event.metadata().level());
        let Ok(sink) = SINK.lock() else {
            return;
        };
        let Some(sink) = sink.as_ref() else {
            return;
        };
        if rank(&level) < rank(&sink.level) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let param =
            LoggingMessageNotificationParam::new(level, serde_json::Value::Object(fields.0))
                .with_logger(event.metadata().target());
        let peer = sink.peer.clone();
        sink.runtime.spawn(async move {
            let _ = peer.notify_logging_message(param).await;
        });
    }
}
