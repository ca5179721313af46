//! The waste checks: one module per check, each a pure function from a
//! region's inventory, its daily metrics, the prices and the thresholds to
//! recommendations.
//!
//! Design choice: checks do no I/O. The report collects inventory and metrics
//! first (batched, concurrently), then runs every check over the result, so a
//! check is tested by building its input by hand, and a check whose input
//! could not be fetched reports an error instead of a wrong "nothing found".
//! Metric-based checks judge by datapoints, never by launch age: a resource
//! with fewer days of data than required is `insufficient_data`, never idle.

pub mod gp2_to_gp3;
pub mod idle_ec2;
pub mod idle_load_balancers;
pub mod idle_nat_gateway;
pub mod idle_rds;
pub mod io_to_gp3;
pub mod log_group_retention;
pub mod old_rds_snapshots;
pub mod old_snapshots;
pub mod previous_generation;
pub mod rds_extended_support;
pub mod rightsize_ec2;
pub mod rightsize_rds;
pub mod s3_lifecycle;
pub mod stopped_ec2_storage;
pub mod unassociated_eip;
pub mod unattached_ebs;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::inventory::RegionInventory;
use super::metrics::{Daily, Window};
use super::pricing::{Prices, PricingBasis, cents};

/// Every check, by its stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckId {
    /// Running instances doing nothing.
    IdleEc2,
    /// Over-provisioned running instances.
    RightsizeEc2,
    /// Stopped instances still paying for EBS.
    StoppedEc2Storage,
    /// Volumes in state `available`.
    UnattachedEbs,
    /// gp2 volumes that gp3 serves cheaper.
    Gp2ToGp3,
    /// Own snapshots older than N days.
    OldSnapshots,
    /// Elastic IPs with no association.
    UnassociatedEip,
    /// DB instances with no connections.
    IdleRds,
    /// Over-provisioned DB instances.
    RightsizeRds,
    /// ALBs/NLBs with no healthy targets or no traffic.
    IdleLoadBalancers,
    /// Buckets without lifecycle rules.
    S3Lifecycle,
    /// Previous-generation instance types and DB classes.
    PreviousGeneration,
    /// NAT gateways carrying (almost) nothing.
    IdleNatGateway,
    /// Log groups whose events never expire.
    LogGroupRetention,
    /// io1/io2 volumes that gp3 serves cheaper.
    IoToGp3,
    /// DB instances on a major version past the end of standard support.
    RdsExtendedSupport,
    /// Manual DB snapshots older than N days.
    OldRdsSnapshots,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 17] = [
        CheckId::IdleEc2,
        CheckId::RightsizeEc2,
        CheckId::StoppedEc2Storage,
        CheckId::UnattachedEbs,
        CheckId::Gp2ToGp3,
        CheckId::OldSnapshots,
        CheckId::UnassociatedEip,
        CheckId::IdleRds,
        CheckId::RightsizeRds,
        CheckId::IdleLoadBalancers,
        CheckId::S3Lifecycle,
        CheckId::PreviousGeneration,
        CheckId::IdleNatGateway,
        CheckId::LogGroupRetention,
        CheckId::IoToGp3,
        CheckId::RdsExtendedSupport,
        CheckId::OldRdsSnapshots,
    ];

    /// The stable id, e.g. `idle_ec2`.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::IdleEc2 => "idle_ec2",
            CheckId::RightsizeEc2 => "rightsize_ec2",
            CheckId::StoppedEc2Storage => "stopped_ec2_storage",
            CheckId::UnattachedEbs => "unattached_ebs",
            CheckId::Gp2ToGp3 => "gp2_to_gp3",
            CheckId::OldSnapshots => "old_snapshots",
            CheckId::UnassociatedEip => "unassociated_eip",
            CheckId::IdleRds => "idle_rds",
            CheckId::RightsizeRds => "rightsize_rds",
            CheckId::IdleLoadBalancers => "idle_load_balancers",
            CheckId::S3Lifecycle => "s3_lifecycle",
            CheckId::PreviousGeneration => "previous_generation",
            CheckId::IdleNatGateway => "idle_nat_gateway",
            CheckId::LogGroupRetention => "log_group_retention",
            CheckId::IoToGp3 => "io_to_gp3",
            CheckId::RdsExtendedSupport => "rds_extended_support",
            CheckId::OldRdsSnapshots => "old_rds_snapshots",
        }
    }

    /// Parses a stable id.
    pub fn parse(id: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.id() == id)
    }

    /// The comma-separated list of ids, for error messages.
    pub fn all_ids() -> String {
        CheckId::ALL.map(CheckId::id).join(", ")
    }
}

/// The thresholds every check reads; each is a `cost_report` parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Days of metrics the EC2 and RDS checks look at.
    pub lookback_days: u32,
    /// A day is idle for EC2 when its average CPU is at or below this.
    pub idle_cpu_percent: f64,
    /// ... and its NetworkIn + NetworkOut is at or below this many MB.
    pub idle_network_mb: f64,
    /// An instance is idle with at least this many idle days.
    pub idle_min_days: u32,
    /// Rightsize when the highest daily maximum CPU stays below this.
    pub rightsize_cpu_percent: f64,
    /// Days of CPU data an EC2 instance needs to be judged.
    pub ec2_min_datapoints: u32,
    /// Days of data a DB instance needs to be judged.
    pub rds_min_datapoints: u32,
    /// Snapshots (EBS and manual RDS) older than this many days are reported.
    pub snapshot_age_days: u32,
    /// Instances stopped longer than this many days are reported.
    pub stopped_days: u32,
    /// Days of request counts the load-balancer check looks at.
    pub lb_lookback_days: u32,
    /// A load balancer with fewer requests than this on every day is idle.
    pub lb_min_requests_per_day: f64,
    /// A NAT gateway is idle when it moved less than this many GB (2^30
    /// bytes, out to destination + out to source) on every day with data.
    pub nat_idle_gb_per_day: f64,
    /// Days of data a NAT gateway needs to be judged.
    pub nat_min_datapoints: u32,
    /// Log groups without retention are reported when they store more than
    /// this many GB.
    pub log_min_stored_gb: f64,
    /// io_to_gp3: volumes with at most this many provisioned IOPS (gp3's limit).
    pub gp3_max_iops: i64,
    /// io_to_gp3: volumes of at most this many GiB (gp3's limit).
    pub gp3_max_size_gb: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            lookback_days: 14,
            idle_cpu_percent: 10.0,
            idle_network_mb: 5.0,
            idle_min_days: 4,
            rightsize_cpu_percent: 20.0,
            ec2_min_datapoints: 4,
            rds_min_datapoints: 7,
            snapshot_age_days: 90,
            stopped_days: 7,
            lb_lookback_days: 7,
            lb_min_requests_per_day: 100.0,
            nat_idle_gb_per_day: 1.0,
            nat_min_datapoints: 7,
            log_min_stored_gb: 0.0,
            gp3_max_iops: 16_000,
            gp3_max_size_gb: 16_384,
        }
    }
}

/// Daily EC2 series of one instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ec2Metrics {
    /// Daily average CPUUtilization (%).
    pub cpu_avg: Daily,
    /// Daily maximum CPUUtilization (%).
    pub cpu_max: Daily,
    /// Daily NetworkIn sum (bytes).
    pub network_in: Daily,
    /// Daily NetworkOut sum (bytes).
    pub network_out: Daily,
}

/// Daily RDS series of one DB instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RdsMetrics {
    /// Daily maximum DatabaseConnections.
    pub connections_max: Daily,
    /// Daily maximum CPUUtilization (%).
    pub cpu_max: Daily,
}

/// Daily NAT gateway series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NatMetrics {
    /// Daily BytesOutToDestination sum.
    pub bytes_out_to_destination: Daily,
    /// Daily BytesOutToSource sum.
    pub bytes_out_to_source: Daily,
}

/// The metrics of one region, by resource id (instance id, DB identifier,
/// load-balancer ARN, NAT gateway id).
#[derive(Debug, Clone, Default)]
pub struct RegionMetrics {
    /// Per running instance.
    pub ec2: HashMap<String, Ec2Metrics>,
    /// Per available DB instance.
    pub rds: HashMap<String, RdsMetrics>,
    /// Daily request (ALB) or new-flow (NLB) sums per load balancer.
    pub lb_requests: HashMap<String, Daily>,
    /// Per available NAT gateway.
    pub nat: HashMap<String, NatMetrics>,
    /// `Err` when the CloudWatch reads failed: metric checks report it.
    pub error: Option<String>,
}

/// Everything a check reads.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The region.
    pub region: &'a str,
    /// Its resources.
    pub inventory: &'a RegionInventory,
    /// Its metrics.
    pub metrics: &'a RegionMetrics,
    /// Prices.
    pub prices: &'a Prices,
    /// Thresholds.
    pub thresholds: &'a Thresholds,
    /// The window the EC2/RDS metrics cover.
    pub window: Window,
    /// The time the report is computed at.
    pub now: DateTime<Utc>,
}

impl CheckContext<'_> {
    /// The metrics, or the error that kept them from being read.
    pub fn metrics(&self) -> Result<&RegionMetrics, String> {
        match &self.metrics.error {
            Some(e) => Err(e.clone()),
            None => Ok(self.metrics),
        }
    }

    /// The entry for a resource a metric check cannot judge in this region:
    /// `days` of data where it needs `required`.
    pub fn insufficient(
        &self,
        check: CheckId,
        resource_type: &str,
        resource_id: &str,
        days: u32,
        required: u32,
    ) -> InsufficientData {
        InsufficientData {
            check: check.id().into(),
            region: self.region.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
            days_with_data: days,
            days_required: required,
        }
    }
}

/// How urgent a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// $500/month or more.
    Critical,
    /// $100/month or more.
    High,
    /// $20/month or more.
    Medium,
    /// Less, unknown, or informational.
    Low,
}

impl Priority {
    /// The priority of a monthly saving.
    pub fn for_savings(monthly: Option<f64>) -> Priority {
        match monthly {
            Some(s) if s >= 500.0 => Priority::Critical,
            Some(s) if s >= 100.0 => Priority::High,
            Some(s) if s >= 20.0 => Priority::Medium,
            _ => Priority::Low,
        }
    }
}

/// low / medium / high, for risk and effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Little.
    Low,
    /// Some.
    Medium,
    /// Much.
    High,
}

/// One thing to do about waste, with its saving and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Recommendation {
    /// The check that found it, e.g. `idle_ec2`.
    pub check: String,
    /// One-line summary.
    pub title: String,
    /// What was found and why it is waste.
    pub description: String,
    /// critical (>= $500/month), high (>= $100), medium (>= $20) or low.
    pub priority: Priority,
    /// e.g. `ec2_instance`, `ebs_volume`, `ebs_snapshot`, `elastic_ip`,
    /// `rds_instance`, `rds_snapshot`, `load_balancer`, `nat_gateway`,
    /// `log_group`, `s3_bucket`.
    pub resource_type: String,
    /// The resources concerned.
    pub resource_ids: Vec<String>,
    /// Region of the resources.
    pub region: String,
    /// Estimated saving in USD per month (730 h), rounded to cents; null when
    /// no price is known (the pricing basis says why) or for informational
    /// checks.
    pub estimated_monthly_savings: Option<f64>,
    /// The prices and arithmetic behind the saving.
    pub pricing_basis: PricingBasis,
    /// What to do.
    pub action_required: String,
    /// Risk of acting on it: low, medium, high.
    pub risk_level: Level,
    /// Effort to act on it: low, medium, high.
    pub implementation_effort: Level,
    /// The data the finding rests on (metrics, sizes, dates).
    pub evidence: BTreeMap<String, Value>,
}

/// A resource a metric check could not judge for lack of data.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct InsufficientData {
    /// The check, e.g. `idle_ec2`.
    pub check: String,
    /// Region.
    pub region: String,
    /// e.g. `ec2_instance`.
    pub resource_type: String,
    /// The resource.
    pub resource_id: String,
    /// Days with datapoints in the lookback.
    pub days_with_data: u32,
    /// Days required to judge.
    pub days_required: u32,
}

/// What one check found in one region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// Recommendations.
    pub recommendations: Vec<Recommendation>,
    /// Resources it could not judge.
    pub insufficient_data: Vec<InsufficientData>,
}

/// Builder-ish helper the checks share.
pub(crate) struct Rec {
    pub check: CheckId,
    pub title: String,
    pub description: String,
    pub resource_type: &'static str,
    pub resource_ids: Vec<String>,
    pub region: String,
    pub savings: Option<f64>,
    pub basis: PricingBasis,
    pub action: String,
    pub risk: Level,
    pub effort: Level,
    pub evidence: Vec<(&'static str, Value)>,
}

impl Rec {
    pub(crate) fn build(self) -> Recommendation {
        let savings = self.savings.map(cents);
        Recommendation {
            check: self.check.id().to_string(),
            title: self.title,
            description: self.description,
            priority: Priority::for_savings(savings),
            resource_type: self.resource_type.to_string(),
            resource_ids: self.resource_ids,
            region: self.region,
            estimated_monthly_savings: savings,
            pricing_basis: self.basis,
            action_required: self.action,
            risk_level: self.risk,
            implementation_effort: self.effort,
            evidence: self
                .evidence
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// The basis of a figure that could not be priced.
pub(crate) fn unpriced(what: &str, region: &str) -> PricingBasis {
    let mut basis = PricingBasis::table(format!(
        "no price for {what} in the table: saving not estimated"
    ));
    basis.price_region = super::pricing::region_note(region);
    basis
}

/// A table basis with the region noted.
pub(crate) fn table_basis(detail: String, region: &str) -> PricingBasis {
    let mut basis = PricingBasis::table(detail);
    basis.price_region = super::pricing::region_note(region);
    basis
}

/// Rounds a metric value for evidence (two decimals).
pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Runs one check over one region. S3 is account-wide and run by the report.
pub fn run(check: CheckId, ctx: &CheckContext<'_>) -> Result<Findings, String> {
    match check {
        CheckId::IdleEc2 => idle_ec2::run(ctx),
        CheckId::RightsizeEc2 => rightsize_ec2::run(ctx),
        CheckId::StoppedEc2Storage => stopped_ec2_storage::run(ctx),
        CheckId::UnattachedEbs => unattached_ebs::run(ctx),
        CheckId::Gp2ToGp3 => gp2_to_gp3::run(ctx),
        CheckId::OldSnapshots => old_snapshots::run(ctx),
        CheckId::UnassociatedEip => unassociated_eip::run(ctx),
        CheckId::IdleRds => idle_rds::run(ctx),
        CheckId::RightsizeRds => rightsize_rds::run(ctx),
        CheckId::IdleLoadBalancers => idle_load_balancers::run(ctx),
        CheckId::PreviousGeneration => previous_generation::run(ctx),
        CheckId::IdleNatGateway => idle_nat_gateway::run(ctx),
        CheckId::LogGroupRetention => log_group_retention::run(ctx),
        CheckId::IoToGp3 => io_to_gp3::run(ctx),
        CheckId::RdsExtendedSupport => rds_extended_support::run(ctx),
        CheckId::OldRdsSnapshots => old_rds_snapshots::run(ctx),
        CheckId::S3Lifecycle => Ok(Findings::default()),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-built inputs for the checks' unit tests.
    use super::*;
    use crate::cost::inventory::RegionInventory;
    use chrono::NaiveDate;

    pub fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    pub fn empty_inventory() -> RegionInventory {
        RegionInventory {
            region: "us-east-1".into(),
            instances: Ok(vec![]),
            volumes: Ok(vec![]),
            snapshots: Ok(vec![]),
            addresses: Ok(vec![]),
            db_instances: Ok(vec![]),
            load_balancers: Ok(vec![]),
            nat_gateways: Ok(vec![]),
            log_groups: Ok(vec![]),
            db_snapshots: Ok(vec![]),
        }
    }

    /// A running instance with no name and no volumes.
    pub fn running_instance(id: &str, instance_type: &str) -> crate::cost::inventory::Instance {
        crate::cost::inventory::Instance {
            id: id.into(),
            instance_type: instance_type.into(),
            state: "running".into(),
            name: None,
            stopped_since: None,
            volume_ids: vec![],
        }
    }

    /// `values[i]` on the i-th day of the 14-day window ending before `now()`.
    pub fn daily(values: &[f64]) -> Daily {
        let start = NaiveDate::from_ymd_opt(2026, 11, 12).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (start + chrono::Duration::days(i as i64), *v))
            .collect()
    }

    pub fn run_with(
        check: CheckId,
        inventory: &RegionInventory,
        metrics: &RegionMetrics,
        thresholds: &Thresholds,
    ) -> Result<Findings, String> {
        let prices = Prices::table();
        let ctx = CheckContext {
            region: "us-east-1",
            inventory,
            metrics,
            prices: &prices,
            thresholds,
            window: Window::last_days(now(), thresholds.lookback_days),
            now: now(),
        };
        run(check, &ctx)
    }
}
