//! What a region holds, as plain Rust values: instances, volumes, snapshots,
//! addresses, DB instances and their manual snapshots, load balancers, NAT
//! gateways, log groups (and the buckets of the account).
//!
//! Design choice: the checks never see SDK types. Collection (the describe
//! calls, all paginated) turns SDK shapes into these small structs once, so
//! every check is a pure function over them that unit tests can feed by
//! hand, and moto's quirks (an unassociated Elastic IP reported with
//! `InstanceId: ""`, snapshots of other owners) are dealt with in one place.
//! Each resource kind is fetched on its own and kept as a `Result`, so one
//! denied or failing call costs only the checks that need it.

use chrono::{DateTime, NaiveDateTime, Utc};

/// An EC2 instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `i-...`
    pub id: String,
    /// e.g. `m5.large`.
    pub instance_type: String,
    /// `running`, `stopped`, ...
    pub state: String,
    /// The `Name` tag, when set.
    pub name: Option<String>,
    /// When a stopped instance was stopped, from its state transition reason.
    pub stopped_since: Option<DateTime<Utc>>,
    /// EBS volumes attached through the block device mappings.
    pub volume_ids: Vec<String>,
}

/// An EBS volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// `vol-...`
    pub id: String,
    /// `gp2`, `gp3`, `io1`, ...
    pub volume_type: String,
    /// Size in GiB.
    pub size_gb: i64,
    /// Provisioned IOPS (gp3, io1, io2) or gp2's baseline.
    pub iops: Option<i64>,
    /// Provisioned throughput in MB/s (gp3).
    pub throughput: Option<i64>,
    /// `available` (unattached), `in-use`, ...
    pub state: String,
    /// Instances it is attached to.
    pub attached_to: Vec<String>,
}

/// An EBS snapshot owned by the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `snap-...`
    pub id: String,
    /// Source volume, when known.
    pub volume_id: Option<String>,
    /// Size of the source volume in GiB (the upper bound of what it stores).
    pub size_gb: i64,
    /// When it was started.
    pub start_time: Option<DateTime<Utc>>,
    /// Its description.
    pub description: Option<String>,
}

/// An Elastic IP address.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    /// `eipalloc-...` (or the public IP for EC2-Classic addresses).
    pub allocation_id: String,
    /// The public IPv4 address.
    pub public_ip: String,
    /// Present when associated (empty strings count as absent).
    pub association_id: Option<String>,
}

/// An RDS DB instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DbInstance {
    /// DB instance identifier.
    pub id: String,
    /// e.g. `db.m5.large`.
    pub class: String,
    /// `mysql`, `postgres`, ...
    pub engine: String,
    /// Multi-AZ deployments cost twice the Single-AZ price.
    pub multi_az: bool,
    /// `available`, `stopped`, ...
    pub status: String,
    /// e.g. `5.7.44`, `16.4`.
    pub engine_version: String,
    /// `open-source-rds-extended-support` (AWS's default when absent) or
    /// `open-source-rds-extended-support-disabled`.
    pub engine_lifecycle_support: Option<String>,
}

/// A manual RDS DB snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSnapshot {
    /// DB snapshot identifier.
    pub id: String,
    /// The DB instance it was taken of.
    pub db_instance_id: String,
    /// `mysql`, `postgres`, ...
    pub engine: String,
    /// Allocated storage of the source DB instance in GiB (the upper bound of
    /// what the snapshot stores).
    pub allocated_gb: i64,
    /// When it was taken.
    pub created: Option<DateTime<Utc>>,
    /// `available`, `creating`, ...
    pub status: String,
}

/// A NAT gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct NatGateway {
    /// `nat-...`
    pub id: String,
    /// `available`, `pending`, `deleted`, ...
    pub state: String,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// `public` or `private`.
    pub connectivity: Option<String>,
    /// The `Name` tag, when set.
    pub name: Option<String>,
}

/// A CloudWatch Logs log group.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    /// Log group name.
    pub name: String,
    /// Days events are kept; `None`: never expire.
    pub retention_days: Option<i32>,
    /// Bytes stored (archived), as CloudWatch Logs reports them.
    pub stored_bytes: i64,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
}

/// An Application or Network Load Balancer.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancer {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `application`, `network` or `gateway`.
    pub lb_type: String,
    /// The CloudWatch `LoadBalancer` dimension (`app/name/id`).
    pub metric_dimension: String,
    /// Target groups attached to it.
    pub target_groups: usize,
    /// Registered targets across them.
    pub targets: usize,
    /// Targets reported `healthy`.
    pub healthy_targets: usize,
}

/// Lifecycle configuration of a bucket, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// No lifecycle configuration at all.
    Missing,
    /// Rules, but none aborts incomplete multipart uploads.
    NoAbortIncompleteMultipartUpload,
    /// Rules including an enabled AbortIncompleteMultipartUpload.
    Complete,
}

/// An S3 bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Bucket name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its lifecycle state.
    pub lifecycle: Lifecycle,
}

/// One region's resources; each kind is `Err(message)` when its calls failed.
#[derive(Debug, Clone)]
pub struct RegionInventory {
    /// The region.
    pub region: String,
    /// EC2 instances.
    pub instances: Result<Vec<Instance>, String>,
    /// EBS volumes.
    pub volumes: Result<Vec<Volume>, String>,
    /// Snapshots the account owns.
    pub snapshots: Result<Vec<Snapshot>, String>,
    /// Elastic IPs.
    pub addresses: Result<Vec<Address>, String>,
    /// RDS DB instances.
    pub db_instances: Result<Vec<DbInstance>, String>,
    /// ALBs and NLBs.
    pub load_balancers: Result<Vec<LoadBalancer>, String>,
    /// NAT gateways.
    pub nat_gateways: Result<Vec<NatGateway>, String>,
    /// CloudWatch Logs log groups.
    pub log_groups: Result<Vec<LogGroup>, String>,
    /// Manual RDS DB snapshots.
    pub db_snapshots: Result<Vec<DbSnapshot>, String>,
}

/// Treats `Some("")` as absent (moto reports unassociated addresses so).
pub fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).map(str::to_string)
}

/// When an instance was stopped, from a transition reason such as
/// `User initiated (2024-01-31 12:00:00 GMT)` (AWS) or `... UTC)` (moto).
pub fn parse_stopped_since(reason: &str) -> Option<DateTime<Utc>> {
    let open = reason.rfind('(')?;
    let close = reason[open..].find(')')? + open;
    let inner = reason[open + 1..close].trim();
    let stamp = inner
        .strip_suffix("GMT")
        .or_else(|| inner.strip_suffix("UTC"))
        .unwrap_or(inner)
        .trim();
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_time_is_read_from_aws_and_moto_reasons() {
        let aws = parse_stopped_since("User initiated (2024-01-31 12:00:00 GMT)").unwrap();
        assert_eq!(aws.to_rfc3339(), "2024-01-31T12:00:00+00:00");
        let moto = parse_stopped_since("User initiated (2026-11-26 07:30:50 UTC)").unwrap();
        assert_eq!(moto.to_rfc3339(), "2026-11-26T07:30:50+00:00");
        assert_eq!(parse_stopped_since(""), None);
        assert_eq!(parse_stopped_since("Server.ScheduledStop (soon)"), None);
    }

    #[test]
    fn empty_association_counts_as_absent() {
        assert_eq!(non_empty(Some("")), None);
        assert_eq!(non_empty(None), None);
        assert_eq!(non_empty(Some("eipassoc-1")).as_deref(), Some("eipassoc-1"));
    }
}
