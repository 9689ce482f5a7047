//! Where `veil dp` keeps its evidence: the budget ledger and, on the gateway's store, the
//! audit log.
//!
//! Two ways to name the store:
//!
//! - **The gateway's store** (`--data-dir`, `--database-url` or `--config`, as for `veil keys`
//!   and `veil serve`): budgets live in its ledger tables, and every release becomes one
//!   `DataRelease` record in the same audit log as the gateway's exchanges, appended with
//!   [`Store::audit_data_release`] and signed at once with the checkpoint key derived from the
//!   deployment's root key (`VEIL_MASTER_KEY` or `DATA_DIR/root.key`, as `veil serve` loads
//!   it), so `verify` checks DP releases and gateway traffic with one public key.
//! - **A ledger alone** (`--ledger PATH|URL`, `VEIL_DP_LEDGER`, default `.veil/veil.db`):
//!   budgets only. Without the root key there is nothing to sign with, so no audit record.
//!
//! `veil-store` is async; a single-threaded runtime lives for one command.

use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};
use veil_audit::{DataReleaseEvent, Hash};
use veil_dp::accountant::zcdp_to_epsilon;
use veil_dp::{Budget, LedgerEntry, LedgerKey, PrivacyLoss};
use veil_gateway::recorder::AuditKeys;
use veil_store::{LedgerStore, Store};

use crate::keys::StoreArgs;

/// δ at which a zCDP spend is shown and recorded as ε when the release names none.
pub const DEFAULT_REPORT_DELTA: f64 = 1e-6;

/// The ledger used when no store is named.
const DEFAULT_LEDGER: &str = ".veil/veil.db";

/// Which store `veil dp` uses.
#[derive(Debug, Args)]
pub struct DpStoreArgs {
    /// A ledger database alone (no audit records): a SQLite path, a `sqlite:` URL or a
    /// `postgres://` URL [default: .veil/veil.db].
    #[arg(long, env = "VEIL_DP_LEDGER", conflicts_with_all = ["data_dir", "database_url", "config"])]
    ledger: Option<String>,
    /// The gateway's store: budgets in its ledger, and one audit record per release in its
    /// audit log, signed with the key derived from its root key.
    #[command(flatten)]
    store: StoreArgs,
}

impl DpStoreArgs {
    pub(crate) fn is_gateway(&self) -> bool {
        self.store.data_dir.is_some()
            || self.store.database_url.is_some()
            || self.store.config.is_some()
    }
}

/// An open store for one command.
pub struct DpStore {
    rt: tokio::runtime::Runtime,
    store: Store,
    /// The audit keys when the store is the gateway's.
    audit: Option<AuditKeys>,
    name: String,
}

impl DpStore {
    /// Open the store named by `args`; on the gateway's store, also load its root key and
    /// derive the audit signing key (before anything is spent, so a missing key stops the
    /// command first).
    pub fn open(args: &DpStoreArgs) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let (url, audit) = if args.is_gateway() {
            let config = crate::keys::store_config(&args.store)?;
            // The root key lives in the data directory even when the database is elsewhere.
            let keys = crate::keys::audit_keys(&config)?;
            (config.database_url(), Some(keys))
        } else {
            (
                args.ledger.clone().unwrap_or_else(|| DEFAULT_LEDGER.into()),
                None,
            )
        };
        let name = redact_url(&url);
        let opened = if url.contains(':') {
            rt.block_on(Store::connect(&url))
        } else {
            rt.block_on(Store::open_sqlite(Path::new(&url)))
        };
        let store = opened.with_context(|| format!("cannot open the store `{name}`"))?;
        Ok(Self {
            rt,
            store,
            audit,
            name,
        })
    }

    /// Whether releases are recorded in an audit log.
    pub fn audits(&self) -> bool {
        self.audit.is_some()
    }

    /// The ledger entry for `key`.
    pub fn entry(&self, key: &LedgerKey) -> anyhow::Result<Option<LedgerEntry>> {
        self.rt
            .block_on(self.store.ledger_entry(key))
            .with_context(|| format!("reading the ledger `{}`", self.name))
    }

    /// Set the budget for `key`; what was spent is kept.
    pub fn set_budget(&self, key: &LedgerKey, budget: Budget) -> anyhow::Result<LedgerEntry> {
        self.rt
            .block_on(self.store.set_budget(key, budget))
            .with_context(|| format!("writing the ledger `{}`", self.name))
    }

    /// Charge `loss` to `key`, atomically; refused (spending nothing) if it does not fit.
    pub fn try_spend(&self, key: &LedgerKey, loss: &PrivacyLoss) -> anyhow::Result<LedgerEntry> {
        Ok(self.rt.block_on(self.store.try_spend(key, loss))?)
    }

    /// Append the release's `DataRelease` record and sign a checkpoint covering it, in one
    /// transaction. Returns the record's seq, or `None` when this store keeps no audit log.
    pub fn record(&self, release: &DpRelease) -> anyhow::Result<Option<u64>> {
        let Some(keys) = &self.audit else {
            return Ok(None);
        };
        let seq = self
            .rt
            .block_on(self.store.audit_data_release(
                keys.signing(),
                &release.actor,
                release.event(),
                now_ms(),
            ))
            .context("cannot write the data-release audit record")?;
        Ok(Some(seq))
    }

    /// Close the connections.
    pub fn close(self) {
        self.rt.block_on(self.store.close());
    }
}

/// `postgres://user:secret@host/db` without the password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = url.get(scheme + 3..at).unwrap_or("");
            match userinfo.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..scheme + 3).unwrap_or(""),
                    url.get(at..).unwrap_or("")
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// What one DP release spent, as the audit log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct DpRelease {
    /// SHA-256 of the input data file the answers were computed from.
    pub dataset_digest: Hash,
    /// Rows read from it.
    pub rows: u64,
    /// The loss of the whole release.
    pub loss: PrivacyLoss,
    /// δ for recording a zCDP loss as ε (tight conversion).
    pub report_delta: f64,
    /// Who ran it (`cli:<user>`).
    pub actor: String,
}

impl DpRelease {
    /// The release of `rows` rows of `data` at `loss`.
    pub fn new(
        data: &Path,
        rows: u64,
        loss: PrivacyLoss,
        report_delta: f64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            dataset_digest: file_digest(data)?,
            rows,
            loss,
            report_delta,
            actor: actor(),
        })
    }

    /// ε spent, in millionths, rounded up (a zCDP loss converted at `report_delta`).
    pub fn epsilon_micros(&self) -> u64 {
        let eps = match self.loss {
            PrivacyLoss::Pure { epsilon } | PrivacyLoss::Approx { epsilon, .. } => epsilon,
            PrivacyLoss::Zcdp { rho } => zcdp_to_epsilon(rho, self.report_delta),
        };
        let micros = (eps * 1e6).ceil();
        if micros.is_finite() && micros >= 0.0 {
            // In range: finite, non-negative; `as` saturates above u64::MAX.
            micros as u64
        } else {
            u64::MAX
        }
    }

    /// The audit event.
    pub fn event(&self) -> DataReleaseEvent {
        DataReleaseEvent {
            tool: "dp".into(),
            dataset_digest: self.dataset_digest,
            rows: self.rows,
            epsilon_micros: Some(self.epsilon_micros()),
            k: None,
        }
    }
}

/// SHA-256 of a file, streamed.
fn file_digest(path: &Path) -> anyhow::Result<Hash> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or(&[]));
    }
    Ok(h.finalize().into())
}

/// `cli:<user>`: who released, as the record's principal.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(loss: PrivacyLoss) -> DpRelease {
        DpRelease {
            dataset_digest: [9u8; 32],
            rows: 1234,
            loss,
            report_delta: DEFAULT_REPORT_DELTA,
            actor: "cli:test".into(),
        }
    }

    #[test]
    fn a_release_is_recorded_with_its_epsilon_in_micros() {
        let r = release(PrivacyLoss::Approx {
            epsilon: 0.75,
            delta: 1e-6,
        });
        assert_eq!(
            r.event(),
            DataReleaseEvent {
                tool: "dp".into(),
                dataset_digest: [9u8; 32],
                rows: 1234,
                epsilon_micros: Some(750_000),
                k: None,
            }
        );
    }

    #[test]
    fn zcdp_spends_are_recorded_as_their_tight_epsilon_rounded_up() {
        let r = release(PrivacyLoss::Zcdp { rho: 0.1 });
        let eps = zcdp_to_epsilon(0.1, 1e-6);
        assert_eq!(r.epsilon_micros(), (eps * 1e6).ceil() as u64);
        assert!(r.epsilon_micros() > 100_000);
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://veil:hunter2@db:5432/veil"),
            "postgres://veil:***@db:5432/veil"
        );
        assert_eq!(redact_url("sqlite:.veil/veil.db"), "sqlite:.veil/veil.db");
    }
}
