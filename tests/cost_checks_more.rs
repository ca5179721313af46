//! The five checks FinOps tools have beyond the classic waste
//! (`idle_nat_gateway`, `log_group_retention`, `io_to_gp3`,
//! `rds_extended_support`, `old_rds_snapshots`), each planted in moto in two
//! regions through the real AWS SDK and found through `cost_report` over MCP:
//! every planted finding with its exact savings, nothing busy flagged, too
//! little data under `insufficient_data`. Each test uses its own moto
//! account, so they run in parallel.
//!
//! Expected savings are recomputed here from the list prices written out in
//! the test (us-east-1, 730 h a month), not read back from the server.

mod common;
mod cost_support;

use std::collections::{BTreeMap, BTreeSet};

use common::{Server, temp_dir};
use cost_support::{Account, Series, new_account, put_series, server_args, volume};
use serde_json::{Value, json};

const REGIONS: (&str, &str) = ("us-west-2", "eu-west-1");
/// The GB AWS bills by.
const GB: f64 = 1_073_741_824.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn start_server(account: &Account, home: &str) -> (Server, tempfile::TempDir) {
    let tmp = temp_dir();
    let args = server_args(home);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = account.server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = Server::start_with_env(&tmp.path().join("data"), &args, &env);
    s.initialize();
    (s, tmp)
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn recs(report: &Value) -> &Vec<Value> {
    report["recommendations"]
        .as_array()
        .expect("recommendations")
}

/// (region, check, first resource id) -> savings, for every recommendation;
/// fails on a resource reported twice by one check.
fn found(report: &Value) -> BTreeMap<(String, String, String), Option<f64>> {
    let mut out = BTreeMap::new();
    for r in recs(report) {
        let key = (
            r["region"].as_str().unwrap().to_string(),
            r["check"].as_str().unwrap().to_string(),
            r["resource_ids"][0].as_str().unwrap().to_string(),
        );
        assert_eq!(r["pricing_basis"]["as_of"], "2026-11-01", "{r}");
        assert_eq!(r["pricing_basis"]["terms"], "list price, on-demand", "{r}");
        assert!(
            out.insert(key.clone(), r["estimated_monthly_savings"].as_f64())
                .is_none(),
            "reported twice: {key:?}"
        );
    }
    out
}

fn insufficient(report: &Value) -> BTreeSet<(String, String, String, u64, u64)> {
    report["insufficient_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["region"].as_str().unwrap().to_string(),
                i["check"].as_str().unwrap().to_string(),
                i["resource_id"].as_str().unwrap().to_string(),
                i["days_with_data"].as_u64().unwrap(),
                i["days_required"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn key(region: &str, check: &str, id: &str) -> (String, String, String) {
    (region.to_string(), check.to_string(), id.to_string())
}

/// Every recommendation whose first resource is `id`.
fn about<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    recs(report)
        .iter()
        .filter(|r| r["resource_ids"][0] == json!(id))
        .collect()
}

// --- idle_nat_gateway ------------------------------------------------------

fn nat_series<'a>(id: &'a str, metric: &'a str, values: Vec<f64>) -> Series<'a> {
    Series {
        namespace: "AWS/NATGateway",
        metric,
        dimension: "NatGatewayId",
        value: id,
        values,
    }
}

struct Nats {
    idle: String,
    busy: String,
    new: String,
}

async fn plant_nat_gateways(account: &Account, region: &str) -> Nats {
    let conf = account.config(region);
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let subnet = ec2
        .describe_subnets()
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .iter()
        .find_map(|s| s.subnet_id().map(str::to_string))
        .expect("a default subnet");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let eip = ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .expect("AllocateAddress")
            .allocation_id
            .expect("allocation id");
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(eip)
            .send()
            .await
            .expect("CreateNatGateway")
            .nat_gateway
            .and_then(|n| n.nat_gateway_id)
            .expect("NAT gateway id");
        ids.push(nat);
    }
    let nats = Nats {
        idle: ids[0].clone(),
        busy: ids[1].clone(),
        new: ids[2].clone(),
    };
    let busy_out = {
        let mut v = vec![0.1 * GB; 10];
        v[4] = 3.0 * GB;
        v
    };
    put_series(
        &cw,
        &[
            // 0.5 GB out + 0.2 GB back a day for 10 days: 0.7 GB, idle.
            nat_series(&nats.idle, "BytesOutToDestination", vec![0.5 * GB; 10]),
            nat_series(&nats.idle, "BytesOutToSource", vec![0.2 * GB; 10]),
            // Quiet except one day of 3 GB: busy.
            nat_series(&nats.busy, "BytesOutToDestination", busy_out),
            nat_series(&nats.busy, "BytesOutToSource", vec![0.1 * GB; 10]),
            // Three days of nothing: too little data to call it idle.
            nat_series(&nats.new, "BytesOutToDestination", vec![0.0; 3]),
        ],
    )
    .await;
    nats
}

#[test]
fn idle_nat_gateways_are_found_in_two_regions_and_busy_or_new_ones_are_not() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = REGIONS;
    let (a, b) = rt.block_on(async {
        tokio::join!(
            plant_nat_gateways(&account, r1),
            plant_nat_gateways(&account, r2)
        )
    });
    let (mut s, _tmp) = start_server(&account, r1);
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["idle_nat_gateway"]}),
    );
    assert_eq!(report["errors"], json!([]), "{}", report["errors"]);
    assert_eq!(report["scanned"]["nat_gateways"], 6);
    // 0.045 $/h x 730 h = 32.85 a month each.
    let want: BTreeMap<_, _> = [(r1, &a), (r2, &b)]
        .iter()
        .map(|(r, n)| (key(r, "idle_nat_gateway", &n.idle), Some(32.85)))
        .collect();
    assert_eq!(found(&report), want);
    for (r, n) in [(r1, &a), (r2, &b)] {
        assert!(about(&report, &n.busy).is_empty(), "busy {} in {r}", n.busy);
        let rec = about(&report, &n.idle)[0];
        assert_eq!(rec["resource_type"], "nat_gateway");
        assert_eq!(rec["evidence"]["days_with_data"], 10);
        assert_eq!(rec["evidence"]["busiest_day_gb"], 0.7);
    }
    let want: BTreeSet<_> = [(r1, &a), (r2, &b)]
        .iter()
        .map(|(r, n)| {
            (
                r.to_string(),
                "idle_nat_gateway".into(),
                n.new.clone(),
                3,
                7,
            )
        })
        .collect();
    assert_eq!(insufficient(&report), want);
    // Two daily series per available gateway, in the one batched read.
    for r in [r1, r2] {
        assert_eq!(report["api_calls"]["metric_queries_by_region"][r], 6);
        assert_eq!(report["api_calls"]["get_metric_data_calls_by_region"][r], 1);
    }

    // The thresholds are parameters: at 0.5 GB a day the idle one is busy,
    // and with 3 days required the new one is judged (and idle).
    let strict = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["idle_nat_gateway"],
               "nat_idle_gb_per_day": 0.5, "nat_min_datapoints": 3}),
    );
    let want: BTreeMap<_, _> = [(r1, &a), (r2, &b)]
        .iter()
        .map(|(r, n)| (key(r, "idle_nat_gateway", &n.new), Some(32.85)))
        .collect();
    assert_eq!(found(&strict), want);
    assert_eq!(insufficient(&strict), BTreeSet::new());
    let err = s.call_err(
        "cost_report",
        json!({"checks": ["idle_nat_gateway"], "nat_min_datapoints": 0}),
    );
    assert!(err.contains("nat_min_datapoints"), "{err}");
    assert!(s.close().success());
}

// --- log_group_retention ---------------------------------------------------

/// Creates `name` (with `retention` days when given) holding `events`
/// messages of `size` bytes; returns the bytes put.
async fn log_group(
    logs: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
    retention: Option<i32>,
    events: usize,
    size: usize,
) -> i64 {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    logs.create_log_group()
        .log_group_name(name)
        .send()
        .await
        .expect("CreateLogGroup");
    if let Some(days) = retention {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days)
            .send()
            .await
            .expect("PutRetentionPolicy");
    }
    if events == 0 {
        return 0;
    }
    logs.create_log_stream()
        .log_group_name(name)
        .log_stream_name("main")
        .send()
        .await
        .expect("CreateLogStream");
    let now = chrono::Utc::now().timestamp_millis();
    let batch: Vec<InputLogEvent> = (0..events)
        .map(|i| {
            InputLogEvent::builder()
                .timestamp(now - 1000 + i as i64)
                .message("x".repeat(size))
                .build()
                .expect("event")
        })
        .collect();
    logs.put_log_events()
        .log_group_name(name)
        .log_stream_name("main")
        .set_log_events(Some(batch))
        .send()
        .await
        .expect("PutLogEvents");
    (events * size) as i64
}

#[test]
fn log_groups_that_never_expire_are_priced_by_what_they_store() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = REGIONS;
    let planted = rt.block_on(async {
        let mut out = BTreeMap::new();
        for region in [r1, r2] {
            let logs = aws_sdk_cloudwatchlogs::Client::new(&account.config(region));
            let forever = log_group(&logs, "/app/forever", None, 200, 5000).await;
            let big = log_group(&logs, "/app/forever-big", None, 100, 100_000).await;
            log_group(&logs, "/app/kept-30-days", Some(30), 200, 5000).await;
            log_group(&logs, "/app/empty", None, 0, 0).await;
            for i in 0..6 {
                log_group(&logs, &format!("/svc/kept-{i}"), Some(7), 1, 100).await;
            }
            out.insert(region, (forever, big));
        }
        out
    });
    let (mut s, _tmp) = start_server(&account, r1);
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["log_group_retention"]}),
    );
    assert_eq!(report["errors"], json!([]), "{}", report["errors"]);
    assert_eq!(report["scanned"]["log_groups"], 20);
    // stored GB x 0.03 $/GB-month: 1 MB and 10 MB are fractions of a cent,
    // which the basis shows unrounded.
    let mut want = BTreeMap::new();
    for (region, (forever, big)) in &planted {
        for (name, bytes) in [("/app/forever", forever), ("/app/forever-big", big)] {
            want.insert(
                key(region, "log_group_retention", name),
                Some(cents(*bytes as f64 / GB * 0.03)),
            );
        }
    }
    assert_eq!(found(&report), want);
    for r in recs(&report) {
        let region = r["region"].as_str().unwrap();
        let (forever, big) = planted[region];
        let bytes = if r["resource_ids"][0] == "/app/forever" {
            forever
        } else {
            big
        };
        assert_eq!(r["evidence"]["stored_bytes"], bytes, "{r}");
        let detail = r["pricing_basis"]["detail"].as_str().unwrap();
        assert!(detail.starts_with("upper bound"), "{detail}");
        assert!(
            detail.contains(&format!("{bytes} bytes = {:.6} GB", bytes as f64 / GB)),
            "{detail}"
        );
        assert!(r["description"].as_str().unwrap().contains("upper bound"));
        assert_eq!(r["resource_type"], "log_group");
    }
    assert_eq!(insufficient(&report), BTreeSet::new());

    // log_min_stored_gb leaves out the smaller group (1 MB) but not the 10 MB
    // one; with 5 groups a page, all 10 of each region are still read.
    let bigger = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["log_group_retention"],
               "log_min_stored_gb": 0.005, "page_size": 5}),
    );
    assert_eq!(bigger["scanned"]["log_groups"], 20);
    assert!(
        bigger["api_calls"]["describe_calls"].as_u64().unwrap() >= 4,
        "{}",
        bigger["api_calls"]
    );
    let names: BTreeSet<String> = found(&bigger).into_keys().map(|k| k.2).collect();
    assert_eq!(names, BTreeSet::from(["/app/forever-big".to_string()]));
    assert!(s.close().success());
}

// --- io_to_gp3 -------------------------------------------------------------

#[test]
fn io_volumes_that_gp3_can_serve_are_priced_as_gp3_of_the_same_size_and_iops() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = REGIONS;
    let planted = rt.block_on(async {
        let mut out = BTreeMap::new();
        for region in [r1, r2] {
            let ec2 = aws_sdk_ec2::Client::new(&account.config(region));
            let io1 = volume(&ec2, region, "io1", 500, Some(10_000), None).await;
            let io2 = volume(&ec2, region, "io2", 100, Some(2000), None).await;
            let fast = volume(&ec2, region, "io1", 100, Some(20_000), None).await;
            let gp3 = volume(&ec2, region, "gp3", 100, Some(3000), None).await;
            out.insert(region, (io1, io2, fast, gp3));
        }
        out
    });
    let (mut s, _tmp) = start_server(&account, r1);
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["io_to_gp3"]}),
    );
    assert_eq!(report["errors"], json!([]), "{}", report["errors"]);
    // (GB x 0.125 + IOPS x 0.065) - (GB x 0.08 + IOPS over 3000 x 0.005)
    let saving = |gb: f64, iops: f64| {
        cents((gb * 0.125 + iops * 0.065) - (gb * 0.08 + (iops - 3000.0).max(0.0) * 0.005))
    };
    let mut want = BTreeMap::new();
    for (region, (io1, io2, _, _)) in &planted {
        want.insert(key(region, "io_to_gp3", io1), Some(saving(500.0, 10_000.0)));
        want.insert(key(region, "io_to_gp3", io2), Some(saving(100.0, 2000.0)));
    }
    assert_eq!(saving(500.0, 10_000.0), 637.5);
    assert_eq!(found(&report), want);
    for (io1, _, fast, gp3) in planted.values() {
        assert!(
            about(&report, fast).is_empty(),
            "20,000 IOPS is over gp3's limit"
        );
        assert!(about(&report, gp3).is_empty());
        let rec = about(&report, io1)[0];
        assert_eq!(rec["evidence"]["provisioned_iops"], 10_000);
        assert!(
            rec["action_required"]
                .as_str()
                .unwrap()
                .contains("--volume-type gp3 --iops 10000")
        );
    }

    // gp3_max_iops is a parameter: raised, the 20,000-IOPS volume is priced too.
    let raised = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["io_to_gp3"], "gp3_max_iops": 80000}),
    );
    let got = found(&raised);
    for (region, (_, _, fast, _)) in &planted {
        assert_eq!(
            got[&key(region, "io_to_gp3", fast)],
            Some(saving(100.0, 20_000.0))
        );
    }
    assert!(s.close().success());
}

// --- rds_extended_support --------------------------------------------------

async fn db_with(
    rds: &aws_sdk_rds::Client,
    id: &str,
    class: &str,
    engine: &str,
    version: Option<&str>,
    storage_gb: i32,
) -> String {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class(class)
        .engine(engine)
        .set_engine_version(version.map(str::to_string))
        .allocated_storage(storage_gb)
        .master_username("admin")
        .master_user_password("password-123")
        .send()
        .await
        .expect("CreateDBInstance");
    id.to_string()
}

#[test]
fn db_instances_past_standard_support_are_priced_per_vcpu() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = REGIONS;
    rt.block_on(async {
        for region in [r1, r2] {
            let rds = aws_sdk_rds::Client::new(&account.config(region));
            db_with(
                &rds,
                "legacy-mysql",
                "db.m5.xlarge",
                "mysql",
                Some("5.7.44"),
                20,
            )
            .await;
            db_with(
                &rds,
                "legacy-pg",
                "db.t3.medium",
                "postgres",
                Some("12.19"),
                20,
            )
            .await;
            db_with(&rds, "old-pg", "db.r5.large", "postgres", Some("11.22"), 20).await;
            db_with(
                &rds,
                "current-pg",
                "db.m5.large",
                "postgres",
                Some("16.4"),
                20,
            )
            .await;
            db_with(
                &rds,
                "current-mysql",
                "db.m5.large",
                "mysql",
                Some("8.4.3"),
                20,
            )
            .await;
        }
    });
    let (mut s, _tmp) = start_server(&account, r1);
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["rds_extended_support"]}),
    );
    assert_eq!(report["errors"], json!([]), "{}", report["errors"]);
    assert_eq!(report["scanned"]["db_instances"], 10);
    // vCPUs x 0.100 $/vCPU-hour x 730 h.
    let mut want = BTreeMap::new();
    for region in [r1, r2] {
        want.insert(
            key(region, "rds_extended_support", "legacy-mysql"),
            Some(cents(4.0 * 0.1 * 730.0)),
        );
        want.insert(
            key(region, "rds_extended_support", "legacy-pg"),
            Some(cents(2.0 * 0.1 * 730.0)),
        );
        want.insert(
            key(region, "rds_extended_support", "old-pg"),
            Some(cents(2.0 * 0.1 * 730.0)),
        );
    }
    assert_eq!(found(&report), want);
    for r in recs(&report) {
        let text = r["description"].as_str().unwrap();
        assert!(text.contains("year 1-2 price"), "{text}");
        assert!(
            r["pricing_basis"]["detail"]
                .as_str()
                .unwrap()
                .contains("x 0.1 $/vCPU-hour (Extended Support, year 1-2 price) x 730 h"),
            "{r}"
        );
        let ends = [
            ("legacy-mysql", "2024-02-29"),
            ("legacy-pg", "2025-02-28"),
            ("old-pg", "2024-02-29"),
        ];
        let id = r["resource_ids"][0].as_str().unwrap();
        let end = ends.iter().find(|(d, _)| *d == id).unwrap().1;
        assert_eq!(r["evidence"]["end_of_standard_support"], end, "{r}");
        assert!(r["evidence"]["extended_support_year"].as_u64().unwrap() >= 1);
    }
    for id in ["current-pg", "current-mysql"] {
        assert!(about(&report, id).is_empty(), "{id} is in standard support");
    }
    assert!(s.close().success());
}

// --- old_rds_snapshots -----------------------------------------------------

#[test]
fn manual_db_snapshots_past_the_age_threshold_are_priced_per_gb() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let (r1, r2) = REGIONS;
    let planted = rt.block_on(async {
        let mut out = BTreeMap::new();
        for region in [r1, r2] {
            let rds = aws_sdk_rds::Client::new(&account.config(region));
            db_with(
                &rds,
                "orders",
                "db.t3.medium",
                "postgres",
                Some("16.4"),
                100,
            )
            .await;
            db_with(&rds, "stats", "db.t3.medium", "mysql", Some("8.4.3"), 250).await;
            let mut snaps = Vec::new();
            for (db, snap) in [("orders", "orders-before-migration"), ("stats", "stats-q3")] {
                rds.create_db_snapshot()
                    .db_instance_identifier(db)
                    .db_snapshot_identifier(snap)
                    .send()
                    .await
                    .expect("CreateDBSnapshot");
                snaps.push(snap.to_string());
            }
            out.insert(region, snaps);
        }
        out
    });
    let (mut s, _tmp) = start_server(&account, r1);
    // moto dates a snapshot now: at the default 90 days every one is recent.
    let recent = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["old_rds_snapshots"]}),
    );
    assert_eq!(recent["errors"], json!([]), "{}", recent["errors"]);
    assert_eq!(recent["scanned"]["db_snapshots"], 4, "manual ones only");
    assert_eq!(found(&recent), BTreeMap::new());

    // With a 0-day threshold every manual snapshot, and none of the
    // automated backups moto keeps beside them.
    let all = s.call_ok(
        "cost_report",
        json!({"regions": [r1, r2], "checks": ["old_rds_snapshots"], "snapshot_age_days": 0}),
    );
    let mut want = BTreeMap::new();
    for (region, snaps) in &planted {
        want.insert(
            key(region, "old_rds_snapshots", &snaps[0]),
            Some(cents(100.0 * 0.095)),
        );
        want.insert(
            key(region, "old_rds_snapshots", &snaps[1]),
            Some(cents(250.0 * 0.095)),
        );
    }
    assert_eq!(found(&all), want);
    for r in recs(&all) {
        assert_eq!(r["resource_type"], "rds_snapshot");
        assert!(r["description"].as_str().unwrap().contains("upper bound"));
        assert!(
            r["pricing_basis"]["detail"]
                .as_str()
                .unwrap()
                .starts_with("upper bound")
        );
    }
    assert!(s.close().success());
}

// --- all five together -------------------------------------------------------

#[test]
fn the_five_checks_run_by_default_and_a_failing_region_is_an_error_per_check() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let good = "ap-northeast-1";
    let io1 = rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&account.config(good));
        volume(&ec2, good, "io1", 100, Some(4000), None).await
    });
    let (mut s, _tmp) = start_server(&account, good);
    let five = [
        "idle_nat_gateway",
        "log_group_retention",
        "io_to_gp3",
        "rds_extended_support",
        "old_rds_snapshots",
    ];
    // moto answers every call for an unknown region with HTTP 500.
    let report = s.call_ok(
        "cost_report",
        json!({"regions": [good, "zz-nowhere-1"], "checks": five}),
    );
    let failed: BTreeSet<(String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
            (
                e["region"].as_str().unwrap().to_string(),
                e["check"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = five
        .iter()
        .map(|c| ("zz-nowhere-1".to_string(), c.to_string()))
        .collect();
    assert_eq!(failed, want);
    // (100 x 0.125 + 4000 x 0.065) - (100 x 0.08 + 1000 x 0.005) = 259.50
    let mut want = BTreeMap::new();
    want.insert(key(good, "io_to_gp3", &io1), Some(259.5));
    assert_eq!(found(&report), want);

    // Without `checks` the five run with the other twelve.
    let all = s.call_ok("cost_report", json!({}));
    assert_eq!(all["errors"], json!([]), "{}", all["errors"]);
    assert_eq!(
        found(&all).get(&key(good, "io_to_gp3", &io1)),
        Some(&Some(259.5))
    );
    assert!(s.close().success());
}
