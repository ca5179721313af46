//! Correlation: firing alerts are grouped so one incident reads as one thing.
//!
//! As in Alertmanager, the group key is the values of the `group_by` labels
//! (default `source`); alerts with the same key that fire within the group
//! window of the group's last activity join it, so alerts on related metrics
//! of one source (cpu, latency, errors of `db-1`) land together. Design
//! choice: a group closes by time, not by its members resolving, so a flapping
//! source does not grow one endless group.

use serde::{Deserialize, Serialize};

/// Default group window (seconds).
pub const DEFAULT_WINDOW_SECONDS: f64 = 300.0;

/// A group of correlated alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// `g-<n>`.
    pub id: String,
    /// `label=value` pairs of the group_by labels.
    pub key: String,
    /// Alert ids, in the order they joined.
    pub members: Vec<String>,
    /// Distinct metrics of the members.
    pub metrics: Vec<String>,
    /// Highest member severity name.
    pub max_severity: String,
    /// When the first member fired.
    pub started_at: f64,
    /// When the last member fired or repeated.
    pub last_activity: f64,
}

impl Group {
    /// One line for a person: what, where, how many.
    pub fn summary(&self) -> String {
        format!(
            "{} alert{} on {} ({}), worst {}",
            self.members.len(),
            if self.members.len() == 1 { "" } else { "s" },
            if self.key.is_empty() {
                "(no group labels)"
            } else {
                &self.key
            },
            self.metrics.join(", "),
            self.max_severity
        )
    }
}

/// The group key of an alert: `label=value` for each group_by label.
pub fn group_key(
    group_by: &[String],
    source: &str,
    metric: &str,
    labels: &[(String, String)],
) -> String {
    let mut parts = Vec::with_capacity(group_by.len());
    for g in group_by {
        let v = match g.as_str() {
            "source" => source,
            "metric" => metric,
            other => labels
                .iter()
                .find(|(k, _)| k == other)
                .map_or("", |(_, v)| v.as_str()),
        };
        parts.push(format!("{g}={v}"));
    }
    parts.join(",")
}

/// Whether a group with `last_activity` still takes members at `now`.
pub fn open_at(last_activity: f64, now: f64, window: f64) -> bool {
    now - last_activity <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_summary() {
        let l = vec![("env".to_string(), "prod".to_string())];
        assert_eq!(group_key(&["source".into()], "db", "cpu", &l), "source=db");
        assert_eq!(
            group_key(
                &["source".into(), "env".into(), "zone".into()],
                "db",
                "cpu",
                &l
            ),
            "source=db,env=prod,zone="
        );
        let g = Group {
            id: "g-1".into(),
            key: "source=db".into(),
            members: vec!["a-1".into(), "a-2".into()],
            metrics: vec!["cpu".into(), "latency".into()],
            max_severity: "critical".into(),
            started_at: 0.0,
            last_activity: 0.0,
        };
        assert_eq!(
            g.summary(),
            "2 alerts on source=db (cpu, latency), worst critical"
        );
        assert!(open_at(100.0, 400.0, 300.0) && !open_at(100.0, 401.0, 300.0));
    }
}
