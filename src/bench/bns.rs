//! `ipdpp bench bns`: the BNS loss forward + backward (both forms), CUDA versions side by side against the
//! CPU reference; on a machine without a GPU, the CPU reference alone is timed. N counts embeddings
//! (2 × images); the paper form uses METHOD.md's group layout (groups of m+1 images, N/2 rounded down to
//! a multiple of m+1). Labels: 10 classes, long-tailed (imbalance 100), drawn per image (code form) or per
//! group (paper form).
use super::{now_unix, rel_err, time_cpu, CudaTimer, Line, Report, Timing};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::loss::bns::{self, BnsForm, BnsOutput, PaperLayout};
use crate::loss::bns_cuda::{BnsCodeCuda, BnsPaperCuda, BnsVersion};
use crate::rng::uniform_f32;

#[derive(clap::Args, Debug, Clone)]
pub struct BnsArgs {
    /// Embeddings (2 × images)
    #[arg(long, default_value_t = 8192)]
    pub n: usize,
    /// Embedding dimension
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// paper | code
    #[arg(long, default_value = "paper")]
    pub loss: String,
    /// Temperature
    #[arg(long, default_value_t = 0.5)]
    pub tau: f32,
    /// Extra same-class positives per anchor (paper form)
    #[arg(long, default_value_t = 6)]
    pub m: usize,
    /// Versions to run on CUDA (v1 materialised, v2 fused fp32, v3 bf16 tensor cores, v4 v3 with the columns
    /// split over blocks, v5 v4 on Hopper wgmma, v6 v5 software-pipelined, v7 v6 with the code form's forward
    /// over one triangle: code form only). Default: all the form takes
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub run: super::RunArgs,
}

/// Long-tailed labels (10 classes, imbalance 100) for `count` draws.
pub fn long_tailed_labels(count: usize, seed: u64) -> Vec<i32> {
    let w: Vec<f64> = (0..10).map(|c| 100f64.powf(-(c as f64) / 9.0)).collect();
    let total: f64 = w.iter().sum();
    uniform_f32(count, 0.0, 1.0, seed)
        .into_iter()
        .map(|u| {
            let mut acc = 0.0;
            for (c, wc) in w.iter().enumerate() {
                acc += wc / total;
                if (u as f64) < acc {
                    return c as i32;
                }
            }
            9
        })
        .collect()
}

/// The bench's inputs: views, per-image labels and (paper form) the layout.
pub struct BnsProblem {
    pub form: BnsForm,
    pub b: usize,
    pub dim: usize,
    pub tau: f32,
    pub z1: Vec<f32>,
    pub z2: Vec<f32>,
    pub labels: Vec<i32>,
    pub layout: Option<PaperLayout>,
}

impl BnsProblem {
    pub fn new(form: BnsForm, n: usize, dim: usize, m: usize, tau: f32, seed: u64) -> Result<Self> {
        if n < 4 || dim == 0 {
            return Err(Error::usage(
                "bench bns: --n must be at least 4 embeddings and --dim at least 1",
            ));
        }
        let (b, labels, layout) = match form {
            BnsForm::Code => (n / 2, long_tailed_labels(n / 2, seed ^ 0x51), None),
            BnsForm::Paper => {
                let g = m + 1;
                let b = (n / 2) / g * g;
                if b == 0 {
                    return Err(Error::usage(format!(
                        "bench bns: --n {n} is too small for groups of m+1 = {g} images (need ≥ {})",
                        2 * g
                    )));
                }
                let gl = long_tailed_labels(b / g, seed ^ 0x51);
                let labels = (0..b).map(|i| gl[i / g]).collect();
                (b, labels, Some(PaperLayout::groups(b, m)?))
            }
        };
        Ok(BnsProblem {
            form,
            b,
            dim,
            tau,
            z1: uniform_f32(b * dim, -1.0, 1.0, seed),
            z2: uniform_f32(b * dim, -1.0, 1.0, seed ^ 0x9e37_79b9_7f4a_7c15),
            labels,
            layout,
        })
    }

    pub fn cpu(&self) -> Result<BnsOutput<f32>> {
        match &self.layout {
            None => bns::bns_code_f32(&self.z1, &self.z2, &self.labels, self.dim, self.tau),
            Some(l) => bns::bns_paper_f32(&self.z1, &self.z2, &self.labels, l, self.dim, self.tau),
        }
    }

    /// Nominal FLOPs of one forward + backward: the similarity once and the two gradient products
    /// (code: 3 · 2N²D over the N = 2B embeddings; paper: 3 · 2·R·B·D with R = anchors·(m+1) rows).
    pub fn flops(&self) -> f64 {
        let d = self.dim as f64;
        match &self.layout {
            None => 3.0 * 2.0 * (2 * self.b) as f64 * (2 * self.b) as f64 * d,
            Some(l) => 3.0 * 2.0 * l.rows() as f64 * self.b as f64 * d,
        }
    }
}

/// Combined error of a result: the larger of the loss's and the gradients' relative errors.
fn err(got: &BnsOutput<f32>, want: &BnsOutput<f32>) -> f64 {
    let el = (got.loss - want.loss).abs() / want.loss.abs().max(1e-30);
    let mut g: Vec<f32> = got.g1.clone();
    g.extend_from_slice(&got.g2);
    let mut w: Vec<f32> = want.g1.clone();
    w.extend_from_slice(&want.g2);
    if !got.loss.is_finite() {
        return f64::INFINITY;
    }
    el.max(rel_err(&g, &w))
}

fn tolerance(v: BnsVersion, n: usize) -> f64 {
    match v {
        v if v.bf16() => 1e-2,
        _ => 1e-5f64.max(2e-7 * (n as f64).sqrt()),
    }
}

fn line(
    version: &str,
    desc: &str,
    e: Option<f64>,
    tol: f64,
    t: Option<Timing>,
    flops: f64,
) -> Line {
    Line {
        version: version.into(),
        description: desc.into(),
        rel_err: e,
        correct: e.map(|e| e <= tol).unwrap_or(true),
        tflops: t.as_ref().map(|t| flops / (t.median_ms * 1e-3) / 1e12),
        gbps: None,
        timing: t,
        vs_library: None,
        note: None,
    }
}

pub fn bench(dev: &Device, a: &BnsArgs) -> Result<Report> {
    let form: BnsForm = a.loss.parse()?;
    bns::check_tau(a.tau as f64)?;
    let p = BnsProblem::new(form, a.n, a.dim, a.m, a.tau, a.seed)?;
    let n_emb = 2 * p.b;
    let t0 = std::time::Instant::now();
    let want = p.cpu()?;
    let ref_ms = t0.elapsed().as_secs_f64() * 1e3;
    let shape = match &p.layout {
        None => format!("form=code N={n_emb} D={} tau={}", p.dim, p.tau),
        Some(l) => format!(
            "form=paper N={n_emb} ({} images, {} anchors, m={}) D={} tau={}",
            p.b,
            l.anchors.len(),
            l.m,
            p.dim,
            p.tau
        ),
    };
    let flops = p.flops();
    let mut lines = Vec::new();
    let mut tol_all = 1e-5f64;
    match dev {
        Device::Cpu => {
            let reps = if ref_ms > 2000.0 {
                1
            } else {
                a.run.repeats.clamp(1, 5)
            };
            let t = time_cpu(0, reps, || p.cpu().map(|_| ()))?;
            lines.push(line(
                "cpu-ref",
                "CPU reference: f64, BLAS similarity blocks + rayon masked reductions",
                Some(0.0),
                tol_all,
                Some(t),
                flops,
            ));
        }
        Device::Cuda(d) => {
            let asked: Vec<String> = if a.versions.is_empty() {
                // v7 changes the code form only.
                let v7 = p.layout.is_none();
                (1..=8)
                    .filter(|&k| k != 7 || v7)
                    .map(|k| format!("v{k}"))
                    .collect()
            } else {
                a.versions.clone()
            };
            let versions = asked
                .iter()
                .map(|v| v.parse())
                .collect::<Result<Vec<BnsVersion>>>()?;
            let zcat: Vec<f32> = p.z1.iter().chain(&p.z2).copied().collect();
            let mut timer = CudaTimer::new(d)?;
            for &v in &versions {
                let tol = tolerance(v, n_emb);
                tol_all = tol_all.max(tol);
                let res: Result<(f64, Timing)> = (|| match &p.layout {
                    None => {
                        let lab: Vec<i32> = p.labels.iter().chain(&p.labels).copied().collect();
                        let mut ws = BnsCodeCuda::new(d, n_emb, p.dim, &[v])?;
                        let z = d.upload(&zcat)?;
                        let l = d.upload(&lab)?;
                        let mut gx = d.upload(&vec![f32::NAN; n_emb * p.dim])?;
                        ws.run(d, v, &z, &l, p.tau, &mut gx)?;
                        let mut g = d.download(&gx)?;
                        let g2 = g.split_off(p.b * p.dim);
                        let got = BnsOutput {
                            loss: d.download(&ws.loss)?[0] as f64,
                            g1: g,
                            g2,
                        };
                        let e = err(&got, &want);
                        let t = timer.time(a.run.warmup, a.run.repeats, || {
                            ws.run(d, v, &z, &l, p.tau, &mut gx)
                        })?;
                        Ok((e, t))
                    }
                    Some(layout) => {
                        let mut ws = BnsPaperCuda::new(d, p.b, p.dim, layout, &[v])?;
                        let (q, vv, l) = (d.upload(&p.z1)?, d.upload(&p.z2)?, d.upload(&p.labels)?);
                        let mut g1 = d.upload(&vec![f32::NAN; p.b * p.dim])?;
                        let mut g2 = d.upload(&vec![f32::NAN; p.b * p.dim])?;
                        ws.run(d, v, &q, &vv, &l, p.tau, &mut g1, &mut g2)?;
                        let got = BnsOutput {
                            loss: d.download(&ws.loss)?[0] as f64,
                            g1: d.download(&g1)?,
                            g2: d.download(&g2)?,
                        };
                        let e = err(&got, &want);
                        let t = timer.time(a.run.warmup, a.run.repeats, || {
                            ws.run(d, v, &q, &vv, &l, p.tau, &mut g1, &mut g2)
                        })?;
                        Ok((e, t))
                    }
                })();
                match res {
                    Ok((e, t)) => lines.push(line(
                        &v.to_string(),
                        v.describe(),
                        Some(e),
                        tol,
                        Some(t),
                        flops,
                    )),
                    Err(e) => {
                        let mut l = line(&v.to_string(), v.describe(), None, tol, None, flops);
                        l.note = Some(format!("unavailable: {e}"));
                        lines.push(l);
                    }
                }
            }
        }
    }
    Ok(Report {
        bench: "bns_fwd_bwd".into(),
        device: dev.name(),
        shape,
        reference: format!("CPU f64 reference ({ref_ms:.0} ms), loss {:.6}", want.loss),
        tolerance: tol_all,
        date_unix: now_unix(),
        lines,
    })
}

/// The `ipdpp bench bns` command: prints the table (or JSON), writes `--out`; exit code 1 when a version
/// is above its tolerance.
pub fn run(dev: &Device, a: &BnsArgs) -> Result<i32> {
    if !dev.is_cuda() {
        eprintln!("no CUDA device: timing the CPU reference only");
    }
    let rep = bench(dev, a)?;
    let ok = rep.lines.iter().all(|l| l.correct || l.note.is_some());
    super::emit(
        &rep,
        a.run.json,
        a.run.out.as_deref(),
        || rep.print_table(),
        ok,
    )
}
