//! Policy test cases: TOML files beside the policies, run by `veil policy test`.
//!
//! ```toml
//! [models.echo]
//! hosting = "on_prem"
//! approved = []
//!
//! [[case]]
//! name = "a clinician's patient name is pseudonymized for echo"
//! principal = { roles = ["clinician"] }
//! action = "chat"
//! model = "echo"
//! findings = [{ class = "PERSON" }]
//! expect = { decision = "allow", treatments = { PERSON = "pseudonymize" }, restore = ["PERSON"] }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use veil_detect::DataClass;

use crate::{
    decide::{Decision, Flag, Treatment, Verdict},
    load::{Diagnostic, LoadError, Policies},
    model::{ClassFindings, Findings, Hosting, Injection, Model, Operation, Origin, Principal},
};

/// A parsed test-case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCases {
    /// Models the cases refer to by name.
    #[serde(default)]
    models: BTreeMap<String, ModelSpec>,
    /// The cases, in file order.
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSpec {
    hosting: Hosting,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    approved: Vec<DataClass>,
}

fn default_region() -> String {
    "local".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalSpec {
    #[serde(default = "default_key")]
    key: String,
    #[serde(default = "default_key")]
    tenant: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

fn default_key() -> String {
    "test".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingSpec {
    class: DataClass,
    #[serde(default = "one")]
    count: u32,
    #[serde(default = "full")]
    max_score: f32,
    #[serde(default = "caller")]
    origins: Vec<Origin>,
}

fn one() -> u32 {
    1
}
fn full() -> f32 {
    1.0
}
fn caller() -> Vec<Origin> {
    vec![Origin::Caller]
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectionSpec {
    #[serde(default)]
    caller: f32,
    #[serde(default)]
    tool: f32,
    #[serde(default)]
    document: f32,
    #[serde(default)]
    caller_attack: bool,
    #[serde(default)]
    tool_attack: bool,
    #[serde(default)]
    document_attack: bool,
    #[serde(default)]
    signals: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ExpectedTreatment {
    Pass,
    Pseudonymize,
    Redact,
    Block,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: Verdict,
    treatments: Option<BTreeMap<DataClass, ExpectedTreatment>>,
    restore: Option<BTreeSet<DataClass>>,
    see_logprobs: Option<bool>,
    flagged: Option<bool>,
    /// Policy ids that must be among the decision's reasons.
    #[serde(default)]
    policies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    principal: PrincipalSpec,
    action: Operation,
    model: String,
    #[serde(default)]
    findings: Vec<FindingSpec>,
    #[serde(default)]
    injection: InjectionSpec,
    expect: Expect,
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "allow" => Ok(Verdict::Allow),
            "deny" => Ok(Verdict::Deny),
            other => Err(serde::de::Error::custom(format!(
                "unknown decision `{other}` (expected `allow` or `deny`)"
            ))),
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// File the case comes from.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// What differed from the expectation; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseOutcome {
    /// Whether the decision matched the expectation.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl TestCases {
    /// Parses a test-case file; errors name the file, line and column.
    pub fn parse(file: &str, text: &str) -> Result<Self, LoadError> {
        toml::from_str(text).map_err(|err| {
            let (line, column) = err.span().map_or((0, 0), |s| {
                let before = text.get(..s.start).unwrap_or(text);
                (
                    before.matches('\n').count() + 1,
                    before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                )
            });
            LoadError {
                diagnostics: vec![Diagnostic {
                    file: file.to_owned(),
                    line,
                    column,
                    message: err.message().to_owned(),
                }],
            }
        })
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Runs every case against `policies`.
    pub fn run(&self, file: &str, policies: &Policies) -> Vec<CaseOutcome> {
        self.cases
            .iter()
            .map(|case| CaseOutcome {
                file: file.to_owned(),
                name: case.name.clone(),
                failures: self.run_case(case, policies),
            })
            .collect()
    }

    fn run_case(&self, case: &Case, policies: &Policies) -> Vec<String> {
        let Some(spec) = self.models.get(&case.model) else {
            return vec![format!("unknown model `{}`", case.model)];
        };
        let model = match Model::new(&case.model, spec.hosting, &spec.region, &spec.approved) {
            Ok(model) => model,
            Err(err) => return vec![err.to_string()],
        };
        let p = &case.principal;
        let principal = match Principal::new(
            &p.key,
            &p.tenant,
            p.roles.iter().map(String::as_str),
            p.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Ok(principal) => principal,
            Err(err) => return vec![err.to_string()],
        };
        let findings = Findings {
            classes: case
                .findings
                .iter()
                .map(|f| {
                    (
                        f.class.clone(),
                        ClassFindings {
                            count: f.count,
                            max_score: f.max_score,
                            origins: f.origins.iter().copied().collect(),
                        },
                    )
                })
                .collect(),
            injection: Injection {
                caller: case.injection.caller,
                tool: case.injection.tool,
                document: case.injection.document,
                caller_attack: case.injection.caller_attack,
                tool_attack: case.injection.tool_attack,
                document_attack: case.injection.document_attack,
                signals: case.injection.signals.iter().cloned().collect(),
            },
        };
        let decision = policies.decide(&principal, case.action, &model, &findings);
        compare(&case.expect, &decision)
    }
}

fn compare(expect: &Expect, decision: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    if expect.decision != decision.verdict {
        failures.push(format!(
            "decision: expected {:?}, got {:?} (denials {:?}, policies {:?}, errors {:?})",
            expect.decision, decision.verdict, decision.denials, decision.policies, decision.errors
        ));
    }
    if let Some(treatments) = &expect.treatments {
        for (class, want) in treatments {
            let got = decision.treatments.get(class).map(|t| match t {
                Treatment::Pass => ExpectedTreatment::Pass,
                Treatment::Pseudonymize(_) => ExpectedTreatment::Pseudonymize,
                Treatment::Redact => ExpectedTreatment::Redact,
                Treatment::Block => ExpectedTreatment::Block,
            });
            if got != Some(*want) {
                failures.push(format!(
                    "treatment of `{class}`: expected {want:?}, got {got:?}"
                ));
            }
        }
    }
    if let Some(restore) = &expect.restore
        && restore != &decision.restore
    {
        failures.push(format!(
            "restore: expected {restore:?}, got {:?}",
            decision.restore
        ));
    }
    if let Some(see) = expect.see_logprobs
        && see != decision.see_logprobs
    {
        failures.push(format!(
            "see_logprobs: expected {see}, got {}",
            decision.see_logprobs
        ));
    }
    if let Some(flagged) = expect.flagged {
        let got = decision.flags.contains(&Flag::IndirectInjection);
        if flagged != got {
            failures.push(format!("flagged: expected {flagged}, got {got}"));
        }
    }
    for id in &expect.policies {
        if !decision.policies.contains(id) {
            failures.push(format!(
                "policy `{id}` expected among the reasons {:?}",
                decision.policies
            ));
        }
    }
    failures
}
