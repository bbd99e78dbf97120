//! Launchers for kernels/conv_wgmma.cu: the v7 convolutions on Hopper warpgroup MMA (sm_90a), bf16 operands
//! (the v6 bf16 copies), fp32 outputs: the forward, the stride-1 grad-input from the transposed weights
//! ([`conv_weight_t_bf16`]) and the grad-weight (MN-major operands, split over pixels). Strided grad-input
//! stays on v6.
use super::conv::dims;
use super::conv_tc6::{launch_bwd_weight, launch_fwd, BnPartials};
use super::{check_len, launch_err, wgmma, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "conv_wgmma";
/// Mirrors C7_BM and C7_STAGES in kernels/conv_wgmma.cu.
const BM: usize = 128;
const STAGES: usize = 4;

/// The v7 tile for `o` output columns: (entry-point tag, block columns).
fn tile(o: usize) -> (&'static str, usize) {
    if o > 64 {
        ("n128", 128)
    } else {
        ("n64", 64)
    }
}

/// The k-tile depth of v7's `op` at `s`: 64 (half the barriers per MMA, 128-byte copies per row) where a
/// k-tile of the forward (C) or grad-input (O) stays inside one tap, else 32; grad-weight k-tiles are pixels,
/// always 64. `IPDPP_V7_BK=32` keeps every op at 32 (A/B runs).
fn bk(op: &str, s: &ConvSpec) -> usize {
    static FORCE_32: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let force_32 = *FORCE_32.get_or_init(|| match std::env::var("IPDPP_V7_BK") {
        Err(_) => false,
        Ok(v) => match v.trim() {
            "32" => true,
            "" | "64" => false,
            other => {
                eprintln!(
                    "warning: IPDPP_V7_BK={other:?} is neither 32 nor 64; v7 picks per shape"
                );
                false
            }
        },
    });
    let whole = match op {
        "fwd" => s.c % 64 == 0,
        "bwd_input" => s.o % 64 == 0,
        _ => true,
    };
    if whole && !force_32 {
        64
    } else {
        32
    }
}

fn smem_bytes(cols: usize, bk: usize) -> usize {
    STAGES * (BM + tile(cols).1) * bk * 2
}

/// Whether v7 takes `op` ("fwd", "bwd_input", "bwd_weight") at `s`, shape only: a 32-deep k-tile of the
/// forward and grad-input stays inside one tap (forward: C % 32 == 0; grad-input: O % 32 == 0 and stride 1);
/// a grad-weight chunk is 8 channels of one tap and 8 output channels (C % 8 == 0, O % 8 == 0).
pub fn takes(op: &str, s: &ConvSpec) -> bool {
    let nonempty = s.c > 0 && s.o > 0;
    match op {
        "fwd" => nonempty && s.c % 32 == 0,
        "bwd_input" => nonempty && s.o % 32 == 0 && s.stride == 1,
        "bwd_weight" => nonempty && s.c % 8 == 0 && s.o % 8 == 0,
        _ => false,
    }
}

/// Whether `dev` runs v7's `op` at `s`: a Hopper GPU, a shape v7 takes, tiles within shared memory.
pub fn runs(dev: &CudaDevice, op: &str, s: &ConvSpec) -> bool {
    let cols = if op == "bwd_input" { s.c } else { s.o };
    wgmma::available(dev) && takes(op, s) && smem_bytes(cols, bk(op, s)) <= dev.smem_optin
}

/// Kernel, name and launch shape of v7's `op` over an `m` x `cols` output.
fn plan(
    dev: &CudaDevice,
    op: &str,
    suffix: &str,
    s: &ConvSpec,
    m: usize,
    cols: usize,
) -> Result<(cudarc::driver::CudaFunction, String, LaunchConfig)> {
    if !runs(dev, op, s) {
        return Err(Error::usage(format!(
            "conv {op} v7 needs a Hopper GPU (sm_90, this one is sm_{}{}) and a shape it takes \
             (forward C % 32 == 0; grad-input O % 32 == 0, stride 1): {s:?}; run with IPDPP_CONV_TC=v6",
            dev.cc.0, dev.cc.1
        )));
    }
    let (tag, bn) = tile(cols);
    let k = bk(op, s);
    let grid_y = m.div_ceil(BM);
    if grid_y > 65535 {
        return Err(Error::usage(format!(
            "convolution {s:?}: {m} GEMM rows exceed one launch; lower the batch size"
        )));
    }
    let ktag = if k == 64 { "_k64" } else { "" };
    let name = format!("conv_{op}_v7_bf16_{tag}{ktag}{suffix}");
    let smem = smem_bytes(cols, k);
    let f = dev.function(FILE, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (cols.div_ceil(bn) as u32, grid_y as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    Ok((f, name, cfg))
}

/// y[n, oh, ow, o] = conv(x, w) from bf16 x (NHWC) and w (OHWI) on wgmma.
pub fn conv_fwd_v7(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    fwd(dev, y, x, w, s, None)
}

/// [`conv_fwd_v7`] that also writes the batch-norm partials of y into `out` for `groups` equal row ranges
/// (the views) when every 128-row block lies inside one range (as `conv_fwd_v6_stats`); otherwise the plain
/// forward, `out` stale.
pub fn conv_fwd_v7_stats(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<()> {
    out.stale();
    let rows = s.n * s.oh() * s.ow();
    if groups == 0 || rows % groups != 0 || (rows / groups) % BM != 0 {
        return conv_fwd_v7(dev, y, x, w, s);
    }
    let parts = rows / BM;
    let (sum, m2) = out.buffers(dev, parts, s.o)?;
    fwd(dev, y, x, w, s, Some((sum, m2)))?;
    out.written(BM, parts);
    Ok(())
}

/// The forward launch, plain or (`stats` = the partial buffers) the `_stats` entry point.
fn fwd(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
    stats: Option<(&mut CudaSlice<f32>, &mut CudaSlice<f32>)>,
) -> Result<()> {
    let suffix = if stats.is_some() { "_stats" } else { "" };
    let planned = plan(dev, "fwd", suffix, s, s.n * s.oh() * s.ow(), s.o)?;
    launch_fwd(planned, dev, y, x, w, s, stats)
}

/// gx[n, h, w, c] = ∂L/∂x of a stride-1 convolution from bf16 gy and the transposed bf16 weights `wt`
/// ([`conv_weight_t_bf16`]) on wgmma.
pub fn conv_bwd_input_v7(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<u16>,
    wt: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv wt", wt.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    let d = dims(s)?;
    let (f, name, cfg) = plan(dev, "bwd_input", "", s, s.n * s.h * s.w, s.c)?;
    // SAFETY: (float* gx, const bf16* gy, const bf16* wt, ConvDims d); lengths checked above; dynamic shared
    // memory as the forward's.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(gy)
            .arg(wt)
            .arg(&d)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// wt [c, ky, kx, o] = w [o, ky, kx, c] on bf16 bits (CPU reference: `cpu::conv::conv_weight_t`). An sm_90a
/// kernel like the rest of the file.
pub fn conv_weight_t_bf16(
    dev: &CudaDevice,
    wt: &mut CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv wt", wt.len(), s.w_len())?;
    if !wgmma::available(dev) {
        return Err(Error::usage(
            "conv_weight_t_bf16 is compiled for sm_90a (Hopper) only",
        ));
    }
    let as_i32 = |v: usize| {
        i32::try_from(v).map_err(|_| Error::usage(format!("convolution {s:?}: size exceeds i32")))
    };
    let (o, taps, c) = (as_i32(s.o)?, as_i32(s.kh * s.kw)?, as_i32(s.c)?);
    let f = dev.function(FILE, "conv_weight_t_bf16")?;
    let cfg = LaunchConfig {
        grid_dim: (s.w_len().div_ceil(256).clamp(1, 4096) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (bf16* wt, const bf16* w, int o, int taps, int c); both hold o * taps * c elements (checked).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(wt)
            .arg(w)
            .arg(&o)
            .arg(&taps)
            .arg(&c)
            .launch(cfg)
    }
    .map_err(launch_err("conv_weight_t_bf16"))?;
    Ok(())
}

/// gw[o, kh, kw, c] = ∂L/∂w from bf16 gy and x on wgmma (both operands MN-major), split over the output pixels
/// so the grid fills the GPU; partial sums are added with atomics into the zeroed gw.
pub fn conv_bwd_weight_v7(
    dev: &CudaDevice,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<u16>,
    x: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    let planned = plan(dev, "bwd_weight", "", s, s.kdim(), s.o)?;
    launch_bwd_weight(dev, planned, gw, gy, x, s)
}
