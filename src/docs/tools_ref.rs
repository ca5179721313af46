//! The Markdown reference of an MCP server's own tools (name, description,
//! annotations, arguments and result fields from the input and output JSON
//! Schemas), so a README's tool reference can be generated rather than
//! written by hand and left to drift. Field tables are read from the schemas'
//! top-level `properties` (with `$ref`s into `$defs` followed once); the full
//! schemas follow each table.

use std::fmt::Write;

use serde_json::Value;

use super::api::table_cell;

/// One tool as the server lists it.
#[derive(Debug, Clone)]
pub struct ToolDoc {
    /// Tool name.
    pub name: String,
    /// Human title, when set.
    pub title: Option<String>,
    /// Description (the tool's doc comment).
    pub description: String,
    /// Input JSON Schema.
    pub input_schema: Value,
    /// Output JSON Schema, when the tool has structured output.
    pub output_schema: Option<Value>,
    /// `readOnlyHint`.
    pub read_only: Option<bool>,
    /// `destructiveHint`.
    pub destructive: Option<bool>,
}

/// The reference for `tools`, sorted by name.
pub fn markdown(server: &str, tools: &[ToolDoc]) -> String {
    let mut tools: Vec<&ToolDoc> = tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    let _ = writeln!(out, "# {server} tool reference\n\n{} tools.\n", tools.len());
    for t in &tools {
        let _ = writeln!(out, "- [`{}`](#{})", t.name, t.name.to_lowercase());
    }
    out.push('\n');
    for t in tools {
        let _ = writeln!(out, "## {}\n", t.name);
        if let Some(title) = &t.title {
            let _ = writeln!(out, "*{title}*\n");
        }
        let mut hints = Vec::new();
        match t.read_only {
            Some(true) => hints.push("read-only"),
            Some(false) => hints.push("writes"),
            None => {}
        }
        if t.destructive == Some(true) {
            hints.push("destructive");
        }
        if !hints.is_empty() {
            let _ = writeln!(out, "Annotations: {}.\n", hints.join(", "));
        }
        let _ = writeln!(out, "{}\n", t.description.trim());
        field_table(&mut out, "Arguments", &t.input_schema);
        if let Some(o) = &t.output_schema {
            field_table(&mut out, "Result", o);
        }
        let _ = writeln!(
            out,
            "<details><summary>Input schema</summary>\n\n```json\n{}\n```\n\n</details>\n",
            pretty(&t.input_schema)
        );
        if let Some(o) = &t.output_schema {
            let _ = writeln!(
                out,
                "<details><summary>Output schema</summary>\n\n```json\n{}\n```\n\n</details>\n",
                pretty(o)
            );
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn field_table(out: &mut String, title: &str, schema: &Value) {
    let Some(props) = schema["properties"].as_object() else {
        let _ = writeln!(out, "**{title}**: none.\n");
        return;
    };
    if props.is_empty() {
        let _ = writeln!(out, "**{title}**: none.\n");
        return;
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "**{title}**\n\n| name | type | required | description |\n|---|---|---|---|"
    );
    for (name, prop) in props {
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} |",
            table_cell(&type_of(prop, schema)),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            table_cell(prop["description"].as_str().unwrap_or(""))
        );
    }
    out.push('\n');
}

/// The values of a string enum: `enum: [..]`, or `oneOf` of `const`s (what
/// schemars writes when the variants have doc comments).
fn enum_values(schema: &Value) -> Option<Vec<String>> {
    let show = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    if let Some(values) = schema["enum"].as_array() {
        return Some(values.iter().map(show).collect());
    }
    let alts = schema["oneOf"]
        .as_array()
        .or_else(|| schema["anyOf"].as_array())?;
    alts.iter()
        .map(|a| {
            a.get("const").map(show).or_else(|| {
                a["enum"]
                    .as_array()
                    .filter(|e| e.len() == 1)
                    .map(|e| show(&e[0]))
            })
        })
        .collect()
}

/// A short type name for a property schema.
fn type_of(prop: &Value, root: &Value) -> String {
    if let Some(r) = prop["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        let target = root["$defs"]
            .get(name)
            .or_else(|| root["definitions"].get(name));
        if let Some(values) = target.and_then(enum_values) {
            return values.join(" | ");
        }
        return name.to_string();
    }
    if let Some(values) = enum_values(prop) {
        return values.join(" | ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = prop[key].as_array() {
            return alts
                .iter()
                .map(|a| type_of(a, root))
                .collect::<Vec<_>>()
                .join(" or ");
        }
    }
    match &prop["type"] {
        Value::String(t) if t == "array" => format!("array of {}", type_of(&prop["items"], root)),
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_come_from_the_schemas() {
        let tool = ToolDoc {
            name: "t".into(),
            title: None,
            description: "Does t.".into(),
            input_schema: json!({"type": "object", "properties": {"a": {"type": "string", "description": "The a | b"}, "k": {"$ref": "#/$defs/K"}}, "required": ["a"], "$defs": {"K": {"enum": ["x", "y"]}}}),
            output_schema: Some(
                json!({"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}),
            ),
            read_only: Some(true),
            destructive: None,
        };
        let md = markdown("srv", &[tool]);
        assert!(md.contains("| `a` | string | yes | The a \\| b |"), "{md}");
        assert!(md.contains("| `k` | x \\| y | no |"), "{md}");
        assert_eq!(
            type_of(
                &json!({"oneOf": [{"const": "a"}, {"const": "b"}]}),
                &json!({})
            ),
            "a | b"
        );
        assert!(md.contains("| `n` | integer or null | no |"), "{md}");
        assert!(md.contains("Annotations: read-only."), "{md}");
    }
}
