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
