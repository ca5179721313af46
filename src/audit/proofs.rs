//! Inclusion and consistency proofs served from the store.
//!
//! Proofs need hashes of arbitrary subtrees of the RFC 9162 decomposition.
//! Rather than keep every interior node, we keep only the leaf hashes (the
//! `entry_hash` column) and compute subtree hashes on demand; perfect,
//! aligned subtrees never change once complete, so their hashes are cached
//! for the life of the process and a proof over a million entries costs a few
//! small range reads after the first.

use std::collections::HashMap;
use std::sync::Mutex;

use super::AuditError;
use super::merkle::{Hash, SubtreeSource, node_hash, root_of, split_point};
use super::storage::LogReader;

/// Subtrees at most this wide are computed from their leaves in one read.
const LEAF_READ: u64 = 256;

/// Cache of perfect aligned subtree hashes, keyed by (start, size).
#[derive(Debug, Default)]
pub struct SubtreeCache {
    map: Mutex<HashMap<(u64, u64), Hash>>,
}

impl SubtreeCache {
    /// Forgets everything (after the log was found altered).
    pub fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}

/// The tree as stored: leaf i is the entry with sequence i + 1.
pub struct StoredTree<'a> {
    pub reader: &'a mut dyn LogReader,
    pub cache: &'a SubtreeCache,
}

impl StoredTree<'_> {
    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, AuditError> {
        let mut out = Vec::with_capacity((end - start) as usize);
        self.reader
            .hashes(start + 1, end, &mut |_, h| out.push(h))?;
        if out.len() as u64 != end - start {
            return Err(AuditError::Store(format!(
                "entries {}..={} are not all present; run verify_chain",
                start + 1,
                end
            )));
        }
        Ok(out)
    }

    /// MTH of leaves `[start, end)`.
    pub fn hash(&mut self, start: u64, end: u64) -> Result<Hash, AuditError> {
        let n = end - start;
        if n <= LEAF_READ {
            return Ok(root_of(&self.leaves(start, end)?));
        }
        let perfect = n.is_power_of_two() && start.is_multiple_of(n);
        if perfect
            && let Some(h) = self
                .cache
                .map
                .lock()
                .ok()
                .and_then(|m| m.get(&(start, n)).copied())
        {
            return Ok(h);
        }
        let k = split_point(n);
        let h = node_hash(&self.hash(start, start + k)?, &self.hash(start + k, end)?);
        if perfect && let Ok(mut m) = self.cache.map.lock() {
            m.insert((start, n), h);
        }
        Ok(h)
    }
}

impl SubtreeSource for StoredTree<'_> {
    type Error = AuditError;
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, AuditError> {
        self.hash(start, end)
    }
}
