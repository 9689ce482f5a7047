//! The memorized-data check on a streamed answer.
//!
//! A JSON answer is checked whole. A streamed one arrives a few characters at a time, so a
//! value can only be judged once it is complete, and it must be judged before any of it
//! leaves. [`LeakFilter`] therefore holds back the tail of each text stream that could still
//! be, or grow into, a structured value:
//!
//! - the last token, while no whitespace follows it (it may still be growing), and
//! - before it, whitespace-separated groups that look like parts of one value (`4950 1640`,
//!   `+1 (555) 123`, `GB82 WEST 1234`): at most 8 characters of letters, digits and
//!   `-./()+:`, with a digit, or up to four capitals.
//!
//! Everything before that is released after the analyzer has run over it (with up to
//! [`TAIL`] bytes of already released text before it, for context words and for values that
//! began there). Unexpected values in the released part are counted and, where the caller's
//! decision says so, replaced by `<CLASS>`. A value is never split by a release: the cut
//! moves back to its start.
//!
//! Limits, by design: a name (`PERSON` and the other free-text classes, ignored by the
//! default `answer_check_ignore`) spans ordinary words, so only the last of its words is held;
//! and at most [`MAX_HOLD`] bytes are held, so a longer run of number groups is released
//! early, after which a value found to have begun in released text has only its remainder
//! replaced. Each held token delays that token by one model step; nothing else waits.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    ops::Range,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, PoisonError},
};

use veil_detect::{Analyzer, DataClass};

use super::AnswerLeakCheck;

/// Released text kept before the held text, for the analyzer's context and for values that
/// began in released text.
pub const TAIL: usize = 128;

/// Most bytes held back in one text stream.
pub const MAX_HOLD: usize = 256;

/// What the check found in one streamed answer (classes and counts, never values).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamLeakReport {
    /// Unexpected values per class, whether redacted or passed.
    pub classes: BTreeMap<DataClass, u32>,
    /// How many of them were replaced by `<CLASS>`.
    pub redacted: u32,
    /// Whether detection failed, so the rest of a text stream was withheld.
    pub withheld: bool,
}

/// Whether an unexpected value of a class is redacted (`true`) or passed.
pub type RedactClass = dyn Fn(&DataClass) -> bool + Send + Sync;

/// The memorized-data check for one streamed answer: the caller's known values, the classes
/// not checked, what to redact, and the shared report. Cheap to clone (all shared).
#[derive(Clone)]
pub struct StreamLeakCheck {
    analyzer: Arc<Analyzer>,
    known: Arc<AnswerLeakCheck>,
    ignore: Arc<BTreeSet<DataClass>>,
    redact: Arc<RedactClass>,
    report: Arc<Mutex<StreamLeakReport>>,
}

impl fmt::Debug for StreamLeakCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamLeakCheck")
            .field("known", &self.known)
            .field("ignore", &self.ignore)
            .finish_non_exhaustive()
    }
}

impl StreamLeakCheck {
    /// A check of one answer against `known` (the caller's values and the conversation's
    /// pseudonyms); classes in `ignore` are not reported; `redact` says which unexpected
    /// classes are replaced by `<CLASS>` (the others are counted and passed).
    pub fn new(
        analyzer: Arc<Analyzer>,
        known: AnswerLeakCheck,
        ignore: BTreeSet<DataClass>,
        redact: Arc<RedactClass>,
    ) -> Self {
        Self {
            analyzer,
            known: Arc::new(known),
            ignore: Arc::new(ignore),
            redact,
            report: Arc::default(),
        }
    }

    /// The report, shared: it fills in as the answer streams.
    pub fn report(&self) -> Arc<Mutex<StreamLeakReport>> {
        Arc::clone(&self.report)
    }

    /// A filter for one text stream of the answer.
    pub fn filter(&self) -> LeakFilter {
        LeakFilter {
            check: self.clone(),
            tail: String::new(),
            held: String::new(),
            failed: false,
        }
    }

    fn note(&self, update: impl FnOnce(&mut StreamLeakReport)) {
        update(&mut self.report.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// One text stream (a choice's content, one tool call's arguments) under the check.
pub struct LeakFilter {
    check: StreamLeakCheck,
    /// The last released text (original, before redaction), at most [`TAIL`] bytes.
    tail: String,
    /// Text not yet released.
    held: String,
    /// Detection failed: nothing more of this stream is released.
    failed: bool,
}

impl fmt::Debug for LeakFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Model output may hold the very values under check: lengths only.
        f.debug_struct("LeakFilter")
            .field("tail_bytes", &self.tail.len())
            .field("held_bytes", &self.held.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl LeakFilter {
    /// Feeds the next piece; returns the text that may be sent now.
    pub fn push(&mut self, piece: &str) -> String {
        self.held.push_str(piece);
        let cut = hold_from(&self.held);
        self.release(cut)
    }

    /// End of the stream: checks and returns everything held.
    pub fn finish(&mut self) -> String {
        self.release(self.held.len())
    }

    /// Checks the held text and releases `held[..cut]` (moved back so no value is split).
    fn release(&mut self, cut: usize) -> String {
        if self.failed {
            self.held.clear();
            return String::new();
        }
        if cut == 0 {
            return String::new();
        }
        let offset = self.tail.len();
        let window = format!("{}{}", self.tail, self.held);
        let check = &self.check;
        let Ok(found) = catch_unwind(AssertUnwindSafe(|| check.analyzer.analyze(&window))) else {
            // Nothing can be said about this text: withhold it and the rest of the stream.
            self.failed = true;
            self.held.clear();
            check.note(|report| report.withheld = true);
            return String::new();
        };
        // Unexpected values that reach into the held text, in held coordinates (a value
        // that began in released text starts at 0 here).
        let values: Vec<(DataClass, Range<usize>)> = check
            .known
            .unexpected(&window, &found)
            .into_iter()
            .filter(|(class, span)| span.end > offset && !check.ignore.contains(class))
            .map(|(class, span)| (class, span.start.saturating_sub(offset)..span.end - offset))
            .collect();
        let cut = values
            .iter()
            .filter(|(_, span)| span.start < cut && span.end > cut)
            .map(|(_, span)| span.start)
            .min()
            .unwrap_or(cut);
        if cut == 0 {
            return String::new();
        }
        let released: String = self.held.drain(..cut).collect();
        let mut out = released.clone();
        // Back to front, so earlier spans stay valid.
        for (class, span) in values.iter().rev().filter(|(_, span)| span.end <= cut) {
            let redact = (check.redact)(class);
            if redact && out.get(span.clone()).is_some() {
                out.replace_range(span.clone(), &format!("<{class}>"));
            }
            check.note(|report| {
                let count = report.classes.entry(class.clone()).or_insert(0);
                *count = count.saturating_add(1);
                if redact {
                    report.redacted = report.redacted.saturating_add(1);
                }
            });
        }
        self.tail.push_str(&released);
        if self.tail.len() > TAIL {
            let mut start = self.tail.len() - TAIL;
            while !self.tail.is_char_boundary(start) {
                start += 1;
            }
            self.tail.drain(..start);
        }
        out
    }
}

/// Where the text that must be held back starts (see the module docs).
///
/// Hand-written: the rule is about whitespace-separated tokens and the shapes of value
/// groups, which no tokenizer crate models.
pub(super) fn hold_from(text: &str) -> usize {
    let mut cut = text.len();
    let mut end = text.len();
    let mut last = true;
    loop {
        let before_space = text
            .get(..end)
            .map_or(0, |t| t.trim_end_matches(char::is_whitespace).len());
        if before_space == 0 {
            break;
        }
        let head = text.get(..before_space).unwrap_or_default();
        let start = head
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let token = text.get(start..before_space).unwrap_or_default();
        let group_start = start
            + token
                .char_indices()
                .rev()
                .find(|(_, c)| !is_group_char(*c))
                .map_or(0, |(i, c)| i + c.len_utf8());
        let group = text.get(group_start..before_space).unwrap_or_default();
        let growing = last && before_space == text.len();
        last = false;
        if growing {
            cut = start;
            if group_start != start || !is_group(token) {
                break;
            }
        } else if is_group(group) {
            cut = group_start;
            if group_start != start {
                break;
            }
        } else {
            break;
        }
        end = start;
    }
    if text.len() - cut > MAX_HOLD {
        cut = text.len() - MAX_HOLD;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
    }
    cut
}

fn is_group_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | '(' | ')' | '+' | ':')
}

/// A token that may be one group of a value written in groups.
fn is_group(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 8
        && token.chars().all(is_group_char)
        && (token.chars().any(|c| c.is_ascii_digit())
            || (token.len() <= 4 && token.chars().all(|c| c.is_ascii_uppercase())))
}
