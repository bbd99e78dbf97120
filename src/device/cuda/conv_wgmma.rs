//! Launchers for kernels/conv_wgmma.cu: the v7 convolutions on Hopper warpgroup MMA (sm_90a), fp32 outputs
//! (or, in bf16, the forward with statistics and the stride-1 grad-input stored as bf16 for the v4/v5
//! batch-norm tails: [`conv_fwd_v7_stats16`], [`conv_bwd_input_v7_16`]), on bf16 operands (the v6 bf16 copies: `CudaSlice<u16>`) or, in tf32, on the fp32 tensors themselves
//! (`CudaSlice<f32>`; the tensor cores read the upper 19 bits of each word): the forward, the grad-input from
//! the transposed weights ([`conv_weight_t_bf16`], [`conv_weight_t_f32`]; stride > 1 by residue classes of
//! input pixels) and the grad-weight, split over pixels (bf16: MN-major operands copied as they lie; tf32,
//! whose wgmma takes K-major operands alone: copied through registers and stored transposed, [`Pipe::Rs2`]).
use super::conv::dims;
use super::conv_tc::ConvPrecision;
use super::conv_tc6::{launch_bwd_weight, launch_bwd_weight_per, launch_fwd, BnPartials};
use super::{check_len, launch_err, wgmma, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

const FILE: &str = "conv_wgmma";
/// Mirrors C7_BM in kernels/conv_wgmma.cu.
const BM: usize = 128;

/// The v7 tile for `o` output columns: (entry-point tag, block columns).
fn tile(o: usize) -> (&'static str, usize) {
    if o > 64 {
        ("n128", 128)
    } else {
        ("n64", 64)
    }
}

/// A v7 pipeline: k-tile depth and ring stages of the `_k{BK}s{STAGES}` entry points. Both run the same
/// MMA steps in the same order, so they give the same sums; they differ in shared memory (blocks per SM)
/// and barriers per MMA, which only a GPU can weigh: by default the launcher times both on first use of a
/// shape and keeps the faster ([`super::tune`]); `IPDPP_V7_PIPE=k64s4|k32s5` forces one where it applies.
/// The depths are bf16's; tf32's k-tiles have the same bytes per row (128 or 64), so half the channels:
/// `_k32s4` and `_k16s5` ([`Pipe::tag_for`]; either spelling forces a pipeline). The `_m256` pipelines run
/// the same k-steps on tiles of 256 rows (each warpgroup two m64 tiles: per MMA a quarter fewer bytes
/// copied at 128 columns, a sixth fewer at 64) for the forward, grad-input and (since 2026-11-28, not yet
/// validated on a GPU) the bf16 grad-weight; the same sums again, so the tuner may pick them too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipe {
    /// 64-deep k-tiles, 4 stages (96-128 KB): half the barriers per MMA, 128-byte rows per copy.
    K64S4,
    /// 32-deep k-tiles, 5 stages (60-80 KB): two or three blocks per SM. (6 stages made ptxas serialise the
    /// grad-weight's MMAs, C7515.)
    K32S5,
    /// K64S4 on tiles of 256 rows (161-194 KB).
    K64S4M256,
    /// K32S5 on tiles of 256 rows (101-121 KB).
    K32S5M256,
    /// The tf32 grad-weight's pipeline (not in [`Pipe::ALL`]): k-tiles of 32 pixels copied through
    /// registers and stored transposed (K-major), two stages (49-65 KB).
    Rs2,
    /// [`Pipe::Rs2`] on tiles of 256 rows with one register set (a k-tile's loads land during the next
    /// tile's MMAs, twice as many per tile): 1.4× (n128) / 1.2× (n64) fewer bytes copied per MMA, where
    /// the tf32 grad-weight reads about twice the forward's time on an H200 (2026-11-28); 81-97 KB. The same
    /// k-steps per element, so the same sums as Rs2; the tuner picks between them.
    Rs1M256,
    /// The stride-1 3×3 forward and grad-input with the block's A operand resident (kernels/conv_wgmma.cu
    /// `_halo`; written without a GPU, 2026-11-28): GEMM rows on the zero-padded grid, each tap a shift of
    /// the row index, the window of a block's rows copied once instead of nine times through im2col (the
    /// first v7 ran at 74 % of the H200's L2 throughput at ResNet-18's layer 1); K64S4's k-steps, so the same
    /// sums; the rows on the padding are computed and dropped. 128-row tiles. For the bf16 grad-weight
    /// (written without a GPU on 2026-11-28; the shapes of [`gw_halo_takes`]): a block holds a 64 × 64
    /// tile of all nine taps (three warpgroups) and walks output rows or whole small images, copying each
    /// x row once for its nine taps ([`conv_bwd_weight_v7_halo_split`]); its sums come in another order
    /// than the pixel-split pipelines' (rounding apart, the same).
    Halo,
    /// [`Pipe::Halo`] on tiles of 256 rows.
    HaloM256,
}

impl Pipe {
    pub const ALL: [Pipe; 4] = [Pipe::K64S4, Pipe::K32S5, Pipe::K64S4M256, Pipe::K32S5M256];
    pub fn tag(self) -> &'static str {
        match self {
            Pipe::K64S4 => "k64s4",
            Pipe::K32S5 => "k32s5",
            Pipe::K64S4M256 => "k64s4_m256",
            Pipe::K32S5M256 => "k32s5_m256",
            Pipe::Rs2 => "rs2",
            Pipe::Rs1M256 => "rs1_m256",
            Pipe::Halo => "halo",
            Pipe::HaloM256 => "halo_m256",
        }
    }
    /// The entry-point tag in precision `p` (tf32: half the depth of the same bytes).
    pub fn tag_for(self, p: ConvPrecision) -> &'static str {
        match (self, p == ConvPrecision::Tf32) {
            (Pipe::K64S4, true) => "k32s4",
            (Pipe::K32S5, true) => "k16s5",
            (Pipe::K64S4M256, true) => "k32s4_m256",
            (Pipe::K32S5M256, true) => "k16s5_m256",
            _ => self.tag(),
        }
    }
    /// k-tile depth in bf16 elements (128 or 64 bytes a row).
    fn bk(self) -> usize {
        match self {
            Pipe::K64S4
            | Pipe::K64S4M256
            | Pipe::Rs2
            | Pipe::Rs1M256
            | Pipe::Halo
            | Pipe::HaloM256 => 64,
            Pipe::K32S5 | Pipe::K32S5M256 => 32,
        }
    }
    /// Rows of a block tile.
    fn bm(self) -> usize {
        match self {
            Pipe::K64S4M256 | Pipe::K32S5M256 | Pipe::Rs1M256 | Pipe::HaloM256 => 2 * BM,
            _ => BM,
        }
    }
    /// k-tile depth in elements of precision `p`.
    fn depth(self, p: ConvPrecision) -> usize {
        if p == ConvPrecision::Tf32 {
            self.bk() / 2
        } else {
            self.bk()
        }
    }
    fn stages(self) -> usize {
        match self {
            Pipe::Rs2 | Pipe::Rs1M256 => 2,
            Pipe::K64S4 | Pipe::K64S4M256 | Pipe::Halo | Pipe::HaloM256 => 4,
            Pipe::K32S5 | Pipe::K32S5M256 => 5,
        }
    }
    /// Dynamic shared memory of the ring for a tile of `cols` output columns, plus 1 KB to start it on a
    /// 1024-byte boundary (the swizzle pattern's repeat); the same in tf32 (rows of the same bytes).
    fn smem(self, cols: usize) -> usize {
        self.stages() * (self.bm() + tile(cols).1) * self.bk() * 2 + 1024
    }
    fn halo(self) -> bool {
        matches!(self, Pipe::Halo | Pipe::HaloM256)
    }
    /// Dynamic shared memory of `op` at `s` in precision `p`: [`Pipe::smem`], or for the halo pipelines
    /// the B ring plus the window (mirrors C7Halo::bytes: 16-byte chunks of the A channels as planes of
    /// the window's rows, 128 MW + 2 (W + 3), each plane padded to an odd multiple of 64 bytes).
    fn smem_at(self, op: &str, s: &ConvSpec, p: ConvPrecision) -> usize {
        let cols = cols(op, s);
        if !self.halo() {
            return self.smem(cols);
        }
        if op == "bwd_weight" {
            return gw_halo_smem(s);
        }
        let ca = if op == "bwd_input" { s.o } else { s.c };
        let per_chunk = if p == ConvPrecision::Tf32 { 4 } else { 8 };
        let rows = self.bm() + 2 * (s.w + 3);
        let lbo = (rows * 16).div_ceil(128) * 128 + 64;
        self.stages() * tile(cols).1 * 128 + 1024 + ca / per_chunk * lbo
    }
}

/// Row tiles per view of a halo pipeline: the zero-padded grid of the view's images, `pipe.bm()` rows a
/// tile (mirrors C7Halo).
fn halo_tiles(s: &ConvSpec, pipe: Pipe, views: usize) -> usize {
    (s.n / views.max(1) * (s.h + 2) * (s.w + 2)).div_ceil(pipe.bm())
}

/// Whether the halo pipelines take `op` at `s` in precision `p`: a 3×3 stride-1 pad-1 forward or
/// grad-input whose A channels fill whole 128-byte k-tiles, and `IPDPP_V7_HALO` not 0.
fn halo_takes(op: &str, s: &ConvSpec, p: ConvPrecision) -> bool {
    let ca = match op {
        "fwd" => s.c,
        "bwd_input" => s.o,
        _ => return false,
    };
    halo_on()
        && (s.kh, s.kw, s.stride, s.pad) == (3, 3, 1, 1)
        && ca % Pipe::Halo.depth(p) == 0
        && cols(op, s) % 2 == 0
}

/// Mirror C7GW_RX and C7GW_RG in kernels/conv_wgmma.cu: the halo grad-weight's x-row and gy-row slots.
const GW_HALO_RX: usize = 10;
const GW_HALO_RG: usize = 8;
/// Mirrors C7GWI_NB: the image-step buffers of the halo grad-weight on 8 × 8 and 4 × 4 images.
const GW_HALO_IMG_NB: usize = 4;
/// Threads of a halo grad-weight block: three warpgroups, one per kernel row.
const GW_HALO_THREADS: u32 = 384;

/// The halo grad-weight's entry point at `s` (3×3, pad 1) and its images a step (0: the row kernels,
/// whose steps are output rows): stride 1 on rows of 16 or 32 pixels (`_w16`, `_w32`) or whole images of
/// 8 × 8 (`_img8`, one a step) and 4 × 4 (`_img4`, four); stride 2 from rows of 32 pixels (`_s2w32`, H
/// even: ResNet-18/34's layer2.0.conv1); None elsewhere.
fn gw_halo_kernel(s: &ConvSpec) -> Option<(&'static str, usize)> {
    match (s.stride, s.h, s.w) {
        (1, _, 32) => Some(("conv_bwd_weight_v7_bf16_n64_halo_w32", 0)),
        (1, _, 16) => Some(("conv_bwd_weight_v7_bf16_n64_halo_w16", 0)),
        (1, 8, 8) => Some(("conv_bwd_weight_v7_bf16_n64_halo_img8", 1)),
        (1, 4, 4) => Some(("conv_bwd_weight_v7_bf16_n64_halo_img4", 4)),
        (2, h, 32) if h % 2 == 0 => Some(("conv_bwd_weight_v7_bf16_n64_halo_s2w32", 0)),
        _ => None,
    }
}

/// Dynamic shared memory of the halo grad-weight at `s`: its x-row slots (W + 2 positions of 64 channels)
/// and gy-row slots (W positions); or its image buffers (per image three x copies of (H + 2) W positions
/// and gy's H W).
fn gw_halo_smem(s: &ConvSpec) -> usize {
    match gw_halo_kernel(s) {
        Some((_, g)) if g > 0 => GW_HALO_IMG_NB * g * 128 * (3 * (s.h + 2) * s.w + s.h * s.w),
        _ => 128 * (GW_HALO_RX * (s.w + 2) + GW_HALO_RG * s.ow()),
    }
}

/// Whether the halo grad-weight takes `s` (bf16): 3×3 pad 1, C and O % 64 (a block's 64 × 64 tile), a
/// stride and width it has an entry point for (`gw_halo_kernel`: stride 1 with W = 16 or 32, or 8 × 8
/// and 4 × 4 images; stride 2 from W = 32), and neither `IPDPP_V7_HALO` nor `IPDPP_V7_GW_HALO` 0.
pub fn gw_halo_takes(s: &ConvSpec) -> bool {
    halo_on()
        && gw_halo_on()
        && (s.kh, s.kw, s.pad) == (3, 3, 1)
        && s.c % 64 == 0
        && s.o % 64 == 0
        && gw_halo_kernel(s).is_some()
}

/// `IPDPP_V7_GW_HALO=0`, read once, keeps the halo grad-weight (written without a GPU, 2026-11-28) out of
/// v7's candidates, the halo forward and grad-input staying in (`tools/gpu-run.sh` sets it where its test
/// fails).
fn gw_halo_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_GW_HALO").map_or(true, |v| v.trim() != "0"))
}

/// `IPDPP_V7_HALO=0`, read once, keeps the halo pipelines (written without a GPU, 2026-11-28) out of v7's
/// candidates.
fn halo_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_HALO").map_or(true, |v| v.trim() != "0"))
}

impl std::str::FromStr for Pipe {
    type Err = Error;
    fn from_str(v: &str) -> Result<Self> {
        let v = v.trim().to_ascii_lowercase();
        Pipe::ALL
            .into_iter()
            .chain([Pipe::Rs2, Pipe::Rs1M256, Pipe::Halo, Pipe::HaloM256])
            .find(|p| p.tag() == v || p.tag_for(ConvPrecision::Tf32) == v)
            .ok_or_else(|| {
                Error::usage(format!(
                    "unknown v7 pipeline {v:?}; use k64s4 or k32s5 (tf32: k32s4 or k16s5), \
                     optionally with _m256 (rs2, rs1_m256: the tf32 grad-weight's; halo, halo_m256: \
                     the stride-1 3x3 forward and grad-input's, halo also the bf16 grad-weight's)"
                ))
            })
    }
}

/// `IPDPP_V7_PIPE`, read once: a pipeline to use wherever it applies, or None (pick by speed).
fn forced() -> Option<Pipe> {
    static V: std::sync::OnceLock<Option<Pipe>> = std::sync::OnceLock::new();
    *V.get_or_init(|| match std::env::var("IPDPP_V7_PIPE") {
        Err(_) => None,
        Ok(v) if v.trim().is_empty() || v.trim() == "auto" => None,
        Ok(v) => match v.parse() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("warning: IPDPP_V7_PIPE: {e}; v7 picks by speed");
                None
            }
        },
    })
}

/// The pipelines of v7's `op` at `s` in precision `p` (shape only): the deep ones need whole k-tiles inside
/// one tap (bf16 forward C % 64 == 0, grad-input O % 64 == 0; tf32 32; grad-weight k-tiles are pixels);
/// tiles of 128 or 256 rows each (the bf16 grad-weight's `_m256` since 2026-11-28, not yet validated on a
/// GPU); the tf32 grad-weight has [`Pipe::Rs2`] and [`Pipe::Rs1M256`].
pub fn pipes(op: &str, s: &ConvSpec, p: ConvPrecision) -> Vec<Pipe> {
    let tall = op != "bwd_weight" || gw_m256_on();
    if op == "bwd_weight" && p == ConvPrecision::Tf32 {
        return if tall {
            vec![Pipe::Rs2, Pipe::Rs1M256]
        } else {
            vec![Pipe::Rs2]
        };
    }
    let deep = Pipe::K64S4.depth(p);
    let whole = match op {
        "fwd" => s.c % deep == 0,
        "bwd_input" => s.o % deep == 0,
        _ => true,
    };
    let mut v: Vec<Pipe> = Pipe::ALL
        .into_iter()
        .filter(|&q| whole || q.bk() == 32)
        .filter(|&q| tall || q.bm() == BM)
        .collect();
    if halo_takes(op, s, p) {
        v.extend([Pipe::Halo, Pipe::HaloM256]);
    }
    if op == "bwd_weight" && gw_halo_takes(s) {
        v.push(Pipe::Halo);
    }
    v
}

/// `IPDPP_V7_GW_M256=0`, read once, keeps the grad-weight's 256-row tiles (bf16 `_m256`, tf32 `_rs1_m256`;
/// written without a GPU, 2026-11-28) out of v7's candidates (`tools/gpu-run.sh` sets it where their test
/// fails).
fn gw_m256_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_GW_M256").map_or(true, |v| v.trim() != "0"))
}

/// The output columns of `op` (the GEMM's N).
fn cols(op: &str, s: &ConvSpec) -> usize {
    if op == "bwd_input" {
        s.c
    } else {
        s.o
    }
}

/// The pipelines `dev` can launch for `op` at `s` (those whose ring fits its shared memory).
fn fitting(dev: &CudaDevice, op: &str, s: &ConvSpec, p: ConvPrecision) -> Vec<Pipe> {
    pipes(op, s, p)
        .into_iter()
        .filter(|q| q.smem_at(op, s, p) <= dev.smem_optin)
        .collect()
}

/// The epilogue of a v7 launch, which the tuning key tells apart: the bf16 stores move half the bytes of
/// the fp32 ones, so a pipeline picked for one need not be the faster for the other.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Epi {
    Plain,
    Stats,
    /// y or gx stored as bf16 (`ConvDims::out16`): the forward with statistics, the stride-1 grad-input.
    Out16,
}

/// The tuning key of `op` at `s` with epilogue `e`.
fn key(op: &str, e: Epi, s: &ConvSpec, p: ConvPrecision) -> String {
    let st = match (e, op) {
        (Epi::Plain, _) => "",
        (Epi::Stats, _) => "_stats",
        (Epi::Out16, "fwd") => "_stats16",
        (Epi::Out16, _) => "_16",
    };
    let tf = if p == ConvPrecision::Tf32 {
        "_tf32"
    } else {
        ""
    };
    format!("conv_{op}_v7{st}{tf} {s:?}")
}

/// The pipeline v7's `op` ran at `s` in precision `p` on `dev`: the forced one, or the one picked by speed
/// (None before the first launch at this shape).
pub fn pipe_used(
    dev: &CudaDevice,
    op: &str,
    stats: bool,
    s: &ConvSpec,
    p: ConvPrecision,
) -> Option<Pipe> {
    let e = if stats { Epi::Stats } else { Epi::Plain };
    super::tune::chosen(dev, &key(op, e, s, p), &fitting(dev, op, s, p), forced())
}

/// The precision of v7 operands of element type `T`: bf16 bits (u16) or fp32 words read as tf32.
fn precision_of<T>() -> ConvPrecision {
    if std::mem::size_of::<T>() == 4 {
        ConvPrecision::Tf32
    } else {
        ConvPrecision::Bf16
    }
}

/// Launches `op` at `s` with the forced pipeline, or the one tuned for this shape (timed now on the first
/// call); `launch(p)` writes the real outputs, so the timing runs compute them too.
fn run_picked(
    dev: &CudaDevice,
    op: &str,
    e: Epi,
    s: &ConvSpec,
    p: ConvPrecision,
    mut launch: impl FnMut(Pipe) -> Result<()>,
) -> Result<()> {
    let cands = fitting(dev, op, s, p);
    let k = key(op, e, s, p);
    let p = super::tune::choose(dev, &k, &cands, forced(), Pipe::tag, &mut launch)?.ok_or_else(|| {
        Error::usage(format!(
            "conv {op} v7: no pipeline fits this GPU's shared memory at {s:?}; run with IPDPP_CONV_TC=v6"
        ))
    })?;
    launch(p)
}

/// Whether v7 takes `op` ("fwd", "bwd_input", "bwd_weight") at `s` in precision `p`, shape only: a shallow
/// k-tile of the forward and grad-input stays inside one tap (forward: C % 32 == 0 in bf16, 16 in tf32;
/// grad-input: O likewise, any stride); a grad-weight chunk is 8 (bf16) or 4 (tf32: a float4 through
/// registers) channels of one tap and as many output channels.
pub fn takes(op: &str, s: &ConvSpec, p: ConvPrecision) -> bool {
    let nonempty = s.c > 0 && s.o > 0;
    let k = Pipe::K32S5.depth(p);
    match (op, p) {
        (_, ConvPrecision::Fp32) => false,
        ("fwd", _) => nonempty && s.c % k == 0,
        ("bwd_input", _) => nonempty && s.o % k == 0,
        ("bwd_weight", ConvPrecision::Bf16) => nonempty && s.c % 8 == 0 && s.o % 8 == 0,
        ("bwd_weight", ConvPrecision::Tf32) => {
            tf32_grad_weight_on() && nonempty && s.c % 4 == 0 && s.o % 4 == 0
        }
        _ => false,
    }
}

/// `IPDPP_V7_TF32_GW=0`, read once, leaves the tf32 grad-weight on v6 under v7 (its register-staged
/// kernels were written without a GPU: `tools/gpu-run.sh` turns them off alone where a test fails on them).
fn tf32_grad_weight_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V7_TF32_GW").map_or(true, |v| v.trim() != "0"))
}

/// Whether `dev` runs v7's `op` at `s` in precision `p`: a Hopper GPU, a shape v7 takes, tiles within
/// shared memory.
pub fn runs(dev: &CudaDevice, op: &str, s: &ConvSpec, p: ConvPrecision) -> bool {
    wgmma::available(dev) && takes(op, s, p) && !fitting(dev, op, s, p).is_empty()
}

/// Kernel, name and launch shape of v7's `op` in precision `p` with pipeline `pipe` over an `m` x `cols`
/// output.
fn plan(
    dev: &CudaDevice,
    op: &str,
    suffix: &str,
    s: &ConvSpec,
    m: usize,
    pipe: Pipe,
    p: ConvPrecision,
) -> Result<(cudarc::driver::CudaFunction, String, LaunchConfig)> {
    let cols = cols(op, s);
    if !runs(dev, op, s, p) {
        return Err(Error::usage(format!(
            "conv {op} v7 ({p}) needs a Hopper GPU (sm_90, this one is sm_{}{}) and a shape it takes \
             (forward C % 32 == 0 in bf16, 16 in tf32; grad-input O likewise; grad-weight C and O % 8, \
             tf32 4): \
             {s:?}; run with IPDPP_CONV_TC=v6",
            dev.cc.0, dev.cc.1
        )));
    }
    let (tag, bn) = tile(cols);
    let grid_y = if pipe.halo() {
        halo_tiles(s, pipe, 1)
    } else {
        m.div_ceil(pipe.bm())
    };
    if grid_y > 65535 {
        return Err(Error::usage(format!(
            "convolution {s:?}: {m} GEMM rows exceed one launch; lower the batch size"
        )));
    }
    let name = format!(
        "conv_{op}_v7_{}_{tag}_{}{suffix}",
        p.suffix(),
        pipe.tag_for(p)
    );
    let smem = pipe.smem_at(op, s, p);
    let f = dev.function(FILE, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let cfg = LaunchConfig {
        grid_dim: (cols.div_ceil(bn) as u32, grid_y as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    Ok((f, name, cfg))
}

/// An error unless `dev` runs v7's `op` at `s` in precision `p` and `pipe` is one of its candidates there
/// (the `_pipe` entry points: A/B runs and tests).
fn check_pipe(
    dev: &CudaDevice,
    op: &str,
    s: &ConvSpec,
    p: ConvPrecision,
    pipe: Pipe,
) -> Result<()> {
    if !runs(dev, op, s, p) || !fitting(dev, op, s, p).contains(&pipe) {
        return Err(Error::usage(format!(
            "conv {op} v7 pipeline {} does not apply to {s:?} in {p} on this GPU",
            pipe.tag_for(p)
        )));
    }
    Ok(())
}

/// y[n, oh, ow, o] = conv(x, w) from x (NHWC) and w (OHWI) on wgmma: bf16 copies (u16) or, in tf32, the
/// fp32 tensors.
pub fn conv_fwd_v7<T: DeviceRepr>(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    fwd(dev, y, x, w, s, None)
}

/// [`conv_fwd_v7`] with pipeline `pipe` (A/B runs and tests; an error where it does not apply).
pub fn conv_fwd_v7_pipe<T: DeviceRepr>(
    dev: &CudaDevice,
    pipe: Pipe,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    let p = precision_of::<T>();
    check_pipe(dev, "fwd", s, p, pipe)?;
    let planned = plan(dev, "fwd", "", s, s.n * s.oh() * s.ow(), pipe, p)?;
    launch_fwd(planned, dev, y, x, w, s, None, false)
}

/// [`conv_fwd_v7`] that also writes the batch-norm partials of y into `out` for `groups` equal row ranges
/// (the views) when every 128-row block lies inside one range (as `conv_fwd_v6_stats`); otherwise the plain
/// forward, `out` stale.
pub fn conv_fwd_v7_stats<T: DeviceRepr>(
    dev: &CudaDevice,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<()> {
    if !fwd_stats(dev, &mut *y, x, w, s, groups, out)? {
        return conv_fwd_v7(dev, y, x, w, s);
    }
    Ok(())
}

/// [`conv_fwd_v7_stats`] on bf16 operands storing y as bf16 into `y16` (`ConvDims::out16`: rounded to
/// nearest even, the partials those of the rounded values, as `conv_tc6::conv_fwd_v6_stats16`). Ok(false),
/// with nothing launched and `out` stale, where the statistics cannot be taken per row block: the caller
/// then runs the fp32 forward.
pub fn conv_fwd_v7_stats16(
    dev: &CudaDevice,
    y16: &mut CudaSlice<u16>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<bool> {
    fwd_stats(dev, y16, x, w, s, groups, out)
}

/// The `_stats` forward with its partials in `out` (y fp32, or bf16 as `u16`) where every 128-row block lies
/// inside one of `groups` equal row ranges; Ok(false), nothing launched and `out` stale, elsewhere.
fn fwd_stats<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<bool> {
    let shape = (s.n * s.oh() * s.ow(), BM, s.o);
    out.fill_blocks(dev, shape, groups, |sum, m2| {
        fwd(dev, y, x, w, s, Some((sum, m2, groups)))
    })
}

/// The forward launch, plain or (`stats` = the partial buffers of 128-row blocks and the views they lie in)
/// the `_stats` entry point; y fp32, or bf16 (`u16`: `_stats` only, checked by `launch_fwd`).
fn fwd<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    mut stats: Option<(&mut CudaSlice<f32>, &mut CudaSlice<f32>, usize)>,
) -> Result<()> {
    let suffix = if stats.is_some() { "_stats" } else { "" };
    let out16 = std::mem::size_of::<Y>() == 2;
    let e = match (out16, stats.is_some()) {
        (true, _) => Epi::Out16,
        (false, true) => Epi::Stats,
        (false, false) => Epi::Plain,
    };
    let m = s.n * s.oh() * s.ow();
    let prec = precision_of::<T>();
    run_picked(dev, "fwd", e, s, prec, |p| {
        let planned = plan(dev, "fwd", suffix, s, m, p, prec)?;
        match stats.as_mut() {
            Some((a, b, views)) if p.halo() => {
                launch_fwd_halo_stats(dev, planned, &mut *y, x, w, s, (a, b), *views, p, out16)
            }
            st => {
                let st = st.map(|(a, b, _)| (&mut **a, &mut **b));
                launch_fwd(planned, dev, &mut *y, x, w, s, st, out16)
            }
        }
    })
}

/// The halo forward with statistics: each block's partials over its tensor rows (sum, squares about its
/// mean, row count) into scratch, the blocks tiled per view (grid.z), then `conv_halo_stats_v7_f32`
/// combines them per view into `parts`'s layout of 128-row blocks (each block of a view the view's sum and
/// squares divided equally: the same totals for the batch-norm statistics).
#[allow(clippy::too_many_arguments)]
fn launch_fwd_halo_stats<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    (f, name, mut cfg): (cudarc::driver::CudaFunction, String, LaunchConfig),
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    (part_sum, part_m2): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
    views: usize,
    pipe: Pipe,
    out16: bool,
) -> Result<()> {
    let rows = s.n * s.h * s.w;
    if views > 0 && s.n % views != 0 && rows % views == 0 {
        // Views that split an image (never in training: two views of whole batches) take K64S4's
        // statistics epilogue: the same y bits, partials of its 128-row blocks.
        let planned = plan(
            dev,
            "fwd",
            "_stats",
            s,
            rows,
            Pipe::K64S4,
            precision_of::<T>(),
        )?;
        return launch_fwd(planned, dev, y, x, w, s, Some((part_sum, part_m2)), out16);
    }
    if views == 0 || s.n % views != 0 || (rows / views) % BM != 0 {
        return Err(Error::usage(format!(
            "{name}: the statistics need whole images and 128-row blocks per view ({views} views of {s:?})"
        )));
    }
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let parts = rows / views / BM;
    check_len(
        "conv stats",
        part_sum.len().min(part_m2.len()),
        views * parts * s.o,
    )?;
    if out16 != (std::mem::size_of::<Y>() == 2) {
        return Err(Error::usage(format!("{name}: y's type and out16 disagree")));
    }
    let tiles = halo_tiles(s, pipe, views);
    cfg.grid_dim.1 = u32::try_from(tiles)
        .ok()
        .filter(|&t| t <= 65535)
        .ok_or_else(|| {
            Error::usage(format!(
                "convolution {s:?}: too many rows; lower the batch size"
            ))
        })?;
    cfg.grid_dim.2 = views as u32;
    let mut hsum = dev.scratch(views * tiles * s.o)?;
    let mut hm2 = dev.scratch(views * tiles * s.o)?;
    let mut hcnt = dev.scratch(views * tiles)?;
    let d = dims(s)?.bf16_out(out16);
    // SAFETY: (float* y, float* hsum, float* hm2, float* hcnt, const T* x, const T* w, ConvDims d): y holds
    // n·h·w·o elements (bf16 exactly when d.out16), hsum / hm2 views · tiles · o, hcnt views · tiles (grid.z
    // views × grid.y tiles, each block writing its own tile's row), x and w their lengths (checked); the
    // dynamic shared memory is the ring and window `plan` sized (the kernel traps otherwise).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&mut *y)
            .arg(&mut *hsum)
            .arg(&mut *hm2)
            .arg(&mut *hcnt)
            .arg(x)
            .arg(w)
            .arg(&d)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    // The per-view combine in two launches: chunks of `per` tiles, then each view's chunks (and its parts).
    let per = tiles.div_ceil(128).max(4);
    let chunks = tiles.div_ceil(per);
    // f64 scratch as twice the f32 words (allocations are 256-byte aligned).
    let mut csum = dev.scratch(2 * views * chunks * s.o)?;
    let mut cm2 = dev.scratch(2 * views * chunks * s.o)?;
    let mut ccnt = dev.scratch(2 * views * chunks)?;
    let (ti, ni, pi, ci, per_i) = (
        tiles as i32,
        s.o as i32,
        parts as i32,
        chunks as i32,
        per as i32,
    );
    let g = dev.function(FILE, "conv_halo_stats_v7_f32")?;
    let cfg1 = LaunchConfig {
        grid_dim: (s.o.div_ceil(32) as u32, views as u32, chunks as u32),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (double* csum, double* cm2, double* ccnt, const float* hsum, const float* hm2, const float*
    // hcnt, int tiles, int N, int per): csum / cm2 hold views · chunks · o doubles and ccnt views · chunks
    // (f32 scratch of twice the words), the h* buffers what the launch above wrote (views · tiles rows);
    // grid (⌈o/32⌉, views, chunks) × (32, 8) with chunks · per ≥ tiles, as the kernel assumes.
    unsafe {
        dev.stream
            .launch_builder(&g)
            .arg(&mut *csum)
            .arg(&mut *cm2)
            .arg(&mut *ccnt)
            .arg(&*hsum)
            .arg(&*hm2)
            .arg(&*hcnt)
            .arg(&ti)
            .arg(&ni)
            .arg(&per_i)
            .launch(cfg1)
    }
    .map_err(launch_err("conv_halo_stats_v7_f32"))?;
    let g2 = dev.function(FILE, "conv_halo_stats_fin_v7_f32")?;
    let cfg2 = LaunchConfig {
        grid_dim: (
            s.o.div_ceil(32) as u32,
            views as u32,
            parts.div_ceil(8 * 64).clamp(1, 64) as u32,
        ),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (float* part_sum, float* part_m2, const double* csum, const double* cm2, const double* ccnt,
    // int chunks, int N, int parts): part_sum / part_m2 hold views · parts · o (checked), the c* scratch what
    // the launch above wrote; grid (⌈o/32⌉, views, any) × (32, 8) as the kernel assumes.
    unsafe {
        dev.stream
            .launch_builder(&g2)
            .arg(part_sum)
            .arg(part_m2)
            .arg(&*csum)
            .arg(&*cm2)
            .arg(&*ccnt)
            .arg(&ci)
            .arg(&ni)
            .arg(&pi)
            .launch(cfg2)
    }
    .map_err(launch_err("conv_halo_stats_fin_v7_f32"))?;
    Ok(())
}

/// gx[n, h, w, c] = ∂L/∂x (with `add`: gx += ∂L/∂x) from gy and the transposed weights `wt` on wgmma:
/// bf16 copies (u16, [`conv_weight_t_bf16`]) or, in tf32, fp32 ([`conv_weight_t_f32`]).
pub fn conv_bwd_input_v7<T: DeviceRepr>(
    dev: &CudaDevice,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    wt: &CudaSlice<T>,
    s: &ConvSpec,
    add: bool,
) -> Result<()> {
    bwd_input(dev, gx, gy, wt, s, add, None)
}

/// [`conv_bwd_input_v7`] (fp32 gx, or bf16 `u16` at stride 1, not adding) with pipeline `pipe` (A/B runs
/// and tests; an error where it does not apply).
pub fn conv_bwd_input_v7_pipe<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    pipe: Pipe,
    gx: &mut CudaSlice<Y>,
    gy: &CudaSlice<T>,
    wt: &CudaSlice<T>,
    s: &ConvSpec,
    add: bool,
) -> Result<()> {
    check_pipe(dev, "bwd_input", s, precision_of::<T>(), pipe)?;
    bwd_input(dev, gx, gy, wt, s, add, Some(pipe))
}

/// [`conv_fwd_v7_stats`] (y fp32, or bf16 as `u16`) with pipeline `pipe`: Ok(true) with the partials in
/// `out` where every 128-row block lies inside one of `groups` views, else Ok(false), nothing launched
/// (A/B runs and tests; an error where the pipeline does not apply).
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_v7_stats_pipe<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    pipe: Pipe,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<bool> {
    let p = precision_of::<T>();
    check_pipe(dev, "fwd", s, p, pipe)?;
    let out16 = std::mem::size_of::<Y>() == 2;
    let shape = (s.n * s.oh() * s.ow(), BM, s.o);
    out.fill_blocks(dev, shape, groups, |sum, m2| {
        let planned = plan(dev, "fwd", "_stats", s, shape.0, pipe, p)?;
        if pipe.halo() {
            launch_fwd_halo_stats(dev, planned, y, x, w, s, (sum, m2), groups, pipe, out16)
        } else {
            launch_fwd(planned, dev, y, x, w, s, Some((sum, m2)), out16)
        }
    })
}

/// [`conv_bwd_input_v7`] in bf16 at stride 1 storing gx as bf16 into `gx16` (`ConvDims::out16`, rounded to
/// nearest even; not adding), as `conv_tc6::conv_bwd_input_v6_16`.
pub fn conv_bwd_input_v7_16(
    dev: &CudaDevice,
    gx16: &mut CudaSlice<u16>,
    gy: &CudaSlice<u16>,
    wt: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    if s.stride != 1 {
        return Err(Error::usage(
            "conv bwd_input v7: a bf16 grad-input is stride 1's",
        ));
    }
    bwd_input(dev, gx16, gy, wt, s, false, None)
}

/// The grad-input launch on pipeline `force`, or the one picked by speed.
fn bwd_input<T: DeviceRepr, Y: DeviceRepr>(
    dev: &CudaDevice,
    gx: &mut CudaSlice<Y>,
    gy: &CudaSlice<T>,
    wt: &CudaSlice<T>,
    s: &ConvSpec,
    add: bool,
    force: Option<Pipe>,
) -> Result<()> {
    let prec = precision_of::<T>();
    let out16 = std::mem::size_of::<Y>() == 2;
    if out16 && (add || s.stride != 1 || prec != ConvPrecision::Bf16) {
        return Err(Error::usage(
            "conv bwd_input v7: a bf16 gx is bf16 stride 1's, not adding",
        ));
    }
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv wt", wt.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    if add && force.is_none() && pipe_used(dev, "bwd_input", false, s, prec).is_none() {
        // The first call at a shape times every pipeline on the caller's buffers (`tune::pick`): adding
        // would add once per timed launch, so the pick is made on a scratch gradient first.
        let mut scratch = dev.scratch(s.x_len())?;
        conv_bwd_input_v7(dev, &mut scratch, gy, wt, s, false)?;
    }
    let d = dims(s)?.adding(add).bf16_out(out16);
    // Stride > 1: one residue class of input pixels per grid.z (s² of them), grid.y for the largest class
    // (StrideClass in kernels/conv_gather.cuh); classes no tap reaches store zeros (adding: are skipped).
    let st = s.stride;
    let (suffix, rows, classes) = if st > 1 {
        (
            "_strided",
            s.n * s.h.div_ceil(st) * s.w.div_ceil(st),
            st * st,
        )
    } else {
        ("", s.n * s.h * s.w, 1)
    };
    let classes = u32::try_from(classes)
        .ok()
        .filter(|&z| z <= 65535)
        .ok_or_else(|| Error::usage(format!("convolution {s:?}: stride too large")))?;
    let e = if out16 { Epi::Out16 } else { Epi::Plain };
    let mut launch = |p: Pipe| -> Result<()> {
        let (f, name, mut cfg) = plan(dev, "bwd_input", suffix, s, rows, p, prec)?;
        cfg.grid_dim.2 = classes;
        // SAFETY: (float* gx, const T* gy, const T* wt, ConvDims d), gx bf16 [rows*C] exactly when d.out16
        // (bf16, stride 1, not adding: checked above); lengths checked above; dynamic shared memory as the
        // forward's; every class's block writes only its own pixels' rows of gx.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&mut *gx)
                .arg(gy)
                .arg(wt)
                .arg(&d)
                .launch(cfg)
        }
        .map_err(launch_err(&name))?;
        Ok(())
    };
    match force {
        Some(p) => launch(p),
        None => run_picked(dev, "bwd_input", e, s, prec, launch),
    }
}

/// wt [c, ky, kx, o] = w [o, ky, kx, c] on bf16 bits (CPU reference: `cpu::conv::conv_weight_t`). An sm_90a
/// kernel like the rest of the file.
pub fn conv_weight_t_bf16(
    dev: &CudaDevice,
    wt: &mut CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
) -> Result<()> {
    weight_t(dev, "conv_weight_t_bf16", wt, w, s)
}

/// [`conv_weight_t_bf16`] on fp32 weights (tf32 v7's grad-input operand).
pub fn conv_weight_t_f32(
    dev: &CudaDevice,
    wt: &mut CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    weight_t(dev, "conv_weight_t_f32", wt, w, s)
}

fn weight_t<T: DeviceRepr>(
    dev: &CudaDevice,
    name: &str,
    wt: &mut CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv wt", wt.len(), s.w_len())?;
    if !wgmma::available(dev) {
        return Err(Error::usage(format!(
            "{name} is compiled for sm_90a (Hopper) only"
        )));
    }
    let as_i32 = |v: usize| {
        i32::try_from(v).map_err(|_| Error::usage(format!("convolution {s:?}: size exceeds i32")))
    };
    let (o, taps, c) = (as_i32(s.o)?, as_i32(s.kh * s.kw)?, as_i32(s.c)?);
    let f = dev.function(FILE, name)?;
    let cfg = LaunchConfig {
        grid_dim: (s.w_len().div_ceil(256).clamp(1, 4096) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (T* wt, const T* w, int o, int taps, int c); both hold o * taps * c elements (checked).
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
    .map_err(launch_err(name))?;
    Ok(())
}

/// [`conv_bwd_weight_v7`] with pipeline `pipe` (A/B runs and tests; an error where it does not apply).
pub fn conv_bwd_weight_v7_pipe<T: DeviceRepr>(
    dev: &CudaDevice,
    pipe: Pipe,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    let p = precision_of::<T>();
    check_pipe(dev, "bwd_weight", s, p, pipe)?;
    if pipe == Pipe::Halo {
        return gw_halo(dev, gw, gy, x, s, None);
    }
    let planned = plan(dev, "bwd_weight", "", s, s.kdim(), pipe, p)?;
    launch_bwd_weight(dev, planned, gw, gy, x, s)
}

/// The halo grad-weight ([`Pipe::Halo`] of bf16 `bwd_weight`) with `per_split` steps per block: output rows
/// (n·OH of them, images one after another) or, on 8 × 8 and 4 × 4 images, steps of one or four images
/// (tests: ranges that start and end inside an image, a last step short of images); an error where it
/// does not take `s` on `dev`.
pub fn conv_bwd_weight_v7_halo_split(
    dev: &CudaDevice,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<u16>,
    x: &CudaSlice<u16>,
    s: &ConvSpec,
    per_split: usize,
) -> Result<()> {
    check_pipe(dev, "bwd_weight", s, ConvPrecision::Bf16, Pipe::Halo)?;
    gw_halo(dev, gw, gy, x, s, Some(per_split))
}

/// Launches the halo grad-weight ([`gw_halo_kernel`]) on the zeroed gw: grid (C / 64, O / 64, splits of its
/// steps), `per` steps a split or as many as [`super::waves::split_plan`] finds fastest. The caller
/// checked that the pipeline takes `s`.
fn gw_halo<T: DeviceRepr>(
    dev: &CudaDevice,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
    per: Option<usize>,
) -> Result<()> {
    if std::mem::size_of::<T>() != 2 {
        return Err(Error::usage(
            "the halo grad-weight is bf16 only; tf32 runs rs2 or rs1_m256",
        ));
    }
    let smem = gw_halo_smem(s);
    let (name, images) = gw_halo_kernel(s)
        .ok_or_else(|| Error::usage(format!("the halo grad-weight does not take {s:?}")))?;
    let f = dev.function(FILE, name)?;
    dev.raise_smem_limit(&f, name, smem)?;
    let units = if images == 0 {
        s.n * s.oh()
    } else {
        s.n.div_ceil(images)
    };
    let tiles = (s.c / 64) * (s.o / 64);
    let per = match per {
        Some(r) => r.clamp(1, units),
        None => {
            let resident = super::waves::resident_blocks(dev, &f, GW_HALO_THREADS, smem);
            // A block's fixed cost in steps: the copies of its first steps (row steps: also two padding
            // rows an image) and the atomics of its 36,864 sums.
            let overhead = if images == 0 { 8 } else { 4 };
            super::waves::split_plan(tiles, units, resident, overhead).1
        }
    };
    let per = per.max(units.div_ceil(65535));
    let per_i = i32::try_from(per)
        .map_err(|_| Error::usage(format!("convolution {s:?}: too many rows per split")))?;
    let cfg = LaunchConfig {
        grid_dim: (
            (s.c / 64) as u32,
            (s.o / 64) as u32,
            units.div_ceil(per) as u32,
        ),
        block_dim: (GW_HALO_THREADS, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    // (float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int per_split): T is u16
    // (checked); 384 threads and the slots' shared memory, which the kernel checks.
    launch_bwd_weight_per(dev, (f, name.to_string(), cfg), gw, gy, x, s, per_i)
}

/// gw[o, kh, kw, c] = ∂L/∂w on wgmma from bf16 gy and x (u16; both operands MN-major) or, in tf32, the fp32
/// tensors (f32; [`Pipe::Rs2`]), split over the output pixels so the grid fills the GPU; partial sums are
/// added with atomics into the zeroed gw.
pub fn conv_bwd_weight_v7<T: DeviceRepr>(
    dev: &CudaDevice,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    let prec = precision_of::<T>();
    run_picked(dev, "bwd_weight", Epi::Plain, s, prec, |p| {
        if p == Pipe::Halo {
            return gw_halo(dev, gw, gy, x, s, None);
        }
        let planned = plan(dev, "bwd_weight", "", s, s.kdim(), p, prec)?;
        launch_bwd_weight(dev, planned, gw, gy, x, s)
    })
}
