//! `veil-protect` acts on findings: tag, redact, mask, keyed hash, encrypt, format-preserving
//! encryption and surrogates, and restores what is reversible.
//!
//! The pieces:
//!
//! - [`Operator`]: what to do with one value; [`Policy`]: which operator for which
//!   [`DataClass`](veil_detect::DataClass).
//! - [`keys`]: the [`RootKey`](keys::RootKey) and its HKDF subkeys, one per
//!   [`Purpose`](keys::Purpose); key file and `VEIL_MASTER_KEY` loading.
//! - [`ScopeId`] and [`MappingStore`]: where tags and surrogates stay consistent (one
//!   conversation of one tenant), and the mapping that restores them. [`MemoryStore`] keeps
//!   it in memory; the gateway's vault will implement the same trait.
//! - [`Protector`]: applies a policy to a text's [`Finding`](veil_detect::Finding)s within a
//!   scope and restores tags, surrogates, encryption tokens and FPE values.
//! - [`restore`]: restores placeholders in model answers, whole or streamed (SSE), altered
//!   forms included, and strips `logprobs`; the gateway's `screen` stage.
//! - [`stream`]: IO-generic readers and writers for plain text, JSON Lines and CSV, record at
//!   a time, used by `veil redact` and by the fuzz target.
//!
//! ```
//! use std::{ops::Range, sync::Arc};
//! use veil_detect::{DataClass, Evidence, Finding};
//! use veil_protect::{MemoryStore, Operator, Policy, Protector, ScopeId, keys::RootKey};
//!
//! let text = "mail jane@corp.com, SSN 123-45-6789";
//! let finding = |class, bytes: Range<usize>| Finding {
//!     class,
//!     chars: bytes.clone(),
//!     bytes,
//!     score: 1.0,
//!     recognizer: "example",
//!     evidence: Evidence::default(),
//! };
//! let findings = [finding(DataClass::EmailAddress, 5..18), finding(DataClass::UsSsn, 24..35)];
//! let policy = Policy::new(Operator::Tag).with(DataClass::UsSsn, "mask:4".parse().unwrap());
//! let root = RootKey::generate().unwrap();
//! let protector =
//!     Protector::new(policy, ScopeId::new("acme", "chat-1"), Arc::new(MemoryStore::new()), Some(&root))
//!         .unwrap();
//! let protected = protector.protect(text, &findings).unwrap();
//! assert_eq!(protected.text, "mail <EMAIL_ADDRESS_1>, SSN ***-**-6789");
//! let restored = protector.restore(&protected.text).unwrap();
//! assert_eq!(restored.expose(), "mail jane@corp.com, SSN ***-**-6789");
//! ```
#![forbid(unsafe_code)]

mod crypto;
pub mod keys;
mod operator;
mod protector;
pub mod restore;
mod scope;
pub mod stream;
mod surrogate;

use std::ops::Range;

pub use crypto::FPE_MIN_DIGITS;
pub use operator::{
    DEFAULT_HASH_HEX, DEFAULT_MASK_CHAR, DEFAULT_MASK_KEEP, Operator, OperatorParseError, Policy,
};
pub use protector::{Change, Protected, Protector};
pub use scope::{
    MAX_ATTEMPTS, MappingStore, MemoryStore, Proposal, PseudonymKind, ScopeId, StoreError,
};
use veil_detect::DataClass;

/// Why protecting or restoring failed. Messages name the class and span, never the value.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// A keyed operator was requested without a root key.
    #[error("operator `{operator}` needs a key (pass --key-file or set VEIL_MASTER_KEY)")]
    KeyRequired {
        /// The operator's name.
        operator: &'static str,
    },
    /// A finding's span is outside the text or not on a character boundary.
    #[error("finding of class `{class}` has an invalid byte span {span:?}")]
    BadSpan {
        /// The class.
        class: DataClass,
        /// The span.
        span: Range<usize>,
    },
    /// FPE needs at least [`FPE_MIN_DIGITS`] digits.
    #[error("value of class `{class}` has {digits} digits; FPE needs at least 6")]
    FpeTooShort {
        /// The class.
        class: DataClass,
        /// How many digits it had.
        digits: usize,
    },
    /// An encryption token is malformed, altered, or from another key.
    #[error("encryption token is malformed, altered, or was made with another key")]
    BadToken,
    /// A cipher failed (should not happen with valid keys).
    #[error("encryption failed for a value of class `{class}`")]
    Crypto {
        /// The class.
        class: DataClass,
    },
    /// The OS random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,
    /// The pseudonym store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
