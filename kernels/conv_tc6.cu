// targets: sm_80 sm_90
// Tensor-core convolutions v6: operands streamed global -> shared with cp.async, 16 bytes per copy and no
// register staging, through a 3-stage ring (two k-tiles in flight while the tensor cores work on the third);
// out-of-range chunks (padding, rows past the end) are zero-filled by the copy itself (src-size 0). fp32
// accumulation and fp32 output. Two operand types, one set of loaders (a copy moves EPC = 16 / sizeof(T)
// channels):
//   *_v6_bf16: bf16 operands in global memory (activations and weights cast once by cast_bf16_f32, or
//              written as bf16 by the fused batch-norm tails), fragments by ldmatrix, mma m16n8k16;
//   *_v6_tf32: the fp32 tensors themselves, rounded to TF32 as fragments are read (tc_tf32_kstep: ldmatrix
//              where a tile is k-contiguous, round to nearest even on sm_90), mma m16n8k8.
// Tiles as v4/v5 (the width follows the output channels). Shapes: forward C % 32 == 0 (a 32-deep k-tile
// stays inside one tap), or in bf16 a narrow C that divides 32 (`_narrow`: C = 8, 16, a k-tile spans
// 32 / C taps, the last one zero-filled past K); grad-input O % 32 == 0 (or narrow, stride 1) and
// C % EPC == 0 (stride > 1: by residue classes of input pixels, `_strided`, no zero rows); grad-weight
// C % EPC == 0 and O % EPC == 0. The launcher sends the rest elsewhere. Dynamic shared memory (above the
// 48 KB static limit); a launch with less than the tile needs traps. bf16: __launch_bounds__(256, 2), two
// blocks per SM (<= 128 registers), so one block's barrier wait overlaps the other's tensor-core work; tf32
// tiles take twice the shared memory (110-138 KB for three stages of the wide tiles), so one block per SM
// and no register cap.
#include "common.cuh"
#include "conv_gather.cuh"
#include "fastdiv.cuh"
#include "tc_mma.cuh"

template <int WMW, int MI, int NJ, class T, bool SIMT = false, int RING = 3>
struct Tc6 {
    using E = T;  // operand element: unsigned short (bf16) or float (tf32, f32)
    static constexpr bool BF16 = sizeof(T) == 2;
    static constexpr bool FFMA = SIMT;  // f32: fp32 FMAs on the CUDA cores instead of tensor cores
    static constexpr int EPC = 16 / (int)sizeof(T);  // elements per 16-byte copy
    static constexpr int wmw = WMW, mi = MI, nj = NJ;
    static constexpr int BM = WMW * 16 * MI;
    static constexpr int BN = (8 / WMW) * 8 * NJ;
    static constexpr int BK = 32;
    static constexpr int STAGES = RING;  // 3; the bf16 and tf32 `_s4` entry points 4 (same sums)
    // Row strides of the shared tiles, in elements: k-fast rows ([m][k], [n][k]) are padded so that the
    // 8 rows of an ldmatrix (bf16: 80 bytes apart) or the 8 g-rows of a tf32 fragment load (36 floats)
    // fall on distinct banks; m/n-fast rows ([k][m], [k][n]) by 8 elements (bf16: distinct 16-byte bank
    // groups; tf32: a stride of 8 mod 32 banks, so 4 k-rows x 8 columns hit 32 banks). Every row starts
    // 16-byte aligned.
    static constexpr int KSTRIDE = BK + (BF16 ? 8 : 4);
    static constexpr int MSTRIDE = BM + 8;
    static constexpr int NSTRIDE = BN + 8;
};

// 16-byte global -> shared copy; `ok` false zero-fills the destination without reading `src` (which must
// still be 16-byte aligned, but need not lie in the tensor). The loaders below keep per-chunk source offsets
// from k-tile to k-tile and divide by run-time dimensions with FastDiv, so a k-tile's copies cost a few
// instructions each (as conv_wgmma.cu's; the address arithmetic competes with the MMAs for issue slots).
__device__ __forceinline__ void tc6_cp16(void* dst, const void* src, bool ok) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(tc5_smem_addr(dst)), "l"(src),
                 "r"(ok ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void tc6_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void tc6_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// Four k of the exact fp32 path on the CUDA cores. Each thread accumulates the elements an mma fragment would
// hold (rows wm + 16i + g and + 8, columns wn + 8j + 2q and + 1), so every epilogue serves both paths; the
// sums run over k in order, one fmaf each. Shared-memory reads: a k-fast row gives 4 k in one float4 (8
// rows g on distinct banks: strides of 36 floats), an n-fast B row the column pair in one float2, an m-fast
// A row one float per k (8 consecutive g).
template <class S, bool A_MK, bool B_NK>
__device__ __forceinline__ void tc6_ffma_kstep(float (&acc)[S::mi][S::nj][4], const float* As, int SA,
                                               const float* Bs, int SB, int ks, int wm, int wn) {
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    float a[S::mi][2][4], b[S::nj][2][4];
#pragma unroll
    for (int i = 0; i < S::mi; ++i)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int m = wm + 16 * i + g + 8 * h;
            if constexpr (A_MK) {
                const float4 v = *reinterpret_cast<const float4*>(&As[m * SA + ks]);
                a[i][h][0] = v.x, a[i][h][1] = v.y, a[i][h][2] = v.z, a[i][h][3] = v.w;
            } else {
#pragma unroll
                for (int kk = 0; kk < 4; ++kk) a[i][h][kk] = As[(ks + kk) * SA + m];
            }
        }
#pragma unroll
    for (int j = 0; j < S::nj; ++j) {
        const int n = wn + 8 * j + 2 * q;
        if constexpr (B_NK) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const float4 v = *reinterpret_cast<const float4*>(&Bs[(n + e) * SB + ks]);
                b[j][e][0] = v.x, b[j][e][1] = v.y, b[j][e][2] = v.z, b[j][e][3] = v.w;
            }
        } else {
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                const float2 v = *reinterpret_cast<const float2*>(&Bs[(ks + kk) * SB + n]);
                b[j][0][kk] = v.x, b[j][1][kk] = v.y;
            }
        }
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
        for (int i = 0; i < S::mi; ++i)
#pragma unroll
            for (int j = 0; j < S::nj; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[i][j][e] = fmaf(a[i][e / 2][kk], b[j][e % 2][kk], acc[i][j][e]);
}

// The k-loop over a STAGES-deep ring. L::load(k0, As, Bs) issues the copies of one k-tile; E(acc, rb, cb)
// writes a warp's accumulators whose top-left corner is (rb, cb). A_MK: A stored [m][k] (else [k][m]);
// B_NK: B stored [n][k] (else [k][n]).
template <class S, bool A_MK, bool B_NK, class L, class E>
__device__ __forceinline__ void tc6_gemm(L& ld, const E& epi, int k_begin, int k_end) {
    using T = typename S::E;
    constexpr int SA = A_MK ? S::KSTRIDE : S::MSTRIDE, SB = B_NK ? S::KSTRIDE : S::NSTRIDE;
    constexpr int A_SIZE = (A_MK ? S::BM : S::BK) * SA, B_SIZE = (B_NK ? S::BN : S::BK) * SB;
    constexpr int STAGE = A_SIZE + B_SIZE;
    extern __shared__ __align__(16) unsigned char tc6_smem_raw[];
    T* smem = reinterpret_cast<T*>(tc6_smem_raw);
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)(S::STAGES * STAGE * sizeof(T))) __trap();

    const int warp = threadIdx.x / 32;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int row0 = blockIdx.y * S::BM, col0 = blockIdx.x * S::BN;
    float acc[S::mi][S::nj][4];
    tc_zero(acc);

    const int ntiles = k_end > k_begin ? (k_end - k_begin + S::BK - 1) / S::BK : 0;
#pragma unroll
    for (int s = 0; s < S::STAGES - 1; ++s) {
        if (s < ntiles) ld.load(k_begin + s * S::BK, smem + s * STAGE, smem + s * STAGE + A_SIZE);
        tc6_commit();  // empty groups keep the count uniform
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        tc6_wait<S::STAGES - 2>();  // tile kt has landed (for this thread's copies) ...
        __syncthreads();            // ... for every thread's, and stage (kt - 1) % STAGES is free
        const int nt = kt + S::STAGES - 1;
        if (nt < ntiles) {
            T* st = smem + (nt % S::STAGES) * STAGE;
            ld.load(k_begin + nt * S::BK, st, st + A_SIZE);
        }
        tc6_commit();
        const T* As = smem + (kt % S::STAGES) * STAGE;
        const T* Bs = As + A_SIZE;
        if constexpr (S::BF16) {
#pragma unroll
            for (int ks = 0; ks < S::BK; ks += 16)
                tc_bf16_kstep<S::mi, S::nj, A_MK, B_NK>(acc, As, SA, Bs, SB, ks, wm, wn);
        } else if constexpr (S::FFMA) {
#pragma unroll
            for (int ks = 0; ks < S::BK; ks += 4) tc6_ffma_kstep<S, A_MK, B_NK>(acc, As, SA, Bs, SB, ks, wm, wn);
        } else {
#pragma unroll
            for (int ks = 0; ks < S::BK; ks += 8)
                tc_tf32_kstep<S::mi, S::nj, A_MK, B_NK>(acc, As, SA, Bs, SB, ks, wm, wn);
        }
    }
    tc6_wait<0>();
    epi(acc, row0 + wm, col0 + wn);
}

// The plain epilogue: C[row][col] over M x N (TRANS_C: C[col][row]), stored, added atomically, or (add)
// added to what C holds.
template <class S, bool TRANS_C>
struct Tc6Out {
    float* C;
    int ldc, M, N;
    bool atomic, add;
    bool out16 = false;  // C holds bf16 (row-major, plain stores only)
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int rb, int cb) const {
        if (out16)
            tc_store_acc_bf16<S::mi, S::nj>(reinterpret_cast<unsigned short*>(C), ldc, M, N, rb, cb, acc);
        else
            tc_store_acc<S::mi, S::nj, TRANS_C>(C, ldc, M, N, rb, cb, acc, atomic, add);
    }
};

// The forward epilogue with the batch-norm statistics of its output (conv + BN fusion): y as Tc6Out, and per
// column the sum over the block's rows and the sum of squares about the block's own mean, from the
// accumulators still in registers (two passes over them: the mean first, then the centred squares, so no
// cancellation), reduced over the block through shared memory and written to part_sum / part_m2
// [gridDim.y][N]. batchnorm_parts_chunk_f32 and batchnorm_stats_chunks_f32 (norm.cu) combine the blocks
// of each batch-norm group with Chan's formula; the launcher asks for this only when every block lies
// inside one group. out16 (ConvDims::out16): y is stored as bf16, and the statistics are those of the
// rounded values, which the batch norm after it reads (its x̂ then sums to zero over the batch as it should).
// PARTS = 2 (the 256-row `_m256` tile): one partial per 128-row half (the warps of rows 0-127, then
// 128-255), i.e. the partials of the n128 tiles, summed in their order: the same bits.
template <class S, int PARTS = 1>
struct Tc6OutStats {
    static_assert(S::wmw % PARTS == 0 && S::BM % PARTS == 0, "a partial takes whole warp rows");
    static constexpr int WPP = S::wmw / PARTS;  // warp rows a partial
    static constexpr int RPP = S::BM / PARTS;   // rows a partial
    float* y;
    float* part_sum;
    float* part_m2;
    int M, N;
    bool out16;
    int rblk = -1;         // the row block whose partials these are (-1: blockIdx.y; the `_wres` tiles loop)
    int scratch_off = 0;   // bytes into the dynamic shared memory of the reduction scratch
    // Σ over the thread's valid rows of f(acc, column j, e), reduced over the warp's 8 row lanes (g).
    template <class F>
    __device__ void warp_col_sums(float (&s)[S::nj][2], const float (&acc)[S::mi][S::nj][4], int rb, F f) const {
        const int g = (threadIdx.x % 32) / 4;
#pragma unroll
        for (int j = 0; j < S::nj; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                float t = 0.0f;
#pragma unroll
                for (int i = 0; i < S::mi; ++i)
#pragma unroll
                    for (int h8 = 0; h8 < 2; ++h8)
                        if (rb + 16 * i + g + 8 * h8 < M) t += f(acc[i][j][2 * h8 + e], j, e);
#pragma unroll
                for (int off = 4; off < 32; off <<= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
                s[j][e] = t;
            }
    }
    // The block's per-column totals of s (every thread calls it; barriers inside) into tot[PARTS][BN], part h
    // over warp rows h WPP .. (h + 1) WPP - 1.
    __device__ void block_col_sums(float* red, float* tot, const float (&s)[S::nj][2], int cl) const {
        const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, q = lane % 4;
        if (lane < 4)
#pragma unroll
            for (int j = 0; j < S::nj; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) red[(warp % S::wmw) * S::BN + cl + 8 * j + 2 * q + e] = s[j][e];
        __syncthreads();
        for (int c = threadIdx.x; c < PARTS * S::BN; c += 256) {
            const int h = c / S::BN, cc = c - h * S::BN;
            float t = 0.0f;
#pragma unroll
            for (int w = 0; w < WPP; ++w) t += red[(h * WPP + w) * S::BN + cc];
            tot[c] = t;
        }
        __syncthreads();
    }
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int rb, int cb) const {
        if (out16)
            tc_store_acc_bf16<S::mi, S::nj>(reinterpret_cast<unsigned short*>(y), N, M, N, rb, cb, acc);
        else
            tc_store_acc<S::mi, S::nj, false>(y, N, M, N, rb, cb, acc, false);
        const auto val = [&](float v) { return out16 ? bf16_round(v) : v; };
        extern __shared__ __align__(16) unsigned char tc6_smem_raw[];
        float* red = reinterpret_cast<float*>(tc6_smem_raw + scratch_off);  // [wmw][BN]
        float* sum = red + S::wmw * S::BN;                      // [PARTS][BN]
        float* m2 = sum + PARTS * S::BN;                        // [PARTS][BN]
        const int q = (threadIdx.x % 32) % 4;
        const int rblock = rblk < 0 ? (int)blockIdx.y : rblk;
        const int row0 = rblock * S::BM, col0 = blockIdx.x * S::BN, cl = cb - col0;
        const int hw = (threadIdx.x / 32 % S::wmw) / WPP;  // this warp's part
        const float rows = (float)min(RPP, M - row0 - hw * RPP);
        __syncthreads();  // every warp is done with the k-loop's shared tiles
        float s[S::nj][2];
        warp_col_sums(s, acc, rb, [&](float v, int, int) { return val(v); });
        block_col_sums(red, sum, s, cl);
        // The column means once per column (IEEE divisions: inside the row loop they were MI·4 per column,
        // ptxas's largest share of this epilogue); the same quotients, so the same bits.
        float mean[S::nj][2];
#pragma unroll
        for (int j = 0; j < S::nj; ++j)
#pragma unroll
            for (int e = 0; e < 2; ++e) mean[j][e] = sum[hw * S::BN + cl + 8 * j + 2 * q + e] / rows;
        warp_col_sums(s, acc, rb, [&](float v, int j, int e) {
            const float d = val(v) - mean[j][e];
            return d * d;
        });
        block_col_sums(red, m2, s, cl);
        for (int c = threadIdx.x; c < PARTS * S::BN; c += 256) {
            const int h = c / S::BN, cc = c - h * S::BN;
            if (col0 + cc < N && row0 + h * RPP < M) {
                part_sum[((long long)rblock * PARTS + h) * N + col0 + cc] = sum[c];
                part_m2[((long long)rblock * PARTS + h) * N + col0 + cc] = m2[c];
            }
        }
    }
};

// Copy f of a shared tile whose rows take CPR 16-byte copies and lie ROW_BYTES apart: its row and its chunk
// in the row. A warp's 16-byte copies reach shared memory in four phases of 8 lanes. With fewer than 8 copies
// per row, lanes in row order put two or four rows in a phase, whose bytes overlap on the banks when the row
// stride is an odd number of 16-byte bank groups (the padded bf16 rows: 80 bytes, Bn + 8 or, in the halo,
// Cs + 8 elements): twice the wavefronts, as cusim's CUSIM_MEMSTATS counts. There the 8 lanes of a phase
// take one chunk of 8 consecutive rows instead, on 8 distinct groups; a warp still covers the same rows, so
// the same global sectors.
template <int CPR, int ROW_BYTES>
struct Tc6Copy {
    static constexpr bool BY_ROWS = CPR < 8 && (ROW_BYTES / 16) % 2 == 1;
    static __device__ int row(int f) { return BY_ROWS ? (f / (8 * CPR)) * 8 + f % 8 : f / CPR; }
    static __device__ int chunk(int f) { return BY_ROWS ? (f / 8) % CPR : f % CPR; }
};

// A rows of the forward and grad-input GEMMs, [m][k]: a k-tile of one row is 32 channels of one tap,
// CPR chunks of EPC; thread t copies chunk C::chunk(t) of rows C::row(t + 256 i).
template <class S>
struct Tc6Rows {
    static constexpr int CPR = S::BK / S::EPC;
    static constexpr int NA = S::BM * CPR / 256;
    using C = Tc6Copy<CPR, S::KSTRIDE * (int)sizeof(typename S::E)>;
    static __device__ int row(int i) { return C::row(threadIdx.x + 256 * i); }
    static __device__ int koff() { return S::EPC * C::chunk(threadIdx.x); }
    template <class T>
    static __device__ T* dst(T* As, int i) {
        return As + row(i) * S::KSTRIDE + koff();
    }
};

// B of the forward GEMMs: w [n = o][k] (OHWI, contiguous in k), a k-tile of each output channel's row
// stored [n][k]; chunk i of this thread: its row offset at k0 = 0 and whether the row exists. NARROW (C
// divides 32, K padded to whole k-tiles): instead of the flag, where the row ends past the chunk.
template <class S, bool NARROW = false>
struct Tc6WnkRows {
    static constexpr int CPR = S::BK / S::EPC;
    static constexpr int BCH = CPR * S::BN;  // chunks in the B tile
    static constexpr int NB = (BCH + 255) / 256;
    using C = Tc6Copy<CPR, S::KSTRIDE * (int)sizeof(typename S::E)>;
    long long wb[NB];
    bool wok[NB];
    int kend[NB];  // NARROW: K minus the chunk's k offset where the row exists, else 0 (reads where k0 < kend)
    __device__ Tc6WnkRows(const ConvDims& d, int col0) {
        const int K = d.kh * d.kw * d.c;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i, o = col0 + C::row(f);
            wok[i] = f < BCH && o < d.o;
            wb[i] = wok[i] ? (long long)o * K + S::EPC * C::chunk(f) : 0;
            if constexpr (NARROW) kend[i] = wok[i] ? K - S::EPC * C::chunk(f) : 0;
        }
    }
    __device__ void load(typename S::E* Bs, const typename S::E* w, int k0) const {
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (BCH % 256 && f >= BCH) break;  // folded away when the chunks fill every thread
            tc6_cp16(Bs + C::row(f) * S::KSTRIDE + S::EPC * C::chunk(f), w + (wb[i] + k0),
                     NARROW ? k0 < kend[i] : wok[i]);
        }
    }
};

// A thread's 16-byte copy lies `koff` into a k-tile's row of a GEMM over k = (tap, channel) with `cs`
// channels a tap. Narrow cs (it divides 32) puts 32 / cs taps in a k-tile: the copy's channel is koff % cs
// and its tap lies ksub / cs past the k-tile's first. The tap of k-tile k0 (a multiple of 32) as (ky, kx),
// with ky pushed past every bound where the tap lies past the last (the zero-filled end of K, which the
// narrow cs leaves unless 32 divides kh·kw·cs), so that the rows' bounds tests fail there.
template <bool NARROW>
struct Tc6NarrowTap {
    int ksub;
    __device__ Tc6NarrowTap(int cs, int koff) : ksub(NARROW ? koff - koff % cs : 0) {}
    __device__ int chunk(int koff) const { return NARROW ? koff - ksub : koff; }
    __device__ void at(int k0, const FastDiv& by_cs, const FastDiv& by_kw, const ConvDims& d, int cs, int& ky,
                       int& kx, int& c0) const {
        const int kk = NARROW ? k0 + ksub : k0, tap = by_cs.div(kk);
        c0 = kk - tap * cs;
        ky = by_kw.div(tap);
        kx = tap - ky * d.kw;
        if (NARROW && ky >= d.kh) ky = 1 << 20;
    }
};

// Forward: A = im2col of x [m = (n, oy, ox)][k = (ky, kx, c)] (rows: FwdRows, conv_gather.cuh), B = w
// [n = o][k] (Tc6WnkRows). NARROW (the `_narrow` entry points): C divides 32, several taps a k-tile
// (Tc6NarrowTap); apart, since its per-thread tap offset and K bound cost the 128-register tiles a spill.
template <class S, bool NARROW = false>
struct Tc6FwdLoad {
    using T = typename S::E;
    using R = Tc6Rows<S>;
    const T* x;
    const T* w;
    ConvDims d;
    FastDiv by_c, by_kw;
    Tc6NarrowTap<NARROW> nt;
    FwdRows<R::NA> a;
    Tc6WnkRows<S, NARROW> b;
    __device__ Tc6FwdLoad(const T* x_, const T* w_, ConvDims d_)
        : x(x_), w(w_), d(d_), by_c(d_.c), by_kw(d_.kw), nt(d_.c, R::koff()),
          b(d_, blockIdx.x * S::BN) {
        if (NARROW != (d.c < 32)) __trap();
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, blockIdx.y * S::BM + R::row(i), nt.chunk(R::koff()));
    }
    __device__ void load(int k0, T* As, T* Bs) const {
        int ky, kx, c0;
        nt.at(k0, by_c, by_kw, d, d.c, ky, kx, c0);
        const long long toff = FwdRows<R::NA>::tap(d, ky, kx, c0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i) tc6_cp16(R::dst(As, i), x + (a.rb[i] + toff), a.ok(i, d, ky, kx));
        b.load(Bs, w, k0);
    }
};

// B of both grad-input GEMMs: w[o, ky, kx, c] at one tap as [k = o][n = c], rows contiguous in c. Chunk i of
// this thread: k-row kk, columns col0 + cc; its offset at o0 = 0, tap 0 is kept. NARROW (O divides 32):
// k-row kk is o = kk % O at the k-tile's first tap + kk / O (load_narrow).
template <class S, bool NARROW = false>
struct Tc6WknRows {
    static constexpr int CPR = S::BN / S::EPC;
    static constexpr int BCH = S::BK * CPR;
    static constexpr int NB = (BCH + 255) / 256;
    using C = Tc6Copy<CPR, S::NSTRIDE * (int)sizeof(typename S::E)>;
    long long off[NB];
    bool ok[NB];
    int tlim[NB];  // NARROW: taps minus the row's tap offset where the chunk exists, else 0 (reads where t0 < tlim)
    __device__ Tc6WknRows(const ConvDims& d, int col0) {
        const int taps = d.kh * d.kw;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i, kk = C::row(f), c = col0 + S::EPC * C::chunk(f);
            const int o = NARROW ? kk % d.o : kk, tsub = NARROW ? kk / d.o : 0;
            ok[i] = f < BCH && c < d.c;
            off[i] = ok[i] ? ((long long)o * taps + tsub) * d.c + c : 0;
            if constexpr (NARROW) tlim[i] = ok[i] ? taps - tsub : 0;
        }
    }
    // Narrow O: the k-tile whose first tap is t0 (o0 = 0); rows past the last tap read zeros.
    __device__ void load_narrow(typename S::E* Bs, const typename S::E* w, const ConvDims& d, int t0) const {
        const long long base = (long long)t0 * d.c;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (BCH % 256 && f >= BCH) break;
            tc6_cp16(Bs + C::row(f) * S::NSTRIDE + S::EPC * C::chunk(f), w + (base + off[i]), t0 < tlim[i]);
        }
    }
    // The tile of rows o0 .. o0 + BK - 1 at tap (ky, kx).
    __device__ void load(typename S::E* Bs, const typename S::E* w, const ConvDims& d, int o0, int ky, int kx) const {
        const long long base = ((long long)o0 * d.kh * d.kw + ky * d.kw + kx) * d.c;
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (BCH % 256 && f >= BCH) break;
            tc6_cp16(Bs + C::row(f) * S::NSTRIDE + S::EPC * C::chunk(f), w + (base + off[i]), ok[i]);
        }
    }
};

// Grad-input, stride 1 (the launcher sends stride > 1 to the residue classes): A = gathered gy
// [m = (n, iy, ix)][k = (tap, o)] (rows: GradInputRows), B = w[o, tap, c] as [k][n = c].
template <class S, bool NARROW = false>
struct Tc6BwdInputLoad {
    using T = typename S::E;
    using R = Tc6Rows<S>;
    const T* gy;
    const T* w;
    ConvDims d;
    FastDiv by_o, by_kw;
    Tc6WknRows<S, NARROW> b;
    Tc6NarrowTap<NARROW> nt;
    GradInputRows<R::NA> a;
    __device__ Tc6BwdInputLoad(const T* gy_, const T* w_, ConvDims d_)
        : gy(gy_), w(w_), d(d_), by_o(d_.o), by_kw(d_.kw), b(d_, blockIdx.x * S::BN), nt(d_.o, R::koff()) {
        if (d.stride != 1 || NARROW != (d.o < 32)) __trap();
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, blockIdx.y * S::BM + R::row(i), nt.chunk(R::koff()));
    }
    __device__ void load(int k0, T* As, T* Bs) const {
        int ky, kx, o0;
        nt.at(k0, by_o, by_kw, d, d.o, ky, kx, o0);
        const long long toff = GradInputRows<R::NA>::tap(d, ky, kx, o0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i) tc6_cp16(R::dst(As, i), gy + (a.rb[i] + toff), a.ok(i, d, ky, kx));
        if constexpr (NARROW)
            b.load_narrow(Bs, w, d, by_o.div(k0));
        else
            b.load(Bs, w, d, o0, ky, kx);
    }
};

// A = gy gathered for the class's pixels [m][k = (tap j of the class, o)] (rows: ClassRows), B = w at those
// taps [k][n = c].
template <class S>
struct Tc6BwdInputClassLoad {
    using T = typename S::E;
    using R = Tc6Rows<S>;
    const T* gy;
    const T* w;
    ConvDims d;
    StrideClass cl;
    FastDiv by_o, by_nkx;
    Tc6WknRows<S> b;
    ClassRows<R::NA> a;
    __device__ Tc6BwdInputClassLoad(const T* gy_, const T* w_, ConvDims d_, const StrideClass& cl_)
        : gy(gy_), w(w_), d(d_), cl(cl_), by_o(d_.o), by_nkx(cl_.nkx > 0 ? cl_.nkx : 1), b(d_, blockIdx.x * S::BN) {
#pragma unroll
        for (int i = 0; i < R::NA; ++i) a.set(i, d, cl, blockIdx.y * S::BM + R::row(i), R::koff());
    }
    __device__ void load(int k0, T* As, T* Bs) const {
        const int t = by_o.div(k0), o0 = k0 - t * d.o;
        const int jy = by_nkx.div(t), jx = t - jy * cl.nkx;
        const long long toff = ClassRows<R::NA>::tap(d, jy, jx, o0);
#pragma unroll
        for (int i = 0; i < R::NA; ++i) tc6_cp16(R::dst(As, i), gy + (a.rb[i] + toff), a.ok(i, d, jy, jx));
        b.load(Bs, w, d, o0, cl.ry + cl.s * jy, cl.rx + cl.s * jx);
    }
};

// Stores (d.add: adds) class row m to its pixel's row of gx [n, h, w, C].
template <class S>
struct Tc6ClassOut {
    float* gx;
    ConvDims d;
    StrideClass cl;
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
                        if (col < d.c) conv_put(out + col, acc[i][j][2 * h8 + e], d.add);
                    }
            }
    }
};

// Grad-weight, transposed GEMM gw^T[K, O] over the pixels p: A = im2col^T stored [k = p][m = (tap, c)],
// B = gy stored [k = p][n = o]. A's copies of a k-tile, f = t + 256 i, take row f / ACPR (a pixel) and
// column chunk f % ACPR (EPC channels of one tap). Where 256 is a multiple of ACPR (the n16..n128 tiles) a
// thread's column chunk is the same for every i: one tap and offset toff from a pixel's (iy, ix) =
// (oy s - pad, ox s - pad); else (the shorter row tiles `_m192`, picked where K = kh kw c wastes fewer
// rows on them) each i keeps its own. ACPR a multiple of 8 keeps a copy phase's 8 lanes on one row.
template <class S>
struct Tc6BwdWeightLoad {
    using T = typename S::E;
    static constexpr int ACPR = S::BM / S::EPC;         // A chunks per row (one pixel)
    static constexpr int NA = S::BK * ACPR / 256;        // A chunks per thread per k-tile
    static constexpr bool ONE_COL = 256 % ACPR == 0;     // the same column chunk for every i
    static constexpr int NCOL = ONE_COL ? 1 : NA;
    static_assert(S::BK * ACPR % 256 == 0 && (ONE_COL || ACPR % 8 == 0), "A copies must fill the threads");
    static constexpr int BCPR = S::BN / S::EPC;
    static constexpr int BCH = S::BK * BCPR;
    static constexpr int NB = (BCH + 255) / 256;
    using C = Tc6Copy<BCPR, S::NSTRIDE * (int)sizeof(T)>;
    const T* gy;
    const T* x;
    ConvDims d;
    FastDiv by_ow, by_oh;
    int p_end, ky[NCOL], kx[NCOL], ocol[NB];
    bool cok[NB];
    long long toff[NCOL];
    __device__ Tc6BwdWeightLoad(const T* gy_, const T* x_, ConvDims d_, int p_end_)
        : gy(gy_), x(x_), d(d_), by_ow(d_.ow), by_oh(d_.oh), p_end(p_end_) {
#pragma unroll
        for (int i = 0; i < NCOL; ++i) {
            const int k = blockIdx.y * S::BM + S::EPC * a_chunk(i);
            const int tap = k / d.c;
            ky[i] = k < d.kh * d.kw * d.c ? tap / d.kw : -(1 << 28);  // columns past K read zeros
            kx[i] = tap % d.kw;
            toff[i] = ky[i] >= 0 ? ((long long)ky[i] * d.w + kx[i]) * d.c + (k - tap * d.c) : 0;
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i, o = blockIdx.x * S::BN + S::EPC * C::chunk(f);
            cok[i] = f < BCH && o < d.o;
            ocol[i] = cok[i] ? o : 0;
        }
    }
    static __device__ int a_chunk(int i) { return (threadIdx.x + 256 * i) % ACPR; }
    static __device__ int a_row(int i) { return (threadIdx.x + 256 * i) / ACPR; }
    __device__ void load(int p0, T* As, T* Bs) const {
#pragma unroll
        for (int i = 0; i < NA; ++i) {
            const int c = ONE_COL ? 0 : i;
            const int pl = a_row(i);
            const int p = p0 + pl;
            const int r = by_ow.div(p), ox = p - r * d.ow;
            const int n = by_oh.div(r), iy = (r - n * d.oh) * d.stride - d.pad, ix = ox * d.stride - d.pad;
            const bool ok =
                p < p_end && (unsigned)(iy + ky[c]) < (unsigned)d.h && (unsigned)(ix + kx[c]) < (unsigned)d.w;
            const long long src = (((long long)n * d.h + iy) * d.w + ix) * d.c + toff[c];
            tc6_cp16(As + pl * S::MSTRIDE + S::EPC * a_chunk(i), x + src, ok);
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i;
            if (BCH % 256 && f >= BCH) break;
            const int pl = C::row(f), p = p0 + pl;
            tc6_cp16(Bs + pl * S::NSTRIDE + S::EPC * C::chunk(f), gy + ((long long)p * d.o + ocol[i]), p < p_end && cok[i]);
        }
    }
};

template <class S, bool NARROW = false>
__device__ __forceinline__ void conv_fwd_v6(float* y, const typename S::E* x, const typename S::E* wt, ConvDims d) {
    Tc6FwdLoad<S, NARROW> ld(x, wt, d);
    const int M = d.n * d.oh * d.ow;
    tc6_gemm<S, true, true>(ld, Tc6Out<S, false>{y, d.o, M, d.o, false, false}, 0, d.kh * d.kw * d.c);
}
template <class S, bool NARROW = false, int PARTS = 1>
__device__ __forceinline__ void conv_fwd_stats_v6(float* y, float* part_sum, float* part_m2, const typename S::E* x,
                                                  const typename S::E* wt, ConvDims d) {
    Tc6FwdLoad<S, NARROW> ld(x, wt, d);
    const int M = d.n * d.oh * d.ow;
    tc6_gemm<S, true, true>(ld, Tc6OutStats<S, PARTS>{y, part_sum, part_m2, M, d.o, d.out16 != 0}, 0,
                            d.kh * d.kw * d.c);
}
template <class S, bool NARROW = false>
__device__ __forceinline__ void conv_bwd_input_v6(float* gx, const typename S::E* gy, const typename S::E* wt,
                                                  ConvDims d) {
    if (d.out16 && d.add) __trap();
    Tc6BwdInputLoad<S, NARROW> ld(gy, wt, d);
    const int M = d.n * d.h * d.w;
    tc6_gemm<S, true, false>(ld, Tc6Out<S, false>{gx, d.c, M, d.c, false, d.add != 0, d.out16 != 0}, 0,
                             d.kh * d.kw * d.o);
}
// Stride > 1: one residue class per blockIdx.z (s² of them); grid.y covers the largest class.
template <class S>
__device__ __forceinline__ void conv_bwd_input_strided_v6(float* gx, const typename S::E* gy,
                                                          const typename S::E* wt, ConvDims d) {
    if (d.out16) __trap();  // bf16 grad-inputs are stride 1's (the launcher asks only there)
    const StrideClass cl(d, blockIdx.z);
    if ((int)blockIdx.y * S::BM >= cl.M) return;  // the whole block: no barrier is skipped by part of it
    if (d.add && cl.K == 0) return;  // a class no tap reaches adds zeros: nothing to read or write
    Tc6BwdInputClassLoad<S> ld(gy, wt, d, cl);
    tc6_gemm<S, true, false>(ld, Tc6ClassOut<S>{gx, d, cl}, 0, cl.K);
}
// gw must be zeroed: each block adds its slice of the output pixels (blockIdx.z) with atomics.
template <class S>
__device__ __forceinline__ void conv_bwd_weight_v6(float* gw, const typename S::E* gy, const typename S::E* x,
                                                   ConvDims d, int p_per_split) {
    const int P = d.n * d.oh * d.ow, K = d.kh * d.kw * d.c;
    const int p0 = blockIdx.z * p_per_split;
    const int p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    Tc6BwdWeightLoad<S> ld(gy, x, d, p1);
    tc6_gemm<S, false, false>(ld, Tc6Out<S, true>{gw, K, K, d.o, true, false}, p0, p1);
}

// The `_halo` entry points (bf16, 3x3, stride 1, pad 1): the forward and grad-input GEMMs with their A
// operand resident in shared memory. A block's BM rows are a rectangle of pixels (TH whole rows of one image,
// or IMGS whole images), so at every tap its A rows are the same pixels shifted: the block copies the
// (TH + 2) x (W + 2) pixels around them (per image, all Cs channels: C of x, O of gy; zeros outside the
// image) once and reads each tap's rows from there, 1.3-2.3x the tile's pixels from L2 instead of 9x. Halo
// channel chunk j (32 channels) is copied with k-tile j's B tile, so the first k-tiles wait for no more
// than v6's; the ring streams B alone. The k-tiles, their order and the fragments are v6's: the same sums
// bit for bit. Pixel rows are Cs + 8 elements apart (an ldmatrix's 8 consecutive pixels on distinct banks).
template <class S, bool BWD>
struct Tc6HaloB;
template <class S>
struct Tc6HaloB<S, false> : Tc6WnkRows<S> {  // forward: w as [n = o][k]
    static constexpr bool B_NK = true;
    __device__ Tc6HaloB(const ConvDims& d, int col0) : Tc6WnkRows<S>(d, col0) {}
    __device__ void load(typename S::E* Bs, const typename S::E* w, const ConvDims&, int k0, int, int) const {
        Tc6WnkRows<S>::load(Bs, w, k0);
    }
};
template <class S>
struct Tc6HaloB<S, true> : Tc6WknRows<S> {  // grad-input: w at one tap as [k = o][n = c]
    static constexpr bool B_NK = false;
    __device__ Tc6HaloB(const ConvDims& d, int col0) : Tc6WknRows<S>(d, col0) {}
    __device__ void load(typename S::E* Bs, const typename S::E* w, const ConvDims& d, int, int tap, int c0) const {
        Tc6WknRows<S>::load(Bs, w, d, c0, tap / 3, tap % 3);
    }
};

// Copies channels c0 .. c0 + 8 CPP - 1 of the hp halo pixels (per image hh rows of hw pixels around image
// rows y0 - 1 .. of images n0, n0 + 1, ...; zeros outside the images) to halo[px][hs]: 8 consecutive pixels
// a copy phase (pixel rows hs = cs + 8 bf16 apart, an odd number of bank groups).
template <int CPP>
__device__ __forceinline__ void tc6_halo_chunk(unsigned short* halo, const unsigned short* src, const ConvDims& d,
                                               int cs, int hs, int hp, int hh, int hw, int n0, int y0, int c0) {
    using C = Tc6Copy<CPP, 16>;
    const int per_img = hh * hw;
    for (int f = threadIdx.x; f < (hp + 7) / 8 * 8 * CPP; f += 256) {
        const int px = C::row(f), part = C::chunk(f);
        if (px >= hp) continue;
        const int img = px / per_img, r = px - img * per_img, hy = r / hw, hx = r - hy * hw;
        const int n = n0 + img, y = y0 - 1 + hy, x = hx - 1;
        const bool ok = n < d.n && (unsigned)y < (unsigned)d.h && (unsigned)x < (unsigned)d.w;
        const int c = c0 + 8 * part;
        tc6_cp16(halo + px * hs + c, ok ? src + ((((long long)n * d.h + y) * d.w + x) * cs + c) : src, ok);
    }
}

template <class S, bool BWD>
struct Tc6HaloLoad {
    using T = typename S::E;
    const T* src;  // x (forward) or gy (grad-input), [n, h, w, cs]
    const T* w;
    ConvDims d;
    int cs, hs, hw, hh, th, n0, y0, hp;
    Tc6HaloB<S, BWD> b;
    __device__ Tc6HaloLoad(const T* src_, const T* w_, ConvDims d_)
        : src(src_), w(w_), d(d_), b(d_, blockIdx.x * S::BN) {
        cs = BWD ? d.o : d.c;
        hs = cs + 8;
        const int hwp = d.h * d.w, row0 = blockIdx.y * S::BM;
        const bool whole = S::BM % hwp == 0;  // IMGS whole images, else TH rows of one
        if (d.kh != 3 || d.kw != 3 || d.stride != 1 || d.pad != 1 || cs % S::BK || S::BM % d.w ||
            !(whole || hwp % S::BM == 0))
            __trap();
        th = whole ? d.h : S::BM / d.w;
        hw = d.w + 2;
        hh = th + 2;
        n0 = row0 / hwp;
        y0 = whole ? 0 : (row0 - n0 * hwp) / d.w;
        hp = (whole ? S::BM / hwp : 1) * hh * hw;
    }
    __device__ int halo_elems() const { return hp * hs; }
    // aoff[i]: this lane's ldmatrix row of A tile i (local row wm + 16 i + l8 + 8 lb3) as a halo offset at
    // tap offset 0, plus its k offset 8 lb4.
    __device__ void rows(int (&aoff)[S::mi], int wm) const {
        const int lane = threadIdx.x % 32, l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
        const int per_img = th * d.w;
#pragma unroll
        for (int i = 0; i < S::mi; ++i) {
            const int m = wm + 16 * i + l8 + 8 * lb3, img = m / per_img, r = m - img * per_img;
            const int ty = r / d.w, x = r - ty * d.w;
            aoff[i] = ((img * hh + ty) * hw + x) * hs + 8 * lb4;
        }
    }
    // Where k-tile kt's A rows start relative to aoff: the tap's pixel shift (forward: input pixel
    // (y + ky - 1, x + kx - 1) = halo (ty + ky, x + kx); grad-input: output pixel (y + 1 - ky, x + 1 - kx) =
    // halo (ty + 2 - ky, x + 2 - kx)) and the k-tile's first channel.
    __device__ int a_base(int kt) const {
        const int k0 = kt * S::BK, tap = k0 / cs, c0 = k0 - tap * cs;
        const int ky = tap / 3, kx = tap - 3 * ky;
        return (BWD ? (2 - ky) * hw + 2 - kx : ky * hw + kx) * hs + c0;
    }
    // k-tile kt's B tile, and for kt < cs / 32 halo channel chunk kt.
    __device__ void load(int kt, T* Bs, T* halo) const {
        const int k0 = kt * S::BK, tap = k0 / cs, c0 = k0 - tap * cs;
        b.load(Bs, w, d, k0, tap, c0);
        if (kt * S::BK >= cs) return;
        tc6_halo_chunk<S::BK / S::EPC>(halo, src, d, cs, hs, hp, hh, hw, n0, y0, k0);
    }
};

// tc6_gemm's ring loop with A read from the halo (the loader's) and only B in the ring stages; K = 9 cs.
template <class S, class L, class E>
__device__ __forceinline__ void tc6_halo_gemm(L& ld, const E& epi, int K) {
    static_assert(S::BF16, "the halo tiles are bf16 only");
    using T = typename S::E;
    constexpr bool B_NK = decltype(ld.b)::B_NK;
    constexpr int SB = B_NK ? S::KSTRIDE : S::NSTRIDE;
    constexpr int B_SIZE = (B_NK ? S::BN : S::BK) * SB;
    extern __shared__ __align__(16) unsigned char tc6_smem_raw[];
    T* halo = reinterpret_cast<T*>(tc6_smem_raw);
    T* ring = halo + ld.halo_elems();  // 16-byte aligned: a pixel row is a multiple of 8 elements
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)((ld.halo_elems() + S::STAGES * B_SIZE) * sizeof(T))) __trap();

    const int warp = threadIdx.x / 32;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int row0 = blockIdx.y * S::BM, col0 = blockIdx.x * S::BN;
    int aoff[S::mi];
    ld.rows(aoff, wm);
    float acc[S::mi][S::nj][4];
    tc_zero(acc);

    const int ntiles = K / S::BK;
#pragma unroll
    for (int s = 0; s < S::STAGES - 1; ++s) {
        if (s < ntiles) ld.load(s, ring + s * B_SIZE, halo);
        tc6_commit();
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        tc6_wait<S::STAGES - 2>();  // tile kt and halo chunks up to kt have landed (this thread's copies) ...
        __syncthreads();            // ... every thread's, and stage (kt - 1) % STAGES is free
        const int nt = kt + S::STAGES - 1;
        if (nt < ntiles) ld.load(nt, ring + (nt % S::STAGES) * B_SIZE, halo);
        tc6_commit();
        const T* Bs = ring + (kt % S::STAGES) * B_SIZE;
        const T* A = halo + ld.a_base(kt);
#pragma unroll
        for (int ks = 0; ks < S::BK; ks += 16) tc_bf16_kstep_rows<S::mi, S::nj, B_NK>(acc, A, aoff, Bs, SB, ks, wn);
    }
    tc6_wait<0>();
    epi(acc, row0 + wm, col0 + wn);
}

template <class S>
__device__ __forceinline__ void conv_fwd_halo_v6(float* y, const typename S::E* x, const typename S::E* wt,
                                                 ConvDims d) {
    Tc6HaloLoad<S, false> ld(x, wt, d);
    const int M = d.n * d.h * d.w;
    tc6_halo_gemm<S>(ld, Tc6Out<S, false>{y, d.o, M, d.o, false, false}, 9 * d.c);
}
template <class S>
__device__ __forceinline__ void conv_fwd_stats_halo_v6(float* y, float* part_sum, float* part_m2,
                                                       const typename S::E* x, const typename S::E* wt, ConvDims d) {
    Tc6HaloLoad<S, false> ld(x, wt, d);
    const int M = d.n * d.h * d.w;
    tc6_halo_gemm<S>(ld, Tc6OutStats<S>{y, part_sum, part_m2, M, d.o, d.out16 != 0}, 9 * d.c);
}
template <class S>
__device__ __forceinline__ void conv_bwd_input_halo_v6(float* gx, const typename S::E* gy, const typename S::E* wt,
                                                       ConvDims d) {
    if (d.out16 && d.add) __trap();
    Tc6HaloLoad<S, true> ld(gy, wt, d);
    const int M = d.n * d.h * d.w;
    tc6_halo_gemm<S>(ld, Tc6Out<S, false>{gx, d.c, M, d.c, false, d.add != 0, d.out16 != 0}, 9 * d.o);
}

// The k-loop of the window grad-weights: k-tiles of KT pixels from p0 to p1 through a STAGES-deep ring of
// `stage` elements each (the window, then the gy rows); ld.load(p, window, gy) copies one k-tile,
// mma(window, gy) multiplies it. Returns with every copy landed.
template <int STAGES, int KT, class L, class T, class F>
__device__ __forceinline__ void tc6_gw_window_loop(const L& ld, T* smem, int stage, int p0, int p1, F mma) {
    const int ntiles = (p1 - p0) / KT, wel = ld.window_elems();
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < ntiles) ld.load(p0 + s * KT, smem + s * stage, smem + s * stage + wel);
        tc6_commit();
    }
    for (int kt = 0; kt < ntiles; ++kt) {
        tc6_wait<STAGES - 2>();  // k-tile kt has landed (this thread's copies) ...
        __syncthreads();         // ... every thread's, and stage (kt - 1) % STAGES is free
        const int nt = kt + STAGES - 1;
        if (nt < ntiles) {
            T* st = smem + (nt % STAGES) * stage;
            ld.load(p0 + nt * KT, st, st + wel);
        }
        tc6_commit();
        const T* ws = smem + (kt % STAGES) * stage;
        mma(ws, ws + wel);
    }
    tc6_wait<0>();
}

// The dynamic shared memory as T, trapping where the launch gave less than `bytes`.
template <class T>
__device__ __forceinline__ T* tc6_smem_checked(unsigned bytes) {
    extern __shared__ __align__(16) unsigned char tc6_smem_raw[];
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < bytes) __trap();
    return reinterpret_cast<T*>(tc6_smem_raw);
}

// The bf16 grad-weight over x's window at 16 channels (`conv_bwd_weight_v6_bf16_n16_halo`: ResNet-32's first
// stage; 3x3, stride 1, pad 1, C = 16, W = 8, 16 or 32, H·W a multiple of 256). The output is one 144 x 16
// tile (nine taps of 16 channels by 16 output channels): too small to split over warps, so the warps split the
// pixels instead. A k-tile is 256 pixels (256 / W whole rows of one image) whose (256 / W + 2) x (W + 2)
// window of x and 256 gy rows stream through a 3-stage ring; warp w multiplies pixels 32 w .. 32 w + 31 into
// its own 144 x 16 sums, which the block adds up in shared memory at the end and then into gw with atomics.
// The plain tiles (`_n16_m192`) copy 9 taps x 32 pixels of x per 32 gy rows, 11 useful FLOP a byte from L2;
// this 62. The sums differ from theirs in order (per warp, then across warps): not bit for bit.
struct Tc6Gw16Halo {
    using S = Tc6<1, 9, 2, unsigned short>;  // mi = 9 (taps), nj = 2 (16 columns); one warp's tile
    using T = unsigned short;
    static constexpr int KT = 256;           // pixels a k-tile
    static constexpr int PS = 24;            // window pixel stride: 16 channels + 8 (48 bytes: odd bank groups)
    static constexpr int GS = 24;            // gy row stride: 16 columns + 8
    static constexpr int NW = 3;             // window copies a thread: up to 768 chunks (2 a pixel)
    static constexpr int STAGES = 3;
    using C2 = Tc6Copy<2, 48>;
    const T* gy;
    const T* x;
    int hw, h, lw, wpix, wrows, o;
    FastDiv by_hw;
    int wrel[NW], wdst[NW], wdy[NW];
    bool wxok[NW];
    int grel[2], gdst[2];
    bool gok[2];
    __device__ Tc6Gw16Halo(const T* gy_, const T* x_, const ConvDims& d) : gy(gy_), x(x_), by_hw(d.h * d.w) {
        hw = d.h * d.w;
        h = d.h;
        o = d.o;
        lw = d.w == 8 ? 3 : d.w == 16 ? 4 : 5;
        const int ww = d.w + 2;
        wpix = (KT / d.w + 2) * ww;
        wrows = (wpix + 7) / 8 * 8;
#pragma unroll
        for (int i = 0; i < NW; ++i) {
            const int f = threadIdx.x + 256 * i, px = C2::row(f), part = C2::chunk(f);
            const int wy = px / ww, wx = px - wy * ww;
            wdst[i] = px < wrows ? px * PS + 8 * part : -1;
            wdy[i] = wy - 1;
            wxok[i] = px < wpix && (unsigned)(wx - 1) < (unsigned)d.w;
            wrel[i] = ((wy - 1) * d.w + wx - 1) * 16 + 8 * part;
        }
        const int col0 = blockIdx.x * 16;
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int f = threadIdx.x + 256 * i, r = C2::row(f), col = col0 + 8 * C2::chunk(f);
            gok[i] = col < d.o;
            grel[i] = r * d.o + (gok[i] ? col : 0);
            gdst[i] = r * GS + 8 * C2::chunk(f);
        }
    }
    __device__ int window_elems() const { return wrows * PS; }
    __device__ void load(int p0, T* Ws, T* Gs) const {
        const int n = by_hw.div(p0), y0 = (p0 - n * hw) >> lw;
        const long long xb = (long long)p0 * 16, gb = (long long)p0 * o;
#pragma unroll
        for (int i = 0; i < NW; ++i) {
            if (wdst[i] < 0) continue;
            const bool ok = wxok[i] && (unsigned)(y0 + wdy[i]) < (unsigned)h;
            tc6_cp16(Ws + wdst[i], ok ? x + (xb + wrel[i]) : x, ok);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) tc6_cp16(Gs + gdst[i], gy + (gb + grel[i]), gok[i]);
    }
};

// gw must be zeroed: each block adds its slice of the pixels (blockIdx.z, p_per_split a multiple of 256).
__device__ __forceinline__ void conv_bwd_weight_halo16_v6(float* gw, const unsigned short* gy,
                                                          const unsigned short* x, ConvDims d, int p_per_split) {
    using L = Tc6Gw16Halo;
    using T = unsigned short;
    constexpr int PS = L::PS, B_SIZE = L::KT * L::GS;
    if (d.kh != 3 || d.kw != 3 || d.stride != 1 || d.pad != 1 || d.c != 16 || (d.w != 8 && d.w != 16 && d.w != 32) ||
        (d.h * d.w) % L::KT || p_per_split % L::KT)
        __trap();
    const int P = d.n * d.h * d.w, K = 144;
    const int p0 = blockIdx.z * p_per_split, p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    L ld(gy, x, d);
    const int STAGE = ld.window_elems() + B_SIZE;
    T* smem = tc6_smem_checked<T>(L::STAGES * STAGE * sizeof(T));

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
    // A tile i = tap i (16 channels): this lane's column 8 lb3 at the tap's shift; pixel 32 warp + 16 s +
    // l8 + 8 lb4 of the k-tile at window (j / W, j % W).
    int toff[9], joff[2];
#pragma unroll
    for (int i = 0; i < 9; ++i) toff[i] = ((i / 3) * (d.w + 2) + i % 3) * PS + 8 * lb3;
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        const int j = 32 * warp + 16 * s + l8 + 8 * lb4;
        joff[s] = ((j >> ld.lw) * (d.w + 2) + (j & (d.w - 1))) * PS;
    }
    float acc[9][2][4];
    tc_zero(acc);
    tc6_gw_window_loop<L::STAGES, L::KT>(ld, smem, STAGE, p0, p1, [&](const T* Ws, const T* Gs) {
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            unsigned b[2][2];
            tc_bf16_bfrag<2, false>(b, Gs, L::GS, 32 * warp + 16 * s, 0);
#pragma unroll
            for (int i = 0; i < 9; ++i) {
                unsigned a[4];
                tc5_ldsm_x4_t(a, Ws + joff[s] + toff[i]);
                tc_mma_bf16(acc[i][0], a, b[0][0], b[0][1]);
                tc_mma_bf16(acc[i][1], a, b[1][0], b[1][1]);
            }
        }
    });
    __syncthreads();  // every warp is done with the ring: its first 9 KB hold the block's sums now
    float* red = reinterpret_cast<float*>(smem);  // [144][16]
    for (int i = threadIdx.x; i < K * 16; i += 256) red[i] = 0.0f;
    __syncthreads();
    tc_for_each_pair<9, 2>(K, 16, 0, 0, acc, [&](int row, int col, float v0, float v1) {
        atomicAdd(red + row * 16 + col, v0);
        atomicAdd(red + row * 16 + col + 1, v1);
    });
    __syncthreads();
    // Row m = (tap m / 16, channel m % 16) is gw's k = m: gw[o][k] at o K + k.
    const int col0 = blockIdx.x * 16;
    for (int i = threadIdx.x; i < K * 16; i += 256) {
        const int m = i / 16, c = i % 16;
        if (col0 + c < d.o) atomicAdd(gw + (long long)(col0 + c) * K + m, red[i]);
    }
}

// The `_wres` entry points (bf16, 3x3, stride 1, pad 1, where all the block's weights fit in shared memory:
// ResNet-18's layer 1, every ResNet-32 stage): the halo tiles above with their B operand
// (the weights of the block's BN columns, all K rows) resident too, so a block copies them once and then
// loops over row tiles (blockIdx.y, + gridDim.y, ...: as many blocks as the GPU holds), each tile's halo
// copied into one of two buffers while the tensor cores work on the other's. The k-loop then reads shared
// memory only, with no barrier per k-tile; L2 traffic drops to the halo pixels (the plain halo tiles copy
// every block's weights again: 74 KB a block at layer 1, more than its 49 KB halo). The k-tiles, their order
// and the fragments are the halo tiles' (v6's): the same sums bit for bit. Unlike them they also take 16
// channels (cs, the GEMM's channels a tap: ResNet-32's first stage), a 32-deep k-tile then spanning two taps:
// the loop runs 16-deep k-steps, each at its own tap (as v6's `_narrow` tiles).
template <class S, bool BWD>
struct Tc6Wres {
    using T = typename S::E;
    int cs, hs, hw, hh, th, per_img, hp, imgs, hwp;
    int K, ks;  // GEMM depth 9 cs; the resident B's row stride (forward [n][K + 8]; grad-input [K][BN + 8])
    __device__ explicit Tc6Wres(const ConvDims& d) {
        cs = BWD ? d.o : d.c;
        hs = cs + 8;
        hwp = d.h * d.w;
        const bool whole = S::BM % hwp == 0;  // IMGS whole images, else TH rows of one
        if (d.kh != 3 || d.kw != 3 || d.stride != 1 || d.pad != 1 || (cs % S::BK && cs != 16) || S::BM % d.w ||
            !(whole || hwp % S::BM == 0))
            __trap();
        th = whole ? d.h : S::BM / d.w;
        imgs = whole ? S::BM / hwp : 1;
        hw = d.w + 2;
        hh = th + 2;
        per_img = th * d.w;
        hp = imgs * hh * hw;
        K = 9 * cs;
        ks = BWD ? S::BN + 8 : K + 8;
    }
    __device__ int halo_elems() const { return hp * hs; }
    __device__ int b_elems() const { return BWD ? K * ks : S::BN * ks; }
    // As Tc6HaloLoad::rows: this lane's ldmatrix row of A tile i at tap offset 0, plus its k offset 8 lb4.
    __device__ void rows(int (&aoff)[S::mi], int wm) const {
        const int lane = threadIdx.x % 32, l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4;
#pragma unroll
        for (int i = 0; i < S::mi; ++i) {
            const int m = wm + 16 * i + l8 + 8 * lb3, img = m / per_img, r = m - img * per_img;
            const int ty = r / (hw - 2), x = r - ty * (hw - 2);
            aoff[i] = ((img * hh + ty) * hw + x) * hs + 8 * lb4;
        }
    }
    // As Tc6HaloLoad::a_base for the 16-deep k-step at k0: its tap's shift and first channel.
    __device__ int a_base(int k0) const {
        const int tap = k0 / cs, c0 = k0 - tap * cs;
        const int ky = tap / 3, kx = tap - 3 * ky;
        return (BWD ? (2 - ky) * hw + 2 - kx : ky * hw + kx) * hs + c0;
    }
    // The whole halo of row tile t (all cs channels; zeros outside the images), a 32-channel chunk (16 at
    // cs = 16) at a time with Tc6HaloLoad's copy order (8 consecutive pixels a copy phase: no bank conflict).
    __device__ void load_halo(T* halo, const T* src, const ConvDims& d, int t) const {
        if (cs == 16) load_halo_chunks<2>(halo, src, d, t);
        else load_halo_chunks<S::BK / S::EPC>(halo, src, d, t);
    }
    template <int CPP>
    __device__ void load_halo_chunks(T* halo, const T* src, const ConvDims& d, int t) const {
        const int row0 = t * S::BM, n0 = row0 / hwp;
        const int y0 = imgs > 1 ? 0 : (row0 - n0 * hwp) / d.w;
        for (int c0 = 0; c0 < cs; c0 += CPP * S::EPC) tc6_halo_chunk<CPP>(halo, src, d, cs, hs, hp, hh, hw, n0, y0, c0);
    }
    // The block's B, once: forward w[o][K] rows col0 .. col0 + BN - 1 as [n][K + 8], 16 k at a time
    // (an odd number of bank groups a row: 8 consecutive rows a copy phase); grad-input w[o, tap, c] as
    // [k = (tap, o)][n = c - col0] (BN + 8 a row); columns past the tensor zero.
    __device__ void load_b(T* B, const T* w, const ConvDims& d, int col0) const {
        if (!BWD) {
            using C = Tc6Copy<2, 16>;
            for (int k0 = 0; k0 < K; k0 += 16)
                for (int f = threadIdx.x; f < S::BN * 2; f += 256) {
                    const int r = C::row(f), k = k0 + S::EPC * C::chunk(f), o = col0 + r;
                    tc6_cp16(B + r * ks + k, o < d.o ? w + ((long long)o * K + k) : w, o < d.o);
                }
        } else {
            constexpr int CPR = S::BN / S::EPC;
            using C = Tc6Copy<CPR, (S::BN + 8) * 2>;
            for (int f = threadIdx.x; f < K * CPR; f += 256) {
                const int k = C::row(f), c = col0 + S::EPC * C::chunk(f);
                const int tap = k / d.o, o = k - tap * d.o;
                const bool ok = c < d.c;
                tc6_cp16(B + k * ks + (c - col0), ok ? w + (((long long)o * 9 + tap) * d.c + c) : w, ok);
            }
        }
    }
};

// The persistent loop of the `_wres` tiles: B and the first halo, then per row tile the next halo in flight
// while this one's k-loop runs from shared memory. E gets the row tile's index (its statistics partials).
template <class S, bool BWD, class E>
__device__ __forceinline__ void tc6_wres_gemm(const typename S::E* src, const typename S::E* w, const ConvDims& d,
                                              int M, E epi) {
    static_assert(S::BF16, "the resident tiles are bf16 only");
    using T = typename S::E;
    constexpr bool B_NK = !BWD;
    const Tc6Wres<S, BWD> g(d);
    extern __shared__ __align__(16) unsigned char tc6_smem_raw[];
    T* B = reinterpret_cast<T*>(tc6_smem_raw);
    T* halo0 = B + g.b_elems();  // 16-byte aligned: every row stride is a multiple of 8 elements
    T* halo1 = halo0 + g.halo_elems();
    unsigned dyn;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dyn));
    if (dyn < (unsigned)((g.b_elems() + 2 * g.halo_elems()) * sizeof(T) + E::scratch_bytes())) __trap();

    const int warp = threadIdx.x / 32;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    const int col0 = blockIdx.x * S::BN, ntm = (M + S::BM - 1) / S::BM;
    int aoff[S::mi];
    g.rows(aoff, wm);
    g.load_b(B, w, d, col0);
    if ((int)blockIdx.y < ntm) g.load_halo(halo0, src, d, blockIdx.y);
    tc6_commit();
    const int k_end = g.K;
    int i = 0;
    for (int t = blockIdx.y; t < ntm; t += gridDim.y, ++i) {
        const int tn = t + gridDim.y;
        if (tn < ntm) g.load_halo(i & 1 ? halo0 : halo1, src, d, tn);
        tc6_commit();
        tc6_wait<1>();    // this tile's halo (and B) have landed for this thread's copies ...
        __syncthreads();  // ... and every thread's
        const T* halo = i & 1 ? halo1 : halo0;
        float acc[S::mi][S::nj][4];
        tc_zero(acc);
#pragma unroll 2
        for (int k0 = 0; k0 < k_end; k0 += 16) {
            const T* Bs = B_NK ? B + k0 : B + k0 * g.ks;
            tc_bf16_kstep_rows<S::mi, S::nj, B_NK>(acc, halo + g.a_base(k0), aoff, Bs, g.ks, 0, wn);
        }
        epi(acc, t, t * S::BM + wm, col0 + wn);
        __syncthreads();  // every warp is done with this halo before the next iteration refills it
    }
    tc6_wait<0>();
}

// Epilogues of the resident tiles: plain (Tc6Out) or with the batch-norm partials of row tile t (Tc6OutStats,
// its block scratch after the halos).
template <class S>
struct Tc6WresOut {
    Tc6Out<S, false> out;
    static __device__ constexpr int scratch_bytes() { return 0; }
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int, int rb, int cb) const { out(acc, rb, cb); }
};
template <class S>
struct Tc6WresOutStats {
    Tc6OutStats<S> out;
    int scratch_off;  // bytes into the dynamic shared memory
    static __device__ constexpr int scratch_bytes() { return (S::wmw + 2) * S::BN * 4; }
    __device__ void operator()(const float (&acc)[S::mi][S::nj][4], int t, int rb, int cb) const {
        Tc6OutStats<S> o = out;
        o.rblk = t;
        o.scratch_off = scratch_off;
        o(acc, rb, cb);
    }
};

template <class S>
__device__ __forceinline__ void conv_fwd_wres_v6(float* y, const typename S::E* x, const typename S::E* wt, ConvDims d) {
    const int M = d.n * d.h * d.w;
    tc6_wres_gemm<S, false>(x, wt, d, M, Tc6WresOut<S>{Tc6Out<S, false>{y, d.o, M, d.o, false, false}});
}
template <class S>
__device__ __forceinline__ void conv_fwd_stats_wres_v6(float* y, float* part_sum, float* part_m2,
                                                       const typename S::E* x, const typename S::E* wt, ConvDims d) {
    const int M = d.n * d.h * d.w;
    const Tc6Wres<S, false> g(d);
    const int off = (g.b_elems() + 2 * g.halo_elems()) * (int)sizeof(typename S::E);
    tc6_wres_gemm<S, false>(x, wt, d, M,
                            Tc6WresOutStats<S>{Tc6OutStats<S>{y, part_sum, part_m2, M, d.o, d.out16 != 0}, off});
}
template <class S>
__device__ __forceinline__ void conv_bwd_input_wres_v6(float* gx, const typename S::E* gy, const typename S::E* wt,
                                                       ConvDims d) {
    if (d.out16 && d.add) __trap();
    const int M = d.n * d.h * d.w;
    tc6_wres_gemm<S, true>(gy, wt, d, M,
                           Tc6WresOut<S>{Tc6Out<S, false>{gx, d.c, M, d.c, false, d.add != 0, d.out16 != 0}});
}

// The grad-weight with x's pixels copied once for all nine taps (`conv_bwd_weight_v6_bf16_n64_halo`; since
// 2026-11-28, written without a GPU, `conv_bwd_weight_v6_tf32_n64_halo`; 3x3, stride 1, pad 1, C % 32 == 0,
// W = 8, 16 or 32). The plain tiles copy a k-tile of 32 pixels once per tap (their rows are im2col columns);
// here a block's 288 rows are the nine taps of 32 channels c0 .. c0 + 31 (c0 = 32 blockIdx.y) and a k-tile is
// 32 / W whole rows of one image, so every tap's A operand is the same (32 / W + 2) x (W + 2) window of x,
// shifted: the block copies the window (60-102 pixels) instead of 9 x 32 pixel rows, 2.8-4.8x fewer bytes of
// x from L2 per MMA. Its columns are 64 output channels. A k-tile's window and gy rows stream through a
// 4-stage ring (13 KB a stage at W = 32 in bf16, 24 KB in tf32). The same k-tiles in the same order and the
// same mma per element as the plain tiles (tf32: m16n8k8 steps on operands rounded by tc_tf32_hw, as
// tc_tf32_kstep's): their sums bit for bit on the same pixel splits. tf32 reads twice the bytes of bf16 per
// MMA, so it loses more to im2col's nine copies: its plain grad-weights took about 18 of the 58 ms tf32
// ResNet-18 step on the H200 (2026-11-28).
template <class T>
struct Tc6GwHaloLoad {
    using S = Tc6<2, 9, 2, T, false, 4>;  // BM 288 = 9 taps x 32 channels, BN 64
    // Window pixel stride: 32 channels + 8 bf16 (80 bytes, an odd number of bank groups) or + 4 fp32 (36
    // words: a tf32 fragment's 4 pixels x 8 channels on 32 banks).
    static constexpr int PS = 32 + (S::BF16 ? 8 : 4);
    static constexpr int CPP = 32 / S::EPC;         // 16-byte copies of a window pixel: 4 or 8
    static constexpr int NW = (104 * CPP + 255) / 256;  // window copies a thread makes (W = 32: 102 pixels)
    static constexpr int NB = S::BK * (S::BN / S::EPC) / 256;  // gy copies a thread makes: 1 or 2
    using WC = Tc6Copy<CPP, PS * (int)sizeof(T)>;
    using BC = Tc6Copy<S::BN / S::EPC, S::NSTRIDE * (int)sizeof(T)>;
    const T* gy;
    const T* x;
    int hw, h, lw, wpix, wrows, o, c;
    FastDiv by_hw;
    int wrel[NW], wdst[NW], wdy[NW];  // source offset from pixel (n, y0, 0) at channel 0; shared offset (-1: none);
                                      // input row - y0
    bool wxok[NW];
    int bcol[NB], brow[NB], bdst[NB];
    bool bok[NB];
    __device__ Tc6GwHaloLoad(const T* gy_, const T* x_, const ConvDims& d) : gy(gy_), x(x_), by_hw(d.h * d.w) {
        hw = d.h * d.w;
        h = d.h;
        o = d.o;
        c = d.c;
        lw = d.w == 8 ? 3 : d.w == 16 ? 4 : 5;
        const int ww = d.w + 2;
        wpix = (32 / d.w + 2) * ww;
        wrows = (wpix + 7) / 8 * 8;  // copy phases of 8 whole pixels: the last ones zero-filled past the window
        const int c0 = blockIdx.y * 32;
#pragma unroll
        for (int i = 0; i < NW; ++i) {
            const int f = threadIdx.x + 256 * i, px = WC::row(f), part = WC::chunk(f);
            const int wy = px / ww, wx = px - wy * ww;
            wdst[i] = px < wrows ? px * PS + S::EPC * part : -1;
            wdy[i] = wy - 1;
            wxok[i] = px < wpix && (unsigned)(wx - 1) < (unsigned)d.w;
            wrel[i] = ((wy - 1) * d.w + wx - 1) * d.c + c0 + S::EPC * part;
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) {
            const int f = threadIdx.x + 256 * i, col = blockIdx.x * S::BN + S::EPC * BC::chunk(f);
            bok[i] = col < d.o;
            bcol[i] = bok[i] ? col : 0;
            brow[i] = BC::row(f);
            bdst[i] = brow[i] * S::NSTRIDE + S::EPC * BC::chunk(f);
        }
    }
    __device__ int window_elems() const { return wrows * PS; }
    // The k-tile of pixels p0 .. p0 + 31 (rows y0 .. of image n): its window into Ws, its gy rows into Bs.
    __device__ void load(int p0, T* Ws, T* Bs) const {
        const int n = by_hw.div(p0), y0 = (p0 - n * hw) >> lw;
        const long long base = (long long)p0 * c;
#pragma unroll
        for (int i = 0; i < NW; ++i) {
            if (wdst[i] < 0) continue;
            const bool ok = wxok[i] && (unsigned)(y0 + wdy[i]) < (unsigned)h;
            tc6_cp16(Ws + wdst[i], ok ? x + (base + wrel[i]) : x, ok);
        }
#pragma unroll
        for (int i = 0; i < NB; ++i) tc6_cp16(Bs + bdst[i], gy + ((long long)(p0 + brow[i]) * o + bcol[i]), bok[i]);
    }
};

// gw must be zeroed: each block adds its slice of the pixels (blockIdx.z, p_per_split a multiple of 32).
template <class T>
__device__ __forceinline__ void conv_bwd_weight_halo_v6(float* gw, const T* gy, const T* x, ConvDims d,
                                                        int p_per_split) {
    using L = Tc6GwHaloLoad<T>;
    using S = typename L::S;
    constexpr int PS = L::PS, B_SIZE = S::BK * S::NSTRIDE;
    if (d.kh != 3 || d.kw != 3 || d.stride != 1 || d.pad != 1 || d.c % 32 || (d.w != 8 && d.w != 16 && d.w != 32) ||
        (d.h * d.w) % 32 || p_per_split % 32)
        __trap();
    const int P = d.n * d.h * d.w, K = 9 * d.c;
    const int p0 = blockIdx.z * p_per_split, p1 = min(P, p0 + p_per_split);
    if (p0 >= p1) return;
    L ld(gy, x, d);
    const int STAGE = ld.window_elems() + B_SIZE;  // a multiple of 8 elements: stages stay 16-byte aligned
    T* smem = tc6_smem_checked<T>(S::STAGES * STAGE * sizeof(T));

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int l8 = lane % 8, lb3 = (lane >> 3) & 1, lb4 = lane >> 4, g = lane / 4, q = lane % 4;
    const int wm = (warp % S::wmw) * (16 * S::mi), wn = (warp / S::wmw) * (8 * S::nj);
    // At window pixel j of the k-tile = (j / W, j % W) + its tap's shift, channel (m & 31) of row m.
    const auto jpix = [&](int j) { return ((j >> ld.lw) * (d.w + 2) + (j & (d.w - 1))) * PS; };
    // bf16: this lane's ldmatrix rows: A tile i (rows wm + 16 i ..: one tap, 16 of its channels) at its tap's
    // shift and channel, plus pixel j = 16 s + l8 + 8 lb4 of the k-step. tf32: tile i's rows from g, pixels
    // 8 s + q and + 4 of the k8-step.
    constexpr int NS = S::BF16 ? 2 : 4;  // k-steps of a 32-pixel k-tile
    int toff[S::mi], joff[NS][2];
#pragma unroll
    for (int i = 0; i < S::mi; ++i) {
        const int m = wm + 16 * i + (S::BF16 ? 8 * lb3 : g), tap = m >> 5;
        toff[i] = ((tap / 3) * (d.w + 2) + tap % 3) * PS + (m & 31);
    }
#pragma unroll
    for (int s = 0; s < NS; ++s) {
        joff[s][0] = jpix(S::BF16 ? 16 * s + l8 + 8 * lb4 : 8 * s + q);
        joff[s][1] = jpix(S::BF16 ? 16 * s + l8 + 8 * lb4 : 8 * s + q + 4);
    }
    float acc[S::mi][S::nj][4];
    tc_zero(acc);

    tc6_gw_window_loop<S::STAGES, S::BK>(ld, smem, STAGE, p0, p1, [&](const T* Ws, const T* Bs) {
#pragma unroll
        for (int s = 0; s < NS; ++s) {
            if constexpr (S::BF16) {
                unsigned b[S::nj][2];
                tc_bf16_bfrag<S::nj, false>(b, Bs, S::NSTRIDE, 16 * s, wn);
#pragma unroll
                for (int i = 0; i < S::mi; ++i) {
                    unsigned a[4];
                    tc5_ldsm_x4_t(a, Ws + joff[s][0] + toff[i]);
#pragma unroll
                    for (int j = 0; j < S::nj; ++j) tc_mma_bf16(acc[i][j], a, b[j][0], b[j][1]);
                }
            } else {
                // tc_tf32_kstep's fragments (A [k][m] and B [k][n] element by element, rounded by tc_tf32_hw)
                // with A's k rows at the window pixels of the k8-step.
                unsigned b[S::nj][2];
#pragma unroll
                for (int j = 0; j < S::nj; ++j) {
                    const int n = wn + 8 * j + g;
                    b[j][0] = tc_tf32_hw(Bs[(8 * s + q) * S::NSTRIDE + n]);
                    b[j][1] = tc_tf32_hw(Bs[(8 * s + q + 4) * S::NSTRIDE + n]);
                }
#pragma unroll
                for (int i = 0; i < S::mi; ++i) {
                    unsigned a[4];
                    a[0] = tc_tf32_hw(Ws[joff[s][0] + toff[i]]);
                    a[1] = tc_tf32_hw(Ws[joff[s][0] + toff[i] + 8]);
                    a[2] = tc_tf32_hw(Ws[joff[s][1] + toff[i]]);
                    a[3] = tc_tf32_hw(Ws[joff[s][1] + toff[i] + 8]);
#pragma unroll
                    for (int j = 0; j < S::nj; ++j) tc_mma_tf32(acc[i][j], a, b[j][0], b[j][1]);
                }
            }
        }
    });
    // Row m of the block is tap m / 32, channel c0 + m % 32: gw[o][tap][c] at o K + tap C + c.
    const int c0 = blockIdx.y * 32;
    tc_for_each_pair<S::mi, S::nj>(S::BM, d.o, wm, blockIdx.x * S::BN + wn, acc,
                                   [&](int row, int col, float v0, float v1) {
                                       const int k = (row >> 5) * d.c + c0 + (row & 31);
                                       atomicAdd(gw + (long long)col * K + k, v0);
                                       if (col + 1 < d.o) atomicAdd(gw + (long long)(col + 1) * K + k, v1);
                                   });
}

// Entry points: {fwd, bwd_input, bwd_input strided, bwd_weight, fwd with BN statistics} x {bf16, tf32, f32}
// x tile width (as v4); bf16 two blocks per SM, tf32 and f32 one.
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<2, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_strided(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 2, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n128(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 4, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n32(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 2, unsigned short>>(gw, gy, x, d, p_per_split); }
// bf16 grad-weight on shorter row tiles (BM = 192, 128 over 64 columns; 64 over 128): K = kh kw c that a
// 256- or 128-row tile would leave partly empty runs on fewer padded rows (ResNet-18's layer 1: K = 576, 768
// rows on n64 tiles, 576 on m192; the 8-channel stem: K = 72, 256 rows on n64, 128 on m128). The launcher
// picks the tile with the fewest padded rows (conv_tc6.rs, `gw_rows`); 3- and 4-stage rings as the others.
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_m192(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_m128(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 2, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n128_m64(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 2, 4, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n32_m192(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 2, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16_m192(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 1, unsigned short>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n32_m192_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 2, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16_m192_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 1, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_m192_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_m128_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 2, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n128_m64_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 2, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
// The same shorter row tiles in tf32 (one block per SM).
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_m192(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_m128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 2, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n128_m64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 2, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n32_m192(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 2, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n16_m192(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 1, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n32_m192_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 2, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n16_m192_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 1, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_m192_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 3, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_m128_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 2, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n128_m64_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 2, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, float>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, float>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, float>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, float>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n64(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n32(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n16(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<2, 4, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n64_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n32_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 4, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n16_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 2, float>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 4, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n32(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 4, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n16(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 2, float>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_stats(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, unsigned short>>(y, part_sum, part_m2, x, w, d); }
// Narrow channels (C for the forward, O for the grad-input: 8 or 16, dividing the 32-deep k-tile), bf16, 3-stage ring.
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_narrow(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, unsigned short>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_narrow(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, unsigned short>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_narrow(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, unsigned short>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_narrow(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, unsigned short>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_stats_narrow(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, unsigned short>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_stats_narrow(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, unsigned short>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_stats_narrow(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, unsigned short>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_stats_narrow(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, unsigned short>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_narrow(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, unsigned short>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_narrow(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, unsigned short>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_narrow(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, unsigned short>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_narrow(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, unsigned short>, true>(gx, gy, w, d); }
// The same in tf32 (8 or 16 channels: two or four 16-byte copies a tap), one block per SM.
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_narrow(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, float>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64_narrow(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, float>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32_narrow(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, float>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16_narrow(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, float>, true>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_stats_narrow(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, float>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64_stats_narrow(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, float>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32_stats_narrow(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, float>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16_stats_narrow(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, float>, true>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_narrow(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, float>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n64_narrow(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, float>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n32_narrow(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, float>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n16_narrow(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, float>, true>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, float>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, float>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, float>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, float>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n128(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, float, true>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n64(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, float, true>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n32(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, float, true>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n16(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, float, true>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n128(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n64(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n32(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n16(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n128_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<2, 4, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n64_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n32_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 4, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_f32_n16_strided(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 2, float, true>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_f32_n128(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 4, 4, float, true>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_f32_n64(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 4, float, true>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_f32_n32(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 4, float, true>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_f32_n16(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 2, float, true>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n128_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, float, true>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n64_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, float, true>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n32_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, float, true>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_f32_n16_stats(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, float, true>>(y, part_sum, part_m2, x, w, d); }

// The bf16 and tf32 entry points again with a 4-stage ring (`_s4`): three k-tiles in flight instead of two,
// the same sums in the same order (bit-identical outputs); the launcher times both rings per shape where the
// 4-stage ring fits the GPU's shared memory (tf32: up to 184 KB, Hopper only) and keeps the faster.
// The 256 x 128 tile (`_n128_m256_s4`, ring `m256`): 64 x 64 warp tiles (the others' are 64 x 32 or less), so
// a k-step's 8 ldmatrix feed 32 MMAs instead of 6 feeding 16, and a block's copies 0.75 bytes of L2 per
// MMA column instead of 1 (n128) or 1.25 (n64); one block per SM (128 accumulators a thread), 4 stages.
// The same k-tiles, k-steps and fragments per output element as the other tiles: the same sums; the
// statistics epilogue writes n128's partials (one per 128-row half).
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_bf16_n128_m256_s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 8, unsigned short, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_bf16_n128_m256_stats_s4(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 8, unsigned short, false, 4>, false, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_bf16_n128_m256_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 8, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_bf16_n128_m256_strided_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 8, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_bf16_n128_m256_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 8, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
// tf32 (one block per SM already, so no occupancy lost): 4 stages, 216 KB (Hopper).
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_m256_s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 8, float, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_m256_stats_s4(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 8, float, false, 4>, false, 2>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_m256_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 8, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_m256_strided_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 8, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n128_m256_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 8, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, unsigned short, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, unsigned short, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, unsigned short, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_s4(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, unsigned short, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_strided_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<2, 4, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_strided_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_strided_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 4, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_strided_s4(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 2, unsigned short, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n128_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 4, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n32_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 4, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16_s4(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 2, unsigned short, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_stats_s4(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, unsigned short, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_stats_s4(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, unsigned short, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_stats_s4(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, unsigned short, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_stats_s4(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, unsigned short, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<2, 4, 4, float, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64_s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<4, 4, 4, float, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32_s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 4, float, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16_s4(float* y, const float* x, const float* w, ConvDims d) { conv_fwd_v6<Tc6<8, 2, 2, float, false, 4>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<2, 4, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n64_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<4, 4, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n32_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n16_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_v6<Tc6<8, 2, 2, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n128_strided_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<2, 4, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n64_strided_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<4, 4, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n32_strided_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 4, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_tf32_n16_strided_s4(float* gx, const float* gy, const float* w, ConvDims d) { conv_bwd_input_strided_v6<Tc6<8, 2, 2, float, false, 4>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n128_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<2, 4, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<4, 4, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n32_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 4, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n16_s4(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_v6<Tc6<8, 2, 2, float, false, 4>>(gw, gy, x, d, p_per_split); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n128_stats_s4(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<2, 4, 4, float, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n64_stats_s4(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<4, 4, 4, float, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n32_stats_s4(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 4, float, false, 4>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_tf32_n16_stats_s4(float* y, float* part_sum, float* part_m2, const float* x, const float* w, ConvDims d) { conv_fwd_stats_v6<Tc6<8, 2, 2, float, false, 4>>(y, part_sum, part_m2, x, w, d); }

// The bf16 forward (plain and with BN statistics) and grad-input with the A operand resident (`_halo`, see
// Tc6HaloLoad): 3x3, stride 1, pad 1, where the row tile is a rectangle of pixels (the launcher checks).
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v6<Tc6<2, 4, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v6<Tc6<4, 4, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v6<Tc6<8, 2, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_halo(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_halo_v6<Tc6<8, 2, 2, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n128_stats_halo(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_halo_v6<Tc6<2, 4, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n64_stats_halo(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_halo_v6<Tc6<4, 4, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_stats_halo(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_halo_v6<Tc6<8, 2, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_stats_halo(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_halo_v6<Tc6<8, 2, 2, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n128_halo(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_halo_v6<Tc6<2, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n64_halo(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_halo_v6<Tc6<4, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_halo(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_halo_v6<Tc6<8, 2, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_halo(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_halo_v6<Tc6<8, 2, 2, unsigned short>>(gx, gy, w, d); }
// The bf16 grad-weight over x's window (see Tc6GwHaloLoad): 3x3, stride 1, pad 1, W = 8, 16, 32 (the launcher checks).
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n64_halo(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_halo_v6<unsigned short>(gw, gy, x, d, p_per_split); }
// tf32 (2026-11-28, written without a GPU): one block per SM (97 KB of ring at W = 32).
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_weight_v6_tf32_n64_halo(float* gw, const float* gy, const float* x, ConvDims d, int p_per_split) { conv_bwd_weight_halo_v6<float>(gw, gy, x, d, p_per_split); }
// Weights and halo resident, persistent over row tiles (see Tc6Wres): 3x3, stride 1, pad 1, where the block's weights fit (the launcher checks).
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_bf16_n64_wres(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_wres_v6<Tc6<4, 4, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_wres(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_wres_v6<Tc6<8, 2, 4, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_fwd_v6_bf16_n64_stats_wres(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_wres_v6<Tc6<4, 4, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n32_stats_wres(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_wres_v6<Tc6<8, 2, 4, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 1) conv_bwd_input_v6_bf16_n64_wres(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_wres_v6<Tc6<4, 4, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n32_wres(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_wres_v6<Tc6<8, 2, 4, unsigned short>>(gx, gy, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_wres(float* y, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_wres_v6<Tc6<8, 2, 2, unsigned short>>(y, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_fwd_v6_bf16_n16_stats_wres(float* y, float* part_sum, float* part_m2, const unsigned short* x, const unsigned short* w, ConvDims d) { conv_fwd_stats_wres_v6<Tc6<8, 2, 2, unsigned short>>(y, part_sum, part_m2, x, w, d); }
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_input_v6_bf16_n16_wres(float* gx, const unsigned short* gy, const unsigned short* w, ConvDims d) { conv_bwd_input_wres_v6<Tc6<8, 2, 2, unsigned short>>(gx, gy, w, d); }
// The bf16 grad-weight over x's window at 16 channels (see Tc6Gw16Halo): 3x3, stride 1, pad 1, C = 16 (the launcher checks).
extern "C" __global__ void __launch_bounds__(256, 2) conv_bwd_weight_v6_bf16_n16_halo(float* gw, const unsigned short* gy, const unsigned short* x, ConvDims d, int p_per_split) { conv_bwd_weight_halo16_v6(gw, gy, x, d, p_per_split); }
