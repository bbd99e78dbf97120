//! The binary as a user runs it: clear output, exit codes, no panics without a GPU.
use std::process::Command;

fn ipdpp(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(super::common::bin())
        .args(args)
        .output()
        .expect("run ipdpp");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(!err.contains("panicked"), "ipdpp {args:?} panicked:\n{err}");
    (o.status.code().unwrap_or(-1), out, err)
}

fn has_gpu() -> bool {
    ipdpp::device::cuda::device_count().is_ok()
}

#[test]
fn info_reports_backend_nvrtc_lapack_and_kernels() {
    let (code, out, _) = ipdpp(&["info"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("backend"));
    assert!(
        out.contains("LAPACK/BLAS") && out.contains("openblas"),
        "{out}"
    );
    assert!(
        out.contains("kernels/gemm.cu") && out.contains("gemm_v3_nn_f32"),
        "{out}"
    );
    if !has_gpu() {
        assert!(out.contains("auto: using the CPU because"), "{out}");
        assert!(out.contains("GPU           none:"), "{out}");
    }
    let (code, js, _) = ipdpp(&["info", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&js).expect("info --json is JSON");
    assert!(
        v["kernels"]
            .as_array()
            .map(|a| a.len() >= 3)
            .unwrap_or(false),
        "{js}"
    );
    assert_eq!(v["cuda_devices"].as_array().unwrap().is_empty(), !has_gpu());
}

#[test]
fn bench_gemm_explains_missing_gpu_and_reports_json() {
    let (code, out, err) = ipdpp(&[
        "bench",
        "gemm",
        "--m",
        "64",
        "--n",
        "48",
        "--k",
        "80",
        "--repeats",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("bench --json is JSON");
    let lines = v["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    for l in lines {
        assert_eq!(l["correct"], serde_json::Value::Bool(true), "{l}");
        assert!(l["timing"]["median_ms"].as_f64().unwrap() > 0.0);
    }
    if !has_gpu() {
        assert!(err.contains("no CUDA device"), "{err}");
        assert!(lines.iter().any(|l| l["version"] == "openblas"));
    }
}

#[test]
fn explicit_cuda_without_gpu_is_a_clear_error() {
    if has_gpu() {
        println!("skipped: a CUDA device exists");
        return;
    }
    for args in [
        &["--device", "cuda", "bench", "gemm"][..],
        &["--device", "cuda:0", "demo"][..],
    ] {
        let (code, _, err) = ipdpp(args);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("CUDA is not available") && err.contains("--device cpu"),
            "{err}"
        );
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    let (code, _, err) = ipdpp(&["--device", "tpu", "info"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown device") && err.contains("cuda:N"),
        "{err}"
    );
    let (code, _, err) = ipdpp(&["bench", "gemm", "--versions", "v9"]);
    assert_eq!(code, 2);
    assert!(err.contains("v9"), "{err}");
    let (code, _, err) = ipdpp(&["bench", "gemm", "--m", "0"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = ipdpp(&["no-such-command"]);
    assert_eq!(code, 2);
}

#[test]
fn demo_self_check_passes_on_cpu() {
    let (code, out, err) = ipdpp(&["--device", "cpu", "demo", "--selfcheck"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("0 failed"), "{out}");
    assert!(
        err.contains("self-check") && err.contains("two-stage pipeline"),
        "the self-check must say what it is and where the pipeline is: {err}"
    );
}

/// tools/report_tables.py on the committed H200 measurements: the tables carry the numbers of those files
/// (the README's), PyTorch matched to the engine report it was run against, and the pipeline summaries.
#[test]
fn report_tables_reads_the_committed_h200_reports() {
    let root = env!("CARGO_MANIFEST_DIR");
    let o = match std::process::Command::new("python3")
        .arg(format!("{root}/tools/report_tables.py"))
        .arg(format!("{root}/docs/measurements/2026-11-26-h200"))
        .args(["--card", "NVIDIA H200", "--date", "2026-11-26"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: python3 not runnable: {e}");
            return;
        }
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "23 of 23 GPU tests passed",
        "| `r18_bf16.json` | resnet18 | Bf16 | - | no | - | 13,291 | 154.1 | 55.4 | pytorch eager bf16 autocast: 64,732 | 0.21× |",
        "| `bench_bns_code.json` | bns_fwd_bwd | v3 |",
        "| `r18_bf16_convtc_v3.json` | `r18_bf16.json` | - | 2,678 | 13,291 | 0.201× |",
        "median 1.836 s per epoch",
        "final overall 38.08 (many 60.8, medium 38.4, few 0.0); probe overall 34.64",
        "(stopped in stage2)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn threads_flag_sets_the_cpu_worker_count_and_refuses_zero() {
    for n in ["1", "3"] {
        let (code, out, err) = ipdpp(&["--threads", n, "info", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["cpu_threads"].to_string(), n, "{out}");
    }
    let (code, _, err) = ipdpp(&["--threads", "0", "info"]);
    assert_eq!(code, 2);
    assert!(err.contains("--threads 0"), "{err}");
}

/// `IPDPP_LINEINFO=1`: the PTX carries a line table whose file is the expanded source written beside the
/// cache (the text the line numbers refer to); without it, no line table. `--files` compiles only the
/// files named and refuses an unknown one.
#[test]
fn kernels_lineinfo_names_the_expanded_source_and_files_filters() {
    if ipdpp::device::nvrtc::nvrtc().is_err() {
        println!("skipped: NVRTC unavailable");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("ipdpp-lineinfo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let run = |lineinfo: bool, ptx: &std::path::Path| {
        let o = Command::new(super::common::bin())
            .args([
                "kernels",
                "--files",
                "reduce",
                "--target",
                "sm_80",
                "--ptx-dir",
            ])
            .arg(ptx)
            .env("IPDPP_CACHE_DIR", tmp.join("cache"))
            .env("IPDPP_LINEINFO", if lineinfo { "1" } else { "0" })
            .output()
            .expect("run ipdpp");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert_eq!(out.lines().count(), 1, "only reduce.cu: {out}");
        std::fs::read_to_string(ptx.join("reduce.sm_80.ptx")).unwrap()
    };
    let with = run(true, &tmp.join("with"));
    let without = run(false, &tmp.join("without"));
    let src = tmp.join("cache").join("src").join("reduce.cu");
    let expanded = ipdpp::kernels::get("reduce").unwrap().expanded().unwrap();
    assert_eq!(std::fs::read_to_string(&src).unwrap(), expanded);
    assert!(
        with.contains(&format!("\"{}\"", src.display())),
        "no .file naming {src:?}"
    );
    assert!(with.contains(".loc"), "no line table");
    assert!(
        !without.contains(".loc"),
        "a line table without IPDPP_LINEINFO"
    );
    let (code, _, err) = ipdpp(&["kernels", "--files", "no_such_file"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no kernel file") && err.contains("conv_tc6"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `kernels --load`: on a GPU each file is loaded (the driver's machine code then sits in its cache); on
/// the CPU a usage error that says what to drop, not a panic.
#[test]
fn kernels_load_on_cuda_or_a_clear_error() {
    let (code, _, err) = ipdpp(&["kernels", "--device", "cpu", "--load", "--files", "reduce"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("needs a GPU") && err.contains("drop --load"),
        "{err}"
    );
    if !has_gpu() || ipdpp::device::nvrtc::nvrtc().is_err() {
        println!("skipped the GPU half: no GPU or NVRTC");
        return;
    }
    let (code, out, err) = ipdpp(&["kernels", "--device", "cuda", "--load", "--files", "reduce"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("load  kernels/reduce.cu")),
        "{out}"
    );
}
