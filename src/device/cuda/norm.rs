//! Launchers for kernels/norm.cu: batch norm over channels-last [rows, C].
//!
//! v1 (validated on an H200): `batchnorm_fwd_train_f32`, `batchnorm_fwd_eval_f32`, `batchnorm_bwd_f32`;
//! a network runs ReLU and the residual add after them as separate elementwise ops.
//! v2, the fused tails (validated on an H200, 2026-11-27; the default): `batchnorm_relu_*` (relu(bn(x))) and
//! `batchnorm_add_relu_*` (relu(bn(x) + sc), the residual block's tail), forward (train and eval) and
//! backward, with the statistics of v1 and one elementwise pass each way; their CPU references are the
//! compositions of the v1 references in `cpu::norm`.
use super::{check_len, launch_err, CudaDevice, Scratch};
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

/// The per-channel reductions over partial sums: blocks of 32 channels × 8 lanes over the partials.
fn lanes(c: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (c.div_ceil(32) as u32, 1, 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    }
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

/// Grid of the v1 partial-sum kernels: blocks of 32 channels × 8 row lanes, `parts` row chunks.
fn partial_grid(s: &BnSpec, parts: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (s.c.div_ceil(32) as u32, parts as u32, 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    }
}

/// Length checks: every row-sized buffer in `per_row` holds rows·C values, every one in `per_c` C, in
/// that order.
fn check_lens(s: &BnSpec, per_row: &[(&str, usize)], per_c: &[(&str, usize)]) -> Result<()> {
    for &(what, len) in per_row {
        check_len(what, len, s.rows * s.c)?;
    }
    for &(what, len) in per_c {
        check_len(what, len, s.c)?;
    }
    Ok(())
}

/// Zeroed per-block partial sums [parts, C] of a backward reduction: (Σg, Σg·x̂).
fn bwd_partials<'a>(
    dev: &'a CudaDevice,
    parts: usize,
    s: &BnSpec,
) -> Result<(Scratch<'a>, Scratch<'a>)> {
    Ok((
        dev.scratch_zeros(parts * s.c)?,
        dev.scratch_zeros(parts * s.c)?,
    ))
}

/// ∂β = Σ part_g and ∂γ = Σ part_gx over the `parts` rows of partial sums (`batchnorm_bwd_reduce_f32`,
/// shared by v1 and the fused v2 backward).
fn bwd_reduce(
    dev: &CudaDevice,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    pg: &CudaSlice<f32>,
    pgx: &CudaSlice<f32>,
    parts: usize,
    s: &BnSpec,
) -> Result<()> {
    let (parts_i, c) = (parts as i32, s.c as i32);
    let f = dev.function("norm", "batchnorm_bwd_reduce_f32")?;
    // SAFETY: (ggamma[C], gbeta[C], part_g, part_gx [parts*C], parts, C); the callers checked ggamma and
    // gbeta hold C and allocated the partial sums with parts*C.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *ggamma)
            .arg(&mut *gbeta)
            .arg(pg)
            .arg(pgx)
            .arg(&parts_i)
            .arg(&c)
            .launch(lanes(s.c))
    }
    .map_err(launch_err("batchnorm_bwd_reduce_f32"))?;
    Ok(())
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
    pre: Option<&BlockStats<'_>>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    dims(s)?;
    check_lens(
        s,
        &[("batchnorm x", x.len()), ("batchnorm y", y.len())],
        &[
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
    )?;
    train_stats(dev, mean, rstd, running_mean, running_var, x, pre, s)?;
    apply(dev, y, x, &mean.as_view(), &rstd.as_view(), gamma, beta, s)
}

/// Mean, rstd and the running statistics from block partials: `batchnorm_parts_chunk_f32` combines
/// chunks of partials over the whole GPU, `batchnorm_stats_chunks_f32` the chunks.
fn stats_from_blocks(
    dev: &CudaDevice,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    p: &BlockStats<'_>,
    s: &BnSpec,
) -> Result<()> {
    let (_, c) = dims(s)?;
    if p.count * p.block_rows != s.rows || p.count == 0 {
        return Err(Error::usage(format!(
            "batch norm over {} rows given {} block partials of {} rows",
            s.rows, p.count, p.block_rows
        )));
    }
    let need = (p.first + p.count) * s.c;
    check_len("batchnorm block sums", p.sum.len(), need)?;
    check_len("batchnorm block squares", p.m2.len(), need)?;
    // About two blocks per SM in the first step; each chunk's (Σ, M2) kept in double (two f32 slots).
    let want = (dev.sms.max(1) as usize * 2).div_ceil(s.c.div_ceil(32));
    let per = p.count.div_ceil(want.clamp(1, p.count));
    let chunks = p.count.div_ceil(per);
    // Written whole by the first kernel (every chunk, every channel).
    let mut csum = dev.scratch(2 * chunks * s.c)?;
    let mut cm2 = dev.scratch(2 * chunks * s.c)?;
    let (first, count, block_rows) = (p.first as i32, p.count as i32, p.block_rows as i32);
    let (per_i, chunks_i) = (per as i32, chunks as i32);
    let f = dev.function("norm", "batchnorm_parts_chunk_f32")?;
    // SAFETY: (double* chunk_sum, double* chunk_m2 [chunks*C doubles: 2*chunks*C floats, allocation-aligned],
    // part_sum, part_m2 [(first + count) * C], first, count, per_chunk, block_rows, C); lengths checked above;
    // grid (⌈C/32⌉, chunks) with blockDim (32, 8) as the kernel's lane layout assumes.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *csum)
            .arg(&mut *cm2)
            .arg(p.sum)
            .arg(p.m2)
            .arg(&first)
            .arg(&count)
            .arg(&per_i)
            .arg(&block_rows)
            .arg(&c)
            .launch(LaunchConfig {
                grid_dim: (s.c.div_ceil(32) as u32, chunks as u32, 1),
                ..lanes(s.c)
            })
    }
    .map_err(launch_err("batchnorm_parts_chunk_f32"))?;
    let f = dev.function("norm", "batchnorm_stats_chunks_f32")?;
    // SAFETY: (mean, rstd, running_mean, running_var [C], chunk_sum, chunk_m2 [chunks*C doubles], chunks,
    // per_chunk, count, block_rows, C, eps, momentum); blockDim (32, 8).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(mean)
            .arg(rstd)
            .arg(running_mean)
            .arg(running_var)
            .arg(&*csum)
            .arg(&*cm2)
            .arg(&chunks_i)
            .arg(&per_i)
            .arg(&count)
            .arg(&block_rows)
            .arg(&c)
            .arg(&s.eps)
            .arg(&s.momentum)
            .launch(lanes(s.c))
    }
    .map_err(launch_err("batchnorm_stats_chunks_f32"))?;
    Ok(())
}

/// Batch statistics that the convolution before the batch norm already reduced per row block in its
/// epilogue (conv v6's `_stats` entry points): blocks [first, first + count) of the [*, C] partials, each
/// over `block_rows` rows.
pub struct BlockStats<'a> {
    pub sum: &'a CudaSlice<f32>,
    pub m2: &'a CudaSlice<f32>,
    pub first: usize,
    pub count: usize,
    pub block_rows: usize,
}

/// The training statistics of [`batchnorm_fwd_train_f32`] (shared with the fused v2 tails): two passes
/// over x (Σx, then Σ(x − mean)²), the saved mean and rstd, the running statistics updated in place; or,
/// with `pre`, the same from the convolution epilogue's block partials without reading x.
#[allow(clippy::too_many_arguments)]
fn train_stats(
    dev: &CudaDevice,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    pre: Option<&BlockStats<'_>>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c) = dims(s)?;
    // Partials that do not cover exactly these rows (cannot happen through BnPartials::group) fall back
    // to the passes over x.
    if let Some(p) = pre.filter(|p| p.count > 0 && p.count * p.block_rows == s.rows) {
        return stats_from_blocks(dev, mean, rstd, running_mean, running_var, p, s);
    }
    let (per, parts) = split(dev, s);
    // Written whole by each partial-sum pass (every row chunk, every channel).
    let mut part = dev.scratch(parts * s.c)?;
    let grid = partial_grid(s, parts);
    let (per_i, parts_i) = (per as i32, parts as i32);
    let f = dev.function("norm", "batchnorm_sum_partial_f32")?;
    // SAFETY: (float* part[parts*C], const float* x[rows*C], int rows, int C, int rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *part)
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
            .arg(&*part)
            .arg(&parts_i)
            .arg(&c)
            .arg(&rows)
            .launch(lanes(s.c))
    }
    .map_err(launch_err("batchnorm_mean_f32"))?;
    let f = dev.function("norm", "batchnorm_sq_partial_f32")?;
    // SAFETY: (float* part, const float* x, const float* mean, int rows, int C, int rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *part)
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
            .arg(&*part)
            .arg(&parts_i)
            .arg(&c)
            .arg(&rows)
            .arg(&s.eps)
            .arg(&s.momentum)
            .launch(lanes(s.c))
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
    check_lens(
        s,
        &[("batchnorm x", x.len()), ("batchnorm y", y.len())],
        &[
            ("mean", mean.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
    )?;
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
    check_lens(
        s,
        &[("gx", gx.len()), ("gy", gy.len()), ("x", x.len())],
        &[
            ("ggamma", ggamma.len()),
            ("gbeta", gbeta.len()),
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("gamma", gamma.len()),
        ],
    )?;
    let (per, parts) = split(dev, s);
    let (mut pg, mut pgx) = bwd_partials(dev, parts, s)?;
    let grid = partial_grid(s, parts);
    let per_i = per as i32;
    let f = dev.function("norm", "batchnorm_bwd_partial_f32")?;
    // SAFETY: (part_g, part_gx [parts*C], gy, x [rows*C], mean, rstd [C], rows, C, rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *pg)
            .arg(&mut *pgx)
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
    bwd_reduce(dev, ggamma, gbeta, &pg, &pgx, parts, s)?;
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
// v2: fused tails (validated on an H200, 2026-11-27). Memory passes per element (f32):
//   batchnorm_relu      train fwd: Σx, Σ(x−μ)², then read x / write y: 16 B (v1 BN + ReLU: 24 B)
//   batchnorm_add_relu  train fwd: Σx, Σ(x−μ)², then read x, sc / write y: 20 B (v1 BN + add + ReLU: 36 B)
//   backward: read gy, y, x for the two sums, then read gy, y, x / write dx (and the shortcut gradient):
//   28 B (v1 ReLU + BN: 32 B) and 32 B (v1 ReLU + add + BN: 48 B).
// Each pair (relu / add_relu) shares one launcher below, `sc` / `gsc` = None for batchnorm_relu.

/// The v2 kernels' channel grouping: (vec flag, channels per thread), four when C % 4 == 0 (the kernels
/// use float4 accesses when their pointers are 16-byte aligned and scalar ones otherwise).
fn vec_of(c: usize) -> (i32, usize) {
    if c % 4 == 0 {
        (1, 4)
    } else {
        (0, 1)
    }
}

/// A residual tail's ReLU mask bits of `len` words (None: none given) fit `s` (C % 4 == 0).
fn check_relu_bits(len: Option<usize>, residual: bool, s: &BnSpec) -> Result<()> {
    let Some(len) = len else {
        return Ok(());
    };
    if !residual || relu_mask_words(s) == 0 {
        return Err(Error::usage(
            "batchnorm: ReLU mask bits are for the residual tail with C % 4 == 0",
        ));
    }
    check_len("batchnorm ReLU mask bits", len, relu_mask_words(s))
}

/// Grid-stride launch over the rows·C/W element vectors.
fn flat_vec(dev: &CudaDevice, s: &BnSpec) -> LaunchConfig {
    flat(dev, s.rows * s.c / vec_of(s.c).1)
}

/// u32 words of the residual tail's ReLU mask bits for one view of `s` (v3, `bn_mask_words` in
/// kernels/norm.cu: four words per 32 element vectors of 4 channels); 0 where C % 4 != 0 (no bits: the
/// backward reads y).
pub fn relu_mask_words(s: &BnSpec) -> usize {
    if s.c % 4 == 0 {
        4 * (s.rows * s.c / 4).div_ceil(32)
    } else {
        0
    }
}

/// A [rows, C] tensor the tails read, fp32 or bf16: the batch norm's input x (bf16: `_x16` kernels, the v6
/// convolution's output of a training forward under `IPDPP_BN_TAIL=v4|v5`, stored as bf16 by its epilogue
/// with the statistics of the rounded values; C % 4 == 0, the residual tail with its ReLU mask bits), and
/// the BN+ReLU backward's upstream gradient gy (bf16: `_x16_g16`, v5, the stride-1 v6 grad-input of the
/// convolution after the tail; on a bf16 x only).
#[derive(Clone, Copy)]
pub enum BnView<'a, 'b> {
    F32(&'a CudaView<'b, f32>),
    Bf16(&'a CudaView<'b, u16>),
}

impl BnView<'_, '_> {
    fn len(&self) -> usize {
        match self {
            BnView::F32(v) => v.len(),
            BnView::Bf16(v) => v.len(),
        }
    }
    fn is_bf16(&self) -> bool {
        matches!(self, BnView::Bf16(_))
    }
    /// Pushes x as the next kernel argument.
    fn arg<'s>(&'s self, b: &mut cudarc::driver::LaunchArgs<'s>) {
        match self {
            BnView::F32(v) => b.arg(*v),
            BnView::Bf16(v) => b.arg(*v),
        };
    }
}

/// The check of a bf16 x (`_x16` kernels): C % 4 == 0, and for the residual tail the ReLU mask bits.
fn check_x16(x: &BnView<'_, '_>, s: &BnSpec, residual: bool, bits: bool) -> Result<()> {
    if x.is_bf16() && (s.c % 4 != 0 || (residual && !bits)) {
        return Err(Error::usage(
            "batchnorm tails on a bf16 x (v4) need C % 4 == 0 and, with a shortcut, the ReLU mask bits",
        ));
    }
    Ok(())
}

/// y = relu(bn(x)) or, with a shortcut, relu(bn(x) + sc) from per-channel mean and rstd: one pass
/// (`batchnorm_relu_apply_f32` / `batchnorm_add_relu_apply_f32`; `_x16` for a bf16 x; `_s16` for a bf16
/// shortcut, with the mask bits).
#[allow(clippy::too_many_arguments)]
fn relu_apply(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    yb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    x: BnView<'_, '_>,
    sc: Option<BnView<'_, '_>>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
    mask: Option<&mut CudaViewMut<'_, u32>>,
) -> Result<()> {
    let (_, c) = dims(s)?;
    check_x16(&x, s, sc.is_some(), mask.is_some())?;
    let sc16 = sc.as_ref().is_some_and(BnView::is_bf16);
    if sc16 && (s.c % 4 != 0 || mask.is_none()) {
        return Err(Error::usage(
            "batchnorm_add_relu on a bf16 shortcut (v6) needs C % 4 == 0 and the ReLU mask bits",
        ));
    }
    check_lens(
        s,
        &[("batchnorm x", x.len()), ("batchnorm y", y.len())],
        &[
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
    )?;
    if let Some(sc) = sc {
        check_len("batchnorm shortcut", sc.len(), s.rows * s.c)?;
    }
    if let Some((yb, _)) = &yb {
        check_len("batchnorm bf16 copy", yb.len(), s.rows * s.c)?;
    }
    check_relu_bits(mask.as_ref().map(|m| m.len()), sc.is_some(), s)?;
    let copy_only = yb.as_ref().is_some_and(|b| b.1);
    let (rows, vec) = (s.rows as i64, vec_of(s.c).0);
    let null = 0u64;
    let name = match (sc.is_some(), mask.is_some(), x.is_bf16()) {
        (true, _, true) if sc16 => "batchnorm_add_relu_apply_x16_s16",
        (true, _, false) if sc16 => "batchnorm_add_relu_apply_v3_s16",
        (true, _, true) => "batchnorm_add_relu_apply_x16",
        (false, _, true) => "batchnorm_relu_apply_x16",
        (true, true, false) => "batchnorm_add_relu_apply_v3_f32",
        (true, false, false) => "batchnorm_add_relu_apply_f32",
        _ => "batchnorm_relu_apply_f32",
    };
    let f = dev.function("norm", name)?;
    let mut b = dev.stream.launch_builder(&f);
    if copy_only {
        b.arg(&null);
    } else {
        b.arg(y);
    }
    match yb {
        Some((yb, _)) => b.arg(yb),
        None => b.arg(&null),
    };
    if let Some(m) = mask {
        b.arg(m);
    }
    x.arg(&mut b);
    if let Some(sc) = &sc {
        sc.arg(&mut b);
    }
    b.arg(mean)
        .arg(rstd)
        .arg(gamma)
        .arg(beta)
        .arg(&rows)
        .arg(&c);
    if !x.is_bf16() && !sc16 {
        b.arg(&vec);
    }
    // SAFETY: (y or null (only the copy), yb or null, [v3: mask u32 [relu_mask_words],] x [rows*C], with a
    // shortcut sc [rows*C], mean, rstd, gamma, beta [C], i64 rows, int C, int vec): the add kernels'
    // signatures when sc is given (v3 with the mask: C % 4 == 0, vec = 1), the relu kernel's otherwise;
    // the `_x16` kernels the same with x as u16 [rows*C] and no vec (C % 4 == 0 and the mask with sc:
    // check_x16); the `_s16` kernels with sc as u16 [rows*C], the mask and no vec (C % 4 == 0, checked
    // above); lengths checked above (yb: rows*C u16); vec = 1 only when C % 4 == 0 (the kernel checks
    // alignment itself).
    unsafe { b.launch(flat_vec(dev, s)) }.map_err(launch_err(name))?;
    Ok(())
}

/// v2 training forward of the tails (one launcher for both): the statistics of v1 (saved mean and rstd,
/// running statistics updated in place), then one pass writing y = relu(bn(x)), or relu(bn(x) + sc) when
/// the shortcut `sc` is given; with `yb` = Some((copy, only)), bf16(y) as well in the same pass (the v6
/// convolutions' copy), and with `only` y itself left unwritten.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_train_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    yb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: BnView<'_, '_>,
    pre: Option<&BlockStats<'_>>,
    sc: Option<BnView<'_, '_>>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
    mask: Option<&mut CudaViewMut<'_, u32>>,
    sbn: Option<&ShortcutBn<'_, '_>>,
) -> Result<()> {
    dims(s)?;
    let mut per_row = vec![("batchnorm x", x.len()), ("batchnorm y", y.len())];
    per_row.extend(sc.as_ref().map(|v| ("batchnorm shortcut", v.len())));
    check_lens(
        s,
        &per_row,
        &[
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
    )?;
    match x {
        BnView::F32(x) => train_stats(dev, mean, rstd, running_mean, running_var, x, pre, s)?,
        // The statistics of a bf16 x come from the epilogue of the convolution that stored it.
        BnView::Bf16(_) => match pre.filter(|p| p.count > 0 && p.count * p.block_rows == s.rows) {
            Some(p) => stats_from_blocks(dev, mean, rstd, running_mean, running_var, p, s)?,
            None => return Err(Error::usage(
                "batchnorm on a bf16 x: its statistics must come from the convolution's epilogue",
            )),
        },
    }
    if let Some(sb) = sbn {
        let Some(sc) = sc else {
            return Err(Error::usage(
                "batchnorm_add_relu with the shortcut's batch norm needs the shortcut",
            ));
        };
        return batchnorm_add_relu_sbn_fwd(
            dev,
            y,
            yb,
            mask,
            x,
            sc,
            (&mean.as_view(), &rstd.as_view()),
            (gamma, beta),
            sb,
            s,
        );
    }
    relu_apply(
        dev,
        y,
        yb,
        x,
        sc,
        &mean.as_view(),
        &rstd.as_view(),
        gamma,
        beta,
        s,
        mask,
    )
}

/// v2 eval forward of the tails with the running statistics (one launcher for both): relu(bn(x)), or
/// relu(bn(x) + sc) when `sc` is given, in one pass.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_eval_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    yb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    x: &CudaView<'_, f32>,
    sc: Option<&CudaView<'_, f32>>,
    running_mean: &CudaView<'_, f32>,
    running_var: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
    sbn: Option<&ShortcutBn<'_, '_>>,
) -> Result<()> {
    let rstd = eval_rstd(dev, running_var, s)?;
    if let Some(sb) = sbn {
        let Some(sc) = sc else {
            return Err(Error::usage(
                "batchnorm_add_relu with the shortcut's batch norm needs the shortcut",
            ));
        };
        return batchnorm_add_relu_sbn_fwd(
            dev,
            y,
            yb,
            None,
            BnView::F32(x),
            BnView::F32(sc),
            (running_mean, &rstd.as_view()),
            (gamma, beta),
            sb,
            s,
        );
    }
    relu_apply(
        dev,
        y,
        yb,
        BnView::F32(x),
        sc.map(BnView::F32),
        running_mean,
        &rstd.as_view(),
        gamma,
        beta,
        s,
        None,
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

/// Where the backward of relu(bn(x)) takes its ReLU mask from: the stored output y (v2), or x, γ and β
/// as the forward computed it (v3, `batchnorm_relu_bwd_*_v3_f32`: y is not read); for relu(bn(x) + sc)
/// under v3, the bits its forward wrote (`batchnorm_add_relu_*_v3_f32`: y is not read).
pub enum ReluMask<'a, 'b> {
    Y(&'a CudaView<'b, f32>),
    X {
        gamma: &'a CudaView<'b, f32>,
        beta: &'a CudaView<'b, f32>,
    },
    Bits(&'a CudaView<'b, u32>),
}

/// Σg and Σg·x̂ per channel over the masked gradient g = relu'(·) gy (one pass over gy, x and y or not,
/// then the per-channel reduction of v1): gbeta and ggamma of this group, overwritten.
#[allow(clippy::too_many_arguments)]
fn relu_bwd_sums(
    dev: &CudaDevice,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: BnView<'_, '_>,
    mask: &ReluMask<'_, '_>,
    x: BnView<'_, '_>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c) = dims(s)?;
    let (vec, tx, cblocks, per, parts) = partial_layout(dev, s);
    let (mut pg, mut pgx) = bwd_partials(dev, parts, s)?;
    let grid = LaunchConfig {
        grid_dim: (cblocks as u32, parts as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (per_i, tx_i) = (per as i32, tx as i32);
    if gy.is_bf16() && !(x.is_bf16() && matches!(mask, ReluMask::X { .. })) {
        return Err(Error::usage(
            "batchnorm backward: a bf16 gy is the BN+ReLU tail's on a bf16 x (v5)",
        ));
    }
    let name = match (mask, x.is_bf16()) {
        (ReluMask::X { .. }, true) if gy.is_bf16() => "batchnorm_relu_bwd_partial_x16_g16",
        (ReluMask::Y(_), true) => {
            return Err(Error::usage(
                "batchnorm_relu backward on a bf16 x takes its mask from x or the bits (v4)",
            ))
        }
        (ReluMask::Y(_), false) => "batchnorm_relu_bwd_partial_f32",
        (ReluMask::X { .. }, false) => "batchnorm_relu_bwd_partial_v3_f32",
        (ReluMask::Bits(_), false) => "batchnorm_add_relu_bwd_partial_v3_f32",
        (ReluMask::X { .. }, true) => "batchnorm_relu_bwd_partial_x16",
        (ReluMask::Bits(_), true) => "batchnorm_add_relu_bwd_partial_x16",
    };
    let f = dev.function("norm", name)?;
    let mut b = dev.stream.launch_builder(&f);
    b.arg(&mut *pg).arg(&mut *pgx);
    gy.arg(&mut b);
    match mask {
        ReluMask::Y(y) => {
            b.arg(*y);
            x.arg(&mut b);
            b.arg(mean).arg(rstd)
        }
        ReluMask::X { gamma, beta } => {
            x.arg(&mut b);
            b.arg(mean).arg(rstd).arg(*gamma).arg(*beta)
        }
        ReluMask::Bits(m) => {
            b.arg(*m);
            x.arg(&mut b);
            b.arg(mean).arg(rstd)
        }
    };
    b.arg(&rows).arg(&c).arg(&per_i).arg(&tx_i);
    if !x.is_bf16() {
        b.arg(&vec);
    }
    // SAFETY: v2 (part_g, part_gx [parts*C], gy, y, x [rows*C], mean, rstd [C], int rows, int C,
    // int rows_per_block, int TX, int vec), v3 the same with (gy, x, mean, rstd, gamma, beta) in place of
    // (gy, y, x, mean, rstd), the residual v3 with the mask bits in place of y (C % 4 == 0, vec = 1: the
    // caller's check); the `_x16` kernels the v3 ones with x as u16 [rows*C] and no vec (C % 4 == 0:
    // check_x16); the caller checked the lengths; blockDim = 256 as the kernel's shared arrays
    // assume, TX a power of two ≤ 256, grid (⌈C/W/TX⌉, parts) covers every channel and row.
    unsafe { b.launch(grid) }.map_err(launch_err(name))?;
    bwd_reduce(dev, ggamma, gbeta, &pg, &pgx, parts, s)
}

/// v2 training backward of the tails (one launcher for both): gx, ∂γ and ∂β (overwritten) from the
/// upstream gradient gy, the stored output y (the ReLU mask) and the saved mean and rstd; with
/// `gsc` = Some((gsc, accumulate)), the backward of relu(bn(x) + sc), which also writes the shortcut
/// gradient (the masked gy, added to gsc when `accumulate`). With `beta` (v3, relu(bn(x)) only: ignored
/// with `gsc`), the mask comes from x, γ and β and y is not read. With `gxb` (v3: relu(bn(x)) with `beta`,
/// or relu(bn(x) + sc)), bf16(gx) is written too, the copy the v6 convolution before the tail reads;
/// `gxb` = Some((copy, true)) writes only the copy (gx is left as it was). With `bits` (v3, relu(bn(x) +
/// sc), C % 4 == 0), the mask comes from the bits its forward wrote and y is not read.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaViewMut<'_, f32>,
    gsc: Option<(&mut CudaViewMut<'_, f32>, bool)>,
    ggamma: &mut CudaViewMut<'_, f32>,
    gbeta: &mut CudaViewMut<'_, f32>,
    gy: BnView<'_, '_>,
    y: &CudaView<'_, f32>,
    x: BnView<'_, '_>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: Option<&CudaView<'_, f32>>,
    gxb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    s: &BnSpec,
    bits: Option<&CudaView<'_, u32>>,
) -> Result<()> {
    dims(s)?;
    check_relu_bits(bits.map(|m| m.len()), gsc.is_some(), s)?;
    check_x16(&x, s, gsc.is_some(), bits.is_some())?;
    if x.is_bf16() && gsc.is_none() && beta.is_none() {
        return Err(Error::usage(
            "batchnorm_relu backward on a bf16 x takes its mask from x (v4: pass beta)",
        ));
    }
    let copy_only = gxb.as_ref().is_some_and(|g| g.1);
    let beta = beta.filter(|_| gsc.is_none());
    if gxb.is_some() && gsc.is_none() && beta.is_none() {
        return Err(Error::usage(
            "batchnorm_relu backward: the bf16 gradient copy comes with v3 (pass beta)",
        ));
    }
    if let Some((g, _)) = &gxb {
        check_len("batchnorm bf16 gradient copy", g.len(), s.rows * s.c)?;
    }
    let mut per_row = vec![("gx", gx.len())];
    per_row.extend(gsc.as_ref().map(|(g, _)| ("gsc", g.len())));
    per_row.extend([("gy", gy.len()), ("y", y.len()), ("x", x.len())]);
    check_lens(
        s,
        &per_row,
        &[
            ("ggamma", ggamma.len()),
            ("gbeta", gbeta.len()),
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("gamma", gamma.len()),
            ("beta", beta.map_or(s.c, |b| b.len())),
        ],
    )?;
    let mask = match (beta, bits) {
        (Some(beta), _) => ReluMask::X { gamma, beta },
        (None, Some(m)) => ReluMask::Bits(m),
        (None, None) => ReluMask::Y(y),
    };
    relu_bwd_sums(dev, ggamma, gbeta, gy, &mask, x, mean, rstd, s)?;
    let (rows, c, vec) = (s.rows as i64, s.c as i32, vec_of(s.c).0);
    let acc = gsc.as_ref().is_some_and(|g| g.1) as i32;
    let v3 = beta.is_some() || gxb.is_some() || bits.is_some();
    let x16 = x.is_bf16();
    let name = match (gsc.is_some(), v3, x16) {
        (false, _, true) if gy.is_bf16() => "batchnorm_relu_bwd_apply_x16_g16",
        (true, _, true) => "batchnorm_add_relu_bwd_apply_x16",
        (false, _, true) => "batchnorm_relu_bwd_apply_x16",
        (true, false, false) => "batchnorm_add_relu_bwd_apply_f32",
        (true, true, false) => "batchnorm_add_relu_bwd_apply_v3_f32",
        (false, false, false) => "batchnorm_relu_bwd_apply_f32",
        (false, true, false) => "batchnorm_relu_bwd_apply_v3_f32",
    };
    let null = 0u64;
    let f = dev.function("norm", name)?;
    let (gg, gb) = (ggamma.as_view(), gbeta.as_view());
    let with_sc = gsc.is_some();
    let mut b = dev.stream.launch_builder(&f);
    if copy_only {
        b.arg(&null);
    } else {
        b.arg(gx);
    }
    if v3 {
        match gxb {
            Some((g, _)) => b.arg(g),
            None => b.arg(&null),
        };
    }
    if let Some((gsc, _)) = gsc {
        b.arg(gsc);
    }
    match (beta, with_sc && v3) {
        (Some(beta), _) => {
            gy.arg(&mut b);
            x.arg(&mut b);
            b.arg(mean).arg(rstd).arg(gamma).arg(beta)
        }
        (None, true) => {
            gy.arg(&mut b);
            if !x16 {
                b.arg(y);
            }
            match bits {
                Some(m) => b.arg(m),
                None => b.arg(&null),
            };
            x.arg(&mut b);
            b.arg(mean).arg(rstd).arg(gamma)
        }
        (None, false) => {
            gy.arg(&mut b);
            b.arg(y);
            x.arg(&mut b);
            b.arg(mean).arg(rstd).arg(gamma)
        }
    };
    b.arg(&gg).arg(&gb).arg(&rows).arg(&c);
    if with_sc {
        b.arg(&acc);
    }
    if !x16 {
        b.arg(&vec);
    }
    // SAFETY: (gx, [gsc,] gy, y, x [rows*C], mean, rstd, gamma, ggamma, gbeta [C], i64 rows, int C,
    // [int acc_sc,] int vec); v3 the same with gxb (u16 [rows*C] or null) after gx (null when only the
    // copy is written: the v3 kernels skip a null gx), and for relu(bn(x))
    // (gy, x, mean, rstd, gamma, beta) in place of (gy, y, x, mean, rstd, gamma), and for the v3 add kernel
    // the mask bits (or null: the mask from y) after y: gsc and acc_sc pushed exactly when an add kernel is
    // launched, beta exactly for the v3 relu kernel; the `_x16` kernels those of v3 with x as u16
    // [rows*C], without y (the add kernel) and vec (check_x16: C % 4 == 0, the mask bits with sc); lengths
    // checked above; gx and gsc are distinct mutable views; vec = 1 only when C % 4 == 0 (the kernel
    // checks alignment itself).
    unsafe { b.launch(flat_vec(dev, s)) }.map_err(launch_err(name))?;
    Ok(())
}

/// A projection shortcut's batch norm that a residual tail applies to its shortcut, the shortcut
/// convolution's output (SBN, `kernels/norm.cu` `batchnorm_add_relu_*_sbn`): per-channel statistics (the
/// view's saved batch statistics, or in eval the running mean and [`eval_rstd_f32`]) and parameters.
pub struct ShortcutBn<'a, 'b> {
    pub mean: &'a CudaView<'b, f32>,
    pub rstd: &'a CudaView<'b, f32>,
    pub gamma: &'a CudaView<'b, f32>,
    pub beta: &'a CudaView<'b, f32>,
}

impl ShortcutBn<'_, '_> {
    fn check(&self, s: &BnSpec) -> Result<()> {
        check_len("shortcut batch-norm mean", self.mean.len(), s.c)?;
        check_len("shortcut batch-norm rstd", self.rstd.len(), s.c)?;
        check_len("shortcut batch-norm gamma", self.gamma.len(), s.c)?;
        check_len("shortcut batch-norm beta", self.beta.len(), s.c)
    }
}

/// [`dims`] of an SBN tail, whose kernels take 4-channel vectors and the mask words, and its operand
/// flags (x16, sc16).
fn sbn_dims(s: &BnSpec, x: &BnView<'_, '_>, sc: &BnView<'_, '_>) -> Result<(i32, i32, i32, i32)> {
    if s.c % 4 != 0 {
        return Err(Error::usage(
            "batchnorm_add_relu with the shortcut's batch norm (SBN) needs C % 4 == 0",
        ));
    }
    let (rows, c) = dims(s)?;
    Ok((rows, c, x.is_bf16() as i32, sc.is_bf16() as i32))
}

/// 1/sqrt(running_var + eps) per channel, as the eval forward computes it.
pub fn eval_rstd_f32(
    dev: &CudaDevice,
    running_var: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<CudaSlice<f32>> {
    eval_rstd(dev, running_var, s)
}

/// y = bn(x) with the given statistics (`batchnorm_apply_f32`): the composition the SBN tails fuse.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_apply_f32(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    mean: &CudaView<'_, f32>,
    rstd: &CudaView<'_, f32>,
    gamma: &CudaView<'_, f32>,
    beta: &CudaView<'_, f32>,
    s: &BnSpec,
) -> Result<()> {
    dims(s)?;
    check_len("rstd", rstd.len(), s.c)?;
    apply(dev, y, x, mean, rstd, gamma, beta, s)
}

/// Saved batch statistics and the running-statistics update, without an output: the projection shortcut's
/// batch norm, whose output the SBN residual tail computes itself.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_stats_train_f32(
    dev: &CudaDevice,
    mean: &mut CudaViewMut<'_, f32>,
    rstd: &mut CudaViewMut<'_, f32>,
    running_mean: &mut CudaViewMut<'_, f32>,
    running_var: &mut CudaViewMut<'_, f32>,
    x: &CudaView<'_, f32>,
    pre: Option<&BlockStats<'_>>,
    s: &BnSpec,
) -> Result<()> {
    dims(s)?;
    check_lens(
        s,
        &[("batchnorm x", x.len())],
        &[
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
        ],
    )?;
    train_stats(dev, mean, rstd, running_mean, running_var, x, pre, s)
}

/// The SBN residual tail's forward: y = relu(bn(x) + bn_s(sc)) with both statistics given (one pass,
/// `batchnorm_add_relu_apply_sbn`); `yb` as [`batchnorm_tail_fwd_train_f32`]'s, and in a training forward
/// the ReLU mask bits for the backward (`mask`). C % 4 == 0; x fp32 or bf16, sc fp32.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_sbn_fwd(
    dev: &CudaDevice,
    y: &mut CudaViewMut<'_, f32>,
    yb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    mask: Option<&mut CudaViewMut<'_, u32>>,
    x: BnView<'_, '_>,
    sc: BnView<'_, '_>,
    (mean, rstd): (&CudaView<'_, f32>, &CudaView<'_, f32>),
    (gamma, beta): (&CudaView<'_, f32>, &CudaView<'_, f32>),
    sbn: &ShortcutBn<'_, '_>,
    s: &BnSpec,
) -> Result<()> {
    let (_, c, x16, sc16) = sbn_dims(s, &x, &sc)?;
    check_lens(
        s,
        &[
            ("batchnorm x", x.len()),
            ("batchnorm y", y.len()),
            ("batchnorm shortcut", sc.len()),
        ],
        &[
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("gamma", gamma.len()),
            ("beta", beta.len()),
        ],
    )?;
    sbn.check(s)?;
    if let Some((yb, _)) = &yb {
        check_len("batchnorm bf16 copy", yb.len(), s.rows * s.c)?;
    }
    check_relu_bits(mask.as_ref().map(|m| m.len()), true, s)?;
    let copy_only = yb.as_ref().is_some_and(|b| b.1);
    let rows = s.rows as i64;
    let null = 0u64;
    let name = "batchnorm_add_relu_apply_sbn";
    let f = dev.function("norm", name)?;
    let mut b = dev.stream.launch_builder(&f);
    if copy_only {
        b.arg(&null);
    } else {
        b.arg(y);
    }
    match yb {
        Some((yb, _)) => b.arg(yb),
        None => b.arg(&null),
    };
    match mask {
        Some(m) => b.arg(m),
        None => b.arg(&null),
    };
    x.arg(&mut b);
    b.arg(&x16);
    sc.arg(&mut b);
    b.arg(&sc16)
        .arg(mean)
        .arg(rstd)
        .arg(gamma)
        .arg(beta)
        .arg(sbn.mean)
        .arg(sbn.rstd)
        .arg(sbn.gamma)
        .arg(sbn.beta)
        .arg(&rows)
        .arg(&c);
    // SAFETY: (y or null (only the copy), yb or null, mask u32 [relu_mask_words] or null, x [rows*C] f32 or
    // u16 as x16 says, int x16, sc [rows*C] likewise with int sc16, mean, rstd, gamma, beta, smean, srstd,
    // sgamma, sbeta [C], i64 rows, int C): lengths checked above, C % 4 == 0 (the kernel's 4-channel
    // vectors and mask words); the kernel checks alignment itself.
    unsafe { b.launch(flat_vec(dev, s)) }.map_err(launch_err(name))?;
    Ok(())
}

/// The SBN residual tail's training backward from the forward's ReLU mask bits: gx, ∂γ, ∂β of the block's
/// batch norm (overwritten), `gsc` the gradient of the shortcut convolution's output through its batch
/// norm (written), and that batch norm's ∂γ, ∂β (overwritten); `gxb` as [`batchnorm_tail_bwd_f32`]'s.
/// Three passes: the per-channel sums Σg, Σg·x̂, Σg·x̂s, their reduction, and the apply.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_add_relu_sbn_bwd(
    dev: &CudaDevice,
    gx: &mut CudaViewMut<'_, f32>,
    gxb: Option<(&mut CudaViewMut<'_, u16>, bool)>,
    gsc: &mut CudaViewMut<'_, f32>,
    (ggamma, gbeta): (&mut CudaViewMut<'_, f32>, &mut CudaViewMut<'_, f32>),
    (sggamma, sgbeta): (&mut CudaViewMut<'_, f32>, &mut CudaViewMut<'_, f32>),
    gy: &CudaView<'_, f32>,
    bits: &CudaView<'_, u32>,
    x: BnView<'_, '_>,
    sc: BnView<'_, '_>,
    (mean, rstd, gamma): (&CudaView<'_, f32>, &CudaView<'_, f32>, &CudaView<'_, f32>),
    sbn: &ShortcutBn<'_, '_>,
    s: &BnSpec,
) -> Result<()> {
    let (rows, c, x16, sc16) = sbn_dims(s, &x, &sc)?;
    check_lens(
        s,
        &[
            ("gx", gx.len()),
            ("gsc", gsc.len()),
            ("gy", gy.len()),
            ("x", x.len()),
            ("shortcut", sc.len()),
        ],
        &[
            ("ggamma", ggamma.len()),
            ("gbeta", gbeta.len()),
            ("shortcut ggamma", sggamma.len()),
            ("shortcut gbeta", sgbeta.len()),
            ("mean", mean.len()),
            ("rstd", rstd.len()),
            ("gamma", gamma.len()),
        ],
    )?;
    sbn.check(s)?;
    check_relu_bits(Some(bits.len()), true, s)?;
    if let Some((g, _)) = &gxb {
        check_len("batchnorm bf16 gradient copy", g.len(), s.rows * s.c)?;
    }
    let (_, tx, cblocks, per, parts) = partial_layout(dev, s);
    let (mut pg, mut pgx) = bwd_partials(dev, parts, s)?;
    let mut pgs = dev.scratch_zeros(parts * s.c)?;
    let (per_i, tx_i) = (per as i32, tx as i32);
    let name = "batchnorm_add_relu_bwd_partial_sbn";
    let f = dev.function("norm", name)?;
    let mut b = dev.stream.launch_builder(&f);
    b.arg(&mut *pg)
        .arg(&mut *pgx)
        .arg(&mut *pgs)
        .arg(gy)
        .arg(bits);
    x.arg(&mut b);
    b.arg(&x16);
    sc.arg(&mut b);
    b.arg(&sc16)
        .arg(mean)
        .arg(rstd)
        .arg(sbn.mean)
        .arg(sbn.rstd)
        .arg(&rows)
        .arg(&c)
        .arg(&per_i)
        .arg(&tx_i);
    // SAFETY: (part_g, part_gx, part_gs [parts*C], gy [rows*C], mask [relu_mask_words], x [rows*C] f32 or
    // u16 as x16 says, int x16, sc likewise with int sc16, mean, rstd, smean, srstd [C], int rows, int C, int
    // rows_per_block, int TX): lengths checked above (C % 4 == 0); blockDim 256 as the kernel's shared
    // arrays assume, TX a power of two ≤ 256, the grid (⌈C/4/TX⌉, parts) covers every channel and row.
    unsafe {
        b.launch(LaunchConfig {
            grid_dim: (cblocks as u32, parts as u32, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        })
    }
    .map_err(launch_err(name))?;
    bwd_reduce(dev, ggamma, gbeta, &pg, &pgx, parts, s)?;
    bwd_reduce(dev, sggamma, sgbeta, &pg, &pgs, parts, s)?;
    let copy_only = gxb.as_ref().is_some_and(|g| g.1);
    let rows64 = s.rows as i64;
    let null = 0u64;
    let (gg, gb, sgg) = (ggamma.as_view(), gbeta.as_view(), sggamma.as_view());
    let name = "batchnorm_add_relu_bwd_apply_sbn";
    let f = dev.function("norm", name)?;
    let mut b = dev.stream.launch_builder(&f);
    if copy_only {
        b.arg(&null);
    } else {
        b.arg(gx);
    }
    match gxb {
        Some((g, _)) => b.arg(g),
        None => b.arg(&null),
    };
    b.arg(gsc).arg(gy).arg(bits);
    x.arg(&mut b);
    b.arg(&x16);
    sc.arg(&mut b);
    b.arg(&sc16)
        .arg(mean)
        .arg(rstd)
        .arg(gamma)
        .arg(&gg)
        .arg(&gb)
        .arg(sbn.mean)
        .arg(sbn.rstd)
        .arg(sbn.gamma)
        .arg(&sgg)
        .arg(&rows64)
        .arg(&c);
    // SAFETY: (gx or null (only the copy), gxb u16 [rows*C] or null, gsc, gy [rows*C], mask, x as above,
    // int x16, sc and int sc16 as above, mean, rstd, gamma, ggamma, gbeta, smean, srstd, sgamma, sggamma [C], i64 rows,
    // int C): lengths checked above; gx, gxb and gsc are distinct mutable views.
    unsafe { b.launch(flat_vec(dev, s)) }.map_err(launch_err(name))?;
    Ok(())
}
