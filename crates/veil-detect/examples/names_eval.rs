//! Run with `cargo run --release -p veil-detect --example names_eval [FILE.jsonl]`.
//!
//! Scores the names recognizer on a labelled corpus (default: the held-out split
//! `testdata/names/heldout.jsonl`): strict span-level precision, recall and F1 per class,
//! and throughput in MB/s on one core (best of five passes over the corpus text).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Instant;

use veil_detect::names::corpus;
use veil_detect::{NameRecognizer, Recognizer};

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{root}/testdata/names/heldout.jsonl"));
    let docs = corpus::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let r = NameRecognizer::new().unwrap();
    let mut counts = BTreeMap::new();
    let verbose = std::env::var_os("NAMES_EVAL_ERRORS").is_some();
    for d in &docs {
        let mut out = Vec::new();
        r.recognize(&d.text, &mut out);
        corpus::score(&d.spans, &out, &mut counts);
        if verbose {
            let mut gold: Vec<_> = d
                .spans
                .iter()
                .map(|(c, b)| (c.to_string(), &d.text[b.clone()]))
                .collect();
            let mut pred: Vec<_> = out
                .iter()
                .map(|c| (c.class.to_string(), &d.text[c.bytes.clone()]))
                .collect();
            gold.sort();
            pred.sort();
            if gold != pred {
                let line = serde_json::json!({"text": d.text, "gold": gold, "pred": pred});
                eprintln!("{line}");
            }
        }
    }
    println!("| class | precision | recall | F1 | gold spans |");
    println!("|---|---|---|---|---|");
    for (class, c) in &counts {
        println!(
            "| {class} | {:.3} | {:.3} | {:.3} | {} |",
            c.precision(),
            c.recall(),
            c.f1(),
            c.tp + c.fn_
        );
    }
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0;
        for d in &docs {
            let mut out = Vec::new();
            r.recognize(&d.text, &mut out);
            n += out.len();
        }
        std::hint::black_box(n);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "\n{} documents, {bytes} bytes; names recognizer alone: {:.2} MB/s (best of 5)",
        docs.len(),
        bytes as f64 / best / 1e6
    );
}
