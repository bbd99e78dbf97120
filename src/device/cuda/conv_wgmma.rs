//! Launcher for kernels/conv_wgmma.cu: the v7 convolution forward on Hopper warpgroup MMA (sm_90a), bf16
//! operands (the v6 bf16 copies), fp32 output. Grad-input and grad-weight stay on v6.
use super::conv::dims;
use super::{check_len, launch_err, wgmma, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "conv_wgmma";
/// Mirrors C7_BM, C7_BK and C7_STAGES in kernels/conv_wgmma.cu.
const BM: usize = 128;
const BK: usize = 32;
const STAGES: usize = 3;

/// The v7 tile for `o` output channels: (entry-point suffix, block columns).
fn tile(o: usize) -> (&'static str, usize) {
    if o > 64 {
        ("n128", 128)
    } else {
        ("n64", 64)
    }
}

fn smem_bytes(o: usize) -> usize {
    STAGES * (BM + tile(o).1) * BK * 2
}

/// Whether v7 takes the forward of `s` (a 32-deep k-tile inside one tap) — shape only.
pub fn takes(s: &ConvSpec) -> bool {
    s.c % 32 == 0 && s.c > 0 && s.o > 0
}

/// Whether `dev` runs the v7 forward of `s`: a Hopper GPU, a shape v7 takes, tiles within shared memory.
pub fn runs(dev: &CudaDevice, s: &ConvSpec) -> bool {
    wgmma::available(dev) && takes(s) && smem_bytes(s.o) <= dev.smem_optin
}

/// y[n, oh, ow, o] = conv(x, w) from bf16 x (NHWC) and w (OHWI) on wgmma.
pub fn conv_fwd_v7(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    if !runs(dev, s) {
        return Err(Error::usage(format!(
            "conv fwd v7 needs a Hopper GPU (sm_90, this one is sm_{}{}) and C % 32 == 0 ({s:?}); \
             run with IPDPP_CONV_TC=v6",
            dev.cc.0, dev.cc.1
        )));
    }
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let d = dims(s)?;
    let (tag, bn) = tile(s.o);
    let m = s.n * s.oh() * s.ow();
    let grid_y = m.div_ceil(BM);
    if grid_y > 65535 {
        return Err(Error::usage(format!(
            "convolution {s:?}: {m} GEMM rows exceed one launch; lower the batch size"
        )));
    }
    let name = format!("conv_fwd_v7_bf16_{tag}");
    let smem = smem_bytes(s.o);
    let f = dev.function(FILE, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (s.o.div_ceil(bn) as u32, grid_y as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    // SAFETY: (float* y, const bf16* x, const bf16* w, ConvDims d); lengths checked above; the dynamic
    // shared memory is what the ring needs (the kernel traps otherwise).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(y)
            .arg(x)
            .arg(w)
            .arg(&d)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}
