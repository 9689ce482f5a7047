//! `/admin/v1/audit`: the audit log over HTTP (admin role), the same queries as `veil audit`.
//!
//! | route | answers |
//! |---|---|
//! | `GET /admin/v1/audit/key` | the verifier key (`name+keyid+base64`) |
//! | `GET /admin/v1/audit/records?principal=&since=&decision=&request_id=&from_seq=&limit=` | decoded records |
//! | `GET /admin/v1/audit/records/{seq}/proof` | inclusion proof into the latest signed checkpoint |
//! | `GET /admin/v1/audit/checkpoints/latest` | the newest signed checkpoint |
//! | `GET /admin/v1/audit/consistency?from=&to=` | consistency proof between two tree sizes |
//! | `GET /admin/v1/audit/export?since=&from_seq=` | JSON Lines export, as `veil audit export` |
//!
//! `since` is RFC 3339 (`2026-11-26T09:00:00Z`) or unix milliseconds. Records hold no
//! sensitive text, so nothing here can leak a prompt; the routes still need the admin role
//! because who-did-what is itself sensitive.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::json;
use veil_audit::{ExportRange, SignedCheckpoint, Verdict, write_export};
use veil_store::{AuditQuery, AuditStore, BlockingAudit, audit_consistency, audit_inclusion};

use crate::app::admin;
use crate::error::GatewayError;
use crate::state::AppState;

/// Default and largest `limit` of a records query.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

/// The audit routes, merged into the application router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/audit/key", get(key))
        .route("/admin/v1/audit/records", get(records))
        .route("/admin/v1/audit/records/{seq}/proof", get(proof))
        .route("/admin/v1/audit/checkpoints/latest", get(latest_checkpoint))
        .route("/admin/v1/audit/consistency", get(consistency))
        .route("/admin/v1/audit/export", get(export))
}

fn store_err(err: veil_store::StoreError) -> GatewayError {
    GatewayError::unavailable(&err)
}

/// Parses `since`: RFC 3339 or unix milliseconds.
pub fn parse_since(text: &str) -> Result<u64, GatewayError> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let time = humantime::parse_rfc3339_weak(text).map_err(|_| {
        GatewayError::bad_request(format!(
            "`since` must be RFC 3339 or unix milliseconds, got `{text}`"
        ))
    })?;
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(u64::try_from(ms).unwrap_or(u64::MAX))
}

async fn key(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let key = state.recorder.verifier();
    Ok(Json(json!({"verifier_key": key.to_string(), "name": key.name()})).into_response())
}

/// Query of `GET /admin/v1/audit/records`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsParams {
    principal: Option<String>,
    since: Option<String>,
    decision: Option<String>,
    request_id: Option<String>,
    from_seq: Option<u64>,
    limit: Option<u32>,
}

async fn records(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<RecordsParams>,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let verdict = match params.decision.as_deref() {
        None => None,
        Some("allow") => Some(Verdict::Allow),
        Some("deny") => Some(Verdict::Deny),
        Some(other) => {
            return Err(GatewayError::bad_request(format!(
                "`decision` must be `allow` or `deny`, got `{other}`"
            )));
        }
    };
    let query = AuditQuery {
        principal: params.principal,
        since_ms: params.since.as_deref().map(parse_since).transpose()?,
        verdict,
        request_id: params.request_id,
        from_seq: params.from_seq,
        limit: params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    };
    let found = state.store.audit_query(&query).await.map_err(store_err)?;
    let data: Vec<_> = found
        .iter()
        .map(|(stored, record)| {
            json!({
                "seq": stored.seq,
                "leaf": hex::encode(stored.leaf),
                "record": record,
            })
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

async fn proof(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(seq): Path<u64>,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let proof = audit_inclusion(&state.store, seq, &state.recorder.verifier())
        .await
        .map_err(store_err)?
        .ok_or_else(|| {
            GatewayError::not_found("no such record, or not yet covered by a signed checkpoint")
        })?;
    Ok(Json(json!({
        "seq": proof.seq,
        "leaf": hex::encode(proof.leaf),
        "tree_size": proof.checkpoint.checkpoint.size,
        "proof": proof.proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": proof.checkpoint.to_text(),
    }))
    .into_response())
}

async fn latest_checkpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let text = state
        .store
        .audit_latest_checkpoint()
        .await
        .map_err(store_err)?
        .ok_or_else(|| GatewayError::not_found("no checkpoint signed yet"))?;
    let cp = SignedCheckpoint::parse(&text).map_err(|err| GatewayError::internal(&err))?;
    Ok(Json(json!({
        "size": cp.checkpoint.size,
        "root": hex::encode(cp.checkpoint.root),
        "time_ms": cp.checkpoint.time_ms,
        "text": text,
    }))
    .into_response())
}

/// Query of `GET /admin/v1/audit/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    from: u64,
    to: u64,
}

async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ConsistencyParams>,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let proof = audit_consistency(&state.store, params.from, params.to)
        .await
        .map_err(store_err)?
        .ok_or_else(|| GatewayError::bad_request("need 0 < from <= to <= the number of records"))?;
    Ok(Json(json!({
        "from": params.from,
        "to": params.to,
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Query of `GET /admin/v1/audit/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    since: Option<String>,
    from_seq: Option<u64>,
}

async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let start = match (params.since.as_deref(), params.from_seq) {
        (Some(since), _) => state
            .store
            .audit_first_since(parse_since(since)?)
            .await
            .map_err(store_err)?,
        (None, Some(seq)) => seq,
        (None, None) => 0,
    };
    let source = BlockingAudit::new(state.store.clone(), tokio::runtime::Handle::current());
    let key = state.recorder.verifier();
    // The veil-audit writer is synchronous; it pages through the store from a blocking thread.
    let body = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        write_export(&source, &key, ExportRange { start }, &mut out).map(|_| out)
    })
    .await
    .map_err(|err| GatewayError::internal(&err))?
    .map_err(|err| GatewayError::bad_request(err.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from(body),
    )
        .into_response())
}
