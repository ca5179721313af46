"""Two replicas with `--http` on NATS JetStream + PostgreSQL behind HAProxy
(round robin, health-checked on /readyz), as a team would run them: a
2026-07-28 client's calls alternate between the replicas and still see one
bus and one audit chain; kill -9 of one replica under load loses no
acknowledged event or audit entry, and the clients' retries succeed on the
other replica."""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from test_http import free_port

NATS = os.environ.get("SMART_SYSTEMS_TEST_NATS_URL")
PG = os.environ.get("SMART_SYSTEMS_TEST_PG_URL")
HAPROXY = os.environ.get("SMART_SYSTEMS_TEST_HAPROXY") or shutil.which("haproxy")
TOKEN = "team-" + "d4" * 16

pytestmark = pytest.mark.skipif(
    not (NATS and PG and HAPROXY),
    reason="needs SMART_SYSTEMS_TEST_NATS_URL, SMART_SYSTEMS_TEST_PG_URL and haproxy (tools/test)",
)


def wait_http(url: str, proc: subprocess.Popen, log: pathlib.Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{url} did not answer in 30 s"
            time.sleep(0.1)


class Cluster:
    """Two replicas and HAProxy in front of them."""

    def __init__(self, binary: str, tmp: pathlib.Path):
        self.binary, self.tmp = binary, tmp
        self.namespace = "t_" + uuid.uuid4().hex[:12]
        tokens = tmp / "tokens.json"
        tokens.write_text(json.dumps({"tokens": [
            {"subject": "team", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}))
        self.tokens = tokens
        self.ports = [free_port(), free_port()]
        self.replicas: list[subprocess.Popen] = []
        self.lb_port = free_port()
        self.lb: subprocess.Popen | None = None

    def start_replica(self, i: int) -> None:
        log = self.tmp / f"replica{i}.log"
        proc = subprocess.Popen(
            [self.binary, "--data-dir", str(self.tmp / f"data{i}"), "--log-level", "warn",
             "--http", f"127.0.0.1:{self.ports[i]}", "--auth-tokens", str(self.tokens),
             "--events-url", NATS, "--store-url", PG, "--namespace", self.namespace,
             "--toolsets", "events,audit"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
        )
        wait_http(f"http://127.0.0.1:{self.ports[i]}/readyz", proc, log)
        self.replicas.append(proc)

    def start_lb(self) -> None:
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text(f"""
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option redispatch
    retries 2
frontend mcp
    bind 127.0.0.1:{self.lb_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 1 rise 2
    http-response set-header X-Replica %s
    server r0 127.0.0.1:{self.ports[0]} check
    server r1 127.0.0.1:{self.ports[1]} check
""")
        log = self.tmp / "haproxy.log"
        self.lb = subprocess.Popen([HAPROXY, "-f", str(cfg), "-db"],
                                   stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{self.lb_port}/healthz", self.lb, log)
        time.sleep(0.6)  # both replicas pass their first health checks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}/mcp"

    def stop(self) -> None:
        for p in [*self.replicas, self.lb]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.replicas, self.lb]:
            if p is not None:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


@contextlib.contextmanager
def cluster(binary: str, tmp: pathlib.Path):
    c = Cluster(binary, tmp)
    try:
        c.start_replica(0)
        c.start_replica(1)
        c.start_lb()
        yield c
    finally:
        c.stop()


def client(url: str, seen: list[str] | None = None) -> Client:
    async def note(response: httpx2.Response) -> None:
        if seen is not None and response.request.method == "POST":
            seen.append(response.headers.get("x-replica", "?"))

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
        event_hooks={"response": [note]},
    )
    return Client(streamable_http_client(url, http_client=http), mode="2026-07-28")


async def _alternating(url: str) -> dict:
    seen: list[str] = []
    out: dict = {}
    async with client(url, seen) as c:
        async def call(name: str, args: dict) -> tuple[dict, str]:
            result = await c.call_tool(name, args)
            assert result.is_error is False, (name, result.content)
            return result.structured_content, seen[-1]

        def other(r: str) -> str:
            return "r1" if r == "r0" else "r0"

        async def on(replica: str, name: str, args: dict) -> tuple[dict, str]:
            # Round robin: the next request goes to the replica after the last one.
            if seen and other(seen[-1]) != replica:
                await call("server_info", {})
            return await call(name, args)

        sub, r_sub = await call("subscribe", {"name": "team-feed", "topics": ["nba.games.>"]})
        pub, r_pub = await on(r_sub, "publish_event", {
            "topic": "nba.games.1", "event_type": "game.started", "payload": {"home": "BOS"}})
        polled, r_poll = await on(other(r_sub), "poll_events",
                                  {"subscription_id": sub["subscription_id"], "wait_ms": 3000})
        ids = [e["event_id"] for e in polled["events"]]
        acked, r_ack = await on(other(r_sub), "ack_events",
                                {"subscription_id": sub["subscription_id"], "event_ids": ids})
        logged = []
        for i in range(4):
            entry, r = await call("audit_log", {"user_id": f"u{i}", "action": "read",
                                                "resource_type": "game", "resource_id": "1"})
            logged.append((entry["sequence"], r))
        verified, _ = await call("verify_chain", {})
        out.update(seen=seen, r_sub=r_sub, r_pub=r_pub, r_poll=r_poll, r_ack=r_ack,
                   event_id=pub["event_id"], polled=ids, acked=acked["acked"],
                   logged=logged, verified=verified)
    return out


def test_a_stateless_client_alternates_between_replicas_on_one_bus_and_chain(binary, tmp_path):
    with cluster(binary, tmp_path) as c:
        out = anyio.run(_alternating, c.url)
    seen = out["seen"]
    assert set(seen) == {"r0", "r1"}, seen
    assert all(a != b for a, b in zip(seen, seen[1:])), f"not alternating: {seen}"
    assert out["r_poll"] != out["r_sub"] and out["r_ack"] != out["r_sub"], out
    assert out["polled"] == [out["event_id"]]
    assert out["acked"] == 1
    sequences = [s for s, _ in out["logged"]]
    assert sequences == list(range(sequences[0], sequences[0] + 4)), sequences
    assert {r for _, r in out["logged"]} == {"r0", "r1"}
    assert out["verified"]["valid"] is True
    assert out["verified"]["entries_checked"] >= 4


async def call_raw(http: httpx2.AsyncClient, url: str, name: str, args: dict) -> dict:
    """One stateless (2026-07-28) tools/call POST, as the SDKs send it; raises
    on anything but a result without isError."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": name, "arguments": args,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}}
    r = await http.post(url, json=body, headers={
        "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call", "Mcp-Name": name})
    if r.status_code != 200 or not r.headers.get("content-type", "").startswith("application/json"):
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    result = r.json()["result"]
    if result.get("isError"):
        raise RuntimeError(str(result["content"])[:200])
    return result["structuredContent"]


async def _load(url: str, stop: anyio.Event, acked_events: list, acked_audit: list,
                retries: list, worker: int) -> None:
    """A client that publishes and audits in a loop, retrying each call (on a
    new connection) until it is acknowledged."""
    n = 0
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                  timeout=httpx2.Timeout(10.0)) as http:
        while not stop.is_set():
            n += 1
            for name, args, sink, key in (
                ("publish_event", {"topic": f"nba.load.w{worker}", "event_type": "tick",
                                   "payload": {"worker": worker, "n": n}}, acked_events, "event_id"),
                ("audit_log", {"user_id": f"w{worker}", "action": "update",
                               "resource_type": "tick", "resource_id": str(n)}, acked_audit,
                 "audit_id"),
            ):
                for _attempt in range(50):
                    try:
                        sink.append((await call_raw(http, url, name, args))[key])
                        break
                    except Exception as e:  # noqa: BLE001 - the retry is the behaviour under test
                        retries.append(f"{name}: {type(e).__name__}: {str(e)[:120]}")
                        await anyio.sleep(0.1)
                else:
                    raise AssertionError(f"{name} failed 50 times: {retries[-3:]}")


async def _count(url: str, workers: int, audit_ids: list) -> tuple[set, dict, int]:
    async with client(url) as c:
        stored = set()
        for w in range(workers):
            cursor = None
            while True:
                args = {"topics": [f"nba.load.w{w}"], "limit": 1000}
                if cursor is not None:
                    args["cursor"] = cursor
                page = (await c.call_tool("replay_events", args)).structured_content
                stored.update(e["event_id"] for e in page["events"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        verified = (await c.call_tool("verify_chain", {})).structured_content
        missing = 0
        for audit_id in audit_ids:
            proof = await c.call_tool("audit_proof", {"audit_id": audit_id})
            if proof.is_error:
                missing += 1
        return stored, verified, missing


def test_kill_9_of_a_replica_under_load_loses_nothing_acknowledged(binary, tmp_path):
    workers = 4
    acked_events: list = []
    acked_audit: list = []
    retries: list = []
    with cluster(binary, tmp_path) as c:
        async def run() -> None:
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                for w in range(workers):
                    tg.start_soon(_load, c.url, stop, acked_events, acked_audit, retries, w)
                await anyio.sleep(1.5)
                before = len(acked_events)
                c.replicas[1].send_signal(signal.SIGKILL)
                await anyio.sleep(2.5)
                stop.set()
            assert before > 0 and len(acked_events) > before, (before, len(acked_events))

        anyio.run(run)
        assert c.replicas[1].wait(timeout=5) == -signal.SIGKILL
        stored, verified, missing = anyio.run(_count, c.url, workers, acked_audit)
    lost = set(acked_events) - stored
    assert not lost, f"{len(lost)} acknowledged events lost of {len(acked_events)}"
    assert missing == 0, f"{missing} acknowledged audit entries lost of {len(acked_audit)}"
    assert verified["valid"] is True, verified["problems"][:5]
    print(f"{len(acked_events)} events and {len(acked_audit)} audit entries acknowledged; "
          f"{len(retries)} retries after the kill")
