//! CUDA against the CPU reference on fresh random inputs, NaN-poisoned outputs, DESIGN.md tolerances.
//! Without a GPU each test prints `skipped: no CUDA device` and passes.
use super::common::{cuda_or_skip, seed_for};
use ipdpp::device::ops::{GemmSpec, GemmVersion};
use ipdpp::selfcheck::{self, Check};

fn assert_all(checks: &[Check]) {
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            format!(
                "{} [{}]: rel err {:e} > tol {:e}",
                c.op, c.shape, c.rel_err, c.tol
            )
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn cuda_elementwise_matches_cpu() {
    let Some(dev) = cuda_or_skip("cuda_elementwise_matches_cpu") else {
        return;
    };
    let seed = seed_for("cuda_elementwise_matches_cpu");
    let mut v = Vec::new();
    for n in [1usize, 31, 1000, 1 << 20, 3_000_017] {
        v.push(selfcheck::add_f32(&dev, n, seed).unwrap());
        v.push(selfcheck::scale_f32(&dev, n, seed + 1).unwrap());
        v.extend(selfcheck::relu_f32(&dev, n, seed + 2).unwrap());
        v.extend(selfcheck::adamw_f32(&dev, n, seed + 3).unwrap());
    }
    assert_all(&v);
}

#[test]
fn cuda_row_reductions_match_cpu() {
    let Some(dev) = cuda_or_skip("cuda_row_reductions_match_cpu") else {
        return;
    };
    let seed = seed_for("cuda_row_reductions_match_cpu");
    let mut v = Vec::new();
    for (r, c) in [
        (1usize, 1usize),
        (7, 33),
        (128, 4096),
        (1000, 10),
        (3, 100_003),
        (70_000, 12),
    ] {
        v.extend(selfcheck::row_reduce_f32(&dev, r, c, seed).unwrap());
    }
    assert_all(&v);
}

#[test]
fn cuda_gemm_versions_match_cpu() {
    let Some(dev) = cuda_or_skip("cuda_gemm_versions_match_cpu") else {
        return;
    };
    let seed = seed_for("cuda_gemm_versions_match_cpu");
    let mut v = Vec::new();
    for &ver in &GemmVersion::ALL {
        for (m, n, k) in [
            (1usize, 1usize, 1usize),
            (17, 33, 9),
            (128, 128, 8),
            (257, 129, 300),
            (512, 384, 256),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta in [0.0f32, 0.75] {
                    let s = GemmSpec {
                        ta,
                        tb,
                        beta,
                        alpha: 1.25,
                        ..GemmSpec::new(m, n, k)
                    };
                    v.push(selfcheck::gemm_f32(&dev, ver, s, seed).unwrap());
                }
            }
        }
    }
    assert_all(&v);
}

#[test]
fn cuda_buffers_round_trip() {
    let Some(dev) = cuda_or_skip("cuda_buffers_round_trip") else {
        return;
    };
    let x = ipdpp::rng::uniform_f32(12345, -3.0, 3.0, 9);
    let b = ipdpp::device::Buffer::from_host(&dev, &x).unwrap();
    assert_eq!(b.to_host(&dev).unwrap(), x);
}

/// `adamw_multi_f32` (one launch for many tensors, chunks of `ADAMW_CHUNK`) against the per-tensor
/// `adamw_f32` on the same GPU over three steps: the same per-element arithmetic, so the same bits, with
/// and without the weight decay per tensor, at sizes below, at and across a chunk (a wrong chunk offset,
/// length or decay flag shows as a differing element); and against the CPU within the fp32 tolerance.
#[test]
fn cuda_adamw_multi_matches_per_tensor() {
    use ipdpp::device::cpu::elementwise as cel;
    use ipdpp::device::cuda::elementwise::{
        adamw_f32, adamw_multi_f32, AdamwTable, AdamwTensor, ADAMW_CHUNK,
    };
    use ipdpp::optim::AdamW;
    use ipdpp::rng::uniform_f32;
    let Some(dev) = cuda_or_skip("cuda_adamw_multi_matches_per_tensor") else {
        return;
    };
    let d = match &dev {
        ipdpp::device::Device::Cuda(d) => d,
        _ => unreachable!("cuda_or_skip gives a GPU"),
    };
    let seed = seed_for("cuda_adamw_multi_matches_per_tensor");
    let sizes = [
        1usize,
        7,
        ADAMW_CHUNK,
        ADAMW_CHUNK + 1,
        3 * ADAMW_CHUNK - 5,
        36_864,
    ];
    let init = |k: usize, n: usize| uniform_f32(n, -1.0, 1.0, seed + k as u64);
    // Per tensor: (p, m, v) for the multi launch, the per-tensor launch and the CPU.
    let up = |v: &[f32]| d.upload(v).unwrap();
    let mut multi: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (up(&init(k, n)), up(&vec![0.0; n]), up(&vec![0.0; n])))
        .collect();
    let mut single: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (up(&init(k, n)), up(&vec![0.0; n]), up(&vec![0.0; n])))
        .collect();
    let mut table = AdamwTable::default();
    let mut cpu: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (init(k, n), vec![0.0f32; n], vec![0.0f32; n]))
        .collect();
    for step in 1..=3u64 {
        let h = AdamW {
            step,
            ..AdamW::default()
        };
        let grads: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| uniform_f32(n, -0.5, 0.5, seed + 100 * step + k as u64))
            .collect();
        let dg: Vec<_> = grads.iter().map(|g| up(g)).collect();
        let mut ts: Vec<AdamwTensor> = multi
            .iter_mut()
            .zip(&dg)
            .enumerate()
            .map(|(k, ((p, m, v), g))| AdamwTensor {
                p,
                g,
                m,
                v,
                decay: k % 2 == 0,
            })
            .collect();
        // The gradients move each step: the table follows them.
        adamw_multi_f32(d, &mut table, &mut ts, &h).unwrap();
        for (k, ((p, m, v), g)) in single.iter_mut().zip(&dg).enumerate() {
            let hk = AdamW {
                weight_decay: if k % 2 == 0 { h.weight_decay } else { 0.0 },
                ..h
            };
            adamw_f32(d, p, g, m, v, &hk).unwrap();
            let (cp, cm, cv) = &mut cpu[k];
            cel::adamw_f32(cp, &grads[k], cm, cv, &hk);
        }
    }
    let mut fails = Vec::new();
    for (k, ((a, b), c)) in multi.iter().zip(&single).zip(&cpu).enumerate() {
        for (what, x, y, z) in [
            ("param", &a.0, &b.0, &c.0),
            ("exp_avg", &a.1, &b.1, &c.1),
            ("exp_avg_sq", &a.2, &b.2, &c.2),
        ] {
            let (x, y) = (d.download(x).unwrap(), d.download(y).unwrap());
            let bad = x
                .iter()
                .zip(&y)
                .filter(|(p, q)| p.to_bits() != q.to_bits())
                .count();
            if bad > 0 {
                fails.push(format!(
                    "n={} {what}: {bad} differ from adamw_f32",
                    sizes[k]
                ));
            }
            let e = ipdpp::bench::rel_err(&x, z);
            if e.is_nan() || e > 1e-5 {
                fails.push(format!(
                    "n={} {what}: rel err {e:e} against the CPU",
                    sizes[k]
                ));
            }
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
