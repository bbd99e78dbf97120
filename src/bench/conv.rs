//! `ipdpp bench conv`: one convolution's forward, grad-input and grad-weight, each kernel generation side by
//! side at one shape and precision (the A/B behind `bench resnet`'s per-layer table). Every output is
//! checked against the CPU fp32 reference first (DESIGN.md's tolerance of the precision), then timed with
//! CUDA events after warm-up, L2 flushed between repeats. TFLOP/s count the useful GEMM work, 2·M·N·K of
//! the op (a strided grad-input that multiplies zeros gets no credit for them). v6 in bf16 is timed on
//! operands cast to bf16 beforehand (as a network keeps them); the cast is its own line. On a machine
//! without a GPU, the CPU reference alone is timed.
use super::{now_unix, rel_err, time_cpu, CudaTimer, Line, Report};
use crate::device::cpu::conv::{conv_bwd_input_f32, conv_bwd_weight_f32, conv_fwd_f32, ConvSpec};
use crate::device::cuda::conv::{self as cconv, ConvVersion};
use crate::device::cuda::conv_tc::{
    conv_bwd_input_tc, conv_bwd_weight_tc, conv_fwd_tc, kernel_on, ConvPrecision, TcVersion,
};
use crate::device::cuda::conv_tc6::{self, cast_into};
use crate::device::cuda::conv_wgmma;
use crate::device::cuda::cudnn::LibConv;
use crate::device::cuda::elementwise::cast_bf16_f32;
use crate::device::cuda::CudaDevice;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::uniform_f32;
use cudarc::driver::CudaSlice;

#[derive(clap::Args, Debug, Clone)]
pub struct ConvArgs {
    /// N,H,W,C,O,K,STRIDE,PAD: batch, input height and width, input and output channels, kernel size,
    /// stride, padding (default: ResNet-18's layer1 3x3 at 256 images)
    #[arg(long, default_value = "256,32,32,64,64,3,1,1")]
    pub shape: String,
    /// fp32 (CUDA cores: conv.cu v1, v2, conv_tc6.cu v6) | tf32 | bf16 (tensor cores: v3..v6)
    #[arg(long, default_value = "bf16")]
    pub precision: String,
    /// Versions to run (default: every one of the precision): tf32/bf16 v3,v4,v5,v6,v7; fp32 v1,v2,v6;
    /// `cudnn` adds the library's line (where libcudnn.so.9 loads), which the others' "vs lib" is against
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<String>,
    /// fwd | bwd_input | bwd_weight | all
    #[arg(long, default_value = "all")]
    pub op: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub run: super::RunArgs,
}

const OPS: [&str; 3] = ["fwd", "bwd_input", "bwd_weight"];

fn parse_shape(s: &str) -> Result<ConvSpec> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::usage(format!(
                "--shape {s:?}: expected 8 non-negative integers N,H,W,C,O,K,STRIDE,PAD"
            ))
        })?;
    let [n, h, w, c, o, k, stride, pad] = v[..] else {
        return Err(Error::usage(format!(
            "--shape {s:?}: expected 8 numbers N,H,W,C,O,K,STRIDE,PAD, got {}",
            v.len()
        )));
    };
    if [n, h, w, c, o, k, stride].contains(&0) || k > h + 2 * pad || k > w + 2 * pad {
        return Err(Error::usage(format!(
            "--shape {s:?}: sizes and stride must be positive and the kernel must fit the padded input"
        )));
    }
    Ok(ConvSpec::new(n, h, w, c, o, k, stride, pad))
}

/// Useful FLOPs of each op: 2·M·N·K of its implicit GEMM without the zeros of strided gathers.
fn flops(s: &ConvSpec) -> f64 {
    2.0 * (s.n * s.oh() * s.ow()) as f64 * s.o as f64 * s.kdim() as f64
}

/// The operands and CPU reference outputs of one shape.
struct Problem {
    s: ConvSpec,
    x: Vec<f32>,
    w: Vec<f32>,
    gy: Vec<f32>,
    want: [Vec<f32>; 3],
}

impl Problem {
    fn new(s: ConvSpec, seed: u64) -> Self {
        let x = uniform_f32(s.x_len(), -1.0, 1.0, seed);
        let w = uniform_f32(s.w_len(), -1.0, 1.0, seed + 1);
        let gy = uniform_f32(s.y_len(), -1.0, 1.0, seed + 2);
        let mut y = vec![0.0; s.y_len()];
        let mut gx = vec![0.0; s.x_len()];
        let mut gw = vec![0.0; s.w_len()];
        conv_fwd_f32(&mut y, &x, &w, &s);
        conv_bwd_input_f32(&mut gx, &gy, &w, &s);
        conv_bwd_weight_f32(&mut gw, &gy, &x, &s);
        Problem {
            s,
            x,
            w,
            gy,
            want: [y, gx, gw],
        }
    }
    fn out_len(&self, op: usize) -> usize {
        [self.s.y_len(), self.s.x_len(), self.s.w_len()][op]
    }
}

/// Device copies of the operands (fp32, and bf16 for v6).
struct Operands {
    x: CudaSlice<f32>,
    w: CudaSlice<f32>,
    gy: CudaSlice<f32>,
    xb: Option<CudaSlice<u16>>,
    wb: Option<CudaSlice<u16>>,
    gyb: Option<CudaSlice<u16>>,
    /// v7's grad-input operand: wb transposed (IHWO).
    wtb: Option<CudaSlice<u16>>,
    /// tf32 v7's: w transposed.
    wt32: Option<CudaSlice<f32>>,
}

/// Whether the exact-fp32 v6 runs `op` at `s` on `d` (else v2 stands in, as in a network).
fn fp32_v6_runs(d: &CudaDevice, op: usize, s: &ConvSpec) -> bool {
    let p = ConvPrecision::Fp32;
    conv_tc6::takes(OPS[op], s, p) && conv_tc6::fits(d, OPS[op], s, p)
}

/// A bf16 operand cast beforehand.
fn b(c: &Option<CudaSlice<u16>>) -> Result<&CudaSlice<u16>> {
    c.as_ref()
        .ok_or_else(|| Error::usage("bf16 operands missing"))
}

/// One version of one op into `out`.
fn launch(
    d: &CudaDevice,
    p: ConvPrecision,
    v: &str,
    op: usize,
    o: &Operands,
    out: &mut CudaSlice<f32>,
    s: &ConvSpec,
) -> Result<()> {
    if p == ConvPrecision::Fp32 && v == "v6" && fp32_v6_runs(d, op, s) {
        return match op {
            0 => conv_tc6::conv_fwd_v6(d, p, out, &o.x, &o.w, s),
            1 => conv_tc6::conv_bwd_input_v6(d, p, out, &o.gy, &o.w, s, false),
            _ => conv_tc6::conv_bwd_weight_v6(d, p, out, &o.gy, &o.x, s),
        };
    }
    if p == ConvPrecision::Fp32 {
        let cv = if v == "v1" {
            ConvVersion::V1
        } else {
            ConvVersion::V2
        };
        return match op {
            0 => cconv::conv_fwd_f32(d, cv, out, &o.x, &o.w, s),
            1 => cconv::conv_bwd_input_f32(d, cv, out, &o.gy, &o.w, s),
            _ => cconv::conv_bwd_weight_f32(d, cv, out, &o.gy, &o.x, s),
        };
    }
    let tv: TcVersion = v.parse()?;
    let runs = kernel_on(d, p, tv, OPS[op], s);
    if runs == "v7" && p == ConvPrecision::Tf32 {
        // The fp32 tensors themselves; the grad-input's transposed weights made once (`wt32`).
        return match (op, o.wt32.as_ref()) {
            (0, _) => conv_wgmma::conv_fwd_v7(d, out, &o.x, &o.w, s),
            (1, Some(wt)) => conv_wgmma::conv_bwd_input_v7(d, out, &o.gy, wt, s, false),
            (1, None) => Err(Error::usage("tf32 v7: no transposed weights")),
            _ => conv_wgmma::conv_bwd_weight_v7(d, out, &o.gy, &o.x, s),
        };
    }
    if runs == "v7" {
        return match op {
            0 => conv_wgmma::conv_fwd_v7(d, out, b(&o.xb)?, b(&o.wb)?, s),
            1 => conv_wgmma::conv_bwd_input_v7(d, out, b(&o.gyb)?, b(&o.wtb)?, s, false),
            _ => conv_wgmma::conv_bwd_weight_v7(d, out, b(&o.gyb)?, b(&o.xb)?, s),
        };
    }
    if p == ConvPrecision::Bf16 && runs == "v6" {
        return match op {
            0 => conv_tc6::conv_fwd_v6(d, p, out, b(&o.xb)?, b(&o.wb)?, s),
            1 => conv_tc6::conv_bwd_input_v6(d, p, out, b(&o.gyb)?, b(&o.wb)?, s, false),
            _ => conv_tc6::conv_bwd_weight_v6(d, p, out, b(&o.gyb)?, b(&o.xb)?, s),
        };
    }
    match op {
        0 => conv_fwd_tc(d, p, tv, out, &o.x, &o.w, s),
        1 => conv_bwd_input_tc(d, p, tv, out, &o.gy, &o.w, s),
        _ => conv_bwd_weight_tc(d, p, tv, out, &o.gy, &o.x, s),
    }
}

/// The versions to run in precision `p`: `asked` (checked, lower-cased), or every one of the precision.
fn versions(p: ConvPrecision, asked: &[String]) -> Result<Vec<String>> {
    let all: &[&str] = if p == ConvPrecision::Fp32 {
        &["v1", "v2", "v6"]
    } else {
        &["v3", "v4", "v5", "v6", "v7"]
    };
    if asked.is_empty() {
        return Ok(all.iter().map(|v| v.to_string()).collect());
    }
    asked
        .iter()
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            if v == "cudnn" {
                return Ok(v);
            }
            if p == ConvPrecision::Fp32 && !all.contains(&v.as_str()) {
                return Err(Error::usage(format!(
                    "--versions {v}: fp32 convolutions come in v1, v2 (conv.cu) and v6 (conv_tc6.cu)"
                )));
            }
            if p != ConvPrecision::Fp32 {
                v.parse::<TcVersion>()?;
            }
            Ok(v)
        })
        .collect()
}

/// The reports (one per op) for the arguments on `dev`.
pub fn bench(dev: &Device, a: &ConvArgs) -> Result<Vec<Report>> {
    let s = parse_shape(&a.shape)?;
    let p: ConvPrecision = a.precision.parse()?;
    let ops: Vec<usize> = match a.op.trim() {
        "all" => vec![0, 1, 2],
        o => vec![OPS.iter().position(|&x| x == o).ok_or_else(|| {
            Error::usage(format!("--op {o:?}: use fwd, bwd_input, bwd_weight or all"))
        })?],
    };
    let versions = versions(p, &a.versions)?;
    let pr = Problem::new(s, a.seed);
    let tol = p.tolerance();
    let shape = format!(
        "{}x{}x{}x{} -> {} channels, {}x{} stride {} pad {}, {p}",
        s.n, s.h, s.w, s.c, s.o, s.kh, s.kw, s.stride, s.pad
    );
    let mut reports = Vec::new();
    let Device::Cuda(d) = dev else {
        for &op in &ops {
            let mut out = vec![0.0f32; pr.out_len(op)];
            let t = time_cpu(a.run.warmup, a.run.repeats.max(1), || {
                match op {
                    0 => conv_fwd_f32(&mut out, &pr.x, &pr.w, &s),
                    1 => conv_bwd_input_f32(&mut out, &pr.gy, &pr.w, &s),
                    _ => conv_bwd_weight_f32(&mut out, &pr.gy, &pr.x, &s),
                }
                Ok(())
            })?;
            reports.push(Report {
                bench: format!("conv_{}", OPS[op]),
                device: dev.name(),
                shape: shape.clone(),
                reference: "CPU fp32 (im2col + OpenBLAS)".into(),
                tolerance: tol,
                date_unix: now_unix(),
                lines: vec![Line {
                    version: "cpu".into(),
                    description: "CPU reference (exact fp32)".into(),
                    rel_err: None,
                    correct: true,
                    tflops: Some(flops(&s) / (t.median_ms * 1e-3) / 1e12),
                    gbps: None,
                    vs_library: None,
                    note: None,
                    timing: Some(t),
                }],
            });
        }
        return Ok(reports);
    };
    let mut o = Operands {
        x: d.upload(&pr.x)?,
        w: d.upload(&pr.w)?,
        gy: d.upload(&pr.gy)?,
        xb: None,
        wb: None,
        gyb: None,
        wtb: None,
        wt32: None,
    };
    if p == ConvPrecision::Tf32
        && versions.iter().any(|v| v == "v7")
        && crate::device::cuda::wgmma::available(d)
    {
        let mut wt = d.zeros::<f32>(s.w_len())?;
        conv_wgmma::conv_weight_t_f32(d, &mut wt, &o.w, &s)?;
        o.wt32 = Some(wt);
    }
    let mut timer = CudaTimer::new(d)?;
    let mut cast_line = None;
    if p == ConvPrecision::Bf16
        && versions
            .iter()
            .any(|v| v == "v6" || v == "v7" || v == "cudnn")
    {
        cast_into(d, &mut o.xb, &o.x)?;
        cast_into(d, &mut o.wb, &o.w)?;
        cast_into(d, &mut o.gyb, &o.gy)?;
        if versions.iter().any(|v| v == "v7") && crate::device::cuda::wgmma::available(d) {
            let mut wt = d.zeros::<u16>(s.w_len())?;
            let wb =
                o.wb.as_ref()
                    .ok_or_else(|| Error::usage("bf16 weights missing"))?;
            conv_wgmma::conv_weight_t_bf16(d, &mut wt, wb, &s)?;
            o.wtb = Some(wt);
        }
        let mut xb = d.zeros::<u16>(o.x.len())?;
        let t = timer.time(a.run.warmup, a.run.repeats, || {
            cast_bf16_f32(d, &mut xb, &o.x)
        })?;
        let bytes = o.x.len() as f64 * 6.0;
        cast_line = Some(Line {
            version: "cast".into(),
            description: "cast_bf16_f32 of x (v6's operand cast; gy costs the same per element)"
                .into(),
            rel_err: None,
            correct: true,
            tflops: None,
            gbps: Some(bytes / (t.median_ms * 1e-3) / 1e9),
            vs_library: None,
            note: None,
            timing: Some(t),
        });
    }
    let mut lib = versions
        .iter()
        .any(|v| v == "cudnn")
        .then(|| LibConv::new(d, &s, p));
    for &op in &ops {
        let mut lines = Vec::new();
        for v in &versions {
            if v == "cudnn" {
                let what = "cuDNN (the library line)";
                lines.push(match lib.as_mut() {
                    Some(Ok(l)) => lib_line(d, l, p, op, &o, &pr, &mut timer, a)
                        .unwrap_or_else(|e| Line::unavailable(v, what, &e)),
                    Some(Err(e)) => Line::unavailable(v, what, e),
                    None => continue,
                });
                continue;
            }
            let ran = if p == ConvPrecision::Fp32 {
                if v == "v6" && !fp32_v6_runs(d, op, &s) {
                    "v2 (v6 does not take this shape on this GPU)".into()
                } else {
                    v.clone()
                }
            } else {
                kernel_on(d, p, v.parse()?, OPS[op], &s)
            };
            let mut out = d.upload(&vec![f32::NAN; pr.out_len(op)])?;
            let checked = launch(d, p, v, op, &o, &mut out, &s)
                .and_then(|_| d.download(&out))
                .map(|got| rel_err(&got, &pr.want[op]));
            let (e, note) = match checked {
                Ok(e) => (Some(e), None),
                Err(err) => (None, Some(format!("failed: {err}"))),
            };
            let correct = e.is_some_and(|e| e < tol);
            let timing = if correct {
                Some(timer.time(a.run.warmup, a.run.repeats, || {
                    launch(d, p, v, op, &o, &mut out, &s)
                })?)
            } else {
                None
            };
            // v7 picks one of two pipelines per shape by speed (the same sums), bf16 v6 one of two rings:
            // say which.
            let ran = match (v7_pipe(d, p, v, op, &s), ran.as_str()) {
                (Some(pipe), _) => format!("{ran} ({})", pipe.tag_for(p)),
                (None, "v6") if p != ConvPrecision::Fp32 => {
                    let suffix = if OPS[op] == "bwd_input" && s.stride > 1 {
                        "_strided"
                    } else {
                        ""
                    };
                    match conv_tc6::ring_used(d, p, OPS[op], suffix, &s) {
                        Some(r) => format!("{ran} ({})", r.tag()),
                        None => ran,
                    }
                }
                _ => ran,
            };
            lines.push(Line {
                version: v.clone(),
                description: format!("conv_{}: ran {ran}", OPS[op]),
                rel_err: e,
                correct,
                tflops: timing
                    .as_ref()
                    .map(|t| flops(&s) / (t.median_ms * 1e-3) / 1e12),
                gbps: None,
                vs_library: None,
                note,
                timing,
            });
        }
        // Every line's throughput against the library's, where it ran.
        if let Some(lt) = lines
            .iter()
            .find(|l| l.version == "cudnn")
            .and_then(|l| l.tflops)
        {
            for l in &mut lines {
                l.vs_library = l.tflops.map(|t| t / lt);
            }
        }
        if op == 0 {
            lines.extend(cast_line.take());
        }
        reports.push(Report {
            bench: format!("conv_{}", OPS[op]),
            device: dev.name(),
            shape: shape.clone(),
            reference: "CPU fp32 (im2col + OpenBLAS)".into(),
            tolerance: tol,
            date_unix: now_unix(),
            lines,
        });
    }
    Ok(reports)
}

/// cuDNN's line for `op`: its output (bf16 in bf16, as the library writes it) checked against the CPU, then
/// timed as the other versions.
#[allow(clippy::too_many_arguments)]
fn lib_line(
    d: &CudaDevice,
    lib: &mut LibConv,
    p: ConvPrecision,
    op: usize,
    o: &Operands,
    pr: &Problem,
    timer: &mut CudaTimer<'_>,
    a: &ConvArgs,
) -> Result<Line> {
    let algo = lib.prepare(d, op)?;
    let n = pr.out_len(op);
    let (got, mut run): (Vec<f32>, Box<dyn FnMut() -> Result<()> + '_>) =
        if p == ConvPrecision::Bf16 {
            let (xb, wb, gyb) = (b(&o.xb)?, b(&o.wb)?, b(&o.gyb)?);
            let (ea, eb) = [(xb, wb), (gyb, wb), (gyb, xb)][op];
            let mut out = d.upload(&vec![0x7FC0u16; n])?;
            lib.run(d, op, &mut out, ea, eb)?;
            let got = d
                .download(&out)?
                .iter()
                .map(|&b| f32::from_bits((b as u32) << 16))
                .collect();
            (got, Box::new(move || lib.run(d, op, &mut out, ea, eb)))
        } else {
            let (ea, eb) = [(&o.x, &o.w), (&o.gy, &o.w), (&o.gy, &o.x)][op];
            let mut out = d.upload(&vec![f32::NAN; n])?;
            lib.run(d, op, &mut out, ea, eb)?;
            let got = d.download(&out)?;
            (got, Box::new(move || lib.run(d, op, &mut out, ea, eb)))
        };
    let e = rel_err(&got, &pr.want[op]);
    let correct = e < p.tolerance();
    let timing = if correct {
        Some(timer.time(a.run.warmup, a.run.repeats, &mut run)?)
    } else {
        None
    };
    Ok(Line {
        version: "cudnn".into(),
        description: format!("conv_{}: cuDNN {algo}", OPS[op]),
        rel_err: Some(e),
        correct,
        tflops: timing
            .as_ref()
            .map(|t| flops(&pr.s) / (t.median_ms * 1e-3) / 1e12),
        gbps: None,
        vs_library: None,
        note: None,
        timing,
    })
}

/// The v7 pipeline behind version `v`'s `op` at `s`, where v7 ran it.
fn v7_pipe(
    d: &CudaDevice,
    p: ConvPrecision,
    v: &str,
    op: usize,
    s: &ConvSpec,
) -> Option<conv_wgmma::Pipe> {
    (v == "v7" && conv_wgmma::runs(d, OPS[op], s, p))
        .then(|| conv_wgmma::pipe_used(d, OPS[op], false, s, p))
        .flatten()
}

/// `ipdpp bench conv`: tables (or JSON) and exit status 1 when a version is wrong.
pub fn run(dev: &Device, a: &ConvArgs) -> Result<i32> {
    if !dev.is_cuda() {
        eprintln!("no CUDA device: timing the CPU reference only");
    }
    let reps = bench(dev, a)?;
    let ok = reps
        .iter()
        .flat_map(|r| &r.lines)
        .all(|l| l.correct || l.note.is_some());
    let table = || {
        for r in &reps {
            r.print_table();
            println!();
        }
    };
    super::emit(&reps, a.run.json, a.run.out.as_deref(), table, ok)
}
