//! Run with `cargo bench -p veil-detect --bench analyze`: analyzer throughput (MB/s) on mixed
//! English text with every built-in recognizer on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_detect::Analyzer;

/// Mixed English: mostly prose, logs and chat, with some sensitive values and hard negatives
/// (roughly one value per 150 bytes, which is dense for real traffic).
const LINES: &[&str] = &[
    "The quarterly review covered onboarding, retention and the roadmap for the next release.",
    "Patient is a 54-year-old male admitted on 03/14/2024 with chest pain; BP 130/85, HR 88.",
    "Please send the invoice to accounts@example.org and copy the project lead.",
    "2024-03-15T10:22:33Z INFO request from 10.20.30.40 completed in 35 ms (version 2.4.1.7)",
    "Customer asked why order 558812093 was late; tracking number 1Z999AA10123456784.",
    "My card 4111 1111 1111 1111 was charged twice, can you refund one of them?",
    "Meeting notes: we agreed to ship the migration after the holidays and revisit pricing.",
    "Call me at (415) 555-0132 after 5pm, or email jordan.lee@mail.example.com.",
    "The build script in main.rs reads config.toml and writes target/out.json.",
    "Wire the funds to IBAN GB82 WEST 1234 5698 7654 32 before Friday.",
    "Lorem ipsum style filler text keeps the ratio of prose to values realistic for chat logs.",
    "Docs live at https://docs.example.com/guide/install and the mirror at www.example.net.",
    "Take 500 mg twice daily for 10 days; follow-up in 2 weeks.",
    "SSN on file is 536-22-1478 and the DOB is March 5, 1979.",
    "Commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b fixed the flaky test in the parser.",
];

fn mixed_text(target: usize) -> String {
    let mut text = String::with_capacity(target + 256);
    let mut i = 0usize;
    while text.len() < target {
        text.push_str(LINES[i % LINES.len()]);
        text.push(if i % 7 == 6 { '\n' } else { ' ' });
        i += 1;
    }
    text
}

fn bench(c: &mut Criterion) {
    let analyzer = Analyzer::builder().build().unwrap();
    let text = mixed_text(1 << 20);
    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("mixed_english_1MiB_all_recognizers", |b| {
        b.iter(|| analyzer.analyze(std::hint::black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
