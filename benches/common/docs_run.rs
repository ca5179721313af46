//! The timed `generate_docs` loop the docs benches share.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use smart_systems_mcp::docs::generate::Language;
use smart_systems_mcp::docs::{DocsRequest, generate_docs};
use smart_systems_mcp::fsroot::Roots;

/// Runs `generate_docs` on `dir` `iterations` times, each into a new, empty
/// directory under `out` (every page created, none replaced: the first
/// generation, as in CI). Returns the sorted times and a summary of the last
/// run.
pub fn time_generate_docs(
    dir: &Path,
    roots: &[PathBuf],
    out: Option<&Path>,
    language: Language,
    iterations: usize,
) -> (Vec<Duration>, String) {
    let ws = Roots::open(roots);
    let mut times = Vec::new();
    let mut summary = String::new();
    for run in 0..iterations.max(1) {
        let req = DocsRequest {
            path: dir.display().to_string(),
            output_dir: out.map(|o| o.join(format!("run-{run}")).display().to_string()),
            language,
            include_private: false,
            list_items: false,
            cursor: None,
            data_dir: None,
        };
        let start = Instant::now();
        let run = generate_docs(&req, &ws, &mut |_, _| true).expect("generate_docs");
        times.push(start.elapsed());
        let items: usize = run.stats.counts.iter().map(|(_, n)| n).sum();
        let bytes: u64 = run
            .files_written
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        summary = format!(
            "{} files parsed, {items} public items, {} Markdown files ({} KiB) written, {} problems",
            run.files_read,
            run.files_written.len(),
            bytes / 1024,
            run.problems.len()
        );
    }
    times.sort();
    (times, summary)
}

/// The iterations asked for on the command line (the first argument that is
/// not a flag), default 5.
pub fn iterations() -> usize {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
