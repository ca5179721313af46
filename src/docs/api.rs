//! OpenAPI documents (3.1 or 3.0, JSON or YAML) and a Markdown API reference
//! from a list of endpoints.
//!
//! Everything OpenAPI requires that an author tends to forget is derived:
//! path parameters named in `{braces}` are declared (required, string) when
//! the caller did not, every operation gets a unique `operationId` and at
//! least one response, and for 3.0 the JSON Schemas are lowered to the 3.0
//! dialect (`type: [T, "null"]` becomes `nullable: true`, `const` becomes a
//! one-value `enum`). What cannot be derived (two endpoints with the same
//! path and method, paths that differ only in parameter names, a parameter
//! declared twice) is an error naming the endpoint and field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamIn {
    /// URL path; always required.
    Path,
    /// In the query string.
    Query,
    /// An HTTP header.
    Header,
    /// A cookie.
    Cookie,
}

impl ParamIn {
    fn name(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

/// One endpoint parameter.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Parameter name.
    pub name: String,
    /// Where it goes.
    #[serde(rename = "in")]
    pub location: ParamIn,
    /// string, integer, number, boolean, array or object.
    #[serde(rename = "type")]
    pub ty: String,
    /// Default false (path parameters: true).
    #[serde(default)]
    pub required: Option<bool>,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
}

/// A request body.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Media type, e.g. `application/json`.
    pub content_type: String,
    /// JSON Schema of the body.
    #[schemars(extend("type" = "object"))]
    pub schema: Value,
}

/// One response.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// What the response means.
    pub description: String,
    /// JSON Schema of a JSON body.
    #[serde(default)]
    #[schemars(extend("type" = "object"))]
    pub schema: Option<Value>,
}

/// One endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// E.g. `/players/{id}`.
    pub path: String,
    /// HTTP method, e.g. `get`.
    pub method: String,
    /// One-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Longer description (Markdown).
    #[serde(default)]
    pub description: Option<String>,
    /// Parameters (path ones are implied).
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// Request body.
    #[serde(default)]
    pub request_body: Option<RequestBody>,
    /// By status (`200`, `2XX`, `default`); default a `200`.
    #[serde(default)]
    pub responses: BTreeMap<String, Response>,
}

/// OpenAPI version to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum OpenApiVersion {
    /// OpenAPI 3.1.0.
    #[default]
    #[serde(rename = "3.1")]
    V3_1,
    /// OpenAPI 3.0.3.
    #[serde(rename = "3.0")]
    V3_0,
}

/// Serialization of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecFormat {
    /// JSON. The default.
    #[default]
    Json,
    /// YAML.
    Yaml,
}

/// A bad endpoint list: the field at fault and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// The argument at fault (`endpoints[1].path`).
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

/// The generated document.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The OpenAPI document as JSON.
    pub document: Value,
    /// Serialized in the requested format.
    pub text: String,
    /// Markdown reference.
    pub markdown: String,
    /// Path parameters declared automatically, as `METHOD /path: name`.
    pub declared_path_parameters: Vec<String>,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const TYPES: [&str; 6] = ["string", "integer", "number", "boolean", "array", "object"];

/// Most endpoints accepted in one call.
pub const MAX_ENDPOINTS: usize = 1000;

/// Path parameter names in a template, or what is wrong with it.
fn template_params(path: &str) -> Result<Vec<String>, String> {
    if !path.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err(
            "must not contain spaces, `?` or `#` (query parameters go in `parameters`)".into(),
        );
    }
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("has a `}` without `{`".into());
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("has a `{` without `}`")?;
        let name = &after[..close];
        if name.is_empty()
            || name.contains('{')
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(format!(
                "has a malformed parameter `{{{name}}}` (letters, digits, `_`, `-`, `.`)"
            ));
        }
        if names.iter().any(|n| n == name) {
            return Err(format!("names the parameter `{name}` twice"));
        }
        names.push(name.to_string());
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// The path with parameter names blanked: `/a/{}`; two paths with the same
/// shape are the same path to a router.
fn path_shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                out.push('{');
            }
            '}' => {
                depth -= 1;
                out.push('}');
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn valid_status(s: &str) -> bool {
    s == "default"
        || (s.len() == 3
            && matches!(s.as_bytes()[0], b'1'..=b'5')
            && (s[1..].bytes().all(|b| b.is_ascii_digit()) || &s[1..] == "XX"))
}

fn param_schema(ty: &str) -> Value {
    match ty {
        "array" => json!({"type": "array", "items": {"type": "string"}}),
        other => json!({"type": other}),
    }
}

/// Lowers a JSON Schema (2020-12 style) to the OpenAPI 3.0 dialect.
fn to_3_0(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "$schema" | "$id" => {}
                    "type" => match v {
                        Value::Array(types) => {
                            let non_null: Vec<&Value> =
                                types.iter().filter(|t| *t != "null").collect();
                            if non_null.len() < types.len() {
                                out.insert("nullable".into(), Value::Bool(true));
                            }
                            if let Some(first) = non_null.first() {
                                out.insert("type".into(), (*first).clone());
                            }
                        }
                        other => {
                            out.insert("type".into(), other.clone());
                        }
                    },
                    "const" => {
                        out.insert("enum".into(), Value::Array(vec![v.clone()]));
                    }
                    "examples" => {
                        if let Some(first) = v.as_array().and_then(|a| a.first()) {
                            out.insert("example".into(), first.clone());
                        }
                    }
                    "properties" | "$defs" | "definitions" | "patternProperties" => {
                        let inner = v
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| (k.clone(), to_3_0(v)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(inner));
                    }
                    _ => {
                        out.insert(k.clone(), to_3_0(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_3_0).collect()),
        other => other.clone(),
    }
}

/// Builds the document and its Markdown reference.
pub fn build(
    title: &str,
    version: &str,
    endpoints: &[Endpoint],
    openapi: OpenApiVersion,
    format: SpecFormat,
) -> Result<Spec, SpecError> {
    if title.trim().is_empty() {
        return Err(bad("title", "must not be empty"));
    }
    if version.trim().is_empty() {
        return Err(bad(
            "version",
            "must not be empty (the API's version, e.g. 1.0.0)",
        ));
    }
    if endpoints.is_empty() {
        return Err(bad(
            "endpoints",
            "give at least one endpoint {path, method}",
        ));
    }
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(bad(
            "endpoints",
            format!("at most {MAX_ENDPOINTS} endpoints per call"),
        ));
    }
    let schema = |v: &Value| {
        if openapi == OpenApiVersion::V3_0 {
            to_3_0(v)
        } else {
            v.clone()
        }
    };
    let mut paths: Map<String, Value> = Map::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut shapes: HashMap<String, (String, usize)> = HashMap::new();
    let mut operation_ids: HashSet<String> = HashSet::new();
    let mut declared = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let at = |f: &str| format!("endpoints[{i}].{f}");
        let names =
            template_params(&e.path).map_err(|m| bad(at("path"), format!("`{}` {m}", e.path)))?;
        let method = e.method.to_ascii_lowercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(bad(
                at("method"),
                format!("`{}` is not one of {}", e.method, METHODS.join(", ")),
            ));
        }
        if let Some(first) = seen.insert((e.path.clone(), method.clone()), i) {
            return Err(bad(
                at("path"),
                format!(
                    "{} {} is already endpoints[{first}]",
                    method.to_uppercase(),
                    e.path
                ),
            ));
        }
        let shape = path_shape(&e.path);
        match shapes.get(&shape) {
            Some((other, j)) if *other != e.path => {
                return Err(bad(
                    at("path"),
                    format!(
                        "`{}` and endpoints[{j}] `{other}` differ only in parameter names; use the same names",
                        e.path
                    ),
                ));
            }
            Some(_) => {}
            None => {
                shapes.insert(shape, (e.path.clone(), i));
            }
        }
        let mut params = Vec::new();
        let mut param_keys: HashSet<(String, ParamIn)> = HashSet::new();
        for (k, p) in e.parameters.iter().enumerate() {
            let pf = |f: &str| format!("endpoints[{i}].parameters[{k}].{f}");
            if p.name.trim().is_empty() {
                return Err(bad(pf("name"), "must not be empty"));
            }
            if !TYPES.contains(&p.ty.as_str()) {
                return Err(bad(
                    pf("type"),
                    format!("`{}` is not one of {}", p.ty, TYPES.join(", ")),
                ));
            }
            if !param_keys.insert((p.name.clone(), p.location)) {
                return Err(bad(
                    pf("name"),
                    format!("`{}` ({}) is declared twice", p.name, p.location.name()),
                ));
            }
            if p.location == ParamIn::Path {
                if !names.contains(&p.name) {
                    return Err(bad(
                        pf("name"),
                        format!(
                            "path parameter `{}` does not appear in `{}`",
                            p.name, e.path
                        ),
                    ));
                }
                if p.required == Some(false) {
                    return Err(bad(pf("required"), "path parameters are always required"));
                }
            }
            let mut obj = json!({
                "name": p.name,
                "in": p.location.name(),
                "required": p.location == ParamIn::Path || p.required.unwrap_or(false),
                "schema": param_schema(&p.ty),
            });
            if let Some(d) = &p.description {
                obj["description"] = json!(d);
            }
            params.push(obj);
        }
        for n in &names {
            if !param_keys.contains(&(n.clone(), ParamIn::Path)) {
                params.push(json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}));
                declared.push(format!("{} {}: {n}", method.to_uppercase(), e.path));
            }
        }
        let mut op = Map::new();
        if let Some(s) = &e.summary {
            op.insert("summary".into(), json!(s));
        }
        if let Some(d) = &e.description {
            op.insert("description".into(), json!(d));
        }
        let mut op_id = operation_id(&method, &e.path);
        let base = op_id.clone();
        let mut n = 2;
        while !operation_ids.insert(op_id.clone()) {
            op_id = format!("{base}_{n}");
            n += 1;
        }
        op.insert("operationId".into(), json!(op_id));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = &e.request_body {
            let ct = body.content_type.trim();
            let parts: Vec<&str> = ct.split('/').collect();
            if parts.len() != 2
                || parts
                    .iter()
                    .any(|p| p.is_empty() || p.contains(char::is_whitespace))
            {
                return Err(bad(
                    at("request_body.content_type"),
                    format!("`{ct}` is not a media type like application/json"),
                ));
            }
            if !body.schema.is_object() {
                return Err(bad(
                    at("request_body.schema"),
                    "must be a JSON Schema object",
                ));
            }
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {ct: {"schema": schema(&body.schema)}}}),
            );
        }
        let mut responses = Map::new();
        for (status, r) in &e.responses {
            if !valid_status(status) {
                return Err(bad(
                    at("responses"),
                    format!("`{status}` is not a status code (100-599, 1XX-5XX or default)"),
                ));
            }
            let mut obj = json!({"description": r.description});
            if let Some(s) = &r.schema {
                if !s.is_object() {
                    return Err(bad(
                        at(&format!("responses.{status}.schema")),
                        "must be a JSON Schema object",
                    ));
                }
                obj["content"] = json!({"application/json": {"schema": schema(s)}});
            }
            responses.insert(status.clone(), obj);
        }
        if responses.is_empty() {
            responses.insert("200".into(), json!({"description": "Successful response"}));
        }
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(e.path.clone()).or_insert_with(|| json!({}));
        entry[method.as_str()] = Value::Object(op);
    }
    let document = json!({
        "openapi": match openapi { OpenApiVersion::V3_1 => "3.1.0", OpenApiVersion::V3_0 => "3.0.3" },
        "info": {"title": title, "version": version},
        "paths": paths,
    });
    let text = match format {
        SpecFormat::Json => serde_json::to_string_pretty(&document).unwrap_or_default(),
        SpecFormat::Yaml => serde_norway::to_string(&document)
            .map_err(|e| bad("format", format!("cannot write YAML: {e}")))?,
    };
    let markdown = markdown(title, version, &document);
    Ok(Spec {
        document,
        text,
        markdown,
        declared_path_parameters: declared,
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            seg.chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' }),
        );
    }
    id.trim_end_matches('_').replace("__", "_")
}

/// Markdown reference of an OpenAPI document built by [`build`].
fn markdown(title: &str, version: &str, doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {title} API reference\n\nVersion {version}, OpenAPI {}.\n",
        doc["openapi"].as_str().unwrap_or("")
    );
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, ops) in paths {
        let Some(ops) = ops.as_object() else { continue };
        for (method, op) in ops {
            let _ = writeln!(out, "## `{} {path}`\n", method.to_uppercase());
            if let Some(s) = op["summary"].as_str() {
                let _ = writeln!(out, "{s}\n");
            }
            if let Some(d) = op["description"].as_str() {
                let _ = writeln!(out, "{d}\n");
            }
            if let Some(params) = op["parameters"].as_array() {
                out.push_str("**Parameters**\n\n| name | in | type | required | description |\n|---|---|---|---|---|\n");
                for p in params {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} | {} |",
                        p["name"].as_str().unwrap_or(""),
                        p["in"].as_str().unwrap_or(""),
                        p["schema"]["type"].as_str().unwrap_or(""),
                        if p["required"] == true { "yes" } else { "no" },
                        table_cell(p["description"].as_str().unwrap_or(""))
                    );
                }
                out.push('\n');
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ct, body) in content {
                    let _ = writeln!(
                        out,
                        "**Request body** (`{ct}`)\n\n```json\n{}\n```\n",
                        pretty(&body["schema"])
                    );
                }
            }
            if let Some(responses) = op["responses"].as_object() {
                out.push_str("**Responses**\n\n");
                for (status, r) in responses {
                    let _ = writeln!(
                        out,
                        "- `{status}`: {}",
                        r["description"].as_str().unwrap_or("")
                    );
                    if let Some(s) = r["content"]["application/json"].get("schema") {
                        let _ = writeln!(out, "\n  ```json\n{}\n  ```", indent(&pretty(s), "  "));
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn indent(s: &str, by: &str) -> String {
    s.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text safe inside a Markdown table cell.
pub fn table_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(path: &str, method: &str) -> Endpoint {
        Endpoint {
            path: path.into(),
            method: method.into(),
            summary: None,
            description: None,
            parameters: Vec::new(),
            request_body: None,
            responses: BTreeMap::new(),
        }
    }

    #[test]
    fn path_parameters_are_declared_and_conflicts_refused() {
        let spec = build(
            "T",
            "1",
            &[ep("/players/{id}/games/{season}", "GET")],
            OpenApiVersion::V3_1,
            SpecFormat::Json,
        )
        .unwrap();
        let params = spec.document["paths"]["/players/{id}/games/{season}"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(params.len(), 2);
        assert_eq!(params[0]["required"], true);
        assert_eq!(
            spec.declared_path_parameters,
            vec![
                "GET /players/{id}/games/{season}: id",
                "GET /players/{id}/games/{season}: season"
            ]
        );

        let dup = build(
            "T",
            "1",
            &[ep("/a", "get"), ep("/a", "GET")],
            OpenApiVersion::V3_1,
            SpecFormat::Json,
        )
        .unwrap_err();
        assert_eq!(dup.field, "endpoints[1].path");
        let shape = build(
            "T",
            "1",
            &[ep("/a/{id}", "get"), ep("/a/{name}", "post")],
            OpenApiVersion::V3_1,
            SpecFormat::Json,
        )
        .unwrap_err();
        assert_eq!(shape.field, "endpoints[1].path");
        for (path, why) in [
            ("a", "start"),
            ("/a/{", "without"),
            ("/a/{x}/{x}", "twice"),
            ("/a/{}", "malformed"),
            ("/a b", "spaces"),
        ] {
            let e = build(
                "T",
                "1",
                &[ep(path, "get")],
                OpenApiVersion::V3_1,
                SpecFormat::Json,
            )
            .unwrap_err();
            assert!(e.message.contains(why), "{path}: {e}");
        }
        assert_eq!(
            build(
                "T",
                "1",
                &[ep("/a", "fetch")],
                OpenApiVersion::V3_1,
                SpecFormat::Json
            )
            .unwrap_err()
            .field,
            "endpoints[0].method"
        );
    }

    #[test]
    fn schemas_are_lowered_for_3_0() {
        let s = json!({"type": "object", "properties": {"a": {"type": ["integer", "null"]}, "b": {"const": 3}}, "$schema": "x"});
        assert_eq!(
            to_3_0(&s),
            json!({"type": "object", "properties": {"a": {"type": "integer", "nullable": true}, "b": {"enum": [3]}}})
        );
    }
}
