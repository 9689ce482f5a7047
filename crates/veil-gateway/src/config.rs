//! `veil.toml`: the configuration file, every field defaulted and documented.
//!
//! [`Config`] is the raw file; [`Config::validate`] turns it once, at startup, into
//! [`Settings`] (resolved secrets, parsed URLs and data classes), so a bad config stops
//! startup and never a request.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use veil_detect::{DataClass, Sensitive};

use crate::env::{self, EnvError};
use crate::jwt::JwtSettings;

/// The model name served by the built-in echo upstream in zero-config mode.
pub const ECHO_MODEL: &str = "echo";

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where and how the gateway listens.
    pub server: ServerConfig,
    /// Where state is kept.
    pub store: StoreConfig,
    /// Hard limits on requests, enforced before any other work.
    pub limits: LimitsConfig,
    /// Default rate limits per key and per tenant (a key's own limits take precedence).
    pub throttle: ThrottleConfig,
    /// The routing table: public model name -> upstream. Empty means the built-in `echo`
    /// upstream alone, so a fresh install shows what would leave the network.
    pub models: BTreeMap<String, ModelConfig>,
    /// Logging.
    pub log: LogConfig,
    /// How callers authenticate besides API keys.
    pub auth: AuthConfig,
    /// The Cedar policy set that decides what leaves, and how pseudonyms look.
    pub policy: PolicyConfig,
    /// The pseudonym vault: how long a conversation's mappings live.
    pub vault: VaultConfig,
    /// Switches that weaken protection. Every one is off by default.
    pub dangerous: DangerousConfig,
    /// Monitoring: extraction and abuse detectors, alert sinks, automatic actions.
    pub alerts: crate::observe::AlertsConfig,
    /// The tamper-evident audit log.
    pub audit: AuditConfig,
    /// Answer-side injection defences: canary tokens and exfiltration markup.
    pub guard: GuardConfig,
}

/// Answer-side injection defences. Injection *scores* of the request go to policy (see
/// `docs/policy.md`); these settings screen what comes back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// A per-request canary token in the system prompt of every chat: `off` (the default,
    /// since the prompt then carries one more sentence), `flag` (an answer that repeats it,
    /// in any case, spacing or encoding, is recorded with the flag `canary_leaked`) or
    /// `block` (such an answer is withheld: 403 `canary_leaked` for a JSON answer; a stream
    /// is cut at the chunk that completes the token, with an error event).
    pub canary: CanaryMode,
    /// Hosts whose images and links in answers are never flagged as exfiltration markup
    /// (exact host or any subdomain), e.g. the organisation's own CDN. Other images whose URL
    /// carries data, and links with long encoded values, set the flag `exfiltration_markup`.
    pub allowed_hosts: Vec<String>,
}

/// What a leaked canary does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryMode {
    /// No canary.
    #[default]
    Off,
    /// Record the leak.
    Flag,
    /// Withhold the answer.
    Block,
}

/// Where policies come from and how pseudonyms look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// A directory of `.cedar` files (with `schema.cedarschema`, `groups.toml` and
    /// `*.tests.toml`); the embedded default set when absent. A set that does not load stops
    /// startup.
    pub dir: Option<PathBuf>,
    /// How pseudonymized values look: `tag` (`<PERSON_1>`, the default: unmistakably not
    /// real data) or `surrogate` (a realistic fake of the same class, for models that reason
    /// better over natural text).
    pub pseudonyms: PseudonymStyle,
    /// Classes pseudonymized with surrogates even when `pseudonyms = "tag"`.
    pub surrogate_classes: Vec<String>,
    /// Classes the answer check ignores. The check treats a sensitive value in an answer
    /// that did not come from the caller as possibly memorized training data (redacted and
    /// flagged unless policy sends the class in clear); these classes are in ordinary
    /// answers all the time (a date, a city, a company), so they are not checked. `PERSON`
    /// is ignored by default too: the names model flags single capitalized words in short
    /// answers ("Paris", a model name) often enough to garble ordinary answers; remove it
    /// where names in answers matter more than those false positives.
    pub answer_check_ignore: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            dir: None,
            pseudonyms: PseudonymStyle::Tag,
            surrogate_classes: Vec::new(),
            answer_check_ignore: [
                "DATE_TIME",
                "AGE",
                "URL",
                "LOCATION",
                "ORGANIZATION",
                "NRP",
                "PERSON",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// How pseudonyms look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PseudonymStyle {
    /// `<PERSON_1>`.
    #[default]
    Tag,
    /// A realistic fake.
    Surrogate,
}

/// The pseudonym vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Seconds a mapping lives after it was created: the longest a conversation can refer
    /// back to a pseudonym and still see it restored. Short by default (one working day)
    /// because every live mapping is a stored copy of sensitive data.
    pub ttl_secs: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self { ttl_secs: 86_400 }
    }
}

/// Risky switches. Protection fails closed; these are the only ways to fail open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DangerousConfig {
    /// Data classes sent in clear, instead of refusing the request with 503, when their
    /// pseudonyms cannot be stored because the vault fails. Detection and policy failures
    /// always refuse the request whatever this says.
    pub fail_open_classes: Vec<String>,
}

/// Authentication besides Veil's own API keys (which are always on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// JWT bearer tokens from an OpenID Connect provider; off when absent.
    pub jwt: Option<JwtConfig>,
}

/// `[auth.jwt]`: accept the provider's access tokens as bearer tokens.
///
/// A token is accepted when its signature verifies with a key of the provider's JWKS (chosen
/// by `kid`), its algorithm is listed in `algorithms`, `iss` equals `issuer`, `aud` names one
/// of `audience`, `exp` has not passed and `nbf` has (both with `leeway_secs`), and it has a
/// `sub` and a tenant. Its claims become the same principal an API key gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// The provider's JWKS: an `https://` URL (fetched at startup, then every
    /// `refresh_secs`, and again when a token names an unknown key) or a file path.
    pub jwks: String,
    /// The required `iss` claim, for example `https://login.example.com/realms/main`.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required: a token meant for
    /// another service of the same provider must not open the gateway.
    pub audience: Vec<String>,
    /// Signature algorithms accepted. Public-key ones only (RS*, PS*, ES256, ES384, EdDSA):
    /// symmetric HS* is refused so that a public key can never serve as an HMAC secret.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Seconds between scheduled JWKS reloads.
    pub refresh_secs: u64,
    /// The claim holding the tenant (dotted paths such as `org.id` reach nested claims).
    pub tenant_claim: String,
    /// A fixed tenant for every token of this provider; when set, `tenant_claim` is unused.
    pub tenant: Option<String>,
    /// The claim holding roles: an array of strings or a space-separated string (`scope`).
    /// Keycloak puts them under `realm_access.roles`.
    pub roles_claim: String,
    /// Provider role -> Veil role (`"veil-admins" = "admin"`). When set, only mapped roles
    /// are granted; when empty, provider roles are taken as they are.
    pub role_map: BTreeMap<String, String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            jwks: String::new(),
            issuer: String::new(),
            audience: Vec::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            leeway_secs: 60,
            refresh_secs: 300,
            tenant_claim: "tenant".into(),
            tenant: None,
            roles_claim: "roles".into(),
            role_map: BTreeMap::new(),
        }
    }
}

/// Listener settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default so a fresh start exposes nothing.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the root key file (created, mode 0700).
    pub data_dir: PathBuf,
    /// TLS certificate and key (PEM files), served with rustls; plain HTTP when absent (put a
    /// TLS proxy in front then).
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from(".veil"),
            tls: None,
        }
    }
}

/// PEM files for TLS (`[server.tls]`); read and checked at startup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1). Keep it readable by the gateway alone.
    pub key: PathBuf,
}

/// Storage settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://…` to share state between replicas, or `sqlite:PATH`; default is
    /// `DATA_DIR/veil.db`.
    pub database_url: Option<String>,
}

/// Hard limits. They protect the gateway itself, so they apply to every caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most messages in one chat request (413 beyond).
    pub max_messages: usize,
    /// Largest text of one message in bytes (413 beyond).
    pub max_message_bytes: usize,
    /// Largest request head (request line and headers) in bytes; at least 8192.
    pub max_header_bytes: usize,
    /// Seconds allowed to receive a request's headers: slow-loris clients are cut off.
    pub header_read_timeout_secs: u64,
    /// Seconds allowed from request start to response headers, body reading included.
    pub request_timeout_secs: u64,
    /// Requests handled at once by this process; more wait in line.
    pub max_concurrency: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            max_messages: 512,
            max_message_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout_secs: 10,
            request_timeout_secs: 300,
            max_concurrency: 1024,
        }
    }
}

/// Default rate limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Defaults for each key, used where the key sets no limit of its own.
    pub key: RateLimits,
    /// Limits for all keys of one tenant together.
    pub tenant: RateLimits,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            key: RateLimits {
                requests_per_minute: 600,
                tokens_per_minute: 1_000_000,
                max_concurrent: 64,
            },
            tenant: RateLimits {
                requests_per_minute: 6_000,
                tokens_per_minute: 10_000_000,
                max_concurrent: 512,
            },
        }
    }
}

/// One set of rate limits; `0` disables that limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Tokens per minute: prompt tokens (estimated before forwarding) plus completion tokens.
    pub tokens_per_minute: u64,
    /// Requests in flight at once.
    pub max_concurrent: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        ThrottleConfig::default().key
    }
}

/// What serves a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamKind {
    /// Any OpenAI-compatible HTTP server (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp).
    #[default]
    Openai,
    /// The built-in echo upstream: answers with exactly what the model would have received.
    Echo,
    /// A GGUF model registered with `veil models add`, run in-process on CPU; nothing leaves
    /// the host. Policy always sees it as `hosting = on_prem`.
    Local,
}

/// Where a model runs, for policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hosting {
    /// Inside the organisation's network.
    OnPrem,
    /// A third-party service. The default: the stricter assumption.
    #[default]
    Cloud,
}

/// One entry of the routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `openai` (any OpenAI-compatible server), `echo`, or `local` (a registered GGUF model).
    pub kind: UpstreamKind,
    /// Base URL including the version path, for example `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    /// The model name the upstream expects; defaults to the public name. For `local`, the
    /// name given to `veil models add` (looked up in `DATA_DIR/models.toml`).
    pub upstream_model: Option<String>,
    /// Name of the environment variable holding the upstream's API key (never the key).
    pub api_key_env: Option<String>,
    /// Seconds to wait for the upstream's response headers, and between streamed chunks.
    pub timeout_secs: u64,
    /// Retries on connection errors only (never after the request may have been received).
    pub retries: u32,
    /// Where the model runs, for policy.
    pub hosting: Hosting,
    /// Region of the model, for policy (free text such as `eu-west-1`).
    pub region: Option<String>,
    /// Data classes that may reach this model in clear (names as in `veil classes`).
    pub approved_classes: Vec<String>,
    /// How a `local` model runs (ignored by other kinds).
    pub local: LocalConfig,
}

/// How a `local` model runs: a bounded pool of generation threads beside the server's I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Generations that run at once, each with its own KV cache.
    pub workers: usize,
    /// Compute threads per generation. 1 is fastest on small shared machines.
    pub threads: usize,
    /// Requests that may wait for a worker; one more is answered 429 at once.
    pub queue_limit: usize,
    /// Most tokens one answer may have; also the default when a request sets none.
    pub max_tokens: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            threads: 1,
            queue_limit: 16,
            max_tokens: 512,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: UpstreamKind::Openai,
            base_url: None,
            upstream_model: None,
            api_key_env: None,
            timeout_secs: 60,
            retries: 2,
            hosting: Hosting::Cloud,
            region: None,
            approved_classes: Vec::new(),
            local: LocalConfig::default(),
        }
    }
}

/// The audit log: every request and response is a record of a Merkle tree whose signed
/// checkpoints let anyone holding the public key check it offline (`docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The log's name: the origin of every checkpoint and the name in its verifier key.
    /// Name it after the deployment (`veil.example.com/audit`) so two logs never mix.
    pub name: String,
    /// Sign a checkpoint after this many records. Records after the last checkpoint are
    /// protected only by the hash chain, so this bounds what a writer could silently drop.
    pub checkpoint_every_records: u64,
    /// ...or when the last checkpoint is older than this many milliseconds (and records were
    /// added), so a quiet gateway still signs its tail.
    pub checkpoint_every_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            name: "veil.local/audit".into(),
            checkpoint_every_records: 1000,
            checkpoint_every_ms: 10_000,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (one object per line) or `text`.
    pub format: LogFormat,
    /// A tracing filter, for example `info` or `veil_gateway=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message names line and column).
    #[error("invalid config `{origin}`: {message}")]
    Parse {
        /// File name or `<string>`.
        origin: String,
        /// Parser message with line and column.
        message: String,
    },
    /// An environment override is unusable.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A model entry is invalid.
    #[error("model `{model}`: {reason}")]
    Model {
        /// The public model name.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// `[auth.jwt]` is invalid.
    #[error("auth.jwt: {0}")]
    Jwt(String),
    /// `[server.tls]` cannot be loaded.
    #[error("server.tls: {0}")]
    Tls(String),
    /// The policy set does not load (every problem, each with file and line).
    #[error("policy: {0}")]
    Policy(#[from] veil_policy::LoadError),
    /// A data class named in `[policy]` or `[dangerous]` is unknown.
    #[error("{field}: unknown data class `{class}`")]
    Class {
        /// The field.
        field: &'static str,
        /// The name given.
        class: String,
    },
    /// Another field is out of range.
    #[error("{field}: {reason}")]
    Field {
        /// The field, with its table (`vault.ttl_secs`).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// `[alerts]` is invalid.
    #[error(transparent)]
    Alerts(#[from] crate::observe::AlertsConfigError),
    /// The audit section is invalid.
    #[error("audit.{field}: {reason}")]
    Audit {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A limit is out of range.
    #[error("limits.{field}: {reason}")]
    Limit {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Config {
    /// Parses TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            origin: origin.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })
    }

    /// Loads `path`, or `$VEIL_CONFIG`, or `./veil.toml` when it exists, or the defaults;
    /// then applies `VEIL_*` overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let chosen = match path {
            Some(path) => Some(path.to_path_buf()),
            None => match env::var(env::CONFIG)? {
                Some(path) => Some(PathBuf::from(path)),
                None => Some(PathBuf::from("veil.toml")).filter(|p| p.is_file()),
            },
        };
        let mut config = match chosen {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::from_toml_str(&text, &path.display().to_string())?
            }
            None => Self::default(),
        };
        env::apply_overrides(&mut config)?;
        Ok(config)
    }

    /// Checks everything and resolves secrets: the runtime form of the config.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let limits = &self.limits;
        if limits.max_header_bytes < 8192 {
            return Err(ConfigError::Limit {
                field: "max_header_bytes",
                reason: "must be at least 8192",
            });
        }
        for (field, value) in [
            ("max_body_bytes", limits.max_body_bytes),
            ("max_messages", limits.max_messages),
            ("max_message_bytes", limits.max_message_bytes),
            ("max_concurrency", limits.max_concurrency),
        ] {
            if value == 0 {
                return Err(ConfigError::Limit {
                    field,
                    reason: "must be positive",
                });
            }
        }
        let audit = &self.audit;
        if audit.checkpoint_every_records == 0 || audit.checkpoint_every_ms == 0 {
            return Err(ConfigError::Audit {
                field: "checkpoint_every_records",
                reason: "checkpoint intervals must be positive",
            });
        }
        if audit.name.is_empty() || audit.name.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(ConfigError::Audit {
                field: "name",
                reason: "must be non-empty, without spaces or `+`",
            });
        }
        let mut models = BTreeMap::new();
        if self.models.is_empty() {
            let echo = ModelConfig {
                kind: UpstreamKind::Echo,
                hosting: Hosting::OnPrem,
                ..ModelConfig::default()
            };
            models.insert(ECHO_MODEL.to_owned(), resolve_model(ECHO_MODEL, &echo)?);
        }
        for (name, model) in &self.models {
            models.insert(name.clone(), resolve_model(name, model)?);
        }
        let alert_webhook = self.alerts.validate()?;
        let jwt = match &self.auth.jwt {
            Some(jwt) => Some(JwtSettings::from_config(jwt).map_err(ConfigError::Jwt)?),
            None => None,
        };
        let tls = match &self.server.tls {
            Some(tls) => Some(crate::tls::acceptor(tls).map_err(ConfigError::Tls)?),
            None => None,
        };
        if self.vault.ttl_secs == 0 {
            return Err(ConfigError::Field {
                field: "vault.ttl_secs",
                reason: "must be positive",
            });
        }
        let classes = |field: &'static str, names: &[String]| {
            names
                .iter()
                .map(|name| {
                    name.parse::<DataClass>().map_err(|_| ConfigError::Class {
                        field,
                        class: name.clone(),
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()
        };
        let surrogate_classes =
            classes("policy.surrogate_classes", &self.policy.surrogate_classes)?;
        let fail_open_classes = classes(
            "dangerous.fail_open_classes",
            &self.dangerous.fail_open_classes,
        )?;
        let answer_check_ignore = classes(
            "policy.answer_check_ignore",
            &self.policy.answer_check_ignore,
        )?;
        let policies = match &self.policy.dir {
            Some(dir) => veil_policy::Policies::from_dir(dir)?,
            None => veil_policy::Policies::default_set()?,
        };
        let mode = match self.policy.pseudonyms {
            PseudonymStyle::Tag => veil_policy::PseudonymMode::Tag,
            PseudonymStyle::Surrogate => veil_policy::PseudonymMode::Surrogate,
        };
        Ok(Settings {
            config: self.clone(),
            models,
            jwt,
            tls,
            policies: Arc::new(policies.with_pseudonym_mode(mode)),
            surrogate_classes,
            fail_open_classes,
            answer_check_ignore,
            alert_webhook,
        })
    }

    /// The database URL in force: the configured one or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.store.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.server.data_dir.join("veil.db").display()),
        }
    }
}

fn resolve_model(name: &str, model: &ModelConfig) -> Result<ResolvedModel, ConfigError> {
    let fail = |reason: String| ConfigError::Model {
        model: name.to_owned(),
        reason,
    };
    let mut approved = Vec::new();
    for class in &model.approved_classes {
        approved.push(
            class
                .parse::<DataClass>()
                .map_err(|_| fail(format!("unknown data class `{class}`")))?,
        );
    }
    let api_key = match &model.api_key_env {
        Some(var) => {
            let value = std::env::var(var)
                .map_err(|_| fail(format!("environment variable `{var}` is not set")))?;
            Some(Sensitive::new(value))
        }
        None => None,
    };
    let base_url = match (model.kind, &model.base_url) {
        (UpstreamKind::Echo, _) => None,
        (UpstreamKind::Local, Some(_)) => {
            return Err(fail("a `local` model takes no `base_url`".into()));
        }
        (UpstreamKind::Local, None) => {
            let local = &model.local;
            for (field, value) in [
                ("workers", local.workers),
                ("threads", local.threads),
                ("max_tokens", local.max_tokens),
            ] {
                if value == 0 {
                    return Err(fail(format!("`local.{field}` must be positive")));
                }
            }
            None
        }
        (UpstreamKind::Openai, None) => return Err(fail("`base_url` is required".into())),
        (UpstreamKind::Openai, Some(url)) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| fail(format!("`base_url` `{url}` is not a url")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(fail(format!("`base_url` `{url}` must be http or https")));
            }
            Some(url.trim_end_matches('/').to_owned())
        }
    };
    if model.timeout_secs == 0 {
        return Err(fail("`timeout_secs` must be positive".into()));
    }
    Ok(ResolvedModel {
        name: name.to_owned(),
        kind: model.kind,
        base_url,
        upstream_model: model
            .upstream_model
            .clone()
            .unwrap_or_else(|| name.to_owned()),
        api_key,
        timeout: Duration::from_secs(model.timeout_secs),
        retries: model.retries,
        local: model.local.clone(),
        attributes: ModelAttributes {
            // A local model runs inside Veil's own process: on the premises by construction.
            hosting: if model.kind == UpstreamKind::Local {
                Hosting::OnPrem
            } else {
                model.hosting
            },
            region: model.region.clone(),
            approved_classes: approved,
        },
    })
}

/// What policy knows about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAttributes {
    /// Where it runs.
    pub hosting: Hosting,
    /// Its region, if configured.
    pub region: Option<String>,
    /// Data classes it may receive in clear.
    pub approved_classes: Vec<DataClass>,
}

/// A routing table entry after validation.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// Public model name.
    pub name: String,
    /// What serves it.
    pub kind: UpstreamKind,
    /// Base URL without a trailing slash (HTTP upstreams).
    pub base_url: Option<String>,
    /// The name the upstream expects.
    pub upstream_model: String,
    /// The resolved upstream API key.
    pub api_key: Option<Sensitive<String>>,
    /// Header and per-chunk timeout.
    pub timeout: Duration,
    /// Retries on connection errors.
    pub retries: u32,
    /// How a `local` model runs.
    pub local: LocalConfig,
    /// Attributes for policy.
    pub attributes: ModelAttributes,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config it came from.
    pub config: Config,
    /// The routing table, by public model name.
    pub models: BTreeMap<String, ResolvedModel>,
    /// JWT verification, when `[auth.jwt]` is configured.
    pub jwt: Option<JwtSettings>,
    /// The TLS acceptor, when `[server.tls]` is configured.
    pub tls: Option<crate::tls::TlsAcceptor>,
    /// The loaded, schema-validated policy set.
    pub policies: Arc<veil_policy::Policies>,
    /// Classes pseudonymized as surrogates whatever the default style.
    pub surrogate_classes: BTreeSet<DataClass>,
    /// `[dangerous] fail_open_classes`, parsed.
    pub fail_open_classes: BTreeSet<DataClass>,
    /// `[policy] answer_check_ignore`, parsed.
    pub answer_check_ignore: BTreeSet<DataClass>,
    /// The alert webhook with its secret, when configured.
    pub alert_webhook: Option<crate::observe::ResolvedWebhook>,
}

/// The example config shipped in `docs/veil.example.toml`, parsed by a test.
pub const EXAMPLE: &str = include_str!("../veil.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_validates() {
        // SAFETY of the test: the example names `OPENAI_API_KEY`; set a dummy for validation.
        let config = Config::from_toml_str(EXAMPLE, "veil.example.toml").unwrap();
        assert!(config.models.contains_key("gpt-4o"));
        assert!(config.models.contains_key("echo"));
        assert_eq!(config.models["smollm2"].kind, UpstreamKind::Local);
        assert_eq!(config.models["smollm2"].local, LocalConfig::default());
        let mut without_secret = config.clone();
        for model in without_secret.models.values_mut() {
            model.api_key_env = None;
        }
        let settings = without_secret.validate().unwrap();
        assert_eq!(settings.models["gpt-4o"].attributes.hosting, Hosting::Cloud);
    }

    #[test]
    fn defaults_serve_echo_alone() {
        let settings = Config::default().validate().unwrap();
        assert_eq!(settings.models.keys().collect::<Vec<_>>(), ["echo"]);
        assert_eq!(settings.models["echo"].kind, UpstreamKind::Echo);
        assert_eq!(
            Config::default().server.listen.to_string(),
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn unknown_field_is_rejected_with_position() {
        let err =
            Config::from_toml_str("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", "x.toml")
                .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("x.toml"), "{text}");
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn bad_models_are_rejected() {
        let cases = [
            ("[models.m]\n", "`base_url` is required"),
            (
                "[models.m]\nbase_url = \"ftp://x\"\n",
                "must be http or https",
            ),
            (
                "[models.m]\nkind = \"echo\"\napproved_classes = [\"NOPE\"]\n",
                "unknown data class `NOPE`",
            ),
            (
                "[models.m]\nbase_url = \"http://x\"\napi_key_env = \"VEIL_TEST_SURELY_UNSET_VAR\"\n",
                "`VEIL_TEST_SURELY_UNSET_VAR` is not set",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_toml_str(text, "t")
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let ok = Config::from_toml_str("[models.m]\nbase_url = \"http://x/v1/\"\n", "t").unwrap();
        let settings = ok.validate().unwrap();
        assert_eq!(
            settings.models["m"].base_url.as_deref(),
            Some("http://x/v1")
        );
        assert!(!settings.models.contains_key("echo"));
    }

    #[test]
    fn jwt_section_parses_and_validates() {
        let text = "[auth.jwt]\njwks = \"https://idp.test/certs\"\nissuer = \"https://idp.test\"\n\
                    audience = [\"veil\"]\nroles_claim = \"realm_access.roles\"\n\
                    [auth.jwt.role_map]\n\"veil-admins\" = \"admin\"\n";
        let settings = Config::from_toml_str(text, "t")
            .unwrap()
            .validate()
            .unwrap();
        let jwt = settings.jwt.unwrap();
        assert_eq!(
            jwt.source,
            crate::jwt::JwksSource::Url("https://idp.test/certs".into())
        );
        assert_eq!(jwt.leeway, Duration::from_secs(60));
        assert_eq!(jwt.role_map["veil-admins"], "admin");
        let missing_audience = "[auth.jwt]\njwks = \"k.json\"\nissuer = \"https://idp.test\"\n";
        let err = Config::from_toml_str(missing_audience, "t")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().starts_with("auth.jwt: `audience`"), "{err}");
    }

    #[test]
    fn missing_tls_files_stop_validation_naming_the_file() {
        let text = "[server]\ntls = { cert = \"/nonexistent/cert.pem\", key = \"/nonexistent/key.pem\" }\n";
        let err = Config::from_toml_str(text, "t")
            .unwrap()
            .validate()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("server.tls: certificate `/nonexistent/cert.pem`"),
            "{text}"
        );
    }

    #[test]
    fn local_models_are_on_prem_and_checked() {
        let text = "[models.m]\nkind = \"local\"\nhosting = \"cloud\"\nupstream_model = \"smollm2\"\n[models.m.local]\nthreads = 2\nqueue_limit = 3\n";
        let settings = Config::from_toml_str(text, "t")
            .unwrap()
            .validate()
            .unwrap();
        let m = &settings.models["m"];
        assert_eq!(m.kind, UpstreamKind::Local);
        assert_eq!(m.attributes.hosting, Hosting::OnPrem);
        assert_eq!(m.upstream_model, "smollm2");
        assert_eq!(
            (m.local.workers, m.local.threads, m.local.queue_limit),
            (1, 2, 3)
        );
        for (text, expected) in [
            (
                "[models.m]\nkind = \"local\"\nbase_url = \"http://x\"\n",
                "takes no `base_url`",
            ),
            (
                "[models.m]\nkind = \"local\"\n[models.m.local]\nthreads = 0\n",
                "`local.threads` must be positive",
            ),
        ] {
            let err = Config::from_toml_str(text, "t")
                .unwrap()
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn small_header_limit_is_rejected() {
        let config = Config::from_toml_str("[limits]\nmax_header_bytes = 100\n", "t").unwrap();
        assert!(config.validate().is_err());
    }
}
