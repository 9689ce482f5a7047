//! `veil dp`: differential-privacy queries and privacy budgets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veil_dp::query::{Bounded, Dataset, QuerySpec, Statistic, run as run_query};
use veil_dp::{Budget, LedgerKey, SecureRng};

/// Differential privacy: noisy queries and privacy budgets.
#[derive(Debug, Subcommand)]
pub enum DpCommand {
    /// Answer a query under differential privacy and print JSON.
    Query(Box<QueryArgs>),
    /// Show or set privacy budgets in the ledger.
    #[command(subcommand)]
    Budget(BudgetCommand),
}

/// `veil dp query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Input CSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// ε spent by this query.
    #[arg(long)]
    epsilon: f64,
    /// δ, spent only by private partition selection (group-by over keys not declared public).
    #[arg(long, default_value_t = 0.0)]
    delta: f64,
    /// Count rows.
    #[arg(long, group = "stat")]
    count: bool,
    /// Sum of COL (needs --lower and --upper).
    #[arg(long, value_name = "COL", group = "stat")]
    sum: Option<String>,
    /// Mean of COL (needs --lower and --upper).
    #[arg(long, value_name = "COL", group = "stat")]
    mean: Option<String>,
    /// Variance of COL (needs --lower and --upper).
    #[arg(long, value_name = "COL", group = "stat")]
    variance: Option<String>,
    /// A quantile of COL (needs --lower, --upper; --q, --bins).
    #[arg(long, value_name = "COL", group = "stat")]
    quantile: Option<String>,
    /// Histogram of COL over --bins equal bins in [lower, upper].
    #[arg(long, value_name = "COL", group = "stat")]
    histogram: Option<String>,
    /// Declared lower bound of the value column (values below are clamped).
    #[arg(long, allow_hyphen_values = true)]
    lower: Option<f64>,
    /// Declared upper bound of the value column (values above are clamped).
    #[arg(long, allow_hyphen_values = true)]
    upper: Option<f64>,
    /// Which quantile, in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    q: f64,
    /// Bins for histograms, candidate intervals for quantiles.
    #[arg(long, default_value_t = 100)]
    bins: u32,
    /// Group by this column.
    #[arg(long, value_name = "COL")]
    group_by: Option<String>,
    /// Public group keys, comma-separated: released as given, no partition selection, no δ.
    #[arg(long, value_delimiter = ',', requires = "group_by")]
    keys: Option<Vec<String>>,
    /// Column identifying the privacy unit (a person); default: each row is a unit.
    #[arg(long, value_name = "COL")]
    privacy_unit: Option<String>,
    /// Groups one privacy unit may contribute to.
    #[arg(long, default_value_t = 1, requires = "privacy_unit")]
    max_groups: u32,
    /// Rows one privacy unit may contribute to each group.
    #[arg(long, default_value_t = 1, requires = "privacy_unit")]
    max_rows: u32,
    /// Charge the query to this dataset's budget in the ledger (refused if it does not fit).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Ledger database (the Veil store): a SQLite path, a `sqlite:` URL or a `postgres://` URL.
    #[arg(long, env = "VEIL_DP_LEDGER", default_value = ".veil/veil.db")]
    ledger: String,
}

/// `veil dp budget`.
#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Print a dataset's budget and what has been spent, as JSON.
    Show(BudgetKeyArgs),
    /// Set (or replace) a dataset's budget; what was spent is kept.
    Set(BudgetSetArgs),
}

/// Which budget.
#[derive(Debug, Args)]
pub struct BudgetKeyArgs {
    /// Dataset name.
    #[arg(long)]
    dataset: String,
    /// Privacy unit column the budget protects (`row` when each row is a unit).
    #[arg(long, default_value = "row")]
    privacy_unit: String,
    /// Ledger database (the Veil store): a SQLite path, a `sqlite:` URL or a `postgres://` URL.
    #[arg(long, env = "VEIL_DP_LEDGER", default_value = ".veil/veil.db")]
    ledger: String,
}

/// `veil dp budget set`.
#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    #[command(flatten)]
    key: BudgetKeyArgs,
    /// Total ε.
    #[arg(long)]
    epsilon: f64,
    /// Total δ (0: a pure-DP budget).
    #[arg(long, default_value_t = 0.0)]
    delta: f64,
}

/// Run `veil dp`.
pub fn run(cmd: DpCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DpCommand::Query(args) => query(*args),
        DpCommand::Budget(BudgetCommand::Show(k)) => {
            let key = LedgerKey::new(k.dataset.clone(), k.privacy_unit.clone());
            let entry = crate::dp_ledger::entry(&k.ledger, &key)?;
            match entry {
                Some(e) => {
                    println!(
                        "{}",
                        serde_json::to_string(&json!({
                            "dataset": key.dataset, "privacy_unit": key.privacy_unit,
                            "budget": e.budget, "spent": e.spent,
                        }))?
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => bail!(
                    "no budget set for dataset `{}` and privacy unit `{}`",
                    key.dataset,
                    key.privacy_unit
                ),
            }
        }
        DpCommand::Budget(BudgetCommand::Set(s)) => {
            let budget = if s.delta > 0.0 {
                Budget::Approx {
                    epsilon: s.epsilon,
                    delta: s.delta,
                }
            } else {
                Budget::Pure { epsilon: s.epsilon }
            };
            let key = LedgerKey::new(s.key.dataset.clone(), s.key.privacy_unit.clone());
            let e = crate::dp_ledger::set_budget(&s.key.ledger, &key, budget)?;
            println!(
                "{}",
                serde_json::to_string(&json!({
                    "dataset": key.dataset, "privacy_unit": key.privacy_unit,
                    "budget": e.budget, "spent": e.spent,
                }))?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn query(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let bounded = |column: &str| Bounded {
        column: column.to_owned(),
        lower: a.lower,
        upper: a.upper,
    };
    let statistic = if a.count {
        Statistic::Count
    } else if let Some(c) = &a.sum {
        Statistic::Sum(bounded(c))
    } else if let Some(c) = &a.mean {
        Statistic::Mean(bounded(c))
    } else if let Some(c) = &a.variance {
        Statistic::Variance(bounded(c))
    } else if let Some(c) = &a.quantile {
        Statistic::Quantile {
            column: bounded(c),
            q: a.q,
            bins: a.bins,
        }
    } else if let Some(c) = &a.histogram {
        Statistic::Histogram {
            column: bounded(c),
            bins: a.bins,
        }
    } else {
        bail!(
            "choose a statistic: --count, --sum COL, --mean COL, --variance COL, \
             --quantile COL or --histogram COL"
        );
    };
    let mut spec = QuerySpec::new(statistic, a.epsilon);
    spec.delta = a.delta;
    spec.group_by = a.group_by.clone();
    spec.public_keys = a.keys.clone();
    spec.privacy_unit = a.privacy_unit.clone();
    spec.max_groups = a.max_groups;
    spec.max_rows = a.max_rows;
    // Validate bounds and parameters before touching the data or the budget.
    let loss = spec.loss()?;
    let data = Dataset::from_csv_path(&a.data, &spec)?;
    let mut rng = SecureRng::from_os()?;
    // Charge the ledger before anything is computed; a refusal spends nothing and releases
    // nothing.
    if let Some(name) = &a.dataset {
        let unit = a.privacy_unit.clone().unwrap_or_else(|| "row".to_owned());
        crate::dp_ledger::try_spend(&a.ledger, &LedgerKey::new(name.clone(), unit), &loss)
            .with_context(|| format!("charging dataset `{name}`"))?;
    }
    let release = run_query(&spec, &data, &mut rng)?;
    let answers: Vec<Value> = release
        .answers
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let grouped = spec.group_by.is_some() || matches!(spec.statistic, Statistic::Histogram { .. });
    let out = if grouped {
        Value::Array(answers)
    } else {
        answers.into_iter().next().unwrap_or(Value::Null)
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}
