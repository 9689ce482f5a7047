use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};
use veil_detect::{DataClass, Sensitive};

use super::*;

const JANE: &str = "Jane Doe";
const CARD: &str = "4111 1111 1111 1111";
/// An original that must be escaped inside JSON arguments.
const TRICKY: &str = "O\"Brien \\ Ünal";

fn table() -> RestoreTable {
    let mut t = RestoreTable::new();
    t.insert(
        "<PERSON_1>",
        &DataClass::Person,
        Sensitive::new(JANE.into()),
    );
    t.insert(
        "<PERSON_12>",
        &DataClass::Person,
        Sensitive::new("Zoë Ng".into()),
    );
    t.insert(
        "<CREDIT_CARD_2>",
        &DataClass::CreditCard,
        Sensitive::new(CARD.into()),
    );
    t.insert(
        "<PERSON_3>",
        &DataClass::Person,
        Sensitive::new(TRICKY.into()),
    );
    t
}

/// Streams `pieces` through one restorer; returns every output concatenated.
fn stream(table: &Arc<RestoreTable>, pieces: &[&str], context: TextContext) -> String {
    let mut r = TextRestorer::new(Arc::clone(table), context);
    let mut out = String::new();
    for piece in pieces {
        out.push_str(&r.push(piece));
    }
    out.push_str(&r.finish());
    out
}

// ----- whole text -----

#[test]
fn restorers_can_cross_threads_and_await_points() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RestoreTable>();
    send_sync::<TextRestorer>();
    send_sync::<SseRestorer>();
    send_sync::<AnswerLeakCheck>();
}

#[test]
fn exact_placeholders_restore() {
    let t = table();
    assert_eq!(
        t.restore_text("<PERSON_1> paid with <CREDIT_CARD_2>; <PERSON_12> too"),
        format!("{JANE} paid with {CARD}; Zoë Ng too")
    );
}

#[test]
fn altered_forms_restore() {
    let t = table();
    for form in [
        "<person_1>",
        "[PERSON_1]",
        "< PERSON_1 >",
        "PERSON_1",
        "{PERSON-1}",
        "<PERSON 1>",
        "(Person_1)",
        "[  person 1  ]",
        "person-1",
    ] {
        assert_eq!(
            t.restore_text(&format!("x {form}, y")),
            format!("x {JANE}, y"),
            "{form}"
        );
    }
    assert_eq!(t.restore_text("{credit-card-2}"), CARD);
    assert_eq!(t.restore_text("credit_card 2."), format!("{CARD}."));
    assert_eq!(t.restore_text("<Credit Card_2>"), CARD);
    assert_eq!(
        t.restore_text("<CREDIT__CARD_2> <CREDITCARD_2>"),
        "<CREDIT__CARD_2> <CREDITCARD_2>"
    );
}

#[test]
fn look_alikes_outside_the_table_stay() {
    let t = table();
    for text in [
        "<PERSON_2>",
        "PERSON_4",
        "<PERSONS_1>",
        "<EMAIL_ADDRESS_1>",
        "salesperson_1",
        "PERSON_1x",
        "PERSON_123",
        "<PERSON_1]",
        "<   PERSON_1>",
        "PERSON1",
        "<PERSON__1>",
        "",
        "<>",
    ] {
        // A bracket pair that does not match, or too many spaces: the bare form inside is
        // still ours.
        let expected = match text {
            "<PERSON_1]" => format!("<{JANE}]"),
            "<   PERSON_1>" => format!("<   {JANE}>"),
            _ => text.to_owned(),
        };
        assert_eq!(t.restore_text(text), expected, "{text}");
    }
}

#[test]
fn longest_ordinal_wins() {
    let t = table();
    assert_eq!(t.restore_text("<PERSON_12>"), "Zoë Ng");
    assert_eq!(
        t.restore_text("PERSON_12 PERSON_1"),
        format!("Zoë Ng {JANE}")
    );
}

#[test]
fn literal_placeholders_restore_only_as_written() {
    let mut t = RestoreTable::new();
    t.insert(
        "Alex Smith",
        &DataClass::Person,
        Sensitive::new(JANE.into()),
    );
    t.insert(
        "Alex Smithers",
        &DataClass::Person,
        Sensitive::new("Bo".into()),
    );
    assert_eq!(
        t.restore_text("Alex Smith, Alex Smithers"),
        format!("{JANE}, Bo")
    );
    assert_eq!(t.restore_text("alex smith"), "alex smith");
    let shared = Arc::new(t);
    let mut r = TextRestorer::new(Arc::clone(&shared), TextContext::Plain);
    // `Alex Smith` could still grow into `Alex Smithers`.
    assert_eq!(r.push("Hi Alex Smith"), "Hi ");
    assert_eq!(r.push("!"), format!("{JANE}!"));
}

#[test]
fn reinserting_a_placeholder_replaces_its_original() {
    let mut t = RestoreTable::new();
    t.insert(
        "<PERSON_1>",
        &DataClass::Person,
        Sensitive::new("old".into()),
    );
    assert_eq!(t.restore_text("<PERSON_1>"), "old");
    t.insert(
        "<PERSON_1>",
        &DataClass::Person,
        Sensitive::new("new".into()),
    );
    assert_eq!(t.restore_text("<PERSON_1>"), "new");
    assert_eq!(t.len(), 1);
}

#[test]
fn an_empty_table_restores_nothing() {
    let t = RestoreTable::new();
    assert!(t.is_empty());
    assert_eq!(t.restore_text("<PERSON_1>"), "<PERSON_1>");
    let mut r = TextRestorer::new(Arc::new(t), TextContext::Plain);
    assert_eq!(r.push("<PER"), "<PER");
}

#[test]
fn a_protected_prompt_round_trips_through_a_split_stream() {
    use crate::{MemoryStore, Operator, Policy, Protector, ScopeId};
    let input = "Jane Doe (jane@corp.com) paid with 4111 1111 1111 1111; ask Jane Doe.";
    let finding = |value: &str, class: DataClass| {
        let start = input.find(value).unwrap();
        veil_detect::Finding {
            class,
            bytes: start..start + value.len(),
            chars: start..start + value.len(),
            score: 1.0,
            recognizer: "test",
            evidence: veil_detect::Evidence::default(),
        }
    };
    let mut findings = vec![
        finding("jane@corp.com", DataClass::EmailAddress),
        finding(CARD, DataClass::CreditCard),
        finding(JANE, DataClass::Person),
    ];
    let last = input.rfind(JANE).unwrap();
    findings.push(veil_detect::Finding {
        bytes: last..last + JANE.len(),
        ..finding(JANE, DataClass::Person)
    });
    findings.sort_by_key(|f| f.bytes.start);
    let policy = Policy::new(Operator::Tag).with(DataClass::EmailAddress, Operator::Redact);
    let protector = Protector::new(
        policy,
        ScopeId::new("t", "c"),
        Arc::new(MemoryStore::new()),
        None,
    )
    .unwrap();
    let protected = protector.protect(input, &findings).unwrap();
    assert_eq!(
        protected.text,
        "<PERSON_1> (<EMAIL_ADDRESS>) paid with <CREDIT_CARD_1>; ask <PERSON_1>."
    );

    let mut all = RestoreTable::new();
    all.insert_protected(input, &protected, |_| true);
    // Redaction markers restore nothing.
    assert_eq!(all.len(), 2);
    let all = Arc::new(all);
    let text = &protected.text;
    let expected = input.replace("jane@corp.com", "<EMAIL_ADDRESS>");
    for at in 0..=text.len() {
        let (a, b) = text.split_at(at);
        assert_eq!(
            stream(&all, &[a, b], TextContext::Plain),
            expected,
            "split at {at}"
        );
    }

    // A caller granted PERSON only keeps the card's placeholder.
    let mut people = RestoreTable::new();
    people.insert_protected(input, &protected, |class| *class == DataClass::Person);
    assert_eq!(
        people.restore_text(text),
        "Jane Doe (<EMAIL_ADDRESS>) paid with <CREDIT_CARD_1>; ask Jane Doe."
    );
}

// ----- streaming hold-back -----

#[test]
fn hold_back_is_minimal() {
    let t = Arc::new(table());
    let mut r = TextRestorer::new(Arc::clone(&t), TextContext::Plain);
    assert_eq!(r.push("Hello <PER"), "Hello ");
    assert_eq!(r.held_len(), 4);
    assert_eq!(r.push("SON_1> and "), format!("{JANE} and "));
    assert_eq!(r.held_len(), 0);

    let mut r = TextRestorer::new(Arc::clone(&t), TextContext::Plain);
    assert_eq!(r.push("Hello world"), "Hello world");
    // Ordinal 3x is not in the table, 4 never was: nothing to wait for.
    assert_eq!(r.push(" <PERSON_4"), " <PERSON_4");
    assert_eq!(r.push(" <CREDIT_CARD_3"), " <CREDIT_CARD_3");
    // A complete bracketed placeholder goes out at once.
    assert_eq!(r.push(" <PERSON_1>"), format!(" {JANE}"));
    // `<PERSON_1` could still close, or become `<PERSON_12>`.
    assert_eq!(r.push(" <PERSON_1"), " ");
    assert_eq!(r.push("2>"), "Zoë Ng");
    // A bare form waits for the word boundary after it.
    assert_eq!(r.push(" PERSON_1"), " ");
    assert_eq!(r.push("."), format!("{JANE}."));
    // Brackets and spaces could open a placeholder; a lone letter that starts no class
    // cannot.
    assert_eq!(r.push(" x ["), " x ");
    assert_eq!(r.push("  "), "");
    assert_eq!(r.push("z"), "[  z");
    assert_eq!(r.push(" c"), " ");
    assert_eq!(r.push("at"), "cat");
    assert_eq!(r.finish(), "");
}

#[test]
fn hold_back_never_exceeds_the_longest_form() {
    let t = Arc::new(table());
    let mut r = TextRestorer::new(Arc::clone(&t), TextContext::Plain);
    let mut out = String::new();
    for piece in ["[  credit", "_card", "-", "2", "  "] {
        out += &r.push(piece);
        assert_eq!(out, "");
        assert!(r.held_len() <= t.max_hold());
    }
    assert_eq!(r.held_len(), "[  credit_card-2  ".len());
    assert_eq!(r.push("]"), CARD);
    // Ordinal 1 of that class is not in the table: nothing is held.
    assert_eq!(r.push(" [credit card 1"), " [credit card 1");
}

#[test]
fn a_bare_form_after_a_word_character_is_not_a_placeholder_across_pieces() {
    let t = Arc::new(table());
    assert_eq!(
        stream(&t, &["sales", "person_1"], TextContext::Plain),
        "salesperson_1"
    );
    assert_eq!(
        stream(&t, &["sales ", "person_1"], TextContext::Plain),
        format!("sales {JANE}")
    );
    assert_eq!(
        stream(&t, &["<PERSON_1>", "PERSON_1"], TextContext::Plain),
        format!("{JANE}{JANE}")
    );
}

#[test]
fn finish_flushes_a_cut_off_placeholder_as_it_is() {
    let t = Arc::new(table());
    assert_eq!(stream(&t, &["see <PERS"], TextContext::Plain), "see <PERS");
    assert_eq!(
        stream(&t, &["see PERSON_1"], TextContext::Plain),
        format!("see {JANE}")
    );
}

#[test]
fn every_split_of_a_text_restores_like_the_whole() {
    let t = Arc::new(table());
    let text = "Grüße <PERSON_1>! Karte [credit-card-2], 日本 PERSON 12 < person_3 >, <PERSON_1";
    let whole = t.restore_text(text);
    for a in 0..=text.len() {
        for b in a..=text.len() {
            let (Some(x), Some(y), Some(z)) = (text.get(..a), text.get(a..b), text.get(b..)) else {
                continue;
            };
            assert_eq!(
                stream(&t, &[x, y, z], TextContext::Plain),
                whole,
                "split at {a}, {b}"
            );
        }
    }
}

// ----- JSON arguments -----

#[test]
fn tool_arguments_with_quotes_and_backslashes_stay_valid_json() {
    let t = Arc::new(table());
    let args = r#"{"name": "<PERSON_3>", "card": "[CREDIT_CARD_2]"}"#;
    let restored = t.restore_text_in(args, TextContext::JsonArguments);
    let parsed: Value = serde_json::from_str(&restored).unwrap();
    assert_eq!(parsed["name"], TRICKY);
    assert_eq!(parsed["card"], CARD);
    // The same through a stream cut inside the placeholder.
    let streamed = stream(
        &t,
        &[
            r#"{"name": "<PERS"#,
            r#"ON_3>", "card": "[CRE"#,
            r#"DIT_CARD_2]"}"#,
        ],
        TextContext::JsonArguments,
    );
    assert_eq!(streamed, restored);
    // Plain text gets the original as it is.
    assert_eq!(t.restore_text("<PERSON_3>"), TRICKY);
}

// ----- non-streaming JSON answers -----

#[test]
fn restore_json_covers_content_parts_tool_calls_and_text() {
    let t = table();
    let mut answer = json!({
        "id": "chatcmpl-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi <PERSON_1>",
                "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "pay", "arguments": "{\"who\":\"<PERSON_3>\"}"}}]}},
            {"index": 1, "message": {"role": "assistant", "content": [
                {"type": "text", "text": "card [credit_card_2]"}, {"type": "image_url", "image_url": {"url": "<PERSON_1>"}}]}},
            {"index": 2, "text": "legacy PERSON_12"}
        ]
    });
    restore_json(&t, &mut answer);
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("Hi {JANE}")
    );
    let args = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(args).unwrap()["who"], TRICKY);
    assert_eq!(
        answer["choices"][1]["message"]["content"][0]["text"],
        format!("card {CARD}")
    );
    // Only text parts are restored.
    assert_eq!(
        answer["choices"][1]["message"]["content"][1]["image_url"]["url"],
        "<PERSON_1>"
    );
    assert_eq!(answer["choices"][2]["text"], "legacy Zoë Ng");
}

#[test]
fn strip_logprobs_removes_them_at_any_depth() {
    let mut answer = json!({
        "choices": [{"index": 0, "message": {"content": "x"},
            "logprobs": {"content": [{"token": "x", "logprob": -0.1, "top_logprobs": []}]}}]
    });
    assert!(strip_logprobs(&mut answer));
    assert_eq!(
        answer,
        json!({"choices": [{"index": 0, "message": {"content": "x"}}]})
    );
    assert!(!strip_logprobs(&mut answer));
    let mut null = json!({"choices": [{"logprobs": null}]});
    assert!(!strip_logprobs(&mut null));
    assert_eq!(null, json!({"choices": [{}]}));
}

// ----- SSE -----

fn chat_event(choice: Value) -> String {
    let event = json!({"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1,
        "model": "m", "choices": [choice]});
    format!("data: {event}\n\n")
}

fn content(index: u64, text: &str) -> String {
    chat_event(json!({"index": index, "delta": {"content": text}, "finish_reason": null}))
}

fn args(index: u64, call: u64, text: &str) -> String {
    chat_event(json!({"index": index, "delta": {"tool_calls": [
        {"index": call, "function": {"arguments": text}}]}, "finish_reason": null}))
}

fn finish(index: u64) -> String {
    chat_event(json!({"index": index, "delta": {}, "finish_reason": "stop"}))
}

/// A stream with two choices, two tool calls, multi-byte text, placeholders split across
/// events, one cut off by the finish event, and a CRLF-terminated event.
fn sample_stream() -> String {
    let mut s = String::new();
    s += &chat_event(
        json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}),
    );
    s += &content(0, "Grüße, <PER");
    s += &content(1, "日本 [credit");
    s += &content(0, "SON_1>! Ihre Karte ");
    s += &content(1, "_card_2] 👋 ");
    s += &content(0, "{CREDIT-CARD-2} ist 🆗; ");
    s += &args(0, 0, r#"{"name": "<PERSON"#);
    s += &args(0, 1, r#"{"q": "PERSON 1"#);
    s += &args(0, 0, r#"_3>", "n": 1}"#);
    s += &args(0, 1, r#"2 und <person_1>"}"#);
    s += ": keep-alive comment\n\n";
    s += &content(1, "bye PERSON_1").replace('\n', "\r\n");
    s += &content(0, "end < PERSON_12");
    s += &finish(0);
    s += &finish(1);
    s += "data: [DONE]\n\n";
    s
}

/// Per (choice, field) the concatenated text of every event in an SSE output, checking that
/// each data event is valid JSON.
fn texts(sse: &[u8]) -> std::collections::BTreeMap<String, String> {
    let text = std::str::from_utf8(sse).unwrap();
    let mut out = std::collections::BTreeMap::<String, String>::new();
    for event in text.split("\n\n").flat_map(|e| e.split("\r\n\r\n")) {
        for line in event.lines() {
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_str(data).unwrap();
            for choice in v["choices"].as_array().unwrap() {
                let i = choice["index"].as_u64().unwrap();
                if let Some(c) = choice["delta"]["content"].as_str() {
                    *out.entry(format!("{i}/content")).or_default() += c;
                }
                if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
                    for call in calls {
                        let k = call["index"].as_u64().unwrap();
                        if let Some(a) = call["function"]["arguments"].as_str() {
                            *out.entry(format!("{i}/args{k}")).or_default() += a;
                        }
                    }
                }
            }
        }
    }
    out
}

fn run_sse(table: &Arc<RestoreTable>, pieces: &[&[u8]]) -> Vec<u8> {
    let mut r = SseRestorer::new(Arc::clone(table));
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(r.push(piece));
    }
    out.extend(r.finish());
    out
}

#[test]
fn sse_restores_content_and_tool_arguments() {
    let t = Arc::new(table());
    let input = sample_stream();
    let out = run_sse(&t, &[input.as_bytes()]);
    let got = texts(&out);
    let raw = texts(input.as_bytes());
    assert_eq!(
        got["0/content"],
        format!("Grüße, {JANE}! Ihre Karte {CARD} ist 🆗; end < Zoë Ng")
    );
    assert_eq!(got["1/content"], format!("日本 {CARD} 👋 bye {JANE}"));
    assert_eq!(got["0/content"], t.restore_text(&raw["0/content"]));
    let a0: Value = serde_json::from_str(&got["0/args0"]).unwrap();
    assert_eq!(a0["name"], TRICKY);
    let a1: Value = serde_json::from_str(&got["0/args1"]).unwrap();
    assert_eq!(a1["q"], format!("Zoë Ng und {JANE}"));
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(": keep-alive comment\n\n"));
    assert!(out.ends_with("data: [DONE]\n\n"));
    // The held `< PERSON_12` is flushed in a synthetic event just before choice 0 finishes.
    let synthetic = out.find("Zoë Ng\"").unwrap();
    let finish0 = out.find("\"finish_reason\":\"stop\"").unwrap();
    assert!(synthetic < finish0);
}

#[test]
fn sse_split_at_every_byte_restores_like_the_unsplit_stream() {
    let t = Arc::new(table());
    let input = sample_stream();
    let bytes = input.as_bytes();
    let reference = texts(&run_sse(&t, &[bytes]));
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(
            texts(&run_sse(&t, &[a, b])),
            reference,
            "split at byte {at}"
        );
    }
    let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(texts(&run_sse(&t, &one_by_one)), reference);
}

#[test]
fn sse_events_that_need_no_change_pass_through_byte_for_byte() {
    let t = Arc::new(table());
    let plain = content(0, "nothing to restore here");
    let broken = "data: {not json\n\n";
    let input = format!("{plain}{broken}event: ping\ndata: [DONE]\n\n");
    assert_eq!(run_sse(&t, &[input.as_bytes()]), input.as_bytes());
}

#[test]
fn sse_flushes_held_text_at_the_end_without_done() {
    let t = Arc::new(table());
    let input = content(0, "bye PERSON_1");
    let out = run_sse(&t, &[input.as_bytes()]);
    assert_eq!(texts(&out)["0/content"], format!("bye {JANE}"));
    // Also when the last event has no terminating blank line.
    let cut = input.trim_end();
    let out = run_sse(&t, &[cut.as_bytes()]);
    assert_eq!(texts(&out)["0/content"], format!("bye {JANE}"));
}

#[test]
fn sse_strips_logprobs_in_the_same_pass() {
    let t = Arc::new(table());
    let event = chat_event(json!({"index": 0, "delta": {"content": "<PERSON_1>"},
        "logprobs": {"content": [{"token": "<", "logprob": -0.2, "top_logprobs": []}]},
        "finish_reason": null}));
    let mut r = SseRestorer::new(Arc::clone(&t)).strip_logprobs(true);
    let out = String::from_utf8(r.push(event.as_bytes())).unwrap();
    assert!(!out.contains("logprob"));
    assert!(out.contains(JANE));
    // Without the option they stay.
    let mut r = SseRestorer::new(Arc::clone(&t));
    assert!(
        String::from_utf8(r.push(event.as_bytes()))
            .unwrap()
            .contains("top_logprobs")
    );
    // Stripping alone, with nothing to restore.
    let mut r = SseRestorer::new(Arc::new(RestoreTable::new())).strip_logprobs(true);
    assert!(
        !String::from_utf8(r.push(event.as_bytes()))
            .unwrap()
            .contains("logprob")
    );
}

#[test]
fn sse_legacy_completions_text_restores() {
    let t = Arc::new(table());
    let ev = |text: &str, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": finish}]})
        )
    };
    let input = format!(
        "{}{}{}",
        ev("a <PERSON", Value::Null),
        ev("_1", Value::Null),
        ev("", json!("length"))
    );
    let out = String::from_utf8(run_sse(&t, &[input.as_bytes()])).unwrap();
    let mut text = String::new();
    for line in out.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).unwrap();
        text += v["choices"][0]["text"].as_str().unwrap_or_default();
    }
    // `<PERSON_1` never closed: its bare form inside is restored.
    assert_eq!(text, format!("a <{JANE}"));
}

// ----- never printed -----

#[test]
fn originals_never_appear_in_debug_output() {
    let t = Arc::new(table());
    let mut text = TextRestorer::new(Arc::clone(&t), TextContext::Plain);
    text.push("<PERSON_1> <PERS");
    let mut sse = SseRestorer::new(Arc::clone(&t));
    sse.push(content(0, "<PERSON_1> <CREDIT_CAR").as_bytes());
    sse.push(b"data: {\"partial");
    for debug in [
        format!("{t:?}"),
        format!("{text:?}"),
        format!("{sse:?}"),
        format!("{:#?}", (&t, &text, &sse)),
    ] {
        for secret in [JANE, CARD, TRICKY, "Zoë", "4111"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    assert!(format!("{t:?}").contains("<PERSON_1>"));
}

// ----- property -----

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just(" ".to_owned()),
        Just("_".to_owned()),
        Just("-".to_owned()),
        Just("person".to_owned()),
        Just("PERSON".to_owned()),
        Just("CREDIT_CARD".to_owned()),
        Just("Alex".to_owned()),
        "[0-9]{1,2}",
        "[a-zé日👋]{1,3}",
        Just("<PERSON_1>".to_owned()),
        Just("< person-12 >".to_owned()),
        Just("Alex Sm".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streaming_equals_whole_text(
        parts in prop::collection::vec(piece(), 0..24),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ordinals in prop::collection::vec(1u32..30, 1..5),
    ) {
        let mut t = RestoreTable::new();
        for (n, ordinal) in ordinals.iter().enumerate() {
            let class = if n % 2 == 0 { DataClass::Person } else { DataClass::CreditCard };
            t.insert(&format!("<{class}_{ordinal}>"), &class, Sensitive::new(format!("v{n}\"")));
        }
        t.insert("Alex Smith", &DataClass::Person, Sensitive::new("L".into()));
        let t = Arc::new(t);
        let text: String = parts.concat();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        points.retain(|&p| text.is_char_boundary(p));
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&text[last..p]);
            last = p;
        }
        pieces.push(&text[last..]);
        for context in [TextContext::Plain, TextContext::JsonArguments] {
            prop_assert_eq!(stream(&t, &pieces, context), t.restore_text_in(&text, context));
        }
    }
}

// ----- memorized-data check -----

fn found(text: &str, value: &str, class: DataClass) -> veil_detect::Finding {
    let start = text.find(value).unwrap();
    veil_detect::Finding {
        class,
        bytes: start..start + value.len(),
        chars: start..start + value.chars().count(),
        score: 0.9,
        recognizer: "test",
        evidence: veil_detect::Evidence::default(),
    }
}

fn leak_check(key: &[u8]) -> AnswerLeakCheck {
    let prompt = "Charge 4111 1111 1111 1111 for Jane Doe, mail jane.doe@x.org";
    let mut check = AnswerLeakCheck::new(key);
    check.add_input(
        prompt,
        &[
            found(prompt, CARD, DataClass::CreditCard),
            found(prompt, JANE, DataClass::Person),
            found(prompt, "jane.doe@x.org", DataClass::EmailAddress),
        ],
    );
    check
}

#[test]
fn leak_check_passes_values_from_the_input() {
    let check = leak_check(b"tenant key");
    assert_eq!(check.len(), 3);
    let answer = "Charged 4111-1111-1111-1111 for JANE DOE (Jane.Doe@X.org).";
    let findings = [
        found(answer, "4111-1111-1111-1111", DataClass::CreditCard),
        found(answer, "JANE DOE", DataClass::Organization),
        found(answer, "Jane.Doe@X.org", DataClass::EmailAddress),
    ];
    assert!(check.unexpected(answer, &findings).is_empty());
}

#[test]
fn leak_check_flags_values_not_in_the_input() {
    let check = leak_check(b"tenant key");
    let answer = "Also 5425 2334 3010 9903 belongs to John Roe; Jane Doe knows.";
    let findings = [
        found(answer, "5425 2334 3010 9903", DataClass::CreditCard),
        found(answer, "John Roe", DataClass::Person),
        found(answer, JANE, DataClass::Person),
    ];
    let unexpected = check.unexpected(answer, &findings);
    assert_eq!(
        unexpected,
        vec![
            (DataClass::CreditCard, findings[0].bytes.clone()),
            (DataClass::Person, findings[1].bytes.clone())
        ]
    );
}

#[test]
fn leak_check_digests_under_the_same_key_match() {
    let check = leak_check(b"tenant key");
    let mut rebuilt = AnswerLeakCheck::new(b"tenant key");
    rebuilt.add_digests([check.digest(JANE).unwrap()]);
    let answer = "hi Jane Doe";
    assert!(
        rebuilt
            .unexpected(answer, &[found(answer, JANE, DataClass::Person)])
            .is_empty()
    );
}

#[test]
fn leak_check_digests_under_another_key_do_not_match() {
    let other = leak_check(b"another tenant");
    let mut check = AnswerLeakCheck::new(b"tenant key");
    check.add_digests([other.digest(JANE).unwrap()]);
    let answer = "hi Jane Doe";
    assert_eq!(
        check
            .unexpected(answer, &[found(answer, JANE, DataClass::Person)])
            .len(),
        1
    );
}

#[test]
fn leak_check_reports_findings_it_cannot_read() {
    let check = leak_check(b"tenant key");
    let answer = "hi Jane Doe";
    let mut bad = found(answer, JANE, DataClass::Person);
    bad.bytes = 3..400;
    assert_eq!(
        check.unexpected(answer, &[bad]),
        vec![(DataClass::Person, 3..400)]
    );
    assert!(
        check
            .unexpected(answer, &[found(answer, JANE, DataClass::Person)])
            .is_empty()
    );
}

#[test]
fn leak_check_never_prints_values() {
    let check = leak_check(b"tenant key");
    let debug = format!("{check:?}");
    for secret in [JANE, CARD, "jane.doe", "tenant key"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sse_stream_equals_whole_text(
        tokens in prop::collection::vec(piece(), 1..16),
        arg_tokens in prop::collection::vec(piece(), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let t = Arc::new(table());
        let mut input = String::new();
        for token in &tokens {
            input += &content(0, token);
        }
        for token in &arg_tokens {
            input += &args(0, 0, token);
        }
        input += &finish(0);
        input += "data: [DONE]\n\n";
        let bytes = input.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        pieces.push(&bytes[last..]);
        let got = texts(&run_sse(&t, &pieces));
        let whole = t.restore_text(&tokens.concat());
        prop_assert_eq!(got.get("0/content").cloned().unwrap_or_default(), whole);
        let args_whole = t.restore_text_in(&arg_tokens.concat(), TextContext::JsonArguments);
        prop_assert_eq!(got.get("0/args0").cloned().unwrap_or_default(), args_whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary bytes (invalid UTF-8, stray CRs, half events, odd JSON) never panic, and a
    /// stream without any `data:` line comes out exactly as it went in.
    #[test]
    fn sse_survives_arbitrary_bytes(
        chunks in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..40),
                Just(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"<PER".to_vec()),
                Just(b"SON_1>\"},\"finish_reason\":null}]}\n\n".to_vec()),
                Just(b"data: [DONE]\r\n\r\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"data: {\"choices\":[3, null, {\"index\":\"x\",\"delta\":[]}]}\n\n".to_vec()),
            ],
            0..12,
        ),
        strip in any::<bool>(),
    ) {
        let t = Arc::new(table());
        let mut r = SseRestorer::new(Arc::clone(&t)).strip_logprobs(strip);
        let mut out = Vec::new();
        for chunk in &chunks {
            out.extend(r.push(chunk));
        }
        out.extend(r.finish());
        let input = chunks.concat();
        if !input.windows(5).any(|w| w == b"data:") {
            prop_assert_eq!(out, input);
        }
    }
}

#[test]
fn sse_handles_usage_chunks_and_null_content() {
    let t = Arc::new(table());
    let mut input = content(0, "to PERSON_1");
    input += &chat_event(json!({"index": 0, "delta": {"content": null}, "finish_reason": "stop"}));
    input += "data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n";
    input += "data: [DONE]\n\n";
    let out = run_sse(&t, &[input.as_bytes()]);
    assert_eq!(texts(&out)["0/content"], format!("to {JANE}"));
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("\"usage\":{\"prompt_tokens\":3}"));
    assert!(out.find(JANE).unwrap() < out.find("\"finish_reason\":\"stop\"").unwrap());
}

// ----- memorized-data check on streamed answers -----

/// The default analyzer, built once for these tests.
fn analyzer() -> Arc<veil_detect::Analyzer> {
    static ANALYZER: std::sync::OnceLock<Arc<veil_detect::Analyzer>> = std::sync::OnceLock::new();
    Arc::clone(ANALYZER.get_or_init(|| Arc::new(veil_detect::Analyzer::builder().build().unwrap())))
}

fn stream_check() -> StreamLeakCheck {
    let ignore: std::collections::BTreeSet<DataClass> =
        [DataClass::Person, DataClass::Location, DataClass::DateTime]
            .into_iter()
            .collect();
    StreamLeakCheck::new(
        analyzer(),
        leak_check(b"tenant key"),
        ignore,
        Arc::new(|_: &DataClass| true),
    )
}

/// An answer with two values the caller never sent (a card, an email) and one it did.
const LEAKY: &str = "Sure. The card on file is 5425 2334 3010 9903, and the owner's \
                     address is bob.leaked@mail.example. Your own card 4111 1111 1111 1111 is fine.";

fn filtered(check: &StreamLeakCheck, pieces: &[&str]) -> String {
    let mut filter = check.filter();
    let mut out = String::new();
    for piece in pieces {
        out.push_str(&filter.push(piece));
    }
    out.push_str(&filter.finish());
    out
}

#[test]
fn streamed_answers_have_unexpected_values_redacted_and_reported() {
    let check = stream_check();
    let out = filtered(&check, &[LEAKY]);
    assert_eq!(
        out,
        "Sure. The card on file is <CREDIT_CARD>, and the owner's address is \
         <EMAIL_ADDRESS>. Your own card 4111 1111 1111 1111 is fine."
    );
    let report = check.report().lock().unwrap().clone();
    assert_eq!(report.classes[&DataClass::CreditCard], 1);
    assert_eq!(report.classes[&DataClass::EmailAddress], 1);
    assert_eq!(report.redacted, 2);
    assert!(!report.withheld);
}

#[test]
fn a_split_at_any_point_gives_the_same_answer_as_the_whole() {
    let whole = filtered(&stream_check(), &[LEAKY]);
    for cut in (1..LEAKY.len()).filter(|&c| LEAKY.is_char_boundary(c)) {
        let (a, b) = LEAKY.split_at(cut);
        assert_eq!(
            filtered(&stream_check(), &[a, b]),
            whole,
            "split at byte {cut}"
        );
    }
}

#[test]
fn token_by_token_streams_leak_nothing_and_hold_only_the_last_word() {
    // Pieces as models send them: a word with its leading space.
    let mut pieces = Vec::new();
    let mut last = 0;
    for (i, _) in LEAKY.match_indices(' ') {
        pieces.push(&LEAKY[last..i]);
        last = i;
    }
    pieces.push(&LEAKY[last..]);
    let check = stream_check();
    let mut filter = check.filter();
    let mut sent = String::new();
    for piece in &pieces {
        sent.push_str(&filter.push(piece));
        assert!(
            !sent.contains("5425"),
            "a group of the card left early: {sent:?}"
        );
        assert!(
            !sent.contains("bob.leaked"),
            "part of the email left early: {sent:?}"
        );
    }
    sent.push_str(&filter.finish());
    assert_eq!(sent, filtered(&stream_check(), &[LEAKY]));

    // Plain prose flows: only the word that may still grow is held.
    let mut filter = check.filter();
    assert_eq!(filter.push("Hello there, how are"), "Hello there, how ");
    assert_eq!(filter.push(" you?"), "are ");
    assert_eq!(filter.finish(), "you?");
}

#[test]
fn hold_covers_grouped_values_and_stops_at_words() {
    fn held(text: &str) -> &str {
        &text[super::leak_stream::hold_from(text)..]
    }
    assert_eq!(held("card 4950 1640 5832"), "4950 1640 5832");
    assert_eq!(held("card 4950 1640 "), "4950 1640 ");
    assert_eq!(held("iban GB82 WEST 1234"), "GB82 WEST 1234");
    assert_eq!(held("call +1 (212) 555"), "+1 (212) 555");
    assert_eq!(held(r#"{"card":"4950 1640"#), "4950 1640");
    assert_eq!(held("all done. "), "");
    assert_eq!(held("all done"), "done");
    assert_eq!(held("ünïcödé wörds"), "wörds");
    let long = "1234 ".repeat(100);
    assert_eq!(held(&long).len(), MAX_HOLD);
}

#[test]
fn streamed_tool_call_arguments_are_checked_too() {
    let check = stream_check();
    let args = r#"{"to":"bob.leaked@mail.example","card":"5425 2334 3010 9903"}"#;
    let mut whole = check.filter();
    let mut expected = whole.push(args);
    expected.push_str(&whole.finish());
    assert!(
        !expected.contains("bob.leaked") && !expected.contains("5425"),
        "{expected}"
    );
    for cut in (1..args.len()).step_by(3) {
        let (a, b) = args.split_at(cut);
        assert_eq!(
            filtered(&stream_check(), &[a, b]),
            expected,
            "split at {cut}"
        );
    }
}

#[test]
fn classes_policy_passes_are_counted_but_not_redacted() {
    let check = StreamLeakCheck::new(
        analyzer(),
        leak_check(b"tenant key"),
        Default::default(),
        Arc::new(|class: &DataClass| *class != DataClass::EmailAddress),
    );
    let out = filtered(&check, &[LEAKY]);
    assert!(out.contains("bob.leaked@mail.example") && !out.contains("5425"));
    let report = check.report().lock().unwrap().clone();
    assert_eq!(report.classes[&DataClass::EmailAddress], 1);
    assert_eq!(report.redacted, 1);
}

#[test]
fn sse_streams_are_checked_per_choice() {
    let check = stream_check();
    let mut sse = SseRestorer::new(Arc::new(RestoreTable::new())).leak_check(check.clone());
    let mut out = Vec::new();
    let words: Vec<&str> = LEAKY.split_inclusive(' ').collect();
    for word in &words {
        let event = json!({"id": "c1", "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]});
        out.extend(sse.push(format!("data: {event}\n\n").as_bytes()));
    }
    out.extend(sse.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"));
    out.extend(sse.finish());
    let text = String::from_utf8(out).unwrap();
    let mut content = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let Some(c) = v["choices"][0]["delta"]["content"].as_str()
        {
            content.push_str(c);
        }
    }
    assert_eq!(content, filtered(&stream_check(), &[LEAKY]));
    assert!(!text.contains("5425") && !text.contains("bob.leaked"));
    assert!(text.ends_with("data: [DONE]\n\n"));
}
