//! Shared by the tests that run the real `veil serve` on a database: where the database is
//! (SQLite in the data directory, or a fresh PostgreSQL schema when `VEIL_TEST_POSTGRES_URL`
//! is set), the config file, and the server process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use veil_audit::{CheckpointSigner, SIGNING_KEY_INFO, VerifierKey, derive_key};
use veil_store::Store;

/// Where a case's gateway keeps its data.
pub enum Db {
    /// `veil.db` in the data directory.
    Sqlite,
    /// A schema of its own in the test PostgreSQL database.
    Postgres { url: String, schema: String },
}

/// A case's directory: `veil.toml`, `data/` (root key, SQLite database) and the database.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub db: Db,
}

impl Site {
    /// A SQLite site, or `None` for PostgreSQL when `VEIL_TEST_POSTGRES_URL` is unset.
    pub async fn new(postgres: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        if !postgres {
            return Some(Self {
                dir,
                db: Db::Sqlite,
            });
        }
        let Ok(url) = std::env::var("VEIL_TEST_POSTGRES_URL") else {
            eprintln!("notice: VEIL_TEST_POSTGRES_URL is unset, skipping the PostgreSQL case");
            return None;
        };
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let schema = format!("veil_cli_{}", hex::encode(bytes));
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Some(Self {
            dir,
            db: Db::Postgres { url, schema },
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("veil.toml")
    }

    /// The database URL the gateway uses.
    pub fn database_url(&self) -> String {
        match &self.db {
            Db::Sqlite => format!("sqlite:{}", self.data_dir().join("veil.db").display()),
            Db::Postgres { url, schema } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}options[search_path]={schema}")
            }
        }
    }

    /// Writes `veil.toml`: one model `up` at `upstream`, the audit settings given, no
    /// per-key request rate limit (the load tests send hundreds a second), and the database.
    pub fn write_config(&self, upstream: &str, audit: &str) {
        let store = match self.db {
            Db::Sqlite => String::new(),
            Db::Postgres { .. } => {
                format!("[store]\ndatabase_url = \"{}\"\n", self.database_url())
            }
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             [models.up]\nbase_url = \"{upstream}\"\n\
             [audit]\n{audit}\n\
             [throttle.key]\nrequests_per_minute = 0\n\
             [log]\nlevel = \"warn\"\n{store}",
            self.data_dir().display(),
        );
        std::fs::write(self.config_path(), config).unwrap();
    }

    /// Opens the gateway's database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.database_url()).await.unwrap()
    }

    /// The root key `veil serve` generated.
    pub fn root_key(&self) -> [u8; 32] {
        let text = std::fs::read_to_string(self.data_dir().join("root.key")).unwrap();
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).unwrap();
        key
    }

    /// The checkpoint verifier key of the log, for audit `name`.
    pub fn verifier(&self, name: &str) -> VerifierKey {
        CheckpointSigner::from_seed(name, &derive_key(&self.root_key(), SIGNING_KEY_INFO))
            .unwrap()
            .verifier()
    }

    /// Runs `veil ARGS --config veil.toml` (the CLI finds the database through the config).
    pub fn veil(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_veil"))
            .current_dir(self.path())
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .env_remove("VEIL_MASTER_KEY")
            .env_remove("VEIL_CONFIG")
            .output()
            .unwrap()
    }

    /// Drops the PostgreSQL schema (retrying while a killed server's sessions still hold
    /// locks).
    pub async fn cleanup(self) {
        let Db::Postgres { url, schema } = &self.db else {
            return;
        };
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("SET lock_timeout = '2s'")
            .execute(&mut conn)
            .await
            .unwrap();
        let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        for attempt in 1u64.. {
            match sqlx::query(&statement).execute(&mut conn).await {
                Ok(_) => return,
                Err(sqlx::Error::Database(e))
                    if attempt < 20 && matches!(e.code().as_deref(), Some("40P01" | "55P03")) =>
                {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => panic!("dropping test schema {schema}: {e}"),
            }
        }
    }
}

/// A running `veil serve`, with the admin key it printed and the address it listens on.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub admin: Option<String>,
}

impl Served {
    /// Starts `veil serve --config veil.toml` and waits until it listens.
    pub fn start(site: &Site) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(["serve", "--config"])
            .arg(site.config_path())
            .env_remove("VEIL_MASTER_KEY")
            .env_remove("VEIL_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out_tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("veil_") {
                    let _ = out_tx.send(("key", line));
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("veil: listening on ") {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(("addr", addr.to_owned()));
                } else {
                    eprintln!("veil serve: {line}");
                }
            }
        });
        let mut base = None;
        let mut admin = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while base.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let (what, value) = rx.recv_timeout(left).expect("veil serve did not start");
            match what {
                "addr" => base = Some(value),
                _ => admin = Some(value),
            }
        }
        // The key is printed on stdout before the address on stderr; the two readers race.
        if admin.is_none() {
            admin = rx
                .recv_timeout(Duration::from_millis(500))
                .ok()
                .map(|(_, k)| k);
        }
        Self {
            child,
            base: base.unwrap(),
            admin,
        }
    }

    /// Stops the server with SIGTERM (a clean stop signs the tail of the log) and waits.
    pub fn terminate(mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        assert!(self.child.wait().unwrap().success());
    }
}

/// A chat request body.
pub fn chat_body(content: &str) -> String {
    serde_json::json!({
        "model": "up",
        "messages": [{"role": "user", "content": content}],
    })
    .to_string()
}
