//! The writer: numbers, chains, hashes and batches records, and signs checkpoints.

use crate::checkpoint::{CheckpointPolicy, CheckpointSchedule, CheckpointSigner, SignedCheckpoint};
use crate::record::{AuditRecord, Event};
use crate::store::{AuditSink, LogState, StoredRecord};
use crate::tree::{CompactRange, Hash, leaf_hash};

/// Why the log refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError<E: std::error::Error + 'static> {
    /// The sink failed; the batch is not durable. The log refuses further work (fail closed:
    /// the gateway answers 503 rather than forward an unrecorded request).
    #[error("audit sink failed; the batch is not durable")]
    Sink(#[source] E),
    /// An earlier sink failure left the log in an unknown state; reopen it.
    #[error("audit log is poisoned by an earlier write failure; reopen it")]
    Poisoned,
}

/// What a commit made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Records durable after this commit (the tree size).
    pub durable_size: u64,
    /// The checkpoint signed with this batch, if the policy asked for one.
    pub checkpoint: Option<SignedCheckpoint>,
}

/// An append-only audit log over a sink.
///
/// [`AuditLog::append`] numbers and chains a record and buffers it; [`AuditLog::commit`]
/// writes every buffered record (and a checkpoint when the [`CheckpointPolicy`] says one is
/// due) with one durable write. A gateway calls `append` for each request and lets one
/// committer call `commit` for many at once: group commit.
#[derive(Debug)]
pub struct AuditLog<S: AuditSink> {
    sink: S,
    signer: CheckpointSigner,
    schedule: CheckpointSchedule,
    tree: CompactRange,
    prev_leaf: Hash,
    pending: Vec<StoredRecord>,
    durable: u64,
    poisoned: bool,
}

impl<S: AuditSink> AuditLog<S> {
    /// A log continuing from `state` (use `LogState::default()` for a new one).
    pub fn new(
        sink: S,
        state: LogState,
        signer: CheckpointSigner,
        policy: CheckpointPolicy,
    ) -> Self {
        let (last_size, last_time) = state.last_checkpoint.unwrap_or((0, 0));
        Self {
            sink,
            signer,
            schedule: CheckpointSchedule::new(policy, last_size, last_time),
            durable: state.frontier.size(),
            tree: state.frontier,
            prev_leaf: state.last_leaf,
            pending: Vec::new(),
            poisoned: false,
        }
    }

    /// Number of records appended (durable or not).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Root over every appended record.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// Buffers a record; returns its seq. Not durable until [`AuditLog::commit`].
    pub fn append(
        &mut self,
        time_ms: u64,
        principal: &str,
        request_id: &str,
        event: Event,
    ) -> Result<u64, LogError<S::Error>> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let seq = self.tree.size();
        let record = AuditRecord {
            seq,
            time_ms,
            prev_leaf: self.prev_leaf,
            principal: principal.to_string(),
            request_id: request_id.to_string(),
            event,
        };
        let bytes = record.encode();
        let leaf = leaf_hash(&bytes);
        self.tree.push(leaf);
        self.prev_leaf = leaf;
        self.pending.push(StoredRecord { seq, leaf, bytes });
        Ok(seq)
    }

    /// Makes every buffered record durable in one write, with a checkpoint if one is due.
    pub fn commit(&mut self, now_ms: u64) -> Result<Commit, LogError<S::Error>> {
        let due = self.schedule.is_due(self.tree.size(), now_ms);
        self.write(now_ms, due)
    }

    /// Commits and signs a checkpoint now, whatever the policy (e.g. at shutdown).
    pub fn commit_with_checkpoint(&mut self, now_ms: u64) -> Result<Commit, LogError<S::Error>> {
        let force = self.tree.size() > 0;
        self.write(now_ms, force)
    }

    fn write(&mut self, now_ms: u64, sign: bool) -> Result<Commit, LogError<S::Error>> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let size = self.tree.size();
        let checkpoint = sign.then(|| self.signer.sign(size, self.tree.root(), now_ms));
        if self.pending.is_empty() && checkpoint.is_none() {
            return Ok(Commit {
                durable_size: self.durable,
                checkpoint: None,
            });
        }
        if let Err(e) = self.sink.append(&self.pending, checkpoint.as_ref()) {
            self.poisoned = true;
            return Err(LogError::Sink(e));
        }
        self.pending.clear();
        self.durable = size;
        if checkpoint.is_some() {
            self.schedule.signed(size, now_ms);
        }
        Ok(Commit {
            durable_size: size,
            checkpoint,
        })
    }

    /// The sink (e.g. to close it).
    pub fn into_sink(self) -> S {
        self.sink
    }
}
