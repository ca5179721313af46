//! `erase_subject` cost against the size of the trail: one subject (10
//! entries, 3 personal values each) erased from trails of 10,000 and
//! 100,000 entries, with 1,000 subjects and with one subject per entry
//! (the key file then holds 100,000 keys). Run with
//! `cargo bench --bench audit_erase` (or `cargo test --bench audit_erase`
//! for a debug build); `AUDIT_BENCH_DIR` sets where the stores go.
//!
//! The time of an erasure is its transaction (find the subject's keys, mark
//! its values erased, append the erasure entry, fsync) plus the rewrite of
//! the key file and the WAL truncations; it grows with the subject's entries
//! and with the key file, not with the trail.
//!
//! Measured (debug build, 2 shared cores, Dec 2026): 44 ms at 10,000 entries
//! and 48 ms at 100,000 entries (1,000 subjects, 160 KiB key file); 264 ms
//! with 100,000 subjects (14 MiB key file, whose rewrite dominates).

use std::time::{Duration, Instant};

use smart_systems_mcp::audit::AuditTrail;
use smart_systems_mcp::audit::entry::NewEntry;
use smart_systems_mcp::store::Store;

fn entry(i: u64, subjects: u64) -> NewEntry {
    let s = i % subjects;
    NewEntry {
        user_id: format!("user-{s}"),
        action: "read".into(),
        resource_type: "player".into(),
        resource_id: format!("p{i}"),
        severity: "info".into(),
        outcome: "success".into(),
        user_email: Some(format!("user{s}@example.com")),
        ip_address: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
        user_agent: Some("ScoutApp/4.2".into()),
        ..NewEntry::default()
    }
}

/// Median time to erase one subject of 10 entries from a trail of `size`
/// entries of `subjects` subjects (plus the 10).
fn erase_time(size: u64, subjects: u64) -> (Duration, u64) {
    let base = std::env::var_os("AUDIT_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let store = Store::open(tmp.path(), smart_systems_mcp::app::COMPONENTS).expect("store");
    let trail = AuditTrail::open(&store, vec![]).expect("trail");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // Submitted all at once: the writer commits them in batches.
    let mut pending = Vec::new();
    for i in 0..size {
        pending.push(trail.submit(entry(i, subjects)).expect("submit"));
        if pending.len() == 20_000 {
            for rx in pending.drain(..) {
                rx.blocking_recv().expect("writer").expect("append");
            }
        }
    }
    for rx in pending {
        rx.blocking_recv().expect("writer").expect("append");
    }
    let mut times = Vec::new();
    for round in 0..5 {
        for i in 0..10 {
            let mut e = entry(i, 1);
            e.user_id = format!("erased-{round}");
            e.user_email = Some(format!("erased{round}@example.com"));
            trail.log_blocking(e).expect("append");
        }
        let started = Instant::now();
        let erased = rt
            .block_on(trail.erase(Some(format!("erased-{round}")), None, "bench".into()))
            .expect("erase");
        times.push(started.elapsed());
        assert_eq!(erased.values_erased, 30);
    }
    times.sort();
    let keys = std::fs::metadata(tmp.path().join("audit-keys.db")).map_or(0, |m| m.len());
    (times[times.len() / 2], keys)
}

fn main() {
    println!("erase_subject: one subject of 10 entries (median of 5)");
    for (size, subjects) in [
        (10_000, 1_000),
        (100_000, 1_000),
        (10_000, 10_000),
        (100_000, 100_000),
    ] {
        let (t, keys) = erase_time(size, subjects);
        println!(
            "  trail {size:>7} entries, {subjects:>7} subjects: {:>8.1} ms  (key file {} KiB)",
            t.as_secs_f64() * 1000.0,
            keys / 1024
        );
    }
}
