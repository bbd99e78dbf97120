//! Device-vs-reference checks of every engine op on fresh random inputs with NaN-poisoned outputs.
//! The integration tests assert on these at several shapes; `ipdpp demo` prints them as a table.
use crate::bench::rel_err;
use crate::device::ops::{self, GemmSpec, GemmVersion};
use crate::device::{cpu, Buffer, Device};
use crate::error::Result;
use crate::optim::AdamW;
use crate::rng::uniform_f32;
use serde::Serialize;

/// fp32 tolerance of DESIGN.md (relative Frobenius error).
pub const TOL_F32: f64 = 1e-5;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub op: String,
    pub shape: String,
    pub rel_err: f64,
    pub tol: f64,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.rel_err <= self.tol
    }
}

fn check(op: &str, shape: String, got: &[f32], want: &[f32], tol: f64) -> Check {
    Check {
        op: op.into(),
        shape,
        rel_err: rel_err(got, want),
        tol,
    }
}

fn up(dev: &Device, v: &[f32]) -> Result<Buffer> {
    Buffer::from_host(dev, v)
}

pub fn add_f32(dev: &Device, n: usize, seed: u64) -> Result<Check> {
    let (a, b) = (
        uniform_f32(n, -2.0, 2.0, seed),
        uniform_f32(n, -2.0, 2.0, seed + 1),
    );
    let mut want = vec![0.0; n];
    cpu::elementwise::add_f32(&mut want, &a, &b);
    let mut out = Buffer::poisoned(dev, n)?;
    ops::add_f32(dev, &mut out, &up(dev, &a)?, &up(dev, &b)?)?;
    Ok(check(
        "add_f32",
        format!("n={n}"),
        &out.to_host(dev)?,
        &want,
        TOL_F32,
    ))
}

pub fn scale_f32(dev: &Device, n: usize, seed: u64) -> Result<Check> {
    let a = uniform_f32(n, -2.0, 2.0, seed);
    let s = 0.37f32;
    let mut want = vec![0.0; n];
    cpu::elementwise::scale_f32(&mut want, &a, s);
    let mut out = Buffer::poisoned(dev, n)?;
    ops::scale_f32(dev, &mut out, &up(dev, &a)?, s)?;
    Ok(check(
        "scale_f32",
        format!("n={n}"),
        &out.to_host(dev)?,
        &want,
        TOL_F32,
    ))
}

pub fn relu_f32(dev: &Device, n: usize, seed: u64) -> Result<Vec<Check>> {
    let x = uniform_f32(n, -1.0, 1.0, seed);
    let gy = uniform_f32(n, -1.0, 1.0, seed + 1);
    let (mut y, mut gx) = (vec![0.0; n], vec![0.0; n]);
    cpu::elementwise::relu_fwd_f32(&mut y, &x);
    cpu::elementwise::relu_bwd_f32(&mut gx, &gy, &x);
    let dx = up(dev, &x)?;
    let mut out = Buffer::poisoned(dev, n)?;
    ops::relu_fwd_f32(dev, &mut out, &dx)?;
    let mut gout = Buffer::poisoned(dev, n)?;
    ops::relu_bwd_f32(dev, &mut gout, &up(dev, &gy)?, &dx)?;
    Ok(vec![
        check(
            "relu_fwd_f32",
            format!("n={n}"),
            &out.to_host(dev)?,
            &y,
            TOL_F32,
        ),
        check(
            "relu_bwd_f32",
            format!("n={n}"),
            &gout.to_host(dev)?,
            &gx,
            TOL_F32,
        ),
    ])
}

/// Three AdamW steps, so the moments and bias corrections are exercised beyond step 1.
pub fn adamw_f32(dev: &Device, n: usize, seed: u64) -> Result<Vec<Check>> {
    let p0 = uniform_f32(n, -1.0, 1.0, seed);
    let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
    let (mut dp, mut dm, mut dv) = (
        up(dev, &p0)?,
        Buffer::zeros(dev, n)?,
        Buffer::zeros(dev, n)?,
    );
    for step in 1..=3u64 {
        let g = uniform_f32(n, -0.5, 0.5, seed + 10 + step);
        let h = AdamW {
            step,
            ..AdamW::default()
        };
        cpu::elementwise::adamw_f32(&mut p, &g, &mut m, &mut v, &h);
        ops::adamw_f32(dev, &mut dp, &up(dev, &g)?, &mut dm, &mut dv, &h)?;
    }
    Ok(vec![
        check(
            "adamw_f32 param",
            format!("n={n}, 3 steps"),
            &dp.to_host(dev)?,
            &p,
            TOL_F32,
        ),
        check(
            "adamw_f32 exp_avg",
            format!("n={n}, 3 steps"),
            &dm.to_host(dev)?,
            &m,
            TOL_F32,
        ),
        check(
            "adamw_f32 exp_avg_sq",
            format!("n={n}, 3 steps"),
            &dv.to_host(dev)?,
            &v,
            TOL_F32,
        ),
    ])
}

pub fn row_reduce_f32(dev: &Device, rows: usize, cols: usize, seed: u64) -> Result<Vec<Check>> {
    let x = uniform_f32(rows * cols, -1.0, 1.0, seed);
    let (mut s, mut mn) = (vec![0.0; rows], vec![0.0; rows]);
    cpu::reduce::row_sum_f32(&mut s, &x, rows, cols);
    cpu::reduce::row_mean_f32(&mut mn, &x, rows, cols);
    let dx = up(dev, &x)?;
    let (mut os, mut om) = (Buffer::poisoned(dev, rows)?, Buffer::poisoned(dev, rows)?);
    ops::row_sum_f32(dev, &mut os, &dx, rows, cols)?;
    ops::row_mean_f32(dev, &mut om, &dx, rows, cols)?;
    // A sum of `cols` random terms in f32 drifts ~√cols ulp from the f64 reference.
    let tol = TOL_F32.max(1e-7 * (cols as f64).sqrt());
    Ok(vec![
        check(
            "row_sum_f32",
            format!("{rows}x{cols}"),
            &os.to_host(dev)?,
            &s,
            tol,
        ),
        check(
            "row_mean_f32",
            format!("{rows}x{cols}"),
            &om.to_host(dev)?,
            &mn,
            tol,
        ),
    ])
}

/// GEMM on `dev` (the given CUDA version; OpenBLAS on the CPU) against the exact f64 reference,
/// with beta != 0 so the C read path is covered too.
pub fn gemm_f32(dev: &Device, version: GemmVersion, s: GemmSpec, seed: u64) -> Result<Check> {
    let a = uniform_f32(s.m * s.k, -1.0, 1.0, seed);
    let b = uniform_f32(s.k * s.n, -1.0, 1.0, seed + 1);
    let c0 = uniform_f32(s.m * s.n, -1.0, 1.0, seed + 2);
    let mut want = c0.clone();
    cpu::gemm::gemm_ref_f32(&mut want, &a, &b, &s);
    let mut c = if s.beta == 0.0 {
        Buffer::poisoned(dev, s.m * s.n)?
    } else {
        up(dev, &c0)?
    };
    ops::gemm_f32(dev, version, &mut c, &up(dev, &a)?, &up(dev, &b)?, &s)?;
    let name = if dev.is_cuda() {
        format!("gemm_f32 {version}")
    } else {
        "gemm_f32 openblas".into()
    };
    let shape = format!(
        "{}x{}x{} ta={} tb={} beta={}",
        s.m, s.n, s.k, s.ta as u8, s.tb as u8, s.beta
    );
    Ok(check(
        &name,
        shape,
        &c.to_host(dev)?,
        &want,
        crate::bench::gemm::tolerance(s.k),
    ))
}

/// Every op at one or two shapes (the demo's self-check).
pub fn all(dev: &Device, seed: u64) -> Result<Vec<Check>> {
    let mut v = vec![
        add_f32(dev, 100_003, seed)?,
        scale_f32(dev, 100_003, seed + 1)?,
    ];
    v.extend(relu_f32(dev, 100_003, seed + 2)?);
    v.extend(adamw_f32(dev, 50_001, seed + 3)?);
    v.extend(row_reduce_f32(dev, 257, 1000, seed + 4)?);
    let versions: &[GemmVersion] = if dev.is_cuda() {
        &GemmVersion::ALL
    } else {
        &[GemmVersion::V3]
    };
    for &ver in versions {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let s = GemmSpec {
                ta,
                tb,
                beta: 0.5,
                ..GemmSpec::new(131, 77, 203)
            };
            v.push(gemm_f32(dev, ver, s, seed + 5)?);
        }
    }
    v.extend(conv(dev, seed + 6)?);
    Ok(v)
}

/// Direct convolution (six loops, f64 accumulation): the independent reference for the CPU's im2col path.
fn conv_direct(x: &[f32], w: &[f32], s: &cpu::conv::ConvSpec) -> Vec<f32> {
    let (oh, ow) = (s.oh(), s.ow());
    let mut y = vec![0.0f32; s.y_len()];
    for n in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..s.o {
                    let mut acc = 0.0f64;
                    for ky in 0..s.kh {
                        for kx in 0..s.kw {
                            let (iy, ix) = (oy * s.stride + ky, ox * s.stride + kx);
                            if iy < s.pad || ix < s.pad || iy - s.pad >= s.h || ix - s.pad >= s.w {
                                continue;
                            }
                            let xo = ((n * s.h + iy - s.pad) * s.w + ix - s.pad) * s.c;
                            let wo = ((o * s.kh + ky) * s.kw + kx) * s.c;
                            for c in 0..s.c {
                                acc += x[xo + c] as f64 * w[wo + c] as f64;
                            }
                        }
                    }
                    y[((n * oh + oy) * ow + ox) * s.o + o] = acc as f32;
                }
            }
        }
    }
    y
}

/// Convolutions: on the CPU the im2col + sgemm forward against a direct convolution; on a GPU every
/// tensor-core generation (v3..v6, tf32 and bf16; each op runs the version that takes the shape) and the
/// exact-fp32 kernels (conv.cu v2 and v6's FMA variant), the three ops against the CPU reference, at a
/// stride-1 and a stride-2 shape.
pub fn conv(dev: &Device, seed: u64) -> Result<Vec<Check>> {
    use crate::device::cuda::conv_tc::{
        self, conv_bwd_input_tc, conv_bwd_weight_tc, conv_fwd_tc, effective_version, ConvPrecision,
        TcVersion,
    };
    use cpu::conv::{conv_bwd_input_f32, conv_bwd_weight_f32, conv_fwd_f32, ConvSpec};
    let mut out = Vec::new();
    for (i, s) in [
        ConvSpec::new(2, 8, 8, 64, 64, 3, 1, 1),
        ConvSpec::new(2, 9, 9, 32, 64, 3, 2, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let k = seed + 10 * i as u64;
        let (x, w, gy) = (
            uniform_f32(s.x_len(), -1.0, 1.0, k),
            uniform_f32(s.w_len(), -1.0, 1.0, k + 1),
            uniform_f32(s.y_len(), -1.0, 1.0, k + 2),
        );
        let shape = format!(
            "{}x{}x{}x{}->{} k{} s{}",
            s.n, s.h, s.w, s.c, s.o, s.kh, s.stride
        );
        let mut y = vec![0.0; s.y_len()];
        conv_fwd_f32(&mut y, &x, &w, &s);
        let Device::Cuda(d) = dev else {
            out.push(check(
                "conv_fwd_f32 (im2col)",
                shape,
                &y,
                &conv_direct(&x, &w, &s),
                TOL_F32,
            ));
            continue;
        };
        let mut gx = vec![0.0; s.x_len()];
        let mut gw = vec![0.0; s.w_len()];
        conv_bwd_input_f32(&mut gx, &gy, &w, &s);
        conv_bwd_weight_f32(&mut gw, &gy, &x, &s);
        let (xd, wd, gyd) = (d.upload(&x)?, d.upload(&w)?, d.upload(&gy)?);
        for v in TcVersion::ALL {
            for p in [ConvPrecision::Tf32, ConvPrecision::Bf16] {
                let mut yd = d.upload(&vec![f32::NAN; s.y_len()])?;
                let mut gxd = d.upload(&vec![f32::NAN; s.x_len()])?;
                let mut gwd = d.upload(&vec![f32::NAN; s.w_len()])?;
                conv_fwd_tc(d, p, v, &mut yd, &xd, &wd, &s)?;
                conv_bwd_input_tc(d, p, v, &mut gxd, &gyd, &wd, &s)?;
                conv_bwd_weight_tc(d, p, v, &mut gwd, &gyd, &xd, &s)?;
                for (op, got, want) in [
                    ("fwd", d.download(&yd)?, &y),
                    ("bwd_input", d.download(&gxd)?, &gx),
                    ("bwd_weight", d.download(&gwd)?, &gw),
                ] {
                    let ran = effective_version(v, p, op, &s);
                    let name = format!("conv_{op}_{ran}_{p}");
                    out.push(check(&name, shape.clone(), &got, want, p.tolerance()));
                }
            }
        }
        // Exact fp32 through the network's dispatch: v4 asked means conv.cu v2, v6 its FMA variant.
        let p = ConvPrecision::Fp32;
        for v in [TcVersion::V4, TcVersion::V6] {
            let (xb, wb, gyb) = (
                Buffer::from_host(dev, &x)?,
                Buffer::from_host(dev, &w)?,
                Buffer::from_host(dev, &gy)?,
            );
            let mut yb = Buffer::poisoned(dev, s.y_len())?;
            let mut gxb = Buffer::poisoned(dev, s.x_len())?;
            let mut gwb = Buffer::poisoned(dev, s.w_len())?;
            conv_tc::conv_fwd(dev, p, v, &mut yb, &xb, &wb, &s)?;
            conv_tc::conv_bwd_input(dev, p, v, &mut gxb, &gyb, &wb, &s)?;
            conv_tc::conv_bwd_weight(dev, p, v, &mut gwb, &gyb, &xb, &s)?;
            for (op, got, want) in [
                ("fwd", yb.to_host(dev)?, &y),
                ("bwd_input", gxb.to_host(dev)?, &gx),
                ("bwd_weight", gwb.to_host(dev)?, &gw),
            ] {
                let ran = conv_tc::kernel_for(dev, p, v, op, &s);
                let name = format!("conv_{op}_{ran}_f32");
                out.push(check(&name, shape.clone(), &got, want, p.tolerance()));
            }
        }
    }
    Ok(out)
}
