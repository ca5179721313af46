//! No implicit root: without `--root` the file tools use the roots the
//! client declares (`roots/list`, asked again after
//! `notifications/roots/list_changed`), and without either they refuse with
//! an error that says how to grant one. The shipped `mcp.json` starts the
//! installed binary unedited. The real binary over stdio.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// A tiny crate to document, in `dir`.
fn write_crate(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "//! Tiny.\n\n/// Adds.\npub fn add() {}\n",
    )
    .unwrap();
}

/// A server started without any root, like a desktop client starts it.
fn rootless(data: &Path) -> Server {
    Server::start_with_env(data, &[], &[("SMART_SYSTEMS_ROOTS", "")])
}

/// The 2025-11-25 handshake, declaring (or not) the roots capability.
fn initialize(s: &mut Server, roots: bool) {
    let capabilities = if roots {
        json!({"roots": {"listChanged": true}})
    } else {
        json!({})
    };
    s.request_ok(
        "initialize",
        json!({
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "roots-test", "version": "0"}
        }),
    );
    s.notify("notifications/initialized", json!({}));
}

/// Sends a tool call and answers the server's `roots/list` requests with
/// `roots` until the call's response arrives; returns the response and how
/// many times the roots were asked for.
fn call_answering_roots(
    s: &mut Server,
    name: &str,
    arguments: Value,
    roots: &[&Path],
) -> (Value, usize) {
    let id = s.next_id();
    s.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}}));
    let mut asked = 0;
    loop {
        let m = s
            .wait_for(Duration::from_secs(30), |m| {
                m.get("method") == Some(&json!("roots/list"))
                    || (m.get("id") == Some(&json!(id)) && m.get("method").is_none())
            })
            .expect("an answer or a roots/list request");
        if m.get("method") == Some(&json!("roots/list")) {
            asked += 1;
            let list: Vec<Value> = roots
                .iter()
                .map(|r| json!({"uri": format!("file://{}", r.display()), "name": "ws"}))
                .collect();
            s.send(&json!({"jsonrpc": "2.0", "id": m["id"], "result": {"roots": list}}));
            continue;
        }
        return (m["result"].clone(), asked);
    }
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn without_any_root_file_tools_refuse_and_say_how_to_grant_one() {
    let tmp = temp_dir();
    let base = tmp.path().canonicalize().unwrap();
    let krate = base.join("crate");
    write_crate(&krate);
    let mut s = rootless(&base.join("data"));
    initialize(&mut s, false);
    for (tool, args) in [
        ("generate_docs", json!({"path": krate.to_str().unwrap()})),
        (
            "generate_diagram",
            json!({"kind": "module_graph", "path": krate.to_str().unwrap()}),
        ),
        (
            "audit_export",
            json!({"path": base.join("out.jsonl").to_str().unwrap(), "format": "jsonl"}),
        ),
    ] {
        let err = s.call_err(tool, args);
        assert!(
            err.contains("no workspace root") && err.contains("--root"),
            "{tool}: {err}"
        );
    }
    assert!(!base.join("out.jsonl").exists(), "nothing was written");
    // Tools that touch no file keep working.
    s.call_ok("server_info", json!({}));
}

#[test]
fn the_clients_declared_roots_confine_the_file_tools() {
    let tmp = temp_dir();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    let other = base.join("other");
    write_crate(&ws);
    write_crate(&other);
    let mut s = rootless(&base.join("data"));
    initialize(&mut s, true);

    // The first file tool asks for the roots; the answer is cached.
    let (r, asked) = call_answering_roots(
        &mut s,
        "generate_docs",
        json!({"path": ws.to_str().unwrap()}),
        &[&ws],
    );
    assert_ne!(r["isError"], json!(true), "{r}");
    assert_eq!(r["structuredContent"]["item_counts"]["function"], json!(1));
    assert_eq!(asked, 1);
    let (r, asked) = call_answering_roots(
        &mut s,
        "generate_docs",
        json!({"path": other.to_str().unwrap()}),
        &[&ws],
    );
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(text(&r).contains("outside the workspace roots"), "{r}");
    assert_eq!(asked, 0, "the roots were cached");

    // An export outside the declared roots is refused and writes nothing.
    let (r, _) = call_answering_roots(
        &mut s,
        "audit_export",
        json!({"path": other.join("out.jsonl").to_str().unwrap(), "format": "jsonl"}),
        &[&ws],
    );
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(!other.join("out.jsonl").exists());
    let (r, _) = call_answering_roots(
        &mut s,
        "audit_export",
        json!({"path": ws.join("out.jsonl").to_str().unwrap(), "format": "jsonl"}),
        &[&ws],
    );
    assert_ne!(r["isError"], json!(true), "{r}");
    assert!(ws.join("out.jsonl").is_file());

    // The client's roots change: the next call asks again and sees the new ones.
    s.notify("notifications/roots/list_changed", json!({}));
    // Notifications and requests are handled concurrently: a round trip
    // lets the notification land first, as a client's next call would.
    s.request_ok("ping", json!({}));
    // (A call racing the notification may still see the old list; the
    // client's next one sees the new.)
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (r, asked) = call_answering_roots(
            &mut s,
            "generate_docs",
            json!({"path": other.to_str().unwrap()}),
            &[&other],
        );
        answers.push(r.clone());
        if asked > 0 {
            assert_ne!(r["isError"], json!(true), "{r}");
            return;
        }
    }
    panic!("the roots were never asked for again: {answers:?}");
}

#[test]
fn a_client_declaring_no_file_root_gets_the_how_to() {
    let tmp = temp_dir();
    let base = tmp.path().canonicalize().unwrap();
    write_crate(&base.join("ws"));
    let mut s = rootless(&base.join("data"));
    initialize(&mut s, true);
    let (r, asked) = call_answering_roots(
        &mut s,
        "generate_docs",
        json!({"path": base.join("ws").to_str().unwrap()}),
        &[],
    );
    assert_eq!(asked, 1);
    assert_eq!(r["isError"], json!(true), "{r}");
    assert!(text(&r).contains("--root"), "{r}");
}

#[test]
fn root_flag_wins_over_client_roots() {
    let tmp = temp_dir();
    let base = tmp.path().canonicalize().unwrap();
    let ws = base.join("ws");
    write_crate(&ws);
    let mut s = Server::start(&base.join("data"), &["--root", ws.to_str().unwrap()]);
    initialize(&mut s, true);
    let (r, asked) = call_answering_roots(
        &mut s,
        "generate_docs",
        json!({"path": ws.to_str().unwrap()}),
        &[],
    );
    assert_ne!(r["isError"], json!(true), "{r}");
    assert_eq!(asked, 0, "with --root the client is not asked");
}

/// The shipped `mcp.json`, unedited: its command is the name `cargo install
/// --path .` puts on the PATH, its env holds no placeholder, and the server
/// it starts answers the handshake and lists the tools.
#[test]
fn shipped_mcp_json_starts_the_installed_binary_unedited() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(manifest.join("mcp.json")).unwrap()).unwrap();
    let server = &config["mcpServers"]["smart-systems"];
    let command = server["command"].as_str().unwrap();
    assert_eq!(
        command,
        env!("CARGO_PKG_NAME"),
        "a bare name: cargo install puts the binary on the PATH under the package name"
    );
    let env = server["env"].as_object().cloned().unwrap_or_default();
    for (k, v) in &env {
        let v = v.as_str().unwrap_or("");
        assert!(
            !v.contains("/path/to") && !v.contains("your"),
            "{k}={v} is a placeholder"
        );
    }
    // "Installed": the built binary's directory first on the PATH.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_smart-systems-mcp"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tmp = temp_dir();
    let home = tmp.path().canonicalize().unwrap();
    let mut cmd = std::process::Command::new(command);
    cmd.args(
        server["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    )
    .current_dir("/")
    .env_clear()
    .env("PATH", path)
    .env("HOME", &home);
    for (k, v) in &env {
        cmd.env(k, v.as_str().unwrap());
    }
    let mut s = Server::from_command(cmd, &home.join("stderr.log"));
    s.initialize();
    assert!(s.tool_names().len() > 20);
    // Started in `/` with no root: file tools refuse rather than write there.
    let err = s.call_err(
        "audit_export",
        json!({"path": "out.jsonl", "format": "jsonl"}),
    );
    assert!(err.contains("no workspace root"), "{err}");
}
