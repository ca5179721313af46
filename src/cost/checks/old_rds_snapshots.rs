//! `old_rds_snapshots`: manual RDS DB snapshots older than N days (the
//! `snapshot_age_days` threshold `old_snapshots` uses, default 90). Manual
//! snapshots are kept until someone deletes them, also after the DB
//! instance is gone. Saving: GB x 0.095 $/GB-month, where GB is the source
//! instance's allocated storage; RDS bills what the snapshot stores, which
//! can be less, so the figure is an upper bound and says so. Automated
//! backups (expired by their retention period) are not reported.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::RDS_SNAPSHOT_GB_MONTH;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let snapshots = ctx.inventory.db_snapshots.as_ref().map_err(Clone::clone)?;
    let min_days = i64::from(ctx.thresholds.snapshot_age_days);
    let mut out = Findings::default();
    for s in snapshots {
        let Some(created) = s.created else {
            continue;
        };
        let age = (ctx.now - created).num_days();
        if age < min_days {
            continue;
        }
        let savings = s.allocated_gb as f64 * RDS_SNAPSHOT_GB_MONTH;
        out.recommendations.push(
            Rec {
                check: CheckId::OldRdsSnapshots,
                title: format!(
                    "Manual DB snapshot {} is {age} days old ({} GB)",
                    s.id, s.allocated_gb
                ),
                description: format!(
                    "{} (of {}) is older than {min_days} days; manual snapshots are kept \
                     until deleted. The saving is an upper bound: it prices the source \
                     instance's {} GB of allocated storage, and the snapshot may store less.",
                    s.id, s.db_instance_id, s.allocated_gb
                ),
                resource_type: "rds_snapshot",
                resource_ids: vec![s.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: table_basis(
                    format!(
                        "upper bound: {} GB (allocated storage) x {RDS_SNAPSHOT_GB_MONTH} \
                         $/GB-month",
                        s.allocated_gb
                    ),
                    ctx.region,
                ),
                action: format!(
                    "Check that no restore plan or retention rule needs it, then aws rds \
                     delete-db-snapshot --db-snapshot-identifier {} (or export it to S3 first).",
                    s.id
                ),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("age_days", json!(age)),
                    ("created", json!(created.to_rfc3339())),
                    ("allocated_storage_gb", json!(s.allocated_gb)),
                    ("db_instance_id", json!(s.db_instance_id)),
                    ("engine", json!(s.engine)),
                    ("status", json!(s.status)),
                    ("savings_is_upper_bound", json!(true)),
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
    use crate::cost::inventory::DbSnapshot;
    use chrono::Duration;

    fn snap(id: &str, gb: i64, age_days: i64) -> DbSnapshot {
        DbSnapshot {
            id: id.into(),
            db_instance_id: "orders".into(),
            engine: "postgres".into(),
            allocated_gb: gb,
            created: Some(now() - Duration::days(age_days)),
            status: "available".into(),
        }
    }

    #[test]
    fn snapshots_past_the_age_threshold_are_priced_per_allocated_gb() {
        let mut inv = empty_inventory();
        inv.db_snapshots = Ok(vec![
            snap("before-migration", 200, 400),
            snap("exactly-90", 100, 90),
            snap("last-week", 500, 7),
        ]);
        let f = run_with(
            CheckId::OldRdsSnapshots,
            &inv,
            &RegionMetrics::default(),
            &Thresholds::default(),
        )
        .unwrap();
        let found: Vec<(&str, Option<f64>)> = f
            .recommendations
            .iter()
            .map(|r| (r.resource_ids[0].as_str(), r.estimated_monthly_savings))
            .collect();
        // 200 x 0.095 = 19.00; 100 x 0.095 = 9.50
        assert_eq!(
            found,
            vec![("before-migration", Some(19.0)), ("exactly-90", Some(9.5))]
        );
        assert!(f.recommendations[0].description.contains("upper bound"));
        let t = Thresholds {
            snapshot_age_days: 0,
            ..Thresholds::default()
        };
        let f = run_with(
            CheckId::OldRdsSnapshots,
            &inv,
            &RegionMetrics::default(),
            &t,
        )
        .unwrap();
        assert_eq!(f.recommendations.len(), 3);
    }
}
