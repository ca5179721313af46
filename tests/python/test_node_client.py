"""The official TypeScript MCP SDK's Streamable HTTP client (tests/node), a
client we did not write, runs a workflow against `--http` with a token; a
read-only token neither sees nor may call `erase_subject`; no token is refused."""

import json
import os
import pathlib
import subprocess

import pytest

from test_http import RO_TOKEN, RW_TOKEN, http_server

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "node" / "http_workflow.mjs"


@pytest.mark.skipif(not os.environ.get("SMART_SYSTEMS_NODE_CLIENTS"),
                    reason="SMART_SYSTEMS_NODE_CLIENTS unset: tools/test installs the SDK")
def test_typescript_sdk_runs_a_workflow_with_a_token(binary, tmp_path):
    clients = os.environ["SMART_SYSTEMS_NODE_CLIENTS"]
    node = os.path.join(clients, "node_modules", ".bin", "node")
    with http_server(binary, tmp_path) as base:
        proc = subprocess.run(
            [node, str(SCRIPT), clients, f"{base}/mcp", RW_TOKEN, RO_TOKEN],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"publish_event", "erase_subject", "verify_chain"} <= set(report["tools"])
    assert report["polled"] == ["game.ended"]
    assert report["acked"] == 1
    assert report["chainValid"] is True
    assert "verify_chain" in report["readOnlyTools"]
    assert "erase_subject" not in report["readOnlyTools"]
    assert "publish_event" not in report["readOnlyTools"]
    assert "may not call `erase_subject`" in report["readOnlyErase"], report["readOnlyErase"]
    assert report["noToken"]["status"] == 401, report["noToken"]
    assert "needs a bearer token" in report["noToken"]["message"], report["noToken"]
