//! The tool list an agent pays for, counted with a real tokenizer (o200k,
//! the encoding of current OpenAI models; Claude's is not public and counts
//! within a few percent of it on JSON): all toolsets together stay within
//! 9,000 tokens model-facing (name, description, input schema per tool,
//! what a model reads) and 16,000 on the wire (the whole `tools/list`
//! `tools` array). Prints the figures per toolset, as the README lists them.

mod common;

use common::{Server, temp_dir};
use serde_json::{Value, json};

const MODEL_BUDGET: usize = 9_000;
const WIRE_BUDGET: usize = 16_000;

fn tokens(v: &Value) -> usize {
    bpe_openai::o200k_base().count(&v.to_string())
}

/// (wire, model-facing) tokens of a `tools` array.
fn measure(tools: &[Value]) -> (usize, usize) {
    let model: Vec<Value> = tools
        .iter()
        .map(|t| json!({"name": t["name"], "description": t["description"], "input_schema": t["inputSchema"]}))
        .collect();
    (
        tokens(&Value::Array(tools.to_vec())),
        tokens(&Value::Array(model)),
    )
}

fn tools_of(toolsets: &str) -> Vec<Value> {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &["--toolsets", toolsets]);
    let listed = s.request_ok("tools/list", json!({}));
    listed["tools"].as_array().unwrap().clone()
}

#[test]
fn the_tool_list_fits_the_token_budgets() {
    let all = tools_of("events,audit,cost,docs,alerting");
    let (wire, model) = measure(&all);
    println!("toolset      tools  model-facing  wire");
    for set in ["events", "audit", "cost", "docs", "alerting"] {
        let mut tools = tools_of(set);
        // server_info comes with every toolset: count it once, in the total.
        tools.retain(|t| t["name"] != "server_info");
        let (w, m) = measure(&tools);
        println!("{set:<12} {:>5}  {m:>12}  {w:>4}", tools.len());
    }
    println!("all          {:>5}  {model:>12}  {wire:>4}", all.len());
    assert!(
        model <= MODEL_BUDGET,
        "model-facing tool list is {model} tokens; the budget is {MODEL_BUDGET}"
    );
    assert!(
        wire <= WIRE_BUDGET,
        "tools/list is {wire} tokens on the wire; the budget is {WIRE_BUDGET}"
    );
}
