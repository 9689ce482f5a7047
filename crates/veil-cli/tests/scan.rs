//! `veil scan` end to end: output formats, offsets, JSON Lines input, bad input handling, and
//! no sensitive value in any error message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

fn veil(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .arg("scan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // veil may exit (bad arguments) before reading stdin: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn jsonl_prints_one_object_per_line_with_char_offsets() {
    let out = veil(
        &["--format", "jsonl"],
        "Zoë: zoë@example.com\n\ncard 4111 1111 1111 1111\n".as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            // "Zoë" is a person: the names recognizer is part of the default analyzer.
            r#"{"spans":[{"start":0,"end":3,"label":"PERSON","score":0.7},{"start":5,"end":20,"label":"EMAIL_ADDRESS","score":0.95}]}"#,
            r#"{"spans":[]}"#,
            r#"{"spans":[{"start":5,"end":24,"label":"CREDIT_CARD","score":1.0}]}"#,
        ]
    );
    let bytes = veil(
        &["--format", "jsonl", "--offsets", "bytes"],
        "Zoë: zoë@example.com\n".as_bytes(),
    );
    assert!(stdout(&bytes).contains(r#"{"start":6,"end":22,"#));
}

#[test]
fn text_and_json_formats() {
    let input = b"nothing here\nSSN 536-22-1478\n";
    let text = veil(&[], input);
    assert_eq!(stdout(&text), "2:4-15\tUS_SSN\t1.00\n");
    let json = veil(&["--format", "json"], input);
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value[0]["line"], 2);
    assert_eq!(value[0]["spans"][0]["label"], "US_SSN");
}

#[test]
fn jsonl_field_input_keeps_records_aligned() {
    let input = b"{\"id\":1,\"text\":\"mail a@b.io\"}\n{\"id\":2,\"text\":\"nothing\"}\n";
    let out = veil(&["--jsonl-field", "text", "--format", "jsonl"], input);
    assert!(out.status.success());
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("EMAIL_ADDRESS"));
    assert_eq!(lines[1], r#"{"spans":[]}"#);
}

#[test]
fn filters_custom_recognizers_and_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("custom.toml");
    std::fs::write(
        &custom,
        "[[recognizer]]\nname = \"employee\"\nclass = \"EMPLOYEE_ID\"\npattern = 'EMP-\\d{6}'\n",
    )
    .unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "help@veil.example\n").unwrap();
    let input = b"EMP-123456 help@veil.example jo@x.io SSN 536-22-1478\n";
    let out = veil(
        &[
            "--custom",
            custom.to_str().unwrap(),
            "--allow-list",
            allow.to_str().unwrap(),
        ],
        input,
    );
    assert_eq!(
        stdout(&out),
        "1:0-10\tEMPLOYEE_ID\t0.60\n1:29-36\tEMAIL_ADDRESS\t0.95\n1:41-52\tUS_SSN\t1.00\n"
    );
    let only = veil(&["--entities", "US_SSN", "--min-score", "0.9"], input);
    assert_eq!(stdout(&only), "1:41-52\tUS_SSN\t1.00\n");
    let bad = veil(&["--entities", "us ssn"], input);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("invalid --entities"));
}

#[test]
fn bad_input_names_the_line_and_skip_invalid_counts() {
    let input = b"{\"text\":\"ok\"}\n{\"text\":\n{\"other\":\"x\"}\n{\"text\":5}\n\xff\xfe\n{\"text\":\"a@b.io\"}\n";
    let out = veil(&["--jsonl-field", "text", "--format", "jsonl"], input);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("stdin line 2: malformed JSON"),
        "{}",
        stderr(&out)
    );
    let skip = veil(
        &[
            "--jsonl-field",
            "text",
            "--format",
            "jsonl",
            "--skip-invalid",
        ],
        input,
    );
    assert!(skip.status.success());
    let lines: Vec<String> = stdout(&skip).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 6, "one output object per input record");
    assert!(lines[1].contains("\"skipped\":true"));
    assert!(lines[5].contains("EMAIL_ADDRESS"));
    assert!(stderr(&skip).contains("skipped 4 invalid record(s) of 6"));

    let missing = veil(&["--jsonl-field", "text"], b"{\"other\":1}\n");
    assert!(stderr(&missing).contains("line 1: field `text` is missing"));
    let not_string = veil(&["--jsonl-field", "text"], b"{\"text\":[1]}\n");
    assert!(stderr(&not_string).contains("line 1: field `text` is not a string"));
    let utf8 = veil(&[], b"fine\nbad \xc3\x28 here\n");
    assert!(
        stderr(&utf8).contains("stdin line 2: invalid UTF-8 at byte 5"),
        "{}",
        stderr(&utf8)
    );
    let unreadable = veil(&["/nonexistent/input.txt"], b"");
    assert!(stderr(&unreadable).contains("cannot read `/nonexistent/input.txt`"));
}

#[test]
fn errors_never_contain_sensitive_values() {
    let values = [
        "536-22-1478",
        "4111 1111 1111 1111",
        "jane.doe@example.com",
        "GB82 WEST 1234 5698 7654 32",
        "AKIAIOSFODNN7EXAMPLE",
        "4111111111111111",
    ];
    let bad_inputs: Vec<Vec<u8>> = vec![
        // Malformed JSON around values.
        format!("{{\"text\": \"{}\" \"{}\"}}\n", values[0], values[1]).into_bytes(),
        // Field of the wrong type holding a value.
        format!("{{\"text\": {}}}\n", values[5]).into_bytes(),
        format!("{{\"text\": [\"{}\"]}}\n", values[2]).into_bytes(),
        // Missing field, the value in another one.
        format!("{{\"note\": \"{}\"}}\n", values[3]).into_bytes(),
        // Invalid UTF-8 next to a value.
        [
            values[4].as_bytes(),
            b" \xff\xfe ",
            values[2].as_bytes(),
            b"\n",
        ]
        .concat(),
        // Not an object.
        format!("\"{}\"\n", values[0]).into_bytes(),
    ];
    for input in &bad_inputs {
        for extra in [&[][..], &["--skip-invalid"][..]] {
            let mut args = vec!["--jsonl-field", "text", "--format", "jsonl"];
            args.extend_from_slice(extra);
            let out = veil(&args, input);
            let err = stderr(&out);
            assert!(
                !err.is_empty(),
                "expected an error or a skip count on stderr"
            );
            for v in values {
                assert!(!err.contains(v), "stderr leaked a value: {err}");
            }
        }
    }
}
