//! `ipdpp bench gemm`: the numbered SGEMM versions and the library line, side by side.
use super::{now_unix, rel_err, time_cpu, CudaTimer, Line, Report};
use crate::device::ops::{gemm_f32, GemmSpec, GemmVersion};
use crate::device::{cpu, Buffer, Device};
use crate::error::{Error, Result};
use crate::rng::uniform_f32;

pub struct GemmBench {
    pub spec: GemmSpec,
    pub versions: Vec<GemmVersion>,
    pub warmup: usize,
    pub repeats: usize,
    pub seed: u64,
}

/// fp32 tolerance of DESIGN.md, widened with √K for long reductions compared against OpenBLAS's own
/// fp32 result (both sides carry rounding error at K in the thousands).
pub fn tolerance(k: usize) -> f64 {
    1e-5f64.max(2e-7 * (k as f64).sqrt())
}

fn inputs(s: &GemmSpec, seed: u64) -> (Vec<f32>, Vec<f32>) {
    (
        uniform_f32(s.m * s.k, -1.0, 1.0, seed),
        uniform_f32(s.k * s.n, -1.0, 1.0, seed ^ 0x9e37_79b9_7f4a_7c15),
    )
}

/// The reference C: exact (f64) for small problems, OpenBLAS beyond, so 4096³ stays seconds.
fn reference(s: &GemmSpec, a: &[f32], b: &[f32]) -> (Vec<f32>, &'static str) {
    let mut c = vec![0.0f32; s.m * s.n];
    if s.flops() <= 2.0 * 512.0 * 512.0 * 512.0 {
        cpu::gemm::gemm_ref_f32(&mut c, a, b, s);
        (c, "exact f64-accumulated CPU reference")
    } else {
        cpu::gemm::gemm_par_f32(&mut c, a, b, s);
        (c, "OpenBLAS sgemm on the CPU")
    }
}

pub fn run(dev: &Device, b: &GemmBench) -> Result<Report> {
    let s = &b.spec;
    s.validate()?;
    if s.m == 0 || s.n == 0 || s.k == 0 {
        return Err(Error::usage(
            "gemm sizes must be positive: pass --m, --n and --k of at least 1",
        ));
    }
    let (ha, hb) = inputs(s, b.seed);
    let (want, refname) = reference(s, &ha, &hb);
    let tol = tolerance(s.k);
    let shape = format!(
        "M={} N={} K={} ta={} tb={}",
        s.m, s.n, s.k, s.ta as u8, s.tb as u8
    );
    let mut lines = Vec::new();
    match dev {
        Device::Cpu => {
            // The CPU variant: OpenBLAS (the library line) and, when small enough, the exact reference.
            let mut c = vec![f32::NAN; s.m * s.n];
            cpu::gemm::gemm_par_f32(&mut c, &ha, &hb, s);
            let e = rel_err(&c, &want);
            let t = time_cpu(b.warmup, b.repeats, || {
                cpu::gemm::gemm_par_f32(&mut c, &ha, &hb, s);
                Ok(())
            })?;
            lines.push(line(
                "openblas",
                "OpenBLAS sgemm on one thread per rayon worker (library line)",
                e,
                tol,
                t,
                s,
            ));
            if s.flops() <= 2.0 * 512.0 * 512.0 * 512.0 {
                let t = time_cpu(0, b.repeats.min(3), || {
                    cpu::gemm::gemm_ref_f32(&mut c, &ha, &hb, s);
                    Ok(())
                })?;
                lines.push(line(
                    "reference",
                    "exact f64 reference (rayon)",
                    0.0,
                    tol,
                    t,
                    s,
                ));
            }
        }
        Device::Cuda(d) => {
            let a = d.upload(&ha)?;
            let bb = d.upload(&hb)?;
            let (a, bb) = (Buffer::Cuda(a), Buffer::Cuda(bb));
            let mut timer = CudaTimer::new(d)?;
            for &v in &b.versions {
                let mut c = Buffer::poisoned(dev, s.m * s.n)?;
                match gemm_f32(dev, v, &mut c, &a, &bb, s) {
                    Ok(()) => {}
                    Err(e) => {
                        lines.push(Line::unavailable(&v.to_string(), v.describe(), &e));
                        continue;
                    }
                }
                let got = c.to_host(dev)?;
                let e = rel_err(&got, &want);
                // v1 at large sizes is slow: fewer repeats keep the bench within a minute.
                let reps = if v == GemmVersion::V1 && s.flops() > 1e11 {
                    b.repeats.min(3)
                } else {
                    b.repeats
                };
                let t = timer.time(b.warmup, reps, || gemm_f32(dev, v, &mut c, &a, &bb, s))?;
                lines.push(line(&v.to_string(), v.describe(), e, tol, t, s));
            }
        }
    }
    let lib = lines
        .iter()
        .find(|l| l.version == "cublas" || l.version == "openblas")
        .and_then(|l| l.tflops);
    if let Some(lib) = lib {
        for l in &mut lines {
            l.vs_library = l.tflops.map(|t| t / lib);
        }
    }
    Ok(Report {
        bench: "gemm_f32".into(),
        device: dev.name(),
        shape,
        reference: refname.into(),
        tolerance: tol,
        date_unix: now_unix(),
        lines,
    })
}

fn line(version: &str, desc: &str, e: f64, tol: f64, t: super::Timing, s: &GemmSpec) -> Line {
    let secs = t.median_ms * 1e-3;
    Line {
        version: version.into(),
        description: desc.into(),
        rel_err: Some(e),
        correct: e <= tol,
        tflops: Some(s.flops() / secs / 1e12),
        gbps: Some(s.min_bytes() / secs / 1e9),
        timing: Some(t),
        vs_library: None,
        note: None,
    }
}
