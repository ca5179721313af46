//! The answers that are paged for agents stay within 20k tokens a page
//! (Claude Code refuses tool output over 25k): the server's own tool
//! reference (`generate_api_spec {source: "mcp_tools"}`, 240 KB in one
//! piece before) and `generate_docs` on this crate with every item listed.
//! Counted with a real tokenizer (o200k). List tools with caller-chosen
//! page sizes (`poll_events`, `replay_events`, `audit_query` at their
//! maxima) can still answer more: see the #21 note.

mod common;

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// The most tokens an agent-facing page may carry.
const MAX_RESULT_TOKENS: usize = 20_000;

/// Tokens of the answer's text copy (what a client hands the model).
fn tokens(result: &Value) -> (usize, String) {
    let text: String = result["content"]
        .as_array()
        .map(|c| c.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default();
    (bpe_openai::o200k_base().count(&text), text)
}

/// Calls `tool` and asserts the bound; returns the result.
fn bounded(s: &mut Server, tool: &str, args: Value) -> Value {
    let result = s.call_tool(tool, args);
    let (n, _text) = tokens(&result);
    assert!(
        n <= MAX_RESULT_TOKENS,
        "{tool}: {n} tokens, over {MAX_RESULT_TOKENS}"
    );
    assert_ne!(result["isError"], json!(true), "{tool}: {result}");
    result
}

#[test]
fn the_tool_reference_and_crate_docs_come_in_pages_within_the_bound() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);

    // The server's own tool reference: paged, every page within the bound.
    let mut args = json!({"source": "mcp_tools"});
    for _ in 0..100 {
        let r = bounded(&mut s, "generate_api_spec", args.clone());
        match r["structuredContent"]["next_cursor"].as_str() {
            Some(c) => args["cursor"] = json!(c),
            None => break,
        }
    }

    // This crate's documentation and diagrams.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut args = json!({"path": src, "list_items": true});
    for _ in 0..200 {
        let r = bounded(&mut s, "generate_docs", args.clone());
        assert_ne!(r["isError"], json!(true), "{r}");
        match r["structuredContent"]["next_cursor"].as_str() {
            Some(c) => args["cursor"] = json!(c),
            None => break,
        }
    }
}
