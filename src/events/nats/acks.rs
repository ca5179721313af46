//! Acks from any process: where each delivery's ack subject is kept so that
//! `ack_events` works through whichever process the client reaches (another
//! machine, or the same client after this process restarted).
//!
//! JetStream acks a delivery by a message to the reply subject it came with
//! (`$JS.ACK.<stream>.<consumer>.<...>.<stream seq>.<...>`); only the process
//! that pulled it has that subject. So every poll records, in the KV bucket
//! `<namespace>_acks`, one entry per delivered event under the key
//! `<consumer>.<event id>`: the member subscription it went to and the reply
//! subject. The entries of one poll are written as one pipelined batch (one
//! round trip, not one per event). The polling process also keeps them in
//! memory with the entry's revision: an ack through it within `ack_wait` sends
//! the ack and deletes the entry at once, the delete conditional on that
//! revision; any other ack reads the entry first. Unsubscribing a group
//! member reads its entries ([`held_by`]) to hand its unacked events back.
//!
//! The one design choice to know: the entry is the claim. An ack counts only
//! when it deletes the entry it read (or wrote), conditional on its revision,
//! so an event is reported acked once however many processes are asked, and
//! an event redelivered to another group member (a new entry under the same
//! key) answers `not_pending` to the old member, as on the embedded bus. The
//! bucket's `max_age` ([`MAX_AGE`]) is the longest accepted `ack_wait` plus an
//! hour, so entries of deliveries nobody acks do not pile up.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::error::EventsError;

/// How long an entry is kept: the longest `ack_wait` accepted by `subscribe`
/// (24 h) plus an hour.
pub const MAX_AGE: Duration = Duration::from_secs(25 * 3600);

/// The bucket of namespace `ns`.
pub fn bucket(namespace: &str) -> String {
    format!("{namespace}_acks")
}

/// The key of an event delivered through `consumer`.
pub fn key(consumer: &str, event_id: Uuid) -> String {
    format!("{consumer}.{}", event_id.simple())
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The subscription (group member) the event was delivered to.
    pub member: String,
    /// The delivery's ack subject.
    pub reply: String,
}

/// A delivery this process made and has not seen acked.
#[derive(Debug, Clone)]
pub struct Local {
    /// The delivery's ack subject.
    pub reply: String,
    /// The consumer it came from.
    pub consumer: String,
    /// Its stream sequence.
    pub stream_sequence: u64,
    /// Revision of its entry in the bucket (`None`: the write failed; only
    /// this process can ack it).
    pub revision: Option<u64>,
    /// When its `ack_wait` ends (after that, another member may hold it).
    pub expires: Instant,
}

/// Creates (or updates) the bucket's stream and opens it.
pub async fn open(
    js: &jetstream::Context,
    namespace: &str,
) -> Result<(kv::Store, stream::Stream), EventsError> {
    super::open_kv(
        js,
        &bucket(namespace),
        "smart-systems-mcp ack subjects of unacked deliveries",
        MAX_AGE,
    )
    .await
    .map_err(|e| EventsError::Store(format!("NATS ack bucket: {e}")))
}

/// Writes the entries of one poll in one pipelined batch; returns each
/// entry's revision (`None` where its write failed, logged).
pub async fn record(
    js: &jetstream::Context,
    bucket: &str,
    entries: &[(String, Held)],
) -> Vec<Option<u64>> {
    let mut acks = Vec::with_capacity(entries.len());
    for (key, held) in entries {
        let body = match serde_json::to_vec(held) {
            Ok(b) => Bytes::from(b),
            Err(_) => {
                acks.push(None);
                continue;
            }
        };
        match js.publish(format!("$KV.{bucket}.{key}"), body).await {
            Ok(ack) => acks.push(Some(ack)),
            Err(e) => {
                tracing::warn!(key, "NATS: ack subject not recorded: {e}");
                acks.push(None);
            }
        }
    }
    let mut out = Vec::with_capacity(acks.len());
    for ack in acks {
        out.push(match ack {
            Some(a) => match a.await {
                Ok(a) => Some(a.sequence),
                Err(e) => {
                    tracing::warn!("NATS: ack subject not recorded: {e}");
                    None
                }
            },
            None => None,
        });
    }
    out
}

/// How a conditional delete of an entry went.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// Deleted: the ack is this caller's to count.
    Won,
    /// Already deleted or replaced: acked elsewhere, or redelivered.
    Lost,
}

/// Deletes `key` if its latest revision is still `revision`.
pub async fn claim(kv: &kv::Store, key: &str, revision: u64) -> Result<Claim, EventsError> {
    match kv.delete_expect_revision(key, Some(revision)).await {
        Ok(()) => Ok(Claim::Won),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(Claim::Lost),
        Err(e) => Err(EventsError::Store(format!("NATS ack bucket: {e}"))),
    }
}

/// The live entry under `key`, with its revision, if any.
pub async fn lookup(kv: &kv::Store, key: &str) -> Result<Option<(Held, u64)>, EventsError> {
    let entry = kv
        .entry(key)
        .await
        .map_err(|e| EventsError::Store(format!("NATS ack bucket: {e}")))?;
    Ok(entry.and_then(|e| {
        if e.operation != kv::Operation::Put {
            return None;
        }
        serde_json::from_slice::<Held>(&e.value)
            .ok()
            .map(|h| (h, e.revision))
    }))
}

/// The live entries of `consumer` delivered to `member`, as (key, ack
/// subject).
pub async fn held_by(
    kv: &kv::Store,
    stream: &stream::Stream,
    consumer: &str,
    member: &str,
) -> Result<Vec<(String, String)>, EventsError> {
    let prefix = format!("$KV.{}.", kv.name);
    let entries = super::last_values(stream, format!("{prefix}{consumer}.>"))
        .await
        .map_err(|e| EventsError::Store(format!("NATS ack bucket: {e}")))?;
    Ok(entries
        .into_iter()
        .filter_map(|(subject, value)| {
            let h = serde_json::from_slice::<Held>(&value).ok()?;
            let key = subject.strip_prefix(&prefix)?;
            (h.member == member).then(|| (key.to_string(), h.reply))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_legal_kv_keys_one_per_consumer_and_event() {
        let id = Uuid::now_v7();
        let k = key("grp_0a1b", id);
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        );
        assert_eq!(k, format!("grp_0a1b.{}", id.simple()));
        assert_ne!(k, key("sub_x", id));
        assert_eq!(bucket("nba_prod"), "nba_prod_acks");
    }

    #[test]
    fn entries_round_trip_through_json() {
        let h = Held {
            member: "sub_1".into(),
            reply: "$JS.ACK.NS.sub_1.1.5.5.0.0".into(),
        };
        let raw = serde_json::to_vec(&h).unwrap();
        assert_eq!(serde_json::from_slice::<Held>(&raw).unwrap(), h);
    }
}
