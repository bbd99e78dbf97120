//! Linear layer on CUDA: y = x·Wᵀ + b through the GEMM kernels, plus bias kernels.
use super::{check_len, gemm::gemm_f32, launch_err, CudaDevice};
use crate::device::ops::{GemmSpec, GemmVersion};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

#[allow(clippy::too_many_arguments)]
pub fn linear_fwd_f32(
    dev: &CudaDevice,
    v: GemmVersion,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    b: Option<&CudaSlice<f32>>,
    rows: usize,
    din: usize,
    dout: usize,
) -> Result<()> {
    gemm_f32(
        dev,
        v,
        y,
        x,
        w,
        &GemmSpec {
            tb: true,
            ..GemmSpec::new(rows, dout, din)
        },
    )?;
    if let Some(b) = b {
        bias_add_f32(dev, y, b, rows, dout)?;
    }
    Ok(())
}

/// y[r, j] += b[j] over a row-major [rows, cols] matrix (the linear layer's bias).
pub fn bias_add_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    b: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    check_len("linear bias", b.len(), cols)?;
    check_len("linear output", y.len(), rows * cols)?;
    let (r, c) = (rows as u64, cols as u32);
    let f = dev.function("elementwise", "bias_add_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (dev.grid_for(rows * cols, 256), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: bias_add_f32(float* y[rows*cols], const float* b[cols], u64 rows, u32 cols); lengths checked.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(b)
            .arg(&r)
            .arg(&c)
            .launch(cfg)
    }
    .map_err(launch_err("bias_add_f32"))?;
    Ok(())
}

/// gx = gy·W; gw = gyᵀ·x; gb = column sums of gy (all overwritten).
#[allow(clippy::too_many_arguments)]
pub fn linear_bwd_f32(
    dev: &CudaDevice,
    v: GemmVersion,
    gx: Option<&mut CudaSlice<f32>>,
    gw: &mut CudaSlice<f32>,
    gb: Option<&mut CudaSlice<f32>>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    rows: usize,
    din: usize,
    dout: usize,
) -> Result<()> {
    if let Some(gx) = gx {
        gemm_f32(dev, v, gx, gy, w, &GemmSpec::new(rows, din, dout))?;
    }
    gemm_f32(
        dev,
        v,
        gw,
        gy,
        x,
        &GemmSpec {
            ta: true,
            ..GemmSpec::new(dout, din, rows)
        },
    )?;
    if let Some(gb) = gb {
        col_sum_f32(dev, gb, gy, rows, dout)?;
    }
    Ok(())
}

/// out[j] = Σ_r x[r, j] (overwritten).
pub fn col_sum_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    check_len("col_sum x", x.len(), rows * cols)?;
    check_len("col_sum out", out.len(), cols)?;
    if rows > u32::MAX as usize || cols > u32::MAX as usize {
        return Err(Error::usage("col_sum: dimensions beyond 32 bits"));
    }
    dev.stream
        .memset_zeros(out)
        .map_err(|e| Error::driver("zeroing col_sum output", e))?;
    let col_blocks = cols.div_ceil(128);
    let row_blocks = (dev.sms.max(1) as usize * 4)
        .div_ceil(col_blocks)
        .clamp(1, rows.div_ceil(32).max(1));
    let per = rows.div_ceil(row_blocks).max(1);
    let (r, c, p) = (rows as u32, cols as u32, per as u32);
    let cfg = LaunchConfig {
        grid_dim: (col_blocks as u32, rows.div_ceil(per).max(1) as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    let f = dev.function("reduce", "col_sum_f32")?;
    // SAFETY: col_sum_f32(float* out[cols] zeroed, const float* x[rows*cols], u32 rows, cols, rows_per_block).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(x)
            .arg(&r)
            .arg(&c)
            .arg(&p)
            .launch(cfg)
    }
    .map_err(launch_err("col_sum_f32"))?;
    Ok(())
}
