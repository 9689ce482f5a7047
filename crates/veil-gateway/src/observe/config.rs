//! `[alerts]` in `veil.toml`: detector thresholds, the webhook and the automatic action.

use serde::{Deserialize, Serialize};
use veil_detect::Sensitive;

use super::alert::Severity;

/// Monitoring and alerting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Run the detectors. Metrics and the exchange log line do not depend on it.
    pub enabled: bool,
    /// Observations waiting for the detectors; when full, new ones are dropped and counted
    /// (`veil_observations_dropped_total`) so requests never wait for monitoring.
    pub queue: usize,
    /// Length of the sliding window every detector counts over, seconds (divided into ten
    /// buckets).
    pub window_secs: u64,
    /// After an alert, the same detector stays quiet for this key this many seconds.
    pub cooldown_secs: u64,
    /// Principals idle this long are forgotten (with their baselines), seconds.
    pub forget_after_secs: u64,
    /// Volume against the key's own baseline.
    pub volume: VolumeConfig,
    /// Near-duplicate prompts.
    pub near_duplicates: NearDuplicatesConfig,
    /// Distinct slot values of one template.
    pub enumeration: Threshold,
    /// Requests flagged for prompt injection by the guard or policy.
    pub injection: Threshold,
    /// Requests asking for log probabilities.
    pub logprobs: LogprobsConfig,
    /// Divergence-attack prompts.
    pub divergence: DivergenceConfig,
    /// Distinct client addresses of one key.
    pub addresses: Threshold,
    /// Requests refused by policy.
    pub refusals: Threshold,
    /// Sensitive values in answers not from the caller's input.
    pub memorization: Threshold,
    /// Where alerts are posted, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// Throttle or suspend keys automatically; off unless configured.
    pub auto_action: Option<AutoActionConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            queue: 8192,
            window_secs: 300,
            cooldown_secs: 300,
            forget_after_secs: 7 * 24 * 3600,
            volume: VolumeConfig::default(),
            near_duplicates: NearDuplicatesConfig::default(),
            enumeration: Threshold { threshold: 30 },
            injection: Threshold { threshold: 5 },
            logprobs: LogprobsConfig::default(),
            divergence: DivergenceConfig::default(),
            addresses: Threshold { threshold: 8 },
            refusals: Threshold { threshold: 20 },
            memorization: Threshold { threshold: 10 },
            webhook: None,
            auto_action: None,
        }
    }
}

/// A count within the window at which a detector fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Fires when the window's count reaches this; `0` turns the detector off.
    pub threshold: u64,
}

/// Volume detector settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VolumeConfig {
    /// Fires when the window holds this many times the key's usual amount.
    pub factor: f64,
    /// Seconds of history before a key's baseline is trusted; until then the `cold_*`
    /// absolute thresholds apply.
    pub warmup_secs: u64,
    /// Weight of each closed bucket in the moving baseline (an EWMA), in (0, 1].
    pub alpha: f64,
    /// Never fires below this many requests in the window (quiet keys double easily).
    pub min_requests: u64,
    /// Never fires below this many tokens in the window.
    pub min_tokens: u64,
    /// Never fires below this many findings in the window.
    pub min_findings: u64,
    /// Requests in the window that fire for a key still warming up; `0` disables.
    pub cold_requests: u64,
    /// Tokens in the window that fire for a key still warming up; `0` disables.
    pub cold_tokens: u64,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            factor: 5.0,
            warmup_secs: 1800,
            alpha: 0.05,
            min_requests: 100,
            min_tokens: 100_000,
            min_findings: 50,
            cold_requests: 1500,
            cold_tokens: 1_500_000,
        }
    }
}

/// Near-duplicate detector settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NearDuplicatesConfig {
    /// Fires when this many prompts in the window (the latest included) are at least
    /// `min_similarity` alike; `0` turns the detector off.
    pub threshold: u64,
    /// Smallest estimated Jaccard similarity of two prompts' content-word shingles (MinHash,
    /// 64 minima) that counts as a near duplicate. Candidates come from locality-sensitive
    /// hashing (32 bands of 2 minima), which finds pairs from about 0.25 up almost surely.
    pub min_similarity: f64,
    /// Prompts with fewer words are not compared (greetings, health checks).
    pub min_words: u32,
    /// Most prompts remembered per key.
    pub history: usize,
}

impl Default for NearDuplicatesConfig {
    fn default() -> Self {
        Self {
            threshold: 25,
            min_similarity: 0.3,
            min_words: 6,
            history: 256,
        }
    }
}

/// Log-probability harvesting settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogprobsConfig {
    /// Fires when this many requests in the window asked for log probabilities; `0` off.
    pub threshold: u64,
    /// Fires (high severity) when this many asked for them together with `logit_bias`.
    pub with_logit_bias: u64,
}

impl Default for LogprobsConfig {
    fn default() -> Self {
        Self {
            threshold: 200,
            with_logit_bias: 20,
        }
    }
}

/// Divergence-attack settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DivergenceConfig {
    /// Fires when this many divergence prompts are in the window; `0` off.
    pub threshold: u64,
    /// A prompt repeating one word back to back this many times is a divergence prompt.
    pub run: u32,
}

impl Default for DivergenceConfig {
    fn default() -> Self {
        Self {
            threshold: 2,
            run: 16,
        }
    }
}

/// The alert webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL receiving one JSON alert per POST.
    pub url: String,
    /// Name of the environment variable holding the HMAC secret (never the secret).
    pub secret_env: String,
    /// Alerts waiting for delivery; beyond it new alerts are dropped and counted.
    pub queue: usize,
    /// Retries after a failed delivery (connection error, 5xx or 429).
    pub retries: u32,
    /// First retry delay, milliseconds; doubled after each failure.
    pub backoff_ms: u64,
    /// Longest retry delay, milliseconds.
    pub max_backoff_ms: u64,
    /// Seconds allowed for one delivery attempt.
    pub timeout_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: "VEIL_ALERT_WEBHOOK_SECRET".into(),
            queue: 1024,
            retries: 5,
            backoff_ms: 500,
            max_backoff_ms: 60_000,
            timeout_secs: 10,
        }
    }
}

/// Automatic responses to alerts. Restrictions live in this process's memory and are
/// lifted by an administrator (`DELETE /admin/v1/keys/{id}/restriction`) or when they
/// expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoActionConfig {
    /// Alerts of at least this severity throttle the key; absent: never.
    pub throttle_at: Option<Severity>,
    /// Alerts of at least this severity suspend the key; absent: never.
    pub suspend_at: Option<Severity>,
    /// Requests per minute a throttled key keeps.
    pub throttle_requests_per_minute: u64,
    /// Seconds a restriction lasts; `0`: until an administrator lifts it.
    pub duration_secs: u64,
}

impl Default for AutoActionConfig {
    fn default() -> Self {
        Self {
            throttle_at: Some(Severity::High),
            suspend_at: Some(Severity::Critical),
            throttle_requests_per_minute: 6,
            duration_secs: 3600,
        }
    }
}

/// A resolved webhook: the secret read from its environment variable.
#[derive(Debug, Clone)]
pub struct ResolvedWebhook {
    /// The settings.
    pub config: WebhookConfig,
    /// The HMAC-SHA-256 key.
    pub secret: Sensitive<String>,
}

/// Why `[alerts]` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alerts.{field}: {reason}")]
pub struct AlertsConfigError {
    field: &'static str,
    reason: String,
}

impl AlertsConfig {
    /// Checks ranges and reads the webhook secret.
    pub fn validate(&self) -> Result<Option<ResolvedWebhook>, AlertsConfigError> {
        let fail = |field, reason: &str| AlertsConfigError {
            field,
            reason: reason.to_owned(),
        };
        if self.queue == 0 {
            return Err(fail("queue", "must be positive"));
        }
        if self.window_secs < 10 {
            return Err(fail("window_secs", "must be at least 10"));
        }
        let alpha = self.volume.alpha;
        let alpha_ok = alpha > 0.0 && alpha <= 1.0;
        if !alpha_ok {
            return Err(fail("volume.alpha", "must be in (0, 1]"));
        }
        if self.volume.factor.is_nan() || self.volume.factor < 1.0 {
            return Err(fail("volume.factor", "must be at least 1"));
        }
        let similarity = self.near_duplicates.min_similarity;
        if !(similarity > 0.0 && similarity <= 1.0) {
            return Err(fail("near_duplicates.min_similarity", "must be in (0, 1]"));
        }
        if self.near_duplicates.history == 0 {
            return Err(fail("near_duplicates.history", "must be positive"));
        }
        if let Some(auto) = &self.auto_action
            && auto.throttle_at.is_some()
            && auto.throttle_requests_per_minute == 0
        {
            return Err(fail(
                "auto_action.throttle_requests_per_minute",
                "must be positive",
            ));
        }
        let Some(webhook) = &self.webhook else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(&webhook.url)
            .map_err(|_| fail("webhook.url", &format!("`{}` is not a url", webhook.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("webhook.url", "must be http or https"));
        }
        if webhook.queue == 0 || webhook.timeout_secs == 0 {
            return Err(fail(
                "webhook",
                "`queue` and `timeout_secs` must be positive",
            ));
        }
        let secret = std::env::var(&webhook.secret_env).map_err(|_| {
            fail(
                "webhook.secret_env",
                &format!("environment variable `{}` is not set", webhook.secret_env),
            )
        })?;
        if secret.len() < 16 {
            return Err(fail(
                "webhook.secret_env",
                "the secret must be at least 16 bytes",
            ));
        }
        Ok(Some(ResolvedWebhook {
            config: webhook.clone(),
            secret: Sensitive::new(secret),
        }))
    }
}
