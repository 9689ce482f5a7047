//! The `veil` binary: parses arguments and hands over to a subcommand's `run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyzer_flags;
mod anonymize;
mod audit;
mod audit_db;
mod config;
mod dp;
mod dp_store;
mod explain;
mod guard;
mod keys;
mod models;
mod policy;
mod redact;
mod scan;
mod serve;

// mimalloc instead of glibc's malloc: in a CPU profile of the gateway at 3,000 req/s,
// allocation and freeing (`malloc`, `_int_malloc`, `_int_free`, `malloc_consolidate`, …) took
// about 12 % of the samples; see docs/benchmarks.md ("Quiet-window figures").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Score prompts for prompt injection and jailbreak attempts (JSON lines in and out).
    Guard(guard::Args),
    /// Verify, prove, export and query the tamper-evident audit log.
    Audit(audit::Args),
    /// Show the decision path of one request, from its audit records (never values).
    Explain(explain::Args),
    /// Detect sensitive data and protect it (tag, redact, mask, hash, encrypt, fpe, surrogate).
    Redact(Box<redact::Args>),
    /// Find sensitive data in a file or stdin.
    Scan(scan::Args),
    /// Anonymize a dataset: k-anonymity, l-diversity, t-closeness; risk and utility report.
    Anonymize(Box<anonymize::Args>),
    /// Run the gateway.
    Serve(serve::Args),
    /// Register local GGUF models (SHA-256 and size recorded) and list them.
    Models(models::ModelsArgs),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::Command),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(config::Command),
    /// Validate the Cedar policy set and run its test cases.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Differential privacy: noisy queries and privacy budgets.
    #[command(subcommand)]
    Dp(dp::DpCommand),
}

fn main() -> ExitCode {
    if let Err(missing) = check_cpu() {
        eprintln!(
            "veil: error: this build needs a CPU with {missing} (x86-64-v3, set in \
             .cargo/config.toml); rebuild with RUSTFLAGS=\"-C target-cpu=x86-64\" for this CPU"
        );
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classes => classes(),
        Command::Guard(args) => guard::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Redact(args) => redact::run(*args),
        Command::Scan(args) => scan::run(args),
        Command::Anonymize(args) => anonymize::run(*args),
        Command::Serve(args) => serve::run(args),
        Command::Models(args) => models::run(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Config(cmd) => config::run(cmd),
        Command::Dp(cmd) => dp::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
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

/// The build targets x86-64-v3 (`.cargo/config.toml`); say so plainly on an older CPU instead
/// of dying on an illegal instruction somewhere later. Asks CPUID directly:
/// `is_x86_feature_detected!` answers `true` at compile time for a feature the build enables.
#[cfg(target_arch = "x86_64")]
fn check_cpu() -> Result<(), &'static str> {
    use std::arch::x86_64::__cpuid_count;
    let leaf1 = __cpuid_count(1, 0);
    let leaf7 = __cpuid_count(7, 0);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    if cfg!(target_feature = "avx2") && !(osxsave && leaf7.ebx & (1 << 5) != 0) {
        return Err("AVX2");
    }
    if cfg!(target_feature = "fma") && leaf1.ecx & (1 << 12) == 0 {
        return Err("FMA");
    }
    Ok(())
}

#[cfg(not(target_arch = "x86_64"))]
fn check_cpu() -> Result<(), &'static str> {
    Ok(())
}

fn classes() -> anyhow::Result<ExitCode> {
    for class in veil_detect::DataClass::BUILT_IN {
        println!("{class}");
    }
    Ok(ExitCode::SUCCESS)
}
