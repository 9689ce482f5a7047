//! [`Exchange`]: a request in OpenAI wire format, parsed once, kept whole.
//!
//! The body stays a JSON object so that everything the gateway does not interpret (tools,
//! function calls, multi-part content, vendor fields) passes through untouched. The few
//! fields the pipeline needs are read out; [`Exchange::for_each_text_mut`] walks every text
//! part with its origin, which is how `inspect` and `protect` reach the content.

use serde_json::{Map, Value};

use crate::config::LimitsConfig;
use crate::error::GatewayError;

/// What the caller asks for (the policy action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions`.
    Complete,
    /// `POST /v1/embeddings`.
    Embed,
}

impl Action {
    /// The route serving this action, also the upstream path below the base URL.
    pub fn route(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Complete => "/v1/completions",
            Self::Embed => "/v1/embeddings",
        }
    }

    /// The path below an upstream's base URL.
    pub fn upstream_path(self) -> &'static str {
        match self {
            Self::Chat => "/chat/completions",
            Self::Complete => "/completions",
            Self::Embed => "/embeddings",
        }
    }
}

/// Where a text part came from, which decides how far it is trusted.
///
/// Conventions: a message with role `tool` (or the legacy `function`) is a tool result; the
/// `arguments` of an assistant's `tool_calls` are tool-call arguments; a `system` or `user`
/// message whose `name` is `document` or starts with `document:` (for example
/// `document:kb-1234`) is a retrieved document (`name` is an OpenAI message field that
/// passes through to the model unchanged, so marking costs the application nothing); every
/// embedding input is a document. Everything else is the caller's own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A system message (the application's instructions).
    System,
    /// A user message or a completion prompt: the caller's input.
    User,
    /// An earlier assistant turn.
    Assistant,
    /// The arguments of a tool call in an earlier assistant turn.
    ToolCall,
    /// A tool result.
    Tool,
    /// A retrieved document: a marked message, or an embedding input.
    Document,
}

impl Origin {
    fn of_message(message: &Map<String, Value>) -> Self {
        let is_document = message
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| name == "document" || name.starts_with("document:"));
        match message.get("role").and_then(Value::as_str) {
            Some("assistant") => Self::Assistant,
            Some("tool" | "function") => Self::Tool,
            _ if is_document => Self::Document,
            Some("system" | "developer") => Self::System,
            _ => Self::User,
        }
    }

    /// The origin as policy sees it: the caller, a tool, or a document.
    pub fn policy(self) -> veil_policy::Origin {
        match self {
            Self::System | Self::User | Self::Assistant => veil_policy::Origin::Caller,
            Self::ToolCall | Self::Tool => veil_policy::Origin::Tool,
            Self::Document => veil_policy::Origin::Document,
        }
    }

    /// The guard profile to score this part under, if it is scored: user, tool and document
    /// parts are (the application's own system prompt and earlier model turns are not).
    pub fn guard(self) -> Option<veil_guard::Origin> {
        match self {
            Self::User => Some(veil_guard::Origin::User),
            Self::Tool => Some(veil_guard::Origin::Tool),
            Self::Document => Some(veil_guard::Origin::Document),
            Self::System | Self::Assistant | Self::ToolCall => None,
        }
    }
}

/// One parsed request. `Debug` never prints the body.
#[derive(Clone)]
pub struct Exchange {
    /// The action.
    pub action: Action,
    /// The public model name asked for.
    pub model: String,
    /// True for `stream: true`.
    pub stream: bool,
    /// Number of chat messages (0 for other actions).
    pub messages: usize,
    /// Prompt tokens estimated from the text (about 4 bytes per token).
    pub prompt_tokens_estimate: u64,
    /// The body as received. Private: reach it through the methods below.
    body: Map<String, Value>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("action", &self.action)
            .field("model", &self.model)
            .field("stream", &self.stream)
            .field("messages", &self.messages)
            .field("body", &"[redacted]")
            .finish()
    }
}

impl Exchange {
    /// The body to send upstream, with `model` replaced by the upstream's name.
    pub fn upstream_body(&self, upstream_model: &str) -> Map<String, Value> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(upstream_model.to_owned()));
        body
    }

    /// Serializes the body to send upstream without cloning it.
    pub fn upstream_bytes(&self, upstream_model: &str) -> Vec<u8> {
        struct WithModel<'a> {
            body: &'a Map<String, Value>,
            model: &'a str,
        }
        impl serde::Serialize for WithModel<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(self.body.len()))?;
                for (k, v) in self.body {
                    if k == "model" {
                        map.serialize_entry(k, self.model)?;
                    } else {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }
        // Serializing a JSON map to memory cannot fail.
        serde_json::to_vec(&WithModel {
            body: &self.body,
            model: upstream_model,
        })
        .unwrap_or_default()
    }

    /// Adds `text` to a chat's system prompt: appended to a leading system message whose
    /// content is a string, otherwise as a new first system message. Other actions have no
    /// system prompt and are left as they are (returns false).
    pub fn add_to_system_prompt(&mut self, text: &str) -> bool {
        if self.action != Action::Chat {
            return false;
        }
        let Some(Value::Array(messages)) = self.body.get_mut("messages") else {
            return false;
        };
        if let Some(Value::Object(first)) = messages.first_mut()
            && first.get("role").and_then(Value::as_str) == Some("system")
            && let Some(Value::String(content)) = first.get_mut("content")
        {
            content.push_str("\n\n");
            content.push_str(text);
            return true;
        }
        let mut system = Map::new();
        system.insert("role".into(), Value::String("system".into()));
        system.insert("content".into(), Value::String(text.to_owned()));
        messages.insert(0, Value::Object(system));
        self.messages = messages.len();
        true
    }

    /// Reads a top-level field of the body (for example `stream_options`).
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.body.get(name)
    }

    /// Calls `f` on every text part with its origin, in the same order as
    /// [`Exchange::for_each_text_mut`], without changing anything.
    pub fn for_each_text(&self, mut f: impl FnMut(Origin, &str)) {
        // One walker for both: the mutable one on a borrowed copy would cost a clone of the
        // body, so the walk is written once over `Value` and `&mut` is taken only here.
        walk(self.action, &self.body, &mut |origin, value| {
            if let Value::String(text) = value {
                f(origin, text);
            }
        });
    }

    /// Calls `f` on every text part with its origin: message content (string or the text
    /// parts of multi-part content), tool-call arguments, completion prompts, embedding
    /// inputs. `f` may rewrite the text in place.
    pub fn for_each_text_mut(&mut self, mut f: impl FnMut(Origin, &mut String)) {
        let body = &mut self.body;
        match self.action {
            Action::Chat => {
                if let Some(Value::Array(messages)) = body.get_mut("messages") {
                    for message in messages {
                        let Value::Object(message) = message else {
                            continue;
                        };
                        let origin = Origin::of_message(message);
                        if let Some(content) = message.get_mut("content") {
                            visit_strings(content, origin, &mut f);
                        }
                        if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
                            for call in calls {
                                if let Some(Value::String(args)) = call
                                    .get_mut("function")
                                    .and_then(|func| func.get_mut("arguments"))
                                {
                                    f(Origin::ToolCall, args);
                                }
                            }
                        }
                    }
                }
            }
            Action::Complete => {
                if let Some(prompt) = body.get_mut("prompt") {
                    visit_strings(prompt, Origin::User, &mut f);
                }
            }
            Action::Embed => {
                if let Some(input) = body.get_mut("input") {
                    visit_strings(input, Origin::Document, &mut f);
                }
            }
        }
    }
}

/// The read-only walk of [`Exchange::for_each_text`]; keep it in step with
/// [`Exchange::for_each_text_mut`] (the test `both_walks_agree` checks they do).
fn walk(action: Action, body: &Map<String, Value>, f: &mut impl FnMut(Origin, &Value)) {
    let strings = |value: &Value, origin: Origin, f: &mut dyn FnMut(Origin, &Value)| match value {
        Value::String(_) => f(origin, value),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(_) => f(origin, item),
                    Value::Object(part) => {
                        if let Some(text @ Value::String(_)) = part.get("text") {
                            f(origin, text);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    };
    match action {
        Action::Chat => {
            if let Some(Value::Array(messages)) = body.get("messages") {
                for message in messages {
                    let Value::Object(message) = message else {
                        continue;
                    };
                    let origin = Origin::of_message(message);
                    if let Some(content) = message.get("content") {
                        strings(content, origin, f);
                    }
                    if let Some(Value::Array(calls)) = message.get("tool_calls") {
                        for call in calls {
                            if let Some(args @ Value::String(_)) =
                                call.get("function").and_then(|func| func.get("arguments"))
                            {
                                f(Origin::ToolCall, args);
                            }
                        }
                    }
                }
            }
        }
        Action::Complete => {
            if let Some(prompt) = body.get("prompt") {
                strings(prompt, Origin::User, f);
            }
        }
        Action::Embed => {
            if let Some(input) = body.get("input") {
                strings(input, Origin::Document, f);
            }
        }
    }
}

/// Visits a string, an array of strings, or multi-part content (`{"type":"text","text":…}`).
/// Token arrays (numbers) and images are left alone.
fn visit_strings(value: &mut Value, origin: Origin, f: &mut impl FnMut(Origin, &mut String)) {
    match value {
        Value::String(text) => f(origin, text),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(text) => f(origin, text),
                    Value::Object(part) => {
                        if let Some(Value::String(text)) = part.get_mut("text") {
                            f(origin, text);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Total bytes of text in a JSON value (strings only), for limits and token estimates.
fn text_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(map) => map.values().map(text_bytes).sum(),
        _ => 0,
    }
}

/// Tokens from bytes of text: about four bytes per token for English, rounded up. Only an
/// estimate for throttling; the upstream's `usage` is what gets recorded when present.
pub fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// The `parse` stage: body bytes -> [`Exchange`], enforcing message limits.
pub fn parse_exchange(
    action: Action,
    bytes: &[u8],
    limits: &LimitsConfig,
) -> Result<Exchange, GatewayError> {
    // serde_json's messages can quote input; report only the position and the category.
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        GatewayError::bad_request(format!(
            "request body is not valid json ({:?} error at line {} column {})",
            err.classify(),
            err.line(),
            err.column()
        ))
    })?;
    let Value::Object(body) = value else {
        return Err(GatewayError::bad_request(
            "request body must be a json object",
        ));
    };
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        _ => {
            return Err(GatewayError::bad_request(
                "`model` must be a non-empty string",
            ));
        }
    };
    let stream = match (action, body.get("stream")) {
        (_, None | Some(Value::Null)) => false,
        (Action::Embed, Some(_)) => {
            return Err(GatewayError::bad_request(
                "`stream` is not supported for embeddings",
            ));
        }
        (_, Some(Value::Bool(stream))) => *stream,
        (_, Some(_)) => return Err(GatewayError::bad_request("`stream` must be a boolean")),
    };
    let (messages, text) = match action {
        Action::Chat => {
            let Some(Value::Array(messages)) = body.get("messages") else {
                return Err(GatewayError::bad_request("`messages` must be an array"));
            };
            if messages.is_empty() {
                return Err(GatewayError::bad_request("`messages` must not be empty"));
            }
            if messages.len() > limits.max_messages {
                return Err(GatewayError::too_large(format!(
                    "too many messages: {} (limit {})",
                    messages.len(),
                    limits.max_messages
                )));
            }
            let mut total = 0;
            for (index, message) in messages.iter().enumerate() {
                if !message.is_object() {
                    return Err(GatewayError::bad_request(format!(
                        "`messages[{index}]` must be an object"
                    )));
                }
                let size = text_bytes(message);
                if size > limits.max_message_bytes {
                    return Err(GatewayError::too_large(format!(
                        "`messages[{index}]` is {size} bytes (limit {})",
                        limits.max_message_bytes
                    )));
                }
                total += size;
            }
            (messages.len(), total)
        }
        Action::Complete => {
            let size = body.get("prompt").map_or(0, text_bytes);
            if size > limits.max_message_bytes {
                return Err(GatewayError::too_large(format!(
                    "`prompt` is {size} bytes (limit {})",
                    limits.max_message_bytes
                )));
            }
            (0, size)
        }
        Action::Embed => {
            let Some(input) = body.get("input") else {
                return Err(GatewayError::bad_request("`input` is required"));
            };
            (0, text_bytes(input))
        }
    };
    Ok(Exchange {
        action,
        model,
        stream,
        messages,
        prompt_tokens_estimate: estimate_tokens(text),
        body,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(action: Action, value: serde_json::Value) -> Result<Exchange, GatewayError> {
        parse_exchange(
            action,
            &serde_json::to_vec(&value).unwrap(),
            &LimitsConfig::default(),
        )
    }

    #[test]
    fn tools_and_multipart_survive_untouched() {
        let body = json!({
            "model": "m", "stream": true, "temperature": 0.2,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "result"}
            ]
        });
        let ex = parse(Action::Chat, body.clone()).unwrap();
        assert!(ex.stream);
        assert_eq!(ex.messages, 4);
        let sent: serde_json::Value = serde_json::from_slice(&ex.upstream_bytes("up")).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("up");
        assert_eq!(sent, expected);
        assert_eq!(serde_json::Value::Object(ex.upstream_body("up")), expected);
    }

    #[test]
    fn text_parts_are_visited_with_origin() {
        let mut ex = parse(
            Action::Chat,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "text", "text": "u"}]},
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "a"}}]},
                {"role": "tool", "content": "t"}
            ]}),
        )
        .unwrap();
        let mut seen = Vec::new();
        ex.for_each_text_mut(|origin, text| {
            seen.push((origin, text.clone()));
            text.make_ascii_uppercase();
        });
        assert_eq!(
            seen,
            [
                (Origin::System, "s".to_owned()),
                (Origin::User, "u".to_owned()),
                (Origin::ToolCall, "a".to_owned()),
                (Origin::Tool, "t".to_owned())
            ]
        );
        let sent = String::from_utf8(ex.upstream_bytes("m")).unwrap();
        assert!(sent.contains("\"U\"") && sent.contains("\"T\""), "{sent}");
    }

    #[test]
    fn both_walks_agree_and_documents_are_marked() {
        let mut ex = parse(
            Action::Chat,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "s"},
                {"role": "system", "name": "document:kb-1", "content": "d1"},
                {"role": "user", "name": "document", "content": [{"type": "text", "text": "d2"}, "raw"]},
                {"role": "user", "name": "documentary", "content": "u"},
                {"role": "assistant", "content": "a", "tool_calls": [{"function": {"arguments": "{}"}}]},
                {"role": "tool", "name": "document", "content": "t"}
            ]}),
        )
        .unwrap();
        let mut read = Vec::new();
        ex.for_each_text(|origin, text| read.push((origin, text.to_owned())));
        let mut written = Vec::new();
        ex.for_each_text_mut(|origin, text| written.push((origin, text.clone())));
        assert_eq!(read, written);
        let origins: Vec<Origin> = read.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            origins,
            [
                Origin::System,
                Origin::Document,
                Origin::Document,
                Origin::Document,
                Origin::User,
                Origin::Assistant,
                Origin::ToolCall,
                Origin::Tool
            ]
        );
        let mut embed = parse(Action::Embed, json!({"model": "m", "input": ["a", "b"]})).unwrap();
        let mut seen = Vec::new();
        embed.for_each_text_mut(|origin, _| seen.push(origin));
        assert_eq!(seen, [Origin::Document, Origin::Document]);
    }

    #[test]
    fn debug_never_prints_the_body() {
        let ex = parse(
            Action::Complete,
            json!({"model": "m", "prompt": "secret 123"}),
        )
        .unwrap();
        assert!(!format!("{ex:?}").contains("secret"));
    }

    #[test]
    fn bad_requests_are_rejected_without_quoting_content() {
        let cases = [
            json!({"messages": []}),
            json!({"model": "m"}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m", "messages": ["x"]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
        ];
        for case in cases {
            let err = parse(Action::Chat, case).unwrap_err();
            assert_eq!(err.status(), 400);
        }
        let err = parse_exchange(
            Action::Chat,
            b"{\"model\": \"secret-value",
            &LimitsConfig::default(),
        )
        .unwrap_err();
        assert!(!err.message().contains("secret"), "{}", err.message());
        assert!(err.message().contains("line 1"));
    }

    #[test]
    fn message_limits_give_413() {
        let limits = LimitsConfig {
            max_messages: 2,
            max_message_bytes: 10,
            ..LimitsConfig::default()
        };
        let many = json!({"model": "m", "messages": [{"content": "a"}, {"content": "b"}, {"content": "c"}]});
        let big = json!({"model": "m", "messages": [{"content": "0123456789abc"}]});
        for case in [many, big] {
            let bytes = serde_json::to_vec(&case).unwrap();
            assert_eq!(
                parse_exchange(Action::Chat, &bytes, &limits)
                    .unwrap_err()
                    .status(),
                413
            );
        }
    }
}
