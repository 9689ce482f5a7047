//! Signed checkpoints in the C2SP `tlog-checkpoint` / `signed-note` text format.
//!
//! We adopt the C2SP format rather than inventing one: Go's `sumdb/note`, Sigsum, Trillian
//! witnesses and `litetlog` already read it, so a Veil log can later be cosigned by an
//! ordinary transparency-log witness. A checkpoint is a note:
//!
//! ```text
//! veil.example/audit          <- origin (the log's name)
//! 1024                        <- tree size, decimal
//! 3q2+7w...=                  <- root hash, standard base64
//! time 1764151200000          <- extension line: signing time, ms since the epoch
//!                             <- blank line
//! — veil.example/audit AbCd...  <- signature line: key name, base64(key id[4] || sig[64])
//! ```
//!
//! The signature (Ed25519) covers the body: the four lines above the blank line, each with its
//! final newline. The key id is the first four bytes of SHA-256(name || "\n" || 0x01 || public
//! key), as C2SP specifies; the public key is shared as a verifier key string
//! `name+hex(key id)+base64(0x01 || public key)`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::tree::Hash;

/// Ed25519's algorithm byte in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;

/// A tree head: what a signature commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (the note origin line).
    pub origin: String,
    /// Number of records.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// Signing time, milliseconds since the Unix epoch.
    pub time_ms: u64,
}

impl Checkpoint {
    /// The note body that is signed.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.time_ms
        )
    }
}

/// A checkpoint with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The signed tree head.
    pub checkpoint: Checkpoint,
    /// Name of the signing key.
    pub key_name: String,
    /// C2SP key id (4 bytes).
    pub key_id: [u8; 4],
    /// Ed25519 signature over [`Checkpoint::body`].
    pub signature: [u8; 64],
}

/// Why a checkpoint text, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a checkpoint note.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The verifier key string is not valid.
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
    /// No signature from the expected key.
    #[error("checkpoint is not signed by key `{0}`")]
    NotSignedByKey(String),
    /// The signature does not verify.
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

impl SignedCheckpoint {
    /// The note text (body, blank line, signature line).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut sig = Vec::with_capacity(68);
        sig.extend_from_slice(&self.key_id);
        sig.extend_from_slice(&self.signature);
        format!(
            "{}\n\u{2014} {} {}\n",
            self.checkpoint.body(),
            self.key_name,
            B64.encode(sig)
        )
    }

    /// Parses a note with exactly one signature line. Strict: the text must be exactly what
    /// [`SignedCheckpoint::to_text`] writes.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        use CheckpointError::Malformed;
        let (body, sigs) = text
            .split_once("\n\n")
            .ok_or(Malformed("no blank line before signatures"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(Malformed("empty origin"))?;
        let size_s = lines.next().ok_or(Malformed("missing size"))?;
        let size: u64 = size_s
            .parse()
            .map_err(|_| Malformed("size is not a decimal number"))?;
        let root_s = lines.next().ok_or(Malformed("missing root hash"))?;
        let time_s = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .ok_or(Malformed("missing time line"))?;
        let time_ms: u64 = time_s
            .parse()
            .map_err(|_| Malformed("time is not a decimal number"))?;
        if lines.next().is_some() {
            return Err(Malformed("unexpected extension line"));
        }
        let root: Hash = B64
            .decode(root_s)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(Malformed("root is not a base64 SHA-256 hash"))?;
        let sig_line = sigs
            .strip_suffix('\n')
            .ok_or(Malformed("signature line must end in a newline"))?;
        if sig_line.contains('\n') {
            return Err(Malformed("expected exactly one signature line"));
        }
        let rest = sig_line
            .strip_prefix("\u{2014} ")
            .ok_or(Malformed("signature line must start with an em dash"))?;
        let (key_name, sig_b64) = rest
            .split_once(' ')
            .ok_or(Malformed("signature line needs a key name and a signature"))?;
        let raw = B64
            .decode(sig_b64)
            .map_err(|_| Malformed("signature is not base64"))?;
        let (id, sig) = raw
            .split_at_checked(4)
            .ok_or(Malformed("signature too short"))?;
        let cp = SignedCheckpoint {
            checkpoint: Checkpoint {
                origin: origin.to_string(),
                size,
                root,
                time_ms,
            },
            key_name: key_name.to_string(),
            key_id: id
                .try_into()
                .map_err(|_| Malformed("signature too short"))?,
            signature: sig
                .try_into()
                .map_err(|_| Malformed("signature is not 64 bytes"))?,
        };
        // Canonical form only: leading zeros, non-canonical base64 and the like are refused.
        if cp.to_text() != text {
            return Err(Malformed("not in canonical form"));
        }
        Ok(cp)
    }
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d: [u8; 32] = h.finalize().into();
    let [a, b, c, e, ..] = d;
    [a, b, c, e]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Signs checkpoints. Holds the Ed25519 key; its `Debug` does not print it.
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A signer from a 32-byte seed (derive it from the root key with
    /// [`crate::derive_key`] and [`crate::SIGNING_KEY_INFO`]). `name` is the log origin.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadKey(
                "name must be non-empty without spaces or `+`",
            ));
        }
        Ok(Self {
            name: name.to_string(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The log name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching public key.
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        let public = self.key.verifying_key();
        VerifierKey {
            name: self.name.clone(),
            id: key_id(&self.name, public.as_bytes()),
            key: public,
        }
    }

    /// Signs a tree head of this log.
    #[must_use]
    pub fn sign(&self, size: u64, root: Hash, time_ms: u64) -> SignedCheckpoint {
        let checkpoint = Checkpoint {
            origin: self.name.clone(),
            size,
            root,
            time_ms,
        };
        let signature = self.key.sign(checkpoint.body().as_bytes()).to_bytes();
        SignedCheckpoint {
            checkpoint,
            key_name: self.name.clone(),
            key_id: key_id(&self.name, self.key.verifying_key().as_bytes()),
            signature,
        }
    }

    /// The seed, for writing a key file. Zeroized when dropped.
    #[must_use]
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }
}

/// A checkpoint verifier key: all an offline verifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// The log name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses `name+hex(key id)+base64(0x01 || public key)`.
    pub fn parse(s: &str) -> Result<Self, CheckpointError> {
        use CheckpointError::BadKey;
        let s = s.trim();
        // The base64 part may itself contain `+`, so split twice only (as Go's `sumdb/note`).
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(BadKey("expected `name+keyid+key`"));
        };
        if !valid_name(name) {
            return Err(BadKey("invalid name"));
        }
        let raw = B64
            .decode(key_b64)
            .map_err(|_| BadKey("key is not base64"))?;
        let (alg, public) = raw.split_first().ok_or(BadKey("empty key"))?;
        if *alg != ALG_ED25519 {
            return Err(BadKey("not an Ed25519 key"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| BadKey("key is not 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&public).map_err(|_| BadKey("not a valid Ed25519 point"))?;
        let id = key_id(name, &public);
        if id_hex != hex::encode(id) {
            return Err(BadKey("key id does not match the key"));
        }
        Ok(Self {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Verifies a checkpoint's signature and that it comes from this key and log.
    pub fn verify(&self, cp: &SignedCheckpoint) -> Result<(), CheckpointError> {
        if cp.key_name != self.name || cp.key_id != self.id {
            return Err(CheckpointError::NotSignedByKey(self.name.clone()));
        }
        if cp.checkpoint.origin != self.name {
            return Err(CheckpointError::BadSignature);
        }
        let sig = ed25519_dalek::Signature::from_bytes(&cp.signature);
        self.key
            .verify_strict(cp.checkpoint.body().as_bytes(), &sig)
            .map_err(|_| CheckpointError::BadSignature)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(raw)
        )
    }
}

/// When to sign the next checkpoint: every `every_records` records or every `every_ms`
/// milliseconds, whichever comes first, and never for an unchanged tree. The caller drives
/// it (the library has no clock and no thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Sign after this many new records.
    pub every_records: u64,
    /// Sign when the last checkpoint is older than this (and records were added).
    pub every_ms: u64,
}

impl Default for CheckpointPolicy {
    /// 1000 records or 10 seconds: the default keeps at most 10 s of records unsigned.
    fn default() -> Self {
        Self {
            every_records: 1000,
            every_ms: 10_000,
        }
    }
}

/// The state a [`CheckpointPolicy`] needs: the last signed size and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckpointSchedule {
    policy: CheckpointPolicy,
    last_size: u64,
    last_time_ms: u64,
}

impl CheckpointSchedule {
    /// A schedule starting from the last checkpoint (size 0 and time 0 when there is none).
    #[must_use]
    pub fn new(policy: CheckpointPolicy, last_size: u64, last_time_ms: u64) -> Self {
        Self {
            policy,
            last_size,
            last_time_ms,
        }
    }

    /// Whether a checkpoint is due for a tree of `size` at `now_ms`.
    #[must_use]
    pub fn is_due(&self, size: u64, now_ms: u64) -> bool {
        size > self.last_size
            && (size - self.last_size >= self.policy.every_records
                || now_ms.saturating_sub(self.last_time_ms) >= self.policy.every_ms)
    }

    /// The size of the last checkpoint.
    #[must_use]
    pub fn last_size(&self) -> u64 {
        self.last_size
    }

    /// Records that a checkpoint was signed.
    pub fn signed(&mut self, size: u64, now_ms: u64) {
        self.last_size = size;
        self.last_time_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed("veil.test/audit", &[42; 32]).unwrap()
    }

    #[test]
    fn text_round_trips_and_verifies() {
        let s = signer();
        let cp = s.sign(10, [5; 32], 1_764_000_000_000);
        let text = cp.to_text();
        assert!(text.starts_with("veil.test/audit\n10\n"));
        assert!(text.contains("\ntime 1764000000000\n\n\u{2014} veil.test/audit "));
        let back = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(back, cp);
        let vk = VerifierKey::parse(&s.verifier().to_string()).unwrap();
        assert_eq!(vk, s.verifier());
        vk.verify(&back).unwrap();
    }

    #[test]
    fn altered_checkpoints_fail() {
        let s = signer();
        let vk = s.verifier();
        let cp = s.sign(10, [5; 32], 1);
        let mut bigger = cp.clone();
        bigger.checkpoint.size = 11;
        assert_eq!(vk.verify(&bigger), Err(CheckpointError::BadSignature));
        let mut other_root = cp.clone();
        other_root.checkpoint.root[0] ^= 1;
        assert_eq!(vk.verify(&other_root), Err(CheckpointError::BadSignature));
        let mut later = cp.clone();
        later.checkpoint.time_ms += 1;
        assert!(vk.verify(&later).is_err());
        let other = CheckpointSigner::from_seed("veil.test/audit", &[43; 32]).unwrap();
        assert!(matches!(
            vk.verify(&other.sign(10, [5; 32], 1)),
            Err(CheckpointError::NotSignedByKey(_))
        ));
        vk.verify(&cp).unwrap();
    }

    #[test]
    fn text_flips_are_refused_or_fail_verification() {
        let s = signer();
        let vk = s.verifier();
        let text = s.sign(1234, [9; 32], 99).to_text().into_bytes();
        for i in 0..text.len() {
            for bit in 0..8 {
                let mut t = text.clone();
                t[i] ^= 1 << bit;
                let Ok(t) = String::from_utf8(t) else {
                    continue;
                };
                if let Ok(cp) = SignedCheckpoint::parse(&t) {
                    assert!(vk.verify(&cp).is_err(), "flip at {i} bit {bit} accepted");
                }
            }
        }
    }

    #[test]
    fn bad_verifier_keys_are_refused() {
        let good = signer().verifier().to_string();
        assert!(VerifierKey::parse(&good).is_ok());
        assert!(VerifierKey::parse("nope").is_err());
        assert!(
            VerifierKey::parse(&good.replacen("veil.test", "veil.tess", 1)).is_err(),
            "key id binds the name"
        );
        assert!(VerifierKey::parse(&format!("{good}+x")).is_err());
        assert!(CheckpointSigner::from_seed("has space", &[1; 32]).is_err());
    }

    #[test]
    fn schedule_fires_on_count_or_age_but_not_for_an_unchanged_tree() {
        let mut s = CheckpointSchedule::new(
            CheckpointPolicy {
                every_records: 100,
                every_ms: 1000,
            },
            0,
            0,
        );
        assert!(!s.is_due(0, 5000), "empty tree");
        assert!(!s.is_due(99, 999));
        assert!(s.is_due(100, 10));
        assert!(s.is_due(1, 1000));
        s.signed(100, 1000);
        assert!(!s.is_due(100, 99_999), "nothing new");
        assert!(!s.is_due(150, 1500));
        assert!(s.is_due(150, 2000));
    }
}
