//! [`SqliteBus`]: the events subsystem's front door, shared by the MCP tools,
//! the other subsystems (through [`crate::bus::EventSink`]) and benchmarks.
//!
//! Writes go to the writer thread (group commit, see [`super::writer`]) and
//! are awaited on a oneshot; reads (replay, stats, resources) run on a small
//! pool of reader connections inside `spawn_blocking`. Long-polls wait on
//! [`super::watch::Signal`], never holding a connection or lock while they
//! wait.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use super::log::Stored;
use super::query::{self};
use super::watch::{self, Signal};
use super::writer::{self, Command};
use crate::bus::{EventSink, OutboundEvent, StoredFuture};
use crate::events::error::EventsError;
use crate::events::model::{Appended, ReplayPage, ReplayQuery, SubscriptionsPage, TopicStats};
use crate::events::model::{NewEvent, PageLimit};
use crate::events::subscription::{Acked, Polled, Subscribed, SubscriptionSpec};
use crate::events::{EventsConfig, FsyncMode};
use crate::store::Store;
use crossbeam_channel::{Sender, TrySendError, bounded};

/// Commands that may wait for the writer; a full queue makes
/// fire-and-forget publishes fail fast instead of blocking their caller.
pub const QUEUE_CAPACITY: usize = 65_536;
/// Page cache of the writer connection, KiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// How often WAL frames are checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The event bus of one process.
#[derive(Debug)]
pub struct SqliteBus {
    sender: Sender<Command>,
    writer: Arc<writer::Writer>,
    readers: Mutex<Vec<Connection>>,
    store_path: std::path::PathBuf,
    signal: Arc<Signal>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    config: EventsConfig,
}

impl SqliteBus {
    /// Starts the writer and watcher threads over an opened (migrated) store.
    pub fn open(store: &Store, config: EventsConfig) -> Result<Arc<SqliteBus>, EventsError> {
        // Checkpoints run on their own thread, not on the publish path, until
        // the WAL passes the store's limit; then the commit that crossed it
        // truncates it (see `store::wal`: the checkpointer alone never
        // catches up with a writer that never pauses).
        let writer_conn = store.connect_writer()?;
        // A larger page cache keeps the (topic_id, seq) index pages of busy
        // topics in memory across a group instead of spilling them to the
        // WAL.
        writer_conn.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};"))?;
        if config.fsync == FsyncMode::Always {
            // In WAL mode FULL syncs the log at every commit: with the
            // writer's grouping that is one fsync per group of publishes.
            writer_conn.execute_batch("PRAGMA synchronous = FULL")?;
        }
        let watch_conn = store.connect()?;
        let signal = Arc::new(Signal::new());
        let (tx, rx) = bounded(QUEUE_CAPACITY);
        let retention = config.retention.clone();
        let s = signal.clone();
        let writer = Arc::new(writer::Writer::new(
            writer_conn,
            rx,
            tx.clone(),
            retention,
            s,
            config.fsync != FsyncMode::Always,
        ));
        let w = writer.clone();
        let writer_thread = std::thread::Builder::new()
            .name("events-writer".into())
            .spawn(move || writer::run(w))
            .map_err(|e| EventsError::Stopped(e.to_string()))?;
        let checkpoint_conn = store.connect()?;
        let s = signal.clone();
        let checkpointer = std::thread::Builder::new()
            .name("events-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, s))
            .map_err(|e| EventsError::Stopped(e.to_string()))?;
        let s = signal.clone();
        let watcher = std::thread::Builder::new()
            .name("events-watch".into())
            .spawn(move || watch::run(watch_conn, s))
            .map_err(|e| EventsError::Stopped(e.to_string()))?;
        Ok(Arc::new(SqliteBus {
            sender: tx,
            writer,
            readers: Mutex::new(Vec::new()),
            store_path: store.path().to_path_buf(),
            signal,
            threads: Mutex::new(vec![writer_thread, watcher, checkpointer]),
            config,
        }))
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    fn send(&self, cmd: Command) -> Result<(), EventsError> {
        self.sender
            .send(cmd)
            .map_err(|_| EventsError::Stopped("writer thread ended".into()))
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, EventsError>>) -> Command,
    ) -> Result<T, EventsError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(make(tx)).await?;
        rx.await.map_err(|_| writer_dropped())?
    }

    /// Queues a command for the writer thread.
    async fn enqueue(&self, cmd: Command) -> Result<(), EventsError> {
        // The queue is large; when it is full, wait for room off the runtime.
        match self.sender.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(cmd)) => {
                let sender = self.sender.clone();
                let sent = tokio::task::spawn_blocking(move || sender.send(cmd).is_ok())
                    .await
                    .map_err(|e| EventsError::Stopped(e.to_string()))?;
                if sent {
                    Ok(())
                } else {
                    Err(EventsError::Stopped("writer thread ended".into()))
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(EventsError::Stopped("writer thread ended".into()))
            }
        }
    }

    /// Publishes validated events in one transaction; returns their places.
    /// Written on the calling thread when the writer is idle, else queued.
    pub async fn publish(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, EventsError> {
        match self.start_publish(events) {
            Started::Written(r) => r,
            Started::Queued(cmd, rx) => {
                self.enqueue(cmd).await?;
                rx.await.map_err(|_| writer_dropped())?
            }
        }
        .map(Stored::into_appended)
    }

    /// As [`SqliteBus::publish`], blocking the calling (non-async) thread.
    pub fn publish_blocking(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, EventsError> {
        match self.start_publish(events) {
            Started::Written(r) => r,
            Started::Queued(cmd, rx) => {
                self.send(cmd)?;
                rx.blocking_recv().map_err(|_| writer_dropped())?
            }
        }
        .map(Stored::into_appended)
    }

    /// Writes `events` inline when the writer is idle, else hands back the
    /// command to queue and where its answer will come.
    fn start_publish(&self, events: Vec<NewEvent>) -> Started {
        let (tx, mut rx) = oneshot::channel();
        let cmd = Command::Publish {
            events,
            reply: Some(tx),
        };
        match self.writer.try_inline(cmd) {
            Ok(()) => Started::Written(rx.try_recv().map_err(|_| writer_dropped()).and_then(|r| r)),
            Err(cmd) => Started::Queued(cmd, rx),
        }
    }

    /// Queues events without waiting; fails at once when the queue is full.
    pub fn publish_nowait(&self, events: Vec<NewEvent>) -> Result<(), EventsError> {
        match self.sender.try_send(Command::Publish {
            events,
            reply: None,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(EventsError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                Err(EventsError::Stopped("writer thread ended".into()))
            }
        }
    }

    /// Creates a durable subscription.
    pub async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscribed, EventsError> {
        self.call(|reply| Command::Subscribe { spec, reply }).await
    }

    /// Delivers up to `limit` (a count of events, or a [`PageLimit`]); with
    /// `wait` > 0, waits (up to `wait`) for the first one to arrive, from
    /// this process or another.
    pub async fn poll(
        &self,
        subscription_id: &str,
        limit: impl Into<PageLimit>,
        wait: Duration,
    ) -> Result<Polled, EventsError> {
        let limit = limit.into();
        let deadline = Instant::now() + wait;
        let _waiter = (!wait.is_zero()).then(|| self.signal.waiter());
        // Dead-lettered over every round of the wait, not just the last.
        let mut dead_lettered = 0;
        loop {
            // Register interest before looking, so a publish between the
            // look and the wait is not missed.
            let notified = self.signal.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let id = subscription_id.to_string();
            let polled = self
                .call(|reply| Command::Poll {
                    subscription_id: id,
                    limit,
                    reply,
                })
                .await?;
            dead_lettered += polled.dead_lettered;
            let now = Instant::now();
            if !polled.events.is_empty() || now >= deadline {
                return Ok(Polled {
                    dead_lettered,
                    ..polled
                });
            }
            let mut until = deadline;
            if let Some(next) = polled.next_redelivery_us {
                let in_us = (next - crate::events::model::now_us()).max(0) as u64;
                until = until.min(now + Duration::from_micros(in_us));
            }
            // The watcher also wakes us for commits by other processes.
            let _ = tokio::time::timeout_at(until.into(), notified).await;
        }
    }

    /// Acknowledges deliveries.
    pub async fn ack(&self, subscription_id: &str, ids: Vec<Uuid>) -> Result<Acked, EventsError> {
        let subscription_id = subscription_id.to_string();
        self.call(|reply| Command::Ack {
            subscription_id,
            ids,
            reply,
        })
        .await
    }

    /// Removes a subscription.
    pub async fn unsubscribe(&self, subscription_id: &str) -> Result<(), EventsError> {
        let subscription_id = subscription_id.to_string();
        self.call(|reply| Command::Unsubscribe {
            subscription_id,
            reply,
        })
        .await
    }

    /// Runs `f` on a reader connection off the async runtime.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, EventsError> + Send + 'static,
    ) -> Result<T, EventsError> {
        let bus = self.clone();
        tokio::task::spawn_blocking(move || bus.read_blocking(f))
            .await
            .map_err(|e| EventsError::Stopped(e.to_string()))?
    }

    /// Runs `f` on a reader connection on this thread.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EventsError>,
    ) -> Result<T, EventsError> {
        let conn = self.readers.lock().ok().and_then(|mut v| v.pop());
        let conn = match conn {
            Some(c) => c,
            None => crate::store::open_reader(&self.store_path)?,
        };
        let out = f(&conn);
        if let Ok(mut v) = self.readers.lock()
            && v.len() < 8
        {
            v.push(conn);
        }
        out
    }

    /// A page of history.
    pub async fn replay(self: &Arc<Self>, q: ReplayQuery) -> Result<ReplayPage, EventsError> {
        self.read(move |c| query::replay(c, &q)).await
    }

    /// Topics with counters.
    pub async fn topics(self: &Arc<Self>) -> Result<Vec<TopicStats>, EventsError> {
        self.read(query::topics).await
    }

    /// A page of subscriptions with counters.
    pub async fn subscriptions(
        self: &Arc<Self>,
        offset: usize,
        limit: usize,
    ) -> Result<SubscriptionsPage, EventsError> {
        self.read(move |c| query::subscriptions(c, offset, limit))
            .await
    }

    /// Topics of newly stored events, from any process sharing the store.
    pub fn topic_updates(&self) -> broadcast::Receiver<Arc<str>> {
        self.signal.topic_updates()
    }
}

impl Drop for SqliteBus {
    fn drop(&mut self) {
        // The writer finishes what was queued before the shutdown command,
        // so fire-and-forget publishes are not lost at exit.
        let _ = self.sender.send(Command::Shutdown);
        self.signal.stop();
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A publish once it has been tried inline.
enum Started {
    /// Written inline: its result.
    Written(Result<Stored, EventsError>),
    /// To queue for the writer thread, with the receiver of its answer.
    Queued(Command, oneshot::Receiver<Result<Stored, EventsError>>),
}

fn writer_dropped() -> EventsError {
    EventsError::Stopped("writer dropped the request".into())
}

/// Copies committed WAL frames into the database file every
/// [`CHECKPOINT_EVERY`] (PASSIVE: never blocks the writer or readers), so the
/// writer's commits stay appends to the log.
fn checkpoint_loop(conn: Connection, signal: Arc<Signal>) {
    while !signal.stopped() {
        std::thread::park_timeout(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("events checkpoint: {e}");
        }
    }
}

impl EventSink for SqliteBus {
    fn publish(&self, event: OutboundEvent) -> Result<(), String> {
        let e = NewEvent::from_outbound(event).map_err(|e| e.to_string())?;
        self.publish_nowait(vec![e]).map_err(|e| e.to_string())
    }

    fn publish_stored(&self, events: Vec<OutboundEvent>) -> StoredFuture<'_> {
        let batch = crate::events::model::from_outbound_batch(events);
        Box::pin(async move {
            if !batch.is_empty() {
                self.publish(batch).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_stays_under_the_store_limit_through_a_burst_and_sustained_publishes() {
        let tmp = tempfile::tempdir().unwrap();
        let limit = crate::store::wal::MIN_WAL_LIMIT;
        let store =
            Store::open_with_wal_limit(tmp.path(), &[("events", crate::events::MIGRATIONS)], limit)
                .unwrap();
        let bus = SqliteBus::open(&store, EventsConfig::default()).unwrap();
        let event = |i: usize| {
            crate::events::model::EventInput {
                topic: format!("t.{}", i % 10),
                event_type: "x".into(),
                payload: Some(serde_json::json!({"pad": "x".repeat(200), "i": i})),
                ..Default::default()
            }
            .validate("")
            .unwrap()
        };
        let wal = store.path().with_extension("db-wal");
        let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        // One transaction far larger than the limit: the commit that crossed
        // it truncates the log right away.
        let burst: Vec<_> = (0..20_000).map(event).collect();
        bus.publish_blocking(burst).unwrap();
        assert!(size() <= limit, "WAL {} bytes after the burst", size());
        // Publishes back to back, each its own commit, with the background
        // checkpointer running: the log never restarts by itself.
        let mut largest = 0;
        for i in 0..6_000 {
            bus.publish_blocking(vec![event(i)]).unwrap();
            largest = largest.max(size());
        }
        assert!(
            largest <= limit + 64 * 1024,
            "the WAL reached {largest} bytes"
        );
        let stored: i64 = store
            .connect()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM events_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 26_000, "nothing lost");
    }
}
