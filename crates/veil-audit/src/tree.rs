//! The Merkle tree of RFC 6962 / RFC 9162 §2.1, written by hand.
//!
//! Why by hand: `rs_merkle` and most general-purpose Merkle crates hash leaves and interior
//! nodes the same way (no `0x00`/`0x01` domain separation), which lets an interior node be
//! passed off as a leaf (second-preimage attack on the tree). They also pad odd levels
//! instead of promoting the last node, so their roots differ from every RFC 6962 log. The
//! algorithms here follow RFC 9162 step by step and are checked against the Certificate
//! Transparency test vectors (see the tests at the bottom of this file).
//!
//! - [`leaf_hash`] = SHA-256(0x00 || data), [`node_hash`] = SHA-256(0x01 || left || right).
//! - [`CompactRange`]: the frontier of a tree (the roots of its maximal complete subtrees).
//!   O(log n) memory and append; gives the root at the current size. The streaming verifier
//!   uses it, so verifying a billion records needs a few kilobytes.
//! - [`MerkleTree`]: every complete subtree hash kept level by level (2n hashes in all), so
//!   roots at any past size, inclusion proofs and consistency proofs are O(log² n) lookups.
//! - [`verify_inclusion`] and [`verify_consistency`]: the verifiers of RFC 9162 §2.1.3.2
//!   and §2.1.4.2.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a leaf: SHA-256(0x00 || data).
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The frontier of a tree of `size` leaves: one hash per set bit of `size`, largest subtree
/// first. Append is O(log n) (amortised O(1)); memory is O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    // INVARIANT: `hashes.len() == size.count_ones()`, hashes[i] roots the i-th largest
    // complete subtree, in left-to-right order.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The frontier of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its parts, as written in an export header.
    ///
    /// Returns `None` when the number of hashes does not match `size`.
    #[must_use]
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// The number of leaves covered.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut m = self.size;
        while m & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            h = node_hash(&left, &h);
            m >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// The root of the tree covered (RFC 9162 MTH).
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// An append-only Merkle tree that keeps every complete subtree hash.
///
/// `levels[k][i]` roots leaves `[i·2^k, (i+1)·2^k)`. Append is amortised O(1), worst
/// O(log n); memory is about two hashes per leaf (64 MB for a million records), which is
/// what a proof server needs. Verifiers that only recompute roots use [`CompactRange`].
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash and returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        let index = self.size();
        let mut h = leaf;
        let mut idx = index;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                break;
            };
            row.push(h);
            if idx & 1 == 0 {
                break;
            }
            // A right child completes its parent.
            let (Some(l), Some(r)) = (row.get(row.len().wrapping_sub(2)), row.last()) else {
                break;
            };
            h = node_hash(l, r);
            idx >>= 1;
            level += 1;
        }
        index
    }

    /// The leaf hash at `index`.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.node(0, index)
    }

    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        let row = self.levels.get(level as usize)?;
        row.get(usize::try_from(index).ok()?).copied()
    }

    /// MTH of leaves `[start, start + len)`, `len >= 1`, the range inside the tree.
    fn mth(&self, start: u64, len: u64) -> Option<Hash> {
        if len.is_power_of_two() && start.is_multiple_of(len) {
            return self.node(len.trailing_zeros(), start / len);
        }
        let k = split(len);
        let left = self.mth(start, k)?;
        let right = self.mth(start + k, len - k)?;
        Some(node_hash(&left, &right))
    }

    /// The root of the tree when it had `size` leaves; `None` if `size > self.size()`.
    #[must_use]
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        match size {
            0 => Some(EMPTY_ROOT),
            s if s > self.size() => None,
            s => self.mth(0, s),
        }
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or(EMPTY_ROOT)
    }

    /// The frontier at `size` (for an export that starts at record `size`).
    #[must_use]
    pub fn compact_range(&self, size: u64) -> Option<CompactRange> {
        if size > self.size() {
            return None;
        }
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for bit in (0..64u32).rev() {
            let len = 1u64 << bit;
            if size & len != 0 {
                hashes.push(self.node(bit, start / len)?);
                start += len;
            }
        }
        CompactRange::from_parts(size, hashes)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
    #[must_use]
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof)?;
        Some(proof)
    }

    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) -> Option<()> {
        if n <= 1 {
            return Some(());
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out)?;
            out.push(self.mth(start + k, n - k)?);
        } else {
            self.path(m - k, start + k, n - k, out)?;
            out.push(self.mth(start, k)?);
        }
        Some(())
    }

    /// The consistency proof between sizes `old <= new` (RFC 9162 §2.1.4.1). Empty when
    /// `old == 0` or `old == new`.
    #[must_use]
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old > new || new > self.size() {
            return None;
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof)?;
        }
        Some(proof)
    }

    fn subproof(&self, m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Hash>) -> Option<()> {
        if m == n {
            if !whole {
                out.push(self.mth(start, n)?);
            }
            return Some(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, whole, out)?;
            out.push(self.mth(start + k, n - k)?);
        } else {
            self.subproof(m - k, start + k, n - k, false, out)?;
            out.push(self.mth(start, k)?);
        }
        Some(())
    }
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
#[must_use]
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
///
/// The degenerate cases RFC 9162 leaves to the caller: `old == new` holds with an empty proof
/// and equal roots; `old == 0` holds with an empty proof and `old_root` the empty root.
#[must_use]
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty() && *old_root == EMPTY_ROOT;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let mut f_n = old - 1;
    let mut s_n = new - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut it = path.iter();
    let Some(first) = it.next() else { return false };
    let mut fr = *first;
    let mut sr = *first;
    for c in it {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    fr == *old_root && sr == *new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // Certificate Transparency's published Merkle test vectors (the C++ and Go CT code and
    // transparency-dev/merkle use the same ones): eight leaves and the roots of sizes 1..=8.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
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

    fn ct_tree() -> MerkleTree {
        let mut t = MerkleTree::new();
        for l in CT_LEAVES {
            t.push(leaf_hash(&hex::decode(l).unwrap()));
        }
        t
    }

    fn tree_of(n: u64) -> MerkleTree {
        let mut t = MerkleTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(MerkleTree::new().root(), EMPTY_ROOT);
        assert_eq!(CompactRange::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn roots_match_ct_vectors_at_every_size() {
        let t = ct_tree();
        let mut c = CompactRange::new();
        for (i, l) in CT_LEAVES.iter().enumerate() {
            c.push(leaf_hash(&hex::decode(l).unwrap()));
            assert_eq!(c.root(), h(CT_ROOTS[i]), "compact range at size {}", i + 1);
            assert_eq!(
                t.root_at(i as u64 + 1).unwrap(),
                h(CT_ROOTS[i]),
                "size {}",
                i + 1
            );
        }
        // A wrong root is not accepted: the vectors are distinct per size.
        assert_ne!(t.root_at(7).unwrap(), h(CT_ROOTS[7]));
    }

    #[test]
    fn inclusion_proofs_match_ct_vectors() {
        let t = ct_tree();
        let p0 = t.inclusion_proof(0, 8).unwrap();
        assert_eq!(
            p0,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        let p5 = t.inclusion_proof(5, 8).unwrap();
        assert_eq!(
            p5,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        let root = h(CT_ROOTS[7]);
        assert!(verify_inclusion(&t.leaf(5).unwrap(), 5, 8, &p5, &root));
        assert!(!verify_inclusion(&t.leaf(4).unwrap(), 5, 8, &p5, &root));
    }

    #[test]
    fn consistency_proofs_match_ct_vectors() {
        let t = ct_tree();
        let p = t.consistency_proof(2, 8).unwrap();
        assert_eq!(
            p,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        let p6 = t.consistency_proof(6, 8).unwrap();
        assert_eq!(
            p6,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        assert!(verify_consistency(
            6,
            8,
            &h(CT_ROOTS[5]),
            &h(CT_ROOTS[7]),
            &p6
        ));
        assert!(!verify_consistency(
            5,
            8,
            &h(CT_ROOTS[4]),
            &h(CT_ROOTS[7]),
            &p6
        ));
    }

    #[test]
    fn degenerate_consistency_cases() {
        let t = tree_of(5);
        let r4 = t.root_at(4).unwrap();
        let r5 = t.root_at(5).unwrap();
        assert!(verify_consistency(4, 4, &r4, &r4, &[]));
        assert!(!verify_consistency(4, 4, &r4, &r5, &[]));
        assert!(!verify_consistency(4, 4, &r4, &r4, &[[0; 32]]));
        assert!(verify_consistency(0, 5, &EMPTY_ROOT, &r5, &[]));
        assert!(!verify_consistency(0, 5, &r4, &r5, &[]));
        assert!(!verify_consistency(4, 5, &r4, &r5, &[]));
        assert!(!verify_consistency(5, 4, &r5, &r4, &[]));
    }

    #[test]
    fn compact_range_from_tree_matches_streaming_one() {
        let t = tree_of(77);
        let mut c = CompactRange::new();
        for i in 0..=77u64 {
            assert_eq!(t.compact_range(i).unwrap(), c, "size {i}");
            if let Some(l) = t.leaf(i) {
                c.push(l);
            }
        }
        assert!(t.compact_range(78).is_none());
        assert!(CompactRange::from_parts(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn out_of_range_requests_are_refused() {
        let t = tree_of(8);
        assert!(t.inclusion_proof(8, 8).is_none());
        assert!(t.inclusion_proof(0, 9).is_none());
        assert!(t.consistency_proof(5, 3).is_none());
        assert!(t.consistency_proof(0, 9).is_none());
        assert!(t.root_at(9).is_none());
        assert!(!verify_inclusion(&t.leaf(0).unwrap(), 8, 8, &[], &t.root()));
    }

    #[test]
    fn all_proofs_verify_up_to_48_leaves() {
        let t = tree_of(48);
        for n in 1..=48u64 {
            let root = t.root_at(n).unwrap();
            for i in 0..n {
                let p = t.inclusion_proof(i, n).unwrap();
                assert!(
                    verify_inclusion(&t.leaf(i).unwrap(), i, n, &p, &root),
                    "{i}/{n}"
                );
            }
            for m in 0..=n {
                let p = t.consistency_proof(m, n).unwrap();
                let old = t.root_at(m).unwrap();
                assert!(verify_consistency(m, n, &old, &root, &p), "{m}->{n}");
            }
        }
    }

    proptest! {
        #[test]
        fn altered_inclusion_proofs_fail(n in 2u64..200, i in 0u64..200, pos in 0usize..16, bit in 0u8..8, byte in 0usize..32) {
            let i = i % n;
            let t = tree_of(n);
            let root = t.root_at(n).unwrap();
            let leaf = t.leaf(i).unwrap();
            let mut p = t.inclusion_proof(i, n).unwrap();
            prop_assert!(verify_inclusion(&leaf, i, n, &p, &root));
            let pos = pos % p.len();
            p[pos][byte] ^= 1 << bit;
            prop_assert!(!verify_inclusion(&leaf, i, n, &p, &root));
            p[pos][byte] ^= 1 << bit;
            p.pop();
            prop_assert!(!verify_inclusion(&leaf, i, n, &p, &root));
            let mut longer = t.inclusion_proof(i, n).unwrap();
            longer.push([0xab; 32]);
            prop_assert!(!verify_inclusion(&leaf, i, n, &longer, &root));
            // The same proof does not place the leaf at another index.
            let other = (i + 1) % n;
            let p = t.inclusion_proof(i, n).unwrap();
            prop_assert!(!verify_inclusion(&leaf, other, n, &p, &root));
        }

        #[test]
        fn altered_consistency_proofs_fail(n in 2u64..200, m in 1u64..200, pos in 0usize..16, bit in 0u8..8, byte in 0usize..32) {
            let m = 1 + (m % (n - 1));
            let t = tree_of(n);
            let (old, new) = (t.root_at(m).unwrap(), t.root_at(n).unwrap());
            let mut p = t.consistency_proof(m, n).unwrap();
            prop_assert!(verify_consistency(m, n, &old, &new, &p));
            let pos = pos % p.len();
            p[pos][byte] ^= 1 << bit;
            prop_assert!(!verify_consistency(m, n, &old, &new, &p));
            p[pos][byte] ^= 1 << bit;
            let mut bad_new = new;
            bad_new[byte] ^= 1 << bit;
            prop_assert!(!verify_consistency(m, n, &old, &bad_new, &p));
            p.pop();
            prop_assert!(!verify_consistency(m, n, &old, &new, &p));
        }
    }
}
