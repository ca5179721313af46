//! Waking long-polls and resource subscribers when events arrive, from this
//! process or from another process sharing the data dir.
//!
//! In-process publishes wake waiters directly ([`Signal::published`]). Other
//! processes cannot call us, so a watcher thread checks SQLite's
//! `PRAGMA data_version` (which changes when ANOTHER connection commits; it
//! reads shared memory, no disk IO) every [`WATCH_INTERVAL`] while anybody
//! waits, and parks otherwise. The choice over a file-system watch: it needs
//! no platform code and costs a few microseconds per check, so a cross-process
//! event reaches a waiting poll within a few milliseconds. The same thread
//! reads the topics of new rows for resource-update notifications, so those
//! work across processes too.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{Notify, broadcast};

use super::log;

/// How often the watcher checks for commits by other processes while
/// somebody waits.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(2);

/// Wake-up plumbing shared by the bus, its writer and its watcher.
#[derive(Debug)]
pub struct Signal {
    notify: Notify,
    waiters: AtomicUsize,
    watcher: OnceLock<std::thread::Thread>,
    stop: AtomicBool,
    topics: broadcast::Sender<Arc<str>>,
}

impl Signal {
    /// A signal with no waiters.
    pub fn new() -> Signal {
        Signal {
            notify: Notify::new(),
            waiters: AtomicUsize::new(0),
            watcher: OnceLock::new(),
            stop: AtomicBool::new(false),
            topics: broadcast::channel(4096).0,
        }
    }

    /// Called by the writer after a commit that added events.
    pub fn published(&self) {
        self.notify.notify_waiters();
        if self.topics.receiver_count() > 0 {
            self.unpark();
        }
    }

    /// The notify that long-polls wait on.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }

    /// Registers a long-poll waiter for as long as the guard lives.
    pub fn waiter(self: &Arc<Self>) -> WaiterGuard {
        if self.waiters.fetch_add(1, Ordering::SeqCst) == 0 {
            self.unpark();
        }
        WaiterGuard(self.clone())
    }

    /// Topics of newly stored events (from any process), for resource
    /// notifications.
    pub fn topic_updates(&self) -> broadcast::Receiver<Arc<str>> {
        let rx = self.topics.subscribe();
        self.unpark();
        rx
    }

    fn unpark(&self) {
        if let Some(t) = self.watcher.get() {
            t.unpark();
        }
    }

    /// Stops the watcher thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.unpark();
    }

    /// Whether [`Signal::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn active(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) > 0 || self.topics.receiver_count() > 0
    }
}

impl Default for Signal {
    fn default() -> Self {
        Signal::new()
    }
}

/// Keeps the watcher active while a long-poll waits.
#[derive(Debug)]
pub struct WaiterGuard(Arc<Signal>);

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The watcher thread's body; returns when [`Signal::stop`] is called.
pub fn run(conn: Connection, signal: Arc<Signal>) {
    let _ = signal.watcher.set(std::thread::current());
    let version = |c: &Connection| -> i64 {
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let mut last_version = version(&conn);
    let mut last_seq = log::last_seq(&conn).unwrap_or(0);
    while !signal.stop.load(Ordering::SeqCst) {
        if !signal.active() {
            std::thread::park_timeout(Duration::from_millis(500));
            continue;
        }
        let v = version(&conn);
        if v != last_version {
            last_version = v;
            signal.notify.notify_waiters();
            if signal.topics.receiver_count() > 0 {
                last_seq = broadcast_topics(&conn, &signal, last_seq);
            } else {
                last_seq = log::last_seq(&conn).unwrap_or(last_seq);
            }
        }
        std::thread::park_timeout(WATCH_INTERVAL);
    }
}

/// Sends each distinct topic of events after `after`; returns the newest
/// sequence seen.
fn broadcast_topics(conn: &Connection, signal: &Signal, after: i64) -> i64 {
    let mut last = after;
    let Ok(mut stmt) = conn.prepare_cached(
        "SELECT seq, topic FROM events_log WHERE seq > ?1 ORDER BY seq LIMIT 10000",
    ) else {
        return last;
    };
    loop {
        let rows: Vec<(i64, String)> = match stmt.query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))
        {
            Ok(rows) => rows.filter_map(Result::ok).collect(),
            Err(_) => return last,
        };
        let n = rows.len();
        let mut topics = BTreeSet::new();
        for (seq, topic) in rows {
            last = seq;
            topics.insert(topic);
        }
        for t in topics {
            let _ = signal.topics.send(Arc::from(t.as_str()));
        }
        if n < 10000 {
            return last;
        }
    }
}
