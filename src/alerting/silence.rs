//! Silences and inhibition, as in Alertmanager.
//!
//! A silence is a set of label matchers (`=`, `!=`, `=~`) with a start and an
//! end; an alert whose labels (plus `metric`, `source`, `severity`,
//! `rule_id`) satisfy every matcher while the silence is in force is recorded
//! with status `silenced` instead of firing. Design choice: silences are
//! judged at the point's timestamp (not the wall clock), so replays and tests
//! see exactly the muting they would have seen live; an expired (or manually
//! expired) silence simply stops matching, and the next repeat fires.
//!
//! Inhibition: a firing critical alert on a source mutes warning alerts of
//! the same source (the usual "node down mutes its symptoms" rule).

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// Equal.
    #[serde(rename = "=")]
    Eq,
    /// Not equal (a missing label counts as empty).
    #[serde(rename = "!=")]
    Ne,
    /// Regular expression, anchored at both ends.
    #[serde(rename = "=~")]
    Re,
}

impl MatchOp {
    /// Parses `=`, `!=`, `=~` (also `==`).
    pub fn parse(s: &str) -> Option<MatchOp> {
        Some(match s {
            "=" | "==" => MatchOp::Eq,
            "!=" => MatchOp::Ne,
            "=~" => MatchOp::Re,
            _ => return None,
        })
    }
}

/// One label matcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name (also `metric`, `source`, `severity`, `rule_id`).
    pub label: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or pattern.
    pub value: String,
    #[serde(skip)]
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; a bad regular expression is an error message.
    pub fn new(label: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        let regex = match op {
            MatchOp::Re => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("not a valid regular expression: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            label: label.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Rebuilds the compiled pattern after loading from the store.
    pub fn compiled(self) -> Result<Matcher, String> {
        Matcher::new(&self.label, self.op, &self.value)
    }

    fn matches(&self, got: &str) -> bool {
        match self.op {
            MatchOp::Eq => got == self.value,
            MatchOp::Ne => got != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(got)),
        }
    }
}

/// A silence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Silence {
    /// `s-<n>`.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// In force from (Unix seconds).
    pub starts_at: f64,
    /// In force until (Unix seconds).
    pub ends_at: f64,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Set by `expire_silence`: no longer applies at any time.
    pub expired: bool,
}

/// What a silence is matched against: the alert's identity.
#[derive(Debug, Clone, Copy)]
pub struct AlertLabels<'a> {
    pub metric: &'a str,
    pub source: &'a str,
    pub severity: &'a str,
    pub rule_id: &'a str,
    pub labels: &'a [(String, String)],
}

impl AlertLabels<'_> {
    fn get(&self, key: &str) -> &str {
        if let Some((_, v)) = self.labels.iter().find(|(k, _)| k == key) {
            return v;
        }
        match key {
            "metric" | "alertname" => self.metric,
            "source" => self.source,
            "severity" => self.severity,
            "rule_id" => self.rule_id,
            _ => "",
        }
    }
}

impl Silence {
    /// Whether the silence is in force at `at`.
    pub fn active_at(&self, at: f64) -> bool {
        !self.expired && self.starts_at <= at && at < self.ends_at
    }

    /// Whether it mutes an alert with these labels at `at`.
    pub fn mutes(&self, a: &AlertLabels<'_>, at: f64) -> bool {
        self.active_at(at) && self.matchers.iter().all(|m| m.matches(a.get(&m.label)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_and_time_bounds() {
        let l = vec![("env".to_string(), "prod".to_string())];
        let a = AlertLabels {
            metric: "cpu",
            source: "web-1",
            severity: "warning",
            rule_id: "r",
            labels: &l,
        };
        let s = Silence {
            id: "s-1".into(),
            matchers: vec![
                Matcher::new("source", MatchOp::Re, "web-.*").unwrap(),
                Matcher::new("env", MatchOp::Eq, "prod").unwrap(),
                Matcher::new("severity", MatchOp::Ne, "critical").unwrap(),
            ],
            starts_at: 100.0,
            ends_at: 200.0,
            created_by: "me".into(),
            comment: "".into(),
            expired: false,
        };
        assert!(s.mutes(&a, 150.0));
        assert!(!s.mutes(&a, 99.0));
        assert!(!s.mutes(&a, 200.0));
        let b = AlertLabels {
            source: "db-1",
            ..a
        };
        assert!(!s.mutes(&b, 150.0));
        assert!(Matcher::new("x", MatchOp::Re, "(").is_err());
        let expired = Silence { expired: true, ..s };
        assert!(!expired.mutes(&a, 150.0));
    }
}
