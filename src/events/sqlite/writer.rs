//! The writer: the one place in a process that writes events state, and
//! the group commit.
//!
//! Every write (publish, subscribe, poll, ack, unsubscribe) is a command.
//! Whoever writes takes the first command, drains whatever else queued up
//! meanwhile (up to [`MAX_GROUP`] commands), runs them all in ONE
//! `BEGIN IMMEDIATE` transaction and commits once: under load, many
//! concurrent publishes share one commit, and with `--events-fsync always`
//! one fsync. A command that fails is rolled back to its own savepoint
//! without failing the others.
//!
//! Who writes: a publisher that finds the writer idle writes its own events
//! on its own thread ([`Writer::try_inline`], flat combining), taking along
//! what is queued; otherwise its command waits in the queue for the writer
//! thread. Handing every publish to the thread and its answer back cost two
//! thread wake-ups, about half of a single publish's time in process (92 us
//! p50 with both hops, 43 us of it in the transaction). One connection and
//! one lock serve both ways in, so in-process writers never contend for
//! SQLite's lock (only other processes do).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::consumer::{self};

use super::log::{self, Stored};
use super::watch::Signal;
use crate::events::error::EventsError;
use crate::events::model::NewEvent;
use crate::events::retention::Retention;
use crate::events::subscription::{Acked, Polled, Subscribed, SubscriptionSpec};
use crate::store::WriteTx;

/// Most commands grouped into one transaction.
pub const MAX_GROUP: usize = 4096;
/// Most events grouped into one transaction (batches are never split).
pub const MAX_GROUP_EVENTS: usize = 50_000;
/// Most events an inline writer takes from the queue besides its own: it
/// holds its caller (an async worker) for the time.
const INLINE_GROUP_EVENTS: usize = 1_024;
/// A group this large is written in blocking mode (`store::blocking`) when
/// it runs inline, so the async runtime moves its other tasks away.
const INLINE_BLOCKING_EVENTS: usize = 256;
/// How often age retention runs.
const AGE_TRIM_EVERY: Duration = Duration::from_secs(1);

type Reply<T> = oneshot::Sender<Result<T, EventsError>>;

/// A write for the writer thread.
#[derive(Debug)]
pub enum Command {
    /// Append events; `reply` is `None` for fire-and-forget publishes.
    Publish {
        events: Vec<NewEvent>,
        reply: Option<Reply<Stored>>,
    },
    /// Create a subscription.
    Subscribe {
        spec: SubscriptionSpec,
        reply: Reply<Subscribed>,
    },
    /// Deliver events to a subscription.
    Poll {
        subscription_id: String,
        limit: crate::events::model::PageLimit,
        reply: Reply<Polled>,
    },
    /// Acknowledge deliveries.
    Ack {
        subscription_id: String,
        ids: Vec<Uuid>,
        reply: Reply<Acked>,
    },
    /// Remove a subscription.
    Unsubscribe {
        subscription_id: String,
        reply: Reply<()>,
    },
    /// Finish the queued commands, then stop.
    Shutdown,
}

impl Command {
    fn event_count(&self) -> usize {
        match self {
            Command::Publish { events, .. } => events.len(),
            _ => 1,
        }
    }
}

/// A command's result, held until the transaction commits.
enum Done {
    Publish(Option<Reply<Stored>>, Result<Stored, EventsError>),
    Subscribe(Reply<Subscribed>, Result<Subscribed, EventsError>),
    Poll(Reply<Polled>, Result<Polled, EventsError>),
    Ack(Reply<Acked>, Result<Acked, EventsError>),
    Unsubscribe(Reply<()>, Result<(), EventsError>),
}

impl Done {
    fn is_ok(&self) -> bool {
        match self {
            Done::Publish(_, r) => r.is_ok(),
            Done::Subscribe(_, r) => r.is_ok(),
            Done::Poll(_, r) => r.is_ok(),
            Done::Ack(_, r) => r.is_ok(),
            Done::Unsubscribe(_, r) => r.is_ok(),
        }
    }

    fn published(&self) -> bool {
        match self {
            Done::Publish(_, Ok(v)) => !v.events.is_empty(),
            Done::Poll(_, Ok(p)) => p.dead_lettered > 0,
            _ => false,
        }
    }

    /// Sends the result, or `failure` when the commit failed.
    fn send(self, failure: Option<&EventsError>) {
        fn pick<T>(r: Result<T, EventsError>, f: Option<&EventsError>) -> Result<T, EventsError> {
            match f {
                Some(e) => Err(e.clone()),
                None => r,
            }
        }
        // A dropped receiver (caller gave up) is not an error here.
        match self {
            Done::Publish(Some(tx), r) => drop(tx.send(pick(r, failure))),
            Done::Publish(None, r) => {
                if let Err(e) = pick(r, failure) {
                    tracing::warn!("fire-and-forget publish failed: {e}");
                }
            }
            Done::Subscribe(tx, r) => drop(tx.send(pick(r, failure))),
            Done::Poll(tx, r) => drop(tx.send(pick(r, failure))),
            Done::Ack(tx, r) => drop(tx.send(pick(r, failure))),
            Done::Unsubscribe(tx, r) => drop(tx.send(pick(r, failure))),
        }
    }
}

/// The writer's connection and queue, shared by the writer thread and the
/// publishers that write inline.
pub struct Writer {
    conn: Mutex<Connection>,
    queue: Receiver<Command>,
    /// For putting back a shutdown an inline writer drained.
    requeue: Sender<Command>,
    retention: Retention,
    signal: Arc<Signal>,
    /// Publishers may write inline (off with `--events-fsync always`: an
    /// fsync per caller would undo the group commit).
    inline: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("inline", &self.inline)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// A writer over `conn`, fed by the queue `rx` whose sender is `tx`.
    pub fn new(
        conn: Connection,
        rx: Receiver<Command>,
        tx: Sender<Command>,
        retention: Retention,
        signal: Arc<Signal>,
        inline: bool,
    ) -> Writer {
        Writer {
            conn: Mutex::new(conn),
            queue: rx,
            requeue: tx,
            retention,
            signal,
            inline,
        }
    }

    /// Writes `cmd` on the calling thread if the writer is idle (no other
    /// writer in this process, SQLite's write lock free), with commands
    /// queued meanwhile, and sends every reply; gives `cmd` back untouched
    /// when it has to wait in the queue instead. Never waits for a lock.
    #[allow(clippy::result_large_err)] // handed back by value, for the queue
    pub fn try_inline(&self, cmd: Command) -> Result<(), Command> {
        // Under load the queue is never empty: the writer thread's groups
        // are then the cheaper way (one wake-up per group, not per caller).
        if !self.inline || !self.queue.is_empty() {
            return Err(cmd);
        }
        let Ok(conn) = self.conn.try_lock() else {
            return Err(cmd);
        };
        // Another process writing: queue, so the writer thread waits for it.
        let tx = match WriteTx::begin_now(&conn) {
            Ok(Some(tx)) => tx,
            Ok(None) | Err(_) => return Err(cmd),
        };
        let mut events = cmd.event_count();
        let mut group = vec![cmd];
        let stop = drain(&self.queue, &mut group, &mut events, INLINE_GROUP_EVENTS);
        let big = events >= INLINE_BLOCKING_EVENTS;
        let run = || execute_in(tx, group, &self.retention);
        let (done, failure) = if big {
            crate::store::blocking(run)
        } else {
            run()
        };
        drop(conn);
        self.finish(done, failure);
        if stop {
            // Not ours to act on: the writer thread finishes and stops.
            let _ = self.requeue.try_send(Command::Shutdown);
        }
        Ok(())
    }

    /// Sends each result (or the commit failure) and wakes waiting readers.
    fn finish(&self, done: Vec<Done>, failure: Option<EventsError>) {
        let published = failure.is_none() && done.iter().any(Done::published);
        for d in done {
            d.send(failure.as_ref());
        }
        if published {
            self.signal.published();
        }
    }
}

/// Takes queued commands into `group` until it holds [`MAX_GROUP`] commands
/// or `max_events` events; whether a shutdown came (it is not put in).
fn drain(
    rx: &Receiver<Command>,
    group: &mut Vec<Command>,
    events: &mut usize,
    max_events: usize,
) -> bool {
    while group.len() < MAX_GROUP && *events < max_events {
        match rx.try_recv() {
            Ok(Command::Shutdown) => return true,
            Ok(c) => {
                *events += c.event_count();
                group.push(c);
            }
            Err(_) => break,
        }
    }
    false
}

/// The writer thread: runs until a shutdown command (sent when the bus is
/// dropped; queued commands before it are written first).
pub fn run(w: Arc<Writer>) {
    let mut last_age_trim = Instant::now();
    loop {
        let first = w.queue.recv_timeout(AGE_TRIM_EVERY);
        let first = match first {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                age_trim(&mut lock(&w.conn), &w.retention, &mut last_age_trim);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if matches!(first, Command::Shutdown) {
            break;
        }
        let mut conn = lock(&w.conn);
        let mut events = first.event_count();
        let mut group = vec![first];
        let stop = drain(&w.queue, &mut group, &mut events, MAX_GROUP_EVENTS);
        let (done, failure) = execute(&mut conn, group, &w.retention);
        drop(conn);
        w.finish(done, failure);
        if stop {
            break;
        }
        // After the replies: a trim must not delay the group's callers.
        if last_age_trim.elapsed() >= AGE_TRIM_EVERY {
            age_trim(&mut lock(&w.conn), &w.retention, &mut last_age_trim);
        }
    }
    tracing::debug!("events writer stopped");
}

fn age_trim(conn: &mut Connection, retention: &Retention, last: &mut Instant) {
    *last = Instant::now();
    let r = (|| -> Result<u64, EventsError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = log::trim_by_age(&tx, retention)?;
        tx.commit()?;
        Ok(n)
    })();
    match r {
        Ok(0) => {}
        Ok(n) => tracing::debug!(deleted = n, "events age retention"),
        Err(e) => tracing::warn!("events age retention failed: {e}"),
    }
}

/// Runs a group of commands in one transaction; returns each result and the
/// commit failure, if any (then every result is void).
fn execute(
    conn: &mut Connection,
    group: Vec<Command>,
    retention: &Retention,
) -> (Vec<Done>, Option<EventsError>) {
    match WriteTx::begin(conn) {
        Ok(tx) => execute_in(tx, group, retention),
        Err(e) => {
            let failure = EventsError::from(e);
            let done = group.into_iter().map(|c| void(c, &failure)).collect();
            (done, Some(failure))
        }
    }
}

/// [`execute`] in a transaction already begun.
fn execute_in(
    tx: WriteTx<'_>,
    group: Vec<Command>,
    retention: &Retention,
) -> (Vec<Done>, Option<EventsError>) {
    let ts = match log::write_timestamp(&tx) {
        Ok(ts) => ts,
        Err(e) => {
            let done = group.into_iter().map(|c| void(c, &e)).collect();
            return (done, Some(e));
        }
    };
    let mut done = Vec::with_capacity(group.len());
    let mut cmds = group.into_iter().peekable();
    while let Some(cmd) = cmds.next() {
        if let Command::Publish { events, reply } = cmd {
            // Consecutive publishes are appended as one run (one sequence
            // read, one counter update per topic). They are validated before
            // they get here, so only a store error can fail them, and that
            // fails the whole group: no savepoint on the hot path.
            let mut run = vec![(events.len(), reply)];
            let mut all = events;
            while let Some(Command::Publish { .. }) = cmds.peek() {
                if let Some(Command::Publish { events, reply }) = cmds.next() {
                    run.push((events.len(), reply));
                    all.extend(events);
                }
            }
            match log::append_rows(&tx, &all, ts, retention) {
                Ok(first) => {
                    // Each publisher gets its own events back (the caller
                    // builds the answer and frees them, not this thread).
                    let mut parts = Vec::with_capacity(run.len());
                    let mut end = all.len();
                    for (i, (n, reply)) in run.into_iter().enumerate().rev() {
                        end -= n;
                        let events = if i == 0 {
                            std::mem::take(&mut all)
                        } else {
                            all.split_off(end)
                        };
                        let first = first + end as i64;
                        parts.push(Done::Publish(reply, Ok(Stored { events, first })));
                    }
                    done.extend(parts.into_iter().rev());
                }
                Err(e) => {
                    for (_, reply) in run {
                        done.push(Done::Publish(reply, Err(e.clone())));
                    }
                    drop(tx);
                    return (done, Some(e));
                }
            }
            continue;
        }
        // A savepoint per other command: one failing (unknown subscription,
        // group filter mismatch) must not undo the others.
        let mut sp_failed = None;
        let result = match tx.savepoint() {
            Ok(()) => {
                let d = run_one(&tx, cmd, ts, retention);
                if let Err(e) = tx.end_savepoint(d.is_ok()) {
                    sp_failed = Some(EventsError::from(e));
                }
                d
            }
            Err(e) => void(cmd, &EventsError::from(e)),
        };
        done.push(result);
        if let Some(e) = sp_failed {
            drop(tx);
            return (done, Some(e));
        }
    }
    match tx.commit() {
        Ok(()) => (done, None),
        Err(e) => (done, Some(EventsError::from(e))),
    }
}

fn run_one(conn: &Connection, cmd: Command, ts: i64, retention: &Retention) -> Done {
    match cmd {
        Command::Publish { events, reply } => {
            let r = log::append_rows(conn, &events, ts, retention);
            Done::Publish(reply, r.map(|first| Stored { events, first }))
        }
        Command::Subscribe { spec, reply } => {
            Done::Subscribe(reply, consumer::subscribe(conn, &spec))
        }
        Command::Poll {
            subscription_id,
            limit,
            reply,
        } => Done::Poll(
            reply,
            consumer::poll(conn, &subscription_id, limit, ts, retention),
        ),
        Command::Ack {
            subscription_id,
            ids,
            reply,
        } => Done::Ack(reply, consumer::ack(conn, &subscription_id, &ids)),
        Command::Unsubscribe {
            subscription_id,
            reply,
        } => Done::Unsubscribe(reply, consumer::unsubscribe(conn, &subscription_id)),
        Command::Shutdown => Done::Publish(
            None,
            Ok(Stored {
                events: Vec::new(),
                first: 0,
            }),
        ),
    }
}

fn void(cmd: Command, e: &EventsError) -> Done {
    match cmd {
        Command::Publish { reply, .. } => Done::Publish(reply, Err(e.clone())),
        Command::Subscribe { reply, .. } => Done::Subscribe(reply, Err(e.clone())),
        Command::Poll { reply, .. } => Done::Poll(reply, Err(e.clone())),
        Command::Ack { reply, .. } => Done::Ack(reply, Err(e.clone())),
        Command::Unsubscribe { reply, .. } => Done::Unsubscribe(reply, Err(e.clone())),
        Command::Shutdown => Done::Publish(
            None,
            Ok(Stored {
                events: Vec::new(),
                first: 0,
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::events::model::EventInput;
    use crate::events::{EventsConfig, SqliteBus};

    fn event(topic: &str) -> crate::events::model::NewEvent {
        EventInput {
            topic: topic.into(),
            event_type: "e".into(),
            ..Default::default()
        }
        .validate("")
        .unwrap()
    }

    #[test]
    fn a_publish_waits_in_the_queue_while_another_process_holds_the_write_lock() {
        // Written inline, the publish would wait for SQLite's lock on the
        // caller's thread: here the runtime's only thread, so nothing else
        // would run until the busy timeout. Queued, the runtime stays free
        // and the publish lands once the lock is released.
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(tmp.path(), &[("events", crate::events::MIGRATIONS)])
            .unwrap();
        let bus = SqliteBus::open(&store, EventsConfig::default()).unwrap();
        let first = bus.publish_blocking(vec![event("t.a")]).unwrap();
        assert_eq!(first[0].sequence, 1);
        let other = rusqlite::Connection::open(store.path()).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = bus.clone();
            let publish = tokio::spawn(async move { b.publish(vec![event("t.b")]).await });
            let asleep = std::time::Instant::now();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            // A 300 ms sleep; held by a waiting publish, it would end after
            // the 10 s busy timeout.
            assert!(
                asleep.elapsed() < crate::store::BUSY_TIMEOUT / 2,
                "the runtime was held for {:?}",
                asleep.elapsed()
            );
            assert!(!publish.is_finished(), "published under another's lock");
            other.execute_batch("COMMIT").unwrap();
            let out = publish.await.unwrap().unwrap();
            assert_eq!(out[0].sequence, 2);
            assert_eq!(out[0].topic, "t.b");
        });
    }

    #[test]
    fn concurrent_publishers_each_get_their_own_events_back_in_one_gap_free_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(tmp.path(), &[("events", crate::events::MIGRATIONS)])
            .unwrap();
        let bus = SqliteBus::open(&store, EventsConfig::default()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..50 {
                        let n = 1 + (i % 3);
                        let events: Vec<_> = (0..n)
                            .map(|_| {
                                EventInput {
                                    topic: format!("t.{t}"),
                                    event_type: "e".into(),
                                    ..Default::default()
                                }
                                .validate("")
                                .unwrap()
                            })
                            .collect();
                        let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
                        let out = bus.publish_blocking(events).unwrap();
                        assert_eq!(out.iter().map(|a| a.event_id).collect::<Vec<_>>(), ids);
                        assert!(out.iter().all(|a| a.topic == format!("t.{t}")));
                        let seqs: Vec<i64> = out.iter().map(|a| a.sequence).collect();
                        assert!(
                            seqs.windows(2).all(|w| w[1] == w[0] + 1),
                            "a batch is consecutive"
                        );
                        got.extend(seqs);
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<i64> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        let expected: Vec<i64> = (1..=all.len() as i64).collect();
        assert_eq!(all, expected);
    }
}
