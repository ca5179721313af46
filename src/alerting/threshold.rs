//! Learned (dynamic) thresholds: streaming detectors that keep a baseline per
//! metric and label set and score every point against it.
//!
//! Design choices a reader would otherwise reverse-engineer:
//! - A point is scored against the baseline BEFORE it is added, so an
//!   outlier can never vouch for itself (the classic rolling z-score bug).
//! - `sensitivity` means the same for every method: how many (robust)
//!   standard deviations away from the baseline a point must be to alert.
//!   The anomaly score is `d^2 / (d^2 + sensitivity^2)` of that distance
//!   `d`, so it is in [0, 1], monotone, and exactly 0.5 at the alerting
//!   boundary whatever the method. `auto` scores rarity instead (0.5 at
//!   a surprise as rare as 10^-1.8 on its series); `sensitivity` scales
//!   that exponent (3 = the default, 6 = twice as many decades).
//! - `mad` uses the median and the median absolute deviation (x 1.4826, so it
//!   estimates sigma for normal data) because a handful of spikes inflates a
//!   standard deviation and hides the next spike; the median does not move.
//! - Detectors are plain enums over contiguous arrays (no trait objects), so a
//!   batch of points walks memory linearly.
//! - The `auto` detector's state is ~19 KB, too much to rewrite on every
//!   call: it is stored as a snapshot every [`SNAPSHOT_EVERY`] points plus a
//!   journal of the points since ([`JournalChanges`]); loading replays the
//!   journal over the snapshot, which gives the same state bit for bit.

use std::fmt::Write as _;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{packed, surprise};

/// Which detector learns the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The default: how surprising a point is in its recent context (the
    /// last few values, quantised, and the time of day), calibrated by how
    /// rare that surprise is on its own series, so a score of 0.5 means the
    /// same rarity on every series ([`super::surprise`]). Its constants were
    /// chosen by leave-one-category-out cross-validation on the NAB
    /// development set (docs/detection.md). Uses `value_range` when given.
    Auto,
    /// The previous default, kept for comparison: the deviation from an
    /// exponentially weighted level with a long memory (10 windows, so a
    /// noisy metric's own bursts widen its band), or, when larger, the
    /// deviation from the same time yesterday in standard deviations of
    /// such day-over-day differences (a daily pattern that breaks is an
    /// anomaly even inside the usual range). A deviation from the level that
    /// yesterday also had within 10 minutes of this time (a nightly backup,
    /// a daily report) counts only as far as it goes beyond yesterday's
    /// values there. One report per episode: after
    /// a detection it stays quiet for 2 windows while the baseline absorbs
    /// the change, unless a clearly bigger deviation breaks through.
    Daily,
    /// Rolling mean and standard deviation (the seed's method).
    Zscore,
    /// Exponentially weighted mean and variance.
    Ewma,
    /// Rolling median and median absolute deviation.
    Mad,
    /// Median and MAD per hour of day (daily cycles).
    Seasonal,
}

impl Method {
    /// Parses a method name.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "auto" => Method::Auto,
            "daily" => Method::Daily,
            "zscore" => Method::Zscore,
            "ewma" => Method::Ewma,
            "mad" => Method::Mad,
            "seasonal" => Method::Seasonal,
            _ => return None,
        })
    }
    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Daily => "daily",
            Method::Zscore => "zscore",
            Method::Ewma => "ewma",
            Method::Mad => "mad",
            Method::Seasonal => "seasonal",
        }
    }
    /// Every method, for the NAB scorer and docs.
    pub const ALL: [Method; 6] = [
        Method::Auto,
        Method::Daily,
        Method::Zscore,
        Method::Ewma,
        Method::Mad,
        Method::Seasonal,
    ];
}

/// Which deviations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only values above the baseline.
    Up,
    /// Only values below the baseline.
    Down,
    /// Both.
    Both,
}

impl Direction {
    /// Parses a direction name.
    pub fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "up" => Direction::Up,
            "down" => Direction::Down,
            "both" => Direction::Both,
            _ => return None,
        })
    }
    /// The direction's name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Both => "both",
        }
    }
}

/// How a detector is configured (shared by every label set of one metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// Which detector.
    pub method: Method,
    /// Points in the rolling baseline (ewma: its span).
    pub window_size: usize,
    /// Robust standard deviations from the baseline that alert.
    pub sensitivity: f64,
    /// Which deviations count.
    pub direction: Direction,
    /// Points seen before any alert.
    pub min_samples: usize,
    /// The range values are known to lie in (CPU 0-100 %); `auto` places
    /// its bins over it instead of learning them from its warm-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_range: Option<ValueRange>,
}

/// A range of values known in advance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueRange {
    /// Lowest value expected.
    pub min: f64,
    /// Highest value expected (> `min`).
    pub max: f64,
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            method: Method::Auto,
            window_size: 100,
            sensitivity: 3.0,
            direction: Direction::Both,
            min_samples: 30,
            value_range: None,
        }
    }
}

/// What a detector says about one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// In [0, 1]; >= 0.5 means beyond `sensitivity` in a watched direction.
    pub score: f64,
    /// Signed distance from the baseline in robust standard deviations.
    pub deviation: f64,
    /// Lowest value that would not alert (None when down is not watched or not warmed up).
    pub lower: Option<f64>,
    /// Highest value that would not alert.
    pub upper: Option<f64>,
    /// Whether `min_samples` points had been seen before this one.
    pub ready: bool,
}

impl Verdict {
    /// The verdict on a value no detector learns from (not finite, or too
    /// large to square): no score, not ready.
    pub const UNLEARNABLE: Verdict = Verdict {
        score: 0.0,
        deviation: 0.0,
        lower: None,
        upper: None,
        ready: false,
    };

    /// Whether the point is beyond the learned threshold.
    pub fn is_anomalous(&self) -> bool {
        self.ready && self.score >= 0.5
    }
}

/// Fixed-capacity ring of the most recent values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ring {
    buf: Vec<f64>,
    head: usize,
    cap: usize,
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring {
            buf: Vec::with_capacity(cap.min(4096)),
            head: 0,
            cap: cap.max(1),
        }
    }
    /// Pushes a value; returns the one it evicted.
    fn push(&mut self, x: f64) -> Option<f64> {
        if self.buf.len() < self.cap {
            self.buf.push(x);
            None
        } else {
            let old = std::mem::replace(&mut self.buf[self.head], x);
            self.head = (self.head + 1) % self.cap;
            Some(old)
        }
    }
    fn len(&self) -> usize {
        self.buf.len()
    }
}

/// Rolling median / MAD over a window, kept sorted for O(log n + n) updates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RollingMedian {
    ring: Ring,
    sorted: Vec<f64>,
}

impl RollingMedian {
    fn new(cap: usize) -> Self {
        RollingMedian {
            ring: Ring::new(cap),
            sorted: Vec::with_capacity(cap.min(4096)),
        }
    }
    fn push(&mut self, x: f64) {
        if let Some(old) = self.ring.push(x) {
            let i = self.sorted.partition_point(|v| *v < old);
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
        let i = self.sorted.partition_point(|v| *v < x);
        self.sorted.insert(i, x);
    }
    fn len(&self) -> usize {
        self.sorted.len()
    }
    fn mean_abs_dev(&self, m: f64) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        self.sorted.iter().map(|v| (v - m).abs()).sum::<f64>() / self.sorted.len() as f64
    }
    fn median(&self) -> f64 {
        median_of_sorted(&self.sorted)
    }
    /// Median absolute deviation around `m`, by merging outwards from `m`.
    fn mad(&self, m: f64) -> f64 {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return 0.0;
        }
        let mut hi = s.partition_point(|v| *v < m);
        let mut lo = hi as isize - 1;
        let target = (n - 1) / 2;
        let mut last = 0.0;
        let mut prev = 0.0;
        for k in 0..=target + n.is_multiple_of(2) as usize {
            let dl = if lo >= 0 {
                m - s[lo as usize]
            } else {
                f64::INFINITY
            };
            let dh = if hi < n { s[hi] - m } else { f64::INFINITY };
            prev = last;
            if dl <= dh {
                last = dl;
                lo -= 1;
            } else {
                last = dh;
                hi += 1;
            }
            let _ = k;
        }
        if n.is_multiple_of(2) {
            (prev + last) / 2.0
        } else {
            last
        }
    }
}

fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A detector's learned state for one series.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DetectorState {
    /// The surprise detector ([`Method::Auto`]), stored as kind `surprise`.
    #[serde(rename = "surprise")]
    Auto(Box<AutoState>),
    /// Rolling window with running sums.
    Zscore {
        ring: Ring,
        sum: f64,
        sumsq: f64,
        seen: u64,
    },
    /// Exponentially weighted moments.
    Ewma { mean: f64, var: f64, seen: u64 },
    /// Rolling median/MAD.
    Mad { window: RollingMedian, seen: u64 },
    /// Median/MAD per hour of day.
    Seasonal {
        buckets: Vec<RollingMedian>,
        global: RollingMedian,
        seen: u64,
    },
    /// Long-memory level, yesterday's values by time of day, and a
    /// refractory period after each detection (see [`Method::Daily`]).
    /// Stored as kind `auto`, its name before [`Method::Auto`] became the
    /// surprise detector: states stored then keep running this detector
    /// (and its `day` rows) after an upgrade.
    #[serde(rename = "auto")]
    Daily {
        /// Exponentially weighted level.
        mean: f64,
        /// Exponentially weighted variance around the level.
        var: f64,
        /// Points seen.
        seen: u64,
        /// No new detection before this point (refractory period)...
        quiet_until: u64,
        /// ...unless a deviation this much bigger than the reported one comes.
        #[serde(default)]
        quiet_level: f64,
        /// Unix second of the first point.
        #[serde(default)]
        first_ts: Option<i64>,
        /// The last (Unix second, value) in each [`DAY_SLOT_SECONDS`] slot of
        /// the last two days (cell `day_cell`); empty until the series has
        /// run for [`DAY_PROFILE_AFTER`].
        /// Stored as one row per slot beside the state ([`DayChanges`]), not
        /// in it; states written before that carry it inline and still load
        /// (into this layout, `inline_day`).
        #[serde(default, skip_serializing, deserialize_with = "inline_day")]
        day: Vec<(i64, f64)>,
        /// Slots of `day` changed since [`DetectorState::take_day_changes`].
        #[serde(skip)]
        day_dirty: Vec<u16>,
        /// Set on a state made afresh: the slots stored for its series belong
        /// to an earlier detector.
        #[serde(skip)]
        day_fresh: bool,
        /// Exponentially weighted mean square of day-over-day differences.
        #[serde(default)]
        day_var: f64,
        /// Day-over-day differences seen.
        #[serde(default)]
        day_seen: u64,
    },
}

/// Daily-profile slots of one `daily` series to store: (slot, Unix second,
/// value) cells, and whether the slots stored before belong to an earlier
/// detector (drop them first).
#[derive(Debug, Clone, PartialEq)]
pub struct DayChanges {
    /// The stored slots are stale: delete them before writing `cells`.
    pub fresh: bool,
    /// Changed cells.
    pub cells: Vec<(u16, i64, f64)>,
}

/// Width of one time-of-day slot of the daily detector's daily profile.
pub const DAY_SLOT_SECONDS: i64 = 300;

/// The time of a daily-profile slot no point has filled yet.
const NEVER: i64 = i64::MIN;

/// A daily profile with every slot empty.
fn empty_day() -> Vec<(i64, f64)> {
    vec![(NEVER, 0.0); DAY_CELLS]
}

/// Slots in one day.
const DAY_SLOTS: i64 = 86_400 / DAY_SLOT_SECONDS;

/// Cells of the daily profile: two days of slots, so yesterday's slots just
/// before this time are still there after today's have been written.
const DAY_CELLS: usize = 2 * DAY_SLOTS as usize;

/// The profile cell of the slot holding Unix second `ts`.
fn day_cell(ts: i64) -> usize {
    ts.div_euclid(DAY_SLOT_SECONDS).rem_euclid(DAY_CELLS as i64) as usize
}

/// The daily detector starts its profile once a series has run this
/// long (seconds), so short-lived and test series keep a small state.
pub const DAY_PROFILE_AFTER: i64 = 3_600;

/// The `daily` detector's internal constants. [`DailyTuning::DEFAULT`] is what
/// the server runs; `tools/nab-score --split` chooses them on one half of the
/// NAB files and scores the other half with them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyTuning {
    /// The level's memory, in windows: mean and variance are exponentially
    /// weighted over `level_memory * window_size` points.
    pub level_memory: f64,
    /// Refractory period after a detection, in windows.
    pub quiet: f64,
    /// A deviation this many times the reported one breaks through the
    /// refractory period (a much bigger second event is news, not an echo).
    pub breakthrough: f64,
    /// Memory of the day-over-day differences' scale, in windows.
    pub day_memory: f64,
    /// How much a day-over-day deviation counts next to a deviation from
    /// the level (0 = no daily comparison; below 1 it needs more evidence).
    pub day_weight: f64,
    /// Daily slots on each side of this time yesterday that can explain a
    /// value (0 = compare with the same slot only, and never excuse a
    /// deviation from the level).
    pub day_reach: u32,
}

impl DailyTuning {
    /// The constants the server runs with (chosen on half A of the NAB set).
    pub const DEFAULT: DailyTuning = DailyTuning {
        level_memory: 10.0,
        quiet: 2.0,
        breakthrough: 1.5,
        day_memory: 3.0,
        day_weight: 0.7,
        day_reach: 2,
    };
}

impl Default for DailyTuning {
    fn default() -> Self {
        DailyTuning::DEFAULT
    }
}

/// Smallest standard deviation a baseline may claim, relative to its level:
/// a perfectly flat signal would otherwise make any wobble infinitely anomalous.
fn sigma_floor(level: f64) -> f64 {
    1e-3 * level.abs().max(1e-3)
}

/// Largest magnitude a detector learns from. Beyond it a square (variances,
/// sums of squares) overflows to infinity and the baseline turns to NaN for
/// good, which the store cannot even hold; the server refuses such values.
pub const MAX_ABS_VALUE: f64 = 1e100;

/// Whether a detector can learn from `x`: finite and within
/// [`MAX_ABS_VALUE`] (false for NaN).
pub fn learnable(x: f64) -> bool {
    x.abs() <= MAX_ABS_VALUE
}

impl DetectorState {
    /// A fresh (untrained) state for these parameters.
    pub fn new(p: &DetectorParams) -> DetectorState {
        let w = p.window_size.max(2);
        match p.method {
            Method::Zscore => DetectorState::Zscore {
                ring: Ring::new(w),
                sum: 0.0,
                sumsq: 0.0,
                seen: 0,
            },
            Method::Ewma => DetectorState::Ewma {
                mean: 0.0,
                var: 0.0,
                seen: 0,
            },
            Method::Mad => DetectorState::Mad {
                window: RollingMedian::new(w),
                seen: 0,
            },
            Method::Seasonal => DetectorState::Seasonal {
                buckets: (0..24)
                    .map(|_| RollingMedian::new(w.div_ceil(4).max(8)))
                    .collect(),
                global: RollingMedian::new(w),
                seen: 0,
            },
            Method::Auto => DetectorState::Auto(Box::new(AutoState {
                seen: 0,
                phase: 0,
                live: Some(Box::new(Live::new(p))),
            })),
            Method::Daily => DetectorState::Daily {
                mean: 0.0,
                var: 0.0,
                seen: 0,
                quiet_until: 0,
                quiet_level: 0.0,
                first_ts: None,
                day: Vec::new(),
                day_dirty: Vec::new(),
                day_fresh: true,
                day_var: 0.0,
                day_seen: 0,
            },
        }
    }

    /// The daily-profile slots changed since the last call, to store beside
    /// the state (`None`: nothing to store). A 288-slot profile written
    /// inside the state made every point of a `daily` series rewrite about
    /// 7.6 KB; one row per changed slot is a few dozen bytes.
    pub fn take_day_changes(&mut self) -> Option<DayChanges> {
        let DetectorState::Daily {
            day,
            day_dirty,
            day_fresh,
            ..
        } = self
        else {
            return None;
        };
        if day_dirty.is_empty() && !*day_fresh {
            return None;
        }
        let cells = day_dirty
            .drain(..)
            .filter_map(|slot| day.get(slot as usize).map(|&(t, v)| (slot, t, v)))
            .collect();
        let fresh = std::mem::take(day_fresh);
        Some(DayChanges { fresh, cells })
    }

    /// A copy to save: the daily profile is stored as rows of its own
    /// ([`DetectorState::take_day_changes`]) and not serialised with the
    /// state, so the copy leaves it out (a clone would copy 9 KB per `daily`
    /// series on every save).
    pub fn to_save(&self) -> DetectorState {
        match self {
            DetectorState::Daily {
                mean,
                var,
                seen,
                quiet_until,
                quiet_level,
                first_ts,
                day_var,
                day_seen,
                ..
            } => DetectorState::Daily {
                mean: *mean,
                var: *var,
                seen: *seen,
                quiet_until: *quiet_until,
                quiet_level: *quiet_level,
                first_ts: *first_ts,
                day: Vec::new(),
                day_dirty: Vec::new(),
                day_fresh: false,
                day_var: *day_var,
                day_seen: *day_seen,
            },
            DetectorState::Auto(a) => DetectorState::Auto(Box::new(AutoState {
                seen: a.seen,
                phase: a.phase,
                live: None,
            })),
            other => other.clone(),
        }
    }

    /// The `auto` state to store since the last call (`None`: nothing, or
    /// not an `auto` state).
    pub fn take_journal(&mut self) -> Option<JournalChanges> {
        match self {
            DetectorState::Auto(a) => a.take_journal(),
            _ => None,
        }
    }

    /// Rebuilds an `auto` state read from its series row: its stored
    /// snapshot (none: from the start) with the journal rows replayed
    /// over it, in order (`p`: the threshold's parameters).
    pub fn restore_journal(&mut self, p: &DetectorParams, snapshot: Option<&str>, rows: &[String]) {
        if let DetectorState::Auto(a) = self {
            a.restore(p, snapshot, rows);
        }
    }

    /// Puts back daily-profile slots read from the store.
    pub fn restore_day(&mut self, cells: impl IntoIterator<Item = (u16, i64, f64)>) {
        if let DetectorState::Daily { day, .. } = self {
            // Placed by time, not by the stored slot number, so rows written
            // in the one-day layout land in the right cell.
            for (_slot, t, v) in cells {
                if day.is_empty() {
                    *day = empty_day();
                }
                place(day, t, v);
            }
        }
    }

    /// Marks every filled daily-profile slot as changed (a state read with
    /// its profile inline, whose slots are not stored as rows yet); whether
    /// there were any.
    pub fn mark_day_unsaved(&mut self) -> bool {
        let DetectorState::Daily { day, day_dirty, .. } = self else {
            return false;
        };
        day_dirty.clear();
        for (slot, &(t, _)) in day.iter().enumerate() {
            if t != NEVER {
                day_dirty.push(slot as u16);
            }
        }
        !day_dirty.is_empty()
    }

    /// Points seen so far.
    pub fn seen(&self) -> u64 {
        match self {
            DetectorState::Zscore { seen, .. }
            | DetectorState::Ewma { seen, .. }
            | DetectorState::Mad { seen, .. }
            | DetectorState::Seasonal { seen, .. }
            | DetectorState::Daily { seen, .. } => *seen,
            DetectorState::Auto(a) => a.seen,
        }
    }

    /// Scores `x` (observed at Unix second `ts`) against the baseline, then
    /// learns it.
    pub fn observe(&mut self, p: &DetectorParams, ts: i64, x: f64) -> Verdict {
        self.observe_tuned(p, &DailyTuning::DEFAULT, ts, x)
    }

    /// [`DetectorState::observe`] with other `daily` constants (for the NAB
    /// scorer's split check; the server always runs the defaults).
    pub fn observe_tuned(
        &mut self,
        p: &DetectorParams,
        tuning: &DailyTuning,
        ts: i64,
        x: f64,
    ) -> Verdict {
        if let DetectorState::Auto(a) = self {
            return a.observe(p, ts, x);
        }
        if !learnable(x) {
            return Verdict::UNLEARNABLE;
        }
        let ready = self.seen() >= p.min_samples.max(2) as u64;
        let (center, sigma, deviation) = match self {
            DetectorState::Auto(_) => unreachable!("scored above"),
            DetectorState::Zscore {
                ring,
                sum,
                sumsq,
                seen,
            } => {
                let n = ring.len() as f64;
                let (mean, sd) = if n > 0.0 {
                    let mean = *sum / n;
                    let var = (*sumsq / n - mean * mean).max(0.0);
                    (mean, var.sqrt())
                } else {
                    (x, 0.0)
                };
                let sd = sd.max(sigma_floor(mean));
                if let Some(old) = ring.push(x) {
                    *sum -= old;
                    *sumsq -= old * old;
                }
                *sum += x;
                *sumsq += x * x;
                *seen += 1;
                // Re-sum now and then so floating-point drift cannot build up.
                if *seen % 4096 == 0 {
                    *sum = ring.buf.iter().sum();
                    *sumsq = ring.buf.iter().map(|v| v * v).sum();
                }
                (mean, sd, (x - mean) / sd)
            }
            DetectorState::Ewma { mean, var, seen } => {
                let alpha = 2.0 / (p.window_size.max(2) as f64 + 1.0);
                let (m, sd) = if *seen == 0 {
                    (x, 0.0)
                } else {
                    (*mean, var.sqrt())
                };
                let sd = sd.max(sigma_floor(m));
                if *seen == 0 {
                    *mean = x;
                    *var = 0.0;
                } else {
                    let diff = x - *mean;
                    let incr = alpha * diff;
                    *mean += incr;
                    *var = (1.0 - alpha) * (*var + diff * incr);
                }
                *seen += 1;
                (m, sd, (x - m) / sd)
            }
            DetectorState::Mad { window, seen } => {
                let (m, sd) = robust(window, x);
                window.push(x);
                *seen += 1;
                (m, sd, (x - m) / sd)
            }
            DetectorState::Seasonal {
                buckets,
                global,
                seen,
            } => {
                let hour = (ts.rem_euclid(86_400) / 3_600) as usize;
                let bucket = &mut buckets[hour.min(23)];
                let (m, sd) = if bucket.len() >= 3 {
                    let m = bucket.median();
                    // A bucket holds few points; never trust it to be tighter
                    // than a quarter of the whole signal's spread.
                    let (_, gsd) = robust(global, x);
                    let sd = (1.4826 * bucket.mad(m)).max(0.25 * gsd).max(sigma_floor(m));
                    (m, sd)
                } else {
                    robust(global, x)
                };
                bucket.push(x);
                global.push(x);
                *seen += 1;
                (m, sd, (x - m) / sd)
            }
            DetectorState::Daily {
                mean,
                var,
                seen,
                quiet_until,
                quiet_level,
                first_ts,
                day,
                day_dirty,
                day_var,
                day_seen,
                ..
            } => {
                let t = tuning;
                let w = p.window_size.max(1) as f64;
                let (m, sd) = if *seen == 0 {
                    (x, sigma_floor(x))
                } else {
                    (*mean, var.sqrt().max(sigma_floor(*mean)))
                };
                let mut d = (x - m) / sd;
                // Daily context: the value against the same time yesterday,
                // in standard deviations of such day-over-day differences.
                let first = *first_ts.get_or_insert(ts);
                if day.is_empty()
                    && t.day_weight > 0.0
                    && ts.saturating_sub(first) >= DAY_PROFILE_AFTER
                {
                    *day = empty_day();
                }
                let mut diff_day = None;
                if let Some(y) = yesterday(day, ts, x, t.day_reach) {
                    if t.day_reach > 0 {
                        // A deviation from the level that yesterday also had
                        // around this time (a nightly backup, a daily report)
                        // counts only as far as it goes beyond yesterday's
                        // values there.
                        let beyond = (y.beyond * d.signum()).max(0.0);
                        d = d.signum() * d.abs().min(beyond / sd);
                    }
                    if *day_seen as f64 >= w {
                        let dsd = day_var.sqrt().max(sigma_floor(m));
                        let r = if t.day_reach > 0 {
                            y.beyond
                        } else {
                            y.same_slot
                        };
                        let dd = t.day_weight * r / dsd;
                        if directional(dd, p.direction) > directional(d, p.direction) {
                            d = dd;
                        }
                    }
                    diff_day = Some(y.same_slot);
                }
                let dd = directional(d, p.direction);
                if *seen < *quiet_until && dd <= t.breakthrough * *quiet_level {
                    // The episode was reported; stay quiet while the
                    // baseline absorbs it, unless something much bigger comes.
                    d = 0.0;
                } else if ready && dd >= p.sensitivity {
                    *quiet_until = *seen + (t.quiet * w) as u64;
                    *quiet_level = dd;
                }
                if *seen == 0 {
                    *mean = x;
                } else {
                    let alpha = 2.0 / (t.level_memory * w + 1.0);
                    let diff = x - *mean;
                    let incr = alpha * diff;
                    *mean += incr;
                    *var = (1.0 - alpha) * (*var + diff * incr);
                }
                if let Some(r) = diff_day {
                    if *day_seen == 0 {
                        *day_var = r * r;
                    } else {
                        let a = 2.0 / (t.day_memory * w + 1.0);
                        *day_var = (1.0 - a) * (*day_var + a * r * r);
                    }
                    *day_seen += 1;
                }
                // A late point (older than the cell's value, e.g. from two
                // days ago) does not overwrite the newer value.
                let slot = day_cell(ts) as u16;
                if place(day, ts, x) && !day_dirty.contains(&slot) {
                    day_dirty.push(slot);
                }
                *seen += 1;
                (m, sd, d)
            }
        };
        let dir = directional(deviation, p.direction);
        let score = if ready && dir > 0.0 {
            let s = p.sensitivity.max(1e-9);
            dir * dir / (dir * dir + s * s)
        } else {
            0.0
        };
        let band = p.sensitivity * sigma;
        Verdict {
            score: if score.is_finite() { score } else { 1.0 },
            deviation,
            lower: (ready && p.direction != Direction::Up).then_some(center - band),
            upper: (ready && p.direction != Direction::Down).then_some(center + band),
            ready,
        }
    }
}

/// The `auto` detector's state is stored whole once per this many points
/// of a series (in the call whose points pass its phase); the points since
/// are stored as journal rows and replayed on load (at most this many plus
/// one call's, about 0.25 ms per 1,000).
pub const SNAPSHOT_EVERY: u64 = 1024;

/// What an `auto` series asks the store to write after a call.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalChanges {
    /// Delete the series' stored snapshot and journal rows first (a new
    /// detector, or a snapshot that holds all of them).
    pub reset: bool,
    /// The detector's whole state, when stored now ([`AutoState`] words,
    /// base64).
    pub snapshot: Option<String>,
    /// One journal row: the points learned since the last call, as
    /// `"<sequence number of the first> <points>"`, the points packed by
    /// [`packed::encode`] (rows stored before packing hold the base64 of
    /// `(ts, value bits)` pairs; both read).
    pub points: Option<String>,
}

/// An `auto` series: the surprise detector, an exponentially weighted level
/// (for the reported deviation and `direction`), and what is not stored yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AutoState {
    /// Points learned.
    seen: u64,
    /// Where in each run of [`SNAPSHOT_EVERY`] points this series stores
    /// its snapshot, set from its first point, so series fed together do
    /// not all store their ~19 KB in the same call.
    #[serde(default)]
    phase: u64,
    /// The detector; `None` in a state read from its series row until
    /// [`DetectorState::restore_journal`] (or the first point) builds it.
    #[serde(skip)]
    live: Option<Box<Live>>,
}

/// The in-memory part of [`AutoState`].
#[derive(Debug, Clone)]
struct Live {
    det: surprise::Detector,
    /// Exponentially weighted level and variance (span `window_size`).
    level: f64,
    var: f64,
    /// Points learned since the last [`AutoState::take_journal`].
    pending: Vec<(i64, f64)>,
    /// Store a snapshot at the next save (`pending` overflowed: the engine
    /// runs without a store, or one call brought many points).
    snapshot_due: bool,
    /// Made afresh: rows stored for its series belong to an earlier detector.
    fresh: bool,
}

/// The surprise detector's constants for these parameters: the defaults,
/// with the warm-up at least `min_samples` and the decades of rarity that
/// alert scaled by `sensitivity` / 3.
pub fn surprise_params(p: &DetectorParams) -> surprise::Params {
    let d = surprise::Params::default();
    surprise::Params {
        warmup: d
            .warmup
            .max(u32::try_from(p.min_samples).unwrap_or(u32::MAX)),
        // sensitivity / 3 first: exactly 1 at the default.
        decades: d.decades * (p.sensitivity / 3.0),
        ..d
    }
}

/// First word of a stored [`AutoState`] snapshot.
const AUTO_SNAPSHOT_VERSION: u64 = 1;

impl Live {
    fn new(p: &DetectorParams) -> Live {
        Live {
            det: surprise::Detector::new(surprise_params(p), p.value_range.map(|r| (r.min, r.max))),
            level: 0.0,
            var: 0.0,
            pending: Vec::new(),
            snapshot_due: false,
            fresh: true,
        }
    }

    /// Scores and learns one point (`seen`: points before it); returns the
    /// score and the deviation from the level.
    fn learn(&mut self, p: &DetectorParams, seen: u64, ts: i64, x: f64) -> (f64, f64) {
        let (m, sd) = if seen == 0 {
            (x, sigma_floor(x))
        } else {
            (self.level, self.var.sqrt().max(sigma_floor(self.level)))
        };
        let score = self.det.observe(ts, x);
        if seen == 0 {
            self.level = x;
        } else {
            let alpha = 2.0 / (p.window_size.max(2) as f64 + 1.0);
            let diff = x - self.level;
            let incr = alpha * diff;
            self.level += incr;
            self.var = (1.0 - alpha) * (self.var + diff * incr);
        }
        (score, (x - m) / sd)
    }

    fn to_words(&self, seen: u64) -> Vec<u64> {
        let mut w = vec![
            AUTO_SNAPSHOT_VERSION,
            seen,
            self.level.to_bits(),
            self.var.to_bits(),
        ];
        w.extend(self.det.to_words());
        w
    }

    fn from_words(w: &[u64]) -> Option<(u64, Live)> {
        let [version, seen, level, var, det @ ..] = w else {
            return None;
        };
        if *version != AUTO_SNAPSHOT_VERSION {
            return None;
        }
        let det = surprise::Detector::from_words(det)?;
        Some((
            *seen,
            Live {
                det,
                level: f64::from_bits(*level),
                var: f64::from_bits(*var),
                pending: Vec::new(),
                snapshot_due: false,
                fresh: false,
            },
        ))
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD_NO_PAD
}

#[cfg(test)]
fn encode_words(words: impl IntoIterator<Item = u64>) -> String {
    let bytes: Vec<u8> = words.into_iter().flat_map(u64::to_le_bytes).collect();
    b64().encode(bytes)
}

fn decode_words(text: &str) -> Option<Vec<u64>> {
    words_of(&b64().decode(text).ok()?)
}

fn words_of(bytes: &[u8]) -> Option<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
    )
}

/// Prefix of a snapshot stored packed: `lz4:` and the base64 of its words'
/// bytes, LZ4-compressed after their length (u32, little-endian). `:` is
/// not in base64's alphabet, so a snapshot stored plain (before packing)
/// still reads as one.
const PACKED: &str = "lz4:";

/// Largest unpacked snapshot read back (the state is ~19 KB; a stored
/// length beyond this is damage, not a reason to allocate it).
const MAX_SNAPSHOT_BYTES: usize = 1 << 20;

/// A snapshot's words as stored: packed (see [`PACKED`]). The counters are
/// mostly zeros and small counts: ~19 KB packs to a few, which is most of
/// the WAL a snapshot writes.
fn encode_snapshot(words: &[u64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    format!(
        "{PACKED}{}",
        b64().encode(lz4_flex::block::compress_prepend_size(&bytes))
    )
}

/// A stored snapshot's words, packed or plain; `None` when unreadable.
fn decode_snapshot(text: &str) -> Option<Vec<u64>> {
    let Some(packed) = text.strip_prefix(PACKED) else {
        return decode_words(text);
    };
    let z = b64().decode(packed).ok()?;
    let (len, body) = z.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_SNAPSHOT_BYTES {
        return None;
    }
    let bytes = lz4_flex::block::decompress(body, len).ok()?;
    if bytes.len() != len {
        return None;
    }
    words_of(&bytes)
}

impl AutoState {
    fn live(&mut self, p: &DetectorParams) -> &mut Live {
        self.live.get_or_insert_with(|| Box::new(Live::new(p)))
    }

    fn observe(&mut self, p: &DetectorParams, ts: i64, x: f64) -> Verdict {
        let seen = self.seen;
        let ready = seen >= u64::from(surprise_params(p).warmup);
        if !learnable(x) {
            return Verdict::UNLEARNABLE;
        }
        if seen == 0 {
            self.phase = (ts as u64 ^ x.to_bits()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54;
        }
        let live = self.live(p);
        let (score, deviation) = live.learn(p, seen, ts, x);
        if live.pending.len() as u64 >= SNAPSHOT_EVERY {
            live.pending.clear();
            live.snapshot_due = true;
        }
        if !live.snapshot_due {
            live.pending.push((ts, x));
        }
        self.seen += 1;
        let watched = p.direction == Direction::Both || directional(deviation, p.direction) > 0.0;
        Verdict {
            score: if watched { score } else { 0.0 },
            deviation,
            lower: None,
            upper: None,
            ready,
        }
    }

    fn take_journal(&mut self) -> Option<JournalChanges> {
        let seen = self.seen;
        let live = self.live.as_mut()?;
        // Whether this call's points pass the series' phase (once per run
        // of SNAPSHOT_EVERY points).
        let off = SNAPSHOT_EVERY - self.phase % SNAPSHOT_EVERY;
        let at_phase = (seen + off) / SNAPSHOT_EVERY
            > (seen - live.pending.len() as u64 + off) / SNAPSHOT_EVERY;
        if live.snapshot_due || at_phase {
            live.pending.clear();
            live.snapshot_due = false;
            live.fresh = false;
            return Some(JournalChanges {
                reset: true,
                snapshot: Some(encode_snapshot(&live.to_words(seen))),
                points: None,
            });
        }
        let reset = std::mem::take(&mut live.fresh);
        if live.pending.is_empty() && !reset {
            return None;
        }
        let points = (!live.pending.is_empty()).then(|| {
            let first = seen - live.pending.len() as u64;
            let mut text = String::with_capacity(24 + live.pending.len() * 6);
            let _ = write!(text, "{first} ");
            packed::encode_into(&mut text, &live.pending);
            live.pending.clear();
            text
        });
        Some(JournalChanges {
            reset,
            snapshot: None,
            points,
        })
    }

    fn restore(&mut self, p: &DetectorParams, snapshot: Option<&str>, rows: &[String]) {
        let (mut seen, mut live) = match snapshot.and_then(decode_snapshot) {
            Some(w) => match Live::from_words(&w) {
                Some(back) => back,
                None => {
                    tracing::warn!("unreadable auto detector snapshot: learning afresh");
                    (0, Live::new(p))
                }
            },
            None => (0, Live::new(p)),
        };
        live.fresh = false;
        'rows: for row in rows {
            let parsed = row.split_once(' ').and_then(|(first, data)| {
                Some((first.parse::<u64>().ok()?, packed::decode(data)?))
            });
            let Some((first, points)) = parsed else {
                tracing::warn!("skipping unreadable auto journal row");
                continue;
            };
            for (k, &(t, x)) in points.iter().enumerate() {
                let at = first + k as u64;
                if at < seen {
                    continue;
                }
                if at > seen {
                    tracing::warn!(at, seen, "auto journal has a gap; replay stops there");
                    break 'rows;
                }
                live.learn(p, seen, t, x);
                seen += 1;
            }
        }
        // The series row's count is as of its last write (an `auto` record
        // is not rewritten for learning alone), so more is normal; fewer
        // means journal rows were lost.
        if seen < self.seen {
            tracing::warn!(
                stored = self.seen,
                replayed = seen,
                "auto state rebuilt from fewer points than its series row counts"
            );
            // The next save stores the state as rebuilt.
            live.snapshot_due = true;
        }
        self.seen = seen;
        self.live = Some(Box::new(live));
    }
}

/// A value against yesterday's values around the same time of day.
struct Yesterday {
    /// The difference from the value in the same slot yesterday.
    same_slot: f64,
    /// How far the value lies beyond yesterday's values within the reach:
    /// positive above their maximum, negative below their minimum, 0 inside.
    beyond: f64,
}

/// `x` (at Unix second `ts`) against the daily profile's cells of
/// yesterday within `reach` slots of this time; `None` when the same slot
/// yesterday has no value.
fn yesterday(day: &[(i64, f64)], ts: i64, x: f64, reach: u32) -> Option<Yesterday> {
    if day.len() != DAY_CELLS {
        return None;
    }
    let then_ts = ts.checked_sub(86_400)?;
    let reach = i64::from(reach).min(DAY_SLOTS / 2 - 1);
    let tolerance = DAY_SLOT_SECONDS * (reach + 1);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut same_slot = None;
    for k in -reach..=reach {
        let (then, v) = day[day_cell(then_ts.saturating_add(k * DAY_SLOT_SECONDS))];
        let off = then.abs_diff(then_ts);
        if then == NEVER || off > tolerance as u64 {
            continue;
        }
        lo = lo.min(v);
        hi = hi.max(v);
        if k == 0 && off <= DAY_SLOT_SECONDS as u64 {
            same_slot = Some(x - v);
        }
    }
    let beyond = if x > hi {
        x - hi
    } else if x < lo {
        x - lo
    } else {
        0.0
    };
    same_slot.map(|same_slot| Yesterday { same_slot, beyond })
}

/// Reads a profile carried inline by states written before it was stored
/// as rows, moving its cells (one day of slots then) to where [`day_cell`]
/// looks for them; the newest value wins a cell.
fn inline_day<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(i64, f64)>, D::Error> {
    let cells = Vec::<(i64, f64)>::deserialize(d)?;
    if cells.is_empty() {
        return Ok(cells);
    }
    let mut day = empty_day();
    for (t, v) in cells {
        place(&mut day, t, v);
    }
    Ok(day)
}

/// Writes the cell of Unix second `t` unless it holds a newer value;
/// whether it did.
fn place(day: &mut [(i64, f64)], t: i64, v: f64) -> bool {
    match day.get_mut(day_cell(t)) {
        // An empty cell's time, NEVER, is older than any.
        Some(cell) if t != NEVER && cell.0 <= t => {
            *cell = (t, v);
            true
        }
        _ => false,
    }
}

fn directional(d: f64, dir: Direction) -> f64 {
    match dir {
        Direction::Up => d,
        Direction::Down => -d,
        Direction::Both => d.abs(),
    }
}

/// Median and MAD-based sigma of a window (or the point itself when empty).
fn robust(w: &RollingMedian, x: f64) -> (f64, f64) {
    if w.len() == 0 {
        return (x, sigma_floor(x));
    }
    let m = w.median();
    let mut sd = 1.4826 * w.mad(m);
    if sd <= sigma_floor(m) {
        // More than half the window sits on one value (quantised or idle
        // metrics): the MAD is 0, so fall back to the mean absolute deviation.
        sd = 1.2533 * w.mean_abs_dev(m);
    }
    (m, sd.max(sigma_floor(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(method: Method) -> DetectorParams {
        DetectorParams {
            method,
            window_size: 50,
            sensitivity: 3.0,
            direction: Direction::Both,
            min_samples: 10,
            value_range: None,
        }
    }

    fn noise(i: usize) -> f64 {
        // Deterministic pseudo-noise in [-1, 1].
        let x = ((i as u64).wrapping_mul(2654435761) % 1000) as f64 / 500.0;
        x - 1.0
    }

    #[test]
    fn every_method_flags_a_spike_and_not_the_noise() {
        for m in Method::ALL {
            let p = params(m);
            let mut s = DetectorState::new(&p);
            let mut worst_quiet: f64 = 0.0;
            for i in 0..400 {
                let v = s.observe(&p, i as i64 * 3600, 100.0 + noise(i));
                if i > 150 {
                    worst_quiet = worst_quiet.max(v.score);
                }
            }
            let v = s.observe(&p, 400 * 3600, 130.0);
            assert!(worst_quiet < 0.5, "{m:?} flagged noise: {worst_quiet}");
            if m == Method::Auto {
                // It scores the rarity of the last 6 points' mean surprise,
                // not a distance: one lone spike on a calm series does not
                // reach 0.5 (docs/detection.md), and there is no band.
                assert!(v.upper.is_none() && v.deviation > 3.0, "{v:?}");
                continue;
            }
            assert!(v.is_anomalous(), "{m:?}: {v:?}");
            assert!(
                v.upper.unwrap() < 130.0 && v.lower.unwrap() > 90.0,
                "{m:?} {v:?}"
            );
        }
    }

    /// Every point of an `auto` state fed `xs` (Unix second `i * 300`),
    /// storing it as the engine does every `call` points; with `restart_at`
    /// the state is rebuilt from what was stored (series row, snapshot,
    /// journal rows) there. Returns the scores.
    fn auto_run(
        p: &DetectorParams,
        xs: &[f64],
        call: usize,
        restart_at: Option<usize>,
    ) -> Vec<f64> {
        let mut s = DetectorState::new(p);
        let (mut snapshot, mut rows): (Option<String>, Vec<String>) = (None, Vec::new());
        let mut row = String::new();
        let mut out = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            if Some(i) == restart_at {
                row = serde_json::to_string(&s.to_save()).unwrap();
                s = serde_json::from_str(&row).unwrap();
                s.restore_journal(p, snapshot.as_deref(), &rows);
            }
            out.push(s.observe(p, i as i64 * 300, *x).score);
            if (i + 1) % call == 0
                && let Some(j) = s.take_journal()
            {
                if j.reset {
                    snapshot = None;
                    rows.clear();
                }
                snapshot = j.snapshot.or(snapshot);
                rows.extend(j.points);
            }
        }
        assert!(row.len() < 100, "the series row stays small: {row}");
        out
    }

    fn wave(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let shift = if (2500..2560).contains(&i) { 40.0 } else { 0.0 };
                let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
                50.0 + 20.0 * phase.sin() + 3.0 * noise(i) + shift
            })
            .collect()
    }

    #[test]
    fn auto_restored_from_snapshot_and_journal_continues_identically() {
        let xs = wave(3200);
        for range in [
            None,
            Some(ValueRange {
                min: 0.0,
                max: 120.0,
            }),
        ] {
            let p = DetectorParams {
                value_range: range,
                ..DetectorParams::default()
            };
            let full = auto_run(&p, &xs, 10, None);
            let alerts: Vec<usize> = (0..full.len()).filter(|&i| full[i] >= 0.5).collect();
            assert!(
                alerts.iter().any(|i| (2500..2560).contains(i)),
                "{range:?}: {alerts:?}"
            );
            // Between calls (a call's points are stored when it ends):
            // before the first snapshot, just after one, mid-journal, and
            // with calls of one point and of many.
            for (call, cut) in [(10, 500), (10, 1030), (10, 2510), (1, 1100), (700, 2800)] {
                assert_eq!(
                    auto_run(&p, &xs, call, Some(cut)),
                    full,
                    "call {call}, restart at {cut}"
                );
            }
        }
    }

    #[test]
    fn auto_snapshots_are_packed_and_plain_ones_still_read_and_damaged_ones_start_afresh() {
        let p = DetectorParams::default();
        let xs = wave(3200);
        let mut s = DetectorState::new(&p);
        let mut snapshot = None;
        for (i, x) in xs[..2000].iter().enumerate() {
            s.observe(&p, i as i64 * 300, *x);
            if (i + 1) % 10 == 0
                && let Some(j) = s.take_journal()
            {
                snapshot = j.snapshot.or(snapshot);
            }
        }
        let packed = snapshot.expect("a snapshot within 2,000 points");
        let words = decode_snapshot(&packed).unwrap();
        // What the version before packing stored: the words in plain base64.
        let plain = encode_words(words.iter().copied());
        assert!(
            packed.starts_with(PACKED) && packed.len() * 2 < plain.len(),
            "{} packed against {} plain",
            packed.len(),
            plain.len()
        );
        let rest = |stored: &str| -> Vec<f64> {
            let mut s = DetectorState::new(&p);
            s.restore_journal(&p, Some(stored), &[]);
            (2000..3200)
                .map(|i| s.observe(&p, i as i64 * 300, xs[i]).score)
                .collect()
        };
        let continued = rest(&packed);
        assert_eq!(rest(&plain), continued);
        assert!(
            continued.iter().any(|v| *v >= 0.5),
            "the shift at 2,500 alerts"
        );
        // Damaged: a length past the bound, a body cut short, not base64.
        let huge = format!("{PACKED}{}", b64().encode([0xff, 0xff, 0xff, 0x7f, 0, 0]));
        let cut = &packed[..packed.len() / 2];
        let fresh: Vec<f64> = {
            let mut s = DetectorState::new(&p);
            (2000..3200)
                .map(|i| s.observe(&p, i as i64 * 300, xs[i]).score)
                .collect()
        };
        for damaged in [huge.as_str(), cut, "lz4:%%%"] {
            assert!(decode_snapshot(damaged).is_none(), "{damaged:.40}");
            assert_eq!(rest(damaged), fresh, "{damaged:.40}");
        }
    }

    #[test]
    fn auto_series_fed_together_store_their_snapshots_in_different_calls() {
        let p = DetectorParams::default();
        let calls_with_snapshot = |first: f64| -> Vec<usize> {
            let mut s = DetectorState::new(&p);
            let mut calls = Vec::new();
            for call in 0..300 {
                for k in 0..10 {
                    let i = call * 10 + k;
                    let x = if i == 0 { first } else { 50.0 + noise(i) };
                    s.observe(&p, i as i64 * 60, x);
                }
                if s.take_journal().is_some_and(|j| j.snapshot.is_some()) {
                    calls.push(call);
                }
            }
            calls
        };
        let (a, b) = (calls_with_snapshot(50.0), calls_with_snapshot(51.0));
        // Every 1,024 points (102.4 calls).
        assert!(
            a.len() >= 2 && a.windows(2).all(|w| (102..=103).contains(&(w[1] - w[0]))),
            "{a:?}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn auto_uses_its_range_sensitivity_and_direction() {
        let xs = wave(3200);
        let run = |p: &DetectorParams| -> Vec<usize> {
            let mut s = DetectorState::new(p);
            (0..xs.len())
                .filter(|&i| s.observe(p, i as i64 * 300, xs[i]).is_anomalous())
                .collect()
        };
        let base = run(&DetectorParams::default());
        let ranged = run(&DetectorParams {
            value_range: Some(ValueRange {
                min: 0.0,
                max: 120.0,
            }),
            ..DetectorParams::default()
        });
        assert_ne!(base, ranged, "the range places the bins");
        let strict = run(&DetectorParams {
            sensitivity: 9.0,
            ..DetectorParams::default()
        });
        assert!(strict.len() < base.len(), "{strict:?} vs {base:?}");
        let down = run(&DetectorParams {
            direction: Direction::Down,
            ..DetectorParams::default()
        });
        assert!(!down.iter().any(|i| (2500..2560).contains(i)), "{down:?}");
    }

    #[test]
    fn tested_point_is_not_in_its_own_baseline() {
        // With only one previous point, including the tested point would make
        // the mean move towards it; excluding it keeps the bound at the first.
        let p = DetectorParams {
            min_samples: 2,
            ..params(Method::Zscore)
        };
        let mut s = DetectorState::new(&p);
        s.observe(&p, 0, 10.0);
        s.observe(&p, 1, 10.0);
        let v = s.observe(&p, 2, 1000.0);
        assert!(v.score > 0.99, "{v:?}");
    }

    #[test]
    fn warm_up_and_one_sided() {
        let p = DetectorParams {
            direction: Direction::Up,
            ..params(Method::Mad)
        };
        let mut s = DetectorState::new(&p);
        for i in 0..9 {
            assert!(!s.observe(&p, i, 10.0 + noise(i as usize)).ready);
        }
        for i in 9..60 {
            s.observe(&p, i, 10.0 + noise(i as usize));
        }
        let down = s.observe(&p, 61, -50.0);
        assert_eq!(down.score, 0.0);
        assert!(down.lower.is_none());
        let up = s.observe(&p, 62, 60.0);
        assert!(up.is_anomalous());
    }

    #[test]
    fn mad_ignores_earlier_outliers() {
        let p = params(Method::Mad);
        let mut s = DetectorState::new(&p);
        for i in 0..100 {
            let x = if i % 10 == 0 { 1000.0 } else { 10.0 + noise(i) };
            s.observe(&p, i as i64, x);
        }
        assert!(s.observe(&p, 100, 20.0).is_anomalous());
    }

    /// A clean daily cycle sampled every 5 minutes (288 points a day).
    fn daily(i: usize) -> f64 {
        let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
        50.0 + 20.0 * phase.sin() + 0.2 * noise(i)
    }

    /// The Unix second of the `i`th five-minute point.
    fn five_minutes(i: usize) -> i64 {
        1_700_000_000 + 300 * i as i64
    }

    fn run_daily(tuning: &DailyTuning, values: impl Iterator<Item = f64>) -> Vec<Verdict> {
        let p = DetectorParams {
            window_size: 100,
            min_samples: 100,
            ..params(Method::Daily)
        };
        let mut s = DetectorState::new(&p);
        values
            .enumerate()
            .map(|(i, x)| s.observe_tuned(&p, tuning, five_minutes(i), x))
            .collect()
    }

    /// A `daily` detector (window 100) after the first `n` points of
    /// [`daily`], and its parameters.
    fn daily_after(n: usize) -> (DetectorParams, DetectorState) {
        let p = DetectorParams {
            window_size: 100,
            ..params(Method::Daily)
        };
        let mut s = DetectorState::new(&p);
        for i in 0..n {
            s.observe(&p, five_minutes(i), daily(i));
        }
        (p, s)
    }

    #[test]
    fn daily_flags_a_daily_pattern_that_breaks_inside_the_usual_range() {
        // Three normal days, then the signal sticks at its mean (50, well
        // inside the daily range) for six hours of the fourth day.
        let n = 4 * 288;
        let broken = 3 * 288 + 100..3 * 288 + 172;
        let values = (0..n).map(|i| if broken.contains(&i) { 50.0 } else { daily(i) });
        let v = run_daily(&DailyTuning::DEFAULT, values.clone());
        let alerts: Vec<usize> = (0..n).filter(|i| v[*i].is_anomalous()).collect();
        assert!(
            alerts.iter().any(|i| broken.contains(i)),
            "missed the break: {alerts:?}"
        );
        assert!(
            alerts.iter().all(|i| *i >= broken.start || *i < 288),
            "alerted on normal days: {alerts:?}"
        );
        // Without the daily comparison the same break goes unseen.
        let level_only = DailyTuning {
            day_weight: 0.0,
            day_reach: 0,
            ..DailyTuning::DEFAULT
        };
        let v = run_daily(&level_only, values);
        assert!(!broken.clone().any(|i| v[i].is_anomalous()));
    }

    #[test]
    fn daily_takes_a_spike_that_yesterday_also_had_as_normal() {
        // A flat, noisy metric with a daily job: a spike at the same time
        // each day (the 120th five-minute point of the day), a few minutes
        // earlier or later and a little higher or lower each time. The first day is news; the following days are
        // not. A spike at a time of day it never had before still is,
        // and so is the job's spike grown far beyond yesterday's.
        let job = |d: usize| 120 + [0, 1, -1, 1, 2, 0][d % 6] as isize;
        let n = 6 * 288;
        let value = |i: usize| {
            let (d, slot) = (i / 288, (i % 288) as isize);
            let base = 10.0 + noise(i);
            if slot == job(d) {
                if d == 5 {
                    200.0
                } else {
                    60.0 + 3.0 * (d % 3) as f64
                }
            } else if d == 4 && slot == 250 {
                60.0
            } else {
                base
            }
        };
        let run = |tuning: &DailyTuning| -> Vec<usize> {
            let v = run_daily(tuning, (0..n).map(value));
            (0..n).filter(|&i| v[i].is_anomalous()).collect()
        };
        let at = |d: usize, slot: isize| d * 288 + slot as usize;
        let alerts = run(&DailyTuning::DEFAULT);
        assert!(alerts.contains(&at(0, job(0))), "first day: {alerts:?}");
        for d in 1..5 {
            assert!(!alerts.contains(&at(d, job(d))), "day {d}: {alerts:?}");
        }
        assert!(alerts.contains(&at(4, 250)), "new time of day: {alerts:?}");
        assert!(alerts.contains(&at(5, job(5))), "grown spike: {alerts:?}");
        // Without the reach, the moved job raises alerts every day.
        let same_slot = DailyTuning {
            day_reach: 0,
            ..DailyTuning::DEFAULT
        };
        let alerts = run(&same_slot);
        assert!(
            (1..5).all(|d| alerts.iter().any(|i| i / 288 == d)),
            "{alerts:?}"
        );
    }

    #[test]
    fn a_late_point_does_not_overwrite_a_newer_daily_value() {
        let (p, mut s) = daily_after(700);
        let ts = five_minutes;
        assert!(s.take_day_changes().is_some());
        // Two days (576 slots) before the newest point: the same cell.
        assert_eq!(day_cell(ts(699 - 576)), day_cell(ts(699)));
        s.observe(&p, ts(699 - 576), 1000.0);
        assert_eq!(s.take_day_changes(), None, "the late point was stored");
    }

    #[test]
    fn daily_reports_a_level_shift_once_then_stays_quiet() {
        // Window 20: the level learns over 200 points, quiet for 40.
        let p = DetectorParams {
            window_size: 20,
            ..params(Method::Daily)
        };
        let mut s = DetectorState::new(&p);
        let alerts: Vec<usize> = (0..1200)
            .filter(|&i| {
                let x = if i < 1000 { 10.0 } else { 30.0 } + noise(i);
                s.observe(&p, i as i64 * 60, x).is_anomalous()
            })
            .collect();
        let late: Vec<usize> = alerts.into_iter().filter(|i| *i >= 600).collect();
        assert_eq!(late.first(), Some(&1000), "{late:?}");
        assert!(late.iter().all(|i| *i == 1000 || *i >= 1040), "{late:?}");
    }

    #[test]
    fn daily_state_survives_a_round_trip_and_reads_older_states() {
        let (p, mut s) = daily_after(400);
        let ts = five_minutes;
        // Stored as the store does it: the state as JSON, the profile's
        // slots as rows beside it.
        let json = serde_json::to_string(&s).expect("serialises");
        // The copy the engine saves (without the profile) writes the same.
        assert_eq!(serde_json::to_string(&s.to_save()).unwrap(), json);
        assert!(
            !json.contains("\"day\""),
            "no profile inline: {}",
            json.len()
        );
        let day = s.take_day_changes().expect("a profile after 400 points");
        // The profile starts after an hour (12 points): 388 filled slots.
        assert!(day.fresh && day.cells.len() == 388, "{}", day.cells.len());
        assert_eq!(s.take_day_changes(), None, "taken once");
        let mut back: DetectorState = serde_json::from_str(&json).expect("reads back");
        // Rows are placed by their time: numbered as the one-day layout
        // numbered them (slot of the day), they land where they belong.
        back.restore_day(
            day.cells
                .iter()
                .map(|&(_, t, v)| ((t.rem_euclid(86_400) / DAY_SLOT_SECONDS) as u16, t, v)),
        );
        for i in 400..700 {
            let x = if i == 650 { 90.0 } else { daily(i) };
            // JSON floats round-trip to the last bit or so.
            let (a, b) = (s.observe(&p, ts(i), x), back.observe(&p, ts(i), x));
            assert!((a.score - b.score).abs() < 1e-9, "{a:?} {b:?}");
            assert_eq!(a.is_anomalous(), b.is_anomalous(), "at {i}");
        }
        // One point changes one slot.
        let one = s.take_day_changes().expect("slots of the last 300 points");
        assert!(!one.fresh);
        s.observe(&p, ts(700), daily(700));
        let after = s.take_day_changes().unwrap();
        assert_eq!(after.cells.len(), 1, "{after:?}");
        assert_eq!(after.cells[0].1, ts(700));
        assert!(one.cells.len() > 1);
        // A state written with its profile inline loads it and marks every
        // filled slot to be stored as rows.
        let inline = json.replace(
            "\"kind\":\"auto\"",
            "\"kind\":\"auto\",\"day\":[[1700000000,5.0],[-9223372036854775808,0.0]]",
        );
        let mut inline: DetectorState = serde_json::from_str(&inline).expect("inline profile");
        assert!(inline.mark_day_unsaved());
        assert_eq!(
            inline.take_day_changes().map(|d| d.cells),
            Some(vec![(day_cell(1_700_000_000) as u16, 1_700_000_000, 5.0)])
        );
        // A state written before the daily profile existed still loads.
        let old = r#"{"kind":"auto","mean":5.0,"var":1.0,"seen":100,"quiet_until":0}"#;
        let mut old: DetectorState = serde_json::from_str(old).expect("old state");
        assert!(old.observe(&p, ts(0), 50.0).is_anomalous());
    }

    #[test]
    fn rolling_median_and_mad_match_a_sort() {
        let mut w = RollingMedian::new(7);
        let xs = [5.0, 1.0, 9.0, 3.0, 3.0, 8.0, 2.0, 7.0, 4.0, 6.0];
        for (i, x) in xs.iter().enumerate() {
            w.push(*x);
            let lo = (i + 1).saturating_sub(7);
            let mut v: Vec<f64> = xs[lo..=i].to_vec();
            v.sort_by(f64::total_cmp);
            let m = median_of_sorted(&v);
            let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
            d.sort_by(f64::total_cmp);
            assert_eq!(w.median(), m);
            assert_eq!(w.mad(m), median_of_sorted(&d), "at {i}");
        }
    }
}
