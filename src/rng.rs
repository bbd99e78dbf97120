//! Seeded test/bench data. (The counter-based generator shared with CUDA arrives with the data issue.)
use rand::{RngExt, SeedableRng};

/// `n` values uniform in [lo, hi), reproducible from `seed`.
pub fn uniform_f32(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// Seed from the clock, for tests that want fresh inputs each run (printed so a failure can be replayed).
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42)
}
