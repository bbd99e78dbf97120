//! The CPU references against values worked out by hand or by independent formulas.
use approx::assert_relative_eq;
use ipdpp::device::cpu::{elementwise, gemm, reduce};
use ipdpp::device::ops::GemmSpec;
use ipdpp::optim::AdamW;
use ipdpp::rng::uniform_f32;

#[test]
fn add_scale_relu_known_values() {
    let a = [1.0f32, -2.0, 0.0, 3.5];
    let b = [0.5f32, 2.0, -1.0, -3.5];
    let mut o = [f32::NAN; 4];
    elementwise::add_f32(&mut o, &a, &b);
    assert_eq!(o, [1.5, 0.0, -1.0, 0.0]);
    elementwise::scale_f32(&mut o, &a, -2.0);
    assert_eq!(o, [-2.0, 4.0, -0.0, -7.0]);
    elementwise::relu_fwd_f32(&mut o, &a);
    assert_eq!(o, [1.0, 0.0, 0.0, 3.5]);
    // Gradient flows only where x > 0 (zero at x == 0, PyTorch's convention).
    elementwise::relu_bwd_f32(&mut o, &[10.0, 20.0, 30.0, 40.0], &a);
    assert_eq!(o, [10.0, 0.0, 0.0, 40.0]);
}

#[test]
fn adamw_matches_torch_formula_in_f64() {
    // Independent f64 transcription of torch.optim.AdamW (decoupled decay, bias-corrected step).
    let n = 1000;
    let h0 = AdamW {
        lr: 3e-3,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.05,
        step: 1,
    };
    let mut p = uniform_f32(n, -1.0, 1.0, 11);
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
    let (mut m64, mut v64) = (vec![0.0f64; n], vec![0.0f64; n]);
    for t in 1..=5u64 {
        let g = uniform_f32(n, -0.3, 0.3, 100 + t);
        let h = AdamW { step: t, ..h0 };
        elementwise::adamw_f32(&mut p, &g, &mut m, &mut v, &h);
        let (b1, b2) = (h.beta1 as f64, h.beta2 as f64);
        for i in 0..n {
            let gi = g[i] as f64;
            p64[i] *= 1.0 - h.lr as f64 * h.weight_decay as f64;
            m64[i] = b1 * m64[i] + (1.0 - b1) * gi;
            v64[i] = b2 * v64[i] + (1.0 - b2) * gi * gi;
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2 = 1.0 - b2.powi(t as i32);
            p64[i] -= h.lr as f64 / bc1 * m64[i] / (v64[i].sqrt() / bc2.sqrt() + h.eps as f64);
        }
    }
    for i in 0..n {
        assert_relative_eq!(p[i] as f64, p64[i], max_relative = 1e-5, epsilon = 1e-7);
        assert_relative_eq!(m[i] as f64, m64[i], max_relative = 1e-5, epsilon = 1e-9);
    }
    // The first step of Adam moves every parameter by about lr (|m̂/√v̂| = 1).
    let h = AdamW {
        step: 1,
        weight_decay: 0.0,
        ..h0
    };
    let mut q = vec![0.5f32; 4];
    elementwise::adamw_f32(
        &mut q,
        &[1.0, -1.0, 0.5, -0.25],
        &mut [0.0; 4],
        &mut [0.0; 4],
        &h,
    );
    for (qi, s) in q.iter().zip([-1.0f32, 1.0, -1.0, 1.0]) {
        assert_relative_eq!(*qi, 0.5 + s * h.lr, max_relative = 1e-4);
    }
}

#[test]
fn row_reductions_known_values() {
    let x = [1.0f32, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, 10.0];
    let mut s = [f32::NAN; 2];
    reduce::row_sum_f32(&mut s, &x, 2, 4);
    assert_eq!(s, [10.0, 4.0]);
    reduce::row_mean_f32(&mut s, &x, 2, 4);
    assert_eq!(s, [2.5, 1.0]);
    let mut one = [f32::NAN; 4];
    reduce::row_sum_f32(&mut one, &x, 4, 2);
    assert_eq!(one, [3.0, 7.0, -3.0, 7.0]);
}

#[test]
fn gemm_reference_known_product_and_transposes() {
    // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0];
    let s = GemmSpec::new(2, 2, 3);
    let mut c = [f32::NAN; 4];
    gemm::gemm_ref_f32(&mut c, &a, &b, &s);
    assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
    // The same product from transposed storage.
    let at = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0];
    let bt = [7.0f32, 9.0, 11.0, 8.0, 10.0, 12.0];
    let mut c2 = [f32::NAN; 4];
    gemm::gemm_ref_f32(
        &mut c2,
        &at,
        &bt,
        &GemmSpec {
            ta: true,
            tb: true,
            ..s
        },
    );
    assert_eq!(c2, c);
    // alpha and beta: C = 2·AB − 1·C.
    let mut c3 = [1.0f32, 1.0, 1.0, 1.0];
    gemm::gemm_ref_f32(
        &mut c3,
        &a,
        &b,
        &GemmSpec {
            alpha: 2.0,
            beta: -1.0,
            ..s
        },
    );
    assert_eq!(c3, [115.0, 127.0, 277.0, 307.0]);
}

#[test]
fn openblas_gemm_agrees_with_reference_every_transpose() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let s = GemmSpec {
            ta,
            tb,
            alpha: 1.5,
            beta: 0.25,
            ..GemmSpec::new(67, 45, 129)
        };
        let a = uniform_f32(s.m * s.k, -1.0, 1.0, 1);
        let b = uniform_f32(s.k * s.n, -1.0, 1.0, 2);
        let c0 = uniform_f32(s.m * s.n, -1.0, 1.0, 3);
        let (mut want, mut got) = (c0.clone(), c0.clone());
        gemm::gemm_ref_f32(&mut want, &a, &b, &s);
        gemm::gemm_blas_f32(&mut got, &a, &b, &s);
        let e = ipdpp::bench::rel_err(&got, &want);
        assert!(e < 1e-5, "ta={ta} tb={tb}: rel err {e:e}");
    }
}

#[test]
fn rel_err_flags_poisoned_output() {
    assert!(ipdpp::bench::rel_err(&[1.0, f32::NAN], &[1.0, 2.0]).is_infinite());
    assert_eq!(ipdpp::bench::rel_err(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
    assert!((ipdpp::bench::rel_err(&[3.0, 4.0], &[0.0, 0.0]) - 5.0).abs() < 1e-12);
}

#[test]
fn cpu_device_ops_through_dispatch() {
    use ipdpp::device::{Buffer, Device};
    let dev = Device::Cpu;
    for c in ipdpp::selfcheck::all(&dev, 5).unwrap() {
        assert!(
            c.passed(),
            "{} {}: rel err {:e} > {:e}",
            c.op,
            c.shape,
            c.rel_err,
            c.tol
        );
    }
    // Dispatch refuses a wrong-size output instead of writing out of bounds.
    let mut small = Buffer::zeros(&dev, 2).unwrap();
    let a = Buffer::from_host(&dev, &[1.0, 2.0, 3.0]).unwrap();
    let err = ipdpp::device::ops::add_f32(&dev, &mut small, &a, &a).unwrap_err();
    assert!(err.to_string().contains("needs 3"), "{err}");
}

/// bf16 rounding of the v6 convolutions' operand cast: round to nearest, ties to even, worked out by hand
/// on the bit patterns (1 + 2^-8 lies halfway between 1 and 1 + 2^-7, whose last mantissa bits are 0 and 1).
#[test]
fn cast_bf16_rounds_to_nearest_even() {
    let t = 2f32.powi(-8);
    let cases: [(f32, u16); 9] = [
        (1.0, 0x3F80),
        (1.0 + t, 0x3F80),                  // tie, down to the even neighbour
        (1.0 + 3.0 * t, 0x3F82),            // tie between 0x3F81 and 0x3F82: up to the even one
        (1.0 + t + 2f32.powi(-20), 0x3F81), // just above the tie
        (-(1.0 + 3.0 * t), 0xBF82),
        (0.0, 0x0000),
        (-0.0, 0x8000),
        (f32::MAX, 0x7F80), // beyond bf16's largest finite: infinity
        (f32::from_bits(0x0000_8000), 0x0000), // subnormal tie, down to even (zero)
    ];
    let x: Vec<f32> = cases.iter().map(|c| c.0).collect();
    let mut y = vec![0xFFFFu16; x.len()];
    elementwise::cast_bf16_f32(&mut y, &x);
    for ((v, want), got) in cases.iter().zip(&y) {
        assert_eq!(*got, *want, "bf16({v:e}) = {got:#06x}, want {want:#06x}");
    }
}
