//! The cost toolset's settings: AWS access and where prices come from. Owned
//! here and built by the wiring (`config` from flags), so the domain imports
//! no configuration module.

/// Where prices for cost estimates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PricingSource {
    /// The embedded, dated us-east-1 list-price table (no network).
    #[default]
    Table,
    /// The AWS Price List API (GetProducts), cached, falling back to the table.
    Live,
}

/// AWS access for the cost toolset. Unset fields fall through to the standard
/// AWS chain (`AWS_PROFILE`, `AWS_REGION`, `~/.aws/config`, SSO, IMDS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Named profile from `~/.aws/config`.
    pub profile: Option<String>,
    /// Home region: used for global calls and when a report names no regions.
    pub region: Option<String>,
    /// Endpoint override for every AWS service (an emulator such as moto).
    pub endpoint_url: Option<String>,
    /// Where prices come from.
    pub pricing: PricingSource,
}
