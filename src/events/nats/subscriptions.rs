//! Subscription definitions as stored in the KV bucket
//! `<namespace>_subscriptions`, and the durable pull consumer each maps to.
//!
//! JetStream keeps the position and the unacked deliveries (the consumer);
//! the filters JetStream cannot express (event types, sources, minimum
//! priority, payload fields, several topic patterns) live in the KV record,
//! so every process pointed at the same NATS sees them. A 2.9 server allows
//! one filter subject per consumer: a subscription with exactly one topic
//! pattern gets it as the consumer's filter subject; with none or several,
//! the consumer reads `<namespace>.>` and the client acks and skips what the
//! filter rejects. Members of a consumer group share one consumer named
//! after the group.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::codec;
use crate::events::filter::Filter;
use crate::events::subscription::{Start, SubscriptionSpec};

/// Deliveries a consumer may have unacked at once (over all group members).
pub const MAX_ACK_PENDING: i64 = 20_000;

/// One subscription as stored in the KV bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Human-readable name.
    pub name: String,
    /// Consumer group, if any.
    pub group: Option<String>,
    /// The durable consumer it reads.
    pub consumer: String,
    /// What it wants.
    pub filter: Filter,
    /// Ack wait of its consumer, ms.
    pub ack_wait_ms: i64,
    /// Deliveries before dead-lettering.
    pub max_deliveries: i64,
}

/// The durable consumer's name: the subscription id, or a digest of the
/// group name (consumer names may not hold `.`, `*`, `>` or spaces).
pub fn consumer_name(subscription_id: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => {
            let d = sha2::Sha256::digest(g.as_bytes());
            let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("grp_{hex}")
        }
        None => subscription_id.to_string(),
    }
}

/// The filter subject of a subscription's consumer.
pub fn filter_subject(namespace: &str, filter: &Filter) -> String {
    match filter.topics.as_slice() {
        [one] => codec::subject(namespace, one),
        _ => format!("{namespace}.>"),
    }
}

/// The consumer configuration for a new subscription.
pub fn consumer_config(namespace: &str, name: &str, spec: &SubscriptionSpec) -> pull::Config {
    let deliver_policy = match spec.start {
        Start::Latest => DeliverPolicy::New,
        Start::Earliest => DeliverPolicy::All,
        Start::Sequence(n) => DeliverPolicy::ByStartSequence {
            start_sequence: n.max(1) as u64,
        },
        Start::Time(us) => DeliverPolicy::ByStartTime {
            start_time: codec::time_of_us(us),
        },
    };
    pull::Config {
        durable_name: Some(name.to_string()),
        name: Some(name.to_string()),
        description: Some(format!("smart-systems-mcp subscription `{}`", spec.name)),
        filter_subject: filter_subject(namespace, &spec.filter),
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_millis(spec.ack_wait_ms.max(1) as u64),
        // One more than the subscription's: the extra delivery is how a
        // poll finds the event out of deliveries and dead-letters it (dlq.rs).
        max_deliver: spec.max_deliveries + 1,
        max_ack_pending: MAX_ACK_PENDING,
        deliver_policy,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_topic_pattern_becomes_the_filter_subject_else_everything() {
        let one = Filter {
            topics: vec!["nba.>".into()],
            ..Default::default()
        };
        assert_eq!(filter_subject("ns", &one), "ns.nba.>");
        let two = Filter {
            topics: vec!["a".into(), "b.*".into()],
            ..Default::default()
        };
        assert_eq!(filter_subject("ns", &two), "ns.>");
        assert_eq!(filter_subject("ns", &Filter::default()), "ns.>");
    }

    #[test]
    fn group_members_share_a_consumer_with_a_legal_name() {
        let a = consumer_name("sub_1", Some("my group.*"));
        assert_eq!(a, consumer_name("sub_2", Some("my group.*")));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(consumer_name("sub_1", None), "sub_1");
    }
}
