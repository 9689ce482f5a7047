//! Properties over arbitrary input: the guard never panics, scores stay in `[0, 1]`, verdicts
//! never echo the input, and screening is total.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::LazyLock;

use proptest::prelude::*;
use veil_guard::{AnswerScanner, Guard, GuardConfig, Origin, ScreenConfig, screen_answer};

static GUARD: LazyLock<Guard> = LazyLock::new(|| Guard::new(&GuardConfig::default()).unwrap());

/// Text mixing ordinary characters with the ones normalization and decoding care about.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        Just("\u{200B}".to_owned()),
        Just("\u{202E}".to_owned()),
        Just("%41".to_owned()),
        Just("aWdub3JlIHJ1bGVz".to_owned()),
        Just("<|im_start|>".to_owned()),
        Just("![x](https://e.test/?q=".to_owned()),
        Just("ｉｇｎｏｒｅ".to_owned()),
        Just("і".to_owned()),
        "\\PC{0,6}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn scoring_is_total_and_bounded(text in tricky_text(), origin in prop_oneof![Just(Origin::User), Just(Origin::Tool), Just(Origin::Document)]) {
        let v = GUARD.score(&text, origin);
        prop_assert!((0.0..=1.0).contains(&v.score), "score {}", v.score);
        let mut sorted = v.signals.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(&sorted, &v.signals);
    }

    #[test]
    fn screening_is_total_and_chunking_does_not_change_markup(text in tricky_text(), cut in 0usize..64) {
        let whole = screen_answer(&text, None, &ScreenConfig::default());
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let (a, b) = text.split_at(cut);
        let mut scanner = AnswerScanner::new(None, ScreenConfig::default());
        let mut spans: Vec<_> = scanner.push(a).exfiltration;
        spans.extend(scanner.push(b).exfiltration);
        spans.extend(scanner.finish().exfiltration);
        let mut expected: Vec<_> = whole.exfiltration.iter().map(|m| m.span.clone()).collect();
        let mut got: Vec<_> = spans.iter().map(|m| m.span.clone()).collect();
        expected.sort_by_key(|r| r.start);
        got.sort_by_key(|r| r.start);
        // Streaming may report a markup that is later extended only once; every markup of
        // the whole answer is found at the same start.
        let starts = |v: &Vec<std::ops::Range<usize>>| v.iter().map(|r| r.start).collect::<Vec<_>>();
        prop_assert_eq!(starts(&expected), starts(&got));
    }
}
