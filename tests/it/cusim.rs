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
    // --memstats: a bf16 v6 kernel whose copies or fragment loads conflict on the shared-memory banks fails.
    run(
        "check_conv.py",
        &["--quick", "--only", "v5,v6", "--memstats"],
    );
}

#[test]
fn cusim_conv_v7_wgmma_matches_float64() {
    // --memstats: no bank conflict, and no 32-byte sector fetched by two copy instructions (the first v7
    // grad-weight fetched every sector twice).
    run("check_conv.py", &["--only", "v7", "--memstats"]);
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

// In sixths: each part compiles its mutated kernels with g++ (25-40 s per part alone on a cold cache, more
// under the suite's load on 2 cores; in thirds, two parts passed 60 s in CI; in fifths, one took 48 s alone
// once the tf32 grad-weight's mutants joined).
#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_1_of_6() {
    run("mutants.py", &["--part", "1/6"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_2_of_6() {
    run("mutants.py", &["--part", "2/6"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_3_of_6() {
    run("mutants.py", &["--part", "3/6"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_4_of_6() {
    run("mutants.py", &["--part", "4/6"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_5_of_6() {
    run("mutants.py", &["--part", "5/6"]);
}

#[test]
fn cusim_catches_every_deliberate_kernel_bug_part_6_of_6() {
    run("mutants.py", &["--part", "6/6"]);
}

#[test]
fn cusim_bns_kernels_v1_to_v7_match_float64_both_forms() {
    // v1-v5 are GPU-validated (H200); v6 (pipelined wgmma) and v7 (its code form's forward over one
    // triangle) have not met a GPU. The split versions' rings once more with copies and MMAs completing at
    // issue (a refill of a tile still being read shows there).
    run("check_bns.py", &[]);
    run(
        "check_bns.py",
        &["--only", "v4,v5,v6,v7", "--timing", "eager"],
    );
}

// BNS v7's column sums, flushes and items: each deliberate bug fails check_bns.py (halves: each builds its
// mutated kernel file with g++).
#[test]
fn cusim_catches_every_deliberate_bns_v7_bug_part_1_of_2() {
    run("mutants_bns.py", &["--part", "1/2"]);
}

#[test]
fn cusim_catches_every_deliberate_bns_v7_bug_part_2_of_2() {
    run("mutants_bns.py", &["--part", "2/2"]);
}

#[test]
fn cusim_batch_norm_and_elementwise_kernels_match_float64() {
    // The unfused chain is the control; the fused tails, the bf16 cast and the statistics from conv
    // partials passed on an H200 too (2026-11-27). Both greedy orders: some races show in one only.
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
            // The rings and tails these tests were sized with (s3, v2; the GPU defaults since 2026-11-28
            // are auto and v5): auto would time every ring through the simulator. A test's own env wins.
            .env("IPDPP_V6_RING", "s3")
            .env("IPDPP_BN_TAIL", "v2")
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
            ("wgmma::cuda_conv_v7_grad_weight_pipelines_agree", &[]),
            ("wgmma::cuda_bns_v5_wgmma_chain_matches_cpu", &[]),
        ],
    );
}

/// The BNS v4-v6 launchers through the simulated driver: `bench bns` checks both forms against the CPU f64
/// reference at N = 1000 (8 and 16 row blocks, a partial column tile). Their column splits follow the
/// driver's occupancy.
#[test]
fn cusim_driver_runs_the_bns_v4_to_v7_launchers() {
    run(
        "build_driver.py",
        &[
            "--only",
            "contrastive,contrastive_wgmma,reduce,elementwise,gemm",
        ],
    );
    // v7 changes the code form only (the paper form refuses it: asked for the code form alone here).
    for (form, asked, want) in [
        ("code", "v4,v5,v6,v7", &["v4", "v5", "v6", "v7"][..]),
        ("paper", "v4,v5,v6", &["v4", "v5", "v6"][..]),
    ] {
        let args = [
            "bns",
            "--n",
            "1000",
            "--dim",
            "128",
            "--loss",
            form,
            "--versions",
            asked,
        ];
        let (v, text) = bench_through_the_simulated_driver(&args);
        let lines = v["lines"].as_array().expect("lines");
        let versions: Vec<_> = lines
            .iter()
            .map(|l| l["version"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(versions, want, "{text}");
        for l in lines {
            assert_eq!(l["correct"], serde_json::Value::Bool(true), "{form}: {l}");
        }
    }
}

/// `ipdpp --device cuda bench ARGS --warmup 0 --repeats 1 --out F` through cusim's driver (its libraries
/// built): the `--out` report and the command's output; panics unless it succeeded on the simulator.
fn bench_through_the_simulated_driver(args: &[&str]) -> (serde_json::Value, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = std::env::temp_dir().join(format!(
        "ipdpp-cusim-bench-{}-{}.json",
        args.join("-").replace(['/', ','], "_"),
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ipdpp"))
        .args(["--device", "cuda", "bench"])
        .args(args)
        .args(["--warmup", "0", "--repeats", "1", "--out"])
        .arg(&json)
        .env("LD_LIBRARY_PATH", root.join("target/cusim/driver"))
        .output()
        .expect("running ipdpp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "bench {args:?} failed:\n{text}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the --out report")).unwrap();
    let _ = std::fs::remove_file(&json);
    // One report, or one per op (bench conv).
    let first = if v.is_array() { &v[0] } else { &v };
    assert!(
        first["device"].as_str().unwrap_or("").contains("cusim"),
        "{v}"
    );
    (v, text)
}

/// `bench conv --versions v7` in both precisions through the simulated driver: every op ran v7 and passed
/// the bench's own check (the tf32 grad-weight on v7 once failed there with a usage error on an H200,
/// 2026-11-28, while the engine ran it).
#[test]
fn cusim_driver_runs_bench_conv_on_v7_in_both_precisions() {
    run(
        "build_driver.py",
        &["--only", "conv_wgmma,conv_tc6,conv_tc,elementwise,reduce"],
    );
    for p in ["bf16", "tf32"] {
        let args = [
            "conv",
            "--shape",
            "8,8,8,32,32,3,1,1",
            "--precision",
            p,
            "--versions",
            "v7,cudnn",
        ];
        let (v, text) = bench_through_the_simulated_driver(&args);
        let reports = v.as_array().expect("one report per op");
        assert_eq!(reports.len(), 3, "{text}");
        for r in reports {
            // The library line: cusim has no cuDNN, so it must say so (and not stop the bench); with one
            // it must be right, and the others' "vs lib" is against it.
            let lib: Vec<_> = r["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .filter(|l| l["version"] == "cudnn")
                .collect();
            assert_eq!(lib.len(), 1, "{text}");
            let (note, ok) = (lib[0]["note"].as_str().unwrap_or(""), &lib[0]["correct"]);
            assert!(
                note.contains("libcudnn.so.9 not found") || ok == &serde_json::Value::Bool(true),
                "{p}: {}",
                lib[0]
            );
            // (bf16's forward adds a line timing the operand cast.)
            let lines: Vec<_> = r["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .filter(|l| l["version"] == "v7")
                .collect();
            assert_eq!(lines.len(), 1, "{text}");
            let l = lines[0];
            assert_eq!(l["correct"], serde_json::Value::Bool(true), "{p}: {l}");
            let d = l["description"].as_str().unwrap_or("");
            assert!(d.contains("ran v7"), "{p}: {l}");
        }
    }
}

/// The probe's and stage 2's loss on the GPU, and the ring the pipeline reads the steps' losses back from.
#[test]
fn cusim_driver_runs_the_classifier_loss_and_the_step_losses() {
    through_the_simulated_driver(
        "cross_entropy",
        &[
            ("cuda_ops::cuda_cross_entropy_matches_cpu", &[]),
            (
                "pipeline::cuda_and_cpu_step_losses_come_back_in_step_order",
                &[],
            ),
        ],
    );
}

#[test]
fn cusim_driver_runs_the_dpp_gram_kernels() {
    // The GPU test (v1 and v2 against the CPU, exact symmetry), then `bench dpp` in both modes: v2's
    // triangle on 3 × 3 tiles with a partial last one, both versions correct (cuBLAS is not simulated: its
    // line says unavailable).
    through_the_simulated_driver("dpp,gemm", &[("dpp::dpp_gram_cuda_vs_cpu", &[])]);
    for mode in ["cosine", "sqdist"] {
        let args = [
            "dpp",
            "--n",
            "300",
            "--dim",
            "72",
            "--mode",
            mode,
            "--versions",
            "v1,v2",
        ];
        let (v, text) = bench_through_the_simulated_driver(&args);
        let lines = v["lines"].as_array().expect("lines");
        assert_eq!(lines.len(), 2, "{text}");
        for l in lines {
            assert_eq!(l["correct"], serde_json::Value::Bool(true), "{mode}: {l}");
        }
    }
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
            // SBN tails (not validated on a GPU): the same bits forward as the composition.
            ("cuda_ops::cuda_sbn_tails_match_the_composition", &[]),
        ],
    );
}

#[test]
fn cusim_driver_runs_the_multi_tensor_adamw() {
    through_the_simulated_driver(
        "elementwise",
        &[("cuda_vs_cpu::cuda_adamw_multi_matches_per_tensor", &[])],
    );
}

/// A whole ResNet-18 step (exact fp32, 2 images per view) against the CPU with the SBN tails and the
/// one-launch AdamW (both opt-in on a GPU, not validated there): ResNet-18 is the network with projection
/// shortcuts; a wrong shortcut gradient in the SBN backward fails it (worst gradient 1.0 instead of 1e-2).
#[test]
fn cusim_driver_runs_a_resnet18_step_with_sbn_tails_and_one_adamw() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,contrastive,gemm",
        &[(
            "resnet_cuda::resnet18_training_step_cuda_matches_cpu_at_batch_8",
            &[
                ("IPDPP_TEST_BATCH", "2"),
                ("IPDPP_SC_BN", "1"),
                ("IPDPP_ADAMW_MULTI", "1"),
            ],
        )],
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

/// Whole bf16 ResNet-8 training steps through the simulated driver (cheap enough for CI), written without
/// a GPU (2026-11-27): the convolutions' grad-inputs adding into a block input's gradient must give every
/// gradient bit for bit as the scratch buffer + add pass do, and the v3 tails (residual masks from bits,
/// copy-only bf16 outputs and gradients) v2's step bit for bit.
#[test]
fn cusim_driver_runs_resnet8_bf16_steps_with_adding_grad_inputs_and_v3_tails() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[
            (
                "cuda_ops::cuda_conv_grad_input_adds_give_the_step_bit_for_bit",
                &[("IPDPP_TEST_ARCHS", "resnet8")],
            ),
            (
                "cuda_ops::cuda_bn_tail_v3_gives_the_bf16_step_of_v2_bit_for_bit",
                &[("IPDPP_TEST_ARCHS", "resnet8")],
            ),
        ],
    );
}

/// Grad-inputs that add into gx under the run-time tuners (sixth session without a GPU): the first call at a
/// shape times every candidate on the caller's buffers, which added the gradient once per timed launch
/// (ResNet-8 bf16 v7 gradient cosine 0.80 where v4 gives 0.99); the pick is now made on a scratch buffer.
/// Whole ResNet-8 steps against the fp32 reference, narrow-channel first stage included: v7 (its pipelines
/// tuned by default) here, v6 with `IPDPP_V6_RING=auto` below (two tests: ~45 s each on 2 cores).
#[test]
fn cusim_driver_runs_resnet8_v7_steps_with_tuned_adding_grad_inputs() {
    resnet8_v7_steps("bf16 v7", &[]);
}

/// Whole ResNet-8 steps of one case of `resnet_steps_cuda_conv_v6_match_v4_and_v2` with v7's kernels built,
/// under the extra environment `env`.
fn resnet8_v7_steps(case: &str, env: &[(&str, &str)]) {
    let mut all = vec![("IPDPP_TEST_ARCHS", "resnet8"), ("IPDPP_TEST_CASES", case)];
    all.extend_from_slice(env);
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,conv_wgmma,norm,elementwise,reduce,pool,gemm",
        &[(
            "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
            &all,
        )],
    );
}

/// tf32 v7 (ninth session without a GPU): forwards and grad-inputs on tf32 wgmma from the fp32 tensors, the
/// transposed fp32 weights kept per update, grad-inputs adding into gx under the tuned pipelines; a whole
/// ResNet-8 step against the fp32 reference and v4.
#[test]
fn cusim_driver_runs_resnet8_tf32_v7_steps() {
    // One timed launch per candidate (the grad-weight has two since the 256-row tiles joined).
    resnet8_v7_steps("tf32 v7", &[("IPDPP_TUNE_REPEATS", "1")]);
}

/// `IPDPP_V7_AUTO=1`: v6 or v7 per op and shape, timed before the first forward (in the simulator the
/// timings are arbitrary, so each run mixes the two somehow): the bf16 step must still track v4 and fp32.
#[test]
fn cusim_driver_runs_resnet8_steps_choosing_v6_or_v7_per_shape() {
    // v6 against v7 alone (v7's pipeline fixed): one timed launch each.
    let env = [
        ("IPDPP_V7_AUTO", "1"),
        ("IPDPP_TUNE_REPEATS", "1"),
        ("IPDPP_V7_PIPE", "k32s5"),
    ];
    resnet8_v7_steps("bf16 v7", &env);
}

#[test]
fn cusim_driver_runs_resnet8_v6_steps_with_rings_tuned_and_adding_grad_inputs() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[(
            "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
            &[
                ("IPDPP_TEST_ARCHS", "resnet8"),
                ("IPDPP_TEST_CASES", "bf16 v6"),
                ("IPDPP_V6_RING", "auto"),
                // Four rings per shape since the halo and resident tiles joined: one timed launch each.
                ("IPDPP_TUNE_REPEATS", "1"),
            ],
        )],
    );
}

/// Whole ResNet-8 bf16 steps (fused batch norm) with v6's halo tiles forced where they take a shape (the
/// forward and grad-input at 32 and 64 channels, the grad-weight over x's window at 16, 32 and 64), then
/// with the resident-weight tiles (forward and grad-input at 16, 32 and 64 channels), against v4 and fp32.
fn resnet8_steps_on_ring(ring: &str) {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[(
            "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
            &[
                ("IPDPP_TEST_ARCHS", "resnet8"),
                ("IPDPP_TEST_CASES", "bf16 v6 + fused BN"),
                ("IPDPP_V6_RING", ring),
            ],
        )],
    );
}

#[test]
fn cusim_driver_runs_resnet8_steps_on_the_halo_tiles() {
    resnet8_steps_on_ring("halo");
}

#[test]
fn cusim_driver_runs_resnet8_steps_on_the_resident_tiles() {
    resnet8_steps_on_ring("wres");
}

/// The v4 tails (written without a GPU, 2026-11-27, fifth session): conv v6 (and, since 2026-11-28, v7)
/// storing its output as bf16 with the statistics of the rounded values, the `_x16` tail kernels equal to
/// v3's on the same values bit for bit, the bf16 grad-inputs equal to bf16 of the fp32 ones, and a whole
/// ResNet-8 bf16 step under v4 / v5 tracking v3's, on v6 and on v7 (its 32- and 64-channel layers; the
/// 16-channel stage stays on v6).
#[test]
fn cusim_driver_runs_the_v4_tails_on_bf16_conv_outputs() {
    let v7 = [
        ("IPDPP_TEST_ARCHS", "resnet8"),
        ("IPDPP_CONV_TC", "v7"),
        ("IPDPP_V7_PIPE", "k32s5"),
    ];
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,conv_wgmma,norm,elementwise,reduce,pool,gemm",
        &[
            (
                "cuda_ops::cuda_bn_tails_on_bf16_x_equal_v3_on_its_values",
                &[],
            ),
            (
                "cuda_ops::cuda_conv_bf16_grad_inputs_equal_bf16_of_fp32",
                &[("IPDPP_V7_PIPE", "k32s5")],
            ),
            (
                "cuda_ops::cuda_bn_tails_v4_v5_steps_track_v3",
                &[("IPDPP_TEST_ARCHS", "resnet8")],
            ),
            ("cuda_ops::cuda_bn_tails_v4_v5_steps_track_v3", &v7),
        ],
    );
}

/// v7's halo pipelines (written without a GPU, 2026-11-28): the other pipelines' bits per op (forward,
/// grad-input stored / added / bf16, bf16 and tf32) with the view totals of the forward's statistics (also
/// with eager asynchronous completion: a missing barrier in the k-loop fails it either way), and
/// whole ResNet-8 bf16 v7 steps with the halo forced where it takes a shape (its 64-channel stage). The
/// halo grad-weight over every kind of row range against the CPU, with lazy and with eager copies
/// (`CUSIM_POLICY=16`: one slot too few in either ring, a missing barrier or wgmma wait fails there; a
/// short cp.async wait, wrong taps, rows or layouts fail lazily).
#[test]
fn cusim_driver_runs_the_v7_halo_pipelines() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,conv_wgmma,norm,elementwise,reduce,pool,gemm",
        &[
            (
                "wgmma::cuda_conv_v7_halo_gives_the_other_pipelines_bits",
                &[],
            ),
            // Greedy scheduling from the highest thread, copies and MMAs completing when issued.
            (
                "wgmma::cuda_conv_v7_halo_gives_the_other_pipelines_bits",
                &[("CUSIM_POLICY", "51")],
            ),
            (
                "wgmma::cuda_conv_v7_halo_grad_weight_over_any_row_range",
                &[],
            ),
            (
                "wgmma::cuda_conv_v7_halo_grad_weight_over_any_row_range",
                &[("CUSIM_POLICY", "16")],
            ),
            (
                "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
                &[
                    ("IPDPP_TEST_ARCHS", "resnet8"),
                    ("IPDPP_TEST_CASES", "bf16 v7"),
                    ("IPDPP_V7_PIPE", "halo"),
                ],
            ),
        ],
    );
}

/// v6's tf32 window grad-weight (written without a GPU, 2026-11-28; `check_conv.py` gives it the plain
/// tiles' bits on the same pixel splits): whole ResNet-8 tf32 v6 steps with the halo ring forced, which
/// runs it at the 32- and 64-channel stages, against v4 and fp32.
#[test]
fn cusim_driver_runs_resnet8_tf32_steps_on_the_window_grad_weight() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[(
            "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
            &[
                ("IPDPP_TEST_ARCHS", "resnet8"),
                ("IPDPP_TEST_CASES", "tf32 v6"),
                ("IPDPP_V6_RING", "halo"),
            ],
        )],
    );
}

/// The projector's linears as bf16 1x1 convolutions (`IPDPP_LINEAR_TC=1`, written without a GPU,
/// 2026-11-28): whole ResNet-8 bf16 steps against fp32 and v4 (whose linears stay fp32).
#[test]
fn cusim_driver_runs_the_linears_on_tensor_cores() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[(
            "resnet_cuda::resnet_steps_cuda_conv_v6_match_v4_and_v2",
            &[
                ("IPDPP_TEST_ARCHS", "resnet8"),
                ("IPDPP_TEST_CASES", "bf16 v6 + fused BN"),
                ("IPDPP_LINEAR_TC", "1"),
            ],
        )],
    );
}

/// The stem's forward direct on CUDA cores (`IPDPP_STEM_DIRECT=1`, written without a GPU, 2026-11-28): the
/// kernel against the CPU on rounded operands in every precision, and a whole ResNet-8 bf16 step under the
/// v4-v6 tails (its bf16 output and partials feeding the first tail) tracking v3's.
#[test]
fn cusim_driver_runs_the_direct_stem() {
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,norm,elementwise,reduce,pool,gemm",
        &[
            (
                "resnet_cuda::cuda_conv_stem_fwd_direct_matches_cpu_on_rounded_operands",
                &[],
            ),
            (
                "cuda_ops::cuda_bn_tails_v4_v5_steps_track_v3",
                &[("IPDPP_TEST_ARCHS", "resnet8"), ("IPDPP_STEM_DIRECT", "1")],
            ),
        ],
    );
}

#[test]
fn cusim_driver_runs_the_v6_ring_and_padded_stem_gpu_tests() {
    let stats = std::env::temp_dir().join(format!("ipdpp-cusim-memstats-{}", std::process::id()));
    let _ = std::fs::remove_file(&stats);
    let stats_path = stats.to_string_lossy().into_owned();
    through_the_simulated_driver(
        "conv,conv_tc,conv_tc6,elementwise",
        &[
            // Written after the last GPU run (2026-11-27): v6's 4-stage ring and halo tiles, default
            // timing (counting shared-memory wavefronts) and with copies landing at issue (a stage
            // refilled while still read shows there), and the stem's im2col forward.
            (
                "resnet_cuda::cuda_conv_v6_rings_give_the_same_bits_and_the_pick_is_kept",
                &[("CUSIM_MEMSTATS", stats_path.as_str())],
            ),
            (
                "resnet_cuda::cuda_conv_v6_rings_give_the_same_bits_and_the_pick_is_kept",
                &[("CUSIM_POLICY", "18"), ("IPDPP_V6_RING", "auto")],
            ),
            (
                "resnet_cuda::cuda_stem_grad_weight_runs_v6_on_padded_channels",
                &[],
            ),
            (
                "resnet_cuda::cuda_stem_forward_runs_v6_on_im2col_columns",
                &[],
            ),
            // Written in the sixth session without a GPU: the stem's forward on 8 padded channels
            // (v6's narrow k-tiles).
            (
                "resnet_cuda::cuda_stem_forward_runs_v6_on_padded_channels",
                &[],
            ),
        ],
    );
    // Every bf16 v6 launch of the ring test (3- and 4-stage rings, halo tiles) at the conflict-free ideal.
    let text = std::fs::read_to_string(&stats).expect("CUSIM_MEMSTATS output of the ring test");
    let _ = std::fs::remove_file(&stats);
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| -> u64 {
            t[i].parse()
                .unwrap_or_else(|_| panic!("memstats line {line:?}"))
        };
        assert!(
            t.len() == 12 && t[1] == "ldmatrix" && t[5] == "cp.async",
            "memstats line {line:?}"
        );
        if t[0].contains("_v6_bf16") {
            seen.insert(t[0].to_string());
            assert!(
                n(3) == n(4) && n(7) == n(8),
                "{}: shared wavefronts ldmatrix {}/{} cp.async {}/{} (bank conflicts)",
                t[0],
                n(3),
                n(4),
                n(7),
                n(8)
            );
        }
    }
    println!("conflict-free bf16 v6 kernels: {seen:?}");
    assert!(
        seen.iter().any(|k| k.ends_with("_halo")) && seen.iter().any(|k| k.ends_with("_s4")),
        "the ring test launched no halo or 4-stage kernel: {seen:?}"
    );
}

/// The counts the stand-in driver prints at exit under policy flag 1024 (launches not run).
#[derive(Debug, PartialEq)]
struct DriverCounts {
    launches: u64,
    allocations: u64,
    to_device: u64,
    to_host: u64,
    context_syncs: u64,
    stream_syncs: u64,
    event_syncs: u64,
}

fn driver_counts(text: &str) -> DriverCounts {
    let line = text
        .lines()
        .find(|l| l.starts_with("cusim driver: "))
        .unwrap_or_else(|| panic!("no driver report in:\n{text}"));
    let num = |after: &str| -> u64 {
        let at = line
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} not in {line}"));
        let head = line[..at].trim_end();
        let start = head
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |i| i + 1);
        head[start..]
            .parse()
            .unwrap_or_else(|_| panic!("no count before {after:?} in {line}"))
    };
    let inner = |key: &str| -> u64 {
        let at = line
            .find(key)
            .unwrap_or_else(|| panic!("{key:?} not in {line}"))
            + key.len();
        let rest = &line[at..];
        rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())]
            .parse()
            .unwrap_or_else(|_| panic!("no count after {key:?} in {line}"))
    };
    DriverCounts {
        launches: num(" launches"),
        allocations: num(" allocations"),
        to_device: num(" host-to-device"),
        to_host: num(" device-to-host"),
        context_syncs: inner("(context "),
        stream_syncs: inner("stream "),
        event_syncs: inner("event "),
    }
}

/// A CUDA training step (forward, BNS loss, backward, AdamW) allocates nothing, copies nothing between host
/// and device and waits on nothing: `bench resnet` through the stand-in driver with kernels not run, at 2
/// and at 4 timed steps, gives the same counts but for the launches and the bench's own timing events.
/// Conv v4 with unfused batch norm, and the defaults (conv v6, fused batch-norm tails).
#[test]
fn cusim_driver_counts_no_allocation_copy_or_wait_inside_a_training_step() {
    run(
        "build_driver.py",
        &[
            "--only",
            "elementwise,norm,reduce,conv,conv_tc,conv_tc6,pool,contrastive,contrastive_wgmma,gemm",
        ],
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for env in [
        &[("IPDPP_CONV_TC", "v4"), ("IPDPP_FUSED_BN", "0")][..],
        &[][..],
        &[("IPDPP_ADAMW_MULTI", "1")][..],
    ] {
        let counts = |steps: &str| {
            let out = Command::new(super::common::bin())
                .args([
                    "--device", "cuda", "bench", "resnet", "--arch", "resnet20", "--batch", "16",
                ])
                .args([
                    "--precision",
                    "bf16",
                    "--warmup",
                    "1",
                    "--profile-steps",
                    "0",
                ])
                .args(["--no-ceiling", "--steps", steps])
                .env("LD_LIBRARY_PATH", root.join("target/cusim/driver"))
                .env("CUSIM_POLICY", "1026")
                .envs(env.iter().copied())
                .output()
                .expect("running ipdpp");
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{env:?} --steps {steps}:\n{text}");
            driver_counts(&text)
        };
        let (a, b) = (counts("2"), counts("4"));
        println!("{env:?}: 2 steps {a:?}\n{env:?}: 4 steps {b:?}");
        assert!(
            b.launches > a.launches,
            "{env:?}: the steps launched nothing"
        );
        let per_step = (b.launches - a.launches) / 2;
        assert!(
            per_step > 200,
            "{env:?}: only {per_step} launches per ResNet-20 step"
        );
        assert_eq!(
            (
                a.allocations,
                a.to_device,
                a.to_host,
                a.context_syncs,
                a.stream_syncs
            ),
            (
                b.allocations,
                b.to_device,
                b.to_host,
                b.context_syncs,
                b.stream_syncs
            ),
            "{env:?}: a training step allocates, copies or synchronises"
        );
        // The bench times each step between two events and waits for the second.
        assert!(
            b.event_syncs - a.event_syncs <= 4,
            "{env:?}: {a:?} vs {b:?}"
        );
    }
}
