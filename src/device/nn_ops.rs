//! Device dispatch for the network ops (conv, batch norm with per-view statistics, pooling, option-A
//! shortcut, linear): the CPU reference on the CPU, the CUDA launchers on a GPU.
use super::cpu::{self, conv::ConvSpec, norm::BnSpec};
use super::cuda::{self, conv::ConvVersion};
use super::ops::GemmVersion;
use super::{Buffer, Device};
use crate::error::{Error, Result};

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
pub fn batchnorm_fwd_train(
    dev: &Device,
    y: &mut Buffer,
    x: &Buffer,
    gamma: &Buffer,
    beta: &Buffer,
    st: BnBuffers<'_>,
    s: &BnSpec,
    groups: usize,
) -> Result<()> {
    let groups = groups.max(1);
    if s.rows % groups != 0 {
        return Err(Error::usage(format!(
            "batch norm: {} rows do not split into {groups} views",
            s.rows
        )));
    }
    let g = BnSpec {
        rows: s.rows / groups,
        ..*s
    };
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
            let (mut tg, mut tb) = (vec![0.0f32; c], vec![0.0f32; c]);
            gg[..c].fill(0.0);
            gb[..c].fill(0.0);
            for k in 0..groups {
                cpu::norm::batchnorm_bwd_f32(
                    &mut gx[k * n..(k + 1) * n],
                    &mut tg,
                    &mut tb,
                    &gy[k * n..(k + 1) * n],
                    &x[k * n..(k + 1) * n],
                    &m[k * c..(k + 1) * c],
                    &r[k * c..(k + 1) * c],
                    ga,
                    &g,
                );
                for j in 0..c {
                    gg[j] += tg[j];
                    gb[j] += tb[j];
                }
            }
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
        ) => {
            // Per-group ∂γ, ∂β land in scratch rows and are summed by the row-sum kernel.
            let mut tg = d.zeros::<f32>(groups * c)?;
            let mut tb = d.zeros::<f32>(groups * c)?;
            for k in 0..groups {
                cuda::norm::batchnorm_bwd_f32(
                    d,
                    &mut gx.slice_mut(k * n..(k + 1) * n),
                    &mut tg.slice_mut(k * c..(k + 1) * c),
                    &mut tb.slice_mut(k * c..(k + 1) * c),
                    &gy.slice(k * n..(k + 1) * n),
                    &x.slice(k * n..(k + 1) * n),
                    &m.slice(k * c..(k + 1) * c),
                    &r.slice(k * c..(k + 1) * c),
                    &ga.as_view(),
                    &g,
                )?;
            }
            cuda::linear::col_sum_f32(d, gg, &tg, groups, c)?;
            cuda::linear::col_sum_f32(d, gb, &tb, groups, c)
        }
        _ => Err(mismatch("batchnorm_bwd")),
    }
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
            cuda::linear::linear_fwd_f32(d, GemmVersion::V3, y, x, w, b, rows, din, dout)
        }
        _ => Err(mismatch("linear_fwd")),
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
            cuda::linear::linear_bwd_f32(d, GemmVersion::V3, gx, gw, gb, gy, x, w, rows, din, dout)
        }
        _ => Err(mismatch("linear_bwd")),
    }
}
