//! The privacy-budget ledger: [`LedgerStore`], one budget per dataset and privacy unit.
//!
//! The contract is `veil_dp`'s ([`veil_dp::Ledger`]): [`LedgerStore::try_spend`] is one
//! atomic check-and-spend, and a refusal writes nothing. It reads the row, runs `veil_dp`'s
//! filter check ([`veil_dp::ledger::apply_spend`], the one place the budget arithmetic
//! lives) and writes the new totals with a compare-and-set on the row's `version`. When
//! another writer got there first the update touches no row and we read again, so two
//! concurrent releases can never both fit into the last of a budget, on either database,
//! without database-specific locking.
//!
//! Errors are `veil_dp::Error`s, so a caller branches on one set of kinds
//! (`BudgetExceeded`, `MissingBounds` for "no budget set", `Ledger` for storage failures).

use std::future::Future;

use veil_dp::ledger::{apply_spend, no_budget};
use veil_dp::{Budget, Error, LedgerEntry, LedgerKey, PrivacyLoss, Spent};

use crate::StoreError;
use crate::store::{Store, with_pool};

/// How many times `try_spend` reads again after losing a compare-and-set race.
const MAX_RETRIES: usize = 64;

/// Persistence of privacy budgets (see the module documentation).
pub trait LedgerStore {
    /// The entry for `key`, if a budget was set.
    fn ledger_entry(
        &self,
        key: &LedgerKey,
    ) -> impl Future<Output = Result<Option<LedgerEntry>, Error>> + Send;
    /// Sets (or replaces) the budget of `key`, keeping what was spent.
    fn set_budget(
        &self,
        key: &LedgerKey,
        budget: Budget,
    ) -> impl Future<Output = Result<LedgerEntry, Error>> + Send;
    /// Atomically checks `loss` against the budget of `key` and records it if it fits;
    /// nothing is recorded on any error.
    fn try_spend(
        &self,
        key: &LedgerKey,
        loss: &PrivacyLoss,
    ) -> impl Future<Output = Result<LedgerEntry, Error>> + Send;
}

#[derive(sqlx::FromRow)]
struct LedgerRow {
    notion: String,
    budget_epsilon: f64,
    budget_delta: f64,
    budget_rho: f64,
    spent_epsilon: f64,
    spent_delta: f64,
    spent_rho: f64,
    version: i64,
}

const SELECT: &str = "SELECT notion, budget_epsilon, budget_delta, budget_rho, spent_epsilon, \
     spent_delta, spent_rho, version FROM dp_ledger WHERE dataset = $1 AND privacy_unit = $2";

const UPSERT: &str = "INSERT INTO dp_ledger (dataset, privacy_unit, notion, budget_epsilon, \
     budget_delta, budget_rho) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (dataset, privacy_unit) DO UPDATE SET notion = excluded.notion, \
     budget_epsilon = excluded.budget_epsilon, budget_delta = excluded.budget_delta, \
     budget_rho = excluded.budget_rho, version = dp_ledger.version + 1";

const SPEND: &str = "UPDATE dp_ledger SET spent_epsilon = $1, spent_delta = $2, spent_rho = $3, \
     version = version + 1 WHERE dataset = $4 AND privacy_unit = $5 AND version = $6";

fn store_err(e: impl Into<StoreError>) -> Error {
    Error::ledger(format!("ledger storage failed: {}", e.into()))
}

fn budget_columns(b: &Budget) -> (&'static str, f64, f64, f64) {
    match *b {
        Budget::Pure { epsilon } => ("pure", epsilon, 0.0, 0.0),
        Budget::Approx { epsilon, delta } => ("approx", epsilon, delta, 0.0),
        Budget::Zcdp { rho } => ("zcdp", 0.0, 0.0, rho),
    }
}

impl TryFrom<LedgerRow> for (LedgerEntry, i64) {
    type Error = Error;
    fn try_from(r: LedgerRow) -> Result<Self, Error> {
        let budget = match r.notion.as_str() {
            "pure" => Budget::Pure {
                epsilon: r.budget_epsilon,
            },
            "approx" => Budget::Approx {
                epsilon: r.budget_epsilon,
                delta: r.budget_delta,
            },
            "zcdp" => Budget::Zcdp { rho: r.budget_rho },
            _ => return Err(store_err(StoreError::corrupt("dp_ledger", "notion"))),
        };
        let spent = Spent {
            epsilon: r.spent_epsilon,
            delta: r.spent_delta,
            rho: r.spent_rho,
        };
        Ok((LedgerEntry { budget, spent }, r.version))
    }
}

impl Store {
    async fn read_ledger(&self, key: &LedgerKey) -> Result<Option<(LedgerEntry, i64)>, Error> {
        let row: Option<LedgerRow> = with_pool!(self, pool => {
            sqlx::query_as(SELECT)
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .fetch_optional(pool)
                .await
                .map_err(store_err)?
        });
        row.map(TryInto::try_into).transpose()
    }
}

impl LedgerStore for Store {
    async fn ledger_entry(&self, key: &LedgerKey) -> Result<Option<LedgerEntry>, Error> {
        Ok(self.read_ledger(key).await?.map(|(e, _)| e))
    }

    async fn set_budget(&self, key: &LedgerKey, budget: Budget) -> Result<LedgerEntry, Error> {
        // Validate before touching the database.
        veil_dp::PrivacyFilter::new(budget)?;
        let (notion, e, d, r) = budget_columns(&budget);
        with_pool!(self, pool => {
            sqlx::query(UPSERT)
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .bind(notion)
                .bind(e)
                .bind(d)
                .bind(r)
                .execute(pool)
                .await
                .map_err(store_err)?;
        });
        self.ledger_entry(key)
            .await?
            .ok_or_else(|| Error::ledger("the budget row vanished after it was written"))
    }

    async fn try_spend(&self, key: &LedgerKey, loss: &PrivacyLoss) -> Result<LedgerEntry, Error> {
        for _ in 0..MAX_RETRIES {
            let (current, version) = self.read_ledger(key).await?.ok_or_else(|| no_budget(key))?;
            let next = apply_spend(&current, loss)?;
            let s = next.spent;
            let affected = with_pool!(self, pool => {
                sqlx::query(SPEND)
                    .bind(s.epsilon)
                    .bind(s.delta)
                    .bind(s.rho)
                    .bind(&key.dataset)
                    .bind(&key.privacy_unit)
                    .bind(version)
                    .execute(pool)
                    .await
                    .map_err(store_err)?
                    .rows_affected()
            });
            if affected == 1 {
                return Ok(next);
            }
        }
        Err(Error::ledger(
            "the ledger row is under heavy contention; nothing was spent, retry",
        ))
    }
}
