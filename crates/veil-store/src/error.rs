//! The one error type of the store.

/// A storage failure. Opaque on purpose: callers branch on the few predicates below, and
/// the message never contains a stored value (only table, column or operation names).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(#[from] Kind);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url scheme `{0}` (expected `sqlite:` or `postgres://`)")]
    Scheme(String),
    #[error("stored value in `{table}.{column}` is not valid")]
    Corrupt {
        table: &'static str,
        column: &'static str,
    },
    #[error("value for `{0}` is out of range")]
    OutOfRange(&'static str),
    #[error("conflicting entry in `{0}`")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("the database schema is missing or at another version ({0})")]
    Schema(String),
    #[error("cannot create data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// True when a write collided with an existing entry under a different identity (for
    /// example a placeholder already mapped to another value).
    pub fn is_conflict(&self) -> bool {
        matches!(self.0, Kind::Conflict(_))
    }

    pub(crate) fn corrupt(table: &'static str, column: &'static str) -> Self {
        Self(Kind::Corrupt { table, column })
    }

    pub(crate) fn out_of_range(what: &'static str) -> Self {
        Self(Kind::OutOfRange(what))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self(Kind::Database(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self(Kind::Migrate(err))
    }
}

/// Converts an unsigned count to the signed 64-bit integer both databases store.
pub(crate) fn to_i64(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::out_of_range(what))
}

/// Converts a stored signed integer back to an unsigned count.
pub(crate) fn to_u64(
    value: i64,
    table: &'static str,
    column: &'static str,
) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(table, column))
}
