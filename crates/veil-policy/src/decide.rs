//! Evaluation: one Cedar question per request-level action, then a short chain of questions per
//! data class that derives its treatment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use cedar_policy::{
    ActionConstraint, Context, Decision as CedarDecision, Entities, Entity, EntityUid, PolicySet,
    Request, RestrictedExpression, Schema,
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

/// One Cedar action with the policies that can apply to it.
pub(crate) struct Question {
    pub(crate) uid: EntityUid,
    /// The policies of the loaded set whose action scope can match `uid`: unscoped ones, `==`
    /// this action, or `in` a list naming it or one of its schema groups. Every other policy
    /// is false for this action by its scope alone (Cedar evaluates the scope first and
    /// short-circuits), so it can neither be a reason nor raise an error: evaluating this
    /// subset gives the decision, reasons and errors of the whole set, for a fraction of the
    /// work (Cedar evaluates every policy of a set on each question).
    policies: PolicySet,
}

impl Question {
    fn new(name: &str, set: &PolicySet, groups: &Entities) -> Result<Self, String> {
        let uid = crate::model::uid(&crate::names().action, name);
        let mut scope: Vec<&EntityUid> = vec![&uid];
        if let Some(ancestors) = groups.ancestors(&uid) {
            scope.extend(ancestors);
        }
        let mut policies = PolicySet::new();
        for policy in set.policies() {
            let can_match = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(action) => scope.contains(&&action),
                ActionConstraint::In(actions) => actions.iter().any(|a| scope.contains(&a)),
            };
            if can_match {
                policies
                    .add(policy.clone())
                    .map_err(|err| format!("action `{name}`: {err}"))?;
            }
        }
        Ok(Self { uid, policies })
    }
}

/// The Cedar actions, built once at load with their share of the policy set.
pub(crate) struct Actions {
    pub(crate) chat: Question,
    pub(crate) complete: Question,
    pub(crate) embed: Question,
    pub(crate) see_logprobs: Question,
    pub(crate) flag_injection: Question,
    pub(crate) send_clear: Question,
    pub(crate) send_pseudonymized: Question,
    pub(crate) send_redacted: Question,
    pub(crate) restore: Question,
}

impl Actions {
    /// Partitions `set` by action; `schema` supplies the action groups, if any.
    pub(crate) fn new(set: &PolicySet, schema: &Schema) -> Result<Self, String> {
        let groups = schema
            .action_entities()
            .map_err(|err| format!("action groups: {err}"))?;
        let question = |name: &str| Question::new(name, set, &groups);
        Ok(Self {
            chat: question("chat")?,
            complete: question("complete")?,
            embed: question("embed")?,
            see_logprobs: question("see_logprobs")?,
            flag_injection: question("flag_injection")?,
            send_clear: question("send_clear")?,
            send_pseudonymized: question("send_pseudonymized")?,
            send_redacted: question("send_redacted")?,
            restore: question("restore")?,
        })
    }

    fn operation(&self, op: Operation) -> &Question {
        match op {
            Operation::Chat => &self.chat,
            Operation::Complete => &self.complete,
            Operation::Embed => &self.embed,
        }
    }
}

/// Which policies each question is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Only those whose action scope can match (the request path).
    ByAction,
    /// The whole set, as loaded: the reference the partition is tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    WholeSet,
}

/// Everything the per-class questions of a decision depend on: the principal and model
/// (their identities, which determine their entities), the operation, the classes found
/// (which class entities the store holds) and this class's count, score and origins as
/// Cedar sees them. The request-level questions (operation, injection flag, logprobs)
/// depend on the injection scores too, which vary from prompt to prompt; they are asked
/// every time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClassKey {
    principal: Arc<str>,
    model: Arc<str>,
    operation: Operation,
    found: Arc<[DataClass]>,
    class: DataClass,
    count: u32,
    max_score: i64,
    origins: BTreeSet<crate::Origin>,
}

/// What the per-class questions answered for one class, with the policy ids and errors they
/// produced.
#[derive(Debug, Clone)]
struct ClassAnswer {
    treatment: Treatment,
    restore: bool,
    blocked: bool,
    reasons: Vec<String>,
    errors: Vec<String>,
}

/// Most per-class answers remembered; the memo starts over when full.
const CLASS_MEMO_LIMIT: usize = 4096;

/// What recent decisions computed, to skip recomputing it. Cedar evaluation is a pure
/// function of the policies (fixed once loaded), the entities and the context, so an answer
/// found under an equal [`ClassKey`] is the answer Cedar would give again: four questions per
/// class (16 of the 19 of a four-class prompt) are skipped when one key keeps sending the
/// same kinds of values to one model. Tested against fresh evaluation of the whole set (the
/// partition property test decides each input twice, so the second hits the memo).
#[derive(Debug, Default)]
pub(crate) struct ClassMemo {
    /// Per-class answers.
    answers: Memo<ClassKey, Arc<ClassAnswer>>,
    /// Entity stores by principal, model and classes found (what they are built from).
    entities: Memo<EntitiesKey, Arc<Entities>>,
}

/// Principal identity, model identity, classes found.
type EntitiesKey = (Arc<str>, Arc<str>, Arc<[DataClass]>);

/// A map of at most [`CLASS_MEMO_LIMIT`] entries, shared by every request.
#[derive(Debug)]
struct Memo<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Memo<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Remembers `value`; a full memo starts over (simpler than eviction, and one key's
    /// working set is far smaller than the bound).
    fn insert(&self, key: K, value: V) {
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.len() >= CLASS_MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(key, value);
    }
}

/// One evaluation in progress: collects reasons and errors across questions.
struct Run<'a> {
    policies: &'a Policies,
    scope: Scope,
    entities: Arc<Entities>,
    principal: &'a EntityUid,
    model: &'a EntityUid,
    reasons: BTreeSet<String>,
    errors: Vec<String>,
}

impl Run<'_> {
    /// Asks one question; `false` (deny) if the request could not even be built.
    fn ask(&mut self, question: &Question, context: &Context) -> bool {
        let set = match self.scope {
            Scope::ByAction => &question.policies,
            Scope::WholeSet => &self.policies.set,
        };
        // No policy can apply: Cedar's answer is a deny with no reason and no error.
        if set.is_empty() {
            return false;
        }
        let action = &question.uid;
        let request = match Request::new(
            self.principal.clone(),
            action.clone(),
            self.model.clone(),
            context.clone(),
            None,
        ) {
            Ok(request) => request,
            Err(err) => {
                self.errors
                    .push(format!("action `{}`: {err}", action.id().unescaped()));
                return false;
            }
        };
        let response = self
            .policies
            .authorizer
            .is_authorized(&request, set, &self.entities);
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
        self.decide_in(Scope::ByAction, principal, operation, model, findings)
    }

    fn decide_in(
        &self,
        scope: Scope,
        principal: &Principal,
        operation: Operation,
        model: &Model,
        findings: &Findings,
    ) -> Decision {
        let names = crate::names();
        // Entities: the key, the model and the classes found (with their groups as parents),
        // built once per principal, model and set of classes found.
        let found_classes: Arc<[DataClass]> = findings.classes.keys().cloned().collect();
        let entities_key = (
            principal.identity.clone(),
            model.identity.clone(),
            found_classes.clone(),
        );
        let remembered = match scope {
            Scope::ByAction => self.class_memo.entities.get(&entities_key),
            Scope::WholeSet => None,
        };
        let entities = match remembered {
            Some(entities) => entities,
            None => {
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
                match entities {
                    Ok(entities) => {
                        let entities = Arc::new(entities);
                        if scope == Scope::ByAction {
                            self.class_memo
                                .entities
                                .insert(entities_key, entities.clone());
                        }
                        entities
                    }
                    Err(err) => return Decision::deny_with_error(format!("entities: {err}")),
                }
            }
        };
        let mut run = Run {
            policies: self,
            scope,
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
                        "caller_attack".to_owned(),
                        RestrictedExpression::new_bool(injection.caller_attack),
                    ),
                    (
                        "tool_attack".to_owned(),
                        RestrictedExpression::new_bool(injection.tool_attack),
                    ),
                    (
                        "document_attack".to_owned(),
                        RestrictedExpression::new_bool(injection.document_attack),
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
        if !run.ask(actions.operation(operation), &request_context) {
            denials.push(Denial::Forbidden);
        }
        let mut flags = Vec::new();
        if run.ask(&actions.flag_injection, &request_context) {
            flags.push(Flag::IndirectInjection);
        }
        let see_logprobs = run.ask(&actions.see_logprobs, &request_context);

        let mut treatments = BTreeMap::new();
        let mut restore = BTreeSet::new();
        for (class, found) in &findings.classes {
            let key = ClassKey {
                principal: principal.identity.clone(),
                model: model.identity.clone(),
                operation,
                found: found_classes.clone(),
                class: class.clone(),
                count: found.count,
                max_score: permille(found.max_score),
                origins: found.origins.clone(),
            };
            let remembered = match scope {
                Scope::ByAction => self.class_memo.answers.get(&key),
                Scope::WholeSet => None,
            };
            if let Some(answer) = remembered {
                run.reasons.extend(answer.reasons.iter().cloned());
                run.errors.extend(answer.errors.iter().cloned());
                if answer.blocked {
                    denials.push(Denial::Blocked(class.clone()));
                }
                treatments.insert(class.clone(), answer.treatment);
                if answer.restore {
                    restore.insert(class.clone());
                }
                continue;
            }
            // This class's reasons and errors, kept apart to be remembered.
            let outer_reasons = std::mem::take(&mut run.reasons);
            let errors_before = run.errors.len();
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
                    run.reasons.extend(outer_reasons);
                    run.errors
                        .push(format!("context of class `{class}`: {err}"));
                    treatments.insert(class.clone(), Treatment::Block);
                    denials.push(Denial::Blocked(class.clone()));
                    continue;
                }
            };
            // The first permitted treatment wins, from least to most protective.
            let mut blocked = false;
            let treatment = if run.ask(&actions.send_clear, &context) {
                Treatment::Pass
            } else if run.ask(&actions.send_pseudonymized, &context) {
                Treatment::Pseudonymize(self.pseudonym_mode)
            } else if run.ask(&actions.send_redacted, &context) {
                Treatment::Redact
            } else {
                denials.push(Denial::Blocked(class.clone()));
                blocked = true;
                Treatment::Block
            };
            treatments.insert(class.clone(), treatment);
            let restorable = run.ask(&actions.restore, &context);
            if restorable {
                restore.insert(class.clone());
            }
            let class_reasons = std::mem::replace(&mut run.reasons, outer_reasons);
            let answer = ClassAnswer {
                treatment,
                restore: restorable,
                blocked,
                reasons: class_reasons.iter().cloned().collect(),
                errors: run.errors.get(errors_before..).unwrap_or_default().to_vec(),
            };
            run.reasons.extend(class_reasons);
            if scope == Scope::ByAction {
                self.class_memo.answers.insert(key, Arc::new(answer));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use proptest::prelude::*;
    use veil_detect::DataClass;

    use super::Scope;
    use crate::{Findings, Hosting, Model, Operation, Origin, Policies, Principal, Sources};

    /// Policies beyond the default set's shapes: an unscoped action, an `in` list spanning both
    /// kinds of question, and a `when` that errors (an overflow when a class is found twice).
    const EXTRA: &str = r#"
@id("extra-unscoped-forbid")
forbid (principal, action, resource) when { principal.tenant == "blocked" };

@id("extra-in-list")
permit (principal in Veil::Role::"auditor", action in [Veil::Action::"send_clear", Veil::Action::"see_logprobs"], resource);

@id("extra-overflow-error")
forbid (principal, action == Veil::Action::"restore", resource)
when { context.count * 4611686018427387904 > 0 };
"#;

    fn sets() -> Vec<Policies> {
        let mut extra = Sources::default_set();
        extra
            .policies
            .push(("extra.cedar".to_owned(), EXTRA.to_owned()));
        vec![
            Policies::default_set().unwrap(),
            Policies::load(extra).unwrap(),
        ]
    }

    fn any_class() -> impl Strategy<Value = DataClass> {
        prop::sample::select(DataClass::BUILT_IN.to_vec())
    }

    fn any_origins() -> impl Strategy<Value = Vec<Origin>> {
        prop::sample::subsequence(vec![Origin::Caller, Origin::Tool, Origin::Document], 1..=3)
    }

    #[test]
    fn the_partition_is_smaller_than_the_set() {
        let policies = Policies::default_set().unwrap();
        let total = policies.set.policies().count();
        for question in [
            &policies.actions.chat,
            &policies.actions.send_clear,
            &policies.actions.restore,
        ] {
            let part = question.policies.policies().count();
            assert!(part > 0 && part < total, "{part} of {total}");
        }
        assert!(policies.actions.see_logprobs.policies.policies().count() < total);
    }

    /// The memo keys on everything an answer depends on: another model, role or score gives
    /// the other answer, not the remembered one.
    #[test]
    fn remembered_answers_follow_their_inputs() {
        let policies = Policies::default_set().unwrap();
        let clinician = Principal::new("k", "acme", ["clinician"], []).unwrap();
        let analyst = Principal::new("k", "acme", ["analyst"], []).unwrap();
        let person = DataClass::parse_any("PERSON").unwrap();
        let approving = Model::new("m", Hosting::OnPrem, "r", [&person]).unwrap();
        let other = Model::new("m", Hosting::OnPrem, "r", []).unwrap();
        let mut findings = Findings::default();
        findings.add(person.clone(), 0.9, Origin::Caller);
        for _ in 0..2 {
            let pass = policies.decide(&clinician, Operation::Chat, &approving, &findings);
            assert_eq!(pass.treatments[&person], crate::Treatment::Pass);
            assert!(pass.restore.contains(&person));
            let pseudo = policies.decide(&clinician, Operation::Chat, &other, &findings);
            assert!(matches!(
                pseudo.treatments[&person],
                crate::Treatment::Pseudonymize(_)
            ));
            let analyst = policies.decide(&analyst, Operation::Chat, &other, &findings);
            assert!(!analyst.restore.contains(&person));
            let embed = policies.decide(&clinician, Operation::Embed, &other, &findings);
            assert_eq!(embed.treatments[&person], crate::Treatment::Redact);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Evaluating each question against its action's share of the set gives exactly the
        /// decision of the whole set: verdict, treatments, restore, flags, policy ids, errors.
        #[test]
        fn partitioned_evaluation_decides_as_the_whole_set(
            roles in prop::sample::subsequence(
                vec!["admin", "clinician", "analyst", "auditor", "other"], 0..=5),
            tenant in prop::sample::select(vec!["acme", "blocked"]),
            cloud in any::<bool>(),
            approved in prop::collection::vec(any_class(), 0..10),
            found in prop::collection::vec(
                (any_class(), 0.0f32..=1.0, any_origins()), 0..12),
            injection in (0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=1.0),
            attacks in (any::<bool>(), any::<bool>(), any::<bool>()),
            op in prop::sample::select(vec![Operation::Chat, Operation::Complete, Operation::Embed]),
        ) {
            let principal = Principal::new("k", tenant, roles, []).unwrap();
            let hosting = if cloud { Hosting::Cloud } else { Hosting::OnPrem };
            let model = Model::new("m", hosting, "r", &approved).unwrap();
            let mut findings = Findings::default();
            for (class, score, origins) in found {
                for origin in origins {
                    findings.add(class.clone(), score, origin);
                }
            }
            (findings.injection.caller, findings.injection.tool, findings.injection.document) =
                injection;
            (
                findings.injection.caller_attack,
                findings.injection.tool_attack,
                findings.injection.document_attack,
            ) = attacks;
            for policies in sets() {
                let by_action =
                    policies.decide_in(Scope::ByAction, &principal, op, &model, &findings);
                // The second time, every class's answer comes from the memo.
                let remembered =
                    policies.decide_in(Scope::ByAction, &principal, op, &model, &findings);
                let whole =
                    policies.decide_in(Scope::WholeSet, &principal, op, &model, &findings);
                prop_assert_eq!(&by_action, &whole);
                prop_assert_eq!(remembered, whole);
            }
        }
    }
}
