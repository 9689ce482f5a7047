use super::noise::Noise;
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

/// The exact sample quantile the CI must cover: the ⌈qn⌉-th smallest clamped value.
fn exact_quantile(values: &[f64], q: f64, lo: f64, hi: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|x| x.clamp(lo, hi)).collect();
    v.sort_by(f64::total_cmp);
    let k = ((q * v.len() as f64).ceil() as usize).max(1);
    v[k - 1]
}

#[test]
fn quantile_confidence_intervals_cover_the_exact_quantile() {
    // Three shapes: skewed, all tied on a value between bin edges (the case where a
    // selection mechanism alone cannot support an interval), and sparse with a gap.
    let skewed: Vec<f64> = (0..3000)
        .map(|i| f64::from(i % 97).powi(2) / 94.0)
        .collect();
    let tied = vec![37.3; 800];
    let gap: Vec<f64> = (0..400)
        .map(|i| {
            if i % 3 == 0 {
                12.0
            } else {
                80.0 + f64::from(i % 7)
            }
        })
        .collect();
    let mut rng = SecureRng::seeded_for_tests(70);
    for (name, values) in [("skewed", skewed), ("tied", tied), ("gap", gap)] {
        for q in [0.1, 0.5, 0.9] {
            let truth = exact_quantile(&values, q, 0.0, 100.0);
            let data = Dataset::from_columns(Some(values.clone()), None, None).unwrap();
            let spec = QuerySpec::new(
                Statistic::Quantile {
                    column: col("x", Some(0.0), Some(100.0)),
                    q,
                    bins: 50,
                },
                1.0,
            );
            let trials = 300;
            let (mut covered, mut width) = (0, 0.0);
            for _ in 0..trials {
                let a = &run(&spec, &data, &mut rng).unwrap().answers[0];
                let [lo, hi] = a.ci95.unwrap();
                assert!(lo <= a.value && a.value <= hi, "{name} q={q}: {a:?}");
                if lo <= truth && truth <= hi {
                    covered += 1;
                }
                width += hi - lo;
            }
            // Nominal >= 95%; at n = 300 a 6-sigma binomial slack is about 7.5%.
            assert!(covered >= 262, "{name} q={q}: coverage {covered}/{trials}");
            // Informative: much narrower than the declared range on average.
            let mean_width = width / f64::from(trials);
            assert!(mean_width < 40.0, "{name} q={q}: mean width {mean_width}");
        }
    }
}

#[test]
fn a_quantile_interval_built_on_too_little_noise_fails_coverage() {
    // The pair of the coverage test: the same interval computed as if the noise were 20×
    // smaller than it is (ε claimed 20, noise drawn for 1) must miss far more than 5%.
    let values: Vec<f64> = (0..200).map(|i| f64::from(i % 100)).collect();
    let truth = exact_quantile(&values, 0.5, 0.0, 100.0);
    let data = Dataset::from_columns(Some(values), None, None).unwrap();
    let stat = Statistic::Quantile {
        column: col("x", Some(0.0), Some(100.0)),
        q: 0.5,
        bins: 100,
    };
    let mut rng = SecureRng::seeded_for_tests(71);
    let honest = QuerySpec::new(stat.clone(), 1.0);
    let grid = Grid::new(0.0, 100.0);
    let edges = grid.edges(100);
    let true_bins = {
        let mut b = vec![0i128; 100];
        for i in 0..200 {
            b[i % 100] += 1;
        }
        b
    };
    let weak = Noise::new(Privacy::Laplace { epsilon: 20.0 }, 1).unwrap();
    let strong = Noise::new(Privacy::Laplace { epsilon: 1.0 }, 1).unwrap();
    let one = Nat::from(1u64);
    let s = weak.scale(1, &one).unwrap();
    let bounds: Vec<f64> = (0..=100)
        .map(|j| s.sum_halfwidth(j, 0.05 / 100.0))
        .collect();
    let mut missed = 0;
    for _ in 0..300 {
        let noisy = noisy_bins(&true_bins, &strong, 1, &one, &mut rng).unwrap();
        let a = quantile_answer(None, &noisy, &edges, &bounds, 0.5, &grid);
        let [lo, hi] = a.ci95.unwrap();
        if !(lo <= truth && truth <= hi) {
            missed += 1;
        }
    }
    assert!(missed > 60, "missed only {missed}/300");
    // And the honest run of the same data is answered normally.
    assert!(run(&honest, &data, &mut rng).is_ok());
}

#[test]
fn quantiles_and_histograms_group_by() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(72);
    let quant = |q| Statistic::Quantile {
        column: col("age", Some(0.0), Some(100.0)),
        q,
        bins: 100,
    };
    // Public keys: one answer per key, even for an absent key.
    let mut spec = QuerySpec::new(quant(0.5), 1e4);
    spec.group_by = Some("g".to_owned());
    spec.public_keys = Some(vec!["a".into(), "b".into(), "zzz".into()]);
    let r = run(&spec, &data, &mut rng).unwrap();
    let keys: Vec<_> = r.answers.iter().map(|a| a.key.clone().unwrap()).collect();
    assert_eq!(keys, ["a", "b", "zzz"]);
    // Group a holds the even ages (median 48), group b the odd ones (median 49).
    assert!(
        (r.answers[0].value - 49.0).abs() <= 1.5,
        "{:?}",
        r.answers[0]
    );
    assert!(
        (r.answers[1].value - 50.0).abs() <= 1.5,
        "{:?}",
        r.answers[1]
    );
    // Private partitions: both groups are large, both released; loss is (ε, δ).
    spec.public_keys = None;
    spec.delta = 1e-6;
    let r = run(&spec, &data, &mut rng).unwrap();
    assert_eq!(r.answers.len(), 2);
    assert!(matches!(r.loss, PrivacyLoss::Approx { .. }));
    // Histogram by group: key is the group, bin the interval.
    let mut h = QuerySpec::new(
        Statistic::Histogram {
            column: col("age", Some(0.0), Some(100.0)),
            bins: 2,
        },
        1e4,
    );
    h.group_by = Some("g".to_owned());
    h.public_keys = Some(vec!["a".into(), "b".into()]);
    let r = run(&h, &data, &mut rng).unwrap();
    let got: Vec<(String, String, f64)> = r
        .answers
        .iter()
        .map(|a| (a.key.clone().unwrap(), a.bin.clone().unwrap(), a.value))
        .collect();
    assert_eq!(
        got,
        [
            ("a".into(), "[0, 50)".into(), 250.0),
            ("a".into(), "[50, 100)".into(), 250.0),
            ("b".into(), "[0, 50)".into(), 250.0),
            ("b".into(), "[50, 100)".into(), 250.0),
        ]
    );
    // Contribution bounding applies: heavy keeps 1 row, so 901 rows in all.
    h.privacy_unit = Some("person".into());
    let total: f64 = run(&h, &data, &mut rng)
        .unwrap()
        .answers
        .iter()
        .map(|a| a.value)
        .sum();
    assert_eq!(total, 901.0);
}

#[test]
fn gaussian_queries_spend_zcdp_and_their_intervals_cover() {
    let data = ages();
    let mut rng = SecureRng::seeded_for_tests(73);
    let spec = QuerySpec::with_privacy(Statistic::Count, Privacy::Gaussian { rho: 0.125 });
    let r = run(&spec, &data, &mut rng).unwrap();
    assert_eq!(r.loss, PrivacyLoss::Zcdp { rho: 0.125 });
    // σ² = Δ²/(2ρ) = 4: σ = 2.
    assert!((r.answers[0].scale - 2.0).abs() < 1e-12);
    let trials = 2000;
    let covered = (0..trials)
        .filter(|_| {
            let [lo, hi] = run(&spec, &data, &mut rng).unwrap().answers[0]
                .ci95
                .unwrap();
            lo <= 1000.0 && 1000.0 <= hi
        })
        .count();
    assert!(covered >= 1840, "coverage {covered}/{trials}");
    assert!(
        covered < trials,
        "the interval never missed: it is too wide"
    );
    // A grouped mean with public keys: L2 sensitivity sqrt(G)·C·width.
    let mut m = QuerySpec::with_privacy(
        Statistic::Mean(col("age", Some(0.0), Some(100.0))),
        Privacy::Gaussian { rho: 1e6 },
    );
    m.group_by = Some("g".into());
    m.public_keys = Some(vec!["a".into(), "b".into()]);
    let r = run(&m, &data, &mut rng).unwrap();
    assert!(
        (r.answers[0].value - 49.0).abs() < 0.5,
        "{:?}",
        r.answers[0]
    );
    // Private partition selection is refused: its δ does not fit a zCDP budget.
    m.public_keys = None;
    m.delta = 1e-6;
    assert_eq!(m.loss().unwrap_err().kind(), ErrorKind::MissingBounds);
}
