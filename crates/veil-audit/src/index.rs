//! A proof server: every leaf hash and checkpoint of a log, in memory, answering inclusion and
//! consistency proofs. This is what `/admin/v1/audit/proof` and `veil audit proof` need.

use crate::checkpoint::{SignedCheckpoint, VerifierKey};
use crate::store::{AuditSource, Entry};
use crate::tree::{Hash, MerkleTree, verify_inclusion};

/// An inclusion proof of one record into a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The record.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf: Hash,
    /// The proof hashes (RFC 9162 §2.1.3.1).
    pub proof: Vec<Hash>,
    /// The checkpoint it leads to.
    pub checkpoint: SignedCheckpoint,
}

impl InclusionProof {
    /// Checks the checkpoint signature and the proof.
    #[must_use]
    pub fn verify(&self, key: &VerifierKey) -> bool {
        let cp = &self.checkpoint.checkpoint;
        key.verify(&self.checkpoint).is_ok()
            && verify_inclusion(&self.leaf, self.seq, cp.size, &self.proof, &cp.root)
    }
}

/// Leaf hashes and checkpoints of a log (64 bytes a record).
#[derive(Debug, Default)]
pub struct LogIndex {
    tree: MerkleTree,
    checkpoints: Vec<SignedCheckpoint>,
}

impl LogIndex {
    /// An empty index; feed it with [`LogIndex::push_leaf`] and [`LogIndex::push_checkpoint`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a whole source.
    pub fn from_source<S: AuditSource>(source: &S) -> Result<Self, S::Error> {
        let mut index = Self::new();
        for entry in source.entries()? {
            match entry? {
                Entry::Record(r) => index.push_leaf(r.leaf),
                Entry::Checkpoint(cp) => index.push_checkpoint(cp),
            }
        }
        Ok(index)
    }

    /// Appends the next leaf hash.
    pub fn push_leaf(&mut self, leaf: Hash) {
        self.tree.push(leaf);
    }

    /// Adds a checkpoint (its signature is checked when a proof is made).
    pub fn push_checkpoint(&mut self, cp: SignedCheckpoint) {
        self.checkpoints.push(cp);
    }

    /// The tree.
    #[must_use]
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// The latest checkpoint signed by `key` that covers `seq` and matches the records.
    #[must_use]
    pub fn inclusion(&self, seq: u64, key: &VerifierKey) -> Option<InclusionProof> {
        let checkpoint = self
            .checkpoints
            .iter()
            .rev()
            .filter(|cp| cp.checkpoint.size > seq && key.verify(cp).is_ok())
            .find(|cp| self.tree.root_at(cp.checkpoint.size) == Some(cp.checkpoint.root))?
            .clone();
        let proof = self.tree.inclusion_proof(seq, checkpoint.checkpoint.size)?;
        Some(InclusionProof {
            seq,
            leaf: self.tree.leaf(seq)?,
            proof,
            checkpoint,
        })
    }

    /// The consistency proof between two sizes (RFC 9162 §2.1.4.1).
    #[must_use]
    pub fn consistency(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        self.tree.consistency_proof(old, new)
    }
}
