//! Audit trail benchmarks (release mode): durable append throughput with 64
//! concurrent callers and single-caller latency beside the machine's fsync
//! latency, `verify_chain` over 1,000,000 entries, and `audit_query` by user
//! over 1,000,000 entries. Run with `cargo bench --bench audit_log`.
//!
//! The benchmark drives the library (`AuditTrail`) directly: the figures are
//! those of the audit engine, without the stdio JSON-RPC round trip.
//! `AUDIT_BENCH_ENTRIES` changes the size of the large log (default 1000000)
//! and `AUDIT_BENCH_DIR` where the store goes (default the temp dir; use a
//! directory on the disk you care about: tmpfs makes fsync free).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smart_systems_mcp::audit::AuditTrail;
use smart_systems_mcp::audit::entry::NewEntry;
use smart_systems_mcp::audit::query::QueryFilter;
use smart_systems_mcp::audit::verify::VerifyRequest;
use smart_systems_mcp::store::Store;

fn entry(i: u64) -> NewEntry {
    let mut details = serde_json::Map::new();
    details.insert("points".into(), (i % 50).into());
    details.insert("season".into(), "2025-26".into());
    NewEntry {
        user_id: format!("user-{}", i % 1000),
        action: ["read", "update", "export", "create"][(i % 4) as usize].into(),
        resource_type: "player".into(),
        resource_id: format!("p{}", i % 5000),
        severity: "info".into(),
        outcome: "success".into(),
        user_email: Some(format!("user{}@example.com", i % 1000)),
        ip_address: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
        details,
        tenant_id: Some(format!("team-{}", i % 30)),
        tags: vec!["nba".into()],
        purpose: Some("analytics".into()),
        ..NewEntry::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU seconds (user + system) this process has used so far, from
/// /proc/self/stat (0 where unavailable): shows how much of a busy machine
/// the benchmark actually got.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times fsync of a 4 KiB append to a file beside the store: the floor of
/// any durable commit (SQLite fsyncs its WAL the same way).
struct FsyncProbe {
    file: std::fs::File,
}

impl FsyncProbe {
    fn new(dir: &Path) -> Self {
        let file = std::fs::File::create(dir.join("fsync-probe")).expect("probe file");
        FsyncProbe { file }
    }

    fn measure(&mut self) -> Duration {
        self.file.write_all(&[7u8; 4096]).expect("write");
        let t = Instant::now();
        self.file.sync_all().expect("fsync");
        t.elapsed()
    }
}

fn main() {
    let base = std::env::var_os("AUDIT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let big: u64 = std::env::var("AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir_in(&base).expect("bench dir");
    let store =
        Store::open(&tmp.path().join("data"), smart_systems_mcp::app::COMPONENTS).expect("store");
    let trail = Arc::new(AuditTrail::open(&store, vec![]).expect("audit trail"));
    println!("audit_log benchmark: store on {}", base.display());
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Single caller, every call waiting for its own commit, interleaved
    // with fsync probes so both see the same disk (this machine's fsync
    // latency swings with the neighbours' load). Two rounds over the same
    // 300 users: in the first every entry is its subject's first, whose
    // personal values need a new key, made durable in the key file before
    // the entry commits (a second fsync); the second round is the steady
    // state, subjects the trail already has keys for.
    let mut probe = FsyncProbe::new(tmp.path());
    let (mut lat, mut fsyncs) = ([Vec::new(), Vec::new()], Vec::new());
    for i in 0..600 {
        fsyncs.push(probe.measure());
        let t = Instant::now();
        trail.log_blocking(entry(i % 300)).expect("append");
        lat[(i / 300) as usize].push(t.elapsed());
    }
    fsyncs.sort();
    let f50 = percentile(&fsyncs, 0.5);
    println!(
        "fsync (4 KiB append + fsync, interleaved with the appends): p50 {:.2} ms, p99 {:.2} ms",
        ms(f50),
        ms(percentile(&fsyncs, 0.99))
    );
    let [mut first, mut known] = lat;
    for (lat, what, target) in [
        (&mut known, "known subjects", "; target <= 2"),
        (&mut first, "each a subject's first entry (new key)", ""),
    ] {
        lat.sort();
        let p50 = percentile(lat, 0.5);
        println!(
            "single caller durable append, {what}: p50 {:.2} ms, p99 {:.2} ms ({:.2} x fsync p50{target})",
            ms(p50),
            ms(percentile(lat, 0.99)),
            p50.as_secs_f64() / f50.as_secs_f64()
        );
    }

    // 64 concurrent callers, each returning after its fsync.
    let callers = 64;
    let per_caller = 500u64;
    let commits_before = trail.commit_count();
    let t = Instant::now();
    let handles: Vec<_> = (0..callers)
        .map(|c| {
            let trail = trail.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_caller as usize);
                for i in 0..per_caller {
                    let s = Instant::now();
                    trail
                        .log_blocking(entry(c * per_caller + i))
                        .expect("append");
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("caller"))
        .collect();
    let elapsed = t.elapsed();
    lat.sort();
    let total = callers * per_caller;
    let commits = trail.commit_count() - commits_before;
    println!(
        "{callers} concurrent callers: {total} durable appends in {:.2} s = {:.0} entries/s \
         (target >= 20000); call latency p50 {:.2} ms, p99 {:.2} ms; {commits} commits \
         = {:.1} entries per fsync, {:.2} ms per commit",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        total as f64 / commits.max(1) as f64,
        elapsed.as_secs_f64() * 1e3 / commits.max(1) as f64
    );

    // Grow the log to `big` entries (pipelined submissions: big batches).
    let have = trail.size().expect("size");
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let mut next = have;
    while next < big {
        let chunk = (big - next).min(16_384);
        let pending: Vec<_> = (next..next + chunk)
            .map(|i| trail.submit(entry(i)).expect("submit"))
            .collect();
        for rx in pending {
            rx.blocking_recv().expect("writer").expect("append");
        }
        next += chunk;
    }
    println!(
        "filled to {big} entries in {:.1} s ({:.0} entries/s pipelined, {:.1} us of CPU per entry)",
        t.elapsed().as_secs_f64(),
        (big - have) as f64 / t.elapsed().as_secs_f64().max(1e-9),
        (cpu_seconds() - cpu) * 1e6 / (big - have).max(1) as f64
    );

    for run in 1..=2 {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let report = trail.verify(&VerifyRequest::default()).expect("verify");
        let (e, cpu) = (t.elapsed(), cpu_seconds() - cpu);
        assert!(report.valid, "{:?}", report.problems);
        println!(
            "verify_chain over {} entries (run {run}): {:.2} s = {:.0} entries/s (target >= 1000000); \
             {cpu:.2} CPU-s used = {:.2} us of CPU per entry",
            report.entries_checked,
            e.as_secs_f64(),
            report.entries_checked as f64 / e.as_secs_f64(),
            cpu * 1e6 / report.entries_checked as f64
        );
    }

    let mut lat = Vec::new();
    for q in 0..300u64 {
        let filter = QueryFilter {
            user_id: Some(format!("user-{}", (q * 37) % 1000)),
            ..QueryFilter::default()
        };
        let t = Instant::now();
        let page = trail.query(&filter, 50, None).expect("query");
        lat.push(t.elapsed());
        assert_eq!(page.entries.len(), 50);
    }
    lat.sort();
    println!(
        "audit_query by user over {big} entries (50 per page): p50 {:.2} ms, p99 {:.2} ms (target p50 <= 5)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
}
