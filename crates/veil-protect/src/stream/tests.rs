use super::*;

/// Replaces every ASCII digit with `#`: enough to see which parts were transformed.
fn hide_digits(text: &str) -> Result<Cow<'_, str>, ProtectError> {
    if text.bytes().any(|b| b.is_ascii_digit()) {
        Ok(Cow::Owned(text.replace(|c: char| c.is_ascii_digit(), "#")))
    } else {
        Ok(Cow::Borrowed(text))
    }
}

fn run(format: &Format, input: &[u8], options: &Options) -> Result<(String, Report), StreamError> {
    let mut out = Vec::new();
    let report = process(format, input, &mut out, options, &mut hide_digits)?;
    Ok((String::from_utf8(out).unwrap(), report))
}

fn skip() -> Options {
    Options {
        skip_invalid: true,
        ..Options::default()
    }
}

#[test]
fn text_keeps_line_endings() {
    let (out, report) = run(&Format::Text, b"a1\r\nb2\n\nc3", &Options::default()).unwrap();
    assert_eq!(out, "a#\r\nb#\n\nc#");
    assert_eq!(report.records, 4);
}

#[test]
fn text_invalid_utf8_names_the_line_and_can_be_skipped() {
    let input = b"ok 1\nbad \xff 123-45-6789\nok 2\n";
    let err = run(&Format::Text, input, &Options::default()).unwrap_err();
    assert_eq!(err.to_string(), "line 2: invalid UTF-8");
    let (out, report) = run(&Format::Text, input, &skip()).unwrap();
    assert_eq!(out, "ok #\nok #\n");
    assert_eq!((report.records, report.skipped), (2, 1));
}

#[test]
fn overlong_lines_are_refused_without_buffering_them() {
    let options = Options {
        skip_invalid: true,
        max_line_bytes: 8,
    };
    let (out, report) = run(
        &Format::Text,
        b"short1\nway too long 12345\nend9\n",
        &options,
    )
    .unwrap();
    assert_eq!(out, "short#\nend#\n");
    assert_eq!(report.skipped, 1);
    let strict = Options {
        skip_invalid: false,
        max_line_bytes: 8,
    };
    let err = run(&Format::Text, b"way too long\n", &strict).unwrap_err();
    assert_eq!(err.to_string(), "line 1: line longer than 8 bytes");
}

#[test]
fn jsonl_fields_and_pointers() {
    let format = Format::Jsonl {
        fields: vec!["text".into(), "/meta/note".into()],
    };
    let input = br#"{"id":7,"text":"call 555","meta":{"note":"ssn 123","n":1}}
{"id":8,"text":null,"meta":{"note":"none"}}
"#;
    let (out, _) = run(&format, input, &Options::default()).unwrap();
    assert_eq!(
        out,
        "{\"id\":7,\"text\":\"call ###\",\"meta\":{\"note\":\"ssn ###\",\"n\":1}}\n\
         {\"id\":8,\"text\":null,\"meta\":{\"note\":\"none\"}}\n"
    );
}

#[test]
fn jsonl_without_fields_transforms_every_string() {
    let format = Format::Jsonl { fields: vec![] };
    let (out, _) = run(
        &format,
        br#"{"a":["x1",{"b":"y2"}],"n":3}"#,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out, r#"{"a":["x#",{"b":"y#"}],"n":3}"#);
}

#[test]
fn jsonl_errors_name_the_line_and_never_the_content() {
    let format = Format::Jsonl {
        fields: vec!["text".into()],
    };
    let cases: [(&[u8], &str); 5] = [
        (
            b"{\"text\":\"a\"}\n{\"text\": \"123-45-6789\"",
            "line 2: malformed JSON at column 22",
        ),
        (
            b"{\"text\":\"a\"}\n{\"other\":\"123-45-6789\"}",
            "line 2: missing field `text`",
        ),
        (
            b"{\"text\":123456789}",
            "line 1: field `text` is not a string",
        ),
        (b"[\"123-45-6789\"]", "line 1: not a JSON object"),
        (b"{\"text\":\"\xff\"}", "line 1: invalid UTF-8"),
    ];
    for (input, expected) in cases {
        let err = run(&format, input, &Options::default()).unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert!(!err.to_string().contains("6789"));
    }
    let input = b"{\"text\":\"1\"}\nnot json\n{\"x\":1}\n{\"text\":\"2\"}\n";
    let (out, report) = run(&format, input, &skip()).unwrap();
    assert_eq!(out, "{\"text\":\"#\"}\n{\"text\":\"#\"}\n");
    assert_eq!((report.records, report.skipped), (2, 2));
    assert_eq!(report.skip_examples[0].location(), Some(Location::Line(2)));
}

#[test]
fn csv_selected_columns_and_quoting() {
    let format = Format::Csv {
        columns: vec!["note".into()],
    };
    let input = "id,note\n1,\"call 555, now\"\n2,plain\n";
    let (out, report) = run(&format, input.as_bytes(), &Options::default()).unwrap();
    assert_eq!(out, "id,note\n1,\"call ###, now\"\n2,plain\n");
    assert_eq!(report.records, 2);
    let all = Format::Csv { columns: vec![] };
    let (out, _) = run(&all, input.as_bytes(), &Options::default()).unwrap();
    assert_eq!(out, "id,note\n#,\"call ###, now\"\n#,plain\n");
}

#[test]
fn csv_errors_name_the_record() {
    let format = Format::Csv {
        columns: vec!["note".into()],
    };
    let err = run(
        &format,
        b"id,note\n1,a\n2,b,extra 6789\n",
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "record 2 (line 3): 3 fields where the header has 2"
    );
    let err = run(&format, b"id,note\n1,\xff\n", &Options::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "record 1 (line 2): column `note` is not valid UTF-8"
    );
    let err = run(
        &Format::Csv {
            columns: vec!["nope".into()],
        },
        b"id\n1\n",
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "CSV header has no column `nope`");
    let (out, report) = run(&format, b"id,note\n1,a1\n2,b,c\n3,\xff\n4,d4\n", &skip()).unwrap();
    assert_eq!(out, "id,note\n1,a#\n4,d#\n");
    assert_eq!((report.records, report.skipped), (2, 2));
}

#[test]
fn empty_input_is_fine() {
    for format in [
        Format::Text,
        Format::Jsonl { fields: vec![] },
        Format::Csv { columns: vec![] },
    ] {
        let (out, report) = run(&format, b"", &Options::default()).unwrap();
        assert_eq!((out.as_str(), report.records), ("", 0));
    }
}

mod arbitrary_input {
    use proptest::prelude::*;

    use super::*;

    fn formats() -> impl Strategy<Value = Format> {
        prop_oneof![
            Just(Format::Text),
            Just(Format::Jsonl { fields: vec![] }),
            Just(Format::Jsonl {
                fields: vec!["text".into(), "/a/b".into()]
            }),
            Just(Format::Csv { columns: vec![] }),
            Just(Format::Csv {
                columns: vec!["text".into()]
            }),
        ]
    }

    fn inputs() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            // Near-valid records: quotes, commas, braces, escapes and newlines.
            "[{}\\[\\]\":,a-z0-9 \\\\\n\r]{0,120}".prop_map(String::into_bytes),
            "(text,a\n|\"x,1\",\"y\"\"z\"\n|1,2,3\n){0,6}".prop_map(String::into_bytes),
            "(\\{\"text\":\"[a-z0-9 ]{0,8}\"(,\"a\":\\{\"b\":\"q1\"\\})?\\}\n|\\{\\}\n|null\n){0,6}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The same checks as `fuzz/fuzz_targets/redact_readers.rs`, so CI exercises them
        /// on stable: no panic, skipping only when asked, located errors.
        #[test]
        fn readers_never_panic(format in formats(), input in inputs(), skip in any::<bool>(), small in any::<bool>()) {
            let options = Options {
                skip_invalid: skip,
                max_line_bytes: if small { 16 } else { 1 << 20 },
            };
            let mut out = Vec::new();
            match process(&format, input.as_slice(), &mut out, &options, &mut hide_digits) {
                Ok(report) => {
                    prop_assert!(skip || report.skipped == 0);
                    if !matches!(format, Format::Csv { .. }) {
                        // Every line is either written or skipped.
                        let lines = input.split(|&b| b == b'\n').count() as u64
                            - u64::from(input.ends_with(b"\n") || input.is_empty());
                        prop_assert_eq!(report.records + report.skipped, lines);
                    }
                }
                Err(err) => {
                    prop_assert!(!err.to_string().is_empty());
                    let skippable = matches!(err, StreamError::Invalid { .. });
                    prop_assert!(!(skip && skippable), "a skippable error stopped the run");
                }
            }
        }
    }
}
