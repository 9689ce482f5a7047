//! Selection mechanisms: permute-and-flip (McKenna, Sheldon 2020), the exact replacement for
//! the exponential mechanism and report-noisy-max.
//!
//! Permute-and-flip visits the candidates in a uniformly random order and accepts candidate
//! `i` with probability `exp(ε (q_i - q*) / (2Δ))`, where `q*` is the best quality. It is
//! `ε`-DP, never worse in expected quality than the exponential mechanism, and, unlike the
//! usual Gumbel-max implementation of the latter, needs no floating-point sampling: each
//! acceptance is an exact `Bernoulli(exp(-γ))` with rational `γ`.

use rand::RngCore;

use crate::Error;
use crate::nat::Nat;
use crate::sample::{Ratio, bernoulli_exp};

/// Pick the index of a high-quality candidate under `ε`-DP.
///
/// `qualities` are integers (scale them to integers first), and
/// `sensitivity` is how much one privacy unit can change any one quality.
///
/// # Errors
///
/// Fails on an empty candidate list, a zero sensitivity or a zero `ε`.
pub fn permute_and_flip<R: RngCore + ?Sized>(
    qualities: &[i128],
    sensitivity: u64,
    epsilon: &Ratio,
    rng: &mut R,
) -> Result<usize, Error> {
    if qualities.is_empty() {
        return Err(Error::param(
            "permute-and-flip needs at least one candidate",
        ));
    }
    if sensitivity == 0 || epsilon.numer().is_zero() {
        return Err(Error::param(
            "permute-and-flip needs a positive sensitivity and epsilon",
        ));
    }
    let best = qualities.iter().copied().max().unwrap_or(0);
    // γ_i = ε (q* - q_i) / (2Δ) = num (q* - q_i) / (den 2Δ).
    let den = epsilon
        .denom()
        .mul(&Nat::from(2u64))
        .mul(&Nat::from(sensitivity));
    let mut order: Vec<usize> = (0..qualities.len()).collect();
    // Lazy Fisher-Yates: draw the next candidate uniformly from those not yet visited.
    // Permute-and-flip always accepts the best candidate, so the loop ends within one pass;
    // the outer loop only guards the type system.
    loop {
        for i in 0..order.len() {
            let remaining = Nat::from(u64::try_from(order.len() - i).unwrap_or(u64::MAX));
            let j = remaining
                .uniform_below(rng)
                .and_then(|n| n.to_u128())
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            order.swap(i, i + j);
            let Some(&cand) = order.get(i) else { continue };
            let q = qualities.get(cand).copied().unwrap_or(i128::MIN);
            let gap = Nat::from(best.abs_diff(q));
            let gamma = Ratio::new(epsilon.numer().mul(&gap), den.clone())?;
            if bernoulli_exp(&gamma, rng) {
                return Ok(cand);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SecureRng;

    #[test]
    fn selection_frequencies_match_the_exact_distribution() {
        // Two candidates with quality gap g: P&F picks the worse one with probability
        // p = (1/2) e^{-εg/2Δ} exactly. 6-sigma binomial bound (false failure < 2e-9).
        let eps = Ratio::new(1u64, 1u64).unwrap();
        let mut rng = SecureRng::seeded_for_tests(40);
        let n = 40_000;
        let worse = (0..n)
            .filter(|_| permute_and_flip(&[0, 2], 1, &eps, &mut rng).unwrap() == 0)
            .count() as f64;
        let p = 0.5 * (-1.0f64).exp();
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (worse - n as f64 * p).abs() < 6.0 * sd,
            "{worse} vs {}",
            n as f64 * p
        );
        // And the check has power: the exponential mechanism's probability differs.
        let p_em = (-1.0f64).exp() / (1.0 + (-1.0f64).exp());
        assert!((worse - n as f64 * p_em).abs() > 6.0 * sd);
    }

    #[test]
    fn refuses_degenerate_input() {
        let eps = Ratio::new(1u64, 1u64).unwrap();
        let mut rng = SecureRng::seeded_for_tests(41);
        assert!(permute_and_flip(&[], 1, &eps, &mut rng).is_err());
        assert!(permute_and_flip(&[1], 0, &eps, &mut rng).is_err());
        assert_eq!(permute_and_flip(&[5], 1, &eps, &mut rng).unwrap(), 0);
    }
}
