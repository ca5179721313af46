//! File access cannot leave the workspace roots, whatever is planted or
//! swapped in the file system while the tools run: symlinks at an export's
//! temporary names and target, an output directory swapped for a symlink to
//! an outside directory mid-call, source files flipped between a real file
//! and a symlink to an outside file mid-call. The real binary over stdio.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, temp_dir};
use serde_json::{Value, json};

/// A workspace root `ws` and an `outside` directory beside it, both
/// canonical, and a server whose only root is `ws`.
fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf, Server) {
    let tmp = temp_dir();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("ws");
    let outside = base.join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let s = Server::started(&base.join("data"), &["--root", root.to_str().unwrap()]);
    (tmp, root, outside, s)
}

fn log_personal_entry(s: &mut Server) {
    s.call_ok(
        "audit_log",
        json!({
            "user_id": "u1",
            "action": "read",
            "resource_type": "player",
            "resource_id": "p1",
            "user_email": "private@example.com",
        }),
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Calls a tool that may succeed or fail; returns the whole result.
fn call_any(s: &mut Server, name: &str, args: Value) -> Value {
    s.call_tool(name, args)
}

#[test]
fn a_symlink_planted_at_a_temporary_name_or_the_target_cannot_redirect_an_export() {
    let (_tmp, root, outside, mut s) = workspace();
    log_personal_entry(&mut s);
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "keep").unwrap();
    let mine = root.join("mine.txt");
    std::fs::write(&mine, "mine").unwrap();
    // Every temporary name a process id makes guessable, the server's own first.
    let mut pids = vec![s.pid()];
    pids.extend(1..=64);
    for name in ["export.jsonl", "export.csv"] {
        for pid in &pids {
            let planted = root.join(format!(".{name}.{pid}.tmp"));
            let _ = symlink(&victim, planted);
        }
        symlink(&victim, root.join(format!(".{name}.tmp"))).unwrap();
        symlink(&victim, root.join(format!("{name}.tmp"))).unwrap();
    }
    let r = s.call_ok(
        "audit_export",
        json!({"path": "export.jsonl", "format": "jsonl"}),
    );
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(r["path"], root.join("export.jsonl").display().to_string());
    let r = s.call_ok(
        "audit_export",
        json!({"path": "export.csv", "format": "csv"}),
    );
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let written = std::fs::read_to_string(root.join("export.jsonl")).unwrap();
    assert!(written.contains("private@example.com"), "{written}");
    assert!(
        !std::fs::symlink_metadata(root.join("export.jsonl"))
            .unwrap()
            .is_symlink()
    );

    // A symlink at the target: refused without overwrite, replaced itself
    // (never written through) with it, wherever it points.
    for (link, pointee) in [("to_outside.jsonl", &victim), ("to_mine.jsonl", &mine)] {
        symlink(pointee, root.join(link)).unwrap();
        let err = s.call_err("audit_export", json!({"path": link, "format": "jsonl"}));
        assert!(
            err.contains("`path`") && err.contains("already exists"),
            "{err}"
        );
        let r = s.call_ok(
            "audit_export",
            json!({"path": link, "format": "jsonl", "overwrite": true}),
        );
        assert_eq!(r["path"], root.join(link).display().to_string(), "{r}");
        let meta = std::fs::symlink_metadata(root.join(link)).unwrap();
        assert!(meta.is_file(), "{link} is still a symlink");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine");
    assert_eq!(entries(&outside), vec!["victim.txt"]);
    assert!(s.close().success());
}

/// Swaps `dir` for a symlink to `to` and back, over and over, until `stop`.
fn swap_dir_with_symlink(dir: PathBuf, to: PathBuf, stop: Arc<AtomicBool>) -> usize {
    let parked = dir.with_extension("parked");
    let mut swaps = 0;
    while !stop.load(Ordering::Relaxed) && swaps < 2_000_000 {
        if std::fs::rename(&dir, &parked).is_ok() {
            let _ = symlink(&to, &dir);
            std::thread::yield_now();
            let _ = std::fs::remove_file(&dir);
            let _ = std::fs::rename(&parked, &dir);
            swaps += 1;
        }
        std::thread::yield_now();
    }
    swaps
}

#[test]
fn an_output_directory_swapped_for_a_symlink_mid_call_never_gets_a_file_outside_the_root() {
    let (_tmp, root, outside, mut s) = workspace();
    log_personal_entry(&mut s);
    let krate = root.join("krate");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"krate\"\n").unwrap();
    let mut lib = String::new();
    for i in 0..12 {
        lib.push_str(&format!(
            "/// Module {i}.\npub mod m{i} {{ /// A thing.\n pub struct T{i}; }}\n"
        ));
    }
    std::fs::write(krate.join("src/lib.rs"), lib).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (out, outside, stop) = (out.clone(), outside.clone(), stop.clone());
        std::thread::spawn(move || swap_dir_with_symlink(out, outside, stop))
    };
    let start = Instant::now();
    let (mut docs_ok, mut exports_ok) = (0, 0);
    for i in 0..300 {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        let r = call_any(
            &mut s,
            "generate_docs",
            json!({"path": "krate", "output_dir": "out"}),
        );
        if r["isError"] != json!(true) {
            docs_ok += 1;
            for f in r["structuredContent"]["files_written"].as_array().unwrap() {
                let f = f.as_str().unwrap();
                assert!(f.starts_with(root.to_str().unwrap()), "{f}");
            }
        }
        let r = call_any(
            &mut s,
            "audit_export",
            json!({"path": format!("out/e{}.jsonl", i % 4), "format": "jsonl", "overwrite": true}),
        );
        if r["isError"] != json!(true) {
            exports_ok += 1;
            let p = r["structuredContent"]["path"].as_str().unwrap();
            assert!(p.starts_with(root.to_str().unwrap()), "{p}");
        }
        assert!(
            entries(&outside).is_empty(),
            "written outside: {:?}",
            entries(&outside)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0);
    assert!(
        entries(&outside).is_empty(),
        "written outside: {:?}",
        entries(&outside)
    );
    // The calls that found the real directory did their work, in the root.
    eprintln!("{docs_ok} docs runs and {exports_ok} exports succeeded during {swaps} swaps");
    let r = s.call_ok(
        "generate_docs",
        json!({"path": "krate", "output_dir": "out"}),
    );
    assert!(!r["files_written"].as_array().unwrap().is_empty());
    assert!(out.join("index.md").is_file());
    assert!(s.close().success());
}

/// Flips each file between itself and a symlink to `to`, until `stop`.
/// Each flip is an atomic rename over the file, so the name always exists
/// and is a real file or the symlink, half the time each.
fn flip_files_with_symlink(files: Vec<PathBuf>, to: PathBuf, stop: Arc<AtomicBool>) -> usize {
    let kept: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            let keep = f.with_extension("keep");
            std::fs::hard_link(f, &keep).unwrap();
            keep
        })
        .collect();
    let mut flips = 0;
    while !stop.load(Ordering::Relaxed) && flips < 10_000_000 {
        for (f, keep) in files.iter().zip(&kept) {
            let link = f.with_extension("link");
            let real = f.with_extension("real");
            let _ = std::fs::remove_file(&link);
            let _ = std::fs::remove_file(&real);
            if symlink(&to, &link).is_ok() && std::fs::rename(&link, f).is_ok() {
                flips += 1;
            }
            if std::fs::hard_link(keep, &real).is_ok() && std::fs::rename(&real, f).is_ok() {
                flips += 1;
            }
        }
    }
    flips
}

#[test]
fn a_source_file_flipped_to_a_symlink_mid_call_never_shows_outside_items() {
    let (_tmp, root, outside, mut s) = workspace();
    std::fs::write(
        outside.join("secret.rs"),
        "/// Not for the workspace.\npub struct OutsideSecret { pub key: u32 }\n",
    )
    .unwrap();
    let src = root.join("krate/src");
    std::fs::create_dir_all(&src).unwrap();
    let mut lib = String::new();
    let mut files = Vec::new();
    // Many module files, so each call has many moments to be caught by a flip.
    for i in 0..40 {
        lib.push_str(&format!("pub mod m{i};\n"));
        let f = src.join(format!("m{i}.rs"));
        std::fs::write(
            &f,
            format!("/// Inside.\npub struct Inside{i} {{ pub v: u32 }}\n"),
        )
        .unwrap();
        files.push(f);
    }
    std::fs::write(src.join("lib.rs"), lib).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (to, stop) = (outside.join("secret.rs"), stop.clone());
        std::thread::spawn(move || flip_files_with_symlink(files, to, stop))
    };
    let start = Instant::now();
    let mut answers = 0;
    let mut leaked = Vec::new();
    for _ in 0..600 {
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
        for (tool, args) in [
            (
                "generate_docs",
                json!({"path": "krate/src", "list_items": true}),
            ),
            (
                "generate_diagram",
                json!({"kind": "type_graph", "path": "krate/src"}),
            ),
            (
                "generate_diagram",
                json!({"kind": "module_graph", "path": "krate/src"}),
            ),
        ] {
            let r = call_any(&mut s, tool, args);
            answers += 1;
            let text = r.to_string();
            if text.contains("OutsideSecret") || text.contains("Not for the workspace") {
                leaked.push(format!("{tool}: {text}"));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 0);
    assert!(
        leaked.is_empty(),
        "{} of {answers} answers showed the outside file, e.g. {}",
        leaked.len(),
        leaked[0].chars().take(400).collect::<String>()
    );
    // With the files left alone, every module is read.
    let r = s.call_ok(
        "generate_docs",
        json!({"path": "krate/src", "list_items": true}),
    );
    assert_eq!(r["files_read"], 41, "{r}");
    assert!(s.close().success());
}
