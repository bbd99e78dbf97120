//! ResNet ops on CUDA (every numbered version) against the CPU references: fresh random inputs,
//! NaN-poisoned outputs, fp32 tolerance. Skipped without a GPU.
use super::common::{cuda_or_skip, seed_for};
use ipdpp::bench::rel_err;
use ipdpp::device::cpu::{conv as cconv, linear as clin, norm as cnorm, pool as cpool};
use ipdpp::device::cuda::{conv, linear, norm, pool, CudaDevice};
use ipdpp::device::ops::GemmVersion;
use ipdpp::device::Device;
use ipdpp::rng::uniform_f32;

const TOL: f64 = 1e-5;

fn dev_of(d: &Device) -> &CudaDevice {
    d.cuda().expect("a CUDA device")
}

fn check(fails: &mut Vec<String>, what: String, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_err(got, want);
    if e >= tol {
        fails.push(format!("{what}: rel err {e:e} ≥ {tol:e}"));
    }
}

#[test]
fn cuda_conv_versions_match_cpu() {
    let Some(d) = cuda_or_skip("cuda_conv_versions_match_cpu") else {
        return;
    };
    let dev = dev_of(&d);
    let seed = seed_for("cuda_conv_versions_match_cpu");
    let shapes = [
        cconv::ConvSpec::new(2, 8, 8, 3, 64, 3, 1, 1),  // stem
        cconv::ConvSpec::new(3, 9, 7, 16, 16, 3, 1, 1), // odd sizes
        cconv::ConvSpec::new(2, 16, 16, 16, 32, 3, 2, 1), // stride 2
        cconv::ConvSpec::new(2, 16, 16, 64, 128, 1, 2, 0), // 1x1 projection shortcut
        cconv::ConvSpec::new(8, 32, 32, 64, 64, 3, 1, 1), // ResNet-18 layer 1 at batch 8
    ];
    let mut fails = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let sd = seed + i as u64 * 10;
        let x = uniform_f32(s.x_len(), -1.0, 1.0, sd);
        let w = uniform_f32(s.w_len(), -0.3, 0.3, sd + 1);
        let gy = uniform_f32(s.y_len(), -1.0, 1.0, sd + 2);
        let (mut y, mut gx, mut gw) = (
            vec![0.0; s.y_len()],
            vec![0.0; s.x_len()],
            vec![0.0; s.w_len()],
        );
        cconv::conv_fwd_f32(&mut y, &x, &w, s);
        cconv::conv_bwd_input_f32(&mut gx, &gy, &w, s);
        cconv::conv_bwd_weight_f32(&mut gw, &gy, &x, s);
        let (dx, dw, dgy) = (
            dev.upload(&x).unwrap(),
            dev.upload(&w).unwrap(),
            dev.upload(&gy).unwrap(),
        );
        // grad-weight sums n·oh·ow products in f32: allow √ growth over the fp32 bound.
        let tol_w = TOL.max(2e-7 * ((s.n * s.oh() * s.ow()) as f64).sqrt());
        for v in [conv::ConvVersion::V1, conv::ConvVersion::V2] {
            let mut oy = dev.upload(&vec![f32::NAN; s.y_len()]).unwrap();
            conv::conv_fwd_f32(dev, v, &mut oy, &dx, &dw, s).unwrap();
            check(
                &mut fails,
                format!("conv fwd {v:?} {s:?}"),
                &dev.download(&oy).unwrap(),
                &y,
                TOL,
            );
            let mut ogx = dev.upload(&vec![f32::NAN; s.x_len()]).unwrap();
            conv::conv_bwd_input_f32(dev, v, &mut ogx, &dgy, &dw, s).unwrap();
            check(
                &mut fails,
                format!("conv grad-input {v:?} {s:?}"),
                &dev.download(&ogx).unwrap(),
                &gx,
                TOL,
            );
            let mut ogw = dev.upload(&vec![f32::NAN; s.w_len()]).unwrap();
            conv::conv_bwd_weight_f32(dev, v, &mut ogw, &dgy, &dx, s).unwrap();
            check(
                &mut fails,
                format!("conv grad-weight {v:?} {s:?}"),
                &dev.download(&ogw).unwrap(),
                &gw,
                tol_w,
            );
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn cuda_batchnorm_matches_cpu() {
    let Some(d) = cuda_or_skip("cuda_batchnorm_matches_cpu") else {
        return;
    };
    let dev = dev_of(&d);
    let seed = seed_for("cuda_batchnorm_matches_cpu");
    let mut fails = Vec::new();
    for (rows, c) in [
        (10usize, 3usize),
        (2 * 8 * 8, 16),
        (8 * 32 * 32, 64),
        (4 * 4 * 4, 512),
        (100_000, 33),
    ] {
        let s = cnorm::BnSpec::new(rows, c);
        // An offset mean tests the two-pass variance.
        let x = uniform_f32(rows * c, 2.0, 4.0, seed);
        let gamma = uniform_f32(c, 0.5, 1.5, seed + 1);
        let beta = uniform_f32(c, -0.5, 0.5, seed + 2);
        let gy = uniform_f32(rows * c, -1.0, 1.0, seed + 3);
        let rm0 = uniform_f32(c, -0.1, 0.1, seed + 4);
        let rv0 = uniform_f32(c, 0.9, 1.1, seed + 5);
        let (mut y, mut m, mut rs, mut rm, mut rv) = (
            vec![0.0; rows * c],
            vec![0.0; c],
            vec![0.0; c],
            rm0.clone(),
            rv0.clone(),
        );
        cnorm::batchnorm_fwd_train_f32(
            &mut y, &mut m, &mut rs, &mut rm, &mut rv, &x, &gamma, &beta, &s,
        );
        let (mut gx, mut gg, mut gb) = (vec![0.0; rows * c], vec![0.0; c], vec![0.0; c]);
        cnorm::batchnorm_bwd_f32(&mut gx, &mut gg, &mut gb, &gy, &x, &m, &rs, &gamma, &s);
        let mut ye = vec![0.0; rows * c];
        cnorm::batchnorm_fwd_eval_f32(&mut ye, &x, &rm, &rv, &gamma, &beta, &s);

        let nan = |n: usize| dev.upload(&vec![f32::NAN; n]).unwrap();
        let (dx, dg, db, dgy) = (
            dev.upload(&x).unwrap(),
            dev.upload(&gamma).unwrap(),
            dev.upload(&beta).unwrap(),
            dev.upload(&gy).unwrap(),
        );
        let (mut oy, mut om, mut ors) = (nan(rows * c), nan(c), nan(c));
        let (mut orm, mut orv) = (dev.upload(&rm0).unwrap(), dev.upload(&rv0).unwrap());
        norm::batchnorm_fwd_train_f32(
            dev,
            &mut oy.as_view_mut(),
            &mut om.as_view_mut(),
            &mut ors.as_view_mut(),
            &mut orm.as_view_mut(),
            &mut orv.as_view_mut(),
            &dx.as_view(),
            &dg.as_view(),
            &db.as_view(),
            &s,
        )
        .unwrap();
        let tag = format!("{rows}x{c}");
        let tol = TOL.max(2e-7 * (rows as f64).sqrt());
        check(
            &mut fails,
            format!("bn train y {tag}"),
            &dev.download(&oy).unwrap(),
            &y,
            tol,
        );
        check(
            &mut fails,
            format!("bn running mean {tag}"),
            &dev.download(&orm).unwrap(),
            &rm,
            tol,
        );
        check(
            &mut fails,
            format!("bn running var {tag}"),
            &dev.download(&orv).unwrap(),
            &rv,
            tol,
        );
        let (mut ogx, mut ogg, mut ogb) = (nan(rows * c), nan(c), nan(c));
        norm::batchnorm_bwd_f32(
            dev,
            &mut ogx.as_view_mut(),
            &mut ogg.as_view_mut(),
            &mut ogb.as_view_mut(),
            &dgy.as_view(),
            &dx.as_view(),
            &om.as_view(),
            &ors.as_view(),
            &dg.as_view(),
            &s,
        )
        .unwrap();
        check(
            &mut fails,
            format!("bn gx {tag}"),
            &dev.download(&ogx).unwrap(),
            &gx,
            tol * 10.0,
        );
        check(
            &mut fails,
            format!("bn ggamma {tag}"),
            &dev.download(&ogg).unwrap(),
            &gg,
            tol,
        );
        check(
            &mut fails,
            format!("bn gbeta {tag}"),
            &dev.download(&ogb).unwrap(),
            &gb,
            tol,
        );
        let mut oye = nan(rows * c);
        norm::batchnorm_fwd_eval_f32(
            dev,
            &mut oye.as_view_mut(),
            &dx.as_view(),
            &orm.as_view(),
            &orv.as_view(),
            &dg.as_view(),
            &db.as_view(),
            &s,
        )
        .unwrap();
        check(
            &mut fails,
            format!("bn eval y {tag}"),
            &dev.download(&oye).unwrap(),
            &ye,
            tol,
        );
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn cuda_pool_shortcut_linear_match_cpu() {
    let Some(d) = cuda_or_skip("cuda_pool_shortcut_linear_match_cpu") else {
        return;
    };
    let dev = dev_of(&d);
    let seed = seed_for("cuda_pool_shortcut_linear_match_cpu");
    let nan = |n: usize| dev.upload(&vec![f32::NAN; n]).unwrap();
    let mut fails = Vec::new();
    for (n, h, w, c, pad) in [
        (2usize, 8usize, 8usize, 16usize, 8usize),
        (3, 7, 5, 4, 2),
        (16, 16, 16, 32, 16),
    ] {
        let x = uniform_f32(n * h * w * c, -1.0, 1.0, seed);
        let ylen = n * h.div_ceil(2) * w.div_ceil(2) * (c + 2 * pad);
        let gy = uniform_f32(ylen, -1.0, 1.0, seed + 1);
        let (mut y, mut gx) = (vec![0.0; ylen], vec![0.0; x.len()]);
        cpool::shortcut_a_fwd_f32(&mut y, &x, n, h, w, c, pad);
        cpool::shortcut_a_bwd_f32(&mut gx, &gy, n, h, w, c, pad);
        let (mut oy, mut ogx) = (nan(ylen), nan(x.len()));
        pool::shortcut_a_fwd_f32(dev, &mut oy, &dev.upload(&x).unwrap(), n, h, w, c, pad).unwrap();
        pool::shortcut_a_bwd_f32(dev, &mut ogx, &dev.upload(&gy).unwrap(), n, h, w, c, pad)
            .unwrap();
        check(
            &mut fails,
            format!("shortcut fwd {n}x{h}x{w}x{c}"),
            &dev.download(&oy).unwrap(),
            &y,
            TOL,
        );
        check(
            &mut fails,
            format!("shortcut bwd {n}x{h}x{w}x{c}"),
            &dev.download(&ogx).unwrap(),
            &gx,
            TOL,
        );

        let gp = uniform_f32(n * c, -1.0, 1.0, seed + 2);
        let (mut p, mut gpx) = (vec![0.0; n * c], vec![0.0; x.len()]);
        cpool::avgpool_fwd_f32(&mut p, &x, n, h * w, c);
        cpool::avgpool_bwd_f32(&mut gpx, &gp, n, h * w, c);
        let (mut op, mut ogp) = (nan(n * c), nan(x.len()));
        pool::avgpool_fwd_f32(dev, &mut op, &dev.upload(&x).unwrap(), n, h * w, c).unwrap();
        pool::avgpool_bwd_f32(dev, &mut ogp, &dev.upload(&gp).unwrap(), n, h * w, c).unwrap();
        check(
            &mut fails,
            format!("avgpool fwd {n}x{h}x{w}x{c}"),
            &dev.download(&op).unwrap(),
            &p,
            TOL,
        );
        check(
            &mut fails,
            format!("avgpool bwd {n}x{h}x{w}x{c}"),
            &dev.download(&ogp).unwrap(),
            &gpx,
            TOL,
        );
    }
    for (rows, din, dout) in [
        (4usize, 64usize, 10usize),
        (256, 512, 2048),
        (256, 2048, 128),
        (37, 5, 3),
    ] {
        let x = uniform_f32(rows * din, -1.0, 1.0, seed + 3);
        let w = uniform_f32(dout * din, -0.2, 0.2, seed + 4);
        let b = uniform_f32(dout, -0.2, 0.2, seed + 5);
        let gy = uniform_f32(rows * dout, -1.0, 1.0, seed + 6);
        let (mut y, mut gx, mut gw, mut gb) = (
            vec![0.0; rows * dout],
            vec![0.0; rows * din],
            vec![0.0; dout * din],
            vec![0.0; dout],
        );
        clin::linear_fwd_f32(&mut y, &x, &w, Some(&b), rows, din, dout);
        clin::linear_bwd_f32(
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
        let (dx, dw, db, dgy) = (
            dev.upload(&x).unwrap(),
            dev.upload(&w).unwrap(),
            dev.upload(&b).unwrap(),
            dev.upload(&gy).unwrap(),
        );
        for v in [GemmVersion::V3, GemmVersion::Cublas] {
            let (mut oy, mut ogx, mut ogw, mut ogb) = (
                nan(rows * dout),
                nan(rows * din),
                nan(dout * din),
                nan(dout),
            );
            linear::linear_fwd_f32(dev, v, &mut oy, &dx, &dw, Some(&db), rows, din, dout).unwrap();
            linear::linear_bwd_f32(
                dev,
                v,
                Some(&mut ogx),
                &mut ogw,
                Some(&mut ogb),
                &dgy,
                &dx,
                &dw,
                rows,
                din,
                dout,
            )
            .unwrap();
            let tag = format!("{v} {rows}x{din}->{dout}");
            let tol = TOL.max(2e-7 * (din.max(rows) as f64).sqrt());
            check(
                &mut fails,
                format!("linear y {tag}"),
                &dev.download(&oy).unwrap(),
                &y,
                tol,
            );
            check(
                &mut fails,
                format!("linear gx {tag}"),
                &dev.download(&ogx).unwrap(),
                &gx,
                tol,
            );
            check(
                &mut fails,
                format!("linear gw {tag}"),
                &dev.download(&ogw).unwrap(),
                &gw,
                tol,
            );
            check(
                &mut fails,
                format!("linear gb {tag}"),
                &dev.download(&ogb).unwrap(),
                &gb,
                tol,
            );
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
