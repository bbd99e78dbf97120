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

/// Bytes of column matrix one task fills: small enough to stay in a core's L2 (1–2 MB on current x86)
/// while sgemm reads it, large enough that the sgemm call overhead is noise.
const COL_BYTES: usize = 384 << 10;
const MIN_ROWS: usize = 256;
const MIN_ROWS_GW: usize = 512;

/// Output rows (pixels) per task: a column block of about [`COL_BYTES`], but at least `min_rows`, as
/// each sgemm call packs its whole weight operand (or, for grad-weight, reads and writes its whole
/// output): with fewer rows than a few hundred that traffic outweighs the multiply.
fn rows_per_task(s: &ConvSpec, min_rows: usize) -> usize {
    (COL_BYTES / (s.kdim() * 4).max(1)).max(min_rows)
}

thread_local! {
    /// Each rayon worker's column block, kept between calls so that a training step does not fault
    /// in fresh pages for every convolution.
    static COL: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's column block of at least `len` elements (contents unspecified).
fn with_col<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COL.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < len {
            c.resize(len, 0.0);
        }
        f(&mut c[..len])
    })
}

/// Column rows `r0..r0 + col.len() / kdim` (output pixels, counted over the whole batch) of x:
/// [pixel, kh·kw·c], zero outside the image (padding).
fn im2col(col: &mut [f32], x: &[f32], s: &ConvSpec, r0: usize) {
    let (oh, ow, kd) = (s.oh(), s.ow(), s.kdim());
    for (i, row) in col.chunks_exact_mut(kd).enumerate() {
        let r = r0 + i;
        let (img, rem) = (r / (oh * ow), r % (oh * ow));
        let (oy, ox) = (rem / ow, rem % ow);
        for ky in 0..s.kh {
            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
            let taps = &mut row[ky * s.kw * s.c..(ky + 1) * s.kw * s.c];
            if iy < 0 || iy >= s.h as isize {
                taps.fill(0.0);
                continue;
            }
            let line = (img * s.h + iy as usize) * s.w;
            let ix0 = (ox * s.stride) as isize - s.pad as isize;
            // The kw taps of one kernel row are kw consecutive pixels: one copy when all are inside.
            if ix0 >= 0 && ix0 as usize + s.kw <= s.w {
                let src = (line + ix0 as usize) * s.c;
                taps.copy_from_slice(&x[src..src + s.kw * s.c]);
                continue;
            }
            for kx in 0..s.kw {
                let ix = ix0 + kx as isize;
                let dst = &mut taps[kx * s.c..(kx + 1) * s.c];
                if ix < 0 || ix >= s.w as isize {
                    dst.fill(0.0);
                } else {
                    let src = (line + ix as usize) * s.c;
                    dst.copy_from_slice(&x[src..src + s.c]);
                }
            }
        }
    }
}

/// Scatter-adds column rows `p0..` of one image (`col` holds whole rows) into that image's gradient `g`.
fn col2im_add(g: &mut [f32], col: &[f32], s: &ConvSpec, p0: usize) {
    let (ow, kd) = (s.ow(), s.kdim());
    for (i, row) in col.chunks_exact(kd).enumerate() {
        let (oy, ox) = ((p0 + i) / ow, (p0 + i) % ow);
        for ky in 0..s.kh {
            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
            if iy < 0 || iy >= s.h as isize {
                continue;
            }
            let ix0 = (ox * s.stride) as isize - s.pad as isize;
            let taps = &row[ky * s.kw * s.c..(ky + 1) * s.kw * s.c];
            let line = iy as usize * s.w;
            if ix0 >= 0 && ix0 as usize + s.kw <= s.w {
                let dst = (line + ix0 as usize) * s.c;
                for (d, v) in g[dst..dst + s.kw * s.c].iter_mut().zip(taps) {
                    *d += v;
                }
                continue;
            }
            for kx in 0..s.kw {
                let ix = ix0 + kx as isize;
                if ix < 0 || ix >= s.w as isize {
                    continue;
                }
                let dst = (line + ix as usize) * s.c;
                for (d, v) in g[dst..dst + s.c]
                    .iter_mut()
                    .zip(&taps[kx * s.c..(kx + 1) * s.c])
                {
                    *d += v;
                }
            }
        }
    }
}

/// How a convolution's work is split over rayon's workers: blocks of this many output pixels, each an
/// im2col block and an sgemm on one worker, or (`Whole`, when there are too few pixels for blocks worth
/// an sgemm call each) the whole column matrix at once and one sgemm on OpenBLAS's threads
/// ([`super::gemm::gemm_par_f32`]).
#[derive(Clone, Copy, Debug)]
enum Split {
    Blocks(usize),
    Whole,
}

/// The split is planned for this many workers whatever the machine has: how a product is cut decides
/// its rounding, so a plan from the shape alone gives the same bits on every core count.
const PLAN_WORKERS: usize = 4;

fn split_for(s: &ConvSpec, min_rows: usize) -> Split {
    if s.n * s.oh() * s.ow() >= PLAN_WORKERS * min_rows {
        Split::Blocks(rows_per_task(s, min_rows))
    } else {
        Split::Whole
    }
}

/// The column matrix of x: [n·oh·ow, kh·kw·c], zero in the padding (the reference of the CUDA
/// `im2col_bf16_f32`, which pads the rows and rounds to bf16).
pub fn im2col_f32(x: &[f32], s: &ConvSpec) -> Vec<f32> {
    im2col_all(x, s)
}

/// The column matrix of every output pixel, built in parallel.
fn im2col_all(x: &[f32], s: &ConvSpec) -> Vec<f32> {
    const ROWS: usize = 64;
    let kd = s.kdim();
    let mut col = vec![0.0f32; s.n * s.oh() * s.ow() * kd];
    col.par_chunks_mut(ROWS * kd.max(1))
        .enumerate()
        .for_each(|(i, blk)| im2col(blk, x, s, i * ROWS));
    col
}

/// y = conv(x, w).
pub fn conv_fwd_f32(y: &mut [f32], x: &[f32], w: &[f32], s: &ConvSpec) {
    conv_fwd_split(y, x, w, s, split_for(s, MIN_ROWS))
}

fn conv_fwd_split(y: &mut [f32], x: &[f32], w: &[f32], s: &ConvSpec, split: Split) {
    let (rows, kd, o) = (s.n * s.oh() * s.ow(), s.kdim(), s.o);
    let g = |m| GemmSpec {
        tb: true,
        ..GemmSpec::new(m, o, kd)
    };
    let step = match split {
        Split::Blocks(step) => step,
        Split::Whole => {
            let col = im2col_all(x, s);
            return super::gemm::gemm_par_f32(y, &col, w, &g(rows));
        }
    };
    y[..rows * o]
        .par_chunks_mut(step * o.max(1))
        .enumerate()
        .for_each(|(t, yb)| {
            let m = yb.len() / o.max(1);
            with_col(m * kd, |col| {
                im2col(col, x, s, t * step);
                super::gemm::gemm_blas_f32(yb, col, w, &g(m));
            })
        });
}

/// gx = ∂L/∂x from gy = ∂L/∂y.
pub fn conv_bwd_input_f32(gx: &mut [f32], gy: &[f32], w: &[f32], s: &ConvSpec) {
    conv_bwd_input_split(gx, gy, w, s, split_for(s, MIN_ROWS))
}

/// Images in parallel (each owns its part of gx), the pixel blocks of an image in turn.
fn conv_bwd_input_split(gx: &mut [f32], gy: &[f32], w: &[f32], s: &ConvSpec, split: Split) {
    let (pix, kd, o) = (s.oh() * s.ow(), s.kdim(), s.o);
    let img_len = s.h * s.w * s.c;
    let gx = &mut gx[..s.n * img_len];
    let step = match split {
        Split::Blocks(step) => step.min(pix).max(1),
        Split::Whole => {
            let mut col = vec![0.0f32; s.n * pix * kd];
            super::gemm::gemm_par_f32(&mut col, gy, w, &GemmSpec::new(s.n * pix, kd, o));
            return gx
                .par_chunks_mut(img_len.max(1))
                .zip(col.par_chunks((pix * kd).max(1)))
                .for_each(|(g, c)| {
                    g.fill(0.0);
                    col2im_add(g, c, s, 0);
                });
        }
    };
    gx.par_chunks_mut(img_len.max(1))
        .enumerate()
        .for_each(|(img, g)| {
            g.fill(0.0);
            with_col(step * kd, |col| {
                for p0 in (0..pix).step_by(step) {
                    let m = step.min(pix - p0);
                    let r0 = img * pix + p0;
                    let col = &mut col[..m * kd];
                    let spec = GemmSpec::new(m, kd, o);
                    super::gemm::gemm_blas_f32(col, &gy[r0 * o..(r0 + m) * o], w, &spec);
                    col2im_add(g, col, s, p0);
                }
            })
        });
}

/// Pixel-block groups of a grad-weight: a fixed count (not the worker count), so that the partial sums
/// and the order they are added in, hence the bits, are the same on every run and machine.
const GW_GROUPS: usize = 8;

/// gw = ∂L/∂w (overwritten, summed over the batch).
pub fn conv_bwd_weight_f32(gw: &mut [f32], gy: &[f32], x: &[f32], s: &ConvSpec) {
    conv_bwd_weight_split(gw, gy, x, s, split_for(s, MIN_ROWS_GW))
}

/// Groups of consecutive pixel blocks in parallel, each summing its blocks into a partial in turn; the
/// partials are then added in group order.
fn conv_bwd_weight_split(gw: &mut [f32], gy: &[f32], x: &[f32], s: &ConvSpec, split: Split) {
    let (rows, kd, o) = (s.n * s.oh() * s.ow(), s.kdim(), s.o);
    let wl = s.w_len();
    let gw = &mut gw[..wl];
    let g = |m| GemmSpec {
        ta: true,
        beta: 1.0,
        ..GemmSpec::new(o, kd, m)
    };
    let step = match split {
        Split::Blocks(step) => step,
        Split::Whole => {
            let col = im2col_all(x, s);
            let spec = GemmSpec {
                beta: 0.0,
                ..g(rows)
            };
            return super::gemm::gemm_par_f32(gw, gy, &col, &spec);
        }
    };
    let blocks = rows.div_ceil(step);
    let per_group = blocks.div_ceil(GW_GROUPS).max(1);
    let partials: Vec<Vec<f32>> = (0..blocks.div_ceil(per_group))
        .into_par_iter()
        .map(|grp| {
            let mut part = vec![0.0f32; wl];
            for t in grp * per_group..((grp + 1) * per_group).min(blocks) {
                let (r0, m) = (t * step, step.min(rows - t * step));
                with_col(m * kd, |col| {
                    im2col(col, x, s, r0);
                    super::gemm::gemm_blas_f32(&mut part, &gy[r0 * o..(r0 + m) * o], col, &g(m));
                });
            }
            part
        })
        .collect();
    gw.fill(0.0);
    for part in &partials {
        gw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution in f64 (no im2col): y, and the gradients of Σ y·gy.
    fn direct(x: &[f32], w: &[f32], gy: &[f32], s: &ConvSpec) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow) = (s.oh(), s.ow());
        let mut y = vec![0.0f64; s.y_len()];
        let (mut gx, mut gw) = (vec![0.0f64; s.x_len()], vec![0.0f64; s.w_len()]);
        for n in 0..s.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..s.o {
                        let yi = ((n * oh + oy) * ow + ox) * s.o + o;
                        for ky in 0..s.kh {
                            for kx in 0..s.kw {
                                let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                                let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                for c in 0..s.c {
                                    let xi =
                                        ((n * s.h + iy as usize) * s.w + ix as usize) * s.c + c;
                                    let wi = ((o * s.kh + ky) * s.kw + kx) * s.c + c;
                                    y[yi] += x[xi] as f64 * w[wi] as f64;
                                    gx[xi] += gy[yi] as f64 * w[wi] as f64;
                                    gw[wi] += gy[yi] as f64 * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, gx, gw)
    }

    fn max_rel(got: &[f32], want: &[f64]) -> f64 {
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        got.iter()
            .zip(want)
            .map(|(&g, &w)| (g as f64 - w).abs() / scale)
            .fold(0.0, f64::max)
    }

    /// Every split (the whole matrix; blocks that end mid-image, mid-row and at odd sizes; one block per
    /// pixel; blocks larger than the batch) gives the direct convolution, for 3×3 stride 1 and 2, 1×1
    /// stride 2 and a wide kernel with more padding.
    #[test]
    fn every_split_matches_the_direct_convolution() {
        let shapes = [
            ConvSpec::new(3, 7, 5, 4, 6, 3, 1, 1),
            ConvSpec::new(2, 9, 8, 3, 5, 3, 2, 1),
            ConvSpec::new(3, 6, 6, 8, 16, 1, 2, 0),
            ConvSpec::new(2, 5, 7, 2, 3, 5, 1, 2),
        ];
        for (i, s) in shapes.iter().enumerate() {
            let r = |len, seed| crate::rng::uniform_f32(len, -1.0, 1.0, seed);
            let (x, w, gy) = (
                r(s.x_len(), 10 + i as u64),
                r(s.w_len(), 20),
                r(s.y_len(), 30),
            );
            let (y_ref, gx_ref, gw_ref) = direct(&x, &w, &gy, s);
            let rows = s.n * s.oh() * s.ow();
            for split in [
                Split::Whole,
                Split::Blocks(1),
                Split::Blocks(7),
                Split::Blocks(s.oh() * s.ow() + 3),
                Split::Blocks(rows + 5),
            ] {
                let (mut y, mut gx, mut gw) = (
                    vec![f32::NAN; s.y_len()],
                    vec![f32::NAN; s.x_len()],
                    vec![f32::NAN; s.w_len()],
                );
                conv_fwd_split(&mut y, &x, &w, s, split);
                conv_bwd_input_split(&mut gx, &gy, &w, s, split);
                conv_bwd_weight_split(&mut gw, &gy, &x, s, split);
                for (what, e) in [
                    ("y", max_rel(&y, &y_ref)),
                    ("gx", max_rel(&gx, &gx_ref)),
                    ("gw", max_rel(&gw, &gw_ref)),
                ] {
                    assert!(e < 1e-5, "{s:?} {split:?}: {what} off by {e:e}");
                }
            }
        }
    }

    /// The three ops give the same bits on 1, 3 and 8 workers, at shapes of both splits (a pixel-block
    /// plan and a whole-matrix plan).
    #[test]
    fn bits_do_not_depend_on_the_worker_count() {
        for s in [
            ConvSpec::new(8, 16, 16, 8, 8, 3, 1, 1),
            ConvSpec::new(2, 4, 4, 32, 64, 3, 1, 1),
        ] {
            let r = |len, seed| crate::rng::uniform_f32(len, -1.0, 1.0, seed);
            let (x, w, gy) = (r(s.x_len(), 1), r(s.w_len(), 2), r(s.y_len(), 3));
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (mut y, mut gx, mut gw) = (
                    vec![0.0f32; s.y_len()],
                    vec![0.0f32; s.x_len()],
                    vec![0.0f32; s.w_len()],
                );
                pool.install(|| {
                    conv_fwd_f32(&mut y, &x, &w, &s);
                    conv_bwd_input_f32(&mut gx, &gy, &w, &s);
                    conv_bwd_weight_f32(&mut gw, &gy, &x, &s);
                });
                (y, gx, gw)
            };
            let one = run(1);
            assert!(one == run(3), "{s:?}: 3 workers differ from 1");
            assert!(one == run(8), "{s:?}: 8 workers differ from 1");
        }
        // The first shape takes pixel blocks, the second the whole matrix.
        let blocks = |s: &ConvSpec| matches!(split_for(s, MIN_ROWS_GW), Split::Blocks(_));
        assert!(blocks(&ConvSpec::new(8, 16, 16, 8, 8, 3, 1, 1)));
        assert!(!blocks(&ConvSpec::new(2, 4, 4, 32, 64, 3, 1, 1)));
    }
}
