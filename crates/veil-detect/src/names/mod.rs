//! Names of people, places and organizations, and nationality, religious and political
//! groups: `PERSON`, `LOCATION`, `ORGANIZATION` and `NRP`.
//!
//! [`NameRecognizer`] is a [`Recognizer`] like any other. It works in four steps, all in
//! process and without a network:
//!
//! 1. **Tokens and lists.** The text is split into word and punctuation tokens, and each
//!    token is looked up in gazetteers compiled into the binary (census first and last
//!    names, Faker names from many cultures and scripts, GeoNames cities, countries and US
//!    states, organization names and keywords, nationalities, religions and political
//!    groups, medical eponyms, common words, titles and context triggers).
//! 2. **Tagging.** An averaged-perceptron sequence tagger (BIO tags, greedy decoding,
//!    hashed features: the words around, shapes, list memberships, document casing, the
//!    previous tags) labels the tokens. Its weights (`data/names/model.bin`) are trained by
//!    `cargo run --release -p veil-detect --example train_names` on the generated corpus in
//!    `testdata/names/`. Lower-case words in no list and not after a title or trigger are
//!    skipped, which is what keeps the tagger fast on ordinary prose.
//! 3. **Filters and repairs.** Medical eponyms followed by "disease", "syndrome", "score"
//!    and the like are not people (nor is any capitalised name right before "score" or
//!    "syndrome", or in the possessive before "law" or "palsy"), nor are names followed by
//!    a street type ("Kennedy Drive", "JEFFERSON AVENUE", "King Jr. Boulevard"), nor short
//!    unlisted acronyms ("CTO"). Spans are split at colons and brackets, lose a possessive
//!    ending, and person names written surname first ("Tóth, Zita") are made one.
//! 4. **Document consistency.** A name found once is found everywhere in the same text,
//!    including lower-case and possessive forms, and a person's surname or given name
//!    alone counts too, as does a one-word name after an honorific ("Dr. Okafor").
//!
//! ```
//! use veil_detect::{DataClass, NameRecognizer, Recognizer};
//!
//! let names = NameRecognizer::new()?;
//! let text = "Patient John Carter was seen at Mercy General Hospital in Denver. Carter's wife called.";
//! let mut found = Vec::new();
//! names.recognize(text, &mut found);
//! let classes: Vec<_> = found.iter().map(|c| (c.class.as_str(), &text[c.bytes.clone()])).collect();
//! assert!(classes.contains(&("PERSON", "John Carter")));
//! assert!(classes.contains(&("LOCATION", "Denver")));
//! assert!(classes.contains(&("PERSON", "Carter")));
//! # Ok::<(), veil_detect::names::ModelError>(())
//! ```

pub mod corpus;
mod features;
mod gazetteer;
mod model;
#[cfg(test)]
mod tests;
mod token;

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::{Candidate, ContextHit, DataClass, Evidence, Recognizer};
use features::{Doc, O, class_of};
use gazetteer::{Gazetteer, HONORIFICS, TITLES, TRIGGERS, flag, seq_hash};
pub use model::ModelError;
use model::{FastHasher, Model, Trainer};

/// The shipped model: weights of the tagger, built by the `train_names` example.
const MODEL: &[u8] = include_bytes!("../../data/names/model.bin");

/// The recognizer's name in findings.
const NAME: &str = "names";

const CLASSES: [DataClass; 4] = [
    DataClass::Person,
    DataClass::Location,
    DataClass::Organization,
    DataClass::Nrp,
];

/// Words after an eponym that make it a disease, sign, score or device, not a person.
const EPONYM_HEADS: &[&str] = &[
    "disease",
    "syndrome",
    "palsy",
    "sign",
    "score",
    "scale",
    "test",
    "maneuver",
    "manoeuvre",
    "catheter",
    "monitor",
    "ultrasound",
    "smear",
    "stain",
    "lymphoma",
    "thyroiditis",
    "phenomenon",
    "reflex",
    "triad",
    "law",
    "criteria",
    "classification",
    "procedure",
];

/// Heads that make any capitalised name right before them (no possessive) an eponym:
/// "Wells score", "Gleason grade", "Guillain-Barré syndrome".
const EPONYM_BARE_HEADS: &[&str] = &[
    "disease",
    "syndrome",
    "score",
    "scale",
    "grade",
    "criteria",
    "classification",
    "maneuver",
    "manoeuvre",
    "reflex",
    "phenomenon",
    "triad",
    "lymphoma",
    "thyroiditis",
];

/// Heads that make any capitalised name's possessive an eponym: "Newton's laws",
/// "Bell's palsy", "Ohm's law".
const EPONYM_LAW_HEADS: &[&str] = &[
    "law",
    "laws",
    "theorem",
    "principle",
    "equation",
    "constant",
    "palsy",
    "disease",
    "syndrome",
];

struct Inner {
    gazetteer: Gazetteer,
    model: Model,
}

/// Finds `PERSON`, `LOCATION`, `ORGANIZATION` and `NRP` spans. Cheap to clone; the lists
/// and the model are built once per process and shared.
#[derive(Clone)]
pub struct NameRecognizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NameRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameRecognizer")
            .field("features", &self.inner.model.feature_count())
            .finish()
    }
}

impl NameRecognizer {
    /// The recognizer with the shipped lists and model (built on first use, then shared).
    pub fn new() -> Result<Self, ModelError> {
        static SHARED: OnceLock<Result<Arc<Inner>, ModelError>> = OnceLock::new();
        let inner = SHARED.get_or_init(|| {
            Ok(Arc::new(Inner {
                gazetteer: Gazetteer::build(),
                model: Model::from_bytes(MODEL)?,
            }))
        });
        inner.clone().map(|inner| NameRecognizer { inner })
    }

    /// A recognizer with the shipped lists and a model read from `bytes` (the format
    /// [`NameTrainer::finish`] writes).
    pub fn with_model(bytes: &[u8]) -> Result<Self, ModelError> {
        Ok(NameRecognizer {
            inner: Arc::new(Inner {
                gazetteer: Gazetteer::build(),
                model: Model::from_bytes(bytes)?,
            }),
        })
    }

    fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        let doc = Doc::new(text, &self.inner.gazetteer);
        let (mut labels, margins) = self.inner.model.tag(&doc);
        drop_eponyms(&doc, &mut labels);
        let mut spans = spans_of(&labels);
        split_at_marks(&doc, &mut labels, &mut spans);
        tidy(&doc, &mut labels, &mut spans);
        drop_streets(&doc, &mut labels, &mut spans);
        join_names(&doc, &mut labels, &mut spans);
        honorific_names(&doc, &mut labels, &mut spans);
        let tagged = spans.len();
        consistency(&doc, &mut labels, &mut spans);
        for (k, (class, toks)) in spans.into_iter().enumerate() {
            let (Some(first), Some(last)) =
                (doc.tokens.get(toks.start), doc.tokens.get(toks.end - 1))
            else {
                continue;
            };
            let bytes = first.bytes.start..last.bytes.end;
            let from_tagger = k < tagged;
            let margin = if from_tagger {
                let m: f32 = margins.get(toks.clone()).map_or(0.0, |m| m.iter().sum());
                m / (toks.len() as f32)
            } else {
                2.0
            };
            // Names are less certain than validated patterns: scores stay in 0.5..=0.75 so
            // that an address, e-mail or URL holding a name wins the overlap.
            let base = 0.5 + 0.2 * (margin / 6.0).tanh().max(0.0);
            let mut evidence = Evidence {
                pattern: if from_tagger {
                    "names_tagger"
                } else {
                    "names_document_consistency"
                },
                validation: None,
                context: Vec::new(),
                base_score: base,
            };
            let mut score = base;
            if let Some(word) = trigger_before(&doc, toks.start) {
                evidence.context.push(ContextHit { word, delta: 0.05 });
                score += 0.05;
            }
            out.push(Candidate {
                class: CLASSES
                    .get(usize::from(class).saturating_sub(1))
                    .cloned()
                    .unwrap_or(DataClass::Person),
                bytes,
                score: score.clamp(0.0, 1.0),
                recognizer: NAME,
                evidence,
            });
        }
    }
}

impl Recognizer for NameRecognizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn classes(&self) -> &[DataClass] {
        &CLASSES
    }

    fn recognize(&self, text: &str, out: &mut Vec<Candidate>) {
        self.find(text, out);
    }
}

/// Entity spans (class index 1..=4, token range) of a BIO labelling.
fn spans_of(labels: &[u8]) -> Vec<(u8, Range<usize>)> {
    let mut out = Vec::new();
    let mut open: Option<(u8, usize)> = None;
    for (i, &l) in labels.iter().enumerate() {
        let continues = l != O && l % 2 == 0 && open.is_some_and(|(c, _)| c == class_of(l));
        if continues {
            continue;
        }
        if let Some((c, s)) = open.take() {
            out.push((c, s..i));
        }
        if l != O {
            open = Some((class_of(l), i));
        }
    }
    if let Some((c, s)) = open {
        out.push((c, s..labels.len()));
    }
    out
}

/// Splits tagged spans at signs that never sit inside a name: a colon ("GIVEN NAMES:
/// Kabir"), an opening bracket ("Agent (Poncio"), a vertical bar or a slash. Each part is
/// tidied on its own; the signs themselves are left out.
fn split_at_marks(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    let mut out = Vec::with_capacity(spans.len());
    for (class, toks) in spans.drain(..) {
        let mut from = toks.start;
        for k in toks.clone() {
            let mark = doc
                .tokens
                .get(k)
                .is_some_and(|t| matches!(t.punct, b':' | b'(' | b'|' | b'/' | b';'));
            if !mark {
                continue;
            }
            if k > from {
                out.push((class, from..k));
            }
            if let Some(l) = labels.get_mut(k) {
                *l = O;
            }
            if let Some(l) = labels.get_mut(k + 1)
                && k + 1 < toks.end
            {
                *l = class * 2 - 1;
            }
            from = k + 1;
        }
        if from < toks.end {
            out.push((class, from..toks.end));
        }
    }
    *spans = out;
}

/// Small words that may sit inside a name ("Bank of America", "Johnson & Johnson",
/// "Ludwig van Beethoven").
pub(crate) const CONNECTORS: &[&str] = &[
    "of", "and", "the", "for", "de", "del", "della", "di", "da", "do", "dos", "du", "des", "la",
    "le", "les", "van", "von", "der", "den", "ter", "ten", "y", "e", "et", "bin", "bint", "al",
    "el", "ibn", "&", "'", "’", "-", ".", ",", "s",
];

/// Acronyms of identifiers and technical terms, which look like organizations ("SSN",
/// "IBAN") but label a value that the pattern recognizers find.
const IDENTIFIER_WORDS: &[&str] = &[
    "ssn", "dob", "mrn", "npi", "ein", "tin", "itin", "pan", "iban", "swift", "bic", "vin", "id",
    "pin", "cvv", "cvc", "otp", "url", "ip", "mac", "zip", "api", "jwt", "nino", "nhs", "aadhaar",
    "uuid", "sku", "imei", "iccid", "routing", "acct", "ref", "fax", "tel",
];

/// Function words that never sit inside a name, whatever the casing.
pub(crate) const STOPWORDS: &[&str] = &[
    "to", "from", "in", "at", "with", "will", "is", "are", "was", "were", "be", "been", "has",
    "have", "had", "call", "you", "your", "my", "our", "we", "i", "he", "she", "they", "it", "on",
    "by", "as", "or", "but", "if", "then", "than", "that", "this", "these", "those", "who",
    "which", "when", "where", "why", "how", "not", "no", "yes", "can", "could", "would", "should",
    "may", "might", "must", "do", "does", "did", "said", "says", "told",
];

/// Cuts tagged spans where they run into ordinary words: in mixed-case text a lower-case
/// word other than a connector ends a name; in all-lower or all-upper text a common word
/// that is in no name list does. Trailing connectors and punctuation are dropped.
fn tidy(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    let mut out: Vec<(u8, Range<usize>)> = Vec::with_capacity(spans.len());
    for (class, toks) in spans.drain(..) {
        let mut end = toks.end;
        for k in toks.start + 1..toks.end {
            let Some(t) = doc.tokens.get(k) else { break };
            let f = doc.flags.get(k).copied().unwrap_or(0);
            let stopword = f & flag::STOP != 0 || chat_you(doc, k);
            let connector =
                f & (flag::CONNECTOR | flag::ORG_KW) != 0 || !stopword && t.n_chars <= 2;
            if stopword {
                end = k;
                break;
            }
            let stop = match doc.casing {
                features::Casing::Mixed => t.is_word && !t.has_upper && !t.non_ascii && !connector,
                _ => {
                    t.is_word
                        && !connector
                        && f & flag::COMMON != 0
                        && f & (flag::NAMEISH | flag::ORG_KW) == 0
                }
            };
            if stop {
                end = k;
                break;
            }
        }
        let mut possessive = false;
        while end > toks.start + 1 {
            let Some(t) = doc.tokens.get(end - 1) else {
                break;
            };
            // A possessive ending is not part of a person's name ("Vũ's firm"), and an
            // "organization" that is one listed name in the possessive ("Garcia's" in
            // "Garcia's firm") is that person (not a shop such as "Baker's": common words,
            // eponyms and listed organizations keep their class).
            let name_org = class == 3
                && end == toks.start + 3
                && doc.tokens.get(toks.start).is_some_and(|t| t.is_word)
                && doc.flags.get(toks.start).is_some_and(|&f| {
                    f & (flag::FIRST | flag::LAST) != 0
                        && f & (flag::COMMON | flag::EPONYM | flag::ORG | flag::ORG_KW) == 0
                });
            let apostrophe_s = (class == 1 || name_org)
                && end >= toks.start + 3
                && t.lower.as_ref() == "s"
                && !t.space_before
                && doc
                    .tokens
                    .get(end - 2)
                    .is_some_and(|a| matches!(a.punct, b'\'') || a.lower.as_ref() == "’")
                && doc
                    .tokens
                    .get(end)
                    .is_none_or(|n| !n.is_word || n.space_before);
            if apostrophe_s {
                end -= 2;
                possessive = true;
                continue;
            }
            let keep_period = t.punct == b'.' && abbreviation(doc, end - 2);
            let dangling = !t.is_word && !keep_period
                || matches!(t.lower.as_ref(), "of" | "and" | "the" | "&" | "for");
            if !dangling {
                break;
            }
            end -= 1;
        }
        for l in labels.iter_mut().take(toks.end).skip(end) {
            *l = O;
        }
        // Leading function words ("My" in "My Photoshop") are not part of a name.
        let mut start = toks.start;
        while start + 1 < end
            && (doc.flags.get(start).is_some_and(|f| f & flag::STOP != 0) || chat_you(doc, start))
        {
            if let Some(l) = labels.get_mut(start) {
                *l = O;
            }
            start += 1;
        }
        if start != toks.start
            && let Some(l) = labels.get_mut(start)
        {
            *l = class * 2 - 1;
        }
        let toks = start..toks.end;
        let words = || {
            doc.tokens
                .iter()
                .zip(doc.flags.iter())
                .take(end)
                .skip(toks.start)
        };
        // A lone function word ("My" at a sentence start) is never a name, and a lone word
        // naming an identifier scheme ("NHS number", "Medicare ID") is left to the pattern
        // recognizers.
        let scheme = doc.tokens.get(end).is_some_and(|t| {
            matches!(
                t.lower.as_ref(),
                "number" | "no" | "id" | "#" | "card" | "account"
            )
        }) || doc
            .tokens
            .get(toks.start)
            .is_some_and(|t| IDENTIFIER_WORDS.contains(&t.lower.as_ref()));
        // A short all-capitals word in mixed-case text that is in no list of names is an
        // acronym ("CTO", "ICU"), not a person.
        let acronym = class == 1
            && doc.casing == features::Casing::Mixed
            && words().all(|(t, f)| {
                t.is_word
                    && !t.non_ascii
                    && !t.has_lower
                    && !t.has_digit
                    && t.n_chars <= 4
                    && f & (flag::FIRST | flag::LAST) == 0
            });
        // A "person" made only of organization keywords ("Clinic", "Holdings") is none.
        let keyword_only = class == 1 && words().all(|(t, f)| !t.is_word || f & flag::ORG_KW != 0);
        // "Porto Alegre" + "Community" + "Clinic": the keyword ends the name before it, an
        // organization.
        if keyword_only
            && let Some((prev_class, prev)) = out.last_mut()
            && prev.end <= toks.start
            && toks.start - prev.end <= 1
            && (prev.end..toks.start).all(|k| {
                doc.tokens
                    .get(k)
                    .is_some_and(|t| t.is_word && t.init_upper && !t.newline_before)
            })
            && doc
                .tokens
                .get(toks.start)
                .is_some_and(|t| !t.newline_before)
        {
            *prev_class = 3;
            let from = prev.start;
            prev.end = end;
            for (k, l) in labels.iter_mut().enumerate().take(end).skip(from) {
                *l = if k == from { 5 } else { 6 };
            }
            for l in labels.iter_mut().take(toks.end).skip(end) {
                *l = O;
            }
            continue;
        }
        if (end - toks.start == 1 || keyword_only)
            && (scheme
                || keyword_only
                || acronym
                || chat_you(doc, toks.start)
                || words().all(|(_, f)| f & flag::STOP != 0))
        {
            for l in labels.iter_mut().take(end).skip(toks.start) {
                *l = O;
            }
            continue;
        }
        // An "organization" with no organization evidence (no keyword such as "Inc" or
        // "Hospital", not a known organization, no "&", "and" or hyphen joining surnames)
        // whose first word is a given name is a person: the tagger leans on context words,
        // and "payable to ..." or "from ..." fit both.
        let org_evidence = words().enumerate().any(|(k, (t, f))| {
            // A middle initial ("Iasmina S. Mocanu") is no organization form ("S.A.").
            let initial = middle_initial(doc, toks.start + k) && toks.start + k + 2 < end;
            !initial && f & (flag::ORG_KW | flag::ORG | flag::M_ORG_B | flag::M_ORG_I) != 0
                || matches!(
                    t.lower.as_ref(),
                    "&" | "and" | "-" | "," | "y" | "e" | "und" | "et"
                )
        });
        // "Tóth, Zita": a surname, a comma and a given name is a person written surname
        // first, as forms and lists do, not an organization.
        let org_evidence = org_evidence
            && !(end - toks.start == 3
                && surname_first(doc, toks.start, toks.start + 2)
                && words().all(|(_, f)| f & (flag::ORG_KW | flag::ORG) == 0));
        let n_words = words().filter(|(t, _)| t.is_word).count();
        let first_name = words()
            .next()
            .is_some_and(|(t, f)| f & flag::FIRST != 0 || (t.non_ascii && !t.lower.is_ascii()));
        let plain = words().all(|(t, f)| !t.is_word || f & (flag::COMMON | flag::LOC) == 0);
        let person_like = first_name || (n_words >= 2 && plain) || possessive;
        let class = if class == 3 && !org_evidence && person_like && end - toks.start <= 4 {
            for (k, l) in labels.iter_mut().enumerate().take(end).skip(toks.start) {
                *l = if k == toks.start { 1 } else { 2 };
            }
            1
        } else {
            class
        };
        // Adjacent groups ("Brazilian Catholic") are two NRP findings unless the whole run
        // is one list entry ("South African").
        let one_entry = doc
            .flags
            .get(toks.start)
            .is_some_and(|f| f & flag::M_NRP_B != 0);
        if class == 4 && end - toks.start > 1 && !one_entry {
            for k in toks.start..end {
                if doc.tokens.get(k).is_some_and(|t| t.is_word) {
                    if let Some(l) = labels.get_mut(k) {
                        *l = 7;
                    }
                    out.push((class, k..k + 1));
                } else if let Some(l) = labels.get_mut(k) {
                    *l = O;
                }
            }
            continue;
        }
        out.push((class, toks.start..end));
    }
    *spans = out;
}

/// Whether token `i` is chat's "u" for "you" ("miss u mandy"): a lower-case "u" (upper-case
/// in all-caps text) that no period follows. A function word, never part of a name; the
/// Burmese honorific "U" ("U Thant") is capitalised in mixed-case text and stays.
fn chat_you(doc: &Doc, i: usize) -> bool {
    doc.tokens.get(i).is_some_and(|t| {
        t.lower.as_ref() == "u" && (!t.has_upper || doc.casing == features::Casing::Upper)
    }) && !doc
        .tokens
        .get(i + 1)
        .is_some_and(|t| t.punct == b'.' && !t.space_before)
}

/// Whether tokens `a`, `a + 1`, `b` (= `a + 2`) read "Surname, Given" ("Tóth, Zita",
/// "GARRISON, MELISSA"): a word that is not only a given name, a comma right after it, a
/// listed given name (or one in a non-Latin script) on the same line, and no "and" or
/// "or" after it (which would make the run a list of people: "Maria, John and Peter").
/// In mixed-case text an all-capitals first word needs a given name that is capitalised
/// the same way or a listed surname ("ODP, Maria" is no name).
fn surname_first(doc: &Doc, a: usize, b: usize) -> bool {
    let (Some(s), Some(c), Some(g)) = (doc.tokens.get(a), doc.tokens.get(a + 1), doc.tokens.get(b))
    else {
        return false;
    };
    let fs = doc.flags.get(a).copied().unwrap_or(0);
    let fg = doc.flags.get(b).copied().unwrap_or(0);
    let given = fg & flag::FIRST != 0 || g.non_ascii && !g.has_upper && !g.has_lower;
    let surname = fs & flag::FIRST == 0 || fs & flag::LAST != 0;
    let caps = |t: &token::Token<'_>| t.has_upper && !t.has_lower;
    let shape_ok = doc.casing != features::Casing::Mixed
        || !caps(s)
        || caps(g)
        || fs & flag::LAST != 0
        || s.non_ascii;
    let listed = doc.tokens.get(b + 1).is_some_and(|t| {
        !t.newline_before && matches!(t.lower.as_ref(), "and" | "or" | "&" | "und" | "et" | "y")
    });
    b == a + 2
        && s.is_word
        && !s.has_digit
        && c.punct == b','
        && !c.space_before
        && g.is_word
        && !g.has_digit
        && g.space_before
        && !g.newline_before
        && given
        && surname
        && shape_ok
        && !listed
        && fs & (flag::STOP | flag::TITLE | flag::TRIGGER | flag::ORG_KW | flag::ORG) == 0
        && fg & (flag::STOP | flag::TITLE | flag::TRIGGER) == 0
}

/// Whether the word after a one-word person at `i` is that person's surname: on the same
/// line after one space, cased like the given name (capitalised in mixed-case text), and
/// a listed surname that is no common word, or a word in no list at all written in a
/// script other than Latin's ASCII letters.
fn surname_after(doc: &Doc, i: usize) -> bool {
    let (Some(g), Some(s), Some(&fg), Some(&fs)) = (
        doc.tokens.get(i),
        doc.tokens.get(i + 1),
        doc.flags.get(i),
        doc.flags.get(i + 1),
    ) else {
        return false;
    };
    let cased = match doc.casing {
        // Scripts without case (Thai, Chinese, Arabic, Devanagari) pass as they are.
        features::Casing::Mixed => s.init_upper || !s.has_upper && !s.has_lower,
        _ => true,
    };
    let listed = fs & flag::LAST != 0 && fs & (flag::COMMON | flag::STOP) == 0;
    let unknown_script = s.non_ascii
        && fs & (flag::NAMEISH | flag::COMMON | flag::STOP | flag::TITLE | flag::TRIGGER) == 0;
    // Two words with letters outside ASCII (another script, accented Latin): the given
    // name need not be listed.
    let script_given = g.non_ascii && !g.lower.is_ascii() && s.non_ascii && !s.lower.is_ascii();
    (fg & flag::FIRST != 0 || script_given)
        && g.is_word
        && s.is_word
        && !s.has_digit
        && s.space_before
        && !s.newline_before
        && cased
        && fs & (flag::TITLE | flag::TRIGGER | flag::ORG_KW | flag::EPONYM) == 0
        && (listed || unknown_script)
}

/// Whether an untagged word at `i` may be a surname written first at the start of a field
/// ("Name: Rice, Antoin", "/ Warwas, Mariusz"): a capitalised (in mixed-case text) word
/// that is a listed surname, or in no list of common words or places, right after the
/// start of the text or a line, or a colon, slash, semicolon, opening bracket or comma.
fn field_start(doc: &Doc, i: usize) -> bool {
    let (Some(t), Some(&f)) = (doc.tokens.get(i), doc.flags.get(i)) else {
        return false;
    };
    let boundary = t.newline_before
        || i.checked_sub(1)
            .and_then(|k| doc.tokens.get(k))
            .is_none_or(|p| matches!(p.punct, b':' | b'/' | b';' | b'(' | b',' | b'|'));
    boundary
        && t.is_word
        && !t.has_digit
        && (doc.casing != features::Casing::Mixed || t.init_upper)
        && (f & flag::LAST != 0 || f & (flag::COMMON | flag::LOC) == 0)
}

/// Whether token `i` is a one-letter initial followed by a period ("J. Smith").
fn middle_initial(doc: &Doc, i: usize) -> bool {
    doc.tokens
        .get(i)
        .is_some_and(|t| t.is_word && !t.has_digit && t.n_chars == 1)
        && doc
            .tokens
            .get(i + 1)
            .is_some_and(|t| t.punct == b'.' && !t.space_before)
}

/// Whether the tokens `gap` between two person spans keep them one name: nothing but a
/// space ("Maria" "Gonzalez"), a middle initial ("Mariadi" "W." "Puspita"), the period
/// of an initial the first span ends with ("Heather E" "." "O'Hanrahan"), or a hyphen
/// joining the parts of a double name ("Божидара" "-силвестра" "Поаков").
fn joins(doc: &Doc, before: &Range<usize>, gap: Range<usize>, next: usize) -> bool {
    let Some(first) = doc.tokens.get(next) else {
        return false;
    };
    if first.newline_before {
        return false;
    }
    let tok = |k: usize| doc.tokens.get(k);
    let lower = |k: usize| tok(k).map_or("", |t| t.lower.as_ref());
    match gap.len() {
        0 => first.space_before,
        1 => {
            lower(gap.start) == "."
                && before.len() > 1
                && middle_initial(doc, before.end - 1)
                && first.space_before
        }
        2 => {
            let initial = middle_initial(doc, gap.start)
                && tok(gap.start).is_some_and(|t| t.space_before)
                && first.space_before;
            let hyphen = lower(gap.start) == "-"
                && tok(gap.start).is_some_and(|t| !t.space_before)
                && tok(gap.start + 1).is_some_and(|t| t.is_word && !t.has_digit && !t.space_before);
            initial || hyphen
        }
        _ => false,
    }
}

/// Mends person names the tagger split: spans joined by a space, an initial or a hyphen
/// become one name (see [`joins`]), and a one-word organization right after a person's
/// initial is that person's surname. In a handle such as `jane.doe@corp` the part after
/// the period is a name too when the part before is.
fn join_names(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    let mut out: Vec<(u8, Range<usize>)> = Vec::with_capacity(spans.len());
    for (class, toks) in spans.drain(..) {
        // After an honorific ("Dr. Chandler", "Mrs. Paris") a name is a person's, whatever
        // else the word names.
        let class = if class != 1
            && toks.len() <= 3
            && trigger_before(doc, toks.start).is_some_and(|w| HONORIFICS.contains(&w))
        {
            1
        } else {
            class
        };
        // "Hegedűs, Gyöngyi" tagged as two people is one, written surname first; so is
        // "Awolowo, Moyosore" with the surname tagged as an organization or a place.
        if let Some((last_class, last)) = out.last_mut()
            && (*last_class == 1 && (class == 1 || class == 3) || *last_class == 3 && class == 1)
            && last.len() == 1
            && toks.len() == 1
            && surname_first(doc, last.start, toks.start)
        {
            *last_class = 1;
            last.end = toks.end;
            continue;
        }
        let untagged = |k: usize| {
            labels.get(k).is_some_and(|&l| l == O) && !doc.blocked.get(k).copied().unwrap_or(true)
        };
        let mut toks = toks;
        // A given name the tagger took alone ("Галина" of "Галина Валенко") runs on into
        // the surname right after it; a surname it took alone ("Nistor" of "Ancuța B.
        // Nistor") reaches back to the listed given name before it.
        if class == 1 && toks.len() == 1 && untagged(toks.end) && surname_after(doc, toks.start) {
            toks.end += 1;
        }
        // The given name after "Perales," that the tagger missed, and the surname before
        // ", Antoin" at the start of a field or line.
        if class == 1
            && toks.len() == 1
            && untagged(toks.end + 1)
            && surname_first(doc, toks.start, toks.end + 1)
        {
            toks.end += 2;
        }
        if class == 1
            && toks.len() == 1
            && toks.start >= 2
            && untagged(toks.start - 2)
            && surname_first(doc, toks.start - 2, toks.start)
            && field_start(doc, toks.start - 2)
        {
            toks.start -= 2;
        }
        if let Some((1, last)) = out.last_mut()
            && (class == 1 || class == 3 && toks.len() == 1)
            && last.end <= toks.start
            && joins(doc, last, last.end..toks.start, toks.start)
            && (class == 1 || toks.start > last.end)
        {
            last.end = toks.end;
            continue;
        }
        out.push((class, toks));
    }
    // Handles: `first.last` with no spaces, the first part a name.
    let mut extra = Vec::new();
    for (class, toks) in &out {
        let k = toks.end + 1;
        let handle = *class == 1
            && toks.len() == 1
            && doc
                .tokens
                .get(toks.end)
                .is_some_and(|t| t.punct == b'.' && !t.space_before)
            && doc
                .tokens
                .get(k)
                .is_some_and(|t| t.is_word && !t.has_digit && !t.space_before)
            && doc
                .tokens
                .get(k + 1)
                .is_none_or(|t| t.space_before || t.punct == b'@')
            && labels.get(k).is_some_and(|&l| l == O || class_of(l) == 3);
        if handle {
            extra.push(k);
        }
    }
    out.retain(|(_, toks)| !extra.contains(&toks.start) || toks.len() != 1);
    for k in extra {
        out.push((1, k..k + 1));
    }
    out.sort_by_key(|(_, toks)| toks.start);
    for (class, toks) in &out {
        for (k, l) in labels
            .iter_mut()
            .enumerate()
            .take(toks.end)
            .skip(toks.start)
        {
            *l = if k == toks.start {
                class * 2 - 1
            } else {
                class * 2
            };
        }
    }
    *spans = out;
}

/// Whether token `i` is an abbreviation that a period belongs to: an initial ("J."), a
/// title ("Dr."), an organization form ("Inc.", "Co.") or "St.".
pub(crate) fn abbreviation(doc: &Doc, i: usize) -> bool {
    let Some(t) = doc.tokens.get(i) else {
        return false;
    };
    let f = doc.flags.get(i).copied().unwrap_or(0);
    t.is_word
        && (t.n_chars == 1
            || f & (flag::ORG_KW | flag::TITLE) != 0
            || matches!(t.lower.as_ref(), "st" | "ste" | "mt" | "ft"))
}

/// Un-tags single-word PERSON spans that are medical eponyms used as such
/// ("Parkinson's disease", "Apgar score").
fn drop_eponyms(doc: &Doc, labels: &mut [u8]) {
    for (class, toks) in spans_of(labels) {
        let lower = |k: usize| doc.tokens.get(k).map_or("", |t| t.lower.as_ref());
        let apostrophe = |k: usize| lower(k) == "'" || lower(k) == "’";
        // The tagger may take the possessive in ("Bell's" before "palsy").
        let possessive_inside =
            toks.len() == 3 && apostrophe(toks.start + 1) && lower(toks.start + 2) == "s";
        if class != 1 || toks.len() != 1 && !possessive_inside {
            continue;
        }
        let i = toks.start;
        let listed = doc.flags.get(i).copied().unwrap_or(0) & flag::EPONYM != 0;
        let titled = trigger_before(doc, i).is_some_and(|w| HONORIFICS.contains(&w));
        let mut next = toks.end;
        let mut possessive = possessive_inside;
        if apostrophe(next) {
            next += if lower(next + 1) == "s" { 2 } else { 1 };
            possessive = true;
        }
        // A double-barrelled eponym ("Guillain-Barré syndrome").
        let hyphen = doc
            .tokens
            .get(next)
            .is_some_and(|t| t.punct == b'-' && !t.space_before)
            && doc
                .tokens
                .get(next + 1)
                .is_some_and(|t| t.is_word && !t.space_before);
        if !possessive && hyphen {
            next += 2;
        }
        let head = lower(next);
        // A capitalised name right before a clinical head with no possessive ("Wells
        // score", "Gleason score"), or any name's law or effect ("Newton's laws"), is an
        // eponym even when the name is in no eponym list.
        let unlisted = !titled
            && doc.tokens.get(i).is_some_and(|t| t.init_upper)
            && (!possessive && EPONYM_BARE_HEADS.contains(&head)
                || possessive && EPONYM_LAW_HEADS.contains(&head));
        let known = listed && EPONYM_HEADS.contains(&head);
        if known && !titled || unlisted {
            for l in labels.iter_mut().take(toks.end).skip(i) {
                *l = O;
            }
        }
    }
}

/// Street types: a person's name followed by one of them names a street ("Kennedy Drive",
/// "12 Washington Street", "Martin Luther King Blvd"), not the person.
const STREET_TYPES: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "drive",
    "boulevard",
    "blvd",
    "lane",
    "way",
    "court",
    "parkway",
    "highway",
];

/// Street types that are also surnames ("Nathan Lane") or abbreviations of other words
/// ("St. John"): they name a street only after a house number.
const SURNAME_STREET_TYPES: &[&str] = &["st", "lane", "way", "court"];

/// Un-tags PERSON spans that name a street: the span, or the span and one more word, is
/// followed by a street type (or the span ends with one). The street type must be
/// capitalised in mixed-case text and not also a surname ("Road", "Avenue", not "Lane"),
/// unless a house number comes right before the span ("12 Court Lane").
fn drop_streets(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    spans.retain(|(class, toks)| {
        if *class != 1 && *class != 3 {
            return true;
        }
        let numbered = toks
            .start
            .checked_sub(1)
            .and_then(|k| doc.tokens.get(k))
            .is_some_and(|t| t.has_digit && !t.has_lower && !t.has_upper);
        let street_type = |k: usize| {
            let Some(t) = doc.tokens.get(k) else {
                return false;
            };
            let lower = t.lower.as_ref();
            STREET_TYPES.contains(&lower)
                && !t.newline_before
                && (numbered
                    || !SURNAME_STREET_TYPES.contains(&lower)
                        && (doc.casing != features::Casing::Mixed || t.init_upper))
        };
        let between = |k: usize| {
            doc.tokens.get(k).is_some_and(|t| {
                t.is_word
                    && !t.has_digit
                    && !t.newline_before
                    && (numbered || doc.casing != features::Casing::Mixed || t.init_upper)
            })
        };
        // "Martin Luther King Jr. Boulevard": the period of "Jr." sits before the type.
        let suffix = doc
            .tokens
            .get(toks.end - 1)
            .is_some_and(|t| matches!(t.lower.as_ref(), "jr" | "sr"))
            && doc.tokens.get(toks.end).is_some_and(|t| t.punct == b'.');
        let street = (toks.len() > 1 && street_type(toks.end - 1))
            || street_type(toks.end)
            || suffix && street_type(toks.end + 1)
            || between(toks.end) && street_type(toks.end + 1);
        if street {
            for l in labels.iter_mut().take(toks.end).skip(toks.start) {
                *l = O;
            }
        }
        !street
    });
}

/// Tags the name the tagger missed after an honorific in mixed-case text ("Dr. Trần",
/// "Ms Kimachu", "Mr. Justice Nguyen"): one capitalised word, or two when the second is
/// capitalised too and no common word, on the same line. Titles between the honorific and
/// the name are skipped.
fn honorific_names(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    if doc.casing != features::Casing::Mixed {
        return;
    }
    let free = |k: usize| {
        labels.get(k).is_some_and(|&l| l == O) && !doc.blocked.get(k).copied().unwrap_or(true)
    };
    let name_word = |k: usize| {
        let (Some(t), Some(&f)) = (doc.tokens.get(k), doc.flags.get(k)) else {
            return false;
        };
        t.is_word
            && t.init_upper
            && !t.has_digit
            && !t.newline_before
            && (t.n_chars > 1 || t.non_ascii)
            && f & (flag::STOP | flag::TITLE | flag::TRIGGER | flag::ORG_KW) == 0
            && free(k)
    };
    let mut added = Vec::new();
    for (i, (t, &f)) in doc.tokens.iter().zip(doc.flags.iter()).enumerate() {
        // Honorifics carry the title flag: one bit test rejects almost every token.
        if f & flag::TITLE == 0 || !t.init_upper || !HONORIFICS.contains(&t.lower.as_ref()) {
            continue;
        }
        let mut k = i + 1;
        if doc
            .tokens
            .get(k)
            .is_some_and(|p| p.punct == b'.' && !p.space_before)
        {
            k += 1;
        }
        while doc.flags.get(k).is_some_and(|&f| f & flag::TITLE != 0)
            && doc.tokens.get(k).is_some_and(|t| t.init_upper)
        {
            k += 1;
        }
        if !name_word(k) {
            continue;
        }
        let mut end = k + 1;
        if name_word(end)
            && doc
                .flags
                .get(end)
                .is_some_and(|&f| f & flag::COMMON == 0 || f & flag::LAST != 0)
        {
            end += 1;
        }
        added.push(k..end);
    }
    for toks in added {
        for (k, l) in labels
            .iter_mut()
            .enumerate()
            .take(toks.end)
            .skip(toks.start)
        {
            *l = if k == toks.start { 1 } else { 2 };
        }
        spans.push((1, toks));
    }
    spans.sort_by_key(|(_, toks)| toks.start);
}

/// Document-level consistency: every later or earlier mention of a found name gets the
/// same class, whatever its case; a person's name parts count alone too.
fn consistency(doc: &Doc, labels: &mut [u8], spans: &mut Vec<(u8, Range<usize>)>) {
    // Keyed by the tokens' hashes (no strings are built): a name, as a run of lower-cased
    // tokens, and its class.
    let mut known: HashMap<u64, u8, BuildHasherDefault<FastHasher>> = HashMap::default();
    // Words of the persons' names: most tokens are rejected with one lookup here. (Other
    // names are matched again only when they start with such a word: propagating every
    // tagged span lowered precision on the development split.)
    let mut starts: HashSet<u64, BuildHasherDefault<FastHasher>> = HashSet::default();
    let mut max_words = 1;
    // One-word persons (after an honorific, "Dr. Okafor", and the others below): carried
    // once every span is known, so that a word tagged as a place or organization elsewhere
    // keeps that class.
    let mut titled = Vec::new();
    for (class, toks) in spans.iter() {
        let Some(words) = doc.tokens.get(toks.clone()) else {
            continue;
        };
        known.entry(seq_hash(words)).or_insert(*class);
        max_words = max_words.max(toks.len());
        // One-word persons carried too: after an honorific ("Dr. Okafor"), a listed given
        // name that names nothing else ("Juan"), or an unlisted word in a non-Latin script.
        let single = |mask: u32| {
            doc.flags.get(toks.start).is_some_and(|&f| {
                f & mask == mask && f & (flag::COMMON | flag::LOC | flag::ORG | flag::NRP) == 0
            })
        };
        let script = doc
            .tokens
            .get(toks.start)
            .is_some_and(|t| t.non_ascii && !t.lower.is_ascii());
        if *class == 1
            && toks.len() == 1
            && (trigger_before(doc, toks.start).is_some_and(|w| HONORIFICS.contains(&w))
                || single(flag::FIRST)
                || script && single(0))
        {
            titled.push(toks.start);
        }
        if *class == 1 && toks.len() > 1 {
            for (k, t) in words.iter().enumerate() {
                let f = doc.flags.get(toks.start + k).copied().unwrap_or(0);
                let useful = t.is_word
                    && t.n_chars >= 3
                    && f & (flag::COMMON | flag::TITLE | flag::TRIGGER | flag::EPONYM) == 0;
                if useful {
                    known.entry(seq_hash(std::slice::from_ref(t))).or_insert(1);
                    starts.insert(t.hash);
                }
            }
        }
    }
    // A word of a person's full name found alone with another class ("Blake Mckinney" ...
    // "Mckinney" as a place) is that person too (only words of multi-word names so far).
    for (class, toks) in spans.iter_mut() {
        let word = doc.tokens.get(toks.start).filter(|_| toks.len() == 1);
        if *class != 1
            && let Some(t) = word
            && starts.contains(&t.hash)
        {
            *class = 1;
            known.insert(seq_hash(std::slice::from_ref(t)), 1);
            if let Some(l) = labels.get_mut(toks.start) {
                *l = 1;
            }
        }
    }
    for i in titled {
        let (Some(t), Some(&f)) = (doc.tokens.get(i), doc.flags.get(i)) else {
            continue;
        };
        let useful = t.is_word
            && t.n_chars >= 3
            && f & (flag::COMMON | flag::TITLE | flag::TRIGGER | flag::EPONYM) == 0;
        if useful && known.get(&seq_hash(std::slice::from_ref(t))) == Some(&1) {
            starts.insert(t.hash);
        }
    }
    if known.is_empty() {
        return;
    }
    let mut i = 0;
    while i < doc.len() {
        let free = |k: usize| {
            labels.get(k).is_some_and(|&l| l == O) && !doc.blocked.get(k).copied().unwrap_or(true)
        };
        let word = doc.tokens.get(i).is_some_and(|t| t.is_word);
        let mut matched = 0;
        let start = word && free(i) && doc.tokens.get(i).is_some_and(|t| starts.contains(&t.hash));
        if start {
            for n in (1..=max_words.min(doc.len() - i)).rev() {
                if !(i..i + n).all(free) {
                    continue;
                }
                let Some(words) = doc.tokens.get(i..i + n) else {
                    continue;
                };
                if let Some(&class) = known.get(&seq_hash(words)) {
                    // Continuations of a longer name ("John Carter Smith") are left alone.
                    let after_word = doc.tokens.get(i + n).is_some_and(|t| {
                        t.is_word
                            && t.init_upper
                            && !t.newline_before
                            && doc.casing == features::Casing::Mixed
                    }) && labels.get(i + n).is_some_and(|&l| l != O);
                    if !after_word {
                        let from = if class == 1 && n == 1 {
                            given_name_before(doc, i, &free)
                        } else {
                            i
                        };
                        for (k, l) in labels.iter_mut().enumerate().skip(from).take(i + n - from) {
                            *l = if k == from { class * 2 - 1 } else { class * 2 };
                        }
                        spans.push((class, from..i + n));
                        matched = n;
                    }
                    break;
                }
            }
        }
        i += matched.max(1);
    }
}

/// Where a person's name found again as one word at `i` ("Diaconescu") starts when the
/// tagger missed the given name before it: a listed given name, capitalised in mixed-case
/// text, optionally followed by a middle initial ("Sergiu J. Diaconescu"), on the same line.
/// `i` itself when there is none.
fn given_name_before(doc: &Doc, i: usize, free: &impl Fn(usize) -> bool) -> usize {
    let mut k = i;
    if k >= 3
        && doc.tokens.get(k - 1).is_some_and(|t| t.punct == b'.')
        && middle_initial(doc, k - 2)
    {
        k -= 2;
    }
    let Some(g) = k.checked_sub(1) else {
        return i;
    };
    let (Some(t), Some(&f)) = (doc.tokens.get(g), doc.flags.get(g)) else {
        return i;
    };
    let same_line = (g + 1..=i).all(|j| doc.tokens.get(j).is_some_and(|t| !t.newline_before));
    let given = t.is_word
        && f & flag::FIRST != 0
        && f & (flag::STOP | flag::TITLE | flag::TRIGGER) == 0
        && (doc.casing != features::Casing::Mixed || t.init_upper);
    if given && same_line && (g..i).all(free) {
        g
    } else {
        i
    }
}

/// A title or trigger word right before token `i` (skipping one period), from our lists.
fn trigger_before(doc: &Doc, i: usize) -> Option<&'static str> {
    let mut k = i.checked_sub(1)?;
    if matches!(doc.tokens.get(k)?.punct, b'.' | b':') {
        k = k.checked_sub(1)?;
    }
    if doc.flags.get(k)? & (flag::TITLE | flag::TRIGGER) == 0 {
        return None;
    }
    let w = doc.tokens.get(k)?.lower.as_ref();
    HONORIFICS
        .iter()
        .chain(TITLES)
        .chain(TRIGGERS)
        .find(|t| **t == w)
        .copied()
}

/// Trains a names model from labelled documents (see [`corpus`] for the format).
pub struct NameTrainer {
    gazetteer: Gazetteer,
    trainer: Trainer,
}

impl Default for NameTrainer {
    fn default() -> Self {
        Self::new()
    }
}

impl NameTrainer {
    /// A trainer with the shipped lists and empty weights.
    pub fn new() -> Self {
        NameTrainer {
            gazetteer: Gazetteer::build(),
            trainer: Trainer::default(),
        }
    }

    /// Learns from one document; returns the number of token mistakes made before updating.
    pub fn learn(&mut self, doc: &corpus::LabelledDoc) -> usize {
        let d = Doc::new(&doc.text, &self.gazetteer);
        let gold = bio(&d, &doc.spans);
        self.trainer.learn(&d, &gold)
    }

    /// Averages and prunes the weights (features whose weights all stay below `prune` are
    /// dropped), returning the model file's bytes.
    pub fn finish(self, prune: f32) -> Vec<u8> {
        model::to_bytes(&self.trainer.finish(prune))
    }
}

/// Token labels (BIO) of gold spans given in bytes.
fn bio(doc: &Doc, spans: &[(DataClass, Range<usize>)]) -> Vec<u8> {
    let mut gold = vec![O; doc.len()];
    for (class, bytes) in spans {
        let Some(c) = CLASSES.iter().position(|k| k == class) else {
            continue;
        };
        let c = c as u8 + 1;
        let mut first = true;
        for (t, g) in doc.tokens.iter().zip(gold.iter_mut()) {
            if t.bytes.start >= bytes.start && t.bytes.end <= bytes.end {
                *g = if first { c * 2 - 1 } else { c * 2 };
                first = false;
            }
        }
    }
    gold
}
