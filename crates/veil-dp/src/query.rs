//! DP queries over a table: count, sum, mean, variance, quantile and histogram, optionally
//! grouped, with contribution bounding per privacy unit, clamping to declared bounds and
//! private partition selection.
//!
//! How a query runs (every step is what the privacy proof in `docs/dp.md` assumes):
//!
//! 1. **Bounds first.** Every statistic over values needs declared `lower`/`upper`; a grouped
//!    query needs either public keys or `δ > 0` for partition selection. Missing ones are an
//!    [`ErrorKind::MissingBounds`] error; there is no noise-free fallback.
//! 2. **Contribution bounding.** With a privacy unit column, each unit keeps at most
//!    `max_groups` groups and at most `max_rows` rows in each (the first ones in file order;
//!    the selection depends only on the unit's own rows, so it is a stable transformation).
//!    Without one, each row is its own unit.
//! 3. **Clamping and fixed point.** Values are clamped to `[lower, upper]` and rounded to the
//!    grid `2^k` chosen from the bounds (`2^k ≤ max|bound| / 2^30`); sums are exact integer
//!    sums of grid units, so floating-point summation cannot change the sensitivity
//!    (Casacuberta et al. 2022).
//! 4. **Noise.** Discrete Laplace in grid units with scale `sensitivity / ε_part`, exact.
//! 5. **Partition selection** for keys not declared public: a group is released only when its
//!    noisy count reaches `τ = C + ⌈t ln(G/δ)⌉` (`t` the count noise scale, `C` rows per
//!    group, `G` groups per unit), so a group present because of one unit appears with
//!    probability at most `δ/G` and the `G` groups of one unit at most `δ` (Laplace
//!    thresholding, Wilson et al. 2020).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use rand::RngCore;
use serde::Serialize;

use crate::mechanism::permute_and_flip;
use crate::nat::Nat;
use crate::sample::{Ratio, discrete_laplace};
use crate::{Error, ErrorKind, PrivacyLoss};

/// The statistic to release.
#[derive(Clone, Debug, PartialEq)]
pub enum Statistic {
    /// Number of rows (after contribution bounding).
    Count,
    /// Sum of a column clamped to `[lower, upper]`.
    Sum(Bounded),
    /// Mean of a column clamped to `[lower, upper]`.
    Mean(Bounded),
    /// Variance (population) of a column clamped to `[lower, upper]`.
    Variance(Bounded),
    /// The `q`-quantile of a column, chosen among `bins + 1` evenly spaced candidates in
    /// `[lower, upper]` by permute-and-flip.
    Quantile {
        /// Column and bounds.
        column: Bounded,
        /// Which quantile, in `[0, 1]`.
        q: f64,
        /// Number of candidate intervals.
        bins: u32,
    },
    /// Counts of `bins` equal-width bins over `[lower, upper]` (values outside are clamped
    /// into the edge bins). Bins are public keys: no partition selection.
    Histogram {
        /// Column and bounds.
        column: Bounded,
        /// Number of bins.
        bins: u32,
    },
}

/// A column with its declared bounds. `None` bounds make the query fail.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounded {
    /// Column name.
    pub column: String,
    /// Declared lower bound.
    pub lower: Option<f64>,
    /// Declared upper bound.
    pub upper: Option<f64>,
}

/// A full query.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySpec {
    /// What to release.
    pub statistic: Statistic,
    /// Group by this column.
    pub group_by: Option<String>,
    /// Group keys declared public (released whether or not present, no δ needed).
    pub public_keys: Option<Vec<String>>,
    /// The column identifying the privacy unit (a person); `None`: each row is a unit.
    pub privacy_unit: Option<String>,
    /// Groups a unit may contribute to (with a privacy unit).
    pub max_groups: u32,
    /// Rows a unit may contribute to each group (with a privacy unit).
    pub max_rows: u32,
    /// ε of the whole query.
    pub epsilon: f64,
    /// δ, spent only by partition selection.
    pub delta: f64,
}

impl QuerySpec {
    /// A query with the defaults: no grouping, each row a unit, `δ = 0`.
    pub fn new(statistic: Statistic, epsilon: f64) -> Self {
        QuerySpec {
            statistic,
            group_by: None,
            public_keys: None,
            privacy_unit: None,
            max_groups: 1,
            max_rows: 1,
            epsilon,
            delta: 0.0,
        }
    }

    fn value_column(&self) -> Option<&Bounded> {
        match &self.statistic {
            Statistic::Count => None,
            Statistic::Sum(b) | Statistic::Mean(b) | Statistic::Variance(b) => Some(b),
            Statistic::Quantile { column, .. } | Statistic::Histogram { column, .. } => {
                Some(column)
            }
        }
    }

    /// The column names the query reads: value, group, privacy unit.
    pub fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        (
            self.value_column().map(|b| b.column.as_str()),
            self.group_by.as_deref(),
            self.privacy_unit.as_deref(),
        )
    }

    fn private_partitions(&self) -> bool {
        self.group_by.is_some() && self.public_keys.is_none()
    }

    /// Check bounds and parameters, and return the privacy loss the query will spend.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingBounds`] for a missing bound, or a grouped query with neither
    /// public keys nor `δ > 0`; [`ErrorKind::InvalidParameter`] for an out-of-range value.
    pub fn loss(&self) -> Result<PrivacyLoss, Error> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::param(format!(
                "epsilon must be a positive finite number, got `{}`",
                self.epsilon
            )));
        }
        if !(self.delta.is_finite() && (0.0..1.0).contains(&self.delta)) {
            return Err(Error::param(format!(
                "delta must be in [0, 1), got `{}`",
                self.delta
            )));
        }
        if self.max_groups == 0 || self.max_rows == 0 {
            return Err(Error::param(
                "max groups and max rows per unit must be at least 1",
            ));
        }
        if let Some(b) = self.value_column() {
            bounds(b)?;
        }
        match &self.statistic {
            Statistic::Quantile { q, bins, .. }
                if !(0.0..=1.0).contains(q) || *bins == 0 || *bins > 100_000 =>
            {
                return Err(Error::param(format!(
                    "quantile needs q in [0, 1] and 1..=100000 bins, got `{q}` and `{bins}`"
                )));
            }
            Statistic::Histogram { bins, .. } if *bins == 0 || *bins > 100_000 => {
                return Err(Error::param(format!(
                    "histogram needs 1..=100000 bins, got `{bins}`"
                )));
            }
            _ => {}
        }
        let grouped_only_count_like = matches!(
            self.statistic,
            Statistic::Quantile { .. } | Statistic::Histogram { .. }
        );
        if self.group_by.is_some() && grouped_only_count_like {
            return Err(Error::param(
                "quantile and histogram queries do not support group-by yet",
            ));
        }
        if self.private_partitions() {
            if self.delta <= 0.0 {
                return Err(Error::new(
                    ErrorKind::MissingBounds,
                    "a group-by over keys not declared public needs delta > 0 for private \
                     partition selection (or declare the keys public)",
                ));
            }
            Ok(PrivacyLoss::Approx {
                epsilon: self.epsilon,
                delta: self.delta,
            })
        } else {
            Ok(PrivacyLoss::Pure {
                epsilon: self.epsilon,
            })
        }
    }
}

fn bounds(b: &Bounded) -> Result<(f64, f64), Error> {
    let (Some(lo), Some(hi)) = (b.lower, b.upper) else {
        return Err(Error::new(
            ErrorKind::MissingBounds,
            format!(
                "column `{}` has no declared bounds: pass --lower and --upper (Veil never \
                 answers an unbounded query)",
                b.column
            ),
        ));
    };
    if !(lo.is_finite() && hi.is_finite() && lo <= hi && lo.abs() < 1e300 && hi.abs() < 1e300) {
        return Err(Error::param(format!(
            "column `{}` needs finite bounds with lower <= upper, got `{lo}` and `{hi}`",
            b.column
        )));
    }
    Ok((lo, hi))
}

/// The columns a query reads, typed and interned. Built from CSV or from vectors.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    len: usize,
    values: Option<Vec<f64>>,
    groups: Option<Vec<u32>>,
    group_names: Vec<String>,
    units: Option<Vec<u32>>,
}

fn intern(
    map: &mut HashMap<String, u32>,
    names: &mut Vec<String>,
    key: &str,
) -> Result<u32, Error> {
    if let Some(&id) = map.get(key) {
        return Ok(id);
    }
    let id = u32::try_from(names.len())
        .map_err(|_| Error::new(ErrorKind::Data, "more than 2^32 distinct keys"))?;
    map.insert(key.to_owned(), id);
    names.push(key.to_owned());
    Ok(id)
}

impl Dataset {
    /// Build from in-memory columns (tests, benchmarks, other crates).
    ///
    /// # Errors
    ///
    /// Fails when the columns differ in length.
    pub fn from_columns(
        values: Option<Vec<f64>>,
        groups: Option<Vec<String>>,
        units: Option<Vec<String>>,
    ) -> Result<Self, Error> {
        let lens = [
            values.as_ref().map(Vec::len),
            groups.as_ref().map(Vec::len),
            units.as_ref().map(Vec::len),
        ];
        let len = lens.iter().flatten().copied().max().unwrap_or(0);
        if lens.iter().flatten().any(|&l| l != len) {
            return Err(Error::new(ErrorKind::Data, "columns differ in length"));
        }
        let mut d = Dataset {
            len,
            values,
            ..Dataset::default()
        };
        if let Some(g) = groups {
            let mut map = HashMap::new();
            let ids = g
                .iter()
                .map(|k| intern(&mut map, &mut d.group_names, k))
                .collect::<Result<_, _>>()?;
            d.groups = Some(ids);
        }
        if let Some(u) = units {
            let (mut map, mut names) = (HashMap::new(), Vec::new());
            let ids = u
                .iter()
                .map(|k| intern(&mut map, &mut names, k))
                .collect::<Result<_, _>>()?;
            d.units = Some(ids);
        }
        Ok(d)
    }

    /// Build from already interned columns: group ids index `group_names`; unit ids are
    /// opaque. Cheaper than [`Dataset::from_columns`] for large generated data.
    ///
    /// # Errors
    ///
    /// Fails when the columns differ in length or a group id has no name.
    pub fn from_interned(
        values: Option<Vec<f64>>,
        groups: Option<(Vec<u32>, Vec<String>)>,
        units: Option<Vec<u32>>,
    ) -> Result<Self, Error> {
        let lens = [
            values.as_ref().map(Vec::len),
            groups.as_ref().map(|g| g.0.len()),
            units.as_ref().map(Vec::len),
        ];
        let len = lens.iter().flatten().copied().max().unwrap_or(0);
        if lens.iter().flatten().any(|&l| l != len) {
            return Err(Error::new(ErrorKind::Data, "columns differ in length"));
        }
        let (groups, group_names) = match groups {
            Some((ids, names)) => {
                if ids.iter().any(|&i| i as usize >= names.len()) {
                    return Err(Error::new(ErrorKind::Data, "a group id has no name"));
                }
                (Some(ids), names)
            }
            None => (None, Vec::new()),
        };
        Ok(Dataset {
            len,
            values,
            groups,
            group_names,
            units,
        })
    }

    /// Read the columns `spec` needs from a CSV file with a header row.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Data`] naming the file, record and column when the file cannot be read, a
    /// column is missing or a value is not a number (the value itself is never printed).
    pub fn from_csv_path(path: &Path, spec: &QuerySpec) -> Result<Self, Error> {
        let file = std::fs::File::open(path).map_err(|e| {
            Error::new(
                ErrorKind::Data,
                format!("cannot open `{}`: {e}", path.display()),
            )
        })?;
        Self::from_csv_reader(file, &path.display().to_string(), spec)
    }

    /// As [`Dataset::from_csv_path`], from any reader; `name` labels errors.
    ///
    /// # Errors
    ///
    /// As [`Dataset::from_csv_path`].
    pub fn from_csv_reader<R: Read>(
        reader: R,
        name: &str,
        spec: &QuerySpec,
    ) -> Result<Self, Error> {
        let data_err = |msg: String| Error::new(ErrorKind::Data, format!("`{name}`: {msg}"));
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let headers = rdr
            .headers()
            .map_err(|e| data_err(format!("cannot read the header: {e}")))?
            .clone();
        let find = |col: Option<&str>| -> Result<Option<usize>, Error> {
            col.map(|c| {
                headers
                    .iter()
                    .position(|h| h == c)
                    .ok_or_else(|| data_err(format!("no column `{c}` in the header")))
            })
            .transpose()
        };
        let (vcol, gcol, ucol) = spec.columns();
        let (vi, gi, ui) = (find(vcol)?, find(gcol)?, find(ucol)?);
        let mut d = Dataset::default();
        let mut values = vi.map(|_| Vec::new());
        let mut groups = gi.map(|_| Vec::new());
        let mut units = ui.map(|_| Vec::new());
        let (mut gmap, mut umap, mut unames) = (HashMap::new(), HashMap::new(), Vec::new());
        let mut record = csv::StringRecord::new();
        let mut line = 1u64;
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(data_err(format!("record {}: {}", line, csv_kind(&e))));
                }
            }
            line += 1;
            let field = |i: usize, col: &str| {
                record
                    .get(i)
                    .ok_or_else(|| data_err(format!("record {line}: column `{col}` is missing")))
            };
            if let (Some(i), Some(v), Some(c)) = (vi, values.as_mut(), vcol) {
                let raw = field(i, c)?.trim();
                let x: f64 = raw
                    .parse()
                    .map_err(|_| data_err(format!("record {line}, column `{c}`: not a number")))?;
                if !x.is_finite() {
                    return Err(data_err(format!(
                        "record {line}, column `{c}`: not a finite number"
                    )));
                }
                v.push(x);
            }
            if let (Some(i), Some(g), Some(c)) = (gi, groups.as_mut(), gcol) {
                g.push(intern(&mut gmap, &mut d.group_names, field(i, c)?)?);
            }
            if let (Some(i), Some(u), Some(c)) = (ui, units.as_mut(), ucol) {
                u.push(intern(&mut umap, &mut unames, field(i, c)?)?);
            }
            d.len += 1;
        }
        d.values = values;
        d.groups = groups;
        d.units = units;
        Ok(d)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn csv_kind(e: &csv::Error) -> String {
    // csv errors may quote field contents (UTF-8 errors): report the kind only.
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields".to_owned(),
        _ => "malformed CSV".to_owned(),
    }
}

/// One released answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The group key, for grouped queries and histograms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The noisy value.
    pub value: f64,
    /// Noise scale in the value's units (Laplace `b`; for a mean, the sum's scale over the
    /// noisy count; for a quantile, the rank-space scale `2Δ/ε`).
    pub scale: f64,
    /// A 95% confidence interval for the exact (bounded, clamped) statistic given the
    /// released value; derived from public parameters only. `None` for quantiles.
    pub ci95: Option<[f64; 2]>,
}

/// The result of a query: the answers and the loss that was spent.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// One answer, or one per released group / bin.
    pub answers: Vec<Answer>,
    /// The privacy loss of the whole release.
    pub loss: PrivacyLoss,
}

/// Per-group exact aggregates in grid units.
#[derive(Clone, Copy, Debug, Default)]
struct Agg {
    count: i128,
    /// Σ (2v - (L+U)) in grid units: values centred on the midpoint, doubled to stay integral.
    centred: i128,
    /// Σ (2v - (L+U))².
    centred_sq: i128,
    /// Σ v in grid units.
    sum: i128,
}

/// Fixed-point encoding of a bounded column.
#[derive(Clone, Copy, Debug)]
struct Grid {
    k: i32,
    lo: i64,
    hi: i64,
    lo_f: f64,
    hi_f: f64,
}

impl Grid {
    fn new(lo: f64, hi: f64) -> Self {
        let m = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
        let k = m.log2().floor() as i32 - 30;
        let unit = |x: f64| (x * 2f64.powi(-k)).round() as i64;
        Grid {
            k,
            lo: unit(lo),
            hi: unit(hi),
            lo_f: lo,
            hi_f: hi,
        }
    }

    fn encode(&self, x: f64) -> i64 {
        ((x.clamp(self.lo_f, self.hi_f)) * 2f64.powi(-self.k)).round() as i64
    }

    fn pow(&self) -> f64 {
        2f64.powi(self.k)
    }
}

/// Noise of discrete Laplace scale `sensitivity * parts / ε` in integer units; returns the
/// noise and the scale as `f64` (for reporting).
fn laplace_noise<R: RngCore + ?Sized>(
    sensitivity: u128,
    parts: u64,
    eps: &Ratio,
    rng: &mut R,
) -> Result<(i128, f64), Error> {
    // t = Δ * parts / (num/den) = Δ * parts * den / num.
    let num = Nat::from(sensitivity)
        .mul(&Nat::from(parts))
        .mul(eps.denom());
    let scale = Ratio::new(num, eps.numer().clone())?;
    let z = discrete_laplace(&scale, rng)?
        .to_i128()
        .ok_or_else(|| Error::param("noise out of range: epsilon is too small"))?;
    Ok((z, scale.to_f64()))
}

/// Half-width (in units) of a central interval holding discrete Laplace noise of scale `t`
/// with probability `1 - alpha`: the smallest `m` with `P(|Z| > m) <= alpha`.
fn dlap_halfwidth(t: f64, alpha: f64) -> f64 {
    // P(|Z| > m) = 2 e^{-(m+1)/t} / (1 + e^{-1/t}).
    let q = (-1.0 / t).exp();
    (t * (2.0 / (alpha * (1.0 + q))).ln() - 1.0).ceil().max(0.0)
}

/// Run `spec` on `data`. Call [`QuerySpec::loss`] first to charge the ledger; this function
/// validates again and refuses anything unbounded.
///
/// # Errors
///
/// As [`QuerySpec::loss`], plus [`ErrorKind::Data`] when a needed column is absent.
pub fn run<R: RngCore + ?Sized>(
    spec: &QuerySpec,
    data: &Dataset,
    rng: &mut R,
) -> Result<Release, Error> {
    let loss = spec.loss()?;
    let eps = Ratio::from_f64(spec.epsilon)?;
    let (c, g) = if spec.privacy_unit.is_some() {
        if data.units.is_none() {
            return Err(Error::new(
                ErrorKind::Data,
                "the privacy unit column was not loaded",
            ));
        }
        (spec.max_rows, spec.max_groups)
    } else {
        (1, 1)
    };
    if spec.group_by.is_some() && data.groups.is_none() {
        return Err(Error::new(
            ErrorKind::Data,
            "the group-by column was not loaded",
        ));
    }
    let g_eff = if spec.group_by.is_some() { g } else { 1 };
    let column = spec.value_column();
    let grid = match column {
        Some(b) => {
            let (lo, hi) = bounds(b)?;
            if data.values.is_none() {
                return Err(Error::new(
                    ErrorKind::Data,
                    "the value column was not loaded",
                ));
            }
            Some(Grid::new(lo, hi))
        }
        None => None,
    };
    let kept = bound_contributions(data, spec, c, g_eff);

    match &spec.statistic {
        Statistic::Quantile { q, bins, .. } => {
            let grid = grid.ok_or_else(|| Error::param("quantile needs a column"))?;
            return quantile(data, &kept, &grid, *q, *bins, c, &eps, rng).map(|a| Release {
                answers: vec![a],
                loss,
            });
        }
        Statistic::Histogram { bins, .. } => {
            let grid = grid.ok_or_else(|| Error::param("histogram needs a column"))?;
            return histogram(data, &kept, &grid, *bins, c, &eps, rng)
                .map(|answers| Release { answers, loss });
        }
        _ => {}
    }

    // Aggregate per group id (0 when ungrouped).
    let mut aggs: HashMap<u32, Agg> = HashMap::new();
    let values = data.values.as_deref();
    for &row in &kept {
        let gid = data
            .groups
            .as_ref()
            .filter(|_| spec.group_by.is_some())
            .and_then(|gs| gs.get(row).copied())
            .unwrap_or(0);
        let a = aggs.entry(gid).or_default();
        a.count += 1;
        if let (Some(vs), Some(gr)) = (values, grid) {
            let v = i128::from(gr.encode(vs.get(row).copied().unwrap_or(0.0)));
            let d = 2 * v - i128::from(gr.lo) - i128::from(gr.hi);
            a.centred += d;
            a.centred_sq += d * d;
            a.sum += v;
        }
    }

    // Which groups: public keys, all (ungrouped) or candidates for partition selection.
    let mut candidates: Vec<(Option<String>, Agg)> = Vec::new();
    if spec.group_by.is_none() {
        candidates.push((None, aggs.get(&0).copied().unwrap_or_default()));
    } else if let Some(keys) = &spec.public_keys {
        let by_name: HashMap<&str, u32> = data
            .group_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| u32::try_from(i).ok().map(|i| (n.as_str(), i)))
            .collect();
        for k in keys {
            let agg = by_name
                .get(k.as_str())
                .and_then(|id| aggs.get(id))
                .copied()
                .unwrap_or_default();
            candidates.push((Some(k.clone()), agg));
        }
    } else {
        let mut ids: Vec<u32> = aggs.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let name = data.group_names.get(id as usize).cloned();
            candidates.push((name, aggs.get(&id).copied().unwrap_or_default()));
        }
    }

    let parts: u64 = match spec.statistic {
        Statistic::Count => 1,
        Statistic::Sum(_) if spec.private_partitions() => 2,
        Statistic::Sum(_) => 1,
        Statistic::Mean(_) => 2,
        _ => 3,
    };
    let gc = u128::from(g_eff) * u128::from(c);
    let needs_count = !matches!(spec.statistic, Statistic::Sum(_)) || spec.private_partitions();
    let mut answers = Vec::new();
    for (key, agg) in candidates {
        let (n_noisy, n_scale) = if needs_count {
            let (z, t) = laplace_noise(gc, parts, &eps, rng)?;
            (Some(agg.count + z), t)
        } else {
            (None, 0.0)
        };
        if spec.private_partitions() {
            // τ = C + ⌈t ln(G/δ)⌉: P(count + Z ≥ τ) ≤ e^{-(τ-C)/t} ≤ δ/G for count ≤ C.
            let tau = f64::from(c) + (n_scale * (f64::from(g_eff) / spec.delta).ln()).ceil();
            if n_noisy.is_none_or(|n| (n as f64) < tau) {
                continue;
            }
        }
        let answer = match (&spec.statistic, grid) {
            (Statistic::Count, _) => {
                let n = n_noisy.unwrap_or(0) as f64;
                let hw = dlap_halfwidth(n_scale, 0.05);
                Answer {
                    key,
                    value: n,
                    scale: n_scale,
                    ci95: Some([n - hw, n + hw]),
                }
            }
            (Statistic::Sum(_), Some(gr)) => {
                let m = u128::from(gr.lo.unsigned_abs().max(gr.hi.unsigned_abs()));
                let (z, t) = laplace_noise(gc * m, parts, &eps, rng)?;
                let s = (agg.sum + z) as f64 * gr.pow();
                let hw = dlap_halfwidth(t, 0.05) * gr.pow();
                Answer {
                    key,
                    value: s,
                    scale: t * gr.pow(),
                    ci95: Some([s - hw, s + hw]),
                }
            }
            (Statistic::Mean(_), Some(gr)) => {
                let width = u128::from(gr.hi.abs_diff(gr.lo));
                let (z, t) = laplace_noise(gc * width, parts, &eps, rng)?;
                // Centred sum in half-units: real = units * 2^(k-1).
                let half = gr.pow() / 2.0;
                let mid = (gr.lo as f64 + gr.hi as f64) / 2.0 * gr.pow();
                let s = (agg.centred + z) as f64 * half;
                let n = n_noisy.unwrap_or(0) as f64;
                let mean = (mid + s / n.max(1.0)).clamp(gr.lo_f, gr.hi_f);
                // 95% overall: each of sum and count inside its 97.5% interval.
                let shw = dlap_halfwidth(t, 0.025) * half;
                let nhw = dlap_halfwidth(n_scale, 0.025);
                let (n_lo, n_hi) = ((n - nhw).max(1.0), (n + nhw).max(1.0));
                let corners = [
                    (s - shw) / n_lo,
                    (s - shw) / n_hi,
                    (s + shw) / n_lo,
                    (s + shw) / n_hi,
                ];
                let lo = corners.iter().copied().fold(f64::INFINITY, f64::min) + mid;
                let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid;
                Answer {
                    key,
                    value: mean,
                    scale: t * half / n.max(1.0),
                    ci95: Some([lo.clamp(gr.lo_f, gr.hi_f), hi.clamp(gr.lo_f, gr.hi_f)]),
                }
            }
            (Statistic::Variance(_), Some(gr)) => {
                let width = u128::from(gr.hi.abs_diff(gr.lo));
                let (zs, ts) = laplace_noise(gc * width, parts, &eps, rng)?;
                let (zq, tq) = laplace_noise(gc * width * width, parts, &eps, rng)?;
                let half = gr.pow() / 2.0;
                let n = (n_noisy.unwrap_or(0) as f64).max(1.0);
                let s = (agg.centred + zs) as f64 * half;
                let q = (agg.centred_sq + zq) as f64 * half * half;
                let cap = ((gr.hi_f - gr.lo_f) / 2.0).powi(2);
                let var = (q / n - (s / n).powi(2)).clamp(0.0, cap);
                let a = 0.05 / 3.0;
                let (shw, qhw, nhw) = (
                    dlap_halfwidth(ts, a) * half,
                    dlap_halfwidth(tq, a) * half * half,
                    dlap_halfwidth(n_scale, a),
                );
                let ns = [(n - nhw).max(1.0), n + nhw];
                let qn: Vec<f64> = ns
                    .iter()
                    .flat_map(|n| [(q - qhw) / n, (q + qhw) / n])
                    .collect();
                let sn: Vec<f64> = ns
                    .iter()
                    .flat_map(|n| [(s - shw) / n, (s + shw) / n])
                    .collect();
                let sn_sq_max = sn.iter().map(|x| x * x).fold(0.0, f64::max);
                let straddles = sn.iter().any(|x| *x <= 0.0) && sn.iter().any(|x| *x >= 0.0);
                let sn_sq_min = if straddles {
                    0.0
                } else {
                    sn.iter().map(|x| x * x).fold(f64::INFINITY, f64::min)
                };
                let lo = qn.iter().copied().fold(f64::INFINITY, f64::min) - sn_sq_max;
                let hi = qn.iter().copied().fold(f64::NEG_INFINITY, f64::max) - sn_sq_min;
                Answer {
                    key,
                    value: var,
                    scale: tq * half * half / n,
                    ci95: Some([lo.clamp(0.0, cap), hi.clamp(0.0, cap)]),
                }
            }
            _ => return Err(Error::param("statistic needs a bounded column")),
        };
        answers.push(answer);
    }
    Ok(Release { answers, loss })
}

/// Contribution bounding: the row indices kept, at most `g` groups per unit and `c` rows per
/// unit and group, first come first kept. Without a privacy unit every row is kept.
fn bound_contributions(data: &Dataset, spec: &QuerySpec, c: u32, g: u32) -> Vec<usize> {
    let Some(units) = data.units.as_ref().filter(|_| spec.privacy_unit.is_some()) else {
        return (0..data.len).collect();
    };
    let groups = data.groups.as_ref().filter(|_| spec.group_by.is_some());
    // INVARIANT: each unit's entry lists at most `g` (group, rows kept) pairs, rows <= c.
    let mut seen: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    let mut kept = Vec::with_capacity(data.len);
    for (row, &unit) in units.iter().enumerate() {
        let gid = groups.and_then(|gs| gs.get(row).copied()).unwrap_or(0);
        let entry = seen.entry(unit).or_default();
        if let Some(slot) = entry.iter_mut().find(|(gg, _)| *gg == gid) {
            if slot.1 < c {
                slot.1 += 1;
                kept.push(row);
            }
        } else if entry.len() < g as usize {
            entry.push((gid, 1));
            kept.push(row);
        }
    }
    kept
}

#[allow(clippy::too_many_arguments)]
fn quantile<R: RngCore + ?Sized>(
    data: &Dataset,
    kept: &[usize],
    grid: &Grid,
    q: f64,
    bins: u32,
    c: u32,
    eps: &Ratio,
    rng: &mut R,
) -> Result<Answer, Error> {
    let values = data.values.as_deref().unwrap_or(&[]);
    let mut xs: Vec<i64> = kept
        .iter()
        .filter_map(|&r| values.get(r).map(|&v| grid.encode(v)))
        .collect();
    xs.sort_unstable();
    // q = p / 2^s exactly; score_c = |(2^s - p) lt(c) - p gt(c)|, sensitivity c·max(p, 2^s-p).
    let qr = Ratio::from_f64(q)?;
    let (p, d) = match (qr.numer().to_u128(), qr.denom().to_u128()) {
        (Some(p), Some(d)) if d <= 1 << 40 => (p, d),
        _ => {
            // Round q to 40 bits (public parameter; exactness of the score is what matters).
            let d = 1u128 << 40;
            ((q * (d as f64)).round() as u128, d)
        }
    };
    let (p, d) = (
        i128::try_from(p).unwrap_or(0),
        i128::try_from(d).unwrap_or(1),
    );
    let span = grid.hi - grid.lo;
    let candidates: Vec<i64> = (0..=bins)
        .map(|i| grid.lo + ((i128::from(span) * i128::from(i)) / i128::from(bins)) as i64)
        .collect();
    let n = xs.len() as i128;
    let qualities: Vec<i128> = candidates
        .iter()
        .map(|&cand| {
            let lt = xs.partition_point(|&x| x < cand) as i128;
            let le = xs.partition_point(|&x| x <= cand) as i128;
            let gt = n - le;
            -((d - p) * lt - p * gt).abs()
        })
        .collect();
    let sens = u64::try_from(i128::from(c) * p.max(d - p)).unwrap_or(u64::MAX);
    let pick = permute_and_flip(&qualities, sens, eps, rng)?;
    let value = candidates.get(pick).copied().unwrap_or(grid.lo) as f64 * grid.pow();
    // Rank-space scale of the selection: 2Δ/ε in ranks (Δ/d ranks per unit of score).
    let rank_scale = 2.0 * f64::from(c) * (p.max(d - p) as f64 / d as f64) / eps.to_f64();
    Ok(Answer {
        key: None,
        value,
        scale: rank_scale,
        ci95: None,
    })
}

fn histogram<R: RngCore + ?Sized>(
    data: &Dataset,
    kept: &[usize],
    grid: &Grid,
    bins: u32,
    c: u32,
    eps: &Ratio,
    rng: &mut R,
) -> Result<Vec<Answer>, Error> {
    let values = data.values.as_deref().unwrap_or(&[]);
    let span = (grid.hi - grid.lo) as f64;
    let mut counts = vec![0i128; bins as usize];
    for &r in kept {
        let Some(&v) = values.get(r) else { continue };
        let u = grid.encode(v);
        let b = if span > 0.0 {
            (((u - grid.lo) as f64 / span) * f64::from(bins)).floor() as usize
        } else {
            0
        };
        if let Some(slot) = counts.get_mut(b.min(bins as usize - 1)) {
            *slot += 1;
        }
    }
    let width = (grid.hi_f - grid.lo_f) / f64::from(bins);
    let mut out = Vec::with_capacity(counts.len());
    for (i, n) in counts.iter().enumerate() {
        let (z, t) = laplace_noise(u128::from(c), 1, eps, rng)?;
        let v = (n + z) as f64;
        let hw = dlap_halfwidth(t, 0.05);
        let lo = grid.lo_f + width * i as f64;
        out.push(Answer {
            key: Some(format!("[{lo}, {})", lo + width)),
            value: v,
            scale: t,
            ci95: Some([v - hw, v + hw]),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
