//! `veil redact` end to end, on the built binary: text, JSON Lines, CSV, operators, keys,
//! errors with line and record numbers, `--skip-invalid`, and no sensitive value on stderr.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

const KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// Values the detector finds, so we can check none of them survives or reaches stderr.
const EMAIL: &str = "jane.roe@corp.com";
const PHONE: &str = "415-867-5309";
const CARD: &str = "4111 1111 1111 1111";
const SSN: &str = "536-22-8741";

fn veil(args: &[&str], stdin: &[u8], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veil"));
    cmd.arg("redact")
        .args(args)
        .env_remove("VEIL_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = key {
        cmd.env("VEIL_MASTER_KEY", key);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn sample() -> String {
    format!("Mail {EMAIL} or call {PHONE}.\nCard {CARD}, SSN {SSN}.\nAgain {EMAIL}\n")
}

fn assert_no_values(s: &str) {
    for value in [EMAIL, PHONE, CARD, SSN] {
        assert!(!s.contains(value), "a value leaked into: {s}");
    }
}

#[test]
fn text_default_tags_and_summary() {
    let out = veil(&[], sample().as_bytes(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout,
        "Mail <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>.\n\
         Card <CREDIT_CARD_1>, SSN <US_SSN_1>.\nAgain <EMAIL_ADDRESS_1>\n"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("3 records, 0 skipped as invalid, 5 values changed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("EMAIL_ADDRESS") && stderr.contains(" 2\n"),
        "{stderr}"
    );
    assert_no_values(&stderr);
}

#[test]
fn per_class_operators_with_key() {
    let args = [
        "--default-operator",
        "redact",
        "--operator",
        "CREDIT_CARD=mask:4",
        "--operator",
        "US_SSN=fpe",
        "--operator",
        "EMAIL_ADDRESS=surrogate",
        "--operator",
        "PHONE_NUMBER=hash:12",
    ];
    let out = veil(&args, sample().as_bytes(), Some(KEY));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_no_values(&stdout);
    assert!(stdout.contains("**** **** **** 1111"), "{stdout}");
    assert!(stdout.contains("@example."), "{stdout}");
    // The same key gives the same output (surrogates, hashes and FPE are deterministic).
    let again = veil(&args, sample().as_bytes(), Some(KEY));
    assert_eq!(text(&again.stdout), stdout);
    // Another key gives another one.
    let other = veil(&args, sample().as_bytes(), Some(&"17".repeat(32)));
    assert_ne!(text(&other.stdout), stdout);
}

#[test]
fn keyed_operator_without_key_is_refused() {
    let out = veil(&["--default-operator", "hash"], sample().as_bytes(), None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("operator `hash` needs a key"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn key_file_is_created_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let key_arg = key.to_str().unwrap();
    let args = ["--default-operator", "encrypt", "--key-file", key_arg];
    let first = veil(&args, sample().as_bytes(), None);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(key.exists());
    let stdout = text(&first.stdout);
    assert_no_values(&stdout);
    assert!(stdout.contains("<veil:enc:v1:EMAIL_ADDRESS:"));
    // A malformed key is refused without echoing it.
    let out = veil(
        &["--default-operator", "hash"],
        b"x\n",
        Some("not-a-key-0123"),
    );
    assert!(!out.status.success());
    assert!(!text(&out.stderr).contains("not-a-key-0123"));
}

#[test]
fn jsonl_fields_and_line_numbered_errors() {
    let input = format!(
        "{{\"id\":1,\"text\":\"mail {EMAIL}\",\"keep\":\"{PHONE}\"}}\n\
         {{\"id\":2,\"text\":\"card {CARD}\"}}\n"
    );
    let out = veil(&["--jsonl-field", "text"], input.as_bytes(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["text"], "mail <EMAIL_ADDRESS_1>");
    assert_eq!(lines[0]["keep"], PHONE, "unselected fields are left alone");
    assert_eq!(lines[1]["text"], "card <CREDIT_CARD_1>");

    let bad = format!(
        "{{\"text\":\"{EMAIL}\"}}\n{{\"text\":\"{SSN}\"\n{{\"other\":\"{CARD}\"}}\n{{\"text\":\"ok\"}}\n"
    );
    let out = veil(&["--jsonl-field", "text"], bad.as_bytes(), None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2: malformed JSON"), "{stderr}");
    assert_no_values(&stderr);

    let out = veil(
        &["--jsonl-field", "text", "--skip-invalid"],
        bad.as_bytes(),
        None,
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert_no_values(&stdout);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 records, 2 skipped as invalid"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: missing field `text`"), "{stderr}");
    assert_no_values(&stderr);
}

#[test]
fn invalid_utf8_names_the_line() {
    let mut input = format!("fine {EMAIL}\n").into_bytes();
    input.extend_from_slice(b"bad \xff\xfe ");
    input.extend_from_slice(SSN.as_bytes());
    input.push(b'\n');
    let out = veil(&[], &input, None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 2: invalid UTF-8"), "{stderr}");
    assert_no_values(&stderr);
}

#[test]
fn csv_columns_and_record_numbered_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.csv");
    std::fs::write(
        &path,
        format!("id,note,phone\n1,\"write {EMAIL}, thanks\",{PHONE}\n2,card {CARD},none\n"),
    )
    .unwrap();
    let out = veil(&[path.to_str().unwrap(), "--csv-column", "note"], b"", None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "id,note,phone\n1,\"write <EMAIL_ADDRESS_1>, thanks\",{PHONE}\n2,card <CREDIT_CARD_1>,none\n"
        )
    );
    // The extension alone selects CSV; every column is redacted then.
    let out = veil(&[path.to_str().unwrap()], b"", None);
    assert_no_values(&text(&out.stdout));

    let bad = format!("id,note\n1,{EMAIL}\n2,{SSN},extra\n3,ok\n");
    let out = veil(&["--format", "csv"], bad.as_bytes(), None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("record 2 (line 3): 3 fields where the header has 2"),
        "{stderr}"
    );
    assert_no_values(&stderr);
    let out = veil(&["--format", "csv", "--skip-invalid"], bad.as_bytes(), None);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "id,note\n1,<EMAIL_ADDRESS_1>\n3,ok\n");
    let out = veil(&["--csv-column", "nope"], bad.as_bytes(), None);
    assert!(text(&out.stderr).contains("CSV header has no column `nope`"));
}

#[test]
fn unreadable_file_and_bad_flags() {
    let missing = Path::new("/nonexistent/veil-input.txt");
    let out = veil(&[missing.to_str().unwrap()], b"", None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open `/nonexistent/veil-input.txt`"));
    let out = veil(&["--operator", "US_SSN=blur"], b"", None);
    assert!(text(&out.stderr).contains("unknown operator `blur`"));
    let out = veil(&["--operator", "US_SNN=mask"], b"", None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown data class `US_SNN`"));
    let out = veil(&["--format", "text", "--jsonl-field", "x"], b"", None);
    assert!(!out.status.success());
}

#[test]
fn allow_list_keeps_listed_values() {
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, format!("{EMAIL}\n")).unwrap();
    let input = format!("{EMAIL} and {CARD}\n");
    let out = veil(
        &["--allow-list", allow.to_str().unwrap()],
        input.as_bytes(),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{EMAIL} and <CREDIT_CARD_1>\n"));
}
