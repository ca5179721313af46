//! Bounds a client cannot push past, over stdio: free text has length
//! limits, errors quote at most a short prefix of what was sent, alerting
//! keeps a bounded number of alerts, and event counters tell the truth about
//! backlogs (pending counts, gaps left by retention, paged stats).

mod common;

use std::collections::HashSet;

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// 1 MiB of text.
fn mib() -> String {
    "x".repeat(1 << 20)
}

/// The text of a failed tool call (a tool error or rmcp's argument error).
fn error_text(s: &mut Server, tool: &str, args: Value) -> String {
    let r = s.call_tool(tool, args);
    assert_eq!(r["isError"], json!(true), "{tool} should fail");
    r["content"][0]["text"].as_str().unwrap().to_string()
}

#[test]
fn check_metric_refuses_a_1_mib_source_naming_the_field() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "cpu", "condition": "value > 80", "severity": "warning"}),
    );
    let e = error_text(
        &mut s,
        "check_metric",
        json!({"metric_name": "cpu", "value": 90, "source": mib()}),
    );
    assert!(e.contains("`source`") && e.contains("at most 200"), "{e}");
    assert!(e.len() < 1024, "{} bytes", e.len());
    let e = error_text(
        &mut s,
        "check_metrics",
        json!({"points": [{"metric_name": "cpu", "value": 90, "source": mib()}]}),
    );
    assert!(e.contains("`points[0].source`"), "{e}");
    assert!(e.len() < 1024, "{} bytes", e.len());
    let stats = s.call_ok("alert_stats", json!({}));
    assert_eq!(stats["alerts_created"], 0, "nothing stored: {stats}");
}

#[test]
fn a_1_mib_bad_alert_id_or_value_gets_a_short_error() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    for tool in ["acknowledge_alert", "resolve_alert"] {
        let e = error_text(&mut s, tool, json!({"alert_id": mib(), "user": "ann"}));
        assert!(e.contains("`alert_id`"), "{e}");
        assert!(e.len() < 1024, "{tool}: {} bytes", e.len());
    }
    // An unknown id short enough to pass is quoted whole.
    let e = error_text(
        &mut s,
        "acknowledge_alert",
        json!({"alert_id": "a-404", "user": "ann"}),
    );
    assert!(e.contains("`a-404`"), "{e}");
    // serde quotes a wrong-typed string: cut too.
    let e = error_text(
        &mut s,
        "check_metric",
        json!({"metric_name": "cpu", "value": mib()}),
    );
    assert!(e.contains("value"), "{e}");
    assert!(e.len() < 1024, "{} bytes", e.len());
    let e = error_text(&mut s, "expire_silence", json!({"silence_id": mib()}));
    assert!(e.contains("`silence_id`") && e.len() < 1024, "{e}");
}

#[test]
fn a_1_mib_docs_path_gets_a_short_error() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    std::fs::create_dir_all(&root).unwrap();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--root", root.to_str().unwrap()],
    );
    let long = format!("{}/{}", root.display(), mib());
    let e = error_text(&mut s, "generate_docs", json!({"path": long}));
    assert!(e.contains("`path`"), "{e}");
    assert!(e.len() < 1024, "{} bytes", e.len());
    let e = error_text(
        &mut s,
        "generate_diagram",
        json!({"kind": "module_graph", "path": long}),
    );
    assert!(e.contains("`path`") && e.len() < 1024, "{e}");
}

fn check(s: &mut Server, source: &str, value: f64) -> Value {
    s.call_ok(
        "check_metric",
        json!({"metric_name": "cpu", "value": value, "source": source}),
    )
}

#[test]
fn the_open_alert_cap_holds_and_resolved_alerts_age_out() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let flags = ["--max-open-alerts", "3", "--max-resolved-alerts", "2"];
    let mut s = Server::started(&data, &flags);
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "cpu", "condition": "value > 80", "severity": "warning"}),
    );
    let mut ids = Vec::new();
    for h in 0..3 {
        let out = check(&mut s, &format!("h{h}"), 90.0);
        ids.push(out["alerts"][0]["alert_id"].as_str().unwrap().to_string());
    }
    // At the cap: no new alert, and the answer says why.
    let out = check(&mut s, "h3", 90.0);
    assert_eq!(out["alerts"], json!([]), "{out}");
    let why = out["alert_refused"].as_str().expect("alert_refused");
    assert!(why.contains("--max-open-alerts"), "{why}");
    // A repeat of an open alert still updates it.
    let out = check(&mut s, "h0", 95.0);
    assert_eq!(out["alerts"][0]["count"], 2, "{out}");
    let batch = s.call_ok(
        "check_metrics",
        json!({"points": [{"metric_name": "cpu", "value": 90, "source": "h4"},
                          {"metric_name": "cpu", "value": 90, "source": "h5"}]}),
    );
    assert_eq!(batch["alerts_refused"], 2, "{batch}");
    let stats = s.call_ok("alert_stats", json!({}));
    assert_eq!(
        (
            &stats["open_alerts"],
            &stats["max_open_alerts"],
            &stats["refused_at_cap"]
        ),
        (&json!(3), &json!(3), &json!(3)),
        "{stats}"
    );
    // Resolving makes room; only the newest 2 resolved alerts are kept.
    for id in &ids {
        s.call_ok("resolve_alert", json!({"alert_id": id, "user": "ann"}));
    }
    let resolved = s.call_ok("list_alerts", json!({"status": "resolved"}));
    assert_eq!(resolved["total"], 2, "{resolved}");
    let kept: Vec<&str> = resolved["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert!(!kept.contains(&ids[0].as_str()), "oldest evicted: {kept:?}");
    let out = check(&mut s, "h6", 90.0);
    assert_eq!(out["alerts"].as_array().unwrap().len(), 1, "{out}");
    s.close();
    // The eviction reached the store.
    let mut s = Server::started(&data, &flags);
    let resolved = s.call_ok("list_alerts", json!({"status": "resolved"}));
    assert_eq!(resolved["total"], 2, "{resolved}");
    let open = s.call_ok("alert_stats", json!({}));
    assert_eq!(open["open_alerts"], 1, "{open}");
}

fn publish_many(s: &mut Server, topic: &str, n: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"topic": topic, "event_type": "e", "payload": {"i": i}}))
        .collect();
    s.call_ok("publish_events", json!({ "events": events }));
}

fn sub_stats(s: &mut Server, id: &str) -> Value {
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut args = json!({});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let stats = s.call_ok("event_stats", args);
        if let Some(x) = stats["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["subscription_id"] == id)
        {
            return x.clone();
        }
        match stats["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    panic!("subscription {id} not in event_stats");
}

#[test]
fn event_stats_counts_matching_events_never_polled() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let out = s.call_ok(
        "subscribe",
        json!({"name": "games", "topics": ["nba.games.>"]}),
    );
    let id = out["subscription_id"].as_str().unwrap().to_string();
    publish_many(&mut s, "nba.games.1", 3000);
    publish_many(&mut s, "nba.players", 500);
    let st = sub_stats(&mut s, &id);
    assert_eq!(st["pending"], 3000, "{st}");
    assert_eq!(st["pending_at_least"], false, "{st}");
    let polled = s.call_ok("poll_events", json!({"subscription_id": id, "max": 100}));
    // As many as fit the answer bound, at most 100.
    let n = polled["events"].as_array().unwrap().len();
    assert!((1..=100).contains(&n), "{n}");
    let st = sub_stats(&mut s, &id);
    assert_eq!(st["pending"], 3000 - n, "{st}");
    assert_eq!(st["awaiting_ack"], n, "{st}");
}

#[test]
fn a_consumer_overtaken_by_retention_sees_what_it_skipped() {
    let tmp = temp_dir();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--events-retention", "nba.live.> max_events=100"],
    );
    let live = s.call_ok(
        "subscribe",
        json!({"name": "live", "topics": ["nba.live.>"]}),
    );
    let live = live["subscription_id"].as_str().unwrap().to_string();
    let other = s.call_ok(
        "subscribe",
        json!({"name": "players", "topics": ["nba.players"]}),
    );
    let other = other["subscription_id"].as_str().unwrap().to_string();
    for _ in 0..5 {
        publish_many(&mut s, "nba.live.1", 100);
        publish_many(&mut s, "nba.players", 1);
    }
    // 505 published: the first 400 live events are gone (sequences 1-100,
    // 102-201, 203-302, 304-403), interleaved with the players' 101, 202, ...
    let polled = s.call_ok("poll_events", json!({"subscription_id": live, "max": 10}));
    let skipped = &polled["skipped"];
    assert_eq!(skipped["first_sequence"], 1, "{polled}");
    assert!(
        skipped["last_sequence"].as_i64().unwrap() >= 403,
        "{skipped}"
    );
    assert!(skipped["count"].as_i64().unwrap() >= 400, "{skipped}");
    assert!(
        polled["events"][0]["sequence"].as_i64().unwrap() > 403,
        "{polled}"
    );
    let again = s.call_ok("poll_events", json!({"subscription_id": live, "max": 10}));
    assert!(again.get("skipped").is_none(), "reported once: {again}");
    // A topic retention did not touch shows no gap.
    let polled = s.call_ok("poll_events", json!({"subscription_id": other, "max": 10}));
    assert_eq!(polled["events"].as_array().unwrap().len(), 5, "{polled}");
    assert!(polled.get("skipped").is_none(), "{polled}");
}

#[test]
fn event_stats_pages_subscriptions() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let mut made = HashSet::new();
    for i in 0..120 {
        let out = s.call_ok(
            "subscribe",
            json!({"topics": [format!("nba.t{i}")], "name": format!("s{i}")}),
        );
        made.insert(out["subscription_id"].as_str().unwrap().to_string());
    }
    let first = s.call_ok("event_stats", json!({}));
    assert_eq!(first["subscriptions"].as_array().unwrap().len(), 100);
    assert_eq!(first["total_subscriptions"], 120);
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 50});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = s.call_ok("event_stats", args);
        let subs = page["subscriptions"].as_array().unwrap();
        assert!(subs.len() <= 50);
        for x in subs {
            assert!(seen.insert(x["subscription_id"].as_str().unwrap().to_string()));
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);
    let e = error_text(&mut s, "event_stats", json!({"limit": 0}));
    assert!(e.contains("`limit`"), "{e}");
}
