//! CPU reference batch norm over channels-last activations x [rows, c] (rows = n·h·w).
//! Training normalises with the biased batch variance and updates the running variance with the
//! unbiased one (PyTorch); statistics accumulate in f64.
use super::elementwise::{add_f32, add_inplace_f32, relu_bwd_f32, relu_fwd_f32};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnSpec {
    pub rows: usize,
    pub c: usize,
    pub eps: f32,
    pub momentum: f32,
}

impl BnSpec {
    pub fn new(rows: usize, c: usize) -> Self {
        BnSpec {
            rows,
            c,
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

/// Adds per-chunk partial sums in chunk order: rayon's `reduce` would pair them in an order that
/// depends on scheduling, and the same seed must give the same bits on every run.
fn add_pairs(
    (mut a1, mut a2): (Vec<f64>, Vec<f64>),
    (b1, b2): (Vec<f64>, Vec<f64>),
) -> (Vec<f64>, Vec<f64>) {
    for j in 0..a1.len() {
        a1[j] += b1[j];
        a2[j] += b2[j];
    }
    (a1, a2)
}

/// Rows per rayon task: about 4096 values (the partial sums are added in chunk order, so this size is
/// part of the bits and must not depend on the machine).
fn chunk_rows(c: usize) -> usize {
    (4096 / c.max(1)).max(1)
}

/// Per-channel Σx and Σx² over the rows, in f64.
fn channel_moments(x: &[f32], s: &BnSpec) -> (Vec<f64>, Vec<f64>) {
    let c = s.c;
    x[..s.rows * c]
        .par_chunks(chunk_rows(c) * c)
        .map(|part| {
            let (mut s1, mut s2) = (vec![0.0f64; c], vec![0.0f64; c]);
            for row in part.chunks_exact(c) {
                for ((a, b), &v) in s1.iter_mut().zip(s2.iter_mut()).zip(row) {
                    let v = v as f64;
                    *a += v;
                    *b += v * v;
                }
            }
            (s1, s2)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((vec![0.0; c], vec![0.0; c]), add_pairs)
}

/// Training forward: y, the saved batch mean and 1/sqrt(var + eps), and the running-statistics update.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_fwd_train_f32(
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &BnSpec,
) {
    batchnorm_stats_train_f32(mean, rstd, running_mean, running_var, x, s);
    batchnorm_apply_f32(y, x, mean, rstd, gamma, beta, s);
}

/// The statistics of [`batchnorm_fwd_train_f32`] without its output (a projection shortcut's batch norm
/// whose output the SBN residual tail computes).
pub fn batchnorm_stats_train_f32(
    mean: &mut [f32],
    rstd: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    x: &[f32],
    s: &BnSpec,
) {
    let c = s.c;
    let (s1, s2) = channel_moments(x, s);
    let n = s.rows as f64;
    for j in 0..c {
        let m = s1[j] / n;
        let var = (s2[j] / n - m * m).max(0.0);
        mean[j] = m as f32;
        rstd[j] = (1.0 / (var + s.eps as f64).sqrt()) as f32;
        let unbiased = if s.rows > 1 { var * n / (n - 1.0) } else { var };
        let mo = s.momentum as f64;
        running_mean[j] = ((1.0 - mo) * running_mean[j] as f64 + mo * m) as f32;
        running_var[j] = ((1.0 - mo) * running_var[j] as f64 + mo * unbiased) as f32;
    }
}

/// Eval forward with running statistics.
pub fn batchnorm_fwd_eval_f32(
    y: &mut [f32],
    x: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &BnSpec,
) {
    let rstd = eval_rstd_f32(running_var, s);
    batchnorm_apply_f32(y, x, &running_mean[..s.c], &rstd, gamma, beta, s);
}

/// 1/sqrt(running_var + eps) per channel, as the eval forward normalises.
pub fn eval_rstd_f32(running_var: &[f32], s: &BnSpec) -> Vec<f32> {
    running_var[..s.c]
        .iter()
        .map(|&v| (1.0 / (v as f64 + s.eps as f64).sqrt()) as f32)
        .collect()
}

/// y = bn(x) with the given statistics: the normalisation of both forwards.
pub fn batchnorm_apply_f32(
    y: &mut [f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &BnSpec,
) {
    let c = s.c;
    let (mean, rstd, gamma, beta) = (&mean[..c], &rstd[..c], &gamma[..c], &beta[..c]);
    let chunk = chunk_rows(c) * c;
    y[..s.rows * c]
        .par_chunks_mut(chunk)
        .zip(x[..s.rows * c].par_chunks(chunk))
        .for_each(|(yc, xc)| {
            for (yr, xr) in yc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
                // Slices of exactly c values: the indexing below compiles without bounds checks.
                let (yr, xr) = (&mut yr[..c], &xr[..c]);
                for j in 0..c {
                    yr[j] = (xr[j] - mean[j]) * rstd[j] * gamma[j] + beta[j];
                }
            }
        });
}

/// Training backward: gx, and ∂γ, ∂β (overwritten), from the saved mean and rstd.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_bwd_f32(
    gx: &mut [f32],
    ggamma: &mut [f32],
    gbeta: &mut [f32],
    gy: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    s: &BnSpec,
) {
    let c = s.c;
    let (mean, rstd, gamma) = (&mean[..c], &rstd[..c], &gamma[..c]);
    let chunk = chunk_rows(c) * c;
    // Σ gy and Σ gy·x̂ per channel.
    let (sg, sgx) = gy[..s.rows * c]
        .par_chunks(chunk)
        .zip(x[..s.rows * c].par_chunks(chunk))
        .map(|(g, xx)| {
            let (mut a, mut b) = (vec![0.0f64; c], vec![0.0f64; c]);
            let (ac, bc) = (&mut a[..c], &mut b[..c]);
            for (gr, xr) in g.chunks_exact(c).zip(xx.chunks_exact(c)) {
                let (gr, xr) = (&gr[..c], &xr[..c]);
                for j in 0..c {
                    let xh = (xr[j] - mean[j]) as f64 * rstd[j] as f64;
                    ac[j] += gr[j] as f64;
                    bc[j] += gr[j] as f64 * xh;
                }
            }
            (a, b)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((vec![0.0; c], vec![0.0; c]), add_pairs);
    let n = s.rows as f64;
    for j in 0..c {
        gbeta[j] = sg[j] as f32;
        ggamma[j] = sgx[j] as f32;
    }
    // gx = γ·rstd/n · (n·gy − Σgy − x̂·Σ(gy·x̂)); (γ·rstd)/n is evaluated as the formula reads.
    let k: Vec<f64> = (0..c)
        .map(|j| gamma[j] as f64 * rstd[j] as f64 / n)
        .collect();
    let (k, sg, sgx) = (&k[..c], &sg[..c], &sgx[..c]);
    gx[..s.rows * c]
        .par_chunks_mut(chunk)
        .zip(
            gy[..s.rows * c]
                .par_chunks(chunk)
                .zip(x[..s.rows * c].par_chunks(chunk)),
        )
        .for_each(|(oc, (gc, xc))| {
            for ((o, g), xr) in oc
                .chunks_exact_mut(c)
                .zip(gc.chunks_exact(c))
                .zip(xc.chunks_exact(c))
            {
                let (o, g, xr) = (&mut o[..c], &g[..c], &xr[..c]);
                for j in 0..c {
                    let xh = (xr[j] - mean[j]) as f64 * rstd[j] as f64;
                    o[j] = (k[j] * (n * g[j] as f64 - sg[j] - xh * sgx[j])) as f32;
                }
            }
        });
}

// ------------------------------------------------------------------------------------------------
// Fused tails (kernels/norm.cu v2): each reference is the composition of the references above and the
// elementwise ones, so the fused CUDA kernels have a named reference that is, by construction, the
// unfused chain (bit for bit on the CPU). Each pair (relu / add_relu) shares one function below, the
// shortcut `sc` / `gsc` = None for batchnorm_relu.

/// y = relu(pre), or relu(pre + sc) (`add_f32` into a temporary, then `relu_fwd_f32`) when the
/// shortcut is given; `pre` is the batch-norm output.
fn relu_tail(y: &mut [f32], pre: &[f32], sc: Option<&[f32]>) {
    let n = pre.len();
    match sc {
        None => relu_fwd_f32(&mut y[..n], pre),
        Some(sc) => {
            let mut sum = vec![0.0f32; n];
            add_f32(&mut sum, pre, &sc[..n]);
            relu_fwd_f32(&mut y[..n], &sum);
        }
    }
}

/// Reference of both tails' training forward: [`batchnorm_fwd_train_f32`] into a temporary, then
/// relu (with `sc`: `add_f32`, then relu).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_train_f32(
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    x: &[f32],
    sc: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    s: &BnSpec,
) {
    let mut pre = vec![0.0f32; s.rows * s.c];
    batchnorm_fwd_train_f32(
        &mut pre,
        mean,
        rstd,
        running_mean,
        running_var,
        x,
        gamma,
        beta,
        s,
    );
    relu_tail(y, &pre, sc);
}

/// Reference of both tails' eval forward: [`batchnorm_fwd_eval_f32`] into a temporary, then relu
/// (with `sc`: `add_f32`, then relu).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_eval_f32(
    y: &mut [f32],
    x: &[f32],
    sc: Option<&[f32]>,
    running_mean: &[f32],
    running_var: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &BnSpec,
) {
    let mut pre = vec![0.0f32; s.rows * s.c];
    batchnorm_fwd_eval_f32(&mut pre, x, running_mean, running_var, gamma, beta, s);
    relu_tail(y, &pre, sc);
}

/// Reference of both tails' training backward: g = `relu_bwd_f32`(gy, mask from the stored output y:
/// y > 0 exactly where the pre-activation was > 0); with `gsc` = Some((gsc, accumulate)) the shortcut
/// gradient is g (copied, or added with `add_inplace_f32` when `accumulate`: the shortcut already holds
/// another consumer's gradient); gx, ∂γ, ∂β (overwritten) = [`batchnorm_bwd_f32`] of g.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_bwd_f32(
    gx: &mut [f32],
    gsc: Option<(&mut [f32], bool)>,
    ggamma: &mut [f32],
    gbeta: &mut [f32],
    gy: &[f32],
    y: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    s: &BnSpec,
) {
    let n = s.rows * s.c;
    let mut g = vec![0.0f32; n];
    relu_bwd_f32(&mut g, &gy[..n], &y[..n]);
    match gsc {
        Some((gsc, true)) => add_inplace_f32(&mut gsc[..n], &g),
        Some((gsc, false)) => gsc[..n].copy_from_slice(&g),
        None => {}
    }
    batchnorm_bwd_f32(gx, ggamma, gbeta, &g, x, mean, rstd, gamma, s);
}
