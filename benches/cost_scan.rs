//! Benchmark: `cost_report` over MCP against moto with a large account, next
//! to the bare describe/list calls (and the bare batched GetMetricData calls)
//! that the report needs, and the number of CloudWatch calls per region.
//!
//! Run: `cargo bench --bench cost_scan` (tools/test's venv provides
//! moto_server; set SMART_SYSTEMS_TEST_MOTO_URL to use a running one).
//! Scale (totals over 2 regions, override with COST_BENCH_SCALE=0.1 etc.):
//! 500 instances with 14 days of CPU metrics, 500 volumes, 500 snapshots,
//! 50 DB instances with 14 days of metrics.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/cost_support/mod.rs"]
mod cost_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cost_support::{Account, Series, new_account, put_series, server_args};
use serde_json::json;

const REGIONS: [&str; 2] = ["us-east-2", "eu-central-1"];
const RUNS: usize = 3;

struct Moto(Option<Child>);

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ensure_moto() -> Moto {
    if std::env::var("SMART_SYSTEMS_TEST_MOTO_URL").is_ok() {
        return Moto(None);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        })
        .join("smart-systems-mcp");
    let venv = std::env::var("SMART_SYSTEMS_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| cache.join("venv"));
    let bin = venv.join("bin/moto_server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}); run tools/test once to create the venv",
                bin.display()
            )
        });
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..150 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: single-threaded here, before any other thread reads the env.
    unsafe { std::env::set_var("SMART_SYSTEMS_TEST_MOTO_URL", &url) };
    Moto(Some(child))
}

/// Ids planted in one region, for the bare GetMetricData baseline.
struct RegionIds {
    instances: Vec<String>,
    dbs: Vec<String>,
}

async fn plant(
    account: &Account,
    region: &str,
    scale: f64,
) -> (usize, usize, usize, usize, RegionIds) {
    let n = |total: f64| ((total * scale / 2.0).round() as usize).max(1);
    let (instances, volumes, snapshots, dbs) = (n(500.0), n(500.0), n(500.0), n(50.0));
    let conf = account.config(region);
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let rds = aws_sdk_rds::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let types = ["t3.large", "m5.xlarge", "m4.large", "c5.large", "r5.large"];
    let mut ids = Vec::new();
    let mut left = instances;
    let mut k = 0;
    while left > 0 {
        let batch = left.min(50);
        ids.extend(cost_support::launch(&ec2, types[k % types.len()], batch as i32).await);
        left -= batch;
        k += 1;
    }
    // One CPU datum a day per instance: moto's GetMetricData scans every
    // datum in the window for every query, so the bench keeps the datum
    // count to what the checks need to see.
    let series: Vec<Series<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Series {
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            dimension: "InstanceId",
            value: id,
            values: vec![if i % 3 == 0 { 2.0 } else { 45.0 }; 14],
        })
        .collect();
    put_series(&cw, &series).await;
    let mut vols = Vec::new();
    for i in 0..volumes {
        let t = ["gp2", "gp3", "io1"][i % 3];
        let iops = (t == "io1").then_some(500);
        vols.push(cost_support::volume(&ec2, region, t, 20 + (i % 50) as i32, iops, None).await);
    }
    for i in 0..snapshots {
        ec2.create_snapshot()
            .volume_id(&vols[i % vols.len()])
            .send()
            .await
            .expect("CreateSnapshot");
    }
    let mut db_ids = Vec::new();
    for i in 0..dbs {
        db_ids.push(
            cost_support::db(&rds, &format!("db-{i}"), "db.m5.large", "mysql", i % 2 == 0).await,
        );
    }
    let series: Vec<Series<'_>> = db_ids
        .iter()
        .flat_map(|id| cost_support::rds_series(id, 14, 3.0, 30.0))
        .collect();
    put_series(&cw, &series).await;
    (
        instances,
        volumes,
        snapshots,
        dbs,
        RegionIds {
            instances: ids,
            dbs: db_ids,
        },
    )
}

/// The GetMetricData calls a report makes, bare: the same series in the
/// same 500-query batches, regions concurrently.
async fn bare_metrics(account: &Account, ids: &[(&'static str, &RegionIds)]) -> usize {
    use smart_systems_mcp::cost::metrics::{SeriesRequest, Stat, Window, fetch_daily};
    let mut set = tokio::task::JoinSet::new();
    for (region, ids) in ids {
        let mut requests = Vec::new();
        for id in &ids.instances {
            for (metric, stat) in [
                ("CPUUtilization", Stat::Average),
                ("CPUUtilization", Stat::Maximum),
                ("NetworkIn", Stat::Sum),
                ("NetworkOut", Stat::Sum),
            ] {
                requests.push(SeriesRequest {
                    namespace: "AWS/EC2",
                    metric,
                    dimension: ("InstanceId", id.clone()),
                    stat,
                });
            }
        }
        for id in &ids.dbs {
            for metric in ["DatabaseConnections", "CPUUtilization"] {
                requests.push(SeriesRequest {
                    namespace: "AWS/RDS",
                    metric,
                    dimension: ("DBInstanceIdentifier", id.clone()),
                    stat: Stat::Maximum,
                });
            }
        }
        let cw = aws_sdk_cloudwatch::Client::new(&account.config(region));
        set.spawn(async move {
            let window = Window::last_days(chrono::Utc::now(), 14);
            fetch_daily(&cw, &requests, window)
                .await
                .expect("GetMetricData")
                .calls
        });
    }
    let mut calls = 0;
    while let Some(c) = set.join_next().await {
        calls += c.expect("task");
    }
    calls
}

/// The describe/list calls a full report needs, as concurrent as the
/// report's (regions at once, kinds at once), every page followed.
async fn bare_describes(account: &Account) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for region in REGIONS {
        let conf = account.config(region);
        set.spawn(async move {
            let ec2 = aws_sdk_ec2::Client::new(&conf);
            let rds = aws_sdk_rds::Client::new(&conf);
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
            let account_id = aws_sdk_sts::Client::new(&conf)
                .get_caller_identity()
                .send()
                .await
                .expect("sts")
                .account
                .unwrap_or_default();
            let (a, b, c, d, e, f) = tokio::join!(
                async {
                    let mut p = ec2.describe_instances().into_paginator().send();
                    let mut n = 0;
                    while let Some(page) = p.next().await {
                        n += page.expect("DescribeInstances").reservations().len();
                    }
                    n
                },
                async {
                    let mut p = ec2.describe_volumes().into_paginator().send();
                    let mut n = 0;
                    while let Some(page) = p.next().await {
                        n += page.expect("DescribeVolumes").volumes().len();
                    }
                    n
                },
                async {
                    let mut p = ec2
                        .describe_snapshots()
                        .owner_ids("self")
                        .filters(
                            aws_sdk_ec2::types::Filter::builder()
                                .name("owner-id")
                                .values(&account_id)
                                .build(),
                        )
                        .into_paginator()
                        .send();
                    let mut n = 0;
                    while let Some(page) = p.next().await {
                        n += page.expect("DescribeSnapshots").snapshots().len();
                    }
                    n
                },
                async {
                    ec2.describe_addresses()
                        .send()
                        .await
                        .expect("DescribeAddresses")
                        .addresses()
                        .len()
                },
                async {
                    let mut p = rds.describe_db_instances().into_paginator().send();
                    let mut n = 0;
                    while let Some(page) = p.next().await {
                        n += page.expect("DescribeDBInstances").db_instances().len();
                    }
                    n
                },
                async {
                    let mut p = elb.describe_load_balancers().into_paginator().send();
                    let mut n = 0;
                    while let Some(page) = p.next().await {
                        n += page.expect("DescribeLoadBalancers").load_balancers().len();
                    }
                    n
                },
            );
            a + b + c + d + e + f
        });
    }
    let s3 = aws_sdk_s3::Client::new(&account.config(REGIONS[0]));
    let buckets = s3
        .list_buckets()
        .send()
        .await
        .expect("ListBuckets")
        .buckets()
        .len();
    let mut total = buckets;
    while let Some(r) = set.join_next().await {
        total += r.expect("region task");
    }
    total
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let _moto = ensure_moto();
    let scale: f64 = std::env::var("COST_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let account = rt.block_on(new_account());
    let t0 = Instant::now();
    let planted = rt.block_on(async {
        let (a, b) = tokio::join!(
            plant(&account, REGIONS[0], scale),
            plant(&account, REGIONS[1], scale)
        );
        ((a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3), (a.4, b.4))
    });
    let (planted, (ids_a, ids_b)) = planted;
    println!(
        "planted in {:.1} s over {} regions: {} instances (14 days of CPU), {} volumes \
         (+ {} root volumes), {} snapshots, {} DB instances (14 days of metrics)",
        t0.elapsed().as_secs_f64(),
        REGIONS.len(),
        planted.0,
        planted.1,
        planted.0,
        planted.2,
        planted.3
    );

    // Warm moto's per-region backends once, then time.
    rt.block_on(bare_describes(&account));
    let mut bare = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        rt.block_on(bare_describes(&account));
        bare.push(t.elapsed().as_secs_f64());
    }

    let mut bare_cw = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        rt.block_on(bare_metrics(
            &account,
            &[(REGIONS[0], &ids_a), (REGIONS[1], &ids_b)],
        ));
        bare_cw.push(t.elapsed().as_secs_f64());
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let args = server_args(REGIONS[0]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = account.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = common::Server::start_with_env(&tmp.path().join("data"), &args, &env);
    server.initialize();
    let mut report_times = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..RUNS {
        let t = Instant::now();
        let id = server.next_id();
        server.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "cost_report", "arguments": {"regions": REGIONS, "limit": 5}}}));
        // The harness waits 30 s per response; a big scan may take longer.
        let resp = loop {
            if let Some(m) = server.wait_for(Duration::from_secs(600), |m| m["id"] == json!(id)) {
                break m;
            }
        };
        report_times.push(t.elapsed().as_secs_f64());
        last = resp["result"]["structuredContent"].clone();
    }
    let bare_s = median(bare);
    let bare_cw_s = median(bare_cw);
    let report_s = median(report_times);
    println!(
        "scanned: {}  errors: {}",
        last["scanned"],
        last["errors"].as_array().map_or(0, Vec::len)
    );
    println!(
        "recommendations: {}  insufficient_data: {}  total_monthly_savings: {}",
        last["recommendations_total"],
        last["insufficient_data_total"],
        last["total_monthly_savings"]
    );
    println!("bare describe/list calls (median of {RUNS}): {bare_s:.2} s");
    println!(
        "bare GetMetricData calls  (median of {RUNS}): {bare_cw_s:.2} s (same 500-query batches)"
    );
    println!("cost_report over MCP      (median of {RUNS}): {report_s:.2} s");
    println!(
        "ratio cost_report / bare describe+list calls: {:.2} (target <= 1.5)",
        report_s / bare_s
    );
    println!(
        "ratio cost_report / (bare describe+list + bare GetMetricData): {:.2} (what analysis and \
         orchestration add on top of the AWS calls themselves)",
        report_s / (bare_s + bare_cw_s)
    );
    let calls = &last["api_calls"];
    for r in REGIONS {
        let q = calls["metric_queries_by_region"][r].as_u64().unwrap_or(0);
        let c = calls["get_metric_data_calls_by_region"][r]
            .as_u64()
            .unwrap_or(0);
        println!(
            "{r}: {q} metric queries in {c} GetMetricData call(s); bound ceil({q}/500) = {} -> {}",
            q.div_ceil(500),
            if c <= q.div_ceil(500) {
                "ok"
            } else {
                "EXCEEDED"
            }
        );
    }
    let _ = server.close();
}
