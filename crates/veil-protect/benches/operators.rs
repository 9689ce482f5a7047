//! Per-value cost of each operator. Run with
//! `cargo bench -p veil-protect --bench operators`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use veil_detect::DataClass;
use veil_protect::{MemoryStore, Operator, Policy, Protector, ScopeId, keys::RootKey};

fn operators(c: &mut Criterion) {
    let root = RootKey::from_bytes([42; 32]);
    let protector = Protector::new(
        Policy::default(),
        ScopeId::new("bench", "run"),
        Arc::new(MemoryStore::new()),
        Some(&root),
    )
    .unwrap();
    // A small set of distinct values, so tag and surrogate measure the steady state (lookup
    // of a value already in the scope) after the first round.
    let cards: Vec<String> = (0..1000)
        .map(|i| format!("4111 1111 {:04} {:04}", i / 100, i % 10000))
        .collect();
    let mut group = c.benchmark_group("operator_per_value");
    let ops = [
        "redact",
        "mask",
        "tag",
        "hash",
        "encrypt",
        "fpe",
        "surrogate",
    ];
    for name in ops {
        let op: Operator = name.parse().unwrap();
        let mut i = 0usize;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                i = (i + 1) % cards.len();
                protector
                    .apply(op, &DataClass::CreditCard, &cards[i])
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut restore = c.benchmark_group("restore_per_value");
    let token = protector
        .apply(Operator::Encrypt, &DataClass::CreditCard, &cards[0])
        .unwrap()
        .unwrap();
    restore.bench_function("encrypt_token", |b| {
        b.iter(|| protector.restore_token(&token).unwrap())
    });
    let fpe = protector
        .apply(Operator::Fpe, &DataClass::CreditCard, &cards[0])
        .unwrap()
        .unwrap();
    restore.bench_function("fpe", |b| {
        b.iter(|| protector.restore_fpe(&DataClass::CreditCard, &fpe).unwrap())
    });
    restore.finish();
}

criterion_group!(benches, operators);
criterion_main!(benches);
