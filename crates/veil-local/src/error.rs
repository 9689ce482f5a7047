//! The crate's one error type: opaque, with a kind callers can match on.

use std::fmt;

/// What went wrong, coarse enough for a gateway to map to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is not a usable GGUF model (header, metadata, architecture, tokenizer).
    InvalidModel,
    /// The model file's SHA-256 or size differs from the registry: refused.
    IntegrityMismatch,
    /// Reading or writing a file failed.
    Io,
    /// The registry file (`models.toml`) is malformed or names an unknown model.
    Registry,
    /// The request is invalid (empty prompt, prompt longer than the context, bad template).
    InvalidRequest,
    /// The tensor engine failed during generation.
    Inference,
    /// The worker pool's queue is full: try later (HTTP 429/503).
    QueueFull,
    /// The worker pool has shut down.
    PoolClosed,
}

/// An error from loading, registering or running a local model. Messages never hold prompt
/// or generated text.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    pub(crate) fn invalid_model(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidModel, message)
    }

    pub(crate) fn inference(err: &candle_core::Error) -> Self {
        Self::new(ErrorKind::Inference, format!("inference failed: {err}"))
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
