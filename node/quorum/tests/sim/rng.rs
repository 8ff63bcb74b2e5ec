//! splitmix64: the simulator's only randomness, seeded per run, and the running hash a
//! member's applied history is summarised by.

pub struct Rng(u64);

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix(seed ^ 0x5A4B_0000_0000_0000))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64 + 1) as i64
    }

    pub fn per_mille(&mut self, p: u64) -> bool {
        p > 0 && self.below(1000) < p
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> Option<T> {
        if xs.is_empty() {
            None
        } else {
            Some(xs[self.below(xs.len() as u64) as usize])
        }
    }
}

/// The hash of a history extended by one txn: equal hashes mean (for our purposes) equal
/// histories, so two trees are compared in O(1).
pub fn mix(h: u64, zxid: i64, txn: u64) -> u64 {
    splitmix(h ^ splitmix((zxid as u64).rotate_left(17) ^ txn))
}
