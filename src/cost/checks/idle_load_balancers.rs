//! `idle_load_balancers`: ALBs and NLBs with no healthy target, or with
//! fewer than 100 requests on every one of the last 7 days. Saving: the
//! load balancer's hourly price x 730 (capacity units not included).
//!
//! ALBs are judged by `RequestCount`, NLBs by `NewFlowCount` (NLBs have no
//! request metric). A day without a datapoint counts as zero requests:
//! CloudWatch publishes nothing for a load balancer that served nothing, so
//! absence is evidence of idleness here, unlike CPU for instances.

use chrono::Duration;
use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::{HOURS_PER_MONTH, LOAD_BALANCER_HOUR};

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let lbs = ctx
        .inventory
        .load_balancers
        .as_ref()
        .map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let window = ctx.window.tail(t.lb_lookback_days);
    let mut out = Findings::default();
    for lb in lbs
        .iter()
        .filter(|lb| lb.lb_type == "application" || lb.lb_type == "network")
    {
        let series = metrics
            .lb_requests
            .get(&lb.arn)
            .cloned()
            .unwrap_or_default();
        let mut day = window.start.date_naive();
        let mut daily = Vec::new();
        while day < window.end.date_naive() {
            daily.push(series.get(&day).copied().unwrap_or(0.0));
            day += Duration::days(1);
        }
        let busiest = daily.iter().copied().fold(0.0, f64::max);
        let no_healthy = lb.healthy_targets == 0;
        let quiet = busiest < t.lb_min_requests_per_day;
        if !(no_healthy || quiet) {
            continue;
        }
        let why = if no_healthy {
            format!(
                "has no healthy targets ({} target group(s), {} registered target(s))",
                lb.target_groups, lb.targets
            )
        } else {
            format!(
                "served fewer than {} requests on each of the last {} days (busiest day: {})",
                t.lb_min_requests_per_day,
                daily.len(),
                busiest
            )
        };
        out.recommendations.push(
            Rec {
                check: CheckId::IdleLoadBalancers,
                title: format!("Idle {} load balancer {}", lb.lb_type, lb.name),
                description: format!("{} {why}.", lb.name),
                resource_type: "load_balancer",
                resource_ids: vec![lb.arn.clone()],
                region: ctx.region.into(),
                savings: Some(LOAD_BALANCER_HOUR * HOURS_PER_MONTH),
                basis: table_basis(
                    format!(
                        "{} load balancer {LOAD_BALANCER_HOUR} $/h x 730 h (capacity units not \
                         included)",
                        lb.lb_type
                    ),
                    ctx.region,
                ),
                action: "Check DNS records and listeners that point at it, then delete the \
                         load balancer and its unused target groups."
                    .into(),
                risk: Level::Low,
                effort: Level::Low,
                evidence: vec![
                    ("type", json!(lb.lb_type)),
                    ("target_groups", json!(lb.target_groups)),
                    ("registered_targets", json!(lb.targets)),
                    ("healthy_targets", json!(lb.healthy_targets)),
                    ("daily_requests", json!(daily)),
                    (
                        "metric",
                        json!(if lb.lb_type == "network" {
                            "NewFlowCount"
                        } else {
                            "RequestCount"
                        }),
                    ),
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
    use super::super::{CheckId, RegionMetrics, Thresholds};
    use crate::cost::inventory::LoadBalancer;

    fn lb(arn: &str, lb_type: &str, healthy: usize) -> LoadBalancer {
        LoadBalancer {
            arn: arn.into(),
            name: arn.into(),
            lb_type: lb_type.into(),
            metric_dimension: format!("app/{arn}/1"),
            target_groups: 1,
            targets: healthy,
            healthy_targets: healthy,
        }
    }

    #[test]
    fn missing_datapoints_count_as_zero_requests_and_one_busy_day_keeps_it() {
        let mut inv = empty_inventory();
        inv.load_balancers = Ok(vec![
            lb("silent", "network", 2),
            lb("one-busy-day", "application", 2),
            lb("no-targets", "application", 0),
            lb("gateway", "gateway", 0),
        ]);
        let mut metrics = RegionMetrics::default();
        let mut days = vec![0.0; 14];
        days[12] = 150.0; // inside the last 7 days
        metrics
            .lb_requests
            .insert("one-busy-day".into(), daily(&days));
        let f = run_with(
            CheckId::IdleLoadBalancers,
            &inv,
            &metrics,
            &Thresholds::default(),
        )
        .unwrap();
        let ids: Vec<&str> = f
            .recommendations
            .iter()
            .map(|r| r.resource_ids[0].as_str())
            .collect();
        assert_eq!(ids, vec!["silent", "no-targets"]);
        assert_eq!(f.recommendations[0].evidence["metric"], "NewFlowCount");
        assert_eq!(f.recommendations[0].estimated_monthly_savings, Some(16.43)); // 0.0225 x 730 = 16.425
    }
}
