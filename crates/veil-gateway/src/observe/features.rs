//! Text features of one prompt, computed in the pipeline and handed to the detectors: hashes
//! and counts only, never text.
//!
//! One pass over the words of the caller's latest prompt yields
//! - a MinHash signature: the minima of [`MINHASH_SIZE`] hash functions over the prompt's
//!   content-word 2-shingles (words lower-cased and crudely stemmed, stop words dropped, each
//!   pair of neighbouring content words one shingle). The share of equal minima of two
//!   signatures estimates the Jaccard similarity of their shingle sets, so reworded prompts
//!   that keep most content words ("list every customer record" / "show all the customer
//!   records") stay close while unrelated prompts share nothing,
//! - a template signature: the prompt with its varying slots (words holding digits, `@`,
//!   quoted spans, capitalised words inside a sentence) masked, hashed; and a hash of the
//!   masked values (the slot) — one template with many slots is enumeration,
//! - divergence-attack markers: a request to repeat something without end ("repeat this
//!   word forever", "say it 500 times") and the longest run of one word repeated.
//!
//! Hashes are SipHash-1-3 keyed with a random per-process key (`RandomState`), so a hash
//! quoted in an alert cannot be matched against guessed prompts by anyone without the key.
//! Scanning is linear, allocation-free and capped at [`SCAN_LIMIT`] bytes per text.

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};

use serde_json::Value;

use crate::exchange::{Action, Exchange};

/// At most this many bytes of one text are scanned; the features of a prefix this long are
/// as telling as those of the whole, and the cost stays bounded.
pub const SCAN_LIMIT: usize = 64 * 1024;

/// What the detectors learn about one prompt. Hashes and counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Words in the scanned prompt.
    pub words: u32,
    /// Content-word 2-shingles hashed into the MinHash (0: no signature).
    pub shingles: u32,
    /// MinHash signature of the content-word shingles (all `u32::MAX` when there are none).
    pub minhash: MinHash,
    /// Hash of the prompt with its slots masked; `None` when the prompt has no slot or
    /// fewer than [`MIN_TEMPLATE_WORDS`] fixed words.
    pub template: Option<u64>,
    /// Hash of the masked slot values, in order.
    pub slot: u64,
    /// The prompt asks to repeat something without end or hundreds of times.
    pub repeat_request: bool,
    /// Longest run of one word repeated back to back, over all caller text.
    pub longest_run: u32,
    /// Log probabilities asked for: 0 none, else the number of top alternatives (at least 1).
    pub logprobs: u32,
    /// `logit_bias` is set (with log probabilities, the known logit-extraction technique).
    pub logit_bias: bool,
}

/// Hash functions (minima) of a [`MinHash`] signature.
pub const MINHASH_SIZE: usize = 64;

/// A MinHash signature: for each of [`MINHASH_SIZE`] hash functions, the smallest value it
/// takes over the prompt's shingles (the top 32 bits of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinHash(pub [u32; MINHASH_SIZE]);

impl Default for MinHash {
    fn default() -> Self {
        Self([u32::MAX; MINHASH_SIZE])
    }
}

impl MinHash {
    /// Estimated Jaccard similarity of the two shingle sets: the share of equal minima.
    pub fn similarity(&self, other: &Self) -> f64 {
        let equal = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        equal as f64 / MINHASH_SIZE as f64
    }

    /// A 64-bit digest of the signature, for evidence (keyed, like every hash here).
    pub fn digest(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, m| mix(acc.rotate_left(29) ^ u64::from(*m)))
    }

    /// Adds one shingle (an already keyed 64-bit hash). Hash function `i` is the SplitMix64
    /// finaliser of the shingle XOR a constant of its own, top 32 bits: a strong mix, because
    /// MinHash needs functions that order any small set like random permutations would
    /// (cheaper multiply-shift hashes overstated the similarity of prompts sharing half their
    /// shingles in our tests).
    fn add(&mut self, shingle: u64) {
        for (min, seed) in self.0.iter_mut().zip(&SEEDS) {
            let h = (mix(shingle ^ seed) >> 32) as u32;
            *min = (*min).min(h);
        }
    }
}

/// SplitMix64 step `i` from a fixed seed: the constants of the MinHash hash functions.
const fn splitmix(i: u64) -> u64 {
    let mut x = 0x5eed_0fae_11ed_5eed_u64.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

// INVARIANT: `i < MINHASH_SIZE`; the function only runs at compile time, where an index out
// of bounds would fail the build.
#[allow(clippy::indexing_slicing)]
const fn seeds() -> [u64; MINHASH_SIZE] {
    let mut out = [0u64; MINHASH_SIZE];
    let mut i = 0;
    while i < MINHASH_SIZE {
        out[i] = splitmix(i as u64);
        i += 1;
    }
    out
}

/// The constants of the [`MINHASH_SIZE`] hash functions.
const SEEDS: [u64; MINHASH_SIZE] = seeds();

/// English function words left out of shingles: a paraphrase changes them freely, and they
/// would make unrelated prompts share shingles ("of the", "can you"). A short fixed list,
/// sorted for binary search; written here rather than taken from a crate because the
/// request path needs a byte-slice lookup without allocation.
const STOP_WORDS: &[&str; 79] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "did", "do", "does", "each", "every", "for", "from", "had", "has",
    "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "just", "kindly", "me", "my", "no", "not", "of", "on", "or", "our", "please", "she", "should",
    "so", "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "us", "was", "we", "were", "what", "which", "who", "will", "with", "would",
    "you", "your",
];

/// [`STOP_WORDS`] packed (sorted, as the list is).
const STOP_WORDS_PACKED: [u128; 79] = pack_all(STOP_WORDS);

fn is_stop_word(lower: &[u8]) -> bool {
    pack(lower).is_some_and(|word| STOP_WORDS_PACKED.binary_search(&word).is_ok())
}

/// Longest word [`pack`] packs: every word of the lists above and below is shorter.
const PACK_LEN: usize = 16;

/// A word of at most [`PACK_LEN`] bytes as one integer: its bytes big-endian, zero-padded,
/// so packed words sort as the words do and the word lists are searched with integer
/// comparisons instead of a `memcmp` call per list entry tried, for every word of every
/// prompt (`memcmp` was 1.4–4 % of the gateway benches' CPU samples in profiles). `None` for
/// longer words.
// INVARIANT: `i < word.len() <= PACK_LEN`; indexing only runs below that bound.
#[allow(clippy::indexing_slicing)]
const fn pack(word: &[u8]) -> Option<u128> {
    if word.len() > PACK_LEN {
        return None;
    }
    let mut packed = 0u128;
    let mut i = 0;
    while i < PACK_LEN {
        let byte = if i < word.len() { word[i] } else { 0 };
        packed = (packed << 8) | byte as u128;
        i += 1;
    }
    Some(packed)
}

/// `words` packed, in order. Each word must be at most [`PACK_LEN`] bytes (checked when the
/// constant is built, at compile time).
// INVARIANT: `i < N == words.len()`.
#[allow(clippy::indexing_slicing, clippy::panic)]
const fn pack_all<const N: usize>(words: &[&str; N]) -> [u128; N] {
    let mut out = [0u128; N];
    let mut i = 0;
    while i < N {
        out[i] = match pack(words[i].as_bytes()) {
            Some(packed) => packed,
            None => panic!("word list entry longer than PACK_LEN"),
        };
        i += 1;
    }
    out
}

/// A crude English suffix stripper, so that inflections of one word meet (`records` /
/// `record`, `mentioning` / `mentions` / `mentioned`). Not a linguistic stemmer: it only has
/// to map the forms a paraphrase swaps between onto one key, and a wrong stem costs nothing
/// but a slightly different hash.
fn stem(lower: &[u8]) -> &[u8] {
    let n = lower.len();
    let strip = |suffix: &[u8], min_len: usize| n >= min_len && lower.ends_with(suffix);
    // "queries" and "query" both become "quer" ("ies" and "y" are cut).
    let cut = if strip(b"sses", 6) {
        2
    } else if strip(b"ing", 6) || strip(b"ies", 5) || strip(b"ied", 5) {
        3
    } else if strip(b"ed", 5) {
        2
    } else if strip(b"y", 4) || (strip(b"s", 4) && !strip(b"ss", 4) && !strip(b"us", 4)) {
        1
    } else {
        0
    };
    lower.get(..n - cut).unwrap_or(lower)
}

/// Fewest fixed (unmasked) words for a prompt to have a template: shorter prompts ("hi
/// 42") would make every numeric question one template.
pub const MIN_TEMPLATE_WORDS: u32 = 3;

/// Computes [`Features`] with one per-process hash key.
#[derive(Debug, Clone)]
pub struct Extractor {
    /// A keyed SipHash state with nothing written yet; cloned for each hash.
    keys: DefaultHasher,
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

/// Words that ask for output to be produced (the verb of a repetition request).
const REPEAT_VERBS: &[&str; 10] = &[
    "repeat", "say", "write", "print", "output", "type", "echo", "recite", "generate", "spell",
];

/// Words that make a request unbounded.
const UNBOUNDED: &[&str; 8] = &[
    "forever",
    "infinitely",
    "indefinitely",
    "endlessly",
    "nonstop",
    "ceaselessly",
    "eternally",
    "perpetually",
];

/// [`REPEAT_VERBS`] packed.
const REPEAT_VERBS_PACKED: [u128; 10] = pack_all(REPEAT_VERBS);

/// [`UNBOUNDED`] packed.
const UNBOUNDED_PACKED: [u128; 8] = pack_all(UNBOUNDED);

/// `times` packed ("say it 500 times").
const TIMES: u128 = pack_all(&["times"])[0];

/// Fewest repetitions asked for ("say it 100 times") that count as a repetition request.
const MANY_TIMES: u64 = 100;

impl Extractor {
    /// An extractor with a fresh random key.
    pub fn new() -> Self {
        Self {
            keys: RandomState::new().build_hasher(),
        }
    }

    /// An extractor with a fixed, public key: reproducible hashes for tests and
    /// benchmarks. Never use it in the gateway (its hashes can be confirmed by guessing).
    #[doc(hidden)]
    pub fn with_fixed_key() -> Self {
        Self {
            keys: DefaultHasher::new(),
        }
    }

    /// The features of one exchange: the caller's latest text is hashed; every
    /// caller-written text (system and user messages, prompts, inputs) is scanned for
    /// divergence markers.
    pub fn extract(&self, exchange: &Exchange) -> Features {
        let mut features = Features::default();
        let mut state = self.hash_state();
        match exchange.action {
            Action::Chat => {
                let messages = match exchange.field("messages") {
                    Some(Value::Array(messages)) => messages.as_slice(),
                    _ => &[],
                };
                let last_user = messages
                    .iter()
                    .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"));
                for (index, message) in messages.iter().enumerate() {
                    let role = message.get("role").and_then(Value::as_str);
                    if !matches!(role, Some("user" | "system" | "developer")) {
                        continue;
                    }
                    let hash = Some(index) == last_user;
                    if let Some(content) = message.get("content") {
                        for_each_text(content, &mut |text| {
                            let state = hash.then_some(&mut state);
                            self.scan(text, state, &mut features);
                        });
                    }
                }
            }
            Action::Complete => {
                if let Some(prompt) = exchange.field("prompt") {
                    for_each_text(prompt, &mut |text| {
                        self.scan(text, Some(&mut state), &mut features);
                    });
                }
            }
            Action::Embed => {
                if let Some(input) = exchange.field("input") {
                    for_each_text(input, &mut |text| {
                        self.scan(text, Some(&mut state), &mut features);
                    });
                }
            }
        }
        state.finish(&mut features);
        features.logprobs = logprobs_asked(exchange);
        features.logit_bias = exchange
            .field("logit_bias")
            .and_then(Value::as_object)
            .is_some_and(|bias| !bias.is_empty());
        features
    }

    /// Features of one plain text, as if it were the whole prompt (benchmarks, tests).
    pub fn extract_text(&self, text: &str) -> Features {
        let mut features = Features::default();
        let mut state = self.hash_state();
        self.scan(text, Some(&mut state), &mut features);
        state.finish(&mut features);
        features
    }

    fn hash_state(&self) -> HashState {
        HashState {
            minhash: MinHash::default(),
            shingles: 0,
            previous_content: None,
            template: self.keys.clone(),
            slots: self.keys.clone(),
            fixed_words: 0,
            slot_count: 0,
            previous_slot: false,
        }
    }

    /// Scans one text for divergence markers; with a hash state, its words also feed the
    /// MinHash and the template (several texts fed to one state read as one text).
    fn scan(&self, text: &str, mut hash: Option<&mut HashState>, features: &mut Features) {
        let text = prefix(text, SCAN_LIMIT);
        let mut sentence_start = true;
        let mut in_quote = false;
        let mut run = (0u64, 0u32);
        let mut verb = false;
        let mut unbounded = false;
        let mut last_number: Option<u64> = None;
        for token in text.split_whitespace() {
            let opens_quote = token.starts_with(['"', '\'', '\u{201c}', '\u{ab}', '`']);
            let closes_quote =
                token.len() > 1 && token.ends_with(['"', '\'', '\u{201d}', '\u{bb}', '`']);
            let core = token.trim_matches(|c: char| !c.is_alphanumeric());
            let ends_sentence = token.ends_with(['.', '?', '!', ':', ';']);
            if core.is_empty() {
                // A lone quote mark opens or closes a quoted span.
                if token.contains(['"', '\'', '\u{201c}', '\u{201d}', '\u{ab}', '\u{bb}', '`']) {
                    in_quote = !in_quote;
                }
                sentence_start |= ends_sentence;
                continue;
            }
            let lower = ascii_lower(core);
            let word = self.word_hash(core, lower.as_ref());
            let content = !lower.as_ref().is_some_and(|l| is_stop_word(l.as_slice()));
            features.words = features.words.saturating_add(1);
            // Divergence markers.
            run = if run.0 == word && run.1 > 0 {
                (word, run.1.saturating_add(1))
            } else {
                (word, 1)
            };
            features.longest_run = features.longest_run.max(run.1);
            if let Some(packed) = lower.as_ref().and_then(|l| pack(l.as_slice())) {
                if REPEAT_VERBS_PACKED.contains(&packed) {
                    verb = true;
                } else if UNBOUNDED_PACKED.contains(&packed)
                    || (packed == TIMES && last_number.is_some_and(|n| n >= MANY_TIMES))
                {
                    unbounded = true;
                }
            }
            last_number = core.parse::<u64>().ok();
            if let Some(state) = hash.as_deref_mut() {
                let is_slot = in_quote || opens_quote || is_slot_word(core, sentence_start);
                state.add(word, is_slot, content);
            }
            if opens_quote && !in_quote {
                in_quote = !closes_quote;
            } else if in_quote && closes_quote {
                in_quote = false;
            }
            sentence_start = ends_sentence;
        }
        features.repeat_request |= verb && unbounded;
    }

    /// Keyed hash of a word, ASCII letters folded to lower case and stemmed.
    fn word_hash(&self, word: &str, lower: Option<&Lower>) -> u64 {
        let mut hasher = self.keys.clone();
        match lower {
            Some(lower) => hasher.write(stem(lower.as_slice())),
            None => {
                for c in word.chars().flat_map(char::to_lowercase) {
                    hasher.write_u32(u32::from(c));
                }
            }
        }
        hasher.finish()
    }
}

/// Visits a string, the strings of an array, or the `text` of multi-part content.
fn for_each_text(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => f(text),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(text) => f(text),
                    Value::Object(part) => {
                        if let Some(Value::String(text)) = part.get("text") {
                            f(text);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// `logprobs: true` with `top_logprobs: n` (chat) or `logprobs: n` (completions).
fn logprobs_asked(exchange: &Exchange) -> u32 {
    let top = exchange
        .field("top_logprobs")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let asked = match exchange.field("logprobs") {
        Some(Value::Bool(true)) => top.max(1),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0).max(top),
        _ => 0,
    };
    u32::try_from(asked).unwrap_or(u32::MAX)
}

/// A word that fills a slot of a template: it holds a digit or `@`, or it is capitalised
/// inside a sentence (a name). `I` is not a name.
fn is_slot_word(core: &str, sentence_start: bool) -> bool {
    if core.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
        return true;
    }
    !sentence_start && core != "I" && core.chars().next().is_some_and(char::is_uppercase)
}

/// The longest prefix of `text` of at most `limit` bytes that ends on a char boundary.
fn prefix(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// Lower-cased copy of a short ASCII word on the stack; `None` for long or non-ASCII words.
fn ascii_lower(word: &str) -> Option<Lower> {
    let bytes = word.as_bytes();
    if bytes.len() > 32 || !word.is_ascii() {
        return None;
    }
    let mut lower = Lower {
        bytes: [0; 32],
        len: bytes.len(),
    };
    for (out, b) in lower.bytes.iter_mut().zip(bytes) {
        *out = b.to_ascii_lowercase();
    }
    Some(lower)
}

struct Lower {
    bytes: [u8; 32],
    len: usize,
}

impl Lower {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// The SplitMix64 finaliser: spreads the bits of a combined (already keyed) hash.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The hashed part of a scan, shared by every hashed text of one exchange.
struct HashState {
    minhash: MinHash,
    shingles: u32,
    /// The last content word, which the next one forms a shingle with.
    previous_content: Option<u64>,
    template: std::hash::DefaultHasher,
    slots: std::hash::DefaultHasher,
    fixed_words: u32,
    slot_count: u32,
    previous_slot: bool,
}

impl HashState {
    fn add(&mut self, word: u64, is_slot: bool, content: bool) {
        // MinHash: 2-shingles of content words (stop words skipped, not breaking a pair).
        if content {
            if let Some(previous) = self.previous_content {
                self.minhash.add(mix(previous.rotate_left(23) ^ word));
                self.shingles = self.shingles.saturating_add(1);
            }
            self.previous_content = Some(word);
        }
        // Template: fixed words in order, a run of slots as one marker.
        if is_slot {
            self.slots.write_u64(word);
            self.slot_count += 1;
            if !self.previous_slot {
                self.template.write_u8(0xff);
            }
        } else {
            self.template.write_u64(word);
            self.fixed_words += 1;
        }
        self.previous_slot = is_slot;
    }

    fn finish(self, features: &mut Features) {
        features.shingles = self.shingles;
        features.minhash = self.minhash;
        if self.slot_count > 0 && self.fixed_words >= MIN_TEMPLATE_WORDS {
            features.template = Some(self.template.finish());
            features.slot = self.slots.finish();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
