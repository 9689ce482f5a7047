//! Pseudonym mappings: [`VaultStore`].
//!
//! The store never sees an original value: the caller (the `protect` stage) encrypts it and
//! computes a keyed hash of it. Mappings are scoped by tenant and conversation and expire.

use std::future::Future;

use crate::error::StoreError;
use crate::store::{Pool, Store, with_pool};

mod writer;

pub use writer::VaultWriter;

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
    /// [`put_entry`](VaultStore::put_entry) for several mappings at once. Returns, per entry
    /// and in order, the mapping in force, or `None` where the entry's placeholder is taken by
    /// another value (the conflict `put_entry` reports). Entries are taken in order, so an
    /// earlier entry wins a conflict with a later one.
    ///
    /// PostgreSQL writes them in one transaction. SQLite first inserts them in one statement
    /// (its own transaction, one round trip), which is all a request with new values needs;
    /// entries that did not go in are settled in a second transaction that deletes the
    /// conversations' expired mappings, inserts again and reads the mappings in force. So on
    /// SQLite an entry blocked only by an expired mapping goes in after the others, and a
    /// failure in the second step leaves the first step's mappings stored (each one valid on
    /// its own; the request fails and they expire unused).
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

/// Rows per `INSERT`: seven bound values each, far below SQLite's (32,766) and PostgreSQL's
/// (65,535) limits on bound parameters per statement.
const INSERT_CHUNK: usize = 256;

/// An entry's primary key and value: what identifies the row an entry inserted (two entries
/// of one batch may propose one placeholder for different values).
fn key(entry: &VaultEntry) -> (&str, &str, &str, &str) {
    (
        &entry.tenant,
        &entry.conversation,
        &entry.placeholder,
        &entry.value_hash,
    )
}

/// Inserts `$entries` (an iterator of `&VaultEntry`) on connection or transaction `$conn`
/// (a place, used as `&mut *$conn`) with `ON CONFLICT DO NOTHING`, a multi-row statement per
/// chunk rather than a statement per entry (each statement is a round trip), and evaluates to
/// one flag per entry, in order: whether that entry's row went in. Rows go in in order, so an
/// earlier entry wins a conflict with a later one.
macro_rules! insert_entries {
    ($conn:expr, $entries:expr) => {{
        let entries: Vec<&VaultEntry> = $entries.collect();
        // Returned rows are matched to entries by key and value, borrowed: no copy per entry.
        let mut index = std::collections::HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            index.entry(key(entry)).or_insert(i);
        }
        let mut inserted = vec![false; entries.len()];
        for chunk in entries.chunks(INSERT_CHUNK) {
            let mut insert =
                sqlx::QueryBuilder::new(format!("INSERT INTO vault_entries ({COLUMNS}) "));
            insert.push_values(chunk, |mut row, entry| {
                row.push_bind(&entry.tenant)
                    .push_bind(&entry.conversation)
                    .push_bind(&entry.placeholder)
                    .push_bind(&entry.value_hash)
                    .push_bind(&entry.ciphertext)
                    .push_bind(entry.created_at)
                    .push_bind(entry.expires_at);
            });
            // Only the key and value come back: the rest of an inserted row is the caller's.
            insert.push(
                " ON CONFLICT DO NOTHING \
                 RETURNING tenant, conversation, placeholder, value_hash",
            );
            let rows: Vec<(String, String, String, String)> =
                insert.build_query_as().fetch_all(&mut *$conn).await?;
            for (tenant, conversation, placeholder, value) in &rows {
                let probe = (
                    tenant.as_str(),
                    conversation.as_str(),
                    placeholder.as_str(),
                    value.as_str(),
                );
                if let Some(flag) = index.get(&probe).and_then(|&i| inserted.get_mut(i)) {
                    *flag = true;
                }
            }
        }
        inserted
    }};
}

/// The slow path in transaction `$tx`, for the entries of `$entries` at `$slots`: lock the
/// conversations (PostgreSQL, `$lock`), delete their expired mappings, insert, and for what
/// still did not go in, read the mapping in force for the value; then commit. Fills `$out`.
macro_rules! settle {
    ($tx:expr, $entries:expr, $slots:expr, $now:expr, $out:expr, $lock:expr) => {{
        let mut tx = $tx;
        let entries: &[VaultEntry] = $entries;
        let slots: Vec<usize> = $slots;
        // The conversations touched, each once, in a fixed order.
        let conversations: std::collections::BTreeSet<(&str, &str)> = slots
            .iter()
            .filter_map(|&i| entries.get(i))
            .map(|e| (e.tenant.as_str(), e.conversation.as_str()))
            .collect();
        if $lock {
            for &(tenant, conversation) in &conversations {
                // Two requests of one conversation inserting several rows each could wait
                // on each other's uncommitted rows (a deadlock PostgreSQL resolves by failing
                // one). A per-conversation lock held to the end of the transaction orders
                // them instead; other conversations never wait.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))")
                    .bind(tenant)
                    .bind(conversation)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // An expired mapping must not block a fresh one for the same value or placeholder;
        // expired rows of these conversations are dead anyway. One statement for all of them.
        let conversations: Vec<(&str, &str)> = conversations.into_iter().collect();
        for chunk in conversations.chunks(INSERT_CHUNK) {
            let mut delete =
                sqlx::QueryBuilder::new("DELETE FROM vault_entries WHERE expires_at <= ");
            delete.push_bind($now);
            // `IN (VALUES …)`: SQLite takes a list of row values only as a subquery.
            delete.push(" AND (tenant, conversation) IN (VALUES ");
            let mut pairs = delete.separated(", ");
            for &(tenant, conversation) in chunk {
                pairs.push("(");
                pairs.push_bind_unseparated(tenant);
                pairs.push_unseparated(", ");
                pairs.push_bind_unseparated(conversation);
                pairs.push_unseparated(")");
            }
            delete.push(")");
            delete.build().execute(&mut *tx).await?;
        }
        // `filter_map` drops nothing: every slot indexes `entries`.
        let inserted = insert_entries!(tx, slots.iter().filter_map(|&i| entries.get(i)));
        let select = format!(
            "SELECT {COLUMNS} FROM vault_entries \
             WHERE tenant = $1 AND conversation = $2 AND value_hash = $3"
        );
        for (&i, &went_in) in slots.iter().zip(&inserted) {
            let (Some(entry), Some(slot)) = (entries.get(i), $out.get_mut(i)) else {
                continue;
            };
            *slot = if went_in {
                Some(entry.clone())
            } else {
                // Not inserted: the value already has a mapping (it wins), or the placeholder
                // is taken by another value (no row for this value).
                let row: Option<VaultRow> = sqlx::query_as(&select)
                    .bind(&entry.tenant)
                    .bind(&entry.conversation)
                    .bind(&entry.value_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                row.map(VaultEntry::from)
            };
        }
        tx.commit().await?;
    }};
}

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
        let _turn = self.write_turn().await;
        let mut out = vec![None; entries.len()];
        match &self.pool {
            Pool::Sqlite(pool) => {
                // The common case in one statement (one round trip to SQLite's worker thread,
                // its own transaction): new values under free placeholders. Only what did not
                // go in needs the slow path.
                let mut conn = pool.acquire().await?;
                let inserted = insert_entries!(conn, entries.iter());
                // Back to the pool before the slow path takes one (a memory store has one).
                drop(conn);
                let mut missing = Vec::new();
                for (i, ((slot, entry), went_in)) in
                    out.iter_mut().zip(entries).zip(inserted).enumerate()
                {
                    if went_in {
                        *slot = Some(entry.clone());
                    } else {
                        missing.push(i);
                    }
                }
                if !missing.is_empty() {
                    let tx = pool.begin().await?;
                    settle!(tx, entries, missing, now, out, false);
                }
            }
            Pool::Postgres(pool) => {
                // PostgreSQL runs every entry through the one transaction: its per-conversation
                // locks order concurrent requests of a conversation (see `settle!`).
                let tx = pool.begin().await?;
                let all: Vec<usize> = (0..entries.len()).collect();
                settle!(tx, entries, all, now, out, true);
            }
        }
        Ok(out)
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
        let _turn = self.write_turn().await;
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
