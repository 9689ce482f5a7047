//! [`Monitor`]: the detectors, as plain synchronous code over a stream of [`Observation`]s.
//!
//! Each principal (API key) has a sliding window of ten buckets (`window_secs / 10` each)
//! counting requests, tokens, findings, refusals, injection flags, log-probability
//! requests, divergence prompts and answer findings, plus a baseline: an exponentially
//! weighted moving average of its past buckets. The detectors read the window and the
//! baseline after each observation. Time comes from the observations (`at_ms`), so the
//! core is deterministic and tests replay traffic at any speed.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use super::alert::{Alert, AlertKind, Evidence, Severity};
use super::config::AlertsConfig;
use super::features::{Features, MINHASH_SIZE, MinHash};

/// Buckets per window.
const BUCKETS: i64 = 10;

/// Most templates remembered per principal (entries of the enumeration history).
const TEMPLATE_HISTORY: usize = 2048;

/// A closed bucket counts into the baseline as at most this many times the baseline.
const BASELINE_CLAMP: f64 = 2.0;

/// Most client addresses remembered per principal.
const ADDRESS_HISTORY: usize = 256;

/// Locality-sensitive hashing of MinHash signatures: `BANDS` bands of `ROWS` minima. Two
/// prompts become candidates when all minima of one band agree, which for Jaccard similarity
/// `s` happens with probability `1 - (1 - s^2)^32`: 0.95 at 0.3, 0.9995 at 0.5, 0.73 at 0.2.
const BANDS: usize = 32;
const ROWS: usize = MINHASH_SIZE / BANDS;

/// One finished exchange, as the detectors see it: ids, counts and hashes, never text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The request id.
    pub request_id: String,
    /// When it finished, unix milliseconds.
    pub at_ms: i64,
    /// The key.
    pub key_id: String,
    /// The key's tenant.
    pub tenant: String,
    /// The client's address (the TCP peer).
    pub client: Option<IpAddr>,
    /// The public model asked for.
    pub model: Option<String>,
    /// The HTTP status returned.
    pub status: u16,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Findings in the request, per data class.
    pub classes: BTreeMap<String, u32>,
    /// Findings in the answer that did not come from the caller's input.
    pub answer_findings: u32,
    /// Refused by policy (403 or a deny verdict).
    pub refused: bool,
    /// Flagged for prompt injection by the guard or policy.
    pub injection: bool,
    /// Text features of the prompt (absent when the request never parsed).
    pub features: Option<Features>,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    requests: u64,
    tokens: u64,
    findings: u64,
    refusals: u64,
    injections: u64,
    logprobs: u64,
    logit_bias: u64,
    divergence: u64,
    answer_findings: u64,
    classes: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.tokens += other.tokens;
        self.findings += other.findings;
        self.refusals += other.refusals;
        self.injections += other.injections;
        self.logprobs += other.logprobs;
        self.logit_bias += other.logit_bias;
        self.divergence += other.divergence;
        self.answer_findings += other.answer_findings;
        for (class, n) in &other.classes {
            *self.classes.entry(class.clone()).or_default() += n;
        }
    }
}

/// EWMA of per-bucket requests, tokens and findings.
#[derive(Debug, Clone, Copy, Default)]
struct Baseline {
    requests: f64,
    tokens: f64,
    findings: f64,
    /// False until the first bucket closed.
    started: bool,
}

#[derive(Debug)]
struct Principal {
    tenant: String,
    first_ms: i64,
    last_ms: i64,
    /// `(bucket index, counts)`, oldest first, at most [`BUCKETS`].
    buckets: VecDeque<(i64, Counts)>,
    baseline: Baseline,
    /// Recent prompts' signatures and their LSH index.
    prompts: PromptIndex,
    /// `(at_ms, template, slot)` of recent templated prompts.
    templates: VecDeque<(i64, u64, u64)>,
    /// Client address -> last seen, unix ms.
    addresses: HashMap<IpAddr, i64>,
    /// Detector -> when it last fired.
    fired: HashMap<AlertKind, i64>,
}

/// The detectors with their per-principal state.
#[derive(Debug)]
pub struct Monitor {
    config: AlertsConfig,
    principals: HashMap<String, Principal>,
    observed: u64,
}

impl Monitor {
    /// A monitor with these thresholds.
    pub fn new(config: AlertsConfig) -> Self {
        Self {
            config,
            principals: HashMap::new(),
            observed: 0,
        }
    }

    /// Principals currently tracked.
    pub fn principals(&self) -> usize {
        self.principals.len()
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.config.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    fn bucket_ms(&self) -> i64 {
        (self.window_ms() / BUCKETS).max(1)
    }

    /// Takes one observation; returns the alerts it raises (after cooldowns).
    pub fn observe(&mut self, obs: &Observation) -> Vec<Alert> {
        self.observed += 1;
        if self.observed.is_multiple_of(4096) {
            self.forget_idle(obs.at_ms);
        }
        let window_ms = self.window_ms();
        let bucket_ms = self.bucket_ms();
        let config = &self.config;
        let principal = match self.principals.entry(obs.key_id.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Principal {
                tenant: obs.tenant.clone(),
                first_ms: obs.at_ms,
                last_ms: obs.at_ms,
                buckets: VecDeque::new(),
                baseline: Baseline::default(),
                prompts: PromptIndex::default(),
                templates: VecDeque::new(),
                addresses: HashMap::new(),
                fired: HashMap::new(),
            }),
        };
        principal.last_ms = principal.last_ms.max(obs.at_ms);
        let bucket = obs.at_ms.div_euclid(bucket_ms);
        principal.advance(bucket, config);
        let counts = principal.record(obs, bucket, config);
        let since = obs.at_ms.saturating_sub(window_ms);
        let mut found = Vec::new();
        principal.detect_volume(obs, &counts, config, &mut found);
        principal.detect_counts(&counts, config, &mut found);
        principal.detect_near_duplicates(obs, since, config, &mut found);
        principal.detect_enumeration(obs, since, config, &mut found);
        principal.detect_addresses(obs, since, config, &mut found);
        let cooldown_ms =
            i64::try_from(config.cooldown_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut alerts = Vec::new();
        for (kind, severity, evidence) in found {
            let quiet = principal
                .fired
                .get(&kind)
                .is_some_and(|at| obs.at_ms.saturating_sub(*at) < cooldown_ms);
            if quiet {
                continue;
            }
            principal.fired.insert(kind, obs.at_ms);
            alerts.push(Alert {
                kind,
                severity,
                recommended: severity.recommended(),
                key_id: obs.key_id.clone(),
                tenant: principal.tenant.clone(),
                request_id: obs.request_id.clone(),
                at_ms: obs.at_ms,
                window_secs: config.window_secs,
                evidence,
            });
        }
        alerts
    }

    /// Drops principals idle longer than `forget_after_secs`.
    fn forget_idle(&mut self, now_ms: i64) {
        let idle_ms =
            i64::try_from(self.config.forget_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.principals
            .retain(|_, p| now_ms.saturating_sub(p.last_ms) <= idle_ms);
    }
}

/// A detector's finding before the cooldown: kind, severity, evidence.
type Found = (AlertKind, Severity, Evidence);

/// `base`, raised one level when `value` reaches four times `threshold`.
fn severity(base: Severity, value: u64, threshold: u64) -> Severity {
    if value >= threshold.saturating_mul(4) {
        base.raised()
    } else {
        base
    }
}

impl Principal {
    /// Moves the window to `bucket`: closed buckets feed the baseline, old ones leave.
    fn advance(&mut self, bucket: i64, config: &AlertsConfig) {
        let Some((newest, _)) = self.buckets.back() else {
            return;
        };
        let newest = *newest;
        if newest < bucket {
            // The newest bucket has closed; the ones between it and `bucket` were empty.
            let counts = self
                .buckets
                .back()
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let empty = bucket - newest - 1;
            self.baseline.update(&counts, empty, &config.volume);
        }
        while self
            .buckets
            .front()
            .is_some_and(|(index, _)| *index <= bucket - BUCKETS)
        {
            self.buckets.pop_front();
        }
    }

    /// Adds the observation to its bucket; returns the window's totals.
    fn record(&mut self, obs: &Observation, bucket: i64, config: &AlertsConfig) -> Counts {
        let mut one = Counts {
            requests: 1,
            tokens: obs.tokens,
            refusals: u64::from(obs.refused),
            injections: u64::from(obs.injection),
            answer_findings: u64::from(obs.answer_findings),
            ..Counts::default()
        };
        for (class, n) in &obs.classes {
            one.findings += u64::from(*n);
            one.classes.insert(class.clone(), u64::from(*n));
        }
        if let Some(features) = &obs.features {
            one.logprobs = u64::from(features.logprobs > 0);
            one.logit_bias = u64::from(features.logprobs > 0 && features.logit_bias);
            one.divergence =
                u64::from(features.repeat_request || features.longest_run >= config.divergence.run);
        }
        // An observation older than the newest bucket (out of order) joins the newest.
        let joins_newest = self
            .buckets
            .back()
            .is_some_and(|(index, _)| *index >= bucket);
        match self.buckets.back_mut() {
            Some((_, counts)) if joins_newest => counts.add(&one),
            _ => self.buckets.push_back((bucket, one)),
        }
        let mut total = Counts::default();
        for (_, counts) in &self.buckets {
            total.add(counts);
        }
        total
    }

    fn detect_volume(
        &self,
        obs: &Observation,
        window: &Counts,
        config: &AlertsConfig,
        found: &mut Vec<Found>,
    ) {
        let volume = &config.volume;
        let warm = obs.at_ms.saturating_sub(self.first_ms)
            >= i64::try_from(volume.warmup_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
            && self.baseline.started;
        let buckets = BUCKETS as f64;
        let measures = [
            (
                "requests",
                window.requests,
                self.baseline.requests,
                volume.min_requests,
                volume.cold_requests,
            ),
            (
                "tokens",
                window.tokens,
                self.baseline.tokens,
                volume.min_tokens,
                volume.cold_tokens,
            ),
            (
                "findings",
                window.findings,
                self.baseline.findings,
                volume.min_findings,
                0,
            ),
        ];
        for (name, value, per_bucket, floor, cold) in measures {
            let expected = per_bucket * buckets;
            let threshold = if warm {
                (volume.factor * expected).max(floor as f64)
            } else if cold > 0 {
                cold as f64
            } else {
                continue;
            };
            if (value as f64) < threshold {
                continue;
            }
            let base = Severity::Medium;
            let severity = if (value as f64) >= 4.0 * threshold {
                base.raised()
            } else {
                base
            };
            let mut evidence = Evidence::default()
                .count(name, value as f64)
                .count("expected", expected)
                .count("threshold", threshold)
                .count("warm", u8::from(warm))
                .count("requests_in_window", window.requests as f64);
            if name == "findings" {
                for (class, n) in &window.classes {
                    evidence = evidence.count(&format!("class:{class}"), *n as f64);
                }
            }
            found.push((AlertKind::Volume, severity, evidence));
            return;
        }
    }

    fn detect_counts(&self, window: &Counts, config: &AlertsConfig, found: &mut Vec<Found>) {
        let requests = window.requests as f64;
        let checks = [
            (
                AlertKind::Injection,
                "injection_flagged",
                window.injections,
                config.injection.threshold,
                Severity::High,
            ),
            (
                AlertKind::Divergence,
                "divergence_prompts",
                window.divergence,
                config.divergence.threshold,
                Severity::High,
            ),
            (
                AlertKind::Refusals,
                "refused",
                window.refusals,
                config.refusals.threshold,
                Severity::Medium,
            ),
            (
                AlertKind::Memorization,
                "answer_findings",
                window.answer_findings,
                config.memorization.threshold,
                Severity::High,
            ),
        ];
        for (kind, name, value, threshold, base) in checks {
            if threshold > 0 && value >= threshold {
                let evidence = Evidence::default()
                    .count(name, value as f64)
                    .count("threshold", threshold as f64)
                    .count("requests_in_window", requests);
                found.push((kind, severity(base, value, threshold), evidence));
            }
        }
        let logprobs = &config.logprobs;
        let biased = logprobs.with_logit_bias > 0 && window.logit_bias >= logprobs.with_logit_bias;
        let many = logprobs.threshold > 0 && window.logprobs >= logprobs.threshold;
        if biased || many {
            let severity = if biased {
                severity(Severity::High, window.logit_bias, logprobs.with_logit_bias)
            } else {
                severity(Severity::Medium, window.logprobs, logprobs.threshold)
            };
            let evidence = Evidence::default()
                .count("logprob_requests", window.logprobs as f64)
                .count("with_logit_bias", window.logit_bias as f64)
                .count("threshold", logprobs.threshold as f64)
                .count("logit_bias_threshold", logprobs.with_logit_bias as f64)
                .count("requests_in_window", requests);
            found.push((AlertKind::Logprobs, severity, evidence));
        }
    }

    fn detect_near_duplicates(
        &mut self,
        obs: &Observation,
        since: i64,
        config: &AlertsConfig,
        found: &mut Vec<Found>,
    ) {
        let near = &config.near_duplicates;
        self.prompts.expire(since);
        let Some(features) = obs
            .features
            .filter(|f| f.words >= near.min_words && f.shingles > 0)
        else {
            return;
        };
        if near.threshold == 0 {
            return;
        }
        let bands = band_keys(&features.minhash);
        let candidates = self.prompts.candidates(&bands);
        let similar = candidates
            .iter()
            .filter(|minhash| minhash.similarity(&features.minhash) >= near.min_similarity)
            .count() as u64;
        let candidates = candidates.len();
        self.prompts
            .insert(obs.at_ms, features.minhash, bands, near.history);
        let cluster = similar + 1;
        if cluster >= near.threshold {
            let evidence = Evidence::default()
                .count("near_duplicates", cluster as f64)
                .count("candidates", candidates as f64)
                .count("compared", self.prompts.len() as f64)
                .count("min_similarity", near.min_similarity)
                .count("threshold", near.threshold as f64)
                .count("shingles", f64::from(features.shingles))
                .hash("minhash", features.minhash.digest());
            found.push((
                AlertKind::NearDuplicates,
                severity(Severity::Medium, cluster, near.threshold),
                evidence,
            ));
        }
    }

    fn detect_enumeration(
        &mut self,
        obs: &Observation,
        since: i64,
        config: &AlertsConfig,
        found: &mut Vec<Found>,
    ) {
        while self.templates.front().is_some_and(|(at, _, _)| *at < since) {
            self.templates.pop_front();
        }
        let threshold = config.enumeration.threshold;
        let Some((template, slot)) = obs.features.and_then(|f| f.template.map(|t| (t, f.slot)))
        else {
            return;
        };
        if threshold == 0 {
            return;
        }
        if self.templates.len() >= TEMPLATE_HISTORY {
            self.templates.pop_front();
        }
        self.templates.push_back((obs.at_ms, template, slot));
        let mut slots: Vec<u64> = self
            .templates
            .iter()
            .filter(|(_, t, _)| *t == template)
            .map(|(_, _, s)| *s)
            .collect();
        let uses = slots.len() as u64;
        slots.sort_unstable();
        slots.dedup();
        let distinct = slots.len() as u64;
        if distinct >= threshold {
            let evidence = Evidence::default()
                .count("distinct_values", distinct as f64)
                .count("template_uses", uses as f64)
                .count("threshold", threshold as f64)
                .hash("template", template);
            found.push((
                AlertKind::Enumeration,
                severity(Severity::Medium, distinct, threshold),
                evidence,
            ));
        }
    }

    fn detect_addresses(
        &mut self,
        obs: &Observation,
        since: i64,
        config: &AlertsConfig,
        found: &mut Vec<Found>,
    ) {
        let Some(client) = obs.client else {
            return;
        };
        self.addresses.retain(|_, at| *at >= since);
        if self.addresses.len() < ADDRESS_HISTORY || self.addresses.contains_key(&client) {
            self.addresses.insert(client, obs.at_ms);
        }
        let threshold = config.addresses.threshold;
        let distinct = self.addresses.len() as u64;
        if threshold > 0 && distinct >= threshold {
            let evidence = Evidence::default()
                .count("distinct_addresses", distinct as f64)
                .count("threshold", threshold as f64);
            found.push((
                AlertKind::Addresses,
                severity(Severity::High, distinct, threshold),
                evidence,
            ));
        }
    }
}

/// The LSH band keys of a signature: each band's minima hashed with the band's number.
fn band_keys(minhash: &MinHash) -> [u64; BANDS] {
    let mut keys = [0u64; BANDS];
    for (band, (key, rows)) in keys
        .iter_mut()
        .zip(minhash.0.chunks_exact(ROWS))
        .enumerate()
    {
        let mut x = band as u64;
        for row in rows {
            x = splitmix(x.rotate_left(32) ^ u64::from(*row));
        }
        *key = x;
    }
    keys
}

/// The SplitMix64 finaliser.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One principal's recent prompt signatures with their LSH band keys, oldest first.
///
/// Candidates are the entries sharing a band key with the new prompt. With at most
/// `history` entries (256 by default) the band keys are compared entry by entry: 32 × 256
/// integer comparisons cost less than maintaining a hash map of buckets (one `Vec` per band
/// and prompt), which measured 40× slower in the detector benchmark.
#[derive(Debug, Default)]
struct PromptIndex {
    /// `(at_ms, signature, band keys)`.
    entries: VecDeque<(i64, MinHash, [u64; BANDS])>,
}

impl PromptIndex {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Signatures of the remembered prompts sharing at least one band with `bands`.
    fn candidates(&self, bands: &[u64; BANDS]) -> Vec<&MinHash> {
        self.entries
            .iter()
            .filter(|(_, _, keys)| keys.iter().zip(bands).any(|(a, b)| a == b))
            .map(|(_, minhash, _)| minhash)
            .collect()
    }

    fn insert(&mut self, at_ms: i64, minhash: MinHash, bands: [u64; BANDS], history: usize) {
        while self.entries.len() >= history.max(1) {
            self.entries.pop_front();
        }
        self.entries.push_back((at_ms, minhash, bands));
    }

    /// Forgets prompts older than `since`.
    fn expire(&mut self, since: i64) {
        while self.entries.front().is_some_and(|(at, ..)| *at < since) {
            self.entries.pop_front();
        }
    }
}

impl Baseline {
    /// Folds a closed bucket in, then `empty` empty buckets. A bucket above twice the
    /// baseline counts as twice the baseline, so a sustained flood does not become the new
    /// normal within minutes (it raises the baseline by at most `alpha` per bucket), while
    /// honest growth (which never doubles from one bucket to the next) is followed.
    fn update(&mut self, closed: &Counts, empty: i64, volume: &super::config::VolumeConfig) {
        let alpha = volume.alpha;
        let fold = |average: &mut f64, value: u64, started: bool| {
            let value = value as f64;
            if started {
                let capped = if *average > 0.0 {
                    value.min(BASELINE_CLAMP * *average)
                } else {
                    value
                };
                *average = alpha * capped + (1.0 - alpha) * *average;
            } else {
                *average = value;
            }
        };
        fold(&mut self.requests, closed.requests, self.started);
        fold(&mut self.tokens, closed.tokens, self.started);
        fold(&mut self.findings, closed.findings, self.started);
        self.started = true;
        if empty > 0 {
            let decay = (1.0 - alpha).powi(i32::try_from(empty.min(10_000)).unwrap_or(10_000));
            self.requests *= decay;
            self.tokens *= decay;
            self.findings *= decay;
        }
    }
}

#[cfg(test)]
mod tests;
