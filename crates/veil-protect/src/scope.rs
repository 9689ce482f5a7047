//! Scopes and pseudonym mappings.
//!
//! A [`ScopeId`] names where pseudonyms must stay consistent: one conversation of one tenant
//! for the gateway, one run for `veil redact`. Within a scope the same value always gets the
//! same tag and the same surrogate, and both can be restored; across scopes the mappings are
//! separate, and across tenants even the keys differ (see [`crate::Protector`]).
//!
//! The mapping lives behind the [`MappingStore`] trait so that the gateway can back it with
//! the encrypted, persistent vault of `veil-store`; [`MemoryStore`] is the in-process
//! implementation. Stores are shared across threads (`Send + Sync`, `&self` methods) and
//! must make [`MappingStore::get_or_assign`] atomic.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use veil_detect::DataClass;
use zeroize::Zeroizing;

/// Where pseudonyms are consistent: a tenant and, within it, a conversation (or run).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeId {
    tenant: String,
    conversation: String,
}

impl ScopeId {
    /// A scope. Neither part is sensitive (they are identifiers chosen by Veil).
    pub fn new(tenant: impl Into<String>, conversation: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            conversation: conversation.into(),
        }
    }

    /// The tenant: keyed hashes, surrogates and encryption keys are derived per tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The conversation (or run) within the tenant: tag and surrogate mappings are per
    /// conversation.
    pub fn conversation(&self) -> &str {
        &self.conversation
    }
}

/// Which kind of reversible pseudonym a mapping holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PseudonymKind {
    /// `<EMAIL_ADDRESS_1>` tags.
    Tag = 0,
    /// Realistic fakes.
    Surrogate = 1,
}

/// A proposal for a new pseudonym: the store says which attempt this is (0, 1, ... after
/// collisions) and the 1-based ordinal the new entry would get within its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// 0 for the first candidate, incremented each time a candidate was already taken.
    pub attempt: u32,
    /// How many values of this class and kind the scope holds, plus one.
    pub ordinal: u64,
}

/// A store failure (the in-memory store only fails when a lock was poisoned).
#[derive(Debug, thiserror::Error)]
#[error("pseudonym store failed: {reason}")]
pub struct StoreError {
    reason: String,
}

impl StoreError {
    /// A failure with a reason; the reason must not contain sensitive values.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// Maps values to pseudonyms and back, per scope and kind. Implementations must be
/// thread-safe and make [`MappingStore::get_or_assign`] atomic, so that two threads
/// pseudonymizing the same value in the same scope get the same pseudonym.
pub trait MappingStore: Send + Sync {
    /// The pseudonym of `value` in `scope`; when there is none yet, calls `propose` until it
    /// returns a pseudonym not already taken in the scope (for this kind), records it and
    /// returns it. Gives up with an error after `MAX_ATTEMPTS` collisions.
    fn get_or_assign(
        &self,
        scope: &ScopeId,
        kind: PseudonymKind,
        class: &DataClass,
        value: &str,
        propose: &mut dyn FnMut(Proposal) -> String,
    ) -> Result<String, StoreError>;

    /// The class and original value behind `pseudonym` in `scope`, if any.
    fn original(
        &self,
        scope: &ScopeId,
        kind: PseudonymKind,
        pseudonym: &str,
    ) -> Result<Option<(DataClass, Zeroizing<String>)>, StoreError>;

    /// Every pseudonym of `kind` recorded in `scope` (to find them in a text for restore).
    fn pseudonyms(&self, scope: &ScopeId, kind: PseudonymKind) -> Result<Vec<String>, StoreError>;
}

/// How many colliding proposals a store tries before giving up.
pub const MAX_ATTEMPTS: u32 = 64;

/// An original value held by the store: zeroized on drop, hashable.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Original(String);

impl Drop for Original {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[derive(Default)]
struct Mapping {
    /// (class, original) -> pseudonym.
    forward: HashMap<(DataClass, Original), String>,
    /// pseudonym -> (class, original).
    backward: HashMap<String, (DataClass, Original)>,
    /// Entries per class, for tag ordinals.
    counts: HashMap<DataClass, u64>,
}

/// An in-process [`MappingStore`]. Memory grows with the number of distinct values
/// pseudonymized; originals are zeroized when the store is dropped.
#[derive(Default)]
pub struct MemoryStore {
    /// Per scope, one mapping per kind (looked up by reference: no allocation per value).
    maps: Mutex<HashMap<ScopeId, [Mapping; 2]>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore([redacted])")
    }
}

fn kind_of(maps: &mut [Mapping; 2], kind: PseudonymKind) -> &mut Mapping {
    let [tags, surrogates] = maps;
    match kind {
        PseudonymKind::Tag => tags,
        PseudonymKind::Surrogate => surrogates,
    }
}

fn poisoned<T>(_: PoisonError<T>) -> StoreError {
    StoreError::new("lock poisoned by a panicking thread")
}

impl MappingStore for MemoryStore {
    fn get_or_assign(
        &self,
        scope: &ScopeId,
        kind: PseudonymKind,
        class: &DataClass,
        value: &str,
        propose: &mut dyn FnMut(Proposal) -> String,
    ) -> Result<String, StoreError> {
        let mut maps = self.maps.lock().map_err(poisoned)?;
        if !maps.contains_key(scope) {
            maps.insert(scope.clone(), Default::default());
        }
        let Some(map) = maps.get_mut(scope).map(|m| kind_of(m, kind)) else {
            return Err(StoreError::new("scope vanished under the lock"));
        };
        let key = (class.clone(), Original(value.to_owned()));
        if let Some(existing) = map.forward.get(&key) {
            return Ok(existing.clone());
        }
        let ordinal = map.counts.get(class).copied().unwrap_or(0) + 1;
        for attempt in 0..MAX_ATTEMPTS {
            let candidate = propose(Proposal { attempt, ordinal });
            if map.backward.contains_key(&candidate) {
                continue;
            }
            map.backward
                .insert(candidate.clone(), (class.clone(), key.1.clone()));
            map.forward.insert(key, candidate.clone());
            map.counts.insert(class.clone(), ordinal);
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
        let maps = self.maps.lock().map_err(poisoned)?;
        Ok(maps
            .get(scope)
            .and_then(|m| m.get(kind as usize))
            .and_then(|map| map.backward.get(pseudonym))
            .map(|(class, value)| (class.clone(), Zeroizing::new(value.0.clone()))))
    }

    fn pseudonyms(&self, scope: &ScopeId, kind: PseudonymKind) -> Result<Vec<String>, StoreError> {
        let maps = self.maps.lock().map_err(poisoned)?;
        Ok(maps
            .get(scope)
            .and_then(|m| m.get(kind as usize))
            .map(|map| map.backward.keys().cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tag(store: &dyn MappingStore, scope: &ScopeId, value: &str) -> String {
        store
            .get_or_assign(
                scope,
                PseudonymKind::Tag,
                &DataClass::EmailAddress,
                value,
                &mut |p| format!("<EMAIL_ADDRESS_{}>", p.ordinal),
            )
            .unwrap()
    }

    #[test]
    fn same_value_same_pseudonym_and_back() {
        let store = MemoryStore::new();
        let scope = ScopeId::new("t", "c");
        assert_eq!(tag(&store, &scope, "a@x.org"), "<EMAIL_ADDRESS_1>");
        assert_eq!(tag(&store, &scope, "b@x.org"), "<EMAIL_ADDRESS_2>");
        assert_eq!(tag(&store, &scope, "a@x.org"), "<EMAIL_ADDRESS_1>");
        let (class, value) = store
            .original(&scope, PseudonymKind::Tag, "<EMAIL_ADDRESS_2>")
            .unwrap()
            .unwrap();
        assert_eq!(
            (class, value.as_str()),
            (DataClass::EmailAddress, "b@x.org")
        );
        assert!(
            store
                .original(
                    &ScopeId::new("t", "other"),
                    PseudonymKind::Tag,
                    "<EMAIL_ADDRESS_2>"
                )
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn collisions_are_retried_and_bounded() {
        let store = MemoryStore::new();
        let scope = ScopeId::new("t", "c");
        let class = DataClass::Person;
        let mut first = |p: Proposal| format!("name{}", p.attempt);
        let a = store
            .get_or_assign(&scope, PseudonymKind::Surrogate, &class, "x", &mut first)
            .unwrap();
        let b = store
            .get_or_assign(&scope, PseudonymKind::Surrogate, &class, "y", &mut first)
            .unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("name0", "name1"));
        let err = store.get_or_assign(&scope, PseudonymKind::Surrogate, &class, "z", &mut |_| {
            "name0".into()
        });
        assert!(err.is_err());
    }

    #[test]
    fn concurrent_assignment_is_consistent() {
        let store = Arc::new(MemoryStore::new());
        let scope = ScopeId::new("t", "c");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                let scope = scope.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| tag(store.as_ref(), &scope, &format!("user{i}@x.org")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for r in &results {
            assert_eq!(r, &results[0]);
        }
        let mut distinct = results[0].clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 50);
    }
}
