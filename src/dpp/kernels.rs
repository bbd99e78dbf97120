//! DPP kernels of METHOD.md "Stage 2": `ip` (paper Eq. 16), `ip-code` (official /N² scaling),
//! `qd-cosine` (dual, rank ≤ D) and `qd-rbf` (primal N×N). IP kernels are built in f64 from clamped
//! probabilities. The feature Gram matrix (the "DPP kernel matrix") runs on CUDA as `dpp_gram_f32` (v1)
//! or `dpp_gram_sym_f32` (v2, the triangle; kernels/dpp.cu); [`gram_cpu`] is its reference and the CPU
//! path.
use crate::device::cuda::{check_len, launch_err, CudaDevice};
use crate::device::Device;
use crate::error::{Error, Result};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use serde::Serialize;

/// Probabilities are clamped to [P_MIN, P_MAX] before any kernel is built (METHOD.md).
pub const P_MIN: f64 = 1e-12;
pub const P_MAX: f64 = 1.0 - 1e-6;
/// q_i = −log p_i + QD_EPS for the quality–diversity kernels.
pub const QD_EPS: f64 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// Paper Eq. 16: S_ij = p_i p_j / N, S_ii = 1 − p_i (P − p_i) / N
    Ip,
    /// The official code's scaling (N² in place of N)
    IpCode,
    /// Quality × cosine Gram of the features (dual form, rank ≤ feature dim)
    QdCosine,
    /// Quality × RBF of the features, σ = median pairwise distance (primal N×N)
    QdRbf,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Ip => "ip",
            KernelKind::IpCode => "ip-code",
            KernelKind::QdCosine => "qd-cosine",
            KernelKind::QdRbf => "qd-rbf",
        }
    }
    pub fn needs_features(self) -> bool {
        matches!(self, KernelKind::QdCosine | KernelKind::QdRbf)
    }
}

/// Checks p ∈ [0, 1] (finite) and clamps to [P_MIN, P_MAX]. `what` names the source in errors.
pub fn clamp_probs(p: &[f64], what: &str) -> Result<Vec<f64>> {
    p.iter()
        .enumerate()
        .map(|(i, &x)| {
            if !(0.0..=1.0).contains(&x) {
                Err(Error::usage(format!(
                    "{what}: probability {x} at index {i} is outside [0, 1] (give the softmax \
                     probability of the true label)"
                )))
            } else {
                Ok(x.clamp(P_MIN, P_MAX))
            }
        })
        .collect()
}

/// Clamped probabilities from log-probabilities (log-softmax), p = exp(log p).
pub fn probs_from_log(logp: &[f64], what: &str) -> Result<Vec<f64>> {
    let p: Vec<f64> = logp
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l.is_nan() || l > 0.0 {
                Err(Error::usage(format!(
                    "{what}: log-probability {l} at index {i} is not ≤ 0"
                )))
            } else {
                Ok(l.exp())
            }
        })
        .collect::<Result<_>>()?;
    clamp_probs(&p, what)
}

/// The IP kernel as diagonal plus rank one: S = diag(dg) + ρ z zᵀ with ‖z‖ = 1.
/// `ip`: dg_i = 1 − p_i P/N, ρ z zᵀ = p pᵀ/N; `ip-code`: N² in place of N. `p` must be clamped.
pub fn ip_parts(p: &[f64], code_scaling: bool) -> (Vec<f64>, Vec<f64>, f64) {
    let n = p.len() as f64;
    let scale = if code_scaling { n * n } else { n };
    let total: f64 = p.iter().sum();
    let dg: Vec<f64> = p.iter().map(|&x| 1.0 - x * total / scale).collect();
    let norm2: f64 = p.iter().map(|x| x * x).sum();
    let norm = norm2.sqrt();
    let z: Vec<f64> = p.iter().map(|&x| x / norm).collect();
    (dg, z, norm2 / scale)
}

/// The dense IP kernel (row-major N×N, f64). `p` must be clamped ([`clamp_probs`]).
pub fn ip_kernel(p: &[f64], code_scaling: bool) -> Vec<f64> {
    let n = p.len();
    let nf = n as f64;
    let scale = if code_scaling { nf * nf } else { nf };
    let total: f64 = p.iter().sum();
    let mut s = vec![0.0; n * n];
    for i in 0..n {
        let row = &mut s[i * n..(i + 1) * n];
        let pi = p[i];
        for (j, x) in row.iter_mut().enumerate() {
            *x = pi * p[j] / scale;
        }
        row[i] = 1.0 - pi * (total - pi) / scale;
    }
    s
}

/// Quality q_i = I(x_i) + ε = −log p_i + ε from clamped p.
pub fn quality(p: &[f64]) -> Vec<f64> {
    p.iter().map(|&x| -x.ln() + QD_EPS).collect()
}

/// What the Gram kernel finishes each entry as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GramMode {
    /// f_i·f_j / (‖f_i‖ ‖f_j‖); 0 when a row is zero; exactly 1 on the diagonal of nonzero rows.
    Cosine = 0,
    /// ‖f_i − f_j‖² = ‖f_i‖² + ‖f_j‖² − 2 f_i·f_j, clamped at 0, exactly 0 on the diagonal.
    SqDist = 1,
}

/// The CUDA Gram kernel's generations (`ipdpp bench dpp` times them side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GramVersion {
    /// `dpp_gram_f32`: 16 × 16 shared-memory tiles, one entry a thread (validated on an H200, 2026-11-26).
    V1,
    /// `dpp_gram_sym_f32`: 128 × 128 register tiles (gemm v3's) on and above the diagonal only, each
    /// stored twice. Validated on an H200 (2026-11-28): at N = 5000, D = 512 0.63 ms against v1's 4.06 and
    /// cuBLAS SGEMM's 0.54 ms for the unfinished product (86 % of that roofline).
    V2,
}

impl GramVersion {
    pub fn describe(&self) -> &'static str {
        match self {
            GramVersion::V1 => "16×16 shared-memory tiles, one entry a thread",
            GramVersion::V2 => "128×128 register tiles (gemm v3's) of one triangle, mirrored",
        }
    }

    /// What the pipeline's qd kernels run: v2 unless `IPDPP_DPP_GRAM=v1`; read once.
    pub fn for_pipeline() -> GramVersion {
        static V: std::sync::OnceLock<GramVersion> = std::sync::OnceLock::new();
        *V.get_or_init(
            || match std::env::var("IPDPP_DPP_GRAM").as_deref().map(str::trim) {
                Ok("v1") => GramVersion::V1,
                _ => GramVersion::V2,
            },
        )
    }
}

impl std::fmt::Display for GramVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GramVersion::V1 => "v1",
            GramVersion::V2 => "v2",
        })
    }
}

impl std::str::FromStr for GramVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" => Ok(GramVersion::V1),
            "v2" => Ok(GramVersion::V2),
            _ => Err(Error::usage(format!(
                "unknown Gram kernel version {s:?}; use v1 or v2"
            ))),
        }
    }
}

fn check_features(f: &[f32], n: usize, d: usize) -> Result<()> {
    if f.len() != n * d {
        return Err(Error::usage(format!(
            "features hold {} values, expected {n}×{d}",
            f.len()
        )));
    }
    if let Some(i) = f.iter().position(|x| !x.is_finite()) {
        return Err(Error::usage(format!(
            "feature ({}, {}) is {}; features must be finite",
            i / d.max(1),
            i % d.max(1),
            f[i]
        )));
    }
    Ok(())
}

/// CPU reference of `dpp_gram_f32` (and the CPU path): row-major N×N in f64, through dgemm.
pub fn gram_cpu(f: &[f32], n: usize, d: usize, mode: GramMode) -> Result<Vec<f64>> {
    let mut g = dots_cpu(f, n, d)?;
    gram_finish(&mut g, n, mode);
    Ok(g)
}

/// The dot products F·Fᵀ of the feature rows, row-major N×N in f64 (dgemm).
pub fn dots_cpu(f: &[f32], n: usize, d: usize) -> Result<Vec<f64>> {
    check_features(f, n, d)?;
    let f64s: Vec<f64> = f.iter().map(|&x| x as f64).collect();
    // Row-major N×D = column-major D×N; G = (D×N)ᵀ (D×N).
    super::linalg::gemm_f64(true, false, n, n, d, &f64s, &f64s)
}

/// The dot products `g` (N×N, from [`dots_cpu`]) finished in place as `mode`, exactly symmetric.
pub fn gram_finish(g: &mut [f64], n: usize, mode: GramMode) {
    let sq: Vec<f64> = (0..n).map(|i| g[i * n + i]).collect();
    for i in 0..n {
        for j in 0..n {
            let dot = 0.5 * (g[i * n + j] + g[j * n + i]);
            let v = match mode {
                GramMode::Cosine => {
                    let den = sq[i] * sq[j];
                    if den <= 0.0 {
                        0.0
                    } else if i == j {
                        1.0
                    } else {
                        dot / den.sqrt()
                    }
                }
                GramMode::SqDist => {
                    if i == j {
                        0.0
                    } else {
                        (sq[i] + sq[j] - 2.0 * dot).max(0.0)
                    }
                }
            };
            if j < i {
                g[i * n + j] = v;
                g[j * n + i] = v;
            } else if j == i {
                g[i * n + i] = v;
            }
        }
    }
}

/// Launches the Gram kernel `v` (`dpp_gram_f32` or `dpp_gram_sym_f32`): out (N×N) from f (row-major N×D)
/// and sqnorm (N).
#[allow(clippy::too_many_arguments)]
pub fn dpp_gram_f32(
    dev: &CudaDevice,
    v: GramVersion,
    out: &mut CudaSlice<f32>,
    f: &CudaSlice<f32>,
    sqnorm: &CudaSlice<f32>,
    n: usize,
    d: usize,
    mode: GramMode,
) -> Result<()> {
    check_len("dpp_gram_f32 f", f.len(), n * d)?;
    check_len("dpp_gram_f32 sqnorm", sqnorm.len(), n)?;
    check_len("dpp_gram_f32 out", out.len(), n * n)?;
    if n > u32::MAX as usize || d > u32::MAX as usize {
        return Err(Error::usage("dpp_gram_f32: dimensions exceed 32 bits"));
    }
    if v == GramVersion::V2 {
        return gram_sym(dev, out, f, sqnorm, n, d, mode);
    }
    let func = dev.function("dpp", "dpp_gram_f32")?;
    let tiles = n.div_ceil(16) as u32;
    let cfg = LaunchConfig {
        grid_dim: (tiles, tiles, 1),
        block_dim: (16, 16, 1),
        shared_mem_bytes: 0,
    };
    let (n32, d32, m) = (n as u32, d as u32, mode as i32);
    // SAFETY: dpp_gram_f32(float* out, const float* f, const float* sqnorm, u32 n, u32 d, int mode);
    // out holds ≥ n·n floats, f ≥ n·d, sqnorm ≥ n (checked); the grid covers n×n in 16×16 tiles.
    unsafe {
        dev.stream
            .launch_builder(&func)
            .arg(out)
            .arg(f)
            .arg(sqnorm)
            .arg(&n32)
            .arg(&d32)
            .arg(&m)
            .launch(cfg)
    }
    .map_err(launch_err("dpp_gram_f32"))?;
    Ok(())
}

/// v2: one block a 128 × 128 tile on or above the diagonal.
fn gram_sym(
    dev: &CudaDevice,
    out: &mut CudaSlice<f32>,
    f: &CudaSlice<f32>,
    sqnorm: &CudaSlice<f32>,
    n: usize,
    d: usize,
    mode: GramMode,
) -> Result<()> {
    // igemm.cuh indexes rows and the k range in int.
    if n > i32::MAX as usize / 2 || d > i32::MAX as usize / 2 {
        return Err(Error::usage(
            "dpp_gram_sym_f32: dimensions exceed 2^30; use v1",
        ));
    }
    let t = n.div_ceil(128);
    let blocks = u32::try_from(t * (t + 1) / 2)
        .map_err(|_| Error::usage("dpp_gram_sym_f32: too many tiles; use v1"))?;
    let func = dev.function("dpp", "dpp_gram_sym_f32")?;
    let cfg = LaunchConfig {
        grid_dim: (blocks.max(1), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let (ni, di, m) = (n as i32, d as i32, mode as i32);
    // SAFETY: dpp_gram_sym_f32(float* out, const float* f, const float* sqnorm, int n, int d, int mode);
    // out holds ≥ n·n floats, f ≥ n·d, sqnorm ≥ n (checked by the caller); one block per tile (I ≤ J).
    unsafe {
        dev.stream
            .launch_builder(&func)
            .arg(out)
            .arg(f)
            .arg(sqnorm)
            .arg(&ni)
            .arg(&di)
            .arg(&m)
            .launch(cfg)
    }
    .map_err(launch_err("dpp_gram_sym_f32"))?;
    Ok(())
}

/// The Gram matrix on `dev` (CUDA: f32 kernel [`GramVersion::for_pipeline`], returned as f64; CPU:
/// [`gram_cpu`]).
pub fn gram(dev: &Device, f: &[f32], n: usize, d: usize, mode: GramMode) -> Result<Vec<f64>> {
    match dev {
        Device::Cpu => gram_cpu(f, n, d, mode),
        Device::Cuda(cd) => {
            check_features(f, n, d)?;
            let sq: Vec<f32> = (0..n)
                .map(|i| {
                    f[i * d..(i + 1) * d]
                        .iter()
                        .map(|&x| x as f64 * x as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            let fd = cd.upload(f)?;
            let sd = cd.upload(&sq)?;
            let mut out = cd.upload(&vec![f32::NAN; n * n])?;
            dpp_gram_f32(
                cd,
                GramVersion::for_pipeline(),
                &mut out,
                &fd,
                &sd,
                n,
                d,
                mode,
            )?;
            let h = cd.download(&out)?;
            Ok(h.into_iter().map(|x| x as f64).collect())
        }
    }
}

/// B = diag(q) F̂ (row-major N×D, f64) with F̂ the L2-normalised feature rows: L = B Bᵀ is the qd-cosine
/// kernel. Zero feature rows stay zero (such items are never drawn).
pub fn qd_cosine_factor(f: &[f32], n: usize, d: usize, q: &[f64]) -> Result<Vec<f64>> {
    check_features(f, n, d)?;
    let mut b = Vec::with_capacity(n * d);
    for i in 0..n {
        let row = &f[i * d..(i + 1) * d];
        let nrm = row.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let s = if nrm > 0.0 { q[i] / nrm } else { 0.0 };
        b.extend(row.iter().map(|&x| x as f64 * s));
    }
    Ok(b)
}

/// Median of the pairwise distances (i < j) from a squared-distance matrix.
pub fn median_pairwise_distance(sqdist: &[f64], n: usize) -> f64 {
    let mut v: Vec<f64> = Vec::with_capacity(n * (n.saturating_sub(1)) / 2);
    for i in 0..n {
        for j in i + 1..n {
            v.push(sqdist[i * n + j]);
        }
    }
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    m.sqrt()
}

/// The qd-rbf kernel L_ij = q_i q_j exp(−‖f_i − f_j‖² / (2σ²)), σ = median pairwise distance (σ = 1 when
/// every distance is 0). Returns (L row-major N×N, σ). The distance matrix runs on `dev`.
pub fn qd_rbf_kernel(
    dev: &Device,
    f: &[f32],
    n: usize,
    d: usize,
    q: &[f64],
) -> Result<(Vec<f64>, f64)> {
    let mut l = gram(dev, f, n, d, GramMode::SqDist)?;
    let sigma = median_pairwise_distance(&l, n);
    let sigma = if sigma > 0.0 { sigma } else { 1.0 };
    let inv = 1.0 / (2.0 * sigma * sigma);
    for i in 0..n {
        for j in 0..n {
            let x = &mut l[i * n + j];
            *x = q[i] * q[j] * (-*x * inv).exp();
        }
    }
    Ok((l, sigma))
}
