//! The describe/list calls that build a [`RegionInventory`], each followed
//! through every page.
//!
//! Design choice: the kinds of one region are fetched concurrently (they hit
//! different APIs and do not depend on each other), and every kind keeps its
//! own `Result`, so an AccessDenied on RDS still leaves EC2's checks running.
//! `page_size` exists so tests can force several pages with a handful of
//! resources; each API's own minimum and maximum clamp it.

use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use aws_sdk_s3::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use super::aws::{Session, describe};
use super::inventory::{
    Address, Bucket, DbInstance, DbSnapshot, Instance, Lifecycle, LoadBalancer, LogGroup,
    NatGateway, RegionInventory, Snapshot, Volume, non_empty, parse_stopped_since,
};

/// Counts of describe/list calls made, for the report's `api_calls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCount {
    /// Describe/list calls (each page is one).
    pub describe: usize,
}

/// Which resource kinds to fetch (only those some selected check needs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// EC2 instances.
    pub instances: bool,
    /// EBS volumes.
    pub volumes: bool,
    /// Own snapshots.
    pub snapshots: bool,
    /// Elastic IPs.
    pub addresses: bool,
    /// RDS DB instances.
    pub db_instances: bool,
    /// Load balancers with their target health.
    pub load_balancers: bool,
    /// NAT gateways.
    pub nat_gateways: bool,
    /// CloudWatch Logs log groups.
    pub log_groups: bool,
    /// Manual RDS DB snapshots.
    pub db_snapshots: bool,
}

fn skipped<T>() -> Result<Vec<T>, String> {
    Ok(Vec::new())
}

/// Fetches the wanted kinds of one region concurrently.
pub async fn region_inventory(
    session: &Session,
    region: &str,
    account_id: &str,
    wanted: Wanted,
    page_size: Option<i32>,
) -> (RegionInventory, CallCount) {
    let ec2 = session.ec2(region);
    let rds = session.rds(region);
    let elb = session.elbv2(region);
    let logs = session.logs(region);
    let (
        instances,
        volumes,
        snapshots,
        addresses,
        db_instances,
        load_balancers,
        nat_gateways,
        log_groups,
        db_snapshots,
    ) = tokio::join!(
        async {
            if wanted.instances {
                instances(&ec2, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.volumes {
                volumes(&ec2, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.snapshots {
                snapshots(&ec2, account_id, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.addresses {
                addresses(&ec2).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.db_instances {
                db_instances(&rds, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.load_balancers {
                load_balancers(&elb, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.nat_gateways {
                nat_gateways(&ec2, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.log_groups {
                log_groups(&logs, page_size).await
            } else {
                (skipped(), 0)
            }
        },
        async {
            if wanted.db_snapshots {
                db_snapshots(&rds, page_size).await
            } else {
                (skipped(), 0)
            }
        },
    );
    let calls = instances.1
        + volumes.1
        + snapshots.1
        + addresses.1
        + db_instances.1
        + load_balancers.1
        + nat_gateways.1
        + log_groups.1
        + db_snapshots.1;
    (
        RegionInventory {
            region: region.to_string(),
            instances: instances.0,
            volumes: volumes.0,
            snapshots: snapshots.0,
            addresses: addresses.0,
            db_instances: db_instances.0,
            load_balancers: load_balancers.0,
            nat_gateways: nat_gateways.0,
            log_groups: log_groups.0,
            db_snapshots: db_snapshots.0,
        },
        CallCount { describe: calls },
    )
}

fn to_chrono(t: &aws_sdk_ec2::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

async fn instances(
    ec2: &aws_sdk_ec2::Client,
    page_size: Option<i32>,
) -> (Result<Vec<Instance>, String>, usize) {
    let mut pages = ec2
        .describe_instances()
        .set_max_results(page_size.map(|p| p.clamp(5, 1000)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeInstances: {}", describe(&e))), calls),
        };
        for reservation in page.reservations() {
            for i in reservation.instances() {
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                let stopped_since = if state == "stopped" {
                    i.state_transition_reason().and_then(parse_stopped_since)
                } else {
                    None
                };
                out.push(Instance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    state,
                    name: i
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("Name"))
                        .and_then(|t| non_empty(t.value())),
                    stopped_since,
                    volume_ids: i
                        .block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs().and_then(|e| non_empty(e.volume_id())))
                        .collect(),
                });
            }
        }
    }
    (Ok(out), calls)
}

async fn volumes(
    ec2: &aws_sdk_ec2::Client,
    page_size: Option<i32>,
) -> (Result<Vec<Volume>, String>, usize) {
    let mut pages = ec2
        .describe_volumes()
        .set_max_results(page_size.map(|p| p.clamp(5, 500)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeVolumes: {}", describe(&e))), calls),
        };
        for v in page.volumes() {
            out.push(Volume {
                id: v.volume_id().unwrap_or_default().to_string(),
                volume_type: v
                    .volume_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                size_gb: v.size().unwrap_or(0).into(),
                iops: v.iops().map(i64::from),
                throughput: v.throughput().map(i64::from),
                state: v
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                attached_to: v
                    .attachments()
                    .iter()
                    .filter_map(|a| non_empty(a.instance_id()))
                    .collect(),
            });
        }
    }
    (Ok(out), calls)
}

async fn snapshots(
    ec2: &aws_sdk_ec2::Client,
    account_id: &str,
    page_size: Option<i32>,
) -> (Result<Vec<Snapshot>, String>, usize) {
    // `OwnerIds: self` is what AWS documents, but moto ignores it and returns
    // every public snapshot; the `owner-id` filter works on both.
    let owner = aws_sdk_ec2::types::Filter::builder()
        .name("owner-id")
        .values(account_id)
        .build();
    let mut pages = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(owner)
        .set_max_results(page_size.map(|p| p.clamp(5, 1000)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeSnapshots: {}", describe(&e))), calls),
        };
        for s in page.snapshots() {
            if s.owner_id().is_some_and(|o| o != account_id) {
                continue;
            }
            out.push(Snapshot {
                id: s.snapshot_id().unwrap_or_default().to_string(),
                volume_id: non_empty(s.volume_id()),
                size_gb: s.volume_size().unwrap_or(0).into(),
                start_time: s.start_time().and_then(to_chrono),
                description: non_empty(s.description()),
            });
        }
    }
    (Ok(out), calls)
}

async fn addresses(ec2: &aws_sdk_ec2::Client) -> (Result<Vec<Address>, String>, usize) {
    // DescribeAddresses is not paginated: one call returns them all.
    match ec2.describe_addresses().send().await {
        Ok(out) => (
            Ok(out
                .addresses()
                .iter()
                .map(|a| Address {
                    allocation_id: non_empty(a.allocation_id())
                        .or_else(|| non_empty(a.public_ip()))
                        .unwrap_or_default(),
                    public_ip: a.public_ip().unwrap_or_default().to_string(),
                    association_id: non_empty(a.association_id()),
                })
                .collect()),
            1,
        ),
        Err(e) => (Err(format!("DescribeAddresses: {}", describe(&e))), 1),
    }
}

async fn db_instances(
    rds: &aws_sdk_rds::Client,
    page_size: Option<i32>,
) -> (Result<Vec<DbInstance>, String>, usize) {
    let mut pages = rds
        .describe_db_instances()
        .set_max_records(page_size.map(|p| p.clamp(20, 100)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeDBInstances: {}", describe(&e))), calls),
        };
        for d in page.db_instances() {
            out.push(DbInstance {
                id: d.db_instance_identifier().unwrap_or_default().to_string(),
                class: d.db_instance_class().unwrap_or_default().to_string(),
                engine: d.engine().unwrap_or_default().to_string(),
                multi_az: d.multi_az().unwrap_or(false),
                status: d.db_instance_status().unwrap_or_default().to_string(),
                engine_version: d.engine_version().unwrap_or_default().to_string(),
                engine_lifecycle_support: non_empty(d.engine_lifecycle_support()),
            });
        }
    }
    (Ok(out), calls)
}

async fn db_snapshots(
    rds: &aws_sdk_rds::Client,
    page_size: Option<i32>,
) -> (Result<Vec<DbSnapshot>, String>, usize) {
    let mut pages = rds
        .describe_db_snapshots()
        .snapshot_type("manual")
        .set_max_records(page_size.map(|p| p.clamp(20, 100)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeDBSnapshots: {}", describe(&e))), calls),
        };
        for d in page.db_snapshots() {
            // The filter asks for manual ones; an emulator that ignores it
            // must not turn automated backups into findings.
            if d.snapshot_type().is_some_and(|t| t != "manual") {
                continue;
            }
            out.push(DbSnapshot {
                id: d.db_snapshot_identifier().unwrap_or_default().to_string(),
                db_instance_id: d.db_instance_identifier().unwrap_or_default().to_string(),
                engine: d.engine().unwrap_or_default().to_string(),
                allocated_gb: d.allocated_storage().unwrap_or(0).into(),
                created: d
                    .snapshot_create_time()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                status: d.status().unwrap_or_default().to_string(),
            });
        }
    }
    (Ok(out), calls)
}

async fn nat_gateways(
    ec2: &aws_sdk_ec2::Client,
    page_size: Option<i32>,
) -> (Result<Vec<NatGateway>, String>, usize) {
    let mut pages = ec2
        .describe_nat_gateways()
        .set_max_results(page_size.map(|p| p.clamp(5, 1000)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeNatGateways: {}", describe(&e))), calls),
        };
        for n in page.nat_gateways() {
            out.push(NatGateway {
                id: n.nat_gateway_id().unwrap_or_default().to_string(),
                state: n
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                vpc_id: non_empty(n.vpc_id()),
                subnet_id: non_empty(n.subnet_id()),
                connectivity: n.connectivity_type().map(|c| c.as_str().to_string()),
                name: n
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| non_empty(t.value())),
            });
        }
    }
    (Ok(out), calls)
}

async fn log_groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    page_size: Option<i32>,
) -> (Result<Vec<LogGroup>, String>, usize) {
    let mut pages = logs
        .describe_log_groups()
        .set_limit(page_size.map(|p| p.clamp(1, 50)))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => return (Err(format!("DescribeLogGroups: {}", describe(&e))), calls),
        };
        for g in page.log_groups() {
            out.push(LogGroup {
                name: g.log_group_name().unwrap_or_default().to_string(),
                retention_days: g.retention_in_days(),
                stored_bytes: g.stored_bytes().unwrap_or(0),
                created: g.creation_time().and_then(DateTime::from_timestamp_millis),
            });
        }
    }
    (Ok(out), calls)
}

async fn load_balancers(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    page_size: Option<i32>,
) -> (Result<Vec<LoadBalancer>, String>, usize) {
    let mut pages = elb
        .describe_load_balancers()
        .set_page_size(page_size.map(|p| p.clamp(1, 400)))
        .into_paginator()
        .send();
    let mut found = Vec::new();
    let mut calls = 0;
    while let Some(page) = pages.next().await {
        calls += 1;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                return (
                    Err(format!("DescribeLoadBalancers: {}", describe(&e))),
                    calls,
                );
            }
        };
        for lb in page.load_balancers() {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            // arn:aws:elasticloadbalancing:REGION:ACCT:loadbalancer/app/NAME/ID
            let metric_dimension = arn
                .split_once(":loadbalancer/")
                .map(|(_, d)| d.to_string())
                .unwrap_or_default();
            found.push(LoadBalancer {
                arn,
                name: lb.load_balancer_name().unwrap_or_default().to_string(),
                lb_type: lb
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                metric_dimension,
                target_groups: 0,
                targets: 0,
                healthy_targets: 0,
            });
        }
    }
    for lb in &mut found {
        let groups = match elb
            .describe_target_groups()
            .load_balancer_arn(&lb.arn)
            .send()
            .await
        {
            Ok(g) => g,
            // moto (unlike AWS) answers TargetGroupNotFound for a load
            // balancer without target groups: that is zero groups.
            Err(e) if e.code() == Some("TargetGroupNotFound") => {
                calls += 1;
                continue;
            }
            Err(e) => {
                calls += 1;
                return (
                    Err(format!("DescribeTargetGroups: {}", describe(&e))),
                    calls,
                );
            }
        };
        calls += 1;
        for group in groups.target_groups() {
            lb.target_groups += 1;
            let Some(group_arn) = group.target_group_arn() else {
                continue;
            };
            calls += 1;
            match elb
                .describe_target_health()
                .target_group_arn(group_arn)
                .send()
                .await
            {
                Ok(health) => {
                    for t in health.target_health_descriptions() {
                        lb.targets += 1;
                        if t.target_health().and_then(|h| h.state())
                            == Some(&TargetHealthStateEnum::Healthy)
                        {
                            lb.healthy_targets += 1;
                        }
                    }
                }
                Err(e) => {
                    return (
                        Err(format!("DescribeTargetHealth: {}", describe(&e))),
                        calls,
                    );
                }
            }
        }
    }
    (Ok(found), calls)
}

/// Lists the account's buckets and reads each one's lifecycle configuration
/// through a client in the bucket's own region.
pub async fn buckets(session: &Session) -> (Result<Vec<Bucket>, String>, usize) {
    let s3 = session.s3(&session.home_region);
    let mut calls = 1;
    let listed = match s3.list_buckets().send().await {
        Ok(l) => l,
        Err(e) => return (Err(format!("ListBuckets: {}", describe(&e))), calls),
    };
    let mut out = Vec::new();
    for b in listed.buckets() {
        let Some(name) = b.name() else { continue };
        let region = match non_empty(b.bucket_region()) {
            Some(r) => r,
            None => {
                calls += 1;
                match s3.get_bucket_location().bucket(name).send().await {
                    // An empty LocationConstraint means us-east-1.
                    Ok(l) => l
                        .location_constraint()
                        .map(|c| c.as_str().to_string())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "us-east-1".to_string()),
                    Err(e) => {
                        return (
                            Err(format!("GetBucketLocation {name}: {}", describe(&e))),
                            calls,
                        );
                    }
                }
            }
        };
        calls += 1;
        let lifecycle = match session
            .s3(&region)
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(conf) => {
                let aborts = conf.rules().iter().any(|r| {
                    r.status().as_str() == "Enabled"
                        && r.abort_incomplete_multipart_upload().is_some()
                });
                if conf.rules().is_empty() {
                    Lifecycle::Missing
                } else if aborts {
                    Lifecycle::Complete
                } else {
                    Lifecycle::NoAbortIncompleteMultipartUpload
                }
            }
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Lifecycle::Missing,
            Err(e) => {
                return (
                    Err(format!(
                        "GetBucketLifecycleConfiguration {name}: {}",
                        describe(&e)
                    )),
                    calls,
                );
            }
        };
        out.push(Bucket {
            name: name.to_string(),
            region,
            lifecycle,
        });
    }
    (Ok(out), calls)
}

/// The account's enabled regions (DescribeRegions without opt-in regions
/// that are not enabled), sorted.
pub async fn enabled_regions(session: &Session) -> Result<Vec<String>, String> {
    let out = session
        .ec2(&session.home_region)
        .describe_regions()
        .all_regions(false)
        .send()
        .await
        .map_err(|e| format!("DescribeRegions: {}", describe(&e)))?;
    let mut regions: Vec<String> = out
        .regions()
        .iter()
        .filter_map(|r| non_empty(r.region_name()))
        .collect();
    regions.sort();
    Ok(regions)
}
