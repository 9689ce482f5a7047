//! Helpers of stage 9 (`screen`): the streamed answer's restorer, and the memorized-data
//! check of JSON answers. The stage itself is in [`crate::pipeline`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;
use veil_detect::{Analyzer, DataClass};
use veil_guard::{AnswerScanner, Canary, ScreenConfig};
use veil_protect::restore::{AnswerLeakCheck, SseRestorer};

use crate::error::GatewayError;
use crate::upstream::ChunkStream;

/// An SSE answer run through a [`SseRestorer`]: placeholders the caller may see are
/// restored and logprobs stripped, chunk by chunk. The restorer holds back only bytes that
/// could still start a placeholder, so text flows as it arrives.
pub struct Screened {
    inner: ChunkStream,
    restorer: SseRestorer,
    watch: Option<AnswerWatch>,
    done: bool,
}

impl Screened {
    /// Wraps `inner`; `watch`, when given, screens the restored text for the canary and
    /// exfiltration markup.
    pub fn new(inner: ChunkStream, restorer: SseRestorer, watch: Option<AnswerWatch>) -> Self {
        Self {
            inner,
            restorer,
            watch,
            done: false,
        }
    }

    /// Passes `out` through the answer watch; a blocked canary replaces it with an error
    /// event and ends the stream.
    fn watched(&mut self, out: Vec<u8>) -> Vec<u8> {
        let Some(watch) = self.watch.as_mut() else {
            return out;
        };
        if watch.feed(&out) {
            self.done = true;
            return CANARY_EVENT.as_bytes().to_vec();
        }
        out
    }
}

/// The in-band error that ends a stream whose answer repeated the canary.
const CANARY_EVENT: &str = "data: {\"error\":{\"message\":\"the answer was withheld: it repeats the request's canary (the system prompt leaked)\",\"type\":\"veil_policy\",\"code\":\"canary_leaked\"}}\n\n";

/// What the answer-side guard found in a streamed answer, read when the stream ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnswerFlags {
    /// The canary appeared (in any supported form).
    pub canary_leaked: bool,
    /// Images and links carrying data to an outside host.
    pub exfiltration: usize,
    /// The stream was cut because of the canary.
    pub withheld: bool,
}

/// Shared between the stream and the record written when it ends.
pub type AnswerReport = Arc<Mutex<AnswerFlags>>;

/// Screens a streamed answer for the canary and exfiltration markup: complete `data:` lines
/// are parsed, and each text stream (a choice's content, each tool call's arguments) goes
/// through its own [`AnswerScanner`], so a token split across events is still found.
pub struct AnswerWatch {
    canary: Option<Canary>,
    config: ScreenConfig,
    block: bool,
    line: Vec<u8>,
    scanners: BTreeMap<(u64, Option<u64>), AnswerScanner>,
    report: AnswerReport,
}

/// Longest SSE line the watch parses; longer lines are screened as they are (no split).
const WATCH_LINE_LIMIT: usize = 1 << 20;

impl AnswerWatch {
    /// A watch for one stream; `block` withholds the rest of the stream on a canary.
    pub fn new(canary: Option<Canary>, config: ScreenConfig, block: bool) -> Self {
        Self {
            canary,
            config,
            block,
            line: Vec::new(),
            scanners: BTreeMap::new(),
            report: AnswerReport::default(),
        }
    }

    /// The report, filled in as the stream goes.
    pub fn report(&self) -> AnswerReport {
        Arc::clone(&self.report)
    }

    /// Feeds released bytes; true when the stream must be cut (canary, `block`).
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let mut cut = false;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if self.line.len() + piece.len() <= WATCH_LINE_LIMIT {
                self.line.extend_from_slice(piece);
            }
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.line);
                cut |= self.line_done(&line);
            }
        }
        cut
    }

    fn line_done(&mut self, line: &[u8]) -> bool {
        let Some(data) = line.strip_prefix(b"data:") else {
            return false;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return false;
        };
        let Some(Value::Array(choices)) = event.get("choices") else {
            return false;
        };
        let mut texts = Vec::new();
        for choice in choices {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let delta = choice.get("delta");
            if let Some(text) = delta
                .and_then(|d| d.get("content"))
                .or_else(|| choice.get("text"))
                .and_then(Value::as_str)
            {
                texts.push(((index, None), text));
            }
            if let Some(Value::Array(calls)) = delta.and_then(|d| d.get("tool_calls")) {
                for call in calls {
                    let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if let Some(args) = call
                        .get("function")
                        .and_then(|f| f.get("arguments"))
                        .and_then(Value::as_str)
                    {
                        texts.push(((index, Some(call_index)), args));
                    }
                }
            }
        }
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, text) in texts {
            let scanner = self
                .scanners
                .entry(key)
                .or_insert_with(|| AnswerScanner::new(self.canary.clone(), self.config.clone()));
            let found = scanner.push(text);
            report.canary_leaked |= found.canary_leaked;
            report.exfiltration += found.exfiltration.len();
        }
        if report.canary_leaked && self.block {
            report.withheld = true;
            return true;
        }
        false
    }

    /// The end of the stream: markup that waited for more text.
    fn finish(&mut self) {
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for scanner in self.scanners.values_mut() {
            report.exfiltration += scanner.finish().exfiltration.len();
        }
    }
}

impl Stream for Screened {
    type Item = Result<Bytes, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = self.restorer.push(&chunk);
                    let out = self.watched(out);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    // Everything was held back (a partial event or placeholder): read on.
                }
                Poll::Ready(Some(Err(err))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    let out = self.restorer.finish();
                    let out = self.watched(out);
                    self.done = true;
                    if let Some(watch) = self.watch.as_mut() {
                        watch.finish();
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
            }
        }
    }
}

/// Calls `f` on every text of a chat or completion answer: `choices[i].message.content`
/// (string or text parts), tool-call `arguments`, and `choices[i].text`.
pub fn for_each_answer_text_mut(answer: &mut Value, f: &mut impl FnMut(&mut String)) {
    let Some(Value::Array(choices)) = answer.get_mut("choices") else {
        return;
    };
    for choice in choices {
        if let Some(Value::String(text)) = choice.get_mut("text") {
            f(text);
        }
        let Some(message) = choice.get_mut("message") else {
            continue;
        };
        match message.get_mut("content") {
            Some(Value::String(text)) => f(text),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(Value::String(text)) = part.get_mut("text") {
                        f(text);
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
            for call in calls {
                if let Some(Value::String(args)) = call
                    .get_mut("function")
                    .and_then(|func| func.get_mut("arguments"))
                {
                    f(args);
                }
            }
        }
    }
}

/// Class and byte span of each unexpected value in one answer text.
pub type Unexpected = Vec<(DataClass, Range<usize>)>;

/// Values in an answer that did not come from the caller's input, per answer text, as
/// class and byte span. `leak` knows the caller's values and the conversation's pseudonyms;
/// classes in `ignore` are not reported. `None` when detection failed.
pub fn unexpected_values(
    analyzer: &Analyzer,
    answer: &mut Value,
    leak: &AnswerLeakCheck,
    ignore: &BTreeSet<DataClass>,
) -> Option<Vec<Unexpected>> {
    let mut per_text = Vec::new();
    let mut failed = false;
    for_each_answer_text_mut(answer, &mut |text| {
        if failed {
            return;
        }
        match catch_unwind(AssertUnwindSafe(|| analyzer.analyze(text))) {
            Ok(found) => {
                let mut unexpected = leak.unexpected(text, &found);
                unexpected.retain(|(class, _)| !ignore.contains(class));
                per_text.push(unexpected);
            }
            Err(_) => failed = true,
        }
    });
    (!failed).then_some(per_text)
}

/// Replaces each value of `per_text` whose class `redact` selects by `<CLASS>`; counts
/// every value per class into `counts`.
pub fn redact_unexpected(
    answer: &mut Value,
    per_text: &[Vec<(DataClass, Range<usize>)>],
    redact: &dyn Fn(&DataClass) -> bool,
    counts: &mut BTreeMap<String, u32>,
) {
    let mut index = 0;
    for_each_answer_text_mut(answer, &mut |text| {
        let Some(found) = per_text.get(index) else {
            return;
        };
        index += 1;
        // Back to front, so earlier spans stay valid.
        for (class, span) in found.iter().rev() {
            let entry = counts.entry(class.to_string()).or_insert(0);
            *entry = entry.saturating_add(1);
            if redact(class) && text.get(span.clone()).is_some() {
                text.replace_range(span.clone(), &format!("<{class}>"));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answer_texts_are_all_visited() {
        let mut answer = json!({"choices": [
            {"message": {"content": "a", "tool_calls": [{"function": {"arguments": "b"}}]}},
            {"message": {"content": [{"type": "text", "text": "c"}]}},
            {"text": "d"}
        ]});
        let mut seen = Vec::new();
        for_each_answer_text_mut(&mut answer, &mut |t| {
            seen.push(t.clone());
            t.make_ascii_uppercase();
        });
        assert_eq!(seen, ["a", "b", "c", "d"]);
        assert_eq!(answer["choices"][2]["text"], "D");
    }

    #[test]
    fn values_not_from_the_input_are_redacted_and_counted() {
        let analyzer = Analyzer::builder().build().unwrap();
        let mut leak = AnswerLeakCheck::new(b"key");
        leak.add_value("jane@corp.example");
        let mut answer = json!({"choices": [{"message": {"content":
            "Write to jane@corp.example or to bob.leaked@mail.example, SSN 536-22-1478."}}]});
        let per_text =
            unexpected_values(&analyzer, &mut answer, &leak, &Default::default()).unwrap();
        let classes: Vec<String> = per_text[0].iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(classes, ["EMAIL_ADDRESS", "US_SSN"]);
        let mut counts = BTreeMap::new();
        redact_unexpected(&mut answer, &per_text, &|_| true, &mut counts);
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            "Write to jane@corp.example or to <EMAIL_ADDRESS>, SSN <US_SSN>."
        );
        assert_eq!(counts["EMAIL_ADDRESS"], 1);
        assert_eq!(counts["US_SSN"], 1);
    }
}
