//! JWT bearer tokens from an OpenID Connect provider, verified against its JWKS.
//!
//! [`JwtSettings`] is the validated `[auth.jwt]` section; [`JwtVerifier`] holds the
//! provider's public keys and turns a token into a [`Principal`]. Keys come from a JWKS URL
//! (fetched at startup, refreshed every `refresh_secs`, and at once when a token names an
//! unknown `kid`, at most every [`MIN_REFETCH`]) or from a file (re-read on the same
//! schedule). Only asymmetric algorithms are accepted (RS*, PS*, ES256/384, EdDSA): a JWKS
//! publishes public keys, and refusing HS* rules out algorithm-confusion attacks where a
//! public key is used as an HMAC secret. `alg: none` never parses.
//!
//! Every failure, whatever its cause (malformed, unknown key, bad signature, expired, not
//! yet valid, wrong issuer or audience, missing tenant), ends in the same 401 at the caller;
//! the cause goes to a debug log line by kind only, never the token or its claims.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use veil_store::KeyLimits;

use crate::auth::Principal;
use crate::config::JwtConfig;

/// Shortest time between two fetches triggered by unknown `kid`s, so that tokens with
/// random `kid`s cannot make the gateway hammer the identity provider.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// Largest JWKS document accepted (real ones are a few kilobytes).
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Longest token considered; longer bearer values are refused without parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP(S).
    Url(String),
    /// Read from a file.
    File(PathBuf),
}

/// Where a token's tenant comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// This claim (a dotted path such as `org.id`) holds it; tokens without it are refused.
    Claim(String),
    /// Every token of this provider acts for this tenant.
    Fixed(String),
}

/// `[auth.jwt]` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The JWKS location.
    pub source: JwksSource,
    /// The required `iss`.
    pub issuer: String,
    /// Accepted `aud` values (a token must name one).
    pub audience: Vec<String>,
    /// Algorithms accepted in token headers.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Time between scheduled JWKS refreshes.
    pub refresh: Duration,
    /// Where the tenant comes from.
    pub tenant: TenantSource,
    /// Dotted path of the roles claim (array of strings, or one space-separated string).
    pub roles_claim: String,
    /// Provider role -> Veil role; when non-empty, unmapped provider roles are dropped.
    pub role_map: BTreeMap<String, String>,
}

impl JwtSettings {
    /// Validates the raw section; the error names what is wrong.
    pub fn from_config(config: &JwtConfig) -> Result<Self, String> {
        if config.jwks.trim().is_empty() {
            return Err("`jwks` must name a url or a file".into());
        }
        let source = if config.jwks.starts_with("https://") || config.jwks.starts_with("http://") {
            reqwest::Url::parse(&config.jwks)
                .map_err(|_| format!("`jwks` `{}` is not a url", config.jwks))?;
            JwksSource::Url(config.jwks.clone())
        } else {
            JwksSource::File(PathBuf::from(&config.jwks))
        };
        if config.issuer.is_empty() {
            return Err("`issuer` must not be empty".into());
        }
        if config.audience.is_empty() || config.audience.iter().any(String::is_empty) {
            return Err("`audience` must list at least one non-empty value".into());
        }
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            let algorithm =
                Algorithm::from_str(name).map_err(|_| format!("unknown algorithm `{name}`"))?;
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                return Err(format!(
                    "algorithm `{name}` is symmetric; only public-key algorithms are accepted"
                ));
            }
            algorithms.push(algorithm);
        }
        if algorithms.is_empty() {
            return Err("`algorithms` must not be empty".into());
        }
        if config.refresh_secs == 0 {
            return Err("`refresh_secs` must be positive".into());
        }
        let tenant = match &config.tenant {
            Some(fixed) if fixed.is_empty() => return Err("`tenant` must not be empty".into()),
            Some(fixed) => TenantSource::Fixed(fixed.clone()),
            None if config.tenant_claim.is_empty() => {
                return Err("`tenant_claim` must not be empty".into());
            }
            None => TenantSource::Claim(config.tenant_claim.clone()),
        };
        if config.roles_claim.is_empty() {
            return Err("`roles_claim` must not be empty".into());
        }
        Ok(Self {
            source,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            algorithms,
            leeway: Duration::from_secs(config.leeway_secs),
            refresh: Duration::from_secs(config.refresh_secs),
            tenant,
            roles_claim: config.roles_claim.clone(),
            role_map: config.role_map.clone(),
        })
    }
}

/// Why the JWKS could not be loaded. Tokens are never part of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The URL did not answer with a document.
    #[error("cannot fetch jwks from `{url}`: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read jwks file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The document is not a JWKS or holds no usable key.
    #[error("invalid jwks: {0}")]
    Invalid(String),
}

/// One public key of the set, ready to verify.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    /// The JWK's own `alg`, when it pins one.
    alg: Option<Algorithm>,
    /// The algorithms this key's type and curve can verify.
    family: &'static [Algorithm],
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn accepts(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        let kid_ok = match kid {
            Some(kid) => self.kid.as_deref() == Some(kid),
            None => true,
        };
        kid_ok && self.family.contains(&alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

const RSA_FAMILY: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The fields of a JWK read before the key material, so that one key of an unsupported type
/// or use does not invalidate the others.
#[derive(Deserialize)]
struct JwkHead {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
}

/// Parses a JWKS document; keys that cannot sign tokens we accept are skipped.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<VerifyingKey>, JwksError> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(bytes)
        .map_err(|err| JwksError::Invalid(format!("not a jwk set ({err})")))?;
    let mut keys = Vec::new();
    for raw in set.keys {
        let Ok(head) = JwkHead::deserialize(&raw) else {
            continue;
        };
        if head.usage.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let alg = match head.alg.as_deref() {
            Some(name) => match Algorithm::from_str(name) {
                Ok(alg) => Some(alg),
                // An encryption algorithm such as RSA-OAEP: not a signing key.
                Err(_) => continue,
            },
            None => None,
        };
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let family: &'static [Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA_FAMILY,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => continue,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            // Symmetric keys (`oct`) and other curves are never accepted.
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(VerifyingKey {
            kid: head.kid,
            alg,
            family,
            key,
        });
    }
    if keys.is_empty() {
        return Err(JwksError::Invalid("no usable signing key".into()));
    }
    Ok(keys)
}

/// Why a token was refused; logged by kind, never returned to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    Malformed,
    Algorithm,
    UnknownKey,
    Invalid,
    NoSubject,
    NoTenant,
}

/// Verifies tokens against the provider's keys. Shared by every request.
#[derive(Debug)]
pub struct JwtVerifier {
    settings: JwtSettings,
    keys: RwLock<Arc<Vec<VerifyingKey>>>,
    /// When a token with an unknown `kid` last caused a fetch; also serialises those fetches.
    last_on_demand: tokio::sync::Mutex<Option<Instant>>,
    client: reqwest::Client,
}

impl JwtVerifier {
    /// A verifier with no keys yet: call [`Self::refresh`] before serving (the gateway does
    /// at startup). Until then the first token triggers a fetch.
    pub fn new(settings: JwtSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            settings,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_on_demand: tokio::sync::Mutex::new(None),
            client,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Loads the JWKS now and replaces the keys; on error the old keys stay. Returns the
    /// number of usable keys.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let keys = self.load().await?;
        let count = keys.len();
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
        Ok(count)
    }

    /// Refreshes unless an unknown `kid` already caused a fetch within [`MIN_REFETCH`].
    /// Scheduled refreshes do not count, so a key rotated just after one is still found.
    async fn refresh_if_stale(&self) {
        let mut last = self.last_on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            return;
        }
        *last = Some(Instant::now());
        match self.load().await {
            Ok(keys) => {
                if let Ok(mut current) = self.keys.write() {
                    *current = Arc::new(keys);
                }
            }
            Err(err) => tracing::warn!(error = %err, "jwks refresh failed; keeping the old keys"),
        }
    }

    async fn load(&self) -> Result<Vec<VerifyingKey>, JwksError> {
        let bytes = match &self.settings.source {
            JwksSource::File(path) => {
                tokio::fs::read(path)
                    .await
                    .map_err(|source| JwksError::Read {
                        path: path.clone(),
                        source,
                    })?
            }
            JwksSource::Url(url) => self.fetch(url).await?,
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Invalid("document is larger than 1 MiB".into()));
        }
        parse_jwks(&bytes)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, JwksError> {
        let fail = |reason: String| JwksError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| {
                fail(
                    if err.is_timeout() {
                        "timed out"
                    } else {
                        "no answer"
                    }
                    .into(),
                )
            })?;
        if !response.status().is_success() {
            return Err(fail(format!("status {}", response.status().as_u16())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| fail("body could not be read".into()))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(JwksError::Invalid("document is larger than 1 MiB".into()));
            }
        }
        Ok(bytes)
    }

    /// Refreshes on the configured schedule for as long as the verifier lives.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let period = self.settings.refresh;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(verifier) = weak.upgrade() else {
                    break;
                };
                if let Err(err) = verifier.refresh().await {
                    tracing::warn!(error = %err, "jwks refresh failed; keeping the old keys");
                }
            }
        });
    }

    fn current_keys(&self) -> Arc<Vec<VerifyingKey>> {
        self.keys
            .read()
            .map(|keys| Arc::clone(&*keys))
            .unwrap_or_default()
    }

    /// A token -> the principal it proves, or `None` (the caller answers 401).
    pub async fn verify(&self, token: &str) -> Option<Principal> {
        match self.try_verify(token).await {
            Ok(principal) => Some(principal),
            Err(reason) => {
                tracing::debug!(reason = ?reason, "jwt refused");
                None
            }
        }
    }

    async fn try_verify(&self, token: &str) -> Result<Principal, Reject> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Reject::Malformed);
        }
        // `alg: none` and unknown algorithms fail here: `Algorithm` has no such variant.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Reject::Malformed)?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(Reject::Algorithm);
        }
        let kid = header.kid.as_deref();
        let mut keys = self.current_keys();
        if !keys.iter().any(|k| k.accepts(kid, header.alg)) {
            // A rotated key: look again at the provider (rate limited).
            self.refresh_if_stale().await;
            keys = self.current_keys();
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut outcome = Err(Reject::UnknownKey);
        for key in keys.iter().filter(|k| k.accepts(kid, header.alg)) {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(_) => outcome = Err(Reject::Invalid),
            }
        }
        let claims = outcome?;
        self.principal(&claims)
    }

    /// Maps verified claims to a principal by the configured claim names.
    fn principal(&self, claims: &Value) -> Result<Principal, Reject> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(Reject::NoSubject)?;
        let tenant = match &self.settings.tenant {
            TenantSource::Fixed(tenant) => tenant.clone(),
            TenantSource::Claim(path) => claim(claims, path)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or(Reject::NoTenant)?
                .to_owned(),
        };
        let mut roles: Vec<String> = match claim(claims, &self.settings.roles_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if !self.settings.role_map.is_empty() {
            roles = roles
                .iter()
                .filter_map(|r| self.settings.role_map.get(r).cloned())
                .collect();
        }
        roles.sort();
        roles.dedup();
        Ok(Principal {
            key_id: subject_id(&self.settings.issuer, subject),
            tenant,
            roles,
            models: Vec::new(),
            limits: KeyLimits::default(),
        })
    }
}

/// A stable, pseudonymous id for a token subject: `jwt_` and 16 hex digits of
/// SHA-256(issuer, subject). Subjects are often e-mail addresses; the id is what logs, records
/// and per-caller rate limits see instead.
pub fn subject_id(issuer: &str, subject: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(issuer.as_bytes());
    hasher.update([0u8]);
    hasher.update(subject.as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("jwt_{}", digest.get(..16).unwrap_or(&digest))
}

/// Follows a dotted path (`realm_access.roles`) into the claims.
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    // A claim whose name itself contains dots (common for namespaced claims such as
    // `https://example.com/tenant`) is found whole first.
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    path.split('.')
        .try_fold(claims, |value, part| value.get(part))
}

/// True when a bearer value has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() <= MAX_TOKEN_BYTES
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(tenant: TenantSource) -> JwtSettings {
        JwtSettings {
            source: JwksSource::File(PathBuf::from("unused")),
            issuer: "https://idp.test".into(),
            audience: vec!["veil".into()],
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            leeway: Duration::from_secs(30),
            refresh: Duration::from_secs(300),
            tenant,
            roles_claim: "realm_access.roles".into(),
            role_map: BTreeMap::new(),
        }
    }

    #[test]
    fn claims_map_to_tenant_and_roles() {
        let verifier = JwtVerifier::new(settings(TenantSource::Claim("org".into())));
        let claims = json!({"sub": "ann@example.com", "org": "acme",
            "realm_access": {"roles": ["analyst", "admin", "analyst"]}});
        let principal = verifier.principal(&claims).unwrap();
        assert_eq!(principal.tenant, "acme");
        assert_eq!(principal.roles, ["admin", "analyst"]);
        assert!(principal.key_id.starts_with("jwt_"));
        assert!(!principal.key_id.contains("ann"));
        assert_eq!(
            verifier.principal(&json!({"sub": "x"})),
            Err(Reject::NoTenant)
        );
        assert_eq!(
            verifier.principal(&json!({"org": "acme"})),
            Err(Reject::NoSubject)
        );
    }

    #[test]
    fn role_map_keeps_only_mapped_roles_and_space_separated_roles_work() {
        let mut s = settings(TenantSource::Fixed("corp".into()));
        s.roles_claim = "scope".into();
        s.role_map = BTreeMap::from([("veil.admin".to_owned(), "admin".to_owned())]);
        let verifier = JwtVerifier::new(s);
        let principal = verifier
            .principal(&json!({"sub": "s", "scope": "openid veil.admin profile"}))
            .unwrap();
        assert_eq!(principal.tenant, "corp");
        assert_eq!(principal.roles, ["admin"]);
    }

    #[test]
    fn jwks_parsing_skips_unusable_keys() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].accepts(Some("ec"), Algorithm::ES256));
        assert!(!keys[0].accepts(Some("ec"), Algorithm::RS256));
        assert!(!keys[0].accepts(Some("other"), Algorithm::ES256));
        assert!(parse_jwks(br#"{"keys": []}"#).is_err());
        assert!(parse_jwks(b"not json").is_err());
    }

    #[test]
    fn symmetric_and_unknown_algorithms_are_refused_in_config() {
        let mut config = JwtConfig {
            jwks: "jwks.json".into(),
            issuer: "https://idp.test".into(),
            audience: vec!["veil".into()],
            ..JwtConfig::default()
        };
        assert!(JwtSettings::from_config(&config).is_ok());
        config.algorithms = vec!["HS256".into()];
        assert!(
            JwtSettings::from_config(&config)
                .unwrap_err()
                .contains("symmetric")
        );
        config.algorithms = vec!["none".into()];
        assert!(JwtSettings::from_config(&config).is_err());
        config.algorithms = vec!["RS256".into()];
        config.audience.clear();
        assert!(JwtSettings::from_config(&config).is_err());
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!looks_like_jwt("veil_abc"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c d"));
    }
}
