//! `verify_chain`: recompute every entry's hash, the chain links and the
//! Merkle root from the stored rows, and explain what is wrong.
//!
//! Verification is hash-bound, so the sequence range is split across the
//! machine's cores, each scanning its part on its own read connection. The
//! common case (nothing wrong) costs one scan; only when something is off does
//! a second, small pass classify the damage. The classification relies on two
//! facts of the encoding: an entry's hash covers its sequence, and its
//! `prev_hash` names its predecessor. So an entry whose stored hash matches
//! its content under a *different* sequence was moved (swapped, or shifted by
//! an insertion or a deletion with renumbering), while one that matches under
//! no nearby sequence was modified.
//!
//! The same scan opens each personal value stored for an intact entry and
//! checks it against the salted commitment in the entry (so an edited,
//! swapped or deleted value is caught, not shown as data or as erased), and
//! checks that each erased value's tombstone names an erasure entry written
//! after it.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use super::AuditError;
use super::checkpoint::Checkpoint;
use super::encoding::{EntryView, GENESIS_PREV, pii_commitment};
use super::merkle::{Hash, from_hex, root_of_parallel, to_hex};
use super::report::ERASURE_RESOURCE_TYPE;
use super::sealing::{self, StoredPersonal};
use super::storage::{AuditStorage, LogReader};

/// How far away a displaced entry is looked for.
const SHIFT_WINDOW: u64 = 4;
/// Most modified entries examined pairwise for swaps.
const MAX_PAIRWISE: usize = 512;
/// Most problems listed (a tool result must stay readable by a model);
/// `problem_count` counts them all, up to [`MAX_CLASSIFIED`] of each kind.
pub const MAX_PROBLEMS: usize = 100;
/// Most problems of one kind classified (a wholly corrupt log stays cheap).
pub const MAX_CLASSIFIED: usize = 10_000;
/// Most modified rows searched for their original sequence (one read each).
const MAX_EXAMINED: usize = 4096;
/// Entries whose stored personal values are held in memory at once.
const PERSONAL_WINDOW: u64 = 16_384;

/// What is wrong at one place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's content no longer matches its hash: a field was edited.
    ModifiedEntry,
    /// The entry's prev_hash does not match the previous entry's hash: the
    /// previous entry was replaced (its hash recomputed) or removed.
    BrokenLink,
    /// No entry has this sequence: it was deleted.
    MissingSequence,
    /// The entry is authentic but sits at another entry's sequence (swapped rows).
    Reordered,
    /// This entry is not part of the original chain: it was inserted and the
    /// entries after it renumbered.
    InsertedEntry,
    /// The log is shorter than the given checkpoint: truncated or rolled back.
    Truncated,
    /// The first `tree_size` entries no longer hash to the checkpoint's root:
    /// the log was rewritten (hashes recomputed) or rolled back and regrown.
    RootMismatch,
    /// A stored personal value does not match the salted commitment in its
    /// entry (or does not open for it): it was edited, or moved from another
    /// entry.
    PersonalValueMismatch,
    /// A personal value the entry commits to is gone and no erasure entry
    /// covers it: it was deleted.
    PersonalValueMissing,
}

/// One problem found by verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Problem {
    /// Sequence where the problem is (null only when it has no position).
    pub sequence: Option<u64>,
    /// The audit_id stored at that sequence, if a row is there.
    pub audit_id: Option<String>,
    /// modified_entry, broken_link, missing_sequence, reordered,
    /// inserted_entry, truncated, root_mismatch, personal_value_mismatch or
    /// personal_value_missing.
    pub kind: ProblemKind,
    /// What was found, in words.
    pub detail: String,
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub from_sequence: Option<u64>,
    pub to_sequence: Option<u64>,
    pub checkpoint: Option<Checkpoint>,
}

/// The result of verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub valid: bool,
    pub entries_checked: u64,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub problems: Vec<Problem>,
    /// Problems found (up to [`MAX_CLASSIFIED`] of a kind), of which
    /// `problems` lists the first [`MAX_PROBLEMS`].
    pub problem_count: u64,
}

#[derive(Default)]
struct Chunk {
    leaves: Vec<Hash>,
    mismatched: Vec<u64>,
    link_breaks: Vec<u64>,
    gaps: Vec<(u64, u64)>,
    first: Option<(u64, Hash)>,
    last: Option<(u64, Hash)>,
    /// Problems with the personal values of intact entries.
    personal: Vec<Problem>,
    /// Erased values: (sequence, audit_id, field, sequence of the erasure).
    erased: Vec<(u64, String, String, u64)>,
}

/// A stored personal value, owned (held for one window of entries).
struct Stored {
    field: String,
    sealed: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    erased_by: Option<u64>,
}

impl From<StoredPersonal<'_>> for Stored {
    fn from(p: StoredPersonal<'_>) -> Self {
        Stored {
            field: p.field.to_string(),
            sealed: p.sealed.map(<[u8]>::to_vec),
            key: p.key.map(<[u8]>::to_vec),
            erased_by: p.erased_by,
        }
    }
}

/// Checks the personal values stored for entry `v` (intact: its hash
/// matched) against the commitments in it.
fn check_personal(v: &EntryView<'_>, mut stored: Vec<Stored>, c: &mut Chunk) {
    let commitments: serde_json::Map<String, serde_json::Value> = if v.personal == "{}" {
        serde_json::Map::new()
    } else {
        serde_json::from_str(v.personal).unwrap_or_default()
    };
    let problem = |c: &mut Chunk, kind: ProblemKind, detail: String| {
        if c.personal.len() < MAX_CLASSIFIED {
            c.personal.push(Problem {
                sequence: Some(v.sequence),
                audit_id: Some(v.audit_id.to_string()),
                kind,
                detail,
            });
        }
    };
    for (field, commitment) in &commitments {
        let expected = commitment.as_str().and_then(from_hex);
        let Some(i) = stored.iter().position(|s| s.field == *field) else {
            problem(
                c,
                ProblemKind::PersonalValueMissing,
                format!(
                    "personal value `{field}` is gone and no erasure entry covers it: it was \
                     deleted"
                ),
            );
            continue;
        };
        let s = stored.swap_remove(i);
        if let Some(by) = s.erased_by {
            c.erased
                .push((v.sequence, v.audit_id.to_string(), field.clone(), by));
            continue;
        }
        match (&s.sealed, &s.key) {
            (Some(sealed), Some(key)) => match sealing::open(key, v.sequence, field, sealed) {
                Some((salt, value)) if Some(pii_commitment(&salt, field, &value)) == expected => {}
                Some(_) => problem(
                    c,
                    ProblemKind::PersonalValueMismatch,
                    format!(
                        "personal value `{field}` does not match the salted commitment in the \
                         entry: it was edited"
                    ),
                ),
                None => problem(
                    c,
                    ProblemKind::PersonalValueMismatch,
                    format!(
                        "personal value `{field}` does not open for this entry under its \
                         subject's key: it was edited, or moved from another entry"
                    ),
                ),
            },
            _ => problem(
                c,
                ProblemKind::PersonalValueMissing,
                format!(
                    "personal value `{field}` (or its key) is gone and no erasure entry covers \
                     it: it was deleted"
                ),
            ),
        }
    }
    // A stored value the entry commits to no field for is never shown, so
    // it changes nothing a reader sees; the missing ones above are what count.
    drop(stored);
}

fn scan_chunk(storage: &dyn AuditStorage, lo: u64, hi: u64) -> Result<Chunk, AuditError> {
    let mut conn = storage.reader()?;
    let mut c = Chunk {
        leaves: Vec::with_capacity((hi - lo + 1).min(1 << 22) as usize),
        ..Chunk::default()
    };
    let mut scratch = Vec::with_capacity(1024);
    let mut start = lo;
    loop {
        let end = hi.min(start.saturating_add(PERSONAL_WINDOW - 1));
        let mut personal: BTreeMap<u64, Vec<Stored>> = BTreeMap::new();
        conn.personal(start, end, &mut |s, p| {
            personal.entry(s).or_default().push(p.into());
        })?;
        conn.scan(start, end, &mut |v, stored| {
            let computed = v.hash_with(&mut scratch);
            if computed != stored {
                c.mismatched.push(v.sequence);
            } else {
                // An edited entry's commitments are not to be trusted: it is
                // reported as modified, and its values are not judged by them.
                check_personal(&v, personal.remove(&v.sequence).unwrap_or_default(), &mut c);
            }
            match c.last {
                None => c.first = Some((v.sequence, v.prev_hash)),
                Some((pseq, pstored)) => {
                    if v.sequence != pseq + 1 {
                        c.gaps.push((pseq, v.sequence));
                    } else if v.prev_hash != pstored {
                        c.link_breaks.push(v.sequence);
                    }
                }
            }
            c.leaves.push(computed);
            c.last = Some((v.sequence, stored));
        })?;
        if end >= hi {
            return Ok(c);
        }
        start = end + 1;
    }
}

/// Problems with erased values whose tombstone names no erasure entry
/// written after them.
fn check_erasures(
    conn: &mut dyn LogReader,
    erased: &[(u64, String, String, u64)],
) -> Result<Vec<Problem>, AuditError> {
    let mut is_erasure: BTreeMap<u64, bool> = BTreeMap::new();
    for &(_, _, _, by) in erased {
        if is_erasure.contains_key(&by) {
            continue;
        }
        let mut found = false;
        conn.scan(by, by, &mut |v, stored| {
            found = v.resource_type == ERASURE_RESOURCE_TYPE
                && v.user_id == "system:erase_subject"
                && v.action == "delete"
                && v.hash() == stored;
        })?;
        is_erasure.insert(by, found);
    }
    Ok(erased
        .iter()
        .filter(|(s, _, _, by)| by <= s || !is_erasure.get(by).copied().unwrap_or(false))
        .take(MAX_CLASSIFIED)
        .map(|(s, audit_id, field, by)| Problem {
            sequence: Some(*s),
            audit_id: Some(audit_id.clone()),
            kind: ProblemKind::PersonalValueMissing,
            detail: format!(
                "personal value `{field}` is marked as erased by entry {by}, which is no \
                 erasure entry written after it: it was deleted"
            ),
        })
        .collect())
}

/// Verifies the log in `storage`.
pub fn verify(storage: &dyn AuditStorage, req: &VerifyRequest) -> Result<VerifyReport, AuditError> {
    let mut conn = storage.reader()?;
    let max_seq: u64 = conn.head_sequence()?;
    let from = req.from_sequence.unwrap_or(1).max(1);
    let mut to = req.to_sequence.unwrap_or(max_seq).min(max_seq);
    if let Some(cp) = &req.checkpoint {
        to = to.max(cp.tree_size.min(max_seq));
    }
    if let Some(t) = req.to_sequence
        && t < from
    {
        return Err(AuditError::invalid(
            "to_sequence",
            format!("{t} is before from_sequence {from}"),
        ));
    }

    // Leaves before the verified range are taken as stored.
    let mut leaves: Vec<Hash> = Vec::new();
    let mut before_from: Option<Hash> = None;
    if from > 1 {
        conn.hashes(1, from - 1, &mut |s, h| {
            leaves.push(h);
            before_from = if s == from - 1 { Some(h) } else { None };
        })?;
    }

    let chunks = if from <= to {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8) as u64;
        let span = to - from + 1;
        let threads = if span < 20_000 { 1 } else { threads };
        let per = span.div_ceil(threads);
        let bounds: Vec<(u64, u64)> = (0..threads)
            .map(|i| (from + i * per, (from + (i + 1) * per - 1).min(to)))
            .filter(|(lo, hi)| lo <= hi)
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .iter()
                .map(|&(lo, hi)| {
                    std::thread::Builder::new()
                        .name("audit-verify".into())
                        .spawn_scoped(s, move || scan_chunk(storage, lo, hi))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h {
                    Ok(h) => h.join().unwrap_or_else(|_| {
                        Err(AuditError::Internal("verifier thread panicked".into()))
                    }),
                    Err(e) => Err(AuditError::Internal(format!(
                        "cannot start a verifier thread: {e}"
                    ))),
                })
                .collect::<Result<Vec<Chunk>, AuditError>>()
        })?
    } else {
        Vec::new()
    };

    let mut mismatched = BTreeSet::new();
    let mut link_breaks = BTreeSet::new();
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    let mut entries_checked = 0u64;
    let mut personal_problems = Vec::new();
    let mut erased = Vec::new();
    // The row before the first one we scan: (sequence, stored hash).
    let mut prev: Option<(u64, Hash)> = if from == 1 {
        Some((0, GENESIS_PREV))
    } else {
        before_from.map(|h| (from - 1, h))
    };
    for c in chunks {
        entries_checked += c.leaves.len() as u64;
        if let Some((first_seq, first_prev)) = c.first {
            match prev {
                Some((pseq, phash)) if first_seq == pseq + 1 => {
                    if first_prev != phash {
                        link_breaks.insert(first_seq);
                    }
                }
                Some((pseq, _)) => gaps.push((pseq, first_seq)),
                None => {
                    if first_seq > from {
                        gaps.push((from - 1, first_seq));
                    }
                }
            }
        }
        personal_problems.extend(c.personal);
        erased.extend(c.erased);
        mismatched.extend(c.mismatched);
        link_breaks.extend(c.link_breaks);
        gaps.extend(c.gaps);
        leaves.extend(c.leaves);
        if c.last.is_some() {
            prev = c.last;
        }
    }

    let mut problems = if mismatched.is_empty() && link_breaks.is_empty() && gaps.is_empty() {
        Vec::new()
    } else {
        classify(conn.as_mut(), &mismatched, &link_breaks, &gaps)?
    };
    // An inserted entry is not part of the chain: what it commits to says nothing.
    let inserted: BTreeSet<u64> = problems
        .iter()
        .filter(|p| p.kind == ProblemKind::InsertedEntry)
        .filter_map(|p| p.sequence)
        .collect();
    personal_problems.retain(|p: &Problem| p.sequence.is_none_or(|s| !inserted.contains(&s)));
    problems.extend(personal_problems);
    problems.extend(check_erasures(conn.as_mut(), &erased)?);

    if let Some(cp) = &req.checkpoint {
        let size = leaves.len() as u64;
        if cp.tree_size > size {
            problems.push(Problem {
                sequence: Some(size + 1),
                audit_id: None,
                kind: ProblemKind::Truncated,
                detail: format!(
                    "the checkpoint{} covers {} entries but the log has {size}: entries from \
                     sequence {} on were removed, or the log was rolled back to an older copy",
                    cp.timestamp
                        .as_deref()
                        .map(|t| format!(" of {t}"))
                        .unwrap_or_default(),
                    cp.tree_size,
                    size + 1
                ),
            });
        } else if cp.tree_size > 0 {
            let root = root_of_parallel(&leaves[..cp.tree_size as usize]);
            if root != cp.root_hash {
                let audit_id = conn.audit_id_at(cp.tree_size)?;
                problems.push(Problem {
                    sequence: Some(cp.tree_size),
                    audit_id,
                    kind: ProblemKind::RootMismatch,
                    detail: format!(
                        "entries 1..={} hash to root {} but the checkpoint{} signed {}: the log \
                         was rewritten (hashes recomputed) or replaced by another copy",
                        cp.tree_size,
                        to_hex(&root),
                        cp.timestamp
                            .as_deref()
                            .map(|t| format!(" of {t}"))
                            .unwrap_or_default(),
                        to_hex(&cp.root_hash)
                    ),
                });
            }
        }
    }
    problems.sort_by_key(|p| (p.sequence.unwrap_or(u64::MAX), p.kind));
    let problem_count = problems.len() as u64;
    problems.truncate(MAX_PROBLEMS);
    Ok(VerifyReport {
        valid: problems.is_empty(),
        problem_count,
        entries_checked,
        tree_size: leaves.len() as u64,
        root_hash: root_of_parallel(&leaves),
        problems,
    })
}

/// The sequence under which a row's content hashes to its stored hash, if
/// it is one of `candidates`.
fn true_sequence(
    conn: &mut dyn LogReader,
    seq: u64,
    candidates: &[u64],
) -> Result<Option<u64>, AuditError> {
    let mut found = None;
    conn.scan(seq, seq, &mut |v, stored| {
        let mut scratch = Vec::new();
        found = candidates.iter().copied().find(|&t| {
            t != seq && (EntryView { sequence: t, ..v }).hash_with(&mut scratch) == stored
        });
    })?;
    Ok(found)
}

fn classify(
    conn: &mut dyn LogReader,
    mismatched: &BTreeSet<u64>,
    link_breaks: &BTreeSet<u64>,
    gaps: &[(u64, u64)],
) -> Result<Vec<Problem>, AuditError> {
    let mut problems = Vec::new();
    // Where each displaced entry was written.
    let mut origin: BTreeMap<u64, u64> = BTreeMap::new();
    let pairwise: Vec<u64> = if mismatched.len() <= MAX_PAIRWISE {
        mismatched.iter().copied().collect()
    } else {
        Vec::new()
    };
    for &s in mismatched.iter().take(MAX_EXAMINED) {
        let mut candidates: Vec<u64> = (1..=SHIFT_WINDOW)
            .flat_map(|d| [s.saturating_sub(d), s + d])
            .filter(|&t| t > 0)
            .collect();
        candidates.extend(pairwise.iter().copied());
        if let Some(t) = true_sequence(conn, s, &candidates)? {
            origin.insert(s, t);
        }
    }
    let mut inserted: BTreeSet<u64> = BTreeSet::new();
    let mut explained: BTreeSet<u64> = BTreeSet::new();
    for (&s, &t) in &origin {
        explained.insert(s);
        if origin.get(&t) == Some(&s) {
            problems.push(Problem {
                sequence: Some(s),
                audit_id: conn.audit_id_at(s)?,
                kind: ProblemKind::Reordered,
                detail: format!("holds the entry written at sequence {t} (rows swapped)"),
            });
            continue;
        }
        // A run of entries shifted by the same offset: report only its start.
        let run_start = s == 1 || origin.get(&(s - 1)).map(|&p| p + 1) != Some(t);
        if !run_start {
            continue;
        }
        if t < s {
            for p in t..s {
                inserted.insert(p);
            }
        } else {
            problems.push(Problem {
                sequence: Some(s),
                audit_id: conn.audit_id_at(s)?,
                kind: ProblemKind::MissingSequence,
                detail: format!(
                    "the entries written at sequences {s}..={} were deleted and the later \
                     entries renumbered (this row was written at sequence {t})",
                    t - 1
                ),
            });
        }
    }
    for &p in &inserted {
        explained.insert(p);
        problems.push(Problem {
            sequence: Some(p),
            audit_id: conn.audit_id_at(p)?,
            kind: ProblemKind::InsertedEntry,
            detail: "is not part of the original chain: the entry after it links to the entry \
                     before it, and the later entries were renumbered"
                .into(),
        });
    }
    for &s in mismatched.iter().take(MAX_CLASSIFIED) {
        if explained.contains(&s) {
            continue;
        }
        problems.push(Problem {
            sequence: Some(s),
            audit_id: conn.audit_id_at(s)?,
            kind: ProblemKind::ModifiedEntry,
            detail: "its fields no longer hash to its stored entry_hash: the entry was edited"
                .into(),
        });
    }
    for &(a, b) in gaps {
        for s in (a + 1..b).take(MAX_CLASSIFIED) {
            problems.push(Problem {
                sequence: Some(s),
                audit_id: None,
                kind: ProblemKind::MissingSequence,
                detail: format!("no entry has sequence {s}: it was deleted"),
            });
        }
    }
    for &s in link_breaks.iter().take(MAX_CLASSIFIED) {
        let prior = s - 1;
        if mismatched.contains(&s)
            || mismatched.contains(&prior)
            || explained.contains(&s)
            || explained.contains(&prior)
        {
            continue;
        }
        problems.push(Problem {
            sequence: Some(s),
            audit_id: conn.audit_id_at(s)?,
            kind: ProblemKind::BrokenLink,
            detail: format!(
                "its prev_hash is not the hash of entry {prior}: entry {prior} was replaced \
                 (rewritten with a recomputed hash)"
            ),
        });
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditTrail;
    use crate::audit::entry::NewEntry;
    use crate::store::Store;

    fn trail_with(n: u64) -> (tempfile::TempDir, AuditTrail) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), &[("audit", crate::audit::MIGRATIONS)]).unwrap();
        let trail = AuditTrail::open(&store, vec![]).unwrap();
        for i in 0..n {
            trail
                .log_blocking(NewEntry {
                    user_id: format!("u{i}"),
                    action: "create".into(),
                    resource_type: "game".into(),
                    resource_id: format!("g{i}"),
                    severity: "info".into(),
                    outcome: "success".into(),
                    ..NewEntry::default()
                })
                .unwrap();
        }
        (tmp, trail)
    }

    fn kinds(r: &VerifyReport) -> Vec<(u64, ProblemKind)> {
        r.problems
            .iter()
            .map(|p| (p.sequence.unwrap_or(0), p.kind))
            .collect()
    }

    #[test]
    fn a_deletion_hidden_by_renumbering_is_reported_where_the_entry_went_missing() {
        let (_tmp, trail) = trail_with(8);
        let conn = rusqlite::Connection::open(trail.db_path().unwrap()).unwrap();
        conn.execute_batch(
            "DELETE FROM audit_entries WHERE sequence = 5;
             UPDATE audit_entries SET sequence = -(sequence - 1) WHERE sequence > 5;
             UPDATE audit_entries SET sequence = -sequence WHERE sequence < 0;",
        )
        .unwrap();
        let r = trail.verify(&VerifyRequest::default()).unwrap();
        assert_eq!(kinds(&r), vec![(5, ProblemKind::MissingSequence)], "{r:?}");
    }

    #[test]
    fn a_range_is_checked_including_its_link_to_the_entry_before_it() {
        let (_tmp, trail) = trail_with(10);
        let range = VerifyRequest {
            from_sequence: Some(4),
            to_sequence: Some(7),
            checkpoint: None,
        };
        let r = trail.verify(&range).unwrap();
        assert!(r.valid, "{r:?}");
        assert_eq!(r.entries_checked, 4);
        assert_eq!(r.tree_size, 7);
        assert_eq!(r.root_hash, trail.root_at(7).unwrap());
        let conn = rusqlite::Connection::open(trail.db_path().unwrap()).unwrap();
        conn.execute(
            "UPDATE audit_entries SET prev_hash = zeroblob(32) WHERE sequence = 4",
            [],
        )
        .unwrap();
        let r = trail.verify(&range).unwrap();
        assert_eq!(kinds(&r), vec![(4, ProblemKind::ModifiedEntry)], "{r:?}");
        // Outside the range nothing is looked at.
        let later = VerifyRequest {
            from_sequence: Some(6),
            ..range
        };
        assert!(trail.verify(&later).unwrap().valid);
    }

    #[test]
    fn a_wholly_edited_log_lists_the_first_problems_and_counts_them_all() {
        let (_tmp, trail) = trail_with(150);
        let conn = rusqlite::Connection::open(trail.db_path().unwrap()).unwrap();
        conn.execute("UPDATE audit_entries SET resource_type = 'x'", [])
            .unwrap();
        let r = trail.verify(&VerifyRequest::default()).unwrap();
        assert!(!r.valid);
        assert_eq!(r.problem_count, 150);
        assert_eq!(r.problems.len(), MAX_PROBLEMS);
        assert_eq!(r.problems[0].sequence, Some(1));
        assert!(
            r.problems
                .iter()
                .all(|p| p.kind == ProblemKind::ModifiedEntry)
        );
    }

    #[test]
    fn an_empty_log_verifies_with_the_empty_root() {
        let (_tmp, trail) = trail_with(0);
        let r = trail.verify(&VerifyRequest::default()).unwrap();
        assert!(r.valid);
        assert_eq!((r.entries_checked, r.tree_size), (0, 0));
        assert_eq!(r.root_hash, crate::audit::merkle::empty_root());
    }
}
