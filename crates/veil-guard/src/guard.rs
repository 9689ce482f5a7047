//! [`Guard`]: normalization, payload decoding, rules and classifier folded into one
//! calibrated [`Verdict`] per piece of text.

use serde::{Deserialize, Serialize};

use crate::decode::{self, Encoding};
use crate::model::{Model, ModelError, sigmoid};
use crate::normalize::normalize;
use crate::rules::{RuleError, Rules, SignalKind};

/// Deepest nesting of encodings decoded (`base64(hex(...))` is depth 2).
pub const MAX_DECODE_DEPTH: usize = 3;
/// Most bytes of decoded text scanned per call, summed over all payloads and depths.
pub const MAX_DECODED_BYTES: usize = 64 * 1024;
/// The classifier reads at most this many bytes of (canonical) text. Rules read everything;
/// the cap bounds memory and time on huge tool results.
pub const MAX_CLASSIFIER_BYTES: usize = 256 * 1024;

/// Where a piece of text came from. Content that the caller did not write (tool results,
/// retrieved documents) is scored with a stricter profile: it should contain data, never
/// instructions to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Written by the caller (user or application messages).
    #[default]
    User,
    /// The result of a tool or function call fed back to the model.
    Tool,
    /// A retrieved document (RAG context, web page, file).
    Document,
}

impl Origin {
    /// The lower-case name (`user`, `tool`, `document`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Tool => "tool",
            Self::Document => "document",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::User => 0,
            Self::Tool => 1,
            Self::Document => 2,
        }
    }

    /// Whether the text is third-party content (tool or document).
    pub fn is_untrusted_content(self) -> bool {
        !matches!(self, Self::User)
    }
}

impl std::str::FromStr for Origin {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "tool" => Ok(Self::Tool),
            "document" => Ok(Self::Document),
            _ => Err(GuardError::UnknownOrigin(s.to_owned())),
        }
    }
}

/// Guard configuration, e.g. the `[guard]` table of `veil.toml`. Every field defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Score at or above which caller text is an attack. Default: the threshold chosen on
    /// the calibration split (about 1% false positives there).
    pub user_threshold: Option<f32>,
    /// Score at or above which a tool result is an attack. Default: the stricter threshold
    /// chosen on the calibration split (about 3% false positives there).
    pub tool_threshold: Option<f32>,
    /// Score at or above which a retrieved document is an attack. Default as for tools.
    pub document_threshold: Option<f32>,
    /// In tool results and documents, some signals mark an attack whatever the score:
    /// content that addresses the agent, fake system tags, instruction overrides and
    /// exfiltration markup have no innocent reason to be there. Default: on.
    pub escalate_untrusted: Option<bool>,
    /// Answer screening (`[guard.screen]`), used by the gateway's `screen` stage with
    /// [`crate::screen_answer`] and [`crate::AnswerScanner`].
    pub screen: crate::ScreenConfig,
}

/// Errors building a [`Guard`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The embedded or supplied model file is unreadable.
    #[error("cannot load the guard model")]
    Model(#[from] ModelError),
    /// A built-in rule did not compile.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// A threshold is outside `[0, 1]`.
    #[error("guard threshold for `{origin}` must be within 0 and 1, got `{value}`")]
    Threshold {
        /// The origin the threshold is for.
        origin: &'static str,
        /// The rejected value.
        value: f32,
    },
    /// An origin name is not `user`, `tool` or `document`.
    #[error("unknown origin `{0}`, expected `user`, `tool` or `document`")]
    UnknownOrigin(String),
}

/// One reason behind a score. Carries no text from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal {
    /// The technique.
    pub kind: SignalKind,
    /// Set when the signal was found inside a decoded payload.
    pub via: Option<Encoding>,
}

impl Signal {
    /// `instruction_override`, or `instruction_override@base64` when found in a payload.
    pub fn name(&self) -> String {
        match self.via {
            None => self.kind.as_str().to_owned(),
            Some(enc) => format!("{}@{}", self.kind.as_str(), enc.as_str()),
        }
    }
}

impl Serialize for Signal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// The guard's answer for one piece of text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether the text is treated as an attack under the origin's profile.
    pub attack: bool,
    /// Calibrated probability in `[0, 1]` that the text is an injection or jailbreak.
    pub score: f32,
    /// Why, sorted and de-duplicated.
    pub signals: Vec<Signal>,
}

/// What the analysis found before scoring: exposed for training and evaluation.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Canonical text the classifier reads (decoded payloads appended).
    pub model_text: String,
    /// Rules that fired anywhere (top level or payloads), in [`SignalKind::RULES`] order.
    pub rules: [bool; SignalKind::RULES.len()],
    /// Signals with their encodings.
    pub signals: Vec<Signal>,
}

/// The prompt-injection and jailbreak scorer. Build once at startup (about 25 ms: it parses
/// the 4 MiB model and compiles the rules) and share it, e.g. in an `Arc`: scoring takes
/// `&self`, is `Send + Sync`, and allocates only per call. `Clone` copies the weights.
///
/// Gateway use: the `inspect` stage calls [`Guard::score`] once per message part with its
/// [`Origin`] and puts `score`, `attack` and the signal names into the policy context; the
/// `protect` stage adds a [`crate::Canary`] to the system prompt; the `screen` stage runs an
/// [`crate::AnswerScanner`] over the streamed answer.
#[derive(Debug, Clone)]
pub struct Guard {
    rules: Rules,
    model: Model,
    thresholds: [f32; 3],
    escalate_untrusted: bool,
}

/// Signals that make tool or document content an attack whatever the score.
const ESCALATE: [SignalKind; 4] = [
    SignalKind::ToolHijack,
    SignalKind::FakeTemplate,
    SignalKind::InstructionOverride,
    SignalKind::ExfiltrationMarkup,
];

// The gateway shares one guard across request tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Guard>();
};

impl Guard {
    /// Builds a guard with the embedded model.
    pub fn new(config: &GuardConfig) -> Result<Self, GuardError> {
        Self::with_model(config, Model::embedded()?)
    }

    /// Builds a guard with a given model (training, experiments).
    pub fn with_model(config: &GuardConfig, model: Model) -> Result<Self, GuardError> {
        let mut thresholds = model.thresholds;
        for (origin, value) in [
            (Origin::User, config.user_threshold),
            (Origin::Tool, config.tool_threshold),
            (Origin::Document, config.document_threshold),
        ] {
            if let Some(v) = value {
                if !(0.0..=1.0).contains(&v) {
                    return Err(GuardError::Threshold {
                        origin: origin.as_str(),
                        value: v,
                    });
                }
                if let Some(slot) = thresholds.get_mut(origin.index()) {
                    *slot = v;
                }
            }
        }
        Ok(Self {
            rules: Rules::new()?,
            model,
            thresholds,
            escalate_untrusted: config.escalate_untrusted.unwrap_or(true),
        })
    }

    /// The threshold in force for an origin.
    pub fn threshold(&self, origin: Origin) -> f32 {
        self.thresholds.get(origin.index()).copied().unwrap_or(0.5)
    }

    /// Scores `text` coming from `origin`.
    pub fn score(&self, text: &str, origin: Origin) -> Verdict {
        let analysis = self.analyze(text);
        self.verdict(&analysis, origin)
    }

    /// Turns an analysis into a verdict (split out so evaluation can reuse one analysis).
    #[doc(hidden)]
    pub fn verdict(&self, analysis: &Analysis, origin: Origin) -> Verdict {
        let mut scratch = Vec::new();
        let logit = self.model.logit(&analysis.model_text, &mut scratch);
        let score = self.model.calibrate(logit, &analysis.rules);
        let mut signals = analysis.signals.clone();
        if self.model.hash_bits > 0 && sigmoid(logit) >= 0.5 {
            signals.push(Signal {
                kind: SignalKind::Classifier,
                via: None,
            });
        }
        signals.sort_unstable();
        signals.dedup();
        let escalated = self.escalate_untrusted
            && origin.is_untrusted_content()
            && signals.iter().any(|s| ESCALATE.contains(&s.kind));
        Verdict {
            attack: escalated || score >= self.threshold(origin),
            score,
            signals,
        }
    }

    /// The classifier's raw logit for an analysis (training and evaluation).
    #[doc(hidden)]
    pub fn classifier_logit(&self, analysis: &Analysis) -> f32 {
        self.model.logit(&analysis.model_text, &mut Vec::new())
    }

    /// Normalizes, decodes and runs the rules; see the crate documentation.
    #[doc(hidden)]
    pub fn analyze(&self, text: &str) -> Analysis {
        let top = normalize(text);
        let mut rules = [false; SignalKind::RULES.len()];
        let mut signals = Vec::new();
        self.rules.scan(&top.canonical, &mut rules);
        let t = top.tricks;
        if (t.zero_width + t.bidi + t.confusables + t.spaced_runs > 0 || t.leet_tokens >= 2)
            && let Some(slot) = SignalKind::Obfuscation
                .rule_index()
                .and_then(|i| rules.get_mut(i))
        {
            *slot = true;
        }
        push_fired(&rules, None, &mut signals);

        let mut model_text = top.canonical.clone();
        let mut budget = MAX_DECODED_BYTES;
        // Work list of (folded text, canonical text, depth, encoding that produced it).
        let mut queue: Vec<(String, String, usize, Option<Encoding>)> =
            vec![(top.folded, top.canonical, 0, None)];
        while let Some((folded, canonical, depth, via)) = queue.pop() {
            // rot13 view of this layer: kept only if it reads like an attack.
            let rotated = decode::rot13(&canonical);
            let mut hits = [false; SignalKind::RULES.len()];
            self.rules.scan(&rotated, &mut hits);
            if hits.iter().any(|&h| h) && budget >= rotated.len() {
                budget -= rotated.len();
                self.absorb(
                    &hits,
                    via.or(Some(Encoding::Rot13)),
                    &mut rules,
                    &mut signals,
                );
                model_text.push(' ');
                model_text.push_str(&rotated);
            }
            if depth >= MAX_DECODE_DEPTH {
                continue;
            }
            for payload in decode::payloads(&folded) {
                if payload.text.len() > budget {
                    break;
                }
                budget -= payload.text.len();
                let inner = normalize(&payload.text);
                let mut hits = [false; SignalKind::RULES.len()];
                self.rules.scan(&inner.canonical, &mut hits);
                // Report the outermost encoding: that is what the attacker wrapped it in.
                let enc = via.unwrap_or(payload.encoding);
                if hits.iter().any(|&h| h) {
                    self.absorb(&hits, Some(enc), &mut rules, &mut signals);
                }
                model_text.push(' ');
                model_text.push_str(&inner.canonical);
                queue.push((inner.folded, inner.canonical, depth + 1, Some(enc)));
            }
        }
        if model_text.len() > MAX_CLASSIFIER_BYTES {
            let mut cut = MAX_CLASSIFIER_BYTES;
            while !model_text.is_char_boundary(cut) {
                cut -= 1;
            }
            model_text.truncate(cut);
        }
        signals.sort_unstable();
        signals.dedup();
        Analysis {
            model_text,
            rules,
            signals,
        }
    }

    /// Merges rule hits found inside a payload: each kind counts, and the fact that an
    /// attack was hidden in an encoding is a signal of its own.
    fn absorb(
        &self,
        hits: &[bool; SignalKind::RULES.len()],
        via: Option<Encoding>,
        rules: &mut [bool; SignalKind::RULES.len()],
        signals: &mut Vec<Signal>,
    ) {
        for (slot, &hit) in rules.iter_mut().zip(hits) {
            *slot |= hit;
        }
        if let Some(slot) = SignalKind::EncodedPayload
            .rule_index()
            .and_then(|i| rules.get_mut(i))
        {
            *slot = true;
        }
        push_fired(hits, via, signals);
        signals.push(Signal {
            kind: SignalKind::EncodedPayload,
            via,
        });
    }
}

fn push_fired(
    hits: &[bool; SignalKind::RULES.len()],
    via: Option<Encoding>,
    out: &mut Vec<Signal>,
) {
    for (kind, &hit) in SignalKind::RULES.iter().zip(hits) {
        if hit {
            out.push(Signal { kind: *kind, via });
        }
    }
}
