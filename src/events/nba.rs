//! The platform's own NBA event kinds: which fields each needs, and the
//! topic, event type and priority it is published with.
//!
//! Topics are coarse (`nba.players`, `nba.games`, `nba.ml`) so one pattern
//! follows a domain; the kind lives in the event type, and ids live in the
//! payload, where `payload_match` can select them (`{"payload.game_id": "..."}`).

use serde_json::{Map, Value};

use super::error::EventsError;
use super::model::{EventInput, kind};

/// One NBA event kind and how it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NbaKind {
    /// The `kind` argument.
    pub name: &'static str,
    /// Topic it is published on.
    pub topic: &'static str,
    /// Event type.
    pub event_type: &'static str,
    /// Default priority.
    pub priority: &'static str,
    /// Fields that must be present.
    pub required: &'static [&'static str],
}

/// Every kind.
pub const KINDS: &[NbaKind] = &[
    NbaKind {
        name: "player_stat_update",
        topic: "nba.players",
        event_type: "player.stat.update",
        priority: "normal",
        required: &["player_id", "stats"],
    },
    NbaKind {
        name: "game_started",
        topic: "nba.games",
        event_type: "game.started",
        priority: "high",
        required: &["game_id", "home_team", "away_team"],
    },
    NbaKind {
        name: "game_ended",
        topic: "nba.games",
        event_type: "game.ended",
        priority: "high",
        required: &["game_id", "home_score", "away_score"],
    },
    NbaKind {
        name: "score_update",
        topic: "nba.games",
        event_type: "game.score.update",
        priority: "normal",
        required: &["game_id", "home_score", "away_score"],
    },
    NbaKind {
        name: "prediction_generated",
        topic: "nba.ml",
        event_type: "ml.prediction.generated",
        priority: "normal",
        required: &["model_id", "prediction"],
    },
    NbaKind {
        name: "model_trained",
        topic: "nba.ml",
        event_type: "ml.model.trained",
        priority: "low",
        required: &["model_id", "metrics"],
    },
];

/// Looks a kind up by name.
pub fn kind_named(name: &str) -> Result<&'static NbaKind, EventsError> {
    KINDS.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        EventsError::invalid(
            "kind",
            format!(
                "`{name}` is not an NBA event kind; use one of {}",
                names.join(", ")
            ),
        )
    })
}

/// Builds the event for `kind` from its fields (a JSON object of the
/// provided fields), checking each field's shape.
pub fn build(
    kind_name: &str,
    fields: Map<String, Value>,
    priority: Option<String>,
    source: Option<String>,
    correlation_id: Option<String>,
) -> Result<EventInput, EventsError> {
    let k = kind_named(kind_name)?;
    for req in k.required {
        if fields.get(*req).is_none_or(Value::is_null) {
            return Err(EventsError::invalid(
                *req,
                format!(
                    "is required for kind `{}` (which needs {})",
                    k.name,
                    k.required.join(", ")
                ),
            ));
        }
    }
    for (name, v) in &fields {
        check_field(name, v)?;
    }
    if let (Some(Value::String(h)), Some(Value::String(a))) =
        (fields.get("home_team"), fields.get("away_team"))
        && h == a
    {
        return Err(EventsError::invalid(
            "away_team",
            "must differ from home_team",
        ));
    }
    Ok(EventInput {
        topic: k.topic.to_string(),
        event_type: k.event_type.to_string(),
        payload: Some(Value::Object(fields)),
        priority: Some(priority.unwrap_or_else(|| k.priority.to_string())),
        source: Some(source.unwrap_or_else(|| "nba".to_string())),
        correlation_id,
        metadata: None,
    })
}

fn check_field(name: &str, v: &Value) -> Result<(), EventsError> {
    let bad = |what: &str| {
        Err(EventsError::invalid(
            name,
            format!("must be {what}, got {}", kind(v)),
        ))
    };
    match name {
        "player_id" | "game_id" | "model_id" => match v {
            Value::String(s) if !s.is_empty() => Ok(()),
            Value::Number(n) if n.is_u64() => Ok(()),
            _ => bad("a non-empty string or a non-negative integer id"),
        },
        "home_team" | "away_team" | "team" | "winner" | "model_version" => match v {
            Value::String(s) if !s.is_empty() => Ok(()),
            _ => bad("a non-empty string (e.g. a team code like `LAL`)"),
        },
        "home_score" | "away_score" | "period" => match v {
            Value::Number(n) if n.is_u64() => Ok(()),
            _ => bad("a non-negative integer"),
        },
        "stats" | "metrics" => match v {
            Value::Object(m) if !m.is_empty() => Ok(()),
            _ => bad("a non-empty object, e.g. {\"points\": 31}"),
        },
        "confidence" => match v.as_f64() {
            Some(c) if (0.0..=1.0).contains(&c) => Ok(()),
            _ => bad("a number from 0 to 1"),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn game_started_is_high_priority_on_nba_games() {
        let e = build(
            "game_started",
            obj(json!({"game_id": "0022400123", "home_team": "LAL", "away_team": "BOS"})),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(e.topic, "nba.games");
        assert_eq!(e.event_type, "game.started");
        assert_eq!(e.priority.as_deref(), Some("high"));
    }

    #[test]
    fn player_stat_update_needs_player_id_and_stats() {
        let err = build(
            "player_stat_update",
            obj(json!({"stats": {"pts": 3}})),
            None,
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`player_id`") && err.contains("player_id, stats"),
            "{err}"
        );
        let err = build(
            "player_stat_update",
            obj(json!({"player_id": 23, "stats": "lots"})),
            None,
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`stats`") && err.contains("a string"), "{err}");
    }

    #[test]
    fn unknown_kind_lists_the_kinds() {
        let err = kind_named("trade").unwrap_err().to_string();
        assert!(err.contains("model_trained"), "{err}");
    }
}
