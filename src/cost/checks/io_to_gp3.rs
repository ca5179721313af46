//! `io_to_gp3`: io1/io2 volumes that gp3 can serve: at most 16,000
//! provisioned IOPS and 16 TiB (gp3's limits, both parameters). Saving: the
//! io volume's GB and IOPS charges less a gp3 volume of the same size and
//! IOPS (3,000 included, 0.005 $ per IOPS above).
//!
//! What gp3 does not match is said, not priced: io2's higher durability and
//! io1/io2's sub-millisecond latency, and throughput (gp3 includes 125 MB/s
//! and sells up to 1,000 MB/s at 0.04 $/MB/s-month, not in the figure).

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::io_to_gp3_monthly_saving;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let volumes = ctx.inventory.volumes.as_ref().map_err(Clone::clone)?;
    let t = ctx.thresholds;
    let mut out = Findings::default();
    for v in volumes
        .iter()
        .filter(|v| v.volume_type == "io1" || v.volume_type == "io2")
    {
        let iops = v.iops.unwrap_or(0);
        if iops > t.gp3_max_iops || v.size_gb > t.gp3_max_size_gb {
            continue;
        }
        let (savings, detail) = io_to_gp3_monthly_saving(&v.volume_type, v.size_gb, iops);
        if savings <= 0.0 {
            continue;
        }
        out.recommendations.push(
            Rec {
                check: CheckId::IoToGp3,
                title: format!(
                    "Move {} volume {} ({} GB, {iops} IOPS) to gp3",
                    v.volume_type, v.id, v.size_gb
                ),
                description: format!(
                    "gp3 provides the same {iops} IOPS (3,000 included) for {} GB at a \
                     fraction of the provisioned-IOPS price. Check first that the workload \
                     does not need io2's durability or io1/io2's latency, and its \
                     throughput: gp3 includes 125 MB/s (more costs 0.04 $/MB/s-month, not \
                     in this figure).",
                    v.size_gb
                ),
                resource_type: "ebs_volume",
                resource_ids: vec![v.id.clone()],
                region: ctx.region.into(),
                savings: Some(savings),
                basis: table_basis(detail, ctx.region),
                action: format!(
                    "aws ec2 modify-volume --volume-id {} --volume-type gp3 --iops {}",
                    v.id,
                    iops.max(3000)
                ),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("volume_type", json!(v.volume_type)),
                    ("size_gb", json!(v.size_gb)),
                    ("provisioned_iops", json!(iops)),
                    ("state", json!(v.state)),
                    ("attached_to", json!(v.attached_to)),
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
    use crate::cost::inventory::Volume;

    fn vol(id: &str, volume_type: &str, size_gb: i64, iops: i64) -> Volume {
        Volume {
            id: id.into(),
            volume_type: volume_type.into(),
            size_gb,
            iops: Some(iops),
            throughput: None,
            state: "in-use".into(),
            attached_to: vec!["i-1".into()],
        }
    }

    #[test]
    fn io_volumes_within_gp3_limits_are_priced_as_gp3() {
        let mut inv = empty_inventory();
        inv.volumes = Ok(vec![
            vol("vol-io1", "io1", 500, 10_000),
            vol("vol-io2-small", "io2", 100, 2000),
            vol("vol-too-many-iops", "io1", 500, 20_000),
            vol("vol-too-big", "io2", 20_000, 5000),
            vol("vol-gp2", "gp2", 100, 300),
        ]);
        let f = run_with(
            CheckId::IoToGp3,
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
        // (500 x 0.125 + 10,000 x 0.065) - (500 x 0.08 + 7,000 x 0.005) = 637.50
        // (100 x 0.125 + 2,000 x 0.065) - (100 x 0.08) = 134.50
        assert_eq!(
            found,
            vec![("vol-io1", Some(637.5)), ("vol-io2-small", Some(134.5))]
        );
        // A higher IOPS limit takes the 20,000-IOPS volume in.
        let t = Thresholds {
            gp3_max_iops: 80_000,
            ..Thresholds::default()
        };
        let f = run_with(CheckId::IoToGp3, &inv, &RegionMetrics::default(), &t).unwrap();
        assert_eq!(f.recommendations.len(), 3);
    }
}
