//! `generate_docs` over the full source of `syn` and `tokio` from cargo's
//! local registry source cache (the versions this project's Cargo.lock
//! pins), with the Markdown written to a new temporary directory each run: parse, extract,
//! render and write, as the tool does it (the library call the tool runs on
//! its blocking thread).
//!
//! Run: `cargo bench --bench docs_generate` (optional arg: iterations,
//! default 5). Prints min and median per crate; asserts nothing.

use std::path::{Path, PathBuf};

use smart_systems_mcp::docs::generate::Language;

#[path = "common/docs_run.rs"]
mod docs_run;
use docs_run::{iterations, ms, time_generate_docs};

/// The version of `name` in Cargo.lock whose major version is `major`.
fn locked_version(name: &str, major: &str) -> String {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .expect("Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"")
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            let v = v.trim_end_matches('"');
            if v.starts_with(&format!("{major}.")) {
                return v.to_string();
            }
        }
    }
    panic!("{name} {major}.x not in Cargo.lock")
}

fn registry_dir(name: &str, version: &str) -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cargo"));
    let src = home.join("registry/src");
    std::fs::read_dir(&src)
        .expect("registry/src")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(format!("{name}-{version}")))
        .find(|p| p.join("Cargo.toml").is_file())
        .unwrap_or_else(|| panic!("{name}-{version} not in {}", src.display()))
}

fn main() {
    let iterations = iterations();
    let out = tempfile::tempdir().expect("temp dir");
    for (name, major) in [("syn", "3"), ("tokio", "1")] {
        let dir = registry_dir(name, &locked_version(name, major));
        let roots = vec![
            dir.canonicalize().expect("crate dir"),
            out.path().canonicalize().expect("out dir"),
        ];
        let (times, summary) = time_generate_docs(
            &dir,
            &roots,
            Some(&out.path().join(name)),
            Language::Auto,
            iterations,
        );
        println!(
            "generate_docs {} ({}): min {:.0} ms, median {:.0} ms over {} runs; {summary}",
            name,
            dir.display(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            times.len()
        );
    }
}
