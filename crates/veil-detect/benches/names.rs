//! Run with `cargo bench -p veil-detect --bench names`.
//!
//! Throughput of the names recognizer on one core: the name-dense held-out corpus (worst
//! case), and mixed text (ordinary English prose with a labelled document every few
//! sentences, about one name per 150 bytes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil_detect::names::corpus;
use veil_detect::{NameRecognizer, Recognizer};

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

fn texts() -> (String, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let jsonl = std::fs::read_to_string(format!("{root}/testdata/names/heldout.jsonl")).unwrap();
    let docs = corpus::parse(&jsonl).unwrap();
    let mut dense = String::new();
    let mut mixed = String::new();
    for (k, d) in docs.iter().enumerate() {
        dense.push_str(&d.text);
        dense.push('\n');
        for p in 0..6 {
            mixed.push_str(PROSE[(k + p) % PROSE.len()]);
            mixed.push(' ');
        }
        mixed.push_str(&d.text);
        mixed.push('\n');
    }
    (dense, mixed)
}

fn bench(c: &mut Criterion) {
    let (dense, mixed) = texts();
    let r = NameRecognizer::new().unwrap();
    let mut g = c.benchmark_group("names");
    g.sample_size(10);
    for (name, text) in [("heldout_dense", &dense), ("mixed_prose", &mixed)] {
        // One call per document (line), like a gateway scanning message parts.
        let chunks: Vec<&str> = text.split_inclusive('\n').collect();
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::new();
                for chunk in &chunks {
                    r.recognize(chunk, &mut out);
                }
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
