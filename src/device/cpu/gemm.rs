//! CPU GEMM: an exact reference (f64 accumulation) and the fast path through OpenBLAS cblas_sgemm.
use crate::device::ops::GemmSpec;
use rayon::prelude::*;

extern "C" {
    fn openblas_set_num_threads(n: std::os::raw::c_int);
}

/// Makes OpenBLAS calls run on their caller's thread. The CPU ops split their work over rayon's
/// workers themselves (each worker one sgemm); OpenBLAS's own pool on top of that oversubscribes the
/// cores. [`with_blas_threads`] lends OpenBLAS the workers for calls that are not split that way.
pub fn blas_single_threaded() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain setter of OpenBLAS's thread count.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// OpenBLAS's thread count is one process-wide setting, and a multithreaded call running beside other
/// threads' calls can hang (seen: two tests' sgemms spinning for 17 minutes in CI). Single-threaded
/// callers hold this shared, [`with_blas_threads`] holds it alone.
static BLAS_THREADS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs `f` (one large BLAS or LAPACK call: an eigendecomposition, a big dgemm) with OpenBLAS using as
/// many threads as rayon has workers, then sets it back to one; no [`gemm_blas_f32`] runs meanwhile (so
/// `f` must not call it).
pub fn with_blas_threads<R>(f: impl FnOnce() -> R) -> R {
    let _alone = BLAS_THREADS.write().unwrap_or_else(|e| e.into_inner());
    blas_single_threaded();
    let n = rayon::current_num_threads().clamp(1, i32::MAX as usize) as std::os::raw::c_int;
    // SAFETY: a plain setter of OpenBLAS's thread count; a call already running keeps the count it read.
    unsafe { openblas_set_num_threads(n) };
    let r = f();
    unsafe { openblas_set_num_threads(1) };
    r
}

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

/// OpenBLAS sgemm on row-major operands, on the calling thread (see [`blas_single_threaded`]).
pub fn gemm_blas_f32(c: &mut [f32], a: &[f32], b: &[f32], s: &GemmSpec) {
    blas_single_threaded();
    let _shared = BLAS_THREADS.read().unwrap_or_else(|e| e.into_inner());
    sgemm(c, a, b, s);
}

/// Tiles of C for [`gemm_par_f32`]: rows then columns, sizes fixed by the shape alone.
const PAR_ROWS: usize = 128;
const PAR_COLS: usize = 512;

/// sgemm over rayon's workers (for a product that is not already inside a split over the workers: linear
/// layers, convolutions with few pixels): C in tiles of at most [`PAR_ROWS`] × [`PAR_COLS`] whose bounds
/// follow from the shape alone, each one single-threaded OpenBLAS call over the whole K, so every element
/// comes from the same call on any worker count and the result has the same bits. (OpenBLAS's own threads
/// split C by their count; on a Zen 5 VM with AVX-512, 2026-11-27, its kernels then rounded some elements
/// differently on 1, 2 and 5 threads.)
pub fn gemm_par_f32(c: &mut [f32], a: &[f32], b: &[f32], s: &GemmSpec) {
    use cblas_sys::{cblas_sgemm, CBLAS_LAYOUT::CblasRowMajor, CBLAS_TRANSPOSE::*};
    let (m, n, k) = (s.m, s.n, s.k);
    if m <= PAR_ROWS && n <= PAR_COLS {
        return gemm_blas_f32(c, a, b, s);
    }
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "gemm operands too short"
    );
    blas_single_threaded();
    let _shared = BLAS_THREADS.read().unwrap_or_else(|e| e.into_inner());
    let tiles: Vec<(usize, usize)> = (0..m.div_ceil(PAR_ROWS))
        .flat_map(|i| (0..n.div_ceil(PAR_COLS)).map(move |j| (i * PAR_ROWS, j * PAR_COLS)))
        .collect();
    let t = |x: bool| if x { CblasTrans } else { CblasNoTrans };
    let lda = if s.ta { m } else { k }.max(1);
    let ldb = if s.tb { k } else { n }.max(1);
    // Tiles write disjoint parts of C through this pointer.
    #[derive(Clone, Copy)]
    struct CPtr(*mut f32);
    impl CPtr {
        // A method, so that closures capture the whole (Sync) wrapper, not its raw pointer field.
        fn at(&self, off: usize) -> *mut f32 {
            self.0.wrapping_add(off)
        }
    }
    // SAFETY: each tile writes only its own rows × columns of C; no two tiles overlap.
    unsafe impl Send for CPtr {}
    unsafe impl Sync for CPtr {}
    let cp = CPtr(c.as_mut_ptr());
    tiles.par_iter().for_each(|&(i0, j0)| {
        let (rows, cols) = ((m - i0).min(PAR_ROWS), (n - j0).min(PAR_COLS));
        let ao = if s.ta { i0 } else { i0 * k };
        let bo = if s.tb { j0 * k } else { j0 };
        // SAFETY: the operands hold m·k, k·n and m·n values (asserted); the tile's op(A) rows i0.., op(B)
        // columns j0.. and C block (i0, j0) of rows × cols lie inside them with the full leading
        // dimensions; the C blocks of different tiles are disjoint.
        unsafe {
            cblas_sgemm(
                CblasRowMajor,
                t(s.ta),
                t(s.tb),
                rows as i32,
                cols as i32,
                k as i32,
                s.alpha,
                a.as_ptr().add(ao),
                lda as i32,
                b.as_ptr().add(bo),
                ldb as i32,
                s.beta,
                cp.at(i0 * n + j0),
                n as i32,
            )
        }
    });
}

fn sgemm(c: &mut [f32], a: &[f32], b: &[f32], s: &GemmSpec) {
    use cblas_sys::{cblas_sgemm, CBLAS_LAYOUT::CblasRowMajor, CBLAS_TRANSPOSE::*};
    if s.m == 0 || s.n == 0 {
        return;
    }
    assert!(
        a.len() >= s.m * s.k && b.len() >= s.k * s.n && c.len() >= s.m * s.n,
        "gemm operands too short"
    );
    let t = |x: bool| if x { CblasTrans } else { CblasNoTrans };
    let lda = if s.ta { s.m } else { s.k }.max(1);
    let ldb = if s.tb { s.k } else { s.n }.max(1);
    // SAFETY: the three operands hold the m·k, k·n and m·n values the call reads or writes (asserted).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Tall and wide products, every transpose, beta ≠ 0: the exact reference within fp32 rounding, and
    /// the same bits on 1, 2 and 5 workers.
    #[test]
    fn threaded_sgemm_matches_the_reference_with_the_same_bits_on_any_worker_count() {
        for (m, n, k) in [
            (301, 70, 150),
            (40, 333, 200),
            (150, 700, 40),
            (20, 1100, 30),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let s = GemmSpec {
                    ta,
                    tb,
                    alpha: 0.75,
                    beta: 0.5,
                    ..GemmSpec::new(m, n, k)
                };
                let a = crate::rng::uniform_f32(m * k, -1.0, 1.0, 3);
                let b = crate::rng::uniform_f32(k * n, -1.0, 1.0, 4);
                let c0 = crate::rng::uniform_f32(m * n, -1.0, 1.0, 5);
                let mut want = c0.clone();
                gemm_ref_f32(&mut want, &a, &b, &s);
                let mut first: Option<Vec<f32>> = None;
                for workers in [1, 2, 5] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(workers)
                        .build()
                        .unwrap();
                    let mut c = c0.clone();
                    pool.install(|| gemm_par_f32(&mut c, &a, &b, &s));
                    let err = c
                        .iter()
                        .zip(&want)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        err < 1e-4,
                        "{m}x{n}x{k} ta={ta} tb={tb} on {workers}: {err}"
                    );
                    match &first {
                        None => first = Some(c),
                        Some(f) => {
                            assert!(*f == c, "{m}x{n}x{k}: bits differ on {workers} workers")
                        }
                    }
                }
            }
        }
    }
}
