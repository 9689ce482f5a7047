//! The audit writer: group commit of audit records, and signed checkpoints on time.
//!
//! Every request record must be durable before the request is forwarded. One transaction
//! per record would cap throughput at the database's commit rate, so a single writer task
//! drains whatever records are waiting and appends them with one
//! [`AuditStore::audit_append`] (one transaction, numbered and chained under the store's one
//! sequencer, with a checkpoint when one is due); each caller waits for the commit that holds
//! its record. A timer signs a checkpoint every `checkpoint_every_ms` even when traffic stops,
//! and [`Recorder::close`] signs the tail at shutdown.
//!
//! The signing key is derived from the root key (`veil_audit::SIGNING_KEY_INFO`), never
//! stored in the database; its public half is [`Recorder::verifier`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use veil_audit::{
    CheckpointPolicy, CheckpointSigner, DIGEST_KEY_INFO, Hash, SIGNING_KEY_INFO, SignedCheckpoint,
    TextDigester, VerifierKey, derive_key,
};
use veil_store::{AuditSigning, AuditStore, NewAuditRecord, Store};

use crate::config::AuditConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 1024;

// Nearly every job is an `Append`; boxing the record would add an allocation per record
// to spare the one `Close` at shutdown a few bytes.
#[allow(clippy::large_enum_variant)]
enum Job {
    Append {
        record: NewAuditRecord,
        done: Option<oneshot::Sender<Option<u64>>>,
    },
    Close(oneshot::Sender<()>),
}

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
    tx: mpsc::UnboundedSender<Job>,
    keys: AuditKeys,
    metrics: Metrics,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Recorder {
    /// Spawns the writer task on the current tokio runtime.
    pub fn spawn(store: Store, keys: AuditKeys, metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, keys.clone(), metrics.clone(), rx));
        Self { tx, keys, metrics }
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
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Append {
                record,
                done: Some(done),
            })
            .map_err(|_| GatewayError::unavailable(&"audit writer stopped"))?;
        let seq = match wait.await {
            Ok(Some(seq)) => seq,
            _ => return Err(GatewayError::unavailable(&"audit record write failed")),
        };
        self.metrics.audit_appended(started.elapsed().as_secs_f64());
        Ok(seq)
    }

    /// Appends a record without waiting (response records: the answer is already out).
    pub fn append(&self, record: NewAuditRecord) {
        if self.tx.send(Job::Append { record, done: None }).is_err() {
            tracing::error!("audit writer stopped; record lost");
        }
    }

    /// Writes what is queued, signs a checkpoint over it and stops the writer (shutdown).
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// How often the writer checks whether a checkpoint is due by time.
fn tick_period(every_ms: u64) -> Duration {
    Duration::from_millis((every_ms / 4).clamp(50, 1000))
}

async fn write_loop(
    store: Store,
    keys: AuditKeys,
    metrics: Metrics,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let signing = keys.signing.clone();
    let mut last_checkpoint_ms = match store.audit_latest_checkpoint().await {
        Ok(Some(text)) => SignedCheckpoint::parse(&text)
            .map(|cp| cp.checkpoint.time_ms)
            .ok(),
        _ => None,
    };
    let mut ticker = tokio::time::interval(tick_period(signing.policy.every_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut jobs, MAX_BATCH) => {
                if received == 0 {
                    break;
                }
            }
            _ = ticker.tick() => {
                let now = now_ms();
                match store.audit_append(&[], &signing, now, false).await {
                    Ok(appended) if appended.checkpoint.is_some() => last_checkpoint_ms = Some(now),
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err, "audit checkpoint failed"),
                }
                if let Some(at) = last_checkpoint_ms {
                    metrics.checkpoint_age(now.saturating_sub(at) as f64 / 1000.0);
                }
                continue;
            }
        }
        let mut close = None;
        let mut records = Vec::with_capacity(jobs.len());
        let mut waiters = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            match job {
                Job::Append { record, done } => {
                    records.push(record);
                    waiters.push(done);
                }
                Job::Close(done) => close = Some(done),
            }
        }
        if !records.is_empty() {
            let now = now_ms();
            match store.audit_append(&records, &signing, now, false).await {
                Ok(appended) => {
                    if appended.checkpoint.is_some() {
                        last_checkpoint_ms = Some(now);
                    }
                    for (i, done) in waiters.into_iter().enumerate() {
                        if let Some(done) = done {
                            let _ = done.send(Some(appended.first_seq + i as u64));
                        }
                    }
                }
                Err(err) => {
                    // Nothing of the batch was committed (one transaction). Retry each record
                    // alone so that one bad record does not fail its neighbours.
                    tracing::error!(error = %err, size = records.len(), "audit batch failed, retrying singly");
                    for (record, done) in records.iter().zip(waiters) {
                        let seq = store
                            .audit_append(std::slice::from_ref(record), &signing, now, false)
                            .await
                            .inspect_err(
                                |err| tracing::error!(error = %err, "audit record write failed"),
                            )
                            .ok()
                            .map(|a| a.first_seq);
                        if let Some(done) = done {
                            let _ = done.send(seq);
                        }
                    }
                }
            }
        }
        if let Some(done) = close {
            if let Err(err) = store.audit_append(&[], &signing, now_ms(), true).await {
                tracing::error!(error = %err, "final audit checkpoint failed");
            }
            let _ = done.send(());
            break;
        }
    }
}
