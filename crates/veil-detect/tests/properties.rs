//! Property tests: for arbitrary input the analyzer never panics and its findings are in
//! bounds, on char boundaries, consistent between byte and char offsets, sorted and disjoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use proptest::prelude::*;
use veil_detect::Analyzer;

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| {
        Analyzer::builder()
            .min_score(0.0)
            .deny_list(
                veil_detect::DataClass::custom("CODENAME").unwrap(),
                ["Bluebird", "é"],
            )
            .build()
            .unwrap()
    })
}

/// Text that looks like what the recognizers look for: digits, separators, letters, `@`,
/// non-ASCII letters, so candidates and near-misses are frequent.
fn pii_like() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        "[0-9]{1,19}",
        "[ .:/@+()\\-\n,]{1,3}",
        "[A-Za-z]{1,12}",
        Just("é".to_owned()),
        Just("ß".to_owned()),
        Just("日本".to_owned()),
        Just("4111 1111 1111 1111".to_owned()),
        Just("536-22-1478".to_owned()),
        Just("a@b.io".to_owned()),
        Just("https://x.io/".to_owned()),
        Just("SSN ".to_owned()),
        Just("Bluebird".to_owned()),
        Just("2001:db8::1".to_owned()),
        Just("March 5, 2024".to_owned()),
    ];
    proptest::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let found = analyzer().analyze(text);
    let mut last_end = 0;
    for f in &found {
        assert!(f.bytes.start < f.bytes.end && f.bytes.end <= text.len());
        assert!(text.is_char_boundary(f.bytes.start) && text.is_char_boundary(f.bytes.end));
        assert!(
            f.bytes.start >= last_end,
            "overlapping or unsorted findings"
        );
        last_end = f.bytes.end;
        assert_eq!(text[..f.bytes.start].chars().count(), f.chars.start);
        assert_eq!(text[f.bytes.clone()].chars().count(), f.chars.len());
        assert!((0.0..=1.0).contains(&f.score));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn findings_are_well_formed_on_any_string(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn findings_are_well_formed_on_pii_like_text(text in pii_like()) {
        check(&text);
    }
}
