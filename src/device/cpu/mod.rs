//! The CPU reference implementation of every engine op (rayon; sgemm through OpenBLAS's cblas).
pub mod elementwise;
pub mod gemm;
pub mod reduce;
