//! Run with `cargo run --release -p veil-dp --example sampler_rate`.
//!
//! Samples per second **per core**: the machine these figures come from is shared, so wall
//! time measures the neighbours. This counts the CPU time of the sampling thread itself
//! (`/proc/thread-self/schedstat`, nanoseconds on CPU, Linux), alongside wall time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use veil_dp::SecureRng;
use veil_dp::sample::{Ratio, discrete_gaussian, discrete_laplace, laplace_on_grid};

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
}
