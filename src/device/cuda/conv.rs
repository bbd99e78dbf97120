//! Launchers for kernels/conv.cu: NHWC convolution, OHWI weights; v1 direct, v2 implicit GEMM.
use super::{check_len, launch_err, CudaDevice};
use crate::device::cpu::conv::ConvSpec;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

/// Mirror of `struct ConvDims` in kernels/conv_gather.cuh (twelve ints, passed by value).
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
    /// 1: the v6/v7 grad-input kernels add their result to gx ([`ConvDims::adding`]); others ignore it.
    add: i32,
    /// 1: the v6 forward with batch-norm statistics stores y as bf16 ([`ConvDims::bf16_out`]).
    out16: i32,
}

impl ConvDims {
    /// The same geometry for a grad-input that adds into gx instead of storing.
    pub(crate) fn adding(self, add: bool) -> ConvDims {
        ConvDims {
            add: add as i32,
            ..self
        }
    }
    /// The same geometry for a v6 `_stats` forward that stores y as bf16.
    pub(crate) fn bf16_out(self, on: bool) -> ConvDims {
        ConvDims {
            out16: on as i32,
            ..self
        }
    }
}

// SAFETY: plain-old-data with the same layout as the C struct.
unsafe impl DeviceRepr for ConvDims {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvVersion {
    V1,
    V2,
}

/// Largest GEMM dimension the tile kernels take: they hold rows, columns and the reduction index as
/// `int` and step past the end by less than one tile (`row0 + 127`, `k0 += 16`), so keep 256 of headroom.
const GEMM_DIM_MAX: usize = i32::MAX as usize - 256;

/// The kernel-side geometry of `s` (shared with the tensor-core launchers), refusing the sizes the kernels
/// cannot index.
///
/// What is really 32-bit in kernels/conv_gather.cuh, conv.cu, conv_tc.cu and igemm.cuh: the geometry
/// fields of `ConvDims`, the GEMM row index m (M = n·oh·ow forward and grad-weight, n·h·w grad-input),
/// the reduction index k (K = kh·kw·c forward and grad-weight, kh·kw·o grad-input) and the column index
/// (o, c or kh·kw·c). Every memory offset is formed in 64 bits from those (`(long long)n * h + iy ...`),
/// no kernel forms a flat index of the virtual im2col matrix (m·K + k), and the v1 grid-stride loops
/// count elements in `long long`; so the virtual sizes n·oh·ow·kh·kw·c and n·h·w·kh·kw·o may exceed
/// `i32::MAX` (ResNet-18 at 1024 images per view does). The tensor lengths (x, y, w) stay bounded by
/// `i32::MAX`: the indexing does not need it, but it makes every `ConvDims` field lossless as `int`.
/// The grid limits (65535 row tiles) belong to each launcher's tile shape, see [`tiles`].
pub(crate) fn dims(s: &ConvSpec) -> Result<ConvDims> {
    if [s.n, s.h, s.w, s.c, s.o, s.kh, s.kw, s.stride].contains(&0)
        || s.kh > s.h + 2 * s.pad
        || s.kw > s.w + 2 * s.pad
    {
        return Err(Error::usage(format!(
            "convolution {s:?} is empty: every size and the stride must be positive and the kernel must fit the padded input"
        )));
    }
    let tensors = [("x", s.x_len()), ("y", s.y_len()), ("w", s.w_len())];
    if let Some((name, len)) = tensors.iter().find(|t| t.1 > i32::MAX as usize) {
        return Err(Error::usage(format!(
            "convolution {s:?}: tensor {name} has {len} elements, beyond 32-bit indexing; lower the batch size"
        )));
    }
    let gemm = [
        s.n * s.oh() * s.ow(),
        s.n * s.h * s.w,
        s.kdim(),
        s.kh * s.kw * s.o,
    ];
    if gemm.iter().any(|&v| v > GEMM_DIM_MAX) || s.stride > GEMM_DIM_MAX || s.pad > GEMM_DIM_MAX {
        return Err(Error::usage(format!(
            "convolution {s:?} exceeds 32-bit GEMM dimensions; lower the batch size"
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
        add: 0,
        out16: 0,
    })
}

fn flat(dev: &CudaDevice, n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (dev.grid_for(n, 256), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The grid of 128x128 tiles over an m x n GEMM (z slices). `gridDim.y` (the row tiles) is limited to
/// 65535, so at most 8 388 480 GEMM rows (n·oh·ow or n·h·w) per launch.
fn tiles(m: usize, n: usize, z: usize) -> Result<LaunchConfig> {
    let rows = m.div_ceil(128);
    if rows > 65535 {
        return Err(Error::usage(format!(
            "convolution with {m} GEMM rows (images x pixels) is beyond one launch of 128-row tiles \
             (65535 x 128); lower the batch size"
        )));
    }
    Ok(LaunchConfig {
        grid_dim: (n.div_ceil(128) as u32, rows as u32, z as u32),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// col [n·oh·ow, kp] = bf16 of x's column matrix (k = (ky, kx, c) as OHWI weights flatten), zero in the
/// padding and for kh·kw·c ≤ k < kp: the stem's forward as a 1×1 convolution over col
/// ([`super::conv_tc::conv_fwd_kept`]). CPU reference: [`crate::device::cpu::conv::im2col_f32`].
pub fn im2col_bf16_f32(
    dev: &CudaDevice,
    col: &mut CudaSlice<u16>,
    x: &CudaSlice<f32>,
    s: &ConvSpec,
    kp: usize,
) -> Result<()> {
    if kp < s.kdim() || kp > i32::MAX as usize {
        return Err(Error::usage(format!(
            "im2col of {s:?}: {kp} columns cannot hold its {} taps x channels",
            s.kdim()
        )));
    }
    let rows = s.n * s.oh() * s.ow();
    check_len("im2col x", x.len(), s.x_len())?;
    check_len("im2col col", col.len(), rows * kp)?;
    let d = dims(s)?;
    let kpi = kp as i32;
    let f = dev.function("conv", "im2col_bf16_f32")?;
    // SAFETY: (u16* col, const float* x, ConvDims d, int kp): col holds n·oh·ow·kp, x n·h·w·c (checked).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(col)
            .arg(x)
            .arg(&d)
            .arg(&kpi)
            .launch(flat(dev, rows * kp))
    }
    .map_err(launch_err("im2col_bf16_f32"))?;
    Ok(())
}

/// Rows of a `conv_stem_fwd` block (mirrors STEM_ROWS in kernels/conv.cu): the row blocks of its
/// batch-norm partials.
pub const STEM_ROWS: usize = 128;

/// Whether [`conv_stem_fwd`] takes `s`: at most 32 taps × channels (the stem: 27) and 16, 32 or 64 output
/// channels.
pub fn stem_takes(s: &ConvSpec) -> bool {
    s.kdim() <= 32 && matches!(s.o, 16 | 32 | 64)
}

/// How [`conv_stem_fwd`] rounds its operands, as the tensor-core path of each precision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StemRound {
    Exact = 0,
    Bf16 = 1,
    Tf32 = 2,
}

/// y = conv(x, w) for a convolution with few input channels (the stem), direct on CUDA cores: operands
/// rounded by `rnd` (so each product is exact in fp32), fp32 sums; y fp32 or bf16 (`Y` = u16, rounded to
/// nearest even); with `parts` = (sum, m2), the batch-norm partials of every [`STEM_ROWS`]-row block of
/// the stored values ([n·oh·ow / 128] × o each). CPU reference: `cpu::conv::conv_fwd_f32` on the rounded
/// operands.
pub fn conv_stem_fwd<Y: DeviceRepr>(
    dev: &CudaDevice,
    rnd: StemRound,
    y: &mut CudaSlice<Y>,
    x: &CudaSlice<f32>,
    w: &CudaSlice<f32>,
    s: &ConvSpec,
    parts: Option<(&mut CudaSlice<f32>, &mut CudaSlice<f32>)>,
) -> Result<()> {
    if !stem_takes(s) {
        return Err(Error::usage(format!(
            "conv_stem_fwd of {s:?}: it takes at most 32 taps x channels and 16, 32 or 64 output channels"
        )));
    }
    let out16 = std::mem::size_of::<Y>() == 2;
    let rows = s.n * s.oh() * s.ow();
    let blocks = rows.div_ceil(STEM_ROWS);
    check_len("conv x", x.len(), s.x_len())?;
    check_len("conv w", w.len(), s.w_len())?;
    check_len("conv y", y.len(), s.y_len())?;
    if let Some((a, b)) = &parts {
        check_len("conv partial sums", a.len(), blocks * s.o)?;
        check_len("conv partial m2", b.len(), blocks * s.o)?;
    }
    let grid = u32::try_from(blocks).map_err(|_| {
        Error::usage(format!(
            "convolution {s:?}: too many rows; lower the batch size"
        ))
    })?;
    let d = dims(s)?.bf16_out(out16);
    let r = rnd as i32;
    let name = format!("conv_stem_fwd_o{}", s.o);
    let f = dev.function("conv", &name)?;
    let null = 0u64;
    let mut b = dev.stream.launch_builder(&f);
    b.arg(y);
    match parts {
        Some((sum, m2)) => b.arg(sum).arg(m2),
        None => b.arg(&null).arg(&null),
    };
    b.arg(x).arg(w).arg(&d).arg(&r);
    let cfg = LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: (void* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d, int
    // rnd): y holds n·oh·ow·o elements of Y (bf16 exactly when d.out16), the partials (or null) one row of
    // o per 128-row block, x and w their shapes' lengths (all checked above); the kernel traps on
    // kh·kw·c > 32 or o other than its entry point's (checked: `stem_takes`, the name).
    unsafe { b.launch(cfg) }.map_err(launch_err(&name))?;
    Ok(())
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
        ConvVersion::V2 => ("conv_fwd_v2_f32", tiles(s.n * s.oh() * s.ow(), s.o, 1)?),
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
        ConvVersion::V2 => ("conv_bwd_input_v2_f32", tiles(s.n * s.h * s.w, s.c, 1)?),
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
                    .launch(tiles(s.o, s.kdim(), splits)?)
            }
            .map_err(launch_err("conv_bwd_weight_v2_f32"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_accepts_resnet18_at_batch_2048_rows() {
        // layer2.0.conv1 of ResNet-18 with 1024 images per view (2048 rows): 32x32x64 → 16x16x128,
        // 3x3 stride 2. Its virtual grad-input GEMM n·h·w·kh·kw·o = 2.4e9 exceeds i32::MAX; nothing the
        // kernels index does.
        let s = ConvSpec::new(2048, 32, 32, 64, 128, 3, 2, 1);
        assert!(s.n * s.h * s.w * s.kh * s.kw * s.o > i32::MAX as usize);
        let d = dims(&s).expect("ResNet-18 at batch 2048 must be accepted");
        assert_eq!((d.n, d.oh, d.ow, d.o), (2048, 16, 16, 128));
        // Its stem and the stride-2 1x1 shortcut too.
        dims(&ConvSpec::new(2048, 32, 32, 3, 64, 3, 1, 1)).unwrap();
        dims(&ConvSpec::new(2048, 32, 32, 64, 128, 1, 2, 0)).unwrap();
    }

    #[test]
    fn dims_refuses_a_tensor_beyond_i32() {
        // 65536 pixels x 32768 channels = 2^31 input elements; the GEMM dimensions alone would fit.
        let s = ConvSpec::new(64, 32, 32, 32768, 1, 1, 1, 0);
        assert!(s.x_len() > i32::MAX as usize);
        let e = dims(&s).unwrap_err().to_string();
        assert!(e.contains("tensor x") && e.contains("batch size"), "{e}");
    }

    #[test]
    fn tiles_refuse_more_rows_than_one_grid_launches() {
        // 8192 images of 32x32: 8 388 608 rows, 128 more than 65535 tiles of 128. dims() accepts it.
        let s = ConvSpec::new(8192, 32, 32, 3, 16, 3, 1, 1);
        dims(&s).unwrap();
        let e = tiles(s.n * s.oh() * s.ow(), s.o, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("GEMM rows"), "{e}");
        assert!(tiles(65535 * 128, 16, 1).is_ok());
    }
}
