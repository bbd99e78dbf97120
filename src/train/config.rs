//! Run configuration: presets of METHOD.md (`paper`, `official-code`) for CIFAR-10-LT / CIFAR-100-LT, the
//! embedded demo, and every field overridable. Written to `runs/<name>/config.json`.
use crate::device::cuda::conv_tc::ConvPrecision;
use crate::device::Device;
use crate::dpp::kernels::KernelKind;
use crate::dpp::select::Selector;
use crate::error::{Error, Result};
use crate::nn::Arch;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The paper's method: BNS paper form with groups of m+1, exact k-DPP over the IP kernel
    #[default]
    Paper,
    /// What the public code runs: BNS code form with instance shuffling, ip-code kernel, uniform subsets
    OfficialCode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossForm {
    Paper,
    Code,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KernelChoice {
    Ip,
    IpCode,
    QdCosine,
    QdRbf,
}

impl KernelChoice {
    pub fn kind(self) -> KernelKind {
        match self {
            KernelChoice::Ip => KernelKind::Ip,
            KernelChoice::IpCode => KernelKind::IpCode,
            KernelChoice::QdCosine => KernelKind::QdCosine,
            KernelChoice::QdRbf => KernelKind::QdRbf,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SelectorChoice {
    Kdpp,
    GreedyPaper,
    Uniform,
    /// No selection: stage 2 on the whole long-tailed set
    None,
}

impl SelectorChoice {
    pub fn selector(self) -> Option<Selector> {
        match self {
            SelectorChoice::Kdpp => Some(Selector::Kdpp),
            SelectorChoice::GreedyPaper => Some(Selector::GreedyPaper),
            SelectorChoice::Uniform => Some(Selector::Uniform),
            SelectorChoice::None => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Finetune {
    /// Encoder and classifier (the official code)
    All,
    /// The classifier only, encoder frozen in eval mode (the paper's wording)
    Head,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    Fp32,
    Tf32,
    Bf16,
}

impl Precision {
    /// The flag's spelling (`fp32`, `tf32`, `bf16`).
    pub fn name(&self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }
    /// The network's convolution mode: tf32/bf16 run conv_tc.cu's tensor-core kernels on CUDA.
    pub fn conv(&self) -> ConvPrecision {
        match self {
            Precision::Fp32 => ConvPrecision::Fp32,
            Precision::Tf32 => ConvPrecision::Tf32,
            Precision::Bf16 => ConvPrecision::Bf16,
        }
    }
    /// Refuses a mode the device cannot run: the CPU computes the exact fp32 reference only, and the
    /// tensor-core convolutions need sm_80 or newer.
    pub fn check_device(&self, dev: &Device) -> Result<()> {
        if *self == Precision::Fp32 {
            return Ok(());
        }
        match dev {
            Device::Cpu => Err(Error::usage(format!(
                "--precision {}: the CPU device computes in fp32 only (tf32/bf16 are CUDA tensor-core \
                 modes); pass --precision fp32 or --device cuda",
                self.name()
            ))),
            Device::Cuda(d) if d.cc.0 < 8 => Err(Error::usage(format!(
                "--precision {} needs tensor cores of sm_80 or newer; {} is sm_{}{}: pass --precision fp32",
                self.name(),
                d.name,
                d.cc.0,
                d.cc.1
            ))),
            Device::Cuda(_) => Ok(()),
        }
    }
}

/// Where the images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// `data::synthetic` (generated in memory from the seed).
    Synthetic {
        classes: usize,
        n_max: usize,
        test_per_class: usize,
        seed: u64,
    },
    /// CIFAR-10/100 binaries or an imported folder (`--data DIR`); the long-tailed subset is made here.
    Dir { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub source: DataSource,
    /// n_max / n_min of the long-tailed training set.
    pub imbalance: f64,
    /// Many-shot: more than this many training images; few-shot: fewer than `few_below`.
    pub many_above: Option<usize>,
    pub few_below: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage1Config {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub warmup_epochs: f64,
    pub loss: LossForm,
    /// Same-label images per anchor (paper form).
    pub m: usize,
    pub tau: f64,
    /// SimCLR augmentation strength s.
    pub strength: f32,
    pub proj_out: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub warmup_epochs: f64,
    /// Class-balanced random subset: at most this many images per class.
    pub per_class: usize,
    pub strength: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage2Config {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub warmup_epochs: f64,
    pub kernel: KernelChoice,
    pub selector: SelectorChoice,
    /// Images per class; None: min(N_c, k_factor · N_min).
    pub k: Option<usize>,
    pub k_factor: usize,
    /// Re-select every this many epochs with the current model.
    pub reselect_every: usize,
    pub finetune: Finetune,
    pub strength: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub name: String,
    pub preset: String,
    pub arch: Arch,
    pub seed: u64,
    /// Numeric mode of the network's convolutions (fp32, or tf32/bf16 on CUDA tensor cores); a run
    /// keeps it when continued.
    pub precision: Precision,
    pub data: DataConfig,
    pub stage1: Stage1Config,
    pub probe: ProbeConfig,
    pub stage2: Stage2Config,
    pub eval_batch: usize,
    /// Geometry of the SimCLR augmentation of every stage (METHOD.md: crop scale 0.08–1, flip p 0.5).
    #[serde(default)]
    pub aug: AugGeometry,
    /// Write a checkpoint when this many seconds passed since the last one, checked after every
    /// optimiser step (inside an epoch too) and at every epoch end; always at the end of every stage.
    /// 0: after every step.
    pub checkpoint_every_secs: f64,
    /// Testing aid: make the loss NaN at the start of this (stage, epoch) (e.g. "stage1:2").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_nan_at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugGeometry {
    /// Smallest area fraction of RandomResizedCrop.
    pub crop_min: f64,
    /// Horizontal-flip probability.
    pub p_flip: f32,
}

impl Default for AugGeometry {
    fn default() -> Self {
        AugGeometry {
            crop_min: 0.08,
            p_flip: 0.5,
        }
    }
}

impl AugGeometry {
    /// The SimCLR pipeline at strength `s` with this geometry.
    pub fn simclr(&self, s: f32) -> crate::data::augment::SimclrConfig {
        crate::data::augment::SimclrConfig {
            scale: (self.crop_min, 1.0),
            p_flip: self.p_flip,
            ..crate::data::augment::SimclrConfig::with_strength(s)
        }
    }
}

/// Parses `resnet8|resnet20|resnet32|resnet18|resnet34`.
pub fn parse_arch(s: &str) -> Result<Arch> {
    match s
        .trim()
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .as_str()
    {
        "resnet8" => Ok(Arch::ResNet8),
        "resnet20" => Ok(Arch::ResNet20),
        "resnet32" => Ok(Arch::ResNet32),
        "resnet18" => Ok(Arch::ResNet18),
        "resnet34" => Ok(Arch::ResNet34),
        _ => Err(Error::usage(format!(
            "unknown architecture {s:?}; use resnet8, resnet20, resnet32, resnet18 or resnet34"
        ))),
    }
}

/// METHOD.md's setup for CIFAR-10-LT (`classes` ≤ 10) or CIFAR-100-LT, under `preset`.
pub fn preset(preset: Preset, classes: usize, source: DataSource, name: &str) -> RunConfig {
    let c100 = classes > 10;
    let paper = preset == Preset::Paper;
    let m = 6;
    // "Batch 1024" counts images; the paper form needs whole groups of m+1 = 7.
    let b1: usize = if c100 { 512 } else { 1024 };
    let batch1 = if paper { b1 / (m + 1) * (m + 1) } else { b1 };
    RunConfig {
        name: name.to_string(),
        preset: match preset {
            Preset::Paper => "paper".into(),
            Preset::OfficialCode => "official-code".into(),
        },
        arch: if c100 { Arch::ResNet34 } else { Arch::ResNet18 },
        seed: 0,
        precision: Precision::Fp32,
        data: DataConfig {
            source,
            imbalance: 100.0,
            many_above: None,
            few_below: None,
        },
        stage1: Stage1Config {
            epochs: 1000,
            batch: batch1,
            lr: 1e-3 * b1 as f64 / 256.0,
            weight_decay: 0.05,
            beta1: 0.9,
            beta2: 0.95,
            warmup_epochs: 20.0,
            loss: if paper {
                LossForm::Paper
            } else {
                LossForm::Code
            },
            m,
            tau: 0.5,
            strength: 2.0,
            proj_out: 128,
        },
        probe: ProbeConfig {
            epochs: 100,
            batch: 64,
            lr: 1e-3,
            weight_decay: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            warmup_epochs: if c100 { 5.0 } else { 20.0 },
            per_class: if c100 { 50 } else { 100 },
            strength: 1.0,
        },
        stage2: Stage2Config {
            epochs: 100,
            batch: 64,
            lr: 2.5e-4,
            weight_decay: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            warmup_epochs: 5.0,
            kernel: if paper {
                KernelChoice::Ip
            } else {
                KernelChoice::IpCode
            },
            selector: if paper {
                SelectorChoice::Kdpp
            } else {
                SelectorChoice::Uniform
            },
            k: None,
            k_factor: 10,
            reselect_every: 10,
            finetune: Finetune::All,
            strength: 1.0,
        },
        eval_batch: 256,
        aug: AugGeometry::default(),
        checkpoint_every_secs: 300.0,
        debug_nan_at: None,
    }
}

/// The embedded demo: a synthetic long-tailed set (10 classes, 400 → 20 images, imbalance 20), ResNet-8,
/// short schedules sized for about two minutes on 2 CPU cores.
pub fn demo(name: &str) -> RunConfig {
    let mut c = preset(
        Preset::Paper,
        10,
        DataSource::Synthetic {
            classes: 10,
            n_max: 400,
            test_per_class: 50,
            seed: 7,
        },
        name,
    );
    c.preset = "demo".into();
    c.arch = Arch::ResNet8;
    c.data.imbalance = 20.0;
    c.data.many_above = Some(150);
    c.data.few_below = Some(50);
    // Small batches (6 groups of m + 1 = 7) give enough optimiser steps in a minute of CPU time; 25
    // epochs (was 10 before the CPU convolutions got 2-3x faster) lift the probe from ~45 % to ~65 %.
    c.stage1.epochs = 25;
    c.stage1.batch = 42;
    c.stage1.lr = 3e-3;
    c.stage1.warmup_epochs = 2.0;
    c.probe.epochs = 20;
    c.probe.lr = 1e-2;
    c.probe.warmup_epochs = 1.0;
    c.probe.per_class = 100;
    c.stage2.epochs = 15;
    c.stage2.lr = 2e-3;
    c.stage2.warmup_epochs = 1.0;
    c.stage2.reselect_every = 5;
    // k = 4 · N_min = 80: the selection cuts the imbalance from 20 to 4 (the paper's k = 10 · N_min cuts
    // CIFAR-10-LT's 100 to 10).
    c.stage2.k_factor = 4;
    c.eval_batch = 250;
    // The synthetic pattern families survive METHOD.md's SimCLR augmentation (crop scale 0.08–1, flip
    // p 0.5), so the demo keeps it.
    c
}

impl RunConfig {
    /// Multiplies every stage's epochs and warm-up by `s` (at least one epoch per stage).
    pub fn scale_epochs(&mut self, s: f64) -> Result<()> {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::usage(format!(
                "--epochs-scale {s}: pass a positive number (e.g. 0.1 for a tenth of every schedule)"
            )));
        }
        let sc = |e: usize| ((e as f64 * s).round() as usize).max(1);
        self.stage1.epochs = sc(self.stage1.epochs);
        self.probe.epochs = sc(self.probe.epochs);
        self.stage2.epochs = sc(self.stage2.epochs);
        self.stage1.warmup_epochs *= s;
        self.probe.warmup_epochs *= s;
        self.stage2.warmup_epochs *= s;
        self.stage2.reselect_every =
            ((self.stage2.reselect_every as f64 * s).round() as usize).max(1);
        Ok(())
    }

    /// Refuses settings that cannot run, before any work, with the fix in the message.
    pub fn validate(&self) -> Result<()> {
        let s1 = &self.stage1;
        if s1.loss == LossForm::Paper && s1.batch % (s1.m + 1) != 0 {
            return Err(Error::usage(format!(
                "stage-1 batch {} is not a multiple of the group size m + 1 = {} (paper form); pass \
                 --batch1 {}",
                s1.batch,
                s1.m + 1,
                (s1.batch / (s1.m + 1)).max(1) * (s1.m + 1)
            )));
        }
        for (what, b) in [
            ("--batch1", s1.batch),
            ("--probe-batch", self.probe.batch),
            ("--batch2", self.stage2.batch),
            ("--eval-batch", self.eval_batch),
        ] {
            if b < 2 {
                return Err(Error::usage(format!(
                    "{what} {b}: batch-norm training needs at least 2 images per batch"
                )));
            }
        }
        for (what, lr) in [
            ("--lr1", s1.lr),
            ("--probe-lr", self.probe.lr),
            ("--lr2", self.stage2.lr),
        ] {
            if !(lr.is_finite() && lr >= 0.0) {
                return Err(Error::usage(format!(
                    "{what} {lr}: pass a finite learning rate ≥ 0"
                )));
            }
        }
        crate::loss::bns::check_tau(s1.tau)?;
        if !(self.aug.crop_min > 0.0
            && self.aug.crop_min <= 1.0
            && (0.0..=1.0).contains(&self.aug.p_flip))
        {
            return Err(Error::usage(
                "--crop-min must be in (0, 1] and --flip in [0, 1]",
            ));
        }
        // NaN would never checkpoint inside a stage; infinity means only at stage ends.
        if self.checkpoint_every_secs.is_nan() || self.checkpoint_every_secs < 0.0 {
            return Err(Error::usage(format!(
                "--checkpoint-every {}: pass seconds ≥ 0 (0: after every optimiser step)",
                self.checkpoint_every_secs
            )));
        }
        if self.stage2.reselect_every == 0 {
            return Err(Error::usage("--reselect-every 0: pass at least 1"));
        }
        if self.stage2.k == Some(0) {
            return Err(Error::usage("--k 0: keep at least 1 image per class"));
        }
        if self.probe.per_class == 0 {
            return Err(Error::usage("--probe-per-class 0: pass at least 1"));
        }
        if self.name.is_empty()
            || self.name.contains(['/', '\\'])
            || self.name == "."
            || self.name == ".."
        {
            return Err(Error::usage(format!(
                "--name {:?}: pass a plain folder name (letters, digits, - and _)",
                self.name
            )));
        }
        if let Some(s) = &self.debug_nan_at {
            parse_stage_epoch(s)?;
        }
        Ok(())
    }
}

/// "stage1:2" → ("stage1", 2).
pub fn parse_stage_epoch(s: &str) -> Result<(String, usize)> {
    let bad = || {
        Error::usage(format!(
            "{s:?}: expected STAGE:EPOCH with STAGE one of stage1, probe, stage2 (e.g. stage1:2)"
        ))
    };
    let (st, e) = s.split_once(':').ok_or_else(bad)?;
    if !["stage1", "probe", "stage2"].contains(&st) {
        return Err(bad());
    }
    Ok((st.to_string(), e.parse().map_err(|_| bad())?))
}
