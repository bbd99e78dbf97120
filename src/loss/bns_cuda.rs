//! CUDA launchers for kernels/contrastive.cu: the BNS loss (both forms) in numbered versions, with
//! workspaces allocated once per shape. The CPU reference is [`super::bns`]; conventions (empty positive
//! or negative sets, zero vectors, τ range) are the same.
//!
//! - `v1`: the N×N similarity materialised in global memory, naive kernels (the in-harness baseline).
//! - `v2`: fused fp32: tiles of the similarity recomputed from the normalised embeddings, masks applied on
//!   the fly, per-row reductions in registers, the backward recomputes the tiles (d ≤ 128).
//! - `v3`: bf16 tensor cores (`mma.sync.m16n8k16`, fp32 accumulation), fused like v2, both forms: the
//!   normalised embeddings are rounded to bf16 (row stride 128, zero-padded), similarity tiles and the
//!   gradient products run on the tensor cores, the coefficient tiles are rounded to bf16 for the second
//!   product; sm_80+, d ≤ 128.
//! - `v4`: v3 with the columns split over blocks (partial sums and gradient rows added with atomics).
//! - `v5`: v4 on Hopper wgmma (kernels/contrastive_wgmma.cu), sm_90.
//! - `v6`: v5 software-pipelined: the next column tile's similarity MMA runs while the threads work on
//!   this tile's exponentials; interior tiles skip the bounds tests (compiled and run in cusim, not yet
//!   on a GPU).
use super::bns::{check_tau, BnsOutput, PaperLayout};
use crate::device::cuda::conv_tc::ConvPrecision;
use crate::device::cuda::gemm::gemm_f32;
use crate::device::cuda::{check_len, launch_err, waves, wgmma, CudaDevice};
use crate::device::ops::{GemmSpec, GemmVersion};
use crate::error::{Error, Result};
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "contrastive";
/// The v5 and v6 (Hopper wgmma) kernels.
const FILE5: &str = "contrastive_wgmma";
/// Largest embedding dimension of the fused versions (shared-memory tiles and register accumulators).
pub const FUSED_DMAX: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnsVersion {
    V1,
    V2,
    V3,
    V4,
    V5,
    V6,
    V7,
    /// v1's materialised similarity with both of its products on cuBLAS SGEMM (exact fp32: the default
    /// math mode, no TF32): the exact loss of fp32 and tf32 steps where v2's 32-row blocks leave a GPU half
    /// idle (N = 2048: 64 blocks, 1.0 ms of a 58 ms ResNet-18 tf32 step on an H200, 2026-11-28).
    V8,
}

impl BnsVersion {
    /// The version a training step runs when its convolutions run in `p`: a bf16 step takes the bf16
    /// tensor-core loss (on a Hopper v7 for the code form, v6 for the paper form, which has no symmetric
    /// similarity for v7's triangle; v4 on other sm_80+ GPUs), fp32 and tf32 steps the exact fp32 v2. At
    /// N = 8192 on an H200 (2026-11-28, all validated there, rel err 2.5e-3 / 2.8e-3): code form v7 0.223 ms,
    /// v6 0.236, v5 0.395, v4 0.591, v2 5.04; paper form v6 0.183, v5 0.246, v4 0.288, v2 2.58.
    /// `IPDPP_BNS=vN` picks the version instead: any for bf16 steps, an exact one (v1, v2, v8) for fp32 and
    /// tf32 steps (v7 only for the code form; a version this GPU cannot run fails the step with its own
    /// message).
    pub fn for_training(dev: &CudaDevice, p: ConvPrecision, code_form: bool) -> BnsVersion {
        if let Some(v) = forced_for_training()
            .filter(|&v| code_form || v != BnsVersion::V7)
            .filter(|&v| p == ConvPrecision::Bf16 || !v.bf16())
        {
            return v;
        }
        match p {
            ConvPrecision::Bf16 if wgmma::available(dev) && code_form => BnsVersion::V7,
            ConvPrecision::Bf16 if wgmma::available(dev) => BnsVersion::V6,
            ConvPrecision::Bf16 if dev.cc.0 >= 8 => BnsVersion::V4,
            _ => BnsVersion::V2,
        }
    }

    /// Whether the version runs on the bf16 copies (tensor cores).
    pub fn bf16(&self) -> bool {
        !matches!(self, BnsVersion::V1 | BnsVersion::V2 | BnsVersion::V8)
    }

    pub fn describe(&self) -> &'static str {
        match self {
            BnsVersion::V1 => "materialised N×N similarity, naive kernels",
            BnsVersion::V2 => "fused fp32 tiles, masks on the fly, no N×N storage",
            BnsVersion::V3 => "fused bf16 tensor cores (mma.sync), fp32 accumulation",
            BnsVersion::V4 => "v3 with columns split over blocks (atomics), ldmatrix.trans",
            BnsVersion::V5 => "v4 on Hopper wgmma (sm_90), no tile transposes",
            BnsVersion::V6 => "v5 with the next tile's MMA overlapping this tile's exponentials",
            BnsVersion::V7 => "v6 with the code form's forward over one triangle (half the tiles)",
            BnsVersion::V8 => "v1 with its two products on cuBLAS SGEMM (exact fp32)",
        }
    }
}

/// `IPDPP_BNS`, read once (a value that names no version warns and is ignored).
fn forced_for_training() -> Option<BnsVersion> {
    static V: std::sync::OnceLock<Option<BnsVersion>> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        let s = std::env::var("IPDPP_BNS").ok()?;
        match s.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("warning: IPDPP_BNS: {e}; bf16 steps keep their default loss version");
                None
            }
        }
    })
}

impl std::str::FromStr for BnsVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" => Ok(BnsVersion::V1),
            "v2" => Ok(BnsVersion::V2),
            "v3" => Ok(BnsVersion::V3),
            "v4" => Ok(BnsVersion::V4),
            "v5" => Ok(BnsVersion::V5),
            "v6" => Ok(BnsVersion::V6),
            "v7" => Ok(BnsVersion::V7),
            "v8" => Ok(BnsVersion::V8),
            _ => Err(Error::usage(format!(
                "unknown BNS kernel version {s:?}; use v1, v2, v3, v4, v5, v6, v7 or v8"
            ))),
        }
    }
}

impl std::fmt::Display for BnsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BnsVersion::V1 => "v1",
            BnsVersion::V2 => "v2",
            BnsVersion::V3 => "v3",
            BnsVersion::V4 => "v4",
            BnsVersion::V5 => "v5",
            BnsVersion::V6 => "v6",
            BnsVersion::V7 => "v7",
            BnsVersion::V8 => "v8",
        })
    }
}

fn cfg(grid: (u32, u32), block: (u32, u32)) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid.0.max(1), grid.1.max(1), 1),
        block_dim: (block.0, block.1, 1),
        shared_mem_bytes: 0,
    }
}

fn blocks(n: usize, per: usize) -> u32 {
    n.div_ceil(per) as u32
}

fn int(what: &str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::usage(format!("BNS on CUDA: {what} = {v} is too large")))
}

/// The code form's bf16 backward: `bns_code_bwd_v3_bf16` (cols None: each block sweeps every column) or
/// `bns_code_bwd_v4_bf16` (Some(cols): blocks split the columns and add into the zeroed gz).
#[allow(clippy::too_many_arguments)]
fn code_bwd_bf16(
    dev: &CudaDevice,
    c: LaunchConfig,
    (gz, alpha, beta): (&mut CudaSlice<f32>, &CudaSlice<f32>, &CudaSlice<f32>),
    zb: &CudaSlice<u16>,
    labels: &CudaSlice<i32>,
    (n, d): (i32, i32),
    inv_tau: f32,
    cols: Option<i32>,
) -> Result<()> {
    let name = if cols.is_some() {
        "bns_code_bwd_v4_bf16"
    } else {
        "bns_code_bwd_v3_bf16"
    };
    let f = dev.function(FILE, name)?;
    let mut b = dev.stream.launch_builder(&f);
    b.arg(gz)
        .arg(alpha)
        .arg(beta)
        .arg(zb)
        .arg(labels)
        .arg(&n)
        .arg(&d)
        .arg(&inv_tau);
    if let Some(cols) = cols.as_ref() {
        b.arg(cols);
    }
    // SAFETY: bns_code_bwd_v{3,4}_bf16(float* gz, const float* alpha, const float* beta, const u16* zb,
    // const int* lab, int n, int d, float inv_tau[, int cols]); gz holds n·d floats (zeroed for v4, which
    // adds with atomics), zb n·128 bf16, the vectors n; the grid is the matching forward's.
    unsafe { b.launch(c) }.map_err(launch_err(name))?;
    Ok(())
}

/// A column-split launch (v4, v5) of kernel `f` over `nx` own rows (`rows` per block, `threads` threads,
/// `smem` bytes of dynamic shared memory) and `ny` columns split over grid.y, each split a whole number of
/// 64-column tiles, as many as fill whole waves of the blocks this GPU holds at once
/// ([`waves::split_plan`], a block's own-row copies and final atomics counted as two tiles). The rule
/// before (about 4 blocks per SM) ignored the waves: at N = 8192 on an H200 it made 576 blocks of 15
/// tiles, 2.2 waves of the v5 forward (2 blocks per SM) and 4.4 of its backward (1 per SM), whose last
/// wave ran on a fraction of the GPU. Returns the launch and the columns per split.
fn split_columns(
    dev: &CudaDevice,
    f: &CudaFunction,
    (nx, ny): (usize, usize),
    (rows, threads, smem): (usize, u32, usize),
) -> Result<(LaunchConfig, i32)> {
    let row_blocks = blocks(nx, rows) as usize;
    let tiles = ny.div_ceil(64).max(1);
    let (splits, per) = if waves::by_waves() {
        let resident = waves::resident_blocks(dev, f, threads, smem);
        waves::split_plan(row_blocks, tiles, resident, 2)
    } else {
        let want = (4 * dev.sms.max(1) as usize).div_ceil(row_blocks.max(1));
        let per = tiles.div_ceil(want.clamp(1, tiles));
        (tiles.div_ceil(per), per)
    };
    let mut c = cfg((row_blocks as u32, splits as u32), (threads, 1));
    c.shared_mem_bytes = smem as u32;
    Ok((c, int("columns per split", per * 64)?))
}

/// BNS v7's forward grid: 128 own rows a block, and the column tiles from the own block's first row on cut
/// into items of `per` tiles ([`waves::uneven_split_plan`], a block's own-row copies and final atomics
/// counted as two tiles, as [`split_columns`]). Returns the launch (one item a block) and `per`.
fn triangle_items(
    dev: &CudaDevice,
    f: &CudaFunction,
    n: usize,
    smem: usize,
) -> Result<(LaunchConfig, i32)> {
    let tiles: Vec<usize> = (0..n).step_by(128).map(|r| (n - r).div_ceil(64)).collect();
    let resident = waves::resident_blocks(dev, f, 256, smem);
    let (items, per) = waves::uneven_split_plan(&tiles, resident, 2);
    let mut c = cfg((int("BNS v7 items", items)? as u32, 1), (256, 1));
    c.shared_mem_bytes = smem as u32;
    Ok((c, int("tiles per item", per)?))
}

/// BNS v5's wgmma tile path without the loss (`bns_v5_chain_probe`, for a test): G [min(n, 128)][128] =
/// bf16(S) · T with S = Z_own · Tᵀ, Z_own the first 128 rows of `zb` (n rows of stride 128, bf16) and T its
/// 64 rows from `c0` (rows past n read as zero).
pub fn bns_v5_chain_probe(
    dev: &CudaDevice,
    g: &mut CudaSlice<f32>,
    zb: &CudaSlice<u16>,
    n: usize,
    c0: usize,
) -> Result<()> {
    check_version(BnsVersion::V5, FUSED_DMAX, dev)?;
    check_len("probe zb", zb.len(), n * FUSED_DMAX)?;
    check_len("probe G", g.len(), n.min(128) * FUSED_DMAX)?;
    let (ni, ci) = (int("n", n)?, int("c0", c0)?);
    let f = dev.function(FILE5, "bns_v5_chain_probe")?;
    dev.raise_smem_limit(&f, "bns_v5_chain_probe", V5_SMEM)?;
    let mut c = cfg((1, 1), (256, 1));
    c.shared_mem_bytes = V5_SMEM as u32;
    // SAFETY: bns_v5_chain_probe(float* G, const u16* zb, int n, int c0); G holds min(n, 128)·128 floats
    // (rows below n written), zb n·128 bf16 (checked); one block with the dynamic shared memory it checks.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(g)
            .arg(zb)
            .arg(&ni)
            .arg(&ci)
            .launch(c)
    }
    .map_err(launch_err("bns_v5_chain_probe"))?;
    Ok(())
}

/// The code form's row coefficients and losses from the summed partials (v4, v5): `bns_code_fin_v4_f32`.
fn code_fin(
    dev: &CudaDevice,
    (alpha, beta, row_loss): (
        &mut CudaSlice<f32>,
        &mut CudaSlice<f32>,
        &mut CudaSlice<f32>,
    ),
    part: &CudaSlice<f32>,
    ni: i32,
) -> Result<()> {
    let f = dev.function(FILE, "bns_code_fin_v4_f32")?;
    // SAFETY: bns_code_fin_v4_f32(float* alpha, float* beta, float* row_loss, const float* part, int n);
    // n-long outputs, part 3n; threads beyond n return.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(alpha)
            .arg(beta)
            .arg(row_loss)
            .arg(part)
            .arg(&ni)
            .launch(cfg((blocks(ni as usize, 256), 1), (256, 1)))
    }
    .map_err(launch_err("bns_code_fin_v4_f32"))?;
    Ok(())
}

/// Dynamic shared memory of the v5 kernels: the 128 own rows and a ring of three 64-row column tiles of 128
/// bf16 dims (mirrors B5_SMEM in kernels/contrastive_wgmma.cu).
const V5_SMEM: usize = (128 + 3 * 64) * FUSED_DMAX * 2;
/// v6: a ring of four column tiles (mirrors B6_SMEM).
const V6_SMEM: usize = (128 + 4 * 64) * FUSED_DMAX * 2;

/// The v5 / v6 / v7 dynamic shared memory, checked against what this GPU allows a block.
fn wgmma_smem(dev: &CudaDevice, v: BnsVersion) -> Result<usize> {
    let smem = if v == BnsVersion::V5 {
        V5_SMEM
    } else {
        V6_SMEM
    };
    if smem > dev.smem_optin {
        return Err(Error::usage(format!(
            "BNS {v} needs {smem} bytes of shared memory per block, this GPU allows {}; use v4",
            dev.smem_optin
        )));
    }
    Ok(smem)
}

/// The code form on wgmma (kernels/contrastive_wgmma.cu, `v` = v5, v6 or v7): partial sums per column split
/// (v7: per item of [`triangle_items`]), the row finish of v4, then the backward into the zeroed gz (v7:
/// v6's). 128 own rows per 256-thread block, columns split over grid.y. v5 zeroes `part` and `gz` here; v6
/// and v7 find them zeroed by [`normalize_zero`].
#[allow(clippy::too_many_arguments)]
fn code_wgmma(
    dev: &CudaDevice,
    v: BnsVersion,
    (alpha, beta, row_loss): (
        &mut CudaSlice<f32>,
        &mut CudaSlice<f32>,
        &mut CudaSlice<f32>,
    ),
    part: &mut CudaSlice<f32>,
    gz: &mut CudaSlice<f32>,
    zb: &CudaSlice<u16>,
    labels: &CudaSlice<i32>,
    (ni, di): (i32, i32),
    inv_tau: f32,
) -> Result<()> {
    let n = ni as usize;
    let smem = wgmma_smem(dev, v)?;
    if v == BnsVersion::V5 {
        dev.stream
            .memset_zeros(part)
            .map_err(|e| Error::driver("zeroing the BNS partial sums", e))?;
    }
    let name = format!("bns_code_fwd_{v}_bf16");
    let f = dev.function(FILE5, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let (c, colsi) = if v == BnsVersion::V7 {
        triangle_items(dev, &f, n, smem)?
    } else {
        split_columns(dev, &f, (n, n), (128, 256, smem))?
    };
    // SAFETY: bns_code_fwd_{v5,v6,v7}_bf16(float* part, const u16* zb, const int* lab, int n, float inv_tau,
    // int cols); part holds 3n floats (zeroed), zb n·128 bf16, lab n; v5/v6 blocks cover rows by 128 and
    // columns [y·cols, (y+1)·cols) clipped to n, v7's items (cols: tiles an item) the triangle's tiles; the
    // dynamic shared memory is what the kernel checks for.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *part)
            .arg(zb)
            .arg(labels)
            .arg(&ni)
            .arg(&inv_tau)
            .arg(&colsi)
            .launch(c)
    }
    .map_err(launch_err(&name))?;
    code_fin(dev, (alpha, beta, row_loss), part, ni)?;
    if v == BnsVersion::V5 {
        dev.stream
            .memset_zeros(gz)
            .map_err(|e| Error::driver("zeroing the BNS gradient", e))?;
    }
    let bwd = if v == BnsVersion::V7 {
        BnsVersion::V6
    } else {
        v
    };
    let name = format!("bns_code_bwd_{bwd}_bf16");
    let f = dev.function(FILE5, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    // The backward holds fewer blocks per SM than the forward (registers): its own split.
    let (c, colsi) = split_columns(dev, &f, (n, n), (128, 256, smem))?;
    // SAFETY: bns_code_bwd_{v5,v6}_bf16(float* gz, const float* alpha, const float* beta, const u16* zb,
    // const int* lab, int n, int d, float inv_tau, int cols); gz holds n·d floats (zeroed), zb n·128 bf16,
    // the vectors n; the grid and shared memory are the forward's.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gz)
            .arg(&*alpha)
            .arg(&*beta)
            .arg(zb)
            .arg(labels)
            .arg(&ni)
            .arg(&di)
            .arg(&inv_tau)
            .arg(&colsi)
            .launch(c)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// v7 changes the code form only: the paper form's passes pair q rows with v columns, not a symmetric
/// similarity, so there is no triangle to skip.
fn check_paper_version(v: BnsVersion) -> Result<()> {
    if v == BnsVersion::V7 {
        return Err(Error::usage(
            "BNS v7 changes the code form's forward only (one triangle of the symmetric similarity); \
             the paper form has no such symmetry: use v6 (or v5) for --loss paper",
        ));
    }
    Ok(())
}

fn check_version(v: BnsVersion, d: usize, dev: &CudaDevice) -> Result<()> {
    if !matches!(v, BnsVersion::V1 | BnsVersion::V8) && d > FUSED_DMAX {
        return Err(Error::usage(format!(
            "BNS {v} supports embedding dimensions up to {FUSED_DMAX} (got {d}); use v1"
        )));
    }
    if matches!(v, BnsVersion::V3 | BnsVersion::V4) && dev.cc.0 < 8 {
        return Err(Error::usage(format!(
            "BNS {v} needs bf16 mma.sync (sm_80 or newer); this GPU is sm_{}{}; use v2",
            dev.cc.0, dev.cc.1
        )));
    }
    if matches!(v, BnsVersion::V5 | BnsVersion::V6 | BnsVersion::V7) && !wgmma::available(dev) {
        return Err(Error::usage(format!(
            "BNS {v} runs on Hopper wgmma (sm_90); this GPU is sm_{}{}; use v4",
            dev.cc.0, dev.cc.1
        )));
    }
    Ok(())
}

/// [`normalize`] with the bf16 copy, zeroing the n·3 partial sums `part` and the n·d gradient `g` in the same
/// launch (`bns_normalize_zero_f32`, BNS v6).
#[allow(clippy::too_many_arguments)]
fn normalize_zero(
    dev: &CudaDevice,
    zn: &mut CudaSlice<f32>,
    zb: &mut CudaSlice<u16>,
    part: &mut CudaSlice<f32>,
    g: &mut CudaSlice<f32>,
    z: &CudaSlice<f32>,
    n: usize,
    d: usize,
) -> Result<()> {
    check_len("bns_normalize_zero_f32 z", z.len(), n * d)?;
    check_len("bns_normalize_zero_f32 zn", zn.len(), n * d)?;
    check_len("bns_normalize_zero_f32 zb", zb.len(), n * FUSED_DMAX)?;
    check_len("bns_normalize_zero_f32 part", part.len(), 3 * n)?;
    check_len("bns_normalize_zero_f32 g", g.len(), n * d)?;
    let f = dev.function(FILE, "bns_normalize_zero_f32")?;
    let (ni, di, ldb) = (int("n", n)?, int("dim", d)?, FUSED_DMAX as i32);
    let c = cfg((blocks(n, 8), 1), (256, 1));
    // SAFETY: bns_normalize_zero_f32(float* zn, u16* zb, float* part, float* g, const float* z, int n, int d,
    // int ldb); zn, g and z hold n·d floats, zb n·128 u16, part 3n floats (lengths checked); one warp per
    // row, rows beyond n return.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(zn)
            .arg(zb)
            .arg(part)
            .arg(g)
            .arg(z)
            .arg(&ni)
            .arg(&di)
            .arg(&ldb)
            .launch(c)
    }
    .map_err(launch_err("bns_normalize_zero_f32"))?;
    Ok(())
}

/// ẑ = z / max(‖z‖, eps) per row, plus a bf16 copy with row stride 128 when `zb` is given.
fn normalize(
    dev: &CudaDevice,
    zn: &mut CudaSlice<f32>,
    zb: Option<&mut CudaSlice<u16>>,
    z: &CudaSlice<f32>,
    n: usize,
    d: usize,
) -> Result<()> {
    check_len("bns_normalize_f32 z", z.len(), n * d)?;
    check_len("bns_normalize_f32 zn", zn.len(), n * d)?;
    let f = dev.function(FILE, "bns_normalize_f32")?;
    let (ni, di, ldb) = (int("n", n)?, int("dim", d)?, FUSED_DMAX as i32);
    let c = cfg((blocks(n, 8), 1), (256, 1));
    let null = 0u64;
    let mut b = dev.stream.launch_builder(&f);
    b.arg(zn);
    match zb {
        Some(zb) => {
            check_len("bns_normalize_f32 zb", zb.len(), n * FUSED_DMAX)?;
            b.arg(zb)
        }
        None => b.arg(&null),
    };
    b.arg(z).arg(&ni).arg(&di).arg(&ldb);
    // SAFETY: bns_normalize_f32(float* zn, u16* zb|null, const float* z, int n, int d, int ldb); zn and z
    // hold n·d floats, zb (when given) n·128 u16; one warp per row, rows beyond n return.
    unsafe { b.launch(c) }.map_err(launch_err("bns_normalize_f32"))?;
    Ok(())
}

/// gx = backward of the row normalisation of z, given g = dL/dẑ.
fn norm_bwd(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    g: &CudaSlice<f32>,
    z: &CudaSlice<f32>,
    n: usize,
    d: usize,
) -> Result<()> {
    check_len("bns_norm_bwd_f32 gx", gx.len(), n * d)?;
    check_len("bns_norm_bwd_f32 g", g.len(), n * d)?;
    let f = dev.function(FILE, "bns_norm_bwd_f32")?;
    let (ni, di) = (int("n", n)?, int("dim", d)?);
    // SAFETY: bns_norm_bwd_f32(float* gx, const float* g, const float* z, int n, int d); all hold n·d floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gx)
            .arg(g)
            .arg(z)
            .arg(&ni)
            .arg(&di)
            .launch(cfg((blocks(n, 8), 1), (256, 1)))
    }
    .map_err(launch_err("bns_norm_bwd_f32"))?;
    Ok(())
}

fn loss_sum(
    dev: &CudaDevice,
    loss: &mut CudaSlice<f32>,
    v: &CudaSlice<f32>,
    n: usize,
    scale: f32,
) -> Result<()> {
    let f = dev.function(FILE, "bns_loss_sum_f32")?;
    let ni = int("n", n)?;
    // SAFETY: bns_loss_sum_f32(float* loss, const float* v, int n, float scale); loss holds 1, v n floats.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(loss)
            .arg(v)
            .arg(&ni)
            .arg(&scale)
            .launch(cfg((1, 1), (1024, 1)))
    }
    .map_err(launch_err("bns_loss_sum_f32"))?;
    Ok(())
}

/// v8's similarity product as a row-major GEMM: S [rows, m] = scale · x [rows, d] · (y [m, d])ᵀ.
fn sim_spec(rows: usize, m: usize, d: usize, scale: f32) -> GemmSpec {
    GemmSpec {
        tb: true,
        alpha: scale,
        ..GemmSpec::new(rows, m, d)
    }
}

/// v8's gradient product: G [rows, d] = scale · M y, M [rows, m] (or stored [m, rows] when `tm`), y [m, d].
fn matmul_spec(rows: usize, m: usize, d: usize, tm: bool, scale: f32) -> GemmSpec {
    GemmSpec {
        ta: tm,
        alpha: scale,
        ..GemmSpec::new(rows, d, m)
    }
}

/// A cuBLAS that is not there is the user's to fix or avoid: say which version runs without it.
fn v8_needs_cublas(e: Error) -> Error {
    match e {
        Error::NoCuda(m) => {
            Error::usage(format!("BNS v8 runs its products on cuBLAS: {m}; use v2"))
        }
        e => e,
    }
}

/// S = scale · x yᵀ, S [rows, m]: v1's kernel, or cuBLAS SGEMM for v8.
#[allow(clippy::too_many_arguments)]
fn sim(
    dev: &CudaDevice,
    v: BnsVersion,
    s: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    y: &CudaSlice<f32>,
    rows: usize,
    m: usize,
    d: usize,
    scale: f32,
) -> Result<()> {
    if v == BnsVersion::V8 {
        let spec = sim_spec(rows, m, d, scale);
        return gemm_f32(dev, GemmVersion::Cublas, s, x, y, &spec).map_err(v8_needs_cublas);
    }
    check_len("bns_sim_v1_f32 S", s.len(), rows * m)?;
    let f = dev.function(FILE, "bns_sim_v1_f32")?;
    let (ri, mi, di) = (int("rows", rows)?, int("n", m)?, int("dim", d)?);
    // SAFETY: bns_sim_v1_f32(float* S, const float* x, const float* y, int rows, int m, int d, float scale);
    // S holds rows·m floats, x rows·d, y m·d; threads outside the matrix return.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(s)
            .arg(x)
            .arg(y)
            .arg(&ri)
            .arg(&mi)
            .arg(&di)
            .arg(&scale)
            .launch(cfg((blocks(m, 16), blocks(rows, 16)), (16, 16)))
    }
    .map_err(launch_err("bns_sim_v1_f32"))?;
    Ok(())
}

/// G [rows, d] = scale · M y, M [rows, m] (or Mᵀ stored [m, rows] when `tm`), y [m, d]: v1's kernel, or
/// cuBLAS SGEMM for v8.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dev: &CudaDevice,
    v: BnsVersion,
    g: &mut CudaSlice<f32>,
    mm: &CudaSlice<f32>,
    y: &CudaSlice<f32>,
    (rows, m, d): (usize, usize, usize),
    tm: bool,
    scale: f32,
) -> Result<()> {
    if v == BnsVersion::V8 {
        let spec = matmul_spec(rows, m, d, tm, scale);
        return gemm_f32(dev, GemmVersion::Cublas, g, mm, y, &spec).map_err(v8_needs_cublas);
    }
    check_len("bns_matmul_v1_f32 G", g.len(), rows * d)?;
    check_len("bns_matmul_v1_f32 M", mm.len(), rows * m)?;
    let f = dev.function(FILE, "bns_matmul_v1_f32")?;
    let (ri, mi, di, ti) = (int("rows", rows)?, int("n", m)?, int("dim", d)?, tm as i32);
    // SAFETY: bns_matmul_v1_f32(float* G, const float* M, const float* y, int rows, int m, int d, int tm,
    // float scale); G holds rows·d floats, M rows·m, y m·d; threads outside G return.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(g)
            .arg(mm)
            .arg(y)
            .arg(&ri)
            .arg(&mi)
            .arg(&di)
            .arg(&ti)
            .arg(&scale)
            .launch(cfg((blocks(d, 32), blocks(rows, 8)), (32, 8)))
    }
    .map_err(launch_err("bns_matmul_v1_f32"))?;
    Ok(())
}

/// Official-code form on the GPU: workspaces for `n` stacked embeddings of dimension `d`.
pub struct BnsCodeCuda {
    pub n: usize,
    pub d: usize,
    zn: CudaSlice<f32>,
    zb: Option<CudaSlice<u16>>,
    alpha: CudaSlice<f32>,
    beta: CudaSlice<f32>,
    row_loss: CudaSlice<f32>,
    g: CudaSlice<f32>,
    s: Option<CudaSlice<f32>>,
    /// v4: per-row partial sums (positives, positive count, negatives), 3n floats.
    part: Option<CudaSlice<f32>>,
    /// The loss after [`BnsCodeCuda::run`] (one float on the device).
    pub loss: CudaSlice<f32>,
}

impl BnsCodeCuda {
    /// Allocates for `versions` (v1 needs the n×n matrix, v3 the bf16 copy).
    pub fn new(dev: &CudaDevice, n: usize, d: usize, versions: &[BnsVersion]) -> Result<Self> {
        if n < 2 || d == 0 {
            return Err(Error::usage(
                "BNS on CUDA: need at least 2 embeddings of dimension ≥ 1",
            ));
        }
        for &v in versions {
            check_version(v, d, dev)?;
        }
        let has = |v| versions.contains(&v);
        Ok(BnsCodeCuda {
            n,
            d,
            zn: dev.zeros(n * d)?,
            zb: if versions.iter().any(|v| v.bf16()) {
                Some(dev.zeros(n * FUSED_DMAX)?)
            } else {
                None
            },
            alpha: dev.zeros(n)?,
            beta: dev.zeros(n)?,
            row_loss: dev.zeros(n)?,
            g: dev.zeros(n * d)?,
            s: if has(BnsVersion::V1) || has(BnsVersion::V8) {
                Some(dev.zeros(n * n)?)
            } else {
                None
            },
            part: if [
                BnsVersion::V4,
                BnsVersion::V5,
                BnsVersion::V6,
                BnsVersion::V7,
            ]
            .into_iter()
            .any(has)
            {
                Some(dev.zeros(3 * n)?)
            } else {
                None
            },
            loss: dev.zeros(1)?,
        })
    }

    /// Fills what the kernels write (row coefficients, row losses, the gradient before the normalisation
    /// backward, the loss) with NaN, so that a test sees any element a version leaves unwritten.
    pub fn poison(&mut self, dev: &CudaDevice) -> Result<()> {
        let (n, d) = (self.n, self.d);
        self.alpha = dev.upload(&vec![f32::NAN; n])?;
        self.beta = dev.upload(&vec![f32::NAN; n])?;
        self.row_loss = dev.upload(&vec![f32::NAN; n])?;
        self.g = dev.upload(&vec![f32::NAN; n * d])?;
        self.loss = dev.upload(&[f32::NAN])?;
        Ok(())
    }

    /// Loss (into `self.loss`) and gx = dL/dz for stacked embeddings `z` [n, d] with one label per row.
    pub fn run(
        &mut self,
        dev: &CudaDevice,
        v: BnsVersion,
        z: &CudaSlice<f32>,
        labels: &CudaSlice<i32>,
        tau: f32,
        gx: &mut CudaSlice<f32>,
    ) -> Result<()> {
        check_tau(tau as f64)?;
        check_version(v, self.d, dev)?;
        let (n, d) = (self.n, self.d);
        check_len("BNS labels", labels.len(), n)?;
        check_len("BNS gradient", gx.len(), n * d)?;
        let inv_tau = 1.0 / tau;
        let (ni, di) = (int("n", n)?, int("dim", d)?);
        let zb = if v.bf16() {
            Some(self.zb.as_mut().ok_or_else(|| {
                Error::usage(format!(
                    "BnsCodeCuda was allocated without {v} in its versions"
                ))
            })?)
        } else {
            None
        };
        if matches!(v, BnsVersion::V6 | BnsVersion::V7) {
            // The partial sums and the gradient that v6 and v7 add into are zeroed by the normalisation.
            let part = self.part.as_mut().ok_or_else(|| {
                Error::usage(format!(
                    "BnsCodeCuda was allocated without {v} in its versions"
                ))
            })?;
            let zb = zb.ok_or_else(|| Error::usage(format!("BNS {v} needs the bf16 copy")))?;
            normalize_zero(dev, &mut self.zn, zb, part, &mut self.g, z, n, d)?;
        } else {
            normalize(dev, &mut self.zn, zb, z, n, d)?;
        }
        match v {
            BnsVersion::V1 | BnsVersion::V8 => {
                let s = self.s.as_mut().ok_or_else(|| {
                    Error::usage("BnsCodeCuda was allocated without v1 in its versions")
                })?;
                sim(dev, v, s, &self.zn, &self.zn, n, n, d, inv_tau)?;
                let f = dev.function(FILE, "bns_code_rows_v1_f32")?;
                // SAFETY: bns_code_rows_v1_f32(float* alpha, float* beta, float* row_loss, const float* S,
                // const int* lab, int n); alpha/beta/row_loss/lab hold n, S n·n; one block per row.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.alpha)
                        .arg(&mut self.beta)
                        .arg(&mut self.row_loss)
                        .arg(&*s)
                        .arg(labels)
                        .arg(&ni)
                        .launch(cfg((n as u32, 1), (256, 1)))
                }
                .map_err(launch_err("bns_code_rows_v1_f32"))?;
                let f = dev.function(FILE, "bns_code_grad_v1_f32")?;
                // SAFETY: bns_code_grad_v1_f32(float* S, const float* alpha, const float* beta,
                // const int* lab, int n); S holds n·n floats, the others n; threads beyond n·n return.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut *s)
                        .arg(&self.alpha)
                        .arg(&self.beta)
                        .arg(labels)
                        .arg(&ni)
                        .launch(cfg((blocks(n * n, 256), 1), (256, 1)))
                }
                .map_err(launch_err("bns_code_grad_v1_f32"))?;
                matmul(dev, v, &mut self.g, s, &self.zn, (n, n, d), false, inv_tau)?;
            }
            BnsVersion::V2 => {
                let f = dev.function(FILE, "bns_code_fwd_v2_f32")?;
                let c = cfg((blocks(n, 32), 1), (256, 1));
                // SAFETY: bns_code_fwd_v2_f32(float* alpha, float* beta, float* row_loss, const float* zn,
                // const int* lab, int n, int d, float inv_tau); n-long vectors, zn n·d (d ≤ 128 checked).
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.alpha)
                        .arg(&mut self.beta)
                        .arg(&mut self.row_loss)
                        .arg(&self.zn)
                        .arg(labels)
                        .arg(&ni)
                        .arg(&di)
                        .arg(&inv_tau)
                        .launch(c)
                }
                .map_err(launch_err("bns_code_fwd_v2_f32"))?;
                let f = dev.function(FILE, "bns_code_bwd_v2_f32")?;
                // SAFETY: bns_code_bwd_v2_f32(float* gz, const float* alpha, const float* beta,
                // const float* zn, const int* lab, int n, int d, float inv_tau); gz and zn hold n·d floats.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.g)
                        .arg(&self.alpha)
                        .arg(&self.beta)
                        .arg(&self.zn)
                        .arg(labels)
                        .arg(&ni)
                        .arg(&di)
                        .arg(&inv_tau)
                        .launch(c)
                }
                .map_err(launch_err("bns_code_bwd_v2_f32"))?;
            }
            BnsVersion::V3 => {
                let zb = self.zb.as_ref().ok_or_else(|| {
                    Error::usage("BnsCodeCuda was allocated without v3 in its versions")
                })?;
                let c = cfg((blocks(n, 64), 1), (128, 1));
                let f = dev.function(FILE, "bns_code_fwd_v3_bf16")?;
                // SAFETY: bns_code_fwd_v3_bf16(float* alpha, float* beta, float* row_loss,
                // const u16* zb, const int* lab, int n, float inv_tau); zb holds n·128 bf16 (row stride
                // 128, zero-padded), the vectors n; rows beyond n are masked in the kernel.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.alpha)
                        .arg(&mut self.beta)
                        .arg(&mut self.row_loss)
                        .arg(zb)
                        .arg(labels)
                        .arg(&ni)
                        .arg(&inv_tau)
                        .launch(c)
                }
                .map_err(launch_err("bns_code_fwd_v3_bf16"))?;
                let (gz, al, be) = (&mut self.g, &self.alpha, &self.beta);
                code_bwd_bf16(dev, c, (gz, al, be), zb, labels, (ni, di), inv_tau, None)?;
            }
            BnsVersion::V4 => {
                let zb = self.zb.as_ref().ok_or_else(|| {
                    Error::usage("BnsCodeCuda was allocated without v4 in its versions")
                })?;
                let part = self.part.as_mut().ok_or_else(|| {
                    Error::usage("BnsCodeCuda was allocated without v4 in its versions")
                })?;
                dev.stream
                    .memset_zeros(part)
                    .map_err(|e| Error::driver("zeroing the BNS partial sums", e))?;
                let f = dev.function(FILE, "bns_code_fwd_v4_bf16")?;
                let (c, colsi) = split_columns(dev, &f, (n, n), (64, 128, 0))?;
                // SAFETY: bns_code_fwd_v4_bf16(float* part, const u16* zb, const int* lab, int n,
                // float inv_tau, int cols); part holds 3n floats (zeroed), zb n·128 bf16, lab n; blocks
                // cover rows by 64 and columns [y·cols, (y+1)·cols) clipped to n.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut *part)
                        .arg(zb)
                        .arg(labels)
                        .arg(&ni)
                        .arg(&inv_tau)
                        .arg(&colsi)
                        .launch(c)
                }
                .map_err(launch_err("bns_code_fwd_v4_bf16"))?;
                code_fin(
                    dev,
                    (&mut self.alpha, &mut self.beta, &mut self.row_loss),
                    part,
                    ni,
                )?;
                dev.stream
                    .memset_zeros(&mut self.g)
                    .map_err(|e| Error::driver("zeroing the BNS gradient", e))?;
                let (gz, al, be) = (&mut self.g, &self.alpha, &self.beta);
                code_bwd_bf16(
                    dev,
                    c,
                    (gz, al, be),
                    zb,
                    labels,
                    (ni, di),
                    inv_tau,
                    Some(colsi),
                )?;
            }
            BnsVersion::V5 | BnsVersion::V6 | BnsVersion::V7 => {
                let missing = || {
                    Error::usage(format!(
                        "BnsCodeCuda was allocated without {v} in its versions"
                    ))
                };
                let zb = self.zb.as_ref().ok_or_else(missing)?;
                let part = self.part.as_mut().ok_or_else(missing)?;
                code_wgmma(
                    dev,
                    v,
                    (&mut self.alpha, &mut self.beta, &mut self.row_loss),
                    part,
                    &mut self.g,
                    zb,
                    labels,
                    (ni, di),
                    inv_tau,
                )?;
            }
        }
        loss_sum(dev, &mut self.loss, &self.row_loss, n, 1.0 / n as f32)?;
        norm_bwd(dev, gx, &self.g, z, n, d)
    }
}

/// The paper form's v3 operands: bf16 rows of stride [`FUSED_DMAX`].
struct PaperBf16 {
    qb: CudaSlice<u16>,
    vb: CudaSlice<u16>,
    qrb: CudaSlice<u16>,
}

/// Paper form on the GPU: workspaces for a batch of `b` images of dimension `d` and a fixed layout.
pub struct BnsPaperCuda {
    pub b: usize,
    pub d: usize,
    pub rows: usize,
    row_q: CudaSlice<i32>,
    row_anchor: CudaSlice<i32>,
    qn: CudaSlice<f32>,
    vn: CudaSlice<f32>,
    qr: CudaSlice<f32>,
    gqr: CudaSlice<f32>,
    gq: CudaSlice<f32>,
    gv: CudaSlice<f32>,
    row_loss: CudaSlice<f32>,
    s: Option<CudaSlice<f32>>,
    /// v3: bf16 copies (row stride 128) of the normalised views and of the gathered q rows (boxed: the
    /// workspace is held by value in the trainer's loss enum).
    bf16: Option<Box<PaperBf16>>,
    /// The loss after [`BnsPaperCuda::run`] (one float on the device).
    pub loss: CudaSlice<f32>,
}

impl BnsPaperCuda {
    pub fn new(
        dev: &CudaDevice,
        b: usize,
        d: usize,
        layout: &PaperLayout,
        versions: &[BnsVersion],
    ) -> Result<Self> {
        if b == 0 || d == 0 || layout.anchors.is_empty() {
            return Err(Error::usage(
                "BNS paper form on CUDA: empty batch or no anchors",
            ));
        }
        let layout = PaperLayout::new(layout.anchors.clone(), layout.extra.clone(), layout.m, b)?;
        for &v in versions {
            check_paper_version(v)?;
            check_version(v, d, dev)?;
        }
        let rows = layout.rows();
        let (mut rq, mut ra) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for r in 0..rows {
            let (q, a) = layout.row(r);
            rq.push(q as i32);
            ra.push(a as i32);
        }
        Ok(BnsPaperCuda {
            b,
            d,
            rows,
            row_q: dev.upload(&rq)?,
            row_anchor: dev.upload(&ra)?,
            qn: dev.zeros(b * d)?,
            vn: dev.zeros(b * d)?,
            qr: dev.zeros(rows * d)?,
            gqr: dev.zeros(rows * d)?,
            gq: dev.zeros(b * d)?,
            gv: dev.zeros(b * d)?,
            row_loss: dev.zeros(rows)?,
            s: if versions.contains(&BnsVersion::V1) || versions.contains(&BnsVersion::V8) {
                Some(dev.zeros(rows * b)?)
            } else {
                None
            },
            bf16: if versions.iter().any(|v| v.bf16()) {
                Some(Box::new(PaperBf16 {
                    qb: dev.zeros(b * FUSED_DMAX)?,
                    vb: dev.zeros(b * FUSED_DMAX)?,
                    qrb: dev.zeros(rows * FUSED_DMAX)?,
                }))
            } else {
                None
            },
            loss: dev.zeros(1)?,
        })
    }

    /// Fills what the kernels write (row losses, the q-row and v gradients before the scatter and the
    /// normalisation backward, the loss) with NaN, so that a test sees any element a version leaves
    /// unwritten.
    pub fn poison(&mut self, dev: &CudaDevice) -> Result<()> {
        let (b, d, rows) = (self.b, self.d, self.rows);
        self.row_loss = dev.upload(&vec![f32::NAN; rows])?;
        self.gqr = dev.upload(&vec![f32::NAN; rows * d])?;
        self.gv = dev.upload(&vec![f32::NAN; b * d])?;
        self.loss = dev.upload(&[f32::NAN])?;
        Ok(())
    }

    /// Loss (into `self.loss`), g1 = dL/dz1 and g2 = dL/dz2 for the views `z1`, `z2` [b, d].
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        dev: &CudaDevice,
        v: BnsVersion,
        z1: &CudaSlice<f32>,
        z2: &CudaSlice<f32>,
        labels: &CudaSlice<i32>,
        tau: f32,
        g1: &mut CudaSlice<f32>,
        g2: &mut CudaSlice<f32>,
    ) -> Result<()> {
        check_tau(tau as f64)?;
        check_paper_version(v)?;
        check_version(v, self.d, dev)?;
        let (b, d, rows) = (self.b, self.d, self.rows);
        check_len("BNS labels", labels.len(), b)?;
        check_len("BNS g1", g1.len(), b * d)?;
        check_len("BNS g2", g2.len(), b * d)?;
        let inv_tau = 1.0 / tau;
        let c = 1.0 / rows as f32;
        let (bi, di, ri) = (int("b", b)?, int("dim", d)?, int("rows", rows)?);
        let ew = cfg((blocks(rows * d, 256), 1), (256, 1));
        if v.bf16() {
            let h = self.bf16.as_mut().ok_or_else(|| {
                Error::usage(format!(
                    "BnsPaperCuda was allocated without {v} in its versions"
                ))
            })?;
            normalize(dev, &mut self.qn, Some(&mut h.qb), z1, b, d)?;
            normalize(dev, &mut self.vn, Some(&mut h.vb), z2, b, d)?;
            let f = dev.function(FILE, "bns_gather_rows_bf16")?;
            let per_row = FUSED_DMAX / 8;
            // SAFETY: bns_gather_rows_bf16(u16* out, const u16* in, const int* idx, int rows); out holds
            // rows·128 u16, in b·128 (both 16-byte aligned device allocations), idx rows indices < b
            // (checked by PaperLayout::new); one thread per 16-byte chunk, threads beyond rows·16 return.
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(&mut h.qrb)
                    .arg(&h.qb)
                    .arg(&self.row_q)
                    .arg(&ri)
                    .launch(cfg((blocks(rows * per_row, 256), 1), (256, 1)))
            }
            .map_err(launch_err("bns_gather_rows_bf16"))?;
        } else {
            normalize(dev, &mut self.qn, None, z1, b, d)?;
            normalize(dev, &mut self.vn, None, z2, b, d)?;
            let f = dev.function(FILE, "bns_gather_rows_f32")?;
            // SAFETY: bns_gather_rows_f32(float* out, const float* in, const int* idx, int rows, int d);
            // out holds rows·d floats, idx rows indices < b (checked by PaperLayout::new), in b·d.
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(&mut self.qr)
                    .arg(&self.qn)
                    .arg(&self.row_q)
                    .arg(&ri)
                    .arg(&di)
                    .launch(ew)
            }
            .map_err(launch_err("bns_gather_rows_f32"))?;
        }
        match v {
            BnsVersion::V1 | BnsVersion::V8 => {
                let s = self.s.as_mut().ok_or_else(|| {
                    Error::usage("BnsPaperCuda was allocated without v1 in its versions")
                })?;
                sim(dev, v, s, &self.qr, &self.vn, rows, b, d, inv_tau)?;
                let f = dev.function(FILE, "bns_paper_rows_v1_f32")?;
                // SAFETY: bns_paper_rows_v1_f32(float* S, float* row_loss, const int* lab,
                // const int* row_anchor, int rows, int m, float c); S holds rows·b floats, row_loss and
                // row_anchor rows, lab b; one block per row.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut *s)
                        .arg(&mut self.row_loss)
                        .arg(labels)
                        .arg(&self.row_anchor)
                        .arg(&ri)
                        .arg(&bi)
                        .arg(&c)
                        .launch(cfg((rows as u32, 1), (256, 1)))
                }
                .map_err(launch_err("bns_paper_rows_v1_f32"))?;
                matmul(
                    dev,
                    v,
                    &mut self.gqr,
                    s,
                    &self.vn,
                    (rows, b, d),
                    false,
                    inv_tau,
                )?;
                matmul(
                    dev,
                    v,
                    &mut self.gv,
                    s,
                    &self.qr,
                    (b, rows, d),
                    true,
                    inv_tau,
                )?;
            }
            BnsVersion::V2 => {
                let f = dev.function(FILE, "bns_paper_rows_v2_f32")?;
                // SAFETY: bns_paper_rows_v2_f32(float* gqr, float* row_loss, const float* qr,
                // const float* vn, const int* lab, const int* row_anchor, int rows, int m, int d,
                // float inv_tau, float c); gqr/qr hold rows·d floats, vn b·d, d ≤ 128 checked.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.gqr)
                        .arg(&mut self.row_loss)
                        .arg(&self.qr)
                        .arg(&self.vn)
                        .arg(labels)
                        .arg(&self.row_anchor)
                        .arg(&ri)
                        .arg(&bi)
                        .arg(&di)
                        .arg(&inv_tau)
                        .arg(&c)
                        .launch(cfg((blocks(rows, 32), 1), (256, 1)))
                }
                .map_err(launch_err("bns_paper_rows_v2_f32"))?;
                let f = dev.function(FILE, "bns_paper_cols_v2_f32")?;
                // SAFETY: bns_paper_cols_v2_f32(float* gv, const float* vn, const float* qr,
                // const int* lab, const int* row_anchor, int rows, int m, int d, float inv_tau, float c);
                // gv/vn hold b·d floats, qr rows·d.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&mut self.gv)
                        .arg(&self.vn)
                        .arg(&self.qr)
                        .arg(labels)
                        .arg(&self.row_anchor)
                        .arg(&ri)
                        .arg(&bi)
                        .arg(&di)
                        .arg(&inv_tau)
                        .arg(&c)
                        .launch(cfg((blocks(b, 32), 1), (256, 1)))
                }
                .map_err(launch_err("bns_paper_cols_v2_f32"))?;
            }
            BnsVersion::V7 => unreachable!("refused by check_paper_version above"),
            BnsVersion::V3 | BnsVersion::V4 | BnsVersion::V5 | BnsVersion::V6 => {
                let h = self.bf16.as_ref().ok_or_else(|| {
                    Error::usage(format!(
                        "BnsPaperCuda was allocated without {v} in its versions"
                    ))
                })?;
                // v4 to v6 split the columns of both passes over grid.y and add into zeroed sums; v5 and
                // v6 (wgmma) blocks own 128 rows with 256 threads and dynamic shared memory.
                let split = v != BnsVersion::V3;
                if split {
                    for buf in [&mut self.gqr, &mut self.row_loss, &mut self.gv] {
                        dev.stream
                            .memset_zeros(buf)
                            .map_err(|e| Error::driver("zeroing the BNS v4-v6 sums", e))?;
                    }
                }
                let launch = |own: usize, cols_of: usize, pass: &str| -> Result<_> {
                    let name = format!("bns_paper_{pass}_{v}_bf16");
                    match v {
                        BnsVersion::V5 | BnsVersion::V6 => {
                            let smem = wgmma_smem(dev, v)?;
                            let f = dev.function(FILE5, &name)?;
                            dev.raise_smem_limit(&f, &name, smem)?;
                            let (lc, cols) =
                                split_columns(dev, &f, (own, cols_of), (128, 256, smem))?;
                            Ok((f, name, lc, cols))
                        }
                        BnsVersion::V4 => {
                            let f = dev.function(FILE, &name)?;
                            let (lc, cols) = split_columns(dev, &f, (own, cols_of), (64, 128, 0))?;
                            Ok((f, name, lc, cols))
                        }
                        _ => Ok((
                            dev.function(FILE, &name)?,
                            name,
                            cfg((blocks(own, 64), 1), (128, 1)),
                            0,
                        )),
                    }
                };
                let (f, name, rc, rcols) = launch(rows, b, "rows")?;
                let mut l = dev.stream.launch_builder(&f);
                l.arg(&mut self.gqr)
                    .arg(&mut self.row_loss)
                    .arg(&h.qrb)
                    .arg(&h.vb)
                    .arg(labels)
                    .arg(&self.row_anchor)
                    .arg(&ri)
                    .arg(&bi)
                    .arg(&di)
                    .arg(&inv_tau)
                    .arg(&c);
                if split {
                    l.arg(&rcols);
                }
                // SAFETY: bns_paper_rows_{v3,v4,v5,v6}_bf16(float* gqr, float* row_loss, const u16* qrb,
                // const u16* vb, const int* lab, const int* row_anchor, int rows, int m, int d,
                // float inv_tau, float c[, int cols]); gqr holds rows·d floats, row_loss and row_anchor
                // rows, qrb rows·128 bf16, vb b·128 bf16 (row stride 128, zero-padded), lab b; d ≤ 128
                // checked; rows beyond `rows` and columns beyond b are masked in the kernel; v4-v6: gqr
                // and row_loss zeroed, blocks cover columns [y·cols, (y+1)·cols) clipped to b; v5/v6: the
                // dynamic shared memory the kernel checks for.
                unsafe { l.launch(rc) }.map_err(launch_err(&name))?;
                let (f, name, cc, ccols) = launch(b, rows, "cols")?;
                let mut l = dev.stream.launch_builder(&f);
                l.arg(&mut self.gv)
                    .arg(&h.vb)
                    .arg(&h.qrb)
                    .arg(labels)
                    .arg(&self.row_anchor)
                    .arg(&ri)
                    .arg(&bi)
                    .arg(&di)
                    .arg(&inv_tau)
                    .arg(&c);
                if split {
                    l.arg(&ccols);
                }
                // SAFETY: bns_paper_cols_{v3,v4,v5,v6}_bf16(float* gv, const u16* vb, const u16* qrb,
                // const int* lab, const int* row_anchor, int rows, int m, int d, float inv_tau, float c[,
                // int cols]); gv holds b·d floats, vb b·128 bf16, qrb rows·128 bf16, lab b, row_anchor
                // rows; v4-v6: gv zeroed, the q rows split over grid.y.
                unsafe { l.launch(cc) }.map_err(launch_err(&name))?;
            }
        }
        loss_sum(dev, &mut self.loss, &self.row_loss, rows, c)?;
        dev.stream
            .memset_zeros(&mut self.gq)
            .map_err(|e| Error::driver("clearing a buffer", e))?;
        let f = dev.function(FILE, "bns_scatter_add_rows_f32")?;
        // SAFETY: bns_scatter_add_rows_f32(float* out, const float* in, const int* idx, int rows, int d);
        // out holds b·d floats, in rows·d, idx rows indices < b.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&mut self.gq)
                .arg(&self.gqr)
                .arg(&self.row_q)
                .arg(&ri)
                .arg(&di)
                .launch(ew)
        }
        .map_err(launch_err("bns_scatter_add_rows_f32"))?;
        norm_bwd(dev, g1, &self.gq, z1, b, d)?;
        norm_bwd(dev, g2, &self.gv, z2, b, d)
    }
}

/// Host-to-host convenience (tests, checks): the code form of [`super::bns::bns_code_f32`] on the GPU, with
/// the workspaces and the outputs NaN-poisoned before the run.
pub fn bns_code_cuda(
    dev: &CudaDevice,
    v: BnsVersion,
    z1: &[f32],
    z2: &[f32],
    labels: &[i32],
    dim: usize,
    tau: f32,
) -> Result<BnsOutput<f32>> {
    let b = labels.len();
    super::bns::check_shapes("z1", z1, b, dim)?;
    super::bns::check_shapes("z2", z2, b, dim)?;
    let n = 2 * b;
    let z: Vec<f32> = z1.iter().chain(z2).copied().collect();
    let lab: Vec<i32> = labels.iter().chain(labels).copied().collect();
    let mut ws = BnsCodeCuda::new(dev, n, dim, &[v])?;
    ws.poison(dev)?;
    let zd = dev.upload(&z)?;
    let ld = dev.upload(&lab)?;
    let mut gx = dev.upload(&vec![f32::NAN; n * dim])?;
    ws.run(dev, v, &zd, &ld, tau, &mut gx)?;
    let mut g = dev.download(&gx)?;
    let loss = dev.download(&ws.loss)?[0] as f64;
    let g2 = g.split_off(b * dim);
    Ok(BnsOutput { loss, g1: g, g2 })
}

/// Host-to-host convenience: the paper form of [`super::bns::bns_paper_f32`] on the GPU, with the
/// workspaces and the outputs NaN-poisoned before the run.
#[allow(clippy::too_many_arguments)]
pub fn bns_paper_cuda(
    dev: &CudaDevice,
    v: BnsVersion,
    z1: &[f32],
    z2: &[f32],
    labels: &[i32],
    layout: &PaperLayout,
    dim: usize,
    tau: f32,
) -> Result<BnsOutput<f32>> {
    let b = labels.len();
    super::bns::check_shapes("z1", z1, b, dim)?;
    super::bns::check_shapes("z2", z2, b, dim)?;
    let mut ws = BnsPaperCuda::new(dev, b, dim, layout, &[v])?;
    ws.poison(dev)?;
    let (q, vv, l) = (dev.upload(z1)?, dev.upload(z2)?, dev.upload(labels)?);
    let mut g1 = dev.upload(&vec![f32::NAN; b * dim])?;
    let mut g2 = dev.upload(&vec![f32::NAN; b * dim])?;
    ws.run(dev, v, &q, &vv, &l, tau, &mut g1, &mut g2)?;
    Ok(BnsOutput {
        loss: dev.download(&ws.loss)?[0] as f64,
        g1: dev.download(&g1)?,
        g2: dev.download(&g2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::{matmul_spec, sim_spec};
    use crate::device::cpu::gemm::gemm_par_f32;

    /// v8's GEMM shapes and transposes, on the CPU GEMM that takes the same `GemmSpec` as cuBLAS's path,
    /// against the products written out as v1's kernels compute them.
    #[test]
    fn v8_gemm_specs_are_v1s_products() {
        let (rows, m, d, scale) = (5usize, 7usize, 3usize, 0.5f32);
        let val = |i: usize, salt: usize| ((i * 37 + salt * 11) % 17) as f32 / 8.0 - 1.0;
        let x: Vec<f32> = (0..rows * d).map(|i| val(i, 1)).collect();
        let y: Vec<f32> = (0..m * d).map(|i| val(i, 2)).collect();
        let mut s = vec![0.0f32; rows * m];
        gemm_par_f32(&mut s, &x, &y, &sim_spec(rows, m, d, scale));
        for a in 0..rows {
            for b in 0..m {
                let want: f32 = scale * (0..d).map(|k| x[a * d + k] * y[b * d + k]).sum::<f32>();
                assert!((s[a * m + b] - want).abs() < 1e-5, "S[{a}][{b}]");
            }
        }
        for tm in [false, true] {
            // M [rows, m], or its transpose stored [m, rows].
            let mm: Vec<f32> = (0..rows * m).map(|i| val(i, 3)).collect();
            let at = |a: usize, b: usize| if tm { mm[b * rows + a] } else { mm[a * m + b] };
            let mut g = vec![0.0f32; rows * d];
            gemm_par_f32(&mut g, &mm, &y, &matmul_spec(rows, m, d, tm, scale));
            for a in 0..rows {
                for k in 0..d {
                    let want: f32 = scale * (0..m).map(|b| at(a, b) * y[b * d + k]).sum::<f32>();
                    assert!((g[a * d + k] - want).abs() < 1e-5, "tm {tm}: G[{a}][{k}]");
                }
            }
        }
    }
}
