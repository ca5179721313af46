//! Topic names and NATS-style subscription patterns.
//!
//! A topic is dot-separated tokens (`nba.games.1234`). A pattern may use `*`
//! for exactly one token and `>` for one or more trailing tokens (`nba.>`
//! matches `nba.games` and `nba.games.1234`, not `nba`). Matching walks the
//! tokens of both strings without allocating, because it runs for every event
//! a subscription scans.

use super::error::EventsError;

/// Longest topic or pattern accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 255;

/// What a topic token may contain (besides the wildcards in patterns).
fn token_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '@' | '$')
}

const ACCEPTED: &str = "dot-separated tokens of letters, digits, `_`, `-`, `:`, `@`, `$` \
     (e.g. `nba.games.1234`), at most 255 bytes";

/// Checks a concrete topic (no wildcards) and names the field on error.
pub fn validate_topic(field: &str, topic: &str) -> Result<(), EventsError> {
    check(field, topic, false)
}

/// Checks a subscription pattern (`*` and a trailing `>` allowed).
pub fn validate_pattern(field: &str, pattern: &str) -> Result<(), EventsError> {
    check(field, pattern, true)
}

fn check(field: &str, s: &str, wildcards: bool) -> Result<(), EventsError> {
    let bad = |why: String| {
        Err(EventsError::invalid(
            field,
            format!(
                "{why}; a topic{} is {ACCEPTED}",
                if wildcards { " pattern" } else { "" }
            ),
        ))
    };
    if s.is_empty() {
        return bad("is empty".into());
    }
    if s.len() > MAX_TOPIC_LEN {
        return bad(format!("is {} bytes long", s.len()));
    }
    let tokens: Vec<&str> = s.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return bad(format!("`{s}` has an empty token"));
        }
        if wildcards && *token == "*" {
            continue;
        }
        if wildcards && *token == ">" {
            if i + 1 != tokens.len() {
                return bad(format!("`{s}`: `>` may only be the last token"));
            }
            continue;
        }
        if let Some(c) = token.chars().find(|&c| !token_char_ok(c)) {
            let hint = if (c == '*' || c == '>') && !wildcards {
                " (wildcards are for subscriptions, not for publishing)"
            } else if c == '*' || c == '>' {
                " (a wildcard must be a whole token)"
            } else {
                ""
            };
            return bad(format!("`{s}` contains `{c}`{hint}"));
        }
    }
    Ok(())
}

/// Whether `topic` matches `pattern` (both assumed valid).
pub fn matches(pattern: &str, topic: &str) -> bool {
    let mut p = pattern.split('.');
    let mut t = topic.split('.');
    loop {
        match (p.next(), t.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(pt), Some(tt)) if pt == tt => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether a pattern contains a wildcard (so it cannot be looked up exactly).
pub fn is_literal(pattern: &str) -> bool {
    !pattern.split('.').any(|t| t == "*" || t == ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_exactly_one_token() {
        assert!(matches("nba.*.1234", "nba.games.1234"));
        assert!(!matches("nba.*", "nba.games.1234"));
        assert!(!matches("nba.*", "nba"));
    }

    #[test]
    fn gt_matches_one_or_more_trailing_tokens() {
        assert!(matches("nba.>", "nba.games"));
        assert!(matches("nba.>", "nba.games.1234"));
        assert!(!matches("nba.>", "nba"));
        assert!(matches(">", "audit"));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("nba.games", "nba.games"));
        assert!(!matches("nba.games", "nba.games.1"));
        assert!(!matches("nba.games.1", "nba.games"));
        assert!(is_literal("nba.games"));
        assert!(!is_literal("nba.*"));
    }

    #[test]
    fn invalid_topics_and_patterns_are_refused_with_the_reason() {
        assert!(validate_topic("topic", "nba.games").is_ok());
        let e = validate_topic("topic", "nba.*").unwrap_err().to_string();
        assert!(e.contains("wildcards are for subscriptions"), "{e}");
        assert!(validate_topic("topic", "nba..games").is_err());
        assert!(validate_topic("topic", "").is_err());
        assert!(validate_topic("topic", "a b").is_err());
        assert!(validate_pattern("topics[0]", "nba.*.x").is_ok());
        assert!(validate_pattern("topics[0]", "nba.>").is_ok());
        let e = validate_pattern("topics[0]", "nba.>.x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("last token"), "{e}");
        assert!(validate_pattern("topics[0]", "nba.ga*").is_err());
        assert!(validate_topic("topic", &"a".repeat(256)).is_err());
    }
}
