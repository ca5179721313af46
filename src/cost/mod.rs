//! The cost toolset: an AWS cost optimizer. It scans regions for waste
//! (idle, oversized, unattached, old, previous-generation resources), prices
//! each finding from a dated list-price table, and reads spend, its
//! month-over-month change and a forecast from Cost Explorer.
//!
//! Design choice: strictly read-only. Every AWS call here is a Describe,
//! List or Get; the tools recommend, they never act, so the minimal IAM
//! policy in the README is all the server needs. The pieces: [`aws`]
//! (configuration, clients), [`collect`] (describe calls -> [`inventory`]),
//! [`metrics`] (batched GetMetricData), [`checks`] (pure functions),
//! [`pricing`] / [`live_pricing`], [`report`] (orchestration), [`spend`] and
//! [`forecast`], [`commitments`] and [`anomalies`] (Cost Explorer).

pub mod anomalies;
pub mod aws;
pub mod charts;
pub mod checks;
pub mod collect;
pub mod commitments;
pub mod forecast;
pub mod inventory;
pub mod live_pricing;
pub mod metrics;
pub mod pricing;
pub mod report;
pub mod settings;
pub mod spend;

use std::sync::Arc;

use settings::AwsSettings;

/// What can stop a cost tool call as a whole (anything narrower becomes an
/// entry in a report's `errors`).
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The AWS credential chain found nothing usable.
    #[error(
        "no AWS credentials found. Provide them the standard way: \
         --aws-profile / AWS_PROFILE naming a profile in ~/.aws/config (run \
         `aws sso login` for SSO profiles), or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or an instance/container role"
    )]
    /// The field is the credential chain's own account (every provider it
    /// tried, the metadata service's timeouts): logged at debug, kept out of
    /// the message, which would otherwise run to a paragraph about IMDS.
    NoCredentials(String),
    /// A Cost Explorer call failed.
    #[error("{0}")]
    CostExplorer(String),
}

/// The cost subsystem's state: the lazily loaded AWS configuration and the
/// live price cache.
#[derive(Debug)]
pub struct Cost {
    /// AWS access.
    pub aws: aws::Aws,
    /// Price List API cache (used with `--pricing live`).
    pub live_prices: Arc<live_pricing::LivePrices>,
}

impl Cost {
    /// Builds the subsystem; nothing touches AWS until a tool is called.
    pub fn new(settings: AwsSettings) -> Self {
        Cost {
            aws: aws::Aws::new(settings),
            live_prices: Arc::new(live_pricing::LivePrices::new()),
        }
    }
}
