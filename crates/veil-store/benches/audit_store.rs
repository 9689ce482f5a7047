//! The audit log through the store: durable append rate (direct batches, and group commit with
//! many concurrent waiters: through [`AuditWriter`] as the gateway's recorder does it, and
//! through a drain loop over the locked `audit_append` path, the recorder's earlier design,
//! for comparison), verification rate from the database, and checkpoint signing cost. Each
//! row also gives the process CPU time it took per record (user + system, all threads).
//!
//! Run with `cargo bench -p veil-store --bench audit_store` (SQLite in a temporary directory);
//! add `-- --only group` to run only the group-commit rows;
//! add `-- --postgres postgres://postgres@127.0.0.1:5432/test` for PostgreSQL too (a fresh
//! schema, dropped afterwards); add `-- --keep DIR` to keep the 200,000-record SQLite database of
//! the verification run as `DIR/audit-200k.db`, with its public key in `DIR/audit.pub`, for
//! timing `veil audit verify --database-url sqlite:DIR/audit-200k.db --public-key DIR/audit.pub`.
//! Results and commands: docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use veil_audit::{
    CheckpointPolicy, CheckpointSigner, Event, RequestEvent, SIGNING_KEY_INFO, TextDigester,
    Verdict, derive_key,
};
use veil_store::{
    AuditSigning, AuditStore, AuditWriter, NewAuditRecord, PgConnectOptions, Store, verify_audit,
};

fn signing() -> AuditSigning {
    AuditSigning {
        signer: CheckpointSigner::from_seed(
            "veil.bench/audit",
            &derive_key(&[1; 32], SIGNING_KEY_INFO),
        )
        .unwrap(),
        policy: CheckpointPolicy::default(),
    }
}

fn record(i: u64, d: &TextDigester) -> NewAuditRecord {
    NewAuditRecord {
        time_ms: 1_764_000_000_000 + i,
        principal: format!("key_{:016x}", i % 50),
        request_id: format!("req_5f2a9c1e04b7{i:010x}"),
        event: Event::Request(RequestEvent {
            model: "gpt-4o-mini".into(),
            verdict: if i.is_multiple_of(10) {
                Verdict::Deny
            } else {
                Verdict::Allow
            },
            reasons: vec![
                "default-policy".into(),
                "treat:EMAIL_ADDRESS=pseudonymize".into(),
            ],
            classes: [("EMAIL_ADDRESS".to_string(), 1), ("PERSON".to_string(), 2)]
                .into_iter()
                .collect(),
            prompt_digest: d.digest("a prompt of ordinary length that stands for the real one"),
            tokens: 120,
            protected: None,
            sealed: None,
        }),
    }
}

/// CPU time of this process so far (user + system, every thread), seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces): utime and stime are the 14th
    // and 15th fields of the line, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A rate and the CPU time per record it cost.
#[derive(Clone, Copy)]
struct Rate {
    per_second: f64,
    cpu_us: f64,
}

fn median_rate(v: &[Rate]) -> Rate {
    Rate {
        per_second: median(v.iter().map(|r| r.per_second).collect()),
        cpu_us: median(v.iter().map(|r| r.cpu_us).collect()),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Appends `total` records in batches of `batch`, one transaction each; records/s.
async fn direct(store: &Store, total: u64, batch: u64) -> f64 {
    let s = signing();
    let d = TextDigester::new(&[2; 32]);
    let records: Vec<_> = (0..total).map(|i| record(i, &d)).collect();
    let started = Instant::now();
    for chunk in records.chunks(batch as usize) {
        store
            .audit_append(chunk, &s, 1_764_000_000_000, false)
            .await
            .unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Starts `clients` tasks that each append `per_client` records one at a time, waiting until
/// each is durable, through `append`; returns the rate and CPU time per record.
async fn clients<F, Fut>(clients: u64, per_client: u64, append: F) -> Rate
where
    F: Fn(NewAuditRecord) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let append = append.clone();
        tasks.push(tokio::spawn(async move {
            let d = TextDigester::new(&[2; 32]);
            for i in 0..per_client {
                assert!(append(record(c * per_client + i, &d)).await, "durable");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = (clients * per_client) as f64;
    Rate {
        per_second: n / started.elapsed().as_secs_f64(),
        cpu_us: (cpu_seconds() - cpu) / n * 1e6,
    }
}

/// Group commit through the store's [`AuditWriter`] (the gateway recorder's writer).
async fn group_commit(store: &Store, clients_n: u64, per_client: u64) -> Rate {
    let writer = AuditWriter::spawn(store.clone(), std::sync::Arc::new(signing()));
    let w = writer.clone();
    let rate = clients(clients_n, per_client, move |r| {
        let w = w.clone();
        async move { w.append(r).await.is_ok() }
    })
    .await;
    writer.close().await;
    rate
}

/// Group commit as the recorder did it before [`AuditWriter`]: one task drains the queue into
/// one locked `audit_append` per batch (pooled connection, `synchronous` switched twice, head
/// read in the transaction, no pipeline).
async fn group_commit_locked(store: &Store, clients_n: u64, per_client: u64) -> Rate {
    type Job = (NewAuditRecord, oneshot::Sender<bool>);
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let writer_store = store.clone();
    let writer = tokio::spawn(async move {
        let s = signing();
        let mut jobs = Vec::with_capacity(1024);
        while rx.recv_many(&mut jobs, 1024).await > 0 {
            let (records, waiters): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
            let ok = writer_store
                .audit_append(&records, &s, 1_764_000_000_000, false)
                .await
                .is_ok();
            for w in waiters {
                let _ = w.send(ok);
            }
        }
    });
    let t = tx.clone();
    let rate = clients(clients_n, per_client, move |r| {
        let t = t.clone();
        async move {
            let (done, wait) = oneshot::channel();
            t.send((r, done)).unwrap();
            wait.await.unwrap()
        }
    })
    .await;
    drop(tx);
    writer.await.unwrap();
    rate
}

async fn run(
    name: &str,
    open: impl AsyncFn() -> Store,
    keep: Option<&std::path::Path>,
    only_group: bool,
) {
    let runs = 5;
    for clients in [64u64, 256] {
        for (design, locked) in [("writer", false), ("locked", true)] {
            let mut rates = Vec::new();
            for _ in 0..runs {
                let store = open().await;
                rates.push(if locked {
                    group_commit_locked(&store, clients, 40_000 / clients).await
                } else {
                    group_commit(&store, clients, 40_000 / clients).await
                });
                store.close().await;
            }
            let rate = median_rate(&rates);
            println!(
                "{name}: group commit ({design}), {clients:>3} waiting clients: {:>10.0} durable appends/s, {:>6.1} µs CPU per record (median of {runs})",
                rate.per_second, rate.cpu_us
            );
        }
    }
    if only_group {
        return;
    }
    let mut by_batch = Vec::new();
    for batch in [1u64, 64, 512] {
        let total = if batch == 1 { 2_000 } else { 50_000 };
        let mut rates = Vec::new();
        for _ in 0..runs {
            let store = open().await;
            rates.push(direct(&store, total, batch).await);
            store.close().await;
        }
        by_batch.push((batch, median(rates)));
    }
    for (batch, rate) in by_batch {
        println!(
            "{name}: direct append, batch {batch:>4}: {rate:>10.0} records/s (median of {runs})"
        );
    }
    // Verification from the database: 200,000 records.
    let store = match keep {
        Some(dir) => Store::open_sqlite(&dir.join("audit-200k.db"))
            .await
            .unwrap(),
        None => open().await,
    };
    let s = signing();
    let d = TextDigester::new(&[2; 32]);
    let records: Vec<_> = (0..200_000).map(|i| record(i, &d)).collect();
    for chunk in records.chunks(1000) {
        store
            .audit_append(chunk, &s, 1_764_000_000_000, false)
            .await
            .unwrap();
    }
    store
        .audit_append(&[], &s, 1_764_000_000_001, true)
        .await
        .unwrap();
    let key = s.signer.verifier();
    if let Some(dir) = keep {
        std::fs::write(dir.join("audit.pub"), key.to_string()).unwrap();
    }
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let report = verify_audit(&store, &key).await.unwrap();
        assert!(report.is_ok() && report.size == 200_000);
        rates.push(200_000.0 / started.elapsed().as_secs_f64() * 60.0);
    }
    println!(
        "{name}: verify from the database, 200,000 records: {:>10.0} records/min (median of {runs})",
        median(rates)
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Checkpoint signing: Ed25519 over the C2SP note, the cost added to a batch that signs.
    let s = signing();
    let mut per = Vec::new();
    for _ in 0..5 {
        let n = 20_000;
        let started = Instant::now();
        for i in 0..n {
            std::hint::black_box(s.signer.sign(i, [i as u8; 32], 1_764_000_000_000));
        }
        per.push(started.elapsed().as_secs_f64() / n as f64 * 1e6);
    }
    println!(
        "checkpoint signing: {:.1} µs per checkpoint (median of 5)",
        median(per)
    );

    let only_group = args.iter().any(|a| a == "--only") && args.iter().any(|a| a == "group");
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .map(|pos| std::path::PathBuf::from(args.get(pos + 1).expect("--keep DIR")));
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU64::new(0);
    run(
        "sqlite",
        async || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Store::open_sqlite(&dir.path().join(format!("bench-{n}.db")))
                .await
                .unwrap()
        },
        keep.as_deref(),
        only_group,
    )
    .await;

    if let Some(pos) = args.iter().position(|a| a == "--postgres") {
        let url = args.get(pos + 1).expect("--postgres URL").clone();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut schemas = Vec::new();
        let pg_counter = std::sync::atomic::AtomicU64::new(0);
        let url2 = url.clone();
        run(
            "postgres",
            async || {
                let n = pg_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let schema = format!("veil_bench_audit_{}_{n}", std::process::id());
                let mut conn = sqlx::PgConnection::connect(&url2).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let options = PgConnectOptions::from_str(&url2)
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                Store::open_postgres(options).await.unwrap()
            },
            None,
            only_group,
        )
        .await;
        let total = pg_counter.load(std::sync::atomic::Ordering::Relaxed);
        for n in 0..total {
            schemas.push(format!("veil_bench_audit_{}_{n}", std::process::id()));
        }
        for schema in schemas {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    let _ = Duration::ZERO;
}
