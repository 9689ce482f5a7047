//! Trains the veil-guard classifier and calibration from `testdata/guard/` and writes
//! `crates/veil-guard/model/guard.bin`.
//!
//! Run with `cargo run --release -p veil-guard --example train` (deterministic: same corpus,
//! same weights, bit for bit). Regenerate the corpus first with
//! `python3 testdata/guard/generate.py` (set A) and `python3 testdata/guard/generate_c.py`
//! (set C) if a generator changed.
//!
//! - Classifier: logistic regression on hashed n-gram features ([`veil_guard::features`]),
//!   AdaGrad, fixed epochs and a fixed shuffling seed, fitted on `train.jsonl` and
//!   `calib.jsonl` (template set A) and `train_c.jsonl` (template set C, written
//!   independently of A in many more voices and languages).
//! - Calibration: logistic regression over the classifier logit and the rule hits, fitted
//!   on *out-of-fold* logits grouped by template set: set A's logits come from a classifier
//!   fitted on set C only, and set C's from one fitted on set A only. Calibrating on
//!   in-sample logits would trust the classifier completely (each set is separable) and
//!   give the rules no weight; cross-set logits show how the classifier does on text written
//!   by another hand, which is the shift a real deployment (and the held-out set B) brings.
//! - Thresholds, chosen on the same out-of-fold scores: caller content at <= 1% false
//!   positives overall and <= 2% on the benign hard cases; tool and document content at
//!   <= 3%.
//!
//! `heldout.jsonl` is never read here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity
)]

use std::path::PathBuf;

use veil_guard::{
    Guard, GuardConfig, Model, SignalKind, clamp_logit, eval, feature_scale, features, sigmoid,
};

const HASH_BITS: u32 = 20;
const EPOCHS: usize = 4;
const LEARNING_RATE: f32 = 0.5;
/// L2 penalty per update. With set D in the pool, stronger regularisation carries better to a
/// template set the classifier never saw (grouped out-of-fold TPR at 5% FPR: 1e-5 0.855,
/// 1e-4 0.875, 3e-4 0.885, 5e-4 0.888, 1e-3 0.889, 3e-3 0.891; set D validation 0.903, 0.941,
/// 0.941, 0.936, 0.927, 0.909). 2^21 weights gave +0.006 for twice the size; word trigrams and
/// 2 or 8 epochs changed nothing that mattered.
const L2: f32 = 5e-4;
/// Benign hard cases (security talk, instructions, role-play) count twice in the classifier's
/// loss: they hold most false positives at the thresholds that matter (grouped out-of-fold
/// TPR at 5% FPR 0.886 against 0.888 once; set D validation 0.944 against 0.936).
const HARD_COPIES: usize = 2;
const CAL_L2: f64 = 1e-3;
const CAL_ITERATIONS: usize = 4000;
const CAL_STEP: f64 = 1.0;

#[derive(serde::Deserialize)]
struct Record {
    text: String,
    label: u8,
    family: String,
    hard: bool,
    /// Template set the record comes from (`A` or `C`), set by [`load`].
    #[serde(skip)]
    set: &'static str,
}

fn load(name: &str, set: &'static str) -> Vec<Record> {
    let path = corpus_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let mut r: Record =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            r.set = set;
            r
        })
        .collect()
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/guard")
}

/// xorshift64*: a fixed, dependency-free shuffle so training is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            xs.swap(i, j);
        }
    }
}

/// Fits the classifier on `examples` (features, label); returns bias and weights.
fn fit(examples: &[&(Vec<u32>, f32)]) -> (f32, Vec<f32>) {
    let n = 1usize << HASH_BITS;
    let mut w = vec![0.0f32; n];
    let mut g2 = vec![1e-8f32; n];
    let (mut bias, mut bias_g2) = (0.0f32, 1e-8f32);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = Rng(0x5eed_6a4d);
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for &i in &order {
            let (f, y) = examples[i];
            let scale = feature_scale(f.len());
            let z = bias + f.iter().map(|&j| w[j as usize]).sum::<f32>() * scale;
            let g = sigmoid(z) - y;
            for &j in f {
                let j = j as usize;
                let grad = g * scale + L2 * w[j];
                g2[j] += grad * grad;
                w[j] -= LEARNING_RATE * grad / g2[j].sqrt();
            }
            bias_g2 += g * g;
            bias -= LEARNING_RATE * g / bias_g2.sqrt();
        }
    }
    (bias, w)
}

/// How many times a record enters the classifier's training list.
fn copies(r: &Record) -> usize {
    if r.hard { HARD_COPIES } else { 1 }
}

fn logit(bias: f32, w: &[f32], f: &[u32]) -> f32 {
    bias + f.iter().map(|&j| w[j as usize]).sum::<f32>() * feature_scale(f.len())
}

fn main() {
    let rules_only = Guard::with_model(&GuardConfig::default(), Model::rules_only()).unwrap();
    let mut pool = load("train.jsonl", "A");
    pool.extend(load("calib.jsonl", "A"));
    pool.extend(load("train_c.jsonl", "C"));
    pool.extend(load("train_d.jsonl", "D"));

    // Features and rule hits, once.
    let rows: Vec<((Vec<u32>, f32), [bool; SignalKind::RULES.len()])> = pool
        .iter()
        .map(|r| {
            let a = rules_only.analyze(&r.text);
            let mut f = Vec::new();
            features(&a.model_text, HASH_BITS, &mut f);
            ((f, f32::from(r.label)), a.rules)
        })
        .collect();

    // 1. Out-of-fold classifier logits, grouped by template set: each set's logits come from
    //    a classifier that never saw any text of that set's author. Random folds would not
    //    show that shift. (Until set C existed the folds were attack families of set A;
    //    measured on A + C, cross-set folds give the classifier more weight in the
    //    calibration, because a classifier fitted on the richer set C carries over to A.)
    let mut groups: Vec<&str> = pool.iter().map(|r| r.set).collect();
    groups.sort_unstable();
    groups.dedup();
    let fold_of = |i: usize| groups.iter().position(|g| *g == pool[i].set).unwrap();
    let mut oof = vec![0.0f32; pool.len()];
    for (k, group) in groups.iter().enumerate() {
        let train: Vec<&(Vec<u32>, f32)> = (0..pool.len())
            .filter(|&i| fold_of(i) != k)
            .flat_map(|i| std::iter::repeat_n(&rows[i].0, copies(&pool[i])))
            .collect();
        let (b, w) = fit(&train);
        for i in (0..pool.len()).filter(|&i| fold_of(i) == k) {
            oof[i] = logit(b, &w, &rows[i].0.0);
        }
        let fold: Vec<(f32, bool)> = (0..pool.len())
            .filter(|&i| fold_of(i) == k)
            .map(|i| (oof[i], pool[i].label == 1))
            .collect();
        match eval::auroc(&fold) {
            Some(a) => eprintln!(
                "fold {k} ({group}): classifier auroc {a:.4}, tpr@5%fpr {:.4}",
                eval::tpr_at_fpr(&fold, 0.05).1
            ),
            None => eprintln!("fold {k} ({group}) done"),
        }
    }

    // 2. Calibration on out-of-fold logits and rule hits.
    let cal: Vec<(Vec<f64>, f64, bool)> = rows
        .iter()
        .zip(&oof)
        .zip(&pool)
        .map(|((((_, y), rules), z), r)| {
            let mut x = vec![1.0, f64::from(clamp_logit(*z))];
            x.extend(rules.iter().map(|&h| if h { 1.0 } else { 0.0 }));
            (x, f64::from(*y), r.hard)
        })
        .collect();
    let dims = 2 + SignalKind::RULES.len();
    let mut beta = vec![0.0f64; dims];
    for _ in 0..CAL_ITERATIONS {
        let mut grad = vec![0.0f64; dims];
        for (x, y, _) in &cal {
            let z: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for (g, xi) in grad.iter_mut().zip(x) {
                *g += (p - y) * xi / cal.len() as f64;
            }
        }
        for (k, (b, g)) in beta.iter_mut().zip(&grad).enumerate() {
            let reg = if k == 0 { 0.0 } else { 2.0 * CAL_L2 * *b };
            *b -= CAL_STEP * (g + reg);
        }
    }
    let mut cal_rules = [0.0f32; SignalKind::RULES.len()];
    for (c, b) in cal_rules.iter_mut().zip(&beta[2..]) {
        *c = *b as f32;
    }
    let scores: Vec<(f32, bool, bool)> = cal
        .iter()
        .map(|(x, y, hard)| {
            let z: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum();
            (sigmoid(z as f32), *y > 0.5, *hard)
        })
        .collect();

    // 3. Thresholds on the same out-of-fold scores.
    let all: Vec<(f32, bool)> = scores.iter().map(|s| (s.0, s.1)).collect();
    let hard: Vec<(f32, bool)> = scores
        .iter()
        .filter(|s| s.2 || s.1)
        .map(|s| (s.0, s.1))
        .collect();
    let (t_all, _) = eval::tpr_at_fpr(&all, 0.01);
    let (t_hard, _) = eval::tpr_at_fpr(&hard, 0.02);
    let user = t_all.max(t_hard);
    let (t3, _) = eval::tpr_at_fpr(&all, 0.03);
    let content = t3.min(user);

    // 4. The shipped classifier: fitted on the whole pool.
    let everything: Vec<&(Vec<u32>, f32)> = rows
        .iter()
        .zip(&pool)
        .flat_map(|(r, p)| std::iter::repeat_n(&r.0, copies(p)))
        .collect();
    let (bias, w) = fit(&everything);
    let model = Model::new(
        HASH_BITS,
        bias,
        w,
        beta[0] as f32,
        beta[1] as f32,
        cal_rules,
        [user, content, content],
    )
    .unwrap();
    let bytes = model.to_bytes();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/guard.bin");
    std::fs::write(&out, &bytes).unwrap();
    eprintln!(
        "calibration: intercept {:.3}, classifier {:.3}",
        beta[0], beta[1]
    );
    for (k, c) in SignalKind::RULES.iter().zip(&cal_rules) {
        eprintln!("  {:<22} {c:+.3}", k.as_str());
    }
    let hard_only: Vec<(f32, bool)> = scores
        .iter()
        .filter(|s| s.2)
        .map(|s| (s.0, false))
        .collect();
    eprintln!(
        "out-of-fold: auroc {:.4}, tpr@5%fpr {:.4}; user threshold {user:.4} (fpr {:.4}, hard fpr {:.4}, tpr {:.4}); tool/document {content:.4} (fpr {:.4}, tpr {:.4})",
        eval::auroc(&all).unwrap(),
        eval::tpr_at_fpr(&all, 0.05).1,
        eval::rate(&all, false, user),
        eval::rate(&hard_only, false, user),
        eval::rate(&all, true, user),
        eval::rate(&all, false, content),
        eval::rate(&all, true, content),
    );
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());

    // 5. Set D's validation split (phrasings the training split never used): the figure
    //    model settings were chosen on. Scored as shipped, with the rules.
    let guard = Guard::with_model(&GuardConfig::default(), model).unwrap();
    let val = load("val_d.jsonl", "D");
    let val_scores: Vec<(f32, bool)> = val
        .iter()
        .map(|r| {
            (
                guard.score(&r.text, veil_guard::Origin::User).score,
                r.label == 1,
            )
        })
        .collect();
    let (t5, tpr5) = eval::tpr_at_fpr(&val_scores, 0.05);
    let (_, tpr1) = eval::tpr_at_fpr(&val_scores, 0.01);
    let val_hard: Vec<(f32, bool)> = val
        .iter()
        .zip(&val_scores)
        .filter(|(r, _)| r.hard)
        .map(|(_, s)| (s.0, false))
        .collect();
    eprintln!(
        "validation (val_d.jsonl, {} records): auroc {:.4}; tpr@1%fpr {tpr1:.4}; tpr@5%fpr {tpr5:.4} (threshold {t5:.4}); tpr at user threshold {:.4}; fpr {:.4}; hard fpr {:.4}",
        val.len(),
        eval::auroc(&val_scores).unwrap(),
        eval::rate(&val_scores, true, user),
        eval::rate(&val_scores, false, user),
        eval::rate(&val_hard, false, user),
    );
    if std::env::var_os("GUARD_VAL_FAMILIES").is_some() {
        let mut fam: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for (r, s) in val.iter().zip(&val_scores) {
            let e = fam.entry(r.family.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(s.0 >= t5);
        }
        for (k, (n, d)) in fam {
            eprintln!(
                "  val {k:<22} {n:>5} flagged at 5% fpr {:.3}",
                d as f64 / n as f64
            );
        }
    }
    if std::env::var_os("GUARD_TRAIN_MISSES").is_some() {
        for (r, s) in pool.iter().zip(&scores) {
            if (r.label == 1) != (s.0 >= user) {
                eprintln!(
                    "miss {} {:.3} {} {:?}",
                    r.label,
                    s.0,
                    r.family,
                    r.text.chars().take(140).collect::<String>()
                );
            }
        }
    }
}
