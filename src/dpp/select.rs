//! Per-class IP-DPP selection (METHOD.md "Stage 2"): for every class with N_c > k, build the class's
//! kernel from the true-class probabilities p (and features for qd-*), draw k items; smaller classes
//! keep everything. k = min(N_c, 10·N_min) unless given.
use super::kdpp::{self, KDpp};
use super::kernels::{self, KernelKind};
use super::secular;
use crate::device::Device;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// Exact k-DPP (default)
    Kdpp,
    /// The paper's Algorithm 1 as printed (not exact; may return fewer than k)
    GreedyPaper,
    /// Uniform random k-subset (what the official code effectively does)
    Uniform,
}

impl Selector {
    pub fn name(self) -> &'static str {
        match self {
            Selector::Kdpp => "kdpp",
            Selector::GreedyPaper => "greedy-paper",
            Selector::Uniform => "uniform",
        }
    }
}

/// How the IP kernels (`ip`, `ip-code`) are eigendecomposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum IpSolver {
    /// The O(N²) secular solver, falling back to syevd if it fails its accuracy check (default)
    #[default]
    Auto,
    /// The O(N²) secular solver only (an error if it fails its accuracy check)
    Secular,
    /// Dense LAPACK syevd, O(N³)
    Syevd,
}

impl IpSolver {
    pub fn name(self) -> &'static str {
        match self {
            IpSolver::Auto => "auto",
            IpSolver::Secular => "secular",
            IpSolver::Syevd => "syevd",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SelectOptions {
    pub kernel: KernelKind,
    pub selector: Selector,
    /// Items per class; None: min(N_c, 10·N_min).
    pub k: Option<usize>,
    pub seed: u64,
    /// Independent draws from each class's kernel (decomposed once).
    pub draws: usize,
    /// Eigensolver for the IP kernels (ignored by the others).
    pub ip_solver: IpSolver,
}

impl SelectOptions {
    /// Options with the default IP solver ([`IpSolver::Auto`]).
    pub fn new(
        kernel: KernelKind,
        selector: Selector,
        k: Option<usize>,
        seed: u64,
        draws: usize,
    ) -> Self {
        SelectOptions {
            kernel,
            selector,
            k,
            seed,
            draws,
            ip_solver: IpSolver::Auto,
        }
    }
}

/// Milliseconds per phase (summed over draws).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PhaseMs {
    pub kernel: f64,
    pub decomposition: f64,
    pub esp: f64,
    pub phase1: f64,
    pub phase2: f64,
}

impl PhaseMs {
    pub fn add(&mut self, o: &PhaseMs) {
        self.kernel += o.kernel;
        self.decomposition += o.decomposition;
        self.esp += o.esp;
        self.phase1 += o.phase1;
        self.phase2 += o.phase2;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassReport {
    pub class: i64,
    pub n: usize,
    pub k: usize,
    /// Items returned per draw (mean; below k only for greedy-paper).
    pub selected: f64,
    /// Mean p of the kept items (mean over draws).
    pub mean_p_kept: f64,
    /// Mean p of the dropped items (None when the class keeps everything).
    pub mean_p_dropped: Option<f64>,
    /// Rank of the class kernel (None when no kernel was built).
    pub rank: Option<usize>,
    /// Eigensolver used ("secular", "syevd", "syevd (fallback: …)", "syevd dual"; None without a kernel).
    pub solver: Option<String>,
    pub ms: PhaseMs,
}

#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub kernel: KernelKind,
    pub selector: Selector,
    /// One sorted index list per draw (indices into the input rows).
    pub draws: Vec<Vec<usize>>,
    pub classes: Vec<ClassReport>,
    pub ms: PhaseMs,
}

/// splitmix64: the per-class seed, so a class's draw does not depend on the other classes.
fn mix(seed: u64, class: i64) -> u64 {
    let mut z = seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Features of the rows `idx` (row-major, D columns).
fn gather(f: &[f32], d: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        out.extend_from_slice(&f[i * d..(i + 1) * d]);
    }
    out
}

/// Decomposes one class's IP kernel (clamped p) with `solver`; fills the kernel and decomposition times.
/// Returns the k-DPP and the name of the solver that produced it.
pub fn ip_decompose(
    p: &[f64],
    code_scaling: bool,
    solver: IpSolver,
    t_ms: &mut PhaseMs,
) -> Result<(KDpp, String)> {
    let dense = |t_ms: &mut PhaseMs| -> Result<KDpp> {
        let t = Instant::now();
        let l = kernels::ip_kernel(p, code_scaling);
        t_ms.kernel += ms(t);
        let t = Instant::now();
        let dpp = KDpp::from_kernel(l, p.len())?;
        t_ms.decomposition += ms(t);
        Ok(dpp)
    };
    match solver {
        IpSolver::Syevd => Ok((dense(t_ms)?, "syevd".into())),
        IpSolver::Secular | IpSolver::Auto => {
            let t = Instant::now();
            let r = secular::ip_eig(p, code_scaling)
                .and_then(|(eig, _, _)| KDpp::from_eig(eig, f64::EPSILON));
            t_ms.decomposition += ms(t);
            match (r, solver) {
                (Ok(dpp), _) => Ok((dpp, "secular".into())),
                (Err(e), IpSolver::Secular) => Err(e),
                (Err(e), _) => {
                    let dpp = dense(t_ms)?;
                    Ok((dpp, format!("syevd (fallback: {e})")))
                }
            }
        }
    }
}

/// Per-class selection. `probs` are true-class probabilities (validated and clamped here);
/// `features` is (row-major N×D, D) and is required for the qd-* kernels.
pub fn select(
    dev: &Device,
    labels: &[i64],
    probs: &[f64],
    features: Option<(&[f32], usize)>,
    opts: &SelectOptions,
) -> Result<Selection> {
    let n = labels.len();
    if n == 0 {
        return Err(Error::usage("no samples: the labels are empty"));
    }
    if probs.len() != n {
        return Err(Error::usage(format!(
            "{} labels but {} probabilities: give one true-class probability per sample",
            n,
            probs.len()
        )));
    }
    if opts.draws == 0 {
        return Err(Error::usage("draws must be at least 1"));
    }
    let p = kernels::clamp_probs(probs, "probabilities")?;
    let raw: Vec<f64> = probs.to_vec();
    if opts.kernel.needs_features() {
        match features {
            None => {
                return Err(Error::usage(format!(
                    "--kernel {} needs features (--features F.npy, one row per sample)",
                    opts.kernel.name()
                )))
            }
            Some((f, d)) => {
                if d == 0 || f.len() != n * d {
                    return Err(Error::usage(format!(
                        "features hold {} values, expected {n} rows × D (one row per label)",
                        f.len()
                    )));
                }
            }
        }
    }
    let mut by_class: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &c) in labels.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let n_min = by_class.values().map(Vec::len).min().unwrap_or(0);
    let k_of = |nc: usize| opts.k.unwrap_or(10 * n_min).min(nc);
    // Refuse impossible requests up front, before any work.
    if let (KernelKind::QdCosine, Some((_, d))) = (opts.kernel, features) {
        if opts.selector != Selector::Uniform {
            for (&c, idx) in &by_class {
                let k = k_of(idx.len());
                if idx.len() > k && k > d {
                    return Err(Error::usage(format!(
                        "class {c}: k = {k} exceeds the feature dimension D = {d}; the qd-cosine kernel has \
                         rank ≤ D, so a k-DPP cannot draw {k} items; use --k ≤ {d} or --kernel qd-rbf / ip"
                    )));
                }
            }
        }
    }
    // Classes in parallel (each has its own RNG stream, so the draws do not depend on the order or the
    // thread count); the qd-rbf kernel may run on the device, one class at a time.
    let classes_in: Vec<(i64, &Vec<usize>)> = by_class.iter().map(|(&c, idx)| (c, idx)).collect();
    let one = |&(c, idx): &(i64, &Vec<usize>)| {
        select_class(dev, c, idx, k_of(idx.len()), &p, &raw, features, opts)
    };
    let per_class: Vec<(ClassReport, Vec<Vec<usize>>)> = if opts.kernel == KernelKind::QdRbf {
        classes_in.iter().map(one).collect::<Result<_>>()?
    } else {
        classes_in.par_iter().map(one).collect::<Result<_>>()?
    };
    let mut draws: Vec<Vec<usize>> = vec![Vec::new(); opts.draws];
    let mut classes = Vec::with_capacity(per_class.len());
    let mut total = PhaseMs::default();
    for (rep, local) in per_class {
        for (d, y) in draws.iter_mut().zip(local) {
            d.extend(y);
        }
        total.add(&rep.ms);
        classes.push(rep);
    }
    for d in draws.iter_mut() {
        d.sort_unstable();
    }
    Ok(Selection {
        kernel: opts.kernel,
        selector: opts.selector,
        draws,
        classes,
        ms: total,
    })
}

/// One class's selection: its report and, per draw, the kept rows (indices into the input rows).
#[allow(clippy::too_many_arguments)]
fn select_class(
    dev: &Device,
    c: i64,
    idx: &[usize],
    k: usize,
    p: &[f64],
    raw: &[f64],
    features: Option<(&[f32], usize)>,
    opts: &SelectOptions,
) -> Result<(ClassReport, Vec<Vec<usize>>)> {
    let nc = idx.len();
    let mut rep = ClassReport {
        class: c,
        n: nc,
        k,
        selected: nc as f64,
        mean_p_kept: idx.iter().map(|&i| raw[i]).sum::<f64>() / nc as f64,
        mean_p_dropped: None,
        rank: None,
        solver: None,
        ms: PhaseMs::default(),
    };
    if nc <= k {
        return Ok((rep, vec![idx.to_vec(); opts.draws]));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(mix(opts.seed, c));
    let pc: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
    let mut local: Vec<Vec<usize>> = Vec::with_capacity(opts.draws);
    if opts.selector == Selector::Uniform {
        let t = Instant::now();
        for _ in 0..opts.draws {
            local.push(kdpp::uniform(nc, k, &mut rng)?);
        }
        rep.ms.phase2 = ms(t);
    } else {
        let t = Instant::now();
        let dpp = match opts.kernel {
            KernelKind::Ip | KernelKind::IpCode => {
                let code = opts.kernel == KernelKind::IpCode;
                let (dpp, solver) = ip_decompose(&pc, code, opts.ip_solver, &mut rep.ms)?;
                rep.solver = Some(solver);
                dpp
            }
            KernelKind::QdCosine => {
                let (f, d) = features.expect("checked above");
                let fc = gather(f, d, idx);
                let b = kernels::qd_cosine_factor(&fc, nc, d, &kernels::quality(&pc))?;
                rep.ms.kernel = ms(t);
                let t = Instant::now();
                let dpp = KDpp::dual(&b, nc, d)?;
                rep.solver = Some("syevd dual".into());
                rep.ms.decomposition = ms(t);
                dpp
            }
            KernelKind::QdRbf => {
                let (f, d) = features.expect("checked above");
                let fc = gather(f, d, idx);
                let (l, _sigma) = kernels::qd_rbf_kernel(dev, &fc, nc, d, &kernels::quality(&pc))?;
                rep.ms.kernel = ms(t);
                let t = Instant::now();
                let dpp = KDpp::from_kernel(l, nc)?;
                rep.solver = Some("syevd".into());
                rep.ms.decomposition = ms(t);
                dpp
            }
        };
        rep.rank = Some(dpp.rank());
        if opts.selector == Selector::GreedyPaper {
            let t = Instant::now();
            for _ in 0..opts.draws {
                local.push(kdpp::greedy_paper(&dpp, k, &mut rng)?);
            }
            rep.ms.phase2 = ms(t);
        } else {
            let t = Instant::now();
            let s = dpp.sampler(k).map_err(|e| match e {
                Error::Usage(m) => Error::usage(format!("class {c} ({nc} samples): {m}")),
                e => e,
            })?;
            rep.ms.esp = ms(t);
            for _ in 0..opts.draws {
                let t = Instant::now();
                let cols = s.phase1(&mut rng);
                rep.ms.phase1 += ms(t);
                let t = Instant::now();
                let mut y = kdpp::phase2(&dpp.vectors, nc, &cols, &mut rng)?;
                y.sort_unstable();
                rep.ms.phase2 += ms(t);
                local.push(y);
            }
        }
    }
    let (mut kept_sum, mut drop_sum, mut sel) = (0.0, 0.0, 0.0);
    let class_sum: f64 = idx.iter().map(|&i| raw[i]).sum();
    for y in local.iter_mut() {
        let ks: f64 = y.iter().map(|&j| raw[idx[j]]).sum();
        kept_sum += if y.is_empty() {
            0.0
        } else {
            ks / y.len() as f64
        };
        let nd = nc - y.len();
        drop_sum += if nd == 0 {
            0.0
        } else {
            (class_sum - ks) / nd as f64
        };
        sel += y.len() as f64;
        for j in y.iter_mut() {
            *j = idx[*j];
        }
    }
    let nd = opts.draws as f64;
    rep.selected = sel / nd;
    rep.mean_p_kept = kept_sum / nd;
    rep.mean_p_dropped = Some(drop_sum / nd);
    Ok((rep, local))
}
