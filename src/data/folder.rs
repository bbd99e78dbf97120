//! `ipdpp data import`: an image folder (`<split>/<class>/*.jpg|jpeg|png`) into CIFAR-10-style binaries.
//!
//! Output: `<out>/train.bin`, `<out>/test.bin` (records of 1 label byte + the R, G, B planes of 32×32) and
//! `<out>/classes.txt`. Files are taken in sorted name order within each class; classes in the order given
//! by `--classes`, else sorted by name. Images of 32×32 are kept as they are; other sizes are resized to
//! 32×32 (aspect ratio not kept, as torchvision's `Resize((32, 32))`) with a triangle (bilinear) filter
//! whose support widens with the scale factor when shrinking, so downscaling averages (antialiased).
//! Every output is written under a temporary name and renamed at the end: a failed import leaves nothing.
use super::{cifar, IMAGE_BYTES, PIXELS, SIDE};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Resize filter, stated in the output.
pub const RESIZE_FILTER: &str = "triangle (bilinear; area-widened when shrinking)";

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Class order (and selection); empty: every class folder of train/, sorted by name.
    pub classes: Vec<String>,
    /// Skip and count undecodable images instead of failing.
    pub skip_bad: bool,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SplitReport {
    pub split: String,
    pub images: usize,
    pub per_class: Vec<usize>,
    pub resized: usize,
    pub skipped: Vec<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub classes: Vec<String>,
    pub splits: Vec<SplitReport>,
    pub resize_filter: String,
    pub seconds: f64,
}

impl ImportReport {
    pub fn skipped(&self) -> usize {
        self.splits.iter().map(|s| s.skipped.len()).sum()
    }
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("jpg" | "jpeg" | "png")
    )
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut v = Vec::new();
    for e in rd {
        v.push(e.map_err(|e| Error::io(dir, e))?.path());
    }
    v.sort();
    Ok(v)
}

fn class_dirs(split_dir: &Path) -> Result<Vec<String>> {
    Ok(sorted_entries(split_dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
        .filter(|n| !n.starts_with('.'))
        .collect())
}

/// Decodes one file into the 3072 planar bytes; `resized` tells whether the size was not 32×32.
pub fn decode_image(path: &Path) -> std::result::Result<(Vec<u8>, bool), String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    let rgb = img.to_rgb8();
    let resized = rgb.width() as usize != SIDE || rgb.height() as usize != SIDE;
    let rgb = if resized {
        image::imageops::resize(
            &rgb,
            SIDE as u32,
            SIDE as u32,
            image::imageops::FilterType::Triangle,
        )
    } else {
        rgb
    };
    let raw = rgb.as_raw();
    let mut out = vec![0u8; IMAGE_BYTES];
    for p in 0..PIXELS {
        for c in 0..3 {
            out[c * PIXELS + p] = raw[p * 3 + c];
        }
    }
    Ok((out, resized))
}

/// Removes the temporary files unless disarmed (so a failed import leaves nothing behind).
struct TempGuard {
    paths: Vec<PathBuf>,
    created_dir: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
        if let Some(d) = &self.created_dir {
            let _ = std::fs::remove_dir(d); // only if empty
        }
    }
}

struct Decoded {
    images: Vec<u8>,
    labels: Vec<u32>,
    report: SplitReport,
}

fn import_split(
    split_dir: &Path,
    split: &str,
    classes: &[String],
    opt: &ImportOptions,
    pb: &indicatif::ProgressBar,
) -> Result<Decoded> {
    // Unknown class folders are an error without --classes (they would be silently dropped).
    if opt.classes.is_empty() {
        for c in class_dirs(split_dir)? {
            if !classes.contains(&c) {
                return Err(Error::usage(format!(
                    "{}: class folder {c:?} does not exist in train/; make the class folders of both \
                     splits agree, or name the classes to import with --classes",
                    split_dir.display()
                )));
            }
        }
    }
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    let mut per_class = vec![0usize; classes.len()];
    for (ci, c) in classes.iter().enumerate() {
        let d = split_dir.join(c);
        if !d.is_dir() {
            return Err(Error::usage(format!(
                "{}: missing class folder {c:?}; every class needs a folder in {split}/ (check --classes)",
                d.display()
            )));
        }
        let imgs: Vec<PathBuf> = sorted_entries(&d)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if imgs.is_empty() {
            return Err(Error::usage(format!(
                "{}: class {c:?} has no image (.jpg, .jpeg, .png) in {split}/; add images or leave the \
                 class out with --classes",
                d.display()
            )));
        }
        per_class[ci] = imgs.len();
        files.extend(imgs.into_iter().map(|p| (p, ci as u32)));
    }
    pb.set_message(split.to_string());
    let decoded: Vec<std::result::Result<(Vec<u8>, bool), String>> = files
        .par_iter()
        .map(|(p, _)| {
            let r = decode_image(p);
            pb.inc(1);
            r
        })
        .collect();
    let mut rep = SplitReport {
        split: split.into(),
        per_class: vec![0; classes.len()],
        ..Default::default()
    };
    let mut images = Vec::with_capacity(files.len() * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(files.len());
    for ((path, label), r) in files.iter().zip(decoded) {
        match r {
            Ok((px, resized)) => {
                images.extend_from_slice(&px);
                labels.push(*label);
                rep.per_class[*label as usize] += 1;
                rep.resized += resized as usize;
            }
            Err(e) if opt.skip_bad => {
                pb.suspend(|| eprintln!("skipped {}: {e}", path.display()));
                rep.skipped.push(path.display().to_string());
            }
            Err(e) => {
                return Err(Error::usage(format!(
                    "{}: cannot decode this image ({e}); fix or remove the file, or pass --skip-bad to \
                     skip and count such files",
                    path.display()
                )))
            }
        }
    }
    for (ci, &n) in rep.per_class.iter().enumerate() {
        if n == 0 {
            return Err(Error::usage(format!(
                "{split}/{}: every image of this class was unreadable; nothing to import for it",
                classes[ci]
            )));
        }
    }
    rep.images = labels.len();
    let _ = per_class;
    Ok(Decoded {
        images,
        labels,
        report: rep,
    })
}

fn write_atomic_tmp(
    tmp: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut w = std::io::BufWriter::new(file);
    f(&mut w).map_err(|e| Error::io(tmp, e))?;
    let file = w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))
}

/// Imports `folder` into `out`. Returns what was written.
pub fn import(folder: &Path, out: &Path, opt: &ImportOptions) -> Result<ImportReport> {
    let t0 = std::time::Instant::now();
    if !folder.is_dir() {
        return Err(Error::usage(format!(
            "{}: no such folder; pass an image folder laid out as <folder>/train/<class>/*.jpg (and test/)",
            folder.display()
        )));
    }
    let train_dir = folder.join("train");
    if !train_dir.is_dir() {
        return Err(Error::usage(format!(
            "{}: no train/ folder; an image folder holds train/<class>/*.jpg|png and test/<class>/...",
            folder.display()
        )));
    }
    let classes: Vec<String> = if opt.classes.is_empty() {
        class_dirs(&train_dir)?
    } else {
        let mut seen = std::collections::HashSet::new();
        for c in &opt.classes {
            if c.is_empty() || !seen.insert(c) {
                return Err(Error::usage(format!(
                    "--classes: {} class name {c:?}; pass distinct names separated by commas",
                    if c.is_empty() { "empty" } else { "repeated" }
                )));
            }
        }
        opt.classes.clone()
    };
    if classes.is_empty() {
        return Err(Error::usage(format!(
            "{}: no class folder; put each class's images in train/<class>/",
            train_dir.display()
        )));
    }
    if classes.len() > 256 {
        return Err(Error::usage(format!(
            "{} classes: the record format stores the label in one byte (at most 256 classes)",
            classes.len()
        )));
    }
    let test_dir = folder.join("test");
    let splits: Vec<(&str, PathBuf)> = if test_dir.is_dir() {
        vec![("train", train_dir), ("test", test_dir)]
    } else {
        eprintln!(
            "note: {} has no test/ folder: only train.bin is written",
            folder.display()
        );
        vec![("train", train_dir)]
    };

    let out_existed = out.is_dir();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let pid = std::process::id();
    let mut guard = TempGuard {
        paths: Vec::new(),
        created_dir: (!out_existed).then(|| out.to_path_buf()),
    };

    // Count files first so the bar has a length.
    let mut total = 0u64;
    for (_, d) in &splits {
        for c in &classes {
            if let Ok(es) = std::fs::read_dir(d.join(c)) {
                total += es
                    .filter_map(|e| e.ok())
                    .filter(|e| is_image(&e.path()))
                    .count() as u64;
            }
        }
    }
    let pb = if opt.progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>5} [{bar:40}] {pos}/{len} images {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );

    let mut report = ImportReport {
        classes: classes.clone(),
        resize_filter: RESIZE_FILTER.into(),
        ..Default::default()
    };
    let mut finals = Vec::new();
    for (name, dir) in &splits {
        let d = import_split(dir, name, &classes, opt, &pb)?;
        let tmp = out.join(format!(".{name}.bin.tmp-{pid}"));
        guard.paths.push(tmp.clone());
        write_atomic_tmp(&tmp, |w| cifar::write_records(w, &d.images, &d.labels))?;
        finals.push((tmp, out.join(format!("{name}.bin"))));
        report.splits.push(d.report);
    }
    pb.finish_and_clear();
    let tmp = out.join(format!(".classes.txt.tmp-{pid}"));
    guard.paths.push(tmp.clone());
    write_atomic_tmp(&tmp, |w| {
        use std::io::Write;
        for c in &classes {
            writeln!(w, "{c}")?;
        }
        Ok(())
    })?;
    finals.push((tmp, out.join("classes.txt")));
    // A stale test.bin from an earlier import must not pair with the new train.bin.
    if splits.len() == 1 {
        let stale = out.join("test.bin");
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
        }
    }
    for (tmp, fin) in &finals {
        std::fs::rename(tmp, fin).map_err(|e| Error::io(fin, e))?;
    }
    guard.paths.clear();
    guard.created_dir = None;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}
