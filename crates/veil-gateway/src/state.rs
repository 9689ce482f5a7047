//! [`AppState`]: what every request shares, built once at startup.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use veil_detect::Analyzer;
use veil_guard::{Guard, GuardConfig};
use veil_protect::keys::RootKey;
use veil_store::Store;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::error::GatewayError;
use crate::jwt::JwtVerifier;
use crate::metrics::Metrics;
use crate::observe::Observer;
use crate::recorder::{AuditKeys, Recorder};
use crate::server::StartError;
use crate::throttle::Throttle;
use crate::upstream::Upstreams;
use crate::vault::Vault;

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
    /// Detection, built once (the names model and the pattern set are large).
    pub analyzer: Arc<Analyzer>,
    /// Injection scoring of user, tool and document parts.
    pub guard: Guard,
    /// Each configured model as policy sees it (hosting, region, approved classes).
    pub policy_models: BTreeMap<String, veil_policy::Model>,
    /// Pseudonym mappings, encrypted per tenant.
    pub vault: Vault,
    /// The root key: the protector derives its per-tenant keys (surrogates) from it.
    pub(crate) root: RootKey,
    /// Monitoring: feature extraction and the detectors' queue.
    pub observer: Observer,
    /// Key naming conversations recognised from their first messages.
    pub(crate) conversation_key: [u8; 32],
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
    pub fn new(settings: Settings, store: Store, root_key: &[u8; 32]) -> Result<Self, StartError> {
        let analyzer = Analyzer::builder()
            .build()
            .map_err(|err| GatewayError::internal(&err))?;
        Self::with_analyzer(settings, store, root_key, Arc::new(analyzer))
    }

    /// Like [`AppState::new`] with a given analyzer (custom recognizers; tests).
    pub fn with_analyzer(
        settings: Settings,
        store: Store,
        root_key: &[u8; 32],
        analyzer: Arc<Analyzer>,
    ) -> Result<Self, StartError> {
        let upstreams = Upstreams::new(&settings.models, &settings.config.server.data_dir)?;
        let keys = AuditKeys::derive(root_key, &settings.config.audit)?;
        let metrics = Metrics::new();
        let throttle = Throttle::new(settings.config.throttle.clone());
        let observer = Observer::spawn(
            &settings.config.alerts,
            settings.alert_webhook.clone(),
            metrics.clone(),
            throttle.clone(),
        );
        let mut auth = Authenticator::new(store.clone());
        if let Some(jwt) = &settings.jwt {
            let verifier = Arc::new(JwtVerifier::new(jwt.clone()));
            verifier.spawn_refresher();
            auth = auth.with_jwt(verifier);
        }
        let conversation_key = derive_key(root_key, b"veil/conversation-id/v1");
        let guard =
            Guard::new(&GuardConfig::default()).map_err(|err| GatewayError::internal(&err))?;
        let mut policy_models = BTreeMap::new();
        for (name, model) in &settings.models {
            let attributes = &model.attributes;
            let hosting = match attributes.hosting {
                crate::config::Hosting::OnPrem => veil_policy::Hosting::OnPrem,
                crate::config::Hosting::Cloud => veil_policy::Hosting::Cloud,
            };
            let region = attributes.region.as_deref().unwrap_or("");
            let entity =
                veil_policy::Model::new(name, hosting, region, &attributes.approved_classes)
                    .map_err(|err| GatewayError::internal(&err))?;
            policy_models.insert(name.clone(), entity);
        }
        let vault = Vault::new(store.clone(), root_key, settings.config.vault.ttl_secs);
        Ok(Self(Arc::new(Inner {
            analyzer,
            guard,
            policy_models,
            vault,
            root: RootKey::from_bytes(*root_key),
            conversation_key,
            auth,
            throttle,
            recorder: Recorder::spawn(store.clone(), keys, metrics.clone()),
            metrics,
            observer,
            upstreams,
            store,
            settings,
        })))
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
