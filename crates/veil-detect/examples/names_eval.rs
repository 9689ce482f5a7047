//! Run with `cargo run --release -p veil-detect --example names_eval [FILE.jsonl]`.
//!
//! Scores the names recognizer on a labelled corpus (default: the held-out split
//! `testdata/names/heldout.jsonl`): strict span-level precision, recall and F1 per class,
//! and throughput in MB/s on one core (median of five passes over the corpus text;
//! `NAMES_EVAL_PASSES` sets another count, which steadies the figure on a busy machine;
//! `NAMES_EVAL_ONLY=analyzer` runs only the speed rows whose name contains that text, for
//! a profiler).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Instant;

use veil_detect::names::corpus;
use veil_detect::{Analyzer, DataClass, NameRecognizer, Recognizer};

// The allocator `veil` ships with (crates/veil-cli/src/main.rs), so the figures are those of
// `veil scan` and `veil redact`: the recognizer allocates a few small vectors per document,
// and on name-dense text (a document every ~120 bytes) glibc's malloc and free were ~5% of
// the samples.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ordinary prose without names (our own sentences), to dilute the corpus like real text.
const PROSE: &[&str] = &[
    "The quarterly report was sent to the review board on time, and the numbers matched the ledger.",
    "Please restart the service after the update finishes; the cache will rebuild itself within a few minutes.",
    "Blood pressure was stable overnight and the patient tolerated a regular diet without nausea.",
    "Our refund policy allows returns within thirty days when the item is unused and in its original box.",
    "The contract renews automatically unless either party gives written notice sixty days before the end of the term.",
    "Error rates rose after the deployment, so the team rolled back the change and opened an incident ticket.",
    "Can you summarize the attached notes and list the open questions for tomorrow's meeting?",
    "Follow-up imaging in six weeks is recommended to confirm that the lesion has resolved.",
];

/// CPU time of this thread, from Linux's schedstat (nanoseconds on CPU): on a shared, busy
/// machine this is what one core delivers, where wall time also counts waiting for a core.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{root}/testdata/names/heldout.jsonl"));
    let docs = corpus::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let r = NameRecognizer::new().unwrap();
    let mut counts = BTreeMap::new();
    let verbose = std::env::var_os("NAMES_EVAL_ERRORS").is_some();
    let passes: usize = std::env::var("NAMES_EVAL_PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .filter(|&p| p > 0)
        .unwrap_or(5);
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
    let dense: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    // Mixed text: six sentences of ordinary prose before each labelled document.
    let mixed: Vec<String> = docs
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let mut s = String::new();
            for p in 0..6 {
                s.push_str(PROSE[(k + p) % PROSE.len()]);
                s.push(' ');
            }
            s.push_str(&d.text);
            s
        })
        .collect();
    let mixed: Vec<&str> = mixed.iter().map(String::as_str).collect();
    println!();
    let all = Analyzer::builder().build().unwrap();
    let patterns_only = Analyzer::builder()
        .entities(
            DataClass::BUILT_IN
                .iter()
                .filter(|c| {
                    !matches!(
                        c,
                        DataClass::Person
                            | DataClass::Location
                            | DataClass::Organization
                            | DataClass::Nrp
                    )
                })
                .cloned(),
        )
        .build()
        .unwrap();
    type Run<'a> = Box<dyn Fn(&str) -> usize + 'a>;
    let runs: [(&str, Run); 3] = [
        (
            "names recognizer alone",
            Box::new(|t: &str| {
                let mut out = Vec::new();
                r.recognize(t, &mut out);
                out.len()
            }),
        ),
        (
            "default analyzer, every recognizer",
            Box::new(|t: &str| all.analyze(t).len()),
        ),
        (
            "analyzer without names",
            Box::new(|t: &str| patterns_only.analyze(t).len()),
        ),
    ];
    let only = std::env::var("NAMES_EVAL_ONLY").unwrap_or_default();
    for (run_name, run) in runs.iter().filter(|(n, _)| n.contains(only.as_str())) {
        for (name, texts) in [("held-out (name-dense)", &dense), ("mixed prose", &mixed)] {
            let bytes: usize = texts.iter().map(|t| t.len()).sum();
            let mut wall = Vec::new();
            let mut cpu = Vec::new();
            for _ in 0..passes {
                let (t, c) = (Instant::now(), cpu_seconds());
                let mut n = 0;
                for text in texts.iter() {
                    n += run(text);
                }
                std::hint::black_box(n);
                wall.push(t.elapsed().as_secs_f64());
                cpu.push(cpu_seconds() - c);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            // schedstat may advance in scheduler ticks: a pass shorter than a tick reads as
            // zero CPU time, so say so rather than print infinity.
            let cpu_s = median(&mut cpu);
            let cpu_rate = if cpu_s > 0.0 {
                format!("{:.2} MB/s", bytes as f64 / cpu_s / 1e6)
            } else {
                "(too fast to time)".to_owned()
            };
            println!(
                "{run_name}, {name}: {bytes} bytes, median of {passes} passes: \
                 {cpu_rate} of thread CPU time, {:.2} MB/s wall clock",
                bytes as f64 / median(&mut wall) / 1e6
            );
        }
    }
}
