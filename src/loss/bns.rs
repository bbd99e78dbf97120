//! BNS contrastive loss, CPU reference (f64), both forms of METHOD.md "Stage 1: BNS loss", returning the
//! loss and its gradient with respect to the *unnormalised* embeddings (the L2-normalisation backward is
//! included). All inputs are row-major `[rows, dim]`; labels are one per image and shared by its two views.
//!
//! **Official-code form** ([`bns_code_f64`]): N = 2B embeddings `z = [z1; z2]`, `s_ab = ẑ_a·ẑ_b/τ`,
//! `P(a)` = the other embeddings with a's label, `N(a)` = those with another label,
//! `pos_a = mean_{b∈P(a)} e^{s_ab}`, `neg_a = (1/N) Σ_{b∈N(a)} e^{s_ab}`,
//! `L = −(1/N) Σ_a [log σ(pos_a) + log σ(−neg_a)]`.
//!
//! **Paper form** ([`bns_paper_f64`]): for anchor i (image `a_i`) with extra positives `e_i1..e_im`
//! (same label, repeats allowed), `Q_i = {q_{a_i}, q_{e_i1}, …}` (view-1 embeddings), positive
//! `v⁺ = v_{a_i}` (view 2), negatives every `v_j` with `label_j ≠ label_{a_i}`:
//! `L_i = −1/(m+1) Σ_{q∈Q_i} [log σ(q·v⁺/τ) + Σ_j log σ(−q·v_j/τ)]`, `L = mean_i L_i`.
//!
//! **Rows without positives or negatives (never NaN).**
//! - No negatives (e.g. a batch of one class): the negative sum is an empty sum, 0. In the code form
//!   `neg_a = 0`, so the term `−log σ(−0) = log 2` stays in the loss as a constant with zero gradient
//!   (this is what the official code computes; the `one_class` golden checks it). In the paper form the
//!   anchor keeps only its positive terms.
//! - No positives (only possible through [`bns_code_stacked_f64`] with unpaired labels; with two views
//!   per image every embedding has its other view): the positive term of that embedding is *dropped*: it
//!   adds 0 to the loss and 0 to the gradient, and the mean still divides by N. In the paper form every
//!   anchor has its own view 2 as positive, so the case cannot arise.
//! - Zero vectors: normalised as PyTorch's `F.normalize` does, `x / max(‖x‖, 1e-12)`.
//!
//! τ must be finite and at least [`TAU_MIN`], so that `e^{1/τ}` fits in f32 on the GPU.
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Smallest accepted temperature: `e^{1/τ}` must stay finite in f32 (1/τ ≤ 80).
pub const TAU_MIN: f64 = 0.0125;
/// Norm floor of the L2 normalisation (as `torch.nn.functional.normalize`).
pub const NORM_EPS: f64 = 1e-12;
/// Rows per block of the blocked CPU computation (the similarity block is `ROW_BLOCK × N` f64).
const ROW_BLOCK: usize = 256;

/// Which of the two published forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnsForm {
    /// Paper Eq. 12: anchors, m extra same-class positives, summed negatives.
    Paper,
    /// Official code: averaged exponentials inside the sigmoids.
    Code,
}

impl std::str::FromStr for BnsForm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paper" => Ok(BnsForm::Paper),
            "code" | "official-code" => Ok(BnsForm::Code),
            _ => Err(Error::usage(format!(
                "unknown BNS loss form {s:?}; use paper or code"
            ))),
        }
    }
}

impl std::fmt::Display for BnsForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BnsForm::Paper => "paper",
            BnsForm::Code => "code",
        })
    }
}

/// Loss and gradients with respect to the unnormalised view-1 (`g1`) and view-2 (`g2`) embeddings.
#[derive(Clone, Debug)]
pub struct BnsOutput<T> {
    pub loss: f64,
    pub g1: Vec<T>,
    pub g2: Vec<T>,
}

/// The paper form's anchors: anchor i is image `anchors[i]`; its m extra positives are the view-1
/// embeddings of images `extra[i*m .. (i+1)*m]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaperLayout {
    pub anchors: Vec<usize>,
    pub extra: Vec<usize>,
    pub m: usize,
}

impl PaperLayout {
    /// Checks that every index is below `b` (the number of images).
    pub fn new(anchors: Vec<usize>, extra: Vec<usize>, m: usize, b: usize) -> Result<Self> {
        if extra.len() != anchors.len() * m {
            return Err(Error::usage(format!(
                "paper layout: {} anchors with m = {m} need {} extra indices, got {}",
                anchors.len(),
                anchors.len() * m,
                extra.len()
            )));
        }
        if let Some(&i) = anchors.iter().chain(&extra).find(|&&i| i >= b) {
            return Err(Error::usage(format!(
                "paper layout: image index {i} out of range for a batch of {b} images"
            )));
        }
        Ok(PaperLayout { anchors, extra, m })
    }

    /// METHOD.md's batch layout: `b / (m+1)` consecutive groups of m+1 images, the first of each group
    /// is the anchor, the other m its extra positives. `b` must be a multiple of m+1.
    pub fn groups(b: usize, m: usize) -> Result<Self> {
        let g = m + 1;
        if b == 0 || b % g != 0 {
            return Err(Error::usage(format!(
                "paper form: a batch of {b} images cannot be split into groups of m+1 = {g}; \
                 use a multiple of {g} images"
            )));
        }
        let anchors: Vec<usize> = (0..b / g).map(|i| i * g).collect();
        let extra = anchors
            .iter()
            .flat_map(|&a| (a + 1..a + g).collect::<Vec<_>>())
            .collect();
        Ok(PaperLayout { anchors, extra, m })
    }

    /// Number of (q, anchor) rows: anchors × (m+1).
    pub fn rows(&self) -> usize {
        self.anchors.len() * (self.m + 1)
    }

    /// Row r = i·(m+1) + k: the view-1 image whose embedding is q (k = 0: the anchor itself) and the
    /// anchor image (whose view 2 is the positive and whose label defines the negatives).
    pub fn row(&self, r: usize) -> (usize, usize) {
        let g = self.m + 1;
        let (i, k) = (r / g, r % g);
        let a = self.anchors[i];
        (
            if k == 0 {
                a
            } else {
                self.extra[i * self.m + k - 1]
            },
            a,
        )
    }
}

pub fn check_tau(tau: f64) -> Result<()> {
    if !tau.is_finite() || tau < TAU_MIN {
        return Err(Error::usage(format!(
            "temperature τ = {tau} is out of range: use a finite value ≥ {TAU_MIN} (default 0.5)"
        )));
    }
    Ok(())
}

pub fn check_shapes<T: Copy + Into<f64>>(
    what: &str,
    z: &[T],
    rows: usize,
    dim: usize,
) -> Result<()> {
    if dim == 0 {
        return Err(Error::usage(
            "BNS: the embedding dimension must be at least 1",
        ));
    }
    if z.len() != rows * dim {
        return Err(Error::usage(format!(
            "BNS: {what} holds {} values, expected {rows} rows × {dim} dims = {}",
            z.len(),
            rows * dim
        )));
    }
    if let Some(i) = z.iter().position(|&x| !x.into().is_finite()) {
        return Err(Error::usage(format!(
            "BNS: {what} holds a NaN or infinite value at row {}, dim {}",
            i / dim,
            i % dim
        )));
    }
    Ok(())
}

/// log σ(x), stable for any x.
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    -((-x).max(0.0) + (-x.abs()).exp().ln_1p())
}

#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Row-wise L2 normalisation; returns (ẑ, max(‖x‖, eps)).
pub fn normalize_rows(x: &[f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let mut z = x.to_vec();
    let norms = z
        .par_chunks_mut(dim)
        .map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f64>().sqrt().max(NORM_EPS);
            r.iter_mut().for_each(|v| *v /= n);
            n
        })
        .collect();
    (z, norms)
}

/// Backward of ẑ = x / max(‖x‖, eps) given dL/dẑ, in place: (g − (g·ẑ) ẑ) / ‖x‖ (g / eps below eps).
pub fn normalize_rows_backward(g: &mut [f64], z: &[f64], norms: &[f64], dim: usize) {
    g.par_chunks_mut(dim)
        .zip(z.par_chunks(dim))
        .zip(norms.par_iter())
        .for_each(|((g, z), &n)| {
            let dot = if n > NORM_EPS {
                g.iter().zip(z).map(|(a, b)| a * b).sum::<f64>()
            } else {
                0.0
            };
            for (gv, zv) in g.iter_mut().zip(z) {
                *gv = (*gv - dot * zv) / n;
            }
        });
}

/// Row-major C[m,n] = alpha · A[m,k] · op(B) + beta · C, op(B) = Bᵀ (B stored [n,k]) when `bt`.
fn dgemm(
    c: &mut [f64],
    a: &[f64],
    b: &[f64],
    m: usize,
    n: usize,
    k: usize,
    bt: bool,
    alpha: f64,
    beta: f64,
) {
    use cblas_sys::{cblas_dgemm, CBLAS_LAYOUT::CblasRowMajor, CBLAS_TRANSPOSE::*};
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: the assertion above checks every operand holds the elements the call reads or writes.
    crate::device::cpu::gemm::with_blas_threads(|| unsafe {
        cblas_dgemm(
            CblasRowMajor,
            CblasNoTrans,
            if bt { CblasTrans } else { CblasNoTrans },
            m as i32,
            n as i32,
            k as i32,
            alpha,
            a.as_ptr(),
            k.max(1) as i32,
            b.as_ptr(),
            if bt { k.max(1) } else { n.max(1) } as i32,
            beta,
            c.as_mut_ptr(),
            n.max(1) as i32,
        )
    })
}

/// Row-major C[m,n] = alpha · Aᵀ · B + beta · C with A stored [k,m] and B stored [k,n].
fn dgemm_tn(
    c: &mut [f64],
    a: &[f64],
    b: &[f64],
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    beta: f64,
) {
    use cblas_sys::{cblas_dgemm, CBLAS_LAYOUT::CblasRowMajor, CBLAS_TRANSPOSE::*};
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    // SAFETY: the assertion above checks every operand holds the elements the call reads or writes.
    crate::device::cpu::gemm::with_blas_threads(|| unsafe {
        cblas_dgemm(
            CblasRowMajor,
            CblasTrans,
            CblasNoTrans,
            m as i32,
            n as i32,
            k as i32,
            alpha,
            a.as_ptr(),
            m as i32,
            b.as_ptr(),
            n as i32,
            beta,
            c.as_mut_ptr(),
            n as i32,
        )
    })
}

/// Per-embedding quantities of the code form's forward pass (the backward's row coefficients).
#[derive(Clone, Debug)]
pub struct CodeRows {
    /// dL/dE_ab for b ∈ P(a): −σ(−pos_a) / (N·|P(a)|), 0 without positives.
    pub alpha: Vec<f64>,
    /// dL/dE_ab for b ∈ N(a): σ(neg_a) / N².
    pub beta: Vec<f64>,
    /// The per-embedding loss term −[log σ(pos_a) + log σ(−neg_a)] (positive term dropped without
    /// positives); the loss is their mean.
    pub row_loss: Vec<f64>,
}

/// Official-code form over stacked embeddings: `z` is `[n, dim]`, one label per embedding (for two views
/// per image stack `[z1; z2]` and repeat the labels, as [`bns_code_f64`] does). Returns the loss, the
/// gradient wrt the unnormalised `z`, and the row coefficients.
pub fn bns_code_stacked_f64(
    z: &[f64],
    labels: &[i32],
    dim: usize,
    tau: f64,
) -> Result<(f64, Vec<f64>, CodeRows)> {
    check_tau(tau)?;
    let n = labels.len();
    check_shapes("z", z, n, dim)?;
    if n < 2 {
        return Err(Error::usage("BNS: need at least 2 embeddings"));
    }
    let (zn, norms) = normalize_rows(z, dim);
    let nf = n as f64;
    let inv_tau = 1.0 / tau;
    let mut alpha = vec![0.0; n];
    let mut beta = vec![0.0; n];
    let mut row_loss = vec![0.0; n];
    let mut s = vec![0.0f64; ROW_BLOCK.min(n) * n];
    // Forward: similarity blocks, masked row reductions.
    for r0 in (0..n).step_by(ROW_BLOCK) {
        let rb = ROW_BLOCK.min(n - r0);
        dgemm(&mut s, &zn[r0 * dim..], &zn, rb, n, dim, true, inv_tau, 0.0);
        s[..rb * n]
            .par_chunks(n)
            .zip(alpha[r0..r0 + rb].par_iter_mut())
            .zip(beta[r0..r0 + rb].par_iter_mut())
            .zip(row_loss[r0..r0 + rb].par_iter_mut())
            .enumerate()
            .for_each(|(i, (((srow, al), be), rl))| {
                let a = r0 + i;
                let la = labels[a];
                let (mut ps, mut pc, mut ns) = (0.0f64, 0usize, 0.0f64);
                for (b, (&sab, &lb)) in srow.iter().zip(labels).enumerate() {
                    if b == a {
                        continue;
                    }
                    let e = sab.exp();
                    if lb == la {
                        ps += e;
                        pc += 1;
                    } else {
                        ns += e;
                    }
                }
                let neg = ns / nf;
                let mut l = -log_sigmoid(-neg);
                *be = sigmoid(neg) / (nf * nf);
                if pc > 0 {
                    let pos = ps / pc as f64;
                    l -= log_sigmoid(pos);
                    *al = -sigmoid(-pos) / (nf * pc as f64);
                } else {
                    *al = 0.0;
                }
                *rl = l;
            });
    }
    let loss = row_loss.iter().sum::<f64>() / nf;
    // Backward: M_ab = E_ab (c_a + c_b) with c = alpha on P, beta on N (M is symmetric), g = M ẑ / τ.
    let mut g = vec![0.0f64; n * dim];
    for r0 in (0..n).step_by(ROW_BLOCK) {
        let rb = ROW_BLOCK.min(n - r0);
        dgemm(&mut s, &zn[r0 * dim..], &zn, rb, n, dim, true, inv_tau, 0.0);
        s[..rb * n]
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, row)| {
                let a = r0 + i;
                let la = labels[a];
                for (b, v) in row.iter_mut().enumerate() {
                    *v = if b == a {
                        0.0
                    } else if labels[b] == la {
                        v.exp() * (alpha[a] + alpha[b])
                    } else {
                        v.exp() * (beta[a] + beta[b])
                    };
                }
            });
        dgemm(&mut g[r0 * dim..], &s, &zn, rb, dim, n, false, inv_tau, 0.0);
    }
    normalize_rows_backward(&mut g, &zn, &norms, dim);
    Ok((
        loss,
        g,
        CodeRows {
            alpha,
            beta,
            row_loss,
        },
    ))
}

/// Official-code form: `z1`, `z2` are the two views `[b, dim]`, `labels` one per image.
pub fn bns_code_f64(
    z1: &[f64],
    z2: &[f64],
    labels: &[i32],
    dim: usize,
    tau: f64,
) -> Result<BnsOutput<f64>> {
    let b = labels.len();
    check_shapes("z1", z1, b, dim)?;
    check_shapes("z2", z2, b, dim)?;
    let z: Vec<f64> = z1.iter().chain(z2).copied().collect();
    let lab: Vec<i32> = labels.iter().chain(labels).copied().collect();
    let (loss, mut g, _) = bns_code_stacked_f64(&z, &lab, dim, tau)?;
    let g2 = g.split_off(b * dim);
    Ok(BnsOutput { loss, g1: g, g2 })
}

/// f32 interface of [`bns_code_f64`] (computed in f64, gradients rounded to f32).
pub fn bns_code_f32(
    z1: &[f32],
    z2: &[f32],
    labels: &[i32],
    dim: usize,
    tau: f32,
) -> Result<BnsOutput<f32>> {
    let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let o = bns_code_f64(&up(z1), &up(z2), labels, dim, tau as f64)?;
    Ok(to_f32(o))
}

fn to_f32(o: BnsOutput<f64>) -> BnsOutput<f32> {
    let dn = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    BnsOutput {
        loss: o.loss,
        g1: dn(o.g1),
        g2: dn(o.g2),
    }
}

/// Paper form (Eq. 12): `z1` (the q table, view 1) and `z2` (the v table, view 2) are `[b, dim]`,
/// `labels` one per image; anchors and extra positives from `layout`. Negatives of anchor i: every
/// view-2 embedding whose label differs from the anchor's.
pub fn bns_paper_f64(
    z1: &[f64],
    z2: &[f64],
    labels: &[i32],
    layout: &PaperLayout,
    dim: usize,
    tau: f64,
) -> Result<BnsOutput<f64>> {
    check_tau(tau)?;
    let b = labels.len();
    check_shapes("z1", z1, b, dim)?;
    check_shapes("z2", z2, b, dim)?;
    if layout.anchors.is_empty() {
        return Err(Error::usage("BNS paper form: no anchors"));
    }
    PaperLayout::new(layout.anchors.clone(), layout.extra.clone(), layout.m, b)?;
    let (qn, qnorm) = normalize_rows(z1, dim);
    let (vn, vnorm) = normalize_rows(z2, dim);
    let rows = layout.rows();
    let c = 1.0 / rows as f64; // 1 / (A (m+1))
    let inv_tau = 1.0 / tau;
    // Gather the q rows.
    let mut qr = vec![0.0f64; rows * dim];
    for r in 0..rows {
        let (qi, _) = layout.row(r);
        qr[r * dim..(r + 1) * dim].copy_from_slice(&qn[qi * dim..(qi + 1) * dim]);
    }
    let mut gqr = vec![0.0f64; rows * dim];
    let mut gv = vec![0.0f64; b * dim];
    let mut s = vec![0.0f64; ROW_BLOCK.min(rows) * b];
    let mut loss = 0.0f64;
    for r0 in (0..rows).step_by(ROW_BLOCK) {
        let rb = ROW_BLOCK.min(rows - r0);
        dgemm(&mut s, &qr[r0 * dim..], &vn, rb, b, dim, true, inv_tau, 0.0);
        // Turn each similarity into dL/ds (in place) and collect the loss.
        let part: f64 = s[..rb * b]
            .par_chunks_mut(b)
            .enumerate()
            .map(|(i, row)| {
                let (_, a) = layout.row(r0 + i);
                let la = labels[a];
                let mut l = 0.0f64;
                for (j, v) in row.iter_mut().enumerate() {
                    let sj = *v;
                    let mut w = 0.0;
                    if j == a {
                        l -= log_sigmoid(sj);
                        w -= sigmoid(-sj);
                    }
                    if labels[j] != la {
                        l -= log_sigmoid(-sj);
                        w += sigmoid(sj);
                    }
                    *v = c * w;
                }
                l
            })
            // Summed in row order, not by rayon's scheduling-dependent tree: runs must repeat bit for bit.
            .collect::<Vec<f64>>()
            .into_iter()
            .sum();
        loss += c * part;
        dgemm(
            &mut gqr[r0 * dim..],
            &s,
            &vn,
            rb,
            dim,
            b,
            false,
            inv_tau,
            0.0,
        );
        dgemm_tn(&mut gv, &s, &qr[r0 * dim..], b, dim, rb, inv_tau, 1.0);
    }
    let mut gq = vec![0.0f64; b * dim];
    for r in 0..rows {
        let (qi, _) = layout.row(r);
        for (d, g) in gq[qi * dim..(qi + 1) * dim]
            .iter_mut()
            .zip(&gqr[r * dim..(r + 1) * dim])
        {
            *d += g;
        }
    }
    normalize_rows_backward(&mut gq, &qn, &qnorm, dim);
    normalize_rows_backward(&mut gv, &vn, &vnorm, dim);
    Ok(BnsOutput {
        loss,
        g1: gq,
        g2: gv,
    })
}

/// f32 interface of [`bns_paper_f64`] (computed in f64, gradients rounded to f32).
pub fn bns_paper_f32(
    z1: &[f32],
    z2: &[f32],
    labels: &[i32],
    layout: &PaperLayout,
    dim: usize,
    tau: f32,
) -> Result<BnsOutput<f32>> {
    let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let o = bns_paper_f64(&up(z1), &up(z2), labels, layout, dim, tau as f64)?;
    Ok(to_f32(o))
}

/// Loss only, by the definition (no blocking, no BLAS), in f64: an independent check for tests and the
/// finite differences.
pub fn bns_code_loss_naive(z1: &[f64], z2: &[f64], labels: &[i32], dim: usize, tau: f64) -> f64 {
    let z: Vec<f64> = z1.iter().chain(z2).copied().collect();
    let lab: Vec<i32> = labels.iter().chain(labels).copied().collect();
    let (zn, _) = normalize_rows(&z, dim);
    let n = lab.len();
    let dot = |a: usize, b: usize| -> f64 {
        (0..dim)
            .map(|k| zn[a * dim + k] * zn[b * dim + k])
            .sum::<f64>()
            / tau
    };
    let mut total = 0.0;
    for a in 0..n {
        let (mut ps, mut pc, mut ns) = (0.0, 0, 0.0);
        for b in (0..n).filter(|&b| b != a) {
            if lab[b] == lab[a] {
                ps += dot(a, b).exp();
                pc += 1;
            } else {
                ns += dot(a, b).exp();
            }
        }
        if pc > 0 {
            total -= log_sigmoid(ps / pc as f64);
        }
        total -= log_sigmoid(-ns / n as f64);
    }
    total / n as f64
}

/// Paper-form loss only, by the definition, in f64 (independent check).
pub fn bns_paper_loss_naive(
    z1: &[f64],
    z2: &[f64],
    labels: &[i32],
    layout: &PaperLayout,
    dim: usize,
    tau: f64,
) -> f64 {
    let (qn, _) = normalize_rows(z1, dim);
    let (vn, _) = normalize_rows(z2, dim);
    let dot = |q: usize, v: usize| -> f64 {
        (0..dim)
            .map(|k| qn[q * dim + k] * vn[v * dim + k])
            .sum::<f64>()
            / tau
    };
    let mut total = 0.0;
    for (i, &a) in layout.anchors.iter().enumerate() {
        let qs = std::iter::once(a).chain(
            layout.extra[i * layout.m..(i + 1) * layout.m]
                .iter()
                .copied(),
        );
        let mut li = 0.0;
        for q in qs {
            li += log_sigmoid(dot(q, a));
            for j in (0..labels.len()).filter(|&j| labels[j] != labels[a]) {
                li += log_sigmoid(-dot(q, j));
            }
        }
        total -= li / (layout.m + 1) as f64;
    }
    total / layout.anchors.len() as f64
}
