//! Restoring placeholders in model answers, whole or streamed, and screening answers.
//!
//! The gateway's `screen` stage gives the caller back what it may see. This module is the
//! synchronous part of that stage (no IO):
//!
//! - [`RestoreTable`]: the placeholders of one conversation scope that this caller may see
//!   restored, with their originals (zeroized on drop, never printed); filled from the
//!   vault, or from `protect`'s output with [`RestoreTable::insert_protected`].
//! - [`TextRestorer`]: one text stream (a choice's `delta.content`, one tool call's
//!   `arguments`); holds back only the shortest suffix that could still begin a
//!   placeholder.
//! - [`SseRestorer`]: an OpenAI chat/completions SSE byte stream, split anywhere, rewritten
//!   event by event; optionally strips `logprobs` in the same pass.
//! - [`restore_json`] and [`strip_logprobs`] for non-streaming answers.
//! - [`AnswerLeakCheck`]: which sensitive values in an answer the caller never sent
//!   (possible memorized training data), compared as keyed hashes; [`StreamLeakCheck`]
//!   runs it on a streamed answer inside [`SseRestorer`], holding back only text that could
//!   still be part of a value.
//!
//! Models alter placeholders: besides the exact `<PERSON_1>`, the class name in any case,
//! `_`, `-` or a space before the number (and for the `_` inside a class name), brackets
//! `<>`, `[]`, `{}`, `()` or none, and up to two spaces inside the brackets are restored
//! (`[person-1]`, `< PERSON_1 >`, `PERSON 1`, `{credit-card-2}`). A bare form needs a word
//! boundary on both sides (`salesperson_1` stays). Only placeholders in the table are
//! restored; look-alikes stay as they are.
//!
//! ```
//! use std::sync::Arc;
//! use veil_detect::{DataClass, Sensitive};
//! use veil_protect::restore::{RestoreTable, TextContext, TextRestorer};
//!
//! let mut table = RestoreTable::new();
//! table.insert("<PERSON_1>", &DataClass::Person, Sensitive::new("Jane Doe".to_owned()));
//! assert_eq!(table.restore_text("Dear [person_1],"), "Dear Jane Doe,");
//!
//! let mut stream = TextRestorer::new(Arc::new(table), TextContext::Plain);
//! assert_eq!(stream.push("Hello <PER"), "Hello ");
//! assert_eq!(stream.push("SON_1>!"), "Jane Doe!");
//! assert_eq!(stream.finish(), "");
//! ```

mod leak;
mod leak_stream;
mod matcher;
mod sse;

#[cfg(test)]
mod tests;

use std::{collections::HashMap, fmt, sync::Arc, sync::OnceLock};

use serde_json::Value;
use veil_detect::{DataClass, Sensitive};
use zeroize::Zeroizing;

use crate::{Operator, Protected};
pub use leak::AnswerLeakCheck;
pub use leak_stream::{LeakFilter, MAX_HOLD, RedactClass, StreamLeakCheck, StreamLeakReport, TAIL};
use matcher::{ClassForms, Matcher};
pub use sse::SseRestorer;

/// Placeholders of one conversation scope that this caller may see restored, with their
/// originals. Placeholders are veil-protect tags like `<PERSON_1>`, `<CREDIT_CARD_2>`
/// (format `<{CLASS}_{ordinal}>`, restored in exact and altered forms), or any other
/// placeholder text (a surrogate, a marker), restored only as written.
pub struct RestoreTable {
    entries: Vec<Entry>,
    /// Placeholder text -> index in `entries`, so a second insert replaces the first.
    by_placeholder: HashMap<String, usize>,
    /// Compiled on first use after the last insert.
    matcher: OnceLock<Option<Matcher>>,
}

struct Entry {
    placeholder: String,
    class: DataClass,
    original: Zeroizing<String>,
    /// `Some((CLASS, ordinal))` for a tag, `None` for a literal placeholder.
    tag: Option<(String, String)>,
}

impl Default for RestoreTable {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RestoreTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Placeholders and classes only: originals never reach a log.
        f.debug_struct("RestoreTable")
            .field(
                "placeholders",
                &self
                    .entries
                    .iter()
                    .map(|e| (e.placeholder.as_str(), e.class.as_str()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RestoreTable {
    /// An empty table: restores nothing.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            by_placeholder: HashMap::new(),
            matcher: OnceLock::new(),
        }
    }

    /// Registers a placeholder and its original; a placeholder registered again gets the new
    /// original. The original is zeroized when the table is dropped.
    pub fn insert(&mut self, placeholder: &str, class: &DataClass, original: Sensitive<String>) {
        if placeholder.is_empty() {
            return;
        }
        let entry = Entry {
            placeholder: placeholder.to_owned(),
            class: class.clone(),
            original: Zeroizing::new(original.into_inner()),
            tag: parse_tag(placeholder),
        };
        match self.by_placeholder.get(placeholder).copied() {
            Some(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    *slot = entry;
                }
            }
            None => {
                self.by_placeholder
                    .insert(placeholder.to_owned(), self.entries.len());
                self.entries.push(entry);
            }
        }
        self.matcher = OnceLock::new();
    }

    /// Registers every reversible replacement of one protected text (tags and surrogates;
    /// redaction markers and masks stand for no single original) whose class `may_restore`
    /// allows: the placeholder is read from `protected.text`, the original from `input`, the
    /// text `protected` was made from. Spans outside either text are skipped.
    pub fn insert_protected(
        &mut self,
        input: &str,
        protected: &Protected,
        mut may_restore: impl FnMut(&DataClass) -> bool,
    ) {
        for change in &protected.changes {
            if !matches!(change.operator, Operator::Tag | Operator::Surrogate)
                || !may_restore(&change.class)
            {
                continue;
            }
            let placeholder = protected.text.get(change.output.clone());
            let original = input.get(change.input.clone());
            if let (Some(placeholder), Some(original)) = (placeholder, original) {
                self.insert(
                    placeholder,
                    &change.class,
                    Sensitive::new(original.to_owned()),
                );
            }
        }
    }

    /// Whether nothing would be restored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many placeholders the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The most bytes a [`TextRestorer`] over this table ever holds back (the longest form
    /// of any placeholder).
    pub fn max_hold(&self) -> usize {
        self.matcher().map_or(0, Matcher::window)
    }

    /// Non-streaming restore of one text: exact and altered forms.
    pub fn restore_text(&self, text: &str) -> String {
        self.restore_text_in(text, TextContext::Plain)
    }

    /// [`restore_text`](Self::restore_text) for text of the given kind (JSON arguments get
    /// their originals escaped).
    pub fn restore_text_in(&self, text: &str, context: TextContext) -> String {
        let mut out = String::with_capacity(text.len());
        self.restore_into(&mut out, text, None, true, context);
        out
    }

    /// Restores `hay` into `out` and returns where undecided text starts (`hay.len()` when
    /// `eof`). `before` is the source character just before `hay`.
    fn restore_into(
        &self,
        out: &mut String,
        hay: &str,
        before: Option<char>,
        eof: bool,
        context: TextContext,
    ) -> usize {
        let Some(matcher) = self.matcher() else {
            out.push_str(hay);
            return hay.len();
        };
        let mut cursor = 0;
        let held = matcher.scan(hay, before, eof, |span, entry| {
            out.push_str(hay.get(cursor..span.start).unwrap_or_default());
            match self.entries.get(entry) {
                Some(entry) => write_original(out, &entry.original, context),
                None => out.push_str(hay.get(span.clone()).unwrap_or_default()),
            }
            cursor = span.end;
        });
        out.push_str(hay.get(cursor..held).unwrap_or_default());
        held
    }

    fn matcher(&self) -> Option<&Matcher> {
        self.matcher
            .get_or_init(|| {
                let mut classes: Vec<ClassForms> = Vec::new();
                let mut literals = Vec::new();
                for (i, entry) in self.entries.iter().enumerate() {
                    match &entry.tag {
                        Some((name, ordinal)) => {
                            match classes.iter_mut().find(|c| c.name == *name) {
                                Some(class) => class.ordinals.push((ordinal.clone(), i)),
                                None => classes.push(ClassForms {
                                    name: name.clone(),
                                    ordinals: vec![(ordinal.clone(), i)],
                                }),
                            }
                        }
                        None => literals.push((entry.placeholder.clone(), i)),
                    }
                }
                Matcher::build(classes, literals)
            })
            .as_ref()
    }
}

/// `<NAME_123>` with an upper-snake-case name -> `(NAME, "123")`.
fn parse_tag(placeholder: &str) -> Option<(String, String)> {
    let inner = placeholder.strip_prefix('<')?.strip_suffix('>')?;
    let (name, ordinal) = inner.rsplit_once('_')?;
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let ordinal_ok = !ordinal.is_empty() && ordinal.chars().all(|c| c.is_ascii_digit());
    (name_ok && ordinal_ok).then(|| (name.to_ascii_uppercase(), ordinal.to_owned()))
}

fn write_original(out: &mut String, original: &str, context: TextContext) {
    match context {
        TextContext::Plain => out.push_str(original),
        TextContext::JsonArguments => {
            // serde_json's string escaping, without the quotes. Escaping a `str` cannot
            // fail; if it ever did, nothing is written rather than unescaped text.
            let quoted = Zeroizing::new(serde_json::to_string(original).unwrap_or_default());
            let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
            out.push_str(inner.unwrap_or_default());
        }
    }
}

/// Where restored text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextContext {
    /// Plain text: originals are written as they are.
    Plain,
    /// The inside of a JSON string literal (tool-call `arguments` are JSON text): an
    /// original containing `"` or `\` is escaped, so the arguments stay valid JSON.
    JsonArguments,
}

/// One text stream (e.g. `choices[0].delta.content`, or one tool call's `arguments`).
pub struct TextRestorer {
    table: Arc<RestoreTable>,
    context: TextContext,
    /// Received but not yet emitted: the shortest suffix that could still begin a
    /// placeholder. Model output, not originals.
    held: String,
    /// The last source character before `held` (for word boundaries of bare forms).
    before: Option<char>,
}

impl fmt::Debug for TextRestorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextRestorer")
            .field("context", &self.context)
            .field("held_bytes", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl TextRestorer {
    /// A stream restoring `table`'s placeholders into text of kind `context`.
    pub fn new(table: Arc<RestoreTable>, context: TextContext) -> Self {
        Self {
            table,
            context,
            held: String::new(),
            before: None,
        }
    }

    /// Feeds the next piece; returns what can be emitted now. Holds back only the shortest
    /// suffix that could still be the start of a placeholder (exact or altered form).
    pub fn push(&mut self, piece: &str) -> String {
        self.drain(piece, false)
    }

    /// End of stream: flushes what is held (restoring it if it is a placeholder).
    pub fn finish(&mut self) -> String {
        self.drain("", true)
    }

    /// Bytes currently held back.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    fn drain(&mut self, piece: &str, eof: bool) -> String {
        let hay = if self.held.is_empty() {
            std::borrow::Cow::Borrowed(piece)
        } else {
            let mut hay = std::mem::take(&mut self.held);
            hay.push_str(piece);
            std::borrow::Cow::Owned(hay)
        };
        let mut out = String::with_capacity(hay.len());
        let held = self
            .table
            .restore_into(&mut out, &hay, self.before, eof, self.context);
        if let Some(c) = hay.get(..held).and_then(|done| done.chars().next_back()) {
            self.before = Some(c);
        }
        self.held = hay.get(held..).unwrap_or_default().to_owned();
        out
    }
}

/// Non-streaming answer: restores in place in `choices[i].message.content` (string or
/// multi-part array), `choices[i].message.tool_calls[j].function.arguments` (escaped for
/// JSON), the legacy `function_call.arguments`, and `choices[i].text`.
pub fn restore_json(table: &RestoreTable, answer: &mut Value) {
    if table.is_empty() {
        return;
    }
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    let plain = |v: &mut Value| restore_string(table, v, TextContext::Plain);
    let json = |v: &mut Value| restore_string(table, v, TextContext::JsonArguments);
    for choice in choices {
        if let Some(text) = choice.get_mut("text") {
            plain(text);
        }
        let Some(message) = choice.get_mut("message") else {
            continue;
        };
        match message.get_mut("content") {
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = part.get_mut("text") {
                        plain(text);
                    }
                }
            }
            Some(content) => plain(content),
            None => {}
        }
        if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for call in calls {
                if let Some(args) = call
                    .get_mut("function")
                    .and_then(|f| f.get_mut("arguments"))
                {
                    json(args);
                }
            }
        }
        if let Some(args) = message
            .get_mut("function_call")
            .and_then(|f| f.get_mut("arguments"))
        {
            json(args);
        }
    }
}

fn restore_string(table: &RestoreTable, value: &mut Value, context: TextContext) {
    if let Value::String(text) = value {
        *text = table.restore_text_in(text, context);
    }
}

/// Strips `logprobs` / `top_logprobs` from a JSON answer or an SSE event, at any depth
/// (confidence masking against membership inference). Returns whether a non-null value was
/// removed.
pub fn strip_logprobs(answer: &mut Value) -> bool {
    match answer {
        Value::Object(map) => {
            let mut removed = false;
            for key in ["logprobs", "top_logprobs"] {
                if let Some(value) = map.shift_remove(key) {
                    removed |= !value.is_null();
                }
            }
            for value in map.values_mut() {
                removed |= strip_logprobs(value);
            }
            removed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, v| strip_logprobs(v) | acc),
        _ => false,
    }
}
