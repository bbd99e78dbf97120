// targets: sm_80 sm_90
// Tensor-core convolutions (v3), NHWC activations, OHWI weights, fp32 storage and fp32 accumulation:
//   *_v3_tf32: operands rounded to TF32 (cvt.rna), mma.sync.m16n8k8 (what PyTorch's "fp32" convolutions run);
//   *_v3_bf16: operands rounded to bf16 (cvt.rn), mma.sync.m16n8k16.
// Same implicit GEMMs as conv.cu v2 (forward, grad-input, grad-weight split over the output pixels with
// atomics), gathered on the fly into fp32 shared tiles and rounded when the fragments are built.
// Block tile 128x128x16, 8 warps in 2 (M) x 4 (N), warp tile 64x32 = 4 x 4 mma tiles.
#include "common.cuh"
#include "conv_gather.cuh"


#define TC_BM 128
#define TC_BN 128
#define TC_BK 16
#define TC_PAD 8  // row stride 136 floats: the fragment loads of a warp hit 32 distinct banks (tf32)


// ---------------------------------------------------------------- mma helpers
__device__ __forceinline__ unsigned tc_tf32(float v) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r;
}
// Two floats to packed bf16x2: `lo` in the low half (the lower k index).
__device__ __forceinline__ unsigned tc_bf16x2(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ void tc_mma_tf32(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void tc_mma_bf16(float c[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// C[M,N] (+)= A[M,K] · B[K,N] over k in [k_begin, k_end). BF16 false: TF32.
template <bool BF16, bool A_K_FAST, bool B_K_FAST, class LA, class LB>
__device__ __forceinline__ void tc_tile(float* C, int ldc, int M, int N, int k_begin, int k_end, const LA& la,
                                        const LB& lb, bool atomic) {
    __shared__ __align__(16) float As[TC_BK][TC_BM + TC_PAD];
    __shared__ __align__(16) float Bs[TC_BK][TC_BN + TC_PAD];
    const int t = threadIdx.x;
    const int lane = t % 32, warp = t / 32;
    const int g = lane / 4, q = lane % 4;
    const int wm = (warp % 2) * 64, wn = (warp / 2) * 32;
    const int row0 = blockIdx.y * TC_BM, col0 = blockIdx.x * TC_BN;
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    for (int k0 = k_begin; k0 < k_end; k0 += TC_BK) {
#pragma unroll
        for (int r = 0; r < (TC_BM * TC_BK) / 256; ++r) {
            const int idx = t + r * 256;
            int ii, kk;
            if (A_K_FAST) { kk = idx % TC_BK; ii = idx / TC_BK; } else { ii = idx % TC_BM; kk = idx / TC_BM; }
            const int ga = row0 + ii, gk = k0 + kk;
            As[kk][ii] = (ga < M && gk < k_end) ? la(ga, gk) : 0.0f;
            int jj;
            if (B_K_FAST) { kk = idx % TC_BK; jj = idx / TC_BK; } else { jj = idx % TC_BN; kk = idx / TC_BN; }
            const int gb = col0 + jj, gk2 = k0 + kk;
            Bs[kk][jj] = (gb < N && gk2 < k_end) ? lb(gk2, gb) : 0.0f;
        }
        __syncthreads();
        if (BF16) {
            unsigned a[4][4], b[4][2];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int m = wm + i * 16 + g;
                a[i][0] = tc_bf16x2(As[2 * q][m], As[2 * q + 1][m]);
                a[i][1] = tc_bf16x2(As[2 * q][m + 8], As[2 * q + 1][m + 8]);
                a[i][2] = tc_bf16x2(As[2 * q + 8][m], As[2 * q + 9][m]);
                a[i][3] = tc_bf16x2(As[2 * q + 8][m + 8], As[2 * q + 9][m + 8]);
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int n = wn + j * 8 + g;
                b[j][0] = tc_bf16x2(Bs[2 * q][n], Bs[2 * q + 1][n]);
                b[j][1] = tc_bf16x2(Bs[2 * q + 8][n], Bs[2 * q + 9][n]);
            }
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) tc_mma_bf16(acc[i][j], a[i], b[j][0], b[j][1]);
        } else {
#pragma unroll
            for (int ks = 0; ks < TC_BK; ks += 8) {
                unsigned a[4][4], b[4][2];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const int m = wm + i * 16 + g;
                    a[i][0] = tc_tf32(As[ks + q][m]);
                    a[i][1] = tc_tf32(As[ks + q][m + 8]);
                    a[i][2] = tc_tf32(As[ks + q + 4][m]);
                    a[i][3] = tc_tf32(As[ks + q + 4][m + 8]);
                }
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int n = wn + j * 8 + g;
                    b[j][0] = tc_tf32(Bs[ks + q][n]);
                    b[j][1] = tc_tf32(Bs[ks + q + 4][n]);
                }
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) tc_mma_tf32(acc[i][j], a[i], b[j][0], b[j][1]);
            }
        }
        __syncthreads();
    }
    // Accumulator fragment: c0 (g, 2q), c1 (g, 2q+1), c2 (g+8, 2q), c3 (g+8, 2q+1).
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int row = row0 + wm + i * 16 + g + (e / 2) * 8;
                const int col = col0 + wn + j * 8 + 2 * q + (e % 2);
                if (row >= M || col >= N) continue;
                float* c = C + (long long)row * ldc + col;
                if (atomic) atomicAdd(c, acc[i][j][e]);
                else *c = acc[i][j][e];
            }
}

// ---------------------------------------------------------------- kernels
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v3_tf32(float* y, const float* x, const float* wt, ConvDims d) {
    const int M = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    tc_tile<false, true, true>(y, d.o, M, d.o, 0, K, Im2col{x, d}, WeightT{wt, K}, false);
}

extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v3_tf32(float* gx, const float* gy, const float* wt, ConvDims d) {
    const int M = d.n * d.h * d.w, K = d.kh * d.kw * d.o;
    tc_tile<false, true, false>(gx, d.c, M, d.c, 0, K, GyGather{gy, d}, WeightForInput{wt, d}, false);
}

// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v3_tf32(float* gw, const float* gy, const float* x, ConvDims d,
                                                                         int p_per_split) {
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    tc_tile<false, false, false>(gw, K, d.o, K, p0, p1, GyT{gy, d.o}, Im2colT{Im2col{x, d}}, true);
}

extern "C" __global__ void __launch_bounds__(256) conv_fwd_v3_bf16(float* y, const float* x, const float* wt, ConvDims d) {
    const int M = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    tc_tile<true, true, true>(y, d.o, M, d.o, 0, K, Im2col{x, d}, WeightT{wt, K}, false);
}

extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v3_bf16(float* gx, const float* gy, const float* wt, ConvDims d) {
    const int M = d.n * d.h * d.w, K = d.kh * d.kw * d.o;
    tc_tile<true, true, false>(gx, d.c, M, d.c, 0, K, GyGather{gy, d}, WeightForInput{wt, d}, false);
}

// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v3_bf16(float* gw, const float* gy, const float* x, ConvDims d,
                                                                         int p_per_split) {
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    tc_tile<true, false, false>(gw, K, d.o, K, p0, p1, GyT{gy, d.o}, Im2colT{Im2col{x, d}}, true);
}
