//! What every bus backend (SQLite, NATS) takes and returns for
//! subscriptions: how one starts, what a poll delivers, what an ack
//! settles, and the limits both honour. The drivers live in
//! [`super::sqlite`] and [`super::nats`]; this module holds no storage.

use serde_json::{Value, json};
use uuid::Uuid;

use super::filter::Filter;
use super::model::{Event, NewEvent, Priority};

/// Default ack wait.
pub const DEFAULT_ACK_WAIT_MS: i64 = 30_000;

/// Default deliveries before dead-lettering.
pub const DEFAULT_MAX_DELIVERIES: i64 = 5;

/// Prefix of dead-letter topics.
pub const DLQ_PREFIX: &str = "dlq.";

/// Where a new subscription starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only events published after it subscribes.
    Latest,
    /// Every stored event.
    Earliest,
    /// From this sequence on.
    Sequence(i64),
    /// From the first event at or after this time (µs since epoch).
    Time(i64),
}

/// A validated subscribe request.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    /// Human-readable name.
    pub name: String,
    /// What it wants.
    pub filter: Filter,
    /// Consumer group to join, if any.
    pub group: Option<String>,
    /// Where to start (ignored when joining an existing group).
    pub start: Start,
    /// Milliseconds before an unacked delivery is redelivered.
    pub ack_wait_ms: i64,
    /// Deliveries before dead-lettering.
    pub max_deliveries: i64,
}

/// What `subscribe` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    /// The new subscription's id.
    pub subscription_id: String,
    /// The sequence it will read next.
    pub next_sequence: i64,
    /// Whether it joined a group that already existed.
    pub joined_existing_group: bool,
}

/// One delivered event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// How many times it has been delivered, this time included.
    pub delivery_count: i64,
}

/// What a poll returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polled {
    /// Delivered events, highest priority first, then by sequence.
    pub events: Vec<Delivery>,
    /// Matched events waiting for delivery after this poll.
    pub pending: i64,
    /// Delivered events not acked yet (their ack wait still running).
    pub awaiting_ack: i64,
    /// Events moved to a dead-letter topic during this poll.
    pub dead_lettered: i64,
    /// When the earliest unacked delivery becomes deliverable again (µs).
    pub next_redelivery_us: Option<i64>,
    /// Events retention removed before this consumer read them.
    pub skipped: Option<Skipped>,
}

/// Sequences retention removed before a consumer read them: a consumer that
/// falls behind retention resumes after a gap, and this says where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// First sequence lost.
    pub first_sequence: i64,
    /// Last sequence lost.
    pub last_sequence: i64,
    /// Sequences lost between them (of any topic: whether they matched the
    /// filter is no longer known).
    pub count: i64,
}

impl Skipped {
    /// Adds the lost range `first..=last` to `acc`.
    pub fn add(acc: &mut Option<Skipped>, first: i64, last: i64) {
        if last < first {
            return;
        }
        let n = last - first + 1;
        *acc = Some(match *acc {
            None => Skipped {
                first_sequence: first,
                last_sequence: last,
                count: n,
            },
            Some(s) => Skipped {
                first_sequence: s.first_sequence.min(first),
                last_sequence: s.last_sequence.max(last),
                count: s.count + n,
            },
        });
    }
}

/// What `ack` answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Acked {
    /// Events acknowledged now.
    pub acked: i64,
    /// Ids that were not awaiting an ack from this subscription (unknown,
    /// already acked, or delivered to another group member).
    pub not_pending: Vec<String>,
}

/// Longest long-poll wait.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Most log rows one poll scans for matches.
pub const SCAN_LIMIT: i64 = 50_000;

/// The copy of `event` a backend publishes on `dlq.<topic>` once
/// `sub_id` has had it `deliveries` times without an ack: same type,
/// payload, source and correlation, priority at least normal, and the
/// reason with the original's topic, id and sequence in
/// `metadata.dead_letter`.
pub fn dead_letter_copy(event: &Event, sub_id: &str, deliveries: i64) -> NewEvent {
    let mut metadata = match &event.metadata {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    let reason = format!("not acknowledged after {deliveries} deliveries to subscription {sub_id}");
    metadata.insert(
        "dead_letter".into(),
        json!({
            "reason": reason,
            "original_topic": event.topic,
            "original_event_id": event.event_id.to_string(),
            "original_sequence": event.sequence,
            "deliveries": deliveries,
            "subscription_id": sub_id,
        }),
    );
    NewEvent {
        event_id: Uuid::now_v7(),
        topic: format!("{DLQ_PREFIX}{}", event.topic),
        event_type: event.event_type.clone(),
        payload: event.payload.to_string(),
        priority: event.priority.max(Priority::Normal),
        source: event.source.clone(),
        correlation_id: event.correlation_id.clone(),
        metadata: Value::Object(metadata).to_string(),
    }
}
