//! CUDA launchers for kernels/contrastive.cu (in progress).
