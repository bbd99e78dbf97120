//! Engine ops against the PyTorch goldens (tests/fixtures/golden/ops, copied from the project's shared
//! goldens) and directional finite-difference checks of every backward.
use super::common::fixture;
use ipdpp::bench::rel_err;
use ipdpp::device::cpu::{conv, linear, norm, pool};
use ipdpp::npy;
use ipdpp::rng::uniform_f32;

fn g(name: &str) -> (Vec<usize>, Vec<f32>) {
    let a = npy::read(fixture(&format!("golden/ops/{name}.npy"))).unwrap();
    (a.shape.clone(), a.to_f32())
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_err(got, want);
    assert!(e < tol, "{what}: relative error {e:e} ≥ {tol:e}");
}

#[test]
fn conv_matches_pytorch_goldens() {
    for (case, stride, pad) in [
        ("conv3x3_s1", 1, 1),
        ("conv3x3_s2", 2, 1),
        ("conv1x1_s2", 2, 0),
        ("conv3x3_stem", 1, 1),
    ] {
        let (xs, x) = g(&format!("{case}.x_nhwc"));
        let (ws, w_oihw) = g(&format!("{case}.w_oihw"));
        let (_, y_want) = g(&format!("{case}.y_nhwc"));
        let (_, gy) = g(&format!("{case}.gy_nhwc"));
        let (_, gx_want) = g(&format!("{case}.gx_nhwc"));
        let (_, gw_want_oihw) = g(&format!("{case}.gw_oihw"));
        let s = conv::ConvSpec::new(xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], stride, pad);
        let w = conv::oihw_to_ohwi(&w_oihw, ws[0], ws[1], ws[2], ws[3]);
        let mut y = vec![f32::NAN; s.y_len()];
        conv::conv_fwd_f32(&mut y, &x, &w, &s);
        close(&format!("{case} forward"), &y, &y_want, 1e-5);
        let mut gx = vec![f32::NAN; s.x_len()];
        conv::conv_bwd_input_f32(&mut gx, &gy, &w, &s);
        close(&format!("{case} grad-input"), &gx, &gx_want, 1e-5);
        let mut gw = vec![f32::NAN; s.w_len()];
        conv::conv_bwd_weight_f32(&mut gw, &gy, &x, &s);
        let gw_oihw = conv::ohwi_to_oihw(&gw, ws[0], ws[1], ws[2], ws[3]);
        close(
            &format!("{case} grad-weight"),
            &gw_oihw,
            &gw_want_oihw,
            1e-5,
        );
    }
}

#[test]
fn batchnorm_matches_pytorch_goldens() {
    let (xs, x) = g("bn.x_nhwc");
    let c = xs[3];
    let rows = xs[0] * xs[1] * xs[2];
    let s = norm::BnSpec::new(rows, c);
    let (_, gamma) = g("bn.gamma");
    let (_, beta) = g("bn.beta");
    let (_, mut rm) = g("bn.running_mean_before");
    let (_, mut rv) = g("bn.running_var_before");
    let (mut y, mut mean, mut rstd) = (vec![f32::NAN; rows * c], vec![0.0; c], vec![0.0; c]);
    norm::batchnorm_fwd_train_f32(
        &mut y, &mut mean, &mut rstd, &mut rm, &mut rv, &x, &gamma, &beta, &s,
    );
    close("bn train forward", &y, &g("bn.y_train_nhwc").1, 1e-5);
    close("bn running mean", &rm, &g("bn.running_mean_after").1, 1e-5);
    close(
        "bn running var (unbiased update)",
        &rv,
        &g("bn.running_var_after").1,
        1e-5,
    );
    let (_, gy) = g("bn.gy_nhwc");
    let (mut gx, mut gg, mut gb) = (
        vec![f32::NAN; rows * c],
        vec![f32::NAN; c],
        vec![f32::NAN; c],
    );
    norm::batchnorm_bwd_f32(&mut gx, &mut gg, &mut gb, &gy, &x, &mean, &rstd, &gamma, &s);
    close("bn grad-input", &gx, &g("bn.gx_nhwc").1, 1e-5);
    close("bn grad-gamma", &gg, &g("bn.ggamma").1, 1e-5);
    close("bn grad-beta", &gb, &g("bn.gbeta").1, 1e-5);
    let mut ye = vec![f32::NAN; rows * c];
    norm::batchnorm_fwd_eval_f32(&mut ye, &x, &rm, &rv, &gamma, &beta, &s);
    close("bn eval forward", &ye, &g("bn.y_eval_nhwc").1, 1e-5);
}

#[test]
fn linear_matches_pytorch_goldens() {
    let (xs, x) = g("linear.x");
    let (ws, w) = g("linear.w_out_in");
    let (rows, din, dout) = (xs[0], xs[1], ws[0]);
    let (_, b) = g("linear.b");
    let mut y = vec![f32::NAN; rows * dout];
    linear::linear_fwd_f32(&mut y, &x, &w, Some(&b), rows, din, dout);
    close("linear forward", &y, &g("linear.y").1, 1e-5);
    let (_, gy) = g("linear.gy");
    let (mut gx, mut gw, mut gb) = (
        vec![f32::NAN; rows * din],
        vec![f32::NAN; dout * din],
        vec![f32::NAN; dout],
    );
    linear::linear_bwd_f32(
        Some(&mut gx),
        &mut gw,
        Some(&mut gb),
        &gy,
        &x,
        &w,
        rows,
        din,
        dout,
    );
    close("linear grad-input", &gx, &g("linear.gx").1, 1e-5);
    close("linear grad-weight", &gw, &g("linear.gw").1, 1e-5);
    close("linear grad-bias", &gb, &g("linear.gb").1, 1e-5);
}

/// Directional finite difference of L(x) = Σ r·f(x) against ⟨∇L, d⟩, accumulated in f64.
fn fd_check(what: &str, x: &[f32], grad: &[f32], f: impl Fn(&[f32]) -> Vec<f32>, r: &[f32]) {
    let d = uniform_f32(x.len(), -1.0, 1.0, 99);
    let loss = |v: &[f32]| {
        f(v).iter()
            .zip(r)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum::<f64>()
    };
    let eps = 1e-2f32;
    let plus: Vec<f32> = x.iter().zip(&d).map(|(a, b)| a + eps * b).collect();
    let minus: Vec<f32> = x.iter().zip(&d).map(|(a, b)| a - eps * b).collect();
    let fd = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
    let an: f64 = grad
        .iter()
        .zip(&d)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let e = (fd - an).abs() / an.abs().max(1e-3);
    assert!(
        e < 2e-3,
        "{what}: finite difference {fd} vs analytic {an} (rel {e:e})"
    );
}

#[test]
fn finite_differences_conv_bn_pool_shortcut() {
    let s = conv::ConvSpec::new(2, 7, 6, 5, 4, 3, 2, 1);
    let x = uniform_f32(s.x_len(), -1.0, 1.0, 1);
    let w = uniform_f32(s.w_len(), -0.5, 0.5, 2);
    let r = uniform_f32(s.y_len(), -1.0, 1.0, 3);
    let (mut gx, mut gw) = (vec![0.0; s.x_len()], vec![0.0; s.w_len()]);
    conv::conv_bwd_input_f32(&mut gx, &r, &w, &s);
    conv::conv_bwd_weight_f32(&mut gw, &r, &x, &s);
    let fwd = |xx: &[f32], ww: &[f32]| {
        let mut y = vec![0.0; s.y_len()];
        conv::conv_fwd_f32(&mut y, xx, ww, &s);
        y
    };
    fd_check("conv grad-input", &x, &gx, |v| fwd(v, &w), &r);
    fd_check("conv grad-weight", &w, &gw, |v| fwd(&x, v), &r);

    let bs = norm::BnSpec::new(30, 4);
    let xb = uniform_f32(120, -2.0, 2.0, 4);
    let gamma = uniform_f32(4, 0.5, 1.5, 5);
    let beta = uniform_f32(4, -0.5, 0.5, 6);
    let rb = uniform_f32(120, -1.0, 1.0, 7);
    let bn = |xx: &[f32], gm: &[f32]| {
        let (mut y, mut m, mut rs, mut rm, mut rv) = (
            vec![0.0; 120],
            vec![0.0; 4],
            vec![0.0; 4],
            vec![0.0; 4],
            vec![1.0; 4],
        );
        norm::batchnorm_fwd_train_f32(
            &mut y, &mut m, &mut rs, &mut rm, &mut rv, xx, gm, &beta, &bs,
        );
        (y, m, rs)
    };
    let (_, m, rs) = bn(&xb, &gamma);
    let (mut gxb, mut gg, mut gbt) = (vec![0.0; 120], vec![0.0; 4], vec![0.0; 4]);
    norm::batchnorm_bwd_f32(&mut gxb, &mut gg, &mut gbt, &rb, &xb, &m, &rs, &gamma, &bs);
    fd_check("bn grad-input", &xb, &gxb, |v| bn(v, &gamma).0, &rb);
    fd_check("bn grad-gamma", &gamma, &gg, |v| bn(&xb, v).0, &rb);

    let (n, h, wd, c, pad) = (2, 6, 5, 3, 2);
    let xs = uniform_f32(n * h * wd * c, -1.0, 1.0, 8);
    let ylen = n * h.div_ceil(2) * wd.div_ceil(2) * (c + 2 * pad);
    let rs = uniform_f32(ylen, -1.0, 1.0, 9);
    let mut gxs = vec![0.0; xs.len()];
    pool::shortcut_a_bwd_f32(&mut gxs, &rs, n, h, wd, c, pad);
    fd_check(
        "shortcut-A grad",
        &xs,
        &gxs,
        |v| {
            let mut y = vec![0.0; ylen];
            pool::shortcut_a_fwd_f32(&mut y, v, n, h, wd, c, pad);
            y
        },
        &rs,
    );
    let rp = uniform_f32(n * c, -1.0, 1.0, 10);
    let mut gxp = vec![0.0; xs.len()];
    pool::avgpool_bwd_f32(&mut gxp, &rp, n, h * wd, c);
    fd_check(
        "avgpool grad",
        &xs,
        &gxp,
        |v| {
            let mut y = vec![0.0; n * c];
            pool::avgpool_fwd_f32(&mut y, v, n, h * wd, c);
            y
        },
        &rp,
    );
}

#[test]
fn shortcut_a_layout_matches_pytorch_slicing() {
    // x[:, :, ::2, ::2] then F.pad over channels (pad each side): channel j of the input lands at j + pad.
    let (n, h, w, c, pad) = (1, 4, 4, 2, 1);
    let x: Vec<f32> = (0..n * h * w * c).map(|v| v as f32).collect();
    let mut y = vec![f32::NAN; 2 * 2 * (c + 2)];
    pool::shortcut_a_fwd_f32(&mut y, &x, n, h, w, c, pad);
    // pixel (0,0) → x[0..2]; pixel (0,1) → input (0,2) = x[4..6]; pixel (1,0) → input (2,0) = x[16..18].
    assert_eq!(&y[0..4], &[0.0, 0.0, 1.0, 0.0]);
    assert_eq!(&y[4..8], &[0.0, 4.0, 5.0, 0.0]);
    assert_eq!(&y[8..12], &[0.0, 16.0, 17.0, 0.0]);
}
