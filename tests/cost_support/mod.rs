//! moto helpers for the cost tests and benchmark: an isolated account per
//! test, SDK configs pointed at moto, and builders that plant a realistic
//! account through the real AWS SDK.
//!
//! Isolation: moto keeps state per account and region, and STS AssumeRole
//! into `arn:aws:iam::<id>:role/...` returns credentials that moto maps to
//! account `<id>`. Every test takes a fresh random account, so tests share
//! one moto_server yet run in parallel (nextest runs them in separate
//! processes) without resetting each other.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::Credentials;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use chrono::{Duration as ChronoDuration, Utc};
use serde_json::{Value, json};

use crate::common::Server;

/// The moto_server URL tools/test exported.
pub fn moto_url() -> String {
    std::env::var("SMART_SYSTEMS_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "SMART_SYSTEMS_TEST_MOTO_URL is not set: run the cost tests through tools/test, \
             which starts moto_server, or start one yourself \
             (moto_server -H 127.0.0.1 -p 5000) and export the URL"
        )
    })
}

/// An isolated moto account and credentials for it.
#[derive(Debug, Clone)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    /// Credentials moto maps to it.
    pub credentials: Credentials,
}

fn unique_account_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mix =
        nanos ^ (u64::from(std::process::id()) << 20) ^ (N.fetch_add(1, Ordering::Relaxed) << 40);
    format!("3{:011}", mix % 100_000_000_000)
}

/// SDK config for `region` with the given credentials, at moto, one attempt
/// (moto answers 500 for APIs it lacks; retries only slow tests down).
pub fn config(credentials: Credentials, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(moto_url())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build()
}

/// Assumes a role in a fresh random account.
pub async fn new_account() -> Account {
    let base = config(Credentials::for_tests(), "us-east-1");
    let id = unique_account_id();
    let out = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{id}:role/cost-test"))
        .role_session_name("cost-test")
        .send()
        .await
        .expect("sts:AssumeRole at moto");
    let c = out.credentials.expect("credentials");
    Account {
        id,
        credentials: Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "moto-assumed-role",
        ),
    }
}

impl Account {
    /// SDK config for this account in `region`.
    pub fn config(&self, region: &str) -> SdkConfig {
        config(self.credentials.clone(), region)
    }

    /// Environment for a server process acting as this account: the standard
    /// AWS variables (read through aws-config's chain), no host config files,
    /// no IMDS, one attempt.
    pub fn server_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_ACCESS_KEY_ID".into(),
                self.credentials.access_key_id().into(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.credentials.secret_access_key().into(),
            ),
            (
                "AWS_SESSION_TOKEN".into(),
                self.credentials.session_token().unwrap_or_default().into(),
            ),
            ("AWS_MAX_ATTEMPTS".into(), "1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), "/nonexistent/aws-config".into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                "/nonexistent/aws-credentials".into(),
            ),
        ]
    }
}

/// The flags pointing a server at moto with `home` as its home region.
pub fn server_args(home: &str) -> Vec<String> {
    vec![
        "--aws-endpoint-url".into(),
        moto_url(),
        "--aws-region".into(),
        home.into(),
    ]
}

/// An AMI moto knows in every region.
pub const AMI: &str = "ami-12c6146b";

/// Launches `count` instances of a type with a gp3 root volume; returns ids.
pub async fn launch(ec2: &aws_sdk_ec2::Client, instance_type: &str, count: i32) -> Vec<String> {
    use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, InstanceType, VolumeType};
    let out = ec2
        .run_instances()
        .image_id(AMI)
        .instance_type(InstanceType::from(instance_type))
        .min_count(count)
        .max_count(count)
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sda1")
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(8)
                        .volume_type(VolumeType::Gp3)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("RunInstances");
    out.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

/// Creates a volume; returns its id.
pub async fn volume(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    volume_type: &str,
    size: i32,
    iops: Option<i32>,
    throughput: Option<i32>,
) -> String {
    ec2.create_volume()
        .availability_zone(format!("{region}a"))
        .volume_type(aws_sdk_ec2::types::VolumeType::from(volume_type))
        .size(size)
        .set_iops(iops)
        .set_throughput(throughput)
        .send()
        .await
        .expect("CreateVolume")
        .volume_id
        .expect("volume id")
}

/// One daily series: `values[k]` is put at noon UTC, k + 1 days ago.
pub struct Series<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Metric name.
    pub metric: &'a str,
    /// Dimension name.
    pub dimension: &'a str,
    /// Dimension value.
    pub value: &'a str,
    /// One value per day, most recent day first.
    pub values: Vec<f64>,
}

/// Puts series with PutMetricData, up to 1000 datums a call.
pub async fn put_series(cw: &aws_sdk_cloudwatch::Client, series: &[Series<'_>]) {
    use std::collections::BTreeMap;
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let mut by_ns: BTreeMap<&str, Vec<MetricDatum>> = BTreeMap::new();
    for s in series {
        for (k, v) in s.values.iter().enumerate() {
            let at = midnight - ChronoDuration::days(k as i64 + 1);
            by_ns.entry(s.namespace).or_default().push(
                MetricDatum::builder()
                    .metric_name(s.metric)
                    .dimensions(
                        Dimension::builder()
                            .name(s.dimension)
                            .value(s.value)
                            .build(),
                    )
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        at.timestamp(),
                    ))
                    .value(*v)
                    .build(),
            );
        }
    }
    for (ns, data) in by_ns {
        for chunk in data.chunks(1000) {
            cw.put_metric_data()
                .namespace(ns)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .expect("PutMetricData");
        }
    }
}

/// The four EC2 series of an instance: average CPU, max CPU, network in/out
/// (bytes a day), over `days` days.
pub fn ec2_series(
    id: &str,
    days: usize,
    cpu_avg: f64,
    cpu_max: f64,
    net_bytes: f64,
) -> Vec<Series<'_>> {
    vec![
        Series {
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            dimension: "InstanceId",
            value: id,
            // Average and Maximum of one datum per day are the datum itself;
            // two datums a day give the wanted average and maximum.
            values: vec![cpu_avg * 2.0 - cpu_max; days],
        },
        Series {
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            dimension: "InstanceId",
            value: id,
            values: vec![cpu_max; days],
        },
        Series {
            namespace: "AWS/EC2",
            metric: "NetworkIn",
            dimension: "InstanceId",
            value: id,
            values: vec![net_bytes / 2.0; days],
        },
        Series {
            namespace: "AWS/EC2",
            metric: "NetworkOut",
            dimension: "InstanceId",
            value: id,
            values: vec![net_bytes / 2.0; days],
        },
    ]
}

/// Creates a DB instance; returns its identifier.
pub async fn db(
    rds: &aws_sdk_rds::Client,
    id: &str,
    class: &str,
    engine: &str,
    multi_az: bool,
) -> String {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class(class)
        .engine(engine)
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("password-123")
        .multi_az(multi_az)
        .send()
        .await
        .expect("CreateDBInstance");
    id.to_string()
}

/// The two RDS series of a DB instance over `days` days.
pub fn rds_series(id: &str, days: usize, connections: f64, cpu_max: f64) -> Vec<Series<'_>> {
    vec![
        Series {
            namespace: "AWS/RDS",
            metric: "DatabaseConnections",
            dimension: "DBInstanceIdentifier",
            value: id,
            values: vec![connections; days],
        },
        Series {
            namespace: "AWS/RDS",
            metric: "CPUUtilization",
            dimension: "DBInstanceIdentifier",
            value: id,
            values: vec![cpu_max; days],
        },
    ]
}

/// The server against moto as `account`, initialized.
pub fn start_server(account: &Account, data: &std::path::Path) -> Server {
    let args = server_args("us-east-1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = account.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = Server::start_with_env(data, &args, &env);
    s.initialize();
    s
}

/// Queues canned GetCostAndUsage results for an account in moto; each
/// request with a new body takes the next one (a plain HTTP POST over std:
/// no HTTP client crate for one call).
pub fn queue_cost_results(account: &Account, results: Vec<Value>) {
    let body = json!({"results": results, "account_id": account.id}).to_string();
    let url = format!("{}/moto-api/static/ce/cost-and-usage-results", moto_url());
    let stripped = url.strip_prefix("http://").expect("http URL");
    let (host, path) = stripped.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    use std::io::{Read, Write};
    write!(
        stream,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 201") || answer.starts_with("HTTP/1.0 201"),
        "{answer}"
    );
}

/// A Cost Explorer amount in USD.
pub fn money(amount: f64) -> Value {
    json!({"Amount": format!("{amount}"), "Unit": "USD"})
}
