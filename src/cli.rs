//! Command-line interface. Errors come back as values and are printed with what to do next.
use crate::bench::gemm::GemmBench;
use crate::device::ops::{GemmSpec, GemmVersion};
use crate::device::{self, Device, DeviceChoice};
use crate::error::{Error, Result};
use crate::{info, kernels, selfcheck};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ipdpp",
    version,
    about = "GPU engine for long-tailed recognition: BNS pre-training + exact IP-DPP selection"
)]
pub struct Cli {
    /// auto | cpu | cuda | cuda:N  (auto takes CUDA when a driver and a device exist)
    #[arg(long, global = true, default_value = "auto")]
    pub device: String,
    /// CPU worker threads (default: one per core; RAYON_NUM_THREADS works too). The CPU path gives the
    /// same bits on any count.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Version, backend and why, GPU, NVRTC, LAPACK, the kernel registry
    Info {
        /// Print JSON instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Kernel and op benchmarks (versions side by side, library line included)
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// Compile every kernel file with NVRTC for its declared targets (no GPU needed)
    Kernels {
        /// Compile for these targets instead of the declared ones (e.g. sm_90)
        #[arg(long, value_delimiter = ',')]
        target: Vec<String>,
        /// Write the PTX files into this folder
        #[arg(long)]
        ptx_dir: Option<std::path::PathBuf>,
        /// Go through the PTX cache (IPDPP_CACHE_DIR): a hit skips NVRTC, a miss fills it, so a GPU
        /// machine can start with the kernels compiled here
        #[arg(long)]
        cache: bool,
        /// Print what ptxas makes of each kernel (registers, spills, shared memory, "Potential Performance
        /// Loss" notices such as a serialised wgmma pipeline): NVRTC compiles a cubin, no GPU needed
        #[arg(long)]
        ptxas: bool,
        /// Also load each file on the GPU (with --device cuda or auto): the driver compiles its PTX to
        /// machine code once per machine (conv_tc6: about a minute) and keeps it in its cache
        /// (CUDA_CACHE_PATH), so later runs start without that wait; prints the seconds per file
        #[arg(long)]
        load: bool,
        /// Only these kernel files (stems, e.g. conv_tc6,norm); default: all
        #[arg(long, value_delimiter = ',')]
        files: Vec<String>,
    },
    /// Draw k-DPP subsets from a kernel matrix, or select per class with IP-DPP (ip, ip-code, qd-cosine, qd-rbf)
    Sample(crate::dpp::cli::SampleArgs),
    /// Data sets: import an image folder into CIFAR-style binaries, long-tailed statistics
    Data {
        #[command(subcommand)]
        what: crate::data::cli::DataCmd,
    },
    /// The embedded default: the whole two-stage pipeline on a synthetic long-tailed set (or --data DIR)
    /// with ResNet-8, about two minutes on 2 CPU cores; `--selfcheck` runs the engine self-check instead
    Demo {
        /// Run the engine self-check (every op on this device against its CPU reference) instead
        #[arg(long)]
        selfcheck: bool,
        #[command(flatten)]
        p: crate::train::cli::PipelineArgs,
    },
    /// All stages in order: BNS pre-training, linear probe, IP-DPP fine-tuning, evaluation
    Run(crate::train::cli::PipelineArgs),
    /// Stage 1 only: BNS contrastive pre-training (encoder + projector)
    Pretrain(crate::train::cli::PipelineArgs),
    /// Linear probe on the stage-1 encoder of runs/<name>/ (stage 1 must have finished)
    Probe(crate::train::cli::PipelineArgs),
    /// Stage 2 of runs/<name>/: IP-DPP selection and fine-tuning, then evaluation
    Finetune(crate::train::cli::PipelineArgs),
    /// Evaluate the finished model of runs/<name>/ again and rewrite results.json
    Eval(crate::train::cli::PipelineArgs),
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// SGEMM: v1 naive, v2 shared-memory tiled, v3 register-tiled, cuBLAS (CPU: OpenBLAS, reference)
    Gemm(GemmArgs),
    /// BNS contrastive loss fwd+bwd: v1 materialised, v2 fused fp32, v3 bf16 tensor cores (CPU: the reference)
    Bns(crate::bench::bns::BnsArgs),
    /// Whole ResNet BNS training steps: img/s, per-layer table, TFLOP/s vs the measured SGEMM ceiling, --trace
    Resnet(crate::bench::resnet::ResnetArgs),
    /// One convolution's forward, grad-input and grad-weight: every kernel generation side by side (CPU: the reference)
    Conv(crate::bench::conv::ConvArgs),
    /// Hopper probe: a bf16 GEMM on wgmma.mma_async against the mma.sync v6 kernel on the same operands (sm_90 only)
    Wgmma(crate::bench::wgmma::WgmmaArgs),
    /// The DPP kernel matrix (feature Gram, cosine or squared distance): v1, v2 and cuBLAS's SGEMM of the same product (CPU: the reference)
    Dpp(crate::bench::dpp::DppArgs),
}

#[derive(Args, Debug)]
pub struct GemmArgs {
    #[arg(long, default_value_t = 4096)]
    pub m: usize,
    #[arg(long, default_value_t = 4096)]
    pub n: usize,
    #[arg(long, default_value_t = 4096)]
    pub k: usize,
    /// A is stored transposed ([K, M])
    #[arg(long)]
    pub ta: bool,
    /// B is stored transposed ([N, K])
    #[arg(long)]
    pub tb: bool,
    /// Versions to run on CUDA
    #[arg(long, value_delimiter = ',', default_value = "v1,v2,v3,cublas")]
    pub versions: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub run: crate::bench::RunArgs,
}

/// Runs the CLI; returns the process exit code (0 ok, 1 failure, 2 bad usage).
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::Usage(_) | Error::NoCuda(_) => 2,
                _ => 1,
            }
        }
    }
}

use crate::bench::write_json;

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub fn run(cli: Cli) -> Result<i32> {
    let choice: DeviceChoice = cli.device.parse()?;
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::usage(
                "--threads 0: pass at least 1, or leave it out for one thread per core",
            ));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::usage(format!("--threads {n}: {e}")))?;
    }
    match cli.cmd {
        Command::Info { json } => {
            let i = info::gather(choice);
            if json {
                println!("{}", to_json(&i));
            } else {
                info::print(&i);
            }
            Ok(0)
        }
        Command::Bench {
            what: BenchCmd::Gemm(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            if !sel.device.is_cuda() {
                eprintln!(
                    "no CUDA device: running the CPU variant (OpenBLAS and the exact reference)"
                );
            }
            let versions = a
                .versions
                .iter()
                .map(|v| v.parse())
                .collect::<Result<Vec<GemmVersion>>>()?;
            let spec = GemmSpec {
                ta: a.ta,
                tb: a.tb,
                ..GemmSpec::new(a.m, a.n, a.k)
            };
            let b = GemmBench {
                spec,
                versions,
                warmup: a.run.warmup,
                repeats: a.run.repeats.max(1),
                seed: a.seed,
            };
            let rep = crate::bench::gemm::run(&sel.device, &b)?;
            if a.run.json {
                println!("{}", to_json(&rep));
            } else {
                rep.print_table();
            }
            if let Some(p) = &a.run.out {
                write_json(p, &rep)?;
            }
            Ok(if rep.lines.iter().all(|l| l.correct || l.note.is_some()) {
                0
            } else {
                1
            })
        }
        Command::Bench {
            what: BenchCmd::Bns(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            crate::bench::bns::run(&sel.device, &a)
        }
        Command::Bench {
            what: BenchCmd::Conv(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            crate::bench::conv::run(&sel.device, &a)
        }
        Command::Bench {
            what: BenchCmd::Dpp(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            crate::bench::dpp::run(&sel.device, &a)
        }
        Command::Bench {
            what: BenchCmd::Wgmma(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            crate::bench::wgmma::run(&sel.device, &a)
        }
        Command::Bench {
            what: BenchCmd::Resnet(a),
        } => {
            let sel = device::select(choice)?;
            eprintln!("device: {} ({})", sel.device.name(), sel.reason);
            crate::bench::resnet::run(&sel.device, &a)
        }
        Command::Kernels {
            target,
            ptx_dir,
            cache,
            ptxas,
            load,
            files,
        } => {
            let all = kernels::all();
            let gpu = if load {
                let sel = device::select(choice)?;
                match sel.device {
                    Device::Cuda(d) => Some(d),
                    Device::Cpu => {
                        return Err(Error::usage(format!(
                            "kernels --load needs a GPU ({}); drop --load to compile only",
                            sel.reason
                        )))
                    }
                }
            } else {
                None
            };
            if let Some(f) = files
                .iter()
                .find(|f| !all.iter().any(|kf| kf.name == f.as_str()))
            {
                let names: Vec<&str> = all.iter().map(|kf| kf.name).collect();
                return Err(Error::usage(format!(
                    "no kernel file {f:?}; the files are {}",
                    names.join(", ")
                )));
            }
            let mut failed = 0;
            for kf in all
                .into_iter()
                .filter(|kf| files.is_empty() || files.iter().any(|f| f == kf.name))
            {
                let targets: Vec<String> = if target.is_empty() {
                    kf.targets().iter().map(|s| s.to_string()).collect()
                } else {
                    target.clone()
                };
                for t in targets {
                    if ptxas {
                        match device::nvrtc::ptxas_report(&kf, &t) {
                            Ok(r) => print!("== kernels/{}.cu  {t}\n{r}", kf.name),
                            Err(e) => {
                                failed += 1;
                                println!("FAIL  kernels/{}.cu  {t}\n{e}", kf.name);
                            }
                        }
                        continue;
                    }
                    match device::nvrtc::compile(&kf, &t, cache) {
                        Ok(c) => {
                            let warn = if c.log.trim().is_empty() {
                                String::new()
                            } else {
                                format!("  warnings:\n{}", c.log.trim_end())
                            };
                            println!(
                                "ok    kernels/{}.cu  {t}  {} bytes of PTX{warn}",
                                kf.name,
                                c.ptx.len()
                            );
                            if let Some(d) = &ptx_dir {
                                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                                let p = d.join(format!("{}.{t}.ptx", kf.name));
                                std::fs::write(&p, &c.ptx).map_err(|e| Error::io(&p, e))?;
                            }
                        }
                        Err(e) => {
                            failed += 1;
                            println!("FAIL  kernels/{}.cu  {t}\n{e}", kf.name);
                        }
                    }
                }
                // Files with no target for this GPU (sm_90a-only ones on other cards) are not loaded.
                if let Some(d) = gpu.as_ref().filter(|d| {
                    let t = d.target();
                    kf.targets()
                        .iter()
                        .any(|k| *k == t || *k == format!("{t}a"))
                }) {
                    let t0 = std::time::Instant::now();
                    match d.module(kf.name) {
                        Ok(_) => println!(
                            "load  kernels/{}.cu  on {}  {:.1} s",
                            kf.name,
                            d.name,
                            t0.elapsed().as_secs_f64()
                        ),
                        Err(e) => {
                            failed += 1;
                            println!("FAIL  loading kernels/{}.cu on {}\n{e}", kf.name, d.name);
                        }
                    }
                }
            }
            Ok(if failed == 0 { 0 } else { 1 })
        }
        Command::Demo { selfcheck: true, p } => demo(choice, p.seed.unwrap_or(1234), p.json),
        Command::Demo { p, .. } => {
            crate::train::cli::run(choice, p, crate::train::cli::Which::Demo)
        }
        Command::Run(p) => crate::train::cli::run(choice, p, crate::train::cli::Which::Run),
        Command::Pretrain(p) => {
            crate::train::cli::run(choice, p, crate::train::cli::Which::Pretrain)
        }
        Command::Probe(p) => crate::train::cli::run(choice, p, crate::train::cli::Which::Probe),
        Command::Finetune(p) => {
            crate::train::cli::run(choice, p, crate::train::cli::Which::Finetune)
        }
        Command::Eval(p) => crate::train::cli::run(choice, p, crate::train::cli::Which::Eval),
        Command::Sample(args) => crate::dpp::cli::run_sample(choice, args),
        Command::Data { what } => crate::data::cli::run(what),
    }
}

fn demo(choice: DeviceChoice, seed: u64, json: bool) -> Result<i32> {
    let sel = device::select(choice)?;
    eprintln!("device: {} ({})", sel.device.name(), sel.reason);
    eprintln!("engine self-check: every op on this device against its CPU reference, NaN-poisoned outputs");
    eprintln!("(`ipdpp demo` without --selfcheck runs the two-stage pipeline)");
    let checks = selfcheck::all(&sel.device, seed)?;
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if json {
        println!("{}", to_json(&checks));
    } else {
        println!(
            "{:<24} {:<34} {:>10} {:>8}  result",
            "op", "shape", "rel err", "tol"
        );
        for c in &checks {
            println!(
                "{:<24} {:<34} {:>10.2e} {:>8.0e}  {}",
                c.op,
                c.shape,
                c.rel_err,
                c.tol,
                if c.passed() { "ok" } else { "FAIL" }
            );
        }
        println!(
            "{} checks, {} failed on {}",
            checks.len(),
            failed,
            sel.device.name()
        );
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
