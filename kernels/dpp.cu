// targets: sm_80 sm_90
// The DPP kernel matrix from features (METHOD.md "Stage 2", qd-cosine / qd-rbf): a tiled Gram product
// F·Fᵀ over row-major [n, d] features, finished per entry as a cosine similarity (mode 0) or a squared
// Euclidean distance (mode 1). Quality scaling and the RBF exponential are applied on the host in f64.
// dpp_gram_f32 computes entry (i, j) and (j, i) with the same summation order, so the output is exactly
// symmetric. The CPU reference is gram_cpu in src/dpp/kernels.rs.
#include "common.cuh"

#define DPP_TILE 16

extern "C" __global__ void dpp_gram_f32(float* out, const float* f, const float* sqnorm, unsigned int n,
                                        unsigned int d, int mode) {
    __shared__ float a[DPP_TILE][DPP_TILE + 1];
    __shared__ float b[DPP_TILE][DPP_TILE + 1];
    const unsigned int tx = threadIdx.x, ty = threadIdx.y;
    const unsigned int i = blockIdx.y * DPP_TILE + ty;  // output row
    const unsigned int j = blockIdx.x * DPP_TILE + tx;  // output column
    const unsigned int ra = blockIdx.y * DPP_TILE + ty;  // row of f loaded into a (coalesced over tx)
    const unsigned int rb = blockIdx.x * DPP_TILE + ty;  // row of f loaded into b
    float acc = 0.0f;
    for (unsigned int c0 = 0; c0 < d; c0 += DPP_TILE) {
        const unsigned int c = c0 + tx;
        a[ty][tx] = (ra < n && c < d) ? f[(unsigned long long)ra * d + c] : 0.0f;
        b[ty][tx] = (rb < n && c < d) ? f[(unsigned long long)rb * d + c] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int cc = 0; cc < DPP_TILE; ++cc) acc = fmaf(a[ty][cc], b[tx][cc], acc);
        __syncthreads();
    }
    if (i < n && j < n) {
        float v;
        if (mode == 0) {
            const float den = sqnorm[i] * sqnorm[j];
            v = den > 0.0f ? acc * rsqrtf(den) : 0.0f;
            if (i == j && den > 0.0f) v = 1.0f;
        } else {
            v = (i == j) ? 0.0f : fmaxf(sqnorm[i] + sqnorm[j] - 2.0f * acc, 0.0f);
        }
        out[(unsigned long long)i * n + j] = v;
    }
}
