//! The top level: a table, a plan and options in; a release and its report out.

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::lattice::{CostTables, Search};
use crate::metrics::{Cover, QiView, Utility, class_sizes, risk, utility};
use crate::model::{Privacy, SensitiveStats};
use crate::mondrian::Mondrian;
use crate::pseudonym::PseudonymKey;
use crate::report::{Candidate, Metrics, PrivacyReport, QiReport, Report};
use crate::schema::{IdentifierAction, Plan};
use crate::table::{Column, Encoder, Table};

/// Which search produces the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Both where they apply (the lattice search while rows x lattice nodes stays within two
    /// billion), keeping the release with the lower loss on the chosen metric.
    Auto,
    /// Globally optimal full-domain generalization (one level per column).
    Flash,
    /// Mondrian multidimensional local recoding.
    Mondrian,
}

/// The utility metric the search optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Global certainty penalty (mean NCP).
    Loss,
    /// Sum of generalization levels (full-domain only).
    Height,
    /// Sweeney's precision (full-domain only).
    Precision,
    /// Non-uniform entropy.
    Entropy,
    /// Discernibility.
    Discernibility,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::Height => "height",
            Self::Precision => "precision",
            Self::Entropy => "entropy",
            Self::Discernibility => "discernibility",
        }
    }

    fn score(self, u: &Utility) -> f64 {
        match self {
            Self::Loss => u.gcp,
            Self::Height => u.generalization_height.map_or(f64::INFINITY, |h| h as f64),
            Self::Precision => u.precision.map_or(f64::INFINITY, |p| 1.0 - p),
            Self::Entropy => u.non_uniform_entropy,
            Self::Discernibility => u.discernibility,
        }
    }
}

/// Everything besides the data and the plan.
#[derive(Debug, Clone)]
pub struct Options {
    /// The privacy models.
    pub privacy: Privacy,
    /// The search.
    pub algorithm: Algorithm,
    /// The metric to optimize.
    pub metric: Metric,
    /// Records whose re-identification risk exceeds this count as at risk in reports.
    pub risk_threshold: f64,
    /// t-closeness ground distance preference.
    pub t_distance: crate::schema::TDistance,
}

/// An anonymized table and its report.
#[derive(Debug)]
pub struct Release {
    /// The released rows, columns in input order (dropped identifiers left out).
    pub table: Table,
    /// What was done, and the risk and utility before and after.
    pub report: Report,
}

/// Rows a search keeps and the label of each kept row per quasi-identifier.
struct Generalized {
    algorithm: &'static str,
    kept_rows: Vec<u32>,
    labels: Vec<Vec<String>>,
    covers: Vec<Vec<Cover>>,
    codes: Vec<Vec<u32>>,
    levels: Option<Vec<usize>>,
    nodes: Option<(u64, u64)>,
}

struct Prepared<'a> {
    n: usize,
    qi_codes: Vec<&'a [u32]>,
    dicts: Vec<&'a [String]>,
    hierarchies: Vec<&'a Hierarchy>,
    numbers: Vec<Option<&'a [f64]>>,
    freq0: Vec<Vec<u64>>,
    sens_codes: Vec<&'a [u32]>,
    stats: Vec<SensitiveStats>,
}

/// Anonymizes `table` as `plan` says. `key` is needed when an identifier is hashed.
pub fn anonymize(
    table: &Table,
    plan: &Plan,
    options: &Options,
    key: Option<&PseudonymKey>,
) -> Result<Release> {
    let privacy = &options.privacy;
    privacy.validate()?;
    if (privacy.l.is_some() || privacy.t.is_some()) && plan.sensitive.is_empty() {
        return Err(Error::config(
            "l-diversity and t-closeness need a sensitive column",
        ));
    }
    if plan
        .identifiers
        .iter()
        .any(|(_, a)| *a == IdentifierAction::Hash)
        && key.is_none()
    {
        return Err(Error::config(
            "hashing an identifier needs a key (`--key-file` or `VEIL_MASTER_KEY`)",
        ));
    }
    let col = |i: usize| {
        table
            .columns()
            .get(i)
            .ok_or_else(|| Error::config("plan refers to a missing column"))
    };
    let mut p = Prepared {
        n: table.rows(),
        qi_codes: Vec::new(),
        dicts: Vec::new(),
        hierarchies: Vec::new(),
        numbers: Vec::new(),
        freq0: Vec::new(),
        sens_codes: Vec::new(),
        stats: Vec::new(),
    };
    for q in &plan.quasi {
        let c = col(q.column)?;
        p.qi_codes.push(c.codes());
        p.dicts.push(c.dict());
        p.hierarchies.push(&q.hierarchy);
        p.numbers.push(q.numbers.as_deref());
        p.freq0.push(c.frequencies());
    }
    for s in &plan.sensitive {
        let c = col(s.column)?;
        p.sens_codes.push(c.codes());
        p.stats.push(SensitiveStats::new(
            c.dict(),
            c.codes(),
            s.numbers.as_deref(),
            s.hierarchy.clone(),
            options.t_distance,
        )?);
    }
    if p.n == 0 {
        return Err(Error::config("the input has no records"));
    }

    let lattice: u64 = p
        .hierarchies
        .iter()
        .fold(1u64, |a, h| a.saturating_mul(h.height() as u64 + 1));
    let full_domain_metric = matches!(options.metric, Metric::Height | Metric::Precision);
    let (try_flash, try_mondrian) = match options.algorithm {
        Algorithm::Flash => (true, false),
        Algorithm::Mondrian if full_domain_metric => {
            return Err(Error::config(format!(
                "metric `{}` applies to full-domain generalization only; use `--algorithm flash`",
                options.metric.name()
            )));
        }
        Algorithm::Mondrian => (false, true),
        // Lattice work grows with rows x nodes; past this budget only Mondrian runs.
        Algorithm::Auto => (
            lattice.saturating_mul(p.n as u64) <= 2_000_000_000,
            !full_domain_metric,
        ),
    };
    let try_mondrian = try_mondrian || (options.algorithm == Algorithm::Auto && !try_flash);

    let n = p.n as u64;
    let before = measure_before(&p, privacy.k, options.risk_threshold);
    let mut results: Vec<(Generalized, Utility)> = Vec::new();
    let mut last_err = None;
    let mut candidates = Vec::new();
    if try_flash {
        match run_flash(&p, privacy, options.metric) {
            Ok(g) => {
                let u = measure(&p, &g, privacy.k).0;
                candidates.push(Candidate {
                    algorithm: g.algorithm.to_owned(),
                    score: options.metric.score(&u),
                });
                results.push((g, u));
            }
            Err(e) if options.algorithm == Algorithm::Auto && try_mondrian => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    if try_mondrian {
        match run_mondrian(&p, privacy) {
            Ok(g) => {
                let u = measure(&p, &g, privacy.k).0;
                candidates.push(Candidate {
                    algorithm: g.algorithm.to_owned(),
                    score: options.metric.score(&u),
                });
                results.push((g, u));
            }
            Err(e) => last_err = Some(e),
        }
    }
    let best = results.into_iter().min_by(|a, b| {
        options
            .metric
            .score(&a.1)
            .total_cmp(&options.metric.score(&b.1))
    });
    let Some((g, _)) = best else {
        return Err(last_err.unwrap_or_else(|| Error::unsatisfiable("no algorithm applies")));
    };
    let (utility_after, sizes) = measure(&p, &g, privacy.k);
    let risk_after = risk(&sizes, options.risk_threshold);

    let out = build_table(table, plan, &g, key)?;
    let report = Report {
        algorithm: g.algorithm.to_owned(),
        metric: options.metric.name().to_owned(),
        input_records: n,
        released_records: g.kept_rows.len() as u64,
        suppressed_records: n - g.kept_rows.len() as u64,
        privacy: PrivacyReport::new(privacy, &p.stats),
        quasi_identifiers: plan
            .quasi
            .iter()
            .enumerate()
            .map(|(i, q)| QiReport {
                column: table
                    .columns()
                    .get(q.column)
                    .map(|c| c.name().to_owned())
                    .unwrap_or_default(),
                level: g.levels.as_ref().and_then(|l| l.get(i).copied()),
                height: q.hierarchy.height(),
            })
            .collect(),
        sensitive: plan
            .sensitive
            .iter()
            .filter_map(|s| table.columns().get(s.column).map(|c| c.name().to_owned()))
            .collect(),
        lattice_nodes: g.nodes.map(|(a, _)| a),
        nodes_evaluated: g.nodes.map(|(_, b)| b),
        candidates,
        before,
        after: Metrics {
            utility: utility_after,
            risk: risk_after,
        },
    };
    Ok(Release { table: out, report })
}

fn measure_before(p: &Prepared<'_>, k: usize, threshold: f64) -> Metrics {
    let all: Vec<u32> = (0..p.n)
        .map(|r| u32::try_from(r).unwrap_or(u32::MAX))
        .collect();
    let covers: Vec<Vec<Cover>> = (0..p.qi_codes.len())
        .map(|i| {
            let f = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let nums = p.numbers.get(i).copied().flatten();
            f.iter()
                .enumerate()
                .map(|(c, &freq)| {
                    let v = nums.and_then(|x| x.get(c)).copied().unwrap_or(0.0);
                    Cover {
                        leaves: 1,
                        lo: v,
                        hi: v,
                        freq,
                    }
                })
                .collect()
        })
        .collect();
    let views = views(p, &p.qi_codes, &covers, None);
    let radices: Vec<u64> = p.dicts.iter().map(|d| d.len() as u64).collect();
    let sizes = class_sizes(&p.qi_codes, &radices);
    let u = utility(p.n as u64, &all, &views, &sizes, k);
    Metrics {
        utility: u,
        risk: risk(&sizes, threshold),
    }
}

fn views<'a>(
    p: &'a Prepared<'_>,
    codes: &'a [&'a [u32]],
    covers: &'a [Vec<Cover>],
    levels: Option<&[usize]>,
) -> Vec<QiView<'a>> {
    (0..p.qi_codes.len())
        .map(|i| {
            let nums = p.numbers.get(i).copied().flatten();
            let range = nums.map(|x| {
                let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if hi >= lo { hi - lo } else { 0.0 }
            });
            QiView {
                original: p.qi_codes.get(i).copied().unwrap_or(&[]),
                output: codes.get(i).copied().unwrap_or(&[]),
                covers: covers.get(i).map(Vec::as_slice).unwrap_or(&[]),
                domain_size: p.dicts.get(i).map_or(1, |d| d.len()),
                numeric_range: range,
                freq0: p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]),
                level: levels.and_then(|l| Some((*l.get(i)?, p.hierarchies.get(i)?.height()))),
            }
        })
        .collect()
}

fn measure(p: &Prepared<'_>, g: &Generalized, k: usize) -> (Utility, Vec<u64>) {
    let cols: Vec<&[u32]> = g.codes.iter().map(Vec::as_slice).collect();
    let v = views(p, &cols, &g.covers, g.levels.as_deref());
    let radices: Vec<u64> = g.labels.iter().map(|l| l.len() as u64).collect();
    let sizes = class_sizes(&cols, &radices);
    (utility(p.n as u64, &g.kept_rows, &v, &sizes, k), sizes)
}

/// Per-record costs of `metric` for each column, level and code.
fn cost_tables(p: &Prepared<'_>, metric: Metric) -> CostTables {
    let n = p.n as f64;
    let mut cost = Vec::new();
    let mut suppressed = Vec::new();
    for (i, h) in p.hierarchies.iter().enumerate() {
        let freq0 = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let nums = p.numbers.get(i).copied().flatten();
        let domain = freq0.len();
        let mut per_level = Vec::new();
        for l in 0..h.levels() {
            let covers = level_covers(h, l, freq0, nums);
            let map = h.level(l).map(|x| x.map.as_slice()).unwrap_or(&[]);
            let range = nums.map(|x| {
                let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                hi - lo
            });
            let row: Vec<f64> = (0..domain)
                .map(|c| {
                    let g = map.get(c).copied().unwrap_or(0) as usize;
                    let cover = covers.get(g).copied().unwrap_or(Cover {
                        leaves: 1,
                        lo: 0.0,
                        hi: 0.0,
                        freq: 1,
                    });
                    match metric {
                        Metric::Loss => match range {
                            Some(r) if r > 0.0 => (cover.hi - cover.lo) / r,
                            Some(_) => 0.0,
                            None if cover.leaves <= 1 => 0.0,
                            None => f64::from(cover.leaves) / domain.max(1) as f64,
                        },
                        Metric::Precision => l as f64 / h.height().max(1) as f64,
                        Metric::Entropy => {
                            let f0 = freq0.get(c).copied().unwrap_or(1).max(1) as f64;
                            -(f0 / cover.freq.max(1) as f64).log2()
                        }
                        Metric::Height | Metric::Discernibility => 0.0,
                    }
                })
                .collect();
            per_level.push(row);
        }
        cost.push(per_level);
        suppressed.push(
            (0..domain)
                .map(|c| match metric {
                    Metric::Entropy => {
                        -(freq0.get(c).copied().unwrap_or(1).max(1) as f64 / n).log2()
                    }
                    _ => 1.0,
                })
                .collect(),
        );
    }
    CostTables {
        cost,
        suppressed,
        discernibility: metric == Metric::Discernibility,
        height: metric == Metric::Height,
    }
}

/// The cover of every label of one hierarchy level.
fn level_covers(h: &Hierarchy, level: usize, freq0: &[u64], nums: Option<&[f64]>) -> Vec<Cover> {
    let width = h.width(level);
    let mut covers = vec![
        Cover {
            leaves: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            freq: 0
        };
        width
    ];
    if let Some(l) = h.level(level) {
        for (c, &g) in l.map.iter().enumerate() {
            if let Some(cv) = covers.get_mut(g as usize) {
                cv.leaves += 1;
                cv.freq += freq0.get(c).copied().unwrap_or(0);
                if let Some(v) = nums.and_then(|x| x.get(c)) {
                    cv.lo = cv.lo.min(*v);
                    cv.hi = cv.hi.max(*v);
                }
            }
        }
    }
    for cv in &mut covers {
        if !cv.lo.is_finite() {
            cv.lo = 0.0;
            cv.hi = 0.0;
        }
    }
    covers
}

fn run_flash(p: &Prepared<'_>, privacy: &Privacy, metric: Metric) -> Result<Generalized> {
    let search = Search {
        qi_codes: p.qi_codes.clone(),
        hierarchies: p.hierarchies.clone(),
        sens_codes: p.sens_codes.clone(),
        stats: &p.stats,
        privacy,
        costs: cost_tables(p, metric),
    };
    let found = search.run()?;
    let kept_rows: Vec<u32> = found
        .kept
        .iter()
        .enumerate()
        .filter(|(_, k)| **k)
        .map(|(r, _)| u32::try_from(r).unwrap_or(u32::MAX))
        .collect();
    let mut labels = Vec::new();
    let mut covers = Vec::new();
    let mut codes = Vec::new();
    for (i, (h, &l)) in p.hierarchies.iter().zip(&found.levels).enumerate() {
        let Some(level) = h.level(l) else { continue };
        let freq0 = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
        covers.push(level_covers(
            h,
            l,
            freq0,
            p.numbers.get(i).copied().flatten(),
        ));
        labels.push(level.labels.clone());
        let orig = p.qi_codes.get(i).copied().unwrap_or(&[]);
        codes.push(
            kept_rows
                .iter()
                .map(|&r| {
                    orig.get(r as usize)
                        .and_then(|&c| level.map.get(c as usize))
                        .copied()
                        .unwrap_or(0)
                })
                .collect(),
        );
    }
    Ok(Generalized {
        algorithm: "flash",
        kept_rows,
        labels,
        covers,
        codes,
        levels: Some(found.levels),
        nodes: Some((found.nodes, found.evaluated)),
    })
}

fn run_mondrian(p: &Prepared<'_>, privacy: &Privacy) -> Result<Generalized> {
    // Order: numbers by value; other columns by hierarchy path, so a cut keeps siblings
    // together.
    let ranks: Vec<Vec<u32>> = (0..p.qi_codes.len())
        .map(|i| match p.numbers.get(i).copied().flatten() {
            Some(nums) => {
                let mut order: Vec<usize> = (0..nums.len()).collect();
                order.sort_by(|&a, &b| {
                    nums.get(a)
                        .partial_cmp(&nums.get(b))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                let mut r = vec![0u32; nums.len()];
                for (rank, &c) in order.iter().enumerate() {
                    if let Some(x) = r.get_mut(c) {
                        *x = u32::try_from(rank).unwrap_or(u32::MAX);
                    }
                }
                r
            }
            None => p
                .hierarchies
                .get(i)
                .map(|h| h.ranks_by_path())
                .unwrap_or_default(),
        })
        .collect();
    let m = Mondrian {
        qi_codes: p.qi_codes.clone(),
        ranks,
        numbers: p.numbers.clone(),
        sens_codes: p.sens_codes.clone(),
        stats: &p.stats,
        privacy,
    };
    let classes = m.run(p.n)?;
    let nq = p.qi_codes.len();
    let mut encoders: Vec<Encoder> = (0..nq).map(|_| Encoder::default()).collect();
    let mut covers: Vec<Vec<Cover>> = vec![Vec::new(); nq];
    let mut codes: Vec<Vec<u32>> = vec![vec![0u32; p.n]; nq];
    // Numeric columns: values sorted with cumulative frequencies, to count covered records.
    let sorted: Vec<Option<Vec<(f64, u64)>>> = (0..nq)
        .map(|i| {
            p.numbers.get(i).copied().flatten().map(|nums| {
                let f = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
                let mut v: Vec<(f64, u64)> = nums.iter().copied().zip(f.iter().copied()).collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut acc = 0;
                for x in &mut v {
                    acc += x.1;
                    x.1 = acc;
                }
                v
            })
        })
        .collect();
    let hier_covers: Vec<Vec<Vec<Cover>>> = (0..nq)
        .map(|i| match p.hierarchies.get(i) {
            Some(h) if p.numbers.get(i).copied().flatten().is_none() => {
                let f = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
                (0..h.levels())
                    .map(|l| level_covers(h, l, f, None))
                    .collect()
            }
            _ => Vec::new(),
        })
        .collect();
    let mut distinct: Vec<u32> = Vec::new();
    for class in &classes {
        for i in 0..nq {
            let orig = p.qi_codes.get(i).copied().unwrap_or(&[]);
            let dict = p.dicts.get(i).copied().unwrap_or(&[]);
            let freq0 = p.freq0.get(i).map(Vec::as_slice).unwrap_or(&[]);
            distinct.clear();
            distinct.extend(
                class
                    .iter()
                    .map(|&r| orig.get(r as usize).copied().unwrap_or(0)),
            );
            distinct.sort_unstable();
            distinct.dedup();
            let text = |c: u32| dict.get(c as usize).map_or("", String::as_str);
            let (label, cover) = if let (Some(nums), Some(Some(cum))) =
                (p.numbers.get(i).copied().flatten(), sorted.get(i))
            {
                let num = |c: u32| nums.get(c as usize).copied().unwrap_or(0.0);
                let lo_c = distinct
                    .iter()
                    .copied()
                    .min_by(|&a, &b| num(a).total_cmp(&num(b)))
                    .unwrap_or(0);
                let hi_c = distinct
                    .iter()
                    .copied()
                    .max_by(|&a, &b| num(a).total_cmp(&num(b)))
                    .unwrap_or(0);
                let (lo, hi) = (num(lo_c), num(hi_c));
                let below = cum.partition_point(|x| x.0 < lo);
                let upto = cum.partition_point(|x| x.0 <= hi);
                let f_upto = upto
                    .checked_sub(1)
                    .and_then(|j| cum.get(j))
                    .map_or(0, |x| x.1);
                let f_below = below
                    .checked_sub(1)
                    .and_then(|j| cum.get(j))
                    .map_or(0, |x| x.1);
                let label = if lo == hi {
                    text(lo_c).to_owned()
                } else {
                    format!("{}-{}", text(lo_c), text(hi_c))
                };
                let leaves = u32::try_from(upto.saturating_sub(below)).unwrap_or(u32::MAX);
                (
                    label,
                    Cover {
                        leaves,
                        lo,
                        hi,
                        freq: f_upto - f_below,
                    },
                )
            } else {
                // Categorical: the hierarchy label when it covers exactly the values present
                // (nothing lost by naming it), else the set of values present, as Mondrian's
                // set-valued recoding does. A set discloses no more than a label would: every
                // record of the class carries the same set.
                let freq: u64 = distinct
                    .iter()
                    .map(|&c| freq0.get(c as usize).copied().unwrap_or(0))
                    .sum();
                let leaves = u32::try_from(distinct.len()).unwrap_or(u32::MAX);
                let first = distinct.first().copied().unwrap_or(0);
                let exact = p.hierarchies.get(i).and_then(|h| {
                    let level = h.common_level(&distinct);
                    let g = h.level(level)?.map.get(first as usize).copied()?;
                    let cover = hier_covers.get(i)?.get(level)?.get(g as usize).copied()?;
                    (cover.leaves == leaves)
                        .then(|| (h.label(level, first).unwrap_or("*").to_owned(), cover))
                });
                match exact {
                    _ if distinct.len() == 1 => (
                        text(first).to_owned(),
                        Cover {
                            leaves,
                            lo: 0.0,
                            hi: 0.0,
                            freq,
                        },
                    ),
                    Some(found) => found,
                    None => {
                        let mut names: Vec<&str> = distinct.iter().map(|&c| text(c)).collect();
                        names.sort_unstable();
                        (
                            format!("{{{}}}", names.join("|")),
                            Cover {
                                leaves,
                                lo: 0.0,
                                hi: 0.0,
                                freq,
                            },
                        )
                    }
                }
            };
            let Some(enc) = encoders.get_mut(i) else {
                continue;
            };
            let before = enc.dict.len();
            let code = enc.code(&label);
            if enc.dict.len() > before
                && let Some(cv) = covers.get_mut(i)
            {
                cv.push(cover);
            }
            if let Some(out) = codes.get_mut(i) {
                for &r in class {
                    if let Some(x) = out.get_mut(r as usize) {
                        *x = code;
                    }
                }
            }
        }
    }
    Ok(Generalized {
        algorithm: "mondrian",
        kept_rows: (0..p.n)
            .map(|r| u32::try_from(r).unwrap_or(u32::MAX))
            .collect(),
        labels: encoders.into_iter().map(|e| e.dict).collect(),
        covers,
        codes,
        levels: None,
        nodes: None,
    })
}

fn build_table(
    table: &Table,
    plan: &Plan,
    g: &Generalized,
    key: Option<&PseudonymKey>,
) -> Result<Table> {
    let all_kept = g.kept_rows.len() == table.rows();
    let filter = |codes: &[u32]| -> Vec<u32> {
        if all_kept {
            codes.to_vec()
        } else {
            g.kept_rows
                .iter()
                .map(|&r| codes.get(r as usize).copied().unwrap_or(0))
                .collect()
        }
    };
    let mut out = Vec::new();
    for (i, c) in table.columns().iter().enumerate() {
        if let Some(q) = plan.quasi.iter().position(|q| q.column == i) {
            let (Some(labels), Some(codes)) = (g.labels.get(q), g.codes.get(q)) else {
                continue;
            };
            out.push(Column::new(c.name(), labels.clone(), codes.clone())?);
        } else if let Some((_, action)) = plan.identifiers.iter().find(|(col, _)| *col == i) {
            match (action, key) {
                (IdentifierAction::Drop, _) => {}
                (IdentifierAction::Hash, Some(key)) => {
                    let dict = c.dict().iter().map(|v| key.pseudonym(v)).collect();
                    out.push(Column::new(c.name(), dict, filter(c.codes()))?);
                }
                (IdentifierAction::Hash, None) => {
                    return Err(Error::config("hashing an identifier needs a key"));
                }
            }
        } else {
            out.push(Column::new(c.name(), c.dict().to_vec(), filter(c.codes()))?);
        }
    }
    Table::new(out)
}
