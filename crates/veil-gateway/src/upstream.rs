//! Upstream connectors: any OpenAI-compatible HTTP server, a local GGUF model run
//! in-process (`local`), and the built-in echo.
//!
//! One pooled `reqwest` client serves every HTTP upstream (connections are pooled per
//! host). Timeouts are per upstream: waiting for response headers, and between two streamed
//! chunks, never a cap on a whole stream. Retries happen on connection errors only, where
//! the request certainly did not reach the model.

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::config::{ModelAttributes, ResolvedModel, UpstreamKind};
use crate::error::GatewayError;
use crate::exchange::Action;

mod local;

pub use local::LoadError;

/// A stream of body chunks from an upstream.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, GatewayError>> + Send>>;

/// The body of an upstream answer.
pub enum UpstreamBody {
    /// A complete JSON body, parsed (it was checked to be JSON).
    Json(Value),
    /// Server-sent events, passed through as they arrive.
    Stream(ChunkStream),
}

/// An upstream's answer, successful (2xx) or a client error (4xx) passed through.
pub struct UpstreamResponse {
    /// Status from the upstream.
    pub status: http::StatusCode,
    /// Body.
    pub body: UpstreamBody,
    /// Time until response headers arrived.
    pub latency: Duration,
}

/// One routing-table entry ready to serve.
#[derive(Debug)]
pub struct Upstream {
    model: ResolvedModel,
    /// The loaded model and its worker pool, for `local` upstreams.
    local: Option<local::LocalUpstream>,
}

impl Upstream {
    /// The public model name.
    pub fn name(&self) -> &str {
        &self.model.name
    }

    /// The model name the upstream expects.
    pub fn upstream_model(&self) -> &str {
        &self.model.upstream_model
    }

    /// Attributes for policy.
    pub fn attributes(&self) -> &ModelAttributes {
        &self.model.attributes
    }

    /// True for the built-in echo upstream.
    pub fn is_echo(&self) -> bool {
        self.model.kind == UpstreamKind::Echo
    }
}

/// Why the routing table could not be built (at startup).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamsError {
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(GatewayError),
    /// A local model is not registered, changed since it was registered, or is invalid.
    #[error(transparent)]
    Local(#[from] LoadError),
}

/// The routing table with its HTTP client.
#[derive(Debug)]
pub struct Upstreams {
    client: reqwest::Client,
    by_name: BTreeMap<String, Upstream>,
}

impl Upstreams {
    /// Builds the table from validated settings; `local` models are loaded from the
    /// registry in `data_dir` (hash-checked) and get their worker pools.
    pub fn new(
        models: &BTreeMap<String, ResolvedModel>,
        data_dir: &Path,
    ) -> Result<Self, UpstreamsError> {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| UpstreamsError::Client(GatewayError::internal(&err)))?;
        let mut by_name = BTreeMap::new();
        for (name, model) in models {
            let local = match model.kind {
                UpstreamKind::Local => Some(local::LocalUpstream::load(model, data_dir)?),
                UpstreamKind::Openai | UpstreamKind::Echo => None,
            };
            by_name.insert(
                name.clone(),
                Upstream {
                    model: model.clone(),
                    local,
                },
            );
        }
        Ok(Self { client, by_name })
    }

    /// Looks a public model name up.
    pub fn get(&self, name: &str) -> Option<&Upstream> {
        self.by_name.get(name)
    }

    /// Every public model name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// True when at least one model is configured (`/readyz`).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Sends `body` (already protected, model name already the upstream's) to `upstream`.
    pub async fn send(
        &self,
        upstream: &Upstream,
        action: Action,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<UpstreamResponse, GatewayError> {
        let started = Instant::now();
        if upstream.is_echo() {
            return echo(action, body, stream, started);
        }
        if let Some(local) = &upstream.local {
            return local.send(action, &body, stream).await;
        }
        let model = &upstream.model;
        let Some(base) = &model.base_url else {
            return Err(GatewayError::internal(&"http upstream without base url"));
        };
        let url = format!("{base}{}", action.upstream_path());
        let body = Bytes::from(body);
        let mut attempt = 0;
        let response = loop {
            let mut request = self
                .client
                .post(&url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(key) = &model.api_key {
                request = request.bearer_auth(key.expose());
            }
            match tokio::time::timeout(model.timeout, request.send()).await {
                Err(_) => return Err(GatewayError::gateway_timeout()),
                Ok(Ok(response)) => break response,
                Ok(Err(err)) if err.is_connect() && attempt < model.retries => {
                    attempt += 1;
                    tracing::warn!(model = %model.name, attempt, "upstream connect failed, retrying");
                }
                Ok(Err(err)) if err.is_timeout() => return Err(GatewayError::gateway_timeout()),
                Ok(Err(err)) => {
                    tracing::warn!(model = %model.name, error = %err, "upstream request failed");
                    return Err(GatewayError::bad_gateway(
                        "upstream_unreachable",
                        "the upstream model could not be reached",
                    ));
                }
            }
        };
        let latency = started.elapsed();
        let status = response.status();
        if status.is_server_error() {
            tracing::warn!(model = %model.name, status = status.as_u16(), "upstream error status");
            return Err(GatewayError::bad_gateway(
                "upstream_error",
                format!("the upstream model failed with status {}", status.as_u16()),
            ));
        }
        let is_sse = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if stream && status.is_success() {
            if !is_sse {
                return Err(malformed());
            }
            return Ok(UpstreamResponse {
                status,
                body: UpstreamBody::Stream(idle_timeout(response.bytes_stream(), model.timeout)),
                latency,
            });
        }
        let bytes = match tokio::time::timeout(model.timeout, response.bytes()).await {
            Err(_) => return Err(GatewayError::gateway_timeout()),
            Ok(Err(_)) => return Err(malformed()),
            Ok(Ok(bytes)) => bytes,
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        if !value.is_object() {
            return Err(malformed());
        }
        Ok(UpstreamResponse {
            status,
            body: UpstreamBody::Json(value),
            latency,
        })
    }
}

fn malformed() -> GatewayError {
    GatewayError::bad_gateway(
        "upstream_malformed",
        "the upstream model sent a malformed answer",
    )
}

/// Ends a stream with 504 when no chunk arrives within `timeout`.
fn idle_timeout(
    inner: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    timeout: Duration,
) -> ChunkStream {
    let inner = Box::pin(inner);
    Box::pin(futures_util::stream::unfold(
        Some(inner),
        move |state| async move {
            let mut inner = state?;
            match tokio::time::timeout(timeout, inner.next()).await {
                Err(_) => Some((Err(GatewayError::gateway_timeout()), None)),
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(inner))),
                Ok(Some(Err(_))) => Some((
                    Err(GatewayError::bad_gateway(
                        "upstream_stream_broken",
                        "the upstream stream broke off",
                    )),
                    None,
                )),
            }
        },
    ))
}

/// Bytes per streamed echo chunk.
const ECHO_CHUNK: usize = 64;

/// The built-in echo upstream: the answer's content is exactly the JSON body the model would
/// have received (after protection), so a user sees what leaves the network.
fn echo(
    action: Action,
    body: Vec<u8>,
    stream: bool,
    started: Instant,
) -> Result<UpstreamResponse, GatewayError> {
    let text = String::from_utf8(body).map_err(|err| GatewayError::internal(&err))?;
    let prompt_tokens = crate::exchange::estimate_tokens(text.len());
    let completion_tokens = prompt_tokens;
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let created = crate::auth::unix_now();
    let body = match (action, stream) {
        (Action::Chat, false) => UpstreamBody::Json(json!({
            "id": "chatcmpl-echo", "object": "chat.completion", "created": created, "model": "echo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        })),
        (Action::Complete, false) => UpstreamBody::Json(json!({
            "id": "cmpl-echo", "object": "text_completion", "created": created, "model": "echo",
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": usage,
        })),
        (Action::Embed, _) => {
            // An embedding cannot echo text; a fixed-size vector derived from the bytes
            // keeps clients working.
            let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
            let vector: Vec<f64> = digest
                .iter()
                .take(8)
                .map(|b| f64::from(*b) / 255.0)
                .collect();
            UpstreamBody::Json(json!({
                "object": "list", "model": "echo",
                "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            }))
        }
        (action, true) => UpstreamBody::Stream(echo_stream(action, &text, created, usage)),
    };
    Ok(UpstreamResponse {
        status: http::StatusCode::OK,
        body,
        latency: started.elapsed(),
    })
}

fn echo_stream(action: Action, text: &str, created: i64, usage: Value) -> ChunkStream {
    let chat = action == Action::Chat;
    let (id, object) = if chat {
        ("chatcmpl-echo", "chat.completion.chunk")
    } else {
        ("cmpl-echo", "text_completion")
    };
    let choice = |piece: &str, finish: Option<&str>| {
        if chat {
            json!({"index": 0, "delta": {"content": piece}, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": piece, "finish_reason": finish})
        }
    };
    let mut events = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = ECHO_CHUNK.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        events.push(json!({"id": id, "object": object, "created": created, "model": "echo", "choices": [choice(piece, None)]}));
        rest = tail;
    }
    events.push(json!({"id": id, "object": object, "created": created, "model": "echo", "choices": [choice("", Some("stop"))], "usage": usage}));
    let mut frames: Vec<Result<Bytes, GatewayError>> = events
        .into_iter()
        .map(|event| Ok(Bytes::from(format!("data: {event}\n\n"))))
        .collect();
    frames.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    Box::pin(futures_util::stream::iter(frames))
}
