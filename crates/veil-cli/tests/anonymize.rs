//! `veil anonymize` end to end: the quick form scripts depend on, schemas, reports, errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

fn veil(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .arg("anonymize")
        .args(args)
        .current_dir(dir)
        .env_remove("VEIL_MASTER_KEY")
        .output()
        .unwrap()
}

fn people(dir: &Path) {
    let mut s = String::from("name,age,sex,zip,diagnosis\n");
    for i in 0..60u32 {
        let diag = ["flu", "cold", "asthma", "gout"][(i % 4) as usize];
        s.push_str(&format!(
            "person{i},{},{},021{:02},{diag}\n",
            20 + (i * 7) % 50,
            ["F", "M"][(i % 2) as usize],
            (i * 3) % 17
        ));
    }
    std::fs::write(dir.join("in.csv"), s).unwrap();
}

#[test]
fn quick_form_writes_a_k_anonymous_release_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let out = veil(
        &[
            "--qi",
            "age,sex,zip",
            "--sensitive",
            "diagnosis",
            "--drop",
            "name",
            "--k",
            "5",
            "--l",
            "2",
            "--t",
            "0.5",
            "--suppression",
            "0.05",
            "--report",
            "r.html",
            "--json",
            "r.json",
            "in.csv",
            "out.csv",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prosecutor risk, highest"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("age,sex,zip,diagnosis"),
        "the identifier is dropped"
    );
    let mut classes = std::collections::HashMap::<String, usize>::new();
    for line in lines {
        let (qi, _) = line.rsplit_once(',').unwrap();
        *classes.entry(qi.to_owned()).or_default() += 1;
    }
    assert!(classes.values().all(|&n| n >= 5), "{classes:?}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert!(
        json["after"]["risk"]["prosecutor"]["highest"]
            .as_f64()
            .unwrap()
            <= 0.2
    );
}

#[test]
fn pseudonymize_needs_a_key_and_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let args = [
        "--qi",
        "age,sex,zip",
        "--pseudonymize",
        "name",
        "--k",
        "3",
        "-q",
        "in.csv",
        "out.csv",
    ];
    let out = veil(&args, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("VEIL_MASTER_KEY"));

    std::fs::write(dir.path().join("key"), "0123456789abcdef0123456789abcdef").unwrap();
    let mut with_key = vec!["--key-file", "key"];
    with_key.extend(args);
    let out = veil(&with_key, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert!(!text.contains("person1"), "names are replaced");
    let second = text.lines().nth(1).unwrap();
    assert_eq!(second.split(',').next().unwrap().len(), 64);
}

#[test]
fn bad_schema_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    std::fs::write(dir.path().join("s.toml"), "[[column]]\nname = \"age\"\nrole = \"quasi_identifier\"\nhierarchy = { kind = \"intervals\", widths = [5, 7] }\n").unwrap();
    let out = veil(&["--schema", "s.toml", "in.csv", "out.csv"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("s.toml:4:13"), "{stderr}");
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn unsatisfiable_models_exit_1_without_output() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let out = veil(
        &[
            "--qi",
            "age",
            "--sensitive",
            "diagnosis",
            "--l",
            "5",
            "-q",
            "in.csv",
            "out.csv",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("out.csv").exists());
}

#[test]
fn infer_schema_writes_an_editable_schema() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let out = veil(&["--infer-schema", "in.csv", "s.toml"], dir.path());
    assert!(out.status.success());
    let schema = std::fs::read_to_string(dir.path().join("s.toml")).unwrap();
    assert!(
        schema.contains("name = \"zip\"") && schema.contains("kind = \"prefix\""),
        "{schema}"
    );
    let out = veil(
        &["--schema", "s.toml", "-q", "in.csv", "out.csv"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn output_format_follows_the_input() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let out = veil(&["--qi", "age", "-q", "in.csv", "out.parquet"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be CSV"));
    assert!(!dir.path().join("out.parquet").exists());
}

#[test]
fn parquet_in_parquet_out() {
    let dir = tempfile::tempdir().unwrap();
    people(dir.path());
    let table = veil_tabular::Table::read_csv(&dir.path().join("in.csv")).unwrap();
    table.write_parquet(&dir.path().join("in.parquet")).unwrap();
    let out = veil(
        &[
            "--qi",
            "age,sex,zip",
            "--drop",
            "name",
            "--k",
            "5",
            "-q",
            "in.parquet",
            "out.parquet",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let released = veil_tabular::Table::read_parquet(&dir.path().join("out.parquet")).unwrap();
    assert_eq!(released.rows(), 60);
    assert!(released.column("name").is_none());
    let mut classes = std::collections::HashMap::<(String, String, String), usize>::new();
    for r in 0..released.rows() {
        let v = |c: &str| released.column(c).unwrap().value(r).unwrap().to_owned();
        *classes.entry((v("age"), v("sex"), v("zip"))).or_default() += 1;
    }
    assert!(classes.values().all(|&n| n >= 5), "{classes:?}");
}
