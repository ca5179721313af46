//! LAB (not shipped): novelty of a window's shape against a fuzzy-ART memory
//! of the shapes seen so far, calibrated by its rarity on the series.
#![allow(dead_code)]

#[derive(Clone, Copy, Debug)]
pub struct P {
    pub w: usize,
    pub d: usize,
    pub rho: f64,
    pub k: usize,
    pub beta: f64,
    pub decades: f64,
    pub warmup: u32,
    pub suppress: u32,
    pub pad: f64,
    pub short: usize,
    pub long: f64,
    /// 0: pure distance outside the box; 1: 1 - match (box size counts)
    pub nov: u32,
    /// normalise each window by its own mean (shape only) + level feature
    pub demean: bool,
}

impl Default for P {
    fn default() -> Self {
        P {
            w: 16,
            d: 8,
            rho: 0.9,
            k: 128,
            beta: 1.0,
            decades: 2.0,
            warmup: 150,
            suppress: 30,
            pad: 0.2,
            short: 1,
            long: 2000.0,
            nov: 0,
            demean: false,
        }
    }
}

const TB: usize = 256;

pub struct Shape {
    p: P,
    fixed: bool,
    frozen: bool,
    lo: f64,
    hi: f64,
    n: u64,
    raw_warm: Vec<f64>,
    buf: std::collections::VecDeque<f64>,
    cats: Vec<Vec<f64>>,
    last_use: Vec<u64>,
    ring: std::collections::VecDeque<f64>,
    tail: Vec<f64>,
    total: f64,
    cooldown: u32,
    pub last_raw: f64,
    pub last_score: f64,
    pub last_r: f64,
}

/// Decayed empirical tail of a nonnegative statistic: -log10 of the
/// fraction of past values at least as high.
pub struct Tail {
    h: Vec<f64>,
    total: f64,
    keep: f64,
}

impl Tail {
    pub fn new(long: f64) -> Self {
        Tail {
            h: vec![0.0; TB],
            total: 0.0,
            keep: 1.0 - 1.0 / long,
        }
    }
    pub fn rarity(&mut self, x: f64) -> f64 {
        let x = x.max(0.0);
        let bin = ((x / (1.0 + x)) * TB as f64).min(TB as f64 - 1.0) as usize;
        let above: f64 = self.h[bin..].iter().sum();
        let out = if self.total > 0.0 {
            -((above + 0.5) / (self.total + 1.0)).log10()
        } else {
            0.0
        };
        for c in self.h.iter_mut() {
            *c *= self.keep;
        }
        self.total = self.total * self.keep + 1.0;
        self.h[bin] += 1.0;
        out
    }
}

impl Shape {
    pub fn new(p: P, range: Option<(f64, f64)>) -> Self {
        let (fixed, lo, hi) = match range {
            Some((a, b)) if b > a => (true, a, b),
            _ => (false, f64::INFINITY, f64::NEG_INFINITY),
        };
        Shape {
            p,
            fixed,
            frozen: fixed,
            lo,
            hi,
            n: 0,
            raw_warm: Vec::new(),
            buf: Default::default(),
            cats: Vec::new(),
            last_use: Vec::new(),
            ring: Default::default(),
            tail: vec![0.0; TB],
            total: 0.0,
            cooldown: 0,
            last_raw: 0.0,
            last_score: 0.0,
            last_r: 0.0,
        }
    }

    fn norm(&self, v: f64) -> f64 {
        ((v - self.lo) / (self.hi - self.lo).max(1e-12)).clamp(0.0, 1.0)
    }

    fn features(&self) -> Option<Vec<f64>> {
        let p = self.p;
        if self.buf.len() < p.w {
            return None;
        }
        let seg = p.w / p.d;
        let mut x: Vec<f64> = (0..p.d)
            .map(|s| (0..seg).map(|i| self.buf[s * seg + i]).sum::<f64>() / seg as f64)
            .collect();
        if p.demean {
            let m = x.iter().sum::<f64>() / x.len() as f64;
            for v in x.iter_mut() {
                *v = (0.5 + (*v - m)).clamp(0.0, 1.0);
            }
            x.push(m);
        }
        Some(x)
    }

    /// Learn x; returns the novelty.
    fn art(&mut self, x: &[f64]) -> f64 {
        let d = x.len() as f64;
        let p = self.p;
        let mut best = (f64::NEG_INFINITY, usize::MAX, 0.0);
        for (j, w) in self.cats.iter().enumerate() {
            let half = x.len();
            let mut inter = 0.0;
            let mut size = 0.0;
            for i in 0..half {
                inter += x[i].min(w[i]) + (1.0 - x[i]).min(w[half + i]);
                size += w[i] + w[half + i];
            }
            let m = inter / d;
            let score = if p.nov == 0 { m - size / d } else { m };
            // winner by smallest novelty
            if score > best.0 {
                best = (score, j, m);
            }
        }
        let nov = if best.1 == usize::MAX {
            1.0
        } else if p.nov == 0 {
            -best.0
        } else {
            1.0 - best.0
        };
        if best.1 != usize::MAX && best.2 >= p.rho {
            let j = best.1;
            let half = x.len();
            let w = &mut self.cats[j];
            for i in 0..half {
                let a = x[i].min(w[i]);
                let b = (1.0 - x[i]).min(w[half + i]);
                w[i] = p.beta * a + (1.0 - p.beta) * w[i];
                w[half + i] = p.beta * b + (1.0 - p.beta) * w[half + i];
            }
            self.last_use[j] = self.n;
        } else {
            let mut w = x.to_vec();
            w.extend(x.iter().map(|v| 1.0 - v));
            if self.cats.len() < p.k {
                self.cats.push(w);
                self.last_use.push(self.n);
            } else {
                let j = (0..self.cats.len())
                    .min_by_key(|&j| self.last_use[j])
                    .unwrap();
                self.cats[j] = w;
                self.last_use[j] = self.n;
            }
        }
        nov.max(0.0)
    }

    fn rarity(&mut self, raw: f64) -> f64 {
        self.ring.push_back(raw);
        if self.ring.len() > self.p.short {
            self.ring.pop_front();
        }
        let m = self.ring.iter().sum::<f64>() / self.ring.len() as f64;
        let bin = ((m.clamp(0.0, 1.0).sqrt()) * TB as f64).min(TB as f64 - 1.0) as usize;
        let above: f64 = self.tail[bin..].iter().sum();
        let out = if self.total > 0.0 {
            -((above + 0.5) / (self.total + 1.0)).log10()
        } else {
            0.0
        };
        let keep = 1.0 - 1.0 / self.p.long;
        for c in self.tail.iter_mut() {
            *c *= keep;
        }
        self.total = self.total * keep + 1.0;
        self.tail[bin] += 1.0;
        out
    }

    fn push(&mut self, v: f64) -> Option<f64> {
        let x = self.norm(v);
        self.buf.push_back(x);
        if self.buf.len() > self.p.w {
            self.buf.pop_front();
        }
        let f = self.features()?;
        Some(self.art(&f))
    }

    pub fn observe(&mut self, _ts: i64, v: f64) -> f64 {
        if !v.is_finite() {
            return 0.0;
        }
        let p = self.p;
        self.n += 1;
        if !self.frozen {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
            self.raw_warm.push(v);
            if self.n >= p.warmup as u64 {
                let span = (self.hi - self.lo).max(1e-9 * self.hi.abs().max(1.0));
                self.lo -= p.pad * span;
                self.hi += p.pad * span;
                self.frozen = true;
                for r in std::mem::take(&mut self.raw_warm) {
                    if let Some(nov) = self.push(r) {
                        self.rarity(nov);
                    }
                }
            }
            return 0.0;
        }
        let raw = self.push(v).unwrap_or(0.0);
        self.last_raw = raw;
        let r = self.rarity(raw);
        self.last_r = r;
        let score = (0.5 * r / p.decades).clamp(0.0, 1.0);
        self.last_score = score;
        if self.n <= p.warmup as u64 {
            0.0
        } else if self.cooldown > 0 {
            self.cooldown -= 1;
            0.0
        } else if score >= 0.5 {
            self.cooldown = p.suppress;
            score
        } else {
            0.0
        }
    }
}
