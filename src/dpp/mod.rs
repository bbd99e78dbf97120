//! Stage 2: exact k-DPP sampling and IP-DPP per-class selection (KDPP.md, METHOD.md "Stage 2").
//!
//! - [`linalg`]: LAPACK syevd wrappers (f64, f32).
//! - [`esp`]: log-domain elementary symmetric polynomials and exact inclusion probabilities.
//! - [`kdpp`]: the exact spectral k-DPP sampler (primal and dual), `greedy-paper`, `uniform`.
pub mod esp;
pub mod kdpp;
pub mod linalg;
