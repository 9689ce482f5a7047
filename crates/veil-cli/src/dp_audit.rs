//! Audit records for DP releases: every budget spend of `veil dp query` becomes one
//! `DataRelease` event (tool `dp`, dataset digest, rows read, ε spent), durable before the
//! answers are printed.
//!
//! [`ReleaseAudit`] is the narrow interface the release path needs. It is implemented for
//! any [`AuditLog`] over an [`AuditSink`]: the file log today (`--audit-log`, `--audit-key`),
//! and the store-backed sink of `veil-store` once it implements `AuditSink`, with no change
//! here.

use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use veil_audit::{
    AuditLog, AuditSink, CheckpointPolicy, DataReleaseEvent, Event, FileLog, Hash, LogState,
};
use veil_dp::PrivacyLoss;
use veil_dp::accountant::zcdp_to_epsilon;

/// δ at which a zCDP spend is recorded as ε when the release names none.
pub const DEFAULT_REPORT_DELTA: f64 = 1e-6;

/// What one DP release spent, as the audit log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct DpRelease {
    /// SHA-256 of the input data file the answers were computed from.
    pub dataset_digest: Hash,
    /// Rows read from it.
    pub rows: u64,
    /// The loss charged for the whole release.
    pub loss: PrivacyLoss,
    /// δ for recording a zCDP loss as ε (tight conversion).
    pub report_delta: f64,
    /// Who ran it (`cli:<user>`).
    pub principal: String,
    /// A fresh id tying the record to this run.
    pub request_id: String,
}

impl DpRelease {
    /// ε spent, in millionths, rounded up (a zCDP loss converted at `report_delta`).
    pub fn epsilon_micros(&self) -> u64 {
        let eps = match self.loss {
            PrivacyLoss::Pure { epsilon } | PrivacyLoss::Approx { epsilon, .. } => epsilon,
            PrivacyLoss::Zcdp { rho } => zcdp_to_epsilon(rho, self.report_delta),
        };
        let micros = (eps * 1e6).ceil();
        if micros.is_finite() && micros >= 0.0 {
            micros as u64
        } else {
            u64::MAX
        }
    }

    /// The audit event.
    pub fn event(&self) -> Event {
        Event::DataRelease(DataReleaseEvent {
            tool: "dp".into(),
            dataset_digest: self.dataset_digest,
            rows: self.rows,
            epsilon_micros: Some(self.epsilon_micros()),
            k: None,
        })
    }
}

/// Where a release is recorded. Returning `Ok` means the record is durable.
pub trait ReleaseAudit {
    /// Append and commit the record of `release`.
    ///
    /// # Errors
    ///
    /// Any storage failure; the caller then releases nothing.
    fn record(&mut self, release: &DpRelease) -> anyhow::Result<()>;
}

impl<S: AuditSink> ReleaseAudit for AuditLog<S> {
    fn record(&mut self, release: &DpRelease) -> anyhow::Result<()> {
        let now = now_ms();
        self.append(
            now,
            &release.principal,
            &release.request_id,
            release.event(),
        )
        .context("appending the data-release audit record")?;
        // A one-shot command signs a checkpoint right away, so the record is verifiable.
        self.commit_with_checkpoint(now)
            .context("writing the data-release audit record")?;
        Ok(())
    }
}

/// Open (or create) the file audit log `log`, signed with the key file `key` (as written by
/// `veil audit keygen`).
pub fn open_file_log(log: &Path, key: &Path) -> anyhow::Result<AuditLog<FileLog>> {
    let signer = crate::audit::read_key_file(key)?;
    let (sink, state) = if log.exists() {
        let (sink, state, file_key) = FileLog::open(log)
            .with_context(|| format!("opening the audit log `{}`", log.display()))?;
        if file_key != signer.verifier() {
            bail!(
                "audit log `{}` belongs to key `{file_key}`, not to `{}`",
                log.display(),
                key.display()
            );
        }
        (sink, state)
    } else {
        (
            FileLog::create(log, &signer.verifier())
                .with_context(|| format!("creating the audit log `{}`", log.display()))?,
            LogState::default(),
        )
    };
    let policy = CheckpointPolicy {
        every_records: 1,
        every_ms: 60_000,
    };
    Ok(AuditLog::new(sink, state, signer, policy))
}

/// SHA-256 of a file, streamed.
pub fn file_digest(path: &Path) -> anyhow::Result<Hash> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or(&[]));
    }
    Ok(h.finalize().into())
}

/// `cli:<user>` for the record's principal.
pub fn principal() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// A random request id, `dp-` and 16 hex digits.
pub fn request_id() -> anyhow::Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(format!("dp-{}", hex::encode(b)))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_audit::{AuditRecord, AuditSource, CheckpointSigner, Entry, MemoryLog};

    #[test]
    fn a_release_becomes_one_durable_signed_data_release_record() {
        let signer = CheckpointSigner::from_seed("veil.test/dp", &[7u8; 32]).unwrap();
        let policy = CheckpointPolicy {
            every_records: 1000,
            every_ms: 1_000_000,
        };
        let mut log = AuditLog::new(MemoryLog::new(), LogState::default(), signer, policy);
        let release = DpRelease {
            dataset_digest: [9u8; 32],
            rows: 1234,
            loss: PrivacyLoss::Approx {
                epsilon: 0.75,
                delta: 1e-6,
            },
            report_delta: DEFAULT_REPORT_DELTA,
            principal: "cli:test".into(),
            request_id: "dp-0001".into(),
        };
        log.record(&release).unwrap();
        let sink = log.into_sink();
        let entries: Vec<Entry> = sink.entries().unwrap().map(Result::unwrap).collect();
        // One record, then the checkpoint covering it.
        assert_eq!(entries.len(), 2, "{entries:?}");
        let Entry::Record(stored) = &entries[0] else {
            panic!("{entries:?}")
        };
        assert!(matches!(entries[1], Entry::Checkpoint(_)));
        let record = AuditRecord::decode(&stored.bytes).unwrap();
        assert_eq!(record.principal, "cli:test");
        assert_eq!(
            record.event,
            Event::DataRelease(DataReleaseEvent {
                tool: "dp".into(),
                dataset_digest: [9u8; 32],
                rows: 1234,
                epsilon_micros: Some(750_000),
                k: None,
            })
        );
    }

    #[test]
    fn zcdp_spends_are_recorded_as_their_tight_epsilon_rounded_up() {
        let r = DpRelease {
            dataset_digest: [0; 32],
            rows: 1,
            loss: PrivacyLoss::Zcdp { rho: 0.1 },
            report_delta: 1e-6,
            principal: String::new(),
            request_id: String::new(),
        };
        let eps = zcdp_to_epsilon(0.1, 1e-6);
        assert_eq!(r.epsilon_micros(), (eps * 1e6).ceil() as u64);
        assert!(r.epsilon_micros() > 100_000);
    }
}
