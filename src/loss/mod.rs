//! Losses. `bns`: the BNS contrastive loss of stage 1 (paper form and official-code form), CPU reference
//! in f64; `bns_cuda`: its CUDA versions (v1 materialised, v2 fused fp32, v3 bf16 tensor cores).
pub mod bns;
pub mod bns_cuda;
/// `cross_entropy`: softmax cross-entropy of the probe and stage-2 heads (CPU reference, CUDA kernel).
pub mod cross_entropy;
