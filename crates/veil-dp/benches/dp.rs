//! Sampler and query throughput. Run with
//! `CARGO_TARGET_DIR=... cargo bench -p veil-dp --bench dp -- --noplot`; figures go into
//! `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use veil_dp::SecureRng;
use veil_dp::mechanism::permute_and_flip;
use veil_dp::query::{Bounded, Dataset, QuerySpec, Statistic, run};
use veil_dp::sample::{
    Ratio, bernoulli_exp, discrete_gaussian, discrete_laplace, gaussian_on_grid, laplace_on_grid,
};

const BATCH: u64 = 10_000;

fn samplers(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampler");
    g.throughput(Throughput::Elements(BATCH));
    let mut rng = SecureRng::from_os().unwrap();
    for (name, num, den) in [
        ("sigma2=1", 1u64, 1u64),
        ("sigma2=100", 100, 1),
        ("sigma2=10^6", 1_000_000, 1),
    ] {
        let v = Ratio::new(num, den).unwrap();
        g.bench_function(format!("discrete_gaussian/{name}"), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(discrete_gaussian(&v, &mut rng).unwrap());
                }
            })
        });
    }
    for (name, num, den) in [
        ("scale=1", 1u64, 1u64),
        ("scale=10", 10, 1),
        ("scale=1000", 1000, 1),
    ] {
        let s = Ratio::new(num, den).unwrap();
        g.bench_function(format!("discrete_laplace/{name}"), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(discrete_laplace(&s, &mut rng).unwrap());
                }
            })
        });
    }
    let gamma = Ratio::new(7u64, 3u64).unwrap();
    g.bench_function("bernoulli_exp/gamma=7÷3", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(bernoulli_exp(&gamma, &mut rng));
            }
        })
    });
    g.bench_function("laplace_on_grid/scale=1", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(laplace_on_grid(3.25, 1.0, -40, &mut rng).unwrap());
            }
        })
    });
    g.bench_function("gaussian_on_grid/sigma=1", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(gaussian_on_grid(3.25, 1.0, -40, &mut rng).unwrap());
            }
        })
    });
    let q: Vec<i128> = (0..100).collect();
    let eps = Ratio::new(1u64, 1u64).unwrap();
    g.bench_function("permute_and_flip/100 candidates", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(permute_and_flip(&q, 1, &eps, &mut rng).unwrap());
            }
        })
    });
    g.finish();
}

/// Query throughput on 10 M generated rows (never committed): count, sum and mean, ungrouped
/// and grouped by 100 keys with a privacy unit (contribution bounding + partition selection).
fn queries(c: &mut Criterion) {
    let n = 10_000_000usize;
    let values: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 100_000) as f64 / 100.0)
        .collect();
    let groups: Vec<u32> = (0..n).map(|i| (i % 100) as u32).collect();
    let names: Vec<String> = (0..100).map(|i| format!("g{i}")).collect();
    let units: Vec<u32> = (0..n).map(|i| (i / 4) as u32).collect();
    let data = Dataset::from_interned(Some(values), Some((groups, names)), Some(units)).unwrap();
    let mut rng = SecureRng::from_os().unwrap();
    let bounded = || Bounded {
        column: "v".to_owned(),
        lower: Some(0.0),
        upper: Some(1000.0),
    };
    let mut g = c.benchmark_group("query_10M_rows");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for (name, stat) in [
        ("count", Statistic::Count),
        ("sum", Statistic::Sum(bounded())),
        ("mean", Statistic::Mean(bounded())),
    ] {
        let spec = QuerySpec::new(stat.clone(), 1.0);
        g.bench_function(name, |b| {
            b.iter(|| black_box(run(&spec, &data, &mut rng).unwrap()))
        });
        let mut grouped = QuerySpec::new(stat, 1.0);
        grouped.group_by = Some("g".to_owned());
        grouped.privacy_unit = Some("u".to_owned());
        grouped.max_rows = 2;
        grouped.delta = 1e-6;
        g.bench_function(format!("{name}/group_by+privacy_unit"), |b| {
            b.iter(|| black_box(run(&grouped, &data, &mut rng).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, samplers, queries);
criterion_main!(benches);
