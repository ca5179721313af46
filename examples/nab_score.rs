//! NAB scorer: runs the alerting detectors over the NAB development set and
//! prints NAB's standard, reward-low-FP and reward-low-FN scores per method.
//!
//! Points go through the same engine code path as `check_metrics`
//! (`Engine::series_for` + `Engine::check` after `add_dynamic`), one engine
//! per file, and the per-point `anomaly_score` is what NAB thresholds.
//!
//! Scoring follows NAB (Lavin & Ahmad 2015; numenta/NAB `sweeper.py`):
//! probation = first 15% of a file (at most 750 rows) is not scored; inside
//! a window only the earliest detection counts, weighted by the scaled
//! sigmoid of its relative position; an undetected window costs A_FN; a
//! detection outside windows costs A_FP times the sigmoid of its distance past
//! the last window (-1 before any window); one threshold for the whole
//! corpus, the one that maximises the total; normalised so the null detector
//! scores 0 and the perfect one 100.
//!
//! Usage: cargo run --release --example nab_score -- [DIR] [--split] [--cv]
//!   DIR defaults to ../shared/nab-dev. --split also tunes each method's
//!   window and sensitivity on one half of the files and scores the other
//!   half with those parameters and that threshold (and the reverse).
//!   --cv is the leave-one-category-out cross-validation that chose the
//!   `auto` detector's constants ([`cv`]): tune on three categories, score
//!   the fourth, for each of the four; with and without the files' ranges.
//!   --results=DIR scores per-point scores produced elsewhere instead:
//!   one CSV per data file at the same relative path under DIR with an
//!   `anomaly_score` column (NAB's results format; `tools/nab-mcp` writes
//!   them from the real server over MCP). --write-results=DIR writes this
//!   tool's own scores in that format, one folder per method.
//!
//! The sweep only tries thresholds above 0: a threshold of 0 would fire on
//! every point, which no user would run.

#![allow(clippy::needless_range_loop)] // index loops mirror NAB's sweeper and read clearer here

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smart_systems_mcp::alerting::engine::{DynamicSpec, Engine};
use smart_systems_mcp::alerting::model::Severity;
use smart_systems_mcp::alerting::surprise;
use smart_systems_mcp::alerting::threshold::{
    DailyTuning, DetectorParams, DetectorState, Direction, Method, ValueRange, surprise_params,
};
use smart_systems_mcp::time::parse_lenient_seconds as parse_time_text;

#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Profile {
    name: &'static str,
    tp: f64,
    fp: f64,
    fn_: f64,
}

const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FP",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FN",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

struct DataFile {
    name: String,
    times: Vec<f64>,
    values: Vec<f64>,
    /// Window (start, end) row indices, inclusive.
    windows: Vec<(usize, usize)>,
}

/// NAB's `scaledSigmoid`: about +0.987 at a window's left edge (relative
/// position -1), 0 at its right edge, falling to -1 three widths after it.
fn scaled_sigmoid(x: f64) -> f64 {
    if x >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// Per point of one file: its window (None outside), whether it is in
/// probation, and its unweighted sweep score.
struct Labelled {
    window: Vec<Option<usize>>,
    probation: usize,
    unweighted: Vec<f64>,
}

fn label(f: &DataFile) -> Labelled {
    let n = f.times.len();
    let probation = ((0.15 * n as f64).floor() as usize).min(750);
    let mut window = vec![None; n];
    let mut unweighted = vec![0.0; n];
    let mut prev_end: Option<(usize, usize)> = None; // (right index, width)
    let mut wi = 0;
    for i in 0..n {
        while wi < f.windows.len() && f.windows[wi].1 < i {
            let (l, r) = f.windows[wi];
            prev_end = Some((r, r - l + 1));
            wi += 1;
        }
        if wi < f.windows.len() && f.windows[wi].0 <= i {
            let (l, r) = f.windows[wi];
            let width = (r - l + 1) as f64;
            window[i] = Some(wi);
            // NAB divides by the left-edge value, so the earliest possible
            // detection is worth exactly A_TP.
            unweighted[i] = scaled_sigmoid(-((r - i + 1) as f64) / width) / scaled_sigmoid(-1.0);
        } else {
            unweighted[i] = match prev_end {
                None => -1.0,
                Some((r, w)) => scaled_sigmoid((i - r) as f64 / (w as f64 - 1.0).max(1.0)),
            };
        }
    }
    Labelled {
        window,
        probation,
        unweighted,
    }
}

/// One (window, sensitivity) of a method on one half: NAB's (score,
/// threshold) and the score at the server's rule (alert at score >= 0.5).
struct GridPoint {
    window: usize,
    sensitivity: f64,
    nab: (f64, f64),
    rule: f64,
}

/// A scored point for the threshold sweep.
struct Pt {
    score: f64,
    file: usize,
    idx: usize,
}

/// Best total NAB score over thresholds, and that threshold; or the score at
/// a fixed threshold.
fn sweep(
    files: &[DataFile],
    labels: &[Labelled],
    scores: &[Vec<f64>],
    p: Profile,
    fixed: Option<f64>,
) -> (f64, f64) {
    // Window parts start as misses; windows entirely in probation do not count.
    let mut parts: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for (fi, l) in labels.iter().enumerate() {
        for i in l.probation..l.window.len() {
            if let Some(w) = l.window[i] {
                parts.insert((fi, w), -p.fn_);
            }
        }
    }
    let mut pts: Vec<Pt> = Vec::new();
    for (fi, s) in scores.iter().enumerate() {
        for (i, &score) in s.iter().enumerate().skip(labels[fi].probation) {
            if score <= 0.0 {
                continue;
            }
            pts.push(Pt {
                score,
                file: fi,
                idx: i,
            });
        }
    }
    pts.sort_by(|a, b| b.score.total_cmp(&a.score));
    let _ = files;
    let mut fp_sum = 0.0;
    let mut window_sum: f64 = parts.values().sum();
    let mut best = (window_sum, 1.1);
    let mut k = 0;
    while k < pts.len() {
        let t = pts[k].score;
        if let Some(f) = fixed
            && t < f
        {
            break;
        }
        while k < pts.len() && pts[k].score == t {
            let pt = &pts[k];
            let l = &labels[pt.file];
            match l.window[pt.idx] {
                None => fp_sum += p.fp * l.unweighted[pt.idx],
                Some(w) => {
                    let part = parts.get_mut(&(pt.file, w)).expect("window part");
                    let s = p.tp * l.unweighted[pt.idx];
                    if s > *part {
                        window_sum += s - *part;
                        *part = s;
                    }
                }
            }
            k += 1;
        }
        let total = window_sum + fp_sum;
        if fixed.is_some() || total > best.0 {
            best = (total, t);
        }
    }
    if fixed.is_some() {
        return (window_sum + fp_sum, fixed.unwrap_or(0.0));
    }
    best
}

/// A score's parts: the raw total, the null and perfect totals, and the
/// threshold used, so halves can be added before normalising.
#[derive(Clone, Copy, Default)]
struct Parts {
    raw: f64,
    null: f64,
    perfect: f64,
    threshold: f64,
}

impl Parts {
    /// NaN for files without windows (null and perfect are both 0).
    fn normalised(self) -> f64 {
        if self.perfect == self.null {
            return f64::NAN;
        }
        100.0 * (self.raw - self.null) / (self.perfect - self.null)
    }
    fn plus(self, o: Parts) -> Parts {
        Parts {
            raw: self.raw + o.raw,
            null: self.null + o.null,
            perfect: self.perfect + o.perfect,
            threshold: f64::NAN,
        }
    }
}

fn parts(
    files: &[DataFile],
    labels: &[Labelled],
    scores: &[Vec<f64>],
    p: Profile,
    fixed: Option<f64>,
) -> Parts {
    let (raw, threshold) = sweep(files, labels, scores, p, fixed);
    let null_scores: Vec<Vec<f64>> = scores.iter().map(|s| vec![0.0; s.len()]).collect();
    // Null: never fires (threshold above every score).
    let (null, _) = sweep(files, labels, &null_scores, p, Some(0.5));
    // Perfect, as NAB's runner: A_TP for every labelled window.
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    Parts {
        raw,
        null,
        perfect: windows as f64 * p.tp,
        threshold,
    }
}

fn normalised(
    files: &[DataFile],
    labels: &[Labelled],
    scores: &[Vec<f64>],
    p: Profile,
    fixed: Option<f64>,
) -> (f64, f64) {
    let r = parts(files, labels, scores, p, fixed);
    (r.normalised(), r.threshold)
}

/// The detector alone (`DetectorState::observe_tuned`), for choosing the
/// daily constants; with the defaults it matches [`run_method`] exactly.
fn run_direct(f: &DataFile, params: DetectorParams, tuning: &DailyTuning) -> Vec<f64> {
    let mut st = DetectorState::new(&params);
    f.times
        .iter()
        .zip(&f.values)
        .map(|(t, v)| {
            st.observe_tuned(&params, tuning, t.floor() as i64, *v)
                .score
        })
        .collect()
}

/// The daily constants tried by `--split`.
fn daily_grid() -> Vec<DailyTuning> {
    let mut out = Vec::new();
    for level_memory in [5.0, 10.0, 20.0] {
        for quiet in [1.0, 2.0, 3.0] {
            for breakthrough in [1.5, 2.0, 3.0] {
                for day_memory in [3.0, 10.0] {
                    for day_weight in [0.0, 0.6, 0.7, 0.8, 1.0] {
                        for day_reach in [0, 2, 4] {
                            out.push(DailyTuning {
                                level_memory,
                                quiet,
                                breakthrough,
                                day_memory,
                                day_weight,
                                day_reach,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// A method's run over one file: the per-point scores and how many alerts
/// the engine opened (what a user would be notified of: repeats merged by
/// the dedup window, a new episode after a gap).
struct Run {
    scores: Vec<f64>,
    alerts: u64,
}

fn run_method(f: &DataFile, params: DetectorParams) -> Run {
    let mut engine = Engine::new();
    engine.add_dynamic(DynamicSpec {
        metric_name: "nab".into(),
        params,
        severity: Severity::Warning,
        resolve_after_seconds: None,
    });
    let sid = engine.series_for("nab", "", &[]).expect("series");
    let mut touched = Vec::new();
    let mut out = Vec::with_capacity(f.values.len());
    for (t, v) in f.times.iter().zip(&f.values) {
        touched.clear();
        out.push(engine.check(sid, *v, *t, &mut touched).anomaly_score);
    }
    Run {
        scores: out,
        alerts: engine.counters().alerts_created,
    }
}

fn load(dir: &Path) -> Result<Vec<DataFile>, String> {
    let windows_text = std::fs::read_to_string(dir.join("combined_windows.json"))
        .map_err(|e| format!("{}: {e}", dir.join("combined_windows.json").display()))?;
    let windows: BTreeMap<String, Vec<Vec<String>>> =
        serde_json::from_str(&windows_text).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for (name, ws) in windows {
        let text = std::fs::read_to_string(dir.join("data").join(&name))
            .map_err(|e| format!("{name}: {e}"))?;
        let mut times = Vec::new();
        let mut values = Vec::new();
        for line in text.lines().skip(1) {
            let Some((t, v)) = line.split_once(',') else {
                continue;
            };
            let t = parse_time_text(t).ok_or_else(|| format!("{name}: bad time {t}"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{name}: bad value {v}"))?;
            times.push(t);
            values.push(v);
        }
        let mut win = Vec::new();
        for w in ws {
            let s = parse_time_text(&w[0]).ok_or("bad window start")?;
            let e = parse_time_text(&w[1]).ok_or("bad window end")?;
            let l = times.partition_point(|t| *t < s);
            let r = times.partition_point(|t| *t <= e).saturating_sub(1);
            if l <= r && l < times.len() {
                win.push((l, r));
            }
        }
        files.push(DataFile {
            name,
            times,
            values,
            windows: win,
        });
    }
    Ok(files)
}

/// The file's min and max, which NAB gives every detector up front.
fn file_range(f: &DataFile) -> (f64, f64) {
    let lo = f.values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = f.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The NAB category of a file (its directory).
fn category(f: &DataFile) -> &str {
    f.name.split('/').next().unwrap_or("")
}

/// Files `idx` of `files` with their labels, as a corpus of their own.
fn subset(files: &[DataFile], idx: &[usize]) -> (Vec<DataFile>, Vec<Labelled>) {
    let fs: Vec<DataFile> = idx
        .iter()
        .map(|&i| DataFile {
            name: files[i].name.clone(),
            times: files[i].times.clone(),
            values: files[i].values.clone(),
            windows: files[i].windows.clone(),
        })
        .collect();
    let ls = fs.iter().map(label).collect();
    (fs, ls)
}

/// The `auto` detector alone with constants `p`, given the file's range or
/// not; with [`surprise_params`] of the defaults it matches the engine path.
fn run_surprise(f: &DataFile, p: surprise::Params, with_range: bool) -> Vec<f64> {
    let mut d = surprise::Detector::new(p, with_range.then(|| file_range(f)));
    f.times
        .iter()
        .zip(&f.values)
        .map(|(t, v)| d.observe(t.floor() as i64, *v))
        .collect()
}

/// The constants `--cv` tunes inside every fold (36 configurations); the
/// structure (bins, contexts, windows, time of day) stays at the defaults.
fn cv_grid() -> Vec<surprise::Params> {
    let d = surprise::Params::default();
    let mut g = Vec::new();
    for warmup in [150, 300] {
        for decades in [1.8, 2.0, 2.2] {
            for suppress in [30, 100, 150] {
                for pad in [0.2, 0.5] {
                    g.push(surprise::Params {
                        warmup,
                        decades,
                        suppress,
                        pad,
                        ..d
                    });
                }
            }
        }
    }
    g
}

/// Alerts a user would get from `scores` at the server's rule: rising edges
/// of score >= 0.5.
fn alerts_opened(scores: &[f64]) -> usize {
    let mut prev = false;
    scores
        .iter()
        .filter(|&&x| {
            let rising = x >= 0.5 && !prev;
            prev = x >= 0.5;
            rising
        })
        .count()
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.1}")
    }
}

/// Leave-one-category-out cross-validation of the `auto` detector's tuned
/// constants ([`cv_grid`]): for each category held out, the configuration
/// is chosen on the other three and the held-out one is scored with it.
/// Two protocols: NAB's (configuration and threshold chosen together on the
/// training categories, standard profile; reward-low-FP/FN with their own
/// training thresholds) and the server's rule (configuration chosen by the
/// training score at 0.5, the held-out category scored at 0.5). A category
/// without windows (artificialNoAnomaly) has no normalised score (n/a): its
/// false positives count in the pooled line, which scores all four
/// held-out folds as one corpus. Then the shipped defaults: the same grid
/// fitted on all four categories at 0.5 without a range.
fn cv(files: &[DataFile]) {
    let grid = cv_grid();
    let names: Vec<String> = grid
        .iter()
        .map(|p| {
            format!(
                "wu{} dec{} sup{} pad{}",
                p.warmup, p.decades, p.suppress, p.pad
            )
        })
        .collect();
    let without_range = cv_folds(files, &names, &|c, f, with_range| {
        run_surprise(f, grid[c], with_range)
    });
    cv_fit(files, &grid, &without_range);
}

/// Every configuration's scores on every file, on all cores.
fn all_scores(
    files: &[DataFile],
    configs: usize,
    run: &(dyn Fn(usize, &DataFile, bool) -> Vec<f64> + Sync),
    with_range: bool,
) -> Vec<Vec<Vec<f64>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<std::sync::Mutex<Vec<Vec<f64>>>> =
        (0..configs).map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if c >= configs {
                        break;
                    }
                    let sc = files.iter().map(|f| run(c, f, with_range)).collect();
                    *out[c].lock().unwrap() = sc;
                }
            });
        }
    });
    out.into_iter().map(|m| m.into_inner().unwrap()).collect()
}

/// The held-out folds of a grid of configurations named `names`, `run`
/// giving configuration c's scores on a file (with its range or not).
/// Returns every configuration's scores without the range (for [`cv_fit`]).
fn cv_folds(
    files: &[DataFile],
    names: &[String],
    run: &(dyn Fn(usize, &DataFile, bool) -> Vec<f64> + Sync),
) -> Vec<Vec<Vec<f64>>> {
    let mut cats: Vec<&str> = files.iter().map(category).collect();
    cats.dedup();
    let mut without_range = Vec::new();
    for with_range in [true, false] {
        let t0 = std::time::Instant::now();
        let scores = all_scores(files, names.len(), run, with_range);
        println!(
            "\n== auto, {} range: {} configurations tuned per fold ({:.1} s)",
            if with_range { "with" } else { "without" },
            names.len(),
            t0.elapsed().as_secs_f64()
        );
        println!(
            "{:<22} | {:>8} {:>6} {:>7} {:>7} {:>4} | {:>8} {:>4} {:>10} | picks (NAB / 0.5)",
            "held-out category",
            "NAB std",
            "thr",
            "low FP",
            "low FN",
            "FPs",
            "at 0.5",
            "FPs",
            "alerts/day"
        );
        let (mut pooled_nab, mut pooled_rule) = (Parts::default(), Parts::default());
        let (mut sums, mut n) = ([0.0f64; 4], 0);
        let (mut alerts, mut days) = (0usize, 0.0f64);
        for cat in &cats {
            let train: Vec<usize> = (0..files.len())
                .filter(|&i| category(&files[i]) != *cat)
                .collect();
            let test: Vec<usize> = (0..files.len())
                .filter(|&i| category(&files[i]) == *cat)
                .collect();
            let (tf, tl) = subset(files, &train);
            let (hf, hl) = subset(files, &test);
            let pick = |sc: &[Vec<f64>], idx: &[usize]| -> Vec<Vec<f64>> {
                idx.iter().map(|&i| sc[i].clone()).collect()
            };
            // Per configuration, the training totals: per profile at its
            // swept threshold, and standard at 0.5. First best in grid order.
            let mut best_nab: [Option<(f64, usize, f64)>; 3] = [None; 3];
            let mut best_rule: Option<(f64, usize)> = None;
            for (c, sc) in scores.iter().enumerate() {
                let ts = pick(sc, &train);
                for (k, prof) in PROFILES.iter().enumerate() {
                    let (raw, thr) = sweep(&tf, &tl, &ts, *prof, None);
                    if best_nab[k].is_none_or(|b| raw > b.0) {
                        best_nab[k] = Some((raw, c, thr));
                    }
                }
                let (raw, _) = sweep(&tf, &tl, &ts, PROFILES[0], Some(0.5));
                if best_rule.is_none_or(|b| raw > b.0) {
                    best_rule = Some((raw, c));
                }
            }
            let [Some(a), Some(a_fp), Some(a_fn)] = best_nab else {
                continue;
            };
            let Some((_, b)) = best_rule else {
                continue;
            };
            let held = |c: usize| pick(&scores[c], &test);
            let nab = parts(&hf, &hl, &held(a.1), PROFILES[0], Some(a.2));
            let low_fp = parts(&hf, &hl, &held(a_fp.1), PROFILES[1], Some(a_fp.2)).normalised();
            let low_fn = parts(&hf, &hl, &held(a_fn.1), PROFILES[2], Some(a_fn.2)).normalised();
            let rule_scores = held(b);
            let rule = parts(&hf, &hl, &rule_scores, PROFILES[0], Some(0.5));
            let fps = |sc: &[Vec<f64>], t: f64| -> usize {
                hl.iter()
                    .zip(sc)
                    .map(|(l, s)| {
                        (l.probation..s.len())
                            .filter(|&i| s[i] >= t && l.window[i].is_none())
                            .count()
                    })
                    .sum()
            };
            let held_days: f64 = hf
                .iter()
                .map(|f| {
                    (f.times.last().unwrap_or(&0.0) - f.times.first().unwrap_or(&0.0)) / 86_400.0
                })
                .sum();
            let held_alerts: usize = rule_scores.iter().map(|s| alerts_opened(s)).sum();
            alerts += held_alerts;
            days += held_days;
            pooled_nab = pooled_nab.plus(nab);
            pooled_rule = pooled_rule.plus(rule);
            if !nab.normalised().is_nan() {
                sums[0] += nab.normalised();
                sums[1] += low_fp;
                sums[2] += low_fn;
                sums[3] += rule.normalised();
                n += 1;
            }
            let short = |c: usize| names[c].clone();
            println!(
                "{:<22} | {:>8} {:>6.3} {:>7} {:>7} {:>4} | {:>8} {:>4} {:>10.3} | {} / {}",
                cat,
                fmt(nab.normalised()),
                a.2,
                fmt(low_fp),
                fmt(low_fn),
                fps(&held(a.1), a.2),
                fmt(rule.normalised()),
                fps(&rule_scores, 0.5),
                held_alerts as f64 / held_days,
                short(a.1),
                short(b)
            );
        }
        let k = n as f64;
        println!(
            "{:<22} | {:>8.1} {:>6} {:>7.1} {:>7.1} {:>4} | {:>8.1} {:>4} {:>10.3} |",
            format!("mean of {n} with windows"),
            sums[0] / k,
            "",
            sums[1] / k,
            sums[2] / k,
            "",
            sums[3] / k,
            "",
            alerts as f64 / days
        );
        println!(
            "{:<22} | {:>8.1} {:>6} {:>7} {:>7} {:>4} | {:>8.1} {:>4} {:>10} |",
            "pooled, all 4 folds",
            pooled_nab.normalised(),
            "",
            "",
            "",
            "",
            pooled_rule.normalised(),
            "",
            ""
        );
        if !with_range {
            without_range = scores;
        }
    }
    without_range
}

/// What ships: the grid fitted on all four categories at 0.5, no range
/// (`scores`: each configuration's scores without the range, from
/// [`cv_folds`]).
fn cv_fit(files: &[DataFile], grid: &[surprise::Params], scores: &[Vec<Vec<f64>>]) {
    let labels: Vec<Labelled> = files.iter().map(label).collect();
    let best = scores
        .iter()
        .map(|sc| sweep(files, &labels, sc, PROFILES[0], Some(0.5)).0)
        .enumerate()
        .fold(None, |b: Option<(usize, f64)>, (i, x)| match b {
            Some((_, y)) if y >= x => b,
            _ => Some((i, x)),
        });
    if let Some((i, _)) = best {
        let p = grid[i];
        let d = surprise::Params::default();
        println!(
            "\nfit on all four categories at 0.5 without a range: warmup {} decades {} suppress {} pad {}{}",
            p.warmup,
            p.decades,
            p.suppress,
            p.pad,
            if p == d {
                "   (= surprise::Params::default(), what the server runs)"
            } else {
                "   (NOT surprise::Params::default())"
            }
        );
    }
}

/// The `auto` detector's cost at its defaults: ns per point (best of 3
/// passes over the whole set, one thread) and its state's bytes.
fn cost(files: &[DataFile]) {
    for with_range in [true, false] {
        let (mut best, mut bytes, mut sink) = (f64::INFINITY, 0, 0.0);
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let mut n = 0usize;
            for f in files {
                let range = with_range.then(|| file_range(f));
                let mut d = surprise::Detector::new(surprise::Params::default(), range);
                for (t, v) in f.times.iter().zip(&f.values) {
                    sink += d.observe(t.floor() as i64, *v);
                    n += 1;
                }
                bytes = bytes.max(d.state_bytes());
            }
            best = best.min(t0.elapsed().as_nanos() as f64 / n as f64);
        }
        println!(
            "\nauto detector cost, {} range: {best:.0} ns/point, state {bytes} bytes (checksum {sink:.1})",
            if with_range { "with" } else { "without" }
        );
    }
}

fn params(method: Method, window: usize, sensitivity: f64) -> DetectorParams {
    DetectorParams {
        method,
        window_size: window,
        sensitivity,
        direction: Direction::Both,
        min_samples: DetectorParams::default().min_samples,
        value_range: None,
    }
}

/// Prints one method's row (the three profiles at their best thresholds,
/// the standard profile at 0.5, alerts per series-day, the thresholds);
/// returns the standard profile's threshold.
fn print_row(
    name: &str,
    files: &[DataFile],
    labels: &[Labelled],
    scores: &[Vec<f64>],
    alerts_per_day: f64,
    suffix: &str,
) -> f64 {
    let r: Vec<(f64, f64)> = PROFILES
        .iter()
        .map(|p| normalised(files, labels, scores, *p, None))
        .collect();
    let (at_rule, _) = normalised(files, labels, scores, PROFILES[0], Some(0.5));
    println!(
        "{name:<10} {:>9.1} {:>14.1} {:>14.1} {:>11.1} {alerts_per_day:>11.2}   ({:.3} / {:.3} / {:.3}){suffix}",
        r[0].0, r[1].0, r[2].0, at_rule, r[0].1, r[1].1, r[2].1
    );
    r[0].1
}

/// The value of `--name=VALUE` among `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
}

/// Per-point scores for `files` from `dir/<file name>` (a CSV with a header
/// naming an `anomaly_score` column), one per data row, in order.
fn read_results(dir: &Path, files: &[DataFile]) -> Result<Vec<Vec<f64>>, String> {
    files
        .iter()
        .map(|f| {
            let path = dir.join(&f.name);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split(',')
                .position(|h| h.trim() == "anomaly_score")
                .ok_or_else(|| format!("{}: no anomaly_score column", path.display()))?;
            let scores = lines
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    l.split(',')
                        .nth(col)
                        .and_then(|x| x.trim().parse::<f64>().ok())
                        .ok_or_else(|| format!("{}: bad row {l}", path.display()))
                })
                .collect::<Result<Vec<f64>, String>>()?;
            if scores.len() != f.values.len() {
                return Err(format!(
                    "{}: {} scores for {} points",
                    path.display(),
                    scores.len(),
                    f.values.len()
                ));
            }
            Ok(scores)
        })
        .collect()
}

/// Writes `scores` under `dir` in the format [`read_results`] reads.
fn write_results(dir: &Path, files: &[DataFile], scores: &[Vec<f64>]) -> Result<(), String> {
    for (f, s) in files.iter().zip(scores) {
        let path = dir.join(&f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out = String::from("timestamp,value,anomaly_score\n");
        for ((t, v), x) in f.times.iter().zip(&f.values).zip(s) {
            out.push_str(&format!("{t},{v},{x}\n"));
        }
        std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().any(|a| a == "--split");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/nab-dev"));
    let files = match load(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot read the NAB set in {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    let labels: Vec<Labelled> = files.iter().map(label).collect();
    let n_windows: usize = files.iter().map(|f| f.windows.len()).sum();
    println!(
        "NAB development set: {} files, {} windows ({})",
        files.len(),
        n_windows,
        dir.display()
    );

    let d = DetectorParams::default();
    println!(
        "\ndefaults: window_size={} sensitivity={} min_samples={} direction=both",
        d.window_size, d.sensitivity, d.min_samples
    );
    println!(
        "{:<10} {:>9} {:>14} {:>14} {:>11} {:>11}   (threshold per profile)",
        "method", "standard", "reward_low_FP", "reward_low_FN", "std at 0.5", "alerts/day"
    );
    let only: Option<Method> = args
        .iter()
        .find_map(|a| a.strip_prefix("--only=").and_then(Method::parse));
    // Series-days covered, for the alert rate a user would live with.
    let days: f64 = files
        .iter()
        .map(|f| (f.times.last().unwrap_or(&0.0) - f.times.first().unwrap_or(&0.0)) / 86_400.0)
        .sum();
    if let Some(dir) = flag(&args, "--results") {
        let scores = read_results(Path::new(dir), &files).unwrap_or_else(|e| {
            eprintln!("cannot read the results: {e}");
            std::process::exit(2);
        });
        let alerts: usize = scores.iter().map(|s| alerts_opened(s)).sum();
        print_row(
            "results",
            &files,
            &labels,
            &scores,
            alerts as f64 / days,
            &format!("  scores from {dir}"),
        );
        return;
    }
    let write_to = flag(&args, "--write-results").map(PathBuf::from);
    // auto also with each file's range as `value_range` (NAB gives every
    // detector its file's min and max).
    let variants = Method::ALL.into_iter().flat_map(|m| {
        let ranged = (m == Method::Auto).then_some((m, true));
        [Some((m, false)), ranged].into_iter().flatten()
    });
    for (m, with_range) in variants.filter(|(m, _)| only.is_none_or(|o| o == *m)) {
        let runs: Vec<Run> = files
            .iter()
            .map(|f| {
                let (min, max) = file_range(f);
                let p = DetectorParams {
                    value_range: with_range.then_some(ValueRange { min, max }),
                    ..params(m, d.window_size, d.sensitivity)
                };
                run_method(f, p)
            })
            .collect();
        let alerts: u64 = runs.iter().map(|r| r.alerts).sum();
        let scores: Vec<Vec<f64>> = runs.into_iter().map(|r| r.scores).collect();
        if let Some(dir) = &write_to {
            let folder = format!("{}{}", m.name(), if with_range { "+range" } else { "" });
            if let Err(e) = write_results(&dir.join(folder), &files, &scores) {
                eprintln!("cannot write the results: {e}");
                std::process::exit(2);
            }
        }
        let name = if with_range {
            format!("{}+range", m.name())
        } else {
            m.name().to_string()
        };
        let t = print_row(&name, &files, &labels, &scores, alerts as f64 / days, "");
        if args.iter().any(|a| a == "--detail") {
            for (fi, f) in files.iter().enumerate() {
                let l = &labels[fi];
                let mut hit = std::collections::BTreeSet::new();
                let mut fps = 0;
                for i in l.probation..f.values.len() {
                    if scores[fi][i] >= t {
                        match l.window[i] {
                            Some(w) => {
                                hit.insert(w);
                            }
                            None => fps += 1,
                        }
                    }
                }
                println!(
                    "    {:<55} windows {}/{}  FP {}",
                    f.name,
                    hit.len(),
                    f.windows.len(),
                    fps
                );
            }
        }
    }

    // --cv runs the auto detector directly; at the defaults that must be
    // exactly the engine's path (with and without the range).
    let pa = params(Method::Auto, d.window_size, d.sensitivity);
    let sp = surprise_params(&pa);
    for f in files.iter().step_by(4) {
        let (min, max) = file_range(f);
        let ranged = DetectorParams {
            value_range: Some(ValueRange { min, max }),
            ..pa
        };
        if run_method(f, pa).scores != run_surprise(f, sp, false)
            || run_method(f, ranged).scores != run_surprise(f, sp, true)
        {
            eprintln!("{}: the engine path and the auto detector disagree", f.name);
            std::process::exit(1);
        }
    }
    if args.iter().any(|a| a == "--cv") {
        cv(&files);
        cost(&files);
    }

    // The split checks below run the detector directly (to try other daily
    // constants); with the defaults that must be exactly the engine's path.
    let pd = params(Method::Daily, d.window_size, d.sensitivity);
    if let Some(f) = files
        .iter()
        .find(|f| run_method(f, pd).scores != run_direct(f, pd, &DailyTuning::DEFAULT))
    {
        eprintln!("{}: the engine path and the detector disagree", f.name);
        std::process::exit(1);
    }

    if !split {
        return;
    }
    // Choose on one half, score the other: halves by alternate file (A =
    // even positions in name order, B = odd).
    let halves: [Vec<usize>; 2] = [
        (0..files.len()).filter(|i| i % 2 == 0).collect(),
        (0..files.len()).filter(|i| i % 2 == 1).collect(),
    ];
    let split_files = [subset(&files, &halves[0]), subset(&files, &halves[1])];
    let half_name = |h: usize| if h == 0 { "A" } else { "B" };
    // 0. The defaults as the server runs them, on each half alone: NAB's
    //    protocol (its threshold picked per corpus), that threshold carried
    //    to the other half, and the server's own rule (alert at score >= 0.5,
    //    no threshold picked at all).
    println!(
        "\nsplit check 0: the defaults (window 100, sensitivity 3, DailyTuning::DEFAULT) on each half, standard profile"
    );
    let pd = params(Method::Daily, d.window_size, d.sensitivity);
    let half_scores: Vec<Vec<Vec<f64>>> = split_files
        .iter()
        .map(|(fs, _)| {
            fs.iter()
                .map(|f| run_direct(f, pd, &DailyTuning::DEFAULT))
                .collect()
        })
        .collect();
    let own: Vec<(f64, f64)> = (0..2)
        .map(|h| {
            let (fs, ls) = &split_files[h];
            normalised(fs, ls, &half_scores[h], PROFILES[0], None)
        })
        .collect();
    let mut at_rule = [Parts::default(); 2];
    for (h, o) in [(0usize, 1usize), (1, 0)] {
        let (fs, ls) = &split_files[h];
        let carried = normalised(fs, ls, &half_scores[h], PROFILES[0], Some(own[o].1)).0;
        at_rule[h] = parts(fs, ls, &half_scores[h], PROFILES[0], Some(0.5));
        println!(
            "  {}: NAB protocol {:.1} (threshold {:.3})   at {}'s threshold {:.1}   server's rule (score >= 0.5) {:.1}",
            half_name(h),
            own[h].0,
            own[h].1,
            half_name(o),
            carried,
            at_rule[h].normalised()
        );
    }
    println!(
        "  both halves at the server's rule: {:.1}",
        at_rule[0].plus(at_rule[1]).normalised()
    );
    println!(
        "  day_reach (other constants at their defaults): NAB protocol A / B, server's rule A / B"
    );
    for reach in 0..=4 {
        let t = DailyTuning {
            day_reach: reach,
            ..DailyTuning::DEFAULT
        };
        let r: Vec<(f64, f64)> = split_files
            .iter()
            .map(|(fs, ls)| {
                let sc: Vec<Vec<f64>> = fs.iter().map(|f| run_direct(f, pd, &t)).collect();
                (
                    normalised(fs, ls, &sc, PROFILES[0], None).0,
                    normalised(fs, ls, &sc, PROFILES[0], Some(0.5)).0,
                )
            })
            .collect();
        println!(
            "    {reach}: {:.2} / {:.2}   {:.2} / {:.2}{}",
            r[0].0,
            r[1].0,
            r[0].1,
            r[1].1,
            if reach == DailyTuning::DEFAULT.day_reach {
                "   (default)"
            } else {
                ""
            }
        );
    }

    // 1. The daily constants, chosen on one half and scored on the other, two
    //    ways: (a) NAB's protocol at the user defaults (window 100,
    //    sensitivity 3; the threshold on the score is chosen with the
    //    constants and carried over), and (b) the server's own rule (alert at
    //    score >= 0.5, i.e. beyond `sensitivity`), with the sensitivity
    //    chosen as well. Since `day_reach` (see README) the defaults are no
    //    longer this search's pick on half A; the line says so.
    let grid = daily_grid();
    for (title, sens_grid, fixed) in [
        (
            "NAB protocol, window 100, sensitivity 3, threshold chosen with the constants",
            vec![d.sensitivity],
            None,
        ),
        (
            "alerting at score >= 0.5 (the server's rule), sensitivity chosen too",
            vec![3.0, 4.0, 5.0, 6.0],
            Some(0.5),
        ),
    ] {
        println!("\nsplit check 1: daily constants chosen on one half, standard profile; {title}");
        let mut held: [Parts; 2] = [Parts::default(); 2];
        for (a, b) in [(0usize, 1usize), (1, 0)] {
            let (fa, la) = &split_files[a];
            let (fb, lb) = &split_files[b];
            let mut best: Option<(f64, f64, DailyTuning, f64)> = None;
            for &sens in &sens_grid {
                let pd = params(Method::Daily, d.window_size, sens);
                for t in &grid {
                    let sc: Vec<Vec<f64>> = fa.iter().map(|f| run_direct(f, pd, t)).collect();
                    let (score, thr) = normalised(fa, la, &sc, PROFILES[0], fixed);
                    if best.is_none_or(|b| score > b.0) {
                        best = Some((score, sens, *t, thr));
                    }
                }
            }
            let Some((in_sample, sens, t, thr)) = best else {
                continue;
            };
            let pd = params(Method::Daily, d.window_size, sens);
            let sc: Vec<Vec<f64>> = fb.iter().map(|f| run_direct(f, pd, &t)).collect();
            held[b] = parts(fb, lb, &sc, PROFILES[0], Some(thr));
            let own = normalised(fb, lb, &sc, PROFILES[0], None).0;
            println!(
                "  chosen on {}: sensitivity {sens}, {t:?}, threshold {thr:.3}{}\n    {} (in-sample) {:.1}   {} held-out (that threshold) {:.1}   {} at its own best threshold {:.1}",
                half_name(a),
                if fixed.is_none() && a == 0 && t != DailyTuning::DEFAULT {
                    "   (not DailyTuning::DEFAULT)"
                } else {
                    ""
                },
                half_name(a),
                in_sample,
                half_name(b),
                held[b].normalised(),
                half_name(b),
                own,
            );
        }
        println!(
            "  both halves held-out (each scored with the other's choice): {:.1}",
            held[0].plus(held[1]).normalised()
        );
    }

    // 2. Window and sensitivity per method (daily with its default constants).
    println!(
        "\nsplit check 2 (standard profile): window and sensitivity per method chosen on one half, the other scored with them;\n  NAB protocol (threshold chosen with them and carried over) and the server's rule (alert at score >= 0.5)"
    );
    let windows_grid = [50usize, 100, 200, 400];
    let sens_grid = [2.0, 3.0, 4.0, 5.0];
    println!(
        "{:<10} {:>6} | {:>13} {:>10} {:>10} {:>10} | {:>13} {:>10} {:>10}",
        "method",
        "chosen",
        "NAB: params",
        "in-sample",
        "held-out",
        "own-best",
        "rule: params",
        "in-sample",
        "held-out"
    );
    for m in Method::ALL {
        // Per half, per (window, sensitivity): NAB's (score, threshold) and
        // the score at the server's rule.
        let grid: Vec<Vec<GridPoint>> = split_files
            .iter()
            .map(|(fs, ls)| {
                let mut out = Vec::new();
                for &w in &windows_grid {
                    for &sn in &sens_grid {
                        let sc: Vec<Vec<f64>> = fs
                            .iter()
                            .map(|f| run_method(f, params(m, w, sn)).scores)
                            .collect();
                        let nab = normalised(fs, ls, &sc, PROFILES[0], None);
                        let rule = normalised(fs, ls, &sc, PROFILES[0], Some(0.5)).0;
                        out.push(GridPoint {
                            window: w,
                            sensitivity: sn,
                            nab,
                            rule,
                        });
                    }
                }
                out
            })
            .collect();
        for (a, b) in [(0usize, 1usize), (1, 0)] {
            let (fb, lb) = &split_files[b];
            // The first best in grid order (smaller window and sensitivity
            // win ties: for the methods whose ranking of points does not
            // depend on the sensitivity, every sensitivity ties).
            let first_best = |key: fn(&GridPoint) -> f64| {
                grid[a]
                    .iter()
                    .reduce(|best, x| if key(x) > key(best) { x } else { best })
                    .expect("grid")
            };
            let nab = first_best(|x| x.nab.0);
            let rule = first_best(|x| x.rule);
            let sc: Vec<Vec<f64>> = fb
                .iter()
                .map(|f| run_method(f, params(m, nab.window, nab.sensitivity)).scores)
                .collect();
            let (held, _) = normalised(fb, lb, &sc, PROFILES[0], Some(nab.nab.1));
            let (own, _) = normalised(fb, lb, &sc, PROFILES[0], None);
            let rule_held = grid[b]
                .iter()
                .find(|x| x.window == rule.window && x.sensitivity == rule.sensitivity)
                .expect("same grid")
                .rule;
            println!(
                "{:<10} {:>6} | {:>13} {:>10.1} {:>10.1} {:>10.1} | {:>13} {:>10.1} {:>10.1}",
                m.name(),
                half_name(a),
                format!("w={} s={}", nab.window, nab.sensitivity),
                nab.nab.0,
                held,
                own,
                format!("w={} s={}", rule.window, rule.sensitivity),
                rule.rule,
                rule_held
            );
        }
    }
}

#[cfg(test)]
mod tests {
    //! The scorer on tiny hand-computed cases: 20 points, probation
    //! floor(0.15 * 20) = 3 rows, one window over rows 10..=13 (width 4).
    use super::*;

    fn file(windows: Vec<(usize, usize)>) -> (Vec<DataFile>, Vec<Labelled>) {
        let f = DataFile {
            name: "t.csv".into(),
            times: (0..20).map(f64::from).collect(),
            values: vec![0.0; 20],
            windows,
        };
        let l = label(&f);
        (vec![f], vec![l])
    }

    fn detections(at: &[usize]) -> Vec<Vec<f64>> {
        let mut s = vec![0.0; 20];
        for &i in at {
            s[i] = 1.0;
        }
        vec![s]
    }

    fn score(at: &[usize], p: Profile) -> f64 {
        let (f, l) = file(vec![(10, 13)]);
        normalised(&f, &l, &detections(at), p, Some(0.5)).0
    }

    const STD: Profile = PROFILES[0];

    #[test]
    fn detection_at_the_window_start_is_perfect_and_none_is_null() {
        assert!((score(&[10], STD) - 100.0).abs() < 1e-9);
        assert!(score(&[], STD).abs() < 1e-9);
    }

    #[test]
    fn only_the_earliest_detection_in_a_window_counts() {
        // Row 12: relative position -(13 - 12 + 1) / 4 = -0.5, scaled sigmoid
        // 2 / (1 + e^-2.5) - 1 = 0.848284, divided by its value at -1
        // (0.986614): 0.859793. Raw 0.859793, null -1, perfect 1.
        let expected = 100.0 * (0.859793 + 1.0) / 2.0;
        assert!((score(&[12], STD) - expected).abs() < 1e-3);
        assert!((score(&[12, 13], STD) - expected).abs() < 1e-3);
        assert!((score(&[10, 12], STD) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn false_positives_cost_by_profile_and_distance_from_the_last_window() {
        // Row 5 (before any window) costs the full A_FP: 1 - 0.11 = 0.89.
        assert!((score(&[10, 5], STD) - 100.0 * (2.0 - 0.11) / 2.0).abs() < 1e-9);
        assert!((score(&[10, 5], PROFILES[1]) - 100.0 * (2.0 - 0.22) / 2.0).abs() < 1e-9);
        // Row 15: (15 - 13) / (4 - 1) = 0.6667 past the window, scaled
        // sigmoid 2 / (1 + e^3.3333) - 1 = -0.931109, times 0.11.
        let expected = 100.0 * (2.0 - 0.11 * 0.931109) / 2.0;
        assert!((score(&[10, 15], STD) - expected).abs() < 1e-3);
    }

    #[test]
    fn probation_rows_are_not_scored_and_a_miss_costs_a_fn() {
        assert!((score(&[1], STD)).abs() < 1e-9);
        // reward_low_FN: null = -2 per window, perfect = 1; a hit at row 10 is 100.
        assert!((score(&[10], PROFILES[2]) - 100.0).abs() < 1e-9);
        assert!(score(&[], PROFILES[2]).abs() < 1e-9);
    }

    #[test]
    fn the_sweep_picks_the_threshold_that_maximises_the_total() {
        // A true detection scored 0.6, and a false one before it scored 0.8:
        // the best threshold takes both (0.6): 1 - 0.11.
        let (f, l) = file(vec![(10, 13)]);
        let mut s = vec![0.0; 20];
        s[10] = 0.6;
        s[5] = 0.8;
        let (best, t) = normalised(&f, &l, &[s.clone()], STD, None);
        assert_eq!(t, 0.6);
        assert!((best - 100.0 * (2.0 - 0.11) / 2.0).abs() < 1e-9);
        // At a fixed 0.7 only the false one counts.
        let (fixed, _) = normalised(&f, &l, &[s], STD, Some(0.7));
        assert!((fixed - 100.0 * (-0.11) / 2.0).abs() < 1e-9);
    }
}
