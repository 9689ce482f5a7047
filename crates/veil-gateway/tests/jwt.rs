//! JWT bearer tokens end to end: a real gateway on 127.0.0.1:0, a real JWKS HTTP server,
//! real keys (RSA from `testdata/jwt`, ES256 generated here with rcgen). Each check is a
//! pair: the valid token passes, the altered one gets the same 401 as a missing header.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_rustls::rustls::pki_types::PrivatePkcs1KeyDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use veil_gateway::auth::unix_now;
use veil_gateway::config::Config;
use veil_gateway::server::{Gateway, StartError};
use veil_store::{AuditQuery, AuditStore, Store};

const ISSUER: &str = "https://idp.test/realms/main";

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jwt")
        .join(name)
}

/// A signing key with its public JWK.
struct SigningKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    /// One of the committed RSA test keys (`a` or `b`).
    fn rsa(name: &str, kid: &str) -> Self {
        let pem = std::fs::read(testdata(&format!("rsa-{name}.pem"))).unwrap();
        let der = PrivatePkcs1KeyDer::from_pem_slice(&pem).unwrap();
        let n = std::fs::read_to_string(testdata(&format!("rsa-{name}.n"))).unwrap();
        Self {
            alg: Algorithm::RS256,
            kid: kid.into(),
            encoding: EncodingKey::from_rsa_der(der.secret_pkcs1_der()),
            jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                        "n": n.trim(), "e": "AQAB"}),
        }
    }

    /// A fresh P-256 key.
    fn es256(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        assert_eq!(point.len(), 65);
        Self {
            alg: Algorithm::ES256,
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid,
                        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                        "y": URL_SAFE_NO_PAD.encode(&point[33..65])}),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// Signs with this key but names another `kid` in the header.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn claims() -> Value {
    let now = unix_now();
    json!({
        "iss": ISSUER,
        "aud": "veil",
        "sub": "ann@example.com",
        "org": "acme",
        "realm_access": {"roles": ["veil-admins", "offline_access"]},
        "iat": now,
        "exp": now + 300,
    })
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().unwrap().remove(field);
    claims
}

/// A real JWKS endpoint whose document the test can replace; counts fetches.
struct Jwks {
    addr: SocketAddr,
    doc: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

#[derive(Clone)]
struct JwksState {
    doc: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    async fn start(keys: &[&SigningKey]) -> Self {
        let doc = Arc::new(Mutex::new(jwks(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let state = JwksState {
            doc: doc.clone(),
            fetches: fetches.clone(),
        };
        let app = Router::new()
            .route(
                "/certs",
                get(|State(s): State<JwksState>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(s.doc.lock().unwrap().clone())
                }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            doc,
            fetches,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/certs", self.addr)
    }

    fn publish(&self, keys: &[&SigningKey]) {
        *self.doc.lock().unwrap() = jwks(keys);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

struct Gw {
    base: String,
    state: veil_gateway::state::AppState,
    store: Store,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn jwt_config(jwks: &str, extra: &str) -> String {
    format!(
        "[models.echo]\nkind = \"echo\"\n\
         [auth.jwt]\njwks = \"{jwks}\"\nissuer = \"{ISSUER}\"\naudience = [\"veil\", \"other-api\"]\n\
         tenant_claim = \"org\"\nroles_claim = \"realm_access.roles\"\nleeway_secs = 60\n{extra}"
    )
}

impl Gw {
    async fn start(config: &str) -> Self {
        let settings = Config::from_toml_str(config, "test")
            .unwrap()
            .validate()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("veil.db"))
            .await
            .unwrap();
        let gateway = Gateway::with_store(settings, store.clone(), &[7u8; 32]).unwrap();
        gateway.state().auth.jwt().unwrap().refresh().await.unwrap();
        let state = gateway.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            state,
            store,
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    async fn chat(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/v1/chat/completions", self.base))
            .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Status and body of a chat with `token`.
    async fn try_token(&self, token: Option<&str>) -> (u16, Value) {
        let response = self.chat(token).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// Asserts the token passes and returns the response's request id.
async fn assert_passes(gw: &Gw, token: &str, what: &str) -> String {
    let response = gw.chat(Some(token)).await;
    assert_eq!(response.status(), 200, "{what} should pass");
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn assert_refused(gw: &Gw, token: &str, what: &str) {
    let reference = gw.try_token(None).await;
    assert_eq!(reference.0, 401);
    let (status, body) = gw.try_token(Some(token)).await;
    assert_eq!(status, 401, "{what} should be refused");
    assert_eq!(
        body, reference.1,
        "{what}: the 401 must look like every other"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn valid_tokens_pass_and_every_altered_token_gets_the_same_401() {
    let rsa = SigningKey::rsa("a", "rsa-1");
    let ec = SigningKey::es256("ec-1");
    let wrong = SigningKey::rsa("b", "rsa-1");
    let jwks = Jwks::start(&[&rsa, &ec]).await;
    let gw = Gw::start(&jwt_config(&jwks.url(), "")).await;
    let now = unix_now();

    // RS256 and ES256 both pass, and the principal is recorded under a pseudonymous id.
    let request_id = assert_passes(&gw, &rsa.sign(&claims()), "RS256").await;
    assert_passes(&gw, &ec.sign(&claims()), "ES256").await;
    let query = AuditQuery {
        request_id: Some(request_id.clone()),
        limit: 10,
        ..AuditQuery::default()
    };
    let records = gw.store.audit_query(&query).await.unwrap();
    let request = records
        .iter()
        .map(|(_, record)| record)
        .find(|r| matches!(r.event, veil_audit::Event::Request(_)))
        .unwrap();
    let key_id = request.principal.clone();
    assert!(key_id.starts_with("jwt_"), "{key_id}");
    assert!(
        !key_id.contains("ann"),
        "the subject is not recorded in clear"
    );
    // A second audience listed in the config also passes; an array `aud` too.
    assert_passes(
        &gw,
        &rsa.sign(&with(claims(), "aud", json!(["x", "other-api"]))),
        "aud array",
    )
    .await;
    // Leeway: expired 30 s ago is within 60 s of leeway; 120 s ago is not.
    assert_passes(
        &gw,
        &rsa.sign(&with(claims(), "exp", json!(now - 30))),
        "exp within leeway",
    )
    .await;
    assert_refused(
        &gw,
        &rsa.sign(&with(claims(), "exp", json!(now - 120))),
        "expired",
    )
    .await;
    assert_passes(
        &gw,
        &rsa.sign(&with(claims(), "nbf", json!(now + 30))),
        "nbf within leeway",
    )
    .await;
    assert_refused(
        &gw,
        &rsa.sign(&with(claims(), "nbf", json!(now + 600))),
        "not yet valid",
    )
    .await;
    assert_refused(
        &gw,
        &rsa.sign(&with(claims(), "iss", json!("https://evil.test"))),
        "wrong issuer",
    )
    .await;
    assert_refused(
        &gw,
        &rsa.sign(&with(claims(), "aud", json!("another-service"))),
        "wrong audience",
    )
    .await;
    assert_refused(&gw, &rsa.sign(&without(claims(), "aud")), "no audience").await;
    assert_refused(&gw, &rsa.sign(&without(claims(), "exp")), "no expiry").await;
    assert_refused(&gw, &rsa.sign(&without(claims(), "org")), "no tenant").await;
    assert_refused(&gw, &rsa.sign(&without(claims(), "sub")), "no subject").await;
    // Signed by a key the provider does not publish, under a published kid.
    assert_refused(&gw, &wrong.sign(&claims()), "wrong key").await;
    // The EC key signing under the RSA key's kid.
    assert_refused(&gw, &ec.sign_as("rsa-1", &claims()), "key type mismatch").await;

    // alg = none, with and without a signature part.
    let valid = rsa.sign(&claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let none_header = b64(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}));
    assert_refused(&gw, &format!("{none_header}.{}.", parts[1]), "alg none").await;
    assert_refused(
        &gw,
        &format!("{none_header}.{}.{}", parts[1], parts[2]),
        "alg none with a signature",
    )
    .await;
    // A tampered payload under the original signature.
    let tampered = b64(&with(claims(), "org", json!("other-tenant")));
    assert_refused(
        &gw,
        &format!("{}.{tampered}.{}", parts[0], parts[2]),
        "tampered payload",
    )
    .await;
    // A tampered header (kid switched to the EC key) under the original signature.
    let header = b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "ec-1"}));
    assert_refused(
        &gw,
        &format!("{header}.{}.{}", parts[1], parts[2]),
        "tampered header",
    )
    .await;
    // Algorithm confusion: HS256 keyed with the published RSA modulus.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let n = rsa.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let confused = jsonwebtoken::encode(&hs, &claims(), &EncodingKey::from_secret(&n)).unwrap();
    assert_refused(&gw, &confused, "HS256 with a public key").await;
    // RS384 is a valid RSA algorithm but not listed in `algorithms`.
    let mut rs384 = Header::new(Algorithm::RS384);
    rs384.kid = Some("rsa-1".into());
    let unlisted = jsonwebtoken::encode(&rs384, &claims(), &rsa.encoding).unwrap();
    assert_refused(&gw, &unlisted, "unlisted algorithm").await;
    assert_refused(&gw, "not.a.jwt", "garbage").await;
    // The original still passes: nothing above was refused by accident of state.
    assert_passes(&gw, &valid, "original").await;
}

#[tokio::test]
async fn claims_map_to_roles_through_the_role_map() {
    let rsa = SigningKey::rsa("a", "rsa-1");
    let jwks = Jwks::start(&[&rsa]).await;
    let gw = Gw::start(&jwt_config(
        &jwks.url(),
        "[auth.jwt.role_map]\n\"veil-admins\" = \"admin\"\n",
    ))
    .await;
    let admin = rsa.sign(&claims());
    let user = rsa.sign(&with(
        claims(),
        "realm_access",
        json!({"roles": ["offline_access"]}),
    ));
    let list = |token: String| {
        let request = gw
            .client
            .get(format!("{}/admin/v1/keys", gw.base))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(list(admin).await, 200, "mapped admin role");
    assert_eq!(list(user).await, 403, "no mapped role");
}

#[tokio::test]
async fn rotated_keys_are_fetched_on_an_unknown_kid_at_a_bounded_rate() {
    let old = SigningKey::rsa("a", "old");
    let new = SigningKey::es256("new");
    let jwks = Jwks::start(&[&old]).await;
    let gw = Gw::start(&jwt_config(&jwks.url(), "")).await;
    assert_eq!(jwks.fetches(), 1, "fetched at startup");
    assert_passes(&gw, &old.sign(&claims()), "old key").await;
    assert_refused(&gw, &new.sign(&claims()), "unpublished key").await;
    assert_eq!(jwks.fetches(), 2, "an unknown kid triggers one fetch");
    jwks.publish(&[&old, &new]);
    // Within the minimum interval no fetch happens, whatever kids arrive.
    assert_refused(&gw, &new.sign(&claims()), "not yet refetched").await;
    assert_refused(&gw, &new.sign_as("random", &claims()), "random kid").await;
    assert_eq!(jwks.fetches(), 2, "fetches are rate limited");
    // The scheduled refresh (run here directly) picks the new key up.
    gw.state.auth.jwt().unwrap().refresh().await.unwrap();
    assert_passes(&gw, &new.sign(&claims()), "rotated key").await;
}

#[tokio::test]
async fn the_jwks_is_refreshed_on_schedule() {
    let old = SigningKey::rsa("a", "old");
    let new = SigningKey::es256("new");
    let jwks = Jwks::start(&[&old]).await;
    let gw = Gw::start(&jwt_config(&jwks.url(), "refresh_secs = 1\n")).await;
    jwks.publish(&[&old, &new]);
    let published_at = jwks.fetches();
    // No request is sent: only the schedule can fetch (polled, for a loaded machine).
    for _ in 0..100 {
        if jwks.fetches() > published_at {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        jwks.fetches() > published_at,
        "refreshed without any request"
    );
    assert_passes(&gw, &new.sign(&claims()), "key published after startup").await;
}

#[tokio::test]
async fn a_jwks_file_works_and_an_unreachable_provider_stops_startup() {
    let ec = SigningKey::es256("file-key");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&ec]).to_string()).unwrap();
    let gw = Gw::start(&jwt_config(path.to_str().unwrap(), "")).await;
    assert_passes(&gw, &ec.sign(&claims()), "key from file").await;
    assert_refused(
        &gw,
        &SigningKey::es256("file-key").sign(&claims()),
        "other key",
    )
    .await;

    // Nothing listens on this port: `Gateway::start` fails, naming the JWKS.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut config =
        Config::from_toml_str(&jwt_config(&format!("http://{addr}/certs"), ""), "t").unwrap();
    config.server.data_dir = dir.path().join("data");
    config.store.database_url = Some(format!(
        "sqlite:{}",
        dir.path().join("data/veil.db").display()
    ));
    let err = Gateway::start(config.validate().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Jwks(_)), "{err}");
    assert!(err.to_string().contains("cannot fetch jwks"), "{err}");
}

#[tokio::test]
async fn api_keys_keep_working_beside_jwt() {
    let rsa = SigningKey::rsa("a", "rsa-1");
    let jwks = Jwks::start(&[&rsa]).await;
    let gw = Gw::start(&jwt_config(&jwks.url(), "")).await;
    let (key, _) = veil_gateway::auth::create_key(
        &gw.store,
        veil_gateway::auth::NewKey {
            tenant: "acme".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_passes(&gw, key.expose(), "api key").await;
    assert_passes(&gw, &rsa.sign(&claims()), "jwt").await;
    assert_refused(&gw, &format!("veil_{}", "A".repeat(43)), "unknown api key").await;
}
