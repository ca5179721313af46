//! `s3_lifecycle`: buckets with no lifecycle configuration, or with rules but
//! none that aborts incomplete multipart uploads (whose orphaned parts are
//! billed and invisible in listings). Informational: the saving depends on
//! data this check does not read, so none is estimated, and it says so.

use serde_json::json;

use super::{CheckId, Findings, Level, Rec, table_basis};
use crate::cost::inventory::{Bucket, Lifecycle};

/// Runs the check over the account's buckets.
pub fn run(buckets: &[Bucket]) -> Findings {
    let mut out = Findings::default();
    for b in buckets {
        let (title, description, action) = match b.lifecycle {
            Lifecycle::Complete => continue,
            Lifecycle::Missing => (
                format!("Bucket {} has no lifecycle rules", b.name),
                format!(
                    "{} has no lifecycle configuration: objects never move to cheaper storage \
                     classes or expire, and incomplete multipart uploads are kept forever.",
                    b.name
                ),
                "Add lifecycle rules: transition or expire old objects and versions, and \
                 abort incomplete multipart uploads after 7 days.",
            ),
            Lifecycle::NoAbortIncompleteMultipartUpload => (
                format!(
                    "Bucket {} never aborts incomplete multipart uploads",
                    b.name
                ),
                format!(
                    "{} has lifecycle rules, but none with AbortIncompleteMultipartUpload: \
                     parts of failed uploads are billed indefinitely.",
                    b.name
                ),
                "Add a rule with AbortIncompleteMultipartUpload (DaysAfterInitiation: 7).",
            ),
        };
        out.recommendations.push(
            Rec {
                check: CheckId::S3Lifecycle,
                title,
                description,
                resource_type: "s3_bucket",
                resource_ids: vec![b.name.clone()],
                region: b.region.clone(),
                savings: None,
                basis: table_basis(
                    "informational: no saving estimated (it depends on object ages and \
                     sizes, which this check does not read)"
                        .into(),
                    &b.region,
                ),
                action: action.into(),
                risk: Level::Low,
                effort: Level::Low,
                evidence: vec![(
                    "lifecycle",
                    json!(match b.lifecycle {
                        Lifecycle::Missing => "none",
                        Lifecycle::NoAbortIncompleteMultipartUpload =>
                            "rules without AbortIncompleteMultipartUpload",
                        Lifecycle::Complete => "complete",
                    }),
                )],
            }
            .build(),
        );
    }
    out
}
