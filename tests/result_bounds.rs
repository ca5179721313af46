//! No answer over 20k tokens (`--max-answer-tokens`, default 20,000;
//! Claude Code refuses tool output over 25k), whatever the input: every
//! tool whose answer grows with the data or the input is driven at its
//! maxima with large, hard-to-tokenize data, and each answer is counted
//! with a real tokenizer (o200k). Pages end early and the rest still comes
//! (nothing is lost to the bound), batch answers say what they left out,
//! and anything else over the bound is refused with how to ask for less.

mod common;

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// The most tokens an agent-facing page may carry.
const MAX_RESULT_TOKENS: usize = 20_000;

/// Tokens of the larger copy of an answer: its text, or its structured
/// content (clients hand the model one or the other).
fn tokens(result: &Value) -> usize {
    let text: String = result["content"]
        .as_array()
        .map(|c| c.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default();
    let bpe = bpe_openai::o200k_base();
    let structured = match &result["structuredContent"] {
        Value::Null => 0,
        v => bpe.count(&v.to_string()),
    };
    bpe.count(&text).max(structured)
}

/// Calls `tool`, asserts the bound and success; returns the structured answer.
fn bounded(s: &mut Server, tool: &str, args: Value) -> Value {
    let result = s.call_tool(tool, args);
    let n = tokens(&result);
    assert!(
        n <= MAX_RESULT_TOKENS,
        "{tool}: {n} tokens, over {MAX_RESULT_TOKENS}"
    );
    assert_ne!(result["isError"], json!(true), "{tool}: {result}");
    result
}

/// `check_metrics` on `points` within the bound (see [`bounded`]): its
/// structured answer and how many results it listed and omitted, which
/// must account for every point.
fn bounded_batch(s: &mut Server, points: Vec<Value>) -> (Value, usize, usize) {
    let n = points.len();
    let r = bounded(s, "check_metrics", json!({ "points": points }));
    let out = r["structuredContent"].clone();
    let listed = out["results"].as_array().unwrap().len();
    let omitted = out["results_omitted"].as_u64().unwrap_or(0) as usize;
    assert_eq!(listed + omitted, n, "every point accounted for");
    (out, listed, omitted)
}

/// Follows `next_cursor` from `args`, asserting the bound on every page;
/// returns how many items of `field` the pages held in all.
fn all_pages(s: &mut Server, tool: &str, mut args: Value, field: &str) -> usize {
    let mut n = 0;
    for _ in 0..2000 {
        let r = bounded(s, tool, args.clone());
        n += r["structuredContent"][field].as_array().map_or(0, Vec::len);
        match r["structuredContent"]["next_cursor"].as_str() {
            Some(c) => args["cursor"] = json!(c),
            None => return n,
        }
    }
    panic!("{tool}: no last page after 2000 pages");
}

/// Text that tokenizes badly (about 1.3 characters a token): printable
/// ASCII from a fixed pseudo-random sequence.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let c = b' ' + ((x >> 33) % 94) as u8;
            if c == b'"' || c == b'\\' {
                'x'
            } else {
                c as char
            }
        })
        .collect()
}

#[test]
fn the_tool_reference_and_crate_docs_come_in_pages_within_the_bound() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);

    // The server's own tool reference: paged, every page within the bound.
    all_pages(
        &mut s,
        "generate_api_spec",
        json!({"source": "mcp_tools"}),
        "markdown",
    );

    // This crate's documentation and diagrams.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let items = all_pages(
        &mut s,
        "generate_docs",
        json!({"path": src, "list_items": true}),
        "items",
    );
    assert!(items > 500, "{items} items of this crate listed");
}

#[test]
fn event_pages_stay_within_the_bound_and_lose_nothing() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = s.call_ok(
        "subscribe",
        json!({"name": "big", "topics": ["big.>"], "start": "earliest"}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    let events: Vec<Value> = (0..400)
        .map(|i| {
            json!({"topic": "big.stream", "event_type": "noise",
                        "payload": {"i": i, "text": noise(i, 1500)}})
        })
        .collect();
    s.call_ok("publish_events", json!({"events": events}));

    // poll_events at its maximum: bounded pages, every event exactly once.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let r = bounded(
            &mut s,
            "poll_events",
            json!({"subscription_id": sub, "max": 1000}),
        );
        let got = r["structuredContent"]["events"].as_array().unwrap().clone();
        if got.is_empty() {
            break;
        }
        let ids: Vec<Value> = got.iter().map(|e| e["event_id"].clone()).collect();
        for e in &got {
            assert!(
                seen.insert(e["payload"]["i"].as_i64().unwrap()),
                "delivered twice: {e}"
            );
        }
        s.call_ok(
            "ack_events",
            json!({"subscription_id": sub, "event_ids": ids}),
        );
    }
    assert_eq!(seen.len(), 400, "every event delivered");

    // replay_events at its maximum: bounded pages that reach the end.
    let n = all_pages(
        &mut s,
        "replay_events",
        json!({"topics": ["big.>"], "limit": 1000}),
        "events",
    );
    assert_eq!(n, 400, "replay reaches every event");
}

#[test]
fn audit_and_alert_lists_stay_within_the_bound_and_page_through_everything() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    for i in 0..300 {
        s.call_ok(
            "audit_log",
            json!({"user_id": format!("u{i}"), "action": "read", "resource_type": "player",
                   "resource_id": format!("p{i}"), "details": {"note": noise(i, 600)}}),
        );
    }
    let n = all_pages(&mut s, "audit_query", json!({"limit": 500}), "entries");
    assert_eq!(n, 300, "audit_query pages reach every entry");

    // 10,000 points, each source its own alert with long labels.
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "hot", "metric_name": "temp", "condition": "value > 50", "severity": "critical"}),
    );
    s.call_ok(
        "set_escalation_policy",
        json!({"severity": "critical", "levels": [{"after_seconds": 0, "notify": ["oncall"]}]}),
    );
    let points: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"metric_name": "temp", "value": 90.0 + (i % 7) as f64,
                        "source": format!("host-{}", i % 700),
                        "labels": {"note": noise(i, 200)}, "timestamp": 1_767_600_000 + i})
        })
        .collect();
    let (_, _, omitted) = bounded_batch(&mut s, points);
    assert!(omitted > 0, "10,000 results do not fit in 20k tokens");

    let n = all_pages(&mut s, "list_alerts", json!({"limit": 500}), "alerts");
    assert!(n >= 700, "list_alerts pages reach every alert: {n}");
    let e = bounded(&mut s, "escalations", json!({"limit": 500}));
    assert!(e["structuredContent"]["total"].as_u64().unwrap() >= 700);
}

#[test]
fn a_quiet_batch_over_the_bound_keeps_its_few_alerts_and_cuts_only_its_results() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    s.call_ok(
        "add_alert_rule",
        json!({"rule_id": "spike", "metric_name": "rps", "condition": "value > 1000", "severity": "warning"}),
    );
    // Four spikes, one per source.
    let points: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"metric_name": "rps", "value": if i % 2501 == 7 { 5000.0 } else { 10.0 },
                   "source": format!("edge-{}", i % 4), "timestamp": 1_767_600_000 + i})
        })
        .collect();
    let (out, listed, omitted) = bounded_batch(&mut s, points);
    assert!(
        omitted > 0 && listed > 1000,
        "{listed} listed, {omitted} omitted"
    );
    assert_eq!(
        out["alerts"].as_array().unwrap().len(),
        4,
        "{}",
        out["alerts"]
    );
    assert!(
        out.get("alerts_omitted").is_none(),
        "{}",
        out["alerts_omitted"]
    );
}

#[test]
fn diagrams_fit_and_inputs_too_large_to_answer_get_an_error_saying_so() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let r = bounded(
        &mut s,
        "generate_diagram",
        json!({"kind": "type_graph", "path": src}),
    );
    assert_eq!(r["structuredContent"]["truncated"], json!(true));

    // An architecture drawing is as large as what it is given: over the
    // bound it is refused, naming the bound, never sent oversize.
    let components: Vec<Value> = (0..1000)
        .map(|i| json!({"id": format!("c{i}"), "name": noise(i, 150), "type": "service"}))
        .collect();
    let r = s.call_tool(
        "generate_diagram",
        json!({"kind": "architecture", "components": components}),
    );
    assert_eq!(r["isError"], json!(true), "{}", tokens(&r));
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("--max-answer-tokens") && text.contains("generate_diagram"),
        "{text}"
    );
    assert!(tokens(&r) < 1000);

    // Scripts that want whole answers lift the bound.
    let mut s = Server::started(&tmp.path().join("data2"), &["--max-answer-tokens", "0"]);
    let r = s.call_tool(
        "generate_diagram",
        json!({"kind": "architecture", "components": components}),
    );
    assert_ne!(r["isError"], json!(true));
    assert!(tokens(&r) > MAX_RESULT_TOKENS);
}

#[test]
fn a_crate_with_thousands_of_broken_modules_gets_a_bounded_report() {
    let tmp = temp_dir();
    let krate = tmp.path().join("krate");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let mut lib = String::new();
    for i in 0..3000 {
        lib.push_str(&format!("pub mod m{i};\n"));
        std::fs::write(
            krate.join(format!("src/m{i}.rs")),
            format!("pub fn f{i}( {{ {}\n", noise(i, 40)),
        )
        .unwrap();
    }
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();
    let root = tmp.path().to_str().unwrap().to_string();
    let mut s = Server::started(&tmp.path().join("data"), &["--root", &root]);
    let out = tmp.path().join("out");
    let r = bounded(
        &mut s,
        "generate_docs",
        json!({"path": krate.to_str().unwrap(), "output_dir": out.to_str().unwrap()}),
    );
    let o = &r["structuredContent"];
    assert_eq!(o["problems_total"], 3000, "{}", o["problems_total"]);
    let listed = o["problems"].as_array().unwrap().len();
    assert!(listed > 0 && listed < 3000, "{listed}");
}

#[test]
fn event_stats_of_a_bus_with_thousands_of_topics_fits() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let events: Vec<Value> = (0..3000)
        .map(|i| json!({"topic": format!("nba.games.{i}"), "event_type": "game.started"}))
        .collect();
    s.call_ok("publish_events", json!({"events": events}));
    for i in 0..5 {
        s.call_ok(
            "subscribe",
            json!({"name": format!("s{i}"), "topics": ["nba.>"]}),
        );
    }
    let r = bounded(&mut s, "event_stats", json!({"limit": 1000}));
    let o = &r["structuredContent"];
    // All 3,000 on SQLite; NATS reports at most 1,000 subjects of a stream.
    let total = o["total_topics"].as_u64().unwrap();
    assert!(total >= 1000, "{total}");
    if common::events_backend() == "sqlite" {
        assert_eq!(total, 3000);
    }
    let listed = o["topics"].as_array().unwrap();
    assert!(
        !listed.is_empty() && (listed.len() as u64) < total,
        "{}",
        listed.len()
    );
    let names: Vec<&str> = listed
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "listed by name");
    if common::events_backend() == "sqlite" {
        // The most recently written ones.
        assert!(names.contains(&"nba.games.2999"), "{names:?}");
    }
    assert_eq!(o["subscriptions"].as_array().unwrap().len(), 5);
}
