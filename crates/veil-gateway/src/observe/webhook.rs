//! The alert webhook: one JSON alert per POST, signed, retried with exponential backoff.
//!
//! The body is the [`Alert`] as JSON (ids, counts and hashes only). The header
//! `x-veil-signature: sha256=<hex>` is HMAC-SHA-256 of the exact body bytes under the
//! configured secret; receivers recompute it and compare in constant time, and use the
//! signed `at_ms` to reject replays. Connection errors, timeouts, 5xx and 429 are retried
//! after `backoff_ms`, doubled each time up to `max_backoff_ms`, at most `retries` times;
//! other statuses are final. Delivery runs in its own task from a bounded queue, so a slow
//! receiver never holds back the detectors.

use std::time::Duration;

use tokio::sync::mpsc;

use super::alert::Alert;
use super::config::ResolvedWebhook;
use crate::metrics::Metrics;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-veil-signature";

/// The `x-veil-signature` value for `body` under `secret`: `sha256=` and 64 hex digits.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", crate::pipeline::keyed_hash(secret, body))
}

/// Starts the delivery task; returns its queue.
pub(super) fn spawn(webhook: ResolvedWebhook, metrics: Metrics) -> mpsc::Sender<Alert> {
    let (tx, rx) = mpsc::channel(webhook.config.queue);
    tokio::spawn(deliver_all(webhook, metrics, rx));
    tx
}

async fn deliver_all(webhook: ResolvedWebhook, metrics: Metrics, mut rx: mpsc::Receiver<Alert>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(webhook.config.timeout_secs))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "alert webhook client cannot be built; alerts will not be posted");
            return;
        }
    };
    while let Some(alert) = rx.recv().await {
        let outcome = deliver(&client, &webhook, &alert).await;
        metrics.alert_delivery(outcome);
    }
}

/// Posts one alert with retries; returns `delivered`, `rejected` or `failed`.
async fn deliver(
    client: &reqwest::Client,
    webhook: &ResolvedWebhook,
    alert: &Alert,
) -> &'static str {
    let Ok(body) = serde_json::to_vec(alert) else {
        return "failed";
    };
    let signature = sign(webhook.secret.expose().as_bytes(), &body);
    let config = &webhook.config;
    let mut delay = Duration::from_millis(config.backoff_ms);
    let max_delay = Duration::from_millis(config.max_backoff_ms.max(config.backoff_ms));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = client
            .post(&config.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .body(body.clone())
            .send()
            .await;
        let retryable = match &result {
            Ok(response) if response.status().is_success() => return "delivered",
            Ok(response) => {
                let status = response.status();
                status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS
            }
            Err(_) => true,
        };
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        if !retryable {
            tracing::warn!(
                kind = alert.kind.as_str(),
                status,
                "alert webhook refused the alert"
            );
            return "rejected";
        }
        if attempt > config.retries {
            tracing::warn!(
                kind = alert.kind.as_str(),
                status,
                attempts = attempt,
                "alert webhook failed; alert not delivered"
            );
            return "failed";
        }
        tracing::debug!(
            kind = alert.kind.as_str(),
            status,
            attempt,
            "alert webhook failed; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max_delay);
    }
}
