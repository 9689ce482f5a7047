//! Every `VEIL_*` environment variable the gateway reads, in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{Config, LogFormat};

/// Overrides `server.listen`.
pub const LISTEN: &str = "VEIL_LISTEN";
/// Overrides `server.data_dir`.
pub const DATA_DIR: &str = "VEIL_DATA_DIR";
/// Overrides `store.database_url`.
pub const DATABASE_URL: &str = "VEIL_DATABASE_URL";
/// Overrides `log.level` (a tracing filter such as `info` or `veil_gateway=debug`).
pub const LOG: &str = "VEIL_LOG";
/// Overrides `log.format` (`json` or `text`).
pub const LOG_FORMAT: &str = "VEIL_LOG_FORMAT";
/// Path of the config file when `--config` is not given.
pub const CONFIG: &str = "VEIL_CONFIG";
/// The root key as 64 hex digits, instead of the root key file in the data directory.
pub const MASTER_KEY: &str = "VEIL_MASTER_KEY";

/// A `VEIL_*` variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The value is not valid Unicode.
    #[error("environment variable `{0}` is not valid unicode")]
    NotUnicode(&'static str),
    /// The value does not parse.
    #[error("environment variable `{name}` is not a valid {expected}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
    },
}

/// Reads a variable; unset is `None`, set but not Unicode is an error.
pub fn var(name: &'static str) -> Result<Option<String>, EnvError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(EnvError::NotUnicode(name)),
    }
}

/// Applies every `VEIL_*` override to a loaded config.
pub fn apply_overrides(config: &mut Config) -> Result<(), EnvError> {
    if let Some(listen) = var(LISTEN)? {
        config.server.listen = listen
            .parse::<SocketAddr>()
            .map_err(|_| EnvError::Invalid {
                name: LISTEN,
                expected: "socket address",
            })?;
    }
    if let Some(dir) = var(DATA_DIR)? {
        config.server.data_dir = PathBuf::from(dir);
    }
    if let Some(url) = var(DATABASE_URL)? {
        config.store.database_url = Some(url);
    }
    if let Some(level) = var(LOG)? {
        config.log.level = level;
    }
    if let Some(format) = var(LOG_FORMAT)? {
        config.log.format = match format.as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            _ => {
                return Err(EnvError::Invalid {
                    name: LOG_FORMAT,
                    expected: "log format (`json` or `text`)",
                });
            }
        };
    }
    Ok(())
}
