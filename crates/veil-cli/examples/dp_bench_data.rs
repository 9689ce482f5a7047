//! Run with `cargo run --release -p veil-cli --example dp_bench_data -- DIR [ROWS]`.
//!
//! Writes the benchmark table of `docs/benchmarks.md` (`veil dp query` on 10 M rows) as
//! `DIR/dp-bench.csv` and `DIR/dp-bench.parquet` (same rows): `unit` (a privacy unit every 4
//! rows), `city` (100 groups) and `value` (in [0, 1000), two decimals). Generated, never
//! committed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use veil_tabular::{Column, Table};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: dp_bench_data DIR [ROWS]"));
    let rows: usize = args.next().map_or(10_000_000, |r| r.parse().unwrap());
    let codes = |f: &dyn Fn(usize) -> usize| (0..rows).map(|i| f(i) as u32).collect::<Vec<_>>();
    let units: Vec<String> = (0..rows.div_ceil(4)).map(|u| format!("u{u}")).collect();
    let cities: Vec<String> = (0..100).map(|g| format!("city{g}")).collect();
    let values: Vec<String> = (0..100_000)
        .map(|v| format!("{}.{:02}", v / 100, v % 100))
        .collect();
    let table = Table::new(vec![
        Column::new("unit", units, codes(&|i| i / 4)).unwrap(),
        Column::new("city", cities, codes(&|i| i % 100)).unwrap(),
        Column::new("value", values, codes(&|i| (i * 7919) % 100_000)).unwrap(),
    ])
    .unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    table.write_csv(&dir.join("dp-bench.csv")).unwrap();
    table.write_parquet(&dir.join("dp-bench.parquet")).unwrap();
    println!("wrote {rows} rows to {}", dir.display());
}
