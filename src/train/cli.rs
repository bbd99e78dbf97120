//! `ipdpp demo | run | pretrain | probe | finetune | eval`: arguments, presets + overrides, and the
//! driver that prints the tables.
use super::config::{
    self, DataSource, Finetune, KernelChoice, LossForm, Precision, Preset, RunConfig,
    SelectorChoice,
};
use super::eval::Accuracy;
use super::{Options, Pipeline, Stage};
use crate::data;
use crate::device::{self, DeviceChoice};
use crate::error::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug, Clone, Default)]
pub struct PipelineArgs {
    /// Run name: everything goes under <runs-dir>/<name>/ (default: demo, or <dataset>-<preset>-if<IF>)
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// CIFAR-10/100 binaries or an `ipdpp data import` folder (demo default: the synthetic set)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// paper: BNS paper form + exact k-DPP over the IP kernel; official-code: the public code's choices
    #[arg(long, value_enum, default_value_t = Preset::Paper)]
    pub preset: Preset,
    /// Imbalance factor n_max / n_min of the long-tailed training set (presets: 100; demo: 20)
    #[arg(long)]
    pub imbalance: Option<f64>,
    /// resnet8 | resnet20 | resnet32 | resnet18 | resnet34 (presets: resnet18 for CIFAR-10, resnet34 for CIFAR-100)
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply every stage's epochs (and warm-up) by this factor (e.g. 0.1); explicit epochs win
    #[arg(long)]
    pub epochs_scale: Option<f64>,
    /// Convolution precision: fp32 (exact; every device), or tf32 / bf16 on CUDA tensor cores (sm_80+;
    /// fp32 storage and accumulation). Kept when a run is continued
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Continue runs/<name>/ from its last checkpoint
    #[arg(long)]
    pub resume: bool,
    /// Start runs/<name>/ again when it already holds a run
    #[arg(long)]
    pub overwrite: bool,
    /// Print results.json on stdout at the end instead of the tables
    #[arg(long)]
    pub json: bool,
    /// Seconds between checkpoints within a stage, checked after every optimiser step, so a checkpoint
    /// may fall inside an epoch and --resume continues from there (always at stage ends); 0: every step
    #[arg(long)]
    pub checkpoint_every: Option<f64>,
    /// Many-shot classes have more than this many training images
    #[arg(long)]
    pub many_above: Option<usize>,
    /// Few-shot classes have fewer than this many training images
    #[arg(long)]
    pub few_below: Option<usize>,
    #[arg(long)]
    pub eval_batch: Option<usize>,
    /// Smallest crop area fraction of the SimCLR augmentation (0.08, also in the demo)
    #[arg(long)]
    pub crop_min: Option<f64>,
    /// Horizontal-flip probability of the SimCLR augmentation (0.5, also in the demo)
    #[arg(long)]
    pub flip: Option<f32>,

    // Stage 1.
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub epochs1: Option<usize>,
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub batch1: Option<usize>,
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub lr1: Option<f64>,
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub wd1: Option<f64>,
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub warmup1: Option<f64>,
    /// BNS loss form: paper (groups of m+1) or code (instance shuffle)
    #[arg(long, value_enum, help_heading = "Stage 1 (BNS)")]
    pub loss: Option<LossForm>,
    /// Same-label images per anchor (paper form)
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub m: Option<usize>,
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub tau: Option<f64>,
    /// SimCLR augmentation strength of stage 1 (2)
    #[arg(long, help_heading = "Stage 1 (BNS)")]
    pub strength1: Option<f32>,

    // Probe.
    #[arg(long, help_heading = "Linear probe")]
    pub probe_epochs: Option<usize>,
    #[arg(long, help_heading = "Linear probe")]
    pub probe_batch: Option<usize>,
    #[arg(long, help_heading = "Linear probe")]
    pub probe_lr: Option<f64>,
    #[arg(long, help_heading = "Linear probe")]
    pub probe_wd: Option<f64>,
    #[arg(long, help_heading = "Linear probe")]
    pub probe_warmup: Option<f64>,
    /// At most this many images per class in the probe's training subset
    #[arg(long, help_heading = "Linear probe")]
    pub probe_per_class: Option<usize>,

    // Stage 2.
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub epochs2: Option<usize>,
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub batch2: Option<usize>,
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub lr2: Option<f64>,
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub wd2: Option<f64>,
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub warmup2: Option<f64>,
    #[arg(long, value_enum, help_heading = "Stage 2 (IP-DPP)")]
    pub kernel: Option<KernelChoice>,
    #[arg(long, value_enum, help_heading = "Stage 2 (IP-DPP)")]
    pub selector: Option<SelectorChoice>,
    /// Images kept per class (default: min(N_c, 10 · N_min))
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub k: Option<usize>,
    #[arg(long, help_heading = "Stage 2 (IP-DPP)")]
    pub reselect_every: Option<usize>,
    #[arg(long, value_enum, help_heading = "Stage 2 (IP-DPP)")]
    pub finetune: Option<Finetune>,

    /// Synthetic set (demo without --data): images of the largest class
    #[arg(long)]
    pub synthetic_n_max: Option<usize>,
    /// Synthetic set: test images per class
    #[arg(long)]
    pub synthetic_test: Option<usize>,
    /// Synthetic set: number of classes
    #[arg(long)]
    pub synthetic_classes: Option<usize>,

    /// Testing aid: make the loss NaN in STAGE:EPOCH (e.g. stage1:2)
    #[arg(long, hide = true)]
    pub debug_nan_at: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Demo,
    Run,
    Pretrain,
    Probe,
    Finetune,
    Eval,
}

/// Number of classes of the data set in `dir` (from its format, or classes.txt of an import).
fn classes_in(dir: &Path) -> Result<usize> {
    let (fmt, d) = data::detect(dir)?;
    Ok(match fmt {
        data::Format::Cifar10 => 10,
        data::Format::Cifar100 => 100,
        _ => {
            let p = d.join("classes.txt");
            let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            s.lines().filter(|l| !l.trim().is_empty()).count()
        }
    })
}

/// The configuration of a command: preset (or the demo), then every override given.
pub fn build_config(a: &PipelineArgs, demo: bool, base: Option<RunConfig>) -> Result<RunConfig> {
    let imb_name = a.imbalance.unwrap_or(if demo && a.data.is_none() {
        20.0
    } else {
        100.0
    });
    let default_name = |classes: usize| {
        if demo {
            "demo".to_string()
        } else {
            format!(
                "cifar{}-{}-if{}",
                if classes > 10 { 100 } else { 10 },
                match a.preset {
                    Preset::Paper => "paper",
                    Preset::OfficialCode => "official-code",
                },
                imb_name
            )
        }
    };
    macro_rules! set {
        ($field:expr, $v:expr) => {
            if let Some(v) = $v.clone() {
                $field = v;
            }
        };
    }
    let mut c = match &a.data {
        _ if base.is_some() => base.unwrap_or_else(|| config::demo("demo")),
        None if demo => {
            let mut c = config::demo(&a.name.clone().unwrap_or_else(|| default_name(10)));
            if a.preset == Preset::OfficialCode {
                let o = config::preset(Preset::OfficialCode, 10, c.data.source.clone(), &c.name);
                c.stage1.loss = o.stage1.loss;
                c.stage2.kernel = o.stage2.kernel;
                c.stage2.selector = o.stage2.selector;
                c.preset = "demo (official-code choices)".into();
            }
            c
        }
        None => {
            return Err(Error::usage(
                "--data DIR is required: the folder of the CIFAR-10/100 binaries or of `ipdpp data import` \
                 (or run `ipdpp demo` for the synthetic set)",
            ))
        }
        Some(dir) => {
            let classes = classes_in(dir)?;
            let name = a.name.clone().unwrap_or_else(|| default_name(classes));
            let src = DataSource::Dir { path: dir.clone() };
            let mut c = config::preset(a.preset, classes, src.clone(), &name);
            if demo {
                // The demo's short schedules and ResNet-8 on real data.
                let d = config::demo(&name);
                c.arch = d.arch;
                c.stage1 = config::Stage1Config {
                    loss: c.stage1.loss,
                    ..d.stage1
                };
                c.probe = d.probe;
                c.eval_batch = d.eval_batch;
                c.stage2 = config::Stage2Config {
                    kernel: c.stage2.kernel,
                    selector: c.stage2.selector,
                    ..d.stage2
                };
                c.preset = format!("demo on data ({})", c.preset);
                if c.stage1.loss == LossForm::Code {
                    c.stage1.batch = 128;
                }
            }
            c
        }
    };
    if let DataSource::Synthetic {
        classes,
        n_max,
        test_per_class,
        ..
    } = &mut c.data.source
    {
        set!(*classes, a.synthetic_classes);
        set!(*n_max, a.synthetic_n_max);
        set!(*test_per_class, a.synthetic_test);
    } else if a.synthetic_n_max.is_some()
        || a.synthetic_test.is_some()
        || a.synthetic_classes.is_some()
    {
        return Err(Error::usage(
            "--synthetic-* options apply to the synthetic set only; drop them with --data",
        ));
    }
    if let Some(s) = a.epochs_scale {
        c.scale_epochs(s)?;
    }
    set!(c.seed, a.seed);
    set!(c.precision, a.precision);
    set!(c.data.imbalance, a.imbalance);
    if a.many_above.is_some() {
        c.data.many_above = a.many_above;
    }
    if a.few_below.is_some() {
        c.data.few_below = a.few_below;
    }
    if let Some(s) = &a.arch {
        c.arch = config::parse_arch(s)?;
    }
    set!(c.eval_batch, a.eval_batch);
    set!(c.aug.crop_min, a.crop_min);
    set!(c.aug.p_flip, a.flip);
    set!(c.checkpoint_every_secs, a.checkpoint_every);
    set!(c.stage1.epochs, a.epochs1);
    set!(c.stage1.batch, a.batch1);
    set!(c.stage1.lr, a.lr1);
    set!(c.stage1.weight_decay, a.wd1);
    set!(c.stage1.warmup_epochs, a.warmup1);
    set!(c.stage1.loss, a.loss);
    set!(c.stage1.m, a.m);
    set!(c.stage1.tau, a.tau);
    set!(c.stage1.strength, a.strength1);
    set!(c.probe.epochs, a.probe_epochs);
    set!(c.probe.batch, a.probe_batch);
    set!(c.probe.lr, a.probe_lr);
    set!(c.probe.weight_decay, a.probe_wd);
    set!(c.probe.warmup_epochs, a.probe_warmup);
    set!(c.probe.per_class, a.probe_per_class);
    set!(c.stage2.epochs, a.epochs2);
    set!(c.stage2.batch, a.batch2);
    set!(c.stage2.lr, a.lr2);
    set!(c.stage2.weight_decay, a.wd2);
    set!(c.stage2.warmup_epochs, a.warmup2);
    set!(c.stage2.kernel, a.kernel);
    set!(c.stage2.selector, a.selector);
    if a.k.is_some() {
        c.stage2.k = a.k;
    }
    set!(c.stage2.reselect_every, a.reselect_every);
    set!(c.stage2.finetune, a.finetune);
    c.debug_nan_at = a.debug_nan_at.clone();
    // Warm-ups never exceed their schedules.
    c.stage1.warmup_epochs = c.stage1.warmup_epochs.min(c.stage1.epochs as f64);
    c.probe.warmup_epochs = c.probe.warmup_epochs.min(c.probe.epochs as f64);
    c.stage2.warmup_epochs = c.stage2.warmup_epochs.min(c.stage2.epochs as f64);
    c.validate()?;
    Ok(c)
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into())
}

/// Probe vs final, one line each.
pub fn summary(probe: Option<&Accuracy>, fin: Option<&Accuracy>) -> String {
    let mut s = format!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}\n",
        "test accuracy %", "overall", "many", "medium", "few"
    );
    for (name, a) in [
        ("stage 1 + linear probe", probe),
        ("stage 2 (IP-DPP) final", fin),
    ] {
        if let Some(a) = a {
            s += &format!(
                "{:<28} {:>8.2} {:>8} {:>8} {:>8}\n",
                name,
                a.overall,
                cell(a.many),
                cell(a.medium),
                cell(a.few)
            );
        }
    }
    s
}

pub fn run(choice: DeviceChoice, a: PipelineArgs, which: Which) -> Result<i32> {
    let demo = which == Which::Demo;
    let continuing = matches!(which, Which::Probe | Which::Finetune | Which::Eval);
    // A continued run starts from its stored configuration (data, preset, model), then the overrides.
    let base = if continuing || a.resume {
        let name = match (&a.name, demo) {
            (Some(n), _) => n.clone(),
            (None, true) => "demo".to_string(),
            (None, false) => {
                return Err(Error::usage(
                    "--name is required to continue a run (the folder name under --runs-dir)",
                ))
            }
        };
        let p = a.runs_dir.join(&name).join("config.json");
        if !p.is_file() {
            return Err(Error::usage(format!(
                "{}: no run to continue (no config.json); start it first with `ipdpp run` or `ipdpp pretrain`",
                a.runs_dir.join(&name).display()
            )));
        }
        Some(super::read_json::<RunConfig>(&p)?)
    } else {
        None
    };
    let cfg = build_config(&a, demo, base)?;
    let sel = device::select(choice)?;
    eprintln!("device: {} ({})", sel.device.name(), sel.reason);
    let opts = Options {
        runs_dir: a.runs_dir.clone(),
        resume: a.resume || continuing,
        overwrite: a.overwrite || (demo && !a.resume),
        quiet: false,
    };
    let t0 = Instant::now();
    let mut p = Pipeline::open(sel.device, cfg, &opts)?;
    p.json_stdout = a.json;
    let c = &p.cfg;
    eprintln!(
        "run {} ({} preset): {} with {} training / {} test images, {} classes, imbalance {}; {}; \
         epochs: stage 1 {}, probe {}, stage 2 {}",
        p.dir.display(),
        c.preset,
        p.data_note(),
        p.train.len(),
        p.test.len(),
        p.classes,
        c.data.imbalance,
        c.arch.name(),
        c.stage1.epochs,
        c.probe.epochs,
        c.stage2.epochs
    );
    let name = p.cfg.name.clone();
    let need = |stage: Stage, what: &str, cmd: &str| -> Result<()> {
        if p.progress.stage < stage {
            Err(Error::usage(format!(
                "{}: {what} has not finished; run `ipdpp {cmd} --name {name}` first",
                p.dir.display()
            )))
        } else {
            Ok(())
        }
    };
    match which {
        Which::Pretrain => p.run_until(Stage::Probe)?,
        Which::Probe => {
            need(Stage::Probe, "stage 1", "pretrain")?;
            p.run_until(Stage::Stage2)?
        }
        Which::Finetune => {
            need(Stage::Stage2, "the linear probe", "probe")?;
            p.run_until(Stage::Done)?
        }
        Which::Eval => {
            need(Stage::Done, "stage 2", "finetune")?;
            super::stage2::evaluate(&mut p)?;
            p.write_results()?;
        }
        Which::Run | Which::Demo => p.run_until(Stage::Done)?,
    }
    let results = p.write_results()?;
    if a.json {
        let s = std::fs::read_to_string(&results).map_err(|e| Error::io(&results, e))?;
        println!("{}", s.trim_end());
    } else if p.progress.stage == Stage::Done {
        println!(
            "{}",
            summary(
                p.progress.probe.as_ref().map(|o| &o.accuracy),
                p.progress.final_accuracy.as_ref()
            )
        );
    }
    let secs: Vec<String> = p
        .progress
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    eprintln!(
        "done in {:.1} s ({}); {} holds config.json, metrics.jsonl, results.json, checkpoints/",
        t0.elapsed().as_secs_f64(),
        secs.join(", "),
        p.dir.display()
    );
    Ok(0)
}
