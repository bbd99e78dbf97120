//! Launchers for kernels/elementwise.cu. Names match the kernels and the CPU references.
use super::{check_len, launch_err, CudaDevice};
use crate::error::Result;
use crate::optim::AdamW;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

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

/// One tensor of [`adamw_multi_f32`]: weight, gradient, moments, and whether it takes the weight decay.
pub struct AdamwTensor<'a> {
    pub p: &'a mut CudaSlice<f32>,
    pub g: &'a CudaSlice<f32>,
    pub m: &'a mut CudaSlice<f32>,
    pub v: &'a mut CudaSlice<f32>,
    pub decay: bool,
}

/// `struct AdamwChunk` of kernels/elementwise.cu: a range of one tensor's elements for one block.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AdamwChunk {
    p: u64,
    g: u64,
    m: u64,
    v: u64,
    n: u64,
    decay: u64,
}

// SAFETY: #[repr(C)], six 64-bit words, the layout of `struct AdamwChunk` (four pointers, two u64).
unsafe impl cudarc::driver::DeviceRepr for AdamwChunk {}

/// Elements per block of [`adamw_multi_f32`]: 32 per thread of 256.
pub const ADAMW_CHUNK: usize = 8192;

/// The chunk table of [`adamw_multi_f32`], kept on the device from step to step (uploaded again only
/// when a tensor moved), so that a training step copies nothing to the device.
#[derive(Default)]
pub struct AdamwTable {
    host: Vec<AdamwChunk>,
    dev: Option<CudaSlice<AdamwChunk>>,
}

/// [`adamw_f32`] on every tensor in one launch (`adamw_multi_f32`: a block per chunk of at most
/// [`ADAMW_CHUNK`] elements of one tensor, the same arithmetic per element), the weight decay of `h`
/// where a tensor's `decay` says so. Written without a GPU (2026-11-28): opt-in (`IPDPP_ADAMW_MULTI=1`).
pub fn adamw_multi_f32(
    dev: &CudaDevice,
    table: &mut AdamwTable,
    tensors: &mut [AdamwTensor<'_>],
    h: &AdamW,
) -> Result<()> {
    let mut chunks = Vec::new();
    let mut guards = Vec::new();
    for t in tensors.iter_mut() {
        let n = t.p.len();
        check_len("adamw grad", t.g.len(), n)?;
        check_len("adamw m", t.m.len(), n)?;
        check_len("adamw v", t.v.len(), n)?;
        let (p, gp) = t.p.device_ptr_mut(&dev.stream);
        let (g, gg) = t.g.device_ptr(&dev.stream);
        let (m, gm) = t.m.device_ptr_mut(&dev.stream);
        let (v, gv) = t.v.device_ptr_mut(&dev.stream);
        guards.extend([gp, gg, gm, gv]);
        for start in (0..n).step_by(ADAMW_CHUNK) {
            let off = 4 * start as u64;
            chunks.push(AdamwChunk {
                p: p + off,
                g: g + off,
                m: m + off,
                v: v + off,
                n: ADAMW_CHUNK.min(n - start) as u64,
                decay: t.decay as u64,
            });
        }
    }
    if chunks.is_empty() {
        return Ok(());
    }
    let blocks = u32::try_from(chunks.len()).map_err(|_| {
        crate::error::Error::usage("adamw: too many parameter chunks for one launch")
    })?;
    if table.dev.is_none() || table.host != chunks {
        table.dev = Some(dev.upload(&chunks)?);
        table.host = chunks;
    }
    let Some(chunks_dev) = table.dev.as_ref() else {
        unreachable!("uploaded above");
    };
    let (bc1, bc2s) = h.bias_corrections();
    let f = dev.function("elementwise", "adamw_multi_f32")?;
    // SAFETY: adamw_multi_f32(const AdamwChunk* chunks, lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt);
    // one block per chunk; each chunk's four pointers address n <= ADAMW_CHUNK floats inside a tensor whose
    // lengths were checked above, the tensors distinct allocations (each borrowed mutably or shared here,
    // their guards held until after the launch); blockDim 256 as any.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(chunks_dev)
            .arg(&h.lr)
            .arg(&h.beta1)
            .arg(&h.beta2)
            .arg(&h.eps)
            .arg(&h.weight_decay)
            .arg(&bc1)
            .arg(&bc2s)
            .launch(LaunchConfig {
                grid_dim: (blocks, 1, 1),
                block_dim: (BLOCK, 1, 1),
                shared_mem_bytes: 0,
            })
    }
    .map_err(launch_err("adamw_multi_f32"))?;
    drop(guards);
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
