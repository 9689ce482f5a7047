//! API keys: [`KeyStore`]. Only a hash of each key is stored.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, to_i64, to_u64};
use crate::store::{Store, with_pool};

/// Per-key rate limits. `None` means "use the gateway's configured default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLimits {
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u64>,
}

/// One API key as stored: who it belongs to and what it may do, never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public identifier, safe to log and show (`key_…`).
    pub id: String,
    /// Lowercase hex SHA-256 of the full key string.
    pub key_hash: String,
    /// The tenant the key acts for.
    pub tenant: String,
    /// Roles granted (for example `admin`, `analyst`).
    pub roles: Vec<String>,
    /// Public model names the key may use; empty means every configured model.
    pub models: Vec<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Expiry, unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Revocation time, unix seconds; `None` while active.
    pub revoked_at: Option<i64>,
    /// Rate limits for this key.
    pub limits: KeyLimits,
    /// Free text for operators (never shown to callers).
    pub description: String,
}

impl KeyRecord {
    /// True when the key is neither revoked nor expired at `now` (unix seconds).
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// Storage of API keys.
pub trait KeyStore {
    /// Inserts a new key. Fails if the id or hash already exists.
    fn insert_key(&self, key: &KeyRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Finds a key by the hash of its secret, active or not.
    fn key_by_hash(
        &self,
        key_hash: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;
    /// Finds a key by its public id.
    fn key_by_id(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;
    /// Lists keys, oldest first, optionally for one tenant.
    fn list_keys(
        &self,
        tenant: Option<&str>,
    ) -> impl Future<Output = Result<Vec<KeyRecord>, StoreError>> + Send;
    /// Revokes a key at `at`; returns false when no active key has this id.
    fn revoke_key(
        &self,
        id: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Counts every key ever created, revoked ones included (zero only on a fresh store).
    fn count_keys(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    key_hash: String,
    tenant: String,
    roles: String,
    models: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    requests_per_minute: Option<i64>,
    tokens_per_minute: Option<i64>,
    max_concurrent: Option<i64>,
    description: String,
}

const COLUMNS: &str = "id, key_hash, tenant, roles, models, created_at, expires_at, revoked_at, \
     requests_per_minute, tokens_per_minute, max_concurrent, description";

fn limit_out(value: Option<i64>, column: &'static str) -> Result<Option<u64>, StoreError> {
    value.map(|v| to_u64(v, "api_keys", column)).transpose()
}

fn limit_in(value: Option<u64>, what: &'static str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;
    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            roles: serde_json::from_str(&row.roles)
                .map_err(|_| StoreError::corrupt("api_keys", "roles"))?,
            models: serde_json::from_str(&row.models)
                .map_err(|_| StoreError::corrupt("api_keys", "models"))?,
            limits: KeyLimits {
                requests_per_minute: limit_out(row.requests_per_minute, "requests_per_minute")?,
                tokens_per_minute: limit_out(row.tokens_per_minute, "tokens_per_minute")?,
                max_concurrent: limit_out(row.max_concurrent, "max_concurrent")?,
            },
            id: row.id,
            key_hash: row.key_hash,
            tenant: row.tenant,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            description: row.description,
        })
    }
}

fn rows_to_records(rows: Vec<KeyRow>) -> Result<Vec<KeyRecord>, StoreError> {
    rows.into_iter().map(KeyRecord::try_from).collect()
}

impl KeyStore for Store {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        // Serializing a Vec<String> cannot fail; fall back to an empty list rather than panic.
        let roles = serde_json::to_string(&key.roles).unwrap_or_else(|_| "[]".into());
        let models = serde_json::to_string(&key.models).unwrap_or_else(|_| "[]".into());
        let rpm = limit_in(key.limits.requests_per_minute, "requests_per_minute")?;
        let tpm = limit_in(key.limits.tokens_per_minute, "tokens_per_minute")?;
        let conc = limit_in(key.limits.max_concurrent, "max_concurrent")?;
        let sql = format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        with_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(&key.id)
                .bind(&key.key_hash)
                .bind(&key.tenant)
                .bind(&roles)
                .bind(&models)
                .bind(key.created_at)
                .bind(key.expires_at)
                .bind(key.revoked_at)
                .bind(rpm)
                .bind(tpm)
                .bind(conc)
                .bind(&key.description)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row: Option<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(key_hash).fetch_optional(pool).await?
        });
        row.map(KeyRecord::try_from).transpose()
    }

    async fn key_by_id(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        let row: Option<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(KeyRecord::try_from).transpose()
    }

    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = match tenant {
            Some(tenant) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE tenant = $1 ORDER BY created_at, id"
                );
                with_pool!(self, pool => sqlx::query_as(&sql).bind(tenant).fetch_all(pool).await?)
            }
            None => {
                let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id");
                with_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await?)
            }
        };
        rows_to_records(rows)
    }

    async fn revoke_key(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        let affected = with_pool!(self, pool => {
            sqlx::query(sql).bind(at).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(affected > 0)
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(pool).await?
        });
        to_u64(count, "api_keys", "count")
    }
}
