//! The audit writer: group commit of audit records, and signed checkpoints on time.
//!
//! Every request record must be durable before the request is forwarded. One transaction
//! per record would cap throughput at the database's commit rate, so the store's
//! [`AuditWriter`] (one task, a connection of its own, a pipeline of sequencing and commit)
//! gathers whatever records are waiting into one transaction, numbered and chained under the
//! store's one sequencer, with a checkpoint when one is due; each caller waits for the commit
//! that holds its record. The writer signs a checkpoint every `checkpoint_every_ms` even when
//! traffic stops, and [`Recorder::close`] signs the tail at shutdown.
//!
//! The signing key is derived from the root key (`veil_audit::SIGNING_KEY_INFO`), never
//! stored in the database; its public half is [`Recorder::verifier`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_audit::{
    CheckpointPolicy, CheckpointSigner, DIGEST_KEY_INFO, Hash, SIGNING_KEY_INFO, TextDigester,
    VerifierKey, derive_key,
};
use veil_store::{AuditSigning, AuditWriter, NewAuditRecord, Store};

use crate::config::AuditConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;

/// The audit keys of a deployment, derived from its root key.
#[derive(Debug, Clone)]
pub struct AuditKeys {
    signing: Arc<AuditSigning>,
    digester: TextDigester,
}

impl AuditKeys {
    /// Derives the checkpoint signer and the text digest key from the root key.
    pub fn derive(root_key: &[u8; 32], config: &AuditConfig) -> Result<Self, GatewayError> {
        let seed = derive_key(root_key, SIGNING_KEY_INFO);
        let signer = CheckpointSigner::from_seed(&config.name, &seed)
            .map_err(|err| GatewayError::internal(&err))?;
        Ok(Self {
            signing: Arc::new(AuditSigning {
                signer,
                policy: CheckpointPolicy {
                    every_records: config.checkpoint_every_records,
                    every_ms: config.checkpoint_every_ms,
                },
            }),
            digester: TextDigester::new(&derive_key(root_key, DIGEST_KEY_INFO)),
        })
    }

    /// The signer and policy, for one-off appends (key changes).
    pub fn signing(&self) -> &AuditSigning {
        &self.signing
    }

    /// The public key that verifies this log's checkpoints.
    pub fn verifier(&self) -> VerifierKey {
        self.signing.signer.verifier()
    }

    /// The keyed digest recorded instead of a prompt or an answer.
    pub fn digester(&self) -> &TextDigester {
        &self.digester
    }
}

/// Handle on the writer task. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Recorder {
    writer: AuditWriter,
    keys: AuditKeys,
    metrics: Metrics,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Recorder {
    /// Spawns the writer task on the current tokio runtime, and a task that keeps the
    /// checkpoint-age gauge current.
    pub fn spawn(store: Store, keys: AuditKeys, metrics: Metrics) -> Self {
        let writer = AuditWriter::spawn(store, keys.signing.clone());
        tokio::spawn(watch_checkpoints(
            writer.clone(),
            metrics.clone(),
            keys.signing.policy.every_ms,
        ));
        Self {
            writer,
            keys,
            metrics,
        }
    }

    /// The audit keys.
    pub fn keys(&self) -> &AuditKeys {
        &self.keys
    }

    /// The public key that verifies this log's checkpoints.
    pub fn verifier(&self) -> VerifierKey {
        self.keys.verifier()
    }

    /// The keyed digest of a text (prompt or answer).
    pub fn digest(&self, text: &str) -> Hash {
        self.keys.digester.digest(text)
    }

    /// Appends a record and waits until it is committed; returns its seq, or 503 when it
    /// cannot be committed (fail closed: the caller must not forward).
    pub async fn append_durable(&self, record: NewAuditRecord) -> Result<u64, GatewayError> {
        let started = Instant::now();
        let seq = self
            .writer
            .append(record)
            .await
            .map_err(|err| GatewayError::unavailable(&err))?;
        self.metrics.audit_appended(started.elapsed().as_secs_f64());
        Ok(seq)
    }

    /// Appends a record without waiting (response records: the answer is already out).
    pub fn append(&self, record: NewAuditRecord) {
        if !self.writer.append_detached(record) {
            tracing::error!("audit writer stopped; record lost");
        }
    }

    /// Writes what is queued, signs a checkpoint over it and stops the writer (shutdown).
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

/// Sets the checkpoint-age gauge a few times per checkpoint period, until the writer stops.
async fn watch_checkpoints(writer: AuditWriter, metrics: Metrics, every_ms: u64) {
    let mut ticker = tokio::time::interval(Duration::from_millis((every_ms / 4).clamp(50, 1000)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !writer.is_closed() {
        ticker.tick().await;
        if let Some(at) = writer.last_checkpoint_ms() {
            metrics.checkpoint_age(now_ms().saturating_sub(at) as f64 / 1000.0);
        }
    }
}
