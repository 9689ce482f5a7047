#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The default set against its own cases, load errors, evaluation errors, SECRET property.

use proptest::prelude::*;
use veil_detect::DataClass;
use veil_policy::{
    Denial, Findings, Hosting, Model, Operation, Origin, Policies, Sources, TestCases, Treatment,
    Verdict,
};

#[test]
fn default_cases_pass() {
    let policies = Policies::default_set().unwrap();
    let sources = Sources::default_set();
    let (file, text) = &sources.tests[0];
    let cases = TestCases::parse(file, text).unwrap();
    assert!(cases.len() >= 20);
    let outcomes = cases.run(file, &policies);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_default_policy_is_exercised_by_a_case() {
    let sources = Sources::default_set();
    let tests = &sources.tests[0].1;
    let policies = Policies::default_set().unwrap();
    for (id, _, line) in policies.policy_ids() {
        assert!(line > 0, "{id}");
        assert!(
            tests.contains(&format!("# ---- {id}")) || tests.contains(&format!("\"{id}\"")),
            "{id}"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_the_case() {
    let policies = Policies::default_set().unwrap();
    let text = r#"
[models.echo]
hosting = "on_prem"
[[case]]
name = "wrong"
principal = {}
action = "chat"
model = "echo"
findings = [{ class = "PERSON" }]
expect = { decision = "allow", treatments = { PERSON = "pass" } }
"#;
    let outcomes = TestCases::parse("t.toml", text)
        .unwrap()
        .run("t.toml", &policies);
    assert!(!outcomes[0].passed());
    assert!(
        outcomes[0].failures[0].contains("PERSON"),
        "{:?}",
        outcomes[0].failures
    );
}

fn with_policy(extra: &str) -> Sources {
    let mut sources = Sources::default_set();
    sources
        .policies
        .push(("extra.cedar".to_owned(), extra.to_owned()));
    sources
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let err = Policies::load(with_policy(
        "\n\npermit (principal, action, resource) when { ;\n",
    ))
    .unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(d.file, "extra.cedar");
    assert_eq!(d.line, 3, "{err}");
}

#[test]
fn a_schema_error_names_file_line_and_policy() {
    let err = Policies::load(with_policy(
        "// comment\n@id(\"bad\")\npermit (principal, action == Veil::Action::\"chat\", resource)\nwhen { resource.colour == \"red\" };\n",
    ))
    .unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(d.file, "extra.cedar");
    assert_eq!(d.line, 4, "{err}");
    assert!(d.message.contains("`bad`"), "{err}");
    assert!(d.message.contains("colour"), "{err}");
}

#[test]
fn a_valid_extra_policy_loads() {
    Policies::load(with_policy(
        "@id(\"good\")\nforbid (principal, action == Veil::Action::\"chat\", resource)\nwhen { resource.region == \"us-east\" };\n",
    ))
    .unwrap();
}

#[test]
fn duplicate_ids_are_rejected() {
    let err = Policies::load(with_policy(
        "@id(\"request-permit\")\npermit (principal, action == Veil::Action::\"chat\", resource);\n",
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("duplicate policy id `request-permit`"),
        "{err}"
    );
}

#[test]
fn an_unknown_class_in_groups_is_rejected() {
    let mut sources = Sources::default_set();
    sources.groups.1 = "PHI = [\"PERSON\", \"nope\"]\n".to_owned();
    let err = Policies::load(sources).unwrap_err();
    assert!(err.to_string().contains("groups.toml:1:"), "{err}");
}

#[test]
fn an_evaluation_error_denies_with_diagnostics() {
    // Strict validation rules out missing attributes and tags, but not integer overflow: a
    // policy that validates can still fail at evaluation, and that must deny. The error is
    // reached only for keys without a `ward` tag, so the pair below evaluates normally.
    let policies = Policies::load(with_policy(
        "@id(\"ward-tag\")\nforbid (principal, action == Veil::Action::\"chat\", resource)\nwhen { !principal.hasTag(\"ward\") && 9223372036854775807 + 1 > 0 };\n",
    ));
    let policies = match policies {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    };
    let model = Model::echo().unwrap();
    let findings = Findings::default();
    let without = veil_policy::Principal::new("k", "t", [], []).unwrap();
    let decision = policies.decide(&without, Operation::Chat, &model, &findings);
    assert_eq!(decision.verdict, Verdict::Deny);
    assert!(decision.denials.contains(&Denial::Error));
    assert!(
        decision.errors.iter().any(|e| e.contains("ward-tag")),
        "{:?}",
        decision.errors
    );
    // The pair: with the tag present the request is evaluated normally.
    let with = veil_policy::Principal::new("k", "t", [], [("ward", "open")]).unwrap();
    let decision = policies.decide(&with, Operation::Chat, &model, &findings);
    assert_eq!(decision.verdict, Verdict::Allow, "{:?}", decision.errors);
}

fn any_class() -> impl Strategy<Value = DataClass> {
    prop::sample::select(DataClass::BUILT_IN.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn a_secret_always_blocks(
        roles in prop::sample::subsequence(vec!["admin", "clinician", "analyst", "other"], 0..=4),
        cloud in any::<bool>(),
        approved in prop::collection::vec(any_class(), 0..8),
        approve_secret in any::<bool>(),
        others in prop::collection::vec(any_class(), 0..4),
        op in prop::sample::select(vec![Operation::Chat, Operation::Complete, Operation::Embed]),
    ) {
        let policies = Policies::default_set().unwrap();
        let mut approved = approved;
        if approve_secret { approved.push(DataClass::Secret); }
        let hosting = if cloud { Hosting::Cloud } else { Hosting::OnPrem };
        let model = Model::new("m", hosting, "r", &approved).unwrap();
        let principal = veil_policy::Principal::new("k", "t", roles, []).unwrap();
        let mut findings = Findings::default();
        for class in others { findings.add(class, 0.9, Origin::Caller); }
        findings.add(DataClass::Secret, 0.99, Origin::Tool);
        let decision = policies.decide(&principal, op, &model, &findings);
        prop_assert_eq!(decision.verdict, Verdict::Deny);
        prop_assert_eq!(decision.treatments.get(&DataClass::Secret), Some(&Treatment::Block));
        prop_assert!(decision.denials.contains(&Denial::Blocked(DataClass::Secret)));
    }
}
