//! Run with `cargo run --release -p veil-detect --example train_names`.
//!
//! Trains the names tagger on `testdata/names/train.jsonl`, reports per-class scores on the
//! development splits `dev.jsonl`, `dev2.jsonl` and `dev3.jsonl` (separate templates; tuning
//! looks at these), and writes `crates/veil-detect/data/names/model.bin`. The held-out split
//! (`heldout.jsonl`) is never read here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use veil_detect::names::{NameTrainer, corpus};
use veil_detect::{NameRecognizer, Recognizer};

const EPOCHS: usize = 8;
const PRUNE: f32 = 0.02;

fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        v.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

fn train(docs: &[corpus::LabelledDoc]) -> Vec<u8> {
    let mut trainer = NameTrainer::new();
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let mut seed = 0x5eed_u64;
    for epoch in 0..EPOCHS {
        shuffle(&mut order, &mut seed);
        let mistakes: usize = order.iter().map(|&i| trainer.learn(&docs[i])).sum();
        eprintln!("epoch {epoch}: {mistakes} token mistakes");
    }
    trainer.finish(PRUNE)
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let read = |name: &str| {
        let text = std::fs::read_to_string(format!("{root}/testdata/names/{name}")).unwrap();
        corpus::parse(&text).unwrap()
    };
    let docs = read("train.jsonl");

    let model = train(&docs);
    let r = NameRecognizer::with_model(&model).unwrap();
    for split in ["dev", "dev2", "dev3"] {
        let dev = read(&format!("{split}.jsonl"));
        let mut counts = BTreeMap::new();
        for d in &dev {
            let mut out = Vec::new();
            r.recognize(&d.text, &mut out);
            corpus::score(&d.spans, &out, &mut counts);
        }
        for (class, c) in &counts {
            eprintln!(
                "{split} {class}: p={:.3} r={:.3} f1={:.3}",
                c.precision(),
                c.recall(),
                c.f1()
            );
        }
    }

    let path = format!("{root}/crates/veil-detect/data/names/model.bin");
    std::fs::write(&path, &model).unwrap();
    eprintln!("wrote {} bytes to {path}", model.len());
}
