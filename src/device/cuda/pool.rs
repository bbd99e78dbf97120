//! Launchers for kernels/pool.cu: global average pooling, option-A shortcut.
use super::{check_len, launch_err, CudaDevice};
use crate::error::Result;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

fn flat(dev: &CudaDevice, n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(n, 256), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

pub fn avgpool_fwd_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    n: usize,
    hw: usize,
    c: usize,
) -> Result<()> {
    check_len("avgpool x", x.len(), n * hw * c)?;
    check_len("avgpool y", y.len(), n * c)?;
    let (ni, hwi, ci) = (n as i32, hw as i32, c as i32);
    let f = dev.function("pool", "avgpool_fwd_f32")?;
    // SAFETY: (float* y[n*c], const float* x[n*hw*c], int n, int hw, int c).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(&ni)
            .arg(&hwi)
            .arg(&ci)
            .launch(flat(dev, n * c))
    }
    .map_err(launch_err("avgpool_fwd_f32"))?;
    Ok(())
}

pub fn avgpool_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    n: usize,
    hw: usize,
    c: usize,
) -> Result<()> {
    check_len("avgpool gx", gx.len(), n * hw * c)?;
    check_len("avgpool gy", gy.len(), n * c)?;
    let (ni, hwi, ci) = (n as i32, hw as i32, c as i32);
    let f = dev.function("pool", "avgpool_bwd_f32")?;
    // SAFETY: (float* gx[n*hw*c], const float* gy[n*c], int n, int hw, int c).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(&ni)
            .arg(&hwi)
            .arg(&ci)
            .launch(flat(dev, n * hw * c))
    }
    .map_err(launch_err("avgpool_bwd_f32"))?;
    Ok(())
}

fn out_len(n: usize, h: usize, w: usize, c: usize, pad: usize) -> usize {
    n * h.div_ceil(2) * w.div_ceil(2) * (c + 2 * pad)
}

pub fn shortcut_a_fwd_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) -> Result<()> {
    check_len("shortcut x", x.len(), n * h * w * c)?;
    check_len("shortcut y", y.len(), out_len(n, h, w, c, pad))?;
    let a = [n as i32, h as i32, w as i32, c as i32, pad as i32];
    let f = dev.function("pool", "shortcut_a_fwd_f32")?;
    // SAFETY: (float* y, const float* x, int n, h, w, c, pad); lengths checked above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(&a[0])
            .arg(&a[1])
            .arg(&a[2])
            .arg(&a[3])
            .arg(&a[4])
            .launch(flat(dev, out_len(n, h, w, c, pad)))
    }
    .map_err(launch_err("shortcut_a_fwd_f32"))?;
    Ok(())
}

pub fn shortcut_a_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) -> Result<()> {
    check_len("shortcut gx", gx.len(), n * h * w * c)?;
    check_len("shortcut gy", gy.len(), out_len(n, h, w, c, pad))?;
    let a = [n as i32, h as i32, w as i32, c as i32, pad as i32];
    let f = dev.function("pool", "shortcut_a_bwd_f32")?;
    // SAFETY: (float* gx, const float* gy, int n, h, w, c, pad); lengths checked above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(&a[0])
            .arg(&a[1])
            .arg(&a[2])
            .arg(&a[3])
            .arg(&a[4])
            .launch(flat(dev, n * h * w * c))
    }
    .map_err(launch_err("shortcut_a_bwd_f32"))?;
    Ok(())
}
