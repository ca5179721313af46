//! Quoting client input in messages. An error that repeats what the client
//! sent helps it correct the call, but a value can be megabytes long: every
//! message quotes at most a short prefix of a value, with its full length,
//! and no message is longer than [`MAX_MESSAGE_BYTES`]. The one design
//! choice: this module imports nothing of the crate, so the domains (whose
//! errors name ids and paths) and the MCP layer share it without breaking
//! the layering.

/// Most characters of a value a message quotes.
pub const QUOTE_CHARS: usize = 64;

/// Longest message a tool error carries, in bytes (a backstop for messages
/// that embed client text without [`quote`]).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Why `value` is refused when it is longer than `max` characters ("is N
/// characters long; at most M characters are accepted"), never echoing it;
/// `None` when it fits.
pub fn too_long(value: &str, max: usize) -> Option<String> {
    // Bytes bound characters from above: the count is needed only beyond.
    if value.len() <= max {
        return None;
    }
    let n = value.chars().count();
    (n > max).then(|| format!("is {n} characters long; at most {max} characters are accepted"))
}

/// `value` in backticks, cut to [`QUOTE_CHARS`] characters with `…` and
/// its length in bytes when longer: "`aaaa…` (1048576 bytes)".
pub fn quote(value: &str) -> String {
    match cut(value) {
        None => format!("`{value}`"),
        Some(prefix) => format!("`{prefix}…` ({} bytes)", value.len()),
    }
}

/// `value` as is, or cut like [`quote`] without the backticks.
pub fn short(value: &str) -> String {
    match cut(value) {
        None => value.to_string(),
        Some(prefix) => format!("{prefix}… ({} bytes)", value.len()),
    }
}

/// The first [`QUOTE_CHARS`] characters of `value` when it is longer.
fn cut(value: &str) -> Option<&str> {
    let (end, _) = value.char_indices().nth(QUOTE_CHARS)?;
    Some(&value[..end])
}

/// `message` as is, or its start and end around a note of what was left
/// out when it is longer than [`MAX_MESSAGE_BYTES`].
pub fn bound_message(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let head = floor_char(&message, MAX_MESSAGE_BYTES / 2);
    let tail = ceil_char(&message, message.len() - MAX_MESSAGE_BYTES / 4);
    format!(
        "{}… ({} bytes left out) …{}",
        &message[..head],
        tail - head,
        &message[tail..]
    )
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_quoted_as_a_prefix_with_its_length() {
        assert_eq!(quote("a-1"), "`a-1`");
        let long = "é".repeat(1 << 19);
        let q = quote(&long);
        assert!(q.starts_with(&format!("`{}…`", "é".repeat(QUOTE_CHARS))));
        assert!(q.ends_with("(1048576 bytes)"), "{q}");
        assert_eq!(short("x"), "x");
    }

    #[test]
    fn a_long_message_keeps_its_start_and_end() {
        let m = format!("invalid argument `x`: {} is bad", "é".repeat(1 << 20));
        let b = bound_message(m);
        assert!(b.len() <= MAX_MESSAGE_BYTES + 64, "{}", b.len());
        assert!(b.starts_with("invalid argument `x`: "));
        assert!(b.ends_with(" is bad"));
        assert!(b.contains("bytes left out"));
    }
}
