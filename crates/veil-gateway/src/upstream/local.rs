//! The `local` upstream: a GGUF model registered with `veil models add`, run in-process on
//! `veil-local`'s bounded worker pool.
//!
//! It receives exactly the bytes `forward` would send to an HTTP upstream (the protected
//! body) and answers in OpenAI's shapes, JSON or server-sent events, so the stages after
//! `forward` cannot tell it from a remote model. Generation runs on the pool's own threads:
//! the async side only submits (never blocks) and awaits events on a channel; a full queue
//! is answered 429 at once.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use veil_local::{
    ChatMessage, Chunk, Completion, ErrorKind, Event, FinishReason, GenerateRequest, Pool,
    PoolConfig, Prompt, Registry, TokenLogprob,
};

use super::{ChunkStream, UpstreamBody, UpstreamResponse};
use crate::config::ResolvedModel;
use crate::error::GatewayError;
use crate::exchange::Action;

/// Events buffered between a generation thread and the response stream; a slow reader
/// makes the generation thread wait rather than buffer without bound.
const EVENT_BUFFER: usize = 32;
/// OpenAI's limits on stop sequences and alternatives per token.
const MAX_STOP: usize = 4;
const MAX_TOP_LOGPROBS_CHAT: u64 = 20;
const MAX_TOP_LOGPROBS_COMPLETION: u64 = 5;

/// A loaded local model and its worker pool.
pub(super) struct LocalUpstream {
    pool: Pool,
    /// Cap on (and default for) tokens per answer.
    max_tokens: usize,
    /// Wait allowed for the first event and between two events.
    timeout: Duration,
}

impl std::fmt::Debug for LocalUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUpstream")
            .field("pool", &self.pool)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// Why a local model could not be started (a startup error, never a request's).
#[derive(Debug, thiserror::Error)]
#[error("local model `{model}`: {source}")]
pub struct LoadError {
    model: String,
    source: veil_local::Error,
}

impl LocalUpstream {
    /// Loads the registered model `model.upstream_model` from `data_dir`'s registry, which
    /// refuses a file whose SHA-256 or size changed, and starts its pool.
    pub(super) fn load(model: &ResolvedModel, data_dir: &Path) -> Result<Self, LoadError> {
        let fail = |source| LoadError {
            model: model.name.clone(),
            source,
        };
        let loaded = Registry::open(data_dir)
            .and_then(|registry| registry.load(&model.upstream_model))
            .map_err(fail)?;
        let config = PoolConfig {
            workers: model.local.workers,
            threads_per_worker: model.local.threads,
            queue_limit: model.local.queue_limit,
        };
        let pool = Pool::new(&loaded, config).map_err(fail)?;
        Ok(Self {
            pool,
            max_tokens: model.local.max_tokens,
            timeout: model.timeout,
        })
    }

    /// Generates the answer to `body` (the protected request, as an HTTP upstream gets it).
    pub(super) async fn send(
        &self,
        action: Action,
        body: &[u8],
        stream: bool,
    ) -> Result<UpstreamResponse, GatewayError> {
        let started = Instant::now();
        let Parsed { generate, logprobs } = parse(action, body, self.max_tokens)?;
        let (tx, mut rx) = mpsc::channel::<Event>(EVENT_BUFFER);
        // Called on a generation thread: `blocking_send` waits for the reader (never on an
        // async thread) and fails once the reader is gone, which cancels the generation.
        let sink = Box::new(move |event| tx.blocking_send(event).is_ok());
        self.pool
            .try_submit_with(generate, sink)
            .map_err(|err| match err.kind() {
                ErrorKind::QueueFull => {
                    GatewayError::rate_limited("local model", "queued requests", 1)
                }
                _ => GatewayError::unavailable(&err),
            })?;
        // The first event tells whether generation started at all (a prompt too long for
        // the context fails here, before any header is sent).
        let first = next_event(&mut rx, self.timeout).await?;
        let latency = started.elapsed();
        let meta = Meta::new(action);
        let body = if stream {
            UpstreamBody::Stream(sse(meta, logprobs, first, rx, self.timeout))
        } else {
            let mut chunks_done = first;
            loop {
                match chunks_done {
                    Event::Chunk(_) => {}
                    Event::Done(done) => break UpstreamBody::Json(meta.json(&done, logprobs)),
                    Event::Failed(err) => return Err(failed(&err)),
                }
                chunks_done = next_event(&mut rx, self.timeout).await?;
            }
        };
        Ok(UpstreamResponse {
            status: http::StatusCode::OK,
            body,
            latency,
        })
    }
}

/// The next event, or 504 when the model is silent for `timeout`, or 502 when the
/// generation thread went away without a final event.
async fn next_event(
    rx: &mut mpsc::Receiver<Event>,
    timeout: Duration,
) -> Result<Event, GatewayError> {
    match tokio::time::timeout(timeout, rx.recv()).await {
        Err(_) => Err(GatewayError::gateway_timeout()),
        Ok(None) => Err(GatewayError::bad_gateway(
            "local_model_failed",
            "the local model stopped without an answer",
        )),
        Ok(Some(event)) => Ok(event),
    }
}

fn failed(err: &veil_local::Error) -> GatewayError {
    if err.kind() == ErrorKind::InvalidRequest {
        // The message names counts and limits only (e.g. prompt length), never content.
        return GatewayError::bad_request(err.to_string());
    }
    tracing::warn!(error = %err, "local model failed");
    GatewayError::bad_gateway("local_model_failed", "the local model failed")
}

/// A request as the pool takes it, with what the answer's shape needs.
#[derive(Debug)]
struct Parsed {
    generate: GenerateRequest,
    /// Whether the answer carries logprobs.
    logprobs: bool,
}

fn invalid(message: &'static str) -> GatewayError {
    GatewayError::bad_request(message)
}

/// Reads the OpenAI request fields a local model honours; refuses what it cannot do rather
/// than silently ignoring it (`n` > 1, non-text content, embeddings).
fn parse(action: Action, body: &[u8], max_tokens: usize) -> Result<Parsed, GatewayError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| invalid("the request body is not json"))?;
    let Value::Object(body) = value else {
        return Err(invalid("the request body is not a json object"));
    };
    let prompt = match action {
        Action::Chat => Prompt::Chat(messages(&body)?),
        Action::Complete => Prompt::Text(completion_prompt(&body)?),
        Action::Embed => return Err(invalid("local models do not serve embeddings")),
    };
    if let Some(n) = body.get("n").filter(|v| !v.is_null())
        && n.as_u64() != Some(1)
    {
        return Err(invalid(
            "local models answer with one choice: `n` must be 1",
        ));
    }
    let requested = body
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| body.get("max_tokens").filter(|v| !v.is_null()));
    let max_tokens = match requested {
        None => max_tokens,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX).min(max_tokens),
            _ => return Err(invalid("`max_tokens` must be a positive integer")),
        },
    };
    // OpenAI samples at temperature 1 unless told otherwise; 0 is greedy.
    let temperature = number(&body, "temperature", 0.0, 2.0)?.unwrap_or(1.0);
    let top_p = number(&body, "top_p", 0.0, 1.0)?;
    let seed = match body.get("seed").filter(|v| !v.is_null()) {
        None => getrandom::u64().unwrap_or_default(),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_i64().map(i64::cast_unsigned))
            .ok_or_else(|| invalid("`seed` must be an integer"))?,
    };
    let stop = match body.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.len() <= MAX_STOP => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("`stop` must be a string or up to 4 strings"))?,
        Some(_) => return Err(invalid("`stop` must be a string or up to 4 strings")),
    };
    let (logprobs, top_logprobs) = match action {
        Action::Chat => {
            let on = match body.get("logprobs") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("`logprobs` must be a boolean")),
            };
            let top = match body.get("top_logprobs").filter(|v| !v.is_null()) {
                None => 0,
                Some(v) => match v.as_u64() {
                    Some(n) if n <= MAX_TOP_LOGPROBS_CHAT && on => n,
                    _ => {
                        return Err(invalid(
                            "`top_logprobs` must be 0 to 20, with `logprobs` true",
                        ));
                    }
                },
            };
            (on, top)
        }
        _ => match body.get("logprobs").filter(|v| !v.is_null()) {
            None => (false, 0),
            Some(v) => match v.as_u64() {
                Some(n) if n <= MAX_TOP_LOGPROBS_COMPLETION => (true, n),
                _ => return Err(invalid("`logprobs` must be an integer from 0 to 5")),
            },
        },
    };
    Ok(Parsed {
        generate: GenerateRequest {
            prompt,
            max_tokens,
            temperature: Some(temperature),
            top_p,
            seed,
            stop,
            logprobs,
            top_logprobs: usize::try_from(top_logprobs).unwrap_or(0),
        },
        logprobs,
    })
}

fn number(
    body: &Map<String, Value>,
    field: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, GatewayError> {
    match body.get(field).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
            _ => Err(GatewayError::bad_request(format!(
                "`{field}` must be a number from {min} to {max}"
            ))),
        },
    }
}

/// Chat messages with their text: a string, or the text parts of a multi-part content.
fn messages(body: &Map<String, Value>) -> Result<Vec<ChatMessage>, GatewayError> {
    let Some(Value::Array(items)) = body.get("messages") else {
        return Err(invalid("`messages` must be an array"));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("every message needs a `role`"))?;
        let content = match item.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match (part.get("type").and_then(Value::as_str), part.get("text")) {
                        (Some("text"), Some(Value::String(t))) => text.push_str(t),
                        _ => return Err(invalid("local models accept text content only")),
                    }
                }
                text
            }
            Some(_) => return Err(invalid("message `content` must be a string or parts")),
        };
        // `developer` is OpenAI's new name for `system`; chat templates know `system`.
        let role = if role == "developer" { "system" } else { role };
        out.push(ChatMessage::new(role, content));
    }
    if out.is_empty() {
        return Err(invalid("`messages` must not be empty"));
    }
    Ok(out)
}

fn completion_prompt(body: &Map<String, Value>) -> Result<String, GatewayError> {
    match body.get("prompt") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(s)] => Ok(s.clone()),
            _ => Err(invalid("local models take one prompt string")),
        },
        _ => Err(invalid("`prompt` must be a string")),
    }
}

/// What every answer of one request shares: id, object names, creation time.
struct Meta {
    chat: bool,
    id: String,
    created: i64,
}

impl Meta {
    fn new(action: Action) -> Self {
        let chat = action == Action::Chat;
        let suffix = hex::encode(getrandom::u64().unwrap_or_default().to_be_bytes());
        let id = if chat {
            format!("chatcmpl-local-{suffix}")
        } else {
            format!("cmpl-local-{suffix}")
        };
        Self {
            chat,
            id,
            created: crate::auth::unix_now(),
        }
    }

    fn model(&self) -> &'static str {
        // The client's own model name is restored by the stages after `forward`, as for
        // any upstream; here the answer names the kind of upstream only.
        "local"
    }

    /// The whole answer (non-streaming).
    fn json(&self, done: &Completion, logprobs: bool) -> Value {
        let logprobs = logprobs.then(|| self.logprobs(&done.logprobs, 0));
        let finish = finish_reason(done.finish_reason);
        let choice = if self.chat {
            json!({"index": 0, "message": {"role": "assistant", "content": done.text},
                   "logprobs": logprobs, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": done.text, "logprobs": logprobs, "finish_reason": finish})
        };
        json!({
            "id": self.id,
            "object": if self.chat { "chat.completion" } else { "text_completion" },
            "created": self.created,
            "model": self.model(),
            "choices": [choice],
            "usage": usage(done),
        })
    }

    /// One streamed event.
    fn event(&self, choice: Value, usage: Option<Value>) -> Bytes {
        let mut event = json!({
            "id": self.id,
            "object": if self.chat { "chat.completion.chunk" } else { "text_completion" },
            "created": self.created,
            "model": self.model(),
            "choices": [choice],
        });
        if let (Some(usage), Value::Object(map)) = (usage, &mut event) {
            map.insert("usage".into(), usage);
        }
        Bytes::from(format!("data: {event}\n\n"))
    }

    fn chunk(&self, chunk: &Chunk, logprobs: bool, offset: usize) -> Bytes {
        let lp = if logprobs {
            Some(self.logprobs(chunk.logprob.as_slice(), offset))
        } else {
            None
        };
        let choice = if self.chat {
            json!({"index": 0, "delta": {"content": chunk.text}, "logprobs": lp, "finish_reason": null})
        } else {
            json!({"index": 0, "text": chunk.text, "logprobs": lp, "finish_reason": null})
        };
        self.event(choice, None)
    }

    fn finish(&self, done: &Completion) -> Bytes {
        let reason = finish_reason(done.finish_reason);
        let choice = if self.chat {
            json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason})
        } else {
            json!({"index": 0, "text": "", "logprobs": null, "finish_reason": reason})
        };
        self.event(choice, Some(usage(done)))
    }

    /// Log-probabilities in the chat shape (`content: [...]`) or the completions shape
    /// (parallel arrays); `offset` is the text offset of the first token (completions).
    fn logprobs(&self, tokens: &[TokenLogprob], offset: usize) -> Value {
        if self.chat {
            let entry = |text: &str, logprob: f32| json!({"token": text, "logprob": logprob, "bytes": text.as_bytes()});
            let content: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    let mut e = entry(&t.text, t.logprob);
                    let top: Vec<Value> = t.top.iter().map(|(_, s, lp)| entry(s, *lp)).collect();
                    if let Value::Object(map) = &mut e {
                        map.insert("top_logprobs".into(), Value::Array(top));
                    }
                    e
                })
                .collect();
            json!({"content": content})
        } else {
            let mut text_offset = Vec::with_capacity(tokens.len());
            let mut at = offset;
            for t in tokens {
                text_offset.push(at);
                at += t.text.len();
            }
            json!({
                "tokens": tokens.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
                "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
                "top_logprobs": tokens.iter().map(|t| {
                    t.top.iter().map(|(_, s, lp)| (s.clone(), json!(lp))).collect::<Map<String, Value>>()
                }).collect::<Vec<_>>(),
                "text_offset": text_offset,
            })
        }
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn usage(done: &Completion) -> Value {
    json!({
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    })
}

/// The answer as server-sent events, one per token as it is generated (chunks whose text
/// is held back for a possible stop sequence are skipped unless they carry logprobs).
fn sse(
    meta: Meta,
    logprobs: bool,
    first: Event,
    rx: mpsc::Receiver<Event>,
    timeout: Duration,
) -> ChunkStream {
    struct State {
        meta: Meta,
        rx: mpsc::Receiver<Event>,
        pending: Option<Event>,
        offset: usize,
        started: bool,
        ended: bool,
    }
    let state = State {
        meta,
        rx,
        pending: Some(first),
        offset: 0,
        started: false,
        ended: false,
    };
    let events = futures_util::stream::unfold(state, move |mut st| async move {
        if st.ended {
            return None;
        }
        if !st.started && st.meta.chat {
            // OpenAI opens a chat stream with the assistant's role.
            st.started = true;
            let role = json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null});
            let frame = st.meta.event(role, None);
            return Some((vec![Ok(frame)], st));
        }
        loop {
            let event = match st.pending.take() {
                Some(event) => event,
                None => match next_event(&mut st.rx, timeout).await {
                    Ok(event) => event,
                    Err(err) => {
                        st.ended = true;
                        return Some((vec![Err(err)], st));
                    }
                },
            };
            match event {
                Event::Chunk(chunk) => {
                    if chunk.text.is_empty() && !(logprobs && chunk.logprob.is_some()) {
                        continue;
                    }
                    let frame = st.meta.chunk(&chunk, logprobs, st.offset);
                    st.offset += chunk.text.len();
                    return Some((vec![Ok(frame)], st));
                }
                Event::Done(done) => {
                    st.ended = true;
                    let frames = vec![
                        Ok(st.meta.finish(&done)),
                        Ok(Bytes::from_static(b"data: [DONE]\n\n")),
                    ];
                    return Some((frames, st));
                }
                Event::Failed(err) => {
                    st.ended = true;
                    return Some((vec![Err(failed(&err))], st));
                }
            }
        }
    });
    Box::pin(events.flat_map(futures_util::stream::iter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(action: Action, body: Value) -> Result<Parsed, GatewayError> {
        parse(action, body.to_string().as_bytes(), 64)
    }

    #[test]
    fn chat_request_fields_become_a_generate_request() {
        let parsed = parse_json(
            Action::Chat,
            json!({"model": "m", "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": null}
            ], "max_tokens": 500, "temperature": 0, "top_p": 0.5, "seed": 7, "stop": "END",
               "logprobs": true, "top_logprobs": 2}),
        )
        .unwrap();
        let g = parsed.generate;
        assert_eq!(
            g.prompt,
            Prompt::Chat(vec![
                ChatMessage::new("system", "be brief"),
                ChatMessage::new("user", "ab"),
                ChatMessage::new("assistant", ""),
            ])
        );
        assert_eq!(g.max_tokens, 64, "capped by the configured maximum");
        assert_eq!(g.temperature, Some(0.0));
        assert_eq!(g.top_p, Some(0.5));
        assert_eq!(g.seed, 7);
        assert_eq!(g.stop, vec!["END".to_owned()]);
        assert!(g.logprobs && parsed.logprobs);
        assert_eq!(g.top_logprobs, 2);
    }

    #[test]
    fn defaults_follow_openai() {
        let g = parse_json(Action::Complete, json!({"prompt": ["Once"]}))
            .unwrap()
            .generate;
        assert_eq!(g.prompt, Prompt::Text("Once".into()));
        assert_eq!(g.max_tokens, 64);
        assert_eq!(g.temperature, Some(1.0));
        assert!(!g.logprobs);
        let g = parse_json(Action::Complete, json!({"prompt": "x", "logprobs": 3}))
            .unwrap()
            .generate;
        assert!(g.logprobs);
        assert_eq!(g.top_logprobs, 3);
    }

    #[test]
    fn what_a_local_model_cannot_do_is_refused() {
        let chat = |extra: Value| {
            let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
            if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
                b.extend(e);
            }
            parse_json(Action::Chat, body)
        };
        for (extra, expected) in [
            (json!({"n": 2}), "`n` must be 1"),
            (json!({"max_tokens": 0}), "`max_tokens`"),
            (json!({"temperature": 3}), "`temperature`"),
            (json!({"stop": ["a", "b", "c", "d", "e"]}), "`stop`"),
            (json!({"top_logprobs": 2}), "`top_logprobs`"),
            (json!({"messages": []}), "must not be empty"),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
                "text content only",
            ),
        ] {
            let err = chat(extra).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
            assert!(err.message().contains(expected), "{}", err.message());
        }
        let err = parse_json(Action::Embed, json!({"input": "x"})).unwrap_err();
        assert!(err.message().contains("embeddings"));
        assert!(parse(Action::Chat, b"[1]", 8).is_err());
    }
}
