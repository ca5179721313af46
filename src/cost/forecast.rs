//! `cost_forecast`: Cost Explorer's own forecast (GetCostForecast) when the
//! account has it, else our own from the last 90 days of daily spend.
//!
//! Design choice: the fallback is deliberately simple and stated: a linear
//! trend fitted by least squares plus a day-of-week offset (the mean residual
//! per weekday), with an 80 % interval of +-1.2816 sigma sqrt(n) on the
//! total, sigma being the residual standard deviation. It is what a person
//! would compute in a spreadsheet, explains itself, and needs no model crate;
//! the result names its method so nobody mistakes it for AWS's forecast.
//! GetCostForecast fails for many ordinary reasons (Cost Explorer not yet
//! enabled, too little history, no permission, an emulator without it), and
//! every such failure leads to the fallback with the reason attached.

use aws_sdk_costexplorer::types::{DateInterval, Granularity, Metric};
use chrono::{Datelike, Duration, NaiveDate};
use schemars::JsonSchema;
use serde::Serialize;

use super::aws::describe;
use super::pricing::cents;
use super::spend::fetch_periods;

/// z for a two-sided 80 % interval.
const Z80: f64 = 1.2816;
/// Days of history the fallback reads.
pub const HISTORY_DAYS: i64 = 90;
/// Fewest days of history the fallback will fit.
pub const MIN_HISTORY_DAYS: usize = 14;

/// One forecast day.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForecastDay {
    /// The day (YYYY-MM-DD).
    pub date: String,
    /// Expected spend, USD.
    pub mean: f64,
    /// Lower bound of the day's 80 % interval, USD.
    pub lower_80: f64,
    /// Upper bound of the day's 80 % interval, USD.
    pub upper_80: f64,
}

/// A spend forecast.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Forecast {
    /// `aws_cost_explorer` (GetCostForecast) or `trend_weekly_seasonality`
    /// (our fallback from daily history).
    pub method: String,
    /// How the figures were computed, in a sentence.
    pub method_description: String,
    /// Why the fallback was used (the GetCostForecast error); null otherwise.
    pub fallback_reason: Option<String>,
    /// First forecast day (YYYY-MM-DD).
    pub start: String,
    /// Day after the last forecast day (exclusive).
    pub end: String,
    /// Expected spend over the period, USD.
    pub total: f64,
    /// Lower bound of the 80 % interval, USD.
    pub lower_80: f64,
    /// Upper bound of the 80 % interval, USD.
    pub upper_80: f64,
    /// Currency unit.
    pub unit: String,
    /// Days of history the fallback fitted (0 for AWS's forecast).
    pub history_days: usize,
    /// Expected spend per day.
    pub daily: Vec<ForecastDay>,
}

/// Forecasts spend for `days` days from `today`.
pub async fn forecast(
    ce: &aws_sdk_costexplorer::Client,
    today: NaiveDate,
    days: u32,
) -> Result<Forecast, String> {
    forecast_with_history(ce, today, days, 0)
        .await
        .map(|(f, _)| f)
}

/// The forecast and the actual daily spend of up to `history_days` days
/// before `today` (what a chart draws before it). The fallback's own
/// history is reused; after AWS's forecast, reading it costs one more
/// GetCostAndUsage call, and when that fails the history is empty.
pub async fn forecast_with_history(
    ce: &aws_sdk_costexplorer::Client,
    today: NaiveDate,
    days: u32,
    history_days: i64,
) -> Result<(Forecast, Vec<(NaiveDate, f64)>), String> {
    let end = today + Duration::days(i64::from(days));
    let since = today - Duration::days(history_days);
    let reason = match aws_forecast(ce, today, end).await {
        Ok(f) if history_days > 0 => {
            let history = match fetch_periods(ce, since, today, Granularity::Daily, None).await {
                Ok((periods, _)) => daily_totals(&periods),
                Err(e) => {
                    tracing::info!("no spend history for the forecast chart: {e}");
                    Vec::new()
                }
            };
            return Ok((f, history));
        }
        Ok(f) => return Ok((f, Vec::new())),
        Err(e) => e,
    };
    tracing::info!("GetCostForecast unavailable, forecasting from history: {reason}");
    let history_start = today - Duration::days(HISTORY_DAYS);
    let (periods, _) = fetch_periods(ce, history_start, today, Granularity::Daily, None)
        .await
        .map_err(|e| format!("GetCostForecast failed ({reason}) and so did the history: {e}"))?;
    let history = daily_totals(&periods);
    let mut f = trend_forecast(&history, today, days)?;
    f.fallback_reason = Some(reason);
    let recent = history.into_iter().filter(|(d, _)| *d >= since).collect();
    Ok((f, recent))
}

fn daily_totals(periods: &[super::spend::SpendPeriod]) -> Vec<(NaiveDate, f64)> {
    periods
        .iter()
        .filter_map(|p| {
            NaiveDate::parse_from_str(&p.start, "%Y-%m-%d")
                .ok()
                .map(|d| (d, p.total))
        })
        .collect()
}

async fn aws_forecast(
    ce: &aws_sdk_costexplorer::Client,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Forecast, String> {
    let interval = DateInterval::builder()
        .start(start.format("%Y-%m-%d").to_string())
        .end(end.format("%Y-%m-%d").to_string())
        .build()
        .map_err(|e| e.to_string())?;
    let out = ce
        .get_cost_forecast()
        .time_period(interval)
        .metric(Metric::UnblendedCost)
        .granularity(Granularity::Daily)
        .prediction_interval_level(80)
        .send()
        .await
        .map_err(|e| format!("GetCostForecast: {}", describe(&e)))?;
    let num = |s: Option<&str>| s.and_then(|v| v.parse::<f64>().ok());
    let mut daily = Vec::new();
    let (mut lower, mut upper, mut sum) = (0.0, 0.0, 0.0);
    for r in out.forecast_results_by_time() {
        let mean = num(r.mean_value()).unwrap_or(0.0);
        let low = num(r.prediction_interval_lower_bound()).unwrap_or(mean);
        let high = num(r.prediction_interval_upper_bound()).unwrap_or(mean);
        sum += mean;
        lower += low;
        upper += high;
        daily.push(ForecastDay {
            date: r
                .time_period()
                .map(|p| p.start().to_string())
                .unwrap_or_default(),
            mean: cents(mean),
            lower_80: cents(low),
            upper_80: cents(high),
        });
    }
    let total = out.total().and_then(|t| num(t.amount())).unwrap_or(sum);
    let unit = out
        .total()
        .and_then(|t| t.unit())
        .unwrap_or("USD")
        .to_string();
    Ok(Forecast {
        method: "aws_cost_explorer".into(),
        method_description: "AWS Cost Explorer GetCostForecast (UNBLENDED_COST, daily, 80 % \
                             prediction interval; the period bounds are the sums of the daily \
                             bounds)"
            .into(),
        fallback_reason: None,
        start: start.format("%Y-%m-%d").to_string(),
        end: end.format("%Y-%m-%d").to_string(),
        total: cents(total),
        lower_80: cents(lower),
        upper_80: cents(upper),
        unit,
        history_days: 0,
        daily,
    })
}

/// The fallback forecast from daily history (days without data count as 0).
pub fn trend_forecast(
    history: &[(NaiveDate, f64)],
    today: NaiveDate,
    days: u32,
) -> Result<Forecast, String> {
    let Some(first) = history.iter().map(|(d, _)| *d).min() else {
        return Err("no daily spend history to forecast from".into());
    };
    // A dense series from the first day with data to yesterday.
    let n_hist = (today - first).num_days().max(0) as usize;
    if n_hist < MIN_HISTORY_DAYS {
        return Err(format!(
            "only {n_hist} days of spend history; at least {MIN_HISTORY_DAYS} are needed"
        ));
    }
    let mut y = vec![0.0; n_hist];
    for (d, v) in history {
        let i = (*d - first).num_days();
        if i >= 0 && (i as usize) < n_hist {
            y[i as usize] += v;
        }
    }
    let n = n_hist as f64;
    let weekday = |t: usize| {
        (first + Duration::days(t as i64))
            .weekday()
            .num_days_from_monday() as usize
    };
    // Trend and weekday offsets fitted jointly by backfitting (alternating
    // least squares): fitting the trend alone first would bias its slope
    // whenever the window holds more of some weekdays than of others.
    let mean_t = (n - 1.0) / 2.0;
    let (mut intercept, mut slope) = (0.0, 0.0);
    let mut season = [0.0; 7];
    for _ in 0..100 {
        let mean_y = y
            .iter()
            .enumerate()
            .map(|(t, v)| v - season[weekday(t)])
            .sum::<f64>()
            / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (t, v) in y.iter().enumerate() {
            let dt = t as f64 - mean_t;
            sxy += dt * (v - season[weekday(t)] - mean_y);
            sxx += dt * dt;
        }
        slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        intercept = mean_y - slope * mean_t;
        let mut sums = [0.0; 7];
        let mut counts = [0usize; 7];
        for (t, v) in y.iter().enumerate() {
            sums[weekday(t)] += v - (intercept + slope * t as f64);
            counts[weekday(t)] += 1;
        }
        for d in 0..7 {
            season[d] = if counts[d] > 0 {
                sums[d] / counts[d] as f64
            } else {
                0.0
            };
        }
    }
    let fitted = |t: usize| intercept + slope * t as f64 + season[weekday(t)];
    let sse: f64 = y
        .iter()
        .enumerate()
        .map(|(t, v)| (v - fitted(t)).powi(2))
        .sum();
    // Parameters: intercept, slope and 6 free weekday offsets.
    let dof = (n - 8.0).max(1.0);
    let sigma = (sse / dof).sqrt();
    let mut daily = Vec::new();
    let mut total = 0.0;
    for k in 0..days as usize {
        let t = n_hist + k;
        let mean = fitted(t).max(0.0);
        total += mean;
        daily.push(ForecastDay {
            date: (first + Duration::days(t as i64))
                .format("%Y-%m-%d")
                .to_string(),
            mean: cents(mean),
            lower_80: cents((mean - Z80 * sigma).max(0.0)),
            upper_80: cents(mean + Z80 * sigma),
        });
    }
    let half = Z80 * sigma * (f64::from(days)).sqrt();
    let end = today + Duration::days(i64::from(days));
    Ok(Forecast {
        method: "trend_weekly_seasonality".into(),
        method_description: format!(
            "linear trend (least squares, {slope:+.2} USD/day per day) plus day-of-week \
             offsets fitted to {n_hist} days of daily UnblendedCost; 80 % interval = total \
             +- 1.2816 x residual sd ({sigma:.2}) x sqrt({days}), per day +- 1.2816 x sd"
        ),
        fallback_reason: None,
        start: today.format("%Y-%m-%d").to_string(),
        end: end.format("%Y-%m-%d").to_string(),
        total: cents(total),
        lower_80: cents((total - half).max(0.0)),
        upper_80: cents(total + half),
        unit: "USD".into(),
        history_days: n_hist,
        daily,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_trend_with_a_weekly_pattern_is_extrapolated_exactly() {
        let first = day("2026-08-28");
        let today = first + Duration::days(90);
        // 100 + 0.5/day, weekends 30 lower: a noiseless series.
        let history: Vec<(NaiveDate, f64)> = (0..90)
            .map(|t| {
                let d = first + Duration::days(t);
                let weekend = d.weekday().num_days_from_monday() >= 5;
                (d, 100.0 + 0.5 * t as f64 - if weekend { 30.0 } else { 0.0 })
            })
            .collect();
        let f = trend_forecast(&history, today, 7).unwrap();
        let expected: f64 = (90..97)
            .map(|t| {
                let d = first + Duration::days(t);
                let weekend = d.weekday().num_days_from_monday() >= 5;
                100.0 + 0.5 * t as f64 - if weekend { 30.0 } else { 0.0 }
            })
            .sum();
        assert!(
            (f.total - expected).abs() < 0.05,
            "{} vs {expected}",
            f.total
        );
        assert!(f.upper_80 - f.lower_80 < 0.1, "no noise, no width");
        assert_eq!(f.daily.len(), 7);
        assert_eq!(f.method, "trend_weekly_seasonality");
    }

    #[test]
    fn noise_widens_the_interval_and_too_little_history_is_refused() {
        let first = day("2026-08-28");
        let today = first + Duration::days(60);
        let history: Vec<(NaiveDate, f64)> = (0..60)
            .map(|t| {
                (
                    first + Duration::days(t),
                    if t % 2 == 0 { 80.0 } else { 120.0 },
                )
            })
            .collect();
        let f = trend_forecast(&history, today, 30).unwrap();
        assert!(f.lower_80 < f.total && f.total < f.upper_80);
        assert!((f.total - 3000.0).abs() < 100.0, "{}", f.total);
        let short = &history[50..];
        assert!(
            trend_forecast(short, today, 30)
                .unwrap_err()
                .contains("10 days")
        );
    }

    fn replay(status: u16, body: &str) -> StaticReplayClient {
        StaticReplayClient::new(vec![ReplayEvent::new(
            http::Request::builder()
                .uri("https://ce.us-east-1.amazonaws.com/")
                .body(SdkBody::empty())
                .unwrap(),
            http::Response::builder()
                .status(status)
                .body(SdkBody::from(body.to_string()))
                .unwrap(),
        )])
    }

    fn client(replay: StaticReplayClient) -> aws_sdk_costexplorer::Client {
        let conf = aws_sdk_costexplorer::Config::builder()
            .behavior_version(aws_sdk_costexplorer::config::BehaviorVersion::latest())
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_costexplorer::config::Credentials::for_tests())
            .http_client(replay)
            .build();
        aws_sdk_costexplorer::Client::from_conf(conf)
    }

    /// moto has no GetCostForecast: this replays AWS's documented response
    /// shape through the real SDK client and checks what we make of it.
    #[tokio::test]
    async fn get_cost_forecast_response_is_used_as_is() {
        let body = r#"{
          "Total": {"Amount": "61.5", "Unit": "USD"},
          "ForecastResultsByTime": [
            {"TimePeriod": {"Start": "2026-11-26", "End": "2026-11-27"}, "MeanValue": "20.5",
             "PredictionIntervalLowerBound": "18.0", "PredictionIntervalUpperBound": "23.0"},
            {"TimePeriod": {"Start": "2026-11-27", "End": "2026-11-28"}, "MeanValue": "20.5",
             "PredictionIntervalLowerBound": "18.5", "PredictionIntervalUpperBound": "22.5"},
            {"TimePeriod": {"Start": "2026-11-28", "End": "2026-11-29"}, "MeanValue": "20.5",
             "PredictionIntervalLowerBound": "19.0", "PredictionIntervalUpperBound": "22.0"}
          ]
        }"#;
        let r = replay(200, body);
        let f = forecast(&client(r.clone()), day("2026-11-26"), 3)
            .await
            .unwrap();
        assert_eq!(f.method, "aws_cost_explorer");
        assert_eq!(f.total, 61.5);
        assert_eq!(f.lower_80, 55.5);
        assert_eq!(f.upper_80, 67.5);
        assert_eq!(f.daily.len(), 3);
        assert_eq!((f.daily[0].lower_80, f.daily[0].upper_80), (18.0, 23.0));
        assert_eq!(f.fallback_reason, None);
        let sent = r.actual_requests().next().unwrap();
        assert_eq!(
            sent.headers().get("x-amz-target"),
            Some("AWSInsightsIndexService.GetCostForecast")
        );
        let sent_body = std::str::from_utf8(sent.body().bytes().unwrap()).unwrap();
        assert!(
            sent_body.contains("\"PredictionIntervalLevel\":80"),
            "{sent_body}"
        );
        assert!(
            sent_body.contains("\"Start\":\"2026-11-26\""),
            "{sent_body}"
        );
        assert!(sent_body.contains("\"End\":\"2026-11-29\""), "{sent_body}");
    }
}
