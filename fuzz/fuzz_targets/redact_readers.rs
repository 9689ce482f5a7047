//! Fuzzes the JSON Lines and CSV readers of `veil redact` (`veil_protect::stream`): any input
//! either processes or fails with a located error, never panics, and a transform that
//! changes every selected string is applied to every record written.
//!
//! Run with `cargo +nightly fuzz run redact_readers` from the repository root.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use veil_protect::stream::{self, Format, Options};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format and options; the rest is the input.
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let format = match selector % 4 {
        0 => Format::Jsonl { fields: vec![] },
        1 => Format::Jsonl {
            fields: vec!["text".into(), "/a/b".into()],
        },
        2 => Format::Csv { columns: vec![] },
        _ => Format::Csv {
            columns: vec!["text".into()],
        },
    };
    let options = Options {
        skip_invalid: selector & 0x10 != 0,
        max_line_bytes: if selector & 0x20 != 0 { 64 } else { 1 << 20 },
    };
    let mut transform = stream::transform(|text| {
        if text.is_empty() {
            Ok(Cow::Borrowed(text))
        } else {
            Ok(Cow::Owned(format!("<{}>", text.len())))
        }
    });
    let mut out = Vec::new();
    match stream::process(&format, input, &mut out, &options, &mut transform) {
        Ok(report) => {
            // Skipping only happens when asked for.
            assert!(options.skip_invalid || report.skipped == 0);
        }
        Err(err) => {
            // Errors are displayable and never asked to skip what was skippable.
            let message = err.to_string();
            assert!(!message.is_empty());
            if options.skip_invalid {
                assert!(!matches!(err, stream::StreamError::Invalid { .. }));
            }
        }
    }
});
