//! End to end: a real gateway on 127.0.0.1:0 in front of the real test upstream.
//!
//! Every test runs twice: on SQLite (module `sqlite`) and on PostgreSQL (module `postgres`)
//! when `VEIL_TEST_POSTGRES_URL` is set (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Each PostgreSQL case gets a fresh schema,
//! dropped at its end, so runs in parallel do not meet; without the variable the PostgreSQL
//! cases print a notice and pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use veil_audit::{AuditRecord, Event};
use veil_gateway::auth::{NewKey, create_key, unix_now};
use veil_gateway::config::Config;
use veil_gateway::server::Gateway;
use veil_store::{AuditQuery, AuditStore, KeyLimits, PgConnectOptions, Store};
use veil_testkit::{ANSWER, Mode, TestUpstream};

/// Which store the gateway under test runs on.
enum Backend {
    Sqlite,
    Postgres(Box<PgConnectOptions>),
}

/// A fresh PostgreSQL schema for one test case.
struct Pg {
    url: String,
    schema: String,
}

impl Pg {
    /// Creates the schema, or prints a notice and returns `None` without the variable.
    async fn create() -> Option<Self> {
        let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
            eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
            return None;
        };
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let schema = format!("veil_gw_test_{}", hex::encode(bytes));
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Some(Self { url, schema })
    }

    fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.schema.as_str())])
    }

    /// Drops the schema. The case's gateway may still be finishing background writes (audit,
    /// usage) on its own connections when the case returns, and `DROP SCHEMA` then deadlocks
    /// with them or waits on their locks; those two errors are retried until the writers finish.
    async fn drop_schema(self) {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query("SET lock_timeout = '2s'")
            .execute(&mut conn)
            .await
            .unwrap();
        let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        for attempt in 1u64.. {
            match sqlx::query(&statement).execute(&mut conn).await {
                Ok(_) => return,
                Err(sqlx::Error::Database(e))
                    if attempt < 20 && matches!(e.code().as_deref(), Some("40P01" | "55P03")) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => panic!("dropping test schema {}: {e}", self.schema),
            }
        }
    }
}

/// Expands each `async fn(Backend)` case into a SQLite test and a PostgreSQL test.
macro_rules! e2e {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(pg) = super::Pg::create().await {
                        super::$name(super::Backend::Postgres(Box::new(pg.options()))).await;
                        pg.drop_schema().await;
                    }
                }
            )*
        }
    };
}

struct Harness {
    base: String,
    upstream: TestUpstream,
    admin: String,
    store: Store,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(backend: Backend) -> Self {
        Self::with_config(backend, "").await
    }

    /// Starts a gateway whose models are `up` (the test upstream, 1 s timeout), `echo`, and
    /// `down` (nothing listens there); `extra` is appended to the config.
    async fn with_config(backend: Backend, extra: &str) -> Self {
        let upstream = TestUpstream::start().await;
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let text = format!(
            "[models.up]\nbase_url = \"{}\"\nupstream_model = \"upstream-model\"\ntimeout_secs = 1\nretries = 1\n\
             [models.echo]\nkind = \"echo\"\n\
             [models.down]\nbase_url = \"http://{closed_addr}/v1\"\nretries = 1\n{extra}",
            upstream.base_url()
        );
        let settings = Config::from_toml_str(&text, "test")
            .unwrap()
            .validate()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = match backend {
            Backend::Sqlite => Store::open_sqlite(&dir.path().join("veil.db"))
                .await
                .unwrap(),
            Backend::Postgres(options) => Store::open_postgres(*options).await.unwrap(),
        };
        let (admin, _) = create_key(
            &store,
            NewKey {
                tenant: "acme".into(),
                roles: vec!["admin".into()],
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
        let gateway = Gateway::with_store(settings, store.clone(), &[7u8; 32]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            upstream,
            admin: admin.into_inner(),
            store,
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    async fn key(&self, spec: NewKey) -> String {
        create_key(&self.store, spec).await.unwrap().0.into_inner()
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions", Some(key), &body).await
    }
}

/// The audit records of one request, in log order.
async fn records_for(store: &Store, request_id: &str) -> Vec<AuditRecord> {
    let query = AuditQuery {
        request_id: Some(request_id.into()),
        limit: 10,
        ..AuditQuery::default()
    };
    let found = store.audit_query(&query).await.unwrap();
    found.into_iter().map(|(_, record)| record).collect()
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error["code"].is_string(), "{body}");
    (status, body)
}

async fn chat_passes_through_with_tools_and_multipart_and_is_recorded(backend: Backend) {
    let h = Harness::start(backend).await;
    let request = json!({
        "model": "up",
        "temperature": 0.1,
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}
        ]
    });
    let response = h.chat(&h.admin, request.clone()).await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "weather");
    assert_eq!(call["arguments"], "{\"city\":\"Paris\"}");
    // The upstream received the request unchanged except for its own model name.
    let mut expected = request;
    expected["model"] = json!("upstream-model");
    assert_eq!(h.upstream.received(), vec![expected]);
    // Request and response records, linked by the request id.
    let mut records = Vec::new();
    for _ in 0..100 {
        records = records_for(&h.store, &request_id).await;
        if records.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(records.len(), 2);
    let Event::Request(req) = &records[0].event else {
        panic!("first record is the request: {records:?}")
    };
    let Event::Response(resp) = &records[1].event else {
        panic!("second record is the response: {records:?}")
    };
    assert_eq!(resp.status, 200);
    assert_eq!(resp.tokens, 7);
    assert_eq!(req.model, "up");
    assert_ne!(req.prompt_digest, [0; 32]);
    assert_ne!(resp.answer_digest, [0; 32]);
    for record in &records {
        let bytes = String::from_utf8_lossy(&record.encode()).into_owned();
        assert!(!bytes.contains("weather"), "records never hold content");
    }
}

async fn completions_and_embeddings_pass_through(backend: Backend) {
    let h = Harness::start(backend).await;
    let response = h
        .post(
            "/v1/completions",
            Some(&h.admin),
            &json!({"model": "up", "prompt": "say hi"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["text"], ANSWER);
    let response = h
        .post(
            "/v1/embeddings",
            Some(&h.admin),
            &json!({"model": "up", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["embedding"], json!([0.25, -0.5, 1.0]));
    let received = h.upstream.received();
    assert_eq!(received[1]["input"], json!(["a", "b"]));
}

async fn collect_sse(response: reqwest::Response) -> (Vec<Value>, bool) {
    let text = response.text().await.unwrap();
    let mut events = Vec::new();
    let mut done = false;
    for line in text.lines() {
        if let Some(data) = line.strip_prefix("data: ") {
            if data == "[DONE]" {
                done = true;
            } else {
                events.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    (events, done)
}

async fn streaming_first_chunk_arrives_before_the_upstream_finishes(backend: Backend) {
    let h = Harness::start(backend).await;
    h.upstream.set_mode(Mode::Gated);
    let mut body = hello("up");
    body["stream"] = json!(true);
    let response = h.chat(&h.admin, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut stream = response.bytes_stream();
    // The upstream holds everything after its first chunk until `release`: if the gateway
    // buffered the stream, this read would never complete (the guard turns a hang into a
    // failure).
    let first = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("gateway buffered the stream")
        .unwrap()
        .unwrap();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(first.starts_with("data: "), "{first}");
    assert!(first.contains("hello"), "{first}");
    assert!(!first.contains("[DONE]"));
    // The request record was committed before the upstream got the request.
    let records = records_for(&h.store, &request_id).await;
    assert_eq!(records.len(), 1);
    assert!(matches!(records[0].event, Event::Request(_)));
    h.upstream.release();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
}

async fn streamed_tool_calls_pass_through(backend: Backend) {
    let h = Harness::start(backend).await;
    let body = json!({"model": "up", "stream": true,
        "tools": [{"type": "function", "function": {"name": "weather"}}],
        "messages": [{"role": "user", "content": "weather?"}]});
    let (events, done) = collect_sse(h.chat(&h.admin, body).await).await;
    assert!(done);
    let args: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{\"city\":\"Paris\"}");
}

async fn echo_answers_with_exactly_what_the_model_would_receive(backend: Backend) {
    let h = Harness::start(backend).await;
    let request = json!({"model": "echo", "messages": [{"role": "user", "content": "Ünïcode and \"quotes\" to see"}], "temperature": 0});
    let body: Value = h
        .chat(&h.admin, request.clone())
        .await
        .json()
        .await
        .unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    let seen: Value = serde_json::from_str(content).unwrap();
    assert_eq!(seen, request);
    // Streaming: the deltas concatenate to the same JSON.
    let mut streaming = request.clone();
    streaming["stream"] = json!(true);
    streaming["messages"][0]["content"] = json!("x".repeat(300));
    let (events, done) = collect_sse(h.chat(&h.admin, streaming.clone()).await).await;
    assert!(done);
    assert!(events.len() > 3, "long content arrives in several chunks");
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), streaming);
    assert!(h.upstream.received().is_empty(), "echo never calls out");
}

async fn invalid_keys_get_the_same_401(backend: Backend) {
    let h = Harness::start(backend).await;
    let valid = h
        .key(NewKey {
            tenant: "acme".into(),
            ..NewKey::default()
        })
        .await;
    let expired = h
        .key(NewKey {
            tenant: "acme".into(),
            expires_at: Some(unix_now() - 10),
            ..NewKey::default()
        })
        .await;
    let revoked = h
        .key(NewKey {
            tenant: "acme".into(),
            ..NewKey::default()
        })
        .await;
    let revoked_id = {
        use veil_store::KeyStore;
        h.store
            .key_by_hash(&veil_gateway::auth::hash_key(&revoked))
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let response = h
        .client
        .delete(format!("{}/admin/v1/keys/{revoked_id}", h.base))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The valid key passes.
    assert_eq!(h.chat(&valid, hello("up")).await.status(), 200);
    let mut bodies = Vec::new();
    let unknown = format!("veil_{}", "A".repeat(43));
    for key in [
        None,
        Some("garbage"),
        Some(unknown.as_str()),
        Some(expired.as_str()),
        Some(revoked.as_str()),
    ] {
        let response = h.post("/v1/chat/completions", key, &hello("up")).await;
        let (status, body) = error_of(response).await;
        assert_eq!(status, 401, "{key:?}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every failure looks the same"
    );
    assert_eq!(
        h.upstream.received().len(),
        1,
        "only the valid request was forwarded"
    );
}

async fn model_access_is_enforced_and_listed(backend: Backend) {
    let h = Harness::start(backend).await;
    let only_echo = h
        .key(NewKey {
            tenant: "acme".into(),
            models: vec!["echo".into()],
            ..NewKey::default()
        })
        .await;
    let (status, body) = error_of(h.chat(&only_echo, hello("up")).await).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(h.chat(&only_echo, hello("echo")).await.status(), 200);
    let (status, _) = error_of(h.chat(&h.admin, hello("nope")).await).await;
    assert_eq!(status, 404);
    let list = |key: String| {
        let client = h.client.clone();
        let url = format!("{}/v1/models", h.base);
        async move {
            let body: Value = client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(only_echo).await, ["echo"]);
    assert_eq!(list(h.admin.clone()).await, ["down", "echo", "up"]);
    assert!(h.upstream.received().is_empty());
}

async fn oversized_requests_get_413(backend: Backend) {
    let h = Harness::with_config(
        backend,
        "[limits]\nmax_body_bytes = 2048\nmax_messages = 3\n",
    )
    .await;
    let big = json!({"model": "up", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (status, body) = error_of(h.chat(&h.admin, big).await).await;
    assert_eq!(status, 413, "{body}");
    // Without a Content-Length (chunked upload) the limit holds while reading.
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = h
        .client
        .post(format!("{}/v1/chat/completions", h.base))
        .bearer_auth(&h.admin)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 413);
    let many = json!({"model": "up", "messages": [{"content": "a"}, {"content": "b"}, {"content": "c"}, {"content": "d"}]});
    assert_eq!(error_of(h.chat(&h.admin, many).await).await.0, 413);
    assert!(h.upstream.received().is_empty());
}

async fn rate_limits_give_429_with_retry_after(backend: Backend) {
    let h = Harness::start(backend).await;
    let key = h
        .key(NewKey {
            tenant: "acme".into(),
            limits: KeyLimits {
                requests_per_minute: Some(1),
                ..KeyLimits::default()
            },
            ..NewKey::default()
        })
        .await;
    assert_eq!(h.chat(&key, hello("up")).await.status(), 200);
    let response = h.chat(&key, hello("up")).await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let (status, body) = error_of(response).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(h.upstream.received().len(), 1);
    let metrics = h
        .client
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("veil_rate_limited_total{scope=\"key\"} 1"),
        "{metrics}"
    );
}

async fn upstream_failures_map_to_502_and_504(backend: Backend) {
    let h = Harness::start(backend).await;
    h.upstream.set_mode(Mode::Fail(500));
    let (status, body) = error_of(h.chat(&h.admin, hello("up")).await).await;
    assert_eq!(status, 502);
    assert!(
        !body.to_string().contains("test upstream failure"),
        "upstream details stay inside"
    );
    h.upstream.set_mode(Mode::Malformed);
    assert_eq!(error_of(h.chat(&h.admin, hello("up")).await).await.0, 502);
    let mut streaming = hello("up");
    streaming["stream"] = json!(true);
    assert_eq!(error_of(h.chat(&h.admin, streaming).await).await.0, 502);
    assert_eq!(error_of(h.chat(&h.admin, hello("down")).await).await.0, 502);
    h.upstream.set_mode(Mode::Slow(Duration::from_secs(3)));
    let (status, body) = error_of(h.chat(&h.admin, hello("up")).await).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "upstream_timeout");
    let metrics = h
        .client
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("veil_upstream_errors_total{model=\"up\",kind=\"upstream_timeout\"} 1"),
        "{metrics}"
    );
}

async fn a_failing_store_fails_closed(backend: Backend) {
    let h = Harness::start(backend).await;
    assert_eq!(h.chat(&h.admin, hello("up")).await.status(), 200);
    h.store.close().await;
    // The key is still cached, so the request gets as far as `record`, which cannot commit.
    let (status, body) = error_of(h.chat(&h.admin, hello("up")).await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(h.upstream.received().len(), 1, "nothing was forwarded");
    let ready = h
        .client
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

async fn admin_api_manages_keys(backend: Backend) {
    let h = Harness::start(backend).await;
    let url = format!("{}/admin/v1/keys", h.base);
    let created: Value = h
        .client
        .post(&url)
        .bearer_auth(&h.admin)
        .json(&json!({"tenant": "globex", "roles": ["analyst"], "models": ["echo"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("veil_"));
    assert_eq!(h.chat(&key, hello("echo")).await.status(), 200);
    // Not an admin: 403 on the admin API.
    let response = h.client.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(error_of(response).await.0, 403);
    let listed = h
        .client
        .get(&url)
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("globex"));
    assert!(
        !listed.contains(&key) && !listed.contains("key_hash"),
        "secrets never listed"
    );
    let id = created["id"].as_str().unwrap();
    let response = h
        .client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(error_of(h.chat(&key, hello("echo")).await).await.0, 401);
    let response = h
        .client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 404);
}

async fn health_ready_and_metrics(backend: Backend) {
    let h = Harness::start(backend).await;
    let get = |path: &str| h.client.get(format!("{}{path}", h.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    assert_eq!(h.chat(&h.admin, hello("up")).await.status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            "veil_requests_total{route=\"/v1/chat/completions\",model=\"up\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("veil_request_duration_seconds_count"));
    assert!(metrics.contains("veil_upstream_duration_seconds_count{model=\"up\"} 1"));
    assert!(metrics.contains("veil_in_flight_requests"));
    let (status, _) = error_of(get("/nope").await.unwrap()).await;
    assert_eq!(status, 404);
}

async fn slow_loris_and_huge_headers_are_cut_off(backend: Backend) {
    let h = Harness::with_config(backend, "[limits]\nheader_read_timeout_secs = 1\n").await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    // A client that never finishes its headers is disconnected.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf))
        .await
        .expect("slow client was never cut off");
    assert!(read.is_ok());
    // Headers beyond the limit are refused.
    let big = "x".repeat(64 * 1024);
    let response = h
        .client
        .get(format!("{}/healthz", h.base))
        .header("x-big", big)
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(err) => assert!(err.is_request() || err.is_connect(), "{err}"),
    }
}

e2e!(
    chat_passes_through_with_tools_and_multipart_and_is_recorded,
    completions_and_embeddings_pass_through,
    streaming_first_chunk_arrives_before_the_upstream_finishes,
    streamed_tool_calls_pass_through,
    echo_answers_with_exactly_what_the_model_would_receive,
    invalid_keys_get_the_same_401,
    model_access_is_enforced_and_listed,
    oversized_requests_get_413,
    rate_limits_give_429_with_retry_after,
    upstream_failures_map_to_502_and_504,
    a_failing_store_fails_closed,
    admin_api_manages_keys,
    health_ready_and_metrics,
    slow_loris_and_huge_headers_are_cut_off,
);
