// Implicit-GEMM tile shared by the convolution kernels: C[M,N] (+)= alpha * A[M,K] * B[K,N] over the
// K range [k_begin, k_end), where A and B are functors that gather their elements (im2col on the fly).
// 128x128 block tile, 8-deep K slab, 256 threads with an 8x8 register tile each (as gemm_v3_f32).
// A_K_FAST / B_K_FAST say which axis of the stored operand is contiguous, so staging loads coalesce.
#pragma once

#define IG_BM 128
#define IG_BN 128
#define IG_BK 8

// The staging tiles are declared once per kernel (IG_SHARED) and passed in, so a kernel that
// instantiates several variants still uses 8 KiB of shared memory, not 8 KiB per variant.
#define IG_SHARED                                   \
    __shared__ __align__(16) float As[IG_BK][IG_BM]; \
    __shared__ __align__(16) float Bs[IG_BK][IG_BN];

// The register tile of the block tile at (row0, col0): acc[a][b] = Σ_k A[i][k]·B[k][j] over [k_begin, k_end)
// for row i = row0 + (a / 4)·64 + ty·4 + a % 4 and column j = col0 + (b / 4)·64 + tx·4 + b % 4 (tx =
// threadIdx.x % 16, ty = threadIdx.x / 16); elements outside M × N read as 0.
template <bool A_K_FAST, bool B_K_FAST, class LA, class LB>
__device__ __forceinline__ void igemm_acc(float (&acc)[8][8], float (&As)[IG_BK][IG_BM], float (&Bs)[IG_BK][IG_BN],
                                          int row0, int col0, int M, int N, int k_begin, int k_end, const LA& la,
                                          const LB& lb) {
    const int t = threadIdx.x;
    const int tx = t % 16, ty = t / 16;
#pragma unroll
    for (int a = 0; a < 8; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) acc[a][b] = 0.0f;

    for (int k0 = k_begin; k0 < k_end; k0 += IG_BK) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            const int idx = t + r * 256;
            int ii, kk;
            if (A_K_FAST) { kk = idx % IG_BK; ii = idx / IG_BK; } else { ii = idx % IG_BM; kk = idx / IG_BM; }
            const int ga = row0 + ii, gk = k0 + kk;
            As[kk][ii] = (ga < M && gk < k_end) ? la(ga, gk) : 0.0f;
            int jj;
            if (B_K_FAST) { kk = idx % IG_BK; jj = idx / IG_BK; } else { jj = idx % IG_BN; kk = idx / IG_BN; }
            const int gb = col0 + jj, gk2 = k0 + kk;
            Bs[kk][jj] = (gb < N && gk2 < k_end) ? lb(gk2, gb) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < IG_BK; ++kk) {
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
}

template <bool A_K_FAST, bool B_K_FAST, class LA, class LB>
__device__ __forceinline__ void igemm_tile(float (&As)[IG_BK][IG_BM], float (&Bs)[IG_BK][IG_BN], float* C, int ldc,
                                           int M, int N, int k_begin, int k_end, const LA& la, const LB& lb,
                                           float alpha, float beta, bool atomic) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int row0 = blockIdx.y * IG_BM, col0 = blockIdx.x * IG_BN;
    float acc[8][8];
    igemm_acc<A_K_FAST, B_K_FAST>(acc, As, Bs, row0, col0, M, N, k_begin, k_end, la, lb);
#pragma unroll
    for (int a = 0; a < 8; ++a) {
        const int i = row0 + (a / 4) * 64 + ty * 4 + (a % 4);
        if (i >= M) continue;
#pragma unroll
        for (int b = 0; b < 8; ++b) {
            const int j = col0 + (b / 4) * 64 + tx * 4 + (b % 4);
            if (j >= N) continue;
            float* c = C + (long long)i * ldc + j;
            if (atomic) atomicAdd(c, alpha * acc[a][b]);
            else *c = (beta == 0.0f) ? alpha * acc[a][b] : alpha * acc[a][b] + beta * *c;
        }
    }
}
