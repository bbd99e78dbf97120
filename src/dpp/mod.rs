//! Stage 2: exact k-DPP sampling and IP-DPP per-class selection (KDPP.md, METHOD.md "Stage 2").
//!
//! - [`linalg`]: LAPACK syevd wrappers (f64, f32).
//! - [`secular`]: O(N²) eigensolver for diagonal-plus-rank-one kernels (the IP kernels).
//! - [`esp`]: log-domain elementary symmetric polynomials and exact inclusion probabilities.
//! - [`kdpp`]: the exact spectral k-DPP sampler (primal and dual), `greedy-paper`, `uniform`.
//! - [`kernels`]: the IP and quality–diversity kernels; the feature Gram matrix on CUDA (kernels/dpp.cu).
//! - [`select`]: per-class selection with a report per class.
//! - [`cli`]: `ipdpp sample`.
pub mod cli;
pub mod esp;
pub mod kdpp;
pub mod kernels;
pub mod linalg;
pub mod secular;
pub mod select;
