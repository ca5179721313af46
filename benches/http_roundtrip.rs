//! Tool calls over Streamable HTTP (`--http`) against the release binary, the
//! way a 2026-07-28 client meets it: one POST per call on HTTP/1.1
//! keep-alive connections, the client on one thread of this process.
//!
//! For `server_info` without and with a bearer token, then `publish_event`
//! with one: latency of calls made one at a time on one connection (p50,
//! p99), then calls/second with 64 connections each keeping one call in
//! flight (and the p50 latency under that load, which by Little's law is
//! about 64 / throughput).
//!
//! Run: `cargo bench --bench http_roundtrip` (optional args: sequential
//! calls, concurrent calls). Prints the figures; asserts nothing.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 64;
const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let sequential: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrent: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let data = tempfile::tempdir().expect("temp dir");
    let tokens = data.path().join("tokens.json");
    let digest: String = sha2::Sha256::digest(TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::File::create(&tokens)
        .and_then(|mut f| {
            write!(
                f,
                r#"{{"tokens": [{{"subject": "bench", "sha256": "{digest}"}}]}}"#
            )
        })
        .expect("token file");

    println!(
        "| call | auth | p50 one at a time | p99 one at a time | calls/s, {CONNECTIONS} connections | p50 under that load |"
    );
    println!("|---|---|---|---|---|---|");
    for (tool, auth) in [
        ("server_info", false),
        ("server_info", true),
        ("publish_event", true),
    ] {
        let port = free_port();
        let mut server = start(data.path(), port, auth.then_some(tokens.as_path()));
        let request = request(port, tool, auth);
        let (seq, conc) = runtime.block_on(async {
            wait_ready(port).await;
            let seq = sequential_calls(port, &request, sequential).await;
            let conc = concurrent_calls(port, &request, concurrent).await;
            (seq, conc)
        });
        let _ = server.kill();
        let _ = server.wait();
        let (seq_p50, seq_p99) = percentiles(seq);
        let (calls_per_s, conc_lat) = conc;
        let (conc_p50, _) = percentiles(conc_lat);
        println!(
            "| `{tool}` | {} | {seq_p50:.0} µs | {seq_p99:.0} µs | {calls_per_s:.0} | {conc_p50:.0} µs |",
            if auth { "bearer token" } else { "none" }
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(data: &std::path::Path, port: u16, tokens: Option<&std::path::Path>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smart-systems-mcp"));
    cmd.arg("--data-dir")
        .arg(data.join(format!("data-{port}")))
        .args([
            "--log-level",
            "warn",
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--toolsets", "events"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(t) = tokens {
        cmd.arg("--auth-tokens").arg(t);
    }
    cmd.spawn().expect("start server")
}

async fn wait_ready(port: u16) {
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not listen on {port}");
}

/// One stateless (2026-07-28) `tools/call` POST, bytes ready to send.
fn request(port: u16, tool: &str, auth: bool) -> Vec<u8> {
    let arguments = match tool {
        "publish_event" => r#"{"topic":"nba.games.bench","event_type":"tick","payload":{"n":1}}"#,
        _ => "{}",
    };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    let auth = if auth {
        format!("Authorization: Bearer {TOKEN}\r\n")
    } else {
        String::new()
    };
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: tools/call\r\nMcp-Name: {tool}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A keep-alive connection that sends `request` and reads one response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::with_capacity(8192),
        }
    }

    async fn call(&mut self, request: &[u8]) {
        self.stream.write_all(request).await.expect("send");
        self.buf.clear();
        loop {
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).expect("head");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("a Content-Length (JSON response)");
                while self.buf.len() < end + 4 + length {
                    let n = self.stream.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "connection closed");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                let body = &self.buf[end + 4..end + 4 + length];
                assert!(
                    find(body, b"\"isError\":true").is_none() && find(body, b"\"error\"").is_none(),
                    "{}",
                    String::from_utf8_lossy(body)
                );
                return;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn sequential_calls(port: u16, request: &[u8], n: usize) -> Vec<Duration> {
    let mut conn = Conn::open(port).await;
    for _ in 0..1_000 {
        conn.call(request).await;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        conn.call(request).await;
        samples.push(start.elapsed());
    }
    samples
}

async fn concurrent_calls(port: u16, request: &[u8], n: usize) -> (f64, Vec<Duration>) {
    let per_conn = n.div_ceil(CONNECTIONS);
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = Conn::open(port).await;
        c.call(request).await;
        conns.push(c);
    }
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let request = request.to_vec();
            // The runtime has one thread: the client stays on it.
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(per_conn);
                for _ in 0..per_conn {
                    let t = Instant::now();
                    c.call(&request).await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    (rate, all)
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6)
}
