//! Tool-call round trips over stdio against the release binary, the way a
//! client meets the server: `server_info` called sequentially (p50/p99
//! latency) and pipelined with 64 requests in flight (calls/second).
//!
//! Run: `cargo bench --bench stdio_roundtrip` (optional args: sequential
//! calls, pipelined calls). Prints the figures; asserts nothing.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 64;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let sequential: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let pipelined: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);

    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smart-systems-mcp"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--log-level", "warn"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start server");
    let mut out = BufWriter::new(child.stdin.take().expect("stdin"));
    let mut input = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();

    let send = |out: &mut BufWriter<_>, s: &str| {
        out.write_all(s.as_bytes()).expect("write");
        out.write_all(b"\n").expect("write");
        out.flush().expect("flush");
    };
    send(
        &mut out,
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#,
    );
    input.read_line(&mut line).expect("initialize response");
    send(
        &mut out,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );

    let call = |id: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"server_info","arguments":{{}}}}}}"#
        )
    };

    // Sequential: one request, wait for its response, repeat.
    let warmup = 2_000;
    let mut samples = Vec::with_capacity(sequential);
    for i in 0..warmup + sequential {
        let req = call(i + 1);
        let start = Instant::now();
        send(&mut out, &req);
        line.clear();
        input.read_line(&mut line).expect("response");
        let elapsed = start.elapsed();
        assert!(
            line.contains("structuredContent"),
            "unexpected response: {line}"
        );
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;

    // Pipelined: keep IN_FLIGHT requests outstanding.
    let (token_tx, token_rx) = sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        token_tx.send(()).expect("token");
    }
    let base = 1_000_000;
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        for _ in 0..pipelined {
            line.clear();
            input.read_line(&mut line).expect("response");
            let _ = token_tx.send(());
        }
        input
    });
    for i in 0..pipelined {
        token_rx.recv().expect("token");
        send(&mut out, &call(base + i));
    }
    out.flush().expect("flush");
    let _input = reader.join().expect("reader");
    let elapsed = start.elapsed();

    drop(out);
    let _ = child.wait();

    println!(
        "stdio round trip, server_info, release binary, {} cores",
        num_cpus()
    );
    println!(
        "  sequential ({sequential} calls): p50 {:.1} us, p99 {:.1} us, mean {:.1} us",
        us(pct(0.50)),
        us(pct(0.99)),
        us(mean)
    );
    println!(
        "  pipelined ({pipelined} calls, {IN_FLIGHT} in flight): {:.0} calls/s ({:.2} s)",
        pipelined as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
