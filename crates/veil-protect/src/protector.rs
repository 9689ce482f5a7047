//! The protector: applies a [`Policy`] to the findings of a text, within a scope, and
//! restores what is reversible.

use std::{collections::BTreeMap, ops::Range, sync::Arc};

use aho_corasick::{AhoCorasick, MatchKind};
use veil_detect::{DataClass, Finding, Sensitive};

use crate::{
    ProtectError,
    crypto::{FieldCipher, Fpe, find_tokens, keyed_hash},
    keys::{Purpose, RootKey, SubKey},
    operator::{Operator, Policy},
    scope::{MappingStore, PseudonymKind, ScopeId},
    surrogate,
};

/// Keys for one tenant, derived once when the protector is built.
struct TenantKeys {
    hmac: SubKey,
    field: FieldCipher,
    fpe: Fpe,
}

/// Applies operators to findings within one scope. Cheap to share across threads
/// (`Send + Sync`); build one per scope (conversation or run).
pub struct Protector {
    policy: Policy,
    scope: ScopeId,
    store: Arc<dyn MappingStore>,
    keys: Option<TenantKeys>,
}

impl std::fmt::Debug for Protector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protector")
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .field("keys", &self.keys.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// One replaced span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The data class of the finding.
    pub class: DataClass,
    /// The operator that was applied (`Keep` changes are not reported).
    pub operator: Operator,
    /// Byte range of the original value in the input text.
    pub input: Range<usize>,
    /// Byte range of the replacement in the output text.
    pub output: Range<usize>,
}

/// A protected text and what was changed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The text with every finding replaced according to the policy.
    pub text: String,
    /// The changes, in text order.
    pub changes: Vec<Change>,
}

impl Protected {
    /// Number of changes per class.
    pub fn counts(&self) -> BTreeMap<DataClass, u64> {
        let mut counts = BTreeMap::new();
        for change in &self.changes {
            *counts.entry(change.class.clone()).or_insert(0) += 1;
        }
        counts
    }
}

impl Protector {
    /// A protector for `scope`. `root` is required when the policy uses a keyed operator
    /// (hash, encrypt, fpe, surrogate); subkeys are derived per tenant of the scope.
    pub fn new(
        policy: Policy,
        scope: ScopeId,
        store: Arc<dyn MappingStore>,
        root: Option<&RootKey>,
    ) -> Result<Self, ProtectError> {
        let keys = match root {
            Some(root) => {
                let tenant = scope.tenant().as_bytes();
                Some(TenantKeys {
                    hmac: root.derive(Purpose::PseudonymHmac, tenant),
                    field: FieldCipher::new(&root.derive(Purpose::FieldEncryption, tenant)),
                    fpe: Fpe::new(&root.derive(Purpose::Fpe, tenant))?,
                })
            }
            None => match policy.first_keyed() {
                Some(op) => {
                    return Err(ProtectError::KeyRequired {
                        operator: op.name(),
                    });
                }
                None => None,
            },
        };
        Ok(Self {
            policy,
            scope,
            store,
            keys,
        })
    }

    /// The scope this protector works in.
    pub fn scope(&self) -> &ScopeId {
        &self.scope
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn keys(&self, op: Operator) -> Result<&TenantKeys, ProtectError> {
        self.keys.as_ref().ok_or(ProtectError::KeyRequired {
            operator: op.name(),
        })
    }

    /// Replaces each finding in `text` by what the policy says for its class.
    ///
    /// Findings are expected sorted and non-overlapping (as `Analyzer::analyze` returns
    /// them); overlapping ones are merged into one span of the first finding's class, so no
    /// part of a detected value survives. A span outside `text` or not on a character
    /// boundary is an error.
    pub fn protect(&self, text: &str, findings: &[Finding]) -> Result<Protected, ProtectError> {
        let mut spans: Vec<(Range<usize>, &DataClass)> = findings
            .iter()
            .map(|f| (f.bytes.clone(), &f.class))
            .collect();
        spans.sort_by_key(|(range, _)| (range.start, std::cmp::Reverse(range.end)));
        let mut merged: Vec<(Range<usize>, &DataClass)> = Vec::with_capacity(spans.len());
        for (range, class) in spans {
            match merged.last_mut() {
                Some((last, _)) if range.start < last.end => last.end = last.end.max(range.end),
                _ => merged.push((range, class)),
            }
        }
        let mut out = String::with_capacity(text.len() + 16 * merged.len());
        let mut changes = Vec::with_capacity(merged.len());
        let mut cursor = 0;
        for (range, class) in merged {
            let value = text
                .get(range.clone())
                .ok_or_else(|| ProtectError::BadSpan {
                    class: class.clone(),
                    span: range.clone(),
                })?;
            let before = text.get(cursor..range.start).unwrap_or_default();
            out.push_str(before);
            let op = self.policy.operator_for(class);
            let start = out.len();
            match self.apply(op, class, value)? {
                Some(replacement) => {
                    out.push_str(&replacement);
                    changes.push(Change {
                        class: class.clone(),
                        operator: op,
                        input: range.clone(),
                        output: start..out.len(),
                    });
                }
                None => out.push_str(value),
            }
            cursor = range.end;
        }
        out.push_str(text.get(cursor..).unwrap_or_default());
        Ok(Protected { text: out, changes })
    }

    /// Applies `op` to one value; `None` means keep.
    ///
    /// FPE on fewer than six digits (a domain too small for FF1) falls back to `redact`.
    pub fn apply(
        &self,
        op: Operator,
        class: &DataClass,
        value: &str,
    ) -> Result<Option<String>, ProtectError> {
        let replacement = match op {
            Operator::Keep => return Ok(None),
            Operator::Redact => format!("<{class}>"),
            Operator::Tag => self.store.get_or_assign(
                &self.scope,
                PseudonymKind::Tag,
                class,
                value,
                &mut |p| format!("<{class}_{}>", p.ordinal),
            )?,
            Operator::Mask { keep_last, with } => mask(value, keep_last, with),
            Operator::Hash { hex_len } => keyed_hash(&self.keys(op)?.hmac, value, hex_len),
            Operator::Encrypt => self.keys(op)?.field.encrypt(class, value)?,
            Operator::Fpe => match self.keys(op)?.fpe.apply(class, value, false) {
                Ok(encrypted) => encrypted,
                Err(ProtectError::FpeTooShort { .. }) => format!("<{class}>"),
                Err(other) => return Err(other),
            },
            Operator::Surrogate => {
                let key = &self.keys(op)?.hmac;
                self.store.get_or_assign(
                    &self.scope,
                    PseudonymKind::Surrogate,
                    class,
                    value,
                    &mut |p| surrogate::generate(key, class, value, p.attempt),
                )?
            }
        };
        Ok(Some(replacement))
    }

    /// Restores, in free text, every tag and surrogate of this scope and every encryption
    /// token of this tenant. Tokens that fail authentication are left as they are. FPE
    /// output cannot be told apart from ordinary digits: restore it with
    /// [`Protector::restore_fpe`] where the caller knows the field.
    pub fn restore(&self, text: &str) -> Result<Sensitive<String>, ProtectError> {
        // Encryption tokens first: their text cannot contain a tag or surrogate.
        let mut with_tokens = String::with_capacity(text.len());
        let mut cursor = 0;
        if let Some(keys) = &self.keys {
            for range in find_tokens(text) {
                let token = text.get(range.clone()).unwrap_or_default();
                if let Ok((_, value)) = keys.field.decrypt(token) {
                    with_tokens.push_str(text.get(cursor..range.start).unwrap_or_default());
                    with_tokens.push_str(&value);
                    cursor = range.end;
                }
            }
        }
        with_tokens.push_str(text.get(cursor..).unwrap_or_default());

        let mut patterns = Vec::new();
        for kind in [PseudonymKind::Tag, PseudonymKind::Surrogate] {
            for p in self.store.pseudonyms(&self.scope, kind)? {
                patterns.push((p, kind));
            }
        }
        if patterns.is_empty() {
            return Ok(Sensitive::new(with_tokens));
        }
        // Leftmost-longest, so `<PERSON_12>` wins over a surrogate that is its prefix.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|(p, _)| p.as_str()))
            .map_err(|_| {
                ProtectError::Store(crate::scope::StoreError::new(
                    "too many pseudonyms to search",
                ))
            })?;
        let mut out = String::with_capacity(with_tokens.len());
        let mut cursor = 0;
        for m in ac.find_iter(&with_tokens) {
            let Some((pseudonym, kind)) = patterns.get(m.pattern().as_usize()) else {
                continue;
            };
            if let Some((_, original)) = self.store.original(&self.scope, *kind, pseudonym)? {
                out.push_str(with_tokens.get(cursor..m.start()).unwrap_or_default());
                out.push_str(&original);
                cursor = m.end();
            }
        }
        out.push_str(with_tokens.get(cursor..).unwrap_or_default());
        Ok(Sensitive::new(out))
    }

    /// Decrypts one encryption token (any alteration fails).
    pub fn restore_token(
        &self,
        token: &str,
    ) -> Result<(DataClass, Sensitive<String>), ProtectError> {
        let keys = self.keys(Operator::Encrypt)?;
        let (class, value) = keys.field.decrypt(token.trim())?;
        Ok((class, Sensitive::new(value)))
    }

    /// Reverses FPE on a value that was encrypted as `class`.
    pub fn restore_fpe(
        &self,
        class: &DataClass,
        value: &str,
    ) -> Result<Sensitive<String>, ProtectError> {
        let keys = self.keys(Operator::Fpe)?;
        Ok(Sensitive::new(keys.fpe.apply(class, value, true)?))
    }
}

/// Masks every letter and digit except the last `keep_last`; other characters stay.
///
/// Never reveals more than half of the letters and digits: `mask:4` on a 4-digit value would
/// otherwise leave it whole (`AGE` `42` becomes `*2`).
fn mask(value: &str, keep_last: usize, with: char) -> String {
    let maskable = value.chars().filter(|c| c.is_alphanumeric()).count();
    let hide = maskable.saturating_sub(keep_last.min(maskable / 2));
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen <= hide { with } else { c }
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
