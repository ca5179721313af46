//! The store's write-ahead log stays under its documented bound while
//! clients write back to back, with a long poll and readers running; and
//! request lines the server cannot parse, of any size up to the line limit,
//! are still answered.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Server, events_backend, store_backend, temp_dir};
use serde_json::json;

/// The limit the servers here run with (`SMART_SYSTEMS_WAL_LIMIT_MIB`).
const LIMIT_MIB: u64 = 2;
/// The documented bound: the limit plus the one transaction that crossed it
/// (every transaction here is far smaller than this allowance).
const BOUND: u64 = (LIMIT_MIB << 20) + (1 << 20);

fn wal_of(data: &Path) -> PathBuf {
    data.join("smart-systems.db-wal")
}

fn start(data: &Path, toolsets: &str) -> Server {
    let mut s = Server::start_with_env(
        data,
        &["--toolsets", toolsets],
        &[("SMART_SYSTEMS_WAL_LIMIT_MIB", &LIMIT_MIB.to_string())],
    );
    s.initialize();
    s
}

/// Records the largest size the WAL file reaches until `done`.
fn watch_wal(
    wal: PathBuf,
    done: Arc<AtomicBool>,
    largest: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            if let Ok(m) = std::fs::metadata(&wal) {
                largest.fetch_max(m.len(), Ordering::SeqCst);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    })
}

#[test]
fn publishes_and_audit_entries_back_to_back_keep_the_wal_under_its_bound() {
    if events_backend() != "sqlite" || store_backend() != "sqlite" {
        eprintln!("skipped: the WAL is the embedded SQLite store's");
        return;
    }
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut publisher = start(&data, "events,audit");
    let done = Arc::new(AtomicBool::new(false));
    let largest = Arc::new(AtomicU64::new(0));
    let watcher = watch_wal(wal_of(&data), done.clone(), largest.clone());

    // Three more clients (server processes on the same data dir) append
    // audit entries back to back, each reading the trail now and then.
    let auditors: Vec<_> = (0..3)
        .map(|c| {
            let data = data.clone();
            std::thread::spawn(move || {
                let mut s = start(&data, "audit");
                for i in 0..300 {
                    let r = s.call_ok(
                        "audit_log",
                        json!({
                            "user_id": format!("user-{c}"),
                            "action": "update",
                            "resource_type": "player",
                            "resource_id": format!("p{c}-{i}"),
                            "severity": "info",
                            "user_email": format!("user{c}@example.com"),
                            "details": {"i": i, "note": "n".repeat(1000)},
                            "changes": {"before": {"salary": i}, "after": {"salary": i + 1}},
                        }),
                    );
                    assert!(r["sequence"].as_u64().is_some(), "{r}");
                    if i % 50 == 0 {
                        s.call_ok("audit_query", json!({"limit": 20}));
                    }
                }
            })
        })
        .collect();

    // A long poll waits on a topic nobody publishes to the whole time.
    let sub = publisher.call_ok(
        "subscribe",
        json!({"name": "waiter", "topics": ["quiet.>"]}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    let poll_id = json!(900_000_001);
    publisher.send(
        &json!({"jsonrpc": "2.0", "id": poll_id, "method": "tools/call",
        "params": {"name": "poll_events",
                   "arguments": {"subscription_id": sub, "wait_ms": 30_000}}}),
    );
    let payload = json!({"stats": "s".repeat(8 * 1024)});
    for i in 0..1_500 {
        let out = publisher.call_ok(
            "publish_event",
            json!({"topic": format!("nba.games.{}", i % 8), "event_type": "score", "payload": payload}),
        );
        assert!(out["sequence"].as_i64().is_some(), "{out}");
        if i % 100 == 0 {
            publisher.call_ok("replay_events", json!({"topics": ["nba.>"], "limit": 50}));
        }
    }
    for a in auditors {
        a.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    // An event on its topic ends the long poll.
    publisher.call_ok(
        "publish_event",
        json!({"topic": "quiet.end", "event_type": "end"}),
    );
    let polled = publisher.wait_for_id(&poll_id);
    assert!(polled.get("result").is_some(), "{polled}");

    let largest = largest.load(Ordering::SeqCst);
    eprintln!("largest WAL file seen: {largest} bytes");
    assert!(
        largest <= BOUND,
        "the WAL reached {largest} bytes; the bound is {BOUND} (limit {LIMIT_MIB} MiB)"
    );
    // Everything written is there.
    let mut replayed = 0;
    let mut cursor = json!(null);
    for _ in 0..2000 {
        let page = publisher.call_ok(
            "replay_events",
            json!({"topics": ["nba.>"], "limit": 1000, "cursor": cursor}),
        );
        replayed += page["events"].as_array().unwrap().len();
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(replayed, 1_500);
    let verify = publisher.call_ok("verify_chain", json!({}));
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["entries_checked"], 900, "{verify}");
}

#[test]
fn an_unparsable_request_line_of_two_mebibytes_is_answered_under_its_id() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &["--toolsets", "events"]);
    let pad = "p".repeat(2 << 20);
    let cases = [
        (
            json!(7001),
            format!("{}{}", "[".repeat(200), "]".repeat(200)),
            "recursion limit",
        ),
        (
            json!("lone-7002"),
            r#""\ud800""#.to_string(),
            "invalid JSON",
        ),
        (json!(7003), "1e400".to_string(), "invalid JSON"),
    ];
    for (id, bad, why) in cases {
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"publish_event","arguments":{{"topic":"a","event_type":"b","payload":{{"pad":"{pad}","v":{bad}}}}}}}}}"#
        );
        assert!(line.len() > 2 << 20);
        s.send_line(&line);
        let resp = s.wait_for_id(&id);
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(why),
            "{}",
            &resp.to_string()[..300.min(resp.to_string().len())]
        );
        // And the server is still there for the next request.
        let info = s.call_ok("server_info", json!({}));
        assert_eq!(info["name"], "smart-systems-mcp");
    }
}

#[test]
fn tools_call_arguments_that_are_not_an_object_are_invalid_params_naming_arguments() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &["--toolsets", "events"]);
    for (id, arguments, kind) in [
        (8001, json!([1, 2]), "an array"),
        (8002, json!("text"), "a string"),
        (8003, json!(5), "a number"),
        (8004, json!(true), "a boolean"),
    ] {
        s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "publish_event", "arguments": arguments}}));
        let resp = s.wait_for_id(&json!(id));
        assert_eq!(resp["error"]["code"], -32602, "{resp}");
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("`arguments`") && message.contains(kind),
            "{resp}"
        );
    }
    let info = s.call_ok("server_info", json!({}));
    assert_eq!(info["name"], "smart-systems-mcp");
}
