//! Counters every process shares: `event_stats` figures JetStream does not
//! keep (events published and delivered per topic, dead-lettered per
//! subscription), in the KV bucket `<namespace>_stats`, one key per counter
//! holding its decimal value.
//!
//! A process adds to its counters in memory ([`Counters::add`]) and writes
//! them with [`Counters::flush`]: each key is rewritten conditional on the
//! revision last seen, and read again and retried when another process wrote
//! in between, so no increment is lost or counted twice however many
//! processes count. The revision this process wrote last is remembered, so
//! a key only this process is counting costs one round trip (the keys of one
//! flush go out together). The
//! calls that count (publish, poll) flush before they return, so a stats
//! call through any process sees them; one flush runs at a time per process
//! and takes everything added meanwhile, so concurrent callers share its
//! round trips. What a flush cannot write (NATS unreachable, contention past
//! the retries) stays in memory for the next flush, which the background
//! task makes at least every [`RETRY_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;

use crate::events::error::EventsError;

/// Conditional writes tried per key and flush before the rest waits for
/// the next flush.
const ATTEMPTS: usize = 8;
/// How often the background task flushes what an earlier flush could not.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The bucket of namespace `ns`.
pub fn bucket(namespace: &str) -> String {
    format!("{namespace}_stats")
}

/// What a counter counts; its key is `<kind>.<escaped name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Events stored on a topic (before any were trimmed).
    Published,
    /// Deliveries of a topic's events (redeliveries included).
    Delivered,
    /// Events a subscription moved to their dead-letter topic.
    DeadLettered,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Published => "published",
            Kind::Delivered => "delivered",
            Kind::DeadLettered => "dead",
        }
    }
}

/// The key of counter `kind` of `name` (a topic or a subscription id).
/// KV keys allow letters, digits and `-_/=.`; topics may also hold `:`, `@`
/// and `$`, written as `=` and two hex digits (`=` is in no topic or id).
pub fn key(kind: Kind, name: &str) -> String {
    let mut k = String::with_capacity(kind.prefix().len() + 1 + name.len());
    k.push_str(kind.prefix());
    k.push('.');
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/') {
            k.push(b as char);
        } else {
            k.push_str(&format!("={b:02X}"));
        }
    }
    k
}

/// The name a key was made from, if it is a counter of `kind`.
pub fn name_of(kind: Kind, key: &str) -> Option<String> {
    let rest = key.strip_prefix(kind.prefix())?.strip_prefix('.')?;
    let mut out = Vec::with_capacity(rest.len());
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = rest.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// This process's view of the shared counters.
#[derive(Debug)]
pub struct Counters {
    kv: kv::Store,
    stream: stream::Stream,
    /// Added here and not yet written.
    pending: Mutex<HashMap<String, i64>>,
    /// (value, revision) of each key as this process last wrote or read it.
    known: Mutex<HashMap<String, (i64, u64)>>,
    /// Held by the flush in progress.
    flushing: tokio::sync::Mutex<()>,
}

impl Counters {
    /// Creates (or updates) the bucket's stream and opens it.
    pub async fn open(js: &jetstream::Context, namespace: &str) -> Result<Counters, EventsError> {
        let (kv, stream) = super::open_kv(
            js,
            &bucket(namespace),
            "smart-systems-mcp event counters",
            Duration::ZERO,
        )
        .await
        .map_err(|e| EventsError::Store(format!("NATS stats bucket: {e}")))?;
        Ok(Counters {
            kv,
            stream,
            pending: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
        })
    }

    /// Adds `n` to counter `kind` of each name given, in memory.
    pub fn add<'a>(&self, kind: Kind, names: impl IntoIterator<Item = (&'a str, i64)>) {
        if let Ok(mut m) = self.pending.lock() {
            for (name, n) in names {
                if n != 0 {
                    *m.entry(key(kind, name)).or_default() += n;
                }
            }
        }
    }

    /// Writes everything added so far (and whatever an earlier flush could
    /// not) to the bucket; what fails stays for the next flush.
    pub async fn flush(&self) {
        let _one = self.flushing.lock().await;
        let batch: Vec<(String, i64)> = match self.pending.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        let written =
            futures_util::future::join_all(batch.iter().map(|(key, n)| self.add_to(key, *n))).await;
        let failed: Vec<_> = batch
            .into_iter()
            .zip(written)
            .filter_map(|(kn, ok)| (!ok).then_some(kn))
            .collect();
        if !failed.is_empty()
            && let Ok(mut m) = self.pending.lock()
        {
            for (key, n) in failed {
                *m.entry(key).or_default() += n;
            }
        }
    }

    /// Adds `n` to the stored value of `key`, conditional on the revision
    /// last seen (read when unknown or stale); whether it was written.
    async fn add_to(&self, key: &str, n: i64) -> bool {
        let mut seen = self.known.lock().ok().and_then(|m| m.get(key).copied());
        for _ in 0..ATTEMPTS {
            let (current, revision) = match seen.take() {
                Some(s) => s,
                None => match self.kv.entry(key).await {
                    Ok(Some(e)) if e.operation == kv::Operation::Put => {
                        (parse(&e.value), e.revision)
                    }
                    Ok(Some(e)) => (0, e.revision),
                    Ok(None) => (0, 0),
                    Err(e) => {
                        tracing::debug!(key, "NATS stats bucket: {e}");
                        return false;
                    }
                },
            };
            let value = current + n;
            match self
                .kv
                .update(key, Bytes::from(value.to_string()), revision)
                .await
            {
                Ok(written) => {
                    if let Ok(mut m) = self.known.lock() {
                        m.insert(key.to_string(), (value, written));
                    }
                    return true;
                }
                // Another process wrote since: read it again.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => {
                    tracing::debug!(key, "NATS stats bucket: {e}");
                    return false;
                }
            }
        }
        false
    }

    /// [`Counters::read`] of one kind: its counters by name.
    pub async fn read_one(&self, kind: Kind) -> Result<HashMap<String, i64>, EventsError> {
        Ok(self.read(&[kind]).await?.remove(&kind).unwrap_or_default())
    }

    /// Writes what this process counted, then reads every counter of the
    /// `kinds` asked for in one pass over the bucket (plus what a failed
    /// write left here), by kind and name.
    pub async fn read(
        &self,
        kinds: &[Kind],
    ) -> Result<HashMap<Kind, HashMap<String, i64>>, EventsError> {
        self.flush().await;
        let prefix = format!("$KV.{}.", self.kv.name);
        let filter = match kinds {
            [one] => format!("{prefix}{}.>", one.prefix()),
            _ => format!("{prefix}>"),
        };
        let stored = super::last_values(&self.stream, filter)
            .await
            .map_err(|e| EventsError::Store(format!("NATS stats bucket: {e}")))?;
        let pending: Vec<(String, i64)> = self
            .pending
            .lock()
            .map(|m| m.iter().map(|(k, n)| (k.clone(), *n)).collect())
            .unwrap_or_default();
        let stored = stored.into_iter().filter_map(|(subject, value)| {
            Some((subject.strip_prefix(&prefix)?.to_string(), parse(&value)))
        });
        let mut out: HashMap<Kind, HashMap<String, i64>> = HashMap::new();
        for (k, n) in stored.chain(pending) {
            for &kind in kinds {
                if let Some(name) = name_of(kind, &k) {
                    *out.entry(kind).or_default().entry(name).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}

fn parse(raw: &[u8]) -> i64 {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Flushes what earlier flushes left, every [`RETRY_EVERY`].
pub async fn run(counters: Arc<Counters>) {
    let mut tick = tokio::time::interval(RETRY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let left = counters
            .pending
            .lock()
            .map(|m| !m.is_empty())
            .unwrap_or(false);
        if left {
            counters.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_legal_and_give_back_their_name() {
        for name in ["nba.games.1234", "dlq.a-b_c", "x:y@z$w", "sub_0a1b"] {
            let k = key(Kind::Delivered, name);
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_/=.".contains(&b)),
                "{k}"
            );
            assert_eq!(name_of(Kind::Delivered, &k).as_deref(), Some(name));
            assert_eq!(name_of(Kind::Published, &k), None);
        }
        assert_eq!(key(Kind::DeadLettered, "s:1"), "dead.s=3A1");
        assert_eq!(name_of(Kind::Delivered, "delivered.a=4"), None);
    }

    #[test]
    fn values_that_are_not_numbers_count_as_zero() {
        assert_eq!(parse(b"42"), 42);
        assert_eq!(parse(b"-3"), -3);
        assert_eq!(parse(b"x"), 0);
    }
}
