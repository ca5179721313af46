//! The layering, checked on the sources (docs/architecture.md says why):
//! `main`/`config`/`app` wire things; `server` adapts MCP to the domains; the
//! domains (`events`, `audit`, `cost`, `docs`, `alerting`) import neither
//! `app`, `server` nor `config`, and meet each other only through the bus
//! contract (`bus`), which imports nothing of the crate; `store` knows no
//! domain.

use std::path::{Path, PathBuf};

const DOMAINS: &[&str] = &["events", "audit", "alerting", "cost", "docs"];
const WIRING: &[&str] = &["app", "server", "config"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules of the crate that a source file names: `crate::x` paths,
/// also inside `use crate::{x, y}` groups. Comments are skipped.
fn crate_modules_named(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((n + 1, name));
            }
        }
    }
    found
}

fn violations(dirs: &[PathBuf], banned: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for dir in dirs {
        if dir.is_file() {
            files.push(dir.clone());
        } else {
            rust_files(dir, &mut files);
        }
    }
    assert!(!files.is_empty(), "no sources under {dirs:?}");
    let mut bad = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, module) in crate_modules_named(&text) {
            if banned.contains(&module.as_str()) {
                bad.push(format!(
                    "{}:{line} names crate::{module}",
                    file.strip_prefix(src()).unwrap_or(&file).display()
                ));
            }
        }
    }
    bad
}

#[test]
fn domains_import_neither_app_server_nor_config() {
    let dirs: Vec<PathBuf> = DOMAINS.iter().map(|d| src().join(d)).collect();
    let bad = violations(&dirs, WIRING);
    assert!(
        bad.is_empty(),
        "domains own their types; the wiring builds them:\n{}",
        bad.join("\n")
    );
}

#[test]
fn domains_meet_each_other_only_through_the_bus_contract() {
    let mut bad = Vec::new();
    for domain in DOMAINS {
        let others: Vec<&str> = DOMAINS.iter().copied().filter(|d| d != domain).collect();
        bad.extend(violations(&[src().join(domain)], &others));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_store_knows_no_domain_and_no_wiring() {
    let banned: Vec<&str> = DOMAINS.iter().chain(WIRING).copied().collect();
    let bad = violations(&[src().join("store")], &banned);
    assert!(
        bad.is_empty(),
        "the wiring hands the store each component's migrations:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_bus_contract_imports_nothing_of_the_crate() {
    let text = std::fs::read_to_string(src().join("bus.rs")).unwrap();
    let named = crate_modules_named(&text);
    assert!(named.is_empty(), "bus.rs names {named:?}");
}

#[test]
fn the_checker_sees_plain_paths_and_use_groups() {
    let text = "use crate::app::App;\nuse crate::{config, store::Store};\n// crate::server in a comment\nlet x = crate::server::f();";
    let names: Vec<String> = crate_modules_named(text)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(names, ["app", "config", "store", "server"]);
}
