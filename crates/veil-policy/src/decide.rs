//! Evaluation: one Cedar question per request-level action, then a short chain of questions per
//! data class that derives its treatment.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityUid, Request,
    RestrictedExpression,
};
use serde::Serialize;
use veil_detect::DataClass;

use crate::{
    load::Policies,
    model::{Findings, Model, Operation, Principal, permille},
};

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The request may be forwarded, with the treatments applied.
    Allow,
    /// Nothing is forwarded.
    Deny,
}

/// How pseudonyms look, as configured for the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PseudonymMode {
    /// A tag such as `<PERSON_1>`.
    #[default]
    Tag,
    /// A realistic surrogate value of the same class.
    Surrogate,
}

/// What happens to one data class before the request leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "treatment", content = "mode")]
pub enum Treatment {
    /// Sent in clear.
    Pass,
    /// Replaced by a consistent pseudonym, restorable on the way back.
    Pseudonymize(PseudonymMode),
    /// Replaced by a fixed marker; not restorable.
    Redact,
    /// Not allowed to leave in any form: the request is denied.
    Block,
}

/// Why a request is denied. Deliberately exhaustive: a new reason must be handled by callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "class")]
pub enum Denial {
    /// The request action itself was not permitted (or was forbidden).
    Forbidden,
    /// A data class found in the request may not leave in any form.
    Blocked(DataClass),
    /// Building the request or evaluating a policy failed; see [`Decision::errors`].
    Error,
}

/// Something the policy wants recorded while still allowing the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Tool or document content scored as a likely injection.
    IndirectInjection,
}

/// The outcome of [`Policies::decide`]. Carries no payload, only classes and policy ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Why, when denied.
    pub denials: Vec<Denial>,
    /// The treatment of each data class found in the request.
    pub treatments: BTreeMap<DataClass, Treatment>,
    /// Classes whose originals this caller may see restored in the answer.
    pub restore: BTreeSet<DataClass>,
    /// Whether this caller may see `logprobs` / `top_logprobs`.
    pub see_logprobs: bool,
    /// Things to record although allowed.
    pub flags: Vec<Flag>,
    /// Ids of the policies that determined the decision (Cedar's reasons, all questions).
    pub policies: BTreeSet<String>,
    /// Evaluation errors; any error makes the verdict `Deny`.
    pub errors: Vec<String>,
}

impl Decision {
    /// Whether the request may be forwarded.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    fn deny_with_error(error: String) -> Self {
        Self {
            verdict: Verdict::Deny,
            denials: vec![Denial::Error],
            treatments: BTreeMap::new(),
            restore: BTreeSet::new(),
            see_logprobs: false,
            flags: Vec::new(),
            policies: BTreeSet::new(),
            errors: vec![error],
        }
    }
}

/// The Cedar actions, as entity uids built once.
pub(crate) struct Actions {
    pub(crate) chat: EntityUid,
    pub(crate) complete: EntityUid,
    pub(crate) embed: EntityUid,
    pub(crate) see_logprobs: EntityUid,
    pub(crate) flag_injection: EntityUid,
    pub(crate) send_clear: EntityUid,
    pub(crate) send_pseudonymized: EntityUid,
    pub(crate) send_redacted: EntityUid,
    pub(crate) restore: EntityUid,
}

impl Actions {
    pub(crate) fn new() -> Self {
        let action = |name: &str| crate::model::uid(&crate::names().action, name);
        Self {
            chat: action("chat"),
            complete: action("complete"),
            embed: action("embed"),
            see_logprobs: action("see_logprobs"),
            flag_injection: action("flag_injection"),
            send_clear: action("send_clear"),
            send_pseudonymized: action("send_pseudonymized"),
            send_redacted: action("send_redacted"),
            restore: action("restore"),
        }
    }

    fn operation(&self, op: Operation) -> &EntityUid {
        match op {
            Operation::Chat => &self.chat,
            Operation::Complete => &self.complete,
            Operation::Embed => &self.embed,
        }
    }
}

/// One evaluation in progress: collects reasons and errors across questions.
struct Run<'a> {
    policies: &'a Policies,
    entities: Entities,
    principal: &'a EntityUid,
    model: &'a EntityUid,
    reasons: BTreeSet<String>,
    errors: Vec<String>,
}

impl Run<'_> {
    /// Asks one question; `None` if the request could not even be built.
    fn ask(&mut self, action: &EntityUid, context: Context) -> bool {
        let request = match Request::new(
            self.principal.clone(),
            action.clone(),
            self.model.clone(),
            context,
            None,
        ) {
            Ok(request) => request,
            Err(err) => {
                self.errors
                    .push(format!("action `{}`: {err}", action.id().unescaped()));
                return false;
            }
        };
        let response =
            Authorizer::new().is_authorized(&request, &self.policies.set, &self.entities);
        let diagnostics = response.diagnostics();
        for id in diagnostics.reason() {
            self.reasons.insert(id.to_string());
        }
        for err in diagnostics.errors() {
            self.errors
                .push(format!("action `{}`: {err}", action.id().unescaped()));
        }
        response.decision() == CedarDecision::Allow
    }
}

fn set_of<'a>(values: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(
        values
            .into_iter()
            .map(|v| RestrictedExpression::new_string(v.to_owned())),
    )
}

impl Policies {
    /// Decides what may happen to a request of `principal` for `operation` on `model` carrying
    /// `findings`. Never fails: errors deny and are listed in [`Decision::errors`].
    pub fn decide(
        &self,
        principal: &Principal,
        operation: Operation,
        model: &Model,
        findings: &Findings,
    ) -> Decision {
        let names = crate::names();
        // Entities: the key, the model and the classes found (with their groups as parents).
        let class_entities = findings.classes.keys().map(|class| {
            self.class_entities.get(class).cloned().unwrap_or_else(|| {
                Entity::new_no_attrs(
                    crate::model::uid(&names.class, class.as_str()),
                    Default::default(),
                )
            })
        });
        let entities = Entities::from_entities(
            [principal.entity.clone(), model.entity.clone()]
                .into_iter()
                .chain(class_entities),
            None,
        );
        let entities = match entities {
            Ok(entities) => entities,
            Err(err) => return Decision::deny_with_error(format!("entities: {err}")),
        };
        let mut run = Run {
            policies: self,
            entities,
            principal: &principal.uid,
            model: &model.uid,
            reasons: BTreeSet::new(),
            errors: Vec::new(),
        };

        let class_uid = |class: &DataClass| crate::model::uid(&names.class, class.as_str());
        let injection = &findings.injection;
        let request_context = Context::from_pairs([
            (
                "classes".to_owned(),
                RestrictedExpression::new_set(
                    findings
                        .classes
                        .keys()
                        .map(|c| RestrictedExpression::new_entity_uid(class_uid(c))),
                ),
            ),
            (
                "findings".to_owned(),
                RestrictedExpression::new_set(findings.classes.iter().map(|(class, found)| {
                    RestrictedExpression::new_record([
                        (
                            "class".to_owned(),
                            RestrictedExpression::new_entity_uid(class_uid(class)),
                        ),
                        (
                            "count".to_owned(),
                            RestrictedExpression::new_long(i64::from(found.count)),
                        ),
                        (
                            "max_score".to_owned(),
                            RestrictedExpression::new_long(permille(found.max_score)),
                        ),
                        (
                            "origins".to_owned(),
                            set_of(found.origins.iter().map(|o| o.as_str())),
                        ),
                    ])
                    // A record built from distinct literal keys cannot fail; an error would
                    // surface as a context error below anyway.
                    .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
                })),
            ),
            (
                "injection".to_owned(),
                RestrictedExpression::new_record([
                    (
                        "caller".to_owned(),
                        RestrictedExpression::new_long(permille(injection.caller)),
                    ),
                    (
                        "tool".to_owned(),
                        RestrictedExpression::new_long(permille(injection.tool)),
                    ),
                    (
                        "document".to_owned(),
                        RestrictedExpression::new_long(permille(injection.document)),
                    ),
                    (
                        "signals".to_owned(),
                        set_of(injection.signals.iter().map(String::as_str)),
                    ),
                ])
                .unwrap_or_else(|_| RestrictedExpression::new_bool(false)),
            ),
        ]);
        let request_context = match request_context {
            Ok(context) => context,
            Err(err) => return Decision::deny_with_error(format!("context: {err}")),
        };

        let actions = &self.actions;
        let mut denials = Vec::new();
        if !run.ask(actions.operation(operation), request_context.clone()) {
            denials.push(Denial::Forbidden);
        }
        let mut flags = Vec::new();
        if run.ask(&actions.flag_injection, request_context.clone()) {
            flags.push(Flag::IndirectInjection);
        }
        let see_logprobs = run.ask(&actions.see_logprobs, request_context);

        let mut treatments = BTreeMap::new();
        let mut restore = BTreeSet::new();
        for (class, found) in &findings.classes {
            let context = Context::from_pairs([
                (
                    "operation".to_owned(),
                    RestrictedExpression::new_string(operation.as_str().to_owned()),
                ),
                (
                    "class".to_owned(),
                    RestrictedExpression::new_entity_uid(class_uid(class)),
                ),
                (
                    "count".to_owned(),
                    RestrictedExpression::new_long(i64::from(found.count)),
                ),
                (
                    "max_score".to_owned(),
                    RestrictedExpression::new_long(permille(found.max_score)),
                ),
                (
                    "origins".to_owned(),
                    set_of(found.origins.iter().map(|o| o.as_str())),
                ),
            ]);
            let context = match context {
                Ok(context) => context,
                Err(err) => {
                    run.errors
                        .push(format!("context of class `{class}`: {err}"));
                    treatments.insert(class.clone(), Treatment::Block);
                    denials.push(Denial::Blocked(class.clone()));
                    continue;
                }
            };
            // The first permitted treatment wins, from least to most protective.
            let treatment = if run.ask(&actions.send_clear, context.clone()) {
                Treatment::Pass
            } else if run.ask(&actions.send_pseudonymized, context.clone()) {
                Treatment::Pseudonymize(self.pseudonym_mode)
            } else if run.ask(&actions.send_redacted, context.clone()) {
                Treatment::Redact
            } else {
                denials.push(Denial::Blocked(class.clone()));
                Treatment::Block
            };
            treatments.insert(class.clone(), treatment);
            if run.ask(&actions.restore, context) {
                restore.insert(class.clone());
            }
        }

        if !run.errors.is_empty() {
            denials.push(Denial::Error);
        }
        Decision {
            verdict: if denials.is_empty() {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            denials,
            treatments,
            restore,
            see_logprobs: see_logprobs && run.errors.is_empty(),
            flags,
            policies: run.reasons,
            errors: run.errors,
        }
    }
}
