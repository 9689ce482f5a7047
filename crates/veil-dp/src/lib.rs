//! `veil-dp`: differential privacy with exact noise, one accountant and a budget ledger.
//!
//! The layers, bottom up:
//!
//! - [`sample`]: exact samplers on integers and rationals (Bernoulli(exp(-γ)), discrete
//!   Laplace, discrete Gaussian; continuous Laplace and Gaussian released on a `2^k` grid),
//!   fed by [`SecureRng`] (ChaCha20 keyed from the OS). No floating-point sampling anywhere.
//! - [`mechanism`]: permute-and-flip selection (exact exponential-mechanism replacement).
//! - [`accountant`]: [`PrivacyLoss`] in pure, approximate, zCDP and Rényi DP; conversions
//!   (the tight zCDP → (ε, δ) bound) and composition.
//! - [`PrivacyFilter`]: a [`Budget`] and its spending; refuses a release that would exceed
//!   it and then spends nothing.
//! - [`ledger`]: the [`Ledger`] contract (atomic check-and-spend) per dataset and
//!   privacy unit; SQL back ends live in `veil-store`.
//! - [`query`]: DP queries over a table (count, sum, mean, variance, quantile, histogram,
//!   group-by) with contribution bounding, clamping and private partition selection, under
//!   the Laplace (ε) or Gaussian (ρ) mechanism.
//! - [`release`]: several queries from one TOML spec, composed into one loss charged once.
//!
//! The design note `docs/dp.md` explains the threat model and every formula.
//!
//! ```
//! use veil_dp::{Budget, PrivacyFilter, PrivacyLoss, SecureRng, sample};
//!
//! let mut filter = PrivacyFilter::new(Budget::Pure { epsilon: 1.0 })?;
//! // A count has sensitivity 1; discrete Laplace of scale 1/ε is ε-DP.
//! let epsilon = 0.5;
//! filter.try_spend(&PrivacyLoss::Pure { epsilon })?;
//! let mut rng = SecureRng::from_os()?;
//! let noise = sample::discrete_laplace(&sample::Ratio::new(2u64, 1u64)?, &mut rng)?;
//! let noisy_count = 42 + noise.to_i64().unwrap_or(0);
//! # let _ = noisy_count;
//! // The budget is 1.0 and 0.5 is spent: a release needing 0.6 is refused, spending nothing.
//! assert!(filter.try_spend(&PrivacyLoss::Pure { epsilon: 0.6 }).is_err());
//! assert_eq!(filter.spent().epsilon, 0.5);
//! # Ok::<(), veil_dp::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod accountant;
mod error;
mod filter;
pub mod ledger;
pub mod mechanism;
mod nat;
pub mod query;
pub mod release;
mod rng;
pub mod sample;

pub use accountant::PrivacyLoss;
pub use error::{Error, ErrorKind};
pub use filter::{Budget, PrivacyFilter, Spent};
pub use ledger::{Ledger, LedgerEntry, LedgerKey, MemoryLedger};
pub use nat::Nat;
pub use rng::SecureRng;
