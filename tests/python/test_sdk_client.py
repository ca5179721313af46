"""The official Python MCP SDK, a client we did not write, uses the server in
both protocol eras: the initialize handshake and the stateless 2026-07-28 one."""

import pathlib

import anyio
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client


def params(binary: str, data_dir: pathlib.Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=binary,
        args=["--data-dir", str(data_dir), "--log-level", "warn", *args],
    )


async def _legacy_session(binary: str, data_dir: pathlib.Path) -> None:
    async with stdio_client(params(binary, data_dir)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "smart-systems-mcp"
            tools = await session.list_tools()
            by_name = {t.name: t for t in tools.tools}
            assert "server_info" in by_name
            tool = by_name["server_info"]
            assert tool.annotations.read_only_hint is True
            assert tool.output_schema["type"] == "object"
            result = await session.call_tool("server_info", {})
            assert result.is_error is False
            info = result.structured_content
            assert info["name"] == "smart-systems-mcp"
            assert pathlib.Path(info["data_dir"]) == data_dir.resolve()
            assert info["store_schema_version"] >= 1
            assert set(info["toolsets"]) == {"events", "audit", "cost", "docs", "alerting"}


def test_initialize_era_session_lists_and_calls(binary, data_dir):
    anyio.run(_legacy_session, binary, data_dir)


async def _client(binary: str, data_dir: pathlib.Path, mode: str) -> None:
    async with Client(params(binary, data_dir, "--toolsets", "events"), mode=mode) as client:
        tools = await client.list_tools()
        assert "server_info" in {t.name for t in tools.tools}
        result = await client.call_tool("server_info", {})
        assert result.is_error is False
        assert result.structured_content["toolsets"] == ["events"]
        return client.protocol_version


@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
def test_high_level_client_in_every_mode(binary, data_dir, mode):
    version = anyio.run(_client, binary, data_dir, mode)
    if mode == "legacy":
        assert version < "2026-07-28"
    else:
        # auto probes server/discover and must find the stateless era.
        assert version == "2026-07-28"
