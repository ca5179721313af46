//! A small MCP client over stdio for the integration tests: it starts the real
//! binary, speaks raw JSON-RPC to it line by line, and keeps every stdout line
//! it saw so tests can check that stdout carried nothing but JSON-RPC.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a test waits for one response before failing.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the server binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smart-systems-mcp"))
}

/// The 2026-07-28 request `_meta` that stateless requests carry.
pub fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// The distributed-backend flags a server gets when the suite runs against
/// NATS (`SMART_SYSTEMS_TEST_EVENTS_URL`) or PostgreSQL
/// (`SMART_SYSTEMS_TEST_STORE_URL`), unless the test passes its own. The
/// namespace is derived from the data dir, so servers on one data dir share
/// state (as with SQLite) and every test starts from an empty one.
pub fn backend_args(data_dir: &Path, args: &[&str]) -> Vec<String> {
    let mut extra = Vec::new();
    for (flag, var) in [
        ("--events-url", "SMART_SYSTEMS_TEST_EVENTS_URL"),
        ("--store-url", "SMART_SYSTEMS_TEST_STORE_URL"),
    ] {
        if let Ok(url) = std::env::var(var)
            && !url.is_empty()
            && !args.contains(&flag)
        {
            extra.push(flag.to_string());
            extra.push(url);
        }
    }
    if !extra.is_empty() && !args.contains(&"--namespace") {
        extra.push("--namespace".to_string());
        extra.push(namespace_for(data_dir));
    }
    extra
}

/// A namespace of its own for a data dir: `t` + 16 hex digits of a hash of
/// its path (FNV-1a, stable across processes).
pub fn namespace_for(data_dir: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_dir.to_string_lossy().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("t{h:016x}")
}

/// Which backends this run of the suite uses: `sqlite`, or the distributed
/// ones named by the test environment.
pub fn events_backend() -> &'static str {
    match std::env::var("SMART_SYSTEMS_TEST_EVENTS_URL") {
        Ok(u) if !u.is_empty() => "nats",
        _ => "sqlite",
    }
}

/// As [`events_backend`], for the audit/alerting store: `sqlite` or `postgres`.
pub fn store_backend() -> &'static str {
    match std::env::var("SMART_SYSTEMS_TEST_STORE_URL") {
        Ok(u) if !u.is_empty() => "postgres",
        _ => "sqlite",
    }
}

/// A running server process and our end of its pipes.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines from the reader thread (the default client).
    rx: Option<Receiver<String>>,
    /// The server's stdout read on the caller's thread ([`Server::started_direct`]).
    direct: Option<BufReader<ChildStdout>>,
    /// Every line the server wrote to stdout, in order.
    pub stdout_lines: Arc<Mutex<Vec<String>>>,
    /// Messages read while waiting for something else (notifications,
    /// responses to other ids).
    pub backlog: VecDeque<Value>,
    next_id: u64,
    /// The data dir the server was started with.
    pub data_dir: PathBuf,
    /// Where the server's stderr goes.
    pub stderr_path: PathBuf,
}

impl Server {
    /// Starts the binary with `--data-dir DIR` plus `args`; stderr goes to a
    /// file beside the data dir.
    pub fn start(data_dir: &Path, args: &[&str]) -> Server {
        Self::start_with_env(data_dir, args, &[])
    }

    /// As [`Server::start`], with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(data_dir, args, env, false)
    }

    /// Starts a server and performs the handshake, reading its stdout on the
    /// calling thread, as a latency-minded client does: no reader thread, no
    /// hand-off, no copy of each line into `stdout_lines` (which stays
    /// empty), and reads block without the response timeout. For benchmarks.
    pub fn started_direct(data_dir: &Path, args: &[&str]) -> Server {
        let mut s = Self::spawn(data_dir, args, &[], true);
        s.initialize();
        s
    }

    fn spawn(data_dir: &Path, args: &[&str], env: &[(&str, &str)], direct: bool) -> Server {
        let stderr_path =
            data_dir.with_extension(format!("stderr.{}.{}.log", std::process::id(), unique()));
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
        let mut cmd = Command::new(binary());
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .args(backend_args(data_dir, args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env_remove("RUST_LOG")
            // The crate's directory is the root unless a test says otherwise
            // (`--root` wins over the variable; a test's env overrides it).
            .env("SMART_SYSTEMS_ROOTS", env!("CARGO_MANIFEST_DIR"));
        for (k, v) in env {
            // An empty value unsets the variable (a server with no root).
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        Self::attach(cmd, data_dir, stderr_path, direct)
    }

    /// Starts the server a caller's `Command` describes (its program, args,
    /// working directory and environment as given), stderr to `stderr_path`.
    pub fn from_command(mut cmd: Command, stderr_path: &Path) -> Server {
        let stderr = std::fs::File::create(stderr_path).expect("create stderr log");
        cmd.stderr(stderr);
        let dir = stderr_path.parent().unwrap_or(stderr_path).to_path_buf();
        Self::attach(cmd, &dir, stderr_path.to_path_buf(), false)
    }

    fn attach(mut cmd: Command, data_dir: &Path, stderr_path: PathBuf, direct: bool) -> Server {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn smart-systems-mcp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (rx, direct) = if direct {
            (None, Some(BufReader::new(stdout)))
        } else {
            let (tx, rx) = channel();
            let seen = lines.clone();
            std::thread::spawn(move || {
                let reader = BufReader::new(stdout);
                for line in reader.lines() {
                    let Ok(line) = line else { break };
                    seen.lock().unwrap().push(line.clone());
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            (Some(rx), None)
        };
        Server {
            child,
            stdin,
            rx,
            direct,
            stdout_lines: lines,
            backlog: VecDeque::new(),
            next_id: 1,
            data_dir: data_dir.to_path_buf(),
            stderr_path,
        }
    }

    /// Starts a server and performs the `initialize` handshake (2025-11-25).
    pub fn started(data_dir: &Path, args: &[&str]) -> Server {
        let mut s = Server::start(data_dir, args);
        s.initialize();
        s
    }

    /// The `initialize` request and `notifications/initialized`; returns the
    /// initialize result.
    pub fn initialize(&mut self) -> Value {
        let result = self.request_ok(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "integration-test", "version": "0"}
            }),
        );
        self.notify("notifications/initialized", json!({}));
        result
    }

    /// Gives back what [`Server::take_stdin`] took.
    pub fn put_stdin(&mut self, stdin: ChildStdin) {
        self.stdin = Some(stdin);
    }

    /// Writes one raw line (a newline is added).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        // One write per message: two would let the server wake on a line
        // without its newline.
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        stdin.write_all(&buf).expect("write to server");
        stdin.flush().expect("flush to server");
    }

    /// Sends a JSON value as one line.
    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a request and returns the whole response message.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for_id(&json!(id))
    }

    /// Sends a request and returns its `result`, failing on an error response.
    pub fn request_ok(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request(method, params);
        assert!(
            resp.get("error").is_none(),
            "{method} failed: {resp}\nstderr:\n{}",
            self.stderr()
        );
        resp["result"].clone()
    }

    /// Reads the next message from the server (backlog first).
    pub fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        self.read_message(timeout)
    }

    fn read_message(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(out) = self.direct.as_mut() {
            let mut line = String::new();
            return match out.read_line(&mut line) {
                Ok(n) if n > 0 => Some(serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("server wrote a non-JSON stdout line ({e}): {line:?}")
                })),
                _ => None,
            };
        }
        let rx = self
            .rx
            .as_ref()
            .expect("a client reads through a thread or directly");
        match rx.recv_timeout(timeout) {
            Ok(line) => {
                Some(serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("server wrote a non-JSON stdout line ({e}): {line:?}")
                }))
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The next stdout line, unparsed ([`Server::started_direct`] only): for
    /// a benchmark client that parses answers into its own types.
    pub fn next_line(&mut self) -> String {
        let out = self.direct.as_mut().expect("a client started direct");
        let mut line = String::new();
        match out.read_line(&mut line) {
            Ok(n) if n > 0 => line,
            r => panic!("server closed stdout ({r:?})\nstderr:\n{}", self.stderr()),
        }
    }

    /// Waits for the response with `id`, keeping other messages in the backlog.
    pub fn wait_for_id(&mut self, id: &Value) -> Value {
        if let Some(pos) = self.backlog.iter().position(|m| m.get("id") == Some(id)) {
            return self.backlog.remove(pos).expect("position is valid");
        }
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left) {
                Some(m) if m.get("id") == Some(id) && m.get("method").is_none() => return m,
                Some(m) => self.backlog.push_back(m),
                None => panic!(
                    "no response for id {id} within {RESPONSE_TIMEOUT:?}\nstderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// Waits until a message matching `pred` arrives (backlog first).
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.read_message(left)?;
            if pred(&m) {
                return Some(m);
            }
            self.backlog.push_back(m);
        }
    }

    /// Calls a tool and returns the `CallToolResult`.
    pub fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request_ok("tools/call", json!({"name": name, "arguments": arguments}))
    }

    /// Calls a tool that must succeed; returns its `structuredContent`.
    pub fn call_ok(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.call_tool(name, arguments.clone());
        assert_ne!(
            result["isError"],
            json!(true),
            "{name}({arguments}) failed: {result}"
        );
        result["structuredContent"].clone()
    }

    /// Calls a tool that must fail with `isError`; returns the error text.
    pub fn call_err(&mut self, name: &str, arguments: Value) -> String {
        let result = self.call_tool(name, arguments.clone());
        assert_eq!(
            result["isError"],
            json!(true),
            "{name}({arguments}) should have failed: {result}"
        );
        result["content"][0]["text"]
            .as_str()
            .expect("error text")
            .to_string()
    }

    /// Names of the listed tools, sorted.
    pub fn tool_names(&mut self) -> Vec<String> {
        let list = self.request_ok("tools/list", json!({}));
        let mut names: Vec<String> = list["tools"]
            .as_array()
            .expect("tools array")
            .iter()
            .map(|t| t["name"].as_str().expect("tool name").to_string())
            .collect();
        names.sort();
        names
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Takes the server's stdin so another thread can write requests while
    /// this one reads responses (pipelined, concurrent calls). Requests
    /// written there must use ids that [`Server::next_id`] will not produce
    /// (e.g. strings).
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin open")
    }

    /// Closes stdin and waits (bounded) for the process to exit.
    pub fn close(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.wait_exit(Duration::from_secs(20))
    }

    /// Waits for exit, killing the process if it outlives `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "server did not exit within {timeout:?}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (`TERM`, `KILL`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A fresh temporary directory for one test's data dir.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ssm-test-")
        .tempdir()
        .expect("temp dir")
}

/// Runs Mermaid's own parser (tools/mermaid-check, installed by tools/test)
/// on each diagram; returns the failures.
pub fn mermaid_failures(dir: &Path, diagrams: &[(String, String)]) -> Vec<String> {
    let script = std::env::var("SMART_SYSTEMS_MERMAID_CHECK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            cache.join("smart-systems-mcp/node/check.mjs")
        });
    assert!(
        script.is_file(),
        "{} missing: run tools/test, which installs the Mermaid parser",
        script.display()
    );
    let mut files = Vec::new();
    for (name, text) in diagrams {
        let f = dir.join(format!("{name}.mmd"));
        std::fs::write(&f, text).unwrap();
        files.push(f);
    }
    let out = Command::new("node")
        .arg(&script)
        .args(&files)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let failures: Vec<String> = stdout
        .lines()
        .filter(|l| !l.ends_with(": ok"))
        .map(String::from)
        .collect();
    assert_eq!(
        out.status.success(),
        failures.is_empty(),
        "exit status and report disagree: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), diagrams.len(), "{stdout}");
    failures
}
