//! The detection flags `veil scan` and `veil redact` share, turned into one `Analyzer`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use veil_detect::{Analyzer, DataClass};

/// The flags that shape detection, borrowed from a subcommand's arguments.
pub struct AnalyzerFlags<'a> {
    /// `--entities`: classes to report (empty means all).
    pub entities: &'a [String],
    /// `--min-score`.
    pub min_score: Option<f32>,
    /// `--custom FILE.toml`: custom recognizers.
    pub custom: Option<&'a PathBuf>,
    /// `--allow-list FILE`: exact values never reported, one per line.
    pub allow_list: Option<&'a PathBuf>,
}

/// Builds the analyzer, with errors that name the flag or file (never a value from the input).
pub fn build(flags: AnalyzerFlags<'_>) -> anyhow::Result<Analyzer> {
    let mut builder = Analyzer::builder();
    if !flags.entities.is_empty() {
        let classes = flags
            .entities
            .iter()
            .map(|e| DataClass::parse_any(e.trim()))
            .collect::<Result<Vec<_>, _>>()
            .context("invalid --entities")?;
        builder = builder.entities(classes);
    }
    if let Some(score) = flags.min_score {
        if !(0.0..=1.0).contains(&score) {
            bail!("--min-score must be between 0 and 1, got `{score}`");
        }
        builder = builder.min_score(score);
    }
    if let Some(path) = flags.custom {
        let toml = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        builder = builder
            .custom_recognizers_toml(&toml)
            .with_context(|| format!("in `{}`", path.display()))?;
    }
    if let Some(path) = flags.allow_list {
        let list = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        builder = builder.allow_list(
            list.lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(builder.build()?)
}
