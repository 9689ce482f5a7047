//! The record of each exchange: [`ExchangeStore`].
//!
//! The log is append-only: a request record is written (and committed) before anything is
//! forwarded upstream, and a response record follows, linked by `request_id`. Each row keeps
//! its sequence number and the canonical bytes of the record, so a tamper-evident Merkle log
//! can hash `canonical` as its leaf in `seq` order without a schema change.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, to_i64, to_u64};
use crate::store::{Store, with_pool};

/// Which half of an exchange a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Written before the request is forwarded.
    Request,
    /// Written when the answer (or the error) is complete.
    Response,
}

impl RecordKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "request" => Ok(Self::Request),
            "response" => Ok(Self::Response),
            _ => Err(StoreError::corrupt("exchange_records", "kind")),
        }
    }
}

/// What Veil records about one half of an exchange. Never message content: only who, when,
/// what model, the outcome, counts and a salted hash of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    /// The request id (also sent to the caller as `x-request-id`).
    pub request_id: String,
    /// Request or response half.
    pub kind: RecordKind,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The API key id of the caller, when authenticated.
    pub key_id: Option<String>,
    /// The caller's tenant, when authenticated.
    pub tenant: Option<String>,
    /// The route, for example `/v1/chat/completions`.
    pub route: String,
    /// The public model name, when known.
    pub model: Option<String>,
    /// HTTP status returned to the caller (response records).
    pub status: Option<u16>,
    /// Total latency in milliseconds (response records).
    pub latency_ms: Option<u64>,
    /// Time spent waiting on the upstream in milliseconds (response records).
    pub upstream_latency_ms: Option<u64>,
    /// Prompt tokens: estimated in request records, from usage in response records.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens (response records).
    pub completion_tokens: Option<u64>,
    /// Salted hash of the request body as received (lowercase hex).
    pub request_hash: Option<String>,
}

/// Version tag of the canonical encoding; bump it, never change it in place.
const CANONICAL_VERSION: u32 = 1;

#[derive(Serialize)]
struct Canonical<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a ExchangeRecord,
}

impl ExchangeRecord {
    /// The canonical bytes of this record: compact JSON with fields in declaration order and
    /// a version tag. These are the bytes a Merkle leaf hashes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let canonical = Canonical {
            v: CANONICAL_VERSION,
            record: self,
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }
}

/// A record as stored, with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the append-only log (strictly increasing).
    pub seq: i64,
    /// The record.
    pub record: ExchangeRecord,
    /// The canonical bytes written with it.
    pub canonical: Vec<u8>,
}

/// Storage of exchange records.
pub trait ExchangeStore {
    /// Appends records in one transaction (group commit) and returns their sequence
    /// numbers, in order. When this returns `Ok`, every record is durable.
    fn append_records(
        &self,
        records: &[ExchangeRecord],
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;
    /// The records of one request (request and response halves), in log order.
    fn records_for(
        &self,
        request_id: &str,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, StoreError>> + Send;
    /// Up to `limit` records with `seq > after`, in log order.
    fn records_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, StoreError>> + Send;
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    seq: i64,
    request_id: String,
    kind: String,
    at_ms: i64,
    key_id: Option<String>,
    tenant: Option<String>,
    route: String,
    model: Option<String>,
    status: Option<i64>,
    latency_ms: Option<i64>,
    upstream_latency_ms: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    request_hash: Option<String>,
    canonical: Vec<u8>,
}

const COLUMNS: &str = "seq, request_id, kind, at_ms, key_id, tenant, route, model, status, \
     latency_ms, upstream_latency_ms, prompt_tokens, completion_tokens, request_hash, canonical";

const INSERT: &str = "INSERT INTO exchange_records (request_id, kind, at_ms, key_id, tenant, \
     route, model, status, latency_ms, upstream_latency_ms, prompt_tokens, completion_tokens, \
     request_hash, canonical) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     RETURNING seq";

fn opt_out(value: Option<i64>, column: &'static str) -> Result<Option<u64>, StoreError> {
    value
        .map(|v| to_u64(v, "exchange_records", column))
        .transpose()
}

fn opt_in(value: Option<u64>, what: &'static str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

impl TryFrom<RecordRow> for StoredRecord {
    type Error = StoreError;
    fn try_from(row: RecordRow) -> Result<Self, StoreError> {
        let status = row
            .status
            .map(|s| {
                u16::try_from(s).map_err(|_| StoreError::corrupt("exchange_records", "status"))
            })
            .transpose()?;
        Ok(Self {
            seq: row.seq,
            record: ExchangeRecord {
                kind: RecordKind::parse(&row.kind)?,
                request_id: row.request_id,
                at_ms: row.at_ms,
                key_id: row.key_id,
                tenant: row.tenant,
                route: row.route,
                model: row.model,
                status,
                latency_ms: opt_out(row.latency_ms, "latency_ms")?,
                upstream_latency_ms: opt_out(row.upstream_latency_ms, "upstream_latency_ms")?,
                prompt_tokens: opt_out(row.prompt_tokens, "prompt_tokens")?,
                completion_tokens: opt_out(row.completion_tokens, "completion_tokens")?,
                request_hash: row.request_hash,
            },
            canonical: row.canonical,
        })
    }
}

struct Bound {
    latency_ms: Option<i64>,
    upstream_latency_ms: Option<i64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    canonical: Vec<u8>,
}

fn bind_values(record: &ExchangeRecord) -> Result<Bound, StoreError> {
    Ok(Bound {
        latency_ms: opt_in(record.latency_ms, "latency_ms")?,
        upstream_latency_ms: opt_in(record.upstream_latency_ms, "upstream_latency_ms")?,
        prompt_tokens: opt_in(record.prompt_tokens, "prompt_tokens")?,
        completion_tokens: opt_in(record.completion_tokens, "completion_tokens")?,
        canonical: record.canonical_bytes(),
    })
}

impl ExchangeStore for Store {
    async fn append_records(&self, records: &[ExchangeRecord]) -> Result<Vec<i64>, StoreError> {
        let bound = records
            .iter()
            .map(bind_values)
            .collect::<Result<Vec<_>, _>>()?;
        let mut seqs = Vec::with_capacity(records.len());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (record, b) in records.iter().zip(&bound) {
                let seq: i64 = sqlx::query_scalar(INSERT)
                    .bind(&record.request_id)
                    .bind(record.kind.as_str())
                    .bind(record.at_ms)
                    .bind(&record.key_id)
                    .bind(&record.tenant)
                    .bind(&record.route)
                    .bind(&record.model)
                    .bind(record.status.map(i64::from))
                    .bind(b.latency_ms)
                    .bind(b.upstream_latency_ms)
                    .bind(b.prompt_tokens)
                    .bind(b.completion_tokens)
                    .bind(&record.request_hash)
                    .bind(&b.canonical)
                    .fetch_one(&mut *tx)
                    .await?;
                seqs.push(seq);
            }
            tx.commit().await?;
        });
        Ok(seqs)
    }

    async fn records_for(&self, request_id: &str) -> Result<Vec<StoredRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM exchange_records WHERE request_id = $1 ORDER BY seq");
        let rows: Vec<RecordRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(request_id).fetch_all(pool).await?
        });
        rows.into_iter().map(StoredRecord::try_from).collect()
    }

    async fn records_after(&self, after: i64, limit: u32) -> Result<Vec<StoredRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM exchange_records WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<RecordRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(after).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter().map(StoredRecord::try_from).collect()
    }
}
