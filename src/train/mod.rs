//! The two-stage pipeline (METHOD.md): stage 1 BNS pre-training → linear probe → stage 2 IP-DPP
//! selection + fine-tuning → evaluation. Everything a run writes lives under `runs/<name>/`:
//!
//! - `config.json`: the full configuration (preset + overrides), written before any work;
//! - `metrics.jsonl`: one JSON line per epoch of every stage (loss, lr, seconds, images/s) and one per
//!   event (probe evaluation, IP-DPP selection, final evaluation);
//! - `results.json`: probe and final accuracy (overall / many / medium / few, per class, confusion
//!   matrix), the report of every IP-DPP selection, and the `IPDPP_*` switches of the process;
//! - `checkpoints/`: see [`checkpoint`]; `--resume` continues from `checkpoints/latest.json`.
//!
//! Determinism: every random draw (sampler, augmentation, selection, initialisation) is a pure function
//! of (seed, stage, epoch, image index, view), so no generator state is saved. Checkpoints are taken
//! at stage ends and, every `checkpoint_every_secs`, after any optimiser step, also inside an epoch: the
//! checkpoint then records the batches done ([`InEpoch`]) and the partial sums of the epoch line, and a
//! resumed run draws the epoch's batch order again, skips the batches done (counting their images, so
//! every later view gets the same augmentation, see [`feed`]) and continues. A resumed CPU run computes
//! exactly what the uninterrupted run computes, logged epoch losses included.
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod eval;
pub mod feed;
pub mod head;
pub mod probe;
pub mod stage1;
pub mod stage2;

use crate::data::longtail::ShotRule;
use crate::data::{self, synthetic, Dataset, Split};
use crate::device::cpu::conv::{ohwi_to_oihw, oihw_to_ohwi};
use crate::device::{Buffer, Device};
use crate::error::{Error, Result};
use crate::nn::{Param, ParamKind, ResNet};
use checkpoint::{Snapshot, Tensors};
use config::{DataSource, RunConfig};
use eval::Accuracy;
use feed::Feeder;
use head::Head;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

/// Where a run stands. Order matters: a run goes Stage1 → Probe → Stage2 → Done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Stage1,
    Probe,
    Stage2,
    Done,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Stage1 => "stage1",
            Stage::Probe => "probe",
            Stage::Stage2 => "stage2",
            Stage::Done => "done",
        }
    }

    /// The option that sets this stage's learning rate (named when a loss turns non-finite).
    pub fn lr_flag(self) -> &'static str {
        match self {
            Stage::Stage1 => "--lr1",
            Stage::Probe => "--probe-lr",
            _ => "--lr2",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub accuracy: Accuracy,
    /// p(y_i | x_i) of every training image (clean, eval mode) from the probe head.
    pub p: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SelectionRecord {
    /// Stage-2 epoch before which the selection was made.
    pub epoch: usize,
    /// "probe" (the linear-probe head) or "model" (the current stage-2 model).
    pub source: String,
    pub kept: usize,
    pub total: usize,
    /// The selection report of `dpp::select` (kernel, selector, per-class n/k/rank/mean p, timings).
    pub report: serde_json::Value,
}

/// Everything besides tensors needed to continue a run; stored in every checkpoint's state.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub stage: Stage,
    /// Completed epochs of `stage`.
    pub epoch: usize,
    /// AdamW steps taken in `stage` (bias correction).
    pub adam_step: u64,
    /// Lines of metrics.jsonl written up to this point (a resumed run truncates to it).
    pub metrics_lines: usize,
    pub probe: Option<ProbeOutcome>,
    /// Current stage-2 training subset (indices into the long-tailed training set).
    pub selection: Option<Vec<usize>>,
    pub selections: Vec<SelectionRecord>,
    pub final_accuracy: Option<Accuracy>,
    /// Wall seconds spent per stage (training loops and evaluations).
    pub seconds: BTreeMap<String, f64>,
    /// Set in a checkpoint taken inside epoch `epoch` of `stage` (None at epoch boundaries, and in
    /// checkpoints written before mid-epoch checkpoints existed).
    #[serde(default)]
    pub in_epoch: Option<InEpoch>,
}

/// Where a checkpoint taken inside an epoch stands: enough to continue the epoch after `batches_done`
/// batches and to log the same epoch line as an uninterrupted run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InEpoch {
    /// Batches of the epoch already trained (0 < batches_done < batches).
    pub batches_done: usize,
    /// Batches the epoch has.
    pub batches: usize,
    /// Fingerprint of the epoch's batch order ([`order_fingerprint`]); a resumed run checks that it
    /// draws the same order.
    pub order: u64,
    /// Sum of the losses of the batches done (the epoch line's loss is the mean over all batches).
    pub loss_sum: f64,
    /// Images (stage 1: views) of the batches done.
    pub images: usize,
    /// Seconds the epoch has run so far.
    pub secs: f64,
    /// Learning rate of the last step.
    pub lr: f64,
}

/// A 64-bit fingerprint of an epoch's batches (sizes and indices, in order).
pub fn order_fingerprint(batches: &[Vec<usize>]) -> u64 {
    let mut h = crate::rng::mix64(batches.len() as u64);
    for b in batches {
        h = crate::rng::mix64(h ^ b.len() as u64);
        for &i in b {
            h = crate::rng::mix64(h ^ i as u64);
        }
    }
    h
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            stage: Stage::Stage1,
            epoch: 0,
            adam_step: 0,
            metrics_lines: 0,
            probe: None,
            selection: None,
            selections: Vec::new(),
            final_accuracy: None,
            seconds: BTreeMap::new(),
            in_epoch: None,
        }
    }
}

/// How a run is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// Folder holding the runs (`runs`).
    pub runs_dir: PathBuf,
    /// Continue from the last checkpoint of `runs/<name>/`.
    pub resume: bool,
    /// Start again when `runs/<name>/` already holds a run.
    pub overwrite: bool,
    /// No per-epoch lines on stderr (tests).
    pub quiet: bool,
}

pub struct Pipeline {
    pub cfg: RunConfig,
    pub dir: PathBuf,
    pub dev: Device,
    pub train: std::sync::Arc<Feeder>,
    pub test: std::sync::Arc<Feeder>,
    pub train_counts: Vec<usize>,
    pub classes: usize,
    pub rule: ShotRule,
    pub net: ResNet,
    pub probe_head: Head,
    pub fc: Head,
    pub progress: Progress,
    pub quiet: bool,
    /// stdout is reserved for JSON (`--json`): the tables go to stderr.
    pub json_stdout: bool,
    data_note: String,
    last_ckpt: Instant,
    last_ckpt_dir: Option<PathBuf>,
    writer: Option<JoinHandle<Result<PathBuf>>>,
    losses: StepLosses,
}

/// A step's loss as the training loop has it: a number (the CPU path) or one float on the GPU that the
/// step's kernels wrote (not yet read back).
pub enum StepLoss<'a> {
    Host(f64),
    Device(&'a cudarc::driver::CudaSlice<f32>),
}

/// Steps whose losses are not settled yet. On the GPU each step's loss is copied into a slot of `ring`
/// (on the stream, after the step's kernels) and the host reads the ring back every [`LOSS_RING`] steps,
/// before a mid-epoch checkpoint and at the end of an epoch, so a step never waits for the GPU to finish
/// the one before it (a read per step did: the logits of the probe and stage 2, stage 1's loss). The checks
/// and sums a loss feeds then run in step order: a non-finite loss stops the run before any checkpoint
/// that follows it, so the last checkpoint stays a good one.
#[derive(Default)]
pub struct StepLosses {
    ring: Option<cudarc::driver::CudaSlice<f32>>,
    pending: Vec<PendingStep>,
}

/// A step whose loss is not settled: its batch, images and learning rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PendingStep {
    pub bi: usize,
    pub images: usize,
    pub lr: f64,
    /// The loss where the host has it (the CPU path); else slot `i` of the ring.
    host: Option<f64>,
}

impl StepLosses {
    /// Records step `bi`'s loss: a host number as it is, a GPU one copied (on the stream, after the kernels
    /// that wrote it) into the next slot of the ring. At most [`LOSS_RING`] steps wait: settle first.
    pub fn record(
        &mut self,
        dev: &Device,
        bi: usize,
        images: usize,
        lr: f64,
        loss: StepLoss,
    ) -> Result<()> {
        if self.pending.len() >= LOSS_RING {
            return Err(Error::usage(
                "step losses: the ring is full; settle it first",
            ));
        }
        let host = match loss {
            StepLoss::Host(v) => Some(v),
            StepLoss::Device(src) => {
                let Device::Cuda(d) = dev else {
                    return Err(Error::usage("a GPU step loss on the CPU path"));
                };
                if self.ring.is_none() {
                    self.ring = Some(d.zeros::<f32>(LOSS_RING)?);
                }
                let slot = self.pending.len();
                let ring = self.ring.as_mut().expect("allocated above");
                d.stream
                    .memcpy_dtod(&src.slice(0..1), &mut ring.slice_mut(slot..slot + 1))
                    .map_err(|e| Error::driver("keeping a step's loss on the GPU", e))?;
                None
            }
        };
        self.pending.push(PendingStep {
            bi,
            images,
            lr,
            host,
        });
        Ok(())
    }

    /// Steps waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The waiting steps with their losses, in step order (the GPU's read back in one copy, which waits for
    /// the stream); none wait after.
    pub fn settle(&mut self, dev: &Device) -> Result<Vec<(PendingStep, f64)>> {
        let pending = std::mem::take(&mut self.pending);
        let gpu = match (dev, &self.ring) {
            (Device::Cuda(d), Some(ring)) if pending.iter().any(|s| s.host.is_none()) => {
                d.download(ring)?
            }
            _ => Vec::new(),
        };
        Ok(pending
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let loss = s
                    .host
                    .unwrap_or_else(|| gpu.get(i).map_or(f64::NAN, |&v| v as f64));
                (s, loss)
            })
            .collect())
    }
}

/// Steps between reads of the GPU's step losses.
pub const LOSS_RING: usize = 32;

/// Whether GPU step losses stay on the device until a group is read back (the default since 2026-11-28):
/// `IPDPP_GPU_LOSSES=0`, read once, reads each step's loss back at its step and computes the probe's and
/// stage 2's cross-entropy on the host, as before (the kernel and the ring were written without a GPU:
/// `tools/gpu-run.sh` sets it where their tests fail).
pub fn losses_stay_on_gpu() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("IPDPP_GPU_LOSSES").map_or(true, |v| v.trim() != "0"))
}

/// Seeds of the independent random streams.
pub mod salt {
    pub const INIT: u64 = 0x494E_4954;
    pub const STAGE1: u64 = 0x5354_4731;
    pub const PROBE: u64 = 0x5052_4F42;
    pub const STAGE2: u64 = 0x5354_4732;
    pub const SELECT: u64 = 0x5345_4C45;
}

pub(crate) fn sub_seed(seed: u64, salt: u64) -> u64 {
    crate::rng::mix64(seed ^ crate::rng::mix64(salt))
}

fn load_data(cfg: &RunConfig) -> Result<(Dataset, Dataset, String)> {
    match &cfg.data.source {
        DataSource::Synthetic {
            classes,
            n_max,
            test_per_class,
            seed,
        } => {
            let (tr, te) = synthetic::generate(&synthetic::SyntheticSpec {
                classes: *classes,
                n_max: *n_max,
                imbalance: cfg.data.imbalance,
                test_per_class: *test_per_class,
                seed: *seed,
            })?;
            Ok((
                tr,
                te,
                "synthetic long-tailed set (generated in memory)".into(),
            ))
        }
        DataSource::Dir { path } => {
            let (fmt, _) = data::detect(path)?;
            let full = data::load(path, Split::Train)?;
            let train = data::longtail::apply(&full, cfg.data.imbalance)?;
            if !data::has_split(path, Split::Test)? {
                return Err(Error::usage(format!(
                    "--data {}: no test split found; the pipeline evaluates on the balanced test set \
                     (import the folder with its test/ part, or use the official binaries)",
                    path.display()
                )));
            }
            let test = data::load(path, Split::Test)?;
            Ok((
                train,
                test,
                format!("{} at {}", fmt.describe(), path.display()),
            ))
        }
    }
}

/// The stage-level parts of `stored` that already ran replace those of `cli` (a continued run keeps what
/// it was started with; stages not yet begun take the new settings).
fn merge_config(stored: RunConfig, cli: &RunConfig, stage: Stage) -> RunConfig {
    let mut c = stored;
    if stage < Stage::Probe {
        c.stage1 = cli.stage1.clone();
    }
    if stage < Stage::Stage2 {
        c.probe = cli.probe.clone();
    }
    if stage < Stage::Done {
        c.stage2 = cli.stage2.clone();
    }
    c.eval_batch = cli.eval_batch;
    c.checkpoint_every_secs = cli.checkpoint_every_secs;
    c.debug_nan_at = cli.debug_nan_at.clone();
    c
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T> {
    let s = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    serde_json::from_str(&s).map_err(|e| {
        Error::usage(format!(
            "{}: not a valid file of this version ({e}); start a new run with another --name",
            p.display()
        ))
    })
}

pub fn write_json<T: Serialize>(p: &Path, v: &T) -> Result<()> {
    let s = serde_json::to_vec_pretty(v).map_err(|e| Error::usage(format!("JSON: {e}")))?;
    checkpoint::write_atomic(p, &s)
}

fn host_tensor(dev: &Device, p: &Param, b: &Buffer) -> Result<(Vec<usize>, Vec<f32>)> {
    let h = b.to_host(dev)?;
    let v = match p.kind {
        ParamKind::Conv => ohwi_to_oihw(&h, p.shape[0], p.shape[1], p.shape[2], p.shape[3]),
        _ => h,
    };
    Ok((p.shape.clone(), v))
}

fn device_tensor(dev: &Device, p: &Param, shape: &[usize], v: &[f32]) -> Result<Buffer> {
    if shape != p.shape.as_slice() {
        return Err(Error::usage(format!(
            "checkpoint tensor for {}: shape {shape:?}, the network has {:?}; was the run started with \
             another --arch?",
            p.name, p.shape
        )));
    }
    let v = match p.kind {
        ParamKind::Conv => oihw_to_ohwi(v, p.shape[0], p.shape[1], p.shape[2], p.shape[3]),
        _ => v.to_vec(),
    };
    Buffer::from_host(dev, &v)
}

/// A device error that means "out of memory" becomes one that names the batch size to lower.
pub(crate) fn oom_hint(e: Error, flag: &str, batch: usize) -> Error {
    let s = e.to_string();
    if s.contains("OUT_OF_MEMORY") || s.to_ascii_lowercase().contains("out of memory") {
        Error::usage(format!(
            "the GPU ran out of memory with {flag} {batch}: lower it (e.g. {flag} {}) or use a smaller \
             --arch ({s})",
            (batch / 2).max(2)
        ))
    } else {
        e
    }
}

impl Pipeline {
    /// Opens (or creates) `runs/<name>/`, loads the data, builds the network and restores the last
    /// checkpoint when resuming.
    pub fn open(dev: Device, cli_cfg: RunConfig, opts: &Options) -> Result<Self> {
        cli_cfg.validate()?;
        // Before anything is removed or written (an --overwrite run would lose its checkpoints).
        cli_cfg.precision.check_device(&dev)?;
        let dir = opts.runs_dir.join(&cli_cfg.name);
        let cfg_path = dir.join("config.json");
        let ck_dir = dir.join("checkpoints");
        let mut restored = None;
        let cfg = if opts.resume {
            if !cfg_path.is_file() {
                return Err(Error::usage(format!(
                    "{}: no run to continue (no config.json); start it first without --resume",
                    dir.display()
                )));
            }
            let stored: RunConfig = read_json(&cfg_path)?;
            if cli_cfg.precision != stored.precision {
                return Err(Error::usage(format!(
                    "--precision {}: {} was started with --precision {} and keeps it when continued; \
                     drop --precision, or start another run with --name",
                    cli_cfg.precision.name(),
                    dir.display(),
                    stored.precision.name()
                )));
            }
            match checkpoint::latest(&ck_dir)? {
                Some(d) => {
                    let (m, o, s) = checkpoint::read_snapshot(&d)?;
                    let mut pv = s["progress"].clone();
                    // Every float exactly as it was (serde_json's parser may be off by one ulp).
                    if let Some(bits) = s.get("progress_f64_bits") {
                        let bits: Vec<u64> = serde_json::from_value(bits.clone()).map_err(|e| {
                            Error::usage(format!("{}: progress_f64_bits ({e})", d.display()))
                        })?;
                        if !checkpoint::set_f64_bits(&mut pv, &bits) {
                            return Err(Error::usage(format!(
                                "{}: progress_f64_bits does not match the progress; the checkpoint \
                                 is damaged: resume from an earlier one or start the run again",
                                d.display()
                            )));
                        }
                    }
                    let prog: Progress = serde_json::from_value(pv).map_err(|e| {
                        Error::usage(format!("{}: progress unreadable ({e})", d.display()))
                    })?;
                    let c = merge_config(stored, &cli_cfg, prog.stage);
                    restored = Some((d, m, o, prog));
                    c
                }
                None => merge_config(stored, &cli_cfg, Stage::Stage1),
            }
        } else {
            if cfg_path.is_file() && !opts.overwrite {
                return Err(Error::usage(format!(
                    "{} already holds a run: pass --resume to continue it, --overwrite to start it again, \
                     or --name to start another",
                    dir.display()
                )));
            }
            for f in ["checkpoints", "metrics.jsonl", "results.json"] {
                let p = dir.join(f);
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                } else if p.is_file() {
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
            cli_cfg
        };
        cfg.validate()?;
        cfg.precision.check_device(&dev)?;
        std::fs::create_dir_all(&ck_dir).map_err(|e| Error::io(&ck_dir, e))?;
        write_json(&cfg_path, &cfg)?;

        let (train, test, data_note) = load_data(&cfg)?;
        if train.num_classes() != test.num_classes() {
            return Err(Error::usage(format!(
                "the training set has {} classes and the test set {}; pass a complete data set",
                train.num_classes(),
                test.num_classes()
            )));
        }
        let classes = train.num_classes();
        let train_counts = train.class_counts();
        let mut rule = ShotRule::for_classes(classes);
        if let Some(m) = cfg.data.many_above {
            rule.many_above = m;
        }
        if let Some(f) = cfg.data.few_below {
            rule.few_below = f;
        }
        let feat = cfg.arch.feature_dim();
        // The one network of the run: stage 1, the probe, stage 2 and evaluation all use it, so its
        // convolutions run in the run's precision everywhere (restoring a checkpoint keeps the mode).
        let mut net = ResNet::new(
            &dev,
            cfg.arch,
            cfg.stage1.proj_out,
            sub_seed(cfg.seed, salt::INIT),
        )?;
        net.set_conv_precision(cfg.precision.conv());
        let probe_head = Head::new(
            &dev,
            "probe",
            feat,
            classes,
            sub_seed(cfg.seed, salt::PROBE),
        )?;
        let fc = Head::new(&dev, "fc", feat, classes, sub_seed(cfg.seed, salt::STAGE2))?;
        let mut p = Pipeline {
            train: std::sync::Arc::new(Feeder::new(&dev, train)?),
            test: std::sync::Arc::new(Feeder::new(&dev, test)?),
            dir,
            dev,
            train_counts,
            classes,
            rule,
            net,
            probe_head,
            fc,
            progress: Progress::default(),
            quiet: opts.quiet,
            json_stdout: false,
            data_note,
            last_ckpt: Instant::now(),
            last_ckpt_dir: None,
            writer: None,
            losses: StepLosses::default(),
            cfg,
        };
        if let Some((d, m, o, prog)) = restored {
            p.restore(&m, &o)?;
            p.progress = prog;
            p.truncate_metrics()?;
            p.last_ckpt_dir = Some(d.clone());
            let within = match &p.progress.in_epoch {
                Some(ie) => format!(
                    ", {} of {} batches of epoch {}",
                    ie.batches_done,
                    ie.batches,
                    p.progress.epoch + 1
                ),
                None => String::new(),
            };
            p.say(&format!(
                "resuming {} from {} ({} epoch {} done{within})",
                p.dir.display(),
                d.display(),
                p.progress.stage.name(),
                p.progress.epoch
            ));
        }
        Ok(p)
    }

    pub fn data_note(&self) -> &str {
        &self.data_note
    }

    /// A line on stderr unless quiet.
    pub fn say(&self, s: &str) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }

    fn truncate_metrics(&self) -> Result<()> {
        let p = self.dir.join("metrics.jsonl");
        if !p.is_file() {
            return Ok(());
        }
        let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let keep: String = s
            .lines()
            .take(self.progress.metrics_lines)
            .map(|l| format!("{l}\n"))
            .collect();
        checkpoint::write_atomic(&p, keep.as_bytes())
    }

    /// A result table: stdout, or stderr when stdout carries JSON; nothing when quiet.
    pub fn print_table(&self, s: &str) {
        if self.quiet {
        } else if self.json_stdout {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    /// Appends one line to metrics.jsonl.
    pub fn metric(&mut self, v: serde_json::Value) -> Result<()> {
        let p = self.dir.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        writeln!(f, "{v}").map_err(|e| Error::io(&p, e))?;
        self.progress.metrics_lines += 1;
        Ok(())
    }

    /// Opens epoch `epoch` of `stage` over `batches`. A run resumed from a checkpoint taken inside this
    /// epoch starts after the batches done, with the partial sums of the epoch line; the epoch must draw
    /// the same batch order as before (it does unless the stage's settings were changed).
    pub fn begin_epoch(
        &mut self,
        stage: Stage,
        epoch: usize,
        epochs: usize,
        batches: &[Vec<usize>],
        t0: Instant,
    ) -> Result<EpochRun> {
        let order = order_fingerprint(batches);
        let mut r = EpochRun {
            stage,
            epoch,
            epochs,
            batches: batches.len(),
            start: 0,
            order,
            loss_sum: 0.0,
            images: 0,
            lr: 0.0,
            prior_secs: 0.0,
            t0,
            settled: 0,
        };
        let Some(ie) = self.progress.in_epoch.take() else {
            return Ok(r);
        };
        if self.progress.stage != stage || self.progress.epoch != epoch {
            return Err(Error::usage(format!(
                "the checkpoint was taken inside {} epoch {}, not {} epoch {}; start the run again",
                self.progress.stage.name(),
                self.progress.epoch + 1,
                stage.name(),
                epoch + 1
            )));
        }
        if ie.order != order || ie.batches != batches.len() || ie.batches_done >= ie.batches {
            let flags = match stage {
                Stage::Stage1 => "--batch1, --loss, --m",
                Stage::Probe => "--probe-batch, --probe-per-class",
                _ => "--batch2, --k, --selector, --kernel",
            };
            return Err(Error::usage(format!(
                "the checkpoint was taken after batch {} of {} of {} epoch {}, but the epoch now draws \
                 another batch order ({} batches): were {flags} or the data changed? Continue with the \
                 settings the run was started with, or start it again with --overwrite",
                ie.batches_done,
                ie.batches,
                stage.name(),
                epoch + 1,
                batches.len()
            )));
        }
        r.start = ie.batches_done;
        r.settled = ie.batches_done;
        r.loss_sum = ie.loss_sum;
        r.images = ie.images;
        r.lr = ie.lr;
        r.prior_secs = ie.secs;
        Ok(r)
    }

    /// Whether the run continues inside epoch `epoch` of `stage` (a mid-epoch checkpoint was resumed and
    /// the epoch has not been opened yet).
    pub fn resuming_inside(&self, stage: Stage, epoch: usize) -> bool {
        self.progress.in_epoch.is_some()
            && self.progress.stage == stage
            && self.progress.epoch == epoch
    }

    /// After the optimiser step of batch `bi`: records the step's loss ([`StepLosses`]: settled when the ring
    /// is full, a checkpoint is due or the epoch ends, on the CPU as on the GPU), and, when
    /// `checkpoint_every_secs` passed since the last checkpoint and batches remain, writes a mid-epoch
    /// checkpoint (the check is one clock read).
    pub fn end_step(
        &mut self,
        r: &mut EpochRun,
        bi: usize,
        loss: StepLoss,
        images: usize,
        lr: f64,
    ) -> Result<()> {
        self.losses.record(&self.dev, bi, images, lr, loss)?;
        let due = bi + 1 < r.batches
            && self.last_ckpt.elapsed().as_secs_f64() >= self.cfg.checkpoint_every_secs;
        // The CPU's losses wait too (they are numbers already): one order of checks and sums on both paths.
        if due || bi + 1 >= r.batches || self.losses.len() == LOSS_RING {
            self.settle_losses(r)?;
        }
        r.lr = lr;
        if due {
            self.progress.in_epoch = Some(InEpoch {
                batches_done: bi + 1,
                batches: r.batches,
                order: r.order,
                loss_sum: r.loss_sum,
                images: r.images,
                secs: r.secs(),
                lr,
            });
            let tag = format!("{}-e{:05}-b{:06}", r.stage.name(), r.epoch, bi + 1);
            let w = self.checkpoint(&tag, true);
            self.progress.in_epoch = None;
            w?;
        }
        Ok(())
    }

    /// The pending steps' losses, in step order: read back from the GPU (one wait for the stream), a
    /// non-finite one stops the run (`--debug-nan-at` injects one at an epoch's first batch), each added to
    /// the epoch's sums.
    fn settle_losses(&mut self, r: &mut EpochRun) -> Result<()> {
        for (s, loss) in self.losses.settle(&self.dev)? {
            let mut loss = loss;
            if s.bi == 0 && self.inject_nan(r.stage, r.epoch) {
                loss = f64::NAN;
            }
            self.stop_on_bad_loss(loss, r.stage, r.epoch, s.bi, r.stage.lr_flag())?;
            r.loss_sum += loss;
            r.images += s.images;
            r.lr = s.lr;
            r.settled = s.bi + 1;
        }
        Ok(())
    }

    /// Closes an epoch: the epoch line, a metrics.jsonl record (common fields plus `extra`), the stage's
    /// seconds, the progress counter, and an intermediate checkpoint unless it was the stage's last epoch.
    pub fn end_epoch(&mut self, e: &EpochEnd, extra: serde_json::Value) -> Result<()> {
        self.say(&e.line());
        let mut m = serde_json::json!({
            "stage": e.stage.name(), "epoch": e.epoch + 1, "epochs": e.epochs, "loss": e.loss, "lr": e.lr,
            "seconds": e.secs, "images_per_s": e.rate(),
        });
        if let (Some(m), serde_json::Value::Object(x)) = (m.as_object_mut(), extra) {
            m.extend(x);
        }
        self.metric(m)?;
        self.add_seconds(e.stage, e.secs);
        self.progress.epoch = e.epoch + 1;
        self.progress.in_epoch = None;
        if e.epoch + 1 < e.epochs {
            self.checkpoint(&format!("{}-e{:05}", e.stage.name(), e.epoch + 1), false)?;
        }
        Ok(())
    }

    /// Seconds spent in `stage`, accumulated.
    pub fn add_seconds(&mut self, stage: Stage, s: f64) {
        *self
            .progress
            .seconds
            .entry(stage.name().to_string())
            .or_insert(0.0) += s;
    }

    fn all_params(&self) -> impl Iterator<Item = &Param> {
        self.net
            .params
            .iter()
            .chain(&self.probe_head.params)
            .chain(&self.fc.params)
    }

    fn snapshot(&self, tag: &str) -> Result<Snapshot> {
        let mut model = Tensors::new();
        for n in self.net.state_names() {
            let t = self.net.get_tensor(&n)?;
            model.insert(n, t);
        }
        let mut optimizer = Tensors::new();
        for p in self.probe_head.params.iter().chain(&self.fc.params) {
            model.insert(p.name.clone(), host_tensor(&self.dev, p, &p.w)?);
        }
        for p in self.all_params() {
            optimizer.insert(
                format!("{}.exp_avg", p.name),
                host_tensor(&self.dev, p, &p.m)?,
            );
            optimizer.insert(
                format!("{}.exp_avg_sq", p.name),
                host_tensor(&self.dev, p, &p.v)?,
            );
        }
        let progress =
            serde_json::to_value(&self.progress).map_err(|e| Error::usage(format!("JSON: {e}")))?;
        let state = serde_json::json!({
            "format": 1,
            "progress_f64_bits": checkpoint::f64_bits(&progress),
            "progress": progress,
            "optimizer": {"kind": "AdamW", "step": self.progress.adam_step, "stage": self.progress.stage},
            "rng": {
                "seed": self.cfg.seed,
                "note": "every random draw is a pure function of (seed, stage, epoch, index, view), \
                         the view counting the image's occurrences in the epoch; a checkpoint inside \
                         an epoch (progress.in_epoch) records the batches done and a fingerprint of the \
                         epoch's batch order; no generator state needs saving"
            },
            "arch": self.cfg.arch,
        });
        Ok(Snapshot {
            tag: tag.to_string(),
            model,
            optimizer,
            state,
        })
    }

    fn restore(&mut self, model: &Tensors, opt: &Tensors) -> Result<()> {
        let dev = self.dev.clone();
        for n in self.net.state_names() {
            let (shape, v) = model.get(&n).ok_or_else(|| {
                Error::usage(format!(
                    "the checkpoint has no tensor {n:?}; was the run started with another --arch?"
                ))
            })?;
            self.net.set_tensor(&n, shape, v)?;
        }
        let heads = self
            .probe_head
            .params
            .iter_mut()
            .chain(self.fc.params.iter_mut());
        for p in heads {
            let (shape, v) = model.get(&p.name).ok_or_else(|| {
                Error::usage(format!("the checkpoint has no tensor {:?}", p.name))
            })?;
            p.w = device_tensor(&dev, p, shape, v)?;
        }
        let all = self
            .net
            .params
            .iter_mut()
            .chain(self.probe_head.params.iter_mut())
            .chain(self.fc.params.iter_mut());
        for p in all {
            for (suffix, is_m) in [("exp_avg", true), ("exp_avg_sq", false)] {
                let key = format!("{}.{suffix}", p.name);
                let (shape, v) = opt
                    .get(&key)
                    .ok_or_else(|| Error::usage(format!("the checkpoint has no tensor {key:?}")))?;
                let b = device_tensor(&dev, p, shape, v)?;
                if is_m {
                    p.m = b;
                } else {
                    p.v = b;
                }
            }
        }
        Ok(())
    }

    /// Zeroes every AdamW moment (a new stage starts a new optimiser).
    pub fn reset_optimizer(&mut self) -> Result<()> {
        let dev = self.dev.clone();
        let all = self
            .net
            .params
            .iter_mut()
            .chain(self.probe_head.params.iter_mut())
            .chain(self.fc.params.iter_mut());
        for p in all {
            p.m = Buffer::zeros(&dev, p.len())?;
            p.v = Buffer::zeros(&dev, p.len())?;
        }
        self.progress.adam_step = 0;
        Ok(())
    }

    /// Waits for a checkpoint being written.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(h) = self.writer.take() {
            let d = h
                .join()
                .map_err(|_| Error::usage("the checkpoint writer thread panicked"))??;
            self.last_ckpt_dir = Some(d);
        }
        Ok(())
    }

    /// Writes a checkpoint when `force` or when the interval passed (epoch ends; inside an epoch see
    /// [`Pipeline::end_step`]). The tensors are copied to the host here; encoding and writing run on a
    /// background thread (a checkpoint still being written is waited for first).
    pub fn checkpoint(&mut self, tag: &str, force: bool) -> Result<()> {
        if !force && self.last_ckpt.elapsed().as_secs_f64() < self.cfg.checkpoint_every_secs {
            return Ok(());
        }
        self.flush()?;
        let snap = self.snapshot(tag)?;
        let dir = self.dir.join("checkpoints");
        let keep: Vec<String> = ["stage1-end", "probe-end", "stage2-end"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.writer = Some(
            std::thread::Builder::new()
                .name("ipdpp-checkpoint".into())
                .spawn(move || checkpoint::write_snapshot(&dir, &snap, &keep))
                .map_err(|e| Error::usage(format!("could not start the checkpoint writer: {e}")))?,
        );
        self.last_ckpt = Instant::now();
        Ok(())
    }

    /// Stops the run on a non-finite loss, keeping the last good checkpoint.
    pub fn stop_on_bad_loss(
        &mut self,
        loss: f64,
        stage: Stage,
        epoch: usize,
        batch: usize,
        lr_flag: &str,
    ) -> Result<()> {
        if loss.is_finite() {
            return Ok(());
        }
        self.flush()?;
        let _ = self.metric(serde_json::json!({
            "stage": stage.name(), "epoch": epoch + 1, "event": "stopped",
            "reason": format!("loss is {loss} at batch {batch}"),
        }));
        let last = match &self.last_ckpt_dir {
            Some(d) => format!(
                "the last good checkpoint is {}; continue from it with --resume (e.g. after lowering \
                 {lr_flag})",
                d.display()
            ),
            None => format!(
                "no checkpoint was written yet; start again (e.g. with a lower {lr_flag})"
            ),
        };
        Err(Error::Numeric(format!(
            "{} epoch {}, batch {batch}: the loss is {loss}; the run stopped. {last}",
            stage.name(),
            epoch + 1
        )))
    }

    /// Runs the stages in order until `target` is reached (Stage::Done: the whole pipeline).
    pub fn run_until(&mut self, target: Stage) -> Result<()> {
        let r = (|| {
            while self.progress.stage < target {
                match self.progress.stage {
                    Stage::Stage1 => stage1::run(self)?,
                    Stage::Probe => probe::run(self)?,
                    Stage::Stage2 => stage2::run(self)?,
                    Stage::Done => break,
                }
            }
            Ok(())
        })();
        let f = self.flush();
        r.and(f)
    }

    /// Whether the injected-NaN testing aid fires at (stage, epoch).
    pub fn inject_nan(&self, stage: Stage, epoch: usize) -> bool {
        match self
            .cfg
            .debug_nan_at
            .as_deref()
            .map(config::parse_stage_epoch)
        {
            Some(Ok((s, e))) => s == stage.name() && e == epoch + 1,
            _ => false,
        }
    }

    /// results.json from what the run has so far.
    pub fn write_results(&self) -> Result<PathBuf> {
        let r = serde_json::json!({
            "name": self.cfg.name,
            "preset": self.cfg.preset,
            "arch": self.cfg.arch.name(),
            "device": self.dev.name(),
            // The IPDPP_* switches this process ran with (opt-in kernels and A/B settings).
            "engine_switches": crate::bench::resnet::engine_switches(),
            "data": self.data_note,
            "imbalance": self.cfg.data.imbalance,
            "train_counts": self.train_counts,
            "epochs": {"stage1": self.cfg.stage1.epochs, "probe": self.cfg.probe.epochs,
                       "stage2": self.cfg.stage2.epochs},
            "stage": self.progress.stage,
            "seconds": self.progress.seconds,
            "probe": self.progress.probe.as_ref().map(|p| &p.accuracy),
            "final": self.progress.final_accuracy,
            "selections": self.progress.selections,
        });
        let p = self.dir.join("results.json");
        write_json(&p, &r)?;
        Ok(p)
    }

    /// Per-epoch progress bar (hidden when quiet or stderr is not a terminal).
    pub fn bar(&self, len: usize, prefix: String) -> indicatif::ProgressBar {
        if self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(len as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:28}] {pos}/{len} {msg} {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_prefix(prefix);
        pb
    }
}

/// Labels of the training set as i32 (the BNS loss) or i64 (selection).
pub fn labels_i64(ds: &Dataset) -> Vec<i64> {
    ds.labels.iter().map(|&l| l as i64).collect()
}

/// p(y_i | x_i) from logits [n, classes].
pub fn true_class_probs(logits: &[f32], labels: &[u32], classes: usize) -> Result<Vec<f64>> {
    let ls = crate::loss::cross_entropy::log_softmax_rows(logits, classes)?;
    Ok(labels
        .iter()
        .enumerate()
        .map(|(i, &l)| ls[i * classes + l as usize].exp())
        .collect())
}

/// An epoch being trained: its place, where it started (a resumed run skips the batches done) and the
/// sums of the epoch line.
pub struct EpochRun {
    pub stage: Stage,
    pub epoch: usize,
    pub epochs: usize,
    /// Batches the epoch has.
    pub batches: usize,
    /// First batch to train (0, or the batches done when resumed inside the epoch).
    pub start: usize,
    order: u64,
    loss_sum: f64,
    images: usize,
    lr: f64,
    prior_secs: f64,
    t0: Instant,
    /// Batches whose losses are in the sums (the GPU's are read back in groups: [`StepLosses`]).
    settled: usize,
}

impl EpochRun {
    /// Mean loss of the batches whose losses were read back so far.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.settled.max(1) as f64
    }
    fn secs(&self) -> f64 {
        self.prior_secs + self.t0.elapsed().as_secs_f64()
    }
    /// The epoch's report once every batch ran (loss: the mean over all batches).
    pub fn finish(&self) -> EpochEnd {
        EpochEnd {
            stage: self.stage,
            epoch: self.epoch,
            epochs: self.epochs,
            loss: self.loss_sum / self.batches.max(1) as f64,
            lr: self.lr,
            secs: self.secs(),
            images: self.images,
        }
    }
}

/// What one finished epoch of a stage reports.
pub struct EpochEnd {
    pub stage: Stage,
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f64,
    pub lr: f64,
    pub secs: f64,
    /// Images (or views, stage 1) processed: images/s counts these.
    pub images: usize,
}

impl EpochEnd {
    /// One epoch line on stderr: "stage1  epoch  3/8  loss 2.3456  lr 1.20e-3  6.92 s  364 img/s".
    pub fn line(&self) -> String {
        format!(
            "{:<7} epoch {:>4}/{:<4} loss {:>9.5}  lr {:.2e}  {:>7.2} s  {:>8.0} img/s",
            self.stage.name(),
            self.epoch + 1,
            self.epochs,
            self.loss,
            self.lr,
            self.secs,
            self.rate()
        )
    }
    fn rate(&self) -> f64 {
        self.images as f64 / self.secs.max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_an_old_checkpoint_is_at_an_epoch_boundary() {
        // state.json's "progress" as written before checkpoints inside epochs existed.
        let old = r#"{"stage":"stage1","epoch":2,"adam_step":12,"metrics_lines":2,"probe":null,
            "selection":null,"selections":[],"final_accuracy":null,"seconds":{"stage1":3.5}}"#;
        let p: Progress = serde_json::from_str(old).unwrap();
        assert_eq!((p.stage, p.epoch, p.adam_step), (Stage::Stage1, 2, 12));
        assert!(p.in_epoch.is_none());
    }

    #[test]
    fn order_fingerprint_depends_on_order_and_cuts() {
        let a = vec![vec![0, 1, 2], vec![3, 4]];
        let f = order_fingerprint(&a);
        assert_eq!(f, order_fingerprint(&a.clone()));
        assert_ne!(f, order_fingerprint(&[vec![0, 1], vec![2, 3, 4]]));
        assert_ne!(f, order_fingerprint(&[vec![3, 4], vec![0, 1, 2]]));
        assert_ne!(f, order_fingerprint(&[vec![0, 1, 2], vec![4, 3]]));
    }
}
