//! CPU augmentation throughput (images/s): the SimCLR pipeline at strengths 1 and 2, the supervised
//! pad-crop + flip and the clean conversion, over a batch of 512 synthetic images on rayon's pool.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipdpp::data::augment::{augment_batch, Augment, Item, SimclrConfig, OUT_FLOATS};
use ipdpp::data::synthetic::{generate, SyntheticSpec};
use std::hint::black_box;

fn bench_augment(c: &mut Criterion) {
    let spec = SyntheticSpec {
        classes: 10,
        n_max: 100,
        imbalance: 1.0,
        test_per_class: 1,
        seed: 1,
    };
    let (ds, _) = generate(&spec).expect("synthetic data");
    let n = 512usize;
    let items: Vec<Item> = (0..n)
        .map(|i| Item {
            index: (i % ds.len()) as u32,
            view: (i / ds.len()) as u32,
        })
        .collect();
    let mut out = vec![0.0f32; n * OUT_FLOATS];
    let mut g = c.benchmark_group(format!(
        "augment_cpu_{}threads",
        rayon::current_num_threads()
    ));
    g.sample_size(20).throughput(Throughput::Elements(n as u64));
    let cases = [
        (
            "simclr_s1",
            Augment::Simclr(SimclrConfig::with_strength(1.0)),
        ),
        (
            "simclr_s2",
            Augment::Simclr(SimclrConfig::with_strength(2.0)),
        ),
        ("padcrop_flip", Augment::PadCropFlip),
        ("clean", Augment::None),
    ];
    let mut epoch = 0u32;
    for (name, a) in cases {
        g.bench_with_input(BenchmarkId::new(name, n), &a, |b, a| {
            b.iter(|| {
                epoch = epoch.wrapping_add(1);
                augment_batch(&ds, &items, a, 7, epoch, black_box(&mut out)).expect("augment")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_augment);
criterion_main!(benches);
