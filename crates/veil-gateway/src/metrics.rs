//! Prometheus metrics (`/metrics`). Labels carry routes, model names and statuses only.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// Every metric the gateway exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    upstream_latency: Family<Labels, Histogram, fn() -> Histogram>,
    in_flight: Gauge<i64, AtomicI64>,
    rate_limited: Family<Labels, Counter>,
    upstream_errors: Family<Labels, Counter>,
    monitoring: Monitoring,
    audit_append: Histogram,
    checkpoint_age: Gauge<f64, AtomicU64>,
}

/// Metrics of the `observe` stage: findings, decisions, alerts and their delivery.
#[derive(Debug, Clone, Default)]
struct Monitoring {
    findings: Family<Labels, Counter>,
    decisions: Family<Labels, Counter>,
    alerts: Family<Labels, Counter>,
    alert_deliveries: Family<Labels, Counter>,
    auto_actions: Family<Labels, Counter>,
    observations_dropped: Counter,
}

impl Monitoring {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "findings",
            "Sensitive values found, by data class and where (request or answer)",
            self.findings.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by verdict and reason (policy id or denial reason)",
            self.decisions.clone(),
        );
        registry.register(
            "alerts",
            "Monitoring alerts by detector kind and severity",
            self.alerts.clone(),
        );
        registry.register(
            "alert_deliveries",
            "Alert webhook outcomes: delivered, rejected, failed, dropped",
            self.alert_deliveries.clone(),
        );
        registry.register(
            "auto_actions",
            "Keys throttled or suspended automatically by monitoring",
            self.auto_actions.clone(),
        );
        registry.register(
            "observations_dropped",
            "Exchanges not seen by the detectors because their queue was full",
            self.observations_dropped.clone(),
        );
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("veil");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let upstream_latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        let rate_limited = Family::<Labels, Counter>::default();
        let upstream_errors = Family::<Labels, Counter>::default();
        let audit_append = latency_histogram();
        let checkpoint_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "requests",
            "Requests by route, model and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Total request latency until the answer is complete",
            latency.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time until the upstream's response headers",
            upstream_latency.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests in progress",
            in_flight.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429, by scope",
            rate_limited.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by model and kind",
            upstream_errors.clone(),
        );
        let monitoring = Monitoring::default();
        monitoring.register(&mut registry);
        registry.register(
            "audit_append_duration_seconds",
            "Wait until a request's audit record is durable (group commit included)",
            audit_append.clone(),
        );
        registry.register(
            "audit_checkpoint_age_seconds",
            "Age of the newest signed audit checkpoint",
            checkpoint_age.clone(),
        );
        Self {
            registry: Arc::new(registry),
            monitoring,
            requests,
            latency,
            upstream_latency,
            in_flight,
            rate_limited,
            upstream_errors,
            audit_append,
            checkpoint_age,
        }
    }

    /// A request's audit record became durable after `seconds`.
    pub fn audit_appended(&self, seconds: f64) {
        self.audit_append.observe(seconds);
    }

    /// The newest signed checkpoint is `seconds` old.
    pub fn checkpoint_age(&self, seconds: f64) {
        self.checkpoint_age.set(seconds);
    }

    /// One request started.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// One request finished (answer complete or failed).
    pub fn finished(&self, route: &'static str, model: Option<&str>, status: u16, seconds: f64) {
        self.in_flight.dec();
        let model = model.unwrap_or("").to_owned();
        self.requests
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("model", model),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(seconds);
    }

    /// The upstream answered (headers) after `seconds`.
    pub fn upstream(&self, model: &str, seconds: f64) {
        self.upstream_latency
            .get_or_create(&vec![("model", model.to_owned())])
            .observe(seconds);
    }

    /// A request got 429.
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited
            .get_or_create(&vec![("scope", scope.to_owned())])
            .inc();
    }

    /// An upstream failed.
    pub fn upstream_error(&self, model: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&vec![
                ("model", model.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .inc();
    }

    /// `n` findings of `class` in the request or the answer (`place`).
    pub fn findings(&self, place: &'static str, class: &str, n: u32) {
        self.monitoring
            .findings
            .get_or_create(&vec![("class", class.to_owned()), ("in", place.to_owned())])
            .inc_by(u64::from(n));
    }

    /// One policy decision with one of its reasons (or `none`).
    pub fn decision(&self, verdict: &'static str, reason: &str) {
        self.monitoring
            .decisions
            .get_or_create(&vec![
                ("verdict", verdict.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }

    /// One alert raised.
    pub fn alert(&self, kind: &'static str, severity: &'static str) {
        self.monitoring
            .alerts
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("severity", severity.to_owned()),
            ])
            .inc();
    }

    /// One webhook delivery outcome.
    pub fn alert_delivery(&self, outcome: &'static str) {
        self.monitoring
            .alert_deliveries
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// One automatic action (`throttle` or `suspend`).
    pub fn auto_action(&self, action: &'static str) {
        self.monitoring
            .auto_actions
            .get_or_create(&vec![("action", action.to_owned())])
            .inc();
    }

    /// One observation dropped because the detectors' queue was full.
    pub fn observation_dropped(&self) {
        self.monitoring.observations_dropped.inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
