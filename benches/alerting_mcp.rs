//! The alerting toolset over MCP (stdio, the real release binary):
//! `check_metrics` throughput with 10,000 points per call and `check_metric`
//! round-trip latency, against 1,000 rules over 1,000 metrics.
//!
//! Timings are client-observed round trips: serialising the request line,
//! the server's work including its one store transaction per call, and
//! parsing the response line, as a client does once per call (no copies of
//! the request or response beyond that).
//!
//! `check_metrics` is measured twice: one call at a time (the client waits
//! for each answer before it serialises the next request), and pipelined
//! with two calls in flight, the client writing requests from one thread and
//! reading answers on another, as a client streaming metrics would; there
//! the client's own serialising and parsing overlap with the server's work.
//!
//! Run: cargo bench --bench alerting_mcp

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use common::{Server, temp_dir};
use serde_json::{Value, json};

const METRICS: usize = 1_000;
const BATCH: usize = 10_000;
const CALLS: usize = 20;
const SINGLE: usize = 2_000;
const IN_FLIGHT: usize = 2;

fn batch(call: usize) -> Value {
    let points: Vec<Value> = (0..BATCH)
        .map(|i| {
            let n = call * BATCH + i;
            let v = 500.0 + ((n as u64 * 2_654_435_761) % 495) as f64 + if n.is_multiple_of(997) { 600.0 } else { 0.0 };
            json!({"metric_name": format!("m{}", n % METRICS), "value": v, "timestamp": 1_700_000_000 + n / METRICS})
        })
        .collect();
    json!({"points": points})
}

/// One `tools/call` round trip: the request serialised once, the response
/// parsed once (by the test client's reader).
fn call(s: &mut Server, tool: &str, arguments: &Value) -> Value {
    let id = s.next_id();
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{}}}}}"#,
        serde_json::to_string(arguments).expect("serialise arguments")
    );
    s.send_line(&line);
    let mut resp = s.wait_for_id(&json!(id));
    assert!(
        resp["result"]["isError"] != json!(true),
        "{tool} failed: {}",
        resp
    );
    resp["result"]["structuredContent"].take()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn scenario(name: &str, detectors: bool) {
    let tmp = temp_dir();
    let mut s = Server::started_direct(&tmp.path().join("d"), &["--toolsets", "alerting"]);
    for i in 0..METRICS {
        s.call_ok(
            "add_alert_rule",
            json!({"rule_id": format!("r{i}"), "metric_name": format!("m{i}"), "condition": "value > 990", "severity": "warning"}),
        );
        if detectors {
            s.call_ok(
                "add_dynamic_threshold",
                json!({"metric_name": format!("m{i}")}),
            );
        }
    }
    let requests: Vec<Value> = (0..CALLS + 2).map(batch).collect();
    for r in &requests[..2] {
        s.call_ok("check_metrics", r.clone());
    }
    let start = Instant::now();
    for r in &requests[2..] {
        let out = call(&mut s, "check_metrics", r);
        assert_eq!(out["results"].as_array().map(Vec::len), Some(BATCH));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: check_metrics {BATCH} points/call: {:>10.0} points/s ({CALLS} calls in {secs:.2} s, {:.1} ms/call)",
        (CALLS * BATCH) as f64 / secs,
        secs * 1000.0 / CALLS as f64
    );
    // Pipelined: two calls in flight; a writer thread serialises and sends,
    // this thread reads and parses the answers.
    let first_id = s.next_id();
    for _ in 1..CALLS {
        s.next_id();
    }
    let mut stdin = s.take_stdin();
    let (token_tx, token_rx) = sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        token_tx.send(()).expect("token");
    }
    // Fresh points, later in time than the ones above.
    let to_send: Vec<Value> = (CALLS + 2..2 * CALLS + 2).map(batch).collect();
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        for (k, r) in to_send.iter().enumerate() {
            token_rx.recv().expect("token");
            let line = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"check_metrics\",\"arguments\":{}}}}}\n",
                first_id + k as u64,
                serde_json::to_string(r).expect("serialise arguments")
            );
            stdin.write_all(line.as_bytes()).expect("write to server");
            stdin.flush().expect("flush");
        }
        stdin
    });
    for k in 0..CALLS {
        let resp = s.wait_for_id(&json!(first_id + k as u64));
        let _ = token_tx.send(());
        assert_eq!(
            resp["result"]["structuredContent"]["results"]
                .as_array()
                .map(Vec::len),
            Some(BATCH),
            "{resp}"
        );
    }
    let secs = start.elapsed().as_secs_f64();
    s.put_stdin(writer.join().expect("writer thread"));
    println!(
        "{name}: check_metrics {BATCH} points/call, {IN_FLIGHT} in flight: {:>10.0} points/s ({CALLS} calls in {secs:.2} s)",
        (CALLS * BATCH) as f64 / secs,
    );
    let mut lat = Vec::with_capacity(SINGLE);
    for i in 0..SINGLE {
        let args = json!({"metric_name": format!("m{}", i % METRICS), "value": 700.0, "timestamp": 1_800_000_000 + i});
        let t = Instant::now();
        call(&mut s, "check_metric", &args);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{name}: check_metric round trip: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us ({SINGLE} calls)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99)
    );
    assert!(s.close().success());
}

fn main() {
    println!("alerting over MCP stdio, {METRICS} rules over {METRICS} metrics");
    scenario("rules", false);
    scenario("rules + auto thresholds", true);
}
