//! The CPU reference implementation of every engine op (rayon; sgemm through OpenBLAS's cblas).
pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod reduce;
