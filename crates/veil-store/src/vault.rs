//! Pseudonym mappings: [`VaultStore`].
//!
//! The store never sees an original value: the caller (the `protect` stage) encrypts it and
//! computes a keyed hash of it. Mappings are scoped by tenant and conversation and expire.

use std::future::Future;

use crate::error::StoreError;
use crate::store::{Store, with_pool};

/// One placeholder and the encrypted value it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    /// The tenant owning the mapping (mappings never cross tenants).
    pub tenant: String,
    /// The conversation the mapping is consistent within.
    pub conversation: String,
    /// The placeholder sent upstream, for example `<PERSON_1>`.
    pub placeholder: String,
    /// Keyed hash of the original value (lowercase hex), to reuse a placeholder.
    pub value_hash: String,
    /// The original value, encrypted by the caller.
    pub ciphertext: Vec<u8>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

/// Storage of pseudonym mappings.
pub trait VaultStore {
    /// Stores a mapping unless this value already has one in the conversation, and returns
    /// the mapping in force (the existing one wins, so concurrent requests agree). Fails with
    /// a conflict when the placeholder is already taken by another value.
    fn put_entry(
        &self,
        entry: &VaultEntry,
        now: i64,
    ) -> impl Future<Output = Result<VaultEntry, StoreError>> + Send;
    /// [`put_entry`](VaultStore::put_entry) for several mappings in one transaction (one
    /// commit, so one fsync, per request rather than per value). Returns, per entry and in
    /// order, the mapping in force, or `None` where the entry's placeholder is taken by
    /// another value (the conflict `put_entry` reports).
    fn put_entries(
        &self,
        entries: &[VaultEntry],
        now: i64,
    ) -> impl Future<Output = Result<Vec<Option<VaultEntry>>, StoreError>> + Send;
    /// The unexpired mapping of a placeholder.
    fn entry_by_placeholder(
        &self,
        tenant: &str,
        conversation: &str,
        placeholder: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<VaultEntry>, StoreError>> + Send;
    /// Every unexpired mapping of a conversation, ordered by placeholder.
    fn conversation_entries(
        &self,
        tenant: &str,
        conversation: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<VaultEntry>, StoreError>> + Send;
    /// Deletes expired mappings; returns how many.
    fn purge_expired(&self, now: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[derive(sqlx::FromRow)]
struct VaultRow {
    tenant: String,
    conversation: String,
    placeholder: String,
    value_hash: String,
    ciphertext: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

impl From<VaultRow> for VaultEntry {
    fn from(row: VaultRow) -> Self {
        Self {
            tenant: row.tenant,
            conversation: row.conversation,
            placeholder: row.placeholder,
            value_hash: row.value_hash,
            ciphertext: row.ciphertext,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

const COLUMNS: &str =
    "tenant, conversation, placeholder, value_hash, ciphertext, created_at, expires_at";

impl VaultStore for Store {
    async fn put_entry(&self, entry: &VaultEntry, now: i64) -> Result<VaultEntry, StoreError> {
        self.put_entries(std::slice::from_ref(entry), now)
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| crate::error::Kind::Conflict("vault_entries").into())
    }

    async fn put_entries(
        &self,
        entries: &[VaultEntry],
        now: i64,
    ) -> Result<Vec<Option<VaultEntry>>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let insert = format!(
            "INSERT INTO vault_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        );
        let select = format!(
            "SELECT {COLUMNS} FROM vault_entries \
             WHERE tenant = $1 AND conversation = $2 AND value_hash = $3"
        );
        // The conversations touched, each once, in a fixed order.
        let conversations: std::collections::BTreeSet<(&str, &str)> = entries
            .iter()
            .map(|e| (e.tenant.as_str(), e.conversation.as_str()))
            .collect();
        let postgres = matches!(self.pool, crate::store::Pool::Postgres(_));
        let rows: Vec<Option<VaultRow>> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for &(tenant, conversation) in &conversations {
                if postgres {
                    // Two requests of one conversation inserting several rows each could
                    // wait on each other's uncommitted rows (a deadlock PostgreSQL resolves
                    // by failing one). A per-conversation lock held to the end of the
                    // transaction orders them instead; other conversations never wait.
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))")
                        .bind(tenant)
                        .bind(conversation)
                        .execute(&mut *tx)
                        .await?;
                }
                // An expired mapping must not block a fresh one for the same value or
                // placeholder; expired rows of the conversation are dead anyway.
                sqlx::query(
                    "DELETE FROM vault_entries WHERE tenant = $1 AND conversation = $2 \
                     AND expires_at <= $3",
                )
                .bind(tenant)
                .bind(conversation)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let mut rows = Vec::with_capacity(entries.len());
            for entry in entries {
                let inserted: Option<VaultRow> = sqlx::query_as(&insert)
                    .bind(&entry.tenant)
                    .bind(&entry.conversation)
                    .bind(&entry.placeholder)
                    .bind(&entry.value_hash)
                    .bind(&entry.ciphertext)
                    .bind(entry.created_at)
                    .bind(entry.expires_at)
                    .fetch_optional(&mut *tx)
                    .await?;
                // Not inserted: the value already has a mapping (it wins), or the placeholder
                // is taken by another value (no row for this value).
                let row = match inserted {
                    Some(row) => Some(row),
                    None => {
                        sqlx::query_as(&select)
                            .bind(&entry.tenant)
                            .bind(&entry.conversation)
                            .bind(&entry.value_hash)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                };
                rows.push(row);
            }
            tx.commit().await?;
            rows
        });
        Ok(rows
            .into_iter()
            .map(|row| row.map(VaultEntry::from))
            .collect())
    }

    async fn entry_by_placeholder(
        &self,
        tenant: &str,
        conversation: &str,
        placeholder: &str,
        now: i64,
    ) -> Result<Option<VaultEntry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM vault_entries WHERE tenant = $1 AND conversation = $2 \
             AND placeholder = $3 AND expires_at > $4"
        );
        let row: Option<VaultRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(tenant)
                .bind(conversation)
                .bind(placeholder)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(VaultEntry::from))
    }

    async fn conversation_entries(
        &self,
        tenant: &str,
        conversation: &str,
        now: i64,
    ) -> Result<Vec<VaultEntry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM vault_entries WHERE tenant = $1 AND conversation = $2 \
             AND expires_at > $3 ORDER BY placeholder"
        );
        let rows: Vec<VaultRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(tenant).bind(conversation).bind(now).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(VaultEntry::from).collect())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let affected = with_pool!(self, pool => {
            sqlx::query("DELETE FROM vault_entries WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }
}
