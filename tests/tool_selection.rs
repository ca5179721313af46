//! `--read-only`, `--tools` and `--disable-tools`: which tools a server
//! lists and answers, reported by `server_info`; unknown names refuse to
//! start; a call to a tool not served names it.

mod common;

use std::process::Command;

use common::Server;
use serde_json::{Value, json};

fn run_cli(args: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(common::binary())
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn listed(server: &mut Server) -> Vec<Value> {
    server.request_ok("tools/list", json!({}))["tools"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn read_only_serves_only_tools_annotated_read_only_and_refuses_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(&tmp.path().join("data"), &["--read-only"]);
    let tools = listed(&mut server);
    assert!(tools.len() >= 15, "{}", tools.len());
    for t in &tools {
        assert_eq!(
            t["annotations"]["readOnlyHint"],
            json!(true),
            "{} is listed in read-only mode",
            t["name"]
        );
    }
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for writer in [
        "erase_subject",
        "audit_log",
        "publish_event",
        "audit_export",
    ] {
        assert!(!names.contains(&writer), "{writer} listed");
    }
    assert!(names.contains(&"verify_chain") && names.contains(&"server_info"));
    // Not callable either: the error names the tool and the flag.
    let answer = server.request(
        "tools/call",
        json!({"name": "erase_subject", "arguments": {"user_id": "u1", "reason": "x"}}),
    );
    assert_eq!(answer["error"]["code"], json!(-32602), "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("`erase_subject`"), "{message}");
    assert!(message.contains("--read-only"), "{message}");
    let info = server.call_ok("server_info", json!({}));
    assert_eq!(info["read_only"], json!(true));
    assert_eq!(
        info["tools"].as_array().unwrap().len(),
        tools.len(),
        "{info}"
    );
}

#[test]
fn tools_and_disable_tools_pick_tools_by_name_and_server_info_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(
        &tmp.path().join("data"),
        &[
            "--toolsets",
            "audit,events",
            "--disable-tools",
            "erase_subject,unsubscribe",
        ],
    );
    let names: Vec<String> = listed(&mut server)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.contains(&"erase_subject".to_string()));
    assert!(!names.contains(&"unsubscribe".to_string()));
    assert!(names.contains(&"audit_log".to_string()));
    let info = server.call_ok("server_info", json!({}));
    assert_eq!(info["read_only"], json!(false));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(info["tools"], json!(sorted));
    drop(server);

    let tmp2 = tempfile::tempdir().unwrap();
    let mut server = Server::start_with_env(
        &tmp2.path().join("data"),
        &[],
        &[("SMART_SYSTEMS_TOOLS", "audit_log,verify_chain")],
    );
    server.initialize();
    let mut names: Vec<String> = listed(&mut server)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["audit_log", "server_info", "verify_chain"]);
}

#[test]
fn an_unknown_tool_name_in_the_selection_is_a_startup_error_listing_the_tools() {
    let (code, stderr) = run_cli(&["--tools", "audit_log,erase_everything"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`erase_everything`"), "{stderr}");
    assert!(stderr.contains("audit_log"), "{stderr}");
    // A tool of a toolset that is not enabled is not in the selection's reach.
    let (code, stderr) = run_cli(&["--toolsets", "events", "--disable-tools", "erase_subject"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`erase_subject`"), "{stderr}");
}

#[test]
fn a_call_to_a_tool_that_does_not_exist_names_it_briefly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &[]);
    let init = server.initialize();
    let info = &init["serverInfo"];
    assert_eq!(info["name"], json!("smart-systems-mcp"));
    assert!(
        info["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{init}"
    );
    assert!(
        info["description"].as_str().is_some_and(|t| !t.is_empty()),
        "{init}"
    );
    let long = format!("no_such_tool_{}", "x".repeat(100_000));
    for name in ["no_such_tool", long.as_str()] {
        let answer = server.request("tools/call", json!({"name": name, "arguments": {}}));
        assert_eq!(answer["error"]["code"], json!(-32602), "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("unknown tool `no_such_tool"), "{message}");
        assert!(message.len() < 300, "{}", message.len());
    }
}

#[test]
fn every_tool_has_a_top_level_title() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(&tmp.path().join("data"), &[]);
    let tools = listed(&mut server);
    assert!(tools.len() >= 41);
    for t in &tools {
        let title = t["title"].as_str().unwrap_or("");
        assert!(!title.is_empty(), "{} has no title", t["name"]);
        assert_eq!(t["annotations"]["title"], t["title"], "{}", t["name"]);
    }
}

#[test]
fn stateless_clients_may_cache_the_tool_list_but_not_the_topic_list() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &[]);
    let meta = json!({"_meta": common::stateless_meta()});
    let tools = server.request_ok("tools/list", meta.clone());
    assert_eq!(tools["ttlMs"], json!(600_000), "{}", tools["ttlMs"]);
    assert_eq!(tools["cacheScope"], json!("public"));
    let templates = server.request_ok("resources/templates/list", meta.clone());
    assert_eq!(templates["ttlMs"], json!(600_000));
    // Topics come and go: that list stays uncached.
    let topics = server.request_ok("resources/list", meta);
    assert_eq!(topics["ttlMs"], json!(0), "{topics}");
    // A 2025-11-25 session gets no cache fields at all.
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(&tmp.path().join("data"), &[]);
    let tools = server.request_ok("tools/list", json!({}));
    assert!(tools.get("ttlMs").is_none(), "{}", tools["ttlMs"]);
}
