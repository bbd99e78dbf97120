// targets: sm_80 sm_90
// Row-major SGEMM: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, with op = transpose when ta/tb
// is non-zero (A is then stored [K,M], B stored [N,K]). beta == 0 never reads C, as BLAS does.
// Numbered versions, as in llm.c's dev/cuda: v1 naive, v2 shared-memory tiles, v3 register tiles.
#include "common.cuh"

__device__ __forceinline__ float load_a(const float* A, int ta, int M, int K, int i, int k) {
    if (i >= M || k >= K) return 0.0f;
    return ta ? A[(long long)k * M + i] : A[(long long)i * K + k];
}

__device__ __forceinline__ float load_b(const float* B, int tb, int K, int N, int k, int j) {
    if (k >= K || j >= N) return 0.0f;
    return tb ? B[(long long)j * K + k] : B[(long long)k * N + j];
}

__device__ __forceinline__ void store_c(float* C, int N, int i, int j, float acc, float alpha, float beta) {
    float* c = C + (long long)i * N + j;
    *c = (beta == 0.0f) ? alpha * acc : alpha * acc + beta * *c;
}

// v1: one thread per output element, straight from global memory.
extern "C" __global__ void gemm_v1_f32(float* C, const float* A, const float* B, int M, int N, int K, int ta,
                                       int tb, float alpha, float beta) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= M || j >= N) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += load_a(A, ta, M, K, i, k) * load_b(B, tb, K, N, k, j);
    store_c(C, N, i, j, acc, alpha, beta);
}

// v2: 32x32 output tile per block (1024 threads), 32-wide K slabs staged in shared memory.
#define V2_TILE 32
extern "C" __global__ void gemm_v2_f32(float* C, const float* A, const float* B, int M, int N, int K, int ta,
                                       int tb, float alpha, float beta) {
    __shared__ float As[V2_TILE][V2_TILE + 1];
    __shared__ float Bs[V2_TILE][V2_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * V2_TILE + ty;
    const int j = blockIdx.x * V2_TILE + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += V2_TILE) {
        As[ty][tx] = load_a(A, ta, M, K, i, k0 + tx);
        Bs[ty][tx] = load_b(B, tb, K, N, k0 + ty, j);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < V2_TILE; ++kk) acc += As[ty][kk] * Bs[kk][tx];
        __syncthreads();
    }
    if (i < M && j < N) store_c(C, N, i, j, acc, alpha, beta);
}

// v3: 128x128 block tile, 8-deep K slab, 256 threads each owning an 8x8 register tile. A thread's rows
// and columns are two groups of 4 set 64 apart so a warp's shared-memory reads hit distinct banks.
#define V3_BM 128
#define V3_BN 128
#define V3_BK 8
extern "C" __global__ void __launch_bounds__(256) gemm_v3_f32(float* C, const float* A, const float* B, int M,
                                                              int N, int K, int ta, int tb, float alpha,
                                                              float beta) {
    __shared__ __align__(16) float As[V3_BK][V3_BM];
    __shared__ __align__(16) float Bs[V3_BK][V3_BN];
    const int t = threadIdx.x;
    const int tx = t % 16, ty = t / 16;
    const int row0 = blockIdx.y * V3_BM, col0 = blockIdx.x * V3_BN;

    float acc[8][8];
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) acc[a][b] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += V3_BK) {
        // Each thread stages 4 elements of each tile; the index mapping follows the contiguous axis
        // of the stored matrix so global loads coalesce for both layouts.
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const int idx = t + r * 256;
            int ii, kk;
            if (ta) { ii = idx % V3_BM; kk = idx / V3_BM; } else { kk = idx % V3_BK; ii = idx / V3_BK; }
            As[kk][ii] = load_a(A, ta, M, K, row0 + ii, k0 + kk);
            int jj;
            if (tb) { kk = idx % V3_BK; jj = idx / V3_BK; } else { jj = idx % V3_BN; kk = idx / V3_BN; }
            Bs[kk][jj] = load_b(B, tb, K, N, k0 + kk, col0 + jj);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < V3_BK; ++kk) {
            const float4 a_lo = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
            const float4 a_hi = *reinterpret_cast<const float4*>(&As[kk][64 + ty * 4]);
            const float4 b_lo = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
            const float4 b_hi = *reinterpret_cast<const float4*>(&Bs[kk][64 + tx * 4]);
            const float ar[8] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
            const float br[8] = {b_lo.x, b_lo.y, b_lo.z, b_lo.w, b_hi.x, b_hi.y, b_hi.z, b_hi.w};
#pragma unroll
            for (int a = 0; a < 8; ++a)
#pragma unroll
                for (int b = 0; b < 8; ++b) acc[a][b] = fmaf(ar[a], br[b], acc[a][b]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int a = 0; a < 8; ++a) {
        const int i = row0 + (a / 4) * 64 + ty * 4 + (a % 4);
        if (i >= M) continue;
#pragma unroll
        for (int b = 0; b < 8; ++b) {
            const int j = col0 + (b / 4) * 64 + tx * 4 + (b % 4);
            if (j < N) store_c(C, N, i, j, acc[a][b], alpha, beta);
        }
    }
}

// Fills a scratch buffer so the next timed kernel starts with a cold L2 (benchmark harness only).
extern "C" __global__ void l2_flush_f32(float* buf, unsigned long long n, float v) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        buf[i] = buf[i] * 0.5f + v;
}
