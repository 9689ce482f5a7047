//! Group commit of exchange records.
//!
//! Every request record must be durable before the request is forwarded. One transaction
//! per record would cap throughput at the database's commit rate, so a single writer task
//! drains whatever records are waiting and commits them in one transaction; each caller
//! waits for the commit that holds its record.

use tokio::sync::{mpsc, oneshot};
use veil_store::{ExchangeRecord, ExchangeStore, Store};

use crate::error::GatewayError;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    record: ExchangeRecord,
    done: Option<oneshot::Sender<bool>>,
}

/// Handle on the writer task. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Recorder {
    /// Spawns the writer task on the current tokio runtime.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(store, rx));
        Self { tx }
    }

    /// Appends a record and waits until it is committed; 503 when it cannot be.
    pub async fn append_durable(&self, record: ExchangeRecord) -> Result<(), GatewayError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                record,
                done: Some(done),
            })
            .map_err(|_| GatewayError::unavailable(&"record writer stopped"))?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(GatewayError::unavailable(&"record write failed")),
        }
    }

    /// Appends a record without waiting (response records: the answer is already out).
    pub fn append(&self, record: ExchangeRecord) {
        if self.tx.send(Job { record, done: None }).is_err() {
            tracing::error!("record writer stopped; response record lost");
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<ExchangeRecord> = batch.iter().map(|job| job.record.clone()).collect();
        match store.append_records(&records).await {
            Ok(_) => {
                for job in batch.drain(..) {
                    if let Some(done) = job.done {
                        let _ = done.send(true);
                    }
                }
            }
            Err(err) => {
                // One bad record must not fail its neighbours: retry them one by one.
                tracing::error!(error = %err, size = batch.len(), "record batch failed, retrying singly");
                for job in batch.drain(..) {
                    let ok = store
                        .append_records(std::slice::from_ref(&job.record))
                        .await
                        .inspect_err(|err| tracing::error!(error = %err, "record write failed"))
                        .is_ok();
                    if let Some(done) = job.done {
                        let _ = done.send(ok);
                    }
                }
            }
        }
    }
}
