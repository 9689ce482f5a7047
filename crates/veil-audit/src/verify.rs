//! The streaming verifier: recomputes every leaf, the chain and the tree, checks every
//! checkpoint, and names the first record that was modified, deleted, inserted or reordered.
//!
//! Memory is O(log n) (a [`CompactRange`] plus the pending checkpoints), so it verifies a log of
//! any length in one pass. Feed it rows in log order with [`Verifier::record`] and
//! [`Verifier::checkpoint`], then call [`Verifier::finish`].
//!
//! How faults are told apart, for a row claiming `seq` when `expected` is next:
//!
//! - `seq == expected`: the stored leaf hash must equal SHA-256(0x00 || bytes) (else
//!   **modified**), the bytes must decode, carry the same `seq` and chain to the previous
//!   leaf (else **modified**).
//! - `seq > expected`: a gap. The next row decides: if it is `expected`, or goes back below the
//!   gap, rows were **reordered**; otherwise record `expected` was **deleted**.
//! - `seq < expected`: a second row claims a seq already seen: **inserted**.
//! - A checkpoint whose size is beyond the last row: rows were **deleted** from the end.
//!
//! Someone who rewrites every row after a point (recomputing leaf hashes and the chain, which
//! need no secret) is caught by the first signed checkpoint after that point: its root no
//! longer matches. The verifier then reports the checkpoint and the last checkpoint that did
//! match, which brackets the altered records.

use std::collections::BTreeMap;

use crate::checkpoint::{SignedCheckpoint, VerifierKey};
use crate::record::AuditRecord;
use crate::store::StoredRecord;
use crate::tree::{CompactRange, Hash, leaf_hash, verify_consistency};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Its bytes, leaf hash, seq or chain link were changed.
    Modified,
    /// It is missing.
    Deleted,
    /// A row that does not belong to the log.
    Inserted,
    /// Rows are out of order.
    Reordered,
    /// The row cannot be read at all.
    Malformed,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultKind::Modified => "modified",
            FaultKind::Deleted => "deleted",
            FaultKind::Inserted => "inserted",
            FaultKind::Reordered => "reordered",
            FaultKind::Malformed => "malformed",
        })
    }
}

/// The first record fault found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    /// What happened.
    pub kind: FaultKind,
    /// The record's sequence number (the one expected at that place for deletions).
    pub seq: u64,
    /// Where the offending row is (line number in a file, row id in a store).
    pub position: u64,
    /// Explanation, without record content.
    pub detail: String,
}

/// What a fault's `position` counts: lines of a file (position 0 is a kept checkpoint given
/// on the command line), or rows of a database table (by their `seq` or `size` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A line of a log or export file.
    Line,
    /// A row of the store's tables.
    Row,
}

impl RecordFault {
    /// The fault, naming its position as a line or a database row.
    pub fn at(&self, place: Place) -> impl std::fmt::Display + '_ {
        Located(self, place)
    }
}

impl CheckpointFault {
    /// The fault, naming its position as a line or a database row.
    pub fn at(&self, place: Place) -> impl std::fmt::Display + '_ {
        Located(self, place)
    }
}

struct Located<'a, T>(&'a T, Place);

impl std::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Located(self, Place::Line).fmt(f)
    }
}

impl std::fmt::Display for Located<'_, RecordFault> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Located(fault, place) = self;
        let at = match (place, fault.position) {
            (Place::Line, 0) => "against a kept checkpoint".to_string(),
            (Place::Line, p) => format!("at line {p}"),
            (Place::Row, p) => format!("row seq {p} of audit_records"),
        };
        write!(
            f,
            "record {} {} ({at}): {}",
            fault.seq, fault.kind, fault.detail
        )
    }
}

/// What is wrong with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointFaultKind {
    /// Not a readable checkpoint.
    Malformed(String),
    /// Signature missing, from another key, or not valid.
    BadSignature(String),
    /// Signed, but the records do not hash to its root: some record up to its size changed.
    RootMismatch {
        /// The largest size at which an earlier checkpoint still matched (0 if none).
        last_good: u64,
    },
    /// Signed, but placed after records beyond its size (replayed or moved).
    OutOfPlace {
        /// How many records came before it.
        after: u64,
    },
    /// A consistency proof between two checkpoints does not verify.
    BadConsistencyProof {
        /// The other end of the proof.
        to: u64,
    },
}

/// A checkpoint that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFault {
    /// Line (or row) of the checkpoint.
    pub position: u64,
    /// The tree size it claims (0 when unreadable).
    pub size: u64,
    /// What is wrong.
    pub kind: CheckpointFaultKind,
}

impl std::fmt::Display for CheckpointFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Located(self, Place::Line).fmt(f)
    }
}

impl std::fmt::Display for Located<'_, CheckpointFault> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Located(fault, place) = self;
        let at = match (place, fault.position) {
            (Place::Line, 0) => format!("kept checkpoint for size {}", fault.size),
            (Place::Line, p) => format!("checkpoint for size {} (at line {p})", fault.size),
            (Place::Row, p) => format!(
                "checkpoint for size {} (row size {p} of audit_checkpoints)",
                fault.size
            ),
        };
        match &fault.kind {
            CheckpointFaultKind::Malformed(e) => write!(f, "{at}: {e}"),
            CheckpointFaultKind::BadSignature(e) => write!(f, "{at}: {e}"),
            CheckpointFaultKind::RootMismatch { last_good } => write!(
                f,
                "{at}: root does not match the records; records {last_good}..{} were altered",
                fault.size
            ),
            CheckpointFaultKind::OutOfPlace { after } => {
                write!(f, "{at}: appears after {after} records; replayed or moved")
            }
            CheckpointFaultKind::BadConsistencyProof { to } => {
                write!(f, "{at}: consistency proof to size {to} does not verify")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// First seq covered (0 for a whole log).
    pub start: u64,
    /// Tree size reached before the first fault (or at the end).
    pub size: u64,
    /// Checkpoints whose signature and root both verified.
    pub checkpoints_verified: u64,
    /// The largest size covered by a verified checkpoint.
    pub signed_size: Option<u64>,
    /// Consistency proofs verified.
    pub proofs_verified: u64,
    /// True for a selection export: `size` counts the records proven, not a tree size.
    pub selection: bool,
    /// The first record fault, if any.
    pub first_fault: Option<RecordFault>,
    /// Every checkpoint fault.
    pub checkpoint_faults: Vec<CheckpointFault>,
}

impl Report {
    /// True when nothing failed.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.first_fault.is_none() && self.checkpoint_faults.is_empty()
    }
}

/// Streaming verifier. See the module documentation.
#[derive(Debug)]
pub struct Verifier {
    key: VerifierKey,
    tree: CompactRange,
    prev_leaf: Hash,
    held: Option<(u64, u64)>, // (seq, position) of a row that came after a gap
    pending: BTreeMap<u64, Vec<(SignedCheckpoint, u64)>>,
    verified: BTreeMap<u64, Hash>,
    report: Report,
}

impl Verifier {
    /// A verifier for a whole log, from record 0.
    #[must_use]
    pub fn new(key: VerifierKey) -> Self {
        Self::resume(key, CompactRange::new(), [0; 32])
    }

    /// A verifier for a log suffix: `start` is the frontier of the records before it, and
    /// `prev_leaf` the leaf hash of the record just before. Neither is trusted: a wrong
    /// frontier makes every later checkpoint root fail, a wrong `prev_leaf` breaks the chain.
    #[must_use]
    pub fn resume(key: VerifierKey, start: CompactRange, prev_leaf: Hash) -> Self {
        let report = Report {
            start: start.size(),
            size: start.size(),
            ..Report::default()
        };
        Self {
            key,
            tree: start,
            prev_leaf,
            held: None,
            pending: BTreeMap::new(),
            verified: BTreeMap::new(),
            report,
        }
    }

    fn fault(&mut self, kind: FaultKind, seq: u64, position: u64, detail: String) {
        if self.report.first_fault.is_none() {
            self.report.first_fault = Some(RecordFault {
                kind,
                seq,
                position,
                detail,
            });
        }
    }

    /// Whether a record fault was found (later records are then not checked).
    #[must_use]
    pub fn has_fault(&self) -> bool {
        self.report.first_fault.is_some()
    }

    /// A row that could not be read at `position`.
    pub fn malformed(&mut self, position: u64, detail: String) {
        let seq = self.tree.size();
        self.fault(FaultKind::Malformed, seq, position, detail);
    }

    /// The next row of the log.
    pub fn record(&mut self, row: &StoredRecord, position: u64) {
        if self.has_fault() {
            return;
        }
        let expected = self.tree.size();
        if let Some((held_seq, held_pos)) = self.held.take() {
            if row.seq == expected || row.seq < held_seq {
                self.fault(
                    FaultKind::Reordered,
                    expected,
                    held_pos,
                    format!("record {held_seq} comes before record {expected}"),
                );
            } else {
                self.deleted(expected, held_seq, held_pos);
            }
            return;
        }
        if row.seq > expected {
            self.held = Some((row.seq, position));
            return;
        }
        if row.seq < expected {
            let detail = if row.seq + 1 == expected {
                format!("a second row claims seq {}", row.seq)
            } else {
                format!("row claims seq {} after record {}", row.seq, expected - 1)
            };
            self.fault(FaultKind::Inserted, row.seq, position, detail);
            return;
        }
        let leaf = leaf_hash(&row.bytes);
        if leaf != row.leaf {
            self.fault(
                FaultKind::Modified,
                expected,
                position,
                "record bytes do not match their leaf hash".into(),
            );
            return;
        }
        match AuditRecord::decode(&row.bytes) {
            Err(e) => {
                self.fault(FaultKind::Modified, expected, position, e.to_string());
                return;
            }
            Ok(r) if r.seq != row.seq => {
                let d = format!("row says seq {} but its record says {}", row.seq, r.seq);
                self.fault(FaultKind::Modified, expected, position, d);
                return;
            }
            Ok(r) if r.prev_leaf != self.prev_leaf => {
                let d = format!("does not chain to record {}", expected.wrapping_sub(1));
                self.fault(FaultKind::Modified, expected, position, d);
                return;
            }
            Ok(_) => {}
        }
        self.tree.push(leaf);
        self.prev_leaf = leaf;
        self.report.size = self.tree.size();
        if let Some(cps) = self.pending.remove(&self.tree.size()) {
            for (cp, pos) in cps {
                self.check_root(&cp, pos);
            }
        }
    }

    fn deleted(&mut self, expected: u64, next_seen: u64, position: u64) {
        let detail = if next_seen == expected + 1 {
            format!("missing before record {next_seen}")
        } else {
            format!("records {expected}..{next_seen} are missing")
        };
        self.fault(FaultKind::Deleted, expected, position, detail);
    }

    fn check_root(&mut self, cp: &SignedCheckpoint, position: u64) {
        let size = cp.checkpoint.size;
        if self.tree.root() == cp.checkpoint.root {
            self.verified.insert(size, cp.checkpoint.root);
            self.report.checkpoints_verified += 1;
            self.report.signed_size = self.report.signed_size.max(Some(size));
        } else {
            let last_good = self
                .verified
                .range(..size)
                .next_back()
                .map_or(0, |(s, _)| *s);
            self.report.checkpoint_faults.push(CheckpointFault {
                position,
                size,
                kind: CheckpointFaultKind::RootMismatch { last_good },
            });
        }
    }

    /// A checkpoint text that could not be parsed.
    pub fn malformed_checkpoint(&mut self, position: u64, detail: String) {
        self.report.checkpoint_faults.push(CheckpointFault {
            position,
            size: 0,
            kind: CheckpointFaultKind::Malformed(detail),
        });
    }

    /// The next checkpoint, in log order (right after the record that completes its size).
    pub fn checkpoint(&mut self, cp: SignedCheckpoint, position: u64) {
        let size = cp.checkpoint.size;
        if let Err(e) = self.key.verify(&cp) {
            self.report.checkpoint_faults.push(CheckpointFault {
                position,
                size,
                kind: CheckpointFaultKind::BadSignature(e.to_string()),
            });
            return;
        }
        if self.has_fault() || self.held.is_some() {
            // The records are already known bad; the root cannot be checked.
            return;
        }
        let now = self.tree.size();
        if size == now {
            self.check_root(&cp, position);
        } else if size > now {
            self.pending.entry(size).or_default().push((cp, position));
        } else {
            self.report.checkpoint_faults.push(CheckpointFault {
                position,
                size,
                kind: CheckpointFaultKind::OutOfPlace { after: now },
            });
        }
    }

    /// A consistency proof between two checkpoints already verified.
    pub fn consistency(&mut self, from: u64, to: u64, proof: &[Hash], position: u64) {
        let ok = match (self.verified.get(&from), self.verified.get(&to)) {
            (Some(a), Some(b)) => verify_consistency(from, to, a, b, proof),
            _ => false,
        };
        if ok {
            self.report.proofs_verified += 1;
        } else {
            self.report.checkpoint_faults.push(CheckpointFault {
                position,
                size: from,
                kind: CheckpointFaultKind::BadConsistencyProof { to },
            });
        }
    }

    /// Ends the stream and returns the report.
    #[must_use]
    pub fn finish(mut self) -> Report {
        let expected = self.tree.size();
        if let Some((held_seq, held_pos)) = self.held.take() {
            self.deleted(expected, held_seq, held_pos);
        }
        if !self.has_fault()
            && let Some((&size, cps)) = self.pending.iter().next()
        {
            let position = cps.first().map_or(0, |(_, p)| *p);
            let detail = format!(
                "a signed checkpoint covers {size} records but only {expected} are present"
            );
            self.fault(FaultKind::Deleted, expected, position, detail);
        }
        self.report
    }
}
