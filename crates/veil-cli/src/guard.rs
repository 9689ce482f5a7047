//! `veil guard`: score prompts for injection and jailbreak attempts, one JSON string per line.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use veil_guard::{Guard, GuardConfig, Origin};

/// Score prompts for prompt injection and jailbreak attempts.
///
/// Reads one JSON string per line (a prompt) and prints one JSON object per line:
/// `{"attack": bool, "score": float, "signals": [...]}`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file with one JSON string per line; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// Score at or above which a prompt is an attack (default: the origin's calibrated
    /// threshold).
    #[arg(long, value_parser = parse_threshold)]
    pub threshold: Option<f32>,
    /// Where the text comes from; tool results and documents get the stricter profile.
    #[arg(long, value_enum, default_value_t = OriginArg::User)]
    pub origin: OriginArg,
    /// Skip lines that are not a JSON string (reported on stderr) instead of failing.
    #[arg(long)]
    pub skip_invalid: bool,
}

/// The origin of the scored text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OriginArg {
    /// Written by the caller.
    User,
    /// A tool or function result.
    Tool,
    /// A retrieved document.
    Document,
}

impl From<OriginArg> for Origin {
    fn from(o: OriginArg) -> Self {
        match o {
            OriginArg::User => Origin::User,
            OriginArg::Tool => Origin::Tool,
            OriginArg::Document => Origin::Document,
        }
    }
}

fn parse_threshold(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not within 0 and 1"))
    }
}

#[derive(serde::Serialize)]
struct Output<'a> {
    attack: bool,
    score: f32,
    signals: &'a [veil_guard::Signal],
}

/// Runs `veil guard`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let origin = Origin::from(args.origin);
    let mut config = GuardConfig::default();
    match origin {
        Origin::User => config.user_threshold = args.threshold,
        Origin::Tool => config.tool_threshold = args.threshold,
        Origin::Document => config.document_threshold = args.threshold,
    }
    let guard = Guard::new(&config).context("cannot build the guard")?;

    let (reader, name): (Box<dyn BufRead>, String) = match &args.input {
        None => (Box::new(std::io::stdin().lock()), "<stdin>".to_owned()),
        Some(p) if p.as_os_str() == "-" => {
            (Box::new(std::io::stdin().lock()), "<stdin>".to_owned())
        }
        Some(p) => {
            let file =
                std::fs::File::open(p).with_context(|| format!("cannot open `{}`", p.display()))?;
            (
                Box::new(std::io::BufReader::new(file)),
                p.display().to_string(),
            )
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut skipped = 0usize;
    for (index, line) in reader.lines().enumerate() {
        let lineno = index + 1;
        let line = line.with_context(|| format!("cannot read `{name}` line {lineno}"))?;
        if line.trim().is_empty() {
            continue;
        }
        // Errors name the line and the JSON error position, never the prompt text.
        let prompt: String = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                let why = format!(
                    "`{name}` line {lineno}, column {}: expected one JSON string per line ({})",
                    e.column(),
                    classify(&e)
                );
                if args.skip_invalid {
                    eprintln!("veil: skipped {why}");
                    skipped += 1;
                    continue;
                }
                bail!(why);
            }
        };
        let verdict = guard.score(&prompt, origin);
        let record = Output {
            attack: verdict.attack,
            score: verdict.score,
            signals: &verdict.signals,
        };
        serde_json::to_writer(&mut out, &record).context("cannot write output")?;
        out.write_all(b"\n").context("cannot write output")?;
    }
    out.flush().context("cannot write output")?;
    if skipped > 0 {
        eprintln!("veil: skipped {skipped} invalid line(s)");
    }
    Ok(ExitCode::SUCCESS)
}

/// A short reason that does not echo the input.
fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "not a string",
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Io => "read error",
    }
}
