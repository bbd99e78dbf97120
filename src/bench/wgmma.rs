//! `ipdpp bench wgmma`: the Hopper warpgroup-MMA probe (kernels/wgmma.cu) against the mma.sync v6 kernel on
//! the same bf16 operands, both checked first. A GEMM C = A · Bᵀ with A [M][K], B [N][K] is the forward of a
//! 1x1 stride-1 convolution with x = A (M pixels of K channels) and w = B (N filters, OHWI), so the v6 line is
//! `conv_fwd_v6_bf16` at that shape: the same work, operands and output layout. The reference is the exact
//! (f64-accumulated) product of the bf16-rounded operands; both kernels accumulate in fp32.
use super::{now_unix, rel_err, CudaTimer, Line, Report};
use crate::device::cpu::conv::ConvSpec;
use crate::device::cpu::elementwise::cast_bf16_f32;
use crate::device::cuda::conv_tc::ConvPrecision;
use crate::device::cuda::{conv_tc6, gemm, wgmma};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::uniform_f32;
use rayon::prelude::*;

#[derive(clap::Args, Debug, Clone)]
pub struct WgmmaArgs {
    /// Rows of A and C (pixels of the equivalent 1x1 convolution)
    #[arg(long, default_value_t = 16384)]
    pub m: usize,
    /// Rows of B, columns of C (output channels)
    #[arg(long, default_value_t = 128)]
    pub n: usize,
    /// Reduction length (input channels); a multiple of 8 (of 32 for the v6 line)
    #[arg(long, default_value_t = 576)]
    pub k: usize,
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// Tolerance against the exact product of the rounded operands: fp32 accumulation over K terms.
fn tolerance(k: usize) -> f64 {
    1e-5f64.max(4e-7 * (k as f64).sqrt())
}

fn bf16_to_f32(v: u16) -> f32 {
    f32::from_bits((v as u32) << 16)
}

/// The report, or a usage error where no Hopper GPU is present.
pub fn bench(dev: &Device, a: &WgmmaArgs) -> Result<Report> {
    let (m, n, k) = (a.m, a.n, a.k);
    if m == 0 || n == 0 || k == 0 || k % 8 != 0 {
        return Err(Error::usage(format!(
            "--m {m} --n {n} --k {k}: sizes must be positive and K a multiple of 8"
        )));
    }
    let Device::Cuda(d) = dev else {
        return Err(Error::usage(
            "bench wgmma times Hopper tensor-core instructions: it needs --device cuda on an sm_90 GPU",
        ));
    };
    if !wgmma::available(d) {
        return Err(Error::usage(format!(
            "bench wgmma needs a Hopper GPU (sm_90); this one is sm_{}{}",
            d.cc.0, d.cc.1
        )));
    }
    let (mut ab, mut bb) = (vec![0u16; m * k], vec![0u16; n * k]);
    cast_bf16_f32(&mut ab, &uniform_f32(m * k, -1.0, 1.0, a.seed));
    cast_bf16_f32(&mut bb, &uniform_f32(n * k, -1.0, 1.0, a.seed + 1));
    let want: Vec<f32> = (0..m * n)
        .into_par_iter()
        .map(|i| {
            let (r, c) = (i / n, i % n);
            (0..k)
                .map(|j| bf16_to_f32(ab[r * k + j]) as f64 * bf16_to_f32(bb[c * k + j]) as f64)
                .sum::<f64>() as f32
        })
        .collect();
    let (da, db) = (d.upload(&ab)?, d.upload(&bb)?);
    let tol = tolerance(k);
    let flops = 2.0 * (m * n * k) as f64;
    let mut timer = CudaTimer::new(d)?;
    let spec = ConvSpec::new(m, 1, 1, k, n, 1, 1, 0);
    let p = ConvPrecision::Bf16;
    let mut lines = Vec::new();
    type Run<'a> = Box<dyn Fn(&mut cudarc::driver::CudaSlice<f32>) -> Result<()> + 'a>;
    let mut runs: Vec<(&str, String, Run)> = vec![(
        "wgmma",
        format!(
            "gemm_wgmma_bf16_{} (wgmma.mma_async m64n{}k16, 3-stage cp.async, no swizzle)",
            if n > 64 { "n128" } else { "n64" },
            if n > 64 { 128 } else { 64 }
        ),
        Box::new(|c| wgmma::gemm_wgmma_bf16(d, c, &da, &db, m, n, k)),
    )];
    runs.push((
        "wgmma-sw128",
        format!(
            "gemm_wgmma_bf16_sw128_{} (the same, shared tiles in the 128-byte swizzle layout)",
            if n > 64 { "n128" } else { "n64" }
        ),
        Box::new(|c| wgmma::gemm_wgmma_bf16_sw128(d, c, &da, &db, m, n, k)),
    ));
    if conv_tc6::takes("fwd", &spec, p) && conv_tc6::fits(d, "fwd", &spec, p) {
        runs.push((
            "v6",
            "conv_fwd_v6_bf16 as a 1x1 convolution (mma.sync m16n8k16)".into(),
            Box::new(|c| conv_tc6::conv_fwd_v6(d, p, c, &da, &db, &spec)),
        ));
    }
    // (No line where cuBLAS is missing, as under cusim: it is the library, not a kernel of this engine.)
    if d.blas().is_ok() {
        runs.push((
            "cublas",
            "cublasGemmEx, bf16 operands, fp32 accumulation (the library on this card)".into(),
            Box::new(|c| gemm::gemm_bf16_nt_cublas(d, c, &da, &db, (m, n, k))),
        ));
    }
    for (version, description, run) in &runs {
        let mut c = d.upload(&vec![f32::NAN; m * n])?;
        let checked = run(&mut c)
            .and_then(|_| d.download(&c))
            .map(|got| rel_err(&got, &want));
        let (e, note) = match checked {
            Ok(e) => (Some(e), None),
            Err(err) => (None, Some(format!("failed: {err}"))),
        };
        let correct = e.is_some_and(|e| e < tol);
        let timing = if correct {
            Some(timer.time(a.run.warmup, a.run.repeats, || run(&mut c))?)
        } else {
            None
        };
        lines.push(Line {
            version: version.to_string(),
            description: description.clone(),
            rel_err: e,
            correct,
            tflops: timing.as_ref().map(|t| flops / (t.median_ms * 1e-3) / 1e12),
            gbps: None,
            vs_library: None,
            note,
            timing,
        });
    }
    // 'vs lib': against cuBLAS where it ran, else v6 (the baseline the probe has to beat).
    let rate = |v: &str| lines.iter().find(|l| l.version == v).and_then(|l| l.tflops);
    let (base, base_name) = match rate("cublas") {
        Some(t) => (Some(t), "cuBLAS"),
        None => (rate("v6"), "v6"),
    };
    if let Some(b) = base {
        for l in &mut lines {
            l.vs_library = l.tflops.map(|t| t / b);
        }
    }
    Ok(Report {
        bench: "gemm_bf16_wgmma".into(),
        device: dev.name(),
        shape: format!("M={m} N={n} K={k}, C = A·Bᵀ, bf16 operands, fp32 accumulation"),
        reference: format!(
            "exact product of the bf16 operands (f64, CPU); 'vs lib' = vs {base_name}"
        ),
        tolerance: tol,
        date_unix: now_unix(),
        lines,
    })
}

/// `ipdpp bench wgmma`: table (or JSON); exit status 1 when a line is wrong.
pub fn run(dev: &Device, a: &WgmmaArgs) -> Result<i32> {
    let r = bench(dev, a)?;
    let ok = r.lines.iter().all(|l| l.correct);
    super::emit(&r, a.run.json, a.run.out.as_deref(), || r.print_table(), ok)
}
