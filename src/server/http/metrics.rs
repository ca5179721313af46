//! `/metrics`: Prometheus text exposition (format 0.0.4) of what an
//! operator watches. Counters of this process: tool calls by tool and
//! outcome, their latency histogram, refused requests (authentication,
//! scope, limits). Read from the shared state at scrape time (the same on
//! every replica): events published, audit entries, open alerts.
//!
//! Written by hand: a dozen series do not need a metrics framework, and the
//! per-call path is a few relaxed atomic adds on a table built at start.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::app::App;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError: true` (the tool refused or failed).
    ToolError,
    /// A JSON-RPC error (bad arguments, unknown tool, refused scope).
    Error,
}

impl Outcome {
    /// The `outcome` label: `ok`, `tool_error` or `error`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::Error => "error",
        }
    }

    /// The audit-trail outcome: `success` or `failure`.
    pub fn audit_outcome(self) -> &'static str {
        match self {
            Outcome::Ok => "success",
            Outcome::ToolError | Outcome::Error => "failure",
        }
    }
}

const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::ToolError, Outcome::Error];

#[derive(Debug, Default)]
struct ToolSeries {
    calls: [AtomicU64; 3],
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Why a request was refused before reaching a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No bearer token.
    MissingToken,
    /// A token that is not one of ours.
    InvalidToken,
    /// A tool outside the token's scope.
    Scope,
    /// Over the subject's concurrency limit.
    Concurrency,
    /// Over the subject's rate limit.
    Rate,
}

const REFUSALS: [(Refused, &str, &str); 5] = [
    (Refused::MissingToken, "auth", "missing_token"),
    (Refused::InvalidToken, "auth", "invalid_token"),
    (Refused::Scope, "auth", "insufficient_scope"),
    (Refused::Concurrency, "limit", "concurrency"),
    (Refused::Rate, "limit", "rate"),
];

/// This process's counters.
#[derive(Debug)]
pub struct Metrics {
    tools: HashMap<String, ToolSeries>,
    refused: [AtomicU64; 5],
}

impl Metrics {
    /// Counters for these tools (the ones served).
    pub fn new(tools: impl IntoIterator<Item = String>) -> Self {
        Metrics {
            tools: tools
                .into_iter()
                .map(|t| (t, ToolSeries::default()))
                .collect(),
            refused: Default::default(),
        }
    }

    /// Counts one call of `tool`.
    pub fn record_call(&self, tool: &str, outcome: Outcome, took: Duration) {
        let Some(series) = self.tools.get(tool) else {
            return;
        };
        let i = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(2);
        series.calls[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|le| secs <= *le) {
            series.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        series
            .sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        series.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one refused request.
    pub fn refused(&self, why: Refused) {
        if let Some(i) = REFUSALS.iter().position(|(r, _, _)| *r == why) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition text: this process's counters, then the shared
    /// state's figures (a store that does not answer leaves its series out).
    pub async fn render(&self, app: &std::sync::Arc<App>, in_flight: u64) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let mut names: Vec<&String> = self.tools.keys().collect();
        names.sort();
        out.push_str("# HELP mcp_tool_calls_total Tool calls answered by this process, by tool and outcome.\n");
        out.push_str("# TYPE mcp_tool_calls_total counter\n");
        for name in &names {
            let s = &self.tools[*name];
            for (i, o) in OUTCOMES.iter().enumerate() {
                let n = s.calls[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "mcp_tool_calls_total{{tool=\"{name}\",outcome=\"{}\"}} {n}",
                    o.label()
                );
            }
        }
        out.push_str("# HELP mcp_tool_call_duration_seconds Time from a tool call's arrival to its answer.\n");
        out.push_str("# TYPE mcp_tool_call_duration_seconds histogram\n");
        for name in &names {
            let s = &self.tools[*name];
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "mcp_tool_call_duration_seconds_bucket{{tool=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "mcp_tool_call_duration_seconds_bucket{{tool=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "mcp_tool_call_duration_seconds_sum{{tool=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "mcp_tool_call_duration_seconds_count{{tool=\"{name}\"}} {count}"
            );
        }
        out.push_str("# HELP mcp_http_refused_total Requests refused before reaching a tool, by kind and reason.\n");
        out.push_str("# TYPE mcp_http_refused_total counter\n");
        for (i, (_, kind, reason)) in REFUSALS.iter().enumerate() {
            let n = self.refused[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "mcp_http_refused_total{{kind=\"{kind}\",reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# HELP mcp_tool_calls_in_flight Tool calls running in this process now.\n");
        out.push_str("# TYPE mcp_tool_calls_in_flight gauge\n");
        let _ = writeln!(out, "mcp_tool_calls_in_flight {in_flight}");
        shared_state(&mut out, app).await;
        out
    }
}

/// Figures of the shared state: the same on every replica.
async fn shared_state(out: &mut String, app: &std::sync::Arc<App>) {
    if let Some(bus) = &app.events
        && let Ok(topics) = bus.topics().await
    {
        let published: i64 = topics.iter().map(|t| t.published).sum();
        out.push_str("# HELP events_published_total Events ever published (all processes sharing the bus).\n");
        out.push_str("# TYPE events_published_total counter\n");
        let _ = writeln!(out, "events_published_total {published}");
    }
    if let Some(audit) = app.audit.clone() {
        let size = tokio::task::spawn_blocking(move || audit.size()).await;
        if let Ok(Ok(size)) = size {
            out.push_str(
                "# HELP audit_entries_total Entries in the audit trail (appends, all processes).\n",
            );
            out.push_str("# TYPE audit_entries_total counter\n");
            let _ = writeln!(out, "audit_entries_total {size}");
        }
    }
    if let Some(alerting) = app.alerting.clone() {
        let at = crate::time::now_seconds();
        let open = tokio::task::spawn_blocking(move || {
            alerting.read(|engine| {
                let stats = engine.stats(at);
                (stats.open_alerts, stats.active_by_severity.clone())
            })
        })
        .await;
        if let Ok((open, by_severity)) = open {
            out.push_str(
                "# HELP alerts_open Alerts not resolved (firing, acknowledged or silenced).\n",
            );
            out.push_str("# TYPE alerts_open gauge\n");
            let _ = writeln!(out, "alerts_open {open}");
            out.push_str("# HELP alerts_active Active alerts by severity.\n");
            out.push_str("# TYPE alerts_active gauge\n");
            for (severity, n) in by_severity {
                let _ = writeln!(out, "alerts_active{{severity=\"{}\"}} {n}", severity.name());
            }
        }
    }
}
