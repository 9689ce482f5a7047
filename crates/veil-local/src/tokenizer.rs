//! GPT-2 style byte-level BPE rebuilt from a GGUF's `tokenizer.ggml.*` metadata.
//!
//! Written by hand, and kept after weighing the alternatives: candle reads GGUF tensors and
//! metadata but has no tokenizer of its own, and the `tokenizers` crate, though it can be
//! built from the same vocabulary and merges, brings onig (C) or fancy-regex, esaxx,
//! rayon-cond and its JSON model format into every build of the gateway. The byte-level
//! BPE of llama-family GGUFs (`tokenizer.ggml.model = "gpt2"`) is a token table, a
//! merge-rank table and a pre-tokenizer. Correctness is checked, not assumed:
//! `tests/smollm2.rs` compares its ids on varied text (digits, whitespace runs,
//! contractions, non-Latin scripts, emoji) with Hugging Face `tokenizers` built from the
//! same GGUF metadata (`testdata/smollm2_tokens.py`).

use std::collections::HashMap;

use candle_core::quantized::gguf_file;

use crate::error::Error;

/// GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens, matched verbatim like control tokens.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// A byte-level BPE tokenizer: text to token ids and back.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Token id to its byte-level string (GPT-2 "unicode bytes" alphabet for ordinary tokens).
    tokens: Vec<String>,
    /// Byte-level string to token id.
    ids: HashMap<String, u32>,
    /// Merge `(left, right)` to its rank: lower merges first.
    merges: HashMap<(String, String), usize>,
    /// Control and user-defined tokens, longest first, matched verbatim before BPE.
    specials: Vec<(String, u32)>,
    /// Whether token id is a control token (skipped when decoding).
    control: Vec<bool>,
    /// Byte to its stand-in char of the GPT-2 alphabet.
    byte_to_char: [char; 256],
    /// Stand-in char back to its byte.
    char_to_byte: HashMap<char, u8>,
    /// End-of-sequence token.
    eos: Option<u32>,
    /// Beginning-of-sequence token.
    bos: Option<u32>,
    /// Digits are split one by one before BPE (SmolLM2, llama3 style `pre` tokenizers).
    split_digits: bool,
}

impl Tokenizer {
    /// Rebuilds the tokenizer from GGUF metadata.
    ///
    /// # Errors
    /// When the tokenizer is not byte-level BPE or the metadata is incomplete.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, Error> {
        let md = &content.metadata;
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| Error::invalid_model("missing `tokenizer.ggml.model`"))?;
        if model != "gpt2" {
            return Err(Error::invalid_model(format!(
                "tokenizer model `{model}` is not supported (only byte-level bpe `gpt2`)"
            )));
        }
        let tokens: Vec<String> = string_array(content, "tokenizer.ggml.tokens")?;
        let merge_lines: Vec<String> = string_array(content, "tokenizer.ggml.merges")?;
        let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|_| Error::invalid_model("`tokenizer.ggml.token_type` is not an array"))?
                .iter()
                .map(|t| t.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let id_of = |key: &str| md.get(key).and_then(|v| v.to_u32().ok());
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| Error::invalid_model("too many tokens"))?;
            ids.insert(t.clone(), id);
        }
        let mut merges = HashMap::with_capacity(merge_lines.len());
        for (rank, line) in merge_lines.iter().enumerate() {
            let Some((l, r)) = line.split_once(' ') else {
                return Err(Error::invalid_model(format!("merge {rank} has no space")));
            };
            merges.insert((l.to_owned(), r.to_owned()), rank);
        }
        let mut specials = Vec::new();
        let mut control = vec![false; tokens.len()];
        for (i, (tok, ty)) in tokens.iter().zip(types.iter()).enumerate() {
            if (*ty == TOKEN_TYPE_CONTROL || *ty == TOKEN_TYPE_USER_DEFINED)
                && !tok.is_empty()
                && let Ok(id) = u32::try_from(i)
            {
                specials.push((tok.clone(), id));
            }
            if *ty == TOKEN_TYPE_CONTROL
                && let Some(c) = control.get_mut(i)
            {
                *c = true;
            }
        }
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .filter_map(|(b, c)| u8::try_from(b).ok().map(|b| (*c, b)))
            .collect();
        Ok(Self {
            tokens,
            ids,
            merges,
            specials,
            control,
            byte_to_char,
            char_to_byte,
            eos: id_of("tokenizer.ggml.eos_token_id"),
            bos: id_of("tokenizer.ggml.bos_token_id"),
            split_digits: matches!(
                pre.as_str(),
                "smollm" | "llama3" | "llama-bpe" | "qwen2" | "deepseek-llm"
            ) || pre.is_empty(),
        })
    }

    /// Number of tokens in the vocabulary.
    #[must_use]
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// End-of-sequence token id, if the model declares one.
    #[must_use]
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Beginning-of-sequence token id, if the model declares one.
    #[must_use]
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The text of a token as the template sees it (`<|im_end|>`), for bos/eos in templates.
    #[must_use]
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Whether `id` is a control token (`<|im_end|>`), which ends a chat turn.
    #[must_use]
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// Encodes text; control tokens written in the text (`<|im_start|>`) become their ids.
    /// Only call it with text the template produced: user content is escaped by the caller.
    #[must_use]
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest special token in `rest`, longest first at the same position.
            let found = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|pos| (pos, s.len(), *id)))
                .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            match found {
                Some((pos, len, id)) => {
                    let (before, after) = rest.split_at(pos);
                    self.encode_ordinary(before, &mut out);
                    out.push(id);
                    rest = after.get(len..).unwrap_or("");
                }
                None => {
                    self.encode_ordinary(rest, &mut out);
                    rest = "";
                }
            }
        }
        out
    }

    /// Encodes text with no special tokens: `<|im_end|>` in it stays characters.
    #[must_use]
    pub fn encode_plain(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_ordinary(text, &mut out);
        out
    }

    /// Encodes text with no special tokens.
    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) {
        for piece in pre_tokenize(text, self.split_digits) {
            let mapped: String = piece
                .bytes()
                .filter_map(|b| self.byte_to_char.get(usize::from(b)))
                .collect();
            if let Some(id) = self.ids.get(&mapped) {
                out.push(*id);
                continue;
            }
            self.bpe(&mapped, out);
        }
    }

    /// Applies merges by rank to one pre-token (classic GPT-2 loop).
    fn bpe(&self, word: &str, out: &mut Vec<u32>) {
        let mut parts: Vec<String> = word.chars().map(String::from).collect();
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| match w {
                    [l, r] => self
                        .merges
                        .get(&(l.clone(), r.clone()))
                        .map(|rank| (*rank, i)),
                    _ => None,
                })
                .min();
            let Some((_, i)) = best else { break };
            if let (Some(l), Some(r)) = (parts.get(i).cloned(), parts.get(i + 1).cloned()) {
                parts.splice(i..i + 2, [l + &r]);
            } else {
                break;
            }
        }
        for p in parts {
            match self.ids.get(&p) {
                Some(id) => out.push(*id),
                None => {
                    // Every single byte is in a byte-level vocabulary; fall back per char.
                    for c in p.chars() {
                        if let Some(id) = self.ids.get(&c.to_string()) {
                            out.push(*id);
                        }
                    }
                }
            }
        }
    }

    /// The bytes a token stands for; control tokens decode to nothing.
    #[must_use]
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        if self.is_control(id) {
            return Vec::new();
        }
        let Some(t) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        t.chars()
            .flat_map(|c| match self.char_to_byte.get(&c) {
                Some(b) => vec![*b],
                None => c.to_string().into_bytes(),
            })
            .collect()
    }

    /// Decodes token ids to text (invalid UTF-8 replaced).
    #[must_use]
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|id| self.token_bytes(*id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn string_array(content: &gguf_file::Content, key: &str) -> Result<Vec<String>, Error> {
    let v = content
        .metadata
        .get(key)
        .ok_or_else(|| Error::invalid_model(format!("missing `{key}`")))?;
    let arr = v
        .to_vec()
        .map_err(|_| Error::invalid_model(format!("`{key}` is not an array")))?;
    arr.iter()
        .map(|s| {
            s.to_string()
                .cloned()
                .map_err(|_| Error::invalid_model(format!("`{key}` holds a non-string")))
        })
        .collect()
}

/// GPT-2's reversible byte to printable-char table.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
        let code = if printable {
            u32::try_from(b).unwrap_or(0)
        } else {
            n += 1;
            255 + n
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    table
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number
    } else {
        Class::Other
    }
}

/// Splits text like GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// with each digit its own piece when `split_digits` (the Hugging Face `Digits` step).
/// By hand because the lookahead needs a backtracking regex engine.
fn pre_tokenize(text: &str, split_digits: bool) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let class_at = |i: usize| chars.get(i).map(|(_, c)| class(*c));
    let piece = |from: usize, to: usize| text.get(end_of(from)..end_of(to)).unwrap_or("");
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let Some(&(_, c)) = chars.get(i) else { break };
        // Contractions.
        if c == '\'' {
            let next: String = chars.iter().skip(i + 1).take(2).map(|(_, c)| c).collect();
            let len = if next.starts_with("re") || next.starts_with("ve") || next.starts_with("ll")
            {
                3
            } else if next.starts_with(['s', 't', 'm', 'd']) {
                2
            } else {
                0
            };
            if len > 0 {
                pieces.push(piece(i, i + len));
                i += len;
                continue;
            }
        }
        let cls = class(c);
        if cls == Class::Number && split_digits {
            pieces.push(piece(i, i + 1));
            i += 1;
            continue;
        }
        if cls == Class::Space {
            let mut j = i;
            while class_at(j) == Some(Class::Space) {
                j += 1;
            }
            if j < chars.len() {
                // `\s+(?!\S)`: leave the last space to prefix the next word.
                if split_digits && class_at(j) == Some(Class::Number) {
                    // The `Digits` step already cut here: the whole run is one piece.
                    pieces.push(piece(i, j));
                    i = j;
                    continue;
                }
                let last_is_space = chars.get(j - 1).is_some_and(|(_, c)| *c == ' ');
                if j - i > 1 {
                    pieces.push(piece(i, j - 1));
                    i = j - 1;
                }
                if last_is_space {
                    // Fall through: ` ?X+` with the space as prefix.
                } else {
                    pieces.push(piece(i, i + 1));
                    i += 1;
                    continue;
                }
            } else {
                pieces.push(piece(i, j));
                i = j;
                continue;
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let word_start = if chars.get(i).is_some_and(|(_, c)| *c == ' ') {
            i + 1
        } else {
            i
        };
        let Some(kind) = class_at(word_start) else {
            pieces.push(piece(start, i + 1));
            i += 1;
            continue;
        };
        let mut j = word_start;
        while class_at(j) == Some(kind) {
            if kind == Class::Number && split_digits && j > word_start {
                break;
            }
            j += 1;
        }
        pieces.push(piece(i, j));
        i = j;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokenize_follows_gpt2_pattern() {
        assert_eq!(
            pre_tokenize("Hello world, it's  42!\n", true),
            vec![
                "Hello", " world", ",", " it", "'s", "  ", "4", "2", "!", "\n"
            ]
        );
        assert_eq!(pre_tokenize("a  b", false), vec!["a", " ", " b"]);
        assert_eq!(pre_tokenize("x\n\ny", false), vec!["x", "\n", "\n", "y"]);
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let t = bytes_to_unicode();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[usize::from(b' ')], 'Ġ');
        assert_eq!(t[usize::from(b'\n')], 'Ċ');
    }
}
