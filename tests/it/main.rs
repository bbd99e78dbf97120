//! Integration tests: one binary (DESIGN.md), one module per area.
mod bns;
mod cli;
mod common;
mod conv_bench;
mod cpu_ref;
mod cuda_ops;
mod cuda_vs_cpu;
mod data;
mod dpp;
mod npy;
mod nvrtc_compile;
mod ops_golden;
mod pipeline;
mod resnet_bench;
mod resnet_cuda;
mod resnet_gradcheck;
mod resnet_step;
