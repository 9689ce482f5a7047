//! Monitoring costs: feature extraction per request (on the request path) and detector
//! throughput (in the background task).
//!
//! Run with `cargo bench -p veil-gateway --bench observe`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::{IpAddr, Ipv4Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use veil_gateway::config::LimitsConfig;
use veil_gateway::exchange::{Action, parse_exchange};
use veil_gateway::observe::{AlertsConfig, Extractor, Monitor, Observation};

fn benign() -> Vec<&'static str> {
    include_str!("../../../testdata/monitoring/benign_prompts.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A chat body with a system prompt and about `user_bytes` of user text.
fn chat(user_bytes: usize) -> Vec<u8> {
    let prompts = benign().join(" ");
    let mut text = String::new();
    while text.len() < user_bytes {
        text.push_str(&prompts);
        text.push(' ');
    }
    let cut = (0..=user_bytes)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap();
    text.truncate(cut);
    serde_json::to_vec(&json!({
        "model": "up",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": text}
        ]
    }))
    .unwrap()
}

fn extraction(c: &mut Criterion) {
    let extractor = Extractor::new();
    let limits = LimitsConfig::default();
    let mut group = c.benchmark_group("features");
    for size in [200usize, 2_000, 20_000] {
        let body = chat(size);
        let exchange = parse_exchange(Action::Chat, &body, &limits).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("chat_{size}B"), |b| {
            b.iter(|| std::hint::black_box(extractor.extract(std::hint::black_box(&exchange))))
        });
    }
    group.finish();
}

fn detectors(c: &mut Criterion) {
    let extractor = Extractor::new();
    let prompts = benign();
    // 4,096 observations from 200 keys, realistic features, one every 10 ms.
    let observations: Vec<Observation> = (0..4096usize)
        .map(|i| Observation {
            request_id: format!("req_{i}"),
            at_ms: i as i64 * 10,
            key_id: format!("key_{}", i % 200),
            tenant: "acme".into(),
            client: Some(IpAddr::V4(Ipv4Addr::new(10, 0, (i % 7) as u8, 1))),
            model: Some("up".into()),
            status: 200,
            tokens: 400,
            features: Some(extractor.extract_text(prompts[i % prompts.len()])),
            ..Observation::default()
        })
        .collect();
    let mut group = c.benchmark_group("detectors");
    group.throughput(Throughput::Elements(observations.len() as u64));
    group.bench_function("observe_4096_from_200_keys", |b| {
        b.iter_batched(
            || Monitor::new(AlertsConfig::default()),
            |mut monitor| {
                let mut alerts = 0;
                for obs in &observations {
                    alerts += monitor.observe(obs).len();
                }
                alerts
            },
            BatchSize::LargeInput,
        )
    });
    // One key at a steady 100 requests/s, warm histories full (the per-key worst case).
    let one_key: Vec<Observation> = observations
        .iter()
        .map(|o| Observation {
            key_id: "key_hot".into(),
            ..o.clone()
        })
        .collect();
    group.bench_function("observe_4096_one_hot_key", |b| {
        b.iter_batched(
            || Monitor::new(AlertsConfig::default()),
            |mut monitor| {
                let mut alerts = 0;
                for obs in &one_key {
                    alerts += monitor.observe(obs).len();
                }
                alerts
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, extraction, detectors);
criterion_main!(benches);
