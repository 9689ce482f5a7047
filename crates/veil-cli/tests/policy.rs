//! `veil policy check|test` on the shipped policy directory and on a broken copy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::{path::Path, process::Command};

fn veil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .output()
        .unwrap()
}

fn shipped() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../veil-policy/policies")
        .display()
        .to_string()
}

#[test]
fn shipped_policies_check_and_their_cases_pass() {
    let check = veil(&["policy", "check", "--policies", &shipped()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let test = veil(&["policy", "test", "--policies", &shipped()]);
    let out = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "{out}");
    assert!(out.trim_end().ends_with("passed, 0 failed"), "{out}");
}

#[test]
fn a_broken_policy_fails_check_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("zz-broken.cedar"),
        "permit (principal, action, resource\n",
    )
    .unwrap();
    let check = veil(&[
        "policy",
        "check",
        "--policies",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(check.status.code(), Some(2));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("zz-broken.cedar"), "{err}");
}
