//! Read use cases over the engine's state: which alerts a listing shows and
//! in what order, which escalations are due, and the statistics. The MCP
//! adapters (`server/alerting`) only parse arguments and shape answers.

use std::collections::BTreeMap;

use super::correlate::Group;
use super::engine::{Counters, Engine};
use super::model::{Alert, Severity, Status};
use super::threshold::Verdict;

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
    /// The learned thresholds' verdicts on a batch's points, observed series
    /// by series (each series' points in their order), indexed like
    /// `points`; empty when no point has a learned threshold. A detector's
    /// state (about 19 KB for `auto`) then stays in cache across its
    /// series' points instead of being fetched again for every point when
    /// a batch interleaves many series; the verdicts are the same as
    /// observing in batch order, because a detector sees only its series.
    fn observe_by_series(&mut self, points: &[(Option<u32>, f64, f64)]) -> Vec<Option<Verdict>> {
        let mut order: Vec<(u32, u32)> = points
            .iter()
            .enumerate()
            .filter_map(|(k, (sid, _, _))| {
                let sid = (*sid)?;
                self.learns(sid).then_some((sid, k as u32))
            })
            .collect();
        if order.is_empty() {
            return Vec::new();
        }
        order.sort_unstable();
        let mut out = vec![None; points.len()];
        self.observe_sorted(&order, points, &mut out);
        out
    }

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
        let learned = self.observe_by_series(&resolved);
        let mut out = BatchOutcome {
            scores: Vec::with_capacity(resolved.len()),
            spans: Vec::with_capacity(resolved.len()),
            ..Default::default()
        };
        for (k, (series, value, ts)) in resolved.into_iter().enumerate() {
            match series {
                Some(sid) => {
                    let pre = learned.get(k).copied().flatten();
                    let o = self.check_with(sid, value, ts, &mut out.touched, pre);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::engine::DynamicSpec;
    use crate::alerting::threshold::{DetectorParams, Method};

    /// Eight series interleaved point by point (as `check_metrics` batches
    /// of many series arrive), each with a level shift, half of them under
    /// `auto` and half under `daily`.
    fn engine_and_points() -> (Engine, Vec<(String, f64, f64)>) {
        let mut e = Engine::new();
        for (m, method) in [("auto_m", Method::Auto), ("daily_m", Method::Daily)] {
            e.add_dynamic(DynamicSpec {
                metric_name: m.into(),
                params: DetectorParams {
                    method,
                    ..DetectorParams::default()
                },
                severity: Severity::Warning,
                resolve_after_seconds: None,
            });
        }
        let mut points = Vec::new();
        for t in 0..1_200u64 {
            for s in 0..8u64 {
                let metric = if s % 2 == 0 { "auto_m" } else { "daily_m" };
                let noise = ((t * 2_654_435_761 + s * 97) % 1_000) as f64 / 100.0;
                let shift = if t > 900 + 20 * s { 60.0 } else { 0.0 };
                points.push((
                    format!("{metric}/{s}"),
                    50.0 + noise + shift,
                    (t * 300) as f64,
                ));
            }
        }
        (e, points)
    }

    #[test]
    fn a_batch_observed_series_by_series_scores_and_alerts_like_point_order() {
        let (mut one_by_one, points) = engine_and_points();
        let mut touched = Vec::new();
        let expected: Vec<f64> = points
            .iter()
            .map(|(key, v, ts)| {
                let (metric, source) = key.split_once('/').unwrap();
                let sid = one_by_one.series_for(metric, source, &[]).unwrap();
                one_by_one.check(sid, *v, *ts, &mut touched).anomaly_score
            })
            .collect();
        // Batches of 1,000 points are observed on one thread, of 4,800 on
        // two (PARALLEL_POINTS).
        for size in [1_000, 4_800] {
            batched_like_point_order(&points, size, &expected, &one_by_one);
        }
        assert!(expected.iter().filter(|&&x| x >= 0.5).count() >= 8);
        assert!(!one_by_one.alerts().is_empty());
    }

    fn batched_like_point_order(
        points: &[(String, f64, f64)],
        size: usize,
        expected: &[f64],
        one_by_one: &Engine,
    ) {
        let (mut batched, _) = engine_and_points();
        let mut scores = Vec::new();
        for chunk in points.chunks(size) {
            let b = batched.check_batch(
                chunk.iter().map(|(key, v, ts)| {
                    let (metric, source) = key.split_once('/').unwrap();
                    BatchPoint {
                        metric,
                        source,
                        labels: &[],
                        value: *v,
                        ts: *ts,
                    }
                }),
                usize::MAX,
            );
            scores.extend(b.scores);
        }
        assert_eq!(scores, expected, "batches of {size}");
        let summary = |e: &Engine| -> Vec<(String, u64, u64)> {
            e.alerts()
                .iter()
                .map(|a| (a.id.clone(), a.count, a.last_seen.to_bits()))
                .collect()
        };
        assert_eq!(summary(&batched), summary(one_by_one), "batches of {size}");
    }
}
