//! `ipdpp bench conv`: the per-op A/B of the convolution kernels (reports, arguments, and on a GPU every
//! version checked against the CPU reference).
use super::common::{bin, cuda_or_skip};
use ipdpp::bench::conv::{bench, ConvArgs};
use serde_json::Value;

fn args(shape: &str, precision: &str) -> ConvArgs {
    ConvArgs {
        shape: shape.into(),
        precision: precision.into(),
        versions: Vec::new(),
        op: "all".into(),
        seed: 5,
        run: ipdpp::bench::RunArgs {
            warmup: 1,
            repeats: 2,
            json: false,
            out: None,
        },
    }
}

#[test]
fn conv_bench_cpu_writes_one_report_per_op_with_consistent_tflops() {
    let dir = std::env::temp_dir().join(format!("ipdpp-conv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("conv.json");
    let o = std::process::Command::new(bin())
        .args([
            "--device",
            "cpu",
            "bench",
            "conv",
            "--shape",
            "2,8,8,16,32,3,2,1",
        ])
        .args(["--repeats", "2", "--warmup", "0", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let reps = v.as_array().expect("an array of reports");
    let names: Vec<&str> = reps.iter().map(|r| r["bench"].as_str().unwrap()).collect();
    assert_eq!(names, ["conv_fwd", "conv_bwd_input", "conv_bwd_weight"]);
    // 2·M·N·K of the forward GEMM: M = 2·4·4 output pixels, N = 32, K = 3·3·16.
    let flops = 2.0 * (2 * 4 * 4) as f64 * 32.0 * (9 * 16) as f64;
    for r in reps {
        let l = &r["lines"][0];
        let ms = l["timing"]["median_ms"].as_f64().unwrap();
        let tf = l["tflops"].as_f64().unwrap();
        assert!(ms > 0.0, "{r}");
        let want = flops / (ms * 1e-3) / 1e12;
        assert!(
            (tf - want).abs() <= 1e-9 * want.max(1.0),
            "{} TFLOP/s vs {want}",
            tf
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn conv_bench_cli_rejects_bad_arguments() {
    for (args, says) in [
        (&["--shape", "1,2,3"][..], "expected 8 numbers"),
        (&["--shape", "1,2,2,4,4,7,1,0"], "kernel must fit"),
        (&["--op", "sideways"], "use fwd, bwd_input"),
        (&["--precision", "fp8"], "unknown precision"),
        (
            &["--versions", "v9"],
            "unknown tensor-core convolution version",
        ),
        (
            &["--precision", "fp32", "--versions", "v2,v4"],
            "fp32 convolutions come in v1, v2",
        ),
    ] {
        let o = std::process::Command::new(bin())
            .args(["--device", "cpu", "bench", "conv", "--repeats", "1"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Every version at a stride-1 and a stride-2 shape, in both tensor-core precisions and exact fp32 (v1, v2,
/// v6): correct against the CPU reference before timing (the bench's own check), v6 taking the shapes it is
/// meant to.
#[test]
fn conv_bench_cuda_every_version_is_correct() {
    let Some(dev) = cuda_or_skip("conv_bench_cuda_every_version_is_correct") else {
        return;
    };
    let hopper = ipdpp::device::cuda::wgmma::available(dev.cuda().unwrap());
    let mut bad = Vec::new();
    for shape in [
        "8,16,16,64,64,3,1,1",
        "8,16,16,64,128,3,2,1",
        "8,16,16,64,128,1,2,0",
    ] {
        for p in ["bf16", "tf32", "fp32"] {
            for r in bench(&dev, &args(shape, p)).unwrap() {
                for l in &r.lines {
                    println!(
                        "{} {shape} {p} {}: {} rel err {:?} {:?} TFLOP/s",
                        r.bench, l.version, l.description, l.rel_err, l.tflops
                    );
                    if !l.correct {
                        bad.push(format!(
                            "{} {shape} {p} {}: {:?} {:?}",
                            r.bench, l.version, l.rel_err, l.note
                        ));
                    }
                    if l.version == "v6" && !l.description.contains("ran v6") {
                        bad.push(format!(
                            "{} {shape} {p}: v6 did not run v6 ({})",
                            r.bench, l.description
                        ));
                    }
                    // v7 on a Hopper: every bf16 forward and grad-weight here, grad-input at stride 1.
                    let stride1 = shape.split(',').nth(6) == Some("1");
                    let v7_op = r.bench != "conv_bwd_input" || stride1;
                    if l.version == "v7"
                        && p == "bf16"
                        && hopper
                        && v7_op
                        && !l.description.contains("ran v7")
                    {
                        bad.push(format!(
                            "{} {shape} {p}: v7 did not run v7 ({})",
                            r.bench, l.description
                        ));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
