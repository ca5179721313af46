//! `idle_nat_gateway`: available NAT gateways that moved less than 1 GB
//! (BytesOutToDestination + BytesOutToSource) on every day of the lookback
//! that has data, with at least 7 days of data. Saving: 0.045 $/h x 730 (the
//! hourly charge; the per-GB processing charge of so little traffic is left
//! out).
//!
//! Unlike load balancers, a day without datapoints is not counted as a quiet
//! day: the gateway is judged on the days CloudWatch has, and one with too
//! few of them is `insufficient_data`, never idle.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, round2, table_basis};
use crate::cost::metrics::{Daily, within};
use crate::cost::pricing::{BYTES_PER_GB, HOURS_PER_MONTH, NAT_GATEWAY_HOUR};

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let nats = ctx.inventory.nat_gateways.as_ref().map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for n in nats.iter().filter(|n| n.state == "available") {
        let m = metrics.nat.get(&n.id).cloned().unwrap_or_default();
        // A day has data when either direction has a datapoint; the other
        // direction then counts as zero that day.
        let mut daily = Daily::new();
        for series in [&m.bytes_out_to_destination, &m.bytes_out_to_source] {
            for (day, bytes) in within(series, ctx.window) {
                *daily.entry(day).or_insert(0.0) += bytes;
            }
        }
        let days = daily.len() as u32;
        if days < t.nat_min_datapoints {
            out.insufficient_data.push(ctx.insufficient(
                CheckId::IdleNatGateway,
                "nat_gateway",
                &n.id,
                days,
                t.nat_min_datapoints,
            ));
            continue;
        }
        let busiest_gb = daily.values().copied().fold(0.0, f64::max) / BYTES_PER_GB;
        if busiest_gb >= t.nat_idle_gb_per_day {
            continue;
        }
        let label = n.name.as_deref().unwrap_or(&n.id);
        out.recommendations.push(
            Rec {
                check: CheckId::IdleNatGateway,
                title: format!("Idle NAT gateway {label}"),
                description: format!(
                    "{} moved less than {} GB a day on each of {days} days with data \
                     (busiest day: {} GB out to destinations and sources), yet costs \
                     {NAT_GATEWAY_HOUR} $ every hour it exists.",
                    n.id,
                    t.nat_idle_gb_per_day,
                    round2(busiest_gb)
                ),
                resource_type: "nat_gateway",
                resource_ids: vec![n.id.clone()],
                region: ctx.region.into(),
                savings: Some(NAT_GATEWAY_HOUR * HOURS_PER_MONTH),
                basis: table_basis(
                    format!(
                        "NAT gateway {NAT_GATEWAY_HOUR} $/h x 730 h (data processing, \
                         0.045 $/GB, not included)"
                    ),
                    ctx.region,
                ),
                action: "Check the route tables that point at it (private subnets that still \
                         need outbound access can share another gateway or use VPC \
                         endpoints), then delete the NAT gateway and release its Elastic IP."
                    .into(),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("days_with_data", json!(days)),
                    ("busiest_day_gb", json!(round2(busiest_gb))),
                    (
                        "daily_bytes",
                        json!(daily.values().copied().collect::<Vec<f64>>()),
                    ),
                    ("vpc_id", json!(n.vpc_id)),
                    ("subnet_id", json!(n.subnet_id)),
                    ("connectivity", json!(n.connectivity)),
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
    use super::super::{CheckId, NatMetrics, RegionMetrics, Thresholds};
    use crate::cost::inventory::NatGateway;

    fn nat(id: &str, state: &str) -> NatGateway {
        NatGateway {
            id: id.into(),
            state: state.into(),
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some("subnet-1".into()),
            connectivity: Some("public".into()),
            name: None,
        }
    }

    const GB: f64 = 1_073_741_824.0;

    #[test]
    fn quiet_on_every_day_with_data_is_idle_and_one_busy_day_keeps_it() {
        let mut inv = empty_inventory();
        inv.nat_gateways = Ok(vec![
            nat("nat-quiet", "available"),
            nat("nat-one-busy-day", "available"),
            nat("nat-new", "available"),
            nat("nat-gone", "deleted"),
        ]);
        let mut metrics = RegionMetrics::default();
        // 0.6 GB out + 0.3 GB back: 0.9 GB a day, under 1 GB.
        metrics.nat.insert(
            "nat-quiet".into(),
            NatMetrics {
                bytes_out_to_destination: daily(&[0.6 * GB; 10]),
                bytes_out_to_source: daily(&[0.3 * GB; 10]),
            },
        );
        let mut busy = vec![0.1 * GB; 14];
        busy[3] = 0.7 * GB; // 0.7 + 0.4 = 1.1 GB that day
        metrics.nat.insert(
            "nat-one-busy-day".into(),
            NatMetrics {
                bytes_out_to_destination: daily(&busy),
                bytes_out_to_source: daily(&[0.4 * GB; 14]),
            },
        );
        // Six days in one direction only: too little data.
        metrics.nat.insert(
            "nat-new".into(),
            NatMetrics {
                bytes_out_to_destination: daily(&[0.0; 6]),
                bytes_out_to_source: Default::default(),
            },
        );
        let f = run_with(
            CheckId::IdleNatGateway,
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
        assert_eq!(ids, vec!["nat-quiet"]);
        // 0.045 x 730 = 32.85
        assert_eq!(f.recommendations[0].estimated_monthly_savings, Some(32.85));
        assert_eq!(f.recommendations[0].evidence["days_with_data"], 10);
        assert_eq!(f.insufficient_data.len(), 1);
        assert_eq!(f.insufficient_data[0].resource_id, "nat-new");
        assert_eq!(f.insufficient_data[0].days_with_data, 6);
        assert_eq!(f.insufficient_data[0].days_required, 7);

        // A lower threshold keeps the quiet one too.
        let strict = Thresholds {
            nat_idle_gb_per_day: 0.5,
            ..Thresholds::default()
        };
        let f = run_with(CheckId::IdleNatGateway, &inv, &metrics, &strict).unwrap();
        assert!(f.recommendations.is_empty());
    }

    #[test]
    fn unreadable_metrics_are_an_error_not_an_idle_gateway() {
        let mut inv = empty_inventory();
        inv.nat_gateways = Ok(vec![nat("nat-1", "available")]);
        let metrics = RegionMetrics {
            error: Some("GetMetricData: AccessDenied".into()),
            ..Default::default()
        };
        let err = run_with(
            CheckId::IdleNatGateway,
            &inv,
            &metrics,
            &Thresholds::default(),
        )
        .unwrap_err();
        assert!(err.contains("AccessDenied"));
    }
}
