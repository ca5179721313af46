"""The MCP Inspector CLI (pinned), a client we did not write, lists the tools
in --strict mode: every tool schema must pass its portability checks with no
warning and no error (single-type schemas, no custom formats, ...)."""

import os
import shutil
import subprocess

import pytest

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_inspector_strict_finds_no_portability_problem(binary, tmp_path):
    env = dict(os.environ, npm_config_loglevel="error", npm_config_fund="false")
    proc = subprocess.run(
        [
            "npx", "-y", INSPECTOR, "--cli", binary,
            "-e", f"SMART_SYSTEMS_DATA_DIR={tmp_path / 'data'}",
            "-e", "SMART_SYSTEMS_LOG_LEVEL=warn",
            "--method", "tools/list", "--strict",
        ],
        capture_output=True, text=True, timeout=600, env=env,
    )
    problems = [
        line for line in proc.stderr.splitlines() + proc.stdout.splitlines()
        if line.startswith("Warning: tool") or line.startswith("Error: tool")
    ]
    details = "\n".join(
        line for line in proc.stderr.splitlines()
        if line.startswith(("Warning:", "Error:", "  Path:", "  Issue:"))
    )[:6000]
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert '"tools"' in proc.stdout, proc.stdout[:500]
    assert not problems, f"{len(problems)} portability problems:\n{details}"
