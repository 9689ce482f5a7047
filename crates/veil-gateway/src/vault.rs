//! The pseudonym vault: each conversation's mappings, encrypted at rest in `veil-store`, and
//! the bridge that lets the synchronous [`Protector`](veil_protect::Protector) use them.
//!
//! The protector wants a synchronous [`MappingStore`] whose `get_or_assign` is atomic; the
//! vault is an async database shared by every replica. Rather than block on the database
//! inside the protector, a request works in three steps:
//!
//! 1. [`Vault::load`] reads the conversation's unexpired entries once and decrypts them into a
//!    [`Conversation`], an in-memory [`MappingStore`].
//! 2. The protector assigns pseudonyms to the request's new values against that map; the map
//!    keeps those assignments as *pending*.
//! 3. [`Vault::commit`] writes the pending entries with the store's atomic
//!    [`put_entries`](VaultStore::put_entries), through a [`VaultWriter`] that commits
//!    concurrent requests together. When another request won the race for a value,
//!    its pseudonym is adopted; when a pseudonym was taken by another value, the caller
//!    reloads and assigns again. Only then is the text rewritten, so what leaves the gateway
//!    always uses pseudonyms the vault holds.
//!
//! Entries are AES-256-GCM-SIV ciphertexts under a key derived per tenant from the root key
//! (`Purpose::VaultEncryption`), with the tenant, conversation and placeholder as associated
//! data: a row copied to another tenant, conversation or placeholder does not decrypt. The
//! store indexes values by an HMAC under another per-tenant key, never by the value.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use veil_detect::DataClass;
use veil_protect::keys::{Purpose, RootKey, SubKey};
use veil_protect::{MAX_ATTEMPTS, MappingStore, Proposal, PseudonymKind, ScopeId, StoreError};
use veil_store::{Store, VaultEntry, VaultStore, VaultWriter};
use zeroize::{Zeroize, Zeroizing};

/// Why the vault could not serve a request. Messages never hold values.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The database failed.
    #[error("vault store: {0}")]
    Store(#[from] veil_store::StoreError),
    /// An entry does not decrypt or decode (tampered, or written under another key).
    #[error("vault entry `{placeholder}` does not decrypt")]
    Corrupt {
        /// The placeholder of the entry (not sensitive: Veil made it up).
        placeholder: String,
    },
    /// Encryption or the random number generator failed.
    #[error("vault encryption failed")]
    Crypto,
    /// Assigning a pseudonym failed (the protector or its keys).
    #[error("protect: {0}")]
    Protect(#[from] veil_protect::ProtectError),
    /// The in-memory map's lock was poisoned by a panicking thread.
    #[error("conversation map lock poisoned")]
    Lock,
    /// Concurrent requests kept taking the pseudonyms this one proposed.
    #[error("no free pseudonym after {0} rounds")]
    Contention(u32),
}

/// Version byte of the plaintext layout below.
const PLAINTEXT_V1: u8 = 1;
/// Nonce length of AES-GCM-SIV.
const NONCE_LEN: usize = 12;

/// The vault of one gateway: the store plus the root key the per-tenant keys derive from.
pub struct Vault {
    store: Store,
    /// Commits the requests' new mappings together (group commit).
    writer: VaultWriter,
    root: RootKey,
    ttl_secs: i64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

/// Per-tenant keys, derived once per request (two HKDF expansions: microseconds).
struct TenantKeys {
    cipher: Aes256GcmSiv,
    index: SubKey,
}

impl Vault {
    /// A vault over `store`, mappings living `ttl_secs`. Spawns the vault writer, so call it
    /// inside a tokio runtime.
    pub fn new(store: Store, root: &[u8; 32], ttl_secs: u64) -> Self {
        Self {
            writer: VaultWriter::spawn(store.clone()),
            store,
            root: RootKey::from_bytes(*root),
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        }
    }

    fn keys(&self, tenant: &str) -> TenantKeys {
        let cipher_key = self
            .root
            .derive(Purpose::VaultEncryption, tenant.as_bytes());
        let mut context = Vec::with_capacity(tenant.len() + 12);
        context.extend_from_slice(tenant.as_bytes());
        context.extend_from_slice(b"\0value-index");
        TenantKeys {
            cipher: Aes256GcmSiv::new(&(*cipher_key.expose()).into()),
            index: self.root.derive(Purpose::VaultEncryption, &context),
        }
    }

    /// Reads and decrypts every unexpired mapping of `scope`'s conversation.
    pub async fn load(&self, scope: &ScopeId) -> Result<Conversation, VaultError> {
        let now = crate::auth::unix_now();
        let entries = self
            .store
            .conversation_entries(scope.tenant(), scope.conversation(), now)
            .await?;
        let keys = self.keys(scope.tenant());
        let mut maps = Maps::default();
        for entry in entries {
            let (kind, class, value) = decrypt(&keys, &entry)?;
            maps.insert(
                kind,
                class,
                Original(value.as_str().to_owned()),
                entry.placeholder,
            );
        }
        Ok(Conversation {
            scope: scope.clone(),
            maps: Mutex::new(maps),
        })
    }

    /// Writes the pending assignments of `conversation`. Returns `true` when every one is
    /// now in the vault (some possibly replaced by another request's pseudonym for the same
    /// value), `false` when a proposed pseudonym was taken by another value: reload and
    /// assign again.
    pub async fn commit(&self, conversation: &Conversation) -> Result<bool, VaultError> {
        let pending = conversation.take_pending()?;
        if pending.is_empty() {
            return Ok(true);
        }
        let keys = self.keys(conversation.scope.tenant());
        let now = crate::auth::unix_now();
        let mut entries = Vec::with_capacity(pending.len());
        for p in &pending {
            entries.push(VaultEntry {
                tenant: conversation.scope.tenant().to_owned(),
                conversation: conversation.scope.conversation().to_owned(),
                placeholder: p.placeholder.clone(),
                value_hash: value_hash(&keys, p.kind, &p.class, &p.value.0),
                ciphertext: encrypt(&keys, &conversation.scope, p)?,
                created_at: now,
                expires_at: now.saturating_add(self.ttl_secs),
            });
        }
        // One transaction for the whole request (one commit instead of one per new value),
        // shared with the other requests writing at the same time.
        let winners = self.writer.put_entries(entries, now).await?;
        let mut complete = true;
        for (p, winner) in pending.iter().zip(winners) {
            match winner {
                Some(winner) if winner.placeholder == p.placeholder => {}
                Some(winner) => conversation.adopt(p, winner.placeholder)?,
                None => complete = false,
            }
        }
        Ok(complete)
    }
}

fn value_hash(keys: &TenantKeys, kind: PseudonymKind, class: &DataClass, value: &str) -> String {
    let mut input = Zeroizing::new(Vec::with_capacity(value.len() + 40));
    input.push(kind as u8);
    input.extend_from_slice(class.as_str().as_bytes());
    input.push(0);
    input.extend_from_slice(value.as_bytes());
    crate::pipeline::keyed_hash(keys.index.expose(), &input)
}

fn aad(scope: &ScopeId, placeholder: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(scope.tenant().len() + scope.conversation().len() + 40);
    for part in [scope.tenant(), scope.conversation(), placeholder] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

/// Plaintext: version, kind, class name length, class name, value.
fn encrypt(keys: &TenantKeys, scope: &ScopeId, p: &Pending) -> Result<Vec<u8>, VaultError> {
    let class = p.class.as_str().as_bytes();
    let class_len = u8::try_from(class.len()).map_err(|_| VaultError::Crypto)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(3 + class.len() + p.value.0.len()));
    plain.extend_from_slice(&[PLAINTEXT_V1, p.kind as u8, class_len]);
    plain.extend_from_slice(class);
    plain.extend_from_slice(p.value.0.as_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| VaultError::Crypto)?;
    let aad = aad(scope, &p.placeholder);
    let sealed = keys
        .cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Crypto)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn decrypt(
    keys: &TenantKeys,
    entry: &VaultEntry,
) -> Result<(PseudonymKind, DataClass, Zeroizing<String>), VaultError> {
    let corrupt = || VaultError::Corrupt {
        placeholder: entry.placeholder.clone(),
    };
    let scope = ScopeId::new(entry.tenant.clone(), entry.conversation.clone());
    let (nonce, sealed) = entry
        .ciphertext
        .split_at_checked(NONCE_LEN)
        .ok_or_else(corrupt)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt())?;
    let plain = Zeroizing::new(
        keys.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(&scope, &entry.placeholder),
                },
            )
            .map_err(|_| corrupt())?,
    );
    let [version, kind, class_len, rest @ ..] = plain.as_slice() else {
        return Err(corrupt());
    };
    let kind = match (*version, *kind) {
        (PLAINTEXT_V1, 0) => PseudonymKind::Tag,
        (PLAINTEXT_V1, 1) => PseudonymKind::Surrogate,
        _ => return Err(corrupt()),
    };
    let (class, value) = rest
        .split_at_checked(usize::from(*class_len))
        .ok_or_else(corrupt)?;
    let class = std::str::from_utf8(class)
        .ok()
        .and_then(|c| DataClass::parse_any(c).ok())
        .ok_or_else(corrupt)?;
    let value = std::str::from_utf8(value).map_err(|_| corrupt())?;
    Ok((kind, class, Zeroizing::new(value.to_owned())))
}

/// An original value: zeroized on drop, hashable, never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Original(String);

impl Drop for Original {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A pseudonym assigned in this request and not yet in the vault.
struct Pending {
    kind: PseudonymKind,
    class: DataClass,
    value: Original,
    placeholder: String,
}

#[derive(Default)]
struct Maps {
    forward: HashMap<(PseudonymKind, DataClass, Original), String>,
    backward: HashMap<(PseudonymKind, String), (DataClass, Original)>,
    /// Highest tag ordinal in use per class and kind (tags of expired entries leave gaps,
    /// so this is not a count); the number of entries for surrogates.
    ordinals: HashMap<(PseudonymKind, DataClass), u64>,
    pending: Vec<Pending>,
}

impl Maps {
    fn insert(&mut self, kind: PseudonymKind, class: DataClass, value: Original, p: String) {
        let highest = self.ordinals.entry((kind, class.clone())).or_insert(0);
        *highest = match tag_ordinal(&p) {
            Some(ordinal) => (*highest).max(ordinal),
            None => *highest + 1,
        };
        self.backward
            .insert((kind, p.clone()), (class.clone(), value.clone()));
        self.forward.insert((kind, class, value), p);
    }
}

/// The number at the end of a tag such as `<PERSON_12>`.
fn tag_ordinal(placeholder: &str) -> Option<u64> {
    let inner = placeholder.strip_prefix('<')?.strip_suffix('>')?;
    inner.rsplit_once('_')?.1.parse().ok()
}

/// One conversation's mappings in memory: what the vault held when the request started plus
/// what this request assigned. A [`MappingStore`] for the protector.
pub struct Conversation {
    scope: ScopeId,
    maps: Mutex<Maps>,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn poisoned<T>(_: PoisonError<T>) -> StoreError {
    StoreError::new("conversation map lock poisoned")
}

impl Conversation {
    /// The scope.
    pub fn scope(&self) -> &ScopeId {
        &self.scope
    }

    /// How many assignments wait for [`Vault::commit`].
    pub fn pending(&self) -> usize {
        self.maps.lock().map_or(0, |m| m.pending.len())
    }

    fn take_pending(&self) -> Result<Vec<Pending>, VaultError> {
        let mut maps = self.maps.lock().map_err(|_| VaultError::Lock)?;
        Ok(std::mem::take(&mut maps.pending))
    }

    /// Another request stored `winner` for this value first: use it.
    fn adopt(&self, lost: &Pending, winner: String) -> Result<(), VaultError> {
        let mut maps = self.maps.lock().map_err(|_| VaultError::Lock)?;
        maps.backward.remove(&(lost.kind, lost.placeholder.clone()));
        maps.insert(lost.kind, lost.class.clone(), lost.value.clone(), winner);
        Ok(())
    }

    /// Calls `f` with every mapping (placeholder, class, original).
    pub fn for_each(&self, mut f: impl FnMut(&str, &DataClass, &str)) {
        if let Ok(maps) = self.maps.lock() {
            for ((_, placeholder), (class, value)) in &maps.backward {
                f(placeholder, class, &value.0);
            }
        }
    }
}

impl MappingStore for Conversation {
    fn get_or_assign(
        &self,
        scope: &ScopeId,
        kind: PseudonymKind,
        class: &DataClass,
        value: &str,
        propose: &mut dyn FnMut(Proposal) -> String,
    ) -> Result<String, StoreError> {
        if scope != &self.scope {
            return Err(StoreError::new("scope is not this conversation"));
        }
        let mut maps = self.maps.lock().map_err(poisoned)?;
        let key = (kind, class.clone(), Original(value.to_owned()));
        if let Some(existing) = maps.forward.get(&key) {
            return Ok(existing.clone());
        }
        let highest = maps
            .ordinals
            .get(&(kind, class.clone()))
            .copied()
            .unwrap_or(0);
        for attempt in 0..MAX_ATTEMPTS {
            // A new ordinal per attempt: tag proposals depend on the ordinal only.
            let ordinal = highest + 1 + u64::from(attempt);
            let candidate = propose(Proposal { attempt, ordinal });
            if maps.backward.contains_key(&(kind, candidate.clone())) {
                continue;
            }
            let (_, _, value) = key;
            maps.insert(kind, class.clone(), value.clone(), candidate.clone());
            maps.pending.push(Pending {
                kind,
                class: class.clone(),
                value,
                placeholder: candidate.clone(),
            });
            return Ok(candidate);
        }
        Err(StoreError::new(format!(
            "no free pseudonym for class `{class}` after {MAX_ATTEMPTS} attempts"
        )))
    }

    fn original(
        &self,
        scope: &ScopeId,
        kind: PseudonymKind,
        pseudonym: &str,
    ) -> Result<Option<(DataClass, Zeroizing<String>)>, StoreError> {
        if scope != &self.scope {
            return Ok(None);
        }
        let maps = self.maps.lock().map_err(poisoned)?;
        Ok(maps
            .backward
            .get(&(kind, pseudonym.to_owned()))
            .map(|(class, value)| (class.clone(), Zeroizing::new(value.0.clone()))))
    }

    fn pseudonyms(&self, scope: &ScopeId, kind: PseudonymKind) -> Result<Vec<String>, StoreError> {
        if scope != &self.scope {
            return Ok(Vec::new());
        }
        let maps = self.maps.lock().map_err(poisoned)?;
        Ok(maps
            .backward
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, p)| p.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn vault() -> Vault {
        Vault::new(Store::open_in_memory().await.unwrap(), &[3u8; 32], 60)
    }

    fn tag(conv: &Conversation, class: DataClass, value: &str) -> String {
        conv.get_or_assign(
            &conv.scope.clone(),
            PseudonymKind::Tag,
            &class,
            value,
            &mut |p| format!("<{class}_{}>", p.ordinal),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn mappings_round_trip_through_the_vault() {
        let vault = vault().await;
        let scope = ScopeId::new("acme", "c1");
        let conv = vault.load(&scope).await.unwrap();
        assert_eq!(tag(&conv, DataClass::Person, "Jane Roe"), "<PERSON_1>");
        assert_eq!(tag(&conv, DataClass::Person, "John Doe"), "<PERSON_2>");
        assert_eq!(conv.pending(), 2);
        assert!(vault.commit(&conv).await.unwrap());
        let again = vault.load(&scope).await.unwrap();
        assert_eq!(tag(&again, DataClass::Person, "John Doe"), "<PERSON_2>");
        assert_eq!(again.pending(), 0);
        assert_eq!(tag(&again, DataClass::Person, "New One"), "<PERSON_3>");
        let (class, value) = again
            .original(&scope, PseudonymKind::Tag, "<PERSON_1>")
            .unwrap()
            .unwrap();
        assert_eq!((class, value.as_str()), (DataClass::Person, "Jane Roe"));
        // Another tenant with the same conversation name sees nothing.
        let other = vault.load(&ScopeId::new("other", "c1")).await.unwrap();
        assert_eq!(other.pending(), 0);
        assert!(
            other
                .original(other.scope(), PseudonymKind::Tag, "<PERSON_1>")
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_race_is_resolved_by_the_store() {
        let vault = vault().await;
        let scope = ScopeId::new("acme", "c1");
        let a = vault.load(&scope).await.unwrap();
        let b = vault.load(&scope).await.unwrap();
        // Both propose <PERSON_1>, for different values; b also maps a's value.
        tag(&a, DataClass::Person, "Jane Roe");
        tag(&b, DataClass::Person, "John Doe");
        assert!(vault.commit(&a).await.unwrap());
        assert!(!vault.commit(&b).await.unwrap(), "b must reload");
        let b = vault.load(&scope).await.unwrap();
        assert_eq!(tag(&b, DataClass::Person, "John Doe"), "<PERSON_2>");
        assert_eq!(tag(&b, DataClass::Person, "Jane Roe"), "<PERSON_1>");
        assert!(vault.commit(&b).await.unwrap());
        // Same value in both: the first one stored wins and the other adopts it.
        let c = vault.load(&scope).await.unwrap();
        let d = vault.load(&scope).await.unwrap();
        tag(&c, DataClass::EmailAddress, "x@y.org");
        d.get_or_assign(
            &scope,
            PseudonymKind::Tag,
            &DataClass::EmailAddress,
            "x@y.org",
            &mut |_| "<EMAIL_ADDRESS_9>".into(),
        )
        .unwrap();
        assert!(vault.commit(&c).await.unwrap());
        assert!(vault.commit(&d).await.unwrap());
        assert_eq!(
            tag(&d, DataClass::EmailAddress, "x@y.org"),
            "<EMAIL_ADDRESS_1>"
        );
    }

    #[tokio::test]
    async fn entries_are_bound_to_their_row_and_key() {
        let vault = vault().await;
        let scope = ScopeId::new("acme", "c1");
        let conv = vault.load(&scope).await.unwrap();
        tag(&conv, DataClass::Person, "Jane Roe");
        assert!(vault.commit(&conv).await.unwrap());
        let stored = vault
            .store
            .conversation_entries("acme", "c1", crate::auth::unix_now())
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        let raw = String::from_utf8_lossy(&stored[0].ciphertext).into_owned();
        assert!(!raw.contains("Jane"), "stored encrypted");
        assert!(!stored[0].value_hash.contains("Jane"));
        // Moved to another tenant, the row does not decrypt (tenant key and AAD differ).
        let mut moved = stored[0].clone();
        moved.tenant = "other".into();
        assert!(decrypt(&vault.keys("other"), &moved).is_err());
        // Under another root key it does not decrypt either.
        let other_root = Vault::new(vault.store.clone(), &[4u8; 32], 60);
        assert!(matches!(
            other_root.load(&scope).await,
            Err(VaultError::Corrupt { .. })
        ));
        assert!(decrypt(&vault.keys("acme"), &stored[0]).is_ok());
    }
}
