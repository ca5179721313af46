//! Over-stdio benchmark of the events toolset against the built binary (run
//! in release mode: `cargo bench --bench events_stdio`): `publish_event`
//! round trip, and publish-to-poll latency with the poller long-polling, in
//! the same server process and across two processes sharing a data dir.
//! Sizes: EVENTS_BENCH_CALLS (default 5000), EVENTS_BENCH_LATENCY (default 1000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Server, temp_dir};
use serde_json::{Value, json};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let pct = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{label}: n={} p50 {:?} p90 {:?} p99 {:?} max {:?}",
        v.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        v[v.len() - 1]
    );
}

fn publish_args(i: usize) -> Value {
    json!({"name": "publish_event", "arguments": {"topic": "nba.games.1", "event_type": "score.update",
        "payload": {"game_id": "0022400123", "home": 100 + i % 20, "away": 98}}})
}

fn send_call(s: &mut Server, params: Value) -> Value {
    let id = s.next_id();
    s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}));
    json!(id)
}

fn ok(resp: &Value) -> &Value {
    assert_eq!(resp["result"]["isError"], json!(false), "{resp}");
    &resp["result"]["structuredContent"]
}

fn main() {
    let calls = env_n("EVENTS_BENCH_CALLS", 5000);
    let lat_n = env_n("EVENTS_BENCH_LATENCY", 1000);
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut a = Server::started_direct(&data, &["--log-level", "warn"]);

    // publish_event round trip, one call at a time.
    for i in 0..200 {
        let id = send_call(&mut a, publish_args(i));
        a.wait_for_id(&id);
    }
    let mut rt = Vec::with_capacity(calls);
    for i in 0..calls {
        let t = Instant::now();
        let id = send_call(&mut a, publish_args(i));
        let r = a.wait_for_id(&id);
        rt.push(t.elapsed());
        ok(&r);
    }
    summary("publish_event round trip over stdio", rt);

    // Publish-to-poll, same process: the poll is long-polling when the
    // publish is sent.
    let sub = ok(&a.request(
        "tools/call",
        json!({"name": "subscribe", "arguments": {"name": "lat", "topics": ["live.>"]}}),
    ))["subscription_id"]
        .clone();
    let mut lat = Vec::with_capacity(lat_n);
    for i in 0..lat_n {
        let poll_id = send_call(
            &mut a,
            json!({"name": "poll_events", "arguments": {"subscription_id": sub, "wait_ms": 30000, "max": 10}}),
        );
        std::thread::sleep(Duration::from_millis(1));
        let t = Instant::now();
        let pub_id = send_call(
            &mut a,
            json!({"name": "publish_event", "arguments": {"topic": "live.game", "event_type": "tick", "payload": {"i": i}}}),
        );
        let polled = a.wait_for_id(&poll_id);
        lat.push(t.elapsed());
        a.wait_for_id(&pub_id);
        let ids: Vec<Value> = ok(&polled)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].clone())
            .collect();
        assert!(!ids.is_empty());
        let ack = send_call(
            &mut a,
            json!({"name": "ack_events", "arguments": {"subscription_id": sub, "event_ids": ids}}),
        );
        a.wait_for_id(&ack);
    }
    summary("publish-to-poll latency, long-poll, same process", lat);

    // Across two processes on one data dir.
    let mut b = Server::started_direct(&data, &["--log-level", "warn"]);
    let sub = ok(&b.request(
        "tools/call",
        json!({"name": "subscribe", "arguments": {"name": "lat2", "topics": ["cross.>"]}}),
    ))["subscription_id"]
        .clone();
    let mut lat = Vec::with_capacity(lat_n);
    for i in 0..lat_n {
        let poll_id = send_call(
            &mut b,
            json!({"name": "poll_events", "arguments": {"subscription_id": sub, "wait_ms": 30000, "max": 10}}),
        );
        std::thread::sleep(Duration::from_millis(3));
        let t = Instant::now();
        let pub_id = send_call(
            &mut a,
            json!({"name": "publish_event", "arguments": {"topic": "cross.game", "event_type": "tick", "payload": {"i": i}}}),
        );
        let polled = b.wait_for_id(&poll_id);
        lat.push(t.elapsed());
        a.wait_for_id(&pub_id);
        let ids: Vec<Value> = ok(&polled)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].clone())
            .collect();
        let ack = send_call(
            &mut b,
            json!({"name": "ack_events", "arguments": {"subscription_id": sub, "event_ids": ids}}),
        );
        b.wait_for_id(&ack);
    }
    summary(
        "publish-to-poll latency, long-poll, publisher and poller in two processes",
        lat,
    );
}
