//! Dead-lettering on JetStream, which has no dead-letter queue of its own.
//!
//! A consumer allows one delivery more than its subscription's
//! `max_deliveries`: the poll that receives that extra delivery republishes
//! the event on `dlq.<topic>` with the reason in `metadata.dead_letter`,
//! terminates the original and counts it in its `dead_lettered`, as the
//! embedded bus's poll does (`dead_letter`, called from the poll).
//!
//! The server's max-deliveries advisory
//! (`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`, sent
//! when a member pulls after the last allowed delivery expired) is the
//! fallback, for a process that died between that delivery and the copy,
//! and for consumers created before the extra delivery: every process
//! listens, republishes, and terminates the original through its ack-bucket
//! entry. The copy's `Nats-Msg-Id` is derived from the consumer and the
//! stream sequence, so the stream stores one copy however many processes
//! make it.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::Deserialize;

use super::{Inner, acks, codec, counters};
use crate::events::model::Event;
use crate::events::subscription::dead_letter_copy;

/// The fields of the max-deliveries advisory used here.
#[derive(Debug, Deserialize)]
struct Advisory {
    consumer: String,
    stream_seq: u64,
    deliveries: i64,
}

/// Listens for max-deliveries advisories of the namespace's stream.
pub(super) async fn run(inner: Arc<Inner>) {
    let subject = format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
        inner.stream_name
    );
    let mut sub = match inner.client.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("NATS: no dead-lettering: {e}");
            return;
        }
    };
    while let Some(m) = sub.next().await {
        match serde_json::from_slice::<Advisory>(&m.payload) {
            Ok(a) => {
                if let Err(e) = from_advisory(&inner, &a).await {
                    tracing::warn!(
                        consumer = a.consumer,
                        seq = a.stream_seq,
                        "NATS dead-letter: {e}"
                    );
                }
            }
            Err(e) => tracing::debug!("unreadable advisory: {e}"),
        }
    }
}

/// The advisory path: the event is read from the stream, copied to its
/// dead-letter topic, and its delivery terminated through its ack-bucket
/// entry (or this process's memory).
async fn from_advisory(inner: &Inner, a: &Advisory) -> Result<(), String> {
    let raw = inner
        .stream
        .get_raw_message(a.stream_seq)
        .await
        .map_err(|e| format!("event {} is gone: {e}", a.stream_seq))?;
    let event = codec::decode(
        &inner.namespace,
        raw.subject.as_str(),
        raw.sequence,
        raw.time,
        &raw.payload,
    )
    .map_err(|e| e.to_string())?;
    // The subscriptions reading this consumer (one, or a group's members).
    let subs: Vec<String> = inner
        .records()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(_, r)| r.consumer == a.consumer)
        .map(|(id, _)| id)
        .collect();
    let key = acks::key(&a.consumer, event.event_id);
    let recorded = acks::lookup(&inner.acks, &key).await.ok().flatten();
    // The member it was last delivered to, where known.
    let sub_id = recorded
        .as_ref()
        .map(|(h, _)| h.member.clone())
        .or_else(|| subs.first().cloned())
        .unwrap_or_else(|| a.consumer.clone());
    dead_letter(inner, &event, &a.consumer, &sub_id, a.deliveries).await?;
    inner.counters.flush().await;
    // Terminate the original so the consumer's ack floor moves on.
    let mut replies: Vec<String> = match inner.unacked.lock() {
        Ok(mut m) => {
            let keys: Vec<_> = m
                .iter()
                .filter(|(_, u)| u.consumer == a.consumer && u.stream_sequence == a.stream_seq)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| m.remove(&k))
                .map(|u| u.reply)
                .collect()
        }
        Err(_) => Vec::new(),
    };
    if let Some((held, _)) = recorded {
        replies.push(held.reply);
        let _ = inner.acks.delete(&key).await;
    }
    for reply in replies {
        let _ = inner.client.publish(reply, "+TERM".into()).await;
    }
    Ok(())
}

/// Publishes a copy of `event` on `dlq.<topic>` with the reason in its
/// metadata (`dead_letter`), the same as the embedded bus, under a
/// `Nats-Msg-Id` derived from the consumer and the stream sequence so it is
/// stored once however many processes do it.
pub(super) async fn dead_letter(
    inner: &Inner,
    event: &Event,
    consumer: &str,
    sub_id: &str,
    deliveries: i64,
) -> Result<(), String> {
    let copy = dead_letter_copy(event, sub_id, deliveries);
    let (mut headers, body) = codec::encode(&copy);
    headers.insert(
        "Nats-Msg-Id",
        format!("dlq-{consumer}-{}", event.sequence).as_str(),
    );
    let ack = inner
        .js
        .publish_with_headers(codec::subject(&inner.namespace, &copy.topic), headers, body)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    // Counted by the process whose copy was stored, so once.
    if !ack.duplicate {
        inner
            .counters
            .add(counters::Kind::Published, [(copy.topic.as_str(), 1)]);
        inner
            .counters
            .add(counters::Kind::DeadLettered, [(sub_id, 1)]);
    }
    Ok(())
}
