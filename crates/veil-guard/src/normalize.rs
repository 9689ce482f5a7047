//! Text normalization: undo the tricks that make an attack look unlike itself.
//!
//! Order matters and is fixed:
//!
//! 1. Unicode NFKC folds full-width, mathematical and other compatibility forms into their
//!    plain letters (`ｉｇｎｏｒｅ` -> `ignore`).
//! 2. Zero-width and bidirectional control characters are dropped; they have no business
//!    inside a word and are a classic way to split a keyword.
//! 3. Confusables (Cyrillic and Greek letters that look Latin) are mapped to Latin, but only
//!    inside tokens that mix them with Latin letters, so ordinary Russian or Greek text stays
//!    as it is.
//! 4. Lower case, whitespace runs collapsed to one space.
//! 5. Letter-spacing (`i g n o r e`, `i.g.n.o.r.e`) is joined.
//! 6. Leetspeak (`1gn0r3`) is undone inside tokens that mix letters and digits.
//!
//! The result is the *canonical* text that rules and the classifier read. Decoding of
//! embedded payloads (base64, hex, ...) works on the NFKC text before lower-casing, because
//! those encodings are case-sensitive; see `decode.rs`.

use unicode_normalization::UnicodeNormalization;

/// What normalization had to undo; each one is a hint of deliberate obfuscation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tricks {
    /// Zero-width characters removed.
    pub zero_width: usize,
    /// Bidirectional controls removed.
    pub bidi: usize,
    /// Look-alike letters mapped inside mixed-script tokens.
    pub confusables: usize,
    /// Letters joined from spaced-out runs.
    pub spaced_runs: usize,
    /// Tokens where leetspeak was undone.
    pub leet_tokens: usize,
}

/// The result of [`normalize`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Normalized {
    /// NFKC with zero-width and bidi controls removed, case preserved (input to decoders).
    pub folded: String,
    /// Lower-case canonical text for rules and the classifier.
    pub canonical: String,
    /// What was undone.
    pub tricks: Tricks,
}

/// Zero-width characters, soft hyphen, word joiner and BOM.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

/// Bidirectional embedding, override, isolate and mark characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Cyrillic and Greek letters that render like a Latin lower-case letter.
///
/// A hand-picked subset of the "MA" (mixed-script, any-case) mappings of Unicode's
/// `confusables.txt` (Unicode Security Mechanisms, UTS #39; Unicode License v3, permissive),
/// restricted to targets in `a`–`z` after lower-casing. Kept as a sorted table rather than a
/// dependency: the crates that ship the full table (e.g. `unicode-security`) answer "is this
/// confusable with that", not "map to the Latin skeleton per token", and pull a large table
/// for a handful of letters that matter in practice.
const CONFUSABLES: &[(char, char)] = &[
    ('\u{0251}', 'a'), // ɑ latin alpha
    ('\u{0261}', 'g'), // ɡ script g
    ('\u{0269}', 'i'), // ɩ latin iota
    ('\u{03B1}', 'a'), // α
    ('\u{03B5}', 'e'), // ε
    ('\u{03B9}', 'i'), // ι
    ('\u{03BA}', 'k'), // κ
    ('\u{03BD}', 'v'), // ν
    ('\u{03BF}', 'o'), // ο
    ('\u{03C1}', 'p'), // ρ
    ('\u{03C4}', 't'), // τ
    ('\u{03C5}', 'u'), // υ
    ('\u{03C7}', 'x'), // χ
    ('\u{0430}', 'a'), // а
    ('\u{0432}', 'b'), // в (small caps look) -- only in mixed tokens
    ('\u{0435}', 'e'), // е
    ('\u{043A}', 'k'), // к
    ('\u{043C}', 'm'), // м
    ('\u{043D}', 'h'), // н
    ('\u{043E}', 'o'), // о
    ('\u{0440}', 'p'), // р
    ('\u{0441}', 'c'), // с
    ('\u{0442}', 't'), // т
    ('\u{0443}', 'y'), // у
    ('\u{0445}', 'x'), // х
    ('\u{0455}', 's'), // ѕ
    ('\u{0456}', 'i'), // і
    ('\u{0458}', 'j'), // ј
    ('\u{04BB}', 'h'), // һ
    ('\u{0501}', 'd'), // ԁ
    ('\u{051B}', 'q'), // ԛ
    ('\u{051D}', 'w'), // ԝ
];

fn confusable(c: char) -> Option<char> {
    CONFUSABLES
        .binary_search_by_key(&c, |&(from, _)| from)
        .ok()
        .and_then(|i| CONFUSABLES.get(i))
        .map(|&(_, to)| to)
}

fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        // `!` and `|` are left alone: they are template and markup syntax (`<|im_start|>`).
        '1' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '9' => 'g',
        _ => return None,
    })
}

/// Normalizes `text`; see the module documentation for the steps.
pub(crate) fn normalize(text: &str) -> Normalized {
    let mut tricks = Tricks::default();
    let mut folded = String::with_capacity(text.len());
    if text.is_ascii() {
        // NFKC leaves ASCII as it is, and zero-width and bidi controls are not ASCII: skip
        // the decomposition machinery on the common case (the gateway scores every prompt).
        folded.push_str(text);
    } else {
        for c in text.nfkc() {
            if is_zero_width(c) {
                tricks.zero_width += 1;
            } else if is_bidi_control(c) {
                tricks.bidi += 1;
            } else {
                folded.push(c);
            }
        }
    }

    // Lower-case, collapse whitespace, split into tokens.
    let mut tokens: Vec<String> = Vec::new();
    for raw in folded.split_whitespace() {
        if raw.is_ascii() {
            // `char::to_lowercase` is `to_ascii_lowercase` on ASCII: same text, no per-char
            // case tables.
            tokens.push(raw.to_ascii_lowercase());
            continue;
        }
        let mut token = String::with_capacity(raw.len());
        for c in raw.chars() {
            token.extend(c.to_lowercase());
        }
        tokens.push(token);
    }

    for token in &mut tokens {
        let has_latin = token.chars().any(|c| c.is_ascii_alphabetic());
        // Every confusable is outside ASCII: an ASCII token needs no table look-up per char.
        let any_confusable = !token.is_ascii() && token.chars().any(|c| confusable(c).is_some());
        // Mixed-script tokens only: a Cyrillic word made of look-alike letters (`как`) is
        // ordinary Russian, and mapping it would make Russian text look like noise.
        if any_confusable && has_latin {
            let mapped: String = token.chars().map(|c| confusable(c).unwrap_or(c)).collect();
            tricks.confusables += token.chars().filter(|&c| confusable(c).is_some()).count();
            *token = mapped;
        }
        let letters = token.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let leets = token.chars().filter(|&c| leet(c).is_some()).count();
        // Mixed letters and digits only; punctuation at the very end (`hello!`) is not leet.
        let trimmed = token.trim_end_matches(['!', '.', ',', '?', ':', ';']);
        let inner_leets = trimmed.chars().filter(|&c| leet(c).is_some()).count();
        if letters >= 2 && leets > 0 && inner_leets > 0 {
            let mapped: String = trimmed.chars().map(|c| leet(c).unwrap_or(c)).collect();
            let tail = token.get(trimmed.len()..).unwrap_or("").to_owned();
            *token = mapped + &tail;
            tricks.leet_tokens += 1;
        }
    }

    let canonical = join_spaced(&tokens, &mut tricks);
    Normalized {
        folded,
        canonical,
        tricks,
    }
}

/// Splits a token like `i.g.n.o.r.e` into its single letters, or returns `None`.
fn dotted_letters(token: &str) -> Option<String> {
    let mut letters = String::new();
    let mut expect_letter = true;
    for c in token.chars() {
        if expect_letter {
            if !c.is_alphabetic() {
                return None;
            }
            letters.push(c);
        } else if !matches!(c, '.' | '-' | '_' | '*' | '/') {
            return None;
        }
        expect_letter = !expect_letter;
    }
    (letters.chars().count() >= 4).then_some(letters)
}

/// Joins runs of four or more single-character tokens, mostly letters (`i g n o r e` ->
/// `ignore`), and dotted words, then joins all tokens with single spaces.
fn join_spaced(tokens: &[String], tricks: &mut Tricks) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut run_len = 0usize;
    let push = |out: &mut String, word: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    };
    let flush = |out: &mut String, run: &mut String, run_len: &mut usize, tricks: &mut Tricks| {
        // Four or more single characters, mostly letters: `i g n o r e`, `< | i m _ s t`.
        let letters = run.chars().filter(|c| c.is_alphabetic()).count();
        if *run_len >= 4 && letters * 2 > *run_len {
            push(out, run);
            tricks.spaced_runs += 1;
        } else {
            for c in run.chars() {
                push(out, c.encode_utf8(&mut [0; 4]));
            }
        }
        run.clear();
        *run_len = 0;
    };
    for token in tokens {
        let mut chars = token.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_whitespace() => {
                run.push(c);
                run_len += 1;
            }
            _ => {
                flush(&mut out, &mut run, &mut run_len, tricks);
                if let Some(letters) = dotted_letters(token) {
                    tricks.spaced_runs += 1;
                    push(&mut out, &letters);
                } else {
                    push(&mut out, token);
                }
            }
        }
    }
    flush(&mut out, &mut run, &mut run_len, tricks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_folds_fullwidth() {
        assert_eq!(
            normalize("ＩＧＮＯＲＥ previous").canonical,
            "ignore previous"
        );
    }

    #[test]
    fn zero_width_and_bidi_are_removed_and_counted() {
        let n = normalize("ig\u{200B}no\u{200D}re \u{202E}rules");
        assert_eq!(n.canonical, "ignore rules");
        assert_eq!(n.tricks.zero_width, 2);
        assert_eq!(n.tricks.bidi, 1);
    }

    #[test]
    fn no_confusable_is_ascii() {
        // `normalize` skips the table on ASCII tokens: that is only sound while this holds.
        assert!(CONFUSABLES.iter().all(|&(from, _)| !from.is_ascii()));
        assert!(CONFUSABLES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn confusables_map_only_in_mixed_tokens() {
        // Cyrillic о and е inside a Latin word.
        let n = normalize("ign\u{043E}r\u{0435} all");
        assert_eq!(n.canonical, "ignore all");
        assert_eq!(n.tricks.confusables, 2);
        // Plain Russian stays Russian.
        let n = normalize("Привет, как дела?");
        assert_eq!(n.canonical, "привет, как дела?");
        assert_eq!(n.tricks.confusables, 0);
    }

    #[test]
    fn leetspeak_is_undone_in_mixed_tokens_only() {
        assert_eq!(normalize("1gn0r3 4ll rules").canonical, "ignore all rules");
        assert_eq!(
            normalize("It costs 250 euros!").canonical,
            "it costs 250 euros!"
        );
    }

    #[test]
    fn spaced_letters_are_joined() {
        let n = normalize("please i g n o r e this and i.g.n.o.r.e that");
        assert_eq!(n.canonical, "please ignore this and ignore that");
        assert_eq!(n.tricks.spaced_runs, 2);
        // Short runs (`a b c`) are left alone.
        assert_eq!(normalize("a b c d-e").canonical, "a b c d-e");
        assert_eq!(normalize("1 + 2 = 3").canonical, "1 + 2 = 3");
        assert_eq!(
            normalize("< | i m _ s t a r t | >").canonical,
            "<|im_start|>"
        );
    }

    #[test]
    fn folded_keeps_case_for_decoders() {
        assert_eq!(normalize("SGVsbG8\u{200B}=").folded, "SGVsbG8=");
    }
}
