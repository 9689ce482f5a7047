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

use crate::nat::Nat;
use crate::{Error, ErrorKind, PrivacyLoss};

mod noise;

pub use noise::Privacy;
use noise::{Noise, Scale};

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
    /// The mechanism and its budget (ε for Laplace, ρ for Gaussian) for the whole query.
    pub privacy: Privacy,
    /// δ, spent only by partition selection.
    pub delta: f64,
}

impl QuerySpec {
    /// A query with the defaults: Laplace noise for `ε`, no grouping, each row a unit, `δ = 0`.
    pub fn new(statistic: Statistic, epsilon: f64) -> Self {
        Self::with_privacy(statistic, Privacy::Laplace { epsilon })
    }

    /// A query with the given mechanism and budget and the other defaults.
    pub fn with_privacy(statistic: Statistic, privacy: Privacy) -> Self {
        QuerySpec {
            statistic,
            group_by: None,
            public_keys: None,
            privacy_unit: None,
            max_groups: 1,
            max_rows: 1,
            privacy,
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
        self.privacy.validate()?;
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
        if self.private_partitions() {
            if matches!(self.privacy, Privacy::Gaussian { .. }) {
                return Err(Error::new(
                    ErrorKind::MissingBounds,
                    "a group-by with the Gaussian mechanism needs public keys (--keys): private \
                     partition selection adds a delta that a zCDP budget cannot hold; use the \
                     Laplace mechanism with --delta instead",
                ));
            }
            if self.delta <= 0.0 {
                return Err(Error::new(
                    ErrorKind::MissingBounds,
                    "a group-by over keys not declared public needs delta > 0 for private \
                     partition selection (or declare the keys public)",
                ));
            }
            Ok(self.privacy.loss(self.delta))
        } else {
            Ok(self.privacy.loss(0.0))
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

    /// `len` rows and no columns: all a plain count reads (each row its own unit).
    pub fn rows(len: usize) -> Self {
        Dataset {
            len,
            ..Dataset::default()
        }
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
    /// The histogram bin `[lo, hi)`, for grouped histograms (ungrouped ones put it in `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    /// The noisy value.
    pub value: f64,
    /// Noise scale in the value's units (Laplace `b` or Gaussian `σ`; for a mean, the sum's
    /// scale over the noisy count; for a quantile, the scale of each bin count of its noisy
    /// histogram, in rows).
    pub scale: f64,
    /// A 95% confidence interval for the exact (bounded, clamped) statistic given the
    /// released values; derived from public parameters and released values only.
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

    /// `bins + 1` evenly spaced edges from `lo` to `hi`, exact in grid units.
    fn edges(&self, bins: u32) -> Vec<i64> {
        let span = i128::from(self.hi) - i128::from(self.lo);
        (0..=bins)
            .map(|i| {
                let off = span * i128::from(i) / i128::from(bins.max(1));
                i64::try_from(i128::from(self.lo) + off).unwrap_or(self.hi)
            })
            .collect()
    }
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
    let grid = match spec.value_column() {
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

    // Bin edges for quantiles and histograms: `bins + 1` exact grid points in [lo, hi].
    let edges: Option<Vec<i64>> = match (&spec.statistic, grid) {
        (Statistic::Quantile { bins, .. } | Statistic::Histogram { bins, .. }, Some(gr)) => {
            Some(gr.edges(*bins))
        }
        _ => None,
    };

    // Aggregate per group id (0 when ungrouped).
    let mut aggs: HashMap<u32, Agg> = HashMap::new();
    let mut bins_of: HashMap<u32, Vec<i128>> = HashMap::new();
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
            let u = gr.encode(vs.get(row).copied().unwrap_or(0.0));
            if let Some(edges) = &edges {
                let nb = edges.len().saturating_sub(1).max(1);
                let b = edges
                    .partition_point(|&e| e <= u)
                    .saturating_sub(1)
                    .min(nb - 1);
                let counts = bins_of.entry(gid).or_insert_with(|| vec![0; nb]);
                if let Some(slot) = counts.get_mut(b) {
                    *slot += 1;
                }
                continue;
            }
            let v = i128::from(u);
            let d = 2 * v - i128::from(gr.lo) - i128::from(gr.hi);
            a.centred += d;
            a.centred_sq += d * d;
            a.sum += v;
        }
    }

    // Which groups: public keys, all (ungrouped) or candidates for partition selection.
    let mut candidates: Vec<(Option<String>, Option<u32>)> = Vec::new();
    if spec.group_by.is_none() {
        candidates.push((None, Some(0)));
    } else if let Some(keys) = &spec.public_keys {
        let by_name: HashMap<&str, u32> = data
            .group_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| u32::try_from(i).ok().map(|i| (n.as_str(), i)))
            .collect();
        for k in keys {
            candidates.push((Some(k.clone()), by_name.get(k.as_str()).copied()));
        }
    } else {
        let mut ids: Vec<u32> = aggs.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            candidates.push((data.group_names.get(id as usize).cloned(), Some(id)));
        }
    }

    let private = spec.private_partitions();
    let parts: u64 = match spec.statistic {
        Statistic::Count => 1,
        Statistic::Mean(_) => 2,
        Statistic::Variance(_) => 3,
        Statistic::Sum(_) | Statistic::Quantile { .. } | Statistic::Histogram { .. } => {
            1 + u64::from(private)
        }
    };
    let noise = Noise::new(spec.privacy, parts)?;
    let c_nat = Nat::from(u64::from(c));
    let needs_count = matches!(
        spec.statistic,
        Statistic::Count | Statistic::Mean(_) | Statistic::Variance(_)
    ) || private;
    let grouped = spec.group_by.is_some();
    // Joint 95% half-widths of the quantile's noisy prefix sums (the same for every group).
    let prefix_bounds: Vec<f64> = match (&spec.statistic, &edges) {
        (Statistic::Quantile { .. }, Some(e)) => {
            let m = e.len().saturating_sub(1).max(1);
            let s = noise.scale(g_eff, &c_nat)?;
            let alpha = 0.05 / m as f64;
            // Exact for short prefixes; beyond 256 the bound at the next power of two (the
            // bound grows with j, so this only widens), to keep 100 000 bins cheap.
            let mut pow2: HashMap<u64, f64> = HashMap::new();
            (0..=m as u64)
                .map(|j| {
                    if j <= 256 {
                        s.sum_halfwidth(j, alpha)
                    } else {
                        let p = j.next_power_of_two().min(m as u64);
                        *pow2.entry(p).or_insert_with(|| s.sum_halfwidth(p, alpha))
                    }
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let mut answers = Vec::new();
    for (key, gid) in candidates {
        let agg = gid
            .and_then(|id| aggs.get(&id))
            .copied()
            .unwrap_or_default();
        let (n_noisy, n_scale) = if needs_count {
            let (z, t) = noise.draw(g_eff, &c_nat, rng)?;
            (Some(agg.count + z), Some(t))
        } else {
            (None, None)
        };
        if private {
            // τ = C + ⌈t ln(G/δ)⌉: P(count + Z ≥ τ) ≤ e^{-(τ-C)/t} ≤ δ/G for count ≤ C.
            let t = n_scale.map_or(0.0, |s| s.value);
            let tau = f64::from(c) + (t * (f64::from(g_eff) / spec.delta).ln()).ceil();
            if n_noisy.is_none_or(|n| (n as f64) < tau) {
                continue;
            }
        }
        let empty;
        let bins = match gid.and_then(|id| bins_of.get(&id)) {
            Some(b) => b,
            None => {
                empty = vec![0i128; edges.as_ref().map_or(0, |e| e.len().saturating_sub(1))];
                &empty
            }
        };
        match (&spec.statistic, grid) {
            (Statistic::Count, _) => {
                let n = n_noisy.unwrap_or(0) as f64;
                let s = n_scale.ok_or_else(|| Error::param("count without noise"))?;
                let hw = s.halfwidth(0.05);
                answers.push(Answer {
                    key,
                    bin: None,
                    value: n,
                    scale: s.value,
                    ci95: Some([n - hw, n + hw]),
                });
            }
            (Statistic::Sum(_), Some(gr)) => {
                let m = Nat::from(u128::from(gr.lo.unsigned_abs().max(gr.hi.unsigned_abs())));
                let (z, t) = noise.draw(g_eff, &c_nat.mul(&m), rng)?;
                let s = (agg.sum + z) as f64 * gr.pow();
                let hw = t.halfwidth(0.05) * gr.pow();
                answers.push(Answer {
                    key,
                    bin: None,
                    value: s,
                    scale: t.value * gr.pow(),
                    ci95: Some([s - hw, s + hw]),
                });
            }
            (Statistic::Mean(_), Some(gr)) => {
                let width = Nat::from(u128::from(gr.hi.abs_diff(gr.lo)));
                let (z, t) = noise.draw(g_eff, &c_nat.mul(&width), rng)?;
                let ns = n_scale.ok_or_else(|| Error::param("mean without a count"))?;
                answers.push(mean_answer(key, &agg, z, t, n_noisy.unwrap_or(0), ns, &gr));
            }
            (Statistic::Variance(_), Some(gr)) => {
                let width = Nat::from(u128::from(gr.hi.abs_diff(gr.lo)));
                let (zs, ts) = noise.draw(g_eff, &c_nat.mul(&width), rng)?;
                let (zq, tq) = noise.draw(g_eff, &c_nat.mul(&width).mul(&width), rng)?;
                let ns = n_scale.ok_or_else(|| Error::param("variance without a count"))?;
                let n = n_noisy.unwrap_or(0);
                answers.push(variance_answer(key, &agg, (zs, ts), (zq, tq), n, ns, &gr));
            }
            (Statistic::Quantile { q, .. }, Some(gr)) => {
                let noisy = noisy_bins(bins, &noise, g_eff, &c_nat, rng)?;
                let edges = edges.as_deref().unwrap_or(&[]);
                answers.push(quantile_answer(key, &noisy, edges, &prefix_bounds, *q, &gr));
            }
            (Statistic::Histogram { bins: nb, .. }, Some(gr)) => {
                let noisy = noisy_bins(bins, &noise, g_eff, &c_nat, rng)?;
                let width = (gr.hi_f - gr.lo_f) / f64::from(*nb);
                for (i, (v, t)) in noisy.iter().enumerate() {
                    let lo = gr.lo_f + width * i as f64;
                    let label = format!("[{lo}, {})", lo + width);
                    let hw = t.halfwidth(0.05);
                    let v = *v as f64;
                    let (key, bin) = if grouped {
                        (key.clone(), Some(label))
                    } else {
                        (Some(label), None)
                    };
                    answers.push(Answer {
                        key,
                        bin,
                        value: v,
                        scale: t.value,
                        ci95: Some([v - hw, v + hw]),
                    });
                }
            }
            _ => return Err(Error::param("statistic needs a bounded column")),
        }
    }
    Ok(Release { answers, loss })
}

fn noisy_bins<R: RngCore + ?Sized>(
    bins: &[i128],
    noise: &Noise,
    groups: u32,
    c: &Nat,
    rng: &mut R,
) -> Result<Vec<(i128, Scale)>, Error> {
    bins.iter()
        .map(|&n| noise.draw(groups, c, rng).map(|(z, t)| (n + z, t)))
        .collect()
}

fn mean_answer(
    key: Option<String>,
    agg: &Agg,
    z: i128,
    t: Scale,
    n_noisy: i128,
    n_scale: Scale,
    gr: &Grid,
) -> Answer {
    // Centred sum in half-units: real = units * 2^(k-1).
    let half = gr.pow() / 2.0;
    let mid = (gr.lo as f64 + gr.hi as f64) / 2.0 * gr.pow();
    let s = (agg.centred + z) as f64 * half;
    let n = n_noisy as f64;
    let mean = (mid + s / n.max(1.0)).clamp(gr.lo_f, gr.hi_f);
    // 95% overall: each of sum and count inside its 97.5% interval.
    let shw = t.halfwidth(0.025) * half;
    let nhw = n_scale.halfwidth(0.025);
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
        bin: None,
        value: mean,
        scale: t.value * half / n.max(1.0),
        ci95: Some([lo.clamp(gr.lo_f, gr.hi_f), hi.clamp(gr.lo_f, gr.hi_f)]),
    }
}

fn variance_answer(
    key: Option<String>,
    agg: &Agg,
    (zs, ts): (i128, Scale),
    (zq, tq): (i128, Scale),
    n_noisy: i128,
    n_scale: Scale,
    gr: &Grid,
) -> Answer {
    let half = gr.pow() / 2.0;
    let n = (n_noisy as f64).max(1.0);
    let s = (agg.centred + zs) as f64 * half;
    let q = (agg.centred_sq + zq) as f64 * half * half;
    let cap = ((gr.hi_f - gr.lo_f) / 2.0).powi(2);
    let var = (q / n - (s / n).powi(2)).clamp(0.0, cap);
    let a = 0.05 / 3.0;
    let (shw, qhw, nhw) = (
        ts.halfwidth(a) * half,
        tq.halfwidth(a) * half * half,
        n_scale.halfwidth(a),
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
        bin: None,
        value: var,
        scale: tq.value * half * half / n,
        ci95: Some([lo.clamp(0.0, cap), hi.clamp(0.0, cap)]),
    }
}

/// The `q`-quantile and its 95% interval from a noisy histogram over `edges` (the noisy
/// cumulative distribution; see `docs/dp.md` §4 for the proof of coverage).
///
/// With `P_j` the exact number of values below edge `j` and `P̂_j` its noisy prefix sum, the
/// half-widths `B_j` hold jointly for every prefix with probability ≥ 95% (union bound over
/// the `m` prefixes, each at `5%/m`). On that event:
/// - the lower end is the last edge `c_j` of the initial run with `P̂_j + B_j < q (P̂_m − B_m)`;
///   there `P_j < q n`, so fewer than `⌈qn⌉` values lie below `c_j` and `c_j ≤ x_(⌈qn⌉)`;
/// - the upper end is the first edge with `P̂_j − B_j ≥ q (P̂_m + B_m) + 1`; there
///   `P_j ≥ qn + 1`, so `x_(⌈qn⌉) < c_j`.
///
/// The value is where the noisy prefix first reaches `q P̂_m`, interpolated inside its bin;
/// it lies inside the interval by construction.
fn quantile_answer(
    key: Option<String>,
    noisy: &[(i128, Scale)],
    edges: &[i64],
    bounds: &[f64],
    q: f64,
    gr: &Grid,
) -> Answer {
    let m = noisy.len();
    let scale = noisy.first().map(|(_, s)| *s);
    let mut prefix = Vec::with_capacity(m + 1);
    let mut acc = 0i128;
    prefix.push(0i128);
    for (v, _) in noisy {
        acc += v;
        prefix.push(acc);
    }
    let bound = |j: usize| bounds.get(j).copied().unwrap_or(f64::INFINITY);
    let edge = |j: usize| edges.get(j).copied().unwrap_or(gr.hi) as f64 * gr.pow();
    let total = prefix.last().copied().unwrap_or(0) as f64;
    let b_total = bound(m);
    let lo_target = q * (total - b_total);
    let hi_target = q * (total + b_total) + 1.0;
    let mut lower = gr.lo_f;
    for j in 1..m {
        let p = prefix.get(j).copied().unwrap_or(0) as f64;
        if p + bound(j) < lo_target {
            lower = edge(j);
        } else {
            break;
        }
    }
    let mut upper = gr.hi_f;
    for j in 1..m {
        let p = prefix.get(j).copied().unwrap_or(0) as f64;
        if p - bound(j) >= hi_target {
            upper = edge(j);
            break;
        }
    }
    let target = q * total;
    let value = if total <= 0.0 {
        gr.lo_f + q * (gr.hi_f - gr.lo_f)
    } else {
        let j = (1..=m)
            .find(|&j| prefix.get(j).copied().unwrap_or(0) as f64 >= target)
            .unwrap_or(m);
        let (p0, p1) = (
            prefix.get(j - 1).copied().unwrap_or(0) as f64,
            prefix.get(j).copied().unwrap_or(0) as f64,
        );
        let frac = if p1 > p0 {
            ((target - p0) / (p1 - p0)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        edge(j - 1) + frac * (edge(j) - edge(j - 1))
    };
    Answer {
        key,
        bin: None,
        value: value.clamp(lower, upper),
        scale: scale.map_or(0.0, |s| s.value),
        ci95: Some([lower, upper]),
    }
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

#[cfg(test)]
mod tests;
