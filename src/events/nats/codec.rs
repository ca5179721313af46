//! How an event is laid out in a JetStream message, and back.
//!
//! Subject `<namespace>.<topic>`; headers `Nats-Msg-Id` (the event id, so a
//! retried publish is stored once within the stream's duplicate window) and
//! `Ssm-Priority` (0..=3, readable without parsing the body); the body is one
//! JSON object with the remaining fields. The sequence and the timestamp are
//! not in the message: they are the stream sequence and the time the server
//! stored it, so replay by sequence or by time and the consumers' start
//! positions all agree with what polls and replays report.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::events::EventsError;
use crate::events::model::{Event, NewEvent, Priority};

/// Header carrying the priority (0..=3).
pub const PRIORITY_HEADER: &str = "Ssm-Priority";

/// The JSON body of a stored event.
#[derive(Debug, Deserialize)]
struct Body {
    id: String,
    event_type: String,
    source: String,
    correlation_id: String,
    priority: i64,
    payload: Value,
    metadata: Value,
}

/// The subject an event of `topic` is stored under.
pub fn subject(namespace: &str, topic: &str) -> String {
    format!("{namespace}.{topic}")
}

/// Headers and body of a validated event. The payload and metadata are
/// already serialized objects: they are spliced in, not parsed again.
pub fn encode(e: &NewEvent) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", e.event_id.to_string().as_str());
    headers.insert(PRIORITY_HEADER, e.priority.as_i64().to_string().as_str());
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    let body = format!(
        "{{\"id\":\"{}\",\"event_type\":{},\"source\":{},\"correlation_id\":{},\"priority\":{},\"payload\":{},\"metadata\":{}}}",
        e.event_id,
        s(&e.event_type),
        s(&e.source),
        s(&e.correlation_id),
        e.priority.as_i64(),
        e.payload,
        e.metadata,
    );
    (headers, Bytes::from(body))
}

/// The event stored at `sequence` under `subject` at `stored_at`.
pub fn decode(
    namespace: &str,
    subject: &str,
    sequence: u64,
    stored_at: time::OffsetDateTime,
    body: &[u8],
) -> Result<Event, EventsError> {
    let topic = subject
        .strip_prefix(namespace)
        .and_then(|t| t.strip_prefix('.'))
        .ok_or_else(|| EventsError::Store(format!("message on foreign subject `{subject}`")))?;
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        EventsError::Store(format!("event {sequence} on `{subject}` is not ours: {e}"))
    })?;
    let event_id = Uuid::parse_str(&b.id)
        .map_err(|e| EventsError::Store(format!("event {sequence} has a bad id: {e}")))?;
    Ok(Event {
        event_id,
        sequence: sequence as i64,
        topic: topic.to_string(),
        event_type: b.event_type,
        payload: b.payload,
        priority: Priority::from_i64(b.priority),
        source: b.source,
        correlation_id: b.correlation_id,
        metadata: b.metadata,
        timestamp_us: (stored_at.unix_timestamp_nanos() / 1_000) as i64,
    })
}

/// A JetStream time for microseconds since the epoch.
pub fn time_of_us(us: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventInput;

    #[test]
    fn an_event_survives_encode_and_decode() {
        let e = EventInput {
            topic: "nba.games".into(),
            event_type: "game \"started\"".into(),
            payload: Some(serde_json::json!({"team": "LAL", "n": [1, 2]})),
            priority: Some("high".into()),
            ..Default::default()
        }
        .validate("")
        .unwrap();
        let (headers, body) = encode(&e);
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string()),
            Some(e.event_id.to_string())
        );
        let at = time_of_us(1_700_000_000_123_456);
        let d = decode("ns", "ns.nba.games", 7, at, &body).unwrap();
        assert_eq!(d.event_id, e.event_id);
        assert_eq!(d.topic, "nba.games");
        assert_eq!(d.sequence, 7);
        assert_eq!(d.event_type, "game \"started\"");
        assert_eq!(d.priority, Priority::High);
        assert_eq!(d.payload, serde_json::json!({"team": "LAL", "n": [1, 2]}));
        assert_eq!(d.timestamp_us, 1_700_000_000_123_456);
    }

    #[test]
    fn a_foreign_message_is_an_error_not_a_panic() {
        let at = time_of_us(0);
        assert!(decode("ns", "other.x", 1, at, b"{}").is_err());
        assert!(decode("ns", "ns.x", 1, at, b"not json").is_err());
    }
}
