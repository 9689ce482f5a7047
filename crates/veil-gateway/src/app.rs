//! The HTTP surface: routes, transport layers and the small non-pipeline handlers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use veil_audit::{Event, KeyChange, KeyChangeEvent};
use veil_store::{KeyLimits, KeyRecord, KeyStore, NewAuditRecord};

use crate::auth::{ADMIN_ROLE, NewKey, Principal, create_key, unix_now};
use crate::error::GatewayError;
use crate::exchange::Action;
use crate::pipeline;
use crate::state::AppState;

/// Builds the whole application: routes plus transport layers.
pub fn router(state: AppState) -> Router {
    let limits = state.settings.config.limits.clone();
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(complete))
        .route("/v1/embeddings", post(embed))
        .route("/v1/models", get(models))
        .route("/admin/v1/keys", get(list_keys).post(create_admin_key))
        .route("/admin/v1/keys/{id}", delete(revoke_key))
        .route("/admin/v1/keys/{id}/restriction", delete(lift_restriction))
        .route("/admin/v1/restrictions", get(list_restrictions))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::audit_api::routes())
        .fallback(not_found)
        .with_state(state)
        .layer(
            // Outermost first. Transport only: none of these look at content.
            ServiceBuilder::new()
                // Every request gets an id first, so every later layer and log line has it.
                .layer(SetRequestIdLayer::x_request_id(MakeId::default()))
                // The caller gets the id back, errors included, to quote in a support ticket.
                .layer(PropagateRequestIdLayer::x_request_id())
                // A span per request; its default fields are method, uri and version only.
                .layer(TraceLayer::new_for_http().make_span_with(make_span))
                // Refuses an oversized declared Content-Length before reading a byte.
                .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
                // Bounds the work in progress; beyond it requests wait for a slot.
                .layer(ConcurrencyLimitLayer::new(limits.max_concurrency))
                // Caps time to response headers, body upload included (slow senders).
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(limits.request_timeout_secs),
                )),
        )
        // Rewrites the bare 408/413 of the layers above into OpenAI-shaped errors. A separate
        // `layer` call so it sees axum's response type.
        .layer(axum::middleware::map_response(openai_shape))
}

fn make_span(request: &Request<Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Path only (no query string), never headers or body.
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// Request ids: a random per-process prefix and a counter. Unique without a lock, cheaper
/// than a UUID per request.
#[derive(Clone, Debug)]
struct MakeId {
    prefix: String,
    counter: std::sync::Arc<AtomicU64>,
}

impl Default for MakeId {
    fn default() -> Self {
        let mut bytes = [0u8; 6];
        // Without randomness, ids from two replicas may collide; they stay unique per process.
        let _ = getrandom::fill(&mut bytes);
        Self {
            prefix: hex::encode(bytes),
            counter: std::sync::Arc::default(),
        }
    }
}

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("req_{}{:010x}", self.prefix, n))
            .ok()
            .map(RequestId::new)
    }
}

async fn openai_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let mut shaped = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            GatewayError::too_large("request body is too large").into_response()
        }
        StatusCode::REQUEST_TIMEOUT => GatewayError::request_timeout().into_response(),
        _ => return response,
    };
    if let Some(id) = response.headers().get("x-request-id") {
        shaped.headers_mut().insert("x-request-id", id.clone());
    }
    shaped
}

/// The TCP peer, inserted by `Gateway::serve` (absent under `oneshot` tests).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

fn peer_ip(peer: Peer) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

async fn chat(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::handle(state, Action::Chat, peer_ip(peer), headers, body).await
}

async fn complete(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::handle(state, Action::Complete, peer_ip(peer), headers, body).await
}

async fn embed(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::handle(state, Action::Embed, peer_ip(peer), headers, body).await
}

async fn not_found() -> GatewayError {
    GatewayError::not_found("no such route")
}

/// `GET /v1/models`: only the models this caller may use.
async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let principal = state.auth.authenticate(&headers).await?;
    let data: Vec<_> = state
        .upstreams
        .names()
        .filter(|name| principal.may_use(name))
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "veil"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

/// Authenticates an admin call: 401 without a valid key, 403 without the admin role.
pub(crate) async fn admin(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, GatewayError> {
    let principal = state.auth.authenticate(headers).await?;
    if !principal.has_role(ADMIN_ROLE) {
        return Err(GatewayError::forbidden(ADMIN_ROLE));
    }
    Ok(principal)
}

fn key_json(key: &KeyRecord) -> serde_json::Value {
    json!({
        "id": key.id,
        "tenant": key.tenant,
        "roles": key.roles,
        "models": key.models,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "limits": key.limits,
        "description": key.description,
    })
}

/// Body of `POST /admin/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyRequest {
    tenant: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    limits: KeyLimits,
    #[serde(default)]
    description: String,
}

async fn create_admin_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GatewayError> {
    let admin = admin(&state, &headers).await?;
    let request: CreateKeyRequest = serde_json::from_slice(&body).map_err(|err| {
        GatewayError::bad_request(format!(
            "invalid key request at line {} column {}",
            err.line(),
            err.column()
        ))
    })?;
    let spec = NewKey {
        tenant: request.tenant,
        roles: request.roles,
        models: request.models,
        expires_at: request.expires_at,
        limits: request.limits,
        description: request.description,
    };
    let (secret, record) = create_key(&state.store, spec)
        .await
        .map_err(|err| match err {
            crate::auth::KeyError::Invalid(what) => GatewayError::bad_request(what),
            other => GatewayError::unavailable(&other),
        })?;
    if let Err(err) =
        record_key_change(&state, &admin, &headers, &record.id, KeyChange::Created).await
    {
        // Fail closed: a key whose creation is not in the audit log must not work.
        let _ = state.store.revoke_key(&record.id, unix_now()).await;
        return Err(err);
    }
    tracing::info!(admin = %admin.key_id, key_id = %record.id, tenant = %record.tenant, "key created");
    let mut body = key_json(&record);
    if let Some(fields) = body.as_object_mut() {
        fields.insert("key".into(), json!(secret.expose()));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let keys = state
        .store
        .list_keys(None)
        .await
        .map_err(|err| GatewayError::unavailable(&err))?;
    let data: Vec<_> = keys.iter().map(key_json).collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GatewayError> {
    let admin = admin(&state, &headers).await?;
    let revoked = state
        .store
        .revoke_key(&id, unix_now())
        .await
        .map_err(|err| GatewayError::unavailable(&err))?;
    if !revoked {
        return Err(GatewayError::not_found("no active key with this id"));
    }
    state.auth.forget(&id);
    record_key_change(&state, &admin, &headers, &id, KeyChange::Revoked).await?;
    tracing::info!(admin = %admin.key_id, key_id = %id, "key revoked");
    Ok(Json(json!({"id": id, "revoked": true})).into_response())
}

/// `GET /admin/v1/restrictions`: keys throttled or suspended by monitoring.
async fn list_restrictions(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    admin(&state, &headers).await?;
    let data: Vec<_> = state
        .throttle
        .restrictions()
        .into_iter()
        .map(|(key_id, restriction)| {
            let mut value = json!(restriction);
            if let Some(fields) = value.as_object_mut() {
                fields.insert("key_id".into(), json!(key_id));
            }
            value
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

/// `DELETE /admin/v1/keys/{id}/restriction`: lifts a throttle or suspension.
async fn lift_restriction(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GatewayError> {
    let admin = admin(&state, &headers).await?;
    if state.throttle.lift(&id).is_none() {
        return Err(GatewayError::not_found("no restriction on this key"));
    }
    tracing::info!(admin = %admin.key_id, key_id = %id, "key restriction lifted");
    Ok(Json(json!({"id": id, "restricted": false})).into_response())
}

/// Appends a key change to the audit log and waits until it is durable.
async fn record_key_change(
    state: &AppState,
    admin: &Principal,
    headers: &HeaderMap,
    key_id: &str,
    change: KeyChange,
) -> Result<(), GatewayError> {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let record = NewAuditRecord {
        time_ms: crate::recorder::now_ms(),
        principal: admin.key_id.clone(),
        request_id,
        event: Event::KeyChange(KeyChangeEvent {
            key_id: key_id.to_owned(),
            change,
            actor: admin.key_id.clone(),
        }),
    };
    state.recorder.append_durable(record).await.map(|_| ())
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers and at least one upstream is configured.
async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = state.store.ping().await.is_ok();
    let upstreams_ok = !state.upstreams.is_empty();
    let status = if store_ok && upstreams_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"store": store_ok, "upstreams": upstreams_ok})),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
