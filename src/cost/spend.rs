//! Spend from Cost Explorer: `cost_by_service` (GetCostAndUsage, every page
//! followed) and the month-over-month change per service.
//!
//! Design choice: fetching and arithmetic are separate. [`fetch_periods`]
//! turns Cost Explorer pages into plain [`SpendPeriod`]s; totals, rankings
//! and month-over-month alarms are pure functions over them, unit-tested
//! without AWS. Amounts are Cost Explorer's `UnblendedCost` (what the bill
//! shows before credits), rounded to cents only when reported.

use std::collections::BTreeMap;

use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, GroupDefinition, GroupDefinitionType,
};
use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::Serialize;

use super::aws::describe;
use super::pricing::cents;

/// The Cost Explorer metric every figure uses.
pub const METRIC: &str = "UnblendedCost";

/// How to group spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By AWS service.
    Service,
    /// By region.
    Region,
    /// By member account.
    LinkedAccount,
    /// By a cost-allocation tag's value.
    Tag(String),
}

impl GroupBy {
    /// Parses `SERVICE`, `REGION`, `LINKED_ACCOUNT` or `TAG:<key>`.
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "SERVICE" => Some(GroupBy::Service),
            "REGION" => Some(GroupBy::Region),
            "LINKED_ACCOUNT" => Some(GroupBy::LinkedAccount),
            _ => s
                .strip_prefix("TAG:")
                .filter(|k| !k.trim().is_empty())
                .map(|k| GroupBy::Tag(k.to_string())),
        }
    }

    /// The name as given on input.
    pub fn name(&self) -> String {
        match self {
            GroupBy::Service => "SERVICE".into(),
            GroupBy::Region => "REGION".into(),
            GroupBy::LinkedAccount => "LINKED_ACCOUNT".into(),
            GroupBy::Tag(k) => format!("TAG:{k}"),
        }
    }

    fn definition(&self) -> GroupDefinition {
        let (kind, key) = match self {
            GroupBy::Service => (GroupDefinitionType::Dimension, "SERVICE".to_string()),
            GroupBy::Region => (GroupDefinitionType::Dimension, "REGION".to_string()),
            GroupBy::LinkedAccount => {
                (GroupDefinitionType::Dimension, "LINKED_ACCOUNT".to_string())
            }
            GroupBy::Tag(k) => (GroupDefinitionType::Tag, k.clone()),
        };
        GroupDefinition::builder().r#type(kind).key(key).build()
    }
}

/// One group's amount.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GroupAmount {
    /// The group's key (service name, region, account id, `tagkey$value`).
    pub key: String,
    /// USD (UnblendedCost).
    pub amount: f64,
}

/// Spend in one time period.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SpendPeriod {
    /// First day (YYYY-MM-DD).
    pub start: String,
    /// Day after the last (exclusive).
    pub end: String,
    /// Whether Cost Explorer marks the figures as estimated (period not closed).
    pub estimated: bool,
    /// Sum over the groups (or Cost Explorer's total when ungrouped), USD.
    pub total: f64,
    /// Amount per group, largest first.
    pub groups: Vec<GroupAmount>,
}

/// Fetches every page of GetCostAndUsage for a period.
pub async fn fetch_periods(
    ce: &aws_sdk_costexplorer::Client,
    start: NaiveDate,
    end: NaiveDate,
    granularity: Granularity,
    group_by: Option<&GroupBy>,
) -> Result<(Vec<SpendPeriod>, usize), String> {
    let interval = DateInterval::builder()
        .start(start.format("%Y-%m-%d").to_string())
        .end(end.format("%Y-%m-%d").to_string())
        .build()
        .map_err(|e| e.to_string())?;
    let mut token: Option<String> = None;
    let mut periods = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let out = ce
            .get_cost_and_usage()
            .time_period(interval.clone())
            .granularity(granularity.clone())
            .metrics(METRIC)
            .set_group_by(group_by.map(|g| vec![g.definition()]))
            .set_next_page_token(token.take())
            .send()
            .await
            .map_err(|e| format!("GetCostAndUsage: {}", describe(&e)))?;
        for r in out.results_by_time() {
            let (start, end) = r
                .time_period()
                .map(|p| (p.start().to_string(), p.end().to_string()))
                .unwrap_or_default();
            let amount = |m: Option<
                &std::collections::HashMap<String, aws_sdk_costexplorer::types::MetricValue>,
            >| {
                m.and_then(|m| m.get(METRIC))
                    .and_then(|v| v.amount())
                    .and_then(|a| a.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let mut groups: Vec<GroupAmount> = r
                .groups()
                .iter()
                .map(|g| GroupAmount {
                    key: g.keys().join(" / "),
                    amount: amount(g.metrics()),
                })
                .collect();
            groups.sort_by(|a, b| {
                b.amount
                    .total_cmp(&a.amount)
                    .then_with(|| a.key.cmp(&b.key))
            });
            let total = if groups.is_empty() {
                amount(r.total())
            } else {
                groups.iter().map(|g| g.amount).sum()
            };
            periods.push(SpendPeriod {
                start,
                end,
                estimated: r.estimated(),
                total,
                groups,
            });
        }
        match out.next_page_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok((periods, pages))
}

/// Totals per group over all periods, largest first.
pub fn totals_by_group(periods: &[SpendPeriod]) -> Vec<GroupAmount> {
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for p in periods {
        for g in &p.groups {
            *sums.entry(g.key.clone()).or_insert(0.0) += g.amount;
        }
    }
    let mut out: Vec<GroupAmount> = sums
        .into_iter()
        .map(|(key, amount)| GroupAmount {
            key,
            amount: cents(amount),
        })
        .collect();
    out.sort_by(|a, b| {
        b.amount
            .total_cmp(&a.amount)
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

/// Rounds every amount of the periods to cents for output.
pub fn rounded(mut periods: Vec<SpendPeriod>) -> Vec<SpendPeriod> {
    for p in &mut periods {
        p.total = cents(p.total);
        for g in &mut p.groups {
            g.amount = cents(g.amount);
        }
    }
    periods
}

/// The first day of the month `months_back` months before `day`'s month.
pub fn month_start(day: NaiveDate, months_back: u32) -> NaiveDate {
    let mut y = day.year();
    let mut m = day.month() as i32 - months_back as i32;
    while m <= 0 {
        m += 12;
        y -= 1;
    }
    NaiveDate::from_ymd_opt(y, m as u32, 1).unwrap_or(day)
}

/// One service's change between two months.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ServiceChange {
    /// The service, as Cost Explorer names it.
    pub service: String,
    /// Spend in the earlier month, USD.
    pub previous: f64,
    /// Spend in the later month, USD.
    pub current: f64,
    /// current - previous, USD.
    pub change: f64,
    /// Change in percent of `previous`; null when `previous` was 0.
    pub change_percent: Option<f64>,
    /// True when the service grew by more than the threshold (or appeared
    /// with at least `min_amount`).
    pub alarm: bool,
}

/// Compares the two months' spend per service; largest increase first.
pub fn compare_months(
    previous: &[GroupAmount],
    current: &[GroupAmount],
    threshold_percent: f64,
    min_amount: f64,
) -> Vec<ServiceChange> {
    let mut services: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for g in previous {
        services.entry(&g.key).or_default().0 += g.amount;
    }
    for g in current {
        services.entry(&g.key).or_default().1 += g.amount;
    }
    let mut out: Vec<ServiceChange> = services
        .into_iter()
        .map(|(service, (prev, cur))| {
            let change = cur - prev;
            let change_percent = (prev > 0.0).then(|| change / prev * 100.0);
            let alarm = cur.max(prev) >= min_amount
                && match change_percent {
                    Some(p) => p > threshold_percent,
                    None => cur > 0.0,
                };
            ServiceChange {
                service: service.to_string(),
                previous: cents(prev),
                current: cents(cur),
                change: cents(change),
                change_percent: change_percent.map(|p| (p * 10.0).round() / 10.0),
                alarm,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.change
            .total_cmp(&a.change)
            .then_with(|| a.service.cmp(&b.service))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(key: &str, amount: f64) -> GroupAmount {
        GroupAmount {
            key: key.into(),
            amount,
        }
    }

    #[test]
    fn group_by_accepts_dimensions_and_tags() {
        assert_eq!(GroupBy::parse("SERVICE"), Some(GroupBy::Service));
        assert_eq!(
            GroupBy::parse("TAG:team"),
            Some(GroupBy::Tag("team".into()))
        );
        assert_eq!(GroupBy::parse("TAG:"), None);
        assert_eq!(GroupBy::parse("service"), None);
    }

    #[test]
    fn growth_over_the_threshold_raises_an_alarm() {
        let changes = compare_months(
            &[
                g("Amazon EC2", 100.0),
                g("Amazon S3", 50.0),
                g("AWS Lambda", 10.0),
            ],
            &[
                g("Amazon EC2", 150.0),
                g("Amazon S3", 55.0),
                g("Amazon RDS", 30.0),
            ],
            20.0,
            1.0,
        );
        let by = |s: &str| changes.iter().find(|c| c.service == s).unwrap();
        assert!(by("Amazon EC2").alarm);
        assert_eq!(by("Amazon EC2").change_percent, Some(50.0));
        assert!(!by("Amazon S3").alarm, "10% is under the threshold");
        assert!(by("Amazon RDS").alarm, "a new service is a change");
        assert_eq!(by("Amazon RDS").change_percent, None);
        assert!(!by("AWS Lambda").alarm, "shrinking never alarms");
        assert_eq!(changes[0].service, "Amazon EC2");
    }

    #[test]
    fn month_start_crosses_years() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        assert_eq!(
            month_start(d, 0),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
        assert_eq!(
            month_start(d, 1),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
        assert_eq!(
            month_start(d, 2),
            NaiveDate::from_ymd_opt(2025, 11, 1).unwrap()
        );
    }
}
