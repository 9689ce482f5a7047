//! Issue 7: the names recognizer on the held-out split it was never trained or tuned on.
//!
//! Recomputes strict span-level F1 per class on `testdata/names/heldout.jsonl` and fails when
//! a class falls below the floor committed in `testdata/names/floors.toml`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use veil_detect::names::corpus;
use veil_detect::{DataClass, NameRecognizer, Recognizer};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn floors() -> BTreeMap<DataClass, f64> {
    let text = std::fs::read_to_string(format!("{ROOT}/testdata/names/floors.toml")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap();
        let class: DataClass = k.trim().trim_matches('"').parse().unwrap();
        out.insert(class, v.trim().parse().unwrap());
    }
    out
}

#[test]
fn issue_7_heldout_f1_stays_above_floors() {
    let text = std::fs::read_to_string(format!("{ROOT}/testdata/names/heldout.jsonl")).unwrap();
    let docs = corpus::parse(&text).unwrap();
    assert!(docs.len() >= 1000, "held-out split is too small");
    let r = NameRecognizer::new().unwrap();
    let mut counts = BTreeMap::new();
    for d in &docs {
        let mut out = Vec::new();
        r.recognize(&d.text, &mut out);
        for c in &out {
            assert!(c.bytes.start < c.bytes.end && d.text.is_char_boundary(c.bytes.start));
            assert!(d.text.is_char_boundary(c.bytes.end) && (0.0..=1.0).contains(&c.score));
        }
        corpus::score(&d.spans, &out, &mut counts);
    }
    let floors = floors();
    assert_eq!(floors.len(), 4, "one floor per class");
    let mut failures = Vec::new();
    for (class, floor) in &floors {
        let c = counts.get(class).copied().unwrap_or_default();
        eprintln!(
            "{class}: p={:.3} r={:.3} f1={:.3} (floor {floor})",
            c.precision(),
            c.recall(),
            c.f1()
        );
        if c.f1() < *floor {
            failures.push(format!("{class} f1 {:.3} < {floor}", c.f1()));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn corpus_errors_name_the_line_not_the_text() {
    let bad = "{\"id\":\"a\",\"text\":\"Jane Roe\",\"spans\":[]}\n{\"id\":\"b\",\"text\":\"Jane Roe\",\"spans\":[{\"start\":0,\"end\":99,\"label\":\"PERSON\"}]}";
    let err = corpus::parse(bad).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("Jane"), "{err}");
    let err = corpus::parse("{not json").unwrap_err().to_string();
    assert!(err.starts_with("line 1"), "{err}");
    let good = corpus::parse(bad.lines().next().unwrap()).unwrap();
    assert_eq!(good.len(), 1);
}
