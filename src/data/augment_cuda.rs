//! CUDA launchers of kernels/augment.cu (filled in below).
