//! Tool schemas every client can read. schemars writes what serde accepts,
//! in JSON Schema 2020-12; some clients map tool schemas onto narrower
//! dialects (one `type` per schema, no custom `format`s, an OpenAPI subset)
//! and reject or silently weaken what they cannot express. One pass over
//! every tool definition, when the router is built, rewrites the spellings
//! they trip on into equivalent ones:
//!
//! - input schemas: an optional argument is simply not `required`; `null`
//!   is dropped from its type (`["string", "null"]` becomes `"string"`, and
//!   `anyOf: [X, {"type": "null"}]` becomes X) because an argument that is
//!   absent and one that is `null` mean the same to every tool here;
//! - output schemas: a field that may be `null` keeps saying so, as
//!   `anyOf` branches of one type each (the answer does carry `null`);
//! - both: a `type` list of several types becomes `anyOf` branches, each
//!   with the keywords of its type; `format`s that JSON Schema does not
//!   define (schemars' `uint64`, `int32`, `double`, ...) are dropped (the
//!   `minimum` schemars adds for unsigned numbers stays).

use serde_json::{Map, Value};

/// Formats JSON Schema 2020-12 defines; any other is dropped.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Keywords that apply to one JSON type only, and move with it into its
/// `anyOf` branch.
fn keyword_type(key: &str) -> Option<&'static str> {
    Some(match key {
        "properties"
        | "additionalProperties"
        | "required"
        | "patternProperties"
        | "propertyNames"
        | "minProperties"
        | "maxProperties" => "object",
        "items" | "prefixItems" | "minItems" | "maxItems" | "uniqueItems" | "contains" => "array",
        "minLength" | "maxLength" | "pattern" => "string",
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => "number",
        _ => return None,
    })
}

/// Which side of a tool a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Arguments: absent and `null` mean the same.
    Input,
    /// Results: `null` is a value the answer carries.
    Output,
}

/// Rewrites a tool's input and output schemas (see the module doc), and
/// gives it a top-level `title` from its annotations' when it has none
/// (clients show one or the other).
pub fn make_portable(tool: &mut rmcp::model::Tool) {
    if tool.title.is_none() {
        tool.title = tool.annotations.as_ref().and_then(|a| a.title.clone());
    }
    if let Some(d) = &tool.description {
        tool.description = Some(one_line(d).into());
    }
    let mut input = Value::Object((*tool.input_schema).clone());
    rewrite(&mut input, Side::Input);
    compact_root(&mut input);
    inline_single_use_defs(&mut input);
    compact_input(&mut input);
    if let Value::Object(map) = input {
        tool.input_schema = std::sync::Arc::new(map);
    }
    if let Some(output) = &tool.output_schema {
        let mut output = Value::Object((**output).clone());
        rewrite(&mut output, Side::Output);
        compact_root(&mut output);
        if let Value::Object(map) = output {
            tool.output_schema = Some(std::sync::Arc::new(map));
        }
    }
}

/// Calls `f` on each schema directly inside `map`: the members of maps of
/// schemas (`properties`, `$defs`), and the value of each keyword that
/// holds a schema or a list of them (`f` is given the list whole).
fn each_subschema(map: &mut Map<String, Value>, mut f: impl FnMut(&mut Value)) {
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "patternProperties" => {
                if let Value::Object(children) = value {
                    children.values_mut().for_each(&mut f);
                }
            }
            "items"
            | "prefixItems"
            | "anyOf"
            | "oneOf"
            | "allOf"
            | "not"
            | "additionalProperties"
            | "contains"
            | "propertyNames" => f(value),
            _ => {}
        }
    }
}

/// Rewrites `schema` and every schema inside it.
pub fn rewrite(schema: &mut Value, side: Side) {
    match schema {
        Value::Object(map) => {
            each_subschema(map, |v| rewrite(v, side));
            rewrite_node(map, side);
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, side);
            }
        }
        _ => {}
    }
}

/// Spellings that cost tokens and say nothing a client needs: the root's
/// `$schema` (MCP schemas are 2020-12 unless they say otherwise) and the
/// descriptions of `$defs` entries (each use of a definition carries its
/// own description).
fn compact_root(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    map.remove("$schema");
    if let Some(Value::Object(defs)) = map.get_mut("$defs") {
        for def in defs.values_mut() {
            if let Value::Object(d) = def {
                d.remove("description");
            }
        }
    }
}

/// Definitions used once, written in place: a `$ref` and the entry's name
/// cost tokens and a lookup (some clients do not follow `$ref` at all) for
/// nothing shared. Definitions used twice or more, or by themselves, stay.
fn inline_single_use_defs(schema: &mut Value) {
    let Some(Value::Object(defs)) = schema.get("$defs").cloned() else {
        return;
    };
    let mut uses = std::collections::HashMap::<String, usize>::new();
    count_refs(schema, &mut uses);
    let inline: Map<String, Value> = defs
        .into_iter()
        .filter(|(name, def)| {
            let mut own = std::collections::HashMap::new();
            count_refs(def, &mut own);
            uses.get(name) == Some(&1) && !own.contains_key(name)
        })
        .collect();
    if inline.is_empty() {
        return;
    }
    if let Value::Object(map) = schema
        && let Some(Value::Object(defs)) = map.get_mut("$defs")
    {
        defs.retain(|name, _| !inline.contains_key(name));
        if defs.is_empty() {
            map.remove("$defs");
        }
    }
    replace_refs(schema, &inline);
}

fn def_name(r: &Value) -> Option<&str> {
    r.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
}

fn count_refs(v: &Value, uses: &mut std::collections::HashMap<String, usize>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map.get("$ref").and_then(def_name) {
                *uses.entry(name.to_string()).or_default() += 1;
            }
            map.values().for_each(|x| count_refs(x, uses));
        }
        Value::Array(items) => items.iter().for_each(|x| count_refs(x, uses)),
        _ => {}
    }
}

/// Replaces each `$ref` to an entry of `inline` by the entry, keeping the
/// referring schema's own keywords (its description) over the entry's.
fn replace_refs(v: &mut Value, inline: &Map<String, Value>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(def)) = map
                .get("$ref")
                .and_then(def_name)
                .and_then(|n| inline.get(n))
            {
                let mut merged = def.clone();
                map.remove("$ref");
                merged.extend(std::mem::take(map));
                *map = merged;
            }
            map.values_mut().for_each(|x| replace_refs(x, inline));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| replace_refs(x, inline)),
        _ => {}
    }
}

/// Doc comments' line breaks as spaces: a model reads the same sentence,
/// and a newline is a token of its own.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Input schemas as `tools/list` carries them: descriptions on one line,
/// no `additionalProperties: false` (the server refuses unknown arguments
/// by name whatever the schema says; saying so on every object costs tokens
/// on every request a model makes) and no `additionalProperties: true`
/// (what JSON Schema assumes when it is absent).
fn compact_input(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if matches!(map.get("additionalProperties"), Some(Value::Bool(_))) {
                map.remove("additionalProperties");
            }
            if let Some(Value::String(d)) = map.get_mut("description") {
                *d = one_line(d);
            }
            each_subschema(map, compact_input);
        }
        Value::Array(items) => items.iter_mut().for_each(compact_input),
        _ => {}
    }
}

/// The output schema as `tools/list` carries it: the result's top-level
/// fields with their types (objects and array items keep only their type),
/// enums and `required`; no descriptions, titles, defaults, bounds or
/// `$defs`. Field by field, the full schema is in `docs/tools.md` and in
/// `generate_api_spec {source: "mcp_tools"}`: a client checking
/// `structuredContent` needs the shape, a model reads the answer itself,
/// and the full schemas would cost every session about 10k tokens.
pub fn lean_output(schema: &Value) -> Value {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut lean = shape(schema, defs, 0);
    if let Value::Object(lean) = &mut lean {
        if let Some(required) = schema.get("required") {
            lean.insert("required".into(), required.clone());
        }
        // Kept on outputs: Claude clients reject output schemas that they
        // take for draft-07, and an absent `$schema` is read as such by some.
        lean.insert(
            "$schema".into(),
            Value::String("https://json-schema.org/draft/2020-12/schema".into()),
        );
    }
    lean
}

/// Levels of `properties` [`lean_output`] keeps (the top level only: two
/// levels cost about 3.5k tokens more over all tools).
const LEAN_DEPTH: usize = 1;

fn shape(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
    {
        return shape(target, defs, depth);
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "type" | "enum" | "const" => {
                out.insert(key.clone(), value.clone());
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(branches) = value {
                    let b = branches.iter().map(|b| shape(b, defs, depth)).collect();
                    out.insert(key.clone(), Value::Array(b));
                }
            }
            "items" => {
                out.insert(key.clone(), shape(value, defs, depth));
            }
            "properties" if depth < LEAN_DEPTH => {
                if let Value::Object(props) = value {
                    let p = props
                        .iter()
                        .map(|(k, v)| (k.clone(), shape(v, defs, depth + 1)))
                        .collect();
                    out.insert(key.clone(), Value::Object(p));
                }
            }
            _ => {}
        }
    }
    Value::Object(out)
}

fn rewrite_node(map: &mut Map<String, Value>, side: Side) {
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    // A closed set of strings, spelled by schemars as `oneOf` of `const`s
    // (one per documented enum variant): an `enum`, the spelling every
    // client understands, at a fraction of the tokens.
    for of in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = map.get(of) {
            let consts: Option<Vec<Value>> = branches
                .iter()
                .map(|b| match b.get("const") {
                    Some(c @ Value::String(_)) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                map.remove(of);
                map.insert("type".into(), Value::String("string".into()));
                map.insert("enum".into(), Value::Array(consts));
            }
        }
    }
    if let Some(Value::String(format)) = map.get("format")
        && !STANDARD_FORMATS.contains(&format.as_str())
    {
        map.remove("format");
    }
    // `anyOf: [X, {"type": "null"}]` (an optional struct or enum) on input.
    if side == Side::Input
        && let Some(Value::Array(branches)) = map.get("anyOf")
    {
        let is_null = |b: &Value| b.get("type") == Some(&Value::String("null".into()));
        let rest: Vec<Value> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
        if rest.len() == 1 && branches.len() == 2 {
            map.remove("anyOf");
            if let Value::Object(only) = &rest[0] {
                for (k, v) in only {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    let Some(Value::Array(types)) = map.get("type") else {
        return;
    };
    let mut types: Vec<String> = types
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    if side == Side::Input {
        types.retain(|t| t != "null");
    }
    match types.len() {
        0 => {
            map.remove("type");
        }
        1 => {
            map.insert("type".into(), Value::String(types.remove(0)));
        }
        _ => {
            map.remove("type");
            let mut branches: Vec<Map<String, Value>> = types
                .iter()
                .map(|t| {
                    let mut b = Map::new();
                    b.insert("type".into(), Value::String(t.clone()));
                    b
                })
                .collect();
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some(of) = keyword_type(&key) else {
                    continue;
                };
                let target = branches.iter_mut().find(|b| {
                    let t = b["type"].as_str().unwrap_or("");
                    t == of || (of == "number" && t == "integer")
                });
                if let (Some(branch), Some(value)) = (target, map.remove(&key)) {
                    branch.insert(key, value);
                }
            }
            map.insert(
                "anyOf".into(),
                Value::Array(branches.into_iter().map(Value::Object).collect()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn portable(mut v: Value, side: Side) -> Value {
        rewrite(&mut v, side);
        v
    }

    #[test]
    fn optional_inputs_lose_null_and_custom_formats() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": ["string", "null"], "maxLength": 5},
            "n": {"type": ["integer", "null"], "format": "uint64", "minimum": 0},
            "t": {"type": ["string", "number", "null"], "maxLength": 40},
            "s": {"anyOf": [{"$ref": "#/$defs/S"}, {"type": "null"}], "description": "d"},
            "when": {"type": "string", "format": "date-time"}
        }});
        assert_eq!(
            portable(schema, Side::Input),
            json!({"type": "object", "properties": {
                "a": {"type": "string", "maxLength": 5},
                "n": {"type": "integer", "minimum": 0},
                "t": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "number"}]},
                "s": {"$ref": "#/$defs/S", "description": "d"},
                "when": {"type": "string", "format": "date-time"}
            }})
        );
    }

    #[test]
    fn definitions_used_once_are_written_in_place() {
        let mut schema = json!({"type": "object", "properties": {
            "kind": {"$ref": "#/$defs/Kind", "description": "which"},
            "a": {"$ref": "#/$defs/Shared"},
            "b": {"items": {"$ref": "#/$defs/Shared"}},
            "tree": {"$ref": "#/$defs/Tree"}
        }, "$defs": {
            "Kind": {"type": "string", "enum": ["x", "y"]},
            "Shared": {"type": "object", "properties": {"n": {"$ref": "#/$defs/Leaf"}}},
            "Leaf": {"type": "integer"},
            "Tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/Tree"}}}}
        }});
        inline_single_use_defs(&mut schema);
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["x", "y"], "description": "which"},
                "a": {"$ref": "#/$defs/Shared"},
                "b": {"items": {"$ref": "#/$defs/Shared"}},
                "tree": {"$ref": "#/$defs/Tree"}
            }, "$defs": {
                "Shared": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "Tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/Tree"}}}}
            }})
        );
    }

    #[test]
    fn nullable_outputs_become_single_type_branches_with_their_keywords() {
        let schema = json!({"$defs": {"A": {"type": "object", "properties": {
            "v": {"type": ["number", "null"], "format": "double"},
            "l": {"type": ["array", "null"], "items": {"type": "string"}}
        }}}});
        assert_eq!(
            portable(schema, Side::Output),
            json!({"$defs": {"A": {"type": "object", "properties": {
                "v": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "l": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
            }}}})
        );
    }
}
