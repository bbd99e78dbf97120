//! Launchers for kernels/conv.cu: NHWC convolution, OHWI weights; v1 direct, v2 implicit GEMM.
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

/// Mirror of `struct ConvDims` in kernels/conv_gather.cuh (eleven ints, passed by value).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConvDims {
    n: i32,
    h: i32,
    w: i32,
    c: i32,
    o: i32,
    kh: i32,
    kw: i32,
    stride: i32,
    pad: i32,
    oh: i32,
    ow: i32,
}

// SAFETY: plain-old-data with the same layout as the C struct.
unsafe impl DeviceRepr for ConvDims {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVersion {
    V1,
    V2,
}

/// The kernel-side geometry of `s` (shared with the tensor-core launchers), refusing sizes beyond 32-bit
/// GEMM indexing.
pub(crate) fn dims(s: &ConvSpec) -> Result<ConvDims> {
    let big = [
        s.x_len(),
        s.y_len(),
        s.n * s.oh() * s.ow() * s.kdim(),
        s.n * s.h * s.w * s.kh * s.kw * s.o,
    ];
    if big.iter().any(|&v| v > i32::MAX as usize) {
        return Err(Error::usage(format!(
            "convolution {s:?} exceeds 32-bit GEMM indexing; lower the batch size"
        )));
    }
    Ok(ConvDims {
        n: s.n as i32,
        h: s.h as i32,
        w: s.w as i32,
        c: s.c as i32,
        o: s.o as i32,
        kh: s.kh as i32,
        kw: s.kw as i32,
        stride: s.stride as i32,
        pad: s.pad as i32,
        oh: s.oh() as i32,
        ow: s.ow() as i32,
    })
}

fn flat(dev: &CudaDevice, n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(n, 256), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn tiles(m: usize, n: usize, z: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(128) as u32, m.div_ceil(128) as u32, z as u32),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

pub fn conv_fwd_f32(
    dev: &CudaDevice,
    v: ConvVersion,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let d = dims(s)?;
    let (name, cfg) = match v {
        ConvVersion::V1 => ("conv_fwd_v1_f32", flat(dev, s.y_len())),
        ConvVersion::V2 => ("conv_fwd_v2_f32", tiles(s.n * s.oh() * s.ow(), s.o, 1)),
    };
    let f = dev.function("conv", name)?;
    // SAFETY: (float* y, const float* x, const float* w, ConvDims d); lengths checked against d above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(w)
            .arg(&d)
            .launch(cfg)
    }
    .map_err(launch_err(name))?;
    Ok(())
}

pub fn conv_bwd_input_f32(
    dev: &CudaDevice,
    v: ConvVersion,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    let d = dims(s)?;
    let (name, cfg) = match v {
        ConvVersion::V1 => ("conv_bwd_input_v1_f32", flat(dev, s.x_len())),
        ConvVersion::V2 => ("conv_bwd_input_v2_f32", tiles(s.n * s.h * s.w, s.c, 1)),
    };
    let f = dev.function("conv", name)?;
    // SAFETY: (float* gx, const float* gy, const float* w, ConvDims d); lengths checked above.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(w)
            .arg(&d)
            .launch(cfg)
    }
    .map_err(launch_err(name))?;
    Ok(())
}

pub fn conv_bwd_weight_f32(
    dev: &CudaDevice,
    v: ConvVersion,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv gw", gw.len(), s.w_len())?;
    let d = dims(s)?;
    match v {
        ConvVersion::V1 => {
            let f = dev.function("conv", "conv_bwd_weight_v1_f32")?;
            // SAFETY: (float* gw, const float* gy, const float* x, ConvDims d); lengths checked above.
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(gw)
                    .arg(gy)
                    .arg(x)
                    .arg(&d)
                    .launch(flat(dev, s.w_len()))
            }
            .map_err(launch_err("conv_bwd_weight_v1_f32"))?;
        }
        ConvVersion::V2 => {
            // Split the long reduction (every output pixel) so the grid fills the GPU; partial products
            // are summed with atomics into the zeroed gradient.
            let p = s.n * s.oh() * s.ow();
            let out_tiles = s.o.div_ceil(128) * s.kdim().div_ceil(128);
            let want = (dev.sms.max(1) as usize * 4).div_ceil(out_tiles).max(1);
            let splits = want.min(p.div_ceil(256)).clamp(1, 65535);
            let per = p.div_ceil(splits).div_ceil(8) * 8;
            let splits = p.div_ceil(per);
            dev.stream
                .memset_zeros(gw)
                .map_err(|e| Error::driver("zeroing the weight gradient", e))?;
            let f = dev.function("conv", "conv_bwd_weight_v2_f32")?;
            let per_i = per as i32;
            // SAFETY: (float* gw, const float* gy, const float* x, ConvDims d, int p_per_split); gw zeroed.
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
            .map_err(launch_err("conv_bwd_weight_v2_f32"))?;
        }
    }
    Ok(())
}
