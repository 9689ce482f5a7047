//! Privacy models and the per-class check shared by both search algorithms.

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
pub use crate::schema::{LVariant, TDistance};

/// l-diversity of the sensitive columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LDiversity {
    /// The variant.
    pub variant: LVariant,
    /// l (a whole number for distinct and recursive).
    pub l: f64,
    /// c, for recursive (c,l)-diversity.
    pub c: f64,
}

/// t-closeness of the sensitive columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TCloseness {
    /// Largest allowed distance between a class's distribution and the whole table's.
    pub t: f64,
    /// The ground distance.
    pub distance: TDistance,
}

/// The privacy models a release must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct Privacy {
    /// Minimum class size (1 = no k-anonymity).
    pub k: usize,
    /// l-diversity, if requested.
    pub l: Option<LDiversity>,
    /// t-closeness, if requested.
    pub t: Option<TCloseness>,
    /// Largest share of records that may be suppressed (removed), 0 to 1.
    pub suppression: f64,
}

impl Privacy {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::config("`k` must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.suppression) {
            return Err(Error::config("`suppression` must be between 0 and 1"));
        }
        if let Some(l) = &self.l {
            if !(l.l >= 1.0 && l.l.is_finite()) {
                return Err(Error::config("`l` must be at least 1"));
            }
            if l.variant != LVariant::Entropy && l.l.fract() != 0.0 {
                return Err(Error::config(
                    "`l` must be a whole number for distinct and recursive l-diversity",
                ));
            }
            if l.variant == LVariant::Recursive && !(l.c > 0.0 && l.c.is_finite()) {
                return Err(Error::config("recursive l-diversity needs `c` > 0"));
            }
        }
        if let Some(t) = &self.t
            && !(0.0..=1.0).contains(&t.t)
        {
            return Err(Error::config("`t` must be between 0 and 1"));
        }
        Ok(())
    }

    /// The number of records that may be suppressed out of `n`.
    pub fn max_suppressed(&self, n: u64) -> u64 {
        // Floor, so the limit holds exactly; the small epsilon absorbs 0.05 * 100 = 5.000000001.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let m = (self.suppression * n as f64 + 1e-9).floor() as u64;
        m.min(n)
    }
}

/// What the check needs to know about one sensitive column.
#[derive(Debug, Clone)]
pub(crate) struct SensitiveStats {
    /// Share of each code in the whole input.
    pub(crate) global: Vec<f64>,
    /// Rank of each code in the value order (numeric when numeric, else text order).
    pub(crate) rank: Vec<u32>,
    /// Hierarchy for the hierarchical distance.
    pub(crate) hierarchy: Option<Hierarchy>,
    /// The distance chosen for this column.
    pub(crate) distance: TDistance,
}

impl SensitiveStats {
    pub(crate) fn new(
        dict: &[String],
        codes: &[u32],
        numbers: Option<&[f64]>,
        hierarchy: Option<Hierarchy>,
        wanted: TDistance,
    ) -> Result<Self> {
        let mut counts = vec![0u64; dict.len()];
        for &c in codes {
            if let Some(x) = counts.get_mut(c as usize) {
                *x += 1;
            }
        }
        let n = codes.len().max(1) as f64;
        let global = counts.iter().map(|&c| c as f64 / n).collect();
        let mut order: Vec<usize> = (0..dict.len()).collect();
        match numbers {
            Some(nums) => order.sort_by(|&a, &b| {
                nums.get(a)
                    .partial_cmp(&nums.get(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            }),
            None => order.sort_by(|&a, &b| dict.get(a).cmp(&dict.get(b))),
        }
        let mut rank = vec![0u32; dict.len()];
        for (r, &c) in order.iter().enumerate() {
            if let Some(x) = rank.get_mut(c) {
                *x = u32::try_from(r).unwrap_or(u32::MAX);
            }
        }
        let distance = match wanted {
            TDistance::Auto if numbers.is_some() => TDistance::Ordered,
            TDistance::Auto if hierarchy.is_some() => TDistance::Hierarchical,
            TDistance::Auto => TDistance::Equal,
            TDistance::Hierarchical if hierarchy.is_none() => {
                return Err(Error::config(
                    "hierarchical t-closeness needs a hierarchy on the sensitive column",
                ));
            }
            d => d,
        };
        Ok(Self {
            global,
            rank,
            hierarchy,
            distance,
        })
    }

    /// Earth mover's distance between a class histogram (sparse, code -> count) and the
    /// whole table's distribution.
    pub(crate) fn distance(&self, hist: &[(u32, u64)]) -> f64 {
        let total: u64 = hist.iter().map(|&(_, c)| c).sum();
        if total == 0 {
            return 0.0;
        }
        let m = self.global.len();
        let mut p = vec![0.0f64; m];
        for &(code, c) in hist {
            if let Some(x) = p.get_mut(code as usize) {
                *x = c as f64 / total as f64;
            }
        }
        match self.distance {
            TDistance::Equal | TDistance::Auto => {
                0.5 * p
                    .iter()
                    .zip(&self.global)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f64>()
            }
            TDistance::Ordered => {
                if m < 2 {
                    return 0.0;
                }
                let mut diff = vec![0.0f64; m];
                for (code, (a, b)) in p.iter().zip(&self.global).enumerate() {
                    if let Some(&r) = self.rank.get(code)
                        && let Some(x) = diff.get_mut(r as usize)
                    {
                        *x = a - b;
                    }
                }
                let mut cum = 0.0;
                let mut sum = 0.0;
                for d in diff.iter().take(m - 1) {
                    cum += d;
                    sum += cum.abs();
                }
                sum / (m - 1) as f64
            }
            TDistance::Hierarchical => {
                let Some(h) = &self.hierarchy else { return 0.0 };
                let height = h.height();
                if height == 0 {
                    return 0.0;
                }
                // extra[v] = p - q at level 0, then summed upwards; a node costs
                // level/height * min(positive extra, negative extra) of its children.
                let mut extra: Vec<f64> = p.iter().zip(&self.global).map(|(a, b)| a - b).collect();
                let mut cost = 0.0;
                for j in 1..=height {
                    let (Some(below), Some(level)) = (h.level(j - 1), h.level(j)) else {
                        break;
                    };
                    let width = level.labels.len();
                    let mut pos = vec![0.0f64; width];
                    let mut neg = vec![0.0f64; width];
                    let mut next = vec![0.0f64; width];
                    // Each label of the level below maps to one parent: take any member code.
                    let mut parent_of_child = vec![u32::MAX; below.labels.len()];
                    for (code, &child) in below.map.iter().enumerate() {
                        if let (Some(slot), Some(&par)) =
                            (parent_of_child.get_mut(child as usize), level.map.get(code))
                        {
                            *slot = par;
                        }
                    }
                    for (child, &e) in extra.iter().enumerate() {
                        let par = parent_of_child.get(child).copied().unwrap_or(u32::MAX) as usize;
                        if let (Some(ps), Some(ns), Some(nx)) =
                            (pos.get_mut(par), neg.get_mut(par), next.get_mut(par))
                        {
                            if e > 0.0 {
                                *ps += e;
                            } else {
                                *ns -= e;
                            }
                            *nx += e;
                        }
                    }
                    let w = j as f64 / height as f64;
                    cost += pos
                        .iter()
                        .zip(&neg)
                        .map(|(a, b)| w * a.min(*b))
                        .sum::<f64>();
                    extra = next;
                }
                cost
            }
        }
    }
}

/// Checks one equivalence class: size and, for each sensitive column, its histogram.
pub(crate) fn class_ok(
    privacy: &Privacy,
    stats: &[SensitiveStats],
    size: u64,
    hists: &[Vec<(u32, u64)>],
) -> bool {
    if size < privacy.k as u64 {
        return false;
    }
    for (s, hist) in stats.iter().zip(hists) {
        if let Some(l) = &privacy.l
            && !l_ok(l, hist)
        {
            return false;
        }
        if let Some(t) = &privacy.t
            && s.distance(hist) > t.t + 1e-12
        {
            return false;
        }
    }
    true
}

/// l-diversity of one histogram (sparse counts).
pub(crate) fn l_ok(l: &LDiversity, hist: &[(u32, u64)]) -> bool {
    let mut counts: Vec<u64> = hist.iter().map(|&(_, c)| c).filter(|&c| c > 0).collect();
    match l.variant {
        LVariant::Distinct => counts.len() as f64 >= l.l,
        LVariant::Entropy => {
            let total: u64 = counts.iter().sum();
            if total == 0 {
                return false;
            }
            let h: f64 = counts
                .iter()
                .map(|&c| {
                    let p = c as f64 / total as f64;
                    -p * p.ln()
                })
                .sum();
            h >= l.l.ln() - 1e-12
        }
        LVariant::Recursive => {
            counts.sort_unstable_by(|a, b| b.cmp(a));
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let li = l.l as usize;
            let Some(&r1) = counts.first() else {
                return false;
            };
            let tail: u64 = counts.iter().skip(li.saturating_sub(1)).sum();
            counts.len() >= li && (r1 as f64) < l.c * tail as f64
        }
    }
}

/// Sorts (code, count) pairs by code and merges equal codes.
pub(crate) fn merge_hist(pairs: &mut Vec<(u32, u64)>) {
    pairs.sort_unstable_by_key(|&(c, _)| c);
    let mut out: Vec<(u32, u64)> = Vec::with_capacity(pairs.len());
    for &(c, n) in pairs.iter() {
        match out.last_mut() {
            Some((lc, ln)) if *lc == c => *ln += n,
            _ => out.push((c, n)),
        }
    }
    *pairs = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn dict(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recursive_diversity_by_hand() {
        let l = LDiversity {
            variant: LVariant::Recursive,
            l: 3.0,
            c: 4.0,
        };
        // counts 5,2,1,1: r1 = 5 < 4 * (1 + 1) = 8 -> ok
        assert!(l_ok(&l, &[(0, 5), (1, 2), (2, 1), (3, 1)]));
        // counts 9,2,1,1: 9 < 8 fails
        assert!(!l_ok(&l, &[(0, 9), (1, 2), (2, 1), (3, 1)]));
        // only two values: fails (3,l) outright
        assert!(!l_ok(&l, &[(0, 1), (1, 1)]));
    }

    #[test]
    fn entropy_and_distinct_diversity_by_hand() {
        let e = LDiversity {
            variant: LVariant::Entropy,
            l: 2.0,
            c: 0.0,
        };
        assert!(l_ok(&e, &[(0, 3), (1, 3)])); // H = ln 2 exactly
        assert!(!l_ok(&e, &[(0, 3), (1, 1)])); // H = 0.562 < 0.693
        let d = LDiversity {
            variant: LVariant::Distinct,
            l: 2.0,
            c: 0.0,
        };
        assert!(l_ok(&d, &[(0, 3), (1, 1)]));
        assert!(!l_ok(&d, &[(0, 4)]));
    }

    #[test]
    fn emd_distances_by_hand() {
        // Li et al.'s salary example: values 3k..11k, global uniform, class {3k,4k,5k}:
        // ordered distance 0.375.
        let d = dict(&["3", "4", "5", "6", "7", "8", "9", "10", "11"]);
        let codes: Vec<u32> = (0..9).collect();
        let nums: Vec<f64> = (3..12).map(f64::from).collect();
        let s = SensitiveStats::new(&d, &codes, Some(&nums), None, TDistance::Auto).unwrap();
        assert_eq!(s.distance, TDistance::Ordered);
        let dist = s.distance(&[(0, 1), (1, 1), (2, 1)]);
        assert!((dist - 0.375).abs() < 1e-9, "{dist}");
        // equal distance of the same class: 0.5 * (3 * 2/9 + 6 * 1/9) = 2/3
        let e = SensitiveStats::new(&d, &codes, None, None, TDistance::Equal).unwrap();
        assert!((e.distance(&[(0, 1), (1, 1), (2, 1)]) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn hierarchical_distance_by_hand() {
        // Two groups {a,b} and {c,d}, global uniform. Class all `a`:
        // extra a=.75 b=-.25 c=-.25 d=-.25; node ab: min(.75,.25)*1/2 = .125;
        // root: children ab=.5, cd=-.5 -> min(.5,.5)*1 = .5; total .625.
        let d = dict(&["a", "b", "c", "d"]);
        let h = Hierarchy::parse_arx("a;ab\nb;ab\nc;cd\nd;cd\n", Path::new("h"), &d).unwrap();
        let s = SensitiveStats::new(&d, &[0, 1, 2, 3], None, Some(h), TDistance::Auto).unwrap();
        assert_eq!(s.distance, TDistance::Hierarchical);
        assert!((s.distance(&[(0, 4)]) - 0.625).abs() < 1e-9);
        assert!(s.distance(&[(0, 1), (1, 1), (2, 1), (3, 1)]).abs() < 1e-9);
    }
}
