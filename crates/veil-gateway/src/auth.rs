//! API keys, JWT bearer tokens, and the [`Principal`] either authenticates.
//!
//! Both arrive as `Authorization: Bearer …`. A value shaped like a Veil key (`veil_` and 43
//! characters) is looked up as a key; when `[auth.jwt]` is configured, a value shaped like a
//! JWT is verified by [`crate::jwt::JwtVerifier`]. Anything else, and every failure of
//! either kind, is the same 401.
//!
//! A key is `veil_` followed by 256 random bits in unpadded base64url (43 characters). It
//! is shown once and stored only as its SHA-256. A fast hash is right here: the key carries
//! 256 bits of entropy, so neither dictionaries nor brute force apply and a slow password
//! hash (argon2, bcrypt) would only add latency to every request; the hash is also the
//! lookup index, which a salted hash could not be.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use veil_detect::Sensitive;
use veil_store::{KeyLimits, KeyRecord, KeyStore, Store, StoreError};

use crate::error::GatewayError;
use crate::jwt::{JwtVerifier, looks_like_jwt};

/// Prefix of every Veil API key (lets secret scanners recognise leaked keys).
pub const KEY_PREFIX: &str = "veil_";

/// The role that may manage keys under `/admin/v1`.
pub const ADMIN_ROLE: &str = "admin";

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's public id.
    pub key_id: String,
    /// The tenant the caller acts for.
    pub tenant: String,
    /// Roles granted.
    pub roles: Vec<String>,
    /// Models allowed; empty means every configured model.
    pub models: Vec<String>,
    /// The key's own rate limits.
    pub limits: KeyLimits,
}

impl Principal {
    /// True when the caller may use the public model `name`.
    pub fn may_use(&self, name: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == name)
    }

    /// True when the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl From<&KeyRecord> for Principal {
    fn from(key: &KeyRecord) -> Self {
        Self {
            key_id: key.id.clone(),
            tenant: key.tenant.clone(),
            roles: key.roles.clone(),
            models: key.models.clone(),
            limits: key.limits,
        }
    }
}

/// The lowercase hex SHA-256 of a key string.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What a new key may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    /// Tenant.
    pub tenant: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Allowed models; empty means all.
    pub models: Vec<String>,
    /// Expiry, unix seconds.
    pub expires_at: Option<i64>,
    /// Rate limits.
    pub limits: KeyLimits,
    /// Operator note.
    pub description: String,
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("cannot draw random bytes for a key")]
    Random,
    /// A field is invalid.
    #[error("invalid key request: {0}")]
    Invalid(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates and stores a key; returns the secret (to show once) and the stored record.
pub async fn create_key(
    store: &Store,
    spec: NewKey,
) -> Result<(Sensitive<String>, KeyRecord), KeyError> {
    if spec.tenant.is_empty() {
        return Err(KeyError::Invalid("tenant must not be empty"));
    }
    let mut secret_bytes = [0u8; 32];
    let mut id_bytes = [0u8; 8];
    getrandom::fill(&mut secret_bytes).map_err(|_| KeyError::Random)?;
    getrandom::fill(&mut id_bytes).map_err(|_| KeyError::Random)?;
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret_bytes));
    let record = KeyRecord {
        id: format!("key_{}", hex::encode(id_bytes)),
        key_hash: hash_key(&secret),
        tenant: spec.tenant,
        roles: spec.roles,
        models: spec.models,
        created_at: unix_now(),
        expires_at: spec.expires_at,
        revoked_at: None,
        limits: spec.limits,
        description: spec.description,
    };
    store.insert_key(&record).await?;
    Ok((Sensitive::new(secret), record))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Pulls the bearer value from `Authorization`.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    Some(token)
}

/// True when a bearer value has the shape of a Veil key: 5 + 43 characters. Anything else
/// cannot be a key, so the lookup is skipped.
fn is_key_shaped(token: &str) -> bool {
    token.len() == KEY_PREFIX.len() + 43 && token.starts_with(KEY_PREFIX)
}

/// Pulls the bearer token from `Authorization`, if it has the shape of a Veil key.
#[cfg(test)]
fn bearer(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).filter(|t| is_key_shaped(t))
}

/// Authenticates callers, keeping recently seen keys in memory.
///
/// Entries live for `ttl` (5 s by default): a key revoked on another replica stops working
/// within that time; a key revoked through this process stops at once ([`Self::forget`]).
/// Unknown keys are not cached, so random guesses cannot fill memory.
#[derive(Debug, Clone)]
pub struct Authenticator {
    store: Store,
    cache: Arc<Mutex<HashMap<String, (KeyRecord, Instant)>>>,
    ttl: Duration,
    /// JWT verification, when `[auth.jwt]` is configured.
    jwt: Option<Arc<JwtVerifier>>,
}

/// Upper bound on cached keys; the cache is cleared when it is reached.
const CACHE_LIMIT: usize = 10_000;

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cache: Arc::default(),
            ttl: Duration::from_secs(5),
            jwt: None,
        }
    }

    /// Also accepts JWT bearer tokens verified by `verifier`.
    pub fn with_jwt(mut self, verifier: Arc<JwtVerifier>) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// The JWT verifier, when configured.
    pub fn jwt(&self) -> Option<&Arc<JwtVerifier>> {
        self.jwt.as_ref()
    }

    /// Headers -> principal, or 401 for every kind of failure. A storage failure is a 503:
    /// it says nothing about the key either.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, GatewayError> {
        let token = bearer_token(headers).ok_or_else(GatewayError::unauthorized)?;
        if is_key_shaped(token) {
            return self.authenticate_key(token).await;
        }
        match &self.jwt {
            Some(jwt) if looks_like_jwt(token) => jwt
                .verify(token)
                .await
                .ok_or_else(GatewayError::unauthorized),
            _ => Err(GatewayError::unauthorized()),
        }
    }

    async fn authenticate_key(&self, token: &str) -> Result<Principal, GatewayError> {
        let hash = hash_key(token);
        let now = unix_now();
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(&hash).cloned())
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(key, _)| key);
        let key = match cached {
            Some(key) => key,
            None => {
                let key = self
                    .store
                    .key_by_hash(&hash)
                    .await
                    .map_err(|err| GatewayError::unavailable(&err))?
                    .ok_or_else(GatewayError::unauthorized)?;
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(hash, (key.clone(), Instant::now()));
                }
                key
            }
        };
        if !key.is_active(now) {
            return Err(GatewayError::unauthorized());
        }
        Ok(Principal::from(&key))
    }

    /// Drops cached entries of a key (after revocation through this process).
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (key, _)| key.id != key_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_accepts_only_key_shaped_tokens() {
        let key = format!("veil_{}", "A".repeat(43));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
        assert_eq!(bearer(&headers), Some(key.as_str()));
        for bad in [
            "Bearer veil_short".to_owned(),
            format!("Basic {key}"),
            format!("Bearer sk_{}", "A".repeat(45)),
        ] {
            headers.insert("authorization", bad.parse().unwrap());
            assert_eq!(bearer(&headers), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn keys_are_random_prefixed_and_stored_hashed() {
        let store = Store::open_in_memory().await.unwrap();
        let spec = NewKey {
            tenant: "acme".into(),
            roles: vec!["analyst".into()],
            ..NewKey::default()
        };
        let (a, rec_a) = create_key(&store, spec.clone()).await.unwrap();
        let (b, _) = create_key(&store, spec).await.unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("veil_"));
        assert_eq!(a.expose().len(), 48);
        assert_eq!(rec_a.key_hash, hash_key(a.expose()));
        assert!(!rec_a.key_hash.contains(a.expose().as_str()));
        let stored = store.list_keys(None).await.unwrap();
        assert!(stored.iter().all(|k| k.key_hash.len() == 64));
    }
}
