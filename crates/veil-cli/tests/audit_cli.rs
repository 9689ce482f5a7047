//! `veil audit` end to end: keygen, demo log, export, offline verify; tampering exits 1 and
//! names the record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

fn veil(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn setup() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let out = veil(
        d.path(),
        &[
            "audit",
            "keygen",
            "--name",
            "veil.test/audit",
            "--out",
            "signing.key",
        ],
    );
    assert!(out.status.success());
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = veil(
        d.path(),
        &[
            "audit",
            "demo",
            "--log",
            "audit.jsonl",
            "--key",
            "signing.key",
            "--records",
            "60",
            "--checkpoint-every",
            "20",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (d, public)
}

#[test]
fn exported_file_verifies_offline_and_tampering_exits_1_naming_the_record() {
    let (d, public) = setup();
    let ok = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "audit.jsonl",
            "--public-key",
            &public,
        ],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: 60 records"));

    let out = veil(
        d.path(),
        &[
            "audit",
            "export",
            "--log",
            "audit.jsonl",
            "--from-seq",
            "25",
            "--out",
            "export.jsonl",
        ],
    );
    assert!(out.status.success());
    let ok = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "export.jsonl",
            "--public-key",
            &public,
            "--strict",
        ],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // A selection: alice's denials, each with an inclusion proof.
    let out = veil(
        d.path(),
        &[
            "audit",
            "export",
            "--log",
            "audit.jsonl",
            "--principal",
            "key:alice",
            "--decision",
            "deny",
            "--out",
            "sel.jsonl",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sel = std::fs::read_to_string(d.path().join("sel.jsonl")).unwrap();
    assert!(
        sel.lines()
            .filter(|l| l.starts_with("{\"type\":\"inclusion\""))
            .count()
            >= 1
    );
    let ok = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "sel.jsonl",
            "--public-key",
            &public,
        ],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // Delete the row of record 30.
    let text = std::fs::read_to_string(d.path().join("export.jsonl")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("{\"type\":\"record\",\"seq\":30,"))
        .collect();
    assert_eq!(kept.len() + 1, text.lines().count());
    std::fs::write(d.path().join("tampered.jsonl"), kept.join("\n") + "\n").unwrap();
    let bad = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "tampered.jsonl",
            "--public-key",
            &public,
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("record 30 deleted"), "{err}");

    // Another key: refused with exit 2.
    let other = veil(
        d.path(),
        &[
            "audit",
            "keygen",
            "--name",
            "veil.test/audit",
            "--out",
            "other.key",
        ],
    );
    let other = String::from_utf8(other.stdout).unwrap();
    let bad = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "audit.jsonl",
            "--public-key",
            other.trim(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn proof_and_filtered_log() {
    let (d, _public) = setup();
    let out = veil(d.path(), &["audit", "proof", "--file", "audit.jsonl", "7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["seq"], 7);
    assert_eq!(v["tree_size"], 60);
    let missing = veil(d.path(), &["audit", "proof", "--file", "audit.jsonl", "60"]);
    assert_eq!(missing.status.code(), Some(2));

    let out = veil(
        d.path(),
        &[
            "audit",
            "log",
            "--log",
            "audit.jsonl",
            "--decision",
            "deny",
            "--principal",
            "key:alice",
        ],
    );
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["principal"], "key:alice");
        assert_eq!(r["event"]["verdict"], "deny");
    }
    let all = veil(d.path(), &["audit", "log", "--log", "audit.jsonl"]);
    assert_eq!(String::from_utf8(all.stdout).unwrap().lines().count(), 60);
    let future = veil(
        d.path(),
        &[
            "audit",
            "log",
            "--log",
            "audit.jsonl",
            "--since",
            "2999-01-01T00:00:00Z",
        ],
    );
    assert_eq!(future.stdout.len(), 0);
}

#[test]
fn a_writer_killed_mid_write_leaves_a_log_that_reopens_and_verifies() {
    let (d, public) = setup();
    let path = d.path().join("audit.jsonl");
    let before = std::fs::metadata(&path).unwrap().len();
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .current_dir(d.path())
        .args([
            "audit",
            "demo",
            "--log",
            "audit.jsonl",
            "--key",
            "signing.key",
        ])
        .args([
            "--records",
            "10000000",
            "--batch",
            "7",
            "--checkpoint-every",
            "50",
        ])
        .spawn()
        .unwrap();
    // Let it write a while, then SIGKILL it in the middle of its work.
    for _ in 0..6000 {
        if std::fs::metadata(&path).unwrap().len() > before + 200_000
            || child.try_wait().unwrap().is_some()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        std::fs::metadata(&path).unwrap().len() > before,
        "the writer wrote before it died"
    );
    // Reopening truncates a torn last line (never acknowledged) and continues the chain.
    let out = veil(
        d.path(),
        &[
            "audit",
            "demo",
            "--log",
            "audit.jsonl",
            "--key",
            "signing.key",
            "--records",
            "3",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "audit.jsonl",
            "--public-key",
            &public,
            "--strict",
        ],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn a_kept_checkpoint_catches_a_truncated_log() {
    let (d, public) = setup();
    let out = veil(d.path(), &["audit", "proof", "--file", "audit.jsonl", "50"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    std::fs::write(d.path().join("kept.txt"), v["checkpoint"].as_str().unwrap()).unwrap();
    let ok = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "audit.jsonl",
            "--public-key",
            &public,
            "--trusted-checkpoint",
            "kept.txt",
        ],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Keep only the first 30 records and their checkpoints.
    let text = std::fs::read_to_string(d.path().join("audit.jsonl")).unwrap();
    let cut = text.find("{\"type\":\"record\",\"seq\":30,").unwrap();
    std::fs::write(d.path().join("cut.jsonl"), &text[..cut]).unwrap();
    let bad = veil(
        d.path(),
        &[
            "audit",
            "verify",
            "--file",
            "cut.jsonl",
            "--public-key",
            &public,
            "--trusted-checkpoint",
            "kept.txt",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("record 30 deleted (against a kept checkpoint)"),
        "{err}"
    );
}
