//! Writing Mermaid text that parses whatever the input: node and class ids
//! are generated (`n0`, `p3`, `C7`), never taken from the input, so no user
//! string can collide with a keyword such as `end`; user text only appears in
//! quoted labels, where every character outside a small safe set is written
//! as a Mermaid entity code (`#34;`), which Mermaid turns back into the
//! character when it renders.

/// Characters written as themselves in labels; everything else becomes `#N;`.
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            ' ' | '_'
                | '-'
                | '.'
                | ','
                | '/'
                | '+'
                | '='
                | '!'
                | '?'
                | '\''
                | '@'
                | '$'
                | '*'
                | '('
                | ')'
                | ':'
        )
}

/// A label for inside `"..."` (flowchart nodes and edges, class names) or a
/// sequence message: safe characters as is, the rest as entity codes, line
/// breaks as spaces.
pub fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_safe(c) => out.push(c),
            c => {
                out.push('#');
                out.push_str(&(c as u32).to_string());
                out.push(';');
            }
        }
    }
    // An all-blank label is valid Mermaid but invisible; keep something.
    if out.trim().is_empty() {
        "#160;".to_string()
    } else {
        out
    }
}

/// A class-diagram member line: anything but braces and line breaks is
/// allowed there, and `<`/`>` become Mermaid's generic marker `~`.
pub fn member(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '{' => '(',
            '}' => ')',
            '<' | '>' => '~',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A relation label in a class diagram (after `:`): identifier characters only.
pub fn relation_label(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_entity_coded() {
        assert_eq!(label("a\"b"), "a#34;b");
        assert_eq!(label("[x]"), "#91;x#93;");
        assert_eq!(label("end"), "end");
        assert_eq!(label("é"), "#233;");
        assert_eq!(label("a;b|c"), "a#59;b#124;c");
        assert_eq!(label("#34;"), "#35;34#59;");
        assert_eq!(label(""), "#160;");
        assert_eq!(member("Vec<String> {x}"), "Vec~String~ (x)");
        assert_eq!(relation_label("a b;c"), "a_b_c");
    }
}
