//! Deduplication: an alert's identity is its fingerprint (rule or detector +
//! metric + source + label set); a repeat within the window updates the
//! existing alert (count, last value, last seen) instead of creating another.
//!
//! Design choice: the fingerprint is a 64-bit hash computed once per series
//! (not per point) and mapped to the open alert's index, so a repeat costs a
//! single integer-keyed lookup (a 64-bit collision is ~2^-64 per pair).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Default dedup window (seconds).
pub const DEFAULT_WINDOW_SECONDS: f64 = 300.0;

/// Fingerprint of rule + metric + source + sorted labels.
pub fn fingerprint(rule_id: &str, metric: &str, source: &str, labels: &[(String, String)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rule_id.hash(&mut h);
    0xffu8.hash(&mut h);
    metric.hash(&mut h);
    0xffu8.hash(&mut h);
    source.hash(&mut h);
    for (k, v) in labels {
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

/// The open alert of each fingerprint.
#[derive(Debug, Default, Clone)]
pub struct DedupIndex {
    open: HashMap<u64, usize>,
}

impl DedupIndex {
    /// Registers `alert_index` as the open alert of its fingerprint.
    pub fn insert(&mut self, fp: u64, alert_index: usize) {
        self.open.insert(fp, alert_index);
    }

    /// Forgets a fingerprint's open alert (it resolved).
    pub fn remove(&mut self, fp: u64, alert_index: usize) {
        if self.open.get(&fp) == Some(&alert_index) {
            self.open.remove(&fp);
        }
    }

    /// The open alert of a fingerprint, if any.
    pub fn get(&self, fp: u64) -> Option<usize> {
        self.open.get(&fp).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_every_part() {
        let l = vec![("env".to_string(), "prod".to_string())];
        let base = fingerprint("r", "cpu", "web", &l);
        assert_eq!(base, fingerprint("r", "cpu", "web", &l));
        assert_ne!(base, fingerprint("r2", "cpu", "web", &l));
        assert_ne!(base, fingerprint("r", "mem", "web", &l));
        assert_ne!(base, fingerprint("r", "cpu", "db", &l));
        assert_ne!(base, fingerprint("r", "cpu", "web", &[]));
        assert_ne!(
            fingerprint("ab", "c", "", &[]),
            fingerprint("a", "bc", "", &[])
        );
    }
}
