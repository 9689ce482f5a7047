//! `veil policy check|test`: validate a policy set against its schema and run its test cases.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::Subcommand;
use veil_policy::{Policies, Sources, TestCases};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the `.cedar` files against the schema and the class groups.
    Check {
        /// Directory with `*.cedar`, `schema.cedarschema`, `groups.toml` (default: the embedded set).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
    /// Run the `*.tests.toml` cases next to the policies.
    Test {
        /// Directory with `*.cedar` and `*.tests.toml` (default: the embedded set).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
}

/// Runs a policy subcommand. Exit 0: valid / all cases pass; 1: a case failed; 2: invalid set.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { policies } => {
            let sources = sources(policies.as_ref())?;
            let count = sources.policies.len();
            match Policies::load(sources) {
                Ok(set) => {
                    println!("ok: {} policies in {count} files", set.policy_ids().count());
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("{err}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Test { policies } => {
            let sources = sources(policies.as_ref())?;
            let tests = sources.tests.clone();
            let set = match Policies::load(sources) {
                Ok(set) => set,
                Err(err) => {
                    eprintln!("{err}");
                    return Ok(ExitCode::from(2));
                }
            };
            let (mut passed, mut failed) = (0usize, 0usize);
            for (file, text) in &tests {
                let cases = TestCases::parse(file, text).with_context(|| format!("`{file}`"))?;
                for outcome in cases.run(file, &set) {
                    if outcome.passed() {
                        passed += 1;
                    } else {
                        failed += 1;
                        println!("FAIL {}: {}", outcome.file, outcome.name);
                        for failure in &outcome.failures {
                            println!("  {failure}");
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn sources(dir: Option<&PathBuf>) -> anyhow::Result<Sources> {
    match dir {
        Some(dir) => Sources::from_dir(dir).map_err(|err| anyhow::anyhow!("{err}")),
        None => Ok(Sources::default_set()),
    }
}
