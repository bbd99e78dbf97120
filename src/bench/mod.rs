//! The kernel benchmark harness behind `ipdpp bench`: every version is checked against the reference
//! first, then timed (CUDA events after warm-up, L2 flushed between repeats; wall clock on the CPU), and
//! reported as median and spread with achieved TFLOP/s and GB/s.
pub mod bns;
pub mod conv;
pub mod dpp;
pub mod gemm;
pub mod resnet;
pub mod wgmma;

use crate::device::cuda::CudaDevice;
use crate::error::{Error, Result};
use cudarc::driver::{sys::CUevent_flags, CudaSlice, LaunchConfig, PushKernelArg};
use serde::Serialize;
use std::time::Instant;

/// The options every `ipdpp bench` command shares: warm-up and timed repeats, JSON on stdout, `--out`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Print the report(s) as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report(s) to this file
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub repeats: usize,
}

impl Timing {
    pub fn from_samples(mut ms: Vec<f64>) -> Self {
        ms.sort_by(|a, b| a.total_cmp(b));
        let n = ms.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            ms[n / 2]
        } else {
            0.5 * (ms[n / 2 - 1] + ms[n / 2])
        };
        Timing {
            median_ms: median,
            min_ms: *ms.first().unwrap_or(&f64::NAN),
            max_ms: *ms.last().unwrap_or(&f64::NAN),
            repeats: n,
        }
    }
}

/// One implementation's line in a report.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub version: String,
    pub description: String,
    /// ‖out − ref‖ / ‖ref‖ against the reference, before timing.
    pub rel_err: Option<f64>,
    pub correct: bool,
    pub timing: Option<Timing>,
    pub tflops: Option<f64>,
    pub gbps: Option<f64>,
    /// Throughput relative to the library line (cuBLAS / OpenBLAS), when there is one.
    pub vs_library: Option<f64>,
    pub note: Option<String>,
}

impl Line {
    /// The line of a version that could not run here (`e` says why): not timed, not correct.
    pub fn unavailable(version: &str, description: &str, e: &Error) -> Line {
        Line {
            version: version.into(),
            description: description.into(),
            rel_err: None,
            correct: false,
            timing: None,
            tflops: None,
            gbps: None,
            vs_library: None,
            note: Some(format!("unavailable: {e}")),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub bench: String,
    pub device: String,
    pub shape: String,
    pub reference: String,
    pub tolerance: f64,
    pub date_unix: u64,
    pub lines: Vec<Line>,
}

impl Report {
    pub fn print_table(&self) {
        println!(
            "{} on {}  [{}]  reference: {}, tolerance {:.0e}",
            self.bench, self.device, self.shape, self.reference, self.tolerance
        );
        println!(
            "{:<8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10}  description",
            "version", "median ms", "min ms", "max ms", "TFLOP/s", "GB/s", "vs lib", "rel err"
        );
        for l in &self.lines {
            let f = |v: Option<f64>, p: usize| {
                v.map(|x| format!("{x:.p$}")).unwrap_or_else(|| "-".into())
            };
            let t = l.timing.as_ref();
            println!(
                "{:<8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10}  {}{}",
                l.version,
                f(t.map(|t| t.median_ms), 3),
                f(t.map(|t| t.min_ms), 3),
                f(t.map(|t| t.max_ms), 3),
                f(l.tflops, 2),
                f(l.gbps, 1),
                l.vs_library
                    .map(|x| format!("{:.0}%", 100.0 * x))
                    .unwrap_or_else(|| "-".into()),
                l.rel_err
                    .map(|x| format!("{x:.1e}"))
                    .unwrap_or_else(|| "-".into()),
                l.description,
                match (&l.note, l.correct) {
                    (Some(n), _) => format!("  ({n})"),
                    (None, false) => "  (WRONG: above tolerance)".into(),
                    _ => String::new(),
                }
            );
        }
    }
}

/// ‖a − b‖ / ‖b‖ in f64; infinite when `a` holds a NaN or Inf (an unwritten, poisoned element).
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.iter().any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        num += (x as f64 - y as f64).powi(2);
        den += (y as f64).powi(2);
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// Times `f` on the CPU: `warmup` untimed runs, then `repeats` timed ones.
pub fn time_cpu(
    warmup: usize,
    repeats: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let mut ms = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Timing::from_samples(ms))
}

/// Cold-L2 timing on one CUDA stream: a scratch buffer of twice the L2 is rewritten before every repeat.
pub struct CudaTimer<'a> {
    dev: &'a CudaDevice,
    flush: CudaSlice<f32>,
}

impl<'a> CudaTimer<'a> {
    pub fn new(dev: &'a CudaDevice) -> Result<Self> {
        let n = (2 * dev.l2_bytes.max(8 << 20)) / 4;
        Ok(CudaTimer {
            dev,
            flush: dev.zeros::<f32>(n)?,
        })
    }

    fn flush_l2(&mut self) -> Result<()> {
        let f = self.dev.function("gemm", "l2_flush_f32")?;
        let n = self.flush.len() as u64;
        let v = 1.0f32;
        let cfg = LaunchConfig {
            grid_dim: (self.dev.grid_for(self.flush.len(), 256), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: l2_flush_f32(float* buf, u64 n, float v) over the whole scratch buffer.
        unsafe {
            self.dev
                .stream
                .launch_builder(&f)
                .arg(&mut self.flush)
                .arg(&n)
                .arg(&v)
                .launch(cfg)
        }
        .map_err(|e| Error::driver("launching l2_flush_f32", e))?;
        Ok(())
    }

    pub fn time(
        &mut self,
        warmup: usize,
        repeats: usize,
        mut f: impl FnMut() -> Result<()>,
    ) -> Result<Timing> {
        let ev = |d: &CudaDevice| {
            d.ctx
                .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| Error::driver("creating an event", e))
        };
        for _ in 0..warmup {
            f()?;
        }
        self.dev.synchronize()?;
        let mut ms = Vec::with_capacity(repeats);
        for _ in 0..repeats.max(1) {
            self.flush_l2()?;
            let (start, end) = (ev(self.dev)?, ev(self.dev)?);
            start
                .record(&self.dev.stream)
                .map_err(|e| Error::driver("recording an event", e))?;
            f()?;
            end.record(&self.dev.stream)
                .map_err(|e| Error::driver("recording an event", e))?;
            end.synchronize()
                .map_err(|e| Error::driver("waiting for an event", e))?;
            ms.push(
                start
                    .elapsed_ms(&end)
                    .map_err(|e| Error::driver("reading event time", e))? as f64,
            );
        }
        Ok(Timing::from_samples(ms))
    }
}

/// Writes `v` as pretty JSON to `path` atomically (a temporary file renamed into place).
pub fn write_json<T: Serialize>(path: &std::path::Path, v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::usage(format!("JSON: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        s + "
",
    )
    .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// A bench command's output: `v` as pretty JSON on stdout with `json`, else `table()`; `v` written to
/// `out` when given. Returns the exit status: 0 when every line is `ok`, else 1.
pub fn emit<T: Serialize>(
    v: &T,
    json: bool,
    out: Option<&std::path::Path>,
    table: impl FnOnce(),
    ok: bool,
) -> Result<i32> {
    if json {
        let s = serde_json::to_string_pretty(v).map_err(|e| Error::usage(format!("JSON: {e}")))?;
        println!("{s}");
    } else {
        table();
    }
    if let Some(p) = out {
        write_json(p, v)?;
    }
    Ok(if ok { 0 } else { 1 })
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
