//! O(N²) eigendecomposition of a diagonal-plus-rank-one matrix S = diag(d) + ρ z zᵀ (the IP kernels of
//! METHOD.md are of this form), through the secular equation
//!
//!   g(λ) = 1 + ρ Σ_i z_i² / (d_i − λ) = 0.
//!
//! Steps (Golub 1973; Bunch, Nielsen & Sorensen 1978; Gu & Eisenstat 1994 for the eigenvectors):
//! 1. ρ ← ρ‖z‖², z ← z/‖z‖; sort d ascending. A negative ρ is handled as −S.
//! 2. Deflation with tol = 8ε·max(max|d|, ρ): a component with ρ|z_j| ≤ tol is dropped (eigenpair
//!    (d_j, e_j)); two neighbours a < b whose rotation to zero z_a leaves an off-diagonal
//!    |c s (d_b − d_a)| ≤ tol are rotated (a Givens rotation: exact duplicates always are), and a
//!    becomes an eigenpair. The m remaining d's are strictly increasing with non-negligible z.
//! 3. Roots, one per interval: λ_k ∈ (d_k, d_{k+1}) for k < m − 1 and λ_{m−1} ∈ (d_{m−1}, d_{m−1} + ρ‖z‖²).
//!    Each root is kept as (origin, τ) with λ = d_origin + τ and the origin the nearer pole (chosen by the
//!    sign of g at the midpoint), so every distance d_i − λ = (d_i − d_origin) − τ is computed to high
//!    relative accuracy even when λ is within a few ulps of a pole. Root finder: rational (two-pole)
//!    interpolation of the left and right sums (the Bunch–Nielsen–Sorensen model), a quadratic solved in
//!    its stable form, safeguarded by a bisection bracket; typically 3–6 evaluations of O(m) per root.
//! 4. Gu–Eisenstat: ẑ_i is recomputed from the computed roots by Löwner's formula
//!    ρ ẑ_i² = Π_j (λ_j − d_i) / Π_{j≠i} (d_j − d_i) (paired factors, each in (0, 1]), so the computed λ
//!    are the exact eigenvalues of a nearby diag(d) + ρ ẑ ẑᵀ and the eigenvectors
//!    v_k ∝ (D − λ_k I)⁻¹ ẑ are orthogonal to working precision.
//! 5. The deflation rotations are applied back to every eigenvector (column by column, cache-friendly),
//!    rows are un-permuted and all N pairs are sorted ascending.
//!
//! Everything is O(N²) time (root finding ≈ 5 N² divisions, eigenvectors N² + N·#rotations) and the
//! N×N eigenvector matrix is the only large allocation. Columns and roots are processed in parallel
//! (rayon). [`check`] measures the residual and orthogonality in O(N²) so callers can fall back to syevd.
use super::kernels;
use super::linalg::Eig;
use crate::error::{Error, Result};
use rayon::prelude::*;

const EPS: f64 = f64::EPSILON;
/// Maximum root-finder iterations per root (bisection alone needs ≤ ~2100 on the f64 grid; the
/// interpolation normally converges in under 10).
const MAX_ITER: usize = 400;

/// What the solver did (for reports and tests).
#[derive(Clone, Debug, Default)]
pub struct Dpr1Info {
    pub n: usize,
    /// Components dropped because ρ|z_j| ≤ tol.
    pub deflated_small_z: usize,
    /// Components deflated by a Givens rotation (equal or nearly equal d's).
    pub deflated_rotation: usize,
    /// Size of the secular problem after deflation.
    pub secular: usize,
    /// Total evaluations of g over all roots, and the largest for one root.
    pub evaluations: usize,
    pub max_evaluations: usize,
    /// Deflation tolerance used.
    pub tol: f64,
}

/// Eigendecomposition of S = diag(d) + ρ z zᵀ (any real ρ, any z), eigenvalues ascending, eigenvectors
/// column-major N×N (as [`super::linalg::syevd_f64`] returns them). O(N²).
pub fn dpr1_eig(d: &[f64], z: &[f64], rho: f64) -> Result<(Eig<f64>, Dpr1Info)> {
    let n = d.len();
    if n == 0 {
        return Err(Error::usage("diagonal-plus-rank-one: empty matrix"));
    }
    if z.len() != n {
        return Err(Error::usage(format!(
            "diagonal-plus-rank-one: d has {n} entries but z has {}",
            z.len()
        )));
    }
    if let Some(i) = d.iter().position(|x| !x.is_finite()) {
        return Err(Error::usage(format!(
            "diagonal-plus-rank-one: d[{i}] = {} is not finite",
            d[i]
        )));
    }
    if let Some(i) = z.iter().position(|x| !x.is_finite()) {
        return Err(Error::usage(format!(
            "diagonal-plus-rank-one: z[{i}] = {} is not finite",
            z[i]
        )));
    }
    if !rho.is_finite() {
        return Err(Error::usage(format!(
            "diagonal-plus-rank-one: ρ = {rho} is not finite"
        )));
    }
    if rho < 0.0 {
        // −S = diag(−d) + |ρ| z zᵀ: solve that, negate and reverse.
        let nd: Vec<f64> = d.iter().map(|x| -x).collect();
        let (e, info) = dpr1_eig(&nd, z, -rho)?;
        let mut values = Vec::with_capacity(n);
        let mut vectors = Vec::with_capacity(n * n);
        for j in (0..n).rev() {
            values.push(-e.values[j]);
            vectors.extend_from_slice(e.vector(j));
        }
        return Ok((Eig { n, values, vectors }, info));
    }
    // Scale: ρ ← ρ‖z‖², z ← z/‖z‖ (with an overflow-safe norm).
    let zmax = z.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let znorm = if zmax > 0.0 {
        zmax * z.iter().map(|x| (x / zmax).powi(2)).sum::<f64>().sqrt()
    } else {
        0.0
    };
    let rho = rho * znorm * znorm;
    if !rho.is_finite() {
        return Err(Error::Numeric(
            "diagonal-plus-rank-one: ρ‖z‖² overflows".into(),
        ));
    }
    // Sort.
    let mut perm: Vec<usize> = (0..n).collect();
    perm.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
    let mut ds: Vec<f64> = perm.iter().map(|&i| d[i]).collect();
    let mut zs: Vec<f64> = if rho > 0.0 {
        perm.iter().map(|&i| z[i] / znorm).collect()
    } else {
        vec![0.0; n]
    };
    // Deflation.
    let dmax = ds.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let tol = 8.0 * EPS * dmax.max(rho);
    let mut deflated = vec![false; n];
    let mut rots: Vec<(usize, usize, f64, f64)> = Vec::new();
    let mut prev: Option<usize> = None;
    let mut info = Dpr1Info {
        n,
        tol,
        ..Default::default()
    };
    for j in 0..n {
        if rho * zs[j].abs() <= tol {
            deflated[j] = true;
            zs[j] = 0.0;
            info.deflated_small_z += 1;
            continue;
        }
        if let Some(a) = prev {
            let t = zs[a].hypot(zs[j]);
            let c = zs[j] / t;
            let s = -zs[a] / t;
            if ((ds[j] - ds[a]) * c * s).abs() <= tol {
                let (da, db) = (ds[a], ds[j]);
                ds[a] = c * c * da + s * s * db;
                ds[j] = s * s * da + c * c * db;
                zs[a] = 0.0;
                zs[j] = t;
                deflated[a] = true;
                rots.push((a, j, c, s));
                info.deflated_rotation += 1;
            }
        }
        prev = Some(j);
    }
    let und: Vec<usize> = (0..n).filter(|&j| !deflated[j]).collect();
    let m = und.len();
    info.secular = m;
    let dd: Vec<f64> = und.iter().map(|&j| ds[j]).collect();
    let zz: Vec<f64> = und.iter().map(|&j| zs[j]).collect();
    for w in dd.windows(2) {
        if w[1] <= w[0] {
            return Err(Error::Numeric(format!(
                "diagonal-plus-rank-one: deflation left equal poles {} and {}",
                w[0], w[1]
            )));
        }
    }
    // Roots.
    let w: Vec<f64> = zz.iter().map(|x| rho * x * x).collect();
    let roots: Vec<Result<(usize, f64, usize)>> = (0..m)
        .into_par_iter()
        .map_init(|| vec![0.0f64; m], |delta, k| solve_root(&dd, &w, k, delta))
        .collect();
    let mut org = Vec::with_capacity(m);
    let mut tau = Vec::with_capacity(m);
    for r in roots {
        let (o, t, ev) = r?;
        org.push(o);
        tau.push(t);
        info.evaluations += ev;
        info.max_evaluations = info.max_evaluations.max(ev);
    }
    // Gu–Eisenstat: ẑ from the computed roots.
    let zhat: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let di = dd[i];
            let lam_minus = |j: usize| (dd[org[j]] - di) + tau[j];
            let mut prod = lam_minus(m - 1) / rho;
            // Pairs (λ_j, d_j) for j < i and (λ_j, d_{j+1}) for i ≤ j < m − 1: each ratio in (0, 1].
            for (j, &dj) in dd[..i].iter().enumerate() {
                prod *= lam_minus(j) / (dj - di);
            }
            for (j, &dj1) in dd.iter().enumerate().skip(i + 1) {
                prod *= lam_minus(j - 1) / (dj1 - di);
            }
            prod.max(0.0).sqrt().copysign(zz[i])
        })
        .collect();
    if zhat.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numeric(
            "diagonal-plus-rank-one: recomputed z is not finite".into(),
        ));
    }
    // Eigenvalues of every column source, then the ascending order.
    #[derive(Clone, Copy)]
    enum Src {
        Root(usize),
        Deflated(usize),
    }
    let mut pairs: Vec<(f64, Src)> = Vec::with_capacity(n);
    for k in 0..m {
        pairs.push((dd[org[k]] + tau[k], Src::Root(k)));
    }
    for (j, &df) in deflated.iter().enumerate() {
        if df {
            pairs.push((ds[j], Src::Deflated(j)));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut vectors = vec![0.0f64; n * n];
    vectors
        .par_chunks_mut(n)
        .zip(pairs.par_iter())
        .for_each_init(
            || vec![0.0f64; n],
            |buf, (col, &(_, src))| {
                buf.fill(0.0);
                match src {
                    Src::Root(k) => {
                        let (dk, tk) = (dd[org[k]], tau[k]);
                        let mut s2 = 0.0;
                        for i in 0..m {
                            let v = zhat[i] / ((dd[i] - dk) - tk);
                            buf[und[i]] = v;
                            s2 += v * v;
                        }
                        let inv = 1.0 / s2.sqrt();
                        for &u in &und {
                            buf[u] *= inv;
                        }
                    }
                    Src::Deflated(j) => buf[j] = 1.0,
                }
                for &(a, b, c, s) in rots.iter().rev() {
                    let (xa, xb) = (buf[a], buf[b]);
                    if xa != 0.0 || xb != 0.0 {
                        buf[a] = c * xa - s * xb;
                        buf[b] = s * xa + c * xb;
                    }
                }
                for (r, &x) in buf.iter().enumerate() {
                    col[perm[r]] = x;
                }
            },
        );
    Ok((Eig { n, values, vectors }, info))
}

/// Sums over the secular terms w_i/(δ_i − τ): returns (Σ t_i, Σ t_i/(δ_i − τ)). Dispatches to an AVX2
/// build of the same code when the CPU has it (the crate is compiled for baseline x86-64, where the
/// divisions are 2-wide).
#[inline]
fn sums(delta: &[f64], w: &[f64], tau: f64) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { sums_avx2(delta, w, tau) };
        }
    }
    sums_generic(delta, w, tau)
}

/// The same sums with AVX2 intrinsics: lane l accumulates the terms i ≡ l (mod 4) and the tail goes to
/// lane 0, exactly as [`sums_generic`] does, so both round identically (no FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sums_avx2(delta: &[f64], w: &[f64], tau: f64) -> (f64, f64) {
    use std::arch::x86_64::*;
    let n = delta.len().min(w.len());
    let n4 = n / 4 * 4;
    let one = _mm256_set1_pd(1.0);
    let vt = _mm256_set1_pd(tau);
    let mut s = _mm256_setzero_pd();
    let mut ds = _mm256_setzero_pd();
    let (dp, wp) = (delta.as_ptr(), w.as_ptr());
    let mut i = 0;
    while i < n4 {
        // SAFETY: i + 4 ≤ n4 ≤ both lengths; unaligned loads.
        let (dv, wv) = unsafe { (_mm256_loadu_pd(dp.add(i)), _mm256_loadu_pd(wp.add(i))) };
        let r = _mm256_div_pd(one, _mm256_sub_pd(dv, vt));
        let t = _mm256_mul_pd(wv, r);
        s = _mm256_add_pd(s, t);
        ds = _mm256_add_pd(ds, _mm256_mul_pd(t, r));
        i += 4;
    }
    let mut sa = [0.0f64; 4];
    let mut da = [0.0f64; 4];
    // SAFETY: the arrays hold 4 doubles each.
    unsafe {
        _mm256_storeu_pd(sa.as_mut_ptr(), s);
        _mm256_storeu_pd(da.as_mut_ptr(), ds);
    }
    for (&dv, &wv) in delta[n4..n].iter().zip(&w[n4..n]) {
        let r = 1.0 / (dv - tau);
        let t = wv * r;
        sa[0] += t;
        da[0] += t * r;
    }
    (
        (sa[0] + sa[1]) + (sa[2] + sa[3]),
        (da[0] + da[1]) + (da[2] + da[3]),
    )
}

/// Four independent accumulators per sum (vectorisable; no FMA contraction, so every build rounds the
/// same way).
#[inline(always)]
fn sums_generic(delta: &[f64], w: &[f64], tau: f64) -> (f64, f64) {
    let mut s = [0.0f64; 4];
    let mut ds = [0.0f64; 4];
    let dc = delta.chunks_exact(4);
    let wc = w.chunks_exact(4);
    let (dr, wr) = (dc.remainder(), wc.remainder());
    for (dq, wq) in dc.zip(wc) {
        for l in 0..4 {
            let r = 1.0 / (dq[l] - tau);
            let t = wq[l] * r;
            s[l] += t;
            ds[l] += t * r;
        }
    }
    for (&dv, &wv) in dr.iter().zip(wr) {
        let r = 1.0 / (dv - tau);
        let t = wv * r;
        s[0] += t;
        ds[0] += t * r;
    }
    (
        (s[0] + s[1]) + (s[2] + s[3]),
        (ds[0] + ds[1]) + (ds[2] + ds[3]),
    )
}

/// The root η wanted (by `want`) of the two-pole model cc + a/(da − η) + c/(db − η) = 0, i.e. of
/// cc η² − qb η + qc = 0 with qb = cc (da + db) + a + c and qc = cc da db + a db + c da (passed in, so a
/// caller can give a more accurate value); NaN when no root qualifies.
fn two_pole(cc: f64, a: f64, c: f64, da: f64, db: f64, qc: f64, want: impl Fn(f64) -> bool) -> f64 {
    let qb = cc * (da + db) + a + c;
    let (r1, r2) = if cc == 0.0 {
        (qc / qb, f64::NAN)
    } else {
        let disc = (qb * qb - 4.0 * cc * qc).max(0.0).sqrt();
        let t = qb + disc.copysign(qb);
        (
            t / (2.0 * cc),
            if t != 0.0 { 2.0 * qc / t } else { f64::NAN },
        )
    };
    if want(r2) {
        r2
    } else if want(r1) {
        r1
    } else {
        f64::NAN
    }
}

/// Root k of 1 + Σ w_i/(d_i − λ) = 0 (d strictly increasing, w > 0). Returns (origin, τ, evaluations)
/// with λ = d_origin + τ.
///
/// Model (Bunch–Nielsen–Sorensen): the terms are split into a left sum (poles up to `pl`) and a right sum
/// (poles from `pl + 1 = pr`); each is replaced by c/(δ_pole − τ) + e matched in value and slope at the
/// current τ, and the model's root is the next iterate. Interior roots: pl = k. The last root: pl = m − 2
/// and the right sum is the last term alone (exact). Every iterate stays inside a bracket that shrinks
/// with the sign of g; a model step outside it is replaced by bisection.
fn solve_root(d: &[f64], w: &[f64], k: usize, delta: &mut [f64]) -> Result<(usize, f64, usize)> {
    let m = d.len();
    let last = k + 1 == m;
    if m == 1 {
        // 1 − w/τ = 0.
        return Ok((0, w[0], 1));
    }
    let mut evals = 0usize;
    // Origin, bracket (in τ relative to the origin) and the first iterate.
    let (origin, mut lo, mut hi, mut tau) = if last {
        let sw: f64 = w.iter().sum();
        (k, 0.0, sw, sw)
    } else {
        let gap = d[k + 1] - d[k];
        for (x, &di) in delta.iter_mut().zip(d) {
            *x = di - d[k];
        }
        let h = 0.5 * gap;
        let (s, _) = sums(delta, w, h);
        evals += 1;
        // Initial guess: the two nearest terms exact, the others frozen at the midpoint.
        let c0 = 1.0 + s - w[k] / (0.0 - h) - w[k + 1] / (gap - h);
        if 1.0 + s >= 0.0 {
            let x = two_pole(c0, w[k], w[k + 1], 0.0, gap, w[k] * gap, |x| {
                x > 0.0 && x < h
            });
            (k, 0.0, h, if x.is_nan() { h } else { x })
        } else {
            let x = two_pole(c0, w[k], w[k + 1], -gap, 0.0, -w[k + 1] * gap, |x| {
                x > -h && x < 0.0
            });
            (k + 1, -h, 0.0, if x.is_nan() { -h } else { x })
        }
    };
    let d0 = d[origin];
    for (x, &di) in delta.iter_mut().zip(d) {
        *x = di - d0;
    }
    let pl = if last { m - 2 } else { k };
    let (dl, dr) = delta.split_at(pl + 1);
    let (wl, wr) = w.split_at(pl + 1);
    for _ in 0..MAX_ITER {
        let (psi, dpsi) = sums(dl, wl, tau);
        let (phi, dphi) = sums(dr, wr, tau);
        evals += 1;
        let g = 1.0 + psi + phi;
        let err = EPS * (8.0 * (1.0 + psi.abs() + phi.abs()) + tau.abs() * (dpsi + dphi));
        if !g.is_finite() {
            return Err(Error::Numeric(format!(
                "secular equation: g is {g} at root {k} of {m} (τ = {tau:e})"
            )));
        }
        if g.abs() <= err {
            return Ok((origin, tau, evals));
        }
        if g < 0.0 {
            lo = tau;
        } else {
            hi = tau;
        }
        let da = delta[pl] - tau;
        let db = delta[pl + 1] - tau;
        let a = dpsi * da * da;
        let c = dphi * db * db;
        let cc = g - dpsi * da - dphi * db;
        let eta = if last {
            two_pole(cc, a, c, da, db, da * db * g, |x| x > db)
        } else {
            two_pole(cc, a, c, da, db, da * db * g, |x| x > da && x < db)
        };
        let mut next = tau + eta;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if next == tau || next == lo || next == hi || (next - tau).abs() <= EPS * tau.abs() {
            let next = if next > lo && next < hi { next } else { tau };
            return Ok((origin, next, evals));
        }
        tau = next;
    }
    Err(Error::Numeric(format!(
        "secular equation: root {k} of {m} did not converge in {MAX_ITER} iterations"
    )))
}

/// Accuracy of a decomposition of diag(d) + ρ z zᵀ, in O(N²): (max_j ‖S v_j − λ_j v_j‖ / ‖S‖₂ bound,
/// ‖(V Vᵀ − I) x‖ / ‖x‖ for a fixed pseudo-random x). ‖S‖ is bounded by max|d| + |ρ|‖z‖².
pub fn check(d: &[f64], z: &[f64], rho: f64, eig: &Eig<f64>) -> (f64, f64) {
    let n = eig.n;
    let snorm = d.iter().fold(0.0f64, |m, x| m.max(x.abs()))
        + rho.abs() * z.iter().map(|x| x * x).sum::<f64>();
    // x: deterministic pseudo-random entries in [−½, ½) (not an eigenvector of anything simple).
    let x: Vec<f64> = (0..n)
        .map(|i| {
            let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((h >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect();
    // One pass over V: residual of column j and y_j = v_jᵀ x.
    let (res, y): (Vec<f64>, Vec<f64>) = eig
        .vectors
        .par_chunks(n)
        .zip(eig.values.par_iter())
        .map(|(v, &lam)| {
            let (mut zv, mut xv) = (0.0, 0.0);
            for ((&vi, &zi), &xi) in v.iter().zip(z).zip(&x) {
                zv += zi * vi;
                xv += xi * vi;
            }
            let r2: f64 = v
                .iter()
                .zip(d)
                .zip(z)
                .map(|((&vi, &di), &zi)| {
                    let r = (di - lam) * vi + rho * zi * zv;
                    r * r
                })
                .sum();
            (r2.sqrt(), xv)
        })
        .unzip();
    let res = res.iter().fold(0.0f64, |m, &r| m.max(r)) / snorm.max(f64::MIN_POSITIVE);
    let mut vx = vec![0.0f64; n];
    if super::linalg::gemv_f64(false, n, n, &eig.vectors, &y, &mut vx).is_err() {
        return (res, f64::INFINITY);
    }
    let num: f64 = vx.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum();
    let den: f64 = x.iter().map(|a| a * a).sum();
    (res, (num / den).sqrt())
}

/// Accepted accuracy of [`ip_eig`]: residual and orthogonality measured by [`check`] must be below this
/// (the solver reaches ~1e-14; anything above means something went wrong and syevd should be used).
pub const CHECK_TOL: f64 = 1e-9;

/// The IP kernel's eigendecomposition (METHOD.md: `ip`, or `ip-code` with `code_scaling`) by the secular
/// solver from clamped probabilities p, with the O(N²) accuracy check: an error (never a silently wrong
/// result) when the residual or orthogonality exceeds [`CHECK_TOL`]. Returns the decomposition, the
/// solver's statistics and the measured (residual, orthogonality).
pub fn ip_eig(p: &[f64], code_scaling: bool) -> Result<(Eig<f64>, Dpr1Info, (f64, f64))> {
    let (dg, z, rho) = kernels::ip_parts(p, code_scaling);
    let (eig, info) = dpr1_eig(&dg, &z, rho)?;
    let (res, orth) = check(&dg, &z, rho, &eig);
    if !(res <= CHECK_TOL && orth <= CHECK_TOL) {
        return Err(Error::Numeric(format!(
            "secular eigensolver check failed (N = {}): residual {res:e}, orthogonality {orth:e} \
             (allowed {CHECK_TOL:e})",
            p.len()
        )));
    }
    Ok((eig, info, (res, orth)))
}
