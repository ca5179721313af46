//! Bulk tool results, serialised once, straight from the result type.
//!
//! rmcp's `CallToolResult` holds `structuredContent` as a
//! `serde_json::Value`: a 10,000-point `check_metrics` answer (about 400 KB)
//! was turned into a tree of maps and strings, serialised from that tree and
//! then freed, which cost more than the alerting engine's own work.
//!
//! Design choice: as [`super::bulk_args`] does for arguments, [`SpliceOut`]
//! sits *under* rmcp, here as the `AsyncWrite` it writes stdout through.
//! [`structured`] serialises a result once, with its own `Serialize`, parks
//! the text (see [`super::parked`]) and gives rmcp the placeholder
//! `{"$parked":"<ticket>"}`; [`SpliceOut`] replaces that placeholder in the
//! outgoing line by the parked text. Nothing else is touched: bytes that are
//! not a placeholder of this process pass through unchanged. Parking only
//! happens once a [`SpliceOut`] exists in the process, so a result written
//! by any other path is a plain `Value`.

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::AsyncWrite;

use super::parked::{self, TICKET_KEY};

/// Set once a [`SpliceOut`] writes this process's output.
static SPLICING: AtomicBool = AtomicBool::new(false);

/// `{"$parked":"<prefix>`: how every placeholder of this process starts, as
/// rmcp's compact serialiser writes it.
static MARK: LazyLock<Vec<u8>> =
    LazyLock::new(|| format!("{{\"{TICKET_KEY}\":\"{}", parked::prefix()).into_bytes());

/// `value` as structured content: parked text behind a placeholder when the
/// output goes through a [`SpliceOut`], else the `Value` itself.
pub fn structured<T: Serialize>(value: &T) -> Result<serde_json::Value, serde_json::Error> {
    if !SPLICING.load(Ordering::Relaxed) {
        return serde_json::to_value(value);
    }
    let text = serde_json::to_string(value)?;
    Ok(serde_json::json!({ TICKET_KEY: parked::park(text) }))
}

/// An `AsyncWrite` over the client's stream that splices parked results into
/// the lines rmcp writes (see the module doc). Put it between rmcp and stdout.
pub struct SpliceOut<W> {
    inner: W,
    /// Bytes accepted and spliced, waiting to be written from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// The end of what was accepted, when it may be the start of a
    /// placeholder whose rest comes with the next write.
    carry: Vec<u8>,
}

impl<W> SpliceOut<W> {
    /// Wraps the client's stream; from now on, results are parked.
    pub fn new(inner: W) -> Self {
        SPLICING.store(true, Ordering::Relaxed);
        Self::unarmed(inner)
    }

    fn unarmed(inner: W) -> Self {
        SpliceOut {
            inner,
            out: Vec::new(),
            out_pos: 0,
            carry: Vec::new(),
        }
    }

    /// Moves `data` to `out`, splicing placeholders; keeps a possibly
    /// incomplete placeholder at the end in `carry`.
    fn accept(&mut self, data: &[u8]) {
        let mark: &[u8] = &MARK;
        let mut rest = data;
        while let Some(at) = memchr::memmem::find(rest, mark) {
            self.out.extend_from_slice(&rest[..at]);
            let after = &rest[at + mark.len()..];
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let tail = &after[digits..];
            if tail.len() < 2 && b"\"}".starts_with(tail) {
                // The placeholder may go on in the next write.
                self.carry.extend_from_slice(&rest[at..]);
                return;
            }
            let end = at + mark.len() + digits;
            let ticket = &rest[at + mark.len() - parked::prefix().len()..end];
            let text = (digits > 0 && tail.starts_with(b"\"}"))
                .then(|| std::str::from_utf8(ticket).ok().and_then(parked::redeem))
                .flatten();
            match text {
                Some(text) => {
                    self.out.extend_from_slice(text.as_bytes());
                    rest = &rest[end + 2..];
                }
                None => {
                    // Not one of ours after all: pass it on as it is.
                    self.out.extend_from_slice(mark);
                    rest = after;
                }
            }
        }
        // Hold back a tail that could be the start of a placeholder.
        let keep = (1..mark.len().min(rest.len() + 1))
            .rev()
            .find(|&n| rest.ends_with(&mark[..n]))
            .unwrap_or(0);
        self.out.extend_from_slice(&rest[..rest.len() - keep]);
        self.carry.extend_from_slice(&rest[rest.len() - keep..]);
    }
}

impl<W: AsyncWrite + Unpin> SpliceOut<W> {
    /// Writes `out` to the inner stream; `Ready` once it is all written.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SpliceOut<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Bounded: new bytes are taken only once the previous ones are out.
        match this.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if this.carry.is_empty() {
            this.accept(buf);
        } else {
            let mut data = std::mem::take(&mut this.carry);
            data.extend_from_slice(buf);
            this.accept(&data);
        }
        // Start writing now; what is left goes out on the next write or flush.
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A flush ends a message, so a held-back tail was not a placeholder.
        if !this.carry.is_empty() {
            let tail = std::mem::take(&mut this.carry);
            this.out.extend_from_slice(&tail);
        }
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.get_mut().inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn placeholder_for(text: &str) -> String {
        parked::placeholder(&parked::park(text.to_string()))
    }

    async fn through(pieces: &[&[u8]]) -> Vec<u8> {
        let mut w = SpliceOut::unarmed(Vec::new());
        for p in pieces {
            w.write_all(p).await.unwrap();
        }
        w.flush().await.unwrap();
        w.inner
    }

    #[tokio::test]
    async fn a_placeholder_is_replaced_by_its_parked_text() {
        let line = format!(
            "{{\"id\":1,\"result\":{{\"structuredContent\":{},\"isError\":false}}}}\n",
            placeholder_for(r#"{"results":[1,2]}"#)
        );
        let out = through(&[line.as_bytes()]).await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":1,\"result\":{\"structuredContent\":{\"results\":[1,2]},\"isError\":false}}\n"
        );
    }

    #[tokio::test]
    async fn a_placeholder_split_across_writes_is_replaced_whole() {
        let len = format!("[{},{}]\n", placeholder_for("1"), placeholder_for("2")).len();
        for cut in 1..len {
            // Parked afresh for every cut: a ticket is redeemed once.
            let line = format!(
                "[{},{}]\n",
                placeholder_for("\"a\""),
                placeholder_for("\"b\"")
            );
            let (x, y) = line.as_bytes().split_at(cut.min(line.len() - 1));
            let out = through(&[x, y]).await;
            assert_eq!(out, b"[\"a\",\"b\"]\n", "cut at {cut}");
        }
    }

    #[tokio::test]
    async fn other_bytes_and_unknown_tickets_pass_through_unchanged() {
        let forged = format!("{{\"{TICKET_KEY}\":\"{}999999\"}}", parked::prefix());
        let stranger = format!("{{\"{TICKET_KEY}\":\"0000000000000000-1\"}}");
        let text = format!("{{\"x\":{forged},\"y\":{stranger},\"z\":\"{{\\\"$parked\\\"\"}}\n");
        let out = through(&[text.as_bytes()]).await;
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
