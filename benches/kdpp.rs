//! k-DPP benches (KDPP.md anchor table): syevd f32/f64, one draw with the decomposition given, the IP
//! kernel's decomposition by the secular solver (vs syevd), and one IP-kernel selection of a 5000-image
//! class end to end. Heavy: small sample sizes.
//! `cargo bench --bench kdpp -- draw` runs only the draws. The O(N³) syevd runs at N = 5000 (tens of
//! seconds each) only with `KDPP_BENCH_BIG=1`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipdpp::dpp::kdpp::KDpp;
use ipdpp::dpp::linalg;
use rand::{RngExt, SeedableRng};
use std::time::Duration;

/// A Wishart-like PSD kernel L = X Xᵀ / D with X N×D uniform in [−1, 1] (row-major N×N).
fn wishart(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| r.random_range(-1.0..1.0)).collect();
    // X row-major N×D is column-major D×N; L = Xᵀᵀ X... = gemm(ta) of (D×N) with itself.
    let mut l = linalg::gemm_f64(true, false, n, n, d, &x, &x).unwrap();
    l.iter_mut().for_each(|v| *v /= d as f64);
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (l[i * n + j] + l[j * n + i]);
            l[i * n + j] = s;
            l[j * n + i] = s;
        }
    }
    l
}

/// Whether to run the N = 5000 syevd benches (`KDPP_BENCH_BIG=1`).
fn big() -> bool {
    std::env::var("KDPP_BENCH_BIG").is_ok_and(|v| v != "0")
}

/// Clamped true-class probabilities of one 5000-image class (p = U^0.3, as in the end-to-end bench).
fn class_probs(n: usize) -> Vec<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(4);
    let p: Vec<f64> = (0..n).map(|_| r.random::<f64>().powf(0.3)).collect();
    ipdpp::dpp::kernels::clamp_probs(&p, "bench").unwrap()
}

fn bench_syevd(c: &mut Criterion) {
    let mut g = c.benchmark_group("syevd");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let sizes: &[usize] = if big() {
        &[1000, 2000, 5000]
    } else {
        &[1000, 2000]
    };
    for &n in sizes {
        let l = wishart(n, n, 1);
        let l32: Vec<f32> = l.iter().map(|&x| x as f32).collect();
        g.bench_with_input(BenchmarkId::new("f64", n), &n, |b, &n| {
            b.iter(|| linalg::syevd_f64(l.clone(), n).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("f32", n), &n, |b, &n| {
            b.iter(|| linalg::syevd_f32(l32.clone(), n).unwrap())
        });
    }
    g.finish();
}

fn bench_draw(c: &mut Criterion) {
    let mut g = c.benchmark_group("draw");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in [2000usize, 5000] {
        let dpp = KDpp::from_kernel(wishart(n, n, 2), n).unwrap();
        for k in [100usize, 500] {
            let s = dpp.sampler(k).unwrap();
            let mut r = rand::rngs::StdRng::seed_from_u64(3);
            g.bench_with_input(BenchmarkId::new(format!("N{n}"), k), &k, |b, _| {
                b.iter(|| s.draw(&mut r).unwrap())
            });
        }
    }
    g.finish();
}

/// The IP kernel's eigendecomposition at N = 5000: the secular solver (with its O(N²) check, as select
/// runs it) and, with `KDPP_BENCH_BIG=1`, dense syevd of the same kernel.
fn bench_ip_decomp(c: &mut Criterion) {
    use ipdpp::dpp::{kernels, secular};
    let n = 5000;
    let p = class_probs(n);
    let mut g = c.benchmark_group("ip_decomp");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function(BenchmarkId::new("secular", n), |b| {
        b.iter(|| secular::ip_eig(&p, false).unwrap())
    });
    if big() {
        let l = kernels::ip_kernel(&p, false);
        g.bench_function(BenchmarkId::new("syevd_f64", n), |b| {
            b.iter(|| linalg::syevd_f64(l.clone(), n).unwrap())
        });
    }
    g.finish();
}

/// One IP-kernel selection of a 5000-image class end to end (kernel, secular decomposition with its
/// check, ESP, one draw of k = 500).
fn bench_ip_select(c: &mut Criterion) {
    use ipdpp::device::Device;
    use ipdpp::dpp::kernels::KernelKind;
    use ipdpp::dpp::select::{select, IpSolver, SelectOptions, Selector};
    let n = 5000;
    let labels = vec![0i64; n];
    let p = class_probs(n);
    let opts = SelectOptions {
        kernel: KernelKind::Ip,
        selector: Selector::Kdpp,
        k: Some(500),
        seed: 1,
        draws: 1,
        ip_solver: IpSolver::Auto,
    };
    let mut g = c.benchmark_group("ip_select");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("class5000_k500", |b| {
        b.iter(|| select(&Device::Cpu, &labels, &p, None, &opts).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_syevd,
    bench_draw,
    bench_ip_decomp,
    bench_ip_select
);
criterion_main!(benches);
