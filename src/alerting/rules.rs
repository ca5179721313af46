//! Static rule conditions: a tiny, safe expression language over a point's
//! `value`, `labels.x`, `metric` and `source`, e.g.
//! `value > 80 and labels.env == "prod"` or `abs(value - 50) >= 10`.
//!
//! Design choice: a hand-written tokenizer and recursive-descent parser that
//! compiles a condition ONCE (when the rule is added) into a small tree,
//! type-checks it, and reports errors with their character position. There is
//! no general-purpose interpreter behind it (nothing can loop, call out or
//! allocate per evaluation), and the common `value OP number` shape is
//! recognised at compile time and evaluated without walking the tree, which
//! is what keeps the rule path at millions of points per second.

use std::fmt;

/// Why a condition did not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    /// 0-based character offset of the error in the condition.
    pub position: usize,
    /// What was expected there.
    pub message: String,
}

/// What a condition reads from a point.
#[derive(Debug, Clone, Copy)]
pub struct PointView<'a> {
    /// The metric name.
    pub metric: &'a str,
    /// The reported value.
    pub value: f64,
    /// Where it came from (empty when not given).
    pub source: &'a str,
    /// Labels, sorted by key.
    pub labels: &'a [(String, String)],
}

impl<'a> PointView<'a> {
    fn label(&self, key: &str) -> Option<&'a str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    fn apply_num(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
    fn apply_ord(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Gt => o == Greater,
            CmpOp::Ge => o != Less,
            CmpOp::Lt => o == Less,
            CmpOp::Le => o != Greater,
            CmpOp::Eq => o == Equal,
            CmpOp::Ne => o != Equal,
        }
    }
    /// The operator with its sides swapped (`3 < value` is `value > 3`).
    fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(f64),
    Str(String),
    Bool(bool),
    Value,
    Metric,
    Source,
    Label(String),
    Neg(Box<Node>),
    Abs(Box<Node>),
    Arith(ArOp, Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Str,
    Bool,
    /// A label: a string that compares as a number when it parses as one.
    Label,
}

/// Runtime value.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Missing,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source_text: String,
    root: Node,
    fast: Option<(CmpOp, f64)>,
    threshold: Option<(CmpOp, f64)>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_text)
    }
}

impl Condition {
    /// Compiles a condition; errors carry the character position.
    pub fn parse(text: &str) -> Result<Condition, ParseError> {
        let tokens = tokenize(text)?;
        if let Some(t) = tokens.get(MAX_TOKENS) {
            return Err(ParseError {
                position: t.pos,
                message: format!(
                    "a condition has at most {MAX_TOKENS} tokens (values, operators, parentheses)"
                ),
            });
        }
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.chars().count(),
            depth: 0,
        };
        let root = p.expr()?;
        if let Some(t) = p.peek() {
            return Err(ParseError {
                position: t.pos,
                message: format!("unexpected {}; expected `and`, `or` or the end", t.kind),
            });
        }
        let ty = check(&root)?;
        if ty != Ty::Bool {
            return Err(ParseError {
                position: 0,
                message: "a condition must be true or false, e.g. `value > 80`".into(),
            });
        }
        let fast = match &root {
            Node::Cmp(op, a, b) => match (a.as_ref(), b.as_ref()) {
                (Node::Value, Node::Num(n)) => Some((*op, *n)),
                (Node::Num(n), Node::Value) => Some((op.flipped(), *n)),
                _ => None,
            },
            _ => None,
        };
        let threshold = find_threshold(&root);
        Ok(Condition {
            source_text: text.to_string(),
            root,
            fast,
            threshold,
        })
    }

    /// The text the condition was compiled from.
    pub fn text(&self) -> &str {
        &self.source_text
    }

    /// The first `value OP number` comparison in the condition: the threshold
    /// that templates show as `{threshold}` and priority measures distance from.
    pub fn threshold(&self) -> Option<(CmpOp, f64)> {
        self.threshold
    }

    /// Evaluates the condition for one point.
    #[inline]
    pub fn eval(&self, p: &PointView<'_>) -> bool {
        if let Some((op, n)) = self.fast {
            return op.apply_num(p.value, n);
        }
        matches!(eval(&self.root, p), Val::Bool(true))
    }
}

fn find_threshold(n: &Node) -> Option<(CmpOp, f64)> {
    match n {
        Node::Cmp(op, a, b) => match (a.as_ref(), b.as_ref()) {
            (Node::Value | Node::Abs(_), Node::Num(x)) => Some((*op, *x)),
            (Node::Num(x), Node::Value | Node::Abs(_)) => Some((op.flipped(), *x)),
            _ => None,
        },
        Node::And(a, b) | Node::Or(a, b) => find_threshold(a).or_else(|| find_threshold(b)),
        Node::Not(a) => find_threshold(a),
        _ => None,
    }
}

fn eval<'a>(n: &'a Node, p: &PointView<'a>) -> Val<'a> {
    match n {
        Node::Num(x) => Val::Num(*x),
        Node::Str(s) => Val::Str(s),
        Node::Bool(b) => Val::Bool(*b),
        Node::Value => Val::Num(p.value),
        Node::Metric => Val::Str(p.metric),
        Node::Source => Val::Str(p.source),
        Node::Label(k) => p.label(k).map_or(Val::Missing, Val::Str),
        Node::Neg(a) => num(eval(a, p)).map_or(Val::Missing, |x| Val::Num(-x)),
        Node::Abs(a) => num(eval(a, p)).map_or(Val::Missing, |x| Val::Num(x.abs())),
        Node::Arith(op, a, b) => match (num(eval(a, p)), num(eval(b, p))) {
            (Some(x), Some(y)) => Val::Num(match op {
                ArOp::Add => x + y,
                ArOp::Sub => x - y,
                ArOp::Mul => x * y,
                ArOp::Div => x / y,
            }),
            _ => Val::Missing,
        },
        Node::Cmp(op, a, b) => Val::Bool(compare(*op, eval(a, p), eval(b, p))),
        Node::And(a, b) => Val::Bool(truthy(eval(a, p)) && truthy(eval(b, p))),
        Node::Or(a, b) => Val::Bool(truthy(eval(a, p)) || truthy(eval(b, p))),
        Node::Not(a) => Val::Bool(!truthy(eval(a, p))),
    }
}

fn truthy(v: Val<'_>) -> bool {
    matches!(v, Val::Bool(true))
}

fn num(v: Val<'_>) -> Option<f64> {
    match v {
        Val::Num(x) => Some(x),
        Val::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(op: CmpOp, a: Val<'_>, b: Val<'_>) -> bool {
    match (a, b) {
        // A missing label equals nothing and differs from everything.
        (Val::Missing, _) | (_, Val::Missing) => op == CmpOp::Ne,
        (Val::Str(x), Val::Str(y)) => op.apply_ord(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => op.apply_ord(x.cmp(&y)),
        (x, y) => match (num(x), num(y)) {
            (Some(x), Some(y)) => op.apply_num(x, y),
            _ => op == CmpOp::Ne,
        },
    }
}

fn check(n: &Node) -> Result<Ty, ParseError> {
    let err = |m: &str| ParseError {
        position: 0,
        message: m.to_string(),
    };
    Ok(match n {
        Node::Num(_) | Node::Value => Ty::Num,
        Node::Str(_) | Node::Metric | Node::Source => Ty::Str,
        Node::Label(_) => Ty::Label,
        Node::Bool(_) => Ty::Bool,
        Node::Neg(a) | Node::Abs(a) => {
            if matches!(check(a)?, Ty::Str | Ty::Bool) {
                return Err(err("`-` and `abs()` need a number"));
            }
            Ty::Num
        }
        Node::Arith(_, a, b) => {
            if matches!(check(a)?, Ty::Str | Ty::Bool) || matches!(check(b)?, Ty::Str | Ty::Bool) {
                return Err(err("arithmetic needs numbers"));
            }
            Ty::Num
        }
        Node::Cmp(_, a, b) => {
            let (x, y) = (check(a)?, check(b)?);
            let ok = matches!(
                (x, y),
                (Ty::Num | Ty::Label, Ty::Num | Ty::Label)
                    | (Ty::Str | Ty::Label, Ty::Str | Ty::Label)
                    | (Ty::Bool, Ty::Bool)
            );
            if !ok {
                return Err(err(
                    "cannot compare a number with a string; quote both sides or neither",
                ));
            }
            Ty::Bool
        }
        Node::And(a, b) | Node::Or(a, b) => {
            if check(a)? != Ty::Bool || check(b)? != Ty::Bool {
                return Err(err("`and`/`or` join conditions such as `value > 80`"));
            }
            Ty::Bool
        }
        Node::Not(a) => {
            if check(a)? != Ty::Bool {
                return Err(err("`not` applies to a condition such as `value > 80`"));
            }
            Ty::Bool
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Dot,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Op(o) => write!(f, "`{o}`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Dot => f.write_str("`.`"),
            Tok::Comma => f.write_str("`,`"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    pos: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || chars[i] == '_'
                    || ((chars[i] == 'e' || chars[i] == 'E') && i > start)
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n: f64 = s.parse().map_err(|_| ParseError {
                position: start,
                message: format!("`{s}` is not a number"),
            })?;
            Tok::Num(n)
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ParseError {
                            position: start,
                            message: "string is not closed".into(),
                        });
                    }
                    Some('\\') => {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(o) => {
                        s.push(*o);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op2 = match two.as_str() {
                ">=" => Some(">="),
                "<=" => Some("<="),
                "==" => Some("=="),
                "!=" => Some("!="),
                "&&" => Some("and"),
                "||" => Some("or"),
                _ => None,
            };
            if let Some(op) = op2 {
                i += 2;
                Tok::Op(op)
            } else {
                i += 1;
                match c {
                    '>' => Tok::Op(">"),
                    '<' => Tok::Op("<"),
                    '+' => Tok::Op("+"),
                    '-' => Tok::Op("-"),
                    '*' => Tok::Op("*"),
                    '/' => Tok::Op("/"),
                    '!' => Tok::Op("not"),
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '.' => Tok::Dot,
                    ',' => Tok::Comma,
                    '=' => {
                        return Err(ParseError {
                            position: start,
                            message: "use `==` to compare".into(),
                        });
                    }
                    other => {
                        return Err(ParseError {
                            position: start,
                            message: format!("unexpected character `{other}`"),
                        });
                    }
                }
            }
        };
        out.push(Token { kind, pos: start });
    }
    Ok(out)
}

/// Longest condition, in tokens. Evaluating, type-checking and dropping a
/// condition recurse over its tree, whose depth this bounds (a chain of
/// `or`s is as deep as it is long), so no condition can exhaust the stack.
const MAX_TOKENS: usize = 1000;

/// Deepest nesting of parentheses, `abs(`, `not` and unary `-`: the parser
/// recurses through eight functions per level.
const MAX_NESTING: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    /// Current nesting (see [`MAX_NESTING`]).
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            position: self.here(),
            message: message.into(),
        })
    }
    fn is_word(&self, w: &str) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(Tok::Ident(s)) => s.eq_ignore_ascii_case(w),
            Some(Tok::Op(o)) => *o == w,
            _ => false,
        }
    }
    /// Parses one nested level with `f`, refusing to go deeper than
    /// [`MAX_NESTING`].
    fn nested(
        &mut self,
        f: fn(&mut Parser) -> Result<Node, ParseError>,
    ) -> Result<Node, ParseError> {
        if self.depth >= MAX_NESTING {
            // At the token that opened the level too many.
            let opener = self.pos.checked_sub(1).and_then(|i| self.tokens.get(i));
            return Err(ParseError {
                position: opener.map_or(self.here(), |t| t.pos),
                message: format!(
                    "nested more than {MAX_NESTING} levels deep (parentheses, abs(), not, -)"
                ),
            });
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }
    fn expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Node, ParseError> {
        let mut left = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Node, ParseError> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.nested(Parser::not)?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Node, ParseError> {
        let left = self.sum()?;
        let op = match self.peek().map(|t| &t.kind) {
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op("==")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(Node::Cmp(op, Box::new(left), Box::new(right)))
    }
    fn sum(&mut self) -> Result<Node, ParseError> {
        let mut left = self.prod()?;
        loop {
            let op = match self.peek().map(|t| &t.kind) {
                Some(Tok::Op("+")) => ArOp::Add,
                Some(Tok::Op("-")) => ArOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.prod()?;
            left = Node::Arith(op, Box::new(left), Box::new(right));
        }
    }
    fn prod(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().map(|t| &t.kind) {
                Some(Tok::Op("*")) => ArOp::Mul,
                Some(Tok::Op("/")) => ArOp::Div,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = Node::Arith(op, Box::new(left), Box::new(right));
        }
    }
    fn unary(&mut self) -> Result<Node, ParseError> {
        if matches!(self.peek().map(|t| &t.kind), Some(Tok::Op("-"))) {
            self.pos += 1;
            return Ok(match self.nested(Parser::unary)? {
                Node::Num(n) => Node::Num(-n),
                other => Node::Neg(Box::new(other)),
            });
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Node, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return self.err(
                "expression ends early; expected a value such as `value`, a number or a string",
            );
        };
        self.pos += 1;
        match tok.kind {
            Tok::Num(n) => Ok(Node::Num(n)),
            Tok::Str(s) => Ok(Node::Str(s)),
            Tok::LParen => {
                let inner = self.nested(Parser::expr)?;
                if !matches!(self.peek().map(|t| &t.kind), Some(Tok::RParen)) {
                    return self.err("expected `)`");
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Ident(name) => match name.to_ascii_lowercase().as_str() {
                "value" => Ok(Node::Value),
                "metric" => Ok(Node::Metric),
                "source" => Ok(Node::Source),
                "true" => Ok(Node::Bool(true)),
                "false" => Ok(Node::Bool(false)),
                "labels" => {
                    if !matches!(self.peek().map(|t| &t.kind), Some(Tok::Dot)) {
                        return self.err(
                            "expected `.` and a label name after `labels`, e.g. `labels.env`",
                        );
                    }
                    self.pos += 1;
                    match self.peek().map(|t| t.kind.clone()) {
                        Some(Tok::Ident(k)) => {
                            self.pos += 1;
                            Ok(Node::Label(k))
                        }
                        _ => self.err("expected a label name after `labels.`"),
                    }
                }
                "abs" => {
                    if !matches!(self.peek().map(|t| &t.kind), Some(Tok::LParen)) {
                        return self.err("expected `(` after `abs`");
                    }
                    self.pos += 1;
                    let inner = self.nested(Parser::expr)?;
                    if !matches!(self.peek().map(|t| &t.kind), Some(Tok::RParen)) {
                        return self.err("expected `)` closing `abs(`");
                    }
                    self.pos += 1;
                    Ok(Node::Abs(Box::new(inner)))
                }
                _ => Err(ParseError {
                    position: tok.pos,
                    message: format!(
                        "unknown name `{name}`; known: value, labels.<name>, metric, source, abs(), true, false, and, or, not"
                    ),
                }),
            },
            other => Err(ParseError {
                position: tok.pos,
                message: format!(
                    "unexpected {other}; expected a value such as `value`, a number or a string"
                ),
            }),
        }
    }
}

/// Fills `{metric}`, `{value}`, `{threshold}`, `{source}`, `{severity}`,
/// `{labels.x}` in a title or description template. Unknown placeholders
/// are left as written, so a typo is visible rather than silently empty.
pub fn render_template(
    template: &str,
    p: &PointView<'_>,
    threshold: Option<f64>,
    severity: &str,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = after[..close].trim();
        let filled = match key {
            "metric" => Some(p.metric.to_string()),
            "value" => Some(format_num(p.value)),
            "threshold" => Some(threshold.map_or_else(|| "n/a".to_string(), format_num)),
            "source" => Some(p.source.to_string()),
            "severity" => Some(severity.to_string()),
            k if k.starts_with("labels.") => {
                Some(p.label(&k["labels.".len()..]).unwrap_or("").to_string())
            }
            _ => None,
        };
        match filled {
            Some(s) => out.push_str(&s),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Shortest readable form of a number (`80`, not `80.0`; at most 6 decimals).
pub fn format_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    fn run(cond: &str, value: f64, l: &[(&str, &str)]) -> bool {
        let ls = labels(l);
        Condition::parse(cond).unwrap().eval(&PointView {
            metric: "cpu",
            value,
            source: "web-1",
            labels: &ls,
        })
    }

    #[test]
    fn comparisons_logic_and_labels() {
        assert!(run("value > 80", 81.0, &[]));
        assert!(!run("value > 80", 80.0, &[]));
        assert!(run("80 < value", 81.0, &[]));
        assert!(run(
            "value > 80 and labels.env == \"prod\"",
            90.0,
            &[("env", "prod")]
        ));
        assert!(!run(
            "value > 80 and labels.env == 'prod'",
            90.0,
            &[("env", "dev")]
        ));
        assert!(run("not (value < 10) or false", 50.0, &[]));
        assert!(run("abs(value - 50) >= 10", 39.0, &[]));
        assert!(run("labels.region != \"eu\"", 1.0, &[]));
        assert!(!run("labels.region == \"eu\"", 1.0, &[]));
        assert!(run("labels.shard > 3", 1.0, &[("shard", "4")]));
        assert!(run("source == \"web-1\" && metric == \"cpu\"", 0.0, &[]));
        assert!(run("value >= -1.5e1", -15.0, &[]));
    }

    #[test]
    fn deep_or_long_conditions_are_refused_not_a_stack_overflow() {
        // The deepest and longest accepted conditions parse, type-check,
        // evaluate and drop on a test thread's 2 MB stack in a debug build.
        let deep = format!("{}value > 1{}", "(".repeat(64), ")".repeat(64));
        assert!(run(&deep, 2.0, &[]));
        let nots = format!("{}value > 1", "not ".repeat(64));
        assert!(run(&nots, 2.0, &[]));
        let chain = vec!["value == 1"; 250].join(" or "); // 999 tokens
        assert!(run(&chain, 1.0, &[]));
        assert!(!run(&chain, 2.0, &[]));

        let e = Condition::parse(&format!("{}value > 1{}", "(".repeat(65), ")".repeat(65)))
            .unwrap_err();
        assert_eq!(e.position, 64, "{e}");
        assert!(e.message.contains("nested more than 64 levels"), "{e}");
        for n in [300, 200_000] {
            for text in [
                format!("{}value > 1{}", "(".repeat(n), ")".repeat(n)),
                format!("{}value > 1", "not ".repeat(n)),
                format!("{}value > 1", "-".repeat(n)),
                format!("{}value{} > 1", "abs(".repeat(n / 2), ")".repeat(n / 2)),
            ] {
                let e = Condition::parse(&text).unwrap_err();
                let why = if n < 1000 {
                    "nested more than"
                } else {
                    "at most 1000 tokens"
                };
                assert!(e.message.contains(why), "{e}");
            }
        }
        let e = Condition::parse(&vec!["value == 1"; 100_000].join(" or ")).unwrap_err();
        assert!(e.message.contains("at most 1000 tokens"), "{e}");
        assert_eq!(e.position, 250 * "value == 1 or ".len(), "{e}");
    }

    #[test]
    fn errors_carry_positions() {
        let e = Condition::parse("value > ").unwrap_err();
        assert_eq!(e.position, 8);
        let e = Condition::parse("value >> 3").unwrap_err();
        assert_eq!(e.position, 7);
        let e = Condition::parse("valu > 3").unwrap_err();
        assert_eq!(e.position, 0);
        assert!(e.message.contains("unknown name `valu`"));
        let e = Condition::parse("value = 3").unwrap_err();
        assert_eq!(e.position, 6);
        let e = Condition::parse("value > \"x\"").unwrap_err();
        assert!(e.message.contains("cannot compare"), "{e}");
        let e = Condition::parse("value + 1").unwrap_err();
        assert!(e.message.contains("true or false"));
        let e = Condition::parse("(value > 1").unwrap_err();
        assert_eq!(e.position, 10);
        let e = Condition::parse("value > 1 $").unwrap_err();
        assert_eq!(e.position, 10);
    }

    #[test]
    fn threshold_and_templates() {
        let c = Condition::parse("labels.env == \"prod\" and 90 <= value").unwrap();
        assert_eq!(c.threshold(), Some((CmpOp::Ge, 90.0)));
        let ls = labels(&[("env", "prod")]);
        let p = PointView {
            metric: "cpu",
            value: 93.25,
            source: "db",
            labels: &ls,
        };
        assert_eq!(
            render_template(
                "{metric} on {source} ({labels.env}) is {value} > {threshold} {x}",
                &p,
                Some(90.0),
                "critical"
            ),
            "cpu on db (prod) is 93.25 > 90 {x}"
        );
    }
}
