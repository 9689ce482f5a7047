//! `veil-audit`: the tamper-evident audit log.
//!
//! Every audit event (request, response, decision, key change, policy change, data release)
//! becomes an [`AuditRecord`] with a canonical, versioned binary encoding
//! ([`record`] documents it byte by byte). Records hold no sensitive text: data classes and
//! counts, verdicts, keyed digests of prompt and answer ([`TextDigester`]), optionally the
//! protected text, optionally the original sealed under a per-subject key ([`SubjectKey`],
//! AES-256-GCM-SIV) so that destroying the key erases it without breaking the log.
//!
//! Each record is a leaf of an RFC 6962/9162 Merkle tree ([`tree`]): leaf hash
//! SHA-256(0x00 || bytes), node hash SHA-256(0x01 || left || right); each record also chains to
//! the previous leaf hash. [`AuditLog`] appends (O(log n)), batches records into one durable
//! write per commit (group commit through an [`AuditSink`]) and signs checkpoints in the C2SP
//! `tlog-checkpoint` format ([`checkpoint`]) every N records or T milliseconds. [`MerkleTree`]
//! serves roots at any size, inclusion and consistency proofs; [`verify_inclusion`] and
//! [`verify_consistency`] check them.
//!
//! [`Verifier`] re-checks a log in one streaming pass and reports the first record that was
//! modified, deleted, inserted or reordered and every checkpoint that fails; [`verify_file`]
//! does that offline for a log or export file ([`export`]) with only the [`VerifierKey`].
//!
//! ```
//! use veil_audit::{
//!     AuditLog, CheckpointPolicy, CheckpointSigner, DecisionEvent, Event, FileLog, Verdict,
//!     derive_key, verify_file, SIGNING_KEY_INFO,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let seed = derive_key(b"root key from the deployment (32 random bytes)", SIGNING_KEY_INFO);
//! let signer = CheckpointSigner::from_seed("veil.example/audit", &seed)?;
//! let key = signer.verifier();
//!
//! let sink = FileLog::create(&path, &key)?;
//! let policy = CheckpointPolicy { every_records: 2, every_ms: 10_000 };
//! let mut log = AuditLog::new(sink, Default::default(), signer, policy);
//! for i in 0..3u64 {
//!     let event = Event::Decision(DecisionEvent {
//!         action: "chat".into(),
//!         verdict: Verdict::Deny,
//!         reasons: vec!["forbid-ssn".into()],
//!         classes: [("US_SSN".to_string(), 1)].into_iter().collect(),
//!     });
//!     log.append(1_764_000_000_000 + i, "key:alice", &format!("req-{i}"), event)?;
//! }
//! log.commit_with_checkpoint(1_764_000_000_100)?; // one fsync for the three records
//!
//! let report = verify_file(std::io::BufReader::new(std::fs::File::open(&path)?), &key)?;
//! assert!(report.is_ok());
//! assert_eq!(report.size, 3);
//! assert_eq!(report.signed_size, Some(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod crypto;
pub mod export;
pub mod index;
pub mod log;
pub mod record;
pub mod store;
pub mod tree;
pub mod verify;

pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointPolicy, CheckpointSchedule, CheckpointSigner,
    SignedCheckpoint, VerifierKey,
};
pub use crypto::{
    DIGEST_KEY_INFO, DigestWriter, SIGNING_KEY_INFO, SealError, SubjectKey, TextDigester,
    derive_key,
};
pub use export::{
    ExportError, ExportRange, Line, verify_file, verify_file_with, write_export, write_selection,
};
pub use index::{InclusionProof, LogIndex};
pub use log::{AuditLog, Commit, GroupCommitLog, LogError};
pub use record::{
    AuditRecord, ClassCounts, DataReleaseEvent, DecisionEvent, DecodeError, Event, KeyChange,
    KeyChangeEvent, PolicyChangeEvent, RequestEvent, ResponseEvent, SealedText, Verdict,
};
pub use store::{
    AuditSink, AuditSource, Entry, FileLog, FileLogError, FileSource, LogState, MemoryLog,
    StoredRecord,
};
pub use tree::{
    CompactRange, EMPTY_ROOT, Hash, MerkleTree, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};
pub use verify::{
    CheckpointFault, CheckpointFaultKind, FaultKind, Place, RecordFault, Report, Verifier,
};
