//! Daily CloudWatch series for many resources, fetched in as few calls as
//! the API allows.
//!
//! Design choice: every metric a region's checks need is one `MetricStat`
//! query in GetMetricData, 500 queries to a call (the API's limit), instead
//! of one GetMetricStatistics call per resource and metric: 500 instances
//! x 4 series cost 4 calls, not 2,000. The window is whole UTC days ending at
//! today's midnight, with a one-day period, so each datapoint is one
//! calendar day and "days with data" is simply the number of datapoints.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::aws::describe;

/// GetMetricData's limit of queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Seconds in the one-day period every query uses.
const DAY_SECONDS: i32 = 86_400;

/// The CloudWatch statistic of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Mean of the period.
    Average,
    /// Largest value of the period.
    Maximum,
    /// Total of the period.
    Sum,
}

impl Stat {
    fn as_str(self) -> &'static str {
        match self {
            Stat::Average => "Average",
            Stat::Maximum => "Maximum",
            Stat::Sum => "Sum",
        }
    }
}

/// One daily series to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRequest {
    /// e.g. `AWS/EC2`.
    pub namespace: &'static str,
    /// e.g. `CPUUtilization`.
    pub metric: &'static str,
    /// The single dimension identifying the resource, e.g. (`InstanceId`, `i-1`).
    pub dimension: (&'static str, String),
    /// The statistic.
    pub stat: Stat,
}

/// One value per UTC day that had data.
pub type Daily = BTreeMap<NaiveDate, f64>;

/// The whole-day window the series cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant (midnight UTC, `days` days before `end`).
    pub start: DateTime<Utc>,
    /// Today's midnight UTC (exclusive).
    pub end: DateTime<Utc>,
}

impl Window {
    /// The `days` whole UTC days before today.
    pub fn last_days(now: DateTime<Utc>, days: u32) -> Window {
        let end = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now);
        Window {
            start: end - Duration::days(i64::from(days)),
            end,
        }
    }

    /// The `days` days at the end of this window.
    pub fn tail(&self, days: u32) -> Window {
        let start = (self.end - Duration::days(i64::from(days))).max(self.start);
        Window {
            start,
            end: self.end,
        }
    }

    /// Whether a day lies inside the window.
    pub fn contains(&self, day: NaiveDate) -> bool {
        day >= self.start.date_naive() && day < self.end.date_naive()
    }
}

/// The series, index-aligned with the requests, and the calls it took.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// One daily series per request.
    pub series: Vec<Daily>,
    /// GetMetricData calls made (pages included).
    pub calls: usize,
}

/// Fetches every requested series over `window`, 500 queries per call,
/// following NextToken.
pub async fn fetch_daily(
    cw: &aws_sdk_cloudwatch::Client,
    requests: &[SeriesRequest],
    window: Window,
) -> Result<Fetched, String> {
    let mut fetched = Fetched {
        series: vec![Daily::new(); requests.len()],
        calls: 0,
    };
    let start = SmithyDateTime::from_secs(window.start.timestamp());
    let end = SmithyDateTime::from_secs(window.end.timestamp());
    for (chunk_no, chunk) in requests.chunks(MAX_QUERIES_PER_CALL).enumerate() {
        let offset = chunk_no * MAX_QUERIES_PER_CALL;
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| query(offset + i, r))
            .collect();
        let mut token: Option<String> = None;
        loop {
            fetched.calls += 1;
            let out = cw
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(start)
                .end_time(end)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| format!("GetMetricData: {}", describe(&e)))?;
            for result in out.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some(series) = fetched.series.get_mut(index) else {
                    continue;
                };
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    if let Some(day) = DateTime::from_timestamp(t.secs(), 0).map(|d| d.date_naive())
                        && window.contains(day)
                    {
                        series.insert(day, *v);
                    }
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(fetched)
}

fn query(index: usize, r: &SeriesRequest) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(r.namespace)
        .metric_name(r.metric)
        .dimensions(
            Dimension::builder()
                .name(r.dimension.0)
                .value(&r.dimension.1)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        // Query ids must start with a lowercase letter.
        .id(format!("q{index}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(DAY_SECONDS)
                .stat(r.stat.as_str())
                .build(),
        )
        .return_data(true)
        .build()
}

/// Values of a series restricted to a window.
pub fn within(series: &Daily, window: Window) -> Daily {
    series
        .iter()
        .filter(|(d, _)| window.contains(**d))
        .map(|(d, v)| (*d, *v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_whole_days_ending_at_midnight() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T07:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = Window::last_days(now, 14);
        assert_eq!(w.end.to_rfc3339(), "2026-11-26T00:00:00+00:00");
        assert_eq!(w.start.to_rfc3339(), "2026-11-12T00:00:00+00:00");
        assert!(w.contains(NaiveDate::from_ymd_opt(2026, 11, 12).unwrap()));
        assert!(w.contains(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()));
        assert!(!w.contains(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()));
        let t = w.tail(7);
        assert_eq!(t.start.to_rfc3339(), "2026-11-19T00:00:00+00:00");
    }
}
