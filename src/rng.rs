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

// ---------------------------------------------------------------------------------------------
// Counter-based generator shared with CUDA (kernels/augment.cu has the same code, line for line).
//
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a keyed
// bijection of a 128-bit counter, so any random number is a pure function of (key, counter) and the CPU
// and the GPU draw the same values with no shared state. The key is the run's 64-bit seed; the counter is
// (image index, epoch, view, op << 16 | block) — see [`aug_counter`].

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox-4x32 with 10 rounds: four independent 32-bit words for one (counter, key).
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for r in 0..10 {
        if r > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The Philox key of a 64-bit seed.
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Counter of one block of four draws for one image view: `op` names the transform family (so the
/// supervised crop and the SimCLR pipeline never share numbers), `block` the group of four within it.
#[inline]
pub fn aug_counter(index: u32, epoch: u32, view: u32, op: u32, block: u32) -> [u32; 4] {
    [index, epoch, view, (op << 16) | (block & 0xFFFF)]
}

/// Uniform f32 in [0, 1) from the top 24 bits (exact in f32, identical on the GPU).
#[inline]
pub fn u01_f32(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform f64 in [0, 1) from all 32 bits (exact in f64).
#[inline]
pub fn u01_f64(x: u32) -> f64 {
    x as f64 * (1.0 / 4_294_967_296.0)
}

/// Integer uniform in [0, n) by the multiply-shift method (no division, identical on the GPU).
#[inline]
pub fn below(x: u32, n: u32) -> u32 {
    ((x as u64 * n as u64) >> 32) as u32
}

/// A 64-bit mix (splitmix64 finaliser) for deriving sub-seeds, e.g. one shuffle seed per epoch.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
