//! The event bus on NATS JetStream (`--events-url nats://host:port`), so
//! server processes on several machines share one event stream.
//!
//! One stream per namespace, named after it in upper case, over the subjects
//! `<namespace>.>`: topic `a.b` is subject `<namespace>.a.b`, so topic
//! patterns (`*`, `>`) are subject wildcards. An event's sequence is its
//! stream sequence and its timestamp the time the server stored it
//! ([`codec`]). Subscriptions are durable pull consumers with explicit acks,
//! their filters kept in a KV bucket ([`subscriptions`]); dead-lettering is
//! driven by the server's max-deliveries advisory ([`dlq`]).
//!
//! The one design choice to know: the client's connection runs on a small
//! runtime of its own ("events-nats" thread), so the bus can be opened from
//! synchronous start-up code and its background tasks (update notifications,
//! the advisory listener, fire-and-forget publishes from other subsystems)
//! do not depend on which runtime the MCP server uses. Calls themselves run
//! on the caller's runtime: the client hands work to its connection task over
//! channels.
//!
//! What differs from the embedded bus (README, "Events on NATS"): a batch
//! publish is pipelined, not one transaction; priority is honoured within
//! one poll's fetch. Acks work through any process ([`acks`]),
//! dead-lettering is counted by the poll that does it ([`dlq`]), per-pattern
//! retention rules are applied by purging ([`retention`]), and the counts
//! `event_stats` shows are shared by every process ([`counters`]).

pub mod acks;
pub mod codec;
pub mod counters;
pub mod dlq;
mod gaps;
pub mod retention;
pub mod subscriptions;

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer, kv, stream};
use futures_util::StreamExt;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::EventsConfig;
use super::backend::{BackendFuture, EventBackend};
use super::error::EventsError;
use super::filter::{Filter, Head};
use super::model::{Event, MAX_PAGE_BYTES, NewEvent, PageLimit, REPLAY_SCAN_BUDGET};
use crate::bus::{EventSink, OutboundEvent, StoredFuture};
use crate::events::model::{
    Appended, ReplayPage, ReplayQuery, SubscriptionStats, SubscriptionsPage, TopicStats,
};
use crate::events::subscription::{Acked, Delivery, Polled, Subscribed, SubscriptionSpec};
use subscriptions::Record;

/// Oldest server accepted: JetStream consumers and the features used here.
pub const MIN_SERVER: (u64, u64) = (2, 9);
/// How long start-up waits for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one JetStream API call may take before it is an error (so calls
/// during an outage fail clearly instead of hanging).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Window in which a repeated `Nats-Msg-Id` is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Publish acks this process may wait for at once. The client holds a
/// permit per unawaited ack and makes further publishes wait for one, so
/// publish calls could only stall each other if more than
/// `MAX_ACKS_INFLIGHT / PUBLISH_WINDOW` (32) ran at once.
const MAX_ACKS_INFLIGHT: usize = 65_536;
/// Acks one publish call leaves unawaited before it awaits the oldest (a
/// 10,000-event batch used to hold them all and stall at the client's
/// default limit of 5,000 for its 30 s ack timeout).
const PUBLISH_WINDOW: usize = 2_048;
/// How long reading many keys of a KV bucket may take before it is an error.
const KV_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most KV entries asked for in one pull: well below the client's 65,536
/// buffered messages per subscription, so a pull cannot overflow it.
const KV_READ_PULL: u64 = 10_000;
/// Most topics listed by `topics()`.
const MAX_TOPICS: usize = 1000;

fn nats_err(what: &str) -> impl Fn(String) -> EventsError + '_ {
    move |e| EventsError::Store(format!("NATS {what}: {e}"))
}

/// A subscription this process has looked up.
#[derive(Debug)]
struct Sub {
    record: Record,
    consumer: PullConsumer,
}

/// What one poll has taken so far.
#[derive(Debug, Default)]
struct Taken {
    /// Deliveries for the caller.
    out: Vec<Delivery>,
    /// Events moved to their dead-letter topic.
    dead_lettered: i64,
    /// Messages received (delivered, skipped or dead-lettered).
    received: usize,
    /// The consumer's pending count after the last message received.
    last_pending: u64,
    /// Ack subject and stream sequence of each delivery in `out`.
    replies: HashMap<Uuid, (String, u64)>,
    /// Message bytes of the deliveries in `out` (see `MAX_PAGE_BYTES`).
    bytes: usize,
    /// Stream sequences of the messages received for the first time
    /// (delivered, skipped or dead-lettered), for [`gaps`].
    firsts: Vec<u64>,
}

/// State shared with the background tasks.
#[derive(Debug)]
struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    kv: kv::Store,
    /// Ack subjects of unacked deliveries, for acks through any process.
    acks: kv::Store,
    acks_stream: stream::Stream,
    namespace: String,
    stream_name: String,
    subs: Mutex<HashMap<String, Arc<Sub>>>,
    unacked: Mutex<HashMap<(String, Uuid), acks::Local>>,
    /// Per-topic and per-subscription counts shared by every process.
    counters: Arc<counters::Counters>,
    updates: broadcast::Sender<Arc<str>>,
    runtime: tokio::runtime::Handle,
    retention: super::retention::Retention,
}

/// The JetStream event bus of one process.
#[derive(Debug)]
pub struct NatsBus {
    inner: Arc<Inner>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl NatsBus {
    /// Connects, checks the server, creates (or updates) the namespace's
    /// stream and subscription bucket, and starts the background tasks.
    pub fn connect(
        url: &str,
        namespace: &str,
        config: EventsConfig,
    ) -> Result<Arc<NatsBus>, EventsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("events-nats")
            .enable_all()
            .build()
            .map_err(|e| EventsError::Stopped(format!("cannot start the NATS runtime: {e}")))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let (url, ns) = (url.to_string(), namespace.to_string());
        let handle = runtime.handle().clone();
        runtime.spawn(async move {
            let _ = tx.send(Inner::connect(&url, &ns, &config, handle).await);
        });
        let connected = rx
            .recv_timeout(CONNECT_TIMEOUT + REQUEST_TIMEOUT * 2)
            .map_err(|_| EventsError::Stopped("timed out connecting to NATS".into()))
            .and_then(|r| r);
        let inner = match connected {
            Ok(inner) => inner,
            Err(e) => {
                // Dropping a runtime may block: not allowed on an async thread.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let inner = Arc::new(inner);
        runtime.spawn(notify_updates(inner.clone()));
        runtime.spawn(dlq::run(inner.clone()));
        runtime.spawn(retention::run(inner.clone()));
        runtime.spawn(counters::run(inner.counters.clone()));
        Ok(Arc::new(NatsBus {
            inner,
            runtime: Mutex::new(Some(runtime)),
        }))
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_background();
        }
    }
}

impl Inner {
    async fn connect(
        url: &str,
        namespace: &str,
        config: &EventsConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Inner, EventsError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .name("smart-systems-mcp")
            .connect(url)
            .await
            .map_err(|e| EventsError::Stopped(format!("cannot connect to NATS at {url}: {e}")))?;
        let info = client.server_info();
        check_server(&info.version, info.jetstream)?;
        let mut js = jetstream::context::ContextBuilder::new()
            .max_ack_inflight(MAX_ACKS_INFLIGHT)
            .build(client.clone());
        js.set_timeout(REQUEST_TIMEOUT);
        let stream_name = namespace.to_ascii_uppercase();
        let limits = &config.retention.default;
        let max_per_subject = match limits.max_events {
            Some(n) if n > 0 => n.min(i64::MAX as u64) as i64,
            _ => -1,
        };
        let max_age = limits.max_age.unwrap_or_default();
        let stream = ensure_stream(
            &js,
            stream::Config {
                name: stream_name.clone(),
                description: Some(format!("smart-systems-mcp events of namespace {namespace}")),
                subjects: vec![format!("{namespace}.>")],
                max_messages_per_subject: max_per_subject,
                max_age,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                allow_direct: true,
                ..Default::default()
            },
        )
        .await
        .map_err(nats_err("create stream"))?;
        let (kv, _) = open_kv(
            &js,
            &format!("{namespace}_subscriptions"),
            "smart-systems-mcp subscription definitions",
            Duration::ZERO,
        )
        .await
        .map_err(nats_err("subscription bucket"))?;
        let (acks, acks_stream) = acks::open(&js, namespace).await?;
        let counters = Arc::new(counters::Counters::open(&js, namespace).await?);
        let (updates, _) = broadcast::channel(4096);
        Ok(Inner {
            client,
            js,
            stream,
            kv,
            acks,
            acks_stream,
            namespace: namespace.to_string(),
            stream_name,
            subs: Mutex::new(HashMap::new()),
            unacked: Mutex::new(HashMap::new()),
            counters,
            updates,
            runtime,
            retention: config.retention.clone(),
        })
    }

    /// Fails fast while the client is reconnecting: a publish handed to the
    /// client then would wait in its buffer and might be stored after the
    /// caller was told it failed.
    fn connected(&self) -> Result<(), EventsError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(EventsError::Stopped(format!(
                "NATS is not reachable ({state}); the client reconnects by itself, retry shortly"
            ))),
        }
    }

    async fn publish(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, EventsError> {
        self.connected()?;
        // Pipelined: up to PUBLISH_WINDOW publishes in flight, acks awaited
        // in order.
        let mut acks = std::collections::VecDeque::with_capacity(PUBLISH_WINDOW);
        let mut sequences = Vec::with_capacity(events.len());
        for e in &events {
            if acks.len() >= PUBLISH_WINDOW
                && let Some(ack) = acks.pop_front()
            {
                sequences.push(Self::stored(ack, &events, sequences.len()).await?);
            }
            let (headers, body) = codec::encode(e);
            let ack = self
                .js
                .publish_with_headers(codec::subject(&self.namespace, &e.topic), headers, body)
                .await
                .map_err(|e| nats_err("publish")(e.to_string()))?;
            acks.push_back(ack);
        }
        for ack in acks {
            sequences.push(Self::stored(ack, &events, sequences.len()).await?);
        }
        let out: Vec<Appended> = events
            .into_iter()
            .zip(sequences)
            .map(|(e, sequence)| Appended {
                event_id: e.event_id,
                sequence,
                topic: e.topic,
                correlation_id: e.correlation_id,
            })
            .collect();
        self.counters.add(
            counters::Kind::Published,
            out.iter().map(|a| (a.topic.as_str(), 1)),
        );
        tokio::join!(self.apply_count_rules(&out), self.counters.flush());
        Ok(out)
    }

    /// The stream sequence `events[at]` was stored at, once the server acks
    /// it. Without an ack the outcome is unknown, not a failure: the message
    /// may sit in the client's buffer (the connection dropped after the
    /// `connected` check) and be stored when the client reconnects, so the
    /// error says which events are confirmed and which may still appear.
    async fn stored(
        ack: jetstream::context::PublishAckFuture,
        events: &[NewEvent],
        at: usize,
    ) -> Result<i64, EventsError> {
        use jetstream::context::PublishErrorKind as Kind;
        let e = match ack.await {
            Ok(a) => return Ok(a.sequence as i64),
            Err(e) => e,
        };
        let (id, n, later) = (events[at].event_id, events.len(), events.len() - at - 1);
        let fate = match e.kind() {
            Kind::TimedOut | Kind::BrokenPipe | Kind::Other => format!(
                "event {id} and the {later} sent after it are unconfirmed: they may still be \
                 stored once NATS answers again"
            ),
            _ => format!("event {id} was refused; the {later} sent after it may be stored"),
        };
        Err(EventsError::Store(format!(
            "NATS did not confirm the publish ({e}): {at} of {n} events are stored; {fate}; \
             check with replay_events before publishing them again"
        )))
    }

    /// Per-pattern `max_events` rules: the stream's per-subject limit is the
    /// default; a topic whose rule keeps fewer is purged down to its limit
    /// after each publish to it (a rule cannot raise the stream's limit).
    async fn apply_count_rules(&self, published: &[Appended]) {
        if self.retention.rules.is_empty() {
            return;
        }
        let default = self.retention.default.max_events.filter(|&n| n > 0);
        let mut topics: Vec<&str> = published.iter().map(|a| a.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            let Some(keep) = self.retention.limits_for(topic).max_events else {
                continue;
            };
            if default.is_some_and(|d| d <= keep) {
                continue;
            }
            let purge = self
                .stream
                .purge()
                .filter(codec::subject(&self.namespace, topic))
                .keep(keep)
                .await;
            match purge {
                Ok(p) => tracing::debug!(topic, purged = p.purged, "NATS count rule"),
                Err(e) => tracing::warn!(topic, "NATS retention rule: {e}"),
            }
        }
    }

    /// The subscription `id`, from this process's cache or the KV bucket.
    async fn sub(&self, id: &str) -> Result<Arc<Sub>, EventsError> {
        if let Some(s) = self.subs.lock().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(s);
        }
        let unknown = || EventsError::UnknownSubscription(id.to_string());
        if !id.starts_with("sub_") || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(unknown());
        }
        let raw = self
            .kv
            .get(id)
            .await
            .map_err(|e| nats_err("read subscription")(e.to_string()))?
            .ok_or_else(unknown)?;
        let record: Record = serde_json::from_slice(&raw)
            .map_err(|e| EventsError::Store(format!("subscription {id} is unreadable: {e}")))?;
        let consumer: PullConsumer = self
            .stream
            .get_consumer(&record.consumer)
            .await
            .map_err(|_| unknown())?;
        let sub = Arc::new(Sub { record, consumer });
        if let Ok(mut m) = self.subs.lock() {
            m.insert(id.to_string(), sub.clone());
        }
        Ok(sub)
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscribed, EventsError> {
        self.connected()?;
        let id = format!("sub_{}", Uuid::now_v7().simple());
        let consumer_name = subscriptions::consumer_name(&id, spec.group.as_deref());
        let record = Record {
            name: spec.name.clone(),
            group: spec.group.clone(),
            consumer: consumer_name.clone(),
            filter: spec.filter.clone(),
            ack_wait_ms: spec.ack_wait_ms,
            max_deliveries: spec.max_deliveries,
        };
        let mut joined = false;
        let existing: Option<PullConsumer> = match &spec.group {
            Some(_) => self.stream.get_consumer(&consumer_name).await.ok(),
            None => None,
        };
        let mut consumer = match existing {
            Some(c) => {
                let want = subscriptions::filter_subject(&self.namespace, &spec.filter);
                if c.cached_info().config.filter_subject != want
                    || !self
                        .group_filter_matches(&consumer_name, &spec.filter)
                        .await?
                {
                    return Err(EventsError::invalid(
                        "group",
                        "this group already exists with a different filter; members must use the same filter",
                    ));
                }
                joined = true;
                c
            }
            None => self
                .stream
                .create_consumer(subscriptions::consumer_config(
                    &self.namespace,
                    &consumer_name,
                    &spec,
                ))
                .await
                .map_err(|e| nats_err("create consumer")(e.to_string()))?,
        };
        let body = serde_json::to_vec(&record).map_err(|e| EventsError::Store(e.to_string()))?;
        self.kv
            .put(&id, body.into())
            .await
            .map_err(|e| nats_err("store subscription")(e.to_string()))?;
        let next_sequence = match consumer.info().await {
            Ok(i) => i.delivered.stream_sequence as i64 + 1,
            Err(_) => 0,
        };
        if next_sequence > 0 {
            // Where the consumer starts (a group's stays where it is).
            self.advance_cursor(&consumer_name, next_sequence as u64 - 1, None)
                .await;
        }
        if let Ok(mut m) = self.subs.lock() {
            m.insert(id.clone(), Arc::new(Sub { record, consumer }));
        }
        Ok(Subscribed {
            subscription_id: id,
            next_sequence,
            joined_existing_group: joined,
        })
    }

    /// Whether an existing member of the group's consumer has this filter.
    async fn group_filter_matches(
        &self,
        consumer: &str,
        filter: &Filter,
    ) -> Result<bool, EventsError> {
        for (_, r) in self.records().await? {
            if r.consumer == consumer {
                return Ok(&r.filter == filter);
            }
        }
        Ok(true)
    }

    /// Every stored subscription, by id.
    async fn records(&self) -> Result<Vec<(String, Record)>, EventsError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| nats_err("list subscriptions")(e.to_string()))?;
        let mut ids = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(|e| nats_err("list subscriptions")(e.to_string()))?;
            // The bucket also holds the consumers' cursors (`gaps`).
            if k.starts_with("sub_") {
                ids.push(k);
            }
        }
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            if let Ok(Some(raw)) = self.kv.get(&id).await
                && let Ok(r) = serde_json::from_slice::<Record>(&raw)
            {
                out.push((id, r));
            }
        }
        Ok(out)
    }

    async fn poll(
        &self,
        id: &str,
        limit: impl Into<PageLimit>,
        wait: Duration,
    ) -> Result<Polled, EventsError> {
        self.connected()?;
        let sub = self.sub(id).await?;
        let limit = limit.into();
        let max = limit.events.max(1) as usize;
        let deadline = Instant::now() + wait;
        // Where the consumer stood, to see the gaps retention left.
        let before = self.cursor(&sub.record.consumer).await;
        let mut t = Taken::default();
        loop {
            // What is there now: fetch again while everything fetched was
            // skipped by the filter (or dead-lettered) and the consumer has
            // more, so a poll without wait returns what the embedded bus
            // would; bounded by the embedded bus's scan limit.
            let mut scanned = 0;
            while t.out.len() < max && t.bytes < limit.bytes {
                // The server stops the batch at the byte budget (a message
                // fetched but not returned would wait out its ack time).
                // The first event comes alone under a small budget, so one
                // larger than the budget still goes (and is not refused by
                // the server); then each batch holds at most half the room
                // in message bytes and one event per two field allowances,
                // so with the fields counted it stays within the room.
                let room = limit.bytes - t.bytes;
                let (n, bytes) = if t.out.is_empty() && room < MAX_PAGE_BYTES {
                    (1, MAX_PAGE_BYTES)
                } else {
                    let n = (room / (2 * super::model::EVENT_FIELD_BYTES)).max(1);
                    (n.min(max - t.out.len()), (room / 2).max(1))
                };
                let batch = sub
                    .consumer
                    .fetch()
                    .max_messages(n)
                    .max_bytes(bytes)
                    .messages()
                    .await
                    .map_err(|e| nats_err("poll")(e.to_string()))?;
                let before = t.received;
                self.take(id, &sub, batch, &mut t).await?;
                scanned += t.received - before;
                if t.received == before
                    || t.last_pending == 0
                    || scanned >= crate::events::subscription::SCAN_LIMIT as usize
                {
                    break;
                }
            }
            let now = Instant::now();
            if !t.out.is_empty() || now >= deadline {
                break;
            }
            // Long-poll: a pull request for one event, answered as soon as
            // one is stored (by any process) or when the wait is over.
            let expires = (deadline - now).max(Duration::from_millis(10));
            let batch = sub
                .consumer
                .batch()
                .max_messages(1)
                .expires(expires)
                .messages()
                .await
                .map_err(|e| nats_err("poll")(e.to_string()))?;
            self.take(id, &sub, batch, &mut t).await?;
        }
        let Taken {
            mut out,
            dead_lettered,
            replies,
            firsts,
            ..
        } = t;
        let skipped = async {
            let &last = firsts.iter().max()?;
            let advance = self.advance_cursor(&sub.record.consumer, last, before);
            let check = async {
                let gaps = gaps::gaps(before?.at, firsts);
                self.skipped(&sub.record.filter, &gaps)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!("NATS retention gap: {e}");
                        None
                    })
            };
            tokio::join!(check, advance).0
        };
        self.counters.add(
            counters::Kind::Delivered,
            out.iter().map(|d| (d.event.topic.as_str(), 1)),
        );
        let ((), (), skipped) = tokio::join!(
            self.hold(id, &sub, &out, replies),
            self.counters.flush(),
            skipped
        );
        out.sort_by_key(|d| (Reverse(d.event.priority), d.event.sequence));
        let (pending, awaiting_ack) = match sub.consumer.clone().info().await {
            Ok(i) => (i.num_pending as i64, i.num_ack_pending as i64),
            Err(_) => (0, 0),
        };
        Ok(Polled {
            events: out,
            pending,
            awaiting_ack,
            dead_lettered,
            next_redelivery_us: None,
            skipped,
        })
    }

    /// Records where to ack each delivery of a poll: in this process's
    /// memory and, in one pipelined batch, in the ack bucket ([`acks`]).
    async fn hold(
        &self,
        id: &str,
        sub: &Sub,
        out: &[Delivery],
        mut pulled: HashMap<Uuid, (String, u64)>,
    ) {
        let entries: Vec<(String, acks::Held)> = out
            .iter()
            .filter_map(|d| {
                let (reply, _) = pulled.get(&d.event.event_id)?;
                Some((
                    acks::key(&sub.record.consumer, d.event.event_id),
                    acks::Held {
                        member: id.to_string(),
                        reply: reply.clone(),
                    },
                ))
            })
            .collect();
        let revisions = acks::record(&self.js, self.acks.name.as_str(), &entries).await;
        let expires = Instant::now() + Duration::from_millis(sub.record.ack_wait_ms.max(1) as u64);
        if let Ok(mut m) = self.unacked.lock() {
            for (d, revision) in out.iter().zip(revisions) {
                let Some((reply, seq)) = pulled.remove(&d.event.event_id) else {
                    continue;
                };
                m.insert(
                    (id.to_string(), d.event.event_id),
                    acks::Local {
                        reply,
                        consumer: sub.record.consumer.clone(),
                        stream_sequence: seq,
                        revision,
                        expires,
                    },
                );
            }
        }
    }

    /// Decodes a batch of messages into `t`, acking (skipping) what the
    /// subscription's filter rejects and dead-lettering deliveries past the
    /// subscription's `max_deliveries`.
    async fn take(
        &self,
        id: &str,
        sub: &Sub,
        mut batch: impl futures_util::Stream<Item = Result<jetstream::Message, impl std::fmt::Display>>
        + Unpin,
        t: &mut Taken,
    ) -> Result<(), EventsError> {
        while let Some(m) = batch.next().await {
            let m = match m {
                Ok(m) => m,
                // End of a no-wait fetch or an expired request.
                Err(e) => {
                    tracing::debug!("pull ended: {e}");
                    break;
                }
            };
            let Ok(info) = m.info() else { continue };
            let (seq, delivered, published) =
                (info.stream_sequence, info.delivered, info.published);
            t.received += 1;
            t.last_pending = info.pending;
            if delivered == 1 {
                t.firsts.push(seq);
            }
            let decoded = codec::decode(
                &self.namespace,
                m.subject.as_str(),
                seq,
                published,
                &m.payload,
            );
            let event = match decoded {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("skipping a foreign message: {e}");
                    let _ = m.ack_with(jetstream::AckKind::Term).await;
                    continue;
                }
            };
            if !wanted(&sub.record.filter, &event) {
                let _ = m.ack().await;
                continue;
            }
            // The consumer allows one delivery more than the subscription
            // (see `subscriptions::consumer_config`): that one is the poll
            // that finds the event out of deliveries, as on the embedded bus.
            if delivered > sub.record.max_deliveries {
                match dlq::dead_letter(self, &event, &sub.record.consumer, id, delivered - 1).await
                {
                    Ok(()) => {
                        let _ = m.ack_with(jetstream::AckKind::Term).await;
                        self.forget(&sub.record.consumer, event.event_id, seq).await;
                        t.dead_lettered += 1;
                    }
                    // Left unacked: the max-deliveries advisory retries it.
                    Err(e) => tracing::warn!(seq, "NATS dead-letter: {e}"),
                }
                continue;
            }
            if let Some(reply) = &m.reply {
                t.replies.insert(event.event_id, (reply.to_string(), seq));
            }
            t.bytes += m.payload.len() + super::model::EVENT_FIELD_BYTES;
            t.out.push(Delivery {
                event,
                delivery_count: delivered,
            });
        }
        Ok(())
    }

    /// Drops every record of the delivery of `event_id` through `consumer`
    /// (it was dead-lettered): local ones and its ack-bucket entry.
    async fn forget(&self, consumer: &str, event_id: Uuid, seq: u64) {
        if let Ok(mut m) = self.unacked.lock() {
            m.retain(|(_, e), l| {
                !(*e == event_id && l.consumer == consumer && l.stream_sequence == seq)
            });
        }
        if let Err(e) = self.acks.delete(acks::key(consumer, event_id)).await {
            tracing::debug!("NATS ack bucket: {e}");
        }
    }

    async fn ack(&self, id: &str, ids: Vec<Uuid>) -> Result<Acked, EventsError> {
        self.connected()?;
        let sub = self.sub(id).await?;
        let now = Instant::now();
        let mut mine = Vec::new();
        let mut elsewhere = Vec::new();
        for event_id in ids {
            let local = self
                .unacked
                .lock()
                .ok()
                .and_then(|mut m| m.remove(&(id.to_string(), event_id)));
            match local {
                // Within ack_wait no other member can hold it: ack at once.
                Some(l) if l.expires > now || l.revision.is_none() => mine.push((event_id, l)),
                _ => elsewhere.push(event_id),
            }
        }
        let consumer = sub.record.consumer.as_str();
        let outcomes = futures_util::future::join_all(
            mine.iter()
                .map(|(event_id, l)| self.ack_held(consumer, *event_id, l))
                .chain(elsewhere.iter().map(|event_id| -> BackendFuture<'_, bool> {
                    Box::pin(self.ack_recorded(id, consumer, *event_id))
                })),
        )
        .await;
        let mut out = Acked::default();
        let mut first_err = None;
        let asked = mine
            .into_iter()
            .map(|(e, l)| (e, Some(l)))
            .chain(elsewhere.into_iter().map(|e| (e, None)));
        for ((event_id, local), outcome) in asked.zip(outcomes) {
            match outcome {
                Ok(true) => out.acked += 1,
                Ok(false) => out.not_pending.push(event_id.to_string()),
                Err(e) => {
                    // Keep it: the caller may retry.
                    if let (Some(l), Ok(mut m)) = (local, self.unacked.lock()) {
                        m.insert((id.to_string(), event_id), l);
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Acks a delivery this process made: the ack and the conditional
    /// delete of its ack-bucket entry go out together; `false` when the
    /// entry was gone (acked through another process meanwhile).
    fn ack_held<'a>(
        &'a self,
        consumer: &'a str,
        event_id: Uuid,
        l: &'a acks::Local,
    ) -> BackendFuture<'a, bool> {
        Box::pin(async move {
            let key = acks::key(consumer, event_id);
            let claim = async {
                match l.revision {
                    Some(r) => acks::claim(&self.acks, &key, r).await,
                    None => Ok(acks::Claim::Won),
                }
            };
            // Acks are requests: the server confirms each, so an acked event
            // is never delivered again once this returns.
            let ack = self.client.request(l.reply.clone(), "+ACK".into());
            let (claim, ack) = tokio::join!(claim, ack);
            ack.map_err(|e| nats_err("ack")(e.to_string()))?;
            match claim {
                Ok(c) => Ok(c == acks::Claim::Won),
                Err(e) => {
                    // The ack itself went through; the entry expires.
                    tracing::warn!("{e}");
                    Ok(true)
                }
            }
        })
    }

    /// Acks a delivery through its ack-bucket entry (made by any process):
    /// `false` when there is none for this member.
    async fn ack_recorded(
        &self,
        member: &str,
        consumer: &str,
        event_id: Uuid,
    ) -> Result<bool, EventsError> {
        let key = acks::key(consumer, event_id);
        let Some((held, revision)) = acks::lookup(&self.acks, &key).await? else {
            return Ok(false);
        };
        if held.member != member
            || acks::claim(&self.acks, &key, revision).await? != acks::Claim::Won
        {
            return Ok(false);
        }
        self.client
            .request(held.reply, "+ACK".into())
            .await
            .map_err(|e| nats_err("ack")(e.to_string()))?;
        Ok(true)
    }

    async fn unsubscribe(&self, id: &str) -> Result<(), EventsError> {
        self.connected()?;
        let sub = self.sub(id).await?;
        self.kv
            .delete(id)
            .await
            .map_err(|e| nats_err("delete subscription")(e.to_string()))?;
        if let Ok(mut m) = self.subs.lock() {
            m.remove(id);
        }
        let mine: Vec<acks::Local> = match self.unacked.lock() {
            Ok(mut m) => {
                let keys: Vec<_> = m.keys().filter(|(s, _)| s == id).cloned().collect();
                keys.into_iter().filter_map(|k| m.remove(&k)).collect()
            }
            Err(_) => Vec::new(),
        };
        let others = self
            .records()
            .await?
            .into_iter()
            .any(|(other, r)| other != id && r.consumer == sub.record.consumer);
        if others {
            // Its unacked events go back to the other members now: those
            // recorded in the ack bucket by any process, and those whose
            // record failed, held here. One NAK per delivery: a second one
            // would hand the event back again after another member got it.
            let mut replies: Vec<String> = mine
                .into_iter()
                .filter(|l| l.revision.is_none())
                .map(|l| l.reply)
                .collect();
            match acks::held_by(&self.acks, &self.acks_stream, &sub.record.consumer, id).await {
                Ok(held) => {
                    for (key, reply) in held {
                        let _ = self.acks.delete(&key).await;
                        replies.push(reply);
                    }
                }
                Err(e) => {
                    tracing::warn!("NATS: unacked events of {id} come back after ack_wait: {e}")
                }
            }
            for reply in replies {
                let _ = self.client.publish(reply, "-NAK".into()).await;
            }
        } else {
            self.stream
                .delete_consumer(&sub.record.consumer)
                .await
                .map_err(|e| nats_err("delete consumer")(e.to_string()))?;
            if let Err(e) = self.kv.purge(gaps::cursor_key(&sub.record.consumer)).await {
                tracing::debug!("NATS cursor: {e}");
            }
            // Its ack subjects are of no use any more.
            let purge = self
                .acks_stream
                .purge()
                .filter(format!("$KV.{}.{}.>", self.acks.name, sub.record.consumer))
                .await;
            if let Err(e) = purge {
                tracing::debug!("NATS ack bucket: {e}");
            }
        }
        Ok(())
    }

    async fn replay(&self, q: ReplayQuery) -> Result<ReplayPage, EventsError> {
        self.connected()?;
        let start = match (q.from_sequence, q.after) {
            (Some(f), Some(a)) => Some(f.max(a + 1)),
            (f, a) => f.or(a.map(|a| a + 1)),
        };
        let deliver_policy = match (start, q.since_us) {
            (Some(s), _) => jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: s.max(1) as u64,
            },
            (None, Some(t)) => jetstream::consumer::DeliverPolicy::ByStartTime {
                start_time: codec::time_of_us(t),
            },
            (None, None) => jetstream::consumer::DeliverPolicy::All,
        };
        let mut page = ReplayPage {
            events: Vec::new(),
            next_after: None,
        };
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subscriptions::filter_subject(&self.namespace, &q.filter),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("replay")(e.to_string()))?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(page);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| nats_err("replay")(e.to_string()))?;
        let (mut scanned, mut bytes) = (0, 0);
        let limit = PageLimit {
            events: q.limit,
            bytes: q.bytes,
        };
        loop {
            let next = tokio::time::timeout(REQUEST_TIMEOUT, messages.next())
                .await
                .map_err(|_| nats_err("replay")("timed out reading history".into()))?;
            let Some(m) = next else { break };
            let m = m.map_err(|e| nats_err("replay")(e.to_string()))?;
            let Ok(info) = m.info() else { continue };
            let (seq, pending, published) = (info.stream_sequence, info.pending, info.published);
            scanned += 1;
            if let Ok(e) = codec::decode(
                &self.namespace,
                m.subject.as_str(),
                seq,
                published,
                &m.payload,
            ) {
                if q.until_us.is_some_and(|u| e.timestamp_us > u) {
                    break;
                }
                if q.since_us.is_none_or(|s| e.timestamp_us >= s) && wanted(&q.filter, &e) {
                    let cost = PageLimit::cost(&e, m.payload.len());
                    if !limit.admits(page.events.len(), bytes, cost) {
                        // Not taken: the next page starts with it.
                        page.next_after = Some(seq as i64 - 1);
                        break;
                    }
                    page.events.push(e);
                    bytes += cost;
                }
            }
            if pending == 0 {
                break;
            }
            if page.events.len() as i64 >= q.limit || scanned >= REPLAY_SCAN_BUDGET {
                page.next_after = Some(seq as i64);
                break;
            }
        }
        Ok(page)
    }

    /// Stored message counts per subject of the stream.
    async fn subject_counts(&self) -> Result<Vec<(String, u64)>, EventsError> {
        let mut subjects = self
            .stream
            .info_with_subjects(format!("{}.>", self.namespace))
            .await
            .map_err(|e| nats_err("topics")(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(s) = subjects.next().await {
            let (subject, n) = s.map_err(|e| nats_err("topics")(e.to_string()))?;
            out.push((subject, n as u64));
        }
        out.sort();
        Ok(out)
    }

    async fn topics(&self) -> Result<Vec<TopicStats>, EventsError> {
        self.connected()?;
        let counts = self.subject_counts().await?;
        let prefix = format!("{}.", self.namespace);
        let by_subject: HashMap<&str, u64> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        use counters::Kind;
        let mut by_kind = self
            .counters
            .read(&[Kind::Published, Kind::Delivered])
            .await?;
        let published = by_kind.remove(&Kind::Published).unwrap_or_default();
        let delivered = by_kind.remove(&Kind::Delivered).unwrap_or_default();
        let mut out = Vec::new();
        for (subject, stored) in counts.iter().take(MAX_TOPICS) {
            let Some(topic) = subject.strip_prefix(&prefix) else {
                continue;
            };
            let (last_sequence, last_timestamp_us) =
                match self.stream.get_last_raw_message_by_subject(subject).await {
                    Ok(m) => (
                        m.sequence as i64,
                        (m.time.unix_timestamp_nanos() / 1000) as i64,
                    ),
                    Err(_) => (0, 0),
                };
            // Events stored before the counters existed count as published.
            let ever =
                |topic: &str, stored: i64| published.get(topic).copied().unwrap_or(0).max(stored);
            let stored = *stored as i64;
            let published = ever(topic, stored);
            let dlq = format!("{}{topic}", crate::events::subscription::DLQ_PREFIX);
            let dlq_stored = by_subject
                .get(format!("{prefix}{dlq}").as_str())
                .copied()
                .unwrap_or(0) as i64;
            out.push(TopicStats {
                topic: topic.to_string(),
                stored,
                published,
                delivered: delivered.get(topic).copied().unwrap_or(0),
                pending: 0,
                dead_lettered: ever(&dlq, dlq_stored),
                trimmed: published - stored,
                last_sequence,
                last_timestamp_us,
            });
        }
        Ok(out)
    }

    async fn recent(&self, topic: &str, n: i64) -> Result<Vec<Event>, EventsError> {
        let q = ReplayQuery {
            filter: Filter {
                topics: vec![topic.to_string()],
                ..Default::default()
            },
            from_sequence: None,
            since_us: None,
            until_us: None,
            limit: i64::MAX,
            bytes: MAX_PAGE_BYTES,
            after: None,
        };
        let mut events = self.replay(q).await?.events;
        let keep = n.max(0) as usize;
        if events.len() > keep {
            events.drain(..events.len() - keep);
        }
        Ok(events)
    }

    async fn subscriptions(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<SubscriptionsPage, EventsError> {
        self.connected()?;
        let dead = self.counters.read_one(counters::Kind::DeadLettered).await?;
        let mut out = Vec::new();
        let records = self.records().await?;
        let total = records.len();
        // Paged before the per-consumer round trips.
        for (id, r) in records.into_iter().skip(offset).take(limit) {
            let info = self.stream.consumer_info(&r.consumer).await.ok();
            // A consumer's unacked deliveries are its subscription's, or
            // shared by a group's members: then the ack bucket says whose.
            let awaiting_ack = match (&r.group, &info) {
                (None, Some(i)) => i.num_ack_pending as i64,
                _ => match acks::held_by(&self.acks, &self.acks_stream, &r.consumer, &id).await {
                    Ok(held) => held.len() as i64,
                    Err(_) => self
                        .unacked
                        .lock()
                        .map(|m| m.keys().filter(|(s, _)| *s == id).count() as i64)
                        .unwrap_or(0),
                },
            };
            let dead_lettered = dead.get(&id).copied().unwrap_or(0);
            out.push(SubscriptionStats {
                subscription_id: id,
                name: r.name,
                group: r.group,
                topics: r.filter.topics,
                next_sequence: info
                    .as_ref()
                    .map_or(0, |i| i.delivered.stream_sequence as i64 + 1),
                delivered: info
                    .as_ref()
                    .map_or(0, |i| i.delivered.consumer_sequence as i64),
                redelivered: info.as_ref().map_or(0, |i| i.num_redelivered as i64),
                acked: info
                    .as_ref()
                    .map_or(0, |i| i.ack_floor.consumer_sequence as i64),
                pending: info.as_ref().map_or(0, |i| i.num_pending as i64),
                pending_at_least: false,
                awaiting_ack,
                dead_lettered,
            });
        }
        Ok(SubscriptionsPage {
            subscriptions: out,
            total,
        })
    }
}

/// Whether `e` passes `filter` (topic patterns, types, sources, priority,
/// payload fields): the same rules as the embedded bus.
fn wanted(filter: &Filter, e: &Event) -> bool {
    filter.matches_head(Head {
        topic: &e.topic,
        event_type: &e.event_type,
        source: &e.source,
        priority: e.priority.as_i64(),
    }) && (!filter.needs_payload() || filter.matches_payload(&e.payload.to_string()))
}

/// Refuses servers older than [`MIN_SERVER`] or without JetStream.
fn check_server(version: &str, jetstream: bool) -> Result<(), EventsError> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if v < MIN_SERVER {
        return Err(EventsError::Stopped(format!(
            "nats-server {version} is too old: {}.{} or newer is needed",
            MIN_SERVER.0, MIN_SERVER.1
        )));
    }
    if !jetstream {
        return Err(EventsError::Stopped(format!(
            "nats-server {version} runs without JetStream: start it with -js"
        )));
    }
    Ok(())
}

/// Forwards the topic of every event stored in the namespace (by any
/// process) to the update broadcast, for resource notifications.
async fn notify_updates(inner: Arc<Inner>) {
    let subject = format!("{}.>", inner.namespace);
    let prefix = format!("{}.", inner.namespace);
    let mut sub = match inner.client.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("NATS: no topic update notifications: {e}");
            return;
        }
    };
    while let Some(m) = sub.next().await {
        if let Some(topic) = m.subject.as_str().strip_prefix(&prefix) {
            let _ = inner.updates.send(Arc::from(topic));
        }
    }
}

impl EventSink for NatsBus {
    fn publish(&self, event: OutboundEvent) -> Result<(), String> {
        let e = NewEvent::from_outbound(event).map_err(|e| e.to_string())?;
        let inner = self.inner.clone();
        self.inner.runtime.spawn(async move {
            if let Err(err) = inner.publish(vec![e]).await {
                tracing::warn!("NATS: could not publish an event of another subsystem: {err}");
            }
        });
        Ok(())
    }

    fn publish_stored(&self, events: Vec<OutboundEvent>) -> StoredFuture<'_> {
        let batch = crate::events::model::from_outbound_batch(events);
        Box::pin(async move {
            if !batch.is_empty() {
                self.inner.publish(batch).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }
}

impl EventBackend for NatsBus {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn ready(&self) -> Result<(), String> {
        self.inner.connected().map_err(|e| e.to_string())
    }

    fn publish_events(&self, events: Vec<NewEvent>) -> BackendFuture<'_, Vec<Appended>> {
        Box::pin(self.inner.publish(events))
    }

    fn subscribe(&self, spec: SubscriptionSpec) -> BackendFuture<'_, Subscribed> {
        Box::pin(self.inner.subscribe(spec))
    }

    fn poll<'a>(
        &'a self,
        subscription_id: &'a str,
        limit: PageLimit,
        wait: Duration,
    ) -> BackendFuture<'a, Polled> {
        Box::pin(self.inner.poll(subscription_id, limit, wait))
    }

    fn ack<'a>(&'a self, subscription_id: &'a str, ids: Vec<Uuid>) -> BackendFuture<'a, Acked> {
        Box::pin(self.inner.ack(subscription_id, ids))
    }

    fn unsubscribe<'a>(&'a self, subscription_id: &'a str) -> BackendFuture<'a, ()> {
        Box::pin(self.inner.unsubscribe(subscription_id))
    }

    fn replay(&self, q: ReplayQuery) -> BackendFuture<'_, ReplayPage> {
        Box::pin(self.inner.replay(q))
    }

    fn topics(&self) -> BackendFuture<'_, Vec<TopicStats>> {
        Box::pin(self.inner.topics())
    }

    fn recent<'a>(&'a self, topic: &'a str, n: i64) -> BackendFuture<'a, Vec<Event>> {
        Box::pin(self.inner.recent(topic, n))
    }

    fn subscriptions(&self, offset: usize, limit: usize) -> BackendFuture<'_, SubscriptionsPage> {
        Box::pin(self.inner.subscriptions(offset, limit))
    }

    fn topic_updates(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.updates.subscribe()
    }
}

/// Creates the stream, or brings an existing one's settings up to date when
/// they differ from `want`. Processes starting at once on one namespace race
/// here: a create that loses is refused although the stream it wanted now
/// exists, so a refusal is retried a few times (finding the stream then).
/// An existing stream is updated only when a setting we choose differs:
/// nats-server 2.9.10 crashes (nil pointer in `updateWithAdvisory`) when an
/// update reaches a stream another client is still creating, which
/// `create_or_update_stream` from three processes at once did within a few
/// dozen rounds.
async fn ensure_stream(
    js: &jetstream::Context,
    want: stream::Config,
) -> Result<stream::Stream, String> {
    use jetstream::context::GetStreamErrorKind;
    let mut attempt = 0;
    loop {
        let outcome = match js.get_stream(&want.name).await {
            Ok(found) if !settings_differ(&found.cached_info().config, &want) => Ok(found),
            Ok(mut found) => match js.update_stream(&want).await {
                // Refresh the handle's cached settings.
                Ok(_) => match found.info().await {
                    Ok(_) => Ok(found),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                js.create_stream(want.clone())
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(stream) => return Ok(stream),
            Err(e) if attempt < 4 => {
                attempt += 1;
                tracing::debug!(
                    stream = want.name,
                    attempt,
                    "NATS stream not ready ({e}); retrying"
                );
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `have` differs from `want` in a setting this server chooses
/// (fields `want` leaves at their defaults are the server's to fill in).
fn settings_differ(have: &stream::Config, want: &stream::Config) -> bool {
    have.subjects != want.subjects
        || have.description != want.description
        || have.max_messages_per_subject != want.max_messages_per_subject
        || have.max_age != want.max_age
        || have.discard != want.discard
        || have.allow_rollup != want.allow_rollup
        || have.deny_delete != want.deny_delete
        || have.allow_direct != want.allow_direct
        || have.storage != want.storage
        || (want.duplicate_window != Duration::ZERO
            && have.duplicate_window != want.duplicate_window)
}

/// Creates (or updates) KV bucket `bucket` and opens it, with its stream
/// (for reading many keys at once, [`last_values`]). The stream is made
/// with the KV conventions (`KV_<bucket>`, `$KV.<bucket>.>`, one message per
/// key) rather than by `create_key_value`, whose request a 2.9 server
/// answers in a form this client cannot parse; reads and writes then use the
/// KV API. `max_age` zero keeps values until deleted.
pub(crate) async fn open_kv(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    max_age: Duration,
) -> Result<(kv::Store, stream::Stream), String> {
    let stream = ensure_stream(js, kv_stream(bucket, description, max_age)).await?;
    let kv = js.get_key_value(bucket).await.map_err(|e| e.to_string())?;
    Ok((kv, stream))
}

/// The live (not deleted) entries of a KV bucket's stream under
/// `filter_subject`, as (subject, value): the last message per subject,
/// read by a consumer without acks in pulls of everything still pending,
/// each pull waiting at most [`KV_READ_TIMEOUT`].
///
/// Why whole pulls rather than an ordered consumer's stream: that stream
/// pulls 500 messages at a time, and under load its next pull stalled past
/// the timeout (seen in `result_bounds`' stats of 3,000 topics on NATS: 500
/// of 3,000 entries read, then nothing for 5 s). A key rewritten while it
/// is read moves to the stream's end; the next pull, for what the last
/// message says is still pending, picks it up.
pub(crate) async fn last_values(
    stream: &stream::Stream,
    filter_subject: String,
) -> Result<Vec<(String, bytes::Bytes)>, String> {
    let reader = stream
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject,
            deliver_policy: jetstream::consumer::DeliverPolicy::LastPerSubject,
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: KV_READ_TIMEOUT,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut pending = reader.cached_info().num_pending;
    // Without acks the server counts a message delivered once sent: one the
    // client dropped (a full subscription buffer) shows as a gap in the
    // consumer's sequence, and the read fails rather than miss an entry.
    let mut delivered = 0;
    while pending > 0 {
        let mut batch = reader
            .batch()
            .max_messages(pending.min(KV_READ_PULL) as usize)
            .expires(KV_READ_TIMEOUT)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let mut got = 0;
        // The server ends the pull after that many messages or at its expiry.
        while let Some(m) = tokio::time::timeout(2 * KV_READ_TIMEOUT, batch.next())
            .await
            .map_err(|_| "timed out reading entries".to_string())?
        {
            let m = m.map_err(|e| e.to_string())?;
            got += 1;
            let info = m.info().map_err(|e| e.to_string())?;
            if info.consumer_sequence != delivered + 1 {
                return Err("entries were lost while reading them; try again".into());
            }
            delivered = info.consumer_sequence;
            pending = info.pending;
            let deleted = m
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some();
            if !deleted {
                out.push((m.subject.to_string(), m.payload.clone()));
            }
            if pending == 0 {
                break;
            }
        }
        if got == 0 {
            return Err("timed out reading entries".into());
        }
    }
    Ok(out)
}

/// The stream behind a KV bucket, as `create_key_value` would make it (one
/// value per key, file storage, direct gets).
fn kv_stream(bucket: &str, description: &str, max_age: std::time::Duration) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_older_than_2_9_or_without_jetstream_are_refused() {
        assert!(check_server("2.9.10", true).is_ok());
        assert!(check_server("2.10.0", true).is_ok());
        let old = check_server("2.8.4", true).unwrap_err().to_string();
        assert!(old.contains("2.8.4 is too old"), "{old}");
        let nojs = check_server("2.9.10", false).unwrap_err().to_string();
        assert!(nojs.contains("-js"), "{nojs}");
    }
}
