//! Reading `audit_entries` rows as [`EntryView`]s without copying.
//!
//! The reader is tolerant on purpose: verification must report a row that was
//! edited into nonsense (invalid UTF-8, a hash of the wrong length) as a
//! modified entry, not fail with a decoding error.

use rusqlite::Row;
use rusqlite::types::ValueRef;

use super::encoding::EntryView;
use super::merkle::Hash;

/// A stand-in for a hash column that does not hold 32 bytes; it never
/// equals a real SHA-256 output in practice.
const BAD_HASH: Hash = [0xff; 32];

fn text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    Ok(match row.get_ref(i)? {
        ValueRef::Text(b) => std::str::from_utf8(b).unwrap_or("\u{fffd}invalid utf-8"),
        ValueRef::Null => "",
        _ => "\u{fffd}not text",
    })
}

fn opt_text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) => Some(std::str::from_utf8(b).unwrap_or("\u{fffd}invalid utf-8")),
        _ => Some("\u{fffd}not text"),
    })
}

/// A 32-byte blob column as a hash (or a stand-in that matches nothing).
pub fn hash_at(row: &Row<'_>, i: usize) -> rusqlite::Result<Hash> {
    Ok(match row.get_ref(i)? {
        ValueRef::Blob(b) if b.len() == 32 => {
            let mut h = [0u8; 32];
            h.copy_from_slice(b);
            h
        }
        _ => BAD_HASH,
    })
}

/// The entry of a row selected with [`super::schema::ENTRY_COLUMNS`], and its
/// stored entry_hash.
pub fn view<'r>(row: &'r Row<'_>) -> rusqlite::Result<(EntryView<'r>, Hash)> {
    let sequence: i64 = row.get(0)?;
    let v = EntryView {
        sequence: sequence as u64,
        audit_id: text(row, 1)?,
        timestamp: text(row, 2)?,
        user_id: text(row, 3)?,
        action: text(row, 4)?,
        resource_type: text(row, 5)?,
        resource_id: text(row, 6)?,
        severity: text(row, 7)?,
        outcome: text(row, 8)?,
        session_id: opt_text(row, 9)?,
        details: text(row, 10)?,
        changes: opt_text(row, 11)?,
        tenant_id: opt_text(row, 12)?,
        correlation_id: opt_text(row, 13)?,
        tags: text(row, 14)?,
        purpose: opt_text(row, 15)?,
        personal: text(row, 16)?,
        prev_hash: hash_at(row, 17)?,
    };
    Ok((v, hash_at(row, 18)?))
}
