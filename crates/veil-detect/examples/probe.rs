//! Run with `cargo run -p veil-detect --example probe -- "text"`: prints findings (debug aid).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
fn main() {
    let a = veil_detect::Analyzer::builder()
        .min_score(0.0)
        .build()
        .unwrap();
    for text in std::env::args().skip(1) {
        println!("== {text}");
        for f in a.analyze(&text) {
            println!(
                "  {:<16} {:>5.2} {:<28} {:?}",
                f.class.as_str(),
                f.score,
                f.evidence.pattern,
                &text[f.bytes.clone()]
            );
        }
    }
}
