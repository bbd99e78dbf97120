//! Device-dispatching entry points: one function per op, the same name as its kernel and CPU reference.
//! On the CPU the reference runs; on CUDA the kernel (or the chosen numbered version) runs.
use super::{cpu, cuda, Buffer, Device};
use crate::error::{Error, Result};
use crate::optim::AdamW;
use std::fmt;
use std::str::FromStr;

/// Row-major C[m,n] = alpha·op(A)[m,k]·op(B)[k,n] + beta·C; `ta` means A is stored [k,m], `tb` B [n,k].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmSpec {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub ta: bool,
    pub tb: bool,
    pub alpha: f32,
    pub beta: f32,
}

impl GemmSpec {
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        GemmSpec {
            m,
            n,
            k,
            ta: false,
            tb: false,
            alpha: 1.0,
            beta: 0.0,
        }
    }
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
    /// Bytes a perfect kernel moves: read A and B once, write C (and read it when beta != 0).
    pub fn min_bytes(&self) -> f64 {
        let c = if self.beta != 0.0 { 2.0 } else { 1.0 };
        4.0 * ((self.m * self.k + self.k * self.n) as f64 + c * (self.m * self.n) as f64)
    }
    pub fn validate(&self) -> Result<()> {
        let lim = i32::MAX as usize;
        if self.m > lim || self.n > lim || self.k > lim || self.m.saturating_mul(self.n) > lim * 2 {
            return Err(Error::usage(format!(
                "gemm {}x{}x{} is beyond 32-bit indexing; split it",
                self.m, self.n, self.k
            )));
        }
        Ok(())
    }
}

/// Which GEMM implementation runs on CUDA. The CPU always runs OpenBLAS (`gemm`) or the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmVersion {
    V1,
    V2,
    V3,
    Cublas,
}

impl GemmVersion {
    pub const ALL: [GemmVersion; 4] = [
        GemmVersion::V1,
        GemmVersion::V2,
        GemmVersion::V3,
        GemmVersion::Cublas,
    ];
    pub fn describe(&self) -> &'static str {
        match self {
            GemmVersion::V1 => "v1 naive (one thread per output)",
            GemmVersion::V2 => "v2 shared-memory tiles 32x32",
            GemmVersion::V3 => "v3 register tiles 128x128x8, 8x8 per thread",
            GemmVersion::Cublas => "cuBLAS sgemm (library line)",
        }
    }
}

impl fmt::Display for GemmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GemmVersion::V1 => "v1",
            GemmVersion::V2 => "v2",
            GemmVersion::V3 => "v3",
            GemmVersion::Cublas => "cublas",
        })
    }
}

impl FromStr for GemmVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "v1" | "1" => Ok(GemmVersion::V1),
            "v2" | "2" => Ok(GemmVersion::V2),
            "v3" | "3" => Ok(GemmVersion::V3),
            "cublas" => Ok(GemmVersion::Cublas),
            _ => Err(Error::usage(format!(
                "unknown gemm version {s:?}; use v1, v2, v3 or cublas"
            ))),
        }
    }
}

fn mismatch(op: &str) -> Error {
    Error::usage(format!(
        "{op}: buffers live on different devices than the one given"
    ))
}

fn need(op: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got < want {
        return Err(Error::usage(format!(
            "{op}: {what} holds {got} elements, needs {want}"
        )));
    }
    Ok(())
}

pub fn add_f32(dev: &Device, out: &mut Buffer, a: &Buffer, b: &Buffer) -> Result<()> {
    need("add_f32", "b", b.len(), a.len())?;
    need("add_f32", "out", out.len(), a.len())?;
    match (dev, out, a, b) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(a), Buffer::Cpu(b)) => {
            let n = a.len();
            cpu::elementwise::add_f32(&mut o[..n], a, &b[..n]);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(a), Buffer::Cuda(b)) => {
            cuda::elementwise::add_f32(d, o, a, b)
        }
        _ => Err(mismatch("add_f32")),
    }
}

pub fn scale_f32(dev: &Device, out: &mut Buffer, a: &Buffer, s: f32) -> Result<()> {
    need("scale_f32", "out", out.len(), a.len())?;
    match (dev, out, a) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(a)) => {
            cpu::elementwise::scale_f32(&mut o[..a.len()], a, s);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(a)) => {
            cuda::elementwise::scale_f32(d, o, a, s)
        }
        _ => Err(mismatch("scale_f32")),
    }
}

pub fn relu_fwd_f32(dev: &Device, out: &mut Buffer, x: &Buffer) -> Result<()> {
    need("relu_fwd_f32", "out", out.len(), x.len())?;
    match (dev, out, x) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(x)) => {
            cpu::elementwise::relu_fwd_f32(&mut o[..x.len()], x);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(x)) => {
            cuda::elementwise::relu_fwd_f32(d, o, x)
        }
        _ => Err(mismatch("relu_fwd_f32")),
    }
}

pub fn relu_bwd_f32(dev: &Device, gx: &mut Buffer, gy: &Buffer, x: &Buffer) -> Result<()> {
    need("relu_bwd_f32", "gy", gy.len(), x.len())?;
    need("relu_bwd_f32", "gx", gx.len(), x.len())?;
    match (dev, gx, gy, x) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(g), Buffer::Cpu(x)) => {
            let n = x.len();
            cpu::elementwise::relu_bwd_f32(&mut o[..n], &g[..n], x);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(g), Buffer::Cuda(x)) => {
            cuda::elementwise::relu_bwd_f32(d, o, g, x)
        }
        _ => Err(mismatch("relu_bwd_f32")),
    }
}

pub fn adamw_f32(
    dev: &Device,
    p: &mut Buffer,
    g: &Buffer,
    m: &mut Buffer,
    v: &mut Buffer,
    h: &AdamW,
) -> Result<()> {
    let n = p.len();
    need("adamw_f32", "grad", g.len(), n)?;
    need("adamw_f32", "m", m.len(), n)?;
    need("adamw_f32", "v", v.len(), n)?;
    match (dev, p, g, m, v) {
        (Device::Cpu, Buffer::Cpu(p), Buffer::Cpu(g), Buffer::Cpu(m), Buffer::Cpu(v)) => {
            cpu::elementwise::adamw_f32(p, &g[..n], &mut m[..n], &mut v[..n], h);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(p), Buffer::Cuda(g), Buffer::Cuda(m), Buffer::Cuda(v)) => {
            cuda::elementwise::adamw_f32(d, p, g, m, v, h)
        }
        _ => Err(mismatch("adamw_f32")),
    }
}

pub fn row_sum_f32(
    dev: &Device,
    out: &mut Buffer,
    x: &Buffer,
    rows: usize,
    cols: usize,
) -> Result<()> {
    need("row_sum_f32", "x", x.len(), rows * cols)?;
    need("row_sum_f32", "out", out.len(), rows)?;
    match (dev, out, x) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(x)) => {
            cpu::reduce::row_sum_f32(o, x, rows, cols);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(x)) => {
            cuda::reduce::row_sum_f32(d, o, x, rows, cols)
        }
        _ => Err(mismatch("row_sum_f32")),
    }
}

pub fn row_mean_f32(
    dev: &Device,
    out: &mut Buffer,
    x: &Buffer,
    rows: usize,
    cols: usize,
) -> Result<()> {
    need("row_mean_f32", "x", x.len(), rows * cols)?;
    need("row_mean_f32", "out", out.len(), rows)?;
    match (dev, out, x) {
        (Device::Cpu, Buffer::Cpu(o), Buffer::Cpu(x)) => {
            cpu::reduce::row_mean_f32(o, x, rows, cols);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(o), Buffer::Cuda(x)) => {
            cuda::reduce::row_mean_f32(d, o, x, rows, cols)
        }
        _ => Err(mismatch("row_mean_f32")),
    }
}

/// GEMM: OpenBLAS on the CPU; on CUDA the given version (v3 is the default fast kernel).
pub fn gemm_f32(
    dev: &Device,
    version: GemmVersion,
    c: &mut Buffer,
    a: &Buffer,
    b: &Buffer,
    s: &GemmSpec,
) -> Result<()> {
    s.validate()?;
    need("gemm_f32", "A", a.len(), s.m * s.k)?;
    need("gemm_f32", "B", b.len(), s.k * s.n)?;
    need("gemm_f32", "C", c.len(), s.m * s.n)?;
    match (dev, c, a, b) {
        (Device::Cpu, Buffer::Cpu(c), Buffer::Cpu(a), Buffer::Cpu(b)) => {
            cpu::gemm::gemm_par_f32(c, a, b, s);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(c), Buffer::Cuda(a), Buffer::Cuda(b)) => {
            cuda::gemm::gemm_f32(d, version, c, a, b, s)
        }
        _ => Err(mismatch("gemm_f32")),
    }
}

/// y += x.
pub fn add_inplace_f32(dev: &Device, y: &mut Buffer, x: &Buffer) -> Result<()> {
    need("add_inplace_f32", "x", x.len(), y.len())?;
    match (dev, y, x) {
        (Device::Cpu, Buffer::Cpu(y), Buffer::Cpu(x)) => {
            let n = y.len();
            cpu::elementwise::add_inplace_f32(y, &x[..n]);
            Ok(())
        }
        (Device::Cuda(d), Buffer::Cuda(y), Buffer::Cuda(x)) => {
            cuda::elementwise::add_inplace_f32(d, y, x)
        }
        _ => Err(mismatch("add_inplace_f32")),
    }
}

/// dst ← src (same length).
pub fn copy_f32(dev: &Device, dst: &mut Buffer, src: &Buffer) -> Result<()> {
    need("copy_f32", "dst", dst.len(), src.len())?;
    match (dev, dst, src) {
        (Device::Cpu, Buffer::Cpu(d), Buffer::Cpu(s)) => {
            d[..s.len()].copy_from_slice(s);
            Ok(())
        }
        (Device::Cuda(dv), Buffer::Cuda(d), Buffer::Cuda(s)) => dv
            .stream
            .memcpy_dtod(s, d)
            .map_err(|e| Error::driver("copying on the GPU", e)),
        _ => Err(mismatch("copy_f32")),
    }
}
