#![allow(dead_code)]
//! Streaming anomaly detector (no dependencies beyond std).
//!
//! Written from the published ideas, not from any implementation:
//! - contextual novelty over quantised recent values (the idea behind the
//!   "contextual anomaly detector" family): a context is the current value's
//!   bin together with the bins of the last few values; a context never seen
//!   before is surprising;
//! - an anomaly-likelihood layer (the idea of Ahmad et al. 2017, "Unsupervised
//!   real-time anomaly detection for streaming data"): a raw surprise signal is
//!   turned into a tail probability by comparing its short-window mean with
//!   the distribution of the signal over a long horizon, and reported on a log
//!   scale, so that one score means the same rarity on every series;
//! - a nearest-neighbour distance between lagged windows (the idea of
//!   conformal k-NN detectors, Burnaev & Ishimtsev 2016);
//! - NAB-friendly output: a warm-up with no output, and after a detection
//!   the output is held below the alert point for a while.
//!
//! The score is calibrated so that 0.5 is the alert point: the output is
//! 0.5 * (-log10 tail probability) / `decades`, so 0.5 means "the recent raw
//! surprise is as rare as 10^-decades under the series' own history".
//!
//! The state is plain numbers and `Vec`s (derive serde in the project); see
//! `to_words`/`from_words` for a dependency-free round trip.

/// Constants. Every one is chosen by cross-validation in the lab.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Points with no output at the start of a series (learning only).
    pub warmup: u32,
    /// Which raw signals feed the output (bit set, see `C_*`).
    pub components: u32,
    /// Quantisation levels of the normalised value, for contexts.
    pub bins: u32,
    /// How many past bins a context reaches back.
    pub ctx_len: u32,
    /// Likelihood: long horizon (points) of the raw signal's distribution.
    pub long: u32,
    /// Likelihood: short window (points) whose mean is tested.
    pub short: u32,
    /// Tail probability 10^-decades maps to the alert point 0.5.
    pub decades: f64,
    /// Floor on the raw signal's standard deviation, relative units.
    pub sigma_floor: f64,
    /// Smoothing of the level for the deviation signal (0 < a <= 1).
    pub level_alpha: f64,
    /// k-NN: lag-window length and number of stored windows.
    pub knn_dim: u32,
    pub knn_store: u32,
    /// Points after a detection during which the output stays below 0.5.
    pub suppress: u32,
    /// Learned range only: after the warm-up the range is frozen and widened
    /// by this fraction of its span on each side (values beyond fall in
    /// overflow bins).
    pub pad: f64,
    /// PPM: 0 = average the bits of the orders; 1 = bits of the averaged
    /// probability (a mixture: low surprise if any order predicted well).
    pub mix: u32,
    /// PPM: time-of-day buckets as one more context model (0 = off).
    pub tod: u32,
    /// Likelihood layer: 0 = Gaussian tail of the short mean; 1 = empirical
    /// tail of the short mean against its own decayed histogram.
    pub tail: u32,
    /// 0 = max of the components' calibrated scores; 1 = their surprises
    /// summed and calibrated again (empirical tail).
    pub combine: u32,
    /// 0 = linear bins over the range; 1 = equal-frequency bins from the
    /// warm-up values (range hint unused).
    pub qbins: u32,
    /// 1 = report the alert as 1.0 (a decision; no threshold left to tune);
    /// 0 = report the calibrated score (>= 0.5 at an alert).
    pub binary: u32,
    /// Repeat-alert control: bit 1 = each alert within 4 x suppress of the
    /// previous one doubles the suppression (up to 32x); bit 2 = the
    /// suppression only ends once the score is back below 0.5.
    pub backoff: u32,
    /// Learned range: points after which it is frozen (0 = at the warm-up).
    pub freeze: u32,
}

/// Context novelty through the likelihood layer.
pub const C_CTX: u32 = 1;
/// Context novelty directly (fraction of new contexts / `decades`-free).
pub const C_CTX_DIRECT: u32 = 2;
/// Deviation from the smoothed level, through the likelihood layer.
pub const C_LEVEL: u32 = 4;
/// Lagged-window nearest-neighbour distance, through the likelihood layer.
pub const C_KNN: u32 = 8;
/// Variable-order Markov surprise of the current bin given recent bins,
/// through the likelihood layer.
pub const C_PPM: u32 = 16;

impl Default for Params {
    fn default() -> Self {
        Params {
            warmup: 400,
            components: C_CTX | C_LEVEL,
            bins: 12,
            ctx_len: 4,
            long: 2000,
            short: 8,
            decades: 4.0,
            sigma_floor: 0.01,
            level_alpha: 0.1,
            knn_dim: 8,
            knn_store: 200,
            suppress: 250,
            pad: 0.5,
            mix: 0,
            tod: 0,
            tail: 0,
            combine: 0,
            qbins: 0,
            binary: 0,
            backoff: 0,
            freeze: 0,
        }
    }
}

const TABLE_BITS: u32 = 14; // 16 KiB of u8 counters
const PPM_BITS: u32 = 12; // 2 x 4096 u16 counters = 16 KiB

/// Gaussian tail: -log10 Q(z) for z >= 0 via the complementary error
/// function's exponential form (fractional error < 1.2e-7 everywhere), so it
/// stays finite and accurate far into the tail.
fn neg_log10_tail(z: f64) -> f64 {
    if z <= 0.0 {
        return 0.0; // tail >= 0.5: no surprise
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    // ln erfc(x) = ln t + poly; Q = erfc / 2
    let ln_q = t.ln() + poly - std::f64::consts::LN_2;
    -ln_q / std::f64::consts::LN_10
}

/// Likelihood layer over one raw signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Likelihood {
    n: u64,
    mean: f64,
    var: f64,
    ring: Vec<f64>,
    pos: usize,
    sum: f64,
    hist: Vec<f64>,
    total: f64,
}

const HIST_BINS: usize = 256;

impl Likelihood {
    fn new(p: &Params) -> Self {
        Likelihood {
            n: 0,
            mean: 0.0,
            var: 0.0,
            ring: vec![0.0; p.short.max(1) as usize],
            pos: 0,
            sum: 0.0,
            hist: if p.tail == 1 {
                vec![0.0; HIST_BINS]
            } else {
                Vec::new()
            },
            total: 0.0,
        }
    }

    /// Feed one raw value; returns -log10 of the upper tail probability of
    /// the short-window mean under the long-horizon distribution.
    fn observe(&mut self, raw: f64, p: &Params) -> f64 {
        let k = self.ring.len();
        self.sum += raw - self.ring[self.pos];
        self.ring[self.pos] = raw;
        self.pos = (self.pos + 1) % k;
        let filled = (self.n as usize + 1).min(k);
        let short_mean = self.sum / filled as f64;
        if !self.hist.is_empty() {
            // Empirical: how often did the short mean reach this level over
            // the long horizon (exponentially decayed counts)?
            let y = short_mean.max(0.0) / (1.0 + short_mean.max(0.0));
            let bin = ((y * HIST_BINS as f64) as usize).min(HIST_BINS - 1);
            let above: f64 = self.hist[bin..].iter().sum();
            let out = if self.n >= 2 {
                -((above + 0.5) / (self.total + 1.0)).log10()
            } else {
                0.0
            };
            self.n += 1;
            let keep = 1.0 - 1.0 / p.long as f64;
            self.hist.iter_mut().for_each(|c| *c *= keep);
            self.hist[bin] += 1.0;
            self.total = self.total * keep + 1.0;
            return out;
        }
        // Tested against the distribution before this point; the mean of k
        // samples has variance var / k (as if independent: conservative).
        let out = if self.n >= 2 {
            let sd = self.var.sqrt().max(p.sigma_floor);
            let z = (short_mean - self.mean) / sd;
            neg_log10_tail(z)
        } else {
            0.0
        };
        self.n += 1;
        let a = 1.0 / (self.n.min(p.long as u64) as f64);
        let d = raw - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    p: Params,
    // Range: given (fixed) or learned.
    fixed_range: bool,
    lo: f64,
    hi: f64,
    n: u64,
    // Contexts.
    frozen: bool,
    nbins: u64,
    warm_t: Vec<i64>,
    warm_v: Vec<f64>,
    edges: Vec<f64>,
    wmin: f64,
    wmax: f64,
    hist: Vec<u8>,
    table: Vec<u8>,
    lik_ctx: Likelihood,
    cnt_ctx: Vec<u16>,
    cnt_joint: Vec<u16>,
    lik_ppm: Likelihood,
    // Level deviation.
    level: f64,
    lik_level: Likelihood,
    // k-NN over lagged windows (f32 to halve the state).
    recent: Vec<f32>,
    store: Vec<f32>,
    store_len: usize,
    store_pos: usize,
    lik_knn: Likelihood,
    lik_final: Likelihood,
    // Output.
    cooldown: u32,
    last_alert: u64,
    streak: u32,
}

fn mix(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

impl Detector {
    pub fn new(p: Params, range: Option<(f64, f64)>) -> Self {
        let (fixed_range, lo, hi) = match range {
            Some((a, b)) if b > a && a.is_finite() && b.is_finite() => (true, a, b),
            _ => (false, f64::INFINITY, f64::NEG_INFINITY),
        };
        let knn_on = p.components & C_KNN != 0;
        Detector {
            p,
            fixed_range,
            lo,
            hi,
            n: 0,
            frozen: fixed_range,
            nbins: 0,
            warm_t: Vec::new(),
            warm_v: Vec::new(),
            edges: Vec::new(),
            wmin: 0.0,
            wmax: 0.0,
            hist: vec![0; p.ctx_len as usize + 1],
            table: if p.components & (C_CTX | C_CTX_DIRECT) != 0 {
                vec![0; 1 << TABLE_BITS]
            } else {
                Vec::new()
            },
            lik_ctx: Likelihood::new(&p),
            cnt_ctx: if p.components & C_PPM != 0 {
                vec![0; 1 << PPM_BITS]
            } else {
                Vec::new()
            },
            cnt_joint: if p.components & C_PPM != 0 {
                vec![0; 1 << PPM_BITS]
            } else {
                Vec::new()
            },
            lik_ppm: Likelihood::new(&p),
            level: 0.0,
            lik_level: Likelihood::new(&p),
            recent: if knn_on {
                vec![0.0; p.knn_dim as usize]
            } else {
                Vec::new()
            },
            store: if knn_on {
                vec![0.0; (p.knn_dim * p.knn_store) as usize]
            } else {
                Vec::new()
            },
            store_len: 0,
            store_pos: 0,
            lik_knn: Likelihood::new(&p),
            lik_final: Likelihood::new(&Params {
                short: 1,
                tail: p.combine,
                ..p
            }),
            cooldown: 0,
            last_alert: 0,
            streak: 0,
        }
    }

    /// Bytes of state held (heap + inline), for the budget.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.hist.capacity()
            + self.table.capacity()
            + 8 * (self.warm_t.capacity() + self.warm_v.capacity() + self.edges.capacity())
            + 2 * (self.cnt_ctx.capacity() + self.cnt_joint.capacity())
            + 4 * (self.recent.capacity() + self.store.capacity())
            + 8 * (self.lik_ctx.ring.capacity()
                + self.lik_level.ring.capacity()
                + self.lik_knn.ring.capacity()
                + self.lik_ppm.ring.capacity()
                + self.lik_ctx.hist.capacity()
                + self.lik_level.hist.capacity()
                + self.lik_knn.hist.capacity()
                + self.lik_ppm.hist.capacity()
                + self.lik_final.hist.capacity()
                + self.lik_final.ring.capacity())
    }

    pub fn observe(&mut self, ts_unix_seconds: i64, value: f64) -> f64 {
        let p = self.p;
        let value = if value.is_finite() {
            value
        } else {
            self.level_value()
        };
        if !self.frozen {
            self.lo = self.lo.min(value);
            self.hi = self.hi.max(value);
            let at = if p.freeze > 0 { p.freeze } else { p.warmup };
            if self.n + 1 >= at as u64 {
                // Freeze the learned range, widened by `pad` of its span.
                let span = (self.hi - self.lo).max(1e-9 * self.hi.abs().max(1.0));
                self.lo -= p.pad * span;
                self.hi += p.pad * span;
                self.frozen = true;
            }
        }
        let span = (self.hi - self.lo).max(1e-12);
        let u = ((value - self.lo) / span).clamp(0.0, 1.0);
        self.n += 1;

        let mut score: f64 = 0.0;
        let mut surprise_sum = 0.0;

        if p.components & (C_CTX | C_CTX_DIRECT | C_PPM) != 0 && p.qbins == 0 {
            // Bins: B across the range, B overflow bins each side.
            let bf = p.bins as f64;
            let b = ((value - self.lo) / span * bf + bf)
                .floor()
                .clamp(0.0, 3.0 * bf - 1.0) as u8;
            self.push_bin(b);
        }
        let l = self.hist.len();
        let depth = (self.n as usize).min(l);

        // Context novelty: current bin plus 0..ctx_len previous bins.
        if p.components & (C_CTX | C_CTX_DIRECT) != 0 {
            let mut h = 0x1234_5678u64;
            let mut new = 0u32;
            let mask = (1usize << TABLE_BITS) - 1;
            for j in 0..depth {
                h = mix(h, self.hist[j] as u64 + 1 + ((j as u64) << 8));
                let slot = (h as usize) & mask;
                if self.table[slot] == 0 {
                    new += 1;
                }
                self.table[slot] = self.table[slot].saturating_add(1);
            }
            let raw = new as f64 / l as f64;
            if p.components & C_CTX != 0 {
                let s = self.lik_ctx.observe(raw, &p);
                surprise_sum += s;
                score = score.max(0.5 * s / p.decades);
            }
            if p.components & C_CTX_DIRECT != 0 {
                score = score.max(raw);
            }
        }

        if p.components & C_PPM != 0 && p.qbins == 0 && depth >= 1 {
            let raw = self.ppm_raw(ts_unix_seconds);
            let s = self.lik_ppm.observe(raw, &p);
            surprise_sum += s;
            score = score.max(0.5 * s / p.decades);
        }
        if p.components & C_PPM != 0 && p.qbins == 1 {
            if self.edges.is_empty() {
                self.warm_t.push(ts_unix_seconds);
                self.warm_v.push(value);
                if self.warm_v.len() >= p.warmup.max(2) as usize {
                    self.set_edges();
                    // Replay the warm-up through the model with these bins.
                    let (wt, wv) = (
                        std::mem::take(&mut self.warm_t),
                        std::mem::take(&mut self.warm_v),
                    );
                    for (t, v) in wt.iter().zip(&wv) {
                        let b = self.qbin(*v);
                        self.push_bin(b);
                        let raw = self.ppm_raw(*t);
                        self.lik_ppm.observe(raw, &p);
                    }
                }
            } else {
                let b = self.qbin(value);
                self.push_bin(b);
                let raw = self.ppm_raw(ts_unix_seconds);
                let s = self.lik_ppm.observe(raw, &p);
                surprise_sum += s;
                score = score.max(0.5 * s / p.decades);
            }
        }

        if p.components & C_LEVEL != 0 {
            let raw = if self.n == 1 {
                0.0
            } else {
                (u - self.level).abs()
            };
            self.level = if self.n == 1 {
                u
            } else {
                self.level + p.level_alpha * (u - self.level)
            };
            let s = self.lik_level.observe(raw, &p);
            surprise_sum += s;
            score = score.max(0.5 * s / p.decades);
        }

        if p.components & C_KNN != 0 {
            let d = self.recent.len();
            self.recent.rotate_right(1);
            self.recent[0] = u as f32;
            if self.n as usize >= d {
                // Windows stored with a lag of d points so neighbours never
                // overlap the current window.
                let mut best = [f32::INFINITY; 3];
                let cap = p.knn_store as usize;
                // Skip the d - 1 newest windows: they overlap this one.
                for age in d..=self.store_len {
                    let w = (self.store_pos + cap - age) % cap;
                    let v = &self.store[w * d..(w + 1) * d];
                    let mut s = 0.0f32;
                    for i in 0..d {
                        let e = v[i] - self.recent[i];
                        s += e * e;
                    }
                    if s < best[2] {
                        best[2] = s;
                        if best[2] < best[1] {
                            best.swap(1, 2);
                            if best[1] < best[0] {
                                best.swap(0, 1);
                            }
                        }
                    }
                }
                let raw = if self.store_len >= d + 3 {
                    ((best[0] + best[1] + best[2]) as f64 / (3.0 * d as f64)).sqrt()
                } else {
                    0.0
                };
                let s = self.lik_knn.observe(raw, &p);
                surprise_sum += s;
                score = score.max(0.5 * s / p.decades);
                // Store this window (every point; ring of knn_store).
                let at = self.store_pos;
                self.store[at * d..(at + 1) * d].copy_from_slice(&self.recent);
                self.store_pos = (at + 1) % cap;
                self.store_len = (self.store_len + 1).min(cap);
            }
        }

        if p.combine == 1 {
            // Sum of the components' surprises, itself calibrated by an
            // empirical tail over its own history (short window 1).
            let fp = Params {
                short: 1,
                tail: 1,
                ..p
            };
            let s = self.lik_final.observe(surprise_sum, &fp);
            score = 0.5 * s / p.decades;
        }
        let mut out = score.clamp(0.0, 1.0);
        if self.n <= p.warmup as u64 {
            out = 0.0;
        } else if self.cooldown > 0 {
            if !(p.backoff & 2 != 0 && self.cooldown == 1 && out >= 0.5) {
                self.cooldown -= 1;
            }
            out = 0.0;
        } else if out >= 0.5 {
            if p.backoff & 1 != 0 {
                if self.n - self.last_alert < 4 * p.suppress as u64 {
                    self.streak = (self.streak + 1).min(5);
                } else {
                    self.streak = 0;
                }
                self.last_alert = self.n;
            }
            self.cooldown = p.suppress << self.streak;
            if p.binary == 1 {
                out = 1.0;
            }
        } else {
            // Below the alert point nothing is reported: the server alerts at
            // 0.5, and sub-alert values carry no suppression (see README).
            out = 0.0;
        }
        out
    }

    fn push_bin(&mut self, b: u8) {
        self.hist.rotate_right(1);
        self.hist[0] = b;
        self.nbins += 1;
    }

    /// Quantile bins: B equal-frequency bins from the warm-up values, and
    /// 8 overflow bins each side, a quarter of the warm-up span wide.
    fn set_edges(&mut self) {
        let mut v = self.warm_v.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let b = self.p.bins as usize;
        let mut edges: Vec<f64> = (1..b).map(|i| v[i * v.len() / b]).collect();
        edges.dedup();
        self.wmin = v[0];
        self.wmax = v[v.len() - 1];
        self.edges = edges;
        if self.edges.is_empty() {
            self.edges.push(self.wmax);
        }
    }

    fn qbin(&self, x: f64) -> u8 {
        let b = self.p.bins as f64;
        let span =
            (self.wmax - self.wmin).max(1e-9 * self.wmax.abs().max(1.0)) * self.p.pad.max(0.01);
        if x > self.wmax {
            return (b + 8.0 + ((x - self.wmax) / span).ceil().min(8.0)) as u8;
        }
        if x < self.wmin {
            return (b + ((self.wmin - x) / span).ceil().min(8.0)) as u8;
        }
        self.edges.partition_point(|e| *e <= x) as u8
    }

    /// Variable-order Markov surprise of the newest bin: -log2 P(bin | the
    /// previous j bins), j = 0..ctx_len (plus time of day), counts with
    /// add-1/2 smoothing, averaged over the models, in units of log2(K).
    fn ppm_raw(&mut self, ts_unix_seconds: i64) -> f64 {
        let p = self.p;
        let depth = (self.nbins as usize).min(self.hist.len());
        let mask = (1usize << PPM_BITS) - 1;
        let k = if p.qbins == 1 {
            p.bins as f64 + 17.0
        } else {
            3.0 * p.bins as f64
        };
        let cur = self.hist[0] as u64;
        let mut h = 0x9876_5432u64;
        let mut bits = 0.0;
        let mut prob = 0.0;
        let mut models = 0usize;
        let mut model = |ctx: u64, cc: &mut Vec<u16>, cj: &mut Vec<u16>| {
            let cs = (mix(ctx, 0xABCD) as usize) & mask;
            let js = (mix(ctx, cur + 0x1_0000) as usize) & mask;
            let c = cc[cs] as f64;
            let n = (cj[js] as f64).min(c);
            let q = (n + 0.5) / (c + 0.5 * k);
            bits += -q.log2();
            prob += q;
            models += 1;
            cc[cs] = cc[cs].saturating_add(1);
            cj[js] = cj[js].saturating_add(1);
        };
        for j in 0..depth {
            if j > 0 {
                h = mix(h, self.hist[j] as u64 + 1 + ((j as u64) << 8));
            }
            model(h, &mut self.cnt_ctx, &mut self.cnt_joint);
        }
        if p.tod > 0 {
            let sec = ts_unix_seconds.rem_euclid(86_400) as u64;
            let bucket = sec * p.tod as u64 / 86_400;
            model(
                mix(0x70D, bucket + 7),
                &mut self.cnt_ctx,
                &mut self.cnt_joint,
            );
        }
        let m = models as f64;
        if p.mix == 1 {
            -(prob / m).log2() / k.log2()
        } else {
            bits / (m * k.log2())
        }
    }

    fn level_value(&self) -> f64 {
        if self.hi >= self.lo {
            self.lo + self.level * (self.hi - self.lo)
        } else {
            0.0
        }
    }
}

// ------------------------------------------------------------ persistence
// A dependency-free round trip of the whole state as u64 words (f64 by
// bits), so a restarted server continues identically. In the project the
// same plain fields can derive serde instead.

struct W(Vec<u64>);
impl W {
    fn f(&mut self, x: f64) {
        self.0.push(x.to_bits());
    }
    fn u(&mut self, x: u64) {
        self.0.push(x);
    }
    fn vf(&mut self, v: &[f64]) {
        self.u(v.len() as u64);
        v.iter().for_each(|x| self.f(*x));
    }
    fn v32(&mut self, v: &[f32]) {
        self.u(v.len() as u64);
        v.iter().for_each(|x| self.u(x.to_bits() as u64));
    }
    fn v64(&mut self, v: &[i64]) {
        self.u(v.len() as u64);
        v.iter().for_each(|x| self.u(*x as u64));
    }
    fn v16(&mut self, v: &[u16]) {
        self.u(v.len() as u64);
        v.iter().for_each(|x| self.u(*x as u64));
    }
    fn v8(&mut self, v: &[u8]) {
        self.u(v.len() as u64);
        v.iter().for_each(|x| self.u(*x as u64));
    }
    fn lik(&mut self, l: &Likelihood) {
        self.u(l.n);
        self.f(l.mean);
        self.f(l.var);
        self.vf(&l.ring);
        self.u(l.pos as u64);
        self.f(l.sum);
        self.vf(&l.hist);
        self.f(l.total);
    }
}

struct R<'a>(&'a [u64], usize);
impl R<'_> {
    fn u(&mut self) -> Option<u64> {
        let x = *self.0.get(self.1)?;
        self.1 += 1;
        Some(x)
    }
    fn f(&mut self) -> Option<f64> {
        self.u().map(f64::from_bits)
    }
    fn vf(&mut self) -> Option<Vec<f64>> {
        let n = self.u()? as usize;
        (0..n).map(|_| self.f()).collect()
    }
    fn v32(&mut self) -> Option<Vec<f32>> {
        let n = self.u()? as usize;
        (0..n)
            .map(|_| self.u().map(|x| f32::from_bits(x as u32)))
            .collect()
    }
    fn v64(&mut self) -> Option<Vec<i64>> {
        let n = self.u()? as usize;
        (0..n).map(|_| self.u().map(|x| x as i64)).collect()
    }
    fn v16(&mut self) -> Option<Vec<u16>> {
        let n = self.u()? as usize;
        (0..n).map(|_| self.u().map(|x| x as u16)).collect()
    }
    fn v8(&mut self) -> Option<Vec<u8>> {
        let n = self.u()? as usize;
        (0..n).map(|_| self.u().map(|x| x as u8)).collect()
    }
    fn lik(&mut self) -> Option<Likelihood> {
        Some(Likelihood {
            n: self.u()?,
            mean: self.f()?,
            var: self.f()?,
            ring: self.vf()?,
            pos: self.u()? as usize,
            sum: self.f()?,
            hist: self.vf()?,
            total: self.f()?,
        })
    }
}

impl Detector {
    pub fn to_words(&self) -> Vec<u64> {
        let mut w = W(Vec::new());
        let p = &self.p;
        for x in [
            p.warmup,
            p.components,
            p.bins,
            p.ctx_len,
            p.long,
            p.short,
            p.knn_dim,
            p.knn_store,
            p.suppress,
            p.mix,
            p.tod,
            p.tail,
            p.combine,
            p.qbins,
            p.binary,
            p.backoff,
            p.freeze,
        ] {
            w.u(x as u64);
        }
        for x in [p.decades, p.sigma_floor, p.level_alpha, p.pad] {
            w.f(x);
        }
        w.u(self.fixed_range as u64);
        w.f(self.lo);
        w.f(self.hi);
        w.u(self.n);
        w.u(self.frozen as u64);
        w.u(self.nbins);
        w.v64(&self.warm_t);
        w.vf(&self.warm_v);
        w.vf(&self.edges);
        w.f(self.wmin);
        w.f(self.wmax);
        w.v8(&self.hist);
        w.v8(&self.table);
        w.v16(&self.cnt_ctx);
        w.v16(&self.cnt_joint);
        w.lik(&self.lik_ppm);
        w.lik(&self.lik_ctx);
        w.f(self.level);
        w.lik(&self.lik_level);
        w.v32(&self.recent);
        w.v32(&self.store);
        w.u(self.store_len as u64);
        w.u(self.store_pos as u64);
        w.lik(&self.lik_knn);
        w.lik(&self.lik_final);
        w.u(self.cooldown as u64);
        w.u(self.last_alert);
        w.u(self.streak as u64);
        w.0
    }

    pub fn from_words(words: &[u64]) -> Option<Self> {
        let mut r = R(words, 0);
        let mut u32s = [0u32; 17];
        for x in u32s.iter_mut() {
            *x = r.u()? as u32;
        }
        let [
            warmup,
            components,
            bins,
            ctx_len,
            long,
            short,
            knn_dim,
            knn_store,
            suppress,
            mix,
            tod,
            tail,
            combine,
            qbins,
            binary,
            backoff,
            freeze,
        ] = u32s;
        let p = Params {
            warmup,
            components,
            bins,
            ctx_len,
            long,
            short,
            knn_dim,
            knn_store,
            suppress,
            mix,
            tod,
            tail,
            combine,
            qbins,
            binary,
            backoff,
            freeze,
            decades: r.f()?,
            sigma_floor: r.f()?,
            level_alpha: r.f()?,
            pad: r.f()?,
        };
        let d = Detector {
            p,
            fixed_range: r.u()? != 0,
            lo: r.f()?,
            hi: r.f()?,
            n: r.u()?,
            frozen: r.u()? != 0,
            nbins: r.u()?,
            warm_t: r.v64()?,
            warm_v: r.vf()?,
            edges: r.vf()?,
            wmin: r.f()?,
            wmax: r.f()?,
            hist: r.v8()?,
            table: r.v8()?,
            cnt_ctx: r.v16()?,
            cnt_joint: r.v16()?,
            lik_ppm: r.lik()?,
            lik_ctx: r.lik()?,
            level: r.f()?,
            lik_level: r.lik()?,
            recent: r.v32()?,
            store: r.v32()?,
            store_len: r.u()? as usize,
            store_pos: r.u()? as usize,
            lik_knn: r.lik()?,
            lik_final: r.lik()?,
            cooldown: r.u()? as u32,
            last_alert: r.u()?,
            streak: r.u()? as u32,
        };
        (r.1 == words.len()).then_some(d)
    }
}
