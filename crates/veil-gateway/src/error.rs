//! [`GatewayError`]: the one error of the request path, and its OpenAI-shaped response.

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// Who is at fault. Decides the status family and whether details may reach the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller sent something wrong or is not allowed: 4xx, message shown.
    Client,
    /// The upstream model failed or timed out: 502/504, generic message.
    Upstream,
    /// Veil itself failed (storage, a bug): 5xx, generic message, details only in logs.
    Internal,
}

/// An error that ends a request. Its message is safe to show: it never contains prompt
/// text, and internal details stay in the logs.
#[derive(Debug, Clone)]
pub struct GatewayError {
    source: Source,
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
}

/// A protection component whose failure refuses the request (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Detection (`inspect`).
    Detection,
    /// Policy evaluation (`decide`).
    Policy,
    /// The pseudonym vault (`protect`).
    Vault,
    /// Applying the treatments (`protect`).
    Protection,
}

impl Component {
    /// `detection`, `policy`, `vault` or `protection`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detection => "detection",
            Self::Policy => "policy",
            Self::Vault => "vault",
            Self::Protection => "protection",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Detection => "detection_unavailable",
            Self::Policy => "policy_unavailable",
            Self::Vault => "vault_unavailable",
            Self::Protection => "protection_unavailable",
        }
    }
}

/// What `record` and `observe` learn about an error (rides in response extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTag {
    /// Who was at fault.
    pub source: Source,
    /// The OpenAI error code sent.
    pub code: &'static str,
}

impl GatewayError {
    fn new(
        source: Source,
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            source,
            status,
            kind,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Unauthorized (401): one message for missing, malformed, unknown, expired and revoked
    /// keys, so the answer tells an attacker nothing about which.
    pub fn unauthorized() -> Self {
        Self::new(
            Source::Client,
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "invalid or missing api key",
        )
    }

    /// 403: the caller may not use this model.
    pub fn model_not_allowed(model: &str) -> Self {
        Self::new(
            Source::Client,
            StatusCode::FORBIDDEN,
            "permission_error",
            "model_not_allowed",
            format!("this key may not use model `{model}`"),
        )
    }

    /// 403: the caller lacks a role.
    pub fn forbidden(role: &'static str) -> Self {
        Self::new(
            Source::Client,
            StatusCode::FORBIDDEN,
            "permission_error",
            "forbidden",
            format!("this key lacks the `{role}` role"),
        )
    }

    /// 403: monitoring (or an administrator) suspended this key.
    pub fn suspended() -> Self {
        Self::new(
            Source::Client,
            StatusCode::FORBIDDEN,
            "permission_error",
            "key_suspended",
            "this key is suspended; an administrator can lift the suspension",
        )
    }

    /// 404: no such model in the routing table.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            Source::Client,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("the model `{model}` does not exist"),
        )
    }

    /// 404 for anything else that does not exist.
    pub fn not_found(what: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            Source::Client,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            what,
        )
    }

    /// 400: the request is malformed. The message must not quote request content.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            Source::Client,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        )
    }

    /// 413: a hard limit was exceeded.
    pub fn too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            Source::Client,
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            message,
        )
    }

    /// 408: the request took too long to arrive.
    pub fn request_timeout() -> Self {
        Self::new(
            Source::Client,
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            "the request took too long",
        )
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(scope: &'static str, what: &'static str, retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            Source::Client,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            format!("{scope} limit on {what} reached, retry later"),
        );
        err.retry_after = Some(retry_after_secs.max(1));
        err
    }

    /// 502: the upstream could not be reached or answered badly.
    pub fn bad_gateway(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            Source::Upstream,
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            code,
            message,
        )
    }

    /// 504: the upstream did not answer in time.
    pub fn gateway_timeout() -> Self {
        Self::new(
            Source::Upstream,
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            "upstream_timeout",
            "the upstream model did not answer in time",
        )
    }

    /// 503: a component Veil needs (storage) failed; nothing was forwarded.
    pub fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal component unavailable");
        Self::new(
            Source::Internal,
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "unavailable",
            "the gateway cannot serve this request now; nothing was forwarded",
        )
    }

    /// 403: policy denied the request. The message names the denial reasons and the ids of
    /// the policies that decided, never a value.
    pub fn policy_denied(message: String) -> Self {
        Self::new(
            Source::Client,
            StatusCode::FORBIDDEN,
            "permission_error",
            "policy_denied",
            message,
        )
    }

    /// 503: a protection component failed (`detection`, `policy` or `vault`), so the request
    /// was refused and nothing was forwarded. The caller gets the request id to quote; the
    /// detail goes to the log only.
    pub fn protection_unavailable(
        component: Component,
        request_id: &str,
        detail: &dyn std::fmt::Display,
    ) -> Self {
        tracing::error!(component = component.as_str(), error = %detail, "protection component failed; request refused");
        Self::new(
            Source::Internal,
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            component.code(),
            format!(
                "{} failed, so nothing was forwarded; quote request id `{request_id}`",
                component.as_str()
            ),
        )
    }

    /// 500: a bug. The detail goes to the log only.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            Source::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "internal error",
        )
    }

    /// Who is at fault.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The OpenAI error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message shown to the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "code": self.code}})
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for GatewayError {}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorTag {
            source: self.source,
            code: self.code,
        });
        response
    }
}
