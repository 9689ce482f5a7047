//! The `veil` binary: parses arguments and hands over to a subcommand's `run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod dp;
mod dp_ledger;

/// Veil: the privacy and security layer for generative AI on sensitive data.
#[derive(Debug, Parser)]
#[command(name = "veil", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One variant per subcommand; each lives in its own module with `Args` and `run`.
#[derive(Debug, Subcommand)]
enum Command {
    /// List the data classes Veil knows.
    Classes,
    /// Differential privacy: noisy queries and privacy budgets.
    #[command(subcommand)]
    Dp(dp::DpCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classes => classes(),
        Command::Dp(cmd) => dp::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the context chain on one line. Errors never carry sensitive text.
            eprintln!("veil: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn classes() -> anyhow::Result<ExitCode> {
    for class in veil_detect::DataClass::BUILT_IN {
        println!("{class}");
    }
    Ok(ExitCode::SUCCESS)
}
