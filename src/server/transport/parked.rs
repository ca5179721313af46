//! Bulk JSON text parked beside rmcp, under tickets.
//!
//! [`super::bulk_args`] parks a bulk tool call's arguments before rmcp reads
//! the line, and [`super::bulk_out`] parks a bulk result before rmcp writes
//! it; in both cases rmcp only carries a small `{"$parked": "<ticket>"}`
//! object instead of building, copying and walking a `serde_json::Value` of
//! hundreds of kilobytes.
//!
//! Design choice: tickets are `<per-process random prefix>-<counter>`, so a
//! client can neither redeem text it did not send nor make the server splice
//! text into its output by writing a ticket-shaped string (it cannot guess
//! the prefix). Parked text is bounded; beyond the bound the oldest goes.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

/// The key of the placeholder object that stands for parked text.
pub const TICKET_KEY: &str = "$parked";

/// Most text parked at once; beyond it the oldest tickets go.
const MAX_PARKED_BYTES: usize = 64 * 1024 * 1024;

/// Texts waiting to be redeemed, by ticket number.
struct Parked {
    next: u64,
    bytes: usize,
    texts: BTreeMap<u64, String>,
}

/// This process's ticket prefix: 16 random hex digits and `-`.
static PREFIX: LazyLock<String> = LazyLock::new(|| {
    let nonce = getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()));
    format!("{nonce:016x}-")
});

static PARKED: LazyLock<Mutex<Parked>> = LazyLock::new(|| {
    Mutex::new(Parked {
        next: 0,
        bytes: 0,
        texts: BTreeMap::new(),
    })
});

/// The prefix every ticket of this process starts with.
pub fn prefix() -> &'static str {
    &PREFIX
}

impl Parked {
    /// Parks `text` under a new number. The oldest texts go when the bound
    /// is passed, never the one just parked: a result larger than the
    /// bound alone was evicted at once, and the client got the placeholder
    /// instead of its result.
    fn park(&mut self, text: String) -> u64 {
        let n = self.next;
        self.next += 1;
        self.bytes += text.len();
        self.texts.insert(n, text);
        while self.bytes > MAX_PARKED_BYTES && self.texts.len() > 1 {
            if let Some((_, old)) = self.texts.pop_first() {
                self.bytes -= old.len();
            }
        }
        n
    }

    fn redeem(&mut self, n: u64) -> Option<String> {
        let text = self.texts.remove(&n)?;
        self.bytes -= text.len();
        Some(text)
    }
}

/// Parks `text`; returns its ticket.
pub fn park(text: String) -> String {
    let n = PARKED.lock().unwrap_or_else(|e| e.into_inner()).park(text);
    format!("{}{n}", prefix())
}

/// The text parked under `ticket`, once.
pub fn redeem(ticket: &str) -> Option<String> {
    let n: u64 = ticket.strip_prefix(prefix())?.parse().ok()?;
    PARKED.lock().unwrap_or_else(|e| e.into_inner()).redeem(n)
}

/// The placeholder object for `ticket`, as JSON text.
pub fn placeholder(ticket: &str) -> String {
    serde_json::json!({ TICKET_KEY: ticket }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_redeems_its_text_once() {
        let t = park("{\"a\":1}".to_string());
        assert!(t.starts_with(prefix()));
        assert_eq!(redeem(&t).as_deref(), Some("{\"a\":1}"));
        assert_eq!(redeem(&t), None);
    }

    #[test]
    fn a_text_larger_than_the_bound_is_parked_and_evicts_older_ones() {
        let mut p = Parked {
            next: 0,
            bytes: 0,
            texts: BTreeMap::new(),
        };
        let old = p.park("{}".to_string());
        let big = p.park("x".repeat(MAX_PARKED_BYTES + 1));
        assert_eq!(p.redeem(old), None);
        assert_eq!(p.redeem(big).map(|s| s.len()), Some(MAX_PARKED_BYTES + 1));
        assert_eq!(p.bytes, 0);
    }

    #[test]
    fn a_forged_ticket_redeems_nothing() {
        assert_eq!(redeem("0000000000000000-0"), None);
        assert_eq!(redeem("0"), None);
    }
}
