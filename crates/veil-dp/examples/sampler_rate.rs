//! Run with `cargo run --release -p veil-dp --example sampler_rate`.
//!
//! Samples per second **per core**: the machine these figures come from is shared, so wall
//! time measures the neighbours. This counts the CPU time of the sampling thread itself
//! (`/proc/thread-self/schedstat`, nanoseconds on CPU, Linux), alongside wall time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use veil_dp::SecureRng;
use veil_dp::mechanism::permute_and_flip;
use veil_dp::query::{Bounded, Dataset, Privacy, QuerySpec, Statistic, run};
use veil_dp::sample::{
    Ratio, bernoulli_exp, discrete_gaussian, discrete_laplace, gaussian_on_grid, laplace_on_grid,
};

fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn measure(name: &str, n: u64, mut f: impl FnMut()) {
    // Median of 5 runs.
    let mut rates = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..5 {
        let (c0, w0) = (cpu_ns(), Instant::now());
        for _ in 0..n {
            f();
        }
        let cpu = (cpu_ns() - c0) as f64 / 1e9;
        let wall = w0.elapsed().as_secs_f64();
        rates.push(n as f64 / cpu);
        walls.push(n as f64 / wall);
    }
    rates.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    println!(
        "{name:<40} {:>8.3} M samples/s per core (CPU time)   {:>8.3} M/s wall",
        rates[2] / 1e6,
        walls[2] / 1e6
    );
}

fn main() {
    let mut rng = SecureRng::from_os().unwrap();
    let n = 1_000_000;
    for (label, num, den) in [
        ("discrete_gaussian sigma^2=1", 1u64, 1u64),
        ("discrete_gaussian sigma^2=100", 100, 1),
        ("discrete_gaussian sigma^2=10^6", 1_000_000, 1),
        ("discrete_gaussian sigma^2=2/3", 2, 3),
    ] {
        let v = Ratio::new(num, den).unwrap();
        measure(label, n, || {
            black_box(discrete_gaussian(&v, &mut rng).unwrap());
        });
    }
    for (label, num) in [
        ("discrete_laplace scale=1", 1u64),
        ("discrete_laplace scale=100", 100),
    ] {
        let s = Ratio::new(num, 1u64).unwrap();
        measure(label, n, || {
            black_box(discrete_laplace(&s, &mut rng).unwrap());
        });
    }
    measure("laplace_on_grid scale=1 k=-40", n, || {
        black_box(laplace_on_grid(3.25, 1.0, -40, &mut rng).unwrap());
    });
    measure("gaussian_on_grid sigma=1 k=-40", n / 10, || {
        black_box(gaussian_on_grid(3.25, 1.0, -40, &mut rng).unwrap());
    });
    let gamma = Ratio::new(7u64, 3u64).unwrap();
    measure("bernoulli_exp gamma=7/3", n, || {
        black_box(bernoulli_exp(&gamma, &mut rng));
    });
    let qualities: Vec<i128> = (0..100).map(|i| (i * 37) % 101).collect();
    let eps = Ratio::new(1u64, 1u64).unwrap();
    measure("permute_and_flip 100 candidates eps=1", n / 10, || {
        black_box(permute_and_flip(&qualities, 1, &eps, &mut rng).unwrap());
    });
    queries(&mut rng);
    csv_parse();
}

/// CSV reading for `veil dp query --data`: 10 M rows written to a temporary file, read back
/// with the columns a grouped mean needs (value, group, privacy unit).
fn csv_parse() {
    use std::io::Write;
    let n = 10_000_000usize;
    let path = std::env::temp_dir().join(format!("veil-dp-bench-{}.csv", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "unit,group,value").unwrap();
        for i in 0..n {
            writeln!(
                f,
                "u{},g{},{}",
                i / 4,
                i % 100,
                ((i * 7919) % 100_000) as f64 / 100.0
            )
            .unwrap();
        }
    }
    let mut spec = QuerySpec::new(
        Statistic::Mean(Bounded {
            column: "value".to_owned(),
            lower: Some(0.0),
            upper: Some(1000.0),
        }),
        1.0,
    );
    spec.group_by = Some("group".to_owned());
    spec.privacy_unit = Some("unit".to_owned());
    let mut rates = Vec::new();
    for _ in 0..3 {
        let (c0, w0) = (cpu_ns(), Instant::now());
        let d = Dataset::from_csv_path(&path, &spec).unwrap();
        assert_eq!(d.len(), n);
        let cpu = (cpu_ns() - c0) as f64 / 1e9;
        rates.push((n as f64 / cpu, n as f64 / w0.elapsed().as_secs_f64()));
    }
    let _ = std::fs::remove_file(&path);
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "csv read 10M rows (3 columns){:<33} {:>7.1} M rows/s per core (CPU)  {:>7.1} M rows/s wall",
        "",
        rates[1].0 / 1e6,
        rates[1].1 / 1e6
    );
}

/// Query throughput on 10 M generated rows (never written to disk): rows per CPU-second.
fn queries(rng: &mut SecureRng) {
    let n = 10_000_000usize;
    let values: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 100_000) as f64 / 100.0)
        .collect();
    let groups: Vec<u32> = (0..n).map(|i| (i % 100) as u32).collect();
    let names: Vec<String> = (0..100).map(|i| format!("g{i}")).collect();
    let units: Vec<u32> = (0..n).map(|i| (i / 4) as u32).collect();
    let data = Dataset::from_interned(Some(values), Some((groups, names)), Some(units)).unwrap();
    let bounded = || Bounded {
        column: "v".to_owned(),
        lower: Some(0.0),
        upper: Some(1000.0),
    };
    for (name, stat) in [
        ("count", Statistic::Count),
        ("sum", Statistic::Sum(bounded())),
        ("mean", Statistic::Mean(bounded())),
        ("variance", Statistic::Variance(bounded())),
        (
            "median (noisy histogram, 100 bins)",
            Statistic::Quantile {
                column: bounded(),
                q: 0.5,
                bins: 100,
            },
        ),
        (
            "histogram (100 bins)",
            Statistic::Histogram {
                column: bounded(),
                bins: 100,
            },
        ),
    ] {
        let plain = QuerySpec::new(stat.clone(), 1.0);
        let mut grouped = QuerySpec::new(stat, 1.0);
        grouped.group_by = Some("g".to_owned());
        grouped.privacy_unit = Some("u".to_owned());
        grouped.max_rows = 2;
        grouped.delta = 1e-6;
        let mut gauss = plain.clone();
        gauss.privacy = Privacy::Gaussian { rho: 0.5 };
        let specs = vec![
            ("", plain),
            (" gaussian rho=0.5", gauss),
            (" group_by(100)+privacy_unit+partition selection", grouped),
        ];
        for (suffix, spec) in specs {
            let mut rates = Vec::new();
            for _ in 0..3 {
                let (c0, w0) = (cpu_ns(), Instant::now());
                black_box(run(&spec, &data, rng).unwrap());
                let cpu = (cpu_ns() - c0) as f64 / 1e9;
                rates.push((n as f64 / cpu, n as f64 / w0.elapsed().as_secs_f64()));
            }
            rates.sort_by(|a, b| a.0.total_cmp(&b.0));
            println!(
                "query 10M rows: {name}{suffix:<50} {:>7.1} M rows/s per core (CPU)  {:>7.1} M rows/s wall",
                rates[1].0 / 1e6,
                rates[1].1 / 1e6
            );
        }
    }
}
