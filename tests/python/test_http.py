"""`--http`: the official Python MCP SDK's Streamable HTTP client, a client we
did not write, runs a workflow with a bearer token in both protocol eras; no
token or a wrong one gets 401 with the RFC 9728 metadata header; a read-only
token neither sees nor may call `erase_subject`; a foreign Host or Origin
gets 403."""

import contextlib
import os
import hashlib
import json
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

RW_TOKEN = "rw-" + "a1" * 16
RO_TOKEN = "ro-" + "b2" * 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(binary: str, tmp_path: pathlib.Path, *extra: str, authenticated: bool = True):
    digest = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"subject": "alice", "sha256": digest(RW_TOKEN)},
        {"subject": "dashboards", "sha256": digest(RO_TOKEN), "read_only": True},
    ]}))
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [binary, "--data-dir", str(tmp_path / "data"), "--log-level", "info",
         "--http", f"127.0.0.1:{port}",
         *(["--auth-tokens", str(tokens)] if authenticated else []), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    assert r.read() == b"ok\n"
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "server did not answer /healthz in 30 s"
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert proc.returncode == 0, (tmp_path / "server.log").read_text()[-3000:]


def client(base: str, token: str, mode: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(base + "/mcp", http_client=http), mode=mode)


async def _workflow(base: str, mode: str) -> str:
    async with client(base, RW_TOKEN, mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"publish_event", "subscribe", "audit_log", "erase_subject"} <= names
        sub = await c.call_tool("subscribe", {"name": f"http-{mode}", "topics": ["nba.games.>"]})
        assert sub.is_error is False, sub.content
        sub_id = sub.structured_content["subscription_id"]
        pub = await c.call_tool("publish_event", {
            "topic": "nba.games.42", "event_type": "game.started", "payload": {"home": "LAL"}})
        assert pub.is_error is False, pub.content
        polled = await c.call_tool("poll_events", {"subscription_id": sub_id, "wait_ms": 2000})
        events = polled.structured_content["events"]
        assert [e["event_type"] for e in events] == ["game.started"]
        acked = await c.call_tool("ack_events", {
            "subscription_id": sub_id, "event_ids": [events[0]["event_id"]]})
        assert acked.structured_content["acked"] == 1
        logged = await c.call_tool("audit_log", {
            "user_id": "u-1", "action": "read", "resource_type": "player", "resource_id": "23"})
        assert logged.is_error is False, logged.content
        verified = await c.call_tool("verify_chain", {})
        assert verified.structured_content["valid"] is True
        return c.protocol_version


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_client_runs_a_workflow_with_a_token(binary, tmp_path, mode):
    with http_server(binary, tmp_path) as base:
        version = anyio.run(_workflow, base, mode)
    if mode == "legacy":
        assert version < "2026-07-28"
    else:
        assert version == "2026-07-28"


async def _read_only(base: str) -> None:
    async with client(base, RO_TOKEN, "legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "verify_chain" in names and "server_info" in names
        assert "erase_subject" not in names and "publish_event" not in names
        with pytest.raises(Exception) as refused:
            await c.call_tool("erase_subject", {"user_id": "u-1", "reason": "test"})
        assert "may not call `erase_subject`" in str(refused.value), refused.value
        assert "audit:write" in str(refused.value), refused.value


def post(base: str, body: dict, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(
        base + "/mcp", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read(4096).decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "raw", "version": "1"}}}


def test_missing_wrong_and_out_of_scope_tokens_are_refused(binary, tmp_path):
    with http_server(binary, tmp_path) as base:
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        status, headers, _ = post(base, INIT, {})
        assert status == 401
        assert headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
        status, headers, _ = post(base, INIT, {"Authorization": "Bearer not-a-token"})
        assert status == 401
        assert f'resource_metadata="{metadata}"' in headers["www-authenticate"]
        assert 'error="invalid_token"' in headers["www-authenticate"]
        with urllib.request.urlopen(metadata, timeout=5) as r:
            doc = json.load(r)
        assert doc["resource"] == f"{base}/mcp"
        assert "audit:write" in doc["scopes_supported"]
        status, headers, body = post(base, {
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "erase_subject", "arguments": {"user_id": "u", "reason": "r"}},
        }, {"Authorization": f"Bearer {RO_TOKEN}"})
        assert status == 403, body
        assert 'error="insufficient_scope"' in headers["www-authenticate"]
        assert 'scope="audit:write"' in headers["www-authenticate"]
        anyio.run(_read_only, base)


def test_foreign_host_and_origin_get_403(binary, tmp_path):
    with http_server(binary, tmp_path) as base:
        auth = {"Authorization": f"Bearer {RW_TOKEN}"}
        status, _, _ = post(base, INIT, auth)
        assert status == 200
        status, _, _ = post(base, INIT, {**auth, "Host": "attacker.example"})
        assert status == 403
        status, _, _ = post(base, INIT, {**auth, "Origin": "https://attacker.example"})
        assert status == 403
        port = base.rsplit(":", 1)[1]
        status, _, _ = post(base, INIT, {**auth, "Origin": f"http://localhost:{port}"})
        assert status == 200


def test_readyz_and_a_non_loopback_address_without_auth(binary, tmp_path):
    with http_server(binary, tmp_path) as base:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
            assert r.status == 200
    proc = subprocess.run(
        [binary, "--data-dir", str(tmp_path / "data2"), "--http", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "without authentication" in proc.stderr


def raw(base: str, path: str, token: str | None = None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def test_rate_limit_answers_429_with_retry_after_per_subject(binary, tmp_path):
    with http_server(binary, tmp_path, "--http-rate-limit", "3") as base:
        statuses = []
        for _ in range(5):
            status, headers, body = post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})
            statuses.append(status)
        assert statuses[:3] == [200, 200, 200], statuses
        assert 429 in statuses[3:], statuses
        status, headers, body = post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})
        assert status == 429
        assert int(headers["retry-after"]) >= 1
        assert "rate limit" in json.loads(body)["error"]["message"]
        # Another subject has its own budget.
        status, _, _ = post(base, INIT, {"Authorization": f"Bearer {RO_TOKEN}"})
        assert status == 200
        time.sleep(1.2)
        status, _, _ = post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})
        assert status == 200


async def _calls(base: str) -> str:
    async with client(base, RW_TOKEN, "2026-07-28") as c:
        await c.call_tool("server_info", {})
        await c.call_tool("publish_event", {
            "topic": "nba.games.9", "event_type": "secret.test", "payload": {"email": "x@example.com"}})
        bad = await c.call_tool("publish_event", {"topic": "nba.*", "event_type": "t"})
        assert bad.is_error is True
        page = await c.call_tool("audit_query", {"resource_type": "mcp_tool", "limit": 50})
        return json.dumps(page.structured_content["entries"])


def test_audit_calls_and_metrics_record_who_called_what(binary, tmp_path):
    with http_server(binary, tmp_path, "--audit-calls") as base:
        entries = json.loads(anyio.run(_calls, base))
        # Newest first; the audit_query call itself is written after its answer.
        tools = [(e["user_id"], e["resource_id"], e["outcome"]) for e in entries]
        assert tools == [
            ("alice", "publish_event", "failure"),
            ("alice", "publish_event", "success"),
            ("alice", "server_info", "success"),
        ], tools
        for e in entries:
            details = e["details"]
            assert len(details["arguments_sha256"]) == 64
            assert details["transport"] == "http" and details["duration_ms"] >= 0
        assert "x@example.com" not in json.dumps(entries)
        status, _, _ = raw(base, "/metrics")
        assert status == 401
        status, headers, text = raw(base, "/metrics", RO_TOKEN)
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = set(text.splitlines())
        assert 'mcp_tool_calls_total{tool="publish_event",outcome="ok"} 1' in lines
        assert 'mcp_tool_calls_total{tool="publish_event",outcome="tool_error"} 1' in lines
        assert 'mcp_tool_call_duration_seconds_count{tool="server_info"} 1' in lines
        assert 'mcp_http_refused_total{kind="auth",reason="missing_token"} 1' in lines
        assert "events_published_total 1" in lines
        assert "audit_entries_total 4" in lines, [l for l in lines if l.startswith("audit")]
        assert "alerts_open 0" in lines, [l for l in lines if l.startswith("alerts")]


def test_sighup_reloads_the_tokens(binary, tmp_path):
    with http_server(binary, tmp_path) as base:
        tokens = tmp_path / "tokens.json"
        new = "fresh-" + "c3" * 16
        doc = json.loads(tokens.read_text())
        doc["tokens"] = [{"subject": "carol", "sha256": hashlib.sha256(new.encode()).hexdigest()}]
        tokens.write_text(json.dumps(doc))
        assert post(base, INIT, {"Authorization": f"Bearer {new}"})[0] == 401
        pid = int(subprocess.check_output(["pgrep", "-f", "--", f"--data-dir {tmp_path / 'data'}"]).split()[0])
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while post(base, INIT, {"Authorization": f"Bearer {new}"})[0] != 200:
            assert time.monotonic() < deadline, "the new token was not accepted after SIGHUP"
            time.sleep(0.1)
        assert post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})[0] == 401


async def _long_poll(base: str, started: anyio.Event, result: dict) -> None:
    async with client(base, RW_TOKEN, "2026-07-28") as c:
        sub = await c.call_tool("subscribe", {"name": "drain", "topics": ["nba.>"]})
        sub_id = sub.structured_content["subscription_id"]
        started.set()
        polled = await c.call_tool("poll_events", {"subscription_id": sub_id, "wait_ms": 3000})
        result["is_error"] = polled.is_error
        result["events"] = polled.structured_content["events"]


def test_sigterm_drains_a_call_in_flight(binary, tmp_path):
    result: dict = {}

    async def run(base: str) -> None:
        started = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_long_poll, base, started, result)
            await started.wait()
            await anyio.sleep(0.5)
            pid = int(subprocess.check_output(
                ["pgrep", "-f", "--", f"--data-dir {tmp_path / 'data'}"]).split()[0])
            os.kill(pid, signal.SIGTERM)

    with http_server(binary, tmp_path) as base:
        anyio.run(run, base)
    assert result == {"is_error": False, "events": []}, result


def test_a_session_answers_only_the_subject_that_created_it(binary, tmp_path):
    with http_server(binary, tmp_path) as base:
        status, headers, _ = post(base, INIT, {"Authorization": f"Bearer {RW_TOKEN}"})
        assert status == 200
        session = headers["mcp-session-id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        common = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
        status, _, body = post(base, ping, {"Authorization": f"Bearer {RO_TOKEN}", **common})
        assert status == 404, body
        status, _, body = post(base, ping, {"Authorization": f"Bearer {RW_TOKEN}", **common})
        assert status == 200, body
