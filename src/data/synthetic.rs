//! A seeded, long-tailed synthetic data set of 32×32 colour images, for the embedded demo and for tests.
//!
//! Class c is a *pattern family* ([`FAMILIES`]; class c uses family c mod 10, and classes beyond 10 reuse
//! the families at another base scale). The families are chosen so the class survives the SimCLR
//! augmentations of METHOD.md: every family is closed under horizontal mirroring (a mirrored member is a
//! member), is recognisable over a range of scales (RandomResizedCrop zooms up to ~3.5×), and is defined by
//! the spatial structure of the luminance, not by colour (colour jitter, grayscale). Each image draws its
//! own scale (period 5–10 px), phase / position, edge sharpness, two colours of random contrast, a smooth
//! illumination ramp and pixel noise. Mean colour and raw pixel values tell nothing about the class (the
//! phase and position are random); the local structure (orientation, periodicity, curvature) does.
use super::{Dataset, Format, Split, IMAGE_BYTES, PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key, u01_f32};
use rayon::prelude::*;
use std::f32::consts::{PI, TAU};

/// The ten pattern families, in class order.
pub const FAMILIES: [&str; 10] = [
    "horizontal-stripes",
    "vertical-stripes",
    "checkerboard",
    "diagonal-checkerboard",
    "concentric-rings",
    "radial-spokes",
    "dot-grid",
    "filled-disc",
    "square-outline",
    "blob-texture",
];

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

/// Name of the pattern family of class c.
pub fn class_family(c: usize) -> &'static str {
    FAMILIES[c % FAMILIES.len()]
}

/// A square-ish wave of period 1 in u, values in [0, 1]; `k` sets the edge sharpness.
#[inline]
fn wave(u: f32, k: f32) -> f32 {
    0.5 + 0.5 * (k * (TAU * u).sin()).tanh() / k.tanh()
}

/// A soft step: 1 well below 0, 0 well above, `k` per pixel.
#[inline]
fn inside(d: f32, k: f32) -> f32 {
    0.5 - 0.5 * (k * d).tanh()
}

/// Draws the random numbers of one image: `n` uniforms from Philox blocks 0, 1, ... of its counter.
struct Draws {
    key: [u32; 2],
    ctr: [u32; 4],
    block: u32,
    buf: [u32; 4],
    used: usize,
}

impl Draws {
    fn new(seed: u64, serial: u32, c: usize, st: u32) -> Self {
        Draws {
            key: seed_key(seed),
            ctr: [serial, c as u32, st, 0],
            block: 0,
            buf: [0; 4],
            used: 4,
        }
    }
    fn u(&mut self) -> f32 {
        if self.used == 4 {
            self.ctr[3] = self.block;
            self.buf = philox4x32_10(self.ctr, self.key);
            self.block += 1;
            self.used = 0;
        }
        self.used += 1;
        u01_f32(self.buf[self.used - 1])
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.u()
    }
}

/// Renders image `serial` of class `c` (split tag `st`) into 3072 planar bytes.
fn render(c: usize, serial: u32, st: u32, seed: u64, out: &mut [u8]) {
    let mut r = Draws::new(seed, serial, c, st);
    let fam = c % FAMILIES.len();
    // Classes beyond the ten families reuse them at another base scale.
    let base = 1.0 + 0.35 * ((c / FAMILIES.len()) % 4) as f32;
    let period = r.range(5.0, 10.0) * base;
    let (ph1, ph2) = (r.u(), r.u());
    let k = r.range(1.5, 5.0);
    let s = SIDE as f32;
    let (cx, cy) = (r.range(0.3, 0.7) * s, r.range(0.3, 0.7) * s);
    // Family-specific shape parameters.
    let spokes = (6.0 + (r.u() * 5.0).floor()).min(10.0);
    let dot_r = r.range(0.22, 0.34);
    let disc_r = r.range(6.0, 11.0);
    let half = r.range(6.0, 11.0);
    let line = r.range(1.5, 3.0);
    let mut tex = [[0.0f32; 3]; 6];
    for t in tex.iter_mut() {
        let a = r.u() * PI;
        let f = TAU / r.range(6.0, 14.0);
        *t = [f * a.cos(), f * a.sin(), r.u() * TAU];
    }
    // Colours: background uniform; foreground differs in luminance by at least 0.3.
    let bg = [r.u(), r.u(), r.u()];
    let lum = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2];
    let sign = if lum > 0.5 { -1.0 } else { 1.0 };
    let mut fg = [0.0f32; 3];
    for ch in 0..3 {
        fg[ch] = (bg[ch] + sign * r.range(0.3, 0.8)).clamp(0.0, 1.0);
    }
    // A smooth illumination ramp of random direction and strength.
    let ra = r.u() * TAU;
    let rs = r.range(0.0, 0.25) / s;
    let noise = r.range(0.02, 0.08);
    let (ca, sa) = (ra.cos(), ra.sin());
    let key = seed_key(seed);
    for p in 0..PIXELS {
        let (y, x) = ((p / SIDE) as f32 + 0.5, (p % SIDE) as f32 + 0.5);
        let (dx, dy) = (x - cx, y - cy);
        let t = match fam {
            0 => wave(y / period + ph1, k),
            1 => wave(x / period + ph1, k),
            2 => {
                let v = (TAU * (x / period + ph1)).sin() * (TAU * (y / period + ph2)).sin();
                0.5 + 0.5 * (2.0 * k * v).tanh() / (2.0 * k).tanh()
            }
            3 => {
                let (u, v) = ((x + y) / (period * 1.41), (x - y) / (period * 1.41));
                let w = (TAU * (u + ph1)).sin() * (TAU * (v + ph2)).sin();
                0.5 + 0.5 * (2.0 * k * w).tanh() / (2.0 * k).tanh()
            }
            4 => wave((dx * dx + dy * dy).sqrt() / period + ph1, k),
            5 => wave(spokes * dy.atan2(dx) / TAU + ph1, k),
            6 => {
                let fx = (x / period + ph1).fract() - 0.5;
                let fy = (y / period + ph2).fract() - 0.5;
                inside((fx * fx + fy * fy).sqrt() - dot_r, k * period / 3.0)
            }
            7 => inside((dx * dx + dy * dy).sqrt() - disc_r, k / 2.0),
            8 => {
                let d = dx.abs().max(dy.abs());
                inside((d - half).abs() - line, k / 2.0)
            }
            _ => {
                let v: f32 = tex.iter().map(|t| (t[0] * x + t[1] * y + t[2]).cos()).sum();
                0.5 + 0.5 * (k * v / 2.0).tanh()
            }
        };
        let ramp = rs * (dx * ca + dy * sa);
        // Pixel noise: one Philox block per pixel, 3 numbers used.
        let rn = philox4x32_10([serial, c as u32, st, 64 + p as u32], key);
        for ch in 0..3 {
            let v = bg[ch] * (1.0 - t) + fg[ch] * t + ramp;
            let v = v + (u01_f32(rn[ch]) - 0.5) * 2.0 * noise;
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
