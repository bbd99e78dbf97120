//! CPU paths of the engine ops (the reference implementation users without a GPU run).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipdpp::device::cpu::{elementwise, gemm, reduce};
use ipdpp::device::ops::GemmSpec;
use ipdpp::optim::AdamW;
use ipdpp::rng::uniform_f32;
use std::hint::black_box;

fn bench_gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32_openblas");
    g.sample_size(10);
    for n in [256usize, 512, 1024] {
        let s = GemmSpec::new(n, n, n);
        let (a, b) = (
            uniform_f32(n * n, -1.0, 1.0, 1),
            uniform_f32(n * n, -1.0, 1.0, 2),
        );
        let mut out = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements(s.flops() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| {
            bch.iter(|| gemm::gemm_blas_f32(black_box(&mut out), &a, &b, &s))
        });
    }
    g.finish();
}

fn bench_elementwise(c: &mut Criterion) {
    let n = 1 << 22;
    let mut g = c.benchmark_group("elementwise_f32");
    g.sample_size(20)
        .throughput(Throughput::Bytes((n * 4 * 3) as u64));
    let (a, b) = (uniform_f32(n, -1.0, 1.0, 3), uniform_f32(n, -1.0, 1.0, 4));
    let mut out = vec![0.0f32; n];
    g.bench_function("add_f32 4M", |bch| {
        bch.iter(|| elementwise::add_f32(black_box(&mut out), &a, &b))
    });
    let (mut p, mut m, mut v) = (a.clone(), vec![0.0f32; n], vec![0.0f32; n]);
    let h = AdamW::default();
    g.bench_function("adamw_f32 4M", |bch| {
        bch.iter(|| elementwise::adamw_f32(black_box(&mut p), &b, &mut m, &mut v, &h))
    });
    g.finish();
}

fn bench_reduce(c: &mut Criterion) {
    let (rows, cols) = (1024, 1024);
    let x = uniform_f32(rows * cols, -1.0, 1.0, 5);
    let mut out = vec![0.0f32; rows];
    let mut g = c.benchmark_group("reduce_f32");
    g.sample_size(20)
        .throughput(Throughput::Bytes((rows * cols * 4) as u64));
    g.bench_function("row_sum_f32 1024x1024", |bch| {
        bch.iter(|| reduce::row_sum_f32(black_box(&mut out), &x, rows, cols))
    });
    g.finish();
}

criterion_group!(benches, bench_gemm, bench_elementwise, bench_reduce);
criterion_main!(benches);
