//! Launchers for kernels/norm.cu: batch norm over channels-last [rows, C].
//!
//! v1 (validated on an H200): `batchnorm_fwd_train_f32`, `batchnorm_fwd_eval_f32`, `batchnorm_bwd_f32`;
//! a network runs ReLU and the residual add after them as separate elementwise ops.
//! v2, the fused tails (compiled, NOT yet validated on a GPU): `batchnorm_relu_*` (relu(bn(x))) and
//! `batchnorm_add_relu_*` (relu(bn(x) + sc), the residual block's tail), forward (train and eval) and
//! backward, with the statistics of v1 and one elementwise pass each way; their CPU references are the
//! compositions of the v1 references in `cpu::norm`.
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::norm::BnSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, LaunchConfig, PushKernelArg};

/// Rows per partial-sum block and the number of blocks, so the grid fills the GPU.
fn split(dev: &CudaDevice, s: &BnSpec) -> (usize, usize) {
    let cgroups = s.c.div_ceil(32);
    let want = (dev.sms.max(1) as usize * 8).div_ceil(cgroups).max(1);
    let per = s.rows.div_ceil(want).max(64);
    (per, s.rows.div_ceil(per).max(1))
}

fn per_channel(c: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (c.div_ceil(128) as u32, 1, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn flat(dev: &CudaDevice, n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(n, 256), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn dims(s: &BnSpec) -> Result<(i32, i32)> {
    if s.rows > i32::MAX as usize || s.c > i32::MAX as usize || s.rows == 0 {
        return Err(Error::usage(format!(
            "batch norm over {} rows x {} channels is not supported",
            s.rows, s.c
        )));
    }
    Ok((s.rows as i32, s.c as i32))
}

/// Training forward: y, saved mean and rstd, running statistics updated in place.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_fwd_train_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    dims(s)?;
    check_len("batchnorm x", x.len(), s.rows * s.c)?;
    check_len("batchnorm y", y.len(), s.rows * s.c)?;
    for (what, len) in [
        ("mean", mean.len()),
        ("rstd", rstd.len()),
        ("running_mean", running_mean.len()),
        ("running_var", running_var.len()),
        ("gamma", gamma.len()),
        ("beta", beta.len()),
    ] {
        check_len(what, len, s.c)?;
    }
    train_stats(dev, mean, rstd, running_mean, running_var, x, s)?;
    apply(dev, y, x, &mean.as_view(), &rstd.as_view(), gamma, beta, s)
}

/// The training statistics of [`batchnorm_fwd_train_f32`] (shared with the fused v2 tails): two passes
/// over x (Σx, then Σ(x − mean)²), the saved mean and rstd, the running statistics updated in place.
fn train_stats(
    dev: &CudaDevice,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c) = dims(s)?;
    let (per, parts) = split(dev, s);
    let mut part = dev.zeros::<f32>(parts * s.c)?;
    let grid = LaunchConfig {
        grid_dim: (s.c.div_ceil(32) as u32, parts as u32, 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    };
    let (per_i, parts_i) = (per as i32, parts as i32);
    let f = dev.function("norm", "batchnorm_sum_partial_f32")?;
    // SAFETY: (float* part[parts*C], const float* x[rows*C], int rows, int C, int rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut part)
            .arg(x)
            .arg(&rows)
            .arg(&c)
            .arg(&per_i)
            .launch(grid)
    }
    .map_err(launch_err("batchnorm_sum_partial_f32"))?;
    let f = dev.function("norm", "batchnorm_mean_f32")?;
    // SAFETY: (float* mean[C], const float* part[parts*C], int parts, int C, int rows).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *mean)
            .arg(&part)
            .arg(&parts_i)
            .arg(&c)
            .arg(&rows)
            .launch(per_channel(s.c))
    }
    .map_err(launch_err("batchnorm_mean_f32"))?;
    let f = dev.function("norm", "batchnorm_sq_partial_f32")?;
    // SAFETY: (float* part, const float* x, const float* mean, int rows, int C, int rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut part)
            .arg(x)
            .arg(&mean.as_view())
            .arg(&rows)
            .arg(&c)
            .arg(&per_i)
            .launch(grid)
    }
    .map_err(launch_err("batchnorm_sq_partial_f32"))?;
    let f = dev.function("norm", "batchnorm_var_f32")?;
    // SAFETY: (rstd, running_mean, running_var, mean, part, parts, C, rows, eps, momentum); all C-long.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *rstd)
            .arg(running_mean)
            .arg(running_var)
            .arg(&mean.as_view())
            .arg(&part)
            .arg(&parts_i)
            .arg(&c)
            .arg(&rows)
            .arg(&s.eps)
            .arg(&s.momentum)
            .launch(per_channel(s.c))
    }
    .map_err(launch_err("batchnorm_var_f32"))?;
    Ok(())
}

/// Eval forward with the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_fwd_eval_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    running_mean: &CudaView<'_, f32>,
    running_var: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let rstd = eval_rstd(dev, running_var, s)?;
    apply(dev, y, x, running_mean, &rstd.as_view(), gamma, beta, s)
}

/// 1/sqrt(running_var + eps) per channel (eval forward, shared with the fused v2 tails).
fn eval_rstd(
    dev: &CudaDevice,
    running_var: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<CudaSlice<f32>> {
    let (_, c) = dims(s)?;
    check_len("batchnorm running_var", running_var.len(), s.c)?;
    let mut rstd = dev.zeros::<f32>(s.c)?;
    let f = dev.function("norm", "batchnorm_eval_rstd_f32")?;
    // SAFETY: (float* rstd[C], const float* running_var[C], int C, float eps).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut rstd)
            .arg(running_var)
            .arg(&c)
            .arg(&s.eps)
            .launch(per_channel(s.c))
    }
    .map_err(launch_err("batchnorm_eval_rstd_f32"))?;
    Ok(rstd)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    check_len("batchnorm x", x.len(), s.rows * s.c)?;
    check_len("batchnorm y", y.len(), s.rows * s.c)?;
    for (what, len) in [
        ("mean", mean.len()),
        ("gamma", gamma.len()),
        ("beta", beta.len()),
    ] {
        check_len(what, len, s.c)?;
    }
    let (rows, c) = (s.rows as i64, s.c as i32);
    let f = dev.function("norm", "batchnorm_apply_f32")?;
    // SAFETY: (y, x, mean, rstd, gamma, beta, i64 rows, int C); x and y hold rows*C, the rest C.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(gamma)
            .arg(beta)
            .arg(&rows)
            .arg(&c)
            .launch(flat(dev, s.rows * s.c))
    }
    .map_err(launch_err("batchnorm_apply_f32"))?;
    Ok(())
}

/// Training backward: gx, ∂γ and ∂β (overwritten), from the saved mean and rstd.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaViewMut<'_, f32>,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: &CudaView<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c) = dims(s)?;
    for (what, len) in [("gx", gx.len()), ("gy", gy.len()), ("x", x.len())] {
        check_len(what, len, s.rows * s.c)?;
    }
    for (what, len) in [
        ("ggamma", ggamma.len()),
        ("gbeta", gbeta.len()),
        ("mean", mean.len()),
        ("rstd", rstd.len()),
        ("gamma", gamma.len()),
    ] {
        check_len(what, len, s.c)?;
    }
    let (per, parts) = split(dev, s);
    let mut pg = dev.zeros::<f32>(parts * s.c)?;
    let mut pgx = dev.zeros::<f32>(parts * s.c)?;
    let grid = LaunchConfig {
        grid_dim: (s.c.div_ceil(32) as u32, parts as u32, 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    };
    let (per_i, parts_i) = (per as i32, parts as i32);
    let f = dev.function("norm", "batchnorm_bwd_partial_f32")?;
    // SAFETY: (part_g, part_gx [parts*C], gy, x [rows*C], mean, rstd [C], rows, C, rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut pg)
            .arg(&mut pgx)
            .arg(gy)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(&rows)
            .arg(&c)
            .arg(&per_i)
            .launch(grid)
    }
    .map_err(launch_err("batchnorm_bwd_partial_f32"))?;
    let f = dev.function("norm", "batchnorm_bwd_reduce_f32")?;
    // SAFETY: (ggamma[C], gbeta[C], part_g, part_gx, parts, C).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *ggamma)
            .arg(&mut *gbeta)
            .arg(&pg)
            .arg(&pgx)
            .arg(&parts_i)
            .arg(&c)
            .launch(per_channel(s.c))
    }
    .map_err(launch_err("batchnorm_bwd_reduce_f32"))?;
    let rows64 = s.rows as i64;
    let f = dev.function("norm", "batchnorm_bwd_apply_f32")?;
    // SAFETY: (gx, gy, x [rows*C], mean, rstd, gamma, ggamma, gbeta [C], i64 rows, int C).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(gamma)
            .arg(&ggamma.as_view())
            .arg(&gbeta.as_view())
            .arg(&rows64)
            .arg(&c)
            .launch(flat(dev, s.rows * s.c))
    }
    .map_err(launch_err("batchnorm_bwd_apply_f32"))?;
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// v2: fused tails (compiled, not validated on a GPU yet). Memory passes per element (f32):
//   batchnorm_relu      train fwd: Σx, Σ(x−μ)², then read x / write y: 16 B (v1 BN + ReLU: 24 B)
//   batchnorm_add_relu  train fwd: Σx, Σ(x−μ)², then read x, sc / write y: 20 B (v1 BN + add + ReLU: 36 B)
//   backward: read gy, y, x for the two sums, then read gy, y, x / write dx (and the shortcut gradient):
//   28 B (v1 ReLU + BN: 32 B) and 32 B (v1 ReLU + add + BN: 48 B).

/// The v2 kernels' channel grouping: (vec flag, channels per thread), four when C % 4 == 0 (the kernels
/// use float4 accesses when their pointers are 16-byte aligned and scalar ones otherwise).
fn vec_of(c: usize) -> (i32, usize) {
    if c % 4 == 0 {
        (1, 4)
    } else {
        (0, 1)
    }
}

/// Grid-stride launch over the rows·C/W element vectors.
fn flat_vec(dev: &CudaDevice, s: &BnSpec) -> LaunchConfig {
    flat(dev, s.rows * s.c / vec_of(s.c).1)
}

fn check_train(
    y: usize,
    x: usize,
    sc: Option<usize>,
    per_c: [(&str, usize); 6],
    s: &BnSpec,
) -> Result<(i32, i32)> {
    let d = dims(s)?;
    check_len("batchnorm x", x, s.rows * s.c)?;
    check_len("batchnorm y", y, s.rows * s.c)?;
    if let Some(sc) = sc {
        check_len("batchnorm shortcut", sc, s.rows * s.c)?;
    }
    for (what, len) in per_c {
        check_len(what, len, s.c)?;
    }
    Ok(d)
}

/// y = relu(bn(x)) or relu(bn(x) + sc) from per-channel mean and rstd: one pass.
#[allow(clippy::too_many_arguments)]
fn relu_apply(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    sc: Option<&CudaView<'_, f32>>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let (_, c) = dims(s)?;
    for (what, len) in [("batchnorm x", x.len()), ("batchnorm y", y.len())] {
        check_len(what, len, s.rows * s.c)?;
    }
    for (what, len) in [
        ("mean", mean.len()),
        ("rstd", rstd.len()),
        ("gamma", gamma.len()),
        ("beta", beta.len()),
    ] {
        check_len(what, len, s.c)?;
    }
    let (rows, vec) = (s.rows as i64, vec_of(s.c).0);
    match sc {
        None => {
            let f = dev.function("norm", "batchnorm_relu_apply_f32")?;
            // SAFETY: (y, x [rows*C], mean, rstd, gamma, beta [C], i64 rows, int C, int vec); lengths
            // checked above; vec = 1 only when C % 4 == 0 (the kernel checks alignment itself).
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(y)
                    .arg(x)
                    .arg(mean)
                    .arg(rstd)
                    .arg(gamma)
                    .arg(beta)
                    .arg(&rows)
                    .arg(&c)
                    .arg(&vec)
                    .launch(flat_vec(dev, s))
            }
            .map_err(launch_err("batchnorm_relu_apply_f32"))?;
        }
        Some(sc) => {
            check_len("batchnorm shortcut", sc.len(), s.rows * s.c)?;
            let f = dev.function("norm", "batchnorm_add_relu_apply_f32")?;
            // SAFETY: (y, x, sc [rows*C], mean, rstd, gamma, beta [C], i64 rows, int C, int vec); lengths
            // checked above; vec = 1 only when C % 4 == 0 (the kernel checks alignment itself).
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(y)
                    .arg(x)
                    .arg(sc)
                    .arg(mean)
                    .arg(rstd)
                    .arg(gamma)
                    .arg(beta)
                    .arg(&rows)
                    .arg(&c)
                    .arg(&vec)
                    .launch(flat_vec(dev, s))
            }
            .map_err(launch_err("batchnorm_add_relu_apply_f32"))?;
        }
    }
    Ok(())
}

/// v2 training forward of relu(bn(x)): the statistics of v1 (saved mean and rstd, running statistics
/// updated in place), then one pass writing y. Compiled, not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_relu_fwd_train_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    check_train(
        y.len(),
        x.len(),
        None,
        [
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
        s,
    )?;
    train_stats(dev, mean, rstd, running_mean, running_var, x, s)?;
    relu_apply(
        dev,
        y,
        x,
        None,
        &mean.as_view(),
        &rstd.as_view(),
        gamma,
        beta,
        s,
    )
}

/// v2 training forward of relu(bn(x) + sc), the residual block's tail: the statistics of v1, then one
/// pass reading x and sc and writing y. Compiled, not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_fwd_train_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    sc: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    check_train(
        y.len(),
        x.len(),
        Some(sc.len()),
        [
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
        s,
    )?;
    train_stats(dev, mean, rstd, running_mean, running_var, x, s)?;
    relu_apply(
        dev,
        y,
        x,
        Some(sc),
        &mean.as_view(),
        &rstd.as_view(),
        gamma,
        beta,
        s,
    )
}

/// v2 eval forward of relu(bn(x)) with the running statistics: one pass. Not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_relu_fwd_eval_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    running_mean: &CudaView<'_, f32>,
    running_var: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let rstd = eval_rstd(dev, running_var, s)?;
    relu_apply(
        dev,
        y,
        x,
        None,
        running_mean,
        &rstd.as_view(),
        gamma,
        beta,
        s,
    )
}

/// v2 eval forward of relu(bn(x) + sc) with the running statistics: one pass. Not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_fwd_eval_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    sc: &CudaView<'_, f32>,
    running_mean: &CudaView<'_, f32>,
    running_var: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let rstd = eval_rstd(dev, running_var, s)?;
    relu_apply(
        dev,
        y,
        x,
        Some(sc),
        running_mean,
        &rstd.as_view(),
        gamma,
        beta,
        s,
    )
}

/// Block layout of `batchnorm_relu_bwd_partial_f32`: (vec, TX, channel blocks, rows per block, row
/// blocks). 256 threads as TX channel vectors × 256/TX row lanes, TX the power of two covering C/W
/// (at most 256), so a warp reads whole lines even at C = 16; enough blocks to fill the GPU.
fn partial_layout(dev: &CudaDevice, s: &BnSpec) -> (i32, usize, usize, usize, usize) {
    let (vec, w) = vec_of(s.c);
    let vpr = s.c / w;
    let tx = vpr.next_power_of_two().min(256);
    let ty = 256 / tx;
    let cblocks = vpr.div_ceil(tx);
    let want = (dev.sms.max(1) as usize * 8).div_ceil(cblocks).max(1);
    let per = s
        .rows
        .div_ceil(want)
        .max(8 * ty)
        .max(s.rows.div_ceil(65535));
    (vec, tx, cblocks, per, s.rows.div_ceil(per).max(1))
}

/// Σg and Σg·x̂ per channel over the masked gradient g = y > 0 ? gy : 0 (one pass over gy, y, x, then
/// the per-channel reduction of v1): gbeta and ggamma of this group, overwritten.
#[allow(clippy::too_many_arguments)]
fn relu_bwd_sums(
    dev: &CudaDevice,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: &CudaView<'_, f32>,
    y: &CudaView<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c) = dims(s)?;
    let (vec, tx, cblocks, per, parts) = partial_layout(dev, s);
    let mut pg = dev.zeros::<f32>(parts * s.c)?;
    let mut pgx = dev.zeros::<f32>(parts * s.c)?;
    let grid = LaunchConfig {
        grid_dim: (cblocks as u32, parts as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (per_i, parts_i, tx_i) = (per as i32, parts as i32, tx as i32);
    let f = dev.function("norm", "batchnorm_relu_bwd_partial_f32")?;
    // SAFETY: (part_g, part_gx [parts*C], gy, y, x [rows*C], mean, rstd [C], int rows, int C,
    // int rows_per_block, int TX, int vec); the caller checked the lengths; blockDim = 256 as the kernel's
    // shared arrays assume, TX a power of two ≤ 256, grid (⌈C/W/TX⌉, parts) covers every channel and row.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut pg)
            .arg(&mut pgx)
            .arg(gy)
            .arg(y)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(&rows)
            .arg(&c)
            .arg(&per_i)
            .arg(&tx_i)
            .arg(&vec)
            .launch(grid)
    }
    .map_err(launch_err("batchnorm_relu_bwd_partial_f32"))?;
    let f = dev.function("norm", "batchnorm_bwd_reduce_f32")?;
    // SAFETY: (ggamma[C], gbeta[C], part_g, part_gx [parts*C], parts, C).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(ggamma)
            .arg(gbeta)
            .arg(&pg)
            .arg(&pgx)
            .arg(&parts_i)
            .arg(&c)
            .launch(per_channel(s.c))
    }
    .map_err(launch_err("batchnorm_bwd_reduce_f32"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_bwd(
    per_row: &[(&str, usize)],
    ggamma: usize,
    gbeta: usize,
    mean: usize,
    rstd: usize,
    gamma: usize,
    s: &BnSpec,
) -> Result<()> {
    dims(s)?;
    for (what, len) in per_row {
        check_len(what, *len, s.rows * s.c)?;
    }
    for (what, len) in [
        ("ggamma", ggamma),
        ("gbeta", gbeta),
        ("mean", mean),
        ("rstd", rstd),
        ("gamma", gamma),
    ] {
        check_len(what, len, s.c)?;
    }
    Ok(())
}

/// v2 training backward of y = relu(bn(x)): gx, ∂γ and ∂β (overwritten) from the upstream gradient gy,
/// the stored output y (the ReLU mask) and the saved mean and rstd. Compiled, not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_relu_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaViewMut<'_, f32>,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: &CudaView<'_, f32>,
    y: &CudaView<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    check_bwd(
        &[
            ("gx", gx.len()),
            ("gy", gy.len()),
            ("y", y.len()),
            ("x", x.len()),
        ],
        ggamma.len(),
        gbeta.len(),
        mean.len(),
        rstd.len(),
        gamma.len(),
        s,
    )?;
    relu_bwd_sums(dev, ggamma, gbeta, gy, y, x, mean, rstd, s)?;
    let (rows, c, vec) = (s.rows as i64, s.c as i32, vec_of(s.c).0);
    let f = dev.function("norm", "batchnorm_relu_bwd_apply_f32")?;
    // SAFETY: (gx, gy, y, x [rows*C], mean, rstd, gamma, ggamma, gbeta [C], i64 rows, int C, int vec);
    // lengths checked above; vec = 1 only when C % 4 == 0 (the kernel checks alignment itself).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(y)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(gamma)
            .arg(&ggamma.as_view())
            .arg(&gbeta.as_view())
            .arg(&rows)
            .arg(&c)
            .arg(&vec)
            .launch(flat_vec(dev, s))
    }
    .map_err(launch_err("batchnorm_relu_bwd_apply_f32"))?;
    Ok(())
}

/// v2 training backward of y = relu(bn(x) + sc): gx, the shortcut gradient gsc (the masked gy, written,
/// or added to gsc when `accumulate_sc`), ∂γ and ∂β (overwritten). Compiled, not validated on a GPU yet.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaViewMut<'_, f32>,
    gsc: &mut CudaViewMut<'_, f32>,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: &CudaView<'_, f32>,
    y: &CudaView<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    s: &BnSpec,
    accumulate_sc: bool,
) -> Result<()> {
    check_bwd(
        &[
            ("gx", gx.len()),
            ("gsc", gsc.len()),
            ("gy", gy.len()),
            ("y", y.len()),
            ("x", x.len()),
        ],
        ggamma.len(),
        gbeta.len(),
        mean.len(),
        rstd.len(),
        gamma.len(),
        s,
    )?;
    relu_bwd_sums(dev, ggamma, gbeta, gy, y, x, mean, rstd, s)?;
    let (rows, c, vec) = (s.rows as i64, s.c as i32, vec_of(s.c).0);
    let acc = accumulate_sc as i32;
    let f = dev.function("norm", "batchnorm_add_relu_bwd_apply_f32")?;
    // SAFETY: (gx, gsc, gy, y, x [rows*C], mean, rstd, gamma, ggamma, gbeta [C], i64 rows, int C,
    // int acc_sc, int vec); lengths checked above; gx and gsc are distinct mutable views; vec = 1 only
    // when C % 4 == 0 (the kernel checks alignment itself).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gsc)
            .arg(gy)
            .arg(y)
            .arg(x)
            .arg(mean)
            .arg(rstd)
            .arg(gamma)
            .arg(&ggamma.as_view())
            .arg(&gbeta.as_view())
            .arg(&rows)
            .arg(&c)
            .arg(&acc)
            .arg(&vec)
            .launch(flat_vec(dev, s))
    }
    .map_err(launch_err("batchnorm_add_relu_bwd_apply_f32"))?;
    Ok(())
}
