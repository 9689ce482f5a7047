//! The memorized-data check: sensitive values in an answer that the caller never sent.

use std::{collections::HashSet, fmt, ops::Range};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use veil_detect::{DataClass, Finding};

type HmacSha256 = Hmac<Sha256>;

/// Remembers, as keyed hashes only, the sensitive values found in a caller's input, and
/// reports the values in an answer that are not among them: possible memorized training
/// data, which the gateway redacts and flags.
///
/// Values are compared after normalization (letters and digits only, lower case), so
/// `4111-1111-1111-1111` in the answer matches `4111 1111 1111 1111` in the prompt and
/// `Jane.Doe@X.org` matches `jane.doe@x.org`. The class is not part of the hash: a value
/// the caller sent as an organization is still the caller's when the answer calls it a
/// location. Only HMAC-SHA-256 digests under the caller's key are kept, never the values.
#[derive(Clone)]
pub struct AnswerLeakCheck {
    /// Keyed once; cloned per value. `None` only if HMAC refused the key (it takes any
    /// length, so never in practice): then nothing is known and every finding is reported.
    mac: Option<HmacSha256>,
    known: HashSet<[u8; 32]>,
}

impl fmt::Debug for AnswerLeakCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerLeakCheck")
            .field("known_values", &self.known.len())
            .finish_non_exhaustive()
    }
}

impl AnswerLeakCheck {
    /// An empty check keyed with `key` (e.g. the tenant's pseudonym subkey). Any key length
    /// is accepted (HMAC).
    pub fn new(key: &[u8]) -> Self {
        let mac = <HmacSha256 as Mac>::new_from_slice(key).ok();
        Self {
            mac,
            known: HashSet::new(),
        }
    }

    /// Adds the values of `findings` in one input `text` (a prompt part).
    ///
    /// A finding whose span is not in `text` is skipped: it names no value.
    pub fn add_input(&mut self, text: &str, findings: &[Finding]) {
        for finding in findings {
            if let Some(value) = text.get(finding.bytes.clone()) {
                self.add_value(value);
            }
        }
    }

    /// Adds one input value (e.g. an original restored from the vault).
    pub fn add_value(&mut self, value: &str) {
        if let Some(digest) = self.digest(value) {
            self.known.insert(digest);
        }
    }

    /// Adds digests computed elsewhere with [`digest`](Self::digest) under the same key.
    pub fn add_digests(&mut self, digests: impl IntoIterator<Item = [u8; 32]>) {
        self.known.extend(digests);
    }

    /// How many distinct input values are known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no input value is known (then every answer finding is unexpected).
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The keyed digest of a value, after normalization (`None` without a usable key).
    pub fn digest(&self, value: &str) -> Option<[u8; 32]> {
        let mut mac = self.mac.clone()?;
        let mut buf = [0u8; 4];
        for c in value.chars().filter(|c| c.is_alphanumeric()) {
            for lower in c.to_lowercase() {
                mac.update(lower.encode_utf8(&mut buf).as_bytes());
            }
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// The findings in an answer `text` whose values were not in the input, as class and
    /// byte span (never the value). A finding whose span is not in `text` is reported too:
    /// what cannot be checked is treated as unexpected (fail closed).
    pub fn unexpected(&self, text: &str, findings: &[Finding]) -> Vec<(DataClass, Range<usize>)> {
        findings
            .iter()
            .filter(|f| {
                text.get(f.bytes.clone())
                    .and_then(|value| self.digest(value))
                    .is_none_or(|digest| !self.known.contains(&digest))
            })
            .map(|f| (f.class.clone(), f.bytes.clone()))
            .collect()
    }
}
