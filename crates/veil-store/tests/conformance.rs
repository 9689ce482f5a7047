//! One conformance suite for every backend: each case runs on SQLite and on PostgreSQL.
//!
//! PostgreSQL runs when `VEIL_TEST_POSTGRES_URL` is set (for example
//! `postgres://postgres@127.0.0.1:5432/test`); each case gets a fresh schema so tests can run
//! in parallel. Without the variable the PostgreSQL cases print a notice and pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use veil_store::{
    KeyLimits, KeyRecord, KeyStore, PgConnectOptions, Store, VaultEntry, VaultStore, VaultWriter,
};

struct Pg {
    url: String,
    schema: String,
}

impl Pg {
    async fn drop_schema(self) {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn postgres_store() -> Option<(Store, Pg)> {
    let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
        eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
        return None;
    };
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("veil_test_{}", hex::encode(bytes));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = Store::open_postgres(options).await.unwrap();
    Some((store, Pg { url, schema }))
}

/// Expands one async case `fn(Store)` into a SQLite test and a PostgreSQL test.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = veil_store::Store::open_sqlite(&dir.path().join("veil.db")).await.unwrap();
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((store, pg)) = super::postgres_store().await {
                        super::$name(store.clone()).await;
                        store.close().await;
                        pg.drop_schema().await;
                    }
                }
            )*
        }
    };
}

conformance!(
    ping_answers,
    migrations_are_all_applied,
    keys_round_trip,
    keys_revoke_and_expiry,
    keys_duplicate_hash_is_rejected,
    vault_reuses_mapping_for_same_value,
    vault_isolates_tenants_and_conversations,
    vault_rejects_taken_placeholder,
    vault_expiry_and_purge,
    vault_concurrent_puts_agree,
    vault_batch_writes_each_entry_as_put_entry_does,
    vault_concurrent_batches_agree,
    vault_writer_commits_together_as_in_order,
    vault_writer_spans_many_conversations,
    vault_writer_purges_expired_mappings,
);

fn key(id: &str, hash: &str, tenant: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        key_hash: hash.into(),
        tenant: tenant.into(),
        roles: vec!["analyst".into(), "admin".into()],
        models: vec!["echo".into()],
        created_at: 1_700_000_000,
        expires_at: None,
        revoked_at: None,
        limits: KeyLimits {
            requests_per_minute: Some(60),
            tokens_per_minute: None,
            max_concurrent: Some(4),
        },
        description: "test key".into(),
    }
}

fn entry(tenant: &str, conversation: &str, placeholder: &str, value_hash: &str) -> VaultEntry {
    VaultEntry {
        tenant: tenant.into(),
        conversation: conversation.into(),
        placeholder: placeholder.into(),
        value_hash: value_hash.into(),
        ciphertext: format!("ct:{value_hash}").into_bytes(),
        created_at: 100,
        expires_at: 200,
    }
}

async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
}

async fn migrations_are_all_applied(store: Store) {
    // One row per migration file: keys, exchanges, vault, dp_ledger, audit_log,
    // drop_exchange_records.
    if let Some(pool) = store.sqlite_pool() {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 6);
    }
    if let Some(pool) = store.postgres_pool() {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 6);
    }
}

async fn keys_round_trip(store: Store) {
    assert_eq!(store.count_keys().await.unwrap(), 0);
    let a = key("key_a", "h_a", "acme");
    let mut b = key("key_b", "h_b", "globex");
    b.created_at += 1;
    b.models.clear();
    b.limits = KeyLimits::default();
    store.insert_key(&a).await.unwrap();
    store.insert_key(&b).await.unwrap();
    assert_eq!(store.count_keys().await.unwrap(), 2);
    assert_eq!(store.key_by_hash("h_a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.key_by_id("key_b").await.unwrap(), Some(b.clone()));
    assert_eq!(store.key_by_hash("nope").await.unwrap(), None);
    assert_eq!(store.list_keys(None).await.unwrap(), vec![a.clone(), b]);
    assert_eq!(store.list_keys(Some("acme")).await.unwrap(), vec![a]);
}

async fn keys_revoke_and_expiry(store: Store) {
    let mut a = key("key_a", "h_a", "acme");
    a.expires_at = Some(2_000_000_000);
    store.insert_key(&a).await.unwrap();
    let got = store.key_by_hash("h_a").await.unwrap().unwrap();
    assert!(got.is_active(1_999_999_999));
    assert!(!got.is_active(2_000_000_000));
    assert!(store.revoke_key("key_a", 1_800_000_000).await.unwrap());
    // Revoking twice, or an unknown key, reports false.
    assert!(!store.revoke_key("key_a", 1_800_000_001).await.unwrap());
    assert!(!store.revoke_key("key_zz", 1).await.unwrap());
    let got = store.key_by_hash("h_a").await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(1_800_000_000));
    assert!(!got.is_active(1_700_000_000));
    assert_eq!(store.count_keys().await.unwrap(), 1);
}

async fn keys_duplicate_hash_is_rejected(store: Store) {
    store.insert_key(&key("key_a", "h", "acme")).await.unwrap();
    assert!(store.insert_key(&key("key_b", "h", "acme")).await.is_err());
    assert!(store.insert_key(&key("key_a", "h2", "acme")).await.is_err());
}

async fn vault_reuses_mapping_for_same_value(store: Store) {
    let first = store
        .put_entry(&entry("t", "c", "<PERSON_1>", "v1"), 100)
        .await
        .unwrap();
    assert_eq!(first.placeholder, "<PERSON_1>");
    // The same value proposed under another placeholder keeps the first one.
    let again = store
        .put_entry(&entry("t", "c", "<PERSON_9>", "v1"), 100)
        .await
        .unwrap();
    assert_eq!(again, first);
    let got = store
        .entry_by_placeholder("t", "c", "<PERSON_1>", 150)
        .await
        .unwrap();
    assert_eq!(got, Some(first));
    assert_eq!(
        store
            .entry_by_placeholder("t", "c", "<PERSON_9>", 150)
            .await
            .unwrap(),
        None
    );
}

async fn vault_isolates_tenants_and_conversations(store: Store) {
    store
        .put_entry(&entry("t1", "c", "<P_1>", "v"), 100)
        .await
        .unwrap();
    store
        .put_entry(&entry("t2", "c", "<P_1>", "v2"), 100)
        .await
        .unwrap();
    store
        .put_entry(&entry("t1", "c2", "<P_1>", "v3"), 100)
        .await
        .unwrap();
    let t1 = store.conversation_entries("t1", "c", 150).await.unwrap();
    assert_eq!(t1.len(), 1);
    assert_eq!(t1[0].value_hash, "v");
    let t2 = store
        .entry_by_placeholder("t2", "c", "<P_1>", 150)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.value_hash, "v2");
}

async fn vault_rejects_taken_placeholder(store: Store) {
    store
        .put_entry(&entry("t", "c", "<P_1>", "v1"), 100)
        .await
        .unwrap();
    let err = store
        .put_entry(&entry("t", "c", "<P_1>", "other"), 100)
        .await
        .unwrap_err();
    assert!(err.is_conflict());
}

async fn vault_expiry_and_purge(store: Store) {
    store
        .put_entry(&entry("t", "c", "<P_1>", "v1"), 100)
        .await
        .unwrap();
    assert!(
        store
            .entry_by_placeholder("t", "c", "<P_1>", 200)
            .await
            .unwrap()
            .is_none()
    );
    // After expiry the placeholder can be given to a new value.
    let mut fresh = entry("t", "c", "<P_1>", "v2");
    fresh.expires_at = 400;
    let got = store.put_entry(&fresh, 250).await.unwrap();
    assert_eq!(got.value_hash, "v2");
    store
        .put_entry(&entry("t", "c", "<P_2>", "v3"), 100)
        .await
        .unwrap();
    assert_eq!(store.purge_expired(300).await.unwrap(), 1);
    assert_eq!(
        store
            .conversation_entries("t", "c", 300)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn vault_concurrent_puts_agree(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_entry(&entry("t", "c", &format!("<P_{i}>"), "same"), 100)
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.push(task.await.unwrap().placeholder);
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "every request sees the same placeholder");
}

async fn vault_batch_writes_each_entry_as_put_entry_does(store: Store) {
    store
        .put_entry(&entry("t", "c", "<P_1>", "old"), 100)
        .await
        .unwrap();
    store
        .put_entry(&entry("t", "c", "<P_5>", "taken"), 100)
        .await
        .unwrap();
    let mut stale = entry("t", "c", "<P_7>", "stale");
    stale.expires_at = 120;
    store.put_entry(&stale, 100).await.unwrap();
    assert!(store.put_entries(&[], 130).await.unwrap().is_empty());
    let got = store
        .put_entries(
            &[
                entry("t", "c", "<P_2>", "new"),
                entry("t", "c", "<P_9>", "old"), // value mapped already: <P_1> wins
                entry("t", "c", "<P_5>", "other"), // placeholder taken by another value
                entry("t", "c", "<P_7>", "fresh"), // placeholder of an expired mapping
                entry("t2", "c", "<P_5>", "other"), // another tenant: independent
            ],
            130,
        )
        .await
        .unwrap();
    let placeholders: Vec<Option<&str>> = got
        .iter()
        .map(|e| e.as_ref().map(|e| e.placeholder.as_str()))
        .collect();
    assert_eq!(
        placeholders,
        [
            Some("<P_2>"),
            Some("<P_1>"),
            None,
            Some("<P_7>"),
            Some("<P_5>")
        ]
    );
    assert_eq!(got[3].as_ref().unwrap().value_hash, "fresh");
    let stored = store.conversation_entries("t", "c", 130).await.unwrap();
    let pairs: Vec<(&str, &str)> = stored
        .iter()
        .map(|e| (e.placeholder.as_str(), e.value_hash.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("<P_1>", "old"),
            ("<P_2>", "new"),
            ("<P_5>", "taken"),
            ("<P_7>", "fresh")
        ]
    );
}

/// Concurrent requests of one conversation, each writing several new values in one batch,
/// some shared and proposed under different placeholders: every batch completes (no
/// deadlock between transactions), and every request sees the same placeholder per value.
async fn vault_concurrent_batches_agree(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Values in a different order per request, placeholders proposed per request.
            let mut batch: Vec<VaultEntry> = (0..6)
                .map(|v| entry("t", "c", &format!("<P_{i}_{v}>"), &format!("v{v}")))
                .collect();
            batch.rotate_left(i % 6);
            let got = store.put_entries(&batch, 100).await.unwrap();
            let mut seen: Vec<(String, String)> = got
                .into_iter()
                .map(|e| {
                    let e = e.unwrap();
                    (e.value_hash, e.placeholder)
                })
                .collect();
            seen.sort();
            seen
        }));
    }
    let mut views = Vec::new();
    for task in tasks {
        views.push(task.await.unwrap());
    }
    assert!(views.windows(2).all(|w| w[0] == w[1]), "{views:?}");
    assert_eq!(
        store
            .conversation_entries("t", "c", 150)
            .await
            .unwrap()
            .len(),
        6
    );
}

/// Requests sent to the writer together are committed in one batch, with the outcome that
/// separate transactions in arrival order give: a value mapped by an earlier request keeps
/// its placeholder, a placeholder an earlier request took for another value comes back
/// `None`, and other conversations are independent.
async fn vault_writer_commits_together_as_in_order(store: Store) {
    let writer = VaultWriter::spawn(store.clone());
    let placeholders = |got: Vec<Option<VaultEntry>>| -> Vec<Option<(String, String)>> {
        got.into_iter()
            .map(|e| e.map(|e| (e.placeholder, e.value_hash)))
            .collect()
    };
    let pair = |p: &str, v: &str| Some((p.to_owned(), v.to_owned()));
    // The test runtime has one thread: all three are queued before the writer runs.
    let (a, b, c) = tokio::join!(
        writer.put_entries(
            vec![
                entry("t", "c1", "<P_1>", "a"),
                entry("t", "c1", "<P_2>", "b")
            ],
            100
        ),
        writer.put_entries(
            vec![
                entry("t", "c1", "<P_1>", "c"), // taken by `a` just before
                entry("t", "c1", "<P_3>", "b"), // `b` mapped just before: <P_2> wins
            ],
            100
        ),
        writer.put_entries(vec![entry("t", "c2", "<P_1>", "a")], 100),
    );
    assert_eq!(
        placeholders(a.unwrap()),
        [pair("<P_1>", "a"), pair("<P_2>", "b")]
    );
    assert_eq!(placeholders(b.unwrap()), [None, pair("<P_2>", "b")]);
    assert_eq!(placeholders(c.unwrap()), [pair("<P_1>", "a")]);
    assert_eq!(
        writer.batches(),
        1,
        "the three requests share one transaction"
    );
    assert_eq!(
        store
            .conversation_entries("t", "c1", 150)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        writer
            .put_entries(Vec::new(), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A batch over many conversations, each with an expired mapping in the way, replaces every
/// expired mapping (the one `DELETE` covers all conversations) and answers each request.
async fn vault_writer_spans_many_conversations(store: Store) {
    for i in 0..300 {
        let mut stale = entry("t", &format!("c{i}"), "<P_1>", "stale");
        stale.expires_at = 120;
        store.put_entry(&stale, 100).await.unwrap();
    }
    let writer = VaultWriter::spawn(store.clone());
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .put_entries(
                        vec![
                            entry("t", &format!("c{i}"), "<P_1>", &format!("v{i}")),
                            entry("t", &format!("c{i}"), "<P_2>", "shared"),
                        ],
                        130,
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for (i, answer) in answers.into_iter().enumerate() {
        let got: Vec<(String, String)> = answer
            .unwrap()
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                (e.placeholder, e.value_hash)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("<P_1>".to_owned(), format!("v{i}")),
                ("<P_2>".to_owned(), "shared".to_owned())
            ]
        );
    }
    assert!(writer.batches() < 300, "{} batches", writer.batches());
}

/// The writer deletes expired mappings on its own, in conversations nobody writes to again.
async fn vault_writer_purges_expired_mappings(store: Store) {
    // Entries expire at unix time 200: long past.
    store
        .put_entry(&entry("t", "idle", "<P_1>", "v"), 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .conversation_entries("t", "idle", 150)
            .await
            .unwrap()
            .len(),
        1
    );
    let _writer = VaultWriter::spawn_purging_every(store.clone(), Duration::from_millis(20));
    let mut left = 1;
    for _ in 0..250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = store
            .conversation_entries("t", "idle", 150)
            .await
            .unwrap()
            .len();
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "the expired mapping is still stored");
}
