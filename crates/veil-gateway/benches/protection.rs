//! Added latency of the whole protection pipeline (detection, guard, policy, pseudonymization,
//! vault, record, restore) for a 2 KB prompt with 10 findings, and added time to the first
//! streamed token.
//!
//! Run with `cargo bench -p veil-gateway --bench protection` (options after `--`: `--rate N`
//! requests/s for the latency phases, `--secs N` per phase, `--concurrency N` for the
//! throughput phase). One process holds the test upstream, the gateway (SQLite store) and
//! the load generator. Latency is open-loop at a fixed rate, from each request's scheduled
//! start. By default each target has phases of its own at `rate`/s, two rounds of direct,
//! known, new. With `--interleave` the three take turns request by request within one phase
//! at `rate`/s in all, so all three see the same moments of a shared, noisy machine. (The two
//! methods disagree on this machine: interleaved, a known conversation measured slower than
//! a new one, which nobody has explained yet; docs/benchmarks.md has both.)
//!
//! Phases through the gateway:
//! - `known`: every request in one conversation, so its 10 values already have pseudonyms
//!   (the vault is read, not written): the steady state of a chat.
//! - `new`: a new conversation per request, so each request writes 10 vault entries.
//!
//! `--cpu N` instead measures CPU time per request (JSON answers): N requests per target,
//! closed loop at `--concurrency`, three rounds, and nothing else (see `common/cpu.rs`);
//! with `--only known` or `--only new`, that phase alone, once, for a profiler.

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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Mutex;
use veil_gateway::auth::{NewKey, create_key};
use veil_gateway::config::Config;
use veil_gateway::server::Gateway;
use veil_store::{KeyLimits, Store};
use veil_testkit::TestUpstream;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A chat request of about 2 KB whose text holds 10 findings: 4 names, 2 emails, 2 cards,
/// 2 phone numbers.
fn body(stream: bool) -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    let text = format!(
        "Patient Maria Gonzalez (maria.gonzalez@example.com, phone 212-555-0187) was seen by \
         Dr. John Smith. Billing: card 4111 1111 1111 1111. Her brother Wei Chen \
         (wei.chen@example.org, 415-555-0132) paid with 5555 5555 5555 4444 and asked for \
         Fatima Okafor. {}",
        &filler[..1450]
    );
    serde_json::to_vec(&json!({
        "model": "up",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are a concise billing assistant."},
            {"role": "user", "content": text}
        ]
    }))
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Direct,
    Known,
    New,
}

struct Load {
    client: reqwest::Client,
    direct: String,
    through: String,
    key: String,
    counter: AtomicU64,
}

impl Load {
    fn request(&self, target: Target, body: &[u8]) -> reqwest::RequestBuilder {
        let url = if target == Target::Direct {
            &self.direct
        } else {
            &self.through
        };
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if target != Target::Direct {
            request = request.bearer_auth(&self.key);
            let conversation = match target {
                Target::New => format!("c{}", self.counter.fetch_add(1, Ordering::Relaxed)),
                _ => "steady".to_owned(),
            };
            request = request.header("x-veil-conversation", conversation);
        }
        request
    }
}

/// Open loop at `rate`/s in all for `secs`, request `i` going to `targets[i % len]`: per
/// target, the latencies to the full answer (or to the first streamed chunk when
/// `first_chunk`), sorted.
async fn fixed_rate(
    load: &Arc<Load>,
    targets: &[Target],
    body: &[u8],
    rate: u64,
    secs: u64,
    first_chunk: bool,
) -> (Vec<Vec<f64>>, u64) {
    let latencies: Arc<Mutex<Vec<Vec<f64>>>> =
        Arc::new(Mutex::new(vec![Vec::new(); targets.len()]));
    let errors = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..rate * secs {
        let scheduled = start + period * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let slot = i as usize % targets.len();
        let request = load.request(targets[slot], body);
        let latencies = latencies.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut elapsed = None;
            if let Ok(response) = request.send().await
                && response.status().is_success()
            {
                let mut stream = response.bytes_stream();
                let mut ok = true;
                while let Some(chunk) = stream.next().await {
                    if chunk.is_err() {
                        ok = false;
                        break;
                    }
                    if first_chunk && elapsed.is_none() {
                        elapsed = Some(scheduled.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                if ok && !first_chunk {
                    elapsed = Some(scheduled.elapsed().as_secs_f64() * 1000.0);
                }
            }
            match elapsed {
                Some(ms) => latencies.lock().await[slot].push(ms),
                None => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut values = latencies.lock().await.clone();
    for v in &mut values {
        v.sort_by(f64::total_cmp);
    }
    (values, errors.load(Ordering::Relaxed))
}

async fn closed_loop(
    load: &Arc<Load>,
    target: Target,
    body: &[u8],
    concurrency: u64,
    secs: u64,
) -> (f64, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let load = load.clone();
        let body = body.to_vec();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let good = match load.request(target, &body).send().await {
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
    let rate = arg("--rate", 200);
    let secs = arg("--secs", 4);
    let concurrency = arg("--concurrency", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let upstream = TestUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[models.up]\nbase_url = \"{}\"\n[log]\nlevel = \"warn\"\n[throttle.tenant]\nrequests_per_minute = 0\ntokens_per_minute = 0\nmax_concurrent = 0\n",
            upstream.base_url()
        );
        let settings = Config::from_toml_str(&text, "bench").unwrap().validate().unwrap();
        let store = Store::open_sqlite(&dir.path().join("veil.db")).await.unwrap();
        let (key, _) = create_key(
            &store,
            NewKey {
                tenant: "bench".into(),
                // Restores PHI in the answer, so screen does real work too.
                roles: vec!["clinician".into()],
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
        let gateway = Gateway::with_store(settings, store, &[1u8; 32]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(gateway.serve(listener, std::future::pending()));
        let load = Arc::new(Load {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .unwrap(),
            direct: format!("{}/chat/completions", upstream.base_url()),
            through: format!("http://{addr}/v1/chat/completions"),
            key: key.into_inner(),
            counter: AtomicU64::new(0),
        });
        let json_body = body(false);
        let sse_body = body(true);
        println!("request body: {} bytes; rate {rate}/s; {secs} s per phase", json_body.len());
        // Check the findings and warm up pools and caches.
        let check = load.request(Target::Known, &json_body).send().await.unwrap();
        println!("x-veil-decision: {}", check.headers()["x-veil-decision"].to_str().unwrap());
        let _ = check.bytes().await;
        let targets = [Target::Direct, Target::Known, Target::New];
        fixed_rate(&load, &targets, &json_body, rate, 1, false).await;
        if let Some(count) = std::env::args()
            .skip_while(|a| a != "--cpu")
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
        {
            println!("cpu: {count} requests per phase, {concurrency} connections");
            // `--only known|new`: that phase alone, once (for a profiler).
            let only = std::env::args().skip_while(|a| a != "--only").nth(1);
            if let Some(only) = only {
                let target = match only.as_str() {
                    "known" => Target::Known,
                    "new" => Target::New,
                    other => panic!("--only takes known or new, not {other}"),
                };
                let (load, body) = (load.clone(), json_body.clone());
                let make = move || load.request(target, &body);
                let phase = common::cpu::cpu_phase(make, count, concurrency).await;
                assert_eq!(phase.failed, 0, "requests failed");
                println!("{only}: cpu/request {:.1} us; {:.0} req/s", phase.cpu_us, phase.rps);
                return;
            }
            for round in 0..3 {
                let mut us = Vec::new();
                for target in [Target::Direct, Target::Known, Target::New] {
                    let (load, body) = (load.clone(), json_body.clone());
                    let make = move || load.request(target, &body);
                    let phase = common::cpu::cpu_phase(make, count, concurrency).await;
                    assert_eq!(phase.failed, 0, "requests failed");
                    us.push((phase.cpu_us, phase.rps));
                }
                println!(
                    "round {round}: cpu/request direct {:.1} us, known {:.1} us (added {:.1}), \
                     new {:.1} us (added {:.1}); {:.0} / {:.0} / {:.0} req/s",
                    us[0].0, us[1].0, us[1].0 - us[0].0, us[2].0, us[2].0 - us[0].0,
                    us[0].1, us[1].1, us[2].1
                );
            }
            return;
        }
        for (label, body, first_chunk) in [
            ("json answer", &json_body, false),
            ("first streamed chunk", &sse_body, true),
        ] {
            let interleave = std::env::args().any(|a| a == "--interleave");
            let mut all: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
            let mut errors = 0;
            if interleave {
                let (values, e) = fixed_rate(&load, &targets, body, rate, secs, first_chunk).await;
                all = values;
                errors = e;
            } else {
                for _round in 0..2 {
                    for (i, target) in targets.iter().enumerate() {
                        let (values, e) = fixed_rate(&load, &[*target], body, rate, secs, first_chunk).await;
                        all[i].extend(values.into_iter().flatten());
                        errors += e;
                    }
                }
                for values in &mut all {
                    values.sort_by(f64::total_cmp);
                }
            }
            let p = |i: usize, q: f64| percentile(&all[i], q);
            let how = if interleave { "in all, targets interleaved" } else { "per phase" };
            println!("{label}: fixed rate {rate}/s {how}, n = {}/{}/{}, errors {errors}", all[0].len(), all[1].len(), all[2].len());
            println!("  direct          p50 {:.3} ms  p99 {:.3} ms", p(0, 0.5), p(0, 0.99));
            println!("  gateway, known  p50 {:.3} ms  p99 {:.3} ms  (added p50 {:.3} ms)", p(1, 0.5), p(1, 0.99), p(1, 0.5) - p(0, 0.5));
            println!("  gateway, new    p50 {:.3} ms  p99 {:.3} ms  (added p50 {:.3} ms)", p(2, 0.5), p(2, 0.99), p(2, 0.5) - p(0, 0.5));
        }
        println!("throughput (closed loop, {concurrency} connections, {secs} s):");
        for (label, target) in [("direct", Target::Direct), ("gateway, known", Target::Known), ("gateway, new", Target::New)] {
            let (rps, failed) = closed_loop(&load, target, &json_body, concurrency, secs).await;
            println!("  {label:<15} {rps:.0} req/s (failed {failed})");
        }
    });
}
