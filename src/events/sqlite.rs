//! The embedded SQLite bus ([`EventBus`]) behind [`EventBackend`].
//!
//! A wrapper rather than an `impl` on `EventBus` itself: reads run on a
//! reader connection inside `spawn_blocking`, which needs an owned
//! `Arc<EventBus>` to move into the blocking task.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

use super::EventBus;
use super::backend::{BackendFuture, EventBackend};
use super::consumer::{Acked, Polled, Subscribed, SubscriptionSpec};
use super::log::Appended;
use super::model::{Event, NewEvent, PageLimit};
use super::query::{self, ReplayPage, ReplayQuery, SubscriptionsPage, TopicStats};
use crate::bus::{EventSink, OutboundEvent, StoredFuture};

/// [`EventBus`] as an [`EventBackend`].
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    bus: Arc<EventBus>,
}

impl SqliteBackend {
    /// Wraps an opened bus.
    pub fn new(bus: Arc<EventBus>) -> SqliteBackend {
        SqliteBackend { bus }
    }

    /// The bus itself (its SQLite-specific methods).
    pub fn bus(&self) -> &Arc<EventBus> {
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
