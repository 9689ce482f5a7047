//! The randomness every release draws from.
//!
//! [`SecureRng`] is ChaCha20 keyed with 256 bits from the operating system's CSPRNG
//! (`getrandom`, through `rand`'s `OsRng`). Why not call the OS for every draw: a discrete
//! Gaussian sample needs a dozen or more small draws, and a system call per draw costs about a
//! microsecond, which alone would cap us below the 1 M samples/s we need. ChaCha20 is a
//! cryptographically secure stream cipher: its output cannot be told apart from uniform
//! without the key, which never leaves process memory. This is the construction `rand`'s
//! `ThreadRng` and the Linux kernel's own CSPRNG use; we take the full 20 rounds (not
//! ThreadRng's 12) because the cost is negligible next to the samplers.
//!
//! A seeded generator is available only through [`SecureRng::seeded_for_tests`], whose name
//! says what it is for; nothing on a release path calls it.

use rand::rand_core::{OsRng, TryRngCore};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::Error;

/// ChaCha20 keyed from the operating system's CSPRNG; see the module documentation.
#[derive(Debug)]
pub struct SecureRng(ChaCha20Rng);

impl SecureRng {
    /// A generator keyed with fresh entropy from the operating system.
    ///
    /// # Errors
    ///
    /// Fails when the operating system cannot supply entropy.
    pub fn from_os() -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| Error::entropy())?;
        Ok(SecureRng(ChaCha20Rng::from_seed(seed)))
    }

    /// A reproducible generator for tests and benchmarks. Never use it for a release.
    pub fn seeded_for_tests(seed: u64) -> Self {
        SecureRng(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl RngCore for SecureRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }
}
