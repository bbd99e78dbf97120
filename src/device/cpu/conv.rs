//! CPU reference convolution in NHWC with OHWI weights, as im2col + OpenBLAS sgemm: forward,
//! grad-input, grad-weight. Work is chunked over images so the column matrix stays small.
use crate::device::ops::GemmSpec;
use rayon::prelude::*;

/// A 2-D convolution without bias: x [n, h, w, c] → y [n, oh, ow, o], weights [o, kh, kw, c].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvSpec {
    pub fn new(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        o: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        ConvSpec {
            n,
            h,
            w,
            c,
            o,
            kh: k,
            kw: k,
            stride,
            pad,
        }
    }
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Reduction length of the implicit GEMM: kh·kw·c.
    pub fn kdim(&self) -> usize {
        self.kh * self.kw * self.c
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    pub fn y_len(&self) -> usize {
        self.n * self.oh() * self.ow() * self.o
    }
    pub fn w_len(&self) -> usize {
        self.o * self.kdim()
    }
    /// Multiply-adds ×2 of one forward pass (grad-input and grad-weight cost the same each).
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.oh() * self.ow()) as f64 * self.o as f64 * self.kdim() as f64
    }
}

/// Images per im2col chunk: keeps the column matrix near 32 MB.
fn chunk_images(s: &ConvSpec) -> usize {
    let per_image = s.oh() * s.ow() * s.kdim() * 4;
    ((32 << 20) / per_image.max(1)).clamp(1, s.n.max(1))
}

/// Column matrix [imgs·oh·ow, kh·kw·c] of images `n0..n0+imgs`; zero outside the image (padding).
fn im2col(col: &mut [f32], x: &[f32], s: &ConvSpec, n0: usize, imgs: usize) {
    let (oh, ow, kd) = (s.oh(), s.ow(), s.kdim());
    col[..imgs * oh * ow * kd]
        .par_chunks_mut(kd)
        .enumerate()
        .for_each(|(r, row)| {
            let (img, rem) = (n0 + r / (oh * ow), r % (oh * ow));
            let (oy, ox) = (rem / ow, rem % ow);
            for ky in 0..s.kh {
                let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                for kx in 0..s.kw {
                    let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                    let dst = &mut row[(ky * s.kw + kx) * s.c..(ky * s.kw + kx + 1) * s.c];
                    if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                        dst.fill(0.0);
                    } else {
                        let src = ((img * s.h + iy as usize) * s.w + ix as usize) * s.c;
                        dst.copy_from_slice(&x[src..src + s.c]);
                    }
                }
            }
        });
}

/// Scatter-adds a column-gradient matrix back into gx (images `n0..n0+imgs`, which it overwrites).
fn col2im(gx: &mut [f32], col: &[f32], s: &ConvSpec, n0: usize, imgs: usize) {
    let (oh, ow, kd) = (s.oh(), s.ow(), s.kdim());
    let img_len = s.h * s.w * s.c;
    gx[n0 * img_len..(n0 + imgs) * img_len]
        .par_chunks_mut(img_len)
        .enumerate()
        .for_each(|(i, g)| {
            g.fill(0.0);
            for oy in 0..oh {
                for ox in 0..ow {
                    let row =
                        &col[((i * oh + oy) * ow + ox) * kd..((i * oh + oy) * ow + ox + 1) * kd];
                    for ky in 0..s.kh {
                        let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                        if iy < 0 || iy >= s.h as isize {
                            continue;
                        }
                        for kx in 0..s.kw {
                            let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                            if ix < 0 || ix >= s.w as isize {
                                continue;
                            }
                            let dst = (iy as usize * s.w + ix as usize) * s.c;
                            let src = &row[(ky * s.kw + kx) * s.c..(ky * s.kw + kx + 1) * s.c];
                            for (d, v) in g[dst..dst + s.c].iter_mut().zip(src) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        });
}

/// y = conv(x, w).
pub fn conv_fwd_f32(y: &mut [f32], x: &[f32], w: &[f32], s: &ConvSpec) {
    let (pix, kd) = (s.oh() * s.ow(), s.kdim());
    let step = chunk_images(s);
    let mut col = vec![0.0f32; step * pix * kd];
    for n0 in (0..s.n).step_by(step) {
        let imgs = step.min(s.n - n0);
        im2col(&mut col, x, s, n0, imgs);
        let g = GemmSpec {
            tb: true,
            ..GemmSpec::new(imgs * pix, s.o, kd)
        };
        super::gemm::gemm_blas_f32(&mut y[n0 * pix * s.o..(n0 + imgs) * pix * s.o], &col, w, &g);
    }
}

/// gx = ∂L/∂x from gy = ∂L/∂y.
pub fn conv_bwd_input_f32(gx: &mut [f32], gy: &[f32], w: &[f32], s: &ConvSpec) {
    let (pix, kd) = (s.oh() * s.ow(), s.kdim());
    let step = chunk_images(s);
    let mut col = vec![0.0f32; step * pix * kd];
    for n0 in (0..s.n).step_by(step) {
        let imgs = step.min(s.n - n0);
        let g = GemmSpec::new(imgs * pix, kd, s.o);
        super::gemm::gemm_blas_f32(
            &mut col,
            &gy[n0 * pix * s.o..(n0 + imgs) * pix * s.o],
            w,
            &g,
        );
        col2im(gx, &col, s, n0, imgs);
    }
}

/// gw = ∂L/∂w (overwritten, summed over the batch).
pub fn conv_bwd_weight_f32(gw: &mut [f32], gy: &[f32], x: &[f32], s: &ConvSpec) {
    let (pix, kd) = (s.oh() * s.ow(), s.kdim());
    let step = chunk_images(s);
    let mut col = vec![0.0f32; step * pix * kd];
    for (ci, n0) in (0..s.n).step_by(step).enumerate() {
        let imgs = step.min(s.n - n0);
        im2col(&mut col, x, s, n0, imgs);
        let g = GemmSpec {
            ta: true,
            beta: if ci == 0 { 0.0 } else { 1.0 },
            ..GemmSpec::new(s.o, kd, imgs * pix)
        };
        super::gemm::gemm_blas_f32(gw, &gy[n0 * pix * s.o..(n0 + imgs) * pix * s.o], &col, &g);
    }
    if s.n == 0 {
        gw[..s.w_len()].fill(0.0);
    }
}

/// OIHW (PyTorch) → OHWI (this engine).
pub fn oihw_to_ohwi(w: &[f32], o: usize, i: usize, kh: usize, kw: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w.len()];
    for a in 0..o {
        for b in 0..i {
            for y in 0..kh {
                for x in 0..kw {
                    out[((a * kh + y) * kw + x) * i + b] = w[((a * i + b) * kh + y) * kw + x];
                }
            }
        }
    }
    out
}

/// OHWI → OIHW, for checkpoints PyTorch can load.
pub fn ohwi_to_oihw(w: &[f32], o: usize, i: usize, kh: usize, kw: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w.len()];
    for a in 0..o {
        for b in 0..i {
            for y in 0..kh {
                for x in 0..kw {
                    out[((a * i + b) * kh + y) * kw + x] = w[((a * kh + y) * kw + x) * i + b];
                }
            }
        }
    }
    out
}

/// wt [c, ky, kx, o] = w [o, ky, kx, c] (OHWI to IHWO, any element type): the K-major B operand of the v7
/// grad-input GEMM (`conv_weight_t_bf16` on the GPU).
pub fn conv_weight_t<T: Copy + Send + Sync>(wt: &mut [T], w: &[T], s: &ConvSpec) {
    let (o, taps, c) = (s.o, s.kh * s.kw, s.c);
    wt.par_chunks_mut(taps * o)
        .enumerate()
        .for_each(|(ci, row)| {
            for tap in 0..taps {
                for oi in 0..o {
                    row[tap * o + oi] = w[(oi * taps + tap) * c + ci];
                }
            }
        });
}
