//! Prints the held-out evaluation of the embedded model as Markdown.
//!
//! Run with `cargo run --release -p veil-guard --example eval`. The held-out split
//! (`testdata/guard/heldout.jsonl`) is generated from template set B and is never used for
//! training or thresholds; `tests/heldout.rs` enforces the acceptance floors on it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use veil_guard::{Guard, GuardConfig, Origin, eval};

#[derive(serde::Deserialize)]
struct Record {
    text: String,
    label: u8,
    family: String,
    origin: Origin,
    lang: String,
    hard: bool,
    #[serde(default)]
    obfuscation: Option<String>,
}

fn main() {
    let split = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "heldout".to_owned());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../testdata/guard/{split}.jsonl"));
    let records: Vec<Record> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let guard = Guard::new(&GuardConfig::default()).unwrap();
    let verdicts: Vec<_> = records
        .iter()
        .map(|r| guard.score(&r.text, r.origin))
        .collect();
    let scores: Vec<(f32, bool)> = records
        .iter()
        .zip(&verdicts)
        .map(|(r, v)| (v.score, r.label == 1))
        .collect();
    let pos = records.iter().filter(|r| r.label == 1).count();
    println!(
        "Split `{split}`: {} records, {pos} attacks, {} benign ({} benign hard cases).\n",
        records.len(),
        records.len() - pos,
        records.iter().filter(|r| r.hard).count()
    );
    println!("| metric | value |\n|---|---|");
    println!("| AUROC | {:.4} |", eval::auroc(&scores).unwrap());
    for fpr in [0.01, 0.05] {
        let (t, tpr) = eval::tpr_at_fpr(&scores, fpr);
        println!(
            "| TPR at {:.0}% FPR (threshold {t:.4}) | {tpr:.4} |",
            fpr * 100.0
        );
    }
    let tu = guard.threshold(Origin::User);
    let tc = guard.threshold(Origin::Tool);
    println!("| default user threshold | {tu:.4} |\n| default tool/document threshold | {tc:.4} |");
    let attack_rate = |f: &dyn Fn(&Record) -> bool| {
        let sel: Vec<bool> = records
            .iter()
            .zip(&verdicts)
            .filter(|(r, _)| f(r))
            .map(|(_, v)| v.attack)
            .collect();
        (sel.iter().filter(|&&a| a).count(), sel.len())
    };
    let (tp, n) = attack_rate(&|r| r.label == 1);
    println!(
        "| TPR, default profile per origin | {:.4} ({tp}/{n}) |",
        tp as f64 / n as f64
    );
    let (fp, n) = attack_rate(&|r| r.label == 0);
    println!(
        "| FPR, all benign, default profile per origin | {:.4} ({fp}/{n}) |",
        fp as f64 / n as f64
    );
    let (fp, n) = attack_rate(&|r| r.hard);
    println!(
        "| FPR, benign hard cases (user origin) | {:.4} ({fp}/{n}) |",
        fp as f64 / n as f64
    );
    let (fp, n) = attack_rate(&|r| r.label == 0 && r.lang != "en" && r.lang != "mixed");
    println!(
        "| FPR, benign non-English | {:.4} ({fp}/{n}) |",
        fp as f64 / n as f64
    );
    let (fp, n) = attack_rate(&|r| r.label == 0 && r.origin != Origin::User);
    println!(
        "| FPR, benign tool/document content | {:.4} ({fp}/{n}) |",
        fp as f64 / n as f64
    );

    let (t5, _) = eval::tpr_at_fpr(&scores, 0.05);
    println!(
        "\nPer family: flagged under the default profile of each record's origin, and flagged at the 5%-FPR score threshold ({t5:.4}); for benign families this is the false-positive rate:\n"
    );
    println!(
        "| family | n | flagged (default profile) | rate | rate at 5% FPR threshold | mean score |\n|---|---|---|---|---|---|"
    );
    let mut fam: BTreeMap<String, (usize, usize, usize, f64)> = BTreeMap::new();
    for (r, v) in records.iter().zip(&verdicts) {
        let mut keys = vec![r.family.clone()];
        if r.label == 1 {
            if let Some(o) = &r.obfuscation {
                keys.push(format!("(obfuscated: {o})"));
            }
            if r.lang != "en" {
                keys.push(format!("(attack language: {})", r.lang));
            }
        }
        for k in keys {
            let e = fam.entry(k).or_default();
            e.0 += 1;
            e.1 += usize::from(v.attack);
            e.2 += usize::from(v.score >= t5);
            e.3 += f64::from(v.score);
        }
    }
    for (k, (n, d, d5, sum)) in &fam {
        let n = *n as f64;
        println!(
            "| {k} | {n} | {d} | {:.3} | {:.3} | {:.3} |",
            *d as f64 / n,
            *d5 as f64 / n,
            sum / n
        );
    }
    if std::env::var_os("GUARD_EVAL_MISSES").is_some() {
        for (r, v) in records.iter().zip(&verdicts) {
            if (r.label == 1) != v.attack {
                eprintln!(
                    "{} {:.3} {} {:?}",
                    r.label,
                    v.score,
                    r.family,
                    r.text.chars().take(160).collect::<String>()
                );
            }
        }
    }
}
