//! The docs toolset on Python, as an agent meets it over stdio: the item set
//! of real packages against griffe (the static loader behind mkdocstrings),
//! a fixture project using every syntax form and docstring style, bad
//! input, and diagrams checked with Mermaid's own parser.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, mermaid_failures, temp_dir};
use serde_json::{Value, json};

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// The test venv's Python (tools/test exports it).
fn python() -> String {
    std::env::var("SMART_SYSTEMS_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The venv's site-packages: real packages to document.
fn site_packages() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .expect("the test venv's python (run tools/test)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Every `{kind, path, documented}` generate_docs lists, through all pages.
fn all_items(server: &mut Server, path: &Path) -> (Value, Vec<Value>) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"path": path, "list_items": true, "include_private": true});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let out = server.call_ok("generate_docs", args);
        items.extend(out["items"].as_array().unwrap().iter().cloned());
        cursor = out["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            return (out, items);
        }
    }
}

/// griffe's items of `package` under `search`, with the kinds generate_docs
/// uses (a function in a class is a `method`, a property a `property`).
fn griffe_items(search: &Path, package: &str) -> BTreeMap<(String, String), bool> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_docs/griffe_items.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(search)
        .arg(package)
        .output()
        .expect("griffe is installed by tools/test");
    assert!(
        out.status.success(),
        "griffe failed on {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let labels: Vec<&str> = v["labels"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let kind = match v["kind"].as_str().unwrap() {
                "attribute" if labels.contains(&"property") => "property",
                k => k,
            };
            (
                (kind.to_string(), v["path"].as_str().unwrap().to_string()),
                v["documented"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn real_packages_give_the_same_items_and_documented_flags_as_griffe() {
    // packaging: `__all__` in every module; attr: `.pyi` stubs beside the
    // modules and dataclass-like classes; requests: reST docstrings and
    // try/except import fallbacks; pydantic: large, dataclasses, `InitVar`.
    let site = site_packages();
    let tmp = temp_dir();
    let mut server = Server::started(
        &tmp.path().join("data"),
        &["--root", site.to_str().unwrap(), "--max-answer-tokens", "0"],
    );
    for package in ["packaging", "attr", "requests", "pydantic"] {
        let (summary, items) = all_items(&mut server, &site.join(package));
        assert_eq!(summary["language"], "python", "{package}: {summary}");
        assert_eq!(
            summary["problems_total"], 0,
            "{package}: {}",
            summary["problems"]
        );
        let ours: BTreeMap<(String, String), bool> = items
            .iter()
            .map(|i| {
                (
                    (
                        i["kind"].as_str().unwrap().to_string(),
                        i["path"].as_str().unwrap().to_string(),
                    ),
                    i["documented"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(ours.len(), items.len(), "{package}: an item listed twice");
        let theirs = griffe_items(&site, package);
        let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
        let only_griffe: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
        let documented: Vec<_> = ours
            .iter()
            .filter(|(k, d)| theirs.get(*k).is_some_and(|g| g != *d))
            .collect();
        assert!(
            only_ours.is_empty() && only_griffe.is_empty() && documented.is_empty(),
            "{package}: {} items here, {} in griffe\nonly ours: {only_ours:?}\nonly griffe: {only_griffe:?}\ndocumented differs: {documented:?}",
            ours.len(),
            theirs.len()
        );
        assert!(ours.len() > 100, "{package}: {} items", ours.len());
    }
}

const PYPROJECT: &str = "[project]\nname = \"nba-analytics\"\nversion = \"1.0\"\n";

const INIT: &str = r#""""NBA analytics: players, games and alerting."""

from .alerting import SmartAlertingSystem, check_many
from .models import Player

__all__ = ["SmartAlertingSystem", "Player"]
__all__ += ["check_many"]

try:
    import orjson as _json
except ImportError:
    import json as _json

    def dumps(obj):
        """Fallback serialiser."""
        return _json.dumps(obj)
"#;

const ALERTING: &str = r#""""Smart alerting over metric streams."""

from __future__ import annotations

import asyncio
from typing import Iterable

from .models import Player


class SmartAlertingSystem:
    """Checks metrics against learned thresholds.

    Attributes:
        sensitivity (float): Standard deviations that count as anomalous.
    """

    default_window: int = 100
    """Points kept per series."""

    def __init__(self, sensitivity: float = 3.0, *, name: str = "default") -> None:
        self.sensitivity = sensitivity
        self._series: dict[str, list[float]] = {}

    def check_metric(self, metric: str, value: float, /, labels: dict[str, str] | None = None, *extra, strict: bool = False, **options) -> float:
        """Check one point.

        Args:
            metric (str): The metric name.
            value: The value, a finite
                number.
            labels: Labels of the series.

        Returns:
            float: The anomaly score, 0 to 1.

        Raises:
            ValueError: If the value is not finite.

        Examples:
            >>> SmartAlertingSystem().check_metric("cpu", 0.5)
            0.0
        """
        if (n := len(self._series)) > 10:
            return 1.0
        match value:
            case float() if value != value:
                raise ValueError(f"{metric!r} is {value:>{n}}")
            case _:
                return 0.0

    async def watch(self, stream: Iterable[float]) -> None:
        """Watch a stream.

        Parameters
        ----------
        stream : Iterable[float]
            The points, in order.

        Returns
        -------
        None
            Nothing.
        """
        await asyncio.sleep(0)

    @property
    def window(self) -> int:
        """The window size in points."""
        return self.default_window

    @window.setter
    def window(self, n: int) -> None:
        self.default_window = n

    @staticmethod
    def version() -> str:
        return "1"

    @classmethod
    def create(cls) -> "SmartAlertingSystem":
        """Build one with defaults.

        :param cls: The class.
        :returns: A new system.
        :rtype: SmartAlertingSystem
        :raises RuntimeError: Never.
        """
        return cls()

    def _helper(self):
        def nested():
            pass


def check_many[T: float](points: list[T]) -> list[float]:
    """Check many points.

    Use it like this:

    ```python
    check_many([1.0, 2.0])
    ```
    """
    return [0.0 for _ in points]


type Scores = dict[str, float]
"#;

const MODELS: &str = r#"from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple


@dataclass
class Player:
    """A player."""

    player_id: int
    name: str = "unknown"
    tags: list[str] = field(default_factory=list)
    league: ClassVar[str] = "NBA"


class Game(NamedTuple):
    home: str
    away: str
"#;

#[test]
fn a_python_project_gets_items_signatures_parameter_tables_and_examples() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    write_tree(
        &root,
        &[
            ("nba/pyproject.toml", PYPROJECT),
            ("nba/src/nba_analytics/__init__.py", INIT),
            ("nba/src/nba_analytics/alerting.py", ALERTING),
            ("nba/src/nba_analytics/models.py", MODELS),
            ("nba/src/nba_analytics/_internal/__init__.py", "X = 1\n"),
            ("nba/src/nba_analytics/scripts/run.py", "def main(): pass\n"),
            (
                "nba/src/nba_plugins/espn.py",
                "\"\"\"A namespace package's module.\"\"\"\n",
            ),
            ("nba/tests/test_it.py", "def test_x(): pass\n"),
        ],
    );
    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--root", root.to_str().unwrap()],
    );
    let (out, items) = all_items(&mut s, &root.join("nba"));
    assert_eq!(out["language"], "python");
    assert_eq!(out["crate_name"], "nba-analytics");
    assert_eq!(out["problems_total"], 0, "{}", out["problems"]);
    let listed: BTreeMap<String, (String, bool)> = items
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_string(),
                (
                    i["kind"].as_str().unwrap().to_string(),
                    i["public"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    let expect = [
        ("nba_analytics", "module", true),
        ("nba_analytics.alerting", "module", true),
        ("nba_analytics._internal", "module", false),
        ("nba_plugins", "module", true),
        ("nba_plugins.espn", "module", true),
        ("nba_analytics.dumps", "function", false),
        ("nba_analytics.alerting.SmartAlertingSystem", "class", true),
        (
            "nba_analytics.alerting.SmartAlertingSystem.check_metric",
            "method",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.watch",
            "method",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.window",
            "property",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.version",
            "method",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.create",
            "method",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem._helper",
            "method",
            false,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.__init__",
            "method",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.sensitivity",
            "attribute",
            true,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem._series",
            "attribute",
            false,
        ),
        (
            "nba_analytics.alerting.SmartAlertingSystem.default_window",
            "attribute",
            true,
        ),
        ("nba_analytics.alerting.check_many", "function", true),
        ("nba_analytics.alerting.Scores", "attribute", true),
        ("nba_analytics.models.Player", "class", true),
        ("nba_analytics.models.Player.player_id", "attribute", true),
        ("nba_analytics.models.Player.__init__", "method", true),
        ("nba_analytics.models.Game.home", "attribute", true),
    ];
    for (path, kind, public) in expect {
        assert_eq!(
            listed.get(path),
            Some(&(kind.to_string(), public)),
            "{path} in {listed:#?}"
        );
    }
    for absent in [
        "nba_analytics.alerting.SmartAlertingSystem._helper.nested",
        "nba_analytics.alerting.asyncio",
        "tests",
        "test_it",
        // A folder without `__init__.py` inside a regular package is no module.
        "nba_analytics.scripts",
        "nba_analytics.scripts.run.main",
    ] {
        assert!(!listed.contains_key(absent), "{absent} listed");
    }
    assert_eq!(out["item_counts"]["class"], 3, "{}", out["item_counts"]);

    // The pages: signatures as written, a merged parameter table, returns,
    // raises and examples as code.
    let out_dir = root.join("docs-out");
    let written = s.call_ok(
        "generate_docs",
        json!({"path": root.join("nba"), "output_dir": out_dir}),
    );
    assert_eq!(written["language"], "python");
    let page = std::fs::read_to_string(out_dir.join("nba_analytics.alerting.md")).unwrap();
    for want in [
        "def check_metric(self, metric: str, value: float, /, labels: dict[str, str] | None = None, *extra, strict: bool = False, **options) -> float",
        "| `metric` | `str` |  | The metric name. |",
        "| `value` | `float` |  | The value, a finite number. |",
        "| `strict` | `bool` | `False` |  |",
        "**Returns**\n\n- `float`: The anomaly score, 0 to 1.",
        "**Raises**\n\n- `ValueError`: If the value is not finite.",
        "```python\n>>> SmartAlertingSystem().check_metric(\"cpu\", 0.5)\n0.0\n```",
        "async def watch(self, stream: Iterable[float]) -> None",
        "| `stream` | `Iterable[float]` |  | The points, in order. |",
        "@property\ndef window(self) -> int",
        "- `SmartAlertingSystem`: A new system.",
        "- `RuntimeError`: Never.",
        "def check_many[T: float](points: list[T]) -> list[float]",
        "```python\ncheck_many([1.0, 2.0])\n```",
        "type Scores = dict[str, float]",
        "| `sensitivity` | `float` | Standard deviations that count as anomalous. |",
        "| `default_window` | `int` | Points kept per series. |",
    ] {
        assert!(page.contains(want), "missing {want:?} in\n{page}");
    }
    let models = std::fs::read_to_string(out_dir.join("nba_analytics.models.md")).unwrap();
    assert!(
        models.contains("def __init__(self, player_id: int, name: str = \"unknown\", tags: list[str] = field(default_factory=list)) -> None"),
        "{models}"
    );
    let index = std::fs::read_to_string(out_dir.join("index.md")).unwrap();
    assert!(
        index.contains("- [`nba_analytics`](nba_analytics.md): NBA analytics"),
        "{index}"
    );
    assert!(!out_dir.join("nba_analytics._internal.md").exists());

    // One .py file, and `language` forced.
    let one = s.call_ok(
        "generate_docs",
        json!({"path": root.join("nba/src/nba_analytics/models.py"), "list_items": true}),
    );
    assert_eq!(one["crate_name"], "models");
    assert_eq!(one["item_counts"]["class"], 2);
    let err = s.call_err(
        "generate_docs",
        json!({"path": root.join("nba"), "language": "cobol"}),
    );
    assert!(
        err.contains("language") && err.contains("auto, rust or python"),
        "{err}"
    );
    let as_rust = s.call_err(
        "generate_docs",
        json!({"path": root.join("nba"), "language": "rust"}),
    );
    assert!(as_rust.contains("Cargo.toml"), "{as_rust}");
}

#[test]
fn bad_python_files_are_problems_and_the_rest_is_documented() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let outside = tmp.path().join("outside");
    write_tree(
        &root,
        &[
            ("pkg/__init__.py", "\"\"\"Doc.\"\"\"\ndef ok(): pass\n"),
            ("pkg/broken.py", "x = 1\ndef f(:\n    pass\n"),
            ("pkg/good.py", "def fine(): pass\n"),
        ],
    );
    write_tree(&outside, &[("secret.py", "def leaked(): pass\n")]);
    std::fs::write(
        root.join("pkg/latin.py"),
        b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n",
    )
    .unwrap();
    std::fs::write(root.join("pkg/mojibake.py"), b"name = '\xe9t\xe9'\n").unwrap();
    std::fs::write(root.join("pkg/blob.py"), b"\x7fELF\x00\x00\x01").unwrap();
    std::fs::write(
        root.join("pkg/huge.py"),
        "x = 1\n".repeat(9 * 1024 * 1024 / 6 + 1),
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, root.join("pkg/escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.py"), root.join("pkg/secret.py")).unwrap();
    std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
    std::fs::write(root.join("pkg/sub/__init__.py"), "").unwrap();
    std::os::unix::fs::symlink(root.join("pkg"), root.join("pkg/sub/loop")).unwrap();

    let mut s = Server::started(
        &tmp.path().join("data"),
        &["--root", root.to_str().unwrap()],
    );
    let (out, items) = all_items(&mut s, &root.join("pkg"));
    let paths: Vec<&str> = items.iter().map(|i| i["path"].as_str().unwrap()).collect();
    for want in ["pkg.ok", "pkg.good.fine", "pkg.latin.name", "pkg.broken"] {
        assert!(paths.contains(&want), "{want} in {paths:?}");
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("leaked") || p.contains("escape")),
        "{paths:?}"
    );
    let problems: Vec<(String, u64, u64, String)> = out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64().unwrap(),
                p["column"].as_u64().unwrap(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let about = |name: &str| {
        problems
            .iter()
            .find(|p| p.0.ends_with(name))
            .unwrap_or_else(|| panic!("no problem about {name}: {problems:#?}"))
    };
    let broken = about("broken.py");
    assert_eq!((broken.1, broken.2), (2, 7), "{broken:?}");
    assert!(broken.3.contains("does not parse"), "{broken:?}");
    assert!(about("mojibake.py").3.contains("not UTF-8"));
    assert!(about("blob.py").3.contains("binary"));
    assert!(about("huge.py").3.contains("8 MiB"));
    assert!(about("secret.py").3.contains("outside the workspace roots"));
    assert!(about("escape").3.contains("outside the workspace roots"));
    assert!(
        problems.iter().any(|p| p.3.contains("symlink loop")),
        "{problems:#?}"
    );
    // The server is still there.
    s.call_ok("server_info", json!({}));
}

#[test]
fn python_diagrams_show_imports_and_inheritance_and_parse_with_mermaid() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    write_tree(
        &root,
        &[
            ("app/__init__.py", "from .core import Base\n"),
            (
                "app/core.py",
                "class Base:\n    x: int\n    def run(self, n: int) -> str: ...\n",
            ),
            (
                "app/plugins/__init__.py",
                "from ..core import Base\nimport app.core\n\nclass Plugin(Base):\n    \"\"\"end\"\"\"\n    name = 'p'\n\nclass Weird_end(app.core.Base): pass\n",
            ),
        ],
    );
    let site = site_packages();
    let mut s = Server::started(
        &tmp.path().join("data"),
        &[
            "--root",
            root.to_str().unwrap(),
            "--root",
            site.to_str().unwrap(),
        ],
    );
    let mut diagrams = Vec::new();
    let modules = s.call_ok(
        "generate_diagram",
        json!({"kind": "module_graph", "path": root.join("app")}),
    );
    let m = modules["mermaid"].as_str().unwrap();
    assert_eq!(modules["nodes"], 3, "{m}");
    // app.plugins imports app.core (relative and absolute); app imports app.core.
    assert!(m.contains("n2 --> n1") && m.contains("n0 --> n1"), "{m}");
    diagrams.push(("py-modules".to_string(), m.to_string()));
    let types = s.call_ok(
        "generate_diagram",
        json!({"kind": "type_graph", "path": root.join("app")}),
    );
    let t = types["mermaid"].as_str().unwrap();
    assert_eq!(types["nodes"], 3, "{t}");
    assert_eq!(types["edges"], 2, "{t}");
    assert!(
        t.contains("+run(self, n) str") && t.contains("+int x"),
        "{t}"
    );
    diagrams.push(("py-types".to_string(), t.to_string()));
    let part = s.call_ok(
        "generate_diagram",
        json!({"kind": "type_graph", "path": root.join("app"), "module": "app.plugins"}),
    );
    assert_eq!(part["nodes"], 2);
    let err = s.call_err(
        "generate_diagram",
        json!({"kind": "type_graph", "path": root.join("app"), "module": "app.nope"}),
    );
    assert!(err.contains("app.nope"), "{err}");
    for (name, package) in [
        ("requests-modules", "requests"),
        ("requests-types", "requests"),
    ] {
        let kind = if name.ends_with("modules") {
            "module_graph"
        } else {
            "type_graph"
        };
        let d = s.call_ok(
            "generate_diagram",
            json!({"kind": kind, "path": site.join(package)}),
        );
        assert!(d["nodes"].as_u64().unwrap() > 10, "{name}: {d}");
        diagrams.push((name.to_string(), d["mermaid"].as_str().unwrap().to_string()));
    }
    let failures = mermaid_failures(tmp.path(), &diagrams);
    assert!(failures.is_empty(), "Mermaid rejected: {failures:#?}");
}
