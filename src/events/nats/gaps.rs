//! `skipped` on JetStream: the events retention removed before a
//! subscription read them, as the embedded bus reports them.
//!
//! Each consumer has a *cursor* in the subscription bucket (key
//! `cursor.<consumer>`): the highest stream sequence it has received for the
//! first time, by any member of its group in any process. (The consumer's
//! own delivered sequence will not do: JetStream moves it past a purge.) A
//! poll reads the cursor before fetching and notes the stream sequence of
//! every first delivery it receives; a gap between them holds
//! either events the consumer's filter subject does not select or events
//! that were removed. It lost this subscription something only below the
//! *floor* of a topic the filter wants that retention cut (published more
//! than stored, by the shared counters): the topic's first stored sequence,
//! or for a topic with nothing left the stream's first sequence (where its
//! last events were is no longer known, but nothing below the stream's
//! front survives). The part of each gap below the highest floor is
//! reported; as on the embedded bus the range may hold other topics' events.
//!
//! The check costs a stream info, and only when a gap lies below the
//! stream's first sequence or the stream has interior deletions, a pass
//! over the published counters plus one lookup per cut topic the filter
//! wants.

use std::collections::HashMap;

use bytes::Bytes;

use futures_util::StreamExt;

use super::{Inner, counters, nats_err};
use crate::events::error::EventsError;
use crate::events::filter::Filter;
use crate::events::subscription::Skipped;

/// The gaps between `before` (the consumer's cursor) and the stream
/// sequences `firsts` of the first deliveries received after it.
pub(super) fn gaps(before: u64, mut firsts: Vec<u64>) -> Vec<(u64, u64)> {
    firsts.sort_unstable();
    let mut out = Vec::new();
    let mut at = before;
    for s in firsts {
        if s > at + 1 {
            out.push((at + 1, s - 1));
        }
        at = at.max(s);
    }
    out
}

/// The subscription-bucket key of `consumer`'s cursor.
pub(super) fn cursor_key(consumer: &str) -> String {
    format!("cursor.{consumer}")
}

/// A consumer's cursor as read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    /// The highest stream sequence received for the first time.
    pub at: u64,
    /// The revision of its key.
    revision: u64,
}

/// Conditional writes tried before a cursor update gives up (the next
/// poll's gap then starts lower, and is clipped by the floor as any other).
const ATTEMPTS: usize = 4;

impl Inner {
    /// `consumer`'s cursor and the revision of its key (`None`: not
    /// recorded, as for a subscription made by an earlier version; or NATS
    /// did not answer).
    pub(super) async fn cursor(&self, consumer: &str) -> Option<Cursor> {
        match self.kv.entry(cursor_key(consumer)).await {
            Ok(Some(e)) => Some(Cursor {
                at: std::str::from_utf8(&e.value).ok()?.parse().ok()?,
                revision: e.revision,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("NATS cursor: {e}");
                None
            }
        }
    }

    /// Raises `consumer`'s cursor to `to`, never lowering it (group members
    /// in other processes advance it too); `known` is what [`Self::cursor`]
    /// read, which saves a read when nobody wrote since.
    pub(super) async fn advance_cursor(&self, consumer: &str, to: u64, mut known: Option<Cursor>) {
        let key = cursor_key(consumer);
        let value = || Bytes::from(to.to_string());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                known = self.cursor(consumer).await;
            }
            let written = match known {
                Some(c) if c.at >= to => return,
                Some(c) => self.kv.update(&key, value(), c.revision).await.is_ok(),
                None => self.kv.create(&key, value()).await.is_ok(),
            };
            if written {
                return;
            }
        }
        tracing::debug!(consumer, "NATS cursor: contended, left for the next poll");
    }

    /// What of `gaps` retention removed before a consumer with `filter`
    /// read it (see the module documentation).
    pub(super) async fn skipped(
        &self,
        filter: &Filter,
        gaps: &[(u64, u64)],
    ) -> Result<Option<Skipped>, EventsError> {
        if gaps.is_empty() {
            return Ok(None);
        }
        let mut stream = self.stream.clone();
        let state = &stream
            .info()
            .await
            .map_err(|e| nats_err("stream info")(e.to_string()))?
            .state;
        let span = (state.last_sequence + 1).saturating_sub(state.first_sequence);
        let interior_deletes = state.messages < span;
        if !interior_deletes && gaps.iter().all(|&(first, _)| first >= state.first_sequence) {
            return Ok(None);
        }
        let floor = self.trim_floor(filter, state.first_sequence).await?;
        let mut skipped = None;
        for &(first, last) in gaps {
            Skipped::add(
                &mut skipped,
                first as i64,
                last.min(floor.saturating_sub(1)) as i64,
            );
        }
        Ok(skipped)
    }

    /// The highest floor of the topics `filter` wants that retention cut
    /// (0: none was cut); `front` is the stream's first sequence.
    async fn trim_floor(&self, filter: &Filter, front: u64) -> Result<u64, EventsError> {
        let prefix = format!("{}.", self.namespace);
        let mut stored: HashMap<String, u64> = HashMap::new();
        let mut subjects = self
            .stream
            .info_with_subjects(super::subscriptions::filter_subject(
                &self.namespace,
                filter,
            ))
            .await
            .map_err(|e| nats_err("topics")(e.to_string()))?;
        while let Some(s) = subjects.next().await {
            let (subject, n) = s.map_err(|e| nats_err("topics")(e.to_string()))?;
            if let Some(topic) = subject.strip_prefix(&prefix)
                && filter.wants_topic(topic)
            {
                stored.insert(topic.to_string(), n as u64);
            }
        }
        let published = self.counters.read_one(counters::Kind::Published).await?;
        let mut floor = 0;
        for (topic, published) in published {
            if !filter.wants_topic(&topic) {
                continue;
            }
            let kept = stored.get(&topic).copied().unwrap_or(0);
            if (published.max(0) as u64) <= kept {
                continue;
            }
            let first = if kept == 0 {
                front
            } else {
                let subject = super::codec::subject(&self.namespace, &topic);
                match self
                    .stream
                    .get_first_raw_message_by_subject(&subject, 1)
                    .await
                {
                    Ok(m) => m.sequence,
                    Err(e) => {
                        tracing::debug!(topic, "NATS first stored event: {e}");
                        front
                    }
                }
            };
            floor = floor.max(first);
        }
        Ok(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::gaps;

    #[test]
    fn gaps_lie_between_the_last_delivered_sequence_and_each_first_delivery() {
        assert_eq!(gaps(0, vec![]), vec![]);
        assert_eq!(gaps(0, vec![1, 2, 3]), vec![]);
        assert_eq!(gaps(0, vec![405, 406]), vec![(1, 404)]);
        // Out of order, with a sequence at or below where it stood.
        assert_eq!(gaps(10, vec![15, 9, 12]), vec![(11, 11), (13, 14)]);
    }
}
