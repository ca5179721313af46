//! `rightsize_rds`: available DB instances whose highest daily maximum CPU
//! stays below 20 % get one class smaller in the family. Saving: the price
//! difference x 730 (x 2 Multi-AZ). Idle instances are left to `idle_rds`.

use serde_json::json;

use super::idle_rds::monthly_price;
use super::{CheckContext, CheckId, Findings, Level, Rec, round2, table_basis};
use crate::cost::pricing::smaller_rds_class;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let dbs = ctx.inventory.db_instances.as_ref().map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for d in dbs.iter().filter(|d| d.status == "available") {
        let m = metrics.rds.get(&d.id).cloned().unwrap_or_default();
        let idle = m.connections_max.len() as u32 >= t.rds_min_datapoints
            && m.connections_max.values().all(|c| *c <= 0.0);
        if idle {
            continue;
        }
        let days = m.cpu_max.len() as u32;
        if days < t.rds_min_datapoints {
            out.insufficient_data.push(ctx.insufficient(
                CheckId::RightsizeRds,
                "rds_instance",
                &d.id,
                days,
                t.rds_min_datapoints,
            ));
            continue;
        }
        let peak = m.cpu_max.values().copied().fold(f64::MIN, f64::max);
        if peak >= t.rightsize_cpu_percent {
            continue;
        }
        let Some(smaller) = smaller_rds_class(&d.engine, &d.class) else {
            continue;
        };
        let (Some((now, now_detail)), Some((then, then_detail))) = (
            monthly_price(ctx.prices, &d.engine, &d.class, d.multi_az),
            monthly_price(ctx.prices, &d.engine, &smaller, d.multi_az),
        ) else {
            continue;
        };
        out.recommendations.push(
            Rec {
                check: CheckId::RightsizeRds,
                title: format!("Downsize RDS {} from {} to {smaller}", d.id, d.class),
                description: format!(
                    "{}'s CPU never exceeded {:.1}% on any of {days} days (threshold {}%).",
                    d.id, peak, t.rightsize_cpu_percent
                ),
                resource_type: "rds_instance",
                resource_ids: vec![d.id.clone()],
                region: ctx.region.into(),
                savings: Some(now - then),
                basis: table_basis(format!("({now_detail}) - ({then_detail})"), ctx.region),
                action: format!(
                    "Modify the DB instance class to {smaller} in the next maintenance window \
                     and watch CPU, memory and connections."
                ),
                risk: Level::Medium,
                effort: Level::Medium,
                evidence: vec![
                    ("class", json!(d.class)),
                    ("recommended_class", json!(smaller)),
                    ("peak_daily_max_cpu_percent", json!(round2(peak))),
                    ("days_with_data", json!(days)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
