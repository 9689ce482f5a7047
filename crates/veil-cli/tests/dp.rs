//! `veil dp` end to end: the JSON forms scripts depend on, refusals, and the ledger.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn veil(args: &[&str], ledger: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .env("VEIL_DP_LEDGER", ledger)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn fixture(dir: &Path) -> String {
    let path = dir.join("people.csv");
    let mut csv = String::from("person,city,age\n");
    for i in 0..400 {
        let city = if i % 4 == 0 { "Lyon" } else { "Paris" };
        csv.push_str(&format!("p{},{city},{}\n", i / 2, 20 + i % 50));
    }
    std::fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn query_prints_value_scale_and_ci() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let ledger = dir.path().join("ledger.sqlite");
    let (code, out, err) = veil(
        &["dp", "query", "--data", &data, "--epsilon", "1", "--count"],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let value = v["value"].as_f64().unwrap();
    assert!((value - 400.0).abs() < 30.0, "{v}");
    assert_eq!(v["scale"].as_f64().unwrap(), 1.0);
    let ci = v["ci95"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < value && value < ci[1].as_f64().unwrap());

    for stat in ["--sum", "--mean"] {
        let (code, out, err) = veil(
            &[
                "dp",
                "query",
                "--data",
                &data,
                "--epsilon",
                "1",
                stat,
                "age",
                "--lower",
                "0",
                "--upper",
                "100",
            ],
            &ledger,
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["value"].is_f64() && v["scale"].is_f64() && v["ci95"].is_array(),
            "{v}"
        );
    }

    let (code, out, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            &data,
            "--epsilon",
            "1",
            "--delta",
            "1e-6",
            "--count",
            "--group-by",
            "city",
        ],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["Lyon", "Paris"]);
}

#[test]
fn unbounded_and_ungrounded_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let ledger = dir.path().join("ledger.sqlite");
    let (code, out, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            &data,
            "--epsilon",
            "1",
            "--sum",
            "age",
        ],
        &ledger,
    );
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("column `age` has no declared bounds"), "{err}");
    let (code, _, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            &data,
            "--epsilon",
            "1",
            "--count",
            "--group-by",
            "city",
        ],
        &ledger,
    );
    assert_eq!(code, 2);
    assert!(err.contains("delta > 0"), "{err}");
}

#[test]
fn ledger_charges_queries_and_refuses_past_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let ledger = dir.path().join("ledger.sqlite");
    let q = [
        "dp",
        "query",
        "--data",
        &data,
        "--epsilon",
        "0.5",
        "--count",
        "--dataset",
        "people",
    ];
    // No budget yet: refused, nothing printed.
    let (code, out, err) = veil(&q, &ledger);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("no privacy budget set"),
        "{err}"
    );
    let (code, _, err) = veil(
        &[
            "dp",
            "budget",
            "set",
            "--dataset",
            "people",
            "--epsilon",
            "1",
        ],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(veil(&q, &ledger).0, 0);
    assert_eq!(veil(&q, &ledger).0, 0);
    let (code, out, err) = veil(&q, &ledger);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("privacy budget exceeded"),
        "{err}"
    );
    let (code, out, _) = veil(&["dp", "budget", "show", "--dataset", "people"], &ledger);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spent"]["epsilon"].as_f64(), Some(1.0));
    assert_eq!(v["budget"]["epsilon"].as_f64(), Some(1.0));
}
