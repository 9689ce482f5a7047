//! Added latency and throughput of the gateway over calling the test upstream directly.
//!
//! Run with `cargo bench -p veil-gateway --bench gateway` (options after `--`:
//! `--rate N` requests/s for the latency phases, `--secs N` per phase, `--concurrency N`
//! for the throughput phase). Everything shares one process and the machine's cores: the
//! test upstream, the gateway (SQLite store, durable request records) and the load
//! generator. Latency is measured open-loop at a fixed rate from each request's scheduled
//! start, alternating direct and gateway phases so both see the same machine.
//!
//! A peer proxy (LiteLLM) joins the same run with `--peer URL --peer-key KEY`: start it
//! against `--upstream ADDR` (the test upstream then listens there; the peer must serve the
//! model `up`). The peer is measured at `--peer-rate N` (default 100/s), together with
//! direct and gateway phases at that same rate, and in the closed-loop phase.
//! `scripts/bench-gateway` does all of this.
//!
//! `--cpu N` instead measures CPU time per request: N requests direct, then N through the
//! gateway, closed loop at `--concurrency`, three rounds, and nothing else (see
//! `common/cpu.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The allocator the `veil` binary uses (crates/veil-cli/src/main.rs), so the bench measures
// what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common {
    pub mod cpu;
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use veil_gateway::auth::{NewKey, create_key};
use veil_gateway::config::Config;
use veil_gateway::server::Gateway;
use veil_store::{KeyLimits, Store};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Waits (up to 300 s) until `url` answers a chat with 200: the peer may still be starting.
async fn wait_ready(client: &reqwest::Client, url: &str, key: Option<&str>, body: &[u8]) {
    for _ in 0..600 {
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Ok(response) = request.send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("peer `{url}` never answered 200");
}

/// A 2 KB chat request (JSON body of about 2048 bytes).
fn body() -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(50);
    let text = &filler[..1900];
    serde_json::to_vec(&json!({
        "model": "up",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": text}
        ]
    }))
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &[u8],
    rate: u64,
    secs: u64,
) -> (Vec<f64>, u64) {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let total = rate * secs;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + period * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let url = url.to_owned();
        let key = key.map(str::to_owned);
        let body = body.to_vec();
        let latencies = latencies.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            // From the scheduled start: a late send counts against the server.
            let elapsed = scheduled.elapsed().as_secs_f64() * 1000.0;
            if ok {
                latencies.lock().await.push(elapsed);
            } else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut values = latencies.lock().await.clone();
    values.sort_by(f64::total_cmp);
    (values, errors.load(std::sync::atomic::Ordering::Relaxed))
}

async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &[u8],
    concurrency: u64,
    secs: u64,
) -> (f64, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let key = key.map(str::to_owned);
        let body = bytes::Bytes::from(body.to_vec());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(key) = &key {
                    request = request.bearer_auth(key);
                }
                let good = match request.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if good {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.unwrap();
        ok += o;
        failed += f;
    }
    (ok as f64 / started.elapsed().as_secs_f64(), failed)
}

fn main() {
    let rate = arg("--rate", 1000);
    let secs = arg("--secs", 5);
    let concurrency = arg("--concurrency", 32);
    let peer_rate = arg("--peer-rate", 100);
    let upstream_addr = text_arg("--upstream").unwrap_or_else(|| "127.0.0.1:0".into());
    let peer = text_arg("--peer");
    let peer_key = text_arg("--peer-key");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let upstream_listener = tokio::net::TcpListener::bind(&upstream_addr).await.unwrap();
        let upstream_base = format!("http://{}/v1", upstream_listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(upstream_listener, veil_testkit::app()).await.unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[models.up]\nbase_url = \"{}\"\n[log]\nlevel = \"warn\"\n[throttle.tenant]\nrequests_per_minute = 0\ntokens_per_minute = 0\nmax_concurrent = 0\n",
            upstream_base
        );
        let settings = Config::from_toml_str(&text, "bench").unwrap().validate().unwrap();
        let store = Store::open_sqlite(&dir.path().join("veil.db")).await.unwrap();
        let (key, _) = create_key(
            &store,
            NewKey {
                tenant: "bench".into(),
                limits: KeyLimits {
                    requests_per_minute: Some(u64::MAX / 4),
                    tokens_per_minute: Some(u64::MAX / 4),
                    max_concurrent: Some(1_000_000),
                },
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
        let key = key.into_inner();
        let gateway = Gateway::with_store(settings, store, &[1u8; 32]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(gateway.serve(listener, std::future::pending()));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap();
        let body = body();
        let direct = format!("{upstream_base}/chat/completions");
        let through = format!("http://{addr}/v1/chat/completions");
        println!("request body: {} bytes; rate {rate}/s; {secs} s per phase", body.len());
        // Warm up pools and caches.
        fixed_rate(&client, &direct, None, &body, rate, 1).await;
        fixed_rate(&client, &through, Some(&key), &body, rate, 1).await;
        if let Some(count) = text_arg("--cpu").and_then(|n| n.parse::<u64>().ok()) {
            println!("cpu: {count} requests per phase, {concurrency} connections");
            for round in 0..3 {
                let mut phases = Vec::new();
                for (url, key) in [(&direct, None), (&through, Some(key.clone()))] {
                    let (client, url, body) = (client.clone(), url.clone(), body.clone());
                    let make = move || {
                        let request = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.clone());
                        match &key {
                            Some(key) => request.bearer_auth(key),
                            None => request,
                        }
                    };
                    phases.push(common::cpu::cpu_phase(make, count, concurrency).await);
                }
                let (d, g) = (&phases[0], &phases[1]);
                println!(
                    "round {round}: cpu/request direct {:.1} us, gateway {:.1} us, added {:.1} us; \
                     {:.0} / {:.0} req/s; failed {} / {}",
                    d.cpu_us, g.cpu_us, g.cpu_us - d.cpu_us, d.rps, g.rps, d.failed, g.failed
                );
            }
            return;
        }
        let (mut all_direct, mut all_gateway) = (Vec::new(), Vec::new());
        let mut errors = 0;
        for _round in 0..2 {
            let (d, e1) = fixed_rate(&client, &direct, None, &body, rate, secs).await;
            let (g, e2) = fixed_rate(&client, &through, Some(&key), &body, rate, secs).await;
            all_direct.extend(d);
            all_gateway.extend(g);
            errors += e1 + e2;
        }
        all_direct.sort_by(f64::total_cmp);
        all_gateway.sort_by(f64::total_cmp);
        let (d50, d99) = (percentile(&all_direct, 0.5), percentile(&all_direct, 0.99));
        let (g50, g99) = (percentile(&all_gateway, 0.5), percentile(&all_gateway, 0.99));
        println!("fixed rate {rate}/s, n = {} + {}, errors {errors}", all_direct.len(), all_gateway.len());
        println!("direct   p50 {d50:.3} ms  p99 {d99:.3} ms");
        println!("gateway  p50 {g50:.3} ms  p99 {g99:.3} ms");
        println!("added    p50 {:.3} ms  p99 {:.3} ms", g50 - d50, g99 - d99);
        let (direct_rps, f1) = closed_loop(&client, &direct, None, &body, concurrency, secs).await;
        let (gateway_rps, f2) = closed_loop(&client, &through, Some(&key), &body, concurrency, secs).await;
        println!("throughput (closed loop, {concurrency} connections, {secs} s):");
        println!("direct   {direct_rps:.0} req/s (failed {f1})");
        println!("gateway  {gateway_rps:.0} req/s (failed {f2})");
        if let Some(peer) = peer {
            let peer_key = peer_key.as_deref();
            wait_ready(&client, &peer, peer_key, &body).await;
            fixed_rate(&client, &peer, peer_key, &body, peer_rate, 1).await;
            let (mut d, mut g, mut p) = (Vec::new(), Vec::new(), Vec::new());
            let mut errors = [0u64; 3];
            for _round in 0..2 {
                let (v, e) = fixed_rate(&client, &direct, None, &body, peer_rate, secs).await;
                d.extend(v);
                errors[0] += e;
                let (v, e) = fixed_rate(&client, &through, Some(&key), &body, peer_rate, secs).await;
                g.extend(v);
                errors[1] += e;
                let (v, e) = fixed_rate(&client, &peer, peer_key, &body, peer_rate, secs).await;
                p.extend(v);
                errors[2] += e;
            }
            for v in [&mut d, &mut g, &mut p] {
                v.sort_by(f64::total_cmp);
            }
            println!("side by side at {peer_rate}/s (errors direct/gateway/peer {errors:?}):");
            let (d50, d99) = (percentile(&d, 0.5), percentile(&d, 0.99));
            for (name, v) in [("direct", &d), ("gateway", &g), ("peer", &p)] {
                let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
                println!(
                    "{name:8} p50 {p50:.3} ms  p99 {p99:.3} ms  added p50 {:.3} ms  p99 {:.3} ms",
                    p50 - d50,
                    p99 - d99
                );
            }
            let (peer_rps, f3) = closed_loop(&client, &peer, peer_key, &body, concurrency, secs).await;
            println!("peer     {peer_rps:.0} req/s closed loop (failed {f3})");
        }
    });
}
