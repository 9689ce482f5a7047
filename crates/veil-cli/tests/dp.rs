//! `veil dp` end to end: the JSON forms scripts depend on, refusals, and the ledger.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::Digest;
use veil_audit::{Event, KeyChange};
use veil_gateway::config::AuditConfig;
use veil_gateway::recorder::AuditKeys;
use veil_store::{AuditQuery, AuditStore, Store, verify_audit};

fn veil(args: &[&str], ledger: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veil"));
    cmd.args(args).env("VEIL_DP_LEDGER", ledger);
    output(cmd)
}

/// `veil` on the gateway's store (`--data-dir` in `args`): no ledger override in the
/// environment, and no master key, so the root key comes from the data directory.
fn veil_gateway_store(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veil"));
    cmd.args(args)
        .env_remove("VEIL_DP_LEDGER")
        .env_remove("VEIL_MASTER_KEY")
        .env_remove("VEIL_CONFIG");
    output(cmd)
}

fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
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

#[test]
fn parquet_input_gives_the_same_answers_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixture(dir.path());
    let parquet = dir.path().join("people.parquet");
    veil_tabular::Table::read_csv(Path::new(&csv))
        .unwrap()
        .write_parquet(&parquet)
        .unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    // At a huge ε both files give the exact answers.
    for data in [csv.as_str(), parquet.to_str().unwrap()] {
        let (code, out, err) = veil(
            &[
                "dp",
                "query",
                "--data",
                data,
                "--epsilon",
                "1e6",
                "--sum",
                "age",
                "--lower",
                "0",
                "--upper",
                "100",
                "--group-by",
                "city",
                "--keys",
                "Lyon,Paris",
            ],
            &ledger,
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        // Lyon: rows i % 4 == 0, ages 20 + i % 50.
        let lyon: f64 = (0..400)
            .filter(|i| i % 4 == 0)
            .map(|i| f64::from(20 + i % 50))
            .sum();
        assert!((v[0]["value"].as_f64().unwrap() - lyon).abs() < 0.5, "{v}");
    }
    // A plain count reads no column: both formats count every row.
    for data in [csv.as_str(), parquet.to_str().unwrap()] {
        let (code, out, err) = veil(
            &["dp", "query", "--data", data, "--epsilon", "1e6", "--count"],
            &ledger,
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(
            (v["value"].as_f64().unwrap() - 400.0).abs() < 0.5,
            "{data}: {v}"
        );
    }
    // A non-numeric value column is refused by position, never echoing the value.
    let bad = dir.path().join("bad.parquet");
    let mut t = String::from("age\n");
    t.push_str("12\nSECRET\n");
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, t).unwrap();
    veil_tabular::Table::read_csv(&bad_csv)
        .unwrap()
        .write_parquet(&bad)
        .unwrap();
    let (code, _, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            bad.to_str().unwrap(),
            "--epsilon",
            "1",
            "--sum",
            "age",
            "--lower",
            "0",
            "--upper",
            "100",
        ],
        &ledger,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("row 2, column `age`") && !err.contains("SECRET"),
        "{err}"
    );
}

#[test]
fn spec_file_runs_one_release_charged_once_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let spec = dir.path().join("release.toml");
    std::fs::write(
        &spec,
        r#"
dataset = "people"
epsilon = 1.0
delta = 1e-6
privacy_unit = "person"
max_rows = 2

[[query]]
name = "per city"
statistic = "count"
group_by = "city"
share = 0.5

[[query]]
name = "median age"
statistic = "quantile"
column = "age"
lower = 0
upper = 100
group_by = "city"
keys = ["Lyon", "Paris"]

[[query]]
name = "age histogram"
statistic = "histogram"
column = "age"
lower = 0
upper = 100
bins = 4
"#,
    )
    .unwrap();
    // The gateway starts on this data directory first: its log already holds the record of
    // the bootstrap admin key when the DP release is appended.
    let data_dir = dir.path().join("veil-data");
    let data_dir_arg = data_dir.to_str().unwrap();
    start_and_stop_gateway(&data_dir);
    let (code, _, err) = veil_gateway_store(&[
        "dp",
        "budget",
        "set",
        "--data-dir",
        data_dir_arg,
        "--dataset",
        "people",
        "--privacy-unit",
        "person",
        "--epsilon",
        "1.5",
        "--delta",
        "1e-5",
    ]);
    assert_eq!(code, 0, "{err}");
    let run = || {
        veil_gateway_store(&[
            "dp",
            "query",
            "--data",
            &data,
            "--spec",
            spec.to_str().unwrap(),
            "--data-dir",
            data_dir_arg,
        ])
    };
    let (code, out, err) = run();
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["loss"]["notion"], "approx");
    let eps = v["loss"]["epsilon"].as_f64().unwrap();
    assert!(eps <= 1.0 && eps > 0.999_999, "{v}");
    let names: Vec<&str> = v["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["per city", "median age", "age histogram"]);
    let median = &v["queries"][1]["result"][0];
    let ci = median["ci95"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= median["value"].as_f64().unwrap(),
        "{median}"
    );
    assert_eq!(v["queries"][2]["result"].as_array().unwrap().len(), 4);
    // Charged once: ε 1.0 of 1.5 spent, so a second run no longer fits.
    let (code, out, err) = run();
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("privacy budget exceeded"),
        "{err}"
    );
    // The gateway's log now holds its bootstrap record and exactly one DataRelease (the
    // refused run wrote none), each signed at once, and it verifies with the gateway's key.
    let (records, report) = read_gateway_log(&data_dir);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.signed_size, Some(2), "{report:?}");
    assert!(
        matches!(&records[0], Event::KeyChange(k) if k.change == KeyChange::Created),
        "{records:?}"
    );
    let Event::DataRelease(release) = &records[1] else {
        panic!("{records:?}")
    };
    assert_eq!(release.tool, "dp");
    assert_eq!(release.rows, 400);
    assert_eq!(release.epsilon_micros, Some(1_000_000));
    assert_eq!(
        release.dataset_digest,
        <[u8; 32]>::from(sha2::Sha256::digest(std::fs::read(&data).unwrap()))
    );
    // Spec errors name file:line:col and spend nothing.
    std::fs::write(
        &spec,
        "epsilon = 1\n\n[[query]]\nname = \"s\"\nstatistic = \"sum\"\ncolumn = \"age\"\n",
    )
    .unwrap();
    let (code, _, err) = run();
    assert_eq!(code, 2);
    assert!(
        err.contains("release.toml:3:1: query `s`") && err.contains("no declared bounds"),
        "{err}"
    );
    assert_eq!(read_gateway_log(&data_dir).0.len(), 2);
}

/// Run `veil serve` on `data_dir` until it listens, then stop it.
fn start_and_stop_gateway(data_dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("VEIL_MASTER_KEY")
        .env_remove("VEIL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.contains("listening on"), "{seen}");
}

/// The events of the audit log in `data_dir`'s store, and its verification report under the
/// key derived from `data_dir/root.key`.
fn read_gateway_log(data_dir: &Path) -> (Vec<Event>, veil_audit::Report) {
    let root = veil_gateway::server::load_root_key(data_dir).unwrap();
    let keys = AuditKeys::derive(root.expose(), &AuditConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_sqlite(&data_dir.join("veil.db")).await.unwrap();
        let report = verify_audit(&store, &keys.verifier()).await.unwrap();
        let records = store
            .audit_query(&AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        store.close().await;
        (records.into_iter().map(|(_, r)| r.event).collect(), report)
    })
}

#[test]
fn gaussian_queries_show_their_zcdp_conversion_and_spend_rho() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let ledger = dir.path().join("ledger.sqlite");
    let (code, _, err) = veil(
        &["dp", "budget", "set", "--dataset", "people", "--rho", "0.5"],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            &data,
            "--rho",
            "0.125",
            "--count",
            "--dataset",
            "people",
        ],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scale"].as_f64(), Some(2.0));
    assert!(
        err.contains("rho = 0.125 (zCDP)") && err.contains("delta = 0.000001"),
        "{err}"
    );
    let (_, out, _) = veil(&["dp", "budget", "show", "--dataset", "people"], &ledger);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spent"]["rho"].as_f64(), Some(0.125));
    // Laplace against the zCDP budget spends ε²/2.
    let (code, _, err) = veil(
        &[
            "dp",
            "query",
            "--data",
            &data,
            "--epsilon",
            "0.5",
            "--count",
            "--dataset",
            "people",
        ],
        &ledger,
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = veil(&["dp", "budget", "show", "--dataset", "people"], &ledger);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spent"]["rho"].as_f64(), Some(0.25));
}
