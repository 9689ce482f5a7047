//! The privacy-budget ledger: one [`PrivacyFilter`] per dataset and privacy unit, persisted.
//!
//! [`Ledger`] is the contract a storage back end fulfils (SQLite and PostgreSQL live in
//! `veil-store`; [`MemoryLedger`] here serves tests and one-shot use). The one operation that
//! matters is [`Ledger::try_spend`]: it must load the entry, run the filter check and
//! write the new totals as **one atomic step** (a transaction with the row locked, or a
//! conditional update), so two concurrent releases can never both fit into the last of a
//! budget. A refused or failed spend writes nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::{Budget, Error, ErrorKind, PrivacyFilter, PrivacyLoss, Spent};

/// Which budget: a dataset and the privacy unit its guarantee protects (`"row"` when every
/// row is its own unit).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LedgerKey {
    /// Dataset name, as given to `--dataset`.
    pub dataset: String,
    /// Privacy unit column, or `"row"`.
    pub privacy_unit: String,
}

impl LedgerKey {
    /// A key.
    pub fn new(dataset: impl Into<String>, privacy_unit: impl Into<String>) -> Self {
        LedgerKey {
            dataset: dataset.into(),
            privacy_unit: privacy_unit.into(),
        }
    }
}

/// A ledger entry: the budget and what has been spent against it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The budget.
    pub budget: Budget,
    /// Spent totals (rounded up).
    pub spent: Spent,
}

/// Persistence of privacy budgets. See the module documentation for the atomicity contract.
pub trait Ledger {
    /// The entry for `key`, if a budget was set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Ledger`] on a storage failure.
    fn entry(&self, key: &LedgerKey) -> Result<Option<LedgerEntry>, Error>;

    /// Set (or replace) the budget for `key`, keeping what was already spent. Lowering a
    /// budget below the spent total is allowed: every later release is refused.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidParameter`] for an invalid budget; [`ErrorKind::Ledger`] on a
    /// storage failure.
    fn set_budget(&self, key: &LedgerKey, budget: Budget) -> Result<LedgerEntry, Error>;

    /// Atomically check `loss` against the budget of `key` and record it if it fits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BudgetExceeded`] when it does not fit, [`ErrorKind::MissingBounds`] when
    /// no budget was set for `key`, [`ErrorKind::Ledger`] on storage failure. In every error
    /// case nothing is recorded.
    fn try_spend(&self, key: &LedgerKey, loss: &PrivacyLoss) -> Result<LedgerEntry, Error>;
}

/// Apply a spend to an entry: the pure function every back end calls inside its transaction.
///
/// # Errors
///
/// As [`PrivacyFilter::check`].
pub fn apply_spend(entry: &LedgerEntry, loss: &PrivacyLoss) -> Result<LedgerEntry, Error> {
    let filter = PrivacyFilter::with_spent(entry.budget, entry.spent)?;
    let spent = filter.check(loss)?;
    Ok(LedgerEntry {
        budget: entry.budget,
        spent,
    })
}

/// The error for a spend against a key with no budget (shared by every back end).
pub fn no_budget(key: &LedgerKey) -> Error {
    Error::new(
        ErrorKind::MissingBounds,
        format!(
            "no privacy budget set for dataset `{}` and privacy unit `{}`; set one with \
             `veil dp budget set`",
            key.dataset, key.privacy_unit
        ),
    )
}

/// An in-memory ledger (a mutex around a map): atomic within one process, lost at exit.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<BTreeMap<LedgerKey, LedgerEntry>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<LedgerKey, LedgerEntry>>, Error> {
        self.entries
            .lock()
            .map_err(|_| Error::ledger("the in-memory ledger lock is poisoned"))
    }
}

impl Ledger for MemoryLedger {
    fn entry(&self, key: &LedgerKey) -> Result<Option<LedgerEntry>, Error> {
        Ok(self.lock()?.get(key).copied())
    }

    fn set_budget(&self, key: &LedgerKey, budget: Budget) -> Result<LedgerEntry, Error> {
        let mut map = self.lock()?;
        let spent = map.get(key).map(|e| e.spent).unwrap_or_default();
        // Validate through the filter constructor.
        PrivacyFilter::with_spent(budget, spent)?;
        let entry = LedgerEntry { budget, spent };
        map.insert(key.clone(), entry);
        Ok(entry)
    }

    fn try_spend(&self, key: &LedgerKey, loss: &PrivacyLoss) -> Result<LedgerEntry, Error> {
        let mut map = self.lock()?;
        let current = map.get(key).copied().ok_or_else(|| no_budget(key))?;
        let next = apply_spend(&current, loss)?;
        map.insert(key.clone(), next);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spend_without_budget_is_refused() {
        let l = MemoryLedger::new();
        let k = LedgerKey::new("patients", "row");
        let e = l
            .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.1 })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingBounds);
        assert!(l.entry(&k).unwrap().is_none());
    }

    #[test]
    fn lowering_a_budget_keeps_the_spent_total() {
        let l = MemoryLedger::new();
        let k = LedgerKey::new("patients", "patient_id");
        l.set_budget(&k, Budget::Pure { epsilon: 2.0 }).unwrap();
        l.try_spend(&k, &PrivacyLoss::Pure { epsilon: 1.5 })
            .unwrap();
        let e = l.set_budget(&k, Budget::Pure { epsilon: 1.0 }).unwrap();
        assert_eq!(e.spent.epsilon, 1.5);
        let err = l
            .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.0 })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    }

    proptest! {
        /// The ledger never goes negative (spent never exceeds the budget), and a refused
        /// release spends nothing.
        #[test]
        fn ledger_never_goes_negative(cap in 0.0..3.0f64, asks in prop::collection::vec(0.0..1.0f64, 0..30)) {
            let l = MemoryLedger::new();
            let k = LedgerKey::new("d", "row");
            l.set_budget(&k, Budget::Pure { epsilon: cap }).unwrap();
            for a in asks {
                let before = l.entry(&k).unwrap().unwrap();
                match l.try_spend(&k, &PrivacyLoss::Pure { epsilon: a }) {
                    Ok(e) => prop_assert!(e.spent.epsilon <= cap),
                    Err(err) => {
                        prop_assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
                        prop_assert_eq!(l.entry(&k).unwrap().unwrap(), before);
                    }
                }
            }
        }
    }
}
