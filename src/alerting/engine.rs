//! The engine: composes rules, detectors, dedup, correlation, priority,
//! silences and escalation into one in-memory state machine driven by points.
//!
//! Design choices:
//! - Metric names are interned to dense ids and every (metric, source,
//!   labels) combination to a series id, once; the per-point path then works
//!   on `Vec` indices only (no string hashing), which is what makes millions
//!   of points per second possible. Metrics with no rule and no detector are
//!   not interned at all, so unknown metrics cost one failed lookup and no
//!   memory.
//! - All time comes from the points (`for_seconds`, dedup and group windows,
//!   silences, auto-resolve), so a series replays identically.
//! - The engine records what changed (alerts, series, groups) in dirty sets;
//!   the caller persists them in one transaction per call
//!   ([`Engine::take_changes`]), instead of one write per point.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::correlate::{self, Group};
use super::dedup::{self, DedupIndex};
use super::escalate::Policy;
use super::model::{Alert, Severity, Status};
use super::priority::{self, BusinessHours, PriorityInput};
use super::rules::{CmpOp, Condition, PointView, render_template};
use super::silence::{AlertLabels, Silence};
use super::storage::Write;
use super::threshold::{DayChanges, DetectorParams, DetectorState, JournalChanges, Verdict};

/// Engine-wide settings (`configure_alerting`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// A repeat within this many seconds updates the open alert.
    pub dedup_window_seconds: f64,
    /// Alerts with one group key within this many seconds form one group.
    pub group_window_seconds: f64,
    /// Labels that form the group key (`source`, `metric` or any label).
    pub group_by: Vec<String>,
    /// Default seconds a condition must stay clear before auto-resolving.
    pub resolve_after_seconds: f64,
    /// Business hours for the priority factor.
    pub business_hours: BusinessHours,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            dedup_window_seconds: dedup::DEFAULT_WINDOW_SECONDS,
            group_window_seconds: correlate::DEFAULT_WINDOW_SECONDS,
            group_by: vec!["source".to_string()],
            resolve_after_seconds: 0.0,
            business_hours: BusinessHours::default(),
        }
    }
}

/// A static rule as the user defined it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleSpec {
    pub rule_id: String,
    pub metric_name: String,
    pub condition: String,
    pub severity: Severity,
    pub for_seconds: f64,
    pub recovery_condition: Option<String>,
    pub title_template: Option<String>,
    pub description_template: Option<String>,
    /// Labels added to every alert of this rule.
    pub labels: Vec<(String, String)>,
    pub resolve_after_seconds: Option<f64>,
}

/// A learned threshold as the user defined it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicSpec {
    pub metric_name: String,
    pub params: DetectorParams,
    pub severity: Severity,
    pub resolve_after_seconds: Option<f64>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    spec: RuleSpec,
    condition: Condition,
    recovery: Option<Condition>,
}

/// Metric id: index into the engine's metric table.
pub type MetricId = u32;
/// (metric, source, sorted labels): what identifies a series.
type SeriesKey = (MetricId, String, Vec<(String, String)>);

/// Series id: index into the engine's series table.
pub type SeriesId = u32;

#[derive(Debug, Clone)]
struct MetricEntry {
    name: String,
    rules: Vec<u32>,
    dynamic: Option<DynamicSpec>,
    /// Bumped when the dynamic spec is replaced, so series start afresh.
    generation: u32,
    default_series: Option<SeriesId>,
}

impl MetricEntry {
    /// A rule or a learned threshold watches it (else its series are
    /// neither checked, stored nor loaded).
    fn watched(&self) -> bool {
        !self.rules.is_empty() || self.dynamic.is_some()
    }
}

/// Per (rule, series) evaluation state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RuleState {
    #[serde(skip)]
    slot: u32,
    rule_id: String,
    #[serde(skip)]
    fp: u64,
    // Unset timers are left out of the stored row (rows written with
    // explicit nulls still read): a series row is rewritten whenever a timer
    // moves, and most timers are unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clear_since: Option<f64>,
}

/// A series' persisted rule timers (how many rule states, their pending and
/// clear times, the detector's), to tell whether a point moved them; `None`
/// (always "moved") for a series under more than [`TIMED_RULES`] rules.
fn timers(s: &Series) -> Option<(usize, [Option<f64>; 2 * TIMED_RULES + 2])> {
    if s.rule_states.len() > TIMED_RULES {
        return None;
    }
    let mut t = [None; 2 * TIMED_RULES + 2];
    for (i, st) in s
        .rule_states
        .iter()
        .chain(std::iter::once(&s.det_state))
        .enumerate()
    {
        t[2 * i] = st.pending_since;
        t[2 * i + 1] = st.clear_since;
    }
    Some((s.rule_states.len(), t))
}

/// Rules per series whose timers [`timers`] compares.
const TIMED_RULES: usize = 4;

#[derive(Debug, Clone)]
struct Series {
    metric: MetricId,
    source: String,
    labels: Vec<(String, String)>,
    rule_states: Vec<RuleState>,
    detector: Option<DetectorState>,
    generation: u32,
    det_state: RuleState,
    /// In `dirty_series`: written at the next save (its journal, and its
    /// record if `record_dirty` or the detector needs it).
    dirty: bool,
    /// Its record (rule and detector timers, a detector that is not
    /// `auto`, or none) moved since it was last written. An `auto`
    /// detector's learning alone does not set it: its points go to the
    /// journal, from which loading counts them.
    record_dirty: bool,
}

impl Series {
    /// Queues it for the next save (`sid`: its id, `queue`: the engine's
    /// `dirty_series`), its record too when `record`.
    fn mark_dirty(&mut self, sid: SeriesId, record: bool, queue: &mut Vec<SeriesId>) {
        self.record_dirty |= record;
        if !self.dirty {
            self.dirty = true;
            queue.push(sid);
        }
    }
}

/// A series as persisted.
#[derive(Debug, Serialize, Deserialize)]
pub struct SeriesRecord {
    pub metric: String,
    pub source: String,
    pub labels: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detector: Option<DetectorState>,
    det_state: RuleState,
    rule_states: Vec<RuleState>,
}

/// The engine's state as read from the store, for [`Engine::restore`].
#[derive(Debug, Default)]
pub struct Loaded {
    pub counters: Counters,
    pub alerts: Vec<Alert>,
    pub groups: Vec<Group>,
    pub series: Vec<SeriesRecord>,
    /// Daily-profile cells (slot, Unix second, value) by series key.
    pub day: HashMap<String, Vec<(u16, i64, f64)>>,
    /// `auto` snapshots by series key.
    pub snapshots: HashMap<String, String>,
    /// `auto` journal rows by series key, oldest first.
    pub journal: HashMap<String, Vec<String>>,
    pub silences: Vec<Silence>,
    pub policies: Vec<(Severity, Policy)>,
}

/// Counters reported by `alert_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub points_checked: u64,
    pub alerts_created: u64,
    pub deduplicated: u64,
    pub silenced: u64,
    pub resolved: u64,
    pub next_alert: u64,
    pub next_group: u64,
    pub next_silence: u64,
    /// New alerts not opened because [`AlertLimits::max_open`] were open.
    #[serde(default)]
    pub refused_at_cap: u64,
}

/// How many alerts the engine keeps, so memory and every answer that
/// scans alerts stay bounded.
///
/// Open alerts (firing, acknowledged, silenced) are never dropped: they
/// are problems someone must see. At `max_open`, a point that would open
/// one more alert opens none (its repeats of open alerts still count), the
/// answer says so and `alert_stats` counts it, until alerts are resolved.
/// Resolved alerts are history: beyond `max_resolved` the oldest are
/// deleted (from memory and the store), in steps of a tenth of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertLimits {
    /// Most open alerts.
    pub max_open: usize,
    /// Most resolved alerts kept.
    pub max_resolved: usize,
}

/// Default of [`AlertLimits::max_open`] (`--max-open-alerts`).
pub const DEFAULT_MAX_OPEN_ALERTS: usize = 10_000;
/// Default of [`AlertLimits::max_resolved`] (`--max-resolved-alerts`).
pub const DEFAULT_MAX_RESOLVED_ALERTS: usize = 10_000;

impl Default for AlertLimits {
    fn default() -> Self {
        AlertLimits {
            max_open: DEFAULT_MAX_OPEN_ALERTS,
            max_resolved: DEFAULT_MAX_RESOLVED_ALERTS,
        }
    }
}

/// An alert event for the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertEvent {
    /// A new (not deduplicated, not silenced) alert.
    Triggered(u32),
    /// An alert resolved (by the engine or a person).
    Resolved(u32),
}

/// What one point produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointOutcome {
    /// Highest detector score of the point (0 without a detector).
    pub anomaly_score: f64,
    /// Lowest value that would not alert.
    pub lower: Option<f64>,
    /// Highest value that would not alert.
    pub upper: Option<f64>,
    /// Range of this point's alerts in the `touched` list.
    pub alerts: std::ops::Range<usize>,
    /// Why an alert of this point is muted, when one is.
    pub suppressed: Option<String>,
    /// Why an alert of this point was not opened (the open-alert cap).
    pub refused: Option<String>,
}

/// What must be written to the store after a call.
#[derive(Debug, Default)]
pub struct Changes {
    pub alerts: Vec<Alert>,
    pub series: Vec<(String, SeriesRecord)>,
    /// Daily-profile slots of `daily` series, stored beside their state.
    pub day: Vec<(String, DayChanges)>,
    /// Snapshots and journal rows of `auto` series, stored beside their state.
    pub journal: Vec<(String, JournalChanges)>,
    pub groups: Vec<Group>,
    pub counters: Counters,
    /// Ids of resolved alerts deleted by [`Engine::compact`].
    pub evicted: Vec<String>,
}

impl Changes {
    /// Nothing to write (counters only move together with these).
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.evicted.is_empty()
            && self.series.is_empty()
            && self.day.is_empty()
            && self.journal.is_empty()
            && self.groups.is_empty()
    }
}

/// The alerting state machine.
#[derive(Debug, Default)]
pub struct Engine {
    pub config: EngineConfig,
    metrics: Vec<MetricEntry>,
    metric_ids: HashMap<String, MetricId>,
    rules: Vec<Option<Rule>>,
    rule_slots: HashMap<String, u32>,
    series: Vec<Series>,
    series_ids: HashMap<SeriesKey, SeriesId>,
    alerts: Vec<Alert>,
    alert_ids: HashMap<String, u32>,
    dedup: DedupIndex,
    groups: Vec<Group>,
    open_groups: HashMap<String, usize>,
    /// Critical alerts per source, for inhibition (pruned when inactive).
    criticals: HashMap<String, Vec<u32>>,
    group_ids: HashMap<String, usize>,
    silences: Vec<Silence>,
    policies: BTreeMap<Severity, Policy>,
    counters: Counters,
    /// Definitions changed since the last save (rules, thresholds,
    /// silences, policies, settings), in the order they changed.
    definitions: Vec<Write>,
    dirty_series: Vec<SeriesId>,
    dirty_alerts: Vec<u32>,
    dirty_alert_flags: Vec<bool>,
    dirty_groups: Vec<usize>,
    events: Vec<AlertEvent>,
    /// Bounds on the alerts kept.
    limits: AlertLimits,
    /// Alerts not resolved (firing, acknowledged, silenced).
    open: usize,
}

/// Why an engine operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// An argument is wrong.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// No such thing.
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
}

/// An [`EngineError::Invalid`] naming `field`.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

impl Engine {
    /// An empty engine with default settings.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// An empty engine keeping at most `limits` alerts.
    pub fn with_limits(limits: AlertLimits) -> Engine {
        Engine {
            limits,
            ..Engine::default()
        }
    }

    /// The bounds on the alerts kept.
    pub fn limits(&self) -> AlertLimits {
        self.limits
    }

    /// Changes the bounds (they apply from the next alert and compaction).
    pub fn set_limits(&mut self, limits: AlertLimits) {
        self.limits = limits;
    }

    /// Alerts not resolved.
    pub fn open_alerts(&self) -> usize {
        self.open
    }

    /// Deletes the oldest resolved alerts beyond [`AlertLimits::max_resolved`]
    /// (once they exceed it by a tenth, so the O(alerts) re-indexing is
    /// paid once per many resolutions); their ids, for the store. Call only
    /// between calls: it renumbers alert indices.
    pub fn compact(&mut self) -> Vec<String> {
        let resolved = self.alerts.len() - self.open;
        let max = self.limits.max_resolved;
        if resolved <= max + max / 10 {
            return Vec::new();
        }
        let mut excess = resolved - max;
        let mut evicted = Vec::with_capacity(excess);
        let mut kept = Vec::with_capacity(self.alerts.len() - excess);
        for a in std::mem::take(&mut self.alerts) {
            if excess > 0 && a.status == Status::Resolved {
                excess -= 1;
                evicted.push(a.id);
            } else {
                kept.push(a);
            }
        }
        self.alerts = kept;
        self.reindex();
        evicted
    }

    /// Rebuilds every index of alert positions after [`Self::compact`].
    fn reindex(&mut self) {
        self.alert_ids.clear();
        self.dedup = DedupIndex::default();
        self.criticals.clear();
        self.dirty_alerts.clear();
        self.dirty_alert_flags.clear();
        for (i, a) in self.alerts.iter().enumerate() {
            self.alert_ids.insert(a.id.clone(), i as u32);
            if a.status != Status::Resolved {
                self.dedup.insert(a.fingerprint, i);
            }
        }
        for i in 0..self.alerts.len() as u32 {
            if self.alerts[i as usize].status.is_active() {
                self.note_critical(i);
            }
        }
    }

    // ---- definitions -----------------------------------------------------

    fn intern(&mut self, name: &str) -> MetricId {
        if let Some(&id) = self.metric_ids.get(name) {
            return id;
        }
        let id = self.metrics.len() as MetricId;
        self.metrics.push(MetricEntry {
            name: name.to_string(),
            rules: Vec::new(),
            dynamic: None,
            generation: 0,
            default_series: None,
        });
        self.metric_ids.insert(name.to_string(), id);
        id
    }

    /// The id of a metric that has a rule or detector.
    pub fn metric_id(&self, name: &str) -> Option<MetricId> {
        self.metric_ids.get(name).copied()
    }

    /// Adds (or replaces) a static rule; compiles its conditions.
    pub fn add_rule(&mut self, spec: RuleSpec) -> Result<(), EngineError> {
        let condition =
            Condition::parse(&spec.condition).map_err(|e| invalid("condition", e.to_string()))?;
        let recovery = match &spec.recovery_condition {
            Some(r) => Some(
                Condition::parse(r).map_err(|e| invalid("recovery_condition", e.to_string()))?,
            ),
            None => None,
        };
        if self.rule_slots.contains_key(&spec.rule_id) {
            self.drop_rule(&spec.rule_id, 0.0, false)?;
        }
        self.definitions.push(Write::Rule(spec.clone()));
        let metric = self.intern(&spec.metric_name);
        let slot = self.rules.len() as u32;
        self.rule_slots.insert(spec.rule_id.clone(), slot);
        self.rules.push(Some(Rule {
            spec,
            condition,
            recovery,
        }));
        self.metrics[metric as usize].rules.push(slot);
        Ok(())
    }

    /// Removes a rule; its open alerts resolve at `at` (when `resolve_open`).
    pub fn remove_rule(
        &mut self,
        rule_id: &str,
        at: f64,
        resolve_open: bool,
    ) -> Result<RuleSpec, EngineError> {
        let spec = self.drop_rule(rule_id, at, resolve_open)?;
        self.definitions
            .push(Write::RemoveRule(rule_id.to_string()));
        self.forget_series_if_unwatched(&spec.metric_name);
        Ok(spec)
    }

    /// Removes a static rule, or a learned threshold by its `dynamic:<metric>`
    /// id; the alerts it had open resolve at `at`. Returns their ids.
    pub fn remove_any_rule(&mut self, rule_id: &str, at: f64) -> Result<Vec<String>, EngineError> {
        let open: Vec<String> = self
            .alerts
            .iter()
            .filter(|x| x.rule_id == rule_id && x.status != Status::Resolved)
            .map(|x| x.id.clone())
            .collect();
        match rule_id.strip_prefix("dynamic:") {
            Some(metric) => {
                if !self.remove_dynamic(metric) {
                    return Err(EngineError::NotFound {
                        what: "rule",
                        id: rule_id.to_string(),
                    });
                }
                for id in &open {
                    self.resolve(id, "system", Some("learned threshold removed".into()), at)?;
                }
            }
            None => {
                self.remove_rule(rule_id, at, true)?;
            }
        }
        Ok(open)
    }

    fn drop_rule(
        &mut self,
        rule_id: &str,
        at: f64,
        resolve_open: bool,
    ) -> Result<RuleSpec, EngineError> {
        let slot = self
            .rule_slots
            .remove(rule_id)
            .ok_or_else(|| EngineError::NotFound {
                what: "rule",
                id: rule_id.to_string(),
            })?;
        let rule = self.rules[slot as usize]
            .take()
            .ok_or_else(|| EngineError::NotFound {
                what: "rule",
                id: rule_id.to_string(),
            })?;
        if let Some(&m) = self.metric_ids.get(&rule.spec.metric_name) {
            self.metrics[m as usize].rules.retain(|s| *s != slot);
        }
        if resolve_open {
            let open: Vec<u32> = (0..self.alerts.len() as u32)
                .filter(|&i| {
                    let a = &self.alerts[i as usize];
                    a.rule_id == rule_id && a.status != Status::Resolved
                })
                .collect();
            for i in open {
                self.resolve_index(i, at, "system", Some("rule removed".into()));
            }
        }
        Ok(rule.spec)
    }

    /// Every rule, sorted by id.
    pub fn rules(&self) -> Vec<&RuleSpec> {
        let mut v: Vec<&RuleSpec> = self.rules.iter().flatten().map(|r| &r.spec).collect();
        v.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        v
    }

    /// Adds (or replaces, restarting its learning) a learned threshold.
    pub fn add_dynamic(&mut self, spec: DynamicSpec) {
        self.definitions.push(Write::Dynamic(spec.clone()));
        let m = self.intern(&spec.metric_name);
        self.metrics[m as usize].dynamic = Some(spec);
        self.metrics[m as usize].generation += 1;
        // What the metric's series learned under an earlier threshold goes
        // now, not at their next point: stored, it would be loaded under
        // this one by a restart before that point.
        self.forget_learned(m);
    }

    /// Removes a learned threshold; returns whether there was one. What its
    /// series learned goes with it, in memory and in the store.
    pub fn remove_dynamic(&mut self, metric: &str) -> bool {
        let Some(&m) = self.metric_ids.get(metric) else {
            return false;
        };
        if self.metrics[m as usize].dynamic.take().is_none() {
            return false;
        }
        self.forget_learned(m);
        self.definitions
            .push(Write::RemoveDynamic(metric.to_string()));
        self.forget_series_if_unwatched(metric);
        true
    }

    /// A metric left with neither rules nor a learned threshold: its series
    /// rows are deleted from the store (nothing would load them; they come
    /// back with the metric's next rule and points).
    fn forget_series_if_unwatched(&mut self, metric: &str) {
        let Some(&m) = self.metric_ids.get(metric) else {
            return;
        };
        if !self.metrics[m as usize].watched() {
            self.definitions
                .push(Write::ForgetSeries(metric.to_string()));
        }
    }

    /// Drops the detectors of metric `m`'s series; their records are
    /// rewritten without one at the next save.
    fn forget_learned(&mut self, m: MetricId) {
        for (sid, s) in self.series.iter_mut().enumerate() {
            if s.metric == m && s.detector.take().is_some() {
                s.mark_dirty(sid as SeriesId, true, &mut self.dirty_series);
            }
        }
    }

    /// Every learned threshold, sorted by metric.
    pub fn dynamics(&self) -> Vec<&DynamicSpec> {
        let mut v: Vec<&DynamicSpec> = self
            .metrics
            .iter()
            .filter_map(|m| m.dynamic.as_ref())
            .collect();
        v.sort_by(|a, b| a.metric_name.cmp(&b.metric_name));
        v
    }

    /// Points each learned threshold's series have seen, by metric.
    pub fn detector_samples(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in &self.series {
            if let Some(d) = &s.detector {
                *out.entry(self.metrics[s.metric as usize].name.clone())
                    .or_insert(0) += d.seen();
            }
        }
        out
    }

    // ---- the point path --------------------------------------------------

    /// The series of (metric, source, labels), created on first use; None
    /// when the metric has no rule and no detector. `labels` must be sorted.
    pub fn series_for(
        &mut self,
        metric_name: &str,
        source: &str,
        labels: &[(String, String)],
    ) -> Option<SeriesId> {
        let m = *self.metric_ids.get(metric_name)?;
        let entry = &self.metrics[m as usize];
        if !entry.watched() {
            return None;
        }
        if source.is_empty() && labels.is_empty() {
            if let Some(s) = entry.default_series {
                return Some(s);
            }
            let s = self.new_series(m, String::new(), Vec::new());
            self.metrics[m as usize].default_series = Some(s);
            return Some(s);
        }
        let key = (m, source.to_string(), labels.to_vec());
        if let Some(&s) = self.series_ids.get(&key) {
            return Some(s);
        }
        let s = self.new_series(m, source.to_string(), labels.to_vec());
        self.series_ids.insert(key, s);
        Some(s)
    }

    fn new_series(
        &mut self,
        m: MetricId,
        source: String,
        labels: Vec<(String, String)>,
    ) -> SeriesId {
        let name = &self.metrics[m as usize].name;
        let det_id = format!("dynamic:{name}");
        let fp = dedup::fingerprint(&det_id, name, &source, &labels);
        let id = self.series.len() as SeriesId;
        self.series.push(Series {
            metric: m,
            source,
            labels,
            rule_states: Vec::new(),
            detector: None,
            generation: 0,
            det_state: RuleState {
                slot: u32::MAX,
                rule_id: det_id,
                fp,
                pending_since: None,
                clear_since: None,
            },
            dirty: false,
            record_dirty: false,
        });
        id
    }

    /// Checks one point of a series at Unix second `ts`. Alerts it created or
    /// updated are appended to `touched` (alert indices).
    pub fn check(
        &mut self,
        sid: SeriesId,
        value: f64,
        ts: f64,
        touched: &mut Vec<u32>,
    ) -> PointOutcome {
        self.check_with(sid, value, ts, touched, None)
    }

    /// [`Engine::check`] with the learned threshold's verdict on this point
    /// already computed by [`Engine::observe_learned`] (None: observe now).
    pub(crate) fn check_with(
        &mut self,
        sid: SeriesId,
        value: f64,
        ts: f64,
        touched: &mut Vec<u32>,
        learned: Option<Verdict>,
    ) -> PointOutcome {
        self.counters.points_checked += 1;
        let start = touched.len();
        let mut out = PointOutcome::default();
        let Some(series) = self.series.get(sid as usize) else {
            return out;
        };
        let m = series.metric as usize;
        // A series is written back only when its state moved: a detector's
        // baseline moves with every point, rule timers rarely do, and
        // rewriting 1,000 unchanged rows per call was most of the store's
        // work in a rules-only check_metrics. An `auto` detector's points
        // go to its journal; its record is rewritten only when timers move
        // (see `take_changes`).
        let learns = self.metrics[m].dynamic.is_some() || series.detector.is_some();
        let before = (!series.record_dirty).then(|| timers(series));
        let n_rules = self.metrics[m].rules.len();
        for r in 0..n_rules {
            let slot = self.metrics[m].rules[r];
            self.check_rule(sid, slot, value, ts, touched, &mut out);
        }
        if self.metrics[m].dynamic.is_some() {
            self.check_dynamic(sid, value, ts, touched, &mut out, learned);
        }
        let series = &mut self.series[sid as usize];
        let moved = before.is_some_and(|b| b.is_none() || b != timers(series));
        if learns || moved {
            series.mark_dirty(sid, moved, &mut self.dirty_series);
        }
        out.alerts = start..touched.len();
        out
    }

    fn check_rule(
        &mut self,
        sid: SeriesId,
        slot: u32,
        value: f64,
        ts: f64,
        touched: &mut Vec<u32>,
        out: &mut PointOutcome,
    ) {
        let Some(rule) = self.rules[slot as usize].as_ref() else {
            return;
        };
        let series = &mut self.series[sid as usize];
        let metric_name = &self.metrics[series.metric as usize].name;
        let view = PointView {
            metric: metric_name,
            value,
            source: &series.source,
            labels: &series.labels,
        };
        let cond = rule.condition.eval(&view);
        if let Some((op, t)) = rule.condition.threshold() {
            match op {
                CmpOp::Gt | CmpOp::Ge if out.upper.is_none() => out.upper = Some(t),
                CmpOp::Lt | CmpOp::Le if out.lower.is_none() => out.lower = Some(t),
                _ => {}
            }
        }
        let pos = match series.rule_states.iter().position(|s| s.slot == slot) {
            Some(p) => p,
            None => {
                let fp = dedup::fingerprint(
                    &rule.spec.rule_id,
                    metric_name,
                    &series.source,
                    &with_rule_labels(&series.labels, &rule.spec.labels),
                );
                series.rule_states.push(RuleState {
                    slot,
                    rule_id: rule.spec.rule_id.clone(),
                    fp,
                    pending_since: None,
                    clear_since: None,
                });
                series.rule_states.len() - 1
            }
        };
        let st = &mut series.rule_states[pos];
        if cond {
            st.clear_since = None;
            let since = *st.pending_since.get_or_insert(ts);
            if ts - since >= rule.spec.for_seconds {
                let fp = st.fp;
                self.fire(sid, Some(slot), fp, value, ts, 1.0, touched, out);
            }
        } else {
            st.pending_since = None;
            let fp = st.fp;
            let Some(i) = open_alert(&self.dedup, &self.alerts, fp) else {
                st.clear_since = None;
                return;
            };
            let clear = match &rule.recovery {
                Some(rc) => rc.eval(&view),
                None => true,
            };
            if !clear {
                st.clear_since = None;
                return;
            }
            let since = *st.clear_since.get_or_insert(ts);
            let after = rule
                .spec
                .resolve_after_seconds
                .unwrap_or(self.config.resolve_after_seconds);
            if ts - since >= after {
                st.clear_since = None;
                self.resolve_index(i, ts, "system", Some("condition cleared".into()));
            }
        }
    }

    /// Whether the series' metric has a learned threshold.
    pub(crate) fn learns(&self, sid: SeriesId) -> bool {
        self.series
            .get(sid as usize)
            .is_some_and(|s| self.metrics[s.metric as usize].dynamic.is_some())
    }

    /// Feeds one point to the series' learned threshold (created, or
    /// re-created after the threshold changed, on first use) and returns
    /// its verdict; None if the series' metric has no learned threshold.
    /// A detector sees only its own series' points, in their order, so a
    /// batch may observe series by series before checking point by point.
    pub(crate) fn observe_learned(
        &mut self,
        sid: SeriesId,
        value: f64,
        ts: f64,
    ) -> Option<Verdict> {
        observe_in(self.series.get_mut(sid as usize)?, &self.metrics, value, ts)
    }

    /// [`Engine::observe_learned`] for many points: `order` holds (series
    /// id, index into `points`) sorted by series, then index, and each
    /// verdict goes to its index in `out`. A batch of at least
    /// [`PARALLEL_POINTS`] points over several series is cut in two at a
    /// series boundary and the halves observed on two threads (detectors are
    /// independent, so the verdicts are the same): the detectors are most
    /// of a 10,000-point call's work under the engine lock.
    pub(crate) fn observe_sorted(
        &mut self,
        order: &[(SeriesId, u32)],
        points: &[(Option<u32>, f64, f64)],
        out: &mut [Option<Verdict>],
    ) {
        let metrics = &self.metrics;
        let run = |series: &mut [Series], first: SeriesId, part: &[(SeriesId, u32)]| {
            part.iter()
                .map(|&(sid, k)| {
                    let (_, value, ts) = points[k as usize];
                    let s = series.get_mut((sid - first) as usize)?;
                    observe_in(s, metrics, value, ts)
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = order.split_at(parallel_split(order));
        let (va, vb) = match b.first() {
            Some(&(mid, _)) => {
                let at = (mid as usize).min(self.series.len());
                let (low, high) = self.series.split_at_mut(at);
                std::thread::scope(|scope| {
                    let other = scope.spawn(|| run(high, mid, b));
                    let va = run(low, 0, a);
                    match other.join() {
                        Ok(vb) => (va, vb),
                        // Handled as any panic in the call (the caller
                        // catches it and answers an error).
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                })
            }
            None => (run(&mut self.series, 0, a), Vec::new()),
        };
        for (&(_, k), v) in order.iter().zip(va.into_iter().chain(vb)) {
            out[k as usize] = v;
        }
    }

    fn check_dynamic(
        &mut self,
        sid: SeriesId,
        value: f64,
        ts: f64,
        touched: &mut Vec<u32>,
        out: &mut PointOutcome,
        learned: Option<Verdict>,
    ) {
        let Some(v) = learned.or_else(|| self.observe_learned(sid, value, ts)) else {
            return;
        };
        let series = &mut self.series[sid as usize];
        let Some(spec) = self.metrics[series.metric as usize].dynamic.as_ref() else {
            return;
        };
        out.anomaly_score = out.anomaly_score.max(v.score);
        if v.ready {
            out.lower = v.lower.or(out.lower);
            out.upper = v.upper.or(out.upper);
        }
        let fp = series.det_state.fp;
        if v.is_anomalous() {
            series.det_state.clear_since = None;
            self.fire(sid, None, fp, value, ts, v.score, touched, out);
        } else if let Some(i) = open_alert(&self.dedup, &self.alerts, fp) {
            let after = spec
                .resolve_after_seconds
                .unwrap_or(self.config.resolve_after_seconds);
            let st = &mut series.det_state;
            let since = *st.clear_since.get_or_insert(ts);
            if ts - since >= after {
                st.clear_since = None;
                self.resolve_index(
                    i,
                    ts,
                    "system",
                    Some("back within learned threshold".into()),
                );
            }
        }
    }

    fn dedup_open(&self, fp: u64) -> Option<u32> {
        open_alert(&self.dedup, &self.alerts, fp)
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        sid: SeriesId,
        slot: Option<u32>,
        fp: u64,
        value: f64,
        ts: f64,
        score: f64,
        touched: &mut Vec<u32>,
        out: &mut PointOutcome,
    ) {
        let window = self.config.dedup_window_seconds;
        if let Some(i) = self.dedup_open(fp) {
            let a = &mut self.alerts[i as usize];
            if ts - a.last_seen <= window && ts >= a.started_at - window {
                a.count += 1;
                a.last_value = value;
                a.last_seen = a.last_seen.max(ts);
                a.anomaly_score = a.anomaly_score.max(score);
                self.counters.deduplicated += 1;
                if a.status == Status::Silenced {
                    // Re-judge: an expired silence stops applying.
                    let reason = self.mute_reason(i, ts);
                    let a = &mut self.alerts[i as usize];
                    match reason {
                        Some(r) => {
                            a.suppressed_reason = Some(r.clone());
                            out.suppressed = Some(r);
                        }
                        None => {
                            a.suppressed_reason = None;
                            a.transition(
                                Status::Firing,
                                ts,
                                "system",
                                Some("no longer silenced".into()),
                            );
                            self.join_group(i, ts);
                            self.note_critical(i);
                            self.events.push(AlertEvent::Triggered(i));
                        }
                    }
                } else if let Some(gi) = self.alerts[i as usize]
                    .group_id
                    .as_ref()
                    .and_then(|g| self.group_ids.get(g).copied())
                {
                    self.groups[gi].last_activity = self.groups[gi].last_activity.max(ts);
                    self.mark_group(gi);
                }
                self.mark_alert(i);
                touched.push(i);
                return;
            }
            // Quiet for longer than the window: this is a new episode.
            self.resolve_index(
                i,
                ts,
                "system",
                Some("no repeat within the dedup window".into()),
            );
        }
        let series = &self.series[sid as usize];
        let metric = self.metrics[series.metric as usize].name.clone();
        let (rule_id, severity, threshold, title, description, labels) = match slot {
            Some(slot) => {
                let Some(rule) = self.rules[slot as usize].as_ref() else {
                    return;
                };
                let labels = with_rule_labels(&series.labels, &rule.spec.labels);
                let view = PointView {
                    metric: &metric,
                    value,
                    source: &series.source,
                    labels: &labels,
                };
                let threshold = rule.condition.threshold().map(|(_, t)| t);
                let sev = rule.spec.severity.name();
                let title = match &rule.spec.title_template {
                    Some(t) => render_template(t, &view, threshold, sev),
                    None => format!(
                        "{} {} ({})",
                        metric,
                        rule.condition.text(),
                        rule.spec.rule_id
                    ),
                };
                let description = match &rule.spec.description_template {
                    Some(t) => render_template(t, &view, threshold, sev),
                    None => {
                        render_template(
                            "{metric} = {value} on {source} matched the rule condition",
                            &view,
                            threshold,
                            sev,
                        ) + &format!(" `{}`", rule.condition.text())
                    }
                };
                (
                    rule.spec.rule_id.clone(),
                    rule.spec.severity,
                    threshold,
                    clip(title, MAX_TITLE_CHARS),
                    clip(description, MAX_DESCRIPTION_CHARS),
                    labels,
                )
            }
            None => {
                let spec = self.metrics[series.metric as usize].dynamic.as_ref();
                let severity = spec.map_or(Severity::Warning, |s| s.severity);
                let threshold = if out.upper.is_some_and(|u| value > u) {
                    out.upper
                } else {
                    out.lower
                };
                let method = spec.map_or("auto", |s| s.params.method.name());
                let title = format!("{metric} is anomalous ({method})");
                let description = format!(
                    "{metric} = {} on {} is outside the learned range [{}, {}] (anomaly score {score:.2})",
                    super::rules::format_num(value),
                    if series.source.is_empty() {
                        "(no source)"
                    } else {
                        &series.source
                    },
                    out.lower.map_or("-".into(), super::rules::format_num),
                    out.upper.map_or("-".into(), super::rules::format_num),
                );
                (
                    format!("dynamic:{metric}"),
                    severity,
                    threshold,
                    title,
                    description,
                    series.labels.clone(),
                )
            }
        };
        if self.open >= self.limits.max_open {
            self.counters.refused_at_cap += 1;
            out.refused = Some(format!(
                "no alert opened: {} alerts are open, the most kept (--max-open-alerts); \
                 resolve some (resolve_alert, remove_alert_rule) to make room",
                self.open
            ));
            return;
        }
        let source = series.source.clone();
        let n = self.counters.next_alert + 1;
        self.counters.next_alert = n;
        let id = format!("a-{n}");
        let mut alert = Alert {
            id: id.clone(),
            rule_id,
            metric,
            source,
            labels,
            severity,
            status: Status::Firing,
            title,
            description,
            threshold,
            first_value: value,
            last_value: value,
            anomaly_score: score,
            count: 1,
            started_at: ts,
            last_seen: ts,
            fingerprint: fp,
            group_id: None,
            priority: 0.0,
            priority_factors: Vec::new(),
            suppressed_reason: None,
            history: Vec::new(),
        };
        alert.transition(Status::Firing, ts, "system", None);
        let i = self.alerts.len() as u32;
        self.alerts.push(alert);
        self.alert_ids.insert(id, i);
        self.dedup.insert(fp, i as usize);
        self.open += 1;
        self.counters.alerts_created += 1;
        if let Some(reason) = self.mute_reason(i, ts) {
            let a = &mut self.alerts[i as usize];
            a.transition(Status::Silenced, ts, "system", Some(reason.clone()));
            a.suppressed_reason = Some(reason.clone());
            out.suppressed = Some(reason);
            self.counters.silenced += 1;
            self.reprioritise(i, 1);
        } else {
            self.join_group(i, ts);
            self.note_critical(i);
            self.events.push(AlertEvent::Triggered(i));
        }
        self.mark_alert(i);
        touched.push(i);
    }

    fn note_critical(&mut self, i: u32) {
        let a = &self.alerts[i as usize];
        if a.severity != Severity::Critical || a.source.is_empty() {
            return;
        }
        let alerts = &self.alerts;
        let list = self.criticals.entry(a.source.clone()).or_default();
        list.retain(|&c| alerts[c as usize].status.is_active());
        list.push(i);
    }

    /// Why alert `i` is muted at `ts`: a silence or an inhibiting critical.
    fn mute_reason(&self, i: u32, ts: f64) -> Option<String> {
        let a = &self.alerts[i as usize];
        let view = AlertLabels {
            metric: &a.metric,
            source: &a.source,
            severity: a.severity.name(),
            rule_id: &a.rule_id,
            labels: &a.labels,
        };
        if let Some(s) = self.silences.iter().find(|s| s.mutes(&view, ts)) {
            return Some(format!("silenced by {} ({})", s.id, s.comment));
        }
        if a.severity == Severity::Warning && !a.source.is_empty() {
            // Inhibition: an active critical on the same source mutes warnings.
            if let Some(list) = self.criticals.get(&a.source)
                && let Some(c) = list
                    .iter()
                    .map(|&c| &self.alerts[c as usize])
                    .find(|c| c.status.is_active())
            {
                return Some(format!(
                    "inhibited by critical alert {} on {}",
                    c.id, c.source
                ));
            }
        }
        None
    }

    fn join_group(&mut self, i: u32, ts: f64) {
        let a = &self.alerts[i as usize];
        let key = correlate::group_key(&self.config.group_by, &a.source, &a.metric, &a.labels);
        let window = self.config.group_window_seconds;
        let gi = match self.open_groups.get(&key) {
            Some(&gi) if correlate::open_at(self.groups[gi].last_activity, ts, window) => gi,
            _ => {
                self.counters.next_group += 1;
                let g = Group {
                    id: format!("g-{}", self.counters.next_group),
                    key: key.clone(),
                    members: Vec::new(),
                    metrics: Vec::new(),
                    max_severity: a.severity.name().to_string(),
                    started_at: ts,
                    last_activity: ts,
                };
                self.group_ids.insert(g.id.clone(), self.groups.len());
                self.groups.push(g);
                let gi = self.groups.len() - 1;
                self.open_groups.insert(key, gi);
                gi
            }
        };
        let (id, metric, sev) = (a.id.clone(), a.metric.clone(), a.severity);
        let g = &mut self.groups[gi];
        // A group holds its current incident: members that resolved leave
        // it, so a long-lived group stays as small as what is still active.
        let (alerts, ids) = (&self.alerts, &self.alert_ids);
        g.members.retain(|m| {
            ids.get(m)
                .is_some_and(|&x| alerts[x as usize].status.is_active())
        });
        g.members.push(id);
        if !g.metrics.contains(&metric) {
            g.metrics.push(metric);
        }
        if Severity::parse(&g.max_severity).is_none_or(|m| sev > m) {
            g.max_severity = sev.name().to_string();
        }
        g.last_activity = g.last_activity.max(ts);
        let gid = g.id.clone();
        let size = g.members.len();
        // The group-size factor stops growing at GROUP_FACTOR_CAP + 1
        // members; beyond that only the newcomer needs a priority, which
        // keeps a long-lived group from costing O(members) per alert.
        let members = if size <= priority::GROUP_FACTOR_CAP + 1 {
            g.members.clone()
        } else {
            vec![g.members[size - 1].clone()]
        };
        self.mark_group(gi);
        self.alerts[i as usize].group_id = Some(gid);
        for m in members {
            if let Some(&mi) = self.alert_ids.get(&m) {
                self.reprioritise(mi, size);
                self.mark_alert(mi);
            }
        }
    }

    fn reprioritise(&mut self, i: u32, group_size: usize) {
        let a = &self.alerts[i as usize];
        let (p, f) = priority::compute(
            &PriorityInput {
                severity: a.severity,
                value: a.first_value,
                threshold: a.threshold,
                anomaly_score: if a.rule_id.starts_with("dynamic:") {
                    a.anomaly_score
                } else {
                    0.0
                },
                labels: &a.labels,
                at: a.started_at,
                group_size,
            },
            &self.config.business_hours,
        );
        let a = &mut self.alerts[i as usize];
        a.priority = p;
        a.priority_factors = f;
    }

    fn mark_alert(&mut self, i: u32) {
        let i = i as usize;
        if self.dirty_alert_flags.len() <= i {
            self.dirty_alert_flags.resize(i + 1, false);
        }
        if !self.dirty_alert_flags[i] {
            self.dirty_alert_flags[i] = true;
            self.dirty_alerts.push(i as u32);
        }
    }

    fn mark_group(&mut self, gi: usize) {
        if !self.dirty_groups.contains(&gi) {
            self.dirty_groups.push(gi);
        }
    }

    fn resolve_index(&mut self, i: u32, at: f64, by: &str, note: Option<String>) {
        let a = &mut self.alerts[i as usize];
        if a.status == Status::Resolved {
            return;
        }
        let was_visible = a.status != Status::Silenced;
        a.transition(Status::Resolved, at, by, note);
        let fp = a.fingerprint;
        self.dedup.remove(fp, i as usize);
        self.open -= 1;
        self.counters.resolved += 1;
        if was_visible {
            self.events.push(AlertEvent::Resolved(i));
        }
        self.mark_alert(i);
    }

    // ---- lifecycle by people ---------------------------------------------

    fn index_of(&self, alert_id: &str) -> Result<u32, EngineError> {
        self.alert_ids
            .get(alert_id)
            .copied()
            .ok_or_else(|| EngineError::NotFound {
                what: "alert",
                id: alert_id.to_string(),
            })
    }

    /// Acknowledges a firing alert.
    pub fn acknowledge(
        &mut self,
        alert_id: &str,
        user: &str,
        at: f64,
    ) -> Result<&Alert, EngineError> {
        let i = self.index_of(alert_id)?;
        let a = &mut self.alerts[i as usize];
        match a.status {
            Status::Firing => a.transition(Status::Acknowledged, at, user, None),
            Status::Acknowledged => {}
            other => {
                return Err(invalid(
                    "alert_id",
                    format!(
                        "alert {alert_id} is {}; only firing alerts can be acknowledged",
                        other.name()
                    ),
                ));
            }
        }
        self.mark_alert(i);
        Ok(&self.alerts[i as usize])
    }

    /// Resolves an alert by hand.
    pub fn resolve(
        &mut self,
        alert_id: &str,
        user: &str,
        note: Option<String>,
        at: f64,
    ) -> Result<&Alert, EngineError> {
        let i = self.index_of(alert_id)?;
        if self.alerts[i as usize].status == Status::Resolved {
            return Err(invalid(
                "alert_id",
                format!("alert {alert_id} is already resolved"),
            ));
        }
        self.resolve_index(i, at, user, note);
        Ok(&self.alerts[i as usize])
    }

    /// An alert by index.
    pub fn alert(&self, i: u32) -> Option<&Alert> {
        self.alerts.get(i as usize)
    }

    /// An alert by id.
    pub fn alert_by_id(&self, id: &str) -> Option<&Alert> {
        self.alert_ids
            .get(id)
            .and_then(|&i| self.alerts.get(i as usize))
    }

    /// Every alert (oldest first).
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// Every group (oldest first).
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Events raised since the last call.
    pub fn take_events(&mut self) -> Vec<AlertEvent> {
        std::mem::take(&mut self.events)
    }

    // ---- silences and policies -------------------------------------------

    /// Adds a silence; returns its id.
    pub fn add_silence(&mut self, mut s: Silence) -> String {
        self.counters.next_silence += 1;
        s.id = format!("s-{}", self.counters.next_silence);
        let id = s.id.clone();
        self.definitions.push(Write::Silence(s.clone()));
        self.silences.push(s);
        id
    }

    /// Expires a silence now; returns it.
    pub fn expire_silence(&mut self, id: &str, at: f64) -> Result<&Silence, EngineError> {
        let s = self
            .silences
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| EngineError::NotFound {
                what: "silence",
                id: id.to_string(),
            })?;
        s.expired = true;
        s.ends_at = s.ends_at.min(at);
        self.definitions.push(Write::Silence(s.clone()));
        Ok(s)
    }

    /// Every silence.
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// Sets the escalation policy of a severity.
    pub fn set_policy(&mut self, severity: Severity, policy: Policy) {
        self.definitions
            .push(Write::Policy(severity, policy.clone()));
        self.policies.insert(severity, policy);
    }

    /// Every policy.
    pub fn policies(&self) -> &BTreeMap<Severity, Policy> {
        &self.policies
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    // ---- persistence -----------------------------------------------------

    /// Records a changed definition for the next save.
    pub(crate) fn definitions_changed(&mut self, w: Write) {
        self.definitions.push(w);
    }

    /// The definitions changed since the last call, to save beside
    /// [`Engine::take_changes`].
    pub fn take_definitions(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.definitions)
    }

    /// What changed since the last call, for one store transaction.
    pub fn take_changes(&mut self) -> Changes {
        let mut c = Changes {
            counters: self.counters.clone(),
            ..Default::default()
        };
        for i in std::mem::take(&mut self.dirty_alerts) {
            self.dirty_alert_flags[i as usize] = false;
            c.alerts.push(self.alerts[i as usize].clone());
        }
        for gi in std::mem::take(&mut self.dirty_groups) {
            c.groups.push(self.groups[gi].clone());
        }
        for sid in std::mem::take(&mut self.dirty_series) {
            let s = &mut self.series[sid as usize];
            s.dirty = false;
            let metric = self.metrics[s.metric as usize].name.clone();
            let key = series_key(&metric, &s.source, &s.labels);
            if let Some(day) = s.detector.as_mut().and_then(|d| d.take_day_changes()) {
                c.day.push((key.clone(), day));
            }
            let journal = s.detector.as_mut().and_then(|d| d.take_journal());
            // An `auto` series whose timers did not move keeps its record:
            // only the point count in it is behind, and loading counts the
            // journal. A new detector or a snapshot (`reset`) rewrites it.
            let record = std::mem::take(&mut s.record_dirty)
                || !matches!(s.detector, Some(DetectorState::Auto(_)))
                || journal.as_ref().is_some_and(|j| j.reset);
            // Nothing loads the series of a metric no rule or threshold
            // watches (their rows were deleted with the last of them).
            let record = record && self.metrics[s.metric as usize].watched();
            if let Some(j) = journal {
                c.journal.push((key.clone(), j));
            }
            if !record {
                continue;
            }
            c.series.push((
                key,
                SeriesRecord {
                    metric,
                    source: s.source.clone(),
                    labels: s.labels.clone(),
                    detector: s.detector.as_ref().map(DetectorState::to_save),
                    det_state: s.det_state.clone(),
                    rule_states: s.rule_states.clone(),
                },
            ));
        }
        c
    }

    /// Restores state loaded from the store (rules and detectors first).
    pub fn restore(&mut self, loaded: Loaded) {
        let Loaded {
            counters,
            alerts,
            groups,
            series,
            mut day,
            mut snapshots,
            mut journal,
            silences,
            policies,
        } = loaded;
        self.counters = counters;
        for a in alerts {
            let i = self.alerts.len() as u32;
            self.alert_ids.insert(a.id.clone(), i);
            if a.status != Status::Resolved {
                self.dedup.insert(a.fingerprint, i as usize);
                self.open += 1;
            }
            self.alerts.push(a);
        }
        for i in 0..self.alerts.len() as u32 {
            if self.alerts[i as usize].status.is_active() {
                self.note_critical(i);
            }
        }
        for g in groups {
            self.open_groups.insert(g.key.clone(), self.groups.len());
            self.group_ids.insert(g.id.clone(), self.groups.len());
            self.groups.push(g);
        }
        for rec in series {
            let Some(sid) = self.series_for(&rec.metric, &rec.source, &rec.labels) else {
                continue;
            };
            let m = self.metrics[self.series[sid as usize].metric as usize].clone();
            let s = &mut self.series[sid as usize];
            s.detector = rec.detector.filter(|_| m.dynamic.is_some());
            if let (Some(det), Some(spec)) = (s.detector.as_mut(), m.dynamic.as_ref()) {
                let key = series_key(&m.name, &s.source, &s.labels);
                let rows = journal.remove(&key).unwrap_or_default();
                det.restore_journal(&spec.params, snapshots.remove(&key).as_deref(), &rows);
            }
            if let Some(det) = s.detector.as_mut() {
                match day.remove(&series_key(&m.name, &s.source, &s.labels)) {
                    Some(cells) => det.restore_day(cells),
                    // Written with the profile inline: store it as rows at
                    // the next save, before the state is rewritten without.
                    None => {
                        if det.mark_day_unsaved() {
                            s.mark_dirty(sid, true, &mut self.dirty_series);
                        }
                    }
                }
            }
            s.generation = m.generation;
            s.det_state.pending_since = rec.det_state.pending_since;
            s.det_state.clear_since = rec.det_state.clear_since;
            for mut st in rec.rule_states {
                if let Some(&slot) = self.rule_slots.get(&st.rule_id)
                    && let Some(rule) = self.rules[slot as usize].as_ref()
                {
                    st.slot = slot;
                    st.fp = dedup::fingerprint(
                        &st.rule_id,
                        &m.name,
                        &s.source,
                        &with_rule_labels(&s.labels, &rule.spec.labels),
                    );
                    s.rule_states.push(st);
                }
            }
        }
        self.silences = silences
            .into_iter()
            .filter_map(|mut s| {
                s.matchers = s
                    .matchers
                    .into_iter()
                    .map(|m| m.compiled())
                    .collect::<Result<_, _>>()
                    .ok()?;
                Some(s)
            })
            .collect();
        self.policies = policies.into_iter().collect();
    }
}

/// The open (not resolved) alert of a fingerprint.
fn open_alert(dedup: &DedupIndex, alerts: &[Alert], fp: u64) -> Option<u32> {
    dedup
        .get(fp)
        .filter(|&i| alerts.get(i).is_some_and(|a| a.status != Status::Resolved))
        .map(|i| i as u32)
}

/// Longest alert title, in characters: a template repeating `{labels.x}`
/// rendered a 100 MB title before templates and labels were bounded, and
/// even bounded ones multiply (2,048 characters of `{labels.x}` by a 1 KB
/// label).
pub const MAX_TITLE_CHARS: usize = 512;
/// Longest alert description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// `s` cut to `max` characters, ending with `…` when cut.
fn clip(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.pop();
        s.push('…');
    }
    s
}

/// Batches with at least this many learned points are observed on two
/// threads ([`Engine::observe_sorted`]); below it, starting a thread costs
/// more than it saves.
const PARALLEL_POINTS: usize = 2_048;

/// Where `order` (sorted by series) is cut for two threads: where the
/// series holding its middle point starts or, when that series starts the
/// batch, where it ends; `order.len()` (no cut) for a short batch, a single
/// series, or a machine with one core.
fn parallel_split(order: &[(SeriesId, u32)]) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if order.len() < PARALLEL_POINTS || cores < 2 {
        return order.len();
    }
    let mid = order.len() / 2;
    let sid = order[mid].0;
    // The first point of the series at the middle, or the one after it.
    let start = order[..mid].partition_point(|&(s, _)| s < sid);
    if start > 0 {
        start
    } else {
        order.partition_point(|&(s, _)| s <= sid)
    }
}

/// [`Engine::observe_learned`] on one series (`metrics`: the engine's).
fn observe_in(
    series: &mut Series,
    metrics: &[MetricEntry],
    value: f64,
    ts: f64,
) -> Option<Verdict> {
    let entry = &metrics[series.metric as usize];
    let spec = entry.dynamic.as_ref()?;
    if series.detector.is_none() || series.generation != entry.generation {
        series.detector = Some(DetectorState::new(&spec.params));
        series.generation = entry.generation;
    }
    let det = series.detector.as_mut()?;
    Some(det.observe(&spec.params, ts.floor() as i64, value))
}

/// The store key of a series.
pub fn series_key(metric: &str, source: &str, labels: &[(String, String)]) -> String {
    let mut k = String::with_capacity(metric.len() + source.len() + 16);
    k.push_str(metric);
    k.push('\u{1f}');
    k.push_str(source);
    for (a, b) in labels {
        k.push('\u{1f}');
        k.push_str(a);
        k.push('=');
        k.push_str(b);
    }
    k
}

fn with_rule_labels(
    series: &[(String, String)],
    rule: &[(String, String)],
) -> Vec<(String, String)> {
    if rule.is_empty() {
        return series.to_vec();
    }
    let mut v: Vec<(String, String)> = series.to_vec();
    for (k, val) in rule {
        match v.iter_mut().find(|(x, _)| x == k) {
            Some(slot) => slot.1 = val.clone(),
            None => v.push((k.clone(), val.clone())),
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::{PARALLEL_POINTS, SeriesRecord, parallel_split};

    #[test]
    fn a_series_row_leaves_unset_timers_out_and_rows_with_nulls_still_read() {
        let legacy = r#"{"metric":"m0","source":"","labels":[],"detector":null,"det_state":{"rule_id":"dynamic:m0","pending_since":null,"clear_since":null},"rule_states":[{"rule_id":"r0","pending_since":1.5,"clear_since":null}]}"#;
        let row: SeriesRecord = serde_json::from_str(legacy).expect("a row with nulls reads");
        let text = serde_json::to_string(&row).expect("serialises");
        assert_eq!(
            text,
            r#"{"metric":"m0","source":"","labels":[],"det_state":{"rule_id":"dynamic:m0"},"rule_states":[{"rule_id":"r0","pending_since":1.5}]}"#
        );
        let again: SeriesRecord = serde_json::from_str(&text).expect("the short row reads");
        assert_eq!(serde_json::to_string(&again).expect("serialises"), text);
        assert_eq!(again.rule_states[0].pending_since, Some(1.5));
        assert_eq!(again.det_state.clear_since, None);
    }

    #[test]
    fn a_long_batch_is_cut_at_the_series_boundary_nearest_its_middle() {
        let order = |series: &[(u32, usize)]| -> Vec<(u32, u32)> {
            let mut out = Vec::new();
            for &(sid, n) in series {
                out.extend((0..n).map(|k| (sid, k as u32)));
            }
            out
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cut = |o: &[(u32, u32)]| parallel_split(o);
        // Short, or one series: no cut.
        let short = order(&[(0, 100), (1, 100)]);
        assert_eq!(cut(&short), short.len());
        let one = order(&[(7, 3 * PARALLEL_POINTS)]);
        assert_eq!(cut(&one), one.len());
        if cores < 2 {
            return;
        }
        // The middle falls inside series 1: cut where it starts.
        let even = order(&[(0, 1_500), (1, 1_000), (2, 1_500)]);
        assert_eq!(cut(&even), 1_500);
        // The middle falls inside the first series: cut after it.
        let first = order(&[(3, 3_000), (4, 10), (5, 10)]);
        assert_eq!(cut(&first), 3_000);
    }
}
