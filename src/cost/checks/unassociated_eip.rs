//! `unassociated_eip`: Elastic IPs with no association. A public IPv4
//! address costs 0.005 $/h whether used or not; an unassociated one buys
//! nothing. Saving: 0.005 x 730 = 3.65 $/month each.

use serde_json::json;

use super::{CheckContext, CheckId, Findings, Level, Rec, table_basis};
use crate::cost::pricing::{HOURS_PER_MONTH, PUBLIC_IPV4_HOUR};

/// Runs the check over a region.
pub fn run(ctx: &CheckContext<'_>) -> Result<Findings, String> {
    let addresses = ctx.inventory.addresses.as_ref().map_err(Clone::clone)?;
    let mut out = Findings::default();
    for a in addresses.iter().filter(|a| a.association_id.is_none()) {
        out.recommendations.push(
            Rec {
                check: CheckId::UnassociatedEip,
                title: format!("Elastic IP {} is not associated", a.public_ip),
                description: format!(
                    "{} ({}) is allocated but attached to nothing, and public IPv4 addresses \
                     are billed by the hour.",
                    a.public_ip, a.allocation_id
                ),
                resource_type: "elastic_ip",
                resource_ids: vec![a.allocation_id.clone()],
                region: ctx.region.into(),
                savings: Some(PUBLIC_IPV4_HOUR * HOURS_PER_MONTH),
                basis: table_basis(
                    format!("public IPv4 {PUBLIC_IPV4_HOUR} $/h x 730 h"),
                    ctx.region,
                ),
                action: format!(
                    "Release it (aws ec2 release-address --allocation-id {}) unless an \
                     allow-list depends on the address.",
                    a.allocation_id
                ),
                risk: Level::Low,
                effort: Level::Low,
                evidence: vec![("public_ip", json!(a.public_ip))],
            }
            .build(),
        );
    }
    Ok(out)
}
