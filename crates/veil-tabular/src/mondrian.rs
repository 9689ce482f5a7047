//! Mondrian multidimensional partitioning (LeFevre et al., strict, median cuts): local
//! recoding for large data and high-cardinality quasi-identifiers.
//!
//! A partition is cut at the median of the quasi-identifier with the widest normalized
//! range, provided both halves satisfy every privacy model; otherwise the next widest is
//! tried; a partition no cut can split becomes an equivalence class. Work is an explicit
//! stack of row-index vectors, so depth is no concern at ten million rows.

use crate::error::{Error, Result};
use crate::model::{Privacy, SensitiveStats, class_ok, merge_hist};

pub(crate) struct Mondrian<'a> {
    pub(crate) qi_codes: Vec<&'a [u32]>,
    /// rank[qi][code]: position of the code in the column's order.
    pub(crate) ranks: Vec<Vec<u32>>,
    /// Numeric value per code for numeric quasi-identifiers: their span is the value range;
    /// a categorical column's span is the share of its distinct values present.
    pub(crate) numbers: Vec<Option<&'a [f64]>>,
    pub(crate) sens_codes: Vec<&'a [u32]>,
    pub(crate) stats: &'a [SensitiveStats],
    pub(crate) privacy: &'a Privacy,
}

impl Mondrian<'_> {
    fn rank(&self, qi: usize, row: u32) -> u32 {
        let code = self
            .qi_codes
            .get(qi)
            .and_then(|c| c.get(row as usize))
            .copied()
            .unwrap_or(0);
        self.ranks
            .get(qi)
            .and_then(|r| r.get(code as usize))
            .copied()
            .unwrap_or(0)
    }

    fn allowed(&self, part: &[u32], hists: &mut [Vec<(u32, u64)>]) -> bool {
        let size = part.len() as u64;
        if size < self.privacy.k as u64 {
            return false;
        }
        if self.privacy.l.is_none() && self.privacy.t.is_none() {
            return true;
        }
        for (codes, hist) in self.sens_codes.iter().zip(hists.iter_mut()) {
            hist.clear();
            hist.extend(
                part.iter()
                    .map(|&r| (codes.get(r as usize).copied().unwrap_or(0), 1u64)),
            );
            merge_hist(hist);
        }
        class_ok(self.privacy, self.stats, size, hists)
    }

    /// Partitions all rows into equivalence classes (lists of row indices).
    pub(crate) fn run(&self, rows: usize) -> Result<Vec<Vec<u32>>> {
        let all: Vec<u32> = (0..rows)
            .map(|r| u32::try_from(r).unwrap_or(u32::MAX))
            .collect();
        let mut hists: Vec<Vec<(u32, u64)>> = vec![Vec::new(); self.sens_codes.len()];
        if !self.allowed(&all, &mut hists) {
            return Err(Error::unsatisfiable(
                "the whole table as one class does not satisfy the models",
            ));
        }
        let nq = self.qi_codes.len();
        let value_range: Vec<f64> = self
            .numbers
            .iter()
            .map(|n| {
                n.map_or(0.0, |x| {
                    let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if hi > lo { hi - lo } else { 0.0 }
                })
            })
            .collect();
        // Per categorical column, the partition number that last saw each code.
        let mut stamps: Vec<Vec<u32>> = self.ranks.iter().map(|r| vec![0u32; r.len()]).collect();
        let mut generation = 0u32;
        let mut stack = vec![all];
        let mut done = Vec::new();
        let mut ranks_buf: Vec<u32> = Vec::new();
        let two_k = 2 * self.privacy.k;
        while let Some(part) = stack.pop() {
            if part.len() < two_k {
                done.push(part);
                continue;
            }
            let mut spans: Vec<(f64, usize)> = Vec::with_capacity(nq);
            generation = generation.wrapping_add(1);
            for q in 0..nq {
                let codes = self.qi_codes.get(q).copied().unwrap_or(&[]);
                let span = match self.numbers.get(q).copied().flatten() {
                    Some(nums) => {
                        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                        for &r in &part {
                            let v = codes
                                .get(r as usize)
                                .and_then(|&c| nums.get(c as usize))
                                .copied()
                                .unwrap_or(0.0);
                            lo = lo.min(v);
                            hi = hi.max(v);
                        }
                        let range = value_range.get(q).copied().unwrap_or(0.0);
                        if range > 0.0 { (hi - lo) / range } else { 0.0 }
                    }
                    None => {
                        let Some(seen) = stamps.get_mut(q) else {
                            continue;
                        };
                        let mut distinct = 0usize;
                        for &r in &part {
                            let c = codes.get(r as usize).copied().unwrap_or(0) as usize;
                            if let Some(s) = seen.get_mut(c)
                                && *s != generation
                            {
                                *s = generation;
                                distinct += 1;
                            }
                        }
                        if distinct > 1 {
                            distinct as f64 / seen.len().max(1) as f64
                        } else {
                            0.0
                        }
                    }
                };
                if span > 0.0 {
                    spans.push((span, q));
                }
            }
            spans.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut cut = None;
            for &(_, q) in &spans {
                ranks_buf.clear();
                ranks_buf.extend(part.iter().map(|&r| self.rank(q, r)));
                let mid = ranks_buf.len() / 2;
                let (_, &mut median, _) = ranks_buf.select_nth_unstable(mid);
                let below = ranks_buf.iter().filter(|&&x| x < median).count();
                let upto = ranks_buf.iter().filter(|&&x| x <= median).count();
                // Cut at `< median` or `<= median`, whichever is more balanced and proper.
                let half = part.len() / 2;
                let candidates = [(below, false), (upto, true)];
                let mut options: Vec<(usize, bool)> = candidates
                    .into_iter()
                    .filter(|&(n, _)| n > 0 && n < part.len())
                    .collect();
                options.sort_by_key(|&(n, _)| n.abs_diff(half));
                for (_, inclusive) in options {
                    let (left, right): (Vec<u32>, Vec<u32>) = part.iter().partition(|&&r| {
                        let x = self.rank(q, r);
                        if inclusive { x <= median } else { x < median }
                    });
                    if self.allowed(&left, &mut hists) && self.allowed(&right, &mut hists) {
                        cut = Some((left, right));
                        break;
                    }
                }
                if cut.is_some() {
                    break;
                }
            }
            match cut {
                Some((l, r)) => {
                    drop(part);
                    stack.push(r);
                    stack.push(l);
                }
                None => done.push(part),
            }
        }
        Ok(done)
    }
}
