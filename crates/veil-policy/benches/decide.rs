//! `Policies::decide` on the default set: the per-request cost of Cedar in the gateway.
//!
//! Run with `cargo bench -p veil-policy --bench decide`. Target: < 100 µs per decision for a
//! request with several data classes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use veil_detect::DataClass;
use veil_policy::{Findings, Hosting, Model, Operation, Origin, Policies, Principal};

fn bench(c: &mut Criterion) {
    let policies = Policies::default_set().unwrap();
    let principal = Principal::new("key-1", "acme", ["clinician"], []).unwrap();
    let cloud = Model::new("gpt", Hosting::Cloud, "us", &[DataClass::Location]).unwrap();
    let mut group = c.benchmark_group("policy_decide");

    let empty = Findings::default();
    group.bench_function("no_findings", |b| {
        b.iter(|| policies.decide(black_box(&principal), Operation::Chat, &cloud, &empty))
    });

    // The gateway benchmark's prompt: 10 findings over four classes.
    let mut four = Findings::default();
    for (class, n) in [
        (DataClass::Person, 4),
        (DataClass::EmailAddress, 2),
        (DataClass::CreditCard, 2),
        (DataClass::PhoneNumber, 2),
    ] {
        for _ in 0..n {
            four.add(class.clone(), 0.9, Origin::Caller);
        }
    }
    four.injection.caller = 0.1;
    group.bench_function("four_classes", |b| {
        b.iter(|| policies.decide(black_box(&principal), Operation::Chat, &cloud, &four))
    });

    let mut eight = four.clone();
    for class in [
        DataClass::UsSsn,
        DataClass::Location,
        DataClass::DateTime,
        DataClass::IbanCode,
    ] {
        eight.add(class, 0.8, Origin::Tool);
    }
    group.bench_function("eight_classes", |b| {
        b.iter(|| policies.decide(black_box(&principal), Operation::Chat, &cloud, &eight))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
