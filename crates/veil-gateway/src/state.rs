//! [`AppState`]: what every request shares, built once at startup.

use std::ops::Deref;
use std::sync::Arc;

use veil_store::Store;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::recorder::{AuditKeys, Recorder};
use crate::throttle::Throttle;
use crate::upstream::Upstreams;

/// Shared state; cloning is cheap.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Validated configuration.
    pub settings: Settings,
    /// Storage.
    pub store: Store,
    /// Key authentication with its cache.
    pub auth: Authenticator,
    /// Rate limits.
    pub throttle: Throttle,
    /// The routing table.
    pub upstreams: Upstreams,
    /// The audit writer (group commit, signed checkpoints) and the audit keys.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; spawns the audit writer, so call it inside a tokio runtime. The
    /// audit signing and digest keys are derived from `root_key`.
    pub fn new(
        settings: Settings,
        store: Store,
        root_key: &[u8; 32],
    ) -> Result<Self, GatewayError> {
        let upstreams = Upstreams::new(&settings.models)?;
        let keys = AuditKeys::derive(root_key, &settings.config.audit)?;
        let metrics = Metrics::new();
        Ok(Self(Arc::new(Inner {
            auth: Authenticator::new(store.clone()),
            throttle: Throttle::new(settings.config.throttle.clone()),
            recorder: Recorder::spawn(store.clone(), keys, metrics.clone()),
            metrics,
            upstreams,
            store,
            settings,
        })))
    }
}
