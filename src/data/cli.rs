//! `ipdpp data ...` subcommands.
use super::longtail::{self, ShotRule};
use super::{folder, DatasetKind, Split};
use crate::error::{Error, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Convert an image folder (<folder>/{train,test}/<class>/*.jpg|png) into CIFAR-style binaries
    Import(ImportArgs),
    /// Per-class counts, total and many/medium/few split of a (long-tailed) training set
    Stats(StatsArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The image folder (holds train/ and usually test/)
    pub folder: PathBuf,
    /// Output folder: train.bin, test.bin, classes.txt
    #[arg(long)]
    pub out: PathBuf,
    /// Classes to import, in label order (default: every class folder of train/, sorted)
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Skip and count images that cannot be decoded instead of failing
    #[arg(long)]
    pub skip_bad: bool,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Folder with official CIFAR-10 or CIFAR-100 binaries, or an imported folder
    #[arg(long)]
    pub data: PathBuf,
    /// cifar10 | cifar100: checks the class count and picks the many/medium/few rule
    #[arg(long)]
    pub dataset: Option<String>,
    /// Imbalance factor n_max/n_min of the long-tailed subset (>= 1); without it, the set as it is
    #[arg(long)]
    pub imbalance: Option<f64>,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct ClassLine {
    pub class: String,
    pub train: usize,
    pub test: Option<usize>,
    pub shot: String,
}

#[derive(Debug, serde::Serialize)]
pub struct StatsReport {
    pub format: String,
    pub dataset: Option<String>,
    pub imbalance: Option<f64>,
    pub classes: Vec<ClassLine>,
    pub total: usize,
    pub test_total: Option<usize>,
    pub many: usize,
    pub medium: usize,
    pub few: usize,
    pub rule: String,
}

pub fn stats(a: &StatsArgs) -> Result<StatsReport> {
    let kind: Option<DatasetKind> = a.dataset.as_deref().map(str::parse).transpose()?;
    if let Some(f) = a.imbalance {
        if !f.is_finite() || f < 1.0 {
            return Err(Error::usage(format!(
                "--imbalance {f}: the imbalance factor is n_max/n_min and must be >= 1 (e.g. 10, 50, 100)"
            )));
        }
    }
    let train = super::load(&a.data, Split::Train)?;
    if let Some(k) = kind {
        if k.num_classes() != train.num_classes() {
            return Err(Error::usage(format!(
                "--dataset {} expects {} classes but {} holds {} ({}); pass --dataset {} or the right folder",
                k.name(),
                k.num_classes(),
                a.data.display(),
                train.num_classes(),
                train.format.describe(),
                if train.num_classes() == 100 { "cifar100" } else { "cifar10" }
            )));
        }
    }
    let train_counts = match a.imbalance {
        Some(f) => {
            let idx = longtail::indices(&train, f, None)?;
            let mut c = vec![0usize; train.num_classes()];
            for i in idx {
                c[train.labels[i] as usize] += 1;
            }
            c
        }
        None => train.class_counts(),
    };
    let test_counts = if super::has_split(&a.data, Split::Test)? {
        Some(super::load(&a.data, Split::Test)?.class_counts())
    } else {
        None
    };
    let rule = match kind {
        Some(DatasetKind::Cifar10) => ShotRule::CIFAR10,
        Some(DatasetKind::Cifar100) => ShotRule::CIFAR100,
        None => ShotRule::for_classes(train.num_classes()),
    };
    let shots = rule.groups(&train_counts);
    let count = |s| shots.iter().filter(|&&x| x == s).count();
    Ok(StatsReport {
        format: train.format.describe().into(),
        dataset: kind.map(|k| k.name().to_string()),
        imbalance: a.imbalance,
        classes: train
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| ClassLine {
                class: name.clone(),
                train: train_counts[c],
                test: test_counts.as_ref().map(|t| t[c]),
                shot: shots[c].name().into(),
            })
            .collect(),
        total: train_counts.iter().sum(),
        test_total: test_counts.as_ref().map(|t| t.iter().sum()),
        many: count(longtail::Shot::Many),
        medium: count(longtail::Shot::Medium),
        few: count(longtail::Shot::Few),
        rule: format!(
            "many > {}, medium {}-{}, few < {}",
            rule.many_above, rule.few_below, rule.many_above, rule.few_below
        ),
    })
}

impl StatsReport {
    pub fn print(&self) {
        println!("format: {}", self.format);
        match self.imbalance {
            Some(f) => println!("long-tailed training set, imbalance factor {f}"),
            None => println!("training set as it is (no --imbalance)"),
        }
        println!(
            "{:>5}  {:<16} {:>7} {:>7}  shot",
            "class", "name", "train", "test"
        );
        for (c, l) in self.classes.iter().enumerate() {
            let t = l.test.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "{c:>5}  {:<16} {:>7} {:>7}  {}",
                l.class, l.train, t, l.shot
            );
        }
        let tt = self
            .test_total
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        println!("total  {:<16} {:>7} {:>7}", "", self.total, tt);
        println!(
            "classes: many {}, medium {}, few {}  ({})",
            self.many, self.medium, self.few, self.rule
        );
    }
}

pub fn run(cmd: DataCmd) -> Result<i32> {
    match cmd {
        DataCmd::Import(a) => {
            let opt = folder::ImportOptions {
                classes: a.classes.clone(),
                skip_bad: a.skip_bad,
                progress: !a.json,
            };
            let rep = folder::import(&a.folder, &a.out, &opt)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rep).unwrap_or_default());
            } else {
                println!("imported {} into {}", a.folder.display(), a.out.display());
                println!(
                    "classes ({}): {}",
                    rep.classes.len(),
                    rep.classes.join(", ")
                );
                for s in &rep.splits {
                    println!(
                        "{:>5}: {} images ({} resized to 32x32 with a {} filter), {} skipped",
                        s.split,
                        s.images,
                        s.resized,
                        rep.resize_filter,
                        s.skipped.len()
                    );
                }
                println!("took {:.1} s", rep.seconds);
            }
            Ok(0)
        }
        DataCmd::Stats(a) => {
            let rep = stats(&a)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rep).unwrap_or_default());
            } else {
                rep.print();
            }
            Ok(0)
        }
    }
}
