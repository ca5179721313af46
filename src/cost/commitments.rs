//! `cost_commitments`: how much of the spend commitments (Savings Plans,
//! reservations) cover and use, and what Compute Savings Plan AWS recommends
//! buying, from Cost Explorer.
//!
//! Design choice: the four Cost Explorer calls are independent and each can
//! fail on its own (no Savings Plans yet, no permission, Cost Explorer not
//! enabled): every part is optional and a failure becomes an entry in
//! `errors` naming the API, so one missing permission does not hide the rest.

use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, LookbackPeriodInDays, PaymentOption, SupportedSavingsPlansType,
    TermInYears,
};
use chrono::{Duration, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::aws::describe;
use super::pricing::cents;

/// Savings Plan term.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
pub enum Term {
    /// One year.
    #[serde(rename = "1y")]
    OneYear,
    /// Three years.
    #[serde(rename = "3y")]
    ThreeYears,
}

/// Savings Plan payment option.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payment {
    /// Nothing upfront.
    NoUpfront,
    /// Part upfront.
    PartialUpfront,
    /// Everything upfront.
    AllUpfront,
}

/// Savings Plans coverage: how much eligible spend the plans covered.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SavingsPlansCoverage {
    /// Spend covered by Savings Plans, USD.
    pub covered: f64,
    /// Eligible spend paid on demand, USD.
    pub on_demand: f64,
    /// Total eligible spend, USD.
    pub total: f64,
    /// covered / total, percent.
    pub coverage_percent: f64,
}

/// Savings Plans utilisation: how much of the commitment was used.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SavingsPlansUtilization {
    /// Commitment over the period, USD.
    pub total_commitment: f64,
    /// Used commitment, USD.
    pub used_commitment: f64,
    /// Unused (wasted) commitment, USD.
    pub unused_commitment: f64,
    /// used / total, percent.
    pub utilization_percent: f64,
    /// Net savings against on-demand, USD.
    pub net_savings: f64,
}

/// The Compute Savings Plan purchase AWS recommends.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SavingsPlanRecommendation {
    /// Always `compute` (Compute Savings Plans).
    pub savings_plans_type: String,
    /// Hourly commitment to buy, USD/hour (0: nothing to buy).
    pub hourly_commitment: f64,
    /// Estimated savings per month, USD.
    pub estimated_monthly_savings: f64,
    /// Estimated savings, percent of the covered on-demand spend.
    pub estimated_savings_percent: f64,
    /// Current on-demand spend over the lookback, USD.
    pub current_on_demand_spend: f64,
    /// Number of recommendations behind the summary.
    pub recommendations: u32,
}

/// Reservation (RI) coverage in hours.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReservationCoverage {
    /// Hours covered by reservations.
    pub reserved_hours: f64,
    /// Hours paid on demand.
    pub on_demand_hours: f64,
    /// All running hours.
    pub total_running_hours: f64,
    /// reserved / running, percent.
    pub coverage_percent: f64,
}

/// What `cost_commitments` returns.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Commitments {
    /// First day of the lookback (YYYY-MM-DD).
    pub start: String,
    /// Day after the last (exclusive).
    pub end: String,
    /// Lookback, days (30 or 60).
    pub lookback_days: u32,
    /// Term of the recommended plan (`1y` or `3y`).
    pub term: Term,
    /// Payment option of the recommended plan.
    pub payment: Payment,
    /// GetSavingsPlansCoverage; null when it failed (see `errors`).
    pub savings_plans_coverage: Option<SavingsPlansCoverage>,
    /// GetSavingsPlansUtilization; null when it failed or there are no plans.
    pub savings_plans_utilization: Option<SavingsPlansUtilization>,
    /// GetSavingsPlansPurchaseRecommendation (Compute); null when it failed.
    pub recommendation: Option<SavingsPlanRecommendation>,
    /// GetReservationCoverage; null when it failed.
    pub reservation_coverage: Option<ReservationCoverage>,
    /// One entry per failed call, naming the API.
    pub errors: Vec<String>,
}

fn num(s: Option<&str>) -> f64 {
    s.and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        cents(100.0 * part / whole)
    } else {
        0.0
    }
}

fn keep<T>(r: Result<T, String>, errors: &mut Vec<String>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// Reads the four parts over the `lookback_days` days before `today`.
pub async fn commitments(
    ce: &aws_sdk_costexplorer::Client,
    today: NaiveDate,
    lookback_days: u32,
    term: Term,
    payment: Payment,
) -> Commitments {
    let start = today - Duration::days(i64::from(lookback_days));
    let mut errors = Vec::new();
    let interval = DateInterval::builder()
        .start(start.to_string())
        .end(today.to_string())
        .build();
    let (sp_cov, sp_use, res_cov) = match interval {
        Ok(interval) => (
            sp_coverage(ce, &interval).await,
            sp_utilization(ce, &interval).await,
            reservation_coverage(ce, &interval).await,
        ),
        Err(e) => {
            let e = e.to_string();
            (Err(e.clone()), Err(e.clone()), Err(e))
        }
    };
    let rec = recommendation(ce, lookback_days, term, payment).await;
    let savings_plans_coverage = keep(sp_cov, &mut errors);
    let savings_plans_utilization = keep(sp_use, &mut errors).flatten();
    let reservation_coverage = keep(res_cov, &mut errors);
    let recommendation = keep(rec, &mut errors);
    Commitments {
        start: start.to_string(),
        end: today.to_string(),
        lookback_days,
        term,
        payment,
        savings_plans_coverage,
        savings_plans_utilization,
        recommendation,
        reservation_coverage,
        errors,
    }
}

async fn sp_coverage(
    ce: &aws_sdk_costexplorer::Client,
    interval: &DateInterval,
) -> Result<SavingsPlansCoverage, String> {
    let (mut covered, mut on_demand, mut total) = (0.0, 0.0, 0.0);
    let mut token: Option<String> = None;
    loop {
        let out = ce
            .get_savings_plans_coverage()
            .time_period(interval.clone())
            .granularity(Granularity::Monthly)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("GetSavingsPlansCoverage: {}", describe(&e)))?;
        for c in out.savings_plans_coverages() {
            if let Some(d) = c.coverage() {
                covered += num(d.spend_covered_by_savings_plans());
                on_demand += num(d.on_demand_cost());
                total += num(d.total_cost());
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
            _ => break,
        }
    }
    Ok(SavingsPlansCoverage {
        covered: cents(covered),
        on_demand: cents(on_demand),
        total: cents(total),
        coverage_percent: percent(covered, total),
    })
}

async fn sp_utilization(
    ce: &aws_sdk_costexplorer::Client,
    interval: &DateInterval,
) -> Result<Option<SavingsPlansUtilization>, String> {
    let out = ce
        .get_savings_plans_utilization()
        .time_period(interval.clone())
        .granularity(Granularity::Monthly)
        .send()
        .await
        .map_err(|e| format!("GetSavingsPlansUtilization: {}", describe(&e)))?;
    Ok(out.total().map(|t| {
        let u = t.utilization();
        let total = num(u.and_then(|u| u.total_commitment()));
        let used = num(u.and_then(|u| u.used_commitment()));
        SavingsPlansUtilization {
            total_commitment: cents(total),
            used_commitment: cents(used),
            unused_commitment: cents(num(u.and_then(|u| u.unused_commitment()))),
            utilization_percent: percent(used, total),
            net_savings: cents(num(t.savings().and_then(|s| s.net_savings()))),
        }
    }))
}

async fn reservation_coverage(
    ce: &aws_sdk_costexplorer::Client,
    interval: &DateInterval,
) -> Result<ReservationCoverage, String> {
    let (mut reserved, mut on_demand, mut running) = (0.0, 0.0, 0.0);
    let mut token: Option<String> = None;
    loop {
        let out = ce
            .get_reservation_coverage()
            .time_period(interval.clone())
            .granularity(Granularity::Monthly)
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("GetReservationCoverage: {}", describe(&e)))?;
        // The per-period totals, summed: the response's `Total` covers only
        // its own page.
        for p in out.coverages_by_time() {
            if let Some(h) = p.total().and_then(|c| c.coverage_hours()) {
                reserved += num(h.reserved_hours());
                on_demand += num(h.on_demand_hours());
                running += num(h.total_running_hours());
            }
        }
        match out.next_page_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
            _ => break,
        }
    }
    Ok(ReservationCoverage {
        reserved_hours: cents(reserved),
        on_demand_hours: cents(on_demand),
        total_running_hours: cents(running),
        coverage_percent: percent(reserved, running),
    })
}

async fn recommendation(
    ce: &aws_sdk_costexplorer::Client,
    lookback_days: u32,
    term: Term,
    payment: Payment,
) -> Result<SavingsPlanRecommendation, String> {
    let out = ce
        .get_savings_plans_purchase_recommendation()
        .savings_plans_type(SupportedSavingsPlansType::ComputeSp)
        .term_in_years(match term {
            Term::OneYear => TermInYears::OneYear,
            Term::ThreeYears => TermInYears::ThreeYears,
        })
        .payment_option(match payment {
            Payment::NoUpfront => PaymentOption::NoUpfront,
            Payment::PartialUpfront => PaymentOption::PartialUpfront,
            Payment::AllUpfront => PaymentOption::AllUpfront,
        })
        .lookback_period_in_days(if lookback_days >= 60 {
            LookbackPeriodInDays::SixtyDays
        } else {
            LookbackPeriodInDays::ThirtyDays
        })
        .send()
        .await
        .map_err(|e| format!("GetSavingsPlansPurchaseRecommendation: {}", describe(&e)))?;
    let s = out
        .savings_plans_purchase_recommendation()
        .and_then(|r| r.savings_plans_purchase_recommendation_summary());
    Ok(SavingsPlanRecommendation {
        savings_plans_type: "compute".into(),
        hourly_commitment: num(s.and_then(|s| s.hourly_commitment_to_purchase())),
        estimated_monthly_savings: cents(num(s.and_then(|s| s.estimated_monthly_savings_amount()))),
        estimated_savings_percent: cents(num(s.and_then(|s| s.estimated_savings_percentage()))),
        current_on_demand_spend: cents(num(s.and_then(|s| s.current_on_demand_spend()))),
        recommendations: num(s.and_then(|s| s.total_recommendation_count())) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    fn replay(responses: &[(u16, &str)]) -> StaticReplayClient {
        StaticReplayClient::new(
            responses
                .iter()
                .map(|(status, body)| {
                    ReplayEvent::new(
                        http::Request::builder()
                            .uri("https://ce.us-east-1.amazonaws.com/")
                            .body(SdkBody::empty())
                            .unwrap(),
                        http::Response::builder()
                            .status(*status)
                            .body(SdkBody::from(body.to_string()))
                            .unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// moto has none of these APIs: AWS's documented response shapes are
    /// replayed through the real SDK client, in the order the calls are made.
    #[tokio::test]
    async fn the_four_cost_explorer_answers_are_summarised() {
        let coverage = r#"{"SavingsPlansCoverages": [
          {"TimePeriod": {"Start": "2026-10-05", "End": "2026-11-01"},
           "Coverage": {"SpendCoveredBySavingsPlans": "300", "OnDemandCost": "100", "TotalCost": "400", "CoveragePercentage": "75"}},
          {"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-04"},
           "Coverage": {"SpendCoveredBySavingsPlans": "30", "OnDemandCost": "70", "TotalCost": "100", "CoveragePercentage": "30"}}
        ]}"#;
        let utilization = r#"{"SavingsPlansUtilizationsByTime": [], "Total": {
          "Utilization": {"TotalCommitment": "360", "UsedCommitment": "330", "UnusedCommitment": "30", "UtilizationPercentage": "91.67"},
          "Savings": {"NetSavings": "120.5", "OnDemandCostEquivalent": "450.5"},
          "AmortizedCommitment": {"TotalAmortizedCommitment": "360"}}}"#;
        let reservations = r#"{"CoveragesByTime": [
          {"TimePeriod": {"Start": "2026-10-05", "End": "2026-11-01"}, "Groups": [],
           "Total": {"CoverageHours": {"OnDemandHours": "600", "ReservedHours": "200", "TotalRunningHours": "800", "CoverageHoursPercentage": "25"}}}
        ]}"#;
        let recommendation = r#"{"Metadata": {"RecommendationId": "r-1"},
          "SavingsPlansPurchaseRecommendation": {"SavingsPlansType": "COMPUTE_SP", "TermInYears": "ONE_YEAR",
            "PaymentOption": "NO_UPFRONT", "LookbackPeriodInDays": "THIRTY_DAYS",
            "SavingsPlansPurchaseRecommendationDetails": [],
            "SavingsPlansPurchaseRecommendationSummary": {"HourlyCommitmentToPurchase": "0.25",
              "EstimatedMonthlySavingsAmount": "42.123", "EstimatedSavingsPercentage": "21.5",
              "CurrentOnDemandSpend": "190.0", "TotalRecommendationCount": "1", "CurrencyCode": "USD"}}}"#;
        let r = replay(&[
            (200, coverage),
            (200, utilization),
            (200, reservations),
            (200, recommendation),
        ]);
        let conf = aws_sdk_costexplorer::Config::builder()
            .behavior_version(aws_sdk_costexplorer::config::BehaviorVersion::latest())
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_costexplorer::config::Credentials::for_tests())
            .http_client(r.clone())
            .build();
        let ce = aws_sdk_costexplorer::Client::from_conf(conf);
        let today = NaiveDate::from_ymd_opt(2026, 11, 4).unwrap();
        let c = commitments(&ce, today, 30, Term::ThreeYears, Payment::AllUpfront).await;
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let cov = c.savings_plans_coverage.unwrap();
        assert_eq!(
            (cov.covered, cov.total, cov.coverage_percent),
            (330.0, 500.0, 66.0)
        );
        let u = c.savings_plans_utilization.unwrap();
        assert_eq!(
            (u.unused_commitment, u.utilization_percent, u.net_savings),
            (30.0, 91.67, 120.5)
        );
        let res = c.reservation_coverage.unwrap();
        assert_eq!((res.reserved_hours, res.coverage_percent), (200.0, 25.0));
        let rec = c.recommendation.unwrap();
        assert_eq!(rec.estimated_monthly_savings, 42.12);
        assert_eq!(rec.hourly_commitment, 0.25);
        let sent: Vec<_> = r.actual_requests().collect();
        let target = |i: usize| sent[i].headers().get("x-amz-target").unwrap().to_string();
        assert_eq!(
            target(3),
            "AWSInsightsIndexService.GetSavingsPlansPurchaseRecommendation"
        );
        let body = std::str::from_utf8(sent[3].body().bytes().unwrap()).unwrap();
        for part in [
            "\"COMPUTE_SP\"",
            "\"THREE_YEARS\"",
            "\"ALL_UPFRONT\"",
            "\"THIRTY_DAYS\"",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
    }

    #[tokio::test]
    async fn a_failing_api_is_named_in_errors_and_the_rest_is_kept() {
        let denied = r#"{"__type": "AccessDeniedException", "Message": "not allowed"}"#;
        let reservations = r#"{"CoveragesByTime": []}"#;
        let recommendation = r#"{"SavingsPlansPurchaseRecommendation": {}}"#;
        let r = replay(&[
            (400, denied),
            (400, denied),
            (200, reservations),
            (200, recommendation),
        ]);
        let conf = aws_sdk_costexplorer::Config::builder()
            .behavior_version(aws_sdk_costexplorer::config::BehaviorVersion::latest())
            .region(aws_sdk_costexplorer::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_costexplorer::config::Credentials::for_tests())
            .retry_config(aws_sdk_costexplorer::config::retry::RetryConfig::disabled())
            .http_client(r)
            .build();
        let ce = aws_sdk_costexplorer::Client::from_conf(conf);
        let today = NaiveDate::from_ymd_opt(2026, 11, 4).unwrap();
        let c = commitments(&ce, today, 60, Term::OneYear, Payment::NoUpfront).await;
        assert_eq!(c.errors.len(), 2, "{:?}", c.errors);
        assert!(
            c.errors[0].starts_with("GetSavingsPlansCoverage"),
            "{:?}",
            c.errors
        );
        assert!(
            c.errors[1].starts_with("GetSavingsPlansUtilization"),
            "{:?}",
            c.errors
        );
        assert!(c.savings_plans_coverage.is_none());
        assert_eq!(c.reservation_coverage.unwrap().coverage_percent, 0.0);
        assert_eq!(c.recommendation.unwrap().estimated_monthly_savings, 0.0);
        assert_eq!(c.start, "2026-09-05");
    }
}
