//! Prompts for the workflows people start by hand, and completion of their
//! arguments and of the `events://topics/{topic}` template.

mod common;

use common::Server;
use serde_json::{Value, json};

fn complete(server: &mut Server, reference: Value, name: &str, value: &str) -> Vec<String> {
    let result = server.request_ok(
        "completion/complete",
        json!({"ref": reference, "argument": {"name": name, "value": value}}),
    );
    result["completion"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn prompts_are_listed_with_titles_and_render_a_plan_naming_the_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &[]);
    let init = server.initialize();
    assert!(init["capabilities"]["prompts"].is_object(), "{init}");
    assert!(init["capabilities"]["completions"].is_object(), "{init}");
    let list = server.request_ok("prompts/list", json!({}));
    let names: Vec<&str> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "monthly_cost_review",
            "incident_triage",
            "compliance_evidence_pack",
            "document_codebase"
        ]
    );
    for p in list["prompts"].as_array().unwrap() {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
    }
    let got = server.request_ok(
        "prompts/get",
        json!({"name": "compliance_evidence_pack", "arguments": {
            "framework": "soc2", "start": "2026-11-01T00:00:00Z",
            "end": "2026-12-01T00:00:00Z", "export_path": "evidence.jsonl"}}),
    );
    let text = got["messages"][0]["content"]["text"].as_str().unwrap();
    assert_eq!(got["messages"][0]["role"], "user");
    for needle in [
        "verify_chain",
        "audit_checkpoint",
        "\"framework\": \"soc2\"",
        "\"start_time\": \"2026-11-01T00:00:00Z\"",
        "audit_export {\"path\": \"evidence.jsonl\"",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    // A required argument left out, and a value outside its set, name the argument.
    let missing = server.request(
        "prompts/get",
        json!({"name": "compliance_evidence_pack", "arguments": {"framework": "gdpr"}}),
    );
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`start`"),
        "{missing}"
    );
    let bad = server.request(
        "prompts/get",
        json!({"name": "compliance_evidence_pack", "arguments": {
            "framework": "pci", "start": "a", "end": "b"}}),
    );
    let message = bad["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`framework`") && message.contains("hipaa"),
        "{message}"
    );
    let unknown = server.request("prompts/get", json!({"name": "nope"}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[test]
fn prompt_arguments_and_topics_complete_from_what_is_known() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(&tmp.path().join("data"), &[]);
    let prompt = |name: &str| json!({"type": "ref/prompt", "name": name});
    assert_eq!(
        complete(
            &mut server,
            prompt("compliance_evidence_pack"),
            "framework",
            "h"
        ),
        ["hipaa"]
    );
    assert_eq!(
        complete(
            &mut server,
            prompt("monthly_cost_review"),
            "regions",
            "us-east-1,eu-w"
        ),
        [
            "us-east-1,eu-west-1",
            "us-east-1,eu-west-2",
            "us-east-1,eu-west-3"
        ]
    );
    for topic in ["nba.games.1", "nba.players.2", "audit.x"] {
        server.call_ok(
            "publish_event",
            json!({"topic": topic, "event_type": "t", "payload": {}}),
        );
    }
    let template = json!({"type": "ref/resource", "uri": "events://topics/{topic}"});
    assert_eq!(
        complete(&mut server, template.clone(), "topic", "nba.g"),
        ["nba.games.1"]
    );
    let mut all = complete(&mut server, template, "topic", "nba.");
    all.sort();
    assert_eq!(all, ["nba.games.1", "nba.players.2"]);
}

#[test]
fn a_server_without_the_toolsets_of_any_prompt_lists_none() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &["--toolsets", "events"]);
    let init = server.initialize();
    assert!(init["capabilities"].get("prompts").is_none(), "{init}");
    // Topics still complete.
    assert!(init["capabilities"]["completions"].is_object(), "{init}");
}

#[test]
fn logging_set_level_forwards_the_servers_records_at_or_above_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &["--log-level", "error"]);
    let init = server.initialize();
    assert!(init["capabilities"]["logging"].is_object(), "{init}");
    let deep = |id: u64| {
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\",\"params\":{{\"x\":{}1{}}}}}",
            "[".repeat(200),
            "]".repeat(200)
        )
    };
    // At `error`, the warning about the unreadable request is not sent.
    server.request_ok("logging/setLevel", json!({"level": "error"}));
    server.send_line(&deep(901));
    server.wait_for_id(&json!(901));
    server.call_ok("server_info", json!({}));
    let early = server.wait_for(std::time::Duration::from_millis(300), |m| {
        m["method"] == "notifications/message"
    });
    assert!(early.is_none(), "{early:?}");
    // At `warning` it is, with its logger.
    server.request_ok("logging/setLevel", json!({"level": "warning"}));
    server.send_line(&deep(902));
    server.wait_for_id(&json!(902));
    let note = server
        .wait_for(std::time::Duration::from_secs(10), |m| {
            m["method"] == "notifications/message"
        })
        .expect("a log notification");
    assert_eq!(note["params"]["level"], "warning", "{note}");
    assert!(
        note["params"]["logger"]
            .as_str()
            .unwrap()
            .starts_with("smart_systems_mcp"),
        "{note}"
    );
    assert!(
        note["params"]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("answering a request"),
        "{note}"
    );
}
