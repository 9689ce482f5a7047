//! Ledger conformance: one suite, run against SQLite (always) and PostgreSQL (when
//! `VEIL_TEST_POSTGRES_URL` is set, e.g. `postgres://postgres@127.0.0.1:5432/test`; the run
//! gets a fresh schema, dropped afterwards). Without the variable the PostgreSQL case prints a
//! notice and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::str::FromStr;

use sqlx::Connection;
use veil_dp::{Budget, ErrorKind, LedgerKey, PrivacyLoss};
use veil_store::{LedgerStore, PgConnectOptions, Store};

/// A key no other run has used (the PostgreSQL table outlives the test).
fn fresh_key(name: &str) -> LedgerKey {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    LedgerKey::new(format!("{name}-{}-{nanos}", std::process::id()), "person")
}

async fn conformance(ledger: Store) {
    // No budget: refused, nothing created.
    let k = fresh_key("none");
    let e = ledger
        .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.1 })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingBounds);
    assert!(ledger.ledger_entry(&k).await.unwrap().is_none());

    // Spend until refused; a refusal changes nothing; totals never exceed the budget.
    let k = fresh_key("spend");
    ledger
        .set_budget(&k, Budget::Pure { epsilon: 1.0 })
        .await
        .unwrap();
    for _ in 0..4 {
        ledger
            .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.25 })
            .await
            .unwrap();
    }
    let before = ledger.ledger_entry(&k).await.unwrap().unwrap();
    assert_eq!(before.spent.epsilon, 1.0);
    let e = ledger
        .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.01 })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BudgetExceeded);
    assert_eq!(ledger.ledger_entry(&k).await.unwrap().unwrap(), before);

    // Raising the budget keeps the spent total.
    let e = ledger
        .set_budget(&k, Budget::Pure { epsilon: 2.0 })
        .await
        .unwrap();
    assert_eq!(e.spent.epsilon, 1.0);

    // Approximate and zCDP budgets round-trip.
    let k = fresh_key("approx");
    ledger
        .set_budget(
            &k,
            Budget::Approx {
                epsilon: 1.0,
                delta: 1e-6,
            },
        )
        .await
        .unwrap();
    let e = ledger
        .try_spend(
            &k,
            &PrivacyLoss::Approx {
                epsilon: 0.5,
                delta: 1e-7,
            },
        )
        .await
        .unwrap();
    assert_eq!((e.spent.epsilon, e.spent.delta), (0.5, 1e-7));
    let k = fresh_key("zcdp");
    ledger
        .set_budget(&k, Budget::Zcdp { rho: 0.5 })
        .await
        .unwrap();
    ledger
        .try_spend(&k, &PrivacyLoss::Zcdp { rho: 0.125 })
        .await
        .unwrap();
    let e = ledger.ledger_entry(&k).await.unwrap().unwrap();
    assert_eq!(e.budget, Budget::Zcdp { rho: 0.5 });
    assert_eq!(e.spent.rho, 0.125);
    // Invalid budgets are refused before touching the database.
    assert!(
        ledger
            .set_budget(&k, Budget::Pure { epsilon: f64::NAN })
            .await
            .is_err()
    );

    // Concurrency: 20 spends of 0.125 race for a budget of 1.0; exactly 8 may win.
    let k = fresh_key("race");
    ledger
        .set_budget(&k, Budget::Pure { epsilon: 1.0 })
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (l, k) = (ledger.clone(), k.clone());
        set.spawn(async move { l.try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.125 }).await });
    }
    let mut wins = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::BudgetExceeded, "{e}"),
        }
    }
    assert_eq!(wins, 8);
    assert_eq!(
        ledger
            .ledger_entry(&k)
            .await
            .unwrap()
            .unwrap()
            .spent
            .epsilon,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_conformance_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("veil.db");
    let ledger = Store::open_sqlite(&path).await.unwrap();
    conformance(ledger.clone()).await;
    // Persisted: a second connection sees the same totals.
    let k = LedgerKey::new("persist", "row");
    ledger
        .set_budget(&k, Budget::Pure { epsilon: 3.0 })
        .await
        .unwrap();
    ledger
        .try_spend(&k, &PrivacyLoss::Pure { epsilon: 0.5 })
        .await
        .unwrap();
    ledger.close().await;
    let again = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(
        again.ledger_entry(&k).await.unwrap().unwrap().spent.epsilon,
        0.5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_conformance_postgres() {
    let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
        eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset; skipping the PostgreSQL ledger suite");
        return;
    };
    let schema = format!("veil_test_ledger_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = Store::open_postgres(options).await.unwrap();
    conformance(store.clone()).await;
    store.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}
