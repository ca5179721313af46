//! The alerting toolset over MCP (stdio, the real release binary):
//! `check_metrics` throughput with 10,000 points per call and `check_metric`
//! round-trip latency, against 1,000 rules over 1,000 metrics.
//!
//! Timings are client-observed round trips: serialising the request line,
//! the server's work including its one store transaction per call, and
//! parsing the response line, as a client does once per call (no copies of
//! the request or response beyond that). The `check_metrics` client is a
//! collector written in Rust: it serialises its typed points and reads the
//! answer into typed structs (checking it is JSON with one result per point)
//! instead of building a `serde_json::Value` tree, whose map inserts cost
//! more CPU than the server's own work on this 2-core machine. Each series
//! also prints the CPU the server and the client used per call.
//!
//! `check_metrics` is measured twice: one call at a time (the client waits
//! for each answer before it serialises the next request), and pipelined
//! with two calls in flight, the client writing requests from one thread and
//! reading answers on another, as a client streaming metrics would; there
//! the client's own serialising and parsing overlap with the server's work.
//!
//! A third series runs with the server's default answer bound, which keeps
//! as many results as fit in 20,000 tokens and counts the rest as omitted:
//! what an agent's client gets, and the cost of counting those tokens.
//!
//! Run: cargo bench --bench alerting_mcp (`ALERTING_BENCH_CALLS=N` for longer
//! `check_metrics` series, default 60; `ALERTING_BENCH_IN_FLIGHT=N` for N
//! pipelined calls instead of 2).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use common::{Server, temp_dir};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const METRICS: usize = 1_000;
const BATCH: usize = 10_000;
/// Calls per `check_metrics` series; `ALERTING_BENCH_CALLS` raises it (for
/// a profile).
fn calls() -> usize {
    std::env::var("ALERTING_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}
const SINGLE: usize = 2_000;
/// Calls in flight in the pipelined series (the target is set on 2);
/// `ALERTING_BENCH_IN_FLIGHT` changes it, to see where the server's CPU
/// rather than the wait for answers sets the rate.
fn in_flight() -> usize {
    std::env::var("ALERTING_BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(2)
}

/// One point as a metrics collector holds it.
#[derive(Serialize)]
struct Point {
    metric_name: String,
    value: f64,
    timestamp: usize,
}

#[derive(Serialize)]
struct Points {
    points: Vec<Point>,
}

fn batch(call: usize) -> Points {
    let points = (0..BATCH)
        .map(|i| {
            let n = call * BATCH + i;
            let value = 500.0
                + ((n as u64 * 2_654_435_761) % 495) as f64
                + if n.is_multiple_of(997) { 600.0 } else { 0.0 };
            Point {
                metric_name: format!("m{}", n % METRICS),
                value,
                timestamp: 1_700_000_000 + n / METRICS,
            }
        })
        .collect();
    Points { points }
}

/// A `tools/call` request line (without its newline), the arguments
/// serialised once from their type, as a collector written in Rust would.
fn request_line(id: u64, tool: &str, arguments: &impl Serialize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{}}}}}"#,
        serde_json::to_string(arguments).expect("serialise arguments")
    )
}

/// The parts of a `check_metrics` answer the client reads; the rest of the
/// line is checked to be JSON and skipped without building a tree.
#[derive(Deserialize)]
struct Answer {
    id: u64,
    result: Option<Outcome>,
}

#[derive(Deserialize)]
struct Outcome {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(rename = "structuredContent")]
    structured: Option<Checked>,
}

#[derive(Deserialize)]
struct Checked {
    results: Vec<IgnoredAny>,
    #[serde(default)]
    results_omitted: usize,
}

/// Parses a `check_metrics` answer line; panics unless it is a successful
/// answer with one result per point (shown or counted as omitted under the
/// answer bound). Returns its id.
fn checked(line: &str) -> u64 {
    let answer: Answer = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {:.2000}", line));
    let ok = answer.result.is_some_and(|r| {
        !r.is_error
            && r.structured
                .is_some_and(|c| c.results.len() + c.results_omitted == BATCH)
    });
    assert!(ok, "not {BATCH} results: {:.2000}", line);
    answer.id
}

/// CPU seconds (user + system, all threads) process `pid` has used, from
/// /proc (clock ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU milliseconds per call the server and this client used since `before`.
fn cpu_per_call(server: &str, before: (f64, f64), calls: usize) -> String {
    let (s, c) = (cpu_seconds(server), cpu_seconds("self"));
    format!(
        "CPU per call: server {:.1} ms, client {:.1} ms",
        (s - before.0) * 1000.0 / calls as f64,
        (c - before.1) * 1000.0 / calls as f64
    )
}

/// One `tools/call` round trip: the request serialised once, the response
/// parsed once (by the test client's reader).
fn call(s: &mut Server, tool: &str, arguments: &Value) -> Value {
    let id = s.next_id();
    s.send_line(&request_line(id, tool, arguments));
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

fn scenario(name: &str, detectors: bool, bounded: bool) {
    let calls = calls();
    let tmp = temp_dir();
    // A script reading every point's result: the answer bound lifted;
    // `bounded`: the server's default bound, which cuts the 10,000 results
    // to what fits in 20,000 tokens (an agent's answer).
    let args: &[&str] = if bounded {
        &["--toolsets", "alerting"]
    } else {
        &["--toolsets", "alerting", "--max-answer-tokens", "0"]
    };
    let mut s = Server::started_direct(&tmp.path().join("d"), args);
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
    let requests: Vec<Points> = (0..calls + 2).map(batch).collect();
    let server = s.pid().to_string();
    let one = |s: &mut Server, points: &Points| {
        let id = s.next_id();
        s.send_line(&request_line(id, "check_metrics", points));
        assert_eq!(checked(&s.next_line()), id);
    };
    for r in &requests[..2] {
        one(&mut s, r);
    }
    let cpu = (cpu_seconds(&server), cpu_seconds("self"));
    let start = Instant::now();
    for r in &requests[2..] {
        one(&mut s, r);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: check_metrics {BATCH} points/call: {:>10.0} points/s ({calls} calls in {secs:.2} s, {:.1} ms/call; {})",
        (calls * BATCH) as f64 / secs,
        secs * 1000.0 / calls as f64,
        cpu_per_call(&server, cpu, calls)
    );
    // Pipelined: two calls in flight; a writer thread serialises and sends,
    // this thread reads and parses the answers.
    let first_id = s.next_id();
    for _ in 1..calls {
        s.next_id();
    }
    let mut stdin = s.take_stdin();
    let in_flight = in_flight();
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        token_tx.send(()).expect("token");
    }
    // Fresh points, later in time than the ones above.
    let to_send: Vec<Points> = (calls + 2..2 * calls + 2).map(batch).collect();
    let cpu = (cpu_seconds(&server), cpu_seconds("self"));
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        for (k, r) in to_send.iter().enumerate() {
            token_rx.recv().expect("token");
            let mut line = request_line(first_id + k as u64, "check_metrics", r);
            line.push('\n');
            stdin.write_all(line.as_bytes()).expect("write to server");
            stdin.flush().expect("flush");
        }
        stdin
    });
    // Concurrent calls may finish in either order: each id once.
    let mut answered = vec![false; calls];
    for _ in 0..calls {
        let k = checked(&s.next_line()).wrapping_sub(first_id) as usize;
        assert!(
            k < calls && !answered[k],
            "unexpected or repeated answer {k}"
        );
        answered[k] = true;
        let _ = token_tx.send(());
    }
    let secs = start.elapsed().as_secs_f64();
    s.put_stdin(writer.join().expect("writer thread"));
    println!(
        "{name}: check_metrics {BATCH} points/call, {in_flight} in flight: {:>10.0} points/s ({calls} calls in {secs:.2} s; {})",
        (calls * BATCH) as f64 / secs,
        cpu_per_call(&server, cpu, calls)
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
    scenario("rules", false, false);
    scenario("rules + auto thresholds", true, false);
    scenario("rules + auto, default answer bound", true, true);
}
