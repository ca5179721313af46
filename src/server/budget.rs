//! No answer larger than a client takes. Claude Code refuses tool output
//! over 25k tokens and other clients cut it silently, so every answer is
//! held to `--max-answer-tokens` (default 20,000, counted with o200k):
//!
//! - list tools end their page early, and the rest comes with `next_cursor`
//!   (or the next poll): [`AnswerBudget::prefix`] says how many items fit;
//! - batch answers cut their per-item lists and say how many they left out;
//! - behind them, [`AnswerBudget::check`] refuses any read-only answer still
//!   over the bound with an error that says how to ask for less (a tool
//!   that changed something answers anyway: its work is done, and losing
//!   the answer would make a client repeat it).
//!
//! What is counted is one copy of the answer: its structured content when
//! it has one (what a validating client parses, and what some hand the
//! model), else its text. Tokens are counted, not estimated from bytes: no
//! byte ratio bounds tokens for every input (random printable ASCII is
//! about 1.3 bytes a token), and one byte is at least one token, so
//! answers shorter than the bound in bytes are never counted.

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde::Serialize;

/// The bound on one tool answer, in o200k tokens; 0 means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerBudget {
    max_tokens: usize,
}

/// Items [`AnswerBudget::prefix`] counts with one call of the tokenizer.
const PREFIX_CHUNK: usize = 64;

/// Share of the bound that per-item cuts aim at: tokens of a concatenation
/// can differ a little from the sum of its parts' tokens.
const AIM: f64 = 0.95;

impl AnswerBudget {
    /// A bound of `max_tokens` (0: unbounded).
    pub fn new(max_tokens: usize) -> Self {
        AnswerBudget { max_tokens }
    }

    /// The bound, or `None` when there is none.
    pub fn max_tokens(&self) -> Option<usize> {
        (self.max_tokens > 0).then_some(self.max_tokens)
    }

    /// Bytes of stored data a page may hold so that it fits whatever the
    /// data: one byte is at least one token. `None` when unbounded.
    pub fn bytes(&self) -> Option<usize> {
        self.max_tokens().map(|m| (m as f64 * AIM) as usize)
    }

    /// o200k tokens of `text`.
    pub fn tokens(text: &str) -> usize {
        bpe_openai::o200k_base().count(text)
    }

    /// o200k tokens of `value` as JSON (what the answer spells).
    pub fn tokens_of<T: Serialize + ?Sized>(value: &T) -> usize {
        Self::tokens(&serde_json::to_string(value).unwrap_or_default())
    }

    /// Whether `text` is within the bound (counted only when its bytes are
    /// not already).
    pub fn fits(&self, text: &str) -> bool {
        match self.max_tokens() {
            None => true,
            Some(m) => text.len() <= m || Self::tokens(text) <= m,
        }
    }

    /// How many leading `items` fit in an answer whose other fields take
    /// `rest` tokens: all when they fit, else the longest prefix within the
    /// bound, and at least one (a page always moves forward).
    pub fn prefix<T: Serialize>(&self, items: &[T], rest: usize) -> usize {
        let Some(max) = self.max_tokens() else {
            return items.len();
        };
        let aim = aim(max, rest);
        // One byte is at least one token: items whose JSON array is within
        // the aim in bytes all fit, learned by spelling at most `aim` bytes.
        if serde_json::to_writer(&mut ByteCount { n: 0, cap: aim }, items).is_ok() {
            return items.len();
        }
        // Counted a chunk at a time (the tokenizer's cost per call dwarfs
        // a 40-byte item's), and item by item only in the chunk that
        // crosses the aim; items past it are never spelled. A chunk joined
        // by commas is the answer's own spelling of those items, so it
        // counts them as the answer does.
        let mut used = 0;
        let mut n = 0;
        // Quiet series give runs of identical results (no score, no
        // alert): a chunk spelled like the one before it is not counted
        // again.
        let mut last = (String::new(), 0);
        for chunk in items.chunks(PREFIX_CHUNK) {
            let texts: Vec<String> = chunk
                .iter()
                .map(|i| serde_json::to_string(i).unwrap_or_default())
                .collect();
            let text = texts.join(",");
            if text != last.0 {
                let tokens = Self::tokens(&text);
                last = (text, tokens);
            }
            let joined = last.1 + 1;
            if used + joined <= aim {
                used += joined;
                n += chunk.len();
                continue;
            }
            for t in &texts {
                used += Self::tokens(t) + 1;
                if used > aim {
                    return n.max(1);
                }
                n += 1;
            }
        }
        items.len()
    }

    /// Whether a part of an answer counted at `tokens` fits beside `rest`
    /// other tokens, with the margin [`AnswerBudget::prefix`] keeps.
    pub fn within(&self, tokens: usize, rest: usize) -> bool {
        self.max_tokens().is_none_or(|max| tokens <= aim(max, rest))
    }

    /// Whether `value` spelled as JSON is no longer in bytes than the
    /// bound (and so within it in tokens), measured without building the
    /// text; true when unbounded.
    pub fn short<T: Serialize + ?Sized>(&self, value: &T) -> bool {
        match self.max_tokens() {
            None => true,
            Some(cap) => serde_json::to_writer(&mut ByteCount { n: 0, cap }, value).is_ok(),
        }
    }

    /// `response` when within the bound; a read-only tool's answer over it
    /// becomes an error naming the tool and how to ask for less.
    pub fn check(
        &self,
        tool: &str,
        read_only: bool,
        response: CallToolResponse,
    ) -> CallToolResponse {
        let Some(max) = self.max_tokens() else {
            return response;
        };
        let CallToolResponse::Complete(result) = &response else {
            return response;
        };
        if result.is_error == Some(true) {
            return response;
        }
        // Most answers are shorter in bytes than the bound: measured
        // without building the text, and then never counted.
        let short = match &result.structured_content {
            Some(v) => self.short(v),
            None => {
                let n: usize = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text())
                    .map(|t| t.text.len())
                    .sum();
                n <= max
            }
        };
        if short {
            return response;
        }
        let copy = match &result.structured_content {
            Some(v) => v.to_string(),
            None => result
                .content
                .iter()
                .filter_map(|c| c.as_text())
                .map(|t| t.text.as_str())
                .collect(),
        };
        if self.fits(&copy) {
            return response;
        }
        let n = Self::tokens(&copy);
        if !read_only {
            tracing::warn!(tool, tokens = n, max, "answer over --max-answer-tokens");
            return response;
        }
        tracing::info!(
            tool,
            tokens = n,
            max,
            "answer over --max-answer-tokens refused"
        );
        CallToolResult::error(vec![ContentBlock::text(format!(
            "the answer of `{tool}` would be {n} tokens, more than the {max} this \
             server sends in one answer (--max-answer-tokens); ask for less: a smaller \
             `limit`, a narrower filter, the next `cursor` page, or an output file \
             where the tool has one"
        ))])
        .into()
    }
}

/// Tokens a cut aims at when `rest` of the bound `max` is taken.
fn aim(max: usize, rest: usize) -> usize {
    ((max as f64 * AIM) as usize).saturating_sub(rest)
}

/// A writer that counts bytes and fails once past `cap`.
struct ByteCount {
    n: usize,
    cap: usize,
}

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len();
        if self.n > self.cap {
            return Err(std::io::Error::other("over the bound"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_fits_and_always_moves_forward() {
        let b = AnswerBudget::new(1000);
        let small: Vec<String> = (0..10).map(|i| format!("item {i}")).collect();
        assert_eq!(b.prefix(&small, 0), 10);
        // Random-looking text costs about a token per 1-3 bytes.
        let big: Vec<String> = (0..200)
            .map(|i| format!("{:x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).repeat(4))
            .collect();
        let n = b.prefix(&big, 100);
        assert!(n > 0 && n < 200, "{n}");
        let kept = serde_json::to_string(&big[..n]).unwrap();
        assert!(AnswerBudget::tokens(&kept) <= 1000 - 100, "{n}");
        let huge = vec!["x ".repeat(5000)];
        assert_eq!(b.prefix(&huge, 0), 1);
        assert_eq!(AnswerBudget::new(0).prefix(&big, 0), 200);
    }

    #[test]
    fn a_prefix_of_many_small_items_counted_by_chunks_stays_within_the_bound() {
        // check_metrics' results: thousands of ~40-byte items, counted 64 at
        // a time and item by item only in the chunk that crosses the bound.
        let b = AnswerBudget::new(20_000);
        let items: Vec<serde_json::Value> = (0..10_000)
            .map(|i| serde_json::json!({"anomaly_score": (i % 97) as f64 / 97.0, "alert_ids": []}))
            .collect();
        let n = b.prefix(&items, 300);
        assert!(n > 1000 && n < 10_000, "{n}");
        let kept = AnswerBudget::tokens(&serde_json::to_string(&items[..n]).unwrap());
        assert!(kept <= 19_000 - 300, "{n} items, {kept} tokens");
        // Tight: the next 64 items would not have fitted.
        let more = AnswerBudget::tokens(&serde_json::to_string(&items[..n + 64]).unwrap());
        assert!(
            more > 19_000 - 300 - 64,
            "{n} items, {more} tokens with 64 more"
        );
    }

    #[test]
    fn a_prefix_through_runs_of_identical_items_is_counted_like_any_other() {
        // Quiet series' results repeat, then alerts bring longer, varied
        // items: a chunk's count is reused only for the same text.
        let b = AnswerBudget::new(20_000);
        let quiet = serde_json::json!({"anomaly_score": 0.0, "alert_ids": []});
        let mut items = vec![quiet.clone(); 640];
        items.extend((0..2_000).map(|i| {
            serde_json::json!({"anomaly_score": 0.5 + (i % 89) as f64 / 200.0,
                "alert_ids": [format!("alert-{:x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))]})
        }));
        let n = b.prefix(&items, 0);
        assert!(n > 640 && n < items.len(), "{n}");
        let kept = AnswerBudget::tokens(&serde_json::to_string(&items[..n]).unwrap());
        assert!(kept <= 19_000, "{n} items, {kept} tokens");
        let more = AnswerBudget::tokens(&serde_json::to_string(&items[..n + 8]).unwrap());
        assert!(more > 19_000 - 64, "{n} items, {more} tokens with 8 more");
        // All quiet: the count of one chunk serves every chunk.
        let all_quiet = vec![quiet; 10_000];
        let n = b.prefix(&all_quiet, 0);
        let kept = AnswerBudget::tokens(&serde_json::to_string(&all_quiet[..n]).unwrap());
        let more = AnswerBudget::tokens(&serde_json::to_string(&all_quiet[..n + 8]).unwrap());
        assert!(kept <= 19_000 && more > 19_000 - 64, "{n}: {kept}, {more}");
    }
}
