//! The records the alerting engine keeps and returns: severities, alerts and
//! their lifecycle. Plain data, serialisable as-is to the store.
//!
//! Times are Unix seconds (`f64`) taken from the points, not from the wall
//! clock, so a replayed series behaves exactly as it did live.

use serde::{Deserialize, Serialize};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Parses a severity name.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "error" => Severity::Error,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
    /// The severity's name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
    /// All severities, least severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Active, nobody has taken it.
    Firing,
    /// Active, someone is on it.
    Acknowledged,
    /// Over (the condition cleared, or someone closed it).
    Resolved,
    /// Recorded but muted by a silence or an inhibiting alert.
    Silenced,
}

impl Status {
    /// Parses a status name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "firing" => Status::Firing,
            "acknowledged" => Status::Acknowledged,
            "resolved" => Status::Resolved,
            "silenced" => Status::Silenced,
            _ => return None,
        })
    }
    /// The status's name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::Silenced => "silenced",
        }
    }
    /// Firing or acknowledged: shown as active and escalated.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Firing | Status::Acknowledged)
    }
}

/// One lifecycle step of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The status entered.
    pub status: Status,
    /// When (Unix seconds).
    pub at: f64,
    /// Who did it (`system` for the engine).
    pub by: String,
    /// Why, when known.
    pub note: Option<String>,
}

/// One contribution to an alert's priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityFactor {
    /// `severity`, `distance`, `anomaly_score`, `labels`, `business_hours`, `group_size`.
    pub factor: String,
    /// Points this factor adds.
    pub points: f64,
    /// What was seen.
    pub detail: String,
}

/// An alert: one fingerprint's episode from first firing to resolution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// `a-<n>`, unique in the store.
    pub id: String,
    /// The rule id, or `dynamic:<metric>` for a learned threshold.
    pub rule_id: String,
    /// The metric that fired.
    pub metric: String,
    /// The point's source (empty when none).
    pub source: String,
    /// The point's labels, sorted by key.
    pub labels: Vec<(String, String)>,
    /// How bad.
    pub severity: Severity,
    /// Where in the lifecycle.
    pub status: Status,
    /// Rendered title.
    pub title: String,
    /// Rendered description.
    pub description: String,
    /// The threshold crossed, when there is one.
    pub threshold: Option<f64>,
    /// The value that first fired it.
    pub first_value: f64,
    /// The latest value that repeated it.
    pub last_value: f64,
    /// Highest anomaly score seen (1 for static rules).
    pub anomaly_score: f64,
    /// Points folded into this alert (1 + deduplicated repeats).
    pub count: u64,
    /// When it first fired.
    pub started_at: f64,
    /// When it last repeated.
    pub last_seen: f64,
    /// Fingerprint (rule + metric + source + labels).
    pub fingerprint: u64,
    /// Correlation group.
    pub group_id: Option<String>,
    /// 0-100.
    pub priority: f64,
    /// What the priority is made of.
    pub priority_factors: Vec<PriorityFactor>,
    /// Why it is silenced, when it is.
    pub suppressed_reason: Option<String>,
    /// Every status change, oldest first.
    pub history: Vec<Transition>,
}

impl Alert {
    /// Moves to `status` and records who and when.
    pub fn transition(&mut self, status: Status, at: f64, by: &str, note: Option<String>) {
        self.status = status;
        self.history.push(Transition {
            status,
            at,
            by: by.to_string(),
            note,
        });
    }

    /// When it was acknowledged, if it is.
    pub fn acknowledged_at(&self) -> Option<f64> {
        self.history
            .iter()
            .rev()
            .find(|t| t.status == Status::Acknowledged)
            .map(|t| t.at)
    }
}
