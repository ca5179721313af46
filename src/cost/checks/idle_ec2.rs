//! `idle_ec2`: running instances doing nothing, by AWS Trusted Advisor's
//! rule: a day is idle when its average CPU is at most 10 % and its network
//! traffic (in + out) at most 5 MB; an instance with at least 4 idle days in
//! the 14-day lookback is idle. Saving: the instance's hourly price x 730.
//!
//! A day without network datapoints counts as zero traffic (CloudWatch
//! omits empty periods); a day without CPU data is not a day at all, and an
//! instance with fewer CPU days than required is `insufficient_data`.

use serde_json::json;

use super::{
    CheckContext, CheckId, Ec2Metrics, Findings, Level, Rec, Thresholds, round2, unpriced,
};
use crate::cost::pricing::HOURS_PER_MONTH;

/// How an instance's metrics judge it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Too few days of CPU data.
    Insufficient {
        /// Days with CPU data.
        days: u32,
    },
    /// Idle on `idle_days` of `days`.
    Idle {
        /// Days that met the idle rule.
        idle_days: u32,
        /// Days with CPU data.
        days: u32,
    },
    /// Not idle.
    Busy,
}

/// Judges one instance's metrics by the thresholds.
pub fn judge(m: &Ec2Metrics, t: &Thresholds) -> Verdict {
    let days = m.cpu_avg.len() as u32;
    if days < t.ec2_min_datapoints {
        return Verdict::Insufficient { days };
    }
    let limit_bytes = t.idle_network_mb * 1_000_000.0;
    let idle_days = m
        .cpu_avg
        .iter()
        .filter(|(day, cpu)| {
            let net = m.network_in.get(day).copied().unwrap_or(0.0)
                + m.network_out.get(day).copied().unwrap_or(0.0);
            **cpu <= t.idle_cpu_percent && net <= limit_bytes
        })
        .count() as u32;
    if idle_days >= t.idle_min_days {
        Verdict::Idle { idle_days, days }
    } else {
        Verdict::Busy
    }
}

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let instances = ctx.inventory.instances.as_ref().map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for i in instances.iter().filter(|i| i.state == "running") {
        let m = metrics.ec2.get(&i.id).cloned().unwrap_or_default();
        match judge(&m, t) {
            Verdict::Insufficient { days } => out.insufficient_data.push(ctx.insufficient(
                CheckId::IdleEc2,
                "ec2_instance",
                &i.id,
                days,
                t.ec2_min_datapoints,
            )),
            Verdict::Busy => {}
            Verdict::Idle { idle_days, days } => {
                let price = ctx.prices.ec2_hourly(&i.instance_type);
                let (savings, basis) = match &price {
                    Some(p) => (
                        Some(p.usd * HOURS_PER_MONTH),
                        ctx.prices.ec2_basis(
                            p,
                            ctx.region,
                            format!("{} {} $/h x 730 h", i.instance_type, p.usd),
                        ),
                    ),
                    None => (None, unpriced(&i.instance_type, ctx.region)),
                };
                let max_cpu = m.cpu_avg.values().copied().fold(0.0, f64::max);
                out.recommendations.push(
                    Rec {
                        check: CheckId::IdleEc2,
                        title: format!("Idle EC2 instance {} ({})", i.id, i.instance_type),
                        description: format!(
                            "{} was idle on {idle_days} of {days} days (average CPU <= {}% and \
                             network <= {} MB a day); it costs its full price for no work.",
                            i.name.as_deref().unwrap_or(&i.id),
                            t.idle_cpu_percent,
                            t.idle_network_mb
                        ),
                        resource_type: "ec2_instance",
                        resource_ids: vec![i.id.clone()],
                        region: ctx.region.into(),
                        savings,
                        basis,
                        action: "Confirm with the owner, snapshot its volumes if needed, then \
                                 stop or terminate the instance."
                            .into(),
                        risk: Level::Medium,
                        effort: Level::Low,
                        evidence: vec![
                            ("instance_type", json!(i.instance_type)),
                            ("idle_days", json!(idle_days)),
                            ("days_with_data", json!(days)),
                            ("highest_daily_average_cpu_percent", json!(round2(max_cpu))),
                        ],
                    }
                    .build(),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{CheckId, Ec2Metrics, RegionMetrics, Thresholds};
    use super::*;

    #[test]
    fn low_cpu_and_network_on_four_days_is_idle_and_priced_at_730_hours() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![
            running_instance("i-idle", "t3.large"),
            running_instance("i-busy", "m5.large"),
        ]);
        let mut metrics = RegionMetrics::default();
        metrics.ec2.insert(
            "i-idle".into(),
            Ec2Metrics {
                cpu_avg: daily(&[2.0; 14]),
                network_in: daily(&[1000.0; 14]),
                ..Default::default()
            },
        );
        metrics.ec2.insert(
            "i-busy".into(),
            Ec2Metrics {
                cpu_avg: daily(&[60.0; 14]),
                ..Default::default()
            },
        );
        let f = run_with(CheckId::IdleEc2, &inv, &metrics, &Thresholds::default()).unwrap();
        assert_eq!(f.recommendations.len(), 1);
        let r = &f.recommendations[0];
        assert_eq!(r.resource_ids, vec!["i-idle"]);
        assert_eq!(r.estimated_monthly_savings, Some(60.74)); // 0.0832 x 730
        assert!(f.insufficient_data.is_empty());
    }

    #[test]
    fn heavy_network_days_are_not_idle_days() {
        let m = Ec2Metrics {
            cpu_avg: daily(&[1.0; 14]),
            network_out: daily(&[50_000_000.0; 14]),
            ..Default::default()
        };
        assert_eq!(judge(&m, &Thresholds::default()), Verdict::Busy);
    }

    #[test]
    fn a_new_instance_without_history_is_insufficient_data_not_idle() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![running_instance("i-new", "t3.micro")]);
        let mut metrics = RegionMetrics::default();
        metrics.ec2.insert(
            "i-new".into(),
            Ec2Metrics {
                cpu_avg: daily(&[0.0; 3]),
                ..Default::default()
            },
        );
        let f = run_with(CheckId::IdleEc2, &inv, &metrics, &Thresholds::default()).unwrap();
        assert!(f.recommendations.is_empty());
        assert_eq!(f.insufficient_data[0].days_with_data, 3);
        assert_eq!(f.insufficient_data[0].days_required, 4);
    }

    #[test]
    fn unknown_type_says_so_instead_of_guessing() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![running_instance("i-x", "x1e.32xlarge")]);
        let mut metrics = RegionMetrics::default();
        metrics.ec2.insert(
            "i-x".into(),
            Ec2Metrics {
                cpu_avg: daily(&[0.0; 14]),
                ..Default::default()
            },
        );
        let f = run_with(CheckId::IdleEc2, &inv, &metrics, &Thresholds::default()).unwrap();
        assert_eq!(f.recommendations[0].estimated_monthly_savings, None);
        assert!(
            f.recommendations[0]
                .pricing_basis
                .detail
                .contains("no price for x1e.32xlarge")
        );
    }

    #[test]
    fn failed_metric_reads_are_an_error_not_an_empty_result() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![running_instance("i-1", "t3.micro")]);
        let metrics = RegionMetrics {
            error: Some("GetMetricData: AccessDenied".into()),
            ..Default::default()
        };
        let e = run_with(CheckId::IdleEc2, &inv, &metrics, &Thresholds::default()).unwrap_err();
        assert!(e.contains("AccessDenied"));
    }
}
