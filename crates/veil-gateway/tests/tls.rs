//! TLS end to end: a self-signed certificate made here with rcgen, a real gateway serving
//! `[server.tls]` on 127.0.0.1:0, and a client that trusts exactly that certificate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use veil_gateway::auth::{NewKey, create_key};
use veil_gateway::config::Config;
use veil_gateway::server::Gateway;
use veil_store::Store;

#[tokio::test]
async fn the_gateway_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let text = format!(
        "[server]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n[models.echo]\nkind = \"echo\"\n",
        cert_path.display(),
        key_path.display()
    );
    let settings = Config::from_toml_str(&text, "test")
        .unwrap()
        .validate()
        .unwrap();
    let store = Store::open_sqlite(&dir.path().join("veil.db"))
        .await
        .unwrap();
    let (key, _) = create_key(
        &store,
        NewKey {
            tenant: "acme".into(),
            ..NewKey::default()
        },
    )
    .await
    .unwrap();
    let gateway = Gateway::with_store(settings, store, &[7u8; 32]).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));

    // A client that trusts the certificate talks HTTPS to `localhost`.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let health = trusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let chat = trusting
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key.expose())
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "over tls"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    let body: Value = chat.json().await.unwrap();
    assert!(body.to_string().contains("over tls"), "{body}");

    // A client without the certificate in its roots refuses the server.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut buf),
    )
    .await
    .unwrap();
    assert!(!buf.starts_with(b"HTTP/1.1 200"), "plain http was served");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let one = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, one.cert.pem()).unwrap();
    std::fs::write(&key_path, other.serialize_pem()).unwrap();
    let text = format!(
        "[server]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
        cert_path.display(),
        key_path.display()
    );
    let err = Config::from_toml_str(&text, "test")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("server.tls: certificate and key"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}
