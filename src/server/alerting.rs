//! MCP adapters of the alerting toolset: validate arguments, run the engine
//! (inline; it switches to blocking mode where it waits), shape results.
//! All behaviour lives in `crate::alerting`.

use std::collections::BTreeMap;

use super::args::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SmartServer;
use super::budget::AnswerBudget;
use super::error::ToolError;
use super::output::{Summarized, Summary, count, list_some, output_schema};
use super::transport::bulk_args::{BulkParams, input_schema};
use crate::alerting::engine::{DynamicSpec, EngineConfig, PointOutcome, RuleSpec};
use crate::alerting::escalate::{Level, Policy};
use crate::alerting::limits::{self, MAX_NAME, MAX_NOTE};
use crate::alerting::model::{Alert, Severity, Status};
use crate::alerting::queries::{AlertFilter, BatchPoint};
use crate::alerting::settings::ConfigPatch;
use crate::alerting::silence::{MatchOp, Matcher, Silence};
use crate::alerting::threshold::{DetectorParams, Direction, Method, ValueRange, learnable};
use crate::alerting::{AlertError, Engine, EngineError};

/// Most points one `check_metrics` call takes.
pub const MAX_POINTS: usize = 10_000;
/// Most alerts one `list_alerts` page holds.
pub const MAX_PAGE: usize = 500;

// ---- shared argument and result types ---------------------------------------

/// A time: RFC 3339 text (`2026-01-05T10:00:00Z`) or Unix seconds (number).
#[derive(Debug, Clone)]
pub enum TimeArg {
    /// Unix seconds.
    Seconds(f64),
    /// RFC 3339 (also `YYYY-MM-DD HH:MM:SS`, taken as UTC).
    Text(String),
}

// Hand-written rather than `#[serde(untagged)]`: untagged enums buffer every
// value into serde's `Content` first, once per point of a 10,000-point call.
impl<'de> Deserialize<'de> for TimeArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TimeArg;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("Unix seconds (a number) or RFC 3339 text")
            }
            fn visit_f64<E>(self, v: f64) -> Result<TimeArg, E> {
                Ok(TimeArg::Seconds(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<TimeArg, E> {
                Ok(TimeArg::Seconds(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<TimeArg, E> {
                Ok(TimeArg::Seconds(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<TimeArg, E> {
                Ok(TimeArg::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<TimeArg, E> {
                Ok(TimeArg::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

// Hand-written so the schema is one inline `type: [string, number]` rather
// than an `anyOf` behind a `$ref`, which some MCP clients cannot resolve.
impl JsonSchema for TimeArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TimeArg".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "number"],
            "description": "RFC 3339 text (2026-01-05T10:00:00Z) or Unix seconds"
        })
    }
}

use crate::time::now_seconds as now;

/// What a metric value may be (see `threshold::MAX_ABS_VALUE`).
const VALUE_RANGE: &str = "must be a finite number between -1e100 and 1e100";

fn parse_time(field: &str, t: &Option<TimeArg>) -> Result<f64, ToolError> {
    match t {
        None => Ok(now()),
        Some(TimeArg::Seconds(s)) if s.is_finite() && s.abs() < 1e11 => Ok(*s),
        Some(TimeArg::Seconds(s)) => Err(ToolError::invalid(
            field,
            format!(
                "{s} is not a time in Unix seconds: accepted are finite numbers between -1e11 and 1e11 (a value in milliseconds must be divided by 1000), or RFC 3339 text"
            ),
        )),
        Some(TimeArg::Text(s)) => parse_time_text(s).ok_or_else(|| {
            ToolError::invalid(
                field,
                format!(
                    "{} is not a time; use RFC 3339 like 2026-01-05T10:00:00Z or Unix seconds",
                    crate::quote::quote(s)
                ),
            )
        }),
    }
}

use crate::time::{parse_lenient_seconds as parse_time_text, rfc3339_seconds as fmt_time};

/// A label map as the engine's list (checked by `limits::labels`).
fn labels_vec(labels: Option<BTreeMap<String, String>>) -> Vec<(String, String)> {
    labels.map(|l| l.into_iter().collect()).unwrap_or_default()
}

/// A domain limit's refusal as the tool's error naming the field.
fn within<T>(r: Result<T, EngineError>) -> Result<T, ToolError> {
    r.map_err(|e| engine_err(e.into()))
}

fn severity_arg(field: &str, s: &str) -> Result<Severity, ToolError> {
    Severity::parse(s)
        .ok_or_else(|| ToolError::invalid(field, "one of info, warning, error, critical"))
}

fn engine_err(e: AlertError) -> ToolError {
    match e {
        AlertError::Engine(EngineError::Invalid { field, message }) => {
            ToolError::invalid(field, message)
        }
        AlertError::Engine(EngineError::NotFound { what, id }) => {
            let field = match what {
                "alert" => "alert_id",
                "silence" => "silence_id",
                _ => "rule_id",
            };
            ToolError::invalid(field, format!("no {what} {}", crate::quote::quote(&id)))
        }
        AlertError::Store(m) => ToolError::failed(format!("could not save alerting state: {m}")),
    }
}

/// One factor of an alert's priority.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FactorOut {
    /// `severity`, `distance`, `anomaly_score`, `labels`, `business_hours` or `group_size`.
    pub factor: String,
    /// Points it adds to the priority.
    pub points: f64,
    /// What was seen.
    pub detail: String,
}

/// One lifecycle step.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TransitionOut {
    /// Status entered: firing, acknowledged, resolved or silenced.
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`system` for automatic steps).
    pub by: String,
    /// Why, when known.
    pub note: Option<String>,
}

/// An alert.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertOut {
    /// Alert id (`a-<n>`), for acknowledge_alert and resolve_alert.
    pub alert_id: String,
    /// The rule that fired, or `dynamic:<metric>` for a learned threshold.
    pub rule_id: String,
    /// Metric name.
    pub metric: String,
    /// Source of the point (empty when none).
    pub source: String,
    /// Labels of the point plus the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// info, warning, error or critical.
    pub severity: String,
    /// firing, acknowledged, resolved or silenced.
    pub status: String,
    /// Rendered title.
    pub title: String,
    /// Rendered description.
    pub description: String,
    /// Threshold crossed, when there is one.
    pub threshold: Option<f64>,
    /// Value that first fired it.
    pub first_value: f64,
    /// Latest value folded into it.
    pub last_value: f64,
    /// Highest anomaly score seen (learned thresholds; 1 for static rules).
    pub anomaly_score: f64,
    /// Points folded into this alert (1 + deduplicated repeats).
    pub count: u64,
    /// When it first fired (RFC 3339).
    pub started_at: String,
    /// When it last repeated (RFC 3339).
    pub last_seen: String,
    /// Correlation group id.
    pub group_id: Option<String>,
    /// Priority 0-100 (sum of the factors).
    pub priority: f64,
    /// What the priority is made of.
    pub priority_factors: Vec<FactorOut>,
    /// Why it is silenced, when it is.
    pub suppressed_reason: Option<String>,
    /// Every status change, oldest first.
    pub history: Vec<TransitionOut>,
}

impl From<&Alert> for AlertOut {
    fn from(a: &Alert) -> Self {
        AlertOut {
            alert_id: a.id.clone(),
            rule_id: a.rule_id.clone(),
            metric: a.metric.clone(),
            source: a.source.clone(),
            labels: a.labels.iter().cloned().collect(),
            severity: a.severity.name().into(),
            status: a.status.name().into(),
            title: a.title.clone(),
            description: a.description.clone(),
            threshold: a.threshold,
            first_value: a.first_value,
            last_value: a.last_value,
            anomaly_score: a.anomaly_score,
            count: a.count,
            started_at: fmt_time(a.started_at),
            last_seen: fmt_time(a.last_seen),
            group_id: a.group_id.clone(),
            priority: a.priority,
            priority_factors: a
                .priority_factors
                .iter()
                .map(|f| FactorOut {
                    factor: f.factor.clone(),
                    points: f.points,
                    detail: f.detail.clone(),
                })
                .collect(),
            suppressed_reason: a.suppressed_reason.clone(),
            history: a
                .history
                .iter()
                .map(|t| TransitionOut {
                    status: t.status.name().into(),
                    at: fmt_time(t.at),
                    by: t.by.clone(),
                    note: t.note.clone(),
                })
                .collect(),
        }
    }
}

// ---- rules --------------------------------------------------------------------

/// Arguments of `add_alert_rule`.
// Field docs are the schema's descriptions as agents read them: `<name>` stays verbatim.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRuleArgs {
    /// Unique id of the rule; adding an existing id replaces that rule.
    pub rule_id: String,
    /// Metric the rule watches, e.g. `api.latency_ms`.
    pub metric_name: String,
    /// E.g. `value > 80 and labels.env == "prod"`: comparisons, and/or/not, abs(), + - * /
    /// over value, labels.<name>, metric, source.
    pub condition: String,
    /// info, warning, error or critical.
    pub severity: String,
    /// Fire once the condition has held this many seconds (default 0).
    pub for_seconds: Option<f64>,
    /// Hysteresis: a firing alert clears only when this holds (`value < 70`); default: when
    /// `condition` stops holding.
    pub recovery_condition: Option<String>,
    /// Alert title; placeholders {metric}, {value}, {threshold}, {source}, {severity}, {labels.x}.
    pub title_template: Option<String>,
    /// Alert description, same placeholders.
    pub description_template: Option<String>,
    /// Labels added to this rule's alerts (e.g. {"team": "db"}).
    pub labels: Option<BTreeMap<String, String>>,
    /// Seconds clear before auto-resolve (default: the engine's).
    pub resolve_after_seconds: Option<f64>,
}

/// A stored static rule.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RuleOut {
    /// Rule id.
    pub rule_id: String,
    /// Metric it watches.
    pub metric_name: String,
    /// Firing condition.
    pub condition: String,
    /// Severity of its alerts.
    pub severity: String,
    /// Seconds the condition must hold.
    pub for_seconds: f64,
    /// Clearing condition, when set.
    pub recovery_condition: Option<String>,
    /// Title template, when set.
    pub title_template: Option<String>,
    /// Description template, when set.
    pub description_template: Option<String>,
    /// Labels added to its alerts.
    pub labels: BTreeMap<String, String>,
    /// Seconds clear before auto-resolve, when set on the rule.
    pub resolve_after_seconds: Option<f64>,
}

impl From<&RuleSpec> for RuleOut {
    fn from(s: &RuleSpec) -> Self {
        RuleOut {
            rule_id: s.rule_id.clone(),
            metric_name: s.metric_name.clone(),
            condition: s.condition.clone(),
            severity: s.severity.name().into(),
            for_seconds: s.for_seconds,
            recovery_condition: s.recovery_condition.clone(),
            title_template: s.title_template.clone(),
            description_template: s.description_template.clone(),
            labels: s.labels.iter().cloned().collect(),
            resolve_after_seconds: s.resolve_after_seconds,
        }
    }
}

/// Result of `add_alert_rule`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AddRuleOut {
    /// The rule as stored.
    pub rule: RuleOut,
    /// Whether an existing rule with this id was replaced.
    pub replaced: bool,
}

/// Arguments of `add_dynamic_threshold`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDynamicArgs {
    /// Metric to learn; each (source, labels) combination gets its own baseline.
    pub metric_name: String,
    /// auto (default; best on NAB, see docs/detection.md), daily (the former auto), zscore,
    /// ewma, mad or seasonal (per hour of day).
    pub method: Option<String>,
    /// Points in the rolling baseline (default 100, 2-100000).
    pub window_size: Option<u64>,
    /// Robust standard deviations from the baseline that alert (default 3).
    pub sensitivity: Option<f64>,
    /// up, down or both (default both).
    pub direction: Option<String>,
    /// Points to learn from before alerting (default 30).
    pub min_samples: Option<u64>,
    /// Severity of its alerts (default warning).
    pub severity: Option<String>,
    /// Seconds back within the threshold before auto-resolve (default: the engine's).
    pub resolve_after_seconds: Option<f64>,
    /// Known range of the values (CPU: 0-100); only auto uses it.
    pub value_range: Option<ValueRangeArg>,
}

/// A known range of values.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct ValueRangeArg {
    /// Lowest value.
    pub min: f64,
    /// Highest value (> min).
    pub max: f64,
}

/// A stored learned threshold.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DynamicOut {
    /// Metric it learns.
    pub metric_name: String,
    /// Detector method.
    pub method: String,
    /// Baseline window (points).
    pub window_size: u64,
    /// Robust standard deviations that alert.
    pub sensitivity: f64,
    /// up, down or both.
    pub direction: String,
    /// Points before alerting.
    pub min_samples: u64,
    /// Severity of its alerts.
    pub severity: String,
    /// Rule id its alerts carry (`dynamic:<metric>`); remove_alert_rule takes it.
    pub rule_id: String,
    /// Points learned so far (all label sets).
    pub samples_seen: u64,
    /// The known range of values, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_range: Option<ValueRangeOut>,
}

/// A known range of values, as stored.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValueRangeOut {
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
}

fn dynamic_out(s: &DynamicSpec, seen: u64) -> DynamicOut {
    DynamicOut {
        metric_name: s.metric_name.clone(),
        method: s.params.method.name().into(),
        window_size: s.params.window_size as u64,
        sensitivity: s.params.sensitivity,
        direction: s.params.direction.name().into(),
        min_samples: s.params.min_samples as u64,
        severity: s.severity.name().into(),
        rule_id: format!("dynamic:{}", s.metric_name),
        samples_seen: seen,
        value_range: s.params.value_range.map(|r| ValueRangeOut {
            min: r.min,
            max: r.max,
        }),
    }
}

/// Result of `add_dynamic_threshold`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AddDynamicOut {
    /// The learned threshold as stored (learning restarts when it replaces one).
    pub detector: DynamicOut,
}

/// Arguments of `remove_alert_rule`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveRuleArgs {
    /// Rule id, or `dynamic:<metric>` to remove a learned threshold.
    pub rule_id: String,
}

/// Result of `remove_alert_rule`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RemoveRuleOut {
    /// The id removed.
    pub rule_id: String,
    /// Its open alerts, now resolved.
    pub resolved_alert_ids: Vec<String>,
}

/// Arguments of `list_alert_rules` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Result of `list_alert_rules`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListRulesOut {
    /// Static rules, by id.
    pub rules: Vec<RuleOut>,
    /// Learned thresholds, by metric.
    pub dynamic_thresholds: Vec<DynamicOut>,
}

// ---- checking points --------------------------------------------------------------

/// Arguments of `check_metric`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckMetricArgs {
    /// Metric name.
    pub metric_name: String,
    /// Observed value.
    pub value: f64,
    /// When it was observed (RFC 3339 or Unix seconds); default now.
    pub timestamp: Option<TimeArg>,
    /// Host or service it came from; alerts are grouped by it.
    pub source: Option<String>,
    /// Labels, e.g. {"env": "prod"}.
    pub labels: Option<BTreeMap<String, String>>,
}

/// Learned or static bounds for the point.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Bounds {
    /// Lowest value that would not alert (null when none applies).
    pub lower: Option<f64>,
    /// Highest value that would not alert (null when none applies).
    pub upper: Option<f64>,
}

/// Why an alert of the point was muted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Suppressed {
    /// The silence or inhibiting alert.
    pub reason: String,
}

/// Result of `check_metric`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckMetricOut {
    /// Alerts this point created or updated (dedup: a repeat updates count/last value).
    pub alerts: Vec<AlertOut>,
    /// How unusual the point is for its learned baseline, 0-1 (>= 0.5 alerts; 0 without one).
    pub anomaly_score: f64,
    /// The thresholds the point was judged against.
    pub thresholds: Bounds,
    /// Present when an alert of this point was silenced or inhibited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppressed>,
    /// Present when the point should have opened an alert but the open-alert
    /// cap was reached: why, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_refused: Option<String>,
}

/// One point of `check_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointArg {
    /// Metric name.
    #[schemars(with = "String")]
    pub metric_name: compact_str::CompactString,
    /// Observed value.
    pub value: f64,
    /// RFC 3339 or Unix seconds; default now.
    pub timestamp: Option<TimeArg>,
    /// Host or service it came from.
    pub source: Option<String>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
}

/// Arguments of `check_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckMetricsArgs {
    /// Up to 10,000 points, processed in order.
    pub points: Vec<PointArg>,
}

/// What one point of `check_metrics` produced.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PointResult {
    /// 0-1 (>= 0.5 alerts; 0 without a learned threshold).
    pub anomaly_score: f64,
    /// Alerts this point created or updated.
    pub alert_ids: Vec<String>,
}

/// Result of `check_metrics`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckMetricsOut {
    /// One entry per point, in order.
    pub results: Vec<PointResult>,
    /// Every alert the batch created or updated, once each, as it stands
    /// after the batch; the 1,000 of highest priority when there are more.
    pub alerts: Vec<AlertOut>,
    /// Alerts created or updated but left out of `alerts` (their ids are in
    /// `results`; `list_alerts` shows them).
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_omitted: usize,
    /// New alerts not opened because the open-alert cap was reached
    /// (`alert_stats` shows the cap); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_refused: usize,
    /// Points at the end of the batch whose entries in `results` did not
    /// fit the answer bound (`--max-answer-tokens`); they were checked all
    /// the same (their alerts are in `list_alerts`). Absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub results_omitted: usize,
}

/// Cuts a `check_metrics` answer to the answer bound: the alerts of highest
/// priority within about half of it, then as many leading `results` as fit.
fn fit_check_metrics(out: &mut CheckMetricsOut, budget: AnswerBudget) {
    let Some(max) = budget.max_tokens() else {
        return;
    };
    // Whether it all fits, without tokenizing a 10,000-result answer
    // whole: its alerts, then its results up to the bound.
    if budget.short(&*out) {
        return;
    }
    let alert_tokens = AnswerBudget::tokens_of(&out.alerts);
    let others = alert_tokens + 100;
    let fit = (others < max).then(|| budget.prefix(&out.results, others));
    if fit == Some(out.results.len()) {
        return;
    }
    // The alerts are cut only when their count above passes half the
    // bound; then they are ranked and counted again item by item.
    let mut cut = false;
    if !budget.within(alert_tokens, max / 2) {
        let mut order: Vec<usize> = (0..out.alerts.len()).collect();
        order.sort_by(|&a, &b| {
            out.alerts[b]
                .priority
                .total_cmp(&out.alerts[a].priority)
                .then(a.cmp(&b))
        });
        let ranked: Vec<&AlertOut> = order.iter().map(|&i| &out.alerts[i]).collect();
        let keep = budget.prefix(&ranked, max / 2);
        if keep < out.alerts.len() {
            let mut kept = vec![false; out.alerts.len()];
            order[..keep].iter().for_each(|&i| kept[i] = true);
            let mut i = 0;
            out.alerts.retain(|_| {
                i += 1;
                kept[i - 1]
            });
            out.alerts_omitted += order.len() - keep;
            cut = true;
        }
    }
    // With every alert kept, the results' prefix is the one counted above.
    let n = match fit {
        Some(n) if !cut => n,
        _ => budget.prefix(&out.results, AnswerBudget::tokens_of(&out.alerts) + 100),
    };
    if n < out.results.len() {
        out.results_omitted = out.results.len() - n;
        out.results.truncate(n);
    }
}

/// Most alerts one `check_metrics` answer shows.
const MAX_ANSWER_ALERTS: usize = 1000;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

// ---- listing and lifecycle ----------------------------------------------------------

/// Arguments of `list_alerts`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAlertsArgs {
    /// firing, acknowledged, resolved or silenced; default: active (firing and acknowledged).
    pub status: Option<String>,
    /// Only this severity: info, warning, error, critical.
    pub severity: Option<String>,
    /// Only alerts with at least this priority (0-100).
    pub min_priority: Option<f64>,
    /// Only members of this correlation group (at most 200 characters).
    pub group_id: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Result of `list_alerts`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListAlertsOut {
    /// Alerts, highest priority first (then newest).
    pub alerts: Vec<AlertOut>,
    /// Alerts matching in all pages.
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Arguments of `acknowledge_alert`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckArgs {
    /// Alert id (`a-<n>`; at most 200 characters).
    pub alert_id: String,
    /// Who takes it (`user` is accepted too).
    #[serde(alias = "user")]
    pub user_id: String,
    /// When (RFC 3339 or Unix seconds); default now.
    pub at: Option<TimeArg>,
}

/// Arguments of `resolve_alert`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveArgs {
    /// Alert id (`a-<n>`; at most 200 characters).
    pub alert_id: String,
    /// Who resolves it (default `unknown`; `user` is accepted too).
    #[serde(alias = "user")]
    pub user_id: Option<String>,
    /// Why / what was done (at most 2048 characters).
    pub note: Option<String>,
    /// When (RFC 3339 or Unix seconds); default now.
    pub at: Option<TimeArg>,
}

/// Result of acknowledge_alert and resolve_alert.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertResult {
    /// The alert after the change.
    pub alert: AlertOut,
}

// ---- escalation -------------------------------------------------------------------

/// One escalation level.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelArg {
    /// Seconds unacknowledged before this level applies.
    pub after_seconds: f64,
    /// Who to notify (people, rotations, channels).
    pub notify: Vec<String>,
}

/// Arguments of `set_escalation_policy`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyArgs {
    /// Severity the policy applies to: info, warning, error, critical.
    pub severity: String,
    /// Levels, in any order; an empty list removes escalation.
    pub levels: Vec<LevelArg>,
}

/// One escalation level as stored.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LevelOut {
    /// Seconds unacknowledged before it applies.
    pub after_seconds: f64,
    /// Who it notifies.
    pub notify: Vec<String>,
}

/// Result of `set_escalation_policy`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyOut {
    /// Severity.
    pub severity: String,
    /// Levels, by after_seconds.
    pub levels: Vec<LevelOut>,
}

/// Arguments of `escalations`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationsArgs {
    /// Moment to evaluate (RFC 3339 or Unix seconds); default now.
    pub at: Option<TimeArg>,
    /// Most escalations returned, 1-500 (default 100); `total` counts all.
    pub limit: Option<u64>,
}

/// Who must be notified for one alert.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EscalationOut {
    /// Alert id.
    pub alert_id: String,
    /// Its severity.
    pub severity: String,
    /// Its priority.
    pub priority: f64,
    /// Its title.
    pub title: String,
    /// Seconds it has gone unacknowledged at `at`.
    pub unacknowledged_seconds: f64,
    /// Level reached (1 = first).
    pub level: u64,
    /// Who must be notified now (the reached level's targets).
    pub notify: Vec<String>,
    /// Everyone notified so far (all reached levels).
    pub notified_so_far: Vec<String>,
    /// Seconds until the next level, absent at the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_level_in_seconds: Option<f64>,
}

/// Result of `escalations`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EscalationsOut {
    /// Moment evaluated (RFC 3339).
    pub at: String,
    /// Unacknowledged firing alerts that reached a level, highest priority
    /// first (at most `limit`, and within the answer bound).
    pub escalations: Vec<EscalationOut>,
    /// How many alerts reached a level in all.
    pub total: usize,
}

// ---- silences -----------------------------------------------------------------------

/// One label matcher.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherArg {
    /// Label name, or `metric`, `source`, `severity`, `rule_id`.
    pub label: String,
    /// `=`, `!=` or `=~` (regular expression, whole value).
    pub op: String,
    /// Value or pattern (at most 1024 characters).
    pub value: String,
}

/// Arguments of `silence_alerts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceArgs {
    /// All must match for an alert to be silenced.
    pub matchers: Vec<MatcherArg>,
    /// How long it lasts, seconds.
    pub duration_seconds: f64,
    /// Who creates it (`created_by` is accepted too).
    #[serde(alias = "created_by")]
    pub user_id: String,
    /// Why (at most 2048 characters).
    pub comment: String,
    /// Start, RFC 3339 or Unix seconds (default now).
    pub starts_at: Option<TimeArg>,
}

/// Result of `silence_alerts`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SilenceOut {
    /// Id for expire_silence.
    pub silence_id: String,
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End (RFC 3339).
    pub ends_at: String,
}

/// Arguments of `expire_silence`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireArgs {
    /// Silence id (`s-<n>`; at most 200 characters).
    pub silence_id: String,
}

/// Result of `expire_silence`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExpireOut {
    /// Silence id.
    pub silence_id: String,
    /// Now always true: it no longer applies.
    pub expired: bool,
}

// ---- stats and config -----------------------------------------------------------------

/// A correlation group.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GroupOut {
    /// Group id (filter list_alerts with it).
    pub group_id: String,
    /// group_by label values.
    pub key: String,
    /// Member alert ids.
    pub members: Vec<String>,
    /// One-line summary.
    pub summary: String,
    /// When its first member fired (RFC 3339).
    pub started_at: String,
}

/// Result of `alert_stats`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatsOut {
    /// Points of watched metrics (with a rule or learned threshold) checked since the store was created.
    pub points_checked: u64,
    /// Alerts created (not counting repeats).
    pub alerts_created: u64,
    /// Repeats folded into an existing alert (suppressed duplicates).
    pub deduplicated: u64,
    /// deduplicated / (alerts_created + deduplicated).
    pub deduplication_rate: f64,
    /// Alerts muted by a silence or inhibition when created.
    pub silenced: u64,
    /// Alerts resolved.
    pub resolved: u64,
    /// Active (firing or acknowledged) alerts by severity.
    pub active_by_severity: BTreeMap<String, u64>,
    /// Groups with at least one active alert, largest first (at most 20).
    pub groups: Vec<GroupOut>,
    /// Static rules.
    pub rules: u64,
    /// Learned thresholds.
    pub detectors: u64,
    /// Silences in force now.
    pub active_silences: u64,
    /// Alerts not resolved (firing, acknowledged, silenced).
    pub open_alerts: u64,
    /// Most open alerts (`--max-open-alerts`); at the cap a point opens no new alert.
    pub max_open_alerts: u64,
    /// New alerts not opened because the cap was reached.
    pub refused_at_cap: u64,
    /// Resolved alerts kept (the oldest beyond `--max-resolved-alerts` are deleted).
    pub resolved_kept: u64,
}

/// Arguments of `configure_alerting`; omitted fields keep their value.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigArgs {
    /// A repeat within this many seconds updates the open alert (default 300).
    pub dedup_window_seconds: Option<f64>,
    /// Alerts of one group key within this many seconds form one group (default 300).
    pub group_window_seconds: Option<f64>,
    /// Labels forming the group key, `metric` included (default ["source"]; at most 16).
    pub group_by: Option<Vec<String>>,
    /// Seconds a condition must stay clear before auto-resolve (default 0).
    pub resolve_after_seconds: Option<f64>,
    /// First business hour, 0-23 (default 9).
    pub business_hours_start: Option<u32>,
    /// Hour business ends, 1-24, exclusive (default 17).
    pub business_hours_end: Option<u32>,
    /// Business hours' time zone, minutes east of UTC (default 0).
    pub utc_offset_minutes: Option<i32>,
    /// Whether Saturday and Sunday are business days (default false).
    pub weekends: Option<bool>,
}

/// Result of `configure_alerting`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigOut {
    /// Dedup window, seconds.
    pub dedup_window_seconds: f64,
    /// Group window, seconds.
    pub group_window_seconds: f64,
    /// Group key labels.
    pub group_by: Vec<String>,
    /// Default auto-resolve delay, seconds.
    pub resolve_after_seconds: f64,
    /// Business hours: start hour.
    pub business_hours_start: u32,
    /// Business hours: end hour.
    pub business_hours_end: u32,
    /// Business hours: minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// Business hours include weekends.
    pub weekends: bool,
}

fn config_out(c: &EngineConfig) -> ConfigOut {
    ConfigOut {
        dedup_window_seconds: c.dedup_window_seconds,
        group_window_seconds: c.group_window_seconds,
        group_by: c.group_by.clone(),
        resolve_after_seconds: c.resolve_after_seconds,
        business_hours_start: c.business_hours.start_hour,
        business_hours_end: c.business_hours.end_hour,
        utc_offset_minutes: c.business_hours.utc_offset_minutes,
        weekends: c.business_hours.weekends,
    }
}

/// A duration in seconds between `min` and 100 years.
fn seconds(field: &str, x: f64, min: f64) -> Result<f64, ToolError> {
    crate::alerting::settings::seconds(field, x, min).map_err(|e| engine_err(e.into()))
}

// ---- text summaries (the `content` a model reads beside structuredContent) ----

/// Alerts listed in a summary before `(+N more)`.
const SUMMARY_ALERTS: usize = 5;

fn alert_line(a: &AlertOut) -> String {
    let repeats = if a.count > 1 {
        format!(", x{}", a.count)
    } else {
        String::new()
    };
    format!(
        "{} [{} {}, priority {:.0}{repeats}] {}",
        a.alert_id, a.severity, a.status, a.priority, a.title
    )
}

/// Alerts, highest priority first, as one line each (bounded).
fn alert_lines(alerts: &[AlertOut]) -> String {
    let mut sorted: Vec<&AlertOut> = alerts.iter().collect();
    sorted.sort_by(|x, y| y.priority.total_cmp(&x.priority));
    list_some(sorted.into_iter().map(alert_line), SUMMARY_ALERTS)
}

fn bound(b: Option<f64>) -> String {
    b.map_or_else(|| "none".into(), |x| format!("{x}"))
}

impl Summary for AddRuleOut {
    fn summary(&self) -> String {
        let r = &self.rule;
        format!(
            "rule `{}` {}: {} alerts ({}) when {}",
            r.rule_id,
            if self.replaced { "replaced" } else { "added" },
            r.metric_name,
            r.severity,
            r.condition
        )
    }
}

impl Summary for AddDynamicOut {
    fn summary(&self) -> String {
        let d = &self.detector;
        format!(
            "learned threshold on {} ({}, window {}, sensitivity {}, direction {}, alerts after {} samples); rule id `{}`",
            d.metric_name,
            d.method,
            d.window_size,
            d.sensitivity,
            d.direction,
            d.min_samples,
            d.rule_id
        )
    }
}

impl Summary for RemoveRuleOut {
    fn summary(&self) -> String {
        let mut s = format!("removed `{}`", self.rule_id);
        if !self.resolved_alert_ids.is_empty() {
            s.push_str(&format!(
                "; resolved {}: {}",
                count(self.resolved_alert_ids.len(), "open alert", "open alerts"),
                list_some(self.resolved_alert_ids.iter().cloned(), 10)
            ));
        }
        s
    }
}

impl Summary for ListRulesOut {
    fn summary(&self) -> String {
        format!(
            "{}: {}; {}: {}",
            count(self.rules.len(), "rule", "rules"),
            list_some(
                self.rules
                    .iter()
                    .map(|r| format!("{} ({}: {})", r.rule_id, r.metric_name, r.condition)),
                10
            ),
            count(
                self.dynamic_thresholds.len(),
                "learned threshold",
                "learned thresholds"
            ),
            list_some(
                self.dynamic_thresholds
                    .iter()
                    .map(|d| format!("{} ({})", d.metric_name, d.method)),
                10
            )
        )
    }
}

impl Summary for CheckMetricOut {
    fn summary(&self) -> String {
        let mut s = format!(
            "anomaly score {}, thresholds {}..{}; ",
            self.anomaly_score,
            bound(self.thresholds.lower),
            bound(self.thresholds.upper)
        );
        if self.alerts.is_empty() {
            s.push_str("no alert");
        } else {
            s.push_str(&format!(
                "{} created or updated: {}",
                count(self.alerts.len(), "alert", "alerts"),
                alert_lines(&self.alerts)
            ));
        }
        if let Some(x) = &self.suppressed {
            s.push_str(&format!("; suppressed: {}", x.reason));
        }
        if let Some(r) = &self.alert_refused {
            s.push_str(&format!("; {r}"));
        }
        s
    }
}

impl CheckMetricsOut {
    /// One line: points, new and updated alerts, the top alerts.
    fn summary_with(&self, new_alerts: u64) -> String {
        let flagged = self
            .results
            .iter()
            .filter(|r| !r.alert_ids.is_empty())
            .count();
        let updated = (self.alerts.len() as u64).saturating_sub(new_alerts);
        let mut s = format!(
            "{} checked ({} with an alert): {}, {} updated",
            count(self.results.len(), "point", "points"),
            flagged,
            count(new_alerts as usize, "new alert", "new alerts"),
            updated
        );
        if !self.alerts.is_empty() {
            s.push_str(&format!("; {}", alert_lines(&self.alerts)));
        }
        if self.alerts_refused > 0 {
            s.push_str(&format!(
                "; {} not opened: the open-alert cap is reached",
                count(self.alerts_refused, "alert", "alerts")
            ));
        }
        s
    }
}

impl Summary for ListAlertsOut {
    fn summary(&self) -> String {
        let mut s = format!(
            "{} of {} matching",
            count(self.alerts.len(), "alert", "alerts"),
            self.total
        );
        if !self.alerts.is_empty() {
            s.push_str(&format!(": {}", alert_lines(&self.alerts)));
        }
        if let Some(c) = &self.next_cursor {
            s.push_str(&format!("; next page: cursor {c}"));
        }
        s
    }
}

impl Summary for AlertResult {
    fn summary(&self) -> String {
        alert_line(&self.alert)
    }
}

impl Summary for PolicyOut {
    fn summary(&self) -> String {
        if self.levels.is_empty() {
            return format!("no escalation for {} alerts", self.severity);
        }
        format!(
            "escalation for {} alerts: {}",
            self.severity,
            list_some(
                self.levels.iter().map(|l| format!(
                    "after {} s notify {}",
                    l.after_seconds,
                    l.notify.join(" ")
                )),
                20
            )
        )
    }
}

impl Summary for EscalationsOut {
    fn summary(&self) -> String {
        if self.escalations.is_empty() {
            return format!("nobody to notify at {}", self.at);
        }
        format!(
            "at {}, {} to notify for: {}",
            self.at,
            count(self.total, "alert", "alerts"),
            list_some(
                self.escalations.iter().map(|x| format!(
                    "{} (level {}) -> {}",
                    x.alert_id,
                    x.level,
                    x.notify.join(" ")
                )),
                SUMMARY_ALERTS
            )
        )
    }
}

impl Summary for SilenceOut {
    fn summary(&self) -> String {
        format!(
            "silence {} from {} to {}",
            self.silence_id, self.starts_at, self.ends_at
        )
    }
}

impl Summary for ExpireOut {
    fn summary(&self) -> String {
        format!("silence {} expired", self.silence_id)
    }
}

impl Summary for StatsOut {
    fn summary(&self) -> String {
        let active: Vec<String> = self
            .active_by_severity
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(sev, n)| format!("{n} {sev}"))
            .collect();
        format!(
            "{} checked, {} created, {} deduplicated (rate {}); active: {}; {}, {}, {}, {}",
            count(self.points_checked as usize, "point", "points"),
            count(self.alerts_created as usize, "alert", "alerts"),
            self.deduplicated,
            self.deduplication_rate,
            if active.is_empty() {
                "none".to_string()
            } else {
                active.join(", ")
            },
            count(self.groups.len(), "group", "groups"),
            count(self.rules as usize, "rule", "rules"),
            count(
                self.detectors as usize,
                "learned threshold",
                "learned thresholds"
            ),
            count(
                self.active_silences as usize,
                "active silence",
                "active silences"
            )
        )
    }
}

impl Summary for ConfigOut {
    fn summary(&self) -> String {
        format!(
            "dedup window {} s, group window {} s by [{}], auto-resolve after {} s, business hours {}-{} at UTC{:+} min{}",
            self.dedup_window_seconds,
            self.group_window_seconds,
            self.group_by.join(", "),
            self.resolve_after_seconds,
            self.business_hours_start,
            self.business_hours_end,
            self.utc_offset_minutes,
            if self.weekends {
                ", weekends included"
            } else {
                ""
            }
        )
    }
}

impl SmartServer {
    /// Runs `f` on the alerting engine, saves, publishes the resulting bus
    /// events and waits until they are stored.
    async fn on_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, AlertError> + Send + 'static,
    ) -> Result<T, ToolError> {
        let svc = self.app.alerting.clone().ok_or_else(|| {
            ToolError::failed(
                self.app
                    .alerting_unavailable
                    .clone()
                    .unwrap_or_else(|| "the alerting toolset is not enabled".into()),
            )
        })?;
        // Inline on this worker: `with` switches to blocking mode itself
        // where it would wait (see `crate::alerting`). A panic is caught so
        // the client still gets an answer.
        let run = std::panic::AssertUnwindSafe(|| svc.with(f));
        let (out, events) = std::panic::catch_unwind(run)
            .map_err(|_| ToolError::failed("alerting task failed: it panicked (see the log)"))?
            .map_err(engine_err)?;
        // Awaited: an answered call's alert events are stored (handed over
        // without waiting, a kill -9 right after the answer lost them).
        self.app.publish_stored(events).await;
        Ok(out)
    }
}

#[tool_router(router = alerting_router, vis = "pub(crate)")]
impl SmartServer {
    /// Add (or replace) a static alert rule on a metric; a bad condition is rejected with the
    /// position of the error.
    #[tool(
        name = "add_alert_rule",
        output_schema = output_schema::<AddRuleOut>(),
        annotations(
            title = "Add alert rule",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn add_alert_rule(
        &self,
        Parameters(a): Parameters<AddRuleArgs>,
    ) -> Result<Summarized<AddRuleOut>, ToolError> {
        let spec = RuleSpec {
            severity: severity_arg("severity", &a.severity)?,
            rule_id: a.rule_id,
            metric_name: a.metric_name,
            condition: a.condition,
            for_seconds: a.for_seconds.unwrap_or(0.0),
            recovery_condition: a.recovery_condition,
            title_template: a.title_template,
            description_template: a.description_template,
            labels: labels_vec(a.labels),
            resolve_after_seconds: a.resolve_after_seconds,
        };
        within(spec.validate())?;
        let out = self
            .on_engine(move |e| {
                let replaced = e.rules().iter().any(|r| r.rule_id == spec.rule_id);
                e.add_rule(spec.clone()).map_err(AlertError::from)?;
                Ok(AddRuleOut {
                    rule: RuleOut::from(&spec),
                    replaced,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Learn a metric's normal range, per (source, labels), and alert on points outside it;
    /// nothing alerts before min_samples.
    #[tool(
        name = "add_dynamic_threshold",
        output_schema = output_schema::<AddDynamicOut>(),
        annotations(
            title = "Add learned threshold",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn add_dynamic_threshold(
        &self,
        Parameters(a): Parameters<AddDynamicArgs>,
    ) -> Result<Summarized<AddDynamicOut>, ToolError> {
        let method = match &a.method {
            None => Method::Auto,
            Some(m) => Method::parse(m).ok_or_else(|| {
                ToolError::invalid("method", "one of auto, daily, zscore, ewma, mad, seasonal")
            })?,
        };
        let direction = match &a.direction {
            None => Direction::Both,
            Some(d) => Direction::parse(d)
                .ok_or_else(|| ToolError::invalid("direction", "one of up, down, both"))?,
        };
        let severity = match &a.severity {
            None => Severity::Warning,
            Some(s) => severity_arg("severity", s)?,
        };
        let spec = DynamicSpec {
            metric_name: a.metric_name,
            params: DetectorParams {
                method,
                window_size: usize::try_from(a.window_size.unwrap_or(100)).unwrap_or(usize::MAX),
                sensitivity: a.sensitivity.unwrap_or(3.0),
                direction,
                min_samples: usize::try_from(a.min_samples.unwrap_or(30)).unwrap_or(usize::MAX),
                value_range: a.value_range.map(|r| ValueRange {
                    min: r.min,
                    max: r.max,
                }),
            },
            severity,
            resolve_after_seconds: a.resolve_after_seconds,
        };
        within(spec.validate())?;
        let out = self
            .on_engine(move |e| {
                e.add_dynamic(spec.clone());
                Ok(AddDynamicOut {
                    detector: dynamic_out(&spec, 0),
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Remove a static rule (or a learned threshold, by its `dynamic:<metric>` id). Its open
    /// alerts are resolved.
    #[tool(
        name = "remove_alert_rule",
        output_schema = output_schema::<RemoveRuleOut>(),
        annotations(
            title = "Remove alert rule",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn remove_alert_rule(
        &self,
        Parameters(a): Parameters<RemoveRuleArgs>,
    ) -> Result<Summarized<RemoveRuleOut>, ToolError> {
        within(limits::name("rule_id", &a.rule_id))?;
        let at = now();
        let out = self
            .on_engine(move |e| {
                let open = e.remove_any_rule(&a.rule_id, at)?;
                Ok(RemoveRuleOut {
                    rule_id: a.rule_id,
                    resolved_alert_ids: open,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// List static rules and learned thresholds.
    #[tool(
        name = "list_alert_rules",
        output_schema = output_schema::<ListRulesOut>(),
        annotations(
            title = "List alert rules",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn list_alert_rules(
        &self,
        Parameters(_a): Parameters<NoArgs>,
    ) -> Result<Summarized<ListRulesOut>, ToolError> {
        let out = self
            .on_engine(|e| {
                let seen = e.detector_samples();
                Ok(ListRulesOut {
                    rules: e.rules().into_iter().map(RuleOut::from).collect(),
                    dynamic_thresholds: e
                        .dynamics()
                        .into_iter()
                        .map(|d| dynamic_out(d, seen.get(&d.metric_name).copied().unwrap_or(0)))
                        .collect(),
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Check one metric point against its metric's rules and learned thresholds: the alerts
    /// created or updated, the anomaly score and the thresholds.
    #[tool(
        name = "check_metric",
        input_schema = input_schema::<CheckMetricArgs>(),
        output_schema = output_schema::<CheckMetricOut>(),
        annotations(
            title = "Check a metric point",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn check_metric(
        &self,
        BulkParams(a): BulkParams<CheckMetricArgs>,
    ) -> Result<Summarized<CheckMetricOut>, ToolError> {
        within(limits::name("metric_name", &a.metric_name))?;
        if !learnable(a.value) {
            return Err(ToolError::invalid("value", VALUE_RANGE));
        }
        if let Some(source) = &a.source {
            within(limits::chars("source", source, MAX_NAME))?;
        }
        let ts = parse_time("timestamp", &a.timestamp)?;
        let labels = labels_vec(a.labels.clone());
        within(limits::labels("labels", &labels))?;
        let out = self
            .on_engine(move |e| {
                let mut touched = Vec::new();
                let source = a.source.as_deref().unwrap_or("");
                let o = match e.series_for(&a.metric_name, source, &labels) {
                    Some(sid) => e.check(sid, a.value, ts, &mut touched),
                    None => PointOutcome::default(),
                };
                let alerts = touched
                    .iter()
                    .filter_map(|&i| e.alert(i))
                    .map(AlertOut::from)
                    .collect();
                Ok(CheckMetricOut {
                    alerts,
                    anomaly_score: score4(o.anomaly_score),
                    thresholds: Bounds {
                        lower: o.lower,
                        upper: o.upper,
                    },
                    suppressed: o.suppressed.map(|reason| Suppressed { reason }),
                    alert_refused: o.refused,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Check up to 10,000 points in order (batches, replays): each point's anomaly score and
    /// alert ids, and every alert created or updated.
    #[tool(
        name = "check_metrics",
        input_schema = input_schema::<CheckMetricsArgs>(),
        output_schema = output_schema::<CheckMetricsOut>(),
        annotations(
            title = "Check metric points",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn check_metrics(
        &self,
        BulkParams(a): BulkParams<CheckMetricsArgs>,
    ) -> Result<Summarized<CheckMetricsOut>, ToolError> {
        if a.points.len() > MAX_POINTS {
            return Err(ToolError::invalid(
                "points",
                format!("at most {MAX_POINTS} points per call; split the batch"),
            ));
        }
        let wall = now();
        let mut prepared = Vec::with_capacity(a.points.len());
        for (i, p) in a.points.iter().enumerate() {
            if p.metric_name.is_empty() || p.metric_name.len() > MAX_NAME {
                return Err(ToolError::invalid(
                    format!("points[{i}].metric_name"),
                    "must be a non-empty name of at most 200 characters",
                ));
            }
            if let Some(source) = p.source.as_deref().filter(|s| s.len() > MAX_NAME) {
                within(limits::chars(
                    &format!("points[{i}].source"),
                    source,
                    MAX_NAME,
                ))?;
            }
            if !learnable(p.value) {
                return Err(ToolError::invalid(
                    format!("points[{i}].value"),
                    VALUE_RANGE,
                ));
            }
            // Field names are spelled out only for an error: formatting
            // them for every point was a measurable part of a 10k-point call.
            let ts = match &p.timestamp {
                None => wall,
                t => parse_time("", t)
                    .or_else(|_| parse_time(&format!("points[{i}].timestamp"), t))?,
            };
            let labels = labels_vec(p.labels.clone());
            if limits::labels("", &labels).is_err() {
                within(limits::labels(&format!("points[{i}].labels"), &labels))?;
            }
            prepared.push((labels, ts));
        }
        let started = std::time::Instant::now();
        let n_points = a.points.len();
        let (out, new_alerts) = self
            .on_engine(move |e| {
                let points = a
                    .points
                    .iter()
                    .zip(prepared.iter())
                    .map(|(p, (labels, ts))| BatchPoint {
                        metric: &p.metric_name,
                        source: p.source.as_deref().unwrap_or(""),
                        labels,
                        value: p.value,
                        ts: *ts,
                    });
                let b = e.check_batch(points, MAX_ANSWER_ALERTS);
                let results = b
                    .scores
                    .iter()
                    .zip(&b.spans)
                    .map(|(s, span)| PointResult {
                        anomaly_score: score4(*s),
                        alert_ids: b.touched[span.clone()]
                            .iter()
                            .filter_map(|&i| e.alert(i).map(|x| x.id.clone()))
                            .collect(),
                    })
                    .collect();
                let alerts = b
                    .shown
                    .iter()
                    .filter_map(|&i| e.alert(i))
                    .map(AlertOut::from)
                    .collect();
                Ok((
                    CheckMetricsOut {
                        results,
                        alerts,
                        alerts_omitted: b.omitted,
                        alerts_refused: b.refused as usize,
                        results_omitted: 0,
                    },
                    b.created,
                ))
            })
            .await?;
        tracing::debug!(
            points = n_points,
            micros = started.elapsed().as_micros() as u64,
            "check_metrics engine and store done"
        );
        let mut summary = out.summary_with(new_alerts);
        let mut out = out;
        fit_check_metrics(&mut out, self.budget);
        if out.results_omitted > 0 || out.alerts_omitted > 0 {
            summary.push_str(&format!(
                "; the answer lists {} results and {} alerts (--max-answer-tokens): send fewer points per call, or see list_alerts",
                out.results.len(),
                out.alerts.len()
            ));
        }
        Ok(Summarized::new(out, summary))
    }

    /// List alerts, highest priority first, paged; default the active ones (firing,
    /// acknowledged).
    #[tool(
        name = "list_alerts",
        output_schema = output_schema::<ListAlertsOut>(),
        annotations(title = "List alerts", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_alerts(
        &self,
        Parameters(a): Parameters<ListAlertsArgs>,
    ) -> Result<Summarized<ListAlertsOut>, ToolError> {
        let status = match &a.status {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                ToolError::invalid("status", "one of firing, acknowledged, resolved, silenced")
            })?),
        };
        let severity = match &a.severity {
            None => None,
            Some(s) => Some(severity_arg("severity", s)?),
        };
        let limit = a.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE as u64 {
            return Err(ToolError::invalid("limit", format!("must be 1-{MAX_PAGE}")));
        }
        let offset: usize = match &a.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                ToolError::invalid("cursor", "pass the next_cursor of a previous page")
            })?,
        };
        if let Some(group) = &a.group_id {
            within(limits::chars("group_id", group, MAX_NAME))?;
        }
        let budget = self.budget;
        if let Some(p) = a.min_priority
            && !(0.0..=100.0).contains(&p)
        {
            return Err(ToolError::invalid("min_priority", "must be 0-100"));
        }
        let filter = AlertFilter {
            status,
            severity,
            min_priority: a.min_priority,
            group_id: a.group_id,
        };
        let out = self
            .on_engine(move |e| {
                let hits = e.list_alerts(&filter);
                let total = hits.len();
                let mut page: Vec<AlertOut> = hits
                    .iter()
                    .skip(offset)
                    .take(limit as usize)
                    .map(|x| AlertOut::from(*x))
                    .collect();
                // Within the answer bound; the rest is the next page.
                page.truncate(budget.prefix(&page, 100));
                let end = offset + page.len();
                Ok(ListAlertsOut {
                    alerts: page,
                    total: total as u64,
                    next_cursor: (end < total).then(|| end.to_string()),
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Acknowledge a firing alert: someone is on it, so escalation stops.
    #[tool(
        name = "acknowledge_alert",
        output_schema = output_schema::<AlertResult>(),
        annotations(
            title = "Acknowledge alert",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn acknowledge_alert(
        &self,
        Parameters(a): Parameters<AckArgs>,
    ) -> Result<Summarized<AlertResult>, ToolError> {
        within(limits::chars("alert_id", &a.alert_id, MAX_NAME))?;
        within(limits::name("user_id", &a.user_id))?;
        let at = parse_time("at", &a.at)?;
        let out = self
            .on_engine(move |e| {
                let alert = AlertOut::from(e.acknowledge(&a.alert_id, &a.user_id, at)?);
                Ok(AlertResult { alert })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Resolve an alert by hand (it also auto-resolves when its condition clears).
    #[tool(
        name = "resolve_alert",
        output_schema = output_schema::<AlertResult>(),
        annotations(
            title = "Resolve alert",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn resolve_alert(
        &self,
        Parameters(a): Parameters<ResolveArgs>,
    ) -> Result<Summarized<AlertResult>, ToolError> {
        within(limits::chars("alert_id", &a.alert_id, MAX_NAME))?;
        if let Some(u) = &a.user_id {
            within(limits::name("user_id", u))?;
        }
        if let Some(note) = &a.note {
            within(limits::chars("note", note, MAX_NOTE))?;
        }
        let at = parse_time("at", &a.at)?;
        let user = a.user_id.clone().unwrap_or_else(|| "unknown".into());
        let out = self
            .on_engine(move |e| {
                let alert = AlertOut::from(e.resolve(&a.alert_id, &user, a.note.clone(), at)?);
                Ok(AlertResult { alert })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Set the escalation policy of a severity: levels {after_seconds, notify}, judged
    /// against how long an alert has gone unacknowledged.
    #[tool(
        name = "set_escalation_policy",
        output_schema = output_schema::<PolicyOut>(),
        annotations(
            title = "Set escalation policy",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn set_escalation_policy(
        &self,
        Parameters(a): Parameters<PolicyArgs>,
    ) -> Result<Summarized<PolicyOut>, ToolError> {
        let severity = severity_arg("severity", &a.severity)?;
        let levels = a
            .levels
            .into_iter()
            .map(|l| Level {
                after_seconds: l.after_seconds,
                notify: l.notify,
            })
            .collect();
        let policy = within(Policy::validated(levels))?;
        let out = self
            .on_engine(move |e| {
                e.set_policy(severity, policy.clone());
                Ok(PolicyOut {
                    severity: severity.name().into(),
                    levels: policy
                        .levels
                        .iter()
                        .map(|l| LevelOut {
                            after_seconds: l.after_seconds,
                            notify: l.notify.clone(),
                        })
                        .collect(),
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Who must be notified at `at` (default now) for each unacknowledged firing alert,
    /// per its severity's escalation policy.
    #[tool(
        name = "escalations",
        output_schema = output_schema::<EscalationsOut>(),
        annotations(
            title = "Escalations due",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn escalations(
        &self,
        Parameters(a): Parameters<EscalationsArgs>,
    ) -> Result<Summarized<EscalationsOut>, ToolError> {
        let at = parse_time("at", &a.at)?;
        let limit = match a.limit {
            None => 100,
            Some(n @ 1..=500) => n as usize,
            Some(_) => return Err(ToolError::invalid("limit", "use 1 to 500")),
        };
        let budget = self.budget;
        let out = self
            .on_engine(move |e| {
                let (due, total) = e.escalations_due(at, limit);
                let mut list: Vec<EscalationOut> = due
                    .into_iter()
                    .map(|d| EscalationOut {
                        alert_id: d.alert.id.clone(),
                        severity: d.alert.severity.name().into(),
                        priority: d.alert.priority,
                        title: d.alert.title.clone(),
                        unacknowledged_seconds: d.unacknowledged_seconds,
                        level: d.level as u64,
                        notify: d.notify,
                        notified_so_far: d.notified_so_far,
                        next_level_in_seconds: d.next_level_in_seconds,
                    })
                    .collect();
                // Within the answer bound (the highest priorities stay).
                list.truncate(budget.prefix(&list, 100));
                Ok(EscalationsOut {
                    at: fmt_time(at),
                    escalations: list,
                    total,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Silence, for duration_seconds, alerts whose labels match every matcher; they are
    /// still recorded (list_alerts status=silenced) but not active.
    #[tool(
        name = "silence_alerts",
        output_schema = output_schema::<SilenceOut>(),
        annotations(
            title = "Silence alerts",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn silence_alerts(
        &self,
        Parameters(a): Parameters<SilenceArgs>,
    ) -> Result<Summarized<SilenceOut>, ToolError> {
        let mut matchers = Vec::with_capacity(a.matchers.len().min(limits::MAX_MATCHERS));
        for (i, m) in a.matchers.iter().enumerate().take(limits::MAX_MATCHERS + 1) {
            within(limits::matcher(i, &m.label, &m.value))?;
            let op = MatchOp::parse(&m.op).ok_or_else(|| {
                ToolError::invalid(format!("matchers[{i}].op"), "one of =, !=, =~")
            })?;
            matchers.push(
                Matcher::new(&m.label, op, &m.value)
                    .map_err(|e| ToolError::invalid(format!("matchers[{i}].value"), e))?,
            );
        }
        seconds("duration_seconds", a.duration_seconds, 1.0)?;
        let starts = parse_time("starts_at", &a.starts_at)?;
        let silence = Silence {
            id: String::new(),
            matchers,
            starts_at: starts,
            ends_at: starts + a.duration_seconds,
            created_by: a.user_id,
            comment: a.comment,
            expired: false,
        };
        within(silence.validate())?;
        let out = self
            .on_engine(move |e| {
                let id = e.add_silence(silence.clone());
                Ok(SilenceOut {
                    silence_id: id,
                    starts_at: fmt_time(silence.starts_at),
                    ends_at: fmt_time(silence.ends_at),
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Expire a silence now: it stops applying, and the next repeat of a muted alert fires.
    #[tool(
        name = "expire_silence",
        output_schema = output_schema::<ExpireOut>(),
        annotations(
            title = "Expire silence",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn expire_silence(
        &self,
        Parameters(a): Parameters<ExpireArgs>,
    ) -> Result<Summarized<ExpireOut>, ToolError> {
        within(limits::chars("silence_id", &a.silence_id, MAX_NAME))?;
        let at = now();
        let out = self
            .on_engine(move |e| {
                let s = e.expire_silence(&a.silence_id, at)?.clone();
                Ok(ExpireOut {
                    silence_id: s.id.clone(),
                    expired: true,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Totals: points checked, alerts created, duplicates suppressed and the dedup rate,
    /// active alerts by severity, correlation groups, rules and detectors.
    #[tool(
        name = "alert_stats",
        output_schema = output_schema::<StatsOut>(),
        annotations(
            title = "Alert statistics",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn alert_stats(
        &self,
        Parameters(_a): Parameters<NoArgs>,
    ) -> Result<Summarized<StatsOut>, ToolError> {
        let at = now();
        let out = self
            .on_engine(move |e| {
                let st = e.stats(at);
                let c = &st.counters;
                Ok(StatsOut {
                    points_checked: c.points_checked,
                    alerts_created: c.alerts_created,
                    deduplicated: c.deduplicated,
                    deduplication_rate: round4(st.deduplication_rate),
                    silenced: c.silenced,
                    resolved: c.resolved,
                    active_by_severity: st
                        .active_by_severity
                        .iter()
                        .map(|(s, n)| (s.name().to_string(), *n))
                        .collect(),
                    groups: st
                        .groups
                        .iter()
                        .map(|g| GroupOut {
                            group_id: g.id.clone(),
                            key: g.key.clone(),
                            members: g.members.clone(),
                            summary: g.summary(),
                            started_at: fmt_time(g.started_at),
                        })
                        .collect(),
                    rules: st.rules as u64,
                    detectors: st.detectors as u64,
                    active_silences: st.active_silences as u64,
                    open_alerts: st.open_alerts as u64,
                    max_open_alerts: st.max_open_alerts as u64,
                    refused_at_cap: c.refused_at_cap,
                    resolved_kept: st.resolved_kept as u64,
                })
            })
            .await?;
        Ok(Summarized::of(out))
    }

    /// Change engine settings (dedup and grouping, auto-resolve, business hours for
    /// priority); omitted fields keep their value. Returns the settings in force.
    #[tool(
        name = "configure_alerting",
        output_schema = output_schema::<ConfigOut>(),
        annotations(
            title = "Configure alerting",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn configure_alerting(
        &self,
        Parameters(a): Parameters<ConfigArgs>,
    ) -> Result<Summarized<ConfigOut>, ToolError> {
        let patch = ConfigPatch {
            dedup_window_seconds: a.dedup_window_seconds,
            group_window_seconds: a.group_window_seconds,
            group_by: a.group_by,
            resolve_after_seconds: a.resolve_after_seconds,
            business_hours_start: a.business_hours_start,
            business_hours_end: a.business_hours_end,
            utc_offset_minutes: a.utc_offset_minutes,
            weekends: a.weekends,
        };
        patch.validate().map_err(|e| engine_err(e.into()))?;
        let out = self
            .on_engine(move |e| {
                let c = e.configure(patch)?;
                Ok(config_out(&c))
            })
            .await?;
        Ok(Summarized::of(out))
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// An anomaly score to 4 decimals, on the same side of the alert point 0.5
/// as the score itself: 0.49996 shows as 0.4999, not as a 0.5 that did not
/// alert.
fn score4(x: f64) -> f64 {
    let r = round4(x);
    if x < 0.5 && r >= 0.5 { 0.4999 } else { r }
}

#[cfg(test)]
mod tests {
    use super::score4;

    #[test]
    fn a_shown_score_is_at_least_one_half_exactly_when_it_alerted() {
        assert_eq!(score4(0.49996), 0.4999);
        assert_eq!(score4(0.49994), 0.4999);
        assert_eq!(score4(0.5), 0.5);
        assert_eq!(score4(0.50004), 0.5);
        assert_eq!(score4(0.56789), 0.5679);
        assert_eq!(score4(0.0), 0.0);
        assert_eq!(score4(1.0), 1.0);
    }
}
