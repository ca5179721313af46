//! Read use cases over the engine's state: which alerts a listing shows and
//! in what order, which escalations are due, and the statistics. The MCP
//! adapters (`server/alerting`) only parse arguments and shape answers.

use std::collections::BTreeMap;

use super::correlate::Group;
use super::engine::{Counters, Engine};
use super::model::{Alert, Severity, Status};

/// What `list_alerts` selects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// This status; `None`: the active ones (firing and acknowledged).
    pub status: Option<Status>,
    /// This severity only.
    pub severity: Option<Severity>,
    /// At least this priority.
    pub min_priority: Option<f64>,
    /// Members of this correlation group only.
    pub group_id: Option<String>,
}

impl AlertFilter {
    fn matches(&self, x: &Alert) -> bool {
        (match self.status {
            Some(s) => x.status == s,
            None => x.status.is_active(),
        }) && self.severity.is_none_or(|s| x.severity == s)
            && self.min_priority.is_none_or(|p| x.priority >= p)
            && self
                .group_id
                .as_ref()
                .is_none_or(|g| x.group_id.as_ref() == Some(g))
    }
}

/// An alert whose escalation policy has reached a level.
#[derive(Debug, Clone)]
pub struct Due<'a> {
    /// The unacknowledged firing alert.
    pub alert: &'a Alert,
    /// Seconds it has been unacknowledged.
    pub unacknowledged_seconds: f64,
    /// Level reached, from 1.
    pub level: usize,
    /// Who that level notifies.
    pub notify: Vec<String>,
    /// Everyone notified up to that level, first-notified first, once each.
    pub notified_so_far: Vec<String>,
    /// Seconds until the next level, when there is one.
    pub next_level_in_seconds: Option<f64>,
}

/// The engine's figures for `alert_stats`.
#[derive(Debug, Clone)]
pub struct Stats<'a> {
    /// Lifetime counters.
    pub counters: Counters,
    /// Share of repeats among alerts created plus repeats (0 when none).
    pub deduplication_rate: f64,
    /// Active alerts per severity, every severity listed.
    pub active_by_severity: BTreeMap<Severity, u64>,
    /// The 20 largest groups with an active member, largest first.
    pub groups: Vec<&'a Group>,
    /// Static rules.
    pub rules: usize,
    /// Learned thresholds.
    pub detectors: usize,
    /// Silences in force at the time asked.
    pub active_silences: usize,
    /// Alerts that are not resolved.
    pub open_alerts: usize,
    /// The open-alert cap.
    pub max_open_alerts: usize,
    /// Resolved alerts still kept.
    pub resolved_kept: usize,
}

/// Most groups `alert_stats` shows.
pub const STATS_GROUPS: usize = 20;

impl Engine {
    /// Alerts matching `filter`, highest priority first, then newest.
    pub fn list_alerts(&self, filter: &AlertFilter) -> Vec<&Alert> {
        let mut hits: Vec<&Alert> = self.alerts().iter().filter(|x| filter.matches(x)).collect();
        hits.sort_by(|x, y| {
            y.priority
                .total_cmp(&x.priority)
                .then(y.started_at.total_cmp(&x.started_at))
        });
        hits
    }

    /// Firing alerts whose policy has reached a level at `at`: the `limit`
    /// of highest priority, and how many there are in all. Ranked before
    /// anything is built: 100,000 firing alerts once made a 20 GB answer.
    pub fn escalations_due(&self, at: f64, limit: usize) -> (Vec<Due<'_>>, usize) {
        let mut due: Vec<_> = self
            .alerts()
            .iter()
            .filter(|x| x.status == Status::Firing)
            .filter_map(|x| {
                let policy = self.policies().get(&x.severity)?;
                let unacked = at - x.started_at;
                let (idx, level) = policy.level_at(unacked)?;
                Some((x, policy, unacked, idx, level))
            })
            .collect();
        let total = due.len();
        due.sort_by(|a, b| b.0.priority.total_cmp(&a.0.priority));
        due.truncate(limit);
        let list = due
            .into_iter()
            .map(|(alert, policy, unacked, idx, level)| {
                let mut so_far: Vec<String> = Vec::new();
                for n in policy.levels[..=idx].iter().flat_map(|l| &l.notify) {
                    if !so_far.contains(n) {
                        so_far.push(n.clone());
                    }
                }
                Due {
                    alert,
                    unacknowledged_seconds: unacked,
                    level: idx + 1,
                    notify: level.notify.clone(),
                    notified_so_far: so_far,
                    next_level_in_seconds: policy.next_in(unacked),
                }
            })
            .collect();
        (list, total)
    }

    /// The figures of `alert_stats` at time `at`.
    pub fn stats(&self, at: f64) -> Stats<'_> {
        let counters = self.counters().clone();
        let mut active_by_severity: BTreeMap<Severity, u64> =
            Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for x in self.alerts().iter().filter(|x| x.status.is_active()) {
            *active_by_severity.entry(x.severity).or_insert(0) += 1;
        }
        let mut groups: Vec<&Group> = self
            .groups()
            .iter()
            .filter(|g| {
                g.members
                    .iter()
                    .any(|m| self.alert_by_id(m).is_some_and(|x| x.status.is_active()))
            })
            .collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
        groups.truncate(STATS_GROUPS);
        let denom = counters.alerts_created + counters.deduplicated;
        Stats {
            deduplication_rate: if denom == 0 {
                0.0
            } else {
                counters.deduplicated as f64 / denom as f64
            },
            counters,
            active_by_severity,
            groups,
            rules: self.rules().len(),
            detectors: self.dynamics().len(),
            active_silences: self.silences().iter().filter(|s| s.active_at(at)).count(),
            open_alerts: self.open_alerts(),
            max_open_alerts: self.limits().max_open,
            resolved_kept: self.alerts().len() - self.open_alerts(),
        }
    }
}

/// One point of a `check_metrics` batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchPoint<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Source (empty when none).
    pub source: &'a str,
    /// Labels of the point.
    pub labels: &'a [(String, String)],
    /// Observed value.
    pub value: f64,
    /// Unix seconds.
    pub ts: f64,
}

/// What a batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Each point's anomaly score, in order.
    pub scores: Vec<f64>,
    /// Each point's alerts: a range of `touched`.
    pub spans: Vec<std::ops::Range<usize>>,
    /// Alert indexes the points created or updated, point by point.
    pub touched: Vec<u32>,
    /// The alerts to show, once each, in creation order: all of them, or
    /// the `max_shown` of highest priority.
    pub shown: Vec<u32>,
    /// Alerts created or updated but not in `shown`.
    pub omitted: usize,
    /// Alerts the batch created.
    pub created: u64,
    /// New alerts not opened because the open-alert cap was reached.
    pub refused: u64,
}

impl Engine {
    /// Checks `points` in order. Every point is resolved to its series
    /// first (one lookup each), then the hot loop runs on series ids.
    pub fn check_batch<'a>(
        &mut self,
        points: impl ExactSizeIterator<Item = BatchPoint<'a>>,
        max_shown: usize,
    ) -> BatchOutcome {
        let created_before = self.counters().alerts_created;
        let refused_before = self.counters().refused_at_cap;
        let resolved: Vec<(Option<u32>, f64, f64)> = points
            .map(|p| (self.series_for(p.metric, p.source, p.labels), p.value, p.ts))
            .collect();
        let mut out = BatchOutcome {
            scores: Vec::with_capacity(resolved.len()),
            spans: Vec::with_capacity(resolved.len()),
            ..Default::default()
        };
        for (series, value, ts) in resolved {
            match series {
                Some(sid) => {
                    let o = self.check(sid, value, ts, &mut out.touched);
                    out.scores.push(o.anomaly_score);
                    out.spans.push(o.alerts);
                }
                None => {
                    out.scores.push(0.0);
                    out.spans.push(out.touched.len()..out.touched.len());
                }
            }
        }
        let mut unique = out.touched.clone();
        unique.sort_unstable();
        unique.dedup();
        // The highest-priority alerts, in creation order: 10,000 new alerts
        // once made a 522 MB answer, which a client capping messages at
        // 16 MiB drops.
        out.omitted = unique.len().saturating_sub(max_shown);
        if out.omitted > 0 {
            let priority = |i: u32| self.alert(i).map_or(0.0, |a| a.priority);
            unique.sort_by(|&a, &b| priority(b).total_cmp(&priority(a)).then(a.cmp(&b)));
            unique.truncate(max_shown);
            unique.sort_unstable();
        }
        out.shown = unique;
        out.created = self.counters().alerts_created - created_before;
        out.refused = self.counters().refused_at_cap - refused_before;
        out
    }
}
