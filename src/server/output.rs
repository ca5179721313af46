//! Tool results as the protocol conventions want them: the typed result as
//! `structuredContent` (with its `outputSchema`) plus a short text summary a
//! model can read.
//!
//! Design choice: rmcp's `Json<T>` fills `content` with a second, complete
//! JSON copy of the structured result. For bulk results (a 10,000-point
//! `check_metrics` answer) that copy doubles what is serialised, sent and
//! parsed, and it is not what a model should read anyway. A tool returning
//! [`Summarized<T>`] sends one short line instead. rmcp derives
//! `outputSchema` only when it sees `Json<..>` in the signature, so such a
//! tool names its schema in the attribute:
//! `#[tool(output_schema = output_schema::<T>())]`.

use std::sync::Arc;

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, JsonObject};
use schemars::JsonSchema;
use serde::Serialize;

/// A successful tool result: `value` becomes `structuredContent`, `summary`
/// the one text block.
#[derive(Debug)]
pub struct Summarized<T> {
    /// The typed result.
    pub value: T,
    /// What the model reads: a line or two, never a copy of `value`.
    pub summary: String,
}

impl<T> Summarized<T> {
    /// A result with its summary.
    pub fn new(value: T, summary: impl Into<String>) -> Self {
        Summarized {
            value,
            summary: summary.into(),
        }
    }
}

impl<T: Serialize> IntoCallToolResult for Summarized<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        let value = super::transport::bulk_out::structured(&self.value).map_err(|e| {
            rmcp::ErrorData::internal_error(format!("could not serialise the result: {e}"), None)
        })?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.summary)]);
        result.structured_content = Some(value);
        Ok(result.into())
    }
}

/// A result with a picture: `value` as `structuredContent` and as JSON text
/// (what `Json<T>` sends), then the PNG, when there is one, as image
/// content. The token bound counts the structured content, not the image
/// (clients hand images to the model as pictures, not as text).
#[derive(Debug)]
pub struct Charted<T> {
    /// The typed result.
    pub value: T,
    /// The chart, PNG bytes.
    pub png: Option<Vec<u8>>,
}

impl<T: Serialize> IntoCallToolResult for Charted<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        use base64::Engine;
        let value = serde_json::to_value(&self.value).map_err(|e| {
            rmcp::ErrorData::internal_error(format!("could not serialise the result: {e}"), None)
        })?;
        let mut result = CallToolResult::structured(value);
        if let Some(png) = self.png {
            let data = base64::engine::general_purpose::STANDARD.encode(png);
            result.content.push(ContentBlock::image(data, "image/png"));
        }
        Ok(result.into())
    }
}

/// A result that can say in a line or two what it holds.
pub trait Summary {
    /// The text a model reads beside the structured result.
    fn summary(&self) -> String;
}

impl<T: Summary> Summarized<T> {
    /// A result summarised by its own [`Summary`].
    pub fn of(value: T) -> Self {
        let summary = value.summary();
        Summarized { value, summary }
    }
}

/// The `outputSchema` of a tool returning `Summarized<T>` (the same schema
/// rmcp derives for `Json<T>`).
pub fn output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::tool::schema_for_output::<T>()
}

/// `items` as `a, b, c` with at most `max` shown and `(+N more)` after.
pub fn list_some<I: IntoIterator<Item = String>>(items: I, max: usize) -> String {
    let mut shown = Vec::new();
    let mut more = 0usize;
    for item in items {
        if shown.len() < max {
            shown.push(item);
        } else {
            more += 1;
        }
    }
    let mut s = shown.join(", ");
    if more > 0 {
        s.push_str(&format!(" (+{more} more)"));
    }
    s
}

/// `1 alert`, `2 alerts`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_block_is_the_summary_and_the_structured_content_the_value() {
        #[derive(Serialize)]
        struct Out {
            n: u32,
        }
        let response = Summarized::new(Out { n: 3 }, "three")
            .into_call_tool_result()
            .unwrap();
        let CallToolResponse::Complete(r) = response else {
            panic!("not a complete result: {response:?}");
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["structuredContent"], serde_json::json!({"n": 3}));
        assert_eq!(v["content"][0]["text"], "three");
        assert_eq!(v["content"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["isError"], false);
    }

    #[test]
    fn long_lists_are_cut_with_a_count_of_the_rest() {
        let items = (1..=5).map(|i| format!("a-{i}"));
        assert_eq!(list_some(items, 3), "a-1, a-2, a-3 (+2 more)");
        assert_eq!(list_some(vec!["x".to_string()], 3), "x");
        assert_eq!(count(1, "alert", "alerts"), "1 alert");
        assert_eq!(count(0, "alert", "alerts"), "0 alerts");
    }
}
