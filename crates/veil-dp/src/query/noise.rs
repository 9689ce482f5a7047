//! The noise a query adds, and the widths of its confidence intervals.
//!
//! A query splits its budget evenly over its `parts` noisy statistics. Each statistic has an
//! L1 sensitivity (for the discrete Laplace) and an L2 sensitivity (for the discrete
//! Gaussian), both in integer grid units; the samplers are the exact ones of
//! [`crate::sample`]. Interval widths are computed from public parameters only (the scale),
//! always rounded outwards, so a reported 95% interval covers at least 95% of the time.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::nat::Nat;
use crate::sample::{Ratio, discrete_gaussian, discrete_laplace};
use crate::{Error, PrivacyLoss};

/// How a query's noise is drawn, and so in which notion its loss is accounted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum Privacy {
    /// Discrete Laplace noise: the query is `ε`-DP (`(ε, δ)`-DP with private partition
    /// selection).
    Laplace {
        /// ε of the whole query.
        epsilon: f64,
    },
    /// Discrete Gaussian noise: the query is `ρ`-zCDP (Bun, Steinke 2016; CKS 2020 Thm 4).
    /// Grouping needs public keys: thresholding would add a δ that a zCDP budget cannot hold.
    Gaussian {
        /// ρ of the whole query.
        rho: f64,
    },
}

impl Privacy {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let (name, x) = match *self {
            Privacy::Laplace { epsilon } => ("epsilon", epsilon),
            Privacy::Gaussian { rho } => ("rho", rho),
        };
        if x.is_finite() && x > 0.0 {
            Ok(())
        } else {
            Err(Error::param(format!(
                "{name} must be a positive finite number, got `{x}`"
            )))
        }
    }

    /// The loss of a query run with this privacy parameter, `δ` spent by partition selection.
    pub(crate) fn loss(&self, delta: f64) -> PrivacyLoss {
        match *self {
            Privacy::Laplace { epsilon } if delta > 0.0 => PrivacyLoss::Approx { epsilon, delta },
            Privacy::Laplace { epsilon } => PrivacyLoss::Pure { epsilon },
            Privacy::Gaussian { rho } => PrivacyLoss::Zcdp { rho },
        }
    }
}

/// The noise of one query: the mechanism with its exact parameter and the number of parts.
#[derive(Clone, Debug)]
pub(crate) struct Noise {
    gaussian: bool,
    /// ε or ρ, exactly.
    param: Ratio,
    parts: u64,
}

/// The noise scale of one statistic: Laplace `b` or Gaussian `σ`, in grid units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    gaussian: bool,
    /// Laplace `b` or Gaussian `σ`.
    pub(crate) value: f64,
}

impl Noise {
    pub(crate) fn new(privacy: Privacy, parts: u64) -> Result<Self, Error> {
        privacy.validate()?;
        let (gaussian, x) = match privacy {
            Privacy::Laplace { epsilon } => (false, epsilon),
            Privacy::Gaussian { rho } => (true, rho),
        };
        Ok(Noise {
            gaussian,
            param: Ratio::from_f64(x)?,
            parts: parts.max(1),
        })
    }

    /// The exact sampler parameter (Laplace scale or Gaussian variance, grid units) for a
    /// statistic to which one privacy unit contributes to at most `groups` groups, changing
    /// each by at most `per_group` grid units: L1 sensitivity `groups·per_group`, L2
    /// sensitivity `sqrt(groups)·per_group`.
    fn parameter(&self, groups: u32, per_group: &Nat) -> Result<(Ratio, Scale), Error> {
        let g = Nat::from(u64::from(groups));
        let parts = Nat::from(self.parts);
        if self.gaussian {
            // σ² = Δ₂² · parts / (2ρ), Δ₂² = groups · per_group².
            let num = g
                .mul(per_group)
                .mul(per_group)
                .mul(&parts)
                .mul(self.param.denom());
            let den = Nat::from(2u64).mul(self.param.numer());
            let var = Ratio::new(num, den)?;
            let value = var.to_f64().sqrt();
            Ok((
                var,
                Scale {
                    gaussian: true,
                    value,
                },
            ))
        } else {
            // b = Δ₁ · parts / ε, Δ₁ = groups · per_group.
            let num = g.mul(per_group).mul(&parts).mul(self.param.denom());
            let scale = Ratio::new(num, self.param.numer().clone())?;
            let value = scale.to_f64();
            Ok((
                scale,
                Scale {
                    gaussian: false,
                    value,
                },
            ))
        }
    }

    /// The scale [`Noise::draw`] would use, without drawing.
    pub(crate) fn scale(&self, groups: u32, per_group: &Nat) -> Result<Scale, Error> {
        self.parameter(groups, per_group).map(|(_, s)| s)
    }

    /// Draw noise (see [`Noise::parameter`] for the sensitivity).
    pub(crate) fn draw<R: RngCore + ?Sized>(
        &self,
        groups: u32,
        per_group: &Nat,
        rng: &mut R,
    ) -> Result<(i128, Scale), Error> {
        let (param, scale) = self.parameter(groups, per_group)?;
        let z = if self.gaussian {
            discrete_gaussian(&param, rng)?
        } else {
            discrete_laplace(&param, rng)?
        };
        let z = z
            .to_i128()
            .ok_or_else(|| Error::param("noise out of range: the budget is too small"))?;
        Ok((z, scale))
    }
}

impl Scale {
    /// Half-width `m` (grid units) with `P(|Z| > m) ≤ alpha` for one draw.
    pub(crate) fn halfwidth(&self, alpha: f64) -> f64 {
        if self.gaussian {
            gauss_halfwidth(self.value, alpha)
        } else {
            dlap_halfwidth(self.value, alpha)
        }
    }

    /// Half-width `u` with `P(|Z_1 + … + Z_j| > u) ≤ alpha` for `j` independent draws.
    pub(crate) fn sum_halfwidth(&self, j: u64, alpha: f64) -> f64 {
        if j <= 1 {
            return self.halfwidth(alpha);
        }
        if self.gaussian {
            // The discrete Gaussian is σ²-subgaussian (CKS 2020, Corollary 9), so a sum of j
            // is jσ²-subgaussian: P(|S| ≥ u) ≤ 2 exp(-u² / (2jσ²)).
            let u = self.value * (2.0 * j as f64 * (2.0 / alpha).ln()).sqrt();
            u.ceil()
        } else {
            dlap_sum_halfwidth(self.value, j, alpha)
        }
    }
}

/// Smallest `m` with `P(|Z| > m) ≤ alpha` for a discrete Laplace of scale `t`:
/// `P(|Z| > m) = 2 e^{-(m+1)/t} / (1 + e^{-1/t})`.
pub(crate) fn dlap_halfwidth(t: f64, alpha: f64) -> f64 {
    let q = (-1.0 / t).exp();
    (t * (2.0 / (alpha * (1.0 + q))).ln() - 1.0).ceil().max(0.0)
}

/// Half-width for one discrete Gaussian of parameter `σ`: `P(|Z| > m) ≤ 2 Q(m/σ)`, because
/// `Σ_{x>m} e^{-x²/2σ²} ≤ ∫_m^∞ e^{-t²/2σ²} dt` and the normaliser `Σ_x e^{-x²/2σ²}` is at
/// least `sqrt(2π) σ` (Poisson summation). So `m = ⌈σ z_{1-α/2}⌉`.
fn gauss_halfwidth(sigma: f64, alpha: f64) -> f64 {
    (sigma * normal_upper_quantile(alpha / 2.0)).ceil()
}

/// `z` with `Q(z) = P(N(0,1) > z) ≤ p`, rounded up (bisection on a Chebyshev `erfc`
/// accurate to 1.2e-7 relative, with a relative safety margin of 1e-6 on `p`).
pub(crate) fn normal_upper_quantile(p: f64) -> f64 {
    let target = p * (1.0 - 1e-6);
    let q = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2) * (1.0 + 1.2e-7);
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if q(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Complementary error function, fractional error below 1.2e-7 everywhere (the Chebyshev
/// fit of Press et al., *Numerical Recipes*, §6.2). Written out because `std` has no `erfc`
/// and one function does not justify a dependency.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Half-width for a sum of `j` independent discrete Laplace draws of scale `t`, by the
/// Chernoff bound on the exact moment generating function, at its optimal λ (closed form): with `p = e^{-1/t}`,
/// `E[e^{λZ}] = (1-p)² / ((1-pe^λ)(1-pe^{-λ}))` for `0 ≤ λ < 1/t`, and
/// `P(|S| ≥ u) ≤ 2 min_λ exp(j ln E[e^{λZ}] - λu)`. Never wider than `j` single intervals
/// at `alpha/j` (the union bound), which is also computed and the smaller one returned.
fn dlap_sum_halfwidth(t: f64, j: u64, alpha: f64) -> f64 {
    let jf = j as f64;
    let union = jf * dlap_halfwidth(t, alpha / jf);
    let inv_t = 1.0 / t;
    // ln(1 - p e^λ) = ln(-expm1(λ - 1/t)), accurate for large t.
    let ln_mgf = |l: f64| {
        2.0 * (-(-inv_t).exp_m1()).ln()
            - (-(l - inv_t).exp_m1()).ln()
            - (-(-l - inv_t).exp_m1()).ln()
    };
    let p = (-inv_t).exp();
    let log_bound = |u: f64| {
        // The minimising λ solves d/dλ ln E[e^{λZ}] = u/j; with x = e^λ and a = u/j this is
        // p(1+a)x² − a(1+p²)x − p(1−a) = 0. Any λ in (0, 1/t) gives a valid bound, so
        // rounding in the root only loosens it.
        let a = u / jf;
        let disc = (a * (1.0 + p * p)).powi(2) + 4.0 * p * p * (1.0 + a) * (1.0 - a);
        let x = (a * (1.0 + p * p) + disc.max(0.0).sqrt()) / (2.0 * p * (1.0 + a));
        let l = x.ln().clamp(0.0, inv_t * (1.0 - 1e-12));
        jf * ln_mgf(l) - l * u
    };
    let target = (alpha / 2.0).ln();
    // The smallest integer u with log_bound(u) ≤ target: bisection up to the union bound.
    if log_bound(union) > target {
        return union;
    }
    let (mut lo, mut hi) = (0.0f64, union);
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if log_bound(mid) <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_published_values() {
        // Abramowitz and Stegun, table 26.1.
        for (p, z) in [
            (0.025, 1.959_963_985),
            (0.005, 2.575_829_304),
            (0.05, 1.644_853_627),
        ] {
            let ours = normal_upper_quantile(p);
            assert!(ours >= z && ours - z < 1e-5, "p {p}: {ours} vs {z}");
        }
    }

    #[test]
    fn laplace_sum_bound_is_valid_and_tighter_than_the_union_bound() {
        // Monte Carlo with the exact sampler: the bound must hold, and be useful.
        use crate::SecureRng;
        let t = 3.0;
        let (j, alpha) = (50u64, 0.05);
        let u = dlap_sum_halfwidth(t, j, alpha);
        assert!(u < j as f64 * dlap_halfwidth(t, alpha / j as f64));
        let mut rng = SecureRng::seeded_for_tests(90);
        let scale = Ratio::new(3u64, 1u64).unwrap();
        let trials = 4000;
        let outside = (0..trials)
            .filter(|_| {
                let s: i64 = (0..j)
                    .map(|_| {
                        discrete_laplace(&scale, &mut rng)
                            .unwrap()
                            .to_i64()
                            .unwrap()
                    })
                    .sum();
                (s.unsigned_abs() as f64) > u
            })
            .count();
        // Expected below 5% (Chernoff is conservative); 6-sigma slack above 5%.
        assert!(outside <= 200 + 83, "outside {outside}/{trials}");
        // And not absurdly wide: the sum's standard deviation is sqrt(j·2p)/(1-p) ≈ 29.
        assert!(u < 4.0 * 29.5, "{u}");
    }
}
