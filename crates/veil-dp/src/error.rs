//! The one error type of `veil-dp`.

use std::fmt;

/// What went wrong, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A mechanism or query parameter is out of range (a non-positive scale, a NaN ε, ...).
    InvalidParameter,
    /// A query needs bounds (or public keys, or δ) that were not declared. Veil never answers
    /// such a query without noise.
    MissingBounds,
    /// The release would exceed the privacy budget; nothing was spent.
    BudgetExceeded,
    /// The input data could not be read (file, record and column are in the message).
    Data,
    /// The operating system could not supply entropy.
    Entropy,
    /// The budget ledger failed (storage error); nothing was spent.
    Ledger,
}

/// An error from `veil-dp`: a kind plus a message that never holds a data value.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn param(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidParameter, message)
    }

    pub(crate) fn entropy() -> Self {
        Error::new(
            ErrorKind::Entropy,
            "the operating system could not supply entropy",
        )
    }

    /// Build a ledger error (for storage back ends implementing [`crate::Ledger`]).
    pub fn ledger(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Ledger, message)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
