//! The alerting toolset as an agent meets it over stdio: rules with
//! `for_seconds` and hysteresis, learned thresholds, dedup, grouping,
//! priority factors, lifecycle, escalation, silences and inhibition, and
//! state that survives a restart. Every time is supplied explicitly, so the
//! stories replay without waiting.

mod common;

use std::time::{Duration, Instant};

use common::{Server, namespace_for, store_backend, temp_dir};
use serde_json::{Value, json};

/// Monday 2026-01-05 10:00:00 UTC (inside default business hours).
const T0: f64 = 1_767_607_200.0;

fn start(data: &std::path::Path) -> Server {
    Server::started(data, &["--toolsets", "alerting"])
}

/// `s` killed with SIGKILL (nothing flushed on the way out) and a new
/// server started on its data dir.
fn killed_and_restarted(s: Server, data: &std::path::Path) -> Server {
    s.signal("KILL");
    drop(s);
    start(data)
}

fn point(s: &mut Server, metric: &str, value: f64, ts: f64, source: &str, labels: Value) -> Value {
    s.call_ok(
        "check_metric",
        json!({"metric_name": metric, "value": value, "timestamp": ts, "source": source, "labels": labels}),
    )
}

fn ids(alerts: &Value) -> Vec<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn static_rule_fires_with_rendered_templates_and_bad_expressions_name_the_position() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    // Each bad rule is refused with an error naming the field (and, for a
    // condition, the position).
    let cases = [
        (
            "value > 80 and".to_string(),
            "warning",
            ["`condition`", "position 14"],
        ),
        (
            "value > 80".to_string(),
            "urgent",
            ["`severity`", "critical"],
        ),
        // Nested 100,000 deep, a condition once overflowed the parser's
        // stack and killed the server.
        (
            format!("{}value > 80{}", "(".repeat(100_000), ")".repeat(100_000)),
            "warning",
            ["`condition`", "at most 1000 tokens"],
        ),
        (
            format!("{}value > 80{}", "(".repeat(100), ")".repeat(100)),
            "warning",
            ["position 64", "nested"],
        ),
    ];
    for (condition, severity, says) in cases {
        let err = s.call_err(
            "add_alert_rule",
            json!({"rule_id": "r", "metric_name": "cpu", "condition": condition, "severity": severity}),
        );
        assert!(says.iter().all(|w| err.contains(w)), "{err}");
    }

    s.call_ok(
        "add_alert_rule",
        json!({
            "rule_id": "cpu-prod", "metric_name": "cpu", "severity": "critical",
            "condition": "value > 80 and labels.env == \"prod\"",
            "title_template": "CPU {value} above {threshold} on {source}",
            "description_template": "{metric} in {labels.env}"
        }),
    );
    // Same value in another environment: no alert.
    let dev = point(&mut s, "cpu", 95.0, T0, "web-1", json!({"env": "dev"}));
    assert_eq!(dev["alerts"], json!([]));
    let prod = point(&mut s, "cpu", 95.5, T0, "web-1", json!({"env": "prod"}));
    let a = &prod["alerts"][0];
    assert_eq!(a["title"], "CPU 95.5 above 80 on web-1");
    assert_eq!(a["description"], "cpu in prod");
    assert_eq!(a["status"], "firing");
    assert_eq!(a["severity"], "critical");
    assert_eq!(prod["thresholds"]["upper"], 80.0);

    let rules = s.call_ok("list_alert_rules", json!({}));
    assert_eq!(rules["rules"][0]["rule_id"], "cpu-prod");
    let removed = s.call_ok("remove_alert_rule", json!({"rule_id": "cpu-prod"}));
    assert_eq!(removed["resolved_alert_ids"], json!([a["alert_id"]]));
    let err = s.call_err("remove_alert_rule", json!({"rule_id": "cpu-prod"}));
    assert!(err.contains("`rule_id`"), "{err}");
    assert_eq!(s.call_ok("list_alert_rules", json!({}))["rules"], json!([]));
}

#[test]
fn for_seconds_waits_for_the_condition_and_recovery_condition_holds_until_clear() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "lat", "metric_name": "latency", "condition": "value > 500",
               "recovery_condition": "value < 300", "for_seconds": 120, "severity": "error"}),
    );
    assert_eq!(
        point(&mut s, "latency", 600.0, T0, "api", json!({}))["alerts"],
        json!([])
    );
    assert_eq!(
        point(&mut s, "latency", 650.0, T0 + 60.0, "api", json!({}))["alerts"],
        json!([])
    );
    // A dip resets the pending clock.
    point(&mut s, "latency", 100.0, T0 + 90.0, "api", json!({}));
    assert_eq!(
        point(&mut s, "latency", 700.0, T0 + 150.0, "api", json!({}))["alerts"],
        json!([])
    );
    assert_eq!(
        point(&mut s, "latency", 700.0, T0 + 240.0, "api", json!({}))["alerts"],
        json!([])
    );
    let fired = point(&mut s, "latency", 700.0, T0 + 270.0, "api", json!({}));
    let id = fired["alerts"][0]["alert_id"].as_str().unwrap().to_string();
    assert_eq!(fired["alerts"][0]["started_at"], "2026-01-05T10:04:30.000Z");

    // 400 is below the firing threshold but above the recovery one: still firing.
    point(&mut s, "latency", 400.0, T0 + 300.0, "api", json!({}));
    let active = s.call_ok("list_alerts", json!({}));
    assert_eq!(ids(&active["alerts"]), vec![id]);
    // 250 meets the recovery condition: resolved, by the system, at that point's time.
    point(&mut s, "latency", 250.0, T0 + 330.0, "api", json!({}));
    assert_eq!(s.call_ok("list_alerts", json!({}))["total"], 0);
    let resolved = s.call_ok("list_alerts", json!({"status": "resolved"}));
    let hist = &resolved["alerts"][0]["history"];
    assert_eq!(hist[1]["status"], "resolved");
    assert_eq!(hist[1]["by"], "system");
    assert_eq!(hist[1]["at"], "2026-01-05T10:05:30.000Z");
}

#[test]
fn repeats_within_the_dedup_window_update_one_alert_and_stats_count_them() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "disk", "metric_name": "disk_used", "condition": "value >= 90", "severity": "warning"}),
    );
    let first = point(&mut s, "disk_used", 91.0, T0, "db-1", json!({}));
    let id = first["alerts"][0]["alert_id"].clone();
    for (i, v) in [92.0, 93.0, 94.0].iter().enumerate() {
        let r = point(
            &mut s,
            "disk_used",
            *v,
            T0 + 60.0 * (i as f64 + 1.0),
            "db-1",
            json!({}),
        );
        assert_eq!(r["alerts"][0]["alert_id"], id);
    }
    let a = &s.call_ok("list_alerts", json!({}))["alerts"][0];
    assert_eq!(a["count"], 4);
    assert_eq!(a["last_value"], 94.0);
    assert_eq!(a["first_value"], 91.0);
    assert_eq!(a["last_seen"], "2026-01-05T10:03:00.000Z");
    // Another source is another fingerprint.
    let other = point(&mut s, "disk_used", 99.0, T0 + 200.0, "db-2", json!({}));
    assert_ne!(other["alerts"][0]["alert_id"], id);
    // After more than 300 s of silence, a repeat is a new alert.
    let late = point(
        &mut s,
        "disk_used",
        95.0,
        T0 + 180.0 + 301.0,
        "db-1",
        json!({}),
    );
    assert_ne!(late["alerts"][0]["alert_id"], id);

    let stats = s.call_ok("alert_stats", json!({}));
    assert_eq!(stats["alerts_created"], 3);
    assert_eq!(stats["deduplicated"], 3);
    assert_eq!(stats["deduplication_rate"], 0.5);
    assert_eq!(stats["points_checked"], 6);
    assert_eq!(stats["rules"], 1);
}

#[test]
fn values_are_kept_to_the_last_bit_of_the_number_the_client_sent() {
    // Shortest round-trip spellings of doubles next to 1.832 and 1.908, as
    // NAB's files and Python's repr write them: a parser that rounds
    // best-effort reads them as the neighbouring double (it turned 559 of
    // one NAB file's 4,032 values into others and moved its scores).
    let (a, b) = (1.8319999999999999_f64, 1.9080000000000001_f64);
    assert_ne!(a, 1.832);
    assert_ne!(b, 1.908);
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "cpu", "metric_name": "cpu", "condition": "value > 1", "severity": "warning"}),
    );
    let points: Vec<Value> = [(a, 0.0), (b, 60.0)]
        .iter()
        .map(|(v, dt)| json!({"metric_name": "cpu", "value": v, "timestamp": T0 + dt}))
        .collect();
    s.call_ok("check_metrics", json!({"points": points}));
    let alert = &s.call_ok("list_alerts", json!({}))["alerts"][0];
    assert_eq!(
        alert["first_value"].as_f64().map(f64::to_bits),
        Some(a.to_bits())
    );
    assert_eq!(
        alert["last_value"].as_f64().map(f64::to_bits),
        Some(b.to_bits())
    );
}

#[test]
fn alerts_on_related_metrics_of_one_source_form_one_group_with_a_summary() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    for (id, metric) in [
        ("cpu", "db.cpu"),
        ("lat", "db.latency"),
        ("err", "db.errors"),
    ] {
        s.call_ok(
            "add_alert_rule",
            json!({"rule_id": id, "metric_name": metric, "condition": "value > 10", "severity": "error"}),
        );
    }
    let a = point(&mut s, "db.cpu", 50.0, T0, "db-1", json!({}));
    let b = point(&mut s, "db.latency", 50.0, T0 + 30.0, "db-1", json!({}));
    let c = point(&mut s, "db.errors", 50.0, T0 + 60.0, "db-2", json!({}));
    let g = a["alerts"][0]["group_id"].as_str().unwrap().to_string();
    assert_eq!(b["alerts"][0]["group_id"], g.as_str());
    assert_ne!(c["alerts"][0]["group_id"], g.as_str());

    let members = s.call_ok("list_alerts", json!({"group_id": g}));
    assert_eq!(members["total"], 2);
    let stats = s.call_ok("alert_stats", json!({}));
    let group = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["group_id"] == g.as_str())
        .unwrap()
        .clone();
    assert_eq!(group["key"], "source=db-1");
    assert_eq!(
        group["summary"],
        "2 alerts on source=db-1 (db.cpu, db.latency), worst error"
    );

    // group_by is configurable: by metric instead of source.
    s.call_ok("configure_alerting", json!({"group_by": ["metric"]}));
    let d = point(&mut s, "db.errors", 60.0, T0 + 90.0, "db-3", json!({}));
    let e = point(&mut s, "db.errors", 60.0, T0 + 95.0, "db-4", json!({}));
    assert_eq!(d["alerts"][0]["group_id"], e["alerts"][0]["group_id"]);
    assert_ne!(d["alerts"][0]["group_id"], c["alerts"][0]["group_id"]);
}

#[test]
fn priority_is_explained_by_its_factors() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "err", "metric_name": "errors", "condition": "value > 100", "severity": "error"}),
    );
    // Saturday night, internal service.
    let quiet = point(
        &mut s,
        "errors",
        110.0,
        T0 + 5.0 * 86_400.0 + 12.0 * 3600.0,
        "batch",
        json!({}),
    );
    // Monday 10:00, production, customer facing, twice the threshold.
    let loud = point(
        &mut s,
        "errors",
        200.0,
        T0,
        "checkout",
        json!({"env": "production", "customer_facing": "true"}),
    );
    let factors = |r: &Value| -> Vec<String> {
        r["alerts"][0]["priority_factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["factor"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(factors(&quiet), ["severity", "distance"]);
    assert_eq!(
        factors(&loud),
        ["severity", "distance", "labels", "labels", "business_hours"]
    );
    let p_loud = loud["alerts"][0]["priority"].as_f64().unwrap();
    let p_quiet = quiet["alerts"][0]["priority"].as_f64().unwrap();
    let sum: f64 = loud["alerts"][0]["priority_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["points"].as_f64().unwrap())
        .sum();
    assert!((sum - p_loud).abs() < 1e-6, "{loud}");
    assert!(p_loud > p_quiet + 15.0, "{p_loud} vs {p_quiet}");
    // list_alerts sorts by priority and filters by it.
    let list = s.call_ok("list_alerts", json!({}));
    assert_eq!(list["alerts"][0]["alert_id"], loud["alerts"][0]["alert_id"]);
    let high = s.call_ok("list_alerts", json!({"min_priority": p_loud}));
    assert_eq!(high["total"], 1);

    // Business hours follow the configured time zone: 10:00 UTC is 19:00 in UTC+9.
    s.call_ok("configure_alerting", json!({"utc_offset_minutes": 540}));
    let err = s.call_err("configure_alerting", json!({"business_hours_start": 18}));
    assert!(err.contains("business_hours_end"), "{err}");
    let tokyo = point(&mut s, "errors", 200.0, T0, "other", json!({}));
    assert_eq!(factors(&tokyo), ["severity", "distance"]);

    // The group size counts: a second alert on the same source raises both.
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "err2", "metric_name": "errors2", "condition": "value > 100", "severity": "error"}),
    );
    let second = point(&mut s, "errors2", 200.0, T0 + 10.0, "other", json!({}));
    assert!(
        factors(&second).contains(&"group_size".to_string()),
        "{second}"
    );
}

#[test]
fn lifecycle_records_who_and_when_and_auto_resolves_after_the_clear_period() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "q", "metric_name": "queue", "condition": "value > 1000",
               "severity": "warning", "resolve_after_seconds": 120}),
    );
    let r = point(&mut s, "queue", 5000.0, T0, "w", json!({}));
    let id = r["alerts"][0]["alert_id"].as_str().unwrap().to_string();
    let acked = s.call_ok(
        "acknowledge_alert",
        json!({"alert_id": id, "user": "ana", "at": T0 + 30.0}),
    );
    assert_eq!(acked["alert"]["status"], "acknowledged");
    assert_eq!(acked["alert"]["history"][1]["by"], "ana");
    assert_eq!(
        acked["alert"]["history"][1]["at"],
        "2026-01-05T10:00:30.000Z"
    );
    assert_eq!(
        s.call_ok("list_alerts", json!({"status": "acknowledged"}))["total"],
        1
    );

    // Clear for 60 s: not yet resolved; clear for 120 s: resolved by the system.
    point(&mut s, "queue", 10.0, T0 + 60.0, "w", json!({}));
    point(&mut s, "queue", 10.0, T0 + 120.0, "w", json!({}));
    assert_eq!(s.call_ok("list_alerts", json!({}))["total"], 1);
    point(&mut s, "queue", 10.0, T0 + 180.0, "w", json!({}));
    let res = s.call_ok("list_alerts", json!({"status": "resolved"}));
    assert_eq!(res["alerts"][0]["history"][2]["note"], "condition cleared");

    // By hand, with a note.
    let r = point(&mut s, "queue", 5000.0, T0 + 600.0, "w", json!({}));
    let id2 = r["alerts"][0]["alert_id"].as_str().unwrap().to_string();
    assert_ne!(id2, id);
    let done = s.call_ok(
        "resolve_alert",
        json!({"alert_id": id2, "user": "bo", "note": "drained", "at": T0 + 700.0}),
    );
    assert_eq!(done["alert"]["status"], "resolved");
    assert_eq!(done["alert"]["history"][1]["note"], "drained");
    let err = s.call_err("resolve_alert", json!({"alert_id": id2}));
    assert!(err.contains("already resolved"), "{err}");
    let err = s.call_err(
        "acknowledge_alert",
        json!({"alert_id": "a-999", "user": "x"}),
    );
    assert!(err.contains("`alert_id`"), "{err}");
}

#[test]
fn escalation_levels_follow_unacknowledged_time() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "set_escalation_policy",
        json!({"severity": "critical", "levels": [
            {"after_seconds": 900, "notify": ["team-lead"]},
            {"after_seconds": 0, "notify": ["oncall"]},
            {"after_seconds": 3600, "notify": ["vp-eng"]}
        ]}),
    );
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "down", "metric_name": "up", "condition": "value < 1", "severity": "critical"}),
    );
    let r = point(&mut s, "up", 0.0, T0, "api", json!({}));
    let id = r["alerts"][0]["alert_id"].clone();
    let at =
        |s: &mut Server, t: f64| s.call_ok("escalations", json!({"at": t}))["escalations"].clone();
    let e = at(&mut s, T0 + 60.0);
    assert_eq!(e[0]["alert_id"], id);
    assert_eq!(e[0]["level"], 1);
    assert_eq!(e[0]["notify"], json!(["oncall"]));
    assert_eq!(e[0]["next_level_in_seconds"], 840.0);
    let e = at(&mut s, T0 + 1000.0);
    assert_eq!(e[0]["notify"], json!(["team-lead"]));
    assert_eq!(e[0]["notified_so_far"], json!(["oncall", "team-lead"]));
    let e = at(&mut s, T0 + 4000.0);
    assert_eq!(e[0]["level"], 3);
    assert!(e[0].get("next_level_in_seconds").is_none());
    // Acknowledged alerts stop escalating.
    s.call_ok(
        "acknowledge_alert",
        json!({"alert_id": id, "user": "oncall", "at": T0 + 4001.0}),
    );
    assert_eq!(at(&mut s, T0 + 5000.0), json!([]));
    let err = s.call_err(
        "set_escalation_policy",
        json!({"severity": "critical", "levels": [{"after_seconds": -1, "notify": ["x"]}]}),
    );
    assert!(err.contains("levels[0].after_seconds"), "{err}");
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let err = s.call_err(
        "set_escalation_policy",
        json!({"severity": "critical", "levels": [{"after_seconds": 0, "notify": many}]}),
    );
    assert!(
        err.contains("levels[0].notify") && err.contains("1 to 20"),
        "{err}"
    );

    // The answer is bounded: the highest priorities up to `limit`, and the
    // total (100,000 firing alerts once made a 20 GB answer).
    let points: Vec<Value> = (0..30)
        .map(|i| json!({"metric_name": "up", "value": 0, "timestamp": T0 + 6000.0, "source": format!("s{i}")}))
        .collect();
    s.call_ok("check_metrics", json!({"points": points}));
    let r = s.call_ok("escalations", json!({"at": T0 + 6060.0, "limit": 10}));
    assert_eq!(r["total"], 30);
    let e = r["escalations"].as_array().unwrap();
    assert_eq!(e.len(), 10);
    let p: Vec<f64> = e.iter().map(|x| x["priority"].as_f64().unwrap()).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");
    let err = s.call_err("escalations", json!({"limit": 501}));
    assert!(err.contains("`limit`"), "{err}");
}

#[test]
fn silences_mute_matching_alerts_until_they_expire_and_criticals_inhibit_warnings() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "cpu", "metric_name": "cpu", "condition": "value > 90", "severity": "warning"}),
    );
    let sil = s.call_ok(
        "silence_alerts",
        json!({"matchers": [{"label": "source", "op": "=~", "value": "web-.*"}, {"label": "env", "op": "!=", "value": "prod"}],
               "duration_seconds": 3600, "created_by": "ana", "comment": "load test", "starts_at": T0}),
    );
    let sid = sil["silence_id"].as_str().unwrap().to_string();
    let muted = point(
        &mut s,
        "cpu",
        99.0,
        T0 + 10.0,
        "web-1",
        json!({"env": "staging"}),
    );
    assert!(
        muted["suppressed"]["reason"]
            .as_str()
            .unwrap()
            .contains(&sid),
        "{muted}"
    );
    assert_eq!(muted["alerts"][0]["status"], "silenced");
    // Not matched: prod, or another source.
    let prod = point(
        &mut s,
        "cpu",
        99.0,
        T0 + 20.0,
        "web-2",
        json!({"env": "prod"}),
    );
    assert_eq!(prod["alerts"][0]["status"], "firing");
    assert!(prod.get("suppressed").is_none());
    let active = s.call_ok("list_alerts", json!({}));
    assert_eq!(active["total"], 1);
    assert_eq!(
        s.call_ok("list_alerts", json!({"status": "silenced"}))["total"],
        1
    );
    // The silence ends at T0 + 3600: a repeat after that fires again.
    let after = point(
        &mut s,
        "cpu",
        99.0,
        T0 + 3700.0,
        "web-3",
        json!({"env": "staging"}),
    );
    assert_eq!(after["alerts"][0]["status"], "firing");
    // expire_silence stops it at once.
    s.call_ok("expire_silence", json!({"silence_id": sid}));
    let again = point(
        &mut s,
        "cpu",
        99.0,
        T0 + 30.0,
        "web-1",
        json!({"env": "staging"}),
    );
    assert_eq!(again["alerts"][0]["status"], "firing");
    let err = s.call_err("expire_silence", json!({"silence_id": "s-404"}));
    assert!(err.contains("`silence_id`"), "{err}");
    let err = s.call_err("silence_alerts", json!({"matchers": [{"label": "a", "op": "=~", "value": "("}], "duration_seconds": 1, "created_by": "x", "comment": ""}));
    assert!(err.contains("matchers[0].value"), "{err}");

    // Inhibition: a firing critical on db-1 mutes warnings of db-1, not of db-2.
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "db-down", "metric_name": "db_up", "condition": "value < 1", "severity": "critical"}),
    );
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "db-slow", "metric_name": "db_latency", "condition": "value > 100", "severity": "warning"}),
    );
    let crit = point(&mut s, "db_up", 0.0, T0 + 100.0, "db-1", json!({}));
    let warn = point(&mut s, "db_latency", 500.0, T0 + 110.0, "db-1", json!({}));
    assert_eq!(warn["alerts"][0]["status"], "silenced");
    let reason = warn["suppressed"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("inhibited")
            && reason.contains(crit["alerts"][0]["alert_id"].as_str().unwrap()),
        "{reason}"
    );
    let other = point(&mut s, "db_latency", 500.0, T0 + 120.0, "db-2", json!({}));
    assert_eq!(other["alerts"][0]["status"], "firing");
}

fn noisy(i: usize) -> f64 {
    50.0 + ((i * 7919) % 11) as f64 * 0.5
}

#[test]
fn learned_threshold_warms_up_scores_every_point_and_flags_a_spike_per_label_set() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    let err = s.call_err(
        "add_dynamic_threshold",
        json!({"metric_name": "rps", "method": "magic"}),
    );
    assert!(
        err.contains("`method`") && err.contains("seasonal"),
        "{err}"
    );
    s.call_ok(
        "add_dynamic_threshold",
        json!({"metric_name": "rps", "method": "mad", "window_size": 50, "min_samples": 20, "direction": "up", "severity": "error"}),
    );
    let points: Vec<Value> = (0..60)
        .map(|i| json!({"metric_name": "rps", "value": noisy(i), "timestamp": T0 + 60.0 * i as f64, "source": "api", "labels": {"region": "eu"}}))
        .collect();
    let batch = s.call_ok("check_metrics", json!({"points": points}));
    let results = batch["results"].as_array().unwrap();
    assert_eq!(results.len(), 60);
    assert!(
        results
            .iter()
            .all(|r| r["anomaly_score"].as_f64().unwrap() < 0.5),
        "{batch}"
    );
    assert_eq!(batch["alerts"], json!([]));

    // A spike in eu alerts; the same value is merely the first point of us (warming up).
    let spike = point(
        &mut s,
        "rps",
        90.0,
        T0 + 3600.0,
        "api",
        json!({"region": "eu"}),
    );
    assert!(spike["anomaly_score"].as_f64().unwrap() > 0.9, "{spike}");
    assert_eq!(spike["alerts"][0]["rule_id"], "dynamic:rps");
    assert_eq!(spike["alerts"][0]["severity"], "error");
    let upper = spike["thresholds"]["upper"].as_f64().unwrap();
    assert!(upper > 50.0 && upper < 90.0, "{spike}");
    assert!(
        spike["thresholds"]["lower"].is_null(),
        "direction up has no lower bound"
    );
    let us = point(
        &mut s,
        "rps",
        90.0,
        T0 + 3600.0,
        "api",
        json!({"region": "us"}),
    );
    assert_eq!(us["anomaly_score"], 0.0);
    assert_eq!(us["alerts"], json!([]));
    // Down is not watched.
    let dip = point(
        &mut s,
        "rps",
        0.0,
        T0 + 3660.0,
        "api",
        json!({"region": "eu"}),
    );
    assert_eq!(dip["anomaly_score"], 0.0);

    let rules = s.call_ok("list_alert_rules", json!({}));
    assert_eq!(rules["dynamic_thresholds"][0]["method"], "mad");
    assert_eq!(rules["dynamic_thresholds"][0]["samples_seen"], 63);
}

#[test]
fn a_value_too_large_to_learn_from_is_refused_and_the_baseline_keeps_working() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_dynamic_threshold",
        json!({"metric_name": "m", "method": "daily", "window_size": 10, "min_samples": 5}),
    );
    let points: Vec<Value> = (0..40)
        .map(|i| json!({"metric_name": "m", "value": noisy(i), "timestamp": T0 + 60.0 * i as f64}))
        .collect();
    s.call_ok("check_metrics", json!({"points": points}));
    // 1e200 once blinded auto and ewma for good (their variance became
    // infinite, then NaN), and the NaN baseline was dropped at restart.
    let err = s.call_err(
        "check_metric",
        json!({"metric_name": "m", "value": 1e200, "timestamp": T0 + 2400.0}),
    );
    assert!(err.contains("`value`") && err.contains("1e100"), "{err}");
    let err = s.call_err(
        "check_metrics",
        json!({"points": [{"metric_name": "m", "value": 50.0}, {"metric_name": "m", "value": -1e101}]}),
    );
    assert!(
        err.contains("points[1].value") && err.contains("1e100"),
        "{err}"
    );
    let spike = point(&mut s, "m", 5000.0, T0 + 2460.0, "", json!({}));
    assert_eq!(spike["alerts"].as_array().map(Vec::len), Some(1), "{spike}");
    assert!(
        spike["thresholds"]["upper"]
            .as_f64()
            .is_some_and(|u| u < 200.0),
        "{spike}"
    );
}

#[test]
fn absurd_sizes_and_durations_are_refused_naming_the_field() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    // A 10 KB template of {labels.x} with a 100 KB label once rendered a
    // 100 MB title; a silence of 1e17 seconds ended at a 300-digit "time".
    let cases = [
        (
            "add_alert_rule",
            json!({"rule_id": "r", "metric_name": "m", "condition": "value > 1", "severity": "info",
                   "title_template": "{labels.x}".repeat(1000)}),
            "`title_template`",
            "at most 2048 characters",
        ),
        (
            "check_metric",
            json!({"metric_name": "m", "value": 1, "labels": {"x": "y".repeat(100_000)}}),
            "`labels`",
            "at most 1024 bytes",
        ),
        (
            "check_metrics",
            json!({"points": [{"metric_name": "m", "value": 1, "labels": {"x": "y".repeat(2000)}}]}),
            "points[0].labels",
            "at most 1024 bytes",
        ),
        (
            "silence_alerts",
            json!({"matchers": [{"label": "env", "op": "=", "value": "x"}], "duration_seconds": 1e17,
                   "created_by": "ops", "comment": "c"}),
            "`duration_seconds`",
            "100 years",
        ),
        (
            "silence_alerts",
            json!({"matchers": [{"label": "env", "op": "=", "value": "x"}], "duration_seconds": 1e-300,
                   "created_by": "ops", "comment": "c"}),
            "`duration_seconds`",
            "from 1 to",
        ),
        (
            "silence_alerts",
            json!({"matchers": vec![json!({"label": "env", "op": "=", "value": "x"}); 65],
                   "duration_seconds": 60, "created_by": "ops", "comment": "c"}),
            "`matchers`",
            "at most 64",
        ),
        (
            "set_escalation_policy",
            json!({"severity": "critical", "levels": [{"after_seconds": 1e308, "notify": ["a"]}]}),
            "levels[0].after_seconds",
            "100 years",
        ),
        (
            "configure_alerting",
            json!({"dedup_window_seconds": 1e308}),
            "`dedup_window_seconds`",
            "100 years",
        ),
    ];
    for (tool, args, field, what) in cases {
        let err = s.call_err(tool, args);
        assert!(err.contains(field) && err.contains(what), "{tool}: {err}");
    }
    let many: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("l{i}"), json!("v".repeat(1000))))
        .collect();
    let err = s.call_err(
        "check_metric",
        json!({"metric_name": "m", "value": 1, "labels": many}),
    );
    assert!(
        err.contains("`labels`") && err.contains("at most 4096"),
        "{err}"
    );
    assert_eq!(s.call_ok("list_alert_rules", json!({}))["rules"], json!([]));
    let stats = s.call_ok("alert_stats", json!({}));
    assert_eq!(
        (
            stats["points_checked"].clone(),
            stats["active_silences"].clone()
        ),
        (json!(0), json!(0)),
        "{stats}"
    );
}

#[test]
fn answers_stay_bounded_when_titles_or_alert_counts_grow() {
    let tmp = temp_dir();
    // The count cap, apart from the token bound (tests/result_bounds.rs).
    let mut s = Server::started(
        &tmp.path().join("d"),
        &["--toolsets", "alerting", "--max-answer-tokens", "0"],
    );
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "r", "metric_name": "m", "condition": "value > 0", "severity": "warning",
               "title_template": "{labels.x}".repeat(200)}),
    );
    let r = s.call_ok(
        "check_metric",
        json!({"metric_name": "m", "value": 1, "timestamp": T0, "labels": {"x": "y".repeat(1000)}}),
    );
    let title = r["alerts"][0]["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 512, "{title}");
    assert!(title.ends_with('…'));
    // 1,100 new alerts in one call: the answer shows the 1,000 of highest
    // priority and counts the rest; every point still names its alert.
    let points: Vec<Value> = (0..1100)
        .map(|i| json!({"metric_name": "m", "value": 1 + i, "timestamp": T0 + 1.0, "source": format!("s{i}")}))
        .collect();
    let r = s.call_ok("check_metrics", json!({"points": points}));
    assert_eq!(r["alerts"].as_array().unwrap().len(), 1000);
    assert_eq!(r["alerts_omitted"], 100);
    let results = r["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .all(|p| p["alert_ids"].as_array().unwrap().len() == 1)
    );
}

#[test]
fn check_metrics_rejects_bad_points_by_index_and_ignores_unwatched_metrics() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "t", "metric_name": "temp", "condition": "value > 30", "severity": "info"}),
    );
    let err = s.call_err("check_metrics", json!({"points": [{"metric_name": "temp", "value": 1}, {"metric_name": "temp", "value": 1, "timestamp": "yesterday"}]}));
    assert!(err.contains("points[1].timestamp"), "{err}");
    let err = s.call_err(
        "check_metrics",
        json!({"points": [{"metric_name": "temp", "value": 1, "colour": "red"}]}),
    );
    assert!(err.contains("colour"), "{err}");
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"metric_name": "x", "value": 1}))
        .collect();
    let err = s.call_err("check_metrics", json!({"points": many}));
    assert!(err.contains("`points`") && err.contains("10000"), "{err}");
    let r = s.call_ok(
        "check_metrics",
        json!({"points": [
            {"metric_name": "humidity", "value": 99},
            {"metric_name": "temp", "value": 31, "timestamp": "2026-01-05T10:00:00Z"},
            {"metric_name": "temp", "value": 35, "timestamp": "2026-01-05T10:01:00+00:00"}
        ]}),
    );
    assert_eq!(r["results"][0]["alert_ids"], json!([]));
    assert_eq!(r["results"][1]["alert_ids"], r["results"][2]["alert_ids"]);
    assert_eq!(r["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(r["alerts"][0]["count"], 2);
    assert_eq!(r["alerts"][0]["last_value"], 35.0);
}

/// The text block of a tool result: exactly one, and never a JSON copy.
fn summary_text(result: &Value) -> String {
    let content = result["content"].as_array().expect("content blocks");
    assert_eq!(content.len(), 1, "{result}");
    let text = content[0]["text"]
        .as_str()
        .expect("a text block")
        .to_string();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "the text is a summary, not a JSON copy: {text}"
    );
    text
}

#[test]
fn check_results_carry_a_one_line_summary_beside_the_structured_content() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 30", "severity": "critical",
               "title_template": "{metric} at {value}"}),
    );
    let points: Vec<Value> = [20.0, 31.0, 35.0, 25.0, 40.0]
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"metric_name": "temp", "value": v, "timestamp": T0 + 60.0 * i as f64}))
        .collect();
    let batch = s.call_tool("check_metrics", json!({"points": points}));
    let out = &batch["structuredContent"];
    assert_eq!(out["results"].as_array().unwrap().len(), 5);
    let first = out["alerts"][0]["alert_id"].as_str().unwrap().to_string();
    let second = out["alerts"][1]["alert_id"].as_str().unwrap().to_string();
    // 31 and 35 fold into one alert, 25 resolves it, 40 opens a second one.
    let text = summary_text(&batch);
    assert!(
        text.starts_with("5 points checked (3 with an alert): 2 new alerts, 0 updated; "),
        "{text}"
    );
    assert!(
        text.contains(&format!("{second} [critical firing")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{first} [critical resolved")),
        "{text}"
    );
    assert!(text.contains("x2] temp at 31"), "{text}");

    // A repeat in a later call updates the open alert.
    let again = s.call_tool(
        "check_metrics",
        json!({"points": [{"metric_name": "temp", "value": 41, "timestamp": T0 + 300.0}]}),
    );
    let text = summary_text(&again);
    assert!(
        text.starts_with("1 point checked (1 with an alert): 0 new alerts, 1 updated; "),
        "{text}"
    );

    let one = s.call_tool(
        "check_metric",
        json!({"metric_name": "temp", "value": 12, "timestamp": T0 + 900.0}),
    );
    let text = summary_text(&one);
    assert!(text.contains("no alert"), "{text}");
    assert!(text.contains("thresholds none..30"), "{text}");

    let stats = s.call_tool("alert_stats", json!({}));
    let text = summary_text(&stats);
    assert!(
        text.starts_with("7 points checked, 2 alerts created, 2 deduplicated"),
        "{text}"
    );
}

#[test]
fn a_for_seconds_clock_started_before_a_kill_keeps_running_after_restart() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "lat", "metric_name": "latency", "condition": "value > 500",
               "for_seconds": 120, "severity": "error"}),
    );
    // Quiet points first (nothing to remember), then the condition starts holding.
    for i in 0..3 {
        point(
            &mut s,
            "latency",
            100.0,
            T0 + 10.0 * i as f64,
            "api",
            json!({}),
        );
    }
    let mut points: Vec<Value> = (0..5)
        .map(|i| json!({"metric_name": "latency", "value": 100.0, "timestamp": T0 + 30.0 + i as f64, "source": "api"}))
        .collect();
    points.push(
        json!({"metric_name": "latency", "value": 600.0, "timestamp": T0 + 60.0, "source": "api"}),
    );
    let out = s.call_ok("check_metrics", json!({"points": points}));
    assert_eq!(out["alerts"], json!([]));
    let mut s = killed_and_restarted(s, &data);
    // Still above at +150: not yet 120 s since +60.
    assert_eq!(
        point(&mut s, "latency", 650.0, T0 + 150.0, "api", json!({}))["alerts"],
        json!([])
    );
    // At +180 the condition has held 120 s, counted from before the restart.
    let fired = point(&mut s, "latency", 700.0, T0 + 180.0, "api", json!({}));
    assert_eq!(fired["alerts"][0]["rule_id"], "lat", "{fired}");
    assert_eq!(fired["alerts"][0]["started_at"], "2026-01-05T10:03:00.000Z");
    assert!(s.close().success());
}

#[test]
fn a_restarted_server_keeps_rules_baselines_alerts_silences_and_policies() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    s.call_ok(
        "add_dynamic_threshold",
        json!({"metric_name": "rps", "method": "zscore", "window_size": 40, "min_samples": 30}),
    );
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 30", "severity": "warning"}),
    );
    s.call_ok(
        "set_escalation_policy",
        json!({"severity": "warning", "levels": [{"after_seconds": 0, "notify": ["ops"]}]}),
    );
    s.call_ok("silence_alerts", json!({"matchers": [{"label": "source", "op": "=", "value": "lab"}], "duration_seconds": 86400, "created_by": "x", "comment": "lab", "starts_at": T0}));
    let points: Vec<Value> = (0..40)
        .map(
            |i| json!({"metric_name": "rps", "value": noisy(i), "timestamp": T0 + 60.0 * i as f64}),
        )
        .collect();
    s.call_ok("check_metrics", json!({"points": points}));
    let fired = point(&mut s, "temp", 35.0, T0, "kiln", json!({}));
    let id = fired["alerts"][0]["alert_id"].clone();
    // kill -9: nothing is flushed on the way out.
    let mut s = killed_and_restarted(s, &data);
    let rules = s.call_ok("list_alert_rules", json!({}));
    assert_eq!(rules["rules"][0]["rule_id"], "hot");
    assert_eq!(rules["dynamic_thresholds"][0]["samples_seen"], 40);
    // The learned baseline is still there: the very next spike alerts without a new warm-up.
    let spike = point(&mut s, "rps", 500.0, T0 + 2400.0, "", json!({}));
    assert!(spike["anomaly_score"].as_f64().unwrap() > 0.9, "{spike}");
    assert_eq!(spike["alerts"][0]["rule_id"], "dynamic:rps");
    // The open alert is deduplicated against, not recreated.
    let again = point(&mut s, "temp", 36.0, T0 + 60.0, "kiln", json!({}));
    assert_eq!(again["alerts"][0]["alert_id"], id);
    assert_eq!(again["alerts"][0]["count"], 2);
    // Silences and policies too.
    let lab = point(&mut s, "temp", 40.0, T0 + 60.0, "lab", json!({}));
    assert_eq!(lab["alerts"][0]["status"], "silenced");
    let esc = s.call_ok("escalations", json!({"at": T0 + 120.0}));
    assert!(
        esc["escalations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["alert_id"] == id)
    );
    let stats = s.call_ok("alert_stats", json!({}));
    assert_eq!(stats["points_checked"], 40 + 1 + 1 + 1 + 1);
    // New ids continue after the old ones.
    let ids: Vec<String> = s.call_ok("list_alerts", json!({"status": "silenced"}))["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&id.as_str().unwrap().to_string()));
    assert!(s.close().success());
}

#[test]
fn a_daily_job_alerts_on_its_first_day_only_and_a_new_spike_still_alerts() {
    // Five-minute points of a quiet metric (about 10) with a nightly
    // backup: a spike near 60 at about 03:00, a few minutes earlier or
    // later each night. Night one is news; nights two and three are what
    // yesterday already had. A spike at 14:00, never seen before, is news.
    let midnight = T0 - T0 % 86_400.0;
    let backup = |day: usize| 36 + [0, 1, -1][day % 3] as i64; // slot of 03:00 +- 5 min
    let value = |i: usize| {
        let (day, slot) = (i / 288, (i % 288) as i64);
        if slot == backup(day) {
            58.0 + day as f64
        } else if day == 2 && slot == 168 {
            60.0
        } else {
            10.0 + ((i * 7919) % 5) as f64 * 0.2
        }
    };
    let points: Vec<Value> = (0..3 * 288)
        .map(|i| json!({"metric_name": "disk.io", "value": value(i), "timestamp": midnight + 300.0 * i as f64}))
        .collect();
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    s.call_ok(
        "add_dynamic_threshold",
        json!({"metric_name": "disk.io", "method": "daily", "min_samples": 30}),
    );
    let out = s.call_ok("check_metrics", json!({"points": points}));
    let results = out["results"].as_array().unwrap();
    let alerted = |i: usize| !results[i]["alert_ids"].as_array().unwrap().is_empty();
    let at = |day: usize, slot: i64| day * 288 + slot as usize;
    assert!(alerted(at(0, backup(0))), "night one");
    for day in 1..3 {
        let i = at(day, backup(day));
        assert!(
            !alerted(i) && results[i]["anomaly_score"].as_f64().unwrap() < 0.5,
            "night {}: {}",
            day + 1,
            results[i]
        );
    }
    assert!(
        alerted(at(2, 168)),
        "the 14:00 spike: {}",
        results[at(2, 168)]
    );
    assert!(s.close().success());
}

#[test]
fn a_daily_series_profile_survives_a_restart() {
    // Five-minute points of a daily cycle, two days of them, then a third
    // day that includes the day's mean at the hour of the trough: normal for
    // the level, far from the same time yesterday. A server killed and
    // restarted after the two days must score the third day exactly as one
    // that ran through; without its daily profile it cannot.
    let cycle = |i: usize| {
        let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
        100.0 + 50.0 * phase.sin() + ((i * 7919) % 7) as f64 * 0.3
    };
    let pts = |range: std::ops::Range<usize>| -> Vec<Value> {
        range
            .map(|i| {
                let v = if i == 2 * 288 + 216 { 100.0 } else { cycle(i) };
                json!({"metric_name": "load", "value": v, "timestamp": T0 + 300.0 * i as f64})
            })
            .collect()
    };
    let tmp = temp_dir();
    let mut servers: Vec<(std::path::PathBuf, Server)> = ["through", "restarted"]
        .iter()
        .map(|n| {
            let data = tmp.path().join(n);
            let mut s = start(&data);
            s.call_ok(
                "add_dynamic_threshold",
                json!({"metric_name": "load", "method": "daily", "window_size": 30, "min_samples": 30}),
            );
            s.call_ok("check_metrics", json!({"points": pts(0..2 * 288)}));
            (data, s)
        })
        .collect();
    let (data, restarted) = servers.pop().unwrap();
    let mut restarted = killed_and_restarted(restarted, &data);
    let (_, mut through) = servers.pop().unwrap();
    let scores = |s: &mut Server| -> Vec<f64> {
        s.call_ok("check_metrics", json!({"points": pts(2 * 288..3 * 288)}))["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["anomaly_score"].as_f64().unwrap())
            .collect()
    };
    let (a, b) = (scores(&mut through), scores(&mut restarted));
    assert!(
        a[216] > 0.9,
        "the mean at the trough is anomalous: {}",
        a[216]
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() < 1e-9,
            "point {i}: {x} without restart, {y} after"
        );
    }
}

#[test]
fn tools_are_listed_with_output_schemas_and_honest_annotations() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    let list = s.request_ok("tools/list", json!({}));
    let tools = list["tools"].as_array().unwrap();
    let get = |n: &str| {
        tools
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n} listed"))
    };
    for n in [
        "add_alert_rule",
        "add_dynamic_threshold",
        "remove_alert_rule",
        "list_alert_rules",
        "check_metric",
        "check_metrics",
        "list_alerts",
        "acknowledge_alert",
        "resolve_alert",
        "set_escalation_policy",
        "escalations",
        "silence_alerts",
        "expire_silence",
        "alert_stats",
    ] {
        let t = get(n);
        assert_eq!(t["outputSchema"]["type"], "object", "{n}");
        // No anyOf around a $ref (an Option<Struct>, an untagged enum) and
        // none at the top: some clients drop such tools. An anyOf of plain
        // types (a timestamp given as text or a number) is portable.
        assert!(
            !anyof_with_ref(&t["inputSchema"]),
            "{n}: {}",
            t["inputSchema"]
        );
        assert!(t["inputSchema"].get("anyOf").is_none(), "{n}");
    }
    assert_eq!(get("list_alerts")["annotations"]["readOnlyHint"], true);
    assert_eq!(get("escalations")["annotations"]["readOnlyHint"], true);
    assert_eq!(
        get("remove_alert_rule")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(get("check_metric")["annotations"]["readOnlyHint"], false);
    // Misspelt argument is named.
    let err = s.call_err("check_metric", json!({"metric": "x", "value": 1}));
    assert!(err.contains("metric"), "{err}");
}

#[test]
fn new_alerts_and_resolutions_are_published_on_system_alerts_once() {
    let tmp = temp_dir();
    // Both toolsets: alerting publishes, events delivers.
    let mut s = Server::started(&tmp.path().join("d"), &["--toolsets", "alerting,events"]);
    let sub = s.call_ok(
        "subscribe",
        json!({"name": "pager", "topics": ["system.alerts"], "start": "earliest"}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "lag", "metric_name": "ingest_lag_s", "condition": "value > 60",
               "severity": "critical"}),
    );
    let first = point(&mut s, "ingest_lag_s", 90.0, T0, "nba-feed", json!({}));
    let alert_id = first["alerts"][0]["alert_id"].as_str().unwrap().to_string();
    // A repeat inside the dedup window updates the alert: no second event.
    point(
        &mut s,
        "ingest_lag_s",
        95.0,
        T0 + 10.0,
        "nba-feed",
        json!({}),
    );
    s.call_ok(
        "resolve_alert",
        json!({"alert_id": alert_id, "user": "oncall", "note": "feed restarted"}),
    );

    let polled = s.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "max": 10, "wait_ms": 5000}),
    );
    let mut events = polled["events"].as_array().unwrap().clone();
    if events.len() < 2 {
        let more = s.call_ok(
            "poll_events",
            json!({"subscription_id": sub, "wait_ms": 5000}),
        );
        events.extend(more["events"].as_array().unwrap().iter().cloned());
    }
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.len(),
        2,
        "exactly one triggered and one resolved event: {events:?}"
    );
    assert!(types.contains(&"system.alert.triggered"), "{types:?}");
    assert!(types.contains(&"system.alert.resolved"), "{types:?}");
    for e in &events {
        assert_eq!(e["topic"], "system.alerts");
        assert_eq!(e["source"], "alerting");
        assert_eq!(e["priority"], "critical");
        assert_eq!(e["payload"]["alert_id"], alert_id.as_str());
        assert_eq!(e["payload"]["rule_id"], "lag");
        assert_eq!(e["payload"]["source"], "nba-feed");
    }
}

#[test]
fn a_second_process_on_the_data_dir_refuses_alerting_instead_of_overwriting_it() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut owner = start(&data);
    owner.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 30", "severity": "warning"}),
    );
    let mut second = start(&data);
    let err = second.call_err("list_alert_rules", json!({}));
    assert!(
        err.contains("owned by another smart-systems-mcp process"),
        "{err}"
    );
    assert!(err.contains(&format!("pid {}", owner.pid())), "{err}");
    let err = second.call_err(
        "add_alert_rule",
        json!({"rule_id": "cold", "metric_name": "temp", "condition": "value < 0", "severity": "warning"}),
    );
    // What to change to get an alerting engine of one's own.
    let flag = if common::store_backend() == "postgres" {
        "--namespace"
    } else {
        "--data-dir"
    };
    assert!(err.contains(flag), "{err}");
    // The owner is unaffected and keeps serving.
    let fired = point(&mut owner, "temp", 35.0, T0, "arena", json!({}));
    assert_eq!(fired["alerts"].as_array().unwrap().len(), 1, "{fired}");
    drop(second);
    assert!(owner.close().success());
    // Once the owner is gone, the next process takes over with the state intact.
    let mut next = start(&data);
    let rules = next.call_ok("list_alert_rules", json!({}));
    assert!(rules.to_string().contains("\"hot\""), "{rules}");
    assert!(!rules.to_string().contains("\"cold\""), "{rules}");
}

/// A server with the rule `hot` (temp > 30) and a connection of our own to
/// its SQLite store file; `None` on PostgreSQL, where alerting is not in it.
fn hot_rule_and_the_store_file() -> Option<(
    tempfile::TempDir,
    std::path::PathBuf,
    Server,
    rusqlite::Connection,
)> {
    if common::store_backend() == "postgres" {
        return None;
    }
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 30", "severity": "warning"}),
    );
    let db = rusqlite::Connection::open(data.join("smart-systems.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    Some((tmp, data, s, db))
}

#[test]
fn alerting_calls_waiting_for_the_store_write_lock_do_not_stall_the_server() {
    // Another connection (another process's writer, say) holds the store's
    // write lock. Alerting calls that must write wait for it, in blocking
    // mode: more of them than the server has worker threads must not keep
    // it from answering anything else, and none may fail or lose its write.
    let Some((_tmp, _, mut s, other)) = hot_rule_and_the_store_file() else {
        return;
    };
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let waiting: Vec<u64> = (0..4)
        .map(|i| {
            let id = s.next_id();
            s.send(
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "check_metric",
                "arguments": {"metric_name": "temp", "value": 40 + i, "timestamp": T0 + i as f64,
                              "source": format!("kiln-{i}")}}}),
            );
            id
        })
        .collect();
    let started = Instant::now();
    let info = s.call_ok("server_info", json!({}));
    assert!(info["pid"].is_number(), "{info}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "server_info waited {:?} behind the alerting calls",
        started.elapsed()
    );
    assert!(
        s.backlog.iter().all(|m| m.get("result").is_none()),
        "no alerting call could have written yet: {:?}",
        s.backlog
    );
    other.execute_batch("COMMIT").unwrap();
    for id in waiting {
        let r = s.wait_for_id(&json!(id));
        assert_ne!(r["result"]["isError"], json!(true), "{r}");
        assert_eq!(
            r["result"]["structuredContent"]["alerts"][0]["rule_id"], "hot",
            "{r}"
        );
    }
    assert_eq!(
        s.call_ok("list_alerts", json!({}))["alerts"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert!(s.close().success());
}

/// Makes the store refuse alert rows while the table `test_refuse` has a
/// row (as a full disk or a broken file would refuse every write), sends a
/// point that raises an alert, and returns the call's error.
fn refused_first_point(s: &mut Server, db: &rusqlite::Connection) -> String {
    db.execute_batch(
        "CREATE TABLE test_refuse(x INTEGER);
         CREATE TRIGGER test_refuse_alerts BEFORE INSERT ON alerting_alerts
         WHEN EXISTS (SELECT 1 FROM test_refuse)
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
         INSERT INTO test_refuse VALUES (1);",
    )
    .unwrap();
    s.call_err(
        "check_metric",
        json!({"metric_name": "temp", "value": 35, "timestamp": T0, "source": "kiln-1"}),
    )
}

#[test]
fn a_change_the_store_refused_is_written_when_the_server_stops() {
    let Some((_tmp, data, mut s, db)) = hot_rule_and_the_store_file() else {
        return;
    };
    let err = refused_first_point(&mut s, &db);
    assert!(err.contains("refused by the test"), "{err}");
    // The store recovers, and the client goes away before another call.
    db.execute_batch("DELETE FROM test_refuse").unwrap();
    assert!(s.close().success());

    let mut s = start(&data);
    let listed = s.call_ok("list_alerts", json!({}));
    let sources: Vec<&str> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["kiln-1"], "{listed}");
    assert!(s.close().success());
}

#[test]
fn a_change_the_store_refused_is_written_with_the_next_one_and_survives_a_kill() {
    let Some((_tmp, data, mut s, db)) = hot_rule_and_the_store_file() else {
        return;
    };
    let err = refused_first_point(&mut s, &db);
    assert!(
        err.contains("could not save alerting state") && err.contains("refused by the test"),
        "{err}"
    );
    assert!(err.contains("written with the next change"), "{err}");
    db.execute_batch("DELETE FROM test_refuse").unwrap();
    let second = point(&mut s, "temp", 36.0, T0 + 1.0, "kiln-2", json!({}));
    assert_eq!(second["alerts"][0]["rule_id"], "hot", "{second}");
    let mut s = killed_and_restarted(s, &data);
    let listed = s.call_ok("list_alerts", json!({}));
    let mut sources: Vec<&str> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    sources.sort_unstable();
    assert_eq!(sources, ["kiln-1", "kiln-2"], "{listed}");
    assert!(s.close().success());
}

/// Whether an `anyOf` anywhere in `schema` has a branch that is a `$ref`.
fn anyof_with_ref(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k == "anyOf"
                && v.as_array()
                    .is_some_and(|b| b.iter().any(|b| b.get("$ref").is_some())))
                || anyof_with_ref(v)
        }),
        Value::Array(items) => items.iter().any(anyof_with_ref),
        _ => false,
    }
}

#[test]
fn the_acting_person_is_user_id_in_every_tool_and_the_old_spellings_still_work() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    let listed = s.request_ok("tools/list", json!({}));
    let props = |name: &str| -> Vec<String> {
        let t = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        t["inputSchema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    for tool in ["acknowledge_alert", "resolve_alert", "silence_alerts"] {
        let p = props(tool);
        assert!(p.contains(&"user_id".to_string()), "{tool}: {p:?}");
        assert!(!p.contains(&"user".to_string()) && !p.contains(&"created_by".to_string()));
    }

    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "q", "metric_name": "queue", "condition": "value > 1000", "severity": "warning"}),
    );
    let fire = |s: &mut Server, ts: f64| -> String {
        let r = point(s, "queue", 5000.0, ts, "w", json!({}));
        r["alerts"][0]["alert_id"].as_str().unwrap().to_string()
    };
    // The new name...
    let id = fire(&mut s, T0);
    let acked = s.call_ok(
        "acknowledge_alert",
        json!({"alert_id": id, "user_id": "ana", "at": T0 + 1.0}),
    );
    assert_eq!(acked["alert"]["history"][1]["by"], "ana");
    let done = s.call_ok(
        "resolve_alert",
        json!({"alert_id": id, "user_id": "bo", "at": T0 + 2.0}),
    );
    assert_eq!(done["alert"]["history"][2]["by"], "bo");
    // ...and the old ones, as scripts written before still send them.
    let id = fire(&mut s, T0 + 1000.0);
    let acked = s.call_ok(
        "acknowledge_alert",
        json!({"alert_id": id, "user": "cy", "at": T0 + 1001.0}),
    );
    assert_eq!(acked["alert"]["history"][1]["by"], "cy");
    let done = s.call_ok(
        "resolve_alert",
        json!({"alert_id": id, "user": "di", "at": T0 + 1002.0}),
    );
    assert_eq!(done["alert"]["history"][2]["by"], "di");
    for who in [json!({"user_id": "ana"}), json!({"created_by": "ana"})] {
        let mut args = json!({"matchers": [{"label": "source", "op": "=", "value": "w"}],
                              "duration_seconds": 60, "comment": "deploy", "starts_at": T0});
        args.as_object_mut()
            .unwrap()
            .extend(who.as_object().unwrap().clone());
        let out = s.call_ok("silence_alerts", args);
        assert!(
            out["silence_id"].as_str().unwrap().starts_with("s-"),
            "{out}"
        );
    }
    // Missing or given twice: the error names the field.
    let err = s.call_err("acknowledge_alert", json!({"alert_id": "a-1"}));
    assert!(err.contains("user_id"), "{err}");
    let err = s.call_err(
        "acknowledge_alert",
        json!({"alert_id": "a-1", "user_id": "x", "user": "y"}),
    );
    assert!(err.contains("user_id"), "{err}");
}

/// Five-minute points of `metric`: a noisy daily cycle between about 20
/// and 80 with a level shift of +35 from point 2,500 to 2,560.
fn cycle_points(metric: &str, range: std::ops::Range<usize>) -> Vec<Value> {
    range
        .map(|i| {
            let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
            let shift = if (2500..2560).contains(&i) { 35.0 } else { 0.0 };
            let v = 50.0 + 20.0 * phase.sin() + ((i * 7919) % 11) as f64 * 0.5 + shift;
            json!({"metric_name": metric, "value": v, "timestamp": T0 + 300.0 * i as f64})
        })
        .collect()
}

#[test]
fn an_auto_series_restarted_halfway_scores_the_rest_as_one_uninterrupted_run() {
    // Two auto thresholds, one told its range. Each is fed 3,200 points in
    // calls of 100; one server is killed after 1,650 points (past the first
    // stored snapshot, mid-journal) and restarted on its data dir. Every
    // later score must equal the uninterrupted server's, bit for bit.
    let tmp = temp_dir();
    let feed = |s: &mut Server, range: std::ops::Range<usize>| -> Vec<String> {
        let mut scores = Vec::new();
        for start in range.step_by(100) {
            let mut points = cycle_points("cpu", start..start + 100);
            points.extend(cycle_points("lat", start..start + 100));
            let out = s.call_ok("check_metrics", json!({"points": points}));
            scores.extend(
                out["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["anomaly_score"].to_string()),
            );
        }
        scores
    };
    let mut runs = Vec::new();
    for restart in [false, true] {
        let data = tmp.path().join(format!("d{restart}"));
        let mut s = start(&data);
        s.call_ok(
            "add_dynamic_threshold",
            json!({"metric_name": "cpu", "value_range": {"min": 0, "max": 100}}),
        );
        let added = s.call_ok("add_dynamic_threshold", json!({"metric_name": "lat"}));
        assert_eq!(added["detector"]["method"], "auto");
        let mut scores = feed(&mut s, 0..1700);
        if restart {
            s = killed_and_restarted(s, &data);
            let rules = s.call_ok("list_alert_rules", json!({}));
            let cpu = &rules["dynamic_thresholds"][0];
            assert_eq!(cpu["value_range"], json!({"min": 0.0, "max": 100.0}));
            assert_eq!(cpu["samples_seen"], 1700);
        }
        scores.extend(feed(&mut s, 1700..3200));
        // The series rows count only to their last write (learning alone
        // goes to the journal): fewer points than that would be a loss.
        let stderr = s.stderr();
        assert!(!stderr.contains("fewer points"), "{stderr}");
        assert!(s.close().success());
        runs.push(scores);
    }
    let alerted: Vec<usize> = (0..runs[0].len())
        .filter(|&i| runs[0][i].parse::<f64>().unwrap() >= 0.5)
        .collect();
    // Results alternate cpu, lat within a call: point k of a call of 100
    // is result k (cpu) and 100 + k (lat).
    let point_of = |i: usize| (i / 200) * 100 + i % 100;
    assert!(
        alerted.iter().any(|&i| (2500..2560).contains(&point_of(i))),
        "the shift is found: {:?}",
        alerted.iter().map(|&i| point_of(i)).collect::<Vec<_>>()
    );
    assert_eq!(runs[0].len(), runs[1].len());
    for (i, (a, b)) in runs[0].iter().zip(&runs[1]).enumerate() {
        assert_eq!(a, b, "result {i} (point {})", point_of(i));
    }
}

#[test]
fn a_value_range_must_be_finite_and_ordered() {
    let tmp = temp_dir();
    let mut s = start(&tmp.path().join("d"));
    for (range, says) in [
        (json!({"min": 5, "max": 5}), "min must be below max"),
        (json!({"min": 0, "max": 1e200}), "finite"),
        (json!({"min": 1}), "max"),
    ] {
        let err = s.call_err(
            "add_dynamic_threshold",
            json!({"metric_name": "m", "value_range": range}),
        );
        assert!(err.contains("value_range") && err.contains(says), "{err}");
    }
}

#[test]
fn a_threshold_replaced_just_before_a_restart_starts_learning_afresh() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    s.call_ok("add_dynamic_threshold", json!({"metric_name": "cpu"}));
    s.call_ok(
        "check_metrics",
        json!({"points": cycle_points("cpu", 0..300)}),
    );
    let seen = |s: &mut Server| {
        let rules = s.call_ok("list_alert_rules", json!({}));
        rules["dynamic_thresholds"][0]["samples_seen"].clone()
    };
    assert_eq!(seen(&mut s), 300);
    s.call_ok(
        "add_dynamic_threshold",
        json!({"metric_name": "cpu", "value_range": {"min": 0, "max": 100}}),
    );
    assert_eq!(seen(&mut s), 0, "replaced: nothing learned yet");
    let mut s = killed_and_restarted(s, &data);
    assert_eq!(
        seen(&mut s),
        0,
        "the restart does not bring the old state back"
    );
    s.call_ok(
        "check_metrics",
        json!({"points": cycle_points("cpu", 300..310)}),
    );
    assert_eq!(seen(&mut s), 10);
}

/// Rows of `table` whose series key belongs to `metric`, read from the store
/// as an SQL client sees it (the data dir's SQLite file or the PostgreSQL
/// namespace).
fn learned_rows(data: &std::path::Path, table: &str, metric: &str) -> i64 {
    let prefix = format!("{metric}\u{1f}");
    let sql = |p: &str| {
        format!("SELECT COUNT(*) FROM {table} WHERE substr(series_key, 1, length({p})) = {p}")
    };
    if store_backend() == "postgres" {
        let url = std::env::var("SMART_SYSTEMS_TEST_STORE_URL").unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("SET search_path TO {}", namespace_for(data)))
            .unwrap();
        c.query_one(sql("$1::text").as_str(), &[&prefix])
            .unwrap()
            .get(0)
    } else {
        let c = rusqlite::Connection::open(data.join("smart-systems.db")).unwrap();
        c.query_row(&sql("?1"), [&prefix], |r| r.get(0)).unwrap()
    }
}

#[test]
fn a_removed_learned_threshold_leaves_nothing_it_learned_in_the_store() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    // "cpu" keeps a static rule (its series stays); "cpu2" shares the
    // prefix and keeps its threshold.
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "cpu-high", "metric_name": "cpu", "condition": "value > 1000", "severity": "warning"}),
    );
    for m in ["cpu", "cpu2"] {
        s.call_ok("add_dynamic_threshold", json!({"metric_name": m}));
        for r in [0..1100, 1100..1150] {
            s.call_ok("check_metrics", json!({"points": cycle_points(m, r)}));
        }
    }
    let tables = ["alerting_series_snapshot", "alerting_series_log"];
    for t in tables {
        assert!(learned_rows(&data, t, "cpu") > 0, "{t}: cpu learned");
        assert!(learned_rows(&data, t, "cpu2") > 0, "{t}: cpu2 learned");
    }
    s.call_ok("remove_alert_rule", json!({"rule_id": "dynamic:cpu"}));
    for t in tables {
        assert_eq!(learned_rows(&data, t, "cpu"), 0, "{t}: cpu forgotten");
        assert!(learned_rows(&data, t, "cpu2") > 0, "{t}: cpu2 kept");
    }
    // The rule still sees the series, and the state stays gone across more
    // points and a restart.
    s.call_ok(
        "check_metrics",
        json!({"points": cycle_points("cpu", 1100..1200)}),
    );
    let mut s = killed_and_restarted(s, &data);
    for t in tables {
        assert_eq!(
            learned_rows(&data, t, "cpu"),
            0,
            "{t}: after more points and a restart"
        );
    }
    let rules = s.call_ok("list_alert_rules", json!({}));
    assert_eq!(
        rules["dynamic_thresholds"].as_array().unwrap().len(),
        1,
        "{rules}"
    );
    assert_eq!(
        rules["dynamic_thresholds"][0]["metric_name"], "cpu2",
        "{rules}"
    );
    assert_eq!(
        rules["dynamic_thresholds"][0]["samples_seen"], 1150,
        "{rules}"
    );
}

#[test]
fn a_metric_left_with_no_rule_and_no_threshold_leaves_no_series_in_the_store() {
    let tmp = temp_dir();
    let data = tmp.path().join("d");
    let mut s = start(&data);
    for (rule, metric) in [("hot", "temp"), ("hot2", "temp2")] {
        s.call_ok(
            "add_alert_rule",
            json!({"rule_id": rule, "metric_name": metric, "condition": "value > 30", "severity": "warning"}),
        );
    }
    s.call_ok("add_dynamic_threshold", json!({"metric_name": "temp"}));
    for m in ["temp", "temp2"] {
        s.call_ok("check_metrics", json!({"points": cycle_points(m, 0..200)}));
    }
    let rows = |t: &str, m: &str| learned_rows(&data, t, m);
    assert!(rows("alerting_series", "temp") > 0);
    assert!(rows("alerting_series_log", "temp") > 0);
    // The rule goes; the threshold still watches the metric: rows stay.
    s.call_ok("remove_alert_rule", json!({"rule_id": "hot"}));
    assert!(rows("alerting_series", "temp") > 0, "still watched");
    // The threshold goes too: nothing watches "temp" any more.
    s.call_ok("remove_alert_rule", json!({"rule_id": "dynamic:temp"}));
    for t in [
        "alerting_series",
        "alerting_series_snapshot",
        "alerting_series_log",
    ] {
        assert_eq!(rows(t, "temp"), 0, "{t}");
    }
    assert!(
        rows("alerting_series", "temp2") > 0,
        "temp2 is still watched"
    );
    // A metric watched by one static rule: its removal forgets the series.
    s.call_ok("remove_alert_rule", json!({"rule_id": "hot2"}));
    assert_eq!(rows("alerting_series", "temp2"), 0, "temp2 unwatched");
    // A new rule on the metric starts it again, across a restart.
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 30", "severity": "warning"}),
    );
    s.call_ok(
        "check_metrics",
        json!({"points": cycle_points("temp", 200..210)}),
    );
    let mut s = killed_and_restarted(s, &data);
    let out = s.call_ok(
        "check_metrics",
        json!({"points": cycle_points("temp", 210..211)}),
    );
    assert_eq!(out["results"].as_array().unwrap().len(), 1, "{out}");
    assert!(
        rows("alerting_series", "temp") > 0,
        "the new rule's series is stored"
    );
}
