//! The cost toolset as an agent meets it: a realistic AWS account planted in
//! moto through the real AWS SDK (two regions), then `cost_report`,
//! `cost_by_service`, `cost_forecast` and `cost_month_over_month` over MCP.
//! Each test uses its own moto account, so they run in parallel.
//!
//! Expected savings are recomputed here from list prices written out in the
//! test (the same us-east-1 figures the README documents), not read back
//! from the server's table.

mod common;
mod cost_support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration as ChronoDuration, NaiveDate, Utc};
use common::{Server, temp_dir};
use cost_support::{
    Account, Series, db, ec2_series, launch, money, new_account, put_series, queue_cost_results,
    rds_series, server_args, volume,
};
use serde_json::{Value, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn start_server(account: &Account, home: &str, data: &std::path::Path) -> Server {
    start_server_with(account, home, data, &[])
}

fn start_server_with(
    account: &Account,
    home: &str,
    data: &std::path::Path,
    extra: &[&str],
) -> Server {
    let mut args = server_args(home);
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = account.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = Server::start_with_env(data, &args, &env);
    s.initialize();
    s
}

/// Monthly cost at 730 hours, rounded to cents the way reports round.
fn monthly(hourly: f64) -> f64 {
    cents(hourly * 730.0)
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What one planted region holds, and what the report must say about it.
struct Planted {
    region: String,
    /// (check, first resource id) -> expected monthly savings (None: not estimated).
    expected: BTreeMap<(String, String), Option<f64>>,
    /// Resources that must not appear in any recommendation.
    busy: Vec<String>,
    /// Resources that must be reported as insufficient_data by these checks.
    insufficient: Vec<(String, String)>,
    /// Own snapshot ids.
    snapshots: Vec<String>,
}

impl Planted {
    fn expect(&mut self, check: &str, id: &str, savings: Option<f64>) {
        self.expected
            .insert((check.to_string(), id.to_string()), savings);
    }
}

/// Plants the scenario in one region of `account`.
async fn plant(account: &Account, region: &str) -> Planted {
    let conf = account.config(region);
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let rds = aws_sdk_rds::Client::new(&conf);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let mut p = Planted {
        region: region.to_string(),
        expected: BTreeMap::new(),
        busy: vec![],
        insufficient: vec![],
        snapshots: vec![],
    };

    // --- EC2 instances -----------------------------------------------------
    let idle = launch(&ec2, "t3.large", 1).await.remove(0);
    let busy = launch(&ec2, "m5.large", 1).await.remove(0);
    let quiet = launch(&ec2, "m5.xlarge", 1).await.remove(0);
    let fresh = launch(&ec2, "t3.micro", 1).await.remove(0);
    let old_gen = launch(&ec2, "m4.large", 1).await.remove(0);
    let stopped = launch(&ec2, "t3.small", 1).await.remove(0);
    ec2.stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .expect("StopInstances");
    let mut series: Vec<Series<'_>> = Vec::new();
    series.extend(ec2_series(&idle, 14, 2.0, 5.0, 1_000_000.0));
    series.extend(ec2_series(&busy, 14, 60.0, 90.0, 500_000_000.0));
    series.extend(ec2_series(&quiet, 14, 15.0, 18.0, 200_000_000.0));
    series.extend(ec2_series(&fresh, 2, 1.0, 2.0, 1000.0));
    series.extend(ec2_series(&old_gen, 14, 50.0, 70.0, 300_000_000.0));
    put_series(&cw, &series).await;
    p.expect("idle_ec2", &idle, Some(monthly(0.0832)));
    p.expect("rightsize_ec2", &quiet, Some(monthly(0.192 - 0.096)));
    p.expect("previous_generation", &old_gen, Some(monthly(0.10 - 0.096)));
    // The stopped instance's 8 GB gp3 root volume.
    p.expect("stopped_ec2_storage", &stopped, Some(cents(8.0 * 0.08)));
    p.busy.push(busy.clone());
    p.insufficient.push(("idle_ec2".into(), fresh.clone()));
    p.insufficient.push(("rightsize_ec2".into(), fresh.clone()));

    // --- EBS volumes -------------------------------------------------------
    let gp2 = volume(&ec2, region, "gp2", 100, None, None).await;
    let io1 = volume(&ec2, region, "io1", 50, Some(1000), None).await;
    let gp3 = volume(&ec2, region, "gp3", 200, Some(4000), Some(250)).await;
    let attached_gp2 = volume(&ec2, region, "gp2", 500, None, None).await;
    ec2.attach_volume()
        .volume_id(&attached_gp2)
        .instance_id(&busy)
        .device("/dev/sdf")
        .send()
        .await
        .expect("AttachVolume");
    p.expect("unattached_ebs", &gp2, Some(cents(100.0 * 0.10)));
    p.expect(
        "unattached_ebs",
        &io1,
        Some(cents(50.0 * 0.125 + 1000.0 * 0.065)),
    );
    p.expect(
        "unattached_ebs",
        &gp3,
        Some(cents(200.0 * 0.08 + 1000.0 * 0.005 + 125.0 * 0.04)),
    );
    // io_to_gp3: (50 GB x 0.125 + 1000 IOPS x 0.065) - 50 GB x 0.08.
    p.expect(
        "io_to_gp3",
        &io1,
        Some(cents(50.0 * 0.125 + 1000.0 * 0.065 - 50.0 * 0.08)),
    );
    p.expect("gp2_to_gp3", &gp2, Some(cents(100.0 * (0.10 - 0.08))));
    p.expect(
        "gp2_to_gp3",
        &attached_gp2,
        Some(cents(500.0 * (0.10 - 0.08))),
    );
    p.busy.push(attached_gp2.clone());

    // --- Snapshots (new: only an age threshold of 0 reports them) ----------
    for v in [&gp2, &attached_gp2] {
        let s = ec2
            .create_snapshot()
            .volume_id(v)
            .description("nightly")
            .send()
            .await
            .expect("CreateSnapshot");
        p.snapshots.push(s.snapshot_id.expect("snapshot id"));
    }

    // --- Elastic IPs -------------------------------------------------------
    let free = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("AllocateAddress")
        .allocation_id
        .expect("allocation id");
    let used = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .expect("AllocateAddress")
        .allocation_id
        .expect("allocation id");
    ec2.associate_address()
        .allocation_id(&used)
        .instance_id(&busy)
        .send()
        .await
        .expect("AssociateAddress");
    p.expect("unassociated_eip", &free, Some(monthly(0.005)));
    p.busy.push(used);

    // --- RDS ---------------------------------------------------------------
    let db_idle = db(&rds, "orders-archive", "db.t3.medium", "mysql", false).await;
    let db_busy = db(&rds, "games", "db.m5.large", "postgres", false).await;
    let db_quiet = db(&rds, "stats", "db.m5.xlarge", "mysql", true).await;
    let db_old = db(&rds, "legacy", "db.m4.large", "mysql", false).await;
    let db_fresh = db(&rds, "scratch", "db.t3.micro", "postgres", false).await;
    let mut series = Vec::new();
    series.extend(rds_series(&db_idle, 14, 0.0, 3.0));
    series.extend(rds_series(&db_busy, 14, 50.0, 60.0));
    series.extend(rds_series(&db_quiet, 14, 10.0, 10.0));
    series.extend(rds_series(&db_old, 14, 5.0, 50.0));
    series.extend(rds_series(&db_fresh, 3, 0.0, 1.0));
    put_series(&cw, &series).await;
    p.expect("idle_rds", &db_idle, Some(monthly(0.068)));
    p.expect(
        "rightsize_rds",
        &db_quiet,
        Some(cents((0.342 - 0.171) * 730.0 * 2.0)),
    );
    p.expect("previous_generation", &db_old, Some(monthly(0.175 - 0.171)));
    p.busy.push(db_busy);
    p.insufficient.push(("idle_rds".into(), db_fresh.clone()));
    p.insufficient.push(("rightsize_rds".into(), db_fresh));

    // --- Load balancers ----------------------------------------------------
    let subnets: Vec<String> = ec2
        .describe_subnets()
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .take(2)
        .collect();
    let vpc = ec2
        .describe_vpcs()
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id().map(str::to_string))
        .expect("default VPC");
    let alb = |name: &'static str| {
        let (elb, subnets) = (elb.clone(), subnets.clone());
        async move {
            elb.create_load_balancer()
                .name(name)
                .set_subnets(Some(subnets))
                .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Application)
                .send()
                .await
                .expect("CreateLoadBalancer")
                .load_balancers()[0]
                .load_balancer_arn()
                .expect("arn")
                .to_string()
        }
    };
    let empty_lb = alb("no-targets").await;
    let busy_lb = alb("web").await;
    let quiet_lb = alb("old-api").await;
    for (lb, tg_name) in [(&busy_lb, "web-tg"), (&quiet_lb, "old-api-tg")] {
        let tg = elb
            .create_target_group()
            .name(tg_name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .expect("CreateTargetGroup")
            .target_groups()[0]
            .target_group_arn()
            .expect("tg arn")
            .to_string();
        elb.register_targets()
            .target_group_arn(&tg)
            .targets(
                aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                    .id(&busy)
                    .build(),
            )
            .send()
            .await
            .expect("RegisterTargets");
        elb.create_listener()
            .load_balancer_arn(lb)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .default_actions(
                aws_sdk_elasticloadbalancingv2::types::Action::builder()
                    .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                    .target_group_arn(&tg)
                    .build(),
            )
            .send()
            .await
            .expect("CreateListener");
    }
    let busy_dim = busy_lb.split_once(":loadbalancer/").unwrap().1.to_string();
    put_series(
        &cw,
        &[Series {
            namespace: "AWS/ApplicationELB",
            metric: "RequestCount",
            dimension: "LoadBalancer",
            value: &busy_dim,
            values: vec![5000.0; 7],
        }],
    )
    .await;
    p.expect("idle_load_balancers", &empty_lb, Some(monthly(0.0225)));
    p.expect("idle_load_balancers", &quiet_lb, Some(monthly(0.0225)));
    p.busy.push(busy_lb);
    p.busy.push(busy.clone());
    p
}

/// Creates three buckets (none / partial / complete lifecycle) in `region`;
/// returns the expectations for s3_lifecycle.
async fn plant_buckets(account: &Account, region: &str) -> (Vec<String>, String) {
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
        CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter,
    };
    let conf = aws_sdk_s3::config::Builder::from(&account.config(region))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let name = |n: &str| format!("{n}-{}", account.id);
    for n in ["logs", "media", "backups"] {
        s3.create_bucket()
            .bucket(name(n))
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            )
            .send()
            .await
            .expect("CreateBucket");
    }
    let rule = |id: &str, abort: bool| {
        let mut r = LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(LifecycleExpiration::builder().days(365).build());
        if abort {
            r = r.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(7)
                    .build(),
            );
        }
        r.build().expect("rule")
    };
    s3.put_bucket_lifecycle_configuration()
        .bucket(name("media"))
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule("expire", false))
                .build()
                .expect("lifecycle"),
        )
        .send()
        .await
        .expect("PutBucketLifecycleConfiguration");
    s3.put_bucket_lifecycle_configuration()
        .bucket(name("backups"))
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule("expire-and-abort", true))
                .build()
                .expect("lifecycle"),
        )
        .send()
        .await
        .expect("PutBucketLifecycleConfiguration");
    (vec![name("logs"), name("media")], name("backups"))
}

fn recs(report: &Value) -> &Vec<Value> {
    report["recommendations"]
        .as_array()
        .expect("recommendations")
}

#[test]
fn report_finds_every_planted_waste_in_two_regions_and_prices_it_from_the_table() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = ("us-west-2", "eu-west-1");
    let (a, b, (flagged_buckets, ok_bucket)) = rt.block_on(async {
        tokio::join!(
            plant(&account, r1),
            plant(&account, r2),
            plant_buckets(&account, r1)
        )
    });
    let tmp = temp_dir();
    let mut s = start_server(&account, r1, &tmp.path().join("data"));

    // With a progress token: notifications per region step.
    let id = s.next_id();
    s.send(&json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": "cost_report",
            "arguments": {"regions": [r1, r2], "stopped_days": 0},
            "_meta": {"progressToken": "scan-1"}
        }
    }));
    let response = s.wait_for_id(&json!(id));
    let result = &response["result"];
    assert_ne!(result["isError"], json!(true), "{result}");
    let report = result["structuredContent"].clone();
    let progress: Vec<Value> = s
        .backlog
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .cloned()
        .collect();
    assert!(progress.len() >= 6, "one per region step: {progress:?}");
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "scan-1")
    );
    let messages: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["params"]["message"].as_str())
        .collect();
    assert!(messages.iter().any(|m| m.starts_with(r1)), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with(r2)), "{messages:?}");
    let last = progress.last().unwrap();
    assert_eq!(last["params"]["progress"], last["params"]["total"]);

    assert_eq!(report["account_id"], account.id);
    assert_eq!(report["regions_scanned"], json!([r1, r2]));
    assert_eq!(report["errors"], json!([]), "{}", report["errors"]);
    // 6 instances, 5 volumes (+6 roots), 2 snapshots, 2 EIPs, 5 DBs, 3 LBs per region.
    let scanned = &report["scanned"];
    assert_eq!(scanned["instances"], 12);
    assert_eq!(scanned["volumes"], 2 * (4 + 6));
    assert_eq!(scanned["snapshots"], 4);
    assert_eq!(scanned["addresses"], 4);
    assert_eq!(scanned["db_instances"], 10);
    assert_eq!(scanned["load_balancers"], 6);
    assert_eq!(scanned["buckets"], 3);

    // Every planted finding, nothing else, with table-computed savings.
    let mut expected: BTreeMap<(String, String, String), Option<f64>> = BTreeMap::new();
    for p in [&a, &b] {
        for ((check, id), savings) in &p.expected {
            expected.insert((p.region.clone(), check.clone(), id.clone()), *savings);
        }
    }
    for bucket in &flagged_buckets {
        expected.insert((r1.into(), "s3_lifecycle".into(), bucket.clone()), None);
    }
    let mut found: BTreeMap<(String, String, String), Option<f64>> = BTreeMap::new();
    for r in recs(&report) {
        let key = (
            r["region"].as_str().unwrap().to_string(),
            r["check"].as_str().unwrap().to_string(),
            r["resource_ids"][0].as_str().unwrap().to_string(),
        );
        assert!(
            found
                .insert(key.clone(), r["estimated_monthly_savings"].as_f64())
                .is_none(),
            "reported twice: {key:?}"
        );
        assert_eq!(r["pricing_basis"]["terms"], "list price, on-demand", "{r}");
        assert_eq!(r["pricing_basis"]["as_of"], "2026-11-01", "{r}");
        assert!(!r["pricing_basis"]["detail"].as_str().unwrap().is_empty());
        assert!(
            ["critical", "high", "medium", "low"].contains(&r["priority"].as_str().unwrap()),
            "{r}"
        );
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !found.contains_key(*k))
        .collect();
    let extra: Vec<_> = found
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "planted but not found: {missing:?}");
    assert!(extra.is_empty(), "found but not planted: {extra:?}");
    for (key, savings) in &expected {
        assert_eq!(found[key], *savings, "savings of {key:?}");
    }
    // Busy resources are in no recommendation; the complete bucket neither.
    for p in [&a, &b] {
        for busy in &p.busy {
            assert!(
                recs(&report)
                    .iter()
                    .filter(|r| r["check"] != "gp2_to_gp3")
                    .all(|r| !r["resource_ids"].as_array().unwrap().contains(&json!(busy))),
                "busy {busy} was flagged"
            );
        }
    }
    assert!(
        recs(&report)
            .iter()
            .all(|r| r["resource_ids"][0] != json!(ok_bucket))
    );

    // Sorted by savings, largest first (unknown savings last).
    let savings: Vec<f64> = recs(&report)
        .iter()
        .map(|r| {
            r["estimated_monthly_savings"]
                .as_f64()
                .unwrap_or(f64::NEG_INFINITY)
        })
        .collect();
    assert!(savings.windows(2).all(|w| w[0] >= w[1]), "{savings:?}");

    // Total: each resource once, at its largest saving.
    let mut best: BTreeMap<(String, String), f64> = BTreeMap::new();
    for ((region, _, id), s) in &expected {
        if let Some(s) = s {
            let e = best.entry((region.clone(), id.clone())).or_insert(0.0);
            *e = e.max(*s);
        }
    }
    let total = cents(best.values().sum());
    assert_eq!(report["total_monthly_savings"].as_f64().unwrap(), total);
    assert_eq!(
        report["annual_savings"].as_f64().unwrap(),
        cents(total * 12.0)
    );

    // New resources are insufficient_data, never idle.
    let insufficient: BTreeSet<(String, String, String)> = report["insufficient_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["region"].as_str().unwrap().to_string(),
                i["check"].as_str().unwrap().to_string(),
                i["resource_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [&a, &b]
        .iter()
        .flat_map(|p| {
            p.insufficient
                .iter()
                .map(|(c, id)| (p.region.clone(), c.clone(), id.clone()))
        })
        .collect();
    assert_eq!(insufficient, want);

    // CloudWatch was read in one batched call per region.
    let calls = &report["api_calls"];
    for r in [r1, r2] {
        let queries = calls["metric_queries_by_region"][r].as_u64().unwrap();
        // 5 running instances x 4 + 5 DBs x 2 + 3 LBs.
        assert_eq!(queries, 5 * 4 + 5 * 2 + 3);
        assert_eq!(
            calls["get_metric_data_calls_by_region"][r]
                .as_u64()
                .unwrap(),
            queries.div_ceil(500)
        );
    }

    // Old snapshots: none at 90 days; with a 0-day threshold every own
    // snapshot (and none of moto's public ones) with the upper-bound note.
    let snaps = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["old_snapshots"], "snapshot_age_days": 0}),
    );
    let got: BTreeSet<String> = recs(&snaps)
        .iter()
        .map(|r| r["resource_ids"][0].as_str().unwrap().to_string())
        .collect();
    let own: BTreeSet<String> = [&a, &b].iter().flat_map(|p| p.snapshots.clone()).collect();
    assert_eq!(got, own);
    for r in recs(&snaps) {
        assert!(
            r["pricing_basis"]["detail"]
                .as_str()
                .unwrap()
                .contains("upper bound")
        );
        assert!(r["description"].as_str().unwrap().contains("upper bound"));
        let gb = r["evidence"]["volume_size_gb"].as_f64().unwrap();
        assert_eq!(
            r["estimated_monthly_savings"].as_f64().unwrap(),
            cents(gb * 0.05)
        );
    }
    assert!(!recs(&report).iter().any(|r| r["check"] == "old_snapshots"));

    // min_savings drops the small ones; limit caps the list, not the totals.
    let big = s.call_ok(
        "cost_report",
        json!({"regions": [r1], "min_savings": 50, "limit": 2, "stopped_days": 0}),
    );
    assert_eq!(recs(&big).len(), 2);
    assert!(big["recommendations_total"].as_u64().unwrap() >= 2);
    assert!(
        recs(&big)
            .iter()
            .all(|r| r["estimated_monthly_savings"].as_f64().unwrap() >= 50.0)
    );
    assert!(s.close().success());
}

#[test]
fn describe_calls_follow_every_page() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let region = "ap-southeast-2";
    let planted = rt.block_on(async {
        let conf = account.config(region);
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let rds = aws_sdk_rds::Client::new(&conf);
        let mut instances = Vec::new();
        // One reservation each: DescribeInstances pages by reservation.
        for _ in 0..12 {
            instances.extend(launch(&ec2, "t3.micro", 1).await);
        }
        let mut snapshots = Vec::new();
        let vol = volume(&ec2, region, "gp3", 10, None, None).await;
        for _ in 0..11 {
            snapshots.push(
                ec2.create_snapshot()
                    .volume_id(&vol)
                    .send()
                    .await
                    .expect("CreateSnapshot")
                    .snapshot_id
                    .unwrap(),
            );
        }
        let mut dbs = Vec::new();
        for i in 0..23 {
            dbs.push(db(&rds, &format!("db-{i}"), "db.t3.micro", "mysql", false).await);
        }
        (instances, snapshots, dbs)
    });
    let tmp = temp_dir();
    let mut s = start_server(&account, region, &tmp.path().join("data"));
    let report = s.call_ok(
        "cost_report",
        json!({"checks": ["idle_ec2", "old_snapshots", "idle_rds"], "snapshot_age_days": 0,
               "page_size": 5}),
    );
    assert_eq!(report["errors"], json!([]));
    assert_eq!(report["regions_scanned"], json!([region]));
    assert_eq!(report["scanned"]["instances"], 12);
    assert_eq!(report["scanned"]["snapshots"], 11);
    assert_eq!(report["scanned"]["db_instances"], 23);
    // With 5 per page, the counts above need every page: 3 DescribeInstances
    // pages (moto pages by reservation) and 2 DescribeDBInstances pages (20
    // is RDS's smallest page); moto ignores MaxResults on DescribeSnapshots,
    // which is then one page.
    assert!(
        report["api_calls"]["describe_calls"].as_u64().unwrap() >= 6,
        "{}",
        report["api_calls"]
    );
    let flagged: BTreeSet<String> = recs(&report)
        .iter()
        .filter(|r| r["check"] == "old_snapshots")
        .map(|r| r["resource_ids"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(flagged, planted.1.into_iter().collect());
    // No metrics were put: every instance and DB is insufficient_data.
    let insufficient: BTreeSet<String> = report["insufficient_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["resource_id"].as_str().unwrap().to_string())
        .collect();
    let all: BTreeSet<String> = planted.0.iter().chain(&planted.2).cloned().collect();
    assert_eq!(insufficient, all);
    assert!(s.close().success());
}

#[test]
fn a_failing_region_is_an_error_entry_while_the_others_still_report() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let good = "ca-central-1";
    let vol = rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&account.config(good));
        volume(&ec2, good, "gp2", 40, None, None).await
    });
    let tmp = temp_dir();
    let mut s = start_server(&account, good, &tmp.path().join("data"));
    // moto answers every call for an unknown region with HTTP 500, as AWS
    // would fail calls to a region the account cannot reach.
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [good, "zz-nowhere-1"], "checks": ["unattached_ebs", "unassociated_eip", "idle_ec2"]}),
    );
    assert_eq!(report["regions_scanned"], json!([good, "zz-nowhere-1"]));
    let errors = report["errors"].as_array().unwrap();
    let failed: BTreeSet<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["region"].as_str().unwrap().to_string(),
                e["check"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = ["unattached_ebs", "unassociated_eip", "idle_ec2"]
        .iter()
        .map(|c| ("zz-nowhere-1".to_string(), c.to_string()))
        .collect();
    assert_eq!(failed, want, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| !e["message"].as_str().unwrap().is_empty())
    );
    let found: Vec<&Value> = recs(&report)
        .iter()
        .filter(|r| r["check"] == "unattached_ebs")
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["region"], good);
    assert_eq!(found[0]["resource_ids"], json!([vol]));
    assert_eq!(
        found[0]["estimated_monthly_savings"],
        json!(cents(40.0 * 0.10))
    );
    assert!(s.close().success());
}

#[test]
fn live_pricing_without_a_price_list_api_falls_back_to_the_table_and_says_so() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let region = "sa-east-1";
    let old = rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&account.config(region));
        launch(&ec2, "c4.xlarge", 1).await.remove(0)
    });
    let tmp = temp_dir();
    let mut s = start_server_with(
        &account,
        region,
        &tmp.path().join("data"),
        &["--pricing", "live"],
    );
    // moto has no Price List API: GetProducts fails, the table prices it.
    let report = s.call_ok("cost_report", json!({"checks": ["previous_generation"]}));
    assert_eq!(report["pricing"]["source"], "live");
    assert_eq!(report["errors"], json!([]));
    let r = &recs(&report)[0];
    assert_eq!(r["resource_ids"], json!([old]));
    assert_eq!(r["evidence"]["recommended_type"], "c5.xlarge");
    assert_eq!(r["estimated_monthly_savings"], json!(monthly(0.199 - 0.17)));
    assert_eq!(r["pricing_basis"]["source"], "table");
    assert_eq!(
        r["pricing_basis"]["price_region"],
        "us-east-1 (used for sa-east-1)"
    );
    assert!(s.close().success());
}

#[test]
fn without_credentials_every_cost_tool_says_so_once_and_clearly() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let args = server_args("us-east-1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = Server::start_with_env(
        &data,
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_PROFILE", ""),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            ),
        ],
    );
    s.initialize();
    for (tool, args) in [
        ("cost_report", json!({})),
        ("cost_by_service", json!({})),
        ("cost_forecast", json!({})),
        ("cost_month_over_month", json!({})),
    ] {
        let text = s.call_err(tool, args);
        assert!(
            text.starts_with("no AWS credentials found"),
            "{tool}: {text}"
        );
        assert!(text.contains("--aws-profile"), "{text}");
    }
    // The other toolsets are unaffected.
    let info = s.call_ok("server_info", json!({}));
    assert!(
        info["toolsets"]
            .as_array()
            .unwrap()
            .contains(&json!("cost"))
    );
    assert!(s.close().success());
}

#[test]
fn bad_arguments_name_the_field_and_what_is_accepted() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let cases = [
        (
            "cost_report",
            json!({"checks": ["idle_ec3"]}),
            "checks[0]",
            "idle_ec2",
        ),
        ("cost_report", json!({"checks": []}), "checks", "accepted"),
        (
            "cost_report",
            json!({"regions": "everywhere"}),
            "regions",
            "\"all\"",
        ),
        (
            "cost_report",
            json!({"regions": ["us east"]}),
            "regions[0]",
            "region name",
        ),
        ("cost_report", json!({"regions": []}), "regions", "all"),
        (
            "cost_report",
            json!({"lookback_days": 0}),
            "lookback_days",
            "1 to 90",
        ),
        (
            "cost_report",
            json!({"idle_cpu_percent": 150}),
            "idle_cpu_percent",
            "0 to 100",
        ),
        (
            "cost_report",
            json!({"idle_min_days": 20}),
            "idle_min_days",
            "lookback",
        ),
        ("cost_report", json!({"limit": 0}), "limit", "1 to 1000"),
        (
            "cost_report",
            json!({"page_size": 2}),
            "page_size",
            "5 to 1000",
        ),
        (
            "cost_report",
            json!({"min_savings": -1}),
            "min_savings",
            "0 to",
        ),
        (
            "cost_by_service",
            json!({"granularity": "HOURLY"}),
            "granularity",
            "DAILY, MONTHLY",
        ),
        (
            "cost_by_service",
            json!({"group_by": "TAG:"}),
            "group_by",
            "TAG:<key>",
        ),
        (
            "cost_by_service",
            json!({"start": "yesterday"}),
            "start",
            "YYYY-MM-DD",
        ),
        (
            "cost_by_service",
            json!({"start": "2026-05-01", "end": "2026-04-01"}),
            "end",
            "after start",
        ),
        (
            "cost_by_service",
            json!({"start": "2026-01-01", "end": "2026-11-01", "granularity": "DAILY"}),
            "end",
            "at most 92",
        ),
        ("cost_forecast", json!({"days": 0}), "days", "1 to 90"),
        (
            "cost_month_over_month",
            json!({"threshold_percent": -5}),
            "threshold_percent",
            "0 to",
        ),
    ];
    for (tool, args, field, accepted) in cases {
        let text = s.call_err(tool, args.clone());
        assert!(
            text.contains(&format!("`{field}`")) && text.contains(accepted),
            "{tool}({args}): {text}"
        );
    }
    // A misspelt argument is refused by name.
    let resp = s.call_tool("cost_report", json!({"lookback": 14}));
    let text = resp.to_string();
    assert!(text.contains("lookback"), "{text}");
    assert!(
        resp["isError"] == json!(true) || resp.get("error").is_some(),
        "{resp}"
    );
    assert!(s.close().success());
}

#[test]
fn cost_tools_are_listed_read_only_with_output_schemas_and_hidden_when_disabled() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let list = s.request_ok("tools/list", json!({}));
    for name in [
        "cost_report",
        "cost_by_service",
        "cost_forecast",
        "cost_month_over_month",
    ] {
        let tool = list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{name}");
        assert_eq!(tool["annotations"]["destructiveHint"], false, "{name}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert!(tool["inputSchema"].get("anyOf").is_none(), "{name}");
    }
    assert!(s.close().success());
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &["--toolsets", "events"]);
    assert!(!s.tool_names().iter().any(|n| n.starts_with("cost_")));
    assert!(s.close().success());
}

fn service_groups(items: &[(&str, f64)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(k, a)| json!({"Keys": [k], "Metrics": {"UnblendedCost": money(*a)}}))
            .collect(),
    )
}

#[test]
fn spend_by_service_month_over_month_and_forecast_from_cost_explorer() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let today = Utc::now().date_naive();
    let month = |back: u32| {
        let mut y = today.year();
        let mut m = today.month() as i32 - back as i32;
        while m <= 0 {
            m += 12;
            y -= 1;
        }
        NaiveDate::from_ymd_opt(y, m as u32, 1).unwrap()
    };
    let (m2, m1, m0) = (month(2), month(1), month(0));
    // History for the forecast fallback: 90 days of 100 + 0.5/day, weekends -30.
    let first = today - ChronoDuration::days(90);
    let value = |t: i64| {
        let d = first + ChronoDuration::days(t);
        100.0 + 0.5 * t as f64
            - if d.weekday().num_days_from_monday() >= 5 {
                30.0
            } else {
                0.0
            }
    };
    let history: Vec<Value> = (0..90)
        .map(|t| {
            let d = first + ChronoDuration::days(t);
            json!({
                "TimePeriod": {"Start": d.to_string(), "End": (d + ChronoDuration::days(1)).to_string()},
                "Total": {"UnblendedCost": money(value(t))},
                "Groups": [], "Estimated": false
            })
        })
        .collect();
    queue_cost_results(
        &account,
        vec![
            // cost_by_service, page 1 of 2.
            json!({
                "ResultsByTime": [{
                    "TimePeriod": {"Start": "2025-09-01", "End": "2025-10-01"},
                    "Total": {}, "Estimated": false,
                    "Groups": service_groups(&[("Amazon Elastic Compute Cloud - Compute", 1200.5), ("Amazon Simple Storage Service", 80.25)])
                }],
                "NextPageToken": "page-2",
                "DimensionValueAttributes": []
            }),
            // page 2.
            json!({
                "ResultsByTime": [{
                    "TimePeriod": {"Start": "2025-10-01", "End": "2025-11-01"},
                    "Total": {}, "Estimated": true,
                    "Groups": service_groups(&[("Amazon Elastic Compute Cloud - Compute", 1500.0), ("Amazon Relational Database Service", 300.0)])
                }],
                "DimensionValueAttributes": []
            }),
            // cost_month_over_month: the last two complete months.
            json!({
                "ResultsByTime": [
                    {"TimePeriod": {"Start": m2.to_string(), "End": m1.to_string()}, "Total": {}, "Estimated": false,
                     "Groups": service_groups(&[("Amazon EC2", 1000.0), ("Amazon S3", 100.0), ("AWS Lambda", 50.0)])},
                    {"TimePeriod": {"Start": m1.to_string(), "End": m0.to_string()}, "Total": {}, "Estimated": false,
                     "Groups": service_groups(&[("Amazon EC2", 1300.0), ("Amazon S3", 105.0), ("Amazon RDS", 400.0), ("AWS Lambda", 20.0)])}
                ],
                "DimensionValueAttributes": []
            }),
            // cost_forecast's fallback history.
            json!({"ResultsByTime": history, "DimensionValueAttributes": []}),
        ],
    );
    let tmp = temp_dir();
    let mut s = start_server(&account, "us-east-1", &tmp.path().join("data"));

    let spend = s.call_ok(
        "cost_by_service",
        // Not the months cost_month_over_month asks for: moto answers an
        // identical request with the result it gave before.
        json!({"start": "2025-09-01", "end": "2025-11-01", "granularity": "MONTHLY"}),
    );
    assert_eq!(spend["pages"], 2, "NextPageToken followed");
    assert_eq!(spend["periods"].as_array().unwrap().len(), 2);
    assert_eq!(spend["group_by"], "SERVICE");
    assert_eq!(
        spend["total"].as_f64().unwrap(),
        1200.5 + 80.25 + 1500.0 + 300.0
    );
    assert_eq!(
        spend["totals_by_group"][0],
        json!({"key": "Amazon Elastic Compute Cloud - Compute", "amount": 2700.5})
    );
    assert_eq!(spend["periods"][1]["estimated"], true);

    let mom = s.call_ok("cost_month_over_month", json!({"threshold_percent": 20}));
    assert_eq!(mom["previous_month"], m2.format("%Y-%m").to_string());
    assert_eq!(mom["current_month"], m1.format("%Y-%m").to_string());
    let alarms: BTreeSet<&str> = mom["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["service"].as_str().unwrap())
        .collect();
    assert_eq!(alarms, BTreeSet::from(["Amazon EC2", "Amazon RDS"]));
    let ec2 = mom["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service"] == "Amazon EC2")
        .unwrap();
    assert_eq!(ec2["change"].as_f64().unwrap(), 300.0);
    assert_eq!(ec2["change_percent"].as_f64().unwrap(), 30.0);
    assert_eq!(mom["previous_total"].as_f64().unwrap(), 1150.0);
    assert_eq!(mom["current_total"].as_f64().unwrap(), 1825.0);

    // moto has no GetCostForecast: the forecast falls back to the history
    // and says so; the series is noiseless, so the trend is exact.
    let f = s.call_ok("cost_forecast", json!({"days": 14}));
    assert_eq!(f["method"], "trend_weekly_seasonality");
    assert!(
        f["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("GetCostForecast")
    );
    assert_eq!(f["history_days"], 90);
    let expected: f64 = (90..104).map(value).sum();
    assert!(
        (f["total"].as_f64().unwrap() - expected).abs() < 0.1,
        "{f} vs {expected}"
    );
    assert!(f["lower_80"].as_f64().unwrap() <= f["total"].as_f64().unwrap());
    assert!(f["upper_80"].as_f64().unwrap() >= f["total"].as_f64().unwrap());
    assert_eq!(f["daily"].as_array().unwrap().len(), 14);
    assert!(s.close().success());
}
