//! Escalation policies per severity: levels `{after_seconds, notify}` judged
//! against how long an alert has gone unacknowledged.
//!
//! Design choice: escalation is computed, not scheduled. `escalations(at)`
//! derives who must be notified from the alert's start time and the policy,
//! so it needs no timers, survives restarts for free and can be asked about
//! any moment (the `at` argument) for replay and tests.

use serde::{Deserialize, Serialize};

/// One escalation level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Unacknowledged seconds after which this level applies.
    pub after_seconds: f64,
    /// Who to notify (people, rotations, channels).
    pub notify: Vec<String>,
}

/// A policy: levels in increasing `after_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Levels, sorted by `after_seconds`.
    pub levels: Vec<Level>,
}

impl Policy {
    /// Builds a policy; levels are sorted by time.
    pub fn new(mut levels: Vec<Level>) -> Policy {
        levels.sort_by(|a, b| a.after_seconds.total_cmp(&b.after_seconds));
        Policy { levels }
    }

    /// The highest level reached after `unacked` seconds: (index, level), or
    /// None before the first level.
    pub fn level_at(&self, unacked: f64) -> Option<(usize, &Level)> {
        self.levels
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| unacked >= l.after_seconds)
    }

    /// Seconds until the next level, if there is one.
    pub fn next_in(&self, unacked: f64) -> Option<f64> {
        self.levels
            .iter()
            .find(|l| l.after_seconds > unacked)
            .map(|l| l.after_seconds - unacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_unacknowledged_time() {
        let p = Policy::new(vec![
            Level {
                after_seconds: 900.0,
                notify: vec!["lead".into()],
            },
            Level {
                after_seconds: 0.0,
                notify: vec!["oncall".into()],
            },
        ]);
        assert_eq!(p.level_at(10.0).unwrap().0, 0);
        assert_eq!(p.level_at(899.0).unwrap().1.notify, ["oncall"]);
        assert_eq!(p.level_at(900.0).unwrap().1.notify, ["lead"]);
        assert_eq!(p.next_in(100.0), Some(800.0));
        assert_eq!(p.next_in(1000.0), None);
        assert!(
            Policy::new(vec![Level {
                after_seconds: 60.0,
                notify: vec![]
            }])
            .level_at(1.0)
            .is_none()
        );
    }
}
