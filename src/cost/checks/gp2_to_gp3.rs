//! `gp2_to_gp3`: every gp2 volume is cheaper as gp3 with at least the same
//! baseline performance (gp3 includes 3000 IOPS and 125 MB/s). Saving:
//! GB x (gp2 - gp3), less the IOPS a large gp2 volume's baseline needs
//! beyond 3000; volumes where that leaves no saving are not reported.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::gp2_to_gp3_monthly_saving;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let volumes = ctx.inventory.volumes.as_ref().map_err(Clone::clone)?;
    let mut out = Findings::default();
    for v in volumes.iter().filter(|v| v.volume_type == "gp2") {
        let (savings, detail) = gp2_to_gp3_monthly_saving(v.size_gb);
        if savings <= 0.0 {
            continue;
        }
        out.recommendations.push(
            Rec {
                check: CheckId::Gp2ToGp3,
                title: format!("Convert gp2 volume {} ({} GB) to gp3", v.id, v.size_gb),
                description: format!(
                    "gp3 costs 20% less per GB than gp2 and includes 3000 IOPS and 125 MB/s; \
                     {} can be modified in place without downtime.",
                    v.id
                ),
                resource_type: "ebs_volume",
                resource_ids: vec![v.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: table_basis(detail, ctx.region),
                action: format!(
                    "aws ec2 modify-volume --volume-id {} --volume-type gp3",
                    v.id
                ),
                risk: Level::Low,
                effort: Level::Low,
                evidence: vec![
                    ("size_gb", json!(v.size_gb)),
                    ("state", json!(v.state)),
                    (
                        "gp2_baseline_iops",
                        json!((3 * v.size_gb).clamp(100, 16_000)),
                    ),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
