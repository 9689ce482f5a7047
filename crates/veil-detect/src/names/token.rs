//! Splitting text into word and punctuation tokens, with the per-token facts the tagger uses.

use std::ops::Range;

/// One token: a run of word characters, or a single punctuation character.
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    /// Byte range in the text. INVARIANT: on `char` boundaries, non-empty.
    pub bytes: Range<usize>,
    /// Lower-cased text (word tokens) or the character itself (punctuation); borrowed from
    /// the input when it is already lower-case, which is most words of ordinary prose.
    pub lower: Lower<'a>,
    /// Whether this is a word token (letters, digits, marks) rather than punctuation.
    pub is_word: bool,
    /// Whether the token has a digit.
    pub has_digit: bool,
    /// Whether the first character is upper-case.
    pub init_upper: bool,
    /// Whether the token has a lower-case letter.
    pub has_lower: bool,
    /// Whether the token has an upper-case letter.
    pub has_upper: bool,
    /// Whether the token has letters outside ASCII.
    pub non_ascii: bool,
    /// Whether a line break separates this token from the previous one.
    pub newline_before: bool,
    /// Whether whitespace separates this token from the previous one.
    pub space_before: bool,
    /// [`word_hash`] of `lower`: computed once, then used by every list lookup and every
    /// feature that looks at this token, from its own position and its neighbours'.
    pub hash: u64,
    /// [`shape_code`] of the token's text, computed in the tokenizer's pass over it.
    pub shape: u32,
    /// Characters in `lower`: the rules ask "one letter?", "at most two?" for many tokens,
    /// and counting them again each time decoded the text again.
    pub n_chars: u32,
    /// The byte of a one-character ASCII punctuation token, 0 for any other token: the
    /// rules compare punctuation as a byte rather than as a string.
    pub punct: u8,
}

/// A 64-bit hash of a lower-cased token (FNV-1a, then a final mix). The gazetteers are keyed
/// by it and the tagger's word features combine it with a template id, so a token's bytes
/// are read once per document however many features use them. Collisions among the lists'
/// 10^5 words are negligible at 64 bits.
pub(crate) fn word_hash(lower: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for b in lower.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    mix(h)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The final mix of [`word_hash`].
fn mix(mut h: u64) -> u64 {
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// A token's lower-cased text: borrowed from the input when it is lower-case already
/// (most words of prose), kept inline when short and ASCII (most capitalized words), and
/// allocated only otherwise. A heap allocation per capitalized word cost about as much as
/// the rest of tokenizing it.
#[derive(Debug, Clone)]
pub(crate) enum Lower<'a> {
    Borrowed(&'a str),
    /// INVARIANT: the first `len` bytes are ASCII.
    Inline {
        bytes: [u8; INLINE],
        len: u8,
    },
    Owned(String),
}

const INLINE: usize = 22;

impl<'a> Lower<'a> {
    /// The lower case of ASCII text.
    fn ascii(s: &str) -> Self {
        if s.len() > INLINE {
            return Lower::Owned(s.to_ascii_lowercase());
        }
        let mut bytes = [0u8; INLINE];
        for (d, b) in bytes.iter_mut().zip(s.bytes()) {
            *d = b.to_ascii_lowercase();
        }
        Lower::Inline {
            bytes,
            len: s.len() as u8,
        }
    }
}

impl std::ops::Deref for Lower<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Lower::Borrowed(s) => s,
            Lower::Inline { bytes, len } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Lower::Owned(s) => s,
        }
    }
}

impl AsRef<str> for Lower<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

/// Word characters: letters, digits and combining marks. The standard library has no
/// "is mark" test, so every non-ASCII character that is neither whitespace nor a known
/// punctuation or symbol block counts as a word character; this keeps Devanagari vowel
/// signs, Arabic and Hebrew points and CJK ideographs inside their words.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    if c.is_alphanumeric() {
        return true;
    }
    if c.is_whitespace() {
        return false;
    }
    let u = u32::from(c);
    !matches!(u,
        0x00A0..=0x00BF
        | 0x00D7
        | 0x00F7
        | 0x2000..=0x2BFF
        | 0x3000..=0x303F
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF0F
        | 0xFF1A..=0xFF20
        | 0xFF3B..=0xFF40
        | 0xFF5B..=0xFF65
        | 0x1F000..=0x1FAFF)
}

/// Whitespace as `char::is_whitespace` sees it, for one ASCII byte.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits `text` into tokens.
///
/// One pass over the bytes: ASCII (most of the text) is classified byte by byte, and only
/// non-ASCII characters are decoded.
pub(crate) fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    let mut newline = false;
    let mut space = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // The character at `i`: its length, and whether it is a word character or space.
        let (len, is_word, is_space) = if b.is_ascii() {
            (1, b.is_ascii_alphanumeric(), is_ascii_space(b))
        } else {
            match text.get(i..).and_then(|t| t.chars().next()) {
                Some(c) => (c.len_utf8(), is_word_char(c), c.is_whitespace()),
                None => break,
            }
        };
        if is_word {
            let end = word_end(text, i + len);
            out.push(word(text, i..end, newline, space));
            newline = false;
            space = false;
            i = end;
            continue;
        }
        if is_space {
            space = true;
            newline |= b == b'\n' || b == b'\r';
            i += len;
            continue;
        }
        let end = i + len;
        let lower = text.get(i..end).unwrap_or_default();
        out.push(Token {
            bytes: i..end,
            lower: Lower::Borrowed(lower),
            hash: word_hash(lower),
            shape: u32::from(b'm'),
            n_chars: 1,
            punct: if b.is_ascii() { b } else { 0 },
            is_word: false,
            has_digit: false,
            init_upper: false,
            has_lower: false,
            has_upper: false,
            non_ascii: !b.is_ascii(),
            newline_before: newline,
            space_before: space,
        });
        newline = false;
        space = false;
        i = end;
    }
    out
}

/// The end of the run of word characters from byte `i`.
fn word_end(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii() {
            if !b.is_ascii_alphanumeric() {
                break;
            }
            i += 1;
            continue;
        }
        match text.get(i..).and_then(|t| t.chars().next()) {
            Some(c) if is_word_char(c) => i += c.len_utf8(),
            _ => break,
        }
    }
    i
}

fn word(text: &str, bytes: Range<usize>, newline_before: bool, space_before: bool) -> Token<'_> {
    let s = text.get(bytes.clone()).unwrap_or_default();
    let mut t = Token {
        bytes,
        lower: Lower::Borrowed(s),
        is_word: true,
        has_digit: false,
        init_upper: false,
        has_lower: false,
        has_upper: false,
        non_ascii: false,
        newline_before,
        space_before,
        hash: 0,
        shape: 0,
        n_chars: 0,
        punct: 0,
    };
    if s.is_ascii() {
        // One pass: the case facts, the shape and the hash of the lower-cased bytes.
        t.init_upper = s.as_bytes().first().is_some_and(u8::is_ascii_uppercase);
        let mut h = FNV_OFFSET;
        let (mut code, mut n, mut last) = (0u32, 0u32, 0u8);
        for b in s.bytes() {
            t.has_digit |= b.is_ascii_digit();
            t.has_lower |= b.is_ascii_lowercase();
            t.has_upper |= b.is_ascii_uppercase();
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
            // Written without branches: whether a letter starts a new run is as good as
            // random, and a mispredicted branch here cost more than the rest of the loop.
            let k = ascii_class(b);
            let take = k != last && n < 4;
            code = if take {
                (code << 8) | u32::from(k)
            } else {
                code
            };
            last = if take { k } else { last };
            n += u32::from(take);
        }
        if t.has_upper {
            t.lower = Lower::ascii(s);
        }
        t.hash = mix(h);
        t.shape = code;
        t.n_chars = s.len() as u32;
        return t;
    }
    t.init_upper = s.chars().next().is_some_and(char::is_uppercase);
    for c in s.chars() {
        t.has_digit |= c.is_numeric();
        t.has_lower |= c.is_lowercase();
        t.has_upper |= c.is_uppercase();
        t.non_ascii |= !c.is_ascii();
    }
    if t.has_upper {
        t.lower = Lower::Owned(s.to_lowercase());
    }
    t.hash = word_hash(&t.lower);
    t.shape = shape_code(s);
    t.n_chars = t.lower.chars().count() as u32;
    t
}

/// The shape class of an ASCII byte (`X`, `x`, `d` or `m`), from a table: a `match` on
/// the ranges compiled to branches that the letters of real words mispredict.
fn ascii_class(b: u8) -> u8 {
    ASCII_CLASS.get(usize::from(b)).copied().unwrap_or(b'm')
}

// Indexing here runs during constant evaluation: an index out of range fails the build,
// it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const ASCII_CLASS: [u8; 128] = {
    let mut t = [b'm'; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_uppercase() {
            b'X'
        } else if b.is_ascii_lowercase() {
            b'x'
        } else if b.is_ascii_digit() {
            b'd'
        } else {
            b'm'
        };
        i += 1;
    }
    t
};

/// A short shape, packed in a `u32` (one byte a class, at most four):
/// `Xxxx` -> `Xx`, `McDonald` -> `XxXx`, `IBM` -> `X`, `42` -> `d`.
pub(crate) fn shape_code(text: &str) -> u32 {
    let mut code = 0u32;
    let mut n = 0;
    let mut last = 0u8;
    if text.is_ascii() {
        for b in text.bytes() {
            let k = ascii_class(b);
            if k != last {
                code = (code << 8) | u32::from(k);
                last = k;
                n += 1;
                if n >= 4 {
                    break;
                }
            }
        }
        return code;
    }
    for c in text.chars() {
        let k = if c.is_uppercase() {
            b'X'
        } else if c.is_lowercase() {
            b'x'
        } else if c.is_numeric() {
            b'd'
        } else if c.is_alphabetic() {
            b'L'
        } else {
            b'm'
        };
        if k != last {
            code = (code << 8) | u32::from(k);
            last = k;
            n += 1;
            if n >= 4 {
                break;
            }
        }
    }
    code
}

/// The shape as text (tests and debugging).
#[cfg(test)]
pub(crate) fn shape(text: &str, out: &mut String) {
    out.clear();
    let mut last = '\0';
    for c in text.chars() {
        let k = if c.is_uppercase() {
            'X'
        } else if c.is_lowercase() {
            'x'
        } else if c.is_numeric() {
            'd'
        } else if c.is_alphabetic() {
            'L'
        } else {
            'm'
        };
        if k != last {
            out.push(k);
            last = k;
            if out.len() >= 4 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        tokenize(text)
            .iter()
            .map(|t| &text[t.bytes.clone()])
            .collect()
    }

    #[test]
    fn splits_words_and_punctuation() {
        assert_eq!(
            words("Dr. O'Brien's note,\nрэдакция रत्नम 王伟!"),
            vec![
                "Dr",
                ".",
                "O",
                "'",
                "Brien",
                "'",
                "s",
                "note",
                ",",
                "рэдакция",
                "रत्नम",
                "王伟",
                "!"
            ]
        );
        let toks = tokenize("a\nB");
        assert!(toks[1].newline_before && toks[1].init_upper);
        let toks = tokenize("McDonald ÉCOLE Abcdefghijklmnopqrstuvwxyz");
        let lower: Vec<&str> = toks.iter().map(|t| &*t.lower).collect();
        assert_eq!(lower, ["mcdonald", "école", "abcdefghijklmnopqrstuvwxyz"]);
        assert_eq!(toks[0].hash, word_hash("mcdonald"));
    }

    #[test]
    fn shapes() {
        assert_eq!(shape_code("McDonald"), u32::from_be_bytes(*b"XxXx"));
        assert_eq!(shape_code("IBM"), u32::from(b'X'));
        let mut s = String::new();
        shape("McDonald", &mut s);
        assert_eq!(s, "XxXx");
        shape("IBM", &mut s);
        assert_eq!(s, "X");
        shape("王伟", &mut s);
        assert_eq!(s, "L");
    }
}
