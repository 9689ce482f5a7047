//! [`Alert`]: what a detector reports. Identifiers, counts and hashes only, never text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which detector fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Requests, tokens or findings far above the principal's own baseline.
    Volume,
    /// Many near-duplicate prompts (MinHash estimate of Jaccard similarity above a floor).
    NearDuplicates,
    /// One template with many different values in its slot.
    Enumeration,
    /// Repeated prompt-injection attempts (policy or guard flags).
    Injection,
    /// Many requests for log probabilities (or with `logit_bias`).
    Logprobs,
    /// Divergence-attack prompts: repeat-forever requests, long runs of one word.
    Divergence,
    /// One key used from many client addresses.
    Addresses,
    /// Many refused requests (probing the policy).
    Refusals,
    /// Sensitive values in answers that did not come from the caller (memorised data).
    Memorization,
}

impl AlertKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [Self; 9] = [
        Self::Volume,
        Self::NearDuplicates,
        Self::Enumeration,
        Self::Injection,
        Self::Logprobs,
        Self::Divergence,
        Self::Addresses,
        Self::Refusals,
        Self::Memorization,
    ];

    /// The snake_case name (metric label, log field, webhook `kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::NearDuplicates => "near_duplicates",
            Self::Enumeration => "enumeration",
            Self::Injection => "injection",
            Self::Logprobs => "logprobs",
            Self::Divergence => "divergence",
            Self::Addresses => "addresses",
            Self::Refusals => "refusals",
            Self::Memorization => "memorization",
        }
    }
}

/// How bad it is, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Suspicious: review the key's traffic.
    #[default]
    Medium,
    /// Likely abuse: slow the key down.
    High,
    /// Abuse or a leaked key: stop the key.
    Critical,
}

impl Severity {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// One level up (critical stays critical).
    pub fn raised(self) -> Self {
        match self {
            Self::Low => Self::Medium,
            Self::Medium => Self::High,
            Self::High | Self::Critical => Self::Critical,
        }
    }

    /// What an operator should do about an alert of this severity.
    pub fn recommended(self) -> Recommendation {
        match self {
            Self::Low | Self::Medium => Recommendation::Review,
            Self::High => Recommendation::Throttle,
            Self::Critical => Recommendation::Suspend,
        }
    }
}

/// The recommended response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    /// Look at the key's traffic and records.
    Review,
    /// Lower the key's request rate.
    Throttle,
    /// Stop the key until an administrator lifts the suspension.
    Suspend,
}

impl Recommendation {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Throttle => "throttle",
            Self::Suspend => "suspend",
        }
    }
}

/// Why an alert fired: named counts and hex hashes. The types admit no text: counts are
/// numbers, hashes are `u64` rendered as 16 hex digits, names are chosen by the detectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Named counts (`requests`, `baseline_requests`, `threshold`, `class:EMAIL_ADDRESS`, …).
    pub counts: BTreeMap<String, f64>,
    /// Named keyed hashes (`minhash`, `template`, …), 16 hex digits each.
    pub hashes: BTreeMap<String, String>,
}

impl Evidence {
    /// Adds a count.
    pub fn count(mut self, name: &str, value: impl Into<f64>) -> Self {
        self.counts.insert(name.to_owned(), value.into());
        self
    }

    /// Adds a hash.
    pub fn hash(mut self, name: &str, value: u64) -> Self {
        self.hashes.insert(name.to_owned(), format!("{value:016x}"));
        self
    }
}

/// One alert about one principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Which detector.
    pub kind: AlertKind,
    /// How bad.
    pub severity: Severity,
    /// What to do.
    pub recommended: Recommendation,
    /// The key concerned.
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// The request that tipped the detector over (its id, to look up its records).
    pub request_id: String,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The sliding window the counts cover, seconds.
    pub window_secs: u64,
    /// Why.
    pub evidence: Evidence,
}
