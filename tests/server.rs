//! The server itself, as a client meets it over stdio: handshake in both
//! protocol eras, `server_info`, flags, the error contract, robustness
//! against bad input, shared data dirs and clean shutdown.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, binary, stateless_meta, temp_dir};
use serde_json::{Value, json};

#[test]
fn handshake_lists_tools_and_server_info_reports_the_process() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::start(&data, &[]);
    let init = s.initialize();
    assert_eq!(init["serverInfo"]["name"], "smart-systems-mcp");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");

    let list = s.request_ok("tools/list", json!({}));
    let info_tool = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "server_info")
        .expect("server_info is listed")
        .clone();
    assert_eq!(info_tool["annotations"]["readOnlyHint"], true);
    assert_eq!(info_tool["outputSchema"]["type"], "object");
    assert!(
        info_tool["outputSchema"]["$schema"]
            .as_str()
            .unwrap()
            .contains("2020-12"),
        "output schema must be JSON Schema 2020-12 for Claude clients"
    );

    let result = s.call_tool("server_info", json!({}));
    assert_eq!(result["isError"], false);
    let info = &result["structuredContent"];
    assert_eq!(info["name"], "smart-systems-mcp");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let canonical = data.canonicalize().unwrap();
    assert_eq!(info["data_dir"], canonical.display().to_string());
    assert_eq!(
        info["store_path"],
        canonical.join("smart-systems.db").display().to_string()
    );
    assert!(canonical.join("smart-systems.db").is_file());
    assert!(info["store_schema_version"].as_i64().unwrap() >= 1);
    assert_eq!(
        info["toolsets"],
        json!(["events", "audit", "cost", "docs", "alerting"])
    );
    assert!(info["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(info["pid"], s.pid());
    // The text content carries the same data for clients without structured output.
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["data_dir"], info["data_dir"]);
    assert!(s.close().success());
}

#[test]
fn stateless_2026_era_discovers_and_calls_without_initialize() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &[]);
    let discover = s.request_ok("server/discover", json!({"_meta": stateless_meta()}));
    let versions = discover["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!("2026-07-28")), "{discover}");
    assert!(versions.contains(&json!("2025-11-25")), "{discover}");
    assert_eq!(
        discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "smart-systems-mcp"
    );

    let list = s.request_ok("tools/list", json!({"_meta": stateless_meta()}));
    assert!(
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "server_info")
    );
    let call = s.request_ok(
        "tools/call",
        json!({"name": "server_info", "arguments": {}, "_meta": stateless_meta()}),
    );
    assert_eq!(call["structuredContent"]["name"], "smart-systems-mcp");
    // A stateless client just closes stdin: that is a clean exit too.
    assert!(s.close().success());
}

#[test]
fn stdout_carries_only_json_rpc_even_with_debug_logging() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &["--log-level", "trace"]);
    s.initialize();
    s.request_ok("tools/list", json!({}));
    s.call_ok("server_info", json!({}));
    s.request(
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
    );
    s.send_line("this is not json");
    s.request_ok("ping", json!({}));
    let lines = s.stdout_lines.clone();
    let stderr_len = s.stderr().len();
    assert!(s.close().success());
    assert!(stderr_len > 0, "trace logging should write to stderr");
    let lines = lines.lock().unwrap();
    assert!(lines.len() >= 5, "expected responses, got {lines:?}");
    for line in lines.iter() {
        let msg: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert_eq!(msg["jsonrpc"], "2.0", "not JSON-RPC 2.0: {line}");
        assert!(
            msg.get("result").is_some()
                || msg.get("error").is_some()
                || msg.get("method").is_some(),
            "not a JSON-RPC message: {line}"
        );
    }
}

/// After each bad input, a valid call must still succeed.
fn assert_still_serving(s: &mut Server) {
    let info = s.call_ok("server_info", json!({}));
    assert_eq!(info["name"], "smart-systems-mcp");
}

#[test]
fn garbage_line_is_ignored_and_serving_continues() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    s.send_line("}{ definitely not json");
    s.send_line("");
    s.send_line("\u{0}\u{1}binary-ish");
    assert_still_serving(&mut s);
}

#[test]
fn a_request_that_is_not_valid_json_is_answered_under_its_id() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    // rmcp drops such lines with a debug log line; the client then waited
    // for its answer forever.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let lines = [
        (
            json!(101),
            format!(
                r#"{{"jsonrpc":"2.0","id":101,"method":"tools/call","params":{{"name":"publish_event","arguments":{{"topic":"a","event_type":"b","payload":{{"x":{deep}}}}}}}}}"#
            ),
            "recursion limit",
        ),
        (
            json!("r-102"),
            r#"{"jsonrpc":"2.0","id":"r-102","method":"tools/call","params":{"name":"publish_event","arguments":{"topic":"a","event_type":"b","payload":{"v":NaN}}}}"#.to_string(),
            "invalid JSON",
        ),
        (
            json!(106),
            r#"{"jsonrpc":"2.0","id":106,"method":"tools/list""#.to_string(),
            "invalid JSON",
        ),
        (
            json!(103),
            r#"{"jsonrpc":"2.0","id":103,"method":"tools/call","params":{"name":"publish_event","arguments":{"topic":"a\ud800","event_type":"b"}}}"#.to_string(),
            "invalid JSON",
        ),
    ];
    for (id, line, why) in lines {
        s.send_line(&line);
        let resp = s.wait_for_id(&id);
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{resp}");
    }
    // Arguments that are not an object were answered "method not found:
    // tools/call"; they are invalid params.
    for (id, arguments) in [(104, json!([])), (105, json!("str"))] {
        s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "server_info", "arguments": arguments}}));
        let resp = s.wait_for_id(&json!(id));
        assert_eq!(resp["error"]["code"], -32602, "{resp}");
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("`arguments`") && message.contains("JSON object"),
            "{resp}"
        );
    }
    assert_still_serving(&mut s);
}

#[test]
fn ten_mebibyte_line_does_not_stop_the_server() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    // 10 MiB of garbage on one line.
    let garbage = "x".repeat(10 * 1024 * 1024);
    s.send_line(&garbage);
    assert_still_serving(&mut s);
    // 10 MiB of valid JSON: a tool call with a huge unused argument.
    let big = json!({"jsonrpc": "2.0", "id": 9_000, "method": "tools/call",
        "params": {"name": "server_info", "arguments": {"padding": "y".repeat(10 * 1024 * 1024)}}});
    s.send(&big);
    let resp = s.wait_for_id(&json!(9_000));
    assert!(
        resp.get("result").is_some() || resp.get("error").is_some(),
        "{resp}"
    );
    assert_still_serving(&mut s);
}

#[test]
fn wrong_jsonrpc_version_gets_invalid_request() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    s.send(&json!({"jsonrpc": "1.0", "id": 77, "method": "tools/list"}));
    let err = s
        .wait_for(Duration::from_secs(10), |m| m.get("error").is_some())
        .expect("an error response to the 1.0 request");
    assert_eq!(err["error"]["code"], -32600, "{err}");
    assert_still_serving(&mut s);
}

#[test]
fn unknown_method_and_unknown_tool_are_json_rpc_errors() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let resp = s.request("no/such/method", json!({}));
    assert_eq!(resp["error"]["code"], -32601, "{resp}");
    let resp = s.request(
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
    );
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
    let resp = s.request("tools/call", json!({"arguments": {}}));
    assert!(resp.get("error").is_some(), "a call without a name: {resp}");
    assert_still_serving(&mut s);
}

#[test]
fn call_before_initialization_is_answered_with_an_error() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &[]);
    // No initialize and no 2026 `_meta`: the server cannot know the protocol.
    let resp = s.request(
        "tools/call",
        json!({"name": "server_info", "arguments": {}}),
    );
    assert!(resp.get("error").is_some(), "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocolVersion"),
        "error should say what is missing: {resp}"
    );
    // The handshake still works afterwards.
    s.initialize();
    assert_still_serving(&mut s);
}

#[test]
fn eof_ends_the_session_with_exit_zero() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    assert_still_serving(&mut s);
    let status = s.close();
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_ends_the_session_with_exit_zero() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    assert_still_serving(&mut s);
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", s.stderr());
    assert!(s.stderr().contains("SIGTERM"), "{}", s.stderr());
}

#[test]
fn sigterm_before_the_handshake_also_exits_zero() {
    let tmp = temp_dir();
    let mut s = Server::start(&tmp.path().join("data"), &[]);
    // Wait until the store is open and the server is reading stdin.
    let ping = s.request("tools/list", json!({"_meta": stateless_meta()}));
    assert!(ping.get("result").is_some(), "{ping}");
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

#[test]
fn two_processes_share_one_data_dir() {
    let tmp = temp_dir();
    let data = tmp.path().join("shared");
    // Start both before either has created the store.
    let mut a = Server::start(&data, &[]);
    let mut b = Server::start(&data, &[]);
    a.initialize();
    b.initialize();
    let ia = a.call_ok("server_info", json!({}));
    let ib = b.call_ok("server_info", json!({}));
    assert_eq!(ia["store_path"], ib["store_path"]);
    assert_eq!(ia["store_schema_version"], ib["store_schema_version"]);
    assert_ne!(ia["pid"], ib["pid"]);
    assert!(a.close().success());
    assert!(b.close().success());
}

#[test]
fn toolsets_flag_and_env_select_what_is_exposed() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("a"), &["--toolsets", "docs,events"]);
    assert_eq!(
        s.call_ok("server_info", json!({}))["toolsets"],
        json!(["events", "docs"])
    );
    drop(s);
    let mut s = Server::start_with_env(
        &tmp.path().join("b"),
        &[],
        &[("SMART_SYSTEMS_TOOLSETS", "audit")],
    );
    s.initialize();
    assert_eq!(
        s.call_ok("server_info", json!({}))["toolsets"],
        json!(["audit"])
    );
}

#[test]
fn unknown_toolset_is_a_startup_error_listing_the_valid_ones() {
    let out = Command::new(binary())
        .args(["--toolsets", "events,bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus"), "{err}");
    for name in ["events", "audit", "cost", "docs", "alerting"] {
        assert!(err.contains(name), "valid toolset {name} not listed: {err}");
    }
    assert!(out.stdout.is_empty(), "stdout must stay clean");
}

#[test]
fn bad_backend_urls_and_namespaces_are_startup_errors_naming_the_flag() {
    let cases: [(&[&str], &str); 4] = [
        (&["--events-url", "http://127.0.0.1:4222"], "--events-url"),
        (&["--store-url", "mysql://root:hunter2@db/x"], "--store-url"),
        (&["--namespace", "Prod.Team"], "--namespace"),
        (&["--namespace", ""], "--namespace"),
    ];
    for (args, flag) in cases {
        let out = Command::new(binary())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(
            !err.contains("hunter2"),
            "a password reached the log: {err}"
        );
        assert!(out.stdout.is_empty(), "stdout must stay clean");
    }
}

#[test]
fn unusable_data_dir_is_a_clear_startup_error() {
    let tmp = temp_dir();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(file.join("data"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data dir"), "{err}");
    assert!(err.contains("not-a-dir"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn data_dir_comes_from_env_and_is_created() {
    let tmp = temp_dir();
    let data = tmp.path().join("deep/er/data");
    let mut cmd = Command::new(binary());
    cmd.env("SMART_SYSTEMS_DATA_DIR", &data)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    assert!(cmd.status().unwrap().success());
    assert!(data.join("smart-systems.db").is_file());
}

#[test]
fn roots_flag_is_reported_and_checked() {
    let tmp = temp_dir();
    let r1 = tmp.path().join("r1");
    let r2 = tmp.path().join("r2");
    std::fs::create_dir_all(&r1).unwrap();
    std::fs::create_dir_all(&r2).unwrap();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &[
            "--root",
            r1.to_str().unwrap(),
            "--root",
            r2.to_str().unwrap(),
        ],
    );
    let info = s.call_ok("server_info", json!({}));
    assert_eq!(
        info["roots"],
        json!([
            r1.canonicalize().unwrap().display().to_string(),
            r2.canonicalize().unwrap().display().to_string()
        ])
    );
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(tmp.path().join("data2"))
        .arg("--root")
        .arg(tmp.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn help_and_version_work() {
    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("smart-systems-mcp {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data-dir",
        "--toolsets",
        "--root",
        "--log-level",
        "SMART_SYSTEMS_DATA_DIR",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}
