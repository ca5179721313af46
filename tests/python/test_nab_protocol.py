"""The detection figures in docs/detection.md are what a user gets: NAB files
fed through the real server over MCP (the official Python SDK,
`add_dynamic_threshold` at its defaults, every point through
`check_metrics`, tools/nab_mcp.py) give the per-point scores and the NAB
scores that tools/nab-score computes in process."""

import csv
import json
import pathlib
import shutil
import subprocess
import sys

import anyio
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import nab_mcp  # noqa: E402

NAB_DEV = ROOT.parent / "shared" / "nab-dev"
# One file per category; ec2_cpu_utilization_53ea38 has values such as
# 1.8319999999999999 that a best-effort float parser reads as another double.
FILES = [
    "artificialWithAnomaly/art_daily_jumpsdown.csv",
    "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
    "realTraffic/speed_7578.csv",
]


def example_binary(server: str) -> str:
    path = pathlib.Path(server).parent / "examples" / "nab_score"
    if not path.is_file():
        raise RuntimeError(f"{path} not found: tools/test builds it (cargo build --all-targets)")
    return str(path)


def subset(tmp: pathlib.Path) -> pathlib.Path:
    windows = json.loads((NAB_DEV / "combined_windows.json").read_text())
    for name in FILES:
        (tmp / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NAB_DEV / "data" / name, tmp / "data" / name)
    (tmp / "combined_windows.json").write_text(json.dumps({n: windows[n] for n in FILES}))
    return tmp


def scores(path: pathlib.Path) -> list[float]:
    with path.open(newline="") as f:
        return [float(r["anomaly_score"]) for r in csv.DictReader(f)]


def nab_score_output(example: str, nab: pathlib.Path, *args: str) -> str:
    return subprocess.run([example, str(nab), "--only=auto", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(not NAB_DEV.is_dir(), reason="the NAB development set is not next to the repo")
@pytest.mark.parametrize("with_range", [False, True])
def test_scores_over_mcp_are_the_in_process_scores(binary, tmp_path, with_range):
    nab = subset(tmp_path / "nab")
    over_mcp = tmp_path / "mcp"
    fed = anyio.run(lambda: nab_mcp.feed(binary, nab, over_mcp, with_range=with_range))
    assert fed == sum(len(nab_mcp.read_points(nab / "data" / n)) for n in FILES)

    example = example_binary(binary)
    in_process = tmp_path / "in_process"
    table = nab_score_output(example, nab, f"--write-results={in_process}")
    variant = "auto+range" if with_range else "auto"
    for name in FILES:
        want = scores(in_process / variant / name)
        got = scores(over_mcp / name)
        assert len(got) == len(want), name
        # The answer rounds a score to 4 decimals; nothing else may differ.
        worst = max(abs(g - w) for g, w in zip(got, want))
        assert worst <= 5e-5, (name, worst)
        assert sum(s >= 0.5 for s in got) == sum(s >= 0.5 for s in want) > 0, name

    # The NAB scores of both are the same row of figures.
    row = next(l for l in table.splitlines() if l.split()[:1] == [variant])
    results = nab_score_output(example, nab, f"--results={over_mcp}")
    got_row = next(l for l in results.splitlines() if l.startswith("results"))
    assert got_row.split()[1:6] == row.split()[1:6], (got_row, row)
