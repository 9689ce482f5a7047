//! The built-in pattern recognizers: one table of patterns compiled into one multi-pattern
//! regex, and the context words of each class.
//!
//! Order matters: when two patterns match at the same leftmost position the earlier one is
//! tried first; the others are tried (anchored at that position) when it is rejected or when
//! it is marked `ambiguous`.

use crate::{DataClass, validate::Validator};

/// How to narrow a match to the sensitive part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// Keep the whole match.
    None,
    /// Drop trailing sentence punctuation (URLs).
    TrailingPunct,
    /// Keep what follows the first `=`, `:` or ` is ` (e.g. `password=...`), unquoted.
    AfterSeparator,
    /// Keep the password of `scheme://user:password@host`.
    UrlPassword,
    /// Keep the last run of digits (e.g. `aged 45` -> `45`).
    LastDigits,
    /// Keep the first run of digits (e.g. `45-year-old` -> `45`).
    FirstDigits,
}

/// One built-in pattern.
pub(crate) struct PatternSpec {
    pub name: &'static str,
    pub class: DataClass,
    pub regex: &'static str,
    pub score: f32,
    pub validator: Option<Validator>,
    /// Reported only when a positive context word of its class is near.
    pub needs_context: bool,
    /// Also try the other patterns at the same position even when this one is accepted.
    pub ambiguous: bool,
    pub trim: Trim,
}

const fn p(name: &'static str, class: DataClass, regex: &'static str, score: f32) -> PatternSpec {
    PatternSpec {
        name,
        class,
        regex,
        score,
        validator: None,
        needs_context: false,
        ambiguous: false,
        trim: Trim::None,
    }
}

impl PatternSpec {
    const fn v(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }
    const fn ctx(mut self) -> Self {
        self.needs_context = true;
        self
    }
    const fn amb(mut self) -> Self {
        self.ambiguous = true;
        self
    }
    const fn trim(mut self, t: Trim) -> Self {
        self.trim = t;
        self
    }
}

// ASCII word boundaries keep the lazy DFA on the fast path for non-ASCII text; the analyzer
// re-checks Unicode boundaries on every candidate.
macro_rules! b {
    () => {
        r"(?-u:\b)"
    };
}

macro_rules! month {
    () => {
        r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
    };
}

macro_rules! street_suffix {
    () => {
        r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Gardens|Row|Mews|Hill|Walk)"
    };
}

macro_rules! tld {
    () => {
        r"(?:com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ie|pl|cz|pt|gr|ru|jp|cn|kr|in|au|nz|ca|br|mx|za|eu|tv|me|xyz|online|site|tech|cloud|health|bank)"
    };
}

/// The built-in patterns, in priority order.
pub(crate) fn builtin() -> Vec<PatternSpec> {
    use DataClass as C;
    use Trim as T;
    use Validator as V;
    vec![
        // --- SECRET: provider keys and credential shapes first: they are the most specific.
        p("private_key_block", C::Secret, r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----", 1.0),
        p("aws_access_key", C::Secret, concat!(b!(), r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}", b!()), 0.95),
        p("github_token", C::Secret, concat!(b!(), r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})", b!()), 0.95),
        p("slack_token", C::Secret, concat!(b!(), r"xox[abposr]-[A-Za-z0-9-]{10,}", b!()), 0.95),
        p("stripe_key", C::Secret, concat!(b!(), r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}", b!()), 0.95),
        p("openai_key", C::Secret, concat!(b!(), r"sk-(?:proj-|ant-(?:api03-)?)?[A-Za-z0-9_-]{20,}", b!()), 0.9),
        p("google_api_key", C::Secret, concat!(b!(), r"AIza[0-9A-Za-z_-]{35}", b!()), 0.95),
        p("jwt", C::Secret, concat!(b!(), r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0.95),
        p("connection_string_password", C::Secret, r"(?i)[a-z][a-z0-9+.-]+://[^\s:/@]+:[^\s@/]+@[a-z0-9.-]+", 0.9).trim(T::UrlPassword),
        p("password_assignment", C::Secret, r#"(?i)(?-u:\b)(?:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?token|auth[_-]?token)["']?\s*(?:[:=]|\s(?:is|was)\s)\s*["']?[^\s"',;]{4,}"#, 0.85).trim(T::AfterSeparator),
        // --- Contact details.
        p("email", C::EmailAddress, concat!(b!(), r"[\p{L}\p{N}._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}", b!()), 0.95),
        p("url_scheme", C::Url, r"(?i)(?-u:\b)(?:https?|ftp|sftp|wss?)://[^\s<>\x22'`]{2,}", 0.9).trim(T::TrailingPunct),
        p("url_www", C::Url, concat!(r"(?i)(?-u:\b)(?:www\.[a-z0-9-]+(?:\.[a-z0-9-]+)*|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.", tld!(), r")(?-u:\b)(?::[0-9]{2,5})?(?:/[^\s<>\x22'`]*)?"), 0.6).trim(T::TrailingPunct),
        // --- Financial.
        p("iban", C::IbanCode, concat!(b!(), r"[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?", b!()), 0.9).v(V::Iban),
        p("btc_base58", C::Crypto, concat!(b!(), r"[13][1-9A-HJ-NP-Za-km-z]{25,34}", b!()), 0.95).v(V::Bitcoin),
        p("btc_bech32", C::Crypto, concat!(b!(), r"(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{25,}", b!()), 0.95).v(V::Bitcoin),
        p("eth_address", C::Crypto, concat!(b!(), r"0x[0-9a-fA-F]{40}", b!()), 0.9).v(V::Ethereum),
        // --- Network.
        p("mac_colon", C::MacAddress, concat!(b!(), r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}", b!()), 0.8),
        p("mac_dot", C::MacAddress, concat!(b!(), r"[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}", b!()), 0.7),
        p("ipv6", C::IpAddress, r"(?i)(?:(?-u:\b)(?:[0-9a-f]{1,4}:){1,7}:?|::)(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}(?-u:\b))?", 0.85).v(V::Ipv6),
        p("ipv4", C::IpAddress, concat!(b!(), r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", b!(), r"(?:/[0-9]{1,2}(?-u:\b))?"), 0.85).v(V::Ipv4),
        // --- Dates and times.
        p("iso_datetime", C::DateTime, concat!(b!(), r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2}|(?-u:\b)))?"), 0.85).v(V::Date),
        p("log_datetime", C::DateTime, concat!(b!(), r"[0-9]{1,2}/", month!(), r"/[0-9]{4}(?::[0-9]{2}:[0-9]{2}:[0-9]{2}(?: [+-][0-9]{4})?)?"), 0.85).v(V::Date),
        p("dotted_date", C::DateTime, concat!(b!(), r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}", b!()), 0.6).v(V::Date).amb(),
        p("numeric_date", C::DateTime, concat!(b!(), r"[0-9]{1,2}([/-])[0-9]{1,2}[/-](?:[0-9]{4}|[0-9]{2})(?-u:\b)(?:,? (?:at )?[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?: ?[AaPp]\.?[Mm]\.?)?)?"), 0.6).v(V::Date).amb(),
        p("month_day_year", C::DateTime, concat!(r"(?i)(?-u:\b)", month!(), r"\.? [0-9]{1,2}(?:st|nd|rd|th)?,? [0-9]{4}(?-u:\b)(?:,? (?:at )?[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?: ?[ap]\.?m\.?)?)?"), 0.85).v(V::Date),
        p("day_month_year", C::DateTime, concat!(r"(?i)(?-u:\b)[0-9]{1,2}(?:st|nd|rd|th)? (?:of )?", month!(), r"\.?,? [0-9]{4}(?-u:\b)"), 0.85).v(V::Date),
        p("month_year", C::DateTime, r"(?-u:\b)(?:January|February|March|April|June|July|August|September|October|November|December) [0-9]{4}(?-u:\b)", 0.6).v(V::Date),
        // --- Cards (explicit groupings so a trailing number is not swallowed). A 17–19-digit
        // card (four groups of 4 and a group of 1–3) is its own pattern, tried first: when that
        // longer reading fails the validator (`4950 1640 5832 2658 42`: 18 digits, no issuer
        // uses that length) the 16-digit reading is still tried at the same position.
        p("card_grouped_long", C::CreditCard, concat!(b!(), r"(?:[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{1,3}|[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4} [0-9]{1,3})", b!()), 0.9).v(V::CreditCard),
        p("card_grouped", C::CreditCard, concat!(b!(), r"(?:[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}|[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})", b!()), 0.9).v(V::CreditCard),
        p("card_plain", C::CreditCard, concat!(b!(), r"[0-9]{12,19}", b!()), 0.75).v(V::CreditCard).amb(),
        // --- National identifiers.
        p("us_itin", C::UsItin, concat!(b!(), r"9[0-9]{2}[- ]?[0-9]{2}[- ]?[0-9]{4}", b!()), 0.6).v(V::UsItin).amb(),
        p("ssn_dashed", C::UsSsn, concat!(b!(), r"[0-9]{3}(?:-[0-9]{2}-|\s[0-9]{2}\s)[0-9]{4}", b!()), 0.7).v(V::UsSsn),
        p("ssn_plain", C::UsSsn, concat!(b!(), r"[0-9]{9}", b!()), 0.5).v(V::UsSsn).ctx().amb(),
        p("aadhaar_grouped", C::InAadhaar, concat!(b!(), r"[2-9][0-9]{3}(?:[ -][0-9]{4}){2}", b!()), 0.85).v(V::Aadhaar).amb(),
        p("aadhaar_plain", C::InAadhaar, concat!(b!(), r"[2-9][0-9]{11}", b!()), 0.5).v(V::Aadhaar).ctx().amb(),
        p("nhs", C::UkNhs, concat!(b!(), r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}", b!()), 0.45).v(V::UkNhs).amb(),
        p("uk_nino", C::UkNino, concat!(b!(), r"[A-CEGHJ-PR-TW-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]", b!()), 0.6).v(V::UkNino),
        p("in_pan", C::InPan, concat!(b!(), r"[A-Z]{5}[0-9]{4}[A-Z]", b!()), 0.6).v(V::InPan),
        // --- Phones.
        p("phone_intl", C::PhoneNumber, concat!(r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,5}(?:[ .-]?[0-9]{2,5}){1,4}", b!(), r"(?:\s?(?:ext\.?|x|#)\s?[0-9]{1,5}(?-u:\b))?"), 0.75).v(V::Phone),
        p("phone_us", C::PhoneNumber, concat!(r"(?:(?-u:\b)1[ .-]?)?(?:\([0-9]{3}\)\s?|(?-u:\b)[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4}", b!(), r"(?:\s?(?:ext\.?|x|#)\s?[0-9]{1,5}(?-u:\b))?"), 0.6).v(V::Phone).amb(),
        p("phone_trunk", C::PhoneNumber, concat!(r"(?:\(0[0-9]{2,4}\)\s?|(?-u:\b)0[0-9]{2,4}[ -])[0-9]{3,4}[ -]?[0-9]{3,4}", b!()), 0.5).v(V::Phone).amb(),
        // --- Addresses.
        p("address_us", C::StreetAddress, concat!(b!(), r"[0-9]{1,6}[A-Z]?(?: [NSEW]\.?)? (?:(?:[A-Z][a-z]+|[0-9]{1,3}(?:st|nd|rd|th))\.? ){1,4}", street_suffix!(), r"(?:\.|(?-u:\b))(?: (?:[NS][EW]|[NSEW])(?-u:\b))?(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|#)\.? ?#?[A-Z0-9-]{1,6})?(?:,? (?:[A-Z][a-z]+ ){0,2}[A-Z][a-z]+,? (?:[A-Z]{2} [0-9]{5}(?:-[0-9]{4})?|[A-Z]{1,2}[0-9][A-Z[0-9]]? [0-9][A-Z]{2}))?"), 0.75),
        p("address_de", C::StreetAddress, r"(?-u:\b)\p{Lu}\p{Ll}+(?:straße|strasse|weg|platz|allee|gasse|ring|damm|ufer| Straße| Strasse| Weg| Platz| Allee)(?-u:\b) [0-9]{1,4}[a-z]?(?:, ?[0-9]{4,5} \p{Lu}\p{Ll}+(?: (?:am|an der) \p{Lu}\p{Ll}+)?)?", 0.75),
        p("address_fr", C::StreetAddress, r"(?i)(?-u:\b)[0-9]{1,4}(?: bis| ter)?,? (?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|cours) (?:(?:de la|de l'|du|des|de|d'|la|le|les) ?)?(?:\p{Lu}[\p{L}'-]* ?){1,4}(?:, ?[0-9]{5} \p{Lu}[\p{L}-]+)?", 0.75),
        // --- Context-driven classes (reported only near their context words).
        p("age_phrase", C::Age, r"(?i)(?-u:\b)[0-9]{1,3}(?:[- ](?:years?|yrs?)[- ]old|[- ]year[- ]old|[- ]?(?:yo|y/o)(?-u:\b))", 0.8).trim(T::FirstDigits),
        p("age_label", C::Age, r"(?i)(?-u:\b)(?:aged?|age:)\s{0,3}[0-9]{1,3}(?-u:\b)", 0.75).trim(T::LastDigits),
        p("zip_us", C::ZipCode, concat!(b!(), r"[0-9]{5}(?:-[0-9]{4})?", b!()), 0.3).ctx().amb(),
        p("postcode_uk", C::ZipCode, concat!(b!(), r"[A-Z]{1,2}[0-9][A-Z[0-9]]? ?[0-9][A-Z]{2}", b!()), 0.3).ctx(),
        p("mrn", C::MedicalRecordNumber, concat!(b!(), r"(?:[A-Z]{1,3}-?)?[0-9]{6,10}", b!()), 0.3).ctx().amb(),
        p("us_passport", C::UsPassport, concat!(b!(), r"[A-Z]?[0-9]{8,9}", b!()), 0.3).ctx().amb(),
        p("us_driver_license", C::UsDriverLicense, concat!(b!(), r"(?:[A-Z][0-9]{7,14}|[A-Z]{2}[0-9]{6,12}|[0-9]{7,9}[A-Z]{0,2})", b!()), 0.3).ctx().amb(),
        p("us_bank_number", C::UsBankNumber, concat!(b!(), r"[0-9]{8,17}", b!()), 0.3).ctx().amb(),
        p("token_in_context", C::Secret, concat!(b!(), r"[A-Za-z0-9_\-+/]{20,}={0,2}"), 0.3).v(V::HighEntropy).ctx(),
    ]
}

/// Context words by class: (positive words, negative words). Matched case-insensitively at
/// the start of a word, within a few words of the candidate.
#[rustfmt::skip]
pub(crate) fn context_words() -> Vec<(DataClass, &'static [&'static str], &'static [&'static str])> {
    use DataClass as C;
    const VERSION: &[&str] = &["version", "ver.", "release", "build", "v.", "firmware", "upgrading", "upgrade", "upgraded", "patch"];
    const NOT_ID: &[&str] = &["order", "invoice", "tracking", "ref", "case", "ticket", "account", "acct"];
    vec![
        (C::EmailAddress, &["email", "e-mail", "mail", "contact"], &[]),
        (C::PhoneNumber, &["phone", "call", "tel", "mobile", "cell", "fax", "contact", "reach", "dial", "text me", "whatsapp", "telephone"], &["order", "invoice", "tracking", "ref", "ticket", "nhs", "account", "case"]),
        (C::CreditCard, &["card", "credit", "debit", "visa", "mastercard", "amex", "payment", "cc"], NOT_ID),
        (C::UsSsn, &["ssn", "social security", "social sec", "ss#", "ss #"], &["order", "invoice", "tracking", "routing", "account"]),
        (C::UsItin, &["itin", "taxpayer", "tax id", "tin"], &[]),
        (C::IbanCode, &["iban", "bank", "account", "transfer", "wire"], &[]),
        (C::IpAddress, &["ip", "ip address", "host", "server", "client", "addr", "ipv4", "ipv6"], VERSION),
        (C::MacAddress, &["mac", "ethernet", "device", "hw", "wifi"], &[]),
        (C::Url, &["http", "link", "url", "visit", "site", "website"], &[]),
        (C::DateTime, &["date", "dob", "born", "birth", "admitted", "discharged", "d.o.b"], VERSION),
        (C::Age, &["age", "aged", "old"], &[]),
        (C::StreetAddress, &["address", "lives", "live at", "located", "ship", "mail to", "resides"], &[]),
        (C::ZipCode, &["zip", "postal", "postcode", "post code", "zip code"], &[]),
        (C::UsDriverLicense, &["driver", "driving", "licence", "license", "dl#", "dl #", "dl no", "dl:"], &[]),
        (C::UsPassport, &["passport"], &[]),
        (C::UsBankNumber, &["account", "acct", "bank account", "checking", "savings", "a/c", "routing"], &["order", "invoice", "tracking"]),
        (C::UkNhs, &["nhs", "health service", "nhs no", "nhs number"], &[]),
        (C::UkNino, &["national insurance", "ni number", "nino", "ni no"], &[]),
        (C::InAadhaar, &["aadhaar", "aadhar", "uidai", "uid"], NOT_ID),
        (C::InPan, &["pan", "permanent account", "income tax"], &[]),
        (C::MedicalRecordNumber, &["mrn", "medical record", "patient id", "chart", "record number", "patient no", "hospital number"], &[]),
        (C::Crypto, &["bitcoin", "btc", "wallet", "ethereum", "eth", "crypto"], &[]),
        (C::Secret, &["token", "secret", "api key", "apikey", "api_key", "bearer", "credential", "password", "authorization", "auth"], &[]),
    ]
}
