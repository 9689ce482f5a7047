//! Surrogates: realistic fakes of the same class, derived from an HMAC of the value.
//!
//! Each fake is drawn from a deterministic byte stream keyed by the tenant's pseudonym key
//! and seeded with the class, the value and an attempt number, so the same value gives the
//! same fake (the scope mapping retries with the next attempt when two values collide).
//! The fakes are chosen so that they cannot be someone's real data:
//!
//! - cards: Luhn-valid, in the `400000` test range, same length and separators;
//! - SSNs: area 900–999 (never issued as SSNs) with group 01–49 (not an ITIN group either);
//! - phones: 555-01XX numbers (reserved for fiction in the NANP);
//! - e-mails and URLs: the RFC 2606 `example.*` domains; IPs: RFC 5737 / RFC 3849 ranges;
//! - MACs: locally administered addresses; IBANs: valid mod-97 with random BBAN digits;
//! - names, places, organisations: small built-in lists of common words;
//! - anything else: the same shape (digits for digits, letters for letters, case kept).
//!
//! The stream is written here rather than taken from a `rand` generator because what we need
//! is a keyed PRF stream, which HMAC-SHA256 in counter mode already is (NIST SP 800-108).

use veil_detect::DataClass;

use crate::{crypto::hmac, keys::SubKey};

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Steven",
    "Sandra",
    "Paul",
    "Ashley",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "George",
    "Amanda",
    "Edward",
    "Melissa",
    "Ronald",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Ryan",
    "Laura",
    "Jacob",
    "Helen",
    "Gary",
    "Sharon",
    "Nicholas",
    "Cynthia",
    "Eric",
    "Kathleen",
    "Priya",
    "Wei",
    "Omar",
    "Fatima",
    "Hiroshi",
    "Ana",
    "Lucas",
    "Sofia",
    "Mateo",
    "Amara",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Chen",
    "Kim",
    "Singh",
    "Okafor",
    "Silva",
    "Novak",
    "Larsen",
    "Murphy",
    "Cohen",
];

const STREETS: &[&str] = &[
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Willow", "Birch", "Lake", "Hill", "Park", "River",
    "Meadow", "Sunset", "Highland", "Spring", "Church", "Mill", "Forest", "Valley", "Ridge",
];
const STREET_SUFFIXES: &[&str] = &["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way"];
const CITIES: &[&str] = &[
    "Springfield",
    "Riverton",
    "Fairview",
    "Greenville",
    "Franklin",
    "Clinton",
    "Salem",
    "Madison",
    "Georgetown",
    "Arlington",
    "Ashland",
    "Bristol",
    "Dover",
    "Milton",
    "Oxford",
    "Kingston",
    "Lakewood",
    "Newport",
    "Centerville",
    "Marion",
];
const ORG_WORDS: &[&str] = &[
    "Northwind",
    "Bluebird",
    "Silverline",
    "Harbor",
    "Summit",
    "Evergreen",
    "Granite",
    "Beacon",
    "Pioneer",
    "Crescent",
    "Keystone",
    "Lighthouse",
    "Redwood",
    "Horizon",
    "Atlas",
    "Juniper",
];
const ORG_SUFFIXES: &[&str] = &[
    "Holdings",
    "Group",
    "Labs",
    "Partners",
    "Health",
    "Logistics",
    "Systems",
    "Foods",
    "Bank",
    "Clinic",
];
const EXAMPLE_TLDS: &[&str] = &["com", "org", "net"];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A keyed pseudorandom byte stream: block i = HMAC(key, seed || i).
pub(crate) struct Stream<'k> {
    key: &'k SubKey,
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    pos: usize,
}

impl<'k> Stream<'k> {
    pub(crate) fn new(key: &'k SubKey, class: &DataClass, value: &str, attempt: u32) -> Self {
        let seed = hmac(
            key,
            &[
                b"surrogate",
                class.as_str().as_bytes(),
                value.as_bytes(),
                &attempt.to_be_bytes(),
            ],
        );
        Self {
            key,
            seed,
            counter: 0,
            block: [0; 32],
            pos: 32,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.pos >= self.block.len() {
            self.block = hmac(self.key, &[&self.seed, &self.counter.to_be_bytes()]);
            self.counter += 1;
            self.pos = 0;
        }
        let b = self.block.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A number in `0..n` (n > 0). Bias from the 64-bit modulo is below 2^-50 for our n.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let mut x = 0u64;
        for _ in 0..8 {
            x = (x << 8) | u64::from(self.byte());
        }
        x % n.max(1)
    }

    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive.saturating_sub(lo) + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }

    fn digit(&mut self) -> char {
        char::from(b'0' + self.below(10) as u8)
    }
}

/// A fake for `value` of `class`; `attempt` > 0 after a collision in the scope mapping.
/// Never returns `value` itself.
pub(crate) fn generate(key: &SubKey, class: &DataClass, value: &str, attempt: u32) -> String {
    for extra in 0..8u32 {
        let mut s = Stream::new(
            key,
            class,
            value,
            attempt.wrapping_mul(8).wrapping_add(extra),
        );
        let fake = generate_with(&mut s, class, value);
        if fake != value {
            return fake;
        }
    }
    // Eight draws all equal to the input only happens for inputs with almost no entropy in
    // their shape (e.g. punctuation only); the class name is then a safe replacement.
    format!("<{class}>")
}

fn generate_with(s: &mut Stream<'_>, class: &DataClass, value: &str) -> String {
    match class {
        DataClass::EmailAddress => {
            let first = s.pick(FIRST_NAMES).to_lowercase();
            let last = s.pick(LAST_NAMES).to_lowercase();
            let n = s.below(100);
            let tld = s.pick(EXAMPLE_TLDS);
            format!("{first}.{last}{n}@example.{tld}")
        }
        DataClass::Person => {
            let first = s.pick(FIRST_NAMES);
            if value.trim().contains(char::is_whitespace) {
                format!("{first} {}", s.pick(LAST_NAMES))
            } else {
                first.to_owned()
            }
        }
        DataClass::CreditCard => card(s, value),
        DataClass::UsSsn => ssn(s, value),
        DataClass::PhoneNumber => phone(s, value),
        DataClass::IpAddress => {
            if value.contains(':') {
                format!("2001:db8::{:x}:{:x}", s.below(0x1_0000), s.below(0x1_0000))
            } else {
                let net = s.pick(&["192.0.2", "198.51.100", "203.0.113"]);
                format!("{net}.{}", s.range(1, 254))
            }
        }
        DataClass::MacAddress => {
            let mut hex = String::from("02");
            for _ in 0..10 {
                hex.push(char::from_digit(s.below(16) as u32, 16).unwrap_or('0'));
            }
            let upper = value.chars().any(|c| c.is_ascii_uppercase());
            let hex = if upper { hex.to_uppercase() } else { hex };
            fill(value, |c| c.is_ascii_hexdigit(), hex.chars())
        }
        DataClass::Url => {
            let mut path = String::new();
            for _ in 0..8 {
                path.push(char::from(b'a' + s.below(26) as u8));
            }
            let tld = s.pick(EXAMPLE_TLDS);
            if value.contains("://") {
                format!("https://www.example.{tld}/{path}")
            } else {
                format!("www.example.{tld}/{path}")
            }
        }
        DataClass::IbanCode => iban(s, value),
        DataClass::DateTime => date(s, value),
        DataClass::Age => {
            let age = s.range(18, 89).to_string();
            replace_digit_runs(value, |_| age.clone())
        }
        DataClass::StreetAddress => format!(
            "{} {} {}",
            s.range(1, 9999),
            s.pick(STREETS),
            s.pick(STREET_SUFFIXES)
        ),
        DataClass::Location => s.pick(CITIES).to_owned(),
        DataClass::Organization => format!("{} {}", s.pick(ORG_WORDS), s.pick(ORG_SUFFIXES)),
        _ => shape(s, value),
    }
}

/// Replaces the characters of `template` accepted by `slot`, in order, with `with`.
fn fill(
    template: &str,
    slot: impl Fn(char) -> bool,
    mut with: impl Iterator<Item = char>,
) -> String {
    template
        .chars()
        .map(|c| if slot(c) { with.next().unwrap_or(c) } else { c })
        .collect()
}

/// Same shape: random digit for a digit, letter of the same case for a letter.
fn shape(s: &mut Stream<'_>, value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                s.digit()
            } else if c.is_ascii_lowercase() {
                char::from(b'a' + s.below(26) as u8)
            } else if c.is_ascii_uppercase() {
                char::from(b'A' + s.below(26) as u8)
            } else if c.is_alphabetic() {
                // Non-ASCII letters become ASCII ones: the shape survives, the script need not.
                char::from(b'a' + s.below(26) as u8)
            } else {
                c
            }
        })
        .collect()
}

fn digit_count(value: &str) -> usize {
    value.chars().filter(char::is_ascii_digit).count()
}

fn luhn_check_digit(payload: &[u8]) -> u8 {
    // Double every second digit from the right of the payload (the check digit goes after it).
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn card(s: &mut Stream<'_>, value: &str) -> String {
    let n = digit_count(value);
    let (n, template) = if (12..=19).contains(&n) {
        (n, value.to_owned())
    } else {
        (16, "0".repeat(16))
    };
    let mut digits: Vec<u8> = vec![4, 0, 0, 0, 0, 0];
    while digits.len() < n - 1 {
        digits.push(s.below(10) as u8);
    }
    digits.push(luhn_check_digit(&digits));
    fill(
        &template,
        |c| c.is_ascii_digit(),
        digits.into_iter().map(|d| char::from(b'0' + d)),
    )
}

fn ssn(s: &mut Stream<'_>, value: &str) -> String {
    let new = format!(
        "{}{:02}{:04}",
        s.range(900, 999),
        s.range(1, 49),
        s.range(1, 9999)
    );
    if digit_count(value) == 9 {
        fill(value, |c| c.is_ascii_digit(), new.chars())
    } else {
        let part = |r: std::ops::Range<usize>| new.get(r).unwrap_or_default();
        format!("{}-{}-{}", part(0..3), part(3..5), part(5..new.len()))
    }
}

fn phone(s: &mut Stream<'_>, value: &str) -> String {
    let n = digit_count(value);
    if n < 7 {
        return shape(s, value);
    }
    let mut digits = String::new();
    // Leading digits (country and area code): first non-zero, the rest random.
    for i in 0..n - 7 {
        digits.push(if i == 0 {
            char::from(b'1' + s.below(9) as u8)
        } else {
            s.digit()
        });
    }
    digits.push_str("55501");
    digits.push(s.digit());
    digits.push(s.digit());
    fill(value, |c| c.is_ascii_digit(), digits.chars())
}

fn iban(s: &mut Stream<'_>, value: &str) -> String {
    let compact: Vec<char> = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.len() < 5 || !compact.iter().take(2).all(char::is_ascii_alphabetic) {
        return shape(s, value);
    }
    let country: String = compact.iter().take(2).collect();
    let bban: String = compact
        .iter()
        .skip(4)
        .map(|c| {
            if c.is_ascii_digit() {
                s.digit()
            } else {
                char::from(b'A' + s.below(26) as u8)
            }
        })
        .collect();
    // ISO 13616 check digits: 98 - (BBAN || country || "00" as digits) mod 97.
    let rearranged = format!("{bban}{country}00");
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = c.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    let check = 98 - rem;
    let new = format!("{country}{check:02}{bban}");
    fill(value, |c| c.is_ascii_alphanumeric(), new.chars())
}

fn replace_digit_runs(value: &str, mut with: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(value.len());
    let mut run = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            if !run.is_empty() {
                out.push_str(&with(&run));
                run.clear();
            }
            out.push(c);
        }
    }
    if !run.is_empty() {
        out.push_str(&with(&run));
    }
    out
}

/// Dates and times: a 4-digit run becomes a year in 1940–2010; shorter runs become a number
/// no larger than the original (so months stay ≤ 12, days ≤ 28, hours and minutes in range);
/// month names become another month in the same style.
fn date(s: &mut Stream<'_>, value: &str) -> String {
    let numbers = replace_digit_runs(value, |run| {
        let original: u64 = run.parse().unwrap_or(0);
        if run.len() == 4 {
            s.range(1940, 2010).to_string()
        } else if original == 0 {
            run.to_owned()
        } else {
            let new = s.range(1, original.min(28));
            format!("{new:0width$}", width = run.len())
        }
    });
    let mut out = String::with_capacity(numbers.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, s: &mut Stream<'_>| {
        let is_month = MONTHS.iter().any(|m| {
            m.eq_ignore_ascii_case(word)
                || (word.len() == 3 && m.get(..3).is_some_and(|a| a.eq_ignore_ascii_case(word)))
        });
        if is_month {
            let m = s.pick(MONTHS);
            let m = if word.len() == 3 {
                m.get(..3).unwrap_or(m)
            } else {
                m
            };
            if word.chars().all(|c| c.is_ascii_uppercase()) {
                out.push_str(&m.to_uppercase());
            } else {
                out.push_str(m);
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in numbers.chars() {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            flush(&mut word, &mut out, s);
            out.push(c);
        }
    }
    flush(&mut word, &mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Purpose, RootKey};

    fn key() -> SubKey {
        RootKey::from_bytes([5; 32]).derive(Purpose::PseudonymHmac, b"t")
    }

    fn luhn_ok(s: &str) -> bool {
        let d: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        let (payload, check) = d.split_at(d.len() - 1);
        luhn_check_digit(payload) == check[0]
    }

    #[test]
    fn cards_are_luhn_valid_test_range_same_shape() {
        let k = key();
        for (i, card) in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
        ]
        .iter()
        .enumerate()
        {
            let fake = generate(&k, &DataClass::CreditCard, card, i as u32);
            assert_eq!(fake.len(), card.len());
            assert!(fake.replace([' ', '-'], "").starts_with("400000"));
            assert!(luhn_ok(&fake), "{fake}");
            assert_eq!(
                fake.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>(),
                card.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>()
            );
        }
        assert!(luhn_ok("4111111111111111"));
        assert!(!luhn_ok("4111111111111112"));
    }

    #[test]
    fn ssns_are_never_issued_form() {
        let fake = generate(&key(), &DataClass::UsSsn, "123-45-6789", 0);
        assert_eq!(fake.len(), 11);
        assert!(fake.starts_with('9'));
        let group: u32 = fake[4..6].parse().unwrap();
        assert!((1..=49).contains(&group));
    }

    #[test]
    fn deterministic_per_key_and_value() {
        let k = key();
        let a = generate(&k, &DataClass::EmailAddress, "jane@corp.com", 0);
        assert_eq!(
            a,
            generate(&k, &DataClass::EmailAddress, "jane@corp.com", 0)
        );
        assert!(a.contains("@example."));
        let other = RootKey::from_bytes([6; 32]).derive(Purpose::PseudonymHmac, b"t");
        let values: Vec<String> = (0..8)
            .map(|i| {
                generate(
                    &other,
                    &DataClass::EmailAddress,
                    &format!("u{i}@corp.com"),
                    0,
                )
            })
            .collect();
        assert!(values.iter().any(|v| v != &a));
    }

    #[test]
    fn class_specific_shapes() {
        let k = key();
        let phone = generate(&k, &DataClass::PhoneNumber, "+1 (415) 867-5309", 0);
        assert!(phone.starts_with("+"), "{phone}");
        assert!(
            phone
                .replace(|c: char| !c.is_ascii_digit(), "")
                .contains("55501")
        );
        let ip = generate(&k, &DataClass::IpAddress, "10.1.2.3", 0);
        assert!(
            ip.starts_with("192.0.2.")
                || ip.starts_with("198.51.100.")
                || ip.starts_with("203.0.113.")
        );
        assert!(generate(&k, &DataClass::IpAddress, "fe80::1", 0).starts_with("2001:db8::"));
        let mac = generate(&k, &DataClass::MacAddress, "a4:5e:60:c2:11:9f", 0);
        assert!(mac.starts_with("02:") && mac.len() == 17, "{mac}");
        let date = generate(&k, &DataClass::DateTime, "1985-12-31", 0);
        let month: u32 = date[5..7].parse().unwrap();
        let day: u32 = date[8..10].parse().unwrap();
        assert!(
            (1..=12).contains(&month) && (1..=28).contains(&day),
            "{date}"
        );
        let worded = generate(&k, &DataClass::DateTime, "March 3, 1985", 0);
        assert!(MONTHS.iter().any(|m| worded.starts_with(m)), "{worded}");
        let shaped = generate(&k, &DataClass::UkNino, "QQ 12 34 56 C", 0);
        assert_eq!(shaped.len(), 13);
        assert!(shaped.chars().zip("QQ 12 34 56 C".chars()).all(|(a, b)| {
            a.is_ascii_digit() == b.is_ascii_digit()
                && a.is_ascii_uppercase() == b.is_ascii_uppercase()
        }));
    }

    #[test]
    fn ibans_pass_mod97() {
        let fake = generate(
            &key(),
            &DataClass::IbanCode,
            "GB82 WEST 1234 5698 7654 32",
            0,
        );
        assert!(fake.starts_with("GB"));
        let compact: String = fake.chars().filter(|c| !c.is_whitespace()).collect();
        let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
        let mut rem = 0u32;
        for c in rearranged.chars() {
            let v = c.to_digit(36).unwrap();
            rem = if v >= 10 {
                (rem * 100 + v) % 97
            } else {
                (rem * 10 + v) % 97
            };
        }
        assert_eq!(rem, 1, "{fake}");
    }
}
