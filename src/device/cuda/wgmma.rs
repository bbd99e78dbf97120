//! Launcher for kernels/wgmma.cu: the Hopper warpgroup-MMA probe, a bf16 GEMM C[M][N] = A[M][K] · B[N][K]ᵀ
//! (both operands K-major, fp32 accumulation and output) on `wgmma.mma_async` with operands read from shared
//! memory through matrix descriptors. sm_90a code runs on compute capability 9.0 only.
use super::{check_len, launch_err, CudaDevice};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "wgmma";
/// Mirrors WG_BM, WG_BK and WG_STAGES in kernels/wgmma.cu.
const BM: usize = 64;
const BK: usize = 64;
const STAGES: usize = 3;

/// Whether `dev` runs the sm_90a kernels (Hopper, compute capability 9.0).
pub fn available(dev: &CudaDevice) -> bool {
    dev.cc == (9, 0)
}

/// C = A · Bᵀ with A [m][k] and B [n][k] bf16 bits, C [m][n] fp32; k a multiple of 8 (16-byte rows).
pub fn gemm_wgmma_bf16(
    dev: &CudaDevice,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<u16>,
    b: &CudaSlice<u16>,
    m: usize,
    n: usize,
    k: usize,
) -> Result<()> {
    gemm(dev, Layout::KMajor, c, a, b, (m, n, k))
}

/// As [`gemm_wgmma_bf16`], with the shared tiles in the 128-byte swizzle layout (the `_sw128` kernels): the
/// same products in the same order, to time the layouts against each other.
pub fn gemm_wgmma_bf16_sw128(
    dev: &CudaDevice,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<u16>,
    b: &CudaSlice<u16>,
    m: usize,
    n: usize,
    k: usize,
) -> Result<()> {
    gemm(dev, Layout::KMajorSw128, c, a, b, (m, n, k))
}

/// C = Aᵀ · B with the operands stored MN-major, A [k][m] and B [k][n] (the transposed MMA of conv v7's
/// grad-weight, isolated); m and n multiples of 8.
pub fn gemm_wgmma_bf16_mn(
    dev: &CudaDevice,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<u16>,
    b: &CudaSlice<u16>,
    m: usize,
    n: usize,
    k: usize,
) -> Result<()> {
    gemm(dev, Layout::MnMajor, c, a, b, (m, n, k))
}

/// How the probe's operands are stored and laid out in shared memory.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    KMajor,
    KMajorSw128,
    MnMajor,
}

fn gemm(
    dev: &CudaDevice,
    layout: Layout,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<u16>,
    b: &CudaSlice<u16>,
    (m, n, k): (usize, usize, usize),
) -> Result<()> {
    if !available(dev) {
        return Err(Error::usage(format!(
            "the wgmma kernels need a Hopper GPU (sm_90); this one is sm_{}{}",
            dev.cc.0, dev.cc.1
        )));
    }
    let mn_major = layout == Layout::MnMajor;
    let chunked = if mn_major {
        m % 8 == 0 && n % 8 == 0
    } else {
        k % 8 == 0
    };
    if m == 0 || n == 0 || k == 0 || !chunked {
        return Err(Error::usage(format!(
            "wgmma GEMM {m}x{n}x{k}: sizes must be positive and the contiguous dimension ({}) a multiple \
             of 8",
            if mn_major { "M and N" } else { "K" }
        )));
    }
    check_len("wgmma A", a.len(), m * k)?;
    check_len("wgmma B", b.len(), n * k)?;
    check_len("wgmma C", c.len(), m * n)?;
    let (bn, tag) = if n > 64 { (128, "n128") } else { (64, "n64") };
    let grid = (n.div_ceil(bn), m.div_ceil(BM));
    let as_i32 = |v: usize, what: &str| {
        i32::try_from(v).map_err(|_| Error::usage(format!("wgmma GEMM: {what} = {v} exceeds i32")))
    };
    let (mi, ni, ki) = (as_i32(m, "M")?, as_i32(n, "N")?, as_i32(k, "K")?);
    if grid.1 > 65535 || m.checked_mul(k).is_none_or(|v| v > i32::MAX as usize) {
        return Err(Error::usage(format!(
            "wgmma GEMM {m}x{n}x{k} exceeds one launch; split M"
        )));
    }
    let (prefix, align) = match layout {
        Layout::KMajor => ("", 0),
        Layout::MnMajor => ("mn_", 0),
        // The stages start on 1024-byte boundaries (the swizzle pattern's repeat): room to round up to one.
        Layout::KMajorSw128 => ("sw128_", 1024),
    };
    let name = format!("gemm_wgmma_bf16_{prefix}{tag}");
    let smem = STAGES * (BM + bn) * BK * 2 + align;
    if smem > dev.smem_optin {
        return Err(Error::usage(format!(
            "{name} needs {smem} bytes of shared memory per block, this GPU allows {}",
            dev.smem_optin
        )));
    }
    let f = dev.function(FILE, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (grid.0 as u32, grid.1 as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    // SAFETY: (float* C, const bf16* A, const bf16* B, int M, int N, int K); lengths checked above; the
    // dynamic shared memory is what the ring needs (the kernel traps otherwise).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(c)
            .arg(a)
            .arg(b)
            .arg(&mi)
            .arg(&ni)
            .arg(&ki)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}
