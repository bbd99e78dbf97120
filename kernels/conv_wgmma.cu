// targets: sm_90a
// Convolution forward v7 on Hopper warpgroup MMA (wgmma.mma_async, sm_90a only), bf16 operands (the v6 bf16
// copies: x NHWC, w OHWI), fp32 accumulation and fp32 output y [n, oh, ow, o]. Implicit GEMM as v6: A = im2col
// of x [m = (n, oy, ox)][k = (ky, kx, c)], B = w [n = o][k], both K-major, so a 32-deep k-tile is 32 channels
// of one tap (C % 32 == 0) and every 16-byte copy moves 8 channels of one pixel. Two warpgroups (256
// threads) per 128 x BN block tile, each owning 64 rows; k-tiles stream through a 3-stage cp.async ring into
// the canonical no-swizzle layout of wgmma.cuh (BK = 32: LBO 128 bytes, SBO 512 bytes), zero-filled in the
// padding and past the last row. Grad-input and grad-weight stay on v6.
#include "common.cuh"
#include "conv_gather.cuh"
#include "wgmma.cuh"

#define C7_BM 128
#define C7_BK 32
#define C7_STAGES 3

template <int BN>
__device__ __forceinline__ void conv_fwd_v7(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) {
    constexpr int A_BYTES = C7_BM * C7_BK * 2, STAGE = (C7_BM + BN) * C7_BK * 2;
    constexpr int SBO = C7_BK / 8 * 128;
    constexpr int NA = C7_BM * C7_BK / 8 / 256;  // A chunks per thread per k-tile
    constexpr int NB = (BN * C7_BK / 8 + 255) / 256;
    extern __shared__ __align__(128) unsigned char c7_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(C7_STAGES * STAGE)) __trap();
    const int M = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int row0 = blockIdx.y * C7_BM, col0 = blockIdx.x * BN;
    // Chunk f = t + 256 i of the A tile: row (f / 32) * 8 + f % 8 = 8 (t / 32) + t % 8 + 64 i, channel
    // group (f / 8) % 4 = (t / 8) % 4 for every i; its bytes at 16 f (wgmma.cuh).
    const int kc = 8 * ((threadIdx.x / 8) % 4);
    int n_[NA], iy0[NA], ix0[NA];
#pragma unroll
    for (int i = 0; i < NA; ++i) {
        const int m = row0 + 8 * (threadIdx.x / 32) + threadIdx.x % 8 + 64 * i;
        const int ox = m % d.ow, r = m / d.ow;
        n_[i] = r / d.oh;
        iy0[i] = m < M ? (r % d.oh) * d.stride - d.pad : -(1 << 28);
        ix0[i] = ox * d.stride - d.pad;
    }
    const auto load = [&](int kt, unsigned char* As) {
        const int k0 = kt * C7_BK, tap = k0 / d.c, c0 = k0 - tap * d.c;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int iy = iy0[i] + ky, ix = ix0[i] + kx;
            const bool ok = (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w;
            const unsigned short* p = ok ? x + (((long long)n_[i] * d.h + iy) * d.w + ix) * d.c + c0 + kc : x;
            wg_cp16(As + 16 * (threadIdx.x + 256 * i), p, ok);
        }
        unsigned char* Bs = As + A_BYTES;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= BN * C7_BK / 8) break;
            const int o = col0 + (f / 32) * 8 + f % 8, k = k0 + 8 * ((f / 8) % 4);
            const bool ok = o < d.o;
            wg_cp16(Bs + 16 * f, ok ? w + (long long)o * K + k : w, ok);
        }
    };
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
    const int ntiles = K / C7_BK;
#pragma unroll
    for (int s = 0; s < C7_STAGES - 1; ++s) {
        if (s < ntiles) load(s, c7_smem + s * STAGE);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    const int wg = threadIdx.x / 128;  // this warpgroup's 64 rows start at row 64 wg: 8 row groups of SBO
    for (int kt = 0; kt < ntiles; ++kt) {
        asm volatile("cp.async.wait_group %0;" ::"n"(C7_STAGES - 2) : "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();  // tile kt is in for every thread; the stage refilled below is idle
        const int nt = kt + C7_STAGES - 1;
        if (nt < ntiles) load(nt, c7_smem + (nt % C7_STAGES) * STAGE);
        asm volatile("cp.async.commit_group;" ::: "memory");
        const unsigned char* As = c7_smem + (kt % C7_STAGES) * STAGE + wg * 8 * SBO;
        const unsigned char* Bs = c7_smem + (kt % C7_STAGES) * STAGE + A_BYTES;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < C7_BK / 16; ++s)
            wg_mma<BN>(acc, wg_desc(As + 256 * s, 128, SBO), wg_desc(Bs + 256 * s, 128, SBO));
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    // Accumulators (wgmma.cuh): warp w of the warpgroup, lane (g, q): acc[4 j + 2 h + e] at row 16 w + g + 8 h
    // of the warpgroup's 64, column 8 j + 2 q + e.
    const int lane = threadIdx.x % 32, wq = (threadIdx.x / 32) % 4, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int r = row0 + 64 * wg + 16 * wq + g + 8 * h;
        if (r >= M) continue;
        float* out = y + (long long)r * d.o;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int c = col0 + 8 * j + 2 * q + e;
                if (c < d.o) out[c] = acc[4 * j + 2 * h + e];
            }
    }
}

extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n64(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<64>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v7_bf16_n128(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v7<128>(y, x, w, d); }
