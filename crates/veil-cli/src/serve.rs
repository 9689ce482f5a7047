//! `veil serve`: run the gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use veil_gateway::config::{Config, LogFormat};
use veil_gateway::server::Gateway;

/// Arguments of `veil serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (overrides `server.data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Config file (default: `$VEIL_CONFIG`, else `./veil.toml` if present, else defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Database URL, `postgres://…` to share state between replicas or `sqlite:PATH`
    /// (overrides `store.database_url` and `VEIL_DATABASE_URL`; default: SQLite in the data
    /// directory).
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Loads the config (file, then `VEIL_*` environment), then applies `--data-dir` and
/// `--database-url`, which win over both (shared by `serve` and `keys`).
pub fn load_config(
    config: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
) -> anyhow::Result<Config> {
    let mut config = Config::load(config).context("cannot load configuration")?;
    if let Some(dir) = data_dir {
        config.server.data_dir = dir;
    }
    if let Some(url) = database_url {
        config.store.database_url = Some(url);
    }
    Ok(config)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Log lines carry ids, names, counts and timings; message content never reaches them.
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs `veil serve` until Ctrl-C or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args.config.as_deref(), args.data_dir, args.database_url)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let settings = config.validate().context("invalid configuration")?;
    init_logging(&settings.config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = settings.config.server.listen;
        let models: Vec<String> = settings.models.keys().cloned().collect();
        let (gateway, bootstrap) = Gateway::start(settings)
            .await
            .context("cannot start the gateway")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on `{listen}`"))?;
        let local = listener.local_addr().context("no local address")?;
        if let Some(key) = bootstrap {
            println!("bootstrap admin key (shown once; store it now):");
            println!("{}", key.expose());
        }
        eprintln!(
            "veil: listening on http://{local} (models: {})",
            models.join(", ")
        );
        gateway
            .serve(listener, shutdown_signal())
            .await
            .context("server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
