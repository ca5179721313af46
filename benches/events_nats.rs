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

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use smart_systems_mcp::events::model::{EventInput, NewEvent};
use smart_systems_mcp::events::nats::NatsBus;
use smart_systems_mcp::events::retention::{Limits, Retention};
use smart_systems_mcp::events::sqlite::SqliteBackend;
use smart_systems_mcp::events::{EventBackend, EventBus, EventsConfig, FsyncMode};
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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Store::open(tmp.path()).expect("store");
    let sqlite = Arc::new(SqliteBackend::new(
        EventBus::open(&store, config()).expect("bus"),
    ));
    run(&rt, sqlite, "embedded SQLite");
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
            run(
                &rt,
                nats,
                &format!("NATS JetStream ({url}, namespace {ns})"),
            );
        }
        _ => println!(
            "NATS JetStream: skipped: set EVENTS_BENCH_NATS_URL=nats://127.0.0.1:4222 \
             (nats-server -js -sd DIR -a 127.0.0.1 -p 4222)"
        ),
    }
}
