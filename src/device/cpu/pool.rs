//! CPU references: global average pooling and ResNet-32's option-A shortcut, channels last.
use rayon::prelude::*;

/// x [n, hw, c] → y [n, c].
pub fn avgpool_fwd_f32(y: &mut [f32], x: &[f32], n: usize, hw: usize, c: usize) {
    y[..n * c]
        .par_chunks_mut(c)
        .enumerate()
        .for_each(|(i, yr)| {
            let mut acc = vec![0.0f64; c];
            for p in 0..hw {
                for (a, v) in acc
                    .iter_mut()
                    .zip(&x[(i * hw + p) * c..(i * hw + p + 1) * c])
                {
                    *a += *v as f64;
                }
            }
            for (o, a) in yr.iter_mut().zip(acc) {
                *o = (a / hw as f64) as f32;
            }
        });
}

pub fn avgpool_bwd_f32(gx: &mut [f32], gy: &[f32], n: usize, hw: usize, c: usize) {
    let inv = 1.0 / hw as f32;
    gx[..n * hw * c]
        .par_chunks_mut(hw * c)
        .enumerate()
        .for_each(|(i, g)| {
            for row in g.chunks_exact_mut(c) {
                for (o, v) in row.iter_mut().zip(&gy[i * c..(i + 1) * c]) {
                    *o = v * inv;
                }
            }
        });
}

/// Option-A shortcut (He et al.): x [n, h, w, c] → y [n, h/2, w/2, c + 2·pad], taking every second
/// pixel (x[:, ::2, ::2]) and padding `pad` zero channels on each side.
pub fn shortcut_a_fwd_f32(
    y: &mut [f32],
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) {
    let (oh, ow, oc) = (h.div_ceil(2), w.div_ceil(2), c + 2 * pad);
    y[..n * oh * ow * oc]
        .par_chunks_mut(oc)
        .enumerate()
        .for_each(|(r, yr)| {
            let (img, rem) = (r / (oh * ow), r % (oh * ow));
            let (i, j) = (rem / ow, rem % ow);
            yr.fill(0.0);
            let src = ((img * h + 2 * i) * w + 2 * j) * c;
            yr[pad..pad + c].copy_from_slice(&x[src..src + c]);
        });
}

pub fn shortcut_a_bwd_f32(
    gx: &mut [f32],
    gy: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) {
    let (oh, ow, oc) = (h.div_ceil(2), w.div_ceil(2), c + 2 * pad);
    gx[..n * h * w * c]
        .par_chunks_mut(c)
        .enumerate()
        .for_each(|(r, g)| {
            let (img, rem) = (r / (h * w), r % (h * w));
            let (y, x) = (rem / w, rem % w);
            if y % 2 == 0 && x % 2 == 0 {
                let src = ((img * oh + y / 2) * ow + x / 2) * oc + pad;
                g.copy_from_slice(&gy[src..src + c]);
            } else {
                g.fill(0.0);
            }
        });
}
