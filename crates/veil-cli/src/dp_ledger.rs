//! `veil dp` ledger access: the async SQL ledger of `veil-store` behind blocking calls, on a
//! single-threaded runtime that lives for one command.

use anyhow::Context;
use veil_dp::{Budget, LedgerEntry, LedgerKey, PrivacyLoss};
use veil_store::SqlLedger;

fn block_on<T>(
    target: &str,
    f: impl AsyncFnOnce(SqlLedger) -> Result<T, veil_dp::Error>,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the ledger runtime")?;
    rt.block_on(async {
        let ledger = SqlLedger::connect(target)
            .await
            .with_context(|| format!("opening the ledger `{target}`"))?;
        Ok(f(ledger).await?)
    })
}

/// The entry for `key`.
pub fn entry(target: &str, key: &LedgerKey) -> anyhow::Result<Option<LedgerEntry>> {
    block_on(target, async |l| l.entry(key).await)
}

/// Set the budget for `key`.
pub fn set_budget(target: &str, key: &LedgerKey, budget: Budget) -> anyhow::Result<LedgerEntry> {
    block_on(target, async |l| l.set_budget(key, budget).await)
}

/// Charge `loss` to `key`, atomically; refused if it does not fit.
pub fn try_spend(target: &str, key: &LedgerKey, loss: &PrivacyLoss) -> anyhow::Result<LedgerEntry> {
    block_on(target, async |l| l.try_spend(key, loss).await)
}
