"""`--http`: the official Python MCP SDK's Streamable HTTP client, a client we
did not write, runs a workflow with a bearer token in both protocol eras; no
token or a wrong one gets 401 with the RFC 9728 metadata header; a read-only
token neither sees nor may call `erase_subject`; a foreign Host or Origin
gets 403."""

import contextlib
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
