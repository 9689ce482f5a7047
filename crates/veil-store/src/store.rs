//! The [`Store`] handle: opening, migrating and reaching the pool.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Kind, StoreError};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (or memory database), the embedded default.
    Sqlite,
    /// A PostgreSQL server, shared by several gateway replicas.
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on Veil's database. Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
}

/// Runs the same expression against whichever pool the store holds. The expression is
/// expanded once per backend, so generic sqlx code type-checks for both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, creating its parent
    /// directory, and runs migrations. WAL journal with `synchronous = NORMAL`: a commit
    /// survives a process crash; the last commits may be lost on power failure.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(Kind::Io)?;
        }
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_sqlite_with(options, 4).await
    }

    /// Opens a private in-memory SQLite database (one connection), for tests and tools.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        Self::open_sqlite_with(options, 1).await
    }

    async fn open_sqlite_with(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    /// Connects to PostgreSQL and runs migrations. Tests use
    /// `options.options([("search_path", schema)])` to isolate themselves in a schema.
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
        })
    }

    /// Opens a store from a URL: `sqlite:path/to/file.db`, `sqlite::memory:`, or
    /// `postgres://user@host:port/db`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(PgConnectOptions::from_str(url)?).await
        } else if url == "sqlite::memory:" {
            Self::open_in_memory().await
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(Path::new(path)).await
        } else {
            let scheme = url.split(':').next().unwrap_or_default().to_owned();
            Err(Kind::Scheme(scheme).into())
        }
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The SQLite pool, for modules of this crate and tools that need raw access.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for modules of this crate and tools that need raw access.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Closes the pool, waiting for connections to finish (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}
