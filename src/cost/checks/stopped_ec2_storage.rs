//! `stopped_ec2_storage`: instances stopped longer than N days (default 7)
//! cost nothing for compute but keep paying for their EBS volumes. Saving:
//! the monthly price of the attached volumes.
//!
//! The stop time comes from the instance's state transition reason; an
//! instance whose reason carries no date is reported with its age unknown
//! only when the threshold is 0, never guessed older than it is.

use std::collections::HashMap;

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis, unpriced};
use crate::cost::pricing::ebs_monthly;

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let instances = ctx.inventory.instances.as_ref().map_err(Clone::clone)?;
    let volumes = ctx.inventory.volumes.as_ref().map_err(Clone::clone)?;
    let by_id: HashMap<&str, _> = volumes.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut out = Findings::default();
    let min_days = i64::from(ctx.thresholds.stopped_days);
    for i in instances.iter().filter(|i| i.state == "stopped") {
        let days_stopped = i.stopped_since.map(|t| (ctx.now - t).num_days());
        let old_enough = match days_stopped {
            Some(d) => d >= min_days,
            None => min_days == 0,
        };
        if !old_enough {
            continue;
        }
        // Volumes listing this instance as attachment, plus its block devices.
        let mut ids: Vec<&str> = i.volume_ids.iter().map(String::as_str).collect();
        for v in volumes.iter().filter(|v| v.attached_to.contains(&i.id)) {
            if !ids.contains(&v.id.as_str()) {
                ids.push(&v.id);
            }
        }
        let mut total = 0.0;
        let mut details = Vec::new();
        let mut unknown = Vec::new();
        let mut gb = 0;
        for id in &ids {
            let Some(v) = by_id.get(id) else { continue };
            gb += v.size_gb;
            match ebs_monthly(&v.volume_type, v.size_gb, v.iops, v.throughput) {
                Some((cost, detail)) => {
                    total += cost;
                    details.push(format!("{id}: {detail}"));
                }
                None => unknown.push(format!("{id} ({})", v.volume_type)),
            }
        }
        if ids.is_empty() {
            continue;
        }
        let (savings, basis) = if unknown.is_empty() {
            (Some(total), table_basis(details.join("; "), ctx.region))
        } else {
            (None, unpriced(&unknown.join(", "), ctx.region))
        };
        out.recommendations.push(
            Rec {
                check: CheckId::StoppedEc2Storage,
                title: format!("Stopped instance {} still pays for {gb} GB of EBS", i.id),
                description: format!(
                    "{} has been stopped for {}; its {} attached volume(s) are still billed.",
                    i.name.as_deref().unwrap_or(&i.id),
                    days_stopped.map_or("an unknown time".to_string(), |d| format!("{d} days")),
                    ids.len()
                ),
                resource_type: "ec2_instance",
                resource_ids: std::iter::once(i.id.clone())
                    .chain(ids.iter().map(|s| s.to_string()))
                    .collect(),
                region: ctx.region.into(),
                savings,
                basis,
                action: "If the instance is no longer needed, snapshot its volumes (or create \
                         an AMI) and terminate it with its volumes."
                    .into(),
                risk: Level::Medium,
                effort: Level::Low,
                evidence: vec![
                    ("days_stopped", json!(days_stopped)),
                    ("volume_ids", json!(ids)),
                    ("total_gb", json!(gb)),
                ],
            }
            .build(),
        );
    }
    Ok(out)
}
