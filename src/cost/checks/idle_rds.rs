//! `idle_rds`: available DB instances with zero connections on every day of
//! the lookback that has data (at least 7 days of data required). Saving:
//! the class's Single-AZ price x 730, doubled for Multi-AZ.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis, unpriced};
use crate::cost::pricing::HOURS_PER_MONTH;

/// The monthly price of a DB instance and its arithmetic, if known.
pub fn monthly_price(
    prices: &crate::cost::pricing::Prices,
    engine: &str,
    class: &str,
    multi_az: bool,
) -> Option<(f64, String)> {
    let hourly = prices.rds_hourly(engine, class)?;
    let factor = if multi_az { 2.0 } else { 1.0 };
    Some((
        hourly * HOURS_PER_MONTH * factor,
        format!(
            "{engine} {class} {hourly} $/h x 730 h{}",
            if multi_az { " x 2 (Multi-AZ)" } else { "" }
        ),
    ))
}

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let dbs = ctx.inventory.db_instances.as_ref().map_err(Clone::clone)?;
    let metrics = ctx.metrics()?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for d in dbs.iter().filter(|d| d.status == "available") {
        let m = metrics.rds.get(&d.id).cloned().unwrap_or_default();
        let days = m.connections_max.len() as u32;
        if days < t.rds_min_datapoints {
            out.insufficient_data.push(ctx.insufficient(
                CheckId::IdleRds,
                "rds_instance",
                &d.id,
                days,
                t.rds_min_datapoints,
            ));
            continue;
        }
        let peak = m.connections_max.values().copied().fold(0.0, f64::max);
        if peak > 0.0 {
            continue;
        }
        let (savings, basis) = match monthly_price(ctx.prices, &d.engine, &d.class, d.multi_az) {
            Some((cost, detail)) => (Some(cost), table_basis(detail, ctx.region)),
            None => (
                None,
                unpriced(&format!("{} {}", d.engine, d.class), ctx.region),
            ),
        };
        out.recommendations.push(
            Rec {
                check: CheckId::IdleRds,
                title: format!("Idle RDS instance {} ({})", d.id, d.class),
                description: format!(
                    "{} had no database connections on any of {days} days.",
                    d.id
                ),
                resource_type: "rds_instance",
                resource_ids: vec![d.id.clone()],
                region: ctx.region.into(),
                savings,
                basis,
                action: "Take a final snapshot and delete the DB instance (or stop it, which \
                         AWS restarts after 7 days)."
                    .into(),
                risk: Level::High,
                effort: Level::Low,
                evidence: vec![
                    ("engine", json!(d.engine)),
                    ("class", json!(d.class)),
                    ("multi_az", json!(d.multi_az)),
                    ("max_daily_connections", json!(peak)),
                    ("days_with_data", json!(days)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
