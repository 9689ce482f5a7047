//! The [`Store`] handle: opening, migrating and reaching the pool.
//!
//! Two ways in: [`Store::connect`] (and the `open_*` functions) create the database when
//! needed and migrate it, for the gateway and the tools that write; [`Store::open_read_only`]
//! changes nothing, for the tools that only check or read (`veil audit verify`): SQLite opened
//! with `mode=ro`, PostgreSQL sessions with `default_transaction_read_only`, no migrations,
//! and a clear error when the schema is missing or at another version.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
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
    /// A private memory database (one connection, nothing to sync).
    pub(crate) memory: bool,
    /// Turns for this process's hot write transactions (see [`Store::write_turn`]).
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
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
        Self::open_sqlite_with(options, 4, false).await
    }

    /// Opens a private in-memory SQLite database (one connection), for tests and tools.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        Self::open_sqlite_with(options, 1, true).await
    }

    async fn open_sqlite_with(
        options: SqliteConnectOptions,
        max_connections: u32,
        memory: bool,
    ) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // A multi-row INSERT (the vault's) keeps a statement journal: in memory, not in a
            // temporary file.
            .pragma("temp_store", "memory")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            memory,
            write_gate: Default::default(),
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
            memory: false,
            write_gate: Default::default(),
        })
    }

    /// Opens an existing database without writing to it: no file or schema is created, no
    /// migration runs, and every session is read-only (SQLite `mode=ro`; PostgreSQL
    /// `default_transaction_read_only = on`), so a checker cannot alter what it checks. Fails
    /// with a clear error when the schema is missing or at another version than this build's.
    /// Same URLs as [`Store::connect`] (a memory database has nothing to read).
    pub async fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let store = if is_postgres(url) {
            let options =
                PgConnectOptions::from_str(url)?.options([("default_transaction_read_only", "on")]);
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Self {
                pool: Pool::Postgres(pool),
                memory: false,
                write_gate: Default::default(),
            }
        } else if let Some(path) = sqlite_path(url).filter(|p| *p != ":memory:") {
            if !Path::new(path).is_file() {
                return Err(Kind::Schema(format!("no database file at `{path}`")).into());
            }
            // No journal mode set: changing it would write the file.
            let options = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            Self {
                pool: Pool::Sqlite(pool),
                memory: false,
                write_gate: Default::default(),
            }
        } else {
            let scheme = url.split(':').next().unwrap_or_default().to_owned();
            return Err(Kind::Scheme(scheme).into());
        };
        store.check_schema().await?;
        Ok(store)
    }

    /// Checks that the applied migrations are exactly this build's (versions and checksums).
    async fn check_schema(&self) -> Result<(), StoreError> {
        let migrator = match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
            Pool::Postgres(_) => &POSTGRES_MIGRATOR,
        };
        let applied: Result<Vec<(i64, Vec<u8>)>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(pool)
            .await
        });
        let applied = match applied {
            Ok(applied) => applied,
            // No migration table: not a Veil database, or one never opened.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        let expected: Vec<(i64, &[u8])> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, &*m.checksum))
            .collect();
        if applied.is_empty() {
            return Err(Kind::Schema("no Veil schema in this database".into()).into());
        }
        for (version, checksum) in &applied {
            match expected.iter().find(|(v, _)| v == version) {
                None => {
                    return Err(Kind::Schema(format!(
                        "migration {version} is unknown to this build (a newer Veil wrote it)"
                    ))
                    .into());
                }
                Some((_, sum)) if *sum != checksum.as_slice() => {
                    return Err(Kind::Schema(format!(
                        "migration {version} differs from this build's"
                    ))
                    .into());
                }
                Some(_) => {}
            }
        }
        if let Some((missing, _)) = expected
            .iter()
            .find(|(v, _)| !applied.iter().any(|(a, _)| a == v))
        {
            return Err(Kind::Schema(format!(
                "migration {missing} is not applied (an older Veil wrote it; open it once with \
                 `veil serve` to migrate)"
            ))
            .into());
        }
        Ok(())
    }

    /// A connection of its own for [`crate::AuditWriter`]: on a file SQLite database, a new
    /// connection kept at `synchronous = FULL` (the WAL is fsynced at every commit), with a
    /// 16 MiB page cache and its temporary files in memory; `None` on
    /// a memory database and on PostgreSQL, where the pool serves.
    pub(crate) async fn audit_connection(&self) -> Result<Option<SqliteConnection>, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) if !self.memory => {
                // A bigger page cache keeps the index pages an append walks in memory, and the
                // statement journal of a multi-row INSERT goes to memory, not a temporary file
                // (both seen in a profile of the group-commit bench).
                let options = (*pool.connect_options())
                    .clone()
                    .synchronous(SqliteSynchronous::Full)
                    .pragma("cache_size", "-16384")
                    .pragma("temp_store", "memory");
                Ok(Some(options.connect().await?))
            }
            _ => Ok(None),
        }
    }

    /// True once [`Store::close`] was called: nothing may be written through this handle,
    /// including by an [`crate::AuditWriter`] on its own connection.
    pub(crate) fn is_closed(&self) -> bool {
        with_pool!(self, pool => pool.is_closed())
    }

    /// Waits for this process's turn to run a write transaction on a file SQLite database
    /// (`None` elsewhere: PostgreSQL locks rows, and a memory database has one connection).
    ///
    /// SQLite admits one writer at a time, and a connection that finds the write lock taken
    /// polls for it with sleeps of 1, 2, 5, 10 ms and more (its busy handler). The gateway's
    /// hot writers (the audit group commit and the vault) collide often under load, so they
    /// queue here instead: each wakes the moment the previous transaction ends. Writers in
    /// other processes (the CLI) still meet SQLite's busy timeout.
    ///
    /// Take the turn before acquiring a pooled connection, never while holding one, so a
    /// writer waiting for its turn never holds a connection another writer needs.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.sqlite_file() {
            Some(self.write_gate.lock().await)
        } else {
            None
        }
    }

    /// True on a file SQLite database.
    pub(crate) fn sqlite_file(&self) -> bool {
        matches!(self.pool, Pool::Sqlite(_)) && !self.memory
    }

    /// Opens a store from a URL: `sqlite:path/to/file.db`, `sqlite::memory:`, or
    /// `postgres://user@host:port/db`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if is_postgres(url) {
            Self::open_postgres(PgConnectOptions::from_str(url)?).await
        } else if url == "sqlite::memory:" {
            Self::open_in_memory().await
        } else if let Some(path) = sqlite_path(url) {
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

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The path of a `sqlite:` or `sqlite://` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
}
