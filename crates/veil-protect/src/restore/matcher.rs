//! Finding placeholders, exact and altered, in text that may still be growing.
//!
//! One scanner serves the whole text ([`RestoreTable::restore_text`](super::RestoreTable))
//! and streams ([`TextRestorer`](super::TextRestorer)): the streaming restorer calls it with
//! `eof = false`, and the scanner then reports where a placeholder could still begin instead
//! of deciding. Because both paths run the same decisions over the same bytes, a stream
//! split anywhere restores exactly like the whole text.
//!
//! Finding candidates is aho-corasick's job: every altered form contains the first word of
//! its class name (any case), and every other placeholder is a literal, so one
//! ASCII-case-insensitive automaton over those finds every place a complete placeholder can
//! be.
//! Deciding a candidate is hand-written: the grammar around the class name (optional
//! bracket pair, up to [`MAX_SPACES`] spaces, a separator, the ordinal, a word boundary for
//! bare forms) must also answer "could this still become a placeholder?" for text cut off at
//! any byte, which a regex search cannot tell apart from "no match". A DFA walked byte by
//! byte could, but its delayed match states cannot tell a finished `<PERSON_1>` from one
//! that might grow, so it would hold back complete placeholders; the small parser below
//! answers exactly, and the tests pin it against the whole-text result at every split.

use std::ops::Range;

use aho_corasick::AhoCorasick;

/// Spaces allowed between a bracket and the placeholder inside it (`< PERSON_1 >`).
pub(super) const MAX_SPACES: usize = 2;

/// One class name and the ordinals of this table's placeholders of that class.
pub(super) struct ClassForms {
    /// Upper-case class name, e.g. `PERSON`.
    pub(super) name: String,
    /// Ordinal digits as written in the placeholder, with the table entry they restore.
    pub(super) ordinals: Vec<(String, usize)>,
}

/// The compiled search for one [`RestoreTable`](super::RestoreTable).
pub(super) struct Matcher {
    /// The first word of each class name (patterns `0..classes.len()`), then literals;
    /// ASCII-case-insensitive. The first word, because `CREDIT_CARD` may be spelled
    /// `credit-card`: the parser checks the rest.
    ac: AhoCorasick,
    classes: Vec<ClassForms>,
    /// Placeholders restored only as written (surrogates, markers), with their entry.
    literals: Vec<(String, usize)>,
    /// Bytes that can begin a placeholder: brackets, class initials, literal initials.
    can_start: [bool; 256],
    /// Longest form in bytes: no undecided placeholder starts further back than this.
    window: usize,
}

/// What one candidate start decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A placeholder ends here and restores this entry.
    Match {
        end: usize,
        entry: usize,
    },
    /// The text ends before this can be decided.
    NeedMore,
    NoMatch,
}

/// Collects the outcomes of every form tried at one start: the longest match wins, and any
/// undecided form makes the whole start undecided (it could still become the longest).
#[derive(Default)]
struct Best {
    found: Option<(usize, usize)>,
    need_more: bool,
}

impl Best {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Match { end, entry } => {
                if self.found.is_none_or(|(best, _)| end > best) {
                    self.found = Some((end, entry));
                }
            }
            Outcome::NeedMore => self.need_more = true,
            Outcome::NoMatch => {}
        }
    }

    fn outcome(self) -> Outcome {
        match (self.need_more, self.found) {
            (true, _) => Outcome::NeedMore,
            (false, Some((end, entry))) => Outcome::Match { end, entry },
            (false, None) => Outcome::NoMatch,
        }
    }
}

fn closing(open: u8) -> Option<u8> {
    match open {
        b'<' => Some(b'>'),
        b'[' => Some(b']'),
        b'{' => Some(b'}'),
        b'(' => Some(b')'),
        _ => None,
    }
}

/// Whether `text` spells the class `name` (upper case): any case, and `_`, `-` or a space
/// where the name has `_` (`credit-card`, `Credit Card`).
fn same_name(name: &[u8], text: &[u8]) -> bool {
    name.len() == text.len()
        && name.iter().zip(text).all(|(&n, &t)| {
            if n == b'_' {
                matches!(t, b'_' | b'-' | b' ')
            } else {
                n.eq_ignore_ascii_case(&t)
            }
        })
}

/// The part of a class name before its first `_`: every spelling of the name contains it.
fn first_word(name: &str) -> &str {
    name.split('_').next().unwrap_or(name)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Counts spaces from `at` onwards (stopping after `MAX_SPACES + 1`); returns the position
/// after them and the count.
fn spaces(bytes: &[u8], mut at: usize) -> (usize, usize) {
    let mut n = 0;
    while n <= MAX_SPACES && bytes.get(at) == Some(&b' ') {
        at += 1;
        n += 1;
    }
    (at, n)
}

fn need_more(eof: bool) -> Outcome {
    if eof {
        Outcome::NoMatch
    } else {
        Outcome::NeedMore
    }
}

impl Matcher {
    /// Builds the search; `None` when there is nothing to restore or the automaton cannot
    /// be built (then placeholders stay as they are: nothing sensitive is revealed).
    pub(super) fn build(classes: Vec<ClassForms>, literals: Vec<(String, usize)>) -> Option<Self> {
        if classes.is_empty() && literals.is_empty() {
            return None;
        }
        let patterns = classes
            .iter()
            .map(|c| first_word(&c.name))
            .chain(literals.iter().map(|(l, _)| l.as_str()));
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .ok()?;
        let mut can_start = [false; 256];
        let mut window = 0;
        for open in [b'<', b'[', b'{', b'('] {
            if let Some(slot) = can_start.get_mut(usize::from(open)) {
                *slot = !classes.is_empty();
            }
        }
        for class in &classes {
            if let Some(&first) = class.name.as_bytes().first() {
                for b in [first.to_ascii_uppercase(), first.to_ascii_lowercase()] {
                    if let Some(slot) = can_start.get_mut(usize::from(b)) {
                        *slot = true;
                    }
                }
            }
            let digits = class
                .ordinals
                .iter()
                .map(|(o, _)| o.len())
                .max()
                .unwrap_or(0);
            // open, spaces, name, separator, digits, spaces, close
            window = window.max(1 + MAX_SPACES + class.name.len() + 1 + digits + MAX_SPACES + 1);
        }
        for (literal, _) in &literals {
            if let Some(&first) = literal.as_bytes().first()
                && let Some(slot) = can_start.get_mut(usize::from(first))
            {
                *slot = true;
            }
            window = window.max(literal.len());
        }
        Some(Self {
            ac,
            classes,
            literals,
            can_start,
            window,
        })
    }

    /// Longest placeholder form in bytes: the most a streaming restorer ever holds back.
    pub(super) fn window(&self) -> usize {
        self.window
    }

    /// Reports each placeholder of `hay` in order (`on_match(span, entry)`), leftmost first
    /// and longest at a start. `before` is the character just before `hay` (for the word
    /// boundary of bare forms). Without `eof`, returns where the earliest placeholder that
    /// more text could still complete begins (everything before it is decided); otherwise,
    /// and when nothing is pending, returns `hay.len()`.
    pub(super) fn scan(
        &self,
        hay: &str,
        before: Option<char>,
        eof: bool,
        mut on_match: impl FnMut(Range<usize>, usize),
    ) -> usize {
        let bytes = hay.as_bytes();
        let mut starts = Vec::new();
        for m in self.ac.find_overlapping_iter(hay) {
            let start = m.start();
            starts.push(start);
            if m.pattern().as_usize() < self.classes.len() {
                // A bracket up to MAX_SPACES spaces before the class name starts a form.
                let mut at = start;
                let mut n = 0;
                while n <= MAX_SPACES && at > 0 && bytes.get(at - 1) == Some(&b' ') {
                    at -= 1;
                    n += 1;
                }
                if n <= MAX_SPACES
                    && at > 0
                    && bytes.get(at - 1).copied().and_then(closing).is_some()
                {
                    starts.push(at - 1);
                }
            }
        }
        if !eof {
            // Placeholders cut off by the end of the text: the class name or literal is not
            // complete yet, so the automaton cannot have seen them.
            for at in hay.len().saturating_sub(self.window)..hay.len() {
                let startable = bytes
                    .get(at)
                    .is_some_and(|&b| self.can_start.get(usize::from(b)) == Some(&true));
                if startable && hay.is_char_boundary(at) {
                    starts.push(at);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();

        let mut cursor = 0;
        for start in starts {
            if start < cursor {
                continue;
            }
            match self.eval_at(hay, start, before, eof) {
                Outcome::Match { end, entry } => {
                    on_match(start..end, entry);
                    cursor = end;
                }
                Outcome::NeedMore => return start,
                Outcome::NoMatch => {}
            }
        }
        hay.len()
    }

    /// Tries every form that can begin at `start`.
    fn eval_at(&self, hay: &str, start: usize, before: Option<char>, eof: bool) -> Outcome {
        let bytes = hay.as_bytes();
        let Some(rest) = bytes.get(start..) else {
            return Outcome::NoMatch;
        };
        let mut best = Best::default();
        for (literal, entry) in &self.literals {
            let literal = literal.as_bytes();
            if rest.starts_with(literal) {
                best.add(Outcome::Match {
                    end: start + literal.len(),
                    entry: *entry,
                });
            } else if !eof && rest.len() < literal.len() && literal.starts_with(rest) {
                best.add(Outcome::NeedMore);
            }
        }
        match rest.first().copied() {
            Some(open) if closing(open).is_some() => {
                let (inner, n) = spaces(bytes, start + 1);
                if n <= MAX_SPACES {
                    for class in &self.classes {
                        best.add(self.tag_after(hay, inner, class, closing(open), eof));
                    }
                }
            }
            Some(first) if first.is_ascii_alphabetic() => {
                let boundary = match hay.get(..start) {
                    Some("") => before,
                    Some(head) => head.chars().next_back(),
                    None => None,
                }
                .is_none_or(|c| !is_word(c));
                if boundary {
                    for class in &self.classes {
                        best.add(self.tag_after(hay, start, class, None, eof));
                    }
                }
            }
            _ => {}
        }
        best.outcome()
    }

    /// Parses `CLASS`, a separator, the ordinal and (for a bracketed form) spaces and the
    /// closing bracket, from `at`.
    fn tag_after(
        &self,
        hay: &str,
        at: usize,
        class: &ClassForms,
        close: Option<u8>,
        eof: bool,
    ) -> Outcome {
        let bytes = hay.as_bytes();
        let rest = bytes.get(at..).unwrap_or_default();
        let name = class.name.as_bytes();
        if rest.len() < name.len() {
            let prefix = name.get(..rest.len()).is_some_and(|n| same_name(n, rest));
            return if prefix {
                need_more(eof)
            } else {
                Outcome::NoMatch
            };
        }
        if !rest.get(..name.len()).is_some_and(|r| same_name(name, r)) {
            return Outcome::NoMatch;
        }
        let mut at = at + name.len();
        match bytes.get(at) {
            None => return need_more(eof),
            Some(b'_' | b'-' | b' ') => at += 1,
            Some(_) => return Outcome::NoMatch,
        }
        let digits_start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let digits = hay.get(digits_start..at).unwrap_or_default();
        if at == bytes.len() && !eof {
            // The number may go on: wait only if some ordinal of this class could follow.
            let possible = class.ordinals.iter().any(|(o, _)| o.starts_with(digits));
            return if possible {
                Outcome::NeedMore
            } else {
                Outcome::NoMatch
            };
        }
        let Some(entry) = class
            .ordinals
            .iter()
            .find(|(o, _)| o == digits)
            .map(|(_, e)| *e)
        else {
            return Outcome::NoMatch;
        };
        match close {
            Some(close) => {
                let (at, n) = spaces(bytes, at);
                if n > MAX_SPACES {
                    return Outcome::NoMatch;
                }
                match bytes.get(at) {
                    None => need_more(eof),
                    Some(&b) if b == close => Outcome::Match { end: at + 1, entry },
                    Some(_) => Outcome::NoMatch,
                }
            }
            // Bare: a word boundary must follow, so `PERSON_1` is not read inside
            // `PERSON_1x`. Here the text goes on (or this is its end with `eof`).
            None => match hay.get(at..).and_then(|t| t.chars().next()) {
                Some(c) if is_word(c) => Outcome::NoMatch,
                _ => Outcome::Match { end: at, entry },
            },
        }
    }
}
