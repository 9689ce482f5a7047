//! Audit log benchmarks: append (memory and durable file with group commit), streaming
//! verification, checkpoint signing and verification, proofs.
//!
//! Run with `cargo bench -p veil-audit --bench audit`. Results and commands: docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::io::Cursor;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use veil_audit::*;

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed("veil.bench/audit", &derive_key(&[1; 32], SIGNING_KEY_INFO))
        .unwrap()
}

fn request(i: u64, d: &TextDigester) -> Event {
    Event::Request(RequestEvent {
        model: "gpt-4o-mini".into(),
        verdict: if i.is_multiple_of(10) {
            Verdict::Deny
        } else {
            Verdict::Allow
        },
        reasons: vec!["default-policy".into()],
        classes: [("EMAIL_ADDRESS".to_string(), 1), ("PERSON".to_string(), 2)]
            .into_iter()
            .collect(),
        prompt_digest: d.digest("a prompt of ordinary length that stands for the real one"),
        tokens: 120,
        protected: None,
        sealed: None,
    })
}

fn digester() -> TextDigester {
    TextDigester::new(&derive_key(&[1; 32], DIGEST_KEY_INFO))
}

/// A log file text of `n` records, a checkpoint every 1000.
fn log_text(n: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let s = signer();
    let sink = FileLog::create(&path, &s.verifier()).unwrap();
    let mut log = AuditLog::new(
        sink,
        LogState::default(),
        s,
        CheckpointPolicy {
            every_records: 1000,
            every_ms: u64::MAX,
        },
    );
    let d = digester();
    for i in 0..n {
        log.append(
            1_764_000_000_000 + i,
            "key:alice",
            &format!("req-{i}"),
            request(i, &d),
        )
        .unwrap();
        if i % 1000 == 999 {
            log.commit(i).unwrap();
        }
    }
    log.commit_with_checkpoint(n).unwrap();
    std::fs::read_to_string(&path).unwrap()
}

fn bench_append(c: &mut Criterion) {
    let d = digester();
    let mut g = c.benchmark_group("append");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1000));
    g.bench_function("memory/1000", |b| {
        b.iter_batched(
            || {
                AuditLog::new(
                    MemoryLog::new(),
                    LogState::default(),
                    signer(),
                    CheckpointPolicy::default(),
                )
            },
            |mut log| {
                for i in 0..1000u64 {
                    log.append(i, "key:alice", "req", request(i, &d)).unwrap();
                }
                log.commit(0).unwrap();
                log
            },
            BatchSize::LargeInput,
        );
    });
    // Durable: every commit is one write + fdatasync. The directory is under the target dir
    // (a real disk; /tmp may be tmpfs where fsync is free).
    let base = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    std::fs::create_dir_all(&base).unwrap();
    for batch in [1u64, 16, 64, 256] {
        let total = (batch * 16).max(256);
        g.throughput(Throughput::Elements(total));
        g.bench_function(format!("file_durable/batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir_in(&base).unwrap();
                    let path = dir.path().join("audit.jsonl");
                    let s = signer();
                    let sink = FileLog::create(&path, &s.verifier()).unwrap();
                    (
                        dir,
                        AuditLog::new(sink, LogState::default(), s, CheckpointPolicy::default()),
                    )
                },
                |(dir, mut log)| {
                    for i in 0..total {
                        log.append(i, "key:alice", "req", request(i, &d)).unwrap();
                        if (i + 1) % batch == 0 {
                            log.commit(i).unwrap();
                        }
                    }
                    (dir, log)
                },
                BatchSize::PerIteration,
            );
        });
    }
    // Durable, concurrent: N threads each wait for their own record to be on disk
    // (`append_durable`), sharing fsyncs through leader/follower group commit. This is the
    // gateway's situation: one durable record per request before forwarding.
    for threads in [1usize, 16, 64, 256] {
        // 64 records a thread: a single thread pays one fsync per record.
        let per_thread = 64u64;
        g.throughput(Throughput::Elements(per_thread * threads as u64));
        g.bench_function(format!("file_group_commit/threads_{threads}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir_in(&base).unwrap();
                    let path = dir.path().join("audit.jsonl");
                    let s = signer();
                    let sink = FileLog::create(&path, &s.verifier()).unwrap();
                    let log = GroupCommitLog::new(
                        sink,
                        LogState::default(),
                        s,
                        CheckpointPolicy::default(),
                    );
                    let started = std::time::Instant::now();
                    std::thread::scope(|sc| {
                        for _ in 0..threads {
                            let (log, d) = (&log, &d);
                            sc.spawn(move || {
                                for i in 0..per_thread {
                                    log.append_durable(i, "key:alice", "req", request(i, d))
                                        .unwrap();
                                }
                            });
                        }
                    });
                    total += started.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let n = 100_000u64;
    let text = log_text(n);
    let key = signer().verifier();
    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(n));
    g.bench_function("file/100k_records", |b| {
        b.iter(|| {
            let r = verify_file(Cursor::new(text.as_bytes()), &key).unwrap();
            assert!(r.is_ok());
            r
        });
    });
    g.finish();
}

fn bench_checkpoints_and_proofs(c: &mut Criterion) {
    let s = signer();
    let key = s.verifier();
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("sign", |b| b.iter(|| s.sign(1_000_000, [7; 32], 1)));
    let cp = s.sign(1_000_000, [7; 32], 1);
    g.bench_function("verify", |b| b.iter(|| key.verify(&cp).unwrap()));
    let text = cp.to_text();
    g.bench_function("parse_and_verify_text", |b| {
        b.iter(|| {
            key.verify(&SignedCheckpoint::parse(&text).unwrap())
                .unwrap()
        })
    });
    g.finish();

    let n = 1u64 << 20;
    let mut tree = MerkleTree::new();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let size = n - 12_345;
    let root = tree.root_at(size).unwrap();
    let mut g = c.benchmark_group("proof_1M");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("inclusion_generate", |b| {
        b.iter(|| tree.inclusion_proof(777_777, size).unwrap())
    });
    let proof = tree.inclusion_proof(777_777, size).unwrap();
    let leaf = tree.leaf(777_777).unwrap();
    g.bench_function("inclusion_verify", |b| {
        b.iter(|| assert!(verify_inclusion(&leaf, 777_777, size, &proof, &root)))
    });
    let old = 600_001;
    let old_root = tree.root_at(old).unwrap();
    g.bench_function("consistency_generate", |b| {
        b.iter(|| tree.consistency_proof(old, size).unwrap())
    });
    let cproof = tree.consistency_proof(old, size).unwrap();
    g.bench_function("consistency_verify", |b| {
        b.iter(|| assert!(verify_consistency(old, size, &old_root, &root, &cproof)))
    });
    g.bench_function("root_at_size", |b| b.iter(|| tree.root_at(size).unwrap()));
    g.finish();
}

criterion_group!(
    benches,
    bench_append,
    bench_verify,
    bench_checkpoints_and_proofs
);
criterion_main!(benches);
