"""Shared fixtures: where the server binary is and a fresh data dir per test."""

import os
import pathlib

import pytest


def server_binary() -> str:
    path = os.environ.get("SMART_SYSTEMS_BIN")
    if not path:
        target = os.environ.get(
            "CARGO_TARGET_DIR",
            os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                         "smart-systems-mcp", "target"),
        )
        path = os.path.join(target, "debug", "smart-systems-mcp")
    if not os.path.isfile(path):
        raise RuntimeError(f"server binary not found at {path}: run tools/test, or set SMART_SYSTEMS_BIN")
    return path


@pytest.fixture
def binary() -> str:
    return server_binary()


@pytest.fixture
def data_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data"
