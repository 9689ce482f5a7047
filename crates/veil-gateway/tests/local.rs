//! Issue 10 end to end: a real gateway on 127.0.0.1:0 serving the real SmolLM2-135M-Instruct
//! GGUF as a `local` upstream.
//!
//! The model is found via `VEIL_TEST_MODEL` or at `.veil/SmolLM2-135M-Instruct.Q4_1.gguf` in
//! the workspace (`scripts/fetch-model`; CI fetches it). When absent each test prints a
//! notice and returns. Generation runs on one compute thread with a few tokens per answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use veil_gateway::auth::{NewKey, create_key};
use veil_gateway::config::{Config, Hosting};
use veil_gateway::server::{Gateway, StartError};
use veil_local::{ChatMessage, Event, GenerateRequest, LocalModel, Pool, PoolConfig, Registry};
use veil_store::Store;

fn model_path() -> Option<PathBuf> {
    let path = std::env::var_os("VEIL_TEST_MODEL").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.veil/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "notice: SmolLM2 test model not found at `{}`; run scripts/fetch-model or set VEIL_TEST_MODEL. skipping",
            path.display()
        );
        None
    }
}

struct Harness {
    base: String,
    key: String,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// The settings of a gateway serving the registered model as `smol`.
fn config(dir: &std::path::Path, local: &str) -> Config {
    let text = format!(
        "[server]\ndata_dir = \"{}\"\n\
         [models.smol]\nkind = \"local\"\nupstream_model = \"smollm2\"\ntimeout_secs = 120\n\
         approved_classes = [\"LOCATION\", \"PERSON\"]\n\
         [models.smol.local]\nthreads = 1\n{local}\n",
        dir.display()
    );
    Config::from_toml_str(&text, "test").unwrap()
}

impl Harness {
    /// A gateway whose data directory registers the test model as `smollm2`; `local` is
    /// the `[models.smol.local]` table's extra lines.
    async fn start(local: &str) -> Option<Self> {
        Self::start_as(local, &[]).await
    }

    /// Like [`Harness::start`], with a key holding `roles`.
    async fn start_as(local: &str, roles: &[&str]) -> Option<Self> {
        let path = model_path()?;
        let dir = tempfile::tempdir().unwrap();
        Registry::open(dir.path())
            .unwrap()
            .add("smollm2", &path)
            .unwrap();
        let settings = config(dir.path(), local).validate().unwrap();
        let store = Store::open_sqlite(&dir.path().join("veil.db"))
            .await
            .unwrap();
        let (key, _) = create_key(
            &store,
            NewKey {
                tenant: "acme".into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
        let gateway = Gateway::with_store(settings, store, &[7u8; 32]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async {
            let _ = stopped.await;
        }));
        Some(Self {
            base: format!("http://{addr}"),
            key: key.into_inner(),
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, body: &Value) -> (u16, Value) {
        let response = self.post("/v1/chat/completions", body).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

const QUESTION: &str = "What is the capital of France? Answer in one sentence.";

fn greedy(max_tokens: u64) -> Value {
    json!({
        "model": "smol",
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0,
        "max_tokens": max_tokens,
    })
}

/// The `data:` payloads of an SSE body, in order.
fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn greedy_chat_is_deterministic_and_answers_the_question() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    let (status, first) = h.chat(&greedy(8)).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = h.chat(&greedy(8)).await;
    let content = first["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        content,
        second["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert!(content.contains("Paris"), "answer: {content:?}");
    assert_eq!(first["object"], "chat.completion");
    assert_eq!(first["choices"][0]["message"]["role"], "assistant");
    assert!(first["usage"]["prompt_tokens"].as_u64().unwrap() > 10);
    assert!(first["usage"]["completion_tokens"].as_u64().unwrap() <= 8);
}

#[tokio::test]
async fn max_tokens_bounds_the_answer() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    let (status, body) = h.chat(&greedy(3)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    // The configured cap (`local.max_tokens`) bounds a request asking for more.
    let Some(capped) = Harness::start("max_tokens = 2").await else {
        return;
    };
    let (_, body) = capped.chat(&greedy(100)).await;
    assert_eq!(body["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn streaming_sends_tokens_as_sse_with_the_same_text() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    let (_, whole) = h.chat(&greedy(8)).await;
    let expected = whole["choices"][0]["message"]["content"].as_str().unwrap();
    let mut body = greedy(8);
    body["stream"] = json!(true);
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut frames = 0;
    let mut text = String::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        frames += 1;
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(parsed[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, expected);
    // Token by token: more content events than one, and the last carries finish and usage.
    let content_events = parsed
        .iter()
        .filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert!(content_events > 2, "{content_events} content events");
    assert!(frames > 2, "{frames} frames");
    let last = parsed.last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    assert_eq!(last["usage"], whole["usage"]);
}

#[tokio::test]
async fn stop_sequence_ends_the_answer_before_it() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    let (_, whole) = h.chat(&greedy(8)).await;
    let full = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let word = full.split_whitespace().nth(1).unwrap().to_owned();
    let cut = full.find(&word).unwrap();
    let mut body = greedy(8);
    body["stop"] = json!([word]);
    let (status, stopped) = h.chat(&body).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["choices"][0]["message"]["content"], full[..cut]);
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn concurrent_requests_wait_in_the_queue() {
    let Some(h) = Harness::start("workers = 1\nqueue_limit = 3").await else {
        return;
    };
    let body = greedy(3);
    let answers = futures_util::future::join_all((0..3).map(|_| h.chat(&body))).await;
    let first = &answers[0].1["choices"][0]["message"]["content"];
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(&body["choices"][0]["message"]["content"], first);
    }
}

#[tokio::test]
async fn a_full_queue_is_answered_429_at_once() {
    // No waiting room: while the one worker generates, another request is refused.
    let Some(h) = Harness::start("workers = 1\nqueue_limit = 0\nmax_tokens = 64").await else {
        return;
    };
    let long = json!({
        "model": "smol", "prompt": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,",
        "temperature": 0, "max_tokens": 64, "stream": true,
    });
    let busy = h.post("/v1/completions", &long).await;
    assert_eq!(busy.status(), 200);
    let mut busy = busy.bytes_stream();
    // The first token has come: the worker is now generating the rest.
    busy.next().await.unwrap().unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), h.post("/v1/completions", &long))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    // The busy stream still completes normally.
    let mut rest = String::new();
    while let Some(chunk) = busy.next().await {
        rest.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
}

#[tokio::test]
async fn completions_and_logprobs_when_asked() {
    // The default policy lets only admins see logprobs (`logprobs-admin`).
    let Some(h) = Harness::start_as("", &["admin"]).await else {
        return;
    };
    let response = h
        .post(
            "/v1/completions",
            &json!({"model": "smol", "prompt": "The capital of France is", "temperature": 0,
                    "max_tokens": 2, "logprobs": 2}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");
    let lp = &body["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(lp["top_logprobs"][0].as_object().unwrap().len(), 2);
    assert!(lp["token_logprobs"][0].as_f64().unwrap() <= 0.0);
    let mut chat = greedy(2);
    chat["logprobs"] = json!(true);
    chat["top_logprobs"] = json!(3);
    let (status, body) = h.chat(&chat).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    assert_eq!(content.len(), 2);
    // Greedy: the chosen token is the most likely alternative.
    assert_eq!(content[0]["top_logprobs"][0]["token"], content[0]["token"]);
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 3);
    // Without asking, no logprobs.
    let (_, plain) = h.chat(&greedy(2)).await;
    assert!(plain["choices"][0]["logprobs"].is_null());
}

#[tokio::test]
async fn the_model_gets_exactly_the_forwarded_conversation() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    // System prompt, multi-part user content, an earlier assistant turn: the gateway's
    // answer must equal the model's own answer to exactly these messages.
    let body = json!({
        "model": "smol", "temperature": 0, "max_tokens": 6,
        "messages": [
            {"role": "system", "content": "You answer in French."},
            {"role": "user", "content": [{"type": "text", "text": "Say hello "}, {"type": "text", "text": "to Marie."}]},
            {"role": "assistant", "content": "D'accord."},
            {"role": "user", "content": "Now say goodbye."},
        ],
    });
    let (status, answer) = h.chat(&body).await;
    assert_eq!(status, 200, "{answer}");
    let direct = direct(
        vec![
            ChatMessage::new("system", "You answer in French."),
            ChatMessage::new("user", "Say hello to Marie."),
            ChatMessage::new("assistant", "D'accord."),
            ChatMessage::new("user", "Now say goodbye."),
        ],
        6,
    )
    .await;
    assert_eq!(answer["choices"][0]["message"]["content"], direct.text);
    assert_eq!(answer["usage"]["prompt_tokens"], direct.prompt_tokens);
}

/// The model's own greedy answer to `messages`, outside the gateway.
async fn direct(messages: Vec<ChatMessage>, max_tokens: usize) -> veil_local::Completion {
    let model =
        LocalModel::from_gguf_bytes(&std::fs::read(model_path().unwrap()).unwrap()).unwrap();
    let mut request = GenerateRequest::chat(messages, max_tokens);
    request.temperature = Some(0.0);
    let pool = Pool::new(&model, PoolConfig::default()).unwrap();
    let events = pool.try_submit(request).unwrap();
    tokio::task::spawn_blocking(move || {
        events
            .iter()
            .find_map(|event| match event {
                Event::Done(done) => Some(done),
                Event::Chunk(_) => None,
                Event::Failed(err) => panic!("{err}"),
            })
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn protection_applies_the_model_never_sees_the_address() {
    let Some(h) = Harness::start("").await else {
        return;
    };
    let raw = "Repeat after me: write to jane.doe@example.com today.";
    let protected = "Repeat after me: write to <EMAIL_ADDRESS_1> today.";
    let body = json!({
        "model": "smol", "temperature": 0, "max_tokens": 12,
        "messages": [{"role": "user", "content": raw}],
    });
    let (status, answer) = h.chat(&body).await;
    assert_eq!(status, 200, "{answer}");
    let seen = direct(vec![ChatMessage::new("user", protected)], 12).await;
    let clear = direct(vec![ChatMessage::new("user", raw)], 12).await;
    // The model's prompt was the pseudonymized one, token for token in length, not the raw.
    assert_eq!(answer["usage"]["prompt_tokens"], seen.prompt_tokens);
    assert_ne!(seen.prompt_tokens, clear.prompt_tokens);
    // Its answer is the model's answer to the pseudonymized prompt (a placeholder the caller
    // may see restored).
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let restored = seen
        .text
        .replace("<EMAIL_ADDRESS_1>", "jane.doe@example.com");
    assert!(
        content == seen.text || content == restored,
        "gateway {content:?}, model on the protected prompt {:?}",
        seen.text
    );
}

#[tokio::test]
async fn a_changed_model_file_stops_startup_and_policy_sees_on_prem() {
    let Some(path) = model_path() else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("m.gguf");
    std::fs::copy(&path, &copy).unwrap();
    Registry::open(dir.path())
        .unwrap()
        .add("smollm2", &copy)
        .unwrap();
    let settings = config(dir.path(), "").validate().unwrap();
    assert_eq!(settings.models["smol"].attributes.hosting, Hosting::OnPrem);
    // One byte changed after registration: the gateway refuses to start with it.
    let mut bytes = std::fs::read(&copy).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&copy, &bytes).unwrap();
    let store = Store::open_sqlite(&dir.path().join("veil.db"))
        .await
        .unwrap();
    let err = Gateway::with_store(settings, store.clone(), &[7u8; 32]).unwrap_err();
    assert!(matches!(err, StartError::Upstreams(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("changed since it was registered"), "{text}");
    // An unregistered name is refused too.
    let other = tempfile::tempdir().unwrap();
    let settings = config(other.path(), "").validate().unwrap();
    let err = Gateway::with_store(settings, store, &[7u8; 32]).unwrap_err();
    assert!(
        err.to_string().contains("no model named `smollm2`"),
        "{err}"
    );
}
