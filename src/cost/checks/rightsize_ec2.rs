//! `rightsize_ec2`: running instances whose highest daily maximum CPU stays
//! below 20 % over the lookback are offered one size smaller in their family
//! (the nearest smaller size the price table knows). Saving: the price
//! difference x 730.
//!
//! Instances the idle rule flags are left to `idle_ec2` (stopping beats
//! shrinking), and the daily *maximum* is used, not the average, so an
//! instance with short daily peaks is not squeezed.

use serde_json::json;

use super::idle_ec2::{Verdict, judge};
use super::{CheckContext, CheckId, Findings, Level, Rec, round2};
use crate::cost::pricing::{HOURS_PER_MONTH, smaller_ec2_type};

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let instances = ctx.inventory.instances.as_ref().map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for i in instances.iter().filter(|i| i.state == "running") {
        let m = metrics.ec2.get(&i.id).cloned().unwrap_or_default();
        if matches!(judge(&m, t), Verdict::Idle { .. }) {
            continue;
        }
        // The daily maximum where CloudWatch has it, else the daily average.
        let series = if m.cpu_max.is_empty() {
            &m.cpu_avg
        } else {
            &m.cpu_max
        };
        let days = series.len() as u32;
        if days < t.ec2_min_datapoints {
            out.insufficient_data.push(ctx.insufficient(
                CheckId::RightsizeEc2,
                "ec2_instance",
                &i.id,
                days,
                t.ec2_min_datapoints,
            ));
            continue;
        }
        let peak = series.values().copied().fold(f64::MIN, f64::max);
        if peak >= t.rightsize_cpu_percent {
            continue;
        }
        let Some(smaller) = smaller_ec2_type(&i.instance_type) else {
            continue;
        };
        let (Some(now), Some(then)) = (
            ctx.prices.ec2_hourly(&i.instance_type),
            ctx.prices.ec2_hourly(&smaller),
        ) else {
            continue;
        };
        let savings = (now.usd - then.usd) * HOURS_PER_MONTH;
        out.recommendations.push(
            Rec {
                check: CheckId::RightsizeEc2,
                title: format!("Downsize {} from {} to {smaller}", i.id, i.instance_type),
                description: format!(
                    "{}'s CPU never exceeded {:.1}% on any of {days} days (threshold {}%): \
                     one size smaller in the family should carry the load.",
                    i.name.as_deref().unwrap_or(&i.id),
                    peak,
                    t.rightsize_cpu_percent
                ),
                resource_type: "ec2_instance",
                resource_ids: vec![i.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: ctx.prices.ec2_basis(
                    &now,
                    ctx.region,
                    format!(
                        "({} {} - {smaller} {}) $/h x 730 h",
                        i.instance_type, now.usd, then.usd
                    ),
                ),
                action: format!(
                    "Stop the instance, change its type to {smaller}, start it, and watch \
                     CPU and memory for a week."
                ),
                risk: Level::Medium,
                effort: Level::Medium,
                evidence: vec![
                    ("instance_type", json!(i.instance_type)),
                    ("recommended_type", json!(smaller)),
                    ("peak_daily_max_cpu_percent", json!(round2(peak))),
                    ("days_with_data", json!(days)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{CheckId, Ec2Metrics, RegionMetrics, Thresholds};

    #[test]
    fn quiet_but_not_idle_instance_goes_one_size_down() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![
            running_instance("i-1", "m5.xlarge"),
            running_instance("i-2", "m5.2xlarge"),
        ]);
        let mut metrics = RegionMetrics::default();
        // 15 % average (not idle), 18 % peaks: rightsize.
        metrics.ec2.insert(
            "i-1".into(),
            Ec2Metrics {
                cpu_avg: daily(&[15.0; 14]),
                cpu_max: daily(&[18.0; 14]),
                ..Default::default()
            },
        );
        // Peaks of 35 %: keep.
        metrics.ec2.insert(
            "i-2".into(),
            Ec2Metrics {
                cpu_avg: daily(&[15.0; 14]),
                cpu_max: daily(&[35.0; 14]),
                ..Default::default()
            },
        );
        let f = run_with(
            CheckId::RightsizeEc2,
            &inv,
            &metrics,
            &Thresholds::default(),
        )
        .unwrap();
        assert_eq!(f.recommendations.len(), 1);
        let r = &f.recommendations[0];
        assert_eq!(r.resource_ids, vec!["i-1"]);
        assert_eq!(r.evidence["recommended_type"], "m5.large");
        assert_eq!(r.estimated_monthly_savings, Some(70.08)); // (0.192-0.096) x 730
    }

    #[test]
    fn idle_instances_are_left_to_idle_ec2() {
        let mut inv = empty_inventory();
        inv.instances = Ok(vec![running_instance("i-1", "m5.xlarge")]);
        let mut metrics = RegionMetrics::default();
        metrics.ec2.insert(
            "i-1".into(),
            Ec2Metrics {
                cpu_avg: daily(&[1.0; 14]),
                cpu_max: daily(&[2.0; 14]),
                ..Default::default()
            },
        );
        let f = run_with(
            CheckId::RightsizeEc2,
            &inv,
            &metrics,
            &Thresholds::default(),
        )
        .unwrap();
        assert!(f.recommendations.is_empty());
    }
}
