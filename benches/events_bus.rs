//! In-process benchmark of the event bus (library, no MCP): batch publish
//! with 10 filtered subscriptions (and draining them), single-event publish
//! from 32 concurrent publishers in both durability modes, one publisher's
//! single-publish latency, and resident
//! memory with retention while publishing many events.
//!
//! `cargo bench --bench events_bus` runs everything; pass section names to
//! run some: `batch`, `single`, `fsync`, `latency`, `memory`. Sizes: EVENTS_BENCH_BATCH
//! (events, default 1000000), EVENTS_BENCH_SINGLE (default 200000),
//! EVENTS_BENCH_FSYNC (default 20000), EVENTS_BENCH_MEMORY (default 10000000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use smart_systems_mcp::events::filter::FilterInput;
use smart_systems_mcp::events::model::{EventInput, NewEvent};
use smart_systems_mcp::events::retention::{Limits, Retention};
use smart_systems_mcp::events::subscription::{Start, SubscriptionSpec};
use smart_systems_mcp::events::{EventsConfig, FsyncMode, SqliteBus};
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
    let prios = ["low", "normal", "normal", "high"];
    EventInput {
        topic: format!("nba.games.{}", i % 100),
        event_type: kinds[i % 4].to_string(),
        payload: Some(json!({"game_id": format!("00224{:05}", i % 100), "team": teams[(i / 4) % 4], "points": i % 150})),
        priority: Some(prios[(i / 16) % 4].to_string()),
        source: Some("bench".into()),
        correlation_id: None,
        metadata: None,
    }
    .validate("")
    .expect("valid bench event")
}

fn open(dir: &std::path::Path, fsync: FsyncMode, retention: Retention) -> Arc<SqliteBus> {
    let store = Store::open(dir, smart_systems_mcp::app::COMPONENTS).expect("store");
    SqliteBus::open(&store, EventsConfig { fsync, retention }).expect("bus")
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:.0} events/s ({n} events in {:.3} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

/// The `q` quantile of sorted latencies.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn batch(rt: &tokio::runtime::Runtime) {
    let n = env_n("EVENTS_BENCH_BATCH", 1_000_000);
    let tmp = tempfile::tempdir().expect("tmp");
    let bus = open(
        tmp.path(),
        FsyncMode::Commit,
        Retention {
            default: Limits {
                max_events: None,
                max_age: None,
            },
            rules: vec![],
        },
    );
    let filters: Vec<FilterInput> = vec![
        FilterInput {
            topics: Some(vec!["nba.games.1".into()]),
            ..Default::default()
        },
        FilterInput {
            topics: Some(vec!["nba.games.*".into()]),
            min_priority: Some("high".into()),
            ..Default::default()
        },
        FilterInput {
            topics: Some(vec!["nba.>".into()]),
            event_types: Some(vec!["game.started".into()]),
            ..Default::default()
        },
        FilterInput {
            event_types: Some(vec!["foul".into()]),
            ..Default::default()
        },
        FilterInput {
            topics: Some(vec!["nba.games.4*".replace('*', "2")]),
            ..Default::default()
        },
        FilterInput {
            sources: Some(vec!["bench".into()]),
            min_priority: Some("critical".into()),
            ..Default::default()
        },
        FilterInput {
            payload_match: Some(BTreeMap::from([("payload.team".to_string(), json!("LAL"))])),
            topics: Some(vec!["nba.games.7".into()]),
            ..Default::default()
        },
        FilterInput {
            payload_match: Some(BTreeMap::from([("payload.points".to_string(), json!(42))])),
            ..Default::default()
        },
        FilterInput {
            topics: Some(vec!["mlb.>".into()]),
            ..Default::default()
        },
        FilterInput {
            topics: Some(vec!["nba.games.9".into(), "nba.games.99".into()]),
            event_types: Some(vec!["score.update".into()]),
            ..Default::default()
        },
    ];
    let mut subs = Vec::new();
    for (i, f) in filters.into_iter().enumerate() {
        let spec = SubscriptionSpec {
            name: format!("bench-{i}"),
            filter: f.validate().expect("filter"),
            group: None,
            start: Start::Latest,
            ack_wait_ms: 30_000,
            max_deliveries: 5,
        };
        subs.push(
            rt.block_on(bus.subscribe(spec))
                .expect("subscribe")
                .subscription_id,
        );
    }
    let t = Instant::now();
    let events: Vec<NewEvent> = (0..n).map(event).collect();
    println!(
        "validating events (UUID v7, payload serialization; done by the publisher, excluded below): {}",
        rate(n, t.elapsed())
    );
    let chunks: Vec<Vec<NewEvent>> = events.chunks(10_000).map(<[NewEvent]>::to_vec).collect();
    let t = Instant::now();
    for c in chunks {
        bus.publish_blocking(c).expect("publish");
    }
    let pub_time = t.elapsed();
    println!(
        "batch publish (10,000 per call, 10 filtered subscriptions): {}",
        rate(n, pub_time)
    );
    let t = Instant::now();
    let mut delivered = 0;
    for sub in &subs {
        loop {
            let p = rt
                .block_on(bus.poll(sub, 1000, Duration::ZERO))
                .expect("poll");
            if p.events.is_empty() {
                break;
            }
            delivered += p.events.len();
            let ids = p.events.iter().map(|d| d.event.event_id).collect();
            rt.block_on(bus.ack(sub, ids)).expect("ack");
        }
    }
    let d = t.elapsed();
    println!(
        "  10 subscriptions filtered {} stored events and delivered+acked {delivered} in {:.3} s ({:.0} scanned events/s per subscription)",
        n,
        d.as_secs_f64(),
        (n * 10) as f64 / d.as_secs_f64()
    );
}

fn single(label: &str, fsync: FsyncMode, n: usize) {
    let tmp = tempfile::tempdir().expect("tmp");
    let bus = open(tmp.path(), fsync, Retention::default());
    let publishers = 32;
    let per = n / publishers;
    let t = Instant::now();
    let handles: Vec<_> = (0..publishers)
        .map(|p| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                for i in 0..per {
                    let e = event(p * per + i);
                    let s = Instant::now();
                    bus.publish_blocking(vec![e]).expect("publish");
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("join"))
        .collect();
    let d = t.elapsed();
    lat.sort();
    let pct = |q: f64| percentile(&lat, q);
    println!(
        "single-event publish, 32 concurrent publishers, {label}: {} (per publish p50 {:?}, p99 {:?})",
        rate(per * publishers, d),
        pct(0.5),
        pct(0.99)
    );
}

/// One publisher, one event at a time: the latency of a single publish in
/// process (no MCP), through `publish` on the async runtime as the server
/// calls it, and through `publish_blocking`.
fn latency(rt: &tokio::runtime::Runtime) {
    let n = env_n("EVENTS_BENCH_LATENCY", 5_000);
    let tmp = tempfile::tempdir().expect("tmp");
    let bus = open(tmp.path(), FsyncMode::Commit, Retention::default());
    let report = |label: &str, mut lat: Vec<Duration>| {
        lat.sort();
        let pct = |q: f64| percentile(&lat, q);
        println!(
            "single publish, one publisher, {label}: p50 {:?}, p90 {:?}, p99 {:?} ({} publishes)",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            lat.len()
        );
    };
    let lat = rt.block_on(async {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let e = event(i);
            let s = Instant::now();
            bus.publish(vec![e]).await.expect("publish");
            lat.push(s.elapsed());
        }
        lat
    });
    report("async publish", lat);
    let lat = (0..n)
        .map(|i| {
            let e = event(i);
            let s = Instant::now();
            bus.publish_blocking(vec![e]).expect("publish");
            s.elapsed()
        })
        .collect();
    report("publish_blocking", lat);
}

fn memory() {
    let n = env_n("EVENTS_BENCH_MEMORY", 10_000_000);
    let tmp = tempfile::tempdir().expect("tmp");
    let bus = open(
        tmp.path(),
        FsyncMode::Commit,
        Retention {
            default: Limits {
                max_events: Some(100_000),
                max_age: None,
            },
            rules: vec![],
        },
    );
    let (rss0, _) = rss_mb();
    let t = Instant::now();
    let mut max_rss: f64 = 0.0;
    let mut i = 0;
    while i < n {
        let k = (n - i).min(10_000);
        // One topic, so the 100,000 limit trims every batch once reached.
        let batch: Vec<NewEvent> = (i..i + k)
            .map(|j| {
                let mut e = event(j);
                e.topic = "nba.games".into();
                e
            })
            .collect();
        bus.publish_blocking(batch).expect("publish");
        i += k;
        if i % 1_000_000 == 0 {
            let (rss, _) = rss_mb();
            max_rss = max_rss.max(rss);
            println!("  {i:>10} events published, RSS {rss:.1} MB");
        }
    }
    let d = t.elapsed();
    let (rss, hwm) = rss_mb();
    let db = std::fs::metadata(tmp.path().join("smart-systems.db")).map_or(0, |m| m.len());
    println!(
        "memory: {} with retention 100,000: RSS start {rss0:.1} MB, end {rss:.1} MB, peak (VmHWM) {hwm:.1} MB; store file {:.1} MB",
        rate(n, d),
        db as f64 / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if want("batch") {
        batch(&rt);
    }
    if want("single") {
        single(
            "default durability (WAL commit)",
            FsyncMode::Commit,
            env_n("EVENTS_BENCH_SINGLE", 200_000),
        );
    }
    if want("fsync") {
        single(
            "--events-fsync always",
            FsyncMode::Always,
            env_n("EVENTS_BENCH_FSYNC", 20_000),
        );
    }
    if want("latency") {
        latency(&rt);
    }
    if want("memory") {
        memory();
    }
}
