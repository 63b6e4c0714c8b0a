//! Seeded randomness for jitter: never a clock, never OS entropy.

use std::hash::{Hash, Hasher};

/// A source of random bits for jitter, injectable so that every run can be
/// replayed.
pub trait Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// SplitMix64: a few lines, fast, statistically fine for spreading timers
/// (not for anything secret), and reproducible from its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator that yields the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        SeededRng { state: seed }
    }
}

impl Rng for SeededRng {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The seed of one wait: the policy's seed mixed with the identity of what
/// is waited for (its `Hash`), through FNV-1a, which is the same on every
/// platform and every run, unlike std's randomly keyed hasher.
pub(crate) fn wait_seed(seed: u64, identity: &impl Hash) -> u64 {
    let mut hasher = Fnv1a(0xcbf2_9ce4_8422_2325 ^ seed);
    identity.hash(&mut hasher);
    hasher.finish()
}

struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
