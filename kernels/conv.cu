// targets: sm_80 sm_90
// Convolution without bias, NHWC activations, OHWI weights (o, ky, kx, c). Forward, grad-input and
// grad-weight, in numbered versions: v1 direct (one thread per output element), v2 implicit GEMM
// (register-tiled, im2col gathered on the fly; grad-weight split over K with atomics).
#include "common.cuh"
#include "igemm.cuh"
#include "conv_gather.cuh"


// The element of x at im2col row p = (n, oy, ox) and column k = (ky·kw + kx)·c + c (the order OHWI weights
// flatten in), or null in the padding.
__device__ __forceinline__ const float* col_source(const float* x, const ConvDims& d, long long p, int k) {
    const int ox = (int)(p % d.ow);
    const long long q = p / d.ow;
    const int oy = (int)(q % d.oh);
    const long long n = q / d.oh;
    const int tap = k / d.c, c = k - tap * d.c, ky = tap / d.kw, kx = tap - ky * d.kw;
    const int iy = oy * d.stride + ky - d.pad, ix = ox * d.stride + kx - d.pad;
    if ((unsigned)iy >= (unsigned)d.h || (unsigned)ix >= (unsigned)d.w) return nullptr;
    return x + ((n * d.h + iy) * d.w + ix) * d.c + c;
}

// im2col for the bf16 tensor-core forward of a convolution with few input channels (the stem: 3 channels,
// which v6 does not take): col [n·oh·ow, kp] = bf16(x) gathered at k = (ky·kw + kx)·c + c (the order
// OHWI weights flatten in), zero in the padding and for kh·kw·c ≤ k < kp. With the weights padded to
// [o, kp] the convolution is a 1×1 one over col, which v6 takes for kp = 32.
extern "C" __global__ void im2col_bf16_f32(unsigned short* col, const float* x, ConvDims d, int kp) {
    const int K = d.kh * d.kw * d.c;
    const long long total = (long long)d.n * d.oh * d.ow * kp;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int k = (int)(i % kp);
        const long long p = i / kp;
        unsigned short h = 0;
        const float* src = k < K ? col_source(x, d, p, k) : nullptr;
        if (src) asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(*src));
        col[i] = h;
    }
}

// The stem's forward direct on CUDA cores (`conv_stem_fwd`; opt-in IPDPP_STEM_DIRECT=1): with kh·kw·c ≤ 32
// (27 for a 3×3 kernel over RGB) the tensor-core GEMMs are latency-bound (v6 on channels padded to 8 ran the
// ResNet-18 stem at 10-17 TFLOP/s on an H200, 0.43 ms bf16 / 0.71 ms tf32, for an output of 0.27-0.54 GB).
// A block: 128 output rows × O channels (O = 4 QO); the rows' im2col and the weights ([k][o]) staged in
// shared memory, rounded as the tensor-core path rounds its operands (rnd 1: bf16, nearest even; 2: tf32,
// cvt.rna; 0: exact), so every product is exact in fp32 and only the order of the fp32 sums differs. Thread
// t: channels 4 (t % QO) .. + 3 of rows t / QO + (256 / QO) i. y fp32 or (out16) bf16; with part_sum, each
// block's batch-norm partials (the column sum and the sum of squares about the block's mean, of the stored
// values) as the v6 `_stats` epilogue writes them for 128-row blocks.
#define STEM_ROWS 128
#define STEM_KP 33  // im2col row pitch: rows of a warp's 8 groups fall on distinct banks

__device__ __forceinline__ float stem_round(float v, int rnd) {
    if (rnd == 1) return bf16_round(v);
    if (rnd == 2) {
        unsigned u;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(v));
        return __uint_as_float(u);
    }
    return v;
}

template <int QO>
__device__ __forceinline__ void conv_stem_fwd(void* y, float* part_sum, float* part_m2, const float* x,
                                              const float* w, ConvDims d, int rnd) {
    constexpr int O = 4 * QO, G = 256 / QO, P = STEM_ROWS / G;
    __shared__ float xs[STEM_ROWS * STEM_KP];
    __shared__ __align__(16) float ws[32 * O];
    __shared__ float red[G * O];
    __shared__ float tot[O];
    const int K = d.kh * d.kw * d.c;
    const long long M = (long long)d.n * d.oh * d.ow, r0 = (long long)blockIdx.x * STEM_ROWS;
    if (K > 32 || d.o != O) __trap();  // the launcher's checks
    for (int e = threadIdx.x; e < K * O; e += 256) {
        const int o = e / K, k = e - o * K;  // w [o][k] (OHWI) to ws [k][o]
        ws[k * O + o] = stem_round(w[e], rnd);
    }
    for (int e = threadIdx.x; e < STEM_ROWS * K; e += 256) {
        const int r = e / K, k = e - r * K;
        const long long m = r0 + r;
        const float* src = m < M ? col_source(x, d, m, k) : nullptr;
        xs[r * STEM_KP + k] = src ? stem_round(*src, rnd) : 0.0f;
    }
    __syncthreads();
    const int q = threadIdx.x % QO, g = threadIdx.x / QO;
    float acc[P][4];
#pragma unroll
    for (int i = 0; i < P; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][e] = 0.0f;
    for (int k = 0; k < K; ++k) {
        const float4 wv = *reinterpret_cast<const float4*>(ws + k * O + 4 * q);
#pragma unroll
        for (int i = 0; i < P; ++i) {
            const float a = xs[(g + G * i) * STEM_KP + k];
            acc[i][0] = fmaf(a, wv.x, acc[i][0]);
            acc[i][1] = fmaf(a, wv.y, acc[i][1]);
            acc[i][2] = fmaf(a, wv.z, acc[i][2]);
            acc[i][3] = fmaf(a, wv.w, acc[i][3]);
        }
    }
#pragma unroll
    for (int i = 0; i < P; ++i) {
        const long long m = r0 + g + G * i;
        if (m >= M) continue;
        if (d.out16) {
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][e] = bf16_round(acc[i][e]);  // the statistics' values too
            uint2 v = make_uint2(pack_bf16x2(acc[i][0], acc[i][1]), pack_bf16x2(acc[i][2], acc[i][3]));
            *reinterpret_cast<uint2*>(static_cast<unsigned short*>(y) + m * O + 4 * q) = v;
        } else {
            *reinterpret_cast<float4*>(static_cast<float*>(y) + m * O + 4 * q) =
                make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        }
    }
    if (part_sum == nullptr) return;
    const int rows = (int)min((long long)STEM_ROWS, M - r0);
    // Column sums over the thread's valid rows, then over the G row groups; the same for the squares about
    // the block's column means.
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        float t = 0.0f;
#pragma unroll
        for (int i = 0; i < P; ++i)
            if (g + G * i < rows) t += acc[i][e];
        red[g * O + 4 * q + e] = t;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < O; c += 256) {
        float t = 0.0f;
        for (int j = 0; j < G; ++j) t += red[j * O + c];
        tot[c] = t;
        part_sum[(long long)blockIdx.x * O + c] = t;
    }
    __syncthreads();
    float mean[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) mean[e] = tot[4 * q + e] / (float)rows;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        float t = 0.0f;
#pragma unroll
        for (int i = 0; i < P; ++i)
            if (g + G * i < rows) {
                const float v = acc[i][e] - mean[e];
                t += v * v;
            }
        red[g * O + 4 * q + e] = t;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < O; c += 256) {
        float t = 0.0f;
        for (int j = 0; j < G; ++j) t += red[j * O + c];
        part_m2[(long long)blockIdx.x * O + c] = t;
    }
}
extern "C" __global__ void __launch_bounds__(256) conv_stem_fwd_o16(void* y, float* part_sum, float* part_m2,
                                                                     const float* x, const float* w, ConvDims d,
                                                                     int rnd) {
    conv_stem_fwd<4>(y, part_sum, part_m2, x, w, d, rnd);
}
extern "C" __global__ void __launch_bounds__(256) conv_stem_fwd_o32(void* y, float* part_sum, float* part_m2,
                                                                     const float* x, const float* w, ConvDims d,
                                                                     int rnd) {
    conv_stem_fwd<8>(y, part_sum, part_m2, x, w, d, rnd);
}
extern "C" __global__ void __launch_bounds__(256) conv_stem_fwd_o64(void* y, float* part_sum, float* part_m2,
                                                                     const float* x, const float* w, ConvDims d,
                                                                     int rnd) {
    conv_stem_fwd<16>(y, part_sum, part_m2, x, w, d, rnd);
}

// ---------------------------------------------------------------- v1: direct
extern "C" __global__ void conv_fwd_v1_f32(float* y, const float* x, const float* wt, ConvDims d) {
    const long long total = (long long)d.n * d.oh * d.ow * d.o;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int o = idx % d.o;
        long long p = idx / d.o;
        const int ox = p % d.ow; p /= d.ow;
        const int oy = p % d.oh;
        const int n = p / d.oh;
        float acc = 0.0f;
        for (int ky = 0; ky < d.kh; ++ky) {
            const int iy = oy * d.stride + ky - d.pad;
            if (iy < 0 || iy >= d.h) continue;
            for (int kx = 0; kx < d.kw; ++kx) {
                const int ix = ox * d.stride + kx - d.pad;
                if (ix < 0 || ix >= d.w) continue;
                const float* xp = x + (((long long)n * d.h + iy) * d.w + ix) * d.c;
                const float* wp = wt + (((long long)o * d.kh + ky) * d.kw + kx) * d.c;
                for (int c = 0; c < d.c; ++c) acc += xp[c] * wp[c];
            }
        }
        y[idx] = acc;
    }
}

extern "C" __global__ void conv_bwd_input_v1_f32(float* gx, const float* gy, const float* wt, ConvDims d) {
    const long long total = (long long)d.n * d.h * d.w * d.c;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int c = idx % d.c;
        long long p = idx / d.c;
        const int ix = p % d.w; p /= d.w;
        const int iy = p % d.h;
        const int n = p / d.h;
        float acc = 0.0f;
        for (int ky = 0; ky < d.kh; ++ky) {
            const int ty = iy + d.pad - ky;
            if (ty < 0 || ty % d.stride != 0) continue;
            const int oy = ty / d.stride;
            if (oy >= d.oh) continue;
            for (int kx = 0; kx < d.kw; ++kx) {
                const int tx = ix + d.pad - kx;
                if (tx < 0 || tx % d.stride != 0) continue;
                const int ox = tx / d.stride;
                if (ox >= d.ow) continue;
                const float* g = gy + (((long long)n * d.oh + oy) * d.ow + ox) * d.o;
                for (int o = 0; o < d.o; ++o) acc += g[o] * wt[(((long long)o * d.kh + ky) * d.kw + kx) * d.c + c];
            }
        }
        gx[idx] = acc;
    }
}

extern "C" __global__ void conv_bwd_weight_v1_f32(float* gw, const float* gy, const float* x, ConvDims d) {
    const long long total = (long long)d.o * d.kh * d.kw * d.c;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int c = idx % d.c;
        long long p = idx / d.c;
        const int kx = p % d.kw; p /= d.kw;
        const int ky = p % d.kh;
        const int o = p / d.kh;
        float acc = 0.0f;
        for (int n = 0; n < d.n; ++n)
            for (int oy = 0; oy < d.oh; ++oy) {
                const int iy = oy * d.stride + ky - d.pad;
                if (iy < 0 || iy >= d.h) continue;
                for (int ox = 0; ox < d.ow; ++ox) {
                    const int ix = ox * d.stride + kx - d.pad;
                    if (ix < 0 || ix >= d.w) continue;
                    acc += gy[(((long long)n * d.oh + oy) * d.ow + ox) * d.o + o] *
                           x[(((long long)n * d.h + iy) * d.w + ix) * d.c + c];
                }
            }
        gw[idx] = acc;
    }
}

// ---------------------------------------------------------------- v2: implicit GEMM

// y[P, O] = im2col(x)[P, K] · w[O, K]ᵀ
extern "C" __global__ void __launch_bounds__(256) conv_fwd_v2_f32(float* y, const float* x, const float* wt, ConvDims d) {
    IG_SHARED
    const int M = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    igemm_tile<true, true>(As, Bs, y, d.o, M, d.o, 0, K, Im2col{x, d}, WeightT{wt, K}, 1.0f, 0.0f, false);
}

// gx[N·H·W, C] = gather(gy)[.., kh·kw·O] · w'[kh·kw·O, C]
extern "C" __global__ void __launch_bounds__(256) conv_bwd_input_v2_f32(float* gx, const float* gy, const float* wt, ConvDims d) {
    IG_SHARED
    const int M = d.n * d.h * d.w, K = d.kh * d.kw * d.o;
    igemm_tile<true, false>(As, Bs, gx, d.c, M, d.c, 0, K, GyGather{gy, d}, WeightForInput{wt, d}, 1.0f, 0.0f, false);
}

// gw[O, K] += gy[P, O]ᵀ · im2col(x)[P, K] over this block's slice of P (blockIdx.z); gw must be zeroed.
extern "C" __global__ void __launch_bounds__(256) conv_bwd_weight_v2_f32(float* gw, const float* gy, const float* x, ConvDims d,
                                                                       int p_per_split) {
    IG_SHARED
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    igemm_tile<false, false>(As, Bs, gw, K, d.o, K, p0, p1, GyT{gy, d.o}, Im2colT{Im2col{x, d}}, 1.0f, 0.0f, true);
}
