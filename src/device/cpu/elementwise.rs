//! CPU references for kernels/elementwise.cu.
use crate::optim::AdamW;
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

pub fn add_f32(out: &mut [f32], a: &[f32], b: &[f32]) {
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                *o = a + b;
            }
        });
}

pub fn scale_f32(out: &mut [f32], a: &[f32], s: f32) {
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK))
        .for_each(|(o, a)| {
            for (o, a) in o.iter_mut().zip(a) {
                *o = a * s;
            }
        });
}

pub fn relu_fwd_f32(out: &mut [f32], x: &[f32]) {
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| {
            for (o, &x) in o.iter_mut().zip(x) {
                *o = if x > 0.0 { x } else { 0.0 };
            }
        });
}

/// Passes the gradient where the forward input was positive (zero at x == 0, as PyTorch).
pub fn relu_bwd_f32(gx: &mut [f32], gy: &[f32], x: &[f32]) {
    gx.par_chunks_mut(CHUNK)
        .zip(gy.par_chunks(CHUNK).zip(x.par_chunks(CHUNK)))
        .for_each(|(o, (g, x))| {
            for ((o, &g), &x) in o.iter_mut().zip(g).zip(x) {
                *o = if x > 0.0 { g } else { 0.0 };
            }
        });
}

/// torch.optim.AdamW: p ← p(1 − lr·wd); m, v moments; p ← p − lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps).
pub fn adamw_f32(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: &AdamW) {
    let (bc1, bc2s) = h.bias_corrections();
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| {
            for i in 0..p.len() {
                let mut pi = p[i] * (1.0 - h.lr * h.weight_decay);
                let gi = g[i];
                let mi = h.beta1 * m[i] + (1.0 - h.beta1) * gi;
                let vi = h.beta2 * v[i] + (1.0 - h.beta2) * gi * gi;
                m[i] = mi;
                v[i] = vi;
                let denom = vi.sqrt() / bc2s + h.eps;
                pi -= (h.lr / bc1) * (mi / denom);
                p[i] = pi;
            }
        });
}

pub fn add_inplace_f32(y: &mut [f32], x: &[f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            for (y, x) in y.iter_mut().zip(x) {
                *y += x;
            }
        });
}

/// y = bf16(x) as raw bits, rounded to nearest even (the v6 convolutions' operand cast).
pub fn cast_bf16_f32(y: &mut [u16], x: &[f32]) {
    y.par_iter_mut()
        .zip(x.par_iter())
        .for_each(|(o, &v)| *o = half::bf16::from_f32(v).to_bits());
}
