//! Launchers for kernels/gemm.cu (v1 naive, v2 shared-memory tiled, v3 register-tiled) and cuBLAS as
//! the library line in the same harness.
use super::{check_len, launch_err, CudaDevice};
use crate::device::ops::{GemmSpec, GemmVersion};
use crate::error::{Error, Result};
use cudarc::cublas::{sys::cublasOperation_t as Op, Gemm, GemmConfig};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

pub fn gemm_f32(
    dev: &CudaDevice,
    version: GemmVersion,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    s: &GemmSpec,
) -> Result<()> {
    s.validate()?;
    check_len("gemm A", a.len(), s.m * s.k)?;
    check_len("gemm B", b.len(), s.k * s.n)?;
    check_len("gemm C", c.len(), s.m * s.n)?;
    if s.m == 0 || s.n == 0 {
        return Ok(());
    }
    let (m, n, k) = (s.m as i32, s.n as i32, s.k as i32);
    let (ta, tb) = (s.ta as i32, s.tb as i32);
    let (kernel, cfg) = match version {
        GemmVersion::Cublas => return cublas(dev, c, a, b, s),
        GemmVersion::V1 => (
            "gemm_v1_f32",
            LaunchConfig {
                grid_dim: (s.n.div_ceil(16) as u32, s.m.div_ceil(16) as u32, 1),
                block_dim: (16, 16, 1),
                shared_mem_bytes: 0,
            },
        ),
        GemmVersion::V2 => (
            "gemm_v2_f32",
            LaunchConfig {
                grid_dim: (s.n.div_ceil(32) as u32, s.m.div_ceil(32) as u32, 1),
                block_dim: (32, 32, 1),
                shared_mem_bytes: 0,
            },
        ),
        GemmVersion::V3 => (
            match (s.ta, s.tb) {
                (false, false) => "gemm_v3_nn_f32",
                (true, false) => "gemm_v3_tn_f32",
                (false, true) => "gemm_v3_nt_f32",
                (true, true) => "gemm_v3_tt_f32",
            },
            LaunchConfig {
                grid_dim: (s.n.div_ceil(128) as u32, s.m.div_ceil(128) as u32, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            },
        ),
    };
    if cfg.grid_dim.1 > 65535 {
        return Err(Error::usage(format!(
            "gemm: M = {} is too large for one launch",
            s.m
        )));
    }
    let f = dev.function("gemm", kernel)?;
    let mut launch = dev.stream.launch_builder(&f);
    launch.arg(c).arg(a).arg(b).arg(&m).arg(&n).arg(&k);
    // The v3 kernels bake the transposes into their names; v1 and v2 take them as arguments.
    if version != GemmVersion::V3 {
        launch.arg(&ta).arg(&tb);
    }
    launch.arg(&s.alpha).arg(&s.beta);
    // SAFETY: v1/v2: (float* C, const float* A, const float* B, int M, N, K, int ta, tb, float alpha,
    // beta); v3: the same without ta, tb. Lengths checked above against the stored shapes of A, B and C;
    // C does not alias A or B.
    unsafe { launch.launch(cfg) }.map_err(launch_err(kernel))?;
    Ok(())
}

/// Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands, keep the flags.
fn cublas(
    dev: &CudaDevice,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    s: &GemmSpec,
) -> Result<()> {
    let blas = dev.blas()?;
    let op = |t: bool| if t { Op::CUBLAS_OP_T } else { Op::CUBLAS_OP_N };
    let cfg = GemmConfig {
        transa: op(s.tb),
        transb: op(s.ta),
        m: s.n as i32,
        n: s.m as i32,
        k: s.k as i32,
        alpha: s.alpha,
        lda: if s.tb { s.k } else { s.n } as i32,
        ldb: if s.ta { s.m } else { s.k } as i32,
        beta: s.beta,
        ldc: s.n as i32,
    };
    // SAFETY: leading dimensions follow the stored row-major shapes checked by the caller.
    unsafe { blas.gemm(cfg, b, a, c) }.map_err(|e| Error::cublas("sgemm", e))
}

/// C[m][n] = Σ_k A[m][k] · B[n][k] in cuBLAS (`cublasGemmEx`): bf16 operands stored K-major (the u16 bits),
/// fp32 accumulation and output; the library line of `bench wgmma` (what this card does on such a GEMM).
pub fn gemm_bf16_nt_cublas(
    dev: &CudaDevice,
    c: &mut CudaSlice<f32>,
    a: &CudaSlice<u16>,
    b: &CudaSlice<u16>,
    (m, n, k): (usize, usize, usize),
) -> Result<()> {
    use cudarc::cublas::{result::gemm_ex, sys};
    use cudarc::driver::{DevicePtr, DevicePtrMut};
    check_len("gemm A", a.len(), m * k)?;
    check_len("gemm B", b.len(), n * k)?;
    check_len("gemm C", c.len(), m * n)?;
    let int = |v: usize, what: &str| {
        i32::try_from(v)
            .map_err(|_| Error::usage(format!("gemm: {what} = {v} exceeds cuBLAS's 32-bit sizes")))
    };
    let (mi, ni, ki) = (int(m, "M")?, int(n, "N")?, int(k, "K")?);
    let blas = dev.blas()?;
    let (alpha, beta) = (1f32, 0f32);
    let (pa, _ga) = a.device_ptr(&dev.stream);
    let (pb, _gb) = b.device_ptr(&dev.stream);
    let (pc, _gc) = c.device_ptr_mut(&dev.stream);
    // Row-major C (m × n) is column-major Cᵀ = B · Aᵀ: B's rows (k-contiguous) as op T, A's as op N.
    // SAFETY: the pointers hold the checked lengths for the stored shapes and stay alive (guards) until
    // the call returns; alpha and beta are host scalars of the fp32 compute type.
    unsafe {
        gemm_ex(
            *blas.handle(),
            Op::CUBLAS_OP_T,
            Op::CUBLAS_OP_N,
            ni,
            mi,
            ki,
            (&alpha as *const f32).cast(),
            pb as *const _,
            sys::cudaDataType::CUDA_R_16BF,
            ki,
            pa as *const _,
            sys::cudaDataType::CUDA_R_16BF,
            ki,
            (&beta as *const f32).cast(),
            pc as *mut _,
            sys::cudaDataType::CUDA_R_32F,
            ni,
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    }
    .map_err(|e| Error::cublas("GemmEx (bf16)", e))
}
