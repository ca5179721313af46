//! `log_group_retention`: CloudWatch Logs groups with no retention setting
//! (their events never expire) that store data. Saving: stored GB x 0.03
//! $/GB-month, the whole group's storage charge. A retention period deletes
//! only the events older than it, so the figure is an upper bound of what
//! setting one saves, and the recommendation says so.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, round2, table_basis};
use crate::cost::pricing::{BYTES_PER_GB, LOGS_STORAGE_GB_MONTH};

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let groups = ctx.inventory.log_groups.as_ref().map_err(Clone::clone)?;
    let min_gb = ctx.thresholds.log_min_stored_gb;
    let mut out = Findings::default();
    for g in groups.iter().filter(|g| g.retention_days.is_none()) {
        let gb = g.stored_bytes as f64 / BYTES_PER_GB;
        if g.stored_bytes <= 0 || gb <= min_gb {
            continue;
        }
        let age_days = g.created.map(|c| (ctx.now - c).num_days());
        out.recommendations.push(
            Rec {
                check: CheckId::LogGroupRetention,
                title: format!(
                    "Log group {} keeps its events forever ({} GB stored)",
                    g.name,
                    round2(gb)
                ),
                description: format!(
                    "{} has no retention setting, so every event it ever received is \
                     stored and billed. The saving is an upper bound: it is the group's \
                     whole storage charge, and a retention period deletes only the events \
                     older than it.",
                    g.name
                ),
                resource_type: "log_group",
                resource_ids: vec![g.name.clone()],
                region: ctx.region.into(),
                savings: Some(gb * LOGS_STORAGE_GB_MONTH),
                basis: table_basis(
                    format!(
                        "upper bound: {} bytes = {gb:.6} GB stored x {LOGS_STORAGE_GB_MONTH} \
                         $/GB-month",
                        g.stored_bytes
                    ),
                    ctx.region,
                ),
                action: format!(
                    "Choose how long these logs must be kept (compliance, debugging), then \
                     aws logs put-retention-policy --log-group-name {} --retention-in-days 30 \
                     (or the period chosen); export what must be kept longer to S3.",
                    g.name
                ),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("stored_bytes", json!(g.stored_bytes)),
                    ("retention_in_days", json!(null)),
                    ("age_days", json!(age_days)),
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
    use crate::cost::inventory::LogGroup;

    fn group(name: &str, retention: Option<i32>, bytes: i64) -> LogGroup {
        LogGroup {
            name: name.into(),
            retention_days: retention,
            stored_bytes: bytes,
            created: None,
        }
    }

    #[test]
    fn groups_that_never_expire_and_store_data_are_priced_per_gb() {
        let mut inv = empty_inventory();
        inv.log_groups = Ok(vec![
            group("/app/forever", None, 250 * 1_073_741_824),
            group("/app/kept-30-days", Some(30), 250 * 1_073_741_824),
            group("/app/empty", None, 0),
            group("/app/small", None, 1_000_000),
        ]);
        let f = run_with(
            CheckId::LogGroupRetention,
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
        // 250 GB x 0.03 = 7.50; 1 MB is a fraction of a cent.
        assert_eq!(
            found,
            vec![("/app/forever", Some(7.5)), ("/app/small", Some(0.0))]
        );
        assert!(f.recommendations[0].description.contains("upper bound"));
        assert!(f.insufficient_data.is_empty());

        // The size threshold leaves out small groups.
        let t = Thresholds {
            log_min_stored_gb: 1.0,
            ..Thresholds::default()
        };
        let f = run_with(
            CheckId::LogGroupRetention,
            &inv,
            &RegionMetrics::default(),
            &t,
        )
        .unwrap();
        assert_eq!(f.recommendations.len(), 1);
    }

    #[test]
    fn a_failed_listing_is_an_error() {
        let mut inv = empty_inventory();
        inv.log_groups = Err("DescribeLogGroups: AccessDeniedException".into());
        let err = run_with(
            CheckId::LogGroupRetention,
            &inv,
            &RegionMetrics::default(),
            &Thresholds::default(),
        )
        .unwrap_err();
        assert!(err.contains("DescribeLogGroups"));
    }
}
