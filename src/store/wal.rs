//! Keeping the store's write-ahead log bounded under any sustained load.
//!
//! SQLite's WAL starts over from its beginning only when a write begins with
//! every frame already copied into the database file and no reader left on an
//! older snapshot. A background PASSIVE checkpoint never gets there while
//! writes continue: frames keep arriving while it copies, so the log (and the
//! file) grows for as long as the writes last.
//!
//! Design choice: every connection the store opens carries a commit hook
//! (`sqlite3_wal_hook`, the mechanism of SQLite's own auto-checkpoint) that,
//! once the log holds more than the limit, runs a TRUNCATE checkpoint on the
//! committing connection right after its commit. That checkpoint takes the
//! write lock first, so the other writers (threads and processes) queue
//! behind it for a moment instead of outrunning it as they outrun a
//! background thread; it waits (up to the busy timeout) for readers still on
//! older snapshots, copies the rest and cuts the file to zero bytes. The log
//! therefore exceeds the limit by at most the transaction that crossed it,
//! unless a read transaction outlasts the busy timeout. Below the limit
//! nothing changes: background checkpointers, or SQLite's PASSIVE
//! auto-checkpoint on connections without one, copy frames off the commit
//! path.

use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

/// Default size of the WAL past which it is checkpointed and truncated
/// (`--wal-limit-mib`).
pub const DEFAULT_WAL_LIMIT: u64 = 64 << 20;

/// Smallest accepted limit: below a few hundred pages every other commit
/// would pay for a full checkpoint.
pub const MIN_WAL_LIMIT: u64 = 1 << 20;

/// SQLite's default auto-checkpoint threshold, in pages, kept for
/// connections whose process runs no checkpointer of its own.
const AUTO_CHECKPOINT_PAGES: c_int = 1000;

/// A WAL kept above the limit by a reader is reported at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Who copies WAL frames into the database file below the limit.
#[derive(Debug, Clone)]
pub enum Checkpoints {
    /// The connection itself, PASSIVE, after a commit that leaves 1,000
    /// pages or more in the log (SQLite's default).
    OnCommit,
    /// A checkpointer thread beside the connection: its commits never
    /// checkpoint below the limit.
    Background,
    /// The connection's owner, at a moment it chooses (see
    /// [`checkpoint_if_due`]): its commits never checkpoint below the limit
    /// and leave the log's size in frames here. Unlike a thread beside a
    /// writer that never pauses, the owner checkpoints between its own
    /// writes, so the log still starts over from its beginning.
    Owner(Arc<AtomicI32>),
}

/// For a connection opened with [`Checkpoints::Owner`]: whether its last
/// commit left 1,000 pages or more in the log (SQLite's own rule).
pub fn checkpoint_due(frames: &AtomicI32) -> bool {
    frames.load(Ordering::Relaxed) >= AUTO_CHECKPOINT_PAGES
}

/// For a connection opened with [`Checkpoints::Owner`]: a PASSIVE
/// checkpoint when [`checkpoint_due`] (run when the owner chooses rather
/// than inside the commit). Whether one ran.
pub fn checkpoint_if_due(
    conn: &rusqlite::Connection,
    frames: &AtomicI32,
) -> rusqlite::Result<bool> {
    if !checkpoint_due(frames) {
        return Ok(false);
    }
    // The next commit reports the log's size again.
    frames.store(0, Ordering::Relaxed);
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(true)
}

/// Installs the limit on `conn`: the commit hook described in the module doc
/// and a `journal_size_limit` of `limit` bytes, so a log that restarts after
/// a burst is cut back too. Replaces `PRAGMA wal_autocheckpoint` (setting
/// that pragma afterwards would remove the hook).
pub fn install(
    conn: &mut Connection,
    limit: u64,
    checkpoints: Checkpoints,
) -> rusqlite::Result<()> {
    let limit = limit.max(MIN_WAL_LIMIT);
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    // A frame is a page plus its 24-byte header.
    let frame = page.max(512) as u64 + 24;
    let limit_frames = c_int::try_from(limit / frame).unwrap_or(c_int::MAX);
    let _: i64 = conn.query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |r| {
        r.get(0)
    })?;
    let mut warned: Option<Instant> = None;
    conn.wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
        if frames >= limit_frames {
            // It may wait for readers: never on an async worker's time.
            if let Err(e) = super::blocking(|| truncate(wal))
                && warned.is_none_or(|t| t.elapsed() >= WARN_EVERY)
            {
                warned = Some(Instant::now());
                tracing::warn!(
                    frames,
                    limit,
                    "the WAL is over its limit and could not be truncated yet \
                     (a read transaction older than the busy timeout?): {e}"
                );
            }
        } else {
            match &checkpoints {
                Checkpoints::OnCommit if frames >= AUTO_CHECKPOINT_PAGES => {
                    // Never an error for the commit that called us: it is done.
                    let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                }
                Checkpoints::Owner(size) => size.store(frames, Ordering::Relaxed),
                _ => {}
            }
        }
        Ok(())
    }))
}

/// A TRUNCATE checkpoint, tried again while another connection's checkpoint
/// holds the checkpoint lock (SQLite answers that at once, without the busy
/// handler, and background checkpointers take it every few hundred
/// milliseconds), for up to the busy timeout in all.
fn truncate(wal: &mut Wal) -> rusqlite::Result<()> {
    let started = Instant::now();
    loop {
        match wal.checkpoint_v2(CheckpointMode::TRUNCATE) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < super::BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn wal_size(store: &Store) -> u64 {
        std::fs::metadata(store.path().with_extension("db-wal")).map_or(0, |m| m.len())
    }

    #[test]
    fn a_writer_that_never_pauses_keeps_the_wal_under_the_limit_despite_a_passive_checkpointer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal_limit(tmp.path(), &[], MIN_WAL_LIMIT).unwrap();
        let writer = store.connect_writer().unwrap();
        writer.execute_batch("CREATE TABLE t(x BLOB)").unwrap();
        // A background PASSIVE checkpointer, as the events bus and the audit
        // trail run, and a reader taking short snapshots throughout.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let conn = store.connect().unwrap();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        if i == 0 {
                            let _ =
                                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        } else {
                            let _: i64 = conn
                                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                                .unwrap();
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        let row = vec![7u8; 2000];
        let mut largest = 0;
        for _ in 0..8_000 {
            writer.execute("INSERT INTO t VALUES (?1)", [&row]).unwrap();
            largest = largest.max(wal_size(&store));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        // 16 MB written; one transaction adds one row's pages at most.
        assert!(
            largest <= MIN_WAL_LIMIT + 64 * 1024,
            "the WAL reached {largest} bytes"
        );
    }
}
