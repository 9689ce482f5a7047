//! The tagger's view of a document: tokens, list flags, shapes, and hashed features.

use super::gazetteer::{Gazetteer, flag};
use super::token::{Token, tokenize};

/// Tag set: BIO over the four classes.
pub(crate) const N_LABELS: usize = 9;
pub(crate) const O: u8 = 0;

/// The class index (1..=4) of a label, 0 for `O`.
pub(crate) fn class_of(label: u8) -> u8 {
    label.div_ceil(2)
}

/// Whether `label` may follow `prev` (an inside tag continues its own class only).
pub(crate) fn allowed(prev: u8, label: u8) -> bool {
    label == O || label % 2 == 1 || (prev != O && class_of(prev) == class_of(label))
}

/// How the document is cased as a whole: chat is often all lower-case, forms all upper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Casing {
    Mixed = 0,
    Lower = 1,
    Upper = 2,
}

/// A tokenized document with everything the features need.
pub(crate) struct Doc<'a> {
    pub tokens: Vec<Token<'a>>,
    pub flags: Vec<u32>,
    pub casing: Casing,
    /// Tokens inside technical strings (e-mail addresses, URLs, paths, identifiers with
    /// digits such as `EMP-001234`): never part of a name; the pattern recognizers own them.
    pub blocked: Vec<bool>,
}

/// Whether a whitespace-delimited chunk of text is technical rather than prose.
fn technical(chunk: &str) -> bool {
    const TLDS: &[&str] = &[
        ".com", ".org", ".net", ".io", ".gov", ".edu", ".co.", ".ai", ".dev",
    ];
    // One pass over the bytes for the single-character signs. Only a period followed by a
    // letter can start a domain ending (".com"), or a chunk starting with "www."; a word
    // ending a sentence ("Denver.") needs no lower-casing and no search (that search was
    // ~2.5% of the run on name-dense text).
    let mut dot = false;
    let mut prev_dot = false;
    for b in chunk.bytes() {
        match b {
            b'/' | b'\\' | b'_' | b'0'..=b'9' => return true,
            b'.' => {
                prev_dot = true;
                continue;
            }
            b if prev_dot && b.is_ascii_alphabetic() => dot = true,
            _ => {}
        }
        prev_dot = false;
    }
    dot |= chunk
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("www."));
    // An e-mail address (a dotted domain after the `@`) belongs to the e-mail recognizer;
    // `user=jane.doe@corp` is no address, so no recognizer but this one would find the name.
    let address = chunk.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain
                .trim_end_matches(['.', ',', ';', ':', '"', '\'', ')'])
                .contains('.')
    });
    address
        || dot && {
            let lower = chunk.to_ascii_lowercase();
            lower.starts_with("www.") || TLDS.iter().any(|t| lower.contains(t))
        }
}

impl<'a> Doc<'a> {
    pub(crate) fn new(text: &'a str, gazetteer: &Gazetteer) -> Self {
        let tokens = tokenize(text);
        let flags = gazetteer.annotate(&tokens);
        let (mut lower, mut upper, mut cased) = (0usize, 0usize, 0usize);
        for t in &tokens {
            if t.is_word && (t.has_lower || t.has_upper) {
                cased += 1;
                lower += usize::from(!t.has_upper);
                upper += usize::from(!t.has_lower);
            }
        }
        // Whitespace-delimited chunks: block every token of a technical chunk.
        let mut blocked = vec![false; tokens.len()];
        let mut k = 0;
        while k < tokens.len() {
            let mut end = k + 1;
            while tokens.get(end).is_some_and(|t| !t.space_before) {
                end += 1;
            }
            let (Some(a), Some(b)) = (tokens.get(k), tokens.get(end - 1)) else {
                break;
            };
            if technical(text.get(a.bytes.start..b.bytes.end).unwrap_or_default()) {
                for x in blocked.iter_mut().take(end).skip(k) {
                    *x = true;
                }
            }
            k = end;
        }
        let casing = if cased > 0 && lower * 10 >= cased * 9 {
            Casing::Lower
        } else if cased > 1 && upper * 10 >= cased * 8 {
            Casing::Upper
        } else {
            Casing::Mixed
        };
        Doc {
            tokens,
            flags,
            casing,
            blocked,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    fn flags_at(&self, i: isize) -> u32 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.flags.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn punct_at(&self, i: usize) -> u8 {
        self.tokens.get(i).map_or(0, |t| t.punct)
    }

    fn lower_at(&self, i: isize) -> &str {
        match usize::try_from(i).ok().and_then(|i| self.tokens.get(i)) {
            Some(t) => &t.lower,
            None if i < 0 => "<s>",
            None => "</s>",
        }
    }

    /// The word hash of token `i`, or of a document boundary marker.
    fn hash_at(&self, i: isize) -> u64 {
        match usize::try_from(i).ok().and_then(|i| self.tokens.get(i)) {
            Some(t) => t.hash,
            None if i < 0 => BOS,
            None => EOS,
        }
    }

    fn shape_at(&self, i: isize) -> u32 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.tokens.get(i))
            .map_or(u32::MAX, |t| t.shape)
    }

    /// Whether token `i` starts a sentence or a line.
    fn sentence_start(&self, i: usize) -> bool {
        if i == 0 {
            return true;
        }
        let Some(t) = self.tokens.get(i) else {
            return false;
        };
        t.newline_before
            || self
                .tokens
                .get(i - 1)
                .is_some_and(|p| matches!(p.punct, b'.' | b'!' | b'?' | b':' | b'"' | b';'))
    }

    /// Whether the tagger looks at token `i` at all. Tokens it skips are `O`: lower-case
    /// words in no list and not after a title or trigger, numbers, and punctuation outside
    /// an entity. This is what keeps the tagger fast on ordinary prose.
    pub(crate) fn gated(&self, i: usize, prev: u8) -> bool {
        let Some(t) = self.tokens.get(i) else {
            return false;
        };
        if self.blocked.get(i).copied().unwrap_or(true) {
            return false;
        }
        if prev != O {
            // A period continues a name only after a short word ("St.", "Inc.", "J."); a
            // sentence end does not.
            if t.punct == b'.' {
                return i > 0 && super::abbreviation(self, i - 1);
            }
            // `jane.doe@corp`: what follows an `@` is a host, not the rest of a name.
            return t.punct != b'@';
        }
        if !t.is_word || t.has_digit {
            return false;
        }
        let f = self.flags.get(i).copied().unwrap_or(0);
        if t.has_upper || (t.non_ascii && !t.has_lower) {
            return true;
        }
        if f & flag::NAMEISH != 0 {
            // In mixed-case text a lower-case dictionary word ("will", "may", "long") is not
            // a name; in all-lower text (chat) it may be.
            return self.casing != Casing::Mixed || f & flag::COMMON == 0;
        }
        let p = self.flags_at(i as isize - 1);
        let p2 = self.flags_at(i as isize - 2);
        p & (flag::TITLE | flag::TRIGGER) != 0 || p2 & flag::TITLE != 0
    }

    /// The features of token `i` whose values are few (the bias, casing and position
    /// facts, the word's length, the previous labels), as indices into [`small_keys`]: the
    /// tagger adds their weights from a table built once rather than hashing and looking
    /// them up for every token.
    pub(crate) fn small_features(&self, i: usize, p1: u8, p2: u8) -> [usize; N_SMALL_TEMPLATES] {
        let Some(t) = self.tokens.get(i) else {
            return [0; N_SMALL_TEMPLATES];
        };
        let casing = self.casing as usize;
        let n_chars = t.n_chars as usize;
        let b = |v: bool| usize::from(v);
        [
            0,
            1 + b(self.sentence_start(i)) * 2 + b(t.init_upper),
            5 + casing * 4 + b(t.init_upper) * 2 + b(t.has_lower),
            17 + n_chars.min(12),
            30 + b(t.newline_before) * 2 + b(t.space_before),
            34 + usize::from(p1),
            43 + usize::from(p1) * N_LABELS + usize::from(p2),
        ]
    }

    /// The features of token `i` that do not depend on earlier decisions (besides
    /// [`Doc::small_features`]): hashed keys in `out`, and in `small` the indices (into
    /// [`small_keys`]) of the list-membership features, which take few values.
    pub(crate) fn static_features(&self, i: usize, out: &mut Vec<u32>, small: &mut Vec<usize>) {
        out.clear();
        small.clear();
        let Some(t) = self.tokens.get(i) else {
            return;
        };
        let ii = i as isize;
        let casing = self.casing as u32;
        let w0: &str = t.lower.as_ref();
        out.push(H::new(1).w(t.hash).finish());
        out.push(H::new(2).w(self.hash_at(ii - 1)).finish());
        out.push(H::new(3).w(self.hash_at(ii + 1)).finish());
        out.push(H::new(4).w(self.hash_at(ii - 2)).finish());
        out.push(H::new(5).w(self.hash_at(ii + 2)).finish());
        if t.n_chars > 3 {
            let suf = w0.char_indices().rev().nth(2).map_or(0, |(b, _)| b);
            let pre = w0.char_indices().nth(3).map_or(w0.len(), |(b, _)| b);
            out.push(H::new(6).s(w0.get(suf..).unwrap_or_default()).finish());
            out.push(H::new(7).s(w0.get(..pre).unwrap_or_default()).finish());
        }
        let s0 = self.shape_at(ii);
        out.push(H::new(8).u(s0).u(casing).finish());
        out.push(H::new(9).u(self.shape_at(ii - 1)).u(s0).finish());
        out.push(H::new(10).u(s0).u(self.shape_at(ii + 1)).finish());
        let f0 = self.flags_at(ii);
        for (tmpl, f) in [
            (11u32, f0),
            (12, self.flags_at(ii - 1)),
            (13, self.flags_at(ii + 1)),
        ] {
            let mut bits = f & !flag::INTERNAL;
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                small.push(flag_index(tmpl, b, casing));
            }
        }
        out.push(H::new(16).w(self.hash_at(ii - 1)).u(s0).finish());
        out.push(H::new(17).w(self.hash_at(ii + 1)).u(s0).finish());
        out.push(H::new(21).u(f0 & !flag::INTERNAL).u(casing).finish());
        if self.punct_at(i + 1) == b'\'' && self.lower_at(ii + 2) == "s" {
            out.push(H::new(22).w(self.hash_at(ii + 3)).finish());
        }
        out.push(
            H::new(24)
                .w(self.hash_at(ii - 1))
                .w(self.hash_at(ii + 1))
                .finish(),
        );
        // What this word and its neighbours are in the lists, together ("FIRST then LAST").
        let m = flag::NAMEISH | flag::COMMON | flag::ORG_KW | flag::TITLE;
        out.push(H::new(25).u(f0 & m).u(self.flags_at(ii + 1) & m).finish());
        out.push(H::new(26).u(self.flags_at(ii - 1) & m).u(f0 & m).finish());
    }

    /// The hashed features that depend on the previous decision.
    pub(crate) fn dynamic_features(&self, i: usize, p1: u8, out: &mut Vec<u32>) {
        let ii = i as isize;
        let f0 = self.flags_at(ii) & !flag::INTERNAL;
        out.push(H::new(32).u(u32::from(p1)).w(self.hash_at(ii)).finish());
        out.push(H::new(33).u(u32::from(p1)).u(self.shape_at(ii)).finish());
        out.push(H::new(34).u(u32::from(p1)).u(f0).finish());
    }
}

/// How many templates [`Doc::small_features`] returns, and how many values they have in all.
pub(crate) const N_SMALL_TEMPLATES: usize = 7;
const N_SMALL_FIXED: usize = 43 + N_LABELS * N_LABELS;
/// Small features in all: those of [`Doc::small_features`], then one per list flag bit of
/// the token and of each neighbour (templates 11, 12, 13) and document casing. These are the
/// features most tokens have, and the model almost always knows them: as table rows they
/// cost no hashing and no lookup in the large table (same weights, same sums).
pub(crate) const N_SMALL: usize = N_SMALL_FIXED + 3 * 32 * 3;

/// The index in [`small_keys`] of flag bit `bit` under template `tmpl` (11..=13) and
/// casing `casing`.
fn flag_index(tmpl: u32, bit: u32, casing: u32) -> usize {
    N_SMALL_FIXED + ((tmpl.saturating_sub(11) * 32 + bit) * 3 + casing) as usize
}

/// The hashed key of every small feature, by index (see [`Doc::small_features`]); the
/// model file stores their weights under these keys like any other feature's.
pub(crate) fn small_keys() -> Vec<u32> {
    let mut keys = Vec::with_capacity(N_SMALL);
    keys.push(H::new(0).finish());
    for start in 0..2 {
        for upper in 0..2 {
            keys.push(H::new(14).u(start).u(upper).finish());
        }
    }
    for casing in 0..3 {
        for upper in 0..2 {
            for lower in 0..2 {
                keys.push(H::new(15).u(casing).u(upper).u(lower).finish());
            }
        }
    }
    for n in 0..=12 {
        keys.push(H::new(18).u(n).finish());
    }
    for newline in 0..2 {
        for space in 0..2 {
            keys.push(H::new(23).u(newline).u(space).finish());
        }
    }
    for p1 in 0..N_LABELS as u32 {
        keys.push(H::new(30).u(p1).finish());
    }
    for p1 in 0..N_LABELS as u32 {
        for p2 in 0..N_LABELS as u32 {
            keys.push(H::new(31).u(p1).u(p2).finish());
        }
    }
    for tmpl in 11..=13u32 {
        for bit in 0..32u32 {
            for casing in 0..3u32 {
                debug_assert_eq!(keys.len(), flag_index(tmpl, bit, casing));
                keys.push(H::new(tmpl).u(bit).u(casing).finish());
            }
        }
    }
    keys
}

/// Word hashes standing for the positions before the first and after the last token.
const BOS: u64 = 0x6a09_e667_f3bc_c908;
const EOS: u64 = 0xbb67_ae85_84ca_a73b;

/// Feature hashing: the template id and its parts (words by their precomputed hash, affixes
/// byte by byte, small numbers) folded FNV-style, then a final mix to 32 bits.
struct H(u64);

impl H {
    fn new(template: u32) -> Self {
        H(0xcbf2_9ce4_8422_2325 ^ u64::from(template).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn s(mut self, s: &str) -> Self {
        for b in s.bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
        self
    }

    /// A word, by its [`word_hash`](super::token::word_hash).
    fn w(mut self, h: u64) -> Self {
        self.0 = (self.0 ^ h)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(27);
        self
    }

    fn u(mut self, v: u32) -> Self {
        self.0 = (self.0 ^ u64::from(v).wrapping_add(0x1234_5678)).wrapping_mul(0x0100_0000_01b3);
        self
    }

    fn finish(self) -> u32 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        (x >> 32) as u32
    }
}
