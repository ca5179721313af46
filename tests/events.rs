//! The events toolset as an agent meets it over stdio: publish, subscribe
//! with wildcards and filters, poll in priority order, ack, redelivery,
//! dead-lettering, consumer groups, durable subscriptions, replay, retention,
//! resource notifications, bad input, and two processes sharing a data dir.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Server, stateless_meta, temp_dir};
use serde_json::{Value, json};

fn publish(s: &mut Server, topic: &str, event_type: &str, extra: Value) -> Value {
    let mut args = json!({"topic": topic, "event_type": event_type});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            args[k] = v;
        }
    }
    s.call_ok("publish_event", args)
}

fn subscribe(s: &mut Server, args: Value) -> String {
    let out = s.call_ok("subscribe", args);
    out["subscription_id"]
        .as_str()
        .expect("subscription_id")
        .to_string()
}

fn poll(s: &mut Server, sub: &str, max: i64) -> Value {
    s.call_ok("poll_events", json!({"subscription_id": sub, "max": max}))
}

fn topics_of(polled: &Value) -> Vec<String> {
    polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["topic"].as_str().unwrap().to_string())
        .collect()
}

fn ids_of(polled: &Value) -> Vec<String> {
    polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn published_event_is_polled_with_all_fields_and_acked_once() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(&mut s, json!({"name": "all"}));
    let p = publish(
        &mut s,
        "nba.games.1234",
        "game.started",
        json!({"payload": {"home": "LAL"}, "source": "feed", "metadata": {"region": "us"}}),
    );
    assert_eq!(p["topic"], "nba.games.1234");
    let event_id = p["event_id"].as_str().unwrap().to_string();
    assert_eq!(&event_id[14..15], "7", "event ids are UUID v7: {event_id}");
    assert_eq!(
        p["correlation_id"], p["event_id"],
        "generated correlation id"
    );

    let polled = poll(&mut s, &sub, 10);
    let e = &polled["events"][0];
    assert_eq!(e["event_id"], event_id.as_str());
    assert_eq!(e["sequence"], p["sequence"]);
    assert_eq!(e["event_type"], "game.started");
    assert_eq!(e["payload"], json!({"home": "LAL"}));
    assert_eq!(e["priority"], "normal");
    assert_eq!(e["source"], "feed");
    assert_eq!(e["metadata"], json!({"region": "us"}));
    assert_eq!(e["delivery_count"], 1);
    assert!(
        chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).is_ok(),
        "{e}"
    );
    assert_eq!(polled["awaiting_ack"], 1);

    // The same id twice is one ack, not also "not pending".
    let acked = s.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [event_id.clone(), event_id.clone()]}),
    );
    assert_eq!(acked["acked"], 1);
    assert_eq!(acked["not_pending"], json!([]));
    let again = s.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [event_id.clone()]}),
    );
    assert_eq!(again["acked"], 0);
    assert_eq!(again["not_pending"], json!([event_id]));
    assert_eq!(poll(&mut s, &sub, 10)["events"], json!([]));

    // A given correlation id is kept, so related events can be followed.
    let related = publish(
        &mut s,
        "nba.games.1234",
        "game.ended",
        json!({"correlation_id": event_id}),
    );
    assert_eq!(related["correlation_id"], event_id.as_str());
    assert!(s.close().success());
}

#[test]
fn wildcards_match_one_token_or_the_trailing_tokens() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let star = subscribe(&mut s, json!({"name": "star", "topics": ["nba.*.1234"]}));
    let tail = subscribe(&mut s, json!({"name": "tail", "topics": ["nba.>"]}));
    let exact = subscribe(&mut s, json!({"name": "exact", "topics": ["nba.games"]}));
    for t in [
        "nba.games.1234",
        "nba.players.1234",
        "nba.games",
        "nba.games.1234.q1",
        "nba",
        "mlb.games.1234",
    ] {
        publish(&mut s, t, "t", json!({}));
    }
    assert_eq!(
        topics_of(&poll(&mut s, &star, 100)),
        ["nba.games.1234", "nba.players.1234"]
    );
    assert_eq!(
        topics_of(&poll(&mut s, &tail, 100)),
        [
            "nba.games.1234",
            "nba.players.1234",
            "nba.games",
            "nba.games.1234.q1"
        ]
    );
    assert_eq!(topics_of(&poll(&mut s, &exact, 100)), ["nba.games"]);
}

#[test]
fn filters_select_by_type_source_priority_and_payload_field() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let lal = subscribe(
        &mut s,
        json!({"name": "lakers", "payload_match": {"payload.team": "LAL"}, "event_types": ["score"]}),
    );
    let urgent = subscribe(&mut s, json!({"name": "urgent", "min_priority": "high"}));
    let feed = subscribe(&mut s, json!({"name": "feed", "sources": ["feed"]}));
    publish(
        &mut s,
        "nba.games",
        "score",
        json!({"payload": {"team": "LAL"}, "priority": "low"}),
    );
    publish(
        &mut s,
        "nba.games",
        "score",
        json!({"payload": {"team": "BOS"}, "priority": "critical", "source": "feed"}),
    );
    publish(
        &mut s,
        "nba.games",
        "foul",
        json!({"payload": {"team": "LAL"}, "priority": "high"}),
    );
    let got = poll(&mut s, &lal, 10);
    assert_eq!(got["events"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["events"][0]["priority"], "low");
    let got = poll(&mut s, &urgent, 10);
    let prios: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["priority"].as_str().unwrap())
        .collect();
    assert_eq!(prios, ["critical", "high"]);
    let got = poll(&mut s, &feed, 10);
    assert_eq!(got["events"].as_array().unwrap().len(), 1);
    assert_eq!(got["events"][0]["payload"]["team"], "BOS");
}

#[test]
fn poll_returns_higher_priority_first_then_by_sequence() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(&mut s, json!({"name": "p"}));
    let order = [
        "low", "normal", "critical", "high", "normal", "critical", "low",
    ];
    let mut seqs = Vec::new();
    for p in order {
        seqs.push(
            publish(&mut s, "alerts", "x", json!({"priority": p}))["sequence"]
                .as_i64()
                .unwrap(),
        );
    }
    let got = poll(&mut s, &sub, 100);
    let seen: Vec<(String, i64)> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["priority"].as_str().unwrap().to_string(),
                e["sequence"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = vec![
        ("critical".to_string(), seqs[2]),
        ("critical".to_string(), seqs[5]),
        ("high".to_string(), seqs[3]),
        ("normal".to_string(), seqs[1]),
        ("normal".to_string(), seqs[4]),
        ("low".to_string(), seqs[0]),
        ("low".to_string(), seqs[6]),
    ];
    assert_eq!(seen, expected);
}

#[test]
fn group_of_two_members_splits_100_events_without_duplicates() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let a = subscribe(
        &mut s,
        json!({"name": "worker-a", "group": "scorers", "topics": ["nba.>"]}),
    );
    let joined = s.call_ok(
        "subscribe",
        json!({"name": "worker-b", "group": "scorers", "topics": ["nba.>"]}),
    );
    assert_eq!(joined["joined_existing_group"], true);
    let b = joined["subscription_id"].as_str().unwrap().to_string();
    let events: Vec<Value> = (0..100)
        .map(|i| json!({"topic": "nba.games", "event_type": "score", "payload": {"i": i}}))
        .collect();
    let batch = s.call_ok("publish_events", json!({"events": events}));
    assert_eq!(batch["count"], 100);

    let mut seen_a = HashSet::new();
    let mut seen_b = HashSet::new();
    loop {
        let pa = poll(&mut s, &a, 7);
        let pb = poll(&mut s, &b, 9);
        let (ia, ib) = (ids_of(&pa), ids_of(&pb));
        if ia.is_empty() && ib.is_empty() {
            break;
        }
        for id in &ia {
            assert!(seen_a.insert(id.clone()), "{id} delivered twice");
        }
        for id in &ib {
            assert!(seen_b.insert(id.clone()), "{id} delivered twice");
        }
        if !ia.is_empty() {
            s.call_ok("ack_events", json!({"subscription_id": a, "event_ids": ia}));
        }
        if !ib.is_empty() {
            s.call_ok("ack_events", json!({"subscription_id": b, "event_ids": ib}));
        }
    }
    assert!(seen_a.is_disjoint(&seen_b), "an event went to both members");
    assert_eq!(seen_a.len() + seen_b.len(), 100);
    assert!(
        !seen_a.is_empty() && !seen_b.is_empty(),
        "both members got work"
    );

    // A group member may not join with another filter.
    let err = s.call_err(
        "subscribe",
        json!({"name": "c", "group": "scorers", "topics": ["mlb.>"]}),
    );
    assert!(
        err.contains("`group`") && err.contains("different filter"),
        "{err}"
    );
}

#[test]
fn a_critical_event_behind_a_backlog_of_normal_ones_is_delivered_first_and_once() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(&mut s, json!({"name": "backlog", "topics": ["jobs.>"]}));
    // More normal events than a subscription buffers (10,000), then a
    // critical and a high one.
    let backlog = 12_000;
    for chunk in 0..2 {
        let events: Vec<Value> = (0..backlog / 2)
            .map(|i| json!({"topic": "jobs.routine", "event_type": "job", "payload": {"i": chunk * backlog / 2 + i}}))
            .collect();
        s.call_ok("publish_events", json!({ "events": events }));
    }
    let high = publish(&mut s, "jobs.urgent", "job", json!({"priority": "high"}));
    let critical = publish(
        &mut s,
        "jobs.urgent",
        "job",
        json!({"priority": "critical"}),
    );
    let first = ids_of(&poll(&mut s, &sub, 3));
    // On NATS priority holds within one poll's fetch only (README, "Events
    // on NATS"): there the first poll is the first three of the backlog.
    if common::events_backend() == "sqlite" {
        assert_eq!(
            first[..2],
            [
                critical["event_id"].as_str().unwrap(),
                high["event_id"].as_str().unwrap()
            ],
            "{first:?}"
        );
    }
    // Draining the rest delivers every event once: the two taken ahead of
    // the backlog are not delivered again when the scan reaches them.
    let mut delivered = first.clone();
    let mut batch = first;
    while !batch.is_empty() {
        s.call_ok(
            "ack_events",
            json!({"subscription_id": sub, "event_ids": batch}),
        );
        batch = ids_of(&poll(&mut s, &sub, 1000));
        delivered.extend(batch.iter().cloned());
    }
    assert_eq!(delivered.len(), backlog + 2);
    let distinct: HashSet<&String> = delivered.iter().collect();
    assert_eq!(distinct.len(), backlog + 2, "no event delivered twice");
}

#[test]
fn unacked_event_is_redelivered_after_ack_wait_then_dead_lettered() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(
        &mut s,
        json!({"name": "flaky", "topics": ["jobs"], "ack_wait_ms": 200, "max_deliveries": 2}),
    );
    let dlq = subscribe(&mut s, json!({"name": "dlq-watch", "topics": ["dlq.>"]}));
    let p = publish(&mut s, "jobs", "job.created", json!({"payload": {"n": 1}}));
    let first = poll(&mut s, &sub, 10);
    assert_eq!(first["events"][0]["delivery_count"], 1);
    // Not acked: invisible until ack_wait passes.
    assert_eq!(poll(&mut s, &sub, 10)["events"], json!([]));
    let second = s.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "wait_ms": 5000}),
    );
    assert_eq!(second["events"][0]["event_id"], p["event_id"]);
    assert_eq!(second["events"][0]["delivery_count"], 2);
    // Out of deliveries: the next expiry moves it to dlq.jobs with the reason.
    let third = s.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "wait_ms": 1000}),
    );
    assert_eq!(third["events"], json!([]));
    assert_eq!(third["dead_lettered"], 1, "this poll moved it: {third}");
    let dead = s.call_ok(
        "poll_events",
        json!({"subscription_id": dlq, "wait_ms": 5000}),
    );
    let d = &dead["events"][0];
    assert_eq!(d["topic"], "dlq.jobs");
    assert_eq!(d["payload"], json!({"n": 1}));
    let info = &d["metadata"]["dead_letter"];
    assert_eq!(info["original_event_id"], p["event_id"]);
    assert_eq!(info["original_topic"], "jobs");
    assert_eq!(info["deliveries"], 2);
    assert!(
        info["reason"]
            .as_str()
            .unwrap()
            .contains("not acknowledged after 2 deliveries")
    );
    let stats = s.call_ok("event_stats", json!({}));
    let jobs = stats["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "jobs")
        .unwrap();
    assert_eq!(jobs["dead_lettered"], 1);
    assert_eq!(jobs["delivered"], 2);
    let flaky = stats["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["subscription_id"] == sub.as_str())
        .unwrap();
    assert_eq!(flaky["dead_lettered"], 1, "{flaky}");
    assert_eq!(flaky["awaiting_ack"], 0, "{flaky}");
}

#[test]
fn poll_without_wait_finds_a_match_behind_many_events_its_filter_skips() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(
        &mut s,
        json!({"name": "rare", "topics": ["jobs"], "event_types": ["job.urgent"]}),
    );
    let mut events: Vec<Value> = (0..40)
        .map(|i| json!({"topic": "jobs", "event_type": "job.routine", "payload": {"i": i}}))
        .collect();
    events.push(json!({"topic": "jobs", "event_type": "job.urgent", "payload": {"i": 40}}));
    s.call_ok("publish_events", json!({ "events": events }));
    let got = s.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "max": 5, "wait_ms": 0}),
    );
    assert_eq!(topics_of(&got), ["jobs"], "{got}");
    assert_eq!(got["events"][0]["payload"], json!({"i": 40}));
    assert_eq!(got["events"][0]["event_type"], "job.urgent");
}

#[test]
fn subscription_survives_restart_and_continues_where_it_was() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    let sub = subscribe(&mut s, json!({"name": "durable", "topics": ["nba.>"]}));
    for i in 0..3 {
        publish(&mut s, "nba.games", "e", json!({"payload": {"i": i}}));
    }
    let got = poll(&mut s, &sub, 2);
    s.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": ids_of(&got)}),
    );
    assert!(s.close().success());

    let mut s = Server::started(&data, &[]);
    publish(&mut s, "nba.games", "e", json!({"payload": {"i": 3}}));
    let got = poll(&mut s, &sub, 10);
    let is: Vec<i64> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        is,
        [2, 3],
        "continues after the acked events, nothing lost or repeated"
    );
}

#[test]
fn published_event_survives_kill_9() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    let p = publish(&mut s, "audit", "record", json!({"payload": {"k": "v"}}));
    s.signal("KILL");
    s.wait_exit(Duration::from_secs(10));
    let mut s = Server::started(&data, &[]);
    let r = s.call_ok("replay_events", json!({"topics": ["audit"]}));
    assert_eq!(r["events"][0]["event_id"], p["event_id"]);
}

#[test]
fn subscriptions_start_at_earliest_a_sequence_or_a_time() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let mut seqs = Vec::new();
    let mut times = Vec::new();
    for i in 0..4 {
        let p = publish(&mut s, "t", "e", json!({"payload": {"i": i}}));
        seqs.push(p["sequence"].as_i64().unwrap());
        let r = s.call_ok(
            "replay_events",
            json!({"from_sequence": seqs[i], "limit": 1}),
        );
        times.push(r["events"][0]["timestamp"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(5));
    }
    let count = |s: &mut Server, start: Value| {
        let sub = subscribe(s, json!({"name": "x", "start": start}));
        poll(s, &sub, 100)["events"].as_array().unwrap().len()
    };
    assert_eq!(count(&mut s, json!("earliest")), 4);
    assert_eq!(count(&mut s, json!("latest")), 0);
    assert_eq!(count(&mut s, json!({"sequence": seqs[1]})), 3);
    assert_eq!(count(&mut s, json!({"time": times[3]})), 1);
}

#[test]
fn replay_reads_history_by_sequence_and_time_in_pages() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let mut stamps = Vec::new();
    for i in 0..10 {
        let topic = if i % 2 == 0 {
            "nba.games"
        } else {
            "nba.players"
        };
        let p = publish(&mut s, topic, "e", json!({"payload": {"i": i}}));
        let r = s.call_ok(
            "replay_events",
            json!({"from_sequence": p["sequence"], "limit": 1}),
        );
        stamps.push(r["events"][0]["timestamp"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(3));
    }
    // By topic pattern, paged.
    let page1 = s.call_ok(
        "replay_events",
        json!({"topics": ["nba.games"], "limit": 3}),
    );
    let is = |r: &Value| -> Vec<i64> {
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"]["i"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(is(&page1), [0, 2, 4]);
    let page2 = s.call_ok(
        "replay_events",
        json!({"topics": ["nba.games"], "limit": 3, "cursor": page1["next_cursor"]}),
    );
    assert_eq!(is(&page2), [6, 8]);
    assert_eq!(page2["next_cursor"], Value::Null);
    // By sequence.
    let all = s.call_ok("replay_events", json!({}));
    let seq5 = all["events"][5]["sequence"].clone();
    let r = s.call_ok(
        "replay_events",
        json!({"from_sequence": seq5, "topics": ["nba.*"]}),
    );
    assert_eq!(is(&r), [5, 6, 7, 8, 9]);
    // By time range (inclusive).
    let r = s.call_ok(
        "replay_events",
        json!({"since": stamps[3], "until": stamps[6]}),
    );
    assert_eq!(is(&r), [3, 4, 5, 6]);
}

#[test]
fn big_events_come_in_pages_of_at_most_a_few_megabytes() {
    let tmp = temp_dir();
    // The store's own page cap, without the answer bound (which alone
    // would send these one by one: tests/result_bounds.rs).
    let mut s = Server::started(&tmp.path().join("data"), &["--max-answer-tokens", "0"]);
    let sub = subscribe(&mut s, json!({"name": "big", "topics": ["blobs"]}));
    let blob = "x".repeat(200_000);
    let events: Vec<Value> = (0..40)
        .map(|i| json!({"topic": "blobs", "event_type": "blob", "payload": {"i": i, "blob": blob}}))
        .collect();
    s.call_ok("publish_events", json!({"events": events}));
    // 1,000 events at the payload limit once made one 512 MB answer, which
    // a client capping messages at 16 MiB drops and then waits forever.
    let mut seen = Vec::new();
    let mut polls = 0;
    while seen.len() < 40 && polls < 10 {
        let p = poll(&mut s, &sub, 1000);
        let n = p["events"].as_array().unwrap().len();
        assert!((1..=25).contains(&n), "a page of {n} events of 200 KB");
        seen.extend(ids_of(&p));
        polls += 1;
    }
    assert_eq!(seen.len(), 40);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 40);
    assert!(polls >= 2, "{polls}");

    let (mut is, mut cursor, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let mut args = json!({"topics": ["blobs"], "limit": 1000});
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        let r = s.call_ok("replay_events", args);
        let page = r["events"].as_array().unwrap();
        assert!((1..=25).contains(&page.len()), "{}", page.len());
        is.extend(page.iter().map(|e| e["payload"]["i"].as_i64().unwrap()));
        pages += 1;
        cursor = r["next_cursor"].clone();
        if cursor.is_null() || pages > 10 {
            break;
        }
    }
    assert_eq!(is, (0..40).collect::<Vec<i64>>());
    assert!(pages >= 2, "{pages}");
}

#[test]
fn retention_keeps_only_the_newest_events_of_a_topic() {
    let tmp = temp_dir();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--events-retention", "nba.games.> max_events=5"],
    );
    for i in 0..12 {
        publish(&mut s, "nba.games.1", "e", json!({"payload": {"i": i}}));
        publish(&mut s, "nba.players", "e", json!({"payload": {"i": i}}));
    }
    let kept = s.call_ok("replay_events", json!({"topics": ["nba.games.1"]}));
    let is: Vec<i64> = kept["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [7, 8, 9, 10, 11]);
    let other = s.call_ok("replay_events", json!({"topics": ["nba.players"]}));
    assert_eq!(
        other["events"].as_array().unwrap().len(),
        12,
        "other topics keep the default"
    );
    let stats = s.call_ok("event_stats", json!({}));
    let t = stats["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "nba.games.1")
        .unwrap();
    assert_eq!(
        (
            t["published"].as_i64(),
            t["stored"].as_i64(),
            t["trimmed"].as_i64()
        ),
        (Some(12), Some(5), Some(7))
    );
}

#[test]
fn retention_rule_max_age_removes_old_events_of_its_topics_only() {
    let tmp = temp_dir();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--events-retention", "nba.live.> max_age=2s"],
    );
    for i in 0..3 {
        publish(&mut s, "nba.live.1", "e", json!({"payload": {"i": i}}));
        publish(&mut s, "nba.players", "e", json!({"payload": {"i": i}}));
    }
    // Aged out within a few seconds: the rule is applied about every second.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let live = s.call_ok("replay_events", json!({"topics": ["nba.live.1"]}));
        if live["events"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still kept after 30 s: {live}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let other = s.call_ok("replay_events", json!({"topics": ["nba.players"]}));
    assert_eq!(
        other["events"].as_array().unwrap().len(),
        3,
        "other topics keep the default age"
    );
    // A young event of the aged topic is kept.
    publish(&mut s, "nba.live.1", "e", json!({"payload": {"i": 9}}));
    let live = s.call_ok("replay_events", json!({"topics": ["nba.live.1"]}));
    let is: Vec<i64> = live["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [9]);
    let stats = s.call_ok("event_stats", json!({}));
    let t = stats["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "nba.live.1")
        .unwrap();
    assert_eq!(t["trimmed"], 3, "{t}");
}

#[test]
fn bad_inputs_get_errors_naming_the_field() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let err = s.call_err("poll_events", json!({"subscription_id": "sub_nope"}));
    assert!(
        err.contains("`subscription_id`") && err.contains("unknown subscription"),
        "{err}"
    );
    let err = s.call_err("ack_events", json!({"subscription_id": "sub_nope", "event_ids": ["01a216c7-cf18-75d4-939d-748c4c4aeaa4"]}));
    assert!(err.contains("unknown subscription"), "{err}");
    let err = s.call_err("subscribe", json!({"name": "x", "topics": ["nba.>.games"]}));
    assert!(
        err.contains("`topics[0]`") && err.contains("last token"),
        "{err}"
    );
    let err = s.call_err(
        "publish_event",
        json!({"topic": "nba.*", "event_type": "x"}),
    );
    assert!(
        err.contains("`topic`") && err.contains("wildcards are for subscriptions"),
        "{err}"
    );
    let err = s.call_err(
        "publish_event",
        json!({"topic": "nba", "event_type": "x", "payload": [1, 2]}),
    );
    assert!(
        err.contains("`payload`") && err.contains("JSON object"),
        "{err}"
    );
    let big = "x".repeat(300 * 1024);
    let err = s.call_err(
        "publish_event",
        json!({"topic": "nba", "event_type": "x", "payload": {"b": big}}),
    );
    assert!(err.contains("`payload`") && err.contains("262144"), "{err}");
    let err = s.call_err(
        "publish_event",
        json!({"topic": "nba", "event_type": "x", "priority": "urgent"}),
    );
    assert!(
        err.contains("`priority`") && err.contains("low, normal, high or critical"),
        "{err}"
    );
    let err = s.call_err(
        "publish_events",
        json!({"events": [
        {"topic": "ok", "event_type": "x"}, {"topic": "ok", "event_type": "x", "payload": "str"}]}),
    );
    assert!(err.contains("`events[1].payload`"), "{err}");
    let err = s.call_err("publish_events", json!({"events": []}));
    assert!(err.contains("`events`"), "{err}");
    let err = s.call_err("subscribe", json!({"name": "x", "start": {"sequence": 0}}));
    assert!(err.contains("`start.sequence`"), "{err}");
    let err = s.call_err("subscribe", json!({"name": "x", "start": "yesterday"}));
    assert!(err.contains("`start`") && err.contains("earliest"), "{err}");
    let err = s.call_err("subscribe", json!({"name": "x", "ack_wait_ms": 0}));
    assert!(err.contains("`ack_wait_ms`"), "{err}");
    let err = s.call_err(
        "subscribe",
        json!({"name": "x", "payload_match": {"team": "LAL"}}),
    );
    assert!(
        err.contains("`payload_match`") && err.contains("payload."),
        "{err}"
    );
    let sub = subscribe(&mut s, json!({"name": "ok"}));
    let err = s.call_err(
        "poll_events",
        json!({"subscription_id": sub, "wait_ms": 60000}),
    );
    assert!(
        err.contains("`wait_ms`") && err.contains("0 to 30000"),
        "{err}"
    );
    let err = s.call_err(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": ["not-a-uuid"]}),
    );
    assert!(err.contains("`event_ids[0]`"), "{err}");
    let err = s.call_err("replay_events", json!({"since": "last tuesday"}));
    assert!(err.contains("`since`") && err.contains("RFC 3339"), "{err}");
    // Only a cursor as next_cursor wrote it: `after:` + i64::MAX wrapped
    // round to the first event.
    for cursor in [
        "bogus",
        "after:9223372036854775807",
        "after:-5",
        "after:+3",
        "after:03",
    ] {
        let err = s.call_err("replay_events", json!({"cursor": cursor}));
        assert!(err.contains("`cursor`"), "{cursor}: {err}");
    }
    s.call_ok("replay_events", json!({"cursor": "after:0"}));
    // A wrong type names the field and says what is accepted, in words.
    let err = s.call_err("publish_event", json!({"topic": 5, "event_type": "e"}));
    assert!(
        err.contains("`topic`") && err.contains("expected a string"),
        "{err}"
    );
    let err = s.call_err("poll_events", json!({"subscription_id": sub, "max": 1.5}));
    assert!(
        err.contains("`max`") && err.contains("whole number"),
        "{err}"
    );
    // A misspelt argument is named too (deny_unknown_fields).
    let resp = s.request("tools/call", json!({"name": "publish_event", "arguments": {"topic": "a", "event_type": "b", "priorty": "high"}}));
    assert!(resp.to_string().contains("priorty"), "{resp}");
    // Nothing of the failed batch was stored.
    let r = s.call_ok("replay_events", json!({"topics": ["ok"]}));
    assert_eq!(r["events"], json!([]));
    s.call_ok("unsubscribe", json!({"subscription_id": sub}));
    let err = s.call_err("poll_events", json!({"subscription_id": sub}));
    assert!(err.contains("unknown subscription"), "{err}");
}

#[test]
fn nba_helpers_publish_on_platform_topics_and_check_fields() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(&mut s, json!({"name": "nba", "topics": ["nba.>"]}));
    let g = s.call_ok("publish_nba_event", json!({"kind": "game_started", "game_id": "0022400123", "home_team": "LAL", "away_team": "BOS"}));
    assert_eq!(
        (
            g["topic"].as_str(),
            g["event_type"].as_str(),
            g["priority"].as_str()
        ),
        (Some("nba.games"), Some("game.started"), Some("high"))
    );
    let p = s.call_ok("publish_nba_event", json!({"kind": "player_stat_update", "player_id": 2544, "stats": {"points": 31}, "game_id": "0022400123"}));
    assert_eq!(
        (p["topic"].as_str(), p["event_type"].as_str()),
        (Some("nba.players"), Some("player.stat.update"))
    );
    let m = s.call_ok("publish_nba_event", json!({"kind": "prediction_generated", "model_id": "wp-v2", "prediction": {"home_win": 0.62}, "confidence": 0.8}));
    assert_eq!(m["topic"], "nba.ml");
    let got = poll(&mut s, &sub, 10);
    assert_eq!(
        got["events"][0]["event_type"], "game.started",
        "high priority first"
    );
    let stat = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "player.stat.update")
        .unwrap();
    assert_eq!(
        stat["payload"],
        json!({"player_id": 2544, "stats": {"points": 31}, "game_id": "0022400123"})
    );

    let err = s.call_err(
        "publish_nba_event",
        json!({"kind": "player_stat_update", "stats": {"points": 1}}),
    );
    assert!(
        err.contains("`player_id`") && err.contains("player_id, stats"),
        "{err}"
    );
    let err = s.call_err(
        "publish_nba_event",
        json!({"kind": "game_ended", "game_id": "g", "home_score": -3, "away_score": 99}),
    );
    assert!(err.contains("`home_score`"), "{err}");
    let err = s.call_err("publish_nba_event", json!({"kind": "trade"}));
    assert!(
        err.contains("`kind`") && err.contains("model_trained"),
        "{err}"
    );
}

#[test]
fn long_poll_returns_as_soon_as_an_event_is_published() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = subscribe(&mut s, json!({"name": "waiter"}));
    let id = s.next_id();
    s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "poll_events", "arguments": {"subscription_id": sub, "wait_ms": 30000}}}));
    let p = publish(&mut s, "live", "tick", json!({}));
    let resp = s.wait_for_id(&json!(id));
    assert_eq!(
        resp["result"]["structuredContent"]["events"][0]["event_id"],
        p["event_id"]
    );
}

#[test]
fn event_published_through_one_process_is_polled_through_another() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut a = Server::started(&data, &[]);
    let mut b = Server::started(&data, &[]);
    let sub = subscribe(&mut b, json!({"name": "b-side", "topics": ["shared.>"]}));
    // b long-polls while a publishes.
    let id = b.next_id();
    b.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "poll_events", "arguments": {"subscription_id": sub, "wait_ms": 30000}}}));
    std::thread::sleep(Duration::from_millis(100));
    let p = publish(
        &mut a,
        "shared.feed",
        "e",
        json!({"payload": {"from": "a"}}),
    );
    let resp = b.wait_for_id(&json!(id));
    let e = &resp["result"]["structuredContent"]["events"][0];
    assert_eq!(e["event_id"], p["event_id"]);
    // And a sees b's subscription: it is durable state in the shared store.
    let got = a.call_ok("poll_events", json!({"subscription_id": sub}));
    assert_eq!(got["awaiting_ack"], 1);
}

fn resource_updated(m: &Value, uri: &str) -> bool {
    m["method"] == "notifications/resources/updated" && m["params"]["uri"] == uri
}

#[test]
fn resource_subscribers_are_notified_when_a_topic_gets_an_event() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    let init_caps = s.request_ok("tools/list", json!({}));
    assert!(init_caps["tools"].is_array());
    s.request_ok(
        "resources/subscribe",
        json!({"uri": "events://topics/nba.games"}),
    );
    s.request_ok(
        "resources/subscribe",
        json!({"uri": "events://topics/nba.>"}),
    );
    publish(&mut s, "mlb.games", "e", json!({}));
    publish(&mut s, "nba.games", "e", json!({}));
    assert!(
        s.wait_for(Duration::from_secs(10), |m| resource_updated(
            m,
            "events://topics/nba.games"
        ))
        .is_some()
    );
    assert!(
        s.wait_for(Duration::from_secs(10), |m| resource_updated(
            m,
            "events://topics/nba.>"
        ))
        .is_some()
    );
    assert!(
        !s.backlog
            .iter()
            .any(|m| m["params"]["uri"] == "events://topics/mlb.games"),
        "no notification for a topic nobody subscribed to"
    );
    // An event published by another process on the same data dir notifies too.
    let mut other = Server::started(&data, &[]);
    publish(&mut other, "nba.games", "from-other", json!({}));
    s.backlog.clear();
    assert!(
        s.wait_for(Duration::from_secs(10), |m| resource_updated(
            m,
            "events://topics/nba.games"
        ))
        .is_some()
    );

    let list = s.request_ok("resources/list", json!({}));
    let uris: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(
        uris.contains(&"events://topics") && uris.contains(&"events://topics/nba.games"),
        "{uris:?}"
    );
    let read = s.request_ok("resources/read", json!({"uri": "events://topics"}));
    let body: Value = serde_json::from_str(read["contents"][0]["text"].as_str().unwrap()).unwrap();
    let nba = body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "nba.games")
        .unwrap();
    assert_eq!(nba["stored"], 2);
    let read = s.request_ok(
        "resources/read",
        json!({"uri": "events://topics/nba.games"}),
    );
    let body: Value = serde_json::from_str(read["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["recent_events"][1]["event_type"], "from-other");
    let bad = s.request(
        "resources/subscribe",
        json!({"uri": "events://topics/a..b"}),
    );
    assert!(bad["error"].is_object(), "{bad}");
}

#[test]
fn stateless_clients_listen_for_topic_updates() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &[]);
    let listen_id = s.next_id();
    s.send(&json!({"jsonrpc": "2.0", "id": listen_id, "method": "subscriptions/listen",
        "params": {"_meta": stateless_meta(), "notifications": {"resourceSubscriptions": ["events://topics/nba.games"]}}}));
    let ack = s.wait_for(Duration::from_secs(10), |m| {
        m["method"]
            .as_str()
            .is_some_and(|x| x.contains("subscriptions/acknowledged"))
    });
    assert!(
        ack.is_some(),
        "listen acknowledged; backlog {:?}",
        s.backlog
    );
    let r = s.request_ok(
        "tools/call",
        json!({"_meta": stateless_meta(), "name": "publish_event",
        "arguments": {"topic": "nba.games", "event_type": "e"}}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert!(
        s.wait_for(Duration::from_secs(10), |m| resource_updated(
            m,
            "events://topics/nba.games"
        ))
        .is_some(),
        "backlog {:?}",
        s.backlog
    );
}

#[test]
fn events_toolset_off_hides_tools_and_resources() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &["--toolsets", "audit"]);
    let init = s.initialize();
    assert!(init["capabilities"]["resources"].is_null(), "{init}");
    let names = s.tool_names();
    assert!(!names.iter().any(|n| n == "publish_event"), "{names:?}");
    let r = s.request("resources/list", json!({}));
    let listed = r["result"]["resources"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, 0, "{r}");
}

#[test]
fn fsync_always_mode_publishes_and_bad_event_flags_are_startup_errors() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::start_with_env(&data, &[], &[("SMART_SYSTEMS_EVENTS_FSYNC", "always")]);
    s.initialize();
    let p = publish(&mut s, "durable", "e", json!({}));
    assert_eq!(p["sequence"], 1);
    assert!(s.close().success());
    for (flag, value, says) in [
        ("--events-max-age", "1w", "--events-max-age"),
        (
            "--events-retention",
            "nba..x max_events=1",
            "--events-retention",
        ),
        ("--events-fsync", "sometimes", "sometimes"),
    ] {
        let out = std::process::Command::new(common::binary())
            .args(["--data-dir", data.to_str().unwrap(), flag, value])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}
