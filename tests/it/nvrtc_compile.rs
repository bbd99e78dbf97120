//! Every kernel file in the registry compiles with NVRTC for each target it declares, with no error and
//! no warning. Needs no GPU. Without NVRTC it skips, except under CI (CI=true), where it fails.
use ipdpp::device::nvrtc;
use ipdpp::kernels;

fn nvrtc_or_skip() -> bool {
    match nvrtc::nvrtc() {
        Ok(i) => {
            println!("NVRTC {}.{} from {}", i.version.0, i.version.1, i.location);
            true
        }
        Err(e) => {
            let ci = std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false);
            assert!(
                !ci,
                "CI=true but NVRTC is unavailable ({e}); tools/setup.sh should have installed it"
            );
            println!("skipped: NVRTC unavailable: {e}");
            false
        }
    }
}

/// The largest file, whose targets each take about half a minute of one core: a test per target (below), so
/// that no test runs much over half a minute on CI's two cores.
const BIG: &str = "conv_tc6";

#[test]
fn every_kernel_compiles_for_its_targets_without_warnings() {
    if !nvrtc_or_skip() {
        return;
    }
    let files = kernels::all();
    assert!(
        !files.is_empty(),
        "the kernel registry is empty: build.rs found no kernels/*.cu"
    );
    for kf in &files {
        assert!(
            !kf.targets().is_empty(),
            "kernels/{}.cu declares no targets",
            kf.name
        );
    }
    let big = kernels::get(BIG).expect("kernels/conv_tc6.cu in the registry");
    assert!(
        big.targets().len() <= 2,
        "kernels/{BIG}.cu declares more targets than its two tests compile"
    );
    let pairs: Vec<_> = files
        .iter()
        .filter(|kf| kf.name != BIG)
        .flat_map(|kf| kf.targets().into_iter().map(move |t| (*kf, t)))
        .collect();
    compiles_cleanly(&pairs);
}

#[test]
fn the_largest_kernel_file_compiles_for_its_first_target_without_warnings() {
    largest_file_target(0);
}

#[test]
fn the_largest_kernel_file_compiles_for_its_second_target_without_warnings() {
    largest_file_target(1);
}

fn largest_file_target(i: usize) {
    if !nvrtc_or_skip() {
        return;
    }
    let big = kernels::get(BIG).expect("kernels/conv_tc6.cu in the registry");
    if let Some(t) = big.targets().get(i) {
        compiles_cleanly(&[(big, *t)]);
    }
}

/// Every (file, target) pair compiles, each its own NVRTC program (in parallel), with an empty log and
/// every entry point of the file in the PTX.
fn compiles_cleanly(pairs: &[(kernels::KernelFile, &str)]) {
    let results: Vec<Vec<String>> = {
        use rayon::prelude::*;
        pairs
            .par_iter()
            .map(|(kf, t)| match nvrtc::compile(kf, t, false) {
                Ok(c) => {
                    let mut f = Vec::new();
                    if !c.log.trim().is_empty() {
                        f.push(format!(
                            "kernels/{}.cu for {t}: warnings:\n{}",
                            kf.name, c.log
                        ));
                    }
                    for e in kf.entry_points() {
                        if !c.ptx.contains(&format!(".entry {e}(")) {
                            f.push(format!(
                                "kernels/{}.cu for {t}: entry point {e} missing from the PTX",
                                kf.name
                            ));
                        }
                    }
                    f
                }
                Err(e) => vec![e.to_string()],
            })
            .collect()
    };
    let failures: Vec<String> = results.into_iter().flatten().collect();
    println!("compiled {} (file, target) pairs", pairs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn compile_errors_carry_the_nvrtc_log_and_file_name() {
    if !nvrtc_or_skip() {
        return;
    }
    let bad = kernels::KernelFile { name: "broken_probe", source: "// targets: sm_80\nextern \"C\" __global__ void k(float* x) { x[0] = undefined_symbol; }\n" };
    let err = nvrtc::compile(&bad, "sm_80", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken_probe.cu"), "{err}");
    assert!(
        err.contains("undefined_symbol"),
        "the NVRTC log should name the bad identifier: {err}"
    );
}

#[test]
fn headers_are_inlined_and_targets_parsed() {
    let ew = kernels::get("elementwise").unwrap();
    assert_eq!(ew.targets(), vec!["sm_80", "sm_90"]);
    let src = ew.expanded().unwrap();
    assert!(src.contains("block_sum_f32") && !src.contains("#include \"common.cuh\""));
    assert!(ew.entry_points().contains(&"adamw_f32"));
    let missing = kernels::KernelFile {
        name: "x",
        source: "#include \"nope.cuh\"\n",
    };
    assert!(missing
        .expanded()
        .unwrap_err()
        .to_string()
        .contains("nope.cuh"));
    assert!(kernels::get("no_such_file").is_err());
}

#[test]
fn ptx_cache_hit_returns_identical_ptx() {
    if !nvrtc_or_skip() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ipdpp-ptx-cache-test-{}", std::process::id()));
    let kf = kernels::get("reduce").unwrap();
    let first = nvrtc::compile_cached(&kf, "sm_80", Some(&dir)).unwrap();
    let second = nvrtc::compile_cached(&kf, "sm_80", Some(&dir)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!first.from_cache && second.from_cache);
    assert_eq!(first.ptx, second.ptx);
}

/// A deliberately broken wgmma pipeline: the accumulator is written by an ordinary instruction between two
/// MMAs of one group, which makes ptxas serialise the MMAs (C7515).
const SERIALISED_WGMMA_PROBE: &str = r#"// targets: sm_90a
extern "C" __global__ void serialised_probe(float* out, unsigned long long da, unsigned long long db, float x) {
    float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    asm volatile("wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0, %1, %2, %3}, %4, %5, 1, 1, 1, 0, 0;"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "l"(da), "l"(db));
    d0 = x;
    asm volatile("wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0, %1, %2, %3}, %4, %5, 1, 1, 1, 0, 0;"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "l"(da), "l"(db));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    out[threadIdx.x] = d0 + d1 + d2 + d3;
}
"#;

/// ptxas's notices that cost a kernel its speed: a wgmma pipeline serialised (C7510-C7520, e.g. an
/// accumulator defined while its MMA group is in flight), or registers spilled to local memory.
fn pipeline_problems(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| {
            l.contains("Potential Performance Loss")
                || l.contains("is injected")
                || (l.contains("spill stores") && !l.contains(" 0 bytes spill stores"))
                || (l.contains("spill loads") && !l.contains(" 0 bytes spill loads"))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn wgmma_kernels_keep_their_asynchronous_pipelines_and_never_spill() {
    if !nvrtc_or_skip() {
        return;
    }
    // The check has power: the probe's serialised pipeline is reported.
    let probe = kernels::KernelFile {
        name: "serialised_probe",
        source: SERIALISED_WGMMA_PROBE,
    };
    let r = nvrtc::ptxas_report(&probe, "sm_90a").unwrap();
    assert!(
        !pipeline_problems(&r).is_empty(),
        "ptxas did not report the probe's serialised wgmma pipeline:\n{r}"
    );
    // Every file built for sm_90a (the wgmma kernels), compiled to a cubin in parallel.
    let files: Vec<_> = kernels::all()
        .into_iter()
        .filter(|kf| kf.targets().contains(&"sm_90a"))
        .collect();
    assert!(files.len() >= 3, "expected the wgmma kernel files");
    let bad: Vec<String> = {
        use rayon::prelude::*;
        files
            .par_iter()
            .flat_map(|kf| match nvrtc::ptxas_report(kf, "sm_90a") {
                Ok(r) => {
                    println!("== kernels/{}.cu\n{r}", kf.name);
                    pipeline_problems(&r)
                        .into_iter()
                        .map(|l| format!("kernels/{}.cu: {l}", kf.name))
                        .collect()
                }
                Err(e) => vec![e.to_string()],
            })
            .collect()
    };
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
