//! `veil models`: register local GGUF models (hash and size recorded) and list them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use veil_local::Registry;

/// Arguments of `veil models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Data directory holding `models.toml` (overrides `server.data_dir`, as `serve` does).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Config file (default: `$VEIL_CONFIG`, else `./veil.toml` if present, else defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Validate a GGUF file and register it under NAME with its SHA-256 and size.
    Add {
        /// Name used to route requests to this model.
        name: String,
        /// The GGUF file (e.g. from `scripts/fetch-model`).
        file: PathBuf,
    },
    /// List registered models.
    List,
    /// Load a registered model, refusing it if its file changed since `add`.
    Verify {
        /// Registered model name.
        name: String,
    },
}

/// Runs `veil models`.
pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    // The same data directory `veil serve` will read the registry from.
    let data_dir = crate::serve::load_config(args.config.as_deref(), args.data_dir, None)?
        .server
        .data_dir;
    match args.command {
        ModelsCommand::Add { name, file } => {
            let mut registry = Registry::open(&data_dir)?;
            let (entry, info) = registry
                .add(&name, &file)
                .with_context(|| format!("cannot add model `{name}`"))?;
            println!(
                "added `{}`: {} ({} tensors, vocabulary {}, chat template: {}), {} bytes, sha256 {}",
                entry.name,
                info.name.as_deref().unwrap_or(&info.architecture),
                info.tensor_count,
                info.vocab_size,
                if info.has_chat_template {
                    "yes"
                } else {
                    "no, ChatML used"
                },
                entry.size,
                entry.sha256
            );
        }
        ModelsCommand::List => {
            let registry = Registry::open(&data_dir)?;
            if registry.models().is_empty() {
                println!("no models in `{}`", data_dir.display());
            }
            for m in registry.models() {
                println!(
                    "{}\t{}\t{} bytes\tsha256 {}\t{}",
                    m.name,
                    m.architecture,
                    m.size,
                    m.sha256,
                    m.file.display()
                );
            }
        }
        ModelsCommand::Verify { name } => {
            let registry = Registry::open(&data_dir)?;
            registry
                .load(&name)
                .with_context(|| format!("model `{name}` refused"))?;
            println!("model `{name}` verified and loaded");
        }
    }
    Ok(ExitCode::SUCCESS)
}
