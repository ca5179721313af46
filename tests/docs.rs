//! The `docs` toolset as an agent meets it over stdio: documenting fixture
//! crates that use every module layout and item kind, the cross-check of the
//! public item set against rustdoc's `all.html`, bad input, path-root
//! enforcement, progress notifications, OpenAPI validation and Mermaid
//! parsing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, mermaid_failures, temp_dir};
use serde_json::{Value, json};

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// A server whose only workspace root is `root`.
fn server_with_root(tmp: &Path, root: &Path) -> Server {
    Server::started(&tmp.join("data"), &["--root", root.to_str().unwrap()])
}

const LAYOUT_LIB: &str = r#"//! Fixture crate covering every module layout and item kind.
//!
//! ```no_run
//! fixture_layouts::run();
//! ```

pub mod flat;
pub mod nested;
#[path = "elsewhere/custom_name.rs"]
pub mod renamed;
/// An inline module.
pub mod inline {
    /// Nested inline.
    pub mod inner {
        /// Lives in an inline module.
        pub fn in_inline() {}
    }
    pub mod from_file;
}
mod private_mod {
    /// Only reachable through the re-exports below.
    pub struct Exported;
    /// Not re-exported: not public.
    pub struct NotExported;
}
pub use private_mod::Exported;
pub use private_mod::Exported as Renamed;

#[cfg(test)]
mod tests {
    pub fn never_documented() {}
}
#[cfg(test)]
pub mod test_only_file_that_does_not_exist;

/// A point.
///
/// ```rust,should_panic
/// panic!("example");
/// ```
#[deprecated(since = "0.2.0", note = "use Shape")]
pub struct Point {
    /// Horizontal.
    pub x: i32,
    y: i32,
}

/// Shapes.
pub enum Shape {
    /// Round.
    Circle { r: f64 },
    /// Four sides.
    Square(f64),
    /// Nothing.
    Empty,
}

/// Bits.
#[repr(C)]
pub union Bits {
    /// As an integer.
    pub i: u32,
    /// As a float.
    pub f: f32,
}

/// Things with an area.
pub trait Area {
    /// The area.
    fn area(&self) -> f64;
    /// A name.
    fn name(&self) -> String {
        "shape".to_string()
    }
    /// Number of sides.
    const SIDES: u32;
    /// Unit of measure.
    type Unit;
}

#[allow(deprecated)]
impl Area for Point {
    fn area(&self) -> f64 {
        0.0
    }
    const SIDES: u32 = 0;
    type Unit = ();
}

#[allow(deprecated)]
impl Point {
    /// Makes a point.
    pub fn new(x: i32) -> Self {
        Point { x, y: 0 }
    }
    fn private_helper(&self) {}
}

/// Runs.
pub fn run() {}

/// The maximum.
pub const MAX: u32 = 10;

/// A greeting.
pub static GREETING: &str = "hi";

/// Two numbers.
pub type Pair = (i32, i32);

/// Makes a point.
#[macro_export]
macro_rules! make_point {
    ($x:expr) => {
        $crate::Point::new($x)
    };
}

macro_rules! local_only {
    () => {};
}

pub fn undocumented() {}

/// Hidden.
#[doc(hidden)]
pub fn hidden_fn() {}

#[doc = "Documented with an attribute."]
pub fn attr_documented() {}

pub(crate) fn crate_only() {}
"#;

fn layout_crate(root: &Path) -> PathBuf {
    let dir = root.join("fixture-layouts");
    write_tree(
        &dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"fixture-layouts\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            ("src/lib.rs", LAYOUT_LIB),
            (
                "src/flat.rs",
                "//! Non-mod-rs file.\n\npub mod child;\n/// In flat.\npub struct FlatThing;\n",
            ),
            (
                "src/flat/child.rs",
                "//! Child of a non-mod-rs file.\n\n/// In flat::child.\npub fn child_fn() {}\n",
            ),
            (
                "src/nested/mod.rs",
                "//! A mod.rs module.\n\npub mod deep;\n",
            ),
            (
                "src/nested/deep.rs",
                "//! Deep.\n\n/// In nested::deep.\npub enum DeepEnum { A }\n",
            ),
            (
                "src/elsewhere/custom_name.rs",
                "//! Loaded by #[path].\n\npub mod sub;\n/// In renamed.\npub const RENAMED: u8 = 1;\n",
            ),
            (
                "src/elsewhere/sub.rs",
                "//! Beside the #[path] file.\n\n/// In renamed::sub.\npub static SUB: u8 = 2;\n",
            ),
            (
                "src/inline/from_file.rs",
                "//! File child of an inline module.\n\n/// In inline::from_file.\npub type FromFile = u8;\n",
            ),
        ],
    );
    dir
}

/// Every item of a generate_docs run, following `next_cursor`.
fn all_items(s: &mut Server, args: Value) -> (Value, Vec<Value>) {
    let mut args = args;
    args["list_items"] = json!(true);
    let first = s.call_ok("generate_docs", args.clone());
    let mut items: Vec<Value> = first["items"].as_array().unwrap().clone();
    let mut cursor = first.get("next_cursor").cloned();
    while let Some(c) = cursor {
        args["cursor"] = c;
        let next = s.call_ok("generate_docs", args.clone());
        items.extend(next["items"].as_array().unwrap().iter().cloned());
        cursor = next.get("next_cursor").cloned();
    }
    (first, items)
}

fn kind_paths(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["kind"].as_str().unwrap(),
                i["path"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn fixture_crate_with_every_layout_and_item_kind_is_fully_documented() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let (result, items) = all_items(&mut s, json!({"path": krate.to_str().unwrap()}));
    let expected: BTreeSet<String> = [
        "module crate",
        "module crate::flat",
        "module crate::flat::child",
        "module crate::nested",
        "module crate::nested::deep",
        "module crate::renamed",
        "module crate::renamed::sub",
        "module crate::inline",
        "module crate::inline::inner",
        "module crate::inline::from_file",
        "struct crate::Exported",
        "struct crate::Renamed",
        "struct crate::Point",
        "enum crate::Shape",
        "union crate::Bits",
        "trait crate::Area",
        "function crate::run",
        "function crate::undocumented",
        "function crate::attr_documented",
        "function crate::inline::inner::in_inline",
        "function crate::flat::child::child_fn",
        "constant crate::MAX",
        "constant crate::renamed::RENAMED",
        "static crate::GREETING",
        "static crate::renamed::sub::SUB",
        "type_alias crate::Pair",
        "type_alias crate::inline::from_file::FromFile",
        "macro crate::make_point",
        "struct crate::flat::FlatThing",
        "enum crate::nested::deep::DeepEnum",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(kind_paths(&items), expected, "{result}");
    assert_eq!(result["crate_name"], "fixture_layouts");
    assert_eq!(
        result["item_counts"],
        json!({"module": 10, "struct": 4, "enum": 2, "union": 1, "trait": 1, "function": 5,
               "constant": 2, "static": 2, "type_alias": 2, "macro": 1})
    );
    // Everything but `undocumented` and the inline module `inline` (documented) ...
    assert_eq!(
        result["undocumented"],
        json!(["function crate::undocumented"])
    );
    assert_eq!(result["public_items"], 30);
    assert_eq!(result["documented_public_items"], 29);
    assert_eq!(result["documented_percent"], 96.7);
    assert_eq!(result["problems"], json!([]));
    assert_eq!(result["files_read"], 8);

    // The Markdown: signatures, deprecation, members, methods, examples.
    let markdown: String = result["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content"].as_str().unwrap())
        .collect();
    assert!(
        result.get("next_cursor").is_none(),
        "small crate fits one call"
    );
    for needle in [
        "pub struct Point {",
        "> **Deprecated:** since 0.2.0: use Shape",
        "- `pub x: i32`: Horizontal.",
        "- `pub fn new(x: i32) -> Self`: Makes a point.",
        "- `impl Area for Point`",
        "- `Circle { r: f64 }`: Round.",
        "- `Square(f64)`: Four sides.",
        "- `fn area(&self) -> f64`: The area.",
        "- `const SIDES: u32;`: Number of sides.",
        "pub const MAX: u32;",
        "pub static GREETING: &str;",
        "pub type Pair = (i32, i32);",
        "macro_rules! make_point",
        "*Examples (1): `rust,should_panic`*",
        "defined at `crate::private_mod::Exported`",
        "Documented with an attribute.",
        "# Module `crate::renamed::sub`",
    ] {
        assert!(
            markdown.contains(needle),
            "missing {needle:?} in\n{markdown}"
        );
    }
    for absent in [
        "private_helper",
        "never_documented",
        "NotExported",
        "hidden_fn",
        "crate_only",
        "local_only",
        "y: i32",
    ] {
        assert!(
            !markdown.contains(absent),
            "{absent:?} is not public but was documented"
        );
    }
}

#[test]
fn include_private_lists_private_hidden_and_crate_items() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let (result, items) = all_items(
        &mut s,
        json!({"path": krate.to_str().unwrap(), "include_private": true}),
    );
    let paths = kind_paths(&items);
    for p in [
        "struct crate::private_mod::NotExported",
        "function crate::hidden_fn",
        "function crate::crate_only",
        "macro crate::local_only",
        "module crate::private_mod",
    ] {
        assert!(paths.contains(p), "{p} missing from {paths:?}");
    }
    assert!(
        !paths.iter().any(|p| p.contains("never_documented")),
        "cfg(test) items stay out"
    );
    let private = items
        .iter()
        .find(|i| i["path"] == "crate::crate_only")
        .unwrap();
    assert_eq!(private["public"], false);
    // Coverage still counts the public API only.
    assert_eq!(result["public_items"], 30);
    let markdown: String = result["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content"].as_str().unwrap())
        .collect();
    assert!(markdown.contains("fn private_helper(&self)"), "{markdown}");
}

#[test]
fn output_dir_gets_one_markdown_file_per_module_and_an_index() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let out = root.join("out/docs");
    let result = s.call_ok(
        "generate_docs",
        json!({"path": krate.join("src").to_str().unwrap(), "output_dir": "out/docs"}),
    );
    let written: BTreeSet<String> = result["files_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            Path::new(f.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = [
        "index.md",
        "fixture_layouts.md",
        "fixture_layouts.flat.md",
        "fixture_layouts.flat.child.md",
        "fixture_layouts.nested.md",
        "fixture_layouts.nested.deep.md",
        "fixture_layouts.renamed.md",
        "fixture_layouts.renamed.sub.md",
        "fixture_layouts.inline.md",
        "fixture_layouts.inline.inner.md",
        "fixture_layouts.inline.from_file.md",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(written, expected);
    assert_eq!(result["pages"], json!([]));
    let index = std::fs::read_to_string(out.join("index.md")).unwrap();
    assert!(
        index.contains("29 of 30 public items documented (96.7%)"),
        "{index}"
    );
    assert!(
        index.contains("- function `crate::undocumented`"),
        "{index}"
    );
    assert!(index.contains("| struct | 4 |"), "{index}");
    assert!(
        index.contains("[`deep`](fixture_layouts.nested.deep.md)"),
        "{index}"
    );
    let deep = std::fs::read_to_string(out.join("fixture_layouts.nested.deep.md")).unwrap();
    assert!(deep.contains("pub enum DeepEnum"), "{deep}");
    // The same crate from one file: the crate root alone names the crate after the manifest.
    let single = s.call_ok(
        "generate_docs",
        json!({"path": krate.join("src/lib.rs").to_str().unwrap()}),
    );
    assert_eq!(single["crate_name"], "fixture_layouts");
}

#[test]
fn unparsable_files_missing_modules_and_path_cycles_are_reported_and_the_rest_documented() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = root.join("broken");
    write_tree(
        &krate,
        &[
            ("Cargo.toml", "[package]\nname = \"broken\"\n"),
            (
                "src/lib.rs",
                "pub mod good;\npub mod bad;\npub mod missing;\n#[path = \"cycle_a.rs\"]\npub mod a;\npub mod deep;\npub mod hostile;\npub mod types;\n#[path = \"chain/m0.rs\"]\npub mod m0;\npub mod huge;\n",
            ),
            ("src/good.rs", "/// Fine.\npub fn fine() {}\n"),
            ("src/bad.rs", "pub fn ok() {}\n\npub fn broken( {\n"),
            (
                "src/cycle_a.rs",
                "#[path = \"cycle_b.rs\"]\npub mod b;\n/// In a.\npub fn in_a() {}\n",
            ),
            (
                "src/cycle_b.rs",
                "#[path = \"cycle_a.rs\"]\npub mod again;\n",
            ),
        ],
    );
    // Deep but legitimate nesting parses; nesting meant to exhaust the parser's stack is refused.
    let deep = format!(
        "/// Deep.\npub const DEEP: u32 = {}1{};\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    let hostile = format!(
        "pub const H: u32 = {}1{};\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    // Nesting without brackets (`Option<Option<..>>`, `&&&&T`) killed the
    // server by stack overflow; a chain of 20,000 module files took memory
    // growing with the square of its depth.
    let types = format!(
        "pub struct S {{ pub x: {}u8{} }}\n",
        "Option<".repeat(20_000),
        ">".repeat(20_000)
    );
    // A 20 MB file took 3 GB and 8 s per call; files over 8 MiB are skipped.
    let huge = "pub fn f() {}\n".repeat(700_000);
    let mut files = vec![
        ("src/huge.rs".to_string(), huge),
        ("src/deep.rs".to_string(), deep),
        ("src/hostile.rs".to_string(), hostile),
        ("src/types.rs".to_string(), types),
    ];
    for i in 0..70 {
        files.push((
            format!("src/chain/m{i}.rs"),
            format!(
                "pub fn f{i}() {{}}\n#[path = \"m{}.rs\"]\npub mod m{};\n",
                i + 1,
                i + 1
            ),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_tree(&krate, &files);
    let mut s = server_with_root(tmp.path(), &root);
    let (result, items) = all_items(&mut s, json!({"path": "broken"}));
    let paths = kind_paths(&items);
    assert!(paths.contains("function crate::good::fine"), "{paths:?}");
    assert!(paths.contains("function crate::a::in_a"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("crate::bad::")),
        "{paths:?}"
    );
    let problems = result["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 7, "{problems:?}");
    // The message of the problem reported for a file, or of the one that
    // mentions a text.
    let text = |p: &Value, key: &str| p[key].as_str().unwrap().to_string();
    let message_where = |key: &str, has: &str| -> String {
        let p = problems
            .iter()
            .find(|p| text(p, key).contains(has))
            .unwrap_or_else(|| panic!("no problem with {key} {has}: {problems:?}"));
        text(p, "message")
    };
    let huge = message_where("message", "huge.rs");
    assert!(huge.contains("at most 8388608"), "{huge}");
    let types = message_where("file", "types.rs");
    assert!(types.contains("nest too deep"), "{types}");
    let chain = message_where("message", "module files nest");
    assert!(chain.contains("deeper than 64"), "{chain}");
    let hostile = message_where("file", "hostile.rs");
    assert!(hostile.contains("nest deeper than"), "{hostile}");
    assert!(paths.contains("function crate::m0::f0"), "{paths:?}");
    assert!(paths.contains("constant crate::deep::DEEP"), "{paths:?}");
    let bad = problems
        .iter()
        .find(|p| p["file"].as_str().unwrap().ends_with("src/bad.rs"))
        .expect("bad.rs reported");
    assert_eq!(bad["line"], 3, "{bad}");
    assert!(bad["column"].as_u64().unwrap() >= 1, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("does not parse"),
        "{bad}"
    );
    let missing = problems
        .iter()
        .find(|p| p["message"].as_str().unwrap().contains("`missing`"))
        .expect("missing module reported");
    assert_eq!(missing["line"], 3);
    assert!(
        missing["message"].as_str().unwrap().contains("missing.rs"),
        "{missing}"
    );
    let cycle = problems
        .iter()
        .find(|p| p["message"].as_str().unwrap().contains("cycle"))
        .expect("cycle reported");
    assert!(
        cycle["file"].as_str().unwrap().ends_with("cycle_b.rs"),
        "{cycle}"
    );
    assert!(
        cycle["message"]
            .as_str()
            .unwrap()
            .contains("cycle_a.rs -> "),
        "{cycle}"
    );

    // A crate root that does not parse is an error naming file, line and column.
    write_tree(&root, &[("rootbad/lib.rs", "pub struct {\n")]);
    let err = s.call_err("generate_docs", json!({"path": "rootbad"}));
    assert!(err.contains("invalid argument `path`"), "{err}");
    assert!(err.contains("rootbad/lib.rs:1:"), "{err}");
    assert!(s.close().success());
}

#[test]
fn paths_outside_the_roots_are_refused_even_through_dotdot_and_symlinks() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let elsewhere = tmp.path().join("elsewhere");
    layout_crate(&elsewhere);
    std::fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
    let inside = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let outside = elsewhere.join("fixture-layouts");
    for path in [
        outside.to_str().unwrap().to_string(),
        "../elsewhere/fixture-layouts".to_string(),
        "link/fixture-layouts".to_string(),
        "/etc".to_string(),
    ] {
        let err = s.call_err("generate_docs", json!({"path": path}));
        assert!(
            err.contains("invalid argument `path`") && err.contains("outside the workspace roots"),
            "{path}: {err}"
        );
    }
    let err = s.call_err("generate_docs", json!({"path": "no/such/crate"}));
    assert!(
        err.contains("invalid argument `path`") && err.contains("does not exist"),
        "{err}"
    );
    for out in [
        "../escape",
        "link/out",
        tmp.path().join("x").to_str().unwrap(),
    ] {
        let err = s.call_err(
            "generate_docs",
            json!({"path": inside.to_str().unwrap(), "output_dir": out}),
        );
        assert!(
            err.contains("invalid argument `output_dir`"),
            "{out}: {err}"
        );
    }
    assert!(!tmp.path().join("escape").exists() && !elsewhere.join("out").exists());
    // A #[path] inside the root that points outside it is skipped, not read.
    write_tree(
        &root,
        &[(
            "sneaky/src/lib.rs",
            &format!(
                "#[path = \"{}\"]\npub mod stolen;\n",
                outside.join("src/lib.rs").display()
            ),
        )],
    );
    let result = s.call_ok(
        "generate_docs",
        json!({"path": "sneaky/src", "list_items": true}),
    );
    assert!(
        result["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("outside the workspace roots"),
        "{result}"
    );
    assert_eq!(
        result["items"].as_array().unwrap().len(),
        1,
        "only the crate root: {result}"
    );
    let err = s.call_err("generate_docs", json!({"path": "sneaky/src", "bogus": 1}));
    assert!(
        err.contains("bogus") || err.contains("unknown field"),
        "{err}"
    );
    let err = s.call_err(
        "generate_docs",
        json!({"path": "sneaky/src", "cursor": "nonsense"}),
    );
    assert!(err.contains("invalid argument `cursor`"), "{err}");
    // A symlink loop, a NUL byte, an output_dir that is a file: the argument
    // is named (they were bare I/O errors).
    std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
    let err = s.call_err("generate_docs", json!({"path": "loop"}));
    assert!(err.contains("invalid argument `path`"), "{err}");
    let err = s.call_err("generate_docs", json!({"path": "a\u{0}b"}));
    assert!(err.contains("invalid argument `path`"), "{err}");
    std::fs::write(root.join("afile"), "x").unwrap();
    let err = s.call_err(
        "generate_docs",
        json!({"path": "sneaky/src", "output_dir": "afile/out"}),
    );
    assert!(err.contains("invalid argument `output_dir`"), "{err}");
    // Never into the server's data directory, even when a root holds it.
    let mut s = server_with_root(tmp.path(), tmp.path());
    let err = s.call_err(
        "generate_docs",
        json!({"path": "ws/sneaky/src", "output_dir": "data/docs"}),
    );
    assert!(
        err.contains("invalid argument `output_dir`") && err.contains("data directory"),
        "{err}"
    );
    assert!(!tmp.path().join("data/docs").exists());
}

#[test]
fn progress_is_notified_per_parsed_file_when_a_token_is_given() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let id = s.next_id();
    s.send(
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "generate_docs",
            "arguments": {"path": krate.to_str().unwrap()},
            "_meta": {"progressToken": "docs-1"}
        }}),
    );
    let response = s.wait_for_id(&json!(id));
    assert_eq!(response["result"]["isError"], false, "{response}");
    let mut progress = Vec::new();
    while let Some(m) = s.wait_for(Duration::from_millis(200), |m| {
        m["method"] == "notifications/progress"
    }) {
        progress.push(m);
    }
    assert_eq!(progress.len(), 8, "one per file: {progress:?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["params"]["progressToken"], "docs-1");
        assert_eq!(p["params"]["progress"], json!((i + 1) as f64));
        assert!(
            p["params"]["message"].as_str().unwrap().contains(".rs"),
            "{p}"
        );
    }
}

/// Parses rustdoc's all.html into `kind path` lines (paths without the crate name).
fn rustdoc_items(all_html: &Path) -> BTreeSet<String> {
    let html = std::fs::read_to_string(all_html).unwrap();
    let mut out = BTreeSet::new();
    for part in html.split("<li><a href=\"").skip(1) {
        let href = &part[..part.find('"').unwrap()];
        if href.starts_with('#') {
            continue;
        }
        let (dirs, file) = href
            .rsplit_once('/')
            .map(|(d, f)| (Some(d), f))
            .unwrap_or((None, href));
        let mut bits = file.split('.');
        let kind = match bits.next().unwrap() {
            "struct" => "struct",
            "enum" => "enum",
            "union" => "union",
            "trait" => "trait",
            "macro" => "macro",
            "fn" => "function",
            "type" => "type_alias",
            "constant" => "constant",
            "static" => "static",
            other => panic!("rustdoc kind {other} not mapped ({href})"),
        };
        let name = bits.next().unwrap();
        let path = match dirs {
            Some(d) => format!("crate::{}::{name}", d.replace('/', "::")),
            None => format!("crate::{name}"),
        };
        out.insert(format!("{kind} {path}"));
    }
    out
}

fn cargo_doc(dir: &Path, target: Option<&Path>) -> PathBuf {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir)
        .args(["doc", "--no-deps", "--lib", "--offline", "-q"]);
    // Not the variables cargo set for this test (CARGO_PKG_NAME, ...): build
    // scripts that watch them (ring's does) would see them changed, rerun in
    // the shared target dir, and make the next `cargo build` or `nextest`
    // rebuild ring, rustls and the AWS SDK (tools/test's second phase spent
    // about 4 minutes on that).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo = (key.starts_with("CARGO_")
            && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR"))
            || key == "OUT_DIR";
        if set_by_cargo {
            cmd.env_remove(key.as_ref());
        }
    }
    if let Some(t) = target {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let out = cmd.output().expect("run cargo doc");
    assert!(
        out.status.success(),
        "cargo doc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match target {
        Some(t) => t.to_path_buf(),
        None => std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| dir.join("target")),
    }
}

fn our_public_items(s: &mut Server, path: &str) -> BTreeSet<String> {
    let (result, items) = all_items(s, json!({"path": path}));
    assert_eq!(result["problems"], json!([]), "{result}");
    let items: Vec<Value> = items
        .into_iter()
        .filter(|i| i["kind"] != "module")
        .collect();
    kind_paths(&items)
}

/// The version of `name` this project's Cargo.lock pins (the first listed).
fn locked_version(name: &str) -> String {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            let v = lines.next().unwrap();
            return v
                .trim_start_matches("version = \"")
                .trim_end_matches('"')
                .to_string();
        }
    }
    panic!("{name} is not in Cargo.lock")
}

/// A crate from cargo's registry source cache (`heck`: a dependency of clap's derive).
fn registry_crate(name_version: &str) -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let src = home.join("registry/src");
    std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path().join(name_version))
        .find(|p| p.join("Cargo.toml").is_file())
        .unwrap_or_else(|| panic!("{name_version} not in {}", src.display()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn public_items_of_a_registry_crate_equal_rustdocs_all_html() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = root.join("heck");
    copy_dir(
        &registry_crate(&format!("heck-{}", locked_version("heck"))),
        &krate,
    );
    let target = cargo_doc(&krate, Some(&tmp.path().join("target")));
    let rustdoc = rustdoc_items(&target.join("doc/heck/all.html"));
    assert!(rustdoc.len() >= 20, "{rustdoc:?}");
    let mut s = server_with_root(tmp.path(), &root);
    let ours = our_public_items(&mut s, "heck");
    assert_eq!(ours, rustdoc);
}

#[test]
fn public_items_of_this_project_equal_rustdocs_all_html() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = cargo_doc(project, None);
    let rustdoc = rustdoc_items(&target.join("doc/smart_systems_mcp/all.html"));
    let tmp = temp_dir();
    let mut s = server_with_root(tmp.path(), project);
    let ours = our_public_items(&mut s, project.to_str().unwrap());
    let only_ours: Vec<_> = ours.difference(&rustdoc).collect();
    let only_rustdoc: Vec<_> = rustdoc.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_rustdoc.is_empty(),
        "only ours: {only_ours:?}\nonly rustdoc: {only_rustdoc:?}"
    );
}

// --- OpenAPI ------------------------------------------------------------------

/// The `openapi-spec-validator` command tools/test installs into its venv.
fn openapi_validator() -> PathBuf {
    if let Ok(python) = std::env::var("SMART_SYSTEMS_TEST_PYTHON") {
        let candidate = Path::new(&python).with_file_name("openapi-spec-validator");
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from("openapi-spec-validator")
}

fn validate_openapi(file: &Path) -> (bool, String) {
    let out = Command::new(openapi_validator())
        .arg(file)
        .output()
        .expect("openapi-spec-validator is installed by tools/test (run tools/test, or put the venv's bin on PATH)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn nba_endpoints() -> Value {
    json!([
        {"path": "/players/{player_id}/games/{season}", "method": "GET", "summary": "A player's games in a season",
         "parameters": [{"name": "limit", "in": "query", "type": "integer", "description": "At most this many | rows"},
                        {"name": "season", "in": "path", "type": "integer"}],
         "responses": {"200": {"description": "Games", "schema": {"type": "array", "items": {"type": "object",
            "properties": {"game_id": {"type": "string"}, "points": {"type": ["integer", "null"]}, "home": {"const": true}},
            "required": ["game_id"]}}},
                       "404": {"description": "No such player"}}},
        {"path": "/players", "method": "post", "description": "Creates a player.",
         "parameters": [{"name": "X-Request-Id", "in": "header", "type": "string", "required": true}],
         "request_body": {"content_type": "application/json", "schema": {"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}},
         "responses": {"201": {"description": "Created"}, "4XX": {"description": "Bad request"}, "default": {"description": "Error"}}},
        {"path": "/teams/{team_id}", "method": "delete"},
        {"path": "/teams/{team_id}", "method": "get", "parameters": [{"name": "expand", "in": "query", "type": "array"}]}
    ])
}

#[test]
fn openapi_3_1_and_3_0_documents_in_json_and_yaml_pass_openapi_spec_validator() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    for (version, format, expected) in [
        ("3.1", "json", "3.1.0"),
        ("3.0", "json", "3.0.3"),
        ("3.1", "yaml", "3.1.0"),
        ("3.0", "yaml", "3.0.3"),
    ] {
        let result = s.call_ok(
            "generate_api_spec",
            json!({"title": "NBA stats \"API\"", "version": "2.1.0", "endpoints": nba_endpoints(),
                   "openapi_version": version, "format": format}),
        );
        assert_eq!(result["openapi_version"], expected);
        assert_eq!(result["count"], 4);
        assert_eq!(
            result["declared_path_parameters"],
            json!([
                "GET /players/{player_id}/games/{season}: player_id",
                "DELETE /teams/{team_id}: team_id",
                "GET /teams/{team_id}: team_id"
            ])
        );
        let text = result["spec"].as_str().unwrap();
        let file = tmp.path().join(format!("spec-{version}.{format}"));
        std::fs::write(&file, text).unwrap();
        let (ok, output) = validate_openapi(&file);
        assert!(ok, "{version}/{format} does not validate: {output}\n{text}");
        let doc: Value = if format == "json" {
            serde_json::from_str(text).unwrap()
        } else {
            serde_json::to_value(serde_norway::from_str::<Value>(text).unwrap()).unwrap()
        };
        let points = &doc["paths"]["/players/{player_id}/games/{season}"]["get"]["responses"]["200"]
            ["content"]["application/json"]["schema"]["items"]["properties"]["points"];
        if version == "3.0" {
            assert_eq!(points, &json!({"type": "integer", "nullable": true}));
        } else {
            assert_eq!(points, &json!({"type": ["integer", "null"]}));
        }
        let md = result["markdown"].as_str().unwrap();
        assert!(
            md.contains("## `GET /players/{player_id}/games/{season}`"),
            "{md}"
        );
        assert!(
            md.contains("| `limit` | query | integer | no | At most this many \\| rows |"),
            "{md}"
        );
        assert!(md.contains("| `player_id` | path | string | yes |"), "{md}");
        assert!(md.contains("**Request body** (`application/json`)"), "{md}");
    }
    // The validator does catch a broken document (so the check above means something).
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, r#"{"openapi": "3.1.0", "info": {"title": "x"}, "paths": {"/a/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}}"#).unwrap();
    assert!(!validate_openapi(&broken).0);
}

#[test]
fn conflicting_and_malformed_endpoints_are_refused_naming_the_endpoint() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let cases = [
        (
            json!([{"path": "/a", "method": "get"}, {"path": "/a", "method": "GET"}]),
            "endpoints[1].path",
            "already endpoints[0]",
        ),
        (
            json!([{"path": "/a/{id}", "method": "get"}, {"path": "/a/{name}", "method": "put"}]),
            "endpoints[1].path",
            "differ only in parameter names",
        ),
        (
            json!([{"path": "players", "method": "get"}]),
            "endpoints[0].path",
            "start with `/`",
        ),
        (
            json!([{"path": "/a/{id", "method": "get"}]),
            "endpoints[0].path",
            "without `}`",
        ),
        (
            json!([{"path": "/a/{id}", "method": "fetch"}]),
            "endpoints[0].method",
            "not one of",
        ),
        (
            json!([{"path": "/a", "method": "get", "parameters": [{"name": "q", "in": "query", "type": "int"}]}]),
            "endpoints[0].parameters[0].type",
            "not one of",
        ),
        (
            json!([{"path": "/a", "method": "get", "parameters": [{"name": "id", "in": "path", "type": "string"}]}]),
            "endpoints[0].parameters[0].name",
            "does not appear",
        ),
        (
            json!([{"path": "/a/{id}", "method": "get", "parameters": [{"name": "id", "in": "path", "type": "string", "required": false}]}]),
            "endpoints[0].parameters[0].required",
            "always required",
        ),
        (
            json!([{"path": "/a", "method": "get", "parameters": [{"name": "q", "in": "query", "type": "string"}, {"name": "q", "in": "query", "type": "string"}]}]),
            "endpoints[0].parameters[1].name",
            "twice",
        ),
        (
            json!([{"path": "/a", "method": "get", "responses": {"OK": {"description": "x"}}}]),
            "endpoints[0].responses",
            "not a status code",
        ),
        (
            json!([{"path": "/a", "method": "post", "request_body": {"content_type": "json", "schema": {}}}]),
            "endpoints[0].request_body.content_type",
            "media type",
        ),
        (json!([]), "endpoints", "at least one"),
    ];
    for (endpoints, field, why) in cases {
        let err = s.call_err(
            "generate_api_spec",
            json!({"title": "T", "version": "1", "endpoints": endpoints}),
        );
        assert!(
            err.contains(&format!("invalid argument `{field}`")) && err.contains(why),
            "{endpoints}: {err}"
        );
    }
    let err = s.call_err(
        "generate_api_spec",
        json!({"version": "1", "endpoints": [{"path": "/a", "method": "get"}]}),
    );
    assert!(err.contains("invalid argument `title`"), "{err}");
    let err = s.call_err("generate_api_spec", json!({"title": "T", "version": "1", "endpoints": [{"path": "/a", "method": "get"}], "openapi_version": "2.0"}));
    assert!(
        err.contains("openapi_version") || err.contains("2.0"),
        "{err}"
    );
}

#[test]
fn mcp_tools_source_documents_every_tool_of_this_server_with_its_schemas() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let listed = s.request_ok("tools/list", json!({}));
    let mut result = s.call_ok("generate_api_spec", json!({"source": "mcp_tools"}));
    let mut whole = result["markdown"].as_str().unwrap().to_string();
    while let Some(c) = result["next_cursor"].as_str() {
        let args = json!({"source": "mcp_tools", "cursor": c});
        result = s.call_ok("generate_api_spec", args);
        whole.push_str(result["markdown"].as_str().unwrap());
    }
    let md = whole.as_str();
    let tools = listed["tools"].as_array().unwrap();
    assert_eq!(result["count"], tools.len());
    for t in tools {
        let name = t["name"].as_str().unwrap();
        assert!(md.contains(&format!("## {name}\n")), "{name} missing");
        let first_line = t["description"].as_str().unwrap().lines().next().unwrap();
        assert!(md.contains(first_line), "description of {name} missing");
        // A tool without arguments may omit `properties` altogether.
        let no_args = serde_json::Map::new();
        let args = t["inputSchema"]["properties"]
            .as_object()
            .unwrap_or(&no_args);
        for arg in args.keys() {
            assert!(
                md.contains(&format!("| `{arg}` |")),
                "argument {name}.{arg} missing"
            );
        }
    }
    assert!(
        md.contains("| `path` | string | yes |"),
        "generate_docs.path is required: {md}"
    );
    assert!(
        md.contains("| `kind` | architecture \\| sequence \\| module_graph \\| type_graph | yes |"),
        "{md}"
    );
    assert!(md.contains("<summary>Output schema</summary>"));
    // With the docs toolset off, the reference shrinks with the tool list.
    let mut other = Server::started(&tmp.path().join("data2"), &["--toolsets", "events"]);
    assert!(
        !other
            .tool_names()
            .contains(&"generate_api_spec".to_string())
    );
}

// --- Mermaid ------------------------------------------------------------------

const KINDS: [&str; 3] = ["sync", "async", "reply"];

const HOSTILE: [&str; 12] = [
    "end",
    "say \"hi\"",
    "[brackets] (parens) {braces}",
    "Zürich → 東京 🏀",
    "a;b|c",
    "%% not a comment",
    "<script>alert(1)</script>",
    "line\nbreak",
    "#quot; & #35;",
    "`tick` -->",
    "graph TD",
    "",
];

fn types_crate(root: &Path) -> PathBuf {
    let dir = root.join("league");
    write_tree(
        &dir,
        &[
            ("Cargo.toml", "[package]\nname = \"league\"\n"),
            (
                "src/lib.rs",
                "//! League.\npub mod model;\npub mod stats;\npub mod end;\n",
            ),
            (
                "src/model.rs",
                "//! Model.\nuse std::collections::HashMap;\n/// A team.\npub struct Team { pub name: String, pub roster: Vec<Player>, coach: Option<Coach>, pub by_number: HashMap<u8, Player> }\n/// A player.\npub struct Player { pub id: u32, pub position: Position }\nimpl Player { /// New.\n pub fn new(id: u32) -> Self { Player { id, position: Position::Guard } } fn secret(&self) {} }\npub struct Coach;\n/// Where they play.\npub enum Position { Guard, Forward, Center }\n/// Rated things.\npub trait Rated { fn rating(&self) -> f64; }\nimpl Rated for Player { fn rating(&self) -> f64 { 1.0 } }\n",
            ),
            (
                "src/stats.rs",
                "//! Stats.\nuse crate::model::Player;\nuse super::end::Thing;\npub fn average(_p: &[Player]) -> f64 { 0.0 }\n",
            ),
            (
                "src/end.rs",
                "//! A module named like a Mermaid keyword.\npub struct Thing<T> { pub inner: T }\n",
            ),
        ],
    );
    dir
}

#[test]
fn every_diagram_kind_parses_with_mermaid_even_with_hostile_labels() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let league = types_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let mut diagrams: Vec<(String, String)> = Vec::new();

    let types = ["service", "database", "queue", "cache", "external"];
    let components: Vec<Value> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, h)| json!({"id": format!("{h}#{i}"), "name": h, "type": types[i % types.len()]}))
        .collect();
    let connections: Vec<Value> = (0..HOSTILE.len())
        .map(|i| json!({"from": format!("{}#{i}", HOSTILE[i]), "to": format!("{}#{}", HOSTILE[(i + 1) % HOSTILE.len()], (i + 1) % HOSTILE.len()), "label": HOSTILE[(i + 3) % HOSTILE.len()]}))
        .collect();
    let arch = s.call_ok(
        "generate_diagram",
        json!({"kind": "architecture", "components": components, "connections": connections}),
    );
    assert_eq!(
        (arch["nodes"].as_u64(), arch["edges"].as_u64()),
        (Some(12), Some(12))
    );
    let m = arch["mermaid"].as_str().unwrap();
    assert!(m.starts_with("flowchart"), "{m}");
    assert!(
        m.contains("[(\"") && m.contains("{{\"") && m.contains("[/\"") && m.contains("([\""),
        "every shape drawn: {m}"
    );
    assert!(
        arch["markdown"]
            .as_str()
            .unwrap()
            .starts_with("```mermaid\n")
    );
    diagrams.push(("architecture".into(), m.to_string()));

    let interactions: Vec<Value> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, h)| json!({"from": HOSTILE[i], "to": HOSTILE[(i + 5) % HOSTILE.len()], "message": h, "kind": KINDS[i % 3]}))
        .collect();
    let seq = s.call_ok(
        "generate_diagram",
        json!({"kind": "sequence", "interactions": interactions}),
    );
    assert_eq!(seq["nodes"], 12);
    let m = seq["mermaid"].as_str().unwrap();
    assert!(
        m.contains("->>") && m.contains("-)") && m.contains("-->>"),
        "{m}"
    );
    diagrams.push(("sequence".into(), m.to_string()));
    let seq2 = s.call_ok(
        "generate_diagram",
        json!({"kind": "sequence", "participants": ["Client", "end", "API"], "interactions": [{"from": "Client", "to": "API", "message": "GET /players/{id}: 1"}, {"from": "API", "to": "end", "message": "end"}, {"from": "end", "to": "Client", "message": "done; ok", "kind": "reply"}]}),
    );
    assert!(
        seq2["mermaid"]
            .as_str()
            .unwrap()
            .contains("participant p1 as end")
    );
    diagrams.push((
        "sequence-declared".into(),
        seq2["mermaid"].as_str().unwrap().to_string(),
    ));

    let modules = s.call_ok(
        "generate_diagram",
        json!({"kind": "module_graph", "path": "league"}),
    );
    let m = modules["mermaid"].as_str().unwrap().to_string();
    let id_of = |label: &str| {
        m.lines()
            .find(|l| l.ends_with(&format!("[\"{label}\"]")))
            .map(|l| l.trim().split('[').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("node {label} missing in {m}"))
    };
    let (stats, model, end) = (id_of("stats"), id_of("model"), id_of("end"));
    assert!(
        m.contains(&format!("{stats} --> {model}")),
        "stats uses model: {m}"
    );
    assert!(
        m.contains(&format!("{stats} --> {end}")),
        "stats uses end (via super::): {m}"
    );
    assert!(!m.contains(&format!("{model} --> {stats}")), "{m}");
    diagrams.push(("module_graph".into(), m.clone()));

    let tg = s.call_ok(
        "generate_diagram",
        json!({"kind": "type_graph", "path": league.to_str().unwrap()}),
    );
    let m = tg["mermaid"].as_str().unwrap().to_string();
    assert_eq!(tg["nodes"], 6, "{m}");
    let class_of = |name: &str| {
        m.lines()
            .find(|l| l.contains(&format!("[\"{name}\"]")))
            .map(|l| {
                l.trim()
                    .trim_start_matches("class ")
                    .split('[')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .unwrap_or_else(|| panic!("class {name} missing in {m}"))
    };
    let (team, player, coach, position, rated) = (
        class_of("Team"),
        class_of("Player"),
        class_of("Coach"),
        class_of("Position"),
        class_of("Rated"),
    );
    assert!(
        m.contains(&format!("{team} --> {player} : by_number_roster")),
        "{m}"
    );
    assert!(m.contains(&format!("{team} --> {coach} : coach")), "{m}");
    assert!(
        m.contains(&format!("{player} --> {position} : position")),
        "{m}"
    );
    assert!(
        m.contains(&format!("{rated} <|.. {player} : implements")),
        "{m}"
    );
    assert!(
        m.contains("+new(id: u32) Self") && m.contains("-secret(&self)"),
        "{m}"
    );
    assert!(
        m.contains("<<enumeration>>")
            && m.contains("<<trait>>")
            && m.contains("-coach: Option~Coach~"),
        "{m}"
    );
    diagrams.push(("type_graph".into(), m.clone()));
    let only_end = s.call_ok(
        "generate_diagram",
        json!({"kind": "type_graph", "path": "league", "module": "end"}),
    );
    assert_eq!(only_end["nodes"], 1);
    diagrams.push((
        "type_graph-module".into(),
        only_end["mermaid"].as_str().unwrap().to_string(),
    ));

    // This project itself: big, real graphs.
    let project = env!("CARGO_MANIFEST_DIR");
    let mut own = Server::started(&tmp.path().join("data-own"), &["--root", project]);
    for (name, args) in [
        (
            "own-modules",
            json!({"kind": "module_graph", "path": project}),
        ),
        ("own-types", json!({"kind": "type_graph", "path": project})),
        (
            "own-types-docs",
            json!({"kind": "type_graph", "path": project, "module": "docs::model"}),
        ),
    ] {
        let d = own.call_ok("generate_diagram", args);
        assert!(d["nodes"].as_u64().unwrap() >= 3, "{name}: {d}");
        diagrams.push((name.into(), d["mermaid"].as_str().unwrap().to_string()));
    }

    let failures = mermaid_failures(tmp.path(), &diagrams);
    assert!(failures.is_empty(), "Mermaid rejected: {failures:#?}");
    // And the parser does reject what is not Mermaid, so the check means something.
    let bad = mermaid_failures(
        tmp.path(),
        &[(
            "broken".into(),
            "flowchart LR\n  a[\"x\"] --> end\n  b[[\"y\" -->\n".into(),
        )],
    );
    assert_eq!(bad.len(), 1);
}

#[test]
fn diagram_arguments_that_do_not_fit_the_kind_are_refused_naming_the_field() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    types_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let cases = [
        (
            json!({"kind": "architecture", "components": [{"id": "a", "name": "A", "type": "service"}], "connections": [{"from": "a", "to": "b"}]}),
            "connections[0].to",
        ),
        (
            json!({"kind": "architecture", "components": [{"id": "a", "name": "A", "type": "service"}, {"id": "a", "name": "B", "type": "cache"}]}),
            "components[1].id",
        ),
        (
            json!({"kind": "architecture", "components": []}),
            "components",
        ),
        (
            json!({"kind": "architecture", "components": [{"id": "a", "name": "A", "type": "service"}], "interactions": [{"from": "a", "to": "b", "message": "m"}]}),
            "interactions",
        ),
        (
            json!({"kind": "sequence", "participants": ["a"], "interactions": [{"from": "a", "to": "b", "message": "m"}]}),
            "interactions[0].to",
        ),
        (
            json!({"kind": "sequence", "interactions": []}),
            "interactions",
        ),
        // A 15 MB message made a 250 MB answer (escaped, shown four times).
        (
            json!({"kind": "sequence", "interactions": [{"from": "a", "to": "b", "message": ";".repeat(501)}]}),
            "interactions[0].message",
        ),
        (
            json!({"kind": "architecture", "components": [{"id": "a", "name": "x".repeat(501), "type": "service"}]}),
            "components[0].name",
        ),
        (json!({"kind": "module_graph"}), "path"),
        (
            json!({"kind": "module_graph", "path": "league", "module": "model"}),
            "module",
        ),
        (
            json!({"kind": "type_graph", "path": "league", "module": "nope"}),
            "module",
        ),
        (json!({"kind": "type_graph", "path": "../outside"}), "path"),
    ];
    for (args, field) in cases {
        let err = s.call_err("generate_diagram", args.clone());
        assert!(
            err.contains(&format!("invalid argument `{field}`")),
            "{args}: {err}"
        );
    }
    let err = s.call_err("generate_diagram", json!({"kind": "pie"}));
    assert!(err.contains("pie") || err.contains("kind"), "{err}");
    let err = s.call_err(
        "generate_diagram",
        json!({"kind": "architecture", "components": [{"id": "a", "name": "A", "type": "blob"}]}),
    );
    assert!(err.contains("blob") || err.contains("type"), "{err}");
}

#[test]
fn output_dir_files_not_written_by_generate_docs_are_never_replaced() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    let krate = layout_crate(&root);
    let mut s = server_with_root(tmp.path(), &root);
    let args = json!({"path": krate.to_str().unwrap(), "output_dir": "out"});
    let first = s.call_ok("generate_docs", args.clone());
    // A second run replaces its own output.
    let second = s.call_ok("generate_docs", args.clone());
    assert_eq!(first["files_written"], second["files_written"]);
    // A user's own index.md is kept, and nothing else is written either.
    std::fs::write(root.join("out/index.md"), "# my notes\n").unwrap();
    std::fs::remove_file(root.join("out/fixture_layouts.flat.md")).unwrap();
    let err = s.call_err("generate_docs", args.clone());
    assert!(
        err.contains("invalid argument `output_dir`")
            && err.contains("index.md")
            && err.contains("not written by generate_docs"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("out/index.md")).unwrap(),
        "# my notes\n"
    );
    assert!(!root.join("out/fixture_layouts.flat.md").exists());
    // A symlink planted under a generated name is not followed.
    std::fs::remove_file(root.join("out/index.md")).unwrap();
    std::fs::write(tmp.path().join("victim"), "keep").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("victim"), root.join("out/index.md")).unwrap();
    let err = s.call_err("generate_docs", args);
    assert!(err.contains("invalid argument `output_dir`"), "{err}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("victim")).unwrap(),
        "keep"
    );
}

#[test]
fn a_cancelled_run_stops_and_writes_nothing() {
    let tmp = temp_dir();
    let root = tmp.path().join("ws");
    // A crate big enough that the cancellation, sent right behind the
    // request, arrives long before the walk could finish.
    let mut lib = String::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for i in 0..400 {
        lib.push_str(&format!("pub mod m{i};\n"));
        files.push((
            format!("src/m{i}.rs"),
            format!("/// F.\npub fn f{i}() {{}}\n"),
        ));
    }
    for i in 0..3000 {
        lib.push_str(&format!("/// Doc {i}.\npub fn root_fn_{i}(a: u32, b: &str) -> Option<Vec<u8>> {{ let _ = (a, b); None }}\n"));
    }
    files.push(("src/lib.rs".into(), lib));
    files.push(("Cargo.toml".into(), "[package]\nname = \"big\"\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_tree(&root.join("big"), &refs);
    let mut s = server_with_root(tmp.path(), &root);
    let id = s.next_id();
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "generate_docs", "arguments": {"path": "big", "output_dir": "out"}, "_meta": {"progressToken": 7}}});
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "user gave up"}});
    s.send_line(&format!("{call}\n{cancel}"));
    // The same work again, not cancelled, into another directory: by the time
    // it is done, a run that ignored the cancellation would have written too.
    let done = s.call_ok(
        "generate_docs",
        json!({"path": "big", "output_dir": "out2"}),
    );
    assert_eq!(done["files_written"].as_array().unwrap().len(), 402);
    assert!(root.join("out2/index.md").is_file());
    assert!(
        !root.join("out/index.md").exists(),
        "nothing is written after a cancel"
    );
    // As MCP asks, a cancelled request gets no response.
    let late = s.wait_for(Duration::from_millis(300), |m| {
        m.get("id") == Some(&json!(id))
    });
    assert!(late.is_none(), "{late:?}");
    let ok = s.call_ok("generate_docs", json!({"path": "big/src/m1.rs"}));
    assert_eq!(ok["public_items"], 2);
}
