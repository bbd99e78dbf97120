//! CPU GEMM: an exact reference (f64 accumulation) and the fast path through OpenBLAS cblas_sgemm.
use crate::device::ops::GemmSpec;
use rayon::prelude::*;

/// Reference row-major C = alpha·op(A)·op(B) + beta·C, accumulated in f64. beta == 0 ignores C.
pub fn gemm_ref_f32(c: &mut [f32], a: &[f32], b: &[f32], s: &GemmSpec) {
    let (m, n, k) = (s.m, s.n, s.k);
    let ai = |i: usize, p: usize| if s.ta { a[p * m + i] } else { a[i * k + p] } as f64;
    let bi = |p: usize, j: usize| if s.tb { b[j * k + p] } else { b[p * n + j] } as f64;
    c[..m * n]
        .par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            for (j, cij) in row.iter_mut().enumerate() {
                let mut acc = 0.0f64;
                for p in 0..k {
                    acc += ai(i, p) * bi(p, j);
                }
                let v = s.alpha as f64 * acc;
                *cij = if s.beta == 0.0 {
                    v as f32
                } else {
                    (v + s.beta as f64 * *cij as f64) as f32
                };
            }
        });
}

/// OpenBLAS sgemm on row-major operands.
pub fn gemm_blas_f32(c: &mut [f32], a: &[f32], b: &[f32], s: &GemmSpec) {
    use cblas_sys::{cblas_sgemm, CBLAS_LAYOUT::CblasRowMajor, CBLAS_TRANSPOSE::*};
    if s.m == 0 || s.n == 0 {
        return;
    }
    let t = |x: bool| if x { CblasTrans } else { CblasNoTrans };
    let lda = if s.ta { s.m } else { s.k }.max(1);
    let ldb = if s.tb { s.k } else { s.n }.max(1);
    // SAFETY: slice lengths were checked by the caller (ops::gemm validates m·k, k·n, m·n).
    unsafe {
        cblas_sgemm(
            CblasRowMajor,
            t(s.ta),
            t(s.tb),
            s.m as i32,
            s.n as i32,
            s.k as i32,
            s.alpha,
            a.as_ptr(),
            lda as i32,
            b.as_ptr(),
            ldb as i32,
            s.beta,
            c.as_mut_ptr(),
            s.n as i32,
        )
    }
}
