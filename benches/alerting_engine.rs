//! In-process throughput of the alerting engine: points per second through
//! the rule and detector path, 1,000 rules over 1,000 metrics, one thread.
//!
//! Points are looked up by interned series id (what `check_metrics` does
//! after resolving each point once). Four set-ups: static rules only;
//! rules plus an `auto` learned threshold on every metric; the same with
//! the per-call persistence snapshot (`take_changes`) every 10,000 points, as
//! a `check_metrics` call does before its one store transaction; and the
//! whole of a call's engine work: batches of 10,000 points by metric name
//! through `check_batch` (which observes the detectors series by series),
//! then `take_changes`.
//!
//! Run: cargo bench --bench alerting_engine

use std::hint::black_box;
use std::time::Instant;

use smart_systems_mcp::alerting::engine::{DynamicSpec, Engine, RuleSpec};
use smart_systems_mcp::alerting::model::Severity;
use smart_systems_mcp::alerting::queries::BatchPoint;
use smart_systems_mcp::alerting::threshold::DetectorParams;

const METRICS: usize = 1_000;
const POINTS: usize = 5_000_000;

fn engine(with_detectors: bool) -> (Engine, Vec<u32>) {
    let mut e = Engine::new();
    for i in 0..METRICS {
        e.add_rule(RuleSpec {
            rule_id: format!("r{i}"),
            metric_name: format!("m{i}"),
            condition: "value > 990".into(),
            severity: Severity::Warning,
            for_seconds: 0.0,
            recovery_condition: None,
            title_template: None,
            description_template: None,
            labels: vec![],
            resolve_after_seconds: None,
        })
        .expect("rule compiles");
        if with_detectors {
            e.add_dynamic(DynamicSpec {
                metric_name: format!("m{i}"),
                params: DetectorParams::default(),
                severity: Severity::Warning,
                resolve_after_seconds: None,
            });
        }
    }
    let ids = (0..METRICS)
        .map(|i| {
            e.series_for(&format!("m{i}"), "", &[])
                .expect("watched metric")
        })
        .collect();
    (e, ids)
}

/// Point `p`'s value: a deterministic sawtooth with noise (period 65,536);
/// about 1 in 1,000 crosses the rule.
fn value(p: usize) -> f64 {
    let i = p & 65_535;
    500.0
        + ((i as u64 * 2_654_435_761) % 495) as f64
        + if i.is_multiple_of(997) { 600.0 } else { 0.0 }
}

/// Prints one set-up's line: points per second and what the engine did.
fn report(name: &str, e: &Engine, secs: f64) {
    let c = e.counters();
    println!(
        "{name:<48} {:>12.0} points/s  ({POINTS} points in {secs:.2} s; {} alerts, {} deduplicated)",
        POINTS as f64 / secs,
        c.alerts_created,
        c.deduplicated
    );
}

fn run(name: &str, with_detectors: bool, snapshot_every: Option<usize>) {
    let (mut e, ids) = engine(with_detectors);
    let values: Vec<f64> = (0..65_536usize).map(value).collect();
    let mut touched = Vec::with_capacity(1024);
    let start = Instant::now();
    let mut score = 0.0;
    for p in 0..POINTS {
        let sid = ids[p % METRICS];
        let ts = 1_700_000_000.0 + (p / METRICS) as f64;
        let o = e.check(sid, values[p & 65_535], ts, &mut touched);
        score += o.anomaly_score;
        if touched.len() > 512 {
            touched.clear();
        }
        if let Some(n) = snapshot_every
            && (p + 1) % n == 0
        {
            black_box(e.take_changes());
            black_box(e.take_events());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(score);
    report(name, &e, secs);
}

/// What `check_metrics` does per call: a batch of 10,000 points by metric
/// name (interleaving the 1,000 series) through `check_batch`, then the
/// per-call `take_changes`.
fn run_batches(name: &str) {
    const BATCH: usize = 10_000;
    let (mut e, _) = engine(true);
    let names: Vec<String> = (0..METRICS).map(|i| format!("m{i}")).collect();
    let start = Instant::now();
    let mut score = 0.0;
    for call in 0..POINTS / BATCH {
        let points = (0..BATCH).map(|k| {
            let p = call * BATCH + k;
            BatchPoint {
                metric: &names[p % METRICS],
                source: "",
                labels: &[],
                value: value(p),
                ts: 1_700_000_000.0 + (p / METRICS) as f64,
            }
        });
        let b = e.check_batch(points, usize::MAX);
        score += b.scores.iter().sum::<f64>();
        black_box(e.take_changes());
        black_box(e.take_events());
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(score);
    report(name, &e, secs);
}

fn main() {
    println!("alerting engine, 1 thread, {METRICS} rules over {METRICS} metrics");
    run("rules only", false, None);
    run("rules + auto learned threshold per metric", true, None);
    run(
        "rules + thresholds + snapshot per 10k points",
        true,
        Some(10_000),
    );
    run_batches("rules + thresholds, check_batch of 10k + snapshot");
}
