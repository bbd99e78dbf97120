//! Launchers for kernels/reduce.cu: per-row sum and mean of a row-major [rows, cols] matrix.
use super::{check_len, launch_err, CudaDevice};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

fn row_reduce(
    dev: &CudaDevice,
    kernel: &'static str,
    out: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    check_len(kernel, x.len(), rows * cols)?;
    check_len(kernel, out.len(), rows)?;
    if rows > u32::MAX as usize || cols > u32::MAX as usize {
        return Err(Error::usage(format!(
            "{kernel}: {rows}x{cols} exceeds 32-bit dimensions"
        )));
    }
    if rows == 0 {
        return Ok(());
    }
    let block = if cols >= 1024 { 256 } else { 128 };
    let grid = rows.min(65535 * 8) as u32;
    let cfg = LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    };
    let f = dev.function("reduce", kernel)?;
    let (r, c) = (rows as u32, cols as u32);
    // SAFETY: (float* out, const float* x, u32 rows, u32 cols); x holds rows*cols floats, out holds rows.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(x)
            .arg(&r)
            .arg(&c)
            .launch(cfg)
    }
    .map_err(launch_err(kernel))?;
    Ok(())
}

pub fn row_sum_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    row_reduce(dev, "row_sum_f32", out, x, rows, cols)
}

pub fn row_mean_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    row_reduce(dev, "row_mean_f32", out, x, rows, cols)
}
