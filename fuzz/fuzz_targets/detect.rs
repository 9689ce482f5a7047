//! Fuzz the detector: any UTF-8 input must analyze without panicking, and the findings must
//! be in bounds, on char boundaries, sorted and disjoint, with consistent char offsets.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veil_detect::{Analyzer, DataClass};

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| {
        let custom = "[[recognizer]]\nname = \"ticket\"\nclass = \"TICKET\"\npattern = 'T-\\d{4,8}'\nvalidator = \"luhn\"\ncontext = [\"ticket\"]\n";
        let builder = Analyzer::builder()
            .min_score(0.0)
            .deny_list(DataClass::custom("CODENAME").unwrap_or(DataClass::Person), ["Bluebird"])
            .allow_list(["a@b.io"]);
        match builder.custom_recognizers_toml(custom) {
            Ok(b) => b.build(),
            Err(e) => Err(e),
        }
        .unwrap_or_else(|e| panic!("fuzz analyzer does not build: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut last_end = 0;
    for f in analyzer().analyze(text) {
        assert!(f.bytes.start < f.bytes.end && f.bytes.end <= text.len());
        assert!(text.is_char_boundary(f.bytes.start) && text.is_char_boundary(f.bytes.end));
        assert!(f.bytes.start >= last_end);
        last_end = f.bytes.end;
        let chars_before = text.get(..f.bytes.start).map_or(0, |s| s.chars().count());
        assert_eq!(chars_before, f.chars.start);
    }
});
