//! The audit toolset as a client meets it: durable appends, queries, proofs,
//! signed checkpoints, and tamper detection against edits made to the real
//! store behind the server's back: the SQLite file (with the sqlite3 CLI, or
//! rusqlite where the attacker recomputes hashes with the documented
//! encoding), or, when the suite runs against PostgreSQL
//! (`SMART_SYSTEMS_TEST_STORE_URL`), the namespace's schema over SQL.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, namespace_for, store_backend, temp_dir};
use serde_json::{Value, json};
use smart_systems_mcp::audit::merkle::{self, from_hex};
use smart_systems_mcp::audit::rows;
use smart_systems_mcp::audit::schema::ENTRY_COLUMNS;

fn db_path(data: &Path) -> PathBuf {
    data.join("smart-systems.db")
}

/// The store of a server's data dir, opened behind the server's back the way
/// an attacker with database access would: the SQLite file, or the test's
/// PostgreSQL schema. `sql` given to it must run on both (plain SQL).
enum Db {
    Sqlite(rusqlite::Connection),
    Pg(postgres::Client),
}

impl Db {
    fn open(data: &Path) -> Db {
        if store_backend() == "postgres" {
            let url = std::env::var("SMART_SYSTEMS_TEST_STORE_URL").unwrap();
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("SET search_path TO {}", namespace_for(data)))
                .unwrap();
            Db::Pg(c)
        } else {
            Db::Sqlite(rusqlite::Connection::open(db_path(data)).unwrap())
        }
    }

    fn exec(&mut self, sql: &str) {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Db::Pg(c) => c.batch_execute(sql).unwrap(),
        }
    }

    /// Hash of the row at `seq` with the documented encoding.
    fn recompute(&mut self, seq: i64) -> [u8; 32] {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE sequence = {seq}");
        match self {
            Db::Sqlite(c) => c
                .query_row(&sql, [], |row| Ok(rows::view(row)?.0.hash()))
                .unwrap(),
            Db::Pg(c) => {
                let row = c.query_one(&sql, &[]).unwrap();
                smart_systems_mcp::audit::postgres::view(&row)
                    .unwrap()
                    .0
                    .hash()
            }
        }
    }

    fn entry_hash(&mut self, seq: i64) -> Vec<u8> {
        let sql = format!("SELECT entry_hash FROM audit_entries WHERE sequence = {seq}");
        match self {
            Db::Sqlite(c) => c.query_row(&sql, [], |r| r.get(0)).unwrap(),
            Db::Pg(c) => c.query_one(&sql, &[]).unwrap().get(0),
        }
    }

    /// Sets a hash column of the row at `seq`.
    fn set_hash(&mut self, column: &str, seq: i64, hash: &[u8]) {
        let sql = format!("UPDATE audit_entries SET {column} = $1 WHERE sequence = {seq}");
        match self {
            Db::Sqlite(c) => {
                c.execute(&sql.replace("$1", "?1"), [hash]).unwrap();
            }
            Db::Pg(c) => {
                c.execute(&sql, &[&hash]).unwrap();
            }
        }
    }
}

/// Runs plain SQL on the store behind the server's back.
fn tamper(data: &Path, sql: &str) {
    Db::open(data).exec(sql);
}

fn log_entry(s: &mut Server, i: usize) -> Value {
    let action = ["read", "update", "export", "admin"][i % 4];
    let tenant = if i.is_multiple_of(2) {
        "lakers"
    } else {
        "celtics"
    };
    s.call_ok(
        "audit_log",
        json!({
            "user_id": format!("user-{}", i % 3),
            "action": action,
            "resource_type": "player",
            "resource_id": format!("p{i}"),
            "severity": "info",
            "user_email": format!("user{}@example.com", i % 3),
            "ip_address": format!("10.0.0.{i}"),
            "details": {"i": i, "note": "season stats"},
            "changes": {"before": {"salary": i}, "after": {"salary": i + 1}},
            "tenant_id": tenant,
            "tags": ["nba"],
            "purpose": "scouting"
        }),
    )
}

/// A server with `n` entries logged.
fn seeded(n: usize) -> (tempfile::TempDir, PathBuf, Server) {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    for i in 0..n {
        let r = log_entry(&mut s, i);
        assert_eq!(r["sequence"], i as u64 + 1);
    }
    (tmp, data, s)
}

fn problems(report: &Value) -> Vec<(u64, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["sequence"].as_u64().unwrap_or(0),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verify(s: &mut Server, args: Value) -> Value {
    s.call_ok("verify_chain", args)
}

#[test]
fn logged_entries_come_back_newest_first_with_paging_and_tenant_scoping() {
    let (_tmp, _data, mut s) = seeded(7);
    let first = s.call_ok("audit_query", json!({"limit": 3}));
    let seqs: Vec<u64> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![7, 6, 5]);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = s.call_ok("audit_query", json!({"limit": 3, "cursor": cursor}));
    assert_eq!(second["entries"][0]["sequence"], 4);
    let e = &first["entries"][2];
    assert_eq!(e["user_email"], "user1@example.com");
    assert_eq!(e["ip_address"], "10.0.0.4");
    assert_eq!(e["changes"]["after"]["salary"], 5);
    assert_eq!(e["details"]["note"], "season stats");
    assert_eq!(e["outcome"], "success");

    let lakers = s.call_ok("audit_query", json!({"tenant_id": "lakers", "limit": 100}));
    let entries = lakers["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|e| e["tenant_id"] == "lakers"));
    assert_eq!(lakers["next_cursor"], Value::Null);

    let by_user = s.call_ok(
        "audit_query",
        json!({"user_id": "user-1", "action": "update"}),
    );
    let ids: Vec<&str> = by_user["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["p1"]);
    let none = s.call_ok(
        "audit_query",
        json!({"start_time": "2000-01-01T00:00:00Z", "end_time": "2000-01-02T00:00:00Z"}),
    );
    assert_eq!(none["entries"], json!([]));
    let fresh = verify(&mut s, json!({}));
    assert_eq!(fresh["valid"], true, "{fresh}");
    assert_eq!(fresh["entries_checked"], 7);
}

#[test]
fn bad_arguments_are_tool_errors_that_name_the_field() {
    let (tmp, _data, mut s) = seeded(1);
    let base =
        json!({"user_id": "u", "action": "read", "resource_type": "player", "resource_id": "1"});
    let with = |k: &str, v: Value| {
        let mut a = base.clone();
        a[k] = v;
        a
    };
    let err = s.call_err("audit_log", with("action", json!("steal")));
    assert!(err.contains("`action`") && err.contains("create"), "{err}");
    let err = s.call_err("audit_log", with("severity", json!("meh")));
    assert!(err.contains("`severity`"), "{err}");
    let err = s.call_err("audit_log", with("changes", json!({"after": 1})));
    assert!(err.contains("`changes`"), "{err}");
    // An array is not read as [before, after].
    let err = s.call_err("audit_log", with("changes", json!([1, 2])));
    assert!(
        err.contains("`changes`") && err.contains("expected a map"),
        "{err}"
    );
    let err = s.call_err("audit_log", with("user_id", json!("")));
    assert!(err.contains("`user_id`"), "{err}");
    let err = s.call_err("audit_query", json!({"limit": 0}));
    assert!(err.contains("`limit`"), "{err}");
    let err = s.call_err("audit_query", json!({"cursor": "nonsense"}));
    assert!(err.contains("`cursor`"), "{err}");
    let err = s.call_err("audit_query", json!({"start_time": "yesterday"}));
    assert!(err.contains("`start_time`"), "{err}");
    let err = s.call_err("verify_chain", json!({"checkpoint": "not a note"}));
    assert!(err.contains("`checkpoint`"), "{err}");
    let err = s.call_err("audit_proof", json!({"sequence": 99}));
    assert!(err.contains("`sequence`"), "{err}");
    let err = s.call_err("audit_proof", json!({}));
    assert!(err.contains("`sequence`"), "{err}");
    let err = s.call_err("compliance_report", json!({"start_time": "2026-01-01T00:00:00Z", "end_time": "2027-01-01T00:00:00Z", "framework": "pci"}));
    assert!(err.contains("`framework`"), "{err}");
    let err = s.call_err("erase_subject", json!({"reason": "x"}));
    assert!(err.contains("`user_id`"), "{err}");
    let err = s.call_err(
        "erase_subject",
        json!({"user_id": "u", "reason": "r".repeat(5000)}),
    );
    assert!(err.contains("`reason`") && err.contains("4096"), "{err}");
    let tags: Vec<String> = (0..999).map(|i| format!("t{i}")).collect();
    let err = s.call_err("audit_query", json!({"tags": tags}));
    assert!(
        err.contains("`tags`") && err.contains("at most 32"),
        "{err}"
    );
    let outside = tmp.path().join("outside.jsonl");
    let err = s.call_err(
        "audit_export",
        json!({"path": outside.display().to_string(), "format": "jsonl"}),
    );
    assert!(err.contains("`path`") && err.contains("outside"), "{err}");
    assert!(!outside.exists());
    let err = s.call_err("audit_export", json!({"path": "x.txt", "format": "xml"}));
    assert!(err.contains("`format`"), "{err}");
    // The log is untouched by all of that.
    let r = verify(&mut s, json!({}));
    assert_eq!(
        (r["valid"].clone(), r["entries_checked"].clone()),
        (json!(true), json!(1))
    );
}

#[test]
fn tampered_changes_after_is_reported_as_modified_entry_with_its_sequence() {
    let (_tmp, data, mut s) = seeded(6);
    tamper(
        &data,
        "UPDATE audit_entries SET changes = replace(changes, '\"salary\":4', '\"salary\":99999999') \
         WHERE sequence = 4",
    );
    let r = verify(&mut s, json!({}));
    assert_eq!(r["valid"], false);
    assert_eq!(problems(&r), vec![(4, "modified_entry".to_string())]);
    let id = s.call_ok("audit_query", json!({"limit": 3}))["entries"][2]["audit_id"].clone();
    assert_eq!(r["problems"][0]["audit_id"], id);
}

#[test]
fn tampered_timestamp_is_reported_as_modified_entry() {
    let (_tmp, data, mut s) = seeded(5);
    tamper(
        &data,
        "UPDATE audit_entries SET timestamp = '2020-01-01T00:00:00.000000Z' WHERE sequence = 2",
    );
    let r = verify(&mut s, json!({}));
    assert_eq!(problems(&r), vec![(2, "modified_entry".to_string())]);
}

#[test]
fn deleted_row_is_reported_as_missing_sequence() {
    let (_tmp, data, mut s) = seeded(6);
    tamper(&data, "DELETE FROM audit_entries WHERE sequence = 3");
    let r = verify(&mut s, json!({}));
    assert_eq!(problems(&r), vec![(3, "missing_sequence".to_string())]);
    assert_eq!(r["problem_count"], 1);
    assert_eq!(r["entries_checked"], 5);
}

#[test]
fn swapped_rows_are_reported_as_reordered() {
    let (_tmp, data, mut s) = seeded(8);
    tamper(
        &data,
        "UPDATE audit_entries SET sequence = -1 WHERE sequence = 3;
         UPDATE audit_entries SET sequence = 3 WHERE sequence = 6;
         UPDATE audit_entries SET sequence = 6 WHERE sequence = -1;",
    );
    let r = verify(&mut s, json!({}));
    assert_eq!(
        problems(&r),
        vec![(3, "reordered".to_string()), (6, "reordered".to_string())]
    );
}

#[test]
fn inserted_row_is_reported_as_inserted_entry() {
    let (_tmp, data, mut s) = seeded(6);
    // The attacker renumbers entries 4.. up by one and inserts a forged entry
    // at 4, chained to entry 3 with a correctly computed hash.
    let mut db = Db::open(&data);
    db.exec(
        "UPDATE audit_entries SET sequence = -(sequence + 1) WHERE sequence >= 4;
         UPDATE audit_entries SET sequence = -sequence WHERE sequence < 0;
         INSERT INTO audit_entries (sequence, audit_id, timestamp, user_id, action, resource_type,
             resource_id, severity, outcome, details, tags, personal, prev_hash, entry_hash)
         SELECT 4, 'forged-id', timestamp, 'user-0', 'delete', 'player', 'p-secret', 'info',
             'success', '{}', '[]', '{}', entry_hash, entry_hash
         FROM audit_entries WHERE sequence = 3;",
    );
    let h = db.recompute(4);
    db.set_hash("entry_hash", 4, &h);
    drop(db);
    let r = verify(&mut s, json!({}));
    assert_eq!(problems(&r), vec![(4, "inserted_entry".to_string())], "{r}");
    assert_eq!(r["problems"][0]["audit_id"], "forged-id");
}

#[test]
fn entry_rewritten_with_a_recomputed_hash_breaks_the_next_link() {
    let (_tmp, data, mut s) = seeded(5);
    let mut db = Db::open(&data);
    db.exec("UPDATE audit_entries SET user_id = 'someone-else' WHERE sequence = 2");
    let h = db.recompute(2);
    db.set_hash("entry_hash", 2, &h);
    drop(db);
    let r = verify(&mut s, json!({}));
    assert_eq!(problems(&r), vec![(3, "broken_link".to_string())], "{r}");
}

#[test]
fn truncated_tail_is_detected_against_a_saved_checkpoint() {
    let (_tmp, data, mut s) = seeded(6);
    let cp = s.call_ok("audit_checkpoint", json!({}));
    assert_eq!(cp["tree_size"], 6);
    let note = cp["checkpoint"].as_str().unwrap().to_string();
    tamper(&data, "DELETE FROM audit_entries WHERE sequence >= 5");
    // Without the checkpoint the shorter log looks fine: that is why one is kept.
    assert_eq!(verify(&mut s, json!({}))["valid"], true);
    let r = verify(&mut s, json!({"checkpoint": note}));
    assert_eq!(problems(&r), vec![(5, "truncated".to_string())], "{r}");
    assert_eq!(r["checkpoint_tree_size"], 6);
}

#[test]
fn whole_log_rewrite_with_recomputed_hashes_is_detected_against_a_saved_checkpoint() {
    let (_tmp, data, mut s) = seeded(6);
    let note = s.call_ok("audit_checkpoint", json!({}))["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    // Rewrite entry 2 and recompute every hash and link from there on.
    let mut db = Db::open(&data);
    db.exec("UPDATE audit_entries SET resource_id = 'p-other' WHERE sequence = 2");
    for seq in 2..=6i64 {
        let prev = db.entry_hash(seq - 1);
        db.set_hash("prev_hash", seq, &prev);
        let h = db.recompute(seq);
        db.set_hash("entry_hash", seq, &h);
    }
    drop(db);
    assert_eq!(
        verify(&mut s, json!({}))["valid"],
        true,
        "a consistent rewrite passes alone"
    );
    let r = verify(&mut s, json!({"checkpoint": note}));
    assert_eq!(problems(&r), vec![(6, "root_mismatch".to_string())], "{r}");
    // A checkpoint whose text was edited is refused outright.
    let forged = note.replacen("\n6\n", "\n5\n", 1);
    let err = s.call_err("verify_chain", json!({"checkpoint": forged}));
    assert!(err.contains("`checkpoint`"), "{err}");
}

#[test]
fn checkpoint_is_a_signed_note_with_a_0600_key_and_verifies_while_the_log_grows() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, data, mut s) = seeded(3);
    let cp = s.call_ok("audit_checkpoint", json!({}));
    let note = cp["checkpoint"].as_str().unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], cp["origin"]);
    assert_eq!(lines[1], "3");
    assert!(lines[3].starts_with("timestamp "));
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with(&format!("\u{2014} {} ", cp["origin"].as_str().unwrap())));
    if store_backend() == "postgres" {
        println!(
            "key file check skipped: on PostgreSQL the key lives in the schema's audit_key table"
        );
    } else {
        let mode = std::fs::metadata(data.join("audit-checkpoint.ed25519"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    log_entry(&mut s, 3);
    let r = verify(&mut s, json!({"checkpoint": note}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["tree_size"], 4);
    // The root of audit_log's answer equals the checkpoint root at that size.
    let log_root = s.call_ok("audit_query", json!({"limit": 1}));
    assert_eq!(log_root["entries"][0]["sequence"], 4);
}

#[test]
fn proofs_verify_with_the_rfc_9162_algorithms_and_fail_on_a_flipped_byte() {
    let (_tmp, _data, mut s) = seeded(11);
    let head = log_entry(&mut s, 11);
    let root12 = from_hex(head["root_hash"].as_str().unwrap()).unwrap();
    for seq in [1u64, 6, 11, 12] {
        let p = s.call_ok("audit_proof", json!({"sequence": seq}));
        assert_eq!(p["proof_type"], "inclusion");
        assert_eq!(p["tree_size"], 12);
        let leaf_data: Vec<u8> = hex_bytes(p["leaf_data"].as_str().unwrap());
        let leaf = merkle::leaf_hash(&leaf_data);
        assert_eq!(merkle::to_hex(&leaf), p["leaf_hash"]);
        let path: Vec<[u8; 32]> = p["audit_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        assert!(merkle::verify_inclusion(seq - 1, 12, &leaf, &path, &root12));
        let mut flipped = path.clone();
        flipped[0][5] ^= 0x01;
        assert!(!merkle::verify_inclusion(
            seq - 1,
            12,
            &leaf,
            &flipped,
            &root12
        ));
    }
    let by_id = s.call_ok(
        "audit_proof",
        json!({"audit_id": head["audit_id"], "tree_size": 12}),
    );
    assert_eq!(by_id["sequence"], 12);
    let old = s.call_ok("audit_proof", json!({"sequence": 5, "tree_size": 5}));
    let root5 = from_hex(old["root_hash"].as_str().unwrap()).unwrap();
    let c = s.call_ok("audit_proof", json!({"old_size": 5, "new_size": 12}));
    assert_eq!(c["old_root"], old["root_hash"]);
    let proof: Vec<[u8; 32]> = c["consistency_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    assert!(merkle::verify_consistency(5, 12, &root5, &root12, &proof));
    let mut flipped = proof.clone();
    flipped[1][0] ^= 0x80;
    assert!(!merkle::verify_consistency(
        5, 12, &root5, &root12, &flipped
    ));
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn entries_acknowledged_before_sigkill_survive_a_restart_and_the_chain_verifies() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    // Four clients write their calls concurrently (pipelined) into one server.
    let mut stdin = s.take_stdin();
    let writer = std::thread::spawn(move || {
        for i in 0..4000 {
            let client = i % 4;
            let req = json!({
                "jsonrpc": "2.0",
                "id": format!("c{client}-{i}"),
                "method": "tools/call",
                "params": {"name": "audit_log", "arguments": {
                    "user_id": format!("client-{client}"),
                    "action": "update", "resource_type": "game", "resource_id": format!("g{i}")
                }}
            });
            if writeln!(stdin, "{req}").is_err() {
                break;
            }
        }
        let _ = stdin.flush();
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 300 {
        let m = s
            .next_message(Duration::from_secs(30))
            .expect("responses keep coming");
        if m["result"]["isError"] == false {
            acknowledged.push(
                m["result"]["structuredContent"]["audit_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    s.signal("KILL");
    let _ = s.wait_exit(Duration::from_secs(10));
    // Responses already on the pipe were acknowledged too.
    while let Some(m) = s.next_message(Duration::from_millis(200)) {
        if m["result"]["isError"] == false {
            acknowledged.push(
                m["result"]["structuredContent"]["audit_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    let _ = writer.join();
    drop(s);

    let mut s = Server::started(&data, &[]);
    let r = verify(&mut s, json!({}));
    assert_eq!(r["valid"], true, "{r}");
    let mut stored = BTreeSet::new();
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({"limit": 500});
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        let page = s.call_ok("audit_query", args);
        for e in page["entries"].as_array().unwrap() {
            stored.insert(e["audit_id"].as_str().unwrap().to_string());
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(stored.len() as u64, r["entries_checked"].as_u64().unwrap());
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged entry {id} was lost");
    }
    assert!(stored.len() >= acknowledged.len());
}

#[test]
fn two_processes_append_to_one_gap_free_chain() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    // Create the store (and key) once so both processes share them.
    drop(Server::started(&data, &[]));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let data = data.clone();
            std::thread::spawn(move || {
                let mut s = Server::started(&data, &[]);
                (0..40)
                    .map(|i| {
                        s.call_ok(
                            "audit_log",
                            json!({"user_id": format!("proc-{w}"), "action": "create",
                                   "resource_type": "stat", "resource_id": format!("{w}-{i}")}),
                        )["sequence"]
                            .as_u64()
                            .unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=80).collect::<Vec<u64>>());
    let mut s = Server::started(&data, &[]);
    let r = verify(&mut s, json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["entries_checked"], 80);
}

fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

#[test]
fn erasure_leaves_no_personal_value_in_the_database_files_and_the_chain_valid() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &["--pii-fields", "phone,home_address"]);
    let personal = [
        "lebron.james@example.com",
        "203.0.113.77",
        "LeBronBrowser/23.0",
        "+1-555-0123-2323",
        "Akron Ohio Street 23",
    ];
    for i in 0..5 {
        s.call_ok(
            "audit_log",
            json!({"user_id": "lbj", "action": "read", "resource_type": "player", "resource_id": format!("{i}"),
                   "user_email": personal[0], "ip_address": personal[1], "user_agent": personal[2],
                   "details": {"phone": personal[3], "home_address": personal[4], "team": "LAL"}}),
        );
        s.call_ok(
            "audit_log",
            json!({"user_id": "sc30", "action": "read", "resource_type": "player", "resource_id": format!("{i}"),
                   "user_email": "steph@example.com"}),
        );
    }
    let db = db_path(&data);
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let on_postgres = store_backend() == "postgres";
    // The subject's data keys (PostgreSQL): the values are sealed under them.
    let live_keys = |data: &Path| -> i64 {
        match Db::open(data) {
            Db::Pg(mut c) => c
                .query_one(
                    "SELECT COUNT(*) FROM audit_subject_keys WHERE user_id = 'lbj'",
                    &[],
                )
                .unwrap()
                .get(0),
            Db::Sqlite(_) => 0,
        }
    };
    // Stored sealed: readable through the tools, in plain text in no file.
    let before = s.call_ok("audit_query", json!({"user_id": "lbj", "limit": 1}));
    assert_eq!(before["entries"][0]["user_email"], personal[0]);
    assert_eq!(before["entries"][0]["details"]["phone"], personal[3]);
    if on_postgres {
        assert!(live_keys(&data) > 0);
    } else {
        assert!(
            personal
                .iter()
                .all(|p| !file_contains(&db, p) && !file_contains(&wal, p)),
            "values are stored sealed"
        );
    }
    let erased = s.call_ok(
        "erase_subject",
        json!({"user_email": "lebron.james@example.com", "reason": "GDPR Art. 17 request #7"}),
    );
    assert_eq!(erased["entries_affected"], 5);
    assert_eq!(erased["values_erased"], 25);
    if on_postgres {
        // PostgreSQL's own files (dead tuples until VACUUM, its WAL) are out
        // of our reach: only the tables are checked, and the tool says so.
        println!("database-file check skipped on PostgreSQL: its data dir is the server's");
        assert_eq!(erased["wal_truncated"], false);
        assert_eq!(live_keys(&data), 0, "the subject's keys survived");
    } else {
        assert_eq!(erased["wal_truncated"], true);
        for p in personal {
            assert!(!file_contains(&db, p), "{p} still in the database file");
            assert!(!file_contains(&wal, p), "{p} still in the WAL");
        }
    }
    let entries = s.call_ok("audit_query", json!({"user_id": "lbj", "limit": 1}));
    let e = &entries["entries"][0];
    assert_eq!(e["user_email"], "[erased]");
    assert_eq!(e["ip_address"], "[erased]");
    assert_eq!(e["user_agent"], "[erased]");
    assert_eq!(e["details"]["phone"], "[erased]");
    assert_eq!(e["details"]["team"], "LAL");
    let other = s.call_ok("audit_query", json!({"user_id": "sc30", "limit": 1}));
    assert_eq!(other["entries"][0]["user_email"], "steph@example.com");
    let r = verify(&mut s, json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["entries_checked"], 11);
    let record = s.call_ok("audit_query", json!({"tags": ["erasure"]}));
    assert_eq!(record["entries"][0]["sequence"], erased["erasure_sequence"]);
    assert_eq!(record["entries"][0]["details"]["entries_affected"], 5);
    // Proofs of erased entries still verify.
    let p = s.call_ok("audit_proof", json!({"sequence": 1}));
    let leaf = merkle::leaf_hash(&hex_bytes(p["leaf_data"].as_str().unwrap()));
    let path: Vec<[u8; 32]> = p["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    let root = from_hex(p["root_hash"].as_str().unwrap()).unwrap();
    assert!(merkle::verify_inclusion(0, 11, &leaf, &path, &root));
}

#[test]
fn export_writes_jsonl_and_csv_under_the_workspace_root() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let mut s = Server::started(&data, &["--root", ws.to_str().unwrap()]);
    for i in 0..4 {
        log_entry(&mut s, i);
    }
    let j = s.call_ok(
        "audit_export",
        json!({"path": "lakers.jsonl", "format": "jsonl", "tenant_id": "lakers"}),
    );
    assert_eq!(j["count"], 2);
    let text = std::fs::read_to_string(ws.join("lakers.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["tenant_id"] == "lakers"));
    assert_eq!(lines[0]["sequence"], 1);
    let c = s.call_ok(
        "audit_export",
        json!({"path": ws.join("all.csv").display().to_string(), "format": "csv"}),
    );
    assert_eq!(c["count"], 4);
    let csv = std::fs::read_to_string(ws.join("all.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("sequence,audit_id,timestamp,user_id,user_email"));
    assert_eq!(rows.len(), 5);
    assert!(rows[1].starts_with("1,"));
    // An existing file is replaced only when asked: an export once
    // overwrote anything under the roots, the server's own store included.
    let again = json!({"path": "all.csv", "format": "csv", "tenant_id": "lakers"});
    let err = s.call_err("audit_export", again.clone());
    assert!(
        err.contains("`path`") && err.contains("overwrite: true"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(ws.join("all.csv")).unwrap(), csv);
    let mut again = again;
    again["overwrite"] = json!(true);
    assert_eq!(s.call_ok("audit_export", again)["count"], 2);
    assert_eq!(
        std::fs::read_to_string(ws.join("all.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn user_activity_and_compliance_report_count_what_happened_per_tenant() {
    let (_tmp, _data, mut s) = seeded(8);
    s.call_ok(
        "audit_log",
        json!({"user_id": "user-0", "action": "login", "resource_type": "session", "resource_id": "s1", "outcome": "failure", "severity": "warning"}),
    );
    let a = s.call_ok("user_activity", json!({"user_id": "user-0"}));
    // user-0 logged entries 0, 3, 6 (read, admin, export) and a failed login.
    assert_eq!(a["total"], 4);
    assert_eq!(a["failures"], 1);
    assert_eq!(
        a["by_action"],
        json!({"read": 1, "admin": 1, "export": 1, "login": 1})
    );
    assert_eq!(a["by_resource_type"], json!({"player": 3, "session": 1}));
    assert!(a["first_activity"].as_str().unwrap() <= a["last_activity"].as_str().unwrap());

    let all = s.call_ok(
        "compliance_report",
        json!({"start_time": "2020-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z", "framework": "soc2"}),
    );
    let f = &all["figures"];
    assert_eq!(f["total_entries"], 9);
    assert_eq!(f["unique_users"], 3);
    // actions of i=0..7: read update export admin read update export admin
    assert_eq!(f["data_access"], 4);
    assert_eq!(f["modifications"], 2);
    assert_eq!(f["privileged_actions"], 2);
    assert_eq!(f["exports"], 2);
    assert_eq!(f["failures"], 1);
    assert_eq!(f["by_severity"], json!({"info": 8, "warning": 1}));
    assert_eq!(all["verification"]["valid"], true);
    assert!(
        all["verification"]["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n9\n")
    );

    let lakers = s.call_ok(
        "compliance_report",
        json!({"start_time": "2020-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z", "tenant_id": "lakers"}),
    );
    let f = &lakers["figures"];
    // Lakers entries: i = 0, 2, 4, 6 -> read, export, read, export.
    assert_eq!(f["total_entries"], 4);
    assert_eq!(f["data_access"], 4);
    assert_eq!(f["subject_access"][0]["purposes"], json!(["scouting"]));
    assert_eq!(lakers["framework"], "gdpr");
}

#[test]
fn audit_tools_are_listed_with_honest_annotations_and_only_when_enabled() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let list = s.request_ok("tools/list", json!({}));
    let tools = list["tools"].as_array().unwrap().clone();
    let find = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
            .clone()
    };
    for name in [
        "audit_query",
        "verify_chain",
        "audit_checkpoint",
        "audit_proof",
        "user_activity",
        "compliance_report",
    ] {
        let t = find(name);
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{name}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
    }
    for name in ["audit_log", "audit_export", "erase_subject"] {
        let t = find(name);
        assert_eq!(t["annotations"]["readOnlyHint"], false, "{name}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
    }
    assert_eq!(
        find("erase_subject")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(find("audit_log")["annotations"]["destructiveHint"], false);
    let actions = &find("audit_log")["inputSchema"]["properties"]["action"]["enum"];
    assert_eq!(actions.as_array().map(Vec::len), Some(10), "{actions}");
    drop(s);

    let other = tmp.path().join("other");
    let mut e = Server::started(&other, &["--toolsets", "events"]);
    assert!(!e.tool_names().iter().any(|n| n.starts_with("audit_")));
    assert!(!other.join("audit-checkpoint.ed25519").exists());
}

#[test]
fn every_audit_entry_is_published_on_topic_audit_without_personal_values() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = s.call_ok(
        "subscribe",
        json!({"name": "auditor", "topics": ["audit"], "start": "earliest"}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    let logged = s.call_ok(
        "audit_log",
        json!({"user_id": "u-7", "action": "export", "resource_type": "player_stats",
               "resource_id": "2544", "severity": "warning", "tenant_id": "lal",
               "user_email": "kb@example.com", "ip_address": "10.1.2.3"}),
    );
    let polled = s.call_ok(
        "poll_events",
        json!({"subscription_id": sub, "wait_ms": 5000}),
    );
    let events = polled["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{polled}");
    let e = &events[0];
    assert_eq!(e["topic"], "audit");
    assert_eq!(e["event_type"], "audit.export");
    assert_eq!(e["source"], "audit");
    assert_eq!(
        e["priority"], "normal",
        "a warning entry is published with normal priority: {e}"
    );
    assert_eq!(e["payload"]["audit_id"], logged["audit_id"]);
    assert_eq!(e["payload"]["sequence"], logged["sequence"]);
    assert_eq!(e["payload"]["entry_hash"], logged["entry_hash"]);
    assert_eq!(e["payload"]["tenant_id"], "lal");
    let text = e.to_string();
    assert!(
        !text.contains("kb@example.com") && !text.contains("10.1.2.3"),
        "{text}"
    );
}

/// Pipelines `per_client` audit_log calls of each of `clients` into one
/// server (interleaved, so they arrive concurrently) and returns the
/// sequences the server answered.
fn pipelined_appends(s: &mut Server, clients: &[usize], per_client: usize) -> Vec<u64> {
    let mut stdin = s.take_stdin();
    let ids: Vec<String> = (0..per_client)
        .flat_map(|i| clients.iter().map(move |c| format!("c{c}-{i}")))
        .collect();
    let to_send = ids.clone();
    let writer = std::thread::spawn(move || {
        for id in to_send {
            let client = id.split('-').next().unwrap_or("c").to_string();
            let req = json!({
                "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "audit_log", "arguments": {
                    "user_id": client, "action": "update",
                    "resource_type": "game", "resource_id": id
                }}
            });
            writeln!(stdin, "{req}").unwrap();
        }
        stdin.flush().unwrap();
        stdin
    });
    let mut sequences = Vec::new();
    for id in &ids {
        let m = s.wait_for_id(&json!(id));
        assert_ne!(m["result"]["isError"], true, "{m}");
        sequences.push(
            m["result"]["structuredContent"]["sequence"]
                .as_u64()
                .unwrap(),
        );
    }
    // Keep stdin open until every answer is in.
    drop(writer.join().unwrap());
    sequences
}

#[test]
fn two_machines_sharing_one_postgres_namespace_append_to_one_chain() {
    if store_backend() != "postgres" {
        println!(
            "skipped: two data dirs share a log only through PostgreSQL \
             (run with SMART_SYSTEMS_TEST_STORE_URL)"
        );
        return;
    }
    let tmp = temp_dir();
    let ns = namespace_for(&tmp.path().join("shared"));
    // Two data dirs stand in for two machines; only the store URL (added by
    // the harness) and the namespace are shared.
    let machines: Vec<PathBuf> = ["machine-a", "machine-b"]
        .iter()
        .map(|m| tmp.path().join(m))
        .collect();
    let per_client = 150;
    let workers: Vec<_> = machines
        .iter()
        .enumerate()
        .map(|(m, data)| {
            let (data, ns) = (data.clone(), ns.clone());
            std::thread::spawn(move || {
                let mut s = Server::started(&data, &["--namespace", &ns]);
                // Two clients per machine: 4 in all.
                pipelined_appends(&mut s, &[2 * m, 2 * m + 1], per_client)
            })
        })
        .collect();
    let mut seqs: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    seqs.sort();
    let total = 4 * per_client as u64;
    assert_eq!(seqs, (1..=total).collect::<Vec<u64>>(), "one chain, no gap");
    let mut roots = Vec::new();
    let mut notes = Vec::new();
    for data in &machines {
        let mut s = Server::started(data, &["--namespace", &ns]);
        let r = verify(&mut s, json!({}));
        assert_eq!(r["valid"], true, "{r}");
        assert_eq!(r["entries_checked"], total);
        roots.push(r["root_hash"].clone());
        notes.push(s.call_ok("audit_checkpoint", json!({}))["checkpoint"].clone());
    }
    assert_eq!(roots[0], roots[1], "both machines see the same tree");
    // A checkpoint signed through one machine verifies through the other.
    let mut a = Server::started(&machines[0], &["--namespace", &ns]);
    let r = verify(&mut a, json!({"checkpoint": notes[1]}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["checkpoint_tree_size"], total);
}

/// A PostgreSQL server of the test's own, so it can be stopped and started.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
}

impl OwnPostgres {
    fn start_new() -> Option<OwnPostgres> {
        let bin = PathBuf::from(std::env::var("SMART_SYSTEMS_TEST_PG_BIN").ok()?);
        let user = std::env::var("SMART_SYSTEMS_TEST_PG_USER")
            .ok()
            .filter(|u| !u.is_empty());
        let dir = tempfile::Builder::new()
            .prefix("ssm-own-pg-")
            .tempdir()
            .unwrap();
        if let Some(u) = &user {
            let ok = Command::new("chown")
                .arg(u)
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = OwnPostgres {
            dir,
            bin,
            user,
            port,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        pg.start();
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let out = match &self.user {
            Some(u) => Command::new("runuser")
                .args(["-u", u, "--"])
                .arg(&exe)
                .args(args)
                .output(),
            None => Command::new(&exe).args(args).output(),
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let mut all = vec![
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
        ];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-o", &opts, "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"];
        let _ = match &self.user {
            Some(u) => Command::new("runuser")
                .args(["-u", u, "--"])
                .arg(&exe)
                .args(args)
                .output(),
            None => Command::new(&exe).args(args).output(),
        };
    }
}

#[test]
fn postgres_restart_fails_calls_clearly_meanwhile_and_the_chain_verifies_after() {
    if store_backend() != "postgres" {
        println!("skipped: a PostgreSQL fault test (run with SMART_SYSTEMS_TEST_STORE_URL)");
        return;
    }
    let Some(pg) = OwnPostgres::start_new() else {
        println!("skipped: SMART_SYSTEMS_TEST_PG_BIN is not set (tools/test sets it)");
        return;
    };
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let url = pg.url();
    let mut s = Server::started(&data, &["--store-url", &url, "--namespace", "fault_test"]);
    for i in 0..10 {
        log_entry(&mut s, i);
    }
    pg.stop();
    // During the outage: clear errors, no hang (the harness gives each call
    // a bounded wait), no crash.
    for i in 10..13 {
        let err = s.call_err(
            "audit_log",
            json!({"user_id": "u", "action": "read", "resource_type": "player", "resource_id": format!("p{i}")}),
        );
        assert!(
            err.contains("PostgreSQL") && err.contains("unreachable"),
            "{err}"
        );
    }
    let err = s.call_err("audit_query", json!({"limit": 5}));
    assert!(err.contains("PostgreSQL"), "{err}");
    let err = s.call_err("verify_chain", json!({}));
    assert!(err.contains("PostgreSQL"), "{err}");
    pg.start();
    // After it: calls succeed on new connections, the chain continues.
    let r = log_entry(&mut s, 13);
    assert_eq!(r["sequence"], 11, "{r}");
    assert_eq!(
        s.call_ok("audit_query", json!({"limit": 50}))["entries"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    let r = verify(&mut s, json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["entries_checked"], 11);
}

/// The erasure's own audit entry reaches topic `audit` like every other
/// entry (its sequence and hash, no personal value).
#[test]
fn the_erasures_own_entry_is_published_on_topic_audit() {
    let tmp = temp_dir();
    let mut s = Server::started(&tmp.path().join("data"), &[]);
    let sub = s.call_ok(
        "subscribe",
        json!({"name": "auditor", "topics": ["audit"], "start": "earliest"}),
    );
    let sub = sub["subscription_id"].as_str().unwrap().to_string();
    s.call_ok(
        "audit_log",
        json!({"user_id": "u-9", "action": "read", "resource_type": "player",
               "resource_id": "1", "user_email": "p@example.com"}),
    );
    let erased = s.call_ok(
        "erase_subject",
        json!({"user_id": "u-9", "reason": "GDPR Art. 17 request #1"}),
    );
    let mut seen = Vec::new();
    for _ in 0..10 {
        let polled = s.call_ok(
            "poll_events",
            json!({"subscription_id": sub, "wait_ms": 2000}),
        );
        seen.extend(polled["events"].as_array().unwrap().iter().cloned());
        if seen.len() >= 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let e = &seen[1];
    assert_eq!(e["event_type"], "audit.delete", "{e}");
    assert_eq!(e["payload"]["sequence"], erased["erasure_sequence"]);
    assert_eq!(e["payload"]["audit_id"], erased["erasure_audit_id"]);
    assert!(!e.to_string().contains("p@example.com"), "{e}");
}
