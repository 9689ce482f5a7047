//! The labelled names corpus (`testdata/names/*.jsonl`) and span-level scoring.
//!
//! One JSON object a line: `{"id": str, "domain": str, "text": str, "spans": [{"start": int,
//! "end": int, "label": "PERSON" | "LOCATION" | "ORGANIZATION" | "NRP"}]}` with offsets in
//! Unicode code points. Extra fields are ignored.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;

use crate::{Candidate, DataClass};

/// One labelled document, spans converted to byte offsets.
#[derive(Debug, Clone)]
pub struct LabelledDoc {
    /// The document id.
    pub id: String,
    /// Where the text is from (clinical, chat, ...).
    pub domain: String,
    /// The text.
    pub text: String,
    /// Gold spans: class and byte range.
    pub spans: Vec<(DataClass, Range<usize>)>,
}

#[derive(Deserialize)]
struct RawDoc {
    id: String,
    #[serde(default)]
    domain: String,
    text: String,
    spans: Vec<RawSpan>,
}

#[derive(Deserialize)]
struct RawSpan {
    start: usize,
    end: usize,
    label: String,
}

/// A corpus line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// The line is not a corpus record.
    #[error("line {line}: not a corpus record: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The parser's explanation (never the text).
        reason: String,
    },
    /// A span is out of range or has an unknown label.
    #[error("line {line}: span {index} is invalid (`{label}` at {start}..{end})")]
    BadSpan {
        /// 1-based line number.
        line: usize,
        /// The span's index in the record.
        index: usize,
        /// Its label.
        label: String,
        /// Code-point start.
        start: usize,
        /// Code-point end.
        end: usize,
    },
}

/// Reads a JSON Lines corpus.
pub fn parse(jsonl: &str) -> Result<Vec<LabelledDoc>, CorpusError> {
    let mut docs = Vec::new();
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawDoc = serde_json::from_str(line).map_err(|e| CorpusError::Malformed {
            line: n + 1,
            reason: format!("{} at column {}", e.classify_str(), e.column()),
        })?;
        // Code point -> byte offsets.
        let mut offsets: Vec<usize> = raw.text.char_indices().map(|(b, _)| b).collect();
        offsets.push(raw.text.len());
        let mut spans = Vec::with_capacity(raw.spans.len());
        for (index, s) in raw.spans.iter().enumerate() {
            let bad = || CorpusError::BadSpan {
                line: n + 1,
                index,
                label: s.label.chars().take(32).collect(),
                start: s.start,
                end: s.end,
            };
            let class: DataClass = s.label.parse().map_err(|_| bad())?;
            let (Some(&a), Some(&b)) = (offsets.get(s.start), offsets.get(s.end)) else {
                return Err(bad());
            };
            if a >= b {
                return Err(bad());
            }
            spans.push((class, a..b));
        }
        docs.push(LabelledDoc {
            id: raw.id,
            domain: raw.domain,
            text: raw.text,
            spans,
        });
    }
    Ok(docs)
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "invalid json",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "unexpected end of line",
        }
    }
}

/// True positives, false positives and false negatives of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Predicted spans that match a gold span exactly (class and offsets).
    pub tp: usize,
    /// Predicted spans with no exact gold match.
    pub fp: usize,
    /// Gold spans with no exact prediction.
    pub fn_: usize,
}

impl Counts {
    /// tp / (tp + fp), 1 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// tp / (tp + fn), 1 when there was nothing to find.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Adds one document's strict (exact span and class) matches to `counts`, looking only at
/// the four name classes.
pub fn score(
    gold: &[(DataClass, Range<usize>)],
    predicted: &[Candidate],
    counts: &mut BTreeMap<DataClass, Counts>,
) {
    let names = |c: &DataClass| {
        matches!(
            c,
            DataClass::Person | DataClass::Location | DataClass::Organization | DataClass::Nrp
        )
    };
    let mut matched = vec![false; gold.len()];
    for p in predicted.iter().filter(|p| names(&p.class)) {
        let hit = gold
            .iter()
            .zip(matched.iter_mut())
            .find(|((c, r), m)| !**m && *c == p.class && *r == p.bytes);
        let entry = counts.entry(p.class.clone()).or_default();
        match hit {
            Some((_, m)) => {
                *m = true;
                entry.tp += 1;
            }
            None => entry.fp += 1,
        }
    }
    for ((c, _), m) in gold.iter().zip(matched) {
        if !m && names(c) {
            counts.entry(c.clone()).or_default().fn_ += 1;
        }
    }
}
