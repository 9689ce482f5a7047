//! `veil-store` keeps Veil's state behind small traits, on SQLite or PostgreSQL.
//!
//! - [`Store`]: a cheap-to-clone handle on a connection pool. [`Store::open_sqlite`] is the
//!   embedded default (one file in the data directory, WAL journal); [`Store::connect`] takes a
//!   `sqlite:` or `postgres://` URL so several gateway replicas can share PostgreSQL.
//!   Migrations run when a store opens.
//! - One trait per kind of state, one module per trait: [`KeyStore`] (API keys, hashed),
//!   [`AuditStore`] (the tamper-evident audit log: records, checkpoints, one sequencer across
//!   writers; the one record of every exchange), [`VaultStore`] (pseudonym
//!   mappings, ciphertext only; [`VaultWriter`] group-commits concurrent requests' mappings), [`LedgerStore`] (privacy budgets per dataset and privacy
//!   unit, atomic check-and-spend for `veil-dp`). A new kind of state adds `its_name.rs` plus its own migration
//!   files in `migrations/sqlite` and `migrations/postgres`, without touching the others.
//! - [`StoreError`]: opaque; it never carries stored values.
//!
//! Migration files are named `<YYYYMMDDhhmmss>_<what>.sql` so that branches adding
//! migrations in parallel do not collide on a version number.
//!
//! ```no_run
//! # async fn demo() -> Result<(), veil_store::StoreError> {
//! use veil_store::{KeyStore, Store};
//!
//! let store = Store::open_sqlite(std::path::Path::new(".veil/veil.db")).await?;
//! let keys = store.list_keys(None).await?;
//! println!("{} keys", keys.len());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod audit;
mod error;
mod keys;
mod ledger;
mod store;
mod vault;

pub use audit::{
    Appended, AuditCursor, AuditQuery, AuditRow, AuditSigning, AuditStore, AuditWriter,
    BlockingAudit, NewAuditRecord, PAGE as AUDIT_PAGE, audit_consistency, audit_inclusion,
    verify_audit,
};
pub use error::StoreError;
pub use keys::{KeyLimits, KeyRecord, KeyStore};
pub use ledger::LedgerStore;
pub use store::{Backend, Store};
pub use vault::{VaultEntry, VaultStore, VaultWriter};

/// Re-exported so callers can build connection options without naming sqlx themselves.
pub use sqlx::postgres::PgConnectOptions;
