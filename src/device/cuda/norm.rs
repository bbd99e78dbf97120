//! Launchers for kernels/norm.cu: batch norm over channels-last [rows, C].
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::norm::BnSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaView, CudaViewMut, LaunchConfig, PushKernelArg};

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
    let (rows, c) = dims(s)?;
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
    apply(dev, y, x, &mean.as_view(), &rstd.as_view(), gamma, beta, s)
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
    apply(dev, y, x, running_mean, &rstd.as_view(), gamma, beta, s)
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
