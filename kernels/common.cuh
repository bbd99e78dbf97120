// Shared helpers for every kernel file. Included textually by the registry (NVRTC has no file system
// access here), so keep it self-contained: no standard headers.
#pragma once

#define IPDPP_WARP 32

__device__ __forceinline__ float warp_sum_f32(float v) {
#pragma unroll
    for (int o = IPDPP_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block-wide sum; `scratch` holds one float per warp. Every thread receives the total.
__device__ __forceinline__ float block_sum_f32(float v, float* scratch) {
    const int lane = threadIdx.x % IPDPP_WARP;
    const int warp = threadIdx.x / IPDPP_WARP;
    const int nwarps = (blockDim.x + IPDPP_WARP - 1) / IPDPP_WARP;
    v = warp_sum_f32(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = (threadIdx.x < nwarps) ? scratch[threadIdx.x] : 0.0f;
    if (warp == 0) {
        v = warp_sum_f32(v);
        if (lane == 0) scratch[0] = v;
    }
    __syncthreads();
    return scratch[0];
}

// v rounded to bf16 (nearest even) and back: the value a bf16 store of v holds.
__device__ __forceinline__ float bf16_round(float v) {
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return __uint_as_float((unsigned)h << 16);
}

// Two floats to packed bf16x2: `lo` in the low half (the lower index).
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
