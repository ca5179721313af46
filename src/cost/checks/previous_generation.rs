//! `previous_generation`: instances of t2/m3/m4/c4/r4 and DB instances of
//! db.t2/db.m3/db.m4 classes, which the current generation (t3, m5, c5, r5,
//! db.t3, db.m5) replaces at the same size for less. Saving: old price -
//! new price, x 730 (x 2 for Multi-AZ DB instances); a move that would cost
//! more (m3.medium has no m5 twin) or lacks a price is not reported.

use serde_json::json;

use super::idle_rds::monthly_price;
use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::{HOURS_PER_MONTH, current_generation};

/// Runs the check over a region. Instances are checked when their kind was
/// fetched; a failed kind is an error only when both failed.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let mut out = Findings::default();
    let (instances, dbs) = (&ctx.inventory.instances, &ctx.inventory.db_instances);
    if let (Err(a), Err(b)) = (instances, dbs) {
        return Err(format!("{a}; {b}"));
    }
    for i in instances
        .iter()
        .flatten()
        .filter(|i| i.state != "terminated")
    {
        let Some(new_type) = current_generation(&i.instance_type) else {
            continue;
        };
        let (Some(old), Some(new)) = (
            ctx.prices.ec2_hourly(&i.instance_type),
            ctx.prices.ec2_hourly(&new_type),
        ) else {
            continue;
        };
        let savings = (old.usd - new.usd) * HOURS_PER_MONTH;
        if savings <= 0.0 {
            continue;
        }
        out.recommendations.push(
            Rec {
                check: CheckId::PreviousGeneration,
                title: format!("Move {} from {} to {new_type}", i.id, i.instance_type),
                description: format!(
                    "{} is a previous-generation type; {new_type} is faster and cheaper.",
                    i.instance_type
                ),
                resource_type: "ec2_instance",
                resource_ids: vec![i.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: ctx.prices.ec2_basis(
                    &old,
                    ctx.region,
                    format!(
                        "({} {} - {new_type} {}) $/h x 730 h",
                        i.instance_type, old.usd, new.usd
                    ),
                ),
                action: format!(
                    "Stop the instance, change its type to {new_type} (check the AMI supports \
                     ENA/NVMe), start it."
                ),
                risk: Level::Low,
                effort: Level::Medium,
                evidence: vec![
                    ("instance_type", json!(i.instance_type)),
                    ("recommended_type", json!(new_type)),
                    ("state", json!(i.state)),
                ],
            }
            .build(),
        );
    }
    for d in dbs.iter().flatten() {
        let Some(new_class) = current_generation(&d.class) else {
            continue;
        };
        let (Some((old, old_detail)), Some((new, new_detail))) = (
            monthly_price(ctx.prices, &d.engine, &d.class, d.multi_az),
            monthly_price(ctx.prices, &d.engine, &new_class, d.multi_az),
        ) else {
            continue;
        };
        if old - new <= 0.0 {
            continue;
        }
        out.recommendations.push(
            Rec {
                check: CheckId::PreviousGeneration,
                title: format!("Move RDS {} from {} to {new_class}", d.id, d.class),
                description: format!(
                    "{} is a previous-generation class; {new_class} is faster and cheaper.",
                    d.class
                ),
                resource_type: "rds_instance",
                resource_ids: vec![d.id.clone()],
                region: ctx.region.into(),
                savings: Some(old - new),
                basis: table_basis(format!("({old_detail}) - ({new_detail})"), ctx.region),
                action: format!(
                    "Modify the DB instance class to {new_class} in the next maintenance window."
                ),
                risk: Level::Low,
                effort: Level::Medium,
                evidence: vec![
                    ("class", json!(d.class)),
                    ("recommended_class", json!(new_class)),
                    ("engine", json!(d.engine)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
