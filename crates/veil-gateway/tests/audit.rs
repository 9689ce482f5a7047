//! The gateway's audit log end to end, over real HTTP, on SQLite and on PostgreSQL: request
//! and response records (refusals included), key changes, `/admin/v1/audit` with proofs that
//! verify and an export that verifies offline, and the audit metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::oneshot;
use veil_audit::{
    AuditRecord, Event, KeyChange, SignedCheckpoint, Verdict, VerifierKey, verify_consistency,
    verify_file, verify_inclusion,
};
use veil_gateway::auth::{NewKey, create_key};
use veil_gateway::config::Config;
use veil_gateway::server::Gateway;
use veil_store::{AuditQuery, AuditStore, PgConnectOptions, Store, verify_audit};
use veil_testkit::TestUpstream;

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
    async fn start(store: Store) -> Self {
        let upstream = TestUpstream::start().await;
        let text = format!(
            "[models.up]\nbase_url = \"{}\"\ntimeout_secs = 5\n[models.echo]\nkind = \"echo\"\n\
             [audit]\nname = \"veil.test/audit\"\ncheckpoint_every_records = 4\ncheckpoint_every_ms = 100\n",
            upstream.base_url()
        );
        let settings = Config::from_toml_str(&text, "test")
            .unwrap()
            .validate()
            .unwrap();
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
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn chat(&self, key: &str, model: &str, text: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": text}]}))
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    async fn admin_json(&self, path: &str) -> Value {
        let response = self.get(path, Some(&self.admin)).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// The records of one request, waiting for the response record (written after the
    /// answer, without blocking it).
    async fn records_for(&self, request_id: &str, want: usize) -> Vec<AuditRecord> {
        for _ in 0..200 {
            let found = self
                .store
                .audit_query(&AuditQuery {
                    request_id: Some(request_id.into()),
                    limit: 10,
                    ..AuditQuery::default()
                })
                .await
                .unwrap();
            if found.len() >= want {
                return found.into_iter().map(|(_, r)| r).collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("records of {request_id} never appeared");
    }
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn postgres_store() -> Option<(Store, String, String)> {
    let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
        eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
        return None;
    };
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("veil_gw_audit_{}", hex::encode(bytes));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some((Store::open_postgres(options).await.unwrap(), url, schema))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("veil.db"))
        .await
        .unwrap();
    audit_log_end_to_end(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_on_postgres() {
    if let Some((store, url, schema)) = postgres_store().await {
        audit_log_end_to_end(store.clone()).await;
        store.close().await;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn audit_log_end_to_end(store: Store) {
    let h = Harness::start(store).await;

    // The public key, admin only.
    assert_eq!(h.get("/admin/v1/audit/key", None).await.status(), 401);
    let key: VerifierKey = {
        let body = h.admin_json("/admin/v1/audit/key").await;
        VerifierKey::parse(body["verifier_key"].as_str().unwrap()).unwrap()
    };
    assert_eq!(key.name(), "veil.test/audit");

    // An allowed request: request record before forwarding, response record after.
    let allowed = h.chat(&h.admin, "up", "what is the weather in Lyon").await;
    assert_eq!(allowed.status(), 200);
    let allowed_id = request_id(&allowed);
    let records = h.records_for(&allowed_id, 2).await;
    let Event::Request(req) = &records[0].event else {
        panic!("{records:?}")
    };
    assert_eq!((req.verdict, req.model.as_str()), (Verdict::Allow, "up"));
    assert!(req.tokens > 0);
    let Event::Response(resp) = &records[1].event else {
        panic!("{records:?}")
    };
    assert_eq!((resp.status, resp.tokens), (200, 7));
    for record in &records {
        let bytes = record.encode();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Lyon"),
            "records never hold content"
        );
    }

    // A refused request (this key may not use `up`) is recorded as denied, with the reason,
    // and nothing reaches the upstream.
    let (limited, _) = create_key(
        &h.store,
        NewKey {
            tenant: "acme".into(),
            models: vec!["echo".into()],
            ..NewKey::default()
        },
    )
    .await
    .unwrap();
    let limited = limited.into_inner();
    let before = h.upstream.received().len();
    let denied = h.chat(&limited, "up", "hello").await;
    assert_eq!(denied.status(), 403);
    let denied_id = request_id(&denied);
    let records = h.records_for(&denied_id, 2).await;
    let Event::Request(req) = &records[0].event else {
        panic!("{records:?}")
    };
    assert_eq!(req.verdict, Verdict::Deny);
    assert!(
        req.reasons.iter().any(|r| r == "refused:model_not_allowed"),
        "{req:?}"
    );
    let Event::Response(resp) = &records[1].event else {
        panic!("{records:?}")
    };
    assert_eq!(resp.status, 403);
    assert_eq!(h.upstream.received().len(), before);

    // Queries over HTTP; the non-admin key is refused.
    assert_eq!(
        h.get("/admin/v1/audit/records", Some(&limited))
            .await
            .status(),
        403
    );
    let deny = h
        .admin_json("/admin/v1/audit/records?decision=deny&limit=10")
        .await;
    let data = deny["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{deny}");
    assert_eq!(data[0]["record"]["request_id"], denied_id.as_str());
    assert_eq!(data[0]["record"]["event"]["verdict"], "deny");
    let principal = data[0]["record"]["principal"].as_str().unwrap().to_owned();
    let mine = h
        .admin_json(&format!(
            "/admin/v1/audit/records?principal={principal}&since=2020-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 2, "{mine}");
    let bad = h
        .get("/admin/v1/audit/records?decision=maybe", Some(&h.admin))
        .await;
    assert_eq!(bad.status(), 400);

    // Key creation and revocation over the admin API are recorded.
    let created: Value = h
        .client
        .post(format!("{}/admin/v1/keys", h.base))
        .bearer_auth(&h.admin)
        .json(&json!({"tenant": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_id = created["id"].as_str().unwrap().to_owned();
    let revoked = h
        .client
        .delete(format!("{}/admin/v1/keys/{new_id}", h.base))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let changes: Vec<_> = h
        .store
        .audit_query(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, r)| match r.event {
            Event::KeyChange(k) if k.key_id == new_id => Some(k.change),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [KeyChange::Created, KeyChange::Revoked]);

    // Wait for the timer to sign the tail, then prove record 0 and the consistency of two
    // checkpoints, with only the public key.
    let size = h.store.audit_size().await.unwrap();
    let mut latest = Value::Null;
    for _ in 0..100 {
        latest = h.admin_json("/admin/v1/audit/checkpoints/latest").await;
        if latest["size"].as_u64() == Some(size) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(latest["size"].as_u64(), Some(size), "{latest}");
    let cp = SignedCheckpoint::parse(latest["text"].as_str().unwrap()).unwrap();
    assert!(key.verify(&cp).is_ok());

    let proof = h.admin_json("/admin/v1/audit/records/0/proof").await;
    let leaf = hex_hash(&proof["leaf"]);
    let path: Vec<[u8; 32]> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_hash)
        .collect();
    let proven = SignedCheckpoint::parse(proof["checkpoint"].as_str().unwrap()).unwrap();
    assert!(key.verify(&proven).is_ok());
    let n = proven.checkpoint.size;
    assert!(verify_inclusion(
        &leaf,
        0,
        n,
        &path,
        &proven.checkpoint.root
    ));
    assert!(!verify_inclusion(
        &leaf,
        1,
        n,
        &path,
        &proven.checkpoint.root
    ));
    assert_eq!(
        h.get("/admin/v1/audit/records/999999/proof", Some(&h.admin))
            .await
            .status(),
        404
    );

    let first = SignedCheckpoint::parse(&h.store.audit_checkpoints().await.unwrap()[0]).unwrap();
    let (from, to) = (first.checkpoint.size, cp.checkpoint.size);
    let consistency = h
        .admin_json(&format!("/admin/v1/audit/consistency?from={from}&to={to}"))
        .await;
    let path: Vec<[u8; 32]> = consistency["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_hash)
        .collect();
    assert!(verify_consistency(
        from,
        to,
        &first.checkpoint.root,
        &cp.checkpoint.root,
        &path
    ));
    assert_eq!(
        h.get("/admin/v1/audit/consistency?from=0&to=1", Some(&h.admin))
            .await
            .status(),
        400
    );

    // The export verifies offline, and equals what the store verifies.
    let export = h
        .get("/admin/v1/audit/export", Some(&h.admin))
        .await
        .bytes()
        .await
        .unwrap();
    let report = verify_file(export.as_ref(), &key).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.size >= size);
    let db = verify_audit(&h.store, &key).await.unwrap();
    assert!(db.is_ok(), "{db:?}");

    // The audit metrics.
    let metrics = h.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("veil_audit_append_duration_seconds_count"),
        "{metrics}"
    );
    assert!(
        metrics.contains("veil_audit_checkpoint_age_seconds"),
        "{metrics}"
    );
}

fn hex_hash(value: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value.as_str().unwrap(), &mut out).unwrap();
    out
}
