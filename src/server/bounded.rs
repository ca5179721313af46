//! No tool answer larger than a client accepts. Claude Code refuses tool
//! output over 25k tokens and other clients truncate silently, so every
//! answer is held to [`MAX_RESULT_TOKENS`]: the tools that can produce
//! more page it (`cursor`/`next_cursor`), write it to a file under the
//! roots, or cut it with a `truncated` flag; this module is the net behind
//! them, turning any answer still over the bound into an error that says
//! how to ask for less, instead of an answer the client would drop.
//!
//! The one design choice: the bound is estimated from the answer's bytes,
//! never under-counted. o200k and Claude's tokenizers spend at least three
//! ASCII bytes per token on JSON and prose (about four on average), and at
//! most one token per non-ASCII character, so `ascii / 3 + non-ASCII
//! characters` is an upper estimate that costs one pass over the text the
//! answer already carries (`tests/result_bounds.rs` checks it against the
//! real tokenizer).

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

/// The most tokens a tool answer may carry (one copy: the text content,
/// or the structured content when there is no text).
pub const MAX_RESULT_TOKENS: usize = 20_000;

/// An upper estimate of the tokens of `text` (see the module doc).
pub fn estimate_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let ascii = bytes.iter().filter(|b| b.is_ascii()).count();
    // Non-ASCII characters: count the lead bytes of UTF-8 sequences.
    let non_ascii = bytes.iter().filter(|b| (**b & 0xC0) == 0xC0).count();
    ascii / 3 + non_ascii
}

/// Tokens of one copy of a result.
fn result_tokens(result: &CallToolResult) -> usize {
    let text: usize = result
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| estimate_tokens(&t.text))
        .sum();
    if text > 0 {
        return text;
    }
    result
        .structured_content
        .as_ref()
        .map_or(0, |v| estimate_tokens(&v.to_string()))
}

/// `response`, or an error naming the tool and how to ask for less when
/// it is over [`MAX_RESULT_TOKENS`].
pub fn bound(tool: &str, response: CallToolResponse) -> CallToolResponse {
    let CallToolResponse::Complete(result) = &response else {
        return response;
    };
    let n = result_tokens(result);
    if n <= MAX_RESULT_TOKENS {
        return response;
    }
    tracing::warn!(tool, tokens = n, "answer over the bound; refused");
    CallToolResult::error(vec![ContentBlock::text(format!(
        "the answer of `{tool}` would be about {n} tokens, more than the \
         {MAX_RESULT_TOKENS} a client accepts; ask for less: a smaller `limit`, \
         the next `cursor` page, a narrower filter, or an output file \
         (`output_dir`/`path`) where the tool has one"
    ))])
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_counts_ascii_by_three_and_other_characters_one_each() {
        assert_eq!(estimate_tokens("abcdef"), 2);
        assert_eq!(estimate_tokens("été"), 2);
        assert_eq!(estimate_tokens("日本"), 2);
    }
}
