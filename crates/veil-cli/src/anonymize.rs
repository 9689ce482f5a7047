//! `veil anonymize`: k-anonymity, l-diversity and t-closeness for CSV files.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use veil_tabular::{
    Algorithm, IdentifierAction, LDiversity, LVariant, Metric, Options, Privacy, PseudonymKey,
    Schema, TCloseness, TDistance, Table,
};

/// Environment variable holding the master key (used when `--key-file` is absent).
const ENV_MASTER_KEY: &str = "VEIL_MASTER_KEY";

/// Inputs larger than this get a progress bar when stderr is a terminal.
const PROGRESS_BYTES: u64 = 32 << 20;

/// Anonymize a CSV or Parquet file (k-anonymity, l-diversity, t-closeness) and report risk and utility.
///
/// Quick form, hierarchies generated from the data:
/// `veil anonymize --qi age,sex,zip --sensitive diagnosis --k 5 in.csv out.csv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input file: CSV with a header row, or Parquet (`.parquet`).
    input: PathBuf,
    /// The output file, same format as the input; with `--infer-schema`, the schema file
    /// (standard output when absent).
    output: Option<PathBuf>,
    /// Quasi-identifier columns (generalized), comma-separated.
    #[arg(long, value_delimiter = ',')]
    qi: Vec<String>,
    /// Sensitive columns (kept; constrained by l-diversity and t-closeness).
    #[arg(long, value_delimiter = ',')]
    sensitive: Vec<String>,
    /// Identifier columns to drop.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// Identifier columns to replace by keyed HMAC-SHA256 pseudonyms.
    #[arg(long, value_delimiter = ',')]
    pseudonymize: Vec<String>,
    /// Minimum equivalence-class size (default 5, or the schema's).
    #[arg(long)]
    k: Option<usize>,
    /// l for l-diversity.
    #[arg(long)]
    l: Option<f64>,
    /// The l-diversity variant.
    #[arg(long, value_enum)]
    l_variant: Option<LVariantArg>,
    /// c for recursive (c,l)-diversity.
    #[arg(long)]
    c: Option<f64>,
    /// t for t-closeness.
    #[arg(long)]
    t: Option<f64>,
    /// The t-closeness ground distance.
    #[arg(long, value_enum)]
    t_distance: Option<TDistanceArg>,
    /// Largest share of records that may be suppressed, 0 to 1 (default 0).
    #[arg(long)]
    suppression: Option<f64>,
    /// The search algorithm.
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Auto)]
    algorithm: AlgorithmArg,
    /// The utility metric to optimize.
    #[arg(long, value_enum, default_value_t = MetricArg::Loss)]
    metric: MetricArg,
    /// A schema file (TOML) with roles, types and hierarchies.
    #[arg(long, conflicts_with_all = ["qi", "sensitive", "drop", "pseudonymize"])]
    schema: Option<PathBuf>,
    /// Write a schema inferred from the input instead of anonymizing.
    #[arg(long)]
    infer_schema: bool,
    /// Write an HTML report with charts here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the JSON report here (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Per-record risk above which a record counts as at risk in the report.
    #[arg(long, default_value_t = 0.2)]
    risk_threshold: f64,
    /// File holding the master key for pseudonyms (else `VEIL_MASTER_KEY`).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgorithmArg {
    Auto,
    Flash,
    Mondrian,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MetricArg {
    Loss,
    Height,
    Precision,
    Entropy,
    Discernibility,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LVariantArg {
    Distinct,
    Entropy,
    Recursive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TDistanceArg {
    Auto,
    Equal,
    Hierarchical,
    Ordered,
}

/// Runs `veil anonymize`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let parquet = is_parquet(&args.input);
    let table = if parquet {
        Table::read_parquet(&args.input)?
    } else {
        read_table(&args.input)?
    };
    if args.infer_schema {
        let text = veil_tabular::infer_schema(&table);
        match &args.output {
            Some(p) => std::fs::write(p, text)
                .with_context(|| format!("cannot write `{}`", p.display()))?,
            None => print!("{text}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(output) = &args.output else {
        bail!("give an output file after the input file")
    };
    if is_parquet(output) != parquet {
        let format = if parquet { "parquet" } else { "CSV" };
        bail!(
            "the output `{}` must be {format}, like the input",
            output.display()
        );
    }

    let (plan, spec) = match &args.schema {
        Some(path) => {
            let (schema, text) = Schema::read(path)?;
            let plan = schema.resolve(&table, &text, path)?;
            (plan, schema.privacy.unwrap_or_default())
        }
        None => {
            let ids: Vec<(String, IdentifierAction)> = args
                .drop
                .iter()
                .map(|c| (c.clone(), IdentifierAction::Drop))
                .chain(
                    args.pseudonymize
                        .iter()
                        .map(|c| (c.clone(), IdentifierAction::Hash)),
                )
                .collect();
            (
                veil_tabular::plan_from_flags(&table, &args.qi, &args.sensitive, &ids)?,
                Default::default(),
            )
        }
    };

    let l_variant = args.l_variant.map(|v| match v {
        LVariantArg::Distinct => LVariant::Distinct,
        LVariantArg::Entropy => LVariant::Entropy,
        LVariantArg::Recursive => LVariant::Recursive,
    });
    let l = args.l.or(spec.l).map(|l| LDiversity {
        variant: l_variant.or(spec.l_variant).unwrap_or(LVariant::Distinct),
        l,
        c: args.c.or(spec.c).unwrap_or(1.0),
    });
    let t_distance = args
        .t_distance
        .map(|d| match d {
            TDistanceArg::Auto => TDistance::Auto,
            TDistanceArg::Equal => TDistance::Equal,
            TDistanceArg::Hierarchical => TDistance::Hierarchical,
            TDistanceArg::Ordered => TDistance::Ordered,
        })
        .or(spec.t_distance)
        .unwrap_or(TDistance::Auto);
    let options = Options {
        privacy: Privacy {
            k: args.k.or(spec.k).unwrap_or(5),
            l,
            t: args.t.or(spec.t).map(|t| TCloseness {
                t,
                distance: t_distance,
            }),
            suppression: args.suppression.or(spec.suppression).unwrap_or(0.0),
        },
        algorithm: match args.algorithm {
            AlgorithmArg::Auto => Algorithm::Auto,
            AlgorithmArg::Flash => Algorithm::Flash,
            AlgorithmArg::Mondrian => Algorithm::Mondrian,
        },
        metric: match args.metric {
            MetricArg::Loss => Metric::Loss,
            MetricArg::Height => Metric::Height,
            MetricArg::Precision => Metric::Precision,
            MetricArg::Entropy => Metric::Entropy,
            MetricArg::Discernibility => Metric::Discernibility,
        },
        risk_threshold: args.risk_threshold,
        t_distance,
    };
    let key = if plan
        .identifiers
        .iter()
        .any(|(_, a)| *a == IdentifierAction::Hash)
    {
        Some(load_key(args.key_file.as_deref())?)
    } else {
        None
    };

    let spinner = progress_spinner(&args.input, "searching");
    let result = veil_tabular::anonymize(&table, &plan, &options, key.as_ref());
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let release = match result {
        Ok(r) => r,
        Err(e) if e.is_unsatisfiable() => {
            eprintln!("veil: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if parquet {
        release.table.write_parquet(output)?;
    } else {
        release.table.write_csv(output)?;
    }
    let report = &release.report;
    if let Some(path) = &args.report {
        std::fs::write(path, report.html())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    match &args.json {
        Some(p) if p.as_os_str() == "-" => println!("{}", report.to_json()),
        Some(p) => std::fs::write(p, report.to_json())
            .with_context(|| format!("cannot write `{}`", p.display()))?,
        None => {}
    }
    if !args.quiet {
        eprint!("{}", report.summary());
    }
    Ok(ExitCode::SUCCESS)
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn read_table(path: &Path) -> anyhow::Result<Table> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len >= PROGRESS_BYTES && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(len).with_message("reading");
        let reader = bar.wrap_read(std::io::BufReader::with_capacity(1 << 20, file));
        let table = Table::read_csv_from(reader, path)?;
        bar.finish_and_clear();
        Ok(table)
    } else {
        Ok(Table::read_csv_from(
            std::io::BufReader::with_capacity(1 << 20, file),
            path,
        )?)
    }
}

fn progress_spinner(input: &Path, message: &'static str) -> Option<indicatif::ProgressBar> {
    let big = std::fs::metadata(input).is_ok_and(|m| m.len() >= PROGRESS_BYTES);
    if !(big && std::io::stderr().is_terminal()) {
        return None;
    }
    let s = indicatif::ProgressBar::new_spinner().with_message(message);
    s.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(s)
}

fn load_key(file: Option<&Path>) -> anyhow::Result<PseudonymKey> {
    let bytes = match file {
        Some(p) => {
            std::fs::read(p).with_context(|| format!("cannot read key file `{}`", p.display()))?
        }
        None => match std::env::var(ENV_MASTER_KEY) {
            Ok(v) => v.into_bytes(),
            Err(_) => {
                bail!("pseudonymizing needs a key: give `--key-file` or set `{ENV_MASTER_KEY}`")
            }
        },
    };
    let trimmed: &[u8] = bytes.trim_ascii();
    Ok(PseudonymKey::from_master(trimmed)?)
}
