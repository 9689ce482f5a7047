//! Word lists compiled into lookup tables: person names, places, organizations, NRP,
//! medical eponyms, common words, titles and context triggers.
//!
//! The lists are plain text under `data/names/` (one entry a line, built by
//! `data/names/build_gazetteers.py`), embedded in the binary with `include_str!`. Lookups are
//! per token (the tagger needs token-aligned facts, not byte matches), so a hash map from the
//! lower-cased token's [`word_hash`], plus one from multi-word entries (keyed by the hashes of
//! their tokens, combined) does what an Aho-Corasick automaton would without a second
//! tokenization pass; the token hashes are computed once by the tokenizer.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::model::FastHasher;

use super::token::{Token, tokenize, word_hash};

/// Bits describing what a single lower-cased token is in the lists.
pub(crate) mod flag {
    pub const FIRST: u32 = 1;
    pub const LAST: u32 = 1 << 1;
    pub const LOC: u32 = 1 << 2;
    pub const ORG: u32 = 1 << 3;
    pub const ORG_KW: u32 = 1 << 4;
    pub const NRP: u32 = 1 << 5;
    pub const EPONYM: u32 = 1 << 6;
    pub const COMMON: u32 = 1 << 7;
    pub const TITLE: u32 = 1 << 8;
    pub const TRIGGER: u32 = 1 << 9;
    /// Starts at least one multi-word entry (internal: gates the multi-word lookup).
    pub const MW_START: u32 = 1 << 10;
    pub const M_LOC_B: u32 = 1 << 11;
    pub const M_LOC_I: u32 = 1 << 12;
    pub const M_ORG_B: u32 = 1 << 13;
    pub const M_ORG_I: u32 = 1 << 14;
    pub const M_NRP_B: u32 = 1 << 15;
    pub const M_NRP_I: u32 = 1 << 16;
    pub const M_PER_B: u32 = 1 << 17;
    pub const M_PER_I: u32 = 1 << 18;
    /// A function word that never sits inside a name (`STOPWORDS`; internal).
    pub const STOP: u32 = 1 << 19;
    /// A small word or sign that may sit inside a name (`CONNECTORS`; internal).
    pub const CONNECTOR: u32 = 1 << 20;
    /// Bits the tagger's features do not see (they steer the rules around it).
    pub const INTERNAL: u32 = MW_START | STOP | CONNECTOR;
    /// Bits that make a token worth tagging even when it is lower-case.
    pub const NAMEISH: u32 =
        FIRST | LAST | LOC | ORG | NRP | M_LOC_B | M_ORG_B | M_NRP_B | M_PER_B | M_LOC_I | M_ORG_I;
}

/// Honorifics: titles that only ever precede a person's name (lower-case, without the
/// period).
pub(crate) const HONORIFICS: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
    "sir",
    "dame",
    "herr",
    "frau",
    "mme",
    "mlle",
    "señor",
    "señora",
    "sra",
];

/// Other titles, ranks and post-nominals (lower-case, without the period).
pub(crate) const TITLES: &[&str] = &[
    "lord",
    "lady",
    "rev",
    "fr",
    "sr",
    "jr",
    "nurse",
    "judge",
    "justice",
    "sen",
    "senator",
    "rep",
    "gov",
    "president",
    "capt",
    "captain",
    "sgt",
    "officer",
    "det",
    "detective",
    "md",
    "phd",
    "rn",
    "esq",
    "don",
    "doña",
];

/// Words that announce a name nearby (lower-case).
pub(crate) const TRIGGERS: &[&str] = &[
    "patient",
    "pt",
    "name",
    "named",
    "called",
    "signed",
    "witness",
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "regards",
    "sincerely",
    "cheers",
    "attending",
    "physician",
    "nurse",
    "contact",
    "kin",
    "husband",
    "wife",
    "daughter",
    "son",
    "mother",
    "father",
    "brother",
    "sister",
    "partner",
    "friend",
    "client",
    "customer",
    "plaintiff",
    "defendant",
    "counsel",
    "beneficiary",
    "holder",
    "user",
    "from",
    "to",
    "with",
    "by",
    "at",
    "in",
    "of",
    "v",
    "employer",
    "resident",
    "born",
    "moved",
    "lives",
    "visit",
    "visiting",
    "office",
    "ceo",
    "cfo",
    "manager",
    "author",
    "sender",
    "recipient",
    "mrn",
    "dob",
];

/// The embedded lists.
struct Lists {
    first: &'static str,
    last: &'static str,
    location: &'static str,
    org_names: &'static str,
    org_keywords: &'static str,
    nrp: &'static str,
    eponyms: &'static str,
    common: &'static str,
}

const LISTS: Lists = Lists {
    first: include_str!("../../data/names/person_first.txt"),
    last: include_str!("../../data/names/person_last.txt"),
    location: include_str!("../../data/names/location.txt"),
    org_names: include_str!("../../data/names/org_names.txt"),
    org_keywords: include_str!("../../data/names/org_keywords.txt"),
    nrp: include_str!("../../data/names/nrp.txt"),
    eponyms: include_str!("../../data/names/eponyms.txt"),
    common: include_str!("../../data/names/common_words.txt"),
};

/// Compiled lookup tables.
pub(crate) struct Gazetteer {
    /// Key: the token's [`word_hash`].
    single: HashMap<u64, u32, BuildHasherDefault<FastHasher>>,
    /// Multi-word entries: key = [`seq_hash`] of their tokens; value = (begin flag, inside
    /// flag) of the class.
    multi: HashMap<u64, (u32, u32), BuildHasherDefault<FastHasher>>,
    /// For each first word of a multi-word entry, a bit per entry length (in tokens) that
    /// starts with it, so a lookup only builds keys of lengths that exist.
    lengths: HashMap<u64, u64, BuildHasherDefault<FastHasher>>,
    /// The flags of each one-character ASCII punctuation token, read from `single` once:
    /// about a third of the tokens are punctuation, and a lookup in the large table costs a
    /// cache miss.
    punct: [u32; 128],
}

/// One hash for a run of tokens, from their word hashes.
pub(crate) fn seq_hash(tokens: &[Token<'_>]) -> u64 {
    tokens.iter().fold(0x243f_6a88_85a3_08d3, |h, t| {
        (h ^ t.hash)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(23)
    })
}

impl Gazetteer {
    pub(crate) fn build() -> Self {
        let mut g = Gazetteer {
            single: HashMap::with_capacity_and_hasher(100_000, Default::default()),
            multi: HashMap::default(),
            lengths: HashMap::default(),
            punct: [0; 128],
        };
        g.add_list(LISTS.first, flag::FIRST, (flag::M_PER_B, flag::M_PER_I));
        g.add_list(LISTS.last, flag::LAST, (flag::M_PER_B, flag::M_PER_I));
        g.add_list(LISTS.location, flag::LOC, (flag::M_LOC_B, flag::M_LOC_I));
        g.add_list(LISTS.org_names, flag::ORG, (flag::M_ORG_B, flag::M_ORG_I));
        g.add_list(LISTS.org_keywords, flag::ORG_KW, (0, 0));
        g.add_list(LISTS.nrp, flag::NRP, (flag::M_NRP_B, flag::M_NRP_I));
        g.add_list(LISTS.eponyms, flag::EPONYM, (0, 0));
        g.add_list(LISTS.common, flag::COMMON, (0, 0));
        for t in HONORIFICS.iter().chain(TITLES) {
            *g.single.entry(word_hash(t)).or_default() |= flag::TITLE;
        }
        for t in TRIGGERS {
            *g.single.entry(word_hash(t)).or_default() |= flag::TRIGGER;
        }
        for t in super::STOPWORDS {
            *g.single.entry(word_hash(t)).or_default() |= flag::STOP;
        }
        for t in super::CONNECTORS {
            *g.single.entry(word_hash(t)).or_default() |= flag::CONNECTOR;
        }
        for (b, f) in (0u8..).zip(g.punct.iter_mut()) {
            let c = [b];
            if let Ok(s) = std::str::from_utf8(&c) {
                *f = g.single.get(&word_hash(s)).copied().unwrap_or(0);
            }
        }
        g
    }

    fn add_list(&mut self, list: &str, single: u32, multi: (u32, u32)) {
        for line in list.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let toks = tokenize(line);
            match toks.as_slice() {
                [] => {}
                [one] => *self.single.entry(one.hash).or_default() |= single,
                [first, ..] => {
                    if multi.0 == 0 {
                        continue;
                    }
                    let entry = self.multi.entry(seq_hash(&toks)).or_default();
                    entry.0 |= multi.0;
                    entry.1 |= multi.1;
                    *self.single.entry(first.hash).or_default() |= flag::MW_START;
                    *self.lengths.entry(first.hash).or_default() |= 1u64 << toks.len().min(63);
                }
            }
        }
    }

    /// Flags of every token, single-word and multi-word entries included.
    pub(crate) fn annotate(&self, tokens: &[Token<'_>]) -> Vec<u32> {
        let mut flags: Vec<u32> = tokens
            .iter()
            .map(|t| match t.punct {
                0 => self.single.get(&t.hash).copied().unwrap_or(0),
                b => self.punct.get(usize::from(b)).copied().unwrap_or(0),
            })
            .collect();
        for i in 0..tokens.len() {
            if flags.get(i).copied().unwrap_or(0) & flag::MW_START == 0 {
                continue;
            }
            let Some(first) = tokens.get(i) else { break };
            let mut lengths = self.lengths.get(&first.hash).copied().unwrap_or(0);
            while lengths != 0 {
                // Longest first.
                let n = 63 - lengths.leading_zeros() as usize;
                lengths &= !(1u64 << n);
                let Some(window) = tokens.get(i..i + n) else {
                    continue;
                };
                if let Some(&(b, inside)) = self.multi.get(&seq_hash(window)) {
                    if let Some(f) = flags.get_mut(i) {
                        *f |= b;
                    }
                    for f in flags.iter_mut().skip(i + 1).take(n - 1) {
                        *f |= inside;
                    }
                    break;
                }
            }
        }
        flags
    }

    /// Flags of one lower-cased word.
    #[cfg(test)]
    pub(crate) fn word(&self, lower: &str) -> u32 {
        self.single.get(&word_hash(lower)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_single_and_multi_word_entries() {
        let g = Gazetteer::build();
        assert!(g.word("james") & flag::FIRST != 0);
        assert!(g.word("garcia") & flag::LAST != 0);
        assert!(g.word("paris") & flag::LOC != 0);
        assert!(g.word("parkinson") & flag::EPONYM != 0);
        assert!(g.word("dr") & flag::TITLE != 0);
        let toks = tokenize("She flew to New York with Bank of America staff.");
        let f = g.annotate(&toks);
        assert!(f[3] & flag::M_LOC_B != 0 && f[4] & flag::M_LOC_I != 0);
        assert!(f[6] & flag::M_ORG_B != 0 && f[8] & flag::M_ORG_I != 0);
        assert_eq!(f[10] & !flag::INTERNAL, 0, "punctuation is in no list");
        assert!(f[10] & flag::CONNECTOR != 0 && g.word("with") & flag::STOP != 0);
    }
}
