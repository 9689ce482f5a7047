//! `veil keys create|list|revoke`: manage API keys directly in the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use veil_audit::{Event, KeyChange, KeyChangeEvent};
use veil_gateway::auth::{NewKey, create_key, unix_now};
use veil_gateway::config::Config;
use veil_gateway::recorder::{AuditKeys, now_ms};
use veil_gateway::server::{ensure_data_dir, load_root_key};
use veil_store::{KeyLimits, KeyStore, Store};

/// Where the store is.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Data directory (overrides `server.data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Database URL (overrides `store.database_url`).
    #[arg(long)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The configuration (file, environment and defaults) with these flags applied; touches
    /// nothing on disk.
    pub fn load(&self) -> anyhow::Result<Config> {
        crate::serve::load_config(
            self.config.as_deref(),
            self.data_dir.clone(),
            self.database_url.clone(),
        )
    }
}

/// `veil keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key; prints it (once) alone on the last line of stdout.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// A role to grant (repeatable), for example `admin` or `analyst`.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A model the key may use (repeatable); none means every model.
        #[arg(long = "model")]
        models: Vec<String>,
        /// Days until the key expires; never by default.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Requests per minute for this key.
        #[arg(long)]
        rpm: Option<u64>,
        /// Tokens per minute for this key.
        #[arg(long)]
        tpm: Option<u64>,
        /// Concurrent requests for this key.
        #[arg(long)]
        concurrent: Option<u64>,
        /// A note for operators.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        /// The key id (`key_…`).
        id: String,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The configuration with `args` applied; prepares the data directory when the store is the
/// SQLite file in it (shared by `veil keys` and `veil dp`).
pub fn store_config(args: &StoreArgs) -> anyhow::Result<Config> {
    let config = args.load()?;
    if config.store.database_url.is_none() {
        ensure_data_dir(&config.server.data_dir).context("cannot prepare the data directory")?;
    }
    Ok(config)
}

async fn open(args: &StoreArgs) -> anyhow::Result<Store> {
    Ok(open_with_config(args).await?.0)
}

/// Opens the store and returns it with the config in force.
pub async fn open_with_config(args: &StoreArgs) -> anyhow::Result<(Store, Config)> {
    let config = store_config(args)?;
    let store = Store::connect(&config.database_url())
        .await
        .context("cannot open the store")?;
    Ok((store, config))
}

/// The gateway's audit keys, derived from the root key (`$VEIL_MASTER_KEY` or the data
/// directory's `root.key`, created on first use exactly as `veil serve` would).
pub fn audit_keys(config: &Config) -> anyhow::Result<AuditKeys> {
    ensure_data_dir(&config.server.data_dir).context("cannot prepare the data directory")?;
    let root = load_root_key(&config.server.data_dir).context("cannot load the root key")?;
    AuditKeys::derive(root.expose(), &config.audit).context("cannot derive the audit keys")
}

/// Records a key change made from the command line, signed at once.
async fn record_key_change(
    store: &Store,
    config: &Config,
    key_id: &str,
    change: KeyChange,
) -> anyhow::Result<()> {
    let keys = audit_keys(config)?;
    let event = Event::KeyChange(KeyChangeEvent {
        key_id: key_id.to_owned(),
        change,
        actor: "cli".into(),
    });
    store
        .audit_append_signed(keys.signing(), "cli", "", event, now_ms())
        .await
        .context("cannot record the key change in the audit log")?;
    Ok(())
}

/// Runs a `veil keys` subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match command {
            Command::Create {
                store,
                tenant,
                roles,
                models,
                expires_in_days,
                rpm,
                tpm,
                concurrent,
                description,
            } => {
                let (store, config) = open_with_config(&store).await?;
                let spec = NewKey {
                    tenant,
                    roles,
                    models,
                    expires_at: expires_in_days.map(|d| unix_now() + i64::from(d) * 86_400),
                    limits: KeyLimits {
                        requests_per_minute: rpm,
                        tokens_per_minute: tpm,
                        max_concurrent: concurrent,
                    },
                    description,
                };
                let (secret, record) = create_key(&store, spec)
                    .await
                    .context("cannot create key")?;
                if let Err(err) =
                    record_key_change(&store, &config, &record.id, KeyChange::Created).await
                {
                    // Fail closed: a key whose creation is not in the audit log must not work.
                    let _ = store.revoke_key(&record.id, unix_now()).await;
                    store.close().await;
                    return Err(err);
                }
                store.close().await;
                println!(
                    "created key `{}` for tenant `{}` (shown once; store it now):",
                    record.id, record.tenant
                );
                println!("{}", secret.expose());
            }
            Command::List { store, tenant } => {
                let store = open(&store).await?;
                let keys = store
                    .list_keys(tenant.as_deref())
                    .await
                    .context("cannot list keys")?;
                store.close().await;
                println!("id\ttenant\troles\tmodels\tstatus");
                let now = unix_now();
                for key in keys {
                    let status = if key.revoked_at.is_some() {
                        "revoked"
                    } else if key.is_active(now) {
                        "active"
                    } else {
                        "expired"
                    };
                    let models = if key.models.is_empty() {
                        "*".to_owned()
                    } else {
                        key.models.join(",")
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        key.id,
                        key.tenant,
                        key.roles.join(","),
                        models,
                        status
                    );
                }
            }
            Command::Revoke { store, id } => {
                let (store, config) = open_with_config(&store).await?;
                let revoked = store
                    .revoke_key(&id, unix_now())
                    .await
                    .context("cannot revoke key")?;
                if revoked {
                    record_key_change(&store, &config, &id, KeyChange::Revoked).await?;
                }
                store.close().await;
                if !revoked {
                    anyhow::bail!("no active key `{id}`");
                }
                println!("revoked `{id}`");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
