//! Keys, keyed text digests and crypto-shredding.
//!
//! - [`derive_key`]: HKDF-SHA256 from the deployment's root key to a purpose key
//!   ([`SIGNING_KEY_INFO`] for checkpoints, [`DIGEST_KEY_INFO`] for text digests).
//! - [`TextDigester`]: HMAC-SHA256 of a prompt or answer under a per-deployment key, so the
//!   log can prove "this exact text was sent" to someone holding the text, while a reader of
//!   the log cannot confirm a guess of a short text (a plain hash of "yes" or of a phone number
//!   is trivially reversed by enumeration).
//! - [`SubjectKey`]: AES-256-GCM-SIV under a per-tenant or per-subject key. The record keeps
//!   only ciphertext, so the leaf hash commits to the ciphertext: destroying the key makes the
//!   text unreadable forever (crypto-shredding, GDPR erasure) and every proof still verifies.
//!   GCM-SIV because it is nonce-misuse resistant: a repeated random nonce leaks equality of
//!   two texts, not the key stream.

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::record::SealedText;
use crate::tree::Hash;

/// HKDF `info` for the checkpoint signing seed.
pub const SIGNING_KEY_INFO: &str = "veil/audit/checkpoint-signing/v1";
/// HKDF `info` for the text digest key.
pub const DIGEST_KEY_INFO: &str = "veil/audit/text-digest/v1";

/// Derives a 32-byte purpose key from the root key with HKDF-SHA256 (no salt: the root key is
/// uniformly random).
#[must_use]
pub fn derive_key(root_key: &[u8], info: &str) -> Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<Sha256>::new(None, root_key);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hk.expand(info.as_bytes(), out.as_mut()).is_err() {
        out.zeroize();
    }
    out
}

/// Keyed digests of prompts and answers.
#[derive(Clone, ZeroizeOnDrop)]
pub struct TextDigester {
    key: [u8; 32],
}

impl std::fmt::Debug for TextDigester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TextDigester([redacted])")
    }
}

impl TextDigester {
    /// A digester with the deployment's digest key (see [`DIGEST_KEY_INFO`]).
    #[must_use]
    pub fn new(key: &[u8; 32]) -> Self {
        Self { key: *key }
    }

    /// HMAC-SHA256(key, "veil-audit-text\0" || text).
    #[must_use]
    pub fn digest(&self, text: &str) -> Hash {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32]; // unreachable: HMAC takes keys of any length
        };
        mac.update(b"veil-audit-text\0");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The same digest computed incrementally, for a text that arrives in pieces (a streamed
    /// answer): feeding the pieces of `text` gives `digest(text)`.
    #[must_use]
    pub fn writer(&self) -> DigestWriter {
        // HMAC takes keys of any length: `None` is unreachable and, as in `digest`, would
        // give the all-zero digest rather than a panic.
        let mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .ok()
            .map(|mut mac| {
                mac.update(b"veil-audit-text\0");
                mac
            });
        DigestWriter(mac)
    }
}

/// An incremental [`TextDigester::digest`] (see [`TextDigester::writer`]).
#[derive(Clone)]
pub struct DigestWriter(Option<Hmac<Sha256>>);

impl std::fmt::Debug for DigestWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestWriter([redacted])")
    }
}

impl DigestWriter {
    /// Feeds the next piece of the text.
    pub fn update(&mut self, piece: &[u8]) {
        if let Some(mac) = &mut self.0 {
            mac.update(piece);
        }
    }

    /// The digest of everything fed.
    #[must_use]
    pub fn finish(self) -> Hash {
        self.0
            .map_or([0; 32], |mac| mac.finalize().into_bytes().into())
    }
}

/// Why sealing or opening failed. Never carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The system random source failed.
    #[error("no randomness for a nonce")]
    Random,
    /// Wrong key, wrong context, or altered ciphertext.
    #[error("cannot open sealed text under key `{0}`")]
    Open(String),
}

/// A per-tenant or per-subject key. Destroy it to erase every text sealed under it.
#[derive(ZeroizeOnDrop)]
pub struct SubjectKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    /// A key named `id` (stored with the ciphertext so the right key can be found).
    #[must_use]
    pub fn new(id: &str, key: &[u8; 32]) -> Self {
        Self {
            id: id.to_string(),
            key: *key,
        }
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn aad(&self, context: &str) -> Vec<u8> {
        // Binds the ciphertext to its key id and to its record (e.g. the request id), so a
        // sealed text cannot be moved to another record.
        let mut aad = Vec::with_capacity(self.id.len() + context.len() + 1);
        aad.extend_from_slice(self.id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(context.as_bytes());
        aad
    }

    /// Encrypts `text` with a random nonce; `context` (e.g. the request id) is authenticated.
    pub fn seal(&self, text: &str, context: &str) -> Result<SealedText, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let cipher = Aes256GcmSiv::new(&self.key.into());
        let aad = self.aad(context);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: text.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Random)?;
        Ok(SealedText {
            key_id: self.id.clone(),
            nonce,
            ciphertext,
        })
    }

    /// Decrypts a sealed text made by [`SubjectKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &SealedText, context: &str) -> Result<Zeroizing<String>, SealError> {
        let fail = || SealError::Open(sealed.key_id.clone());
        if sealed.key_id != self.id {
            return Err(fail());
        }
        let cipher = Aes256GcmSiv::new(&self.key.into());
        let aad = self.aad(context);
        let plain = cipher
            .decrypt(
                &Nonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain)
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_different_keys() {
        let root = [7u8; 32];
        let a = derive_key(&root, SIGNING_KEY_INFO);
        let b = derive_key(&root, DIGEST_KEY_INFO);
        assert_ne!(*a, *b);
        assert_eq!(*a, *derive_key(&root, SIGNING_KEY_INFO));
        assert_ne!(*a, *derive_key(&[8u8; 32], SIGNING_KEY_INFO));
    }

    #[test]
    fn digests_depend_on_text_and_deployment_key() {
        let d1 = TextDigester::new(&[1; 32]);
        let d2 = TextDigester::new(&[2; 32]);
        assert_eq!(d1.digest("hello"), d1.digest("hello"));
        assert_ne!(d1.digest("hello"), d1.digest("hellp"));
        assert_ne!(d1.digest("hello"), d2.digest("hello"));
        assert_eq!(format!("{d1:?}"), "TextDigester([redacted])");
    }

    #[test]
    fn incremental_digest_equals_one_shot() {
        let d = TextDigester::new(&[1; 32]);
        let mut w = d.writer();
        w.update(b"data: hel");
        w.update(b"");
        w.update(b"lo\n\n");
        assert_eq!(w.finish(), d.digest("data: hello\n\n"));
        assert_ne!(d.writer().finish(), d.digest("x"));
        assert_eq!(format!("{:?}", d.writer()), "DigestWriter([redacted])");
    }

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let k = SubjectKey::new("tenant-a", &[3; 32]);
        let s = k.seal("Jane Doe, 555-0100", "req-1").unwrap();
        assert!(!s.ciphertext.windows(4).any(|w| w == b"Jane"));
        assert_eq!(k.open(&s, "req-1").unwrap().as_str(), "Jane Doe, 555-0100");
        assert!(k.open(&s, "req-2").is_err(), "moved to another record");
        let other = SubjectKey::new("tenant-a", &[4; 32]);
        assert!(
            other.open(&s, "req-1").is_err(),
            "shredded key replaced by another"
        );
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert!(k.open(&t, "req-1").is_err());
        let err = k.open(&t, "req-1").unwrap_err().to_string();
        assert!(!err.contains("Jane"));
    }
}
