//! Tool arguments whose errors name the field.
//!
//! rmcp's `Parameters<T>` answers a wrong type with "failed to deserialize
//! parameters: invalid type: integer `5`, expected a string": no field, and
//! Rust's type names (`expected u32`). [`Parameters`] here is the same
//! extractor (the `#[tool]` macro recognises it by name and takes the input
//! schema from `T`) whose errors add "invalid argument `topic`: invalid
//! type: integer `5`, expected a string", the form every other argument
//! error has.

use std::borrow::Cow;

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::error::ToolError;

/// A tool's arguments, deserialised from the call's `arguments` object.
#[derive(Debug, Clone)]
pub struct Parameters<T>(pub T);

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        from_value(serde_json::Value::Object(arguments)).map(Parameters)
    }
}

/// `T` from an arguments object, or an error naming the field. The path is
/// tracked only once the plain parse failed: tracking it costs on every
/// field, and a 10,000-point call has 50,000.
pub fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, rmcp::ErrorData> {
    T::deserialize(&v).or_else(|_| serde_path_to_error::deserialize(&v).map_err(invalid))
}

/// `T` from arguments as JSON text, or an error naming the field (see
/// [`from_value`]).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, rmcp::ErrorData> {
    serde_json::from_str(text).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(invalid)
    })
}

/// The start of rmcp's own argument errors (see [`invalid`]).
const RMCP_PREFIX: &str = "failed to deserialize parameters:";

fn invalid<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> rmcp::ErrorData {
    let path = e.path().to_string();
    let message = plain(&e.inner().to_string());
    let text = if path == "." {
        // Missing and unknown fields: serde names them itself.
        format!("invalid arguments: {message}")
    } else {
        format!("invalid argument `{path}`: {message}")
    };
    // rmcp turns an error with this prefix into a tool result with
    // `isError: true` (which the model reads and corrects its call from)
    // rather than a JSON-RPC error.
    // serde quotes a wrong-typed string whole: bounded like every error.
    let text = crate::quote::bound_message(text);
    rmcp::ErrorData::invalid_params(format!("{RMCP_PREFIX} {text}"), None)
}

/// serde's message with Rust type names said plainly and without the
/// position inside the arguments text (the field is named instead).
fn plain(message: &str) -> String {
    let mut m = message.to_string();
    if let Some(i) = m.find(" at line ") {
        m.truncate(i);
    }
    for (rust, said) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number >= 0"),
        ("expected usize", "expected a whole number >= 0"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{said}");
        }
    }
    m
}

/// `value` (or `default`) when within `lo..=hi`; else an error naming
/// `field` and the accepted range.
pub fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    field: &str,
    value: Option<T>,
    default: T,
    lo: T,
    hi: T,
) -> Result<T, ToolError> {
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ToolError::invalid(
            field,
            format!("{v} is out of range; accepted: {lo} to {hi}"),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        topic: String,
        limit: Option<u32>,
        events: Option<Vec<Event>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Event {
        priority: Option<u8>,
    }

    fn err(v: serde_json::Value) -> String {
        let m = from_value::<Args>(v).unwrap_err().message.to_string();
        m.strip_prefix("failed to deserialize parameters: ")
            .unwrap()
            .to_string()
    }

    #[test]
    fn errors_name_the_field_and_say_what_is_accepted() {
        assert_eq!(
            err(json!({"topic": 5})),
            "invalid argument `topic`: invalid type: integer `5`, expected a string"
        );
        assert_eq!(
            err(json!({"topic": "t", "limit": -1})),
            "invalid argument `limit`: invalid value: integer `-1`, expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            err(json!({"topic": "t", "events": [{}, {"priority": "high"}]})),
            "invalid argument `events[1].priority`: invalid type: string \"high\", expected a whole number from 0 to 255"
        );
        assert!(err(json!({})).starts_with("invalid arguments: missing field `topic`"));
        assert!(err(json!({"topic": "t", "colour": 1})).contains("unknown field `colour`"));
        let e = from_str::<Args>("{\"topic\": \"t\", \"limit\": 1.5}").unwrap_err();
        assert_eq!(
            e.message,
            "failed to deserialize parameters: invalid argument `limit`: invalid type: floating point `1.5`, expected a whole number from 0 to 4294967295"
        );
    }
}
