//! RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs.
//!
//! The audit log's entries are the leaves of one append-only Merkle tree, so a
//! holder of an old signed checkpoint can be shown, with O(log n) hashes, that
//! an entry is in the log (inclusion proof) and that today's log extends the
//! one they saw (consistency proof). We implement the RFC's algorithms
//! literally (§2.1.1 MTH, §2.1.3 PATH, §2.1.4 SUBPROOF and both verifiers)
//! rather than pull in a crate, because proof generation must read subtree
//! hashes lazily from the store ([`SubtreeSource`]) instead of holding every
//! leaf in memory; the tests pin the implementation to the published CT test
//! vectors.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash.
pub const NODE_PREFIX: u8 = 0x01;

/// SHA-256(0x00 || data): the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right): the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (n >= 2).
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes held in memory.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// MTH over leaf hashes held in memory, computing the two halves of the top
/// split on two threads when the tree is large (verification of a million
/// entries is hash-bound).
pub fn root_of_parallel(leaves: &[Hash]) -> Hash {
    if leaves.len() < 4096 {
        return root_of(leaves);
    }
    let k = split_point(leaves.len() as u64) as usize;
    let (left, right) = leaves.split_at(k);
    std::thread::scope(|s| {
        let l = s.spawn(|| root_of(left));
        let r = root_of(right);
        match l.join() {
            Ok(l) => node_hash(&l, &r),
            // A panic in pure hashing code is a bug; fall back to one thread.
            Err(_) => node_hash(&root_of(left), &r),
        }
    })
}

/// The right edge of a growing tree: the roots of its perfect subtrees, left
/// to right (one per set bit of the size). Appending is O(1) amortised and the
/// root O(log n), so the writer can return a root with every append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// MTH of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Gives the hash of the subtree over leaves `[start, end)`; the proof
/// generators ask only for subtrees of the RFC's recursive decomposition.
pub trait SubtreeSource {
    /// Error of the underlying storage.
    type Error;
    /// MTH(D\[start:end\]), `start < end`.
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

impl SubtreeSource for &[Hash] {
    type Error = std::convert::Infallible;
    fn subtree(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        Ok(root_of(&self[start as usize..end as usize]))
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D\[n\]): the inclusion proof of leaf `index` in the
/// tree of `size` leaves, bottom to top. Requires `index < size`.
pub fn inclusion_proof<S: SubtreeSource>(
    index: u64,
    size: u64,
    source: &mut S,
) -> Result<Vec<Hash>, S::Error> {
    let mut path = Vec::new();
    path_rec(index, 0, size, source, &mut path)?;
    Ok(path)
}

fn path_rec<S: SubtreeSource>(
    m: u64,
    start: u64,
    end: u64,
    source: &mut S,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path_rec(m, start, start + k, source, out)?;
        out.push(source.subtree(start + k, end)?);
    } else {
        path_rec(m - k, start + k, end, source, out)?;
        out.push(source.subtree(start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.1 PROOF(m, D\[n\]): the consistency proof between the trees
/// of `old_size` and `new_size` leaves. Requires `0 < old_size <= new_size`;
/// equal sizes give the empty proof.
pub fn consistency_proof<S: SubtreeSource>(
    old_size: u64,
    new_size: u64,
    source: &mut S,
) -> Result<Vec<Hash>, S::Error> {
    let mut proof = Vec::new();
    if old_size < new_size {
        subproof_rec(old_size, 0, new_size, true, source, &mut proof)?;
    }
    Ok(proof)
}

fn subproof_rec<S: SubtreeSource>(
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    source: &mut S,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !b {
            out.push(source.subtree(start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof_rec(m, start, start + k, b, source, out)?;
        out.push(source.subtree(start + k, end)?);
    } else {
        subproof_rec(m - k, start + k, end, false, source, out)?;
        out.push(source.subtree(start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: whether `path` proves that `leaf` is leaf `index` of
/// the tree of `size` leaves with root `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnn, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            r = node_hash(p, &r);
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows that the tree of `old_size`
/// leaves with root `old_root` is a prefix of the tree of `new_size` leaves
/// with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnn, mut sn) = (old_size - 1, new_size - 1);
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnn & 1 == 0 {
                while fnn & 1 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// Lower-case hex of a byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses 64 hex digits into a hash.
pub fn from_hex(s: &str) -> Option<Hash> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the Certificate Transparency test vectors
    /// (certificate-transparency-go `merkle` tests, RFC 6962 = RFC 9162 hashing).
    fn ct_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            leaf_hash(&bytes)
        })
        .collect()
    }

    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        from_hex(s).unwrap()
    }

    #[test]
    fn roots_match_the_ct_test_vectors_in_memory_and_incrementally() {
        let leaves = ct_leaves();
        assert_eq!(
            to_hex(&root_of(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut f = Frontier::new();
        for (n, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(to_hex(&root_of(&leaves[..n + 1])), *want, "size {}", n + 1);
            f.push(leaves[n]);
            assert_eq!(to_hex(&f.root()), *want, "frontier size {}", n + 1);
        }
    }

    #[test]
    fn inclusion_proofs_match_the_ct_test_vectors() {
        let leaves = ct_leaves();
        // (leaf index, tree size, expected path) from the CT vectors.
        let vectors: [(u64, u64, Vec<&str>); 4] = [
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                vec![
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in vectors {
            let mut src: &[Hash] = &leaves[..size as usize];
            let path = inclusion_proof(index, size, &mut src).unwrap();
            let got: Vec<String> = path.iter().map(|p| to_hex(p)).collect();
            assert_eq!(got, want, "leaf {index} of {size}");
            let root = h(CT_ROOTS[size as usize - 1]);
            assert!(verify_inclusion(
                index,
                size,
                &leaves[index as usize],
                &path,
                &root
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_ct_test_vectors() {
        let leaves = ct_leaves();
        let vectors: [(u64, u64, Vec<&str>); 3] = [
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in vectors {
            let mut src: &[Hash] = &leaves[..new as usize];
            let proof = consistency_proof(old, new, &mut src).unwrap();
            let got: Vec<String> = proof.iter().map(|p| to_hex(p)).collect();
            assert_eq!(got, want, "{old} -> {new}");
            let (r1, r2) = (h(CT_ROOTS[old as usize - 1]), h(CT_ROOTS[new as usize - 1]));
            assert!(verify_consistency(old, new, &r1, &r2, &proof));
        }
    }

    #[test]
    fn every_proof_in_a_small_tree_verifies_and_every_corruption_fails() {
        let leaves: Vec<Hash> = (0u32..37).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in 1..=leaves.len() as u64 {
            let root = root_of(&leaves[..size as usize]);
            let mut src: &[Hash] = &leaves[..size as usize];
            for index in 0..size {
                let path = inclusion_proof(index, size, &mut src).unwrap();
                let leaf = leaves[index as usize];
                assert!(verify_inclusion(index, size, &leaf, &path, &root));
                assert!(!verify_inclusion(index ^ 1, size, &leaf, &path, &root) || size == 1);
                for i in 0..path.len() {
                    let mut bad = path.clone();
                    bad[i][7] ^= 0x20;
                    assert!(!verify_inclusion(index, size, &leaf, &bad, &root));
                }
                let mut longer = path.clone();
                longer.push(root);
                assert!(!verify_inclusion(index, size, &leaf, &longer, &root));
                if !path.is_empty() {
                    assert!(!verify_inclusion(index, size, &leaf, &path[1..], &root));
                }
            }
            for old in 1..=size {
                let old_root = root_of(&leaves[..old as usize]);
                let proof = consistency_proof(old, size, &mut src).unwrap();
                assert!(verify_consistency(old, size, &old_root, &root, &proof));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 1;
                    assert!(!verify_consistency(old, size, &old_root, &root, &bad));
                }
                if old < size {
                    assert!(!verify_consistency(old, size, &root, &old_root, &proof));
                    let mut wrong_root = old_root;
                    wrong_root[31] ^= 1;
                    assert!(!verify_consistency(old, size, &wrong_root, &root, &proof));
                }
            }
        }
    }

    #[test]
    fn parallel_root_equals_sequential_root() {
        let leaves: Vec<Hash> = (0u32..10_000)
            .map(|i| leaf_hash(&i.to_le_bytes()))
            .collect();
        assert_eq!(root_of_parallel(&leaves), root_of(&leaves));
    }
}
