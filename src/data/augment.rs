//! Augmentations, CPU reference (rayon over images). Exactly the SimCLR pipeline of METHOD.md, in this
//! order: RandomResizedCrop(32, scale 0.08–1, ratio 3/4–4/3, bilinear) → horizontal flip p = 0.5 → with
//! p = 0.8 colour jitter (brightness, contrast, saturation factors U[max(0, 1−0.8s), 1+0.8s], then hue
//! shift U[−min(0.5, 0.2s), +min(0.5, 0.2s)]) → grayscale p = 0.2 → Gaussian blur 3×3, σ ~ U[0.1, 2],
//! reflect padding, always. Also the pad-4 crop + flip of plain supervised training, and the clean
//! conversion. Pixel formulas follow torchvision's tensor functions (bilinear with half-pixel centres and
//! no corner alignment; grayscale 0.2989 R + 0.587 G + 0.114 B; contrast blends with the mean grey of the
//! whole image; hue through HSV). Input: u8 planar (CIFAR layout); output: f32 HWC in [0, 1].
//!
//! Every random number is a pure function of (seed, epoch, image index, view, slot) through the
//! Philox generator of [`crate::rng`]; kernels/augment.cu draws the same numbers the same way.
//! Note: torchvision's ColorJitter applies its four adjustments in a random order; METHOD.md fixes the
//! order (brightness, contrast, saturation, hue) and this code follows METHOD.md.
use super::{Dataset, IMAGE_BYTES, PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::rng::{aug_counter, below, philox4x32_10, seed_key, u01_f32, u01_f64};
use rayon::prelude::*;

/// `op` field of the counter for each transform family.
pub const OP_SIMCLR: u32 = 1;
pub const OP_PADCROP: u32 = 2;
/// RandomResizedCrop attempts (torchvision: 10, then a centre-crop fallback).
pub const CROP_ATTEMPTS: u32 = 10;

/// Floats per output image (HWC).
pub const OUT_FLOATS: usize = IMAGE_BYTES;

/// The SimCLR pipeline's settings. `strength` is s of METHOD.md (stage 1: 2, probe and stage 2: 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimclrConfig {
    pub strength: f32,
    pub scale: (f64, f64),
    pub ratio: (f64, f64),
    pub p_flip: f32,
    pub p_jitter: f32,
    pub p_gray: f32,
    pub sigma: (f32, f32),
}

impl SimclrConfig {
    pub fn with_strength(strength: f32) -> Self {
        SimclrConfig {
            strength,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            p_flip: 0.5,
            p_jitter: 0.8,
            p_gray: 0.2,
            sigma: (0.1, 2.0),
        }
    }
    /// Brightness/contrast/saturation factor range.
    pub fn factor_range(&self) -> (f32, f32) {
        (
            (1.0 - 0.8 * self.strength).max(0.0),
            1.0 + 0.8 * self.strength,
        )
    }
    /// Hue shift bound.
    pub fn hue_max(&self) -> f32 {
        (0.2 * self.strength).min(0.5)
    }
    pub fn validate(&self) -> Result<()> {
        let ok = self.strength.is_finite()
            && self.strength >= 0.0
            && self.scale.0 > 0.0
            && self.scale.0 <= self.scale.1
            && self.scale.1 <= 1.0
            && self.ratio.0 > 0.0
            && self.ratio.0 <= self.ratio.1
            && [self.p_flip, self.p_jitter, self.p_gray]
                .iter()
                .all(|p| (0.0..=1.0).contains(p))
            && self.sigma.0 > 0.0
            && self.sigma.0 <= self.sigma.1;
        if ok {
            Ok(())
        } else {
            Err(Error::usage(format!(
                "augmentation settings out of range: {self:?}; strength must be >= 0, scale within (0, 1], \
                 ratio > 0, probabilities in [0, 1], sigma > 0"
            )))
        }
    }
}

impl Default for SimclrConfig {
    fn default() -> Self {
        Self::with_strength(1.0)
    }
}

/// The random parameters of one SimCLR view: 12 words, the same struct as `SimclrParams` in augment.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SimclrParams {
    /// Crop box: top row, left column, height, width (in source pixels).
    pub crop_i: i32,
    pub crop_j: i32,
    pub crop_h: i32,
    pub crop_w: i32,
    pub flip: u32,
    pub jitter: u32,
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    pub gray: u32,
    pub sigma: f32,
}

#[inline]
fn lerp(lo: f32, hi: f32, u: f32) -> f32 {
    lo + u * (hi - lo)
}

/// Draws the parameters of view `view` of image `index` at `epoch`.
pub fn simclr_params(
    cfg: &SimclrConfig,
    seed: u64,
    epoch: u32,
    index: u32,
    view: u32,
) -> SimclrParams {
    let key = seed_key(seed);
    let side = SIDE as f64;
    let area = side * side;
    let (llo, lhi) = (cfg.ratio.0.ln(), cfg.ratio.1.ln());
    let mut crop = None;
    for a in 0..CROP_ATTEMPTS {
        let r = philox4x32_10(aug_counter(index, epoch, view, OP_SIMCLR, a), key);
        let target = area * (cfg.scale.0 + u01_f64(r[0]) * (cfg.scale.1 - cfg.scale.0));
        let ar = (llo + u01_f64(r[1]) * (lhi - llo)).exp();
        let w = (target * ar).sqrt().round_ties_even();
        let h = (target / ar).sqrt().round_ties_even();
        if w > 0.0 && w <= side && h > 0.0 && h <= side {
            let (w, h) = (w as u32, h as u32);
            let i = below(r[2], SIDE as u32 - h + 1);
            let j = below(r[3], SIDE as u32 - w + 1);
            crop = Some((i as i32, j as i32, h as i32, w as i32));
            break;
        }
    }
    let (crop_i, crop_j, crop_h, crop_w) = crop.unwrap_or_else(|| {
        // torchvision's fallback: a centre crop of the whole image, ratio clamped into the range.
        let s = SIDE as i32;
        let (w, h) = if 1.0 < cfg.ratio.0 {
            (s, (side / cfg.ratio.0).round_ties_even() as i32)
        } else if 1.0 > cfg.ratio.1 {
            ((side * cfg.ratio.1).round_ties_even() as i32, s)
        } else {
            (s, s)
        };
        ((s - h) / 2, (s - w) / 2, h, w)
    });
    let r = philox4x32_10(
        aug_counter(index, epoch, view, OP_SIMCLR, CROP_ATTEMPTS),
        key,
    );
    let (flo, fhi) = cfg.factor_range();
    let hmax = cfg.hue_max();
    let flip = (u01_f32(r[0]) < cfg.p_flip) as u32;
    let jitter = (u01_f32(r[1]) < cfg.p_jitter) as u32;
    let brightness = lerp(flo, fhi, u01_f32(r[2]));
    let contrast = lerp(flo, fhi, u01_f32(r[3]));
    let r = philox4x32_10(
        aug_counter(index, epoch, view, OP_SIMCLR, CROP_ATTEMPTS + 1),
        key,
    );
    let saturation = lerp(flo, fhi, u01_f32(r[0]));
    let hue = lerp(-hmax, hmax, u01_f32(r[1]));
    let gray = (u01_f32(r[2]) < cfg.p_gray) as u32;
    let sigma = lerp(cfg.sigma.0, cfg.sigma.1, u01_f32(r[3]));
    SimclrParams {
        crop_i,
        crop_j,
        crop_h,
        crop_w,
        flip,
        jitter,
        brightness,
        contrast,
        saturation,
        hue,
        gray,
        sigma,
    }
}

/// Parameters of the supervised pad-4 crop + flip: offsets into the 40×40 zero-padded image, flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadCropParams {
    pub dy: u32,
    pub dx: u32,
    pub flip: bool,
}

pub const PAD: usize = 4;

pub fn padcrop_params(seed: u64, epoch: u32, index: u32, view: u32) -> PadCropParams {
    let r = philox4x32_10(
        aug_counter(index, epoch, view, OP_PADCROP, 0),
        seed_key(seed),
    );
    PadCropParams {
        dy: below(r[0], 2 * PAD as u32 + 1),
        dx: below(r[1], 2 * PAD as u32 + 1),
        flip: u01_f32(r[2]) < 0.5,
    }
}

// ---------------------------------------------------------------------------------------------
// Single ops on one 32×32 HWC f32 image (out has 3072 floats).

/// u8 planar → f32 HWC in [0, 1] (the clean view).
pub fn to_hwc(src: &[u8], out: &mut [f32]) {
    for p in 0..PIXELS {
        for c in 0..3 {
            out[p * 3 + c] = src[c * PIXELS + p] as f32 / 255.0;
        }
    }
}

/// Source coordinate and weights of torch's bilinear resize (align_corners = false).
#[inline]
fn bilinear_src(dst: usize, in_len: i32) -> (usize, usize, f32) {
    let scale = in_len as f32 / SIDE as f32;
    let s = (scale * (dst as f32 + 0.5) - 0.5).max(0.0);
    let i0 = s as i32; // s >= 0: truncation is floor
    let i1 = if i0 < in_len - 1 { i0 + 1 } else { i0 };
    (i0 as usize, i1 as usize, s - i0 as f32)
}

/// Crops rows i..i+h, columns j..j+w of the u8 planar image and resizes to 32×32, bilinear.
pub fn resized_crop(src: &[u8], i: i32, j: i32, h: i32, w: i32, out: &mut [f32]) {
    for y in 0..SIDE {
        let (y0, y1, ly) = bilinear_src(y, h);
        let (y0, y1) = (y0 + i as usize, y1 + i as usize);
        for x in 0..SIDE {
            let (x0, x1, lx) = bilinear_src(x, w);
            let (x0, x1) = (x0 + j as usize, x1 + j as usize);
            for c in 0..3 {
                let pl = &src[c * PIXELS..(c + 1) * PIXELS];
                let px = |yy: usize, xx: usize| pl[yy * SIDE + xx] as f32 / 255.0;
                let top = (1.0 - lx) * px(y0, x0) + lx * px(y0, x1);
                let bot = (1.0 - lx) * px(y1, x0) + lx * px(y1, x1);
                out[(y * SIDE + x) * 3 + c] = (1.0 - ly) * top + ly * bot;
            }
        }
    }
}

pub fn hflip(img: &mut [f32]) {
    for y in 0..SIDE {
        for x in 0..SIDE / 2 {
            let (a, b) = ((y * SIDE + x) * 3, (y * SIDE + SIDE - 1 - x) * 3);
            for c in 0..3 {
                img.swap(a + c, b + c);
            }
        }
    }
}

#[inline]
pub fn gray_of(r: f32, g: f32, b: f32) -> f32 {
    0.2989 * r + 0.587 * g + 0.114 * b
}

#[inline]
fn clamp01(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

pub fn adjust_brightness(img: &mut [f32], f: f32) {
    for v in img.iter_mut() {
        *v = clamp01(f * *v);
    }
}

pub fn adjust_contrast(img: &mut [f32], f: f32) {
    let mean = img
        .chunks_exact(3)
        .map(|p| gray_of(p[0], p[1], p[2]))
        .sum::<f32>()
        / PIXELS as f32;
    let m = (1.0 - f) * mean;
    for v in img.iter_mut() {
        *v = clamp01(f * *v + m);
    }
}

pub fn adjust_saturation(img: &mut [f32], f: f32) {
    for p in img.chunks_exact_mut(3) {
        let g = (1.0 - f) * gray_of(p[0], p[1], p[2]);
        for v in p.iter_mut() {
            *v = clamp01(f * *v + g);
        }
    }
}

/// RGB → HSV as torchvision's `_rgb2hsv` (h in [0, 1)).
#[inline]
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let crd = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0) % 1.0;
    (h, s, maxc)
}

/// HSV → RGB as torchvision's `_hsv2rgb`.
#[inline]
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let fi = h6.floor();
    let f = h6 - fi;
    let i = (fi as i32).rem_euclid(6);
    let p = clamp01(v * (1.0 - s));
    let q = clamp01(v * (1.0 - s * f));
    let t = clamp01(v * (1.0 - s * (1.0 - f)));
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

pub fn adjust_hue(img: &mut [f32], shift: f32) {
    for p in img.chunks_exact_mut(3) {
        let (h, s, v) = rgb_to_hsv(p[0], p[1], p[2]);
        let h = h + shift;
        let h = h - h.floor(); // Python's % 1.0 for either sign
        let (r, g, b) = hsv_to_rgb(h, s, v);
        p[0] = r;
        p[1] = g;
        p[2] = b;
    }
}

pub fn grayscale(img: &mut [f32]) {
    for p in img.chunks_exact_mut(3) {
        let g = gray_of(p[0], p[1], p[2]);
        p.fill(g);
    }
}

/// The normalised 3-tap Gaussian (torchvision: x ∈ {−1, 0, 1}, exp(−x²/(2σ²))).
#[inline]
pub fn gauss3(sigma: f32) -> [f32; 3] {
    let e = (-0.5 / (sigma * sigma)).exp();
    let s = 1.0 + 2.0 * e;
    [e / s, 1.0 / s, e / s]
}

#[inline]
fn reflect(i: i32) -> usize {
    let n = SIDE as i32;
    (if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    }) as usize
}

/// 3×3 Gaussian blur, separable (vertical then horizontal), reflect padding.
pub fn gaussian_blur3(img: &mut [f32], sigma: f32) {
    let k = gauss3(sigma);
    let mut tmp = [0.0f32; OUT_FLOATS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            for c in 0..3 {
                let at = |yy: i32| img[(reflect(yy) * SIDE + x) * 3 + c];
                let yi = y as i32;
                tmp[(y * SIDE + x) * 3 + c] = k[0] * at(yi - 1) + k[1] * at(yi) + k[2] * at(yi + 1);
            }
        }
    }
    for y in 0..SIDE {
        for x in 0..SIDE {
            for c in 0..3 {
                let at = |xx: i32| tmp[(y * SIDE + reflect(xx)) * 3 + c];
                let xi = x as i32;
                img[(y * SIDE + x) * 3 + c] = k[0] * at(xi - 1) + k[1] * at(xi) + k[2] * at(xi + 1);
            }
        }
    }
}

/// The whole SimCLR pipeline on one image with given parameters.
pub fn apply_simclr(src: &[u8], p: &SimclrParams, out: &mut [f32]) {
    resized_crop(src, p.crop_i, p.crop_j, p.crop_h, p.crop_w, out);
    if p.flip != 0 {
        hflip(out);
    }
    if p.jitter != 0 {
        adjust_brightness(out, p.brightness);
        adjust_contrast(out, p.contrast);
        adjust_saturation(out, p.saturation);
        adjust_hue(out, p.hue);
    }
    if p.gray != 0 {
        grayscale(out);
    }
    gaussian_blur3(out, p.sigma);
}

/// Pad-4 (zeros) crop + flip on one image.
pub fn apply_padcrop(src: &[u8], p: &PadCropParams, out: &mut [f32]) {
    for y in 0..SIDE {
        for x in 0..SIDE {
            let xs = if p.flip { SIDE - 1 - x } else { x };
            let sy = y as i32 + p.dy as i32 - PAD as i32;
            let sx = xs as i32 + p.dx as i32 - PAD as i32;
            let inside = (0..SIDE as i32).contains(&sy) && (0..SIDE as i32).contains(&sx);
            for c in 0..3 {
                out[(y * SIDE + x) * 3 + c] = if inside {
                    src[c * PIXELS + sy as usize * SIDE + sx as usize] as f32 / 255.0
                } else {
                    0.0
                };
            }
        }
    }
}

/// Which transform a batch gets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Augment {
    /// The clean image (evaluation, features for IP-DPP).
    None,
    /// Pad 4 + random 32×32 crop + horizontal flip (plain supervised training).
    PadCropFlip,
    /// The SimCLR pipeline.
    Simclr(SimclrConfig),
}

/// One image of a batch: its index in the data set and its view number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub index: u32,
    pub view: u32,
}

/// Augments `items` of `ds` into `out` (items.len() × 32×32×3 f32, NHWC), in parallel.
pub fn augment_batch(
    ds: &Dataset,
    items: &[Item],
    aug: &Augment,
    seed: u64,
    epoch: u32,
    out: &mut [f32],
) -> Result<()> {
    if out.len() != items.len() * OUT_FLOATS {
        return Err(Error::usage(format!(
            "augment_batch: output holds {} floats, {} images need {}",
            out.len(),
            items.len(),
            items.len() * OUT_FLOATS
        )));
    }
    if let Some(bad) = items.iter().find(|it| it.index as usize >= ds.len()) {
        return Err(Error::usage(format!(
            "image index {} is out of range: the data set has {} images",
            bad.index,
            ds.len()
        )));
    }
    if let Augment::Simclr(cfg) = aug {
        cfg.validate()?;
    }
    out.par_chunks_mut(OUT_FLOATS)
        .zip(items.par_iter())
        .for_each(|(o, it)| {
            let src = ds.image(it.index as usize);
            match aug {
                Augment::None => to_hwc(src, o),
                Augment::PadCropFlip => {
                    apply_padcrop(src, &padcrop_params(seed, epoch, it.index, it.view), o)
                }
                Augment::Simclr(cfg) => {
                    apply_simclr(src, &simclr_params(cfg, seed, epoch, it.index, it.view), o)
                }
            }
        });
    Ok(())
}
