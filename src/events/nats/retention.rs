//! Per-pattern retention on JetStream: the stream's own limits
//! (`max_msgs_per_subject`, `max_age`) carry the defaults; a rule that keeps
//! fewer events or younger ones than the default is applied by purging.
//!
//! Count rules purge a topic down to its limit after each publish to it
//! (`Inner::apply_count_rules`). Age rules are applied by a task
//! (`run`) every `interval` (a tenth of the shortest rule age, between 1
//! and 60 seconds): for each age, one lookup finds the first stream sequence
//! stored at or after the cutoff (an ordered consumer by start time), then
//! every topic whose winning rule has that age is purged below that sequence
//! (`purge` with `filter` and `seq`). The design choice to know: one lookup
//! per age over the whole stream is enough because stream timestamps never
//! decrease along the sequence, so everything of a topic below the first
//! young sequence of the stream is old. Every process runs the task; purges
//! are idempotent. `trimmed` in `event_stats` is published minus stored
//! ([`super::counters`]), so it also counts what the stream's own limits
//! removed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::jetstream;
use futures_util::StreamExt;

use super::{Inner, REQUEST_TIMEOUT, codec};
use crate::events::retention::Retention;

/// How often age rules are applied, for the shortest rule age `shortest`.
pub fn interval(shortest: Duration) -> Duration {
    (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The distinct ages of rules that keep events for less time than the
/// stream's default `max_age` (`None`: unlimited), shortest first.
pub fn rule_ages(retention: &Retention) -> Vec<Duration> {
    let default = retention.default.max_age.filter(|d| !d.is_zero());
    let mut ages: Vec<Duration> = retention
        .rules
        .iter()
        .filter_map(|r| r.max_age.filter(|d| !d.is_zero()))
        .filter(|a| default.is_none_or(|d| *a < d))
        .collect();
    ages.sort();
    ages.dedup();
    ages
}

/// Applies the age rules until the process ends (nothing when there are
/// none).
pub(super) async fn run(inner: Arc<Inner>) {
    let ages = rule_ages(&inner.retention);
    let Some(shortest) = ages.first() else {
        return;
    };
    let mut tick = tokio::time::interval(interval(*shortest));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if inner.connected().is_err() {
            continue;
        }
        for age in &ages {
            if let Err(e) = purge_older(&inner, *age).await {
                tracing::warn!(?age, "NATS age retention: {e}");
            }
        }
    }
}

/// Purges the events older than `age` of every topic whose rule says `age`.
async fn purge_older(inner: &Inner, age: Duration) -> Result<(), String> {
    let Some(cutoff) = SystemTime::now().checked_sub(age) else {
        return Ok(());
    };
    // Purge takes `seq` 0 and 1 as "no bound": nothing is older than 1.
    let Some(first_young) = first_sequence_since(inner, cutoff)
        .await?
        .filter(|&s| s > 1)
    else {
        return Ok(());
    };
    tracing::debug!(first_young, "NATS age retention lookup");
    let prefix = format!("{}.", inner.namespace);
    for rule in &inner.retention.rules {
        if rule.max_age != Some(age) {
            continue;
        }
        let mut subjects = inner
            .stream
            .info_with_subjects(codec::subject(&inner.namespace, &rule.pattern))
            .await
            .map_err(|e| e.to_string())?;
        let mut topics = Vec::new();
        while let Some(s) = subjects.next().await {
            let (subject, _) = s.map_err(|e| e.to_string())?;
            if let Some(topic) = subject.strip_prefix(&prefix) {
                topics.push(topic.to_string());
            }
        }
        for topic in topics {
            // The first matching rule wins: another rule may own this topic.
            if inner.retention.limits_for(&topic).max_age != Some(age) {
                continue;
            }
            let purged = inner
                .stream
                .purge()
                .filter(codec::subject(&inner.namespace, &topic))
                .sequence(first_young)
                .await
                .map_err(|e| e.to_string())?;
            tracing::debug!(topic, first_young, purged = purged.purged, "NATS age purge");
        }
    }
    Ok(())
}

/// The first stream sequence stored at or after `cutoff` (one past the last
/// when none is); `None` for an empty stream.
async fn first_sequence_since(inner: &Inner, cutoff: SystemTime) -> Result<Option<u64>, String> {
    // Taken before the lookup: whatever is stored later is young.
    let last = inner
        .stream
        .get_info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence;
    if last == 0 {
        return Ok(None);
    }
    let consumer = inner
        .stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("{}.>", inner.namespace),
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartTime {
                start_time: time::OffsetDateTime::from(cutoff),
            },
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if consumer.cached_info().num_pending == 0 {
        return Ok(Some(last + 1));
    }
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let first = tokio::time::timeout(REQUEST_TIMEOUT, messages.next())
        .await
        .map_err(|_| "timed out looking up the first young event".to_string())?;
    match first {
        Some(Ok(m)) => {
            let info = m.info().map_err(|e| e.to_string())?;
            Ok(Some(info.stream_sequence.min(last + 1)))
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(Some(last + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::retention::{Limits, RetentionRule};

    fn rule(pattern: &str, age: Option<u64>) -> RetentionRule {
        RetentionRule {
            pattern: pattern.into(),
            max_events: None,
            max_age: age.map(Duration::from_secs),
        }
    }

    #[test]
    fn only_rules_younger_than_the_default_need_purging() {
        let r = Retention {
            default: Limits {
                max_events: None,
                max_age: Some(Duration::from_secs(3600)),
            },
            rules: vec![
                rule("a.>", Some(60)),
                rule("b.>", Some(7200)),
                rule("c.>", None),
                rule("d.>", Some(60)),
                rule("e", Some(5)),
            ],
        };
        assert_eq!(
            rule_ages(&r),
            [Duration::from_secs(5), Duration::from_secs(60)]
        );
        let unlimited = Retention {
            default: Limits {
                max_events: None,
                max_age: None,
            },
            rules: vec![rule("b.>", Some(7200))],
        };
        assert_eq!(rule_ages(&unlimited), [Duration::from_secs(7200)]);
    }

    #[test]
    fn ages_are_checked_about_ten_times_per_shortest_age_within_bounds() {
        assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(
            interval(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
    }
}
