//! Bulk tool arguments, parsed once, straight into the tool's argument type.
//!
//! rmcp decodes each incoming line through serde's buffered untagged enums:
//! the `arguments` of a `tools/call` are copied into serde's `Content` tree,
//! cloned while the request variant is found, turned into a
//! `serde_json::Value` map and only then deserialised into the tool's
//! argument struct. For a 10,000-point `check_metrics` call (600 KB) that was
//! the largest part of the server's time, more than the alerting engine.
//!
//! Design choice: rather than replace rmcp's transport (its line reader
//! handles cancellation, over-long lines, BOMs and error replies that we
//! keep), [`LiftArgs`] sits *under* it as an `AsyncRead`. For a `tools/call`
//! of one of the [`BULK_TOOLS`] it lifts the `arguments` text out of the
//! line (a bracket-matching scan that only frames the value, so no second
//! parse; serde parses the text once, in the tool), parks it under a ticket and forwards the line with
//! `"arguments":{"$parked":"<ticket>"}`; every other line passes through
//! byte for byte. The tool takes [`BulkParams<T>`] instead of
//! `Parameters<T>`: it redeems the ticket and deserialises `T` from the text
//! in one pass (and falls back to rmcp's path when it gets plain arguments,
//! so nothing depends on the lifting having happened). Tickets carry a
//! per-process random prefix, so a client cannot redeem what it did not send
//! in this process; parked text is bounded (oldest dropped first).
//!
//! Since it frames every line anyway, [`LiftArgs`] also hands on two kinds
//! of request rmcp would drop or misread: a line up to the 16 MiB limit that
//! is not valid JSON but has an id, as a request rmcp answers with the reason
//! (see `unparsable`), and a `tools/call` whose `arguments` is not an
//! object, with a marker in their place that the server answers with
//! invalid params ([`rejected_arguments`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, ReadBuf};

use super::parked::{TICKET_KEY, park, placeholder, redeem};
use crate::server::args;

/// Tools whose arguments are lifted out of the line before rmcp parses it.
pub const BULK_TOOLS: &[&str] = &["check_metrics", "check_metric"];

/// Lines longer than this pass through untouched (rmcp rejects them).
const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;

/// Skips JSON whitespace from `i`.
fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the JSON string starting at `b[i] == '"'` (one past its quote).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        i += memchr::memchr2(b'"', b'\\', &b[i..])?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
    None
}

/// The end of the JSON value starting at `i` (strings, objects and arrays
/// by their brackets; scalars up to the next delimiter). It only frames the
/// value: the value itself is parsed by whoever takes it. An object's end
/// is found by counting braces outside strings and an array's by counting
/// square brackets (in valid JSON the other kind nests inside), so the scan
/// jumps from one of three bytes to the next with `memchr3`; invalid JSON
/// that frames oddly is still rejected by the parse that follows.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    let (open, close) = match *b.get(i)? {
        b'"' => return string_end(b, i),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            return (j > i).then_some(j);
        }
    };
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        j += memchr::memchr3(b'"', open, close, &b[j..])?;
        match b[j] {
            b'"' => {
                j = string_end(b, j)?;
                continue;
            }
            c if c == open => depth += 1,
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
        }
        j += 1;
    }
    None
}

/// An object's members: raw key bytes (without quotes) and value spans.
type Members<'a> = Vec<(&'a [u8], std::ops::Range<usize>)>;

/// The members of the object member named `.0` whose value is an object,
/// framed while the outer object is (see [`leading_members`]).
type Inner<'s, 'a> = Option<(&'s [u8], &'s mut Option<Members<'a>>)>;

/// The members of the object starting at `b[i]` that frame correctly, in
/// order, and one past its closing brace when the whole object did (for a
/// truncated request, the `id` before the point where it breaks off).
/// With `inner`, the value of the member of that name, when an object, is
/// framed member by member into its slot, and that framing is what finds
/// its end: a `tools/call`'s `params` are not scanned twice, once to skip
/// them and once for their `arguments`.
fn leading_members<'a>(
    b: &'a [u8],
    i: usize,
    mut inner: Inner<'_, 'a>,
) -> (Members<'a>, Option<usize>) {
    let mut out = Vec::new();
    if b.get(i) != Some(&b'{') {
        return (out, None);
    }
    let mut j = ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return (out, Some(j + 1));
    }
    loop {
        if b.get(j) != Some(&b'"') {
            return (out, None);
        }
        let Some(key_end) = string_end(b, j) else {
            return (out, None);
        };
        let key = &b[j + 1..key_end - 1];
        j = ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return (out, None);
        }
        let start = ws(b, j + 1);
        let end = match &mut inner {
            Some((name, slot)) if key == *name && b.get(start) == Some(&b'{') => {
                let (members, end) = leading_members(b, start, None);
                **slot = end.map(|_| members);
                end
            }
            _ => value_end(b, start),
        };
        let Some(end) = end else {
            return (out, None);
        };
        out.push((key, start..end));
        j = ws(b, end);
        match b.get(j) {
            Some(b',') => j = ws(b, j + 1),
            Some(b'}') => return (out, Some(j + 1)),
            _ => return (out, None),
        }
    }
}

/// The one member named `key` (raw, unescaped names only); `None` when it is
/// absent or repeated.
fn member(list: &[(&[u8], std::ops::Range<usize>)], key: &str) -> Option<std::ops::Range<usize>> {
    let mut found = list.iter().filter(|(k, _)| *k == key.as_bytes());
    let (_, span) = found.next()?;
    found.next().is_none().then(|| span.clone())
}

/// The line to forward: with the arguments of a bulk tool call parked, or
/// `None` to forward it unchanged (anything unusual is left to rmcp).
fn lift(line: &[u8]) -> Option<Vec<u8>> {
    let mut params = None;
    let (top, end) = leading_members(line, ws(line, 0), Some((b"params", &mut params)));
    end?;
    if &line[member(&top, "method")?] != b"\"tools/call\"" {
        return None;
    }
    // One `params`, an object (a repeated one is left to rmcp, as before).
    member(&top, "params")?;
    let params = params?;
    let name = &line[member(&params, "name")?];
    let args = member(&params, "arguments")?;
    if line[args.start] != b'{' && &line[args.clone()] != b"null" {
        // rmcp reads such a call as an unknown method and answers
        // "method not found: tools/call"; with the marker in their place,
        // the server answers invalid params (see `rejected_arguments`).
        let kind = match line[args.start] {
            b'[' => "an array",
            b'"' => "a string",
            b't' | b'f' => "a boolean",
            _ => "a number",
        };
        let marker = serde_json::json!({ INVALID_ARGUMENTS_KEY: kind }).to_string();
        let mut out = Vec::with_capacity(line.len() - args.len() + marker.len());
        out.extend_from_slice(&line[..args.start]);
        out.extend_from_slice(marker.as_bytes());
        out.extend_from_slice(&line[args.end..]);
        return Some(out);
    }
    let is_bulk = BULK_TOOLS
        .iter()
        .any(|t| name.len() == t.len() + 2 && &name[1..name.len() - 1] == t.as_bytes());
    if !is_bulk || line[args.start] != b'{' {
        return None;
    }
    let text = std::str::from_utf8(&line[args.clone()]).ok()?;
    let ticket = park(text.to_string());
    let placeholder = placeholder(&ticket);
    let mut out = Vec::with_capacity(line.len() - text.len() + placeholder.len());
    out.extend_from_slice(&line[..args.start]);
    out.extend_from_slice(placeholder.as_bytes());
    out.extend_from_slice(&line[args.end..]);
    Some(out)
}

/// The member that stands in for `arguments` that are not an object (its
/// value says what they were instead).
const INVALID_ARGUMENTS_KEY: &str = "$invalid_arguments";

/// What the stand-in member may say, so the error never echoes client text.
const ARGUMENT_KINDS: &[&str] = &["an array", "a string", "a boolean", "a number"];

/// The JSON-RPC error (-32602, invalid params) for a `tools/call` whose
/// `arguments` [`LiftArgs`] found not to be an object; `None` for any other.
pub fn rejected_arguments(arguments: Option<&JsonObject>) -> Option<rmcp::ErrorData> {
    let arguments = arguments.filter(|a| a.len() == 1)?;
    let kind = arguments.get(INVALID_ARGUMENTS_KEY)?.as_str()?;
    let kind = ARGUMENT_KINDS.iter().find(|k| **k == kind)?;
    Some(rmcp::ErrorData::invalid_params(
        format!("invalid params: `arguments` of tools/call must be a JSON object, not {kind}"),
        None,
    ))
}

/// Any JSON value, checked as serde_json checks one it builds (nesting
/// depth, number range, string escapes) without building it: the check of
/// every line, up to the 16 MiB limit, at the cost of a scan.
struct Skim;

impl<'de> serde::Deserialize<'de> for Skim {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skim, D::Error> {
        d.deserialize_any(Skim)
    }
}

impl<'de> serde::de::Visitor<'de> for Skim {
    type Value = Skim;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_unit<E>(self) -> Result<Skim, E> {
        Ok(Skim)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Skim, A::Error> {
        while a.next_element::<Skim>()?.is_some() {}
        Ok(Skim)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Skim, A::Error> {
        while a.next_entry::<Skim, Skim>()?.is_some() {}
        Ok(Skim)
    }
}

/// For a line rmcp would drop as unparsable JSON (nesting deeper than 128,
/// a lone surrogate, `1e400`, `NaN`), a request it answers instead: the
/// same id and, as the method, what was wrong. rmcp only logs such lines
/// at debug level, so the client waited for an answer forever; now it gets
/// "method not found" with the reason as the message. `None` for a valid
/// line, or one without a readable id (nothing could be answered).
fn unparsable(line: &[u8]) -> Option<Vec<u8>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let error = serde_json::from_slice::<Skim>(line).err()?;
    let reason = format!("request not understood: invalid JSON ({error})");
    // A truncated request still has the members before the cut.
    let (top, _) = leading_members(line, ws(line, 0), None);
    answer_instead(line, &top, &reason)
}

/// A request rmcp answers with -32601 and `reason` as the message, under
/// the id of the request `line` (whose top-level members are `top`); `None`
/// when it has no readable id.
fn answer_instead(
    line: &[u8],
    top: &[(&[u8], std::ops::Range<usize>)],
    reason: &str,
) -> Option<Vec<u8>> {
    // A response of the client's (no method) is never turned into a request.
    member(top, "method")?;
    let id = member(top, "id").filter(|id| matches!(line[id.start], b'"' | b'-' | b'0'..=b'9'));
    let Some(id) = id.and_then(|id| serde_json::from_slice::<serde_json::Value>(&line[id]).ok())
    else {
        tracing::warn!("ignoring a line without a request id: {reason}");
        return None;
    };
    tracing::warn!(%id, "answering a request rmcp would not: {reason}");
    let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": reason, "params": {}});
    Some(reply.to_string().into_bytes())
}

/// An `AsyncRead` over the client's stream that parks the arguments of bulk
/// tool calls (see the module doc). Put it between stdin and rmcp.
pub struct LiftArgs<R> {
    inner: R,
    chunk: Box<[u8]>,
    /// Bytes of a line not yet complete.
    pending: Vec<u8>,
    /// Bytes ready for the reader above, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Inside an over-long line: forward as is up to its newline.
    passthrough: bool,
    eof: bool,
}

impl<R> LiftArgs<R> {
    /// Wraps the client's stream.
    pub fn new(inner: R) -> Self {
        LiftArgs {
            inner,
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            passthrough: false,
            eof: false,
        }
    }

    /// Takes `n` freshly read bytes from `chunk`: complete lines go to `out`
    /// (lifted where they qualify), the rest waits in `pending`.
    fn absorb(&mut self, n: usize) {
        let chunk = std::mem::take(&mut self.chunk);
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let newline = memchr::memchr(b'\n', rest);
            if self.passthrough {
                let take = newline.map_or(rest.len(), |i| i + 1);
                self.out.extend_from_slice(&rest[..take]);
                self.passthrough = newline.is_none();
                rest = &rest[take..];
                continue;
            }
            match newline {
                Some(i) => {
                    self.pending.extend_from_slice(&rest[..=i]);
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.pending);
                    let body = line.strip_suffix(b"\n").unwrap_or(&line);
                    let body = body.strip_suffix(b"\r").unwrap_or(body);
                    let lifted = lift(body);
                    let checked = lifted.as_deref().unwrap_or(body);
                    match unparsable(checked).or(lifted) {
                        Some(rewritten) => {
                            self.out.extend_from_slice(&rewritten);
                            self.out.push(b'\n');
                        }
                        None => self.out.extend_from_slice(&line),
                    }
                    self.pending = line;
                    self.pending.clear();
                }
                None => {
                    self.pending.extend_from_slice(rest);
                    rest = &[];
                    if self.pending.len() > MAX_LINE {
                        // Too long to be a message: hand it on for rmcp to reject.
                        self.out.append(&mut self.pending);
                        self.passthrough = true;
                    }
                }
            }
        }
        self.chunk = chunk;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LiftArgs<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                if this.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                // A last line without its newline: forward as is.
                this.out.append(&mut this.pending);
                continue;
            }
            let mut read = ReadBuf::new(&mut this.chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        this.eof = true;
                    } else {
                        this.absorb(n);
                    }
                }
            }
        }
    }
}

/// A tool's arguments, taken from parked text when [`LiftArgs`] lifted them
/// (one typed parse) and from rmcp's argument map otherwise. Its schema is
/// `T`'s: name it in the attribute, `#[tool(input_schema = input_schema::<T>())]`.
#[derive(Debug)]
pub struct BulkParams<T>(pub T);

fn ticket_of(arguments: &JsonObject) -> Option<&str> {
    if arguments.len() != 1 {
        return None;
    }
    arguments.get(TICKET_KEY)?.as_str()
}

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for BulkParams<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        if let Some(text) = ticket_of(&arguments).and_then(redeem) {
            return args::from_str(&text).map(BulkParams);
        }
        args::from_value(serde_json::Value::Object(arguments)).map(BulkParams)
    }
}

/// The `inputSchema` of a tool taking `BulkParams<T>` (the one rmcp derives
/// for `Parameters<T>`).
pub fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>().unwrap_or_else(|e| {
        panic!(
            "invalid input schema for `{}`: {e}",
            std::any::type_name::<T>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn through(input: &[u8]) -> Vec<u8> {
        let mut r = LiftArgs::new(input);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn bulk_arguments_are_parked_and_redeemed_once() {
        let line = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"check_metrics","arguments":{"points":[{"metric_name":"cpu","value":1}]},"_meta":{"progressToken":1}}}"#;
        let mut input = line.to_vec();
        input.push(b'\n');
        let out = through(&input).await;
        let msg: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(msg["id"], 3);
        assert_eq!(msg["params"]["_meta"]["progressToken"], 1);
        let args = msg["params"]["arguments"].as_object().unwrap().clone();
        let ticket = ticket_of(&args).unwrap().to_string();
        let text = redeem(&ticket).unwrap();
        assert_eq!(text, r#"{"points":[{"metric_name":"cpu","value":1}]}"#);
        assert_eq!(redeem(&ticket), None, "a ticket is redeemed once");
    }

    #[tokio::test]
    async fn other_lines_pass_through_byte_for_byte() {
        let input: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"list_alerts\",\"arguments\":{}}}\n\
            {\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\r\n\
            not json\n\
            {\"method\":\"tools/call\",\"params\":{\"name\":\"check_metrics\",\"arguments\":{},\"arguments\":{}}}\n\
            {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}";
        assert_eq!(through(input).await, input);
    }

    #[tokio::test]
    async fn requests_rmcp_would_drop_or_misread_become_ones_it_answers() {
        let input: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"check_metric\",\"arguments\":[1]}}\n\
            {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\",\"params\":{\"v\":NaN}}\n\
            {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"v\":NaN}}\n";
        let out = through(input).await;
        let lines: Vec<&[u8]> = out.split(|b| *b == b'\n').collect();
        let first: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(first["id"], 2);
        assert_eq!(first["method"], "tools/call");
        let marked = first["params"]["arguments"].as_object().unwrap();
        let error = rejected_arguments(Some(marked)).expect("answered invalid params");
        assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        assert!(error.message.contains("`arguments`"), "{}", error.message);
        assert!(error.message.contains("an array"), "{}", error.message);
        let second: serde_json::Value = serde_json::from_slice(lines[1]).unwrap();
        assert_eq!(second["id"], "x");
        assert!(
            second["method"].as_str().unwrap().contains("invalid JSON"),
            "{second}"
        );
        // A response of the client's is left alone, however broken.
        assert_eq!(lines[2], br#"{"jsonrpc":"2.0","id":3,"result":{"v":NaN}}"#);
    }

    #[tokio::test]
    async fn a_line_split_across_reads_is_lifted_whole() {
        let line = b"{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"check_metric\",\"arguments\":{\"metric_name\":\"m\",\"value\":2}}}\n";
        let (client, server) = tokio::io::duplex(16);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut client = client;
            for piece in line.chunks(7) {
                client.write_all(piece).await.unwrap();
            }
        });
        let mut r = LiftArgs::new(server);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        let msg: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let args = msg["params"]["arguments"].as_object().unwrap().clone();
        let text = redeem(ticket_of(&args).unwrap()).unwrap();
        assert_eq!(text, r#"{"metric_name":"m","value":2}"#);
    }

    #[test]
    fn a_line_over_a_mebibyte_is_checked_as_thoroughly_as_a_short_one() {
        let pad = "p".repeat(2 << 20);
        for bad in [
            format!("{}{}", "[".repeat(200), "]".repeat(200)),
            r#""\ud800""#.to_string(),
            "1e400".to_string(),
        ] {
            let line =
                format!(r#"{{"id":7,"method":"ping","params":{{"pad":"{pad}","v":{bad}}}}}"#);
            let answer = unparsable(line.as_bytes()).expect("answered");
            let msg: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(msg["id"], 7);
            assert!(
                msg["method"].as_str().unwrap().contains("invalid JSON"),
                "{msg}"
            );
        }
        let fine = format!(
            r#"{{"id":7,"method":"ping","params":{{"pad":"{pad}","v":[1e300,"\ud83d\ude00"]}}}}"#
        );
        assert_eq!(unparsable(fine.as_bytes()), None);
    }

    #[test]
    fn only_the_known_markers_are_rejected_arguments() {
        let obj = |v: serde_json::Value| v.as_object().unwrap().clone();
        let echoed = obj(serde_json::json!({INVALID_ARGUMENTS_KEY: "anything a client says"}));
        assert!(rejected_arguments(Some(&echoed)).is_none());
        let more = obj(serde_json::json!({INVALID_ARGUMENTS_KEY: "a string", "x": 1}));
        assert!(rejected_arguments(Some(&more)).is_none());
        assert!(rejected_arguments(None).is_none());
    }

    #[test]
    fn values_are_framed_by_their_own_brackets_outside_strings() {
        let cases: &[&str] = &[
            r#"{"a":[1,{"b":"}]\"{["},[]],"c":{}}"#,
            r#"[{"x":"]"},[["["]],{}]"#,
            r#""a \"quoted\" \\ string""#,
            r#"{}"#,
            r#"-12.5e3"#,
        ];
        for v in cases {
            let text = format!("{v} ,\"next\":1");
            assert_eq!(value_end(text.as_bytes(), 0), Some(v.len()), "{v}");
        }
        for unclosed in [r#"{"a":"}"#, r#"["]"#, r#""open"#, "{"] {
            assert_eq!(value_end(unclosed.as_bytes(), 0), None, "{unclosed}");
        }
    }
}
