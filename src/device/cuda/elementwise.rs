//! Launchers for kernels/elementwise.cu. Names match the kernels and the CPU references.
use super::{check_len, launch_err, CudaDevice};
use crate::error::Result;
use crate::optim::AdamW;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const BLOCK: u32 = 256;

fn cfg(dev: &CudaDevice, n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(n, BLOCK), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

pub fn add_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
) -> Result<()> {
    let n = a.len();
    check_len("add_f32 b", b.len(), n)?;
    check_len("add_f32 out", out.len(), n)?;
    let f = dev.function("elementwise", "add_f32")?;
    let n64 = n as u64;
    // SAFETY: add_f32(float* out, const float* a, const float* b, u64 n); all three hold >= n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(a)
            .arg(b)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("add_f32"))?;
    Ok(())
}

pub fn scale_f32(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    a: &CudaSlice<f32>,
    s: f32,
) -> Result<()> {
    let n = a.len();
    check_len("scale_f32 out", out.len(), n)?;
    let f = dev.function("elementwise", "scale_f32")?;
    let n64 = n as u64;
    // SAFETY: scale_f32(float* out, const float* a, float s, u64 n); out and a hold >= n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(a)
            .arg(&s)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("scale_f32"))?;
    Ok(())
}

pub fn relu_fwd_f32(dev: &CudaDevice, out: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
    let n = x.len();
    check_len("relu_fwd_f32 out", out.len(), n)?;
    let f = dev.function("elementwise", "relu_fwd_f32")?;
    let n64 = n as u64;
    // SAFETY: relu_fwd_f32(float* out, const float* x, u64 n); both hold >= n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(out)
            .arg(x)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("relu_fwd_f32"))?;
    Ok(())
}

pub fn relu_bwd_f32(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
) -> Result<()> {
    let n = x.len();
    check_len("relu_bwd_f32 gy", gy.len(), n)?;
    check_len("relu_bwd_f32 gx", gx.len(), n)?;
    let f = dev.function("elementwise", "relu_bwd_f32")?;
    let n64 = n as u64;
    // SAFETY: relu_bwd_f32(float* gx, const float* gy, const float* x, u64 n); all hold >= n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(x)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("relu_bwd_f32"))?;
    Ok(())
}

pub fn adamw_f32(
    dev: &CudaDevice,
    p: &mut CudaSlice<f32>,
    g: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
    h: &AdamW,
) -> Result<()> {
    let n = p.len();
    check_len("adamw_f32 grad", g.len(), n)?;
    check_len("adamw_f32 m", m.len(), n)?;
    check_len("adamw_f32 v", v.len(), n)?;
    let (bc1, bc2s) = h.bias_corrections();
    let f = dev.function("elementwise", "adamw_f32")?;
    let n64 = n as u64;
    // SAFETY: adamw_f32(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2_sqrt, u64 n); p, g, m, v hold >= n
    // floats and are distinct allocations (the borrow checker forbids aliasing &mut with &).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(p)
            .arg(g)
            .arg(m)
            .arg(v)
            .arg(&h.lr)
            .arg(&h.beta1)
            .arg(&h.beta2)
            .arg(&h.eps)
            .arg(&h.weight_decay)
            .arg(&bc1)
            .arg(&bc2s)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("adamw_f32"))?;
    Ok(())
}

pub fn add_inplace_f32(dev: &CudaDevice, y: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
    let n = y.len();
    check_len("add_inplace_f32 x", x.len(), n)?;
    let f = dev.function("elementwise", "add_inplace_f32")?;
    let n64 = n as u64;
    // SAFETY: add_inplace_f32(float* y, const float* x, u64 n); distinct allocations of >= n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(&n64)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err("add_inplace_f32"))?;
    Ok(())
}

/// y = bf16(x) as raw bits (round to nearest even), for the v6 convolutions. `x` and `y` are whole
/// allocations, so the kernel's 16-byte loads and 8-byte stores are aligned.
pub fn cast_bf16_f32(dev: &CudaDevice, y: &mut CudaSlice<u16>, x: &CudaSlice<f32>) -> Result<()> {
    let n = x.len();
    check_len("cast_bf16_f32 y", y.len(), n)?;
    let f = dev.function("elementwise", "cast_bf16_f32")?;
    let n64 = n as u64;
    // SAFETY: cast_bf16_f32(unsigned short* y, const float* x, u64 n); y holds >= n u16, x n floats; the
    // grid covers the n % 4 tail with its first block.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(&n64)
            .launch(cfg(dev, (n / 4).max(1)))
    }
    .map_err(launch_err("cast_bf16_f32"))?;
    Ok(())
}

/// Launches the channel-copy kernel `name` (T* y, const float* x, u64 rows, int c, int cp) over `n`
/// elements, after checking the channel counts and that y holds `lens.0` and x `lens.1` elements.
fn channel_copy<T: cudarc::driver::DeviceRepr>(
    dev: &CudaDevice,
    name: &'static str,
    (y, x): (&mut CudaSlice<T>, &CudaSlice<f32>),
    (rows, c, cp): (usize, usize, usize),
    lens: (usize, usize),
    n: usize,
) -> Result<()> {
    if c == 0 || c > cp || cp > i32::MAX as usize {
        return Err(crate::error::Error::usage(format!(
            "channel padding from {c} to {cp} channels is not supported"
        )));
    }
    check_len(name, y.len(), lens.0)?;
    check_len(name, x.len(), lens.1)?;
    let (r, ci, cpi) = (rows as u64, c as i32, cp as i32);
    let f = dev.function("elementwise", name)?;
    // SAFETY: (T* y, const float* x, u64 rows, int c, int cp) with y and x at least the lengths checked
    // above (pad: y rows*cp, x rows*c; unpad: y rows*c, x rows*cp).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(&r)
            .arg(&ci)
            .arg(&cpi)
            .launch(cfg(dev, n))
    }
    .map_err(launch_err(name))?;
    Ok(())
}

/// y [rows, cp] = bf16(x [rows, c]) with channels c..cp zero (the stem's input for the v6 grad-weight).
pub fn pad_channels_bf16_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<u16>,
    x: &CudaSlice<f32>,
    rows: usize,
    c: usize,
    cp: usize,
) -> Result<()> {
    let lens = (rows * cp, rows * c);
    channel_copy(
        dev,
        "pad_channels_bf16_f32",
        (y, x),
        (rows, c, cp),
        lens,
        rows * cp,
    )
}

/// y [rows, cp] = x [rows, c] with channels c..cp zero (the stem's input for the tf32 v6 grad-weight).
pub fn pad_channels_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    c: usize,
    cp: usize,
) -> Result<()> {
    let lens = (rows * cp, rows * c);
    channel_copy(
        dev,
        "pad_channels_f32",
        (y, x),
        (rows, c, cp),
        lens,
        rows * cp,
    )
}

/// y [rows, c] = the first c channels of x [rows, cp].
pub fn unpad_channels_f32(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    rows: usize,
    c: usize,
    cp: usize,
) -> Result<()> {
    let lens = (rows * c, rows * cp);
    channel_copy(
        dev,
        "unpad_channels_f32",
        (y, x),
        (rows, c, cp),
        lens,
        rows * c,
    )
}
