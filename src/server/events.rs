//! MCP adapters of the events toolset: the publish/subscribe/poll/ack/replay
//! tools, and the `events://topics` resources with update notifications.
//!
//! Resource push has two mechanisms because the two protocol eras differ:
//! `resources/subscribe` (initialize era) records the URI in [`ResourcePush`]
//! and one forwarding task per connection sends `notifications/resources/updated`;
//! `subscriptions/listen` (2026-07-28) runs its own loop in `listen`. Both are
//! fed by the bus's topic broadcast, which covers events published by other
//! processes too. A subscribed URI's topic part may be a pattern
//! (`events://topics/nba.>`): the notification names the subscribed URI.

// Doc comments here are what agents read (tool descriptions, kept verbatim):
// `subscribe`'s `dlq.<topic>` is text, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::args::{Parameters, in_range};
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ResourceUpdatedNotificationParam,
};
use rmcp::service::{Peer, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::SmartServer;
use super::error::ToolError;
use crate::events::filter::FilterInput;
use crate::events::model::{DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT, ReplayQuery};
use crate::events::model::{Event, EventInput, MAX_BATCH, MAX_PAGE_BYTES, parse_rfc3339_us};
use crate::events::subscription::{
    DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVERIES, Start, SubscriptionSpec,
};
use crate::events::topic::{matches, validate_pattern, validate_topic};
use crate::events::{EventBackend, EventsError, nba};

/// URI of the topic list resource.
pub const TOPICS_URI: &str = "events://topics";
/// Prefix of one topic's resource URI.
pub const TOPIC_URI_PREFIX: &str = "events://topics/";
/// Events shown when reading one topic's resource.
const RECENT_IN_RESOURCE: i64 = 20;

impl From<EventsError> for ToolError {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::Invalid { field, message } => ToolError::invalid(field, message),
            e @ EventsError::UnknownSubscription(_) => {
                ToolError::invalid("subscription_id", e.to_string())
            }
            e => ToolError::failed(e.to_string()),
        }
    }
}

impl SmartServer {
    fn bus(&self) -> Result<&Arc<dyn EventBackend>, ToolError> {
        self.app
            .events
            .as_ref()
            .ok_or_else(|| ToolError::failed("the events toolset is not enabled"))
    }
}

// ---------------------------------------------------------------- arguments

/// One event to publish.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct PublishEventArgs {
    /// Dot-separated topic, e.g. `nba.games.1234`, no wildcards.
    pub topic: String,
    /// Event type, e.g. `game.started`.
    pub event_type: String,
    /// JSON object, at most 256 KiB.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub payload: Option<Value>,
    /// `low`, `normal` (default), `high` or `critical`.
    pub priority: Option<String>,
    /// Who publishes it (default `unknown`).
    pub source: Option<String>,
    /// Links related events (default: the event's id).
    pub correlation_id: Option<String>,
    /// JSON object, at most 16 KiB.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub metadata: Option<Value>,
}

impl PublishEventArgs {
    fn into_input(self) -> EventInput {
        EventInput {
            topic: self.topic,
            event_type: self.event_type,
            payload: self.payload,
            priority: self.priority,
            source: self.source,
            correlation_id: self.correlation_id,
            metadata: self.metadata,
        }
    }
}

/// Where a published event landed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedOut {
    /// The event's id (UUID v7).
    pub event_id: String,
    /// Its position in the event stream.
    pub sequence: i64,
    /// Its topic.
    pub topic: String,
    /// Its correlation id (generated when none was given).
    pub correlation_id: String,
}

/// Arguments of `publish_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishEventsArgs {
    /// 1 to 10,000 events, written in one transaction: all or none.
    pub events: Vec<PublishEventArgs>,
}

/// Result of `publish_events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedBatchOut {
    /// Sequence of the first event; the batch has consecutive sequences.
    pub first_sequence: i64,
    /// Sequence of the last event.
    pub last_sequence: i64,
    /// Number of events published.
    pub count: i64,
}

/// Arguments of `publish_nba_event`: `kind` plus the fields it needs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishNbaArgs {
    /// `player_stat_update` (player_id, stats), `game_started` (game_id, home_team, away_team),
    /// `game_ended`/`score_update` (game_id, home_score, away_score), `prediction_generated`
    /// (model_id, prediction), `model_trained` (model_id, metrics).
    pub kind: String,
    /// Player id (string or integer).
    #[schemars(with = "Option<String>")]
    pub player_id: Option<Value>,
    /// Game id (string or integer).
    #[schemars(with = "Option<String>")]
    pub game_id: Option<Value>,
    /// Team code, e.g. `LAL`.
    pub team: Option<String>,
    /// Home team code.
    pub home_team: Option<String>,
    /// Away team code.
    pub away_team: Option<String>,
    /// Home team score.
    #[schemars(with = "Option<u64>")]
    pub home_score: Option<Value>,
    /// Away team score.
    #[schemars(with = "Option<u64>")]
    pub away_score: Option<Value>,
    /// Period (quarter).
    #[schemars(with = "Option<u64>")]
    pub period: Option<Value>,
    /// Winning team code (game_ended).
    pub winner: Option<String>,
    /// Player statistics, e.g. {"points": 31}.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub stats: Option<Value>,
    /// Model id (string or integer).
    #[schemars(with = "Option<String>")]
    pub model_id: Option<Value>,
    /// Model version.
    pub model_version: Option<String>,
    /// The prediction (any JSON value).
    #[schemars(extend("type" = ["object", "array", "string", "number", "boolean"]))]
    pub prediction: Option<Value>,
    /// Confidence, 0 to 1.
    #[schemars(with = "Option<f64>")]
    pub confidence: Option<Value>,
    /// Training metrics, e.g. {"rmse": 4.2}.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub metrics: Option<Value>,
    /// Overrides the kind's priority (`low|normal|high|critical`).
    pub priority: Option<String>,
    /// Who publishes it (default `nba`).
    pub source: Option<String>,
    /// Links related events; defaults to the new event's id.
    pub correlation_id: Option<String>,
}

/// Result of `publish_nba_event`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedNbaOut {
    /// The event's id (UUID v7).
    pub event_id: String,
    /// Its position in the event stream.
    pub sequence: i64,
    /// Its topic (`nba.players`, `nba.games` or `nba.ml`).
    pub topic: String,
    /// Its correlation id.
    pub correlation_id: String,
    /// The event type it was published with, e.g. `game.started`.
    pub event_type: String,
    /// The priority it was published with.
    pub priority: String,
}

/// Arguments of `subscribe`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeArgs {
    /// Name shown in `event_stats`.
    pub name: String,
    /// Topic patterns: `*` one token, `>` the rest (`nba.>`). Default: all.
    pub topics: Option<Vec<String>>,
    /// Exact event types to receive. Default: all.
    pub event_types: Option<Vec<String>>,
    /// Exact sources to receive. Default: all.
    pub sources: Option<Vec<String>>,
    /// `low` (default), `normal`, `high` or `critical`.
    pub min_priority: Option<String>,
    /// Payload equality, e.g. {"payload.team": "LAL"}.
    pub payload_match: Option<BTreeMap<String, Value>>,
    /// Consumer group; members share events and must use the same filter.
    pub group: Option<String>,
    /// "latest" (default), "earliest", {"sequence": N} or {"time": RFC 3339}; ignored when joining
    /// a group.
    #[schemars(extend("type" = ["string", "object"]))]
    pub start: Option<Value>,
    /// Ms before an unacked event is redelivered, 50-86400000 (default 30000).
    pub ack_wait_ms: Option<i64>,
    /// Deliveries before `dlq.<topic>`, 1-100 (default 5).
    pub max_deliveries: Option<i64>,
}

/// Result of `subscribe`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscribedOut {
    /// Pass to poll_events, ack_events and unsubscribe. Durable: survives restarts.
    pub subscription_id: String,
    /// The sequence the subscription reads next.
    pub next_sequence: i64,
    /// True when it joined a group that already existed (sharing its position).
    pub joined_existing_group: bool,
}

/// Arguments of `poll_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollArgs {
    /// From `subscribe`.
    pub subscription_id: String,
    /// 1-1000 (default 100).
    pub max: Option<i64>,
    /// Ms to wait for a first event, 0-30000 (default 0).
    pub wait_ms: Option<i64>,
}

/// One event as returned by polls and replays.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventOut {
    /// UUID v7; pass to ack_events.
    pub event_id: String,
    /// Position in the event stream.
    pub sequence: i64,
    /// Topic.
    pub topic: String,
    /// Event type.
    pub event_type: String,
    /// The payload object.
    #[schemars(with = "Map<String, Value>")]
    pub payload: Value,
    /// `low`, `normal`, `high` or `critical`.
    pub priority: String,
    /// Who published it.
    pub source: String,
    /// Links related events.
    pub correlation_id: String,
    /// Metadata object (dead-lettered copies carry `dead_letter` with the reason).
    #[schemars(with = "Map<String, Value>")]
    pub metadata: Value,
    /// When it was stored (RFC 3339, UTC).
    pub timestamp: String,
    /// Times delivered to this subscription, this time included (polls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_count: Option<i64>,
}

fn event_out(e: Event, delivery_count: Option<i64>) -> EventOut {
    EventOut {
        timestamp: e.timestamp_rfc3339(),
        event_id: e.event_id.to_string(),
        sequence: e.sequence,
        topic: e.topic,
        event_type: e.event_type,
        payload: e.payload,
        priority: e.priority.name().to_string(),
        source: e.source,
        correlation_id: e.correlation_id,
        metadata: e.metadata,
        delivery_count,
    }
}

/// Result of `poll_events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolledOut {
    /// Delivered events, highest priority first, then by sequence. Ack each
    /// one after handling it, or it is delivered again after ack_wait_ms.
    pub events: Vec<EventOut>,
    /// Matched events waiting to be delivered; on the embedded bus, those in
    /// the subscription's buffer (filled 10,000 at a time; `event_stats`
    /// counts the whole backlog).
    pub pending: i64,
    /// Delivered events (to this subscription or its group) not acked yet.
    pub awaiting_ack: i64,
    /// Events moved to `dlq.<topic>` during this poll (out of deliveries).
    pub dead_lettered: i64,
    /// Present when retention removed events before this subscription read
    /// them: the lost sequences (the range may hold other topics' events too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkippedOut>,
}

/// Sequences retention removed before a subscription read them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SkippedOut {
    /// First sequence lost.
    pub first_sequence: i64,
    /// Last sequence lost.
    pub last_sequence: i64,
    /// Sequences lost.
    pub count: i64,
}

/// Arguments of `ack_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckArgs {
    /// From `subscribe`.
    pub subscription_id: String,
    /// Ids received by this subscription (1-1000).
    pub event_ids: Vec<String>,
}

/// Result of `ack_events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AckedOut {
    /// Events acknowledged now (never delivered again).
    pub acked: i64,
    /// Ids that were not awaiting this subscription's ack (already acked,
    /// never delivered to it, or trimmed).
    pub not_pending: Vec<String>,
}

/// Arguments of `unsubscribe`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeArgs {
    /// From `subscribe`.
    pub subscription_id: String,
}

/// Result of `unsubscribe`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UnsubscribedOut {
    /// The removed subscription.
    pub subscription_id: String,
    /// Always true on success.
    pub unsubscribed: bool,
}

/// Arguments of `replay_events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayArgs {
    /// Topic patterns (`*`, `>` wildcards). Default: all.
    pub topics: Option<Vec<String>>,
    /// Exact event types. Default: all.
    pub event_types: Option<Vec<String>>,
    /// Exact sources. Default: all.
    pub sources: Option<Vec<String>>,
    /// Lowest priority: `low` (default), `normal`, `high`, `critical`.
    pub min_priority: Option<String>,
    /// Payload equality, keys `payload.<path>`: {"payload.team": "LAL"}.
    pub payload_match: Option<BTreeMap<String, Value>>,
    /// First sequence to return (inclusive).
    pub from_sequence: Option<i64>,
    /// Earliest time, RFC 3339 (inclusive).
    pub since: Option<String>,
    /// Latest time, RFC 3339 (inclusive).
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Result of `replay_events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplayOut {
    /// Matching stored events in sequence order.
    pub events: Vec<EventOut>,
    /// Pass as `cursor` for the next page; null when there is no more.
    pub next_cursor: Option<String>,
}

/// Arguments of `event_stats`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsArgs {
    /// Subscriptions per page, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One topic's counters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TopicStatsOut {
    /// Topic.
    pub topic: String,
    /// Events ever published on it.
    pub published: i64,
    /// Events stored now (after retention).
    pub stored: i64,
    /// Deliveries to subscriptions (redeliveries included).
    pub delivered: i64,
    /// Matched events waiting for delivery or ack, over all subscriptions.
    pub pending: i64,
    /// Events moved to `dlq.<topic>`.
    pub dead_lettered: i64,
    /// Events deleted by retention.
    pub trimmed: i64,
    /// Newest sequence on it.
    pub last_sequence: i64,
    /// Time of its newest event (RFC 3339).
    pub last_timestamp: String,
}

/// One subscription's counters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionStatsOut {
    /// Id.
    pub subscription_id: String,
    /// Name.
    pub name: String,
    /// Its consumer group, if any.
    pub group: Option<String>,
    /// Its topic patterns (empty: all topics).
    pub topics: Vec<String>,
    /// The sequence its consumer scans next.
    pub next_sequence: i64,
    /// Deliveries to it (redeliveries included).
    pub delivered: i64,
    /// Of those, redeliveries.
    pub redelivered: i64,
    /// Events it acked.
    pub acked: i64,
    /// Matched events of its consumer (shared by a group) not delivered yet.
    pub pending: i64,
    /// `pending` is a lower bound (more than 100,000 events past its consumer
    /// to count).
    pub pending_at_least: bool,
    /// Deliveries to it awaiting its ack.
    pub awaiting_ack: i64,
    /// Events its consumer (group) dead-lettered.
    pub dead_lettered: i64,
}

/// Result of `event_stats`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatsOut {
    /// Per topic, by name (the most recently written ones when the answer
    /// bound cannot hold them all).
    pub topics: Vec<TopicStatsOut>,
    /// Topics in all.
    pub total_topics: usize,
    /// Per subscription, oldest first: one page (`limit`, default 100).
    pub subscriptions: Vec<SubscriptionStatsOut>,
    /// Subscriptions in all pages.
    pub total_subscriptions: usize,
    /// Pass as `cursor` for the next page of subscriptions; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------- tools

fn parse_start(v: Option<Value>) -> Result<Start, ToolError> {
    let accepted =
        "use \"latest\", \"earliest\", {\"sequence\": N} (N >= 1) or {\"time\": \"<RFC 3339>\"}";
    match v {
        None => Ok(Start::Latest),
        Some(Value::String(s)) if s == "latest" => Ok(Start::Latest),
        Some(Value::String(s)) if s == "earliest" => Ok(Start::Earliest),
        Some(Value::Object(m)) if m.len() == 1 => {
            if let Some(n) = m.get("sequence") {
                match n.as_i64() {
                    Some(n) if n >= 1 => Ok(Start::Sequence(n)),
                    _ => Err(ToolError::invalid(
                        "start.sequence",
                        "must be an integer >= 1",
                    )),
                }
            } else if let Some(t) = m.get("time") {
                let t = t.as_str().ok_or_else(|| {
                    ToolError::invalid("start.time", "must be an RFC 3339 string")
                })?;
                Ok(Start::Time(parse_rfc3339_us("start.time", t)?))
            } else {
                Err(ToolError::invalid("start", accepted))
            }
        }
        Some(other) => Err(ToolError::invalid(
            "start",
            format!(
                "got {}; {accepted}",
                crate::quote::short(&other.to_string())
            ),
        )),
    }
}

fn check_name(field: &str, s: &str) -> Result<(), ToolError> {
    if s.trim().is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            field,
            "must be 1 to 255 characters without control characters",
        ));
    }
    Ok(())
}

fn check_subscription_id(id: &str) -> Result<(), ToolError> {
    if id.is_empty() || id.len() > 100 {
        return Err(ToolError::invalid(
            "subscription_id",
            "must be the id returned by subscribe (`sub_...`)",
        ));
    }
    Ok(())
}

#[tool_router(router = events_router, vis = "pub(crate)")]
impl SmartServer {
    /// Publish one event on a topic; returns once it is stored (crash-safe).
    #[tool(
        name = "publish_event",
        annotations(
            title = "Publish an event",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn publish_event(
        &self,
        Parameters(args): Parameters<PublishEventArgs>,
    ) -> Result<Json<PublishedOut>, ToolError> {
        let bus = self.bus()?;
        let event = args.into_input().validate("")?;
        let mut out = bus.publish_events(vec![event]).await?;
        let a = out
            .pop()
            .ok_or_else(|| ToolError::failed("the store returned no sequence"))?;
        Ok(Json(PublishedOut {
            event_id: a.event_id.to_string(),
            sequence: a.sequence,
            topic: a.topic,
            correlation_id: a.correlation_id,
        }))
    }

    /// Publish up to 10,000 events at once, all or none, with consecutive sequences.
    #[tool(
        name = "publish_events",
        annotations(
            title = "Publish events in one batch",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn publish_events(
        &self,
        Parameters(args): Parameters<PublishEventsArgs>,
    ) -> Result<Json<PublishedBatchOut>, ToolError> {
        let bus = self.bus()?;
        if args.events.is_empty() || args.events.len() > MAX_BATCH {
            return Err(ToolError::invalid(
                "events",
                format!("has {} events; send 1 to {MAX_BATCH}", args.events.len()),
            ));
        }
        let events = args
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.into_input().validate(&format!("events[{i}].")))
            .collect::<Result<Vec<_>, _>>()?;
        let out = bus.publish_events(events).await?;
        let (Some(first), Some(last)) = (out.first(), out.last()) else {
            return Err(ToolError::failed("the store returned no sequence"));
        };
        Ok(Json(PublishedBatchOut {
            first_sequence: first.sequence,
            last_sequence: last.sequence,
            count: out.len() as i64,
        }))
    }

    /// Publish a platform NBA event with its standard topic, type and priority; checks the fields
    /// its `kind` needs.
    #[tool(
        name = "publish_nba_event",
        annotations(
            title = "Publish an NBA platform event",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn publish_nba_event(
        &self,
        Parameters(args): Parameters<PublishNbaArgs>,
    ) -> Result<Json<PublishedNbaOut>, ToolError> {
        let bus = self.bus()?;
        let PublishNbaArgs {
            kind,
            priority,
            source,
            correlation_id,
            ..
        } = &args;
        let (kind, priority, source, correlation_id) = (
            kind.clone(),
            priority.clone(),
            source.clone(),
            correlation_id.clone(),
        );
        let mut fields = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                fields.insert(k.to_string(), v);
            }
        };
        put("player_id", args.player_id);
        put("game_id", args.game_id);
        put("team", args.team.map(Value::String));
        put("home_team", args.home_team.map(Value::String));
        put("away_team", args.away_team.map(Value::String));
        put("home_score", args.home_score);
        put("away_score", args.away_score);
        put("period", args.period);
        put("winner", args.winner.map(Value::String));
        put("stats", args.stats);
        put("model_id", args.model_id);
        put("model_version", args.model_version.map(Value::String));
        put("prediction", args.prediction);
        put("confidence", args.confidence);
        put("metrics", args.metrics);
        let input = nba::build(&kind, fields, priority, source, correlation_id)?;
        let event = input.validate("")?;
        let (event_type, prio) = (event.event_type.clone(), event.priority.name().to_string());
        let mut out = bus.publish_events(vec![event]).await?;
        let a = out
            .pop()
            .ok_or_else(|| ToolError::failed("the store returned no sequence"))?;
        Ok(Json(PublishedNbaOut {
            event_id: a.event_id.to_string(),
            sequence: a.sequence,
            topic: a.topic,
            correlation_id: a.correlation_id,
            event_type,
            priority: prio,
        }))
    }

    /// Create a durable subscription, read with poll_events and ack_events; unacked events
    /// are redelivered after ack_wait_ms, then go to dlq.<topic>.
    #[tool(
        name = "subscribe",
        annotations(
            title = "Subscribe to events",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn subscribe(
        &self,
        Parameters(args): Parameters<SubscribeArgs>,
    ) -> Result<Json<SubscribedOut>, ToolError> {
        let bus = self.bus()?;
        check_name("name", &args.name)?;
        if let Some(g) = &args.group {
            check_name("group", g)?;
        }
        let filter = FilterInput {
            topics: args.topics,
            event_types: args.event_types,
            sources: args.sources,
            min_priority: args.min_priority,
            payload_match: args.payload_match,
        }
        .validate()?;
        let spec = SubscriptionSpec {
            name: args.name,
            filter,
            group: args.group,
            start: parse_start(args.start)?,
            ack_wait_ms: in_range(
                "ack_wait_ms",
                args.ack_wait_ms,
                DEFAULT_ACK_WAIT_MS,
                50,
                86_400_000,
            )?,
            max_deliveries: in_range(
                "max_deliveries",
                args.max_deliveries,
                DEFAULT_MAX_DELIVERIES,
                1,
                100,
            )?,
        };
        let s = bus.subscribe(spec).await?;
        Ok(Json(SubscribedOut {
            subscription_id: s.subscription_id,
            next_sequence: s.next_sequence,
            joined_existing_group: s.joined_existing_group,
        }))
    }

    /// Receive a subscription's events, higher priority first. `wait_ms` long-polls. Ack each after
    /// handling.
    #[tool(
        name = "poll_events",
        annotations(
            title = "Poll a subscription",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn poll_events(
        &self,
        Parameters(args): Parameters<PollArgs>,
    ) -> Result<Json<PolledOut>, ToolError> {
        let bus = self.bus()?;
        check_subscription_id(&args.subscription_id)?;
        let max = in_range("max", args.max, 100, 1, 1000)?;
        let wait = in_range(
            "wait_ms",
            args.wait_ms,
            0,
            0,
            crate::events::subscription::MAX_WAIT_MS as i64,
        )?;
        // Within the answer bound: the rest stays pending for the next poll.
        let limit = crate::events::model::PageLimit::events(max).with_bytes(self.budget.bytes());
        let p = bus
            .poll(
                &args.subscription_id,
                limit,
                Duration::from_millis(wait as u64),
            )
            .await?;
        Ok(Json(PolledOut {
            events: p
                .events
                .into_iter()
                .map(|d| event_out(d.event, Some(d.delivery_count)))
                .collect(),
            pending: p.pending,
            awaiting_ack: p.awaiting_ack,
            dead_lettered: p.dead_lettered,
            skipped: p.skipped.map(|k| SkippedOut {
                first_sequence: k.first_sequence,
                last_sequence: k.last_sequence,
                count: k.count,
            }),
        }))
    }

    /// Acknowledge polled events so they are not redelivered.
    #[tool(
        name = "ack_events",
        annotations(
            title = "Acknowledge events",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn ack_events(
        &self,
        Parameters(args): Parameters<AckArgs>,
    ) -> Result<Json<AckedOut>, ToolError> {
        let bus = self.bus()?;
        check_subscription_id(&args.subscription_id)?;
        if args.event_ids.is_empty() || args.event_ids.len() > 1000 {
            return Err(ToolError::invalid(
                "event_ids",
                format!("has {} ids; send 1 to 1000", args.event_ids.len()),
            ));
        }
        let ids = args
            .event_ids
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Uuid::parse_str(s).map_err(|_| {
                    ToolError::invalid(
                        format!("event_ids[{i}]"),
                        format!(
                            "{} is not an event id (a UUID from poll_events)",
                            crate::quote::quote(s)
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // An id sent twice is acked once, not also reported as not pending.
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let ids: Vec<Uuid> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
        let a = bus.ack(&args.subscription_id, ids).await?;
        Ok(Json(AckedOut {
            acked: a.acked,
            not_pending: a.not_pending,
        }))
    }

    /// Delete a subscription; its unacked events go back to its group.
    #[tool(
        name = "unsubscribe",
        annotations(
            title = "Delete a subscription",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn unsubscribe(
        &self,
        Parameters(args): Parameters<UnsubscribeArgs>,
    ) -> Result<Json<UnsubscribedOut>, ToolError> {
        let bus = self.bus()?;
        check_subscription_id(&args.subscription_id)?;
        bus.unsubscribe(&args.subscription_id).await?;
        Ok(Json(UnsubscribedOut {
            subscription_id: args.subscription_id,
            unsubscribed: true,
        }))
    }

    /// Read stored events by filter and sequence or time range, paged. Does not affect
    /// subscriptions.
    #[tool(
        name = "replay_events",
        annotations(
            title = "Replay event history",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn replay_events(
        &self,
        Parameters(args): Parameters<ReplayArgs>,
    ) -> Result<Json<ReplayOut>, ToolError> {
        let bus = self.bus()?;
        let filter = FilterInput {
            topics: args.topics,
            event_types: args.event_types,
            sources: args.sources,
            min_priority: args.min_priority,
            payload_match: args.payload_match,
        }
        .validate()?;
        if let Some(n) = args.from_sequence
            && n < 1
        {
            return Err(ToolError::invalid("from_sequence", "must be >= 1"));
        }
        let since_us = args
            .since
            .as_deref()
            .map(|s| parse_rfc3339_us("since", s))
            .transpose()?;
        let until_us = args
            .until
            .as_deref()
            .map(|s| parse_rfc3339_us("until", s))
            .transpose()?;
        if let (Some(s), Some(u)) = (since_us, until_us)
            && u < s
        {
            return Err(ToolError::invalid("until", "is before `since`"));
        }
        let after = match args.cursor.as_deref() {
            None => None,
            Some(c) => Some(
                // Exactly as written by `next_cursor`: digits, no sign or
                // leading zero, below the last sequence (`after:i64::MAX`
                // wrapped round to sequence 1).
                c.strip_prefix("after:")
                    .filter(|n| {
                        n.bytes().all(|b| b.is_ascii_digit()) && (*n == "0" || !n.starts_with('0'))
                    })
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|n| *n < i64::MAX)
                    .ok_or_else(|| {
                        ToolError::invalid(
                            "cursor",
                            "pass the next_cursor of a previous page unchanged",
                        )
                    })?,
            ),
        };
        let q = ReplayQuery {
            filter,
            from_sequence: args.from_sequence,
            since_us,
            until_us,
            limit: in_range(
                "limit",
                args.limit,
                DEFAULT_REPLAY_LIMIT,
                1,
                MAX_REPLAY_LIMIT,
            )?,
            // Read a few times what usually fits (JSON is 3-4 bytes a
            // token), then keep what does, counted below.
            bytes: self
                .budget
                .bytes()
                .map_or(MAX_PAGE_BYTES, |b| (4 * b).min(MAX_PAGE_BYTES)),
            after,
        };
        let page = bus.replay(q).await?;
        let mut events: Vec<EventOut> = page
            .events
            .into_iter()
            .map(|e| event_out(e, None))
            .collect();
        let mut next_after = page.next_after;
        // Within the answer bound; the next page starts after the last kept.
        let fit = self.budget.prefix(&events, 100);
        if fit < events.len() {
            events.truncate(fit);
            next_after = events.last().map(|e| e.sequence);
        }
        Ok(Json(ReplayOut {
            events,
            next_cursor: next_after.map(|n| format!("after:{n}")),
        }))
    }

    /// Counters per topic and per subscription (delivered, acked, pending, dead-lettered), paged.
    #[tool(
        name = "event_stats",
        annotations(
            title = "Event bus statistics",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn event_stats(
        &self,
        Parameters(args): Parameters<StatsArgs>,
    ) -> Result<Json<StatsOut>, ToolError> {
        let limit = in_range("limit", args.limit, 100, 1, 1000)? as usize;
        let offset: usize = match &args.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                ToolError::invalid("cursor", "pass the next_cursor of a previous event_stats")
            })?,
        };
        let bus = self.bus()?;
        let (topics, page) = (bus.topics().await?, bus.subscriptions(offset, limit).await?);
        let total_subscriptions = page.total;
        let subs = page.subscriptions;
        let mut topics: Vec<TopicStatsOut> = topics
            .into_iter()
            .map(|t| TopicStatsOut {
                last_timestamp: crate::events::model::rfc3339_us(t.last_timestamp_us),
                topic: t.topic,
                published: t.published,
                stored: t.stored,
                delivered: t.delivered,
                pending: t.pending,
                dead_lettered: t.dead_lettered,
                trimmed: t.trimmed,
                last_sequence: t.last_sequence,
            })
            .collect();
        let mut subs: Vec<SubscriptionStatsOut> = subs
            .into_iter()
            .map(|s| SubscriptionStatsOut {
                subscription_id: s.subscription_id,
                name: s.name,
                group: s.group,
                topics: s.topics,
                next_sequence: s.next_sequence,
                delivered: s.delivered,
                redelivered: s.redelivered,
                acked: s.acked,
                pending: s.pending,
                pending_at_least: s.pending_at_least,
                awaiting_ack: s.awaiting_ack,
                dead_lettered: s.dead_lettered,
            })
            .collect();
        let total_topics = topics.len();
        if let Some(max) = self.budget.max_tokens() {
            // Within the answer bound: subscriptions in about half of it
            // (the rest is the next page), then the most recently written
            // topics, listed by name.
            subs.truncate(self.budget.prefix(&subs, max / 2));
            let used = crate::server::budget::AnswerBudget::tokens_of(&subs) + 200;
            topics.sort_by_key(|t| std::cmp::Reverse(t.last_sequence));
            topics.truncate(self.budget.prefix(&topics, used));
            topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        }
        let end = offset + subs.len();
        let next_cursor = (end < total_subscriptions).then(|| end.to_string());
        Ok(Json(StatsOut {
            topics,
            total_topics,
            subscriptions: subs,
            total_subscriptions,
            next_cursor,
        }))
    }
}

// ---------------------------------------------------------------- resources

/// The topic (or pattern) a resource URI names: `None` for the topic list.
fn uri_topic(uri: &str) -> Result<Option<&str>, ErrorData> {
    if uri == TOPICS_URI {
        return Ok(None);
    }
    match uri.strip_prefix(TOPIC_URI_PREFIX) {
        Some(t) => Ok(Some(t)),
        None => Err(ErrorData::resource_not_found(
            format!(
                "unknown resource {}; use {TOPICS_URI} or {TOPIC_URI_PREFIX}<topic>",
                crate::quote::quote(uri)
            ),
            None,
        )),
    }
}

/// Whether a notification for `topic` concerns the subscribed `uri`.
fn uri_wants(uri: &str, topic: &str) -> bool {
    match uri_topic(uri) {
        Ok(None) => true,
        Ok(Some(pattern)) => matches(pattern, topic),
        Err(_) => false,
    }
}

fn json_contents(uri: &str, v: &Value) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.to_string(),
        mime_type: Some("application/json".into()),
        text: serde_json::to_string_pretty(v).unwrap_or_default(),
        meta: None,
    }
}

fn internal(e: EventsError) -> ErrorData {
    ErrorData::internal_error(e.to_string(), None)
}

/// The `resources/subscribe` subscriptions of this connection.
#[derive(Debug, Default)]
pub struct ResourcePush {
    uris: Mutex<BTreeSet<String>>,
    forwarding: std::sync::atomic::AtomicBool,
}

impl SmartServer {
    /// `resources/list`: the topic list and one resource per topic.
    pub(crate) async fn events_list_resources(&self) -> Result<ListResourcesResult, ErrorData> {
        let Some(bus) = self.app.events.as_ref() else {
            return Ok(ListResourcesResult::default());
        };
        let topics = bus.topics().await.map_err(internal)?;
        let mut items = vec![
            Resource::new(TOPICS_URI, "topics")
                .with_title("Event topics")
                .with_description(
                    "Every topic with its event counts; subscribe for an update on any publish.",
                )
                .with_mime_type("application/json"),
        ];
        for t in topics.into_iter().take(1000) {
            items.push(
                Resource::new(format!("{TOPIC_URI_PREFIX}{}", t.topic), t.topic.clone())
                    .with_description(format!(
                        "Topic {}: {} stored events, newest sequence {}; subscribe for an update on each publish.",
                        t.topic, t.stored, t.last_sequence
                    ))
                    .with_mime_type("application/json"),
            );
        }
        Ok(ListResourcesResult::with_all_items(items))
    }

    /// `resources/templates/list`: one topic's resource.
    pub(crate) fn events_resource_templates(&self) -> ListResourceTemplatesResult {
        if self.app.events.is_none() {
            return ListResourceTemplatesResult::default();
        }
        ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{TOPIC_URI_PREFIX}{{topic}}"), "topic")
                .with_title("Event topic")
                .with_description(
                    "One topic's counters and newest events; subscribe (a pattern like nba.> works too) \
                     for an update notification on each publish.",
                )
                .with_mime_type("application/json"),
        ])
    }

    /// `resources/read`.
    pub(crate) async fn events_read_resource(
        &self,
        uri: &str,
    ) -> Result<ReadResourceResult, ErrorData> {
        let bus = self.app.events.as_ref().ok_or_else(|| {
            ErrorData::resource_not_found("the events toolset is not enabled", None)
        })?;
        match uri_topic(uri)? {
            None => {
                let topics = bus.topics().await.map_err(internal)?;
                let list: Vec<Value> = topics
                    .into_iter()
                    .map(|t| {
                        serde_json::json!({
                            "topic": t.topic,
                            "uri": format!("{TOPIC_URI_PREFIX}{}", t.topic),
                            "stored": t.stored,
                            "published": t.published,
                            "last_sequence": t.last_sequence,
                        })
                    })
                    .collect();
                Ok(ReadResourceResult::new(vec![json_contents(
                    uri,
                    &serde_json::json!({ "topics": list }),
                )]))
            }
            Some(topic) => {
                validate_topic("uri", topic)
                    .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
                let stats = bus
                    .topics()
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .find(|s| s.topic == topic);
                let recent = bus
                    .recent(topic, RECENT_IN_RESOURCE)
                    .await
                    .map_err(internal)?;
                let v = serde_json::json!({
                    "topic": topic,
                    "stored": stats.as_ref().map_or(0, |s| s.stored),
                    "published": stats.as_ref().map_or(0, |s| s.published),
                    "last_sequence": stats.as_ref().map_or(0, |s| s.last_sequence),
                    "recent_events": recent
                        .into_iter()
                        .map(|e| serde_json::to_value(event_out(e, None)).unwrap_or_default())
                        .collect::<Vec<_>>(),
                });
                Ok(ReadResourceResult::new(vec![json_contents(uri, &v)]))
            }
        }
    }

    /// Checks a URI a client wants to subscribe to.
    fn events_check_subscribable(&self, uri: &str) -> Result<(), ErrorData> {
        if self.app.events.is_none() {
            return Err(ErrorData::resource_not_found(
                "the events toolset is not enabled",
                None,
            ));
        }
        if let Some(p) = uri_topic(uri)? {
            validate_pattern("uri", p)
                .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        }
        Ok(())
    }

    /// `resources/subscribe` (initialize era).
    pub(crate) async fn events_subscribe(
        &self,
        uri: &str,
        peer: Peer<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.events_check_subscribable(uri)?;
        let Some(bus) = self.app.events.clone() else {
            return Ok(());
        };
        if let Ok(mut uris) = self.events_push.uris.lock() {
            uris.insert(uri.to_string());
        }
        if !self
            .events_push
            .forwarding
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let push = self.events_push.clone();
            let mut rx = bus.topic_updates();
            tokio::spawn(async move {
                loop {
                    let topic = match rx.recv().await {
                        Ok(t) => t,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    };
                    let targets: Vec<String> = match push.uris.lock() {
                        Ok(uris) => uris
                            .iter()
                            .filter(|u| uri_wants(u, &topic))
                            .cloned()
                            .collect(),
                        Err(_) => break,
                    };
                    for uri in targets {
                        if peer
                            .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await
                            .is_err()
                        {
                            return; // the connection is gone
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// `resources/unsubscribe` (initialize era).
    pub(crate) fn events_unsubscribe(&self, uri: &str) -> Result<(), ErrorData> {
        if let Ok(mut uris) = self.events_push.uris.lock() {
            uris.remove(uri);
        }
        Ok(())
    }

    /// `subscriptions/listen` (2026-07-28): notifies the accepted resource
    /// URIs until the client cancels.
    pub(crate) async fn events_listen(
        &self,
        context: SubscriptionContext,
    ) -> Result<(), ErrorData> {
        let uris: Vec<String> = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| self.events_check_subscribable(u).is_ok())
            .collect();
        let Some(bus) = self.app.events.clone() else {
            context.cancelled().await;
            return Ok(());
        };
        if uris.is_empty() {
            context.cancelled().await;
            return Ok(());
        }
        let mut rx = bus.topic_updates();
        loop {
            let topic = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                t = rx.recv() => match t {
                    Ok(t) => t,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return Ok(()),
                },
            };
            for uri in uris.iter().filter(|u| uri_wants(u, &topic)) {
                if context
                    .sink()
                    .notify_resource_updated(uri.clone())
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
    }
}
