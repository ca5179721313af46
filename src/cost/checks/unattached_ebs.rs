//! `unattached_ebs`: volumes in state `available` are attached to nothing
//! and billed in full. Saving: GB x the type's price, plus provisioned IOPS
//! and throughput.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis, unpriced};
use crate::cost::pricing::ebs_monthly;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let volumes = ctx.inventory.volumes.as_ref().map_err(Clone::clone)?;
    let mut out = Findings::default();
    for v in volumes.iter().filter(|v| v.state == "available") {
        let (savings, basis) = match ebs_monthly(&v.volume_type, v.size_gb, v.iops, v.throughput) {
            Some((cost, detail)) => (Some(cost), table_basis(detail, ctx.region)),
            None => (
                None,
                unpriced(&format!("volume type {}", v.volume_type), ctx.region),
            ),
        };
        out.recommendations.push(
            Rec {
                check: CheckId::UnattachedEbs,
                title: format!(
                    "Unattached {} volume {} ({} GB)",
                    v.volume_type, v.id, v.size_gb
                ),
                description: format!(
                    "{} is not attached to any instance but is billed for its {} GB{}.",
                    v.id,
                    v.size_gb,
                    if matches!(v.volume_type.as_str(), "io1" | "io2") {
                        " and provisioned IOPS"
                    } else {
                        ""
                    }
                ),
                resource_type: "ebs_volume",
                resource_ids: vec![v.id.clone()],
                region: ctx.region.into(),
                savings,
                basis,
                action: "Snapshot the volume if its data may be needed, then delete it.".into(),
                risk: Level::Low,
                effort: Level::Low,
                evidence: vec![
                    ("volume_type", json!(v.volume_type)),
                    ("size_gb", json!(v.size_gb)),
                    ("iops", json!(v.iops)),
                    ("throughput_mbps", json!(v.throughput)),
                    ("state", json!(v.state)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
