//! Events beyond one machine: server processes with their own data dirs
//! (standing in for two machines) pointed at the same NATS JetStream and
//! namespace share one event stream, subscriptions and consumer groups; a
//! NATS restart in the middle of a subscription loses nothing.
//!
//! Each test skips itself (saying so) when the test environment gives no
//! NATS: `tools/test` always does.

mod common;

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// The shared NATS of the test run, or `None` (the test is skipped).
fn nats_url(test: &str) -> Option<String> {
    match std::env::var("SMART_SYSTEMS_TEST_NATS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "{test}: skipped: SMART_SYSTEMS_TEST_NATS_URL is not set (tools/test sets it)"
            );
            None
        }
    }
}

/// A server on its own data dir, on `url` in `namespace`.
fn machine(data: &Path, url: &str, namespace: &str) -> Server {
    Server::started(data, &["--events-url", url, "--namespace", namespace])
}

/// Machines of one test: the shared NATS and a namespace of their own.
struct Site {
    tmp: tempfile::TempDir,
    url: String,
    ns: String,
}

impl Site {
    /// `None` (the test is skipped) without a NATS.
    fn new(test: &str) -> Option<Site> {
        let url = nats_url(test)?;
        let tmp = temp_dir();
        let ns = common::namespace_for(tmp.path());
        Some(Site { tmp, url, ns })
    }

    /// The server of machine `name` (its own data dir), started.
    fn machine(&self, name: &str) -> Server {
        machine(&self.tmp.path().join(name), &self.url, &self.ns)
    }
}

fn subscription_id(subscribed: &Value) -> String {
    subscribed["subscription_id"]
        .as_str()
        .expect("subscription_id")
        .to_string()
}

/// Subscribes one member of the group in `spec` on each machine.
fn member_on_each(a: &mut Server, b: &mut Server, spec: Value) -> [String; 2] {
    let on_a = a.call_ok("subscribe", spec.clone());
    let on_b = b.call_ok("subscribe", spec);
    assert_eq!(on_b["joined_existing_group"], true, "{on_b}");
    [subscription_id(&on_a), subscription_id(&on_b)]
}

fn ids(polled: &Value) -> Vec<String> {
    polled["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_string())
        .collect()
}

fn payload_is(polled: &Value) -> Vec<i64> {
    polled["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["payload"]["i"].as_i64().expect("payload.i"))
        .collect()
}

#[test]
fn event_published_on_one_machine_is_polled_on_another() {
    let Some(site) = Site::new("event_published_on_one_machine_is_polled_on_another") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let sub = b.call_ok(
        "subscribe",
        json!({"name": "on-b", "topics": ["nba.games.*"]}),
    );
    let sub = subscription_id(&sub);
    let p = a.call_ok(
        "publish_event",
        json!({"topic": "nba.games.7", "event_type": "game.started", "payload": {"home": "LAL"}}),
    );
    let got = b.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "wait_ms": 10000}),
    );
    assert_eq!(ids(&got), [p["event_id"].as_str().unwrap()]);
    assert_eq!(got["events"][0]["payload"], json!({"home": "LAL"}));
    assert_eq!(got["events"][0]["sequence"], p["sequence"]);
    // The subscription made on b is known on a too (stored in NATS).
    let stats = a.call_ok("event_stats", json!({}));
    assert!(
        stats["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subscription_id"] == sub.as_str() && s["name"] == "on-b"),
        "{stats}"
    );
    // And a's history has b's... and its own event.
    let r = b.call_ok("replay_events", json!({"topics": ["nba.>"]}));
    assert_eq!(ids(&r), [p["event_id"].as_str().unwrap()]);
}

#[test]
fn consumer_group_with_a_member_on_each_machine_splits_events_without_duplicates() {
    let Some(site) = Site::new("consumer_group_with_a_member_on_each_machine_splits_events") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let group = json!({"name": "worker", "group": "scorers", "topics": ["jobs"]});
    let subs = member_on_each(&mut a, &mut b, group);
    let events: Vec<Value> = (0..60)
        .map(|i| json!({"topic": "jobs", "event_type": "job", "payload": {"i": i}}))
        .collect();
    a.call_ok("publish_events", json!({ "events": events }));
    let mut seen: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen[0].len() + seen[1].len() < 60 && Instant::now() < deadline {
        for (k, server) in [&mut a, &mut b].into_iter().enumerate() {
            let got = server.call_ok(
                "poll_events",
                json!({"subscription_id": subs[k], "max": 7, "wait_ms": 200}),
            );
            let got_ids = ids(&got);
            if !got_ids.is_empty() {
                let acked = server.call_ok(
                    "ack_events",
                    json!({"subscription_id": subs[k], "event_ids": got_ids}),
                );
                assert_eq!(acked["acked"].as_u64(), Some(got_ids.len() as u64));
            }
            seen[k].extend(got_ids);
        }
    }
    let all: Vec<&String> = seen[0].iter().chain(&seen[1]).collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), 60, "every event delivered once: {seen:?}");
    // A member's unacked deliveries are its own, seen through either
    // process (the group shares one consumer).
    a.call_ok(
        "publish_events",
        json!({"events": [{"topic": "jobs", "event_type": "job"}, {"topic": "jobs", "event_type": "job"}]}),
    );
    let held = b.call_ok(
        "poll_events",
        json!({"subscription_id": subs[1], "max": 10, "wait_ms": 5000}),
    );
    let held = ids(&held).len() as i64;
    assert!(held >= 1, "b took some");
    let stats = a.call_ok("event_stats", json!({}));
    let awaiting = |id: &str| {
        stats["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subscription_id"] == id)
            .map(|s| s["awaiting_ack"].clone())
    };
    assert_eq!(awaiting(&subs[1]), Some(json!(held)), "{stats}");
    assert_eq!(awaiting(&subs[0]), Some(json!(0)), "{stats}");
    assert_eq!(distinct.len(), 60, "no event delivered twice");
    assert!(
        !seen[0].is_empty() && !seen[1].is_empty(),
        "both members got work: {} and {}",
        seen[0].len(),
        seen[1].len()
    );
}

#[test]
fn event_stats_through_either_machine_count_what_both_did() {
    let Some(site) = Site::new("event_stats_through_either_machine_count_what_both_did") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let sub = b.call_ok(
        "subscribe",
        json!({"name": "flaky", "topics": ["jobs"], "start": "earliest",
               "ack_wait_ms": 200, "max_deliveries": 1}),
    );
    let sub = subscription_id(&sub);
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"topic": "jobs", "event_type": "job", "payload": {"i": i}}))
        .collect();
    a.call_ok("publish_events", json!({ "events": events }));
    b.call_ok(
        "publish_event",
        json!({"topic": "jobs", "event_type": "job"}),
    );
    // b takes all six and acks four; the other two run out of deliveries.
    let got = b.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "max": 10, "wait_ms": 5000}),
    );
    let got = ids(&got);
    assert_eq!(got.len(), 6, "{got:?}");
    b.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": got[..4]}),
    );
    let stats = a.call_ok("event_stats", json!({}));
    let mine = |stats: &Value| {
        stats["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subscription_id"] == sub.as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(mine(&stats)["awaiting_ack"], 2, "{stats}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut dead = 0;
    while dead < 2 && Instant::now() < deadline {
        let p = b.call_ok(
            "poll_events",
            json!({"subscription_id": sub, "max": 10, "wait_ms": 500}),
        );
        dead += p["dead_lettered"].as_i64().unwrap();
    }
    assert_eq!(dead, 2);
    // Asked through a, which neither polled nor dead-lettered anything.
    let stats = a.call_ok("event_stats", json!({}));
    let topic = |name: &str| {
        stats["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no topic {name}: {stats}"))
    };
    let jobs = topic("jobs");
    assert_eq!(jobs["published"], 6, "{jobs}");
    assert_eq!(jobs["stored"], 6, "{jobs}");
    assert_eq!(jobs["delivered"], 6, "{jobs}");
    assert_eq!(jobs["dead_lettered"], 2, "{jobs}");
    assert_eq!(topic("dlq.jobs")["published"], 2);
    let s = mine(&stats);
    assert_eq!(s["dead_lettered"], 2, "{s}");
    assert_eq!(s["awaiting_ack"], 0, "{s}");
    // And b, which did it, says the same.
    let again = b.call_ok("event_stats", json!({}));
    assert_eq!(again["topics"], stats["topics"]);
    // Both count on one key in turn: b's remembered revision goes stale
    // when a writes, and b's next count must still land.
    for _ in 0..2 {
        for s in [&mut b, &mut a] {
            s.call_ok(
                "publish_event",
                json!({"topic": "other", "event_type": "x"}),
            );
        }
    }
    for s in [&mut a, &mut b] {
        let stats = s.call_ok("event_stats", json!({}));
        let other = stats["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == "other")
            .cloned()
            .unwrap();
        assert_eq!(other["published"], 4, "{other}");
        assert_eq!(other["trimmed"], 0, "{other}");
    }
}

#[test]
fn events_acked_through_another_process_or_after_a_restart_are_not_redelivered() {
    let Some(site) = Site::new("events_acked_through_another_process_or_after_a_restart") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let sub = a.call_ok(
        "subscribe",
        json!({"name": "roaming", "topics": ["jobs"], "ack_wait_ms": 1000}),
    );
    let sub = subscription_id(&sub);
    for i in 0..3 {
        a.call_ok(
            "publish_event",
            json!({"topic": "jobs", "event_type": "job", "payload": {"i": i}}),
        );
    }
    let got = a.call_ok("poll_events", json!({"subscription_id": sub, "max": 10}));
    let got = ids(&got);
    assert_eq!(got.len(), 3);
    // Acked through the other machine.
    let on_b = b.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [got[0]]}),
    );
    assert_eq!(
        (on_b["acked"].as_i64(), &on_b["not_pending"]),
        (Some(1), &json!([]))
    );
    // Acked once: asking the polling process again finds it done.
    let again = a.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [got[0]]}),
    );
    assert_eq!(
        (again["acked"].as_i64(), &again["not_pending"]),
        (Some(0), &json!([got[0]]))
    );
    // The same client after the polling process restarted.
    assert!(a.close().success());
    let mut a = site.machine("a");
    let after = a.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [got[1]]}),
    );
    assert_eq!(after["acked"], 1, "{after}");
    // Past ack_wait, only the event nobody acked comes back.
    let redelivered = b.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "max": 10, "wait_ms": 3000}),
    );
    assert_eq!(ids(&redelivered), [got[2].clone()]);
    assert_eq!(redelivered["events"][0]["delivery_count"], 2);
    // And its ack through the first process counts, since b redelivered it.
    let last = a.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": [got[2]]}),
    );
    assert_eq!(last["acked"], 1, "{last}");
    let quiet = a.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "max": 10, "wait_ms": 2000}),
    );
    assert_eq!(
        ids(&quiet),
        Vec::<String>::new(),
        "nothing left to redeliver"
    );
}

#[test]
fn a_group_member_cannot_ack_an_event_delivered_to_another_member() {
    let Some(site) = Site::new("a_group_member_cannot_ack_an_event_delivered_to_another") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let group = json!({"name": "w", "group": "crew", "topics": ["jobs"], "ack_wait_ms": 60000});
    let [sa, sb] = member_on_each(&mut a, &mut b, group);
    a.call_ok(
        "publish_event",
        json!({"topic": "jobs", "event_type": "job", "payload": {"i": 0}}),
    );
    let got = ids(&a.call_ok(
        "poll_events",
        json!({"subscription_id": sa, "wait_ms": 5000}),
    ));
    assert_eq!(got.len(), 1);
    let wrong = b.call_ok(
        "ack_events",
        json!({"subscription_id": sb, "event_ids": got}),
    );
    assert_eq!(wrong["acked"], 0, "{wrong}");
    assert_eq!(wrong["not_pending"], json!(got));
    // Its own member acks it through either machine.
    let right = b.call_ok(
        "ack_events",
        json!({"subscription_id": sa, "event_ids": got}),
    );
    assert_eq!(right["acked"], 1, "{right}");
}

#[test]
fn unsubscribing_a_member_through_another_process_hands_its_events_to_the_group() {
    let Some(site) = Site::new("unsubscribing_a_member_through_another_process") else {
        return;
    };
    let mut a = site.machine("a");
    let mut b = site.machine("b");
    let group = json!({"name": "w", "group": "crew", "topics": ["jobs"], "ack_wait_ms": 600000});
    let [sa, sb] = member_on_each(&mut a, &mut b, group);
    let p = a.call_ok(
        "publish_event",
        json!({"topic": "jobs", "event_type": "job", "payload": {"i": 0}}),
    );
    let got = a.call_ok(
        "poll_events",
        json!({"subscription_id": sa, "wait_ms": 5000}),
    );
    assert_eq!(ids(&got), [p["event_id"].as_str().unwrap()]);
    // The member leaves through the other machine, its event unacked.
    b.call_ok("unsubscribe", json!({"subscription_id": sa}));
    let handed = b.call_ok(
        "poll_events",
        json!({"subscription_id": sb, "wait_ms": 20000}),
    );
    assert_eq!(
        ids(&handed),
        [p["event_id"].as_str().unwrap()],
        "back to the group now, not after the 10-minute ack_wait"
    );
    assert_eq!(handed["events"][0]["delivery_count"], 2);
}

/// A nats-server of the test's own, on a store dir that survives restarts.
struct OwnNats {
    child: Option<Child>,
    port: u16,
    store: std::path::PathBuf,
    bin: String,
}

/// The nats-server binary for a test that runs its own server, or `None`
/// (the test is skipped) without it or without the shared NATS.
fn own_nats_bin(test: &str) -> Option<String> {
    nats_url(test)?;
    match std::env::var("SMART_SYSTEMS_TEST_NATS_SERVER") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("{test}: skipped: SMART_SYSTEMS_TEST_NATS_SERVER is not set");
            None
        }
    }
}

impl OwnNats {
    fn start(bin: &str, store: &Path) -> OwnNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut n = OwnNats {
            child: None,
            port,
            store: store.to_path_buf(),
            bin: bin.to_string(),
        };
        n.restart();
        n
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it gracefully (SIGTERM) and waits for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (STOP freezes it with its connections open, CONT
    /// resumes it).
    fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .args([&format!("-{signal}"), &c.id().to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal}");
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn nats_restart_mid_subscription_loses_no_acked_state_and_skips_no_event() {
    let test = "nats_restart_mid_subscription_loses_no_acked_state_and_skips_no_event";
    let Some(bin) = own_nats_bin(test) else {
        return;
    };
    let tmp = temp_dir();
    let mut nats = OwnNats::start(&bin, &tmp.path().join("nats-store"));
    let url = nats.url();
    let mut s = machine(&tmp.path().join("data"), &url, "restart");
    let sub = s.call_ok("subscribe", json!({"name": "steady", "topics": ["feed"]}));
    let sub = subscription_id(&sub);
    let publish = |s: &mut Server, i: i64| {
        s.call_tool(
            "publish_event",
            json!({"topic": "feed", "event_type": "tick", "payload": {"i": i}}),
        )
    };
    for i in 0..5 {
        assert_ne!(publish(&mut s, i)["isError"], true);
    }
    let first = s.call_ok("poll_events", json!({"subscription_id": sub, "max": 3}));
    assert_eq!(payload_is(&first), [0, 1, 2]);
    s.call_ok(
        "ack_events",
        json!({"subscription_id": sub, "event_ids": ids(&first)}),
    );

    nats.stop();
    // During the outage: a clear error, not a hang or a crash.
    let started = Instant::now();
    let down = publish(&mut s, 99);
    assert_eq!(down["isError"], true, "{down}");
    let text = down["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("NATS"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(25));
    // Either the client had seen the drop (not sent: the event must never
    // appear) or it had not (sent without an ack: it may appear, once, when
    // the client reconnects), and the error says which.
    let unconfirmed = text.contains("unconfirmed");
    assert!(
        unconfirmed || text.contains("not reachable"),
        "the error says whether the event was sent: {text}"
    );

    nats.restart();
    // The client reconnects by itself; publish again once it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 5;
    while i < 7 {
        let r = publish(&mut s, i);
        if r["isError"] == true {
            assert!(Instant::now() < deadline, "no reconnect: {r}");
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        i += 1;
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.iter().filter(|&&i| i != 99).count() < 4 && Instant::now() < deadline {
        let p = s.call_ok(
            "poll_events",
            json!({"subscription_id": sub, "max": 10, "wait_ms": 1000}),
        );
        if !ids(&p).is_empty() {
            s.call_ok(
                "ack_events",
                json!({"subscription_id": sub, "event_ids": ids(&p)}),
            );
        }
        got.extend(payload_is(&p));
    }
    let late = got.iter().filter(|&&i| i == 99).count();
    assert!(
        late == 0 || (unconfirmed && late == 1),
        "event 99 appeared {late} times after: {text}"
    );
    got.retain(|&i| i != 99);
    assert_eq!(
        got,
        [3, 4, 5, 6],
        "continues after the acked events: none lost, none repeated"
    );
    assert!(s.close().success());
}

#[test]
fn a_publish_nats_never_acked_is_reported_as_unconfirmed_and_may_appear_later() {
    let test = "a_publish_nats_never_acked_is_reported_as_unconfirmed_and_may_appear_later";
    let Some(bin) = own_nats_bin(test) else {
        return;
    };
    let tmp = temp_dir();
    let nats = OwnNats::start(&bin, &tmp.path().join("nats-store"));
    let mut s = machine(&tmp.path().join("data"), &nats.url(), "frozen");
    let batch = |i: i64| {
        json!({"events": [
            {"topic": "feed", "event_type": "tick", "payload": {"i": i}},
            {"topic": "feed", "event_type": "tick", "payload": {"i": i + 1}},
        ]})
    };
    assert_ne!(s.call_tool("publish_events", batch(0))["isError"], true);

    // A frozen server keeps the connection open: the client sends, and no
    // ack comes back.
    nats.signal("STOP");
    let hung = s.call_tool("publish_events", batch(10));
    nats.signal("CONT");
    assert_eq!(hung["isError"], true, "{hung}");
    let text = hung["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("0 of 2 events are stored") && text.contains("unconfirmed"),
        "the error says the outcome is unknown, not that nothing was stored: {text}"
    );
    assert!(
        text.contains("replay_events"),
        "and how to find out: {text}"
    );

    // The server stores what it received once it runs again: exactly once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.call_tool(
            "replay_events",
            json!({"topics": ["feed"], "from_sequence": 1}),
        );
        let got: Vec<i64> = r["structuredContent"]["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["payload"]["i"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if got == [0, 1, 10, 11] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the thaw the log holds {got:?}: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(s.close().success());
}

#[test]
fn machines_started_at_once_on_a_new_namespace_all_come_up() {
    // Each creates the namespace's stream and buckets; the losers of that
    // race must find what the winner created, not fail to start. (A race
    // is not certain in one round, so several rounds, each a new namespace.)
    let Some(url) = nats_url("machines_started_at_once_on_a_new_namespace_all_come_up") else {
        return;
    };
    let tmp = temp_dir();
    for round in 0..6 {
        let ns = format!("{}_r{round}", common::namespace_for(tmp.path()));
        let mut machines: Vec<Server> = (0..3)
            .map(|m| {
                Server::start(
                    &tmp.path().join(format!("r{round}m{m}")),
                    &["--events-url", &url, "--namespace", &ns],
                )
            })
            .collect();
        for s in &mut machines {
            s.initialize();
        }
        let published = machines[0].call_ok(
            "publish_event",
            json!({"topic": "t", "event_type": "e", "payload": {"round": round}}),
        );
        let seen = machines[2].call_ok("replay_events", json!({"topics": ["t"]}));
        assert_eq!(
            seen["events"][0]["event_id"], published["event_id"],
            "{seen}"
        );
        for s in machines {
            assert!(s.close().success());
        }
    }
}

#[test]
fn a_restart_with_other_retention_flags_updates_the_namespace_stream() {
    let Some(site) = Site::new("a_restart_with_other_retention_flags_updates_the_namespace_stream")
    else {
        return;
    };
    let mut s = site.machine("a");
    for i in 0..3 {
        s.call_ok(
            "publish_event",
            json!({"topic": "kept", "event_type": "e", "payload": {"i": i}}),
        );
    }
    assert!(s.close().success());
    let mut s = Server::started(
        &site.tmp.path().join("a"),
        &[
            "--events-url",
            &site.url,
            "--namespace",
            &site.ns,
            "--events-max-events",
            "1",
        ],
    );
    let kept = s.call_ok("replay_events", json!({"topics": ["kept"]}));
    assert_eq!(payload_is(&kept), [2], "{kept}");
    assert!(s.close().success());
}

#[test]
fn a_gap_retention_left_is_reported_once_through_whichever_machine_polls() {
    let Some(site) =
        Site::new("a_gap_retention_left_is_reported_once_through_whichever_machine_polls")
    else {
        return;
    };
    let with_rule = |name: &str| {
        Server::started(
            &site.tmp.path().join(name),
            &[
                "--events-url",
                &site.url,
                "--namespace",
                &site.ns,
                "--events-retention",
                "nba.live.> max_events=100",
            ],
        )
    };
    let (mut a, mut b) = (with_rule("a"), with_rule("b"));
    let sub = a.call_ok(
        "subscribe",
        json!({"name": "live", "topics": ["nba.live.>"]}),
    );
    let sub = subscription_id(&sub);
    let publish = |s: &mut Server, from: i64, n: i64| {
        let events: Vec<Value> = (from..from + n)
            .map(|i| json!({"topic": "nba.live.1", "event_type": "e", "payload": {"i": i}}))
            .collect();
        s.call_ok("publish_events", json!({"events": events}));
    };
    let poll = |s: &mut Server, max: i64| {
        let polled = s.call_ok("poll_events", json!({"subscription_id": sub, "max": max}));
        let acked: Vec<String> = ids(&polled);
        s.call_ok(
            "ack_events",
            json!({"subscription_id": sub, "event_ids": acked}),
        );
        polled
    };
    publish(&mut a, 0, 50);
    // Read in turns through both machines: each sees where the other stopped.
    for (on_a, want) in [(true, 0..20), (false, 20..40), (true, 40..50)] {
        let polled = poll(if on_a { &mut a } else { &mut b }, 20);
        assert_eq!(payload_is(&polled), want.collect::<Vec<_>>(), "{polled}");
        assert!(polled.get("skipped").is_none(), "{polled}");
    }
    // 300 more while nobody reads: the rule keeps the last 100 (250-349).
    publish(&mut b, 50, 300);
    let polled = poll(&mut b, 10);
    assert_eq!(
        payload_is(&polled),
        (250..260).collect::<Vec<_>>(),
        "{polled}"
    );
    let first = polled["events"][0]["sequence"].as_i64().unwrap();
    let skipped = &polled["skipped"];
    assert_eq!(skipped["count"], 200, "{polled}");
    assert_eq!(skipped["last_sequence"], first - 1, "{polled}");
    assert_eq!(skipped["first_sequence"], first - 200, "{polled}");
    // Reported once, whichever machine polls next.
    let polled = poll(&mut a, 10);
    assert_eq!(
        payload_is(&polled),
        (260..270).collect::<Vec<_>>(),
        "{polled}"
    );
    assert!(polled.get("skipped").is_none(), "{polled}");
}
