//! Commitments and anomalies (#22) and the cost tools without credentials
//! (#21), over MCP against the real binary. moto has no anomaly, Savings
//! Plans or reservation APIs: here `cost_anomalies` takes its own-detection
//! path over moto's canned GetCostAndUsage; the Cost Explorer paths are
//! covered by replaying AWS's response shapes through the SDK's test client
//! (unit tests in src/cost/anomalies.rs).

mod common;
mod cost_support;

use chrono::{Datelike, Duration as ChronoDuration, NaiveDate};
use common::{Server, temp_dir};
use cost_support::{money, new_account, queue_cost_results, start_server};
use serde_json::{Value, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_spend_spike_is_found_by_own_detection_and_reaches_a_cost_subscriber() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let end = start + ChronoDuration::days(7);
    let history_start = start - ChronoDuration::days(28);
    let spike = start + ChronoDuration::days(3);
    let one_off = history_start + ChronoDuration::days(10);
    let periods: Vec<Value> = (0..35)
        .map(|t| {
            let d = history_start + ChronoDuration::days(t);
            // Cheaper weekends: a weekly pattern, not an anomaly.
            let mut ec2 = if d.weekday().num_days_from_monday() >= 5 {
                20.0
            } else {
                100.0
            } + (t % 3) as f64;
            if d == spike {
                ec2 += 300.0;
            }
            if d == one_off {
                ec2 += 500.0;
            }
            json!({
                "TimePeriod": {"Start": d.to_string(), "End": (d + ChronoDuration::days(1)).to_string()},
                "Total": {}, "Estimated": false,
                "Groups": [
                    {"Keys": ["Amazon Elastic Compute Cloud - Compute"], "Metrics": {"UnblendedCost": money(ec2)}},
                    {"Keys": ["Amazon Simple Storage Service"], "Metrics": {"UnblendedCost": money(5.0)}}
                ]
            })
        })
        .collect();
    queue_cost_results(
        &account,
        vec![json!({"ResultsByTime": periods, "DimensionValueAttributes": []})],
    );
    let tmp = temp_dir();
    let mut s = start_server(&account, &tmp.path().join("data"));
    let sub = s.call_ok(
        "subscribe",
        json!({"name": "spend-watch", "topics": ["cost"], "start": "earliest"}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    let report = s.call_ok(
        "cost_anomalies",
        json!({"start": start.to_string(), "end": end.to_string(), "min_impact": 50}),
    );
    assert_eq!(report["method"], "own", "{report}");
    assert!(report["fallback_reason"].is_string(), "{report}");
    let anomalies = report["anomalies"].as_array().unwrap();
    assert_eq!(
        anomalies.len(),
        1,
        "only the spike, not the weekends: {report}"
    );
    let a = &anomalies[0];
    assert_eq!(a["service"], "Amazon Elastic Compute Cloud - Compute");
    assert_eq!(a["start"], spike.to_string());
    assert_eq!(a["method"], "own");
    assert!(a["impact"].as_f64().unwrap() > 290.0, "{a}");
    assert_eq!(report["published"], 1);
    let mut events = Vec::new();
    for _ in 0..10 {
        let polled = s.call_ok(
            "poll_events",
            json!({"subscription_id": sub, "wait_ms": 1000}),
        );
        events.extend(polled["events"].as_array().unwrap().iter().cloned());
        if !events.is_empty() {
            break;
        }
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["topic"], "cost");
    assert_eq!(events[0]["event_type"], "cost.anomaly");
    assert_eq!(events[0]["source"], "cost");
    assert_eq!(events[0]["payload"]["start"], spike.to_string());
    assert_eq!(
        events[0]["payload"]["service"],
        "Amazon Elastic Compute Cloud - Compute"
    );
    assert!(s.close().success());
}

#[test]
fn cost_anomalies_rejects_bad_ranges_naming_the_field() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let e = s.call_err(
        "cost_anomalies",
        json!({"start": "2026-11-08", "end": "2026-11-01"}),
    );
    assert!(e.contains("start"), "{e}");
    let e = s.call_err("cost_anomalies", json!({"start": "yesterday"}));
    assert!(e.contains("start") && e.contains("YYYY-MM-DD"), "{e}");
    let e = s.call_err("cost_anomalies", json!({"min_impact": -1}));
    assert!(e.contains("min_impact"), "{e}");
    assert!(s.close().success());
}

#[test]
fn without_credentials_a_cost_tool_says_how_to_provide_them_and_stderr_stays_small() {
    let tmp = temp_dir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_string_lossy().to_string();
    // Every source of the credential chain empty; the metadata service is
    // left enabled but pointed at a port nothing listens on.
    let env = [
        ("HOME", home.as_str()),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_PROFILE", ""),
        ("AWS_DEFAULT_PROFILE", ""),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"),
        ("AWS_REGION", "us-east-1"),
    ];
    let mut s = Server::start_with_env(&tmp.path().join("data"), &["--log-level", "warn"], &env);
    s.initialize();
    for tool in ["cost_forecast", "cost_anomalies", "cost_commitments"] {
        let e = s.call_err(tool, json!({}));
        assert!(e.contains("no AWS credentials found"), "{tool}: {e}");
        assert!(
            e.contains("AWS_PROFILE") && e.contains("AWS_ACCESS_KEY_ID"),
            "{tool}: {e}"
        );
        assert!(
            !e.to_lowercase().contains("imds") && !e.contains("metadata"),
            "{tool}: the error is about credentials, not the metadata service: {e}"
        );
        assert!(e.len() < 400, "{tool}: one short error: {e}");
    }
    let stderr = s.stderr();
    assert!(s.close().success());
    assert!(
        stderr.len() < 1000,
        "stderr at warn stays small ({} bytes): {stderr}",
        stderr.len()
    );
    assert!(!stderr.contains(" aws_"), "no AWS SDK log lines: {stderr}");
}

#[test]
fn cost_commitments_against_moto_names_each_missing_api_and_still_answers() {
    let rt = runtime();
    let account = rt.block_on(new_account());
    let tmp = temp_dir();
    let mut s = start_server(&account, &tmp.path().join("data"));
    let c = s.call_ok(
        "cost_commitments",
        json!({"lookback_days": 60, "term": "3y", "payment": "partial_upfront"}),
    );
    assert_eq!(c["lookback_days"], 60);
    assert_eq!(c["term"], "3y");
    assert_eq!(c["payment"], "partial_upfront");
    // moto implements none of the four APIs: each failure is named, none
    // fails the call.
    let errors: Vec<String> = c["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    for api in [
        "GetSavingsPlansCoverage",
        "GetSavingsPlansUtilization",
        "GetReservationCoverage",
        "GetSavingsPlansPurchaseRecommendation",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(api)), "{api}: {c}");
    }
    assert!(c["recommendation"].is_null(), "{c}");
    let e = s.call_err("cost_commitments", json!({"lookback_days": 45}));
    assert!(e.contains("lookback_days") && e.contains("30 or 60"), "{e}");
    let e = s.call_err("cost_commitments", json!({"term": "5y"}));
    assert!(e.contains("term") && e.contains("1y"), "{e}");
    let list = s.request_ok("tools/list", json!({}));
    let tool = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "cost_commitments")
        .expect("listed")
        .clone();
    assert_eq!(tool["annotations"]["readOnlyHint"], true);
    assert_eq!(tool["outputSchema"]["type"], "object");
    assert!(s.close().success());
}
