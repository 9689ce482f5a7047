//! The paraphrase test data (`testdata/monitoring/paraphrases.txt`) and its expansion, shared
//! by the detector's unit tests and the HTTP tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]

/// The lines of `testdata/monitoring/paraphrases.txt`, each a request with `{a|b|c}`
/// alternatives.
pub fn paraphrase_templates() -> Vec<&'static str> {
    include_str!("../../../../testdata/monitoring/paraphrases.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Expansion `n` of a template: alternative `n / (product of the earlier slots' sizes) mod
/// size` in each slot, so consecutive `n` vary the first slots fastest and every expansion
/// up to the product is distinct.
pub fn expand(template: &str, n: usize) -> String {
    let mut out = String::new();
    let mut rest = template;
    let mut n = n;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').unwrap();
        let options: Vec<&str> = rest[open + 1..close].split('|').collect();
        out.push_str(options[n % options.len()]);
        n /= options.len();
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// How many distinct expansions a template has.
pub fn expansions(template: &str) -> usize {
    template
        .split('{')
        .skip(1)
        .map(|slot| slot.split('}').next().unwrap().split('|').count())
        .product()
}
