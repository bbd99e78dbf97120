//! `ipdpp bench resnet`: whole BNS training steps of a ResNet (forward of both views with per-view
//! batch-norm statistics, the BNS loss and its gradient, backward, AdamW) on one device.
//!
//! Reports images/s (every augmented view counts: 2 × batch images per step), the median and spread of
//! the step time, achieved TFLOP/s (convolutions, linears and the loss's similarity products) and the
//! percentage of a ceiling measured in the same run (the best fp32 SGEMM: cuBLAS or the v3 kernel on the
//! GPU, OpenBLAS on the CPU), a per-layer table (forward and backward time per node) and a per-op summary
//! from separately profiled steps (CUDA events around every node on the GPU, wall clock on the CPU), and
//! optionally one profiled step as a Chrome trace (`--trace step.json`, opens in Perfetto / chrome://tracing).
//!
//! The inputs are fixed random images in [0, 1] (the augmentation pipeline is not part of the step);
//! labels are long-tailed over 10 classes (imbalance 100) as in `ipdpp bench bns`.
use super::bns::long_tailed_labels;
use super::{now_unix, time_cpu, CudaTimer, Timing};
use crate::device::cuda::CudaDevice;
use crate::device::ops::{gemm_f32, GemmSpec, GemmVersion};
use crate::device::parts::{self, Part, PartSink};
use crate::device::{cpu, Buffer, Device};
use crate::error::{Error, Result};
use crate::loss::bns::{self, BnsForm, PaperLayout};
use crate::loss::bns_cuda::{BnsCodeCuda, BnsPaperCuda, BnsVersion};
use crate::nn::resnet::{NodeInfo, NodeProfiler};
use crate::nn::{Arch, Mode, ResNet};
use crate::optim::AdamW;
use crate::rng::uniform_f32;
use cudarc::driver::{sys::CUevent_flags, CudaEvent, CudaSlice};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct ResnetArgs {
    /// resnet18 | resnet34 | resnet32 (also resnet8, resnet20)
    #[arg(long, default_value = "resnet18")]
    pub arch: String,
    /// Images per view (a step forwards 2 × batch images). Default: 1024 on a GPU (512 for resnet34),
    /// 8 on the CPU
    #[arg(long)]
    pub batch: Option<usize>,
    /// fp32 (exact, the v2 implicit-GEMM convolutions) | tf32 | bf16 (tensor-core convolutions)
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// BNS loss form: code (official code) | paper
    #[arg(long, default_value = "code")]
    pub loss: String,
    /// Timed steps (after the warm-up)
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed warm-up steps (the first one compiles the kernels on a GPU)
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Profiled steps for the per-layer table (median per node)
    #[arg(long, default_value_t = 3)]
    pub profile_steps: usize,
    /// Projector output dimension
    #[arg(long, default_value_t = 128)]
    pub proj_dim: usize,
    /// BNS temperature
    #[arg(long, default_value_t = 0.5)]
    pub tau: f32,
    /// Extra same-class positives per anchor (paper form)
    #[arg(long, default_value_t = 6)]
    pub m: usize,
    /// A nominal peak in TFLOP/s to report the step against, besides the measured SGEMM ceiling
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Skip measuring the SGEMM ceiling
    #[arg(long)]
    pub no_ceiling: bool,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Write one profiled step as a Chrome trace JSON (open in Perfetto or chrome://tracing)
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
    /// Run the batch-norm tails unfused (v1: BN, ReLU and add as separate ops), for A/B runs against the
    /// default fused BN+ReLU and BN+add+ReLU (norm.cu v2); IPDPP_FUSED_BN=0 in the environment does the same
    #[arg(long)]
    pub unfused_bn: bool,
}

impl ResnetArgs {
    /// The defaults of the command line for `arch` (tests and callers that build the args in code).
    pub fn new(arch: &str, batch: usize) -> Self {
        ResnetArgs {
            arch: arch.into(),
            batch: Some(batch),
            precision: "fp32".into(),
            loss: "code".into(),
            steps: 10,
            warmup: 3,
            profile_steps: 3,
            proj_dim: 128,
            tau: 0.5,
            m: 6,
            peak_tflops: None,
            no_ceiling: false,
            seed: 7,
            json: false,
            out: None,
            trace: None,
            unfused_bn: false,
        }
    }
}

/// Numeric mode of the step's convolutions (the network's [`ConvPrecision`]).
pub use crate::device::cuda::conv_tc::ConvPrecision as Precision;
use crate::device::cuda::conv_tc::TcVersion;

/// Every architecture name the bench accepts (the CLI's `Arch` parser knows the three of the issue).
pub fn parse_arch(s: &str) -> Result<Arch> {
    match s.trim().to_ascii_lowercase().as_str() {
        "resnet8" => Ok(Arch::ResNet8),
        "resnet20" => Ok(Arch::ResNet20),
        other => other.parse().map_err(|_| {
            Error::usage(format!(
                "unknown architecture {s:?}; use resnet18, resnet34, resnet32, resnet20 or resnet8"
            ))
        }),
    }
}

/// One node's line of the per-layer table (median over the profiled steps).
#[derive(Clone, Debug, Serialize)]
pub struct LayerLine {
    pub name: String,
    pub op: String,
    pub shape: String,
    pub fwd_ms: f64,
    pub bwd_ms: f64,
    pub fwd_tflops: Option<f64>,
    pub bwd_tflops: Option<f64>,
    /// Convolutions: the grad-input's and the grad-weight's share of `bwd_ms` (the rest: operand casts and
    /// weight transposes); None where the part did not run (the stem's grad-input) or for other ops.
    pub gx_ms: Option<f64>,
    pub gw_ms: Option<f64>,
    /// Share of the profiled step time (forward + backward of this node).
    pub pct_of_step: f64,
    /// Convolutions: the kernel generation of forward / grad-input / grad-weight (see `NodeInfo`).
    pub kernels: String,
}

/// Per-op summary (all nodes of one op kind), plus the loss and the optimiser as their own lines.
#[derive(Clone, Debug, Serialize)]
pub struct OpLine {
    pub op: String,
    pub count: usize,
    pub fwd_ms: f64,
    pub bwd_ms: f64,
    /// Sums of the nodes' grad-input and grad-weight parts (convolutions).
    pub gx_ms: Option<f64>,
    pub gw_ms: Option<f64>,
    pub tflops: Option<f64>,
    pub pct_of_step: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    pub what: String,
    pub tflops: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResnetReport {
    pub bench: String,
    pub device: String,
    pub arch: String,
    pub precision: Precision,
    pub loss_form: String,
    /// Batch-norm tails fused (the default; off with `--unfused-bn` or `IPDPP_FUSED_BN=0`): BN+ReLU and BN+add+ReLU as
    /// `batchnorm_relu` / `batchnorm_add_relu` (norm.cu v2); false: the unfused v1 ops.
    pub fused_bn: bool,
    /// The convolution generation asked for (`IPDPP_CONV_TC`, default v6) on a GPU; each op may run an
    /// older one where its shape needs it (in fp32 every version but v6 means conv.cu v2).
    pub conv_tc: Option<TcVersion>,
    /// The engine's `IPDPP_*` switches set in the environment of this run (name, value), so an A/B's
    /// reports say what each one ran.
    pub switches: Vec<(String, String)>,
    /// Images per view; a step forwards `images_per_step` = 2 × batch.
    pub batch: usize,
    pub images_per_step: usize,
    pub params: usize,
    pub step: Timing,
    /// Images per second at the median step time (every view counts).
    pub images_per_s: f64,
    /// ... and at the fastest step.
    pub images_per_s_best: f64,
    pub flops_per_step: f64,
    pub tflops: f64,
    pub conv_flops_per_step: f64,
    /// Convolution time in the profiled steps (forward + backward of every conv node, median per node).
    pub conv_ms: f64,
    pub conv_tflops: f64,
    pub ceiling: Option<Ceiling>,
    pub pct_of_ceiling: Option<f64>,
    pub conv_pct_of_ceiling: Option<f64>,
    pub peak_tflops: Option<f64>,
    pub pct_of_peak: Option<f64>,
    pub loss_first: f64,
    pub loss_last: f64,
    /// Forward, loss, backward, AdamW: the profiled step split by phase (ms).
    pub phases: Vec<(String, f64)>,
    /// Sum of the profiled parts: larger than the step median by the per-node event overhead.
    pub profiled_step_ms: f64,
    pub layers: Vec<LayerLine>,
    pub ops: Vec<OpLine>,
    pub notes: Vec<String>,
    pub date_unix: u64,
}

// ------------------------------------------------------------------------------------------ profiler

/// What one profiler record times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    Node {
        index: usize,
        backward: bool,
    },
    /// A part of node `index`'s backward (a convolution's grad-input or grad-weight).
    Part {
        index: usize,
        part: Part,
    },
    Loss,
    AdamW,
}

enum Mark {
    Cpu(Instant),
    Cuda(CudaEvent),
}

struct Open {
    span: Span,
    start: Mark,
}

/// Collects (span, start, end) marks; times are resolved after the step (events need a sync).
pub struct Recorder {
    cuda: Option<Arc<CudaDevice>>,
    origin: Option<Mark>,
    open: Vec<Open>,
    done: Vec<(Span, Mark, Mark)>,
    error: Option<String>,
}

/// One resolved span: start and duration in ms from the step's origin.
#[derive(Clone, Copy, Debug)]
pub struct SpanTime {
    pub span: Span,
    pub start_ms: f64,
    pub dur_ms: f64,
}

impl Recorder {
    pub fn new(dev: &Device) -> Self {
        Recorder {
            cuda: dev.cuda().cloned(),
            origin: None,
            open: Vec::new(),
            done: Vec::new(),
            error: None,
        }
    }

    fn mark(&mut self) -> Option<Mark> {
        match &self.cuda {
            None => Some(Mark::Cpu(Instant::now())),
            Some(d) => {
                let r = d
                    .ctx
                    .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                    .and_then(|e| e.record(&d.stream).map(|_| e));
                match r {
                    Ok(e) => Some(Mark::Cuda(e)),
                    Err(e) => {
                        self.error
                            .get_or_insert(format!("recording an event: {e:?}"));
                        None
                    }
                }
            }
        }
    }

    /// Starts a new step: forgets earlier marks and sets the origin of the times.
    pub fn reset(&mut self) {
        self.open.clear();
        self.done.clear();
        self.origin = self.mark();
    }

    pub fn begin(&mut self, span: Span) {
        if let Some(start) = self.mark() {
            self.open.push(Open { span, start });
        }
    }

    pub fn end(&mut self, span: Span) {
        let Some(pos) = self.open.iter().rposition(|o| o.span == span) else {
            self.error
                .get_or_insert(format!("profiler: end of {span:?} without its begin"));
            return;
        };
        let o = self.open.remove(pos);
        if let Some(end) = self.mark() {
            self.done.push((o.span, o.start, end));
        }
    }

    /// Opens `part` inside the innermost open node (ignored outside one).
    pub fn begin_part(&mut self, part: Part) {
        let index = self.open.iter().rev().find_map(|o| match o.span {
            Span::Node { index, .. } => Some(index),
            _ => None,
        });
        if let Some(index) = index {
            self.begin(Span::Part { index, part });
        }
    }

    pub fn end_part(&mut self, part: Part) {
        let index = self.open.iter().rev().find_map(|o| match o.span {
            Span::Part { index, part: p } if p == part => Some(index),
            _ => None,
        });
        if let Some(index) = index {
            self.end(Span::Part { index, part });
        }
    }

    /// The spans of the step in start order (waits for the GPU).
    pub fn resolve(&mut self) -> Result<Vec<SpanTime>> {
        if let Some(e) = self.error.take() {
            return Err(Error::usage(e));
        }
        let origin = self
            .origin
            .as_ref()
            .ok_or_else(|| Error::usage("profiler: resolve before reset"))?;
        let since = |m: &Mark| -> Result<f64> {
            match (origin, m) {
                (Mark::Cpu(o), Mark::Cpu(t)) => Ok(t.duration_since(*o).as_secs_f64() * 1e3),
                (Mark::Cuda(o), Mark::Cuda(t)) => o
                    .elapsed_ms(t)
                    .map(|v| v as f64)
                    .map_err(|e| Error::driver("reading event times", e)),
                _ => Err(Error::usage("profiler: mixed CPU and CUDA marks")),
            }
        };
        let mut out = Vec::with_capacity(self.done.len());
        for (span, a, b) in &self.done {
            let (s, e) = (since(a)?, since(b)?);
            out.push(SpanTime {
                span: *span,
                start_ms: s,
                dur_ms: (e - s).max(0.0),
            });
        }
        out.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        Ok(out)
    }
}

/// The hook installed in the network: forwards node begin/end to the shared recorder.
struct Hook(Arc<Mutex<Recorder>>);

impl NodeProfiler for Hook {
    fn begin(&mut self, node: usize, backward: bool) {
        if let Ok(mut r) = self.0.lock() {
            r.begin(Span::Node {
                index: node,
                backward,
            });
        }
    }
    fn end(&mut self, node: usize, backward: bool) {
        if let Ok(mut r) = self.0.lock() {
            r.end(Span::Node {
                index: node,
                backward,
            });
        }
    }
}

/// The parts sink installed on the profiling thread: forwards parts to the same recorder.
struct PartHook(Arc<Mutex<Recorder>>);

impl PartSink for PartHook {
    fn begin(&mut self, part: Part) {
        if let Ok(mut r) = self.0.lock() {
            r.begin_part(part);
        }
    }
    fn end(&mut self, part: Part) {
        if let Ok(mut r) = self.0.lock() {
            r.end_part(part);
        }
    }
}

// ------------------------------------------------------------------------------------------ the step

#[allow(clippy::large_enum_variant)] // built once per bench
enum LossWs {
    Cpu,
    Code {
        ws: BnsCodeCuda,
        labels: CudaSlice<i32>,
    },
    Paper {
        ws: BnsPaperCuda,
        labels: CudaSlice<i32>,
        q: CudaSlice<f32>,
        v: CudaSlice<f32>,
        g1: CudaSlice<f32>,
        g2: CudaSlice<f32>,
    },
}

/// The loss versions a step may run: exact v2 and the ones [`BnsVersion::for_training`] picks for bf16 and
/// for fp32 / tf32 steps (`IPDPP_BNS`); the precision is set after the runner is built.
fn loss_versions(d: &CudaDevice, code_form: bool) -> Vec<BnsVersion> {
    use crate::device::cuda::conv_tc::ConvPrecision;
    let mut v = vec![BnsVersion::V2];
    for p in [ConvPrecision::Bf16, ConvPrecision::Fp32] {
        let b = BnsVersion::for_training(d, p, code_form);
        if !v.contains(&b) {
            v.push(b);
        }
    }
    v
}

/// A network, its fixed inputs and the loss workspaces: everything one training step needs.
pub struct StepRunner {
    pub net: ResNet,
    pub dev: Device,
    pub form: BnsForm,
    pub batch: usize,
    pub dim: usize,
    pub tau: f32,
    x: Buffer,
    labels: Vec<i32>,
    layout: Option<PaperLayout>,
    gz: Buffer,
    loss_ws: LossWs,
    /// AdamW steps taken so far.
    pub steps: u64,
    /// The loss of the last step (read back only on the CPU or when asked: see [`StepRunner::last_loss`]).
    last_loss: f64,
    prof: Option<Arc<Mutex<Recorder>>>,
}

// A runner dropped while profiling (an error mid-step) takes its parts sink with it.
impl Drop for StepRunner {
    fn drop(&mut self) {
        if self.prof.is_some() {
            parts::set_sink(None);
        }
    }
}

impl StepRunner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dev: &Device,
        arch: Arch,
        batch: usize,
        proj_dim: usize,
        form: BnsForm,
        tau: f32,
        m: usize,
        seed: u64,
    ) -> Result<Self> {
        bns::check_tau(tau as f64)?;
        if batch < 2 {
            return Err(Error::usage(
                "bench resnet: --batch must be at least 2 images per view",
            ));
        }
        let net = ResNet::new(dev, arch, proj_dim, seed)?;
        let n = 2 * batch;
        let x = Buffer::from_host(dev, &uniform_f32(n * 32 * 32 * 3, 0.0, 1.0, seed ^ 0x1a))?;
        let (labels, layout) = match form {
            BnsForm::Code => (long_tailed_labels(batch, seed ^ 0x51), None),
            BnsForm::Paper => {
                let g = m + 1;
                if batch % g != 0 {
                    return Err(Error::usage(format!(
                        "bench resnet --loss paper: --batch {batch} must be a multiple of m+1 = {g}"
                    )));
                }
                let gl = long_tailed_labels(batch / g, seed ^ 0x51);
                (
                    (0..batch).map(|i| gl[i / g]).collect(),
                    Some(PaperLayout::groups(batch, m)?),
                )
            }
        };
        let loss_ws = match (dev, form) {
            (Device::Cpu, _) => LossWs::Cpu,
            (Device::Cuda(d), BnsForm::Code) => {
                let lab: Vec<i32> = labels.iter().chain(&labels).copied().collect();
                LossWs::Code {
                    ws: BnsCodeCuda::new(d, n, proj_dim, &loss_versions(d, true))?,
                    labels: d.upload(&lab)?,
                }
            }
            (Device::Cuda(d), BnsForm::Paper) => LossWs::Paper {
                ws: BnsPaperCuda::new(
                    d,
                    batch,
                    proj_dim,
                    layout.as_ref().expect("paper layout"),
                    &loss_versions(d, false),
                )?,
                labels: d.upload(&labels)?,
                q: d.zeros(batch * proj_dim)?,
                v: d.zeros(batch * proj_dim)?,
                g1: d.zeros(batch * proj_dim)?,
                g2: d.zeros(batch * proj_dim)?,
            },
        };
        Ok(StepRunner {
            gz: Buffer::zeros(dev, n * proj_dim)?,
            net,
            dev: dev.clone(),
            form,
            batch,
            dim: proj_dim,
            tau,
            x,
            labels,
            layout,
            loss_ws,
            steps: 0,
            last_loss: f64::NAN,
            prof: None,
        })
    }

    /// Turns per-node profiling on (a fresh recorder) or off.
    pub fn profile(&mut self, on: bool) -> Option<Arc<Mutex<Recorder>>> {
        if on {
            let r = Arc::new(Mutex::new(Recorder::new(&self.dev)));
            self.net.set_profiler(Some(Box::new(Hook(r.clone()))));
            parts::set_sink(Some(Box::new(PartHook(r.clone()))));
            self.prof = Some(r.clone());
            Some(r)
        } else {
            self.net.set_profiler(None);
            parts::set_sink(None);
            self.prof = None;
            None
        }
    }

    fn mark(&self, span: Span, begin: bool) {
        if let Some(p) = &self.prof {
            if let Ok(mut r) = p.lock() {
                if begin {
                    r.begin(span)
                } else {
                    r.end(span)
                }
            }
        }
    }

    /// One training step: forward (both views, per-view BN statistics), loss + gradient, backward, AdamW.
    pub fn step(&mut self) -> Result<()> {
        if let Some(p) = &self.prof {
            if let Ok(mut r) = p.lock() {
                r.reset();
            }
        }
        let out = self.net.forward(&self.x, Mode::Train, 2, true)?;
        self.mark(Span::Loss, true);
        self.loss_and_grad(out)?;
        self.mark(Span::Loss, false);
        self.net.backward(&self.gz)?;
        self.mark(Span::AdamW, true);
        self.steps += 1;
        let h = AdamW {
            step: self.steps,
            ..AdamW::default()
        };
        self.net.adamw_step(&h)?;
        self.mark(Span::AdamW, false);
        Ok(())
    }

    fn loss_and_grad(&mut self, out: usize) -> Result<()> {
        let (b, dim) = (self.batch, self.dim);
        match (&mut self.loss_ws, &self.dev) {
            (LossWs::Cpu, _) => {
                let z = self.net.read_slot(out)?;
                let (z1, z2) = z.split_at(b * dim);
                let o = match &self.layout {
                    None => bns::bns_code_f32(z1, z2, &self.labels, dim, self.tau)?,
                    Some(l) => bns::bns_paper_f32(z1, z2, &self.labels, l, dim, self.tau)?,
                };
                self.last_loss = o.loss;
                let g: Vec<f32> = o.g1.into_iter().chain(o.g2).collect();
                self.gz = Buffer::from_host(&self.dev, &g)?;
                Ok(())
            }
            (LossWs::Code { ws, labels }, Device::Cuda(d)) => {
                let (Buffer::Cuda(z), Buffer::Cuda(gz)) = (self.net.slot(out), &mut self.gz) else {
                    return Err(Error::usage("bench resnet: CPU buffers on a CUDA device"));
                };
                let v = BnsVersion::for_training(d, self.net.conv_precision(), true);
                ws.run(d, v, z, labels, self.tau, gz)
            }
            (
                LossWs::Paper {
                    ws,
                    labels,
                    q,
                    v,
                    g1,
                    g2,
                },
                Device::Cuda(d),
            ) => {
                let (Buffer::Cuda(z), Buffer::Cuda(gz)) = (self.net.slot(out), &mut self.gz) else {
                    return Err(Error::usage("bench resnet: CPU buffers on a CUDA device"));
                };
                let cp = |e| Error::driver("copying the projector output", e);
                d.stream.memcpy_dtod(&z.slice(..b * dim), q).map_err(cp)?;
                d.stream
                    .memcpy_dtod(&z.slice(b * dim..2 * b * dim), v)
                    .map_err(cp)?;
                let ver = BnsVersion::for_training(d, self.net.conv_precision(), false);
                ws.run(d, ver, q, v, labels, self.tau, g1, g2)?;
                d.stream
                    .memcpy_dtod(g1, &mut gz.slice_mut(..b * dim))
                    .map_err(cp)?;
                d.stream
                    .memcpy_dtod(g2, &mut gz.slice_mut(b * dim..2 * b * dim))
                    .map_err(cp)
            }
            _ => Err(Error::usage(
                "bench resnet: loss workspace on the wrong device",
            )),
        }
    }

    /// The last step's loss (a device read on the GPU).
    pub fn last_loss(&self) -> Result<f64> {
        match &self.loss_ws {
            LossWs::Cpu => Ok(self.last_loss),
            LossWs::Code { ws, .. } => Ok(self.download_loss(&ws.loss)?),
            LossWs::Paper { ws, .. } => Ok(self.download_loss(&ws.loss)?),
        }
    }

    fn download_loss(&self, l: &CudaSlice<f32>) -> Result<f64> {
        match &self.dev {
            Device::Cuda(d) => Ok(d.download(l)?[0] as f64),
            Device::Cpu => Ok(self.last_loss),
        }
    }

    /// Nominal FLOPs of the loss's forward + backward (the similarity and the two gradient products).
    pub fn loss_flops(&self) -> f64 {
        let d = self.dim as f64;
        match &self.layout {
            None => 3.0 * 2.0 * (2 * self.batch) as f64 * (2 * self.batch) as f64 * d,
            Some(l) => 3.0 * 2.0 * l.rows() as f64 * self.batch as f64 * d,
        }
    }
}

// ------------------------------------------------------------------------------------------ ceiling

/// The best fp32 SGEMM rate of this device, measured now: cuBLAS and the v3 kernel at 4096³ on a GPU,
/// OpenBLAS at 1024³ on the CPU.
pub fn measure_ceiling(dev: &Device) -> Result<Ceiling> {
    match dev {
        Device::Cpu => {
            let n = 1024;
            let s = GemmSpec::new(n, n, n);
            let a = uniform_f32(n * n, -1.0, 1.0, 3);
            let b = uniform_f32(n * n, -1.0, 1.0, 4);
            let mut c = vec![0.0f32; n * n];
            let t = time_cpu(1, 3, || {
                cpu::gemm::gemm_par_f32(&mut c, &a, &b, &s);
                Ok(())
            })?;
            Ok(Ceiling {
                what: format!(
                    "OpenBLAS sgemm {n}³ on {} threads (measured in this run)",
                    rayon::current_num_threads()
                ),
                tflops: s.flops() / (t.median_ms * 1e-3) / 1e12,
            })
        }
        Device::Cuda(d) => {
            let n = 4096;
            let s = GemmSpec::new(n, n, n);
            let a = Buffer::Cuda(d.upload(&uniform_f32(n * n, -1.0, 1.0, 3))?);
            let b = Buffer::Cuda(d.upload(&uniform_f32(n * n, -1.0, 1.0, 4))?);
            let mut c = Buffer::zeros(dev, n * n)?;
            let mut timer = CudaTimer::new(d)?;
            let mut best: Option<(f64, GemmVersion)> = None;
            for v in [GemmVersion::Cublas, GemmVersion::V3] {
                if gemm_f32(dev, v, &mut c, &a, &b, &s).is_err() {
                    continue;
                }
                let t = timer.time(2, 5, || gemm_f32(dev, v, &mut c, &a, &b, &s))?;
                let tf = s.flops() / (t.median_ms * 1e-3) / 1e12;
                if best.map(|(b, _)| tf > b).unwrap_or(true) {
                    best = Some((tf, v));
                }
            }
            let (tf, v) = best.ok_or_else(|| Error::usage("no SGEMM version ran"))?;
            Ok(Ceiling {
                what: format!("best fp32 SGEMM {n}³ ({v}, measured in this run)"),
                tflops: tf,
            })
        }
    }
}

// ------------------------------------------------------------------------------------------ the bench

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Kernel families a convolution node launches (trace annotation) from its per-op generations
/// ("fwd/grad-input/grad-weight", as [`NodeInfo::kernels`]; "-" where no grad-input runs).
pub fn conv_kernels_of(generations: &str, backward: bool, prec: Precision) -> String {
    let g: Vec<&str> = generations.split('/').collect();
    let suffix = match prec {
        Precision::Fp32 => "f32",
        Precision::Tf32 => "tf32",
        Precision::Bf16 => "bf16",
    };
    let name = |op: &str, v: &str| match v {
        "cpu" => format!("conv_{op}_f32 (CPU reference: im2col + sgemm)"),
        v => format!("conv_{op}_{v}_{suffix}"),
    };
    match (backward, g.as_slice()) {
        (false, [f, ..]) => name("fwd", f),
        (true, [_, "-", w]) => name("bwd_weight", w),
        (true, [_, i, w]) => format!("{}, {}", name("bwd_weight", w), name("bwd_input", i)),
        _ => format!("convolution kernels ({generations})"),
    }
}

/// The `IPDPP_*` variables of this process that change what runs (sorted), for reports.
pub fn engine_switches() -> Vec<(String, String)> {
    const RUN: [&str; 22] = [
        "IPDPP_BNS",
        "IPDPP_DPP_GRAM",
        "IPDPP_GPU_LOSSES",
        "IPDPP_CONV_GX_ADD",
        "IPDPP_CONV_TC",
        "IPDPP_FUSED_BN",
        "IPDPP_V6_RING",
        "IPDPP_V6_NARROW",
        "IPDPP_GW_ROWS",
        "IPDPP_V7_PIPE",
        "IPDPP_V7_AUTO",
        "IPDPP_V7_TF32_GW",
        "IPDPP_BN_TAIL",
        "IPDPP_STEM_IM2COL",
        "IPDPP_SPLIT_WAVES",
        "IPDPP_V7_OUT16",
        "IPDPP_V7_GW_M256",
        "IPDPP_V7_HALO",
        "IPDPP_STEM_DIRECT",
        "IPDPP_LINEAR_TC",
        "IPDPP_SC_BN",
        "IPDPP_ADAMW_MULTI",
    ];
    let mut v: Vec<_> = RUN
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    v.sort();
    v
}

/// Names of the kernels a non-convolution node's op launches (trace annotation; CPU ops are the
/// references); convolutions: [`conv_kernels_of`].
pub fn kernels_of(op: &str, backward: bool) -> &'static str {
    match (op, backward) {
        ("batchnorm", false) => {
            "batchnorm_sum_partial_f32, batchnorm_mean_f32, batchnorm_sq_partial_f32, batchnorm_var_f32, batchnorm_apply_f32"
        }
        ("batchnorm", true) => {
            "batchnorm_bwd_partial_f32, batchnorm_bwd_reduce_f32, batchnorm_bwd_apply_f32"
        }
        ("bn_relu", false) => {
            "batchnorm_sum_partial_f32, batchnorm_mean_f32, batchnorm_sq_partial_f32, batchnorm_var_f32, batchnorm_relu_apply_f32"
        }
        ("bn_relu", true) => {
            "batchnorm_relu_bwd_partial_f32, batchnorm_bwd_reduce_f32, batchnorm_relu_bwd_apply_f32"
        }
        ("bn_add_relu", false) => {
            "batchnorm_sum_partial_f32, batchnorm_mean_f32, batchnorm_sq_partial_f32, batchnorm_var_f32, batchnorm_add_relu_apply_f32"
        }
        ("bn_add_relu", true) => {
            "batchnorm_relu_bwd_partial_f32, batchnorm_bwd_reduce_f32, batchnorm_add_relu_bwd_apply_f32"
        }
        ("fused", _) => "(runs inside the fused bn_relu / bn_add_relu node)",
        ("relu", false) => "relu_fwd_f32",
        ("relu", true) => "relu_bwd_f32",
        ("add", false) => "add_f32",
        ("add", true) => "add_inplace_f32 / copy",
        ("shortcut_a", false) => "shortcut_a_fwd_f32",
        ("shortcut_a", true) => "shortcut_a_bwd_f32",
        ("avgpool", false) => "avgpool_fwd_f32",
        ("avgpool", true) => "avgpool_bwd_f32",
        ("linear", false) => "gemm_v3_f32, bias_add_f32",
        ("linear", true) => "gemm_v3_f32 (grad-weight, grad-input), bias grad",
        _ => "",
    }
}

/// Everything the bench measured, including the profiled spans of the last profiled step (trace).
pub struct BenchResult {
    pub report: ResnetReport,
    pub trace_spans: Vec<SpanTime>,
    pub nodes: Vec<NodeInfo>,
}

pub fn bench(dev: &Device, a: &ResnetArgs) -> Result<BenchResult> {
    let arch = parse_arch(&a.arch)?;
    let prec: Precision = a.precision.parse()?;
    let form: BnsForm = a.loss.parse()?;
    let batch = a.batch.unwrap_or(match (dev, arch) {
        (Device::Cpu, _) => 8,
        (_, Arch::ResNet34) => 512,
        _ => 1024,
    });
    let mut notes = Vec::new();
    match (dev, prec) {
        (Device::Cpu, Precision::Fp32) => {}
        (Device::Cpu, _) => notes.push(format!(
            "--precision {prec}: the CPU reference runs exact fp32 (tensor-core modes are GPU only)"
        )),
        (Device::Cuda(_), Precision::Fp32) => notes.push(format!(
            "--precision fp32: exact fp32 convolutions on the CUDA cores ({} asked: {}; the per-layer table names what ran)",
            TcVersion::current(),
            match TcVersion::current() {
                TcVersion::V6 | TcVersion::V7 => "v6's FMA variant where it takes the shape (validated on an H200); conv.cu v2 elsewhere",
                _ => "conv.cu v2; v6 (the default) picks v6's FMA variant",
            }
        )),
        (Device::Cuda(_), _) => notes.push(format!(
            "--precision {prec}: convolutions on tensor cores ({} asked: {}, fp32 accumulation; IPDPP_CONV_TC=v3..v7 picks the version, default v6; every version passed its tests on an H200); batch norm, linears, loss and AdamW stay fp32",
            TcVersion::current(),
            match (TcVersion::current(), prec) {
                (TcVersion::V6, Precision::Bf16) => "bf16 copies of the conv operands, fp32 activations kept",
                (TcVersion::V7, Precision::Bf16) => "forwards, grad-inputs and grad-weights on Hopper wgmma where they run (v6 elsewhere; with IPDPP_V7_AUTO=1 each op and shape on the faster of the two); bf16 copies of the conv operands, fp32 activations kept",
                (TcVersion::V7, _) => "Hopper wgmma reading the fp32 tensors as tf32 where it runs (v6 elsewhere; with IPDPP_V7_AUTO=1 each op and shape on the faster of the two)",
                (TcVersion::V6, _) => "fp32 operands streamed by cp.async, rounded to TF32 in the kernel",
                _ => "fp32 storage, operands rounded in the kernel",
            }
        )),
    }
    notes.push(
        "inputs: fixed random images (augmentation is not part of the timed step)".to_string(),
    );
    let mut r = StepRunner::new(dev, arch, batch, a.proj_dim, form, a.tau, a.m, a.seed)?;
    r.net.set_conv_precision(prec);
    if a.unfused_bn {
        r.net.set_fused_bn(false);
    }
    let fused_bn = r.net.fused_bn();
    if fused_bn {
        let (pairs, tails) = r.net.fused_bn_counts();
        notes.push(format!(
            "fused batch norm (the default): {pairs} BN+ReLU as batchnorm_relu and {tails} BN+add+ReLU as batchnorm_add_relu ({}); each fused op's time is booked at its first node (op bn_relu / bn_add_relu), the nodes it absorbs show as op \"fused\" (~0 ms): compare batchnorm + relu + add against batchnorm + bn_relu + bn_add_relu + fused + relu",
            if dev.is_cuda() && crate::device::nn_ops::BnTailVersion::fused()
                == crate::device::nn_ops::BnTailVersion::V3
            {
                "norm.cu v2 kernels, the BN+ReLU backward as v3 (IPDPP_BN_TAIL=v3: its ReLU mask from x, y not read; batchnorm_relu_bwd_{partial,apply}_v3_f32; not yet validated on a GPU)"
            } else if dev.is_cuda() && crate::device::nn_ops::BnTailVersion::fused().bf16_x() {
                "norm.cu v3 tails, and v4/v5 (the default) where a bf16 v6 convolution stores its output (v5: also the grad-input after a BN+ReLU tail) as bf16 for the tail (the _x16 and _x16_g16 kernels, validated on an H200 2026-11-28), or a bf16 v7 one (not yet validated on a GPU; IPDPP_V7_OUT16=0 keeps v7's outputs fp32); v6 (IPDPP_BN_TAIL=v6, opt-in, not yet validated on a GPU): v5 with the identity shortcuts read as bf16 (_s16 kernels)"
            } else if dev.is_cuda() {
                "norm.cu v2 kernels, validated on an H200 by the cuda_fused_bn tests"
            } else {
                "the CPU references, compositions of the unfused ones"
            }
        ));
    } else {
        notes.push(
            "batch norm unfused (v1: BN, ReLU and add as separate ops; --unfused-bn or IPDPP_FUSED_BN=0)".into(),
        );
    }
    let sbn = r.net.sc_bn_tails();
    if fused_bn && sbn > 0 {
        notes.push(format!(
            "{sbn} residual tails apply their projection shortcut's batch norm (SBN: batchnorm_add_relu_*_sbn{}; the shortcut BN node shows as op bn_stats, its statistics only; IPDPP_SC_BN=0 turns it off)",
            if dev.is_cuda() {
                ", IPDPP_SC_BN=1; not yet validated on a GPU"
            } else {
                ", the CPU's default"
            }
        ));
    }
    if let Device::Cuda(d) = dev {
        let v = BnsVersion::for_training(d, r.net.conv_precision(), r.form == BnsForm::Code);
        notes.push(format!(
            "BNS loss on the GPU: {v} ({}){}",
            v.describe(),
            if v == BnsVersion::V2 {
                "; bf16 steps run the bf16 tensor-core versions"
            } else {
                ""
            }
        ));
    }
    let nodes = r.net.node_info();
    let n_img = 2 * batch;

    // First step (compiles kernels on a GPU) and its loss.
    r.step()?;
    dev.synchronize()?;
    let loss_first = r.last_loss()?;
    for _ in 1..a.warmup.max(1) {
        r.step()?;
    }
    dev.synchronize()?;

    // Whole-step timing, no per-node events.
    let step = match dev {
        Device::Cpu => time_cpu(0, a.steps.max(1), || r.step())?,
        Device::Cuda(d) => {
            let mut ms = Vec::new();
            let ev = || {
                d.ctx
                    .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                    .map_err(|e| Error::driver("creating an event", e))
            };
            for _ in 0..a.steps.max(1) {
                let (s, e) = (ev()?, ev()?);
                s.record(&d.stream)
                    .map_err(|e| Error::driver("recording an event", e))?;
                r.step()?;
                e.record(&d.stream)
                    .map_err(|e| Error::driver("recording an event", e))?;
                ms.push(
                    s.elapsed_ms(&e)
                        .map_err(|e| Error::driver("reading event time", e))?
                        as f64,
                );
            }
            Timing::from_samples(ms)
        }
    };
    let loss_last = r.last_loss()?;

    // Profiled steps: per-node times, median per span.
    let rec = r.profile(true).expect("profiler on");
    let mut per_span: std::collections::HashMap<(usize, bool), Vec<f64>> = Default::default();
    let mut per_part: std::collections::HashMap<(usize, Part), Vec<f64>> = Default::default();
    let (mut loss_ms, mut adam_ms) = (Vec::new(), Vec::new());
    let mut trace_spans = Vec::new();
    for _ in 0..a.profile_steps.max(1) {
        r.step()?;
        dev.synchronize()?;
        let spans = rec
            .lock()
            .map_err(|_| Error::usage("profiler lock poisoned"))?
            .resolve()?;
        for s in &spans {
            match s.span {
                Span::Node { index, backward } => {
                    per_span
                        .entry((index, backward))
                        .or_default()
                        .push(s.dur_ms);
                }
                Span::Part { index, part } => {
                    per_part.entry((index, part)).or_default().push(s.dur_ms);
                }
                Span::Loss => loss_ms.push(s.dur_ms),
                Span::AdamW => adam_ms.push(s.dur_ms),
            }
        }
        trace_spans = spans;
    }
    r.profile(false);

    let node_ms = |i: usize, bwd: bool| per_span.get(&(i, bwd)).cloned().map(median).unwrap_or(0.0);
    let part_ms = |i: usize, p: Part| per_part.get(&(i, p)).cloned().map(median);
    let add_opt = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) | (None, x) => x,
    };
    let loss_med = median(loss_ms);
    let adam_med = median(adam_ms);
    let fwd_total: f64 = (0..nodes.len()).map(|i| node_ms(i, false)).sum();
    let bwd_total: f64 = (0..nodes.len()).map(|i| node_ms(i, true)).sum();
    let profiled = fwd_total + bwd_total + loss_med + adam_med;
    let tf = |flops: f64, ms: f64| {
        if flops > 0.0 && ms > 0.0 {
            Some(flops / (ms * 1e-3) / 1e12)
        } else {
            None
        }
    };
    let nf = n_img as f64;
    let mut layers = Vec::new();
    let (mut conv_flops, mut conv_ms, mut net_flops) = (0.0, 0.0, 0.0);
    for (i, ni) in nodes.iter().enumerate() {
        let (f, b) = (node_ms(i, false), node_ms(i, true));
        let (ff, bf) = (ni.fwd_flops_per_image * nf, ni.bwd_flops_per_image * nf);
        net_flops += ff + bf;
        if ni.op.starts_with("conv") {
            conv_flops += ff + bf;
            conv_ms += f + b;
        }
        layers.push(LayerLine {
            kernels: ni.kernels.clone(),
            name: ni.name.clone(),
            op: ni.op.clone(),
            shape: ni.shape.clone(),
            fwd_ms: f,
            bwd_ms: b,
            fwd_tflops: tf(ff, f),
            bwd_tflops: tf(bf, b),
            gx_ms: part_ms(i, Part::GradInput),
            gw_ms: part_ms(i, Part::GradWeight),
            pct_of_step: 100.0 * (f + b) / profiled.max(1e-12),
        });
    }
    // Per-op summary in order of first appearance.
    let mut ops: Vec<OpLine> = Vec::new();
    for (i, ni) in nodes.iter().enumerate() {
        let key = ni.op.clone();
        let flops = (ni.fwd_flops_per_image + ni.bwd_flops_per_image) * nf;
        let (f, b) = (node_ms(i, false), node_ms(i, true));
        let (gx, gw) = (part_ms(i, Part::GradInput), part_ms(i, Part::GradWeight));
        match ops.iter_mut().find(|o| o.op == key) {
            Some(o) => {
                o.count += 1;
                o.fwd_ms += f;
                o.bwd_ms += b;
                o.gx_ms = add_opt(o.gx_ms, gx);
                o.gw_ms = add_opt(o.gw_ms, gw);
                o.tflops = o.tflops.map(|t| t + flops); // holds FLOPs until finalised below
            }
            None => ops.push(OpLine {
                op: key,
                count: 1,
                fwd_ms: f,
                bwd_ms: b,
                gx_ms: gx,
                gw_ms: gw,
                tflops: Some(flops),
                pct_of_step: 0.0,
            }),
        }
    }
    let loss_flops = r.loss_flops();
    ops.push(OpLine {
        op: format!("bns_loss_{form}"),
        count: 1,
        fwd_ms: loss_med,
        bwd_ms: 0.0,
        gx_ms: None,
        gw_ms: None,
        tflops: Some(loss_flops),
        pct_of_step: 0.0,
    });
    ops.push(OpLine {
        op: "adamw".into(),
        count: r.net.params.len(),
        fwd_ms: adam_med,
        bwd_ms: 0.0,
        gx_ms: None,
        gw_ms: None,
        tflops: Some(0.0),
        pct_of_step: 0.0,
    });
    for o in &mut ops {
        let ms = o.fwd_ms + o.bwd_ms;
        o.tflops = o.tflops.and_then(|fl| tf(fl, ms));
        o.pct_of_step = 100.0 * ms / profiled.max(1e-12);
    }

    let flops_per_step = net_flops + loss_flops;
    let secs = step.median_ms * 1e-3;
    let tflops = flops_per_step / secs / 1e12;
    let conv_tflops = tf(conv_flops, conv_ms).unwrap_or(0.0);
    let ceiling = if a.no_ceiling {
        None
    } else {
        Some(measure_ceiling(dev)?)
    };
    if prec != Precision::Fp32 && dev.is_cuda() {
        notes.push("the ceiling is the fp32 SGEMM rate; tensor-core modes can exceed it".into());
    }
    if r.net.grad_adds_in_conv() > 0 {
        notes.push(format!(
            "{} convolution grad-inputs added into a block input's gradient in their epilogue (no scratch buffer or add pass; IPDPP_CONV_GX_ADD=0 turns it off; not yet validated on a GPU)",
            r.net.grad_adds_in_conv()
        ));
    }
    // What the v3-v5 tails did in the last step, so that an A/B says whether they engaged at this batch.
    let (x16, g16) = (r.net.x16_outputs(), r.net.g16_grad_inputs());
    if x16 + g16 + r.net.copy_only_tails() + r.net.relu_bits_used() > 0 {
        notes.push(format!(
            "batch-norm tails ({}): {x16} conv outputs stored as bf16 alone, {g16} conv grad-inputs stored as bf16 alone, {} tail outputs stored as their bf16 copy alone, {} bf16-only gradient copies, {} residual masks read as bits, {} shortcuts read as bf16 (v6; last step)",
            r.net.bn_tail(),
            r.net.copy_only_outputs(),
            r.net.copy_only_tails(),
            r.net.relu_bits_used(),
            r.net.sc16_tails()
        ));
    }
    // Kernel variants picked by speed in this run (v7's pipelines), so a report says what ran.
    if let Device::Cuda(d) = dev {
        for (key, _, name) in crate::device::cuda::tune::choices(d)? {
            notes.push(format!("picked by speed: {name} for {key}"));
        }
    }
    let report = ResnetReport {
        bench: "resnet_step".into(),
        device: dev.name(),
        arch: arch.name().into(),
        precision: prec,
        loss_form: form.to_string(),
        fused_bn,
        conv_tc: dev.is_cuda().then(|| r.net.conv_version()),
        switches: engine_switches(),
        batch,
        images_per_step: n_img,
        params: r.net.num_params(),
        images_per_s: nf / secs,
        images_per_s_best: nf / (step.min_ms * 1e-3),
        step,
        flops_per_step,
        tflops,
        conv_flops_per_step: conv_flops,
        conv_ms,
        conv_tflops,
        pct_of_ceiling: ceiling.as_ref().map(|c| 100.0 * tflops / c.tflops),
        conv_pct_of_ceiling: ceiling.as_ref().map(|c| 100.0 * conv_tflops / c.tflops),
        ceiling,
        peak_tflops: a.peak_tflops,
        pct_of_peak: a.peak_tflops.map(|p| 100.0 * tflops / p),
        loss_first,
        loss_last,
        phases: vec![
            ("forward".into(), fwd_total),
            ("loss".into(), loss_med),
            ("backward".into(), bwd_total),
            ("adamw".into(), adam_med),
        ],
        profiled_step_ms: profiled,
        layers,
        ops,
        notes,
        date_unix: now_unix(),
    };
    Ok(BenchResult {
        report,
        trace_spans,
        nodes,
    })
}

impl ResnetReport {
    pub fn print_table(&self) {
        println!(
            "resnet_step on {}: {} batch {}×2 views, {}, BNS loss ({}), {} parameters{}",
            self.device,
            self.arch,
            self.batch,
            self.precision,
            self.loss_form,
            self.params,
            if self.fused_bn {
                ", fused batch norm"
            } else {
                ""
            }
        );
        if let Some(v) = self.conv_tc {
            println!(
                "tensor-core convolutions: {v} asked (older versions where a shape needs them)"
            );
        }
        println!(
            "step: median {:.3} ms (min {:.3}, max {:.3}, {} steps)  →  {:.0} img/s (best {:.0})",
            self.step.median_ms,
            self.step.min_ms,
            self.step.max_ms,
            self.step.repeats,
            self.images_per_s,
            self.images_per_s_best
        );
        let pct = |v: Option<f64>| v.map(|x| format!("{x:.1}%")).unwrap_or_else(|| "-".into());
        println!(
            "compute: {:.2} GFLOP/step, {:.3} TFLOP/s ({} of ceiling); convolutions {:.3} TFLOP/s ({} of ceiling)",
            self.flops_per_step / 1e9,
            self.tflops,
            pct(self.pct_of_ceiling),
            self.conv_tflops,
            pct(self.conv_pct_of_ceiling)
        );
        if let Some(c) = &self.ceiling {
            println!("ceiling: {:.3} TFLOP/s, {}", c.tflops, c.what);
        }
        if let (Some(p), Some(pp)) = (self.peak_tflops, self.pct_of_peak) {
            println!("nominal peak: {p:.1} TFLOP/s, step at {pp:.1}%");
        }
        println!(
            "loss: first step {:.6}, last timed step {:.6}",
            self.loss_first, self.loss_last
        );
        let ph: Vec<String> = self
            .phases
            .iter()
            .map(|(n, ms)| format!("{n} {ms:.3} ms"))
            .collect();
        println!(
            "profiled step {:.3} ms: {}",
            self.profiled_step_ms,
            ph.join(", ")
        );
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        let ms = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        println!();
        println!(
            "{:<26} {:<10} {:<22} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6}  kernels (fwd/gx/gw)",
            "layer", "op", "shape", "fwd ms", "bwd ms", "gx ms", "gw ms", "fwd TF", "bwd TF", "%"
        );
        for l in &self.layers {
            println!(
                "{:<26} {:<10} {:<22} {:>9.3} {:>9.3} {:>8} {:>8} {:>8} {:>8} {:>5.1}%  {}",
                l.name,
                l.op,
                l.shape,
                l.fwd_ms,
                l.bwd_ms,
                ms(l.gx_ms),
                ms(l.gw_ms),
                f(l.fwd_tflops),
                f(l.bwd_tflops),
                l.pct_of_step,
                l.kernels
            );
        }
        println!();
        println!(
            "{:<16} {:>6} {:>10} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "op", "count", "fwd ms", "bwd ms", "gx ms", "gw ms", "TFLOP/s", "%"
        );
        for o in &self.ops {
            println!(
                "{:<16} {:>6} {:>10.3} {:>10.3} {:>9} {:>9} {:>9} {:>6.1}%",
                o.op,
                o.count,
                o.fwd_ms,
                o.bwd_ms,
                ms(o.gx_ms),
                ms(o.gw_ms),
                f(o.tflops),
                o.pct_of_step
            );
        }
        println!("(gx, gw: a convolution backward's grad-input and grad-weight; bwd also holds its operand casts and weight transposes)");
        for n in &self.notes {
            println!("note: {n}");
        }
    }
}

/// One profiled step as a Chrome trace ("X" complete events, µs): forward nodes, the loss, backward
/// nodes and AdamW on one track, with op, shape, FLOPs and kernel names as arguments.
pub fn chrome_trace(res: &BenchResult) -> serde_json::Value {
    use serde_json::json;
    let rep = &res.report;
    let mut events = vec![
        json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 1,
               "args": {"name": format!("ipdpp {} on {}", rep.arch, rep.device)}}),
        json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 1,
               "args": {"name": if rep.device.starts_with("cuda") { "stream (CUDA events)" } else { "cpu (wall clock)" }}}),
        json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 2,
               "args": {"name": "convolution backward: grad-input / grad-weight"}}),
    ];
    let nf = rep.images_per_step as f64;
    for s in &res.trace_spans {
        let mut tid = 1;
        let (name, cat, args) = match s.span {
            Span::Node { index, backward } => {
                let ni = &res.nodes[index];
                let flops = if backward {
                    ni.bwd_flops_per_image
                } else {
                    ni.fwd_flops_per_image
                } * nf;
                (
                    format!("{} {}", ni.name, if backward { "bwd" } else { "fwd" }),
                    if backward { "backward" } else { "forward" },
                    json!({"node": index, "op": ni.op, "shape": ni.shape, "flops": flops,
                    "kernels": if ni.op.starts_with("conv") {
                        conv_kernels_of(&ni.kernels, backward, rep.precision)
                    } else {
                        kernels_of(&ni.op, backward).to_string()
                    }}),
                )
            }
            Span::Part { index, part } => {
                tid = 2;
                let ni = &res.nodes[index];
                (
                    format!("{} {}", ni.name, part.short()),
                    "backward part",
                    json!({"node": index, "part": part.short(), "shape": ni.shape}),
                )
            }
            Span::Loss => (
                format!("bns_loss_{}", rep.loss_form),
                "loss",
                json!({"kernels": if rep.device.starts_with("cuda") { "bns v2 (fused fp32)" } else { "CPU f64 reference" }}),
            ),
            Span::AdamW => (
                "adamw".to_string(),
                "optimizer",
                json!({"kernels": "adamw_f32 per parameter"}),
            ),
        };
        events.push(json!({
            "name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
            "ts": s.start_ms * 1e3, "dur": s.dur_ms * 1e3, "args": args,
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "bench": "ipdpp bench resnet", "arch": rep.arch, "device": rep.device,
            "batch": rep.batch, "precision": rep.precision.to_string(), "loss": rep.loss_form,
            "fused_bn": rep.fused_bn, "conv_tc": rep.conv_tc,
        },
    })
}

fn write_atomic(p: &std::path::Path, s: String) -> Result<()> {
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, s + "\n").map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, p).map_err(|e| Error::io(p, e))
}

/// The `ipdpp bench resnet` command: table or JSON, `--out`, `--trace`; exit code 1 when the loss is
/// not finite.
pub fn run(dev: &Device, a: &ResnetArgs) -> Result<i32> {
    if !dev.is_cuda() {
        eprintln!("no CUDA device: timing the CPU reference step");
    }
    let res = bench(dev, a)?;
    let js = |v: &ResnetReport| {
        serde_json::to_string_pretty(v).map_err(|e| Error::usage(format!("JSON: {e}")))
    };
    if a.json {
        println!("{}", js(&res.report)?);
    } else {
        res.report.print_table();
    }
    if let Some(p) = &a.out {
        write_atomic(p, js(&res.report)?)?;
    }
    if let Some(p) = &a.trace {
        let t = chrome_trace(&res);
        write_atomic(
            p,
            serde_json::to_string(&t).map_err(|e| Error::usage(format!("JSON: {e}")))?,
        )?;
        eprintln!("trace of one step written to {}", p.display());
    }
    Ok(
        if res.report.loss_first.is_finite() && res.report.loss_last.is_finite() {
            0
        } else {
            1
        },
    )
}
