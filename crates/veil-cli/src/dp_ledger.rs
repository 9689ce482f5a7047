//! `veil dp` ledger access: `veil-store`'s async [`LedgerStore`] behind blocking calls, on a
//! single-threaded runtime that lives for one command.
//!
//! The ledger argument is a store URL (`sqlite:PATH`, `postgres://...`) or a bare path to a
//! SQLite file.

use anyhow::Context;
use veil_dp::{Budget, LedgerEntry, LedgerKey, PrivacyLoss};
use veil_store::{LedgerStore, Store};

fn block_on<T>(
    target: &str,
    f: impl AsyncFnOnce(Store) -> Result<T, veil_dp::Error>,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the ledger runtime")?;
    rt.block_on(async {
        let store = if target.contains(':') {
            Store::connect(target).await
        } else {
            Store::open_sqlite(std::path::Path::new(target)).await
        }
        .with_context(|| format!("opening the ledger `{target}`"))?;
        let out = f(store.clone()).await;
        store.close().await;
        Ok(out?)
    })
}

/// The entry for `key`.
pub fn entry(target: &str, key: &LedgerKey) -> anyhow::Result<Option<LedgerEntry>> {
    block_on(target, async |l| l.ledger_entry(key).await)
}

/// Set the budget for `key`.
pub fn set_budget(target: &str, key: &LedgerKey, budget: Budget) -> anyhow::Result<LedgerEntry> {
    block_on(target, async |l| l.set_budget(key, budget).await)
}

/// Charge `loss` to `key`, atomically; refused if it does not fit.
pub fn try_spend(target: &str, key: &LedgerKey, loss: &PrivacyLoss) -> anyhow::Result<LedgerEntry> {
    block_on(target, async |l| l.try_spend(key, loss).await)
}
