//! Launchers for kernels/conv_tc.cu: tensor-core convolutions (v3) in TF32 or bf16 with fp32 storage and
//! fp32 accumulation (NHWC activations, OHWI weights), and [`ConvPrecision`], the numeric mode of a
//! network's convolutions with its dispatch over devices (the CPU always runs the exact fp32 reference).
use super::conv::dims;
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::device::{nn_ops, Buffer, Device};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "conv_tc";

/// Numeric mode of the convolutions. `Fp32` runs conv.cu v2 (exact fp32); `Tf32` and `Bf16` round the
/// operands to TF32 / bf16 inside the v3 tensor-core kernels (mma.sync, sm_80+), accumulating in fp32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum ConvPrecision {
    #[default]
    Fp32,
    Tf32,
    Bf16,
}

impl ConvPrecision {
    fn suffix(&self) -> &'static str {
        match self {
            ConvPrecision::Fp32 => "f32",
            ConvPrecision::Tf32 => "tf32",
            ConvPrecision::Bf16 => "bf16",
        }
    }
    /// DESIGN.md's relative-error tolerance of this mode against the fp32 reference.
    pub fn tolerance(&self) -> f64 {
        match self {
            ConvPrecision::Fp32 => 1e-5,
            ConvPrecision::Tf32 => 1e-3,
            ConvPrecision::Bf16 => 1e-2,
        }
    }
}

impl std::str::FromStr for ConvPrecision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(ConvPrecision::Fp32),
            "tf32" => Ok(ConvPrecision::Tf32),
            "bf16" => Ok(ConvPrecision::Bf16),
            _ => Err(Error::usage(format!(
                "unknown precision {s:?}; use fp32, tf32 or bf16"
            ))),
        }
    }
}

impl std::fmt::Display for ConvPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConvPrecision::Fp32 => "fp32",
            ConvPrecision::Tf32 => "tf32",
            ConvPrecision::Bf16 => "bf16",
        })
    }
}

fn tiles(m: usize, n: usize, z: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(128) as u32, m.div_ceil(128) as u32, z as u32),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn tc_only(dev: &CudaDevice, p: ConvPrecision) -> Result<()> {
    if p == ConvPrecision::Fp32 {
        return Err(Error::usage(
            "conv_tc launchers run tf32 or bf16; fp32 is conv.cu v2",
        ));
    }
    if dev.cc.0 < 8 {
        return Err(Error::usage(format!(
            "--precision {p} needs tensor cores of sm_80 or newer; this GPU is sm_{}{}",
            dev.cc.0, dev.cc.1
        )));
    }
    Ok(())
}

/// y[n, oh, ow, o] = conv(x, w) with tensor cores (`conv_fwd_v3_{tf32,bf16}`).
pub fn conv_fwd_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let d = dims(s)?;
    let name = format!("conv_fwd_v3_{}", p.suffix());
    let f = dev.function(FILE, &name)?;
    // SAFETY: (float* y, const float* x, const float* w, ConvDims d); lengths checked against d above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(w)
            .arg(&d)
            .launch(tiles(s.n * s.oh() * s.ow(), s.o, 1))
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// gx[n, h, w, c] = ∂L/∂x from gy with tensor cores (`conv_bwd_input_v3_{tf32,bf16}`).
pub fn conv_bwd_input_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    let d = dims(s)?;
    let name = format!("conv_bwd_input_v3_{}", p.suffix());
    let f = dev.function(FILE, &name)?;
    // SAFETY: (float* gx, const float* gy, const float* w, ConvDims d); lengths checked above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(w)
            .arg(&d)
            .launch(tiles(s.n * s.h * s.w, s.c, 1))
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// gw[o, kh, kw, c] = ∂L/∂w with tensor cores (`conv_bwd_weight_v3_{tf32,bf16}`), split over the
/// output pixels so the grid fills the GPU; partial products are added with atomics into the zeroed gw.
pub fn conv_bwd_weight_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv gw", gw.len(), s.w_len())?;
    let d = dims(s)?;
    let pix = s.n * s.oh() * s.ow();
    let out_tiles = s.o.div_ceil(128) * s.kdim().div_ceil(128);
    let want = (dev.sms.max(1) as usize * 4).div_ceil(out_tiles).max(1);
    let splits = want.min(pix.div_ceil(256)).clamp(1, 65535);
    let per = pix.div_ceil(splits).div_ceil(16) * 16;
    let splits = pix.div_ceil(per);
    dev.stream
        .memset_zeros(gw)
        .map_err(|e| Error::driver("zeroing the weight gradient", e))?;
    let name = format!("conv_bwd_weight_v3_{}", p.suffix());
    let f = dev.function(FILE, &name)?;
    let per_i = per as i32;
    // SAFETY: (float* gw, const float* gy, const float* x, ConvDims d, int p_per_split); gw zeroed,
    // lengths checked above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gw)
            .arg(gy)
            .arg(x)
            .arg(&d)
            .arg(&per_i)
            .launch(tiles(s.o, s.kdim(), splits))
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

fn mismatch(op: &str) -> Error {
    Error::usage(format!(
        "{op}: buffers live on a different device than the one given"
    ))
}

/// Forward convolution in the given precision: fp32 (and every CPU call) goes to [`nn_ops::conv_fwd`].
pub fn conv_fwd(
    dev: &Device,
    p: ConvPrecision,
    y: &mut Buffer,
    x: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, y, x, w) {
        (Device::Cuda(d), p, Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w))
            if p != ConvPrecision::Fp32 =>
        {
            conv_fwd_tc(d, p, y, x, w, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_fwd"))
        }
        (_, _, y, x, w) => nn_ops::conv_fwd(dev, y, x, w, s),
    }
}

/// Grad-input in the given precision (fp32 and the CPU: [`nn_ops::conv_bwd_input`]).
pub fn conv_bwd_input(
    dev: &Device,
    p: ConvPrecision,
    gx: &mut Buffer,
    gy: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, gx, gy, w) {
        (Device::Cuda(d), p, Buffer::Cuda(gx), Buffer::Cuda(gy), Buffer::Cuda(w))
            if p != ConvPrecision::Fp32 =>
        {
            conv_bwd_input_tc(d, p, gx, gy, w, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_bwd_input"))
        }
        (_, _, gx, gy, w) => nn_ops::conv_bwd_input(dev, gx, gy, w, s),
    }
}

/// Grad-weight in the given precision (fp32 and the CPU: [`nn_ops::conv_bwd_weight`]).
pub fn conv_bwd_weight(
    dev: &Device,
    p: ConvPrecision,
    gw: &mut Buffer,
    gy: &Buffer,
    x: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, gw, gy, x) {
        (Device::Cuda(d), p, Buffer::Cuda(gw), Buffer::Cuda(gy), Buffer::Cuda(x))
            if p != ConvPrecision::Fp32 =>
        {
            conv_bwd_weight_tc(d, p, gw, gy, x, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_bwd_weight"))
        }
        (_, _, gw, gy, x) => nn_ops::conv_bwd_weight(dev, gw, gy, x, s),
    }
}
