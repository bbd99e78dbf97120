//! Data pipeline: readers, long-tailed counts, import, generator, augmentations, samplers, loader.
use super::common::fixture;
use ipdpp::data::augment::{self as aug, Augment, Item, SimclrConfig, SimclrParams};
use ipdpp::data::cifar::RecordLayout;
use ipdpp::data::{
    self, folder, longtail, sampler, synthetic, Dataset, Format, Split, IMAGE_BYTES, PIXELS,
};
use ipdpp::rng::{philox4x32_10, u01_f32};
use std::path::{Path, PathBuf};

/// A fresh empty folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "ipdpp-data-{tag}-{}-{}",
            std::process::id(),
            ipdpp::rng::fresh_seed()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err_text<T: std::fmt::Debug>(r: ipdpp::Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Deterministic pixel bytes for image `i`.
fn pixels(i: usize) -> Vec<u8> {
    (0..IMAGE_BYTES)
        .map(|k| ((k * 7 + i * 131) % 251) as u8)
        .collect()
}

fn write_cifar10(dir: &Path, per_file: &[Vec<u8>], test_labels: &[u8]) {
    for (f, labels) in per_file.iter().enumerate() {
        let mut b = Vec::new();
        for (r, &l) in labels.iter().enumerate() {
            b.push(l);
            b.extend(pixels(f * 1000 + r));
        }
        std::fs::write(dir.join(format!("data_batch_{}.bin", f + 1)), b).unwrap();
    }
    let mut b = Vec::new();
    for (r, &l) in test_labels.iter().enumerate() {
        b.push(l);
        b.extend(pixels(9000 + r));
    }
    std::fs::write(dir.join("test_batch.bin"), b).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Generator

#[test]
fn philox_known_answers() {
    // Known-answer vectors of Philox-4x32-10 (Random123's kat_vectors).
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn uniforms_cover_the_unit_interval_evenly() {
    let mut hist = [0usize; 10];
    for i in 0..20_000u32 {
        for w in philox4x32_10([i, 7, 0, 0], [1, 2]) {
            let u = u01_f32(w);
            assert!((0.0..1.0).contains(&u));
            hist[(u * 10.0) as usize] += 1;
        }
    }
    for h in hist {
        assert!((7_600..8_400).contains(&h), "{hist:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Readers

#[test]
fn cifar10_reader_reads_records_and_detects_format() {
    let t = TempDir::new("c10");
    let files: Vec<Vec<u8>> = (0..5)
        .map(|f| (0..4).map(|r| ((f * 4 + r) % 10) as u8).collect())
        .collect();
    write_cifar10(t.path(), &files, &[3, 9]);
    let ds = data::load(t.path(), Split::Train).unwrap();
    assert_eq!(ds.format, Format::Cifar10);
    assert_eq!(ds.len(), 20);
    assert_eq!(
        ds.labels,
        (0..20).map(|i| (i % 10) as u32).collect::<Vec<_>>()
    );
    assert_eq!(ds.image(5), &pixels(1000 + 1)[..]);
    assert_eq!(ds.classes[0], "airplane");
    let te = data::load(t.path(), Split::Test).unwrap();
    assert_eq!(te.labels, vec![3, 9]);
    assert_eq!(te.image(1), &pixels(9001)[..]);
    // The official archive's subfolder is found from its parent.
    let parent = TempDir::new("c10p");
    let sub = parent.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&sub).unwrap();
    write_cifar10(&sub, &files, &[1]);
    assert_eq!(data::load(parent.path(), Split::Train).unwrap().len(), 20);
}

#[test]
fn truncated_file_and_bad_label_name_file_and_offset() {
    let t = TempDir::new("c10bad");
    let files: Vec<Vec<u8>> = (0..5).map(|_| vec![1, 2, 3]).collect();
    write_cifar10(t.path(), &files, &[0]);
    let p = t.path().join("data_batch_3.bin");
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(2 * 3073 + 100);
    std::fs::write(&p, &b).unwrap();
    let e = err_text(data::load(t.path(), Split::Train));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("offset 6146") && e.contains("truncated"),
        "{e}"
    );

    let mut b = std::fs::read(t.path().join("data_batch_1.bin")).unwrap();
    b[3073] = 10; // label of record 1
    let e = err_text(data::cifar::parse_records(
        &b,
        Path::new("x.bin"),
        RecordLayout::CIFAR10,
        &mut vec![],
        &mut vec![],
    ));
    assert!(
        e.contains("x.bin")
            && e.contains("record 1")
            && e.contains("offset 3073")
            && e.contains("label 10"),
        "{e}"
    );

    std::fs::copy(t.path().join("data_batch_2.bin"), &p).unwrap();
    assert_eq!(data::load(t.path(), Split::Train).unwrap().len(), 15);
    std::fs::remove_file(t.path().join("data_batch_5.bin")).unwrap();
    let e = err_text(data::load(t.path(), Split::Train));
    assert!(
        e.contains("data_batch_5.bin") && e.contains("missing"),
        "{e}"
    );
}

#[test]
fn cifar100_reader_uses_fine_labels_and_checks_both() {
    let t = TempDir::new("c100");
    let mut b = Vec::new();
    for r in 0..6u8 {
        b.push(r % 20);
        b.push(r * 17 % 100);
        b.extend(pixels(r as usize));
    }
    std::fs::write(t.path().join("train.bin"), &b).unwrap();
    std::fs::write(t.path().join("test.bin"), &b[..3074]).unwrap();
    let ds = data::load(t.path(), Split::Train).unwrap();
    assert_eq!(ds.format, Format::Cifar100);
    assert_eq!(ds.num_classes(), 100);
    assert_eq!(
        ds.labels,
        (0..6u32).map(|r| r * 17 % 100).collect::<Vec<_>>()
    );
    assert_eq!(ds.image(4), &pixels(4)[..]);
    assert_eq!(data::load(t.path(), Split::Test).unwrap().len(), 1);
    // A CIFAR-10 file under CIFAR-100's name: wrong record size.
    std::fs::write(t.path().join("train.bin"), vec![0u8; 3073 * 2]).unwrap();
    let e = err_text(data::load(t.path(), Split::Train));
    assert!(e.contains("train.bin") && e.contains("3074"), "{e}");
    let mut bad = b.clone();
    bad[3074] = 25; // coarse label of record 1
    let e = err_text(data::cifar::parse_records(
        &bad,
        Path::new("t.bin"),
        RecordLayout::CIFAR100,
        &mut vec![],
        &mut vec![],
    ));
    assert!(
        e.contains("coarse label 25") && e.contains("offset 3074"),
        "{e}"
    );
}

#[test]
fn detect_explains_missing_and_image_folders() {
    let e = err_text(data::load(Path::new("/nonexistent/cifar"), Split::Train));
    assert!(
        e.contains("no such directory") && e.contains("data_batch_1.bin"),
        "{e}"
    );
    let t = TempDir::new("empty");
    let e = err_text(data::load(t.path(), Split::Train));
    assert!(e.contains("no data set found"), "{e}");
    let e = err_text(data::load(&fixture("data/cifar10-mini"), Split::Train));
    assert!(e.contains("ipdpp data import"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Long-tailed construction

#[test]
fn cifar10_lt_if100_counts_are_exact() {
    let c = longtail::counts(5000, 10, 100.0).unwrap();
    assert_eq!(c, vec![5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
    assert_eq!(c.iter().sum::<usize>(), 12_406);
    // CIFAR-100-LT at IF 100: 10,847 images, 500 down to 5.
    let c = longtail::counts(500, 100, 100.0).unwrap();
    assert_eq!((c[0], c[99], c.iter().sum::<usize>()), (500, 5, 10_847));
    // IF 10 and 50 of CIFAR-10-LT (LDAM's tables): 20,431 and 13,996.
    assert_eq!(
        longtail::counts(5000, 10, 10.0)
            .unwrap()
            .iter()
            .sum::<usize>(),
        20_431
    );
    assert_eq!(
        longtail::counts(5000, 10, 50.0)
            .unwrap()
            .iter()
            .sum::<usize>(),
        13_996
    );
    for f in [0.5, 0.0, -3.0, f64::NAN] {
        let e = err_text(longtail::counts(5000, 10, f));
        assert!(e.contains("must be >= 1"), "{e}");
    }
}

#[test]
fn longtail_keeps_the_first_images_of_each_class_in_file_order() {
    // 50,000 labels in a shuffled order, as in the official files; pixels are not needed for indices.
    let mut labels: Vec<u32> = (0..50_000).map(|i| (i % 10) as u32).collect();
    let mut s = 12345u64;
    for i in (1..labels.len()).rev() {
        s = ipdpp::rng::mix64(s);
        labels.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let ds = Dataset {
        images: vec![],
        labels: labels.clone(),
        classes: (0..10).map(|c| c.to_string()).collect(),
        format: Format::Cifar10,
        split: Split::Train,
    };
    let idx = longtail::indices(&ds, 100.0, None).unwrap();
    assert_eq!(idx.len(), 12_406);
    let want = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];
    for c in 0..10u32 {
        let mine: Vec<usize> = idx.iter().copied().filter(|&i| labels[i] == c).collect();
        let first: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] == c)
            .take(want[c as usize])
            .collect();
        assert_eq!(mine, first, "class {c}");
    }
    let rule = longtail::ShotRule::CIFAR10;
    let g = rule.groups(&want);
    let n = |s| g.iter().filter(|&&x| x == s).count();
    assert_eq!(
        (
            n(longtail::Shot::Many),
            n(longtail::Shot::Medium),
            n(longtail::Shot::Few)
        ),
        (5, 2, 3)
    );
}

#[test]
fn stats_command_on_a_small_cifar10_folder() {
    let t = TempDir::new("stats");
    // 30 images per class, labels interleaved over five files.
    let files: Vec<Vec<u8>> = (0..5)
        .map(|f| (0..60).map(|r| ((f * 60 + r) % 10) as u8).collect())
        .collect();
    write_cifar10(t.path(), &files, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let a = data::cli::StatsArgs {
        data: t.path().into(),
        dataset: Some("cifar10".into()),
        imbalance: Some(10.0),
        json: false,
    };
    let rep = data::cli::stats(&a).unwrap();
    let want = longtail::counts(30, 10, 10.0).unwrap();
    assert_eq!(
        rep.classes.iter().map(|c| c.train).collect::<Vec<_>>(),
        want
    );
    assert_eq!(rep.total, want.iter().sum::<usize>());
    assert_eq!(rep.test_total, Some(10));
    assert!(rep.format.contains("CIFAR-10"));
    assert_eq!(
        rep.few, 10,
        "every class < 200 images is few-shot under the CIFAR-10 rule"
    );
    assert_eq!(data::cli::run(data::cli::DataCmd::Stats(a)).unwrap(), 0);

    let bad = |dataset: &str, imb: f64| data::cli::StatsArgs {
        data: t.path().into(),
        dataset: Some(dataset.into()),
        imbalance: Some(imb),
        json: false,
    };
    let e = err_text(data::cli::stats(&bad("imagenet", 10.0)));
    assert!(
        e.contains("unknown dataset") && e.contains("cifar10 or cifar100"),
        "{e}"
    );
    let e = err_text(data::cli::stats(&bad("cifar100", 10.0)));
    assert!(e.contains("expects 100 classes"), "{e}");
    let e = err_text(data::cli::stats(&bad("cifar10", 0.5)));
    assert!(e.contains("must be >= 1"), "{e}");
    let e = err_text(data::cli::stats(&bad("cifar10", 100.0)));
    assert!(e.contains("would keep no image"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Import

fn import(
    src: &Path,
    out: &Path,
    classes: &[&str],
    skip_bad: bool,
) -> ipdpp::Result<folder::ImportReport> {
    let opt = folder::ImportOptions {
        classes: classes.iter().map(|s| s.to_string()).collect(),
        skip_bad,
        progress: false,
    };
    folder::import(src, out, &opt)
}

fn decode_planar(p: &Path) -> Vec<u8> {
    let img = image::open(p).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (32, 32));
    let mut v = vec![0u8; IMAGE_BYTES];
    for (x, y, px) in img.enumerate_pixels() {
        for c in 0..3 {
            v[c * PIXELS + y as usize * 32 + x as usize] = px[c];
        }
    }
    v
}

#[test]
fn import_cifar_jpeg_fixtures() {
    let src = fixture("data/cifar10-mini");
    let t = TempDir::new("imp");
    let out = t.path().join("out");
    let rep = import(&src, &out, &[], false).unwrap();
    assert_eq!(rep.classes, vec!["airplane", "cat", "truck"]);
    assert_eq!((rep.splits[0].images, rep.splits[1].images), (12, 6));
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "airplane\ncat\ntruck\n"
    );
    assert_eq!(
        std::fs::metadata(out.join("train.bin")).unwrap().len(),
        12 * 3073
    );
    let ds = data::load(&out, Split::Train).unwrap();
    assert_eq!(ds.format, Format::Imported);
    assert_eq!(ds.labels, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // Sorted name order within a class, pixels as the JPEG decodes, planar.
    assert_eq!(
        ds.image(5),
        &decode_planar(&src.join("train/cat/0001.jpg"))[..]
    );
    assert_eq!(
        ds.image(11),
        &decode_planar(&src.join("train/truck/0003.jpg"))[..]
    );
    let te = data::load(&out, Split::Test).unwrap();
    assert_eq!(te.labels, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(
        te.image(2),
        &decode_planar(&src.join("test/cat/0000.jpg"))[..]
    );
    // No temporary file is left.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["classes.txt", "test.bin", "train.bin"]);

    // --classes picks and orders.
    let out2 = t.path().join("out2");
    let rep = import(&src, &out2, &["truck", "airplane"], false).unwrap();
    assert_eq!(rep.classes, vec!["truck", "airplane"]);
    let ds2 = data::load(&out2, Split::Train).unwrap();
    assert_eq!(ds2.labels, vec![0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(ds2.image(0), ds.image(8));
    let e = err_text(import(&src, &t.path().join("o3"), &["cat", "horse"], false));
    assert!(e.contains("horse") && e.contains("--classes"), "{e}");
    assert!(
        !t.path().join("o3").exists(),
        "a failed import leaves no folder it created"
    );
}

fn save_png(p: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)))
        .save(p)
        .unwrap();
}

#[test]
fn import_generated_images_resizes_and_handles_bad_files() {
    let t = TempDir::new("gen");
    let src = t.path().join("src");
    let px = |x: u32, y: u32| [(x * 8) as u8, (y * 8) as u8, ((x + y) * 3) as u8];
    save_png(&src.join("train/b/img1.png"), 32, 32, px);
    save_png(&src.join("train/b/img0.png"), 32, 32, |_, _| [10, 20, 30]);
    save_png(&src.join("train/a/big.png"), 96, 64, |_, _| [200, 100, 50]);
    // A grayscale image becomes three equal planes.
    std::fs::create_dir_all(src.join("test/a")).unwrap();
    image::GrayImage::from_fn(32, 32, |x, _| image::Luma([x as u8 * 4]))
        .save(src.join("test/a/g.png"))
        .unwrap();
    save_png(&src.join("test/b/x.png"), 32, 32, px);
    let out = t.path().join("out");
    let rep = import(&src, &out, &[], false).unwrap();
    assert_eq!(rep.splits[0].resized, 1);
    let ds = data::load(&out, Split::Train).unwrap();
    assert_eq!(ds.labels, vec![0, 1, 1]);
    assert!(
        ds.image(0)
            .chunks(PIXELS)
            .zip([200u8, 100, 50])
            .all(|(pl, v)| pl.iter().all(|&b| b == v)),
        "a flat image stays flat after resizing"
    );
    assert!(
        ds.image(1)
            .chunks(PIXELS)
            .zip([10u8, 20, 30])
            .all(|(pl, v)| pl.iter().all(|&b| b == v)),
        "img0 sorts before img1"
    );
    let im = ds.image(2);
    assert_eq!(
        (im[5], im[PIXELS + 3 * 32], im[2 * PIXELS + 32 + 2]),
        (40, 24, 9),
        "planar R, G, B at (0,5), (3,0), (1,2)"
    );
    let te = data::load(&out, Split::Test).unwrap();
    let g = te.image(0);
    assert_eq!((g[7], g[PIXELS + 7], g[2 * PIXELS + 7]), (28, 28, 28));

    // A corrupt file: an error naming it, and the earlier output is untouched.
    std::fs::write(src.join("train/b/zz.jpg"), b"not a jpeg at all").unwrap();
    let before = std::fs::read(out.join("train.bin")).unwrap();
    let e = err_text(import(&src, &out, &[], false));
    assert!(e.contains("zz.jpg") && e.contains("--skip-bad"), "{e}");
    assert_eq!(std::fs::read(out.join("train.bin")).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        3,
        "no temporary file survives"
    );
    let rep = import(&src, &out, &[], true).unwrap();
    assert_eq!(rep.skipped(), 1);
    assert_eq!(data::load(&out, Split::Train).unwrap().len(), 3);

    // An empty class, a missing folder, no train/.
    std::fs::create_dir_all(src.join("train/c")).unwrap();
    let e = err_text(import(&src, &t.path().join("o2"), &[], false));
    assert!(e.contains("has no image") && e.contains("\"c\""), "{e}");
    let e = err_text(import(
        &t.path().join("nope"),
        &t.path().join("o2"),
        &[],
        false,
    ));
    assert!(e.contains("no such folder"), "{e}");
    let e = err_text(import(&src.join("train"), &t.path().join("o2"), &[], false));
    assert!(e.contains("no train/"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Augmentations

fn rand_image(seed: u32) -> Vec<u8> {
    (0..IMAGE_BYTES as u32)
        .map(|k| (philox4x32_10([k, seed, 0, 9], [3, 4])[0] >> 24) as u8)
        .collect()
}

fn hwc(src: &[u8]) -> Vec<f32> {
    let mut o = vec![0.0; IMAGE_BYTES];
    aug::to_hwc(src, &mut o);
    o
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn crop_resize_identity_and_known_bilinear_values() {
    let src = rand_image(1);
    let mut o = vec![0.0; IMAGE_BYTES];
    aug::resized_crop(&src, 0, 0, 32, 32, &mut o);
    assert_eq!(o, hwc(&src));
    // A horizontal ramp R = 8x; crop columns 4..20 (w 16) and upscale 2x: src x = 0.5·(dx + 0.5) − 0.5.
    let mut ramp = vec![0u8; IMAGE_BYTES];
    for (p, v) in ramp[..PIXELS].iter_mut().enumerate() {
        *v = (p % 32 * 8) as u8;
    }
    aug::resized_crop(&ramp, 0, 4, 32, 16, &mut o);
    let r = |x: usize| o[(5 * 32 + x) * 3] * 255.0;
    assert!(
        (r(0) - 32.0).abs() < 1e-4,
        "clamped to the first column: {}",
        r(0)
    );
    assert!(
        (r(1) - (0.75 * 32.0 + 0.25 * 40.0)).abs() < 1e-4,
        "{}",
        r(1)
    );
    assert!(
        (r(2) - (0.25 * 32.0 + 0.75 * 40.0)).abs() < 1e-4,
        "{}",
        r(2)
    );
    assert!(
        (r(31) - 152.0).abs() < 1e-4,
        "last column clamps: {}",
        r(31)
    );
}

#[test]
fn flip_twice_is_identity_and_flip_mirrors() {
    let mut a = hwc(&rand_image(2));
    let orig = a.clone();
    aug::hflip(&mut a);
    assert_ne!(a, orig);
    assert_eq!(&a[0..3], &orig[31 * 3..32 * 3]);
    aug::hflip(&mut a);
    assert_eq!(a, orig);
}

#[test]
fn colour_ops_identities_and_known_values() {
    let orig = hwc(&rand_image(3));
    let mut a = orig.clone();
    aug::adjust_brightness(&mut a, 1.0);
    aug::adjust_contrast(&mut a, 1.0);
    aug::adjust_saturation(&mut a, 1.0);
    assert!(max_diff(&a, &orig) < 1e-6);
    aug::adjust_hue(&mut a, 0.0);
    assert!(
        max_diff(&a, &orig) < 2e-6,
        "HSV round trip: {}",
        max_diff(&a, &orig)
    );
    // Brightness scales and clamps.
    let mut a = orig.clone();
    aug::adjust_brightness(&mut a, 2.0);
    assert!(a
        .iter()
        .zip(&orig)
        .all(|(x, o)| (x - (2.0 * o).min(1.0)).abs() < 1e-6));
    // Contrast 0: every value is the mean grey.
    let mut a = orig.clone();
    aug::adjust_contrast(&mut a, 0.0);
    let mean: f32 = orig
        .chunks(3)
        .map(|p| aug::gray_of(p[0], p[1], p[2]))
        .sum::<f32>()
        / 1024.0;
    assert!(a.iter().all(|&x| (x - mean).abs() < 1e-5));
    // Saturation 0 = grayscale.
    let (mut a, mut g) = (orig.clone(), orig.clone());
    aug::adjust_saturation(&mut a, 0.0);
    aug::grayscale(&mut g);
    assert!(max_diff(&a, &g) < 1e-6);
    // Known values: pure red → grey 0.2989; hue +1/3 turns red into green, −1/3 into blue.
    let mut px = [1.0f32, 0.0, 0.0].repeat(1024);
    aug::grayscale(&mut px);
    assert!((px[0] - 0.2989).abs() < 1e-6 && px[1] == px[0] && px[2] == px[0]);
    let mut red = [1.0f32, 0.0, 0.0].repeat(1024);
    aug::adjust_hue(&mut red, 1.0 / 3.0);
    assert!(
        max_diff(&red[..3], &[0.0, 1.0, 0.0]) < 1e-5,
        "{:?}",
        &red[..3]
    );
    let mut red = [1.0f32, 0.0, 0.0].repeat(1024);
    aug::adjust_hue(&mut red, -1.0 / 3.0);
    assert!(
        max_diff(&red[..3], &[0.0, 0.0, 1.0]) < 1e-5,
        "{:?}",
        &red[..3]
    );
    let (h, s, v) = aug::rgb_to_hsv(0.2, 0.4, 0.8);
    let (r, g, b) = aug::hsv_to_rgb(h, s, v);
    assert!(
        (h - (4.0 + (0.8 - 0.4) / 0.6 - 0.0) / 6.0 % 1.0).abs() < 1e-6
            || (h - 0.611_111).abs() < 1e-5,
        "h {h}"
    );
    assert!(max_diff(&[r, g, b], &[0.2, 0.4, 0.8]) < 1e-6);
}

#[test]
fn blur_weights_constant_images_and_reflect_padding() {
    let k = aug::gauss3(1.0);
    let e = (-0.5f32).exp();
    assert!(
        (k[0] - e / (1.0 + 2.0 * e)).abs() < 1e-7 && (k.iter().sum::<f32>() - 1.0).abs() < 1e-6
    );
    let mut flat = vec![0.37f32; IMAGE_BYTES];
    aug::gaussian_blur3(&mut flat, 1.7);
    assert!(flat.iter().all(|&x| (x - 0.37).abs() < 1e-6));
    // A single bright interior pixel spreads as the outer product of the taps.
    let mut d = vec![0.0f32; IMAGE_BYTES];
    d[(10 * 32 + 10) * 3 + 1] = 1.0;
    aug::gaussian_blur3(&mut d, 0.8);
    let k = aug::gauss3(0.8);
    assert!((d[(10 * 32 + 10) * 3 + 1] - k[1] * k[1]).abs() < 1e-6);
    assert!((d[(9 * 32 + 11) * 3 + 1] - k[0] * k[2]).abs() < 1e-6);
    assert_eq!(d[(10 * 32 + 10) * 3], 0.0, "channels stay separate");
    // Reflect: a bright pixel in column 0 is mirrored to column −1 = column 1, so column 0 gets k1 + 0.
    let mut c = vec![0.0f32; IMAGE_BYTES];
    c[(5 * 32 + 1) * 3] = 1.0;
    aug::gaussian_blur3(&mut c, 0.8);
    assert!(
        (c[(5 * 32) * 3] - 2.0 * k[0] * k[1]).abs() < 1e-6,
        "{}",
        c[(5 * 32) * 3]
    );
}

#[test]
fn padcrop_centre_is_identity_and_offsets_pad_with_zeros() {
    let src = rand_image(4);
    let mut o = vec![0.0; IMAGE_BYTES];
    aug::apply_padcrop(
        &src,
        &aug::PadCropParams {
            dy: 4,
            dx: 4,
            flip: false,
        },
        &mut o,
    );
    assert_eq!(o, hwc(&src));
    aug::apply_padcrop(
        &src,
        &aug::PadCropParams {
            dy: 0,
            dx: 8,
            flip: false,
        },
        &mut o,
    );
    let h = hwc(&src);
    for x in 0..32 {
        for c in 0..3 {
            assert_eq!(o[(2 * 32 + x) * 3 + c], 0.0, "rows 0..4 are padding");
            let want = if x < 28 {
                h[(2 * 32 + x + 4) * 3 + c]
            } else {
                0.0
            };
            assert_eq!(o[(6 * 32 + x) * 3 + c], want, "x {x}");
        }
    }
    aug::apply_padcrop(
        &src,
        &aug::PadCropParams {
            dy: 4,
            dx: 4,
            flip: true,
        },
        &mut o,
    );
    let mut f = hwc(&src);
    aug::hflip(&mut f);
    assert_eq!(o, f);
}

#[test]
fn simclr_params_are_deterministic_keyed_and_in_range() {
    let cfg = SimclrConfig::with_strength(1.0);
    let p = aug::simclr_params(&cfg, 7, 3, 11, 0);
    assert_eq!(p, aug::simclr_params(&cfg, 7, 3, 11, 0));
    assert_ne!(p, aug::simclr_params(&cfg, 7, 3, 11, 1), "views differ");
    assert_ne!(p, aug::simclr_params(&cfg, 7, 4, 11, 0), "epochs differ");
    assert_ne!(p, aug::simclr_params(&cfg, 8, 3, 11, 0), "seeds differ");
    let n = 4000;
    let (mut flips, mut jit, mut gray, mut area) = (0, 0, 0, 0.0f64);
    for i in 0..n {
        let p = aug::simclr_params(&cfg, 99, 0, i, 0);
        assert!(
            p.crop_h >= 1
                && p.crop_w >= 1
                && p.crop_i + p.crop_h <= 32
                && p.crop_j + p.crop_w <= 32,
            "{p:?}"
        );
        let a = (p.crop_h * p.crop_w) as f64 / 1024.0;
        assert!((0.06..=1.0).contains(&a), "area fraction {a}");
        let ratio = p.crop_w as f64 / p.crop_h as f64;
        assert!(ratio > 0.6 && ratio < 1.6, "{p:?}");
        assert!(
            (0.2..=1.8).contains(&p.brightness)
                && (0.2..=1.8).contains(&p.contrast)
                && (0.2..=1.8).contains(&p.saturation)
        );
        assert!(p.hue.abs() <= 0.2 && (0.1..=2.0).contains(&p.sigma));
        flips += p.flip;
        jit += p.jitter;
        gray += p.gray;
        area += a;
    }
    let f = |k: u32| k as f64 / n as f64;
    assert!(
        (f(flips) - 0.5).abs() < 0.04
            && (f(jit) - 0.8).abs() < 0.03
            && (f(gray) - 0.2).abs() < 0.03,
        "{flips} {jit} {gray}"
    );
    // Mean crop area of torchvision's sampler (scale U[0.08, 1], re-drawn when too large): well above 0.4.
    assert!(
        area / n as f64 > 0.4 && area / (n as f64) < 0.6,
        "mean area {}",
        area / n as f64
    );
    // Strength 2 maps to jitter 1.6 / hue 0.4; strength 0 to factors 1 and hue 0.
    let c2 = SimclrConfig::with_strength(2.0);
    assert_eq!((c2.factor_range(), c2.hue_max()), ((0.0, 2.6), 0.4));
    let c0 = SimclrConfig::with_strength(0.0);
    let p0 = aug::simclr_params(&c0, 1, 0, 5, 0);
    assert_eq!(
        (p0.brightness, p0.contrast, p0.saturation, p0.hue),
        (1.0, 1.0, 1.0, 0.0)
    );
}

#[test]
fn simclr_jitter_at_zero_strength_is_identity_and_pipeline_stays_in_range() {
    let src = rand_image(5);
    let p = SimclrParams {
        crop_h: 32,
        crop_w: 32,
        jitter: 1,
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue: 0.0,
        sigma: 0.1,
        ..Default::default()
    };
    let mut o = vec![0.0; IMAGE_BYTES];
    aug::apply_simclr(&src, &p, &mut o);
    // σ = 0.1: the side taps weigh e^−50 ≈ 2e−22, so the whole pipeline is the identity.
    assert!(
        max_diff(&o, &hwc(&src)) < 2e-6,
        "{}",
        max_diff(&o, &hwc(&src))
    );
    let ds = Dataset {
        images: [rand_image(6), rand_image(7)].concat(),
        labels: vec![0, 1],
        classes: vec!["a".into(), "b".into()],
        format: Format::Synthetic,
        split: Split::Train,
    };
    let items: Vec<Item> = (0..8)
        .map(|k| Item {
            index: k % 2,
            view: k,
        })
        .collect();
    let mut out = vec![f32::NAN; 8 * IMAGE_BYTES];
    aug::augment_batch(
        &ds,
        &items,
        &Augment::Simclr(SimclrConfig::with_strength(2.0)),
        1,
        0,
        &mut out,
    )
    .unwrap();
    assert!(
        out.iter().all(|x| (0.0..=1.0).contains(x)),
        "NaN or out of [0, 1]"
    );
    let mut again = vec![0.0; out.len()];
    aug::augment_batch(
        &ds,
        &items,
        &Augment::Simclr(SimclrConfig::with_strength(2.0)),
        1,
        0,
        &mut again,
    )
    .unwrap();
    assert_eq!(out, again);
    assert_ne!(
        &out[..IMAGE_BYTES],
        &out[2 * IMAGE_BYTES..3 * IMAGE_BYTES],
        "two views of one image differ"
    );
    let e = err_text(aug::augment_batch(
        &ds,
        &[Item { index: 2, view: 0 }],
        &Augment::None,
        1,
        0,
        &mut out[..IMAGE_BYTES],
    ));
    assert!(e.contains("out of range"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Samplers

fn labels_lt() -> Vec<u32> {
    // 5 classes: 40, 20, 10, 4, 1 images, interleaved.
    let counts = [40, 20, 10, 4, 1];
    let mut v = Vec::new();
    for r in 0..40 {
        for (c, &n) in counts.iter().enumerate() {
            if r < n {
                v.push(c as u32);
            }
        }
    }
    v
}

#[test]
fn instance_shuffle_is_a_seeded_permutation() {
    let b = sampler::instance_shuffle(103, 10, 5, 0, true).unwrap();
    assert_eq!(b.len(), 10);
    let mut all: Vec<usize> = sampler::instance_shuffle(103, 10, 5, 0, false)
        .unwrap()
        .concat();
    assert_eq!(all.len(), 103);
    assert_eq!(&all[..100], &b.concat()[..]);
    all.sort();
    assert_eq!(all, (0..103).collect::<Vec<_>>());
    assert_ne!(b, sampler::instance_shuffle(103, 10, 5, 1, true).unwrap());
    assert_eq!(b, sampler::instance_shuffle(103, 10, 5, 0, true).unwrap());
    assert!(sampler::instance_shuffle(10, 0, 5, 0, true).is_err());
}

#[test]
fn bns_groups_share_labels_and_replace_only_when_needed() {
    let labels = labels_lt();
    let s = sampler::BnsSampler::new(&labels, 5, 6).unwrap();
    let batches = s.epoch(14, 3, 0).unwrap();
    assert_eq!(batches.len(), labels.len() / 14);
    let mut anchors = std::collections::HashSet::new();
    let mut saw_small = false;
    for b in &batches {
        assert_eq!(b.len(), 14);
        for g in b.chunks(7) {
            let c = labels[g[0]];
            assert!(
                g.iter().all(|&i| labels[i] == c),
                "group {g:?} mixes labels"
            );
            assert!(anchors.insert(g[0]), "anchor {} twice in an epoch", g[0]);
            let class_size = labels.iter().filter(|&&l| l == c).count();
            let mates = &g[1..];
            if class_size >= 7 {
                let set: std::collections::HashSet<_> = mates.iter().collect();
                assert_eq!(
                    set.len(),
                    6,
                    "distinct mates when the class is large enough: {g:?}"
                );
                assert!(!mates.contains(&g[0]), "the anchor is not its own mate");
            } else if class_size > 1 {
                saw_small = true;
                assert!(!mates.contains(&g[0]));
            } else {
                assert!(mates.iter().all(|&i| i == g[0]));
            }
        }
    }
    let _ = saw_small;
    assert_ne!(batches, s.epoch(14, 3, 1).unwrap());
    let e = err_text(s.epoch(15, 3, 0));
    assert!(
        e.contains("multiple of the group size") && e.contains("14"),
        "{e}"
    );
    // Every class size < 7 path is exercised with a tiny class and many anchors.
    let small =
        sampler::BnsSampler::new(&[0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 2, 6).unwrap();
    let b = small.epoch(14, 1, 0).unwrap();
    for g in b[0].chunks(7) {
        assert!(g.iter().all(|&i| (i < 3) == (g[0] < 3)));
    }
}

#[test]
fn class_balanced_and_subset_samplers() {
    let labels = labels_lt();
    let sub = sampler::class_balanced_subset(&labels, 5, 8, 4).unwrap();
    let mut per = [0; 5];
    for &i in &sub {
        per[labels[i] as usize] += 1;
    }
    assert_eq!(per, [8, 8, 8, 4, 1]);
    assert_ne!(
        sub,
        sampler::class_balanced_subset(&labels, 5, 8, 5).unwrap()
    );
    let ss = sampler::SubsetSampler::new(vec![3, 9, 27, 41, 50], labels.len()).unwrap();
    let mut all = ss.epoch(2, 1, 0, false).unwrap().concat();
    all.sort();
    assert_eq!(all, vec![3, 9, 27, 41, 50]);
    assert!(err_text(sampler::SubsetSampler::new(vec![1, 1000], 75)).contains("out of range"));
    assert!(err_text(sampler::SubsetSampler::new(vec![1, 1], 75)).contains("twice"));
}

// ---------------------------------------------------------------------------------------------
// Synthetic data and loader

/// Log power of the mean-free grey image in 5 radial × 4 orientation bins of its 2-D DFT: a
/// translation-invariant description of the structure (not the colour) of an image given as HWC floats.
fn spectrum_features(hwc: &[f32]) -> Vec<f32> {
    let n = 32usize;
    let mut g: Vec<f32> = (0..n * n)
        .map(|p| 0.299 * hwc[3 * p] + 0.587 * hwc[3 * p + 1] + 0.114 * hwc[3 * p + 2])
        .collect();
    let mean = g.iter().sum::<f32>() / (n * n) as f32;
    g.iter_mut().for_each(|v| *v -= mean);
    let tw = |k: usize| {
        let a = std::f32::consts::TAU * k as f32 / n as f32;
        (a.cos(), -a.sin())
    };
    // Rows, then columns (separable DFT).
    let mut rows = vec![(0.0f32, 0.0f32); n * n];
    for y in 0..n {
        for u in 0..n {
            let (mut re, mut im) = (0.0, 0.0);
            for x in 0..n {
                let (c, s) = tw(u * x % n);
                re += g[y * n + x] * c;
                im += g[y * n + x] * s;
            }
            rows[y * n + u] = (re, im);
        }
    }
    let mut bins = [0.0f32; 20];
    let mut total = 1e-6f32;
    for v in 0..n {
        for u in 0..n {
            let (mut re, mut im) = (0.0, 0.0);
            for y in 0..n {
                let (c, s) = tw(v * y % n);
                let (a, b) = rows[y * n + u];
                re += a * c - b * s;
                im += a * s + b * c;
            }
            let (fu, fv) = (
                if u < n / 2 {
                    u as f32
                } else {
                    u as f32 - n as f32
                },
                if v < n / 2 {
                    v as f32
                } else {
                    v as f32 - n as f32
                },
            );
            let r = (fu * fu + fv * fv).sqrt();
            if r < 0.5 {
                continue;
            }
            let pw = re * re + im * im;
            let rb = [2.0, 3.5, 6.0, 10.0].iter().filter(|&&e| r >= e).count();
            let th = fv.atan2(fu).rem_euclid(std::f32::consts::PI);
            let ob = ((th / std::f32::consts::FRAC_PI_4).round() as usize) % 4;
            bins[rb * 4 + ob] += pw;
            total += pw;
        }
    }
    bins.iter().map(|b| (b / total + 1e-4).ln()).collect()
}

/// Accuracy of the nearest class mean: means from `fit` (features, labels), scored on `score`.
fn nearest_mean(fit: &[(Vec<f32>, u32)], score: &[(Vec<f32>, u32)], classes: usize) -> f32 {
    let d = fit[0].0.len();
    let mut mean = vec![vec![0.0f32; d]; classes];
    let mut n = vec![0.0f32; classes];
    for (f, l) in fit {
        n[*l as usize] += 1.0;
        for k in 0..d {
            mean[*l as usize][k] += f[k];
        }
    }
    for c in 0..classes {
        mean[c].iter_mut().for_each(|v| *v /= n[c].max(1.0));
    }
    let right = score
        .iter()
        .filter(|(f, l)| {
            let dist = |c: usize| -> f32 { (0..d).map(|k| (f[k] - mean[c][k]).powi(2)).sum() };
            (0..classes).min_by(|&a, &b| dist(a).total_cmp(&dist(b))) == Some(*l as usize)
        })
        .count();
    right as f32 / score.len() as f32
}

#[test]
fn synthetic_is_seeded_long_tailed_and_needs_structure_not_colour() {
    let spec = synthetic::SyntheticSpec {
        classes: 10,
        n_max: 60,
        imbalance: 10.0,
        test_per_class: 40,
        seed: 3,
    };
    let (tr, te) = synthetic::generate(&spec).unwrap();
    assert_eq!(tr.class_counts(), longtail::counts(60, 10, 10.0).unwrap());
    assert_eq!(te.class_counts(), vec![40; 10]);
    let (tr2, _) = synthetic::generate(&spec).unwrap();
    assert_eq!(tr.images, tr2.images);
    let (tr3, _) = synthetic::generate(&synthetic::SyntheticSpec { seed: 4, ..spec }).unwrap();
    assert_ne!(tr.images, tr3.images);
    assert_eq!(synthetic::class_family(3), "diagonal-checkerboard");
    // Three views of each test image: clean, mirrored, and a METHOD.md stage-1 SimCLR view (strength 2,
    // crop scale 0.08–1, flip p 0.5, jitter, grayscale, blur).
    let cfg = SimclrConfig::with_strength(2.0);
    let clean: Vec<Vec<f32>> = (0..te.len())
        .map(|i| {
            let mut o = vec![0.0f32; IMAGE_BYTES];
            aug::to_hwc(te.image(i), &mut o);
            o
        })
        .collect();
    let mirrored: Vec<Vec<f32>> = clean
        .iter()
        .map(|o| {
            let mut m = o.clone();
            aug::hflip(&mut m);
            m
        })
        .collect();
    let augmented: Vec<Vec<f32>> = (0..te.len())
        .map(|i| {
            let p = aug::simclr_params(&cfg, 11, 0, i as u32, 0);
            let mut o = vec![0.0f32; IMAGE_BYTES];
            aug::apply_simclr(te.image(i), &p, &mut o);
            o
        })
        .collect();
    // Class means fitted on the first half of each test class (clean), scored on the second half.
    let fit_idx: Vec<usize> = (0..te.len()).filter(|i| i % 40 < 20).collect();
    let score_idx: Vec<usize> = (0..te.len()).filter(|i| i % 40 >= 20).collect();
    let run = |feat: &dyn Fn(&[f32]) -> Vec<f32>, views: &[Vec<f32>]| -> f32 {
        let fit: Vec<_> = fit_idx
            .iter()
            .map(|&i| (feat(&clean[i]), te.labels[i]))
            .collect();
        let score: Vec<_> = score_idx
            .iter()
            .map(|&i| (feat(&views[i]), te.labels[i]))
            .collect();
        nearest_mean(&fit, &score, 10)
    };
    let colour = |o: &[f32]| -> Vec<f32> {
        (0..3)
            .map(|c| (0..PIXELS).map(|p| o[3 * p + c]).sum::<f32>() / PIXELS as f32)
            .collect()
    };
    let raw = |o: &[f32]| o.to_vec();
    let (ac, ar) = (run(&colour, &clean), run(&raw, &clean));
    let (sc, sm, sa) = (
        run(&spectrum_features, &clean),
        run(&spectrum_features, &mirrored),
        run(&spectrum_features, &augmented),
    );
    println!(
        "nearest-mean accuracy: mean colour {ac:.3}, raw pixels {ar:.3}; structure (DFT power) clean \
         {sc:.3}, mirrored {sm:.3}, SimCLR view {sa:.3}"
    );
    assert!(ac < 0.25, "colour must not give the class away: {ac}");
    assert!(
        ar < 0.25,
        "raw pixels (a linear template) must not give the class away: {ar}"
    );
    assert!(sc > 0.6, "the structure must carry the class: {sc}");
    assert!(
        sm > sc - 0.1,
        "a mirrored image must stay in its class: clean {sc}, mirrored {sm}"
    );
    assert!(
        sa > 0.3,
        "the class must survive the SimCLR augmentation of stage 1: {sa}"
    );
    assert!(err_text(synthetic::generate(&synthetic::SyntheticSpec {
        n_max: 5,
        imbalance: 100.0,
        ..spec
    }))
    .contains("no image"));
}

/// A small long-tailed data set, one BNS epoch of it (groups repeat images) and a SimCLR augmentation.
fn bns_loader_epoch() -> (std::sync::Arc<Dataset>, Vec<Vec<usize>>, Augment) {
    let spec = synthetic::SyntheticSpec {
        classes: 4,
        n_max: 40,
        imbalance: 4.0,
        test_per_class: 1,
        seed: 9,
    };
    let (tr, _) = synthetic::generate(&spec).unwrap();
    let s = sampler::BnsSampler::new(&tr.labels, 4, 3).unwrap();
    let batches = s.epoch(16, 2, 5).unwrap();
    let a = Augment::Simclr(SimclrConfig::with_strength(2.0));
    (std::sync::Arc::new(tr), batches, a)
}

#[test]
fn loader_prefetches_the_same_batches_as_sequential_code() {
    let (ds, batches, a) = bns_loader_epoch();
    let got: Vec<_> = data::loader::Loader::new(ds.clone(), batches.clone(), a, 2, 11, 5, 2)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(got.len(), batches.len());
    let mut seen = std::collections::HashMap::new();
    for (b, g) in batches.iter().zip(&got) {
        let want = data::loader::make_batch(&ds, b, &a, 2, 11, 5, &mut seen).unwrap();
        assert_eq!(g.indices, want.indices);
        assert_eq!(g.images, want.images);
        assert_eq!(
            g.labels,
            b.iter().map(|&i| ds.labels[i]).collect::<Vec<_>>()
        );
        assert_ne!(g.view(0), g.view(1));
    }
    // Dropping a loader early does not hang.
    let mut l = data::loader::Loader::new(ds.clone(), batches, a, 2, 11, 5, 1).unwrap();
    assert!(l.next().is_some());
    drop(l);
    assert!(data::loader::Loader::new(ds, vec![vec![100_000]], a, 2, 1, 0, 1).is_err());
}

#[test]
fn loader_started_at_a_batch_yields_the_rest_of_the_full_pass() {
    let (ds, batches, a) = bns_loader_epoch();
    let load = |start: usize, prefetch: usize| -> Vec<data::loader::Batch> {
        let l = data::loader::Loader::starting_at(
            ds.clone(),
            batches.clone(),
            start,
            a,
            2,
            11,
            5,
            prefetch,
        )
        .unwrap();
        assert_eq!(l.remaining(), batches.len().saturating_sub(start));
        l.map(|b| b.unwrap()).collect()
    };
    let full = load(0, 2);
    assert_eq!(full.len(), batches.len());
    assert!(batches.len() >= 3, "{} batches", batches.len());
    let mut checked_a_repeat = false;
    for start in 0..=batches.len() + 1 {
        let got = load(start, 1 + start % 3);
        let want = &full[start.min(full.len())..];
        assert_eq!(got.len(), want.len(), "start {start}");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.indices, w.indices, "start {start}, batch {}", start + k);
            assert_eq!(g.labels, w.labels, "start {start}, batch {}", start + k);
            assert_eq!(g.views, w.views);
            let (gb, wb): (Vec<u32>, Vec<u32>) = (
                g.images.iter().map(|x| x.to_bits()).collect(),
                w.images.iter().map(|x| x.to_bits()).collect(),
            );
            assert!(
                gb == wb,
                "start {start}, batch {}: images differ",
                start + k
            );
        }
        // The skipped batches matter: an image seen before `start` occurs again after it.
        let before = data::loader::occurrences(&batches[..start.min(batches.len())]);
        checked_a_repeat |= batches[start.min(batches.len())..]
            .iter()
            .flatten()
            .any(|i| before.contains_key(i));
    }
    assert!(
        checked_a_repeat,
        "the sampler must repeat an image across batches for this test to bite"
    );
    // A loader that ignored the skipped batches would differ: batch 1 started fresh is not batch 1.
    let mut seen = std::collections::HashMap::new();
    let fresh = data::loader::make_batch(&ds, &batches[1], &a, 2, 11, 5, &mut seen).unwrap();
    let repeats = batches[1].iter().any(|i| batches[0].contains(i));
    assert_eq!(fresh.images != full[1].images, repeats);
    assert!(
        data::loader::Loader::starting_at(ds, vec![vec![0], vec![100_000]], 2, a, 2, 1, 0, 1)
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// CUDA vs CPU (skipped without a GPU)

#[test]
fn augment_cuda_matches_cpu() {
    use ipdpp::data::augment_cuda as ac;
    let Some(dev) = super::common::cuda_or_skip("augment_cuda_matches_cpu") else {
        return;
    };
    let d = dev.cuda().expect("a CUDA device");
    let seed = super::common::seed_for("augment_cuda_matches_cpu");
    let spec = synthetic::SyntheticSpec {
        classes: 10,
        n_max: 40,
        imbalance: 4.0,
        test_per_class: 1,
        seed: seed ^ 1,
    };
    let (ds, _) = synthetic::generate(&spec).unwrap();
    let n = 300usize;
    let items: Vec<Item> = (0..n)
        .map(|k| Item {
            index: ((k * 37) % ds.len()) as u32,
            view: (k % 3) as u32,
        })
        .collect();
    let gds = ac::GpuDataset::upload(d, &ds).unwrap();
    let d_items = ac::upload_items(d, &gds, &items).unwrap();
    let epoch = (seed % 1000) as u32;
    for strength in [1.0f32, 2.0] {
        let cfg = SimclrConfig::with_strength(strength);
        // Same parameters from the same generator (bit for bit, the arithmetic uses no contraction).
        let gp = d
            .download(&ac::simclr_params_cuda(d, &d_items, n, &cfg, seed, epoch).unwrap())
            .unwrap();
        let mismatched: Vec<usize> = (0..n)
            .filter(|&k| {
                gp[k] != aug::simclr_params(&cfg, seed, epoch, items[k].index, items[k].view)
            })
            .collect();
        assert!(
            mismatched.is_empty(),
            "strength {strength}: parameters differ for items {mismatched:?}"
        );
        // Pixels within rounding for those parameters, into a NaN-poisoned output.
        let d_params = d.upload(&gp).unwrap();
        let mut out = d.upload(&vec![f32::NAN; n * IMAGE_BYTES]).unwrap();
        ac::simclr_apply_f32(d, &mut out, &gds, &d_items, &d_params, n).unwrap();
        let got = d.download(&out).unwrap();
        let mut want = vec![0.0f32; n * IMAGE_BYTES];
        for k in 0..n {
            aug::apply_simclr(
                ds.image(items[k].index as usize),
                &gp[k],
                &mut want[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES],
            );
        }
        assert!(got.iter().all(|x| x.is_finite()), "unwritten (NaN) outputs");
        let num: f64 = got
            .iter()
            .zip(&want)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let den: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
        let rel = (num / den).sqrt();
        println!(
            "simclr strength {strength}: rel err {rel:.2e}, max abs {:.2e}",
            max_diff(&got, &want)
        );
        assert!(rel < 1e-5 && max_diff(&got, &want) < 1e-4, "rel {rel}");
    }
    for a in [Augment::PadCropFlip, Augment::None] {
        let mut out = d.upload(&vec![f32::NAN; n * IMAGE_BYTES]).unwrap();
        ac::augment_batch_cuda(d, &gds, &items, &a, seed, epoch, &mut out).unwrap();
        let got = d.download(&out).unwrap();
        let mut want = vec![0.0f32; n * IMAGE_BYTES];
        aug::augment_batch(&ds, &items, &a, seed, epoch, &mut want).unwrap();
        assert_eq!(max_diff(&got, &want), 0.0, "{a:?}");
    }
    let e = err_text(ac::upload_items(
        d,
        &gds,
        &[Item {
            index: ds.len() as u32,
            view: 0,
        }],
    ));
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn train_only_import_then_stats_through_the_cli_entry() {
    let t = TempDir::new("trainonly");
    let src = t.path().join("src");
    for (c, n) in [("x", 6u32), ("y", 3)] {
        for i in 0..n {
            save_png(
                &src.join(format!("train/{c}/{i:03}.png")),
                32,
                32,
                |a, b| [(a * i) as u8, b as u8, 7],
            );
        }
    }
    let out = t.path().join("out");
    let cmd = data::cli::DataCmd::Import(data::cli::ImportArgs {
        folder: src.clone(),
        out: out.clone(),
        classes: vec![],
        skip_bad: false,
        json: true,
    });
    assert_eq!(data::cli::run(cmd).unwrap(), 0);
    assert!(!out.join("test.bin").exists());
    let a = data::cli::StatsArgs {
        data: out.clone(),
        dataset: None,
        imbalance: Some(2.0),
        json: true,
    };
    let rep = data::cli::stats(&a).unwrap();
    assert_eq!(
        rep.classes
            .iter()
            .map(|c| (c.class.as_str(), c.train))
            .collect::<Vec<_>>(),
        vec![("x", 6), ("y", 3)]
    );
    assert_eq!(rep.test_total, None);
    assert!(rep.format.contains("imported"), "{}", rep.format);
    let e = err_text(data::cli::stats(&data::cli::StatsArgs {
        imbalance: Some(1.5),
        ..a
    }));
    assert!(
        e.contains("class 1 (y) has 3 images") && e.contains("needs 4"),
        "{e}"
    );
}

/// The bf16 instantiations write the same images as the f32 ones, rounded to nearest even
/// (bf16 tolerance of DESIGN.md), into a NaN-poisoned output.
#[test]
fn augment_cuda_bf16_matches_f32() {
    use ipdpp::data::augment_cuda as ac;
    let Some(dev) = super::common::cuda_or_skip("augment_cuda_bf16_matches_f32") else {
        return;
    };
    let d = dev.cuda().expect("a CUDA device");
    let seed = super::common::seed_for("augment_cuda_bf16_matches_f32");
    let spec = synthetic::SyntheticSpec {
        classes: 10,
        n_max: 30,
        imbalance: 3.0,
        test_per_class: 1,
        seed,
    };
    let (ds, _) = synthetic::generate(&spec).unwrap();
    let n = 97usize;
    let items: Vec<Item> = (0..n)
        .map(|k| Item {
            index: ((k * 13) % ds.len()) as u32,
            view: (k % 2) as u32,
        })
        .collect();
    let gds = ac::GpuDataset::upload(d, &ds).unwrap();
    for a in [
        aug::Augment::None,
        aug::Augment::PadCropFlip,
        aug::Augment::Simclr(SimclrConfig::with_strength(1.0)),
    ] {
        let mut out32 = d.upload(&vec![f32::NAN; n * IMAGE_BYTES]).unwrap();
        ac::augment_batch_cuda(d, &gds, &items, &a, seed, 3, &mut out32).unwrap();
        let mut out16 = d.upload(&vec![ac::Bf16(0x7fc0); n * IMAGE_BYTES]).unwrap();
        ac::augment_batch_cuda(d, &gds, &items, &a, seed, 3, &mut out16).unwrap();
        let f = d.download(&out32).unwrap();
        let b: Vec<f32> = d
            .download(&out16)
            .unwrap()
            .into_iter()
            .map(|v| half::bf16::from(v).to_f32())
            .collect();
        let want: Vec<f32> = f
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect();
        assert!(
            b.iter().all(|x| x.is_finite()),
            "unwritten (NaN) bf16 outputs"
        );
        let e = ipdpp::bench::rel_err(&b, &want);
        assert!(e < 1e-2, "{a:?}: bf16 vs rounded f32 rel err {e:e}");
    }
}
