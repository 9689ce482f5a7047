//! The content pipeline: every stage of a request, in order, in this one file.
//!
//! ```text
//!  1 authenticate  key -> Principal                                   401
//!  2 parse         body -> Exchange                                   400 / 413
//!  3 throttle      request and token budgets -> Permit                429
//!  4 inspect       detection on every text part          (issue 4)    -
//!  5 decide        principal x action x model -> Decision             403 / 404
//!  6 protect       apply the decision -> Protected<Exchange> (issue 4) -
//!  7 record        request record, durable before anything leaves     503
//!  8 forward       Protected<Exchange> + Decision -> upstream         502 / 504
//!  9 screen        per chunk: restore, leak checks        (issue 4)    -
//! 10 record        response record; always runs, errors included      -
//! 11 observe       metrics, log line, detectors (off the hot path)     -
//! ```
//!
//! Stages are plain functions over one per-request [`Ctx`]; each returns its product or a
//! [`GatewayError`] that ends the request. `forward` takes only a [`Protected`] exchange and
//! a [`Decision`], which only `protect` and `decide` can build (their fields and constructors
//! are private to the `gate` module below), so skipping a stage does not compile. Stages 10
//! and 11 run from [`Finish`], which fires when the answer is complete, when it fails, or
//! when the client goes away (its `Drop`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::Sha256;
use veil_audit::{DecisionEvent, DigestWriter, Event, Hash, RequestEvent, ResponseEvent};
use veil_detect::{DataClass, Finding, Sensitive};
use veil_protect::restore::StreamLeakReport;

use crate::screen::{AnswerFlags, AnswerReport};
use veil_store::NewAuditRecord;
use zeroize::Zeroizing;

use crate::auth::Principal;
use crate::error::{Component, GatewayError};
use crate::exchange::{Action, Exchange, Origin as ExchangeOrigin, parse_exchange};
use crate::observe::{Features, Observation};
use crate::state::AppState;
use crate::summary::{DecisionSummary, Verdict};
use crate::throttle::Permit;
use crate::upstream::{ChunkStream, UpstreamBody, UpstreamResponse};

pub use gate::{Decision, Protected, Screening};

/// Per-request state, threaded through every stage. Never holds message content.
#[derive(Debug)]
pub struct Ctx {
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// The action (and route).
    pub action: Action,
    /// When the request arrived.
    pub started: Instant,
    /// Set by `authenticate`.
    pub principal: Option<Principal>,
    /// Set by `parse`: the public model name.
    pub model: Option<String>,
    /// Set by `parse`: estimated prompt tokens.
    pub prompt_tokens_estimate: Option<u64>,
    /// Set by `parse`: keyed digest of the body as received (recorded instead of the prompt).
    pub prompt_digest: Option<Hash>,
    /// Set by `record` (stage 7): the seq of the request's durable audit record.
    pub request_seq: Option<u64>,
    /// How many of `summary.flags` the request record holds; later ones came from `protect`
    /// or `screen`.
    pub flags_recorded: usize,
    /// Set when `protect` refused a request whose request record was already committed
    /// (stages 6 and 7 overlap): the error code, recorded by stage 10.
    pub refused_after_record: Option<&'static str>,
    /// Set by `forward`: time to the upstream's response headers.
    pub upstream_latency: Option<Duration>,
    /// Set by `throttle`: held until the answer is complete.
    pub permit: Option<Permit>,
    /// Filled by `inspect`, `decide`, `protect` and `screen`; recorded and explained.
    pub summary: DecisionSummary,
    /// True once `decide` has run (the `x-veil-decision` header says `none` before).
    pub decided: bool,
    /// The client's address (the TCP peer), for monitoring.
    pub client: Option<IpAddr>,
    /// Set after `parse`: the prompt's features for the detectors (hashes, never text).
    pub features: Option<Features>,
}

impl Ctx {
    fn new(request_id: String, action: Action, client: Option<IpAddr>) -> Self {
        Self {
            request_id,
            action,
            started: Instant::now(),
            principal: None,
            model: None,
            prompt_tokens_estimate: None,
            prompt_digest: None,
            request_seq: None,
            flags_recorded: 0,
            refused_after_record: None,
            upstream_latency: None,
            permit: None,
            summary: DecisionSummary::default(),
            decided: false,
            client,
            features: None,
        }
    }
}

/// Runs the pipeline for one API request and always produces a response. `client` is the
/// TCP peer's address, when known.
pub async fn handle(
    state: AppState,
    action: Action,
    client: Option<IpAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.metrics.started();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut ctx = Ctx::new(request_id, action, client);
    let outcome = run(&state, &mut ctx, &headers, body).await;
    let veil_headers = [
        (
            "x-veil-request-id",
            HeaderValue::from_str(&ctx.request_id).ok(),
        ),
        (
            "x-veil-decision",
            HeaderValue::from_str(&decision_header(&ctx)).ok(),
        ),
    ];
    let finish = Finish {
        state: state.clone(),
        ctx: Some(ctx),
    };
    let mut response = match outcome {
        Ok(answer) => answer.into_response(finish),
        Err(err) => {
            let body = err.body().to_string();
            finish.complete(Outcome {
                status: err.status().as_u16(),
                usage: Usage::default(),
                answer: Some(state.recorder.digest(&body)),
                error: Some(err.code()),
            });
            err.into_response()
        }
    };
    for (name, value) in veil_headers {
        if let Some(value) = value {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `x-veil-decision`: `allow; policies=a,b; classes=PERSON:2,CREDIT_CARD:1`, or
/// `none` when the request ended before `decide`. Identifiers and counts only.
pub fn decision_header(ctx: &Ctx) -> String {
    if !ctx.decided {
        return "none".to_owned();
    }
    let summary = &ctx.summary;
    let mut header = summary.verdict.as_str().to_owned();
    let policies: Vec<&str> = summary
        .reasons
        .iter()
        .filter_map(|r| r.strip_prefix("policy:"))
        .collect();
    header.push_str("; policies=");
    header.push_str(&policies.join(","));
    let classes: Vec<String> = summary
        .classes
        .iter()
        .map(|(class, count)| format!("{class}:{count}"))
        .collect();
    header.push_str("; classes=");
    header.push_str(&classes.join(","));
    let denials: Vec<&str> = summary
        .reasons
        .iter()
        .filter(|r| !r.starts_with("policy:"))
        .map(String::as_str)
        .collect();
    if !denials.is_empty() {
        header.push_str("; reasons=");
        header.push_str(&denials.join(","));
    }
    header
}

/// Stages 1–9 in order.
async fn run(
    state: &AppState,
    ctx: &mut Ctx,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, GatewayError> {
    let principal = authenticate(state, ctx, headers).await?;
    let exchange = parse(state, ctx, body).await?;
    ctx.features = state.observer.features(&exchange);
    throttle(state, ctx, &principal, &exchange)?;
    let inspection = inspect(state, ctx, &exchange)?;
    let decision = decide(state, ctx, &principal, &exchange, &inspection)?;
    // Stages 6 and 7 overlap: the request record holds nothing `protect` produces, so its
    // commit runs while the vault loads, assigns and commits. Both must succeed before
    // `forward`; either failing refuses the request.
    let recording = record(state, ctx, &decision);
    let (protected, recorded) = tokio::join!(
        protect(
            state, ctx, headers, &principal, exchange, &decision, inspection
        ),
        recording,
    );
    ctx.request_seq = Some(recorded?);
    let (protected, screening) = protected.inspect_err(|err| {
        ctx.refused_after_record = Some(err.code());
    })?;
    let response = forward(state, ctx, protected, decision).await?;
    Ok(screen(state, ctx, response, screening))
}

/// Stage 1: the caller's key -> [`Principal`], or 401.
pub async fn authenticate(
    state: &AppState,
    ctx: &mut Ctx,
    headers: &HeaderMap,
) -> Result<Principal, GatewayError> {
    let principal = state.auth.authenticate(headers).await?;
    ctx.principal = Some(principal.clone());
    Ok(principal)
}

/// Stage 2: read the body under the size limit and parse it; hash it for the record.
pub async fn parse(state: &AppState, ctx: &mut Ctx, body: Body) -> Result<Exchange, GatewayError> {
    let limits = &state.settings.config.limits;
    let bytes = http_body_util::Limited::new(body, limits.max_body_bytes)
        .collect()
        .await
        .map_err(|err| {
            if is_length_limit(err.as_ref()) {
                GatewayError::too_large(format!(
                    "request body exceeds {} bytes",
                    limits.max_body_bytes
                ))
            } else {
                GatewayError::bad_request("request body could not be read")
            }
        })?
        .to_bytes();
    ctx.prompt_digest = Some(state.recorder.digest(&String::from_utf8_lossy(&bytes)));
    let exchange = parse_exchange(ctx.action, &bytes, limits)?;
    ctx.model = Some(exchange.model.clone());
    ctx.prompt_tokens_estimate = Some(exchange.prompt_tokens_estimate);
    Ok(exchange)
}

/// True when a body error (possibly wrapped by axum or an outer layer) is the size limit.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Stage 3: admit the request against the key's and the tenant's budgets, or 429.
pub fn throttle(
    state: &AppState,
    ctx: &mut Ctx,
    principal: &Principal,
    exchange: &Exchange,
) -> Result<(), GatewayError> {
    let permit = state
        .throttle
        .admit(principal, exchange.prompt_tokens_estimate)
        .inspect_err(|err| {
            let scope = if err.message().starts_with("tenant") {
                "tenant"
            } else {
                "key"
            };
            state.metrics.rate_limited(scope);
        })?;
    ctx.permit = Some(permit);
    Ok(())
}

/// What `inspect` found: findings per text part and their sum for policy.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Findings of each text part, in the order [`Exchange::for_each_text`] visits parts.
    /// Findings hold spans and classes, never text.
    pub parts: Vec<Vec<Finding>>,
    /// Per class counts, scores and origins, and the guard's injection scores: the policy
    /// context.
    pub findings: veil_policy::Findings,
}

/// Stage 4: detection on every text part, each tagged with its origin, and the guard's
/// injection score on user, tool and document parts.
///
/// A detector or guard that fails (panics: their interfaces cannot return errors) refuses
/// the request with 503: nothing can be said about text that was not inspected.
pub fn inspect(
    state: &AppState,
    ctx: &mut Ctx,
    exchange: &Exchange,
) -> Result<Inspection, GatewayError> {
    let mut inspection = Inspection::default();
    let mut failed = None;
    exchange.for_each_text(|origin, text| {
        if failed.is_some() {
            return;
        }
        let found = match catch_unwind(AssertUnwindSafe(|| state.analyzer.analyze(text))) {
            Ok(found) => found,
            Err(_) => {
                failed = Some(Component::Detection);
                return;
            }
        };
        for finding in &found {
            inspection
                .findings
                .add(finding.class.clone(), finding.score, origin.policy());
        }
        inspection.parts.push(found);
        let Some(profile) = origin.guard() else {
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        let verdict = match catch_unwind(AssertUnwindSafe(|| state.guard.score(text, profile))) {
            Ok(verdict) => verdict,
            Err(_) => {
                failed = Some(Component::Detection);
                return;
            }
        };
        let injection = &mut inspection.findings.injection;
        // The guard's verdict under the origin's calibrated profile: what the default policy
        // acts on (a NaN score cannot be compared with a threshold, so it counts as attack).
        let (slot, attack) = match profile {
            veil_guard::Origin::User => (&mut injection.caller, &mut injection.caller_attack),
            veil_guard::Origin::Tool => (&mut injection.tool, &mut injection.tool_attack),
            veil_guard::Origin::Document => {
                (&mut injection.document, &mut injection.document_attack)
            }
        };
        *attack |= verdict.attack || verdict.score.is_nan();
        // NaN (a broken model) counts as the maximum, as policy's own conversion does.
        if verdict.score.is_nan() || verdict.score > *slot {
            *slot = if verdict.score.is_nan() {
                1.0
            } else {
                verdict.score
            };
        }
        for signal in &verdict.signals {
            injection.signals.insert(signal.name());
        }
    });
    if let Some(component) = failed {
        return Err(GatewayError::protection_unavailable(
            component,
            &ctx.request_id,
            &"a recognizer or the guard panicked",
        ));
    }
    ctx.summary.classes = inspection
        .findings
        .classes
        .iter()
        .map(|(class, found)| (class.to_string(), found.count))
        .collect();
    Ok(inspection)
}

/// Stage 5: Cedar policy over principal, action, model and the inspection. See
/// [`gate::decide`].
pub fn decide(
    state: &AppState,
    ctx: &mut Ctx,
    principal: &Principal,
    exchange: &Exchange,
    inspection: &Inspection,
) -> Result<Decision, GatewayError> {
    gate::decide(state, ctx, principal, exchange, inspection)
}

/// Stage 6: apply the decision. See [`gate::protect`].
pub async fn protect(
    state: &AppState,
    ctx: &mut Ctx,
    headers: &HeaderMap,
    principal: &Principal,
    exchange: Exchange,
    decision: &Decision,
    inspection: Inspection,
) -> Result<(Protected<Exchange>, Screening), GatewayError> {
    gate::protect(
        state, ctx, headers, principal, exchange, decision, inspection,
    )
    .await
}

/// The header naming a conversation, so that pseudonyms stay consistent across its turns.
pub const CONVERSATION_HEADER: &str = "x-veil-conversation";

/// The conversation a request belongs to, as a vault scope name.
///
/// Named by the `x-veil-conversation` header when present (1 to 200 characters of
/// `A-Z a-z 0-9 - _ . :`); otherwise recognised from its first system and first user text,
/// which every later turn of a chat repeats. Either way the stored name is a keyed hash, so
/// neither a caller's id nor prompt text ends up in the vault's key columns.
pub fn conversation_id(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    exchange: &Exchange,
) -> Result<String, GatewayError> {
    let mut input = Zeroizing::new(Vec::new());
    input.extend_from_slice(tenant.as_bytes());
    input.push(0);
    let prefix = if let Some(value) = headers.get(CONVERSATION_HEADER) {
        let ok = value.len() <= 200
            && !value.is_empty()
            && value
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
        if !ok {
            return Err(GatewayError::bad_request(
                "`x-veil-conversation` must be 1 to 200 characters of A-Z a-z 0-9 - _ . :",
            ));
        }
        input.extend_from_slice(value.as_bytes());
        "h:"
    } else {
        let (mut system, mut user) = (None::<String>, None::<String>);
        exchange.for_each_text(|origin, text| match origin {
            ExchangeOrigin::System if system.is_none() => system = Some(text.to_owned()),
            ExchangeOrigin::User | ExchangeOrigin::Document if user.is_none() => {
                user = Some(text.to_owned());
            }
            _ => {}
        });
        for part in [system, user] {
            let part = Zeroizing::new(part.unwrap_or_default());
            input.extend_from_slice(&(part.len() as u64).to_le_bytes());
            input.extend_from_slice(part.as_bytes());
        }
        "d:"
    };
    let hash = keyed_hash(&state.conversation_key, &input);
    Ok(format!("{prefix}{}", hash.get(..32).unwrap_or(&hash)))
}

/// Stage 7: the request record (verdict, reasons, classes, treatments, the keyed prompt
/// digest, the token estimate; never the prompt), committed to the audit log before anything
/// is forwarded; 503 if it cannot be (fail closed).
///
/// Built from the decision, so it is taken before `protect` runs and commits while `protect`
/// works (see `run`); the returned future holds no borrow of `ctx` and resolves to the
/// record's seq. A flag `protect` raises (a fail-open vault) and a refusal after this point
/// go in the records of stage 10.
pub fn record<'a>(
    state: &'a AppState,
    ctx: &mut Ctx,
    decision: &Decision,
) -> impl std::future::Future<Output = Result<u64, GatewayError>> + 'a {
    if !decision.see_logprobs() {
        // Recorded now; `screen` strips whatever logprobs the answer carries.
        ctx.summary.flags.push("logprobs_masked".to_owned());
    }
    let record = request_record(ctx, None);
    ctx.flags_recorded = ctx.summary.flags.len();
    state.recorder.append_durable(record)
}

/// Stage 8: send the protected exchange to the model's upstream.
pub async fn forward(
    state: &AppState,
    ctx: &mut Ctx,
    protected: Protected<Exchange>,
    decision: Decision,
) -> Result<UpstreamResponse, GatewayError> {
    let exchange = protected.get();
    let upstream = state
        .upstreams
        .get(decision.model())
        .ok_or_else(|| GatewayError::model_not_found(decision.model()))?;
    let body = exchange.upstream_bytes(upstream.upstream_model());
    let result = state
        .upstreams
        .send(upstream, exchange.action, body, exchange.stream)
        .await;
    match &result {
        Ok(response) => {
            ctx.upstream_latency = Some(response.latency);
            state
                .metrics
                .upstream(decision.model(), response.latency.as_secs_f64());
        }
        Err(err) => state.metrics.upstream_error(decision.model(), err.code()),
    }
    result
}

/// What goes back to the caller.
pub enum Answer {
    /// A complete JSON answer.
    Json(StatusCode, Value),
    /// A screened SSE stream, with the memorized-data check's report and the answer
    /// guard's (both filled in as the answer streams; read when it ends).
    Stream(ChunkStream, Option<StreamReport>, Option<AnswerReport>),
}

/// Stage 9: screen the answer. See [`gate::screen`].
pub fn screen(
    state: &AppState,
    ctx: &mut Ctx,
    response: UpstreamResponse,
    screening: Screening,
) -> Answer {
    gate::screen(state, ctx, response, screening)
}

impl Answer {
    fn into_response(self, finish: Finish) -> Response {
        match self {
            Self::Json(status, value) => {
                let usage = Usage::from_value(&value);
                // Serialized once, so the recorded digest is of exactly the bytes sent.
                let body = value.to_string();
                let answer = Some(finish.state.recorder.digest(&body));
                finish.complete(Outcome {
                    status: status.as_u16(),
                    usage,
                    answer,
                    error: None,
                });
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Self::Stream(inner, leaks, flags) => {
                let stream = Metered {
                    inner,
                    leaks,
                    flags,
                    meter: SseMeter::default(),
                    digest: finish.state.recorder.keys().digester().writer(),
                    finish: Some(finish),
                    failed: None,
                    done: false,
                };
                let mut response = Response::new(Body::from_stream(stream));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                );
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                // Tells nginx-style proxies in front not to buffer the stream either.
                headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
                response
            }
        }
    }
}

/// Token counts learned from the answer.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// From `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// From `usage.completion_tokens`, or estimated from streamed text.
    pub completion_tokens: Option<u64>,
}

impl Usage {
    fn from_value(value: &Value) -> Self {
        let usage = value.get("usage");
        Self {
            prompt_tokens: usage
                .and_then(|u| u.get("prompt_tokens"))
                .and_then(Value::as_u64),
            completion_tokens: usage
                .and_then(|u| u.get("completion_tokens"))
                .and_then(Value::as_u64),
        }
    }
}

/// Counts tokens in an SSE stream without holding it back: complete `data:` lines are
/// parsed for `usage`, and streamed text is estimated when no usage comes.
#[derive(Debug, Default)]
struct SseMeter {
    line: Vec<u8>,
    usage: Usage,
    streamed_bytes: usize,
}

/// Longest line the meter keeps; longer lines are skipped (counting only).
const METER_LINE_LIMIT: usize = 1 << 20;

impl SseMeter {
    fn feed(&mut self, chunk: &[u8]) {
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if self.line.len() + piece.len() <= METER_LINE_LIMIT {
                self.line.extend_from_slice(piece);
            }
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        let usage = Usage::from_value(&event);
        if usage.completion_tokens.is_some() {
            self.usage = usage;
        }
        if let Some(Value::Array(choices)) = event.get("choices") {
            for choice in choices {
                let text = choice
                    .get("delta")
                    .and_then(|d| d.get("content"))
                    .or_else(|| choice.get("text"))
                    .and_then(Value::as_str);
                self.streamed_bytes += text.map_or(0, str::len);
            }
        }
    }

    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.usage.prompt_tokens,
            completion_tokens: self
                .usage
                .completion_tokens
                .or(Some(crate::exchange::estimate_tokens(self.streamed_bytes))),
        }
    }
}

/// The streamed answer: chunks pass through as they arrive; the meter watches; stages 10
/// and 11 run when the stream ends, fails or is dropped.
struct Metered {
    inner: ChunkStream,
    /// What the streamed answer check found, merged into the decision summary at the end.
    leaks: Option<StreamReport>,
    /// What the answer guard found (canary, exfiltration markup).
    flags: Option<AnswerReport>,
    meter: SseMeter,
    /// Keyed digest of every byte sent to the caller, for the response record.
    digest: DigestWriter,
    finish: Option<Finish>,
    failed: Option<u16>,
    done: bool,
}

impl Stream for Metered {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.meter.feed(&chunk);
                self.digest.update(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                // Headers are gone already: report in-band, as OpenAI does, then end.
                self.failed = Some(err.status().as_u16());
                self.done = true;
                let event = format!("data: {}\n\n", err.body());
                self.digest.update(event.as_bytes());
                self.end();
                Poll::Ready(Some(Ok(Bytes::from(event))))
            }
            Poll::Ready(None) => {
                self.done = true;
                self.end();
                Poll::Ready(None)
            }
        }
    }
}

impl Metered {
    fn end(&mut self) {
        if let Some(mut finish) = self.finish.take() {
            if let (Some(leaks), Some(ctx)) = (&self.leaks, finish.ctx.as_mut()) {
                let report = leaks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                note_stream_leaks(&report, &mut ctx.summary);
            }
            if let (Some(flags), Some(ctx)) = (&self.flags, finish.ctx.as_mut()) {
                let flags = *flags
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                note_answer_flags(&flags, &mut ctx.summary);
            }
            let digest = std::mem::replace(
                &mut self.digest,
                finish.state.recorder.keys().digester().writer(),
            );
            finish.complete(Outcome {
                status: self.failed.unwrap_or(200),
                usage: self.meter.usage(),
                answer: Some(digest.finish()),
                error: None,
            });
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // The client went away mid-stream: record it as 499 (client closed request).
        if self.finish.is_some() && !self.done {
            self.failed = Some(499);
        }
        self.end();
    }
}

/// The shared report of a streamed answer's memorized-data check.
pub type StreamReport = Arc<std::sync::Mutex<StreamLeakReport>>;

/// Adds what the streamed answer check found to the decision summary, as the JSON path
/// does: counts per class and the `unexpected_sensitive_data` / `answer_withheld` flags.
fn note_stream_leaks(report: &StreamLeakReport, summary: &mut DecisionSummary) {
    for (class, count) in &report.classes {
        let entry = summary.answer_classes.entry(class.to_string()).or_insert(0);
        *entry = entry.saturating_add(*count);
    }
    if !report.classes.is_empty() {
        summary.flags.push("unexpected_sensitive_data".to_owned());
    }
    if report.withheld {
        summary.flags.push("answer_withheld".to_owned());
    }
}

/// Adds what the answer guard found to the decision summary: the flags `canary_leaked`,
/// `exfiltration_markup` and, when the answer was cut or replaced, `answer_withheld`.
fn note_answer_flags(flags: &AnswerFlags, summary: &mut DecisionSummary) {
    if flags.canary_leaked {
        summary.flags.push("canary_leaked".to_owned());
    }
    if flags.exfiltration > 0 {
        summary.flags.push("exfiltration_markup".to_owned());
    }
    if flags.withheld {
        summary.flags.push("answer_withheld".to_owned());
    }
}

/// Stages 10 and 11, armed once the request has a context.
pub struct Finish {
    state: AppState,
    ctx: Option<Ctx>,
}

/// How a request ended, for stage 10.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// HTTP status returned (499: the client went away).
    status: u16,
    /// Tokens learned from the answer.
    usage: Usage,
    /// Keyed digest of the body sent to the caller, when one was sent.
    answer: Option<Hash>,
    /// The error code when the pipeline refused or failed the request.
    error: Option<&'static str>,
}

impl Finish {
    /// Stage 10 (response record) then stage 11 (observe). Consumes the context, so it runs
    /// once.
    fn complete(mut self, outcome: Outcome) {
        let Some(ctx) = self.ctx.take() else { return };
        let elapsed = ctx.started.elapsed();
        let usage = outcome.usage;
        if let Some(permit) = &ctx.permit {
            let extra_prompt = usage
                .prompt_tokens
                .zip(ctx.prompt_tokens_estimate)
                .map_or(0, |(actual, est)| actual.saturating_sub(est));
            permit.charge_tokens(usage.completion_tokens.unwrap_or(0) + extra_prompt);
        }
        record_outcome(&self.state, &ctx, &outcome);
        observe(&self.state, &ctx, outcome.status, elapsed, usage);
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.ctx.is_some() {
            let this = Finish {
                state: self.state.clone(),
                ctx: self.ctx.take(),
            };
            this.complete(Outcome {
                status: 499,
                usage: Usage::default(),
                answer: None,
                error: None,
            });
        }
    }
}

/// Stage 10: the response record, always, for every authenticated request.
///
/// A request refused before stage 7 (policy denial, throttling, a bad body) gets its request
/// record here, with verdict `deny` and the refusal's reasons, so every authenticated request
/// has exactly one request record and one response record. Flags raised after the request
/// record (by `screen`, or by `protect` failing open) go in a `screen` decision record, and a
/// refusal by `protect` after the request record committed in a `protect` decision record. Unauthenticated requests are
/// not recorded (no principal to record; metrics count them), so anonymous traffic cannot
/// flood the log. Appends here do not wait: the answer is already out.
fn record_outcome(state: &AppState, ctx: &Ctx, outcome: &Outcome) {
    let Some(principal) = &ctx.principal else {
        return;
    };
    if ctx.request_seq.is_none() {
        state.recorder.append(request_record(
            ctx,
            Some(outcome.error.unwrap_or("refused")),
        ));
    }
    let time_ms = crate::recorder::now_ms();
    let tokens = usage_u32(outcome.usage.completion_tokens);
    let answer_flags = ctx
        .summary
        .flags
        .get(ctx.flags_recorded..)
        .unwrap_or_default();
    // Records of this request, in order.
    let append = |event: Event| {
        state.recorder.append(NewAuditRecord {
            time_ms,
            principal: principal.key_id.clone(),
            request_id: ctx.request_id.clone(),
            event,
        });
    };
    if let (Some(_), Some(code)) = (ctx.request_seq, ctx.refused_after_record) {
        // `protect` refused after the request record was committed: say so before the
        // response record, so `veil explain` shows the refusal.
        append(Event::Decision(DecisionEvent {
            action: "protect".into(),
            verdict: veil_audit::Verdict::Deny,
            reasons: vec![format!("refused:{code}")],
            classes: Default::default(),
        }));
    }
    if ctx.request_seq.is_some() && !answer_flags.is_empty() {
        append(Event::Decision(DecisionEvent {
            action: "screen".into(),
            verdict: veil_audit::Verdict::Allow,
            reasons: answer_flags.iter().map(|f| format!("flag:{f}")).collect(),
            classes: ctx.summary.answer_classes.clone(),
        }));
    }
    // The response record comes last: when it is in the log, the request's records are.
    append(Event::Response(ResponseEvent {
        status: outcome.status,
        classes: ctx.summary.answer_classes.clone(),
        answer_digest: outcome.answer.unwrap_or([0; 32]),
        tokens,
        protected: None,
        sealed: None,
    }));
}

fn usage_u32(tokens: Option<u64>) -> u32 {
    tokens.map_or(0, |t| u32::try_from(t).unwrap_or(u32::MAX))
}

/// The request record of `ctx`. `refused` is the error code when the request was refused
/// before stage 7 (it is then recorded as denied).
///
/// `reasons` carries, in this order: the policy ids and reasons of the summary, then
/// `treat:CLASS=TREATMENT` for each class treated, `restore:CLASS` for each class the caller
/// may see restored, `flag:NAME` for each flag raised so far, and `refused:CODE` for a
/// refusal. Identifiers only, never text: `veil explain` reads them back.
fn request_record(ctx: &Ctx, refused: Option<&str>) -> NewAuditRecord {
    let summary = &ctx.summary;
    let mut reasons = summary.reasons.clone();
    reasons.extend(
        summary
            .treatments
            .iter()
            .map(|(class, how)| format!("treat:{class}={how}")),
    );
    reasons.extend(
        summary
            .restore
            .iter()
            .map(|class| format!("restore:{class}")),
    );
    reasons.extend(summary.flags.iter().map(|flag| format!("flag:{flag}")));
    let verdict = match (refused, summary.verdict) {
        (Some(code), _) => {
            reasons.push(format!("refused:{code}"));
            veil_audit::Verdict::Deny
        }
        (None, crate::summary::Verdict::Deny) => veil_audit::Verdict::Deny,
        (None, crate::summary::Verdict::Allow) => veil_audit::Verdict::Allow,
    };
    NewAuditRecord {
        time_ms: crate::recorder::now_ms(),
        principal: ctx
            .principal
            .as_ref()
            .map(|p| p.key_id.clone())
            .unwrap_or_default(),
        request_id: ctx.request_id.clone(),
        event: Event::Request(RequestEvent {
            model: ctx.model.clone().unwrap_or_default(),
            verdict,
            reasons,
            classes: summary.classes.clone(),
            prompt_digest: ctx.prompt_digest.unwrap_or([0; 32]),
            tokens: usage_u32(ctx.prompt_tokens_estimate),
            protected: None,
            sealed: None,
        }),
    }
}

/// Stage 11: metrics, one log line per exchange, and an [`Observation`] for the detectors
/// (handed over without waiting). Only ids, names, counts, hashes and timings.
pub fn observe(state: &AppState, ctx: &Ctx, status: u16, elapsed: Duration, usage: Usage) {
    state.metrics.finished(
        ctx.action.route(),
        ctx.model.as_deref(),
        status,
        elapsed.as_secs_f64(),
    );
    let summary = &ctx.summary;
    for (class, n) in &summary.classes {
        state.metrics.findings("request", class, *n);
    }
    for (class, n) in &summary.answer_classes {
        state.metrics.findings("answer", class, *n);
    }
    let denied = summary.verdict == crate::summary::Verdict::Deny;
    // A decision was made when it was recorded (a deny, or reasons) or the request went on
    // to the upstream.
    if denied || !summary.reasons.is_empty() || ctx.upstream_latency.is_some() {
        let verdict = summary.verdict.as_str();
        if summary.reasons.is_empty() {
            state.metrics.decision(verdict, "none");
        }
        for reason in &summary.reasons {
            state.metrics.decision(verdict, reason);
        }
    }
    if let Some(principal) = &ctx.principal {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let prompt = usage.prompt_tokens.or(ctx.prompt_tokens_estimate);
        let flagged = |text: &String| {
            text.contains("injection") || text.contains("jailbreak") || text.contains("canary")
        };
        state.observer.submit(Observation {
            request_id: ctx.request_id.clone(),
            at_ms,
            key_id: principal.key_id.clone(),
            tenant: principal.tenant.clone(),
            client: ctx.client,
            model: ctx.model.clone(),
            status,
            tokens: prompt.unwrap_or(0) + usage.completion_tokens.unwrap_or(0),
            classes: summary.classes.clone(),
            answer_findings: summary.answer_classes.values().sum(),
            refused: denied || status == 403,
            injection: summary.flags.iter().any(flagged) || summary.reasons.iter().any(flagged),
            features: ctx.features,
        });
    }
    tracing::info!(
        request_id = %ctx.request_id,
        key_id = ctx.principal.as_ref().map(|p| p.key_id.as_str()),
        tenant = ctx.principal.as_ref().map(|p| p.tenant.as_str()),
        route = ctx.action.route(),
        model = ctx.model.as_deref(),
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        prompt_tokens = usage.prompt_tokens,
        completion_tokens = usage.completion_tokens,
        "exchange"
    );
}

/// HMAC-SHA-256 of `bytes` under `key`, lowercase hex.
pub(crate) fn keyed_hash(key: &[u8], bytes: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(bytes);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The proof types. Their constructors are private to this module, so only `decide` and
/// `protect` can produce what `forward` demands.
mod gate {
    use veil_policy::{Denial, Flag, PseudonymMode, Treatment};
    use veil_protect::{MemoryStore, Operator, Policy, Protector, ScopeId};

    use veil_protect::restore::{
        AnswerLeakCheck, RestoreTable, SseRestorer, StreamLeakCheck, restore_json, strip_logprobs,
    };

    use crate::config::CanaryMode;
    use crate::screen::{
        AnswerWatch, Screened, for_each_answer_text_mut, redact_unexpected, unexpected_values,
    };
    use veil_guard::ScreenConfig;

    use super::*;
    use crate::vault::{Conversation, VaultError};

    /// What policy decided for one exchange. Only [`decide`] builds one.
    #[derive(Debug, Clone)]
    pub struct Decision {
        model: String,
        operation: veil_policy::Operation,
        principal: veil_policy::Principal,
        treatments: std::collections::BTreeMap<DataClass, Treatment>,
        restore: BTreeSet<DataClass>,
        see_logprobs: bool,
    }

    impl Decision {
        /// The public model the exchange may go to.
        pub fn model(&self) -> &str {
            &self.model
        }

        /// Whether the caller may see the answer's logprobs.
        pub fn see_logprobs(&self) -> bool {
            self.see_logprobs
        }

        /// What happens to `class` on the way out (`None`: not found in the request).
        pub fn treatment(&self, class: &DataClass) -> Option<Treatment> {
            self.treatments.get(class).copied()
        }

        /// Whether this caller may see originals of `class` restored in the answer.
        pub fn may_restore(&self, class: &DataClass) -> bool {
            self.restore.contains(class)
        }
    }

    /// An exchange that went through `protect`. Only [`protect`] builds one:
    ///
    /// ```compile_fail
    /// // The field is private: no code outside the pipeline can fake protection.
    /// let fake = veil_gateway::pipeline::Protected(1u8);
    /// ```
    #[derive(Debug)]
    pub struct Protected<T>(T);

    impl<T> Protected<T> {
        /// The protected value.
        pub fn get(&self) -> &T {
            &self.0
        }
    }

    /// What `screen` needs to know about the request: built by [`protect`] only.
    pub struct Screening {
        /// Placeholders this caller may see restored, with their originals.
        pub(super) restore: Vec<(String, DataClass, Sensitive<String>)>,
        /// Whether `logprobs` may reach the caller.
        pub(super) see_logprobs: bool,
        /// Every value the caller sent and every pseudonym of the conversation, as keyed
        /// digests: an answer value outside this set did not come from this caller.
        pub(super) leak: AnswerLeakCheck,
        /// For deciding how to treat unexpected values in the answer.
        pub(super) principal: veil_policy::Principal,
        pub(super) operation: veil_policy::Operation,
        pub(super) model: String,
        /// The canary put into this request's system prompt, if `[guard] canary` is on.
        pub(super) canary: Option<veil_guard::Canary>,
    }

    impl std::fmt::Debug for Screening {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Screening")
                .field("restorable", &self.restore.len())
                .field("see_logprobs", &self.see_logprobs)
                .finish_non_exhaustive()
        }
    }

    fn operation(action: Action) -> veil_policy::Operation {
        match action {
            Action::Chat => veil_policy::Operation::Chat,
            Action::Complete => veil_policy::Operation::Complete,
            Action::Embed => veil_policy::Operation::Embed,
        }
    }

    fn treatment_name(treatment: Treatment) -> &'static str {
        match treatment {
            Treatment::Pass => "pass",
            Treatment::Pseudonymize(_) => "pseudonymize",
            Treatment::Redact => "redact",
            Treatment::Block => "block",
        }
    }

    /// The policy principal of a caller.
    pub(super) fn policy_principal(
        principal: &Principal,
    ) -> Result<veil_policy::Principal, veil_policy::PolicyError> {
        veil_policy::Principal::new(
            &principal.key_id,
            &principal.tenant,
            principal.roles.iter().map(String::as_str),
            [],
        )
    }

    /// Stage 5. The model must exist (404) and the key must be allowed to use it (403);
    /// then Cedar decides over principal × action × model × findings. A deny is 403 naming
    /// the policies; an evaluation error is 503 (fail closed).
    pub fn decide(
        state: &AppState,
        ctx: &mut Ctx,
        principal: &Principal,
        exchange: &Exchange,
        inspection: &Inspection,
    ) -> Result<Decision, GatewayError> {
        if state.upstreams.get(&exchange.model).is_none() {
            return Err(GatewayError::model_not_found(&exchange.model));
        }
        if !principal.may_use(&exchange.model) {
            return Err(GatewayError::model_not_allowed(&exchange.model));
        }
        let request_id = ctx.request_id.clone();
        let policy_failed = |detail: &dyn std::fmt::Display| {
            GatewayError::protection_unavailable(Component::Policy, &request_id, detail)
        };
        let subject = policy_principal(principal).map_err(|e| policy_failed(&e))?;
        let model = state
            .policy_models
            .get(&exchange.model)
            .ok_or_else(|| policy_failed(&"model has no policy entity"))?;
        let operation = operation(exchange.action);
        let decision =
            state
                .settings
                .policies
                .decide(&subject, operation, model, &inspection.findings);

        let summary = &mut ctx.summary;
        ctx.decided = true;
        summary.verdict = match decision.verdict {
            veil_policy::Verdict::Allow => Verdict::Allow,
            veil_policy::Verdict::Deny => Verdict::Deny,
        };
        summary.reasons = decision
            .policies
            .iter()
            .map(|id| format!("policy:{id}"))
            .collect();
        for denial in &decision.denials {
            summary.reasons.push(match denial {
                Denial::Forbidden => "forbidden".to_owned(),
                Denial::Blocked(class) => format!("blocked:{class}"),
                Denial::Error => "policy_error".to_owned(),
            });
        }
        summary.treatments = decision
            .treatments
            .iter()
            .map(|(class, t)| (class.to_string(), treatment_name(*t).to_owned()))
            .collect();
        summary.restore = decision.restore.iter().map(ToString::to_string).collect();
        for flag in &decision.flags {
            summary.flags.push(match flag {
                Flag::IndirectInjection => "indirect_injection".to_owned(),
            });
        }
        if !decision.errors.is_empty() {
            return Err(policy_failed(&decision.errors.join("; ")));
        }
        if !decision.is_allowed() {
            let policies: Vec<&str> = decision.policies.iter().map(String::as_str).collect();
            let reasons: Vec<String> = decision
                .denials
                .iter()
                .map(|d| match d {
                    Denial::Forbidden => "the request is forbidden".to_owned(),
                    Denial::Blocked(class) => format!("`{class}` may not leave in any form"),
                    Denial::Error => "policy evaluation failed".to_owned(),
                })
                .collect();
            return Err(GatewayError::policy_denied(format!(
                "denied by policy: {} (policies: {})",
                reasons.join("; "),
                policies.join(", ")
            )));
        }
        Ok(Decision {
            model: exchange.model.clone(),
            operation,
            principal: subject,
            treatments: decision.treatments,
            restore: decision.restore,
            see_logprobs: decision.see_logprobs,
        })
    }

    /// The operator applying `treatment` to `class`.
    fn operator(state: &AppState, class: &DataClass, treatment: Treatment) -> Operator {
        match treatment {
            Treatment::Pass => Operator::Keep,
            Treatment::Pseudonymize(PseudonymMode::Surrogate) => Operator::Surrogate,
            Treatment::Pseudonymize(PseudonymMode::Tag) => {
                if state.settings.surrogate_classes.contains(class) {
                    Operator::Surrogate
                } else {
                    Operator::Tag
                }
            }
            // Blocked classes never get here (the request was denied); redact if they did.
            Treatment::Redact | Treatment::Block => Operator::Redact,
        }
    }

    /// How many times a request reloads the conversation when concurrent requests took the
    /// pseudonyms it proposed. Each round makes progress (the winners' entries are loaded),
    /// so this bounds pathological contention only.
    const VAULT_ROUNDS: u32 = 8;

    /// Stage 6: rewrites every text part per the decision's treatments.
    ///
    /// Pseudonyms come from the conversation's vault entries: loaded once, new ones assigned
    /// in memory and committed with the store's atomic put (adopting a concurrent request's
    /// pseudonym for the same value, reloading when one was taken), and only then is the text
    /// rewritten. A vault failure refuses the request (503) unless every class needing a
    /// pseudonym is listed in `[dangerous] fail_open_classes`, which then goes in clear.
    pub async fn protect(
        state: &AppState,
        ctx: &mut Ctx,
        headers: &HeaderMap,
        principal: &Principal,
        mut exchange: Exchange,
        decision: &Decision,
        inspection: Inspection,
    ) -> Result<(Protected<Exchange>, Screening), GatewayError> {
        let request_id = ctx.request_id.clone();
        let failed = |component, detail: &dyn std::fmt::Display| {
            GatewayError::protection_unavailable(component, &request_id, detail)
        };
        let mut policy = Policy::new(Operator::Keep);
        let mut pseudonymized = BTreeSet::new();
        for (class, treatment) in &decision.treatments {
            let op = operator(state, class, *treatment);
            if matches!(op, Operator::Tag | Operator::Surrogate) {
                pseudonymized.insert(class.clone());
            }
            policy = policy.with(class.clone(), op);
        }
        let parts = inspection.parts;
        // Every value the caller sent, as keyed digests (for the answer's leak check).
        let mut leak = AnswerLeakCheck::new(&state.conversation_key);
        let mut index = 0;
        exchange.for_each_text(|_, text| {
            if let Some(found) = parts.get(index) {
                leak.add_input(text, found);
            }
            index += 1;
        });

        let mut conversation: Option<Arc<Conversation>> = None;
        if !pseudonymized.is_empty() {
            let conversation_name = conversation_id(state, headers, &principal.tenant, &exchange)?;
            let scope = ScopeId::new(principal.tenant.clone(), conversation_name);
            match assign(state, &scope, &policy, &exchange, &parts).await {
                Ok(conv) => conversation = Some(conv),
                Err(err) if pseudonymized.is_subset(&state.settings.fail_open_classes) => {
                    tracing::warn!(error = %err, "vault failed; fail-open classes sent in clear");
                    for class in &pseudonymized {
                        policy = policy.with(class.clone(), Operator::Keep);
                    }
                    ctx.summary.flags.push("vault_fail_open".to_owned());
                }
                Err(VaultError::Protect(err)) => return Err(failed(Component::Protection, &err)),
                Err(err) => return Err(failed(Component::Vault, &err)),
            }
        }
        let store: Arc<dyn veil_protect::MappingStore> = match &conversation {
            Some(conv) => conv.clone(),
            None => Arc::new(MemoryStore::new()),
        };
        let scope = conversation.as_ref().map_or_else(
            || ScopeId::new(principal.tenant.clone(), ""),
            |c| c.scope().clone(),
        );
        let protector = Protector::new(policy, scope, store, Some(&state.root))
            .map_err(|e| failed(Component::Protection, &e))?;
        let mut index = 0;
        let mut error = None;
        exchange.for_each_text_mut(|_, text| {
            let found = parts.get(index).map_or(&[][..], Vec::as_slice);
            index += 1;
            if found.is_empty() || error.is_some() {
                return;
            }
            match protector.protect(text, found) {
                Ok(protected) => *text = protected.text,
                Err(err) => error = Some(err),
            }
        });
        if let Some(err) = error {
            return Err(failed(Component::Protection, &err));
        }
        if let Some(conv) = &conversation {
            // Every pseudonym was assigned and committed before the rewrite; one assigned
            // now would not be in the vault, so the answer could not be restored: refuse.
            if conv.pending() > 0 {
                return Err(failed(Component::Vault, &"pseudonym assigned after commit"));
            }
        }

        let mut restore = Vec::new();
        if let Some(conv) = &conversation {
            conv.for_each(|placeholder, class, original| {
                // Surrogates in the answer are the conversation's own, and so are originals.
                leak.add_value(placeholder);
                leak.add_value(original);
                if decision.may_restore(class) {
                    restore.push((
                        placeholder.to_owned(),
                        class.clone(),
                        Sensitive::new(original.to_owned()),
                    ));
                }
            });
        }
        // The canary goes in after protection, so it is neither detected nor part of the
        // conversation's name (a fresh token per request would otherwise split it).
        let mut canary = None;
        if state.settings.config.guard.canary != CanaryMode::Off {
            let fresh = veil_guard::Canary::new().map_err(|e| failed(Component::Protection, &e))?;
            if exchange.add_to_system_prompt(&fresh.instruction()) {
                canary = Some(fresh);
            }
        }
        let screening = Screening {
            restore,
            see_logprobs: decision.see_logprobs,
            leak,
            principal: decision.principal.clone(),
            operation: decision.operation,
            model: decision.model.clone(),
            canary,
        };
        Ok((Protected(exchange), screening))
    }

    /// Loads the conversation, assigns pseudonyms to every value the policy pseudonymizes,
    /// and commits them to the vault; reloads and reassigns when a concurrent request took
    /// a proposed pseudonym.
    async fn assign(
        state: &AppState,
        scope: &ScopeId,
        policy: &Policy,
        exchange: &Exchange,
        parts: &[Vec<Finding>],
    ) -> Result<Arc<Conversation>, VaultError> {
        for _ in 0..VAULT_ROUNDS {
            let conversation = Arc::new(state.vault.load(scope).await?);
            let protector = Protector::new(
                policy.clone(),
                scope.clone(),
                conversation.clone(),
                Some(&state.root),
            )?;
            let mut index = 0;
            let mut error = None;
            exchange.for_each_text(|_, text| {
                let found = parts.get(index).map_or(&[][..], Vec::as_slice);
                index += 1;
                for finding in found {
                    let op = policy.operator_for(&finding.class);
                    if error.is_some() || !matches!(op, Operator::Tag | Operator::Surrogate) {
                        continue;
                    }
                    if let Some(value) = text.get(finding.bytes.clone())
                        && let Err(err) = protector.apply(op, &finding.class, value)
                    {
                        error = Some(err);
                    }
                }
            });
            if let Some(err) = error {
                return Err(err.into());
            }
            if state.vault.commit(&conversation).await? {
                return Ok(conversation);
            }
        }
        Err(VaultError::Contention(VAULT_ROUNDS))
    }

    /// Stage 9: strip logprobs unless granted, check a JSON answer for sensitive values
    /// that did not come from this caller (possible memorized data: redacted and flagged
    /// unless policy sends the class in clear), and restore the placeholders this caller
    /// may see. Streams go through the same restore and stripping chunk by chunk.
    pub fn screen(
        state: &AppState,
        ctx: &mut Ctx,
        response: UpstreamResponse,
        mut screening: Screening,
    ) -> Answer {
        let mut table = RestoreTable::new();
        for (placeholder, class, original) in std::mem::take(&mut screening.restore) {
            table.insert(&placeholder, &class, original);
        }
        let strip = !screening.see_logprobs;
        match response.body {
            UpstreamBody::Json(mut value) => {
                if strip && strip_logprobs(&mut value) {
                    ctx.summary.flags.push("logprobs_stripped".to_owned());
                }
                if response.status.is_success() {
                    if guard_answer(state, ctx, screening.canary.as_ref(), &mut value) {
                        return Answer::Json(StatusCode::FORBIDDEN, value);
                    }
                    check_answer(state, ctx, &screening, &mut value);
                }
                if !table.is_empty() {
                    restore_json(&table, &mut value);
                }
                Answer::Json(response.status, value)
            }
            UpstreamBody::Stream(stream) => {
                let guard = &state.settings.config.guard;
                let watch = AnswerWatch::new(
                    screening.canary.clone(),
                    ScreenConfig {
                        allowed_hosts: guard.allowed_hosts.clone(),
                    },
                    guard.canary == CanaryMode::Block,
                );
                let flags = watch.report();
                let check = stream_check(state, screening);
                let report = check.report();
                let restorer = SseRestorer::new(Arc::new(table))
                    .strip_logprobs(strip)
                    .leak_check(check);
                Answer::Stream(
                    Box::pin(Screened::new(stream, restorer, Some(watch))),
                    Some(report),
                    Some(flags),
                )
            }
        }
    }

    /// The memorized-data check of a streamed answer: unexpected values of a class policy
    /// does not send in clear to this model are redacted as they stream (one decision per
    /// class, cached for the answer).
    fn stream_check(state: &AppState, screening: Screening) -> StreamLeakCheck {
        let Screening {
            leak,
            principal,
            operation,
            model,
            ..
        } = screening;
        let decider = state.clone();
        let cache = std::sync::Mutex::new(std::collections::BTreeMap::<DataClass, bool>::new());
        let redact = move |class: &DataClass| {
            let mut cache = cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *cache.entry(class.clone()).or_insert_with(|| {
                let one = std::iter::once(class.clone());
                !passes_in_clear(&decider, &principal, operation, &model, one).contains(class)
            })
        };
        StreamLeakCheck::new(
            Arc::clone(&state.analyzer),
            leak,
            state.settings.answer_check_ignore.clone(),
            Arc::new(redact),
        )
    }

    /// The classes among `classes` that policy lets this model receive in clear: those may
    /// also come back in clear. None when policy fails (fail closed: everything redacted).
    fn passes_in_clear(
        state: &AppState,
        principal: &veil_policy::Principal,
        operation: veil_policy::Operation,
        model: &str,
        classes: impl Iterator<Item = DataClass>,
    ) -> BTreeSet<DataClass> {
        let mut findings = veil_policy::Findings::default();
        for class in classes {
            findings.add(class, 1.0, veil_policy::Origin::Caller);
        }
        let Some(entity) = state.policy_models.get(model) else {
            return BTreeSet::new();
        };
        let decision = state
            .settings
            .policies
            .decide(principal, operation, entity, &findings);
        if !decision.errors.is_empty() {
            return BTreeSet::new();
        }
        decision
            .treatments
            .iter()
            .filter(|(_, t)| matches!(t, Treatment::Pass))
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The answer-side guard of a JSON answer: the canary and exfiltration markup, flagged;
    /// true when the answer was replaced by an error because the canary leaked and
    /// `[guard] canary = "block"`.
    fn guard_answer(
        state: &AppState,
        ctx: &mut Ctx,
        canary: Option<&veil_guard::Canary>,
        value: &mut Value,
    ) -> bool {
        let guard = &state.settings.config.guard;
        let config = ScreenConfig {
            allowed_hosts: guard.allowed_hosts.clone(),
        };
        let mut flags = AnswerFlags::default();
        for_each_answer_text_mut(value, &mut |text| {
            let found = veil_guard::screen_answer(text, canary, &config);
            flags.canary_leaked |= found.canary_leaked;
            flags.exfiltration += found.exfiltration.len();
        });
        flags.withheld = flags.canary_leaked && guard.canary == CanaryMode::Block;
        note_answer_flags(&flags, &mut ctx.summary);
        if flags.withheld {
            *value = serde_json::json!({"error": {
                "message": "the answer was withheld: it repeats the request's canary (the system prompt leaked)",
                "type": "veil_policy",
                "code": "canary_leaked",
            }});
        }
        flags.withheld
    }

    /// The memorized-data check of a JSON answer.
    fn check_answer(state: &AppState, ctx: &mut Ctx, screening: &Screening, value: &mut Value) {
        let (leak, principal, operation, model) = (
            &screening.leak,
            &screening.principal,
            screening.operation,
            screening.model.as_str(),
        );
        let Some(per_text) = unexpected_values(
            &state.analyzer,
            value,
            leak,
            &state.settings.answer_check_ignore,
        ) else {
            // Detection failed on the answer: nothing can be said about it, so it is
            // withheld rather than passed unchecked.
            *value = serde_json::json!({"error": {"message": "the answer could not be screened", "type": "api_error", "code": "screen_unavailable"}});
            ctx.summary.flags.push("answer_withheld".to_owned());
            return;
        };
        if per_text.iter().all(Vec::is_empty) {
            return;
        }
        // Per policy: a class this model may receive in clear may also come back in clear.
        let classes = per_text.iter().flatten().map(|(class, _)| class.clone());
        let passes = passes_in_clear(state, principal, operation, model, classes);
        let mut counts = std::mem::take(&mut ctx.summary.answer_classes);
        redact_unexpected(
            value,
            &per_text,
            &|class| !passes.contains(class),
            &mut counts,
        );
        ctx.summary.answer_classes = counts;
        ctx.summary
            .flags
            .push("unexpected_sensitive_data".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_reads_usage_and_estimates_streamed_text() {
        let mut meter = SseMeter::default();
        meter.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"abcd");
        meter.feed(b"efgh\"}}]}\n\ndata: {\"choices\":[{\"text\":\"1234\"}]}\n\n");
        meter.feed(b"data: [DONE]\n\n");
        assert_eq!(meter.usage().completion_tokens, Some(3));
        meter.feed(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\n",
        );
        let usage = meter.usage();
        assert_eq!(
            (usage.prompt_tokens, usage.completion_tokens),
            (Some(5), Some(9))
        );
    }
}
