//! The `auto` learned threshold's detector: how surprising a point is in its
//! recent context, calibrated by how rare that surprise is on its own series.
//! Self-contained (std only, no allocation after `new` except a restore);
//! [`super::threshold`] wraps it as [`super::threshold::Method::Auto`] and
//! `docs/detection.md` tells how its constants were chosen (leave-one-
//! category-out cross-validation on the NAB development set).
//!
//! How it works, in plain words:
//! 1. Quantise. The value is put in one of `bins` equal-width bins over the
//!    series' range: the range given up front (NAB's inputMin/inputMax) or,
//!    without it, the range seen during the warm-up widened by `pad` of its
//!    span on each side and then frozen. Values outside the range fall into
//!    `bins` overflow bins on each side (3 x bins symbols in all).
//! 2. Predict. A variable-order Markov model counts, in hashed u16 tables,
//!    how often each bin followed each recent context: the last 0, 1, ..,
//!    `ctx_len` bins, plus the time of day (`tod_buckets` buckets of the day).
//!    The raw surprise of a point is the average over these models of
//!    -log2 P(bin | context) (add-1/2 smoothing), in units of log2 of the
//!    alphabet size. Well-learned patterns, including daily ones, cost little;
//!    a value never seen in its context costs a lot. (The idea of predicting
//!    from discretised contexts follows the contextual-anomaly and HTM
//!    detectors' descriptions; the code is written from scratch.)
//! 3. Calibrate. The mean surprise of the last `short` points is compared
//!    with its own history: an exponentially decayed histogram (horizon
//!    `long` points) gives the fraction f of past short-window means at least
//!    as high. The score is 0.5 * -log10(f) / `decades`, so 0.5 means "this
//!    much surprise happens 10^-decades of the time on this series": the same
//!    rarity on every series, whatever its scale or noise (the anomaly-
//!    likelihood idea, with an empirical tail instead of a Gaussian one).
//! 4. Report. No output during the first `warmup` points. A score >= 0.5 is
//!    an alert; after it the output is held at 0 for `suppress` points (only
//!    the first detection of an anomaly is useful; repeats are noise). Below
//!    the alert point the output is 0. With `binary` the alert is reported as
//!    1.0 instead of the calibrated score.
//!
//! State: plain numbers and Vecs (about 19 KB with the defaults); `to_words`
//! / `from_words` round-trip it bit for bit, so a restarted server continues
//! identically.

/// Constants of the detector. `bins`, `ctx_len`, `tod_buckets`, `short` and
/// `long` are the structure; `warmup`, `decades`, `suppress` and `pad` are
/// fitted on all four NAB development categories at the fixed alert point
/// 0.5 without a range (the procedure whose held-out performance
/// `tools/nab-score --cv` measures; see docs/detection.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Points with no output at the start of a series (learning only).
    pub warmup: u32,
    /// Equal-width bins across the range.
    pub bins: u32,
    /// Longest context, in previous bins.
    pub ctx_len: u32,
    /// Time-of-day buckets as one more context (0 = off).
    pub tod_buckets: u32,
    /// Points in the short window whose mean surprise is tested.
    pub short: u32,
    /// Horizon (points) of the surprise history.
    pub long: u32,
    /// Rarity 10^-decades maps to the alert point 0.5.
    pub decades: f64,
    /// Points after an alert during which the output stays 0.
    pub suppress: u32,
    /// Learned range only: widening of the warm-up range on each side.
    pub pad: f64,
    /// Report an alert as 1.0 rather than the calibrated score.
    pub binary: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            warmup: 150,
            bins: 10,
            ctx_len: 3,
            tod_buckets: 48,
            short: 6,
            long: 2000,
            decades: 1.8,
            suppress: 30,
            pad: 0.2,
            binary: false,
        }
    }
}

const TABLE_BITS: u32 = 12; // two tables of 4096 u16 counters
/// Longest context a detector runs with (`Params::ctx_len` is clamped to it).
const MAX_CTX: u32 = 16;
const TAIL_BINS: usize = 256;

/// Detector state for one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Detector {
    p: Params,
    /// Range given up front (never changes) or learned (frozen after warm-up).
    fixed_range: bool,
    frozen: bool,
    lo: f64,
    hi: f64,
    /// Points seen.
    n: u64,
    /// Recent bins, newest first (ctx_len + 1).
    recent: Vec<u8>,
    /// Context counts and (context, bin) counts, hashed.
    cnt_ctx: Vec<u16>,
    cnt_joint: Vec<u16>,
    /// Short window of raw surprise (ring) and its sum.
    ring: Vec<f64>,
    ring_pos: usize,
    ring_sum: f64,
    /// Decayed histogram of past short-window means as a Fenwick tree over
    /// the bins in reverse (so a prefix is a tail), its weights and total
    /// multiplied by `scale` (see [`Detector::rarity`]).
    tail: Vec<f64>,
    tail_total: f64,
    scale: f64,
    /// Points left in the post-alert hold.
    cooldown: u32,
}

fn mix(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

impl Detector {
    /// `range`: the series' (min, max) if known in advance.
    pub fn new(p: Params, range: Option<(f64, f64)>) -> Self {
        let p = Params {
            bins: p.bins.clamp(2, 80),
            ctx_len: p.ctx_len.min(MAX_CTX),
            short: p.short.max(1),
            long: p.long.max(2),
            decades: if p.decades > 0.0 { p.decades } else { 2.0 },
            ..p
        };
        let (fixed_range, lo, hi) = match range {
            Some((a, b)) if b > a && a.is_finite() && b.is_finite() => (true, a, b),
            _ => (false, f64::INFINITY, f64::NEG_INFINITY),
        };
        Detector {
            p,
            fixed_range,
            frozen: fixed_range,
            lo,
            hi,
            n: 0,
            recent: vec![0; p.ctx_len as usize + 1],
            cnt_ctx: vec![0; 1 << TABLE_BITS],
            cnt_joint: vec![0; 1 << TABLE_BITS],
            ring: vec![0.0; p.short as usize],
            ring_pos: 0,
            ring_sum: 0.0,
            tail: vec![0.0; TAIL_BINS],
            tail_total: 0.0,
            scale: 1.0,
            cooldown: 0,
        }
    }

    /// The constants it runs with (after clamping).
    pub fn params(&self) -> &Params {
        &self.p
    }

    /// Points seen (non-finite values are not counted).
    pub fn seen(&self) -> u64 {
        self.n
    }

    /// Bytes of state (inline + heap).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.recent.capacity()
            + 2 * (self.cnt_ctx.capacity() + self.cnt_joint.capacity())
            + 8 * (self.ring.capacity() + self.tail.capacity())
    }

    /// Feed one point; returns the anomaly score in [0, 1] (alert at >= 0.5).
    /// Non-finite values are ignored (score 0, state unchanged).
    pub fn observe(&mut self, ts_unix_seconds: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let p = self.p;
        if !self.frozen {
            self.lo = self.lo.min(value);
            self.hi = self.hi.max(value);
            if self.n + 1 >= p.warmup as u64 {
                let span = (self.hi - self.lo).max(1e-9 * self.hi.abs().max(1.0));
                self.lo -= p.pad * span;
                self.hi += p.pad * span;
                self.frozen = true;
            }
        }
        self.n += 1;

        // 1. Quantise.
        let span = (self.hi - self.lo).max(1e-12);
        let bf = p.bins as f64;
        let bin = ((value - self.lo) / span * bf + bf)
            .floor()
            .clamp(0.0, 3.0 * bf - 1.0) as u8;
        self.recent.rotate_right(1);
        self.recent[0] = bin;

        // 2. Predict: surprise of this bin under each context model.
        let raw = self.surprise(ts_unix_seconds);

        // 3. Calibrate: rarity of the short-window mean surprise.
        let rarity = self.rarity(raw);
        let score = (0.5 * rarity / p.decades).clamp(0.0, 1.0);

        // 4. Report.
        if self.n <= p.warmup as u64 {
            0.0
        } else if self.cooldown > 0 {
            self.cooldown -= 1;
            0.0
        } else if score >= 0.5 {
            self.cooldown = p.suppress;
            if p.binary { 1.0 } else { score }
        } else {
            0.0
        }
    }

    fn surprise(&mut self, ts: i64) -> f64 {
        let p = self.p;
        let depth = (self.n as usize).min(self.recent.len());
        let mask = (1usize << TABLE_BITS) - 1;
        let k = 3.0 * p.bins as f64;
        let cur = self.recent[0] as u64;
        // The contexts first: order j (0 ..= ctx_len) is the bins at
        // t-1 .. t-j, then the time of day.
        let mut slots = [(0usize, 0usize); MAX_CTX as usize + 2];
        let mut models = 0usize;
        let mut add = |ctx: u64| {
            let cs = (mix(ctx, 0xABCD) as usize) & mask;
            let js = (mix(ctx, cur + 0x1_0000) as usize) & mask;
            slots[models] = (cs, js);
            models += 1;
        };
        let mut h = 0x9876_5432u64;
        for j in 0..depth {
            if j > 0 {
                h = mix(h, self.recent[j] as u64 + 1 + ((j as u64) << 8));
            }
            add(h);
        }
        if p.tod_buckets > 0 {
            let sec = ts.rem_euclid(86_400) as u64;
            add(mix(0x70D, sec * p.tod_buckets as u64 / 86_400 + 7));
        }
        let slots = &slots[..models];
        let (cc, cj) = (&mut self.cnt_ctx, &mut self.cnt_joint);
        // Touch every counter before using any: a series' tables are rarely
        // in cache when a batch interleaves many series, and independent
        // loads miss in parallel where the update loop below would wait for
        // each in turn. (Reads only: the counts and the result are as if
        // this loop were absent.)
        for &(cs, js) in slots {
            std::hint::black_box((cc[cs], cj[js]));
        }
        let mut bits = 0.0;
        for &(cs, js) in slots {
            let c = cc[cs] as f64;
            let n = (cj[js] as f64).min(c);
            bits += -((n + 0.5) / (c + 0.5 * k)).log2();
            cc[cs] = cc[cs].saturating_add(1);
            cj[js] = cj[js].saturating_add(1);
        }
        bits / (models as f64 * k.log2())
    }

    /// -log10 of the decayed fraction of past short-window means at least as
    /// high as the current one (with +1/2 so it stays finite).
    fn rarity(&mut self, raw: f64) -> f64 {
        let k = self.ring.len();
        self.ring_sum += raw - self.ring[self.ring_pos];
        self.ring[self.ring_pos] = raw;
        self.ring_pos = (self.ring_pos + 1) % k;
        let filled = (self.n as usize).min(k);
        let m = (self.ring_sum / filled as f64).max(0.0);
        let bin = (((m / (1.0 + m)) * TAIL_BINS as f64) as usize).min(TAIL_BINS - 1);
        // Bins bin..TAIL_BINS are the first TAIL_BINS - bin of the tree.
        let mut above = 0.0;
        let mut i = TAIL_BINS - bin;
        while i > 0 {
            above += self.tail[i - 1];
            i &= i - 1;
        }
        // self.n counts this point: history holds n - 1 means.
        let out = if self.n >= 3 {
            -((above / self.scale + 0.5) / (self.tail_total / self.scale + 1.0)).log10()
        } else {
            0.0
        };
        // Decay by keep per point without touching every bin: the weights
        // are stored multiplied by `scale`, which grows by 1 / keep per
        // point, and a new mean adds `scale` (the histogram's value is
        // weight / scale); rescaled to 1 long before it could overflow.
        let keep = 1.0 - 1.0 / self.p.long as f64;
        self.scale /= keep;
        let mut i = TAIL_BINS - bin;
        while i <= TAIL_BINS {
            self.tail[i - 1] += self.scale;
            i += i & i.wrapping_neg();
        }
        self.tail_total += self.scale;
        if self.scale > 1e100 {
            let s = self.scale;
            self.tail.iter_mut().for_each(|c| *c /= s);
            self.tail_total /= s;
            self.scale = 1.0;
        }
        out
    }

    /// The whole state as u64 words (f64 by bits).
    pub fn to_words(&self) -> Vec<u64> {
        let p = &self.p;
        let mut w: Vec<u64> = vec![
            STATE_VERSION,
            p.warmup as u64,
            p.bins as u64,
            p.ctx_len as u64,
            p.tod_buckets as u64,
            p.short as u64,
            p.long as u64,
            p.decades.to_bits(),
            p.suppress as u64,
            p.pad.to_bits(),
            p.binary as u64,
            self.fixed_range as u64,
            self.frozen as u64,
            self.lo.to_bits(),
            self.hi.to_bits(),
            self.n,
            self.ring_pos as u64,
            self.ring_sum.to_bits(),
            self.tail_total.to_bits(),
            self.scale.to_bits(),
            self.cooldown as u64,
        ];
        w.push(self.recent.len() as u64);
        w.extend(self.recent.iter().map(|x| *x as u64));
        for v in [&self.cnt_ctx, &self.cnt_joint] {
            w.push(v.len() as u64);
            // Four u16 counters per word.
            w.extend(v.chunks(4).map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u64, |a, (i, x)| a | (*x as u64) << (16 * i))
            }));
        }
        for v in [&self.ring, &self.tail] {
            w.push(v.len() as u64);
            w.extend(v.iter().map(|x| x.to_bits()));
        }
        w
    }

    /// Restores `to_words`' output; None if it is not a valid state.
    pub fn from_words(words: &[u64]) -> Option<Self> {
        let mut it = words.iter().copied();
        let mut next = || it.next();
        if next()? != STATE_VERSION {
            return None;
        }
        let p = Params {
            warmup: next()? as u32,
            bins: next()? as u32,
            ctx_len: next()? as u32,
            tod_buckets: next()? as u32,
            short: next()? as u32,
            long: next()? as u32,
            decades: f64::from_bits(next()?),
            suppress: next()? as u32,
            pad: f64::from_bits(next()?),
            binary: next()? != 0,
        };
        let mut d = Detector::new(p, None);
        if d.p != p {
            return None;
        }
        d.fixed_range = next()? != 0;
        d.frozen = next()? != 0;
        d.lo = f64::from_bits(next()?);
        d.hi = f64::from_bits(next()?);
        d.n = next()?;
        d.ring_pos = next()? as usize;
        d.ring_sum = f64::from_bits(next()?);
        d.tail_total = f64::from_bits(next()?);
        d.scale = f64::from_bits(next()?);
        d.cooldown = next()? as u32;
        let len = next()? as usize;
        if len != d.recent.len() {
            return None;
        }
        for x in d.recent.iter_mut() {
            *x = next()? as u8;
        }
        for v in [&mut d.cnt_ctx, &mut d.cnt_joint] {
            if next()? as usize != v.len() {
                return None;
            }
            for c in v.chunks_mut(4) {
                let word = next()?;
                for (i, x) in c.iter_mut().enumerate() {
                    *x = (word >> (16 * i)) as u16;
                }
            }
        }
        for v in [&mut d.ring, &mut d.tail] {
            if next()? as usize != v.len() {
                return None;
            }
            for x in v.iter_mut() {
                *x = f64::from_bits(next()?);
            }
        }
        if next().is_some() || d.ring_pos >= d.ring.len() {
            return None;
        }
        Some(d)
    }
}

/// First word of [`Detector::to_words`]; bumped when the layout changes.
const STATE_VERSION: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<(i64, f64)> {
        // A daily wave with noise (deterministic LCG) and a level shift.
        let mut s = 12345u64;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
                let t = 1_400_000_000 + 300 * i as i64;
                let day = (t % 86_400) as f64 / 86_400.0;
                let shift = if i > 3000 && i < 3100 { 30.0 } else { 0.0 };
                (
                    t,
                    50.0 + 20.0 * (day * std::f64::consts::TAU).sin() + 3.0 * noise + shift,
                )
            })
            .collect()
    }

    #[test]
    fn restored_state_continues_identically() {
        let data = series(4000);
        for range in [None, Some((0.0, 120.0))] {
            for binary in [false, true] {
                let p = Params {
                    binary,
                    ..Params::default()
                };
                let mut a = Detector::new(p, range);
                let full: Vec<f64> = data.iter().map(|(t, v)| a.observe(*t, *v)).collect();
                for cut in [1, 299, 300, 2000, 3050] {
                    let mut b = Detector::new(p, range);
                    let mut got: Vec<f64> =
                        data[..cut].iter().map(|(t, v)| b.observe(*t, *v)).collect();
                    let words = b.to_words();
                    let mut c = Detector::from_words(&words).expect("restore");
                    assert_eq!(c, b);
                    got.extend(data[cut..].iter().map(|(t, v)| c.observe(*t, *v)));
                    assert_eq!(full, got);
                }
            }
        }
    }

    #[test]
    fn finds_the_level_shift_and_stays_quiet_otherwise() {
        let data = series(4000);
        let mut d = Detector::new(Params::default(), None);
        let alerts: Vec<usize> = data
            .iter()
            .enumerate()
            .filter_map(|(i, (t, v))| (d.observe(*t, *v) >= 0.5).then_some(i))
            .collect();
        assert!(
            alerts.iter().any(|&i| (3000..3020).contains(&i)),
            "{alerts:?}"
        );
        assert!(alerts.len() <= 6, "{alerts:?}");
    }

    #[test]
    fn state_is_small_and_bad_input_is_rejected() {
        let d = Detector::new(Params::default(), None);
        assert!(d.state_bytes() < 64 * 1024);
        assert!(Detector::from_words(&[]).is_none());
        let mut w = d.to_words();
        w.push(0);
        assert!(Detector::from_words(&w).is_none());
        let mut d = Detector::new(Params::default(), None);
        assert_eq!(d.observe(0, f64::NAN), 0.0);
        assert_eq!(
            d.to_words(),
            Detector::new(Params::default(), None).to_words()
        );
    }
}
