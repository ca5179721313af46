//! Durable audit appends with 64 concurrent callers across two processes,
//! on PostgreSQL (`--store-url`) and, beside it, on the embedded SQLite store
//! (two processes on one data dir). Run in release mode:
//!
//! ```text
//! AUDIT_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench audit_postgres
//! ```
//!
//! Without `AUDIT_BENCH_PG_URL` the PostgreSQL half is skipped (with a
//! message). The benchmark re-executes itself as the two worker processes
//! (each an `AuditTrail` with its own writer thread and connections, as a
//! server process has, 32 callers each, every call waiting for its durable
//! commit); the parent starts them at one instant, reports entries per
//! second over the whole run, and verifies that the result is one valid
//! chain. `AUDIT_BENCH_PER_PROCESS` sets the entries each process appends
//! (default 20000). The figure excludes the stdio JSON-RPC round trip.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smart_systems_mcp::audit::AuditTrail;
use smart_systems_mcp::audit::entry::NewEntry;
use smart_systems_mcp::audit::verify::VerifyRequest;
use smart_systems_mcp::store::Store;

const PROCESSES: usize = 2;
const CALLERS_PER_PROCESS: usize = 32;

fn entry(i: u64) -> NewEntry {
    let mut details = serde_json::Map::new();
    details.insert("points".into(), (i % 50).into());
    NewEntry {
        user_id: format!("user-{}", i % 1000),
        action: ["read", "update", "export", "create"][(i % 4) as usize].into(),
        resource_type: "player".into(),
        resource_id: format!("p{}", i % 5000),
        severity: "info".into(),
        outcome: "success".into(),
        user_email: Some(format!("user{}@example.com", i % 1000)),
        details,
        tenant_id: Some(format!("team-{}", i % 30)),
        tags: vec!["nba".into()],
        ..NewEntry::default()
    }
}

/// Where a worker's log lives: `sqlite:<data dir>` or `postgres:<namespace>`.
fn open(target: &str) -> AuditTrail {
    if let Some(dir) = target.strip_prefix("sqlite:") {
        let store = Store::open(
            std::path::Path::new(dir),
            smart_systems_mcp::app::COMPONENTS,
        )
        .expect("store");
        AuditTrail::open(&store, vec![]).expect("audit trail")
    } else {
        let ns = target.strip_prefix("postgres:").expect("target");
        let url = std::env::var("AUDIT_BENCH_PG_URL").expect("AUDIT_BENCH_PG_URL");
        AuditTrail::open_postgres(&url, ns, vec![]).expect("audit trail on PostgreSQL")
    }
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// A worker process: waits for the start instant, appends, prints
/// `<entries> <commits> <finish epoch ms>`.
fn worker(target: &str, start_at: u128, per_process: u64) {
    let trail = Arc::new(open(target));
    while epoch_ms() < start_at {
        std::thread::sleep(Duration::from_millis(1));
    }
    let per_caller = per_process / CALLERS_PER_PROCESS as u64;
    let handles: Vec<_> = (0..CALLERS_PER_PROCESS as u64)
        .map(|c| {
            let trail = trail.clone();
            std::thread::spawn(move || {
                for i in 0..per_caller {
                    trail
                        .log_blocking(entry(c * per_caller + i))
                        .expect("append");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("caller");
    }
    println!(
        "{} {} {}",
        per_caller * CALLERS_PER_PROCESS as u64,
        trail.commit_count(),
        epoch_ms()
    );
}

/// Runs the two workers on `target`; prints and returns entries/s.
fn run(label: &str, target: &str, per_process: u64) -> f64 {
    // Create the schema / store (and key) once before the workers race.
    drop(open(target));
    let start_at = epoch_ms() + 3000;
    let exe = std::env::current_exe().expect("own path");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .env("AUDIT_BENCH_WORKER", target)
                .env("AUDIT_BENCH_START_AT", start_at.to_string())
                .env("AUDIT_BENCH_PER_PROCESS", per_process.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("worker process")
        })
        .collect();
    let (mut entries, mut commits, mut end) = (0u64, 0u64, 0u128);
    for child in children {
        let out = child.wait_with_output().expect("worker");
        assert!(out.status.success(), "worker failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<u128> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        entries += f[0] as u64;
        commits += f[1] as u64;
        end = end.max(f[2]);
    }
    let secs = (end.saturating_sub(start_at)) as f64 / 1e3;
    let rate = entries as f64 / secs;
    let trail = open(target);
    let t = Instant::now();
    let report = trail.verify(&VerifyRequest::default()).expect("verify");
    println!(
        "{label}: {entries} durable appends by {} callers in {PROCESSES} processes in {secs:.2} s \
         = {rate:.0} entries/s ({:.1} entries per commit); chain of {} entries {} ({:.2} s to verify)",
        PROCESSES * CALLERS_PER_PROCESS,
        entries as f64 / commits.max(1) as f64,
        report.entries_checked,
        if report.valid { "valid" } else { "INVALID" },
        t.elapsed().as_secs_f64()
    );
    assert!(report.valid && report.entries_checked == entries);
    rate
}

fn main() {
    let per_process: u64 = std::env::var("AUDIT_BENCH_PER_PROCESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    if let Ok(target) = std::env::var("AUDIT_BENCH_WORKER") {
        let start_at = std::env::var("AUDIT_BENCH_START_AT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        worker(&target, start_at, per_process);
        return;
    }
    let tmp = tempfile::tempdir().expect("bench dir");
    let dir = tmp.path().join("data");
    run(
        "embedded SQLite (one data dir)",
        &format!("sqlite:{}", dir.display()),
        per_process,
    );
    match std::env::var("AUDIT_BENCH_PG_URL") {
        Ok(url) if !url.is_empty() => {
            let ns = format!("bench_{}", std::process::id());
            let rate = run(
                "PostgreSQL (one namespace)",
                &format!("postgres:{ns}"),
                per_process,
            );
            println!(
                "target >= 5000 entries/s on PostgreSQL: {}",
                if rate >= 5000.0 { "met" } else { "NOT met" }
            );
            // Leave the server as we found it.
            if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA {ns} CASCADE"));
            }
        }
        _ => println!("PostgreSQL: skipped (set AUDIT_BENCH_PG_URL=postgres://... to run it)"),
    }
}
