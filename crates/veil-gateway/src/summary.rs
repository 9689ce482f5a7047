//! [`DecisionSummary`]: what one request's inspection, decision and screening came to, in
//! identifiers and counts only.
//!
//! It is the one shape shared by the request record (stage 7), the response record (stage
//! 10), the `x-veil-decision` header and `veil explain`. It never holds message text: data
//! classes, counts, treatments and policy ids only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Allow or deny, as policy decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The request went on, possibly transformed.
    #[default]
    Allow,
    /// The request was refused.
    Deny,
}

impl Verdict {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// The recorded, explainable outcome of stages 4–6 and 9 for one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionSummary {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Why: ids of the policies that decided, and denial or guard reasons. Identifiers only.
    pub reasons: Vec<String>,
    /// Findings in the request, per data class (`EMAIL_ADDRESS` -> 2).
    pub classes: BTreeMap<String, u32>,
    /// What was done to each class found in the request: `pass`, `pseudonymize`, `redact`
    /// or `block`.
    pub treatments: BTreeMap<String, String>,
    /// Classes whose originals this caller may see restored in the answer.
    pub restore: Vec<String>,
    /// Sensitive values found in the answer that did not come from this caller's input
    /// (possible memorized data), per data class.
    pub answer_classes: BTreeMap<String, u32>,
    /// Other facts worth recording (`injection_flagged`, `logprobs_stripped`, …).
    pub flags: Vec<String>,
}
