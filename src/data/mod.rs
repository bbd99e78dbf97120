//! Data: CIFAR-10/100 binary files and imported image folders, long-tailed subsets, SimCLR augmentations
//! (CPU reference and CUDA), samplers, a prefetching loader and a synthetic long-tailed data set.
//!
//! Images are kept as u8 in CIFAR's own record layout: per image 3072 bytes, the R, G and B planes of
//! 32×32, row-major. Augmented batches come out as f32 NHWC in [0, 1] (no mean/std normalisation).
pub mod augment;
pub mod augment_cuda;
pub mod cifar;
pub mod cli;
pub mod folder;
pub mod loader;
pub mod longtail;
pub mod sampler;
pub mod synthetic;

use crate::error::{Error, Result};
use std::path::Path;

/// Side of every image.
pub const SIDE: usize = 32;
/// Pixels of one image.
pub const PIXELS: usize = SIDE * SIDE;
/// Bytes of one image (three planes).
pub const IMAGE_BYTES: usize = 3 * PIXELS;

/// Where a data set came from; printed by every command that reads `--data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The official CIFAR-10 binary release (`data_batch_1..5.bin`, `test_batch.bin`).
    Cifar10,
    /// The official CIFAR-100 binary release (`train.bin`, `test.bin`, coarse + fine label bytes).
    Cifar100,
    /// A folder written by `ipdpp data import` (`train.bin`, `test.bin`, `classes.txt`).
    Imported,
    /// Made in memory by [`synthetic`].
    Synthetic,
}

impl Format {
    pub fn describe(&self) -> &'static str {
        match self {
            Format::Cifar10 => "official CIFAR-10 binary",
            Format::Cifar100 => "official CIFAR-100 binary (fine labels)",
            Format::Imported => "imported image folder (ipdpp data import)",
            Format::Synthetic => "synthetic (generated in memory)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Images in memory as u8 (CIFAR layout), with labels and class names.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `len() * IMAGE_BYTES` bytes.
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    pub classes: Vec<String>,
    pub format: Format,
    pub split: Split,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }
    /// The 3072 bytes (R, G, B planes) of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }
    /// Images per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.num_classes()];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
    /// Indices of each class's images, in file order.
    pub fn indices_by_class(&self) -> Vec<Vec<usize>> {
        let mut v = vec![Vec::new(); self.num_classes()];
        for (i, &l) in self.labels.iter().enumerate() {
            v[l as usize].push(i);
        }
        v
    }
    /// A new data set of the images at `idx` (in that order).
    pub fn subset(&self, idx: &[usize]) -> Result<Dataset> {
        let mut images = Vec::with_capacity(idx.len() * IMAGE_BYTES);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            if i >= self.len() {
                return Err(Error::usage(format!(
                    "subset index {i} is out of range: the {} set has {} images (0..{})",
                    self.split.name(),
                    self.len(),
                    self.len().saturating_sub(1)
                )));
            }
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Ok(Dataset {
            images,
            labels,
            classes: self.classes.clone(),
            format: self.format,
            split: self.split,
        })
    }
}

/// Which format `dir` holds, from the file names (contents are checked when read).
pub fn detect(dir: &Path) -> Result<(Format, std::path::PathBuf)> {
    if !dir.is_dir() {
        return Err(Error::usage(format!(
            "--data {}: no such directory; pass the folder holding the CIFAR-10 binaries (data_batch_1.bin ...), \
             the CIFAR-100 binaries (train.bin, test.bin) or the output of `ipdpp data import`",
            dir.display()
        )));
    }
    // The official archives unpack into a subfolder: accept its parent too.
    for sub in ["", "cifar-10-batches-bin", "cifar-100-binary"] {
        let d = if sub.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(sub)
        };
        if d.join("data_batch_1.bin").is_file() {
            return Ok((Format::Cifar10, d));
        }
        if d.join("train.bin").is_file() {
            let f = if d.join("classes.txt").is_file() {
                Format::Imported
            } else {
                Format::Cifar100
            };
            return Ok((f, d));
        }
    }
    if dir.join("train").is_dir() {
        return Err(Error::usage(format!(
            "--data {}: this looks like an image folder (train/<class>/...); convert it first with \
             `ipdpp data import {} --out <dir>` and pass --data <dir>",
            dir.display(),
            dir.display()
        )));
    }
    Err(Error::usage(format!(
        "--data {}: no data set found (looked for data_batch_1.bin of CIFAR-10, train.bin of CIFAR-100, \
         train.bin + classes.txt of an imported folder); pass a folder holding one of these",
        dir.display()
    )))
}

/// Reads one split of the data set in `dir`, detecting its format.
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let (format, d) = detect(dir)?;
    match format {
        Format::Cifar10 => cifar::read_cifar10(&d, split),
        Format::Cifar100 => cifar::read_cifar100(&d, split),
        Format::Imported => cifar::read_imported(&d, split),
        Format::Synthetic => Err(Error::usage("a synthetic data set has no folder to read")),
    }
}

/// Whether the data set in `dir` has the files of `split` (an import without test/ writes no test.bin).
pub fn has_split(dir: &Path, split: Split) -> Result<bool> {
    let (format, d) = detect(dir)?;
    let f = match (format, split) {
        (Format::Cifar10, Split::Train) => "data_batch_1.bin",
        (Format::Cifar10, Split::Test) => "test_batch.bin",
        (_, Split::Train) => "train.bin",
        (_, Split::Test) => "test.bin",
    };
    Ok(d.join(f).is_file())
}

/// The named data set kinds of `--dataset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Cifar10,
    Cifar100,
}

impl std::str::FromStr for DatasetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "cifar10" | "cifar10lt" => Ok(DatasetKind::Cifar10),
            "cifar100" | "cifar100lt" => Ok(DatasetKind::Cifar100),
            _ => Err(Error::usage(format!(
                "unknown dataset {s:?}; use cifar10 or cifar100"
            ))),
        }
    }
}

impl DatasetKind {
    pub fn num_classes(&self) -> usize {
        match self {
            DatasetKind::Cifar10 => 10,
            DatasetKind::Cifar100 => 100,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }
}
