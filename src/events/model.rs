//! The event as published and as stored, its priority, and the limits every
//! publish is checked against.
//!
//! Validation happens here, before an event reaches the writer thread, so a
//! bad event in a batch is refused with its index and nothing of the batch is
//! written. The timestamp and sequence are NOT chosen here: the writer assigns
//! them inside the store's write lock, which keeps both monotonic across every
//! process sharing the data dir (replay by time relies on that).

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::EventsError;
use super::filter::Filter;
use super::topic::validate_topic;

/// Largest serialized payload accepted, in bytes (256 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Most stored payload and metadata bytes one `poll_events` or
/// `replay_events` page carries (at least one event always goes). 1,000
/// events at the payload limit made a 512 MB answer, which clients that cap
/// a message at 16 MiB (as this server does) drop, and then wait forever;
/// the rest comes with the next poll or page.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes counted for an event besides its stored payload and metadata: its
/// other fields as an answer spells them (ids, names, times, counters), a
/// generous upper bound for names of ordinary length.
pub const EVENT_FIELD_BYTES: usize = 300;

/// How much one poll or replay page carries: at most `events` events and
/// `bytes` bytes (payload, metadata and [`EVENT_FIELD_BYTES`] for each
/// event, the names besides), except that a page always holds its first
/// event, however large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Most events.
    pub events: i64,
    /// Most bytes.
    pub bytes: usize,
}

impl PageLimit {
    /// `events` events within [`MAX_PAGE_BYTES`].
    pub fn events(events: i64) -> Self {
        PageLimit {
            events,
            bytes: MAX_PAGE_BYTES,
        }
    }

    /// `self` with at most `bytes` bytes (never above [`MAX_PAGE_BYTES`]).
    pub fn with_bytes(self, bytes: Option<usize>) -> Self {
        PageLimit {
            bytes: bytes.map_or(self.bytes, |b| b.min(MAX_PAGE_BYTES)),
            ..self
        }
    }

    /// Bytes counted for `event`, whose payload and metadata take `stored`.
    pub fn cost(event: &Event, stored: usize) -> usize {
        stored
            + EVENT_FIELD_BYTES
            + event.topic.len()
            + event.event_type.len()
            + event.source.len()
            + event.correlation_id.len()
    }

    /// Whether an event costing `cost` joins a page of `count` events that
    /// has used `used` bytes.
    pub fn admits(&self, count: usize, used: usize, cost: usize) -> bool {
        count == 0 || (count as i64) < self.events && used + cost <= self.bytes
    }
}

impl From<i64> for PageLimit {
    fn from(events: i64) -> Self {
        PageLimit::events(events)
    }
}
/// Largest serialized metadata accepted, in bytes (16 KiB).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest event type, source or correlation id, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Most events in one batch publish.
pub const MAX_BATCH: usize = 10_000;

pub use crate::bus::Priority;

/// Parses a priority name; the error names `field`.
pub fn parse_priority(field: &str, s: &str) -> Result<Priority, EventsError> {
    Priority::from_name(s).ok_or_else(|| {
        EventsError::invalid(
            field,
            format!("`{s}` is not a priority; use low, normal, high or critical"),
        )
    })
}

/// A validated event waiting to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// UUID v7, chosen at validation.
    pub event_id: Uuid,
    /// Concrete topic.
    pub topic: String,
    /// Event type, e.g. `game.started`.
    pub event_type: String,
    /// Serialized JSON object.
    pub payload: String,
    /// Delivery priority.
    pub priority: Priority,
    /// Who published it.
    pub source: String,
    /// Links related events (the event id when the publisher gave none).
    pub correlation_id: String,
    /// Serialized JSON object.
    pub metadata: String,
}

/// What a publisher hands in before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    /// Concrete topic.
    pub topic: String,
    /// Event type.
    pub event_type: String,
    /// JSON object; `None` is `{}`.
    pub payload: Option<Value>,
    /// Priority name; `None` is `normal`.
    pub priority: Option<String>,
    /// Source; `None` is `unknown`.
    pub source: Option<String>,
    /// Correlation id; generated when `None`.
    pub correlation_id: Option<String>,
    /// JSON object; `None` is `{}`.
    pub metadata: Option<Value>,
}

impl EventInput {
    /// Validates and assigns an event id; `prefix` is prepended to field
    /// names in errors (`events[3].`).
    pub fn validate(self, prefix: &str) -> Result<NewEvent, EventsError> {
        let f = |name: &str| format!("{prefix}{name}");
        validate_topic(&f("topic"), &self.topic)?;
        name_ok(&f("event_type"), &self.event_type, false)?;
        let payload = object_json(&f("payload"), self.payload, MAX_PAYLOAD_BYTES)?;
        let metadata = object_json(&f("metadata"), self.metadata, MAX_METADATA_BYTES)?;
        let priority = match self.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => parse_priority(&f("priority"), p)?,
        };
        let source = self.source.unwrap_or_else(|| "unknown".into());
        name_ok(&f("source"), &source, false)?;
        let event_id = Uuid::now_v7();
        let correlation_id = match self.correlation_id {
            Some(c) => {
                name_ok(&f("correlation_id"), &c, false)?;
                c
            }
            None => event_id.to_string(),
        };
        Ok(NewEvent {
            event_id,
            topic: self.topic,
            event_type: self.event_type,
            payload,
            priority,
            source,
            correlation_id,
            metadata,
        })
    }
}

fn name_ok(field: &str, s: &str, allow_empty: bool) -> Result<(), EventsError> {
    if s.is_empty() && !allow_empty {
        return Err(EventsError::invalid(field, "must not be empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(EventsError::invalid(
            field,
            format!("is {} bytes; at most {MAX_NAME_LEN} are accepted", s.len()),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(EventsError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn object_json(field: &str, v: Option<Value>, max: usize) -> Result<String, EventsError> {
    let v = v.unwrap_or_else(|| Value::Object(Map::new()));
    if !v.is_object() {
        return Err(EventsError::invalid(
            field,
            format!("must be a JSON object (`{{...}}`), got {}", kind(&v)),
        ));
    }
    let s = v.to_string();
    if s.len() > max {
        return Err(EventsError::invalid(
            field,
            format!(
                "is {} bytes serialized; at most {max} bytes ({} KiB) are accepted",
                s.len(),
                max / 1024
            ),
        ));
    }
    Ok(s)
}

/// A JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stored event, as polls and replays return it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUID v7.
    pub event_id: Uuid,
    /// Position in the store's event stream (gap-free as assigned).
    pub sequence: i64,
    /// Topic.
    pub topic: String,
    /// Event type.
    pub event_type: String,
    /// JSON object.
    pub payload: Value,
    /// Priority.
    pub priority: Priority,
    /// Source.
    pub source: String,
    /// Correlation id.
    pub correlation_id: String,
    /// JSON object.
    pub metadata: Value,
    /// When it was stored, microseconds since the Unix epoch (UTC).
    pub timestamp_us: i64,
}

impl Event {
    /// The timestamp as RFC 3339 UTC with microseconds.
    pub fn timestamp_rfc3339(&self) -> String {
        rfc3339_us(self.timestamp_us)
    }
}

pub use crate::time::{now_us, rfc3339_us};

/// Parses an RFC 3339 time into microseconds since the epoch.
pub fn parse_rfc3339_us(field: &str, s: &str) -> Result<i64, EventsError> {
    crate::time::parse_rfc3339_us(s).map_err(|e| EventsError::invalid(field, e))
}

impl NewEvent {
    /// The bus event for an event another subsystem publishes.
    pub fn from_outbound(event: crate::bus::OutboundEvent) -> Result<NewEvent, EventsError> {
        EventInput {
            topic: event.topic,
            event_type: event.event_type,
            payload: Some(event.payload),
            priority: Some(event.priority.name().to_string()),
            source: Some(event.source),
            correlation_id: event.correlation_id,
            metadata: None,
        }
        .validate("")
    }
}

/// The bus events of other subsystems as validated events; an invalid one is
/// left out and logged (the contract of [`crate::bus::EventSink::publish_stored`]).
pub fn from_outbound_batch(events: Vec<crate::bus::OutboundEvent>) -> Vec<NewEvent> {
    let mut batch = Vec::with_capacity(events.len());
    for event in events {
        let topic = event.topic.clone();
        match NewEvent::from_outbound(event) {
            Ok(e) => batch.push(e),
            Err(e) => tracing::warn!(topic, "could not publish event: {e}"),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> EventInput {
        EventInput {
            topic: "nba.games".into(),
            event_type: "game.started".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_fill_priority_source_and_correlation() {
        let e = input().validate("").unwrap();
        assert_eq!(e.priority, Priority::Normal);
        assert_eq!(e.source, "unknown");
        assert_eq!(e.correlation_id, e.event_id.to_string());
        assert_eq!(e.payload, "{}");
    }

    #[test]
    fn non_object_payload_names_the_field_with_prefix() {
        let mut i = input();
        i.payload = Some(json!([1, 2]));
        let e = i.validate("events[2].").unwrap_err().to_string();
        assert!(e.contains("`events[2].payload`"), "{e}");
        assert!(e.contains("an array"), "{e}");
    }

    #[test]
    fn oversized_payload_states_the_limit() {
        let mut i = input();
        i.payload = Some(json!({"blob": "x".repeat(MAX_PAYLOAD_BYTES)}));
        let e = i.validate("").unwrap_err().to_string();
        assert!(e.contains("262144"), "{e}");
    }

    #[test]
    fn unknown_priority_lists_the_accepted_ones() {
        let mut i = input();
        i.priority = Some("urgent".into());
        let e = i.validate("").unwrap_err().to_string();
        assert!(e.contains("low, normal, high or critical"), "{e}");
    }

    #[test]
    fn priority_round_trips_through_its_integer() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_i64(p.as_i64()), p);
        }
    }
}

/// One appended event's place in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// Event id.
    pub event_id: Uuid,
    /// Assigned sequence.
    pub sequence: i64,
    /// Topic.
    pub topic: String,
    /// Correlation id.
    pub correlation_id: String,
}

/// Default and largest page of a replay.
pub const DEFAULT_REPLAY_LIMIT: i64 = 100;

/// Largest page of a replay.
pub const MAX_REPLAY_LIMIT: i64 = 1000;

/// A validated replay request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayQuery {
    /// What to return (payload conditions are honoured too).
    pub filter: Filter,
    /// First sequence to consider.
    pub from_sequence: Option<i64>,
    /// Earliest time (µs).
    pub since_us: Option<i64>,
    /// Latest time, inclusive (µs).
    pub until_us: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Most bytes of a page, counted as [`PageLimit`] does.
    pub bytes: usize,
    /// Continue after this sequence (from a previous page's cursor).
    pub after: Option<i64>,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplayPage {
    /// Events in sequence order.
    pub events: Vec<Event>,
    /// Pass back as `cursor` to continue; `None` when the range is done.
    pub next_after: Option<i64>,
}

/// One topic's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicStats {
    /// Topic.
    pub topic: String,
    /// Events currently stored.
    pub stored: i64,
    /// Events ever published.
    pub published: i64,
    /// Deliveries to subscriptions (redeliveries included).
    pub delivered: i64,
    /// Matched events waiting for delivery or ack, over all subscriptions.
    pub pending: i64,
    /// Events moved to `dlq.<topic>`.
    pub dead_lettered: i64,
    /// Events removed by retention.
    pub trimmed: i64,
    /// Newest sequence on the topic.
    pub last_sequence: i64,
    /// Time of the newest event (µs).
    pub last_timestamp_us: i64,
}

/// One subscription's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionStats {
    /// Id.
    pub subscription_id: String,
    /// Name.
    pub name: String,
    /// Consumer group, if any.
    pub group: Option<String>,
    /// Topic patterns of its filter (empty: all).
    pub topics: Vec<String>,
    /// Next sequence its consumer will scan.
    pub next_sequence: i64,
    /// Deliveries to this subscription (redeliveries included).
    pub delivered: i64,
    /// Of those, redeliveries.
    pub redelivered: i64,
    /// Acks from this subscription.
    pub acked: i64,
    /// Matched events of its consumer (group) not delivered yet.
    pub pending: i64,
    /// `pending` is a lower bound: the log past the consumer was too long
    /// to count in full.
    pub pending_at_least: bool,
    /// Deliveries to this subscription awaiting its ack.
    pub awaiting_ack: i64,
    /// Events its consumer (group) dead-lettered.
    pub dead_lettered: i64,
}

/// One page of subscriptions, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscriptionsPage {
    /// The page.
    pub subscriptions: Vec<SubscriptionStats>,
    /// Subscriptions in all pages.
    pub total: usize,
}
/// Most log rows one replay call examines before answering with a cursor.
pub const REPLAY_SCAN_BUDGET: i64 = 100_000;
