//! ipdpp: a GPU compute engine for long-tailed recognition (BNS contrastive pre-training, then an exact
//! k-DPP that keeps the informative samples of each head class). Every op runs on the CPU (the
//! reference path) and on CUDA (hand-written kernels compiled at run time by NVRTC).

// Force-link the BLAS/LAPACK providers (their crates only carry link directives).
extern crate lapack_src as _;
extern crate openblas_src as _;

pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod dpp;
pub mod error;
pub mod info;
pub mod kernels;
pub mod loss;
pub mod nn;
pub mod npy;
pub mod optim;
pub mod rng;
pub mod selfcheck;
pub mod train;

pub use error::{Error, Result};
