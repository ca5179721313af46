"""Feeds NAB data files through the real server over MCP, the way a new user
would: a fresh data dir, the default flags, `add_dynamic_threshold` at its
defaults (method auto) for one metric per file, every point through
`check_metrics` in order, with the official Python MCP SDK. Writes each
file's per-point `anomaly_score` in NAB's results format (a CSV per data
file at the same relative path), which `nab_score --results=DIR` scores.

Used by `tools/nab-mcp` (the whole protocol, scored) and by
`tests/python/test_nab_protocol.py` (the scores over MCP equal the
in-process ones).
"""

import argparse
import csv
import json
import pathlib
import re
import tempfile

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client


class FeedError(Exception):
    """A call the protocol needs failed; the message says which and why."""


def data_files(nab_dir: pathlib.Path) -> list[str]:
    """The files named in NAB's combined_windows.json, in name order."""
    return sorted(json.loads((nab_dir / "combined_windows.json").read_text()))


def read_points(path: pathlib.Path) -> list[tuple[str, float]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return [(r[0], float(r[1])) for r in rows[1:] if len(r) >= 2]


async def feed(binary: str, nab_dir: pathlib.Path, out_dir: pathlib.Path, *,
               with_range: bool = False, batch: int = 500) -> int:
    """Feeds every file; returns the number of points fed."""
    fed = 0
    with tempfile.TemporaryDirectory() as data_dir:
        params = StdioServerParameters(
            command=binary, args=["--data-dir", data_dir, "--log-level", "warn"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for name in data_files(nab_dir):
                    points = read_points(nab_dir / "data" / name)
                    metric = "nab." + re.sub(r"[^A-Za-z0-9_.]", "_", name.removesuffix(".csv"))
                    args: dict = {"metric_name": metric}
                    values = [v for _, v in points]
                    if with_range and max(values) > min(values):
                        # A flat file has no range to give (the server refuses
                        # min == max; the detector then learns it).
                        args["value_range"] = {"min": min(values), "max": max(values)}
                    added = await session.call_tool("add_dynamic_threshold", args)
                    if added.is_error:
                        raise FeedError(f"{name}: add_dynamic_threshold failed: {added.content}")
                    scores: list[float] = []
                    for i in range(0, len(points), batch):
                        chunk = [{"metric_name": metric, "value": v, "timestamp": t}
                                 for t, v in points[i:i + batch]]
                        res = await session.call_tool("check_metrics", {"points": chunk})
                        if res.is_error:
                            raise FeedError(f"{name}: check_metrics failed: {res.content}")
                        out = res.structured_content
                        if out.get("results_omitted"):
                            # Checked, but their scores did not fit the answer
                            # bound: resending would feed them twice.
                            raise FeedError(
                                f"{name}: {out['results_omitted']} results left out by the answer "
                                f"bound; use a smaller --batch than {batch}")
                        scores.extend(r["anomaly_score"] for r in out["results"])
                    fed += len(points)
                    dest = out_dir / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with dest.open("w", newline="") as f:
                        w = csv.writer(f)
                        w.writerow(["timestamp", "value", "anomaly_score"])
                        w.writerows((t, repr(v), repr(s)) for (t, v), s in zip(points, scores))
    return fed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("nab_dir", type=pathlib.Path)
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--range", action="store_true",
                    help="pass each file's min and max as value_range (NAB gives them to every detector)")
    ap.add_argument("--batch", type=int, default=500, help="points per check_metrics call")
    a = ap.parse_args()
    try:
        fed = anyio.run(lambda: feed(a.binary, a.nab_dir, a.out_dir, with_range=a.range, batch=a.batch))
    except* FeedError as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise SystemExit(f"nab_mcp: {leaf}") from None
    print(f"fed {fed} points over MCP; scores in {a.out_dir}")


if __name__ == "__main__":
    main()
