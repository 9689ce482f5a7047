//! Group commit for a busy log: [`AuditWriter`].
//!
//! [`AuditStore::audit_append`] is the simple way in: one call, one transaction that locks
//! the head, reads it, sequences the records and writes them back. A gateway appends
//! thousands of records a second from many tasks, each waiting for its own record to be
//! durable, and on that path most of a batch's time goes to round trips and CPU, not to the
//! disk. The writer differs in three ways:
//!
//! - **A connection of its own** (file SQLite), opened with `synchronous = FULL` for its whole
//!   life, so a batch is `BEGIN`, head update, inserts, `COMMIT` and nothing else (the
//!   locked path also switches the pragma twice and reads the head).
//! - **Optimistic sequencing.** The writer keeps the head in memory and numbers, chains and
//!   hashes each record as it arrives, before any transaction. The transaction's first
//!   statement advances the head row *only if* it still holds the size and last leaf the
//!   batch continues (`… WHERE size = $6 AND last_leaf = $7`). That statement takes SQLite's
//!   write lock or PostgreSQL's row lock (PostgreSQL re-checks the condition after waiting for
//!   the lock), so the one-sequencer invariant of the module holds. If another writer (a CLI
//!   key change, another replica) appended in between, the update matches no row, the
//!   transaction rolls back, and the batch's records are appended again through the locked
//!   path, which cannot conflict; the writer then reloads the head.
//! - **A pipeline.** The commit runs in its own task while the writer task keeps receiving
//!   and sequencing records into the next batch, so that batch is ready the moment the
//!   commit returns, holding every record that arrived during the fsync.
//!
//! Each waiter gets one `oneshot` and the seq of its record; nothing else is allocated per
//! record beyond its row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{
    ADVANCE_HEAD, AuditSigning, AuditStore, Batch, Head, HeadRow, INSERT_CHECKPOINT, INSERT_CHUNK,
    INSERT_RECORDS, NewAuditRecord, READ_HEAD,
};
use crate::error::{Kind, StoreError, to_i64};
use crate::store::{Pool, Store};

/// Most records committed in one transaction; more wait for the next one.
pub const MAX_BATCH: usize = 1024;

/// Where a waiter learns its record's seq, or `None` when it could not be committed.
type Reply = oneshot::Sender<Option<u64>>;

// Nearly every job is an `Append`; boxing the record would add an allocation per record
// to spare the one `Close` at shutdown a few bytes.
#[allow(clippy::large_enum_variant)]
enum Job {
    Append {
        record: NewAuditRecord,
        done: Option<Reply>,
    },
    Close(oneshot::Sender<()>),
}

/// Handle on a group-commit writer task (see the module docs). Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    tx: mpsc::UnboundedSender<Job>,
    /// Time of the newest checkpoint committed, unix ms; 0 before the head is read.
    last_checkpoint_ms: Arc<AtomicU64>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl AuditWriter {
    /// Spawns the writer task on the current tokio runtime. It opens its connection and reads
    /// the head when it starts (and again after a failure); records that arrive while it
    /// cannot are refused, never queued unsequenced.
    pub fn spawn(store: Store, signing: Arc<AuditSigning>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let last_checkpoint_ms = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            store,
            signing,
            last_checkpoint_ms: last_checkpoint_ms.clone(),
        };
        tokio::spawn(writer.run(rx));
        Self {
            tx,
            last_checkpoint_ms,
        }
    }

    /// Appends a record and waits until it is durable; returns its seq.
    pub async fn append(&self, record: NewAuditRecord) -> Result<u64, StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Append {
                record,
                done: Some(done),
            })
            .map_err(|_| Kind::Unavailable("the audit writer stopped"))?;
        match wait.await {
            Ok(Some(seq)) => Ok(seq),
            _ => Err(Kind::Unavailable("the audit record was not committed").into()),
        }
    }

    /// Queues a record without waiting for it. False when the writer has stopped.
    pub fn append_detached(&self, record: NewAuditRecord) -> bool {
        self.tx.send(Job::Append { record, done: None }).is_ok()
    }

    /// Commits what is queued, signs a checkpoint over it and stops the writer.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// True once the writer task has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Time of the newest signed checkpoint (unix ms), once the writer has read the head.
    pub fn last_checkpoint_ms(&self) -> Option<u64> {
        Some(self.last_checkpoint_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }
}

/// How often the writer checks whether a checkpoint is due by time.
fn tick_period(every_ms: u64) -> Duration {
    Duration::from_millis((every_ms / 4).clamp(50, 1000))
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The next batch: sequenced records and, aligned with them, their waiters.
struct Pending {
    batch: Batch,
    waiters: Vec<Option<Reply>>,
}

impl Pending {
    fn after(head: Head) -> Self {
        Self {
            batch: Batch::after(head),
            waiters: Vec::new(),
        }
    }

    fn push(&mut self, record: NewAuditRecord, done: Option<Reply>) {
        match self.batch.push(record) {
            Ok(()) => self.waiters.push(done),
            Err(err) => {
                tracing::error!(error = %err, "audit record cannot be sequenced");
                reply(done, None);
            }
        }
    }

    /// The same records sequenced again after `head` (the head moved under them).
    fn rebase(self, head: Head) -> Self {
        let mut out = Self::after(head);
        match self.batch.records() {
            Ok(records) => {
                for (record, done) in records.into_iter().zip(self.waiters) {
                    out.push(record, done);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "audit batch cannot be sequenced again");
                self.waiters.into_iter().for_each(|done| reply(done, None));
            }
        }
        out
    }
}

fn reply(done: Option<Reply>, seq: Option<u64>) {
    if let Some(done) = done {
        let _ = done.send(seq);
    }
}

/// What a finished commit hands back: the connection, and the head read afresh when the
/// batch did not continue the one the writer held.
type Landed = (Option<SqliteConnection>, Option<Head>);

struct Writer {
    store: Store,
    signing: Arc<AuditSigning>,
    last_checkpoint_ms: Arc<AtomicU64>,
}

impl Writer {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut conn = None;
        let mut next: Option<Pending> = None;
        let mut flight: Option<JoinHandle<Landed>> = None;
        let mut closing = false;
        let mut close_reply = None;
        let mut final_sealed = false;
        let mut ticker = tokio::time::interval(tick_period(self.signing.policy.every_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tick = false;
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        loop {
            if next.is_none() && flight.is_none() {
                match self.open(conn.take()).await {
                    Ok((c, head)) => {
                        conn = c;
                        next = Some(Pending::after(head));
                    }
                    Err(err) => tracing::error!(error = %err, "audit writer cannot read the head"),
                }
            }
            let room = next
                .as_ref()
                .map_or(MAX_BATCH, |p| MAX_BATCH - p.batch.len().min(MAX_BATCH));
            tokio::select! {
                received = rx.recv_many(&mut jobs, room.max(1)), if !closing && room > 0 => {
                    closing |= received == 0;
                    for job in jobs.drain(..) {
                        match job {
                            Job::Append { record, done } => match &mut next {
                                Some(pending) => pending.push(record, done),
                                // No head to sequence after: refuse (fail closed).
                                None => reply(done, None),
                            },
                            Job::Close(done) => {
                                closing = true;
                                close_reply = Some(done);
                            }
                        }
                    }
                }
                landed = async {
                    match &mut flight {
                        Some(handle) => handle.await,
                        None => std::future::pending().await,
                    }
                } => {
                    flight = None;
                    match landed {
                        Ok((c, fresh)) => {
                            conn = c;
                            if let Some(head) = fresh {
                                next = Some(match next.take() {
                                    Some(pending) => pending.rebase(head),
                                    None => Pending::after(head),
                                });
                            }
                        }
                        Err(err) => {
                            // The commit task died: its waiters were dropped (they see an
                            // error); read the head again before going on.
                            tracing::error!(error = %err, "audit commit task failed");
                            if let Some(pending) = next.take() {
                                pending.waiters.into_iter().for_each(|done| reply(done, None));
                            }
                        }
                    }
                }
                _ = ticker.tick(), if flight.is_none() && !closing => tick = true,
                else => break,
            }
            if flight.is_none()
                && let Some(pending) = next.as_mut()
                && (pending.batch.len() > 0 || tick || (closing && !final_sealed))
            {
                tick = false;
                let now = now_ms();
                // The closing batch signs whatever the tree holds.
                let force = closing;
                final_sealed |= force;
                if conn.is_none() && self.store.sqlite_file() {
                    conn = self.store.audit_connection().await.unwrap_or_else(|err| {
                        tracing::error!(error = %err, "audit writer cannot open its connection");
                        None
                    });
                }
                if force && pending.batch.len() == 0 {
                    // Another writer (the CLI, another replica) may have appended since this
                    // writer last read the head: the closing checkpoint signs the tail the
                    // database holds, not the one this writer knows. (With records in the
                    // batch a moved head fails the fast path, and the locked path signs the
                    // fresh tail.)
                    match read_head(&self.store, conn.as_mut()).await {
                        Ok(head) => *pending = Pending::after(head),
                        Err(err) => {
                            tracing::error!(error = %err, "audit writer cannot read the head");
                        }
                    }
                }
                pending.batch.seal(&self.signing, now, force);
                let follow = Pending::after(pending.batch.head.clone());
                let launched = std::mem::replace(pending, follow);
                if launched.batch.len() > 0 || launched.batch.checkpoint.is_some() {
                    let task = Commit {
                        store: self.store.clone(),
                        signing: self.signing.clone(),
                        last_checkpoint_ms: self.last_checkpoint_ms.clone(),
                        now_ms: now,
                        force,
                    };
                    flight = Some(tokio::spawn(task.run(conn.take(), launched)));
                }
            }
            if closing && flight.is_none() && (final_sealed || next.is_none()) {
                break;
            }
        }
        // Refuse what comes after, then tell the closer (who may check `is_closed`).
        drop(rx);
        if let Some(done) = close_reply {
            let _ = done.send(());
        }
    }

    /// The writer's connection (file SQLite: its own, at `synchronous = FULL`; otherwise
    /// the pool serves) and the head.
    async fn open(
        &self,
        conn: Option<SqliteConnection>,
    ) -> Result<(Option<SqliteConnection>, Head), StoreError> {
        let mut conn = match conn {
            Some(conn) => Some(conn),
            None => self.store.audit_connection().await?,
        };
        let head = read_head(&self.store, conn.as_mut()).await?;
        self.last_checkpoint_ms
            .store(head.checkpoint_time_ms, Ordering::Relaxed);
        Ok((conn, head))
    }
}

async fn read_head(store: &Store, conn: Option<&mut SqliteConnection>) -> Result<Head, StoreError> {
    let row: HeadRow = match (conn, &store.pool) {
        (Some(conn), _) => sqlx::query_as(READ_HEAD).fetch_one(conn).await?,
        (None, Pool::Sqlite(pool)) => sqlx::query_as(READ_HEAD).fetch_one(pool).await?,
        (None, Pool::Postgres(pool)) => sqlx::query_as(READ_HEAD).fetch_one(pool).await?,
    };
    Head::try_from(row)
}

/// One batch's commit, in its own task.
struct Commit {
    store: Store,
    signing: Arc<AuditSigning>,
    last_checkpoint_ms: Arc<AtomicU64>,
    now_ms: u64,
    force: bool,
}

/// The fast path in transaction `$tx`: advance the head if it is still the batch's base,
/// insert, commit. `Ok(false)` when the head had moved (nothing written).
macro_rules! advance_in {
    ($db:ty, $tx:expr, $batch:expr) => {{
        let mut tx = $tx;
        // INVARIANT: as in `append_in`, the first statement writes the head row.
        let advanced = bind_head!(ADVANCE_HEAD, $batch.head)
            .bind(to_i64($batch.base.0, "audit size")?)
            .bind($batch.base.1.to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if advanced == 1 {
            insert_batch!($db, tx, $batch);
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }};
}

impl Commit {
    async fn run(self, mut conn: Option<SqliteConnection>, pending: Pending) -> Landed {
        let Pending { batch, waiters } = pending;
        let fast = self.advance(conn.as_mut(), &batch).await;
        if let Err(err) = &fast {
            tracing::error!(error = %err, size = batch.len(), "audit batch failed");
            // The connection may be broken: open a fresh one on the next batch.
            conn = None;
        }
        if let Ok(true) = fast {
            let first = batch.base.0;
            for (i, done) in waiters.into_iter().enumerate() {
                reply(done, Some(first + i as u64));
            }
            if let Some(cp) = &batch.checkpoint {
                self.last_checkpoint_ms
                    .store(cp.checkpoint.time_ms, Ordering::Relaxed);
            }
            return (conn, None);
        }
        // The head moved under the batch, or the commit failed (nothing of it was written:
        // one transaction). Append the records again through the locked path.
        self.append_locked(&batch, waiters).await;
        let fresh = match conn.as_mut() {
            Some(conn) => read_head(&self.store, Some(conn)).await,
            None => read_head(&self.store, None).await,
        };
        match fresh {
            Ok(head) => {
                self.last_checkpoint_ms
                    .store(head.checkpoint_time_ms, Ordering::Relaxed);
                (conn, Some(head))
            }
            Err(err) => {
                // Keep the stale head: the next batch conflicts and comes back here.
                tracing::error!(error = %err, "audit writer cannot read the head");
                (conn, None)
            }
        }
    }

    async fn advance(
        &self,
        conn: Option<&mut SqliteConnection>,
        batch: &Batch,
    ) -> Result<bool, StoreError> {
        if self.store.is_closed() {
            return Err(Kind::Unavailable("the store is closed").into());
        }
        match (conn, &self.store.pool) {
            (Some(conn), _) => {
                let _turn = self.store.write_turn().await;
                advance_in!(sqlx::Sqlite, sqlx::Connection::begin(conn).await?, batch)
            }
            // A memory database has no disk to sync and one connection: the pool's.
            (None, Pool::Sqlite(pool)) if self.store.memory => {
                advance_in!(sqlx::Sqlite, pool.begin().await?, batch)
            }
            // A file database whose own connection is gone: only the locked path is durable.
            (None, Pool::Sqlite(_)) => Ok(false),
            (None, Pool::Postgres(pool)) => advance_in!(sqlx::Postgres, pool.begin().await?, batch),
        }
    }

    /// Appends the batch's records in one locked transaction, or one by one if that fails
    /// (so that one bad record does not fail its neighbours).
    async fn append_locked(&self, batch: &Batch, waiters: Vec<Option<Reply>>) {
        let records = match batch.records() {
            Ok(records) => records,
            Err(err) => {
                tracing::error!(error = %err, "audit batch cannot be sequenced again");
                waiters.into_iter().for_each(|done| reply(done, None));
                return;
            }
        };
        let (store, signing) = (&self.store, &*self.signing);
        match store
            .audit_append(&records, signing, self.now_ms, self.force)
            .await
        {
            Ok(appended) => {
                for (i, done) in waiters.into_iter().enumerate() {
                    reply(done, Some(appended.first_seq + i as u64));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, size = records.len(), "audit batch failed, retrying singly");
                for (record, done) in records.iter().zip(waiters) {
                    let seq = store
                        .audit_append(std::slice::from_ref(record), signing, self.now_ms, false)
                        .await
                        .inspect_err(
                            |err| tracing::error!(error = %err, "audit record write failed"),
                        )
                        .ok()
                        .map(|a| a.first_seq);
                    reply(done, seq);
                }
            }
        }
    }
}
