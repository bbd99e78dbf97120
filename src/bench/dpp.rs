//! `ipdpp bench dpp`: the DPP kernel matrix (the Gram matrix of N feature rows of dimension D, finished as
//! cosines or squared distances; METHOD.md's qd-cosine / qd-rbf), every CUDA generation against the CPU
//! f64 reference and beside cuBLAS's SGEMM of the same product F·Fᵀ, unfinished: the GEMM roofline of
//! TARGETS.md ("≥ 70 % of the GEMM roofline" at N = 5000, D = 512). TFLOP/s count the full product's
//! 2·N²·D for every line (v2 multiplies one triangle, so it may pass the library line). On a machine
//! without a GPU, the CPU reference alone is timed.
use super::{now_unix, rel_err, time_cpu, CudaTimer, Line, Report, Timing};
use crate::device::cuda::gemm::gemm_f32;
use crate::device::ops::{GemmSpec, GemmVersion};
use crate::device::Device;
use crate::dpp::kernels::{dots_cpu, dpp_gram_f32, gram_cpu, gram_finish, GramMode, GramVersion};
use crate::error::{Error, Result};
use crate::rng::uniform_f32;
use cudarc::driver::CudaSlice;

#[derive(clap::Args, Debug, Clone)]
pub struct DppArgs {
    /// Feature rows (the class size)
    #[arg(long, default_value_t = 5000)]
    pub n: usize,
    /// Feature dimension
    #[arg(long, default_value_t = 512)]
    pub dim: usize,
    /// cosine (qd-cosine) | sqdist (qd-rbf's squared distances)
    #[arg(long, default_value = "cosine")]
    pub mode: String,
    /// Versions to run on CUDA: v1 (16×16 tiles), v2 (register tiles of one triangle), cublas (SGEMM of
    /// F·Fᵀ, unfinished: the library line)
    #[arg(long, value_delimiter = ',', default_value = "v1,v2,cublas")]
    pub versions: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub run: super::RunArgs,
}

fn mode_of(s: &str) -> Result<GramMode> {
    match s.trim().to_ascii_lowercase().as_str() {
        "cosine" => Ok(GramMode::Cosine),
        "sqdist" => Ok(GramMode::SqDist),
        _ => Err(Error::usage(format!(
            "unknown --mode {s:?}; use cosine or sqdist"
        ))),
    }
}

/// fp32 dot products of length D against f64: DESIGN.md's 1e-5, widened with √D as `bench gemm`.
fn tolerance(d: usize) -> f64 {
    super::gemm::tolerance(d)
}

fn line(version: &str, desc: &str, e: f64, tol: f64, t: Timing, n: usize, d: usize) -> Line {
    let secs = t.median_ms * 1e-3;
    let (n, d) = (n as f64, d as f64);
    Line {
        version: version.into(),
        description: desc.into(),
        rel_err: Some(e),
        correct: e <= tol,
        tflops: Some(2.0 * n * n * d / secs / 1e12),
        gbps: Some(4.0 * (n * n + n * d) / secs / 1e9),
        timing: Some(t),
        vs_library: None,
        note: None,
    }
}

/// Entries (i, j) ≠ (j, i) of a row-major n × n matrix (bitwise).
fn asymmetric(g: &[f32], n: usize) -> usize {
    (0..n)
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .filter(|&(i, j)| g[i * n + j].to_bits() != g[j * n + i].to_bits())
        .count()
}

pub fn bench(dev: &Device, a: &DppArgs) -> Result<Report> {
    let (n, d) = (a.n, a.dim);
    if n == 0 || d == 0 {
        return Err(Error::usage("bench dpp: --n and --dim must be at least 1"));
    }
    let mode = mode_of(&a.mode)?;
    let f = uniform_f32(n * d, -1.0, 1.0, a.seed);
    let t0 = std::time::Instant::now();
    let dots = dots_cpu(&f, n, d)?;
    let mut want64 = dots.clone();
    gram_finish(&mut want64, n, mode);
    let ref_ms = t0.elapsed().as_secs_f64() * 1e3;
    let want: Vec<f32> = want64.iter().map(|&x| x as f32).collect();
    let tol = tolerance(d);
    let mut lines = Vec::new();
    match dev {
        Device::Cpu => {
            let reps = if ref_ms > 2000.0 {
                1
            } else {
                a.run.repeats.clamp(1, 5)
            };
            let t = time_cpu(0, reps, || gram_cpu(&f, n, d, mode).map(|_| ()))?;
            lines.push(line(
                "cpu-ref",
                "CPU reference: f64 dgemm (OpenBLAS), then the finish",
                0.0,
                tol,
                t,
                n,
                d,
            ));
        }
        Device::Cuda(cd) => {
            let dots32: Vec<f32> = dots.iter().map(|&x| x as f32).collect();
            let sq: Vec<f32> = (0..n).map(|i| dots[i * n + i] as f32).collect();
            let fd = cd.upload(&f)?;
            let sd = cd.upload(&sq)?;
            let mut timer = CudaTimer::new(cd)?;
            for name in &a.versions {
                let mut out = cd.upload(&vec![f32::NAN; n * n])?;
                if name.trim().eq_ignore_ascii_case("cublas") {
                    let spec = GemmSpec {
                        tb: true,
                        ..GemmSpec::new(n, n, d)
                    };
                    let run = |o: &mut CudaSlice<f32>| {
                        gemm_f32(cd, GemmVersion::Cublas, o, &fd, &fd, &spec)
                    };
                    if let Err(e) = run(&mut out) {
                        let desc = "cuBLAS sgemm F·Fᵀ, unfinished (library line)";
                        lines.push(Line::unavailable("cublas", desc, &e));
                        continue;
                    }
                    let e = rel_err(&cd.download(&out)?, &dots32);
                    let t = timer.time(a.run.warmup, a.run.repeats, || run(&mut out))?;
                    let desc = "cuBLAS sgemm F·Fᵀ, unfinished (the GEMM roofline; library line)";
                    lines.push(line("cublas", desc, e, tol, t, n, d));
                    continue;
                }
                let v: GramVersion = name.parse()?;
                let run = |o: &mut CudaSlice<f32>| dpp_gram_f32(cd, v, o, &fd, &sd, n, d, mode);
                run(&mut out)?;
                let got = cd.download(&out)?;
                let e = rel_err(&got, &want);
                let asym = asymmetric(&got, n);
                let t = timer.time(a.run.warmup, a.run.repeats, || run(&mut out))?;
                let mut l = line(&v.to_string(), v.describe(), e, tol, t, n, d);
                if asym > 0 {
                    l.correct = false;
                    l.note = Some(format!("{asym} entries differ from their transpose"));
                }
                lines.push(l);
            }
        }
    }
    let lib = lines
        .iter()
        .find(|l| l.version == "cublas")
        .and_then(|l| l.tflops);
    if let Some(lib) = lib {
        for l in &mut lines {
            l.vs_library = l.tflops.map(|t| t / lib);
        }
    }
    Ok(Report {
        bench: "dpp_gram".into(),
        device: dev.name(),
        shape: format!("N={n} D={d} mode={}", a.mode.trim().to_ascii_lowercase()),
        reference: format!("CPU f64 dgemm + finish ({ref_ms:.0} ms)"),
        tolerance: tol,
        date_unix: now_unix(),
        lines,
    })
}

/// The `ipdpp bench dpp` command: the table (or JSON), `--out`; exit status 1 when a version that ran is
/// wrong (off the reference, or not symmetric).
pub fn run(dev: &Device, a: &DppArgs) -> Result<i32> {
    if !dev.is_cuda() {
        eprintln!("no CUDA device: timing the CPU reference only");
    }
    let rep = bench(dev, a)?;
    // A version that could not run here (no timing: cuBLAS missing) is no failure; a wrong one is.
    let ok = rep.lines.iter().all(|l| l.correct || l.timing.is_none());
    super::emit(
        &rep,
        a.run.json,
        a.run.out.as_deref(),
        || rep.print_table(),
        ok,
    )
}
