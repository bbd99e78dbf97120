//! The CUDA kernel sources executed on the CPU by tools/cusim (one fiber per CUDA thread; see
//! tools/cusim/cusim.h): each test runs one checker script, which launches the real kernels with their Rust
//! launchers' geometry against float64 NumPy references and exits non-zero on any mismatch or violation
//! (out-of-bounds shared or global access, a collective some lane skipped, an unwaited cp.async or wgmma).
//! This is not GPU validation (the PTX semantics are the simulator's reading of the ISA), but it executes the
//! kernels that have not yet met a GPU. Needs python3 with NumPy and g++ (tools/setup.sh installs them).
use std::path::Path;
use std::process::Command;

fn run(script: &str, args: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("tools/cusim").join(script))
        .args(args)
        .current_dir(root.join("tools/cusim"))
        .output()
        .unwrap_or_else(|e| panic!("cannot start python3 for {script} ({e}); run tools/setup.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "tools/cusim/{script} {args:?} failed ({}):\n{text}",
        out.status
    );
}

#[test]
fn cusim_conv_v3_v4_match_float64_as_on_the_gpu() {
    // GPU-validated (H200): agreement here checks the simulator's mma.sync model.
    run("check_conv.py", &["--quick", "--only", "v3,v4"]);
}

#[test]
fn cusim_conv_v5_v6_match_float64() {
    run("check_conv.py", &["--quick", "--only", "v5,v6"]);
}

#[test]
fn cusim_conv_v7_wgmma_matches_float64() {
    run("check_conv.py", &["--only", "v7"]);
}

#[test]
fn cusim_conv_v6_v7_match_float64_with_eager_async_completion() {
    // Copies land and wgmma ops run at issue: a ring stage refilled while a pending MMA or another warp still
    // reads it shows here, not under the default (completion at the wait).
    run(
        "check_conv.py",
        &["--quick", "--only", "v6,v7", "--timing", "eager"],
    );
}

#[test]
fn cusim_fastdiv_matches_integer_division() {
    // The v6/v7 loaders divide by tensor dimensions with kernels/fastdiv.cuh.
    run("check_fastdiv.py", &[]);
}

#[test]
fn cusim_wgmma_probe_matches_the_exact_product() {
    run("check_wgmma.py", &[]);
}

// In thirds: each part compiles its mutated kernels with g++ (about a minute per half on a cold
// cache under the suite's load on 2 cores).
#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_1_of_3() {
    run("mutants.py", &["--part", "1/3"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_2_of_3() {
    run("mutants.py", &["--part", "2/3"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_3_of_3() {
    run("mutants.py", &["--part", "3/3"]);
}

#[test]
fn cusim_bns_kernels_v1_to_v5_match_float64_both_forms() {
    // v1-v3 are GPU-validated (H200); v4 and v5 (wgmma) have not met a GPU. Their rings once more with
    // copies and MMAs completing at issue (a refill of a tile still being read shows there).
    run("check_bns.py", &[]);
    run("check_bns.py", &["--only", "v4,v5", "--timing", "eager"]);
}

#[test]
fn cusim_batch_norm_and_elementwise_kernels_match_float64() {
    // The fused BN tails, the statistics from conv partials and the bf16 cast have not met a GPU; the
    // unfused chain (GPU-validated) is the control. Both greedy orders: some races show in one only.
    run("check_norm.py", &[]);
    run("check_norm.py", &["--reverse"]);
}

/// Runs GPU tests of this binary in child processes whose loader finds tools/cusim's simulated driver
/// (`libcuda.so.1` built by build_driver.py from the kernel files `libs`): the engine's own CUDA path
/// (cudarc, launchers, NVRTC, kernels) on the CPU. A child that skips ("no CUDA device") fails here.
fn through_the_simulated_driver(libs: &str, tests: &[(&str, &[(&str, &str)])]) {
    run("build_driver.py", &["--only", libs]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("the test binary");
    for (test, env) in tests {
        let out = Command::new(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env("LD_LIBRARY_PATH", root.join("target/cusim/driver"))
            .envs(env.iter().copied())
            .output()
            .expect("running the test binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("--- {test} {env:?}\n{text}");
        assert!(
            out.status.success() && text.contains("1 passed") && !text.contains("skipped"),
            "{test} through the simulated driver ({env:?}) failed:\n{text}"
        );
    }
}

#[test]
fn cusim_driver_runs_the_wgmma_gpu_tests() {
    through_the_simulated_driver(
        "wgmma,conv_wgmma,contrastive_wgmma",
        &[
            (
                "wgmma::cuda_second_device_raises_the_shared_memory_limit_again",
                &[],
            ),
            ("wgmma::cuda_wgmma_bf16_gemm_matches_exact_product", &[]),
            (
                "wgmma::cuda_wgmma_bf16_gemm_mn_major_matches_exact_product",
                &[],
            ),
            ("wgmma::cuda_conv_weight_t_bf16_matches_cpu", &[]),
            (
                "wgmma::cuda_conv_v7_pipelines_give_the_same_bits_and_the_pick_is_kept",
                &[],
            ),
            ("wgmma::cuda_bns_v5_wgmma_chain_matches_cpu", &[]),
        ],
    );
}

#[test]
fn cusim_driver_runs_the_fused_bn_gpu_tests() {
    through_the_simulated_driver(
        "norm,elementwise,reduce",
        &[
            ("cuda_ops::cuda_cast_bf16_matches_cpu", &[]),
            // The unfused BN launchers (GPU-validated kernels) take their partial sums from the device's
            // scratch cache since 2026-11-27.
            ("cuda_ops::cuda_batchnorm_matches_cpu", &[]),
            ("cuda_ops::cuda_fused_bn_tails_match_cpu", &[]),
            ("cuda_ops::cuda_fused_bn_unaligned_views_match_cpu", &[]),
        ],
    );
}

#[test]
fn cusim_driver_runs_the_conv_epilogue_statistics_gpu_test() {
    through_the_simulated_driver(
        "conv_tc,conv_tc6,conv_wgmma,norm,elementwise,reduce",
        &[(
            "resnet_cuda::cuda_conv_v6_epilogue_bn_statistics_match_two_pass",
            &[],
        )],
    );
}
