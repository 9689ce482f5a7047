//! Validators: checksum and structure rules that run only on pattern candidates.
//!
//! Each validator is a plain function over the candidate's text. The set is fixed (the
//! [`Validator`] enum) so that custom recognizers loaded from TOML can name one without
//! running arbitrary code.

use std::str::FromStr;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

/// A validator from the fixed set, by name (`luhn`, `credit_card`, `us_ssn`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Validator {
    /// The Luhn (mod-10) check over the digits.
    Luhn,
    /// Luhn plus a current issuer (IIN) range and a length that issuer uses.
    CreditCard,
    /// US SSN area/group/serial rules (no 000, 666 or 9xx area, no 00 group, no 0000 serial).
    UsSsn,
    /// US ITIN: 9xx area with a group in the ranges the IRS issues.
    UsItin,
    /// IBAN: known country, that country's length, and mod-97 == 1.
    Iban,
    /// UK NHS number: 10 digits, mod-11 check digit.
    UkNhs,
    /// UK National Insurance number prefix rules.
    UkNino,
    /// Indian Aadhaar: 12 digits, not starting with 0 or 1, Verhoeff check digit.
    Aadhaar,
    /// Indian PAN: the fourth letter is a valid holder type.
    InPan,
    /// A Bitcoin address: base58check (P2PKH/P2SH) or bech32/bech32m (segwit).
    Bitcoin,
    /// An Ethereum address: EIP-55 mixed-case checksum (all-lower/upper accepted unchecked).
    Ethereum,
    /// A phone number whose digit count fits its country's numbering plan.
    Phone,
    /// A dotted IPv4 address with every octet in 0–255.
    Ipv4,
    /// An IPv6 address (std's parser).
    Ipv6,
    /// A calendar date whose month and day are in range.
    Date,
    /// A token with enough entropy and character variety to be a credential.
    HighEntropy,
}

impl Validator {
    /// The name reported in evidence.
    pub fn name(self) -> &'static str {
        match self {
            Validator::Luhn => "luhn",
            Validator::CreditCard => "luhn+iin",
            Validator::UsSsn => "ssn_rules",
            Validator::UsItin => "itin_rules",
            Validator::Iban => "iban_mod97",
            Validator::UkNhs => "nhs_mod11",
            Validator::UkNino => "nino_rules",
            Validator::Aadhaar => "verhoeff",
            Validator::InPan => "pan_rules",
            Validator::Bitcoin => "base58check/bech32",
            Validator::Ethereum => "eip55",
            Validator::Phone => "phone_plan",
            Validator::Ipv4 => "ipv4_octets",
            Validator::Ipv6 => "ipv6_parse",
            Validator::Date => "date_range",
            Validator::HighEntropy => "entropy",
        }
    }

    /// Whether `value` passes.
    pub fn check(self, value: &str) -> bool {
        match self {
            Validator::Luhn => luhn(&digits(value)),
            Validator::CreditCard => credit_card(value),
            Validator::UsSsn => us_ssn(value),
            Validator::UsItin => us_itin(value),
            Validator::Iban => iban(value),
            Validator::UkNhs => uk_nhs(value),
            Validator::UkNino => uk_nino(value),
            Validator::Aadhaar => aadhaar(value),
            Validator::InPan => in_pan(value),
            Validator::Bitcoin => bitcoin(value),
            Validator::Ethereum => ethereum(value),
            Validator::Phone => phone(value),
            Validator::Ipv4 => ipv4(value),
            Validator::Ipv6 => ipv6(value),
            Validator::Date => date(value),
            Validator::HighEntropy => high_entropy(value),
        }
    }

    /// Whether a pass is a real checksum (strong evidence) rather than a structure rule.
    pub fn is_checksum(self) -> bool {
        matches!(
            self,
            Validator::Luhn
                | Validator::CreditCard
                | Validator::Iban
                | Validator::UkNhs
                | Validator::Aadhaar
                | Validator::Bitcoin
                | Validator::Ethereum
        )
    }
}

fn digits(value: &str) -> Vec<u8> {
    value
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn check over decimal digits (most significant first).
pub fn luhn(d: &[u8]) -> bool {
    if d.len() < 2 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn prefix_num(d: &[u8], n: usize) -> u32 {
    d.iter()
        .take(n)
        .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
}

/// Luhn plus issuer ranges. Ranges and lengths from the issuers' public documentation
/// (Visa, Mastercard incl. the 2221–2720 series, Amex, Discover, Diners, JCB, UnionPay,
/// Maestro, Mir, RuPay, Verve, Troy).
fn credit_card(value: &str) -> bool {
    let d = digits(value);
    let len = d.len();
    if !(12..=19).contains(&len) || !luhn(&d) {
        return false;
    }
    let p1 = prefix_num(&d, 1);
    let p2 = prefix_num(&d, 2);
    let p3 = prefix_num(&d, 3);
    let p4 = prefix_num(&d, 4);
    let p6 = prefix_num(&d, 6);
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = (p2 == 34 || p2 == 37) && len == 15;
    let discover =
        (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622_126..=622_925).contains(&p6))
            && (16..=19).contains(&len);
    let diners =
        ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && (16..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    let maestro = (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&len);
    let mir = (2200..=2204).contains(&p4) && (16..=19).contains(&len);
    let rupay =
        (p2 == 60 || p2 == 81 || p2 == 82 || p3 == 508 || p3 == 353 || p3 == 356) && len == 16;
    let verve = ((506_099..=506_198).contains(&p6) || (650_002..=650_027).contains(&p6))
        && (16..=19).contains(&len);
    let troy = p4 == 9792 && len == 16;
    visa || mastercard
        || amex
        || discover
        || diners
        || jcb
        || unionpay
        || maestro
        || mir
        || rupay
        || verve
        || troy
}

fn us_ssn(value: &str) -> bool {
    let d = digits(value);
    if d.len() != 9 {
        return false;
    }
    let area = prefix_num(&d, 3);
    let group = prefix_num(d.get(3..).unwrap_or_default(), 2);
    let serial = prefix_num(d.get(5..).unwrap_or_default(), 4);
    // Never issued: area 000, 666 and 900–999 (the last are ITINs); group 00; serial 0000.
    // All nine digits the same, and the 123-45-6789 sample, are test values, not SSNs.
    let all_same = d.iter().all(|&x| Some(&x) == d.first());
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !all_same
        && prefix_num(&d, 9) != 123_456_789
}

fn us_itin(value: &str) -> bool {
    let d = digits(value);
    if d.len() != 9 || d.first() != Some(&9) {
        return false;
    }
    let group = prefix_num(d.get(3..).unwrap_or_default(), 2);
    (50..=65).contains(&group)
        || (70..=88).contains(&group)
        || (90..=92).contains(&group)
        || (94..=99).contains(&group)
}

fn iban(value: &str) -> bool {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    iban::Iban::from_str(&compact).is_ok()
}

fn uk_nhs(value: &str) -> bool {
    let d = digits(value);
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .take(9)
        .enumerate()
        .map(|(i, &x)| u32::from(x) * (10 - i as u32))
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    d.get(9).map(|&x| u32::from(x)) == Some(check)
}

fn uk_nino(value: &str) -> bool {
    let compact: Vec<u8> = value
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let (Some(&a), Some(&b)) = (compact.first(), compact.get(1)) else {
        return false;
    };
    // HMRC: first letter not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; some pairs
    // never allocated.
    let bad_first = b"DFIQUV".contains(&a);
    let bad_second = b"DFIOQUV".contains(&b);
    let pair = [a, b];
    let bad_pair = [*b"BG", *b"GB", *b"KN", *b"NK", *b"NT", *b"TN", *b"ZZ"].contains(&pair);
    compact.len() == 9 && !bad_first && !bad_second && !bad_pair
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 8, 7, 6, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// The Verhoeff check over decimal digits (most significant first).
pub fn verhoeff(d: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        let p = VERHOEFF_P
            .get(i % 8)
            .and_then(|row| row.get(usize::from(x)))
            .copied()
            .unwrap_or(0);
        c = VERHOEFF_D
            .get(usize::from(c))
            .and_then(|row| row.get(usize::from(p)))
            .copied()
            .unwrap_or(0);
    }
    c == 0
}

fn aadhaar(value: &str) -> bool {
    let d = digits(value);
    d.len() == 12 && d.first().is_some_and(|&x| x >= 2) && verhoeff(&d)
}

fn in_pan(value: &str) -> bool {
    // Fourth character: holder type (P person, C company, H HUF, F firm, A AOP, T trust,
    // B BOI, L local authority, J artificial juridical person, G government).
    value.len() == 10
        && value
            .as_bytes()
            .get(3)
            .is_some_and(|b| b"PCHFATBLJG".contains(b))
}

fn bitcoin(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("bc1") {
        return bech32::segwit::decode(value).is_ok();
    }
    let Ok(bytes) = bs58::decode(value).into_vec() else {
        return false;
    };
    if bytes.len() != 25 || !matches!(bytes.first(), Some(0x00 | 0x05)) {
        return false;
    }
    let (payload, check) = bytes.split_at(21);
    let hash = Sha256::digest(Sha256::digest(payload));
    hash.get(..4) == Some(check)
}

fn ethereum(value: &str) -> bool {
    let Some(hex) = value.strip_prefix("0x") else {
        return false;
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if !(has_lower && has_upper) {
        return true;
    }
    let lower = hex.to_ascii_lowercase();
    let mut hash = [0u8; 32];
    let mut k = Keccak::v256();
    k.update(lower.as_bytes());
    k.finalize(&mut hash);
    hex.bytes().enumerate().all(|(i, b)| {
        let nibble = hash
            .get(i / 2)
            .map_or(0, |h| if i % 2 == 0 { h >> 4 } else { h & 0x0f });
        if b.is_ascii_alphabetic() {
            (nibble >= 8) == b.is_ascii_uppercase()
        } else {
            true
        }
    })
}

/// National significant number lengths by country calling code.
///
/// Written by hand rather than pulling in the `phonenumber` crate: that crate brings a
/// regex-per-country metadata set, a build-time XML step and several more dependencies, and
/// parsing with it costs far more per candidate than this check. We only need to reject digit
/// runs that cannot be a number in the plan they claim; the format itself is checked by the
/// pattern. Lengths from the ITU-T E.164 national numbering plan notices.
const PLANS: &[(&str, u8, u8)] = &[
    ("1", 10, 10),
    ("7", 10, 10),
    ("20", 9, 10),
    ("27", 9, 9),
    ("30", 10, 10),
    ("31", 9, 9),
    ("32", 8, 9),
    ("33", 9, 9),
    ("34", 9, 9),
    ("36", 8, 9),
    ("39", 6, 11),
    ("40", 9, 9),
    ("41", 9, 9),
    ("43", 4, 13),
    ("44", 9, 10),
    ("45", 8, 8),
    ("46", 7, 13),
    ("47", 8, 8),
    ("48", 9, 9),
    ("49", 6, 13),
    ("51", 8, 9),
    ("52", 10, 10),
    ("53", 8, 8),
    ("54", 10, 11),
    ("55", 10, 11),
    ("56", 9, 9),
    ("57", 8, 10),
    ("58", 10, 10),
    ("60", 7, 10),
    ("61", 9, 9),
    ("62", 8, 12),
    ("63", 8, 10),
    ("64", 8, 10),
    ("65", 8, 8),
    ("66", 8, 9),
    ("81", 9, 10),
    ("82", 8, 10),
    ("84", 9, 10),
    ("86", 10, 11),
    ("90", 10, 10),
    ("91", 10, 10),
    ("92", 9, 10),
    ("93", 9, 9),
    ("94", 9, 9),
    ("95", 7, 10),
    ("98", 10, 10),
    ("212", 9, 9),
    ("234", 8, 10),
    ("254", 9, 9),
    ("351", 9, 9),
    ("352", 8, 11),
    ("353", 7, 9),
    ("354", 7, 9),
    ("358", 5, 12),
    ("380", 9, 9),
    ("420", 9, 9),
    ("852", 8, 8),
    ("880", 10, 10),
    ("886", 8, 9),
    ("961", 7, 8),
    ("966", 9, 9),
    ("971", 8, 9),
    ("972", 8, 9),
];

fn nanp(d: &[u8]) -> bool {
    // NANP: NXX-NXX-XXXX, N = 2–9; 555-01xx is the fictional range but still a real shape.
    d.len() == 10 && d.first().is_some_and(|&x| x >= 2) && d.get(3).is_some_and(|&x| x >= 2)
}

fn phone(value: &str) -> bool {
    // Drop an extension before counting digits.
    let lower = value.to_ascii_lowercase();
    let main = ["ext", "x", "#"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .and_then(|i| value.get(..i))
        .unwrap_or(value);
    let trimmed = main.trim_start();
    let d = digits(main);
    if let Some(rest) = trimmed
        .strip_prefix('+')
        .or_else(|| trimmed.strip_prefix("00"))
    {
        let d = if trimmed.starts_with('+') {
            d
        } else {
            digits(rest)
        };
        return PLANS.iter().any(|&(cc, min, max)| {
            let cc_d = digits(cc);
            d.starts_with(&cc_d) && {
                let n = d.get(cc_d.len()..).unwrap_or_default();
                let len = n.len();
                (usize::from(min)..=usize::from(max)).contains(&len)
                    && (cc != "1" || nanp(n))
                    // A trunk prefix 0 is dropped in international format (except Italy).
                    && (cc == "39" || n.first() != Some(&0))
            }
        });
    }
    match d.len() {
        10 if d.first() != Some(&0) => nanp(&d),
        11 if d.first() == Some(&1) => nanp(d.get(1..).unwrap_or_default()),
        // National formats with a trunk 0 (UK, DE, FR, IN, AU...): 0 + 9–11 digits.
        10..=12 => d.first() == Some(&0) && d.get(1) != Some(&0),
        _ => false,
    }
}

fn ipv4(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn ipv6(value: &str) -> bool {
    let hex_groups = value.split(':').filter(|g| !g.is_empty()).count();
    std::net::Ipv6Addr::from_str(value).is_ok() && hex_groups >= 2
}

/// Month names and their numbers, for dates written with words.
const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

fn date(value: &str) -> bool {
    // Numbers in order; a month word counts as a month.
    let lower = value.to_ascii_lowercase();
    let month_word = MONTHS
        .iter()
        .find(|(m, _)| lower.contains(m))
        .map(|&(_, n)| n);
    let nums: Vec<(u32, usize)> = lower
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<u32>().ok().map(|n| (n, s.len())))
        .collect();
    let year_ok = |y: u32, len: usize| (len == 4 && (1900..=2099).contains(&y)) || len == 2;
    let day_ok = |d: u32| (1..=31).contains(&d);
    let month_ok = |m: u32| (1..=12).contains(&m);
    match (month_word, nums.as_slice()) {
        (Some(_), [(d, _), (y, yl), ..]) if day_ok(*d) && year_ok(*y, *yl) => true,
        (Some(_), [(n, 4)]) => year_ok(*n, 4),
        (Some(_), [(d, _)]) => day_ok(*d),
        (Some(_), _) => false,
        // Y-M-D
        (None, [(y, 4), (m, _), (d, _), ..]) => year_ok(*y, 4) && month_ok(*m) && day_ok(*d),
        // M/D/Y or D/M/Y
        (None, [(a, _), (b, _), (y, yl), ..]) => {
            year_ok(*y, *yl) && ((month_ok(*a) && day_ok(*b)) || (day_ok(*a) && month_ok(*b)))
        }
        _ => false,
    }
}

fn high_entropy(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() < 16 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let n = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    let classes = [
        bytes.iter().any(u8::is_ascii_lowercase),
        bytes.iter().any(u8::is_ascii_uppercase),
        bytes.iter().any(u8::is_ascii_digit),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    // A hex digest (lower-case + digits only) is a hash, not a credential: require three
    // character classes.
    entropy >= 3.5 && classes == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_pairs() {
        assert!(Validator::CreditCard.check("4111 1111 1111 1111"));
        assert!(!Validator::CreditCard.check("4111 1111 1111 1112"));
        assert!(Validator::CreditCard.check("2221-0000-0000-0009"));
        assert!(Validator::CreditCard.check("378282246310005"));
        assert!(!Validator::CreditCard.check("1234567812345670"));
    }

    #[test]
    fn ssn_pairs() {
        assert!(Validator::UsSsn.check("536-22-1478"));
        assert!(!Validator::UsSsn.check("000-22-1478"));
        assert!(!Validator::UsSsn.check("666-22-1478"));
        assert!(!Validator::UsSsn.check("912-22-1478"));
        assert!(!Validator::UsSsn.check("536-00-1478"));
        assert!(!Validator::UsSsn.check("536-22-0000"));
    }

    #[test]
    fn iban_pairs() {
        assert!(Validator::Iban.check("GB82 WEST 1234 5698 7654 32"));
        assert!(Validator::Iban.check("DE89370400440532013000"));
        assert!(!Validator::Iban.check("DE89370400440532013001"));
        assert!(!Validator::Iban.check("GB82WEST123456987654"));
    }

    #[test]
    fn nhs_and_aadhaar_pairs() {
        assert!(Validator::UkNhs.check("943 476 5919"));
        assert!(!Validator::UkNhs.check("943 476 5918"));
        assert!(Validator::Aadhaar.check("2341 2341 2346"));
        assert!(!Validator::Aadhaar.check("2341 2341 2345"));
        assert!(!Validator::Aadhaar.check("0341 2341 2346"));
    }

    #[test]
    fn crypto_pairs() {
        assert!(Validator::Bitcoin.check("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"));
        assert!(!Validator::Bitcoin.check("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"));
        assert!(Validator::Bitcoin.check("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        assert!(!Validator::Bitcoin.check("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp"));
        assert!(Validator::Ethereum.check("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
        assert!(!Validator::Ethereum.check("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
    }

    #[test]
    fn phone_pairs() {
        assert!(Validator::Phone.check("+1 (415) 555-0132"));
        assert!(Validator::Phone.check("(415) 555-0132"));
        assert!(!Validator::Phone.check("(115) 555-0132"));
        assert!(Validator::Phone.check("+44 20 7946 0958"));
        assert!(!Validator::Phone.check("+44 20 7946"));
        assert!(Validator::Phone.check("020 7946 0958"));
        assert!(Validator::Phone.check("415-555-0132 ext. 12"));
    }

    #[test]
    fn ip_and_date_pairs() {
        assert!(Validator::Ipv4.check("192.168.1.20"));
        assert!(!Validator::Ipv4.check("192.168.1.256"));
        assert!(Validator::Ipv6.check("2001:db8::8a2e:370:7334"));
        assert!(!Validator::Ipv6.check("12:30:45"));
        assert!(Validator::Date.check("2024-03-15"));
        assert!(!Validator::Date.check("2024-13-15"));
        assert!(Validator::Date.check("March 5, 2024"));
        assert!(Validator::Date.check("15/03/2024"));
        assert!(!Validator::Date.check("45/03/2024"));
    }
}
