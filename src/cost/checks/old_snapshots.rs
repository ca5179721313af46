//! `old_snapshots`: snapshots the account owns that are older than N days
//! (default 90). Saving: GB x 0.05 $/GB-month, where GB is the *source
//! volume's* size. Snapshots are incremental, so the stored (billed) size is
//! usually smaller: the figure is an upper bound, and says so.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::SNAPSHOT_GB_MONTH;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let snapshots = ctx.inventory.snapshots.as_ref().map_err(Clone::clone)?;
    let min_days = i64::from(ctx.thresholds.snapshot_age_days);
    let mut out = Findings::default();
    for s in snapshots {
        let Some(started) = s.start_time else {
            continue;
        };
        let age = (ctx.now - started).num_days();
        if age < min_days {
            continue;
        }
        let savings = s.size_gb as f64 * SNAPSHOT_GB_MONTH;
        out.recommendations.push(
            Rec {
                check: CheckId::OldSnapshots,
                title: format!("Snapshot {} is {age} days old ({} GB)", s.id, s.size_gb),
                description: format!(
                    "{} is older than {min_days} days. The saving is an upper bound: \
                     snapshots are incremental and may store less than the source volume's \
                     {} GB.",
                    s.id, s.size_gb
                ),
                resource_type: "ebs_snapshot",
                resource_ids: vec![s.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: table_basis(
                    format!(
                        "upper bound: {} GB (source volume size) x {SNAPSHOT_GB_MONTH} $/GB-month",
                        s.size_gb
                    ),
                    ctx.region,
                ),
                action: "Check that no AMI or restore plan needs it, then delete it (or move \
                         it to the archive tier)."
                    .into(),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("age_days", json!(age)),
                    ("start_time", json!(started.to_rfc3339())),
                    ("volume_size_gb", json!(s.size_gb)),
                    ("volume_id", json!(s.volume_id)),
                    ("description", json!(s.description)),
                    ("savings_is_upper_bound", json!(true)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
