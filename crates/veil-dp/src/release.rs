//! A release spec: several queries in one TOML file, run as one release and charged to the
//! ledger once.
//!
//! ```toml
//! epsilon = 1.0          # the release's total budget: `epsilon` (and `delta`), or `rho`
//! delta = 1e-6           # spent only by group-bys over keys not declared public
//! privacy_unit = "patient_id"
//! max_groups = 2         # groups one unit may contribute to
//! max_rows = 1           # rows one unit may contribute to each group
//!
//! [[query]]
//! name = "patients per city"
//! statistic = "count"
//! group_by = "city"      # private keys: partition selection spends part of delta
//! share = 0.5            # of epsilon; queries without a share split what is left evenly
//!
//! [[query]]
//! name = "median age"
//! statistic = "quantile"
//! column = "age"
//! lower = 0
//! upper = 120
//! q = 0.5
//! ```
//!
//! Budget shares: query `i` gets `share_i · ε` (Laplace) or `share_i · ρ`; under a `rho`
//! budget a query may still choose `mechanism = "laplace"`, with `ε_i = sqrt(2 share_i ρ)`
//! (pure `ε`-DP is `ε²/2`-zCDP). `delta` is split evenly over the queries that select
//! partitions privately; under a `rho` budget `delta` only sets the `(ε, δ)` shown for the
//! total. The per-query losses are composed in a [`PrivacyFilter`] holding the release's
//! budget, so the charged total is exact and never above what the file declares.
//!
//! Every error names the file, line and column of the offending query or value.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::query::{Bounded, Privacy, QuerySpec, Statistic};
use crate::{Budget, Error, ErrorKind, PrivacyFilter, PrivacyLoss};

/// The whole file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    /// Ledger dataset charged (the command line may override it).
    dataset: Option<String>,
    /// Privacy unit column; every row is a unit when absent.
    privacy_unit: Option<String>,
    /// Groups one unit may contribute to (default 1).
    max_groups: Option<u32>,
    /// Rows one unit may contribute to each group (default 1).
    max_rows: Option<u32>,
    /// Total ε of the release (Laplace queries).
    epsilon: Option<Spanned<f64>>,
    /// Total δ (partition selection), or the δ of the conversion shown for a `rho` budget.
    delta: Option<Spanned<f64>>,
    /// Total ρ of the release (zCDP).
    rho: Option<Spanned<f64>>,
    /// The queries, in output order.
    #[serde(rename = "query", default)]
    queries: Vec<Spanned<RawQuery>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawStatistic {
    Count,
    Sum,
    Mean,
    Variance,
    Quantile,
    Histogram,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum RawMechanism {
    Laplace,
    Gaussian,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    /// Label echoed in the output.
    name: String,
    statistic: RawStatistic,
    /// Value column (every statistic but `count`).
    column: Option<String>,
    lower: Option<f64>,
    upper: Option<f64>,
    /// Quantile level (default 0.5).
    q: Option<f64>,
    /// Histogram bins / quantile resolution (default 100).
    bins: Option<u32>,
    group_by: Option<String>,
    /// Public group keys.
    keys: Option<Vec<String>>,
    /// `laplace` or `gaussian`; default: Laplace under `epsilon`, Gaussian under `rho`.
    mechanism: Option<RawMechanism>,
    /// Fraction of the release budget, in (0, 1].
    share: Option<f64>,
}

/// One query of a release, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedQuery {
    /// The label from the file.
    pub name: String,
    /// The query with its share of the budget.
    pub spec: QuerySpec,
    /// Its loss (already composed into [`ReleasePlan::loss`]).
    pub loss: PrivacyLoss,
}

/// A validated release: the queries and the one loss to charge.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleasePlan {
    /// Ledger dataset named by the file, if any.
    pub dataset: Option<String>,
    /// Privacy unit column, if any (the ledger key's unit; `row` otherwise).
    pub privacy_unit: Option<String>,
    /// The queries, in file order.
    pub queries: Vec<NamedQuery>,
    /// The composed loss of the whole release, charged once.
    pub loss: PrivacyLoss,
    /// The δ at which a zCDP total is shown as `(ε, δ)`.
    pub report_delta: Option<f64>,
}

/// Relative amount every share is rounded down by (see [`parse`]).
const SHAVE: f64 = 1.0 - 1e-12;

/// `file:line:col` of a byte offset.
fn position(name: &str, text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{name}:{line}:{col}")
}

/// Parse and validate a release spec. `name` labels errors (the file path).
///
/// # Errors
///
/// [`ErrorKind::InvalidParameter`] (or [`ErrorKind::MissingBounds`] for a query without
/// bounds) with `name:line:col` of the offending place; nothing is run or charged.
pub fn parse(name: &str, text: &str) -> Result<ReleasePlan, Error> {
    let at = |span: Range<usize>, kind: ErrorKind, msg: &str| {
        Error::new(kind, format!("{}: {msg}", position(name, text, span.start)))
    };
    let raw: RawSpec = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_owned();
        match e.span() {
            Some(span) => at(span, ErrorKind::InvalidParameter, &msg),
            None => Error::param(format!("{name}: {msg}")),
        }
    })?;
    let whole = 0..0;
    if raw.queries.is_empty() {
        return Err(at(
            whole.clone(),
            ErrorKind::InvalidParameter,
            "no queries: add at least one [[query]] table",
        ));
    }
    let (budget, zcdp) = match (&raw.epsilon, &raw.rho) {
        (Some(e), None) => {
            let delta = raw.delta.as_ref().map_or(0.0, |d| *d.get_ref());
            if delta > 0.0 {
                (
                    Budget::Approx {
                        epsilon: *e.get_ref(),
                        delta,
                    },
                    false,
                )
            } else {
                (
                    Budget::Pure {
                        epsilon: *e.get_ref(),
                    },
                    false,
                )
            }
        }
        (None, Some(r)) => (Budget::Zcdp { rho: *r.get_ref() }, true),
        (Some(_), Some(r)) => {
            return Err(at(
                r.span(),
                ErrorKind::InvalidParameter,
                "give the release budget as `epsilon` (with `delta`) or as `rho`, not both",
            ));
        }
        (None, None) => {
            return Err(at(
                whole,
                ErrorKind::MissingBounds,
                "no release budget: set `epsilon` (and `delta`) or `rho`",
            ));
        }
    };
    let mut filter = PrivacyFilter::new(budget).map_err(|e| {
        let span = raw
            .epsilon
            .as_ref()
            .or(raw.rho.as_ref())
            .map_or(0..0, Spanned::span);
        at(span, e.kind(), &e.to_string())
    })?;

    // Shares: explicit ones must fit; the rest split what is left evenly.
    let mut explicit = 0.0;
    let mut unshared = 0u32;
    for q in &raw.queries {
        match q.get_ref().share {
            Some(s) if !(s.is_finite() && s > 0.0 && s <= 1.0) => {
                return Err(at(
                    q.span(),
                    ErrorKind::InvalidParameter,
                    &format!("share must be in (0, 1], got `{s}`"),
                ));
            }
            Some(s) => explicit += s,
            None => unshared += 1,
        }
    }
    let rest = 1.0 - explicit;
    if explicit > 1.0 + 1e-12 || (unshared > 0 && rest <= 0.0) {
        let span = raw.queries.first().map_or(0..0, Spanned::span);
        return Err(at(
            span,
            ErrorKind::InvalidParameter,
            &format!(
                "query shares add up to `{explicit}`, leaving nothing for the {unshared} \
                 queries without a share"
            ),
        ));
    }
    let private_count = raw
        .queries
        .iter()
        .filter(|q| q.get_ref().group_by.is_some() && q.get_ref().keys.is_none())
        .count();
    let delta_total = raw.delta.as_ref().map_or(0.0, |d| *d.get_ref());

    let mut queries = Vec::with_capacity(raw.queries.len());
    for q in &raw.queries {
        let span = q.span();
        let r = q.get_ref();
        let fail = |kind: ErrorKind, msg: &str| {
            at(span.clone(), kind, &format!("query `{}`: {msg}", r.name))
        };
        // Shares are rounded down by a relative 1e-12: shares such as 0.4 + 0.3 + 0.3 are not
        // exact in binary and would otherwise overshoot the budget by an ulp.
        let share = r.share.unwrap_or(rest / f64::from(unshared.max(1))) * SHAVE;
        let mechanism = r.mechanism.unwrap_or(if zcdp {
            RawMechanism::Gaussian
        } else {
            RawMechanism::Laplace
        });
        let privacy = match (mechanism, budget) {
            (RawMechanism::Laplace, Budget::Pure { epsilon } | Budget::Approx { epsilon, .. }) => {
                Privacy::Laplace {
                    epsilon: share * epsilon,
                }
            }
            (RawMechanism::Laplace, Budget::Zcdp { rho }) => Privacy::Laplace {
                // ε²/2 ≤ share·ρ, nudged down so rounding cannot overshoot.
                epsilon: (2.0 * share * rho).sqrt() * SHAVE,
            },
            (RawMechanism::Gaussian, Budget::Zcdp { rho }) => {
                Privacy::Gaussian { rho: share * rho }
            }
            (RawMechanism::Gaussian, _) => {
                return Err(fail(
                    ErrorKind::InvalidParameter,
                    "the Gaussian mechanism needs a `rho` (zCDP) release budget",
                ));
            }
        };
        let bounded = |what: &str| -> Result<Bounded, Error> {
            let column = r.column.clone().ok_or_else(|| {
                fail(
                    ErrorKind::InvalidParameter,
                    &format!("a {what} needs `column`"),
                )
            })?;
            Ok(Bounded {
                column,
                lower: r.lower,
                upper: r.upper,
            })
        };
        let statistic = match r.statistic {
            RawStatistic::Count => Statistic::Count,
            RawStatistic::Sum => Statistic::Sum(bounded("sum")?),
            RawStatistic::Mean => Statistic::Mean(bounded("mean")?),
            RawStatistic::Variance => Statistic::Variance(bounded("variance")?),
            RawStatistic::Quantile => Statistic::Quantile {
                column: bounded("quantile")?,
                q: r.q.unwrap_or(0.5),
                bins: r.bins.unwrap_or(100),
            },
            RawStatistic::Histogram => Statistic::Histogram {
                column: bounded("histogram")?,
                bins: r.bins.unwrap_or(100),
            },
        };
        let mut spec = QuerySpec::with_privacy(statistic, privacy);
        spec.group_by = r.group_by.clone();
        spec.public_keys = r.keys.clone();
        spec.privacy_unit = raw.privacy_unit.clone();
        if raw.privacy_unit.is_some() {
            spec.max_groups = raw.max_groups.unwrap_or(1);
            spec.max_rows = raw.max_rows.unwrap_or(1);
        }
        if !zcdp && r.group_by.is_some() && r.keys.is_none() && private_count > 0 {
            spec.delta = delta_total / private_count as f64 * SHAVE;
        }
        let loss = spec.loss().map_err(|e| fail(e.kind(), &e.to_string()))?;
        filter
            .try_spend(&loss)
            .map_err(|e| fail(e.kind(), &format!("does not fit the release budget: {e}")))?;
        queries.push(NamedQuery {
            name: r.name.clone(),
            spec,
            loss,
        });
    }
    let spent = filter.spent();
    let loss = match budget {
        Budget::Pure { .. } => PrivacyLoss::Pure {
            epsilon: spent.epsilon,
        },
        Budget::Approx { .. } if spent.delta > 0.0 => PrivacyLoss::Approx {
            epsilon: spent.epsilon,
            delta: spent.delta,
        },
        Budget::Approx { .. } => PrivacyLoss::Pure {
            epsilon: spent.epsilon,
        },
        Budget::Zcdp { .. } => PrivacyLoss::Zcdp { rho: spent.rho },
    };
    Ok(ReleasePlan {
        dataset: raw.dataset,
        privacy_unit: raw.privacy_unit,
        queries,
        loss,
        report_delta: if zcdp {
            raw.delta.map(|d| *d.get_ref())
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
epsilon = 1.0
delta = 1e-6
privacy_unit = "patient_id"
max_groups = 2

[[query]]
name = "per city"
statistic = "count"
group_by = "city"
share = 0.5

[[query]]
name = "median age"
statistic = "quantile"
column = "age"
lower = 0
upper = 120

[[query]]
name = "mean age"
statistic = "mean"
column = "age"
lower = 0
upper = 120
group_by = "city"
keys = ["Paris", "Lyon"]
"#;

    #[test]
    fn a_spec_becomes_queries_with_shares_and_one_composed_loss() {
        let plan = parse("release.toml", GOOD).unwrap();
        assert_eq!(plan.queries.len(), 3);
        let eps: Vec<f64> = plan
            .queries
            .iter()
            .map(|q| match q.spec.privacy {
                Privacy::Laplace { epsilon } => epsilon,
                Privacy::Gaussian { .. } => f64::NAN,
            })
            .collect();
        for (got, want) in eps.iter().zip([0.5, 0.25, 0.25]) {
            assert!(*got <= want && *got > want * (1.0 - 1e-11), "{eps:?}");
        }
        // Only the private group-by spends delta; the total is within the declared budget.
        assert!(plan.queries[0].spec.delta > 0.999e-6);
        assert_eq!(plan.queries[2].spec.delta, 0.0);
        let PrivacyLoss::Approx { epsilon, delta } = plan.loss else {
            panic!("{:?}", plan.loss)
        };
        assert!(epsilon <= 1.0 && epsilon > 1.0 - 1e-11, "{epsilon}");
        assert!(delta <= 1e-6 && delta > 0.999e-6, "{delta}");
        assert_eq!(plan.queries[1].spec.max_groups, 2);
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../../testdata/dp/release.example.toml");
        let plan = parse("release.example.toml", text).unwrap();
        assert_eq!(plan.queries.len(), 3);
        assert_eq!(plan.dataset.as_deref(), Some("patients"));
        assert!(matches!(plan.loss, PrivacyLoss::Approx { epsilon, .. } if epsilon <= 1.0));
    }

    #[test]
    fn zcdp_release_mixes_gaussian_and_laplace_within_rho() {
        let text = r#"
rho = 0.5
delta = 1e-6
[[query]]
name = "n"
statistic = "count"
share = 0.25
mechanism = "laplace"
[[query]]
name = "total"
statistic = "sum"
column = "x"
lower = 0
upper = 10
"#;
        let plan = parse("z.toml", text).unwrap();
        assert!(
            matches!(plan.queries[1].spec.privacy, Privacy::Gaussian { rho } if (rho - 0.375).abs() < 1e-11)
        );
        let PrivacyLoss::Zcdp { rho } = plan.loss else {
            panic!("{:?}", plan.loss)
        };
        assert!(rho <= 0.5 && rho > 0.4999, "{rho}");
        assert_eq!(plan.report_delta, Some(1e-6));
    }

    #[test]
    fn errors_point_at_file_line_and_column() {
        // A missing bound: the position of the query's table.
        let text = "epsilon = 1\n\n[[query]]\nname = \"s\"\nstatistic = \"sum\"\ncolumn = \"x\"\nlower = 0\n";
        let err = parse("r.toml", text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingBounds);
        let msg = err.to_string();
        assert!(msg.starts_with("r.toml:3:1: query `s`"), "{msg}");
        assert!(msg.contains("no declared bounds"), "{msg}");
        // A syntax error and an unknown key: the position of the problem.
        let err = parse(
            "r.toml",
            "epsilon = 1\n[[query]]\nname = \"a\"\nstatistc = \"count\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("r.toml:4:1:"), "{err}");
        let err = parse("r.toml", "epsilon = \n").unwrap_err();
        assert!(err.to_string().starts_with("r.toml:1:"), "{err}");
        // Gaussian under an epsilon budget; shares that do not fit.
        let err = parse(
            "r.toml",
            "epsilon = 1\n[[query]]\nname = \"g\"\nstatistic = \"count\"\nmechanism = \"gaussian\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("r.toml:2:1: query `g`"),
            "{err}"
        );
        let err = parse(
            "r.toml",
            "epsilon = 1\n[[query]]\nname = \"a\"\nstatistic = \"count\"\nshare = 0.8\n\
             [[query]]\nname = \"b\"\nstatistic = \"count\"\nshare = 0.7\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("shares add up"), "{err}");
        // No budget at all.
        let err = parse("r.toml", "[[query]]\nname = \"a\"\nstatistic = \"count\"\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingBounds);
    }
}
