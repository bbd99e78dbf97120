//! Launchers for kernels/conv_tc6.cu: the v6 convolutions, whose operands stream into shared memory
//! through a 3-stage cp.async ring: bf16 operands (cast once by `cast_bf16_f32`) or the fp32 tensors
//! themselves, rounded to TF32 in the kernel (tensor cores) or multiplied exactly in fp32 on the CUDA cores
//! (`--precision fp32`); fp32 accumulation and fp32 outputs. [`Bf16Copy`] is the bf16 copy of one tensor that a network
//! shares between the convolutions that read it and keeps from the forward for the backward.
use super::conv::dims;
use super::conv_tc::ConvPrecision;
use super::conv_tc::{split_pixels, v4_tile};
use super::elementwise::cast_bf16_f32;
use super::norm::BlockStats;
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{
    CudaFunction, CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};

const FILE: &str = "conv_tc6";
/// Mirrors `Tc6::BK` in kernels/conv_tc6.cu.
const BK: usize = 32;

/// The cp.async ring of a v6 entry point (`Tc6::STAGES`): 3 stages in every precision, and for bf16 and
/// tf32 also 4 (the `_s4` entry points: three k-tiles in flight instead of two); `Halo`: the bf16 forward
/// and grad-input of 3×3 stride-1 convolutions with the A operand resident in shared memory and only B in
/// a 3-stage ring (the `_halo` entry points, see `Tc6HaloLoad`: each input pixel copied once per block
/// instead of once per tap), and the bf16 grad-weight whose k-tiles copy the window of x that all nine taps
/// read (`conv_bwd_weight_v6_bf16_n64_halo`, `Tc6GwHaloLoad`), where [`halo_smem`] takes the shape; `Wres`: the
/// halo forward and grad-input with the block's weights resident too, persistent over row tiles (`_wres`,
/// `Tc6Wres`), where [`wres_smem`] takes the shape; `M256`: the bf16 or tf32 256 × 128 tile on 4 stages where the
/// tile would be n128. All compute the same sums in the same
/// order, so with `IPDPP_V6_RING=auto` the launcher times them per shape on first use and keeps the
/// fastest ([`super::tune::choose`]; the default); `s3`, `s4`, `halo`, `wres` or `m256` force one where it runs (s3
/// elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    S3,
    S4,
    Halo,
    Wres,
    /// The bf16 or tf32 256 × 128 tile with 64 × 64 warp tiles on a 4-stage ring (`_n128_m256..._s4`),
    /// where the tile would be n128: a third fewer shared-memory fragment loads and a quarter less L2
    /// traffic per MMA than n128, one block per SM (bf16 runs two of n128's).
    M256,
}

impl Ring {
    pub const ALL: [Ring; 5] = [Ring::S3, Ring::S4, Ring::Halo, Ring::Wres, Ring::M256];
    pub fn tag(self) -> &'static str {
        match self {
            Ring::S3 => "s3",
            Ring::S4 => "s4",
            Ring::Halo => "halo",
            Ring::Wres => "wres",
            Ring::M256 => "m256",
        }
    }
    fn suffix(self) -> &'static str {
        match self {
            Ring::S3 => "",
            Ring::S4 => "_s4",
            Ring::Halo => "_halo",
            Ring::Wres => "_wres",
            Ring::M256 => "_s4",
        }
    }
}

impl std::str::FromStr for Ring {
    type Err = Error;
    fn from_str(v: &str) -> Result<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "s3" => Ok(Ring::S3),
            "s4" => Ok(Ring::S4),
            "halo" => Ok(Ring::Halo),
            "wres" => Ok(Ring::Wres),
            "m256" => Ok(Ring::M256),
            _ => Err(Error::usage(format!(
                "unknown v6 ring {v:?}; use s3, s4, halo, wres or m256 (or auto)"
            ))),
        }
    }
}

/// `IPDPP_V6_RING`, read once: the ring to force, or None for `auto` (picked by speed per shape), the
/// default since 2026-11-28, when its tests passed on an H200 (every ring the same bits as s3, the pick
/// kept; ResNet-32 bf16 steps) and it timed ResNet-18 / ResNet-32 bf16 steps 4% / 20% faster than s3.
fn forced_ring() -> Option<Ring> {
    static V: std::sync::OnceLock<Option<Ring>> = std::sync::OnceLock::new();
    *V.get_or_init(|| match std::env::var("IPDPP_V6_RING") {
        Err(_) => None,
        Ok(v) if v.trim() == "auto" || v.trim().is_empty() => None,
        Ok(v) => match v.parse() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("warning: IPDPP_V6_RING: {e}; v6 picks its ring by speed (auto)");
                None
            }
        },
    })
}

/// The rings `dev` can launch for `op` at `s` in precision `p`: s3 where it fits (the caller checked), s4
/// for bf16 and tf32 where its shared memory fits too, the halo tiles for bf16 (and, since 2026-11-28,
/// the tf32 window grad-weight) where they take the shape and fit.
fn rings(dev: &CudaDevice, p: ConvPrecision, op: &str, s: &ConvSpec) -> Vec<Ring> {
    let (_, bm, bn) = v4_tile(out_cols(op, s));
    let elem = if p == ConvPrecision::Bf16 { 2 } else { 4 };
    Ring::ALL
        .into_iter()
        .filter(|&r| match r {
            Ring::S3 => true,
            Ring::S4 => {
                p != ConvPrecision::Fp32
                    && !narrow(op, s)
                    && smem_bytes(op, bm, bn, elem, r) <= dev.smem_optin
            }
            Ring::Halo => halo_smem_in(p, op, s).is_some_and(|b| b <= dev.smem_optin),
            Ring::Wres => {
                p == ConvPrecision::Bf16
                    && wres_smem(op, s, true).is_some_and(|b| b <= dev.smem_optin)
            }
            Ring::M256 => {
                p != ConvPrecision::Fp32
                    && bn == 128
                    && !narrow(op, s)
                    && smem_bytes(op, 256, 128, elem, r) <= dev.smem_optin
            }
        })
        .collect()
}

/// The GEMM's output columns of `op` at `s` (the tile width follows them).
fn out_cols(op: &str, s: &ConvSpec) -> usize {
    if op == "bwd_input" {
        s.c
    } else {
        s.o
    }
}

/// The ring to launch when `IPDPP_V6_RING` forces one: it where it runs (`cands`), else s3; None for
/// `auto`.
fn forced_among(cands: &[Ring]) -> Option<Ring> {
    forced_ring().map(|r| if cands.contains(&r) { r } else { Ring::S3 })
}

/// The tuning key of `op` (entry-point suffix `suffix`) at `s` in `p`.
fn ring_key(op: &str, suffix: &str, p: ConvPrecision, s: &ConvSpec) -> String {
    format!("conv_{op}_v6{suffix} {p} {s:?}")
}

/// The ring v6's `op` (`suffix`: "", "_stats", "_strided") ran at `s` in `p` on `dev`: the forced one, the
/// only one, or the one picked by speed (None before the first launch at this shape).
pub fn ring_used(
    dev: &CudaDevice,
    p: ConvPrecision,
    op: &str,
    suffix: &str,
    s: &ConvSpec,
) -> Option<Ring> {
    let cands = rings(dev, p, op, s);
    super::tune::chosen(
        dev,
        &ring_key(op, suffix, p, s),
        &cands,
        forced_among(&cands),
    )
}

/// Plans and launches `op` with the forced ring, or the one tuned for this shape (timed now on the first
/// call: `launch` writes the real outputs, so every timed launch computes them too).
#[allow(clippy::too_many_arguments)]
fn run_ring<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    op: &str,
    suffix: &str,
    s: &ConvSpec,
    m: usize,
    n: usize,
    force: Option<Ring>,
    mut launch: impl FnMut((CudaFunction, String, LaunchConfig)) -> Result<()>,
) -> Result<()> {
    let cands = rings(dev, p, op, s);
    if let Some(r) = force {
        if !cands.contains(&r) {
            return Err(Error::usage(format!(
                "conv {op} v6: ring {} does not run {s:?} in {p} on this GPU",
                r.tag()
            )));
        }
        return launch(plan_named::<T>(dev, p, op, suffix, s, m, n, r)?);
    }
    let key = ring_key(op, suffix, p, s);
    let plan = |r| plan_named::<T>(dev, p, op, suffix, s, m, n, r);
    let r = super::tune::choose(dev, &key, &cands, forced_among(&cands), Ring::tag, |r| {
        launch(plan(r)?)
    })?
    .unwrap_or(Ring::S3);
    launch(plan(r)?)
}

/// Operand element of the v6 kernels: bf16 bits (`u16`, mma m16n8k16) or fp32 (`f32`: rounded to TF32 in
/// the kernel for mma m16n8k8, or exact fp32 FMAs).
pub trait V6Operand: DeviceRepr {
    /// The entry-point tag of precision `p` on this element type; None where the type cannot carry `p`.
    fn tag(p: ConvPrecision) -> Option<&'static str>;
}
impl V6Operand for u16 {
    fn tag(p: ConvPrecision) -> Option<&'static str> {
        (p == ConvPrecision::Bf16).then_some("bf16")
    }
}
impl V6Operand for f32 {
    fn tag(p: ConvPrecision) -> Option<&'static str> {
        match p {
            ConvPrecision::Tf32 => Some("tf32"),
            ConvPrecision::Fp32 => Some("f32"),
            ConvPrecision::Bf16 => None,
        }
    }
}

/// Whether v6 takes `op` ("fwd", "bwd_input", "bwd_weight") at `s` in precision `p`: a 16-byte copy holds
/// 8 bf16 or 4 fp32 channels of one tap, and a forward or grad-input k-tile (32 deep) covers whole taps:
/// its channels (C, or O for the grad-input) a multiple of 32, or in bf16 and tf32 [`narrow`] (the
/// `_narrow` entry points, 3-stage ring only).
pub fn takes(op: &str, s: &ConvSpec, p: ConvPrecision) -> bool {
    let epc = if p == ConvPrecision::Bf16 { 8 } else { 4 };
    let narrow_ok = p != ConvPrecision::Fp32 && narrow(op, s);
    match op {
        "fwd" => s.c % 32 == 0 || narrow_ok,
        "bwd_input" => (s.o % 32 == 0 || narrow_ok) && s.c % epc == 0,
        _ => s.c % epc == 0 && s.o % epc == 0,
    }
}

/// Whether `op` at `s` gathers several taps per k-tile (the `_narrow` entry points): the forward's C or the
/// stride-1 grad-input's O is 8 or 16 (fewer than 32 channels, dividing 32, whole 16-byte bf16 copies:
/// ResNet-32's first stage, the stem padded to 8), unless `IPDPP_V6_NARROW=0`.
pub fn narrow(op: &str, s: &ConvSpec) -> bool {
    let cs = match op {
        "fwd" => s.c,
        "bwd_input" if s.stride == 1 => s.o,
        _ => return false,
    };
    narrow_on() && cs < 32 && 32 % cs == 0 && cs % 8 == 0
}

/// `IPDPP_V6_NARROW=0` sends the narrow shapes ([`narrow`]) back to v4 (for A/B runs); read once.
pub fn narrow_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V6_NARROW").map_or(true, |v| v.trim() != "0"))
}

/// Whether this GPU runs the v6 tiles of `op` at `s` in precision `p`: cp.async needs sm_80, and the tiles
/// must fit its shared memory per block (fp32-operand tiles take 108-138 KB, beyond the 99 KB of
/// sm_86/sm_89 cards; such shapes run v4, or v2 in fp32, instead).
pub fn fits(dev: &CudaDevice, op: &str, s: &ConvSpec, p: ConvPrecision) -> bool {
    let (_, bm, bn) = v4_tile(out_cols(op, s));
    let elem = if p == ConvPrecision::Bf16 { 2 } else { 4 };
    dev.cc.0 >= 8 && smem_bytes(op, bm, bn, elem, Ring::S3) <= dev.smem_optin
}

/// Dynamic shared memory of one block: the ring's stages x (A tile + B tile), each operand in the orientation the
/// kernel stores it (see `tc6_gemm`'s A_MK / B_NK) with `Tc6`'s row strides: k-fast rows BK + 8 (bf16) or
/// BK + 4 (fp32), m/n-fast rows BM + 8 / BN + 8.
fn smem_bytes(op: &str, bm: usize, bn: usize, elem: usize, ring: Ring) -> usize {
    let ks = BK + if elem == 2 { 8 } else { 4 };
    let (a, b) = match op {
        "fwd" => (bm * ks, bn * ks),
        "bwd_input" => (bm * ks, BK * (bn + 8)),
        _ => (BK * (bm + 8), BK * (bn + 8)),
    };
    let stages = if matches!(ring, Ring::S4 | Ring::M256) {
        4
    } else {
        3
    };
    stages * (a + b) * elem
}

/// Dynamic shared memory of a `_halo` block (`Tc6HaloLoad`): the (TH + 2) × (W + 2) pixels around each
/// image's part of the row tile at Cs + 8 bf16 a pixel (Cs: C of x, O of gy), and three bf16 B stages.
/// None where those kernels do not take `op` at `s`: bf16 3×3 stride 1 pad 1 as v6 takes it (Cs a multiple
/// of 32: a halo chunk is one k-tile's channels), with a row tile of whole image rows of one image (H·W a
/// multiple of it) or of whole images. For "bwd_weight": the grad-weight over x's window ([`gw_halo_smem`]).
pub fn halo_smem(op: &str, s: &ConvSpec) -> Option<usize> {
    halo_smem_in(ConvPrecision::Bf16, op, s)
}

/// [`halo_smem`] in precision `p`: bf16's, or in tf32 the window grad-weight's alone
/// (`conv_bwd_weight_v6_tf32_n64_halo`, written without a GPU on 2026-11-28: C % 32 == 0, not the
/// 16-channel kernel); None in exact fp32 and for the tf32 forward and grad-input.
pub fn halo_smem_in(p: ConvPrecision, op: &str, s: &ConvSpec) -> Option<usize> {
    match p {
        ConvPrecision::Bf16 => {}
        ConvPrecision::Tf32 if op == "bwd_weight" && tf32_gw_halo_on() => {
            return gw_halo_smem_elems(s, 4)
        }
        _ => return None,
    }
    let cs = match op {
        "fwd" => s.c,
        "bwd_input" => s.o,
        _ => return gw_halo_smem(s),
    };
    if (s.kh, s.kw, s.stride, s.pad) != (3, 3, 1, 1)
        || cs % BK != 0
        || !takes(op, s, ConvPrecision::Bf16)
    {
        return None;
    }
    let (_, bm, bn) = v4_tile(out_cols(op, s));
    let halo = halo_elems(bm, cs, s)?;
    let b = if op == "fwd" {
        bn * (BK + 8)
    } else {
        BK * (bn + 8)
    };
    Some((halo + 3 * b) * 2)
}

/// bf16 elements of one halo around a row tile of `bm` output pixels (whole images, or whole image rows
/// of one image; None otherwise): (TH + 2) × (W + 2) pixels per image at cs + 8 channels.
fn halo_elems(bm: usize, cs: usize, s: &ConvSpec) -> Option<usize> {
    let hw = s.h * s.w;
    let (imgs, th) = match () {
        _ if bm % hw == 0 => (bm / hw, s.h),
        _ if bm % s.w == 0 && hw % bm == 0 => (1, bm / s.w),
        _ => return None,
    };
    Some(imgs * (th + 2) * (s.w + 2) * (cs + 8))
}

/// Dynamic shared memory of a `_wres` block (`Tc6Wres`): the block's weights (forward: BN rows of K + 8 bf16;
/// grad-input: K rows of BN + 8), two halos as [`halo_smem`]'s, and with `stats` the epilogue's reduction
/// scratch ((wmw + 2) × BN floats). None where those kernels do not take `op` at `s`: bf16 3×3 stride 1 pad
/// 1 as v6 takes it, cs (C of x, O of gy) 16 or a multiple of 32, the halo tiles' row tiles (whole image rows
/// of one image, or whole images), the n64, n32 and n16 tiles (K = 9 · cs; ResNet-18's layer 1 and every
/// ResNet-32 stage fit, 74 KB of weights at most).
pub fn wres_smem(op: &str, s: &ConvSpec, stats: bool) -> Option<usize> {
    let cs = match op {
        "fwd" => s.c,
        "bwd_input" => s.o,
        _ => return None,
    };
    if (s.kh, s.kw, s.stride, s.pad) != (3, 3, 1, 1)
        || !(cs % BK == 0 || cs == 16)
        || !takes(op, s, ConvPrecision::Bf16)
    {
        return None;
    }
    let (tag, bm, bn) = v4_tile(out_cols(op, s));
    let wmw = match tag {
        "n64" => 4,
        "n32" | "n16" => 8,
        _ => return None,
    };
    let halo = halo_elems(bm, cs, s)?;
    let k = 9 * cs;
    let b = if op == "fwd" {
        bn * (k + 8)
    } else {
        k * (bn + 8)
    };
    Some((b + 2 * halo) * 2 + if stats { (wmw + 2) * bn * 4 } else { 0 })
}

/// Dynamic shared memory of the grad-weight over x's window (`Tc6GwHaloLoad`): four stages of the
/// (32 / W + 2) × (W + 2) window pixels (rounded up to whole 8-pixel copy phases) at 32 + 8 bf16 each and
/// 32 gy rows at 64 + 8; at C = 16 (`Tc6Gw16Halo`) three stages of a 256-pixel k-tile's window at 16 + 8
/// and its 256 gy rows at 16 + 8. None where it does not take `s`: bf16 3×3 stride 1 pad 1, C a multiple of
/// 32 (a block's 32 channels) or 16, W = 8, 16 or 32 (a k-tile is whole rows of one image: H·W a multiple
/// of 32, of 256 at C = 16), O a multiple of 8 (v6's 16-byte copies).
fn gw_halo_smem(s: &ConvSpec) -> Option<usize> {
    gw_halo_smem_elems(s, 2)
}

/// `IPDPP_V6_TF32_GW_HALO=0`, read once, keeps the tf32 window grad-weight (written without a GPU,
/// 2026-11-28) out of v6's rings (`tools/gpu-run.sh` sets it where its tests fail).
fn tf32_gw_halo_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_V6_TF32_GW_HALO").map_or(true, |v| v.trim() != "0"))
}

/// The window grad-weight's ring in bytes on operands of `elem` bytes (2: bf16, with the 16-channel
/// kernel; 4: tf32, 32-channel windows only): 4 stages of the window (pixels rounded to whole 8-pixel
/// copy phases, 32 channels + 8 bf16 or + 4 fp32 a pixel) and 32 gy rows of 64 + 8 elements.
fn gw_halo_smem_elems(s: &ConvSpec, elem: usize) -> Option<usize> {
    if (s.kh, s.kw, s.stride, s.pad) != (3, 3, 1, 1) || s.o % 8 != 0 || ![8, 16, 32].contains(&s.w)
    {
        return None;
    }
    // Window pixels of a k-tile of `kt` pixels, rounded up to whole 8-pixel copy phases.
    let window = |kt: usize| ((kt / s.w + 2) * (s.w + 2)).div_ceil(8) * 8;
    if s.c == 16 {
        return (elem == 2 && (s.h * s.w) % 256 == 0)
            .then(|| 3 * (window(256) * 24 + 256 * 24) * 2);
    }
    if s.c % 32 != 0 || (s.h * s.w) % 32 != 0 {
        return None;
    }
    let pad = if elem == 2 { 8 } else { 4 };
    Some(4 * (window(32) * (32 + pad) + BK * (64 + 8)) * elem)
}

/// The window grad-weight's pixels per k-tile (its splits are whole k-tiles).
fn gw_halo_ktile(s: &ConvSpec) -> usize {
    if s.c == 16 {
        256
    } else {
        32
    }
}

/// Kernel, name and launch shape of the entry point `conv_{op}_v6_{bf16|tf32|f32}_{tile}{suffix}{ring}`
/// over an `m` x `n` GEMM, with the kernel's shared-memory limit raised to what the tile needs (above the
/// 48 KB that needs no opt-in).
#[allow(clippy::too_many_arguments)]
fn plan_named<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    op: &str,
    suffix: &str,
    s: &ConvSpec,
    m: usize,
    n: usize,
    ring: Ring,
) -> Result<(CudaFunction, String, LaunchConfig)> {
    let ptag = T::tag(p).ok_or_else(|| {
        Error::usage(format!(
            "conv {op} v6: {p} does not run on {}-byte operands",
            std::mem::size_of::<T>()
        ))
    })?;
    if dev.cc.0 < 8 {
        return Err(Error::usage(format!(
            "conv v6 in {p} needs sm_80 or newer (cp.async{}); this GPU is sm_{}{}; \
             run with IPDPP_CONV_TC=v4",
            if p == ConvPrecision::Fp32 {
                ""
            } else {
                ", tensor cores"
            },
            dev.cc.0,
            dev.cc.1
        )));
    }
    if !takes(op, s, p) {
        return Err(Error::usage(format!(
            "conv {op} v6 does not take {s:?} in {p} (see conv_tc6::takes); use v4"
        )));
    }
    let (tag, bm, bn) = v4_tile(n);
    let (rows, bm) = if op == "bwd_weight" && p != ConvPrecision::Fp32 {
        gw_rows(tag, bm, m)
    } else {
        ("", bm)
    };
    // The window grad-weight: 288 rows (nine taps of 32 channels) by 64 columns, whatever O; at C = 16 the
    // 144 × 16 tile, one row block.
    let gw_halo = op == "bwd_weight" && ring == Ring::Halo;
    let (tag, rows, bm, bn) = match () {
        _ if gw_halo && s.c == 16 => ("n16", "", 9 * 16, 16),
        _ if gw_halo => ("n64", "", 9 * BK, 64),
        _ if ring == Ring::M256 => ("n128", "_m256", 256, 128),
        _ => (tag, rows, bm, bn),
    };
    let smem = match ring {
        Ring::Wres => wres_smem(op, s, suffix == "_stats").ok_or_else(|| {
            Error::usage(format!(
                "conv {op} v6: the resident tiles do not take {s:?} (3×3 stride 1 pad 1 in bf16, halo row tiles, n64 or n32)"
            ))
        })?,
        Ring::Halo => halo_smem_in(p, op, s).ok_or_else(|| {
            Error::usage(format!(
                "conv {op} v6: the halo tiles do not take {s:?} (3×3 stride 1 pad 1 in bf16; row tiles of whole image rows, or for the grad-weight W = 8, 16 or 32)"
            ))
        })?,
        _ => smem_bytes(op, bm, bn, std::mem::size_of::<T>(), ring),
    };
    if smem > dev.smem_optin {
        return Err(Error::usage(format!(
            "conv {op} v6 {p} needs {smem} bytes of shared memory per block, this GPU allows {}; \
             run with IPDPP_CONV_TC=v4",
            dev.smem_optin
        )));
    }
    let narrow_runs = match p {
        ConvPrecision::Bf16 => matches!(ring, Ring::S3 | Ring::Wres),
        ConvPrecision::Tf32 => ring == Ring::S3,
        ConvPrecision::Fp32 => false,
    };
    if narrow(op, s) && !narrow_runs {
        return Err(Error::usage(format!(
            "conv {op} v6: narrow channels ({s:?}) run bf16 on the 3-stage ring or the resident tiles, \
             tf32 on the 3-stage ring"
        )));
    }
    // (The resident tiles take 16 channels under their own names.)
    let nar = if narrow(op, s) && ring != Ring::Wres {
        "_narrow"
    } else {
        ""
    };
    let name = format!(
        "conv_{op}_v6_{ptag}_{tag}{rows}{suffix}{nar}{}",
        ring.suffix()
    );
    let f = dev.function(FILE, &name)?;
    dev.raise_smem_limit(&f, &name, smem)?;
    let mut cfg = LaunchConfig {
        grid_dim: (n.div_ceil(bn) as u32, m.div_ceil(bm) as u32, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: smem as u32,
    };
    if ring == Ring::Wres {
        // Persistent: the blocks the GPU holds at once, shared by the column tiles, loop over the row tiles.
        let cols = cfg.grid_dim.0 as usize;
        let resident = super::waves::resident_blocks(dev, &f, 256, smem);
        cfg.grid_dim.1 = (resident.div_ceil(cols).max(1) as u32).min(cfg.grid_dim.1);
    }
    if cfg.grid_dim.1 > 65535 {
        return Err(Error::usage(format!(
            "convolution {s:?}: {m} GEMM rows exceed one launch; lower the batch size"
        )));
    }
    Ok((f, name, cfg))
}

/// `IPDPP_GW_ROWS=0` keeps the bf16 grad-weight on its full-height row tiles (for A/B runs on a GPU);
/// read once.
fn gw_rows_on() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_GW_ROWS").map_or(true, |v| v.trim() != "0"))
}

/// The row tile (entry-point infix, height) of the bf16 (and tf32) grad-weight over its `k` GEMM rows (K = kh·kw·c)
/// on column tile `tag` of full height `bm`: the shorter tiles of kernels/conv_tc6.cu (`_m192`, `_m128`
/// beside n64's 256 rows; `_m64` beside n128's 128) where one pads K to at least a fifth fewer rows than
/// the full tile, since a tile's rows past K cost the MMAs of real ones (ResNet-18's layer 1: K = 576 on
/// 768 rows, 576 on m192; the padded stem: K = 72 on 256, 128 on m128; its first projection shortcut:
/// K = 64 on 128, 64 on m64; ResNet-32's first two stages, n16 and n32 beside 256 rows: K = 144 on 192,
/// K = 288 on 384 instead of 512). A smaller saving keeps the full tile, whose blocks reuse each copied byte
/// more.
pub(crate) fn gw_rows(tag: &str, bm: usize, k: usize) -> (&'static str, usize) {
    if gw_rows_on() {
        shortest_gw_rows(tag, bm, k)
    } else {
        ("", bm)
    }
}

/// [`gw_rows`] whatever `IPDPP_GW_ROWS` says.
fn shortest_gw_rows(tag: &str, bm: usize, k: usize) -> (&'static str, usize) {
    let shorter: &[(&'static str, usize)] = match tag {
        "n64" => &[("_m192", 192), ("_m128", 128)],
        "n128" => &[("_m64", 64)],
        "n16" | "n32" => &[("_m192", 192)],
        _ => &[],
    };
    let padded = |b: usize| k.max(1).div_ceil(b) * b;
    let mut best = ("", bm);
    for &(t, b) in shorter {
        if padded(b) < padded(best.1) {
            best = (t, b);
        }
    }
    if padded(best.1) * 5 > padded(bm) * 4 {
        return ("", bm);
    }
    best
}

/// y[n, oh, ow, o] = conv(x, w) from x (NHWC) and w (OHWI) in precision `p`: bf16 operands (`u16`), or
/// fp32 ones rounded to TF32 in the kernel (`Tf32`) or multiplied exactly (`Fp32`).
pub fn conv_fwd_v6<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    fwd(dev, p, y, x, w, s, None, None)
}

/// `op` ("fwd": out = y from a = x, b = w; "bwd_input": out = gx from gy, w; "bwd_input_add": out += gx;
/// "bwd_weight": out = gw from gy, x) on the ring `ring` instead of the tuned one (tests: the rings must
/// agree bit for bit).
#[allow(clippy::too_many_arguments)]
pub fn conv_v6_on_ring<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    ring: Ring,
    op: &str,
    out: &mut CudaSlice<f32>,
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    match op {
        "fwd" => fwd(dev, p, out, a, b, s, None, Some(ring)),
        "bwd_input" => bwd_input(dev, p, out, a, b, s, Some(ring), false),
        "bwd_input_add" => bwd_input(dev, p, out, a, b, s, Some(ring), true),
        "bwd_weight" => bwd_weight(dev, p, out, a, b, s, Some(ring)),
        _ => Err(Error::usage(format!("conv v6: unknown op {op:?}"))),
    }
}

/// The forward launch, plain or (`stats` = the partial buffers) the `_stats` entry point; y fp32, or bf16
/// (`u16`, `_stats` only: `ConvDims::out16`).
#[allow(clippy::too_many_arguments)]
fn fwd<T: V6Operand, Y: DeviceRepr>(
    dev: &CudaDevice,
    p: ConvPrecision,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    mut stats: Option<(&mut CudaSlice<f32>, &mut CudaSlice<f32>)>,
    force: Option<Ring>,
) -> Result<()> {
    let suffix = if stats.is_some() { "_stats" } else { "" };
    let out16 = std::mem::size_of::<Y>() == 2;
    if out16 && (stats.is_none() || p != ConvPrecision::Bf16) {
        return Err(Error::usage(
            "conv fwd v6: a bf16 output comes with the batch-norm statistics, in bf16",
        ));
    }
    let m = s.n * s.oh() * s.ow();
    run_ring::<T>(dev, p, "fwd", suffix, s, m, s.o, force, |planned| {
        let st = stats.as_mut().map(|(a, b)| (&mut **a, &mut **b));
        launch_fwd(planned, dev, &mut *y, x, w, s, st, out16)
    })
}

/// A planned forward kernel (v6 or v7: `(float* y, [float* part_sum, float* part_m2,] const T* x,
/// const T* w, ConvDims d)`, the partials when `stats` is given); `out16`: y holds bf16 (a bf16 v6 or v7
/// `_stats` kernel).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_fwd<T: DeviceRepr, Y: DeviceRepr>(
    (f, name, cfg): (CudaFunction, String, LaunchConfig),
    dev: &CudaDevice,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    stats: Option<(&mut CudaSlice<f32>, &mut CudaSlice<f32>)>,
    out16: bool,
) -> Result<()> {
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    let bf16_stats =
        (name.contains("_v6_bf16_") || name.contains("_v7_bf16_")) && name.contains("_stats");
    if out16 != (std::mem::size_of::<Y>() == 2) || (out16 && !(bf16_stats && stats.is_some())) {
        return Err(Error::usage(format!(
            "{name}: a bf16 output is a bf16 v6 or v7 forward's with the statistics, with the output as u16"
        )));
    }
    let d = dims(s)?.bf16_out(out16);
    let mut l = dev.stream.launch_builder(&f);
    l.arg(y);
    if let Some((sum, m2)) = stats {
        // One partial per row tile (the `_wres` blocks loop over several; the `_m256` tiles write n128's,
        // one per 128-row half).
        let tiles = if name.ends_with("_wres") || name.contains("_m256") {
            (s.n * s.oh() * s.ow()).div_ceil(v4_tile(s.o).1)
        } else {
            cfg.grid_dim.1 as usize
        };
        check_len("conv stats", sum.len().min(m2.len()), tiles * s.o)?;
        l.arg(sum).arg(m2);
    }
    l.arg(x).arg(w).arg(&d);
    // SAFETY: (float* y, [float* part_sum, float* part_m2 (gridDim.y * O each),] const T* x, const T* w,
    // ConvDims d) with T the entry point's element, y bf16 [rows*O] exactly when d.out16 (a bf16 v6 or v7
    // `_stats` kernel, checked above); lengths checked above; the dynamic shared memory is
    // what the tile needs (the kernels trap otherwise) and holds the stats epilogue's scratch.
    unsafe { l.launch(cfg) }.map_err(launch_err(&name))?;
    Ok(())
}

/// gx[n, h, w, c] = ∂L/∂x from gy and w (operands and `p` as [`conv_fwd_v6`]), or with `add` gx += ∂L/∂x
/// (the epilogue adds to what gx holds: one fp32 addition per element, the sum the network's separate
/// add pass computes); strided convolutions by residue classes of input pixels
/// (`conv_bwd_input_v6_*_strided`), so no tap that cannot reach a pixel is multiplied.
pub fn conv_bwd_input_v6<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    gx: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    add: bool,
) -> Result<()> {
    bwd_input(dev, p, gx, gy, w, s, None, add)
}

/// [`conv_bwd_input_v6`] in bf16 at stride 1 storing gx as bf16 into `gx16` (`ConvDims::out16`, rounded to
/// nearest even; not adding).
pub fn conv_bwd_input_v6_16(
    dev: &CudaDevice,
    gx16: &mut CudaSlice<u16>,
    gy: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
    force: Option<Ring>,
) -> Result<()> {
    if s.stride != 1 {
        return Err(Error::usage(
            "conv bwd_input v6: a bf16 grad-input is stride 1's",
        ));
    }
    bwd_input(dev, ConvPrecision::Bf16, gx16, gy, w, s, force, false)
}

#[allow(clippy::too_many_arguments)]
fn bwd_input<T: V6Operand, Y: DeviceRepr>(
    dev: &CudaDevice,
    p: ConvPrecision,
    gx: &mut CudaSlice<Y>,
    gy: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    force: Option<Ring>,
    add: bool,
) -> Result<()> {
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv gx", gx.len(), s.x_len())?;
    let out16 = std::mem::size_of::<Y>() == 2;
    if out16 && (add || s.stride != 1 || p != ConvPrecision::Bf16) {
        return Err(Error::usage(
            "conv bwd_input v6: a bf16 gx is bf16 stride 1's, not adding",
        ));
    }
    let st = s.stride;
    let suffix = if st > 1 { "_strided" } else { "" };
    if add && force.is_none() && ring_used(dev, p, "bwd_input", suffix, s).is_none() {
        // The first call at a shape under IPDPP_V6_RING=auto times every ring on the caller's buffers
        // (`tune::pick`): adding would add once per timed launch, so the pick is made on a scratch first.
        let mut scratch = dev.scratch(s.x_len())?;
        bwd_input(dev, p, &mut *scratch, gy, w, s, None, false)?;
    }
    let d = dims(s)?.adding(add).bf16_out(out16);
    // Stride > 1: one residue class of input pixels per grid.z; grid.y covers the largest class.
    let (suffix, rows, classes) = if st > 1 {
        let z = u32::try_from(st * st)
            .ok()
            .filter(|&z| z <= 65535)
            .ok_or_else(|| Error::usage(format!("convolution {s:?}: stride too large")))?;
        ("_strided", s.n * s.h.div_ceil(st) * s.w.div_ceil(st), z)
    } else {
        ("", s.n * s.h * s.w, 1)
    };
    run_ring::<T>(
        dev,
        p,
        "bwd_input",
        suffix,
        s,
        rows,
        s.c,
        force,
        |(f, name, mut cfg)| {
            cfg.grid_dim.2 = classes;
            // SAFETY: (float* gx, const T* gy, const T* w, ConvDims d), gx bf16 [rows*C] exactly when
            // d.out16 (stride 1, not adding: checked above); lengths checked above.
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(&mut *gx)
                    .arg(gy)
                    .arg(w)
                    .arg(&d)
                    .launch(cfg)
            }
            .map_err(launch_err(&name))?;
            Ok(())
        },
    )
}

/// gw[o, kh, kw, c] = ∂L/∂w from gy and x (operands and `p` as [`conv_fwd_v6`]), as the transposed GEMM
/// gw^T[K, O] split over the output pixels (partial sums added with atomics into the zeroed gw).
pub fn conv_bwd_weight_v6<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    bwd_weight(dev, p, gw, gy, x, s, None)
}

fn bwd_weight<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
    force: Option<Ring>,
) -> Result<()> {
    run_ring::<T>(
        dev,
        p,
        "bwd_weight",
        "",
        s,
        s.kdim(),
        s.o,
        force,
        |planned| launch_bwd_weight(dev, planned, &mut *gw, gy, x, s),
    )
}

/// A planned grad-weight kernel (v6 or v7: `(float* gw, const T* gy, const T* x, ConvDims d, int
/// p_per_split)`) split over the output pixels, into the zeroed gw.
pub(crate) fn launch_bwd_weight<T: DeviceRepr>(
    dev: &CudaDevice,
    (f, name, mut cfg): (CudaFunction, String, LaunchConfig),
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
) -> Result<()> {
    let pix = s.n * s.oh() * s.ow();
    let mut per = split_pixels(dev, &f, &mut cfg, pix);
    let kt = gw_halo_ktile(s) as i32;
    if name.ends_with("_halo") && per % kt != 0 {
        // Its k-tiles are whole windows of 32 (at C = 16: 256) pixels; the splits of `split_pixels` are
        // whole 32-pixel units (16 under `IPDPP_SPLIT_WAVES=0`).
        per = (per + kt - 1) / kt * kt;
        cfg.grid_dim.2 = pix.div_ceil(per as usize) as u32;
    }
    launch_bwd_weight_per(dev, (f, name, cfg), gw, gy, x, s, per)
}

/// Zeroes gw and launches a planned grad-weight kernel (float* gw, const T* gy, const T* x, ConvDims d, int
/// per) whose grid and last argument `per` (pixels, rows or images a split) the caller sized.
pub(crate) fn launch_bwd_weight_per<T: DeviceRepr>(
    dev: &CudaDevice,
    (f, name, cfg): (CudaFunction, String, LaunchConfig),
    gw: &mut CudaSlice<f32>,
    gy: &CudaSlice<T>,
    x: &CudaSlice<T>,
    s: &ConvSpec,
    per: i32,
) -> Result<()> {
    check_len("conv gy", gy.len(), s.y_len())?;
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv gw", gw.len(), s.w_len())?;
    let d = dims(s)?;
    dev.stream
        .memset_zeros(gw)
        .map_err(|e| Error::driver("zeroing the weight gradient", e))?;
    // SAFETY: (float* gw, const T* gy, const T* x, ConvDims d, int p_per_split) with T the kernel's operand
    // element; gw zeroed, lengths checked above; the plan's dynamic shared memory.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(gw)
            .arg(gy)
            .arg(x)
            .arg(&d)
            .arg(&per)
            .launch(cfg)
    }
    .map_err(launch_err(&name))?;
    Ok(())
}

/// `src` cast to bf16 into `dst`, which grows when it is missing or too short.
pub fn cast_into<'a>(
    dev: &CudaDevice,
    dst: &'a mut Option<CudaSlice<u16>>,
    src: &CudaSlice<f32>,
) -> Result<&'a CudaSlice<u16>> {
    let b = alloc_at_least(dev, dst, src.len())?;
    cast_bf16_f32(dev, b, src)?;
    Ok(b)
}

fn alloc_at_least<'a, T: DeviceRepr + ValidAsZeroBits>(
    dev: &CudaDevice,
    dst: &'a mut Option<CudaSlice<T>>,
    n: usize,
) -> Result<&'a mut CudaSlice<T>> {
    if dst.as_ref().is_none_or(|b| b.len() < n) {
        *dst = None; // free the old buffer before allocating the new one
        *dst = Some(dev.zeros::<T>(n)?);
    }
    Ok(dst.as_mut().expect("allocated above"))
}

/// The bf16 copy of one f32 tensor (an activation slot, a weight, an output gradient) for the v6
/// convolutions: cast on first use, then reused by every convolution that reads the tensor until it is
/// marked stale (the network marks every copy stale when it starts a forward, and the gradient copy
/// before each backward convolution).
pub type Bf16Copy = DevCopy<u16>;

/// A device tensor derived from another (a bf16 cast, transposed weights), reused while fresh.
pub struct DevCopy<T> {
    buf: Option<CudaSlice<T>>,
    fresh: bool,
}

impl<T> Default for DevCopy<T> {
    fn default() -> Self {
        DevCopy {
            buf: None,
            fresh: false,
        }
    }
}

impl<T: DeviceRepr + ValidAsZeroBits> DevCopy<T> {
    pub fn stale(&mut self) {
        self.fresh = false;
    }
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }
    /// The copy while fresh.
    pub fn current(&self) -> Option<&CudaSlice<T>> {
        self.buf.as_ref().filter(|_| self.fresh)
    }
    /// A buffer of at least `n` elements for a kernel that writes the copy itself (marked fresh: the
    /// caller must write it before anything reads it).
    pub fn fill(&mut self, dev: &CudaDevice, n: usize) -> Result<&mut CudaSlice<T>> {
        self.fresh = true;
        alloc_at_least(dev, &mut self.buf, n)
    }
}

impl DevCopy<u16> {
    /// The copy of `src`, cast now unless it is fresh.
    pub fn get(&mut self, dev: &CudaDevice, src: &CudaSlice<f32>) -> Result<&CudaSlice<u16>> {
        if !self.fresh {
            cast_into(dev, &mut self.buf, src)?;
            self.fresh = true;
        }
        Ok(self.buf.as_ref().expect("cast above"))
    }
}

/// Per-row-block batch-norm partials written by a v6 forward's epilogue for the batch norm right after the
/// convolution (`conv_fwd_v6_*_stats`, see `Tc6OutStats`): `parts` blocks of `block_rows` rows, each a [C]
/// column sum and sum of squares about the block's mean. Fresh while they describe the output of the
/// network's current forward.
#[derive(Default)]
pub struct BnPartials {
    sum: Option<CudaSlice<f32>>,
    m2: Option<CudaSlice<f32>>,
    block_rows: usize,
    parts: usize,
    fresh: bool,
}

impl BnPartials {
    pub fn stale(&mut self) {
        self.fresh = false;
    }
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }
    /// Buffers for `parts` row blocks of `cols` columns for a kernel to write; stale until
    /// [`BnPartials::written`].
    pub(crate) fn buffers(
        &mut self,
        dev: &CudaDevice,
        parts: usize,
        cols: usize,
    ) -> Result<(&mut CudaSlice<f32>, &mut CudaSlice<f32>)> {
        self.fresh = false;
        let sum = alloc_at_least(dev, &mut self.sum, parts * cols)?;
        let m2 = alloc_at_least(dev, &mut self.m2, parts * cols)?;
        Ok((sum, m2))
    }
    /// Where every block of `block_rows` of the `rows` rows lies inside one of `groups` equal row ranges (the
    /// views): `launch` writes the partials of `cols` columns into the buffers, which are then fresh, and
    /// Ok(true); elsewhere nothing is launched, the partials are stale, Ok(false).
    pub(crate) fn fill_blocks(
        &mut self,
        dev: &CudaDevice,
        (rows, block_rows, cols): (usize, usize, usize),
        groups: usize,
        launch: impl FnOnce(&mut CudaSlice<f32>, &mut CudaSlice<f32>) -> Result<()>,
    ) -> Result<bool> {
        self.fresh = false;
        if groups == 0 || rows % groups != 0 || (rows / groups) % block_rows != 0 {
            return Ok(false);
        }
        let parts = rows / block_rows;
        let (sum, m2) = self.buffers(dev, parts, cols)?;
        launch(sum, m2)?;
        self.written(block_rows, parts);
        Ok(true)
    }
    /// Marks the buffers as holding `parts` blocks of `block_rows` rows of the current forward.
    pub(crate) fn written(&mut self, block_rows: usize, parts: usize) {
        self.block_rows = block_rows;
        self.parts = parts;
        self.fresh = true;
    }
    /// The partials of group `k` of `groups` equal row ranges (the views), when fresh.
    pub fn group(&self, k: usize, groups: usize) -> Option<BlockStats<'_>> {
        let (sum, m2) = (self.sum.as_ref()?, self.m2.as_ref()?);
        if !self.fresh || groups == 0 || self.parts % groups != 0 {
            return None;
        }
        let count = self.parts / groups;
        Some(BlockStats {
            sum,
            m2,
            first: k * count,
            count,
            block_rows: self.block_rows,
        })
    }
}

/// [`conv_fwd_v6`] that also writes the batch-norm partials of y into `out` for `groups` equal row ranges
/// (the views), when every row block lies inside one range; otherwise the plain forward, `out` stale.
pub fn conv_fwd_v6_stats<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<()> {
    fwd_stats(dev, p, y, x, w, s, groups, out, None)
}

/// [`conv_fwd_v6_stats`] on the ring `ring` instead of the tuned one (tests: the rings must agree bit for
/// bit, partials included).
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_v6_stats_on_ring<T: V6Operand>(
    dev: &CudaDevice,
    p: ConvPrecision,
    ring: Ring,
    y: &mut CudaSlice<f32>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
) -> Result<()> {
    fwd_stats(dev, p, y, x, w, s, groups, out, Some(ring))
}

/// [`conv_fwd_v6_stats`] in bf16 storing y as bf16 into `y16` (`ConvDims::out16`: rounded to nearest
/// even, the partials those of the rounded values, which a batch norm reading this y normalises). Ok(false),
/// with nothing launched and `out` stale, where the statistics cannot be taken per row block (a block
/// across two views): the caller then runs the fp32 forward.
#[allow(clippy::too_many_arguments)]
pub fn conv_fwd_v6_stats16(
    dev: &CudaDevice,
    y16: &mut CudaSlice<u16>,
    x: &CudaSlice<u16>,
    w: &CudaSlice<u16>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
    force: Option<Ring>,
) -> Result<bool> {
    let shape = (s.n * s.oh() * s.ow(), v4_tile(s.o).1, s.o);
    out.fill_blocks(dev, shape, groups, |sum, m2| {
        fwd(
            dev,
            ConvPrecision::Bf16,
            y16,
            x,
            w,
            s,
            Some((sum, m2)),
            force,
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn fwd_stats<T: V6Operand, Y: DeviceRepr>(
    dev: &CudaDevice,
    p: ConvPrecision,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    s: &ConvSpec,
    groups: usize,
    out: &mut BnPartials,
    force: Option<Ring>,
) -> Result<()> {
    let shape = (s.n * s.oh() * s.ow(), v4_tile(s.o).1, s.o);
    let filled = out.fill_blocks(dev, shape, groups, |sum, m2| {
        fwd(dev, p, &mut *y, x, w, s, Some((sum, m2)), force)
    })?;
    if !filled {
        fwd(dev, p, y, x, w, s, None, force)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every grad-weight row tile the launcher can name is an entry point of kernels/conv_tc6.cu (both
    /// rings), and none pads K to more rows than the full tile.
    #[test]
    fn gw_row_tiles_name_existing_entry_points_and_never_pad_more() {
        let eps = crate::kernels::get(FILE).unwrap().entry_points();
        let mut used = std::collections::BTreeSet::new();
        for k in 1..=5000 {
            for cols in [16, 32, 64, 128] {
                let (tag, bm, _) = v4_tile(cols);
                let (rows, h) = shortest_gw_rows(tag, bm, k);
                assert!(
                    k.div_ceil(h) * h <= k.div_ceil(bm) * bm,
                    "K {k} {tag}{rows}"
                );
                for (ring, prec) in [Ring::S3, Ring::S4]
                    .into_iter()
                    .flat_map(|r| ["bf16", "tf32"].map(|p| (r, p)))
                {
                    let name = format!("conv_bwd_weight_v6_{prec}_{tag}{rows}{}", ring.suffix());
                    assert!(eps.contains(&name.as_str()), "{name} is not in {FILE}.cu");
                }
                used.insert(format!("{tag}{rows}"));
            }
        }
        // Each shorter tile is picked somewhere (ResNet-18: K = 576 on n64, the stem's K = 72, K = 64;
        // ResNet-32: K = 144 on n16, 288 on n32).
        for t in ["n64_m192", "n64_m128", "n128_m64", "n16_m192", "n32_m192"] {
            assert!(used.contains(t), "{t} never picked: {used:?}");
        }
    }

    /// Where the window grad-weight and the resident-weight tiles run at the 3×3 stride-1 shapes of
    /// ResNet-18 and ResNet-32 (batch 512), what they take of an H100's 227 KB, and that the entry points
    /// the launcher would name exist.
    #[test]
    fn window_and_resident_tiles_take_the_shapes_meant_for_them() {
        let eps = crate::kernels::get(FILE).unwrap().entry_points();
        let optin = 227 * 1024;
        let sh = |hw: usize, c: usize| ConvSpec::new(512, hw, hw, c, c, 3, 1, 1);
        // ResNet-18's layers 1-4, ResNet-32's stages 1-3.
        let r18 = [sh(32, 64), sh(16, 128), sh(8, 256), sh(4, 512)];
        let r32 = [sh(32, 16), sh(16, 32), sh(8, 64)];
        let gw = |s: &ConvSpec| gw_halo_smem(s).is_some_and(|b| b <= optin);
        let wres = |op: &str, s: &ConvSpec| wres_smem(op, s, true).is_some_and(|b| b <= optin);
        assert_eq!(r18.map(|s| gw(&s)), [true, true, true, false]);
        assert_eq!(r32.map(|s| gw(&s)), [true, true, true]);
        for op in ["fwd", "bwd_input"] {
            assert_eq!(
                r18.map(|s| wres(op, &s)),
                [true, false, false, false],
                "{op}"
            );
            assert_eq!(r32.map(|s| wres(op, &s)), [true, true, true], "{op}");
        }
        // Not at stride 2, 1×1, or 8 channels (the padded stem).
        assert!(!gw(&ConvSpec::new(512, 32, 32, 64, 128, 3, 2, 1)));
        assert!(!wres("fwd", &ConvSpec::new(512, 32, 32, 64, 128, 1, 2, 0)));
        assert!(!wres("fwd", &ConvSpec::new(512, 32, 32, 8, 64, 3, 1, 1)));
        for s in r18.iter().chain(&r32) {
            if gw(s) {
                let tag = if s.c == 16 { "n16" } else { "n64" };
                let name = format!("conv_bwd_weight_v6_bf16_{tag}_halo");
                assert!(eps.contains(&name.as_str()), "{name}");
            }
            for (op, suffix) in [("fwd", ""), ("fwd", "_stats"), ("bwd_input", "")] {
                if wres(op, s) {
                    let (tag, _, _) = v4_tile(out_cols(op, s));
                    let name = format!("conv_{op}_v6_bf16_{tag}{suffix}_wres");
                    assert!(eps.contains(&name.as_str()), "{name}");
                }
            }
        }
    }
}
