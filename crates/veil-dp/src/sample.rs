//! Exact samplers: Bernoulli, discrete Laplace, discrete Gaussian (Canonne, Kamath, Steinke
//! 2020, "The Discrete Gaussian for Differential Privacy", Algorithms 1-3), and the continuous
//! Laplace and Gaussian released on a `2^k` grid.
//!
//! Nothing here samples a floating-point number. Every probability is an exact rational
//! ([`Ratio`]), every draw an exact uniform integer (rejection sampling), so the output
//! distribution is exactly the one the privacy proof assumes. Mironov (2012) showed that the
//! textbook `b * ln(U)` Laplace sampler on doubles leaks the input through the pattern of
//! representable outputs; a sampler on integers has no such pattern to leak.

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{One, ToPrimitive};
use rand::RngCore;

use crate::Error;
use crate::nat::{Nat, uniform_below_u128};

/// A positive (or zero) exact rational `num / den`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ratio {
    num: Nat,
    den: Nat,
}

impl Ratio {
    /// `num / den`.
    ///
    /// # Errors
    ///
    /// Fails when `den` is zero.
    pub fn new(num: impl Into<Nat>, den: impl Into<Nat>) -> Result<Self, Error> {
        let (num, den) = (num.into(), den.into());
        if den.is_zero() {
            return Err(Error::param("a rational needs a non-zero denominator"));
        }
        Ok(Ratio { num, den })
    }

    /// The exact value of a finite, non-negative `f64` (every double is a dyadic rational).
    ///
    /// # Errors
    ///
    /// Fails for NaN, infinities and negative numbers.
    pub fn from_f64(x: f64) -> Result<Self, Error> {
        if !x.is_finite() || x < 0.0 {
            return Err(Error::param(format!(
                "expected a finite non-negative number, got `{x}`"
            )));
        }
        let (mant, exp) = decompose(x);
        if mant == 0 {
            return Ok(Ratio {
                num: Nat::ZERO,
                den: Nat::ONE,
            });
        }
        if exp >= 0 {
            Ok(Ratio {
                num: Nat::from(mant).mul(&pow2(exp.unsigned_abs())),
                den: Nat::ONE,
            })
        } else {
            Ok(Ratio {
                num: Nat::from(mant),
                den: pow2(exp.unsigned_abs()),
            })
        }
    }

    /// Numerator.
    pub fn numer(&self) -> &Nat {
        &self.num
    }

    /// Denominator.
    pub fn denom(&self) -> &Nat {
        &self.den
    }

    /// `self * 2^shift` for a signed shift, exactly.
    pub fn scale_pow2(&self, shift: i32) -> Ratio {
        let p = pow2(shift.unsigned_abs());
        if shift >= 0 {
            Ratio {
                num: self.num.mul(&p),
                den: self.den.clone(),
            }
        } else {
            Ratio {
                num: self.num.clone(),
                den: self.den.mul(&p),
            }
        }
    }

    /// `self * n / d`, exactly.
    pub fn mul_ratio(&self, other: &Ratio) -> Ratio {
        Ratio {
            num: self.num.mul(&other.num),
            den: self.den.mul(&other.den),
        }
    }

    /// The nearest `f64` (for reporting only, never for sampling).
    pub fn to_f64(&self) -> f64 {
        let n = self.num.to_biguint();
        let d = self.den.to_biguint();
        big_ratio_to_f64(&n, &d)
    }
}

fn big_ratio_to_f64(n: &BigUint, d: &BigUint) -> f64 {
    // Scale both to ~64 significant bits so the division is accurate even for huge values.
    let nb = i64::try_from(n.bits()).unwrap_or(i64::MAX);
    let db = i64::try_from(d.bits()).unwrap_or(i64::MAX);
    let ns = (nb - 64).max(0);
    let ds = (db - 64).max(0);
    let nf = (n >> usize::try_from(ns).unwrap_or(0))
        .to_f64()
        .unwrap_or(f64::INFINITY);
    let df = (d >> usize::try_from(ds).unwrap_or(0))
        .to_f64()
        .unwrap_or(f64::INFINITY);
    let e = i32::try_from(ns - ds).unwrap_or(i32::MAX);
    nf / df * 2f64.powi(e)
}

/// `x = mant * 2^exp` for a finite non-negative double.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut mant, mut exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    if mant != 0 {
        let tz = mant.trailing_zeros();
        mant >>= tz;
        exp += tz as i32;
    }
    (mant, exp)
}

fn pow2(k: u32) -> Nat {
    if k < 128 {
        Nat::Small(1u128 << k)
    } else {
        Nat::from(BigUint::one() << k)
    }
}

/// An exact signed integer output of a sampler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integer {
    negative: bool,
    magnitude: Nat,
}

impl Integer {
    fn new(negative: bool, magnitude: Nat) -> Self {
        let negative = negative && !magnitude.is_zero();
        Integer {
            negative,
            magnitude,
        }
    }

    /// From a signed 128-bit value.
    pub fn from_i128(v: i128) -> Self {
        Integer::new(v < 0, Nat::Small(v.unsigned_abs()))
    }

    /// The value as an `i64`, if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        let m = i128::try_from(self.magnitude.to_u128()?).ok()?;
        Some(if self.negative { -m } else { m })
    }

    /// The value as a [`BigInt`].
    pub fn to_bigint(&self) -> BigInt {
        let sign = if self.magnitude.is_zero() {
            Sign::NoSign
        } else if self.negative {
            Sign::Minus
        } else {
            Sign::Plus
        };
        BigInt::from_biguint(sign, self.magnitude.to_biguint())
    }

    /// `self + other`, exactly.
    pub fn add(&self, other: &Integer) -> Integer {
        if self.negative == other.negative {
            return Integer::new(self.negative, self.magnitude.add(&other.magnitude));
        }
        // Opposite signs: the result takes the sign of the larger magnitude.
        let diff = self.magnitude.abs_diff(&other.magnitude);
        let negative = if self.magnitude >= other.magnitude {
            self.negative
        } else {
            other.negative
        };
        Integer::new(negative, diff)
    }

    /// The nearest `f64` times `2^k` (post-processing of an exact value; reporting only).
    pub fn to_f64_times_pow2(&self, k: i32) -> f64 {
        let m = big_ratio_to_f64(&self.magnitude.to_biguint(), &BigUint::one());
        let v = if k < -1000 {
            m * 2f64.powi(-1000) * 2f64.powi(k + 1000)
        } else {
            m * 2f64.powi(k)
        };
        if self.negative { -v } else { v }
    }
}

/// The nearest multiple of `2^k` to `x`, as an integer count of `2^k` (ties away from zero).
///
/// # Errors
///
/// Fails for NaN and infinities.
pub fn round_to_grid(x: f64, k: i32) -> Result<Integer, Error> {
    if !x.is_finite() {
        return Err(Error::param(format!("expected a finite number, got `{x}`")));
    }
    let (mant, exp) = decompose(x.abs());
    let shift = exp - k;
    let magnitude = if mant == 0 {
        Nat::ZERO
    } else if shift >= 0 {
        Nat::from(mant).mul(&pow2(shift.unsigned_abs()))
    } else {
        let s = shift.unsigned_abs();
        if s > 64 {
            Nat::ZERO
        } else {
            let m = u128::from(mant);
            Nat::Small((m + (1u128 << (s - 1))) >> s)
        }
    };
    Ok(Integer::new(x < 0.0, magnitude))
}

/// `Bernoulli(num / den)` for `num <= den`, exactly.
fn bernoulli_ratio<R: RngCore + ?Sized>(num: &Nat, den: &Nat, rng: &mut R) -> bool {
    match den.uniform_below(rng) {
        Some(u) => u < *num,
        None => false,
    }
}

/// `Bernoulli(exp(-num/den))` for `0 <= num/den <= 1` (CKS 2020, Algorithm 1, first part).
fn bernoulli_exp_le1<R: RngCore + ?Sized>(num: &Nat, den: &Nat, rng: &mut R) -> bool {
    // Fast path: both small enough that den * k cannot overflow for any plausible k.
    if let (Some(n), Some(d)) = (num.to_u128(), den.to_u128())
        && d <= u128::from(u64::MAX)
    {
        let mut k: u128 = 1;
        loop {
            let dk = d * k; // d < 2^64 and k < 2^64 in any run that terminates
            if uniform_below_u128(dk, rng) >= n {
                break;
            }
            k += 1;
        }
        return k % 2 == 1;
    }
    let mut k = Nat::ONE;
    loop {
        if !bernoulli_ratio(num, &den.mul(&k), rng) {
            break;
        }
        k = k.add(&Nat::ONE);
    }
    k.div_rem(&Nat::Small(2))
        .is_some_and(|(_, r)| r == Nat::ONE)
}

/// `Bernoulli(exp(-gamma))` for any rational `gamma >= 0` (CKS 2020, Algorithm 1).
pub fn bernoulli_exp<R: RngCore + ?Sized>(gamma: &Ratio, rng: &mut R) -> bool {
    let Some((whole, frac)) = gamma.num.div_rem(&gamma.den) else {
        return false;
    };
    // exp(-gamma) = exp(-1)^floor(gamma) * exp(-frac(gamma)): one coin per factor.
    let mut i = Nat::ZERO;
    while i < whole {
        if !bernoulli_exp_le1(&Nat::ONE, &Nat::ONE, rng) {
            return false;
        }
        i = i.add(&Nat::ONE);
    }
    bernoulli_exp_le1(&frac, &gamma.den, rng)
}

/// Discrete Laplace with `P(x) ∝ exp(-|x| / scale)` on the integers (CKS 2020, Algorithm 2).
///
/// # Errors
///
/// Fails when `scale` is zero.
pub fn discrete_laplace<R: RngCore + ?Sized>(scale: &Ratio, rng: &mut R) -> Result<Integer, Error> {
    if scale.num.is_zero() {
        return Err(Error::param("the discrete Laplace scale must be positive"));
    }
    // CKS write the scale as t/s.
    let (t, s) = (&scale.num, &scale.den);
    loop {
        let Some(u) = t.uniform_below(rng) else {
            continue;
        };
        if !bernoulli_exp_le1(&u, t, rng) {
            continue;
        }
        let mut v = Nat::ZERO;
        while bernoulli_exp_le1(&Nat::ONE, &Nat::ONE, rng) {
            v = v.add(&Nat::ONE);
        }
        let x = u.add(&t.mul(&v));
        let Some((y, _)) = x.div_rem(s) else {
            continue;
        };
        let negative = rng.next_u32() & 1 == 1;
        if negative && y.is_zero() {
            continue;
        }
        return Ok(Integer::new(negative, y));
    }
}

/// Discrete Gaussian with `P(x) ∝ exp(-x² / (2 sigma2))` on the integers
/// (CKS 2020, Algorithm 3).
///
/// # Errors
///
/// Fails when `sigma2` is zero.
pub fn discrete_gaussian<R: RngCore + ?Sized>(
    sigma2: &Ratio,
    rng: &mut R,
) -> Result<Integer, Error> {
    if sigma2.num.is_zero() {
        return Err(Error::param(
            "the discrete Gaussian variance must be positive",
        ));
    }
    let (a, b) = (&sigma2.num, &sigma2.den);
    // t = floor(sigma) + 1 = floor(sqrt(floor(a / b))) + 1.
    let (floor_var, _) = a
        .div_rem(b)
        .ok_or_else(|| Error::param("the discrete Gaussian variance must be finite"))?;
    let t = floor_var.isqrt().add(&Nat::ONE);
    let lap_scale = Ratio {
        num: t.clone(),
        den: Nat::ONE,
    };
    // gamma = (|y| - sigma2/t)^2 / (2 sigma2) = (|y| b t - a)^2 / (2 a b t^2).
    let bt = b.mul(&t);
    let den = Nat::Small(2).mul(a).mul(&bt).mul(&t);
    loop {
        let y = discrete_laplace(&lap_scale, rng)?;
        let diff = y.magnitude.mul(&bt).abs_diff(a);
        let gamma = Ratio {
            num: diff.mul(&diff),
            den: den.clone(),
        };
        if bernoulli_exp(&gamma, rng) {
            return Ok(y);
        }
    }
}

/// The default grid exponent for a continuous release of noise scale `scale`: the grid
/// spacing `2^k` is at most `2^-40` of the scale, so the discretisation is far below the
/// noise, while the integers stay small enough for the fast path.
pub fn grid_exponent(scale: f64) -> i32 {
    if !(scale.is_finite() && scale > 0.0) {
        return -1074;
    }
    let (mant, exp) = decompose(scale);
    let log2_floor = exp + (63 - mant.leading_zeros() as i32);
    (log2_floor - 40).max(-1074)
}

/// A continuous Laplace release on the grid `2^k Z`: `x` is rounded to the grid and discrete
/// Laplace noise of scale `scale / 2^k` (in grid units) is added, exactly. With sensitivity
/// `Δ` of the real-valued query this is `(Δ + 2^k) / scale`-DP (the rounding can move a
/// neighbour by one grid step); `veil_dp::query` accounts for it the same way.
///
/// # Errors
///
/// Fails for a non-finite `x` or a non-positive `scale`.
pub fn laplace_on_grid<R: RngCore + ?Sized>(
    x: f64,
    scale: f64,
    k: i32,
    rng: &mut R,
) -> Result<f64, Error> {
    let scale = positive(scale, "Laplace scale")?;
    let base = round_to_grid(x, k)?;
    let noise = discrete_laplace(&scale.scale_pow2(-k), rng)?;
    Ok(base.add(&noise).to_f64_times_pow2(k))
}

/// A continuous Gaussian release on the grid `2^k Z` (see [`laplace_on_grid`]); the noise is
/// a discrete Gaussian of variance `sigma² / 4^k` in grid units.
///
/// # Errors
///
/// Fails for a non-finite `x` or a non-positive `sigma`.
pub fn gaussian_on_grid<R: RngCore + ?Sized>(
    x: f64,
    sigma: f64,
    k: i32,
    rng: &mut R,
) -> Result<f64, Error> {
    let sigma = positive(sigma, "Gaussian sigma")?;
    let base = round_to_grid(x, k)?;
    let var = sigma.mul_ratio(&sigma).scale_pow2(-2 * k);
    let noise = discrete_gaussian(&var, rng)?;
    Ok(base.add(&noise).to_f64_times_pow2(k))
}

pub(crate) fn positive(x: f64, what: &str) -> Result<Ratio, Error> {
    if !(x.is_finite() && x > 0.0) {
        return Err(Error::param(format!(
            "the {what} must be a positive finite number, got `{x}`"
        )));
    }
    Ratio::from_f64(x)
}

#[cfg(test)]
mod tests;
