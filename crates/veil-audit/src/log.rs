//! The writers: number, chain, hash and batch records, and sign checkpoints.
//!
//! - [`AuditLog`]: single-threaded; the caller decides when to [`AuditLog::commit`].
//! - [`GroupCommitLog`]: shared by many threads; [`GroupCommitLog::append_durable`] returns
//!   once the record is on stable storage, and concurrent callers share one write + fsync
//!   (leader/follower group commit, as in database write-ahead logs). This is what the
//!   gateway's `record` stage needs: each request waits for its own record, and throughput
//!   grows with concurrency instead of being capped at one fsync per request.

use std::sync::{Condvar, Mutex, MutexGuard};

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

/// Numbering, chaining, hashing and checkpoint scheduling, without storage.
#[derive(Debug)]
struct Sequencer {
    signer: CheckpointSigner,
    schedule: CheckpointSchedule,
    tree: CompactRange,
    prev_leaf: Hash,
    pending: Vec<StoredRecord>,
}

/// A batch ready to write.
struct Batch {
    records: Vec<StoredRecord>,
    checkpoint: Option<SignedCheckpoint>,
    size: u64,
}

impl Sequencer {
    fn new(state: LogState, signer: CheckpointSigner, policy: CheckpointPolicy) -> Self {
        let (last_size, last_time) = state.last_checkpoint.unwrap_or((0, 0));
        Self {
            signer,
            schedule: CheckpointSchedule::new(policy, last_size, last_time),
            tree: state.frontier,
            prev_leaf: state.last_leaf,
            pending: Vec::new(),
        }
    }

    fn append(&mut self, time_ms: u64, principal: &str, request_id: &str, event: Event) -> u64 {
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
        seq
    }

    /// Takes the pending records and, when due (or forced, for a non-empty tree), a checkpoint.
    /// `None` when there is nothing to write.
    fn take(&mut self, now_ms: u64, force: bool) -> Option<Batch> {
        let size = self.tree.size();
        let sign = if force {
            // Forced: sign unless the tree is empty or already signed at this size.
            size > 0 && size != self.schedule.last_size()
        } else {
            self.schedule.is_due(size, now_ms)
        };
        let checkpoint = sign.then(|| self.signer.sign(size, self.tree.root(), now_ms));
        if self.pending.is_empty() && checkpoint.is_none() {
            return None;
        }
        if checkpoint.is_some() {
            // Optimistic: if the write fails the log is poisoned anyway.
            self.schedule.signed(size, now_ms);
        }
        Some(Batch {
            records: std::mem::take(&mut self.pending),
            checkpoint,
            size,
        })
    }
}

/// An append-only audit log over a sink, for one thread.
///
/// [`AuditLog::append`] numbers and chains a record and buffers it; [`AuditLog::commit`]
/// writes every buffered record (and a checkpoint when the [`CheckpointPolicy`] says one is
/// due) with one durable write.
#[derive(Debug)]
pub struct AuditLog<S: AuditSink> {
    sink: S,
    seq: Sequencer,
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
        let durable = state.frontier.size();
        Self {
            sink,
            seq: Sequencer::new(state, signer, policy),
            durable,
            poisoned: false,
        }
    }

    /// Number of records appended (durable or not).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.seq.tree.size()
    }

    /// Root over every appended record.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.seq.tree.root()
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
        Ok(self.seq.append(time_ms, principal, request_id, event))
    }

    /// Makes every buffered record durable in one write, with a checkpoint if one is due.
    pub fn commit(&mut self, now_ms: u64) -> Result<Commit, LogError<S::Error>> {
        self.write(now_ms, false)
    }

    /// Commits and signs a checkpoint now, whatever the policy (e.g. at shutdown).
    pub fn commit_with_checkpoint(&mut self, now_ms: u64) -> Result<Commit, LogError<S::Error>> {
        self.write(now_ms, true)
    }

    fn write(&mut self, now_ms: u64, force: bool) -> Result<Commit, LogError<S::Error>> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let Some(batch) = self.seq.take(now_ms, force) else {
            return Ok(Commit {
                durable_size: self.durable,
                checkpoint: None,
            });
        };
        if let Err(e) = self.sink.append(&batch.records, batch.checkpoint.as_ref()) {
            self.poisoned = true;
            return Err(LogError::Sink(e));
        }
        self.durable = batch.size;
        Ok(Commit {
            durable_size: batch.size,
            checkpoint: batch.checkpoint,
        })
    }

    /// The sink (e.g. to close it).
    pub fn into_sink(self) -> S {
        self.sink
    }
}

#[derive(Debug)]
struct Shared {
    seq: Sequencer,
    durable: u64,
    leader: bool,
    poisoned: bool,
}

/// An audit log shared by threads, with group commit. See the module documentation.
#[derive(Debug)]
pub struct GroupCommitLog<S: AuditSink> {
    shared: Mutex<Shared>,
    // Only the current leader locks the sink, and never while holding `shared`, so appenders
    // keep appending (into the next batch) during an fsync.
    sink: Mutex<S>,
    durable_changed: Condvar,
}

impl<S: AuditSink> GroupCommitLog<S> {
    /// A shared log continuing from `state`.
    pub fn new(
        sink: S,
        state: LogState,
        signer: CheckpointSigner,
        policy: CheckpointPolicy,
    ) -> Self {
        let durable = state.frontier.size();
        Self {
            shared: Mutex::new(Shared {
                seq: Sequencer::new(state, signer, policy),
                durable,
                leader: false,
                poisoned: false,
            }),
            sink: Mutex::new(sink),
            durable_changed: Condvar::new(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Shared>, LogError<S::Error>> {
        self.shared.lock().map_err(|_| LogError::Poisoned)
    }

    /// Appends a record and returns its seq once it is durable.
    pub fn append_durable(
        &self,
        time_ms: u64,
        principal: &str,
        request_id: &str,
        event: Event,
    ) -> Result<u64, LogError<S::Error>> {
        let mut st = self.lock()?;
        if st.poisoned {
            return Err(LogError::Poisoned);
        }
        let seq = st.seq.append(time_ms, principal, request_id, event);
        loop {
            if st.durable > seq {
                return Ok(seq);
            }
            if st.poisoned {
                return Err(LogError::Poisoned);
            }
            if st.leader {
                st = self
                    .durable_changed
                    .wait(st)
                    .map_err(|_| LogError::Poisoned)?;
                continue;
            }
            // Become the leader: write everything pending, ours included.
            st.leader = true;
            let batch = st.seq.take(time_ms, false);
            let mut guard = LeaderGuard {
                log: self,
                done: false,
            };
            drop(st);
            let result = match &batch {
                Some(b) => {
                    let mut sink = self.sink.lock().map_err(|_| LogError::Poisoned)?;
                    sink.append(&b.records, b.checkpoint.as_ref())
                }
                None => Ok(()),
            };
            st = self.lock()?;
            guard.done = true;
            st.leader = false;
            self.durable_changed.notify_all();
            match (result, batch) {
                (Ok(()), Some(b)) => st.durable = st.durable.max(b.size),
                (Ok(()), None) => {}
                (Err(e), _) => {
                    st.poisoned = true;
                    return Err(LogError::Sink(e));
                }
            }
        }
    }

    /// Writes pending records and a checkpoint if one is due by time; call it from a timer
    /// so that checkpoints come every T even when traffic stops. `force` signs one now.
    pub fn tick(
        &self,
        now_ms: u64,
        force: bool,
    ) -> Result<Option<SignedCheckpoint>, LogError<S::Error>> {
        let mut st = self.lock()?;
        while st.leader {
            st = self
                .durable_changed
                .wait(st)
                .map_err(|_| LogError::Poisoned)?;
        }
        if st.poisoned {
            return Err(LogError::Poisoned);
        }
        let Some(batch) = st.seq.take(now_ms, force) else {
            return Ok(None);
        };
        st.leader = true;
        let mut guard = LeaderGuard {
            log: self,
            done: false,
        };
        drop(st);
        let result = {
            let mut sink = self.sink.lock().map_err(|_| LogError::Poisoned)?;
            sink.append(&batch.records, batch.checkpoint.as_ref())
        };
        let mut st = self.lock()?;
        guard.done = true;
        st.leader = false;
        self.durable_changed.notify_all();
        match result {
            Ok(()) => {
                st.durable = st.durable.max(batch.size);
                Ok(batch.checkpoint)
            }
            Err(e) => {
                st.poisoned = true;
                Err(LogError::Sink(e))
            }
        }
    }

    /// Records durable so far.
    pub fn durable_size(&self) -> Result<u64, LogError<S::Error>> {
        Ok(self.lock()?.durable)
    }
}

/// Clears the leader flag and poisons the log if a leader leaves without finishing (its sink
/// panicked or a lock was poisoned), so that followers get an error instead of waiting forever.
struct LeaderGuard<'a, S: AuditSink> {
    log: &'a GroupCommitLog<S>,
    done: bool,
}

impl<S: AuditSink> Drop for LeaderGuard<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            let mut st = self
                .log
                .shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st.leader = false;
            st.poisoned = true;
            drop(st);
            self.log.durable_changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DecisionEvent, Verdict};
    use crate::store::{AuditSource, Entry, MemoryLog};

    #[derive(Debug, Default)]
    struct CountingSink {
        inner: MemoryLog,
        writes: usize,
        fail_after: Option<usize>,
    }

    impl AuditSink for CountingSink {
        type Error = std::io::Error;
        fn append(
            &mut self,
            r: &[StoredRecord],
            c: Option<&SignedCheckpoint>,
        ) -> Result<(), std::io::Error> {
            if self.fail_after.is_some_and(|n| self.writes >= n) {
                return Err(std::io::Error::other("disk full"));
            }
            self.writes += 1;
            let Ok(()) = self.inner.append(r, c);
            Ok(())
        }
    }

    fn event() -> Event {
        Event::Decision(DecisionEvent {
            action: "chat".into(),
            verdict: Verdict::Allow,
            reasons: vec![],
            classes: Default::default(),
        })
    }

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed("veil.test/audit", &[1; 32]).unwrap()
    }

    #[test]
    fn concurrent_appends_are_durable_unique_and_batched() {
        let policy = CheckpointPolicy {
            every_records: 50,
            every_ms: u64::MAX,
        };
        let log = GroupCommitLog::new(
            CountingSink::default(),
            LogState::default(),
            signer(),
            policy,
        );
        let seqs = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for t in 0..8 {
                let (log, seqs) = (&log, &seqs);
                s.spawn(move || {
                    for i in 0..50 {
                        let seq = log
                            .append_durable(i, &format!("t{t}"), "r", event())
                            .unwrap();
                        // Durable on return.
                        assert!(log.durable_size().unwrap() > seq);
                        seqs.lock().unwrap().push(seq);
                    }
                });
            }
        });
        let mut seqs = seqs.into_inner().unwrap();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
        log.tick(0, true).unwrap();
        let sink = log.sink.into_inner().unwrap();
        assert!(sink.writes <= 401);
        // The stored log is consecutive and chained: the verifier accepts it.
        let mut v = crate::Verifier::new(signer().verifier());
        for (pos, e) in sink.inner.entries().unwrap().enumerate() {
            match e.unwrap() {
                Entry::Record(r) => v.record(&r, pos as u64),
                Entry::Checkpoint(cp) => v.checkpoint(cp, pos as u64),
            }
        }
        let report = v.finish();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.size, 400);
        assert_eq!(report.signed_size, Some(400));
    }

    #[test]
    fn a_failed_write_fails_closed() {
        let sink = CountingSink {
            fail_after: Some(1),
            ..CountingSink::default()
        };
        let log = GroupCommitLog::new(
            sink,
            LogState::default(),
            signer(),
            CheckpointPolicy::default(),
        );
        assert_eq!(log.append_durable(0, "p", "r", event()).unwrap(), 0);
        assert!(matches!(
            log.append_durable(0, "p", "r", event()),
            Err(LogError::Sink(_))
        ));
        assert!(matches!(
            log.append_durable(0, "p", "r", event()),
            Err(LogError::Poisoned)
        ));
        assert_eq!(log.durable_size().unwrap(), 1);

        let sink = CountingSink {
            fail_after: Some(0),
            ..CountingSink::default()
        };
        let mut single = AuditLog::new(
            sink,
            LogState::default(),
            signer(),
            CheckpointPolicy::default(),
        );
        single.append(0, "p", "r", event()).unwrap();
        assert!(matches!(single.commit(0), Err(LogError::Sink(_))));
        assert!(matches!(
            single.append(0, "p", "r", event()),
            Err(LogError::Poisoned)
        ));
    }

    #[derive(Debug)]
    struct PanickingSink;

    impl AuditSink for PanickingSink {
        type Error = std::io::Error;
        fn append(
            &mut self,
            _: &[StoredRecord],
            _: Option<&SignedCheckpoint>,
        ) -> Result<(), std::io::Error> {
            panic!("driver bug");
        }
    }

    #[test]
    fn a_panicking_sink_poisons_instead_of_hanging_followers() {
        let log = GroupCommitLog::new(
            PanickingSink,
            LogState::default(),
            signer(),
            CheckpointPolicy::default(),
        );
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            log.append_durable(0, "p", "r", event())
        }));
        assert!(first.is_err(), "the leader's sink panicked");
        assert!(matches!(
            log.append_durable(0, "p", "r", event()),
            Err(LogError::Poisoned)
        ));
        assert!(matches!(log.tick(0, true), Err(LogError::Poisoned)));
    }

    #[test]
    fn tick_signs_by_time_even_without_traffic() {
        let policy = CheckpointPolicy {
            every_records: 1000,
            every_ms: 100,
        };
        let log = GroupCommitLog::new(
            CountingSink::default(),
            LogState::default(),
            signer(),
            policy,
        );
        log.append_durable(0, "p", "r", event()).unwrap();
        assert!(log.tick(50, false).unwrap().is_none(), "not due yet");
        let cp = log.tick(150, false).unwrap().unwrap();
        assert_eq!(cp.checkpoint.size, 1);
        assert!(log.tick(1000, false).unwrap().is_none(), "nothing new");
        assert!(
            log.tick(2000, true).unwrap().is_none(),
            "already signed at this size"
        );
    }
}
