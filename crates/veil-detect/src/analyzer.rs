//! The analyzer: runs every enabled recognizer over a text and resolves overlaps.
//!
//! One multi-pattern regex (regex-automata's meta engine) finds pattern candidates for all
//! built-in and custom patterns in a single pass; validators run only on those candidates;
//! context words are looked up with Aho-Corasick in a small window around each candidate; a
//! deny list is one more Aho-Corasick pass; other recognizers (e.g. names) add their own
//! candidates. Overlaps are then resolved so that one span carries one label.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, OnceLock},
};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::{
    Anchored, Input, MatchKind as RegexMatchKind, PatternID, PatternSet, hybrid, meta,
};
use serde::Deserialize;

use crate::{
    Candidate, ContextHit, DataClass, Evidence, Finding, Recognizer, Validation,
    patterns::{self, Trim},
    validate::Validator,
};

/// Findings scoring below this are dropped unless the builder sets another floor.
pub const DEFAULT_MIN_SCORE: f32 = 0.5;
/// How many words before a candidate context words are looked for.
const WORDS_BEFORE: usize = 5;
/// How many words after a candidate context words are looked for.
const WORDS_AFTER: usize = 3;
/// Negative context words count only this close before a candidate (`version 1.2.3.4`).
const NEGATIVE_WORDS: usize = 2;
/// A positive context word loses this much per word between it and the candidate.
const DISTANCE_DECAY: f32 = 0.03;
/// Score added by a positive context word (once, however many are near).
const CONTEXT_BOOST: f32 = 0.35;
/// Score removed by a negative context word (once).
const CONTEXT_PENALTY: f32 = -0.6;

/// An error building an [`Analyzer`]: a bad custom recognizer file, pattern or list.
///
/// Messages name the recognizer or field at fault, never a deny-list value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(String);

impl BuildError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Runtime form of one pattern (built-in or custom).
#[derive(Debug, Clone)]
struct Spec {
    name: &'static str,
    class: DataClass,
    score: f32,
    validator: Option<Validator>,
    needs_context: bool,
    ambiguous: bool,
    /// Rejected when it is a piece of a longer dotted or dashed token.
    standalone: bool,
    /// A number: rejected when more digit groups follow or precede it.
    numeric: bool,
    trim: Trim,
}

/// Detects sensitive data in text. Cheap to clone and share across threads.
///
/// ```
/// use veil_detect::{Analyzer, DataClass};
///
/// let analyzer = Analyzer::builder().build()?;
/// let text = "Mail jane@example.com, card 4111 1111 1111 1111.";
/// let found: Vec<_> = analyzer.analyze(text).into_iter().map(|f| f.class).collect();
/// assert_eq!(found, [DataClass::EmailAddress, DataClass::CreditCard]);
/// # Ok::<(), veil_detect::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Analyzer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("patterns", &self.inner.specs.len())
            .field("recognizers", &self.inner.recognizers.len())
            .field("min_score", &self.inner.min_score)
            .finish_non_exhaustive()
    }
}

struct Inner {
    regex: Option<meta::Regex>,
    /// One reverse lazy DFA per pattern, to find where a forward match starts.
    reverse: ReverseStarts,
    /// The same patterns with "all matches" semantics: answers which patterns match at a
    /// position (used only when a match is rejected or ambiguous).
    all_regex: Option<meta::Regex>,
    specs: Vec<Spec>,
    context: Option<ContextIndex>,
    deny: Option<(AhoCorasick, Vec<DataClass>)>,
    allow: HashSet<String>,
    recognizers: Vec<Arc<dyn Recognizer>>,
    /// The enabled classes (`None`: all). A recognizer producing several classes (names)
    /// runs when any of them is enabled; its other classes are dropped here.
    entities: Option<HashSet<DataClass>>,
    min_score: f32,
}

/// Context keywords: one automaton, each word mapping to the classes it moves.
struct ContextIndex {
    automaton: AhoCorasick,
    /// Length in bytes of the longest keyword.
    longest: usize,
    words: Vec<&'static str>,
    effects: Vec<Vec<(DataClass, f32)>>,
}

/// Builds an [`Analyzer`]. Every setting is optional; the default enables every built-in
/// recognizer with [`DEFAULT_MIN_SCORE`].
#[derive(Default)]
pub struct AnalyzerBuilder {
    entities: Option<HashSet<DataClass>>,
    min_score: Option<f32>,
    allow: HashSet<String>,
    deny: Vec<(DataClass, String)>,
    custom: Vec<CustomRecognizer>,
    recognizers: Vec<Arc<dyn Recognizer>>,
}

impl std::fmt::Debug for AnalyzerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzerBuilder")
            .field("entities", &self.entities)
            .field("min_score", &self.min_score)
            .field("allow", &self.allow.len())
            .field("deny", &self.deny.len())
            .field("custom", &self.custom.len())
            .field("recognizers", &self.recognizers.len())
            .finish()
    }
}

/// The custom recognizer file: `[[recognizer]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFile {
    /// The recognizers, in priority order.
    #[serde(default)]
    recognizer: Vec<CustomRecognizer>,
}

/// One custom recognizer from TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomRecognizer {
    /// A name reported in evidence, e.g. `employee_id`.
    name: String,
    /// The data class: a built-in name or an UPPER_SNAKE_CASE custom one.
    class: DataClass,
    /// The regular expression (Rust `regex` syntax).
    pattern: String,
    /// Base score in `[0, 1]`.
    #[serde(default = "default_custom_score")]
    score: f32,
    /// Optional validator from the fixed set (`luhn`, `iban`, `us_ssn`, ...).
    #[serde(default)]
    validator: Option<Validator>,
    /// Words that raise the score when near a match.
    #[serde(default)]
    context: Vec<String>,
    /// Words that lower the score when near a match.
    #[serde(default)]
    negative_context: Vec<String>,
    /// Report only when a context word is near.
    #[serde(default)]
    needs_context: bool,
}

fn default_custom_score() -> f32 {
    0.6
}

impl Analyzer {
    /// A builder with every built-in recognizer enabled, the names recognizer (`PERSON`,
    /// `LOCATION`, `ORGANIZATION`, `NRP`) included; `entities` can leave it out.
    pub fn builder() -> AnalyzerBuilder {
        let builder = AnalyzerBuilder::default();
        // The names model is compiled into the binary and a unit test loads it, so this
        // cannot fail in a shipped build; if it ever did, the pattern recognizers still run.
        match crate::names::NameRecognizer::new() {
            Ok(names) => builder.with_recognizer(Box::new(names)),
            Err(_) => builder,
        }
    }

    /// Finds sensitive data in `text`: findings sorted by start, never overlapping.
    pub fn analyze(&self, text: &str) -> Vec<Finding> {
        let inner = &*self.inner;
        let mut candidates = Vec::new();
        if let Some(regex) = &inner.regex {
            inner.pattern_pass(regex, text, &mut candidates);
        }
        if let Some((automaton, classes)) = &inner.deny {
            for m in automaton.find_iter(text) {
                let span = m.start()..m.end();
                if let Some(class) = classes.get(m.pattern().as_usize())
                    && word_bounded(text, &span)
                {
                    candidates.push(Candidate {
                        class: class.clone(),
                        bytes: span,
                        score: 1.0,
                        recognizer: "deny_list",
                        evidence: Evidence {
                            pattern: "deny_list",
                            validation: Some(Validation::NotApplicable),
                            context: Vec::new(),
                            base_score: 1.0,
                        },
                    });
                }
            }
        }
        for recognizer in &inner.recognizers {
            let before = candidates.len();
            recognizer.recognize(text, &mut candidates);
            // Enforce the invariants of a foreign recognizer rather than trusting them.
            let mut i = before;
            while i < candidates.len() {
                let ok = candidates.get(i).is_some_and(|c| {
                    c.bytes.start < c.bytes.end
                        && c.bytes.end <= text.len()
                        && text.is_char_boundary(c.bytes.start)
                        && text.is_char_boundary(c.bytes.end)
                        && c.score.is_finite()
                        && inner
                            .entities
                            .as_ref()
                            .is_none_or(|set| set.contains(&c.class))
                });
                if ok {
                    if let Some(c) = candidates.get_mut(i) {
                        c.score = c.score.clamp(0.0, 1.0);
                    }
                    i += 1;
                } else {
                    candidates.swap_remove(i);
                }
            }
        }
        if !inner.allow.is_empty() {
            candidates.retain(|c| {
                text.get(c.bytes.clone())
                    .is_none_or(|value| !inner.allow.contains(value))
            });
        }
        candidates.retain(|c| c.score >= inner.min_score);
        resolve(text, candidates)
    }
}

impl Inner {
    /// The single multi-pattern pass.
    fn pattern_pass(&self, regex: &meta::Regex, text: &str, out: &mut Vec<Candidate>) {
        let mut scratch = Scratch::default();
        let mut reverse_caches = self.reverse.pool.get();
        let mut at = 0;
        while at < text.len() {
            let input = Input::new(text).range(at..);
            // Forward pass for the end; the start comes from the matched pattern's own reverse
            // DFA. (meta's full search runs the reverse DFA of *all* patterns, whose state
            // space is far larger: most of the time went into building its states.)
            let Some(half) = regex.search_half(&input) else {
                break;
            };
            let start = self.reverse.start(&mut reverse_caches, text, at, half);
            let m = match start {
                Some(start) => regex_automata::Match::new(half.pattern(), start..half.offset()),
                None => match regex.search(&input) {
                    Some(m) => m,
                    None => break,
                },
            };
            let first = m.pattern();
            let mut furthest = m.end();
            let accepted = self.consider(text, first, m.range(), out, &mut scratch);
            let try_others = !accepted
                || self
                    .specs
                    .get(first.as_usize())
                    .is_some_and(|s| s.ambiguous);
            if try_others && let Some(all) = &self.all_regex {
                // One anchored overlapping pass says which other patterns also match here;
                // only those are searched for their spans.
                let mut set = PatternSet::new(all.pattern_len());
                let anchored = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
                all.which_overlapping_matches(&anchored, &mut set);
                for pid in set.iter() {
                    let spec_ambiguous =
                        self.specs.get(pid.as_usize()).is_some_and(|s| s.ambiguous);
                    if pid == first || (accepted && !spec_ambiguous) {
                        continue;
                    }
                    let input = Input::new(text)
                        .range(m.start()..)
                        .anchored(Anchored::Pattern(pid));
                    if let Some(alt) = regex.search(&input)
                        && self.consider(text, pid, alt.range(), out, &mut scratch)
                    {
                        furthest = furthest.max(alt.end());
                    }
                }
            }
            // Resume after the match; an empty match (not produced by our patterns, but
            // possible in a custom one) must still move forward by one character.
            at = if furthest > m.start() {
                furthest
            } else {
                next_char_boundary(text, m.start())
            };
        }
    }

    /// Validates, trims and scores one raw match; pushes it and returns true if accepted.
    fn consider(
        &self,
        text: &str,
        pid: PatternID,
        raw: std::ops::Range<usize>,
        out: &mut Vec<Candidate>,
        scratch: &mut Scratch,
    ) -> bool {
        let Some(spec) = self.specs.get(pid.as_usize()) else {
            return false;
        };
        if raw.is_empty()
            || !word_bounded(text, &raw)
            || (spec.standalone && joined_token(text, &raw))
            || (spec.numeric && continues_digits(text, &raw, spec.class == DataClass::CreditCard))
            // A host name right after `@` is the domain of an address, not a URL.
            || (spec.class == DataClass::Url && prev_char(text, raw.start) == Some('@'))
        {
            return false;
        }
        let Some(span) = trim(text, raw, spec.trim) else {
            return false;
        };
        let Some(value) = text.get(span.clone()) else {
            return false;
        };
        let validation = match spec.validator {
            Some(v) if v.check(value) => Validation::Passed(v.name()),
            Some(_) => return false,
            None => Validation::NotApplicable,
        };
        let (delta, hits) = self.context_for(text, &span, &spec.class, scratch);
        let positive = hits.iter().any(|h| h.delta > 0.0);
        if spec.needs_context && !positive {
            return false;
        }
        let score = (spec.score + delta).clamp(0.0, 1.0);
        out.push(Candidate {
            class: spec.class.clone(),
            bytes: span,
            score,
            recognizer: spec.name,
            evidence: Evidence {
                pattern: spec.name,
                validation: Some(validation),
                context: hits,
                base_score: spec.score,
            },
        });
        true
    }

    /// Context words of `class` near `span`: the summed score change and the words.
    ///
    /// The window is a few words either side of the candidate, cut at a clause break, so a
    /// keyword describing the previous value in a list does not describe this one.
    fn context_for(
        &self,
        text: &str,
        span: &std::ops::Range<usize>,
        class: &DataClass,
        scratch: &mut Scratch,
    ) -> (f32, Vec<ContextHit>) {
        let Some(ctx) = &self.context else {
            return (0.0, Vec::new());
        };
        let lo = window_start(text, span.start, WORDS_BEFORE);
        let hi = window_end(text, span.end, WORDS_AFTER);
        // Keywords are searched only in the windows candidates need, each byte at most once
        // (windows move forward with the candidates); hits are kept sorted by start.
        if hi > scratch.scanned_to {
            // Re-scan a keyword's length before the watermark so a keyword cut by it is found;
            // a hit already recorded is not added twice, and the list stays sorted.
            let from = lo.max(scratch.scanned_to.saturating_sub(ctx.longest));
            let input = aho_corasick::Input::new(text).range(from..hi);
            for m in ctx.automaton.find_iter(input) {
                let Some(word) = ctx.words.get(m.pattern().as_usize()) else {
                    continue;
                };
                if word_start(text, m.start()) && (word.len() > 4 || word_end(text, m.end())) {
                    let hit = (m.start(), m.end(), m.pattern().as_usize());
                    if let Err(at) = scratch.context_hits.binary_search(&hit) {
                        scratch.context_hits.insert(at, hit);
                    }
                }
            }
            scratch.scanned_to = hi;
        }
        let all_hits = &scratch.context_hits;
        let mut hits: Vec<ContextHit> = Vec::new();
        let (mut up, mut down) = (0.0f32, 0.0f32);
        let first = all_hits.partition_point(|&(s, _, _)| s < lo);
        for &(s, e, idx) in all_hits.get(first..).unwrap_or_default() {
            if s >= hi {
                break;
            }
            // Only before or after the candidate, never inside it (the value is not context).
            let before = e <= span.start;
            if !before && s < span.end {
                continue;
            }
            let (Some(&word), Some(effects)) = (ctx.words.get(idx), ctx.effects.get(idx)) else {
                continue;
            };
            // Words between the keyword and the candidate: nearer keywords count more.
            let gap = if before {
                text.get(e..span.start)
            } else {
                text.get(span.end..s)
            };
            let distance = gap.map_or(0, |g| g.split_whitespace().count());
            for (c, delta) in effects {
                if c != class || hits.iter().any(|h| h.word == word) {
                    continue;
                }
                let delta = if *delta > 0.0 {
                    *delta - DISTANCE_DECAY * distance as f32
                } else if before && distance <= NEGATIVE_WORDS {
                    *delta
                } else {
                    continue;
                };
                hits.push(ContextHit { word, delta });
                if delta > 0.0 {
                    up = up.max(delta);
                } else {
                    down = down.min(delta);
                }
            }
        }
        // A negative word right before the value (`version 1.2.3.4`) says what the value is;
        // a positive word elsewhere in the window does not outweigh it.
        (if down < 0.0 { down } else { up }, hits)
    }
}

type CachePool = regex_automata::util::pool::Pool<
    Vec<Option<hybrid::dfa::Cache>>,
    Box<
        dyn Fn() -> Vec<Option<hybrid::dfa::Cache>>
            + Send
            + Sync
            + std::panic::UnwindSafe
            + std::panic::RefUnwindSafe,
    >,
>;

/// Per-pattern reverse DFAs and a pool of their caches (one set per thread in use).
struct ReverseStarts {
    dfas: Arc<Vec<Option<hybrid::dfa::DFA>>>,
    pool: CachePool,
}

impl ReverseStarts {
    fn new(patterns: &[String]) -> Self {
        let dfas: Vec<Option<hybrid::dfa::DFA>> = patterns
            .iter()
            .map(|p| {
                hybrid::dfa::DFA::builder()
                    .configure(
                        hybrid::dfa::DFA::config()
                            .match_kind(RegexMatchKind::All)
                            .unicode_word_boundary(true)
                            .cache_capacity(1 << 20),
                    )
                    .thompson(regex_automata::nfa::thompson::Config::new().reverse(true))
                    .build(p)
                    .ok()
            })
            .collect();
        let dfas = Arc::new(dfas);
        let for_pool = Arc::clone(&dfas);
        let create: Box<
            dyn Fn() -> Vec<Option<hybrid::dfa::Cache>>
                + Send
                + Sync
                + std::panic::UnwindSafe
                + std::panic::RefUnwindSafe,
        > = Box::new(move || {
            for_pool
                .iter()
                .map(|d| d.as_ref().map(hybrid::dfa::DFA::create_cache))
                .collect()
        });
        Self {
            dfas,
            pool: regex_automata::util::pool::Pool::new(create),
        }
    }

    /// Where the match of `half.pattern()` ending at `half.offset()` starts (searching no
    /// further back than `at`); `None` when the reverse DFA cannot say (then the caller falls
    /// back to a full search).
    fn start(
        &self,
        caches: &mut [Option<hybrid::dfa::Cache>],
        text: &str,
        at: usize,
        half: regex_automata::HalfMatch,
    ) -> Option<usize> {
        let i = half.pattern().as_usize();
        let dfa = self.dfas.get(i)?.as_ref()?;
        let cache = caches.get_mut(i)?.as_mut()?;
        let input = Input::new(text)
            .span(at..half.offset())
            .anchored(Anchored::Yes)
            .earliest(false);
        dfa.try_search_rev(cache, &input)
            .ok()
            .flatten()
            .map(|m| m.offset())
    }
}

/// Per-call working state of the pattern pass.
#[derive(Default)]
struct Scratch {
    /// Context keyword hits found so far (start, end, word index), sorted by start.
    context_hits: Vec<(usize, usize, usize)>,
    /// Keywords have been searched for up to this byte.
    scanned_to: usize,
}

/// Where the context window before `at` starts: `words` words back, or a clause break.
fn window_start(text: &str, at: usize, words: usize) -> usize {
    let Some(head) = text.get(..at) else {
        return at;
    };
    let mut seen = 0;
    let mut in_word = false;
    let mut prev_space = true;
    for (i, c) in head.char_indices().rev() {
        if c == '\n' {
            return i + 1;
        }
        if c.is_whitespace() {
            if in_word {
                seen += 1;
                in_word = false;
                if seen >= words {
                    return i + c.len_utf8();
                }
            }
            prev_space = true;
            continue;
        }
        // A closing parenthesis ends the clause before us: `(firmware 1.2.3) 2024-03-05`.
        if matches!(c, '\n' | ';' | '!' | '?' | '|' | ')')
            || (c == ',' && prev_space && i + 1 < at)
            || (c == '.' && prev_space && i + 1 < at && ends_long_word(head, i))
        {
            return i + c.len_utf8();
        }
        in_word = true;
        prev_space = false;
    }
    0
}

/// Whether the word ending just before byte `dot` has four or more letters: a full stop
/// after it ends a clause; after `no.`, `St.` or `Dr.` it is an abbreviation.
fn ends_long_word(text: &str, dot: usize) -> bool {
    text.get(..dot).is_some_and(|head| {
        head.chars()
            .rev()
            .take_while(|c| c.is_alphanumeric())
            .count()
            >= 4
    })
}

/// Where the context window after `at` ends: `words` words on, or a clause break.
fn window_end(text: &str, at: usize, words: usize) -> usize {
    let Some(tail) = text.get(at..) else {
        return at;
    };
    let mut seen = 0;
    let mut in_word = false;
    let mut chars = tail.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            return at + i;
        }
        if c.is_whitespace() {
            if in_word {
                seen += 1;
                in_word = false;
                if seen >= words {
                    return at + i;
                }
            }
            continue;
        }
        let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '\n' | ';' | '!' | '?' | '|' | '(')
            || (c == ',' && next_is_space && i > 0)
            || (c == '.' && next_is_space && i > 0 && ends_long_word(text, at + i))
        {
            return at + i;
        }
        in_word = true;
    }
    text.len()
}

/// Keeps one label per span: the best-supported candidate wins (deny list, then score, then
/// a passed checksum, then the longer span), then findings are sorted by start.
fn resolve(text: &str, mut candidates: Vec<Candidate>) -> Vec<Finding> {
    let key = |c: &Candidate| {
        let deny = c.recognizer == "deny_list";
        let checksum = matches!(c.evidence.validation, Some(Validation::Passed(name)) if is_checksum_name(name));
        (deny, c.score, checksum, c.bytes.len())
    };
    candidates.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(kb.2.cmp(&ka.2))
            .then(kb.3.cmp(&ka.3))
            .then(a.bytes.start.cmp(&b.bytes.start))
    });
    // INVARIANT: `taken` holds disjoint ranges keyed by start.
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept = Vec::new();
    for c in candidates {
        let overlaps = taken
            .range(..c.bytes.end)
            .next_back()
            .is_some_and(|(_, &end)| end > c.bytes.start);
        if !overlaps {
            taken.insert(c.bytes.start, c.bytes.end);
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.bytes.start);
    let mut findings = Vec::with_capacity(kept.len());
    let (mut byte_pos, mut char_pos) = (0usize, 0usize);
    for c in kept {
        let start_chars = char_pos
            + text
                .get(byte_pos..c.bytes.start)
                .map_or(0, |s| s.chars().count());
        let len_chars = text.get(c.bytes.clone()).map_or(0, |s| s.chars().count());
        byte_pos = c.bytes.end;
        char_pos = start_chars + len_chars;
        findings.push(Finding {
            class: c.class,
            bytes: c.bytes,
            chars: start_chars..start_chars + len_chars,
            score: c.score,
            recognizer: c.recognizer,
            evidence: c.evidence,
        });
    }
    findings
}

fn is_checksum_name(name: &str) -> bool {
    [
        Validator::Luhn,
        Validator::CreditCard,
        Validator::Iban,
        Validator::UkNhs,
        Validator::Aadhaar,
        Validator::Bitcoin,
        Validator::Ethereum,
    ]
    .iter()
    .any(|v| v.name() == name)
}

fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

fn next_char(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

fn word_start(text: &str, at: usize) -> bool {
    !prev_char(text, at).is_some_and(char::is_alphanumeric)
}

fn word_end(text: &str, at: usize) -> bool {
    !next_char(text, at).is_some_and(char::is_alphanumeric)
}

/// A match that starts or ends with a word character must not continue a word (Unicode).
fn word_bounded(text: &str, span: &std::ops::Range<usize>) -> bool {
    let first_alnum = next_char(text, span.start).is_some_and(char::is_alphanumeric);
    let last_alnum = prev_char(text, span.end).is_some_and(char::is_alphanumeric);
    (!first_alnum || word_start(text, span.start)) && (!last_alnum || word_end(text, span.end))
}

/// Whether the match is a piece of a longer dotted/dashed token (`1.2.3.4.5`, a UUID group,
/// `v1.2.3`): then it is not what its pattern claims.
fn joined_token(text: &str, span: &std::ops::Range<usize>) -> bool {
    let joiner = |c: Option<char>| matches!(c, Some('.' | '-' | '_' | '/' | '\\'));
    let before = prev_char(text, span.start);
    let before2 = before.and_then(|c| prev_char(text, span.start - c.len_utf8()));
    let after = next_char(text, span.end);
    let after2 = after.and_then(|c| next_char(text, span.end + c.len_utf8()));
    (joiner(before) && before2.is_some_and(char::is_alphanumeric))
        || (joiner(after) && after2.is_some_and(char::is_alphanumeric))
}

/// Whether a numeric match continues into more digit groups (`4941 1025 7928` inside a
/// 16-digit number): then it is a piece of a longer number.
///
/// For a card (`card_groups`) only a neighbouring group of 4 or more digits counts: every
/// group of a card has at least 4 digits except the last group of a 17–19-digit card, which
/// the card patterns read as part of the card first. So `4950 1640 5832 2658 42` (the 18-digit
/// reading fails the validator) and `room 12 4950 1640 5832 2658` still hold a card, while
/// `4950 1640 5832 2658 4212` does not.
fn continues_digits(text: &str, span: &std::ops::Range<usize>, card_groups: bool) -> bool {
    let min_run = if card_groups { 4 } else { 1 };
    let first = next_char(text, span.start);
    let last = prev_char(text, span.end);
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let before = text.get(..span.start).unwrap_or_default();
    let after = text.get(span.end..).unwrap_or_default();
    let run_before = before.strip_suffix([' ', '-']).map_or(0, |s| {
        s.bytes().rev().take_while(u8::is_ascii_digit).count()
    });
    let run_after = after
        .strip_prefix([' ', '-'])
        .map_or(0, |s| s.bytes().take_while(u8::is_ascii_digit).count());
    (digit(first) && run_before >= min_run) || (digit(last) && run_after >= min_run)
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at.min(text.len())
}

fn next_char_boundary(text: &str, at: usize) -> usize {
    ceil_char_boundary(text, at + 1)
}

/// Narrows a raw match to its sensitive part. `None` when nothing is left.
fn trim(text: &str, raw: std::ops::Range<usize>, how: Trim) -> Option<std::ops::Range<usize>> {
    let s = text.get(raw.clone())?;
    let (start, end) = match how {
        Trim::None => (0, s.len()),
        Trim::TrailingPunct => {
            let kept = s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '\'', '"']);
            // Keep a closing parenthesis that closes one inside the URL.
            let kept_len =
                if s.get(kept.len()..).is_some_and(|t| t.starts_with(')')) && kept.contains('(') {
                    kept.len() + 1
                } else {
                    kept.len()
                };
            (0, kept_len)
        }
        Trim::AfterSeparator => {
            let lower = s.to_ascii_lowercase();
            let sep_end = [":", "="]
                .iter()
                .filter_map(|p| lower.find(p).map(|i| i + p.len()))
                .chain(
                    [" is ", " was "]
                        .iter()
                        .filter_map(|p| lower.find(p).map(|i| i + p.len())),
                )
                .min()?;
            let rest = s.get(sep_end..)?;
            let lead = rest.len() - rest.trim_start_matches([' ', '\t', '"', '\'']).len();
            (sep_end + lead, s.len())
        }
        Trim::UrlPassword => {
            let after_scheme = s.find("://")? + 3;
            let at = s.rfind('@')?;
            let colon = s.get(after_scheme..at)?.find(':')? + after_scheme + 1;
            (colon, at)
        }
        Trim::FirstDigits => {
            let start = s.find(|c: char| c.is_ascii_digit())?;
            let end = s
                .get(start..)?
                .find(|c: char| !c.is_ascii_digit())
                .map_or(s.len(), |i| start + i);
            (start, end)
        }
        Trim::LastDigits => {
            let end = s.rfind(|c: char| c.is_ascii_digit())? + 1;
            let start = s
                .get(..end)?
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |i| i + 1);
            (start, end)
        }
    };
    (start < end).then(|| raw.start + start..raw.start + end)
}

/// Interns names and words from custom recognizers so evidence can hold `&'static str`.
/// Bounded by the distinct strings ever configured, not by how often analyzers are built.
fn intern(s: &str) -> &'static str {
    static POOL: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| Mutex::new(HashSet::new()));
    let mut pool = pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = pool.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    pool.insert(leaked);
    leaked
}

impl AnalyzerBuilder {
    /// Only report these classes (default: all).
    pub fn entities(mut self, classes: impl IntoIterator<Item = DataClass>) -> Self {
        self.entities = Some(classes.into_iter().collect());
        self
    }

    /// Drop findings scoring below `score` (default [`DEFAULT_MIN_SCORE`]).
    pub fn min_score(mut self, score: f32) -> Self {
        self.min_score = Some(score);
        self
    }

    /// Exact values never reported (e.g. the company's own support address).
    pub fn allow_list<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow.extend(values.into_iter().map(Into::into));
        self
    }

    /// Exact values always reported as `class` (score 1.0), e.g. project code names.
    pub fn deny_list<I, S>(mut self, class: DataClass, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deny.extend(
            values
                .into_iter()
                .map(|v| (class.clone(), v.into()))
                .filter(|(_, v)| !v.is_empty()),
        );
        self
    }

    /// Adds custom pattern recognizers from TOML (`[[recognizer]]` tables with `name`,
    /// `class`, `pattern`, and optional `score`, `validator`, `context`,
    /// `negative_context`, `needs_context`). They take priority over built-in patterns.
    pub fn custom_recognizers_toml(mut self, toml_text: &str) -> Result<Self, BuildError> {
        let file: CustomFile = toml::from_str(toml_text).map_err(|e| {
            BuildError::new(format!("invalid custom recognizer file: {}", e.message()))
        })?;
        for r in &file.recognizer {
            if !(0.0..=1.0).contains(&r.score) {
                return Err(BuildError::new(format!(
                    "custom recognizer `{}`: score must be in [0, 1]",
                    r.name
                )));
            }
            meta::Regex::new(&r.pattern).map_err(|e| {
                BuildError::new(format!(
                    "custom recognizer `{}`: invalid pattern: {e}",
                    r.name
                ))
            })?;
            if r.needs_context && r.context.is_empty() {
                return Err(BuildError::new(format!(
                    "custom recognizer `{}`: `needs_context` requires `context` words",
                    r.name
                )));
            }
        }
        self.custom.extend(file.recognizer);
        Ok(self)
    }

    /// Adds a recognizer (e.g. the names recognizer).
    pub fn with_recognizer(mut self, recognizer: Box<dyn Recognizer>) -> Self {
        self.recognizers.push(Arc::from(recognizer));
        self
    }

    /// Compiles the patterns and keyword automata.
    pub fn build(self) -> Result<Analyzer, BuildError> {
        let enabled = |c: &DataClass| self.entities.as_ref().is_none_or(|set| set.contains(c));
        let min_score = self.min_score.unwrap_or(DEFAULT_MIN_SCORE);
        if !(0.0..=1.0).contains(&min_score) {
            return Err(BuildError::new("min score must be in [0, 1]"));
        }

        let mut specs = Vec::new();
        let mut regexes: Vec<String> = Vec::new();
        let mut context: HashMap<String, Vec<(DataClass, f32)>> = HashMap::new();
        for r in self.custom.iter().filter(|r| enabled(&r.class)) {
            specs.push(Spec {
                name: intern(&r.name),
                class: r.class.clone(),
                score: r.score,
                validator: r.validator,
                needs_context: r.needs_context,
                ambiguous: true,
                standalone: true,
                numeric: false,
                trim: Trim::None,
            });
            regexes.push(r.pattern.clone());
            for w in &r.context {
                context
                    .entry(w.to_lowercase())
                    .or_default()
                    .push((r.class.clone(), CONTEXT_BOOST));
            }
            for w in &r.negative_context {
                context
                    .entry(w.to_lowercase())
                    .or_default()
                    .push((r.class.clone(), CONTEXT_PENALTY));
            }
        }
        for p in patterns::builtin()
            .into_iter()
            .filter(|p| enabled(&p.class))
        {
            specs.push(Spec {
                name: p.name,
                class: p.class.clone(),
                score: p.score,
                validator: p.validator,
                needs_context: p.needs_context,
                ambiguous: p.ambiguous,
                standalone: !matches!(
                    &p.class,
                    DataClass::Secret
                        | DataClass::EmailAddress
                        | DataClass::Url
                        | DataClass::Crypto
                        | DataClass::StreetAddress
                ),
                numeric: matches!(
                    &p.class,
                    DataClass::CreditCard
                        | DataClass::InAadhaar
                        | DataClass::UkNhs
                        | DataClass::UsSsn
                        | DataClass::UsItin
                        | DataClass::PhoneNumber
                        | DataClass::UsBankNumber
                        | DataClass::UsPassport
                        | DataClass::UsDriverLicense
                        | DataClass::MedicalRecordNumber
                        | DataClass::ZipCode
                ),
                trim: p.trim,
            });
            regexes.push(p.regex.to_owned());
        }
        for (class, positive, negative) in patterns::context_words() {
            if !enabled(&class) {
                continue;
            }
            for w in positive {
                context
                    .entry((*w).to_owned())
                    .or_default()
                    .push((class.clone(), CONTEXT_BOOST));
            }
            for w in negative {
                context
                    .entry((*w).to_owned())
                    .or_default()
                    .push((class.clone(), CONTEXT_PENALTY));
            }
        }

        let regex = if regexes.is_empty() {
            None
        } else {
            let config = meta::Config::new().hybrid_cache_capacity(64 << 20);
            Some(
                meta::Builder::new()
                    .configure(config)
                    .build_many(&regexes)
                    .map_err(|e| BuildError::new(format!("cannot compile patterns: {e}")))?,
            )
        };

        let all_regex = if regexes.is_empty() {
            None
        } else {
            let config = meta::Config::new()
                .match_kind(RegexMatchKind::All)
                .hybrid_cache_capacity(16 << 20);
            Some(
                meta::Builder::new()
                    .configure(config)
                    .build_many(&regexes)
                    .map_err(|e| BuildError::new(format!("cannot compile patterns: {e}")))?,
            )
        };

        let context = if context.is_empty() {
            None
        } else {
            let mut entries: Vec<(String, Vec<(DataClass, f32)>)> = context.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let words: Vec<&'static str> = entries.iter().map(|(w, _)| intern(w)).collect();
            let automaton = AhoCorasickBuilder::new()
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&words)
                .map_err(|e| BuildError::new(format!("cannot compile context words: {e}")))?;
            Some(ContextIndex {
                longest: words.iter().map(|w| w.len()).max().unwrap_or(0),
                automaton,
                words,
                effects: entries.into_iter().map(|(_, e)| e).collect(),
            })
        };

        let deny_entries: Vec<&(DataClass, String)> =
            self.deny.iter().filter(|(c, _)| enabled(c)).collect();
        let deny = if deny_entries.is_empty() {
            None
        } else {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(deny_entries.iter().map(|(_, v)| v.as_str()))
                .map_err(|e| BuildError::new(format!("cannot compile deny list: {e}")))?;
            Some((
                automaton,
                deny_entries.iter().map(|(c, _)| c.clone()).collect(),
            ))
        };

        let recognizers = self
            .recognizers
            .into_iter()
            .filter(|r| {
                r.classes()
                    .iter()
                    .any(|c| self.entities.as_ref().is_none_or(|set| set.contains(c)))
            })
            .collect();

        Ok(Analyzer {
            inner: Arc::new(Inner {
                reverse: ReverseStarts::new(&regexes),
                regex,
                all_regex,
                specs,
                context,
                deny,
                allow: self.allow,
                recognizers,
                entities: self.entities,
                min_score,
            }),
        })
    }
}
