//! The keyed primitives behind the operators: HMAC-SHA256, AES-256-GCM-SIV tokens, FF1.

use aes::Aes256;
use aes_gcm_siv::{
    Aes256GcmSiv, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::Engine;
use fpe::ff1::{FF1, FlexibleNumeralString};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use veil_detect::DataClass;

use crate::{
    ProtectError,
    keys::{KEY_LEN, SubKey},
};

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every encryption token; the version names the cipher and layout.
pub(crate) const TOKEN_PREFIX: &str = "<veil:enc:v1:";
const NONCE_LEN: usize = 12;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Minimum number of digits FF1 accepts here. NIST SP 800-38G Rev. 1 requires
/// radix^minlen >= 1,000,000, i.e. 6 decimal digits; shorter domains are too small to encrypt
/// safely.
pub const FPE_MIN_DIGITS: usize = 6;

/// HMAC-SHA256 over length-prefixed parts (so `("ab","c")` and `("a","bc")` differ).
pub(crate) fn hmac(key: &SubKey, parts: &[&[u8]]) -> [u8; 32] {
    // `new_from_slice` only fails for key lengths HMAC cannot take; any length is fine for
    // HMAC-SHA256, so the fallback below is unreachable. It still avoids a panic path.
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key.expose()) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Keyed hash of `value` as lowercase hex, truncated to `hex_len` digits (8..=64).
pub(crate) fn keyed_hash(key: &SubKey, value: &str, hex_len: usize) -> String {
    let digest = hmac(key, &[b"hash", value.as_bytes()]);
    let mut hex = hex::encode(digest);
    hex.truncate(hex_len.clamp(8, 64));
    hex
}

/// Field encryption: AES-256-GCM-SIV with a random 96-bit nonce and the class as associated
/// data, so a token cannot be moved to another class. GCM-SIV rather than GCM: a repeated
/// nonce (e.g. a broken RNG in a VM snapshot) leaks only equality of plaintexts instead of
/// the authentication key (RFC 8452).
pub(crate) struct FieldCipher {
    cipher: Aes256GcmSiv,
}

impl FieldCipher {
    pub(crate) fn new(key: &SubKey) -> Self {
        Self {
            cipher: Aes256GcmSiv::new(key.expose().into()),
        }
    }

    fn aad(class: &DataClass) -> Vec<u8> {
        let mut aad = b"veil:enc:v1:".to_vec();
        aad.extend_from_slice(class.as_str().as_bytes());
        aad
    }

    /// `<veil:enc:v1:CLASS:base64url(nonce || ciphertext || tag)>`.
    pub(crate) fn encrypt(&self, class: &DataClass, value: &str) -> Result<String, ProtectError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|_| ProtectError::Rng)?;
        let aad = Self::aad(class);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| ProtectError::Crypto {
                class: class.clone(),
            })?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{TOKEN_PREFIX}{class}:{}>", B64.encode(blob)))
    }

    /// Decrypts a whole token. Fails on any alteration of class, nonce or ciphertext.
    pub(crate) fn decrypt(&self, token: &str) -> Result<(DataClass, String), ProtectError> {
        let body = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.strip_suffix('>'))
            .ok_or(ProtectError::BadToken)?;
        let (class, payload) = body.split_once(':').ok_or(ProtectError::BadToken)?;
        let class = DataClass::parse_any(class).map_err(|_| ProtectError::BadToken)?;
        let blob = B64.decode(payload).map_err(|_| ProtectError::BadToken)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(ProtectError::BadToken);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let aad = Self::aad(&class);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| ProtectError::BadToken)?;
        let text = String::from_utf8(plain).map_err(|_| ProtectError::BadToken)?;
        Ok((class, text))
    }
}

/// Where encryption tokens are in `text`: byte ranges of `<veil:enc:v1:...>`.
pub(crate) fn find_tokens(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = text.get(from..).and_then(|rest| rest.find(TOKEN_PREFIX)) {
        let start = from + rel;
        let body_start = start + TOKEN_PREFIX.len();
        let body_len = text
            .get(body_start..)
            .map(|rest| {
                rest.bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
                    .count()
            })
            .unwrap_or(0);
        let end = body_start + body_len;
        if text.as_bytes().get(end) == Some(&b'>') {
            out.push(start..end + 1);
            from = end + 1;
        } else {
            from = body_start;
        }
    }
    out
}

/// Format-preserving encryption with FF1 (NIST SP 800-38G) over AES-256, radix 10.
///
/// Why FF1 and not FF3-1: FF3 was broken (Durak and Vaudenay, 2017), its repair FF3-1 was
/// attacked again through its short tweak, and NIST's draft revision of SP 800-38G removes
/// FF3-1, leaving FF1 as the mode to use. The `fpe` crate (maintained by a Zcash
/// cryptographer, test vectors from NIST) implements FF1 only, and FF1 takes the
/// variable-length tweak we use to separate classes.
///
/// Only the ASCII digits of the value are encrypted, as one numeral string; every other
/// character stays where it was. So `4111-1111-1111-1111` keeps its dashes, a phone number
/// its `+`, spaces and parentheses, and the output has exactly the input's length and
/// character classes (the result is not Luhn-valid: it is ciphertext, not a card).
pub(crate) struct Fpe {
    ff1: FF1<Aes256>,
}

impl Fpe {
    pub(crate) fn new(key: &SubKey) -> Result<Self, ProtectError> {
        let key: &[u8; KEY_LEN] = key.expose();
        let ff1 = FF1::<Aes256>::new(key, 10).map_err(|_| ProtectError::Crypto {
            class: DataClass::Custom("FPE".into()),
        })?;
        Ok(Self { ff1 })
    }

    /// Encrypts (or decrypts) the digits of `value` under the class as tweak.
    pub(crate) fn apply(
        &self,
        class: &DataClass,
        value: &str,
        decrypt: bool,
    ) -> Result<String, ProtectError> {
        let digits: Vec<u16> = value
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| u16::from(b - b'0'))
            .collect();
        if digits.len() < FPE_MIN_DIGITS {
            return Err(ProtectError::FpeTooShort {
                class: class.clone(),
                digits: digits.len(),
            });
        }
        let tweak = class.as_str().as_bytes();
        let input = FlexibleNumeralString::from(digits);
        let output = if decrypt {
            self.ff1.decrypt(tweak, &input)
        } else {
            self.ff1.encrypt(tweak, &input)
        }
        .map_err(|_| ProtectError::Crypto {
            class: class.clone(),
        })?;
        let mut numerals = Vec::<u16>::from(output).into_iter();
        let mut out = String::with_capacity(value.len());
        for ch in value.chars() {
            if ch.is_ascii_digit() {
                let d = numerals.next().unwrap_or(0);
                out.push(char::from_digit(u32::from(d), 10).unwrap_or('0'));
            } else {
                out.push(ch);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Purpose, RootKey};

    fn key(p: Purpose) -> SubKey {
        RootKey::from_bytes([3; 32]).derive(p, b"tenant")
    }

    #[test]
    fn tokens_round_trip_and_tampering_fails() {
        let c = FieldCipher::new(&key(Purpose::FieldEncryption));
        let token = c
            .encrypt(&DataClass::EmailAddress, "jane@corp.com")
            .unwrap();
        assert!(token.starts_with("<veil:enc:v1:EMAIL_ADDRESS:"));
        assert!(!token.contains("jane"));
        let (class, value) = c.decrypt(&token).unwrap();
        assert_eq!(
            (class, value.as_str()),
            (DataClass::EmailAddress, "jane@corp.com")
        );
        // Moving the token to another class breaks authentication.
        let moved = token.replace("EMAIL_ADDRESS", "PERSON");
        assert!(matches!(c.decrypt(&moved), Err(ProtectError::BadToken)));
        // Flipping one payload character breaks it too.
        let mut bytes = token.clone().into_bytes();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        assert!(c.decrypt(&String::from_utf8(bytes).unwrap()).is_err());
        // Another key cannot open it.
        let other = FieldCipher::new(
            &RootKey::from_bytes([4; 32]).derive(Purpose::FieldEncryption, b"tenant"),
        );
        assert!(other.decrypt(&token).is_err());
    }

    #[test]
    fn finds_tokens_in_text() {
        let c = FieldCipher::new(&key(Purpose::FieldEncryption));
        let t = c.encrypt(&DataClass::UsSsn, "123-45-6789").unwrap();
        let text = format!("a {t} b <veil:enc:v1:broken c {t}");
        let found = find_tokens(&text);
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].clone()], t);
        assert_eq!(&text[found[1].clone()], t);
    }

    #[test]
    fn fpe_keeps_format_and_round_trips() {
        let f = Fpe::new(&key(Purpose::Fpe)).unwrap();
        let card = "4111-1111-1111-1111";
        let enc = f.apply(&DataClass::CreditCard, card, false).unwrap();
        assert_eq!(enc.len(), card.len());
        assert_ne!(enc, card);
        assert_eq!(enc.matches('-').count(), 3);
        assert_eq!(f.apply(&DataClass::CreditCard, &enc, true).unwrap(), card);
        // The class is the tweak: another class gives another ciphertext.
        assert_ne!(f.apply(&DataClass::UsBankNumber, card, false).unwrap(), enc);
        assert!(matches!(
            f.apply(&DataClass::Age, "42", false),
            Err(ProtectError::FpeTooShort { digits: 2, .. })
        ));
    }

    #[test]
    fn keyed_hash_depends_on_key() {
        let a = keyed_hash(&key(Purpose::PseudonymHmac), "x", 16);
        assert_eq!(a.len(), 16);
        assert_eq!(a, keyed_hash(&key(Purpose::PseudonymHmac), "x", 16));
        let other = RootKey::from_bytes([9; 32]).derive(Purpose::PseudonymHmac, b"tenant");
        assert_ne!(a, keyed_hash(&other, "x", 16));
        assert_ne!(a, keyed_hash(&key(Purpose::PseudonymHmac), "y", 16));
    }
}
