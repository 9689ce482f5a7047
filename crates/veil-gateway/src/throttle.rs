//! Per-key and per-tenant budgets: requests per minute, tokens per minute, concurrency.
//!
//! Written by hand rather than with `governor`: token budgets must be charged twice (the
//! prompt estimate before forwarding, the completion tokens once the answer is known) and
//! the second charge may push a budget into debt, which GCRA cells cannot express. Each
//! budget is a token bucket refilled continuously at `limit / 60` per second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::auth::{Principal, unix_now};
use crate::config::{RateLimits, ThrottleConfig};
use crate::error::GatewayError;

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: u64, now: Instant) -> Self {
        // u64 -> f64 loses precision only beyond 2^53 per minute.
        let capacity = per_minute as f64;
        Self {
            capacity,
            level: capacity,
            last: now,
        }
    }

    fn refill(&mut self, capacity: f64, now: Instant) {
        self.capacity = capacity;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + elapsed * capacity / 60.0).min(capacity);
        self.last = now;
    }

    /// Seconds until `amount` is available, or `None` when it is available now.
    fn shortfall(&self, amount: f64) -> Option<u64> {
        if self.level >= amount {
            return None;
        }
        let rate = self.capacity / 60.0;
        // A request larger than the whole budget waits for a full bucket.
        let needed = (amount.min(self.capacity) - self.level).max(0.0);
        Some(((needed / rate).ceil() as u64).clamp(1, 60))
    }
}

#[derive(Debug)]
struct Budget {
    requests: Bucket,
    tokens: Bucket,
    in_flight: u64,
}

impl Budget {
    fn new(limits: RateLimits, now: Instant) -> Self {
        Self {
            requests: Bucket::new(limits.requests_per_minute, now),
            tokens: Bucket::new(limits.tokens_per_minute, now),
            in_flight: 0,
        }
    }

    /// Checks without charging; returns the error a caller over budget gets.
    fn check(
        &mut self,
        limits: RateLimits,
        tokens: u64,
        now: Instant,
        scope: &'static str,
    ) -> Result<(), GatewayError> {
        self.requests.refill(limits.requests_per_minute as f64, now);
        self.tokens.refill(limits.tokens_per_minute as f64, now);
        if limits.max_concurrent > 0 && self.in_flight >= limits.max_concurrent {
            return Err(GatewayError::rate_limited(scope, "concurrent requests", 1));
        }
        if limits.requests_per_minute > 0
            && let Some(wait) = self.requests.shortfall(1.0)
        {
            return Err(GatewayError::rate_limited(
                scope,
                "requests per minute",
                wait,
            ));
        }
        if limits.tokens_per_minute > 0
            && let Some(wait) = self.tokens.shortfall(tokens as f64)
        {
            return Err(GatewayError::rate_limited(scope, "tokens per minute", wait));
        }
        Ok(())
    }

    fn charge(&mut self, tokens: u64) {
        self.requests.level -= 1.0;
        self.tokens.level -= tokens as f64;
        self.in_flight += 1;
    }
}

#[derive(Debug, Default)]
struct Budgets {
    keys: HashMap<String, Budget>,
    tenants: HashMap<String, Budget>,
}

/// The throttle shared by all requests of a process.
#[derive(Debug, Clone)]
pub struct Throttle {
    defaults: ThrottleConfig,
    budgets: Arc<Mutex<Budgets>>,
    restrictions: Arc<Mutex<HashMap<String, Restriction>>>,
}

/// What a restriction does to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Restrict {
    /// The key keeps at most this many requests per minute.
    Throttle {
        /// The lowered limit.
        requests_per_minute: u64,
    },
    /// Every request of the key is refused with 403 `key_suspended`.
    Suspend,
}

/// A restriction on one key, placed by monitoring's automatic action. It lives in this
/// process's memory: an administrator lifts it (`DELETE /admin/v1/keys/{id}/restriction`),
/// or it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restriction {
    /// What it does.
    #[serde(flatten)]
    pub restrict: Restrict,
    /// Why: the alert kind that caused it.
    pub reason: String,
    /// When it was placed, unix seconds.
    pub since: i64,
    /// When it ends, unix seconds; `None`: when an administrator lifts it.
    pub until: Option<i64>,
}

/// Proof that a request was admitted. Holds its concurrency slots until dropped, which
/// happens when the answer (streamed or not) is complete.
#[derive(Debug)]
pub struct Permit {
    throttle: Throttle,
    key_id: String,
    tenant: String,
}

fn key_limits(defaults: RateLimits, principal: &Principal) -> RateLimits {
    let own = principal.limits;
    RateLimits {
        requests_per_minute: own
            .requests_per_minute
            .unwrap_or(defaults.requests_per_minute),
        tokens_per_minute: own.tokens_per_minute.unwrap_or(defaults.tokens_per_minute),
        max_concurrent: own.max_concurrent.unwrap_or(defaults.max_concurrent),
    }
}

impl Throttle {
    /// A throttle with these defaults.
    pub fn new(defaults: ThrottleConfig) -> Self {
        Self {
            defaults,
            budgets: Arc::default(),
            restrictions: Arc::default(),
        }
    }

    /// Places (or replaces) a restriction on a key. A suspension is never weakened into a
    /// throttle by a later, milder alert.
    pub fn restrict(&self, key_id: &str, restriction: Restriction) {
        if let Ok(mut all) = self.restrictions.lock() {
            let keep_suspension = all.get(key_id).is_some_and(|r| {
                r.restrict == Restrict::Suspend && restriction.restrict != Restrict::Suspend
            });
            if !keep_suspension {
                all.insert(key_id.to_owned(), restriction);
            }
        }
    }

    /// Lifts a key's restriction; returns what was lifted.
    pub fn lift(&self, key_id: &str) -> Option<Restriction> {
        self.restrictions.lock().ok()?.remove(key_id)
    }

    /// Restrictions in force, by key id.
    pub fn restrictions(&self) -> Vec<(String, Restriction)> {
        let now = unix_now();
        let Ok(mut all) = self.restrictions.lock() else {
            return Vec::new();
        };
        all.retain(|_, r| r.until.is_none_or(|until| until > now));
        let mut list: Vec<_> = all.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// The restriction in force for a key, if any (expired ones are removed).
    fn restriction(&self, key_id: &str) -> Result<Option<Restrict>, GatewayError> {
        let mut all = self
            .restrictions
            .lock()
            .map_err(|_| GatewayError::internal(&"restriction lock poisoned"))?;
        let Some(restriction) = all.get(key_id) else {
            return Ok(None);
        };
        if restriction.until.is_some_and(|until| until <= unix_now()) {
            all.remove(key_id);
            return Ok(None);
        }
        Ok(Some(restriction.restrict))
    }

    /// Admits one request estimated at `prompt_tokens`, or answers 429 with `Retry-After`.
    /// Nothing is charged when either the key or the tenant is over budget.
    pub fn admit(&self, principal: &Principal, prompt_tokens: u64) -> Result<Permit, GatewayError> {
        let now = Instant::now();
        let mut key_limits = key_limits(self.defaults.key, principal);
        match self.restriction(&principal.key_id)? {
            Some(Restrict::Suspend) => return Err(GatewayError::suspended()),
            Some(Restrict::Throttle {
                requests_per_minute,
            }) => {
                key_limits.requests_per_minute = match key_limits.requests_per_minute {
                    0 => requests_per_minute,
                    own => own.min(requests_per_minute),
                };
            }
            None => {}
        }
        let tenant_limits = self.defaults.tenant;
        let mut budgets = self
            .budgets
            .lock()
            .map_err(|_| GatewayError::internal(&"throttle lock poisoned"))?;
        let Budgets { keys, tenants } = &mut *budgets;
        let key = keys
            .entry(principal.key_id.clone())
            .or_insert_with(|| Budget::new(key_limits, now));
        key.check(key_limits, prompt_tokens, now, "key")?;
        let tenant = tenants
            .entry(principal.tenant.clone())
            .or_insert_with(|| Budget::new(tenant_limits, now));
        tenant.check(tenant_limits, prompt_tokens, now, "tenant")?;
        key.charge(prompt_tokens);
        tenant.charge(prompt_tokens);
        Ok(Permit {
            throttle: self.clone(),
            key_id: principal.key_id.clone(),
            tenant: principal.tenant.clone(),
        })
    }

    fn with_budgets(&self, key_id: &str, tenant: &str, f: impl Fn(&mut Budget)) {
        if let Ok(mut budgets) = self.budgets.lock() {
            if let Some(b) = budgets.keys.get_mut(key_id) {
                f(b);
            }
            if let Some(b) = budgets.tenants.get_mut(tenant) {
                f(b);
            }
        }
    }
}

impl Permit {
    /// Charges tokens learned after admission (completion tokens, or the difference between
    /// the reported and estimated prompt tokens). Budgets may go into debt.
    pub fn charge_tokens(&self, tokens: u64) {
        if tokens > 0 {
            self.throttle.with_budgets(&self.key_id, &self.tenant, |b| {
                b.tokens.level -= tokens as f64;
            });
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.throttle.with_budgets(&self.key_id, &self.tenant, |b| {
            b.in_flight = b.in_flight.saturating_sub(1);
        });
    }
}

#[cfg(test)]
mod tests {
    use veil_store::KeyLimits;

    use super::*;

    fn principal(key: &str, tenant: &str, limits: KeyLimits) -> Principal {
        Principal {
            key_id: key.into(),
            tenant: tenant.into(),
            roles: vec![],
            models: vec![],
            limits,
        }
    }

    fn config(rpm: u64, tpm: u64, conc: u64) -> ThrottleConfig {
        let limits = RateLimits {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            max_concurrent: conc,
        };
        ThrottleConfig {
            key: limits,
            tenant: RateLimits {
                requests_per_minute: 0,
                tokens_per_minute: 0,
                max_concurrent: 0,
            },
        }
    }

    #[test]
    fn requests_per_minute_is_enforced_per_key() {
        let throttle = Throttle::new(config(2, 0, 0));
        let a = principal("a", "t", KeyLimits::default());
        let b = principal("b", "t", KeyLimits::default());
        let _p1 = throttle.admit(&a, 1).unwrap();
        let _p2 = throttle.admit(&a, 1).unwrap();
        let err = throttle.admit(&a, 1).unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(
            throttle.admit(&b, 1).is_ok(),
            "another key has its own budget"
        );
    }

    #[test]
    fn key_limits_override_defaults() {
        let throttle = Throttle::new(config(100, 0, 0));
        let limits = KeyLimits {
            requests_per_minute: Some(1),
            ..KeyLimits::default()
        };
        let a = principal("a", "t", limits);
        let _p = throttle.admit(&a, 1).unwrap();
        assert!(throttle.admit(&a, 1).is_err());
    }

    #[test]
    fn tenant_limit_spans_keys() {
        let mut cfg = config(0, 0, 0);
        cfg.tenant.requests_per_minute = 1;
        let throttle = Throttle::new(cfg);
        let _p = throttle
            .admit(&principal("a", "t", KeyLimits::default()), 1)
            .unwrap();
        let err = throttle
            .admit(&principal("b", "t", KeyLimits::default()), 1)
            .unwrap_err();
        assert!(err.message().starts_with("tenant"));
        assert!(
            throttle
                .admit(&principal("c", "other", KeyLimits::default()), 1)
                .is_ok()
        );
    }

    #[test]
    fn tokens_and_debt() {
        let throttle = Throttle::new(config(0, 100, 0));
        let a = principal("a", "t", KeyLimits::default());
        let p = throttle.admit(&a, 60).unwrap();
        assert!(throttle.admit(&a, 60).is_err(), "only 40 left");
        p.charge_tokens(100);
        let err = throttle.admit(&a, 1).unwrap_err();
        assert!(err.message().contains("tokens"));
    }

    #[test]
    fn restrictions_suspend_and_throttle_until_lifted() {
        let throttle = Throttle::new(config(100, 0, 0));
        let a = principal("a", "t", KeyLimits::default());
        let restriction = |restrict, until| Restriction {
            restrict,
            reason: "divergence".into(),
            since: unix_now(),
            until,
        };
        throttle.restrict("a", restriction(Restrict::Suspend, None));
        let err = throttle.admit(&a, 1).unwrap_err();
        assert_eq!((err.status().as_u16(), err.code()), (403, "key_suspended"));
        // A milder alert does not weaken a suspension.
        throttle.restrict(
            "a",
            restriction(
                Restrict::Throttle {
                    requests_per_minute: 1,
                },
                None,
            ),
        );
        assert_eq!(throttle.admit(&a, 1).unwrap_err().status(), 403);
        assert_eq!(throttle.restrictions().len(), 1);
        assert!(throttle.lift("a").is_some());
        drop(throttle.admit(&a, 1).unwrap());
        // Throttled to 1 per minute: the bucket (refilled at the old rate) is capped at 1.
        let throttle = Throttle::new(config(100, 0, 0));
        throttle.restrict(
            "a",
            restriction(
                Restrict::Throttle {
                    requests_per_minute: 1,
                },
                None,
            ),
        );
        drop(throttle.admit(&a, 1).unwrap());
        assert_eq!(throttle.admit(&a, 1).unwrap_err().status(), 429);
        // An expired restriction is gone.
        throttle.restrict("a", restriction(Restrict::Suspend, Some(unix_now() - 1)));
        assert!(throttle.restrictions().is_empty());
    }

    #[test]
    fn concurrency_slots_are_released_on_drop() {
        let throttle = Throttle::new(config(0, 0, 1));
        let a = principal("a", "t", KeyLimits::default());
        let p = throttle.admit(&a, 1).unwrap();
        assert!(throttle.admit(&a, 1).is_err());
        drop(p);
        assert!(throttle.admit(&a, 1).is_ok());
    }
}
