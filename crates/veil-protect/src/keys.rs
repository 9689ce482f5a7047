//! Keys: one 32-byte root key, and one HKDF-SHA256 subkey per purpose.
//!
//! The root key never leaves this module except through [`RootKey::derive`]; every keyed
//! operation in Veil (pseudonym HMAC, field encryption, FPE, vault encryption, audit signing)
//! uses its own subkey, so a leaked subkey exposes one purpose only. Key material is zeroized
//! on drop and `Debug` prints `[redacted]`.
//!
//! Loading: [`resolve`] takes the `VEIL_MASTER_KEY` value (hex or base64) or a key file
//! (created with mode 0600 from the OS CSPRNG on first use; refused when group or others can
//! read it). These are plain functions over a path and a string so that the caller decides
//! where configuration comes from.

use std::{
    fmt,
    io::{Read, Write},
    path::Path,
};

use base64::Engine;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The environment variable that may hold the root key (64 hex digits or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "VEIL_MASTER_KEY";

/// Length of the root key and of every subkey, in bytes.
pub const KEY_LEN: usize = 32;

/// HKDF salt: fixed and public. It separates Veil's derivations from any other use of the same
/// root key material; secrecy comes from the root key alone (RFC 5869 §3.1).
const HKDF_SALT: &[u8] = b"veil/root-key/v1";

/// What a subkey is for. Each purpose has its own HKDF `info` label, so subkeys are
/// independent: knowing one tells nothing about another or about the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Encrypting pseudonym mappings at rest in the vault.
    VaultEncryption,
    /// Keyed hashes and surrogate generation (HMAC-SHA256).
    PseudonymHmac,
    /// Reversible field encryption (AES-256-GCM-SIV tokens).
    FieldEncryption,
    /// Format-preserving encryption (FF1 over AES-256).
    Fpe,
    /// Signing audit checkpoints.
    AuditSigning,
    /// Hashing API keys at rest.
    ApiKeyHash,
}

impl Purpose {
    /// The HKDF `info` label. Never change one: every derived key would change with it.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::VaultEncryption => "veil/vault-encryption/v1",
            Purpose::PseudonymHmac => "veil/pseudonym-hmac/v1",
            Purpose::FieldEncryption => "veil/field-encryption/v1",
            Purpose::Fpe => "veil/fpe-ff1/v1",
            Purpose::AuditSigning => "veil/audit-signing/v1",
            Purpose::ApiKeyHash => "veil/api-key-hash/v1",
        }
    }
}

/// The root key. Zeroized on drop; `Debug` prints `[redacted]`; there is no `Display` and no
/// accessor for the bytes: use [`RootKey::derive`].
#[derive(Clone)]
pub struct RootKey(Zeroizing<[u8; KEY_LEN]>);

impl RootKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::getrandom(bytes.as_mut_slice()).map_err(|_| KeyError::Rng)?;
        Ok(Self(bytes))
    }

    /// Parses a key written as 64 hex digits or as base64 (standard or URL-safe, padded or
    /// not) of 32 bytes. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && hex::decode_to_slice(text, bytes.as_mut_slice()).is_ok() {
            return Ok(Self(bytes));
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(decoded) = engine.decode(text).map(Zeroizing::new)
                && decoded.len() == KEY_LEN
            {
                bytes.copy_from_slice(&decoded);
                return Ok(Self(bytes));
            }
        }
        Err(KeyError::Malformed)
    }

    /// The subkey for `purpose`, optionally bound to a context (e.g. a tenant id) so that
    /// each tenant gets its own key for the same purpose.
    pub fn derive(&self, purpose: Purpose, context: &[u8]) -> SubKey {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.0.as_slice());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        // INVARIANT: HKDF-SHA256 can expand up to 255 * 32 bytes; 32 never fails. Falling
        // back to the zero key is therefore unreachable, and if it ever happened the
        // `derivation_is_deterministic_and_separated` test would catch it.
        let info_parts: [&[u8]; 3] = [purpose.label().as_bytes(), &[0u8], context];
        let _ = hk.expand_multi_info(&info_parts, okm.as_mut_slice());
        SubKey(okm)
    }

    /// Hex encoding, for writing a key file. Wrapped in [`Zeroizing`].
    fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A purpose-specific key derived from the [`RootKey`]. Zeroized on drop; `Debug` prints
/// `[redacted]`.
#[derive(Clone)]
pub struct SubKey(Zeroizing<[u8; KEY_LEN]>);

impl SubKey {
    /// The key bytes, for handing to a cipher or MAC. Every call site handles key material.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a root key could not be obtained. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key text is neither 64 hex digits nor base64 of 32 bytes.
    #[error("malformed root key (expected 64 hex digits or base64 of 32 bytes)")]
    Malformed,
    /// The OS random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,
    /// The key file can be read by group or others.
    #[error("key file `{path}` is readable by others (mode {mode:o}); run `chmod 600` on it")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or creating the key file failed.
    #[error("cannot {action} key file `{path}`: {source}")]
    Io {
        /// `read` or `create`.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file's content is malformed.
    #[error("key file `{path}` is malformed (expected 64 hex digits or base64 of 32 bytes)")]
    MalformedFile {
        /// The file.
        path: String,
    },
}

/// Loads the root key from `path`, creating it (mode 0600, fresh random key, hex) when it does
/// not exist. An existing file readable by group or others is refused.
pub fn load_or_create(path: &Path) -> Result<RootKey, KeyError> {
    let shown = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(mut file) => {
            check_permissions(&file, &shown)?;
            let mut text = Zeroizing::new(String::new());
            file.read_to_string(&mut text)
                .map_err(|source| KeyError::Io {
                    action: "read",
                    path: shown.clone(),
                    source,
                })?;
            RootKey::parse(&text).map_err(|_| KeyError::MalformedFile { path: shown })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(path, &shown),
        Err(source) => Err(KeyError::Io {
            action: "read",
            path: shown,
            source,
        }),
    }
}

fn create(path: &Path, shown: &str) -> Result<RootKey, KeyError> {
    let key = RootKey::generate()?;
    let io = |source| KeyError::Io {
        action: "create",
        path: shown.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let mut line = key.to_hex();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(key)
}

#[cfg(unix)]
fn check_permissions(file: &std::fs::File, shown: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|source| KeyError::Io {
            action: "read",
            path: shown.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: shown.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_file: &std::fs::File, _shown: &str) -> Result<(), KeyError> {
    Ok(())
}

/// Resolves the root key: the value of `VEIL_MASTER_KEY` when given (it wins), else the key
/// file (loaded or created). `Ok(None)` when neither is given.
pub fn resolve(
    key_file: Option<&Path>,
    env_value: Option<&str>,
) -> Result<Option<RootKey>, KeyError> {
    if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
        return RootKey::parse(value).map(Some);
    }
    key_file.map(load_or_create).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_separated() {
        let root = RootKey::from_bytes([7; KEY_LEN]);
        let a = root.derive(Purpose::PseudonymHmac, b"tenant-a");
        assert_eq!(
            a.expose(),
            root.derive(Purpose::PseudonymHmac, b"tenant-a").expose()
        );
        assert_ne!(
            a.expose(),
            root.derive(Purpose::PseudonymHmac, b"tenant-b").expose()
        );
        assert_ne!(a.expose(), root.derive(Purpose::Fpe, b"tenant-a").expose());
        assert_ne!(a.expose(), &[0u8; KEY_LEN]);
        let other = RootKey::from_bytes([8; KEY_LEN]);
        assert_ne!(
            a.expose(),
            other.derive(Purpose::PseudonymHmac, b"tenant-a").expose()
        );
    }

    #[test]
    fn debug_never_prints_key_material() {
        let root = RootKey::from_bytes([0xab; KEY_LEN]);
        assert_eq!(format!("{root:?}"), "[redacted]");
        assert_eq!(
            format!("{:?}", root.derive(Purpose::Fpe, b"")),
            "[redacted]"
        );
    }

    #[test]
    fn parse_accepts_hex_and_base64_and_rejects_garbage() {
        let hex_text = "ab".repeat(32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xab; 32]);
        let a = RootKey::parse(&hex_text).unwrap();
        let b = RootKey::parse(&format!("  {b64}\n")).unwrap();
        assert_eq!(
            a.derive(Purpose::Fpe, b"").expose(),
            b.derive(Purpose::Fpe, b"").expose()
        );
        assert!(matches!(RootKey::parse("abcd"), Err(KeyError::Malformed)));
        assert!(matches!(
            RootKey::parse(&"zz".repeat(32)),
            Err(KeyError::Malformed)
        ));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        assert!(matches!(RootKey::parse(&short), Err(KeyError::Malformed)));
    }

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(
            first.derive(Purpose::Fpe, b"").expose(),
            again.derive(Purpose::Fpe, b"").expose()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, KeyError::Permissions { mode: 0o644, .. }));
        assert!(!err.to_string().contains(&"ab".repeat(32)));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_or_create(&path).is_ok());
    }

    #[test]
    fn env_value_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("never-created.key");
        let key = resolve(Some(&path), Some(&"11".repeat(32))).unwrap();
        assert!(key.is_some());
        assert!(!path.exists());
        assert!(resolve(None, None).unwrap().is_none());
        assert!(resolve(None, Some("nope")).is_err());
    }
}
