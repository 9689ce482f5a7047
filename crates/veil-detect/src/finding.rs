//! Findings and the evidence behind them. None of these types holds matched text.

use std::ops::Range;

use serde::Serialize;

use crate::DataClass;

/// The outcome of a recognizer's validator on a candidate (checksum, structure rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// The candidate has no validator; its score rests on the pattern and context alone.
    NotApplicable,
    /// A validator (e.g. Luhn, mod-97, Verhoeff, SSN area rules) accepted the candidate.
    Passed(&'static str),
}

/// A context word near a candidate that moved its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextHit {
    /// The context keyword (from the recognizer's own list, never from the input text).
    pub word: &'static str,
    /// How much it moved the score (positive raises, negative lowers).
    pub delta: f32,
}

/// Why a finding was made and how its score was reached.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Evidence {
    /// The name of the pattern that matched, e.g. `ssn_dashed`.
    pub pattern: &'static str,
    /// The validator's verdict.
    pub validation: Option<Validation>,
    /// Context words within the window that raised or lowered the score.
    pub context: Vec<ContextHit>,
    /// The score before context adjustments.
    pub base_score: f32,
}

/// What a [`crate::Recognizer`] proposes: a class over a byte range, before overlap
/// resolution and before code-point offsets are computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The proposed data class.
    pub class: DataClass,
    /// Byte range in the analysed text. INVARIANT: on `char` boundaries, `start < end`.
    pub bytes: Range<usize>,
    /// Score in `[0, 1]`.
    pub score: f32,
    /// The recognizer's name.
    pub recognizer: &'static str,
    /// Why.
    pub evidence: Evidence,
}

/// One piece of sensitive data found in a text.
///
/// A finding holds offsets, never the matched value: printing it with `{:?}` or serializing
/// it cannot leak what was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The data class.
    pub class: DataClass,
    /// Byte range in the analysed text (UTF-8 offsets; slice the text with it).
    pub bytes: Range<usize>,
    /// Code-point range in the analysed text (what most JSON consumers and Presidio use).
    pub chars: Range<usize>,
    /// Score in `[0, 1]` after context adjustments.
    pub score: f32,
    /// The recognizer that produced it.
    pub recognizer: &'static str,
    /// Why it was found and how the score was reached.
    pub evidence: Evidence,
}

impl Finding {
    /// Length of the finding in bytes.
    pub fn len(&self) -> usize {
        self.bytes.end.saturating_sub(self.bytes.start)
    }

    /// Whether the byte range is empty (never true for findings produced by the analyzer).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
