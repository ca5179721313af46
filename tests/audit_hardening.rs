//! The audit trail against a holder of its files: erased personal values
//! leave no byte in any file of the store, and personal values edited,
//! swapped or deleted behind the server's back are reported by
//! `verify_chain` with the entry's sequence. Tampering goes to the real
//! store: the SQLite files (rusqlite), or the PostgreSQL namespace when the
//! suite runs against it (`SMART_SYSTEMS_TEST_STORE_URL`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use common::{Server, namespace_for, store_backend, temp_dir};
use serde_json::{Value, json};
use smart_systems_mcp::audit::sealing;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// (file name, value) for each of `values` found in a file under `dir`.
/// One pass over each file looks up every window as long as a value whose
/// first byte starts one: a search per value (thousands of them) over a
/// megabytes-long file is too slow in the unoptimised test build.
fn hits(dir: &Path, values: &[String]) -> Vec<(String, String)> {
    let mut by_len: BTreeMap<usize, HashSet<&[u8]>> = BTreeMap::new();
    let mut starts = [false; 256];
    for v in values.iter().filter(|v| !v.is_empty()) {
        by_len.entry(v.len()).or_default().insert(v.as_bytes());
        starts[v.as_bytes()[0] as usize] = true;
    }
    let mut out = Vec::new();
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap();
        let mut found = BTreeSet::new();
        for (at, &b) in bytes.iter().enumerate() {
            if !starts[b as usize] {
                continue;
            }
            for (&len, set) in &by_len {
                if let Some(w) = bytes.get(at..at + len)
                    && set.contains(w)
                {
                    found.insert(w);
                }
            }
        }
        let name: String = f.file_name().unwrap().to_string_lossy().into();
        out.extend(
            found
                .into_iter()
                .map(|w| (name.clone(), String::from_utf8_lossy(w).into_owned())),
        );
    }
    out
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

fn email(i: usize) -> String {
    format!("fan{i:04}.erased@example.com")
}

fn phone(i: usize) -> String {
    format!("+1-555-{i:07}-ph")
}

/// A 900-byte personal note.
fn note(i: usize) -> String {
    format!("note {i:04} {}", "n".repeat(890))
}

/// The PostgreSQL namespace of a data dir, as an SQL client sees it.
fn pg(data: &Path) -> postgres::Client {
    let url = std::env::var("SMART_SYSTEMS_TEST_STORE_URL").unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("SET search_path TO {}", namespace_for(data)))
        .unwrap();
    c
}

#[test]
fn erased_emails_and_pii_fields_leave_no_byte_in_any_store_file_after_a_clean_stop() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &["--pii-fields", "phone"]);
    // 1,000 entries of 100 users, each entry with its own e-mail and phone.
    for i in 0..1000 {
        s.call_ok(
            "audit_log",
            json!({"user_id": format!("fan-{}", i / 10), "action": "read",
                   "resource_type": "ticket", "resource_id": format!("t{i}"),
                   "user_email": email(i), "ip_address": "198.51.100.7",
                   "details": {"phone": phone(i), "seat": i}}),
        );
    }
    // Users 0..90 by user_id (900 entries), then 50 single entries of users
    // 90..100 by e-mail; the last 50 entries keep their data.
    let mut erased = Vec::new();
    for u in 0..90 {
        let r = s.call_ok(
            "erase_subject",
            json!({"user_id": format!("fan-{u}"), "reason": "GDPR Art. 17 request"}),
        );
        assert_eq!(r["entries_affected"], 10, "{r}");
        assert_eq!(r["values_erased"], 30, "{r}");
        erased.extend((u * 10..u * 10 + 10).flat_map(|i| [email(i), phone(i)]));
    }
    for i in (900..1000).step_by(2) {
        let r = s.call_ok(
            "erase_subject",
            json!({"user_email": email(i), "reason": "GDPR Art. 17 request"}),
        );
        assert_eq!(r["entries_affected"], 1, "{r}");
        erased.extend([email(i), phone(i)]);
    }
    assert_eq!(erased.len(), 1900);
    let kept = s.call_ok("audit_query", json!({"user_id": "fan-95", "limit": 10}));
    let kept: Vec<&Value> = kept["entries"].as_array().unwrap().iter().collect();
    assert_eq!(kept.len(), 10);
    for e in kept {
        let i: usize = e["resource_id"].as_str().unwrap()[1..].parse().unwrap();
        if i.is_multiple_of(2) {
            assert_eq!(e["user_email"], "[erased]");
            assert_eq!(e["details"]["phone"], "[erased]");
        } else {
            assert_eq!(e["user_email"], email(i));
            assert_eq!(e["details"]["phone"], phone(i));
        }
    }
    let gone = s.call_ok("audit_query", json!({"user_id": "fan-3", "limit": 1}));
    assert_eq!(gone["entries"][0]["user_email"], "[erased]");
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["entries_checked"], 1140);
    assert!(s.close().success());

    assert_no_byte_left(&data, &erased);
}

/// 3,000 entries in groups of ten: four of first-round subjects, four of
/// second-round subjects, two of kept subjects whose 900-byte `note` makes
/// each of their rows nearly a quarter of a 4 KiB page; logged in a fixed
/// shuffled order, so short and long rows of all three kinds share pages.
/// The first round's deletions leave gaps the long rows do not fit, so the
/// database rebuilds pages and moves second-round rows before they are erased
/// in turn: no copy of them may stay behind in free page space.
#[test]
fn values_erased_in_two_rounds_among_long_kept_values_leave_no_byte_in_any_store_file() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &["--pii-fields", "phone,note"]);
    let subject = |i: usize| {
        let round = match i % 10 {
            8 | 9 => "kept",
            r if r % 2 == 0 => "first",
            _ => "second",
        };
        format!("{round}-{}", i / 10 % 10)
    };
    // A Fisher-Yates shuffle driven by xorshift64: the same order every run.
    let mut order: Vec<usize> = (0..3000).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(k, (x % (k as u64 + 1)) as usize);
    }
    for &i in &order {
        let details = if subject(i).starts_with("kept") {
            json!({"note": note(i), "seat": i})
        } else {
            json!({"phone": phone(i), "seat": i})
        };
        s.call_ok(
            "audit_log",
            json!({"user_id": subject(i), "action": "read",
                   "resource_type": "ticket", "resource_id": format!("t{i}"),
                   "user_email": email(i), "ip_address": "198.51.100.7",
                   "details": details}),
        );
    }
    let mut erased = Vec::new();
    for round in ["first", "second"] {
        for k in 0..10 {
            let user = format!("{round}-{k}");
            let r = s.call_ok(
                "erase_subject",
                json!({"user_id": user, "reason": "GDPR Art. 17 request"}),
            );
            // 120 entries, each with an e-mail, an IP and a phone.
            assert_eq!(r["entries_affected"], 120, "{r}");
            assert_eq!(r["values_erased"], 360, "{r}");
            erased.extend(
                (0..3000)
                    .filter(|&i| subject(i) == user)
                    .flat_map(|i| [email(i), phone(i)]),
            );
        }
    }
    assert_eq!(erased.len(), 4800);
    let kept = s.call_ok("audit_query", json!({"user_id": "kept-7", "limit": 10}));
    let kept = kept["entries"].as_array().unwrap();
    assert_eq!(kept.len(), 10);
    for e in kept {
        let i: usize = e["resource_id"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(e["user_email"], email(i));
        assert_eq!(e["details"]["note"], note(i));
    }
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert_eq!(r["entries_checked"], 3020);
    assert!(s.close().success());

    assert_no_byte_left(&data, &erased);
}

/// Asserts that no file under `data` holds any of `erased`, and on
/// PostgreSQL that no row of the namespace's tables does, as any SQL client
/// reads them.
fn assert_no_byte_left(data: &Path, erased: &[String]) {
    let found = hits(data, erased);
    assert_eq!(found, vec![], "erased values still in the store's files");
    if store_backend() == "postgres" {
        let mut c = pg(data);
        let tables: Vec<String> = c
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        for t in tables {
            let rows = c.query(&format!("SELECT x::text FROM {t} x"), &[]).unwrap();
            // One text per table: one search per value instead of one per
            // value and row.
            let text: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            let text = text.join("\n");
            for v in erased {
                assert!(!text.contains(v.as_str()), "{v} readable in {t}");
            }
        }
    }
}

/// A server with 6 entries of 3 users, each with an e-mail and an IP.
fn seeded() -> (tempfile::TempDir, PathBuf, Server) {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let mut s = Server::started(&data, &[]);
    for i in 1..=6 {
        s.call_ok(
            "audit_log",
            json!({"user_id": format!("scout-{}", i % 3), "action": "read",
                   "resource_type": "player", "resource_id": format!("p{i}"),
                   "user_email": format!("scout{i}@example.com"),
                   "ip_address": format!("203.0.113.{i}")}),
        );
    }
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    (tmp, data, s)
}

/// The store behind the server's back: (key, sealed) of a value and writes.
enum Store {
    Sqlite(rusqlite::Connection),
    Pg(postgres::Client),
}

impl Store {
    fn open(data: &Path) -> Store {
        if store_backend() == "postgres" {
            Store::Pg(pg(data))
        } else {
            let c = rusqlite::Connection::open(data.join("smart-systems.db")).unwrap();
            c.execute(
                "ATTACH DATABASE ?1 AS keys",
                [data.join("audit-keys.db").to_string_lossy()],
            )
            .unwrap();
            Store::Sqlite(c)
        }
    }

    /// The data key and sealed bytes of `field` of entry `seq`.
    fn sealed(&mut self, seq: i64, field: &str) -> ([u8; 32], Vec<u8>) {
        let (key, sealed): (Vec<u8>, Vec<u8>) = match self {
            Store::Sqlite(c) => c
                .query_row(
                    "SELECT k.key, p.sealed FROM audit_sealed p \
                     JOIN keys.subject_keys k ON k.id = p.key_id \
                     WHERE p.sequence = ?1 AND p.field = ?2",
                    rusqlite::params![seq, field],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap(),
            Store::Pg(c) => {
                let r = c
                    .query_one(
                        "SELECT k.key, p.sealed FROM audit_sealed p \
                         JOIN audit_subject_keys k ON k.id = p.key_id \
                         WHERE p.sequence = $1 AND p.field = $2",
                        &[&seq, &field],
                    )
                    .unwrap();
                (r.get(0), r.get(1))
            }
        };
        (key.try_into().unwrap(), sealed)
    }

    fn set_sealed(&mut self, seq: i64, field: &str, sealed: &[u8]) {
        let sql = "UPDATE audit_sealed SET sealed = $1 WHERE sequence = $2 AND field = $3";
        match self {
            Store::Sqlite(c) => {
                c.execute(
                    &sql.replace('$', "?"),
                    rusqlite::params![sealed, seq, field],
                )
                .unwrap();
            }
            Store::Pg(c) => {
                c.execute(sql, &[&sealed, &seq, &field]).unwrap();
            }
        }
    }

    fn exec(&mut self, sql: &str) {
        match self {
            Store::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Store::Pg(c) => c.batch_execute(sql).unwrap(),
        }
    }
}

#[test]
fn an_edited_email_is_reported_as_a_personal_value_mismatch_with_its_sequence() {
    let (_tmp, data, mut s) = seeded();
    // The attacker holds the key file too, and seals a value of their own.
    let mut db = Store::open(&data);
    let (key, _) = db.sealed(3, "user_email");
    let forged = sealing::seal(&key, 3, "user_email", &[9; 32], "\"mallory@example.com\"").unwrap();
    db.set_sealed(3, "user_email", &forged);
    let shown = s.call_ok(
        "audit_query",
        json!({"resource_type": "player", "resource_id": "p3"}),
    );
    assert_eq!(shown["entries"][0]["user_email"], "mallory@example.com");
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], false);
    assert_eq!(
        problems(&r),
        vec![(3, "personal_value_mismatch".to_string())],
        "{r}"
    );
    let p = &r["problems"][0];
    assert_eq!(p["audit_id"], shown["entries"][0]["audit_id"]);
    assert!(p["detail"].as_str().unwrap().contains("user_email"), "{p}");
}

#[test]
fn personal_values_swapped_between_two_entries_are_reported_at_both_sequences() {
    let (_tmp, data, mut s) = seeded();
    let mut db = Store::open(&data);
    // Each value re-sealed as the other entry's, so both open: only the
    // commitments in the entries tell them apart.
    for field in ["user_email", "ip_address"] {
        let (k2, s2) = db.sealed(2, field);
        let (k5, s5) = db.sealed(5, field);
        let (salt2, v2) = sealing::open(&k2, 2, field, &s2).unwrap();
        let (salt5, v5) = sealing::open(&k5, 5, field, &s5).unwrap();
        db.set_sealed(
            2,
            field,
            &sealing::seal(&k2, 2, field, &salt5, &v5).unwrap(),
        );
        db.set_sealed(
            5,
            field,
            &sealing::seal(&k5, 5, field, &salt2, &v2).unwrap(),
        );
    }
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], false);
    let mismatch = "personal_value_mismatch".to_string();
    assert_eq!(
        problems(&r),
        vec![
            (2, mismatch.clone()),
            (2, mismatch.clone()),
            (5, mismatch.clone()),
            (5, mismatch)
        ],
        "{r}"
    );
    // Moving the sealed rows themselves is caught the same way.
    db.exec(
        "UPDATE audit_sealed SET sequence = -1 WHERE sequence = 1;
         UPDATE audit_sealed SET sequence = 1 WHERE sequence = 4;
         UPDATE audit_sealed SET sequence = 4 WHERE sequence = -1;",
    );
    let r = s.call_ok("verify_chain", json!({}));
    let seqs: Vec<u64> = problems(&r).iter().map(|p| p.0).collect();
    assert_eq!(seqs, vec![1, 1, 2, 2, 4, 4, 5, 5], "{r}");
}

#[test]
fn deleted_personal_values_are_reported_as_missing_unless_an_erasure_covers_them() {
    let (_tmp, data, mut s) = seeded();
    // A proper erasure of scout-1 (entries 1 and 4) stays valid.
    let erased = s.call_ok(
        "erase_subject",
        json!({"user_id": "scout-1", "reason": "GDPR Art. 17 request #9"}),
    );
    assert_eq!(erased["entries_affected"], 2);
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    let mut db = Store::open(&data);
    // Rows deleted behind the server's back: they read as erased ...
    db.exec("DELETE FROM audit_sealed WHERE sequence = 3");
    let shown = s.call_ok(
        "audit_query",
        json!({"resource_type": "player", "resource_id": "p3"}),
    );
    assert_eq!(shown["entries"][0]["user_email"], "[erased]");
    // ... but no erasure entry covers them.
    let r = s.call_ok("verify_chain", json!({}));
    let missing = "personal_value_missing".to_string();
    assert_eq!(
        problems(&r),
        vec![(3, missing.clone()), (3, missing.clone())],
        "{r}"
    );
    // A forged tombstone must name an erasure entry written after the value.
    db.exec(
        "UPDATE audit_sealed SET sealed = NULL, key_id = NULL, erased_by = 6 WHERE sequence = 5",
    );
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(
        problems(&r),
        vec![
            (3, missing.clone()),
            (3, missing.clone()),
            (5, missing.clone()),
            (5, missing.clone())
        ],
        "{r}"
    );
    assert!(
        r["problems"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("entry 6"),
        "{r}"
    );
}

impl Store {
    /// Turns the store back into version 1's layout: plain-text values in
    /// `audit_personal` (erased ones absent, as version 1 deleted them), no
    /// sealed rows and no keys.
    fn downgrade(&mut self) {
        let (keys, blob) = match self {
            Store::Sqlite(_) => ("keys.subject_keys", "BLOB"),
            Store::Pg(_) => ("audit_subject_keys", "BYTEA"),
        };
        self.exec(&format!(
            "CREATE TABLE audit_personal (sequence BIGINT NOT NULL, field TEXT NOT NULL,
                 value TEXT NOT NULL, salt {blob} NOT NULL, PRIMARY KEY (sequence, field))"
        ));
        let select = format!(
            "SELECT p.sequence, p.field, p.sealed, k.key FROM audit_sealed p \
             JOIN {keys} k ON k.id = p.key_id"
        );
        let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = match self {
            Store::Sqlite(c) => c
                .prepare(&select)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect(),
            Store::Pg(c) => c
                .query(&select, &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
        };
        for (seq, field, sealed, key) in rows {
            let (salt, value) = sealing::open(&key, seq as u64, &field, &sealed).unwrap();
            let insert = "INSERT INTO audit_personal VALUES ($1, $2, $3, $4)";
            match self {
                Store::Sqlite(c) => {
                    c.execute(
                        &insert.replace('$', "?"),
                        rusqlite::params![seq, field, value, &salt[..]],
                    )
                    .unwrap();
                }
                Store::Pg(c) => {
                    c.execute(insert, &[&seq, &field, &value, &&salt[..]])
                        .unwrap();
                }
            }
        }
        self.exec(&format!("DELETE FROM audit_sealed; DELETE FROM {keys};"));
    }
}

#[test]
fn a_store_of_the_previous_version_is_sealed_on_start_and_keeps_its_values_and_erasures() {
    let (_tmp, data, mut s) = seeded();
    s.call_ok(
        "erase_subject",
        json!({"user_id": "scout-1", "reason": "GDPR Art. 17 request #3"}),
    );
    assert!(s.close().success());
    Store::open(&data).downgrade();
    if store_backend() == "sqlite" {
        let plain = hits(&data, &["scout2@example.com".to_string()]);
        assert!(!plain.is_empty(), "the downgraded store holds plain text");
    }

    let mut s = Server::started(&data, &[]);
    let page = s.call_ok("audit_query", json!({"action": "read"}));
    let emails: Vec<(u64, String)> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["sequence"].as_u64().unwrap(),
                e["user_email"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = (1..=6)
        .rev()
        .map(|i| {
            let email = if i % 3 == 1 {
                "[erased]".to_string()
            } else {
                format!("scout{i}@example.com")
            };
            (i, email)
        })
        .collect();
    assert_eq!(emails, expected);
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    let r = s.call_ok(
        "erase_subject",
        json!({"user_email": "scout2@example.com", "reason": "GDPR Art. 17 request #4"}),
    );
    assert_eq!(
        (r["entries_affected"].as_u64(), r["values_erased"].as_u64()),
        (Some(1), Some(2))
    );
    let r = s.call_ok("verify_chain", json!({}));
    assert_eq!(r["valid"], true, "{r}");
    assert!(s.close().success());
    let left = hits(
        &data,
        &[
            "scout2@example.com".to_string(),
            "scout3@example.com".to_string(),
        ],
    );
    assert_eq!(left, vec![], "plain text left after the upgrade");
}
