// targets: sm_80 sm_90
// Tensor-core convolutions v6 (bf16): the operands are bf16 in global memory (activations and weights cast
// once by cast_bf16_f32, elementwise.cu), so a k-tile is copied global -> shared with cp.async, 16 bytes
// (8 channels) per copy and no register staging, through a 3-stage ring: two k-tiles are in flight while the
// tensor cores work on the third. Out-of-range chunks (padding, rows past the end) are zero-filled by the
// copy itself (src-size 0). Fragments come from ldmatrix as in v5; fp32 accumulation and fp32 output.
// Tiles as v4/v5 (the width follows the output channels). Shapes: forward C % 32 == 0; grad-input
// O % 32 == 0 and C % 8 == 0 (stride > 1: by residue classes, `_strided`, no zero rows); grad-weight C % 8 == 0 and O % 8 == 0 (the launcher sends the rest elsewhere).
// Dynamic shared memory (above the 48 KB static limit); a launch with less than the tile needs traps.
// __launch_bounds__(256, 2): two blocks per SM (<= 128 registers; ptxas sm_90: no spills but 4 bytes in
// fwd n64), so one block's barrier wait overlaps the other's tensor-core work.
#include "common.cuh"
#include "conv_gather.cuh"
#include "tc_mma.cuh"

template <int WMW, int MI, int NJ>
struct Tc6 {
    static constexpr int wmw = WMW, mi = MI, nj = NJ;
    static constexpr int BM = WMW * 16 * MI;
    static constexpr int BN = (8 / WMW) * 8 * NJ;
    static constexpr int BK = 32;
    static constexpr int STAGES = 3;
};

// One operand's shared tile: ROWS rows of LEN bf16, padded by 8 (ldmatrix rows on distinct bank groups,
// every row start 16-byte aligned).
template <int ROWS, int LEN>
struct Tc6Smem {
    static constexpr int STRIDE = LEN + 8;
    static constexpr int SIZE = ROWS * STRIDE;
};

// 16-byte global -> shared copy; `ok` false zero-fills the destination without reading `src`.
__device__ __forceinline__ void tc6_cp16(unsigned short* dst, const unsigned short* src, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(tc5_smem_addr(dst)), "l"(src),
                 "r"(ok ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void tc6_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void tc6_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// The k-loop over a STAGES-deep ring. L::load(k0, As, Bs) issues the copies of one k-tile; E(acc, rb, cb)
// writes a warp's accumulators whose top-left corner is (rb, cb). A_MK: A stored [m][k] (else [k][m]);
// B_NK: B stored [n][k] (else [k][n]).
template <class S, bool A_MK, bool B_NK, class L, class E>
__device__ __forceinline__ void tc6_gemm(L& ld, const E& epi, int k_begin, int k_end) {
    using SA = Tc6Smem<A_MK ? S::BM : S::BK, A_MK ? S::BK : S::BM>;
    using SB = Tc6Smem<B_NK ? S::BN : S::BK, B_NK ? S::BK : S::BN>;
    constexpr int STAGE = SA::SIZE + SB::SIZE;
    extern __shared__ __align__(16) unsigned short tc6_smem[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(S::STAGES * STAGE * 2)) __trap();

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int row0 = blockIdx.y * S::BM, col0 = blockIdx.x * S::BN;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
    float acc[S::mi][S::nj][4];
#pragma unroll
    for (int i = 0; i < S::mi; ++i)
#pragma unroll
        for (int j = 0; j < S::nj; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    const int ntiles = k_end > k_begin ? (k_end - k_begin + S::BK - 1) / S::BK : 0;
#pragma unroll
    for (int s = 0; s < S::STAGES - 1; ++s) {
        if (s < ntiles) ld.load(k_begin + s * S::BK, tc6_smem + s * STAGE, tc6_smem + s * STAGE + SA::SIZE);
        tc6_commit();  // empty groups keep the count uniform
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        tc6_wait<S::STAGES - 2>();  // tile kt has landed (for this thread's copies) ...
        __syncthreads();            // ... for every thread's, and stage (kt - 1) % STAGES is free
        const int nt = kt + S::STAGES - 1;
        if (nt < ntiles) {
            unsigned short* st = tc6_smem + (nt % S::STAGES) * STAGE;
            ld.load(k_begin + nt * S::BK, st, st + SA::SIZE);
        }
        tc6_commit();
        const unsigned short* As = tc6_smem + (kt % S::STAGES) * STAGE;
        const unsigned short* Bs = As + SA::SIZE;
#pragma unroll
        for (int ks = 0; ks < S::BK; ks += 16) {
            unsigned a[S::mi][4], b[S::nj][2];
#pragma unroll
            for (int i = 0; i < S::mi; ++i) {
                const int mb = wm + 16 * i;
                if (A_MK) tc5_ldsm_x4(a[i], &As[(mb + l8 + 8 * lb3) * SA::STRIDE + ks + 8 * lb4]);
                else tc5_ldsm_x4_t(a[i], &As[(ks + l8 + 8 * lb4) * SA::STRIDE + mb + 8 * lb3]);
            }
#pragma unroll
            for (int jp = 0; jp < S::nj / 2; ++jp) {
                const int nb = wn + 16 * jp;
                unsigned r[4];
                if (B_NK) tc5_ldsm_x4(r, &Bs[(nb + l8 + 8 * lb4) * SB::STRIDE + ks + 8 * lb3]);
                else tc5_ldsm_x4_t(r, &Bs[(ks + l8 + 8 * lb3) * SB::STRIDE + nb + 8 * lb4]);
                b[2 * jp][0] = r[0];
                b[2 * jp][1] = r[1];
                b[2 * jp + 1][0] = r[2];
                b[2 * jp + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < S::mi; ++i)
#pragma unroll
                for (int j = 0; j < S::nj; ++j) tc_mma_bf16(acc[i][j], a[i], b[j][0], b[j][1]);
        }
    }
    tc6_wait<0>();
    epi(acc, row0 + wm, col0 + wn);
}

// The plain epilogue: C[row][col] over M x N (TRANS_C: C[col][row]), stored or added atomically.
template <class S, bool TRANS_C>
struct Tc6Out {
    float* C;
    int ldc, M, N;
    bool atomic;
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int rb, int cb) const {
        tc_store_acc<S::mi, S::nj, TRANS_C>(C, ldc, M, N, rb, cb, acc, atomic);
    }
};

// A rows of the forward and grad-input GEMMs, [m][k]: a k-tile of one row is 32 channels of one tap,
// 4 chunks of 8; thread t copies chunk t % 4 of rows t / 4 + 64 i.
template <class S>
struct Tc6Rows {
    static constexpr int NA = S::BM / 64;
    static __device__ int row(int i) { return threadIdx.x / 4 + 64 * i; }
    static __device__ int koff() { return 8 * (threadIdx.x % 4); }
    static __device__ unsigned short* dst(unsigned short* As, int i) {
        return As + row(i) * (S::BK + 8) + koff();
    }
};

// Forward: A = im2col of x [m = (n, oy, ox)][k = (ky, kx, c)], B = w [n = o][k] (OHWI, contiguous in k).
template <class S>
struct Tc6FwdLoad {
    using R = Tc6Rows<S>;
    static constexpr int BCH = 4 * S::BN;  // chunks in the B tile
    const unsigned short* x;
    const unsigned short* w;
    ConvDims d;
    int K, col0;
    int n[R::NA], iy0[R::NA], ix0[R::NA];
    __device__ Tc6FwdLoad(const unsigned short* x_, const unsigned short* w_, ConvDims d_) : x(x_), w(w_), d(d_) {
        K = d.kh * d.kw * d.c;
        col0 = blockIdx.x * S::BN;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int m = blockIdx.y * S::BM + R::row(i);
            const int ox = m % d.ow, r = m / d.ow;
            n[i] = r / d.oh;
            iy0[i] = m < d.n * d.oh * d.ow ? (r % d.oh) * d.stride - d.pad : -(1 << 28);
            ix0[i] = ox * d.stride - d.pad;
        }
    }
    __device__ void load(int k0, unsigned short* As, unsigned short* Bs) const {
        const int tap = k0 / d.c, c0 = k0 - tap * d.c;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int iy = iy0[i] + ky, ix = ix0[i] + kx;
            const bool ok = (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w;
            const unsigned short* p = ok ? x + (((long long)n[i] * d.h + iy) * d.w + ix) * d.c + c0 + R::koff() : x;
            tc6_cp16(R::dst(As, i), p, ok);
        }
#pragma unroll
        for (int i = 0; i < (BCH + 255) / 256; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= BCH) break;
            const int o = col0 + f / 4;
            const bool ok = o < d.o;
            tc6_cp16(Bs + (f / 4) * (S::BK + 8) + 8 * (f % 4), ok ? w + (long long)o * K + k0 + 8 * (f % 4) : w, ok);
        }
    }
};

// Grad-input: A = gathered gy [m = (n, iy, ix)][k = (tap, o)], B = w[o, tap, c] as [k][n = c].
template <class S>
struct Tc6BwdInputLoad {
    using R = Tc6Rows<S>;
    static constexpr int CPR = S::BN / 8;  // chunks per B row
    static constexpr int BCH = 32 * CPR;
    const unsigned short* gy;
    const unsigned short* w;
    ConvDims d;
    int col0;
    int n[R::NA], ty0[R::NA], tx0[R::NA];
    __device__ Tc6BwdInputLoad(const unsigned short* gy_, const unsigned short* w_, ConvDims d_) : gy(gy_), w(w_), d(d_) {
        col0 = blockIdx.x * S::BN;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int m = blockIdx.y * S::BM + R::row(i);
            const int ix = m % d.w, r = m / d.w;
            n[i] = r / d.h;
            ty0[i] = m < d.n * d.h * d.w ? (r % d.h) + d.pad : -(1 << 28);
            tx0[i] = ix + d.pad;
        }
    }
    __device__ void load(int k0, unsigned short* As, unsigned short* Bs) const {
        const int tap = k0 / d.o, o0 = k0 - tap * d.o;
        const int ky = tap / d.kw, kx = tap - ky * d.kw;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int ty = ty0[i] - ky, tx = tx0[i] - kx;
            const int oy = ty / d.stride, ox = tx / d.stride;
            const bool ok = ty >= 0 && tx >= 0 && oy * d.stride == ty && ox * d.stride == tx && oy < d.oh && ox < d.ow;
            const unsigned short* p = ok ? gy + (((long long)n[i] * d.oh + oy) * d.ow + ox) * d.o + o0 + R::koff() : gy;
            tc6_cp16(R::dst(As, i), p, ok);
        }
#pragma unroll
        for (int i = 0; i < (BCH + 255) / 256; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= BCH) break;
            const int kk = f / CPR, cc = 8 * (f % CPR), c = col0 + cc;
            const bool ok = c < d.c;
            const unsigned short* p = ok ? w + ((long long)(o0 + kk) * d.kh * d.kw + tap) * d.c + c : w;
            tc6_cp16(Bs + kk * (S::BN + 8) + cc, p, ok);
        }
    }
};

// Grad-input of a strided convolution (stride s > 1) by residue classes, without the (s² - 1)/s² of zero
// rows the plain gather multiplies: input pixels with (iy + pad) % s == ry and (ix + pad) % s == rx receive
// gradient only from the taps ky = ry + s·j, kx = rx + s·i, each from the output pixel
// ((iy + pad - ky) / s, (ix + pad - kx) / s). blockIdx.z picks the class (ry, rx); its GEMM has one row per
// pixel of the class and K = (its taps) x O; a class without taps (1x1 stride 2: odd pixels) runs no
// k-tile and stores zeros.
struct Tc6Class {
    int s, ry, rx, iy1, ix1, hy, wx, nkx, M, K;
    __device__ Tc6Class(const ConvDims& d, int cls) {
        s = d.stride;
        ry = cls / s;
        rx = cls % s;
        iy1 = ((ry - d.pad) % s + s) % s;  // first iy of the class
        ix1 = ((rx - d.pad) % s + s) % s;
        hy = iy1 < d.h ? (d.h - iy1 + s - 1) / s : 0;
        wx = ix1 < d.w ? (d.w - ix1 + s - 1) / s : 0;
        const int nky = ry < d.kh ? (d.kh - ry + s - 1) / s : 0;
        nkx = rx < d.kw ? (d.kw - rx + s - 1) / s : 0;
        M = d.n * hy * wx;
        K = nky * nkx * d.o;
    }
    // Image, row and column of class row m (m < M).
    __device__ void pixel(int m, int& n, int& iy, int& ix) const {
        const int r = m / wx;
        ix = ix1 + s * (m - r * wx);
        iy = iy1 + s * (r % hy);
        n = r / hy;
    }
};

// A = gy gathered for the class's pixels [m][k = (tap of the class, o)], B = w at those taps [k][n = c].
template <class S>
struct Tc6BwdInputClassLoad {
    using R = Tc6Rows<S>;
    static constexpr int CPR = S::BN / 8;
    static constexpr int BCH = 32 * CPR;
    const unsigned short* gy;
    const unsigned short* w;
    ConvDims d;
    Tc6Class cl;
    int col0;
    int n[R::NA], ty0[R::NA], tx0[R::NA];
    __device__ Tc6BwdInputClassLoad(const unsigned short* gy_, const unsigned short* w_, ConvDims d_, const Tc6Class& cl_)
        : gy(gy_), w(w_), d(d_), cl(cl_) {
        col0 = blockIdx.x * S::BN;
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int m = blockIdx.y * S::BM + R::row(i);
            int iy = 0, ix = 0;
            n[i] = 0;
            if (m < cl.M) cl.pixel(m, n[i], iy, ix);
            ty0[i] = m < cl.M ? iy + d.pad : -(1 << 28);
            tx0[i] = ix + d.pad;
        }
    }
    __device__ void load(int k0, unsigned short* As, unsigned short* Bs) const {
        const int t = k0 / d.o, o0 = k0 - t * d.o;
        const int ky = cl.ry + cl.s * (t / cl.nkx), kx = cl.rx + cl.s * (t % cl.nkx);
#pragma unroll
        for (int i = 0; i < R::NA; ++i) {
            const int ty = ty0[i] - ky, tx = tx0[i] - kx;  // multiples of s for the class's rows
            const int oy = ty / cl.s, ox = tx / cl.s;
            const bool ok = ty >= 0 && tx >= 0 && oy < d.oh && ox < d.ow;
            const unsigned short* p = ok ? gy + (((long long)n[i] * d.oh + oy) * d.ow + ox) * d.o + o0 + R::koff() : gy;
            tc6_cp16(R::dst(As, i), p, ok);
        }
#pragma unroll
        for (int i = 0; i < (BCH + 255) / 256; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= BCH) break;
            const int kk = f / CPR, cc = 8 * (f % CPR), c = col0 + cc;
            const bool ok = c < d.c;
            const unsigned short* p = ok ? w + (((long long)(o0 + kk) * d.kh + ky) * d.kw + kx) * d.c + c : w;
            tc6_cp16(Bs + kk * (S::BN + 8) + cc, p, ok);
        }
    }
};

// Stores class row m to its pixel's row of gx [n, h, w, C].
template <class S>
struct Tc6ClassOut {
    float* gx;
    ConvDims d;
    Tc6Class cl;
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int rb, int cb) const {
        const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
        for (int i = 0; i < S::mi; ++i)
#pragma unroll
            for (int h8 = 0; h8 < 2; ++h8) {
                const int m = rb + i * 16 + g + 8 * h8;
                if (m >= cl.M) continue;
                int n, iy, ix;
                cl.pixel(m, n, iy, ix);
                float* out = gx + (((long long)n * d.h + iy) * d.w + ix) * d.c;
#pragma unroll
                for (int j = 0; j < S::nj; ++j)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int col = cb + j * 8 + 2 * q + e;
                        if (col < d.c) out[col] = acc[i][j][2 * h8 + e];
                    }
            }
    }
};

// Grad-weight, transposed GEMM gw^T[K, O] over the pixels p: A = im2col^T stored [k = p][m = (tap, c)],
// B = gy stored [k = p][n = o]. Each thread keeps one 8-channel column chunk of A (fixed tap).
template <class S>
struct Tc6BwdWeightLoad {
    static constexpr int ACPR = S::BM / 8;     // A chunks per row (one pixel)
    static constexpr int NA = 32 * ACPR / 256;  // A chunks per thread per k-tile
    static constexpr int BCPR = S::BN / 8;
    static constexpr int BCH = 32 * BCPR;
    const unsigned short* gy;
    const unsigned short* x;
    ConvDims d;
    int col0, p_end, ky, kx, c;
    __device__ Tc6BwdWeightLoad(const unsigned short* gy_, const unsigned short* x_, ConvDims d_, int p_end_)
        : gy(gy_), x(x_), d(d_), p_end(p_end_) {
        col0 = blockIdx.x * S::BN;
        const int k = blockIdx.y * S::BM + 8 * (threadIdx.x % ACPR);
        const int tap = k / d.c;
        c = k - tap * d.c;
        ky = k < d.kh * d.kw * d.c ? tap / d.kw : -(1 << 28);  // columns past K read zeros
        kx = tap % d.kw;
    }
    __device__ void load(int p0, unsigned short* As, unsigned short* Bs) const {
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int pl = threadIdx.x / ACPR + i * (256 / ACPR);
            const int p = p0 + pl;
            const int ox = p % d.ow, r = p / d.ow;
            const int oy = r % d.oh, nn = r / d.oh;
            const int iy = oy * d.stride - d.pad + ky, ix = ox * d.stride - d.pad + kx;
            const bool ok = p < p_end && (unsigned)iy < (unsigned)d.h && (unsigned)ix < (unsigned)d.w;
            const unsigned short* src = ok ? x + (((long long)nn * d.h + iy) * d.w + ix) * d.c + c : x;
            tc6_cp16(As + pl * (S::BM + 8) + 8 * (threadIdx.x % ACPR), src, ok);
        }
#pragma unroll
        for (int i = 0; i < (BCH + 255) / 256; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (f >= BCH) break;
            const int pl = f / BCPR, oc = 8 * (f % BCPR);
            const int p = p0 + pl, o = col0 + oc;
            const bool ok = p < p_end && o < d.o;
            tc6_cp16(Bs + pl * (S::BN + 8) + oc, ok ? gy + (long long)p * d.o + o : gy, ok);
        }
    }
};

template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_fwd_v6(float* y, const unsigned short* x, const unsigned short* wt, ConvDims d) {
    using S = Tc6<WMW, MI, NJ>;
    Tc6FwdLoad<S> ld(x, wt, d);
    const int M = d.n * d.oh * d.ow;
    tc6_gemm<S, true, true>(ld, Tc6Out<S, false>{y, d.o, M, d.o, false}, 0, d.kh * d.kw * d.c);
}
template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_input_v6(float* gx, const unsigned short* gy, const unsigned short* wt, ConvDims d) {
    using S = Tc6<WMW, MI, NJ>;
    Tc6BwdInputLoad<S> ld(gy, wt, d);
    const int M = d.n * d.h * d.w;
    tc6_gemm<S, true, false>(ld, Tc6Out<S, false>{gx, d.c, M, d.c, false}, 0, d.kh * d.kw * d.o);
}
// Stride > 1: one residue class per blockIdx.z (s² of them); grid.y covers the largest class.
template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_input_strided_v6(float* gx, const unsigned short* gy, const unsigned short* wt,
                                                          ConvDims d) {
    using S = Tc6<WMW, MI, NJ>;
    const Tc6Class cl(d, blockIdx.z);
    if ((int)blockIdx.y * S::BM >= cl.M) return;  // the whole block: no barrier is skipped by part of it
    Tc6BwdInputClassLoad<S> ld(gy, wt, d, cl);
    tc6_gemm<S, true, false>(ld, Tc6ClassOut<S>{gx, d, cl}, 0, cl.K);
}
// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
template <int WMW, int MI, int NJ>
__device__ __forceinline__ void conv_bwd_weight_v6(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d,
                                                   int p_per_split) {
    using S = Tc6<WMW, MI, NJ>;
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    Tc6BwdWeightLoad<S> ld(gy, x, d, p1);
    tc6_gemm<S, false, false>(ld, Tc6Out<S, true>{gw, K, K, d.o, true}, p0, p1);
}

// Entry points: {fwd, bwd_input, bwd_weight} x tile width (as v4), bf16 operands.
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<2, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<4, 4, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<8, 2, 4>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<8, 2, 2>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<2, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<4, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<8, 2, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<8, 2, 2>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<2, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<4, 4, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<8, 2, 4>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<8, 2, 2>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n128(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<2, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<4, 4, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n32(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<8, 2, 4>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<8, 2, 2>(gw, gy, x, d, p_per_split); }
