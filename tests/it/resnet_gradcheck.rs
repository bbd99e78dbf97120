//! Finite-difference check of a whole tiny network on the CPU: ResNet-8 (option-A shortcuts) with its
//! projector (64-512-128), both views in one batch with per-view batch-norm statistics, the official-code
//! BNS loss. The analytic gradient (engine backward) is compared with central differences of the loss
//! along directions in parameter space (the gradient of one tensor on a random half of its entries, and
//! a random mix over every tensor).
//!
//! Tolerance, from f32: the network runs in f32 (the loss in f64 from the f32 embeddings). A loss value
//! carries a rounding error of ~1e-7 relative (|δL| ≲ 1e-7 for L ≈ 1.4), and L(θ+) − L(θ−) over 2ε = 2e-3
//! could lose up to |δL|/ε ≈ 1e-4 absolute to it in the worst case; for nearby parameters most of the
//! rounding is the same in both evaluations, and the measured errors stay at a few 1e-3 relative even for
//! the smallest directional derivative here (1e-2). Larger steps are worse, not better: ReLU kinks and
//! batch-norm curvature make the truncation error dominate (measured while writing this test, largest relative error over the ten
//! directions: ε = 3e-2: 4.4e-2, 1e-2: 2.2e-2, 3e-3: 7.1e-3, 1e-3: 3.5e-3). The step actually taken is
//! the f32-rounded one: the analytic side uses the rounded parameter difference, so the rounding of θ ± εd
//! does not enter. The tolerance 1e-2 is ~3x the largest error seen at ε = 1e-3, and a wrong gradient
//! misses by far more: scaling one tensor's gradient by 0.9 gives 1e-1 (the second test).
use ipdpp::device::{Buffer, Device};
use ipdpp::loss::bns::bns_code_f32;
use ipdpp::nn::{Arch, Mode, ResNet};
use ipdpp::rng::uniform_f32;

const B: usize = 4;
const LABELS: [i32; B] = [0, 0, 1, 2];

fn loss_and_grad(net: &mut ResNet, x: &Buffer, with_grad: bool) -> f64 {
    let out = net.forward(x, Mode::Train, 2, true).unwrap();
    let z = net.read_slot(out).unwrap();
    let (z1, z2) = z.split_at(B * 128);
    let o = bns_code_f32(z1, z2, &LABELS, 128, 0.5).unwrap();
    if with_grad {
        let gz = Buffer::from_host(&Device::Cpu, &[o.g1, o.g2].concat()).unwrap();
        net.backward(&gz).unwrap();
    }
    o.loss
}

fn host(b: &Buffer) -> Vec<f32> {
    b.as_cpu().unwrap().to_vec()
}

/// Central difference of the loss along `dir` (one vector per parameter tensor, zero where unused),
/// and the analytic derivative along the f32 step actually taken: (L(θ+) − L(θ−)) vs g·(θ+ − θ−).
fn check_direction(
    net: &mut ResNet,
    x: &Buffer,
    grads: &[Vec<f32>],
    dir: &[Vec<f64>],
) -> (f64, f64) {
    let eps = 1e-3;
    let w0: Vec<Vec<f32>> = net.params.iter().map(|p| host(&p.w)).collect();
    let shifted = |sign: f64| -> Vec<Vec<f32>> {
        w0.iter()
            .zip(dir)
            .map(|(w, d)| {
                w.iter()
                    .zip(d)
                    .map(|(&a, &b)| (a as f64 + sign * eps * b) as f32)
                    .collect()
            })
            .collect()
    };
    let (wp, wm) = (shifted(1.0), shifted(-1.0));
    let set = |net: &mut ResNet, w: &[Vec<f32>]| {
        for (p, v) in net.params.iter_mut().zip(w) {
            p.w = Buffer::Cpu(v.clone());
        }
    };
    set(net, &wp);
    let lp = loss_and_grad(net, x, false);
    set(net, &wm);
    let lm = loss_and_grad(net, x, false);
    set(net, &w0);
    let mut analytic = 0.0f64;
    for ((g, a), b) in grads.iter().zip(&wp).zip(&wm) {
        for ((&gi, &ai), &bi) in g.iter().zip(a).zip(b) {
            analytic += gi as f64 * (ai as f64 - bi as f64);
        }
    }
    (lp - lm, analytic)
}

fn normalise(d: &mut [Vec<f64>]) {
    let n: f64 = d.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    assert!(n > 0.0);
    d.iter_mut().flatten().for_each(|v| *v /= n);
}

/// Runs the check; `grad_scale` multiplies one tensor's analytic gradient (1.0: the real check; the
/// test below also shows that 0.9 is caught). Returns the failures.
fn gradcheck_failures(grad_scale: f32) -> Vec<String> {
    let dev = Device::Cpu;
    let mut net = ResNet::new(&dev, Arch::ResNet8, 128, 11).unwrap();
    let x = Buffer::from_host(&dev, &uniform_f32(2 * B * 32 * 32 * 3, 0.0, 1.0, 5)).unwrap();
    let l0 = loss_and_grad(&mut net, &x, true);
    assert!(l0.is_finite());
    let mut grads: Vec<Vec<f32>> = net.params.iter().map(|p| host(&p.g)).collect();
    let names: Vec<String> = net.params.iter().map(|p| p.name.clone()).collect();
    let scaled = names
        .iter()
        .position(|n| n == "blocks.1.conv1.weight")
        .unwrap();
    grads[scaled].iter_mut().for_each(|g| *g *= grad_scale);

    // Directions: per tensor (a few of each kind), the gradient restricted to a random half of its
    // entries (so that single wrong entries move the result), and one random mix over all tensors.
    let mut dirs: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    let mask = |n: usize, seed: u64| -> Vec<bool> {
        uniform_f32(n, 0.0, 1.0, seed)
            .into_iter()
            .map(|u| u < 0.5)
            .collect()
    };
    for (k, t) in [
        "conv1.weight",
        "bn1.weight",
        "blocks.0.conv2.weight",
        "blocks.1.conv1.weight",
        "blocks.1.bn2.bias",
        "blocks.2.conv2.weight",
        "blocks.2.bn1.weight",
        "proj.0.weight",
        "proj.2.bias",
    ]
    .iter()
    .enumerate()
    {
        let i = names.iter().position(|n| n == t).unwrap();
        let m = mask(grads[i].len(), 100 + k as u64);
        let mut d: Vec<Vec<f64>> = grads.iter().map(|g| vec![0.0; g.len()]).collect();
        for (j, (&g, &on)) in grads[i].iter().zip(&m).enumerate() {
            d[i][j] = if on { g as f64 } else { 0.0 };
        }
        normalise(&mut d);
        dirs.push((t.to_string(), d));
    }
    let mut all: Vec<Vec<f64>> = grads
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let r = uniform_f32(g.len(), -1.0, 1.0, 500 + i as u64);
            g.iter()
                .zip(r)
                .map(|(&a, b)| a as f64 * (1.0 + b as f64))
                .collect()
        })
        .collect();
    normalise(&mut all);
    dirs.push(("every tensor, random mix".into(), all));

    let mut fails = Vec::new();
    for (what, d) in &dirs {
        let (fd, an) = check_direction(&mut net, &x, &grads, d);
        let rel = (fd - an).abs() / an.abs().max(1e-12);
        println!("{what:<28} finite difference {fd:+.6e}  analytic {an:+.6e}  rel {rel:.2e}");
        if rel.is_nan() || rel >= 1e-2 {
            fails.push(format!(
                "{what}: finite difference {fd:e} vs analytic {an:e} (rel {rel:e} ≥ 1e-2)"
            ));
        }
    }
    fails
}

#[test]
fn resnet8_whole_network_gradient_matches_finite_differences() {
    let fails = gradcheck_failures(1.0);
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn resnet8_gradcheck_catches_a_ten_percent_gradient_error() {
    let fails = gradcheck_failures(0.9);
    assert!(
        fails.iter().any(|f| f.starts_with("blocks.1.conv1.weight")),
        "a 10% error in one tensor's gradient went unnoticed: {fails:?}"
    );
}
