//! `cost_anomalies`: spend spikes, from Cost Explorer's anomaly detection
//! (GetAnomalies) when the account has a monitor, else our own detection over
//! daily spend per service.
//!
//! Design choice: our own rule is robust and seasonal on purpose. Each day of
//! each service is compared with the median of the same weekday over the
//! previous [`REFERENCE_WEEKS`] weeks (weekday spend differs, so Mondays are
//! compared with Mondays), and the excess is scaled by the median absolute
//! deviation of those same days (x [`MAD_TO_SD`], floored at
//! [`MIN_SCALE_FRACTION`] of the median and at [`MIN_SCALE_USD`]). A one-off
//! spike in the reference weeks moves neither the median nor the MAD, so it
//! neither hides a later spike nor raises false ones. A day is an anomaly when
//! its score reaches `min_score` and its excess reaches `min_impact` USD.
//! Only increases are reported: a drop in spend is not an alert.

use aws_sdk_costexplorer::types::{AnomalyDateInterval, Granularity};
use chrono::{Duration, NaiveDate};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

use super::aws::describe;
use super::pricing::cents;
use super::spend::{GroupBy, fetch_periods};
use crate::bus::{OutboundEvent, Priority};

/// Weeks of same-weekday history each day is compared with.
pub const REFERENCE_WEEKS: i64 = 4;
/// Fewest same-weekday reference days with data needed to judge a day.
pub const MIN_REFERENCE_DAYS: usize = 3;
/// MAD x 1.4826 estimates the standard deviation of normal data.
pub const MAD_TO_SD: f64 = 1.4826;
/// The scale is at least this fraction of the median: flat spend (MAD 0)
/// must not turn a cent's change into an anomaly.
pub const MIN_SCALE_FRACTION: f64 = 0.1;
/// ... and at least this many USD.
pub const MIN_SCALE_USD: f64 = 0.5;
/// Default `min_score`.
pub const DEFAULT_MIN_SCORE: f64 = 3.5;
/// Default `min_impact`, USD.
pub const DEFAULT_MIN_IMPACT: f64 = 10.0;

/// One spend anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SpendAnomaly {
    /// Cost Explorer's anomaly id; null for our own detection.
    pub anomaly_id: Option<String>,
    /// The service (Cost Explorer's root cause or the grouped service).
    pub service: String,
    /// The region of the root cause when Cost Explorer names one.
    pub region: Option<String>,
    /// First day (YYYY-MM-DD).
    pub start: String,
    /// Last day (YYYY-MM-DD, inclusive).
    pub end: String,
    /// Actual spend, USD.
    pub actual: f64,
    /// Expected spend, USD (our detection: the same-weekday median).
    pub expected: f64,
    /// actual - expected, USD.
    pub impact: f64,
    /// Score: Cost Explorer's max score, or our (actual - median) / scale.
    pub score: f64,
    /// `cost_explorer` or `own`.
    pub method: String,
}

/// What `cost_anomalies` returns.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AnomalyReport {
    /// `cost_explorer` (GetAnomalies, the account has a monitor) or `own`
    /// (same-weekday median and MAD over daily spend per service).
    pub method: String,
    /// How anomalies were found, in a sentence.
    pub method_description: String,
    /// Why our own detection was used (no monitor, or the API's error); null otherwise.
    pub fallback_reason: Option<String>,
    /// First day examined (YYYY-MM-DD).
    pub start: String,
    /// Day after the last day examined.
    pub end: String,
    /// Smallest impact reported, USD.
    pub min_impact: f64,
    /// Smallest score reported (own detection only).
    pub min_score: f64,
    /// The anomalies, largest impact first.
    pub anomalies: Vec<SpendAnomaly>,
    /// Anomalies published on the bus as `cost.anomaly` events (0 without the events toolset).
    pub published: usize,
}

/// Daily spend per service (service, day, USD).
pub type DailySpend = BTreeMap<String, BTreeMap<NaiveDate, f64>>;

/// Finds anomalies between `start` and `end` (exclusive).
pub async fn anomalies(
    ce: &aws_sdk_costexplorer::Client,
    start: NaiveDate,
    end: NaiveDate,
    min_impact: f64,
    min_score: f64,
) -> Result<AnomalyReport, String> {
    anomalies_with_spend(ce, start, end, min_impact, min_score, false)
        .await
        .map(|(r, _)| r)
}

/// The anomalies and the daily spend per service from the
/// [`REFERENCE_WEEKS`] before `start` to `end` (what a chart draws). Our
/// own detection reads that spend anyway; after Cost Explorer's anomalies
/// it is read only when `with_spend` (one more GetCostAndUsage call), and
/// when that fails it is empty.
pub async fn anomalies_with_spend(
    ce: &aws_sdk_costexplorer::Client,
    start: NaiveDate,
    end: NaiveDate,
    min_impact: f64,
    min_score: f64,
    with_spend: bool,
) -> Result<(AnomalyReport, DailySpend), String> {
    let history_start = start - Duration::days(7 * REFERENCE_WEEKS);
    let reason = match monitors(ce).await {
        Ok(0) => "the account has no Cost Explorer anomaly monitor".to_string(),
        Ok(_) => {
            let found = aws_anomalies(ce, start, end, min_impact).await?;
            let spend = if with_spend {
                match fetch_periods(
                    ce,
                    history_start,
                    end,
                    Granularity::Daily,
                    Some(&GroupBy::Service),
                )
                .await
                {
                    Ok((periods, _)) => by_service(&periods),
                    Err(e) => {
                        tracing::info!("no daily spend for the anomaly chart: {e}");
                        DailySpend::new()
                    }
                }
            } else {
                DailySpend::new()
            };
            let r = report(
                "cost_explorer",
                "AWS Cost Anomaly Detection (GetAnomalies): anomalies whose total impact \
                 reaches min_impact"
                    .into(),
                None,
                start,
                end,
                min_impact,
                min_score,
                found,
            );
            return Ok((r, spend));
        }
        Err(e) => e,
    };
    tracing::info!("Cost Explorer anomalies unavailable, detecting our own: {reason}");
    let (periods, _) = fetch_periods(
        ce,
        history_start,
        end,
        Granularity::Daily,
        Some(&GroupBy::Service),
    )
    .await
    .map_err(|e| format!("{reason}, and daily spend could not be read: {e}"))?;
    let series = by_service(&periods);
    let found = detect(&series, history_start, start, end, min_impact, min_score);
    let r = report(
        "own",
        format!(
            "per service, each day's UnblendedCost against the median of the same weekday \
             over the previous {REFERENCE_WEEKS} weeks (at least {MIN_REFERENCE_DAYS} of them); \
             score = (actual - median) / max({MAD_TO_SD} x MAD, {MIN_SCALE_FRACTION} x median, \
             {MIN_SCALE_USD} USD); anomaly when score >= {min_score} and actual - median >= \
             {min_impact} USD"
        ),
        Some(reason),
        start,
        end,
        min_impact,
        min_score,
        found,
    );
    Ok((r, series))
}

fn by_service(periods: &[super::spend::SpendPeriod]) -> DailySpend {
    let mut series = DailySpend::new();
    for p in periods {
        let Ok(day) = NaiveDate::parse_from_str(&p.start, "%Y-%m-%d") else {
            continue;
        };
        for g in &p.groups {
            *series
                .entry(g.key.clone())
                .or_default()
                .entry(day)
                .or_default() += g.amount;
        }
    }
    series
}

#[allow(clippy::too_many_arguments)]
fn report(
    method: &str,
    method_description: String,
    fallback_reason: Option<String>,
    start: NaiveDate,
    end: NaiveDate,
    min_impact: f64,
    min_score: f64,
    mut anomalies: Vec<SpendAnomaly>,
) -> AnomalyReport {
    anomalies.sort_by(|a, b| b.impact.total_cmp(&a.impact));
    AnomalyReport {
        method: method.into(),
        method_description,
        fallback_reason,
        start: start.to_string(),
        end: end.to_string(),
        min_impact,
        min_score,
        anomalies,
        published: 0,
    }
}

/// Number of anomaly monitors (every page).
async fn monitors(ce: &aws_sdk_costexplorer::Client) -> Result<usize, String> {
    let mut token: Option<String> = None;
    let mut n = 0;
    loop {
        let out = ce
            .get_anomaly_monitors()
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("GetAnomalyMonitors: {}", describe(&e)))?;
        n += out.anomaly_monitors().len();
        match out.next_page_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
            _ => return Ok(n),
        }
    }
}

async fn aws_anomalies(
    ce: &aws_sdk_costexplorer::Client,
    start: NaiveDate,
    end: NaiveDate,
    min_impact: f64,
) -> Result<Vec<SpendAnomaly>, String> {
    let interval = AnomalyDateInterval::builder()
        .start_date(start.to_string())
        // GetAnomalies' end date is inclusive.
        .end_date((end - Duration::days(1)).to_string())
        .build()
        .map_err(|e| e.to_string())?;
    let mut token: Option<String> = None;
    let mut found = Vec::new();
    loop {
        let out = ce
            .get_anomalies()
            .date_interval(interval.clone())
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("GetAnomalies: {}", describe(&e)))?;
        for a in out.anomalies() {
            let impact = a.impact();
            let total_impact = impact.map(|i| i.total_impact()).unwrap_or(0.0);
            if total_impact < min_impact {
                continue;
            }
            let cause = a.root_causes().first();
            let service = cause
                .and_then(|c| c.service())
                .or(a.dimension_value())
                .unwrap_or("unknown")
                .to_string();
            let s = a.anomaly_start_date().unwrap_or_default();
            found.push(SpendAnomaly {
                anomaly_id: Some(a.anomaly_id().to_string()),
                service,
                region: cause.and_then(|c| c.region()).map(str::to_string),
                start: s.get(..10).unwrap_or(s).to_string(),
                end: a
                    .anomaly_end_date()
                    .map(|e| e.get(..10).unwrap_or(e).to_string())
                    .unwrap_or_else(|| s.get(..10).unwrap_or(s).to_string()),
                actual: cents(impact.and_then(|i| i.total_actual_spend()).unwrap_or(0.0)),
                expected: cents(impact.and_then(|i| i.total_expected_spend()).unwrap_or(0.0)),
                impact: cents(total_impact),
                score: a.anomaly_score().map(|s| s.max_score()).unwrap_or(0.0),
                method: "cost_explorer".into(),
            });
        }
        match out.next_page_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
            _ => return Ok(found),
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Our detection over daily spend per service. Days before the service's
/// first day with data are unknown, not zero; days after it without data
/// are zero (Cost Explorer omits empty groups).
pub fn detect(
    series: &BTreeMap<String, BTreeMap<NaiveDate, f64>>,
    history_start: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
    min_impact: f64,
    min_score: f64,
) -> Vec<SpendAnomaly> {
    let mut found = Vec::new();
    for (service, days) in series {
        let Some(first) = days.keys().next().copied() else {
            continue;
        };
        let first = first.max(history_start);
        let value = |d: NaiveDate| days.get(&d).copied().unwrap_or(0.0);
        let mut day = start;
        while day < end {
            let mut reference: Vec<f64> = (1..=REFERENCE_WEEKS)
                .map(|k| day - Duration::days(7 * k))
                .filter(|d| *d >= first)
                .map(value)
                .collect();
            if reference.len() >= MIN_REFERENCE_DAYS {
                let m = median(&mut reference);
                let mut dev: Vec<f64> = reference.iter().map(|v| (v - m).abs()).collect();
                let mad = median(&mut dev);
                let scale = (MAD_TO_SD * mad)
                    .max(MIN_SCALE_FRACTION * m.abs())
                    .max(MIN_SCALE_USD);
                let actual = value(day);
                let score = (actual - m) / scale;
                if score >= min_score && actual - m >= min_impact {
                    found.push(SpendAnomaly {
                        anomaly_id: None,
                        service: service.clone(),
                        region: None,
                        start: day.to_string(),
                        end: day.to_string(),
                        actual: cents(actual),
                        expected: cents(m),
                        impact: cents(actual - m),
                        score: (score * 100.0).round() / 100.0,
                        method: "own".into(),
                    });
                }
            }
            day += Duration::days(1);
        }
    }
    found
}

/// The `cost.anomaly` event on topic `cost` for one anomaly.
pub fn bus_event(a: &SpendAnomaly) -> OutboundEvent {
    OutboundEvent {
        topic: "cost".into(),
        event_type: "cost.anomaly".into(),
        payload: serde_json::to_value(a).unwrap_or_else(|_| serde_json::json!({})),
        priority: Priority::High,
        source: "cost".into(),
        correlation_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_spike_is_found_and_a_past_one_off_spike_does_not_hide_it_or_raise_others() {
        let history_start = day("2026-10-01");
        let start = history_start + Duration::days(28);
        let end = start + Duration::days(7);
        let mut days = BTreeMap::new();
        for t in 0..35 {
            let d = history_start + Duration::days(t);
            // Weekends cheaper: a weekly pattern that is not an anomaly.
            let base = if chrono::Datelike::weekday(&d).num_days_from_monday() >= 5 {
                20.0
            } else {
                100.0
            };
            days.insert(d, base + (t % 3) as f64);
        }
        // A one-off spike in the reference weeks...
        *days.get_mut(&(history_start + Duration::days(10))).unwrap() += 500.0;
        // ... and the real one in the examined week.
        let spike = start + Duration::days(3);
        *days.get_mut(&spike).unwrap() += 300.0;
        let series = BTreeMap::from([("Amazon EC2".to_string(), days)]);
        let found = detect(&series, history_start, start, end, 10.0, 3.5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].start, spike.to_string());
        assert!(found[0].impact > 290.0, "{found:?}");
        assert_eq!(found[0].method, "own");
    }

    fn replay(bodies: &[&str]) -> aws_smithy_http_client::test_util::StaticReplayClient {
        use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
        use aws_smithy_types::body::SdkBody;
        StaticReplayClient::new(
            bodies
                .iter()
                .map(|b| {
                    ReplayEvent::new(
                        http::Request::builder()
                            .uri("https://ce.us-east-1.amazonaws.com/")
                            .body(SdkBody::empty())
                            .unwrap(),
                        http::Response::builder()
                            .status(200)
                            .body(SdkBody::from(b.to_string()))
                            .unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// moto has no anomaly APIs: this replays AWS's documented
    /// GetAnomalyMonitors and GetAnomalies shapes through the real SDK client.
    #[tokio::test]
    async fn cost_explorer_anomalies_are_used_when_a_monitor_exists() {
        let monitors = r#"{"AnomalyMonitors": [{"MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1",
            "MonitorName": "services", "MonitorType": "DIMENSIONAL", "MonitorDimension": "SERVICE"}]}"#;
        let found = r#"{"Anomalies": [
          {"AnomalyId": "a-big", "AnomalyStartDate": "2026-11-03T00:00:00Z", "AnomalyEndDate": "2026-11-04T00:00:00Z",
           "DimensionValue": "Amazon Elastic Compute Cloud - Compute",
           "RootCauses": [{"Service": "Amazon Elastic Compute Cloud - Compute", "Region": "eu-west-1"}],
           "AnomalyScore": {"MaxScore": 0.92, "CurrentScore": 0.5},
           "Impact": {"MaxImpact": 250.0, "TotalImpact": 410.5, "TotalActualSpend": 610.5, "TotalExpectedSpend": 200.0},
           "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1"},
          {"AnomalyId": "a-small", "AnomalyStartDate": "2026-11-02", "RootCauses": [],
           "DimensionValue": "AWS Lambda", "AnomalyScore": {"MaxScore": 0.3, "CurrentScore": 0.3},
           "Impact": {"MaxImpact": 2.0, "TotalImpact": 2.0},
           "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1"}
        ]}"#;
        let r = replay(&[monitors, found]);
        let conf = aws_sdk_costexplorer::Config::builder()
            .behavior_version(aws_sdk_costexplorer::config::BehaviorVersion::latest())
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_costexplorer::config::Credentials::for_tests())
            .http_client(r.clone())
            .build();
        let ce = aws_sdk_costexplorer::Client::from_conf(conf);
        let report = anomalies(&ce, day("2026-11-01"), day("2026-11-08"), 10.0, 3.5)
            .await
            .unwrap();
        assert_eq!(report.method, "cost_explorer");
        assert_eq!(report.fallback_reason, None);
        assert_eq!(report.anomalies.len(), 1, "{report:?}");
        let a = &report.anomalies[0];
        assert_eq!(a.anomaly_id.as_deref(), Some("a-big"));
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            (a.start.as_str(), a.end.as_str()),
            ("2026-11-03", "2026-11-04")
        );
        assert_eq!((a.actual, a.expected, a.impact), (610.5, 200.0, 410.5));
        let sent: Vec<_> = r.actual_requests().collect();
        assert_eq!(
            sent[1].headers().get("x-amz-target"),
            Some("AWSInsightsIndexService.GetAnomalies")
        );
        let body = std::str::from_utf8(sent[1].body().bytes().unwrap()).unwrap();
        assert!(body.contains("\"EndDate\":\"2026-11-07\""), "{body}");
        let e = bus_event(a);
        assert_eq!(
            (e.topic.as_str(), e.event_type.as_str()),
            ("cost", "cost.anomaly")
        );
    }

    /// With a chart asked for, Cost Explorer's path also reads daily spend
    /// per service (GetCostAndUsage from the reference weeks on), which
    /// the chart draws the anomaly on.
    #[tokio::test]
    async fn a_chart_after_cost_explorer_anomalies_reads_daily_spend_per_service() {
        let monitors = r#"{"AnomalyMonitors": [{"MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1",
            "MonitorName": "services", "MonitorType": "DIMENSIONAL", "MonitorDimension": "SERVICE"}]}"#;
        let found = r#"{"Anomalies": [
          {"AnomalyId": "a-1", "AnomalyStartDate": "2026-11-03", "AnomalyEndDate": "2026-11-03",
           "DimensionValue": "Amazon Simple Storage Service", "RootCauses": [],
           "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.9},
           "Impact": {"MaxImpact": 90.0, "TotalImpact": 90.0, "TotalActualSpend": 100.0, "TotalExpectedSpend": 10.0},
           "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m-1"}]}"#;
        let days: Vec<String> = (0..35)
            .map(|t| {
                let d = day("2026-10-04") + Duration::days(t);
                let v = if d == day("2026-11-03") { 100.0 } else { 10.0 };
                format!(
                    r#"{{"TimePeriod": {{"Start": "{d}", "End": "{}"}}, "Total": {{}}, "Estimated": false,
                     "Groups": [{{"Keys": ["Amazon Simple Storage Service"],
                                 "Metrics": {{"UnblendedCost": {{"Amount": "{v}", "Unit": "USD"}}}}}}]}}"#,
                    d + Duration::days(1)
                )
            })
            .collect();
        let usage = format!(r#"{{"ResultsByTime": [{}]}}"#, days.join(","));
        let r = replay(&[monitors, found, &usage]);
        let conf = aws_sdk_costexplorer::Config::builder()
            .behavior_version(aws_sdk_costexplorer::config::BehaviorVersion::latest())
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_costexplorer::config::Credentials::for_tests())
            .http_client(r.clone())
            .build();
        let ce = aws_sdk_costexplorer::Client::from_conf(conf);
        let (report, spend) =
            anomalies_with_spend(&ce, day("2026-11-01"), day("2026-11-08"), 10.0, 3.5, true)
                .await
                .unwrap();
        assert_eq!(report.method, "cost_explorer");
        let s3 = &spend["Amazon Simple Storage Service"];
        assert_eq!(s3.len(), 35);
        assert_eq!(s3[&day("2026-11-03")], 100.0);
        let sent: Vec<_> = r.actual_requests().collect();
        assert_eq!(
            sent[2].headers().get("x-amz-target"),
            Some("AWSInsightsIndexService.GetCostAndUsage")
        );
        let body = std::str::from_utf8(sent[2].body().bytes().unwrap()).unwrap();
        assert!(body.contains("\"Start\":\"2026-10-04\""), "{body}");
        let png = super::super::charts::anomalies(&report, &spend).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
    }
}
