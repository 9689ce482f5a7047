//! Globally optimal full-domain generalization over the lattice of hierarchy levels, in the
//! spirit of ARX's Flash.
//!
//! The data is first rolled up once into distinct (quasi-identifier codes, sensitive codes)
//! tuples with counts; every lattice node is then evaluated on those tuples with packed
//! integer keys and code -> code lookups, never on the rows. Nodes are visited in order of a
//! lower bound of their loss (the loss they would have without suppression, exact per
//! column and level and precomputed), so the search stops as soon as the next bound cannot
//! beat the best release found: the result is the optimum. A node that fails k-anonymity
//! within the suppression limit tags all its predecessors as failing (k-anonymity with
//! suppression is monotone), so they are never evaluated.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::model::{Privacy, SensitiveStats, class_ok, merge_hist};

/// Largest lattice searched; beyond it Mondrian is the tool.
pub(crate) const MAX_NODES: u64 = 1 << 22;

/// Nodes whose key space is at most this large group through a dense array instead of a
/// hash map (16 MB of `u32`, allocated once per search and reset through a touched list).
const DENSE_KEYS: usize = 1 << 22;

/// A small multiplicative hasher for integer keys: the std SipHash is several times slower
/// on the millions of u128 lookups a search makes, and the keys are not attacker-chosen in
/// a way that matters for a batch job. Written here to avoid a dependency for ten lines.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    fn write_u128(&mut self, x: u128) {
        self.add(x as u64);
        self.add((x >> 64) as u64);
    }
}

impl FastHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Per-record cost tables of a loss metric.
pub(crate) struct CostTables {
    /// cost[qi][level][code]: loss of a record with `code` generalized to `level`.
    pub(crate) cost: Vec<Vec<Vec<f64>>>,
    /// suppressed[qi][code]: loss of a suppressed record with `code` (>= every level's).
    pub(crate) suppressed: Vec<Vec<f64>>,
    /// Discernibility instead of per-record costs.
    pub(crate) discernibility: bool,
    /// Generalization height instead of per-record costs.
    pub(crate) height: bool,
}

pub(crate) struct Search<'a> {
    pub(crate) qi_codes: Vec<&'a [u32]>,
    pub(crate) hierarchies: Vec<&'a Hierarchy>,
    pub(crate) sens_codes: Vec<&'a [u32]>,
    pub(crate) stats: &'a [SensitiveStats],
    pub(crate) privacy: &'a Privacy,
    pub(crate) costs: CostTables,
}

/// The outcome of a search.
pub(crate) struct Found {
    /// The chosen level per quasi-identifier.
    pub(crate) levels: Vec<usize>,
    /// Whether each input row is released.
    pub(crate) kept: Vec<bool>,
    /// Lattice size.
    pub(crate) nodes: u64,
    /// Nodes whose classes were computed.
    pub(crate) evaluated: u64,
}

struct Tuples {
    /// Codes, `stride` per tuple: quasi-identifiers first, then sensitive columns.
    codes: Vec<u32>,
    count: Vec<u64>,
    stride: usize,
    /// Tuple of each row.
    of_row: Vec<u32>,
}

enum Outcome {
    /// Fails k-anonymity within the suppression limit: so do all predecessors.
    KFail,
    /// Fails another model within the limit.
    Fail,
    Pass {
        score: f64,
        kept_tuples: Vec<bool>,
    },
}

impl Search<'_> {
    fn roll_up(&self) -> Tuples {
        let rows = self.qi_codes.first().map_or(0, |c| c.len());
        let stride = self.qi_codes.len() + self.sens_codes.len();
        let mut index: FastMap<Vec<u32>, u32> = FastMap::default();
        let mut codes = Vec::new();
        let mut count: Vec<u64> = Vec::new();
        let mut of_row = Vec::with_capacity(rows);
        let mut key = Vec::with_capacity(stride);
        for row in 0..rows {
            key.clear();
            key.extend(
                self.qi_codes
                    .iter()
                    .chain(&self.sens_codes)
                    .map(|c| c.get(row).copied().unwrap_or(0)),
            );
            let next = u32::try_from(count.len()).unwrap_or(u32::MAX);
            let t = *index.entry(key.clone()).or_insert_with(|| {
                codes.extend_from_slice(&key);
                count.push(0);
                next
            });
            if let Some(c) = count.get_mut(t as usize) {
                *c += 1;
            }
            of_row.push(t);
        }
        Tuples {
            codes,
            count,
            stride,
            of_row,
        }
    }

    /// Runs the search.
    pub(crate) fn run(&self) -> Result<Found> {
        let heights: Vec<usize> = self.hierarchies.iter().map(|h| h.height()).collect();
        let mut nodes: u64 = 1;
        for &h in &heights {
            nodes = nodes.saturating_mul(h as u64 + 1);
        }
        if nodes > MAX_NODES {
            return Err(Error::config(format!(
                "the generalization lattice has {nodes} nodes, more than the {MAX_NODES} a full search takes; use `--algorithm mondrian`"
            )));
        }
        let tuples = self.roll_up();
        let n: u64 = tuples.count.iter().sum();
        let max_supp = self.privacy.max_suppressed(n);
        let nq = self.qi_codes.len();

        // Lower bound per column and level: the loss without suppression.
        let mut col_bound: Vec<Vec<f64>> = Vec::with_capacity(nq);
        for (i, per_level) in self.costs.cost.iter().enumerate() {
            let mut sums = vec![0.0; per_level.len()];
            for (t, &c) in tuples.count.iter().enumerate() {
                let code = tuples
                    .codes
                    .get(t * tuples.stride + i)
                    .copied()
                    .unwrap_or(0) as usize;
                for (s, lvl) in sums.iter_mut().zip(per_level) {
                    *s += c as f64 * lvl.get(code).copied().unwrap_or(0.0);
                }
            }
            col_bound.push(sums);
        }
        let node_count = usize::try_from(nodes).unwrap_or(usize::MAX);
        let decode = |mut idx: usize| -> Vec<usize> {
            let mut levels = vec![0; nq];
            for (slot, &h) in levels.iter_mut().zip(&heights).rev() {
                *slot = idx % (h + 1);
                idx /= h + 1;
            }
            levels
        };
        let encode = |levels: &[usize]| -> usize {
            levels
                .iter()
                .zip(&heights)
                .fold(0, |acc, (&l, &h)| acc * (h + 1) + l)
        };
        let bound = |levels: &[usize]| -> f64 {
            if self.costs.height {
                levels.iter().sum::<usize>() as f64
            } else if self.costs.discernibility {
                0.0
            } else {
                levels
                    .iter()
                    .zip(&col_bound)
                    .map(|(&l, b)| b.get(l).copied().unwrap_or(0.0))
                    .sum()
            }
        };
        let mut order: Vec<(f64, usize, usize)> = (0..node_count)
            .map(|idx| {
                let lv = decode(idx);
                (bound(&lv), lv.iter().sum::<usize>(), idx)
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

        let mut failed = vec![false; node_count];
        let mut best: Option<(f64, usize, Vec<usize>, Vec<bool>)> = None;
        let mut evaluated = 0u64;
        let eps = 1e-9;
        let mut dense = vec![u32::MAX; DENSE_KEYS];
        for &(lb, height, idx) in &order {
            // Sorted by bound: once the bound reaches the best score, nothing later wins.
            if let Some((score, bh, _, _)) = &best
                && (lb > *score + eps || (lb >= *score - eps && height >= *bh))
            {
                break;
            }
            if failed.get(idx).copied().unwrap_or(true) {
                continue;
            }
            let levels = decode(idx);
            evaluated += 1;
            match self.evaluate(&tuples, &levels, max_supp, &mut dense) {
                Outcome::KFail => {
                    // Tag every predecessor (each coordinate lowered, transitively).
                    let mut stack = vec![levels];
                    while let Some(lv) = stack.pop() {
                        let id = encode(&lv);
                        if let Some(f) = failed.get_mut(id) {
                            *f = true;
                        }
                        for i in 0..nq {
                            if let Some(&l) = lv.get(i)
                                && l > 0
                            {
                                let mut down = lv.clone();
                                if let Some(x) = down.get_mut(i) {
                                    *x = l - 1;
                                }
                                if !failed.get(encode(&down)).copied().unwrap_or(true) {
                                    stack.push(down);
                                }
                            }
                        }
                    }
                }
                Outcome::Fail => {}
                Outcome::Pass { score, kept_tuples } => {
                    let better = match &best {
                        None => true,
                        Some((s, h, _, _)) => {
                            score < *s - eps || (score <= *s + eps && height < *h)
                        }
                    };
                    if better {
                        best = Some((score, height, levels, kept_tuples));
                    }
                }
            }
        }
        let Some((_, _, levels, kept_tuples)) = best else {
            return Err(Error::unsatisfiable(
                "even the most general node suppresses more records than the suppression limit allows",
            ));
        };
        let kept = tuples
            .of_row
            .iter()
            .map(|&t| kept_tuples.get(t as usize).copied().unwrap_or(false))
            .collect();
        Ok(Found {
            levels,
            kept,
            nodes,
            evaluated,
        })
    }

    fn evaluate(
        &self,
        tuples: &Tuples,
        levels: &[usize],
        max_supp: u64,
        dense: &mut [u32],
    ) -> Outcome {
        let nq = self.qi_codes.len();
        let mut maps: Vec<&[u32]> = Vec::with_capacity(nq);
        let mut radix: Vec<u128> = Vec::with_capacity(nq);
        for (h, &l) in self.hierarchies.iter().zip(levels) {
            let Some(level) = h.level(l) else {
                return Outcome::Fail;
            };
            maps.push(&level.map);
            radix.push(level.labels.len().max(1) as u128);
        }
        let t_count = tuples.count.len();
        let key_space = radix.iter().try_fold(1u128, |a, &r| a.checked_mul(r));
        let use_dense = key_space.is_some_and(|p| p <= dense.len() as u128);
        let mut classes: FastMap<u128, u32> = FastMap::default();
        if !use_dense {
            classes.reserve(t_count / 4);
        }
        let mut touched: Vec<usize> = Vec::new();
        let mut class_of = Vec::with_capacity(t_count);
        let mut sizes: Vec<u64> = Vec::new();
        for (t, &c) in tuples.count.iter().enumerate() {
            let base = t * tuples.stride;
            let mut key: u128 = 0;
            for (i, (map, &r)) in maps.iter().zip(&radix).enumerate() {
                let code = tuples.codes.get(base + i).copied().unwrap_or(0);
                key = key
                    .wrapping_mul(r)
                    .wrapping_add(u128::from(map.get(code as usize).copied().unwrap_or(0)));
            }
            let next = u32::try_from(sizes.len()).unwrap_or(u32::MAX);
            let id = if use_dense {
                let slot_index = usize::try_from(key).unwrap_or(usize::MAX);
                match dense.get_mut(slot_index) {
                    Some(slot) if *slot != u32::MAX => *slot,
                    Some(slot) => {
                        *slot = next;
                        touched.push(slot_index);
                        sizes.push(0);
                        next
                    }
                    None => return Outcome::Fail,
                }
            } else {
                *classes.entry(key).or_insert_with(|| {
                    sizes.push(0);
                    next
                })
            };
            if let Some(s) = sizes.get_mut(id as usize) {
                *s += c;
            }
            class_of.push(id);
        }
        for i in touched {
            if let Some(slot) = dense.get_mut(i) {
                *slot = u32::MAX;
            }
        }
        let k = self.privacy.k as u64;
        let mut suppressed: u64 = sizes.iter().filter(|&&s| s < k).sum();
        if suppressed > max_supp {
            return Outcome::KFail;
        }
        let mut class_kept: Vec<bool> = sizes.iter().map(|&s| s >= k).collect();
        if !self.sens_codes.is_empty() && (self.privacy.l.is_some() || self.privacy.t.is_some()) {
            // Bucket tuples by class (counting sort), then check each class's histograms.
            let mut start = vec![0usize; sizes.len() + 1];
            for &id in &class_of {
                if let Some(s) = start.get_mut(id as usize + 1) {
                    *s += 1;
                }
            }
            for i in 1..start.len() {
                let prev = start.get(i - 1).copied().unwrap_or(0);
                if let Some(s) = start.get_mut(i) {
                    *s += prev;
                }
            }
            let mut fill = start.clone();
            let mut ordered = vec![0u32; t_count];
            for (t, &id) in class_of.iter().enumerate() {
                if let Some(pos) = fill.get_mut(id as usize) {
                    if let Some(slot) = ordered.get_mut(*pos) {
                        *slot = u32::try_from(t).unwrap_or(u32::MAX);
                    }
                    *pos += 1;
                }
            }
            let mut hists: Vec<Vec<(u32, u64)>> = vec![Vec::new(); self.sens_codes.len()];
            for (id, kept) in class_kept.iter_mut().enumerate() {
                if !*kept {
                    continue;
                }
                let (Some(&a), Some(&b)) = (start.get(id), start.get(id + 1)) else {
                    continue;
                };
                let members = ordered.get(a..b).unwrap_or(&[]);
                for (s, hist) in hists.iter_mut().enumerate() {
                    hist.clear();
                    for &t in members {
                        let t = t as usize;
                        let code = tuples
                            .codes
                            .get(t * tuples.stride + nq + s)
                            .copied()
                            .unwrap_or(0);
                        hist.push((code, tuples.count.get(t).copied().unwrap_or(0)));
                    }
                    merge_hist(hist);
                }
                let size = sizes.get(id).copied().unwrap_or(0);
                if !class_ok(self.privacy, self.stats, size, &hists) {
                    *kept = false;
                    suppressed += size;
                    if suppressed > max_supp {
                        return Outcome::Fail;
                    }
                }
            }
        }
        let kept_tuples: Vec<bool> = class_of
            .iter()
            .map(|&id| class_kept.get(id as usize).copied().unwrap_or(false))
            .collect();
        let score = if self.costs.height {
            levels.iter().sum::<usize>() as f64
        } else if self.costs.discernibility {
            let n: u64 = tuples.count.iter().sum();
            sizes
                .iter()
                .zip(&class_kept)
                .map(|(&s, &kept)| {
                    if kept {
                        (s as f64) * (s as f64)
                    } else {
                        s as f64 * n as f64
                    }
                })
                .sum()
        } else {
            let mut score = 0.0;
            for (t, (&c, &kept)) in tuples.count.iter().zip(&kept_tuples).enumerate() {
                let base = t * tuples.stride;
                let mut per = 0.0;
                for (i, &l) in levels.iter().enumerate() {
                    let code = tuples.codes.get(base + i).copied().unwrap_or(0) as usize;
                    per += if kept {
                        self.costs
                            .cost
                            .get(i)
                            .and_then(|x| x.get(l))
                            .and_then(|x| x.get(code))
                            .copied()
                            .unwrap_or(0.0)
                    } else {
                        self.costs
                            .suppressed
                            .get(i)
                            .and_then(|x| x.get(code))
                            .copied()
                            .unwrap_or(1.0)
                    };
                }
                score += c as f64 * per;
            }
            score
        };
        Outcome::Pass { score, kept_tuples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LDiversity, LVariant, TDistance};

    /// The bound-ordered search with tagging finds the same optimum as evaluating every node.
    #[test]
    fn search_matches_exhaustive_optimum() {
        let mut seed = 0x1234_5678_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut solved = 0;
        for case in 0..12 {
            let rows = 40 + next(60) as usize;
            let ages: Vec<String> = (0..rows).map(|_| (20 + next(30)).to_string()).collect();
            let zips: Vec<String> = (0..rows)
                .map(|_| format!("21{}{}", next(3), next(10)))
                .collect();
            let sexes: Vec<String> = (0..rows)
                .map(|_| ["F", "M", "X"][next(3) as usize].to_owned())
                .collect();
            let diag: Vec<String> = (0..rows)
                .map(|_| ["a", "b", "c", "d"][next(4) as usize].to_owned())
                .collect();
            let cols: Vec<crate::table::Column> = [
                ("age", &ages),
                ("zip", &zips),
                ("sex", &sexes),
                ("d", &diag),
            ]
            .iter()
            .map(|(n, v)| crate::table::Column::from_values(*n, v))
            .collect();
            let hs = [
                Hierarchy::intervals(cols[0].dict(), &[2.0, 4.0, 8.0], "age").unwrap(),
                Hierarchy::prefix(cols[1].dict()),
                Hierarchy::flat(cols[2].dict()),
            ];
            let privacy = Privacy {
                k: 2 + case % 4,
                l: (case % 2 == 0).then_some(LDiversity {
                    variant: LVariant::Distinct,
                    l: 2.0,
                    c: 1.0,
                }),
                t: None,
                suppression: [0.0, 0.05, 0.2][case % 3],
            };
            let stats = vec![
                SensitiveStats::new(
                    cols[3].dict(),
                    cols[3].codes(),
                    None,
                    None,
                    TDistance::Equal,
                )
                .unwrap(),
            ];
            let costs = CostTables {
                cost: hs
                    .iter()
                    .zip(&cols)
                    .map(|(h, c)| {
                        (0..h.levels())
                            .map(|l| vec![l as f64 / h.height() as f64; c.dict().len()])
                            .collect()
                    })
                    .collect(),
                suppressed: cols
                    .iter()
                    .take(3)
                    .map(|c| vec![1.0; c.dict().len()])
                    .collect(),
                discernibility: false,
                height: false,
            };
            let search = Search {
                qi_codes: cols.iter().take(3).map(|c| c.codes()).collect(),
                hierarchies: hs.iter().collect(),
                sens_codes: vec![cols[3].codes()],
                stats: &stats,
                privacy: &privacy,
                costs,
            };
            let found = search.run();
            let tuples = search.roll_up();
            let n: u64 = tuples.count.iter().sum();
            let mut dense = vec![u32::MAX; DENSE_KEYS];
            let mut best: Option<f64> = None;
            for a in 0..hs[0].levels() {
                for b in 0..hs[1].levels() {
                    for c in 0..hs[2].levels() {
                        let out = search.evaluate(
                            &tuples,
                            &[a, b, c],
                            privacy.max_suppressed(n),
                            &mut dense,
                        );
                        if let Outcome::Pass { score, .. } = out {
                            best = Some(best.map_or(score, |x: f64| x.min(score)));
                        }
                    }
                }
            }
            match (found, best) {
                (Ok(f), Some(b)) => {
                    let Outcome::Pass { score, .. } =
                        search.evaluate(&tuples, &f.levels, privacy.max_suppressed(n), &mut dense)
                    else {
                        panic!("case {case}: chosen node fails");
                    };
                    assert!(
                        (score - b).abs() < 1e-9,
                        "case {case}: found {score}, optimum {b}"
                    );
                    assert!(f.evaluated <= f.nodes);
                    solved += 1;
                }
                (Err(e), None) => assert!(e.is_unsatisfiable()),
                (f, b) => panic!(
                    "case {case}: search {:?} vs exhaustive {b:?}",
                    f.map(|f| f.levels)
                ),
            }
        }
        assert!(solved >= 6, "only {solved} cases had a solution");
    }
}
