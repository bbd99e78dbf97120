//! Safe wrappers of LAPACK's symmetric divide-and-conquer eigensolver (syevd), f64 and f32.
//!
//! Input is a dense n×n symmetric matrix given as a flat slice (row-major and column-major coincide for a
//! symmetric matrix). LAPACK is called column-major with uplo 'L' and integer workspaces
//! (lwork = 1 + 6n + 2n², liwork = 3 + 5n): see DESIGN.md, OpenBLAS's workspace query rounds down.
use crate::error::{Error, Result};

/// Largest asymmetry accepted: |a_ij − a_ji| ≤ `SYM_RTOL` · max |a|. Only the lower triangle is used.
pub const SYM_RTOL: f64 = 1e-6;

/// An eigendecomposition A = V diag(values) Vᵀ.
#[derive(Clone, Debug)]
pub struct Eig<T> {
    pub n: usize,
    /// Eigenvalues in ascending order.
    pub values: Vec<T>,
    /// Eigenvectors, column-major n×n: eigenvector j is `vectors[j*n .. (j+1)*n]`.
    pub vectors: Vec<T>,
}

impl<T: Copy> Eig<T> {
    /// Eigenvector `j` as a contiguous slice.
    pub fn vector(&self, j: usize) -> &[T] {
        &self.vectors[j * self.n..(j + 1) * self.n]
    }
}

/// Checks shape, finiteness and symmetry of an n×n matrix; `what` names the matrix in messages.
pub fn check_symmetric<T: Copy + Into<f64>>(a: &[T], n: usize, what: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::usage(format!("{what}: the matrix is empty (0×0)")));
    }
    if a.len() != n * n {
        return Err(Error::usage(format!(
            "{what}: expected a square {n}×{n} matrix ({} values), got {} values",
            n * n,
            a.len()
        )));
    }
    let mut amax = 0.0f64;
    for (idx, &x) in a.iter().enumerate() {
        let x: f64 = x.into();
        if !x.is_finite() {
            return Err(Error::usage(format!(
                "{what}: entry ({}, {}) is {x}; the matrix must be finite",
                idx / n,
                idx % n
            )));
        }
        amax = amax.max(x.abs());
    }
    let tol = SYM_RTOL * amax;
    for i in 0..n {
        for j in 0..i {
            let (x, y): (f64, f64) = (a[i * n + j].into(), a[j * n + i].into());
            if (x - y).abs() > tol {
                return Err(Error::usage(format!(
                    "{what}: not symmetric: entry ({i}, {j}) = {x:e} but ({j}, {i}) = {y:e} \
                     (allowed difference {tol:e} = {SYM_RTOL:e}·max|a|)"
                )));
            }
        }
    }
    Ok(())
}

fn workspace(n: usize) -> Result<(usize, usize)> {
    let lwork = 1 + 6 * n + 2 * n * n;
    let liwork = 3 + 5 * n;
    if lwork > i32::MAX as usize || n > i32::MAX as usize {
        return Err(Error::usage(format!(
            "matrix of size {n} is too large for 32-bit LAPACK"
        )));
    }
    Ok((lwork, liwork))
}

/// Eigendecomposition in f64 of a symmetric n×n matrix. `a` is consumed (it becomes the eigenvectors).
pub fn syevd_f64(mut a: Vec<f64>, n: usize) -> Result<Eig<f64>> {
    check_symmetric(&a, n, "syevd_f64")?;
    let (lwork, liwork) = workspace(n)?;
    let mut w = vec![0.0f64; n];
    let mut work = vec![0.0f64; lwork];
    let mut iwork = vec![0i32; liwork];
    let ni = n as i32;
    // SAFETY: a holds n*n values (checked), w n, work lwork, iwork liwork; lda = n.
    let info = crate::device::cpu::gemm::with_blas_threads(|| unsafe {
        lapacke::dsyevd_work(
            lapacke::Layout::ColumnMajor,
            b'V',
            b'L',
            ni,
            &mut a,
            ni,
            &mut w,
            &mut work,
            lwork as i32,
            &mut iwork,
            liwork as i32,
        )
    });
    finish(info, "dsyevd", n)?;
    if w.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numeric(
            "dsyevd returned non-finite eigenvalues".into(),
        ));
    }
    Ok(Eig {
        n,
        values: w,
        vectors: a,
    })
}

/// Eigendecomposition in f32 (about twice as fast; never for the IP kernels, see METHOD.md).
pub fn syevd_f32(mut a: Vec<f32>, n: usize) -> Result<Eig<f32>> {
    check_symmetric(&a, n, "syevd_f32")?;
    let (lwork, liwork) = workspace(n)?;
    let mut w = vec![0.0f32; n];
    let mut work = vec![0.0f32; lwork];
    let mut iwork = vec![0i32; liwork];
    let ni = n as i32;
    // SAFETY: a holds n*n values (checked), w n, work lwork, iwork liwork; lda = n.
    let info = crate::device::cpu::gemm::with_blas_threads(|| unsafe {
        lapacke::ssyevd_work(
            lapacke::Layout::ColumnMajor,
            b'V',
            b'L',
            ni,
            &mut a,
            ni,
            &mut w,
            &mut work,
            lwork as i32,
            &mut iwork,
            liwork as i32,
        )
    });
    finish(info, "ssyevd", n)?;
    if w.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numeric(
            "ssyevd returned non-finite eigenvalues".into(),
        ));
    }
    Ok(Eig {
        n,
        values: w,
        vectors: a,
    })
}

fn finish(info: i32, routine: &str, n: usize) -> Result<()> {
    match info {
        0 => Ok(()),
        i if i < 0 => Err(Error::Lapack(format!(
            "{routine} (n = {n}): parameter {} had an illegal value",
            -i
        ))),
        i => Err(Error::Lapack(format!(
            "{routine} (n = {n}) failed to converge: info = {i}"
        ))),
    }
}

/// ‖A V − V Λ‖_F / ‖A‖_F for a decomposition of `a` (row-major n×n); a test helper.
pub fn residual(a: &[f64], eig: &Eig<f64>) -> f64 {
    let n = eig.n;
    let mut num = 0.0;
    let den: f64 = a.iter().map(|x| x * x).sum();
    for j in 0..n {
        let v = eig.vector(j);
        for i in 0..n {
            let av: f64 = (0..n).map(|l| a[i * n + l] * v[l]).sum();
            num += (av - eig.values[j] * v[i]).powi(2);
        }
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// C = op(A)·op(B) in f64, all column-major: op(A) is m×kk (A stored kk×m when `ta`), op(B) is kk×n
/// (B stored n×kk when `tb`). Returns C (m×n, column-major). Through OpenBLAS's dgemm.
pub fn gemm_f64(
    ta: bool,
    tb: bool,
    m: usize,
    n: usize,
    kk: usize,
    a: &[f64],
    b: &[f64],
) -> Result<Vec<f64>> {
    use cblas_sys::{cblas_dgemm, CBLAS_LAYOUT::CblasColMajor, CBLAS_TRANSPOSE::*};
    if a.len() < m * kk || b.len() < kk * n {
        return Err(Error::usage(format!(
            "gemm_f64: operands too short for {m}×{kk} · {kk}×{n}"
        )));
    }
    if m.max(n).max(kk) > i32::MAX as usize {
        return Err(Error::usage(
            "gemm_f64: dimension too large for 32-bit BLAS",
        ));
    }
    let mut c = vec![0.0f64; m * n];
    if m == 0 || n == 0 || kk == 0 {
        return Ok(c);
    }
    let lda = if ta { kk } else { m };
    let ldb = if tb { n } else { kk };
    // SAFETY: the lengths of a and b cover op(A) (m×kk) and op(B) (kk×n) with the leading dimensions
    // above (checked); c holds m×n with ldc = m.
    crate::device::cpu::gemm::with_blas_threads(|| unsafe {
        cblas_dgemm(
            CblasColMajor,
            if ta { CblasTrans } else { CblasNoTrans },
            if tb { CblasTrans } else { CblasNoTrans },
            m as i32,
            n as i32,
            kk as i32,
            1.0,
            a.as_ptr(),
            lda as i32,
            b.as_ptr(),
            ldb as i32,
            0.0,
            c.as_mut_ptr(),
            m as i32,
        )
    });
    Ok(c)
}

/// y = op(A)·x in f64 with A column-major m×n (op(A) = Aᵀ when `ta`). Through OpenBLAS's dgemv.
pub fn gemv_f64(ta: bool, m: usize, n: usize, a: &[f64], x: &[f64], y: &mut [f64]) -> Result<()> {
    use cblas_sys::{cblas_dgemv, CBLAS_LAYOUT::CblasColMajor, CBLAS_TRANSPOSE::*};
    let (xl, yl) = if ta { (m, n) } else { (n, m) };
    if a.len() < m * n || x.len() < xl || y.len() < yl {
        return Err(Error::usage(format!(
            "gemv_f64: operands too short for a {m}×{n} matrix"
        )));
    }
    if m == 0 || n == 0 {
        y[..yl].fill(0.0);
        return Ok(());
    }
    // SAFETY: a holds m×n values with lda = m; x and y hold the lengths op(A) needs (checked).
    unsafe {
        cblas_dgemv(
            CblasColMajor,
            if ta { CblasTrans } else { CblasNoTrans },
            m as i32,
            n as i32,
            1.0,
            a.as_ptr(),
            m as i32,
            x.as_ptr(),
            1,
            0.0,
            y.as_mut_ptr(),
            1,
        )
    };
    Ok(())
}
