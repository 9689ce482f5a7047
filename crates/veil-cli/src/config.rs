//! `veil config check|example`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use veil_gateway::config::{Config, EXAMPLE};

/// `veil config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the configuration (file, `VEIL_*` overrides, secrets by reference).
    Check {
        /// Config file (default: `$VEIL_CONFIG`, else `./veil.toml` if present, else defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a documented example `veil.toml`.
    Example,
}

/// Runs a `veil config` subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { config } => {
            let settings = Config::load(config.as_deref())
                .and_then(|c| c.validate())
                .context("configuration is invalid")?;
            println!(
                "configuration ok: listen {}, data dir `{}`, models: {}",
                settings.config.server.listen,
                settings.config.server.data_dir.display(),
                settings
                    .models
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Command::Example => print!("{EXAMPLE}"),
    }
    Ok(ExitCode::SUCCESS)
}
