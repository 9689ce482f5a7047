//! The privacy filter: a budget and what has been spent against it; a release that would
//! exceed the budget is refused and spends nothing.
//!
//! Which losses a budget accepts, and why that is sound even when each release's parameters
//! are chosen after seeing earlier answers (a *filter*, not fixed composition):
//!
//! | budget        | accepts                                  | composition                      |
//! |---------------|------------------------------------------|----------------------------------|
//! | `Pure(ε)`     | `Pure`                                   | `Σε ≤ ε` (Rogers et al. 2016)    |
//! | `Approx(ε,δ)` | `Pure`, `Approx`                         | `Σε ≤ ε`, `Σδ ≤ δ` (same)        |
//! | `Zcdp(ρ)`     | `Pure` (as `ε²/2`), `Zcdp`               | `Σρ ≤ ρ` (Whitehouse et al. 2023; Feldman, Zrnic 2021) |
//!
//! A zCDP budget that must deliver `(ε, δ)` is made with [`Budget::zcdp_for`]. Sums are exact:
//! every `f64` is a dyadic rational and so is every sum of them ([`Dyadic`]); the spent totals
//! are stored rounded up.

use std::cmp::Ordering;

use num_bigint::BigUint;
use num_traits::Zero;
use serde::{Deserialize, Serialize};

use crate::accountant::{PrivacyLoss, zcdp_for_epsilon, zcdp_to_epsilon};
use crate::{Error, ErrorKind};

/// A privacy budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notion", rename_all = "snake_case")]
pub enum Budget {
    /// Total `ε` under pure DP.
    Pure {
        /// ε > 0.
        epsilon: f64,
    },
    /// Total `(ε, δ)` under basic composition.
    Approx {
        /// ε > 0.
        epsilon: f64,
        /// 0 ≤ δ < 1.
        delta: f64,
    },
    /// Total `ρ` under zCDP.
    Zcdp {
        /// ρ > 0.
        rho: f64,
    },
}

impl Budget {
    /// The zCDP budget whose total converts (tight bound) to `(ε, δ)`-DP.
    ///
    /// # Errors
    ///
    /// Fails unless `ε > 0` and `0 < δ < 1`.
    pub fn zcdp_for(epsilon: f64, delta: f64) -> Result<Budget, Error> {
        let rho = zcdp_for_epsilon(epsilon, delta);
        if rho > 0.0 {
            Ok(Budget::Zcdp { rho })
        } else {
            Err(Error::param(format!(
                "no zCDP budget for `epsilon={epsilon}` `delta={delta}`"
            )))
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let pos = |x: f64| x.is_finite() && x >= 0.0;
        let ok = match *self {
            Budget::Pure { epsilon } => pos(epsilon),
            Budget::Approx { epsilon, delta } => pos(epsilon) && pos(delta) && delta < 1.0,
            Budget::Zcdp { rho } => pos(rho),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::param(format!("invalid budget `{self:?}`")))
        }
    }

    /// The `(ε, δ)` this budget guarantees when fully spent; for zCDP, `ε` at the given `δ`.
    pub fn as_approx(&self, delta_for_zcdp: f64) -> (f64, f64) {
        match *self {
            Budget::Pure { epsilon } => (epsilon, 0.0),
            Budget::Approx { epsilon, delta } => (epsilon, delta),
            Budget::Zcdp { rho } => (zcdp_to_epsilon(rho, delta_for_zcdp), delta_for_zcdp),
        }
    }
}

/// What has been spent: `ε` and `δ` (pure and approximate budgets) or `ρ` (zCDP budgets).
/// Each total is rounded up to an `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// Σε.
    pub epsilon: f64,
    /// Σδ.
    pub delta: f64,
    /// Σρ.
    pub rho: f64,
}

/// A budget and its spending. See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct PrivacyFilter {
    budget: Budget,
    spent: Spent,
}

impl PrivacyFilter {
    /// A fresh filter.
    ///
    /// # Errors
    ///
    /// Fails on a budget with NaN, infinite or negative parameters.
    pub fn new(budget: Budget) -> Result<Self, Error> {
        Self::with_spent(budget, Spent::default())
    }

    /// A filter resumed from stored totals (the ledger).
    ///
    /// # Errors
    ///
    /// Fails on an invalid budget or invalid spent totals.
    pub fn with_spent(budget: Budget, spent: Spent) -> Result<Self, Error> {
        budget.validate()?;
        let pos = |x: f64| x.is_finite() && x >= 0.0;
        if !(pos(spent.epsilon) && pos(spent.delta) && pos(spent.rho)) {
            return Err(Error::param(format!("invalid spent totals `{spent:?}`")));
        }
        Ok(PrivacyFilter { budget, spent })
    }

    /// The budget.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// What has been spent so far.
    pub fn spent(&self) -> Spent {
        self.spent
    }

    /// The totals after `loss`, if the budget allows it; the filter itself is unchanged.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BudgetExceeded`] when the release would exceed the budget;
    /// [`ErrorKind::InvalidParameter`] for an invalid loss or a notion this budget cannot pay
    /// for.
    pub fn check(&self, loss: &PrivacyLoss) -> Result<Spent, Error> {
        loss.validate()?;
        let mut next = self.spent;
        let (fits, what) = match (self.budget, *loss) {
            (Budget::Pure { epsilon: cap }, PrivacyLoss::Pure { epsilon }) => {
                next.epsilon = add_up(self.spent.epsilon, epsilon);
                (le(self.spent.epsilon, epsilon, cap), "epsilon")
            }
            (Budget::Approx { epsilon: ce, .. }, PrivacyLoss::Pure { epsilon }) => {
                next.epsilon = add_up(self.spent.epsilon, epsilon);
                (le(self.spent.epsilon, epsilon, ce), "epsilon")
            }
            (
                Budget::Approx {
                    epsilon: ce,
                    delta: cd,
                },
                PrivacyLoss::Approx { epsilon, delta },
            ) => {
                next.epsilon = add_up(self.spent.epsilon, epsilon);
                next.delta = add_up(self.spent.delta, delta);
                let e_ok = le(self.spent.epsilon, epsilon, ce);
                let d_ok = le(self.spent.delta, delta, cd);
                (e_ok && d_ok, if e_ok { "delta" } else { "epsilon" })
            }
            (Budget::Zcdp { rho: cap }, PrivacyLoss::Pure { epsilon }) => {
                let rho = epsilon * epsilon / 2.0;
                let rho = if Dyadic::from_f64(rho).mul2() < Dyadic::square(epsilon) {
                    rho.next_up()
                } else {
                    rho
                };
                next.rho = add_up(self.spent.rho, rho);
                (le(self.spent.rho, rho, cap), "rho")
            }
            (Budget::Zcdp { rho: cap }, PrivacyLoss::Zcdp { rho }) => {
                next.rho = add_up(self.spent.rho, rho);
                (le(self.spent.rho, rho, cap), "rho")
            }
            (budget, loss) => {
                return Err(Error::param(format!(
                    "a `{}` budget cannot pay for a `{}` release{}",
                    budget_name(&budget),
                    loss_name(&loss),
                    if matches!(budget, Budget::Approx { .. }) {
                        "; use a zcdp budget (Budget::zcdp_for) for zCDP releases"
                    } else {
                        ""
                    }
                )));
            }
        };
        if fits {
            Ok(next)
        } else {
            Err(Error::new(
                ErrorKind::BudgetExceeded,
                format!(
                    "privacy budget exceeded: the release needs more `{what}` than remains \
                     ({}); nothing was spent",
                    describe(&self.budget, &self.spent)
                ),
            ))
        }
    }

    /// Spend `loss` if the budget allows it; on refusal nothing changes.
    ///
    /// # Errors
    ///
    /// As [`PrivacyFilter::check`].
    pub fn try_spend(&mut self, loss: &PrivacyLoss) -> Result<Spent, Error> {
        let next = self.check(loss)?;
        self.spent = next;
        Ok(next)
    }
}

fn budget_name(b: &Budget) -> &'static str {
    match b {
        Budget::Pure { .. } => "pure",
        Budget::Approx { .. } => "approx",
        Budget::Zcdp { .. } => "zcdp",
    }
}

fn loss_name(l: &PrivacyLoss) -> &'static str {
    match l {
        PrivacyLoss::Pure { .. } => "pure",
        PrivacyLoss::Approx { .. } => "approx",
        PrivacyLoss::Zcdp { .. } => "zcdp",
    }
}

/// `spent + x <= cap`, exactly.
fn le(spent: f64, x: f64, cap: f64) -> bool {
    Dyadic::from_f64(spent).add(&Dyadic::from_f64(x)) <= Dyadic::from_f64(cap)
}

/// `spent + x`, rounded up to an `f64`.
fn add_up(spent: f64, x: f64) -> f64 {
    let exact = Dyadic::from_f64(spent).add(&Dyadic::from_f64(x));
    let near = spent + x;
    if Dyadic::from_f64(near) < exact {
        near.next_up()
    } else {
        near
    }
}

/// An exact non-negative dyadic rational `m * 2^e`.
#[derive(Clone, Debug)]
struct Dyadic {
    m: BigUint,
    e: i32,
}

impl Dyadic {
    /// Exact value of a finite non-negative double (negative and non-finite map to zero and
    /// are rejected before reaching here).
    fn from_f64(x: f64) -> Dyadic {
        if !(x.is_finite() && x > 0.0) {
            return Dyadic {
                m: BigUint::zero(),
                e: 0,
            };
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (m, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp - 1075)
        };
        Dyadic {
            m: BigUint::from(m),
            e,
        }
    }

    fn square(x: f64) -> Dyadic {
        let d = Dyadic::from_f64(x);
        Dyadic {
            m: &d.m * &d.m,
            e: d.e * 2,
        }
    }

    fn mul2(&self) -> Dyadic {
        Dyadic {
            m: self.m.clone(),
            e: self.e + 1,
        }
    }

    fn align(&self, other: &Dyadic) -> (BigUint, BigUint) {
        let e = self.e.min(other.e);
        let a = &self.m << usize::try_from(self.e - e).unwrap_or(0);
        let b = &other.m << usize::try_from(other.e - e).unwrap_or(0);
        (a, b)
    }

    fn add(&self, other: &Dyadic) -> Dyadic {
        let (a, b) = self.align(other);
        Dyadic {
            m: a + b,
            e: self.e.min(other.e),
        }
    }
}

impl PartialEq for Dyadic {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dyadic {}

impl PartialOrd for Dyadic {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dyadic {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = self.align(other);
        a.cmp(&b)
    }
}

/// The budget and what is spent, in words, for messages.
fn describe(budget: &Budget, spent: &Spent) -> String {
    match *budget {
        Budget::Pure { epsilon } => {
            format!(
                "budget epsilon = {epsilon}, spent epsilon = {}",
                spent.epsilon
            )
        }
        Budget::Approx { epsilon, delta } => format!(
            "budget epsilon = {epsilon}, delta = {delta}; spent epsilon = {}, delta = {}",
            spent.epsilon, spent.delta
        ),
        Budget::Zcdp { rho } => format!("budget rho = {rho} (zCDP), spent rho = {}", spent.rho),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_sums_fill_the_budget_exactly() {
        let mut f = PrivacyFilter::new(Budget::Pure { epsilon: 1.0 }).unwrap();
        for _ in 0..10 {
            f.try_spend(&PrivacyLoss::Pure { epsilon: 0.1 })
                .unwrap_or_else(|e| {
                    // 0.1 is not a dyadic fraction: ten of them exceed 1.0 by rounding; the last
                    // may be refused, which is the conservative outcome.
                    assert_eq!(e.kind(), ErrorKind::BudgetExceeded);
                    f.spent()
                });
        }
        let mut g = PrivacyFilter::new(Budget::Pure { epsilon: 1.0 }).unwrap();
        for _ in 0..4 {
            g.try_spend(&PrivacyLoss::Pure { epsilon: 0.25 }).unwrap();
        }
        assert_eq!(g.spent().epsilon, 1.0);
        let e = g
            .try_spend(&PrivacyLoss::Pure { epsilon: 1e-300 })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BudgetExceeded);
        assert_eq!(g.spent().epsilon, 1.0);
    }

    #[test]
    fn budgets_refuse_notions_they_cannot_pay_for() {
        let f = PrivacyFilter::new(Budget::Pure { epsilon: 1.0 }).unwrap();
        let e = f.check(&PrivacyLoss::Zcdp { rho: 0.01 }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidParameter);
        let z = PrivacyFilter::new(Budget::zcdp_for(1.0, 1e-6).unwrap()).unwrap();
        assert!(z.check(&PrivacyLoss::Pure { epsilon: 0.1 }).is_ok());
        assert!(
            z.check(&PrivacyLoss::Approx {
                epsilon: 0.1,
                delta: 1e-9
            })
            .is_err()
        );
        assert!(PrivacyFilter::new(Budget::Pure { epsilon: f64::NAN }).is_err());
    }

    #[test]
    fn approx_budget_tracks_delta_separately() {
        let mut f = PrivacyFilter::new(Budget::Approx {
            epsilon: 1.0,
            delta: 1e-6,
        })
        .unwrap();
        f.try_spend(&PrivacyLoss::Approx {
            epsilon: 0.1,
            delta: 1e-6,
        })
        .unwrap();
        let e = f
            .try_spend(&PrivacyLoss::Approx {
                epsilon: 0.1,
                delta: 1e-9,
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BudgetExceeded);
        assert!(e.to_string().contains("delta"));
        f.try_spend(&PrivacyLoss::Pure { epsilon: 0.5 }).unwrap();
    }

    fn loss() -> impl Strategy<Value = PrivacyLoss> {
        prop_oneof![
            (0.0..2.0f64).prop_map(|epsilon| PrivacyLoss::Pure { epsilon }),
            (0.0..2.0f64, 0.0..1e-5f64)
                .prop_map(|(epsilon, delta)| PrivacyLoss::Approx { epsilon, delta }),
            (0.0..1.0f64).prop_map(|rho| PrivacyLoss::Zcdp { rho }),
        ]
    }

    fn budget() -> impl Strategy<Value = Budget> {
        prop_oneof![
            (0.0..5.0f64).prop_map(|epsilon| Budget::Pure { epsilon }),
            (0.0..5.0f64, 0.0..1e-4f64)
                .prop_map(|(epsilon, delta)| Budget::Approx { epsilon, delta }),
            (0.0..3.0f64).prop_map(|rho| Budget::Zcdp { rho }),
        ]
    }

    proptest! {
        /// Whatever the sequence of requests, the spent totals never exceed the budget (the
        /// remaining budget never goes negative) and a refused request changes nothing.
        #[test]
        fn spending_never_exceeds_the_budget(b in budget(), losses in prop::collection::vec(loss(), 0..40)) {
            let mut f = PrivacyFilter::new(b).unwrap();
            for l in &losses {
                let before = f.spent();
                match f.try_spend(l) {
                    Ok(_) => {}
                    Err(_) => prop_assert_eq!(f.spent(), before),
                }
                let s = f.spent();
                match b {
                    Budget::Pure { epsilon } => prop_assert!(s.epsilon <= epsilon),
                    Budget::Approx { epsilon, delta } => {
                        prop_assert!(s.epsilon <= epsilon && s.delta <= delta)
                    }
                    Budget::Zcdp { rho } => prop_assert!(s.rho <= rho),
                }
            }
        }
    }
}
