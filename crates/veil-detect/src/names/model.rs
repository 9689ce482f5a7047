//! The averaged-perceptron sequence tagger: weights, greedy decoding, training and the
//! compact on-disk format.
//!
//! Why a hand-written perceptron rather than a crate: the model is a hashed-feature linear
//! tagger of a few hundred lines, the Rust CRF/perceptron crates we looked at either wrap C
//! (crfsuite) or fix their own feature and file formats, and the hot loop (hash lookups for
//! about 30 features a token) is where the speed comes from.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::features::{Doc, N_LABELS, N_SMALL, O, allowed, small_keys};

/// Weights of one feature, one per label.
pub(crate) type Row = [f32; N_LABELS];

/// A fast non-cryptographic hasher (the FxHash multiply-rotate scheme) for our own keys:
/// feature hashes and list words. Inputs come from the shipped lists and the model, or are
/// looked up only, so flooding is not a concern here; SipHash cost a third of the run time.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(chunks.remainder()) {
            *d = *s;
        }
        self.add(u64::from_le_bytes(w) ^ (bytes.len() as u64));
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

impl FastHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

pub(crate) type FeatureMap<V> = HashMap<u32, V, BuildHasherDefault<FastHasher>>;

/// A trained tagger: the quantized weights.
///
/// Scoring does about 35 lookups per candidate token, most of them for features the model
/// never kept (unseen words), in a table larger than the L1 cache; a lookup's cost is its
/// cache misses. The standard `HashMap` (SwissTable) answers a miss from its one-byte
/// control array, which stays in cache, and reads an entry only on a likely hit; keeping
/// the weights as `i16` (as in the file) makes an entry 24 bytes instead of 40 (`f32`), so
/// more of them stay in cache too. Scores are summed in `i32` and scaled once. (Measured
/// with callgrind: an open-addressing table of 24-byte slots and a bucketed table of 16
/// keys a cache line both read more memory per miss and were slower.)
pub(crate) struct Model {
    weights: FeatureMap<[i16; N_LABELS]>,
    /// The weights of the small features (see `Doc::small_features`), by index.
    small: Vec<[i16; N_LABELS]>,
    /// Weight of one quantum.
    scale: f32,
}

/// The model file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid names model: {reason}")]
pub struct ModelError {
    reason: &'static str,
}

const MAGIC: &[u8; 8] = b"VEILNER1";

impl Model {
    /// Reads the format written by [`to_bytes`]: magic, `u32` count, `f32` scale, then per
    /// feature a `u32` key and one `i16` per label (weight = value * scale).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let err = |reason| ModelError { reason };
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(err("bad magic"))?;
        let (count, rest) = split_u32(rest).ok_or(err("truncated header"))?;
        let (scale_bits, rest) = split_u32(rest).ok_or(err("truncated header"))?;
        let scale = f32::from_bits(scale_bits);
        let entry = 4 + 2 * N_LABELS;
        if rest.len() != count as usize * entry || !scale.is_finite() {
            return Err(err("length does not match the feature count"));
        }
        let mut weights = FeatureMap::default();
        weights.reserve(count as usize);
        for chunk in rest.chunks_exact(entry) {
            let (key, mut w) = split_u32(chunk).ok_or(err("truncated entry"))?;
            let mut row = [0i16; N_LABELS];
            for r in &mut row {
                let (v, tail) = w.split_first_chunk::<2>().ok_or(err("truncated entry"))?;
                *r = i16::from_le_bytes(*v);
                w = tail;
            }
            weights.insert(key, row);
        }
        let small = small_keys()
            .iter()
            .map(|k| weights.get(k).copied().unwrap_or_default())
            .collect();
        Ok(Model {
            weights,
            small,
            scale,
        })
    }

    /// The file's bytes again (tests).
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let weights: FeatureMap<Row> = self
            .weights
            .iter()
            .map(|(k, row)| (*k, row.map(|q| f32::from(q) * self.scale)))
            .collect();
        to_bytes(&weights)
    }

    pub(crate) fn feature_count(&self) -> usize {
        self.weights.len()
    }

    fn score(&self, small: &[usize], flags: &[usize], feats: &[u32], out: &mut Row) {
        let mut acc = [0i32; N_LABELS];
        for row in small.iter().chain(flags).filter_map(|&k| self.small.get(k)) {
            for (a, w) in acc.iter_mut().zip(row) {
                *a += i32::from(*w);
            }
        }
        for f in feats {
            if let Some(row) = self.weights.get(f) {
                for (a, w) in acc.iter_mut().zip(row) {
                    *a += i32::from(*w);
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = a as f32 * self.scale;
        }
    }

    /// Greedy left-to-right decoding. Returns one label per token and, per token, the
    /// margin between the chosen label and the best other label (0 for skipped tokens).
    pub(crate) fn tag(&self, doc: &Doc) -> (Vec<u8>, Vec<f32>) {
        let mut labels = vec![O; doc.len()];
        let mut margins = vec![0f32; doc.len()];
        let mut feats = Vec::with_capacity(48);
        let mut flags = Vec::with_capacity(24);
        let mut scores = [0f32; N_LABELS];
        let (mut p1, mut p2) = (O, O);
        for i in 0..doc.len() {
            let mut label = O;
            if doc.gated(i, p1) {
                let small = doc.small_features(i, p1, p2);
                doc.static_features(i, &mut feats, &mut flags);
                doc.dynamic_features(i, p1, &mut feats);
                self.score(&small, &flags, &feats, &mut scores);
                let (best, margin) = best_allowed(&scores, p1);
                label = best;
                if let Some(m) = margins.get_mut(i) {
                    *m = margin;
                }
            }
            if let Some(l) = labels.get_mut(i) {
                *l = label;
            }
            p2 = p1;
            p1 = label;
        }
        (labels, margins)
    }
}

/// Writes the compact model format, quantizing weights to `i16`.
pub(crate) fn to_bytes(weights: &FeatureMap<Row>) -> Vec<u8> {
    let max = weights
        .values()
        .flat_map(|r| r.iter())
        .fold(0f32, |m, w| m.max(w.abs()));
    let scale = if max > 0.0 { max / 32767.0 } else { 1.0 };
    let mut keys: Vec<&u32> = weights.keys().collect();
    keys.sort_unstable();
    let mut out = Vec::with_capacity(16 + keys.len() * (4 + 2 * N_LABELS));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    out.extend_from_slice(&scale.to_bits().to_le_bytes());
    for k in keys {
        out.extend_from_slice(&k.to_le_bytes());
        if let Some(row) = weights.get(k) {
            for w in row {
                let q = (w / scale).round().clamp(-32767.0, 32767.0) as i16;
                out.extend_from_slice(&q.to_le_bytes());
            }
        }
    }
    out
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// The best label allowed after `prev`, and its margin over the runner-up.
fn best_allowed(scores: &Row, prev: u8) -> (u8, f32) {
    let mut best = (O, f32::NEG_INFINITY);
    let mut second = f32::NEG_INFINITY;
    for (l, &s) in (0u8..).zip(scores.iter()) {
        if !allowed(prev, l) {
            continue;
        }
        if s > best.1 {
            second = best.1;
            best = (l, s);
        } else if s > second {
            second = s;
        }
    }
    (best.0, best.1 - second)
}

/// Trains an averaged perceptron over documents labelled token by token.
pub(crate) struct Trainer {
    /// Per feature: current weights, accumulated weights, and the step of the last update.
    w: FeatureMap<(Row, Row, [u32; N_LABELS])>,
    step: u32,
    /// Xorshift state for feature dropout.
    rng: u64,
}

/// Share of context-word features hidden from each training update. Dropping them makes
/// the tagger lean on what the name itself looks like (lists, shape, affixes) rather than
/// on the handful of phrases the training templates put around it.
const DROPOUT: u64 = 30;

impl Default for Trainer {
    fn default() -> Self {
        Trainer {
            w: FeatureMap::default(),
            step: 0,
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl Trainer {
    fn keep(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 >= DROPOUT
    }

    fn current(&self, feats: &[u32], out: &mut Row) {
        *out = [0.0; N_LABELS];
        for f in feats {
            if let Some((row, _, _)) = self.w.get(f) {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w;
                }
            }
        }
    }

    fn update(&mut self, feats: &[u32], label: usize, delta: f32) {
        let step = self.step;
        for f in feats {
            let (w, acc, ts) = self.w.entry(*f).or_default();
            if let (Some(w), Some(acc), Some(ts)) =
                (w.get_mut(label), acc.get_mut(label), ts.get_mut(label))
            {
                *acc += (step - *ts) as f32 * *w;
                *ts = step;
                *w += delta;
            }
        }
    }

    /// One pass over one document; returns the number of token mistakes.
    pub(crate) fn learn(&mut self, doc: &Doc, gold: &[u8]) -> usize {
        let mut feats = Vec::with_capacity(48);
        let mut flags = Vec::with_capacity(24);
        // The trainer sees the small features under their keys, like any other.
        let small_keys = small_keys();
        debug_assert_eq!(small_keys.len(), N_SMALL);
        let mut scores = [0f32; N_LABELS];
        let (mut p1, mut p2) = (O, O);
        let mut mistakes = 0;
        for i in 0..doc.len() {
            let truth = gold.get(i).copied().unwrap_or(O);
            let mut label = O;
            if doc.gated(i, p1) {
                self.step += 1;
                doc.static_features(i, &mut feats, &mut flags);
                doc.dynamic_features(i, p1, &mut feats);
                let mut k = 0;
                feats.retain(|_| {
                    k += 1;
                    // The 2nd to 5th features are the neighbouring words (see `static_features`).
                    !(2..=5).contains(&k) || self.keep()
                });
                let small = doc.small_features(i, p1, p2);
                feats.extend(
                    small
                        .iter()
                        .chain(&flags)
                        .filter_map(|&k| small_keys.get(k)),
                );
                self.current(&feats, &mut scores);
                label = best_allowed(&scores, p1).0;
                if label != truth {
                    mistakes += 1;
                    self.update(&feats, usize::from(truth), 1.0);
                    self.update(&feats, usize::from(label), -1.0);
                }
            } else if truth != O {
                mistakes += 1;
            }
            p2 = p1;
            // Teacher forcing on the history would overfit to perfect histories; the
            // prediction is what decoding will see.
            p1 = label;
        }
        mistakes
    }

    /// Averages the weights and drops features whose weights all stay below `prune`.
    pub(crate) fn finish(mut self, prune: f32) -> FeatureMap<Row> {
        let step = self.step.max(1);
        let mut weights = FeatureMap::default();
        for (k, (w, mut acc, ts)) in self.w.drain() {
            let mut row = [0f32; N_LABELS];
            for l in 0..N_LABELS {
                let (Some(a), Some(wl), Some(t), Some(r)) =
                    (acc.get_mut(l), w.get(l), ts.get(l), row.get_mut(l))
                else {
                    continue;
                };
                *a += (step - t) as f32 * wl;
                *r = *a / step as f32;
            }
            if row.iter().any(|v| v.abs() >= prune) {
                weights.insert(k, row);
            }
        }
        weights
    }
}
