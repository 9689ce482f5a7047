//! Goodness-of-fit tests of every sampler against its exact distribution.
//!
//! Each test draws `N` samples at a fixed seed and runs a Pearson chi-square test against the
//! exact probability mass function, with cells `-c..=c` and two tail cells. The critical value
//! is the chi-square quantile at `1 - 1e-6` (Wilson-Hilferty approximation, accurate to well
//! under 1% at these degrees of freedom), so were the seed changed, a correct sampler would
//! fail a given test with probability about one in a million. Each goodness-of-fit test has a
//! partner that feeds the same check a slightly wrong distribution and asserts it fails, so the
//! check has power.

use super::*;
use crate::rng::SecureRng;

const N: usize = 40_000;
/// Standard normal quantile at 1 - 1e-6.
const Z: f64 = 4.753_424;

fn chi2_critical(df: f64) -> f64 {
    let a = 2.0 / (9.0 * df);
    df * (1.0 - a + Z * a.sqrt()).powi(3)
}

/// Chi-square statistic of `samples` against the pmf `p(x)` on `-c..=c` plus two tails.
fn chi2(samples: &[i64], c: i64, pmf: impl Fn(i64) -> f64) -> (f64, f64) {
    let cells = usize::try_from(2 * c + 3).unwrap();
    let mut observed = vec![0f64; cells];
    for &x in samples {
        let cell = if x < -c {
            0
        } else if x > c {
            cells - 1
        } else {
            usize::try_from(x + c + 1).unwrap()
        };
        observed[cell] += 1.0;
    }
    let mut expected = vec![0f64; cells];
    let mut inner = 0.0;
    for x in -c..=c {
        let p = pmf(x);
        expected[usize::try_from(x + c + 1).unwrap()] = p;
        inner += p;
    }
    // Symmetric distributions: the two tails share the remaining mass equally.
    expected[0] = (1.0 - inner) / 2.0;
    expected[cells - 1] = (1.0 - inner) / 2.0;
    let n = samples.len() as f64;
    let mut stat = 0.0;
    let mut df = -1.0;
    for (o, p) in observed.iter().zip(&expected) {
        let e = p * n;
        if e < 1e-9 {
            assert!(*o == 0.0, "a sample fell in a cell of probability zero");
            continue;
        }
        stat += (o - e) * (o - e) / e;
        df += 1.0;
    }
    (stat, chi2_critical(df))
}

fn dlap_pmf(scale: f64) -> impl Fn(i64) -> f64 {
    let q = (-1.0 / scale).exp();
    move |x| (1.0 - q) / (1.0 + q) * q.powi(i32::try_from(x.abs()).unwrap())
}

fn dgauss_pmf(sigma2: f64) -> impl Fn(i64) -> f64 {
    let weight = move |x: i64| (-(x * x) as f64 / (2.0 * sigma2)).exp();
    let norm: f64 = (-2000..=2000).map(weight).sum();
    move |x| weight(x) / norm
}

fn draw(n: usize, seed: u64, mut f: impl FnMut(&mut SecureRng) -> Integer) -> Vec<i64> {
    let mut rng = SecureRng::seeded_for_tests(seed);
    (0..n).map(|_| f(&mut rng).to_i64().unwrap()).collect()
}

#[test]
fn bernoulli_exp_matches_exp_minus_gamma() {
    // Binomial count against its mean, 6 standard deviations (false failure < 2e-9).
    for (num, den, seed) in [(1u64, 3u64, 1u64), (5, 2, 2), (0, 1, 3), (7, 7, 4)] {
        let gamma = Ratio::new(num, den).unwrap();
        let mut rng = SecureRng::seeded_for_tests(seed);
        let hits = (0..N).filter(|_| bernoulli_exp(&gamma, &mut rng)).count() as f64;
        let p = (-(num as f64) / den as f64).exp();
        let sd = (N as f64 * p * (1.0 - p)).sqrt().max(1e-9);
        assert!(
            (hits - N as f64 * p).abs() <= 6.0 * sd,
            "gamma {num}/{den}: {hits} hits, expected {}",
            N as f64 * p
        );
    }
}

#[test]
fn discrete_laplace_fits_its_pmf() {
    for (num, den, seed) in [(1u64, 1u64, 10u64), (7, 2, 11), (1, 3, 12), (40, 1, 13)] {
        let scale = Ratio::new(num, den).unwrap();
        let s = draw(N, seed, |r| discrete_laplace(&scale, r).unwrap());
        let sc = num as f64 / den as f64;
        let c = (sc * 4.0).ceil().clamp(2.0, 60.0) as i64;
        let (stat, crit) = chi2(&s, c, dlap_pmf(sc));
        assert!(stat < crit, "scale {sc}: chi2 {stat} >= {crit}");
    }
}

#[test]
fn discrete_laplace_check_rejects_a_wrong_scale() {
    let scale = Ratio::new(23u64, 10u64).unwrap();
    let s = draw(N, 14, |r| discrete_laplace(&scale, r).unwrap());
    let (stat, crit) = chi2(&s, 10, dlap_pmf(2.0));
    assert!(
        stat > crit,
        "a 15% wrong scale must fail: chi2 {stat} <= {crit}"
    );
}

#[test]
fn discrete_gaussian_fits_its_pmf() {
    for (num, den, seed) in [(1u64, 1u64, 20u64), (9, 4, 21), (100, 1, 22), (1, 10, 23)] {
        let sigma2 = Ratio::new(num, den).unwrap();
        let s = draw(N, seed, |r| discrete_gaussian(&sigma2, r).unwrap());
        let v = num as f64 / den as f64;
        let c = (v.sqrt() * 3.5).ceil().clamp(2.0, 60.0) as i64;
        let (stat, crit) = chi2(&s, c, dgauss_pmf(v));
        assert!(stat < crit, "sigma2 {v}: chi2 {stat} >= {crit}");
    }
}

#[test]
fn discrete_gaussian_check_rejects_a_wrong_variance() {
    let sigma2 = Ratio::new(115u64, 1u64).unwrap();
    let s = draw(N, 24, |r| discrete_gaussian(&sigma2, r).unwrap());
    let (stat, crit) = chi2(&s, 35, dgauss_pmf(100.0));
    assert!(
        stat > crit,
        "a 15% wrong variance must fail: chi2 {stat} <= {crit}"
    );
}

#[test]
fn discrete_gaussian_with_huge_parameters_takes_the_big_integer_path() {
    // sigma^2 = 2^140: every intermediate exceeds u128; the sample must still be exact and of
    // the right order of magnitude (|x| < 10 sigma with overwhelming probability).
    let sigma2 = Ratio::new(BigUint::one() << 140u32, 1u64).unwrap();
    let mut rng = SecureRng::seeded_for_tests(25);
    for _ in 0..20 {
        let x = discrete_gaussian(&sigma2, &mut rng).unwrap().to_bigint();
        let bound = BigInt::from(10) * (BigInt::one() << 70u32);
        assert!(x.magnitude() < bound.magnitude());
    }
}

#[test]
fn grid_releases_land_on_the_grid_and_fit_their_pmf() {
    // Laplace scale 1.5 on grid 2^-2: in grid units a discrete Laplace of scale 6.
    let mut rng = SecureRng::seeded_for_tests(30);
    let k = -2;
    let samples: Vec<i64> = (0..N)
        .map(|_| {
            let y = laplace_on_grid(10.3, 1.5, k, &mut rng).unwrap();
            let units = y * 4.0;
            assert_eq!(units, units.round(), "release off the grid: {y}");
            units as i64 - 41 // 10.3 rounds to 41 grid units (10.25)
        })
        .collect();
    let (stat, crit) = chi2(&samples, 24, dlap_pmf(6.0));
    assert!(stat < crit, "grid Laplace: chi2 {stat} >= {crit}");

    let samples: Vec<i64> = (0..N)
        .map(|_| {
            let y = gaussian_on_grid(-3.0, 2.0, -1, &mut rng).unwrap();
            (y * 2.0) as i64 + 6
        })
        .collect();
    let (stat, crit) = chi2(&samples, 14, dgauss_pmf(16.0));
    assert!(stat < crit, "grid Gaussian: chi2 {stat} >= {crit}");
}

#[test]
fn ratio_from_f64_is_exact_and_rejects_non_finite() {
    let r = Ratio::from_f64(0.1).unwrap();
    assert_eq!(r.to_f64(), 0.1);
    assert_eq!(
        Ratio::from_f64(3.0).unwrap(),
        Ratio::new(3u64, 1u64).unwrap()
    );
    assert!(Ratio::from_f64(f64::NAN).is_err());
    assert!(Ratio::from_f64(-1.0).is_err());
    assert!(Ratio::from_f64(f64::INFINITY).is_err());
    assert_eq!(round_to_grid(-2.5, 0).unwrap().to_i64(), Some(-3));
    assert_eq!(round_to_grid(1e-30, 0).unwrap().to_i64(), Some(0));
    assert!(grid_exponent(1.0) == -40 && grid_exponent(0.0) == -1074);
}

#[test]
fn samplers_refuse_a_zero_scale() {
    let mut rng = SecureRng::seeded_for_tests(0);
    let zero = Ratio::new(0u64, 1u64).unwrap();
    assert!(discrete_laplace(&zero, &mut rng).is_err());
    assert!(discrete_gaussian(&zero, &mut rng).is_err());
    assert!(laplace_on_grid(1.0, 0.0, -10, &mut rng).is_err());
    assert!(gaussian_on_grid(1.0, f64::NAN, -10, &mut rng).is_err());
}
