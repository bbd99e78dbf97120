//! A seeded, long-tailed synthetic data set of 32×32 colour images, for the embedded demo and for tests.
//!
//! Class c is a sinusoidal grating with its own orientation θ_c and spatial frequency f_c (spread over the
//! classes by golden-ratio sequences, so neighbouring classes are close but distinct). Each image draws its
//! own phase, two colours (foreground and background, uniform: colour carries no class information), a
//! jitter of θ (±0.12 rad) and f (±10%), a distractor blob of random colour, size and place, and pixel
//! noise. A classifier has to read orientation and frequency, which a small ResNet learns; the mean colour
//! of an image tells nothing.
use super::{Dataset, Format, Split, IMAGE_BYTES, PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key, u01_f32};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyntheticSpec {
    pub classes: usize,
    /// Training images of the largest class.
    pub n_max: usize,
    /// n_max / n_min (long-tailed counts as in LDAM); 1 for balanced.
    pub imbalance: f64,
    pub test_per_class: usize,
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            classes: 10,
            n_max: 500,
            imbalance: 10.0,
            test_per_class: 100,
            seed: 1,
        }
    }
}

/// θ_c and f_c (cycles per 32 pixels) of class c.
pub fn class_signature(c: usize) -> (f32, f32) {
    let g1 = 0.618_034f64; // golden ratio conjugate
    let g2 = 0.754_877_7f64; // plastic-number sequence, independent of g1
    let theta = std::f64::consts::PI * ((c as f64 * g1 + 0.1) % 1.0);
    let freq = 1.5 + 3.5 * ((c as f64 * g2 + 0.3) % 1.0);
    (theta as f32, freq as f32)
}

/// Renders image `serial` of class `c` (split tag `st`) into 3072 planar bytes.
fn render(c: usize, serial: u32, st: u32, seed: u64, out: &mut [u8]) {
    let key = seed_key(seed);
    let ctr = |block: u32| [serial, c as u32, st, block];
    let r0 = philox4x32_10(ctr(0), key);
    let r1 = philox4x32_10(ctr(1), key);
    let r2 = philox4x32_10(ctr(2), key);
    let (theta0, f0) = class_signature(c);
    let theta = theta0 + (u01_f32(r0[0]) - 0.5) * 0.24;
    let freq = f0 * (0.9 + 0.2 * u01_f32(r0[1]));
    let phase = u01_f32(r0[2]) * std::f32::consts::TAU;
    let amp = 0.5 + 0.5 * u01_f32(r0[3]);
    let fg = [u01_f32(r1[0]), u01_f32(r1[1]), u01_f32(r1[2])];
    let bg = [u01_f32(r1[3]), u01_f32(r2[0]), u01_f32(r2[1])];
    let r3 = philox4x32_10(ctr(3), key);
    let blob = [u01_f32(r2[2]), u01_f32(r2[3]), u01_f32(r3[0])];
    let (by, bx) = (u01_f32(r3[1]) * SIDE as f32, u01_f32(r3[2]) * SIDE as f32);
    let brad = 2.0 + 5.0 * u01_f32(r3[3]);
    let (ct, sn) = (theta.cos(), theta.sin());
    let w = std::f32::consts::TAU * freq / SIDE as f32;
    for p in 0..PIXELS {
        let (y, x) = ((p / SIDE) as f32, (p % SIDE) as f32);
        let t = 0.5 + 0.5 * amp * (w * (x * ct + y * sn) + phase).sin();
        let d2 = ((y - by).powi(2) + (x - bx).powi(2)) / (brad * brad);
        let bw = (-d2).exp();
        // Pixel noise: 4 bytes of one Philox block per pixel, 3 used.
        let rn = philox4x32_10([serial, c as u32, st, 16 + p as u32], key);
        for ch in 0..3 {
            let v = bg[ch] * (1.0 - t) + fg[ch] * t;
            let v = v * (1.0 - bw) + blob[ch] * bw;
            let v = v + (u01_f32(rn[ch]) - 0.5) * 0.16;
            out[ch * PIXELS + p] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
}

fn make(counts: &[usize], st: u32, seed: u64, split: Split) -> Dataset {
    let labels: Vec<u32> = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c as u32, n))
        .collect();
    let mut serial = vec![0u32; labels.len()];
    let mut k = vec![0u32; counts.len()];
    for (i, &l) in labels.iter().enumerate() {
        serial[i] = k[l as usize];
        k[l as usize] += 1;
    }
    let mut images = vec![0u8; labels.len() * IMAGE_BYTES];
    images
        .par_chunks_mut(IMAGE_BYTES)
        .enumerate()
        .for_each(|(i, o)| render(labels[i] as usize, serial[i], st, seed, o));
    Dataset {
        images,
        labels,
        classes: (0..counts.len())
            .map(|c| format!("synthetic{c:02}"))
            .collect(),
        format: Format::Synthetic,
        split,
    }
}

/// (long-tailed training set, balanced test set).
pub fn generate(spec: &SyntheticSpec) -> Result<(Dataset, Dataset)> {
    if spec.classes == 0 || spec.classes > 256 {
        return Err(Error::usage(format!(
            "synthetic data: {} classes; pass 1 to 256",
            spec.classes
        )));
    }
    if spec.n_max == 0 {
        return Err(Error::usage(
            "synthetic data: n_max is 0; pass at least 1 image for the largest class",
        ));
    }
    let counts = super::longtail::counts(spec.n_max, spec.classes, spec.imbalance)?;
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(Error::usage(format!(
            "synthetic data: class {c} would get no image (n_max {}, imbalance {}); raise n_max",
            spec.n_max, spec.imbalance
        )));
    }
    let train = make(&counts, 0, spec.seed, Split::Train);
    let test = make(
        &vec![spec.test_per_class; spec.classes],
        1,
        spec.seed,
        Split::Test,
    );
    Ok((train, test))
}
