//! The tamper-evident audit log in the database: [`AuditStore`].
//!
//! Three tables (see the `audit_log` migration): `audit_records` (seq, leaf hash, canonical
//! bytes, plus query columns derived from the bytes), `audit_checkpoints` (signed notes by
//! tree size) and `audit_head`, one row holding what the next append continues from (tree
//! frontier, last leaf, last checkpoint).
//!
//! **One sequencer.** [`AuditStore::audit_append`] numbers, chains and hashes records *inside*
//! the append transaction, after updating the head row: the update takes SQLite's write lock or
//! PostgreSQL's row lock, so concurrent writers (tasks, processes, gateway replicas) queue on
//! it and seq order is commit order. A record's seq and chain link are in its bytes, so they
//! cannot be assigned before the lock is held; that is why this store, not the caller's
//! in-memory `veil_audit::GroupCommitLog`, sequences. Group commit is the caller passing many
//! records to one call (the gateway's recorder does).
//!
//! **Reading.** [`AuditStore::audit_page`] returns records and checkpoints in log order, a
//! page at a time; [`verify_audit`] streams them through `veil_audit::Verifier`;
//! [`BlockingAudit`] adapts the store to the synchronous `AuditSource`/`AuditSink` traits so
//! every `veil-audit` tool (export, selection export, proofs) runs on it unchanged.
//!
//! Only the bytes and leaf columns are evidence. Query columns (`principal`, `time_ms`, …)
//! only narrow a search: [`AuditStore::audit_query`] decodes every row it returns and checks
//! the filter again against the bytes, so an edited index column can hide a row from a query
//! but never make a wrong row match (and `verify` catches the edit of the bytes themselves).

use std::collections::VecDeque;
use std::future::Future;

use veil_audit::{
    AuditRecord, AuditSink, AuditSource, CheckpointPolicy, CheckpointSchedule, CheckpointSigner,
    CompactRange, DataReleaseEvent, Entry, Event, Hash, InclusionProof, MerkleTree, Report,
    SignedCheckpoint, StoredRecord, Verdict, Verifier, VerifierKey, leaf_hash,
};

use crate::error::{Kind, StoreError, to_i64, to_u64};
use crate::store::{Store, with_pool};

/// Rows per multi-row `INSERT` (8 parameters a row, under both databases' limits).
const INSERT_CHUNK: usize = 1000;

/// A record to append; the store gives it its seq and chain link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// When it happened, unix milliseconds.
    pub time_ms: u64,
    /// Who acted (an API key id, an operator), never a secret.
    pub principal: String,
    /// Links the records of one request (empty for events outside a request).
    pub request_id: String,
    /// What happened.
    pub event: Event,
}

/// How appended records are signed: the checkpoint key (derived from the root key, never
/// stored in the database) and when to sign.
#[derive(Debug)]
pub struct AuditSigning {
    /// The Ed25519 checkpoint signer.
    pub signer: CheckpointSigner,
    /// Every N records or T milliseconds.
    pub policy: CheckpointPolicy,
}

/// What one append made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the first record appended (equal to `size` when none were).
    pub first_seq: u64,
    /// Tree size after the append.
    pub size: u64,
    /// The checkpoint signed in the same transaction, if one was due.
    pub checkpoint: Option<SignedCheckpoint>,
}

/// A query over the log. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Records of this principal.
    pub principal: Option<String>,
    /// Records at or after this time (unix milliseconds).
    pub since_ms: Option<u64>,
    /// Records carrying this verdict (requests and decisions).
    pub verdict: Option<Verdict>,
    /// Records of this request.
    pub request_id: Option<String>,
    /// Records with a seq at or above this one (paging).
    pub from_seq: Option<u64>,
    /// At most this many records.
    pub limit: u32,
}

impl AuditQuery {
    /// Whether a decoded record matches (checked against the bytes, not the index columns).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == record.principal)
            && self.since_ms.is_none_or(|t| record.time_ms >= t)
            && self
                .verdict
                .is_none_or(|v| record.event.verdict() == Some(v))
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| *r == record.request_id)
            && self.from_seq.is_none_or(|s| record.seq >= s)
    }
}

/// One row of the log as read back, in log order, with its place in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditRow {
    /// A record row. `position` is its `seq` column; the record's own seq (from its bytes
    /// when they decode, so that a swapped row reads as out of order) is in `record.seq`.
    Record {
        /// The row's `seq` column.
        position: u64,
        /// Seq, leaf and bytes.
        record: StoredRecord,
    },
    /// A checkpoint row, placed right after the record completing its `size` column.
    Checkpoint {
        /// The row's `size` column.
        position: u64,
        /// The signed note text, unparsed.
        text: String,
    },
}

/// Where [`AuditStore::audit_page`] continues from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCursor {
    next_seq: u64,
    checkpoints_after: Option<u64>,
    done: bool,
}

impl AuditCursor {
    /// True once the last page was returned.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The tamper-evident audit log in SQL.
pub trait AuditStore {
    /// Appends `records` in one transaction, numbering and chaining them after the last
    /// committed record, and signs a checkpoint in the same transaction when the policy says
    /// one is due (or when `force` is set and the tree grew since the last one). Durable on
    /// `Ok`. An empty `records` only signs a checkpoint if one is due (the timer's call).
    fn audit_append(
        &self,
        records: &[NewAuditRecord],
        signing: &AuditSigning,
        now_ms: u64,
        force: bool,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;

    /// Appends records numbered and chained by the caller (`veil_audit::AuditLog` or a log
    /// file being imported) and an optional checkpoint; refuses records that do not continue
    /// the log exactly.
    fn audit_import(
        &self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Number of records committed (the head's tree size).
    fn audit_size(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The next page of the log (about `page` records and the checkpoints among them).
    fn audit_page(
        &self,
        cursor: &mut AuditCursor,
        page: u32,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;

    /// Decoded records matching `query`, in log order. Rows whose bytes do not decode are
    /// skipped (`verify` reports them).
    fn audit_query(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<(StoredRecord, AuditRecord)>, StoreError>> + Send;

    /// The checkpoint with the largest size, unparsed.
    fn audit_latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Every checkpoint text, by size.
    fn audit_checkpoints(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Leaf hashes of records `0..size`, in seq order (for proofs).
    fn audit_leaves(&self, size: u64)
    -> impl Future<Output = Result<Vec<Hash>, StoreError>> + Send;

    /// The first seq whose record time is at or after `since_ms` (the log size when none).
    fn audit_first_since(
        &self,
        since_ms: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    size: i64,
    last_leaf: Vec<u8>,
    frontier: Vec<u8>,
    checkpoint_size: i64,
    checkpoint_time_ms: i64,
}

/// The writer's state, read and updated under the head row's lock.
#[derive(Debug, Clone)]
struct Head {
    frontier: CompactRange,
    last_leaf: Hash,
    checkpoint_size: u64,
    checkpoint_time_ms: u64,
}

impl TryFrom<HeadRow> for Head {
    type Error = StoreError;
    fn try_from(row: HeadRow) -> Result<Self, StoreError> {
        let size = to_u64(row.size, "audit_head", "size")?;
        let hashes = split_hashes(&row.frontier)
            .ok_or_else(|| StoreError::corrupt("audit_head", "frontier"))?;
        let frontier = CompactRange::from_parts(size, hashes)
            .ok_or_else(|| StoreError::corrupt("audit_head", "frontier"))?;
        Ok(Self {
            frontier,
            last_leaf: to_hash(&row.last_leaf)
                .ok_or_else(|| StoreError::corrupt("audit_head", "last_leaf"))?,
            checkpoint_size: to_u64(row.checkpoint_size, "audit_head", "checkpoint_size")?,
            checkpoint_time_ms: to_u64(row.checkpoint_time_ms, "audit_head", "checkpoint_time_ms")?,
        })
    }
}

fn split_hashes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes.chunks_exact(32).map(to_hash).collect()
}

fn to_hash(bytes: &[u8]) -> Option<Hash> {
    <Hash>::try_from(bytes).ok()
}

/// Bound values of one record row.
struct RecordValues {
    seq: i64,
    time_ms: i64,
    principal: String,
    request_id: String,
    kind: i64,
    verdict: Option<i64>,
    leaf: Vec<u8>,
    bytes: Vec<u8>,
}

fn kind_code(event: &Event) -> i64 {
    match event {
        Event::Request(_) => 1,
        Event::Response(_) => 2,
        Event::Decision(_) => 3,
        Event::KeyChange(_) => 4,
        Event::PolicyChange(_) => 5,
        Event::DataRelease(_) => 6,
    }
}

fn verdict_code(verdict: Option<Verdict>) -> Option<i64> {
    verdict.map(|v| match v {
        Verdict::Allow => 1,
        Verdict::Deny => 2,
    })
}

/// The row of `record` (moved: its strings become the index columns).
fn values(record: AuditRecord, leaf: Hash, bytes: Vec<u8>) -> Result<RecordValues, StoreError> {
    Ok(RecordValues {
        seq: to_i64(record.seq, "audit seq")?,
        time_ms: to_i64(record.time_ms, "audit time")?,
        kind: kind_code(&record.event),
        verdict: verdict_code(record.event.verdict()),
        principal: record.principal,
        request_id: record.request_id,
        leaf: leaf.to_vec(),
        bytes,
    })
}

/// Records numbered, chained and hashed after a known head, ready to insert: the work of an
/// append that needs no database, so a writer can do it before its transaction starts (see
/// [`AuditWriter`]).
struct Batch {
    /// Size and last leaf of the head this batch continues.
    base: (u64, Hash),
    /// The head after the batch (and its checkpoint, once sealed).
    head: Head,
    rows: Vec<RecordValues>,
    checkpoint: Option<SignedCheckpoint>,
}

impl Batch {
    fn after(head: Head) -> Self {
        Self {
            base: (head.frontier.size(), head.last_leaf),
            head,
            rows: Vec::new(),
            checkpoint: None,
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Numbers, chains and hashes one record after the last.
    fn push(&mut self, new: NewAuditRecord) -> Result<(), StoreError> {
        let record = AuditRecord {
            seq: self.head.frontier.size(),
            time_ms: new.time_ms,
            prev_leaf: self.head.last_leaf,
            principal: new.principal,
            request_id: new.request_id,
            event: new.event,
        };
        let bytes = record.encode();
        let leaf = leaf_hash(&bytes);
        self.rows.push(values(record, leaf, bytes)?);
        self.head.frontier.push(leaf);
        self.head.last_leaf = leaf;
        Ok(())
    }

    /// Signs a checkpoint over the batch when the policy says one is due at `now_ms`, or
    /// when `force` is set and the tree grew since the last one.
    fn seal(&mut self, signing: &AuditSigning, now_ms: u64, force: bool) {
        let head = &mut self.head;
        let size = head.frontier.size();
        let schedule = CheckpointSchedule::new(
            signing.policy,
            head.checkpoint_size,
            head.checkpoint_time_ms,
        );
        let sign = if force {
            size > 0 && size != head.checkpoint_size
        } else {
            schedule.is_due(size, now_ms)
        };
        self.checkpoint = sign.then(|| signing.signer.sign(size, head.frontier.root(), now_ms));
        if self.checkpoint.is_some() {
            head.checkpoint_size = size;
            head.checkpoint_time_ms = now_ms;
        }
    }

    fn appended(&self) -> Appended {
        Appended {
            first_seq: self.base.0,
            size: self.head.frontier.size(),
            checkpoint: self.checkpoint.clone(),
        }
    }

    /// The records back, as they were before sequencing (to append them again elsewhere).
    fn records(&self) -> Result<Vec<NewAuditRecord>, StoreError> {
        self.rows
            .iter()
            .map(|row| {
                let record = AuditRecord::decode(&row.bytes)
                    .map_err(|_| StoreError::corrupt("audit_records", "bytes"))?;
                Ok(NewAuditRecord {
                    time_ms: record.time_ms,
                    principal: record.principal,
                    request_id: record.request_id,
                    event: record.event,
                })
            })
            .collect()
    }
}

const LOCK_HEAD: &str = "UPDATE audit_head SET size = size WHERE id = 1";
const READ_HEAD: &str = "SELECT size, last_leaf, frontier, checkpoint_size, checkpoint_time_ms \
     FROM audit_head WHERE id = 1";
const WRITE_HEAD: &str = "UPDATE audit_head SET size = $1, last_leaf = $2, frontier = $3, \
     checkpoint_size = $4, checkpoint_time_ms = $5 WHERE id = 1";
/// [`WRITE_HEAD`] only if the head is still the one the batch continues (`$6`, `$7`).
const ADVANCE_HEAD: &str = "UPDATE audit_head SET size = $1, last_leaf = $2, frontier = $3, \
     checkpoint_size = $4, checkpoint_time_ms = $5 WHERE id = 1 AND size = $6 AND last_leaf = $7";
const INSERT_RECORDS: &str =
    "INSERT INTO audit_records (seq, time_ms, principal, request_id, kind, verdict, leaf, bytes) ";
const INSERT_CHECKPOINT: &str =
    "INSERT INTO audit_checkpoints (size, time_ms, text) VALUES ($1, $2, $3)";

/// `$query` (one of the head updates) with the head's five values bound.
macro_rules! bind_head {
    ($query:expr, $head:expr) => {
        sqlx::query($query)
            .bind(to_i64($head.frontier.size(), "audit size")?)
            .bind($head.last_leaf.to_vec())
            .bind($head.frontier.hashes().concat())
            .bind(to_i64($head.checkpoint_size, "checkpoint size")?)
            .bind(to_i64($head.checkpoint_time_ms, "checkpoint time")?)
    };
}

/// Inserts a batch's rows and checkpoint in transaction `$tx`.
macro_rules! insert_batch {
    ($db:ty, $tx:expr, $batch:expr) => {{
        for chunk in $batch.rows.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::<$db>::new(INSERT_RECORDS);
            insert.push_values(chunk, |mut b, r| {
                b.push_bind(r.seq)
                    .push_bind(r.time_ms)
                    .push_bind(&r.principal)
                    .push_bind(&r.request_id)
                    .push_bind(r.kind)
                    .push_bind(r.verdict)
                    .push_bind(&r.leaf)
                    .push_bind(&r.bytes);
            });
            insert.build().execute(&mut *$tx).await?;
        }
        if let Some(cp) = &$batch.checkpoint {
            sqlx::query(INSERT_CHECKPOINT)
                .bind(to_i64(cp.checkpoint.size, "checkpoint size")?)
                .bind(to_i64(cp.checkpoint.time_ms, "checkpoint time")?)
                .bind(cp.to_text())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// The body of an append, inside a transaction `$tx` that it commits: lock and read the head,
/// `prepare` the batch from it, insert, write the head back.
macro_rules! append_in {
    ($db:ty, $tx:expr, |$head:ident| $prepare:expr) => {{
        let mut tx = $tx;
        // INVARIANT: the first statement of every append writes the head row, so writers are
        // serialized before any of them reads it (no stale read, no lock upgrade).
        sqlx::query(LOCK_HEAD).execute(&mut *tx).await?;
        let row: HeadRow = sqlx::query_as(READ_HEAD).fetch_one(&mut *tx).await?;
        let $head = Head::try_from(row)?;
        let (batch, out): (Batch, _) = $prepare;
        insert_batch!($db, tx, batch);
        bind_head!(WRITE_HEAD, batch.head).execute(&mut *tx).await?;
        tx.commit().await?;
        out
    }};
}

/// Runs [`append_in`] in a durable transaction on either backend.
///
/// Durable means on disk, not in the OS cache. PostgreSQL fsyncs its WAL at commit
/// (`synchronous_commit = on`, the default). The store opens SQLite with `synchronous =
/// NORMAL`, which survives a process crash but not a power cut; this path switches its
/// pooled connection to `FULL` (the WAL is fsynced at each commit) and back, so only audit
/// appends pay for it. [`AuditWriter`] keeps a connection at `FULL` instead.
macro_rules! locked_append {
    ($store:expr, |$head:ident| $prepare:expr) => {{
        match &$store.pool {
            crate::store::Pool::Sqlite(pool) => {
                let _turn = $store.write_turn().await;
                let mut conn = pool.acquire().await?;
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut *conn)
                    .await?;
                let out = append_in!(
                    sqlx::Sqlite,
                    sqlx::Connection::begin(&mut *conn).await?,
                    |$head| $prepare
                );
                sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *conn)
                    .await?;
                out
            }
            crate::store::Pool::Postgres(pool) => {
                append_in!(sqlx::Postgres, pool.begin().await?, |$head| $prepare)
            }
        }
    }};
}

fn sequence(
    head: Head,
    records: &[NewAuditRecord],
    signing: &AuditSigning,
    now_ms: u64,
    force: bool,
) -> Result<(Batch, Appended), StoreError> {
    let mut batch = Batch::after(head);
    for new in records {
        batch.push(new.clone())?;
    }
    batch.seal(signing, now_ms, force);
    let appended = batch.appended();
    Ok((batch, appended))
}

fn continue_with(
    head: Head,
    records: &[StoredRecord],
    checkpoint: Option<&SignedCheckpoint>,
) -> Result<(Batch, ()), StoreError> {
    let mut batch = Batch::after(head);
    for stored in records {
        let head = &mut batch.head;
        let record = AuditRecord::decode(&stored.bytes)
            .map_err(|_| StoreError::corrupt("audit_records", "bytes"))?;
        let continues = stored.seq == head.frontier.size()
            && record.seq == stored.seq
            && record.prev_leaf == head.last_leaf
            && leaf_hash(&stored.bytes) == stored.leaf;
        if !continues {
            return Err(Kind::Conflict("audit_records").into());
        }
        head.frontier.push(stored.leaf);
        head.last_leaf = stored.leaf;
        batch
            .rows
            .push(values(record, stored.leaf, stored.bytes.clone())?);
    }
    if let Some(cp) = checkpoint {
        let head = &mut batch.head;
        if cp.checkpoint.size != head.frontier.size() || cp.checkpoint.root != head.frontier.root()
        {
            return Err(Kind::Conflict("audit_checkpoints").into());
        }
        head.checkpoint_size = cp.checkpoint.size;
        head.checkpoint_time_ms = cp.checkpoint.time_ms;
        batch.checkpoint = Some(cp.clone());
    }
    Ok((batch, ()))
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    seq: i64,
    leaf: Vec<u8>,
    bytes: Vec<u8>,
}

impl RecordRow {
    /// The row as the verifier sees it: the seq its bytes claim (when they decode) and the
    /// stored leaf (zeros when the column is not a hash, which then fails verification).
    fn into_stored(self) -> Result<(u64, StoredRecord, Option<AuditRecord>), StoreError> {
        let position = to_u64(self.seq, "audit_records", "seq")?;
        let decoded = AuditRecord::decode(&self.bytes).ok();
        let record = StoredRecord {
            seq: decoded.as_ref().map_or(position, |r| r.seq),
            leaf: to_hash(&self.leaf).unwrap_or([0; 32]),
            bytes: self.bytes,
        };
        Ok((position, record, decoded))
    }
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    size: i64,
    text: String,
}

impl AuditStore for Store {
    async fn audit_append(
        &self,
        records: &[NewAuditRecord],
        signing: &AuditSigning,
        now_ms: u64,
        force: bool,
    ) -> Result<Appended, StoreError> {
        Ok(locked_append!(self, |head| sequence(
            head, records, signing, now_ms, force
        )?))
    }

    async fn audit_import(
        &self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), StoreError> {
        locked_append!(self, |head| continue_with(head, records, checkpoint)?);
        Ok(())
    }

    async fn audit_size(&self) -> Result<u64, StoreError> {
        let size: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        to_u64(size, "audit_head", "size")
    }

    async fn audit_page(
        &self,
        cursor: &mut AuditCursor,
        page: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        if cursor.done {
            return Ok(Vec::new());
        }
        let after = cursor
            .checkpoints_after
            .map_or(Ok(-1), |s| to_i64(s, "size"))?;
        let from = to_i64(cursor.next_seq, "seq")?;
        let (records, checkpoints): (Vec<RecordRow>, Vec<CheckpointRow>) = with_pool!(self, pool => {
            let records: Vec<RecordRow> = sqlx::query_as(
                "SELECT seq, leaf, bytes FROM audit_records WHERE seq >= $1 ORDER BY seq LIMIT $2",
            )
            .bind(from)
            .bind(i64::from(page.max(1)))
            .fetch_all(pool)
            .await?;
            // Checkpoints up to the end of this page, or every remaining one on the last page.
            let upto = match records.last() {
                Some(last) => last.seq.saturating_add(1),
                None => i64::MAX,
            };
            let checkpoints: Vec<CheckpointRow> = sqlx::query_as(
                "SELECT size, text FROM audit_checkpoints WHERE size > $1 AND size <= $2 \
                 ORDER BY size",
            )
            .bind(after)
            .bind(upto)
            .fetch_all(pool)
            .await?;
            (records, checkpoints)
        });
        if records.is_empty() {
            cursor.done = true;
        }
        let mut out = Vec::with_capacity(records.len() + checkpoints.len());
        let mut checkpoints = checkpoints.into_iter().peekable();
        for row in records {
            let (position, record, _) = row.into_stored()?;
            cursor.next_seq = position + 1;
            out.push(AuditRow::Record { position, record });
            while let Some(cp) = checkpoints.next_if(|cp| cp.size <= cursor.next_seq as i64) {
                let position = to_u64(cp.size, "audit_checkpoints", "size")?;
                cursor.checkpoints_after = Some(position);
                out.push(AuditRow::Checkpoint {
                    position,
                    text: cp.text,
                });
            }
        }
        for cp in checkpoints {
            let position = to_u64(cp.size, "audit_checkpoints", "size")?;
            cursor.checkpoints_after = Some(position);
            out.push(AuditRow::Checkpoint {
                position,
                text: cp.text,
            });
        }
        Ok(out)
    }

    async fn audit_query(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<(StoredRecord, AuditRecord)>, StoreError> {
        let mut sql = String::from("SELECT seq, leaf, bytes FROM audit_records WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if query.principal.is_some() {
            sql += &format!(" AND principal = ${}", next());
        }
        if query.since_ms.is_some() {
            sql += &format!(" AND time_ms >= ${}", next());
        }
        if query.verdict.is_some() {
            sql += &format!(" AND verdict = ${}", next());
        }
        if query.request_id.is_some() {
            sql += &format!(" AND request_id = ${}", next());
        }
        if query.from_seq.is_some() {
            sql += &format!(" AND seq >= ${}", next());
        }
        sql += &format!(" ORDER BY seq LIMIT ${}", next());
        let since = query.since_ms.map(|t| to_i64(t, "since")).transpose()?;
        let from = query.from_seq.map(|s| to_i64(s, "seq")).transpose()?;
        let verdict = verdict_code(query.verdict);
        let rows: Vec<RecordRow> = with_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql);
            if let Some(p) = &query.principal {
                q = q.bind(p);
            }
            if let Some(t) = since {
                q = q.bind(t);
            }
            if let Some(v) = verdict {
                q = q.bind(v);
            }
            if let Some(r) = &query.request_id {
                q = q.bind(r);
            }
            if let Some(s) = from {
                q = q.bind(s);
            }
            q.bind(i64::from(query.limit)).fetch_all(pool).await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let (_, stored, Some(record)) = row.into_stored()?
                && query.matches(&record)
            {
                out.push((stored, record));
            }
        }
        Ok(out)
    }

    async fn audit_latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT text FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        }))
    }

    async fn audit_checkpoints(&self) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT text FROM audit_checkpoints ORDER BY size")
                .fetch_all(pool)
                .await?
        }))
    }

    async fn audit_leaves(&self, size: u64) -> Result<Vec<Hash>, StoreError> {
        let size = to_i64(size, "size")?;
        let leaves: Vec<Vec<u8>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT leaf FROM audit_records WHERE seq < $1 ORDER BY seq")
                .bind(size)
                .fetch_all(pool)
                .await?
        });
        leaves
            .iter()
            .map(|l| to_hash(l).ok_or_else(|| StoreError::corrupt("audit_records", "leaf")))
            .collect()
    }

    async fn audit_first_since(&self, since_ms: u64) -> Result<u64, StoreError> {
        let since = to_i64(since_ms, "since")?;
        let first: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(seq) FROM audit_records WHERE time_ms >= $1")
                .bind(since)
                .fetch_one(pool)
                .await?
        });
        match first {
            Some(seq) => to_u64(seq, "audit_records", "seq"),
            None => self.audit_size().await,
        }
    }
}

impl Store {
    /// Appends one event and signs a checkpoint covering it, in one transaction: the call
    /// for tools that write now and then (key changes from the CLI, a data release, a
    /// privacy-budget spend), so their record is signed at once instead of waiting for the
    /// gateway's next checkpoint. Returns the record's seq.
    pub async fn audit_append_signed(
        &self,
        signing: &AuditSigning,
        principal: &str,
        request_id: &str,
        event: Event,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let record = NewAuditRecord {
            time_ms: now_ms,
            principal: principal.to_owned(),
            request_id: request_id.to_owned(),
            event,
        };
        let appended = self
            .audit_append(std::slice::from_ref(&record), signing, now_ms, true)
            .await?;
        Ok(appended.first_seq)
    }

    /// Records a dataset release (anonymize, dp, synth): one call, signed at once. `actor` is
    /// who released it; `release` holds the tool, the released file's SHA-256, rows, ε spent
    /// and k reached.
    pub async fn audit_data_release(
        &self,
        signing: &AuditSigning,
        actor: &str,
        release: DataReleaseEvent,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        self.audit_append_signed(signing, actor, "", Event::DataRelease(release), now_ms)
            .await
    }
}

/// Records read per page when streaming the log.
pub const PAGE: u32 = 10_000;

/// Recomputes every leaf, the chain, the tree and every checkpoint of the log in the
/// database, streaming a page at a time, and reports the first fault (`veil audit verify`).
pub async fn verify_audit(store: &Store, key: &VerifierKey) -> Result<Report, StoreError> {
    let mut verifier = Verifier::new(key.clone());
    let mut cursor = AuditCursor::default();
    while !cursor.is_done() {
        for row in store.audit_page(&mut cursor, PAGE).await? {
            match row {
                AuditRow::Record { position, record } => verifier.record(&record, position),
                AuditRow::Checkpoint { position, text } => match SignedCheckpoint::parse(&text) {
                    Ok(cp) => verifier.checkpoint(cp, position),
                    Err(e) => verifier.malformed_checkpoint(position, e.to_string()),
                },
            }
        }
    }
    Ok(verifier.finish())
}

/// The inclusion proof of record `seq` into the latest checkpoint signed by `key` that
/// covers it and matches the stored leaves. `None` when no such checkpoint exists yet.
pub async fn audit_inclusion(
    store: &Store,
    seq: u64,
    key: &VerifierKey,
) -> Result<Option<InclusionProof>, StoreError> {
    let mut checkpoints = Vec::new();
    for text in store.audit_checkpoints().await? {
        if let Ok(cp) = SignedCheckpoint::parse(&text)
            && cp.checkpoint.size > seq
            && key.verify(&cp).is_ok()
        {
            checkpoints.push(cp);
        }
    }
    let Some(largest) = checkpoints.last().map(|cp| cp.checkpoint.size) else {
        return Ok(None);
    };
    let tree = tree_of(store, largest).await?;
    let Some(checkpoint) = checkpoints
        .into_iter()
        .rev()
        .find(|cp| tree.root_at(cp.checkpoint.size) == Some(cp.checkpoint.root))
    else {
        return Ok(None);
    };
    let (Some(proof), Some(leaf)) = (
        tree.inclusion_proof(seq, checkpoint.checkpoint.size),
        tree.leaf(seq),
    ) else {
        return Ok(None);
    };
    Ok(Some(InclusionProof {
        seq,
        leaf,
        proof,
        checkpoint,
    }))
}

/// The consistency proof between tree sizes `from` and `to` (RFC 9162 §2.1.4), from the
/// stored leaves. `None` when the sizes are not `0 < from <= to <= size`.
pub async fn audit_consistency(
    store: &Store,
    from: u64,
    to: u64,
) -> Result<Option<Vec<Hash>>, StoreError> {
    if from == 0 || from > to || to > store.audit_size().await? {
        return Ok(None);
    }
    Ok(tree_of(store, to).await?.consistency_proof(from, to))
}

async fn tree_of(store: &Store, size: u64) -> Result<MerkleTree, StoreError> {
    let mut tree = MerkleTree::new();
    for leaf in store.audit_leaves(size).await? {
        tree.push(leaf);
    }
    Ok(tree)
}

/// The store behind the synchronous `veil-audit` traits, for the tools written against them
/// (`write_export`, `write_selection`, `LogIndex`, `AuditLog`). Each call blocks on the
/// given runtime: use it from a plain thread or `spawn_blocking`, never from async code.
#[derive(Debug, Clone)]
pub struct BlockingAudit {
    store: Store,
    runtime: tokio::runtime::Handle,
}

impl BlockingAudit {
    /// Wraps `store`, blocking on `runtime`.
    pub fn new(store: Store, runtime: tokio::runtime::Handle) -> Self {
        Self { store, runtime }
    }
}

impl AuditSink for BlockingAudit {
    type Error = StoreError;

    fn append(
        &mut self,
        records: &[StoredRecord],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.store.audit_import(records, checkpoint))
    }
}

impl AuditSource for BlockingAudit {
    type Error = StoreError;

    fn entries(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Entry, StoreError>> + '_>, StoreError> {
        Ok(Box::new(Entries {
            audit: self,
            cursor: AuditCursor::default(),
            buffer: VecDeque::new(),
            failed: false,
        }))
    }
}

struct Entries<'a> {
    audit: &'a BlockingAudit,
    cursor: AuditCursor,
    buffer: VecDeque<AuditRow>,
    failed: bool,
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.is_empty() && !self.cursor.is_done() && !self.failed {
            let page = self
                .audit
                .runtime
                .block_on(self.audit.store.audit_page(&mut self.cursor, PAGE));
            match page {
                Ok(rows) => self.buffer.extend(rows),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        Some(match self.buffer.pop_front()? {
            AuditRow::Record { record, .. } => Ok(Entry::Record(record)),
            AuditRow::Checkpoint { text, .. } => SignedCheckpoint::parse(&text)
                .map(Entry::Checkpoint)
                .map_err(|_| StoreError::corrupt("audit_checkpoints", "text")),
        })
    }
}

mod writer;
pub use writer::AuditWriter;
