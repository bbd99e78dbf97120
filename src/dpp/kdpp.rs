//! The exact spectral k-DPP sampler of KDPP.md (Kulesza & Taskar, Alg. 7 + 8 + 1, log-domain ESPs):
//! decompose once ([`KDpp`]), build the ESP table once per k ([`KDpp::sampler`]), then draw many.
//! Also the paper's greedy variant (`greedy-paper`, not exact) and the uniform baseline.
use super::esp::LogEspTable;
use super::linalg::{self, Eig};
use crate::error::{Error, Result};
use rand::{Rng, RngExt};

/// A PSD kernel's positive spectrum: L = V diag(λ) Vᵀ restricted to λ > tol.
#[derive(Clone, Debug)]
pub struct KDpp {
    /// Number of items (rows of L).
    pub n: usize,
    /// Positive eigenvalues, ascending.
    pub lambda: Vec<f64>,
    /// Their eigenvectors, column-major N×r.
    pub vectors: Vec<f64>,
    /// Largest eigenvalue before clamping (0 for the zero kernel).
    pub max_lambda: f64,
    /// Most negative eigenvalue seen (0 when none), kept for reports.
    pub min_lambda: f64,
}

impl KDpp {
    /// From a dense PSD kernel (n×n, symmetric within [`linalg::SYM_RTOL`]), decomposed in f64.
    pub fn from_kernel(l: Vec<f64>, n: usize) -> Result<Self> {
        let eig = linalg::syevd_f64(l, n)?;
        Self::from_eig(eig, f64::EPSILON)
    }

    /// From a dense PSD kernel decomposed in f32 (faster, less accurate; never for the IP kernels).
    pub fn from_kernel_f32(l: Vec<f32>, n: usize) -> Result<Self> {
        let eig = linalg::syevd_f32(l, n)?;
        let eig = Eig {
            n: eig.n,
            values: eig.values.iter().map(|&x| x as f64).collect(),
            vectors: eig.vectors.iter().map(|&x| x as f64).collect(),
        };
        Self::from_eig(eig, f32::EPSILON as f64)
    }

    /// From an eigendecomposition (ascending or not; `vectors` column-major n×m with m = values.len()).
    /// `eps` is the unit round-off of the arithmetic that produced it. Applies KDPP.md step 1:
    /// tol = N·eps·max λ; min λ < −√eps·max λ is "not positive semidefinite"; λ ≤ tol is set to 0.
    pub fn from_eig(eig: Eig<f64>, eps: f64) -> Result<Self> {
        let n = eig.n;
        let m = eig.values.len();
        if eig.vectors.len() != n * m {
            return Err(Error::usage(format!(
                "eigenvectors hold {} values, expected {n}×{m}",
                eig.vectors.len()
            )));
        }
        if let Some(x) = eig.values.iter().find(|x| !x.is_finite()) {
            return Err(Error::usage(format!("eigenvalue {x} is not finite")));
        }
        if eig.vectors.iter().any(|x| !x.is_finite()) {
            return Err(Error::usage("an eigenvector entry is not finite"));
        }
        let max = eig.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = eig.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = if m == 0 { 0.0 } else { max };
        let min = if m == 0 { 0.0 } else { min };
        if min < -eps.sqrt() * max.max(0.0) || (max < 0.0) {
            return Err(Error::usage(format!(
                "the kernel is not positive semidefinite: smallest eigenvalue {min:e}, largest {max:e} \
                 (allowed: smallest ≥ −√ε·largest = {:e}); negative entries are fine, negative \
                 eigenvalues are not",
                -eps.sqrt() * max.max(0.0)
            )));
        }
        let tol = n.max(m) as f64 * eps * max;
        let mut order: Vec<usize> = (0..m).filter(|&j| eig.values[j] > tol).collect();
        order.sort_by(|&a, &b| eig.values[a].total_cmp(&eig.values[b]));
        let r = order.len();
        // Already ascending with the kept ones a suffix (syevd and the secular solver): keep the storage.
        let (lambda, vectors) = if order.iter().enumerate().all(|(i, &j)| j == m - r + i) {
            let vectors = if r == m {
                eig.vectors
            } else {
                let mut all = eig.vectors;
                all.split_off((m - r) * n)
            };
            (eig.values[m - r..].to_vec(), vectors)
        } else {
            let mut lambda = Vec::with_capacity(r);
            let mut vectors = Vec::with_capacity(r * n);
            for &j in &order {
                lambda.push(eig.values[j]);
                vectors.extend_from_slice(&eig.vectors[j * n..(j + 1) * n]);
            }
            (lambda, vectors)
        };
        Ok(KDpp {
            n,
            lambda,
            vectors,
            max_lambda: max.max(0.0),
            min_lambda: min.min(0.0),
        })
    }

    /// Dual form for L = B·Bᵀ with B row-major N×D: decomposes C = BᵀB (D×D), then V = B Ṽ diag(λ^−½).
    /// O(N D² + D³). The rank, hence the largest possible k, is at most D.
    pub fn dual(b: &[f64], n: usize, d: usize) -> Result<Self> {
        if b.len() != n * d {
            return Err(Error::usage(format!(
                "dual k-DPP: B holds {} values, expected {n}×{d}",
                b.len()
            )));
        }
        if let Some(i) = b.iter().position(|x| !x.is_finite()) {
            return Err(Error::usage(format!(
                "dual k-DPP: B[{}, {}] = {} is not finite",
                i / d.max(1),
                i % d.max(1),
                b[i]
            )));
        }
        if n == 0 || d == 0 {
            return Err(Error::usage("dual k-DPP: B is empty"));
        }
        // B row-major N×D is column-major D×N (call it Bt). C = Bt · Btᵀ (D×D).
        let c = linalg::gemm_f64(false, true, d, d, n, b, b)?;
        // Make C exactly symmetric (dgemm's blocking may differ in the last bit).
        let mut c = c;
        for i in 0..d {
            for j in 0..i {
                let s = 0.5 * (c[i * d + j] + c[j * d + i]);
                c[i * d + j] = s;
                c[j * d + i] = s;
            }
        }
        let eig = linalg::syevd_f64(c, d)?;
        let small = KDpp::from_eig(eig, f64::EPSILON)?;
        let r = small.lambda.len();
        // V = Bᵀᵀ Ṽ: B (N×D) = (Bt)ᵀ, so V (N×r) = gemm(ta = true) of Bt (D×N) with Ṽ (D×r).
        let mut v = linalg::gemm_f64(true, false, n, r, d, b, &small.vectors)?;
        for (j, &lam) in small.lambda.iter().enumerate() {
            let s = 1.0 / lam.sqrt();
            v[j * n..(j + 1) * n].iter_mut().for_each(|x| *x *= s);
        }
        Ok(KDpp {
            n,
            lambda: small.lambda,
            vectors: v,
            max_lambda: small.max_lambda,
            min_lambda: small.min_lambda,
        })
    }

    /// Number of positive eigenvalues: the largest possible k.
    pub fn rank(&self) -> usize {
        self.lambda.len()
    }

    /// Eigenvector j (of the positive ones, ascending order).
    pub fn vector(&self, j: usize) -> &[f64] {
        &self.vectors[j * self.n..(j + 1) * self.n]
    }

    /// Prepares draws of size k (builds the O(N k) log-ESP table). k > rank is an error.
    pub fn sampler(&self, k: usize) -> Result<KDppSampler<'_>> {
        if k > self.n {
            return Err(Error::usage(format!(
                "k = {k} is larger than the number of items N = {}",
                self.n
            )));
        }
        if k > self.rank() {
            return Err(Error::usage(format!(
                "k = {k} is larger than the rank of the kernel, r = {} (N = {}): a k-DPP can only draw \
                 up to r items; use k ≤ {}",
                self.rank(),
                self.n,
                self.rank()
            )));
        }
        let table = LogEspTable::new(&self.lambda, k);
        Ok(KDppSampler {
            dpp: self,
            k,
            table,
        })
    }
}

/// A k-DPP ready to draw: the kernel's spectrum and its ESP table for one k.
pub struct KDppSampler<'a> {
    pub dpp: &'a KDpp,
    pub k: usize,
    pub table: LogEspTable,
}

impl KDppSampler<'_> {
    /// One exact draw: k distinct item indices, sorted ascending.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Vec<usize>> {
        let cols = self.phase1(rng);
        let mut items = phase2(&self.dpp.vectors, self.dpp.n, &cols, rng)?;
        items.sort_unstable();
        Ok(items)
    }

    /// Phase 1: the chosen eigenvectors (indices into `dpp.lambda`, descending), P(J) ∝ Π_{n∈J} λ_n.
    pub fn phase1<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        let t = &self.table;
        let mut l = self.k;
        let mut out = Vec::with_capacity(self.k);
        let mut n = self.dpp.lambda.len();
        while l > 0 && n > 0 {
            if n == l {
                out.extend((0..n).rev());
                break;
            }
            let p = (self.dpp.lambda[n - 1].ln() + t.get(l - 1, n - 1) - t.get(l, n)).exp();
            if rng.random::<f64>() < p {
                out.push(n - 1);
                l -= 1;
            }
            n -= 1;
        }
        out
    }
}

/// Phase 2: samples the projection DPP spanned by the columns `cols` of `vectors` (column-major N×m,
/// orthonormal columns). Returns |cols| distinct items in draw order.
///
/// Exactly the chain of KDPP.md step 4 (draw j ∝ max(d_j, 0) with d_i the squared norm of row i
/// projected off the chosen rows' span), organised in blocks: within a block the proposal is the
/// block-start d (an upper bound, since d only decreases) and a proposal j is accepted with probability
/// d_j(now)/d_j(block start), d_j(now) computed for that one row; at the block end d is updated for all
/// rows by one matrix product W·Q (BLAS-3). Same O(N k²) arithmetic as k matrix–vector products, but
/// compute-bound instead of memory-bound. Rejection keeps the draw exact.
pub fn phase2<R: Rng + ?Sized>(
    vectors: &[f64],
    n: usize,
    cols: &[usize],
    rng: &mut R,
) -> Result<Vec<usize>> {
    let k = cols.len();
    if k == 0 {
        return Ok(Vec::new());
    }
    // W: column-major N×k.
    let mut w = Vec::with_capacity(n * k);
    for &c in cols {
        w.extend_from_slice(&vectors[c * n..(c + 1) * n]);
    }
    let mut d = vec![0.0f64; n];
    for c in 0..k {
        for (di, &x) in d.iter_mut().zip(&w[c * n..(c + 1) * n]) {
            *di += x * x;
        }
    }
    let mut avail = vec![true; n];
    let mut chosen = Vec::with_capacity(k);
    // Orthonormal directions q (length k each), column-major k×t.
    let mut basis: Vec<f64> = Vec::with_capacity(k * k);
    let mut coef = vec![0.0f64; k];
    let mut proj = vec![0.0f64; k];
    let mut cum = vec![0.0f64; n];
    let mut row = vec![0.0f64; k];
    while chosen.len() < k {
        let remaining = k - chosen.len();
        let block = remaining.div_ceil(4).max(1);
        let b0 = basis.len() / k;
        // Proposal: cumulative sums of max(d, 0) over available items.
        let mut s = 0.0;
        for i in 0..n {
            if avail[i] && d[i] > 0.0 {
                s += d[i];
            }
            cum[i] = s;
        }
        if s.is_nan() || s <= 0.0 {
            return Err(Error::Numeric(format!(
                "phase 2: no probability mass left after {} of {k} items (the eigenvectors are not \
                 orthonormal?)",
                chosen.len()
            )));
        }
        let mut in_block = 0;
        let mut rejections = 0usize;
        while in_block < block && chosen.len() < k {
            let u = rng.random::<f64>() * s;
            let j = cum.partition_point(|&c| c <= u).min(n - 1);
            let d0 = d[j];
            if !avail[j] || d0 <= 0.0 {
                rejections += 1;
                if rejections > 64 {
                    break;
                }
                continue;
            }
            // Row j of W and its residual after the block's directions.
            for (c, r) in row.iter_mut().enumerate() {
                *r = w[c * n + j];
            }
            let mut dj = d0;
            for q in basis[b0 * k..].chunks_exact(k) {
                let a: f64 = row.iter().zip(q).map(|(x, y)| x * y).sum();
                dj -= a * a;
            }
            let acc = (dj.max(0.0) / d0).min(1.0);
            if rng.random::<f64>() >= acc {
                rejections += 1;
                if rejections > 64 {
                    break;
                }
                continue;
            }
            rejections = 0;
            avail[j] = false;
            chosen.push(j);
            in_block += 1;
            if chosen.len() == k {
                break;
            }
            // q = W_jᵀ minus its projection on the basis, twice (CGS2), normalised.
            let mut q = row.clone();
            let t = basis.len() / k;
            for _ in 0..2 {
                if t > 0 {
                    linalg::gemv_f64(true, k, t, &basis, &q, &mut coef[..t])?;
                    linalg::gemv_f64(false, k, t, &basis, &coef[..t], &mut proj)?;
                    q.iter_mut().zip(&proj).for_each(|(x, p)| *x -= p);
                }
            }
            let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm.is_nan() || norm <= 0.0 {
                return Err(Error::Numeric(format!(
                    "phase 2: item {j} lies in the span of the items already chosen"
                )));
            }
            basis.extend(q.iter().map(|x| x / norm));
        }
        if chosen.len() == k {
            break;
        }
        // d −= rowsum((W Q_block)²) for the directions added in this block.
        let nb = basis.len() / k - b0;
        if nb > 0 {
            let m = linalg::gemm_f64(false, false, n, nb, k, &w, &basis[b0 * k..])?;
            for c in 0..nb {
                for (di, &x) in d.iter_mut().zip(&m[c * n..(c + 1) * n]) {
                    *di -= x * x;
                }
            }
        }
        for &j in &chosen[chosen.len() - in_block..] {
            d[j] = 0.0;
        }
    }
    Ok(chosen)
}

/// Phase 2 exactly as KDPP.md writes it (one matrix–vector product per step); the reference for tests.
pub fn phase2_reference<R: Rng + ?Sized>(
    vectors: &[f64],
    n: usize,
    cols: &[usize],
    rng: &mut R,
) -> Result<Vec<usize>> {
    let k = cols.len();
    let mut d: Vec<f64> = (0..n)
        .map(|i| cols.iter().map(|&c| vectors[c * n + i].powi(2)).sum())
        .collect();
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut out = Vec::with_capacity(k);
    for t in 0..k {
        let s: f64 = d.iter().map(|&x| x.max(0.0)).sum();
        if s.is_nan() || s <= 0.0 {
            return Err(Error::Numeric("phase 2: no probability mass left".into()));
        }
        let u = rng.random::<f64>() * s;
        let mut acc = 0.0;
        let mut j = n - 1;
        for (i, &x) in d.iter().enumerate() {
            acc += x.max(0.0);
            if acc > u && x > 0.0 {
                j = i;
                break;
            }
        }
        out.push(j);
        if t == k - 1 {
            break;
        }
        let mut q: Vec<f64> = cols.iter().map(|&c| vectors[c * n + j]).collect();
        for _ in 0..2 {
            for b in &basis {
                let a: f64 = q.iter().zip(b).map(|(x, y)| x * y).sum();
                q.iter_mut().zip(b).for_each(|(x, y)| *x -= a * y);
            }
        }
        let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
        q.iter_mut().for_each(|x| *x /= norm);
        for (i, di) in d.iter_mut().enumerate() {
            let a: f64 = cols
                .iter()
                .zip(&q)
                .map(|(&c, y)| vectors[c * n + i] * y)
                .sum();
            *di -= a * a;
        }
        d[j] = 0.0;
        basis.push(q);
    }
    Ok(out)
}

/// The paper's Algorithm 1 as printed (`greedy-paper`): walk the eigenvectors in LAPACK's order
/// (ascending λ), keep each with probability λ/(λ+1) until k are kept; then, on their span, take the
/// arg-max of ‖W_i‖² at each step instead of sampling. Not a k-DPP; may return fewer than k items.
pub fn greedy_paper<R: Rng + ?Sized>(dpp: &KDpp, k: usize, rng: &mut R) -> Result<Vec<usize>> {
    let mut cols = Vec::with_capacity(k);
    for (j, &lam) in dpp.lambda.iter().enumerate() {
        if cols.len() == k {
            break;
        }
        if rng.random::<f64>() < lam / (lam + 1.0) {
            cols.push(j);
        }
    }
    let n = dpp.n;
    let m = cols.len();
    let mut d: Vec<f64> = (0..n)
        .map(|i| cols.iter().map(|&c| dpp.vectors[c * n + i].powi(2)).sum())
        .collect();
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut out = Vec::with_capacity(m);
    let mut avail = vec![true; n];
    for _ in 0..m {
        let mut j = usize::MAX;
        let mut best = 0.0;
        for i in 0..n {
            if avail[i] && d[i] > best {
                best = d[i];
                j = i;
            }
        }
        if j == usize::MAX {
            break;
        }
        avail[j] = false;
        out.push(j);
        let mut q: Vec<f64> = cols.iter().map(|&c| dpp.vectors[c * n + j]).collect();
        for _ in 0..2 {
            for b in &basis {
                let a: f64 = q.iter().zip(b).map(|(x, y)| x * y).sum();
                q.iter_mut().zip(b).for_each(|(x, y)| *x -= a * y);
            }
        }
        let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm.is_nan() || norm <= 1e-12 {
            break;
        }
        q.iter_mut().for_each(|x| *x /= norm);
        for (i, di) in d.iter_mut().enumerate() {
            let a: f64 = cols
                .iter()
                .zip(&q)
                .map(|(&c, y)| dpp.vectors[c * n + i] * y)
                .sum();
            *di -= a * a;
        }
        basis.push(q);
    }
    out.sort_unstable();
    Ok(out)
}

/// A uniform random k-subset of 0..n, sorted (partial Fisher–Yates).
pub fn uniform<R: Rng + ?Sized>(n: usize, k: usize, rng: &mut R) -> Result<Vec<usize>> {
    if k > n {
        return Err(Error::usage(format!(
            "k = {k} is larger than the number of items N = {n}"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx.sort_unstable();
    Ok(idx)
}

/// log det(L_S) and P(Y = S) = det(L_S)/e_k(λ) for a dense row-major L (tests; small S only).
pub fn subset_probability(l: &[f64], n: usize, s: &[usize], log_ek: f64) -> f64 {
    let k = s.len();
    let mut a: Vec<f64> = Vec::with_capacity(k * k);
    for &i in s {
        for &j in s {
            a.push(l[i * n + j]);
        }
    }
    // Gaussian elimination with partial pivoting.
    let mut det = 1.0f64;
    for c in 0..k {
        let p = (c..k)
            .max_by(|&x, &y| a[x * k + c].abs().total_cmp(&a[y * k + c].abs()))
            .unwrap_or(c);
        if a[p * k + c] == 0.0 {
            return 0.0;
        }
        if p != c {
            for j in 0..k {
                a.swap(c * k + j, p * k + j);
            }
            det = -det;
        }
        let piv = a[c * k + c];
        det *= piv;
        for r in c + 1..k {
            let f = a[r * k + c] / piv;
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
        }
    }
    (det.max(0.0).ln() - log_ek).exp()
}
