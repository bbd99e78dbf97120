//! Device dispatch for the network ops (conv, batch norm with per-view statistics, pooling, option-A
//! shortcut, linear): the CPU reference on the CPU, the CUDA launchers on a GPU. The batch-norm tails
//! of residual networks (BN → ReLU, BN → add → ReLU) come in two versions, [`BnTailVersion`].
use super::cpu::{self, conv::ConvSpec, norm::BnSpec};
use super::cuda::conv_tc6::BnPartials;
use super::cuda::{self, conv::ConvVersion, norm::BnView};
use super::ops::{self, GemmVersion};
use super::{Buffer, Device};
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, CudaViewMut};

fn mismatch(op: &str) -> Error {
    Error::usage(format!(
        "{op}: buffers live on a different device than the one given"
    ))
}

pub fn conv_fwd(dev: &Device, y: &mut Buffer, x: &Buffer, w: &Buffer, s: &ConvSpec) -> Result<()> {
    match (dev, y, x, w) {
        (Device::Cpu, Buffer::Cpu(y), Buffer::Cpu(x), Buffer::Cpu(w)) => {
            cpu::conv::conv_fwd_f32(y, x, w, s);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w)) => {
            cuda::conv::conv_fwd_f32(d, ConvVersion::V2, y, x, w, s)
        }
        _ => Err(mismatch("conv_fwd")),
    }
}

pub fn conv_bwd_input(
    dev: &Device,
    gx: &mut Buffer,
    gy: &Buffer,
    w: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, gx, gy, w) {
        (Device::Cpu, Buffer::Cpu(gx), Buffer::Cpu(gy), Buffer::Cpu(w)) => {
            cpu::conv::conv_bwd_input_f32(gx, gy, w, s);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(gx), Buffer::Cuda(gy), Buffer::Cuda(w)) => {
            cuda::conv::conv_bwd_input_f32(d, ConvVersion::V2, gx, gy, w, s)
        }
        _ => Err(mismatch("conv_bwd_input")),
    }
}

pub fn conv_bwd_weight(
    dev: &Device,
    gw: &mut Buffer,
    gy: &Buffer,
    x: &Buffer,
    s: &ConvSpec,
) -> Result<()> {
    match (dev, gw, gy, x) {
        (Device::Cpu, Buffer::Cpu(gw), Buffer::Cpu(gy), Buffer::Cpu(x)) => {
            cpu::conv::conv_bwd_weight_f32(gw, gy, x, s);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(gw), Buffer::Cuda(gy), Buffer::Cuda(x)) => {
            cuda::conv::conv_bwd_weight_f32(d, ConvVersion::V2, gw, gy, x, s)
        }
        _ => Err(mismatch("conv_bwd_weight")),
    }
}

/// Batch-norm state of one layer: parameters are passed separately, statistics live here.
pub struct BnBuffers<'a> {
    pub running_mean: &'a mut Buffer,
    pub running_var: &'a mut Buffer,
    /// Saved per-group batch mean and 1/sqrt(var + eps), [groups, C].
    pub mean: &'a mut Buffer,
    pub rstd: &'a mut Buffer,
}

/// Training forward over `groups` equal slices of the rows, each with its own batch statistics
/// (the two views of a batch); the running statistics are updated once per group, in order.
/// `pre`: the batch-norm partials that a v6 convolution wrote for x in its epilogue (CUDA only), used
/// instead of the statistics passes over x when fresh.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_fwd_train(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    gamma: &Buffer,
    beta: &Buffer,
    st: BnBuffers<'_>,
    s: &BnSpec,
    groups: usize,
    pre: Option<&BnPartials>,
) -> Result<()> {
    let groups = groups.max(1);
    let g = group_spec("batch norm", s, groups, &[])?;
    let (n, c) = (g.rows * s.c, s.c);
    match (
        dev,
        y,
        x,
        gamma,
        beta,
        st.running_mean,
        st.running_var,
        st.mean,
        st.rstd,
    ) {
        (
            Device::Cpu,
            Buffer::Cpu(y),
            Buffer::Cpu(x),
            Buffer::Cpu(ga),
            Buffer::Cpu(be),
            Buffer::Cpu(rm),
            Buffer::Cpu(rv),
            Buffer::Cpu(m),
            Buffer::Cpu(r),
        ) => {
            for k in 0..groups {
                cpu::norm::batchnorm_fwd_train_f32(
                    &mut y[k * n..(k + 1) * n],
                    &mut m[k * c..(k + 1) * c],
                    &mut r[k * c..(k + 1) * c],
                    rm,
                    rv,
                    &x[k * n..(k + 1) * n],
                    ga,
                    be,
                    &g,
                );
            }
            Ok(())
        }
        (
            Device::Cuda(d),
            Buffer::Cuda(y),
            Buffer::Cuda(x),
            Buffer::Cuda(ga),
            Buffer::Cuda(be),
            Buffer::Cuda(rm),
            Buffer::Cuda(rv),
            Buffer::Cuda(m),
            Buffer::Cuda(r),
        ) => {
            for k in 0..groups {
                cuda::norm::batchnorm_fwd_train_f32(
                    d,
                    &mut y.slice_mut(k * n..(k + 1) * n),
                    &mut m.slice_mut(k * c..(k + 1) * c),
                    &mut r.slice_mut(k * c..(k + 1) * c),
                    &mut rm.as_view_mut(),
                    &mut rv.as_view_mut(),
                    &x.slice(k * n..(k + 1) * n),
                    pre.and_then(|p| p.group(k, groups)).as_ref(),
                    &ga.as_view(),
                    &be.as_view(),
                    &g,
                )?;
            }
            Ok(())
        }
        _ => Err(mismatch("batchnorm_fwd_train")),
    }
}

pub fn batchnorm_fwd_eval(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    gamma: &Buffer,
    beta: &Buffer,
    rm: &Buffer,
    rv: &Buffer,
    s: &BnSpec,
) -> Result<()> {
    match (dev, y, x, gamma, beta, rm, rv) {
        (
            Device::Cpu,
            Buffer::Cpu(y),
            Buffer::Cpu(x),
            Buffer::Cpu(ga),
            Buffer::Cpu(be),
            Buffer::Cpu(rm),
            Buffer::Cpu(rv),
        ) => {
            cpu::norm::batchnorm_fwd_eval_f32(y, x, rm, rv, ga, be, s);
            Ok(())
        }
        (
            Device::Cuda(d),
            Buffer::Cuda(y),
            Buffer::Cuda(x),
            Buffer::Cuda(ga),
            Buffer::Cuda(be),
            Buffer::Cuda(rm),
            Buffer::Cuda(rv),
        ) => cuda::norm::batchnorm_fwd_eval_f32(
            d,
            &mut y.as_view_mut(),
            &x.as_view(),
            &rm.as_view(),
            &rv.as_view(),
            &ga.as_view(),
            &be.as_view(),
            s,
        ),
        _ => Err(mismatch("batchnorm_fwd_eval")),
    }
}

/// Training backward per group; ∂γ and ∂β are summed over the groups (overwritten).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_bwd(
    dev: &Device,
    gx: &mut Buffer,
    ggamma: &mut Buffer,
    gbeta: &mut Buffer,
    gy: &Buffer,
    x: &Buffer,
    gamma: &Buffer,
    mean: &Buffer,
    rstd: &Buffer,
    s: &BnSpec,
    groups: usize,
) -> Result<()> {
    let groups = groups.max(1);
    let g = BnSpec {
        rows: s.rows / groups,
        ..*s
    };
    let (n, c) = (g.rows * s.c, s.c);
    match (dev, gx, ggamma, gbeta, gy, x, gamma, mean, rstd) {
        (
            Device::Cpu,
            Buffer::Cpu(gx),
            Buffer::Cpu(gg),
            Buffer::Cpu(gb),
            Buffer::Cpu(gy),
            Buffer::Cpu(x),
            Buffer::Cpu(ga),
            Buffer::Cpu(m),
            Buffer::Cpu(r),
        ) => {
            cpu_view_grads(gg, gb, groups, c, |k, tg, tb| {
                cpu::norm::batchnorm_bwd_f32(
                    &mut gx[k * n..(k + 1) * n],
                    tg,
                    tb,
                    &gy[k * n..(k + 1) * n],
                    &x[k * n..(k + 1) * n],
                    &m[k * c..(k + 1) * c],
                    &r[k * c..(k + 1) * c],
                    ga,
                    &g,
                )
            });
            Ok(())
        }
        (
            Device::Cuda(d),
            Buffer::Cuda(gx),
            Buffer::Cuda(gg),
            Buffer::Cuda(gb),
            Buffer::Cuda(gy),
            Buffer::Cuda(x),
            Buffer::Cuda(ga),
            Buffer::Cuda(m),
            Buffer::Cuda(r),
        ) => cuda_view_grads(d, gg, gb, groups, c, |k, tg, tb| {
            cuda::norm::batchnorm_bwd_f32(
                d,
                &mut gx.slice_mut(k * n..(k + 1) * n),
                tg,
                tb,
                &gy.slice(k * n..(k + 1) * n),
                &x.slice(k * n..(k + 1) * n),
                &m.slice(k * c..(k + 1) * c),
                &r.slice(k * c..(k + 1) * c),
                &ga.as_view(),
                &g,
            )
        }),
        _ => Err(mismatch("batchnorm_bwd")),
    }
}

/// ∂γ and ∂β over `groups` views on the CPU: `per_view(k, tg, tb)` writes view k's into scratch
/// vectors, which are summed in view order into gg and gb (overwritten).
fn cpu_view_grads(
    gg: &mut [f32],
    gb: &mut [f32],
    groups: usize,
    c: usize,
    mut per_view: impl FnMut(usize, &mut [f32], &mut [f32]),
) {
    let (mut tg, mut tb) = (vec![0.0f32; c], vec![0.0f32; c]);
    gg[..c].fill(0.0);
    gb[..c].fill(0.0);
    for k in 0..groups {
        per_view(k, &mut tg, &mut tb);
        for j in 0..c {
            gg[j] += tg[j];
            gb[j] += tb[j];
        }
    }
}

/// ∂γ and ∂β over `groups` views on a GPU: `per_view(k, tg, tb)` writes view k's into scratch row k,
/// and the row-sum kernel sums the rows into gg and gb (overwritten).
fn cuda_view_grads(
    d: &cuda::CudaDevice,
    gg: &mut CudaSlice<f32>,
    gb: &mut CudaSlice<f32>,
    groups: usize,
    c: usize,
    mut per_view: impl FnMut(usize, &mut CudaViewMut<'_, f32>, &mut CudaViewMut<'_, f32>) -> Result<()>,
) -> Result<()> {
    let mut tg = d.scratch_zeros(groups * c)?;
    let mut tb = d.scratch_zeros(groups * c)?;
    for k in 0..groups {
        per_view(
            k,
            &mut tg.slice_mut(k * c..(k + 1) * c),
            &mut tb.slice_mut(k * c..(k + 1) * c),
        )?;
    }
    cuda::linear::col_sum_f32(d, gg, &tg, groups, c)?;
    cuda::linear::col_sum_f32(d, gb, &tb, groups, c)
}

pub fn avgpool_fwd(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    n: usize,
    hw: usize,
    c: usize,
) -> Result<()> {
    match (dev, y, x) {
        (Device::Cpu, Buffer::Cpu(y), Buffer::Cpu(x)) => {
            cpu::pool::avgpool_fwd_f32(y, x, n, hw, c);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x)) => {
            cuda::pool::avgpool_fwd_f32(d, y, x, n, hw, c)
        }
        _ => Err(mismatch("avgpool_fwd")),
    }
}

pub fn avgpool_bwd(
    dev: &Device,
    gx: &mut Buffer,
    gy: &Buffer,
    n: usize,
    hw: usize,
    c: usize,
) -> Result<()> {
    match (dev, gx, gy) {
        (Device::Cpu, Buffer::Cpu(gx), Buffer::Cpu(gy)) => {
            cpu::pool::avgpool_bwd_f32(gx, gy, n, hw, c);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(gx), Buffer::Cuda(gy)) => {
            cuda::pool::avgpool_bwd_f32(d, gx, gy, n, hw, c)
        }
        _ => Err(mismatch("avgpool_bwd")),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn shortcut_a_fwd(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) -> Result<()> {
    match (dev, y, x) {
        (Device::Cpu, Buffer::Cpu(y), Buffer::Cpu(x)) => {
            cpu::pool::shortcut_a_fwd_f32(y, x, n, h, w, c, pad);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x)) => {
            cuda::pool::shortcut_a_fwd_f32(d, y, x, n, h, w, c, pad)
        }
        _ => Err(mismatch("shortcut_a_fwd")),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn shortcut_a_bwd(
    dev: &Device,
    gx: &mut Buffer,
    gy: &Buffer,
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    pad: usize,
) -> Result<()> {
    match (dev, gx, gy) {
        (Device::Cpu, Buffer::Cpu(gx), Buffer::Cpu(gy)) => {
            cpu::pool::shortcut_a_bwd_f32(gx, gy, n, h, w, c, pad);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(gx), Buffer::Cuda(gy)) => {
            cuda::pool::shortcut_a_bwd_f32(d, gx, gy, n, h, w, c, pad)
        }
        _ => Err(mismatch("shortcut_a_bwd")),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn linear_fwd(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    w: &Buffer,
    b: Option<&Buffer>,
    rows: usize,
    din: usize,
    dout: usize,
) -> Result<()> {
    match (dev, y, x, w) {
        (Device::Cpu, Buffer::Cpu(y), Buffer::Cpu(x), Buffer::Cpu(w)) => {
            let b = match b {
                Some(Buffer::Cpu(b)) => Some(b.as_slice()),
                None => None,
                _ => return Err(mismatch("linear_fwd bias")),
            };
            cpu::linear::linear_fwd_f32(y, x, w, b, rows, din, dout);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x), Buffer::Cuda(w)) => {
            let b = match b {
                Some(Buffer::Cuda(b)) => Some(b),
                None => None,
                _ => return Err(mismatch("linear_fwd bias")),
            };
            cuda::linear::linear_fwd_f32(d, linear_gemm(d), y, x, w, b, rows, din, dout)
        }
        _ => Err(mismatch("linear_fwd")),
    }
}

/// The SGEMM of the linear layers on a GPU: cuBLAS (exact fp32: its default math mode, no TF32) where
/// the library loads, else v3. The projector's products are small and skinny (2048 x 2048 x 128 in a
/// ResNet-18 step at batch 1024): v3's 128 x 128 tiles leave most of an H200 idle there (2.3 TFLOP/s,
/// 2026-11-27), while cuBLAS picks split-K kernels for them.
fn linear_gemm(d: &cuda::CudaDevice) -> GemmVersion {
    if d.blas().is_ok() {
        GemmVersion::Cublas
    } else {
        GemmVersion::V3
    }
}

#[allow(clippy::too_many_arguments)]
pub fn linear_bwd(
    dev: &Device,
    gx: Option<&mut Buffer>,
    gw: &mut Buffer,
    gb: Option<&mut Buffer>,
    gy: &Buffer,
    x: &Buffer,
    w: &Buffer,
    rows: usize,
    din: usize,
    dout: usize,
) -> Result<()> {
    match (dev, gw, gy, x, w) {
        (Device::Cpu, Buffer::Cpu(gw), Buffer::Cpu(gy), Buffer::Cpu(x), Buffer::Cpu(w)) => {
            let gx = match gx {
                Some(Buffer::Cpu(v)) => Some(v.as_mut_slice()),
                None => None,
                _ => return Err(mismatch("linear_bwd gx")),
            };
            let gb = match gb {
                Some(Buffer::Cpu(v)) => Some(v.as_mut_slice()),
                None => None,
                _ => return Err(mismatch("linear_bwd gb")),
            };
            cpu::linear::linear_bwd_f32(gx, gw, gb, gy, x, w, rows, din, dout);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(gw), Buffer::Cuda(gy), Buffer::Cuda(x), Buffer::Cuda(w)) => {
            let gx = match gx {
                Some(Buffer::Cuda(v)) => Some(v),
                None => None,
                _ => return Err(mismatch("linear_bwd gx")),
            };
            let gb = match gb {
                Some(Buffer::Cuda(v)) => Some(v),
                None => None,
                _ => return Err(mismatch("linear_bwd gb")),
            };
            cuda::linear::linear_bwd_f32(d, linear_gemm(d), gx, gw, gb, gy, x, w, rows, din, dout)
        }
        _ => Err(mismatch("linear_bwd")),
    }
}

// ------------------------------------------------------------------------------------------------
// Batch-norm tails: relu(bn(x)) ("batchnorm_relu") and relu(bn(x) + sc) ("batchnorm_add_relu"), with
// per-view statistics over `groups` equal slices of the rows, as `batchnorm_fwd_train`.

/// Versions of the batch-norm tails (numbered as in kernels/norm.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BnTailVersion {
    /// The unfused ops one after the other through temporaries: `batchnorm_fwd_train` /
    /// `batchnorm_fwd_eval` / `batchnorm_bwd` (norm.cu v1), then `add_f32`, `relu_fwd_f32`,
    /// `relu_bwd_f32`, `copy_f32` / `add_inplace_f32` (elementwise.cu). Validated on an H200; the
    /// network's default, which runs the same ops node by node.
    V1,
    /// The fused kernels of norm.cu v2 (`batchnorm_relu_*`, `batchnorm_add_relu_*`): one elementwise
    /// pass each way after the statistics. On the CPU the fused references (compositions of the v1
    /// references, the same bits as V1). Validated on an H200 (2026-11-27).
    V2,
    /// V2 with the backward of relu(bn(x)) taking its ReLU mask from x, γ and β as the forward computed it
    /// (`batchnorm_relu_bwd_*_v3_f32`), so it reads gy and x instead of gy, y and x in both passes; the
    /// residual tail as V2. The same bits as V2 (the mask is the stored output's bit for bit). Validated on
    /// an H200 (2026-11-28: ResNet-18 fp32 and bf16 steps against the unfused ops).
    V3,
    /// V3 reading the batch norm's input x as bf16 where a network has the v6 convolution before the tail
    /// store its output so in a training forward (`conv_tc::conv_fwd_kept`'s bf16 output, statistics from
    /// its epilogue; the `_x16` kernels): half the bytes of x in the three passes that read it, and the
    /// convolution writes half as many. Elsewhere (eval, the CPU, other convolutions) V3. bf16 rounding of
    /// x, as PyTorch's autocast stores convolution outputs, so close to V3, not equal. Written without a
    /// GPU (2026-11-27, fifth session); opt-in (`IPDPP_BN_TAIL=v4`).
    V4,
    /// V4, and where the v6 convolution after a BN+ReLU tail alone reads its output, that convolution's
    /// stride-1 grad-input stored as bf16 alone and the tail's backward reading it so (`_x16_g16`): half the
    /// bytes of gy in the conv epilogue and both backward passes. bf16 rounding of that gradient, as
    /// autocast's bf16 grad-inputs. Validated on an H200 (2026-11-28: ResNet-8/18 steps track v3's); the
    /// default (`IPDPP_BN_TAIL=v2` restores v2).
    V5,
    /// V5, and in a training forward the residual tail reads its identity shortcut as bf16, the copy of the
    /// block input that the tail before it wrote for the block's first convolution
    /// (`batchnorm_add_relu_apply_{x16,v3}_s16`), so a tail output read only by convolutions and such
    /// tails is stored as that copy alone: no fp32 store of the residual stream inside a stage, half the
    /// shortcut's bytes. bf16 rounding of the shortcut, as autocast's bf16 residual adds; projection and
    /// option-A shortcuts stay fp32. Written without a GPU (2026-11-28); opt-in (`IPDPP_BN_TAIL=v6`).
    V6,
}

impl BnTailVersion {
    pub const ALL: [BnTailVersion; 3] = [BnTailVersion::V1, BnTailVersion::V2, BnTailVersion::V3];

    /// The fused version networks run: v5 (bf16 outputs and grad-inputs where a bf16 v6 convolution (or
    /// v7, since 2026-11-28; `IPDPP_V7_OUT16=0` turns that off) writes them, v3 elsewhere; the default
    /// since 2026-11-28, when v3 and v5 passed their step tests on an H200 and v5 timed ResNet-18 bf16 at
    /// 47.3k img/s against v2's 41.8k), or `IPDPP_BN_TAIL=v2|v3|v4|v6` (read once; anything else keeps v5
    /// with a warning).
    pub fn fused() -> BnTailVersion {
        static V: std::sync::OnceLock<BnTailVersion> = std::sync::OnceLock::new();
        *V.get_or_init(
            || match std::env::var("IPDPP_BN_TAIL").as_deref().map(str::trim) {
                Ok("v3") => BnTailVersion::V3,
                Ok("v4") => BnTailVersion::V4,
                Ok("v6") => BnTailVersion::V6,
                Ok("v2") => BnTailVersion::V2,
                Ok("v5") | Ok("") | Err(_) => BnTailVersion::V5,
                Ok(other) => {
                    eprintln!(
                        "warning: IPDPP_BN_TAIL={other:?} is none of v2..v6; the tails run v5"
                    );
                    BnTailVersion::V5
                }
            },
        )
    }

    /// V3's kernels and masks (V3, and V4 - V6 wherever x is fp32).
    pub fn v3_family(self) -> bool {
        matches!(
            self,
            BnTailVersion::V3 | BnTailVersion::V4 | BnTailVersion::V5 | BnTailVersion::V6
        )
    }

    /// Whether the tails may read x as bf16 (V4 - V6).
    pub fn bf16_x(self) -> bool {
        matches!(
            self,
            BnTailVersion::V4 | BnTailVersion::V5 | BnTailVersion::V6
        )
    }

    /// Whether the BN+ReLU tails may read gy as bf16, the grad-input of the convolution after them (V5, V6).
    pub fn bf16_gy(self) -> bool {
        matches!(self, BnTailVersion::V5 | BnTailVersion::V6)
    }
}

impl std::fmt::Display for BnTailVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BnTailVersion::V1 => "v1",
            BnTailVersion::V2 => "v2",
            BnTailVersion::V3 => "v3",
            BnTailVersion::V4 => "v4",
            BnTailVersion::V5 => "v5",
            BnTailVersion::V6 => "v6",
        })
    }
}

fn host<'a>(op: &str, b: &'a Buffer) -> Result<&'a [f32]> {
    match b {
        Buffer::Cpu(v) => Ok(v),
        Buffer::Cuda(_) => Err(mismatch(op)),
    }
}
fn host_mut<'a>(op: &str, b: &'a mut Buffer) -> Result<&'a mut [f32]> {
    match b {
        Buffer::Cpu(v) => Ok(v),
        Buffer::Cuda(_) => Err(mismatch(op)),
    }
}
fn dev_buf<'a>(op: &str, b: &'a Buffer) -> Result<&'a CudaSlice<f32>> {
    match b {
        Buffer::Cuda(v) => Ok(v),
        Buffer::Cpu(_) => Err(mismatch(op)),
    }
}
fn dev_buf_mut<'a>(op: &str, b: &'a mut Buffer) -> Result<&'a mut CudaSlice<f32>> {
    match b {
        Buffer::Cuda(v) => Ok(v),
        Buffer::Cpu(_) => Err(mismatch(op)),
    }
}

/// The per-group spec, after checking that the rows split into `groups` views and that every
/// row-sized buffer holds them.
fn group_spec(op: &str, s: &BnSpec, groups: usize, row_bufs: &[usize]) -> Result<BnSpec> {
    if s.rows % groups != 0 {
        return Err(Error::usage(format!(
            "{op}: {} rows do not split into {groups} views",
            s.rows
        )));
    }
    for &len in row_bufs {
        if len < s.rows * s.c {
            return Err(Error::usage(format!(
                "{op}: a buffer holds {len} values, {} rows x {} channels need {}",
                s.rows,
                s.c,
                s.rows * s.c
            )));
        }
    }
    Ok(BnSpec {
        rows: s.rows / groups,
        ..*s
    })
}

/// Op name of a tail for error messages: `batchnorm_relu_{stage}`, or `batchnorm_add_relu_{stage}` with
/// the shortcut.
fn tail_op(add: bool, stage: &str) -> String {
    format!("batchnorm_{}relu_{stage}", if add { "add_" } else { "" })
}

/// The V1 forward tail after the batch norm's output `pre`: y = relu(pre), or relu(pre + sc) through a
/// temporary sum of `len` values.
fn relu_tail_v1(
    dev: &Device,
    y: &mut Buffer,
    pre: &Buffer,
    sc: Option<&Buffer>,
    len: usize,
) -> Result<()> {
    match sc {
        None => ops::relu_fwd_f32(dev, y, pre),
        Some(sc) => {
            let mut sum = Buffer::zeros(dev, len)?;
            ops::add_f32(dev, &mut sum, pre, sc)?;
            ops::relu_fwd_f32(dev, y, &sum)
        }
    }
}

/// Training forward of a tail (per-view batch statistics): y = relu(bn(x)) (`batchnorm_relu`), or with
/// the shortcut `sc`, relu(bn(x) + sc) (`batchnorm_add_relu`, the residual block's tail); the saved
/// statistics and the running ones as [`batchnorm_fwd_train`]. `yb` = Some((copy, only)) (CUDA): bf16(y)
/// in the same pass, and with `only` (v2/v3) y itself left unwritten. `x16` (V4 on a GPU, with `pre`):
/// x read from this bf16 tensor (the convolution's output as it stored it), the fp32 `x` not read.
/// `sc16` (V6 on a GPU, with `sc` and the mask bits): the shortcut read from this bf16 tensor (its bf16
/// copy), the fp32 `sc` not read (it gives the length only).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_train(
    dev: &Device,
    ver: BnTailVersion,
    y: &mut Buffer,
    yb: Option<(&mut CudaSlice<u16>, bool)>,
    x: &Buffer,
    x16: Option<&CudaSlice<u16>>,
    sc: Option<&Buffer>,
    sc16: Option<&CudaSlice<u16>>,
    gamma: &Buffer,
    beta: &Buffer,
    st: BnBuffers<'_>,
    s: &BnSpec,
    groups: usize,
    pre: Option<&BnPartials>,
    mut mask: Option<&mut CudaSlice<u32>>,
    sbn: Option<&ScBn<'_>>,
) -> Result<()> {
    let op = &tail_op(sc.is_some(), "fwd_train");
    if let Some(b) = sbn {
        let sc = sbn_shortcut(op, sc, sc16, ver.bf16_x() && mask.is_some())?;
        if !(dev.is_cuda() && ver != BnTailVersion::V1 && s.c % 4 == 0) {
            if sc16.is_some() {
                return Err(Error::usage(format!(
                    "{op}: a bf16 shortcut is read by the SBN kernels only (a GPU, C % 4 == 0)"
                )));
            }
            // The composition: the shortcut's batch-norm output, then the plain tail.
            let t = sc_bn_output(dev, sc, b, s, groups)?;
            return batchnorm_tail_fwd_train(
                dev,
                ver,
                y,
                yb,
                x,
                x16,
                Some(&t),
                None,
                gamma,
                beta,
                st,
                s,
                groups,
                pre,
                mask,
                None,
            );
        }
    }
    let groups = groups.max(1);
    let mut lens = vec![y.len(), x.len()];
    lens.extend(sc.map(|b| b.len()));
    let g = group_spec(op, s, groups, &lens)?;
    let (n, c) = (g.rows * s.c, s.c);
    let words = check_mask_bits(
        op,
        ver,
        dev,
        sc.is_some(),
        &g,
        groups,
        mask.as_ref().map(|m| m.len()),
    )?;
    check_x16(op, ver, dev, x16.map(|v| v.len()), s)?;
    if let Some(v) = sc16 {
        let v6 = ver == BnTailVersion::V6 && sbn.is_none();
        if !(v6 || sbn.is_some()) || !dev.is_cuda() || sc.is_none() || mask.is_none() {
            return Err(Error::usage(format!(
                "{op}: a bf16 shortcut is v6's, on a GPU, with the residual tail's ReLU mask bits"
            )));
        }
        if v.len() < s.rows * s.c {
            return Err(Error::usage(format!(
                "{op}: the bf16 shortcut holds {} elements, {} needed",
                v.len(),
                s.rows * s.c
            )));
        }
    }
    if ver == BnTailVersion::V1 {
        let mut pre_act = Buffer::zeros(dev, s.rows * c)?;
        batchnorm_fwd_train(dev, &mut pre_act, x, gamma, beta, st, s, groups, pre)?;
        relu_tail_v1(dev, y, &pre_act, sc, s.rows * c)?;
        return bf16_copy_of(dev, op, yb.map(|(b, _)| b), y);
    }
    match dev {
        Device::Cpu => {
            no_bf16_copy_on_cpu(op, &yb)?;
            let (y, x) = (host_mut(op, y)?, host(op, x)?);
            let (ga, be) = (host(op, gamma)?, host(op, beta)?);
            let sc = sc.map(|b| host(op, b)).transpose()?;
            let (rm, rv) = (
                host_mut(op, st.running_mean)?,
                host_mut(op, st.running_var)?,
            );
            let (m, r) = (host_mut(op, st.mean)?, host_mut(op, st.rstd)?);
            for k in 0..groups {
                cpu::norm::batchnorm_tail_fwd_train_f32(
                    &mut y[k * n..(k + 1) * n],
                    &mut m[k * c..(k + 1) * c],
                    &mut r[k * c..(k + 1) * c],
                    rm,
                    rv,
                    &x[k * n..(k + 1) * n],
                    sc.map(|sc| &sc[k * n..(k + 1) * n]),
                    ga,
                    be,
                    &g,
                );
            }
            Ok(())
        }
        Device::Cuda(d) => {
            let (y, x) = (dev_buf_mut(op, y)?, dev_buf(op, x)?);
            let (ga, be) = (dev_buf(op, gamma)?.as_view(), dev_buf(op, beta)?.as_view());
            let sc = sc.map(|b| dev_buf(op, b)).transpose()?;
            let (rm, rv) = (
                dev_buf_mut(op, st.running_mean)?,
                dev_buf_mut(op, st.running_var)?,
            );
            let (m, r) = (dev_buf_mut(op, st.mean)?, dev_buf_mut(op, st.rstd)?);
            let mut yb = yb;
            let sbn = sbn.map(|b| b.views(op)).transpose()?;
            for k in 0..groups {
                let sbk = sbn.as_ref().map(|b| b.group(k, c));
                let sck = sc.map(|sc| sc.slice(k * n..(k + 1) * n));
                let sc16k = sc16.map(|v| v.slice(k * n..(k + 1) * n));
                let sc_view = match (&sc16k, &sck) {
                    (Some(v), _) => Some(BnView::Bf16(v)),
                    (None, Some(v)) => Some(BnView::F32(v)),
                    (None, None) => None,
                };
                let mut ybk = yb
                    .as_mut()
                    .map(|(b, only)| (b.slice_mut(k * n..(k + 1) * n), *only));
                let (xk, x16k) = (
                    x.slice(k * n..(k + 1) * n),
                    x16.map(|v| v.slice(k * n..(k + 1) * n)),
                );
                cuda::norm::batchnorm_tail_fwd_train_f32(
                    d,
                    &mut y.slice_mut(k * n..(k + 1) * n),
                    ybk.as_mut().map(|(v, only)| (v, *only)),
                    &mut m.slice_mut(k * c..(k + 1) * c),
                    &mut r.slice_mut(k * c..(k + 1) * c),
                    &mut rm.as_view_mut(),
                    &mut rv.as_view_mut(),
                    x16k.as_ref().map_or(BnView::F32(&xk), BnView::Bf16),
                    pre.and_then(|p| p.group(k, groups)).as_ref(),
                    sc_view,
                    &ga,
                    &be,
                    &g,
                    mask.as_mut()
                        .map(|m| m.slice_mut(k * words..(k + 1) * words))
                        .as_mut(),
                    sbk.as_ref()
                        .map(|(m, r, g, b)| cuda::norm::ShortcutBn {
                            mean: m,
                            rstd: r,
                            gamma: g,
                            beta: b,
                        })
                        .as_ref(),
                )?;
            }
            Ok(())
        }
    }
}

/// A projection shortcut's batch norm that a residual tail applies to its shortcut, the shortcut
/// convolution's output, instead of reading the batch norm's stored output (SBN; ResNet-18/34's
/// downsampling blocks): its parameters and statistics, the per-view saved ones (training forward and
/// backward) or the running ones (eval).
pub struct ScBn<'a> {
    pub gamma: &'a Buffer,
    pub beta: &'a Buffer,
    pub stats: ScBnStats<'a>,
}

#[derive(Clone, Copy)]
pub enum ScBnStats<'a> {
    Batch { mean: &'a Buffer, rstd: &'a Buffer },
    Running { mean: &'a Buffer, var: &'a Buffer },
}

/// [`ScBn`]'s buffers on a GPU, the batch statistics' (the caller computes eval's rstd).
struct ScBnViews<'a> {
    mean: &'a CudaSlice<f32>,
    rstd: &'a CudaSlice<f32>,
    gamma: &'a CudaSlice<f32>,
    beta: &'a CudaSlice<f32>,
}

impl ScBn<'_> {
    fn views(&self, op: &str) -> Result<ScBnViews<'_>> {
        let ScBnStats::Batch { mean, rstd } = self.stats else {
            return Err(Error::usage(format!(
                "{op}: the shortcut's batch norm in training takes its batch statistics"
            )));
        };
        Ok(ScBnViews {
            mean: dev_buf(op, mean)?,
            rstd: dev_buf(op, rstd)?,
            gamma: dev_buf(op, self.gamma)?,
            beta: dev_buf(op, self.beta)?,
        })
    }
}

type ChanViews<'a> = (
    cudarc::driver::CudaView<'a, f32>,
    cudarc::driver::CudaView<'a, f32>,
    cudarc::driver::CudaView<'a, f32>,
    cudarc::driver::CudaView<'a, f32>,
);

impl ScBnViews<'_> {
    /// View k's statistics and the parameters, as (mean, rstd, gamma, beta).
    fn group(&self, k: usize, c: usize) -> ChanViews<'_> {
        (
            self.mean.slice(k * c..(k + 1) * c),
            self.rstd.slice(k * c..(k + 1) * c),
            self.gamma.slice(0..c),
            self.beta.slice(0..c),
        )
    }
}

/// The fp32 shortcut an SBN tail reads (a bf16 shortcut is the identity's, v6).
/// The shortcut convolution output an SBN tail reads: fp32, or where `bf16_ok` (a training forward under
/// the v4-v6 tails) as its bf16 copy (`sc16`; the fp32 buffer then gives the length only).
fn sbn_shortcut<'a>(
    op: &str,
    sc: Option<&'a Buffer>,
    sc16: Option<&CudaSlice<u16>>,
    bf16_ok: bool,
) -> Result<&'a Buffer> {
    match (sc, sc16) {
        (Some(sc), None) => Ok(sc),
        (Some(sc), Some(_)) if bf16_ok => Ok(sc),
        (Some(_), Some(_)) => Err(Error::usage(format!(
            "{op}: the shortcut's batch norm (SBN) reads a bf16 shortcut in a training forward of the v4-v6 tails"
        ))),
        (None, _) => Err(Error::usage(format!(
            "{op}: the shortcut's batch norm (SBN) needs the shortcut convolution's output"
        ))),
    }
}

/// bn_s(sc) per view into a new buffer: what the unfused network stores as the shortcut's batch-norm
/// output (the composition the SBN tails fuse, and their path on the CPU).
fn sc_bn_output(
    dev: &Device,
    sc: &Buffer,
    b: &ScBn<'_>,
    s: &BnSpec,
    groups: usize,
) -> Result<Buffer> {
    let op = "batchnorm (shortcut)";
    let groups = groups.max(1);
    let mut out = Buffer::zeros(dev, s.rows * s.c)?;
    match b.stats {
        ScBnStats::Running { mean, var } => {
            batchnorm_fwd_eval(dev, &mut out, sc, b.gamma, b.beta, mean, var, s)?;
        }
        ScBnStats::Batch { mean, rstd } => {
            let g = group_spec(op, s, groups, &[sc.len()])?;
            let (n, c) = (g.rows * s.c, s.c);
            match dev {
                Device::Cpu => {
                    let o = host_mut(op, &mut out)?;
                    let (x, m, r) = (host(op, sc)?, host(op, mean)?, host(op, rstd)?);
                    let (ga, be) = (host(op, b.gamma)?, host(op, b.beta)?);
                    for k in 0..groups {
                        cpu::norm::batchnorm_apply_f32(
                            &mut o[k * n..(k + 1) * n],
                            &x[k * n..(k + 1) * n],
                            &m[k * c..(k + 1) * c],
                            &r[k * c..(k + 1) * c],
                            ga,
                            be,
                            &g,
                        );
                    }
                }
                Device::Cuda(d) => {
                    let o = dev_buf_mut(op, &mut out)?;
                    let v = b.views(op)?;
                    let x = dev_buf(op, sc)?;
                    for k in 0..groups {
                        let (m, r, ga, be) = v.group(k, c);
                        cuda::norm::batchnorm_apply_f32(
                            d,
                            &mut o.slice_mut(k * n..(k + 1) * n),
                            &x.slice(k * n..(k + 1) * n),
                            &m,
                            &r,
                            &ga,
                            &be,
                            &g,
                        )?;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The training statistics of a batch norm per view (saved mean and rstd, running statistics) without
/// its output: a projection shortcut's batch norm that the SBN residual tail applies itself. `only_pre`:
/// x was stored as bf16 alone (its fp32 buffer unwritten), so the statistics must come from `pre`.
pub fn batchnorm_stats_train(
    dev: &Device,
    x: &Buffer,
    st: BnBuffers<'_>,
    s: &BnSpec,
    groups: usize,
    pre: Option<&BnPartials>,
    only_pre: bool,
) -> Result<()> {
    let op = "batchnorm statistics";
    let groups = groups.max(1);
    let g = group_spec(op, s, groups, &[x.len()])?;
    let (n, c) = (g.rows * s.c, s.c);
    for (what, b) in [("mean", &*st.mean), ("rstd", &*st.rstd)] {
        if b.len() < groups * c {
            return Err(Error::usage(format!(
                "{op}: {what} holds {} values, {groups} views of {c} channels need {}",
                b.len(),
                groups * c
            )));
        }
    }
    match dev {
        Device::Cpu if only_pre => Err(Error::usage(format!("{op}: bf16-only inputs are a GPU's"))),
        Device::Cpu => {
            let x = host(op, x)?;
            let (rm, rv) = (
                host_mut(op, st.running_mean)?,
                host_mut(op, st.running_var)?,
            );
            let (m, r) = (host_mut(op, st.mean)?, host_mut(op, st.rstd)?);
            for k in 0..groups {
                cpu::norm::batchnorm_stats_train_f32(
                    &mut m[k * c..(k + 1) * c],
                    &mut r[k * c..(k + 1) * c],
                    rm,
                    rv,
                    &x[k * n..(k + 1) * n],
                    &g,
                );
            }
            Ok(())
        }
        Device::Cuda(d) => {
            let x = dev_buf(op, x)?;
            let (rm, rv) = (
                dev_buf_mut(op, st.running_mean)?,
                dev_buf_mut(op, st.running_var)?,
            );
            let (m, r) = (dev_buf_mut(op, st.mean)?, dev_buf_mut(op, st.rstd)?);
            for k in 0..groups {
                let pk = pre.and_then(|p| p.group(k, groups));
                let covers = pk
                    .as_ref()
                    .is_some_and(|p| p.count * p.block_rows == g.rows);
                if only_pre && !covers {
                    return Err(Error::usage(format!(
                        "{op}: an input stored as bf16 alone needs its convolution's partial statistics"
                    )));
                }
                cuda::norm::batchnorm_stats_train_f32(
                    d,
                    &mut m.slice_mut(k * c..(k + 1) * c),
                    &mut r.slice_mut(k * c..(k + 1) * c),
                    &mut rm.as_view_mut(),
                    &mut rv.as_view_mut(),
                    &x.slice(k * n..(k + 1) * n),
                    pk.as_ref(),
                    &g,
                )?;
            }
            Ok(())
        }
    }
}

/// The u32 words per view of a residual tail's ReLU mask bits (v3 on a GPU, C % 4 == 0:
/// `cuda::norm::relu_mask_words`), checked against a given mask of `len` words; Ok(0) without one.
fn check_mask_bits(
    op: &str,
    ver: BnTailVersion,
    dev: &Device,
    residual: bool,
    g: &BnSpec,
    groups: usize,
    len: Option<usize>,
) -> Result<usize> {
    let Some(len) = len else {
        return Ok(0);
    };
    let words = cuda::norm::relu_mask_words(g);
    if !ver.v3_family() || !dev.is_cuda() || !residual || words == 0 {
        return Err(Error::usage(format!(
            "{op}: ReLU mask bits are v3's, on a GPU, for the residual tail with C % 4 == 0"
        )));
    }
    if len < groups * words {
        return Err(Error::usage(format!(
            "{op}: the ReLU mask holds {len} words, {groups} views need {}",
            groups * words
        )));
    }
    Ok(words)
}

/// Checks a tail's bf16 x of `len` values: V4 on a GPU, C % 4 == 0, every row.
fn check_x16(
    op: &str,
    ver: BnTailVersion,
    dev: &Device,
    len: Option<usize>,
    s: &BnSpec,
) -> Result<()> {
    let Some(len) = len else {
        return Ok(());
    };
    if !ver.bf16_x() || !dev.is_cuda() || s.c % 4 != 0 {
        return Err(Error::usage(format!(
            "{op}: a bf16 x is v4's and v5's, on a GPU, with C % 4 == 0"
        )));
    }
    group_spec(op, s, 1, &[len]).map(|_| ())
}

/// The bf16 copy of `y` for the tails' `yb` when the version writes none itself (v1): a cast.
fn bf16_copy_of(dev: &Device, op: &str, yb: Option<&mut CudaSlice<u16>>, y: &Buffer) -> Result<()> {
    match (dev, yb) {
        (_, None) => Ok(()),
        (Device::Cuda(d), Some(yb)) => cuda::elementwise::cast_bf16_f32(d, yb, dev_buf(op, y)?),
        (Device::Cpu, Some(_)) => no_bf16_copy_on_cpu(op, &Some(())),
    }
}

fn no_bf16_copy_on_cpu<T>(op: &str, yb: &Option<T>) -> Result<()> {
    match yb {
        Some(_) => Err(Error::usage(format!(
            "{op}: a bf16 copy of the output is a CUDA-only path (the v6 convolutions)"
        ))),
        None => Ok(()),
    }
}

/// Eval forward of a tail with the running statistics: relu(bn(x)), or relu(bn(x) + sc) with the
/// shortcut `sc`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_fwd_eval(
    dev: &Device,
    ver: BnTailVersion,
    y: &mut Buffer,
    yb: Option<(&mut CudaSlice<u16>, bool)>,
    x: &Buffer,
    sc: Option<&Buffer>,
    gamma: &Buffer,
    beta: &Buffer,
    rm: &Buffer,
    rv: &Buffer,
    s: &BnSpec,
    sbn: Option<&ScBn<'_>>,
) -> Result<()> {
    let op = &tail_op(sc.is_some(), "fwd_eval");
    if let Some(b) = sbn {
        let sc = sbn_shortcut(op, sc, None, false)?;
        let ScBnStats::Running { mean, var } = b.stats else {
            return Err(Error::usage(format!(
                "{op}: the shortcut's batch norm in eval takes its running statistics"
            )));
        };
        if let (Device::Cuda(d), true) = (dev, ver != BnTailVersion::V1 && s.c % 4 == 0) {
            group_spec(op, s, 1, &[y.len(), x.len(), sc.len()])?;
            let rstd = cuda::norm::eval_rstd_f32(d, &dev_buf(op, var)?.as_view(), s)?;
            let mut ybv = yb.map(|(b, only)| (b.as_view_mut(), only));
            return cuda::norm::batchnorm_tail_fwd_eval_f32(
                d,
                &mut dev_buf_mut(op, y)?.as_view_mut(),
                ybv.as_mut().map(|(v, only)| (v, *only)),
                &dev_buf(op, x)?.as_view(),
                Some(&dev_buf(op, sc)?.as_view()),
                &dev_buf(op, rm)?.as_view(),
                &dev_buf(op, rv)?.as_view(),
                &dev_buf(op, gamma)?.as_view(),
                &dev_buf(op, beta)?.as_view(),
                s,
                Some(&cuda::norm::ShortcutBn {
                    mean: &dev_buf(op, mean)?.as_view(),
                    rstd: &rstd.as_view(),
                    gamma: &dev_buf(op, b.gamma)?.as_view(),
                    beta: &dev_buf(op, b.beta)?.as_view(),
                }),
            );
        }
        let t = sc_bn_output(dev, sc, b, s, 1)?;
        return batchnorm_tail_fwd_eval(dev, ver, y, yb, x, Some(&t), gamma, beta, rm, rv, s, None);
    }
    let mut lens = vec![y.len(), x.len()];
    lens.extend(sc.map(|b| b.len()));
    group_spec(op, s, 1, &lens)?;
    if ver == BnTailVersion::V1 {
        let mut pre = Buffer::zeros(dev, s.rows * s.c)?;
        batchnorm_fwd_eval(dev, &mut pre, x, gamma, beta, rm, rv, s)?;
        relu_tail_v1(dev, y, &pre, sc, s.rows * s.c)?;
        return bf16_copy_of(dev, op, yb.map(|(b, _)| b), y);
    }
    match dev {
        Device::Cpu => {
            no_bf16_copy_on_cpu(op, &yb)?;
            cpu::norm::batchnorm_tail_fwd_eval_f32(
                host_mut(op, y)?,
                host(op, x)?,
                sc.map(|b| host(op, b)).transpose()?,
                host(op, rm)?,
                host(op, rv)?,
                host(op, gamma)?,
                host(op, beta)?,
                s,
            );
            Ok(())
        }
        Device::Cuda(d) => {
            let sc = sc
                .map(|b| dev_buf(op, b).map(|v| v.as_view()))
                .transpose()?;
            let mut ybv = yb.map(|(b, only)| (b.as_view_mut(), only));
            cuda::norm::batchnorm_tail_fwd_eval_f32(
                d,
                &mut dev_buf_mut(op, y)?.as_view_mut(),
                ybv.as_mut().map(|(v, only)| (v, *only)),
                &dev_buf(op, x)?.as_view(),
                sc.as_ref(),
                &dev_buf(op, rm)?.as_view(),
                &dev_buf(op, rv)?.as_view(),
                &dev_buf(op, gamma)?.as_view(),
                &dev_buf(op, beta)?.as_view(),
                s,
                None,
            )
        }
    }
}

/// Backward of a tail per view, with the ReLU mask taken from the stored output y (V3, relu(bn(x)) on a
/// GPU: from x, γ and β): gx, ∂γ and ∂β summed over the views (overwritten); with `gxb` = Some((copy,
/// only)) (V3 on a GPU), bf16(gx) too, in the same pass, and with `only` gx itself left unwritten (for a
/// consumer that reads just the copy). With `gsc` = Some((gsc, accumulate)), the backward of
/// relu(bn(x) + sc), which also writes the shortcut gradient (the masked gy; added to gsc when
/// `accumulate`, else written). `x16` as [`batchnorm_tail_fwd_train`]'s; `gy16` (V5, relu(bn(x)) with
/// `x16`): gy read from this bf16 tensor (the grad-input of the convolution after the tail as it stored
/// it), the fp32 `gy` not read.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_tail_bwd(
    dev: &Device,
    ver: BnTailVersion,
    gx: &mut Buffer,
    gsc: Option<(&mut Buffer, bool)>,
    ggamma: &mut Buffer,
    gbeta: &mut Buffer,
    gy: &Buffer,
    gy16: Option<&CudaSlice<u16>>,
    y: &Buffer,
    x: &Buffer,
    x16: Option<&CudaSlice<u16>>,
    (gamma, beta): (&Buffer, &Buffer),
    mean: &Buffer,
    rstd: &Buffer,
    s: &BnSpec,
    groups: usize,
    mut gxb: Option<(&mut CudaSlice<u16>, bool)>,
    bits: Option<&CudaSlice<u32>>,
    sbn: Option<ScBnBwd<'_>>,
) -> Result<()> {
    let op = &tail_op(gsc.is_some(), "bwd");
    if let Some(b) = sbn {
        let Some((gsc, false)) = gsc else {
            return Err(Error::usage(format!(
                "{op}: with the shortcut's batch norm the tail writes the shortcut convolution's gradient"
            )));
        };
        let fused = matches!(dev, Device::Cuda(_))
            && ver.v3_family()
            && bits.is_some()
            && s.c % 4 == 0
            && gy16.is_none();
        if fused {
            return sbn_bwd_cuda(
                dev, gx, gsc, ggamma, gbeta, gy, x, x16, gamma, mean, rstd, s, groups, gxb, bits, b,
            );
        }
        if b.sc16.is_some() {
            return Err(Error::usage(format!(
                "{op}: a bf16 shortcut input is read by the SBN kernels only (a GPU, the v4-v6 tails, mask bits)"
            )));
        }
        // The composition: the shortcut gradient into a temporary, then the batch-norm backward over it.
        let mut t = Buffer::zeros(dev, s.rows * s.c)?;
        batchnorm_tail_bwd(
            dev,
            ver,
            gx,
            Some((&mut t, false)),
            ggamma,
            gbeta,
            gy,
            gy16,
            y,
            x,
            x16,
            (gamma, beta),
            mean,
            rstd,
            s,
            groups,
            gxb,
            bits,
            None,
        )?;
        let ScBnStats::Batch { mean: sm, rstd: sr } = b.bn.stats else {
            return Err(Error::usage(format!(
                "{op}: the shortcut's batch-norm backward takes its batch statistics"
            )));
        };
        return batchnorm_bwd(
            dev, gsc, b.ggamma, b.gbeta, &t, b.sc, b.bn.gamma, sm, sr, s, groups,
        );
    }
    if gxb.is_some() && (!ver.v3_family() || !dev.is_cuda()) {
        return Err(Error::usage(format!(
            "{op}: the bf16 gradient copy is written by v3 on a GPU only"
        )));
    }
    let groups = groups.max(1);
    let mut lens = vec![gx.len(), gy.len(), y.len(), x.len()];
    if let Some((b, _)) = &gsc {
        lens.push(b.len());
    }
    let g = group_spec(op, s, groups, &lens)?;
    let (n, c) = (g.rows * s.c, s.c);
    let words = check_mask_bits(
        op,
        ver,
        dev,
        gsc.is_some(),
        &g,
        groups,
        bits.map(|m| m.len()),
    )?;
    check_x16(op, ver, dev, x16.map(|v| v.len()), s)?;
    if let Some(g) = gy16 {
        if !ver.bf16_gy() || gsc.is_some() || x16.is_none() {
            return Err(Error::usage(format!(
                "{op}: a bf16 gy is v5's, for relu(bn(x)) on a bf16 x"
            )));
        }
        group_spec(op, s, 1, &[g.len()])?;
    }
    for (what, len) in [
        ("ggamma", ggamma.len()),
        ("gbeta", gbeta.len()),
        ("gamma", gamma.len()),
        ("beta", beta.len()),
        ("mean", mean.len() / groups),
        ("rstd", rstd.len() / groups),
    ] {
        if len < c {
            return Err(Error::usage(format!(
                "{op}: {what} holds {len} values per view, {c} channels need {c}"
            )));
        }
    }
    if ver == BnTailVersion::V1 {
        let mut gm = Buffer::zeros(dev, s.rows * c)?;
        ops::relu_bwd_f32(dev, &mut gm, gy, y)?;
        if let Some((gsc, acc)) = gsc {
            if acc {
                ops::add_inplace_f32(dev, gsc, &gm)?;
            } else {
                ops::copy_f32(dev, gsc, &gm)?;
            }
        }
        return batchnorm_bwd(dev, gx, ggamma, gbeta, &gm, x, gamma, mean, rstd, s, groups);
    }
    match dev {
        Device::Cpu => {
            let gx = host_mut(op, gx)?;
            let mut gsc = match gsc {
                Some((b, acc)) => Some((host_mut(op, b)?, acc)),
                None => None,
            };
            let (gg, gb) = (host_mut(op, ggamma)?, host_mut(op, gbeta)?);
            let (gy, y, x) = (host(op, gy)?, host(op, y)?, host(op, x)?);
            let (ga, m, r) = (host(op, gamma)?, host(op, mean)?, host(op, rstd)?);
            // ∂γ, ∂β summed over the views in view order, as `batchnorm_bwd` does.
            cpu_view_grads(gg, gb, groups, c, |k, tg, tb| {
                let rows = k * n..(k + 1) * n;
                cpu::norm::batchnorm_tail_bwd_f32(
                    &mut gx[rows.clone()],
                    gsc.as_mut().map(|(gs, acc)| (&mut gs[rows.clone()], *acc)),
                    tg,
                    tb,
                    &gy[rows.clone()],
                    &y[rows.clone()],
                    &x[rows],
                    &m[k * c..(k + 1) * c],
                    &r[k * c..(k + 1) * c],
                    ga,
                    &g,
                )
            });
            Ok(())
        }
        Device::Cuda(d) => {
            let gx = dev_buf_mut(op, gx)?;
            let mut gsc = match gsc {
                Some((b, acc)) => Some((dev_buf_mut(op, b)?, acc)),
                None => None,
            };
            let (gg, gb) = (dev_buf_mut(op, ggamma)?, dev_buf_mut(op, gbeta)?);
            let (gy, y, x) = (dev_buf(op, gy)?, dev_buf(op, y)?, dev_buf(op, x)?);
            let (ga, m, r) = (dev_buf(op, gamma)?, dev_buf(op, mean)?, dev_buf(op, rstd)?);
            let be = dev_buf(op, beta)?.as_view();
            let mask_x = ver.v3_family().then_some(&be);
            // Per-view ∂γ, ∂β land in scratch rows and are summed by the row-sum kernel.
            cuda_view_grads(d, gg, gb, groups, c, |k, tg, tb| {
                let (rows, chans) = (k * n..(k + 1) * n, k * c..(k + 1) * c);
                let mut gsk = gsc
                    .as_mut()
                    .map(|(gs, acc)| (gs.slice_mut(rows.clone()), *acc));
                let mut gxbk = gxb
                    .as_mut()
                    .map(|(b, only)| (b.slice_mut(rows.clone()), *only));
                let x16k = x16.map(|v| v.slice(rows.clone()));
                let xk = x.slice(rows.clone());
                let (gyk, gy16k) = (gy.slice(rows.clone()), gy16.map(|v| v.slice(rows.clone())));
                cuda::norm::batchnorm_tail_bwd_f32(
                    d,
                    &mut gx.slice_mut(rows.clone()),
                    gsk.as_mut().map(|(v, acc)| (v, *acc)),
                    tg,
                    tb,
                    gy16k.as_ref().map_or(BnView::F32(&gyk), BnView::Bf16),
                    &y.slice(rows),
                    x16k.as_ref().map_or(BnView::F32(&xk), BnView::Bf16),
                    &m.slice(chans.clone()),
                    &r.slice(chans),
                    &ga.as_view(),
                    mask_x,
                    gxbk.as_mut().map(|(v, only)| (v, *only)),
                    &g,
                    bits.map(|m| m.slice(k * words..(k + 1) * words)).as_ref(),
                )
            })
        }
    }
}

/// The SBN residual tail's backward inputs beyond the plain tail's: the shortcut convolution's output
/// `sc`, its batch norm, and that batch norm's ∂γ and ∂β (overwritten, summed over the views); the tail's
/// `gsc` is then the gradient of `sc` (written).
pub struct ScBnBwd<'a> {
    pub sc: &'a Buffer,
    /// `sc` as the convolution stored it in a training forward under the v4-v6 tails, bf16 alone (with a
    /// bf16 x): read instead of `sc`.
    pub sc16: Option<&'a CudaSlice<u16>>,
    pub bn: ScBn<'a>,
    pub ggamma: &'a mut Buffer,
    pub gbeta: &'a mut Buffer,
}

/// [`batchnorm_tail_bwd`] of the SBN tail on a GPU from the forward's mask bits:
/// `batchnorm_add_relu_*_sbn` per view, both batch norms' ∂γ and ∂β summed over the views.
#[allow(clippy::too_many_arguments)]
fn sbn_bwd_cuda(
    dev: &Device,
    gx: &mut Buffer,
    gsc: &mut Buffer,
    ggamma: &mut Buffer,
    gbeta: &mut Buffer,
    gy: &Buffer,
    x: &Buffer,
    x16: Option<&CudaSlice<u16>>,
    gamma: &Buffer,
    mean: &Buffer,
    rstd: &Buffer,
    s: &BnSpec,
    groups: usize,
    mut gxb: Option<(&mut CudaSlice<u16>, bool)>,
    bits: Option<&CudaSlice<u32>>,
    b: ScBnBwd<'_>,
) -> Result<()> {
    let op = "batchnorm_add_relu_bwd (shortcut batch norm)";
    let (Device::Cuda(d), Some(bits)) = (dev, bits) else {
        return Err(Error::usage(format!(
            "{op}: runs on a GPU with the forward's ReLU mask bits"
        )));
    };
    let groups = groups.max(1);
    let mut lens = vec![gx.len(), gsc.len(), gy.len(), x.len(), b.sc.len()];
    lens.extend(x16.map(|v| v.len()));
    lens.extend(b.sc16.map(|v| v.len()));
    let g = group_spec(op, s, groups, &lens)?;
    let (n, c) = (g.rows * s.c, s.c);
    let words = cuda::norm::relu_mask_words(&g);
    if bits.len() < groups * words {
        return Err(Error::usage(format!(
            "{op}: the ReLU mask holds {} words, {groups} views need {}",
            bits.len(),
            groups * words
        )));
    }
    for (what, len) in [("mean", mean.len()), ("rstd", rstd.len())] {
        if len < groups * c {
            return Err(Error::usage(format!(
                "{op}: {what} holds {len} values, {groups} views of {c} channels need {}",
                groups * c
            )));
        }
    }
    let sv = b.bn.views(op)?;
    let (gx, gsc) = (dev_buf_mut(op, gx)?, dev_buf_mut(op, gsc)?);
    let (gg, gb) = (dev_buf_mut(op, ggamma)?, dev_buf_mut(op, gbeta)?);
    let (sgg, sgb) = (dev_buf_mut(op, b.ggamma)?, dev_buf_mut(op, b.gbeta)?);
    let (gy, x, sc) = (dev_buf(op, gy)?, dev_buf(op, x)?, dev_buf(op, b.sc)?);
    let (ga, m, r) = (dev_buf(op, gamma)?, dev_buf(op, mean)?, dev_buf(op, rstd)?);
    // The shortcut's per-view ∂γ, ∂β in scratch rows, summed like the block's by `cuda_view_grads`.
    let mut stg = d.scratch_zeros(groups * c)?;
    let mut stb = d.scratch_zeros(groups * c)?;
    cuda_view_grads(d, gg, gb, groups, c, |k, tg, tb| {
        let (rows, chans) = (k * n..(k + 1) * n, k * c..(k + 1) * c);
        let mut gxbk = gxb
            .as_mut()
            .map(|(v, only)| (v.slice_mut(rows.clone()), *only));
        let x16k = x16.map(|v| v.slice(rows.clone()));
        let xk = x.slice(rows.clone());
        let sc16k = b.sc16.map(|v| v.slice(rows.clone()));
        let sck = sc.slice(rows.clone());
        let (sm, sr, sga, sbe) = sv.group(k, c);
        cuda::norm::batchnorm_add_relu_sbn_bwd(
            d,
            &mut gx.slice_mut(rows.clone()),
            gxbk.as_mut().map(|(v, only)| (v, *only)),
            &mut gsc.slice_mut(rows.clone()),
            (tg, tb),
            (
                &mut stg.slice_mut(chans.clone()),
                &mut stb.slice_mut(chans.clone()),
            ),
            &gy.slice(rows.clone()),
            &bits.slice(k * words..(k + 1) * words),
            x16k.as_ref().map_or(BnView::F32(&xk), BnView::Bf16),
            sc16k.as_ref().map_or(BnView::F32(&sck), BnView::Bf16),
            (&m.slice(chans.clone()), &r.slice(chans), &ga.slice(0..c)),
            &cuda::norm::ShortcutBn {
                mean: &sm,
                rstd: &sr,
                gamma: &sga,
                beta: &sbe,
            },
            &g,
        )
    })?;
    cuda::linear::col_sum_f32(d, sgg, &stg, groups, c)?;
    cuda::linear::col_sum_f32(d, sgb, &stb, groups, c)
}
