// targets: sm_80 sm_90
// Convolution without bias, NHWC activations, OHWI weights (o, ky, kx, c). Forward, grad-input and
// grad-weight, in numbered versions: v1 direct (one thread per output element), v2 implicit GEMM
// (register-tiled, im2col gathered on the fly; grad-weight split over K with atomics).
#include "common.cuh"
#include "igemm.cuh"
#include "conv_gather.cuh"


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
        if (k < K) {
            const int ox = (int)(p % d.ow);
            const long long q = p / d.ow;
            const int oy = (int)(q % d.oh);
            const long long n = q / d.oh;
            const int tap = k / d.c, c = k - tap * d.c, ky = tap / d.kw, kx = tap - ky * d.kw;
            const int iy = oy * d.stride + ky - d.pad, ix = ox * d.stride + kx - d.pad;
            if ((unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w)
                asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x[((n * d.h + iy) * d.w + ix) * d.c + c]));
        }
        col[i] = h;
    }
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
