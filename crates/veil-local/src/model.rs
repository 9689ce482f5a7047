//! A loaded GGUF model: weights, tokenizer, chat template, and the generation loop.

use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};

use crate::error::{Error, ErrorKind};
use crate::stop::{StopFilter, StopOutcome};
use crate::tokenizer::Tokenizer;

/// What the GGUF header says about a model; checked by `veil models add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Number of tensors in the file.
    pub tensor_count: usize,
    /// Tokenizer vocabulary size.
    pub vocab_size: usize,
    /// Whether the file carries a chat template (`tokenizer.chat_template`).
    pub has_chat_template: bool,
}

/// Architectures this crate runs (candle's quantized llama covers these GGUF names).
const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// One chat message, as an OpenAI-style request carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with this role and content.
    #[must_use]
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What to generate from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Chat messages, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// Raw text, encoded as is (no special tokens are recognised in it).
    Text(String),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Upper bound on generated tokens.
    pub max_tokens: usize,
    /// Sampling temperature; `None` or `<= 0` means greedy (argmax).
    pub temperature: Option<f64>,
    /// Nucleus sampling mass; `None` means the whole distribution.
    pub top_p: Option<f64>,
    /// Seed of the sampler, so that a sampled answer can be reproduced.
    pub seed: u64,
    /// Generation ends before the first occurrence of any of these (checked on text).
    pub stop: Vec<String>,
    /// Report the chosen token's log-probability.
    pub logprobs: bool,
    /// Also report this many most likely alternatives per position (OpenAI allows 0..=20).
    pub top_logprobs: usize,
}

impl GenerateRequest {
    /// A greedy request for these messages with at most `max_tokens` tokens.
    #[must_use]
    pub fn chat(messages: Vec<ChatMessage>, max_tokens: usize) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            max_tokens,
            temperature: None,
            top_p: None,
            seed: 0,
            stop: Vec::new(),
            logprobs: false,
            top_logprobs: 0,
        }
    }
}

/// Log-probability of one generated token, with alternatives when asked.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// Token id.
    pub token: u32,
    /// The token's text (lossy for tokens that are part of a multi-byte character).
    pub text: String,
    /// Natural-log probability of the token.
    pub logprob: f32,
    /// The most likely tokens at this position: `(id, text, logprob)`, most likely first.
    pub top: Vec<(u32, String, f32)>,
}

/// A piece of the answer, delivered as soon as it is safe to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Text to append (may be empty while a possible stop sequence is held back).
    pub text: String,
    /// Log-probability of the token that produced this chunk, when asked.
    pub logprob: Option<TokenLogprob>,
}

/// Why generation ended (OpenAI `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of turn, end of sequence, or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The receiver went away; generation was cancelled.
    Cancelled,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The whole answer: the concatenation of every chunk's text.
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (including a final end-of-turn token).
    pub completion_tokens: usize,
    /// Per-token log-probabilities, when asked.
    pub logprobs: Vec<TokenLogprob>,
}

/// A loaded model. Cloning is cheap (weights are shared); each clone has its own KV cache,
/// so each worker thread owns one clone.
#[derive(Debug, Clone)]
pub struct LocalModel {
    weights: ModelWeights,
    tokenizer: Arc<Tokenizer>,
    chat_template: Option<Arc<str>>,
    info: Arc<ModelInfo>,
}

/// Reads and validates a GGUF header and metadata: magic, architecture, tokenizer.
///
/// # Errors
/// `InvalidModel` when the bytes are not a supported GGUF model.
pub fn inspect(bytes: &[u8]) -> Result<ModelInfo, Error> {
    let content = read_content(bytes)?;
    info_of(&content)
}

fn read_content(bytes: &[u8]) -> Result<gguf_file::Content, Error> {
    gguf_file::Content::read(&mut Cursor::new(bytes))
        .map_err(|e| Error::invalid_model(format!("not a readable gguf file: {e}")))
}

fn info_of(content: &gguf_file::Content) -> Result<ModelInfo, Error> {
    let md = &content.metadata;
    let architecture = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .ok_or_else(|| Error::invalid_model("missing `general.architecture`"))?;
    if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
        return Err(Error::invalid_model(format!(
            "architecture `{architecture}` is not supported (supported: llama)"
        )));
    }
    let tokenizer = Tokenizer::from_gguf(content)?;
    Ok(ModelInfo {
        architecture,
        name: md
            .get("general.name")
            .and_then(|v| v.to_string().ok())
            .cloned(),
        tensor_count: content.tensor_infos.len(),
        vocab_size: tokenizer.vocab_size(),
        has_chat_template: md.contains_key("tokenizer.chat_template"),
    })
}

/// How to hold the weights in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Convert `Q4_1` weight tensors to `Q8_0` when loading (on by default).
    ///
    /// Why: candle 0.9 has hand-written SIMD dot products for `Q8_0`, `Q4_0` and the
    /// k-quants (compiled in only with AVX2, NEON or wasm SIMD128) but only a scalar loop
    /// for `Q4_1`, the format of the SmolLM2 file that Veil ships for tests and demos. On
    /// SmolLM2, x86-64-v3 build (AVX2), one thread, the `Q8_0` path decodes 77 tokens/s
    /// against 19 for `Q4_1` (`docs/benchmarks.md`, "Local models"). Both formats use blocks of 32 values, and every `Q4_1` value
    /// (`d * q + m`, 16 levels) is re-expressed on a 255-level grid over the same block, so
    /// the error added is at most 1/254 of the block's largest magnitude (a few percent of
    /// one `Q4_1` step): greedy answers stay the same and logits stay within a small
    /// tolerance of the exact `Q4_1` ones (checked by the SmolLM2 tests). The price is memory:
    /// those tensors take 34 bytes per 32 values instead of 20.
    pub q4_1_as_q8_0: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { q4_1_as_q8_0: true }
    }
}

impl LocalModel {
    /// Loads a model from the bytes of a GGUF file (the caller has checked their hash),
    /// with the default [`LoadOptions`].
    ///
    /// # Errors
    /// `InvalidModel` when the file is not a supported GGUF model.
    pub fn from_gguf_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_gguf_bytes_with(bytes, LoadOptions::default())
    }

    /// Loads a model from the bytes of a GGUF file with explicit [`LoadOptions`].
    ///
    /// # Errors
    /// `InvalidModel` when the file is not a supported GGUF model.
    pub fn from_gguf_bytes_with(bytes: &[u8], options: LoadOptions) -> Result<Self, Error> {
        let content = read_content(bytes)?;
        let info = info_of(&content)?;
        let tokenizer = Tokenizer::from_gguf(&content)?;
        let chat_template = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .map(|s| Arc::from(s.as_str()));
        let has_q4_1 = content
            .tensor_infos
            .values()
            .any(|t| t.ggml_dtype == GgmlDType::Q4_1);
        let weights = if options.q4_1_as_q8_0 && has_q4_1 {
            let rewritten = q4_1_as_q8_0(&content, bytes)?;
            let content = read_content(&rewritten)?;
            ModelWeights::from_gguf(content, &mut Cursor::new(&rewritten), &Device::Cpu)
        } else {
            ModelWeights::from_gguf(content, &mut Cursor::new(bytes), &Device::Cpu)
        }
        .map_err(|e| Error::invalid_model(format!("cannot load weights: {e}")))?;
        Ok(Self {
            weights,
            tokenizer: Arc::new(tokenizer),
            chat_template,
            info: Arc::new(info),
        })
    }

    /// What the header says about this model.
    #[must_use]
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The tokenizer rebuilt from the file.
    #[must_use]
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of a prompt. Message contents are encoded as ordinary text: a user writing
    /// `<|im_end|>` gets the characters, never the control token (no turn injection).
    ///
    /// # Errors
    /// `InvalidRequest` when the template fails to render or has lost a message's content.
    pub fn encode_prompt(&self, prompt: &Prompt) -> Result<Vec<u32>, Error> {
        match prompt {
            Prompt::Text(text) => Ok(self.tokenizer.encode_plain(text)),
            Prompt::Chat(messages) => self.encode_chat(messages),
        }
    }

    fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, Error> {
        let template = self
            .chat_template
            .as_deref()
            .unwrap_or(crate::chat::CHATML_TEMPLATE);
        // Render with a marker in place of each content, then encode the template's own
        // text with special tokens and each content without.
        let marked: Vec<ChatMessage> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| ChatMessage::new(m.role.clone(), crate::chat::marker(i)))
            .collect();
        let bos = self
            .tokenizer
            .bos()
            .and_then(|id| self.tokenizer.token_text(id));
        let eos = self
            .tokenizer
            .eos()
            .and_then(|id| self.tokenizer.token_text(id));
        let rendered = crate::chat::render(template, &marked, bos, eos)?;
        let mut out = Vec::new();
        let mut rest = rendered.as_str();
        for (i, m) in messages.iter().enumerate() {
            let mark = crate::chat::marker(i);
            let Some(pos) = rest.find(&mark) else {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!("chat template dropped message {i}"),
                ));
            };
            let (before, after) = rest.split_at(pos);
            out.extend(self.tokenizer.encode(before));
            out.extend(self.tokenizer.encode_plain(&m.content));
            rest = after.get(mark.len()..).unwrap_or("");
        }
        out.extend(self.tokenizer.encode(rest));
        Ok(out)
    }

    /// Generates an answer, calling `on_chunk` for each piece as soon as it is safe to show
    /// (stop sequences are held back). `on_chunk` returns `false` to cancel.
    ///
    /// # Errors
    /// `InvalidRequest` for an empty or too long prompt; `Inference` when candle fails.
    pub fn generate(
        &mut self,
        request: &GenerateRequest,
        on_chunk: &mut dyn FnMut(Chunk) -> bool,
    ) -> Result<Completion, Error> {
        let prompt = self.encode_prompt(&request.prompt)?;
        if prompt.is_empty() {
            return Err(Error::new(ErrorKind::InvalidRequest, "empty prompt"));
        }
        if prompt.len() >= MAX_SEQ_LEN {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "prompt has {} tokens, the context holds {MAX_SEQ_LEN}",
                    prompt.len()
                ),
            ));
        }
        let max_tokens = request.max_tokens.min(MAX_SEQ_LEN - prompt.len());
        let sampling = match request.temperature {
            Some(t) if t > 0.0 => match request.top_p {
                Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP { p, temperature: t },
                _ => Sampling::All { temperature: t },
            },
            _ => Sampling::ArgMax,
        };
        let mut sampler = LogitsProcessor::from_sampling(request.seed, sampling);
        let mut stop = StopFilter::new(&request.stop);
        let mut completion = Completion {
            text: String::new(),
            finish_reason: FinishReason::Length,
            prompt_tokens: prompt.len(),
            completion_tokens: 0,
            logprobs: Vec::new(),
        };
        // Bytes of a multi-byte character split across tokens wait here.
        let mut pending: Vec<u8> = Vec::new();
        let mut input = prompt;
        let mut pos = 0usize;
        while completion.completion_tokens < max_tokens {
            let logits = self.step(&input, pos)?;
            pos += input.len();
            let token = sampler.sample(&logits).map_err(|e| Error::inference(&e))?;
            completion.completion_tokens += 1;
            let logprob = if request.logprobs || request.top_logprobs > 0 {
                let values: Vec<f32> = logits.to_vec1().map_err(|e| Error::inference(&e))?;
                Some(self.logprob(&values, token, request.top_logprobs))
            } else {
                None
            };
            if let Some(lp) = &logprob {
                completion.logprobs.push(lp.clone());
            }
            if Some(token) == self.tokenizer.eos() || self.tokenizer.is_control(token) {
                completion.finish_reason = FinishReason::Stop;
                break;
            }
            pending.extend(self.tokenizer.token_bytes(token));
            let text = take_valid_utf8(&mut pending);
            match stop.push(&text) {
                StopOutcome::Continue(text) => {
                    completion.text.push_str(&text);
                    if !on_chunk(Chunk { text, logprob }) {
                        completion.finish_reason = FinishReason::Cancelled;
                        return Ok(completion);
                    }
                }
                StopOutcome::Stopped(text) => {
                    completion.text.push_str(&text);
                    completion.finish_reason = FinishReason::Stop;
                    on_chunk(Chunk { text, logprob });
                    return Ok(completion);
                }
            }
            input = vec![token];
        }
        let mut tail = stop.finish();
        tail.push_str(&String::from_utf8_lossy(&pending));
        if !tail.is_empty() {
            completion.text.push_str(&tail);
            on_chunk(Chunk {
                text: tail,
                logprob: None,
            });
        }
        Ok(completion)
    }

    /// Logits of the token that would follow `prompt` in a fresh context (one forward pass
    /// over the whole prompt); for comparing weight formats and for diagnostics.
    ///
    /// # Errors
    /// `InvalidRequest` for an empty prompt or a bad template; `Inference` when candle fails.
    pub fn next_token_logits(&mut self, prompt: &Prompt) -> Result<Vec<f32>, Error> {
        let ids = self.encode_prompt(prompt)?;
        if ids.is_empty() || ids.len() >= MAX_SEQ_LEN {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "prompt length out of range",
            ));
        }
        self.step(&ids, 0)?
            .to_vec1()
            .map_err(|e| Error::inference(&e))
    }

    /// One forward pass: logits (f32, vocabulary-sized) for the next token.
    fn step(&mut self, input: &[u32], pos: usize) -> Result<Tensor, Error> {
        let x = Tensor::new(input, &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(|e| Error::inference(&e))?;
        self.weights
            .forward(&x, pos)
            .and_then(|t| t.squeeze(0))
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .map_err(|e| Error::inference(&e))
    }

    fn logprob(&self, logits: &[f32], token: u32, top: usize) -> TokenLogprob {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
        let lp = |id: u32| {
            logits
                .get(id as usize)
                .map_or(f32::NEG_INFINITY, |l| l - log_sum)
        };
        let mut best: Vec<u32> = Vec::new();
        if top > 0 && !logits.is_empty() {
            let mut ids: Vec<u32> = (0..u32::try_from(logits.len()).unwrap_or(0)).collect();
            let k = top.min(ids.len());
            ids.select_nth_unstable_by(k.saturating_sub(1), |a, b| lp(*b).total_cmp(&lp(*a)));
            ids.truncate(k);
            ids.sort_by(|a, b| lp(*b).total_cmp(&lp(*a)));
            best = ids;
        }
        TokenLogprob {
            token,
            text: self.tokenizer.decode(&[token]),
            logprob: lp(token),
            top: best
                .into_iter()
                .map(|id| (id, self.tokenizer.decode(&[id]), lp(id)))
                .collect(),
        }
    }
}

/// The GGUF file `bytes` rewritten with every `Q4_1` tensor converted to `Q8_0` (same
/// metadata, same tensor names and shapes): see [`LoadOptions::q4_1_as_q8_0`].
///
/// candle's loader reads weights from a GGUF stream, so the converted tensors are written
/// to an in-memory GGUF and loaded from there; the copy is dropped once loaded.
fn q4_1_as_q8_0(content: &gguf_file::Content, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let fail = |e: candle_core::Error| Error::invalid_model(format!("cannot convert weights: {e}"));
    let mut reader = Cursor::new(bytes);
    let mut tensors: Vec<(&str, QTensor)> = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(fail)?;
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            let values = tensor.dequantize(&Device::Cpu).map_err(fail)?;
            QTensor::quantize(&values, GgmlDType::Q8_0).map_err(fail)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::with_capacity(bytes.len() * 2));
    gguf_file::write(&mut out, &metadata, &tensor_refs).map_err(fail)?;
    Ok(out.into_inner())
}

/// Takes the longest valid UTF-8 prefix out of `pending`; invalid bytes become U+FFFD.
fn take_valid_utf8(pending: &mut Vec<u8>) -> String {
    match std::str::from_utf8(pending) {
        Ok(s) => {
            let s = s.to_owned();
            pending.clear();
            s
        }
        Err(e) => {
            let valid = e.valid_up_to();
            match e.error_len() {
                // Incomplete character at the end: keep it for the next token.
                None => {
                    let rest = pending.split_off(valid);
                    let s = String::from_utf8_lossy(pending).into_owned();
                    *pending = rest;
                    s
                }
                Some(_) => {
                    let s = String::from_utf8_lossy(pending).into_owned();
                    pending.clear();
                    s
                }
            }
        }
    }
}
