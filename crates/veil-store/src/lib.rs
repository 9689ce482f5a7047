//! `veil-store`: persistence behind traits, SQLite (embedded default) and PostgreSQL.
//!
//! This crate is the only one that knows SQL. It currently holds the privacy-budget ledger
//! ([`SqlLedger`]), the SQL implementation of `veil_dp`'s ledger contract
//! ([`veil_dp::LedgerStore`]: atomic check-and-spend, a refusal writes nothing). One
//! conformance suite (`tests/ledger.rs`) runs against both databases.
//!
//! ```no_run
//! # async fn demo() -> Result<(), veil_dp::Error> {
//! use veil_dp::{Budget, LedgerKey, PrivacyLoss};
//! let ledger = veil_store::SqlLedger::connect("veil-dp-ledger.sqlite").await?;
//! let key = LedgerKey::new("patients", "patient_id");
//! ledger.set_budget(&key, Budget::Pure { epsilon: 1.0 }).await?;
//! ledger.try_spend(&key, &PrivacyLoss::Pure { epsilon: 0.25 }).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod ledger;

pub use ledger::SqlLedger;
