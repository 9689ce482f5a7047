//! Exact natural numbers with a fast path.
//!
//! Every sampler in this crate works on exact integers and rationals. Almost all of the
//! arithmetic fits in a `u128`; a [`Nat`] stays a `u128` while it fits and promotes itself to
//! an arbitrary-precision [`BigUint`] the moment an operation would overflow. Because the
//! promotion happens operation by operation (the computation continues with the same value,
//! it is never restarted), the fast path changes only speed, never the distribution: the
//! same sequence of random draws yields the same output on either representation.

use std::cmp::Ordering;

use num_bigint::BigUint;
use num_traits::{ToPrimitive, Zero};
use rand::RngCore;

/// A natural number: `u128` while it fits, [`BigUint`] beyond.
#[derive(Clone, Debug)]
pub enum Nat {
    /// Fast path.
    Small(u128),
    /// Arbitrary precision, used only when a value exceeds `u128`.
    Big(BigUint),
}

impl Nat {
    /// Zero.
    pub const ZERO: Nat = Nat::Small(0);
    /// One.
    pub const ONE: Nat = Nat::Small(1);

    fn big(&self) -> BigUint {
        match self {
            Nat::Small(v) => BigUint::from(*v),
            Nat::Big(b) => b.clone(),
        }
    }

    fn from_big(b: BigUint) -> Nat {
        match b.to_u128() {
            Some(v) => Nat::Small(v),
            None => Nat::Big(b),
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        match self {
            Nat::Small(v) => *v == 0,
            Nat::Big(b) => b.is_zero(),
        }
    }

    /// The value as a `u128`, if it fits.
    pub fn to_u128(&self) -> Option<u128> {
        match self {
            Nat::Small(v) => Some(*v),
            Nat::Big(b) => b.to_u128(),
        }
    }

    /// The value as a [`BigUint`].
    pub fn to_biguint(&self) -> BigUint {
        self.big()
    }

    /// `self + other`.
    pub fn add(&self, other: &Nat) -> Nat {
        if let (Nat::Small(a), Nat::Small(b)) = (self, other)
            && let Some(v) = a.checked_add(*b)
        {
            return Nat::Small(v);
        }
        Nat::from_big(self.big() + other.big())
    }

    /// `self * other`.
    pub fn mul(&self, other: &Nat) -> Nat {
        if let (Nat::Small(a), Nat::Small(b)) = (self, other)
            && let Some(v) = a.checked_mul(*b)
        {
            return Nat::Small(v);
        }
        Nat::from_big(self.big() * other.big())
    }

    /// `|self - other|`.
    pub fn abs_diff(&self, other: &Nat) -> Nat {
        if let (Nat::Small(a), Nat::Small(b)) = (self, other) {
            return Nat::Small(a.abs_diff(*b));
        }
        let (a, b) = (self.big(), other.big());
        if a >= b {
            Nat::from_big(a - b)
        } else {
            Nat::from_big(b - a)
        }
    }

    /// `(self / other, self % other)`; `None` when `other` is zero.
    pub fn div_rem(&self, other: &Nat) -> Option<(Nat, Nat)> {
        if other.is_zero() {
            return None;
        }
        if let (Nat::Small(a), Nat::Small(b)) = (self, other) {
            return Some((Nat::Small(a / b), Nat::Small(a % b)));
        }
        let (a, b) = (self.big(), other.big());
        Some((Nat::from_big(&a / &b), Nat::from_big(a % b)))
    }

    /// `floor(sqrt(self))`.
    pub fn isqrt(&self) -> Nat {
        match self {
            Nat::Small(v) => Nat::Small(v.isqrt()),
            Nat::Big(b) => Nat::from_big(b.sqrt()),
        }
    }

    /// A uniform draw from `{0, 1, ..., self - 1}` by rejection sampling (exact);
    /// `None` when `self` is zero.
    pub fn uniform_below<R: RngCore + ?Sized>(&self, rng: &mut R) -> Option<Nat> {
        match self {
            Nat::Small(0) => None,
            Nat::Small(n) => Some(Nat::Small(uniform_below_u128(*n, rng))),
            Nat::Big(n) => Some(Nat::from_big(uniform_below_big(n, rng))),
        }
    }
}

impl From<u128> for Nat {
    fn from(v: u128) -> Self {
        Nat::Small(v)
    }
}

impl From<u64> for Nat {
    fn from(v: u64) -> Self {
        Nat::Small(u128::from(v))
    }
}

impl From<BigUint> for Nat {
    fn from(v: BigUint) -> Self {
        Nat::from_big(v)
    }
}

impl PartialEq for Nat {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Nat {}

impl PartialOrd for Nat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Nat {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Nat::Small(a), Nat::Small(b)) => a.cmp(b),
            _ => self.big().cmp(&other.big()),
        }
    }
}

/// Uniform in `[0, n)` for `n > 0`, exactly. Ranges up to `2^64` use Lemire's
/// multiply-and-reject method ("Fast random integer generation in an interval", 2019), which
/// needs one draw almost always and a 32-bit draw when the range allows; larger ranges draw
/// `bits(n - 1)` random bits and reject values `>= n`.
pub(crate) fn uniform_below_u128<R: RngCore + ?Sized>(n: u128, rng: &mut R) -> u128 {
    if n <= 1 {
        return 0;
    }
    if let Ok(n32) = u32::try_from(n) {
        // m = x * n; the high word is uniform once the low word clears the threshold.
        let mut m = u64::from(rng.next_u32()) * u64::from(n32);
        if (m as u32) < n32 {
            let threshold = n32.wrapping_neg() % n32;
            while (m as u32) < threshold {
                m = u64::from(rng.next_u32()) * u64::from(n32);
            }
        }
        return u128::from(m >> 32);
    }
    if let Ok(n64) = u64::try_from(n) {
        let mut m = u128::from(rng.next_u64()) * u128::from(n64);
        if (m as u64) < n64 {
            let threshold = n64.wrapping_neg() % n64;
            while (m as u64) < threshold {
                m = u128::from(rng.next_u64()) * u128::from(n64);
            }
        }
        return m >> 64;
    }
    let max = n - 1;
    let bits = 128 - max.leading_zeros();
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    loop {
        let raw = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        let v = raw & mask;
        if v <= max {
            return v;
        }
    }
}

fn uniform_below_big<R: RngCore + ?Sized>(n: &BigUint, rng: &mut R) -> BigUint {
    let max = n - 1u32;
    let bits = max.bits();
    let nbytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let extra = (nbytes as u64) * 8 - bits;
    let mut buf = vec![0u8; nbytes];
    loop {
        rng.fill_bytes(&mut buf);
        if let Some(first) = buf.last_mut() {
            // Little-endian: the last byte is the most significant; clear the excess bits.
            *first &= 0xffu8 >> extra;
        }
        let v = BigUint::from_bytes_le(&buf);
        if v <= max {
            return v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn arithmetic_promotes_on_overflow_and_demotes_back() {
        let a = Nat::from(u128::MAX);
        let b = a.add(&Nat::ONE);
        assert!(matches!(b, Nat::Big(_)));
        let c = b.abs_diff(&Nat::ONE);
        assert!(matches!(c, Nat::Small(v) if v == u128::MAX));
        let sq = a.mul(&a);
        let (q, r) = sq.div_rem(&a).unwrap();
        assert_eq!(q, a);
        assert!(r.is_zero());
        assert_eq!(sq.isqrt(), a);
        assert!(Nat::from(3u64).div_rem(&Nat::ZERO).is_none());
    }

    #[test]
    fn lemire_uniform_is_unbiased_on_a_small_range() {
        // n = 3 on 32-bit draws: chi-square with 2 df, critical value at 1e-6 is 27.6.
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut counts = [0f64; 3];
        let draws = 30_000;
        for _ in 0..draws {
            counts[usize::try_from(uniform_below_u128(3, &mut rng)).unwrap()] += 1.0;
        }
        let e = f64::from(draws) / 3.0;
        let chi2: f64 = counts.iter().map(|o| (o - e) * (o - e) / e).sum();
        assert!(chi2 < 27.6, "{counts:?}");
        let big = (1u128 << 64) + 5;
        assert!((0..100).all(|_| uniform_below_u128(big, &mut rng) < big));
        let mid = (1u128 << 40) + 3;
        assert!((0..100).all(|_| uniform_below_u128(mid, &mut rng) < mid));
    }

    #[test]
    fn uniform_below_stays_in_range_for_both_representations() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let big = Nat::from(u128::MAX).mul(&Nat::from(3u64));
        for _ in 0..200 {
            let v = Nat::from(7u64).uniform_below(&mut rng).unwrap();
            assert!(v < Nat::from(7u64));
            let w = big.uniform_below(&mut rng).unwrap();
            assert!(w < big);
        }
        assert!(Nat::ZERO.uniform_below(&mut rng).is_none());
        assert_eq!(Nat::ONE.uniform_below(&mut rng), Some(Nat::ZERO));
    }
}
