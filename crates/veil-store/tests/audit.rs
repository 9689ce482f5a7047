//! The audit log in the database, on SQLite and on PostgreSQL (one suite, both backends):
//! sequencing, checkpoints, queries, proofs, exports, concurrent writers and tamper tests.
//!
//! PostgreSQL runs when `VEIL_TEST_POSTGRES_URL` is set; each case gets a fresh schema.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::Connection;
use veil_audit::{
    AuditLog, CheckpointPolicy, CheckpointSigner, DataReleaseEvent, Event, ExportRange, FaultKind,
    KeyChange, KeyChangeEvent, LogState, RequestEvent, ResponseEvent, Verdict, VerifierKey,
    verify_consistency, verify_file, write_export,
};
use veil_store::{
    AuditQuery, AuditSigning, AuditStore, AuditWriter, BlockingAudit, NewAuditRecord,
    PgConnectOptions, Store, audit_consistency, audit_inclusion, verify_audit,
};

/// Opens another handle (its own pool) on the same database: a second replica.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // a handful of values per test run
enum Opener {
    Sqlite(PathBuf),
    Postgres(PgConnectOptions),
}

impl Opener {
    async fn open(&self) -> Store {
        match self {
            Opener::Sqlite(path) => Store::open_sqlite(path).await.unwrap(),
            Opener::Postgres(options) => Store::open_postgres(options.clone()).await.unwrap(),
        }
    }
}

async fn postgres() -> Option<(Opener, String, String)> {
    let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
        eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
        return None;
    };
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("veil_audit_test_{}", hex::encode(bytes));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some((Opener::Postgres(options), url, schema))
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let opener = super::Opener::Sqlite(dir.path().join("veil.db"));
                    let store = opener.open().await;
                    super::$name(store, opener).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some((opener, url, schema)) = super::postgres().await {
                        let store = opener.open().await;
                        super::$name(store.clone(), opener).await;
                        store.close().await;
                        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                            .await
                            .unwrap();
                        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                            .execute(&mut conn)
                            .await
                            .unwrap();
                    }
                }
            )*
        }
    };
}

both!(
    appends_are_sequenced_signed_and_verify,
    queries_check_the_bytes,
    proofs_verify_and_fail_once_altered,
    export_verifies_offline,
    caller_sequenced_import_must_continue_the_log,
    concurrent_writers_share_one_sequence,
    writer_and_other_writers_share_one_sequence,
    writer_on_a_memory_store,
    data_release_is_one_call_and_signed,
    tamper_flipped_byte_is_modified,
    tamper_deleted_row_is_deleted,
    tamper_swapped_rows_are_reordered,
    tamper_inserted_row_is_inserted,
    tamper_replaced_checkpoint_fails,
);

fn signing(every: u64) -> AuditSigning {
    AuditSigning {
        signer: CheckpointSigner::from_seed("veil.test/audit", &[7; 32]).unwrap(),
        policy: CheckpointPolicy {
            every_records: every,
            every_ms: u64::MAX,
        },
    }
}

fn key() -> VerifierKey {
    signing(1).signer.verifier()
}

fn request(i: u64, verdict: Verdict) -> NewAuditRecord {
    NewAuditRecord {
        time_ms: 1_000 + i,
        principal: format!("key_{}", i % 3),
        request_id: format!("req-{i}"),
        event: Event::Request(RequestEvent {
            model: "echo".into(),
            verdict,
            reasons: if verdict == Verdict::Deny {
                vec!["forbid-ssn".into()]
            } else {
                vec![]
            },
            classes: [("US_SSN".to_string(), 1)].into_iter().collect(),
            prompt_digest: [i as u8; 32],
            tokens: 10,
            protected: None,
            sealed: None,
        }),
    }
}

fn response(i: u64) -> NewAuditRecord {
    NewAuditRecord {
        time_ms: 1_000 + i,
        principal: format!("key_{}", i % 3),
        request_id: format!("req-{i}"),
        event: Event::Response(ResponseEvent {
            status: 200,
            classes: Default::default(),
            answer_digest: [1; 32],
            tokens: 5,
            protected: None,
            sealed: None,
        }),
    }
}

/// Appends `n` requests in batches of 5, a checkpoint every 10 records, and a final one.
async fn fill(store: &Store, n: u64) {
    let s = signing(10);
    let all: Vec<_> = (0..n)
        .map(|i| {
            request(
                i,
                if i % 4 == 0 {
                    Verdict::Deny
                } else {
                    Verdict::Allow
                },
            )
        })
        .collect();
    for batch in all.chunks(5) {
        store.audit_append(batch, &s, 5_000, false).await.unwrap();
    }
    store.audit_append(&[], &s, 6_000, true).await.unwrap();
}

async fn verify(store: &Store) -> veil_audit::Report {
    verify_audit(store, &key()).await.unwrap()
}

async fn sql(store: &Store, statement: &str) {
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    if let Some(pool) = store.postgres_pool() {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
}

async fn appends_are_sequenced_signed_and_verify(store: Store, _: Opener) {
    let s = signing(10);
    let first = store
        .audit_append(&[request(0, Verdict::Allow)], &s, 5_000, false)
        .await
        .unwrap();
    assert_eq!((first.first_seq, first.size), (0, 1));
    assert!(first.checkpoint.is_none(), "not due: 1 of 10 records");
    let batch: Vec<_> = (1..12).map(|i| request(i, Verdict::Allow)).collect();
    let second = store.audit_append(&batch, &s, 5_001, false).await.unwrap();
    assert_eq!((second.first_seq, second.size), (1, 12));
    let cp = second.checkpoint.expect("12 records: due");
    assert_eq!(cp.checkpoint.size, 12);
    assert!(key().verify(&cp).is_ok());
    // Nothing new: no checkpoint, even forced.
    let again = store.audit_append(&[], &s, 9_000, true).await.unwrap();
    assert!(again.checkpoint.is_none());
    assert_eq!(store.audit_size().await.unwrap(), 12);

    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.size, 12);
    assert_eq!(report.signed_size, Some(12));

    // Time-based: a tick after `every_ms` signs the tail.
    let timed = AuditSigning {
        policy: CheckpointPolicy {
            every_records: 1000,
            every_ms: 100,
        },
        ..signing(1000)
    };
    store
        .audit_append(&[request(12, Verdict::Allow)], &timed, 5_050, false)
        .await
        .unwrap();
    let tick = store.audit_append(&[], &timed, 5_200, false).await.unwrap();
    assert_eq!(tick.checkpoint.unwrap().checkpoint.size, 13);
    let latest = store.audit_latest_checkpoint().await.unwrap().unwrap();
    assert!(latest.contains("\n13\n"), "{latest}");
}

async fn queries_check_the_bytes(store: Store, _: Opener) {
    fill(&store, 40).await;
    let s = signing(10);
    store
        .audit_append(&[response(5)], &s, 7_000, false)
        .await
        .unwrap();
    let denied = store
        .audit_query(&AuditQuery {
            verdict: Some(Verdict::Deny),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 10);
    assert!(
        denied
            .iter()
            .all(|(_, r)| r.event.verdict() == Some(Verdict::Deny))
    );
    let alice = store
        .audit_query(&AuditQuery {
            principal: Some("key_1".into()),
            since_ms: Some(1_020),
            limit: 3,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let seqs: Vec<u64> = alice.iter().map(|(s, _)| s.seq).collect();
    assert_eq!(seqs, [22, 25, 28]);
    let one = store
        .audit_query(&AuditQuery {
            request_id: Some("req-5".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 2, "request and response of req-5");
    assert!(matches!(one[1].1.event, Event::Response(_)));

    // An edited index column cannot make a wrong row match: the bytes are checked again.
    sql(
        &store,
        "UPDATE audit_records SET principal = 'key_9' WHERE seq = 3",
    )
    .await;
    let forged = store
        .audit_query(&AuditQuery {
            principal: Some("key_9".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(forged.is_empty());
    assert_eq!(store.audit_first_since(1_030).await.unwrap(), 30);
    assert_eq!(store.audit_first_since(999_999).await.unwrap(), 41);
}

async fn proofs_verify_and_fail_once_altered(store: Store, _: Opener) {
    fill(&store, 25).await;
    let proof = audit_inclusion(&store, 13, &key()).await.unwrap().unwrap();
    assert_eq!(proof.checkpoint.checkpoint.size, 25);
    assert!(proof.verify(&key()));
    let mut bad = proof.clone();
    bad.leaf[0] ^= 1;
    assert!(!bad.verify(&key()));
    let mut bad = proof.clone();
    bad.seq = 12;
    assert!(!bad.verify(&key()));

    let roots: Vec<_> = store
        .audit_checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|t| veil_audit::SignedCheckpoint::parse(t).unwrap().checkpoint)
        .collect();
    let (a, b) = (&roots[0], &roots[roots.len() - 1]);
    let consistency = audit_consistency(&store, a.size, b.size)
        .await
        .unwrap()
        .unwrap();
    assert!(verify_consistency(
        a.size,
        b.size,
        &a.root,
        &b.root,
        &consistency
    ));
    let mut altered = consistency.clone();
    altered[0][5] ^= 1;
    assert!(!verify_consistency(
        a.size, b.size, &a.root, &b.root, &altered
    ));
    assert!(audit_consistency(&store, 0, 5).await.unwrap().is_none());
    assert!(audit_consistency(&store, 5, 26).await.unwrap().is_none());
    // Not yet covered by a checkpoint: no proof.
    store
        .audit_append(&[request(99, Verdict::Allow)], &signing(10), 7_000, false)
        .await
        .unwrap();
    assert!(audit_inclusion(&store, 25, &key()).await.unwrap().is_none());
}

async fn export_verifies_offline(store: Store, _: Opener) {
    fill(&store, 33).await;
    let audit = BlockingAudit::new(store.clone(), tokio::runtime::Handle::current());
    let (full, tail) = tokio::task::spawn_blocking(move || {
        let mut full = Vec::new();
        write_export(&audit, &key(), ExportRange::default(), &mut full).unwrap();
        let mut tail = Vec::new();
        write_export(&audit, &key(), ExportRange { start: 20 }, &mut tail).unwrap();
        (full, tail)
    })
    .await
    .unwrap();
    let report = verify_file(full.as_slice(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.size, report.signed_size), (33, Some(33)));
    assert!(report.proofs_verified >= 2);
    let report = verify_file(tail.as_slice(), &key()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.start, report.size), (20, 33));
    // A changed byte in the export is caught.
    let text = String::from_utf8(full).unwrap();
    let tampered = text.replacen("\"seq\":7,", "\"seq\":8,", 1);
    assert_ne!(tampered, text);
    assert!(!verify_file(tampered.as_bytes(), &key()).unwrap().is_ok());
}

async fn caller_sequenced_import_must_continue_the_log(store: Store, _: Opener) {
    let audit = BlockingAudit::new(store.clone(), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || {
        let s = signing(4);
        let mut log = AuditLog::new(audit, LogState::default(), s.signer, s.policy);
        for i in 0..6 {
            let r = request(i, Verdict::Allow);
            log.append(r.time_ms, &r.principal, &r.request_id, r.event)
                .unwrap();
        }
        log.commit_with_checkpoint(2_000).unwrap();
    })
    .await
    .unwrap();
    // The store's own sequencer continues where the import stopped.
    store
        .audit_append(&[request(6, Verdict::Allow)], &signing(10), 3_000, true)
        .await
        .unwrap();
    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.size, report.signed_size), (7, Some(7)));
    // A second writer starting from an empty state does not continue the log: refused.
    let audit = BlockingAudit::new(store.clone(), tokio::runtime::Handle::current());
    let refused = tokio::task::spawn_blocking(move || {
        let s = signing(4);
        let mut log = AuditLog::new(audit, LogState::default(), s.signer, s.policy);
        log.append(0, "p", "r", request(0, Verdict::Allow).event)
            .unwrap();
        log.commit(0).is_err()
    })
    .await
    .unwrap();
    assert!(refused);
    assert_eq!(store.audit_size().await.unwrap(), 7);
}

async fn concurrent_writers_share_one_sequence(store: Store, opener: Opener) {
    // Four handles, each with its own pool (as four gateway replicas), two tasks each,
    // appending small batches at the same time.
    let mut replicas = vec![store.clone()];
    for _ in 0..3 {
        replicas.push(opener.open().await);
    }
    let mut tasks = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for t in 0..2u64 {
            let replica = replica.clone();
            tasks.push(tokio::spawn(async move {
                let s = signing(16);
                let mut firsts = Vec::new();
                for b in 0..15u64 {
                    let id = (r as u64 * 1000) + t * 100 + b;
                    let batch = [request(id, Verdict::Allow), response(id)];
                    let appended = replica
                        .audit_append(&batch, &s, 10_000 + b, false)
                        .await
                        .unwrap();
                    assert_eq!(appended.size, appended.first_seq + 2);
                    firsts.push(appended.first_seq);
                }
                firsts
            }));
        }
    }
    let mut firsts = Vec::new();
    for task in tasks {
        firsts.extend(task.await.unwrap());
    }
    firsts.sort_unstable();
    // Every batch got its own consecutive pair of seqs: no seq given twice, none skipped.
    assert_eq!(firsts, (0..120).map(|i| i * 2).collect::<Vec<_>>());
    store
        .audit_append(&[], &signing(16), 20_000, true)
        .await
        .unwrap();
    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.size, report.signed_size), (240, Some(240)));
    assert!(report.checkpoints_verified >= 10);
    // A request's two records stayed adjacent (one transaction each).
    let pairs = store
        .audit_query(&AuditQuery {
            request_id: Some("req-3104".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].0.seq + 1, pairs[1].0.seq);
    for replica in &replicas[1..] {
        replica.close().await;
    }
}

/// The seq the log holds a request's record at.
async fn seq_of(store: &Store, request_id: &str) -> u64 {
    let found = store
        .audit_query(&AuditQuery {
            request_id: Some(request_id.into()),
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{request_id}");
    found[0].0.seq
}

async fn writer_and_other_writers_share_one_sequence(store: Store, opener: Opener) {
    let writer = AuditWriter::spawn(store.clone(), std::sync::Arc::new(signing(10)));
    let other = opener.open().await;
    // In turn: the writer's head goes stale when another handle appends, so its next batch
    // finds the head moved, rolls back and is appended through the locked path.
    assert_eq!(writer.append(request(0, Verdict::Allow)).await.unwrap(), 0);
    let appended = other
        .audit_append(&[request(1, Verdict::Allow)], &signing(10), 5_000, false)
        .await
        .unwrap();
    assert_eq!(appended.first_seq, 1);
    assert_eq!(writer.append(request(2, Verdict::Deny)).await.unwrap(), 2);
    assert_eq!(writer.append(request(3, Verdict::Allow)).await.unwrap(), 3);
    // At once: four tasks through the writer, one through the other handle.
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let id = 100 + t * 100 + i;
                seqs.push((
                    id,
                    writer.append(request(id, Verdict::Allow)).await.unwrap(),
                ));
            }
            seqs
        }));
    }
    let handle = other.clone();
    let others = tokio::spawn(async move {
        for i in 0..20 {
            handle
                .audit_append(
                    &[request(1000 + i, Verdict::Allow)],
                    &signing(10),
                    6_000,
                    false,
                )
                .await
                .unwrap();
        }
    });
    let mut told = Vec::new();
    for task in tasks {
        told.extend(task.await.unwrap());
    }
    others.await.unwrap();
    writer.close().await;
    assert!(writer.is_closed());
    // Every caller was told the seq its record holds.
    for (id, seq) in &told {
        assert_eq!(seq_of(&store, &format!("req-{id}")).await, *seq);
    }
    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    // Closing signed the tail.
    assert_eq!((report.size, report.signed_size), (124, Some(124)));
    // A closed writer refuses, it does not queue.
    assert!(writer.append(request(9, Verdict::Allow)).await.is_err());
    other.close().await;
}

async fn writer_on_a_memory_store(_: Store, _: Opener) {
    let store = Store::open_in_memory().await.unwrap();
    let writer = AuditWriter::spawn(store.clone(), std::sync::Arc::new(signing(4)));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            writer.append(request(i, Verdict::Allow)).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
    writer.close().await;
    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.size, report.signed_size), (10, Some(10)));
}

async fn data_release_is_one_call_and_signed(store: Store, _: Opener) {
    let s = signing(1000);
    let release = DataReleaseEvent {
        tool: "dp".into(),
        dataset_digest: [3; 32],
        rows: 1200,
        epsilon_micros: Some(500_000),
        k: None,
    };
    let seq = store
        .audit_data_release(&s, "operator:ana", release.clone(), 42_000)
        .await
        .unwrap();
    assert_eq!(seq, 0);
    let key_change = Event::KeyChange(KeyChangeEvent {
        key_id: "key_abc".into(),
        change: KeyChange::Created,
        actor: "cli".into(),
    });
    let seq = store
        .audit_append_signed(&s, "cli", "", key_change, 43_000)
        .await
        .unwrap();
    assert_eq!(seq, 1);
    let report = verify(&store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report.signed_size,
        Some(2),
        "each one-off record is signed at once"
    );
    let found = store
        .audit_query(&AuditQuery {
            principal: Some("operator:ana".into()),
            limit: 5,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found[0].1.event, Event::DataRelease(release));
}

fn fault(report: &veil_audit::Report) -> (FaultKind, u64) {
    let f = report.first_fault.as_ref().expect("a record fault");
    (f.kind, f.seq)
}

async fn tamper_flipped_byte_is_modified(store: Store, _: Opener) {
    fill(&store, 30).await;
    // Flip one byte inside the principal of record 17 (SQLite and PostgreSQL spellings).
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query(
            "UPDATE audit_records SET bytes = substr(bytes, 1, 60) || X'5A' || substr(bytes, 62) \
             WHERE seq = 17",
        )
        .execute(pool)
        .await
        .unwrap();
    }
    if let Some(pool) = store.postgres_pool() {
        sqlx::query("UPDATE audit_records SET bytes = set_byte(bytes, 60, 90) WHERE seq = 17")
            .execute(pool)
            .await
            .unwrap();
    }
    let report = verify(&store).await;
    assert_eq!(fault(&report), (FaultKind::Modified, 17), "{report:?}");
}

async fn tamper_deleted_row_is_deleted(store: Store, _: Opener) {
    fill(&store, 30).await;
    sql(&store, "DELETE FROM audit_records WHERE seq = 11").await;
    assert_eq!(fault(&verify(&store).await), (FaultKind::Deleted, 11));
    // Rows cut from the end: a signed checkpoint still covers them.
    sql(&store, "DELETE FROM audit_records WHERE seq >= 11").await;
    assert_eq!(fault(&verify(&store).await), (FaultKind::Deleted, 11));
}

async fn tamper_swapped_rows_are_reordered(store: Store, _: Opener) {
    fill(&store, 30).await;
    // Exchange the contents of rows 8 and 9 (seq is the key, so the rows trade places).
    sql(&store, "UPDATE audit_records SET seq = -1 WHERE seq = 8").await;
    sql(&store, "UPDATE audit_records SET seq = 8 WHERE seq = 9").await;
    sql(&store, "UPDATE audit_records SET seq = 9 WHERE seq = -1").await;
    assert_eq!(fault(&verify(&store).await), (FaultKind::Reordered, 8));
}

async fn tamper_inserted_row_is_inserted(store: Store, _: Opener) {
    fill(&store, 30).await;
    // A forged record with a valid encoding and leaf, claiming seq 4, at row 30.
    let forged = veil_audit::AuditRecord {
        seq: 4,
        time_ms: 1,
        prev_leaf: [0; 32],
        principal: "key_0".into(),
        request_id: "forged".into(),
        event: request(4, Verdict::Allow).event,
    };
    let bytes = forged.encode();
    let leaf = veil_audit::leaf_hash(&bytes);
    let insert = "INSERT INTO audit_records (seq, time_ms, principal, request_id, kind, verdict, \
                  leaf, bytes) VALUES (30, 1, 'key_0', 'forged', 1, 1, $1, $2)";
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query(insert)
            .bind(leaf.to_vec())
            .bind(&bytes)
            .execute(pool)
            .await
            .unwrap();
    }
    if let Some(pool) = store.postgres_pool() {
        sqlx::query(insert)
            .bind(leaf.to_vec())
            .bind(&bytes)
            .execute(pool)
            .await
            .unwrap();
    }
    let report = verify(&store).await;
    let f = report.first_fault.as_ref().unwrap();
    assert_eq!(
        (f.kind, f.seq, f.position),
        (FaultKind::Inserted, 4, 30),
        "{report:?}"
    );
}

async fn tamper_replaced_checkpoint_fails(store: Store, _: Opener) {
    fill(&store, 30).await;
    // Signed by another key.
    let other = CheckpointSigner::from_seed("veil.test/audit", &[8; 32]).unwrap();
    let root = veil_audit::SignedCheckpoint::parse(&store.audit_checkpoints().await.unwrap()[0])
        .unwrap()
        .checkpoint
        .root;
    let forged = other.sign(10, root, 5_000).to_text();
    let update = "UPDATE audit_checkpoints SET text = $1 WHERE size = 10";
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query(update)
            .bind(&forged)
            .execute(pool)
            .await
            .unwrap();
    }
    if let Some(pool) = store.postgres_pool() {
        sqlx::query(update)
            .bind(&forged)
            .execute(pool)
            .await
            .unwrap();
    }
    let report = verify(&store).await;
    assert!(report.first_fault.is_none());
    let f = &report.checkpoint_faults[0];
    assert_eq!(f.size, 10);
    assert!(f.to_string().contains("not signed by key"), "{f}");
    // An older checkpoint replayed in place of a later one.
    let older = store.audit_checkpoints().await.unwrap()[1].clone();
    let update = "UPDATE audit_checkpoints SET text = $1 WHERE size = 30";
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query(update)
            .bind(&older)
            .execute(pool)
            .await
            .unwrap();
    }
    if let Some(pool) = store.postgres_pool() {
        sqlx::query(update)
            .bind(&older)
            .execute(pool)
            .await
            .unwrap();
    }
    let report = verify(&store).await;
    assert!(
        report.checkpoint_faults.iter().any(|f| f.size == 20),
        "{report:?}"
    );
}

/// The database file once the writer's last connection has really gone: SQLite checkpoints
/// the WAL into the main file when that connection closes, on sqlx's worker thread, which can
/// finish after `Store::close` returns. Waits for the WAL file to go and for two reads 50 ms
/// apart to agree (at most 5 s), so that a later change can only come from the reader.
async fn settled(path: &std::path::Path) -> Vec<u8> {
    let wal = path.with_extension("db-wal");
    let mut last = std::fs::read(path).unwrap();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = std::fs::read(path).unwrap();
        if now == last && !wal.exists() {
            return now;
        }
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_open_writes_nothing_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("veil.db");
    let url = format!("sqlite:{}", path.display());
    // No file: an error, and no file made.
    let err = Store::open_read_only(&url).await.unwrap_err().to_string();
    assert!(err.contains("no database file"), "{err}");
    assert!(!path.exists());
    // A database without Veil's schema: an error, and no schema made.
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE other (x INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = Store::open_read_only(&url).await.unwrap_err().to_string();
    assert!(err.contains("no Veil schema"), "{err}");
    std::fs::remove_file(&path).unwrap();
    // Veil's log: read, verified, and left byte for byte as it was.
    let store = Store::open_sqlite(&path).await.unwrap();
    fill(&store, 30).await;
    store.close().await;
    let before = settled(&path).await;
    let reader = Store::open_read_only(&url).await.unwrap();
    let report = verify(&reader).await;
    assert!(report.is_ok() && report.size == 30, "{report:?}");
    assert!(
        reader
            .audit_append(&[request(99, Verdict::Allow)], &signing(10), 7_000, false)
            .await
            .is_err(),
        "a read-only store refuses writes"
    );
    reader.close().await;
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
    // A schema another build wrote (a migration this one does not know): an error.
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET version = 99999999999999 WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = Store::open_read_only(&url).await.unwrap_err().to_string();
    assert!(err.contains("unknown to this build"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_open_writes_nothing_postgres() {
    let Some((Opener::Postgres(options), url, schema)) = postgres().await else {
        return;
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{sep}options[search_path]={schema}");
    // An empty schema: an error, and nothing created in it.
    let err = Store::open_read_only(&schema_url)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no Veil schema"), "{err}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    // Veil's log: read and verified; the session refuses writes.
    let store = Store::open_postgres(options).await.unwrap();
    fill(&store, 30).await;
    let reader = Store::open_read_only(&schema_url).await.unwrap();
    let report = verify(&reader).await;
    assert!(report.is_ok() && report.size == 30, "{report:?}");
    let err = reader
        .audit_append(&[request(99, Verdict::Allow)], &signing(10), 7_000, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(store.audit_size().await.unwrap(), 30);
    reader.close().await;
    store.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}
