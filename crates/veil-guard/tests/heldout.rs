//! Issue 6 evidence: recompute the held-out metrics of the embedded model and fail below the
//! floors.
//!
//! `testdata/guard/heldout.jsonl` comes from template set B of `testdata/guard/generate.py`
//! and is never used for training, calibration or thresholds (see `examples/train.rs`).
//! The full report, per family, is printed by `cargo run --release -p veil-guard --example
//! eval` and kept in `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use veil_guard::{Guard, GuardConfig, Origin, eval};

/// Acceptance floors of issue 6.
const ACCEPT_TPR_AT_5_FPR: f64 = 0.90;
const ACCEPT_HARD_FPR: f64 = 0.03;

/// Regression floors: what the committed model reaches today (trained on template sets A, C
/// and D: AUROC 0.9905, TPR@5% 0.9450, hard FPR 0/360), rounded to the next step that is
/// worse. They catch a model or rule change that makes things worse; the acceptance floors
/// are checked by `issue_6_acceptance_floors`.
const REGRESSION_AUROC: f64 = 0.98;
const REGRESSION_TPR_AT_5_FPR: f64 = 0.93;
const REGRESSION_HARD_FPR: f64 = 0.01;

#[derive(serde::Deserialize)]
struct Record {
    text: String,
    label: u8,
    origin: Origin,
    hard: bool,
}

struct Metrics {
    auroc: f64,
    tpr_at_1: f64,
    tpr_at_5: f64,
    hard_fpr: f64,
}

fn metrics() -> Metrics {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/guard/heldout.jsonl");
    let records: Vec<Record> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records.len() >= 2000,
        "held-out split is unexpectedly small"
    );
    let guard = Guard::new(&GuardConfig::default()).unwrap();
    let mut scores = Vec::new();
    let (mut hard, mut hard_flagged) = (0usize, 0usize);
    for r in &records {
        let v = guard.score(&r.text, r.origin);
        scores.push((v.score, r.label == 1));
        if r.hard {
            hard += 1;
            hard_flagged += usize::from(v.attack);
        }
    }
    let m = Metrics {
        auroc: eval::auroc(&scores).unwrap(),
        tpr_at_1: eval::tpr_at_fpr(&scores, 0.01).1,
        tpr_at_5: eval::tpr_at_fpr(&scores, 0.05).1,
        hard_fpr: hard_flagged as f64 / hard as f64,
    };
    println!(
        "held-out: auroc {:.4}, tpr@1%fpr {:.4}, tpr@5%fpr {:.4}, benign hard fpr {:.4} ({hard_flagged}/{hard})",
        m.auroc, m.tpr_at_1, m.tpr_at_5, m.hard_fpr
    );
    m
}

#[test]
fn heldout_metrics_do_not_regress() {
    let m = metrics();
    assert!(m.auroc >= REGRESSION_AUROC, "auroc {:.4}", m.auroc);
    assert!(
        m.tpr_at_5 >= REGRESSION_TPR_AT_5_FPR,
        "tpr@5% {:.4}",
        m.tpr_at_5
    );
    assert!(m.tpr_at_1 <= m.tpr_at_5);
    assert!(
        m.hard_fpr <= REGRESSION_HARD_FPR,
        "hard fpr {:.4}",
        m.hard_fpr
    );
}

/// The acceptance floors of issue 6 (met since template set D: TPR@5% 0.9450, hard FPR 0).
#[test]
fn issue_6_acceptance_floors() {
    let m = metrics();
    assert!(
        m.tpr_at_5 >= ACCEPT_TPR_AT_5_FPR,
        "tpr@5% {:.4}",
        m.tpr_at_5
    );
    assert!(m.hard_fpr <= ACCEPT_HARD_FPR, "hard fpr {:.4}", m.hard_fpr);
}
