//! `veil dp`: differential-privacy queries and privacy budgets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veil_dp::accountant::zcdp_to_epsilon;
use veil_dp::query::{Bounded, Dataset, Privacy, QuerySpec, Statistic, run as run_query};
use veil_dp::{Budget, LedgerKey, PrivacyLoss, SecureRng};
use veil_tabular::Table;

use crate::dp_store::{DEFAULT_REPORT_DELTA, DpRelease, DpStore, DpStoreArgs};

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
    /// Input data: CSV with a header row, or Parquet (`.parquet`, `.pq`).
    #[arg(long)]
    data: PathBuf,
    /// A release spec (TOML): several queries with their mechanisms, bounds, budget shares and
    /// group-bys, run as one release charged once. Replaces the single-query flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["epsilon", "rho", "stat"])]
    spec: Option<PathBuf>,
    /// ε spent by this query (Laplace mechanism).
    #[arg(long, required_unless_present_any = ["rho", "spec"], conflicts_with = "rho")]
    epsilon: Option<f64>,
    /// ρ spent by this query (Gaussian mechanism, ρ-zCDP); the (ε, δ) it amounts to at
    /// --delta (default 1e-6) is printed on stderr.
    #[arg(long)]
    rho: Option<f64>,
    /// δ, spent only by private partition selection (group-by over keys not declared public).
    /// With --rho: the δ at which the equivalent (ε, δ) is shown.
    #[arg(long)]
    delta: Option<f64>,
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
    /// Bins for histograms, resolution (bins of the noisy histogram) for quantiles.
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
    #[command(flatten)]
    store: DpStoreArgs,
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
    #[command(flatten)]
    store: DpStoreArgs,
}

/// `veil dp budget set`.
#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    #[command(flatten)]
    key: BudgetKeyArgs,
    /// Total ε (with --zcdp: the ε the zCDP budget must deliver at --delta).
    #[arg(long, required_unless_present = "rho", conflicts_with = "rho")]
    epsilon: Option<f64>,
    /// Total δ (0: a pure-DP budget).
    #[arg(long, default_value_t = 0.0)]
    delta: f64,
    /// Total ρ: a zCDP budget (for Gaussian queries; Laplace queries spend ε²/2).
    #[arg(long)]
    rho: Option<f64>,
    /// With --epsilon and --delta: keep the budget as the largest ρ whose tight conversion
    /// stays within (ε, δ), so Gaussian queries can spend it.
    #[arg(long, requires = "epsilon")]
    zcdp: bool,
}

/// Run `veil dp`.
pub fn run(cmd: DpCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DpCommand::Query(args) => query(*args),
        DpCommand::Budget(BudgetCommand::Show(k)) => {
            let key = LedgerKey::new(k.dataset.clone(), k.privacy_unit.clone());
            let store = DpStore::open(&k.store)?;
            let entry = store.entry(&key);
            store.close();
            let entry = entry?;
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
            let budget = match (s.epsilon, s.rho) {
                (_, Some(rho)) => Budget::Zcdp { rho },
                (Some(epsilon), None) if s.zcdp => Budget::zcdp_for(epsilon, s.delta)?,
                (Some(epsilon), None) if s.delta > 0.0 => Budget::Approx {
                    epsilon,
                    delta: s.delta,
                },
                (Some(epsilon), None) => Budget::Pure { epsilon },
                (None, None) => bail!("give --epsilon (with --delta) or --rho"),
            };
            let key = LedgerKey::new(s.key.dataset.clone(), s.key.privacy_unit.clone());
            let store = DpStore::open(&s.key.store)?;
            let e = store.set_budget(&key, budget);
            store.close();
            let e = e?;
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
    match a.spec.clone() {
        Some(spec) => query_spec(&a, &spec),
        None => query_single(a),
    }
}

fn query_single(a: QueryArgs) -> anyhow::Result<ExitCode> {
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
    let (privacy, delta, report_delta) = match (a.epsilon, a.rho) {
        (_, Some(rho)) => (
            Privacy::Gaussian { rho },
            0.0,
            a.delta.unwrap_or(DEFAULT_REPORT_DELTA),
        ),
        (Some(epsilon), None) => (
            Privacy::Laplace { epsilon },
            a.delta.unwrap_or(0.0),
            DEFAULT_REPORT_DELTA,
        ),
        (None, None) => bail!("give --epsilon (Laplace) or --rho (Gaussian)"),
    };
    let mut spec = QuerySpec::with_privacy(statistic, privacy);
    spec.delta = delta;
    spec.group_by = a.group_by.clone();
    spec.public_keys = a.keys.clone();
    spec.privacy_unit = a.privacy_unit.clone();
    spec.max_groups = a.max_groups;
    spec.max_rows = a.max_rows;
    // Validate bounds and parameters before touching the data or the budget.
    let loss = spec.loss()?;
    let source = Source::open(&a.data)?;
    let data = source.dataset(&spec)?;
    let rows = data.len() as u64;
    let plan = Charge {
        dataset: a.dataset.clone(),
        privacy_unit: a.privacy_unit.clone(),
        loss,
        report_delta,
    };
    let store = plan.open_store(&a.store)?;
    let out = plan.release(store, &a.data, rows, |rng| {
        let release = run_query(&spec, &data, rng)?;
        shape(&spec, &release.answers)
    })?;
    plan.show_conversion();
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn query_spec(a: &QueryArgs, path: &Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the spec `{}`", path.display()))?;
    let plan = veil_dp::release::parse(&path.display().to_string(), &text)?;
    let source = Source::open(&a.data)?;
    let mut datasets = Vec::with_capacity(plan.queries.len());
    for q in &plan.queries {
        let d = source
            .dataset(&q.spec)
            .with_context(|| format!("query `{}`", q.name))?;
        datasets.push(d);
    }
    let rows = datasets.first().map_or(0, |d| d.len() as u64);
    let charge = Charge {
        dataset: a.dataset.clone().or(plan.dataset.clone()),
        privacy_unit: plan.privacy_unit.clone(),
        loss: plan.loss,
        report_delta: plan.report_delta.unwrap_or(DEFAULT_REPORT_DELTA),
    };
    let store = charge.open_store(&a.store)?;
    let results = charge.release(store, &a.data, rows, |rng| {
        let mut results = Vec::with_capacity(plan.queries.len());
        for (q, data) in plan.queries.iter().zip(&datasets) {
            let release =
                run_query(&q.spec, data, rng).with_context(|| format!("query `{}`", q.name))?;
            results.push(json!({
                "name": q.name,
                "loss": q.loss,
                "result": shape(&q.spec, &release.answers)?,
            }));
        }
        Ok(results)
    })?;
    let mut out = json!({ "loss": plan.loss, "queries": results });
    if let (PrivacyLoss::Zcdp { rho }, Some(obj)) = (plan.loss, out.as_object_mut()) {
        obj.insert(
            "as_approx".into(),
            json!({ "epsilon": zcdp_to_epsilon(rho, charge.report_delta), "delta": charge.report_delta }),
        );
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// The answers in the documented form: one object, or a list for group-bys and histograms.
fn shape(spec: &QuerySpec, answers: &[veil_dp::query::Answer]) -> anyhow::Result<Value> {
    let answers: Vec<Value> = answers
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let grouped = spec.group_by.is_some() || matches!(spec.statistic, Statistic::Histogram { .. });
    Ok(if grouped {
        Value::Array(answers)
    } else {
        answers.into_iter().next().unwrap_or(Value::Null)
    })
}

/// What a release spends and where it is charged.
struct Charge {
    dataset: Option<String>,
    privacy_unit: Option<String>,
    loss: PrivacyLoss,
    report_delta: f64,
}

impl Charge {
    /// The store, when this release needs one: a budget to charge or an audit log to write.
    /// Opened before anything is spent, so a store or root key that cannot be had stops the
    /// query first.
    fn open_store(&self, args: &DpStoreArgs) -> anyhow::Result<Option<DpStore>> {
        if self.dataset.is_some() || args.is_gateway() {
            Ok(Some(DpStore::open(args)?))
        } else {
            Ok(None)
        }
    }

    /// Charge the ledger, compute the answers with `answer`, and record the release in the
    /// audit log, in that order: a refused charge spends nothing and computes nothing, and
    /// the answers are returned (to be printed) only once the audit record is durable. If
    /// the record cannot be written nothing is released; the budget stays spent, the
    /// conservative side.
    fn release<T>(
        &self,
        store: Option<DpStore>,
        data: &Path,
        rows: u64,
        answer: impl FnOnce(&mut SecureRng) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let result = self.release_on(store.as_ref(), data, rows, answer);
        if let Some(store) = store {
            store.close();
        }
        result
    }

    fn release_on<T>(
        &self,
        store: Option<&DpStore>,
        data: &Path,
        rows: u64,
        answer: impl FnOnce(&mut SecureRng) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if let (Some(store), Some(name)) = (store, &self.dataset) {
            let unit = self
                .privacy_unit
                .clone()
                .unwrap_or_else(|| "row".to_owned());
            store
                .try_spend(&LedgerKey::new(name.clone(), unit), &self.loss)
                .with_context(|| format!("charging dataset `{name}`"))?;
        }
        let mut rng = SecureRng::from_os()?;
        let out = answer(&mut rng)?;
        if let Some(store) = store.filter(|s| s.audits()) {
            let release = DpRelease::new(data, rows, self.loss, self.report_delta)?;
            store.record(&release)?;
        }
        Ok(out)
    }

    fn show_conversion(&self) {
        if let PrivacyLoss::Zcdp { rho } = self.loss {
            eprintln!(
                "veil: dp: spent rho = {rho} (zCDP), i.e. (epsilon = {:.6}, delta = {})-DP by \
                 the tight conversion",
                zcdp_to_epsilon(rho, self.report_delta),
                self.report_delta
            );
        }
    }
}

/// The input file: CSV is read per query (only the columns it needs, streamed); Parquet is
/// read once through `veil-tabular` and its dictionary-encoded columns reused.
enum Source {
    Csv(PathBuf),
    Parquet(PathBuf, Table),
}

impl Source {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("parquet" | "pq")) {
            let t = Table::read_parquet(path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            Ok(Source::Parquet(path.to_owned(), t))
        } else {
            Ok(Source::Csv(path.to_owned()))
        }
    }

    fn dataset(&self, spec: &QuerySpec) -> anyhow::Result<Dataset> {
        match self {
            Source::Csv(p) => Ok(Dataset::from_csv_path(p, spec)?),
            Source::Parquet(p, t) => dataset_from_table(t, spec, &p.display().to_string()),
        }
    }
}

/// The columns `spec` needs from a `veil-tabular` table. Each distinct value is parsed once;
/// errors name the file, row and column, never the value.
fn dataset_from_table(t: &Table, spec: &QuerySpec, name: &str) -> anyhow::Result<Dataset> {
    let (vcol, gcol, ucol) = spec.columns();
    if (vcol, gcol, ucol) == (None, None, None) {
        // A plain count reads no column, only how many rows there are.
        return Ok(Dataset::rows(t.rows()));
    }
    let col = |c: &str| {
        t.column(c)
            .ok_or_else(|| anyhow::anyhow!("`{name}`: no column `{c}`"))
    };
    let values = match vcol {
        Some(c) => {
            let column = col(c)?;
            let parsed: Vec<Option<f64>> = column
                .dict()
                .iter()
                .map(|s| s.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
                .collect();
            let mut out = Vec::with_capacity(column.codes().len());
            for (row, &code) in column.codes().iter().enumerate() {
                match parsed.get(code as usize).copied().flatten() {
                    Some(x) => out.push(x),
                    None => bail!(
                        "`{name}`: row {}, column `{c}`: not a finite number",
                        row + 1
                    ),
                }
            }
            Some(out)
        }
        None => None,
    };
    let groups = gcol
        .map(|c| col(c).map(|k| (k.codes().to_vec(), k.dict().to_vec())))
        .transpose()?;
    let units = ucol
        .map(|c| col(c).map(|k| k.codes().to_vec()))
        .transpose()?;
    Ok(Dataset::from_interned(values, groups, units)?)
}
