//! Corpus test: per-class precision and recall on the labelled corpus in `testdata/pii/`,
//! checked against the floors committed in `testdata/pii/floors.toml`.
//!
//! A prediction matches a gold span of the same class when their code-point ranges overlap
//! by at least half of their union (IoU >= 0.5); each gold span matches at most once.
//! Set `VEIL_CORPUS_DUMP=CLASS` to print that class's misses and false alarms (the corpus is
//! synthetic, so printing its values is harmless).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;
use veil_detect::Analyzer;

#[derive(Deserialize)]
struct Record {
    text: String,
    spans: Vec<Gold>,
}

#[derive(Deserialize)]
struct Gold {
    start: usize,
    end: usize,
    label: String,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pii")
}

fn iou(a: (usize, usize), b: (usize, usize)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = a.1.max(b.1) - a.0.min(b.0);
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

fn evaluate(analyzer: &Analyzer, file: &str) -> BTreeMap<String, Counts> {
    let dump = std::env::var("VEIL_CORPUS_DUMP").ok();
    let text = std::fs::read_to_string(dir().join(file)).unwrap();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for line in text.lines() {
        let record: Record = serde_json::from_str(line).unwrap();
        let predicted: Vec<(usize, usize, String)> = analyzer
            .analyze(&record.text)
            .into_iter()
            .map(|f| (f.chars.start, f.chars.end, f.class.to_string()))
            .collect();
        let mut used = vec![false; record.spans.len()];
        let slice =
            |s: usize, e: usize| -> String { record.text.chars().skip(s).take(e - s).collect() };
        for (s, e, label) in &predicted {
            let hit = record.spans.iter().enumerate().find(|(i, g)| {
                !used[*i] && &g.label == label && iou((g.start, g.end), (*s, *e)) >= 0.5
            });
            let c = counts.entry(label.clone()).or_default();
            if let Some((i, _)) = hit {
                used[i] = true;
                c.tp += 1;
            } else {
                c.fp += 1;
                if dump.as_deref() == Some(label.as_str()) {
                    println!("FP {label} {:?} in {:?}", slice(*s, *e), record.text);
                }
            }
        }
        for (i, g) in record.spans.iter().enumerate() {
            if !used[i] {
                counts.entry(g.label.clone()).or_default().fn_ += 1;
                if dump.as_deref() == Some(g.label.as_str()) {
                    println!(
                        "FN {} {:?} in {:?}",
                        g.label,
                        slice(g.start, g.end),
                        record.text
                    );
                }
            }
        }
    }
    counts
}

fn report(name: &str, counts: &BTreeMap<String, Counts>) {
    println!("{name}: class precision recall (tp fp fn)");
    for (class, c) in counts {
        println!(
            "  {class:<24} P={:.3} R={:.3} ({} {} {})",
            c.precision(),
            c.recall(),
            c.tp,
            c.fp,
            c.fn_
        );
    }
}

#[test]
fn corpus_meets_floors() {
    let floors: BTreeMap<String, BTreeMap<String, f64>> =
        toml::from_str(&std::fs::read_to_string(dir().join("floors.toml")).unwrap()).unwrap();
    let analyzer = Analyzer::builder().build().unwrap();
    let mut failures = Vec::new();
    for (section, file) in [("corpus", "corpus.jsonl"), ("heldout", "heldout.jsonl")] {
        let counts = evaluate(&analyzer, file);
        report(file, &counts);
        for (class, floor) in floors.get(section).into_iter().flatten() {
            let c = counts.get(class).copied().unwrap_or_default();
            assert!(
                c.tp + c.fn_ > 0,
                "{file}: no gold spans of {class}: the floor tests nothing"
            );
            if c.precision() < *floor || c.recall() < *floor {
                failures.push(format!(
                    "{file}: {class} P={:.3} R={:.3} below floor {floor}",
                    c.precision(),
                    c.recall()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
