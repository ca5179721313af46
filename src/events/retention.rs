//! Retention: how many events, and how old, each topic keeps.
//!
//! Limits are per topic. The default limits apply to every topic; rules
//! (`nba.games.> max_events=1000 max_age=1h`) override them for the topics
//! their pattern matches, first matching rule winning. The count limit is
//! enforced exactly in the same transaction as the publish that exceeds it
//! (per-topic counts are kept in `events_topics`, so no COUNT(*) is needed);
//! the age limit is enforced by the writer about once a second.

use std::time::Duration;

use super::error::EventsError;
use super::topic::{matches, validate_pattern};

/// Default per-topic event count limit.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;
/// Default per-topic age limit (7 days).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Limits for one topic; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events kept.
    pub max_events: Option<u64>,
    /// Oldest event kept.
    pub max_age: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: Some(DEFAULT_MAX_EVENTS),
            max_age: Some(DEFAULT_MAX_AGE),
        }
    }
}

/// Limits for the topics a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// Topic pattern (`*`, `>` allowed).
    pub pattern: String,
    /// The limits; a part the rule does not set falls back to the default.
    pub max_events: Option<u64>,
    /// Age limit.
    pub max_age: Option<Duration>,
}

impl RetentionRule {
    /// Parses `PATTERN max_events=N max_age=DUR` (either limit optional;
    /// `0` means unlimited; DUR is a number with `s`, `m`, `h` or `d`).
    pub fn parse(s: &str) -> Result<RetentionRule, String> {
        let mut parts = s.split_whitespace();
        let pattern = parts
            .next()
            .ok_or("empty retention rule; expected `PATTERN max_events=N max_age=DUR`")?;
        validate_pattern("pattern", pattern).map_err(|e| e.to_string())?;
        let mut rule = RetentionRule {
            pattern: pattern.to_string(),
            max_events: None,
            max_age: None,
        };
        for part in parts {
            match part.split_once('=') {
                Some(("max_events", n)) => {
                    rule.max_events = Some(
                        n.parse()
                            .map_err(|_| format!("max_events `{n}` is not a whole number"))?,
                    );
                }
                Some(("max_age", d)) => rule.max_age = Some(parse_duration(d)?),
                _ => {
                    return Err(format!(
                        "`{part}`: expected max_events=N or max_age=DUR (e.g. 1h, 7d)"
                    ));
                }
            }
        }
        Ok(rule)
    }
}

/// Parses `90s`, `15m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration `{s}`: expected a whole number with s, m, h or d"))?;
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

/// The retention policy: defaults plus rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Limits for topics no rule matches.
    pub default: Limits,
    /// Overrides, first match wins.
    pub rules: Vec<RetentionRule>,
}

impl Retention {
    /// The limits for one topic (0 means unlimited).
    pub fn limits_for(&self, topic: &str) -> Limits {
        let mut l = self.default;
        if let Some(r) = self.rules.iter().find(|r| matches(&r.pattern, topic)) {
            if r.max_events.is_some() {
                l.max_events = r.max_events;
            }
            if r.max_age.is_some() {
                l.max_age = r.max_age;
            }
        }
        Limits {
            max_events: l.max_events.filter(|&n| n > 0),
            max_age: l.max_age.filter(|d| !d.is_zero()),
        }
    }
}

/// Checks a rule list for the config (used by the CLI).
pub fn parse_rules(rules: &[String]) -> Result<Vec<RetentionRule>, EventsError> {
    rules
        .iter()
        .map(|r| {
            RetentionRule::parse(r)
                .map_err(|e| EventsError::invalid("--events-retention", format!("`{r}`: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_override_the_default_per_topic() {
        let r = Retention {
            default: Limits::default(),
            rules: vec![RetentionRule::parse("nba.games.> max_events=100").unwrap()],
        };
        assert_eq!(r.limits_for("nba.games.1").max_events, Some(100));
        assert_eq!(r.limits_for("nba.games.1").max_age, Some(DEFAULT_MAX_AGE));
        assert_eq!(r.limits_for("audit").max_events, Some(DEFAULT_MAX_EVENTS));
    }

    #[test]
    fn zero_means_unlimited() {
        let r = Retention {
            default: Limits::default(),
            rules: vec![RetentionRule::parse("audit max_events=0 max_age=0").unwrap()],
        };
        assert_eq!(
            r.limits_for("audit"),
            Limits {
                max_events: None,
                max_age: None
            }
        );
    }

    #[test]
    fn bad_rules_say_what_is_expected() {
        assert!(RetentionRule::parse("nba.> max_age=1w").is_err());
        assert!(RetentionRule::parse("nba.> keep=1").is_err());
        assert!(RetentionRule::parse("nba..x").is_err());
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
    }
}
