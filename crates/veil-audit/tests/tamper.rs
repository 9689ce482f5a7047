//! Tamper evidence (issue 5): each alteration of a log makes verification fail and point at
//! the right record or checkpoint; the untampered log passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Cursor;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use veil_audit::*;

const N: u64 = 40;

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed("veil.test/audit", &derive_key(&[9; 32], SIGNING_KEY_INFO)).unwrap()
}

fn event(i: u64, digester: &TextDigester, subject: &SubjectKey) -> Event {
    match i % 4 {
        0 => Event::Request(RequestEvent {
            model: "gpt-4o-mini".into(),
            verdict: if i.is_multiple_of(8) {
                Verdict::Deny
            } else {
                Verdict::Allow
            },
            reasons: vec!["default".into()],
            classes: [("EMAIL_ADDRESS".to_string(), 1)].into_iter().collect(),
            prompt_digest: digester.digest(&format!("prompt {i}")),
            tokens: 10 + i as u32,
            protected: Some(format!("write to <EMAIL_ADDRESS_{i}>")),
            sealed: Some(
                subject
                    .seal(
                        &format!("write to user{i}@example.com"),
                        &format!("req-{i}"),
                    )
                    .unwrap(),
            ),
        }),
        1 => Event::Response(ResponseEvent {
            status: 200,
            classes: ClassCounts::new(),
            answer_digest: digester.digest(&format!("answer {i}")),
            tokens: 20,
            protected: None,
            sealed: None,
        }),
        2 => Event::Decision(DecisionEvent {
            action: "chat".into(),
            verdict: Verdict::Allow,
            reasons: vec![],
            classes: ClassCounts::new(),
        }),
        _ => Event::KeyChange(KeyChangeEvent {
            key_id: format!("k{i}"),
            change: KeyChange::Created,
            actor: "admin".into(),
        }),
    }
}

/// A log of `N` records, committed 4 at a time, a checkpoint every 8 records: returns the
/// log file text.
fn build_log(dir: &std::path::Path) -> String {
    let path = dir.join("audit.jsonl");
    let s = signer();
    let key = s.verifier();
    let sink = FileLog::create(&path, &key).unwrap();
    let mut log = AuditLog::new(
        sink,
        LogState::default(),
        s,
        CheckpointPolicy {
            every_records: 8,
            every_ms: u64::MAX,
        },
    );
    let digester = TextDigester::new(&derive_key(&[9; 32], DIGEST_KEY_INFO));
    let subject = SubjectKey::new("tenant-a", &[5; 32]);
    for i in 0..N {
        log.append(
            1_764_000_000_000 + i * 1000,
            if i % 3 == 0 { "key:alice" } else { "key:bob" },
            &format!("req-{i}"),
            event(i, &digester, &subject),
        )
        .unwrap();
        if i % 4 == 3 {
            log.commit(1_764_000_000_000 + i * 1000).unwrap();
        }
    }
    std::fs::read_to_string(&path).unwrap()
}

fn fixture() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = build_log(dir.path());
    (dir, text)
}

fn verify(text: &str) -> Report {
    verify_file(Cursor::new(text.as_bytes()), &signer().verifier()).unwrap()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Index of the line holding record `seq`.
fn record_line(ls: &[String], seq: u64) -> usize {
    ls.iter()
        .position(|l| l.starts_with(&format!("{{\"type\":\"record\",\"seq\":{seq},")))
        .unwrap()
}

fn checkpoint_line(ls: &[String], size: u64) -> usize {
    ls.iter()
        .position(|l| {
            l.starts_with("{\"type\":\"checkpoint\"") && l.contains(&format!("audit\\n{size}\\n"))
        })
        .unwrap()
}

fn fault(r: &Report) -> (FaultKind, u64) {
    let f = r.first_fault.as_ref().expect("a record fault");
    (f.kind, f.seq)
}

#[test]
fn untampered_log_passes() {
    let (_d, text) = fixture();
    let r = verify(&text);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.size, N);
    assert_eq!(r.checkpoints_verified, N / 8);
    assert_eq!(r.signed_size, Some(N));
}

#[test]
fn flipped_record_byte_is_modified_at_its_seq() {
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    let i = record_line(&ls, 10);
    let v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
    let mut bytes = B64.decode(v["record"].as_str().unwrap()).unwrap();
    bytes[60] ^= 0x01;
    ls[i] = ls[i].replace(v["record"].as_str().unwrap(), &B64.encode(&bytes));
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Modified, 10));
    assert_eq!(r.first_fault.unwrap().position, i as u64 + 1, "line number");
    assert_eq!(r.size, 10, "records before it verified");
}

#[test]
fn changed_leaf_and_bytes_together_break_the_chain() {
    // The forger recomputes the leaf hash of record 10: record 11 no longer chains to it.
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    let i = record_line(&ls, 10);
    let v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
    let mut bytes = B64.decode(v["record"].as_str().unwrap()).unwrap();
    bytes[60] ^= 0x01;
    let leaf = hex::encode(leaf_hash(&bytes));
    ls[i] = Line::Record {
        seq: 10,
        leaf,
        record: B64.encode(&bytes),
    }
    .to_json_line()
    .trim_end()
    .to_string();
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Modified, 11));
    assert!(r.first_fault.unwrap().detail.contains("chain"));
}

#[test]
fn deleted_row_is_reported_at_its_seq() {
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    let i = record_line(&ls, 10);
    ls.remove(i);
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Deleted, 10));
    assert!(!r.is_ok());
}

#[test]
fn deleted_rows_at_the_end_are_caught_by_the_last_checkpoint() {
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    // Remove records 38 and 39 but keep the checkpoint for size 40.
    let i = record_line(&ls, 38);
    ls.remove(i);
    ls.remove(i);
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Deleted, 38));
}

#[test]
fn swapped_rows_are_reordered() {
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    let (a, b) = (record_line(&ls, 10), record_line(&ls, 11));
    ls.swap(a, b);
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Reordered, 10));
    // Non-adjacent: 10 and 13.
    let mut ls = lines(&text);
    let (a, b) = (record_line(&ls, 10), record_line(&ls, 13));
    ls.swap(a, b);
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Reordered, 10));
}

/// A well-formed forged row claiming `seq`, chained to `prev`.
fn forged_row(seq: u64, prev: [u8; 32]) -> String {
    let rec = AuditRecord {
        seq,
        time_ms: 1,
        prev_leaf: prev,
        principal: "key:mallory".into(),
        request_id: "forged".into(),
        event: Event::Decision(DecisionEvent {
            action: "chat".into(),
            verdict: Verdict::Allow,
            reasons: vec![],
            classes: ClassCounts::new(),
        }),
    };
    let bytes = rec.encode();
    let sr = StoredRecord {
        seq,
        leaf: leaf_hash(&bytes),
        bytes,
    };
    Line::record(&sr).to_json_line().trim_end().to_string()
}

fn leaf_of(ls: &[String], seq: u64) -> [u8; 32] {
    let v: serde_json::Value = serde_json::from_str(&ls[record_line(ls, seq)]).unwrap();
    hex::decode(v["leaf"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn inserted_forged_row_is_reported() {
    let (_d, text) = fixture();
    // Before the genuine record 10, chained correctly: the genuine 10 is then a second row 10.
    let mut ls = lines(&text);
    let i = record_line(&ls, 10);
    let prev = leaf_of(&ls, 9);
    ls.insert(i, forged_row(10, prev));
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Inserted, 10));
    // After record 10, claiming seq 10.
    let mut ls = lines(&text);
    let i = record_line(&ls, 10);
    ls.insert(i + 1, forged_row(10, prev));
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Inserted, 10));
    // Claiming an old seq.
    let mut ls = lines(&text);
    let i = record_line(&ls, 20);
    ls.insert(i, forged_row(3, prev));
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Inserted, 3));
}

#[test]
fn rewritten_suffix_is_caught_by_the_next_checkpoint() {
    // Re-encode records 10.. with altered content, recomputing every leaf and chain link: no
    // per-record check can see it; the checkpoint for size 16 no longer matches.
    let (_d, text) = fixture();
    let mut ls = lines(&text);
    let mut prev = leaf_of(&ls, 9);
    for seq in 10..N {
        let i = record_line(&ls, seq);
        let v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
        let mut rec =
            AuditRecord::decode(&B64.decode(v["record"].as_str().unwrap()).unwrap()).unwrap();
        rec.prev_leaf = prev;
        if seq == 10 {
            rec.principal = "key:mallory".into();
        }
        let bytes = rec.encode();
        let leaf = leaf_hash(&bytes);
        ls[i] = Line::record(&StoredRecord { seq, leaf, bytes })
            .to_json_line()
            .trim_end()
            .to_string();
        prev = leaf;
    }
    let r = verify(&join(&ls));
    assert!(r.first_fault.is_none());
    assert!(!r.is_ok());
    let f = &r.checkpoint_faults[0];
    assert_eq!(f.size, 16);
    assert_eq!(f.kind, CheckpointFaultKind::RootMismatch { last_good: 8 });
    assert_eq!(f.position, checkpoint_line(&ls, 16) as u64 + 1);
}

#[test]
fn replaced_checkpoints_fail() {
    let (_d, text) = fixture();
    let ls0 = lines(&text);
    let i = checkpoint_line(&ls0, 16);
    let root = {
        let v: serde_json::Value = serde_json::from_str(&ls0[i]).unwrap();
        SignedCheckpoint::parse(v["text"].as_str().unwrap())
            .unwrap()
            .checkpoint
            .root
    };
    // Signed by another key.
    let other = CheckpointSigner::from_seed("veil.test/audit", &[1; 32]).unwrap();
    let mut ls = ls0.clone();
    ls[i] = Line::checkpoint(&other.sign(16, root, 5))
        .to_json_line()
        .trim_end()
        .to_string();
    let r = verify(&join(&ls));
    assert!(r.first_fault.is_none());
    assert!(matches!(
        r.checkpoint_faults[0].kind,
        CheckpointFaultKind::BadSignature(_)
    ));
    assert_eq!(
        (r.checkpoint_faults[0].size, r.checkpoint_faults[0].position),
        (16, i as u64 + 1)
    );
    // A genuine older checkpoint replayed in its place.
    let mut ls = ls0.clone();
    ls[i] = ls0[checkpoint_line(&ls0, 8)].clone();
    let r = verify(&join(&ls));
    assert_eq!(
        r.checkpoint_faults[0].kind,
        CheckpointFaultKind::OutOfPlace { after: 16 }
    );
    // Its root edited in the text.
    let mut ls = ls0.clone();
    let b64root = B64.encode(root);
    let mut other_root = root;
    other_root[0] ^= 1;
    ls[i] = ls0[i].replace(&b64root, &B64.encode(other_root));
    let r = verify(&join(&ls));
    assert!(matches!(
        r.checkpoint_faults[0].kind,
        CheckpointFaultKind::BadSignature(_)
    ));
    // And the genuine one passes (pair).
    assert!(verify(&join(&ls0)).is_ok());
}

#[test]
fn export_from_a_later_record_verifies_offline_and_detects_tampering() {
    let (d, _text) = fixture();
    let src = FileSource::new(&d.path().join("audit.jsonl"));
    let key = src.verifier_key().unwrap();
    for start in [0, 8, 13, N] {
        let mut out = Vec::new();
        let n = write_export(&src, &key, ExportRange { start }, &mut out).unwrap();
        assert_eq!(n, N - start);
        let text = String::from_utf8(out).unwrap();
        let r = verify(&text);
        assert!(r.is_ok(), "start {start}: {r:?}");
        assert_eq!(r.start, start);
        assert_eq!(r.size, N);
        if start < 32 {
            assert!(r.proofs_verified >= 1, "start {start}");
        }
        if start == 13 {
            // A forged frontier makes the first checkpoint fail.
            let mut ls = lines(&text);
            let v: serde_json::Value = serde_json::from_str(&ls[0]).unwrap();
            let f0 = v["frontier"][0].as_str().unwrap().to_string();
            let mut bad = f0.clone().into_bytes();
            bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
            ls[0] = ls[0].replace(&f0, std::str::from_utf8(&bad).unwrap());
            let r = verify(&join(&ls));
            assert!(matches!(
                r.checkpoint_faults[0].kind,
                CheckpointFaultKind::RootMismatch { .. }
            ));
            // An altered consistency proof fails.
            let mut ls = lines(&text);
            let last = ls.len() - 1;
            assert!(ls[last].contains("consistency"));
            let v: serde_json::Value = serde_json::from_str(&ls[last]).unwrap();
            let p0 = v["proof"][0].as_str().unwrap().to_string();
            let mut bad = p0.clone().into_bytes();
            bad[5] = if bad[5] == b'a' { b'b' } else { b'a' };
            ls[last] = ls[last].replace(&p0, std::str::from_utf8(&bad).unwrap());
            let r = verify(&join(&ls));
            assert!(matches!(
                r.checkpoint_faults[0].kind,
                CheckpointFaultKind::BadConsistencyProof { .. }
            ));
        }
    }
    assert!(write_export(&src, &key, ExportRange { start: N + 1 }, Vec::new()).is_err());
}

#[test]
fn another_key_is_refused_up_front() {
    let (_d, text) = fixture();
    let other = CheckpointSigner::from_seed("veil.test/audit", &[1; 32])
        .unwrap()
        .verifier();
    assert!(verify_file(Cursor::new(text.as_bytes()), &other).is_err());
    assert!(verify_file(Cursor::new(&b""[..]), &signer().verifier()).is_err());
}

#[test]
fn shredded_text_is_gone_and_the_log_still_verifies() {
    let (d, text) = fixture();
    let src = FileSource::new(&d.path().join("audit.jsonl"));
    let key = SubjectKey::new("tenant-a", &[5; 32]);
    let rec = src
        .entries()
        .unwrap()
        .find_map(|e| match e.unwrap() {
            Entry::Record(r) => Some(AuditRecord::decode(&r.bytes).unwrap()),
            Entry::Checkpoint(_) => None,
        })
        .unwrap();
    let Event::Request(req) = &rec.event else {
        panic!("record 0 is a request")
    };
    let sealed = req.sealed.as_ref().unwrap();
    assert_eq!(
        key.open(sealed, "req-0").unwrap().as_str(),
        "write to user0@example.com"
    );
    assert!(
        !text.contains("user0@example.com"),
        "no plaintext in the log"
    );
    drop(key); // crypto-shredding: the key is destroyed (zeroized on drop)
    let replacement = SubjectKey::new("tenant-a", &[6; 32]);
    assert!(replacement.open(sealed, "req-0").is_err());
    assert!(
        verify(&text).is_ok(),
        "the tree does not depend on the plaintext"
    );
}

#[test]
fn reopened_log_continues_the_chain_and_drops_a_torn_line() {
    let (d, text) = fixture();
    let path = d.path().join("audit.jsonl");
    // Simulate a crash mid-write: half a line at the end.
    let mut torn = text.clone();
    torn.push_str("{\"type\":\"record\",\"seq\":40,\"le");
    std::fs::write(&path, &torn).unwrap();
    let (sink, state, key) = FileLog::open(&path).unwrap();
    assert_eq!(key, signer().verifier());
    assert_eq!(state.frontier.size(), N);
    let mut log = AuditLog::new(
        sink,
        state,
        signer(),
        CheckpointPolicy {
            every_records: 8,
            every_ms: u64::MAX,
        },
    );
    log.append(
        2,
        "key:alice",
        "req-x",
        Event::KeyChange(KeyChangeEvent {
            key_id: "k".into(),
            change: KeyChange::Revoked,
            actor: "admin".into(),
        }),
    )
    .unwrap();
    let c = log.commit_with_checkpoint(3).unwrap();
    assert_eq!(c.durable_size, N + 1);
    let after = std::fs::read_to_string(&path).unwrap();
    let r = verify(&after);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.size, N + 1);
}

#[test]
fn inclusion_proofs_from_the_file_log_verify_against_signed_checkpoints() {
    let (d, _text) = fixture();
    let src = FileSource::new(&d.path().join("audit.jsonl"));
    let key = src.verifier_key().unwrap();
    let mut tree = MerkleTree::new();
    let mut cps = Vec::new();
    for e in src.entries().unwrap() {
        match e.unwrap() {
            Entry::Record(r) => {
                tree.push(r.leaf);
            }
            Entry::Checkpoint(cp) => cps.push(cp),
        }
    }
    for cp in &cps {
        key.verify(cp).unwrap();
        let size = cp.checkpoint.size;
        for seq in 0..size {
            let proof = tree.inclusion_proof(seq, size).unwrap();
            assert!(verify_inclusion(
                &tree.leaf(seq).unwrap(),
                seq,
                size,
                &proof,
                &cp.checkpoint.root
            ));
            assert!(
                !verify_inclusion(
                    &tree.leaf((seq + 1) % size).unwrap(),
                    seq,
                    size,
                    &proof,
                    &cp.checkpoint.root
                ) || size == 1
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any single byte changed anywhere in the file is refused or fails verification.
    #[test]
    fn any_byte_flip_breaks_verification(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let text = FIXTURE.with(|f| f.clone());
        let mut bytes = text.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= x;
        match verify_file(Cursor::new(&bytes), &signer().verifier()) {
            Err(_) => {}
            Ok(r) => prop_assert!(!r.is_ok(), "flip at byte {} (xor {:#x}) accepted", i, x),
        }
    }
}

thread_local! {
    static FIXTURE: String = {
        let dir = tempfile::tempdir().unwrap();
        build_log(dir.path())
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The fuzz target's body on arbitrary input after a valid header: reported, never a panic.
    #[test]
    fn arbitrary_lines_after_a_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400), cut in any::<prop::sample::Index>()) {
        let key = signer().verifier();
        let mut file = Line::header(&key, &CompactRange::new(), &[0; 32]).to_json_line().into_bytes();
        // Half the time, splice a real log prefix in so record and checkpoint paths run too.
        let text = FIXTURE.with(|f| f.clone());
        let prefix = &text.as_bytes()[text.find('\n').unwrap() + 1..];
        file.extend_from_slice(&prefix[..cut.index(prefix.len())]);
        file.extend_from_slice(&tail);
        // The header is valid, so the outcome is always a report (never an error or a panic).
        prop_assert!(verify_file(Cursor::new(&file), &key).is_ok());
    }
}

fn selection(text: &str, principal: &str) -> (String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, text).unwrap();
    let src = FileSource::new(&path);
    let mut out = Vec::new();
    let (n, unsigned) = write_selection(
        &src,
        &signer().verifier(),
        |r| r.principal == principal,
        &mut out,
    )
    .unwrap();
    assert_eq!(unsigned, 0);
    (String::from_utf8(out).unwrap(), n)
}

#[test]
fn selection_export_proves_each_record_and_catches_tampering() {
    let (_d, text) = fixture();
    let (sel, n) = selection(&text, "key:alice");
    assert_eq!(n, N.div_ceil(3), "records 0, 3, 6, ... belong to alice");
    let r = verify(&sel);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        (r.size, r.proofs_verified, r.checkpoints_verified),
        (n, n, 1)
    );

    // A record byte flipped.
    let mut ls = lines(&sel);
    let i = record_line(&ls, 9);
    let v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
    let mut bytes = B64.decode(v["record"].as_str().unwrap()).unwrap();
    bytes[70] ^= 0x40;
    ls[i] = ls[i].replace(v["record"].as_str().unwrap(), &B64.encode(&bytes));
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Modified, 9));
    // The same, with the leaf recomputed: no longer included in the checkpoint.
    let leaf = hex::encode(leaf_hash(&bytes));
    ls[i] = Line::Record {
        seq: 9,
        leaf,
        record: B64.encode(&bytes),
    }
    .to_json_line()
    .trim_end()
    .to_string();
    let r = verify(&join(&ls));
    assert_eq!(fault(&r), (FaultKind::Modified, 9));
    assert!(r.first_fault.unwrap().detail.contains("not included"));
    // A record and its proof removed leaves the rest valid (a selection cannot show omissions),
    // but a record without its proof fails.
    let mut ls = lines(&sel);
    let i = record_line(&ls, 9);
    ls.remove(i + 1);
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Malformed, 9));
    // Two records swapped (with their proofs).
    let mut ls = lines(&sel);
    let (a, b) = (record_line(&ls, 9), record_line(&ls, 12));
    ls.swap(a, b);
    ls.swap(a + 1, b + 1);
    assert_eq!(fault(&verify(&join(&ls))), (FaultKind::Reordered, 9));
    // The checkpoint signed by another key: nothing can be proven.
    let mut ls = lines(&sel);
    let v: serde_json::Value = serde_json::from_str(&ls[1]).unwrap();
    let cp = SignedCheckpoint::parse(v["text"].as_str().unwrap()).unwrap();
    let other = CheckpointSigner::from_seed("veil.test/audit", &[1; 32]).unwrap();
    ls[1] = Line::checkpoint(&other.sign(cp.checkpoint.size, cp.checkpoint.root, 1))
        .to_json_line()
        .trim_end()
        .to_string();
    let r = verify(&join(&ls));
    assert!(matches!(
        r.checkpoint_faults[0].kind,
        CheckpointFaultKind::BadSignature(_)
    ));
    assert_eq!(fault(&r), (FaultKind::Modified, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// Any single byte changed in a selection export is refused or fails verification.
    #[test]
    fn any_byte_flip_breaks_a_selection(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let text = SELECTION.with(|f| f.clone());
        let mut bytes = text.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= x;
        match verify_file(Cursor::new(&bytes), &signer().verifier()) {
            Err(_) => {}
            Ok(r) => prop_assert!(!r.is_ok(), "flip at byte {} (xor {:#x}) accepted", i, x),
        }
    }
}

thread_local! {
    static SELECTION: String = FIXTURE.with(|f| selection(f, "key:bob").0);
}

#[test]
fn a_kept_checkpoint_catches_a_log_cut_back_below_it() {
    let (_d, text) = fixture();
    let ls = lines(&text);
    let kept = {
        let v: serde_json::Value = serde_json::from_str(&ls[checkpoint_line(&ls, 32)]).unwrap();
        SignedCheckpoint::parse(v["text"].as_str().unwrap()).unwrap()
    };
    // Cut the file after record 23 (and its checkpoints): consistent on its own.
    let cut: Vec<String> = ls[..record_line(&ls, 24)].to_vec();
    let key = signer().verifier();
    let alone = verify_file(Cursor::new(join(&cut)), &key).unwrap();
    assert!(
        alone.is_ok(),
        "a truncated file is self-consistent: {alone:?}"
    );
    let held =
        verify_file_with(Cursor::new(join(&cut)), &key, std::slice::from_ref(&kept)).unwrap();
    assert_eq!(fault(&held), (FaultKind::Deleted, 24));
    assert_eq!(
        held.first_fault.unwrap().position,
        0,
        "reported against the kept checkpoint"
    );
    // The intact file passes with the kept checkpoint (pair).
    let full = verify_file_with(Cursor::new(text.as_bytes()), &key, &[kept]).unwrap();
    assert!(full.is_ok(), "{full:?}");
    assert_eq!(full.checkpoints_verified, N / 8 + 1);
}

/// Cross-check with the independent Python verifier (`tools/verify_export.py`): it agrees on
/// an intact log, export and selection, and rejects a tampered one.
#[test]
fn independent_python_verifier_agrees() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if python.is_err() {
        eprintln!("python3 not found: skipping the cross-check");
        return;
    }
    let (d, text) = fixture();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/verify_export.py");
    let run = |name: &str, content: &str| {
        let path = d.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = std::process::Command::new("python3")
            .arg(script)
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run("log.jsonl", &text);
    assert_eq!(code, Some(0), "{out}");
    // The Python root equals ours.
    let src = FileSource::new(&d.path().join("log.jsonl"));
    let mut tree = MerkleTree::new();
    for e in src.entries().unwrap() {
        if let Entry::Record(r) = e.unwrap() {
            tree.push(r.leaf);
        }
    }
    assert!(
        out.contains(&format!("root {}", hex::encode(tree.root()))),
        "{out}"
    );

    let mut export = Vec::new();
    write_export(
        &src,
        &signer().verifier(),
        ExportRange { start: 13 },
        &mut export,
    )
    .unwrap();
    let (code, out) = run("export.jsonl", std::str::from_utf8(&export).unwrap());
    assert_eq!(code, Some(0), "{out}");
    let (sel, _) = selection(&text, "key:bob");
    assert_eq!(run("sel.jsonl", &sel).0, Some(0));

    let mut ls = lines(&text);
    let (a, b) = (record_line(&ls, 10), record_line(&ls, 11));
    ls.swap(a, b);
    assert_eq!(run("bad.jsonl", &join(&ls)).0, Some(1));
}

#[test]
fn log_index_serves_proofs_only_for_signed_matching_checkpoints() {
    let (d, text) = fixture();
    let key = signer().verifier();
    let index = LogIndex::from_source(&FileSource::new(&d.path().join("audit.jsonl"))).unwrap();
    for seq in [0, 7, 8, 31, 39] {
        let p = index.inclusion(seq, &key).unwrap();
        assert_eq!(p.checkpoint.checkpoint.size, N, "latest checkpoint");
        assert!(p.verify(&key));
        let mut bad = p.clone();
        bad.leaf[0] ^= 1;
        assert!(!bad.verify(&key));
    }
    assert!(index.inclusion(N, &key).is_none());
    let other = CheckpointSigner::from_seed("veil.test/audit", &[1; 32])
        .unwrap()
        .verifier();
    assert!(
        index.inclusion(3, &other).is_none(),
        "no checkpoint from that key"
    );
    // A log whose record 35 was rewritten: the last checkpoint no longer matches, so the proof
    // falls back to the checkpoint at 32 for early records and none exists for record 35.
    let mut ls = lines(&text);
    let i = record_line(&ls, 35);
    let v: serde_json::Value = serde_json::from_str(&ls[i]).unwrap();
    let mut rec = AuditRecord::decode(&B64.decode(v["record"].as_str().unwrap()).unwrap()).unwrap();
    rec.principal = "key:mallory".into();
    let bytes = rec.encode();
    ls[i] = Line::record(&StoredRecord {
        seq: 35,
        leaf: leaf_hash(&bytes),
        bytes,
    })
    .to_json_line()
    .trim_end()
    .to_string();
    let path = d.path().join("rewritten.jsonl");
    std::fs::write(&path, join(&ls)).unwrap();
    let index = LogIndex::from_source(&FileSource::new(&path)).unwrap();
    assert_eq!(
        index.inclusion(3, &key).unwrap().checkpoint.checkpoint.size,
        32
    );
    assert!(index.inclusion(35, &key).is_none());
}
