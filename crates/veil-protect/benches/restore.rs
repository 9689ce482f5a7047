//! Restore throughput and per-chunk cost. Run with
//! `cargo bench -p veil-protect --bench restore`.
//!
//! - `sse_stream/*`: a typical 50-token chat stream (one SSE event per token, three
//!   placeholders split across tokens, a tool call), fed event by event; per stream, and in
//!   bytes per second. `restore_and_strip` also strips logprobs; `parse_only` is the floor:
//!   parsing and re-serializing every event with serde_json, nothing restored.
//! - `sse_chunk/*`: one token event pushed into a restorer in mid-stream.
//! - `sse_stream/restore_and_leak_check`: the same stream through the memorized-data check
//!   as the gateway wires it (`StreamLeakCheck`: the default analyzer over each released
//!   piece, the gateway's default ignored classes).
//! - After criterion's figures, CPU time per stream and per event (from
//!   `/proc/thread-self/stat`), which a loaded machine does not inflate.
//! - `text/*`: [`TextRestorer`] and `restore_text` over 64 KiB of prose with a placeholder
//!   every ~200 bytes.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{hint::black_box, sync::Arc};

use criterion::{Criterion, Throughput, criterion_group};
use serde_json::{Value, json};
use veil_detect::{DataClass, Sensitive};
use veil_protect::restore::{
    AnswerLeakCheck, RestoreTable, SseRestorer, StreamLeakCheck, TextContext, TextRestorer,
};

fn table() -> RestoreTable {
    let mut t = RestoreTable::new();
    for i in 1..=5 {
        t.insert(
            &format!("<PERSON_{i}>"),
            &DataClass::Person,
            Sensitive::new(format!("Person Number{i}")),
        );
        t.insert(
            &format!("<CREDIT_CARD_{i}>"),
            &DataClass::CreditCard,
            Sensitive::new(format!("4111 1111 1111 111{i}")),
        );
    }
    t
}

/// The streamed answer check as the gateway builds it: the default analyzer, the caller's
/// values of [`table`] as known, the gateway's default ignored classes, every class redacted.
fn leak_check(analyzer: &Arc<veil_detect::Analyzer>) -> StreamLeakCheck {
    let mut known = AnswerLeakCheck::new(&[7u8; 32]);
    for i in 1..=5 {
        known.add_value(&format!("Person Number{i}"));
        known.add_value(&format!("4111 1111 1111 111{i}"));
    }
    let ignore = [
        "DATE_TIME",
        "AGE",
        "URL",
        "LOCATION",
        "ORGANIZATION",
        "NRP",
        "PERSON",
    ]
    .into_iter()
    .map(|name| DataClass::parse_any(name).unwrap())
    .collect();
    StreamLeakCheck::new(Arc::clone(analyzer), known, ignore, Arc::new(|_| true))
}

/// 50 chat.completion.chunk events, one token each, then finish and [DONE].
fn chat_stream() -> Vec<Vec<u8>> {
    let tokens = [
        "Hello",
        " <",
        "PERSON",
        "_1",
        ">,",
        " thank",
        " you",
        " for",
        " your",
        " message",
        ".",
        " The",
        " card",
        " ending",
        " in",
        " [",
        "CREDIT",
        "_CARD",
        "_2",
        "]",
        " was",
        " charged",
        " today",
        ".",
        " I",
        " have",
        " also",
        " informed",
        " person",
        "_3",
        " about",
        " the",
        " change",
        ",",
        " and",
        " the",
        " receipt",
        " is",
        " attached",
        ".",
        " Let",
        " me",
        " know",
        " if",
        " you",
        " need",
        " anything",
        " else",
        ".",
        " Bye",
    ];
    let event = |choice: Value| {
        let v = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
            "created": 1_764_000_000, "model": "gpt-4o-mini", "choices": [choice]});
        format!("data: {v}\n\n").into_bytes()
    };
    let mut out = vec![event(
        json!({"index": 0, "delta": {"role": "assistant", "content": ""},
        "logprobs": null, "finish_reason": null}),
    )];
    for token in tokens {
        out.push(event(json!({"index": 0, "delta": {"content": token},
            "logprobs": {"content": [{"token": token, "logprob": -0.01, "top_logprobs": []}]},
            "finish_reason": null})));
    }
    out.push(event(
        json!({"index": 0, "delta": {}, "finish_reason": "stop"}),
    ));
    out.push(b"data: [DONE]\n\n".to_vec());
    out
}

fn sse(c: &mut Criterion) {
    let table = Arc::new(table());
    let events = chat_stream();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("sse_stream");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("restore", |b| {
        b.iter(|| {
            let mut r = SseRestorer::new(Arc::clone(&table));
            let mut n = 0;
            for e in &events {
                n += r.push(black_box(e)).len();
            }
            n + r.finish().len()
        })
    });
    group.bench_function("restore_and_strip", |b| {
        b.iter(|| {
            let mut r = SseRestorer::new(Arc::clone(&table)).strip_logprobs(true);
            let mut n = 0;
            for e in &events {
                n += r.push(black_box(e)).len();
            }
            n + r.finish().len()
        })
    });
    let analyzer = Arc::new(veil_detect::Analyzer::builder().build().unwrap());
    group.bench_function("restore_and_leak_check", |b| {
        b.iter(|| {
            let mut r = SseRestorer::new(Arc::clone(&table)).leak_check(leak_check(&analyzer));
            let mut n = 0;
            for e in &events {
                n += r.push(black_box(e)).len();
            }
            n + r.finish().len()
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                let text = std::str::from_utf8(black_box(e)).unwrap();
                if let Some(data) = text.trim_end().strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str::<Value>(data)
                {
                    n += serde_json::to_string(&v).unwrap().len();
                }
            }
            n
        })
    });
    group.finish();

    // One token event into a restorer in mid-stream: the cost the gateway adds per chunk.
    let token = &events[7];
    let mut group = c.benchmark_group("sse_chunk");
    group.throughput(Throughput::Elements(1));
    group.bench_function("restore", |b| {
        let mut r = SseRestorer::new(Arc::clone(&table));
        r.push(&events[0]);
        b.iter(|| r.push(black_box(token)))
    });
    group.bench_function("restore_and_strip", |b| {
        let mut r = SseRestorer::new(Arc::clone(&table)).strip_logprobs(true);
        r.push(&events[0]);
        b.iter(|| r.push(black_box(token)))
    });
    group.bench_function("empty_table_pass_through", |b| {
        let mut r = SseRestorer::new(Arc::new(RestoreTable::new()));
        b.iter(|| r.push(black_box(token)))
    });
    group.finish();
}

fn text(c: &mut Criterion) {
    let table = Arc::new(table());
    let sentence = "The patient was seen on Tuesday and reported no further symptoms; \
        follow-up in two weeks was agreed with the family and the ward staff. ";
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 64 * 1024 {
        text.push_str(sentence);
        text.push_str(
            [
                "<PERSON_1> ",
                "[credit_card-2] ",
                "PERSON 4 ",
                "<PERSON_9> ",
            ][i % 4],
        );
        i += 1;
    }
    let mut group = c.benchmark_group("text");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("restore_text", |b| {
        b.iter(|| table.restore_text(black_box(&text)))
    });
    group.bench_function("stream_16_byte_pieces", |b| {
        b.iter(|| {
            let mut r = TextRestorer::new(Arc::clone(&table), TextContext::Plain);
            let mut n = 0;
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(16);
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                let (piece, tail) = rest.split_at(cut);
                n += r.push(black_box(piece)).len();
                rest = tail;
            }
            n + r.finish().len()
        })
    });
    group.finish();
}

/// CPU time of this thread in clock ticks (utime + stime from `/proc/thread-self/stat`;
/// USER_HZ is 100 on Linux). On a shared, loaded machine wall time mostly measures the wait
/// for a core; CPU time does not.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Runs `work` until it has used at least 2 s of CPU; returns CPU µs per call. Median of 3.
fn cpu_micros(mut work: impl FnMut() -> usize) -> Option<f64> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let start = cpu_ticks()?;
        let mut calls = 0u64;
        let mut sink = 0;
        loop {
            for _ in 0..50 {
                sink += work();
            }
            calls += 50;
            let used = cpu_ticks()? - start;
            if used >= 200 {
                black_box(sink);
                runs.push(used as f64 * 10_000.0 / calls as f64);
                break;
            }
        }
    }
    runs.sort_by(f64::total_cmp);
    runs.get(1).copied()
}

/// CPU-time figures for docs/benchmarks.md, printed after criterion's (bench mode only).
fn cpu_report() {
    let table = Arc::new(table());
    let events = chat_stream();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let run = |strip: bool, table: &Arc<RestoreTable>| {
        let mut r = SseRestorer::new(Arc::clone(table)).strip_logprobs(strip);
        let mut n = 0;
        for e in &events {
            n += r.push(black_box(e)).len();
        }
        n + r.finish().len()
    };
    let parse = || {
        let mut n = 0;
        for e in &events {
            let text = std::str::from_utf8(black_box(e)).unwrap();
            if let Some(data) = text.trim_end().strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(data)
            {
                n += serde_json::to_string(&v).unwrap().len();
            }
        }
        n
    };
    let empty = Arc::new(RestoreTable::new());
    let analyzer = Arc::new(veil_detect::Analyzer::builder().build().unwrap());
    let checked = || {
        let mut r = SseRestorer::new(Arc::clone(&table)).leak_check(leak_check(&analyzer));
        let mut n = 0;
        for e in &events {
            n += r.push(black_box(e)).len();
        }
        n + r.finish().len()
    };
    println!(
        "\nCPU time (median of 3 runs of >= 2 CPU-s), {} events, {bytes} bytes per stream:",
        events.len()
    );
    for (name, micros) in [
        ("sse restore", cpu_micros(|| run(false, &table))),
        (
            "sse restore + strip logprobs",
            cpu_micros(|| run(true, &table)),
        ),
        ("sse strip logprobs only", cpu_micros(|| run(true, &empty))),
        ("sse restore + memorized-data check", cpu_micros(checked)),
        ("serde_json parse + serialize only", cpu_micros(parse)),
    ] {
        if let Some(us) = micros {
            println!(
                "  {name}: {us:.1} µs per stream, {:.2} µs per event, {:.1} MB/s per core",
                us / events.len() as f64,
                bytes as f64 / us
            );
        }
    }
}

criterion_group!(benches, sse, text);

fn main() {
    benches();
    if std::env::args().any(|a| a == "--bench") {
        cpu_report();
    }
    Criterion::default().configure_from_args().final_summary();
}
