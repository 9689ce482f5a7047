//! Crash test (issue 5): the real `veil serve` binary in front of the test upstream, under
//! sustained concurrent load, is killed with SIGKILL. Afterwards the audit log in its
//! database verifies (`veil audit verify`, and the library verifier), and every request the
//! upstream received has its request record (written durably before forwarding). A restart
//! continues the log and a clean stop signs it. On SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Served, Site, chat_body};
use veil_audit::{DIGEST_KEY_INFO, Event, TextDigester, Verdict, derive_key};
use veil_store::{AuditQuery, AuditStore, verify_audit};
use veil_testkit::TestUpstream;

const NAME: &str = "veil.crash/audit";
/// Requests that must have succeeded before the kill.
const BEFORE_KILL: u64 = 300;

fn body(n: u64) -> String {
    chat_body(&format!("crash test request {n}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_forwarded_request_sqlite() {
    let site = Site::new(false).await.unwrap();
    sigkill_under_load(&site).await;
    site.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_forwarded_request_postgres() {
    if let Some(site) = Site::new(true).await {
        sigkill_under_load(&site).await;
        site.cleanup().await;
    }
}

async fn sigkill_under_load(site: &Site) {
    let upstream = TestUpstream::start().await;
    site.write_config(
        &upstream.base_url(),
        &format!("name = \"{NAME}\"\ncheckpoint_every_records = 50\ncheckpoint_every_ms = 200"),
    );
    let mut served = Served::start(site);
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
                    Ok(r) => panic!("request {n}: status {}", r.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Kill in the middle of the load, once a good number of requests went through.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ok.load(Ordering::Relaxed) < BEFORE_KILL && Instant::now() < deadline {
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
        received.len() as u64 >= BEFORE_KILL,
        "load reached the upstream: {} requests",
        received.len()
    );

    // The CLI verifies the database after the crash: nothing modified, missing or out of
    // order, every checkpoint good (the tail after the last checkpoint is not yet signed).
    let out = site.veil(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));

    // The same through the library, with the key derived independently from the root key.
    let key = site.verifier(NAME);
    let store = site.store().await;
    let report = verify_audit(&store, &key).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.checkpoints_verified > 0, "{report:?}");

    // Every request the upstream received has its request record (allowed), found by the
    // keyed digest of the exact body the client sent.
    let root = site.root_key();
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
    let mut checked = 0;
    for got in &received {
        let content = got["messages"][0]["content"].as_str().unwrap();
        let n: u64 = content.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            recorded.contains(&digester.digest(&body(n))),
            "request {n} reached the upstream without a request record"
        );
        checked += 1;
    }
    assert_eq!(checked, received.len());
    store.close().await;

    // A restart continues the same log; a clean stop (SIGTERM) signs its tail.
    let again = Served::start(site);
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
    again.terminate();
    let store = site.store().await;
    let report = verify_audit(&store, &key).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.signed_size, Some(report.size), "{report:?}");
    store.close().await;
    let out = site.veil(&["audit", "verify", "--strict"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
