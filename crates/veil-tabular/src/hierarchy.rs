//! Generalization hierarchies as code -> code lookup tables, one per level.
//!
//! Level 0 is the column's own dictionary; every later level maps each dictionary code to the
//! code of a more general label; the last level always has the single label `*`. Hierarchies
//! come from ARX-format CSV files (one row per value, columns from specific to general) or are
//! generated: numeric intervals, date truncation, prefix masking, categorical trees.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Location, Result};

/// The label of the top of every hierarchy.
pub const TOP: &str = "*";

/// One generalization level: labels and, for each dictionary code, its label's index.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    pub(crate) labels: Vec<String>,
    pub(crate) map: Vec<u32>,
}

/// A generalization hierarchy for one column's dictionary.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    levels: Vec<Level>,
}

/// Truncation steps for dates written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateLevel {
    /// `YYYY-MM`.
    Month,
    /// `YYYY`.
    Year,
    /// `199x`.
    Decade,
}

impl Hierarchy {
    /// The number of levels, including level 0 (the values) and the top `*`.
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// The height: index of the top level.
    pub fn height(&self) -> usize {
        self.levels.len().saturating_sub(1)
    }

    /// The label that `code` generalizes to at `level`.
    pub fn label(&self, level: usize, code: u32) -> Option<&str> {
        let l = self.levels.get(level)?;
        let g = *l.map.get(code as usize)?;
        l.labels.get(g as usize).map(String::as_str)
    }

    pub(crate) fn level(&self, level: usize) -> Option<&Level> {
        self.levels.get(level)
    }

    /// The number of distinct labels at `level`.
    pub fn width(&self, level: usize) -> usize {
        self.levels.get(level).map_or(0, |l| l.labels.len())
    }

    /// Two levels only: the value itself, then `*`.
    pub fn flat(domain: &[String]) -> Self {
        Self::from_paths(domain, domain.iter().map(|_| Vec::new()).collect())
    }

    /// Builds from one path of labels per dictionary value (specific to general, value itself
    /// excluded); appends the `*` level when the last level is not already a single label.
    /// The caller guarantees that paths have equal length and form a tree.
    fn from_paths(domain: &[String], paths: Vec<Vec<String>>) -> Self {
        let depth = paths.first().map_or(0, Vec::len);
        let identity = Level {
            labels: domain.to_vec(),
            map: (0..domain.len())
                .map(|c| u32::try_from(c).unwrap_or(u32::MAX))
                .collect(),
        };
        let mut levels = vec![identity];
        for j in 0..depth {
            let mut index: HashMap<&str, u32> = HashMap::new();
            let mut labels = Vec::new();
            let mut map = Vec::with_capacity(domain.len());
            for path in &paths {
                let label = path.get(j).map_or(TOP, String::as_str);
                let next = u32::try_from(labels.len()).unwrap_or(u32::MAX);
                let code = *index.entry(label).or_insert_with(|| {
                    labels.push(label.to_owned());
                    next
                });
                map.push(code);
            }
            levels.push(Level { labels, map });
        }
        let top_done = levels.len() > 1
            && levels
                .last()
                .is_some_and(|l| l.labels.len() == 1 && l.labels.iter().all(|x| x == TOP));
        if !top_done {
            levels.push(Level {
                labels: vec![TOP.to_owned()],
                map: vec![0; domain.len()],
            });
        }
        Self { levels }
    }

    /// Checks that `paths` form a tree (a label has one parent) and builds the hierarchy.
    /// `origin` maps a path index to the (line, first column) it came from, for errors.
    fn from_checked_paths(
        domain: &[String],
        paths: Vec<Vec<String>>,
        source: &Path,
        origin: &dyn Fn(usize) -> (usize, usize),
    ) -> Result<Self> {
        let depth = paths.first().map_or(0, Vec::len);
        for j in 0..depth.saturating_sub(1) {
            let mut parent: HashMap<&str, &str> = HashMap::new();
            for (i, path) in paths.iter().enumerate() {
                let (Some(child), Some(up)) = (path.get(j), path.get(j + 1)) else {
                    continue;
                };
                match parent.get(child.as_str()) {
                    Some(&p) if p != up => {
                        let (line, col) = origin(i);
                        let loc = Location {
                            file: source.to_path_buf(),
                            line,
                            column: col + j + 2,
                        };
                        return Err(Error::at(
                            loc,
                            "hierarchy",
                            format!(
                                "label `{child}` in column {} has two parents, `{p}` and `{up}`",
                                col + j + 1
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        parent.insert(child.as_str(), up.as_str());
                    }
                }
            }
        }
        Ok(Self::from_paths(domain, paths))
    }

    /// Reads an ARX-format hierarchy: one row per value, `;` (or `,`) separated, the value
    /// first and then its generalizations from specific to general.
    pub fn read_arx(path: &Path, domain: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_arx(&text, path, domain)
    }

    /// Parses ARX-format hierarchy text; `path` names it in errors.
    pub fn parse_arx(text: &str, path: &Path, domain: &[String]) -> Result<Self> {
        let delimiter = if text.lines().next().is_some_and(|l| l.contains(';')) {
            b';'
        } else {
            b','
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows: HashMap<String, (usize, Vec<String>)> = HashMap::new();
        let mut width: Option<usize> = None;
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 1;
            let loc = |column| Location {
                file: path.to_path_buf(),
                line,
                column,
            };
            let rec = rec.map_err(|_| Error::at(loc(1), "hierarchy", "malformed CSV row"))?;
            let fields: Vec<String> = rec.iter().map(|f| f.trim().to_owned()).collect();
            if fields.iter().all(String::is_empty) {
                continue;
            }
            match width {
                None => width = Some(fields.len()),
                Some(w) if w != fields.len() => {
                    return Err(Error::at(
                        loc(fields.len().min(w) + 1),
                        "hierarchy",
                        format!("row has {} columns, the first row has {w}", fields.len()),
                    ));
                }
                Some(_) => {}
            }
            if let Some(empty) = fields.iter().position(String::is_empty) {
                return Err(Error::at(loc(empty + 1), "hierarchy", "empty label"));
            }
            let mut it = fields.into_iter();
            let Some(value) = it.next() else { continue };
            if let Some((first, _)) = rows.get(&value) {
                return Err(Error::at(
                    loc(1),
                    "hierarchy",
                    format!("value `{value}` already has a row at line {first}"),
                ));
            }
            rows.insert(value, (line, it.collect()));
        }
        if width.is_none() {
            return Err(Error::in_file(path, "hierarchy", "no rows"));
        }
        let missing = domain
            .iter()
            .filter(|v| !rows.contains_key(v.as_str()))
            .count();
        if missing > 0 {
            return Err(Error::in_file(
                path,
                "hierarchy",
                format!("{missing} distinct value(s) of the data have no row"),
            ));
        }
        let mut lines = Vec::with_capacity(domain.len());
        let mut paths = Vec::with_capacity(domain.len());
        for v in domain {
            if let Some((line, p)) = rows.remove(v.as_str()) {
                lines.push(line);
                paths.push(p);
            }
        }
        Self::from_checked_paths(domain, paths, path, &|i| {
            (lines.get(i).copied().unwrap_or(0), 1)
        })
    }

    /// A categorical tree given level by level: each map sends a label of the level below
    /// (at first, the values themselves) to its parent.
    pub fn tree(
        domain: &[String],
        levels: &[HashMap<String, String>],
        source: &Path,
    ) -> Result<Self> {
        let mut paths = Vec::with_capacity(domain.len());
        for value in domain {
            let mut path = Vec::with_capacity(levels.len());
            let mut cur = value.as_str();
            for (j, level) in levels.iter().enumerate() {
                let Some(up) = level.get(cur) else {
                    return Err(Error::in_file(
                        source,
                        "hierarchy",
                        format!(
                            "tree level {} has no parent for a label of level {j}",
                            j + 1
                        ),
                    ));
                };
                path.push(up.clone());
                cur = up.as_str();
            }
            paths.push(path);
        }
        Ok(Self::from_paths(domain, paths))
    }

    /// Numeric intervals of the given widths, each a multiple of the one before; values that
    /// are not numbers are refused.
    pub fn intervals(domain: &[String], widths: &[f64], column: &str) -> Result<Self> {
        let values = parse_numbers(domain, column)?;
        let mut prev: Option<f64> = None;
        for &w in widths {
            if !(w.is_finite() && w > 0.0) {
                return Err(Error::config(format!(
                    "column `{column}`: interval width must be positive"
                )));
            }
            if let Some(p) = prev {
                let ratio = w / p;
                if ratio < 1.0 || (ratio - ratio.round()).abs() > 1e-9 {
                    return Err(Error::config(format!(
                        "column `{column}`: interval width {w} is not a multiple of {p}"
                    )));
                }
            }
            prev = Some(w);
        }
        let integral =
            values.iter().all(|v| v.fract() == 0.0) && widths.iter().all(|w| w.fract() == 0.0);
        let paths = values
            .iter()
            .map(|&v| {
                widths
                    .iter()
                    .map(|&w| {
                        let lo = (v / w).floor() * w;
                        if integral {
                            format!("{}-{}", lo, lo + w - 1.0)
                        } else {
                            format!("[{}, {})", lo, lo + w)
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(Self::from_paths(domain, paths))
    }

    /// Masks characters from the right, one per level (`02139`, `0213*`, `021**`, ...).
    pub fn prefix(domain: &[String]) -> Self {
        let max_len = domain.iter().map(|v| v.chars().count()).max().unwrap_or(0);
        let paths = domain
            .iter()
            .map(|v| {
                let chars: Vec<char> = v.chars().collect();
                (1..=max_len)
                    .map(|masked| {
                        let keep = chars.len().saturating_sub(masked);
                        let mut s: String = chars.iter().take(keep).collect();
                        s.extend(std::iter::repeat_n('*', chars.len() - keep));
                        s
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>();
        // Drop levels identical to the one before (values shorter than the longest).
        Self::from_paths(domain, dedup_levels(paths))
    }

    /// Date truncation for `YYYY-MM-DD` values (anything after the day is ignored).
    pub fn dates(domain: &[String], steps: &[DateLevel], column: &str) -> Result<Self> {
        let mut paths = Vec::with_capacity(domain.len());
        for v in domain {
            let Some((y, m)) = parse_date(v) else {
                return Err(Error::config(format!(
                    "column `{column}` has a value that is not a `YYYY-MM-DD` date"
                )));
            };
            paths.push(
                steps
                    .iter()
                    .map(|s| match s {
                        DateLevel::Month => format!("{y:04}-{m:02}"),
                        DateLevel::Year => format!("{y:04}"),
                        DateLevel::Decade => format!("{}s", y / 10 * 10),
                    })
                    .collect(),
            );
        }
        Ok(Self::from_paths(domain, paths))
    }

    /// The smallest level at which all `codes` share one label.
    pub fn common_level(&self, codes: &[u32]) -> usize {
        for (j, level) in self.levels.iter().enumerate() {
            let mut it = codes.iter().map(|&c| level.map.get(c as usize).copied());
            let first = it.next().flatten();
            if it.all(|g| g == first) {
                return j;
            }
        }
        self.height()
    }

    /// The number of dictionary values under each label of `level`.
    pub fn leaf_counts(&self, level: usize) -> Vec<u32> {
        let mut counts = vec![0u32; self.width(level)];
        if let Some(l) = self.levels.get(level) {
            for &g in &l.map {
                if let Some(c) = counts.get_mut(g as usize) {
                    *c += 1;
                }
            }
        }
        counts
    }

    /// A total order of dictionary codes in which every label's values are adjacent:
    /// codes sorted by their path from the top down. Returns rank per code.
    pub fn ranks_by_path(&self) -> Vec<u32> {
        let n = self.levels.first().map_or(0, |l| l.map.len());
        let mut codes: Vec<u32> = (0..n)
            .map(|c| u32::try_from(c).unwrap_or(u32::MAX))
            .collect();
        codes.sort_by(|&a, &b| {
            for level in self.levels.iter().rev() {
                let la = level
                    .map
                    .get(a as usize)
                    .and_then(|&g| level.labels.get(g as usize));
                let lb = level
                    .map
                    .get(b as usize)
                    .and_then(|&g| level.labels.get(g as usize));
                match la.cmp(&lb) {
                    std::cmp::Ordering::Equal => {}
                    o => return o,
                }
            }
            std::cmp::Ordering::Equal
        });
        let mut ranks = vec![0u32; n];
        for (r, &c) in codes.iter().enumerate() {
            if let Some(x) = ranks.get_mut(c as usize) {
                *x = u32::try_from(r).unwrap_or(u32::MAX);
            }
        }
        ranks
    }
}

fn dedup_levels(paths: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let depth = paths.first().map_or(0, Vec::len);
    let mut keep = Vec::new();
    for j in 0..depth {
        let distinct: std::collections::HashSet<&str> = paths
            .iter()
            .filter_map(|p| p.get(j).map(String::as_str))
            .collect();
        let prev_distinct: usize = if j == 0 {
            paths.len()
        } else {
            paths
                .iter()
                .filter_map(|p| p.get(j - 1).map(String::as_str))
                .collect::<std::collections::HashSet<_>>()
                .len()
        };
        if distinct.len() < prev_distinct || j + 1 == depth {
            keep.push(j);
        }
    }
    paths
        .into_iter()
        .map(|p| keep.iter().filter_map(|&j| p.get(j).cloned()).collect())
        .collect()
}

/// Parses every dictionary value as a number.
pub(crate) fn parse_numbers(domain: &[String], column: &str) -> Result<Vec<f64>> {
    domain
        .iter()
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| {
            Error::config(format!(
                "column `{column}` has a value that is not a number"
            ))
        })
}

/// `YYYY-MM-DD...` -> (year, month).
pub(crate) fn parse_date(v: &str) -> Option<(u32, u32)> {
    let b = v.as_bytes();
    if b.len() < 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y: u32 = v.get(0..4)?.parse().ok()?;
    let m: u32 = v.get(5..7)?.parse().ok()?;
    let d: u32 = v.get(8..10)?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prefix_masks_from_the_right() {
        let h = Hierarchy::prefix(&dom(&["02139", "02138", "02201"]));
        assert_eq!(h.label(1, 0), Some("0213*"));
        assert_eq!(h.label(2, 2), Some("02***")); // `021**`/`022**` splits like level 1: skipped
        assert_eq!(h.label(h.height(), 2), Some("*"));
        assert_eq!(h.width(1), 2);
    }

    #[test]
    fn intervals_nest_and_label_integers() {
        let h = Hierarchy::intervals(&dom(&["23", "27", "31"]), &[5.0, 10.0], "age").unwrap();
        assert_eq!(h.label(1, 0), Some("20-24"));
        assert_eq!(h.label(2, 1), Some("20-29"));
        assert_eq!(h.label(3, 2), Some("*"));
        assert!(Hierarchy::intervals(&dom(&["1"]), &[5.0, 7.0], "age").is_err());
        assert!(Hierarchy::intervals(&dom(&["x"]), &[5.0], "age").is_err());
    }

    #[test]
    fn dates_truncate() {
        let h = Hierarchy::dates(
            &dom(&["1994-03-17"]),
            &[DateLevel::Month, DateLevel::Year, DateLevel::Decade],
            "d",
        )
        .unwrap();
        assert_eq!(h.label(1, 0), Some("1994-03"));
        assert_eq!(h.label(2, 0), Some("1994"));
        assert_eq!(h.label(3, 0), Some("1990s"));
        assert!(Hierarchy::dates(&dom(&["17/03/1994"]), &[DateLevel::Year], "d").is_err());
    }

    #[test]
    fn arx_hierarchy_parses_and_errors_point_to_line_and_column() {
        let d = dom(&["a", "b", "c"]);
        let h = Hierarchy::parse_arx("a;ab;*\nb;ab;*\nc;c;*\n", Path::new("h.csv"), &d).unwrap();
        assert_eq!(h.height(), 2);
        assert_eq!(h.label(1, 1), Some("ab"));

        let err =
            Hierarchy::parse_arx("a;ab;*\nb;ab\nc;c;*\n", Path::new("h.csv"), &d).unwrap_err();
        assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 3)));
        assert!(err.to_string().contains("h.csv:2:3"), "{err}");

        let err =
            Hierarchy::parse_arx("a;ab;X\nb;ab;Y\nc;c;*\n", Path::new("h.csv"), &d).unwrap_err();
        assert_eq!(
            err.location().map(|l| (l.line, l.column)),
            Some((2, 3)),
            "{err}"
        );

        let err =
            Hierarchy::parse_arx("a;ab;*\nb;;*\nc;c;*\n", Path::new("h.csv"), &d).unwrap_err();
        assert_eq!(err.location().map(|l| (l.line, l.column)), Some((2, 2)));

        let err = Hierarchy::parse_arx("a;ab;*\nb;ab;*\n", Path::new("h.csv"), &d).unwrap_err();
        assert!(err.to_string().contains("1 distinct value(s)"), "{err}");
    }

    #[test]
    fn common_level_and_path_order() {
        let d = dom(&["a", "c", "b"]);
        let h = Hierarchy::parse_arx("a;ab;*\nb;ab;*\nc;c;*\n", Path::new("h.csv"), &d).unwrap();
        assert_eq!(h.common_level(&[0, 2]), 1);
        assert_eq!(h.common_level(&[0, 1]), 2);
        assert_eq!(h.common_level(&[1]), 0);
        let r = h.ranks_by_path();
        // a and b share `ab`, so they are adjacent in the order.
        assert_eq!((r[0] as i64 - r[2] as i64).abs(), 1);
    }
}
