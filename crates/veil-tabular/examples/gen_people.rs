//! Run with `cargo run --release -p veil-tabular --example gen_people -- ROWS OUT.csv`.
//!
//! Writes a synthetic people table for scaling benchmarks: an `id`, ten quasi-identifiers
//! (age, sex, zip, education, marital, race, country, workclass, hours, children) and a
//! sensitive `diagnosis`. Values are drawn from a fixed-seed generator with skewed
//! distributions, so runs are reproducible; nothing in it is real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write as _;

const EDUCATION: [&str; 16] = [
    "Preschool",
    "1st-4th",
    "5th-6th",
    "7th-8th",
    "9th",
    "10th",
    "11th",
    "12th",
    "HS-grad",
    "Some-college",
    "Assoc-voc",
    "Assoc-acdm",
    "Bachelors",
    "Masters",
    "Prof-school",
    "Doctorate",
];
const MARITAL: [&str; 7] = [
    "Married",
    "Never-married",
    "Divorced",
    "Separated",
    "Widowed",
    "Married-absent",
    "Married-AF",
];
const RACE: [&str; 5] = ["White", "Black", "Asian", "Amer-Indian", "Other"];
const WORKCLASS: [&str; 7] = [
    "Private",
    "Self-emp",
    "Self-emp-inc",
    "Federal",
    "Local",
    "State",
    "Without-pay",
];
const DIAGNOSIS: [&str; 20] = [
    "flu",
    "cold",
    "asthma",
    "diabetes",
    "hypertension",
    "migraine",
    "bronchitis",
    "gastritis",
    "arthritis",
    "anemia",
    "eczema",
    "allergy",
    "sinusitis",
    "insomnia",
    "otitis",
    "tendinitis",
    "gout",
    "angina",
    "hepatitis",
    "ulcer",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Skewed pick in 0..n: the minimum of two uniform draws favours small indices.
    fn skewed(&mut self, n: usize) -> usize {
        let a = (self.next() % n as u64) as usize;
        let b = (self.next() % n as u64) as usize;
        a.min(b)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: gen_people ROWS OUT.csv");
    let out = args.get(2).expect("usage: gen_people ROWS OUT.csv");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out).unwrap());
    writeln!(
        w,
        "id,age,sex,zip,education,marital,race,country,workclass,hours,children,diagnosis"
    )
    .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for id in 0..rows {
        let age = 18 + (rng.next() % 40 + rng.next() % 35) as u32;
        let sex = if rng.next().is_multiple_of(2) {
            "F"
        } else {
            "M"
        };
        let zip = 10_000 + rng.skewed(900) * 97 % 90_000;
        let hours = 10 + (rng.next() % 30 + rng.next() % 40) as u32;
        let children = rng.skewed(7);
        writeln!(
            w,
            "{id},{age},{sex},{zip:05},{},{},{},C{:02},{},{hours},{children},{}",
            EDUCATION[rng.skewed(16)],
            MARITAL[rng.skewed(7)],
            RACE[rng.skewed(5)],
            rng.skewed(40),
            WORKCLASS[rng.skewed(7)],
            DIAGNOSIS[rng.skewed(20)],
        )
        .unwrap();
    }
    w.flush().unwrap();
}
