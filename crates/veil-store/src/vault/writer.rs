//! Group commit for the vault: [`VaultWriter`].
//!
//! A new conversation's first request writes its mappings before anything is forwarded, so
//! that write is on the path of every such request. [`VaultStore::put_entries`] called per
//! request pays its own statements, round trips and commit for every request, and on SQLite
//! the requests' writes queue for the one write lock. The writer instead takes every request that is waiting
//! when the previous transaction ends and writes them all in one transaction, so under load a
//! commit serves many requests; with one request waiting it is the plain call.
//!
//! The outcome for each request is what separate transactions in arrival order would give:
//! `put_entries` inserts the batch's rows in order with `ON CONFLICT DO NOTHING`, so a value
//! mapped by an earlier request of the batch keeps that mapping (the later request adopts
//! it), and a placeholder an earlier request took for another value comes back as `None`
//! (the later request reloads and assigns again). The one exception: on SQLite, an entry
//! blocked only by an *expired* mapping goes in after the rest of the batch (see
//! [`VaultStore::put_entries`]); requests still agree on every value's placeholder.
//!
//! The writer also deletes expired mappings from the whole vault at a fixed period
//! ([`PURGE_EVERY`]), so that an expired original does not stay on disk, even encrypted,
//! in a conversation nobody writes to again.
//!
//! When a batch of several requests fails, each request is retried in a transaction of its
//! own, so that one request's failure does not fail the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{VaultEntry, VaultStore};
use crate::error::{Kind, StoreError};
use crate::store::Store;

/// Most entries written in one transaction; a request arriving beyond that waits for the
/// next one (a request is never split).
pub(crate) const MAX_BATCH_ENTRIES: usize = 4096;

/// How often the writer deletes expired mappings.
pub const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What [`VaultStore::put_entries`] returns for one request.
type Outcome = Result<Vec<Option<VaultEntry>>, StoreError>;

struct Job {
    entries: Vec<VaultEntry>,
    now: i64,
    done: oneshot::Sender<Outcome>,
}

/// Handle on a group-commit vault writer task (see the module docs). Cloning is cheap; the
/// task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct VaultWriter {
    tx: mpsc::UnboundedSender<Job>,
    /// Batches written so far (each one transaction, unless it failed and was split).
    batches: Arc<AtomicU64>,
}

impl VaultWriter {
    /// Spawns the writer task on the current tokio runtime, purging every [`PURGE_EVERY`].
    pub fn spawn(store: Store) -> Self {
        Self::spawn_purging_every(store, PURGE_EVERY)
    }

    /// [`VaultWriter::spawn`] with another purge period (tests).
    pub fn spawn_purging_every(store: Store, purge_every: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let batches = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(store, rx, batches.clone(), purge_every));
        Self { tx, batches }
    }

    /// How many batches the writer has written: fewer than requests when they were
    /// committed together.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// [`VaultStore::put_entries`] through the writer: the same result, committed together
    /// with the other requests waiting at the same time.
    pub async fn put_entries(&self, entries: Vec<VaultEntry>, now: i64) -> Outcome {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let stopped = || StoreError::from(Kind::Unavailable("the vault writer has stopped"));
        let (done, reply) = oneshot::channel();
        self.tx
            .send(Job { entries, now, done })
            .map_err(|_| stopped())?;
        reply.await.map_err(|_| stopped())?
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Job>,
    batches: Arc<AtomicU64>,
    purge_every: Duration,
) {
    // The first purge one period after start, not at once.
    let mut purge =
        tokio::time::interval_at(tokio::time::Instant::now() + purge_every, purge_every);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = purge.tick() => {
                purge_expired(&store).await;
                continue;
            }
        };
        let mut count = first.entries.len();
        batch.push(first);
        while count < MAX_BATCH_ENTRIES {
            let Ok(job) = rx.try_recv() else { break };
            count += job.entries.len();
            batch.push(job);
        }
        commit(&store, std::mem::take(&mut batch)).await;
        batches.fetch_add(1, Ordering::Relaxed);
    }
}

async fn purge_expired(store: &Store) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match store.purge_expired(now).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "expired vault mappings deleted"),
        // The next period tries again; a request meeting an expired mapping deletes it.
        Err(err) => tracing::warn!(error = %err, "vault purge failed"),
    }
}

async fn commit(store: &Store, mut batch: Vec<Job>) {
    if batch.len() == 1
        && let Some(job) = batch.pop()
    {
        let outcome = store.put_entries(&job.entries, job.now).await;
        let _ = job.done.send(outcome);
        return;
    }
    // Later requests' clocks are at least as late: expired rows are expired for all.
    let now = batch.iter().map(|job| job.now).max().unwrap_or_default();
    let mut all = Vec::with_capacity(batch.iter().map(|job| job.entries.len()).sum());
    let mut waiters = Vec::with_capacity(batch.len());
    for job in batch {
        let start = all.len();
        all.extend(job.entries);
        waiters.push((start..all.len(), job.now, job.done));
    }
    match store.put_entries(&all, now).await {
        Ok(mut rows) => {
            // Hand each request its part, last first so every split is at the end.
            for (range, _, done) in waiters.into_iter().rev() {
                let part = rows.split_off(range.start);
                let _ = done.send(Ok(part));
            }
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                requests = waiters.len(),
                "vault batch failed; writing its requests one by one"
            );
            for (range, now, done) in waiters {
                let entries = all.get(range).unwrap_or_default();
                let _ = done.send(store.put_entries(entries, now).await);
            }
        }
    }
}
