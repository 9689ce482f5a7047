//! Crash test (issue 5): the real `veil serve` binary in front of the test upstream, under
//! sustained concurrent load, is killed with SIGKILL. Afterwards the audit log in its
//! database verifies, and every request the upstream received has its request record
//! (written durably before forwarding). A restart continues the log and signs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use veil_audit::{
    CheckpointSigner, DIGEST_KEY_INFO, Event, SIGNING_KEY_INFO, TextDigester, Verdict, derive_key,
};
use veil_store::{AuditQuery, AuditStore, Store, verify_audit};
use veil_testkit::TestUpstream;

/// A running `veil serve`, with the admin key it printed and the address it listens on.
struct Served {
    child: Child,
    base: String,
    admin: Option<String>,
}

fn serve(dir: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["serve", "--config"])
        .arg(dir.join("veil.toml"))
        .env_remove("VEIL_MASTER_KEY")
        .env_remove("VEIL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("veil_") {
                let _ = out_tx.send(("key", line));
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("veil: listening on ") {
                let addr = addr
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(("addr", addr));
            }
        }
    });
    let mut base = None;
    let mut admin = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while base.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let (what, value) = rx.recv_timeout(left).expect("veil serve did not start");
        match what {
            "addr" => base = Some(value),
            _ => admin = Some(value),
        }
    }
    // The key line is printed before the address line; give the reader a moment.
    if admin.is_none() {
        admin = rx
            .recv_timeout(Duration::from_millis(200))
            .ok()
            .map(|(_, k)| k);
    }
    Served {
        child,
        base: base.unwrap(),
        admin,
    }
}

fn body(n: u64) -> String {
    serde_json::json!({
        "model": "up",
        "messages": [{"role": "user", "content": format!("crash test request {n}")}],
    })
    .to_string()
}

fn root_key(dir: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(dir.join("data/root.key")).unwrap();
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key).unwrap();
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_forwarded_request() {
    let upstream = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
         [models.up]\nbase_url = \"{}\"\n\
         [audit]\nname = \"veil.crash/audit\"\ncheckpoint_every_records = 50\ncheckpoint_every_ms = 200\n\
         [log]\nlevel = \"warn\"\n",
        dir.path().join("data").display(),
        upstream.base_url()
    );
    std::fs::write(dir.path().join("veil.toml"), config).unwrap();
    let mut served = serve(dir.path());
    let admin = served.admin.clone().expect("bootstrap admin key");
    let url = format!("{}/v1/chat/completions", served.base);

    // Sustained load: 16 clients, each sending request after request, until the kill.
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
        let (stop, next, ok) = (stop.clone(), next.clone(), ok.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let sent = client
                    .post(&url)
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body(body(n))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Kill in the middle of the load, once a good number of requests went through.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ok.load(Ordering::Relaxed) < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.child.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint
    served.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let received = upstream.received();
    assert!(
        received.len() >= 300,
        "load reached the upstream: {}",
        received.len()
    );

    // The log verifies: no record modified, missing or out of order; every checkpoint good.
    let root = root_key(dir.path());
    let key = CheckpointSigner::from_seed("veil.crash/audit", &derive_key(&root, SIGNING_KEY_INFO))
        .unwrap()
        .verifier();
    let store = Store::open_sqlite(&dir.path().join("data/veil.db"))
        .await
        .unwrap();
    let report = verify_audit(&store, &key).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.checkpoints_verified > 0, "{report:?}");

    // Every request the upstream received has its request record (allowed), found by the
    // keyed digest of the exact body the client sent.
    let digester = TextDigester::new(&derive_key(&root, DIGEST_KEY_INFO));
    let recorded: HashSet<[u8; 32]> = store
        .audit_query(&AuditQuery {
            limit: u32::MAX,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, r)| match r.event {
            Event::Request(q) if q.verdict == Verdict::Allow => Some(q.prompt_digest),
            _ => None,
        })
        .collect();
    for got in &received {
        let content = got["messages"][0]["content"].as_str().unwrap();
        let n: u64 = content.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            recorded.contains(&digester.digest(&body(n))),
            "request {n} reached the upstream without a request record"
        );
    }
    store.close().await;

    // A restart continues the same log; a clean stop (SIGTERM) signs its tail.
    let mut again = serve(dir.path());
    assert!(again.admin.is_none(), "the bootstrap key is created once");
    let r = client
        .post(format!("{}/v1/chat/completions", again.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(body(u64::MAX))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let term = Command::new("kill")
        .args(["-TERM", &again.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(again.child.wait().unwrap().success());
    let store = Store::open_sqlite(&dir.path().join("data/veil.db"))
        .await
        .unwrap();
    let report = verify_audit(&store, &key).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.signed_size, Some(report.size), "{report:?}");
    store.close().await;
}
