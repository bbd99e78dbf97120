//! Readers of the official CIFAR-10 / CIFAR-100 binary files and of folders written by `data import`.
//!
//! CIFAR-10 record: 1 label byte (0..9) + 3072 pixel bytes (R, G, B planes of 32×32, row-major).
//! CIFAR-100 record: 1 coarse label byte (0..19) + 1 fine label byte (0..99) + 3072 pixel bytes; the fine
//! label is the class. An imported folder uses CIFAR-10's record with labels below the number of lines of
//! its classes.txt.
use super::{Dataset, Format, Split, IMAGE_BYTES};
use crate::error::{Error, Result};
use std::path::Path;

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Layout of one record kind.
#[derive(Clone, Copy, Debug)]
pub struct RecordLayout {
    /// Bytes before the pixels.
    pub header: usize,
    /// Which header byte is the class label.
    pub label_byte: usize,
    /// Exclusive upper bound of the label (and of the coarse label, for CIFAR-100).
    pub num_classes: u32,
    /// Bound of the other header byte (CIFAR-100's coarse label), if any.
    pub other_bound: Option<u32>,
}

impl RecordLayout {
    pub const CIFAR10: RecordLayout = RecordLayout {
        header: 1,
        label_byte: 0,
        num_classes: 10,
        other_bound: None,
    };
    pub const CIFAR100: RecordLayout = RecordLayout {
        header: 2,
        label_byte: 1,
        num_classes: 100,
        other_bound: Some(20),
    };
    pub fn imported(num_classes: u32) -> Self {
        RecordLayout {
            header: 1,
            label_byte: 0,
            num_classes,
            other_bound: None,
        }
    }
    pub fn record_size(&self) -> usize {
        self.header + IMAGE_BYTES
    }
}

/// Parses the bytes of one file into (pixels, labels), appending. `path` only names the file in errors.
pub fn parse_records(
    bytes: &[u8],
    path: &Path,
    layout: RecordLayout,
    images: &mut Vec<u8>,
    labels: &mut Vec<u32>,
) -> Result<usize> {
    let rs = layout.record_size();
    if bytes.is_empty() {
        return Err(Error::usage(format!(
            "{}: the file is empty; expected records of {rs} bytes (re-extract or re-import the data set)",
            path.display()
        )));
    }
    let whole = bytes.len() / rs;
    if bytes.len() % rs != 0 {
        return Err(Error::usage(format!(
            "{}: truncated or wrong record size: {} bytes is not a multiple of the {rs}-byte record; \
             the record at offset {} is incomplete ({} of {rs} bytes). Is this the right file (CIFAR-10 \
             records are 3073 bytes, CIFAR-100 3074)? Re-extract it from the official archive",
            path.display(),
            bytes.len(),
            whole * rs,
            bytes.len() - whole * rs
        )));
    }
    images.reserve(whole * IMAGE_BYTES);
    labels.reserve(whole);
    for r in 0..whole {
        let rec = &bytes[r * rs..(r + 1) * rs];
        let label = rec[layout.label_byte] as u32;
        if label >= layout.num_classes {
            return Err(Error::usage(format!(
                "{}: record {r} at offset {} has label {label}, outside 0..{}; the file is corrupt or not \
                 of this format (CIFAR-10: 3073-byte records, CIFAR-100: 3074, imported: classes.txt lines)",
                path.display(),
                r * rs + layout.label_byte,
                layout.num_classes - 1
            )));
        }
        if let Some(b) = layout.other_bound {
            let other = rec[0] as u32;
            if other >= b {
                return Err(Error::usage(format!(
                    "{}: record {r} at offset {} has coarse label {other}, outside 0..{}; the file is \
                     corrupt or not a CIFAR-100 file",
                    path.display(),
                    r * rs,
                    b - 1
                )));
            }
        }
        images.extend_from_slice(&rec[layout.header..]);
        labels.push(label);
    }
    Ok(whole)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn read_files(files: &[std::path::PathBuf], layout: RecordLayout) -> Result<(Vec<u8>, Vec<u32>)> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        if !f.is_file() {
            return Err(Error::usage(format!(
                "{}: missing; the folder must hold every file of the release (re-extract the archive)",
                f.display()
            )));
        }
        parse_records(&read_file(f)?, f, layout, &mut images, &mut labels)?;
    }
    Ok((images, labels))
}

/// Class names from a text file with one name per line (blank lines ignored), if it exists.
fn names_file(path: &Path) -> Result<Option<Vec<String>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let s = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(Some(
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    ))
}

pub fn read_cifar10(dir: &Path, split: Split) -> Result<Dataset> {
    let files: Vec<_> = match split {
        Split::Train => (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    };
    let (images, labels) = read_files(&files, RecordLayout::CIFAR10)?;
    let classes = match names_file(&dir.join("batches.meta.txt"))? {
        Some(n) if n.len() == 10 => n,
        _ => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    Ok(Dataset {
        images,
        labels,
        classes,
        format: Format::Cifar10,
        split,
    })
}

pub fn read_cifar100(dir: &Path, split: Split) -> Result<Dataset> {
    let f = dir.join(match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    });
    let (images, labels) = read_files(&[f], RecordLayout::CIFAR100)?;
    let classes = match names_file(&dir.join("fine_label_names.txt"))? {
        Some(n) if n.len() == 100 => n,
        _ => (0..100).map(|i| format!("class{i:02}")).collect(),
    };
    Ok(Dataset {
        images,
        labels,
        classes,
        format: Format::Cifar100,
        split,
    })
}

pub fn read_imported(dir: &Path, split: Split) -> Result<Dataset> {
    let cpath = dir.join("classes.txt");
    let classes = names_file(&cpath)?.unwrap_or_default();
    if classes.is_empty() || classes.len() > 256 {
        return Err(Error::usage(format!(
            "{}: expected 1 to 256 class names, one per line, found {}; re-run `ipdpp data import`",
            cpath.display(),
            classes.len()
        )));
    }
    let f = dir.join(match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    });
    let (images, labels) = read_files(&[f], RecordLayout::imported(classes.len() as u32))?;
    Ok(Dataset {
        images,
        labels,
        classes,
        format: Format::Imported,
        split,
    })
}

/// Writes records of 1 label byte + 3072 pixel bytes (CIFAR-10's layout) for `ds` into `w`.
pub fn write_records(
    w: &mut impl std::io::Write,
    images: &[u8],
    labels: &[u32],
) -> std::io::Result<()> {
    for (i, &l) in labels.iter().enumerate() {
        w.write_all(&[l as u8])?;
        w.write_all(&images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES])?;
    }
    Ok(())
}
