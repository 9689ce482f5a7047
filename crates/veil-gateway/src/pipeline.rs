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
//! 11 observe       metrics and the log line; never content            -
//! ```
//!
//! Stages are plain functions over one per-request [`Ctx`]; each returns its product or a
//! [`GatewayError`] that ends the request. `forward` takes only a [`Protected`] exchange and
//! a [`Decision`], which only `protect` and `decide` can build (their fields and constructors
//! are private to the `gate` module below), so skipping a stage does not compile. Stages 10
//! and 11 run from [`Finish`], which fires when the answer is complete, when it fails, or
//! when the client goes away (its `Drop`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use veil_audit::{DecisionEvent, DigestWriter, Event, Hash, RequestEvent, ResponseEvent};
use veil_detect::Finding;
use veil_store::NewAuditRecord;

use crate::auth::Principal;
use crate::error::GatewayError;
use crate::exchange::{Action, Exchange, parse_exchange};
use crate::state::AppState;
use crate::summary::DecisionSummary;
use crate::throttle::Permit;
use crate::upstream::{ChunkStream, UpstreamBody, UpstreamResponse};

pub use gate::{Decision, Protected};

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
    /// How many of `summary.flags` the request record holds; later ones came from `screen`.
    pub flags_recorded: usize,
    /// Set by `forward`: time to the upstream's response headers.
    pub upstream_latency: Option<Duration>,
    /// Set by `throttle`: held until the answer is complete.
    pub permit: Option<Permit>,
    /// Filled by `inspect`, `decide`, `protect` and `screen`; recorded and explained.
    pub summary: DecisionSummary,
}

impl Ctx {
    fn new(request_id: String, action: Action) -> Self {
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
            upstream_latency: None,
            permit: None,
            summary: DecisionSummary::default(),
        }
    }
}

/// Runs the pipeline for one API request and always produces a response.
pub async fn handle(state: AppState, action: Action, headers: HeaderMap, body: Body) -> Response {
    state.metrics.started();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut ctx = Ctx::new(request_id, action);
    let outcome = run(&state, &mut ctx, &headers, body).await;
    let finish = Finish {
        state: state.clone(),
        ctx: Some(ctx),
    };
    match outcome {
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
    }
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
    throttle(state, ctx, &principal, &exchange)?;
    let inspection = inspect(&exchange);
    let decision = decide(state, &principal, &exchange, &inspection)?;
    let protected = protect(exchange, &decision, &inspection)?;
    record(state, ctx, &protected).await?;
    let response = forward(state, ctx, protected, decision).await?;
    Ok(screen(response))
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

/// What `inspect` found.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Sensitive data found in the request, by part. Always empty until issue 4.
    pub findings: Vec<Finding>,
}

/// Stage 4: detection on every text part.
///
/// Honest minimal version: finds nothing. Issue 4 runs `veil-detect` (and `veil-guard`)
/// here over [`Exchange::for_each_text_mut`]'s parts, each tagged with its origin.
pub fn inspect(_exchange: &Exchange) -> Inspection {
    Inspection::default()
}

/// Stage 5: may this principal use this model? See [`gate::decide`].
pub fn decide(
    state: &AppState,
    principal: &Principal,
    exchange: &Exchange,
    inspection: &Inspection,
) -> Result<Decision, GatewayError> {
    gate::decide(state, principal, exchange, inspection)
}

/// Stage 6: apply the decision. See [`gate::protect`].
pub fn protect(
    exchange: Exchange,
    decision: &Decision,
    inspection: &Inspection,
) -> Result<Protected<Exchange>, GatewayError> {
    gate::protect(exchange, decision, inspection)
}

/// Stage 7: the request record (verdict, reasons, classes, treatments, the keyed prompt
/// digest, the token estimate; never the prompt), committed to the audit log before anything
/// is forwarded; 503 if it cannot be (fail closed).
pub async fn record(
    state: &AppState,
    ctx: &mut Ctx,
    _protected: &Protected<Exchange>,
) -> Result<(), GatewayError> {
    let record = request_record(ctx, None);
    ctx.flags_recorded = ctx.summary.flags.len();
    ctx.request_seq = Some(state.recorder.append_durable(record).await?);
    Ok(())
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
    /// A screened SSE stream.
    Stream(ChunkStream),
}

/// Stage 9: screen the answer.
///
/// Honest minimal version: passes every chunk through unchanged, as it arrives. Issue 4
/// restores placeholders the caller may see, catches leaks and strips logprobs here,
/// chunk by chunk.
pub fn screen(response: UpstreamResponse) -> Answer {
    match response.body {
        UpstreamBody::Json(value) => Answer::Json(response.status, value),
        UpstreamBody::Stream(stream) => Answer::Stream(stream),
    }
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
            Self::Stream(inner) => {
                let stream = Metered {
                    inner,
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
        if let Some(finish) = self.finish.take() {
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
/// has exactly one request record and one response record. Answer flags raised by `screen`
/// after the request record go in a `screen` decision record. Unauthenticated requests are
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
    state.recorder.append(NewAuditRecord {
        time_ms,
        principal: principal.key_id.clone(),
        request_id: ctx.request_id.clone(),
        event: Event::Response(ResponseEvent {
            status: outcome.status,
            classes: ctx.summary.answer_classes.clone(),
            answer_digest: outcome.answer.unwrap_or([0; 32]),
            tokens,
            protected: None,
            sealed: None,
        }),
    });
    let answer_flags = ctx
        .summary
        .flags
        .get(ctx.flags_recorded..)
        .unwrap_or_default();
    if ctx.request_seq.is_some() && !answer_flags.is_empty() {
        state.recorder.append(NewAuditRecord {
            time_ms,
            principal: principal.key_id.clone(),
            request_id: ctx.request_id.clone(),
            event: Event::Decision(DecisionEvent {
                action: "screen".into(),
                verdict: veil_audit::Verdict::Allow,
                reasons: answer_flags.iter().map(|f| format!("flag:{f}")).collect(),
                classes: ctx.summary.answer_classes.clone(),
            }),
        });
    }
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

/// Stage 11: metrics and one log line per exchange. Only ids, names, counts and timings.
pub fn observe(state: &AppState, ctx: &Ctx, status: u16, elapsed: Duration, usage: Usage) {
    state.metrics.finished(
        ctx.action.route(),
        ctx.model.as_deref(),
        status,
        elapsed.as_secs_f64(),
    );
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

/// The proof types. Their constructors are private to this module, so only `decide` and
/// `protect` can produce what `forward` demands.
mod gate {
    use super::*;

    /// What policy decided for one exchange. Only [`decide`] builds one.
    #[derive(Debug, Clone)]
    pub struct Decision {
        model: String,
        _private: (),
    }

    impl Decision {
        /// The public model the exchange may go to.
        pub fn model(&self) -> &str {
            &self.model
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

    /// Stage 5. Honest minimal version: the model must exist (404) and the key must be
    /// allowed to use it (403). Issue 4 replaces the body with Cedar policy over principal,
    /// action, model attributes and the inspection, adding per-class treatments and reasons.
    pub fn decide(
        state: &AppState,
        principal: &Principal,
        exchange: &Exchange,
        _inspection: &Inspection,
    ) -> Result<Decision, GatewayError> {
        if state.upstreams.get(&exchange.model).is_none() {
            return Err(GatewayError::model_not_found(&exchange.model));
        }
        if !principal.may_use(&exchange.model) {
            return Err(GatewayError::model_not_allowed(&exchange.model));
        }
        Ok(Decision {
            model: exchange.model.clone(),
            _private: (),
        })
    }

    /// Stage 6. Honest minimal version: wraps the exchange unchanged (there are no findings
    /// to act on yet). Issue 4 pseudonymizes or redacts per the decision here.
    pub fn protect(
        exchange: Exchange,
        _decision: &Decision,
        _inspection: &Inspection,
    ) -> Result<Protected<Exchange>, GatewayError> {
        Ok(Protected(exchange))
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
