//! [`EventBackend`]: what the MCP tools, the bus contract ([`EventSink`]) and the
//! resource notifications need from an event bus, so the embedded SQLite bus
//! ([`super::sqlite::SqliteBackend`] over [`super::SqliteBus`]) and NATS
//! JetStream ([`super::nats::NatsBus`]) are interchangeable behind `App.events`.
//!
//! The trait is object-safe (futures are boxed) because the backend is chosen
//! at start-up from a flag. It takes and returns the domain types that are
//! shared by both backends: events are validated ([`super::model`]), filters
//! parsed ([`super::filter`]) and subscriptions specified
//! ([`super::subscription::SubscriptionSpec`]) before a backend sees them, so the
//! rules live in one place.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

use super::error::EventsError;
use super::model::{Event, NewEvent, PageLimit};
use crate::bus::EventSink;
use crate::events::model::{Appended, ReplayPage, ReplayQuery, SubscriptionsPage, TopicStats};
use crate::events::subscription::{Acked, Polled, Subscribed, SubscriptionSpec};

/// A boxed future of a backend call.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EventsError>> + Send + 'a>>;

/// An event bus: publish, durable subscriptions, history and counters.
///
/// Contracts shared by every implementation:
/// - `publish_events` returns once the events are stored (they survive a crash of
///   this process), with consecutive sequences in batch order;
/// - `poll` returns pending events of the subscription, highest priority
///   first, then by sequence; with `wait` > 0 it returns as soon as one
///   event is there (published by any process);
/// - unknown subscription ids give [`EventsError::UnknownSubscription`].
pub trait EventBackend: EventSink + Send + Sync + std::fmt::Debug {
    /// Which engine: `sqlite` or `nats`.
    fn kind(&self) -> &'static str;
    /// Whether the bus can take a publish now (`/readyz`); the error says
    /// why not. The embedded bus is ready while its store is.
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
    /// Stores validated events; returns their places. (Named apart from
    /// [`EventSink::publish`], the fire-and-forget path of other subsystems.)
    fn publish_events(&self, events: Vec<NewEvent>) -> BackendFuture<'_, Vec<Appended>>;
    /// Creates a durable subscription (or joins its group).
    fn subscribe(&self, spec: SubscriptionSpec) -> BackendFuture<'_, Subscribed>;
    /// Delivers up to `limit`, waiting up to `wait` for the first event.
    fn poll<'a>(
        &'a self,
        subscription_id: &'a str,
        limit: PageLimit,
        wait: Duration,
    ) -> BackendFuture<'a, Polled>;
    /// Acknowledges deliveries of a subscription.
    fn ack<'a>(&'a self, subscription_id: &'a str, ids: Vec<Uuid>) -> BackendFuture<'a, Acked>;
    /// Removes a subscription.
    fn unsubscribe<'a>(&'a self, subscription_id: &'a str) -> BackendFuture<'a, ()>;
    /// A page of history.
    fn replay(&self, q: ReplayQuery) -> BackendFuture<'_, ReplayPage>;
    /// Topics with counters.
    fn topics(&self) -> BackendFuture<'_, Vec<TopicStats>>;
    /// The newest `n` stored events of one topic, oldest first.
    fn recent<'a>(&'a self, topic: &'a str, n: i64) -> BackendFuture<'a, Vec<Event>>;
    /// Subscriptions `offset..offset + limit` (oldest first) with counters,
    /// and how many there are.
    fn subscriptions(&self, offset: usize, limit: usize) -> BackendFuture<'_, SubscriptionsPage>;
    /// Topics of newly stored events, from any process sharing the bus.
    fn topic_updates(&self) -> broadcast::Receiver<Arc<str>>;
}
