//! Utility and risk metrics, computed the same way before and after anonymization.
//!
//! Every quasi-identifier cell of a release is a label that *covers* some original values
//! (a hierarchy node, an interval, a value set). Loss metrics read only that cover, so they
//! apply equally to full-domain (lattice search) and local (Mondrian) recodings.

use std::collections::HashMap;

use serde::Serialize;

/// What one output label of a quasi-identifier covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cover {
    /// Distinct original values covered (categorical NCP).
    pub(crate) leaves: u32,
    /// Smallest and largest numeric value covered (numeric NCP).
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    /// Input records whose value is covered (non-uniform entropy).
    pub(crate) freq: u64,
}

/// One quasi-identifier as the metrics see it.
pub(crate) struct QiView<'a> {
    /// Original code per input row.
    pub(crate) original: &'a [u32],
    /// Output label per kept row, aligned with `kept`.
    pub(crate) output: &'a [u32],
    /// Cover per output label.
    pub(crate) covers: &'a [Cover],
    /// Number of distinct original values.
    pub(crate) domain_size: usize,
    /// Width of the numeric domain (max - min), for numeric columns.
    pub(crate) numeric_range: Option<f64>,
    /// Input records per original code.
    pub(crate) freq0: &'a [u64],
    /// (level, height) for full-domain generalization.
    pub(crate) level: Option<(usize, usize)>,
}

impl QiView<'_> {
    fn ncp(&self, label: u32) -> f64 {
        let Some(c) = self.covers.get(label as usize) else {
            return 1.0;
        };
        match self.numeric_range {
            Some(r) if r > 0.0 => ((c.hi - c.lo) / r).clamp(0.0, 1.0),
            Some(_) => 0.0,
            None if c.leaves <= 1 => 0.0,
            None => f64::from(c.leaves) / self.domain_size.max(1) as f64,
        }
    }
}

/// Information loss of a release; lower is better except `precision`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Utility {
    /// Global certainty penalty: normalized certainty penalty (NCP) averaged over records and
    /// quasi-identifiers, suppressed records counting 1; 0 = original, 1 = everything `*`.
    pub gcp: f64,
    /// Sum of generalization levels, when a single level per column was used.
    pub generalization_height: Option<usize>,
    /// That height over the sum of hierarchy heights.
    pub generalization_height_ratio: Option<f64>,
    /// Sweeney's precision: 1 - mean(level / height), suppressed records counting 0.
    pub precision: Option<f64>,
    /// Discernibility: sum of squared class sizes, plus n per suppressed record.
    pub discernibility: f64,
    /// Average equivalence-class size over k (C_avg); 1 is ideal.
    pub avg_class_size_ratio: f64,
    /// Average equivalence-class size.
    pub avg_class_size: f64,
    /// Non-uniform entropy in bits per record (sum over quasi-identifiers).
    pub non_uniform_entropy: f64,
    /// Number of equivalence classes.
    pub classes: usize,
    /// Records suppressed.
    pub suppressed: u64,
}

/// Re-identification risk of a release (records in the release only).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Risk {
    /// Prosecutor model: the attacker knows the person is in the data.
    pub prosecutor: RiskFigures,
    /// Journalist model. Without a population table the release is its own population, so
    /// this equals the prosecutor figures (an upper bound of the true journalist risk).
    pub journalist: RiskFigures,
    /// Marketer model: expected share of records re-identified (classes / records).
    pub marketer: f64,
    /// Share of records unique on their quasi-identifiers.
    pub sample_uniqueness: f64,
    /// The threshold used for `records_above_threshold`.
    pub threshold: f64,
    /// Records per class-size bucket (`1`, `2`, `3-4`, `5-9`, `10-19`, `20-49`, `50-99`, `100+`).
    pub class_size_histogram: Vec<(String, u64)>,
}

/// Highest, average and share above the threshold of per-record risk 1 / class size.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskFigures {
    /// Largest per-record risk.
    pub highest: f64,
    /// Mean per-record risk.
    pub average: f64,
    /// Share of records whose risk exceeds the threshold.
    pub records_above_threshold: f64,
}

/// The bucket edges of the class-size histogram.
pub(crate) const BUCKETS: [(u64, u64, &str); 8] = [
    (1, 1, "1"),
    (2, 2, "2"),
    (3, 4, "3-4"),
    (5, 9, "5-9"),
    (10, 19, "10-19"),
    (20, 49, "20-49"),
    (50, 99, "50-99"),
    (100, u64::MAX, "100+"),
];

/// Class sizes of the rows, grouped on the given code columns (equal length).
pub(crate) fn class_sizes(columns: &[&[u32]], radices: &[u64]) -> Vec<u64> {
    let rows = columns.first().map_or(0, |c| c.len());
    let mut packed = true;
    let mut total: u128 = 1;
    for &r in radices {
        match total.checked_mul(u128::from(r.max(1))) {
            Some(t) => total = t,
            None => packed = false,
        }
    }
    if packed {
        let mut map: HashMap<u128, u64> = HashMap::new();
        for row in 0..rows {
            let mut key: u128 = 0;
            for (col, &r) in columns.iter().zip(radices) {
                key = key * u128::from(r.max(1)) + u128::from(col.get(row).copied().unwrap_or(0));
            }
            *map.entry(key).or_insert(0) += 1;
        }
        map.into_values().collect()
    } else {
        let mut map: HashMap<Vec<u32>, u64> = HashMap::new();
        for row in 0..rows {
            let key: Vec<u32> = columns
                .iter()
                .map(|c| c.get(row).copied().unwrap_or(0))
                .collect();
            *map.entry(key).or_insert(0) += 1;
        }
        map.into_values().collect()
    }
}

/// Risk figures from class sizes.
pub(crate) fn risk(sizes: &[u64], threshold: f64) -> Risk {
    let records: u64 = sizes.iter().sum();
    let n = records.max(1) as f64;
    let highest = sizes.iter().min().map_or(0.0, |&s| 1.0 / s.max(1) as f64);
    let average = sizes.len() as f64 / n;
    let above: u64 = sizes
        .iter()
        .filter(|&&s| 1.0 / s.max(1) as f64 > threshold)
        .sum();
    let unique: u64 = sizes.iter().filter(|&&s| s == 1).sum();
    let figures = RiskFigures {
        highest,
        average,
        records_above_threshold: above as f64 / n,
    };
    let class_size_histogram = BUCKETS
        .iter()
        .map(|&(lo, hi, name)| {
            (
                name.to_owned(),
                sizes.iter().filter(|&&s| s >= lo && s <= hi).sum(),
            )
        })
        .collect();
    Risk {
        prosecutor: figures.clone(),
        journalist: figures,
        marketer: average,
        sample_uniqueness: unique as f64 / n,
        threshold,
        class_size_histogram,
    }
}

/// Utility of a release: `n` input records, `kept` rows released, `sizes` its class sizes.
pub(crate) fn utility(
    n: u64,
    kept: &[u32],
    qis: &[QiView<'_>],
    sizes: &[u64],
    k: usize,
) -> Utility {
    let nqi = qis.len().max(1) as f64;
    let kept_n = kept.len() as u64;
    let suppressed = n.saturating_sub(kept_n);
    let nf = n.max(1) as f64;
    let mut ncp_sum = 0.0;
    let mut nue = 0.0;
    for q in qis {
        // Per-label sums are cheaper than per-row work on the cover table.
        let mut per_label = vec![0u64; q.covers.len()];
        for &l in q.output {
            if let Some(x) = per_label.get_mut(l as usize) {
                *x += 1;
            }
        }
        for (label, &count) in per_label.iter().enumerate() {
            if count > 0 {
                ncp_sum += count as f64 * q.ncp(u32::try_from(label).unwrap_or(u32::MAX));
            }
        }
        for (&row, &label) in kept.iter().zip(q.output) {
            let f0 = q
                .original
                .get(row as usize)
                .and_then(|&c| q.freq0.get(c as usize))
                .copied()
                .unwrap_or(1);
            let fl = q.covers.get(label as usize).map_or(n, |c| c.freq);
            nue += -((f0 as f64) / (fl.max(1) as f64)).log2();
        }
    }
    // Suppressed records: NCP 1 per attribute, entropy as if generalized to `*`.
    ncp_sum += suppressed as f64 * nqi;
    if suppressed > 0 {
        let mut is_kept = vec![false; usize::try_from(n).unwrap_or(0)];
        for &r in kept {
            if let Some(x) = is_kept.get_mut(r as usize) {
                *x = true;
            }
        }
        for q in qis {
            for (row, &c) in q.original.iter().enumerate() {
                if !is_kept.get(row).copied().unwrap_or(true) {
                    let f0 = q.freq0.get(c as usize).copied().unwrap_or(1);
                    nue += -((f0 as f64) / nf).log2();
                }
            }
        }
    }
    let levels: Option<Vec<(usize, usize)>> = qis.iter().map(|q| q.level).collect();
    let (height, ratio, precision) = match &levels {
        Some(ls) => {
            let h: usize = ls.iter().map(|&(l, _)| l).sum();
            let total: usize = ls.iter().map(|&(_, t)| t).sum();
            let mean: f64 = ls
                .iter()
                .map(|&(l, t)| if t == 0 { 0.0 } else { l as f64 / t as f64 })
                .sum::<f64>();
            let loss = (kept_n as f64 * mean + suppressed as f64 * nqi) / (nf * nqi);
            (
                Some(h),
                Some(if total == 0 {
                    0.0
                } else {
                    h as f64 / total as f64
                }),
                Some(1.0 - loss),
            )
        }
        None => (None, None, None),
    };
    let dm: f64 =
        sizes.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() + suppressed as f64 * nf;
    let avg = if sizes.is_empty() {
        0.0
    } else {
        kept_n as f64 / sizes.len() as f64
    };
    Utility {
        gcp: ncp_sum / (nf * nqi),
        generalization_height: height,
        generalization_height_ratio: ratio,
        precision,
        discernibility: dm,
        avg_class_size_ratio: avg / k.max(1) as f64,
        avg_class_size: avg,
        non_uniform_entropy: nue / nf,
        classes: sizes.len(),
        suppressed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    // One numeric quasi-identifier, values 20, 30, 40, 50 (range 30), one record each,
    // released as `20-30` (records 0, 1) and `40-50` (records 2, 3).
    const ORIGINAL: [u32; 4] = [0, 1, 2, 3];
    const FREQ0: [u64; 4] = [1, 1, 1, 1];
    const COVERS: [Cover; 2] = [
        Cover {
            leaves: 2,
            lo: 20.0,
            hi: 30.0,
            freq: 2,
        },
        Cover {
            leaves: 2,
            lo: 40.0,
            hi: 50.0,
            freq: 2,
        },
    ];

    fn view<'a>(output: &'a [u32], level: Option<(usize, usize)>) -> QiView<'a> {
        QiView {
            original: &ORIGINAL,
            output,
            covers: &COVERS,
            domain_size: 4,
            numeric_range: Some(30.0),
            freq0: &FREQ0,
            level,
        }
    }

    #[test]
    fn utility_by_hand_without_suppression() {
        let out = [0, 0, 1, 1];
        let u = utility(4, &[0, 1, 2, 3], &[view(&out, Some((1, 2)))], &[2, 2], 2);
        close(u.gcp, 10.0 / 30.0); // every record: (30-20)/30
        close(u.non_uniform_entropy, 1.0); // -log2(1/2) per record
        close(u.discernibility, 8.0); // 2^2 + 2^2
        close(u.avg_class_size, 2.0);
        close(u.avg_class_size_ratio, 1.0);
        assert_eq!(u.classes, 2);
        assert_eq!(u.generalization_height, Some(1));
        close(u.generalization_height_ratio.unwrap(), 0.5);
        close(u.precision.unwrap(), 0.5); // 1 - 1/2
    }

    #[test]
    fn utility_by_hand_with_suppression() {
        // Records 2 and 3 suppressed: they cost NCP 1, entropy -log2(1/4) = 2 bits, and n each
        // in discernibility.
        let out = [0, 0];
        let u = utility(4, &[0, 1], &[view(&out, Some((1, 2)))], &[2], 2);
        close(u.gcp, (2.0 / 3.0 + 2.0) / 4.0);
        close(u.non_uniform_entropy, (1.0 + 1.0 + 2.0 + 2.0) / 4.0);
        close(u.discernibility, 4.0 + 2.0 * 4.0);
        close(u.precision.unwrap(), 1.0 - (2.0 * 0.5 + 2.0) / 4.0);
        assert_eq!(u.suppressed, 2);
    }

    #[test]
    fn categorical_ncp_counts_covered_values() {
        let covers = [
            Cover {
                leaves: 2,
                lo: 0.0,
                hi: 0.0,
                freq: 2,
            },
            Cover {
                leaves: 1,
                lo: 0.0,
                hi: 0.0,
                freq: 1,
            },
        ];
        let out = [0, 0, 1];
        let v = QiView {
            original: &[0, 1, 2],
            output: &out,
            covers: &covers,
            domain_size: 4,
            numeric_range: None,
            freq0: &[1, 1, 1, 0],
            level: None,
        };
        let u = utility(3, &[0, 1, 2], &[v], &[2, 1], 1);
        close(u.gcp, (0.5 + 0.5 + 0.0) / 3.0);
        assert_eq!(u.precision, None);
    }

    #[test]
    fn risk_by_hand() {
        let r = risk(&[1, 2, 5], 0.2);
        close(r.prosecutor.highest, 1.0);
        close(r.prosecutor.average, 3.0 / 8.0);
        close(r.prosecutor.records_above_threshold, 3.0 / 8.0); // sizes 1 and 2 exceed 1/5
        close(r.marketer, 3.0 / 8.0);
        close(r.sample_uniqueness, 1.0 / 8.0);
        assert_eq!(r.journalist, r.prosecutor);
        let h: Vec<u64> = r.class_size_histogram.iter().map(|x| x.1).collect();
        assert_eq!(h, vec![1, 2, 0, 5, 0, 0, 0, 0]);
    }

    #[test]
    fn class_sizes_group_on_all_columns() {
        let a = [0u32, 0, 1, 1, 1];
        let b = [0u32, 0, 0, 1, 1];
        let mut s = class_sizes(&[&a, &b], &[2, 2]);
        s.sort_unstable();
        assert_eq!(s, vec![1, 2, 2]);
    }
}
