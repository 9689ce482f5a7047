//! Restoring inside an OpenAI chat/completions SSE stream.

use std::{collections::BTreeMap, fmt, sync::Arc};

use serde_json::{Map, Value};

use super::{
    RestoreTable, TextContext, TextRestorer,
    leak_stream::{LeakFilter, StreamLeakCheck},
    strip_logprobs,
};

/// Which text of a choice a [`TextRestorer`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// `choices[i].delta.content`
    Content,
    /// `choices[i].text` (legacy completions)
    Text,
    /// `choices[i].delta.tool_calls[j].function.arguments`, by the tool call's `index`.
    Arguments(u64),
}

impl Field {
    fn context(self) -> TextContext {
        match self {
            Field::Arguments(_) => TextContext::JsonArguments,
            Field::Content | Field::Text => TextContext::Plain,
        }
    }
}

/// Rewrites an OpenAI chat/completions SSE byte stream (`data: {...}\n\n` events,
/// `data: [DONE]`), restoring inside `choices[i].delta.content`, `choices[i].text` and
/// `choices[i].delta.tool_calls[j].function.arguments`, one [`TextRestorer`] per choice
/// index and per tool-call index.
///
/// Text held back at the end of a stream is flushed in a synthetic event (the last event's
/// `id`, `model`, … with a delta carrying only that text) just before the choice's
/// `finish_reason` event, before `data: [DONE]`, or at [`finish`](Self::finish). Events it
/// cannot parse pass through unchanged; bytes of an incomplete event are buffered until the
/// event completes (an event may be split at any byte, including inside a UTF-8 character).
/// Events that need no change are passed through byte for byte.
pub struct SseRestorer {
    table: Arc<RestoreTable>,
    strip_logprobs: bool,
    /// Bytes of the event not yet complete.
    pending: Vec<u8>,
    /// How far `pending` has been searched for the event's end.
    scan: Scan,
    streams: BTreeMap<(u64, Field), FieldStream>,
    /// The memorized-data check, when on: one [`LeakFilter`] after each restorer.
    leak: Option<StreamLeakCheck>,
    /// The first event's top-level fields (`id`, `object`, `created`, `model`, …), for
    /// synthetic events.
    template: Option<Map<String, Value>>,
}

impl fmt::Debug for SseRestorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseRestorer")
            .field("table", &self.table)
            .field("strip_logprobs", &self.strip_logprobs)
            .field("pending_bytes", &self.pending.len())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl SseRestorer {
    /// A restorer for one streamed answer.
    pub fn new(table: Arc<RestoreTable>) -> Self {
        Self {
            table,
            strip_logprobs: false,
            pending: Vec::new(),
            scan: Scan::default(),
            streams: BTreeMap::new(),
            leak: None,
            template: None,
        }
    }

    /// Also runs the memorized-data check on every text, after restoring (see
    /// [`StreamLeakCheck`]): unexpected values are counted in its report and redacted as it
    /// says. Text that could still be part of a value is held back until it is complete.
    pub fn leak_check(mut self, check: StreamLeakCheck) -> Self {
        self.leak = Some(check);
        self
    }

    /// Also strips `logprobs` / `top_logprobs` from every event (when the caller is not
    /// granted `see_logprobs`), in the same pass.
    pub fn strip_logprobs(mut self, strip: bool) -> Self {
        self.strip_logprobs = strip;
        self
    }

    /// Feeds the next bytes; returns the bytes that can be sent now.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.table.is_empty() && !self.strip_logprobs && self.leak.is_none() {
            return bytes.to_vec();
        }
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(self.pending.len() + 64);
        let mut done = 0;
        while let Some(len) = event_len(
            self.pending.get(done..).unwrap_or_default(),
            false,
            &mut self.scan,
        ) {
            let end = done + len;
            let event = self.pending.get(done..end).unwrap_or_default().to_vec();
            self.event(&event, &mut out);
            done = end;
        }
        self.pending.drain(..done);
        out
    }

    /// End of stream: processes an unterminated last event and flushes every held text.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.pending);
        let mut scan = std::mem::take(&mut self.scan);
        let mut done = 0;
        while let Some(len) = event_len(rest.get(done..).unwrap_or_default(), true, &mut scan) {
            let end = done + len;
            self.event(rest.get(done..end).unwrap_or_default(), &mut out);
            done = end;
        }
        if let Some(last) = rest.get(done..).filter(|last| !last.is_empty()) {
            self.event(last, &mut out);
        }
        self.flush_all(&mut out);
        out
    }

    /// Processes one complete event (with its terminating blank line).
    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Some((data, rebuild)) = data_of(event) else {
            out.extend_from_slice(event);
            return;
        };
        if data.trim() == "[DONE]" {
            self.flush_all(out);
            out.extend_from_slice(event);
            return;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(data) else {
            out.extend_from_slice(event);
            return;
        };
        let mut changed = self.strip_logprobs && strip_logprobs(&mut value);
        if self.template.is_none()
            && let Value::Object(map) = &value
        {
            let mut template = map.clone();
            for key in ["choices", "usage", "logprobs", "top_logprobs"] {
                template.shift_remove(key);
            }
            self.template = Some(template);
        }
        if !self.table.is_empty() || self.leak.is_some() {
            changed |= self.restore_choices(&mut value, out);
        }
        if changed {
            // Serializing a parsed value cannot fail; if it did, the event would be dropped
            // rather than sent unstripped.
            if let Ok(json) = serde_json::to_string(&value) {
                out.extend_from_slice(rebuild(&json).as_bytes());
            }
        } else {
            out.extend_from_slice(event);
        }
    }

    /// Restores every text of every choice of one event; flushes choices that finish.
    /// Synthetic events for held text go to `out` before the event itself.
    fn restore_choices(&mut self, value: &mut Value, out: &mut Vec<u8>) -> bool {
        let Some(choices) = value.get_mut("choices").and_then(Value::as_array_mut) else {
            return false;
        };
        let mut changed = false;
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let finishing = choice
                .get("finish_reason")
                .is_some_and(|reason| !reason.is_null());
            if let Some(text) = choice.get_mut("text") {
                changed |= self.feed(index, Field::Text, text, finishing);
            }
            if let Some(delta) = choice.get_mut("delta") {
                if let Some(content) = delta.get_mut("content") {
                    changed |= self.feed(index, Field::Content, content, finishing);
                }
                if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (position, call) in calls.iter_mut().enumerate() {
                        let call_index = call
                            .get("index")
                            .and_then(Value::as_u64)
                            .unwrap_or(position as u64);
                        if let Some(args) = call
                            .get_mut("function")
                            .and_then(|f| f.get_mut("arguments"))
                        {
                            changed |=
                                self.feed(index, Field::Arguments(call_index), args, finishing);
                        }
                    }
                }
            }
            if finishing {
                // Streams of this choice that this event did not carry.
                self.flush_choice(index, out);
            }
        }
        changed
    }

    /// Restores one string field; a finishing choice's stream is flushed into it.
    fn feed(&mut self, index: u64, field: Field, slot: &mut Value, finishing: bool) -> bool {
        let Value::String(piece) = slot else {
            return false;
        };
        let stream = self
            .streams
            .entry((index, field))
            .or_insert_with(|| FieldStream {
                restorer: TextRestorer::new(Arc::clone(&self.table), field.context()),
                filter: self.leak.as_ref().map(StreamLeakCheck::filter),
            });
        let mut restored = stream.push(piece);
        if finishing {
            restored.push_str(&stream.finish());
            self.streams.remove(&(index, field));
        }
        if restored == *piece {
            return false;
        }
        *piece = restored;
        true
    }

    fn flush_choice(&mut self, index: u64, out: &mut Vec<u8>) {
        let keys: Vec<_> = self
            .streams
            .range((index, Field::Content)..)
            .take_while(|((i, _), _)| *i == index)
            .map(|(key, _)| *key)
            .collect();
        let mut texts = Vec::new();
        for key in keys {
            if let Some(mut stream) = self.streams.remove(&key) {
                let text = stream.finish();
                if !text.is_empty() {
                    texts.push((key.1, text));
                }
            }
        }
        if !texts.is_empty() {
            self.synthetic(index, texts, out);
        }
    }

    fn flush_all(&mut self, out: &mut Vec<u8>) {
        let indexes: Vec<u64> = self.streams.keys().map(|(i, _)| *i).collect();
        let mut last = None;
        for index in indexes {
            if last != Some(index) {
                self.flush_choice(index, out);
                last = Some(index);
            }
        }
    }

    /// An event carrying only held text of one choice, shaped like the stream's events.
    fn synthetic(&self, index: u64, texts: Vec<(Field, String)>, out: &mut Vec<u8>) {
        let mut event = self.template.clone().unwrap_or_default();
        let mut choice = Map::new();
        choice.insert("index".into(), Value::from(index));
        let mut delta = Map::new();
        let mut calls = Vec::new();
        for (field, text) in texts {
            match field {
                Field::Text => {
                    choice.insert("text".into(), Value::String(text));
                }
                Field::Content => {
                    delta.insert("content".into(), Value::String(text));
                }
                Field::Arguments(call) => {
                    let mut function = Map::new();
                    function.insert("arguments".into(), Value::String(text));
                    let mut entry = Map::new();
                    entry.insert("index".into(), Value::from(call));
                    entry.insert("function".into(), Value::Object(function));
                    calls.push(Value::Object(entry));
                }
            }
        }
        if !calls.is_empty() {
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        if !delta.is_empty() {
            choice.insert("delta".into(), Value::Object(delta));
        }
        choice.insert("finish_reason".into(), Value::Null);
        event.insert("choices".into(), Value::Array(vec![Value::Object(choice)]));
        if let Ok(json) = serde_json::to_string(&Value::Object(event)) {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }
}

/// One text of one choice: restored, then checked.
#[derive(Debug)]
struct FieldStream {
    restorer: TextRestorer,
    filter: Option<LeakFilter>,
}

impl FieldStream {
    fn push(&mut self, piece: &str) -> String {
        let restored = self.restorer.push(piece);
        match &mut self.filter {
            Some(filter) => filter.push(&restored),
            None => restored,
        }
    }

    fn finish(&mut self) -> String {
        let restored = self.restorer.finish();
        match &mut self.filter {
            Some(filter) => {
                let mut out = filter.push(&restored);
                out.push_str(&filter.finish());
                out
            }
            None => restored,
        }
    }
}

/// Where the search for the end of the pending event stopped, so that an event arriving in
/// many small pieces is scanned once, not once per piece.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    /// Bytes of the pending event already scanned.
    at: usize,
    /// Whether the line being scanned is empty so far (then its end ends the event).
    line_empty: bool,
}

/// Length of the first complete event in `buf` (through the blank line that ends it), if
/// any, resuming from `scan` (reset when an event is found). Lines end in LF, CRLF or CR (the
/// SSE grammar); a CR at the very end of `buf` could still be the start of a CRLF, so it is
/// not yet a line end unless `eof`.
///
/// Hand-written: the SSE line grammar is three terminators and must resume at any byte; this
/// loop is shorter than wiring a searcher for it.
fn event_len(buf: &[u8], eof: bool, scan: &mut Scan) -> Option<usize> {
    let Scan {
        mut at,
        mut line_empty,
    } = *scan;
    while let Some(&b) = buf.get(at) {
        let terminator = match b {
            b'\n' => 1,
            b'\r' => match buf.get(at + 1) {
                Some(b'\n') => 2,
                Some(_) => 1,
                None if eof => 1,
                None => break,
            },
            _ => {
                line_empty = false;
                at += 1;
                continue;
            }
        };
        at += terminator;
        if line_empty {
            *scan = Scan::default();
            return Some(at);
        }
        line_empty = true;
    }
    *scan = Scan { at, line_empty };
    None
}

/// The payload of an event's single `data:` line, and a function that rebuilds the event
/// around a new payload (other lines kept, LF line ends). `None` for events without exactly
/// one data line or not in UTF-8: those pass through as they are.
fn data_of(event: &[u8]) -> Option<(&str, impl Fn(&str) -> String + '_)> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(payload) = line.strip_prefix("data:") {
            if data.is_some() {
                return None;
            }
            data = Some(payload.strip_prefix(' ').unwrap_or(payload));
        }
    }
    let data = data?;
    let rebuild = move |payload: &str| {
        let mut out = String::with_capacity(text.len() + payload.len());
        for line in text.split(['\n', '\r']).filter(|l| !l.is_empty()) {
            if line.starts_with("data:") {
                out.push_str("data: ");
                out.push_str(payload);
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out.push('\n');
        out
    };
    Some((data, rebuild))
}
