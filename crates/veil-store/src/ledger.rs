//! The privacy-budget ledger on SQLite or PostgreSQL.
//!
//! Same contract as [`veil_dp::LedgerStore`], async because SQL is: [`SqlLedger::try_spend`]
//! reads the row, runs `veil_dp`'s filter check ([`veil_dp::ledger::apply_spend`], the one
//! place the budget arithmetic lives) and writes the new totals with a compare-and-set on the
//! row's `version`. If another writer got there first the update touches no row and we
//! re-read, so two concurrent releases can never both fit into the last of a budget, on
//! either database, without database-specific locking. A refusal writes nothing.

use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use veil_dp::ledger::{apply_spend, no_budget};
use veil_dp::{Budget, Error, LedgerEntry, LedgerKey, PrivacyLoss, Spent};

const MIGRATION: &str = include_str!("../migrations/0001_dp_ledger.sql");

/// How many times `try_spend` re-reads after losing a compare-and-set race.
const MAX_RETRIES: usize = 64;

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The ledger on SQLite (a file path or `sqlite:` URL) or PostgreSQL (`postgres://` URL).
#[derive(Clone, Debug)]
pub struct SqlLedger {
    db: Db,
}

fn db_err(what: &str, e: sqlx::Error) -> Error {
    Error::ledger(format!("ledger {what} failed: {e}"))
}

/// Queries are written with `$n` placeholders (PostgreSQL); SQLite takes the numbered `?n`
/// form.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
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

fn budget_columns(b: &Budget) -> (&'static str, f64, f64, f64) {
    match *b {
        Budget::Pure { epsilon } => ("pure", epsilon, 0.0, 0.0),
        Budget::Approx { epsilon, delta } => ("approx", epsilon, delta, 0.0),
        Budget::Zcdp { rho } => ("zcdp", 0.0, 0.0, rho),
    }
}

type RawRow = (String, f64, f64, f64, f64, f64, f64, i64);

fn decode(row: RawRow) -> Result<(LedgerEntry, i64), Error> {
    let (notion, be, bd, br, se, sd, sr, version) = row;
    let budget = match notion.as_str() {
        "pure" => Budget::Pure { epsilon: be },
        "approx" => Budget::Approx {
            epsilon: be,
            delta: bd,
        },
        "zcdp" => Budget::Zcdp { rho: br },
        other => {
            return Err(Error::ledger(format!(
                "unknown budget notion `{other}` in ledger"
            )));
        }
    };
    let spent = Spent {
        epsilon: se,
        delta: sd,
        rho: sr,
    };
    Ok((LedgerEntry { budget, spent }, version))
}

/// Decode a `SELECT` row into a [`RawRow`] (a macro because the row types of the two
/// drivers differ).
macro_rules! raw_row {
    ($r:expr) => {{
        let r = $r;
        let decoded: Result<RawRow, sqlx::Error> = (|| {
            Ok((
                r.try_get(0usize)?,
                r.try_get(1usize)?,
                r.try_get(2usize)?,
                r.try_get(3usize)?,
                r.try_get(4usize)?,
                r.try_get(5usize)?,
                r.try_get(6usize)?,
                r.try_get(7usize)?,
            ))
        })();
        decoded.map_err(|e| db_err("decode", e))
    }};
}

impl SqlLedger {
    /// Connect and create the table if needed. `target` is a `postgres://` or
    /// `postgresql://` URL, a `sqlite:` URL, or a path to a SQLite file (created if missing).
    ///
    /// # Errors
    ///
    /// [`veil_dp::ErrorKind::Ledger`] when the database cannot be reached or migrated.
    pub async fn connect(target: &str) -> Result<Self, Error> {
        let db = if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .connect(target)
                .await
                .map_err(|e| db_err("connect", e))?;
            Db::Postgres(pool)
        } else {
            let opts = if target.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(target).map_err(|e| db_err("connect", e))?
            } else {
                SqliteConnectOptions::new().filename(target)
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts.create_if_missing(true))
                .await
                .map_err(|e| db_err("connect", e))?;
            Db::Sqlite(pool)
        };
        let ledger = SqlLedger { db };
        ledger.migrate().await?;
        Ok(ledger)
    }

    async fn migrate(&self) -> Result<(), Error> {
        match &self.db {
            Db::Sqlite(p) => sqlx::query(MIGRATION).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(MIGRATION).execute(p).await.map(|_| ()),
        }
        .map_err(|e| db_err("migration", e))
    }

    async fn read(&self, key: &LedgerKey) -> Result<Option<(LedgerEntry, i64)>, Error> {
        let raw = match &self.db {
            Db::Sqlite(p) => sqlx::query(&sqlite_sql(SELECT))
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .fetch_optional(p)
                .await
                .map_err(|e| db_err("read", e))?
                .map(|r| raw_row!(r))
                .transpose()?,
            Db::Postgres(p) => sqlx::query(SELECT)
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .fetch_optional(p)
                .await
                .map_err(|e| db_err("read", e))?
                .map(|r| raw_row!(r))
                .transpose()?,
        };
        raw.map(decode).transpose()
    }

    /// The entry for `key`, if a budget was set.
    ///
    /// # Errors
    ///
    /// [`veil_dp::ErrorKind::Ledger`] on a storage failure.
    pub async fn entry(&self, key: &LedgerKey) -> Result<Option<LedgerEntry>, Error> {
        Ok(self.read(key).await?.map(|(e, _)| e))
    }

    /// Set (or replace) the budget of `key`, keeping what was spent.
    ///
    /// # Errors
    ///
    /// [`veil_dp::ErrorKind::InvalidParameter`] for an invalid budget;
    /// [`veil_dp::ErrorKind::Ledger`] on a storage failure.
    pub async fn set_budget(&self, key: &LedgerKey, budget: Budget) -> Result<LedgerEntry, Error> {
        veil_dp::PrivacyFilter::new(budget)?;
        let (notion, e, d, r) = budget_columns(&budget);
        match &self.db {
            Db::Sqlite(p) => sqlx::query(&sqlite_sql(UPSERT))
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .bind(notion)
                .bind(e)
                .bind(d)
                .bind(r)
                .execute(p)
                .await
                .map(|_| ()),
            Db::Postgres(p) => sqlx::query(UPSERT)
                .bind(&key.dataset)
                .bind(&key.privacy_unit)
                .bind(notion)
                .bind(e)
                .bind(d)
                .bind(r)
                .execute(p)
                .await
                .map(|_| ()),
        }
        .map_err(|e| db_err("write", e))?;
        self.entry(key)
            .await?
            .ok_or_else(|| Error::ledger("the budget row vanished after it was written"))
    }

    /// Atomically check `loss` against the budget of `key` and record it if it fits.
    ///
    /// # Errors
    ///
    /// [`veil_dp::ErrorKind::BudgetExceeded`] when it does not fit,
    /// [`veil_dp::ErrorKind::MissingBounds`] when no budget is set,
    /// [`veil_dp::ErrorKind::Ledger`] on storage failure or persistent contention. Nothing is
    /// recorded in any error case.
    pub async fn try_spend(
        &self,
        key: &LedgerKey,
        loss: &PrivacyLoss,
    ) -> Result<LedgerEntry, Error> {
        for _ in 0..MAX_RETRIES {
            let (current, version) = self.read(key).await?.ok_or_else(|| no_budget(key))?;
            let next = apply_spend(&current, loss)?;
            let s = next.spent;
            let affected = match &self.db {
                Db::Sqlite(p) => sqlx::query(&sqlite_sql(SPEND))
                    .bind(s.epsilon)
                    .bind(s.delta)
                    .bind(s.rho)
                    .bind(&key.dataset)
                    .bind(&key.privacy_unit)
                    .bind(version)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
                Db::Postgres(p) => sqlx::query(SPEND)
                    .bind(s.epsilon)
                    .bind(s.delta)
                    .bind(s.rho)
                    .bind(&key.dataset)
                    .bind(&key.privacy_unit)
                    .bind(version)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
            }
            .map_err(|e| db_err("write", e))?;
            if affected == 1 {
                return Ok(next);
            }
        }
        Err(Error::ledger(
            "the ledger row is under heavy contention; nothing was spent, retry",
        ))
    }
}
