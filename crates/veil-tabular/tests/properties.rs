//! Property tests: every release satisfies the requested models, as judged by an
//! independent checker that reads only the input and output CSV text (it shares no code
//! with the anonymizer's bookkeeping), and the suppression limit holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use veil_tabular::{
    Algorithm, LDiversity, LVariant, Metric, Options, Privacy, TCloseness, TDistance, Table,
    anonymize, plan_from_flags,
};

/// Rows as maps from column name to value.
fn parse(csv_text: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Does the released label cover the original value? Equal, `*`, an integer range `a-b`,
/// a value set `{x|y}`, or a right-masked code (`021**`).
fn covers(label: &str, value: &str) -> bool {
    if label == value || label == "*" {
        return true;
    }
    if let Some(set) = label.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return set.split('|').any(|x| x == value);
    }
    if let Some((a, b)) = label.split_once('-')
        && let (Ok(a), Ok(b), Ok(v)) = (a.parse::<i64>(), b.parse::<i64>(), value.parse::<i64>())
    {
        return a <= v && v <= b;
    }
    label.len() == value.len()
        && label.contains('*')
        && label
            .chars()
            .zip(value.chars())
            .all(|(l, v)| l == '*' || l == v)
}

struct Spec {
    qi: Vec<&'static str>,
    sensitive: &'static str,
    k: usize,
    l: Option<LDiversity>,
    t: Option<f64>,
    suppression: f64,
}

/// Independent re-computation of the models on one class's sensitive values.
fn class_violations(
    spec: &Spec,
    values: &[&str],
    global: &HashMap<String, f64>,
    ordered: &[String],
) -> Option<String> {
    if values.len() < spec.k {
        return Some(format!("class of {} < k", values.len()));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    if let Some(l) = spec.l {
        let mut c: Vec<usize> = counts.values().copied().collect();
        c.sort_unstable_by(|a, b| b.cmp(a));
        let ok = match l.variant {
            LVariant::Distinct => c.len() as f64 >= l.l,
            LVariant::Entropy => {
                let n = values.len() as f64;
                let h: f64 = c
                    .iter()
                    .map(|&x| -(x as f64 / n) * (x as f64 / n).ln())
                    .sum();
                h + 1e-9 >= l.l.ln()
            }
            LVariant::Recursive => {
                let li = l.l as usize;
                c.len() >= li && (c[0] as f64) < l.c * c[li - 1..].iter().sum::<usize>() as f64
            }
        };
        if !ok {
            return Some(format!("l-diversity fails: {c:?}"));
        }
    }
    if let Some(t) = spec.t {
        // Ordered EMD over the numeric order of all sensitive values of the input.
        let n = values.len() as f64;
        let m = ordered.len();
        let mut cum = 0.0;
        let mut emd = 0.0;
        for v in ordered.iter().take(m.saturating_sub(1)) {
            let p = *counts.get(v.as_str()).unwrap_or(&0) as f64 / n;
            cum += p - global[v];
            emd += cum.abs();
        }
        if m > 1 {
            emd /= (m - 1) as f64;
        }
        if emd > t + 1e-9 {
            return Some(format!("t-closeness fails: {emd}"));
        }
    }
    None
}

/// Checks a release; returns the first violation.
fn check(spec: &Spec, input: &str, output: &str) -> Result<(), String> {
    let inp = parse(input);
    let out = parse(output);
    let n = inp.len();
    let limit = (spec.suppression * n as f64 + 1e-9).floor() as usize;
    if n - out.len() > limit {
        return Err(format!("{} suppressed, limit {limit}", n - out.len()));
    }
    let by_id: HashMap<&str, &HashMap<String, String>> =
        inp.iter().map(|r| (r["id"].as_str(), r)).collect();
    let mut global: HashMap<String, f64> = HashMap::new();
    for r in &inp {
        *global.entry(r[spec.sensitive].clone()).or_default() += 1.0 / n as f64;
    }
    let mut ordered: Vec<String> = global.keys().cloned().collect();
    ordered.sort_by_key(|v| v.parse::<i64>().unwrap());
    let mut classes: HashMap<Vec<&str>, Vec<&str>> = HashMap::new();
    for r in &out {
        let orig = by_id.get(r["id"].as_str()).ok_or("unknown id in output")?;
        if orig[spec.sensitive] != r[spec.sensitive] {
            return Err("sensitive value changed".into());
        }
        for q in &spec.qi {
            if !covers(&r[*q], &orig[*q]) {
                return Err(format!("`{}` does not cover `{}`", r[*q], orig[*q]));
            }
        }
        let key: Vec<&str> = spec.qi.iter().map(|q| r[*q].as_str()).collect();
        classes
            .entry(key)
            .or_default()
            .push(r[spec.sensitive].as_str());
    }
    for (key, values) in &classes {
        if let Some(v) = class_violations(spec, values, &global, &ordered) {
            return Err(format!("class {key:?}: {v}"));
        }
    }
    Ok(())
}

fn table_csv(rows: &[(u8, u8, u8, u8)]) -> String {
    let mut s = String::from("id,age,zip,sex,income\n");
    for (i, &(age, zip, sex, income)) in rows.iter().enumerate() {
        let sex = if sex % 2 == 0 { "F" } else { "M" };
        s.push_str(&format!(
            "{i},{},021{:02},{sex},{}\n",
            18 + age % 60,
            zip % 40,
            10 + income % 6
        ));
    }
    s
}

fn run(spec: &Spec, input: &str, algorithm: Algorithm) -> Result<Option<String>, String> {
    let table = Table::read_csv_from(input.as_bytes(), Path::new("in.csv")).unwrap();
    let qi: Vec<String> = spec.qi.iter().map(|s| s.to_string()).collect();
    let plan = plan_from_flags(&table, &qi, &[spec.sensitive.to_string()], &[]).unwrap();
    let options = Options {
        privacy: Privacy {
            k: spec.k,
            l: spec.l,
            t: spec.t.map(|t| TCloseness {
                t,
                distance: TDistance::Ordered,
            }),
            suppression: spec.suppression,
        },
        algorithm,
        metric: Metric::Loss,
        risk_threshold: 0.2,
        t_distance: TDistance::Ordered,
    };
    match anonymize(&table, &plan, &options, None) {
        Ok(release) => {
            let mut out = Vec::new();
            release.table.write_csv_to(&mut out).unwrap();
            Ok(Some(String::from_utf8(out).unwrap()))
        }
        Err(e) if e.is_unsatisfiable() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn l_strategy() -> impl Strategy<Value = Option<LDiversity>> {
    prop_oneof![
        Just(None),
        (2u8..4).prop_map(|l| Some(LDiversity {
            variant: LVariant::Distinct,
            l: f64::from(l),
            c: 1.0
        })),
        Just(Some(LDiversity {
            variant: LVariant::Entropy,
            l: 2.0,
            c: 1.0
        })),
        Just(Some(LDiversity {
            variant: LVariant::Recursive,
            l: 2.0,
            c: 3.0
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_release_satisfies_the_models(
        rows in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 10..80),
        k in 2usize..6,
        l in l_strategy(),
        t in prop_oneof![Just(None), (3u8..9).prop_map(|t| Some(f64::from(t) / 10.0))],
        suppression in prop_oneof![Just(0.0), Just(0.05), Just(0.2)],
        algorithm in prop_oneof![Just(Algorithm::Flash), Just(Algorithm::Mondrian), Just(Algorithm::Auto)],
    ) {
        let spec = Spec { qi: vec!["age", "zip", "sex"], sensitive: "income", k, l, t, suppression };
        let input = table_csv(&rows);
        match run(&spec, &input, algorithm).map_err(TestCaseError::fail)? {
            Some(output) => prop_assert!(check(&spec, &input, &output).is_ok(), "{:?}", check(&spec, &input, &output)),
            None => {
                // Refusing is only right when the whole table, as one class, fails the models.
                let inp = parse(&input);
                let mut global: HashMap<String, f64> = HashMap::new();
                for r in &inp {
                    *global.entry(r["income"].clone()).or_default() += 1.0 / inp.len() as f64;
                }
                let mut ordered: Vec<String> = global.keys().cloned().collect();
                ordered.sort_by_key(|v| v.parse::<i64>().unwrap());
                let all: Vec<&str> = inp.iter().map(|r| r["income"].as_str()).collect();
                prop_assert!(class_violations(&spec, &all, &global, &ordered).is_some(), "refused a satisfiable table");
            }
        }
    }
}

#[test]
fn checker_rejects_a_release_that_is_not_k_anonymous() {
    // The checker must be able to fail: the identity release of unique rows is not 2-anonymous.
    let input = table_csv(&[(1, 1, 0, 1), (2, 2, 1, 2), (3, 3, 0, 3)]);
    let spec = Spec {
        qi: vec!["age", "zip", "sex"],
        sensitive: "income",
        k: 2,
        l: None,
        t: None,
        suppression: 0.0,
    };
    assert!(check(&spec, &input, &input).is_err());
    // ...and it accepts a release that generalizes everything to `*`.
    let mut out = String::from("id,age,zip,sex,income\n");
    for (i, r) in parse(&input).iter().enumerate() {
        out.push_str(&format!("{i},*,*,*,{}\n", r["income"]));
    }
    assert!(check(&spec, &input, &out).is_ok());
    // Changing a sensitive value or a wrong cover is caught.
    assert!(check(&spec, &input, &out.replacen(",*,*,*,11", ",*,*,*,12", 1)).is_err());
    assert!(check(&spec, &input, &out.replacen("0,*,*,*", "0,30-40,*,*", 1)).is_err());
}

#[test]
fn a_fixed_table_is_released_by_every_algorithm_with_all_models() {
    let rows: Vec<(u8, u8, u8, u8)> = (0..200u16)
        .map(|i| {
            (
                (i as u8).wrapping_mul(7),
                (i as u8).wrapping_mul(13),
                i as u8,
                (i as u8).wrapping_mul(5),
            )
        })
        .collect();
    let input = table_csv(&rows);
    let spec = Spec {
        qi: vec!["age", "zip", "sex"],
        sensitive: "income",
        k: 5,
        l: Some(LDiversity {
            variant: LVariant::Recursive,
            l: 3.0,
            c: 4.0,
        }),
        t: Some(0.3),
        suppression: 0.05,
    };
    for algorithm in [Algorithm::Flash, Algorithm::Mondrian, Algorithm::Auto] {
        let output = run(&spec, &input, algorithm).unwrap().expect("satisfiable");
        check(&spec, &input, &output).unwrap();
    }
}
