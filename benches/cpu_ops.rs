//! CPU paths of the engine ops (the reference implementation users without a GPU run).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipdpp::device::cpu::conv::{self, ConvSpec};
use ipdpp::device::cpu::norm::{self, BnSpec};
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
            bch.iter(|| gemm::gemm_par_f32(black_box(&mut out), &a, &b, &s))
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

/// The three convolution ops at a ResNet-32 first-stage layer (16 channels, 64 images) and a
/// ResNet-18 third-stage layer (256 channels, 16 images): the two regimes of the CPU split (many
/// small-channel pixel blocks; few pixels with a wide kernel).
fn bench_conv(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv_f32");
    g.sample_size(10);
    for (name, s) in [
        ("r32_16ch_b64", ConvSpec::new(64, 32, 32, 16, 16, 3, 1, 1)),
        ("r18_256ch_b16", ConvSpec::new(16, 8, 8, 256, 256, 3, 1, 1)),
    ] {
        let x = uniform_f32(s.x_len(), -1.0, 1.0, 6);
        let w = uniform_f32(s.w_len(), -1.0, 1.0, 7);
        let gy = uniform_f32(s.y_len(), -1.0, 1.0, 8);
        let (mut y, mut gx, mut gw) = (
            vec![0.0f32; s.y_len()],
            vec![0.0f32; s.x_len()],
            vec![0.0f32; s.w_len()],
        );
        g.throughput(Throughput::Elements(s.flops() as u64));
        g.bench_function(format!("fwd {name}"), |bch| {
            bch.iter(|| conv::conv_fwd_f32(black_box(&mut y), &x, &w, &s))
        });
        g.bench_function(format!("bwd_input {name}"), |bch| {
            bch.iter(|| conv::conv_bwd_input_f32(black_box(&mut gx), &gy, &w, &s))
        });
        g.bench_function(format!("bwd_weight {name}"), |bch| {
            bch.iter(|| conv::conv_bwd_weight_f32(black_box(&mut gw), &gy, &x, &s))
        });
    }
    g.finish();
}

/// Batch-norm training forward and backward over 64 images of 32×32×16 (a ResNet-32 first-stage layer).
fn bench_batchnorm(c: &mut Criterion) {
    let s = BnSpec::new(64 * 32 * 32, 16);
    let n = s.rows * s.c;
    let (x, gy) = (uniform_f32(n, -1.0, 1.0, 9), uniform_f32(n, -1.0, 1.0, 10));
    let (gamma, beta) = (vec![1.0f32; s.c], vec![0.0f32; s.c]);
    let (mut mean, mut rstd) = (vec![0.0f32; s.c], vec![0.0f32; s.c]);
    let (mut rm, mut rv) = (vec![0.0f32; s.c], vec![1.0f32; s.c]);
    let (mut y, mut gx) = (vec![0.0f32; n], vec![0.0f32; n]);
    let (mut gg, mut gb) = (vec![0.0f32; s.c], vec![0.0f32; s.c]);
    let mut g = c.benchmark_group("batchnorm_f32");
    g.sample_size(20)
        .throughput(Throughput::Bytes((n * 4) as u64));
    g.bench_function("fwd_train 65536x16", |bch| {
        bch.iter(|| {
            norm::batchnorm_fwd_train_f32(
                black_box(&mut y),
                &mut mean,
                &mut rstd,
                &mut rm,
                &mut rv,
                &x,
                &gamma,
                &beta,
                &s,
            )
        })
    });
    g.bench_function("bwd 65536x16", |bch| {
        bch.iter(|| {
            norm::batchnorm_bwd_f32(
                black_box(&mut gx),
                &mut gg,
                &mut gb,
                &gy,
                &x,
                &mean,
                &rstd,
                &gamma,
                &s,
            )
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_gemm,
    bench_conv,
    bench_batchnorm,
    bench_elementwise,
    bench_reduce
);
criterion_main!(benches);
