// targets: sm_80 sm_90
// Tensor-core convolutions (v3, and v4 further down), NHWC activations, OHWI weights, fp32 storage and fp32 accumulation:
//   *_v3_tf32: operands rounded to TF32 (cvt.rna), mma.sync.m16n8k8 (what PyTorch's "fp32" convolutions run);
//   *_v3_bf16: operands rounded to bf16 (cvt.rn), mma.sync.m16n8k16.
// Same implicit GEMMs as conv.cu v2 (forward, grad-input, grad-weight split over the output pixels with
// atomics), gathered on the fly into fp32 shared tiles and rounded when the fragments are built.
// Block tile 128x128x16, 8 warps in 2 (M) x 4 (N), warp tile 64x32 = 4 x 4 mma tiles.
#include "common.cuh"
#include "conv_gather.cuh"
#include "tc_mma.cuh"


#define TC_BM 128
#define TC_BN 128
#define TC_BK 16
#define TC_PAD 8  // row stride 136 floats: the fragment loads of a warp hit 32 distinct banks (tf32)


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
                a[i][0] = pack_bf16x2(As[2 * q][m], As[2 * q + 1][m]);
                a[i][1] = pack_bf16x2(As[2 * q][m + 8], As[2 * q + 1][m + 8]);
                a[i][2] = pack_bf16x2(As[2 * q + 8][m], As[2 * q + 9][m]);
                a[i][3] = pack_bf16x2(As[2 * q + 8][m + 8], As[2 * q + 9][m + 8]);
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int n = wn + j * 8 + g;
                b[j][0] = pack_bf16x2(Bs[2 * q][n], Bs[2 * q + 1][n]);
                b[j][1] = pack_bf16x2(Bs[2 * q + 8][n], Bs[2 * q + 9][n]);
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
    tc_store_acc<4, 4, false>(C, ldc, M, N, row0 + wm, col0 + wn, acc, atomic);
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

// ================================================================ v4
// Same GEMMs as v3 with three changes that matter at ResNet shapes:
//  * the block tile follows the GEMM's column count (output channels): 128x128, 256x64, 256x32 or 256x16,
//    so 16- and 32-channel layers stop wasting 7/8 or 3/4 of every tile;
//  * the operands are gathered as float4 with the per-row geometry computed once per thread instead of a
//    division chain per element (needs channel counts that are multiples of 4 or 16, see each loader);
//  * the next k-tile is loaded into registers while the tensor cores work on the current one.
// The grad-weight GEMM is computed transposed (rows = (ky, kx, c), columns = o) so its tile, too, follows
// the output channels. Shapes these paths do not take (the 3-channel stem) stay on v3.
template <int WMW, int MI, int NJ>
struct Tc4 {
    static constexpr int wmw = WMW, mi = MI, nj = NJ;
    static constexpr int WNW = 8 / WMW;
    static constexpr int BM = WMW * 16 * MI;
    static constexpr int BN = WNW * 8 * NJ;
    static constexpr int NA = BM / 64;  // float4 of the A tile (BM x 16) per thread
    static constexpr int B4 = 4 * BN;   // float4 in the B tile (16 x BN)
    static constexpr int NB = (B4 + 255) / 256;
};

__device__ __forceinline__ float4 tc4_ld(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }

// The k-loop with register prefetch and the fragment/mma code of v3, generalised to MI x NJ warp tiles.
// L supplies load(k0) (global -> its registers) and store(As, Bs) (registers -> shared).
// TRANS_C writes C^T: element (row, col) goes to C[col * ldc + row].
template <bool BF16, class S, bool TRANS_C, class L>
__device__ __forceinline__ void tc4_run(L& ld, float* C, int ldc, int M, int N, int k_begin, int k_end, bool atomic) {
    __shared__ __align__(16) float As[16][S::BM + TC_PAD];
    __shared__ __align__(16) float Bs[16][S::BN + TC_PAD];
    const int t = threadIdx.x;
    const int lane = t % 32, warp = t / 32;
    const int g = lane / 4, q = lane % 4;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int row0 = blockIdx.y * S::BM, col0 = blockIdx.x * S::BN;
    float acc[S::mi][S::nj][4];
#pragma unroll
    for (int i = 0; i < S::mi; ++i)
#pragma unroll
        for (int j = 0; j < S::nj; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    if (k_begin < k_end) ld.load(k_begin);
    for (int k0 = k_begin; k0 < k_end; k0 += 16) {
        ld.store(As, Bs);
        __syncthreads();
        if (k0 + 16 < k_end) ld.load(k0 + 16);  // in flight while the tensor cores run
        if (BF16) {
            unsigned a[S::mi][4], b[S::nj][2];
#pragma unroll
            for (int i = 0; i < S::mi; ++i) {
                const int m = wm + i * 16 + g;
                a[i][0] = pack_bf16x2(As[2 * q][m], As[2 * q + 1][m]);
                a[i][1] = pack_bf16x2(As[2 * q][m + 8], As[2 * q + 1][m + 8]);
                a[i][2] = pack_bf16x2(As[2 * q + 8][m], As[2 * q + 9][m]);
                a[i][3] = pack_bf16x2(As[2 * q + 8][m + 8], As[2 * q + 9][m + 8]);
            }
#pragma unroll
            for (int j = 0; j < S::nj; ++j) {
                const int n = wn + j * 8 + g;
                b[j][0] = pack_bf16x2(Bs[2 * q][n], Bs[2 * q + 1][n]);
                b[j][1] = pack_bf16x2(Bs[2 * q + 8][n], Bs[2 * q + 9][n]);
            }
#pragma unroll
            for (int i = 0; i < S::mi; ++i)
#pragma unroll
                for (int j = 0; j < S::nj; ++j) tc_mma_bf16(acc[i][j], a[i], b[j][0], b[j][1]);
        } else {
#pragma unroll
            for (int ks = 0; ks < 16; ks += 8) {
                unsigned a[S::mi][4], b[S::nj][2];
#pragma unroll
                for (int i = 0; i < S::mi; ++i) {
                    const int m = wm + i * 16 + g;
                    a[i][0] = tc_tf32(As[ks + q][m]);
                    a[i][1] = tc_tf32(As[ks + q][m + 8]);
                    a[i][2] = tc_tf32(As[ks + q + 4][m]);
                    a[i][3] = tc_tf32(As[ks + q + 4][m + 8]);
                }
#pragma unroll
                for (int j = 0; j < S::nj; ++j) {
                    const int n = wn + j * 8 + g;
                    b[j][0] = tc_tf32(Bs[ks + q][n]);
                    b[j][1] = tc_tf32(Bs[ks + q + 4][n]);
                }
#pragma unroll
                for (int i = 0; i < S::mi; ++i)
#pragma unroll
                    for (int j = 0; j < S::nj; ++j) tc_mma_tf32(acc[i][j], a[i], b[j][0], b[j][1]);
            }
        }
        __syncthreads();
    }
    tc_store_acc<S::mi, S::nj, TRANS_C>(C, ldc, M, N, row0 + wm, col0 + wn, acc, atomic);
}

// Forward loader, C % 16 == 0: a k-tile is 16 channels of one filter tap. A (im2col): thread t owns rows
// t/4 + 64i and channels 4(t%4)..+3. B (weights as [K, O]): float4 along k of one output channel.
template <class S>
struct Tc4FwdLoad {
    const float* x;
    const float* w;
    ConvDims d;
    int K, col0, n[S::NA], iy0[S::NA], ix0[S::NA];
    float4 ra[S::NA], rb[S::NB];
    __device__ Tc4FwdLoad(const float* x_, const float* w_, ConvDims d_) : x(x_), w(w_), d(d_) {
        K = d.kh * d.kw * d.c;
        col0 = blockIdx.x * S::BN;
        const int M = d.n * d.oh * d.ow;
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int m = blockIdx.y * S::BM + threadIdx.x / 4 + 64 * i;
            const int ox = m % d.ow, r = m / d.ow;
            n[i] = r / d.oh;
            iy0[i] = m < M ? (r % d.oh) * d.stride - d.pad : -(1 << 28);  // rows past M read zeros
            ix0[i] = ox * d.stride - d.pad;
        }
    }
    __device__ void load(int k0) {
        const int tap = k0 / d.c, c0 = k0 - tap * d.c;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
        const int cq = 4 * (threadIdx.x % 4);
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int iy = iy0[i] + ky, ix = ix0[i] + kx;
            ra[i] = ((unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w)
                        ? tc4_ld(x + (((long long)n[i] * d.h + iy) * d.w + ix) * d.c + c0 + cq)
                        : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int o = col0 + f / 4;
            rb[i] = (f < S::B4 && o < d.o) ? tc4_ld(w + (long long)o * K + k0 + 4 * (f % 4))
                                           : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    }
    __device__ void store(float (&As)[16][S::BM + TC_PAD], float (&Bs)[16][S::BN + TC_PAD]) const {
        const int cq = 4 * (threadIdx.x % 4);
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int r = threadIdx.x / 4 + 64 * i;
            As[cq][r] = ra[i].x; As[cq + 1][r] = ra[i].y; As[cq + 2][r] = ra[i].z; As[cq + 3][r] = ra[i].w;
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= S::B4) break;
            const int j = f / 4, kq = 4 * (f % 4);
            Bs[kq][j] = rb[i].x; Bs[kq + 1][j] = rb[i].y; Bs[kq + 2][j] = rb[i].z; Bs[kq + 3][j] = rb[i].w;
        }
    }
};

// Grad-input loader, O % 16 == 0 and C % 4 == 0: rows m = (n, iy, ix), a k-tile is 16 output channels of one
// tap. A gathers gy where the stride divides (zeros elsewhere); B is w[o, ky, kx, c], float4 along c.
template <class S>
struct Tc4BwdInputLoad {
    const float* gy;
    const float* w;
    ConvDims d;
    int col0, n[S::NA], ty0[S::NA], tx0[S::NA];
    float4 ra[S::NA], rb[S::NB];
    __device__ Tc4BwdInputLoad(const float* gy_, const float* w_, ConvDims d_) : gy(gy_), w(w_), d(d_) {
        col0 = blockIdx.x * S::BN;
        const int M = d.n * d.h * d.w;
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int m = blockIdx.y * S::BM + threadIdx.x / 4 + 64 * i;
            const int ix = m % d.w, r = m / d.w;
            n[i] = r / d.h;
            ty0[i] = m < M ? (r % d.h) + d.pad : -(1 << 28);
            tx0[i] = ix + d.pad;
        }
    }
    __device__ void load(int k0) {
        const int tap = k0 / d.o, o0 = k0 - tap * d.o;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
        const int oq = 4 * (threadIdx.x % 4);
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int ty = ty0[i] - ky, tx = tx0[i] - kx;
            const int oy = ty / d.stride, ox = tx / d.stride;
            const bool ok = ty >= 0 && tx >= 0 && oy * d.stride == ty && ox * d.stride == tx && oy < d.oh && ox < d.ow;
            ra[i] = ok ? tc4_ld(gy + (((long long)n[i] * d.oh + oy) * d.ow + ox) * d.o + o0 + oq)
                       : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int kk = f / (S::BN / 4), c = col0 + 4 * (f % (S::BN / 4));
            rb[i] = (f < S::B4 && c < d.c) ? tc4_ld(w + ((long long)(o0 + kk) * d.kh * d.kw + tap) * d.c + c)
                                           : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    }
    __device__ void store(float (&As)[16][S::BM + TC_PAD], float (&Bs)[16][S::BN + TC_PAD]) const {
        const int oq = 4 * (threadIdx.x % 4);
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int r = threadIdx.x / 4 + 64 * i;
            As[oq][r] = ra[i].x; As[oq + 1][r] = ra[i].y; As[oq + 2][r] = ra[i].z; As[oq + 3][r] = ra[i].w;
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= S::B4) break;
            const int kk = f / (S::BN / 4), j = 4 * (f % (S::BN / 4));
            *reinterpret_cast<float4*>(&Bs[kk][j]) = rb[i];
        }
    }
};

// Grad-weight loader (transposed GEMM gw^T[K, O] = im2col^T · gy over the pixels p), C % 4 == 0 and
// O % 4 == 0. A(k, p) = im2col(p, k): float4 along k (4 channels of one tap), a k-tile is 16 pixels; each
// thread keeps the taps of its fixed rows and decodes its pixel once per tile. B(p, o) = gy[p, o].
template <class S>
struct Tc4BwdWeightLoad {
    const float* gy;
    const float* x;
    ConvDims d;
    int col0, p_end, ky[S::NA], kx[S::NA], c[S::NA];
    float4 ra[S::NA], rb[S::NB];
    __device__ Tc4BwdWeightLoad(const float* gy_, const float* x_, ConvDims d_, int p_end_)
        : gy(gy_), x(x_), d(d_), p_end(p_end_) {
        col0 = blockIdx.x * S::BN;
        const int K = d.kh * d.kw * d.c;
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int k = blockIdx.y * S::BM + 4 * (f % (S::BM / 4));
            const int tap = k / d.c;
            c[i] = k - tap * d.c;
            ky[i] = k < K ? tap / d.kw : -(1 << 28);  // rows past K read zeros
            kx[i] = tap % d.kw;
        }
    }
    __device__ void load(int p0) {
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int p = p0 + f / (S::BM / 4);
            const int ox = p % d.ow, r = p / d.ow;
            const int oy = r % d.oh, nn = r / d.oh;
            const int iy = oy * d.stride - d.pad + ky[i], ix = ox * d.stride - d.pad + kx[i];
            ra[i] = (p < p_end && (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w)
                        ? tc4_ld(x + (((long long)nn * d.h + iy) * d.w + ix) * d.c + c[i])
                        : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int p = p0 + f / (S::BN / 4), o = col0 + 4 * (f % (S::BN / 4));
            rb[i] = (f < S::B4 && p < p_end && o < d.o) ? tc4_ld(gy + (long long)p * d.o + o)
                                                         : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    }
    __device__ void store(float (&As)[16][S::BM + TC_PAD], float (&Bs)[16][S::BN + TC_PAD]) const {
#pragma unroll
        for (int i = 0; i < S::NA; ++i) {
            const int f = threadIdx.x + 256 * i;
            *reinterpret_cast<float4*>(&As[f / (S::BM / 4)][4 * (f % (S::BM / 4))]) = ra[i];
        }
#pragma unroll
        for (int i = 0; i < S::NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= S::B4) break;
            *reinterpret_cast<float4*>(&Bs[f / (S::BN / 4)][4 * (f % (S::BN / 4))]) = rb[i];
        }
    }
};

template <bool BF16, int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_fwd_v4(float* y, const float* x, const float* wt, ConvDims d) {
    using S = Tc4<WMW, MI, NJ>;
    Tc4FwdLoad<S> ld(x, wt, d);
    tc4_run<BF16, S, false>(ld, y, d.o, d.n * d.oh * d.ow, d.o, 0, d.kh * d.kw * d.c, false);
}
template <bool BF16, int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_input_v4(float* gx, const float* gy, const float* wt, ConvDims d) {
    using S = Tc4<WMW, MI, NJ>;
    Tc4BwdInputLoad<S> ld(gy, wt, d);
    tc4_run<BF16, S, false>(ld, gx, d.c, d.n * d.h * d.w, d.c, 0, d.kh * d.kw * d.o, false);
}
// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
template <bool BF16, int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_weight_v4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) {
    using S = Tc4<WMW, MI, NJ>;
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    Tc4BwdWeightLoad<S> ld(gy, x, d, p1);
    tc4_run<BF16, S, true>(ld, gw, K, K, d.o, p0, p1, true);
}

// Entry points: {fwd, bwd_input, bwd_weight} x {tf32, bf16} x tile width n128 (128x128), n64 (256x64),
// n32 (256x32), n16 (256x16); the launcher picks the width from the output channels.
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_tf32_n128(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<false, 2, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_tf32_n64(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<false, 4, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_tf32_n32(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<false, 8, 2, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_tf32_n16(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<false, 8, 2, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_bf16_n128(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<true, 2, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_bf16_n64(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<true, 4, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_bf16_n32(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<true, 8, 2, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v4_bf16_n16(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v4<true, 8, 2, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_tf32_n128(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<false, 2, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_tf32_n64(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<false, 4, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_tf32_n32(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<false, 8, 2, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_tf32_n16(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<false, 8, 2, 2>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_bf16_n128(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<true, 2, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_bf16_n64(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<true, 4, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_bf16_n32(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<true, 8, 2, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v4_bf16_n16(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v4<true, 8, 2, 2>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_tf32_n128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<false, 2, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_tf32_n64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<false, 4, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_tf32_n32(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<false, 8, 2, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_tf32_n16(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<false, 8, 2, 2>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_bf16_n128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<true, 2, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_bf16_n64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<true, 4, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_bf16_n32(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<true, 8, 2, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v4_bf16_n16(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v4<true, 8, 2, 2>(gw, gy, x, d, p_per_split); }

// ================================================================ v5 (bf16)
// v4's loaders and tiles with the bf16 data path of a tensor-core GEMM: operands are rounded to bf16 once,
// when they are stored to shared memory (v4 keeps fp32 there and rounds every fragment it builds, once per
// warp that reads it), k-tiles are 32 deep (two m16n8k16 steps per barrier pair), and fragments come from
// ldmatrix (one instruction per 16x16 A tile or per pair of 8-column B tiles, instead of 8 scalar loads and
// 4 conversions). Each operand is stored in the orientation its global rows have, so every thread writes
// 8 contiguous bytes: [m][k] or [n][k] read with ldmatrix, [k][m] or [k][n] read with ldmatrix.trans. Rows
// are padded by 8 elements, which puts the 8 row addresses of every ldmatrix on distinct bank groups.
// bf16 only; shapes: forward C % 32 == 0, grad-input O % 32 == 0 and C % 4 == 0, grad-weight C % 4 == 0 and
// O % 4 == 0 (the launcher sends the rest to v4 or v3).
template <int WMW, int MI, int NJ>
struct Tc5 {
    static constexpr int wmw = WMW, mi = MI, nj = NJ;
    static constexpr int WNW = 8 / WMW;
    static constexpr int BM = WMW * 16 * MI;
    static constexpr int BN = WNW * 8 * NJ;
    static constexpr int BK = 32;
};

__device__ __forceinline__ uint2 tc5_pack(float4 v) { return make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w)); }
__device__ __forceinline__ uint2 tc5_ld_pack(const float* p) { return tc5_pack(tc4_ld(p)); }

// Shared-memory geometry of one operand: ROWS x STRIDE bf16, STRIDE = row length + 8.
template <int ROWS, int LEN>
struct Tc5Smem {
    static constexpr int STRIDE = LEN + 8;
    static constexpr int SIZE = ROWS * STRIDE;
};

// The k-loop: L::load(k0) fills its registers (packed bf16), L::store(As, Bs) writes them; A_MK: A is
// stored [m][k] (else [k][m]); B_NK: B is stored [n][k] (else [k][n]). TRANS_C as in v4.
template <class S, bool A_MK, bool B_NK, bool TRANS_C, class L>
__device__ __forceinline__ void tc5_run(L& ld, float* C, int ldc, int M, int N, int k_begin, int k_end, bool atomic) {
    using SA = Tc5Smem<A_MK ? S::BM : S::BK, A_MK ? S::BK : S::BM>;
    using SB = Tc5Smem<B_NK ? S::BN : S::BK, B_NK ? S::BK : S::BN>;
    __shared__ __align__(16) unsigned short As[SA::SIZE];
    __shared__ __align__(16) unsigned short Bs[SB::SIZE];
    const int t = threadIdx.x;
    const int warp = t / 32;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int row0 = blockIdx.y * S::BM, col0 = blockIdx.x * S::BN;
    float acc[S::mi][S::nj][4];
#pragma unroll
    for (int i = 0; i < S::mi; ++i)
#pragma unroll
        for (int j = 0; j < S::nj; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    if (k_begin < k_end) ld.load(k_begin);
    for (int k0 = k_begin; k0 < k_end; k0 += S::BK) {
        ld.store(As, Bs);
        __syncthreads();
        if (k0 + S::BK < k_end) ld.load(k0 + S::BK);  // in flight while the tensor cores run
#pragma unroll
        for (int ks = 0; ks < S::BK; ks += 16)
            tc_bf16_kstep<S::mi, S::nj, A_MK, B_NK>(acc, As, SA::STRIDE, Bs, SB::STRIDE, ks, wm, wn);
        __syncthreads();
    }
    tc_store_acc<S::mi, S::nj, TRANS_C>(C, ldc, M, N, row0 + wm, col0 + wn, acc, atomic);
}

// A rows of the forward / grad-input GEMMs, [m][k]: 256 / BM threads share a row, each loading
// 32 / (256 / BM) consecutive k (one tap: the channel count is a multiple of 32).
template <class S>
struct Tc5Rows {
    static constexpr int TPR = 256 / S::BM;  // threads per row: 2 or 1
    static constexpr int FA = 8 / TPR;       // float4 per thread per k-tile
    static __device__ int row() { return threadIdx.x / TPR; }
    static __device__ int koff() { return (threadIdx.x % TPR) * (4 * FA); }
    template <int STRIDE>
    static __device__ void store(unsigned short* As, const uint2 (&ra)[FA]) {
        unsigned short* p = As + row() * STRIDE + koff();
#pragma unroll
        for (int j = 0; j < FA; ++j) *reinterpret_cast<uint2*>(p + 4 * j) = ra[j];
    }
};

// Forward: A = im2col [m][k], B = weights [n = o][k] (w[o * K + k], contiguous in k).
template <class S>
struct Tc5FwdLoad {
    using R = Tc5Rows<S>;
    static constexpr int B4 = 8 * S::BN;               // float4 in the B tile (BN x 32)
    static constexpr int NB = (B4 + 255) / 256;
    const float* x;
    const float* w;
    ConvDims d;
    int K, col0, n, iy0, ix0;
    uint2 ra[R::FA], rb[NB];
    __device__ Tc5FwdLoad(const float* x_, const float* w_, ConvDims d_) : x(x_), w(w_), d(d_) {
        K = d.kh * d.kw * d.c;
        col0 = blockIdx.x * S::BN;
        const int m = blockIdx.y * S::BM + R::row();
        const int ox = m % d.ow, r = m / d.ow;
        n = r / d.oh;
        iy0 = m < d.n * d.oh * d.ow ? (r % d.oh) * d.stride - d.pad : -(1 << 28);
        ix0 = ox * d.stride - d.pad;
    }
    __device__ void load(int k0) {
        const int tap = k0 / d.c, c0 = k0 - tap * d.c;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
        const int iy = iy0 + ky, ix = ix0 + kx;
        const bool ok = (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w;
        const float* p = x + (((long long)n * d.h + iy) * d.w + ix) * d.c + c0 + R::koff();
#pragma unroll
        for (int j = 0; j < R::FA; ++j) ra[j] = ok ? tc5_ld_pack(p + 4 * j) : make_uint2(0u, 0u);
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int o = col0 + f / 8;
            rb[i] = (f < B4 && o < d.o) ? tc5_ld_pack(w + (long long)o * K + k0 + 4 * (f % 8)) : make_uint2(0u, 0u);
        }
    }
    __device__ void store(unsigned short* As, unsigned short* Bs) const {
        R::template store<S::BK + 8>(As, ra);
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= B4) break;
            *reinterpret_cast<uint2*>(&Bs[(f / 8) * (S::BK + 8) + 4 * (f % 8)]) = rb[i];
        }
    }
};

// Grad-input: A = gathered gy [m = (n, iy, ix)][k = (tap, o)], B = w[o, tap, c] as [k][n = c].
template <class S>
struct Tc5BwdInputLoad {
    using R = Tc5Rows<S>;
    static constexpr int B4 = 8 * S::BN;               // float4 in the B tile (32 x BN)
    static constexpr int NB = (B4 + 255) / 256;
    const float* gy;
    const float* w;
    ConvDims d;
    int col0, n, ty0, tx0;
    uint2 ra[R::FA], rb[NB];
    __device__ Tc5BwdInputLoad(const float* gy_, const float* w_, ConvDims d_) : gy(gy_), w(w_), d(d_) {
        col0 = blockIdx.x * S::BN;
        const int m = blockIdx.y * S::BM + R::row();
        const int ix = m % d.w, r = m / d.w;
        n = r / d.h;
        ty0 = m < d.n * d.h * d.w ? (r % d.h) + d.pad : -(1 << 28);
        tx0 = ix + d.pad;
    }
    __device__ void load(int k0) {
        const int tap = k0 / d.o, o0 = k0 - tap * d.o;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
        const int ty = ty0 - ky, tx = tx0 - kx;
        const int oy = ty / d.stride, ox = tx / d.stride;
        const bool ok = ty >= 0 && tx >= 0 && oy * d.stride == ty && ox * d.stride == tx && oy < d.oh && ox < d.ow;
        const float* p = gy + (((long long)n * d.oh + oy) * d.ow + ox) * d.o + o0 + R::koff();
#pragma unroll
        for (int j = 0; j < R::FA; ++j) ra[j] = ok ? tc5_ld_pack(p + 4 * j) : make_uint2(0u, 0u);
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int kk = f / (S::BN / 4), c = col0 + 4 * (f % (S::BN / 4));
            rb[i] = (f < B4 && c < d.c) ? tc5_ld_pack(w + ((long long)(o0 + kk) * d.kh * d.kw + tap) * d.c + c)
                                        : make_uint2(0u, 0u);
        }
    }
    __device__ void store(unsigned short* As, unsigned short* Bs) const {
        R::template store<S::BK + 8>(As, ra);
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= B4) break;
            *reinterpret_cast<uint2*>(&Bs[(f / (S::BN / 4)) * (S::BN + 8) + 4 * (f % (S::BN / 4))]) = rb[i];
        }
    }
};

// Grad-weight, transposed GEMM gw^T[K, O] over the pixels p: A = im2col^T stored [k = p][m = (tap, c)],
// B = gy stored [k = p][n = o]. Each thread keeps one column group of A (fixed tap and channels).
template <class S>
struct Tc5BwdWeightLoad {
    static constexpr int AQ = S::BM / 4;              // float4 per A row (one pixel)
    static constexpr int NA = 8 * S::BM / 256;         // float4 of A per thread per k-tile
    static constexpr int B4 = 8 * S::BN;
    static constexpr int NB = (B4 + 255) / 256;
    const float* gy;
    const float* x;
    ConvDims d;
    int col0, p_end, ky, kx, c;
    uint2 ra[NA], rb[NB];
    __device__ Tc5BwdWeightLoad(const float* gy_, const float* x_, ConvDims d_, int p_end_)
        : gy(gy_), x(x_), d(d_), p_end(p_end_) {
        col0 = blockIdx.x * S::BN;
        const int k = blockIdx.y * S::BM + 4 * (threadIdx.x % AQ);
        const int tap = k / d.c;
        c = k - tap * d.c;
        ky = k < d.kh * d.kw * d.c ? tap / d.kw : -(1 << 28);  // rows past K read zeros
        kx = tap % d.kw;
    }
    __device__ void load(int p0) {
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int p = p0 + threadIdx.x / AQ + i * (256 / AQ);
            const int ox = p % d.ow, r = p / d.ow;
            const int oy = r % d.oh, nn = r / d.oh;
            const int iy = oy * d.stride - d.pad + ky, ix = ox * d.stride - d.pad + kx;
            ra[i] = (p < p_end && (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w)
                        ? tc5_ld_pack(x + (((long long)nn * d.h + iy) * d.w + ix) * d.c + c)
                        : make_uint2(0u, 0u);
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            const int p = p0 + f / (S::BN / 4), o = col0 + 4 * (f % (S::BN / 4));
            rb[i] = (f < B4 && p < p_end && o < d.o) ? tc5_ld_pack(gy + (long long)p * d.o + o) : make_uint2(0u, 0u);
        }
    }
    __device__ void store(unsigned short* As, unsigned short* Bs) const {
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int pl = threadIdx.x / AQ + i * (256 / AQ);
            *reinterpret_cast<uint2*>(&As[pl * (S::BM + 8) + 4 * (threadIdx.x % AQ)]) = ra[i];
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= B4) break;
            *reinterpret_cast<uint2*>(&Bs[(f / (S::BN / 4)) * (S::BN + 8) + 4 * (f % (S::BN / 4))]) = rb[i];
        }
    }
};

template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_fwd_v5(float* y, const float* x, const float* wt, ConvDims d) {
    using S = Tc5<WMW, MI, NJ>;
    Tc5FwdLoad<S> ld(x, wt, d);
    tc5_run<S, true, true, false>(ld, y, d.o, d.n * d.oh * d.ow, d.o, 0, d.kh * d.kw * d.c, false);
}
template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_input_v5(float* gx, const float* gy, const float* wt, ConvDims d) {
    using S = Tc5<WMW, MI, NJ>;
    Tc5BwdInputLoad<S> ld(gy, wt, d);
    tc5_run<S, true, false, false>(ld, gx, d.c, d.n * d.h * d.w, d.c, 0, d.kh * d.kw * d.o, false);
}
// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_weight_v5(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) {
    using S = Tc5<WMW, MI, NJ>;
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    Tc5BwdWeightLoad<S> ld(gy, x, d, p1);
    tc5_run<S, false, false, true>(ld, gw, K, K, d.o, p0, p1, true);
}

// Entry points: {fwd, bwd_input, bwd_weight} x tile width (as v4), bf16 only.
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v5_bf16_n128(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v5<2, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v5_bf16_n64(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v5<4, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v5_bf16_n32(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v5<8, 2, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v5_bf16_n16(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v5<8, 2, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v5_bf16_n128(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v5<2, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v5_bf16_n64(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v5<4, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v5_bf16_n32(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v5<8, 2, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v5_bf16_n16(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v5<8, 2, 2>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v5_bf16_n128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v5<2, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v5_bf16_n64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v5<4, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v5_bf16_n32(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v5<8, 2, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v5_bf16_n16(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v5<8, 2, 2>(gw, gy, x, d, p_per_split); }
