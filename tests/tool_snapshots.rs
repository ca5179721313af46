//! Every tool's full definition (name, title, description, annotations,
//! input and output schemas) as `tools/list` sends it, one JSON file per tool
//! under `tests/snapshots/tools/`: tool names, arguments and result fields are
//! a contract agents and scripts rely on, so any change to one is a reviewed
//! diff of its snapshot. A tool added or removed is a file added or removed.
//!
//! Refresh after an intended change:
//! `SMART_SYSTEMS_UPDATE_SNAPSHOTS=1 cargo nextest run --test tool_snapshots`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::Server;
use serde_json::json;

#[test]
fn every_tool_definition_matches_its_snapshot() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/tools");
    let update = std::env::var("SMART_SYSTEMS_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::started(&tmp.path().join("data"), &[]);
    let tools = server.request_ok("tools/list", json!({}))["tools"]
        .as_array()
        .unwrap()
        .clone();
    if update {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut listed = BTreeSet::new();
    let mut stale = Vec::new();
    for tool in &tools {
        let name = tool["name"].as_str().unwrap().to_string();
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(tool).unwrap() + "\n";
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
        listed.insert(format!("{name}.json"));
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    let removed: Vec<&String> = on_disk.difference(&listed).collect();
    assert!(
        stale.is_empty() && removed.is_empty(),
        "tool definitions changed: {stale:?}; snapshots of tools no longer listed: {removed:?}. \
         Review the change, then refresh with \
         SMART_SYSTEMS_UPDATE_SNAPSHOTS=1 cargo nextest run --test tool_snapshots"
    );
}
