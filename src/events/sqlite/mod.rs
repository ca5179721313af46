//! The embedded SQLite driver: the bus ([`SqliteBus`]: [`bus`], its single
//! writer thread [`writer`], the log [`log`], consumers [`consumer`],
//! replay and statistics [`query`], long-poll wake-ups [`watch`], tables
//! [`schema`]) and [`SqliteBackend`], the bus behind [`EventBackend`].
//!
//! A wrapper rather than an `impl` on `SqliteBus` itself: reads run on a
//! reader connection inside `spawn_blocking`, which needs an owned
//! `Arc<SqliteBus>` to move into the blocking task.

pub mod bus;
pub mod consumer;
pub mod log;
pub mod query;
pub mod schema;
pub mod watch;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

pub use self::bus::SqliteBus;

use crate::bus::{EventSink, OutboundEvent, StoredFuture};
use crate::events::backend::{BackendFuture, EventBackend};
use crate::events::model::{Appended, ReplayPage, ReplayQuery, SubscriptionsPage, TopicStats};
use crate::events::model::{Event, NewEvent, PageLimit};
use crate::events::subscription::{Acked, Polled, Subscribed, SubscriptionSpec};

/// [`SqliteBus`] as an [`EventBackend`].
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    bus: Arc<SqliteBus>,
}

impl SqliteBackend {
    /// Wraps an opened bus.
    pub fn new(bus: Arc<SqliteBus>) -> SqliteBackend {
        SqliteBackend { bus }
    }

    /// The bus itself (its SQLite-specific methods).
    pub fn bus(&self) -> &Arc<SqliteBus> {
        &self.bus
    }
}

impl EventSink for SqliteBackend {
    fn publish(&self, event: OutboundEvent) -> Result<(), String> {
        EventSink::publish(&*self.bus, event)
    }

    fn publish_stored(&self, events: Vec<OutboundEvent>) -> StoredFuture<'_> {
        self.bus.publish_stored(events)
    }
}

impl EventBackend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn publish_events(&self, events: Vec<NewEvent>) -> BackendFuture<'_, Vec<Appended>> {
        Box::pin(self.bus.publish(events))
    }

    fn subscribe(&self, spec: SubscriptionSpec) -> BackendFuture<'_, Subscribed> {
        Box::pin(self.bus.subscribe(spec))
    }

    fn poll<'a>(
        &'a self,
        subscription_id: &'a str,
        limit: PageLimit,
        wait: Duration,
    ) -> BackendFuture<'a, Polled> {
        Box::pin(self.bus.poll(subscription_id, limit, wait))
    }

    fn ack<'a>(&'a self, subscription_id: &'a str, ids: Vec<Uuid>) -> BackendFuture<'a, Acked> {
        Box::pin(self.bus.ack(subscription_id, ids))
    }

    fn unsubscribe<'a>(&'a self, subscription_id: &'a str) -> BackendFuture<'a, ()> {
        Box::pin(self.bus.unsubscribe(subscription_id))
    }

    fn replay(&self, q: ReplayQuery) -> BackendFuture<'_, ReplayPage> {
        Box::pin(self.bus.read(move |c| query::replay(c, &q)))
    }

    fn topics(&self) -> BackendFuture<'_, Vec<TopicStats>> {
        Box::pin(self.bus.read(query::topics))
    }

    fn recent<'a>(&'a self, topic: &'a str, n: i64) -> BackendFuture<'a, Vec<Event>> {
        let topic = topic.to_string();
        Box::pin(self.bus.read(move |c| query::recent(c, &topic, n)))
    }

    fn subscriptions(&self, offset: usize, limit: usize) -> BackendFuture<'_, SubscriptionsPage> {
        Box::pin(
            self.bus
                .read(move |c| query::subscriptions(c, offset, limit)),
        )
    }

    fn topic_updates(&self) -> broadcast::Receiver<Arc<str>> {
        self.bus.topic_updates()
    }
}
