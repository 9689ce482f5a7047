//! The command-line forms scripts depend on (issue 3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn keys_create_prints_the_key_alone_on_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VEIL)
        .args(["keys", "create", "--data-dir"])
        .arg(dir.path())
        .args([
            "--tenant",
            "acme",
            "--role",
            "analyst",
            "--role",
            "clinician",
            "--model",
            "echo",
        ])
        .env_remove("VEIL_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("veil_") && last.len() == 48, "{stdout}");
    let list = Command::new(VEIL)
        .args(["keys", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(
        listed.contains("acme\tanalyst,clinician\techo\tactive"),
        "{listed}"
    );
    assert!(!listed.contains(last), "keys are never listed");
}

#[test]
fn config_check_accepts_the_example_and_rejects_typos() {
    let dir = tempfile::tempdir().unwrap();
    let example = Command::new(VEIL)
        .args(["config", "example"])
        .output()
        .unwrap();
    let path = dir.path().join("veil.toml");
    std::fs::write(&path, &example.stdout).unwrap();
    let ok = Command::new(VEIL)
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("OPENAI_API_KEY", "test")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::write(&path, "[server]\nlisen = \"x\"\n").unwrap();
    let bad = Command::new(VEIL)
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.contains("line 2") && stderr.contains("lisen"),
        "{stderr}"
    );
}

#[test]
fn zero_config_serve_bootstraps_once_and_lists_echo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(".veil");
    let mut child = Command::new(VEIL)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .current_dir(dir.path())
        .env_remove("VEIL_CONFIG")
        .env("VEIL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("bootstrap admin key"), "{line}");
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let key = line.trim().to_owned();
    assert!(key.starts_with("veil_"));
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let models = http(
        &addr,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(models.contains("\"id\":\"echo\""), "{models}");
    let root = data.join("root.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A second start prints no key.
    let mut again = Command::new(VEIL)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .current_dir(dir.path())
        .env("VEIL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(again.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.contains("listening"), "{banner}");
    again.kill().unwrap();
    let output = again.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("veil_"));
}

/// Runs `sql` on the test database (a one-off runtime: the CLI tests are synchronous).
fn pg_exec(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        if sql.starts_with("SELECT") {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            0
        }
    })
}

/// Starts `veil serve` with `extra` arguments; returns the child, the bootstrap key and the
/// address it listens on.
fn serve(
    data: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    let mut command = Command::new(VEIL);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("VEIL_CONFIG")
        .env_remove("VEIL_DATABASE_URL")
        .env("VEIL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("bootstrap admin key"), "{line}");
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let key = line.trim().to_owned();
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    (child, key, addr)
}

/// Issue 3, item 5: `veil serve --database-url postgres://…` runs on PostgreSQL (migrations at
/// start, keys and readiness there), and the flag wins over `VEIL_DATABASE_URL`.
#[test]
fn serve_database_url_flag_runs_on_postgres() {
    let Ok(base) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
        eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
        return;
    };
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("veil_cli_test_{}", hex::encode(bytes));
    pg_exec(&base, &format!("CREATE SCHEMA {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(".veil");
    // The environment names a database that does not exist: the flag must win.
    let (mut child, key, addr) = serve(
        &data,
        &["--database-url", &url],
        &[("VEIL_DATABASE_URL", "sqlite:/nonexistent/dir/veil.db")],
    );
    let ready = http(
        &addr,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let models = http(
        &addr,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        ),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let keys = pg_exec(&base, &format!("SELECT count(*) FROM {schema}.api_keys"));
    pg_exec(&base, &format!("DROP SCHEMA {schema} CASCADE"));
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""store":true"#), "{ready}");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    // The bootstrap key lives in the schema, and no SQLite file was made.
    assert_eq!(keys, 1);
    assert!(!data.join("veil.db").exists());
}

#[test]
fn serve_database_url_flag_rejects_an_unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(VEIL)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", "mysql://db.internal/veil"])
        .env_remove("VEIL_CONFIG")
        .env_remove("VEIL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mysql"), "{stderr}");
}
