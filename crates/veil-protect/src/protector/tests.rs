use std::sync::Arc;

use proptest::prelude::*;
use veil_detect::Evidence;

use super::*;
use crate::MemoryStore;

fn finding(class: DataClass, bytes: Range<usize>) -> Finding {
    Finding {
        class,
        chars: bytes.clone(),
        bytes,
        score: 0.9,
        recognizer: "test",
        evidence: Evidence::default(),
    }
}

fn root(byte: u8) -> RootKey {
    RootKey::from_bytes([byte; 32])
}

fn protector(policy: Policy, tenant: &str, conversation: &str, key: u8) -> Protector {
    Protector::new(
        policy,
        ScopeId::new(tenant, conversation),
        Arc::new(MemoryStore::new()),
        Some(&root(key)),
    )
    .unwrap()
}

/// Finds every occurrence of each value in `text` and returns findings for them.
fn findings_for(text: &str, values: &[(&str, DataClass)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (value, class) in values {
        for (start, _) in text.match_indices(value) {
            out.push(finding(class.clone(), start..start + value.len()));
        }
    }
    out.sort_by_key(|f| f.bytes.start);
    out
}

const SAMPLE: &str = "Patient Jane Roe (jane.roe@corp.com, SSN 123-45-6789) paid with \
4111 1111 1111 1111; call +1 415 867 5309. Jane Roe again: jane.roe@corp.com.";

fn sample_findings() -> Vec<Finding> {
    findings_for(
        SAMPLE,
        &[
            ("Jane Roe", DataClass::Person),
            ("jane.roe@corp.com", DataClass::EmailAddress),
            ("123-45-6789", DataClass::UsSsn),
            ("4111 1111 1111 1111", DataClass::CreditCard),
            ("+1 415 867 5309", DataClass::PhoneNumber),
        ],
    )
}

#[test]
fn each_operator_on_the_sample() {
    let mut snapshots = Vec::new();
    for op in [
        "tag",
        "redact",
        "mask",
        "mask:2:#",
        "hash:12",
        "fpe",
        "surrogate",
        "keep",
    ] {
        let p = protector(Policy::new(op.parse().unwrap()), "t", "c", 1);
        let out = p.protect(SAMPLE, &sample_findings()).unwrap();
        snapshots.push(format!("{op:>9}: {}", out.text));
    }
    // FPE and surrogates are keyed but deterministic, so the snapshot is stable.
    insta::assert_snapshot!(snapshots.join("\n"));
}

#[test]
fn tags_are_consistent_and_restore() {
    let p = protector(Policy::default(), "t", "c", 1);
    let out = p.protect(SAMPLE, &sample_findings()).unwrap();
    assert_eq!(out.text.matches("<PERSON_1>").count(), 2);
    assert_eq!(out.text.matches("<EMAIL_ADDRESS_1>").count(), 2);
    assert_eq!(p.restore(&out.text).unwrap().expose(), SAMPLE);
    assert_eq!(out.counts().get(&DataClass::Person), Some(&2));
    // A second text in the same scope reuses the tags.
    let again = p
        .protect("to Jane Roe", &[finding(DataClass::Person, 3..11)])
        .unwrap();
    assert_eq!(again.text, "to <PERSON_1>");
}

#[test]
fn tags_do_not_restore_in_another_scope() {
    let a = protector(Policy::default(), "t", "c1", 1);
    let b = protector(Policy::default(), "t", "c2", 1);
    let out = a.protect(SAMPLE, &sample_findings()).unwrap();
    // Scope b never saw these values: nothing is restored.
    assert_eq!(b.restore(&out.text).unwrap().expose(), &out.text);
}

#[test]
fn surrogates_are_consistent_restore_and_differ_across_tenants_and_keys() {
    let policy = Policy::new(Operator::Surrogate);
    let p = protector(policy.clone(), "t", "c", 1);
    let out = p.protect(SAMPLE, &sample_findings()).unwrap();
    for value in [
        "Jane Roe",
        "jane.roe@corp.com",
        "123-45-6789",
        "4111 1111 1111 1111",
    ] {
        assert!(!out.text.contains(value));
    }
    assert_eq!(p.restore(&out.text).unwrap().expose(), SAMPLE);
    // Same tenant and key, another conversation: the same fakes (derived from the HMAC).
    let same_tenant = protector(policy.clone(), "t", "other", 1);
    assert_eq!(
        same_tenant
            .protect(SAMPLE, &sample_findings())
            .unwrap()
            .text,
        out.text
    );
    // Another tenant or another root key: different fakes.
    let other_tenant = protector(policy.clone(), "u", "c", 1);
    assert_ne!(
        other_tenant
            .protect(SAMPLE, &sample_findings())
            .unwrap()
            .text,
        out.text
    );
    let other_key = protector(policy, "t", "c", 2);
    assert_ne!(
        other_key.protect(SAMPLE, &sample_findings()).unwrap().text,
        out.text
    );
}

#[test]
fn encrypt_restores_and_tampering_does_not() {
    let p = protector(Policy::new(Operator::Encrypt), "t", "c", 1);
    let out = p.protect(SAMPLE, &sample_findings()).unwrap();
    assert!(!out.text.contains("jane.roe"));
    assert_eq!(p.restore(&out.text).unwrap().expose(), SAMPLE);
    let first = out.changes.first().unwrap();
    let token = &out.text[first.output.clone()];
    let (class, value) = p.restore_token(token).unwrap();
    assert_eq!(
        (class, value.expose().as_str()),
        (DataClass::Person, "Jane Roe")
    );
    // Another tenant's protector cannot open it; restore leaves the token in place.
    let other = protector(Policy::new(Operator::Encrypt), "u", "c", 1);
    assert!(matches!(
        other.restore_token(token),
        Err(ProtectError::BadToken)
    ));
    assert_eq!(other.restore(token).unwrap().expose(), token);
}

#[test]
fn fpe_restores_by_value_and_short_values_fall_back_to_redact() {
    let p = protector(Policy::new(Operator::Fpe), "t", "c", 1);
    let text = "SSN 123-45-6789 age 42";
    let findings = [
        finding(DataClass::UsSsn, 4..15),
        finding(DataClass::Age, 20..22),
    ];
    let out = p.protect(text, &findings).unwrap();
    let enc = &out.text[out.changes[0].output.clone()];
    assert_eq!(enc.len(), 11);
    assert_ne!(enc, "123-45-6789");
    assert_eq!(
        p.restore_fpe(&DataClass::UsSsn, enc).unwrap().expose(),
        "123-45-6789"
    );
    assert!(out.text.ends_with("age <AGE>"));
}

#[test]
fn keyed_operators_need_a_key_and_tag_does_not() {
    let store: Arc<dyn MappingStore> = Arc::new(MemoryStore::new());
    let scope = ScopeId::new("t", "c");
    for op in ["hash", "encrypt", "fpe", "surrogate"] {
        let err = Protector::new(
            Policy::new(op.parse().unwrap()),
            scope.clone(),
            store.clone(),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, ProtectError::KeyRequired { .. }), "{op}");
    }
    let policy = Policy::new(Operator::Tag).with(DataClass::UsSsn, Operator::Hash { hex_len: 16 });
    assert!(Protector::new(policy, scope.clone(), store.clone(), None).is_err());
    assert!(Protector::new(Policy::default(), scope, store, None).is_ok());
}

#[test]
fn bad_spans_are_errors_without_the_value() {
    let p = protector(Policy::default(), "t", "c", 1);
    let err = p
        .protect("héllo secret", &[finding(DataClass::Secret, 2..20)])
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("SECRET") && !msg.contains("secret"), "{msg}");
    // Splitting a multi-byte character is refused too.
    assert!(
        p.protect("héllo", &[finding(DataClass::Secret, 2..3)])
            .is_err()
    );
}

#[test]
fn overlapping_findings_are_merged_so_nothing_leaks() {
    let p = protector(Policy::new(Operator::Redact), "t", "c", 1);
    let text = "key sk-ABCDEF123456 end";
    let out = p
        .protect(
            text,
            &[
                finding(DataClass::Secret, 4..12),
                finding(DataClass::Secret, 8..19),
            ],
        )
        .unwrap();
    assert_eq!(out.text, "key <SECRET> end");
}

#[test]
fn mask_keeps_separators_and_last_n() {
    assert_eq!(mask("4111-1111-1111-1234", 4, '*'), "****-****-****-1234");
    assert_eq!(mask("ab", 4, '*'), "*b");
    assert_eq!(mask("42", 0, '*'), "**");
    assert_eq!(mask("1234", 4, '#'), "##34");
    assert_eq!(mask("jane@corp.com", 3, '#'), "####@####.com");
}

#[test]
fn debug_prints_no_keys() {
    let p = protector(Policy::default(), "t", "c", 0xab);
    let shown = format!("{p:?}");
    assert!(shown.contains("[redacted]"));
    assert!(!shown.contains("171")); // 0xab as a decimal byte
}

fn value_strategy() -> impl Strategy<Value = String> {
    // Digit-heavy values with separators (cards, SSNs, phones) and word-like ones.
    prop_oneof![
        "[0-9]{6,19}",
        "[0-9]{3}-[0-9]{2}-[0-9]{4}",
        "[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}",
        "\\+?[0-9 ()-]{8,20}[0-9]",
        "[a-z]{3,10}@[a-z]{3,8}\\.(com|org)",
        "[A-Za-z0-9_\\-]{6,24}",
    ]
}

fn fpe_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{6,24}",
        "[0-9]{3}-[0-9]{2}-[0-9]{4}",
        "\\+[0-9]{1,3} \\([0-9]{3}\\) [0-9]{3}-[0-9]{4}",
        "[A-Z]{2}[0-9]{2} [0-9]{4} [0-9]{4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn redacted_output_never_contains_a_detected_value(
        prefix in "[ ,.:;]{0,10}",
        values in proptest::collection::vec(value_strategy(), 1..4),
        op in prop_oneof![
            Just("tag"), Just("redact"), Just("mask:0"), Just("hash"), Just("encrypt"),
            Just("fpe"), Just("surrogate"),
        ],
    ) {
        let mut text = prefix.clone();
        let mut findings = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let start = text.len();
            text.push_str(v);
            findings.push(finding(DataClass::BUILT_IN[i % 5].clone(), start..text.len()));
            text.push_str(" | ");
        }
        let p = protector(Policy::new(op.parse().unwrap()), "t", "c", 7);
        let out = p.protect(&text, &findings).unwrap();
        for v in &values {
            prop_assert!(!out.text.contains(v.as_str()), "{op} leaked a value");
        }
    }

    #[test]
    fn restore_of_encrypt_is_identity(value in "\\PC{1,64}", class_index in 0usize..27) {
        let class = DataClass::BUILT_IN[class_index].clone();
        let p = protector(Policy::new(Operator::Encrypt), "t", "c", 3);
        let token = p.apply(Operator::Encrypt, &class, &value).unwrap().unwrap();
        let (back_class, back) = p.restore_token(&token).unwrap();
        prop_assert_eq!(back_class, class);
        prop_assert_eq!(back.expose(), &value);
        let text = format!("before {token} after");
        prop_assert_eq!(p.restore(&text).unwrap().into_inner(), format!("before {value} after"));
    }

    #[test]
    fn fpe_keeps_length_and_character_classes(value in fpe_value()) {
        let p = protector(Policy::new(Operator::Fpe), "t", "c", 4);
        let enc = p.apply(Operator::Fpe, &DataClass::CreditCard, &value).unwrap().unwrap();
        prop_assert_eq!(enc.chars().count(), value.chars().count());
        for (a, b) in enc.chars().zip(value.chars()) {
            prop_assert_eq!(a.is_ascii_digit(), b.is_ascii_digit());
            if !b.is_ascii_digit() {
                prop_assert_eq!(a, b);
            }
        }
        prop_assert_eq!(p.restore_fpe(&DataClass::CreditCard, &enc).unwrap().into_inner(), value);
    }

    #[test]
    fn tags_consistent_within_scope_distinct_across_scopes(
        values in proptest::collection::hash_set("[a-z]{4,12}@example\\.org", 1..6),
    ) {
        let values: Vec<String> = values.into_iter().collect();
        let store: Arc<dyn MappingStore> = Arc::new(MemoryStore::new());
        let scope_a = ScopeId::new("t", "a");
        let scope_b = ScopeId::new("t", "b");
        let a = Protector::new(Policy::default(), scope_a, store.clone(), None).unwrap();
        let b = Protector::new(Policy::default(), scope_b, store, None).unwrap();
        let tag = |p: &Protector, v: &str| {
            p.apply(Operator::Tag, &DataClass::EmailAddress, v).unwrap().unwrap()
        };
        let first: Vec<String> = values.iter().map(|v| tag(&a, v)).collect();
        let second: Vec<String> = values.iter().map(|v| tag(&a, v)).collect();
        prop_assert_eq!(&first, &second);
        let mut distinct = first.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), values.len());
        // Scope b (same store) first sees a value outside the set, so its numbering is
        // shifted: none of scope a's tags restores to scope a's value through scope b.
        tag(&b, "zzz@other.net");
        for v in &values {
            tag(&b, v);
        }
        for (v, t) in values.iter().zip(&first) {
            prop_assert_eq!(&a.restore(t).unwrap().into_inner(), v);
            prop_assert_ne!(&b.restore(t).unwrap().into_inner(), v);
        }
    }

    #[test]
    fn keyed_hash_distinct_across_tenants_and_keys(value in "[ -~]{1,40}") {
        let h = |tenant: &str, key: u8| {
            protector(Policy::new(Operator::Hash { hex_len: 32 }), tenant, "c", key)
                .apply(Operator::Hash { hex_len: 32 }, &DataClass::UsSsn, &value)
                .unwrap()
                .unwrap()
        };
        prop_assert_eq!(h("t", 1), h("t", 1));
        prop_assert_ne!(h("t", 1), h("u", 1));
        prop_assert_ne!(h("t", 1), h("t", 2));
    }
}

#[test]
fn protector_is_shared_across_threads_consistently() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Protector>();
    let p = Arc::new(protector(Policy::new(Operator::Surrogate), "t", "c", 1));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || p.protect(SAMPLE, &sample_findings()).unwrap().text)
        })
        .collect();
    let outputs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outputs.iter().all(|o| o == &outputs[0]));
}
