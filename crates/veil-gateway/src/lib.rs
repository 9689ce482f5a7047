//! `veil-gateway`: Veil's OpenAI-compatible HTTP gateway.
//!
//! An application talks to Veil as it would to an OpenAI-compatible API. Each request runs
//! through [`pipeline`]: authenticate, parse, throttle, inspect, decide, protect, record,
//! forward, screen, record, observe (see `docs/pipeline.md`). Transport concerns (request
//! id, tracing, timeouts, body and header limits, concurrency) are tower layers in [`app`].
//!
//! - [`config::Config`]: `veil.toml`; [`config::Config::validate`] -> [`config::Settings`].
//! - [`server::Gateway`]: starts (data dir, root key, store, bootstrap admin key) and serves.
//! - [`upstream::Upstreams`]: the routing table: HTTP upstreams and the built-in echo.
//! - [`auth`]: API keys (`veil_…`, stored as SHA-256) and the [`auth::Principal`].
//! - [`throttle::Throttle`]: per-key and per-tenant requests, tokens and concurrency.
//! - [`error::GatewayError`]: the one error, OpenAI-shaped on the wire.
//! - [`observe`]: stage 11's extraction and abuse detectors and their alerts.
//! - [`recorder::Recorder`]: the audit writer (group commit, signed checkpoints);
//!   [`audit_api`]: `/admin/v1/audit`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use veil_gateway::config::Config;
//! use veil_gateway::server::Gateway;
//!
//! let settings = Config::load(None)?.validate()?;
//! let listen = settings.config.server.listen;
//! let (gateway, bootstrap) = Gateway::start(settings).await?;
//! if let Some(key) = bootstrap {
//!     println!("admin key (shown once): {}", key.expose());
//! }
//! let listener = tokio::net::TcpListener::bind(listen).await?;
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod audit_api;
pub mod auth;
pub mod config;
pub mod env;
pub mod error;
pub mod exchange;
pub mod jwt;
pub mod metrics;
pub mod observe;
pub mod pipeline;
pub mod recorder;
pub mod screen;
pub mod server;
pub mod state;
pub mod summary;
pub mod throttle;
pub mod tls;
pub mod upstream;
pub mod vault;
