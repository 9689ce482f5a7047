//! Fuzz the offline audit verifier and the parsers it relies on: whatever the bytes, they
//! must be refused or reported, never panic, hang or allocate without bound.
//!
//! Run with `cargo fuzz run audit_verify` from `fuzz/` (needs the `[[bin]]` entry in
//! `fuzz/Cargo.toml` and `veil-audit = { path = "../crates/veil-audit" }`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_audit::{AuditRecord, CheckpointSigner, SignedCheckpoint, VerifierKey, verify_file};

fuzz_target!(|data: &[u8]| {
    let Ok(signer) = CheckpointSigner::from_seed("veil.fuzz/audit", &[7; 32]) else {
        return;
    };
    let key = signer.verifier();
    // A file that claims this key gets past the header and exercises the verifier proper.
    let mut file = veil_audit::Line::header(&key, &Default::default(), &[0; 32]).to_json_line().into_bytes();
    file.extend_from_slice(data);
    let _ = verify_file(std::io::Cursor::new(&file), &key);
    let _ = verify_file(std::io::Cursor::new(data), &key);
    if let Ok(record) = AuditRecord::decode(data) {
        assert_eq!(record.encode(), data, "decode accepted a non-canonical encoding");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = SignedCheckpoint::parse(text) {
            assert_eq!(cp.to_text(), text, "checkpoint parse accepted a non-canonical note");
        }
        let _ = VerifierKey::parse(text);
    }
});
