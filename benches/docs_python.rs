//! `generate_docs` on Python, in release mode: the system Python's standard
//! library (`Lib/` without `test/`) with the Markdown written, and real
//! packages beside griffe's load of the same package (griffe is the static
//! loader behind mkdocstrings; its time is measured inside its own process,
//! interpreter start excluded, so the ratio favours griffe).
//!
//! Run: `cargo bench --bench docs_python` (optional arg: iterations,
//! default 5). Environment: `DOCS_BENCH_STDLIB` (default: the stdlib of
//! `python3`), `DOCS_BENCH_PYTHON` (a Python with griffe, default the test
//! venv's), `DOCS_BENCH_PACKAGES` (default `pydantic,networkx`). Prints min
//! and median per input; asserts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use smart_systems_mcp::docs::generate::Language;

#[path = "common/docs_run.rs"]
mod docs_run;
use docs_run::{iterations, ms, time_generate_docs};

fn python_path(python: &str, key: &str) -> Option<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            &format!("import sysconfig; print(sysconfig.get_paths()['{key}'])"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `lib` as a directory without `test/` (a directory of symlinks when the
/// stdlib has its tests).
fn without_tests(lib: &Path, scratch: &Path) -> PathBuf {
    if !lib.join("test").is_dir() {
        return lib.to_path_buf();
    }
    let dir = scratch.join("stdlib");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(lib).unwrap().flatten() {
        if e.file_name() != "test" {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

/// griffe's load of `package`, timed inside Python: min over `iterations`.
fn griffe_ms(python: &str, search: &Path, package: &str, iterations: usize) -> Option<f64> {
    let code = format!(
        "import time, griffe\nbest = None\nfor _ in range({iterations}):\n    t = time.perf_counter()\n    griffe.GriffeLoader(search_paths=[{search:?}], allow_inspection=False).load({package:?})\n    d = time.perf_counter() - t\n    best = d if best is None else min(best, d)\nprint(best * 1000)",
        search = search.display().to_string(),
    );
    let out = Command::new(python).args(["-c", &code]).output().ok()?;
    if !out.status.success() {
        eprintln!("griffe failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    let iterations = iterations();
    let scratch = tempfile::tempdir().expect("temp dir");

    let lib = std::env::var("DOCS_BENCH_STDLIB")
        .map(PathBuf::from)
        .ok()
        .or_else(|| python_path("python3", "stdlib"))
        .expect("no stdlib: set DOCS_BENCH_STDLIB");
    let lib = lib.canonicalize().expect("stdlib dir");
    let stdlib = without_tests(&lib, scratch.path());
    let out = scratch.path().join("out-stdlib");
    let roots = vec![
        lib.clone(),
        stdlib.canonicalize().unwrap(),
        scratch.path().canonicalize().unwrap(),
    ];
    let (times, summary) =
        time_generate_docs(&stdlib, &roots, Some(&out), Language::Python, iterations);
    println!(
        "generate_docs stdlib {} (without test/): min {:.0} ms, median {:.0} ms over {} runs; {summary}",
        lib.display(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        times.len()
    );

    let python = std::env::var("DOCS_BENCH_PYTHON").unwrap_or_else(|_| {
        let cache = std::env::var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        cache
            .join("smart-systems-mcp/venv/bin/python")
            .display()
            .to_string()
    });
    let Some(site) = python_path(&python, "purelib") else {
        println!("no Python with griffe at {python}: the griffe comparison is skipped");
        return;
    };
    let packages =
        std::env::var("DOCS_BENCH_PACKAGES").unwrap_or_else(|_| "pydantic,networkx".into());
    for package in packages.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let dir = site.join(package);
        let out = scratch.path().join(format!("out-{package}"));
        let roots = vec![
            site.canonicalize().unwrap(),
            scratch.path().canonicalize().unwrap(),
        ];
        let (times, summary) =
            time_generate_docs(&dir, &roots, Some(&out), Language::Python, iterations);
        let griffe = griffe_ms(&python, &site, package, iterations);
        println!(
            "generate_docs {package}: min {:.0} ms, median {:.0} ms over {} runs; {summary}; griffe load (no inspection): {}",
            ms(times[0]),
            ms(times[times.len() / 2]),
            times.len(),
            match griffe {
                Some(g) => format!("min {g:.0} ms, {:.1}x ours", g / ms(times[0])),
                None => "not measured".into(),
            }
        );
    }
}
