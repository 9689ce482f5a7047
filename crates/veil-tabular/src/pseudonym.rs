//! Keyed pseudonyms for identifier columns: HMAC-SHA256 under a subkey of the master key.
//!
//! This moves to `veil-protect` (keyed hash, being built on its own branch) once its API is
//! on main; the construction here is the one it specifies: a per-purpose subkey derived from
//! the master key, then HMAC-SHA256 of the value, hex-encoded.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// The purpose label that separates this subkey from the master key's other uses.
const PURPOSE: &[u8] = b"veil/tabular/pseudonym/v1";

/// A pseudonymization key. Its `Debug` never prints the key.
pub struct PseudonymKey {
    subkey: [u8; 32],
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey([redacted])")
    }
}

impl PseudonymKey {
    /// Derives the pseudonym subkey from master key material (at least 16 bytes).
    pub fn from_master(master: &[u8]) -> Result<Self> {
        if master.len() < 16 {
            return Err(Error::config("the master key must be at least 16 bytes"));
        }
        let mut mac =
            HmacSha256::new_from_slice(master).map_err(|_| Error::config("unusable master key"))?;
        mac.update(PURPOSE);
        let mut subkey = [0u8; 32];
        subkey.copy_from_slice(&mac.finalize().into_bytes());
        Ok(Self { subkey })
    }

    /// The pseudonym of a value: 64 hex characters.
    pub fn pseudonym(&self, value: &str) -> String {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.subkey) else {
            return String::new();
        };
        mac.update(value.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in bytes.iter() {
            for nibble in [b >> 4, b & 15] {
                out.push(char::from(
                    HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
        out
    }
}

const HEX: [u8; 16] = *b"0123456789abcdef";

impl Drop for PseudonymKey {
    fn drop(&mut self) {
        // Best effort wipe; a dedicated zeroize dependency arrives with veil-protect.
        self.subkey = [0; 32];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let a = PseudonymKey::from_master(&[7u8; 32]).unwrap();
        let b = PseudonymKey::from_master(&[8u8; 32]).unwrap();
        assert_eq!(a.pseudonym("alice"), a.pseudonym("alice"));
        assert_ne!(a.pseudonym("alice"), a.pseudonym("bob"));
        assert_ne!(a.pseudonym("alice"), b.pseudonym("alice"));
        assert_eq!(a.pseudonym("alice").len(), 64);
        assert!(PseudonymKey::from_master(b"short").is_err());
        assert_eq!(format!("{a:?}"), "PseudonymKey([redacted])");
    }
}
