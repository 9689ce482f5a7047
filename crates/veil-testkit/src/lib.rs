//! `veil-testkit`: fixtures for Veil's tests. Not published; a dev-dependency only.
//!
//! [`TestUpstream`] is a real HTTP server on `127.0.0.1:0` that speaks OpenAI JSON and SSE
//! (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`) and records every request
//! body it receives, so tests can assert on exactly what left the gateway. [`Mode`] makes it
//! slow, failing, malformed, or hold a stream after its first chunk until the test releases
//! it (proof that the gateway does not buffer streams).
//!
//! ```no_run
//! # async fn demo() {
//! use veil_testkit::{Mode, TestUpstream};
//!
//! let upstream = TestUpstream::start().await;
//! upstream.set_mode(Mode::Fail(500));
//! println!("point the gateway at {}", upstream.base_url());
//! assert!(upstream.received().is_empty());
//! # }
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// How the test upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Answers promptly and correctly.
    #[default]
    Normal,
    /// Waits this long before sending response headers.
    Slow(Duration),
    /// Answers with this HTTP status and an OpenAI-shaped error.
    Fail(u16),
    /// Answers 200 with a body that is not JSON (or, for streams, not SSE).
    Malformed,
    /// Streams send their first chunk, then wait for [`TestUpstream::release`].
    Gated,
}

/// The content every non-echo answer carries.
pub const ANSWER: &str = "hello from the test upstream";

#[derive(Default)]
struct Shared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Value>>,
    gate: Notify,
}

/// A running upstream test server. Stops when dropped.
pub struct TestUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for TestUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUpstream")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestUpstream {
    /// Binds `127.0.0.1:0` and serves in the background.
    ///
    /// # Panics
    /// When the loopback port cannot be bound (a test environment failure).
    #[allow(clippy::expect_used)]
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            shared,
            _stop: stop,
        }
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure in the gateway (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Changes the behaviour for the following requests.
    pub fn set_mode(&self, mode: Mode) {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = mode;
        }
    }

    /// Every request body received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Lets a [`Mode::Gated`] stream finish.
    pub fn release(&self) {
        self.shared.gate.notify_one();
    }
}

/// The app alone, for benchmarks that run it in their own server.
pub fn app() -> Router {
    router(Arc::new(Shared::default()))
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .with_state(shared)
}

/// Records the body; applies failure modes. `Ok` carries the parsed body and the mode.
async fn receive(shared: &Shared, body: &Bytes) -> Result<(Value, Mode), Response> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Ok(mut received) = shared.received.lock() {
        received.push(value.clone());
    }
    let mode = shared.mode.lock().map(|m| *m).unwrap_or_default();
    match mode {
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Fail(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {"message": "test upstream failure", "type": "server_error", "code": null}});
            return Err((status, axum::Json(body)).into_response());
        }
        Mode::Malformed if !is_stream(&value) => {
            return Err((
                [(header::CONTENT_TYPE, "application/json")],
                "{\"choices\": [ this is not json",
            )
                .into_response());
        }
        _ => {}
    }
    Ok((value, mode))
}

fn is_stream(value: &Value) -> bool {
    value.get("stream").and_then(Value::as_bool) == Some(true)
}

fn usage() -> Value {
    json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
}

async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let (request, mode) = match receive(&shared, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let model = request.get("model").cloned().unwrap_or(Value::Null);
    // With tools offered, answer with a call to the first one, as a model would.
    let tool = request
        .pointer("/tools/0/function/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if is_stream(&request) {
        let mut events = Vec::new();
        if let Some(name) = &tool {
            events.push(json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": "{\"city\":"}}]}, "finish_reason": null}]}));
            events.push(json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}, "finish_reason": null}]}));
        } else {
            for piece in ANSWER.split_inclusive(' ') {
                events.push(json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]}));
            }
        }
        events.push(json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage()}));
        return sse(shared, events, mode);
    }
    let message = match tool {
        Some(name) => {
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{\"city\":\"Paris\"}"}}]})
        }
        None => json!({"role": "assistant", "content": ANSWER}),
    };
    axum::Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage(),
    }))
    .into_response()
}

async fn completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let (request, mode) = match receive(&shared, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let model = request.get("model").cloned().unwrap_or(Value::Null);
    if is_stream(&request) {
        let mut events: Vec<Value> = ANSWER
            .split_inclusive(' ')
            .map(|piece| json!({"id": "c1", "object": "text_completion", "model": model, "choices": [{"index": 0, "text": piece, "finish_reason": null}]}))
            .collect();
        events.push(json!({"id": "c1", "object": "text_completion", "model": model, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}], "usage": usage()}));
        return sse(shared, events, mode);
    }
    axum::Json(json!({
        "id": "cmpl-test", "object": "text_completion", "created": 0, "model": model,
        "choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop"}],
        "usage": usage(),
    }))
    .into_response()
}

async fn embeddings(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let (request, _) = match receive(&shared, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    axum::Json(json!({
        "object": "list", "model": request.get("model").cloned().unwrap_or(Value::Null),
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 1.0]}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }))
    .into_response()
}

/// Streams `events` as SSE, one write per event, then `[DONE]`.
fn sse(shared: Arc<Shared>, events: Vec<Value>, mode: Mode) -> Response {
    let mut frames: Vec<Bytes> = events
        .iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    if mode == Mode::Malformed {
        frames = vec![Bytes::from_static(b"this is not server-sent events")];
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(frames.concat()))
            .unwrap_or_default();
    }
    let stream = futures_util::stream::unfold(
        (frames.into_iter(), 0usize, shared),
        move |(mut frames, index, shared)| async move {
            if index == 1 && mode == Mode::Gated {
                shared.gate.notified().await;
            }
            let frame = frames.next()?;
            Some((Ok::<_, Infallible>(frame), (frames, index + 1, shared)))
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}
