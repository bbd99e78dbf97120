//! `ipdpp bench resnet`: the CPU variant end to end (tiny ResNet-8, batch 4 per view, one step), its
//! report's FLOP accounting against a hand count, and the Chrome trace's structure; the CUDA variant
//! (events around every node) when a GPU is there.
use super::common::{bin, cuda_or_skip};
use ipdpp::bench::resnet::{bench, chrome_trace, ResnetArgs};
use ipdpp::device::Device;
use serde_json::Value;

fn tiny(arch: &str, batch: usize) -> ResnetArgs {
    ResnetArgs {
        steps: 1,
        warmup: 1,
        profile_steps: 1,
        no_ceiling: true,
        ..ResnetArgs::new(arch, batch)
    }
}

/// ResNet-8 FLOPs per image by hand: 2·(output pixels)·cout·(k²·cin) per conv; backward is grad-input
/// plus grad-weight (the stem has no grad-input); linears 2·din·dout, same rule.
fn resnet8_flops_per_image() -> f64 {
    let conv = |hw: f64, cout: f64, kk_cin: f64| 2.0 * hw * cout * kk_cin;
    let stem = conv(1024.0, 16.0, 27.0);
    let rest = [
        conv(1024.0, 16.0, 144.0),
        conv(1024.0, 16.0, 144.0),
        conv(256.0, 32.0, 144.0),
        conv(256.0, 32.0, 288.0),
        conv(64.0, 64.0, 288.0),
        conv(64.0, 64.0, 576.0),
        2.0 * 64.0 * 512.0,
        2.0 * 512.0 * 128.0,
    ];
    let fwd = stem + rest.iter().sum::<f64>();
    fwd + stem + 2.0 * rest.iter().sum::<f64>()
}

#[test]
fn resnet_bench_cpu_report_counts_flops_and_times_every_node() {
    let a = tiny("resnet8", 4);
    let res = bench(&Device::Cpu, &a).unwrap();
    let r = &res.report;
    assert_eq!(r.images_per_step, 8);
    assert_eq!(r.arch, "resnet8");
    assert!(r.step.median_ms > 0.0 && r.images_per_s > 0.0);
    assert!(r.loss_first.is_finite() && r.loss_last.is_finite());
    // AdamW steps change the weights, so the loss of the last timed step differs from the first.
    assert_ne!(r.loss_first, r.loss_last);
    let n = 8.0;
    let loss_flops = 3.0 * 2.0 * n * n * 128.0;
    let want = resnet8_flops_per_image() * n + loss_flops;
    assert!(
        (r.flops_per_step - want).abs() <= 1e-9 * want,
        "flops per step {} vs hand count {want}",
        r.flops_per_step
    );
    // Every node is timed forward and backward; the per-layer and per-op tables agree.
    assert_eq!(r.layers.len(), res.nodes.len());
    assert!(r.layers.iter().all(|l| l.fwd_ms >= 0.0 && l.bwd_ms >= 0.0));
    let names: std::collections::HashSet<&str> = r.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), r.layers.len(), "layer names must be unique");
    // The kernels column: convolutions name their three kernels (the stem computes no grad-input),
    // other ops nothing.
    for l in &r.layers {
        let want = match (l.op.starts_with("conv"), l.name.as_str()) {
            (false, _) => "",
            (true, "conv1") => "cpu/-/cpu",
            (true, _) => "cpu/cpu/cpu",
        };
        assert_eq!(l.kernels, want, "{} ({})", l.name, l.op);
    }
    check_backward_parts(r);
    for want in [
        "conv1",
        "bn1",
        "blocks.1.shortcut",
        "blocks.2.add",
        "avgpool",
        "proj.2",
    ] {
        assert!(names.contains(want), "no layer named {want}: {names:?}");
    }
    let layer_sum: f64 = r.layers.iter().map(|l| l.fwd_ms + l.bwd_ms).sum();
    let op_sum: f64 = r.ops.iter().map(|o| o.fwd_ms + o.bwd_ms).sum();
    assert!((op_sum - r.profiled_step_ms).abs() <= 1e-9 * r.profiled_step_ms.max(1.0));
    let phase_sum: f64 = r.phases.iter().map(|(_, ms)| ms).sum();
    assert!((phase_sum - r.profiled_step_ms).abs() <= 1e-9 * r.profiled_step_ms.max(1.0));
    assert!(layer_sum > 0.0 && layer_sum <= r.profiled_step_ms + 1e-9);
    assert!(r.conv_ms > 0.0 && r.conv_tflops > 0.0);
    assert!(r.ceiling.is_none() && r.pct_of_ceiling.is_none());
}

/// A convolution's backward splits into its grad-input (none for the stem) and grad-weight, which fit
/// inside its backward time; other ops have no parts; the per-op lines sum the parts.
fn check_backward_parts(r: &ipdpp::bench::resnet::ResnetReport) {
    for l in &r.layers {
        if !l.op.starts_with("conv") {
            assert!(l.gx_ms.is_none() && l.gw_ms.is_none(), "{}", l.name);
            continue;
        }
        let gw = l
            .gw_ms
            .unwrap_or_else(|| panic!("{}: no grad-weight part", l.name));
        let gx = match (l.name.as_str(), l.gx_ms) {
            ("conv1", None) => 0.0,
            ("conv1", Some(_)) => panic!("the stem computes no grad-input"),
            (_, Some(gx)) => gx,
            (n, None) => panic!("{n}: no grad-input part"),
        };
        assert!(gw > 0.0 && (gx > 0.0 || l.name == "conv1"), "{}", l.name);
        assert!(
            gx + gw <= l.bwd_ms + 1e-9,
            "{}: parts {gx} + {gw} > bwd {}",
            l.name,
            l.bwd_ms
        );
    }
    for o in &r.ops {
        let nodes = r.layers.iter().filter(|l| l.op == o.op);
        let (gx, gw) = nodes.fold((0.0, 0.0), |(x, w), l| {
            (x + l.gx_ms.unwrap_or(0.0), w + l.gw_ms.unwrap_or(0.0))
        });
        assert!(
            (o.gw_ms.unwrap_or(0.0) - gw).abs() <= 1e-9 * gw.max(1.0),
            "{}",
            o.op
        );
        assert!(
            (o.gx_ms.unwrap_or(0.0) - gx).abs() <= 1e-9 * gx.max(1.0),
            "{}",
            o.op
        );
    }
}

/// Checks a Chrome trace: complete events on one track, in order, not overlapping, forward nodes, the
/// loss, backward nodes, AdamW; and on a second track each convolution's grad-input / grad-weight inside
/// its backward node. Returns the first track's X events' names.
fn check_trace(t: &Value, nodes: usize) -> Vec<String> {
    let ev = t["traceEvents"].as_array().expect("traceEvents array");
    let xs: Vec<&Value> = ev
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == 1)
        .collect();
    let parts: Vec<&Value> = ev
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == 2)
        .collect();
    assert!(!parts.is_empty(), "no grad-input / grad-weight events");
    for p in &parts {
        let name = p["name"].as_str().unwrap();
        let (layer, part) = name.rsplit_once(' ').unwrap();
        assert!(part == "gx" || part == "gw", "{name}");
        let node = xs
            .iter()
            .find(|e| e["name"] == format!("{layer} bwd").as_str())
            .unwrap_or_else(|| panic!("{name}: no backward event of {layer}"));
        let (ts, dur) = (p["ts"].as_f64().unwrap(), p["dur"].as_f64().unwrap());
        let (nts, ndur) = (node["ts"].as_f64().unwrap(), node["dur"].as_f64().unwrap());
        assert!(
            ts + 1e-3 >= nts && ts + dur <= nts + ndur + 1e-3,
            "{name} outside {node}"
        );
    }
    assert_eq!(
        xs.len(),
        2 * nodes + 2,
        "one event per node forward and backward, plus the loss and AdamW"
    );
    let mut prev_end = f64::NEG_INFINITY;
    for e in &xs {
        let ts = e["ts"].as_f64().expect("numeric ts");
        let dur = e["dur"].as_f64().expect("numeric dur");
        assert!(ts >= 0.0 && dur >= 0.0, "{e}");
        assert!(e["name"].is_string() && e["pid"].is_number() && e["tid"].is_number());
        // Ops run one after another on one stream / thread: no overlap beyond rounding.
        assert!(
            ts + 1e-3 >= prev_end,
            "event {e} starts before the previous ended"
        );
        prev_end = ts + dur;
    }
    let names: Vec<String> = xs
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names[0], "conv1 fwd");
    assert_eq!(names[nodes], "bns_loss_code");
    assert_eq!(names[nodes + 1], "proj.2 bwd");
    assert_eq!(names[2 * nodes], "conv1 bwd");
    assert_eq!(names[2 * nodes + 1], "adamw");
    assert!(xs[..nodes].iter().all(|e| e["cat"] == "forward"));
    assert!(xs[nodes + 1..2 * nodes + 1]
        .iter()
        .all(|e| e["cat"] == "backward"));
    assert!(
        xs[0]["args"]["kernels"]
            .as_str()
            .unwrap()
            .contains("conv_fwd"),
        "{}",
        xs[0]
    );
    names
}

#[test]
fn resnet_bench_cli_writes_json_report_and_chrome_trace() {
    let dir = std::env::temp_dir().join(format!("ipdpp-resnet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("step.json");
    let out = dir.join("report.json");
    let o = std::process::Command::new(bin())
        .args([
            "--device",
            "cpu",
            "bench",
            "resnet",
            "--arch",
            "resnet8",
            "--batch",
            "4",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--profile-steps",
            "1",
            "--json",
        ])
        .arg("--trace")
        .arg(&trace)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep: Value = serde_json::from_slice(&o.stdout).expect("stdout is the JSON report");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(rep["images_per_step"], 8);
    assert_eq!(file["arch"], "resnet8");
    assert!(rep["images_per_s"].as_f64().unwrap() > 0.0);
    let c = rep["ceiling"]["tflops"]
        .as_f64()
        .expect("a measured ceiling");
    assert!(c > 0.0 && rep["pct_of_ceiling"].as_f64().unwrap() > 0.0);
    let nodes = rep["layers"].as_array().unwrap().len();
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    check_trace(&t, nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resnet_bench_cli_rejects_bad_arguments() {
    for (flag, val, says) in [
        ("--precision", "fp64", "unknown precision"),
        ("--arch", "resnet99", "unknown architecture"),
        ("--loss", "fancy", "unknown BNS loss form"),
        ("--batch", "1", "at least 2"),
    ] {
        let o = std::process::Command::new(bin())
            .args([
                "--device", "cpu", "bench", "resnet", "--steps", "1", flag, val,
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag} {val}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{flag} {val}: {err}");
    }
}

#[test]
fn resnet_bench_cuda_times_every_node_with_events() {
    let Some(dev) = cuda_or_skip("resnet_bench_cuda_times_every_node_with_events") else {
        return;
    };
    let a = ResnetArgs {
        steps: 3,
        ..tiny("resnet8", 32)
    };
    let res = bench(&dev, &a).unwrap();
    let r = &res.report;
    assert!(r.loss_first.is_finite() && r.loss_last.is_finite());
    assert!(r.step.median_ms > 0.0);
    assert!(r.layers.iter().any(|l| l.fwd_ms > 0.0));
    check_backward_parts(r);
    check_trace(&chrome_trace(&res), res.nodes.len());
}
