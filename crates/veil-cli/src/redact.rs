//! `veil redact`: detect sensitive data in text, JSON Lines or CSV and protect it.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, ValueEnum};
use veil_detect::{Analyzer, DataClass};
use veil_protect::{
    MemoryStore, Operator, Policy, Protector, ScopeId, keys,
    stream::{self, Format, Options},
};

/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// Arguments of `veil redact`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Input file; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,

    /// Write the result here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Operator for one class, e.g. `US_SSN=mask:4` or `EMAIL_ADDRESS=surrogate` (repeatable).
    /// Operators: tag, redact, mask[:N[:C]], hash[:N], encrypt, fpe, surrogate, keep.
    #[arg(long = "operator", value_name = "CLASS=OP")]
    pub operators: Vec<String>,

    /// Operator for every class without its own `--operator`.
    #[arg(long, value_name = "OP", default_value = "tag")]
    pub default_operator: String,

    /// Input format; guessed from `--jsonl-field`, `--csv-column` or the file extension
    /// (`.jsonl`, `.ndjson`, `.csv`) when not given.
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// JSON Lines: redact this string field (top-level name or JSON pointer such as
    /// `/user/note`; repeatable). Without it every string value is redacted.
    #[arg(long = "jsonl-field", value_name = "NAME")]
    pub jsonl_fields: Vec<String>,

    /// CSV: redact this column (header name; repeatable). Without it every column is.
    #[arg(long = "csv-column", value_name = "NAME")]
    pub csv_columns: Vec<String>,

    /// Drop invalid lines or records (and count them) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,

    /// Root key file for keyed operators (hash, encrypt, fpe, surrogate); created with mode
    /// 0600 when missing. `VEIL_MASTER_KEY` (hex or base64) takes precedence.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Only detect these classes (comma-separated), e.g. `EMAIL_ADDRESS,US_SSN`.
    #[arg(long, value_delimiter = ',', value_name = "CLASSES")]
    pub entities: Vec<String>,

    /// Minimum score in [0, 1] for a finding to be redacted.
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f32>,

    /// Custom recognizers (TOML with `[[recognizer]]` tables), as for `veil scan --custom`.
    #[arg(long, value_name = "FILE.toml")]
    pub custom: Option<PathBuf>,

    /// Values never redacted, one per line, as for `veil scan --allow-list`.
    #[arg(long, value_name = "FILE")]
    pub allow_list: Option<PathBuf>,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Plain text, line by line.
    Text,
    /// JSON Lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// Runs `veil redact`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = policy(&args)?;
    let format = format(&args)?;
    let analyzer = analyzer(&args)?;
    let env_key = std::env::var(keys::MASTER_KEY_ENV).ok();
    let root = if policy.needs_key() || args.key_file.is_some() {
        keys::resolve(args.key_file.as_deref(), env_key.as_deref())
            .context("cannot load the root key")?
    } else {
        None
    };
    let protector = Protector::new(
        policy,
        ScopeId::new("default", "redact"),
        Arc::new(MemoryStore::new()),
        root.as_ref(),
    )?;

    let stdin = io::stdin();
    let (input, size): (Box<dyn BufRead>, Option<u64>) = match args.input.as_deref() {
        None => (Box::new(stdin.lock()), None),
        Some(path) if path == Path::new("-") => (Box::new(stdin.lock()), None),
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(BufReader::with_capacity(1 << 16, file)), size)
        }
    };
    let progress = match size {
        Some(len) if len >= PROGRESS_MIN_BYTES && io::stderr().is_terminal() => {
            Some(indicatif::ProgressBar::new(len))
        }
        _ => None,
    };
    let input: Box<dyn BufRead> = match &progress {
        Some(bar) => Box::new(BufReader::with_capacity(1 << 16, bar.wrap_read(input))),
        None => input,
    };
    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let output = BufWriter::with_capacity(1 << 16, output);

    let mut counts: BTreeMap<DataClass, u64> = BTreeMap::new();
    let mut transform = stream::transform(|text| {
        let findings = analyzer.analyze(text);
        if findings.is_empty() {
            return Ok(Cow::Borrowed(text));
        }
        let protected = protector.protect(text, &findings)?;
        for change in &protected.changes {
            *counts.entry(change.class.clone()).or_insert(0) += 1;
        }
        Ok(Cow::Owned(protected.text))
    });
    let options = Options {
        skip_invalid: args.skip_invalid,
        ..Options::default()
    };
    let source = args
        .input
        .as_deref()
        .filter(|p| *p != Path::new("-"))
        .map_or_else(
            || "standard input".to_owned(),
            |p| format!("`{}`", p.display()),
        );
    let result = stream::process(&format, input, output, &options, &mut transform);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let report = result.with_context(|| format!("cannot redact {source}"))?;
    summary(&report, &counts);
    Ok(ExitCode::SUCCESS)
}

fn policy(args: &Args) -> anyhow::Result<Policy> {
    let default: Operator = args
        .default_operator
        .parse()
        .context("bad --default-operator")?;
    let mut policy = Policy::new(default);
    for rule in &args.operators {
        // A misspelt class (`US_SNN`) would parse as a custom class and silently never
        // match; without custom recognizers only built-in classes make sense.
        if let Some((class, _)) = rule.split_once('=')
            && args.custom.is_none()
            && class.trim().parse::<DataClass>().is_err()
        {
            bail!(
                "unknown data class `{}` in --operator (see `veil classes`; custom classes need --custom)",
                class.trim()
            );
        }
        policy = policy.with_rule(rule).context("bad --operator")?;
    }
    Ok(policy)
}

fn format(args: &Args) -> anyhow::Result<Format> {
    let extension = args
        .input
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let chosen = match args.format {
        Some(f) => f,
        None if !args.csv_columns.is_empty() => InputFormat::Csv,
        None if !args.jsonl_fields.is_empty() => InputFormat::Jsonl,
        None => match extension.as_deref() {
            Some("csv") => InputFormat::Csv,
            Some("jsonl" | "ndjson") => InputFormat::Jsonl,
            _ => InputFormat::Text,
        },
    };
    match chosen {
        InputFormat::Text if !args.jsonl_fields.is_empty() || !args.csv_columns.is_empty() => {
            bail!("--jsonl-field and --csv-column do not apply to --format text")
        }
        InputFormat::Jsonl if !args.csv_columns.is_empty() => {
            bail!("--csv-column does not apply to JSON Lines input")
        }
        InputFormat::Csv if !args.jsonl_fields.is_empty() => {
            bail!("--jsonl-field does not apply to CSV input")
        }
        InputFormat::Text => Ok(Format::Text),
        InputFormat::Jsonl => Ok(Format::Jsonl {
            fields: args.jsonl_fields.clone(),
        }),
        InputFormat::Csv => Ok(Format::Csv {
            columns: args.csv_columns.clone(),
        }),
    }
}

fn analyzer(args: &Args) -> anyhow::Result<Analyzer> {
    crate::analyzer_flags::build(crate::analyzer_flags::AnalyzerFlags {
        entities: &args.entities,
        min_score: args.min_score,
        custom: args.custom.as_ref(),
        allow_list: args.allow_list.as_ref(),
    })
}

/// The closing summary on stderr: counts only, never values.
fn summary(report: &stream::Report, counts: &BTreeMap<DataClass, u64>) {
    let mut err = io::stderr().lock();
    let total: u64 = counts.values().sum();
    let _ = writeln!(
        err,
        "veil redact: {} records, {} skipped as invalid, {} values changed",
        report.records, report.skipped, total
    );
    for (class, n) in counts {
        let _ = writeln!(err, "  {:<24} {n}", class.as_str());
    }
    for example in &report.skip_examples {
        let _ = writeln!(err, "  skipped {example}");
    }
    if report.skipped > report.skip_examples.len() as u64 {
        let _ = writeln!(
            err,
            "  ... and {} more skipped",
            report.skipped - report.skip_examples.len() as u64
        );
    }
}
