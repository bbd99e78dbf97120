//! `ipdpp sample`: (a) draws from one k-DPP given its kernel matrix; (b) per-class IP-DPP selection.
//! Inputs are .npy (f32/f64/i64/...) or CSV; the output is int64 .npy, one sorted row per draw.
//! Every input is validated before any work is written: on error nothing is written.
use super::kdpp::{self, KDpp};
use super::kernels::KernelKind;
use super::select::{self, IpSolver, SelectOptions, Selector};
use crate::device::{self, Device, DeviceChoice};
use crate::error::{Error, Result};
use crate::npy;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct SampleArgs {
    /// Mode (a): a PSD kernel matrix L (N×N, .npy or .csv) to draw k-DPP subsets from
    #[arg(long, conflicts_with_all = ["labels", "probs", "features"])]
    pub kernel_file: Option<PathBuf>,
    /// Mode (b): integer class labels, one per sample (.npy or .csv)
    #[arg(long, requires = "probs")]
    pub labels: Option<PathBuf>,
    /// Mode (b): probability of the true label for each sample, in [0, 1] (.npy or .csv)
    #[arg(long, requires = "labels")]
    pub probs: Option<PathBuf>,
    /// Mode (b): features (N×D), needed by qd-cosine and qd-rbf
    #[arg(long)]
    pub features: Option<PathBuf>,
    /// Mode (b): the per-class kernel
    #[arg(long, value_enum, default_value = "ip")]
    pub kernel: KernelKind,
    /// Subset size: required in mode (a); in mode (b) items per class (default min(N_c, 10·N_min))
    #[arg(long)]
    pub k: Option<usize>,
    /// Independent draws (the kernel is decomposed once)
    #[arg(long, default_value_t = 1)]
    pub draws: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "kdpp")]
    pub selector: Selector,
    /// Mode (b): eigensolver for the ip / ip-code kernels (auto: O(N²) secular solver, syevd fallback)
    #[arg(long, value_enum, default_value = "auto")]
    pub ip_solver: IpSolver,
    /// Mode (a): decompose in f32 (faster, less accurate)
    #[arg(long)]
    pub f32: bool,
    /// Output: int64 .npy of shape (draws, k) or (draws, total selected), rows sorted ascending
    /// (greedy-paper may select fewer: such rows are padded with −1)
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the per-class report (mode b) or the timings (mode a) as JSON
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// A numeric table read from .npy or CSV: shape and values (row-major).
pub struct Table {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    /// Exact integers when the .npy holds an integer type.
    pub ints: Option<Vec<i64>>,
}

fn is_csv(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("csv") | Some("txt") | Some("tsv")
    )
}

/// Reads a .npy or a CSV (comma, tab or whitespace separated; an optional non-numeric header line).
pub fn read_table(path: &Path) -> Result<Table> {
    if !is_csv(path) {
        let a = npy::read(path)?;
        let ints = match a.data {
            npy::NpyData::F32(_) | npy::NpyData::F64(_) => None,
            _ => a.to_i64(),
        };
        return Ok(Table {
            shape: a.shape.clone(),
            values: a.to_f64(),
            ints,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0usize;
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c == '\t' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        let parsed: std::result::Result<Vec<f64>, _> =
            fields.iter().map(|s| s.parse::<f64>()).collect();
        let row = match parsed {
            Ok(r) => r,
            Err(_) if rows == 0 && values.is_empty() && cols.is_none() => {
                cols = Some(0); // header line: skip it, but only once
                continue;
            }
            Err(_) => {
                let (c, bad) = fields
                    .iter()
                    .enumerate()
                    .find(|(_, s)| s.parse::<f64>().is_err())
                    .map(|(c, s)| (c, *s))
                    .unwrap_or((0, line));
                return Err(Error::usage(format!(
                    "{}: line {}, column {}: {bad:?} is not a number",
                    path.display(),
                    ln + 1,
                    c + 1
                )));
            }
        };
        match cols {
            Some(c) if c != 0 && c != row.len() => {
                return Err(Error::usage(format!(
                    "{}: line {} has {} values, earlier lines have {c}",
                    path.display(),
                    ln + 1,
                    row.len()
                )))
            }
            _ => cols = Some(row.len()),
        }
        rows += 1;
        values.extend(row);
    }
    let c = cols.unwrap_or(0);
    if rows == 0 {
        return Err(Error::usage(format!("{}: no numeric rows", path.display())));
    }
    Ok(Table {
        shape: vec![rows, c],
        values,
        ints: None,
    })
}

/// A 1-D vector from shape (n), (n, 1) or (1, n).
fn as_vector(t: &Table, path: &Path, what: &str) -> Result<usize> {
    match t.shape.as_slice() {
        [n] => Ok(*n),
        [n, 1] => Ok(*n),
        [1, n] => Ok(*n),
        s => Err(Error::usage(format!(
            "{}: {what} must be a vector, got shape {s:?}",
            path.display()
        ))),
    }
}

fn in_file(path: &Path) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Usage(m) => Error::usage(format!("{}: {m}", path.display())),
        e => e,
    }
}

fn first_non_finite(v: &[f64], cols: usize, path: &Path) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        let cols = cols.max(1);
        return Err(Error::usage(format!(
            "{}: value {} at row {}, column {} is not finite",
            path.display(),
            v[i],
            i / cols,
            i % cols
        )));
    }
    Ok(())
}

/// Rows padded with −1 to the longest row; returns (rows, width, flat data).
fn pad_rows(rows: &[Vec<usize>]) -> (usize, Vec<i64>, bool) {
    let w = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut padded = false;
    let mut out = Vec::with_capacity(rows.len() * w);
    for r in rows {
        out.extend(r.iter().map(|&x| x as i64));
        if r.len() < w {
            padded = true;
            out.extend(std::iter::repeat_n(-1i64, w - r.len()));
        }
    }
    (w, out, padded)
}

fn write_report(path: &Path, json: &str) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

pub fn run_sample(dev_choice: DeviceChoice, args: SampleArgs) -> Result<i32> {
    if args.draws == 0 {
        return Err(Error::usage("--draws must be at least 1"));
    }
    match (&args.kernel_file, &args.labels) {
        (Some(kf), None) => sample_kernel(kf.clone(), &args),
        (None, Some(_)) => sample_classes(dev_choice, &args),
        _ => Err(Error::usage(
            "give either --kernel-file L.npy --k K (one k-DPP) or --labels y.npy --probs p.npy \
             (per-class IP-DPP selection)",
        )),
    }
}

fn sample_kernel(path: PathBuf, args: &SampleArgs) -> Result<i32> {
    let k = args.k.ok_or_else(|| {
        Error::usage("--k is required with --kernel-file (the size of each drawn subset)")
    })?;
    let t = read_table(&path)?;
    let n = match t.shape.as_slice() {
        [a, b] if a == b => *a,
        s => {
            return Err(Error::usage(format!(
                "{}: the kernel must be a square N×N matrix, got shape {s:?}",
                path.display()
            )))
        }
    };
    first_non_finite(&t.values, n, &path)?;
    if k > n {
        return Err(Error::usage(format!(
            "{}: k = {k} is larger than the number of items N = {n}",
            path.display()
        )));
    }
    let t0 = Instant::now();
    let dpp = if args.f32 {
        KDpp::from_kernel_f32(t.values.iter().map(|&x| x as f32).collect(), n)
    } else {
        KDpp::from_kernel(t.values, n)
    }
    .map_err(in_file(&path))?;
    let ms_dec = t0.elapsed().as_secs_f64() * 1e3;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let (mut ms_esp, mut ms_p1, mut ms_p2) = (0.0, 0.0, 0.0);
    let mut rows = Vec::with_capacity(args.draws);
    match args.selector {
        Selector::Kdpp => {
            let t1 = Instant::now();
            let s = dpp.sampler(k).map_err(in_file(&path))?;
            ms_esp = t1.elapsed().as_secs_f64() * 1e3;
            for _ in 0..args.draws {
                let t1 = Instant::now();
                let cols = s.phase1(&mut rng);
                ms_p1 += t1.elapsed().as_secs_f64() * 1e3;
                let t1 = Instant::now();
                let mut y = kdpp::phase2(&dpp.vectors, n, &cols, &mut rng)?;
                y.sort_unstable();
                ms_p2 += t1.elapsed().as_secs_f64() * 1e3;
                rows.push(y);
            }
        }
        Selector::GreedyPaper => {
            let t1 = Instant::now();
            for _ in 0..args.draws {
                rows.push(kdpp::greedy_paper(&dpp, k, &mut rng)?);
            }
            ms_p2 = t1.elapsed().as_secs_f64() * 1e3;
        }
        Selector::Uniform => {
            let t1 = Instant::now();
            for _ in 0..args.draws {
                rows.push(kdpp::uniform(n, k, &mut rng)?);
            }
            ms_p2 = t1.elapsed().as_secs_f64() * 1e3;
        }
    }
    let (w, flat, padded) = pad_rows(&rows);
    if padded {
        eprintln!("note: greedy-paper returned fewer than k = {k} items in some draws; rows padded with -1");
    }
    npy::write_i64(&args.out, &[rows.len(), w], &flat)?;
    println!(
        "k-DPP {}: N = {n}, rank = {}, k = {k}, {} draw(s), selector {}",
        path.display(),
        dpp.rank(),
        args.draws,
        args.selector.name()
    );
    println!(
        "time: decomposition {ms_dec:.1} ms ({}), ESP {ms_esp:.1} ms, phase 1 {ms_p1:.1} ms, phase 2 {ms_p2:.1} ms",
        if args.f32 { "f32 syevd" } else { "f64 syevd" }
    );
    println!("wrote {} ({} × {w}, int64)", args.out.display(), rows.len());
    if let Some(r) = &args.report {
        let j = serde_json::json!({
            "n": n, "rank": dpp.rank(), "k": k, "draws": args.draws, "selector": args.selector,
            "ms": {"decomposition": ms_dec, "esp": ms_esp, "phase1": ms_p1, "phase2": ms_p2},
        });
        write_report(r, &serde_json::to_string_pretty(&j).unwrap_or_default())?;
    }
    Ok(0)
}

fn sample_classes(dev_choice: DeviceChoice, args: &SampleArgs) -> Result<i32> {
    let (lp, pp) = match (&args.labels, &args.probs) {
        (Some(l), Some(p)) => (l.clone(), p.clone()),
        _ => return Err(Error::usage("mode (b) needs both --labels and --probs")),
    };
    let lt = read_table(&lp)?;
    let n = as_vector(&lt, &lp, "labels")?;
    let labels: Vec<i64> = match &lt.ints {
        Some(v) => v.clone(),
        None => {
            if let Some(i) = lt
                .values
                .iter()
                .position(|x| !x.is_finite() || x.fract() != 0.0 || x.abs() > 9.0e15)
            {
                return Err(Error::usage(format!(
                    "{}: label {} at index {i} is not an integer",
                    lp.display(),
                    lt.values[i]
                )));
            }
            lt.values.iter().map(|&x| x as i64).collect()
        }
    };
    let pt = read_table(&pp)?;
    let np = as_vector(&pt, &pp, "probabilities")?;
    if np != n {
        return Err(Error::usage(format!(
            "{} has {n} labels but {} has {np} probabilities: give one per sample",
            lp.display(),
            pp.display()
        )));
    }
    if let Some(i) = pt.values.iter().position(|x| !(0.0..=1.0).contains(x)) {
        return Err(Error::usage(format!(
            "{}: probability {} at index {i} is outside [0, 1] (give the softmax probability of the \
             true label)",
            pp.display(),
            pt.values[i]
        )));
    }
    let feats = match &args.features {
        Some(fp) => {
            let ft = read_table(fp)?;
            let (rows, d) = match ft.shape.as_slice() {
                [r, d] => (*r, *d),
                s => {
                    return Err(Error::usage(format!(
                        "{}: features must be a 2-D N×D matrix, got shape {s:?}",
                        fp.display()
                    )))
                }
            };
            if rows != n {
                return Err(Error::usage(format!(
                    "{} has {rows} rows but {} has {n} labels: give one feature row per sample",
                    fp.display(),
                    lp.display()
                )));
            }
            first_non_finite(&ft.values, d, fp)?;
            Some((ft.values.iter().map(|&x| x as f32).collect::<Vec<f32>>(), d))
        }
        None => None,
    };
    let dev = if args.kernel == KernelKind::QdRbf && args.selector != Selector::Uniform {
        let sel = device::select(dev_choice)?;
        eprintln!("device: {} ({})", sel.device.name(), sel.reason);
        sel.device
    } else {
        Device::Cpu
    };
    let opts = SelectOptions {
        kernel: args.kernel,
        selector: args.selector,
        k: args.k,
        seed: args.seed,
        draws: args.draws,
        ip_solver: args.ip_solver,
    };
    let feat_ref = feats.as_ref().map(|(f, d)| (f.as_slice(), *d));
    let sel = select::select(&dev, &labels, &pt.values, feat_ref, &opts).map_err(|e| match e {
        Error::Usage(m) if args.features.is_some() && args.kernel.needs_features() => {
            Error::usage(format!(
                "{m} (inputs: {}, {}, {})",
                lp.display(),
                pp.display(),
                args.features.as_deref().unwrap_or(Path::new("-")).display()
            ))
        }
        Error::Usage(m) => {
            Error::usage(format!("{m} (inputs: {}, {})", lp.display(), pp.display()))
        }
        e => e,
    })?;
    let (w, flat, padded) = pad_rows(&sel.draws);
    if padded {
        eprintln!(
            "note: greedy-paper selected fewer than k items in some draws; rows padded with -1"
        );
    }
    npy::write_i64(&args.out, &[sel.draws.len(), w], &flat)?;
    println!(
        "IP-DPP selection: {} samples, {} classes, kernel {}, selector {}, {} draw(s)",
        n,
        sel.classes.len(),
        args.kernel.name(),
        args.selector.name(),
        args.draws
    );
    println!(
        "{:>7} {:>6} {:>5} {:>5} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}  solver",
        "class",
        "N_c",
        "k",
        "rank",
        "p kept",
        "p dropped",
        "kernel ms",
        "decomp ms",
        "ESP ms",
        "ph1 ms",
        "ph2 ms"
    );
    for c in &sel.classes {
        println!(
            "{:>7} {:>6} {:>5} {:>5} {:>8.4} {:>9} {:>9.1} {:>9.1} {:>8.1} {:>8.1} {:>8.1}  {}",
            c.class,
            c.n,
            c.k,
            c.rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            c.mean_p_kept,
            c.mean_p_dropped
                .map(|x| format!("{x:.4}"))
                .unwrap_or_else(|| "-".into()),
            c.ms.kernel,
            c.ms.decomposition,
            c.ms.esp,
            c.ms.phase1,
            c.ms.phase2,
            c.solver.as_deref().unwrap_or("-")
        );
    }
    let m = &sel.ms;
    println!(
        "time: kernel {:.1} ms, decomposition {:.1} ms, ESP {:.1} ms, phase 1 {:.1} ms, phase 2 {:.1} ms",
        m.kernel, m.decomposition, m.esp, m.phase1, m.phase2
    );
    println!(
        "wrote {} ({} × {w}, int64)",
        args.out.display(),
        sel.draws.len()
    );
    if let Some(r) = &args.report {
        write_report(
            r,
            &serde_json::to_string_pretty(&sel.classes).unwrap_or_default(),
        )?;
    }
    Ok(0)
}
