//! Batch publish on NATS JetStream (`--events-url`) beside the embedded
//! SQLite bus, through the same [`EventBackend`] trait the MCP tools use.
//!
//! `EVENTS_BENCH_NATS_URL=nats://127.0.0.1:4222 cargo bench --bench events_nats`
//! (a local `nats-server -js -sd DIR -a 127.0.0.1 -p 4222`); without the
//! variable it says so and measures SQLite only. Sizes: EVENTS_BENCH_N
//! (events, default 200000), EVENTS_BENCH_BATCH_SIZE (per publish_events
//! call, default 1000), EVENTS_BENCH_PUBLISHERS (concurrent batches,
//! default 4). Each run uses a fresh namespace and deletes nothing: point it
//! at a throwaway server.
//!
//! Then the consumer side, one subscriber: publish one event -> the poll
//! that was waiting for it returns -> ack it, EVENTS_BENCH_ROUNDS times
//! (default 300), printing the p50/p99 of the publish->poll latency and of
//! the ack; and polls of 100 waiting events, each acked, printing the p50 of
//! one poll and one ack of the batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use smart_systems_mcp::events::filter::Filter;
use smart_systems_mcp::events::model::{EventInput, NewEvent};
use smart_systems_mcp::events::nats::NatsBus;
use smart_systems_mcp::events::retention::{Limits, Retention};
use smart_systems_mcp::events::sqlite::SqliteBackend;
use smart_systems_mcp::events::subscription::{Start, SubscriptionSpec};
use smart_systems_mcp::events::{EventBackend, EventsConfig, FsyncMode, SqliteBus};
use smart_systems_mcp::store::Store;

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(i: usize) -> NewEvent {
    let kinds = ["score.update", "player.stat.update", "game.started", "foul"];
    let teams = ["LAL", "BOS", "GSW", "MIA"];
    EventInput {
        topic: format!("nba.games.{}", i % 100),
        event_type: kinds[i % 4].to_string(),
        payload: Some(json!({"game_id": format!("00224{:05}", i % 100), "team": teams[(i / 4) % 4], "points": i % 150})),
        priority: Some("normal".into()),
        source: Some("bench".into()),
        correlation_id: None,
        metadata: None,
    }
    .validate("")
    .expect("valid bench event")
}

fn config() -> EventsConfig {
    EventsConfig {
        fsync: FsyncMode::Commit,
        retention: Retention {
            default: Limits {
                max_events: Some(1_000_000),
                max_age: None,
            },
            rules: Vec::new(),
        },
    }
}

/// Publishes `n` events in batches from `publishers` concurrent tasks.
fn run(rt: &tokio::runtime::Runtime, bus: Arc<dyn EventBackend>, label: &str) {
    let n = env_n("EVENTS_BENCH_N", 200_000);
    let batch = env_n("EVENTS_BENCH_BATCH_SIZE", 1000).max(1);
    let publishers = env_n("EVENTS_BENCH_PUBLISHERS", 4).max(1);
    let batches: Vec<Vec<NewEvent>> = (0..n)
        .map(event)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|c| c.to_vec())
        .collect();
    let per_task = batches.len().div_ceil(publishers);
    let mut chunks: Vec<Vec<Vec<NewEvent>>> = Vec::new();
    let mut it = batches.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(per_task).collect());
    }
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|mine| {
                let bus = bus.clone();
                tokio::spawn(async move {
                    for b in mine {
                        bus.publish_events(b).await.expect("publish");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("publisher");
        }
    });
    let d = started.elapsed();
    println!(
        "{label}: batch publish {:.0} events/s ({n} events, batches of {batch}, {publishers} concurrent publishers, {:.3} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    );
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Publish -> poll -> ack latency of one subscriber.
fn consume(rt: &tokio::runtime::Runtime, bus: Arc<dyn EventBackend>, label: &str) {
    let rounds = env_n("EVENTS_BENCH_ROUNDS", 300).max(1);
    rt.block_on(async {
        let sub = bus
            .subscribe(SubscriptionSpec {
                name: "latency".into(),
                filter: Filter {
                    topics: vec!["bench.latency".into()],
                    ..Default::default()
                },
                group: None,
                start: Start::Latest,
                ack_wait_ms: 30_000,
                max_deliveries: 5,
            })
            .await
            .expect("subscribe");
        let id = sub.subscription_id;
        let one = |i: usize| {
            let mut e = event(i);
            e.topic = "bench.latency".into();
            e
        };
        let (mut to_poll, mut to_ack) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            let (published, polled) = tokio::join!(
                async {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    (Instant::now(), bus.publish_events(vec![one(i)]).await)
                },
                async {
                    let p = bus.poll(&id, 100.into(), Duration::from_secs(5)).await;
                    (Instant::now(), p)
                }
            );
            let ((sent, published), (got, polled)) = (published, polled);
            published.expect("publish");
            let polled = polled.expect("poll");
            assert_eq!(polled.events.len(), 1, "one event per round");
            to_poll.push(got.saturating_duration_since(sent));
            let ids = polled.events.iter().map(|d| d.event.event_id).collect();
            let t = Instant::now();
            let acked = bus.ack(&id, ids).await.expect("ack");
            assert_eq!(acked.acked, 1);
            to_ack.push(t.elapsed());
        }
        let (mut poll100, mut ack100) = (Vec::new(), Vec::new());
        for r in 0..(rounds / 10).max(1) {
            let batch = (0..100).map(|i| one(r * 100 + i)).collect();
            bus.publish_events(batch).await.expect("publish");
            let t = Instant::now();
            let polled = bus.poll(&id, 100.into(), Duration::ZERO).await.expect("poll");
            poll100.push(t.elapsed());
            assert_eq!(polled.events.len(), 100, "a full batch");
            let ids = polled.events.iter().map(|d| d.event.event_id).collect();
            let t = Instant::now();
            bus.ack(&id, ids).await.expect("ack");
            ack100.push(t.elapsed());
        }
        println!(
            "{label}: publish->poll p50 {:.2} ms p99 {:.2} ms, ack of 1 p50 {:.2} ms p99 {:.2} ms ({rounds} rounds); \
             poll of 100 p50 {:.2} ms, ack of 100 p50 {:.2} ms ({} rounds)",
            percentile(&mut to_poll, 0.5),
            percentile(&mut to_poll, 0.99),
            percentile(&mut to_ack, 0.5),
            percentile(&mut to_ack, 0.99),
            percentile(&mut poll100, 0.5),
            percentile(&mut ack100, 0.5),
            poll100.len(),
        );
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(tmp.path(), smart_systems_mcp::app::COMPONENTS).expect("store");
    let sqlite = Arc::new(SqliteBackend::new(
        SqliteBus::open(&store, config()).expect("bus"),
    ));
    run(&rt, sqlite.clone(), "embedded SQLite");
    consume(&rt, sqlite, "embedded SQLite");
    match std::env::var("EVENTS_BENCH_NATS_URL") {
        Ok(url) if !url.is_empty() => {
            let ns = format!(
                "bench_{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_millis()
            );
            let nats = NatsBus::connect(&url, &ns, config()).expect("connect to NATS");
            let label = format!("NATS JetStream ({url}, namespace {ns})");
            run(&rt, nats.clone(), &label);
            consume(&rt, nats, &label);
        }
        _ => println!(
            "NATS JetStream: skipped: set EVENTS_BENCH_NATS_URL=nats://127.0.0.1:4222 \
             (nats-server -js -sd DIR -a 127.0.0.1 -p 4222)"
        ),
    }
}
