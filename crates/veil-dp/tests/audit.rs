//! Empirical privacy audit: a distinguishing attack on neighbouring datasets.
//!
//! `D` has 50 rows, `D'` adds one. The attacker sees a noisy count and guesses `D'` when it
//! is at least 51. Over `N` runs on each dataset we estimate the attack's false-positive rate
//! (guess `D'` on `D`) and true-positive rate, and turn them into a lower bound on ε that
//! holds with confidence `1 - 2β` (Hoeffding intervals, β = 1e-6 each side):
//!
//! ```text
//! ε_lb = ln( (TPR - w) / (FPR + w) ),   w = sqrt(ln(1/β) / (2N))
//! ```
//!
//! Any ε-DP mechanism satisfies `TPR ≤ e^ε FPR`, so `ε_lb > ε` would prove the claim false
//! (Jagielski et al. 2020; Nasr et al. 2021). This threshold is the optimal test for the
//! discrete Laplace, so the bound is close to tight: the true `TPR/FPR` is exactly `e^ε`.
//! The partner test runs a mechanism that secretly uses twice the ε it claims and checks
//! that the audit catches it, so the audit has power.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use veil_dp::SecureRng;
use veil_dp::query::{Dataset, QuerySpec, Statistic, run};

const N: usize = 20_000;
const BETA: f64 = 1e-6;

fn dataset(rows: usize) -> Dataset {
    Dataset::from_columns(Some(vec![1.0; rows]), None, None).unwrap()
}

/// Measured ε lower bound of the threshold attack when the mechanism really runs at
/// `actual_eps`.
fn audit(actual_eps: f64, seed: u64) -> f64 {
    let (d, d_prime) = (dataset(50), dataset(51));
    let spec = QuerySpec::new(Statistic::Count, actual_eps);
    let mut rng = SecureRng::seeded_for_tests(seed);
    let mut guess = |data: &Dataset| {
        (0..N)
            .filter(|_| run(&spec, data, &mut rng).unwrap().answers[0].value >= 51.0)
            .count() as f64
            / N as f64
    };
    let fpr = guess(&d);
    let tpr = guess(&d_prime);
    let w = ((1.0 / BETA).ln() / (2.0 * N as f64)).sqrt();
    ((tpr - w) / (fpr + w)).ln()
}

#[test]
fn measured_epsilon_stays_below_the_claim() {
    for (claimed, seed) in [(0.5, 1), (1.0, 2), (2.0, 3)] {
        let lb = audit(claimed, seed);
        assert!(
            lb <= claimed,
            "claimed ε = {claimed}, measured lower bound {lb}"
        );
        // The audit is not vacuous: it certifies a good part of the claimed ε.
        assert!(
            lb > 0.5 * claimed,
            "claimed ε = {claimed}, audit too weak: {lb}"
        );
    }
}

#[test]
fn audit_catches_a_mechanism_spending_twice_what_it_claims() {
    let claimed = 1.0;
    let lb = audit(2.0 * claimed, 4);
    assert!(
        lb > claimed,
        "an under-noised mechanism went unnoticed: {lb}"
    );
}
