//! Launchers for kernels/conv_tc.cu: tensor-core convolutions (v3, v4, v5) in TF32 or bf16 with fp32 storage and
//! fp32 accumulation (NHWC activations, OHWI weights), and [`ConvPrecision`], the numeric mode of a
//! network's convolutions with its dispatch over devices (the CPU always runs the exact fp32 reference).
use super::conv::dims;
use super::conv_tc6::{self, cast_into, Bf16Copy, BnPartials, DevCopy};
use super::conv_wgmma;
use super::{check_len, launch_err, waves, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::device::parts::{timed, Part};
use crate::device::{nn_ops, Buffer, Device};
use crate::error::{Error, Result};
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};

const FILE: &str = "conv_tc";

/// Numeric mode of the convolutions. `Fp32` runs exact fp32 FMAs on the CUDA cores (conv.cu v2, or v6's
/// cp.async pipeline where [`TcVersion::V6`] is asked for); `Tf32` and `Bf16` round the operands to TF32 /
/// bf16 for the tensor cores (mma.sync, sm_80+), accumulating in fp32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum ConvPrecision {
    #[default]
    Fp32,
    Tf32,
    Bf16,
}

impl ConvPrecision {
    pub(crate) fn suffix(&self) -> &'static str {
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

/// Kernel generation of the tensor-core convolutions. `V3`: one 128x128 tile, element-wise gathers;
/// `V4`: the tile follows the output channels (128x128, 256x64, 256x32, 256x16), float4 gathers with the
/// row geometry hoisted, the next k-tile prefetched into registers. V4 takes the shapes its vector
/// gathers allow (forward: C % 16 == 0; grad-input: O % 16 == 0 and C % 4 == 0; grad-weight: C % 4 == 0
/// and O % 4 == 0) and hands the rest (the 3-channel stem) to V3.
///
/// `V5` (bf16 only): v4's tiles and loaders with operands rounded to bf16 once on their way into shared
/// memory, 32-deep k-tiles and ldmatrix fragment loads (forward: C % 32 == 0; grad-input: O % 32 == 0 and
/// C % 4 == 0; grad-weight as v4). tf32, and bf16 shapes it does not take, run v4 (or v3).
///
/// `V6` (kernels/conv_tc6.cu): operands streamed into shared memory by a 3-stage cp.async ring (see
/// [`super::conv_tc6`]): bf16 operands cast to bf16 in global memory first, tf32 the fp32 tensors
/// themselves; shapes as [`super::conv_tc6::takes`], the rest run v4 (or v3). V6 is also the one
/// generation with an exact-fp32 variant (the same pipeline, fp32 FMAs instead of mma): under
/// `--precision fp32` it replaces conv.cu v2 where it takes the shape, and every other version means v2.
///
/// `V7` (kernels/conv_wgmma.cu): bf16 on Hopper warpgroup MMA (wgmma, sm_90 only): the forward (C % 32 == 0),
/// the grad-input (O % 32 == 0, from transposed weights; strided by residue classes) and the grad-weight
/// (C % 8 == 0, O % 8 == 0); everything else as `V6` (other shapes, precisions, GPUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TcVersion {
    V3,
    V4,
    V5,
    V6,
    V7,
}

impl TcVersion {
    pub const ALL: [TcVersion; 5] = [
        TcVersion::V3,
        TcVersion::V4,
        TcVersion::V5,
        TcVersion::V6,
        TcVersion::V7,
    ];

    /// The version networks use: `IPDPP_CONV_TC=v3|v4|v5|v6|v7` overrides the default (for A/B runs and as an
    /// escape hatch); an unreadable value is reported once and ignored.
    pub fn current() -> TcVersion {
        static V: std::sync::OnceLock<TcVersion> = std::sync::OnceLock::new();
        *V.get_or_init(|| match std::env::var("IPDPP_CONV_TC") {
            Ok(v) => v.parse().unwrap_or_else(|e| {
                eprintln!("warning: IPDPP_CONV_TC: {e}; using {}", TcVersion::DEFAULT);
                TcVersion::DEFAULT
            }),
            Err(_) => TcVersion::DEFAULT,
        })
    }

    /// v6: on an H200 (2026-11-27) its tests passed and it ran ResNet-18 bf16 at 20,654 img/s against v4's
    /// 13,404, tf32 14,709 against 12,831, exact fp32 (its FMA variant) 7,956 against conv.cu v2's 2,836.
    /// v7 (wgmma) passed too but is slower than v6 (15,587), so it stays opt-in.
    pub const DEFAULT: TcVersion = TcVersion::V6;
}

impl std::str::FromStr for TcVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v3" => Ok(TcVersion::V3),
            "v4" => Ok(TcVersion::V4),
            "v5" => Ok(TcVersion::V5),
            "v6" => Ok(TcVersion::V6),
            "v7" => Ok(TcVersion::V7),
            _ => Err(Error::usage(format!(
                "unknown tensor-core convolution version {s:?}; use v3, v4, v5, v6 or v7"
            ))),
        }
    }
}

impl std::fmt::Display for TcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TcVersion::V3 => "v3",
            TcVersion::V4 => "v4",
            TcVersion::V5 => "v5",
            TcVersion::V6 => "v6",
            TcVersion::V7 => "v7",
        })
    }
}

/// The v4 tile for a GEMM with `cols` output columns: (entry-point suffix, block rows, block columns).
pub(crate) fn v4_tile(cols: usize) -> (&'static str, usize, usize) {
    match cols {
        c if c > 64 => ("n128", 128, 128),
        c if c > 32 => ("n64", 256, 64),
        c if c > 16 => ("n32", 256, 32),
        _ => ("n16", 256, 16),
    }
}

/// Which version runs `op` at `s` in precision `p` when `v` is asked for: each newer version takes the
/// shapes (and, for v5 and v6, the precision) its vector gathers allow and hands the rest to the one
/// before (v6 to v4: v5 is slower than v4 in places and stays opt-in).
pub fn effective_version(v: TcVersion, p: ConvPrecision, op: &str, s: &ConvSpec) -> TcVersion {
    let v5 = match op {
        "fwd" => s.c % 32 == 0,
        "bwd_input" => s.o % 32 == 0 && s.c % 4 == 0,
        _ => s.c % 4 == 0 && s.o % 4 == 0,
    };
    let v4 = match op {
        "fwd" => s.c % 16 == 0,
        "bwd_input" => s.o % 16 == 0 && s.c % 4 == 0,
        _ => s.c % 4 == 0 && s.o % 4 == 0,
    };
    match v {
        TcVersion::V7 if conv_wgmma::takes(op, s, p) => TcVersion::V7,
        TcVersion::V7 | TcVersion::V6 if conv_tc6::takes(op, s, p) => TcVersion::V6,
        TcVersion::V5 if v5 && p == ConvPrecision::Bf16 => TcVersion::V5,
        TcVersion::V7 | TcVersion::V6 | TcVersion::V5 | TcVersion::V4 if v4 => TcVersion::V4,
        _ => TcVersion::V3,
    }
}

/// Whether `op` runs v7 on this GPU: `v` asks for it, [`effective_version`] takes the op and shape, the GPU
/// is a Hopper ([`conv_wgmma::runs`]), and (under `IPDPP_V7_AUTO=1`) v6 was not measured faster at this
/// shape ([`tune_v6_v7`]).
fn runs_v7(dev: &CudaDevice, v: TcVersion, p: ConvPrecision, op: &str, s: &ConvSpec) -> bool {
    effective_version(v, p, op, s) == TcVersion::V7
        && conv_wgmma::runs(dev, op, s, p)
        && !(v7_auto() && super::tune::chosen(dev, &v6_v7_key(op, p, s), &[0, 1], None) == Some(0))
}

/// `IPDPP_V7_OUT16=0`, read once: v7 never stores its outputs as bf16 for the v4/v5 batch-norm tails
/// (the forward's y and the grad-input stay fp32 there, as before 2026-11-28, and the tails read those);
/// `tools/gpu-run.sh` sets it where the bf16 stores of v7 fail a test.
fn v7_out16_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_OUT16").map_or(true, |v| v.trim() != "0"))
}

/// `IPDPP_V7_AUTO=1`, read once: a network asking v7 runs each op and shape on v6 or v7, whichever
/// [`tune_v6_v7`] measured faster (v7 until measured).
pub fn v7_auto() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_AUTO").is_ok_and(|v| v.trim() == "1"))
}

fn v6_v7_key(op: &str, p: ConvPrecision, s: &ConvSpec) -> String {
    format!("conv_{op}_v6_or_v7_{} {s:?}", p.suffix())
}

/// Times v6 against v7 (each with its own rings or pipelines tuned first) for every op of every shape in
/// `specs` that both run in precision `p`, on scratch operands, and keeps the faster per op and shape for
/// [`runs_v7`] under `IPDPP_V7_AUTO=1`. The network calls it before its first forward at a batch size, so
/// that every plan it makes (bf16 outputs, copies) sees the final choice; shapes already measured cost
/// nothing. `stats` = Some((groups, bf16_out)): the forwards are timed as a training forward runs them, with
/// the batch-norm statistics epilogue over `groups` views and (bf16_out, the v4-v6 tails) y stored as bf16.
pub fn tune_v6_v7(
    dev: &CudaDevice,
    p: ConvPrecision,
    specs: &[ConvSpec],
    stats: Option<(usize, bool)>,
) -> Result<()> {
    if p == ConvPrecision::Fp32 {
        return Ok(());
    }
    for s in specs {
        for op in ["fwd", "bwd_input", "bwd_weight"] {
            let key = v6_v7_key(op, p, s);
            let both = effective_version(TcVersion::V7, p, op, s) == TcVersion::V7
                && conv_wgmma::runs(dev, op, s, p)
                && runs_v6(dev, TcVersion::V6, p, op, s);
            if !both || super::tune::chosen(dev, &key, &[0, 1], None).is_some() {
                continue;
            }
            if p == ConvPrecision::Tf32 {
                let x = dev.zeros::<f32>(s.x_len())?;
                let w = dev.zeros::<f32>(s.w_len())?;
                let gy = dev.zeros::<f32>(s.y_len())?;
                let transpose = |d: &CudaDevice, wt: &mut CudaSlice<f32>, w: &CudaSlice<f32>| {
                    conv_wgmma::conv_weight_t_f32(d, wt, w, s)
                };
                let gw_v7 =
                    |gw: &mut CudaSlice<f32>| conv_wgmma::conv_bwd_weight_v7(dev, gw, &gy, &x, s);
                time_v6_v7(dev, p, op, s, &key, (&x, &w, &gy), transpose, gw_v7, stats)?;
            } else {
                let x = dev.zeros::<u16>(s.x_len())?;
                let w = dev.zeros::<u16>(s.w_len())?;
                let gy = dev.zeros::<u16>(s.y_len())?;
                if let (true, Some((groups, true))) = (op == "fwd", stats) {
                    time_fwd16_v6_v7(dev, s, &key, (&x, &w), groups)?;
                    continue;
                }
                let transpose = |d: &CudaDevice, wt: &mut CudaSlice<u16>, w: &CudaSlice<u16>| {
                    conv_wgmma::conv_weight_t_bf16(d, wt, w, s)
                };
                let gw_v7 =
                    |gw: &mut CudaSlice<f32>| conv_wgmma::conv_bwd_weight_v7(dev, gw, &gy, &x, s);
                time_v6_v7(dev, p, op, s, &key, (&x, &w, &gy), transpose, gw_v7, stats)?;
            }
        }
    }
    Ok(())
}

/// [`tune_v6_v7`]'s timing of a bf16 forward as the v4-v6 tails run it: y as bf16 with the statistics of
/// its `groups` views (v7 in fp32 under `IPDPP_V7_OUT16=0`), or (where a version's row blocks straddle two
/// views) that version's plain forward.
fn time_fwd16_v6_v7(
    d: &CudaDevice,
    s: &ConvSpec,
    key: &str,
    (x, w): (&CudaSlice<u16>, &CudaSlice<u16>),
    groups: usize,
) -> Result<()> {
    let mut y16 = d.zeros::<u16>(s.y_len())?;
    let mut y = d.zeros::<f32>(s.y_len())?;
    let mut parts = BnPartials::default();
    super::tune::pick(d, key, &["v6", "v7"], |i| {
        let wrote = if i == 0 {
            conv_tc6::conv_fwd_v6_stats16(d, &mut y16, x, w, s, groups, &mut parts, None)?
        } else if v7_out16_on() {
            conv_wgmma::conv_fwd_v7_stats16(d, &mut y16, x, w, s, groups, &mut parts)?
        } else {
            conv_wgmma::conv_fwd_v7_stats(d, &mut y, x, w, s, groups, &mut parts)?;
            true
        };
        match (wrote, i) {
            (true, _) => Ok(()),
            (false, 0) => conv_tc6::conv_fwd_v6(d, ConvPrecision::Bf16, &mut y, x, w, s),
            (false, _) => conv_wgmma::conv_fwd_v7(d, &mut y, x, w, s),
        }
    })?;
    Ok(())
}

/// [`tune_v6_v7`] for one op and shape on operands (x, w, gy) of type `T` (`transpose`: v7's grad-input
/// weights; `gw_v7`: v7's grad-weight).
#[allow(clippy::too_many_arguments)]
fn time_v6_v7<T: conv_tc6::V6Operand + cudarc::driver::ValidAsZeroBits>(
    d: &CudaDevice,
    p: ConvPrecision,
    op: &str,
    s: &ConvSpec,
    key: &str,
    (x, w, gy): (&CudaSlice<T>, &CudaSlice<T>, &CudaSlice<T>),
    transpose: impl Fn(&CudaDevice, &mut CudaSlice<T>, &CudaSlice<T>) -> Result<()>,
    mut gw_v7: impl FnMut(&mut CudaSlice<f32>) -> Result<()>,
    stats: Option<(usize, bool)>,
) -> Result<()> {
    let mut out = d.zeros::<f32>(match op {
        "fwd" => s.y_len(),
        "bwd_input" => s.x_len(),
        _ => s.w_len(),
    })?;
    let mut wt = d.zeros::<T>(s.w_len())?;
    transpose(d, &mut wt, w)?;
    // A training forward's statistics epilogue (fp32 y; [`time_fwd16_v6_v7`] takes bf16 y).
    let groups = stats.map(|(g, _)| g);
    let mut parts = BnPartials::default();
    super::tune::pick(d, key, &["v6", "v7"], |i| match (op, i, groups) {
        ("fwd", 0, Some(g)) => conv_tc6::conv_fwd_v6_stats(d, p, &mut out, x, w, s, g, &mut parts),
        ("fwd", _, Some(g)) => conv_wgmma::conv_fwd_v7_stats(d, &mut out, x, w, s, g, &mut parts),
        ("fwd", 0, None) => conv_tc6::conv_fwd_v6(d, p, &mut out, x, w, s),
        ("fwd", _, None) => conv_wgmma::conv_fwd_v7(d, &mut out, x, w, s),
        ("bwd_input", 0, _) => conv_tc6::conv_bwd_input_v6(d, p, &mut out, gy, w, s, false),
        ("bwd_input", _, _) => conv_wgmma::conv_bwd_input_v7(d, &mut out, gy, &wt, s, false),
        (_, 0, _) => conv_tc6::conv_bwd_weight_v6(d, p, &mut out, gy, x, s),
        _ => gw_v7(&mut out),
    })?;
    Ok(())
}

/// `v` with v7 asked where v7 does not run on this GPU read as v6 (which v7 means for everything else).
fn without_v7(
    dev: &CudaDevice,
    v: TcVersion,
    p: ConvPrecision,
    op: &str,
    s: &ConvSpec,
) -> TcVersion {
    if v == TcVersion::V7 && !runs_v7(dev, v, p, op, s) {
        TcVersion::V6
    } else {
        v
    }
}

/// Whether `op` runs v6 on this GPU: `v` asks for it (v7 where v7 does not run), [`effective_version`] takes
/// the shape, and its tiles fit the shared memory ([`conv_tc6::fits`]).
fn runs_v6(dev: &CudaDevice, v: TcVersion, p: ConvPrecision, op: &str, s: &ConvSpec) -> bool {
    let v = without_v7(dev, v, p, op, s);
    effective_version(v, p, op, s) == TcVersion::V6 && conv_tc6::fits(dev, op, s, p)
}

/// The kernel family that runs `op` at `s` on `dev` for a network asking `v` in precision `p`, for reports:
/// "cpu", "v2" (exact fp32, conv.cu) or the tensor-core generation that really runs (after the shape and
/// shared-memory fallbacks).
pub fn kernel_for(dev: &Device, p: ConvPrecision, v: TcVersion, op: &str, s: &ConvSpec) -> String {
    match dev {
        Device::Cpu => "cpu".into(),
        Device::Cuda(d) => kernel_on(d, p, v, op, s),
    }
}

/// [`kernel_for`] on a GPU.
pub fn kernel_on(d: &CudaDevice, p: ConvPrecision, v: TcVersion, op: &str, s: &ConvSpec) -> String {
    if p == ConvPrecision::Fp32 {
        return if runs_v6(d, v, p, op, s) { "v6" } else { "v2" }.into();
    }
    effective_version(demoted(d, v, p, op, s), p, op, s).to_string()
}

/// The version the fp32-operand launchers run for `v`: v7 where it runs, else v6 where it runs, else v4's
/// rules in its place.
fn demoted(dev: &CudaDevice, v: TcVersion, p: ConvPrecision, op: &str, s: &ConvSpec) -> TcVersion {
    let v = without_v7(dev, v, p, op, s);
    if v == TcVersion::V6 && !runs_v6(dev, v, p, op, s) {
        TcVersion::V4
    } else {
        v
    }
}

/// Grid and kernel name of `op` ("fwd", "bwd_input", "bwd_weight") for a GEMM of `m` x `n` tiles.
/// Buffers are whole allocations (CudaSlice), so the float4 gathers of v4 are 16-byte aligned.
fn plan(
    v: TcVersion,
    op: &str,
    p: ConvPrecision,
    s: &ConvSpec,
    m: usize,
    n: usize,
    z: usize,
) -> Result<(String, LaunchConfig)> {
    let planned = match effective_version(v, p, op, s) {
        TcVersion::V3 => (format!("conv_{op}_v3_{}", p.suffix()), tiles(m, n, z)),
        TcVersion::V6 | TcVersion::V7 => {
            return Err(Error::usage(format!(
                "conv {op}: v6 and v7 have their own launchers (conv_tc6, conv_wgmma)"
            )))
        }
        ev @ (TcVersion::V4 | TcVersion::V5) => {
            let (tag, bm, bn) = v4_tile(n);
            let cfg = LaunchConfig {
                grid_dim: (n.div_ceil(bn) as u32, m.div_ceil(bm) as u32, z as u32),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            };
            (format!("conv_{op}_{ev}_{}_{tag}", p.suffix()), cfg)
        }
    };
    // Row tiles are 128 or 256 high: 65535 of them hold 8.4M rows (ResNet-18's stem at 2048 images
    // per call is 2.1M).
    if planned.1.grid_dim.1 > 65535 {
        return Err(Error::usage(format!(
            "convolution {s:?}: {m} GEMM rows exceed one launch; lower the batch size"
        )));
    }
    Ok(planned)
}

/// Splits the `pix` output pixels of a grad-weight launch of `f` over `cfg`'s z dimension in whole waves
/// of the blocks the GPU holds at once ([`waves::split_plan`] over 32-pixel k-tiles, a block's ring fill
/// and the atomics that add its partial gw counted as four): the rule before (about 4 blocks per SM) gave
/// ResNet-18's layer-2 grad-weight 531 blocks on an H200 holding 264, a third wave of 3 blocks. Returns
/// the pixels per split (a multiple of 32; of 16 under `IPDPP_SPLIT_WAVES=0`, the rule before).
pub(crate) fn split_pixels(
    dev: &CudaDevice,
    f: &CudaFunction,
    cfg: &mut LaunchConfig,
    pix: usize,
) -> i32 {
    let out_tiles = (cfg.grid_dim.0 * cfg.grid_dim.1) as usize;
    if !waves::by_waves() {
        let want = (dev.sms.max(1) as usize * 4).div_ceil(out_tiles).max(1);
        let splits = want.min(pix.div_ceil(256)).clamp(1, 65535);
        let per = pix.div_ceil(splits).div_ceil(16) * 16;
        cfg.grid_dim.2 = pix.div_ceil(per) as u32;
        return per as i32;
    }
    let threads = cfg.block_dim.0 * cfg.block_dim.1 * cfg.block_dim.2;
    let resident = waves::resident_blocks(dev, f, threads, cfg.shared_mem_bytes as usize);
    let units = pix.div_ceil(32).max(1);
    let (mut splits, mut per) = waves::split_plan(out_tiles, units, resident, 4);
    if splits > 65535 {
        per = units.div_ceil(65535);
        splits = units.div_ceil(per);
    }
    cfg.grid_dim.2 = splits as u32;
    (per * 32) as i32
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

/// y[n, oh, ow, o] = conv(x, w) with tensor cores (`conv_fwd_v{3,4,5}_{tf32,bf16}[_nXX]`).
pub fn conv_fwd_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    v: TcVersion,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    if runs_v7(dev, v, p, "fwd", s) && p == ConvPrecision::Tf32 {
        return conv_wgmma::conv_fwd_v7(dev, y, x, w, s);
    }
    if runs_v7(dev, v, p, "fwd", s) {
        let (mut xb, mut wb) = (None, None);
        let xb = cast_into(dev, &mut xb, x)?;
        return conv_wgmma::conv_fwd_v7(dev, y, xb, cast_into(dev, &mut wb, w)?, s);
    }
    let v = demoted(dev, v, p, "fwd", s);
    if effective_version(v, p, "fwd", s) == TcVersion::V6 {
        if p == ConvPrecision::Tf32 {
            return conv_tc6::conv_fwd_v6(dev, p, y, x, w, s);
        }
        let (mut xb, mut wb) = (None, None);
        let xb = cast_into(dev, &mut xb, x)?;
        return conv_tc6::conv_fwd_v6(dev, p, y, xb, cast_into(dev, &mut wb, w)?, s);
    }
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let d = dims(s)?;
    let (name, cfg) = plan(v, "fwd", p, s, s.n * s.oh() * s.ow(), s.o, 1)?;
    let f = dev.function(FILE, &name)?;
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
    .map_err(launch_err(&name))?;
    Ok(())
}

/// gx[n, h, w, c] = ∂L/∂x from gy with tensor cores (`conv_bwd_input_v{3,4,5}_{tf32,bf16}[_nXX]`).
pub fn conv_bwd_input_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    v: TcVersion,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    if runs_v7(dev, v, p, "bwd_input", s) && p == ConvPrecision::Tf32 {
        let mut wt = dev.zeros::<f32>(s.w_len())?;
        conv_wgmma::conv_weight_t_f32(dev, &mut wt, w, s)?;
        return conv_wgmma::conv_bwd_input_v7(dev, gx, gy, &wt, s, false);
    }
    if runs_v7(dev, v, p, "bwd_input", s) {
        let (mut gyb, mut wb) = (None, None);
        let gyb = cast_into(dev, &mut gyb, gy)?;
        let wb = cast_into(dev, &mut wb, w)?;
        let mut wt = dev.zeros::<u16>(s.w_len())?;
        conv_wgmma::conv_weight_t_bf16(dev, &mut wt, wb, s)?;
        return conv_wgmma::conv_bwd_input_v7(dev, gx, gyb, &wt, s, false);
    }
    let v = demoted(dev, v, p, "bwd_input", s);
    if effective_version(v, p, "bwd_input", s) == TcVersion::V6 {
        if p == ConvPrecision::Tf32 {
            return conv_tc6::conv_bwd_input_v6(dev, p, gx, gy, w, s, false);
        }
        let (mut gyb, mut wb) = (None, None);
        let gyb = cast_into(dev, &mut gyb, gy)?;
        let wb = cast_into(dev, &mut wb, w)?;
        return conv_tc6::conv_bwd_input_v6(dev, p, gx, gyb, wb, s, false);
    }
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    let d = dims(s)?;
    let (name, cfg) = plan(v, "bwd_input", p, s, s.n * s.h * s.w, s.c, 1)?;
    let f = dev.function(FILE, &name)?;
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
    .map_err(launch_err(&name))?;
    Ok(())
}

/// gw[o, kh, kw, c] = ∂L/∂w with tensor cores (`conv_bwd_weight_v{3,4,5}_{tf32,bf16}[_nXX]`), split over the
/// output pixels so the grid fills the GPU; partial products are added with atomics into the zeroed gw.
pub fn conv_bwd_weight_tc(
    dev: &CudaDevice,
    p: ConvPrecision,
    v: TcVersion,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    tc_only(dev, p)?;
    if runs_v7(dev, v, p, "bwd_weight", s) && p == ConvPrecision::Tf32 {
        return conv_wgmma::conv_bwd_weight_v7(dev, gw, gy, x, s);
    }
    if runs_v7(dev, v, p, "bwd_weight", s) {
        let (mut gyb, mut xb) = (None, None);
        let gyb = cast_into(dev, &mut gyb, gy)?;
        return conv_wgmma::conv_bwd_weight_v7(dev, gw, gyb, cast_into(dev, &mut xb, x)?, s);
    }
    let v = demoted(dev, v, p, "bwd_weight", s);
    if effective_version(v, p, "bwd_weight", s) == TcVersion::V6 {
        if p == ConvPrecision::Tf32 {
            return conv_tc6::conv_bwd_weight_v6(dev, p, gw, gy, x, s);
        }
        let (mut gyb, mut xb) = (None, None);
        let gyb = cast_into(dev, &mut gyb, gy)?;
        return conv_tc6::conv_bwd_weight_v6(dev, p, gw, gyb, cast_into(dev, &mut xb, x)?, s);
    }
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv gw", gw.len(), s.w_len())?;
    let d = dims(s)?;
    let pix = s.n * s.oh() * s.ow();
    // v3 tiles gw as [O, K]; v4 and v5 as its transpose [K, O] with the tile that fits O.
    let (rows, cols) = match effective_version(v, p, "bwd_weight", s) {
        TcVersion::V3 => (s.o, s.kdim()),
        TcVersion::V4 | TcVersion::V5 | TcVersion::V6 | TcVersion::V7 => (s.kdim(), s.o),
    };
    let (name, mut cfg) = plan(v, "bwd_weight", p, s, rows, cols, 1)?;
    let f = dev.function(FILE, &name)?;
    let per_i = split_pixels(dev, &f, &mut cfg, pix);
    dev.stream
        .memset_zeros(gw)
        .map_err(|e| Error::driver("zeroing the weight gradient", e))?;
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
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

fn mismatch(op: &str) -> Error {
    Error::usage(format!(
        "{op}: buffers live on a different device than the one given"
    ))
}

/// Forward convolution in the given precision: fp32 goes to v6's exact-fp32 kernels where `v` is v6 and
/// they run, else (and every CPU call) to [`nn_ops::conv_fwd`].
pub fn conv_fwd(
    dev: &Device,
    p: ConvPrecision,
    v: TcVersion,
    y: &mut Buffer,
    x: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, y, x, w) {
        (
            Device::Cuda(d),
            ConvPrecision::Fp32,
            Buffer::Cuda(y),
            Buffer::Cuda(x),
            Buffer::Cuda(w),
        ) if runs_v6(d, v, p, "fwd", s) => conv_tc6::conv_fwd_v6(d, p, y, x, w, s),
        (Device::Cuda(d), p, Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w))
            if p != ConvPrecision::Fp32 =>
        {
            conv_fwd_tc(d, p, v, y, x, w, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_fwd"))
        }
        (_, _, y, x, w) => nn_ops::conv_fwd(dev, y, x, w, s),
    }
}

/// Grad-input in the given precision (fp32 as [`conv_fwd`]; the CPU: [`nn_ops::conv_bwd_input`]).
pub fn conv_bwd_input(
    dev: &Device,
    p: ConvPrecision,
    v: TcVersion,
    gx: &mut Buffer,
    gy: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, gx, gy, w) {
        (
            Device::Cuda(d),
            ConvPrecision::Fp32,
            Buffer::Cuda(gx),
            Buffer::Cuda(gy),
            Buffer::Cuda(w),
        ) if runs_v6(d, v, p, "bwd_input", s) => {
            conv_tc6::conv_bwd_input_v6(d, p, gx, gy, w, s, false)
        }
        (Device::Cuda(d), p, Buffer::Cuda(gx), Buffer::Cuda(gy), Buffer::Cuda(w))
            if p != ConvPrecision::Fp32 =>
        {
            conv_bwd_input_tc(d, p, v, gx, gy, w, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_bwd_input"))
        }
        (_, _, gx, gy, w) => nn_ops::conv_bwd_input(dev, gx, gy, w, s),
    }
}

/// Grad-weight in the given precision (fp32 as [`conv_fwd`]; the CPU: [`nn_ops::conv_bwd_weight`]).
pub fn conv_bwd_weight(
    dev: &Device,
    p: ConvPrecision,
    v: TcVersion,
    gw: &mut Buffer,
    gy: &Buffer,
    x: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, p, gw, gy, x) {
        (
            Device::Cuda(d),
            ConvPrecision::Fp32,
            Buffer::Cuda(gw),
            Buffer::Cuda(gy),
            Buffer::Cuda(x),
        ) if runs_v6(d, v, p, "bwd_weight", s) => conv_tc6::conv_bwd_weight_v6(d, p, gw, gy, x, s),
        (Device::Cuda(d), p, Buffer::Cuda(gw), Buffer::Cuda(gy), Buffer::Cuda(x))
            if p != ConvPrecision::Fp32 =>
        {
            conv_bwd_weight_tc(d, p, v, gw, gy, x, s)
        }
        (Device::Cuda(_), ConvPrecision::Tf32 | ConvPrecision::Bf16, ..) => {
            Err(mismatch("conv_bwd_weight"))
        }
        (_, _, gw, gy, x) => nn_ops::conv_bwd_weight(dev, gw, gy, x, s),
    }
}

/// [`conv_fwd`] for a network layer: where v6 runs, its bf16 operands come from (or are cast into) the
/// copies `xk` and `wk`, which stay there for [`conv_bwd_kept`] and for other layers reading the same
/// tensors; with `stats` = (partials, groups), v6 also writes the batch-norm partials of y for the batch
/// norm that follows (stale when it cannot). With `y16` as well, where bf16 v6 or v7 runs that epilogue, y
/// is stored only as bf16 into `y16` (`conv_tc6::conv_fwd_v6_stats16`, `conv_wgmma::conv_fwd_v7_stats16`)
/// and the result is Ok(true); else y is written as always, `y16` left stale, Ok(false).
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_kept(
    dev: &Device,
    p: ConvPrecision,
    v: TcVersion,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    stats: Option<(&mut BnPartials, usize)>,
    y: &mut Buffer,
    x: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
    y16: Option<&mut Bf16Copy>,
) -> Result<bool> {
    // y as bf16 alone (`y16`), where bf16 v6 or v7 runs the statistics epilogue: Ok(true), y not written.
    let mut stats = stats;
    if let (Device::Cuda(d), Buffer::Cuda(xc), Buffer::Cuda(wc), Some(yk), Some((out, groups))) =
        (dev, x, w, y16, stats.as_mut())
    {
        let v7 = runs_v7(d, v, p, "fwd", s);
        let stem = padded_stem_fwd(d, v, p, s).filter(|_| p == ConvPrecision::Bf16);
        if stem_direct(v, s) && p == ConvPrecision::Bf16 {
            // The stem direct on CUDA cores, y as bf16 alone.
            let buf = yk.fill(d, s.y_len())?;
            if conv_fwd_stem_direct(d, p, Some((&mut **out, *groups)), buf, xc, wc, s)? {
                return Ok(true);
            }
            yk.stale();
        } else if let Some(sp) = stem {
            // The stem on its channels padded to 8 (v6), y as bf16 alone as well.
            let buf = yk.fill(d, s.y_len())?;
            let fill = |xp: &mut CudaSlice<u16>, wp: &mut CudaSlice<u16>| {
                super::elementwise::pad_channels_bf16_f32(d, xp, xc, s.n * s.h * s.w, s.c, sp.c)?;
                super::elementwise::pad_channels_bf16_f32(d, wp, wc, s.o * s.kh * s.kw, s.c, sp.c)
            };
            let run = |xb: &CudaSlice<u16>, wb: &CudaSlice<u16>| {
                conv_tc6::conv_fwd_v6_stats16(d, buf, xb, wb, &sp, *groups, out, None)
            };
            if on_filled(d, xk, wk, &sp, fill, run)? {
                return Ok(true);
            }
            yk.stale();
        } else if p == ConvPrecision::Bf16
            && im2col_stem(d, v, p, s).is_none()
            && ((v7 && v7_out16_on()) || (!v7 && runs_v6(d, v, p, "fwd", s)))
        {
            let (xb, wb) = (xk.get(d, xc)?, wk.get(d, wc)?);
            let buf = yk.fill(d, s.y_len())?;
            let wrote = if v7 {
                conv_wgmma::conv_fwd_v7_stats16(d, buf, xb, wb, s, *groups, out)?
            } else {
                conv_tc6::conv_fwd_v6_stats16(d, buf, xb, wb, s, *groups, out, None)?
            };
            if wrote {
                return Ok(true);
            }
            yk.stale();
        }
    }
    let fp32_y = match (dev, y, x, w, stats) {
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if stem_direct(v, s) =>
        {
            conv_fwd_stem_direct(d, p, stats, y, x, w, s).map(|_| ())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if im2col_stem(d, v, p, s).is_some() =>
        {
            conv_fwd_im2col_v6(d, xk, wk, stats, y, x, w, s)
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if padded_stem_fwd(d, v, p, s).is_some() =>
        {
            conv_fwd_padded_v6(d, p, xk, wk, stats, y, x, w, s)
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if runs_v7(d, v, p, "fwd", s) && p == ConvPrecision::Tf32 =>
        {
            match stats {
                Some((out, groups)) => conv_wgmma::conv_fwd_v7_stats(d, y, x, w, s, groups, out),
                None => conv_wgmma::conv_fwd_v7(d, y, x, w, s),
            }
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if runs_v7(d, v, p, "fwd", s) =>
        {
            let xb = xk.get(d, x)?;
            match stats {
                Some((out, groups)) => {
                    conv_wgmma::conv_fwd_v7_stats(d, y, xb, wk.get(d, w)?, s, groups, out)
                }
                None => conv_wgmma::conv_fwd_v7(d, y, xb, wk.get(d, w)?, s),
            }
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w), stats)
            if runs_v6(d, v, p, "fwd", s) =>
        {
            match (p, stats) {
                (ConvPrecision::Bf16, Some((out, groups))) => {
                    let xb = xk.get(d, x)?;
                    conv_tc6::conv_fwd_v6_stats(d, p, y, xb, wk.get(d, w)?, s, groups, out)
                }
                (ConvPrecision::Bf16, None) => {
                    conv_tc6::conv_fwd_v6(d, p, y, xk.get(d, x)?, wk.get(d, w)?, s)
                }
                (_, Some((out, groups))) => {
                    conv_tc6::conv_fwd_v6_stats(d, p, y, x, w, s, groups, out)
                }
                (_, None) => conv_tc6::conv_fwd_v6(d, p, y, x, w, s),
            }
        }
        (_, y, x, w, stats) => {
            if let Some((out, _)) = stats {
                out.stale();
            }
            conv_fwd(dev, p, v, y, x, w, s)
        }
    };
    fp32_y.map(|()| false)
}

/// `IPDPP_STEM_DIRECT=1`: the forward of a convolution with fewer than 8 input channels (the stem) runs
/// direct on CUDA cores ([`conv_fwd_stem_direct`]) instead of on v6 over padded channels; read once. Opt-in
/// until a GPU validates and times it (written without one, 2026-11-28).
fn stem_direct_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_STEM_DIRECT").is_ok_and(|v| v.trim() == "1"))
}

/// Whether a network's forward at `s` runs [`conv_fwd_stem_direct`]: asked for, a tensor-core version,
/// fewer than 8 input channels, and a shape `conv_stem_fwd` takes.
pub fn stem_direct(v: TcVersion, s: &ConvSpec) -> bool {
    stem_direct_on()
        && matches!(v, TcVersion::V6 | TcVersion::V7)
        && s.c < 8
        && super::conv::stem_takes(s)
}

/// The stem's forward direct on CUDA cores (`conv::conv_stem_fwd`), its operands rounded as precision `p`'s
/// tensor-core path rounds them, whatever the environment asks; with `stats` = (partials, groups) also the
/// batch-norm partials of y's 128-row blocks where each lies inside one of the groups (the views): then
/// Ok(true), else the plain forward, the partials stale, Ok(false). y fp32, or bf16 (`u16`) with
/// statistics of the rounded values.
pub fn conv_fwd_stem_direct<Y: cudarc::driver::DeviceRepr>(
    d: &CudaDevice,
    p: ConvPrecision,
    stats: Option<(&mut BnPartials, usize)>,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<bool> {
    use super::conv::{conv_stem_fwd, StemRound, STEM_ROWS};
    let rnd = match p {
        ConvPrecision::Bf16 => StemRound::Bf16,
        ConvPrecision::Tf32 => StemRound::Tf32,
        ConvPrecision::Fp32 => StemRound::Exact,
    };
    if let Some((out, groups)) = stats {
        let shape = (s.n * s.oh() * s.ow(), STEM_ROWS, s.o);
        if out.fill_blocks(d, shape, groups, |sum, m2| {
            conv_stem_fwd(d, rnd, &mut *y, x, w, s, Some((sum, m2)))
        })? {
            return Ok(true);
        }
    }
    conv_stem_fwd(d, rnd, y, x, w, s, None)?;
    Ok(false)
}

/// Columns of the stem's im2col (`STEM_K` ≥ kh·kw·c: 27 for a 3×3 kernel over 3 channels), the input
/// channels of the 1×1 convolution v6 runs over them.
const STEM_K: usize = 32;

/// `IPDPP_STEM_IM2COL=1`: the bf16 forward of a convolution v6 does not take for its few input channels
/// (the stem) runs as im2col + a v6 1×1 convolution ([`im2col_stem`]); read once. Off by default until a
/// GPU validates `im2col_bf16_f32` (on an H200, 2026-11-27, the stem's forward on v3 took 0.9 of 55.8 ms).
fn stem_im2col_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_STEM_IM2COL").is_ok_and(|v| v.trim() == "1"))
}

/// The 1×1 shape over im2col columns at which a bf16 forward that v6 does not take (fewer than 32 input
/// channels) runs when `IPDPP_STEM_IM2COL=1`: its kh·kw·c taps fit [`STEM_K`] columns and v6 fits the
/// shape.
fn im2col_stem(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> Option<ConvSpec> {
    if !stem_im2col_on() || !matches!(v, TcVersion::V6 | TcVersion::V7) {
        return None;
    }
    im2col_shape(d, p, s)
}

/// [`im2col_stem`]'s shape whatever the environment asks.
fn im2col_shape(d: &CudaDevice, p: ConvPrecision, s: &ConvSpec) -> Option<ConvSpec> {
    if p != ConvPrecision::Bf16 || conv_tc6::takes("fwd", s, p) || s.kdim() > STEM_K {
        return None;
    }
    let sp = ConvSpec::new(s.n, s.oh(), s.ow(), STEM_K, s.o, 1, 1, 0);
    runs_v6(d, TcVersion::V6, p, "fwd", &sp).then_some(sp)
}

/// The bf16 forward at `s` as im2col + a v6 1×1 convolution (what `conv_fwd_kept` runs for the stem
/// under `IPDPP_STEM_IM2COL=1`), whatever the environment asks: x's bf16 im2col built in `xk`'s buffer,
/// the weights padded to [`STEM_K`] columns in `wk`'s (the same products and sums as the convolution,
/// with zeros in the extra columns), both left stale (they hold no copy of x or w). An error where the
/// shape does not qualify (v6 takes it directly, or its taps exceed 32 columns).
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_im2col_v6(
    d: &CudaDevice,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    stats: Option<(&mut BnPartials, usize)>,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    let p = ConvPrecision::Bf16;
    let sp = im2col_shape(d, p, s).ok_or_else(|| {
        Error::usage(format!(
            "conv {s:?}: the im2col forward is for bf16 convolutions v6 does not take with at most {STEM_K} taps x channels"
        ))
    })?;
    fwd_v6_on_filled(d, xk, wk, stats, y, &sp, |col, wp| {
        super::conv::im2col_bf16_f32(d, col, x, s, STEM_K)?;
        super::elementwise::pad_channels_bf16_f32(d, wp, w, s.o, s.kdim(), STEM_K)
    })
}

/// The bf16 v6 forward at `sp` (plain, or with the batch-norm partials) over operands that `fill` writes
/// into `xk`'s and `wk`'s buffers (sp's x and w lengths); both copies are left stale after, since they
/// then hold no copy of the network's x or w (the stem's im2col and padded forwards).
fn fwd_v6_on_filled(
    d: &CudaDevice,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    stats: Option<(&mut BnPartials, usize)>,
    y: &mut CudaSlice<f32>,
    sp: &ConvSpec,
    fill: impl FnOnce(&mut CudaSlice<u16>, &mut CudaSlice<u16>) -> Result<()>,
) -> Result<()> {
    let p = ConvPrecision::Bf16;
    on_filled(d, xk, wk, sp, fill, |xb, wb| match stats {
        Some((out, groups)) => conv_tc6::conv_fwd_v6_stats(d, p, y, xb, wb, sp, groups, out),
        None => conv_tc6::conv_fwd_v6(d, p, y, xb, wb, sp),
    })
}

/// `run` on the copies `xk` and `wk` once `fill` wrote them at `sp`'s sizes (operands padded or
/// rearranged, not x's and w's copies), which are left stale after.
fn on_filled<R>(
    d: &CudaDevice,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    sp: &ConvSpec,
    fill: impl FnOnce(&mut CudaSlice<u16>, &mut CudaSlice<u16>) -> Result<()>,
    run: impl FnOnce(&CudaSlice<u16>, &CudaSlice<u16>) -> Result<R>,
) -> Result<R> {
    let r = (|| {
        fill(xk.fill(d, sp.x_len())?, wk.fill(d, sp.w_len())?)?;
        run(
            xk.current().expect("filled above"),
            wk.current().expect("filled above"),
        )
    })();
    xk.stale();
    wk.stale();
    r
}

/// The shape a bf16 or tf32 forward with fewer than 8 input channels (the 3-channel stem) runs at on v6 with its
/// input's and weights' channels padded to 8 (v6 gathers 8 channels, four taps, a k-tile row), unless
/// `IPDPP_STEM_IM2COL=1` asks for the im2col form or `IPDPP_V6_NARROW=0` keeps narrow channels off v6.
/// On an H200 (2026-11-27) the stem's forward on v3 took 0.9 of 55.8 ms (ResNet-18) and 0.76 of 31.9 ms
/// (ResNet-32).
fn padded_stem_fwd(
    d: &CudaDevice,
    v: TcVersion,
    p: ConvPrecision,
    s: &ConvSpec,
) -> Option<ConvSpec> {
    if p == ConvPrecision::Fp32
        || !matches!(v, TcVersion::V6 | TcVersion::V7)
        || s.c >= 8
        || im2col_stem(d, v, p, s).is_some()
    {
        return None;
    }
    let sp = ConvSpec { c: 8, ..*s };
    runs_v6(d, TcVersion::V6, p, "fwd", &sp).then_some(sp)
}

/// The bf16 or tf32 forward at `s` on v6 over channels padded to 8 (what `conv_fwd_kept` runs for the
/// stem by default), whatever the environment asks: in bf16 x padded and cast into `xk`'s buffer, the
/// weights into `wk`'s, both left stale (they hold no copy of x or w); in tf32 both padded into scratch
/// buffers. Zeros in the extra channels: the same products and sums as the convolution. An error where
/// the shape does not qualify (8 or more channels, or v6 does not run the padded shape here).
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_padded_v6(
    d: &CudaDevice,
    p: ConvPrecision,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    stats: Option<(&mut BnPartials, usize)>,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    let sp = ConvSpec { c: 8, ..*s };
    if s.c >= 8 || p == ConvPrecision::Fp32 || !runs_v6(d, TcVersion::V6, p, "fwd", &sp) {
        return Err(Error::usage(format!(
            "conv {s:?}: the padded forward is for bf16 and tf32 convolutions with fewer than 8 input \
             channels whose 8-channel shape v6 runs on this GPU"
        )));
    }
    if p == ConvPrecision::Tf32 {
        let mut xp = d.scratch(sp.x_len())?;
        let mut wp = d.scratch(sp.w_len())?;
        super::elementwise::pad_channels_f32(d, &mut xp, x, s.n * s.h * s.w, s.c, sp.c)?;
        super::elementwise::pad_channels_f32(d, &mut wp, w, s.o * s.kh * s.kw, s.c, sp.c)?;
        return match stats {
            Some((out, groups)) => {
                conv_tc6::conv_fwd_v6_stats(d, p, y, &*xp, &*wp, &sp, groups, out)
            }
            None => conv_tc6::conv_fwd_v6(d, p, y, &*xp, &*wp, &sp),
        };
    }
    fwd_v6_on_filled(d, xk, wk, stats, y, &sp, |xp, wp| {
        super::elementwise::pad_channels_bf16_f32(d, xp, x, s.n * s.h * s.w, s.c, sp.c)?;
        super::elementwise::pad_channels_bf16_f32(d, wp, w, s.o * s.kh * s.kw, s.c, sp.c)
    })
}

/// Whether a network's forward at `s` runs on v6 over channels padded to 8 (for reports).
pub fn stem_fwd_runs_padded(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> bool {
    padded_stem_fwd(d, v, p, s).is_some()
}

/// Whether a network's forward at `s` runs as im2col + a v6 1×1 convolution (for reports).
pub fn stem_fwd_runs_im2col(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> bool {
    im2col_stem(d, v, p, s).is_some()
}

/// The shape a bf16 (tf32) grad-weight with fewer than 8 (4) input channels, the 3-channel stem, runs at
/// on v6 with its input's channels padded to 8 (4), when v6 takes and fits that shape but not the
/// original. On an H200 (2026-11-27) the stem's grad-weight on v3 took 2.4 of a 60 ms ResNet-18 bf16
/// step, and 2.4 of 100 ms in tf32.
fn padded_stem(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> Option<ConvSpec> {
    let cp = match p {
        ConvPrecision::Bf16 => 8,
        ConvPrecision::Tf32 => 4,
        ConvPrecision::Fp32 => return None,
    };
    if !matches!(v, TcVersion::V6 | TcVersion::V7) || s.c >= cp {
        return None;
    }
    let sp = ConvSpec { c: cp, ..*s };
    (!conv_tc6::takes("bwd_weight", s, p) && runs_v6(d, TcVersion::V6, p, "bwd_weight", &sp))
        .then_some(sp)
}

/// Whether `conv_bwd_kept` at `s` (with a grad-input when `need_gx`) reads the output gradient only through
/// its bf16 copy when that copy is fresh: every product it launches is v6/v7 bf16 (or the padded stem's
/// grad-weight). Then a kernel that writes the copy need not write the fp32 gradient (the v3 tails).
pub fn bwd_reads_gy_copy_only(
    d: &CudaDevice,
    v: TcVersion,
    p: ConvPrecision,
    s: &ConvSpec,
    need_gx: bool,
) -> bool {
    if p != ConvPrecision::Bf16 {
        return false;
    }
    if !need_gx && padded_stem(d, v, p, s).is_some() {
        return true;
    }
    let on_copy = |op| on_bf16_copies(d, v, p, op, s);
    on_copy("bwd_weight") && (!need_gx || on_copy("bwd_input"))
}

/// Whether `op` at `s` runs on v6 or v7, the kernels that read the bf16 copies of their operands.
fn on_bf16_copies(d: &CudaDevice, v: TcVersion, p: ConvPrecision, op: &str, s: &ConvSpec) -> bool {
    runs_v6(d, v, p, op, s) || runs_v7(d, v, p, op, s)
}

/// Whether the forward (`conv_fwd_kept`) and grad-weight (`conv_bwd_kept`) at `s` read the input only
/// through its bf16 copy: both run on v6/v7 bf16. Then the kernel writing the copy need not write the fp32
/// input (the v3 BN+ReLU tails).
pub fn reads_x_copy_only(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> bool {
    let on_copy = |op| on_bf16_copies(d, v, p, op, s);
    p == ConvPrecision::Bf16 && on_copy("fwd") && on_copy("bwd_weight")
}

/// Whether a network's grad-weight at `s` (`conv_bwd_kept` without a grad-input) runs on v6 with the
/// input's channels padded (for reports).
pub fn stem_runs_padded(d: &CudaDevice, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> bool {
    padded_stem(d, v, p, s).is_some()
}

/// The channels [`stem_runs_padded`] pads the input to, where it does (for reports).
pub fn stem_padded_channels(
    d: &CudaDevice,
    v: TcVersion,
    p: ConvPrecision,
    s: &ConvSpec,
) -> Option<usize> {
    padded_stem(d, v, p, s).map(|sp| sp.c)
}

/// Grad-weight at `s` through v6 at the padded shape `sp`: in bf16 x padded and cast into `xk`'s buffer
/// (left stale after: it holds no copy of x), gy's copy from `gyk` (cast now unless `gy_fresh`); in tf32 x
/// padded into a scratch buffer and gy itself; the padded gradient cut back into gw.
#[allow(clippy::too_many_arguments)]
fn stem_bwd_weight_v6(
    d: &CudaDevice,
    p: ConvPrecision,
    xk: &mut Bf16Copy,
    gyk: &mut Bf16Copy,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<f32>,
    x: &CudaSlice<f32>,
    s: &ConvSpec,
    sp: &ConvSpec,
    gy_fresh: bool,
) -> Result<()> {
    let rows = s.n * s.h * s.w;
    if p == ConvPrecision::Tf32 {
        let mut xp = d.scratch(rows * sp.c)?;
        super::elementwise::pad_channels_f32(d, &mut xp, x, rows, s.c, sp.c)?;
        let mut gwp = d.scratch(sp.w_len())?; // zeroed by the grad-weight launcher
        conv_tc6::conv_bwd_weight_v6(d, p, &mut gwp, gy, &xp, sp)?;
        return super::elementwise::unpad_channels_f32(d, gw, &gwp, s.o * s.kh * s.kw, s.c, sp.c);
    }
    if !gy_fresh {
        gyk.stale();
    }
    let gyb = gyk.get(d, gy)?;
    let r = (|| {
        let xp = xk.fill(d, rows * sp.c)?;
        super::elementwise::pad_channels_bf16_f32(d, xp, x, rows, s.c, sp.c)?;
        let mut gwp = d.scratch(sp.w_len())?; // zeroed by the grad-weight launcher
        conv_tc6::conv_bwd_weight_v6(d, p, &mut gwp, gyb, xp, sp)?;
        super::elementwise::unpad_channels_f32(d, gw, &gwp, s.o * s.kh * s.kw, s.c, sp.c)
    })();
    xk.stale();
    r
}

/// Whether [`conv_bwd_kept`]'s grad-input of `s` can add into gx (`gx_add`): the bf16 and tf32 v6 and v7
/// kernels, whose epilogues add to what gx holds, saving the network a scratch buffer and an add pass.
pub fn bwd_input_adds(dev: &Device, v: TcVersion, p: ConvPrecision, s: &ConvSpec) -> bool {
    match dev {
        Device::Cuda(d) if p != ConvPrecision::Fp32 => {
            padded_stem(d, v, p, s).is_none()
                && (runs_v6(d, v, p, "bwd_input", s) || runs_v7(d, v, p, "bwd_input", s))
        }
        _ => false,
    }
}

/// Grad-weight and (when `gx` is given) grad-input of a layer run by [`conv_fwd_kept`]: under v6, gy is
/// cast once into `gyk` (marked stale here first, unless `gy_fresh`: the caller's kernel that wrote gy
/// wrote its copy too, the v3 batch-norm tails) for both GEMMs, and x and w come from their copies; under
/// v7 the grad-input reads the transposed weights `wtk`, made from w's copy once per weight update (tf32:
/// `wt32`, from w itself).
/// `gx_add`: the grad-input is added to gx (only where [`bwd_input_adds`]). With `gx16`, where the bf16
/// v6 or v7 grad-input runs at stride 1 and does not add, gx is stored only as bf16 into `gx16` and the
/// result is Ok(true) (gx itself not written); else Ok(false).
#[allow(clippy::too_many_arguments)]
pub fn conv_bwd_kept(
    dev: &Device,
    p: ConvPrecision,
    v: TcVersion,
    xk: &mut Bf16Copy,
    wk: &mut Bf16Copy,
    wtk: &mut Bf16Copy,
    wt32: &mut DevCopy<f32>,
    gyk: &mut Bf16Copy,
    gw: &mut Buffer,
    mut gx: Option<&mut Buffer>,
    gy: &Buffer,
    x: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
    gy_fresh: bool,
    gx_add: bool,
    gx16: Option<&mut Bf16Copy>,
) -> Result<bool> {
    if gx_add && !(gx.is_some() && bwd_input_adds(dev, v, p, s)) {
        return Err(Error::usage(
            "conv backward: adding into gx needs the bf16 or tf32 v6/v7 grad-input (bwd_input_adds)",
        ));
    }
    if let (Device::Cuda(d), Buffer::Cuda(gwc), Buffer::Cuda(gyc), Buffer::Cuda(xc), None) =
        (dev, &mut *gw, gy, x, &gx)
    {
        if let Some(sp) = padded_stem(d, v, p, s) {
            return timed(Part::GradWeight, || {
                stem_bwd_weight_v6(d, p, xk, gyk, gwc, gyc, xc, s, &sp, gy_fresh)
            })
            .map(|()| false);
        }
    }
    // tf32 grad-input on v7 or v6: the fp32 tensors themselves (v7: the weights transposed once per
    // update, `wt32`), adding into gx with `gx_add`; the grad-weight by [`conv_bwd_weight`] (v7 or v6).
    if let (Device::Cuda(d), Some(Buffer::Cuda(gxc)), Buffer::Cuda(gyc), Buffer::Cuda(wc)) =
        (dev, gx.as_mut(), gy, w)
    {
        if p == ConvPrecision::Tf32 && runs_v7(d, v, p, "bwd_input", s) {
            if !wt32.is_fresh() {
                conv_wgmma::conv_weight_t_f32(d, wt32.fill(d, s.w_len())?, wc, s)?;
            }
            let wt = wt32
                .current()
                .ok_or_else(|| Error::usage("transposed weights missing"))?;
            timed(Part::GradInput, || {
                conv_wgmma::conv_bwd_input_v7(d, gxc, gyc, wt, s, gx_add)
            })?;
            timed(Part::GradWeight, || {
                conv_bwd_weight(dev, p, v, gw, gy, x, s)
            })?;
            return Ok(false);
        }
        if p == ConvPrecision::Tf32 && gx_add && runs_v6(d, v, p, "bwd_input", s) {
            timed(Part::GradInput, || {
                conv_tc6::conv_bwd_input_v6(d, p, gxc, gyc, wc, s, true)
            })?;
            timed(Part::GradWeight, || {
                conv_bwd_weight(dev, p, v, gw, gy, x, s)
            })?;
            return Ok(false);
        }
    }
    // The copies are for bf16; tf32 reads the fp32 tensors themselves (the plain launchers).
    let bf16 = p == ConvPrecision::Bf16;
    let (wv6, wv7, iv6, iv7) = match dev {
        Device::Cuda(d) if bf16 => (
            runs_v6(d, v, p, "bwd_weight", s),
            runs_v7(d, v, p, "bwd_weight", s),
            gx.is_some() && runs_v6(d, v, p, "bwd_input", s),
            gx.is_some() && runs_v7(d, v, p, "bwd_input", s),
        ),
        _ => (false, false, false, false),
    };
    if !gy_fresh {
        gyk.stale();
    }
    match (dev, gw, gy, x, w) {
        (
            Device::Cuda(d),
            Buffer::Cuda(gwc),
            Buffer::Cuda(gyc),
            Buffer::Cuda(xc),
            Buffer::Cuda(wc),
        ) if wv6 || wv7 || iv6 || iv7 => {
            let gyb = gyk.get(d, gyc)?;
            timed(Part::GradWeight, || {
                if wv7 {
                    conv_wgmma::conv_bwd_weight_v7(d, gwc, gyb, xk.get(d, xc)?, s)
                } else if wv6 {
                    conv_tc6::conv_bwd_weight_v6(d, p, gwc, gyb, xk.get(d, xc)?, s)
                } else {
                    conv_bwd_weight_tc(d, p, v, gwc, gyc, xc, s)
                }
            })?;
            if iv7 && !wtk.is_fresh() {
                let wb = wk.get(d, wc)?;
                conv_wgmma::conv_weight_t_bf16(d, wtk.fill(d, s.w_len())?, wb, s)?;
            }
            let stride1_16 = !gx_add && s.stride == 1 && gx16.is_some();
            let Some(gx) = gx else { return Ok(false) };
            // Ok(true): gx stored as bf16 alone into `gx16` (stride 1, not adding).
            timed(Part::GradInput, || match gx {
                Buffer::Cuda(_) if iv7 && stride1_16 && v7_out16_on() => {
                    let wt = wtk
                        .current()
                        .ok_or_else(|| Error::usage("transposed weights missing"))?;
                    let g16 = gx16.expect("matched above").fill(d, s.x_len())?;
                    conv_wgmma::conv_bwd_input_v7_16(d, g16, gyb, wt, s).map(|()| true)
                }
                Buffer::Cuda(gx) if iv7 => {
                    let wt = wtk
                        .current()
                        .ok_or_else(|| Error::usage("transposed weights missing"))?;
                    conv_wgmma::conv_bwd_input_v7(d, gx, gyb, wt, s, gx_add).map(|()| false)
                }
                Buffer::Cuda(_) if iv6 && stride1_16 => {
                    let g16 = gx16.expect("matched above").fill(d, s.x_len())?;
                    conv_tc6::conv_bwd_input_v6_16(d, g16, gyb, wk.get(d, wc)?, s, None)
                        .map(|()| true)
                }
                Buffer::Cuda(gx) if iv6 => {
                    conv_tc6::conv_bwd_input_v6(d, p, gx, gyb, wk.get(d, wc)?, s, gx_add)
                        .map(|()| false)
                }
                Buffer::Cuda(gx) => conv_bwd_input_tc(d, p, v, gx, gyc, wc, s).map(|()| false),
                Buffer::Cpu(_) => Err(mismatch("conv_bwd_input")),
            })
        }
        (_, gw, gy, x, w) => {
            timed(Part::GradWeight, || {
                conv_bwd_weight(dev, p, v, gw, gy, x, s)
            })?;
            match gx {
                Some(gx) => timed(Part::GradInput, || conv_bwd_input(dev, p, v, gx, gy, w, s)),
                None => Ok(()),
            }
            .map(|()| false)
        }
    }
}
