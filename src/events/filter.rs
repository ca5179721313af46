//! Which events a subscription (or a replay) wants: topic patterns, event
//! types, sources, a minimum priority and payload field equality.
//!
//! Every condition present must hold (AND); within a list any entry may match
//! (OR). A filter is stored as JSON with its subscription, so it survives a
//! restart exactly as given. Payload matching parses an event's payload only
//! when the filter has payload conditions, and only after the cheaper
//! conditions passed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::EventsError;
use super::model::{Priority, parse_priority};
use super::topic::{matches, validate_pattern};

/// Most entries in one filter list.
pub const MAX_FILTER_ENTRIES: usize = 100;

/// A validated filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Topic patterns; empty means every topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Exact event types; empty means every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    /// Exact sources; empty means every source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Lowest priority delivered (0..=3).
    #[serde(default)]
    pub min_priority: i64,
    /// `payload.a.b` paths (without the `payload.` prefix, split) and the
    /// value each must equal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload_match: Vec<(Vec<String>, Value)>,
}

/// The unvalidated parts of a filter, as a tool receives them.
#[derive(Debug, Clone, Default)]
pub struct FilterInput {
    /// Topic patterns.
    pub topics: Option<Vec<String>>,
    /// Event types.
    pub event_types: Option<Vec<String>>,
    /// Sources.
    pub sources: Option<Vec<String>>,
    /// Minimum priority name.
    pub min_priority: Option<String>,
    /// `{"payload.team": "LAL"}`.
    pub payload_match: Option<BTreeMap<String, Value>>,
}

impl FilterInput {
    /// Validates every part; errors name the field (`topics[1]`).
    pub fn validate(self) -> Result<Filter, EventsError> {
        let topics = self.topics.unwrap_or_default();
        limit("topics", topics.len())?;
        for (i, t) in topics.iter().enumerate() {
            validate_pattern(&format!("topics[{i}]"), t)?;
        }
        let event_types = non_empty_list("event_types", self.event_types)?;
        let sources = non_empty_list("sources", self.sources)?;
        let min_priority = match self.min_priority.as_deref() {
            None => Priority::Low,
            Some(p) => parse_priority("min_priority", p)?,
        }
        .as_i64();
        let mut payload_match = Vec::new();
        let pm = self.payload_match.unwrap_or_default();
        limit("payload_match", pm.len())?;
        for (key, value) in pm {
            let Some(path) = key.strip_prefix("payload.") else {
                return Err(EventsError::invalid(
                    "payload_match",
                    format!(
                        "key `{key}` must start with `payload.` and name a field path, e.g. {{\"payload.team\": \"LAL\"}}"
                    ),
                ));
            };
            let parts: Vec<String> = path.split('.').map(str::to_string).collect();
            if parts.iter().any(String::is_empty) {
                return Err(EventsError::invalid(
                    "payload_match",
                    format!("key `{key}` has an empty path segment"),
                ));
            }
            payload_match.push((parts, value));
        }
        Ok(Filter {
            topics,
            event_types,
            sources,
            min_priority,
            payload_match,
        })
    }
}

fn limit(field: &str, n: usize) -> Result<(), EventsError> {
    if n > MAX_FILTER_ENTRIES {
        return Err(EventsError::invalid(
            field,
            format!("has {n} entries; at most {MAX_FILTER_ENTRIES} are accepted"),
        ));
    }
    Ok(())
}

fn non_empty_list(field: &str, v: Option<Vec<String>>) -> Result<Vec<String>, EventsError> {
    let v = v.unwrap_or_default();
    limit(field, v.len())?;
    if let Some(i) = v.iter().position(String::is_empty) {
        return Err(EventsError::invalid(
            format!("{field}[{i}]"),
            "must not be empty",
        ));
    }
    Ok(v)
}

/// The cheap columns of an event a filter looks at first.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// Source.
    pub source: &'a str,
    /// Priority (0..=3).
    pub priority: i64,
}

impl Filter {
    /// Whether the payload must be read to decide.
    pub fn needs_payload(&self) -> bool {
        !self.payload_match.is_empty()
    }

    /// Whether the topic patterns take `topic` (no pattern: every topic).
    pub fn wants_topic(&self, topic: &str) -> bool {
        self.topics.is_empty() || self.topics.iter().any(|p| matches(p, topic))
    }

    /// Checks everything but the payload.
    pub fn matches_head(&self, h: Head<'_>) -> bool {
        h.priority >= self.min_priority
            && self.wants_topic(h.topic)
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == h.event_type))
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == h.source))
    }

    /// Checks the payload conditions against a serialized payload.
    pub fn matches_payload(&self, payload: &str) -> bool {
        if self.payload_match.is_empty() {
            return true;
        }
        let Ok(v) = serde_json::from_str::<Value>(payload) else {
            return false;
        };
        self.payload_match.iter().all(|(path, want)| {
            let mut cur = &v;
            for p in path {
                match cur.get(p) {
                    Some(next) => cur = next,
                    None => return false,
                }
            }
            cur == want
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head<'a>(topic: &'a str, priority: i64) -> Head<'a> {
        Head {
            topic,
            event_type: "score.update",
            source: "feed",
            priority,
        }
    }

    #[test]
    fn all_conditions_must_hold() {
        let f = FilterInput {
            topics: Some(vec!["nba.games.*".into()]),
            event_types: Some(vec!["score.update".into()]),
            min_priority: Some("high".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert!(f.matches_head(head("nba.games.1", 2)));
        assert!(!f.matches_head(head("nba.games.1", 1)));
        assert!(!f.matches_head(head("nba.players", 3)));
    }

    #[test]
    fn payload_match_follows_nested_paths() {
        let f = FilterInput {
            payload_match: Some(BTreeMap::from([
                ("payload.team".to_string(), json!("LAL")),
                ("payload.score.home".to_string(), json!(100)),
            ])),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert!(f.matches_payload(r#"{"team":"LAL","score":{"home":100}}"#));
        assert!(!f.matches_payload(r#"{"team":"LAL","score":{"home":99}}"#));
        assert!(!f.matches_payload(r#"{"team":"BOS"}"#));
    }

    #[test]
    fn payload_match_keys_must_name_the_payload() {
        let e = FilterInput {
            payload_match: Some(BTreeMap::from([("team".to_string(), json!("LAL"))])),
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("payload_match") && e.contains("payload."), "{e}");
    }

    #[test]
    fn filter_round_trips_through_json() {
        let f = FilterInput {
            topics: Some(vec!["a.>".into()]),
            payload_match: Some(BTreeMap::from([("payload.x".to_string(), json!(1))])),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let s = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Filter>(&s).unwrap(), f);
    }
}
