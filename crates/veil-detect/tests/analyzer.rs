//! Analyzer behaviour: each class found in a plain sentence, hard negatives not found,
//! builder options (entities, min score, allow/deny lists, custom TOML, extra recognizers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use veil_detect::{Analyzer, Candidate, DataClass, Evidence, Recognizer};

fn labels(analyzer: &Analyzer, text: &str) -> Vec<(String, String)> {
    analyzer
        .analyze(text)
        .into_iter()
        .map(|f| (f.class.to_string(), text[f.bytes].to_owned()))
        .collect()
}

/// Building compiles every pattern: share one default analyzer across the tests.
fn default_analyzer() -> &'static Analyzer {
    static ANALYZER: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
    ANALYZER.get_or_init(|| Analyzer::builder().build().unwrap())
}

fn one(text: &str) -> Vec<(String, String)> {
    labels(default_analyzer(), text)
}

fn has(text: &str, class: &str, value: &str) {
    let got = one(text);
    assert!(
        got.iter().any(|(c, v)| c == class && v == value),
        "expected {class} `{value}` in {text:?}, got {got:?}"
    );
}

fn none_of(text: &str, class: &str) {
    let got = one(text);
    assert!(
        !got.iter().any(|(c, _)| c == class),
        "unexpected {class} in {text:?}: {got:?}"
    );
}

#[test]
fn finds_each_structured_class() {
    has(
        "write to jane.doe@example.com today",
        "EMAIL_ADDRESS",
        "jane.doe@example.com",
    );
    has(
        "call (415) 555-0132 ext. 12",
        "PHONE_NUMBER",
        "(415) 555-0132 ext. 12",
    );
    has(
        "mobile +44 20 7946 0958",
        "PHONE_NUMBER",
        "+44 20 7946 0958",
    );
    has(
        "card 5555 5555 5555 4444 exp 12/27",
        "CREDIT_CARD",
        "5555 5555 5555 4444",
    );
    has("amex 378282246310005", "CREDIT_CARD", "378282246310005");
    has("SSN 536-22-1478", "US_SSN", "536-22-1478");
    has("my ssn is 536221478", "US_SSN", "536221478");
    has(
        "IBAN DE89 3704 0044 0532 0130 00",
        "IBAN_CODE",
        "DE89 3704 0044 0532 0130 00",
    );
    has("from 10.0.12.7 at noon", "IP_ADDRESS", "10.0.12.7");
    has(
        "host 2001:db8::8a2e:370:7334",
        "IP_ADDRESS",
        "2001:db8::8a2e:370:7334",
    );
    has(
        "device 00:1A:2B:3C:4D:5E",
        "MAC_ADDRESS",
        "00:1A:2B:3C:4D:5E",
    );
    has(
        "see https://example.com/a?b=1.",
        "URL",
        "https://example.com/a?b=1",
    );
    has("DOB: 03/15/1980", "DATE_TIME", "03/15/1980");
    has("a 67-year-old woman", "AGE", "67");
    has(
        "ship to 1234 Oak Street, Springfield, IL 62704",
        "STREET_ADDRESS",
        "1234 Oak Street, Springfield, IL 62704",
    );
    has("zip code 94105", "ZIP_CODE", "94105");
    has("NHS number 943 476 5919", "UK_NHS", "943 476 5919");
    has("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C");
    has("Aadhaar 2341 2341 2346", "IN_AADHAAR", "2341 2341 2346");
    has("PAN ABCPE1234F", "IN_PAN", "ABCPE1234F");
    has("MRN 00123456", "MEDICAL_RECORD_NUMBER", "00123456");
    has("passport number 912345678", "US_PASSPORT", "912345678");
    has("driver license D1234567", "US_DRIVER_LICENSE", "D1234567");
    has(
        "bank account number 000123456789",
        "US_BANK_NUMBER",
        "000123456789",
    );
    has("ITIN 912-78-1234", "US_ITIN", "912-78-1234");
    has(
        "send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "CRYPTO",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    );
    has(
        "eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "CRYPTO",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    has("key AKIAIOSFODNN7EXAMPLE", "SECRET", "AKIAIOSFODNN7EXAMPLE");
    has(
        "postgres://app:Zq8sLp2x@db.internal/app",
        "SECRET",
        "Zq8sLp2x",
    );
}

#[test]
fn hard_negatives_do_not_fire() {
    none_of("card 4111 1111 1111 1112", "CREDIT_CARD");
    none_of("order 1234567812345678 shipped", "CREDIT_CARD");
    none_of("SSN 666-22-1478", "US_SSN");
    none_of("SSN 000-22-1478", "US_SSN");
    none_of("SSN 912-22-1478", "US_SSN");
    none_of("running version 1.2.3.4 now", "IP_ADDRESS");
    none_of("edit main.rs and lib.rs", "URL");
    none_of("id 550e8400-e29b-41d4-a716-446655440000", "PHONE_NUMBER");
    none_of(
        "BP 120/80, HR 72, 500 mg twice daily for 3 days",
        "DATE_TIME",
    );
    none_of("invoice 55123 paid", "ZIP_CODE");
    none_of(
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "SECRET",
    );
    none_of("btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "CRYPTO");
    none_of("NHS number 943 476 5918", "UK_NHS");
    none_of("Aadhaar 2341 2341 2345", "IN_AADHAAR");
}

/// Regression: a Luhn-valid 16-digit card followed by a short number (` 42`) was missed: the
/// grouped pattern read it as an 18-digit card, which no issuer uses, and the 16-digit
/// reading was then rejected as a piece of a longer number.
#[test]
fn card_next_to_a_short_number_is_found() {
    for text in [
        "4950 1640 5832 2658 42",
        "card 4950 1640 5832 2658 42 times declined",
        "paid with 4950164058322658 42 EUR",
        "room 12 4950 1640 5832 2658",
    ] {
        let value = one(text)
            .into_iter()
            .find(|(class, _)| class == "CREDIT_CARD")
            .map(|(_, value)| value);
        let digits: Option<String> =
            value.map(|v| v.chars().filter(char::is_ascii_digit).collect());
        assert_eq!(digits.as_deref(), Some("4950164058322658"), "in {text:?}");
    }
    // A 19-digit card in 4-4-4-4-3 groups is still read whole.
    has(
        "card 4000 0000 0000 0000 006",
        "CREDIT_CARD",
        "4000 0000 0000 0000 006",
    );
    // A full group of 4 more digits still makes it a piece of a longer number.
    none_of("ref 4950 1640 5832 2658 4212", "CREDIT_CARD");
    none_of("ref 1234 4950 1640 5832 2658", "CREDIT_CARD");
    // The short neighbour alone does not make a card: the 16 digits must pass.
    none_of("card 4950 1640 5832 2659 42", "CREDIT_CARD");
}

#[test]
fn findings_are_sorted_disjoint_and_carry_char_offsets() {
    let text = "Zoë’s e-mail: zoë@example.com — IBAN GB82 WEST 1234 5698 7654 32.";
    let found = default_analyzer().analyze(text);
    assert!(!found.is_empty());
    for pair in found.windows(2) {
        assert!(pair[0].bytes.end <= pair[1].bytes.start);
    }
    for f in &found {
        let by_chars: String = text
            .chars()
            .skip(f.chars.start)
            .take(f.chars.len())
            .collect();
        assert_eq!(by_chars, text[f.bytes.clone()]);
    }
}

#[test]
fn entities_and_min_score_filter() {
    let text = "mail a@b.io, SSN 536-22-1478";
    let only_ssn = Analyzer::builder()
        .entities([DataClass::UsSsn])
        .build()
        .unwrap();
    assert_eq!(
        labels(&only_ssn, text),
        [("US_SSN".to_owned(), "536-22-1478".to_owned())]
    );
    let strict = Analyzer::builder().min_score(1.0).build().unwrap();
    assert!(strict.analyze("ITIN 912-78-1234").is_empty());
}

#[test]
fn allow_and_deny_lists() {
    let analyzer = Analyzer::builder()
        .allow_list(["support@veil.example"])
        .deny_list(DataClass::custom("PROJECT").unwrap(), ["Bluebird"])
        .build()
        .unwrap();
    let got = labels(
        &analyzer,
        "ask support@veil.example or jo@x.io about Bluebird, not Bluebirds",
    );
    assert_eq!(
        got,
        [
            ("EMAIL_ADDRESS".to_owned(), "jo@x.io".to_owned()),
            ("PROJECT".to_owned(), "Bluebird".to_owned())
        ]
    );
}

#[test]
fn custom_recognizers_from_toml() {
    let toml = r#"
        [[recognizer]]
        name = "employee_id"
        class = "EMPLOYEE_ID"
        pattern = 'EMP-\d{6}'
        score = 0.8

        [[recognizer]]
        name = "loyalty_card"
        class = "LOYALTY_CARD"
        pattern = '\d{10}'
        validator = "luhn"
        context = ["loyalty"]
        needs_context = true
    "#;
    let analyzer = Analyzer::builder()
        .custom_recognizers_toml(toml)
        .unwrap()
        .build()
        .unwrap();
    let got = labels(&analyzer, "badge EMP-001234, loyalty number 7992739875");
    assert_eq!(got[0], ("EMPLOYEE_ID".to_owned(), "EMP-001234".to_owned()));
    assert_eq!(got[1], ("LOYALTY_CARD".to_owned(), "7992739875".to_owned()));
    // Luhn-failing value: not reported; no context: not reported.
    assert!(
        labels(&analyzer, "loyalty number 7992739876")
            .iter()
            .all(|(c, _)| c != "LOYALTY_CARD")
    );
    assert!(
        labels(&analyzer, "number 7992739875")
            .iter()
            .all(|(c, _)| c != "LOYALTY_CARD")
    );

    // A Unicode word boundary in a custom pattern, on non-ASCII text (the lazy DFA cannot
    // handle it there; the analyzer must fall back, not miss or fail).
    let unicode = Analyzer::builder()
        .custom_recognizers_toml(
            "[[recognizer]]\nname = 'acme'\nclass = 'ACME_ID'\npattern = '\\bACME-\\d+\\b'\n",
        )
        .unwrap()
        .build()
        .unwrap();
    // (The names recognizer rightly reports "Zoë" as PERSON; only the custom class matters here.)
    let custom: Vec<_> = labels(&unicode, "Zoë’s id: ACME-42, café ACME-7é")
        .into_iter()
        .filter(|(class, _)| class == "ACME_ID")
        .collect();
    assert_eq!(custom, [("ACME_ID".to_owned(), "ACME-42".to_owned())]);

    let bad = Analyzer::builder()
        .custom_recognizers_toml("[[recognizer]]\nname = 'x'\nclass = 'X'\npattern = '('\n");
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("custom recognizer `x`: invalid pattern")
    );
    let unknown = Analyzer::builder().custom_recognizers_toml(
        "[[recognizer]]\nname='x'\nclass='X'\npattern='a'\nvalidator='md5'\n",
    );
    assert!(unknown.is_err());
    let typo = Analyzer::builder()
        .custom_recognizers_toml("[[recognizer]]\nname='x'\nclass='X'\npatern='a'\n");
    assert!(typo.is_err());
}

/// A stand-in for the names recognizer: proposes PERSON for a fixed word.
struct Toy;

impl Recognizer for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn classes(&self) -> &[DataClass] {
        &[DataClass::Person]
    }
    fn recognize(&self, text: &str, out: &mut Vec<Candidate>) {
        if let Some(i) = text.find("Ada") {
            out.push(Candidate {
                class: DataClass::Person,
                bytes: i..i + 3,
                score: 0.9,
                recognizer: "toy",
                evidence: Evidence::default(),
            });
        }
        // An out-of-bounds candidate must be dropped, not trusted.
        out.push(Candidate {
            class: DataClass::Person,
            bytes: 0..text.len() + 10,
            score: 0.9,
            recognizer: "toy",
            evidence: Evidence::default(),
        });
    }
}

#[test]
fn extra_recognizers_plug_in() {
    let analyzer = Analyzer::builder()
        .with_recognizer(Box::new(Toy))
        .build()
        .unwrap();
    let got = labels(&analyzer, "Ada wrote to ada@example.com");
    assert_eq!(got[0], ("PERSON".to_owned(), "Ada".to_owned()));
    assert_eq!(got[1].0, "EMAIL_ADDRESS");
    let without = Analyzer::builder()
        .with_recognizer(Box::new(Toy))
        .entities([DataClass::EmailAddress])
        .build()
        .unwrap();
    assert_eq!(labels(&without, "Ada wrote").len(), 0);
}

#[test]
fn evidence_explains_the_score() {
    let found = default_analyzer().analyze("NHS number 943 476 5919");
    let f = &found[0];
    assert_eq!(f.evidence.pattern, "nhs");
    assert!(
        f.evidence
            .context
            .iter()
            .any(|h| h.word.starts_with("nhs") && h.delta > 0.0)
    );
    assert!(f.score > f.evidence.base_score);
    // Debug output of a finding never contains the value.
    assert!(!format!("{f:?}").contains("943 476 5919"));
}

#[test]
fn analyzer_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Analyzer>();
    let a = default_analyzer().clone();
    let handle = std::thread::spawn(move || a.analyze("SSN 536-22-1478").len());
    assert_eq!(handle.join().unwrap(), 1);
}
