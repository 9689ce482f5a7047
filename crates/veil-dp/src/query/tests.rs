use super::*;
use crate::rng::SecureRng;

fn col(name: &str, lower: Option<f64>, upper: Option<f64>) -> Bounded {
    Bounded {
        column: name.to_owned(),
        lower,
        upper,
    }
}

fn ages() -> Dataset {
    // 1000 rows, ages 0..99 repeating, groups "a" (even rows) and "b" (odd rows), one person
    // per row except person "heavy" who owns rows 0..100.
    let values: Vec<f64> = (0..1000).map(|i| f64::from(i % 100)).collect();
    let groups: Vec<String> = (0..1000)
        .map(|i| if i % 2 == 0 { "a" } else { "b" }.to_owned())
        .collect();
    let units: Vec<String> = (0..1000)
        .map(|i| {
            if i < 100 {
                "heavy".to_owned()
            } else {
                format!("p{i}")
            }
        })
        .collect();
    Dataset::from_columns(Some(values), Some(groups), Some(units)).unwrap()
}

#[test]
fn unbounded_queries_are_refused_and_bounded_ones_answered() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(1);
    for stat in [
        Statistic::Sum(col("age", None, Some(100.0))),
        Statistic::Mean(col("age", Some(0.0), None)),
        Statistic::Variance(col("age", None, None)),
    ] {
        let err = run(&QuerySpec::new(stat, 1.0), &data, &mut rng).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingBounds);
        assert!(err.to_string().contains("`age`"), "{err}");
    }
    let ok = run(
        &QuerySpec::new(Statistic::Sum(col("age", Some(0.0), Some(100.0))), 1.0),
        &data,
        &mut rng,
    );
    assert!(ok.is_ok());
}

#[test]
fn private_group_by_needs_delta_or_public_keys() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(2);
    let mut spec = QuerySpec::new(Statistic::Count, 1.0);
    spec.group_by = Some("g".to_owned());
    assert_eq!(
        run(&spec, &data, &mut rng).unwrap_err().kind(),
        ErrorKind::MissingBounds
    );
    spec.delta = 1e-6;
    let r = run(&spec, &data, &mut rng).unwrap();
    assert!(matches!(r.loss, PrivacyLoss::Approx { .. }));
    assert_eq!(r.answers.len(), 2);
    spec.delta = 0.0;
    spec.public_keys = Some(vec!["a".into(), "zzz".into()]);
    let r = run(&spec, &data, &mut rng).unwrap();
    assert!(matches!(r.loss, PrivacyLoss::Pure { .. }));
    let keys: Vec<_> = r.answers.iter().map(|a| a.key.clone().unwrap()).collect();
    assert_eq!(keys, ["a", "zzz"]);
}

#[test]
fn high_epsilon_answers_are_close_to_the_truth() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(3);
    let eps = 1e4;
    let one = |s: Statistic, rng: &mut SecureRng| {
        run(&QuerySpec::new(s, eps), &data, rng).unwrap().answers[0].clone()
    };
    assert_eq!(one(Statistic::Count, &mut rng).value, 1000.0);
    let sum = one(Statistic::Sum(col("age", Some(0.0), Some(100.0))), &mut rng);
    assert!((sum.value - 49_500.0).abs() < 5.0, "{sum:?}");
    let mean = one(
        Statistic::Mean(col("age", Some(0.0), Some(100.0))),
        &mut rng,
    );
    assert!((mean.value - 49.5).abs() < 0.05, "{mean:?}");
    let var = one(
        Statistic::Variance(col("age", Some(0.0), Some(100.0))),
        &mut rng,
    );
    assert!((var.value - 833.25).abs() < 1.0, "{var:?}");
    // Clamping: upper bound 10 caps every age above it.
    let clamped = one(Statistic::Sum(col("age", Some(0.0), Some(10.0))), &mut rng);
    let truth: f64 = (0..100).map(|i: i32| f64::from(i.min(10))).sum::<f64>() * 10.0;
    assert!(
        (clamped.value - truth).abs() < 1.0,
        "{clamped:?} vs {truth}"
    );
    let med = one(
        Statistic::Quantile {
            column: col("age", Some(0.0), Some(100.0)),
            q: 0.5,
            bins: 100,
        },
        &mut rng,
    );
    assert!((med.value - 49.5).abs() <= 1.5, "{med:?}");
    let hist = run(
        &QuerySpec::new(
            Statistic::Histogram {
                column: col("age", Some(0.0), Some(100.0)),
                bins: 4,
            },
            eps,
        ),
        &data,
        &mut rng,
    )
    .unwrap();
    let counts: Vec<f64> = hist.answers.iter().map(|a| a.value).collect();
    assert_eq!(counts, [250.0, 250.0, 250.0, 250.0]);
    assert_eq!(hist.answers[0].key.as_deref(), Some("[0, 25)"));
}

#[test]
fn contribution_bounding_caps_each_privacy_unit() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(4);
    let mut spec = QuerySpec::new(Statistic::Count, 1e4);
    spec.privacy_unit = Some("person".to_owned());
    // "heavy" keeps 1 of its 100 rows: 900 + 1.
    assert_eq!(run(&spec, &data, &mut rng).unwrap().answers[0].value, 901.0);
    spec.max_rows = 10;
    assert_eq!(run(&spec, &data, &mut rng).unwrap().answers[0].value, 910.0);
    // Grouped: heavy may touch 1 group with up to 10 rows.
    spec.group_by = Some("g".to_owned());
    spec.public_keys = Some(vec!["a".into(), "b".into()]);
    let r = run(&spec, &data, &mut rng).unwrap();
    let total: f64 = r.answers.iter().map(|a| a.value).sum();
    assert_eq!(total, 910.0);
    // And the noise scale grows with the contribution bound (Δ = G·C = 10).
    assert!((r.answers[0].scale - 10.0 / 1e4).abs() < 1e-9);
}

#[test]
fn partition_selection_hides_rare_groups() {
    // 500 rows in "common", 1 row in "rare": at ε = 1, δ = 1e-6 the threshold is about 15.
    let mut groups = vec!["common".to_owned(); 500];
    groups.push("rare".to_owned());
    let data = Dataset::from_columns(None, Some(groups), None).unwrap();
    let mut spec = QuerySpec::new(Statistic::Count, 1.0);
    spec.group_by = Some("g".to_owned());
    spec.delta = 1e-6;
    let mut rng = SecureRng::seeded_for_tests(5);
    for _ in 0..200 {
        let r = run(&spec, &data, &mut rng).unwrap();
        let keys: Vec<_> = r.answers.iter().filter_map(|a| a.key.as_deref()).collect();
        assert_eq!(keys, ["common"]);
    }
}

#[test]
fn confidence_intervals_cover_the_truth_about_95_percent_of_the_time() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(6);
    let trials = 2000;
    let mut covered = 0;
    for _ in 0..trials {
        let a = &run(&QuerySpec::new(Statistic::Count, 0.5), &data, &mut rng)
            .unwrap()
            .answers[0];
        let [lo, hi] = a.ci95.unwrap();
        if lo <= 1000.0 && 1000.0 <= hi {
            covered += 1;
        }
    }
    // Nominal coverage >= 95%; binomial 6-sigma slack at n = 2000 is about 3%.
    assert!(covered >= 1840, "coverage {covered}/{trials}");
    // An interval that always covered would be useless: it must miss sometimes.
    assert!(
        covered < trials,
        "the interval never missed: it is too wide"
    );
}

#[test]
fn csv_errors_name_record_and_column_but_never_the_value() {
    let spec = QuerySpec::new(Statistic::Sum(col("salary", Some(0.0), Some(1.0))), 1.0);
    let csv = "name,salary\nalice,10\nbob,SECRET-4111\n";
    let err = Dataset::from_csv_reader(csv.as_bytes(), "people.csv", &spec).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Data);
    assert!(msg.contains("record 3") && msg.contains("`salary`") && msg.contains("people.csv"));
    assert!(!msg.contains("SECRET"), "{msg}");
    let missing = QuerySpec::new(Statistic::Sum(col("nope", Some(0.0), Some(1.0))), 1.0);
    let err = Dataset::from_csv_reader(csv.as_bytes(), "people.csv", &missing).unwrap_err();
    assert!(err.to_string().contains("no column `nope`"));
    let good = "name,salary\nalice,10\nbob,20\n";
    let d = Dataset::from_csv_reader(good.as_bytes(), "people.csv", &spec).unwrap();
    assert_eq!(d.len(), 2);
}
