//! [`AppState`]: what every request shares, built once at startup.

use std::ops::Deref;
use std::sync::Arc;

use veil_store::Store;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::recorder::Recorder;
use crate::throttle::Throttle;
use crate::upstream::{Upstreams, UpstreamsError};

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
    /// Group-committing record writer.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Key of the salted request hash, derived from the root key.
    request_hash_key: [u8; 32],
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; spawns the record writer, so call it inside a tokio runtime.
    pub fn new(
        settings: Settings,
        store: Store,
        root_key: &[u8; 32],
    ) -> Result<Self, UpstreamsError> {
        let upstreams = Upstreams::new(&settings.models, &settings.config.server.data_dir)?;
        let request_hash_key = derive_key(root_key, b"veil/request-hash/v1");
        Ok(Self(Arc::new(Inner {
            auth: Authenticator::new(store.clone()),
            throttle: Throttle::new(settings.config.throttle.clone()),
            recorder: Recorder::spawn(store.clone()),
            metrics: Metrics::new(),
            upstreams,
            store,
            settings,
            request_hash_key,
        })))
    }

    /// The salted hash of a request body, recorded instead of the body.
    pub fn request_hash(&self, body: &[u8]) -> String {
        crate::pipeline::keyed_hash(&self.request_hash_key, body)
    }
}

/// A purpose-specific subkey: HMAC-SHA-256(root, purpose) (HKDF-Expand with one block).
fn derive_key(root: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    let hex = crate::pipeline::keyed_hash(root, purpose);
    let mut out = [0u8; 32];
    if hex::decode_to_slice(hex, &mut out).is_err() {
        out = *root;
    }
    out
}
